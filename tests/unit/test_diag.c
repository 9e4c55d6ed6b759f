/* plural(), giveup_text() and the totals line's stats_total(). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "stats.h"
#include "unit.h"

/* Run stats_total with stderr on a file; what it wrote, in buf. */
static void
total_into(char *buf, size_t sz, const char *line)
{
	struct stats s;
	char path[] = "/tmp/test_diag.XXXXXX";
	int fd, saved;
	ssize_t n;

	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = mkstemp(path);
	dup2(fd, STDERR_FILENO);
	memset(&s, 0, sizeof s);
	stats_total(&s, "%s", line);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, sz - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
}

int
main(void)
{
	char buf[256];

	diag_init("/usr/bin/flespi-test");
	CHECK(strcmp(plural(0), "s") == 0, "0 messages");
	CHECK(strcmp(plural(1), "") == 0, "1 message");
	CHECK(strcmp(plural(2), "s") == 0, "2 messages");
	CHECK(strcmp(plural(18446744073709551615ULL), "s") == 0,
	    "the largest count is plural");

	giveup_text(buf, sizeof buf, "host:1", 1, "Connection refused");
	CHECK(strcmp(buf, "host:1: giving up after 1 retry: Connection "
	    "refused") == 0, "one retry: '%s'", buf);
	giveup_text(buf, sizeof buf, "POST http://x/", 3, "HTTP 500");
	CHECK(strcmp(buf, "POST http://x/: giving up after 3 retries: "
	    "HTTP 500") == 0, "three retries: '%s'", buf);
	giveup_text(buf, sizeof buf, "w", 0, "why");
	CHECK(strcmp(buf, "w: giving up after 0 retries: why") == 0,
	    "no retry: '%s'", buf);
	giveup_text(buf, 12, "channel 1", 5, "long reason");
	CHECK(strlen(buf) == 11, "cut to the buffer, terminated");

	/* stderr a file: the totals only with -v. */
	CHECK(stats_wanted(1, 0) == 0, "-q: no progress line");
	verbose = 0;
	total_into(buf, sizeof buf, "1 delivered");
	CHECK(buf[0] == '\0', "stderr a file, no -v: no totals ('%s')", buf);
	verbose = 1;
	total_into(buf, sizeof buf, "1 delivered");
	CHECK(strcmp(buf, "flespi-test: 1 delivered\n") == 0,
	    "stderr a file, -v: the totals line ('%.*s')",
	    (int)strcspn(buf, "\n"), buf);
	return unit_failed != 0;
}
