#include <stdio.h>
#include <string.h>

#include "vis.h"

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0. */
static size_t
utf8len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned min, cp;

	if (s[0] < 0xC2 || s[0] > 0xF4)
		return 0;
	if (s[0] < 0xE0) {
		len = 2; min = 0x80; cp = s[0] & 0x1F;
	} else if (s[0] < 0xF0) {
		len = 3; min = 0x800; cp = s[0] & 0x0F;
	} else {
		len = 4; min = 0x10000; cp = s[0] & 0x07;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	/* C1 controls (U+0080..U+009F) act on terminals too. */
	if (cp < 0xA0)
		return 0;
	return len;
}

char *
vis(char *dst, size_t dstsz, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];
	size_t o = 0, i = 0, n, u;

	while (i < len) {
		if (p[i] >= 0x20 && p[i] < 0x7F && p[i] != '\\') {
			esc[0] = (char)p[i];
			n = 1;
			u = 1;
		} else if ((u = utf8len(p + i, len - i)) > 0) {
			memcpy(esc, p + i, u);
			n = u;
		} else {
			u = 1;
			switch (p[i]) {
			case '\\': memcpy(esc, "\\\\", 2); n = 2; break;
			case '\n': memcpy(esc, "\\n", 2); n = 2; break;
			case '\r': memcpy(esc, "\\r", 2); n = 2; break;
			case '\t': memcpy(esc, "\\t", 2); n = 2; break;
			default:
				snprintf(esc, sizeof esc, "\\x%02X", p[i]);
				n = 4;
			}
		}
		/* Room for this piece, and "..." plus NUL if more follows. */
		if (o + n + (i + u < len ? 4 : 1) > dstsz) {
			if (dstsz >= 4) {
				while (o + 4 > dstsz)
					o--;
				memcpy(dst + o, "...", 3);
				o += 3;
			} else
				o = 0;
			break;
		}
		memcpy(dst + o, esc, n);
		o += n;
		i += u;
	}
	dst[o] = '\0';
	return dst;
}
