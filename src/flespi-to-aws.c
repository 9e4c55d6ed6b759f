/*
 * flespi-to-aws: publish flespi messages (NDJSON on stdin) to AWS IoT Core
 * over MQTT with mutual TLS.  One thread, one poll() loop over stdin and
 * every MQTT connection; each message goes to the connection chosen by a
 * hash of its ident, so a device's messages stay in order.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mosquitto.h>

#include "diag.h"
#include "exits.h"
#include "io.h"
#include "jscan.h"
#include "lineread.h"
#include "mqttconn.h"
#include "msgin.h"
#include "num.h"
#include "stats.h"
#include "stop.h"
#include "topic.h"

#define PAYLOAD_MAX	(128 * 1024)	/* AWS: 128 KB a publish */
#define CONNS_MAX	64
#define KEYS_MAX	(2 + 32)	/* ident, timestamp, topic fields */

static const char usage_text[] =
"usage: flespi-to-aws --endpoint HOST --cafile FILE --cert FILE --key FILE\n"
"           [--port N] [--topic TEMPLATE] [--qos 0|1] [--rate N]\n"
"           [--connections N] [--client-id ID] [--mqtt 3.1.1|5]\n"
"           [--keepalive SECS] [--window N] [--ack-timeout SECS]\n"
"           [--retries N] [--drain-timeout SECS] [--failed FILE]\n"
"           [--max-line BYTES] [--strict] [-v] [-h] [-V]\n";

static const char help_text[] =
"Publish flespi messages (NDJSON on stdin) to AWS IoT Core over MQTT.\n"
"\n"
"  -e, --endpoint HOST      AWS IoT data endpoint (xxx-ats.iot.REGION.amazonaws.com)\n"
"  -p, --port N             8883 (default) or 443 (ALPN x-amzn-mqtt-ca)\n"
"      --cafile FILE        CA certificates to verify the endpoint (AmazonRootCA1.pem)\n"
"      --cert FILE          the thing's certificate (PEM)\n"
"      --key FILE           its private key (PEM)\n"
"  -t, --topic TEMPLATE     topic, fields in braces; default {ident}\n"
"  -q, --qos 0|1            default 1 (at least once)\n"
"  -r, --rate N             publishes a second per connection; default 100, 0 = no limit\n"
"  -c, --connections N      connections, messages sharded by ident; default 1\n"
"  -i, --client-id ID       default flespi-to-aws-HOSTNAME-PID (-0, -1... per connection)\n"
"      --mqtt 3.1.1|5       protocol version; default 3.1.1\n"
"  -k, --keepalive SECS     30..1200; default 60\n"
"  -w, --window N           messages awaiting PUBACK per connection, 1..100; default 100\n"
"      --ack-timeout SECS   reconnect when a PUBACK is this late; default 10\n"
"      --retries N          retries of a failed connection before giving up\n"
"                           (exit 75); default: never give up\n"
"      --drain-timeout SECS after SIGINT/SIGTERM, keep delivering this long; default 10\n"
"      --failed FILE        append bad and undelivered lines to FILE\n"
"      --max-line BYTES     longest input line; default 131072\n"
"      --strict             stop at the first bad input line\n"
"  -v, --verbose            log connections and throttling (-vv: libmosquitto too)\n"
"  -h, --help               this help\n"
"  -V, --version            the version\n"
"\n"
"Exit status: 0 all delivered, 64 usage, 65 bad input lines skipped,\n"
"69 refused by the endpoint (TLS, certificate, CONNACK), 74 local I/O error,\n"
"75 undelivered messages (gave up, or stopped by a signal).\n";

enum { OPT_CAFILE = 256, OPT_CERT, OPT_KEY, OPT_MQTT, OPT_ACK, OPT_RETRIES,
	OPT_DRAIN, OPT_FAILED, OPT_MAXLINE, OPT_STRICT };

static const struct option longopts[] = {
	{ "endpoint",		required_argument, NULL, 'e' },
	{ "port",		required_argument, NULL, 'p' },
	{ "cafile",		required_argument, NULL, OPT_CAFILE },
	{ "cert",		required_argument, NULL, OPT_CERT },
	{ "key",		required_argument, NULL, OPT_KEY },
	{ "topic",		required_argument, NULL, 't' },
	{ "qos",		required_argument, NULL, 'q' },
	{ "rate",		required_argument, NULL, 'r' },
	{ "connections",	required_argument, NULL, 'c' },
	{ "client-id",		required_argument, NULL, 'i' },
	{ "mqtt",		required_argument, NULL, OPT_MQTT },
	{ "keepalive",		required_argument, NULL, 'k' },
	{ "window",		required_argument, NULL, 'w' },
	{ "ack-timeout",	required_argument, NULL, OPT_ACK },
	{ "retries",		required_argument, NULL, OPT_RETRIES },
	{ "drain-timeout",	required_argument, NULL, OPT_DRAIN },
	{ "failed",		required_argument, NULL, OPT_FAILED },
	{ "max-line",		required_argument, NULL, OPT_MAXLINE },
	{ "strict",		no_argument,	   NULL, OPT_STRICT },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

struct opts {
	struct mconf	cf;
	const char     *topic;
	const char     *client_id;
	const char     *failed;
	unsigned	nconns;
	size_t		maxline;
	int64_t		drain_ms;
	int		strict;
};

/* A message read and checked but not yet handed to its connection. */
struct pending {
	int		valid;
	const char     *line;		/* in the line reader's buffer */
	size_t		len;
	uint64_t	lineno;
	unsigned	conn;
	char		topic[TOPIC_BUFSZ];
};

static struct msgin in;
static struct mconn conns[CONNS_MAX];
static unsigned nconns;
static struct topic *topic;
static struct pending pend;
static uint64_t undelivered;
/* The fast path's keys: ident, timestamp, then the topic's fields. */
static const char *fkeys[KEYS_MAX];
static size_t nfkeys;
static struct jspan spans[KEYS_MAX];

static int	fast(void *, struct msg *);

static void
usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

/* The three TLS files must be readable: say which one is not, now. */
static void
check_file(const char *opt, const char *path)
{
	FILE *f;

	if (path == NULL)
		die(EXIT_USAGE, "%s FILE is required", opt);
	if ((f = fopen(path, "r")) == NULL)
		dieerr(EXIT_USAGE, "%s: cannot read '%s'", opt, path);
	fclose(f);
}

static void
parse(int argc, char **argv, struct opts *o)
{
	int ch;

	memset(o, 0, sizeof *o);
	o->cf.port = 8883;
	o->cf.keepalive = 60;
	o->cf.qos = 1;
	o->cf.window = 100;
	o->cf.rate = 100;
	o->cf.retries = -1;
	o->cf.ack_timeout_ms = 10000;
	o->topic = "{ident}";
	o->nconns = 1;
	o->maxline = PAYLOAD_MAX;
	o->drain_ms = 10000;
	while ((ch = getopt_long(argc, argv, "e:p:t:q:r:c:i:k:w:vhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'e':
			o->cf.host = optarg;
			break;
		case 'p':
			o->cf.port = (int)num_arg("--port", optarg, 1, 65535);
			break;
		case OPT_CAFILE:
			o->cf.cafile = optarg;
			break;
		case OPT_CERT:
			o->cf.cert = optarg;
			break;
		case OPT_KEY:
			o->cf.key = optarg;
			break;
		case 't':
			o->topic = optarg;
			break;
		case 'q':
			o->cf.qos = (int)num_arg("--qos", optarg, 0, 2);
			if (o->cf.qos == 2)
				die(EXIT_USAGE, "--qos: AWS IoT Core does not "
				    "support QoS 2; use 0 or 1");
			break;
		case 'r':
			o->cf.rate = (uint64_t)num_arg("--rate", optarg, 0,
			    1000000);
			break;
		case 'c':
			o->nconns = (unsigned)num_arg("--connections", optarg,
			    1, CONNS_MAX);
			break;
		case 'i':
			o->client_id = optarg;
			break;
		case OPT_MQTT:
			if (strcmp(optarg, "3.1.1") == 0 ||
			    strcmp(optarg, "311") == 0)
				o->cf.mqtt5 = 0;
			else if (strcmp(optarg, "5") == 0)
				o->cf.mqtt5 = 1;
			else
				die(EXIT_USAGE, "--mqtt: '%s' is not 3.1.1 or 5",
				    optarg);
			break;
		case 'k':
			o->cf.keepalive = (int)num_arg("--keepalive", optarg,
			    30, 1200);
			break;
		case 'w':
			o->cf.window = (unsigned)num_arg("--window", optarg, 1,
			    100);
			break;
		case OPT_ACK:
			o->cf.ack_timeout_ms = secs_arg("--ack-timeout", optarg,
			    100, 3600000);
			break;
		case OPT_RETRIES:
			o->cf.retries = num_arg("--retries", optarg, 0,
			    1000000);
			break;
		case OPT_DRAIN:
			o->drain_ms = secs_arg("--drain-timeout", optarg, 0,
			    3600000);
			break;
		case OPT_FAILED:
			o->failed = optarg;
			break;
		case OPT_MAXLINE:
			o->maxline = (size_t)num_arg("--max-line", optarg, 64,
			    16 * 1024 * 1024);
			break;
		case OPT_STRICT:
			o->strict = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			fputs(usage_text, stdout);
			fputs("\n", stdout);
			fputs(help_text, stdout);
			exit(EXIT_OK);
		case 'V':
			printf("flespi-to-aws %s (libmosquitto %d.%d.%d)\n",
			    VERSION, LIBMOSQUITTO_MAJOR, LIBMOSQUITTO_MINOR,
			    LIBMOSQUITTO_REVISION);
			exit(EXIT_OK);
		default:
			usage();
		}
	}
	if (optind < argc) {
		xwarn("unexpected argument '%s'", argv[optind]);
		usage();
	}
	if (o->cf.host == NULL || o->cf.host[0] == '\0') {
		xwarn("--endpoint HOST is required");
		usage();
	}
	check_file("--cafile", o->cf.cafile);
	check_file("--cert", o->cf.cert);
	check_file("--key", o->cf.key);
	if (o->client_id != NULL && (o->client_id[0] == '\0' ||
	    strlen(o->client_id) + (o->nconns > 1 ? 3 : 0) > 128))
		die(EXIT_USAGE, "--client-id: must be 1 to %d bytes",
		    o->nconns > 1 ? 125 : 128);
	o->cf.burst = o->cf.rate / 10 ? (unsigned)(o->cf.rate / 10) : 1;
	if (o->cf.rate == 0 || o->cf.burst > o->cf.window)
		o->cf.burst = o->cf.window;
	o->cf.connect_timeout_ms = 30000;
}

/* FNV-1a: a stable hash, so a device always maps to the same connection. */
static unsigned
route(const char *uid)
{
	uint32_t h = 2166136261u;

	while (*uid)
		h = (h ^ (unsigned char)*uid++) * 16777619u;
	return h % nconns;
}

static void
setup(const struct opts *o)
{
	char host[64], base[129], id[140];
	unsigned i;

	msgin_init(&in, STDIN_FILENO, o->maxline, "ident");
	in.strict = o->strict;
	fkeys[0] = in.uid_field;
	fkeys[1] = "timestamp";
	for (nfkeys = 2; nfkeys - 2 < topic_nfields(topic); nfkeys++)
		fkeys[nfkeys] = topic_field(topic, nfkeys - 2);
	in.fast = fast;
	if (o->failed != NULL && msgin_open_failed(&in, o->failed) == -1)
		dieerr(EXIT_IOERR, "--failed: cannot open '%s'", o->failed);
	if (o->client_id != NULL) {
		snprintf(base, sizeof base, "%s", o->client_id);
	} else {
		if (gethostname(host, sizeof host) == -1)
			snprintf(host, sizeof host, "localhost");
		host[sizeof host - 1] = '\0';
		snprintf(base, sizeof base, "flespi-to-aws-%s-%ld", host,
		    (long)getpid());
	}
	mosquitto_lib_init();
	nconns = o->nconns;
	for (i = 0; i < nconns; i++) {
		if (nconns > 1)
			snprintf(id, sizeof id, "%.*s-%u", 124, base, i);
		else
			snprintf(id, sizeof id, "%s", base);
		if (mc_init(&conns[i], &o->cf, id) == -1)
			die(EXIT_IOERR, "%s", conns[i].why);
	}
	/* After mosquitto_new, which ignores SIGPIPE too. */
	stop_install();
	if (set_nonblock(STDIN_FILENO, 1) == -1)
		dieerr(EXIT_IOERR, "stdin");
}

/* An integer span jansson would format back to the same text. */
static int
plain_int(const struct jspan *v)
{
	return v->type == JS_INT && v->len <= 18 &&
	    !(v->len == 2 && v->p[0] == '-' && v->p[1] == '0');
}

/*
 * msgin's fast path: jscan checks the line and finds ident, timestamp and
 * the topic's fields without building a tree (jansson's parse is most of
 * the CPU time otherwise).  It takes only the plain cases, where its
 * result is the jansson path's to the byte: a string ident without
 * escapes, a timestamp that parses, topic fields that are unescaped
 * strings, short integers or booleans.  Everything else (including every
 * bad line) goes to jansson, which diagnoses as usual.
 */
static int
fast(void *arg, struct msg *m)
{
	const struct jspan *u = &spans[0], *ts = &spans[1], *v;
	char num[64], *end;
	size_t i;

	(void)arg;
	if (!jscan_object(m->line, m->len, fkeys, nfkeys, spans))
		return 0;
	if (!((u->type == JS_STRING && !u->escaped) || plain_int(u)) ||
	    u->len == 0 || u->len >= sizeof m->uidbuf)
		return 0;
	memcpy(m->uidbuf, u->p, u->len);
	m->uidbuf[u->len] = '\0';
	m->uid = m->uidbuf;
	if ((ts->type != JS_INT && ts->type != JS_REAL) || ts->len >= sizeof num)
		return 0;
	memcpy(num, ts->p, ts->len);
	num[ts->len] = '\0';
	m->timestamp = strtod(num, &end);
	if (*end != '\0' || !isfinite(m->timestamp) || m->timestamp < 0)
		return 0;
	for (i = 2; i < nfkeys; i++) {
		v = &spans[i];
		if (!((v->type == JS_STRING && !v->escaped) || plain_int(v) ||
		    v->type == JS_TRUE || v->type == JS_FALSE))
			return 0;
	}
	return 1;
}

/*
 * Take the next good message off stdin into pend, diagnosing bad ones.
 * Returns MSG_OK, MSG_AGAIN, MSG_EOF, MSG_BAD (--strict) or MSG_ERR.
 */
static int
next_message(void)
{
	struct msg m;
	char why[200];
	unsigned conn;
	int r, n;

	for (;;) {
		r = msgin_next(&in, &m);
		if (r != MSG_OK)
			return r;
		if (m.obj == NULL) {
			const char *vals[KEYS_MAX];
			size_t lens[KEYS_MAX], i;

			for (i = 2; i < nfkeys; i++) {
				vals[i - 2] = spans[i].p;
				lens[i - 2] = spans[i].len;
			}
			n = topic_expand_values(topic, vals, lens, pend.topic,
			    sizeof pend.topic, why, sizeof why);
		} else {
			n = topic_expand(topic, m.obj, pend.topic,
			    sizeof pend.topic, why, sizeof why);
		}
		/* m.uid may point into m.obj: route before freeing it. */
		conn = route(m.uid);
		json_decref(m.obj);
		if (n < 0) {
			msgin_reject(&in, m.lineno, m.line, m.len, "%s", why);
		} else if (m.len > PAYLOAD_MAX) {
			msgin_reject(&in, m.lineno, m.line, m.len, "message of "
			    "%zu bytes is over AWS's 128 KB (%d bytes) limit",
			    m.len, PAYLOAD_MAX);
		} else {
			pend.valid = 1;
			pend.line = m.line;
			pend.len = m.len;
			pend.lineno = m.lineno;
			pend.conn = conn;
			return MSG_OK;
		}
		if (in.strict)
			return MSG_BAD;
	}
}

static void
to_failed(void *arg, const char *line, size_t len)
{
	(void)arg;
	msgin_failed(&in, line, len);
}

/*
 * Stopping with messages undelivered: what is outstanding, the pending
 * message and every line already waiting on stdin go to the failed file
 * (when there is one) and are counted.
 */
static void
give_up(void)
{
	char *line;
	size_t len;
	unsigned i;
	int r;

	for (i = 0; i < nconns; i++)
		undelivered += mc_drop_outstanding(&conns[i], to_failed, NULL);
	if (pend.valid) {
		msgin_failed(&in, pend.line, pend.len);
		undelivered++;
		pend.valid = 0;
	}
	while ((r = lr_next(&in.lr, &line, &len)) == LR_LINE || r == LR_LONG) {
		if (r == LR_LINE) {
			msgin_failed(&in, line, len);
			undelivered++;
		}
	}
}

/* The connections' counters, summed. */
struct totals {
	uint64_t	published, acked, rejected, reconnects;
};

static struct totals
totals(void)
{
	struct totals t = { 0, 0, 0, 0 };
	unsigned i;

	for (i = 0; i < nconns; i++) {
		t.published += conns[i].published;
		t.acked += conns[i].acked;
		t.rejected += conns[i].rejected;
		t.reconnects += conns[i].reconnects;
	}
	return t;
}

static unsigned
outstanding(void)
{
	unsigned i, n = 0;

	for (i = 0; i < nconns; i++)
		n += conns[i].outstanding;
	return n;
}

/* Nothing is left in any connection's output queue (QoS 0 at the end). */
static int
flushed(void)
{
	unsigned i;

	for (i = 0; i < nconns; i++)
		if (!mc_flushed(&conns[i]))
			return 0;
	return 1;
}

/* The poll() loop.  Returns the exit status. */
static int
run(const struct opts *o)
{
	struct pollfd pfd[CONNS_MAX + 1];
	struct stats st;
	char why[200];
	int64_t now, drain_at = 0, wait, last_acked_ms;
	uint64_t last_acked = 0;
	int in_eof = 0, stdin_err = 0, timeout, r, refused = 0, status;
	struct totals t;
	unsigned i;

	stats_init(&st);
	last_acked_ms = st.start_ms;
	for (;;) {
		now = mono_ms();
		if (stop_requested && drain_at == 0) {
			drain_at = now + o->drain_ms;
			vlog("stopping: delivering for up to %.1f s",
			    o->drain_ms / 1000.0);
		}
		if (drain_at != 0 && now >= drain_at)
			break;
		for (i = 0; i < nconns; i++)
			if (conns[i].fatal) {
				stats_end(&st);
				xwarn("%s", conns[i].why);
				refused |= conns[i].fatal == EXIT_REFUSED;
				goto out;
			}

		/* Hand messages to their connections while they take them. */
		timeout = 1000;
		while (!in_eof) {
			if (!pend.valid) {
				r = next_message();
				if (r == MSG_AGAIN)
					break;
				if (r == MSG_ERR) {
					stats_end(&st);
					xwarnerr("cannot read stdin");
					stdin_err = 1;
				}
				if (r != MSG_OK) {
					in_eof = 1;
					break;
				}
			}
			if (!mc_ready(&conns[pend.conn], now, &wait)) {
				if (wait >= 0 && wait < timeout)
					timeout = (int)wait;
				break;
			}
			if (mc_publish(&conns[pend.conn], pend.topic, pend.line,
			    pend.len, now, why, sizeof why) == -1) {
				stats_end(&st);
				msgin_reject(&in, pend.lineno, pend.line,
				    pend.len, "%s", why);
			}
			pend.valid = 0;
		}
		if (in_eof && !pend.valid && outstanding() == 0 && flushed())
			break;

		for (i = 0; i < nconns; i++)
			mc_prepare(&conns[i], now, &pfd[i + 1], &timeout);
		pfd[0].fd = !in_eof && !pend.valid ? STDIN_FILENO : -1;
		pfd[0].events = POLLIN;
		if (drain_at != 0 && drain_at - now < timeout)
			timeout = (int)(drain_at - now);
		if (st.tty && timeout > 1000)
			timeout = 1000;
		if (poll(pfd, nconns + 1, timeout) == -1 && errno != EINTR) {
			stats_end(&st);
			dieerr(EXIT_IOERR, "poll");
		}
		now = mono_ms();
		for (i = 0; i < nconns; i++)
			if (pfd[i + 1].fd != -1)
				mc_handle(&conns[i], pfd[i + 1].revents, now);
		if (stats_due(&st, now)) {
			struct totals now_t = totals();

			stats_show(&st, "published %" PRIu64 ", acked %" PRIu64
			    ", outstanding %u, %.0f msg/s, reconnects %" PRIu64,
			    now_t.published, now_t.acked, outstanding(),
			    (double)(now_t.acked - last_acked) * 1000.0 /
			    (double)(now - last_acked_ms + 1), now_t.reconnects);
			last_acked = now_t.acked;
			last_acked_ms = now;
		}
	}
out:
	stats_end(&st);
	if (!in_eof || pend.valid || outstanding() > 0) {
		give_up();
		if (undelivered > 0)
			xwarn("%" PRIu64 " message%s not delivered%s",
			    undelivered, undelivered == 1 ? "" : "s",
			    o->failed ? ", written to the failed file" : "");
	}
	for (i = 0; i < nconns; i++)
		mc_disconnect(&conns[i]);
	t = totals();
	undelivered += t.rejected;
	vlog("published %" PRIu64 ", acknowledged %" PRIu64 ", bad lines %"
	    PRIu64 ", undelivered %" PRIu64 ", reconnects %" PRIu64,
	    t.published, t.acked, in.bad, undelivered, t.reconnects);
	if (refused)
		return EXIT_REFUSED;
	status = undelivered > 0 ? EXIT_TEMPFAIL : msgin_status(&in);
	if (stdin_err && status != EXIT_TEMPFAIL)
		status = EXIT_IOERR;
	return status;
}

int
main(int argc, char **argv)
{
	struct opts o;
	char err[300];
	unsigned i;
	int status;

	diag_init(argv[0]);
	parse(argc, argv, &o);
	if ((topic = topic_parse(o.topic, err, sizeof err)) == NULL)
		die(EXIT_USAGE, "--topic: %s", err);
	o.cf.in = &in;
	o.cf.keep_lines = o.failed != NULL;
	setup(&o);
	status = run(&o);
	set_nonblock(STDIN_FILENO, 0);
	for (i = 0; i < nconns; i++)
		mc_free(&conns[i]);
	mosquitto_lib_cleanup();
	topic_free(topic);
	msgin_free(&in);
	return status;
}
