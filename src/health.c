#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "exits.h"
#include "health.h"
#include "io.h"
#include "num.h"
#include "stop.h"

double
health_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Is stderr the journal's stream ($JOURNAL_STREAM is "DEV:INODE")? */
static int
journal(const struct stat *sb)
{
	const char *s = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;

	if (s == NULL || sscanf(s, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	return (unsigned long long)sb->st_dev == dev &&
	    (unsigned long long)sb->st_ino == ino;
}

/* The periodic line's period (health.h says when there is one). */
static int64_t
period(const struct health_conf *cf)
{
	struct stat sb;

	if (isatty(STDERR_FILENO))
		return 0;
	if (cf->interval_ms >= 0)
		return cf->interval_ms;
	if (cf->quiet || fstat(STDERR_FILENO, &sb) == -1)
		return 0;
	return S_ISREG(sb.st_mode) || journal(&sb) ? HEALTH_LINE_MS : 0;
}

static void
due(struct health *h)
{
	int64_t d = h->next_every;

	if (h->next_line && h->next_line < d)
		d = h->next_line;
	if (h->next_dog && h->next_dog < d)
		d = h->next_dog;
	h->next_due = d;
}

void
health_init(struct health *h, const struct health_conf *cf, health_fn *fn,
    void *arg)
{
	char why[300];
	int64_t now = mono_ms();

	memset(h, 0, sizeof *h);
	h->cf = *cf;
	h->fn = fn;
	h->arg = arg;
	h->start = health_wall();
	h->last_at = now;
	if (notify_open(&h->nt, why, sizeof why) == -1)
		xwarn("warning: %s; not notifying systemd", why);
	h->line_ms = period(cf);
	if (h->line_ms > 0)
		h->next_line = now + h->line_ms;
	if (h->nt.watchdog_ms > 0)
		h->next_dog = now;	/* the first ping at once */
	/*
	 * STATUS= and the metrics file: until ready, every second (the
	 * figures say when); nothing at all without either.
	 */
	h->next_every = h->nt.fd != -1 || cf->metrics != NULL ? now + 1000 :
	    INT64_MAX;
	if (cf->metrics != NULL)
		metrics_label(h->label, sizeof h->label, cf->metrics);
	due(h);
}

/* "up=..s read=.. delivered=.. ..." for the line (logfmt: grep, awk). */
static void
line(struct health *h, const struct figures *f, int64_t now)
{
	char more[200] = "", lag[40] = "";
	double secs = (double)(now - h->last_at) / 1000.0;
	size_t n = 0;

	if (f->inflight >= 0)
		n += (size_t)snprintf(more + n, sizeof more - n,
		    " inflight=%" PRId64, f->inflight);
	if (f->retries >= 0 && n < sizeof more)
		n += (size_t)snprintf(more + n, sizeof more - n,
		    " retries=%" PRId64, f->retries);
	if (f->connections >= 0 && n < sizeof more)
		n += (size_t)snprintf(more + n, sizeof more - n,
		    " connections=%" PRId64, f->connections);
	if (f->havekey && n < sizeof more)
		snprintf(more + n, sizeof more - n, " key=%" PRIu64, f->key);
	if (f->newest > 0)
		snprintf(lag, sizeof lag, " lag=%.1fs", f->lag);
	xwarn("stats: up=%.0fs read=%" PRIu64 " delivered=%" PRIu64
	    " failed=%" PRIu64 " rejected=%" PRIu64 " rate=%.1f/s%s%s",
	    health_wall() - h->start, f->read, f->delivered, f->failed,
	    f->rejected,
	    secs > 0 ? (double)(f->delivered - h->last_count) / secs : 0.0,
	    lag, more);
	h->last_count = f->delivered;
	h->last_at = now;
}

/* STATUS= for systemctl status: the counts, a person's words. */
static void
status(struct health *h, const struct figures *f)
{
	char msg[400], lag[40] = "";

	if (h->nt.fd == -1)
		return;
	if (f->newest > 0)
		snprintf(lag, sizeof lag, ", lag %.1f s", f->lag);
	snprintf(msg, sizeof msg, "STATUS=%s: %" PRIu64 " delivered, %"
	    PRIu64 " failed, %" PRIu64 " rejected%s%s", progname,
	    f->delivered, f->failed, f->rejected, lag,
	    h->stopping ? ", stopping" : h->ready ? "" : ", connecting");
	notify_send(&h->nt, msg);
}

/* The metrics file now; a failure is said once, and the run goes on. */
static void
writemetrics(struct health *h, const struct figures *f)
{
	char text[8192];
	int n;

	if (h->cf.metrics == NULL)
		return;
	n = metrics_format(text, sizeof text, progname, h->label, VERSION,
	    h->start, f);
	if (n < 0 || metrics_write(h->cf.metrics, text, (size_t)n) == -1) {
		if (!h->warned)
			xwarnerr("--metrics: cannot write '%s'", h->cf.metrics);
		h->warned = 1;
		return;
	}
	if (h->warned)
		xwarn("--metrics: '%s' written again", h->cf.metrics);
	h->warned = 0;
}

static void
figures(struct health *h, struct figures *f)
{
	memset(f, 0, sizeof *f);
	f->sent_bytes = f->retries = f->connects = f->connections = -1;
	f->inflight = f->window = -1;
	h->fn(h->arg, f);
	if (h->ready)
		f->ready = 1;
}

void
health_tick(struct health *h, int64_t now)
{
	struct figures f;
	int asked = stats_requested != 0;

	if (stop_requested && !h->stopping)
		health_stopping(h);
	if (!asked && now < h->next_due)
		return;
	stats_requested = 0;
	figures(h, &f);
	if (f.ready && !h->ready) {
		health_ready(h);
		f.ready = 1;
	}
	if (asked || (h->next_line && now >= h->next_line)) {
		line(h, &f, now);
		if (h->line_ms > 0)
			h->next_line = now + h->line_ms;
	}
	if (h->next_dog && now >= h->next_dog) {
		notify_send(&h->nt, "WATCHDOG=1");
		h->next_dog = now + h->nt.watchdog_ms;
	}
	if (asked || now >= h->next_every) {
		status(h, &f);
		writemetrics(h, &f);
		if (h->next_every != INT64_MAX)
			h->next_every = now + (h->ready ? HEALTH_EVERY_MS :
			    1000);
	}
	due(h);
}

int
health_timeout(const struct health *h, int64_t now)
{
	int64_t d = h->next_due - now;

	return d < 0 ? 0 : d > 60000 ? 60000 : (int)d;
}

void
health_ready(struct health *h)
{
	struct figures f;

	if (h->ready)
		return;
	h->ready = 1;
	if (h->nt.fd == -1)
		return;
	figures(h, &f);
	notify_send(&h->nt, "READY=1");
	status(h, &f);
}

void
health_stopping(struct health *h)
{
	if (h->stopping)
		return;
	h->stopping = 1;
	notify_send(&h->nt, "STOPPING=1");
}

void
health_end(struct health *h)
{
	struct figures f;

	if (stop_requested && !h->stopping)
		health_stopping(h);
	if (h->cf.metrics != NULL) {
		figures(h, &f);
		writemetrics(h, &f);
	}
	notify_close(&h->nt);
}

void
health_interval_arg(struct health_conf *cf, const char *arg)
{
	cf->interval_ms = secs_arg("--stats-interval", arg, 0, 86400000);
	/* A line more often than a second would be a flood, not a log. */
	if (cf->interval_ms > 0 && cf->interval_ms < 1000)
		die(EXIT_USAGE, "--stats-interval: '%s' is not 0 (off) or a "
		    "number of seconds from 1 to 86400", arg);
}

void
health_metrics_arg(struct health_conf *cf, const char *arg)
{
	if (*arg == '\0')
		die(EXIT_USAGE, "--metrics: empty file name");
	cf->metrics = arg;
}

int
health_sleep(struct health *h, unsigned ms, int watchfd)
{
	struct pollfd p = { watchfd, 0, 0 };
	int64_t end = mono_ms() + ms, left, now;
	int t;

	while (!stop_requested && (left = end - (now = mono_ms())) > 0) {
		health_tick(h, now);
		if ((t = health_timeout(h, now)) < left)
			left = t + 1;
		/* With no descriptor, poll() sleeps; a signal ends it. */
		switch (poll(&p, watchfd >= 0, (int)left)) {
		case -1:
			if (errno != EINTR)
				return -1;
			break;
		case 1:
			if (p.revents & POLLERR)
				return 1;
			break;
		}
	}
	return 0;
}
