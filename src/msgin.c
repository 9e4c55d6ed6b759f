#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int
sink_open(struct linesink *s, const char *path)
{
	s->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (s->fd == -1)
		return -1;
	if ((s->buf = malloc(SINK_BUF)) == NULL) {
		close(s->fd);
		s->fd = -1;
		errno = ENOMEM;
		return -1;
	}
	s->cap = SINK_BUF;
	return s->fd;
}

static void
sink_fail(struct linesink *s, int e)
{
	if (s->err == 0)
		xwarn("cannot write the %s file: %s", s->what, strerror(e));
	s->err = e;
}

/*
 * Write n bytes holding lines whole lines.  After a short write, count
 * the whole lines that made it and cut the torn one off the file again
 * (best effort: a pipe or device cannot be truncated).
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
}

int
msgin_init(struct msgin *in, int fd, size_t maxline, const char *uid_field)
{
	memset(in, 0, sizeof *in);
	in->name = "<stdin>";
	in->uid_field = uid_field ? uid_field : "ident";
	sink_init(&in->failed, "failed");
	sink_init(&in->rejected, "rejected");
	return lr_init(&in->lr, fd, maxline);
}

void
msgin_free(struct msgin *in)
{
	lr_free(&in->lr);
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
			msgin_reject(in, in->lr.lineno, line, line ? len : 0,
			    "line longer than %zu bytes, skipped", in->lr.max);
			if (in->strict)
				return MSG_BAD;
			continue;
		}

		/*
		 * A raw NUL is not JSON, but jansson 2.14 skips one after a
		 * number ("1\0}" parses): refuse it here, before any parser.
		 */
		if (memchr(line, '\0', len) != NULL) {
			msgin_reject(in, in->lr.lineno, line, len,
			    "not JSON: NUL byte in the line");
			if (in->strict)
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
			m->key = m->ck.key;
			in->checkpoints++;
			return MSG_CHECKPOINT;
		case -1:
			msgin_reject(in, m->lineno, line, len,
			    "malformed checkpoint line");
			if (in->strict)
				return MSG_BAD;
			continue;
		}
		if (msgin_parse(in, m, why, sizeof why) == 0) {
			in->good++;
			return MSG_OK;
		}
		msgin_reject(in, m->lineno, line, len, "%s", why);
		if (in->strict)
			return MSG_BAD;
	}
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
