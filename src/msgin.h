/*
 * Message input for the forwarders (flespi-to-wialon, flespi-to-aws):
 * NDJSON lines from a descriptor, each parsed with jansson and checked to be
 * a flespi message.  Bad lines are diagnosed here, in one format for every
 * tool ("prog: <stdin>:LINE: reason"), counted, and copied to the --failed
 * file, so the tools share one policy for bad input and for what could not
 * be delivered.
 */
#ifndef MSGIN_H
#define MSGIN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lineread.h"

enum {
	MSG_OK,		/* *m holds a good message */
	MSG_AGAIN,	/* nothing complete buffered; poll the fd */
	MSG_EOF,	/* end of input */
	MSG_BAD,	/* --strict and a bad line was met: stop */
	MSG_ERR		/* read error; errno says why */
};

struct msg;

struct msgin {
	struct linereader lr;
	const char     *name;		/* "<stdin>", for diagnostics */
	const char     *uid_field;	/* field naming the device: "ident" */
	int		failed_fd;	/* --failed FILE, or -1 */
	int		strict;		/* MSG_BAD on the first bad line */
	uint64_t	good;		/* lines handed out as MSG_OK */
	uint64_t	bad;		/* lines rejected (here or by msgin_reject) */
	uint64_t	failed_written;	/* lines copied to the failed file */
	int		failed_err;	/* a write to the failed file failed */
	/*
	 * Optional fast path, tried on each line before jansson: returns 1
	 * when it has checked the line as a flespi message itself (m->uid
	 * and m->timestamp set, m->obj left NULL), 0 to have jansson parse
	 * and check it as usual.  It must never accept a line the jansson
	 * path would reject.  NULL (the default): jansson only.
	 */
	int	      (*fast)(void *arg, struct msg *m);
	void	       *fast_arg;
};

struct msg {
	json_t	       *obj;		/* the parsed object; the caller decrefs
					   (NULL when the fast path took it) */
	char	       *line;		/* input bytes, valid until the next call */
	size_t		len;
	uint64_t	lineno;
	const char     *uid;		/* device id, in obj or uidbuf */
	double		timestamp;	/* "timestamp", Unix seconds */
	char		uidbuf[24];	/* an integer uid, formatted */
};

/* Returns 0, or -1 when out of memory.  fd is made non-blocking by the caller if wanted. */
int	msgin_init(struct msgin *, int fd, size_t maxline, const char *uid_field);
void	msgin_free(struct msgin *);
/*
 * Open FILE for undeliverable and bad lines: created 0600, appended to.
 * Returns the descriptor, or -1 with errno.
 */
int	msgin_open_failed(struct msgin *, const char *path);
int	msgin_next(struct msgin *, struct msg *);
/*
 * Reject a message that parsed but cannot be sent (topic too long, payload
 * over the limit): diagnose with its line number, count it as bad, copy it
 * to the failed file.
 */
void	msgin_reject(struct msgin *, uint64_t lineno, const char *line,
	    size_t len, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
/*
 * Copy an undelivered line to the failed file (when there is one).
 * Returns 0, or -1 when it could not be written.
 */
int	msgin_failed(struct msgin *, const char *line, size_t len);
/*
 * The exit status every forwarder ends with: 75 when messages went
 * undelivered, 74 on a failed-file write error, 65 when bad lines were
 * skipped, else 0.
 */
int	msgin_status(const struct msgin *, uint64_t undelivered);

#endif
