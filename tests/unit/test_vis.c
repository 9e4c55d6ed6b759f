/*
 * vis(): peer text made safe for a terminal -- escapes, and a cut that
 * falls between escapes and ends in "...".
 */
#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "vis.h"

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

int
main(void)
{
	vistests();
	return UNIT_END();
}
