#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "jscan.h"
#include "reply.h"
#include "vis.h"

/*
 * The scanner finds value spans by brackets and quotes alone and never
 * reads past len; on malformed input a span may come out wrong, but then
 * jansson rejects it (or the token after it is not what the envelope
 * needs), so compact() only ever sees a span jansson has accepted.
 */

static int
isws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t
skipws(const char *b, size_t i, size_t n)
{
	while (i < n && isws(b[i]))
		i++;
	return i;
}

/* i is at an opening quote; returns the index just past the closing one. */
static size_t
strend(const char *b, size_t i, size_t n)
{
	const char *q;
	size_t j, bs;

	i++;
	while (i < n) {
		if ((q = memchr(b + i, '"', n - i)) == NULL)
			return n;
		j = (size_t)(q - b);
		/* Escaped when preceded by an odd number of backslashes. */
		for (bs = 0; j - bs > i && b[j - bs - 1] == '\\'; bs++)
			;
		if (bs % 2 == 0)
			return j + 1;
		i = j + 1;
	}
	return n;
}

/*
 * Copy b[i..e), a value jansson has accepted, to b[*w], dropping the
 * whitespace outside strings; *w <= i, so the copy never overtakes the
 * bytes still to be read.
 */
static void
compact(char *b, size_t i, size_t e, size_t *w)
{
	size_t o = *w, s;

	while (i < e) {
		if (b[i] == '"') {
			s = strend(b, i, e);
			memmove(b + o, b + i, s - i);
			o += s - i;
			i = s;
		} else if (isws(b[i]))
			i++;
		else
			b[o++] = b[i++];
	}
	*w = o;
}

#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

static int
structural(char c)
{
	return c == '{' || c == '}' || c == '[' || c == ']' || c == ':' ||
	    c == ',';
}

/*
 * Can b[s..e), one valid object, hold whitespace outside its strings?
 * In valid JSON no two neighbouring tokens are both other than {}[]:, so
 * a run of whitespace between tokens touches one of those at one of its
 * ends; and the only byte below 0x21 a string can hold is a space.  So a
 * run of bytes below 0x21 with no structural character at either end is
 * inside a string.  0 means there is surely no whitespace to remove: the
 * span is its own compact form.  (1 may be wrong -- "a, b" -- and only
 * costs the slow way.)  Eight bytes at a time while none is below 0x21.
 */
static int
mayhavews(const char *b, size_t s, size_t e)
{
	uint64_t x;
	size_t i = s, j, lim;

	while (i < e) {
		if (e - i >= 8) {
			memcpy(&x, b + i, 8);
			if (((x - ONES * 0x21) & ~x & HIGHS) == 0) {
				i += 8;
				continue;
			}
		}
		for (lim = e - i >= 8 ? i + 8 : e; i < lim; i++) {
			if ((unsigned char)b[i] > ' ')
				continue;
			for (j = i; j < e && (unsigned char)b[j] <= ' '; j++)
				;
			if (i == s || j == e || structural(b[i - 1]) ||
			    structural(b[j]))
				return 1;
			i = j;
		}
	}
	return 0;
}

/* Skip the value at b[i]; returns the index just past it. */
static size_t
skipval(const char *b, size_t i, size_t n)
{
	int depth = 0;
	char c;

	while (i < n) {
		c = b[i];
		if (c == '"') {
			i = strend(b, i, n);
			if (depth == 0)
				break;
			continue;
		}
		if (depth == 0 && (isws(c) || c == ',' || c == ']' ||
		    c == '}'))
			break;
		i++;
		if (c == '{' || c == '[')
			depth++;
		else if ((c == '}' || c == ']') && --depth == 0)
			break;
	}
	return i;
}

static int
keyis(const char *b, size_t ks, size_t ke, const char *name)
{
	size_t l = strlen(name);

	/* [ks, ke) includes both quotes. */
	return ke - ks == l + 2 && memcmp(b + ks + 1, name, l) == 0;
}

/* A non-negative JSON integer (no sign, fraction or exponent) < 2^64. */
static int
parsekey(const char *b, size_t i, size_t n, uint64_t *out, size_t *end)
{
	uint64_t v = 0;
	size_t s = i;

	while (i < n && b[i] >= '0' && b[i] <= '9') {
		unsigned d = (unsigned)(b[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		i++;
	}
	if (i == s || (b[s] == '0' && i - s > 1) ||
	    (i < n && (b[i] == '.' || b[i] == 'e' || b[i] == 'E')))
		return -1;
	*out = v;
	*end = i;
	return 0;
}

/*
 * Validate b[i..e) as exactly one JSON value with jansson.  An integer
 * past 64 bits is valid JSON: jansson only refuses to store it as an
 * integer, so it is checked again as a real.
 */
static int
valid(const char *b, size_t i, size_t e, char *whybuf, size_t whylen)
{
	json_error_t err;
	json_t *v;
	size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;

	v = json_loadb(b + i, e - i, flags, &err);
	if (v == NULL && json_error_code(&err) == json_error_numeric_overflow)
		v = json_loadb(b + i, e - i, flags | JSON_DECODE_INT_AS_REAL,
		    &err);
	if (v == NULL) {
		snprintf(whybuf, whylen, "answer is not JSON: %s near byte %zu",
		    err.text,
		    i + (size_t)(err.position > 0 ? err.position : 0));
		return -1;
	}
	json_decref(v);
	return 0;
}

/*
 * One element of "result", b[i..e).  The strict scanner jscan answers
 * "valid" only for what jansson accepts too, and "don't know" for
 * anything invalid or unusual (escapes it cannot judge, exponents, deep
 * nesting); then jansson decides and says why.  So acceptance is
 * jansson's, at a fraction of its cost, and no tree is built for the
 * common message.  ref: jansson alone (the reference the tests compare
 * the fast path against).
 */
static int
element(const char *b, size_t i, size_t e, int ref, char *whybuf,
    size_t whylen)
{
	if (!ref && jscan_object(b + i, e - i, NULL, 0, NULL))
		return 0;
	return valid(b, i, e, whybuf, whylen);
}

/*
 * The elements of "result", validated.  The elements are independent, so
 * a big batch is split between this thread and one helper thread.  (The
 * threads share nothing but the read-only body; jansson values are per
 * thread.)  Either half stops at its first bad element, so the failure
 * reported is the first bad element of the batch.
 */
struct spans {
	const char     *b;
	const size_t   *se;		/* start, end pairs */
	size_t		from, to;	/* elements to check */
	size_t		bad;		/* first bad element, or to */
	int		ref;		/* jansson alone */
	char		why[160];
};

/* Batches smaller than this are not worth a thread. */
#define SPLIT_MIN	64
/*
 * Set in an element's end when jscan has accepted its span while the
 * envelope was read: nothing left to check.
 */
#define SCANNED		((size_t)1 << (sizeof(size_t) * CHAR_BIT - 1))

static void *
checkspans(void *arg)
{
	struct spans *sp = arg;
	size_t k;

	sp->bad = sp->to;
	sp->why[0] = '\0';
	for (k = sp->from; k < sp->to; k++)
		if (!(sp->se[2 * k + 1] & SCANNED) && element(sp->b,
		    sp->se[2 * k], sp->se[2 * k + 1], sp->ref, sp->why,
		    sizeof sp->why) == -1) {
			sp->bad = k;
			break;
		}
	return NULL;
}

/*
 * Validate every span not SCANNED (nleft of them); 0, or -1 with the
 * first failure in whybuf.
 */
static int
checkall(const char *b, const size_t *se, size_t count, size_t nleft,
    int ref, char *whybuf, size_t whylen)
{
	struct spans lo = { b, se, 0, count, 0, ref, "" }, hi = lo;
	pthread_t t;
	int threaded = 0;

	if (nleft == 0)
		return 0;
	if (nleft >= SPLIT_MIN) {
		json_object_seed(0);	/* before any second thread, once */
		lo.to = hi.from = count / 2;
		threaded = pthread_create(&t, NULL, checkspans, &hi) == 0;
	}
	if (!threaded)
		lo.to = count;
	checkspans(&lo);
	if (threaded)
		pthread_join(t, NULL);
	if (lo.bad < lo.to) {
		snprintf(whybuf, whylen, "%s", lo.why);
		return -1;
	}
	if (threaded && hi.bad < hi.to) {
		snprintf(whybuf, whylen, "%s", hi.why);
		return -1;
	}
	return 0;
}

/* One entry of "errors" or "warnings" as a line of r->notes. */
static void
note(struct reply *r, const char *kind, json_t *v)
{
	char text[512], *d = NULL;
	const char *s;
	json_t *reason, *code;
	size_t used = strlen(r->notes), room = sizeof r->notes - used;

	reason = json_object_get(v, "reason");
	code = json_object_get(v, "code");
	if (json_is_string(v))
		vis(text, sizeof text, json_string_value(v),
		    json_string_length(v));
	else if (json_is_string(reason)) {
		s = json_string_value(reason);
		vis(text, sizeof text, s, json_string_length(reason));
		if (json_is_integer(code))
			snprintf(text + strlen(text), sizeof text -
			    strlen(text), " (code %lld)",
			    (long long)json_integer_value(code));
	} else if ((d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL)
		vis(text, sizeof text, d, strlen(d));
	else
		snprintf(text, sizeof text, "(unprintable)");
	free(d);
	if (room > 1)
		snprintf(r->notes + used, room, "%s: %s\n", kind, text);
}

/* The "errors" or "warnings" member at b[i..e), valid JSON. */
static void
notes(struct reply *r, const char *kind, const char *b, size_t i, size_t e)
{
	json_t *v;
	size_t k;

	v = json_loadb(b + i, e - i, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (v == NULL)	/* an integer past 64 bits */
		v = json_loadb(b + i, e - i, JSON_DECODE_ANY | JSON_ALLOW_NUL |
		    JSON_DECODE_INT_AS_REAL, NULL);
	if (v == NULL)
		return;
	if (json_is_array(v))
		for (k = 0; k < json_array_size(v); k++)
			note(r, kind, json_array_get(v, k));
	else if (!json_is_null(v))
		note(r, kind, v);
	json_decref(v);
}

/*
 * A refused body that jansson accepts whole is of an unexpected shape;
 * one it refuses is not JSON (and *why says where).
 */
static void
classify(const char *b, size_t n, struct reply *r, const char **why,
    char *whybuf, size_t whylen)
{
	json_error_t err;
	json_t *v;
	size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;

	v = json_loadb(b, n, flags, &err);
	if (v == NULL && json_error_code(&err) == json_error_numeric_overflow)
		v = json_loadb(b, n, flags | JSON_DECODE_INT_AS_REAL, &err);
	if (v != NULL) {
		r->shape = 1;
		json_decref(v);
		if (*why == whybuf && strncmp(whybuf, "answer is not JSON",
		    18) == 0)
			*why = "answer is JSON, but not of the shape "
			    "{\"result\":[...],\"next_key\":N}";
	} else if (*why != whybuf || strncmp(whybuf, "answer is not JSON",
	    18) != 0) {
		snprintf(whybuf, whylen, "answer is not JSON: %s near byte %d",
		    err.text, err.position);
		*why = whybuf;
	}
}

/*
 * The envelope {"result":[...],"next_key":N} is checked token by token
 * here; every value in it (each message, any other member) is validated
 * over its exact span: messages by element(), the rest by jansson.
 * Together they cover every byte of the body, so the body as a whole is
 * valid JSON -- while no tree of a whole batch is ever built.  The elements
 * are compacted in place only after all of them passed, so nothing is
 * moved in a body that is then refused.
 */
static int
parse(char *b, size_t n, struct reply *r, const char **why, char *whybuf,
    size_t whylen, int ref)
{
	size_t i, ks, ke, e, s, k, w = 0, cap = 0, nleft = 0, *se = NULL;
	size_t *nse, flag;
	const char *q;
	int seen_res = 0, seen_key = 0;

	memset(r, 0, sizeof *r);
	*why = whybuf;
	whybuf[0] = '\0';
	/* Not JSON, though jansson 2.14 skips a NUL after a number. */
	if (memchr(b, '\0', n) != NULL) {
		*why = "answer is not JSON: it holds a NUL byte";
		return -1;
	}
	i = skipws(b, 0, n);
	if (i >= n || b[i] != '{') {
		*why = "answer is not a JSON object";
		classify(b, n, r, why, whybuf, whylen);
		return -1;
	}
	i = skipws(b, i + 1, n);
	for (;;) {
		if (i >= n || b[i] != '"')
			goto bad;
		ks = i;
		ke = strend(b, i, n);
		if (ke >= n || valid(b, ks, ke, whybuf, whylen) == -1)
			goto bad;
		i = skipws(b, ke, n);
		if (i >= n || b[i] != ':')
			goto bad;
		i = skipws(b, i + 1, n);
		if (i >= n)
			goto bad;
		if (keyis(b, ks, ke, "result")) {
			if (seen_res++ || b[i] != '[')
				goto bad;
			i = skipws(b, i + 1, n);
			if (i < n && b[i] == ']')
				i++;
			else for (;;) {
				if (i >= n)
					goto bad;
				if (b[i] != '{') {
					snprintf(whybuf, whylen, "element %zu "
					    "of result is not an object (not a "
					    "flespi message) at byte %zu",
					    r->count + 1, i);
					goto fail;
				}
				/*
				 * A flat message ends at its first '}': when
				 * jscan accepts the span up to there as one
				 * object, it is the element (an object is no
				 * prefix of a longer valid one) and it is
				 * valid.  Else the slow way: find its end, and
				 * check it after the envelope.
				 */
				if (!ref &&
				    (q = memchr(b + i, '}', n - i)) != NULL &&
				    jscan_object(b + i, (size_t)(q - b) + 1 - i,
				    NULL, 0, NULL)) {
					e = (size_t)(q - b) + 1;
					flag = SCANNED;
				} else {
					e = skipval(b, i, n);
					if (e == i)
						goto bad;
					flag = 0;
					nleft++;
				}
				if (r->count == cap) {
					cap = cap ? 2 * cap : 1024;
					if ((nse = realloc(se, 2 * cap *
					    sizeof *se)) == NULL) {
						*why = "out of memory";
						free(se);
						return -1;
					}
					se = nse;
				}
				se[2 * r->count] = i;
				se[2 * r->count + 1] = e | flag;
				r->count++;
				i = skipws(b, e, n);
				if (i < n && b[i] == ',') {
					i = skipws(b, i + 1, n);
					continue;
				}
				if (i < n && b[i] == ']') {
					i++;
					break;
				}
				goto bad;
			}
		} else if (keyis(b, ks, ke, "next_key")) {
			if (seen_key++ ||
			    parsekey(b, i, n, &r->next_key, &i) == -1) {
				*why = "next_key is not an unsigned 64-bit "
				    "integer";
				goto fail;
			}
		} else {
			e = skipval(b, i, n);
			if (e == i || valid(b, i, e, whybuf, whylen) == -1)
				goto bad;
			if (keyis(b, ks, ke, "errors"))
				notes(r, "error", b, i, e);
			else if (keyis(b, ks, ke, "warnings"))
				notes(r, "warning", b, i, e);
			i = e;
		}
		i = skipws(b, i, n);
		if (i < n && b[i] == ',') {
			i = skipws(b, i + 1, n);
			continue;
		}
		if (i < n && b[i] == '}')
			break;
		goto bad;
	}
	if (skipws(b, i + 1, n) != n) {
		*why = "answer has data after its end";
		goto fail;
	}
	if (!seen_res || !seen_key) {
		*why = seen_res ? "answer has no next_key" :
		    "answer has no result";
		goto fail;
	}
	if (checkall(b, se, r->count, nleft, ref, whybuf, whylen) == -1)
		goto fail;
	for (k = 0; k < r->count; k++) {
		s = se[2 * k];
		e = se[2 * k + 1] & ~SCANNED;
		if (!ref && !mayhavews(b, s, e)) {
			memmove(b + w, b + s, e - s);
			w += e - s;
		} else
			compact(b, s, e, &w);
		b[w++] = '\n';
	}
	free(se);
	r->lines = b;
	r->len = w;
	return 0;
bad:
	if (whybuf[0] == '\0')
		snprintf(whybuf, whylen, "answer is not JSON: unexpected %s "
		    "at byte %zu", i < n ? "character" : "end", i);
fail:
	free(se);
	r->count = 0;
	r->notes[0] = '\0';
	classify(b, n, r, why, whybuf, whylen);
	return -1;
}

int
reply_parse(char *b, size_t n, struct reply *r, const char **why,
    char *whybuf, size_t whylen)
{
	return parse(b, n, r, why, whybuf, whylen, 0);
}

int
reply_parse_ref(char *b, size_t n, struct reply *r, const char **why,
    char *whybuf, size_t whylen)
{
	return parse(b, n, r, why, whybuf, whylen, 1);
}

int
reply_message(const char *p, size_t n, char *whybuf, size_t whylen)
{
	json_error_t err;
	json_t *v;
	size_t i = skipws(p, 0, n), flags = JSON_ALLOW_NUL;

	if (memchr(p, '\0', n) != NULL) {
		snprintf(whybuf, whylen, "not JSON: it holds a NUL byte");
		return -1;
	}
	if (i >= n || p[i] != '{') {
		snprintf(whybuf, whylen, "not a JSON object");
		return -1;
	}
	/* jscan's "valid" is jansson's too; anything else, jansson decides. */
	if (jscan_object(p, n, NULL, 0, NULL))
		return 0;
	v = json_loadb(p, n, flags, &err);
	if (v == NULL && json_error_code(&err) == json_error_numeric_overflow)
		v = json_loadb(p, n, flags | JSON_DECODE_INT_AS_REAL, &err);
	if (v == NULL) {
		snprintf(whybuf, whylen, "not JSON: %s near byte %d", err.text,
		    err.position);
		return -1;
	}
	json_decref(v);
	return 0;
}

size_t
reply_compact(char *p, size_t n)
{
	size_t w = 0;

	compact(p, 0, n, &w);
	return w;
}

size_t
reply_lines_in(const char *lines, size_t n)
{
	const char *p = lines, *e = lines + n;
	size_t k = 0;

	while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		k++;
		p++;
	}
	return k;
}
