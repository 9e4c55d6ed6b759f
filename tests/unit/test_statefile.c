/*
 * The key file: atomic replacement, 0600, what is and is not a key, the
 * run lock; and state_open, the life every tool shares: a link stands for
 * its target (read, saved and locked there, the link kept).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exits.h"
#include "statefile.h"
#include "unit.h"

static void
statefile(void)
{
	char dir[] = "/tmp/test_statefile.XXXXXX", p[64], old[80], tmp[80];
	struct rlimit rl, nolim;
	struct stat sb;
	uint64_t k = 0;
	FILE *f;
	int fd, fd2;

	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp");
		return;
	}
	snprintf(p, sizeof p, "%s/key", dir);
	snprintf(old, sizeof old, "%s/key.old", dir);
	snprintf(tmp, sizeof tmp, "%s/key.tmp", dir);
	CHECK(state_load(p, &k) == 0, "state_load: no file, 0");
	CHECK(state_save(p, 1234) == 0 && state_load(p, &k) == 1 && k == 1234,
	    "state_save then state_load: 1234");
	CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600,
	    "the key file is 0600");
	/* Atomic replacement: a new file is renamed over the old name, so
	 * a hard link to the old one keeps the old key. */
	CHECK(link(p, old) == 0, "link");
	CHECK(state_save(p, 99) == 0 && state_load(p, &k) == 1 && k == 99,
	    "state_save 99 over 1234");
	CHECK(state_load(old, &k) == 1 && k == 1234,
	    "the old file was replaced, not rewritten in place");
	CHECK(access(tmp, F_OK) == -1, "no temporary file left");
	/* A save that cannot write (the disk full for a moment: here a file
	 * size limit of 0) fails and leaves the saved key as it was. */
	signal(SIGXFSZ, SIG_IGN);
	CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0, "getrlimit");
	nolim = rl;
	rl.rlim_cur = 0;
	CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit");
	CHECK(state_save(p, 77) == -1 && errno == EFBIG,
	    "state_save cannot write: -1, EFBIG");
	CHECK(setrlimit(RLIMIT_FSIZE, &nolim) == 0, "setrlimit back");
	signal(SIGXFSZ, SIG_DFL);
	CHECK(state_load(p, &k) == 1 && k == 99,
	    "a failed save leaves the saved key (99) in place");
	CHECK(access(tmp, F_OK) == -1, "nor a temporary file");
	f = fopen(p, "w");
	fputs("12x\n", f);
	fclose(f);
	CHECK(state_load(p, &k) == -1 && errno == EINVAL,
	    "state_load: \"12x\" is not a key");
	f = fopen(p, "w");
	fputs("18446744073709551616\n", f);
	fclose(f);
	CHECK(state_load(p, &k) == -1 && errno == EINVAL,
	    "state_load: 2^64 is not a key");
	f = fopen(p, "w");
	fputs(" 7\n", f);
	fclose(f);
	CHECK(state_load(p, &k) == -1,
	    "state_load: a leading blank is not a key");
	f = fopen(p, "w");
	fputs("7 \r\n", f);
	fclose(f);
	CHECK(state_load(p, &k) == 1 && k == 7,
	    "state_load: \"7 \\r\\n\" is 7");
	fd = state_lock(p);
	CHECK(fd >= 0, "state_lock: taken");
	fd2 = state_lock(p);
	CHECK(fd2 == -1 && errno == EWOULDBLOCK,
	    "state_lock: a second taker is refused (EWOULDBLOCK)");
	if (fd2 >= 0)
		close(fd2);
	if (fd >= 0)
		close(fd);
	fd = state_lock(p);
	CHECK(fd >= 0, "state_lock: free again once closed");
	if (fd >= 0)
		close(fd);
	snprintf(tmp, sizeof tmp, "%s/key.lock", dir);
	unlink(p);
	unlink(old);
	unlink(tmp);
	rmdir(dir);
}

static void
links(void)
{
	char dir[] = "/tmp/test_statefile.XXXXXX", real[80], link_[80],
	    why[600], lk[90];
	struct statefile a, b;
	uint64_t k = 0;
	struct stat sb;
	int r, st;

	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp");
		return;
	}
	snprintf(real, sizeof real, "%s/real.key", dir);
	snprintf(link_, sizeof link_, "%s/link.key", dir);
	CHECK(state_save(real, 5) == 0 && symlink("real.key", link_) == 0,
	    "a key file and a link to it");
	r = state_open(&a, link_, &k, &st, why, sizeof why);
	CHECK(r == 1 && k == 5, "state_open through the link reads the "
	    "target's key (%d, %llu)", r, (unsigned long long)k);
	CHECK(r == 1 && strcmp(a.path + strlen(a.path) - 8, "real.key") == 0,
	    "... and saves to the target (%s)", r == 1 ? a.path : "-");
	r = state_open(&b, real, &k, &st, why, sizeof why);
	CHECK(r == -1 && st == EXIT_LOCKED && strstr(why, "in use") != NULL,
	    "the target is locked for a run through the link (%s)", why);
	if (r >= 0)
		state_close(&b);
	CHECK(state_save(a.path, 6) == 0 && lstat(link_, &sb) == 0 &&
	    S_ISLNK(sb.st_mode), "saving keeps the link a link");
	state_close(&a);
	r = state_open(&b, real, &k, &st, why, sizeof why);
	CHECK(r == 1 && k == 6, "free once closed; the target holds 6");
	if (r >= 0)
		state_close(&b);
	unlink(real);
	r = state_open(&b, link_, &k, &st, why, sizeof why);
	CHECK(r == -1 && st == EXIT_IOERR &&
	    strstr(why, "link to nothing") != NULL,
	    "a link to nothing is refused, said so (%s)", why);
	if (r >= 0)
		state_close(&b);
	r = state_open(&b, dir, &k, &st, why, sizeof why);
	CHECK(r == -1 && st == EXIT_IOERR, "a directory is refused (%s)", why);
	if (r >= 0)
		state_close(&b);
	unlink(link_);
	snprintf(lk, sizeof lk, "%s/real.key.lock", dir);
	unlink(lk);
	snprintf(lk, sizeof lk, "%s.lock", dir);
	unlink(lk);
	rmdir(dir);
}

int
main(void)
{
	statefile();
	links();
	return UNIT_END();
}
