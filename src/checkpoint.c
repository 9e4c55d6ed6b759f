/* Checkpoint lines (see checkpoint.h). */
#include <string.h>

#include "checkpoint.h"

static size_t
put(char *buf, size_t at, const char *s)
{
	size_t n = strlen(s);

	memcpy(buf + at, s, n);
	return at + n;
}

static size_t
putdec(char *buf, size_t at, uint64_t v)
{
	char digits[24];
	size_t n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		buf[at++] = digits[--n];
	return at;
}

static size_t
puthex(char *buf, size_t at, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 60; i >= 0; i -= 4)
		buf[at++] = hex[(v >> i) & 15];
	return at;
}

size_t
checkpoint_format(char *buf, const struct ckline *c)
{
	size_t n;

	n = put(buf, 0, "{\"" CHECKPOINT_NAME "\":\"");
	n = putdec(buf, n, c->key);
	if (c->has & CK_PREV) {
		n = put(buf, n, "\",\"@prev\":\"");
		n = putdec(buf, n, c->prev);
	}
	if (c->has & CK_FIRST) {
		n = put(buf, n, "\",\"@first\":\"");
		n = puthex(buf, n, c->first);
	}
	if (c->has & CK_LAST) {
		n = put(buf, n, "\",\"@last\":\"");
		n = puthex(buf, n, c->last);
	}
	return put(buf, n, "\"}\n");
}

static const char *
blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	return p;
}

/* Match the literal s at p (after blanks); the position after it, or NULL. */
static const char *
lit(const char *p, const char *end, const char *s)
{
	size_t n = strlen(s);

	p = blanks(p, end);
	if ((size_t)(end - p) < n || memcmp(p, s, n) != 0)
		return NULL;
	return p + n;
}

/*
 * A quoted value: decimal (no leading zero, no overflow) or 16 lower-
 * case hex digits.  Returns the position after the closing quote, or
 * NULL.
 */
static const char *
value(const char *p, const char *end, int hex, uint64_t *v)
{
	const char *s;
	unsigned d;

	if ((p = lit(p, end, "\"")) == NULL)
		return NULL;
	*v = 0;
	for (s = p; p < end && *p != '"'; p++) {
		if (hex) {
			if (*p >= '0' && *p <= '9')
				d = (unsigned)(*p - '0');
			else if (*p >= 'a' && *p <= 'f')
				d = (unsigned)(*p - 'a' + 10);
			else
				return NULL;
			*v = *v << 4 | d;
			continue;
		}
		if (*p < '0' || *p > '9' ||
		    *v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return NULL;
		*v = *v * 10 + (uint64_t)(*p - '0');
	}
	if (p == end || p == s || (hex && p - s != 16) ||
	    (!hex && p - s > 1 && *s == '0'))
		return NULL;
	return p + 1;
}

int
checkpoint_parse(const char *line, size_t len, struct ckline *c)
{
	static const struct {
		const char     *name;
		int		flag, hex;
	} opt[] = {
		{ "\"@prev\"", CK_PREV, 0 },
		{ "\"@first\"", CK_FIRST, 1 },
		{ "\"@last\"", CK_LAST, 1 }
	};
	const char *p, *q, *end = line + len;
	uint64_t v;
	size_t i;

	/*
	 * Cheap test first, as every message line comes through here: a
	 * checkpoint is an object whose first member is "@checkpoint".
	 */
	if ((p = lit(line, end, "{")) == NULL ||
	    (p = lit(p, end, "\"" CHECKPOINT_NAME "\"")) == NULL)
		return 0;
	memset(c, 0, sizeof *c);
	if ((p = lit(p, end, ":")) == NULL || (p = value(p, end, 0,
	    &c->key)) == NULL)
		return -1;
	while ((q = lit(p, end, ",")) != NULL) {
		for (i = 0; i < sizeof opt / sizeof opt[0]; i++)
			if ((p = lit(q, end, opt[i].name)) != NULL)
				break;
		if (i == sizeof opt / sizeof opt[0] || (c->has & opt[i].flag) ||
		    (p = lit(p, end, ":")) == NULL ||
		    (p = value(p, end, opt[i].hex, &v)) == NULL)
			return -1;
		c->has |= opt[i].flag;
		if (opt[i].flag == CK_PREV)
			c->prev = v;
		else if (opt[i].flag == CK_FIRST)
			c->first = v;
		else
			c->last = v;
	}
	if ((p = lit(p, end, "}")) == NULL || blanks(p, end) != end)
		return -1;
	return 1;
}

uint64_t
checkpoint_id(const char *uid, size_t uidlen, double timestamp)
{
	uint64_t h = 14695981039346656037ULL, bits;
	size_t i;
	int k;

	for (i = 0; i < uidlen; i++)
		h = (h ^ (unsigned char)uid[i]) * 1099511628211ULL;
	h = h * 1099511628211ULL;	/* the NUL */
	if (timestamp == 0)
		timestamp = 0;		/* -0 is 0 */
	memcpy(&bits, &timestamp, sizeof bits);
	for (k = 0; k < 64; k += 8)
		h = (h ^ ((bits >> k) & 0xff)) * 1099511628211ULL;
	return h ? h : 1;
}
