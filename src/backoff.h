/*
 * Capped exponential backoff with jitter.  Pure: the caller sleeps, the
 * module only says for how long, so it is unit-tested without a clock.
 */
#ifndef BACKOFF_H
#define BACKOFF_H

#include <stdint.h>

struct backoff {
	unsigned	base_ms;	/* first delay, and the floor
					   of every delay */
	unsigned	cap_ms;		/* no delay is longer than this */
	unsigned	cur_ms;		/* next delay before jitter */
	uint64_t	rng;		/* xorshift64 state, never 0 */
	unsigned	attempts;	/* failures since the last reset */
};

/* seed 0 picks one from the time and pid. */
void		backoff_init(struct backoff *, unsigned base_ms,
		    unsigned cap_ms, uint64_t seed);
/*
 * The delay before the next attempt, in [cur, cur * 1.5) capped at cap_ms,
 * never below base_ms; then cur doubles (up to cap_ms).
 */
unsigned	backoff_next(struct backoff *);
/* After a success: start again from base_ms. */
void		backoff_reset(struct backoff *);

#endif
