#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wialon.h"

void
wbuf_free(struct wbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* Room for n more bytes; on failure oom is set and nothing is written. */
static int
room(struct wbuf *b, size_t n)
{
	size_t ncap;
	unsigned char *np;

	if (b->oom)
		return 0;
	if (b->cap - b->len >= n)
		return 1;
	ncap = b->cap ? b->cap : 256;
	while (ncap - b->len < n) {
		if (ncap > SIZE_MAX / 2) {
			b->oom = 1;
			return 0;
		}
		ncap *= 2;
	}
	if ((np = realloc(b->p, ncap)) == NULL) {
		b->oom = 1;
		return 0;
	}
	b->p = np;
	b->cap = ncap;
	return 1;
}

static void
set16be(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void
set32be(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void
set32le(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void
set64be(unsigned char *p, uint64_t v)
{
	set32be(p, (uint32_t)(v >> 32));
	set32be(p + 4, (uint32_t)v);
}

/* IEEE-754 binary64, little-endian, whatever the host's byte order. */
static void
setf64le(unsigned char *p, double d)
{
	uint64_t u;
	int i;

	memcpy(&u, &d, sizeof u);
	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(u >> (8 * i));
}

void
wialon_begin(struct wpkt *k, struct wbuf *b, const char *uid, int32_t time)
{
	size_t ulen = strlen(uid);
	unsigned char *q;

	k->b = b;
	k->start = b->len;
	k->flagsat = b->len + 4 + ulen + 1 + 4;
	k->flags = 0;
	if (!room(b, 4 + ulen + 1 + 4 + 4))
		return;
	q = b->p + b->len;
	set32le(q, 0);			/* the size, patched by wialon_end */
	memcpy(q + 4, uid, ulen + 1);
	set32be(q + 4 + ulen + 1, (uint32_t)time);
	set32be(q + 4 + ulen + 1 + 4, 0);	/* the flags, likewise */
	b->len += 4 + ulen + 1 + 4 + 4;
}

/*
 * The reserved block names: attr 1 and a flag bit (the position and the
 * image blocks are not for parameters; see unreserve()).  Returns the
 * flag, 0 for an ordinary name.
 */
static uint32_t
reserved(const char *name, size_t nlen)
{
	if (name[0] == 'p' && nlen == 7 && memcmp(name, "posinfo", 7) == 0)
		return WIALON_POS;
	if (name[0] != 'a' || nlen < 10 || memcmp(name, "avl_", 4) != 0)
		return 0;
	if (nlen == 10 && memcmp(name + 4, "inputs", 6) == 0)
		return WIALON_DIN;
	if (nlen == 11 && memcmp(name + 4, "outputs", 7) == 0)
		return WIALON_DOUT;
	if (nlen == 10 && memcmp(name + 4, "driver", 6) == 0)
		return WIALON_DRIVER;
	return 0;
}

/*
 * Append a block's marker, size, attr, type and name, with room for
 * valsize value bytes; returns where the value goes (the caller fills
 * exactly valsize bytes), or NULL when out of memory.  attr and the flag
 * follow from the name, so no caller can get them wrong.
 */
static unsigned char *
block(struct wpkt *k, const char *name, size_t nlen, int type,
    size_t valsize)
{
	struct wbuf *b = k->b;
	uint32_t flag = reserved(name, nlen);
	size_t rest = 2 + nlen + 1 + valsize;
	unsigned char *q;

	if (!room(b, 6 + rest))
		return NULL;
	q = b->p + b->len;
	q[0] = 0x0B;
	q[1] = 0xBB;
	set32be(q + 2, (uint32_t)rest);
	q[6] = flag ? 1 : 0;
	q[7] = (unsigned char)type;
	memcpy(q + 8, name, nlen + 1);
	k->flags |= flag;
	b->len += 6 + rest;
	return q + 8 + nlen + 1;
}

void
wialon_posinfo(struct wpkt *k, double lon, double lat, double alt,
    unsigned speed, unsigned course, unsigned sats)
{
	unsigned char *q = block(k, "posinfo", 7, WIALON_BINARY, 29);

	if (q == NULL)
		return;
	setf64le(q, lon);
	setf64le(q + 8, lat);
	setf64le(q + 16, alt);
	set16be(q + 24, speed);
	set16be(q + 26, course);
	q[28] = (unsigned char)sats;
}

static void
putint(struct wpkt *k, const char *name, size_t nlen, int32_t v)
{
	unsigned char *q = block(k, name, nlen, WIALON_INT, 4);

	if (q != NULL)
		set32be(q, (uint32_t)v);
}

static void
putlong(struct wpkt *k, const char *name, size_t nlen, int64_t v)
{
	unsigned char *q = block(k, name, nlen, WIALON_LONG, 8);

	if (q != NULL)
		set64be(q, (uint64_t)v);
}

static void
putdouble(struct wpkt *k, const char *name, size_t nlen, double v)
{
	unsigned char *q = block(k, name, nlen, WIALON_DOUBLE, 8);

	if (q != NULL)
		setf64le(q, v);
}

static void
puttext(struct wpkt *k, const char *name, size_t nlen, const char *s,
    size_t len)
{
	unsigned char *q = block(k, name, nlen, WIALON_TEXT, len + 1);

	if (q != NULL) {
		memcpy(q, s, len);
		q[len] = 0;
	}
}

void
wialon_int(struct wpkt *k, const char *name, int32_t v)
{
	putint(k, name, strlen(name), v);
}

void
wialon_long(struct wpkt *k, const char *name, int64_t v)
{
	putlong(k, name, strlen(name), v);
}

void
wialon_double(struct wpkt *k, const char *name, double v)
{
	putdouble(k, name, strlen(name), v);
}

void
wialon_text(struct wpkt *k, const char *name, const char *s, size_t len)
{
	puttext(k, name, strlen(name), s, len);
}

int
wialon_end(struct wpkt *k)
{
	struct wbuf *b = k->b;
	size_t body = b->len - k->start - 4;

	if (b->oom || body > UINT32_MAX)
		return -1;
	set32le(b->p + k->start, (uint32_t)body);
	set32be(b->p + k->flagsat, k->flags);
	return 0;
}

/* The position fields that make posinfo; not sent again as parameters. */
static const char *const posfields[] = {
	"position.longitude", "position.latitude", "position.altitude",
	"position.speed", "position.direction", "position.satellites",
};
enum { P_LON, P_LAT, P_ALT, P_SPEED, P_DIR, P_SATS, P_N };

static double
num(json_t *v)
{
	return json_is_number(v) ? json_number_value(v) : 0;
}

/* Round to the nearest integer in [0, max]. */
static unsigned
clampu(double d, unsigned max)
{
	if (!(d > 0))
		return 0;
	if (d >= max)
		return max;
	return (unsigned)lround(d);
}

/*
 * A course in whole degrees 0..359, the specification's range: any angle
 * is taken modulo 360, so 360 is 0, 725 is 5 and -5 is 355, then rounded
 * to the nearest degree, 359.5 and above coming round to 0.
 */
static unsigned
course(double d)
{
	double r;
	long c;

	if (!isfinite(d))
		return 0;
	r = fmod(d, 360);	/* exact, with the sign of d */
	if (r < 0)
		r += 360;
	c = lround(r);
	return c >= 360 ? 0 : (unsigned)c;
}

static int
isposfield(const char *k)
{
	int i;

	if (strncmp(k, "position.", 9) != 0)
		return 0;
	for (i = 0; i < P_N; i++)
		if (strcmp(k, posfields[i]) == 0)
			return 1;
	return 0;
}

/*
 * The names already in this packet, so that the first of two fields that
 * map to one name wins: an open-addressed table of name hashes and
 * offsets, on the stack for ordinary messages, on the heap (doubling) for
 * wide ones, so a message with 50,000 fields costs no more per field.
 * Should the heap fail, lookups walk the packet instead.
 */
#define SEEN_SLOTS	256

struct seen {
	uint32_t       *h;
	uint32_t       *off;		/* name offset from packet start + 1; 0 = empty */
	size_t		mask, n;
	int		heap, walk;
	uint32_t	ih[SEEN_SLOTS], ioff[SEEN_SLOTS];
};

static void
seen_init(struct seen *s)
{
	s->h = s->ih;
	s->off = s->ioff;
	s->mask = SEEN_SLOTS - 1;
	s->n = 0;
	s->heap = s->walk = 0;
	memset(s->ioff, 0, sizeof s->ioff);
}

static void
seen_free(struct seen *s)
{
	if (s->heap)
		free(s->h);	/* off shares the allocation */
}

/* FNV-1a over the whole name: wide messages have names like k1..k50000. */
static uint32_t
hashname(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* Double the table.  Returns 0, or -1 when out of memory. */
static int
grow(struct seen *s)
{
	size_t size = (s->mask + 1) * 2, i, j;
	uint32_t *nh;

	if (size > SIZE_MAX / (2 * sizeof *nh) ||
	    (nh = calloc(size * 2, sizeof *nh)) == NULL)
		return -1;
	for (i = 0; i <= s->mask; i++) {
		if (s->off[i] == 0)
			continue;
		for (j = s->h[i] & (size - 1); nh[size + j] != 0;
		    j = (j + 1) & (size - 1))
			;
		nh[j] = s->h[i];
		nh[size + j] = s->off[i];
	}
	seen_free(s);
	s->h = nh;
	s->off = nh + size;
	s->mask = size - 1;
	s->heap = 1;
	return 0;
}

/* Does the packet being built hold a block with this name? Walks it. */
static int
walkhas(const struct wpkt *k, const char *name)
{
	const unsigned char *p = k->b->p, *end = p + k->b->len;
	uint32_t sz;

	p += k->flagsat + 4;
	while (p + 8 <= end) {
		sz = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 |
		    (uint32_t)p[4] << 8 | p[5];
		if (strcmp((const char *)p + 8, name) == 0)
			return 1;
		p += 6 + sz;
	}
	return 0;
}

/* True if name was already sent; otherwise remember it. */
static int
seen(struct seen *s, const struct wpkt *k, const char *name, size_t nlen)
{
	uint32_t h = hashname(name, nlen);
	const unsigned char *base = k->b->p + k->start;
	size_t i;

	if (k->b->oom)
		return 1;	/* the packet is lost anyway; write nothing more */
	if (s->walk || (s->n >= (s->mask + 1) / 2 && grow(s) == -1)) {
		s->walk = 1;
		return walkhas(k, name);
	}
	for (i = h & s->mask; s->off[i] != 0; i = (i + 1) & s->mask)
		if (s->h[i] == h &&
		    strcmp((const char *)base + s->off[i] - 1, name) == 0)
			return 1;
	s->h[i] = h;
	/* The block about to be written puts its name 8 bytes in. */
	s->off[i] = (uint32_t)(k->b->len - k->start + 8 + 1);
	s->n++;
	return 0;
}

/*
 * The block names Wialon gives a fixed meaning that no parameter can
 * carry: posinfo (type 2) and the image block (type 6), which the 2019
 * edition of the specification calls "image" in its heading and "imag" in
 * its table, so both are kept clear.  A field whose name ends up as one of
 * them is sent with '_' appended (name has room: these are short).
 * Returns the new length.
 */
static size_t
unreserve(char *name, size_t nlen)
{
	if ((nlen == 7 && memcmp(name, "posinfo", 7) == 0) ||
	    (nlen == 5 && memcmp(name, "image", 5) == 0) ||
	    (nlen == 4 && memcmp(name, "imag", 4) == 0)) {
		name[nlen++] = '_';
		name[nlen] = '\0';
	}
	return nlen;
}

/* One field as a block, by the type rules; skipped types write nothing. */
static void
field(struct wpkt *k, struct seen *s, const char *name, size_t nlen,
    json_t *v)
{
	enum { PLAIN, MASK, DRIVER } kind = PLAIN;
	uint32_t flag = reserved(name, nlen);
	json_int_t i;
	char buf[24];
	int n;

	if (flag == WIALON_DIN || flag == WIALON_DOUT)
		kind = MASK;
	else if (flag == WIALON_DRIVER)
		kind = DRIVER;

	switch (json_typeof(v)) {
	case JSON_INTEGER:
		i = json_integer_value(v);
		/* An input/output mask is 32 bits, signed or not. */
		if (kind == MASK && (i < INT32_MIN || i > (json_int_t)UINT32_MAX))
			return;
		if (seen(s, k, name, nlen))
			return;
		if (kind == DRIVER) {
			n = snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, i);
			puttext(k, name, nlen, buf, (size_t)n);
		} else if (kind == MASK)
			putint(k, name, nlen, (int32_t)(uint32_t)i);
		else if (i >= INT32_MIN && i <= INT32_MAX)
			putint(k, name, nlen, (int32_t)i);
		else
			putlong(k, name, nlen, (int64_t)i);
		return;
	case JSON_REAL:
		if (kind != PLAIN || seen(s, k, name, nlen))
			return;
		putdouble(k, name, nlen, json_real_value(v));
		return;
	case JSON_TRUE:
	case JSON_FALSE:
		if (kind == DRIVER || seen(s, k, name, nlen))
			return;
		putint(k, name, nlen, json_is_true(v));
		return;
	case JSON_STRING:
		/* Text ends at its NUL, so a string holding one is skipped. */
		if (kind == MASK ||
		    strlen(json_string_value(v)) != json_string_length(v) ||
		    seen(s, k, name, nlen))
			return;
		puttext(k, name, nlen, json_string_value(v),
		    json_string_length(v));
		return;
	default:
		return;		/* arrays, objects, null */
	}
}

int
wialon_encode(const struct pmap *pm, json_t *msg, const char *uid_field,
    const char *uid, double time, struct wbuf *out, char *err, size_t errsz)
{
	struct wpkt k;
	struct seen *s, sbuf;
	json_t *pos[P_N], *v;
	const char *key;
	char name[PMAP_NAMEMAX + 1];
	size_t nlen, mark = out->len;
	double t = floor(time);
	int i, haspos;

	if (*uid == '\0') {
		snprintf(err, errsz, "empty unit id");
		return -1;
	}
	for (key = uid; *key != '\0'; key++)
		if ((unsigned char)*key < 0x20 ||
		    (unsigned char)*key > 0x7e) {
			snprintf(err, errsz, "unit id \"%s\" is not printable "
			    "ASCII", uid);
			return -1;
		}
	if (!(t >= INT32_MIN && t <= INT32_MAX)) {
		snprintf(err, errsz, "\"timestamp\" %.0f does not fit 32 bits",
		    t);
		return -1;
	}
	for (i = 0; i < P_N; i++)
		pos[i] = json_object_get(msg, posfields[i]);
	haspos = json_is_number(pos[P_LON]) && json_is_number(pos[P_LAT]);

	s = &sbuf;
	seen_init(s);
	wialon_begin(&k, out, uid, (int32_t)t);
	if (haspos)
		wialon_posinfo(&k, num(pos[P_LON]), num(pos[P_LAT]),
		    num(pos[P_ALT]), clampu(num(pos[P_SPEED]), 65535),
		    course(num(pos[P_DIR])),
		    clampu(num(pos[P_SATS]), 255));
	json_object_foreach(msg, key, v) {
		if (strcmp(key, "timestamp") == 0 ||
		    strcmp(key, uid_field) == 0 ||
		    (haspos && isposfield(key)))
			continue;
		if ((nlen = pmap_name(pm, key, name)) == 0)
			continue;
		field(&k, s, name, unreserve(name, nlen), v);
	}
	seen_free(s);
	if (wialon_end(&k) == -1) {
		out->len = mark;
		out->oom = 0;
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	return 0;
}
