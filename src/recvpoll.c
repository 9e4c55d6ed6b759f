/*
 * flespi-recv's polling engine (see recvpoll.h): request after request,
 * each answer validated whole before a line of it is written, the key
 * saved or passed down the pipe only after its lines.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include <jansson.h>

#include "backoff.h"
#include "checkpoint.h"
#include "diag.h"
#include "exits.h"
#include "flespiapi.h"
#include "io.h"
#include "metrics.h"
#include "recvpoll.h"
#include "reply.h"
#include "statefile.h"
#include "stats.h"
#include "stop.h"

#define MAXNOTES	64	/* distinct errors/warnings shown, at most */
/*
 * --once is for cron: without --retries it gives up after this many
 * retries of a request, or when the next would start this long after
 * its first failure, whichever comes first (a server's Retry-After
 * included), so that runs do not pile up.
 */
#define ONCE_RETRIES	5
#define ONCE_FAIL_MS	60000
/* An empty answer sooner than this after its request: wait the rest. */
#define EMPTY_MIN_MS	1000
/* After a stop request, a write to stdout may wait this long, no more. */
#define STOP_GRACE_MS	1000
/*
 * Request sizing.  flespi documents no maximum for limit_count or
 * limit_size of GET /gw/channels/{sel}/messages: neither its REST API
 * guidelines (https://flespi.com/rest-api), its knowledge base
 * (https://flespi.com/kb/messages-basic-information-units) nor its API
 * changelog (https://forum.flespi.com/d/143) names one; known to work are
 * 1000 messages (the old Python module) and 8 MiB.  So the batch starts
 * at the known-good --limit-count default and doubles while
 * answers come back full, up to COUNT_MAX (the bound --limit-count accepts) and
 * within --limit-size; an answer asking for less than a quarter of it
 * (the channel is live) halves it again, never below the start.  A 400
 * or an oversized answer to a grown request halves it at once and caps
 * it there for the run: the key has not moved, so nothing is skipped.
 */
#define COUNT_MAX	100000

/* Everything the loop keeps between batches. */
struct run {
	struct recvpoll_conf *o;	/* &c */
	struct recvpoll_conf c;		/* the caller's, changed at the end */
	struct flespiapi fa;
	struct backoff	bo;
	struct stats	st;
	uint64_t	key;		/* everything before it was written */
	uint64_t	saved;		/* the key in the state file */
	uint64_t	deleted;	/* flespi was asked to delete
					   before it */
	uint64_t	total;		/* messages written */
	unsigned	cur;		/* limit_count of the next request */
	unsigned	cap;		/* cur's bound (lowered by a refusal) */
	int		soft;		/* fetch() returns failures, the run
					   goes on */
	int		outfile;	/* stdout is a regular file */
	struct statefile sf;		/* plain --state */
	int		status;		/* the run's end: an exit status, */
	const char     *endwhy;		/* and why, for the totals; or -1 */
	int		gone;		/* the reader of stdout went away */
	char	       *seen[MAXNOTES];	/* errors/warnings shown so far */
	int		nseen;
	struct health	h;		/* notify, stats line, --metrics */
	uint64_t	bytes, written;	/* message bytes, stdout bytes */
	uint64_t	ckpts, ckkey;	/* checkpoint lines, the last key */
	uint64_t	retries, connects;
	int		answered;	/* the last request had an answer */
	double		last_ack;	/* Unix time of the last answer */
	double		newest, lag;	/* the last line's time, and lag */
};


/*
 * The run ends with status (why, when not NULL, goes on the totals
 * line).  Returns -1, for the caller to return.
 */
static int
end(struct run *r, int status, const char *why)
{
	if (r->status < 0) {
		r->status = status;
		r->endwhy = why;
	}
	return -1;
}

/*
 * Sleep ms milliseconds, or less when a stop is requested or the reader
 * of stdout goes away (a pipe says so with POLLERR on our end): then
 * r->gone is set.
 */
static void
nap(struct run *r, unsigned ms)
{
	if (health_sleep(&r->h, ms, STDOUT_FILENO) == 1)
		r->gone = 1;
}

/*
 * The oldest key saved in the --state files (with --checkpoints, by the
 * end of the pipeline).  Returns 1 and *key; 0 when a file does not exist
 * yet (that branch has saved nothing: the oldest key of all is "none");
 * -1 with errno when one cannot be read.  *bad names the file then.
 */
static int
oldest(const struct recvpoll_conf *o, uint64_t *key, const char **bad)
{
	uint64_t k, min = UINT64_MAX;
	int i;

	if (o->nstates == 0)
		return 0;
	for (i = 0; i < o->nstates; i++) {
		*bad = o->states[i];
		switch (state_load(o->states[i], &k)) {
		case 1:
			if (k < min)
				min = k;
			break;
		case 0:
			return 0;
		default:
			return -1;
		}
	}
	*key = min;
	return 1;
}

/*
 * Save the key.  When stdout is a file, its lines are made durable first:
 * otherwise a power failure could keep the new key but lose the lines
 * before it -- a gap.
 */
static int
savekey(struct run *r)
{
	if (r->o->state == NULL || r->o->checkpoints || r->key == r->saved)
		return 0;
	if (r->outfile && fdatasync(STDOUT_FILENO) == -1) {
		stats_end(&r->st);
		xwarnerr("stdout");
		return end(r, EXIT_IOERR, NULL);
	}
	if (state_save(r->sf.path, r->key) == -1) {
		stats_end(&r->st);
		xwarnerr("%s: cannot save key %" PRIu64, r->sf.path, r->key);
		return end(r, EXIT_IOERR, NULL);
	}
	r->saved = r->key;
	return 0;
}

/*
 * The totals line at the end of a run (stats.h says where it shows):
 * after the last diagnostic, before exiting.
 */
static void
totals(struct run *r, const char *why)
{
	stats_total(&r->st, "%" PRIu64 " message%s written, key %" PRIu64
	    "%s%s", r->total, plural(r->total), r->key, why ? "; " : "",
	    why ? why : "");
}

/*
 * An answer that parsed must also make sense for its request: never more
 * messages than asked for, and a key that moves on past them (or, with
 * none, stays or moves on).  A key going backwards would replay what was
 * written, one standing still would fetch the same messages for ever.
 * Returns 0, or 1 with why filled in.
 */
static int
checkanswer(const struct fa_req *q, const struct reply *rp, char *why,
    size_t whylen)
{
	if (rp->count > q->limit_count)
		snprintf(why, whylen, "protocol violation: the answer holds "
		    "%zu messages, %u %s asked for", rp->count,
		    q->limit_count, q->limit_count == 1 ? "was" : "were");
	else if (rp->next_key < q->curr_key)
		snprintf(why, whylen, "protocol violation: next_key %" PRIu64
		    " goes backwards from %" PRIu64, rp->next_key,
		    q->curr_key);
	else if (rp->count > 0 && rp->next_key == q->curr_key)
		snprintf(why, whylen, "protocol violation: next_key %" PRIu64
		    " does not move on past %zu message%s", rp->next_key,
		    rp->count, plural(rp->count));
	else
		return 0;
	return 1;
}

/* The errors and warnings of an answer on stderr, each once per run. */
static void
shownotes(struct run *r, const struct reply *rp)
{
	const char *p, *nl;
	size_t n;
	int i;

	for (p = rp->notes; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		n = (size_t)(nl - p);
		for (i = 0; i < r->nseen; i++)
			if (strlen(r->seen[i]) == n &&
			    memcmp(r->seen[i], p, n) == 0)
				break;
		if (i < r->nseen)
			continue;
		if (r->nseen < MAXNOTES &&
		    (r->seen[r->nseen] = strndup(p, n)) != NULL)
			r->nseen++;
		else if (r->nseen >= MAXNOTES)
			return;		/* a flood: enough has been said */
		stats_end(&r->st);
		xwarn("channel %s: flespi says: %.*s", r->o->selector, (int)n,
		    p);
	}
}

/*
 * A request for q->limit_count messages was refused (400) or answered
 * with more than the buffer holds: when that count was grown by us, halve
 * it (never below the start), cap the run's growth there and return 1 --
 * the same key is asked again.  0 when the count is not ours to lower.
 */
static int
fallback(struct run *r, struct fa_req *q, const char *why)
{
	unsigned was = q->limit_count;

	/* Not for partial()'s or finaldelete()'s requests (r->soft). */
	if (r->o->count_fixed || r->soft || was <= r->o->limit_count)
		return 0;
	q->limit_count = was / 2 > r->o->limit_count ? was / 2 :
	    r->o->limit_count;
	r->cur = r->cap = q->limit_count;
	stats_end(&r->st);
	xwarn("channel %s: %s; asking for %u messages instead of %u",
	    r->o->selector, why, q->limit_count, was);
	return 1;
}

/*
 * After an answer to q: the size of the next request.  A full answer (as
 * many messages as asked for) doubles it, up to r->cap and to what
 * --limit-size holds at this answer's bytes per message; an answer of
 * less than a quarter of it (the channel is live) halves it.  An answer
 * cut by --limit-size is neither: the size is what binds then.
 */
static void
resize(struct run *r, const struct fa_req *q, const struct reply *rp)
{
	uint64_t next, fit;

	if (r->o->count_fixed)
		return;
	if (rp->count >= q->limit_count && q->limit_count == r->cur &&
	    r->cur < r->cap) {
		next = 2 * (uint64_t)r->cur;
		fit = (uint64_t)r->o->limit_size * rp->count / (r->fa.len + 1);
		if (next > fit)
			next = fit;
		if (next > r->cap)
			next = r->cap;
		if (next > r->cur)
			r->cur = (unsigned)next;
	} else if (rp->count < r->cur / 4 && r->cur > r->o->limit_count)
		r->cur = r->cur / 2 > r->o->limit_count ? r->cur / 2 :
		    r->o->limit_count;
}

/* The HTTP status of the last request for -v, into buf: "HTTP 200". */
static const char *
status_text(const struct flespiapi *fa, char *buf, size_t sz)
{
	if (fa->status > 0)
		snprintf(buf, sz, "HTTP %ld", fa->status);
	else
		snprintf(buf, sz, "no answer");
	return buf;
}

/*
 * Retries ran out: say so in the one wording of every tool (then more);
 * the run ends with 75.  Returns FA_REFUSED, for fetch() to return.
 */
static int
giveup(struct run *r, long long failures, const char *why, const char *more)
{
	char who[300], msg[900];

	snprintf(who, sizeof who, "channel %s", r->o->selector);
	xwarn("%s%s", giveup_text(msg, sizeof msg, who, failures, why), more);
	end(r, EXIT_TEMPFAIL, NULL);
	return FA_REFUSED;
}

/*
 * After a request: the connections libcurl made for it, and an answer's
 * time; the first answer makes the run ready (health.h).
 */
static void
counts(struct run *r, int s)
{
	long n = 0;

	if (curl_easy_getinfo(r->fa.curl, CURLINFO_NUM_CONNECTS, &n) ==
	    CURLE_OK && n > 0)
		r->connects += (uint64_t)n;
	r->answered = r->fa.status > 0;
	if (r->fa.status > 0)
		r->last_ack = health_wall();
	if (s == FA_OK)
		health_ready(&r->h);
}

/* The last line of an answer's lines: its time, for the lag. */
static void
newest(struct run *r, const char *lines, size_t len)
{
	double t;

	if ((t = metrics_last_stamp(lines, len)) > 0) {
		r->newest = t;
		r->lag = health_wall() - t;
	}
}

/* The figures (health.h): every message read is written at once. */
static void
figures(void *arg, struct figures *g)
{
	struct run *r = arg;

	g->read = g->delivered = r->total;
	g->checkpoints = r->ckpts;
	g->read_bytes = r->bytes;
	g->sent_bytes = (int64_t)r->written;
	g->retries = (int64_t)r->retries;
	g->connects = (int64_t)r->connects;
	g->connections = r->answered;
	g->last_ack = r->last_ack;
	if (r->o->checkpoints && r->ckpts > 0) {
		g->havekey = 1;
		g->key = r->ckkey;
	} else if (r->o->state != NULL && !r->o->checkpoints &&
	    r->saved != UINT64_MAX) {
		g->havekey = 1;
		g->key = r->saved;
	}
	g->newest = r->newest;
	g->lag = r->lag;
}

static void
tick(void *arg)
{
	struct run *r = arg;

	health_tick(&r->h, mono_ms());
}

/*
 * One request, retried with backoff until it gives a usable answer.
 * Returns FA_OK with *rp filled in, or FA_STOPPED (a stop request, or the
 * reader of stdout is gone: r->gone); or gives up: FA_REFUSED with the
 * run's end set to 69 (refused) or 75 (retries exhausted) -- or, when
 * r->soft, returns FA_REFUSED or FA_RETRY without ending the run.  A grown
 * request that is refused as too large is made smaller (fallback()), so q's
 * limit_count may be lower on return.
 */
static int
fetch(struct run *r, struct fa_req *q, struct reply *rp)
{
	char why[512], whybuf[256], st[32], once[160], more[200];
	const char *bad;
	long long failures = 0, limit;
	int64_t t0, first_fail = 0;
	int s, violation;
	unsigned d;

	for (;;) {
		t0 = mono_ms();
		s = fa_get(&r->fa, q, why, sizeof why);
		counts(r, s);
		violation = 0;
		if (s == FA_OK && reply_parse(r->fa.body, r->fa.len, rp, &bad,
		    whybuf, sizeof whybuf) == -1) {
			if (rp->shape) {
				stats_end(&r->st);
				snprintf(why, sizeof why, "the API answered in "
				    "an unexpected shape: %s", bad);
				s = FA_REFUSED;
			} else {
				snprintf(why, sizeof why, "%s", bad);
				s = FA_RETRY;
			}
		} else if (s == FA_OK && (violation = checkanswer(q, rp, why,
		    sizeof why)))
			s = FA_RETRY;
		if (s == FA_RETRY && r->fa.too_large)
			snprintf(why, sizeof why, "answer longer than %zu "
			    "bytes (--limit-size %zu and 1 MiB to spare): "
			    "raise --limit-size if one message is that big",
			    r->fa.max, q->limit_size);
		if (s == FA_OK)
			shownotes(r, rp);
		if (verbose) {
			size_t nm = s == FA_OK ? rp->count : 0;

			stats_end(&r->st);
			vlog("GET %.*s curr_key=%" PRIu64 " limit_count=%u "
			    "timeout=%u%s: %s, %zu message%s, %zu byte%s, "
			    "%" PRId64 " ms%s%s",
			    (int)(strlen(r->fa.urlbase) - strlen("?data=")),
			    r->fa.urlbase, q->curr_key,
			    q->limit_count, q->timeout, q->del ? " delete" : "",
			    status_text(&r->fa, st, sizeof st), nm, plural(nm),
			    r->fa.len, plural(r->fa.len),
			    mono_ms() - t0, s == FA_OK ? "" : ": ",
			    s == FA_OK ? "" : why);
		}
		if (s == FA_OK) {
			backoff_reset(&r->bo);
			return FA_OK;
		}
		if (s == FA_STOPPED) {
			r->gone |= r->fa.gone;
			return s;
		}
		if (((s == FA_REFUSED && r->fa.status == 400) ||
		    (s == FA_RETRY && r->fa.too_large)) && fallback(r, q, why))
			continue;
		stats_end(&r->st);
		/* --once must end, even when --retries was not given. */
		limit = r->o->retries;
		once[0] = '\0';
		if (limit < 0 && r->o->once) {
			limit = ONCE_RETRIES;
			snprintf(once, sizeof once, " (--once gives up after "
			    "%d retries or %d s of failures; --retries N to "
			    "retry longer)", ONCE_RETRIES, ONCE_FAIL_MS / 1000);
		}
		if (failures == 0)
			first_fail = t0;
		if (r->soft && (s == FA_REFUSED || (limit >= 0 &&
		    failures >= limit))) {
			xwarn("channel %s: %s", r->o->selector, why);
			return s;
		}
		if (s == FA_REFUSED) {
			xwarn("channel %s: %s", r->o->selector, why);
			end(r, EXIT_REFUSED, NULL);
			return FA_REFUSED;
		}
		if (limit >= 0 && failures >= limit)
			return giveup(r, failures, why, once);
		d = backoff_next(&r->bo);
		/* A server's Retry-After is honoured, up to five minutes. */
		if (r->fa.retry_after > 0 && (unsigned long)r->fa.retry_after *
		    1000 > d)
			d = r->fa.retry_after > 300 ? 300000 :
			    (unsigned)r->fa.retry_after * 1000;
		if (once[0] != '\0' && mono_ms() + d - first_fail >
		    ONCE_FAIL_MS) {
			snprintf(more, sizeof more, " (%lld s of failures)%s",
			    (long long)(mono_ms() - first_fail) / 1000, once);
			return giveup(r, failures, why, more);
		}
		failures++;
		r->retries++;
		xwarn("channel %s: %s; retry %lld in %u ms", r->o->selector,
		    why, failures, d);
		nap(r, d);
		if ((stop_requested || r->gone) && r->fa.abortable)
			return FA_STOPPED;
	}
}

/*
 * Only k of the batch's n lines reached stdout.  flespi's keys are per
 * batch, so ask for the key after k messages: the same request limited to
 * k, without waiting.  If that fails too, the key stays at the batch's
 * start and those k lines come again on restart (at-least-once).
 */
static void
partial(struct run *r, size_t k)
{
	struct fa_req q = { r->key, (unsigned)k, r->o->limit_size, 0, 0 };
	struct reply rp;

	if (k == 0)
		return;
	r->fa.abortable = 0;
	r->soft = 1;
	r->o->retries = 3;
	if (fetch(r, &q, &rp) == FA_OK && rp.count == k)
		r->key = rp.next_key;
	else
		xwarn("cannot find the key after %zu message%s; %s will be "
		    "read again", k, plural(k), k == 1 ? "it" : "they");
}

/*
 * With --checkpoints: the key before which flespi may delete, i.e. the
 * oldest key the end of the pipeline has saved, read from the --state
 * files now, and never past r->key (a larger key in a file was not saved
 * after our lines).  0 when nothing may be deleted yet.
 */
static uint64_t
deletable(struct run *r)
{
	const char *bad;
	uint64_t k;

	switch (oldest(r->o, &k, &bad)) {
	case 1:
		return k < r->key ? k : r->key;
	case 0:
		return 0;
	default:
		if (errno == EINVAL)
			xwarn("%s: not a key file; nothing deleted", bad);
		else
			xwarnerr("%s: nothing deleted", bad);
		return 0;
	}
}

/*
 * Ask flespi to delete what is before key (a read of one message from key
 * with delete set; its answer is not used).  One attempt: a failed delete
 * is only late, and is tried again before the next request.
 */
static void
delete_before(struct run *r, uint64_t key)
{
	struct fa_req q = { key, 1, r->o->limit_size, 0, 1 };
	char why[512], st[32];
	int s;

	s = fa_get(&r->fa, &q, why, sizeof why);
	vlog("delete before key %" PRIu64 ": %s%s%s", key,
	    status_text(&r->fa, st, sizeof st),
	    s == FA_OK ? "" : ": ", s == FA_OK ? "" : why);
	if (s == FA_OK)
		r->deleted = key;
	else if (s != FA_STOPPED) {
		stats_end(&r->st);
		xwarn("channel %s: cannot delete before key %" PRIu64 ": %s",
		    r->o->selector, key, why);
	}
}

/* Delete what was written and not yet deleted (with --delete). */
static void
finaldelete(struct run *r)
{
	struct fa_req q = { r->key, 1, r->o->limit_size, 0, 1 };
	struct reply rp;
	uint64_t d;

	if (r->o->del && r->o->checkpoints) {
		r->fa.abortable = 0;
		if ((d = deletable(r)) > r->deleted)
			delete_before(r, d);
		return;
	}
	if (!r->o->del || r->key <= r->deleted || r->total == 0)
		return;
	r->fa.abortable = 0;
	r->soft = 1;
	if (r->o->retries < 0 || r->o->retries > 3)
		r->o->retries = 3;
	if (fetch(r, &q, &rp) == FA_OK)
		r->deleted = r->key;
	else
		xwarn("messages from key %" PRIu64 " to %" PRIu64 " were "
		    "written but not deleted", r->deleted, r->key);
}

/*
 * write_all() to stdout, but one that a stop request can end: once
 * stop_requested is set, a write that cannot go on within STOP_GRACE_MS
 * is abandoned with EINTR, so a reader that is alive but not reading
 * cannot hold off SIGTERM.  (The handlers have no SA_RESTART: a signal
 * ends a blocked write(2) early.)  Returns 0, or -1 with errno; *done
 * gets the bytes written.
 */
static int
writeout(const char *buf, size_t len, size_t *done)
{
	struct pollfd pfd = { STDOUT_FILENO, POLLOUT, 0 };
	int64_t deadline = 0, left;
	size_t chunk;
	ssize_t n;

	*done = 0;
	while (*done < len) {
		chunk = len - *done;
		if (stop_requested) {
			if (deadline == 0)
				deadline = mono_ms() + STOP_GRACE_MS;
			if ((left = deadline - mono_ms()) <= 0 ||
			    poll(&pfd, 1, (int)left) == 0) {
				errno = EINTR;
				return -1;
			}
			/*
			 * Writable: at least PIPE_BUF bytes fit without a wait.
			 */
			if (chunk > PIPE_BUF)
				chunk = PIPE_BUF;
		}
		n = write(STDOUT_FILENO, buf + *done, chunk);
		if (n > 0)
			*done += (size_t)n;
		else if (n == 0) {
			errno = EIO;
			return -1;
		} else if (errno != EINTR)
			return -1;
	}
	return 0;
}

/*
 * Write buf to stdout.  Returns 0; or -1 when the run ends here, with
 * what was written saved: 0 when the reader went away or a stop ended a
 * blocked write, 74 on an output error.
 */
static int
emit(struct run *r, const char *buf, size_t len)
{
	size_t done = 0, k;
	int err;

	if (writeout(buf, len, &done) == 0) {
		r->written += len;
		return 0;
	}
	r->written += done;
	err = errno;
	stats_end(&r->st);
	k = reply_lines_in(buf, done);
	r->total += k;
	/* With --checkpoints no key is saved here: no need to find it. */
	if (!r->o->checkpoints)
		partial(r, k);
	finaldelete(r);
	if (savekey(r) == -1)
		return -1;
	if (err == EPIPE)		/* the reader went away: a normal end */
		return end(r, EXIT_OK, "stdout closed by the reader");
	if (err == EINTR)
		return end(r, EXIT_OK, "stopped while stdout was not read");
	errno = err;
	xwarnerr("stdout");
	return end(r, EXIT_IOERR, NULL);
}

/*
 * The identity (checkpoint.h) of the message line p[0..n), from its
 * "ident" and "timestamp", or 0 when it has no such values.
 */
static uint64_t
lineid(const char *p, size_t n)
{
	json_t *o, *u, *t;
	char buf[24];
	uint64_t id = 0;

	if ((o = json_loadb(p, n, 0, NULL)) == NULL)
		return 0;
	u = json_object_get(o, "ident");
	t = json_object_get(o, "timestamp");
	if (json_is_number(t) && json_is_string(u))
		id = checkpoint_id(json_string_value(u), json_string_length(u),
		    json_number_value(t));
	else if (json_is_number(t) && json_is_integer(u)) {
		snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(u));
		id = checkpoint_id(buf, strlen(buf), json_number_value(t));
	}
	json_decref(o);
	return id;
}

/*
 * The checkpoint line after an answer's lines: the new key, the one
 * before them and the identities of the first and last of them.
 */
static size_t
ckline(char *buf, uint64_t prev, const struct reply *rp)
{
	struct ckline c;
	const char *last, *nl;

	memset(&c, 0, sizeof c);
	c.key = rp->next_key;
	c.prev = prev;
	c.has = CK_PREV;
	if (rp->count > 0) {
		/*
		 * Each line ends in "\n": the last starts after the one before.
		 */
		for (last = rp->lines + rp->len - 1; last > rp->lines &&
		    last[-1] != '\n'; last--)
			;
		nl = memchr(rp->lines, '\n', rp->len);
		c.first = lineid(rp->lines, (size_t)(nl - rp->lines));
		c.last = lineid(last, (size_t)(rp->lines + rp->len - 1 - last));
		c.has |= (c.first ? CK_FIRST : 0) | (c.last ? CK_LAST : 0);
	}
	return checkpoint_format(buf, &c);
}

static void
loop(struct run *r)
{
	struct recvpoll_conf *o = r->o;
	struct fa_req q;
	struct reply rp;
	uint64_t left, d;
	char ck[CHECKPOINT_MAX];
	int64_t now, t0;

	for (;;) {
		if (stop_requested)
			health_stopping(&r->h);
		if (stop_requested || r->gone)
			break;
		if (o->count && r->total >= o->count)
			break;
		q.curr_key = r->key;
		q.limit_count = r->cur;
		if (o->count && (left = o->count - r->total) < q.limit_count)
			q.limit_count = (unsigned)left;
		q.limit_size = o->limit_size;
		q.timeout = o->once ? 0 : o->timeout;
		q.del = o->del && r->key > r->deleted && r->total > 0;
		if (o->del && o->checkpoints) {
			/* Ride along when the pipeline has caught up. */
			d = deletable(r);
			q.del = d == r->key && d > r->deleted;
			if (d > r->deleted && !q.del)
				delete_before(r, d);
		}
		t0 = mono_ms();
		if (fetch(r, &q, &rp) != FA_OK)
			break;
		if (q.del)
			r->deleted = r->key;
		resize(r, &q, &rp);
		if (rp.count > 0 && emit(r, rp.lines, rp.len) == -1)
			return;
		r->total += rp.count;
		r->bytes += rp.len;
		if (rp.count > 0)
			newest(r, rp.lines, rp.len);
		/* The key after the lines, whenever it moved on. */
		if (o->checkpoints && rp.next_key != r->key) {
			if (emit(r, ck, ckline(ck, r->key, &rp)) == -1)
				return;
			r->ckpts++;
			r->ckkey = rp.next_key;
		}
		r->key = rp.next_key;
		if (savekey(r) == -1)
			return;
		now = mono_ms();
		if (stats_due(&r->st, now))
			stats_show(&r->st, "%" PRIu64 " message%s, %.0f msg/s, "
			    "key %" PRIu64, r->total, plural(r->total),
			    (double)r->total * 1000.0 /
			    (double)(now - r->st.start_ms + 1), r->key);
		health_tick(&r->h, now);
		if (o->once && rp.count == 0)
			break;
		/*
		 * An empty answer at once (-t 0, or a server that does not
		 * long-poll): wait before asking again, not a hot loop.
		 */
		if (rp.count == 0 && (now = mono_ms() - t0) < EMPTY_MIN_MS)
			nap(r, (unsigned)(EMPTY_MIN_MS - now));
	}
}

/*
 * A regular file on stdout whose last line has no newline holds a line
 * torn by an earlier run (a full disk, SIGKILL mid-write).  Appending to
 * it would glue our first message onto it and corrupt both: cut the file
 * back to its last newline first, and say so.  (That message's key was
 * not saved: it comes again whole.)  Only when we write at the file's end.
 */
static int
repairtail(void)
{
	struct stat sb;
	off_t cut;
	int fd, fl;

	if (fstat(STDOUT_FILENO, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size == 0 || (fl = fcntl(STDOUT_FILENO, F_GETFL)) == -1)
		return 0;
	if (!(fl & O_APPEND) && lseek(STDOUT_FILENO, 0, SEEK_CUR) !=
	    sb.st_size)
		return 0;
	/* stdout is write-only: read the same file through /proc. */
	if ((fd = open("/proc/self/fd/1", O_RDONLY | O_CLOEXEC)) == -1) {
		xwarnerr("stdout: cannot check for a torn last line");
		return 0;
	}
	cut = (off_t)last_line_end(fd, sb.st_size);
	if (cut == -1) {
		xwarnerr("stdout: cannot check for a torn last line");
		close(fd);
		return 0;
	}
	close(fd);
	if (cut == sb.st_size)
		return 0;
	if (ftruncate(STDOUT_FILENO, cut) == -1 ||
	    (!(fl & O_APPEND) && lseek(STDOUT_FILENO, cut, SEEK_SET) == -1)) {
		xwarnerr("stdout: cannot cut off its torn last line");
		return -1;
	}
	xwarn("stdout: its last line was torn (%jd bytes without a newline, "
	    "from an earlier run): cut off", (intmax_t)(sb.st_size - cut));
	return 0;
}

/*
 * Plain --state: the key file's life (statefile.h: a link stands for its
 * target, which is locked for the run), then its key.  Returns 0, or the
 * exit status to end with.
 */
static int
startkey(struct run *r)
{
	char why[600];
	uint64_t k;
	int st;

	switch (state_open(&r->sf, r->o->state, &k, &st, why, sizeof why)) {
	case 1:
		r->key = r->saved = k;
		return 0;
	case 0:
		/* Fail now, not after a batch, if it cannot be saved. */
		r->saved = UINT64_MAX;
		return 0;
	default:
		xwarn("--state: %s", why);
		return st;
	}
}

/*
 * --checkpoints: start from the oldest key among the --state files, which
 * the forwarders at the ends of the pipeline write (and lock); a file that
 * does not exist yet means "from the start".  Nothing is locked or written.
 */
static int
startkeys(struct run *r)
{
	const char *bad;
	uint64_t k;

	switch (oldest(r->o, &k, &bad)) {
	case 1:
		r->key = k;
		return 0;
	case 0:
		r->key = 0;
		return 0;
	default:
		if (errno == EINVAL)
			xwarn("%s: not a key file (one decimal key expected)",
			    bad);
		else
			xwarnerr("%s", bad);
		return EXIT_IOERR;
	}
}


int
recvpoll_run(const struct recvpoll_conf *conf, char *token)
{
	struct run r;
	char app[64];
	struct stat sb;
	int st;

	memset(&r, 0, sizeof r);
	r.c = *conf;
	r.o = &r.c;
	r.sf.lockfd = -1;
	r.status = -1;
	if (r.o->checkpoints && r.o->nstates > 0)
		st = startkeys(&r);
	else if (r.o->state)
		st = startkey(&r);
	else
		st = 0;
	if (st != 0) {
		explicit_bzero(token, strlen(token));
		return st;
	}
	if (r.o->have_from)
		r.key = r.o->from;	/* an explicit start wins */
	stats_init(&r.st, r.o->quiet, 1);
	if (savekey(&r) == -1)
		goto out;
	/* With --checkpoints what the pipeline saved may be deleted. */
	r.deleted = r.o->checkpoints ? 0 : r.key;
	r.cur = r.o->limit_count;
	r.cap = r.o->count_fixed ? r.o->limit_count : COUNT_MAX;

	snprintf(app, sizeof app, "flespi-recv/%s", VERSION);
	if (fa_init(&r.fa, r.o->url, r.o->selector, token, app, r.o->cid,
	    r.o->limit_size + (1 << 20)) == -1 || (r.o->cafile != NULL &&
	    fa_cafile(&r.fa, r.o->cafile) == -1)) {
		explicit_bzero(token, strlen(token));
		xwarn("cannot set up libcurl");
		end(&r, EXIT_IOERR, NULL);
		goto out;
	}
	explicit_bzero(token, strlen(token));	/* the headers hold it */
	r.fa.extra_ms = r.o->request_ms;
	r.fa.connect_ms = (long)r.o->connect_ms;
	r.fa.abortable = 1;
	r.fa.watchfd = STDOUT_FILENO;
	backoff_init(&r.bo, (unsigned)r.o->wait_ms, 30000, 0);
	r.outfile = fstat(STDOUT_FILENO, &sb) == 0 && S_ISREG(sb.st_mode);
	if (r.outfile && repairtail() == -1) {
		end(&r, EXIT_IOERR, NULL);
		goto out;
	}
	stop_install();
	health_init(&r.h, &r.o->health, figures, &r);
	r.fa.tick = tick;
	r.fa.tickarg = &r;

	loop(&r);
	/* Every move of the key was saved; this only makes sure of it. */
	if (r.status != EXIT_IOERR)
		savekey(&r);
	if (r.status < 0) {
		finaldelete(&r);
		end(&r, EXIT_OK, r.gone ? "stdout closed by the reader" : NULL);
	}
	if (r.status != EXIT_IOERR)
		totals(&r, r.endwhy);
	r.fa.tick = NULL;
	health_end(&r.h);
out:
	if (r.status < 0)
		r.status = EXIT_OK;
	fa_free(&r.fa);
	while (r.nseen > 0)
		free(r.seen[--r.nseen]);
	state_close(&r.sf);
	curl_global_cleanup();
	return r.status;
}
