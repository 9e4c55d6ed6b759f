/*
 * A bounded line reader over a file descriptor, for NDJSON input.
 *
 * Lines end in "\n" or "\r\n"; the last line may lack its newline; empty
 * lines are skipped (but counted).  A line longer than max bytes is not
 * buffered: lr_next() reports it once as LR_LONG and discards it up to its
 * newline, so memory stays bounded by max plus one read.  Works on blocking
 * and non-blocking descriptors alike.
 */
#ifndef LINEREAD_H
#define LINEREAD_H

#include <stddef.h>
#include <stdint.h>

enum {
	LR_LINE,	/* *line, *len: one line, NUL-terminated, no newline */
	LR_AGAIN,	/* no whole line buffered and read() said EAGAIN or EINTR */
	LR_EOF,		/* end of input, every line returned */
	LR_LONG,	/* line number lr->lineno is longer than max: skipped */
	LR_ERR		/* read() failed; errno says why */
};

struct linereader {
	int		fd;
	char	       *buf;
	size_t		cap;		/* allocated size of buf */
	size_t		off;		/* first unconsumed byte */
	size_t		end;		/* one past the last buffered byte */
	size_t		scan;		/* [off, scan) holds no newline */
	size_t		max;		/* longest accepted line, in bytes */
	uint64_t	lineno;		/* number of the line last returned */
	int		eof;		/* read() returned 0 */
	int		skipping;	/* discarding the rest of an oversize line */
};

/* Returns 0, or -1 when out of memory. */
int	lr_init(struct linereader *, int fd, size_t max);
void	lr_free(struct linereader *);
/*
 * The next line.  The returned pointer stays valid until the next call;
 * the caller may modify the bytes in place.
 */
int	lr_next(struct linereader *, char **line, size_t *len);
/* Bytes buffered but not yet returned as lines. */
size_t	lr_pending(const struct linereader *);

#endif
