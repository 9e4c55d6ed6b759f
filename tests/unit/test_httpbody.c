/*
 * httpconn's pure parts: request bodies byte for byte, lanes by ident,
 * the statuses --reject-status may add.
 */
#include <stdlib.h>

#include "httpconn.h"
#include "unit.h"

static struct fwd_msg ms[3];
static struct fwd_msg *mp[3] = { &ms[0], &ms[1], &ms[2] };

static void
set(int i, const char *line)
{
	ms[i].line = (char *)(uintptr_t)line;
	ms[i].len = strlen(line);
}

static void
body(int format, size_t n, const char *want, const char *what)
{
	char buf[256];
	size_t len = hc_bodylen(format, mp, n), got;

	memset(buf, 'Z', sizeof buf);
	got = hc_body(format, mp, n, buf);
	CHECK(got == len, "%s: hc_bodylen says %zu, hc_body wrote %zu", what,
	    len, got);
	CHECK(buf[got] == 'Z', "%s: nothing written past the length", what);
	CHECK_MEM(buf, got, want, strlen(want), "%s", what);
}

int
main(void)
{
	unsigned counts[4] = { 0 }, i, lane;
	char id[32];
	int stable = 1;

	set(0, "{\"ident\":\"a\",\"timestamp\":1}");
	set(1, "{\"ident\":\"b\",\"x\":1.50}");
	set(2, "{\"ident\":\"c\",\"s\":\"\\u00e9\"}");
	body(HF_ARRAY, 3, "[{\"ident\":\"a\",\"timestamp\":1},"
	    "{\"ident\":\"b\",\"x\":1.50},{\"ident\":\"c\",\"s\":\"\\u00e9\"}]",
	    "array: the lines joined by commas, bytes unchanged");
	body(HF_ARRAY, 1, "[{\"ident\":\"a\",\"timestamp\":1}]",
	    "array of one");
	body(HF_NDJSON, 2, "{\"ident\":\"a\",\"timestamp\":1}\n"
	    "{\"ident\":\"b\",\"x\":1.50}\n",
	    "ndjson: each line and a newline");
	body(HF_SINGLE, 1, "{\"ident\":\"a\",\"timestamp\":1}",
	    "single: the line alone");

	for (i = 0; i < 1000; i++) {
		snprintf(id, sizeof id, "35262506600%04u", i);
		lane = hc_lane(id, 4);
		if (lane >= 4 || hc_lane(id, 4) != lane)
			stable = 0;
		else
			counts[lane]++;
	}
	CHECK(stable, "a device always gets the same lane, within range");
	CHECK(counts[0] > 150 && counts[1] > 150 && counts[2] > 150 &&
	    counts[3] > 150, "1000 devices spread over 4 lanes (%u %u %u %u)",
	    counts[0], counts[1], counts[2], counts[3]);
	CHECK(hc_lane("352625066004561", 1) == 0, "one lane: always 0");
	/* FNV-1a of "a" is 0xe40c292c: the same lane in every run. */
	CHECK(hc_lane("a", 1000) == 0xe40c292cu % 1000,
	    "FNV-1a, as flespi-to-aws");

	/* Content statuses are 4xx; 408 and 429 are always retried. */
	CHECK(hc_reject_ok(409) && hc_reject_ok(451) && hc_reject_ok(400) &&
	    hc_reject_ok(499), "409, 451, 400, 499 may judge the content");
	CHECK(!hc_reject_ok(408) && !hc_reject_ok(429), "408, 429: retried");
	CHECK(!hc_reject_ok(399) && !hc_reject_ok(500) && !hc_reject_ok(200) &&
	    !hc_reject_ok(0), "not a 4xx: never");
	return unit_failed != 0;
}
