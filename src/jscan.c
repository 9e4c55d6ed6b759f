#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"

#define MAX_DEPTH	64	/* deeper is legal but rare: jansson decides */
#define MAX_NUMBER	100	/* longer numbers may overflow
				   a double: jansson */
/*
 * Integers of 19 digits or more a line may hold for jscan_members: each
 * one past 64 bits costs msgin a jansson retry, and it gives up at 256.
 */
#define MAX_WIDE	64

/*
 * Bytes that stand for themselves in a string: printable ASCII
 * but '"' and '\\'.
 */
static const unsigned char plain[256] = {
	[0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,		/* 0x30-0x3f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,		/* 0x40-0x4f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,		/* 0x50-0x5f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,		/* 0x60-0x6f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,		/* 0x70-0x7f */
};

#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

/*
 * True when one of the 8 bytes at p is not plain: '"', '\\', below 0x20
 * or above 0x7f.  Borrows between bytes can only add false alarms next to
 * a byte that is special anyway, and the byte loop looks closer.
 */
static int
special8(const unsigned char *p)
{
	uint64_t x, q, b;

	memcpy(&x, p, 8);
	q = x ^ (ONES * '"');
	b = x ^ (ONES * '\\');
	return (((q - ONES) & ~q) | ((b - ONES) & ~b) | (x - ONES * 0x20) |
	    x) & HIGHS ? 1 : 0;
}

struct scan {
	const unsigned char *p, *end;
	int		depth;
	unsigned long	nwide;	/* integer tokens of 19 digits or more */
};

static inline void
ws(struct scan *s)
{
	/* Compact JSON, as flespi sends it, has none: leave at once. */
	if (s->p < s->end && *s->p > ' ')
		return;
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
hex4(const unsigned char *p, unsigned *v)
{
	unsigned i, c;

	*v = 0;
	for (i = 0; i < 4; i++) {
		c = p[i];
		if (c >= '0' && c <= '9')
			c -= '0';
		else if (c >= 'a' && c <= 'f')
			c -= 'a' - 10;
		else if (c >= 'A' && c <= 'F')
			c -= 'A' - 10;
		else
			return 0;
		*v = *v << 4 | c;
	}
	return 1;
}

/* One UTF-8 sequence at p (first byte >= 0x80): its length, or 0. */
static size_t
utf8(const unsigned char *p, const unsigned char *end)
{
	unsigned long cp;
	size_t n, k;

	if (*p >= 0xc2 && *p <= 0xdf) {
		n = 1;
		cp = *p & 0x1f;
	} else if (*p >= 0xe0 && *p <= 0xef) {
		n = 2;
		cp = *p & 0x0f;
	} else if (*p >= 0xf0 && *p <= 0xf4) {
		n = 3;
		cp = *p & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(end - p) <= n)
		return 0;
	for (k = 1; k <= n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n + 1;
}

/* A string at s->p (the opening quote). */
static int
string(struct scan *s, struct jspan *v)
{
	const unsigned char *start;
	unsigned u, u2;
	size_t n;

	start = ++s->p;
	v->escaped = 0;
	for (;;) {
		/* The common case: plain ASCII, eight bytes at a time. */
		while (s->end - s->p >= 8 && !special8(s->p))
			s->p += 8;
		while (s->p < s->end && plain[*s->p])
			s->p++;
		if (s->p >= s->end || *s->p < 0x20)
			return 0;
		if (*s->p == '"')
			break;
		if (*s->p == '\\') {
			v->escaped = 1;
			if (s->end - s->p < 2)
				return 0;
			switch (s->p[1]) {
			case '"': case '\\': case '/': case 'b': case 'f':
			case 'n': case 'r': case 't':
				s->p += 2;
				continue;
			case 'u':
				break;
			default:
				return 0;
			}
			if (s->end - s->p < 6 || !hex4(s->p + 2, &u) || u == 0)
				return 0;
			s->p += 6;
			if (u >= 0xdc00 && u <= 0xdfff)
				return 0;
			if (u >= 0xd800 && u <= 0xdbff) {
				if (s->end - s->p < 6 || s->p[0] != '\\' ||
				    s->p[1] != 'u' || !hex4(s->p + 2, &u2) ||
				    u2 < 0xdc00 || u2 > 0xdfff)
					return 0;
				s->p += 6;
			}
			continue;
		}
		if ((n = utf8(s->p, s->end)) == 0)
			return 0;
		s->p += n;
	}
	v->type = JS_STRING;
	v->p = (const char *)start;
	v->len = (size_t)(s->p - start);
	s->p++;
	return 1;
}

static int
number(struct scan *s, struct jspan *v)
{
	const unsigned char *start = s->p;
	int real = 0;

	if (*s->p == '-')
		s->p++;
	if (s->p >= s->end)
		return 0;
	if (*s->p == '0') {
		s->p++;
	} else if (*s->p >= '1' && *s->p <= '9') {
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	} else {
		return 0;
	}
	if (s->p - start >= 19 && s->p - start - (*start == '-') >= 19)
		s->nwide++;
	if (s->p < s->end && *s->p == '.') {
		real = 1;
		s->p++;
		if (s->p >= s->end || *s->p < '0' || *s->p > '9')
			return 0;
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	}
	/* Exponents can overflow a double (jansson's error): not here. */
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
		return 0;
	if (s->p - start > MAX_NUMBER)
		return 0;
	v->type = real ? JS_REAL : JS_INT;
	v->p = (const char *)start;
	v->len = (size_t)(s->p - start);
	v->escaped = 0;
	return 1;
}

static int
word(struct scan *s, const char *w, int type, struct jspan *v)
{
	size_t n = strlen(w);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return 0;
	v->type = type;
	v->p = (const char *)s->p;
	v->len = n;
	v->escaped = 0;
	s->p += n;
	return 1;
}

static int value(struct scan *, struct jspan *);

/*
 * An object or array at s->p; top-level keys matched when keys != NULL,
 * top-level members handed to fn when fn != NULL.
 */
static int
container(struct scan *s, struct jspan *v, const char *const *keys,
    size_t nkeys, struct jspan *out, jscan_fn fn, void *arg)
{
	const unsigned char *start = s->p;
	int obj = *s->p == '{';
	unsigned char close = obj ? '}' : ']';
	struct jspan k, e;
	size_t i;

	if (++s->depth > MAX_DEPTH)
		return 0;
	s->p++;
	ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		goto done;
	}
	for (;;) {
		if (obj) {
			if (s->p >= s->end || *s->p != '"' || !string(s, &k))
				return 0;
			ws(s);
			if (s->p >= s->end || *s->p != ':')
				return 0;
			s->p++;
			ws(s);
		}
		if (!value(s, &e))
			return 0;
		if (obj && keys != NULL) {
			/* An escaped key might equal one we look for. */
			if (k.escaped)
				return 0;
			for (i = 0; i < nkeys; i++)
				if ((k.len == 0 || keys[i][0] == k.p[0]) &&
				    strncmp(keys[i], k.p, k.len) == 0 &&
				    keys[i][k.len] == '\0')
					out[i] = e;
		}
		if (obj && fn != NULL && !fn(arg, &k, &e))
			return 0;
		ws(s);
		if (s->p >= s->end)
			return 0;
		if (*s->p == ',') {
			s->p++;
			ws(s);
			continue;
		}
		if (*s->p != close)
			return 0;
		s->p++;
		break;
	}
done:
	s->depth--;
	v->type = obj ? JS_OBJECT : JS_ARRAY;
	v->p = (const char *)start;
	v->len = (size_t)(s->p - start);
	v->escaped = 0;
	return 1;
}

static int
value(struct scan *s, struct jspan *v)
{
	if (s->p >= s->end)
		return 0;
	switch (*s->p) {
	case '"':
		return string(s, v);
	case '{':
	case '[':
		return container(s, v, NULL, 0, NULL, NULL, NULL);
	case 't':
		return word(s, "true", JS_TRUE, v);
	case 'f':
		return word(s, "false", JS_FALSE, v);
	case 'n':
		return word(s, "null", JS_NULL, v);
	default:
		return number(s, v);
	}
}

int
jscan_object(const char *str, size_t len, const char *const *keys,
    size_t nkeys, struct jspan *out)
{
	struct scan s;
	struct jspan v;
	size_t i;

	s.p = (const unsigned char *)str;
	s.end = s.p + len;
	s.depth = 0;
	s.nwide = 0;
	for (i = 0; i < nkeys; i++)
		out[i].type = JS_NONE;
	ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return 0;
	if (!container(&s, &v, keys, nkeys, out, NULL, NULL))
		return 0;
	ws(&s);
	return s.p == s.end;
}

int
jscan_members(const char *str, size_t len, jscan_fn fn, void *arg)
{
	struct scan s;
	struct jspan v;

	s.p = (const unsigned char *)str;
	s.end = s.p + len;
	s.depth = 0;
	s.nwide = 0;
	ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return 0;
	if (!container(&s, &v, NULL, 0, NULL, fn, arg))
		return 0;
	ws(&s);
	return s.p == s.end && s.nwide <= MAX_WIDE;
}

int
jscan_double(const struct jspan *s, double *v)
{
	char b[64], *end;

	if ((s->type != JS_INT && s->type != JS_REAL) || s->len == 0 ||
	    s->len >= sizeof b)
		return -1;
	memcpy(b, s->p, s->len);
	b[s->len] = '\0';
	*v = strtod(b, &end);
	return *end == '\0' ? 0 : -1;
}
