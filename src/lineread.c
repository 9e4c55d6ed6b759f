#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lineread.h"

#define READ_CHUNK	(64 * 1024)

int
lr_init(struct linereader *lr, int fd, size_t max)
{
	memset(lr, 0, sizeof *lr);
	lr->fd = fd;
	lr->max = max;
	lr->cap = READ_CHUNK + 1;
	if ((lr->buf = malloc(lr->cap)) == NULL)
		return -1;
	return 0;
}

void
lr_free(struct linereader *lr)
{
	free(lr->buf);
	lr->buf = NULL;
}

size_t
lr_pending(const struct linereader *lr)
{
	return lr->end - lr->off;
}

/*
 * Make room for one read and do it.  Keeps one spare byte past end so a
 * last line without newline can be NUL-terminated.
 */
static int
fill(struct linereader *lr)
{
	size_t len = lr->end - lr->off, want, ncap;
	ssize_t n;
	char *nb;

	if (lr->off > 0 && lr->cap - lr->end < READ_CHUNK / 2 + 1) {
		memmove(lr->buf, lr->buf + lr->off, len);
		lr->scan -= lr->off;
		lr->off = 0;
		lr->end = len;
	}
	if (lr->cap - lr->end < READ_CHUNK / 2 + 1) {
		/* The line so far fills the buffer: grow, up to max + a read. */
		want = lr->max + 2 + READ_CHUNK;
		ncap = lr->cap * 2 < want ? lr->cap * 2 : want;
		if (ncap > lr->cap) {
			if ((nb = realloc(lr->buf, ncap)) == NULL)
				return LR_ERR;
			lr->buf = nb;
			lr->cap = ncap;
		}
	}
	n = read(lr->fd, lr->buf + lr->end, lr->cap - lr->end - 1);
	if (n > 0) {
		lr->end += (size_t)n;
		return LR_LINE;
	}
	if (n == 0) {
		lr->eof = 1;
		return LR_LINE;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return LR_AGAIN;
	return LR_ERR;
}

int
lr_next(struct linereader *lr, char **line, size_t *len)
{
	char *nl, *p;
	size_t n;
	int r;

	for (;;) {
		if (lr->skipping) {
			nl = memchr(lr->buf + lr->off, '\n', lr->end - lr->off);
			if (nl != NULL) {
				lr->off = lr->scan = (size_t)(nl - lr->buf) + 1;
				lr->skipping = 0;
				continue;
			}
			lr->off = lr->end = lr->scan = 0;
			if (lr->eof) {
				lr->skipping = 0;
				return LR_EOF;
			}
			if ((r = fill(lr)) != LR_LINE)
				return r;
			continue;
		}

		if (lr->scan < lr->off)
			lr->scan = lr->off;
		nl = memchr(lr->buf + lr->scan, '\n', lr->end - lr->scan);
		if (nl != NULL || (lr->eof && lr->end > lr->off)) {
			p = lr->buf + lr->off;
			if (nl == NULL)
				nl = lr->buf + lr->end;	/* spare byte */
			n = (size_t)(nl - p);
			lr->off = lr->scan = (size_t)(nl - lr->buf) +
			    (nl < lr->buf + lr->end);
			lr->lineno++;
			if (n > 0 && p[n - 1] == '\r')
				n--;
			p[n] = '\0';
			if (n == 0)
				continue;
			*line = p;
			*len = n;
			return n > lr->max ? LR_LONG : LR_LINE;
		}
		lr->scan = lr->end;
		if (lr->eof)
			return LR_EOF;
		if (lr->end - lr->off > lr->max + 1) {
			/* No newline within max + "\r": too long, drop it. */
			lr->lineno++;
			lr->skipping = 1;
			lr->off = lr->end = lr->scan = 0;
			*line = NULL;
			*len = 0;
			return LR_LONG;
		}
		if ((r = fill(lr)) != LR_LINE)
			return r;
	}
}
