#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"

void
backoff_init(struct backoff *b, unsigned base_ms, unsigned cap_ms,
    uint64_t seed)
{
	struct timespec ts;

	if (base_ms == 0)
		base_ms = 1;
	if (cap_ms < base_ms)
		cap_ms = base_ms;
	b->base_ms = base_ms;
	b->cap_ms = cap_ms;
	b->cur_ms = base_ms;
	b->attempts = 0;
	if (seed == 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
		    ((uint64_t)getpid() << 40);
	}
	b->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

unsigned
backoff_next(struct backoff *b)
{
	uint64_t d, jitter;

	d = b->cur_ms;
	jitter = d / 2 ? xorshift(&b->rng) % (d / 2) : 0;
	d += jitter;
	if (d > b->cap_ms)
		d = b->cap_ms;
	if (d < b->base_ms)
		d = b->base_ms;
	if (b->cur_ms < b->cap_ms)
		b->cur_ms = b->cur_ms > b->cap_ms / 2 ? b->cap_ms :
		    b->cur_ms * 2;
	b->attempts++;
	return (unsigned)d;
}

void
backoff_reset(struct backoff *b)
{
	b->cur_ms = b->base_ms;
	b->attempts = 0;
}
