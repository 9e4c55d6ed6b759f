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
#include "tlsfiles.h"
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
	long long	connect_ms;	/* --connect-timeout */
	const char     *cafile;		/* --cafile, --cacert */
	int		quiet;		/* -q: no progress line */
};

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

static const char synopsis[] =
"usage: flespi-recv [options] CHANNEL[,CHANNEL...]\n"
"       flespi-recv --mqtt [options] CHANNEL[,CHANNEL...]\n";

static const char poll_help[] =
"Stream a flespi channel's message buffer to stdout as NDJSON.\n"
"CHANNEL is a channel id, a comma list of ids, or all (+ works too).\n"
"  --url BASE            API base URL (default https://flespi.io)\n"
"  --token-file FILE     read the token from FILE (default: $FLESPI_TOKEN)\n"
"  --cafile FILE         trust the CA certificates in FILE (default: the\n"
"                        system store); --cacert FILE is the same\n"
"  --cid ID              act as subaccount ID (x-flespi-cid)\n"
"  --from KEY            start at this key (0: the oldest kept message)\n"
"  --state FILE          resume from and save the key in FILE\n"
"  --checkpoints         write the key after each answer as a line\n"
"                        {\"@checkpoint\":\"KEY\"}; --state is then only read\n"
"                        (may be repeated: resume from the oldest key)\n"
"  --delete              delete from the channel what was written out\n"
"  --once                drain what the channel holds now, then exit\n"
"  -n, --count COUNT     stop after COUNT messages\n"
"  --timeout SECS        long-poll wait per request (default 25)\n"
"  --limit-count N       messages per request, fixed (default: from 1000,\n"
"                        growing while answers come back full)\n"
"  --limit-size BYTES    bytes per answer (default 4194304)\n"
"  --request-timeout SECS  allowed beyond the long poll (default 10)\n"
"  --connect-timeout SECS  TCP and TLS connect, per attempt (default 10)\n"
"  --retries N           give up after N failed retries (default: never)\n"
"  --retry-wait SECS     first retry delay, doubling up to 30 (default 0.5)\n"
"  -q, --quiet           no progress line on stderr\n"
"  -v, --verbose         log each request on stderr\n"
"  --mqtt                push mode over MQTT instead (see --mqtt --help)\n"
"  -h, --help            this help\n"
"  -V, --version         print the version\n";

static const char mqtt_help[] =
"Receive flespi channel messages pushed over MQTT; write them as NDJSON.\n"
"CHANNEL is a channel id, a comma list of ids, or all (+ works too).\n"
"  --token-file FILE     read the token from FILE (default: $FLESPI_TOKEN)\n"
"  --url mqtts://HOST[:PORT]  broker (default " RECVMQTT_URL ")\n"
"  --cafile FILE         trust the CA certificates in FILE\n"
"                        (default: the system store " RECVMQTT_CAPATH ");\n"
"                        --cacert FILE is the same\n"
"  --session NAME        persistent session with client id NAME: messages\n"
"                        published while away are delivered on return\n"
"  --session-expiry SECS how long the broker keeps the session (MQTT 5,\n"
"                        default 86400)\n"
"  --share GROUP         shared subscription: the group's consumers split\n"
"                        the stream\n"
"  --sticky              with --share: each device stays on one consumer\n"
"  --filter EXPR         flespi expression evaluated by the broker\n"
"  --mqtt-version V      5 (default) or 3.1.1\n"
"  -n, --count COUNT     exit after COUNT messages\n"
"  --connect-timeout SECS  TCP, TLS and CONNACK, per attempt (default 30)\n"
"  --retries N           give up after N failed retries in a row, exit 75\n"
"                        (default: never)\n"
"  --retry-wait SECS     first reconnect delay, doubling up to 60\n"
"                        (default 1)\n"
"  -q, --quiet           no progress line on stderr\n"
"  -v, --verbose         log connections (twice: library log)\n"
"  -h, --help            this help\n"
"  -V, --version         print the version\n";

/* --help (help text given) and --version: stdout, checked, exit 0. */
static void __attribute__((noreturn))
info(const char *help)
{
	if (help != NULL)
		printf("%s%s", synopsis, help);
	else
		printf("flespi-recv %s\n", VERSION);
	if (fflush(stdout) == EOF || ferror(stdout))
		dieerr(EXIT_IOERR, "stdout");
	exit(EXIT_OK);
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

/* The long-only options of both modes. */
enum { O_URL = 256, O_TOKFILE, O_CAFILE, O_RETRIES, O_WAIT, O_CONNTO,
    O_MQTT, O_CKPT,
    /* polling */
    O_CID, O_FROM, O_STATE, O_DELETE, O_ONCE, O_TIMEOUT, O_LCOUNT, O_LSIZE,
    O_REQTO,
    /* push */
    O_SESSION, O_EXPIRY, O_SHARE, O_STICKY, O_FILTER, O_MQTTVER };

#define COMMON_OPTS \
	{ "url", required_argument, NULL, O_URL }, \
	{ "token-file", required_argument, NULL, O_TOKFILE }, \
	{ "cafile", required_argument, NULL, O_CAFILE }, \
	{ "cacert", required_argument, NULL, O_CAFILE }, \
	{ "count", required_argument, NULL, 'n' }, \
	{ "retries", required_argument, NULL, O_RETRIES }, \
	{ "retry-wait", required_argument, NULL, O_WAIT }, \
	{ "connect-timeout", required_argument, NULL, O_CONNTO }, \
	{ "checkpoints", no_argument, NULL, O_CKPT }, \
	{ "mqtt", no_argument, NULL, O_MQTT }, \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "help", no_argument, NULL, 'h' }, \
	{ "version", no_argument, NULL, 'V' }

/*
 * An option both modes take: store it in o.  Returns 1 when c was one
 * of them, else 0.  A bad value exits 64.
 */
static int
common_opt(struct opts *o, int c, const char *arg)
{
	switch (c) {
	case O_URL:	o->url = arg; break;
	case O_TOKFILE:	o->token_file = arg; break;
	case O_CAFILE:	o->cafile = arg; break;
	case O_MQTT:	break;
	case 'n':
		o->count = (uint64_t)num_arg("--count", arg, 1, INT64_MAX);
		break;
	case O_RETRIES:
		o->retries = num_arg("--retries", arg, 0, INT32_MAX);
		break;
	case O_WAIT:
		o->wait_ms = secs_arg("--retry-wait", arg, 1, 30000);
		break;
	case O_CONNTO:
		o->connect_ms = secs_arg("--connect-timeout", arg, 10,
		    3600000);
		break;
	case 'q':	o->quiet = 1; break;
	case 'v':	verbose++; break;
	default:
		return 0;
	}
	return 1;
}

/* The one CHANNEL argument; all and + both mean every channel. */
static const char *
channel_arg(int argc, char **argv)
{
	if (argc - optind != 1) {
		xwarn(optind == argc ? "no CHANNEL given (a channel id like "
		    "1234, a comma list like 1234,5678, or all)" : "one "
		    "CHANNEL argument expected (a comma list for several)");
		usage_fail(synopsis);
	}
	if (*argv[optind] == '\0')
		die(EXIT_USAGE, "empty CHANNEL");
	return argv[optind];
}

/*
 * A --cafile that cannot serve (unreadable, a directory, no certificate
 * in it) is our mistake, not the peer refusing: 64 before connecting.
 */
static void
check_cafile(const char *path)
{
	char why[512];

	if (tlsfiles_check(path, NULL, NULL, why, sizeof why) == -1)
		die(EXIT_USAGE, "%s", why);
}

/* The command line of polling mode. */
static void
parse_poll(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		COMMON_OPTS,
		{ "cid", required_argument, NULL, O_CID },
		{ "from", required_argument, NULL, O_FROM },
		{ "state", required_argument, NULL, O_STATE },
		{ "delete", no_argument, NULL, O_DELETE },
		{ "once", no_argument, NULL, O_ONCE },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "limit-count", required_argument, NULL, O_LCOUNT },
		{ "limit-size", required_argument, NULL, O_LSIZE },
		{ "request-timeout", required_argument, NULL, O_REQTO },
		{ NULL, 0, NULL, 0 }
	};
	static int warned_t, warned_c;
	int c;

	while ((c = getopt_long(argc, argv, "n:t:c:qvhV", lo, NULL)) != -1) {
		if (common_opt(o, c, optarg))
			continue;
		switch (c) {
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
		case 't':
			deprecated(&warned_t, "-t", "--timeout");
			/* FALLTHROUGH */
		case O_TIMEOUT:
			o->timeout = (unsigned)num_arg("--timeout", optarg, 0,
			    3600);
			break;
		case 'c':
			deprecated(&warned_c, "-c", "--limit-count");
			/* FALLTHROUGH */
		case O_LCOUNT:
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
		case 'h':	info(poll_help);
		case 'V':	info(NULL);
		default:
			usage_fail(synopsis);
		}
	}
	o->selector = channel_arg(argc, argv);
	/* flespi's own selector for every channel is "all". */
	if (strcmp(o->selector, "+") == 0)
		o->selector = "all";
	check_cafile(o->cafile);
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
}

/* The command line of push mode (--mqtt), into mq. */
static void
parse_mqtt(int argc, char **argv, struct opts *o, struct recvmqtt_conf *mq)
{
	static const struct option lo[] = {
		COMMON_OPTS,
		{ "session", required_argument, NULL, O_SESSION },
		{ "session-expiry", required_argument, NULL, O_EXPIRY },
		{ "share", required_argument, NULL, O_SHARE },
		{ "sticky", no_argument, NULL, O_STICKY },
		{ "filter", required_argument, NULL, O_FILTER },
		{ "mqtt-version", required_argument, NULL, O_MQTTVER },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	memset(mq, 0, sizeof *mq);
	mq->mqtt5 = 1;
	o->url = RECVMQTT_URL;
	o->wait_ms = 1000;
	o->connect_ms = 30000;
	while ((c = getopt_long(argc, argv, "n:qvhV", lo, NULL)) != -1) {
		if (common_opt(o, c, optarg))
			continue;
		switch (c) {
		case O_SESSION:	mq->session = optarg; break;
		case O_EXPIRY:
			mq->expiry = num_arg("--session-expiry", optarg, 1,
			    UINT32_MAX);
			break;
		case O_SHARE:	mq->share = optarg; break;
		case O_STICKY:	mq->sticky = 1; break;
		case O_FILTER:	mq->filter = optarg; break;
		case O_MQTTVER:
			if (strcmp(optarg, "5") == 0)
				mq->mqtt5 = 1;
			else if (strcmp(optarg, "3.1.1") == 0)
				mq->mqtt5 = 0;
			else
				die(EXIT_USAGE, "--mqtt-version: '%s' is not 5 "
				    "or 3.1.1", optarg);
			break;
		case O_CKPT:
			/*
			 * A PUBACK would have to wait for the end of the
			 * pipeline, which cannot answer back through a pipe.
			 */
			die(EXIT_USAGE, "--checkpoints is for polling mode: "
			    "with --mqtt a message is acknowledged to the "
			    "broker once its line is written, and cannot wait "
			    "for the end of the pipeline to deliver it");
		case 'h':	info(mqtt_help);
		case 'V':	info(NULL);
		default:
			usage_fail(synopsis);
		}
	}
	mq->channels = channel_arg(argc, argv);
	/* MQTT's wildcard for every channel is "+". */
	if (strcmp(mq->channels, "all") == 0)
		mq->channels = "+";
	if (!recvmqtt_channels_ok(mq->channels))
		die(EXIT_USAGE, "'%s': CHANNEL must be channel ids separated "
		    "by commas, or all", mq->channels);
	if (mq->share && !recvmqtt_group_ok(mq->share))
		die(EXIT_USAGE, "--share: '%s' must be non-empty without "
		    "'/', '+', '#' or ':'", mq->share);
	if (mq->sticky && !mq->share)
		die(EXIT_USAGE, "--sticky needs --share GROUP");
	if (mq->filter && *mq->filter == '\0')
		die(EXIT_USAGE, "--filter: empty expression");
	if (mq->expiry && !mq->session)
		die(EXIT_USAGE, "--session-expiry needs --session NAME");
	if (mq->expiry && !mq->mqtt5)
		die(EXIT_USAGE, "--session-expiry needs MQTT 5");
	if (mq->session && (*mq->session == '\0' ||
	    strlen(mq->session) > 65535))
		die(EXIT_USAGE, "--session: bad name");
	if (mq->session && mq->expiry == 0)
		mq->expiry = 86400;
	if (recvmqtt_url(o->url, mq->host, sizeof mq->host, &mq->port) == -1)
		die(EXIT_USAGE, "--url: '%s' is not mqtts://HOST[:PORT] (TLS "
		    "only: the token must not cross the network in clear)",
		    o->url);
	check_cafile(o->cafile);
	mq->cafile = o->cafile;
	mq->count = (long long)o->count;
	mq->retries = o->retries;
	mq->retry_wait_ms = o->wait_ms;
	mq->connect_ms = o->connect_ms;
	mq->quiet = o->quiet;
}

/*
 * The command line: --mqtt anywhere (before a "--") selects push mode,
 * whose options differ.  Returns 1 for push mode (mq filled in), else 0.
 */
static int
parse(int argc, char **argv, struct opts *o, struct recvmqtt_conf *mq)
{
	int i;

	memset(o, 0, sizeof *o);
	o->url = "https://flespi.io";
	o->retries = -1;
	o->timeout = 25;
	o->limit_count = 1000;
	o->limit_size = 4 << 20;
	o->request_ms = 10000;
	o->wait_ms = 500;
	o->connect_ms = 10000;
	if ((o->states = calloc((size_t)argc, sizeof *o->states)) == NULL)
		die(EXIT_IOERR, "out of memory");
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--mqtt") == 0) {
			parse_mqtt(argc, argv, o, mq);
			return 1;
		}
	parse_poll(argc, argv, o);
	return 0;
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
 * Retries ran out: save the key, say so in the one wording of every tool
 * (then more), show the totals and exit 75.
 */
static void __attribute__((noreturn))
giveup(struct run *r, long long failures, const char *why, const char *more)
{
	char who[300], msg[900];

	savekey(r);
	snprintf(who, sizeof who, "channel %s", r->o->selector);
	xwarn("%s%s", giveup_text(msg, sizeof msg, who, failures, why), more);
	totals(r, NULL);
	exit(EXIT_TEMPFAIL);
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
	char why[512], whybuf[256], st[32], once[160], more[200];
	const char *bad;
	long long failures = 0, limit;
	int64_t t0, first_fail = 0;
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
		if (s == FA_RETRY && r->fa.too_large)
			snprintf(why, sizeof why, "answer longer than %zu bytes "
			    "(--limit-size %zu and 1 MiB to spare): raise "
			    "--limit-size if one message is that big",
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
		if (s == FA_STOPPED)
			return s;
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
			savekey(r);
			xwarn("channel %s: %s", r->o->selector, why);
			totals(r, NULL);
			exit(EXIT_REFUSED);
		}
		if (limit >= 0 && failures >= limit)
			giveup(r, failures, why, once);
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
			giveup(r, failures, why, more);
		}
		failures++;
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
		totals(r, "stdout closed by the reader");
		exit(EXIT_OK);
	}
	if (err == EINTR) {
		totals(r, "stopped while stdout was not read");
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
			stats_show(&r->st, "%" PRIu64 " message%s, %.0f msg/s, "
			    "key %" PRIu64, r->total, plural(r->total),
			    (double)r->total * 1000.0 /
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
	struct recvmqtt_conf mq;
	struct run r;
	static char token[4096];	/* static: never leaked, wiped below */
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

	/* flespi-recv --mqtt: MQTT push mode, in recvmqtt.c. */
	if (parse(argc, argv, &o, &mq)) {
		free(o.states);
		token_get(o.token_file, token, sizeof token);
		return recvmqtt_run(&mq, token);
	}
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
	r.fa.connect_ms = (long)o.connect_ms;
	if (o.cafile != NULL && fa_cafile(&r.fa, o.cafile) == -1)
		die(EXIT_IOERR, "cannot set up libcurl");
	r.fa.abortable = 1;
	backoff_init(&r.bo, (unsigned)o.wait_ms, 30000, 0);
	stats_init(&r.st, o.quiet, 1);
	r.outfile = fstat(STDOUT_FILENO, &sb) == 0 && S_ISREG(sb.st_mode);
	if (r.outfile)
		repairtail();
	stop_install();

	loop(&r);
	finaldelete(&r);
	savekey(&r);
	totals(&r, NULL);
	fa_free(&r.fa);
	curl_global_cleanup();
	while (r.nseen > 0)
		free(r.seen[--r.nseen]);
	free(r.statepath);
	free(o.states);
	return EXIT_OK;
}
