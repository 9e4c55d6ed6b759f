#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "diag.h"
#include "exits.h"
#include "num.h"

int
parse_ll(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || *s == ' ' || *s == '\t') {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (errno == ERANGE || v < min || v > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return 0;
}

int
parse_secs(const char *s, long long min_ms, long long max_ms, long long *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0' || *s == ' ' || *s == '\t') {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtod(s, &end);
	if (*end != '\0' || end == s || isnan(v)) {
		errno = EINVAL;
		return -1;
	}
	v *= 1000.0;
	if (errno == ERANGE || !(v >= (double)min_ms && v <= (double)max_ms)) {
		errno = ERANGE;
		return -1;
	}
	*out = (long long)(v + 0.5);
	return 0;
}

long long
num_arg(const char *opt, const char *s, long long min, long long max)
{
	long long v;

	if (parse_ll(s, min, max, &v) == -1)
		die(EXIT_USAGE, "%s: '%s' is not a number from %lld to %lld",
		    opt, s, min, max);
	return v;
}

long long
secs_arg(const char *opt, const char *s, long long min_ms, long long max_ms)
{
	long long v;

	if (parse_secs(s, min_ms, max_ms, &v) == -1)
		die(EXIT_USAGE, "%s: '%s' is not a number of seconds from "
		    "%g to %g", opt, s, min_ms / 1000.0, max_ms / 1000.0);
	return v;
}
