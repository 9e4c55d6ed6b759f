/*
 * The running stats line: shown on stderr only when it is a terminal,
 * redrawn in place at most once a second, ended with a newline.
 */
#ifndef STATS_H
#define STATS_H

#include <stdint.h>

struct stats {
	int	tty;		/* stderr is a terminal */
	int	shown;		/* a line is on screen, unterminated */
	int64_t	next_ms;	/* when the next redraw is due */
	int64_t	start_ms;
};

void	stats_init(struct stats *);
/* True when the caller should format and show a line now. */
int	stats_due(struct stats *, int64_t now_ms);
void	stats_show(struct stats *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Finish the line (call before other diagnostics and at exit). */
void	stats_end(struct stats *);

#endif
