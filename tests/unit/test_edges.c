/*
 * Edges that mutants showed no other test pinned down (tests/mutants/):
 * checkpoint lines, vis(), the key file (atomic replacement, the lock),
 * overlong UTF-8 in topics, very deep nesting in jscan.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "jscan.h"
#include "statefile.h"
#include "topic.h"
#include "unit.h"
#include "vis.h"

static void
checkpoints(void)
{
	static const uint64_t keys[] = { 0, 9, 10, 99, 100, 1234567,
	    18446744073709551615ULL };
	static const char *const bad[] = {
		"{\"@checkpoint\":\"007\"}", "{\"@checkpoint\":\"\"}",
		"{\"@checkpoint\":\"18446744073709551616\"}",
		"{\"@checkpoint\":\"99999999999999999999\"}",
		"{\"@checkpoint\":\"1\",\"x\":1}", "{\"@checkpoint\":\"1\"} x",
		"{\"@checkpoint\":\"1x\"}", "{\"@checkpoint\":1}",
	};
	char buf[CHECKPOINT_MAX], want[64];
	uint64_t k;
	size_t i, n;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		n = checkpoint_format(buf, keys[i]);
		snprintf(want, sizeof want, "{\"@checkpoint\":\"%llu\"}\n",
		    (unsigned long long)keys[i]);
		CHECK_MEM(buf, n, want, strlen(want), "checkpoint_format %llu",
		    (unsigned long long)keys[i]);
		k = 1;
		CHECK(checkpoint_parse(buf, n - 1, &k) == 1 && k == keys[i],
		    "checkpoint_parse reads back %llu",
		    (unsigned long long)keys[i]);
	}
	CHECK(checkpoint_parse(" { \"@checkpoint\" : \"42\" } ", 26, &k) == 1 &&
	    k == 42, "checkpoint_parse: blanks between tokens");
	CHECK(checkpoint_parse("{\"ident\":\"x\"}", 13, &k) == 0,
	    "checkpoint_parse: a message is not a checkpoint");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(checkpoint_parse(bad[i], strlen(bad[i]), &k) == -1,
		    "checkpoint_parse: malformed %s", bad[i]);
}

/* vis(s) into a big buffer equals want. */
static int
visis(const char *s, size_t len, const char *want)
{
	char out[256];

	vis(out, sizeof out, s, len);
	return strcmp(out, want) == 0;
}

static void
vistests(void)
{
	/* Pieces and their escaped forms; a cut must fall between pieces. */
	static const char in[] = "a\xc3\xa9\x01\\\n\xe2\x82\xac\xc2\x85z";
	static const size_t bounds[] = { 0, 1, 3, 7, 9, 11, 14, 18, 19 };
	char full[256], out[64];
	size_t sz, i, len;
	int ok = 1, atb;

	CHECK(visis("plain text", 10, "plain text"), "vis: ASCII passes");
	CHECK(visis("caf\xc3\xa9", 5, "caf\xc3\xa9"), "vis: UTF-8 passes");
	CHECK(visis("a\\b", 3, "a\\\\b"), "vis: a backslash is escaped");
	CHECK(visis("\x1b[2J\r\n\t\x7f", 8, "\\x1B[2J\\r\\n\\t\\x7F"),
	    "vis: controls and DEL are escaped");
	CHECK(visis("\xc2\x85\xc2\x9b", 4, "\\xC2\\x85\\xC2\\x9B"),
	    "vis: C1 controls (U+0085, U+009B) are escaped");
	CHECK(visis("\xc2\xa0", 2, "\xc2\xa0"), "vis: U+00A0 passes");
	CHECK(visis("\xe0\x83\xa9\xf0\x80\xa0\x80", 7,
	    "\\xE0\\x83\\xA9\\xF0\\x80\\xA0\\x80"),
	    "vis: overlong U+00E9 (3 bytes) and U+0800 (4 bytes) are escaped");
	CHECK(visis("\xe0\x80\xaf\xed\xa0\x80", 6,
	    "\\xE0\\x80\\xAF\\xED\\xA0\\x80"),
	    "vis: overlong and surrogate UTF-8 are escaped");
	vis(full, sizeof full, in, sizeof in - 1);
	CHECK(strcmp(full, "a\xc3\xa9\\x01\\\\\\n\xe2\x82\xac\\xC2\\x85z") == 0,
	    "vis: the mixed sample in full");
	for (sz = 1; sz <= strlen(full) + 1; sz++) {
		vis(out, sz, in, sizeof in - 1);
		len = strlen(out);
		if (len >= sz)
			ok = 0;
		if (strcmp(out, full) == 0)
			continue;
		/* Cut: a whole-piece prefix of full, then "..." (or empty). */
		if (len == 0) {
			ok &= sz < 4;
			continue;
		}
		if (len < 3 || strcmp(out + len - 3, "...") != 0) {
			ok = 0;
			continue;
		}
		for (atb = 0, i = 0; i < sizeof bounds / sizeof bounds[0]; i++)
			atb |= bounds[i] == len - 3;
		if (!atb || memcmp(out, full, len - 3) != 0) {
			printf("#   size %zu: %s\n", sz, out);
			ok = 0;
		}
	}
	CHECK(ok, "vis: every buffer size cuts between escapes, ends in ...");
}

static void
statefile(void)
{
	char dir[] = "/tmp/test_edges.XXXXXX", p[64], old[80], tmp[80];
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
	CHECK(state_load(p, &k) == -1, "state_load: a leading blank is not a key");
	f = fopen(p, "w");
	fputs("7 \r\n", f);
	fclose(f);
	CHECK(state_load(p, &k) == 1 && k == 7, "state_load: \"7 \\r\\n\" is 7");
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
topics(void)
{
	static const char *const bad[] = {
		"a/\xe0\x80\xaf", "a/\xe0\x9f\xbf", "a/\xf0\x80\x80\xaf",
		"a/\xf0\x8f\xbf\xbf", "a/\xed\xa0\x80", "a/\xf4\x90\x80\x80",
		"a/\xef\xbf\xbe", "a/\xc2\x85",
	};
	static const char *const good[] = { "a/\xe0\xa0\x80",
		"a/\xf0\x90\x80\x80", "a/\xed\x9f\xbf", "a/\xc2\xa0" };
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(topic_check(&topic_aws, bad[i], strlen(bad[i])) != NULL,
		    "topic_check refuses bad UTF-8 case %zu", i);
	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		CHECK(topic_check(&topic_aws, good[i], strlen(good[i])) == NULL,
		    "topic_check takes UTF-8 edge %zu", i);
}

static void
deep(void)
{
	static char s[7000];
	size_t n = 0;
	int i;

	n += (size_t)sprintf(s, "{\"a\":");
	for (i = 0; i < 3000; i++)
		s[n++] = '[';
	for (i = 0; i < 3000; i++)
		s[n++] = ']';
	s[n++] = '}';
	CHECK(!jscan_object(s, n, NULL, 0, NULL),
	    "jscan: 3000 levels (jansson refuses) are not accepted");
}

int
main(void)
{
	checkpoints();
	vistests();
	statefile();
	topics();
	deep();
	return UNIT_END();
}
