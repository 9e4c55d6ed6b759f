#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "exits.h"
#include "io.h"
#include "msgin.h"

int
msgin_init(struct msgin *in, int fd, size_t maxline, const char *uid_field)
{
	memset(in, 0, sizeof *in);
	in->name = "<stdin>";
	in->uid_field = uid_field ? uid_field : "ident";
	in->failed_fd = -1;
	return lr_init(&in->lr, fd, maxline);
}

void
msgin_free(struct msgin *in)
{
	lr_free(&in->lr);
	if (in->failed_fd != -1)
		close(in->failed_fd);
	in->failed_fd = -1;
}

int
msgin_open_failed(struct msgin *in, const char *path)
{
	in->failed_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	return in->failed_fd;
}

int
msgin_failed(struct msgin *in, const char *line, size_t len)
{
	char nl = '\n';

	if (in->failed_fd == -1)
		return 0;
	if (write_all(in->failed_fd, line, len, NULL) == -1 ||
	    write_all(in->failed_fd, &nl, 1, NULL) == -1) {
		if (!in->failed_err)
			xwarnerr("cannot write the failed file");
		in->failed_err = 1;
		return -1;
	}
	in->failed_written++;
	return 0;
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
		msgin_failed(in, line, len);
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
msgin_next(struct msgin *in, struct msg *m)
{
	json_error_t err;
	const char *why;
	char whybuf[160];
	char *line;
	size_t len;
	int r;

	for (;;) {
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
		if (in->fast != NULL && in->fast(in->fast_arg, m)) {
			in->good++;
			return MSG_OK;
		}
		m->obj = json_loadb(line, len, 0, &err);
		if (m->obj == NULL &&
		    json_error_code(&err) == json_error_numeric_overflow)
			m->obj = loadwide(line, len, &err);
		if (m->obj == NULL) {
			msgin_reject(in, m->lineno, line, len,
			    "not JSON: %s at column %d", err.text, err.column);
		} else if ((why = check(in, m, whybuf, sizeof whybuf)) !=
		    NULL) {
			msgin_reject(in, m->lineno, line, len, "%s", why);
			json_decref(m->obj);
			m->obj = NULL;
		} else {
			in->good++;
			return MSG_OK;
		}
		if (in->strict)
			return MSG_BAD;
	}
}

int
msgin_status(const struct msgin *in, uint64_t undelivered)
{
	if (undelivered > 0)
		return EXIT_TEMPFAIL;
	if (in->failed_err)
		return EXIT_IOERR;
	if (in->bad > 0)
		return EXIT_DATAERR;
	return EXIT_OK;
}
