#include <string.h>

#include "checkpoint.h"

size_t
checkpoint_format(char *buf, uint64_t key)
{
	char digits[24];
	size_t n = 0, len;

	do
		digits[n++] = (char)('0' + key % 10);
	while ((key /= 10) != 0);
	memcpy(buf, "{\"" CHECKPOINT_NAME "\":\"", sizeof "{\"" CHECKPOINT_NAME "\":\"" - 1);
	len = sizeof "{\"" CHECKPOINT_NAME "\":\"" - 1;
	while (n > 0)
		buf[len++] = digits[--n];
	memcpy(buf + len, "\"}\n", 3);
	return len + 3;
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

int
checkpoint_parse(const char *line, size_t len, uint64_t *key)
{
	const char *p, *end = line + len;
	uint64_t v = 0;
	int digits = 0;

	/*
	 * Cheap test first, as every message line comes through here: a
	 * checkpoint is an object whose first member is "@checkpoint".
	 */
	if ((p = lit(line, end, "{")) == NULL ||
	    (p = lit(p, end, "\"" CHECKPOINT_NAME "\"")) == NULL)
		return 0;
	if ((p = lit(p, end, ":")) == NULL || (p = lit(p, end, "\"")) == NULL)
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (digits == 0 || (digits > 1 && line[p - line - digits] == '0'))
		return -1;
	if ((p = lit(p, end, "\"")) == NULL || (p = lit(p, end, "}")) == NULL ||
	    blanks(p, end) != end)
		return -1;
	*key = v;
	return 1;
}
