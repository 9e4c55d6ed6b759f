#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "reply.h"

/*
 * The scanner below runs only over bytes jansson has accepted as one JSON
 * object, so it can rely on well-formed input: every string is closed,
 * every bracket matched.  It still never reads past len.
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
 * Copy the value at b[i] to b[*w], dropping whitespace outside strings;
 * *w < i, so the copy never overtakes the bytes still to be read.
 * Returns the index just past the value.
 */
static size_t
copyval(char *b, size_t i, size_t n, size_t *w)
{
	size_t o = *w, e;
	int depth = 0;
	char c;

	while (i < n) {
		c = b[i];
		if (c == '"') {
			e = strend(b, i, n);
			memmove(b + o, b + i, e - i);
			o += e - i;
			i = e;
			if (depth == 0)
				break;
			continue;
		}
		if (isws(c)) {
			if (depth == 0)
				break;
			i++;
			continue;
		}
		if (depth == 0 && (c == ',' || c == ']' || c == '}'))
			break;
		b[o++] = c;
		i++;
		if (c == '{' || c == '[')
			depth++;
		else if ((c == '}' || c == ']') && --depth == 0)
			break;
	}
	*w = o;
	return i;
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

/* A non-negative integer in plain digits, at most 2^64 - 1. */
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
	if (i == s || (i < n && (b[i] == '.' || b[i] == 'e' || b[i] == 'E')))
		return -1;
	*out = v;
	*end = i;
	return 0;
}

int
reply_parse(char *b, size_t n, struct reply *r, const char **why,
    char *whybuf, size_t whylen)
{
	json_error_t err;
	json_t *root, *res, *nk;
	size_t i, ks, ke, w = 0, want;
	int seen_res = 0, seen_key = 0;

	memset(r, 0, sizeof *r);
	root = json_loadb(b, n, JSON_ALLOW_NUL, &err);
	if (root == NULL &&
	    json_error_code(&err) == json_error_numeric_overflow) {
		/* An integer past 64 bits in a message is still valid JSON. */
		root = json_loadb(b, n, JSON_ALLOW_NUL |
		    JSON_DECODE_INT_AS_REAL, &err);
	}
	if (root == NULL) {
		snprintf(whybuf, whylen, "answer is not JSON: %s at byte %d",
		    err.text, err.position);
		*why = whybuf;
		return -1;
	}
	res = json_object_get(root, "result");
	nk = json_object_get(root, "next_key");
	want = json_array_size(res);
	if (!json_is_object(root) || !json_is_array(res) ||
	    !json_is_number(nk)) {
		json_decref(root);
		*why = "answer lacks result or next_key";
		return -1;
	}
	json_decref(root);

	i = skipws(b, 0, n);
	i++;			/* '{' */
	for (;;) {
		i = skipws(b, i, n);
		if (i >= n || b[i] == '}')
			break;
		if (b[i] == ',') {
			i++;
			continue;
		}
		ks = i;
		ke = strend(b, i, n);
		i = skipws(b, ke, n) + 1;	/* ':' */
		i = skipws(b, i, n);
		if (keyis(b, ks, ke, "result") && !seen_res) {
			seen_res = 1;
			i++;			/* '[' */
			for (;;) {
				i = skipws(b, i, n);
				if (i >= n || b[i] == ']') {
					i++;
					break;
				}
				if (b[i] == ',') {
					i++;
					continue;
				}
				i = copyval(b, i, n, &w);
				b[w++] = '\n';
				r->count++;
			}
		} else if (keyis(b, ks, ke, "next_key") && !seen_key) {
			seen_key = 1;
			if (parsekey(b, i, n, &r->next_key, &i) == -1) {
				*why = "next_key is not an unsigned 64-bit integer";
				return -1;
			}
		} else
			i = skipval(b, i, n);
	}
	if (!seen_res || !seen_key || r->count != want) {
		*why = "answer's result or next_key could not be read";
		return -1;
	}
	r->lines = b;
	r->len = w;
	return 0;
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
