/*
 * --metrics FILE: a tool's figures in Prometheus' text exposition
 * format, for node_exporter's textfile collector, written atomically.
 * Every series has the labels tool="flespi-..." and file="NAME" (FILE's
 * name without ".prom"), which keeps the series of several tools and
 * channels on one host apart; the names, types and help texts are the
 * same in every tool (man/flespi-pipe.7, METRICS).
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

/*
 * What a tool knows about its run.  Counters count since the start;
 * a gauge that is -1 (or a time that is 0) is not known, and its series
 * is left out.
 */
struct figures {
	uint64_t	read, delivered, failed, rejected, checkpoints;
	uint64_t	read_bytes;
	int64_t		sent_bytes;	/* -1: not known */
	int64_t		retries, connects;	/* -1: not known */
	int64_t		connections;	/* open now; -1: not known */
	int64_t		inflight;	/* messages in flight; -1 */
	int64_t		window;		/* how many may be; -1 */
	double		last_ack;	/* Unix time; 0: none yet */
	int		havekey;
	uint64_t	key;		/* with havekey */
	double		newest;		/* server.timestamp (else timestamp)
					   of the newest message delivered;
					   0: none */
	double		lag;		/* with newest: its delivery time
					   minus newest, seconds */
	int		ready;		/* the first round trip succeeded */
};

/*
 * The exposition text into buf: HELP and TYPE lines, then the series.
 * tool is the program's name, file the label (see above), version the
 * tool's, start its Unix start time.  Returns the length (buf NUL-
 * terminated), or -1 when sz is too small.  Pure.
 */
int	metrics_format(char *buf, size_t sz, const char *tool,
	    const char *file, const char *version, double start,
	    const struct figures *);
/*
 * The label for path: its last component without ".prom", with any
 * character outside [A-Za-z0-9_.:-] as '_', into buf.  Pure.
 */
void	metrics_label(char *buf, size_t sz, const char *path);
/*
 * Replace path with len bytes of text: a new file beside it (".NAME.
 * XXXXXX", never one that exists, never through a link), mode 0644,
 * renamed over path, so that a reader sees the old file or the new one
 * and a symbolic link at path is replaced, not followed.  Returns 0, or
 * -1 with errno.
 */
int	metrics_write(const char *path, const char *text, size_t len);
/*
 * The time of a flespi message line: its top-level server.timestamp,
 * else its timestamp, in Unix seconds; 0 when it has neither (or the
 * line is one jscan leaves to jansson).  Pure.
 */
double	metrics_stamp(const char *line, size_t len);
/* The same for the last line of lines (newlines after it skipped). */
double	metrics_last_stamp(const char *lines, size_t len);

#endif
