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
#include "exits.h"
#include "fwd.h"
#include "hostport.h"
#include "mqttconn.h"
#include "mqttfwd.h"
#include "num.h"
#include "tlsfiles.h"
#include "topic.h"

#define PAYLOAD_MAX	(128 * 1024)	/* AWS: 128 KB a publish */

enum { O_ENDPOINT = 256, O_PORT };

static const struct cli_opt opts[] = {
	{ "endpoint", 'e', CLI_ARG, O_ENDPOINT, "HOST",
	  "AWS IoT data endpoint\n"
	  "(xxx-ats.iot.REGION.amazonaws.com)", NULL, 0 },
	{ "port", 'p', CLI_ARG, O_PORT, "N",
	  "8883 (default) or 443 (ALPN x-amzn-mqtt-ca)", NULL, 0 },
	{ "cafile", 0, CLI_ARG, MQF_O_CAFILE, "FILE",
	  "CA certificates to verify the endpoint\n"
	  "(AmazonRootCA1.pem); --cacert FILE is the same", NULL, 0 },
	{ "cacert", 0, CLI_ARG, MQF_O_CAFILE, "FILE", NULL, NULL, CLI_ALIAS },
	{ "cert", 0, CLI_ARG, MQF_O_CERT, "FILE",
	  "the thing's certificate (PEM)", NULL, 0 },
	{ "key", 0, CLI_ARG, MQF_O_KEY, "FILE",
	  "its private key (PEM)", NULL, 0 },
	{ "topic", 't', CLI_ARG, MQF_O_TOPIC, "TEMPLATE",
	  "topic, fields in braces; default {ident}", NULL, 0 },
	{ "qos", 0, CLI_ARG, MQF_O_QOS, "0|1",
	  "default 1 (at least once)", "0|1", 0 },
	{ "rate", 'r', CLI_ARG, MQF_O_RATE, "N",
	  "publishes a second per connection; default 100,\n"
	  "0 = no limit", NULL, 0 },
	{ "connections", 0, CLI_ARG, MQF_O_CONNS, "N",
	  "connections, messages sharded by ident; default 1", NULL, 0 },
	{ NULL, 'c', CLI_ARG, MQF_O_CONNS, "N", NULL, NULL, CLI_DEPRECATED },
	{ "client-id", 'i', CLI_ARG, MQF_O_CLIENTID, "ID",
	  "default flespi-to-aws-HOSTNAME-PID (-0, -1... per\n"
	  "connection)", NULL, 0 },
	{ "mqtt-version", 0, CLI_ARG, MQF_O_MQTTVER, "V",
	  "MQTT protocol version, 3.1.1 (default) or 5", "3.1.1|5", 0 },
	{ "mqtt", 0, CLI_ARG, MQF_O_MQTTVER, "V", NULL, NULL, CLI_DEPRECATED },
	{ "keepalive", 'k', CLI_ARG, MQF_O_KEEPALIVE, "SECS",
	  "30..1200; default 60", NULL, 0 },
	{ "window", 'w', CLI_ARG, MQF_O_WINDOW, "N",
	  "messages awaiting PUBACK per connection, 1..100;\ndefault 100",
	  NULL, 0 },
	{ "dump", 0, CLI_FLAG, MQF_O_DUMP, NULL,
	  "print each message's topic and payload to stdout\n"
	  "(as mosquitto_sub -v does), no network", NULL, 0 },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, 0 }
};

/* What mosquitto_pub users type that means something else here. */
static const struct cli_habit habits[] = {
	{ "-h", NULL, "mosquitto_pub's -h HOST is --endpoint HOST here" },
	{ "-u", NULL, "AWS IoT takes no user name: the thing's certificate "
	  "(--cert, --key) says who it is" },
	{ "-P", NULL, "AWS IoT takes no password: the thing's certificate "
	  "(--cert, --key) says who it is" },
	{ "-L", NULL, "give the host with --endpoint HOST and the port with "
	  "--port N" },
	{ "--url", NULL, "give the host with --endpoint HOST and the port "
	  "with --port N" },
	{ "--insecure", NULL, "TLS verification cannot be turned off" },
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
	.family_habits = mqf_habits,
	.notes = "--connect-timeout covers CONNECT to CONNACK; a message over "
	    "AWS's 128 KB is\nrejected (and kept whole in --rejected).\n",
	.option = option,
};

struct conf {
	struct mqfopts	m;		/* the MQTT options (mqttfwd.h) */
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
	struct mconf *cf = &o->m.q.c;

	(void)fc;
	if (mqf_option(&o->m, id, optarg))
		return;
	switch (id) {
	case O_ENDPOINT:
		cf->host = optarg;
		break;
	case O_PORT:
		cf->port = (int)num_arg("--port", optarg, 1, 65535);
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
	struct mconf *cf = &o->m.q.c;
	char why[600];

	if (cl->noperands > 0)
		cli_operand_fail(cl, 0, "unexpected argument '%s' (the "
		    "endpoint is --endpoint HOST)", cl->operands[0]);
	mqf_settle(&o->m, fc);
	if (o->m.dump) {
		fwd_dry_run(cl, fc);
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
	mqf_client_id(&o->m, "flespi-to-aws");
	cf->tls = 1;
	if (cf->port == 443)
		cf->alpn = "x-amzn-mqtt-ca";
	cf->words = &aws_words;
}

int
main(int argc, char **argv)
{
	struct conf o;
	struct fwd_conf fc;
	struct cli cl;
	struct mqfmap mp;
	int status;

	memset(&o, 0, sizeof o);
	mqf_defaults(&o.m, 100, 30, 1200);
	o.m.q.c.port = 8883;
	o.m.q.c.rate = 100;
	fwd_parse(&cmd, &cl, &fc, &o, argc, argv);
	check(&o, &fc, &cl);
	mqf_init(&mp, o.m.topic, &topic_aws, fc.uid_field, MQF_LINE,
	    PAYLOAD_MAX, "AWS's 128 KB");
	status = mqf_run(&fc, &o.m, &mp);
	cli_free(&cl);
	return status;
}
