/*
 * The running progress line, redrawn in place at most once a second and
 * ended with a newline.  It is drawn only where it helps a person and
 * cannot mix with data: stderr is a terminal, the tool is the last stage
 * of a pipeline (its stdout is not a pipe or socket to another program),
 * its own data does not go to a terminal, and -q/--quiet was not given.
 *
 * The totals at the end of a run are one complete line, shown when
 * stderr is a terminal and -q was not given, or with -v; a cron job or
 * a service, whose stderr is a file or the journal, stays silent, and so
 * does -q (as curl's -s: errors and warnings only).
 */
#ifndef STATS_H
#define STATS_H

#include <stdint.h>

struct stats {
	int	tty;		/* the line may be drawn (see above) */
	int	quiet;		/* -q: no totals either */
	int64_t	next_ms;	/* when the next redraw is due */
	int64_t	start_ms;
};

/*
 * quiet: -q/--quiet.  data: the tool writes data to stdout (flespi-recv,
 * --dump), so a terminal there means data on the screen.
 */
void	stats_init(struct stats *, int quiet, int data);
/* Whether stats_init would draw the line (the rule above). */
int	stats_wanted(int quiet, int data);
/* True when the caller should format and show a line now. */
int	stats_due(struct stats *, int64_t now_ms);
void	stats_show(struct stats *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Finish the line (call before other diagnostics and at exit). */
void	stats_end(struct stats *);
/*
 * The totals line (see above), in place of the progress line when that
 * is on screen; ended with a newline.
 */
void	stats_total(struct stats *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
