/*
 * libFuzzer target: jscan, the fast path in front of jansson (flespi-to-aws
 * fast()), against jansson as msgin calls it (flags 0, integers past 64
 * bits retried as reals).
 *
 * Input: one line.  jscan_object() must never crash or read past it.
 * When it accepts, jansson must accept the line as an object, and every
 * key's span must be jansson's value for that key (type; the bytes of an
 * unescaped string or integer).  Conversely, an object jansson accepts
 * must be accepted, but for the cases jscan leaves to jansson on purpose
 * (excused()): an exponent, a number over 100 characters, nesting deeper
 * than 64, a raw NUL byte; and with keys asked for, an escaped key.  So
 * acceptance is identical outside those documented cases.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jscan.h"
#include "../jscanref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The keys flespi-to-aws asks for, and a few more. */
static const char *const keys[] = { "ident", "timestamp", "channel.id",
	"a", "", "x" };
#define NKEYS	(sizeof keys / sizeof keys[0])

static void
fail(const char *why, const char *key)
{
	fprintf(stderr, "fuzz_jscan: %s%s%s\n", why, key ? ": key " : "",
	    key ? key : "");
	abort();
}

/*
 * Outside strings of a line jansson accepted: the deepest nesting, the
 * longest number, whether one has an exponent.  Inside top-level keys:
 * whether one is escaped.
 */
static int
excused(const uint8_t *p, size_t n, int withkeys)
{
	size_t i, run = 0, longest = 0;
	int depth = 0, deepest = 0, exp = 0, keyesc = 0, instr = 0, key = 0;
	int prev = 0;

	if (memchr(p, '\0', n) != NULL)
		return 1;
	for (i = 0; i < n; i++) {
		if (instr) {
			if (p[i] == '\\') {
				if (key)
					keyesc = 1;
				i++;
			} else if (p[i] == '"')
				instr = 0;
			continue;
		}
		if ((p[i] >= '0' && p[i] <= '9') || p[i] == '-' ||
		    p[i] == '+' || p[i] == '.' || p[i] == 'e' || p[i] == 'E') {
			if (p[i] == 'e' || p[i] == 'E')
				exp = 1;
			if (++run > longest)
				longest = run;
			continue;
		}
		run = 0;
		switch (p[i]) {
		case '{': case '[':
			if (++depth > deepest)
				deepest = depth;
			break;
		case '}': case ']':
			depth--;
			break;
		case '"':
			instr = 1;
			/* A key at depth 1: after '{' or ','. */
			key = depth == 1 && (prev == '{' || prev == ',');
			break;
		}
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			prev = p[i];
	}
	/* "true"/"false"/"null" hold an 'e': only digits count (1e5). */
	if (exp) {
		for (i = 1; i + 1 < n; i++)
			if ((p[i] == 'e' || p[i] == 'E') &&
			    ((p[i - 1] >= '0' && p[i - 1] <= '9') ||
			    p[i - 1] == '.'))
				return 1;
	}
	return longest > 100 || deepest > 64 || (withkeys && keyesc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jspan sp[NKEYS];
	json_t *j;
	char *line;
	size_t i;
	int bare, withkeys, jok;

	if (size > 65536)
		return 0;
	/* Exactly size bytes, so ASan sees any read past the end. */
	if ((line = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	bare = jscan_object(line, size, NULL, 0, NULL);
	withkeys = jscan_object(line, size, keys, NKEYS, sp);
	j = jparse(line, size);
	jok = j != NULL && json_is_object(j);

	if (withkeys && !bare)
		fail("accepted with keys, refused without", NULL);
	if (bare && !jok)
		fail("jscan accepts what jansson refuses", NULL);
	if (withkeys)
		for (i = 0; i < NKEYS; i++)
			if (!same(&sp[i], json_object_get(j, keys[i])))
				fail("a span differs from jansson's value",
				    keys[i]);
	if (jok && !bare && !excused(data, size, 0))
		fail("jansson accepts an object jscan refuses (no excuse)",
		    NULL);
	if (jok && bare && !withkeys && !excused(data, size, 1))
		fail("refused only with keys, but no key is escaped", NULL);
	json_decref(j);
	free(line);
	return 0;
}
