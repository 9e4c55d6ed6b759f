/*
 * Message input for the forwarders: NDJSON lines from a descriptor, each
 * parsed with jansson (or a caller's fast path) and checked to be a flespi
 * message, or recognised as a checkpoint line (checkpoint.h).  Bad lines
 * are diagnosed here, in one format for every tool ("prog: <stdin>:LINE:
 * reason"), counted, and copied to the rejected file, whole however long
 * (a line over the limit is kept aside in pieces on disk, never in
 * memory); lines that were good but could not be delivered go to the
 * failed file.  A last line without its newline that is not good was cut
 * off by its writer: said, not rejected.  Both files are appended to
 * through a buffer, and a line counts as written only once it is whole in
 * the file: after a write error (a full disk) the counters say what
 * really is there.
 *
 * A regular failed or rejected file is shared safely with other writers
 * and movers: each write takes flock(2) on the file, checks that the
 * descriptor still is the file at the path (fstat against stat) and opens
 * the path again when it was moved away (`flock FILE mv FILE FILE.replay`
 * moves it under the same lock).  At every open, under that lock, a torn
 * last line left by a writer killed mid-line is cut off and kept in
 * FILE.torn, never glued to the next line.
 */
#ifndef MSGIN_H
#define MSGIN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "checkpoint.h"
#include "lineread.h"

enum {
	MSG_OK,		/* *m holds a good message */
	MSG_AGAIN,	/* nothing complete buffered; poll the fd */
	MSG_EOF,	/* end of input */
	MSG_BAD,	/* --strict and a bad line was met: stop */
	MSG_ERR,	/* read error; errno says why */
	MSG_CHECKPOINT,	/* m->ck holds a checkpoint (m->lineno too) */
	MSG_BUSY	/* a run of bad lines was skipped: look at the
			   clock, then call again without polling */
};

struct msg;

/*
 * A file that takes whole lines (--failed, --rejected): O_APPEND, 0600,
 * buffered.  written counts lines known to be whole in the file; synced
 * those of them fsync'd.
 */
struct linesink {
	int		fd;		/* -1: no file; its number never
					   changes while open (the saver thread
					   uses it) */
	char	       *path;		/* the name it was opened by */
	int		reg;		/* a regular file: locked, reopened */
	char	       *buf;
	size_t		len, cap;
	uint64_t	nbuf;		/* lines in buf */
	uint64_t	written;	/* whole lines in the file */
	uint64_t	synced;		/* of which fsync'd */
	int		err;		/* a write or fsync failed: errno */
	const char     *what;		/* "failed", "rejected": diagnostics */
};

struct msgin {
	struct linereader lr;
	const char     *name;		/* "<stdin>", for diagnostics */
	const char     *uid_field;	/* field naming the device: "ident" */
	int		strict;		/* MSG_BAD on the first bad line */
	uint64_t	good;		/* lines handed out as MSG_OK */
	uint64_t	bad;		/* lines rejected
					   (here or by msgin_reject) */
	uint64_t	checkpoints;	/* checkpoint lines handed out */
	uint64_t	cutoff;		/* lines cut off: neither
					   good nor bad */
	struct linesink	rejected;	/* --rejected FILE */
	struct linesink	failed;		/* --failed FILE */
	/*
	 * Optional fast path, tried on each line before jansson: returns 1
	 * when it has checked the line as a flespi message itself (m->uid
	 * and m->timestamp set, m->obj left NULL), 0 to have jansson parse
	 * and check it as usual.  It must never accept a line the jansson
	 * path would reject.  NULL (the default): jansson only.
	 */
	int	      (*fast)(void *arg, struct msg *m);
	void	       *fast_arg;
	/* The line over the limit being read: kept here for --rejected. */
	int		spool;		/* a temporary file, or -1 */
	uint64_t	longno;		/* its line number */
	uint64_t	longlen;	/* its bytes so far */
};

struct msg {
	json_t	       *obj;		/* the parsed object; the caller decrefs
					   (NULL when the fast path took it) */
	char	       *line;		/* input bytes, valid until
					   the next call */
	size_t		len;
	uint64_t	lineno;
	const char     *uid;		/* device id, in obj or uidbuf */
	double		timestamp;	/* "timestamp", Unix seconds */
	struct ckline	ck;		/* MSG_CHECKPOINT: the line */
	char		uidbuf[24];	/* an integer uid, formatted */
};

/*
 * Returns 0, or -1 when out of memory.  fd is made non-blocking by the
 * caller if wanted.
 */
int	msgin_init(struct msgin *, int fd, size_t maxline,
	    const char *uid_field);
/* Flushes both files (errors show in their err), closes them. */
void	msgin_free(struct msgin *);
/*
 * Open FILE for undelivered (failed) or refused (rejected) lines: created
 * 0600, appended to; a torn last line is cut off into FILE.torn (said on
 * stderr).  Never waits for a reader: a FIFO nobody reads is ENXIO.
 * Returns the descriptor, or -1 with errno.
 */
int	msgin_open_failed(struct msgin *, const char *path);
int	msgin_open_rejected(struct msgin *, const char *path);
/*
 * The next message, checkpoint or end.  A run of bad lines (or the pieces
 * of a long one) returns MSG_BUSY every so often, so that a caller's
 * timers are not starved.
 */
int	msgin_next(struct msgin *, struct msg *);
/*
 * The caller stops reading while the input is still open (after a stop
 * signal): a line begun and not ended is cut off (said, not rejected).
 * Returns 1 when there was one, else 0.
 */
int	msgin_abandon(struct msgin *);
/*
 * What msgin_next does with a line that is neither a checkpoint nor
 * holds a NUL: the fast path, else jansson and the flespi message
 * checks, without counting or diagnosing.  The caller zeroes *m and sets
 * m->line, m->len and m->lineno.  Returns 0 with *m filled as MSG_OK
 * does (the same line gives the same result every time), or -1 with the
 * reason in why.
 */
int	msgin_parse(struct msgin *, struct msg *, char *why, size_t whysz);
/*
 * Reject a line that parsed but cannot be sent (topic too long, payload
 * over the limit, refused by the peer): diagnose with its line number,
 * count it as bad, copy it to the rejected file.
 */
void	msgin_reject(struct msgin *, uint64_t lineno, const char *line,
	    size_t len, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
/*
 * Copy an undelivered line to the failed file.  Returns 0 when it is
 * there (buffered), -1 when there is no failed file or it cannot be
 * written.
 */
int	msgin_failed(struct msgin *, const char *line, size_t len);
/* Write out what both files buffer.  Returns 0, or -1 after an error. */
int	msgin_flush(struct msgin *);
/*
 * Flush and fsync both files when lines were written since the last
 * sync, so that every line written so far survives a crash.  Returns 0,
 * or -1 after an error (diagnosed once).
 */
int	msgin_sync(struct msgin *);
/* Lines written to the files and not yet fsync'd. */
uint64_t msgin_unsynced(const struct msgin *);
/* A write to either file has failed. */
int	msgin_file_error(const struct msgin *);
/*
 * The exit status of a tool without the forwarder core (--dump): 74 on a
 * file write error, 65 when bad lines were skipped, else 0.
 */
int	msgin_status(const struct msgin *);

#endif
