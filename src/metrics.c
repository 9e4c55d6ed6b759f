#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "jscan.h"
#include "metrics.h"

/* The output so far; a write past the end makes it fail. */
struct out {
	char	       *buf;
	size_t		sz, len;
	int		full;
};

static void __attribute__((format(printf, 2, 3)))
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->sz - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->sz - o->len)
		o->full = 1;
	else
		o->len += (size_t)n;
}

/* HELP and TYPE of a metric, then its one series' name and labels. */
static void
head(struct out *o, const char *name, const char *type, const char *help,
    const char *labels)
{
	put(o, "# HELP flespi_pipe_%s %s\n# TYPE flespi_pipe_%s %s\n"
	    "flespi_pipe_%s{%s} ", name, help, name, type, name, labels);
}

static void
counter(struct out *o, const char *name, const char *help,
    const char *labels, uint64_t v)
{
	head(o, name, "counter", help, labels);
	put(o, "%" PRIu64 "\n", v);
}

static void
gauge(struct out *o, const char *name, const char *help,
    const char *labels, double v)
{
	head(o, name, "gauge", help, labels);
	/* Integers as integers; times to the millisecond. */
	if (v == (double)(int64_t)v && v < 9007199254740992.0 &&
	    v > -9007199254740992.0)
		put(o, "%" PRId64 "\n", (int64_t)v);
	else
		put(o, "%.3f\n", v);
}

int
metrics_format(char *buf, size_t sz, const char *tool, const char *file,
    const char *version, double start, const struct figures *f)
{
	struct out o = { buf, sz, 0, 0 };
	char l[300];

	if (sz == 0)
		return -1;
	buf[0] = '\0';
	/* Label values: the callers' names hold no quote or backslash. */
	snprintf(l, sizeof l, "tool=\"%s\",file=\"%s\"", tool, file);
	put(&o, "# HELP flespi_pipe_info Always 1: the tool that writes "
	    "these series, and its version.\n# TYPE flespi_pipe_info gauge\n"
	    "flespi_pipe_info{%s,version=\"%s\"} 1\n", l, version);
	gauge(&o, "start_time_seconds", "Unix time the tool started.", l,
	    start);
	gauge(&o, "ready", "1 once the first round trip to the peer or to "
	    "flespi succeeded (READY=1), else 0.", l, f->ready ? 1 : 0);
	counter(&o, "messages_read_total", "Messages read: input lines "
	    "(forwarders), messages received from flespi (flespi-recv).", l,
	    f->read);
	counter(&o, "messages_delivered_total", "Messages delivered: "
	    "acknowledged by the peer (forwarders), written to stdout "
	    "(flespi-recv).", l, f->delivered);
	counter(&o, "messages_failed_total", "Good messages left "
	    "undelivered: written to --failed, or lost.", l, f->failed);
	counter(&o, "messages_rejected_total", "Messages never deliverable: "
	    "bad input, or refused by the peer (--rejected).", l,
	    f->rejected);
	counter(&o, "checkpoints_total", "Checkpoint lines read (forwarders) "
	    "or written (flespi-recv --checkpoints).", l, f->checkpoints);
	counter(&o, "read_bytes_total", "Bytes of the message lines read, "
	    "newlines included.", l, f->read_bytes);
	if (f->sent_bytes >= 0)
		counter(&o, "sent_bytes_total", "Bytes sent: to the peer, "
		    "resends included (forwarders), to stdout (flespi-recv).",
		    l, (uint64_t)f->sent_bytes);
	if (f->retries >= 0)
		counter(&o, "retries_total", "Retries: packets sent again, "
		    "requests retried, reconnections after a failure.", l,
		    (uint64_t)f->retries);
	if (f->connects >= 0)
		counter(&o, "connections_total", "Connections established to "
		    "the peer or to flespi.", l, (uint64_t)f->connects);
	if (f->connections >= 0)
		gauge(&o, "connections", "Connections to the peer or to "
		    "flespi open now.", l, (double)f->connections);
	if (f->inflight >= 0)
		gauge(&o, "inflight_messages", "Messages sent and not yet "
		    "acknowledged (forwarders), or taken and not yet written "
		    "(flespi-recv).", l, (double)f->inflight);
	if (f->window >= 0)
		gauge(&o, "window_messages", "How many messages may be in "
		    "flight at once now, over all connections.", l,
		    (double)f->window);
	if (f->last_ack > 0)
		gauge(&o, "last_ack_timestamp_seconds", "Unix time of the "
		    "last acknowledgement from the peer (flespi-recv: of the "
		    "last answer from flespi).", l, f->last_ack);
	if (f->havekey)
		gauge(&o, "saved_key", "The key last saved to --state "
		    "(flespi-recv --checkpoints: last written in a checkpoint "
		    "line).", l, (double)f->key);
	if (f->newest > 0) {
		gauge(&o, "last_message_timestamp_seconds", "server.timestamp "
		    "(else timestamp) of the newest message delivered.", l,
		    f->newest);
		gauge(&o, "lag_seconds", "How far behind the newest message "
		    "delivered was: its delivery time minus its "
		    "server.timestamp (else timestamp).", l, f->lag);
	}
	return o.full ? -1 : (int)o.len;
}

void
metrics_label(char *buf, size_t sz, const char *path)
{
	const char *b = strrchr(path, '/');
	size_t n, i;

	if (sz == 0)
		return;
	b = b ? b + 1 : path;
	n = strlen(b);
	if (n > 5 && strcmp(b + n - 5, ".prom") == 0)
		n -= 5;
	if (n > sz - 1)
		n = sz - 1;
	for (i = 0; i < n; i++) {
		char c = b[i];

		buf[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		    c == ':' || c == '-' ? c : '_';
	}
	buf[n] = '\0';
}

int
metrics_write(const char *path, const char *text, size_t len)
{
	const char *b = strrchr(path, '/');
	char tmp[4096];
	int fd, e;

	if (b == NULL)
		snprintf(tmp, sizeof tmp, ".%s.XXXXXX", path);
	else if (snprintf(tmp, sizeof tmp, "%.*s/.%s.XXXXXX",
	    (int)(b - path), path, b + 1) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* mkstemp: O_CREAT | O_EXCL, so a planted link is never followed. */
	if ((fd = mkstemp(tmp)) == -1)
		return -1;
	if (fchmod(fd, 0644) == -1 || write_all(fd, text, len, NULL) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) == -1) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	e = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}

/* A JSON number's span as a double; 0 when it is not one. */
static double
number(const struct jspan *s)
{
	double v;

	return jscan_double(s, &v) == 0 && v > 0 ? v : 0;
}

double
metrics_stamp(const char *line, size_t len)
{
	static const char *const keys[] = { "server.timestamp", "timestamp" };
	struct jspan v[2];
	double t;

	if (jscan_object(line, len, keys, 2, v) != 1)
		return 0;
	if ((t = number(&v[0])) > 0)
		return t;
	return number(&v[1]);
}

double
metrics_last_stamp(const char *lines, size_t len)
{
	size_t i = len;

	while (i > 0 && lines[i - 1] == '\n')
		i--;
	len = i;
	while (i > 0 && lines[i - 1] != '\n')
		i--;
	return len > i ? metrics_stamp(lines + i, len - i) : 0;
}
