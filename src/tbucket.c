#include <stdint.h>

#include "tbucket.h"

#define MILLI	1000

void
tb_init(struct tbucket *tb, uint64_t rate, unsigned burst, int64_t now_ms)
{
	tb->rate = rate;
	tb->cap = (int64_t)(burst ? burst : 1) * MILLI;
	tb->level = tb->cap;
	tb->last_ms = now_ms;
}

/*
 * Add the tokens earned since last_ms: rate tokens a second is rate
 * milli-tokens a ms.
 */
static void
refill(struct tbucket *tb, int64_t now_ms)
{
	int64_t dt = now_ms - tb->last_ms;

	if (dt <= 0)
		return;
	tb->last_ms = now_ms;
	if ((uint64_t)dt > (uint64_t)tb->cap / tb->rate + 1) {
		tb->level = tb->cap;
		return;
	}
	tb->level += dt * (int64_t)tb->rate;
	if (tb->level > tb->cap)
		tb->level = tb->cap;
}

int
tb_take(struct tbucket *tb, int64_t now_ms)
{
	if (tb->rate == 0)
		return 1;
	refill(tb, now_ms);
	if (tb->level < MILLI)
		return 0;
	tb->level -= MILLI;
	return 1;
}

int64_t
tb_wait_ms(struct tbucket *tb, int64_t now_ms)
{
	int64_t need;

	if (tb->rate == 0)
		return 0;
	refill(tb, now_ms);
	need = MILLI - tb->level;
	if (need <= 0)
		return 0;
	return (need + (int64_t)tb->rate - 1) / (int64_t)tb->rate;
}
