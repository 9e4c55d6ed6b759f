/*
 * A strict Wialon Retranslator 1.0 decoder for the fuzz targets, written
 * from shared/spec/wialon-retranslator.md and nothing else (it shares no
 * code with src/wialon.c on purpose).  Header-only: static functions,
 * included by one fuzz target.
 *
 * wd_decode() takes exactly one packet and accepts it only when every rule
 * holds: the little-endian size equals the body's length; the uid is
 * non-empty printable ASCII ending in a NUL; every block starts 0x0B 0xBB
 * and its big-endian size covers attr, type, name, NUL and value exactly;
 * names are 1..37 bytes of a-z 0-9 _ and appear once; attr is 1 for
 * posinfo, avl_inputs, avl_outputs and avl_driver and 0 for every other
 * name; the type is 1..5 with the value size it implies (text: valid
 * UTF-8 without NUL, then a NUL; binary: only posinfo, 29 bytes, its
 * course 0..359); no block is named image or imag (the image block, type
 * 6, is not sent); the flags hold exactly the bits of the reserved blocks
 * present.
 */
#ifndef WDECODE_H
#define WDECODE_H

#include <stdint.h>
#include <string.h>

#define WD_MAXBLOCKS	4096

struct wd_block {
	unsigned	attr, type;
	char		name[38];
	const unsigned char *val;	/* into the packet */
	size_t		vlen;		/* value bytes (text: including its NUL) */
};

struct wd_packet {
	char		uid[256];
	int32_t		time;
	uint32_t	flags;
	size_t		n;
	struct wd_block	b[WD_MAXBLOCKS];
};

static uint32_t
wd_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
wd_be64(const unsigned char *p)
{
	return (uint64_t)wd_be32(p) << 32 | wd_be32(p + 4);
}

static double
wd_f64le(const unsigned char *p)
{
	uint64_t u = 0;
	double d;
	int i;

	for (i = 7; i >= 0; i--)
		u = u << 8 | p[i];
	memcpy(&d, &u, sizeof d);
	return d;
}

/* Strict UTF-8: no overlongs, no surrogates, nothing past U+10FFFF. */
static int
wd_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0, k, len;
	uint32_t cp;

	while (i < n) {
		unsigned char c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 3;
			cp = c & 0x07;
		} else
			return 0;
		if (n - i <= len)
			return 0;
		for (k = 1; k <= len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x800) || (len == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len + 1;
	}
	return 1;
}

/*
 * A set of names for the repeated-name check: open addressing over
 * WD_SLOTS slots, emptied by bumping gen (no clearing per packet).
 */
#define WD_SLOTS	(4 * WD_MAXBLOCKS)

struct wd_names {
	uint32_t	gen;
	uint32_t	slotgen[WD_SLOTS];
	const char     *slot[WD_SLOTS];
};

static void
wd_names_clear(struct wd_names *s)
{
	if (++s->gen == 0) {
		memset(s->slotgen, 0, sizeof s->slotgen);
		s->gen = 1;
	}
}

/* Add name (which must stay valid); returns 1 when it was already there. */
static int
wd_names_add(struct wd_names *s, const char *name)
{
	uint32_t h = 2166136261u, i;
	const char *p;

	for (p = name; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (i = h % WD_SLOTS; s->slotgen[i] == s->gen; i = (i + 1) % WD_SLOTS)
		if (strcmp(s->slot[i], name) == 0)
			return 1;
	s->slotgen[i] = s->gen;
	s->slot[i] = name;
	return 0;
}

static uint32_t
wd_reserved(const char *name)
{
	if (strcmp(name, "posinfo") == 0)
		return 0x01;
	if (strcmp(name, "avl_inputs") == 0)
		return 0x02;
	if (strcmp(name, "avl_outputs") == 0)
		return 0x04;
	if (strcmp(name, "avl_driver") == 0)
		return 0x20;
	return 0;
}

/*
 * Decode p[0..n) into *d.  Returns NULL when the packet is valid, else a
 * static string naming the first rule broken.
 */
static const char *
wd_decode(const unsigned char *p, size_t n, struct wd_packet *d)
{
	const unsigned char *e, *q;
	uint32_t flags = 0, bit;
	size_t i, ulen, sz, nlen;
	struct wd_block *b;
	static struct wd_names seen;

	memset(d, 0, sizeof *d - sizeof d->b);
	wd_names_clear(&seen);
	if (n < 4)
		return "short size prefix";
	sz = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 |
	    (size_t)p[3] << 24;
	if (sz != n - 4)
		return "size prefix does not match the body";
	p += 4;
	e = p + sz;
	q = memchr(p, 0, sz);
	if (q == NULL)
		return "uid without NUL";
	ulen = (size_t)(q - p);
	if (ulen == 0 || ulen >= sizeof d->uid)
		return "uid empty or too long";
	for (i = 0; i < ulen; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return "uid not printable ASCII";
	memcpy(d->uid, p, ulen);
	p = q + 1;
	if (e - p < 8)
		return "short header";
	d->time = (int32_t)wd_be32(p);
	d->flags = wd_be32(p + 4);
	p += 8;
	while (p < e) {
		if (d->n == WD_MAXBLOCKS)
			return "too many blocks";
		b = &d->b[d->n];
		if (e - p < 6 || p[0] != 0x0B || p[1] != 0xBB)
			return "block marker missing";
		sz = wd_be32(p + 2);
		p += 6;
		if (sz > (size_t)(e - p))
			return "block size past the packet";
		if (sz < 2 + 2)
			return "block too small";
		b->attr = p[0];
		b->type = p[1];
		q = memchr(p + 2, 0, sz - 2);
		if (q == NULL)
			return "block name without NUL";
		nlen = (size_t)(q - (p + 2));
		if (nlen == 0 || nlen > 37)
			return "block name empty or longer than 37";
		for (i = 0; i < nlen; i++) {
			unsigned char c = p[2 + i];
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			    c == '_'))
				return "block name outside a-z 0-9 _";
		}
		memcpy(b->name, p + 2, nlen);
		b->name[nlen] = '\0';
		if (wd_names_add(&seen, b->name))
			return "block name repeated";
		if (strcmp(b->name, "image") == 0 || strcmp(b->name, "imag") == 0)
			return "block named image or imag";
		b->val = q + 1;
		b->vlen = sz - 2 - nlen - 1;
		bit = wd_reserved(b->name);
		if (b->attr != (bit ? 1u : 0u))
			return "attr wrong for the name";
		flags |= bit;
		switch (b->type) {
		case 1:
			if (b->vlen < 1 || b->val[b->vlen - 1] != 0)
				return "text without NUL";
			if (memchr(b->val, 0, b->vlen - 1) != NULL)
				return "NUL inside text";
			if (!wd_utf8(b->val, b->vlen - 1))
				return "text not valid UTF-8";
			break;
		case 2:
			if (strcmp(b->name, "posinfo") != 0)
				return "binary block other than posinfo";
			if (b->vlen != 29)
				return "posinfo not 29 bytes";
			if ((b->val[26] << 8 | b->val[27]) > 359)
				return "posinfo course past 359";
			break;
		case 3:
			if (b->vlen != 4)
				return "int not 4 bytes";
			break;
		case 4:
		case 5:
			if (b->vlen != 8)
				return "double/long not 8 bytes";
			break;
		default:
			return "unknown block type";
		}
		if (strcmp(b->name, "posinfo") == 0 && b->type != 2)
			return "posinfo not binary";
		if ((bit == 0x02 || bit == 0x04) && b->type != 3)
			return "avl_inputs/avl_outputs not int";
		d->n++;
		p += sz;
	}
	if (flags != d->flags)
		return "flags do not match the blocks";
	return NULL;
}

/* The block named name, or NULL. */
static const struct wd_block *
wd_find(const struct wd_packet *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (strcmp(d->b[i].name, name) == 0)
			return &d->b[i];
	return NULL;
}

#endif
