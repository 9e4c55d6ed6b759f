/*
 * A bounded line reader over a file descriptor, for NDJSON input.
 *
 * Lines end in "\n" or "\r\n"; the last line may lack its newline (nonl
 * says so); empty lines are skipped (but counted).  A line longer than
 * max bytes is not buffered whole: lr_next() hands it out in pieces
 * (LR_LONG), in order, so that a caller can keep it byte for byte while
 * memory stays bounded by max plus one read.  Works on blocking and
 * non-blocking descriptors alike.
 */
#ifndef LINEREAD_H
#define LINEREAD_H

#include <stddef.h>
#include <stdint.h>

enum {
	LR_LINE,	/* *line, *len: one line, NUL-terminated, no newline */
	LR_AGAIN,	/* no whole line buffered and read() said
			   EAGAIN or EINTR */
	LR_EOF,		/* end of input, every line returned */
	/*
	 * *line, *len: a piece of line number lineno, which is longer than
	 * max (not NUL-terminated, no newline or final "\r").  longoff is
	 * the piece's offset in the line (0: the first piece); inlong is 1
	 * when more pieces of it follow, 0 when this one ends it.
	 */
	LR_LONG,
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
	/*
	 * The line (or the long line's last piece) just returned ended at
	 * the end of input, without a newline: it may have been cut off.
	 */
	int		nonl;
	int		inlong;		/* more pieces of a long line follow */
	uint64_t	longoff;	/* LR_LONG: the piece's offset */
	uint64_t	longdone;	/* bytes of the long line returned */
};

/* Returns 0, or -1 when out of memory. */
int	lr_init(struct linereader *, int fd, size_t max);
void	lr_free(struct linereader *);
/*
 * The next line, or the next piece of a long one.  The returned pointer
 * stays valid until the next call; the caller may modify the bytes of an
 * LR_LINE in place.
 */
int	lr_next(struct linereader *, char **line, size_t *len);
/*
 * Bytes buffered but not yet returned, plus 1 while a long line is being
 * returned: nonzero when a line has begun and not ended.
 */
size_t	lr_pending(const struct linereader *);

#endif
