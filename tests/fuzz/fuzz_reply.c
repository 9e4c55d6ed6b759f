/*
 * libFuzzer target: flespi-recv's answer parser against jansson.
 *
 * Input: an HTTP answer body.  reply_parse() must never crash or read past
 * the body.  When it accepts, jansson must accept the whole body as an
 * object too, and the NDJSON it produced must be jansson's view of it:
 * exactly "result"'s length in lines, each one line ending in '\n',
 * valid JSON, json_equal to the matching element; next_key equal to
 * jansson's.  Conversely, a body jansson accepts as a plain answer (no
 * duplicate keys, "result" an array, "next_key" an integer >= 0) must be
 * accepted, but for the refusals excused() lists.  A refusal marked as
 * an unexpected shape must be a body jansson accepts; every accepted line
 * is an object.  The same input as one MQTT payload: reply_message()
 * accepts it exactly when jansson accepts it as an object (no raw NUL),
 * and reply_compact() then gives a line jansson finds equal.
 *
 * And the fast path against the reference: reply_parse() (jscan, jansson
 * where jscan cannot judge) and reply_parse_ref() (jansson alone) must
 * come to the same outcome on every input -- accepted or refused, the
 * same reason, shape, notes, next_key and byte-identical lines.
 */
#define _GNU_SOURCE	/* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *why, size_t i)
{
	fprintf(stderr, "fuzz_reply: %s (line %zu)\n", why, i);
	abort();
}

/* jansson as reply.c uses it: integers past 64 bits read as reals. */
static json_t *
load(const char *s, size_t n, size_t flags, int *asreal)
{
	json_error_t err;
	json_t *v;

	flags |= JSON_ALLOW_NUL | (*asreal ? JSON_DECODE_INT_AS_REAL : 0);
	v = json_loadb(s, n, flags, &err);
	if (v == NULL && !*asreal &&
	    json_error_code(&err) == json_error_numeric_overflow) {
		*asreal = 1;
		v = json_loadb(s, n, flags | JSON_DECODE_INT_AS_REAL, &err);
	}
	return v;
}

/*
 * The refusals of a body jansson accepts that are on purpose: a raw NUL
 * (jansson 2.14 skips one after a number), "result" or "next_key" written
 * with escapes (the envelope's keys are matched byte for byte), and a
 * next_key of -0.
 */
static int
excused(const char *why, const uint8_t *data, size_t size)
{
	if (strstr(why, "NUL byte") != NULL)
		return memchr(data, '\0', size) != NULL;
	if (strcmp(why, "answer has no result") == 0 ||
	    strcmp(why, "answer has no next_key") == 0)
		return memchr(data, '\\', size) != NULL;
	if (strncmp(why, "next_key is not", 15) == 0)
		return memmem(data, size, "-0", 2) != NULL;
	/* A flespi message is an object; anything else in result is not. */
	if (strstr(why, "is not an object (not a flespi message)") != NULL)
		return 1;
	return 0;
}

/* The input as one MQTT payload. */
static void
payload(const uint8_t *data, size_t size)
{
	char why[256], *p;
	json_t *j, *c;
	int asreal = 0, rc, creal;
	size_t n;

	if ((p = malloc(size ? size : 1)) == NULL)
		return;
	memcpy(p, data, size);
	rc = reply_message(p, size, why, sizeof why);
	j = load((const char *)data, size, 0, &asreal);
	if (rc == 0 && (j == NULL || !json_is_object(j) ||
	    memchr(data, '\0', size) != NULL))
		fail("payload accepted that jansson refuses as an object", 0);
	if (rc == -1 && j != NULL && json_is_object(j) &&
	    memchr(data, '\0', size) == NULL)
		fail("payload refused that jansson accepts as an object", 0);
	if (rc == 0) {
		n = reply_compact(p, size);
		if (n > size || memchr(p, '\n', n) != NULL)
			fail("compacted payload longer or split", 0);
		creal = asreal;
		c = load(p, n, 0, &creal);
		if (c == NULL || !json_equal(c, j))
			fail("compacted payload differs", 0);
		json_decref(c);
	}
	json_decref(j);
	free(p);
}

/* reply_parse() and reply_parse_ref() on their own copies of the input. */
static void
sameasref(const uint8_t *data, size_t size)
{
	struct reply a, b;
	const char *wa, *wb;
	char ba[256], bb[256], *ca, *cb;
	int ra, rb;

	if ((ca = malloc(size ? size : 1)) == NULL ||
	    (cb = malloc(size ? size : 1)) == NULL) {
		free(ca);
		return;
	}
	memcpy(ca, data, size);
	memcpy(cb, data, size);
	ra = reply_parse(ca, size, &a, &wa, ba, sizeof ba);
	rb = reply_parse_ref(cb, size, &b, &wb, bb, sizeof bb);
	if (ra != rb)
		fail(ra == 0 ? "scan path accepts what jansson refuses" :
		    "scan path refuses what jansson accepts", 0);
	if (ra == -1) {
		if (strcmp(wa, wb) != 0 || a.shape != b.shape) {
			fprintf(stderr, "scan: %s\nref:  %s\n", wa, wb);
			fail("scan path refuses for another reason", 0);
		}
	} else if (a.count != b.count || a.next_key != b.next_key ||
	    a.len != b.len || memcmp(a.lines, b.lines, a.len) != 0 ||
	    strcmp(a.notes, b.notes) != 0)
		fail("scan path's lines differ from jansson's", a.count);
	free(ca);
	free(cb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reply r;
	const char *why, *p, *e, *nl;
	char whybuf[256], *body;
	json_t *j, *res, *nk, *el, *lv;
	size_t i;
	int rc, asreal = 0, lreal;

	if (size > 65536)
		return 0;
	/* Exactly size bytes, so ASan sees any read past the end. */
	if ((body = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(body, data, size);
	payload(data, size);
	sameasref(data, size);
	rc = reply_parse(body, size, &r, &why, whybuf, sizeof whybuf);
	j = load((const char *)data, size, 0, &asreal);

	if (rc == -1) {
		if (why == NULL || why[0] == '\0')
			fail("refused without a reason", 0);
		if (r.shape) {
			int a3 = 0;
			json_t *any = load((const char *)data, size,
			    JSON_DECODE_ANY, &a3);
			if (any == NULL)
				fail("an unexpected shape, but jansson "
				    "refuses it", 0);
			json_decref(any);
		}
		if (j != NULL && json_is_object(j) &&
		    json_is_array(json_object_get(j, "result")) &&
		    json_is_integer(json_object_get(j, "next_key")) &&
		    json_integer_value(json_object_get(j, "next_key")) >= 0 &&
		    !excused(why, data, size)) {
			int a2 = 0;
			json_t *strict = load((const char *)data, size,
			    JSON_REJECT_DUPLICATES, &a2);
			if (strict != NULL)
				fail(why, 0);
			json_decref(strict);
		}
		goto out;
	}
	if (j == NULL || !json_is_object(j))
		fail("accepted a body jansson refuses", 0);
	if (memchr(data, '\0', size) != NULL)
		fail("accepted a body holding a raw NUL byte", 0);
	res = json_object_get(j, "result");
	nk = json_object_get(j, "next_key");
	if (!json_is_array(res) || json_array_size(res) != r.count)
		fail("line count differs from result's length", r.count);
	if (json_is_integer(nk)) {
		if ((uint64_t)json_integer_value(nk) != r.next_key ||
		    json_integer_value(nk) < 0)
			fail("next_key differs", 0);
	} else if (!json_is_real(nk) ||
	    json_real_value(nk) != (double)r.next_key)
		fail("next_key differs (as a real)", 0);
	if (r.len > 0 && r.lines != body)
		fail("lines not built in the body", 0);
	if (r.len > size || reply_lines_in(r.lines, r.len) != r.count)
		fail("reply_lines_in disagrees with count", r.count);
	if (r.len > 0 && r.lines[r.len - 1] != '\n')
		fail("last line without newline", 0);
	p = r.lines;
	e = r.lines + r.len;
	for (i = 0; i < r.count; i++) {
		nl = memchr(p, '\n', (size_t)(e - p));
		if (nl == NULL || nl == p)
			fail("missing or empty line", i);
		lreal = asreal;
		lv = load(p, (size_t)(nl - p), JSON_DECODE_ANY, &lreal);
		if (lv == NULL)
			fail("line is not JSON", i);
		el = json_array_get(res, i);
		if (!json_is_object(lv))
			fail("a line that is not an object", i);
		if (!json_equal(lv, el))
			fail("line differs from jansson's element", i);
		json_decref(lv);
		p = nl + 1;
	}
	if (p != e)
		fail("bytes after the last line", i);
out:
	json_decref(j);
	free(body);
	return 0;
}
