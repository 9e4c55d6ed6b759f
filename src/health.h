/*
 * What a supervisor and an operator see of a running tool, besides its
 * diagnostics: systemd's readiness, status and watchdog (notify.h), the
 * periodic stats line for logs, and --metrics FILE (metrics.h).  Each
 * engine (the forwarder core, flespi-recv's two) sets one up, tells it
 * when the first round trip succeeded and when a drain starts, and
 * calls health_tick() from its loop; the figures come from the engine's
 * own function, only when something is due.
 *
 * The periodic line, one complete line on stderr ("PROG: stats: up=..."),
 * never goes to a terminal (the progress line of stats.h is there).
 * With --stats-interval SECS it comes every SECS; without, every 60 s
 * when stderr is the journal ($JOURNAL_STREAM names it) or a regular
 * file, and not at all into a pipe (cron mails every line it gets) or
 * with -q.  SIGUSR1 (stop.h's stats_requested) prints it at once,
 * anywhere, and writes the metrics file.
 */
#ifndef HEALTH_H
#define HEALTH_H

#include <stdint.h>

#include "metrics.h"
#include "notify.h"

#define HEALTH_LINE_MS	60000	/* the periodic line's default */
#define HEALTH_EVERY_MS	5000	/* STATUS= and --metrics this often */

/* The options, from the command line (the same in every tool). */
struct health_conf {
	long long	interval_ms;	/* --stats-interval; -1: not given */
	const char     *metrics;	/* --metrics FILE, or NULL */
	int		quiet;		/* -q */
};

/* The engine's figures now. */
typedef void	health_fn(void *arg, struct figures *);

struct health {
	struct health_conf cf;
	struct notify	nt;
	health_fn      *fn;
	void	       *arg;
	double		start;		/* Unix time */
	int64_t		line_ms;	/* the periodic line's period, or 0 */
	int64_t		next_line, next_every, next_dog, next_due;
	uint64_t	last_count;	/* delivered at the last line */
	int64_t		last_at;	/* and when */
	int		ready, stopping, warned;
	char		label[128];
};

/*
 * Set up from cf (copied) with the engine's figures function: opens
 * $NOTIFY_SOCKET (a warning when it cannot be used), decides the line's
 * period.  Call once, after stop_install().
 */
void	health_init(struct health *, const struct health_conf *,
	    health_fn *fn, void *arg);
/*
 * Whatever is due now: the periodic or requested line, STATUS=,
 * WATCHDOG=1, the metrics file, READY=1 when the figures say ready.
 * Cheap when nothing is due; call at least once a second.
 */
void	health_tick(struct health *, int64_t now);
/* Milliseconds until health_tick has something to do (a poll timeout). */
int	health_timeout(const struct health *, int64_t now);
/* The first round trip succeeded: READY=1, once. */
void	health_ready(struct health *);
/* A drain starts: STOPPING=1, once. */
void	health_stopping(struct health *);
/* The end of the run: the metrics file once more, the socket closed. */
void	health_end(struct health *);

/*
 * Sleep ms milliseconds, health_tick going on, or less when a stop is
 * requested.  watchfd (-1: none) is watched for POLLERR, as a pipe's
 * writer sees its reader go.  Returns 0; 1 when watchfd got POLLERR; -1
 * with errno when poll(2) failed.
 */
int	health_sleep(struct health *, unsigned ms, int watchfd);

/* Unix time now, in seconds (CLOCK_REALTIME). */
double	health_wall(void);

/*
 * The shared options' values, for the command lines: --stats-interval
 * SECS (0 to 86400, fractions allowed) and --metrics FILE.  Exit 64 on a
 * bad value.
 */
void	health_interval_arg(struct health_conf *, const char *arg);
void	health_metrics_arg(struct health_conf *, const char *arg);

#endif
