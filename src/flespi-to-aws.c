/*
 * flespi-to-aws: publish flespi messages (NDJSON on stdin) to AWS IoT Core
 * over MQTT with mutual TLS.  The options, AWS's rules as a preset (topic
 * limits, 128 KB payloads, a client certificate always, ALPN on port
 * 443, refusals in the words of its policies) and main; the mapping is
 * the MQTT forwarders' (mqttfwd.c), delivery the forwarder core's
 * (fwd.c) over the MQTT transport of mqttconn.c: one thread, one poll()
 * loop over stdin and every connection, each message on the connection a
 * hash of its ident picks.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "diag.h"
#include "dumpout.h"
#include "exits.h"
#include "fwd.h"
#include "hostport.h"
#include "mqttconn.h"
#include "mqttfwd.h"
#include "num.h"
#include "tlsfiles.h"
#include "topic.h"

#define PAYLOAD_MAX	(128 * 1024)	/* AWS: 128 KB a publish */

enum { O_ENDPOINT = 256, O_PORT, O_CAFILE, O_CERT, O_KEY, O_TOPIC, O_QOS,
	O_RATE, O_CONNS, O_CLIENTID, O_MQTTVER, O_KEEPALIVE, O_WINDOW, O_DUMP };

static const struct cli_opt opts[] = {
	{ "endpoint", 'e', CLI_ARG, O_ENDPOINT, "HOST",
	  "AWS IoT data endpoint\n(xxx-ats.iot.REGION.amazonaws.com)", NULL, 0 },
	{ "port", 'p', CLI_ARG, O_PORT, "N",
	  "8883 (default) or 443 (ALPN x-amzn-mqtt-ca)", NULL, 0 },
	{ "cafile", 0, CLI_ARG, O_CAFILE, "FILE",
	  "CA certificates to verify the endpoint\n"
	  "(AmazonRootCA1.pem); --cacert FILE is the same", NULL, 0 },
	{ "cacert", 0, CLI_ARG, O_CAFILE, "FILE", NULL, NULL, CLI_ALIAS },
	{ "cert", 0, CLI_ARG, O_CERT, "FILE", "the thing's certificate (PEM)",
	  NULL, 0 },
	{ "key", 0, CLI_ARG, O_KEY, "FILE", "its private key (PEM)", NULL, 0 },
	{ "topic", 't', CLI_ARG, O_TOPIC, "TEMPLATE",
	  "topic, fields in braces; default {ident}", NULL, 0 },
	{ "qos", 0, CLI_ARG, O_QOS, "0|1", "default 1 (at least once)", "0|1",
	  0 },
	{ "rate", 'r', CLI_ARG, O_RATE, "N",
	  "publishes a second per connection; default 100,\n"
	  "0 = no limit", NULL, 0 },
	{ "connections", 0, CLI_ARG, O_CONNS, "N",
	  "connections, messages sharded by ident; default 1", NULL, 0 },
	{ NULL, 'c', CLI_ARG, O_CONNS, "N", NULL, NULL, CLI_DEPRECATED },
	{ "client-id", 'i', CLI_ARG, O_CLIENTID, "ID",
	  "default flespi-to-aws-HOSTNAME-PID (-0, -1... per\n"
	  "connection)", NULL, 0 },
	{ "mqtt-version", 0, CLI_ARG, O_MQTTVER, "V",
	  "MQTT protocol version, 3.1.1 (default) or 5", "3.1.1|5", 0 },
	{ "mqtt", 0, CLI_ARG, O_MQTTVER, "V", NULL, NULL, CLI_DEPRECATED },
	{ "keepalive", 'k', CLI_ARG, O_KEEPALIVE, "SECS",
	  "30..1200; default 60", NULL, 0 },
	{ "window", 'w', CLI_ARG, O_WINDOW, "N",
	  "messages awaiting PUBACK per connection, 1..100;\ndefault 100",
	  NULL, 0 },
	{ "dump", 0, CLI_FLAG, O_DUMP, NULL,
	  "print each message's topic and payload to stdout\n"
	  "(as mosquitto_sub -v does), no network", NULL, 0 },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, 0 }
};

/* What mosquitto_pub users type that means something else here. */
static const struct cli_habit habits[] = {
	{ "-h", NULL, "mosquitto_pub's -h HOST is --endpoint HOST here" },
	{ "-q", "0|1|2", "-q is --quiet here; mosquitto_pub's -q QOS is "
	  "--qos QOS" },
	{ "-V", NULL, "mosquitto_pub's -V VERSION is --mqtt-version VERSION "
	  "here" },
	{ "-u", NULL, "AWS IoT takes no user name: the thing's certificate "
	  "(--cert, --key) says who it is" },
	{ "-P", NULL, "AWS IoT takes no password: the thing's certificate "
	  "(--cert, --key) says who it is" },
	{ "-m", NULL, "the messages are the lines read on stdin" },
	{ "-f", NULL, "the messages are the lines read on stdin" },
	{ "-l", NULL, "the messages are the lines read on stdin, one a line, "
	  "always" },
	{ "-s", NULL, "the messages are the lines read on stdin" },
	{ "-d", NULL, "mosquitto_pub's -d is -v (twice: the library's log) "
	  "here" },
	{ "--debug", NULL, "mosquitto_pub's --debug is -v (twice: the "
	  "library's log) here" },
	{ "-L", NULL, "give the host with --endpoint HOST and the port with "
	  "--port N" },
	{ "--url", NULL, "give the host with --endpoint HOST and the port "
	  "with --port N" },
	{ "--insecure", NULL, "TLS verification cannot be turned off" },
	{ "--id", NULL, "mosquitto_pub's --id is --client-id here" },
	{ NULL, NULL, NULL }
};

static void	option(void *, struct fwd_conf *, int, const char *);

static const struct fwd_cmd cmd = {
	.synopsis = "usage: flespi-to-aws --endpoint HOST --cafile FILE "
	    "--cert FILE --key FILE [options]\n"
	    "       flespi-to-aws --dump [options]\n",
	.about = "Publish flespi messages (NDJSON on stdin) to AWS IoT Core "
	    "over MQTT.",
	.opts = opts,
	.habits = habits,
	.notes = "--connect-timeout covers CONNECT to CONNACK; a message over "
	    "AWS's 128 KB is\nrejected (and kept whole in --rejected).\n",
	.maxline = FWD_MAX_LINE,
	.retry_wait_ms = 500,
	.connect_ms = 10000,
	.option = option,
};

struct conf {
	struct mqtconf	q;
	const char     *topic;
	const char     *client_id;
	char		base[129];	/* the client id, or its base */
	int		dump;
};

/* AWS's refusals, in the words of its policies. */
static const struct mwords aws_words = {
	.closed_connect = "certificate not accepted, or the policy does not "
	    "allow iot:Connect for this client id",
	.closed_publish = "does the policy allow iot:Publish on these topics?",
	.tls_refused = "the endpoint refused our certificate",
};

static void
option(void *arg, struct fwd_conf *fc, int id, const char *optarg)
{
	struct conf *o = arg;
	struct mconf *cf = &o->q.c;

	(void)fc;
	switch (id) {
	case O_ENDPOINT:
		cf->host = optarg;
		break;
	case O_PORT:
		cf->port = (int)num_arg("--port", optarg, 1, 65535);
		break;
	case O_CAFILE:
		cf->cafile = optarg;
		break;
	case O_CERT:
		cf->cert = optarg;
		break;
	case O_KEY:
		cf->key = optarg;
		break;
	case O_TOPIC:
		o->topic = optarg;
		break;
	case O_QOS:
		cf->qos = (int)num_arg("--qos", optarg, 0, 2);
		if (cf->qos == 2)
			die(EXIT_USAGE, "--qos: AWS IoT Core does not support "
			    "QoS 2; use 0 or 1");
		break;
	case O_RATE:
		cf->rate = (uint64_t)num_arg("--rate", optarg, 0, 1000000);
		break;
	case O_CONNS:
		o->q.nconns = (unsigned)num_arg("--connections", optarg, 1,
		    MQT_CONNS_MAX);
		break;
	case O_CLIENTID:
		o->client_id = optarg;
		break;
	case O_MQTTVER:
		cf->mqtt5 = mqf_version_arg(optarg);
		break;
	case O_KEEPALIVE:
		cf->keepalive = (int)num_arg("--keepalive", optarg, 30, 1200);
		break;
	case O_WINDOW:
		cf->window = (unsigned)num_arg("--window", optarg, 1, 100);
		break;
	case O_DUMP:
		o->dump = 1;
		break;
	}
}

/*
 * --endpoint is a host name (or an IP address) and nothing else: the
 * library would take "localhost:8883" or "https://x" for a name and
 * fail to resolve it, again and again.  Returns 0, or -1 with why.
 */
static int
endpoint_check(const char *h, char *why, size_t whysz)
{
	char hw[400];
	const char *c;

	if (*h == '\0') {
		snprintf(why, whysz, "--endpoint: empty; give the host name "
		    "alone (xxx-ats.iot.REGION.amazonaws.com)");
		return -1;
	}
	if ((c = strchr(h, ':')) != NULL && strchr(h, '/') == NULL &&
	    strchr(c + 1, ':') == NULL && c[1] != '\0' &&
	    strspn(c + 1, "0123456789") == strlen(c + 1)) {
		snprintf(why, whysz, "--endpoint '%s': give the port with "
		    "--port %s, the host name alone with --endpoint", h, c + 1);
		return -1;
	}
	if (host_check(h, hw, sizeof hw) == -1) {
		snprintf(why, whysz, "--endpoint %s (the port goes in --port)",
		    hw);
		return -1;
	}
	return 0;
}

/*
 * The endpoint, the TLS files and the client id, once the command line
 * is whole (a dry run needs none of them).
 */
static void
check(struct conf *o, struct fwd_conf *fc, struct cli *cl)
{
	struct mconf *cf = &o->q.c;
	char why[600];

	if (cl->noperands > 0)
		cli_operand_fail(cl, 0, "unexpected argument '%s' (the endpoint "
		    "is --endpoint HOST)", cl->operands[0]);
	o->q.base_id = o->base;
	fc->inflight = (size_t)cf->window * o->q.nconns;
	if (o->dump) {
		if (fc->state != NULL)
			cli_fail(cl, "--dump takes no --state: nothing is "
			    "delivered");
		fc->data = 1;
		return;
	}
	if (cf->host == NULL)
		cli_fail(cl, "--endpoint HOST is required");
	if (endpoint_check(cf->host, why, sizeof why) == -1)
		die(EXIT_USAGE, "%s", why);
	if (cf->cafile == NULL || cf->cert == NULL || cf->key == NULL)
		die(EXIT_USAGE, "%s FILE is required", cf->cafile == NULL ?
		    "--cafile" : cf->cert == NULL ? "--cert" : "--key");
	if (tlsfiles_check(cf->cafile, cf->cert, cf->key, why, sizeof why) ==
	    -1)
		die(EXIT_USAGE, "%s", why);
	mqf_client_id(o->base, sizeof o->base, o->client_id,
	    "flespi-to-aws", o->q.nconns);
	cf->tls = 1;
	if (cf->port == 443)
		cf->alpn = "x-amzn-mqtt-ca";
	cf->words = &aws_words;
	cf->burst = cf->rate / 10 ? (unsigned)(cf->rate / 10) : 1;
	if (cf->rate == 0 || cf->burst > cf->window)
		cf->burst = cf->window;
}

int
main(int argc, char **argv)
{
	struct conf o;
	struct fwd_conf fc;
	struct cli cl;
	struct mqfmap mp;
	struct fwd_mapping fm;
	struct dumpconf dc;
	int status;

	memset(&o, 0, sizeof o);
	o.q.c.port = 8883;
	o.q.c.keepalive = 60;
	o.q.c.qos = 1;
	o.q.c.window = 100;
	o.q.c.rate = 100;
	o.q.nconns = 1;
	o.topic = "{ident}";
	fwd_parse(&cmd, &cl, &fc, &o, argc, argv);
	check(&o, &fc, &cl);
	mqf_init(&mp, o.topic, &topic_aws, fc.uid_field, MQF_LINE, PAYLOAD_MAX,
	    "AWS's 128 KB");
	mqf_mapping(&mp, &fm, &dc);
	status = o.dump ? fwd_main(&fc, &dump_transport, &dc, &fm) :
	    fwd_main(&fc, &mqt_transport, &o.q, &fm);
	mqf_free(&mp);
	cli_free(&cl);
	return status;
}
