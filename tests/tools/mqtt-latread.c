/*
 * mqtt-latread: read NDJSON lines from mqtt-latpub (through a consumer's
 * stdout) and report latency and rate.
 *
 * mqtt-latread COUNT
 *
 * For each line, the time it was read (CLOCK_MONOTONIC) minus its "t_ns".
 * After COUNT lines or at end of input prints one line:
 *   lines N median_us M p99_us P max_us X rate R
 * where rate is lines per second between the first and the last line.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "num.h"

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	static char buf[1 << 20];
	long long count, n = 0;
	int64_t *lat, t, first = 0, last = 0;
	size_t len = 0, off;
	ssize_t r;
	char *nl, *p;

	diag_init(argv[0]);
	if (argc != 2)
		die(64, "usage: mqtt-latread COUNT");
	count = num_arg("COUNT", argv[1], 1, 100000000);
	if ((lat = malloc((size_t)count * sizeof *lat)) == NULL)
		die(75, "out of memory");
	while (n < count && (r = read(0, buf + len, sizeof buf - len)) != 0) {
		if (r == -1) {
			if (errno == EINTR)
				continue;
			dieerr(74, "stdin");
		}
		t = now_ns();
		len += (size_t)r;
		off = 0;
		while (n < count && (nl = memchr(buf + off, '\n', len - off))) {
			*nl = '\0';
			if ((p = strstr(buf + off, "\"t_ns\":")) != NULL) {
				lat[n++] = t - strtoll(p + 7, NULL, 10);
				if (first == 0)
					first = t;
				last = t;
			}
			off = (size_t)(nl - buf) + 1;
		}
		memmove(buf, buf + off, len - off);
		len -= off;
		if (len == sizeof buf)
			die(65, "line too long");
	}
	if (n == 0)
		die(65, "no lines");
	qsort(lat, (size_t)n, sizeof *lat, cmp);
	printf("lines %lld median_us %.0f p99_us %.0f max_us %.0f rate %.0f\n",
	    n, lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3, lat[n - 1] / 1e3,
	    last > first ? (double)(n - 1) * 1e9 / (double)(last - first) : 0);
	free(lat);
	return 0;
}
