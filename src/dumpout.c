/* The dry-run transport (see dumpout.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpout.h"

struct dumpout {
	struct fwd     *core;
	struct dumpconf	cf;
	struct dumpbuf	b;
	unsigned long long shown;
};

int
dumpbuf_add(struct dumpbuf *b, const void *p, size_t n)
{
	char *np;
	size_t cap;

	if (b->cap - b->len < n) {
		cap = b->cap ? b->cap : 4096;
		while (cap - b->len < n)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int
d_ready(void *t, const struct fwd_msg *m, int64_t now, int64_t *wait_ms)
{
	(void)t;
	(void)m;
	(void)now;
	*wait_ms = -1;
	return 1;
}

/* Show m and acknowledge it, or reject it as the peer would. */
static void
d_send(void *t, struct fwd_msg *m, int64_t now)
{
	struct dumpout *d = t;
	char why[300];

	(void)now;
	d->b.len = 0;
	if (d->cf.show(d->cf.arg, m, &d->b, why, sizeof why) == -1) {
		fwd_done(d->core, m, FWD_REJECTED, why);
		return;
	}
	if (fwd_dump(d->core, d->b.p, d->b.len) == 0)
		d->shown++;
	/* Gone or failed: the core ends the run and says which. */
	fwd_done(d->core, m, FWD_ACKED, NULL);
}

static int
d_prepare(void *t, int64_t now, struct pollfd *pfd, int max, int *timeout)
{
	(void)t;
	(void)now;
	(void)pfd;
	(void)max;
	(void)timeout;
	return 0;
}

static void
d_handle(void *t, struct pollfd *pfd, int n, int64_t now)
{
	(void)t;
	(void)pfd;
	(void)n;
	(void)now;
}

static int
d_idle(void *t)
{
	(void)t;
	return 1;
}

static int
d_fatal(void *t, char *why, size_t whysz)
{
	(void)t;
	(void)why;
	(void)whysz;
	return 0;
}

static void
d_nothing(void *t)
{
	(void)t;
}

static void
d_stats(void *t, char *buf, size_t sz)
{
	struct dumpout *d = t;

	snprintf(buf, sz, "shown %llu", d->shown);
}

/* A dry run has no peer to reach: ready at once. */
static void
d_figures(void *t, struct fwd_figures *g)
{
	(void)t;
	g->reached = 1;
}

static const struct fwd_ops dump_ops = {
	.ready = d_ready,
	.send = d_send,
	.flush = NULL,
	.prepare = d_prepare,
	.handle = d_handle,
	.idle = d_idle,
	.fatal = d_fatal,
	.abandon = d_nothing,
	.close = d_nothing,
	.stats = d_stats,
	.figures = d_figures,
};

static void *
d_open(struct fwd *core, const struct fwd_conf *fc, const void *conf,
    char *why, size_t whysz)
{
	struct dumpout *d;

	(void)fc;
	if ((d = calloc(1, sizeof *d)) == NULL) {
		snprintf(why, whysz, "out of memory");
		return NULL;
	}
	d->core = core;
	d->cf = *(const struct dumpconf *)conf;
	return d;
}

static void
d_free(void *t)
{
	struct dumpout *d = t;

	if (d == NULL)
		return;
	free(d->b.p);
	free(d);
}

const struct fwd_transport dump_transport = { d_open, d_free, &dump_ops };
