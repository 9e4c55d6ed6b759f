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
	return lr->end - lr->off + (lr->inlong ? 1 : 0);
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
		/*
		 * The line so far fills the buffer: grow, up to max + a read.
		 */
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

/*
 * Hand out the next piece of a long line: the bytes buffered up to its
 * newline, or all of them but a last "\r", which may be the start of its
 * "\r\n".  Returns LR_LONG, or 0 when a piece needs more input first.
 */
static int
piece(struct linereader *lr, char **line, size_t *len)
{
	char *p = lr->buf + lr->off, *nl;
	size_t n = lr->end - lr->off;

	if ((nl = memchr(p, '\n', n)) != NULL) {
		n = (size_t)(nl - p);
		lr->off += n + 1;
		lr->inlong = 0;
	} else if (lr->eof) {
		lr->off = lr->end;
		lr->inlong = 0;
		lr->nonl = 1;
	} else {
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0 && lr->longdone > 0)
			return 0;
		lr->off += n;
	}
	if (!lr->inlong && n > 0 && p[n - 1] == '\r')
		n--;
	lr->scan = lr->off;
	*line = p;
	*len = n;
	lr->longoff = lr->longdone;
	lr->longdone += n;
	return LR_LONG;
}

int
lr_next(struct linereader *lr, char **line, size_t *len)
{
	char *nl, *p;
	size_t n;
	int r;

	lr->nonl = 0;
	for (;;) {
		if (lr->inlong) {
			if ((lr->off < lr->end || lr->eof) &&
			    piece(lr, line, len) == LR_LONG)
				return LR_LONG;
			if ((r = fill(lr)) != LR_LINE)
				return r;
			continue;
		}

		if (lr->scan < lr->off)
			lr->scan = lr->off;
		nl = memchr(lr->buf + lr->scan, '\n', lr->end - lr->scan);
		if (nl != NULL || (lr->eof && lr->end > lr->off)) {
			p = lr->buf + lr->off;
			if (nl == NULL) {
				nl = lr->buf + lr->end;	/* spare byte */
				lr->nonl = 1;
			}
			n = (size_t)(nl - p);
			if (n > 0 && p[n - 1] == '\r')
				n--;
			lr->lineno++;
			if (n > lr->max) {
				/* Whole in the buffer but too long: a piece. */
				lr->inlong = 1;
				lr->longdone = 0;
				return piece(lr, line, len);
			}
			lr->off = lr->scan = (size_t)(nl - lr->buf) +
			    (nl < lr->buf + lr->end);
			p[n] = '\0';
			if (n == 0) {
				lr->nonl = 0;
				continue;
			}
			*line = p;
			*len = n;
			return LR_LINE;
		}
		lr->scan = lr->end;
		if (lr->eof)
			return LR_EOF;
		if (lr->end - lr->off > lr->max + 1) {
			/* No newline within max + "\r": too long, in pieces. */
			lr->lineno++;
			lr->inlong = 1;
			lr->longdone = 0;
			return piece(lr, line, len);
		}
		if ((r = fill(lr)) != LR_LINE)
			return r;
	}
}
