/*
 * A token bucket: at most rate events a second on average, with bursts of
 * up to burst events.  Pure: the caller passes the clock, so it is
 * unit-tested without sleeping.
 */
#ifndef TBUCKET_H
#define TBUCKET_H

#include <stdint.h>

struct tbucket {
	uint64_t	rate;		/* tokens a second; 0 = unlimited */
	int64_t		cap;		/* burst, in milli-tokens */
	int64_t		level;		/* milli-tokens available */
	int64_t		last_ms;	/* when level was last brought
					   up to date */
};

/* Starts full.  A burst of 0 is taken as 1. */
void	tb_init(struct tbucket *, uint64_t rate, unsigned burst,
	    int64_t now_ms);
/* Take one token: returns 1, or 0 (and takes nothing) when none is there. */
int	tb_take(struct tbucket *, int64_t now_ms);
/* Milliseconds until tb_take() can succeed; 0 when it can now. */
int64_t	tb_wait_ms(struct tbucket *, int64_t now_ms);

#endif
