#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"
#include "vis.h"
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

/* The 29 value bytes of a posinfo block. */
static void
posvalue(unsigned char *q, double lon, double lat, double alt,
    unsigned speed, unsigned course, unsigned sats)
{
	setf64le(q, lon);
	setf64le(q + 8, lat);
	setf64le(q + 16, alt);
	set16be(q + 24, speed);
	set16be(q + 26, course);
	q[28] = (unsigned char)sats;
}

void
wialon_posinfo(struct wpkt *k, double lon, double lat, double alt,
    unsigned speed, unsigned course, unsigned sats)
{
	unsigned char *q = block(k, "posinfo", 7, WIALON_BINARY, 29);

	if (q != NULL)
		posvalue(q, lon, lat, alt, speed, course, sats);
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
	uint32_t       *off;		/* name offset from packet start + 1;
					   0 = empty */
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
		return 1;	/* the packet is lost anyway; write nothing
				   more */
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

/*
 * A field's value as both paths see it: jansson's tree and the scan.
 * Strings are not NUL-terminated; esc says s is JSON text still holding
 * backslash escapes (the scan path), to be decoded as it is written.
 */
enum { V_SKIP, V_INT, V_REAL, V_TRUE, V_FALSE, V_STRING };

struct fval {
	int		type;
	int		esc;
	int64_t		i;		/* V_INT */
	double		d;		/* V_REAL */
	const char     *s;		/* V_STRING */
	size_t		len;
};

static size_t unescape(unsigned char *, const char *, size_t);

/* Text from a JSON string body with escapes, decoded into the block. */
static void
puttextesc(struct wpkt *k, const char *name, size_t nlen, const char *s,
    size_t len)
{
	struct wbuf *b = k->b;
	size_t at = b->len, n;
	unsigned char *q = block(k, name, nlen, WIALON_TEXT, len + 1);

	if (q == NULL)
		return;
	/* Decoded text is never longer than its JSON form. */
	n = unescape(q, s, len);
	q[n] = 0;
	b->len -= len - n;
	set32be(b->p + at + 2, (uint32_t)(2 + nlen + 1 + n + 1));
}

/* One field as a block, by the type rules; skipped types write nothing. */
static void
field(struct wpkt *k, struct seen *s, const char *name, size_t nlen,
    const struct fval *v)
{
	enum { PLAIN, MASK, DRIVER } kind = PLAIN;
	uint32_t flag = reserved(name, nlen);
	int64_t i;
	char buf[24];
	int n;

	if (flag == WIALON_DIN || flag == WIALON_DOUT)
		kind = MASK;
	else if (flag == WIALON_DRIVER)
		kind = DRIVER;

	switch (v->type) {
	case V_INT:
		i = v->i;
		/* An input/output mask is 32 bits, signed or not. */
		if (kind == MASK && (i < INT32_MIN || i > (int64_t)UINT32_MAX))
			return;
		if (seen(s, k, name, nlen))
			return;
		if (kind == DRIVER) {
			n = snprintf(buf, sizeof buf, "%" PRId64, i);
			puttext(k, name, nlen, buf, (size_t)n);
		} else if (kind == MASK)
			putint(k, name, nlen, (int32_t)(uint32_t)i);
		else if (i >= INT32_MIN && i <= INT32_MAX)
			putint(k, name, nlen, (int32_t)i);
		else
			putlong(k, name, nlen, i);
		return;
	case V_REAL:
		if (kind != PLAIN || seen(s, k, name, nlen))
			return;
		putdouble(k, name, nlen, v->d);
		return;
	case V_TRUE:
	case V_FALSE:
		if (kind == DRIVER || seen(s, k, name, nlen))
			return;
		putint(k, name, nlen, v->type == V_TRUE);
		return;
	case V_STRING:
		if (kind == MASK || seen(s, k, name, nlen))
			return;
		if (v->esc)
			puttextesc(k, name, nlen, v->s, v->len);
		else
			puttext(k, name, nlen, v->s, v->len);
		return;
	default:
		return;		/* arrays, objects, null */
	}
}

/* A jansson value as a field value. */
static void
treeval(json_t *v, struct fval *f)
{
	f->esc = 0;
	switch (json_typeof(v)) {
	case JSON_INTEGER:
		f->type = V_INT;
		f->i = json_integer_value(v);
		return;
	case JSON_REAL:
		f->type = V_REAL;
		f->d = json_real_value(v);
		return;
	case JSON_TRUE:
		f->type = V_TRUE;
		return;
	case JSON_FALSE:
		f->type = V_FALSE;
		return;
	case JSON_STRING:
		/* Text ends at its NUL, so a string holding one is skipped. */
		f->s = json_string_value(v);
		f->len = json_string_length(v);
		f->type = strlen(f->s) == f->len ? V_STRING : V_SKIP;
		return;
	default:
		f->type = V_SKIP;
		return;
	}
}

int
wialon_encode(const struct pmap *pm, json_t *msg, const char *uid_field,
    const char *uid, double time, struct wbuf *out, char *err, size_t errsz)
{
	struct wpkt k;
	struct seen *s, sbuf;
	struct fval f;
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
		treeval(v, &f);
		field(&k, s, name, unreserve(name, nlen), &f);
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

/*
 * ---- The scan path: one jscan pass, no tree ----
 *
 * Each top-level member is handled as jscan meets it: position fields and
 * the uid and timestamp are noted, every other field is encoded at once.
 * Since the header (uid, time) and the posinfo block come first but may
 * only be known at the end of the line, the blocks are written after a
 * gap sized for a 15-byte uid (an IMEI) and a posinfo block, and moved
 * when the guess was wrong.  The position fields are assumed to make a
 * posinfo block, so they are not sent as parameters; when the line ends
 * without a numeric latitude and longitude, each is put back into the
 * packet where it would have been (see putback()).
 */
#define KEYMAX		1024	/* longer top-level keys: the jansson path */
#define KEYSLOTS	128
#define UIDGUESS	15
#define POSBLOCK	(6 + 2 + 8 + 29)	/* a whole posinfo block */

/*
 * The top-level keys met so far, to send a line with a repeated key to
 * the jansson path (jansson keeps the last value at the first key's
 * place): an open-addressed table of key offsets in the line, growing on
 * the heap for wide messages.
 */
struct keyset {
	uint32_t       *off;	/* key offset in the line + 1; 0 = empty */
	uint32_t       *len;
	size_t		mask, n;
	int		heap;
	uint32_t	ioff[KEYSLOTS], ilen[KEYSLOTS];
};

/*
 * A hash of the whole key, eight bytes at a time (a hash of only some
 * bytes would let a wide message of keys alike there probe quadratically).
 */
static uint32_t
keyhash(const char *p, size_t n)
{
	uint64_t h = n * 0x9E3779B97F4A7C15ULL, w;
	size_t i;

	if (n < 8) {
		for (w = 0, i = 0; i < n; i++)
			w = w << 8 | (unsigned char)p[i];
		h = (h ^ w) * 0xC2B2AE3D27D4EB4FULL;
	} else {
		for (i = 0; i + 8 <= n; i += 8) {
			memcpy(&w, p + i, 8);
			h = (h ^ w) * 0xC2B2AE3D27D4EB4FULL;
			h ^= h >> 29;
		}
		if (i < n) {
			/*
			 * The last 8 bytes, overlapping: the tail is in them.
			 */
			memcpy(&w, p + n - 8, 8);
			h = (h ^ w) * 0xC2B2AE3D27D4EB4FULL;
		}
	}
	h ^= h >> 32;
	return (uint32_t)h;
}

/*
 * Add the key p[0..n) (at offset off in line); returns 0, 1 when the line
 * already had it, -1 when out of memory.
 */
static int
keyadd(struct keyset *ks, const char *line, size_t off, size_t n)
{
	const char *p = line + off;
	size_t i, j, size;
	uint32_t *no;

	if (ks->n >= (ks->mask + 1) / 2) {
		size = (ks->mask + 1) * 2;
		if (size > SIZE_MAX / (2 * sizeof *no) ||
		    (no = calloc(size * 2, sizeof *no)) == NULL)
			return -1;
		for (i = 0; i <= ks->mask; i++) {
			if (ks->off[i] == 0)
				continue;
			for (j = keyhash(line + ks->off[i] - 1, ks->len[i]) &
			    (size - 1); no[j] != 0; j = (j + 1) & (size - 1))
				;
			no[j] = ks->off[i];
			no[size + j] = ks->len[i];
		}
		if (ks->heap)
			free(ks->off);
		ks->off = no;
		ks->len = no + size;
		ks->mask = size - 1;
		ks->heap = 1;
	}
	for (i = keyhash(p, n) & ks->mask; ks->off[i] != 0;
	    i = (i + 1) & ks->mask)
		if (ks->len[i] == n &&
		    memcmp(line + ks->off[i] - 1, p, n) == 0)
			return 1;
	ks->off[i] = (uint32_t)off + 1;
	ks->len[i] = (uint32_t)n;
	ks->n++;
	return 0;
}

/* A position field set aside, and where its block would have gone. */
struct posdefer {
	const char     *key;		/* in the line */
	size_t		klen;
	struct fval	v;
	size_t		at;		/* offset in the output buffer */
};

struct scanenc {
	const struct pmap *pm;
	const char     *line;
	const char     *uf;		/* the uid field's name */
	size_t		uflen;
	struct wpkt	k;
	struct seen	seen;
	struct keyset	keys;
	const char     *uid;		/* in the line, not NUL-terminated */
	size_t		ulen;
	double		ts;
	int		hasuid, hasts;
	size_t		ndefer;
	struct posdefer	defer[P_N];
	unsigned char	posnum[P_N];
	double		pos[P_N];
	char		key[KEYMAX + 1];
};

static const double pow10tab[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* A number's text as strtod reads it, as jansson does (jscan bounds it). */
static double
slowdouble(const char *p, size_t len)
{
	char buf[128];

	if (len >= sizeof buf)
		len = sizeof buf - 1;	/* jscan allows at most 100 */
	memcpy(buf, p, len);
	buf[len] = '\0';
	return strtod(buf, NULL);
}

/*
 * A decimal without exponent, correctly rounded like strtod: when its
 * digits make an integer m below 2^53 and there are at most 22 after the
 * point, m and 10^k are exact doubles and one IEEE division rounds
 * correctly; anything else goes to strtod.
 */
static double
scanreal(const char *p, size_t len)
{
	const char *q = p, *end = p + len;
	uint64_t m = 0;
	unsigned nd = 0, frac = 0, dot = 0;
	double d;

	if (*q == '-')
		q++;
	for (; q < end; q++) {
		if (*q == '.') {
			dot = 1;
			continue;
		}
		if (++nd > 19)
			return slowdouble(p, len);
		m = m * 10 + (unsigned)(*q - '0');
		frac += dot;
	}
	if (m > (1ULL << 53) || frac > 22)
		return slowdouble(p, len);
	d = (double)m / pow10tab[frac];
	return *p == '-' ? -d : d;
}

/*
 * An integer's text: jansson's integer (a json_int_t, so -0 is 0), or,
 * past 64 bits, the double msgin's retry makes of it ("N.0").
 */
static void
scanint(const char *p, size_t len, struct fval *f)
{
	const char *q = p, *end = p + len;
	int neg = *q == '-';
	uint64_t u = 0;

	q += neg;
	if (end - q <= 19) {
		for (; q < end; q++)
			u = u * 10 + (unsigned)(*q - '0');
		if (!neg && u <= (uint64_t)INT64_MAX) {
			f->type = V_INT;
			f->i = (int64_t)u;
			return;
		}
		if (neg && u <= (uint64_t)INT64_MAX + 1) {
			f->type = V_INT;
			f->i = u == 0 ? 0 : -(int64_t)(u - 1) - 1;
			return;
		}
	}
	f->type = V_REAL;
	f->d = slowdouble(p, len);
}

/* A scanned value as a field value. */
static void
spanval(const struct jspan *v, struct fval *f)
{
	f->esc = 0;
	switch (v->type) {
	case JS_INT:
		scanint(v->p, v->len, f);
		return;
	case JS_REAL:
		f->type = V_REAL;
		f->d = scanreal(v->p, v->len);
		return;
	case JS_TRUE:
		f->type = V_TRUE;
		return;
	case JS_FALSE:
		f->type = V_FALSE;
		return;
	case JS_STRING:
		f->type = V_STRING;
		f->s = v->p;
		f->len = v->len;
		f->esc = v->escaped;
		return;
	default:
		f->type = V_SKIP;
		return;
	}
}

static unsigned
hexval(const char *p)
{
	unsigned v = 0, i, c;

	for (i = 0; i < 4; i++) {
		c = (unsigned char)p[i];
		c = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
		v = v << 4 | c;
	}
	return v;
}

/*
 * Decode the body of a JSON string jscan accepted (so every escape is
 * well formed, surrogates come in pairs and none is \u0000) into q, as
 * jansson decodes it.  Returns the decoded length, at most len.
 */
static size_t
unescape(unsigned char *q, const char *s, size_t len)
{
	const char *end = s + len, *bs;
	unsigned char *o = q;
	unsigned long u;

	while (s < end) {
		if ((bs = memchr(s, '\\', (size_t)(end - s))) == NULL)
			bs = end;
		memcpy(o, s, (size_t)(bs - s));
		o += bs - s;
		if ((s = bs) >= end)
			break;
		switch (s[1]) {
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			u = hexval(s + 2);
			if (u >= 0xd800 && u <= 0xdbff) {
				u = 0x10000 + ((u - 0xd800) << 10) +
				    (hexval(s + 8) - 0xdc00);
				s += 6;
			}
			if (u < 0x80) {
				*o++ = (unsigned char)u;
			} else if (u < 0x800) {
				*o++ = (unsigned char)(0xc0 | u >> 6);
				*o++ = (unsigned char)(0x80 | (u & 0x3f));
			} else if (u < 0x10000) {
				*o++ = (unsigned char)(0xe0 | u >> 12);
				*o++ = (unsigned char)(0x80 | (u >> 6 & 0x3f));
				*o++ = (unsigned char)(0x80 | (u & 0x3f));
			} else {
				*o++ = (unsigned char)(0xf0 | u >> 18);
				*o++ = (unsigned char)(0x80 | (u >> 12 & 0x3f));
				*o++ = (unsigned char)(0x80 | (u >> 6 & 0x3f));
				*o++ = (unsigned char)(0x80 | (u & 0x3f));
			}
			s += 6;
			continue;
		default:	/* '"', '\\', '/' */
			*o++ = (unsigned char)s[1];
			break;
		}
		s += 2;
	}
	return (size_t)(o - q);
}

static const size_t poslen[P_N] = { 18, 17, 17, 14, 18, 19 };

/* Which of posfields the key p[0..n) is, or -1. */
static int
posfield(const char *p, size_t n)
{
	int i;

	if (n < 14 || p[0] != 'p' || memcmp(p, "position.", 9) != 0)
		return -1;
	for (i = 0; i < P_N; i++)
		if (poslen[i] == n &&
		    memcmp(p + 9, posfields[i] + 9, n - 9) == 0)
			return i;
	return -1;
}

/*
 * The uid, as msgin's check and wialon_encode take it: a non-empty string
 * of printable ASCII, or an integer as "%lld" prints it.  Strings with
 * escapes and everything the jansson path would refuse: 0.
 */
static int
scanuid(struct scanenc *c, const struct jspan *v, const struct fval *f)
{
	size_t i;

	if (v->type == JS_STRING) {
		if (v->escaped || v->len == 0)
			return 0;
		for (i = 0; i < v->len; i++)
			if ((unsigned char)v->p[i] > 0x7e)
				return 0;	/* jscan let nothing
						   below 0x20 in */
	} else if (f->type != V_INT) {
		return 0;
	}
	c->uid = v->p;
	c->ulen = v->len;
	if (f->type == V_INT && f->i == 0) {
		c->uid = "0";		/* "-0" too */
		c->ulen = 1;
	}
	c->hasuid = 1;
	return 1;
}

/*
 * Does a block in out->p[from..to) carry this name?  Blocks are walked
 * from from, which must be a block's start.
 */
static int
hasname(const struct wbuf *b, size_t from, size_t to, const char *name)
{
	const unsigned char *p;
	uint32_t sz;

	while (from + 8 < to) {
		p = b->p + from;
		sz = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 |
		    (uint32_t)p[4] << 8 | p[5];
		if (strcmp((const char *)p + 8, name) == 0)
			return 1;
		from += 6 + sz;
	}
	return 0;
}

/*
 * No posinfo block after all: put the position fields set aside back as
 * the parameters they are, each where it was met, as wialon_encode would
 * have sent them.  A field whose name an earlier block already has is not
 * sent (first wins); one that would have kept a later block of the same
 * name out makes the line go to the jansson path.  Returns 0, or -1 for
 * the jansson path (or out of memory).
 */
static int
putback(struct scanenc *c, size_t body)
{
	struct wbuf *b = c->k.b, t = { 0 };
	struct wpkt tk;
	struct seen ts;
	char name[PMAP_NAMEMAX + 1];
	size_t i, nlen, shift = 0, at;

	if (!room(&t, 64))	/* seen() takes the buffer's address */
		return -1;
	for (i = 0; i < c->ndefer; i++) {
		memcpy(c->key, c->defer[i].key, c->defer[i].klen);
		c->key[c->defer[i].klen] = '\0';
		if ((nlen = pmap_name(c->pm, c->key, name)) == 0)
			continue;
		nlen = unreserve(name, nlen);
		at = c->defer[i].at + shift;
		if (hasname(b, body, at, name))
			continue;
		/* The block it makes on its own, if its type makes one. */
		t.len = 0;
		tk.b = &t;
		tk.start = tk.flagsat = 0;
		tk.flags = 0;
		seen_init(&ts);
		field(&tk, &ts, name, nlen, &c->defer[i].v);
		seen_free(&ts);
		if (t.oom || (t.len > 0 && hasname(b, at, b->len, name)))
			goto fail;
		if (t.len == 0)
			continue;
		if (!room(b, t.len))
			goto fail;
		memmove(b->p + at + t.len, b->p + at, b->len - at);
		memcpy(b->p + at, t.p, t.len);
		b->len += t.len;
		shift += t.len;
		c->k.flags |= tk.flags;
	}
	wbuf_free(&t);
	return 0;
fail:
	wbuf_free(&t);
	return -1;
}

/* jscan's callback: one top-level member. */
static int
member(void *arg, const struct jspan *key, const struct jspan *val)
{
	struct scanenc *c = arg;
	struct fval f;
	char name[PMAP_NAMEMAX + 1];
	size_t nlen;
	int pf, skip = 0;

	if (key->escaped || key->len > KEYMAX ||
	    keyadd(&c->keys, c->line, (size_t)(key->p - c->line),
	    key->len) != 0)
		return 0;
	spanval(val, &f);
	if ((pf = posfield(key->p, key->len)) >= 0) {
		c->posnum[pf] = f.type == V_INT || f.type == V_REAL;
		c->pos[pf] = f.type == V_INT ? (double)f.i :
		    f.type == V_REAL ? f.d : 0;
	}
	if (key->len == 9 && memcmp(key->p, "timestamp", 9) == 0) {
		if (f.type == V_INT)
			c->ts = (double)f.i;
		else if (f.type == V_REAL)
			c->ts = f.d;
		else
			return 0;
		c->hasts = skip = 1;
	}
	if (key->len == c->uflen && memcmp(key->p, c->uf, c->uflen) == 0) {
		if (!scanuid(c, val, &f))
			return 0;
		skip = 1;
	}
	if (skip)
		return 1;
	if (pf >= 0) {
		/* Kept for putback(), unless the posinfo block is certain. */
		if (!(c->posnum[P_LAT] && c->posnum[P_LON])) {
			c->defer[c->ndefer].key = key->p;
			c->defer[c->ndefer].klen = key->len;
			c->defer[c->ndefer].v = f;
			c->defer[c->ndefer++].at = c->k.b->len;
		}
		return 1;
	}
	memcpy(c->key, key->p, key->len);
	c->key[key->len] = '\0';
	if ((nlen = pmap_name(c->pm, c->key, name)) == 0)
		return 1;
	field(&c->k, &c->seen, name, unreserve(name, nlen), &f);
	return 1;
}

int
wialon_scan(const struct pmap *pm, const char *line, size_t len,
    const char *uid_field, struct wbuf *out, double *timestamp)
{
	struct scanenc c;
	size_t mark = out->len, gap, head, body;
	unsigned char *q;
	double t;
	int ok, haspos;

	if (len > UINT32_MAX - 1)
		return 0;
	c.pm = pm;
	c.line = line;
	c.uf = uid_field;
	c.uflen = strlen(uid_field);
	c.hasuid = c.hasts = 0;
	c.ndefer = 0;
	memset(c.posnum, 0, sizeof c.posnum);
	memset(c.pos, 0, sizeof c.pos);
	seen_init(&c.seen);
	c.keys.off = c.keys.ioff;
	c.keys.len = c.keys.ilen;
	c.keys.mask = KEYSLOTS - 1;
	c.keys.n = 0;
	c.keys.heap = 0;
	memset(c.keys.ioff, 0, sizeof c.keys.ioff);

	gap = 4 + UIDGUESS + 1 + 4 + 4 + POSBLOCK;
	if ((ok = room(out, gap)) != 0)
		out->len += gap;
	c.k.b = out;
	c.k.start = mark;
	c.k.flagsat = mark + gap - 4;	/* where walkhas starts, 4 on */
	c.k.flags = 0;
	if (ok)
		ok = jscan_members(line, len, member, &c);
	haspos = c.posnum[P_LON] && c.posnum[P_LAT];
	if (!ok || out->oom || !c.hasuid || !c.hasts ||
	    !isfinite(c.ts) || c.ts < 0)
		goto fallback;
	if (!haspos && c.ndefer > 0 && putback(&c, mark + gap) == -1)
		goto fallback;
	t = floor(c.ts);
	if (!(t >= INT32_MIN && t <= INT32_MAX))
		goto fallback;

	head = 4 + c.ulen + 1 + 4 + 4 + (haspos ? POSBLOCK : 0);
	if (head != gap) {
		if (head > gap && !room(out, head - gap))
			goto fallback;
		memmove(out->p + mark + head, out->p + mark + gap,
		    out->len - mark - gap);
		out->len = out->len - gap + head;
	}
	body = out->len - mark - 4;
	if (body > UINT32_MAX)
		goto fallback;
	q = out->p + mark;
	set32le(q, (uint32_t)body);
	memcpy(q + 4, c.uid, c.ulen);
	q[4 + c.ulen] = '\0';
	q += 4 + c.ulen + 1;
	set32be(q, (uint32_t)(int32_t)t);
	set32be(q + 4, c.k.flags | (haspos ? WIALON_POS : 0));
	if (haspos) {
		q += 8;
		q[0] = 0x0B;
		q[1] = 0xBB;
		set32be(q + 2, POSBLOCK - 6);
		q[6] = 1;
		q[7] = WIALON_BINARY;
		memcpy(q + 8, "posinfo", 8);
		posvalue(q + 16, c.pos[P_LON], c.pos[P_LAT], c.pos[P_ALT],
		    clampu(c.pos[P_SPEED], 65535), course(c.pos[P_DIR]),
		    clampu(c.pos[P_SATS], 255));
	}
	seen_free(&c.seen);
	if (c.keys.heap)
		free(c.keys.off);
	if (timestamp != NULL)
		*timestamp = c.ts;
	return 1;

fallback:
	seen_free(&c.seen);
	if (c.keys.heap)
		free(c.keys.off);
	out->len = mark;
	out->oom = 0;
	return 0;
}

/* ---- The decoder ---- */

static uint32_t
get32be(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get64be(const unsigned char *p)
{
	return (uint64_t)get32be(p) << 32 | get32be(p + 4);
}

static double
getf64le(const unsigned char *p)
{
	uint64_t u = 0;
	double d;
	int i;

	for (i = 7; i >= 0; i--)
		u = u << 8 | p[i];
	memcpy(&d, &u, sizeof d);
	return d;
}

/*
 * The value of one block by its type; -1 with a reason when its width is
 * wrong.
 */
static int
fieldvalue(struct wfield *f, char *err, size_t errsz)
{
	const unsigned char *v = f->val;

	f->pos = 0;
	switch (f->type) {
	case WIALON_TEXT:
		if (f->vlen == 0 || v[f->vlen - 1] != 0 ||
		    memchr(v, 0, f->vlen) != v + f->vlen - 1) {
			snprintf(err, errsz, "block \"%s\": text not ending "
			    "at its only NUL", f->name);
			return -1;
		}
		f->s = (const char *)v;
		f->slen = f->vlen - 1;
		return 0;
	case WIALON_INT:
		if (f->vlen != 4)
			break;
		f->i = (int32_t)get32be(v);
		return 0;
	case WIALON_LONG:
		if (f->vlen != 8)
			break;
		f->i = (int64_t)get64be(v);
		return 0;
	case WIALON_DOUBLE:
		if (f->vlen != 8)
			break;
		f->d = getf64le(v);
		return 0;
	case WIALON_BINARY:
		if (strcmp(f->name, "posinfo") != 0)
			return 0;	/* shown as bytes */
		if (f->vlen != 29)
			break;
		f->pos = 1;
		f->lon = getf64le(v);
		f->lat = getf64le(v + 8);
		f->alt = getf64le(v + 16);
		f->speed = (unsigned)v[24] << 8 | v[25];
		f->course = (unsigned)v[26] << 8 | v[27];
		f->sats = v[28];
		return 0;
	default:
		return 0;	/* image and unknown types: shown as bytes */
	}
	snprintf(err, errsz, "block \"%s\": type %d with %zu value bytes",
	    f->name, f->type, f->vlen);
	return -1;
}

int
wialon_parse(const unsigned char *p, size_t len, struct whead *h,
    int (*fn)(void *, const struct wfield *), void *arg, char *err,
    size_t errsz)
{
	const unsigned char *q, *end = p + len, *nul;
	struct wfield f;
	uint32_t sz;
	int r;

	if (len < 4) {
		snprintf(err, errsz, "%zu bytes: no size prefix", len);
		return -1;
	}
	h->size = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
	    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	if (h->size != len - 4) {
		snprintf(err, errsz, "size prefix %lu, but %zu bytes follow",
		    (unsigned long)h->size, len - 4);
		return -1;
	}
	if ((nul = memchr(p + 4, 0, len - 4)) == NULL) {
		snprintf(err, errsz, "unit id not NUL-terminated");
		return -1;
	}
	if (end - (nul + 1) < 8) {
		snprintf(err, errsz, "packet ends inside the time or flags");
		return -1;
	}
	h->uid = (const char *)p + 4;
	h->time = (int32_t)get32be(nul + 1);
	h->flags = get32be(nul + 5);
	for (q = nul + 9; q < end; q += 6 + sz) {
		if (end - q < 6) {
			snprintf(err, errsz, "offset %zu: block header cut "
			    "short", (size_t)(q - p));
			return -1;
		}
		if (q[0] != 0x0B || q[1] != 0xBB) {
			snprintf(err, errsz, "offset %zu: block marker "
			    "%02X%02X, not 0BBB", (size_t)(q - p), q[0], q[1]);
			return -1;
		}
		sz = get32be(q + 2);
		if (sz > (size_t)(end - q) - 6 || sz < 3) {
			snprintf(err, errsz, "offset %zu: block size %lu does "
			    "not fit the packet", (size_t)(q - p),
			    (unsigned long)sz);
			return -1;
		}
		if ((nul = memchr(q + 8, 0, sz - 2)) == NULL) {
			snprintf(err, errsz, "offset %zu: block name not "
			    "NUL-terminated", (size_t)(q - p));
			return -1;
		}
		f.name = (const char *)q + 8;
		f.attr = q[6];
		f.type = q[7];
		f.val = nul + 1;
		f.vlen = (size_t)(q + 6 + sz - f.val);
		f.i = 0;
		f.d = 0;
		f.s = NULL;
		f.slen = 0;
		if (fieldvalue(&f, err, errsz) == -1)
			return -1;
		if ((r = fn(arg, &f)) != 0)
			return r;
	}
	return 0;
}

/* Appends; running out of memory sets oom (checked by the caller). */
static void
put(struct wbuf *b, const char *s, size_t n)
{
	if (n == 0 || !room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
putf(struct wbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
putf(struct wbuf *b, const char *fmt, ...)
{
	char s[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s, sizeof s, fmt, ap);
	va_end(ap);
	if (n > 0)
		put(b, s, (size_t)n < sizeof s ? (size_t)n : sizeof s - 1);
}

/* The fewest of 15..17 significant digits that read back as d. */
static void
putdbl(struct wbuf *b, double d)
{
	char s[40];
	int prec;

	for (prec = 15; prec < 17; prec++) {
		snprintf(s, sizeof s, "%.*g", prec, d);
		if (strtod(s, NULL) == d)
			break;
	}
	if (prec == 17)
		snprintf(s, sizeof s, "%.17g", d);
	put(b, s, strlen(s));
}

/*
 * Text for a terminal, escaped by vis(); quoted, with '"' escaped too,
 * when q is set.
 */
static void
putvis(struct wbuf *b, const char *s, size_t n, int q)
{
	const char *e = s + n, *dq;
	size_t k;

	if (q)
		put(b, "\"", 1);
	for (;;) {
		if (!q || (dq = memchr(s, '"', (size_t)(e - s))) == NULL)
			dq = e;
		k = (size_t)(dq - s);
		if (!room(b, 4 * k + 1))
			return;
		vis((char *)b->p + b->len, 4 * k + 1, s, k);
		b->len += strlen((char *)b->p + b->len);
		if (dq == e)
			break;
		put(b, "\\\"", 2);
		s = dq + 1;
	}
	if (q)
		put(b, "\"", 1);
}

static int
showfield(void *arg, const struct wfield *f)
{
	static const char *const tname[] = {
		"type 0", "text", "binary", "int", "double", "long", "image",
	};
	struct wbuf *b = arg;
	size_t i;

	put(b, "  ", 2);
	putvis(b, f->name, strlen(f->name), 0);
	if (f->type < (int)(sizeof tname / sizeof tname[0]))
		putf(b, " %s", tname[f->type]);
	else
		putf(b, " type %d", f->type);
	if (f->pos) {
		put(b, " lon ", 5);
		putdbl(b, f->lon);
		put(b, " lat ", 5);
		putdbl(b, f->lat);
		put(b, " alt ", 5);
		putdbl(b, f->alt);
		putf(b, " speed %u course %u sats %u", f->speed, f->course,
		    f->sats);
	} else if (f->type == WIALON_TEXT) {
		put(b, " ", 1);
		putvis(b, f->s, f->slen, 1);
	} else if (f->type == WIALON_INT || f->type == WIALON_LONG) {
		putf(b, " %" PRId64, f->i);
	} else if (f->type == WIALON_DOUBLE) {
		put(b, " ", 1);
		putdbl(b, f->d);
	} else {
		putf(b, " %zu bytes ", f->vlen);
		for (i = 0; i < f->vlen; i++)
			putf(b, "%02X", f->val[i]);
	}
	if (f->attr != 0)
		putf(b, f->attr == 1 ? " hidden" : " attr %d", f->attr);
	put(b, "\n", 1);
	return 0;
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
static void
civil(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468, era, yoe, doy, mp;

	era = (z >= 0 ? z : z - 146096) / 146097;
	yoe = z - era * 146097;
	yoe = (yoe - yoe / 1460 + yoe / 36524 - yoe / 146096) / 365;
	doy = z - era * 146097 - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* The first pass of wialon_decode(): framing only. */
static int
nothing(void *arg, const struct wfield *f)
{
	(void)arg;
	(void)f;
	return 0;
}

int
wialon_decode(const unsigned char *p, size_t len, struct wbuf *out,
    char *err, size_t errsz)
{
	static const struct {
		uint32_t	bit;
		const char     *name;
	} fname[] = {
		{ WIALON_POS, "position" }, { WIALON_DIN, "inputs" },
		{ WIALON_DOUT, "outputs" }, { 0x10, "alarm" },
		{ WIALON_DRIVER, "driver" },
	};
	struct whead h;
	size_t mark = out->len, i;
	int64_t t, days, y, sec;
	unsigned mo, d;
	int n = 0;

	/* The header line goes first but needs the whole parse: two passes. */
	if (wialon_parse(p, len, &h, nothing, NULL, err, errsz) == -1)
		return -1;
	t = h.time;
	days = (t >= 0 ? t : t - 86399) / 86400;
	sec = t - days * 86400;
	civil(days, &y, &mo, &d);
	put(out, "uid ", 4);
	putvis(out, h.uid, strlen(h.uid), 0);
	putf(out, " time %" PRId32 " %04" PRId64 "-%02u-%02uT%02d:%02d:%02dZ"
	    " flags 0x%02" PRIX32, h.time, y, mo, d, (int)(sec / 3600),
	    (int)(sec / 60 % 60), (int)(sec % 60), h.flags);
	for (i = 0; i < sizeof fname / sizeof fname[0]; i++)
		if (h.flags & fname[i].bit)
			putf(out, "%s%s", n++ ? " " : " (", fname[i].name);
	if (n > 0)
		put(out, ")", 1);
	putf(out, ", %lu bytes\n", (unsigned long)h.size + 4);
	wialon_parse(p, len, &h, showfield, out, err, errsz);
	put(out, "\n", 1);
	if (out->oom) {
		out->len = mark;
		out->oom = 0;
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	return 0;
}
