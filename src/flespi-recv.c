/*
 * flespi-recv: stream a flespi channel's message buffer to stdout as NDJSON,
 * one message per line, in channel order, each exactly as flespi sent it.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "checkpoint.h"
#include "diag.h"
#include "exits.h"
#include "flespiapi.h"
#include "io.h"
#include "num.h"
#include "recvmqtt.h"
#include "reply.h"
#include "statefile.h"
#include "stats.h"
#include "stdfds.h"
#include "stop.h"
#include "token.h"

struct opts {
	const char     *url;
	const char     *selector;
	const char     *token_file;
	const char     *cid;		/* --cid: act as this subaccount */
	const char     *state;		/* the first --state */
	const char    **states;		/* every --state (--checkpoints) */
	int		nstates;
	int		checkpoints;	/* --checkpoints */
	uint64_t	from;
	int		have_from;
	int		del;
	int		once;
	uint64_t	count;		/* -n; 0 = no limit */
	long long	retries;	/* -1 = unlimited */
	unsigned	timeout;	/* long-poll seconds */
	unsigned	limit_count;
	int		count_fixed;	/* -c given: no adaptation */
	size_t		limit_size;
	long long	request_ms;	/* allowed on top of the long poll */
	long long	wait_ms;	/* first retry delay */
};

#define MAXNOTES	64	/* distinct errors/warnings shown, at most */
/* Protocol violations retried with --once and no --retries, at most. */
#define ONCE_RETRIES	5
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
 * at the known-good -c default and doubles while
 * answers come back full, up to COUNT_MAX (the bound -c accepts) and
 * within --limit-size; an answer asking for less than a quarter of it
 * (the channel is live) halves it again, never below the start.  A 400
 * or an oversized answer to a grown request halves it at once and caps
 * it there for the run: the key has not moved, so nothing is skipped.
 */
#define COUNT_MAX	100000

/* Everything the loop keeps between batches. */
struct run {
	struct opts    *o;
	struct flespiapi fa;
	struct backoff	bo;
	struct stats	st;
	uint64_t	key;		/* everything before it was written */
	uint64_t	saved;		/* the key in the state file */
	uint64_t	deleted;	/* flespi was asked to delete before it */
	uint64_t	total;		/* messages written */
	unsigned	cur;		/* limit_count of the next request */
	unsigned	cap;		/* cur's bound (lowered by a refusal) */
	int		soft;		/* fetch() returns failures, no exit */
	int		outfile;	/* stdout is a regular file */
	char	       *statepath;	/* plain --state, resolved: o->state */
	char	       *seen[MAXNOTES];	/* errors/warnings shown so far */
	int		nseen;
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: %s [options] CHANNEL[,CHANNEL...]\n"
"Stream a flespi channel's message buffer to stdout as NDJSON.\n"
"  --url BASE            API base URL (default https://flespi.io)\n"
"  --token-file FILE     read the token from FILE (default: $FLESPI_TOKEN)\n"
"  --cid ID              act as subaccount ID (x-flespi-cid)\n"
"  --from KEY            start at this key (0: the oldest kept message)\n"
"  --state FILE          resume from and save the key in FILE\n"
"  --checkpoints         write the key after each answer as a line\n"
"                        {\"@checkpoint\":\"KEY\"}; --state is then only read\n"
"                        (may be repeated: resume from the oldest key)\n"
"  --delete              delete from the channel what was written out\n"
"  --once                drain what the channel holds now, then exit\n"
"  -n, --count COUNT     stop after COUNT messages\n"
"  -t, --timeout SECS    long-poll wait per request (default 25)\n"
"  -c, --limit-count N   messages per request (default 1000)\n"
"  --limit-size BYTES    bytes per answer (default 4194304)\n"
"  --request-timeout SECS  allowed beyond the long poll (default 10)\n"
"  --retries N           give up after N failed retries (default: never)\n"
"  --retry-wait SECS     first retry delay, doubling up to 30 (default 0.5)\n"
"  -v, --verbose         log each request on stderr\n"
"  --mqtt                push mode over MQTT instead (see --mqtt --help)\n"
"  -h, --help            this help\n"
"  -V, --version         print the version\n", progname);
}

static uint64_t
key_arg(const char *opt, const char *s)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9' || (v = strtoull(s, &end, 10), *end) ||
	    errno == ERANGE)
		die(EXIT_USAGE, "%s: '%s' is not a key (an unsigned integer)",
		    opt, s);
	return v;
}

static void
parse(int argc, char **argv, struct opts *o)
{
	enum { O_URL = 256, O_TOKFILE, O_CID, O_FROM, O_STATE, O_DELETE, O_ONCE,
	    O_LSIZE, O_REQTO, O_RETRIES, O_WAIT, O_CKPT };
	static const struct option lo[] = {
		{ "url", required_argument, NULL, O_URL },
		{ "token-file", required_argument, NULL, O_TOKFILE },
		{ "cid", required_argument, NULL, O_CID },
		{ "from", required_argument, NULL, O_FROM },
		{ "state", required_argument, NULL, O_STATE },
		{ "checkpoints", no_argument, NULL, O_CKPT },
		{ "delete", no_argument, NULL, O_DELETE },
		{ "once", no_argument, NULL, O_ONCE },
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "limit-count", required_argument, NULL, 'c' },
		{ "limit-size", required_argument, NULL, O_LSIZE },
		{ "request-timeout", required_argument, NULL, O_REQTO },
		{ "retries", required_argument, NULL, O_RETRIES },
		{ "retry-wait", required_argument, NULL, O_WAIT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	memset(o, 0, sizeof *o);
	o->url = "https://flespi.io";
	o->retries = -1;
	o->timeout = 25;
	o->limit_count = 1000;
	o->limit_size = 4 << 20;
	o->request_ms = 10000;
	o->wait_ms = 500;
	if ((o->states = calloc((size_t)argc, sizeof *o->states)) == NULL)
		die(EXIT_IOERR, "out of memory");
	while ((c = getopt_long(argc, argv, "n:t:c:vhV", lo, NULL)) != -1) {
		switch (c) {
		case O_URL:	o->url = optarg; break;
		case O_TOKFILE:	o->token_file = optarg; break;
		case O_CID:
			o->cid = optarg;
			num_arg("--cid", optarg, 1, INT64_MAX);
			break;
		case O_FROM:
			o->from = key_arg("--from", optarg);
			o->have_from = 1;
			break;
		case O_STATE:
			if (*optarg == '\0')
				die(EXIT_USAGE, "--state: empty file name");
			o->states[o->nstates++] = optarg;
			o->state = o->states[0];
			break;
		case O_CKPT:	o->checkpoints = 1; break;
		case O_DELETE:	o->del = 1; break;
		case O_ONCE:	o->once = 1; break;
		case 'n':
			o->count = (uint64_t)num_arg("-n", optarg, 1,
			    INT64_MAX);
			break;
		case 't':
			o->timeout = (unsigned)num_arg("--timeout", optarg, 0,
			    3600);
			break;
		case 'c':
			o->limit_count = (unsigned)num_arg("--limit-count",
			    optarg, 1, 100000);
			o->count_fixed = 1;
			break;
		case O_LSIZE:
			o->limit_size = (size_t)num_arg("--limit-size", optarg,
			    1024, 256 << 20);
			break;
		case O_REQTO:
			o->request_ms = secs_arg("--request-timeout", optarg,
			    100, 3600000);
			break;
		case O_RETRIES:
			o->retries = num_arg("--retries", optarg, 0,
			    INT32_MAX);
			break;
		case O_WAIT:
			o->wait_ms = secs_arg("--retry-wait", optarg, 1,
			    30000);
			break;
		case 'v':	verbose++; break;
		case 'h':
			usage(stdout);
			if (fflush(stdout) == EOF || ferror(stdout))
				dieerr(EXIT_IOERR, "stdout");
			exit(EXIT_OK);
		case 'V':
			printf("flespi-recv %s\n", VERSION);
			if (fflush(stdout) == EOF || ferror(stdout))
				dieerr(EXIT_IOERR, "stdout");
			exit(EXIT_OK);
		default:
			usage(stderr);
			exit(EXIT_USAGE);
		}
	}
	if (argc - optind != 1) {
		xwarn("expected one CHANNEL argument (a selector like 1234 "
		    "or 1234,5678)");
		usage(stderr);
		exit(EXIT_USAGE);
	}
	if (o->nstates > 1 && !o->checkpoints)
		die(EXIT_USAGE, "--state given %d times: only --checkpoints "
		    "reads several key files (one per branch of a tee)",
		    o->nstates);
	/*
	 * flespi deletes everything before the key, written by us or not;
	 * with --checkpoints only what the end of the pipeline saved is.
	 */
	if (o->del && o->checkpoints && o->nstates == 0)
		die(EXIT_USAGE, "--delete --checkpoints deletes up to the key "
		    "the end of the pipeline saves: name its file with --state");
	if (o->del && o->checkpoints && o->have_from)
		die(EXIT_USAGE, "--delete --checkpoints deletes up to the keys "
		    "in the --state files; with --from they would not describe "
		    "this run's output");
	if (o->del && !o->checkpoints && o->have_from && o->from > 0)
		die(EXIT_USAGE, "--delete with --from %" PRIu64 " would delete "
		    "the messages before it, which were never written out",
		    o->from);
	o->selector = argv[optind];
	if (*o->selector == '\0')
		die(EXIT_USAGE, "empty CHANNEL");
}

/* Sleep ms milliseconds, or less when a stop is requested. */
static void
nap(unsigned ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (!stop_requested && nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * The oldest key saved in the --state files (with --checkpoints, by the
 * end of the pipeline).  Returns 1 and *key; 0 when a file does not exist
 * yet (that branch has saved nothing: the oldest key of all is "none");
 * -1 with errno when one cannot be read.  *bad names the file then.
 */
static int
oldest(const struct opts *o, uint64_t *key, const char **bad)
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
static void
savekey(struct run *r)
{
	if (r->o->state == NULL || r->o->checkpoints || r->key == r->saved)
		return;
	if (r->outfile && fdatasync(STDOUT_FILENO) == -1)
		dieerr(EXIT_IOERR, "stdout");
	if (state_save(r->o->state, r->key) == -1)
		dieerr(EXIT_IOERR, "%s: cannot save key %" PRIu64,
		    r->o->state, r->key);
	r->saved = r->key;
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
		    "%zu messages, %u were asked for", rp->count,
		    q->limit_count);
	else if (rp->next_key < q->curr_key)
		snprintf(why, whylen, "protocol violation: next_key %" PRIu64
		    " goes backwards from %" PRIu64, rp->next_key,
		    q->curr_key);
	else if (rp->count > 0 && rp->next_key == q->curr_key)
		snprintf(why, whylen, "protocol violation: next_key %" PRIu64
		    " does not move on past %zu messages", rp->next_key,
		    rp->count);
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

/*
 * One request, retried with backoff until it gives a usable answer.
 * Returns FA_OK with *rp filled in, or FA_STOPPED; gives up with exit 69
 * (refused) or 75 (retries exhausted), saving the key first -- or, when
 * r->soft, returns FA_REFUSED or FA_RETRY instead.  A grown request
 * that is refused as too large is made smaller (fallback()), so q's
 * limit_count may be lower on return.
 */
static int
fetch(struct run *r, struct fa_req *q, struct reply *rp)
{
	char why[512], whybuf[256];
	const char *bad;
	long long failures = 0, limit;
	int64_t t0;
	int s, violation;
	unsigned d;

	for (;;) {
		t0 = mono_ms();
		s = fa_get(&r->fa, q, why, sizeof why);
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
		if (s == FA_OK)
			shownotes(r, rp);
		if (verbose) {
			stats_end(&r->st);
			vlog("GET %.*s curr_key=%" PRIu64 " limit_count=%u "
			    "timeout=%u%s: %ld, %zu messages, %zu bytes, "
			    "%" PRId64 " ms%s%s",
			    (int)(strlen(r->fa.urlbase) - strlen("?data=")),
			    r->fa.urlbase, q->curr_key,
			    q->limit_count, q->timeout, q->del ? " delete" : "",
			    r->fa.status, s == FA_OK ? rp->count : 0,
			    r->fa.len, mono_ms() - t0, s == FA_OK ? "" : ": ",
			    s == FA_OK ? "" : why);
		}
		if (s == FA_OK) {
			backoff_reset(&r->bo);
			return FA_OK;
		}
		if (s == FA_STOPPED)
			return s;
		if (((s == FA_REFUSED && r->fa.status == 400) ||
		    (s == FA_RETRY && r->fa.too_large)) && fallback(r, q, why))
			continue;
		stats_end(&r->st);
		/*
		 * --once must end: a server that keeps breaking the protocol
		 * is given up on even when --retries was not given.
		 */
		limit = r->o->retries;
		if (limit < 0 && violation && r->o->once)
			limit = ONCE_RETRIES;
		if (r->soft && (s == FA_REFUSED || (limit >= 0 &&
		    failures >= limit))) {
			xwarn("channel %s: %s", r->o->selector, why);
			return s;
		}
		if (s == FA_REFUSED) {
			savekey(r);
			die(EXIT_REFUSED, "channel %s: %s", r->o->selector,
			    why);
		}
		if (limit >= 0 && failures >= limit) {
			savekey(r);
			die(EXIT_TEMPFAIL, "channel %s: %s; gave up after "
			    "%lld retries", r->o->selector, why, failures);
		}
		failures++;
		d = backoff_next(&r->bo);
		/* A server's Retry-After is honoured, up to five minutes. */
		if (r->fa.retry_after > 0 && (unsigned long)r->fa.retry_after *
		    1000 > d)
			d = r->fa.retry_after > 300 ? 300000 :
			    (unsigned)r->fa.retry_after * 1000;
		xwarn("channel %s: %s; retry %lld in %u ms", r->o->selector,
		    why, failures, d);
		nap(d);
		if (stop_requested && r->fa.abortable)
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
		xwarn("cannot find the key after %zu messages; they will be "
		    "read again", k);
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
	char why[512];
	int s;

	s = fa_get(&r->fa, &q, why, sizeof why);
	vlog("delete before key %" PRIu64 ": %ld%s%s", key, r->fa.status,
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
			/* Writable: at least PIPE_BUF bytes fit without a wait. */
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
 * Write buf to stdout.  Returns, or exits after saving what was written:
 * 0 when the reader went away or a stop ended a blocked write, 74 on an
 * output error.
 */
static void
emit(struct run *r, const char *buf, size_t len)
{
	size_t done = 0, k;
	int err;

	if (writeout(buf, len, &done) == 0)
		return;
	err = errno;
	stats_end(&r->st);
	k = reply_lines_in(buf, done);
	r->total += k;
	/* With --checkpoints no key is saved here: no need to find it. */
	if (!r->o->checkpoints)
		partial(r, k);
	finaldelete(r);
	savekey(r);
	if (err == EPIPE) {
		/* The reader went away: a normal end for a producer. */
		vlog("stdout closed by the reader after %" PRIu64
		    " messages; key %" PRIu64, r->total, r->key);
		exit(EXIT_OK);
	}
	if (err == EINTR) {
		vlog("stopped while stdout was not read, after %" PRIu64
		    " messages; key %" PRIu64, r->total, r->key);
		exit(EXIT_OK);
	}
	errno = err;
	dieerr(EXIT_IOERR, "stdout");
}

static void
loop(struct run *r)
{
	struct opts *o = r->o;
	struct fa_req q;
	struct reply rp;
	uint64_t left, d;
	char ck[CHECKPOINT_MAX];
	int64_t now, t0;

	for (;;) {
		if (stop_requested)
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
		if (fetch(r, &q, &rp) == FA_STOPPED)
			break;
		if (q.del)
			r->deleted = r->key;
		resize(r, &q, &rp);
		if (rp.count > 0)
			emit(r, rp.lines, rp.len);
		r->total += rp.count;
		/* The key after the lines, whenever it moved on. */
		if (o->checkpoints && rp.next_key != r->key)
			emit(r, ck, checkpoint_format(ck, rp.next_key));
		r->key = rp.next_key;
		savekey(r);
		now = mono_ms();
		if (stats_due(&r->st, now))
			stats_show(&r->st, "%" PRIu64 " messages, %.0f msg/s, "
			    "key %" PRIu64, r->total, (double)r->total * 1000.0 /
			    (double)(now - r->st.start_ms + 1), r->key);
		if (o->once && rp.count == 0)
			break;
		/*
		 * An empty answer at once (-t 0, or a server that does not
		 * long-poll): wait before asking again, not a hot loop.
		 */
		if (rp.count == 0 && (now = mono_ms() - t0) < EMPTY_MIN_MS)
			nap((unsigned)(EMPTY_MIN_MS - now));
	}
}

/*
 * A regular file on stdout whose last line has no newline holds a line
 * torn by an earlier run (a full disk, SIGKILL mid-write).  Appending to
 * it would glue our first message onto it and corrupt both: cut the file
 * back to its last newline first, and say so.  (That message's key was
 * not saved: it comes again whole.)  Only when we write at the file's end.
 */
static void
repairtail(void)
{
	struct stat sb;
	char buf[4096];
	off_t pos, cut = 0;
	ssize_t n, i;
	int fd, fl;

	if (fstat(STDOUT_FILENO, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size == 0 || (fl = fcntl(STDOUT_FILENO, F_GETFL)) == -1)
		return;
	if (!(fl & O_APPEND) && lseek(STDOUT_FILENO, 0, SEEK_CUR) !=
	    sb.st_size)
		return;
	/* stdout is write-only: read the same file through /proc. */
	if ((fd = open("/proc/self/fd/1", O_RDONLY | O_CLOEXEC)) == -1) {
		xwarnerr("stdout: cannot check for a torn last line");
		return;
	}
	for (pos = sb.st_size; pos > 0 && cut == 0; pos -= n) {
		n = pos < (off_t)sizeof buf ? (ssize_t)pos : (ssize_t)sizeof buf;
		if (pread(fd, buf, (size_t)n, pos - n) != n) {
			xwarnerr("stdout: cannot check for a torn last line");
			close(fd);
			return;
		}
		for (i = n; i > 0; i--)
			if (buf[i - 1] == '\n') {
				cut = pos - n + i;
				break;
			}
	}
	close(fd);
	if (cut == sb.st_size)
		return;
	if (ftruncate(STDOUT_FILENO, cut) == -1 ||
	    (!(fl & O_APPEND) && lseek(STDOUT_FILENO, cut, SEEK_SET) == -1))
		dieerr(EXIT_IOERR, "stdout: cannot cut off its torn last line");
	xwarn("stdout: its last line was torn (%jd bytes without a newline, "
	    "from an earlier run): cut off", (intmax_t)(sb.st_size - cut));
}

/*
 * Plain --state: take the file's lock for the run (a second run on the
 * same file would race this one), then read the key.
 */
static void
startkey(struct run *r)
{
	char *path;
	uint64_t k;

	/* A --state that is a link: the key goes to its target, deliberately. */
	if ((path = state_resolve(r->o->state)) == NULL)
		dieerr(EXIT_IOERR, "%s", r->o->state);
	r->o->state = r->statepath = path;

	if (state_lock(path) == -1) {
		if (errno == EWOULDBLOCK)
			die(EXIT_LOCKED, "%s: another run is using this state "
			    "file (%s.lock is locked); not starting", path,
			    path);
		dieerr(EXIT_IOERR, "%s.lock", path);
	}
	switch (state_load(path, &k)) {
	case 1:
		r->key = r->saved = k;
		break;
	case 0:
		/* Fail now, not after a batch, if it cannot be saved. */
		r->saved = UINT64_MAX;
		break;
	default:
		if (errno == EINVAL)
			die(EXIT_IOERR, "%s: not a key file (one decimal key "
			    "expected)", path);
		dieerr(EXIT_IOERR, "%s", path);
	}
}

/*
 * --checkpoints: start from the oldest key among the --state files, which
 * the forwarders at the ends of the pipeline write (and lock); a file that
 * does not exist yet means "from the start".  Nothing is locked or written.
 */
static void
startkeys(struct run *r)
{
	const char *bad;
	uint64_t k;

	switch (oldest(r->o, &k, &bad)) {
	case 1:
		r->key = k;
		break;
	case 0:
		r->key = 0;
		break;
	default:
		if (errno == EINVAL)
			die(EXIT_IOERR, "%s: not a key file (one decimal key "
			    "expected)", bad);
		dieerr(EXIT_IOERR, "%s", bad);
	}
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct run r;
	static char token[1024];	/* static: never leaked, wiped below */
	char app[64];
	struct stat sb;
	struct rlimit nocore = { 0, 0 };
	int fd;

	/*
	 * Before anything can be opened: a closed stdout would be taken by
	 * libcurl's or libmosquitto's socketpair, and messages "written" there.
	 */
	diag_init(argv[0]);
	if (stdfds_check(&fd) == -1)
		die(EXIT_IOERR, "file descriptor %d (%s) is closed: not starting",
		    fd, fd == 0 ? "stdin" : fd == 1 ? "stdout" : "stderr");

	/* The token will be in memory: no core dump of ours may hold it. */
	setrlimit(RLIMIT_CORE, &nocore);

	/* flespi-recv --mqtt: MQTT push mode, in recvmqtt.c (its own options). */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--mqtt") == 0)
			return recv_mqtt_main(argc, argv);

	diag_init(argv[0]);
	parse(argc, argv, &o);
	switch (fa_cleartext(o.url)) {
	case 1:
		xwarn("warning: %s is not https: the token goes out in clear",
		    o.url);
		break;
	case -1:
		die(EXIT_USAGE, "--url: '%s' is not a URL", o.url);
	}
	token_get(o.token_file, token, sizeof token);

	memset(&r, 0, sizeof r);
	r.o = &o;
	if (o.checkpoints && o.nstates > 0)
		startkeys(&r);
	else if (o.state)
		startkey(&r);
	if (o.have_from)
		r.key = o.from;		/* an explicit start wins */
	savekey(&r);
	/* With --checkpoints what the pipeline saved may be deleted. */
	r.deleted = o.checkpoints ? 0 : r.key;
	r.cur = o.limit_count;
	r.cap = o.count_fixed ? o.limit_count : COUNT_MAX;

	snprintf(app, sizeof app, "flespi-recv/%s", VERSION);
	if (fa_init(&r.fa, o.url, o.selector, token, app, o.cid,
	    o.limit_size + (1 << 20)) == -1)
		die(EXIT_IOERR, "cannot set up libcurl");
	explicit_bzero(token, sizeof token);
	r.fa.extra_ms = o.request_ms;
	r.fa.abortable = 1;
	backoff_init(&r.bo, (unsigned)o.wait_ms, 30000, 0);
	stats_init(&r.st, 0, 1);
	r.outfile = fstat(STDOUT_FILENO, &sb) == 0 && S_ISREG(sb.st_mode);
	if (r.outfile)
		repairtail();
	stop_install();

	loop(&r);
	finaldelete(&r);
	savekey(&r);
	if (r.st.shown)
		stats_show(&r.st, "%" PRIu64 " messages, key %" PRIu64,
		    r.total, r.key);
	stats_end(&r.st);
	vlog("%" PRIu64 " messages written; key %" PRIu64, r.total, r.key);
	fa_free(&r.fa);
	curl_global_cleanup();
	while (r.nseen > 0)
		free(r.seen[--r.nseen]);
	free(r.statepath);
	free(o.states);
	return EXIT_OK;
}
