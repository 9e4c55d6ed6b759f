#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "checkpoint.h"
#include "diag.h"
#include "exits.h"
#include "io.h"
#include "msgin.h"

#define SINK_BUF	(64 * 1024)
#define BAD_RUN		256	/* bad lines skipped before MSG_BUSY */

static void
sink_init(struct linesink *s, const char *what)
{
	memset(s, 0, sizeof *s);
	s->fd = -1;
	s->what = what;
}

static void
sink_fail(struct linesink *s, int e)
{
	if (s->err == 0)
		xwarn("cannot write the %s file: %s", s->what, strerror(e));
	s->err = e;
}

/*
 * Append n bytes of from, read at offset off through buf, and a newline
 * to the fd to.  Returns 0, or an errno.
 */
static int
copy_line(int from, off_t off, uint64_t n, int to, char *buf, size_t bufsz)
{
	size_t k;
	ssize_t r;

	while (n > 0) {
		k = n < bufsz ? (size_t)n : bufsz;
		if ((r = pread(from, buf, k, off)) <= 0)
			return r == 0 ? EIO : errno;
		if (write_all(to, buf, (size_t)r, NULL) == -1)
			return errno;
		off += (off_t)r;
		n -= (uint64_t)r;
	}
	return write_all(to, "\n", 1, NULL) == -1 ? errno : 0;
}

/*
 * Append n bytes from fd, read at offset off, to the file at the end of
 * path's name plus ".torn", then a newline.  Returns 0, or -1 with errno.
 */
static int
keep_torn(const char *path, int fd, off_t off, off_t n)
{
	char name[PATH_MAX], buf[4096];
	int tfd, e;

	if ((size_t)snprintf(name, sizeof name, "%s.torn", path) >=
	    sizeof name) {
		errno = ENAMETOOLONG;
		return -1;
	}
	tfd = open(name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY,
	    0600);
	if (tfd == -1)
		return -1;
	if ((e = copy_line(fd, off, (uint64_t)n, tfd, buf, sizeof buf)) == 0 &&
	    fsync(tfd) == -1)
		e = errno;
	if (e == 0)
		return close(tfd);
	close(tfd);
	errno = e;
	return -1;
}

/*
 * A regular file whose last line has no newline holds a line torn by a
 * run killed while writing it (SIGKILL, a crash, a full disk): appending
 * would glue the next line onto it.  Cut the fragment off, keep it in
 * FILE.torn (a line of its own there), say so.  Called with the lock
 * held, so that a writer's line in progress is never taken for one.
 * Returns 0, or -1 with errno when the fragment cannot be kept aside
 * (the file is left as it is).
 */
static int
sink_repair(struct linesink *s)
{
	struct stat st;
	off_t cut;

	if (fstat(s->fd, &st) == -1 ||
	    (cut = (off_t)last_line_end(s->fd, st.st_size)) == -1)
		return -1;
	if (cut == st.st_size)
		return 0;
	if (keep_torn(s->path, s->fd, cut, st.st_size - cut) == -1) {
		xwarnerr("%s file '%s': its last line is torn, and cannot be "
		    "kept aside in '%s.torn'", s->what, s->path, s->path);
		return -1;
	}
	if (ftruncate(s->fd, cut) == -1)
		return -1;
	xwarn("%s file '%s': its last line was torn (%jd bytes without a "
	    "newline, from a run that ended while writing it): moved to "
	    "'%s.torn'", s->what, s->path, (intmax_t)(st.st_size - cut),
	    s->path);
	return 0;
}

/*
 * flock(2), waited for through signals.  A file system without locks
 * (ENOLCK, EOPNOTSUPP) is written to unlocked, as before there were any.
 */
static int
sink_flock(int fd, int op)
{
	while (flock(fd, op) == -1) {
		if (errno == ENOLCK || errno == EOPNOTSUPP || errno == EINVAL)
			return 0;
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

/*
 * Take the regular file's lock and make sure the descriptor still is the
 * file at the path: someone may have renamed it under the same lock (the
 * replay recipe: flock FILE mv FILE FILE.replay).  Then the lines written
 * so far are synced where they are, and the path is opened anew (created
 * when missing) in place of the old descriptor (dup2: the number stays,
 * as the saver thread holds it) and checked for a torn tail.  Returns 0
 * with the lock held, or -1 with errno (no lock held).
 */
static int
sink_lock(struct linesink *s)
{
	struct stat a, b;
	int fd, e;

	for (;;) {
		if (sink_flock(s->fd, LOCK_EX) == -1)
			return -1;
		if (fstat(s->fd, &a) == -1)
			goto fail;
		if (stat(s->path, &b) == 0) {
			if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
				return 0;
		} else if (errno != ENOENT)
			goto fail;
		if (s->written > s->synced && fsync(s->fd) == -1 &&
		    errno != EINVAL && errno != EROFS)
			goto fail;
		fd = open(s->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC |
		    O_NOCTTY, 0600);
		if (fd == -1)
			goto fail;
		if (dup2(fd, s->fd) == -1) {
			e = errno;
			close(fd);
			errno = e;
			goto fail;
		}
		close(fd);
		s->synced = s->written;
		vlog("%s file '%s' was moved away: writing to a new one",
		    s->what, s->path);
		if (sink_flock(s->fd, LOCK_EX) == -1)
			return -1;
		if (sink_repair(s) == -1)
			goto fail;
		(void)flock(s->fd, LOCK_UN);
	}
fail:
	e = errno;
	(void)flock(s->fd, LOCK_UN);
	errno = e;
	return -1;
}

static void
sink_unlock(struct linesink *s)
{
	if (s->reg)
		(void)flock(s->fd, LOCK_UN);
}

/*
 * Open path for appending whole lines.  A regular file is opened to be
 * read too (its tail is checked), created 0600, and locked while it is
 * checked and whenever it is written.  Anything else (a FIFO, a terminal,
 * /dev/stderr) is only written, and opened without waiting: a FIFO
 * nobody reads fails with ENXIO instead of blocking the start.
 */
static int
sink_open(struct linesink *s, const char *path)
{
	struct stat st;
	int fl;

	if ((s->path = strdup(path)) == NULL ||
	    (s->buf = malloc(SINK_BUF)) == NULL)
		goto nomem;
	s->cap = SINK_BUF;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		s->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY |
		    O_NONBLOCK);
		if (s->fd == -1)
			goto fail;
		if ((fl = fcntl(s->fd, F_GETFL)) == -1 ||
		    fcntl(s->fd, F_SETFL, fl & ~O_NONBLOCK) == -1)
			goto fail;
		return s->fd;
	}
	s->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY,
	    0600);
	if (s->fd == -1 || fstat(s->fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode))
		return s->fd;
	s->reg = 1;
	if (sink_lock(s) == -1)
		goto fail;
	if (sink_repair(s) == -1) {
		fl = errno;
		sink_unlock(s);
		errno = fl;
		goto fail;
	}
	sink_unlock(s);
	return s->fd;
nomem:
	errno = ENOMEM;
fail:
	fl = errno;
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	s->reg = 0;
	free(s->buf);
	s->buf = NULL;
	s->cap = 0;
	free(s->path);
	s->path = NULL;
	errno = fl;
	return -1;
}

/*
 * Write n bytes holding lines whole lines.  After a short write, count
 * the whole lines that made it and cut the torn one off the file again
 * (best effort: a pipe or device cannot be truncated).  A regular file
 * is locked meanwhile (sink_lock).
 */
static int
sink_write(struct linesink *s, const struct iovec *iov, int iovcnt,
    uint64_t lines)
{
	size_t total = 0, done = 0, off, tail;
	struct stat st;
	ssize_t n;
	int i, k = 0, e;
	struct iovec v[3];

	for (i = 0; i < iovcnt; i++) {
		v[i] = iov[i];
		total += iov[i].iov_len;
	}
	if (s->reg && sink_lock(s) == -1) {
		sink_fail(s, errno);
		return -1;
	}
	while (done < total) {
		n = writev(s->fd, v + k, iovcnt - k);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n == 0 ? EIO : errno;
			goto torn;
		}
		done += (size_t)n;
		while (k < iovcnt && (size_t)n >= v[k].iov_len) {
			n -= (ssize_t)v[k].iov_len;
			k++;
		}
		if (k < iovcnt) {
			v[k].iov_base = (char *)v[k].iov_base + n;
			v[k].iov_len -= (size_t)n;
		}
	}
	sink_unlock(s);
	s->written += lines;
	return 0;
torn:
	/* Whole lines among the done bytes, and the torn tail after them. */
	tail = 0;
	off = 0;
	for (i = 0; i < iovcnt && off < done; i++) {
		const char *p = iov[i].iov_base;
		size_t j, m = iov[i].iov_len;

		if (m > done - off)
			m = done - off;
		for (j = 0; j < m; j++) {
			tail++;
			if (p[j] == '\n') {
				s->written++;
				tail = 0;
			}
		}
		off += m;
	}
	if (tail > 0 && fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size >= (off_t)tail)
		(void)ftruncate(s->fd, st.st_size - (off_t)tail);
	sink_unlock(s);
	sink_fail(s, e);
	return -1;
}

static int
sink_flush(struct linesink *s)
{
	struct iovec v;
	int r;

	if (s->fd == -1 || s->len == 0)
		return s->err ? -1 : 0;
	if (s->err) {
		s->len = 0;
		s->nbuf = 0;
		return -1;
	}
	v.iov_base = s->buf;
	v.iov_len = s->len;
	r = sink_write(s, &v, 1, s->nbuf);
	s->len = 0;
	s->nbuf = 0;
	return r;
}

/* Returns 0 when the line is in the file or its buffer, else -1. */
static int
sink_line(struct linesink *s, const char *line, size_t len)
{
	struct iovec v[2];

	if (s->fd == -1 || s->err)
		return -1;
	if (s->cap - s->len < len + 1) {
		if (sink_flush(s) == -1)
			return -1;
		if (len + 1 > s->cap) {
			v[0].iov_base = (void *)(uintptr_t)line;
			v[0].iov_len = len;
			v[1].iov_base = (void *)(uintptr_t)"\n";
			v[1].iov_len = 1;
			return sink_write(s, v, 2, 1);
		}
	}
	memcpy(s->buf + s->len, line, len);
	s->buf[s->len + len] = '\n';
	s->len += len + 1;
	s->nbuf++;
	return 0;
}

/*
 * Append the len bytes of spool (a long line kept aside) and a newline,
 * as one line, after what the buffer holds.  A regular file is locked
 * from the first byte to the newline, and cut back to where the line
 * began when a write fails.  Returns 0, or -1 after an error.
 */
static int
sink_spooled(struct linesink *s, int spool, uint64_t len)
{
	struct stat st;
	off_t start = -1;
	int e;

	if (sink_flush(s) == -1 || s->fd == -1 || s->err)
		return -1;
	if (s->reg && sink_lock(s) == -1) {
		sink_fail(s, errno);
		return -1;
	}
	if (s->reg && fstat(s->fd, &st) == 0)
		start = st.st_size;
	e = copy_line(spool, 0, len, s->fd, s->buf, s->cap);
	if (e != 0 && start != -1)
		(void)ftruncate(s->fd, start);
	sink_unlock(s);
	if (e != 0) {
		sink_fail(s, e);
		return -1;
	}
	s->written++;
	return 0;
}

static int
sink_sync(struct linesink *s)
{
	int r = sink_flush(s);

	if (s->fd == -1 || s->err || s->synced == s->written)
		return r;
	if (fsync(s->fd) == -1 && errno != EINVAL && errno != EROFS) {
		sink_fail(s, errno);
		return -1;
	}
	s->synced = s->written;
	return r;
}

static void
sink_close(struct linesink *s)
{
	if (s->fd != -1) {
		sink_flush(s);
		close(s->fd);
	}
	s->fd = -1;
	free(s->buf);
	s->buf = NULL;
	free(s->path);
	s->path = NULL;
}

/*
 * A temporary file for a long line on its way to the rejected file: in
 * the rejected file's own directory (the disk chosen for rejected lines,
 * not a /tmp that may be memory), else in $TMPDIR or /tmp.  Unlinked at
 * once: it goes with the descriptor.  Returns it, or -1 with errno.
 */
static int
spool_open(const struct linesink *s)
{
	const char *dir[2] = { ".", getenv("TMPDIR") }, *slash;
	char name[PATH_MAX];
	int dl[2], i, fd, e = EINVAL;

	dl[0] = 1;
	if (s->reg && (slash = strrchr(s->path, '/')) != NULL) {
		dir[0] = s->path;
		dl[0] = slash == s->path ? 1 : (int)(slash - s->path);
	}
	if (dir[1] == NULL || dir[1][0] != '/')
		dir[1] = "/tmp";
	dl[1] = (int)strlen(dir[1]);
	for (i = s->reg ? 0 : 1; i < 2; i++) {
		if ((size_t)snprintf(name, sizeof name, "%.*s/.%s-line.XXXXXX",
		    dl[i], dir[i], progname) >= sizeof name) {
			e = ENAMETOOLONG;
			continue;
		}
		if ((fd = mkstemp(name)) == -1) {
			e = errno;
			continue;
		}
		(void)unlink(name);
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		return fd;
	}
	errno = e;
	return -1;
}

int
msgin_init(struct msgin *in, int fd, size_t maxline, const char *uid_field)
{
	memset(in, 0, sizeof *in);
	in->name = "<stdin>";
	in->uid_field = uid_field ? uid_field : "ident";
	sink_init(&in->failed, "failed");
	sink_init(&in->rejected, "rejected");
	in->spool = -1;
	return lr_init(&in->lr, fd, maxline);
}

void
msgin_free(struct msgin *in)
{
	lr_free(&in->lr);
	if (in->spool != -1)
		close(in->spool);
	in->spool = -1;
	sink_close(&in->failed);
	sink_close(&in->rejected);
}

int
msgin_open_failed(struct msgin *in, const char *path)
{
	return sink_open(&in->failed, path);
}

int
msgin_open_rejected(struct msgin *in, const char *path)
{
	return sink_open(&in->rejected, path);
}

int
msgin_failed(struct msgin *in, const char *line, size_t len)
{
	return sink_line(&in->failed, line, len);
}

int
msgin_flush(struct msgin *in)
{
	int a = sink_flush(&in->rejected), b = sink_flush(&in->failed);

	return a == -1 || b == -1 ? -1 : 0;
}

int
msgin_sync(struct msgin *in)
{
	int a = sink_sync(&in->rejected), b = sink_sync(&in->failed);

	return a == -1 || b == -1 ? -1 : 0;
}

uint64_t
msgin_unsynced(const struct msgin *in)
{
	return in->failed.nbuf + in->failed.written - in->failed.synced +
	    in->rejected.nbuf + in->rejected.written - in->rejected.synced;
}

int
msgin_file_error(const struct msgin *in)
{
	return in->failed.err != 0 || in->rejected.err != 0;
}

static void
vreject(struct msgin *in, uint64_t lineno, const char *line, size_t len,
    const char *fmt, va_list ap)
{
	char reason[512];

	vsnprintf(reason, sizeof reason, fmt, ap);
	xwarn("%s:%" PRIu64 ": %s", in->name, lineno, reason);
	in->bad++;
	if (line != NULL)
		sink_line(&in->rejected, line, len);
}

void
msgin_reject(struct msgin *in, uint64_t lineno, const char *line, size_t len,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreject(in, lineno, line, len, fmt, ap);
	va_end(ap);
}

/*
 * Check that obj is a flespi message.  Returns NULL, or the reason it is
 * not one.
 */
static const char *
check(struct msgin *in, struct msg *m, char *why, size_t whysz)
{
	json_t *v;

	if (!json_is_object(m->obj))
		return "not a JSON object";
	v = json_object_get(m->obj, in->uid_field);
	if (v == NULL) {
		snprintf(why, whysz, "no \"%s\" field", in->uid_field);
		return why;
	}
	if (json_is_string(v)) {
		m->uid = json_string_value(v);
		if (json_string_length(v) == 0 || strlen(m->uid) !=
		    json_string_length(v)) {
			snprintf(why, whysz, "\"%s\" is empty or holds a NUL",
			    in->uid_field);
			return why;
		}
	} else if (json_is_integer(v)) {
		snprintf(m->uidbuf, sizeof m->uidbuf, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		m->uid = m->uidbuf;
	} else {
		snprintf(why, whysz, "\"%s\" is not a string", in->uid_field);
		return why;
	}
	v = json_object_get(m->obj, "timestamp");
	if (v == NULL)
		return "no \"timestamp\" field";
	if (!json_is_number(v))
		return "\"timestamp\" is not a number";
	m->timestamp = json_number_value(v);
	if (!isfinite(m->timestamp) || m->timestamp < 0)
		return "\"timestamp\" is out of range";
	return NULL;
}

/*
 * Parse a line holding integers past 64 bits: each such integer becomes a
 * double (as if written "N.0"), every other number keeps its type.  A
 * rare path, so it works on a malloc'd copy.  Returns the object, or NULL
 * with err set.
 */
static json_t *
loadwide(const char *line, size_t len, json_error_t *err)
{
	char *buf, *nb;
	size_t n = len, end, start;
	json_t *obj = NULL;
	int tries;

	if ((buf = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(buf, line, n);
	for (tries = 0; tries < 256; tries++) {
		obj = json_loadb(buf, n, 0, err);
		if (obj != NULL ||
		    json_error_code(err) != json_error_numeric_overflow)
			break;
		/* jansson reports the offset just past the integer token. */
		end = (size_t)err->position;
		if (end == 0 || end > n)
			break;
		for (start = end; start > 0 && buf[start - 1] >= '0' &&
		    buf[start - 1] <= '9'; start--)
			;
		if (start == end || (start > 0 && strchr(".eE+",
		    buf[start - 1]) != NULL))
			break;	/* not an integer token: a real overflowed */
		if ((nb = realloc(buf, n + 3)) == NULL)
			break;
		buf = nb;
		memmove(buf + end + 2, buf + end, n - end);
		buf[end] = '.';
		buf[end + 1] = '0';
		n += 2;
	}
	free(buf);
	if (obj == NULL && tries > 0) {
		/* Point the diagnostic at the original bytes. */
		err->column -= 2 * tries;
		err->position -= 2 * tries;
	}
	return obj;
}

int
msgin_parse(struct msgin *in, struct msg *m, char *why, size_t whysz)
{
	json_error_t err;
	const char *r;

	if (in->fast != NULL && in->fast(in->fast_arg, m))
		return 0;
	m->obj = json_loadb(m->line, m->len, 0, &err);
	if (m->obj == NULL &&
	    json_error_code(&err) == json_error_numeric_overflow)
		m->obj = loadwide(m->line, m->len, &err);
	if (m->obj == NULL) {
		snprintf(why, whysz, "not JSON: %s at column %d", err.text,
		    err.column);
		return -1;
	}
	if ((r = check(in, m, why, whysz)) != NULL) {
		if (r != why)
			snprintf(why, whysz, "%s", r);
		json_decref(m->obj);
		m->obj = NULL;
		return -1;
	}
	return 0;
}

/*
 * A line that ended without its newline and is not good: cut off (its
 * writer stopped or was killed in the middle of it), not bad input.
 * Said, but not counted as bad nor copied to the rejected file: nothing
 * after it was checkpointed, so it comes again whole after a restart.
 */
static void
cutoff(struct msgin *in, uint64_t lineno, uint64_t len, const char *how)
{
	xwarn("%s:%" PRIu64 ": cut off: %s (%" PRIu64 " byte%s without a "
	    "newline): not rejected", in->name, lineno, how, len,
	    plural(len));
	in->cutoff++;
}

/*
 * A bad line: rejected, or cut off when it is the last line and lacks its
 * newline.  Returns 1 when --strict ends the input here.
 */
static int
bad(struct msgin *in, uint64_t lineno, const char *line, size_t len,
    const char *why)
{
	if (in->lr.nonl) {
		cutoff(in, lineno, len, "the input ended inside this line");
		return 0;
	}
	msgin_reject(in, lineno, line, len, "%s", why);
	return in->strict;
}

/*
 * A piece of a line longer than the limit.  With a rejected file, the
 * pieces go to a spool file as they come; at the line's end it is
 * diagnosed, counted and copied to the rejected file whole (or cut off,
 * without its newline at the end of input).  Returns 1 when the line
 * ended and was rejected, else 0.
 */
static int
longpiece(struct msgin *in, const char *p, size_t len)
{
	struct linesink *s = &in->rejected;
	int rejected = !in->lr.nonl;

	if (in->lr.longoff == 0) {
		in->longno = in->lr.lineno;
		in->longlen = 0;
		if (s->fd != -1 && !s->err && (in->spool = spool_open(s)) ==
		    -1)
			sink_fail(s, errno);
	}
	if (in->spool != -1 && len > 0 &&
	    write_all(in->spool, p, len, NULL) == -1) {
		sink_fail(s, errno);
		close(in->spool);
		in->spool = -1;
	}
	in->longlen += len;
	if (in->lr.inlong)
		return 0;
	if (!rejected)
		cutoff(in, in->longno, in->longlen,
		    "the input ended inside this line");
	else {
		xwarn("%s:%" PRIu64 ": line longer than %zu bytes (%" PRIu64
		    " bytes)", in->name, in->longno, in->lr.max, in->longlen);
		in->bad++;
		if (in->spool != -1)
			sink_spooled(s, in->spool, in->longlen);
	}
	if (in->spool != -1)
		close(in->spool);
	in->spool = -1;
	return rejected;
}

int
msgin_next(struct msgin *in, struct msg *m)
{
	char why[300];
	char *line;
	size_t len;
	int r, run = 0;

	for (;; run++) {
		if (run >= BAD_RUN)
			return MSG_BUSY;
		r = lr_next(&in->lr, &line, &len);
		switch (r) {
		case LR_AGAIN:
			return MSG_AGAIN;
		case LR_EOF:
			return MSG_EOF;
		case LR_ERR:
			return MSG_ERR;
		case LR_LONG:
			if (longpiece(in, line, len) && in->strict)
				return MSG_BAD;
			continue;
		}

		/*
		 * A raw NUL is not JSON, but jansson 2.14 skips one after a
		 * number ("1\0}" parses): refuse it here, before any parser.
		 */
		if (memchr(line, '\0', len) != NULL) {
			if (bad(in, in->lr.lineno, line, len,
			    "not JSON: NUL byte in the line"))
				return MSG_BAD;
			continue;
		}
		memset(m, 0, sizeof *m);
		m->line = line;
		m->len = len;
		m->lineno = in->lr.lineno;
		/* A checkpoint is never a message (and never bad input). */
		switch (checkpoint_parse(line, len, &m->ck)) {
		case 1:
			in->checkpoints++;
			return MSG_CHECKPOINT;
		case -1:
			if (bad(in, m->lineno, line, len,
			    "malformed checkpoint line"))
				return MSG_BAD;
			continue;
		}
		if (msgin_parse(in, m, why, sizeof why) == 0) {
			in->good++;
			return MSG_OK;
		}
		if (bad(in, m->lineno, line, len, why))
			return MSG_BAD;
	}
}

int
msgin_abandon(struct msgin *in)
{
	struct linereader *lr = &in->lr;
	const char *how = "the input stayed open after stopping";

	if (lr->inlong) {
		cutoff(in, in->longno, in->longlen + (lr->end - lr->off), how);
		if (in->spool != -1)
			close(in->spool);
		in->spool = -1;
		return 1;
	}
	if (lr->end > lr->off &&
	    memchr(lr->buf + lr->off, '\n', lr->end - lr->off) == NULL) {
		cutoff(in, lr->lineno + 1, lr->end - lr->off, how);
		return 1;
	}
	return 0;
}

int
msgin_status(const struct msgin *in)
{
	if (msgin_file_error(in))
		return EXIT_IOERR;
	if (in->bad > 0)
		return EXIT_DATAERR;
	return EXIT_OK;
}
