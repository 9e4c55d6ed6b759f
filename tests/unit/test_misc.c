/* backoff and the bounded number parsers. */
#include <errno.h>

#include "backoff.h"
#include "num.h"
#include "unit.h"

int
main(void)
{
	struct backoff b;
	unsigned d, prev = 0, i;
	long long v;
	int monotone = 1, inrange = 1;

	backoff_init(&b, 1000, 30000, 42);
	for (i = 0; i < 20; i++) {
		unsigned cur = b.cur_ms;
		d = backoff_next(&b);
		if (d < 1000 || d > 30000 || d < cur || d >= cur + cur / 2 + 1)
			if (!(d == 30000 && cur + cur / 2 > 30000))
				inrange = 0;
		if (i < 4 && d < prev)
			monotone = 0;
		prev = d;
	}
	CHECK(inrange, "every delay in [cur, 1.5 cur), within [base, cap]");
	CHECK(monotone, "delays grow while below the cap");
	CHECK(b.cur_ms == 30000, "cur reaches the cap (%u)", b.cur_ms);
	backoff_reset(&b);
	d = backoff_next(&b);
	CHECK(d >= 1000 && d < 1500, "after reset back to base (%u)", d);

	CHECK(parse_ll("42", 0, 100, &v) == 0 && v == 42, "parse_ll 42");
	CHECK(parse_ll("-1", 0, 100, &v) == -1 && errno == ERANGE, "below min");
	CHECK(parse_ll("101", 0, 100, &v) == -1 && errno == ERANGE,
	    "above max");
	CHECK(parse_ll("12x", 0, 100, &v) == -1 && errno == EINVAL, "junk");
	CHECK(parse_ll("", 0, 100, &v) == -1 && errno == EINVAL, "empty");
	CHECK(parse_ll(" 1", 0, 100, &v) == -1 && errno == EINVAL, "space");
	CHECK(parse_ll("99999999999999999999", 0, 100, &v) == -1 &&
	    errno == ERANGE, "overflow");
	CHECK(parse_secs("2.5", 0, 10000, &v) == 0 && v == 2500, "2.5 s");
	CHECK(parse_secs("nan", 0, 10000, &v) == -1, "nan refused");
	CHECK(parse_secs("11", 0, 10000, &v) == -1 && errno == ERANGE,
	    "too long");
	CHECK(parse_secs("1e9999", 0, 10000, &v) == -1, "huge");
	return UNIT_END();
}
