/*
 * flespi-to-aws: publish flespi messages (NDJSON on stdin) to AWS IoT Core
 * over MQTT with mutual TLS.  The options, the mapping (the topic
 * template, AWS's payload limit, a fast path past jansson) and main;
 * delivery is the forwarder core's (fwd.c) over the MQTT transport of
 * mqttconn.c: one thread, one poll() loop over stdin and every
 * connection, each message on the connection a hash of its ident picks.
 */
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mosquitto.h>

#include "diag.h"
#include "exits.h"
#include "fwd.h"
#include "mqttconn.h"
#include "msgfast.h"
#include "msgin.h"
#include "num.h"
#include "stdfds.h"
#include "tlsfiles.h"
#include "topic.h"

#define PAYLOAD_MAX	(128 * 1024)	/* AWS: 128 KB a publish */

static const char usage_text[] =
"usage: flespi-to-aws --endpoint HOST --cafile FILE --cert FILE --key FILE\n"
"           [--port N] [--topic TEMPLATE] [--qos 0|1] [--rate N]\n"
"           [--connections N] [--client-id ID] [--mqtt-version 3.1.1|5]\n"
"           [--keepalive SECS] [--window N] [--ack-timeout SECS]\n"
"           [--retries N] [--retry-wait SECS] [--connect-timeout SECS]\n"
"           [--drain-timeout SECS] [--state FILE] [--failed FILE]\n"
"           [--rejected FILE] [--max-line BYTES] [--strict] [--quiet]\n"
"           [-v] [-h] [-V]\n";

static const char help_text[] =
"Publish flespi messages (NDJSON on stdin) to AWS IoT Core over MQTT.\n"
"\n"
"  -e, --endpoint HOST      AWS IoT data endpoint (xxx-ats.iot.REGION.amazonaws.com)\n"
"  -p, --port N             8883 (default) or 443 (ALPN x-amzn-mqtt-ca)\n"
"      --cafile FILE        CA certificates to verify the endpoint (AmazonRootCA1.pem);\n"
"                           --cacert FILE is the same\n"
"      --cert FILE          the thing's certificate (PEM)\n"
"      --key FILE           its private key (PEM)\n"
"  -t, --topic TEMPLATE     topic, fields in braces; default {ident}\n"
"  -q, --qos 0|1            default 1 (at least once)\n"
"  -r, --rate N             publishes a second per connection; default 100, 0 = no limit\n"
"      --connections N      connections, messages sharded by ident; default 1\n"
"  -i, --client-id ID       default flespi-to-aws-HOSTNAME-PID (-0, -1... per connection)\n"
"      --mqtt-version V     MQTT protocol version, 3.1.1 (default) or 5\n"
"  -k, --keepalive SECS     30..1200; default 60\n"
"  -w, --window N           messages awaiting PUBACK per connection, 1..100; default 100\n"
"      --quiet              no progress line on stderr (-q is --qos)\n"
"  -v, --verbose            log connections and throttling (-vv: libmosquitto too)\n"
"  -h, --help               this help\n"
"  -V, --version            the version\n"
"Options of every forwarder:\n";

static const char help_tail[] =
"Defaults here: --retry-wait 1, --connect-timeout 30\n"
"(CONNECT to CONNACK).\n"
"\n"
"Exit status: 0 all delivered, 64 usage, 65 bad input lines skipped,\n"
"69 refused by the endpoint (TLS, certificate, CONNACK), 73 --state in use,\n"
"74 local I/O error, 75 undelivered messages (gave up, or stopped by a signal).\n";

enum { OPT_CAFILE = 256, OPT_CERT, OPT_KEY, OPT_MQTT, OPT_MQTTVER, OPT_CONNS };

static const struct option ownopts[] = {
	{ "endpoint",		required_argument, NULL, 'e' },
	{ "port",		required_argument, NULL, 'p' },
	{ "cafile",		required_argument, NULL, OPT_CAFILE },
	{ "cacert",		required_argument, NULL, OPT_CAFILE },
	{ "cert",		required_argument, NULL, OPT_CERT },
	{ "key",		required_argument, NULL, OPT_KEY },
	{ "topic",		required_argument, NULL, 't' },
	{ "qos",		required_argument, NULL, 'q' },
	{ "rate",		required_argument, NULL, 'r' },
	{ "connections",	required_argument, NULL, OPT_CONNS },
	{ "client-id",		required_argument, NULL, 'i' },
	{ "mqtt-version",	required_argument, NULL, OPT_MQTTVER },
	{ "mqtt",		required_argument, NULL, OPT_MQTT },
	{ "keepalive",		required_argument, NULL, 'k' },
	{ "window",		required_argument, NULL, 'w' },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "version",		no_argument,	   NULL, 'V' },
};
#define NOWN	(sizeof ownopts / sizeof ownopts[0])

struct opts {
	struct fwd_conf	fc;
	struct mconf	cf;
	const char     *topic;
	const char     *client_id;
	unsigned	nconns;
};

/*
 * The mapping: the topic template, and msgin's fast path looking for the
 * topic's fields (msgfast.h), whose values in the line the mapping is
 * called for next it holds.
 */
struct mapping {
	struct topic   *topic;
	const char     *fields[MSGFAST_FIELDS];
	struct msgfast	fast;
};

/*
 * The three TLS files are required; tlsfiles_check() reads them (and says
 * which one cannot be read) once the command line is whole.
 */
static void
require_file(const char *opt, const char *path)
{
	if (path == NULL)
		die(EXIT_USAGE, "%s FILE is required", opt);
}

static void
parse(int argc, char **argv, struct opts *o)
{
	struct option lo[NOWN + FWD_NOPTS + 1];
	static int warned_c, warned_mqtt;
	int ch;

	memset(o, 0, sizeof *o);
	fwd_conf_init(&o->fc, FWD_MAX_LINE, 1000, 30000);
	fwd_options(lo, ownopts, NOWN);
	o->cf.port = 8883;
	o->cf.keepalive = 60;
	o->cf.qos = 1;
	o->cf.window = 100;
	o->cf.rate = 100;
	o->topic = "{ident}";
	o->nconns = 1;
	while ((ch = getopt_long(argc, argv, "e:p:t:q:r:c:i:k:w:vhV", lo,
	    NULL)) != -1) {
		if (fwd_option(&o->fc, ch, optarg))
			continue;
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
			deprecated(&warned_c, "-c", "--connections");
			/* FALLTHROUGH */
		case OPT_CONNS:
			o->nconns = (unsigned)num_arg("--connections", optarg,
			    1, MQT_CONNS_MAX);
			break;
		case 'i':
			o->client_id = optarg;
			break;
		case OPT_MQTT:
			deprecated(&warned_mqtt, "--mqtt", "--mqtt-version");
			/* FALLTHROUGH */
		case OPT_MQTTVER:
			if (strcmp(optarg, "3.1.1") == 0 ||
			    strcmp(optarg, "311") == 0)
				o->cf.mqtt5 = 0;
			else if (strcmp(optarg, "5") == 0)
				o->cf.mqtt5 = 1;
			else
				die(EXIT_USAGE, "--mqtt-version: '%s' is not "
				    "3.1.1 or 5", optarg);
			break;
		case 'k':
			o->cf.keepalive = (int)num_arg("--keepalive", optarg,
			    30, 1200);
			break;
		case 'w':
			o->cf.window = (unsigned)num_arg("--window", optarg, 1,
			    100);
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			fputs(usage_text, stdout);
			fputs("\n", stdout);
			fputs(help_text, stdout);
			fputs(fwd_usage, stdout);
			fputs(help_tail, stdout);
			exit(EXIT_OK);
		case 'V':
			printf("flespi-to-aws %s (libmosquitto %d.%d.%d)\n",
			    VERSION, LIBMOSQUITTO_MAJOR, LIBMOSQUITTO_MINOR,
			    LIBMOSQUITTO_REVISION);
			exit(EXIT_OK);
		default:
			usage_fail(usage_text);
		}
	}
	if (optind < argc) {
		xwarn("unexpected argument '%s'", argv[optind]);
		usage_fail(usage_text);
	}
	if (o->cf.host == NULL || o->cf.host[0] == '\0') {
		xwarn("--endpoint HOST is required");
		usage_fail(usage_text);
	}
	require_file("--cafile", o->cf.cafile);
	require_file("--cert", o->cf.cert);
	require_file("--key", o->cf.key);
	if (o->client_id != NULL && (o->client_id[0] == '\0' ||
	    strlen(o->client_id) + (o->nconns > 1 ? 3 : 0) > 128))
		die(EXIT_USAGE, "--client-id: must be 1 to %d bytes",
		    o->nconns > 1 ? 125 : 128);
	o->cf.burst = o->cf.rate / 10 ? (unsigned)(o->cf.rate / 10) : 1;
	if (o->cf.rate == 0 || o->cf.burst > o->cf.window)
		o->cf.burst = o->cf.window;
	o->cf.ack_timeout_ms = o->fc.ack_ms;
	o->cf.connect_timeout_ms = o->fc.connect_ms;
	o->cf.retries = o->fc.retries;
	o->cf.retry_wait_ms = (unsigned)o->fc.retry_wait_ms;
	o->fc.inflight = (size_t)o->cf.window * o->nconns;
}

/*
 * --endpoint is a host name (or an IP address) and nothing else: the
 * library would take "localhost:8883" or "https://x" for a name and
 * fail to resolve it, again and again.  Returns 0, or -1 with why.
 */
static int
endpoint_check(const char *h, char *why, size_t whysz)
{
	struct in6_addr a6;
	const char *p, *c;

	if (*h == '\0') {
		snprintf(why, whysz, "--endpoint: empty; give the host name "
		    "alone (xxx-ats.iot.REGION.amazonaws.com)");
		return -1;
	}
	if (inet_pton(AF_INET6, h, &a6) == 1)
		return 0;
	if ((p = strstr(h, "://")) != NULL) {
		snprintf(why, whysz, "--endpoint '%s': give the host name "
		    "alone, without %.*s:// (the port goes in --port)", h,
		    (int)(p - h), h);
		return -1;
	}
	for (p = h; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(why, whysz, "--endpoint '%s': a host name "
			    "holds no spaces or control characters", h);
			return -1;
		}
	if ((c = strchr(h, ':')) != NULL && strchr(h, '/') == NULL &&
	    c[1] != '\0' && strspn(c + 1, "0123456789") == strlen(c + 1)) {
		snprintf(why, whysz, "--endpoint '%s': give the port with "
		    "--port %s, the host name alone with --endpoint", h, c + 1);
		return -1;
	}
	if (strpbrk(h, ":/?#@[]") != NULL) {
		snprintf(why, whysz, "--endpoint '%s': give the host name "
		    "alone, without a port, path or user (the port goes in "
		    "--port)", h);
		return -1;
	}
	return 0;
}

/*
 * The mapping: the topic into the slot's buffer, and AWS's payload
 * limit.  The fast path's field values belong to this very line.
 */
static int
map(void *arg, struct fwd_msg *m, const struct msg *in, char *why,
    size_t whysz)
{
	struct mapping *mp = arg;
	const char *vals[MSGFAST_FIELDS];
	size_t lens[MSGFAST_FIELDS], i;
	void *nb;
	int n;

	if (m->tpcap < TOPIC_BUFSZ) {
		if ((nb = realloc(m->tp, TOPIC_BUFSZ)) == NULL) {
			snprintf(why, whysz, "out of memory");
			return -1;
		}
		m->tp = nb;
		m->tpcap = TOPIC_BUFSZ;
	}
	if (in->obj == NULL) {
		for (i = 0; i < topic_nfields(mp->topic); i++) {
			vals[i] = msgfast_field(&mp->fast, i)->p;
			lens[i] = msgfast_field(&mp->fast, i)->len;
		}
		n = topic_expand_values(mp->topic, vals, lens, m->tp,
		    TOPIC_BUFSZ, why, whysz);
	} else {
		n = topic_expand(mp->topic, in->obj, m->tp, TOPIC_BUFSZ, why,
		    whysz);
	}
	if (n < 0)
		return -1;
	m->tplen = (size_t)n;
	if (m->len > PAYLOAD_MAX) {
		snprintf(why, whysz, "message of %zu bytes is over AWS's 128 KB "
		    "(%d bytes) limit", m->len, PAYLOAD_MAX);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct mqt t;
	struct opts o;
	struct mapping mp;
	struct fwd *f;
	struct msgin *in;
	char err[300], host[64], base[129];
	size_t i;
	int status, fd;

	if (stdfds_check(&fd) == -1) {
		if (fd != STDERR_FILENO)
			fprintf(stderr, "flespi-to-aws: descriptor %d is "
			    "closed\n", fd);
		return EXIT_IOERR;
	}
	diag_init(argv[0]);
	parse(argc, argv, &o);
	if (endpoint_check(o.cf.host, err, sizeof err) == -1 ||
	    tlsfiles_check(o.cf.cafile, o.cf.cert, o.cf.key, err,
	    sizeof err) == -1)
		die(EXIT_USAGE, "%s", err);
	memset(&mp, 0, sizeof mp);
	if ((mp.topic = topic_parse(o.topic, err, sizeof err)) == NULL)
		die(EXIT_USAGE, "--topic: %s", err);
	if ((f = fwd_new(&o.fc, &status)) == NULL) {
		topic_free(mp.topic);
		return status;
	}
	in = fwd_input(f);
	/* topic_parse takes no more fields than topic_expand can fill. */
	for (i = 0; i < topic_nfields(mp.topic) && i < MSGFAST_FIELDS; i++)
		mp.fields[i] = topic_field(mp.topic, i);
	if (msgfast_init(&mp.fast, in->uid_field, mp.fields,
	    topic_nfields(mp.topic)) == 0) {
		in->fast = msgfast_check;
		in->fast_arg = &mp.fast;
	}

	if (o.client_id != NULL) {
		snprintf(base, sizeof base, "%s", o.client_id);
	} else {
		if (gethostname(host, sizeof host) == -1)
			snprintf(host, sizeof host, "localhost");
		host[sizeof host - 1] = '\0';
		snprintf(base, sizeof base, "flespi-to-aws-%s-%ld", host,
		    (long)getpid());
	}
	mosquitto_lib_init();
	o.cf.core = f;
	if (mqt_init(&t, &o.cf, o.nconns, base, err, sizeof err) == -1)
		die(EXIT_IOERR, "%s", err);
	/* fwd_run installs the signal handlers after mosquitto_new's. */
	status = fwd_run(f, &mqt_ops, &t, map, &mp);
	mqt_free(&t);
	mosquitto_lib_cleanup();
	topic_free(mp.topic);
	fwd_free(f);
	return status;
}
