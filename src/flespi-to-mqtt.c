/*
 * flespi-to-mqtt: publish flespi messages (NDJSON on stdin) to any MQTT
 * broker, as flespi's own MQTT stream does: each line as its payload (or
 * ThingsBoard's gateway telemetry), QoS 1, a topic made from the
 * message.  The options and main; the mapping is the MQTT forwarders'
 * (mqttfwd.c), delivery the forwarder core's (fwd.c) over the MQTT
 * transport of mqttconn.c.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "diag.h"
#include "exits.h"
#include "fwd.h"
#include "hostport.h"
#include "mqttconn.h"
#include "mqttfwd.h"
#include "num.h"
#include "tlsfiles.h"
#include "token.h"
#include "topic.h"

#define SECRET_MAX	4096	/* bytes of a password or user name */

enum { O_RETAIN = 256, O_FORMAT, O_CAPATH, O_USER, O_PWFILE, O_PERSIST };

static const struct cli_opt opts[] = {
	{ "topic", 't', CLI_ARG, MQF_O_TOPIC, "TEMPLATE",
	  "topic, fields in braces; default {ident}", NULL, 0 },
	{ "qos", 0, CLI_ARG, MQF_O_QOS, "0|1",
	  "default 1 (at least once)", NULL, 0 },
	{ "retain", 0, CLI_FLAG, O_RETAIN, NULL,
	  "publish retained messages", NULL, 0 },
	{ "format", 0, CLI_ARG, O_FORMAT, "FORMAT",
	  "the payload: line (default: the message as read)\n"
	  "or thingsboard (gateway telemetry)", NULL, 0 },
	{ "cafile", 0, CLI_ARG, MQF_O_CAFILE, "FILE",
	  "CA certificates to verify the broker (default:\n"
	  "the system's); --cacert FILE is the same", NULL, 0 },
	{ "cacert", 0, CLI_ARG, MQF_O_CAFILE, "FILE", NULL, NULL, CLI_ALIAS },
	{ "capath", 0, CLI_ARG, O_CAPATH, "DIR",
	  "a directory of CA certificates (c_rehash)", NULL, 0 },
	{ "cert", 0, CLI_ARG, MQF_O_CERT, "FILE",
	  "client certificate (mutual TLS)", NULL, 0 },
	{ "key", 0, CLI_ARG, MQF_O_KEY, "FILE", "its private key", NULL, 0 },
	{ "user", 0, CLI_ARG, O_USER, "NAME",
	  "user name (or MQTT_USER in the environment)", NULL, 0 },
	{ "password-file", 0, CLI_ARG, O_PWFILE, "FILE",
	  "the password (or MQTT_PASSWORD in the\nenvironment)", NULL, 0 },
	{ "mqtt-version", 0, CLI_ARG, MQF_O_MQTTVER, "V",
	  "5 (default) or 3.1.1", NULL, 0 },
	{ "client-id", 'i', CLI_ARG, MQF_O_CLIENTID, "ID",
	  "default flespi-to-mqtt-HOSTNAME-PID (-0, -1...\n"
	  "per connection)", NULL, 0 },
	{ "keepalive", 'k', CLI_ARG, MQF_O_KEEPALIVE, "SECS",
	  "5..65535; default 60", NULL, 0 },
	{ "persistent-session", 0, CLI_FLAG, O_PERSIST, NULL,
	  "keep the session (no clean start; needs\n--client-id)", NULL, 0 },
	{ "window", 'w', CLI_ARG, MQF_O_WINDOW, "N",
	  "messages awaiting PUBACK per connection, 1..10000;\n"
	  "default 100 (MQTT 5: at most the broker's\n"
	  "receive maximum)", NULL, 0 },
	{ "connections", 0, CLI_ARG, MQF_O_CONNS, "N",
	  "connections, messages sharded by ident; default 1", NULL, 0 },
	{ "rate", 0, CLI_ARG, MQF_O_RATE, "N",
	  "publishes a second per connection; default 0\n(no limit)", NULL,
	  0 },
	{ "dump", 0, CLI_FLAG, MQF_O_DUMP, NULL,
	  "print each message's topic and payload to stdout\n"
	  "(as mosquitto_sub -v does), no network", NULL, 0 },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, 0 }
};

/* What mosquitto_pub users type that means something else here. */
static const struct cli_habit habits[] = {
	{ "-h", NULL, "mosquitto_pub's -h HOST is the argument "
	  "mqtt://HOST (mqtts://HOST for TLS) here" },
	{ "-p", NULL, "the port goes in the argument: mqtt://HOST:PORT" },
	{ "-L", NULL, "the broker is the argument: mqtt[s]://HOST[:PORT]; "
	  "the topic is --topic" },
	{ "--url", NULL, "the broker is the argument: mqtt[s]://HOST[:PORT]" },
	{ "-u", NULL, "mosquitto_pub's -u NAME is --user NAME here" },
	{ "--username", NULL, "mosquitto_pub's --username NAME is --user NAME "
	  "here" },
	{ "-P", NULL, "a password is never taken from the command line: "
	  "--password-file FILE, or MQTT_PASSWORD in the environment" },
	{ "--pw", NULL, "a password is never taken from the command line: "
	  "--password-file FILE, or MQTT_PASSWORD in the environment" },
	{ "-r", NULL, "mosquitto_pub's -r is --retain here (a rate limit is "
	  "--rate N)" },
	{ "-c", NULL, "mosquitto_pub's -c is --persistent-session here" },
	{ "-M", NULL, "mosquitto_pub's -M N is --window N here" },
	{ "--insecure", NULL, "TLS verification cannot be turned off: give "
	  "the broker's CA with --cafile FILE" },
	{ NULL, NULL, NULL }
};

static void	option(void *, struct fwd_conf *, int, const char *);

static const struct fwd_cmd cmd = {
	.synopsis = "usage: flespi-to-mqtt [options] mqtt[s]://HOST[:PORT]\n"
	    "       flespi-to-mqtt --dump [options]\n",
	.about = "Publish flespi messages (NDJSON on stdin) to an MQTT broker.",
	.opts = opts,
	.habits = habits,
	.family_habits = mqf_habits,
	.notes = "mqtt:// is plain TCP (port 1883), mqtts:// TLS (port 8883); "
	    "--connect-timeout\ncovers CONNECT to CONNACK.\n",
	.option = option,
};

struct conf {
	struct mqfopts	m;		/* the MQTT options (mqttfwd.h) */
	const char     *pwfile;
	int		format;
	char		host[256];
	char		user[SECRET_MAX];
	char		password[SECRET_MAX];
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
	case O_RETAIN:
		cf->retain = 1;
		break;
	case O_FORMAT:
		if (strcmp(optarg, "line") == 0)
			o->format = MQF_LINE;
		else if (strcmp(optarg, "thingsboard") == 0)
			o->format = MQF_THINGSBOARD;
		else
			die(EXIT_USAGE, "--format: '%s' is not line or "
			    "thingsboard", optarg);
		break;
	case O_CAPATH:
		cf->capath = optarg;
		break;
	case O_USER:
		if (*optarg == '\0' || strlen(optarg) >= sizeof o->user)
			die(EXIT_USAGE, "--user: 1 to %zu bytes",
			    sizeof o->user - 1);
		snprintf(o->user, sizeof o->user, "%s", optarg);
		break;
	case O_PWFILE:
		o->pwfile = optarg;
		break;
	case O_PERSIST:
		cf->persistent = 1;
		break;
	}
}

/*
 * The broker: mqtt://HOST[:PORT] or mqtts://HOST[:PORT], nothing more
 * (a user in the URL would put a secret on the command line; a path is
 * not a topic here).  Exits 64 when it is not.
 */
static void
broker(struct conf *o, const char *url)
{
	struct mconf *cf = &o->m.q.c;
	const char *rest;
	char port[8], why[600];

	if (strncasecmp(url, "mqtts://", 8) == 0) {
		cf->tls = 1;
		rest = url + 8;
	} else if (strncasecmp(url, "mqtt://", 7) == 0) {
		rest = url + 7;
	} else {
		die(EXIT_USAGE, "'%s': the broker is mqtt://HOST[:PORT] or "
		    "mqtts://HOST[:PORT] (TLS)", url);
	}
	if (strchr(rest, '@') != NULL)
		die(EXIT_USAGE, "'%s': no user in the URL: --user NAME, and "
		    "the password in --password-file FILE or MQTT_PASSWORD",
		    url);
	if (rest[0] != '[' && strchr(rest, '/') != NULL)
		die(EXIT_USAGE, "'%s': nothing after HOST[:PORT] (the topic is "
		    "--topic TEMPLATE)", url);
	if (hostport_parse(rest, cf->tls ? "8883" : "1883", o->host,
	    sizeof o->host, port, sizeof port, why, sizeof why) == -1)
		die(EXIT_USAGE, "%s", why);
	cf->host = o->host;
	cf->port = (int)num_arg("port", port, 1, 65535);
}

/* The broker, the credentials, TLS and the client id, once all is read. */
static void
check(struct conf *o, struct fwd_conf *fc, struct cli *cl)
{
	struct mconf *cf = &o->m.q.c;
	char why[600];

	mqf_settle(&o->m, fc);
	if (o->m.dump) {
		if (cl->noperands > 0)
			cli_operand_fail(cl, 0, "--dump connects to nothing: "
			    "unexpected '%s'", cl->operands[0]);
		fwd_dry_run(cl, fc);
		return;
	}
	if (cl->noperands == 0)
		cli_fail(cl, "no broker given (mqtt[s]://HOST[:PORT])");
	if (cl->noperands > 1)
		cli_operand_fail(cl, 1, "one broker expected, not '%s' too",
		    cl->operands[1]);
	broker(o, cl->operands[0]);
	if (!cf->tls && (cf->cafile || cf->capath || cf->cert || cf->key))
		die(EXIT_USAGE, "--%s is for TLS: the broker is then "
		    "mqtts://HOST[:PORT]", cf->cafile ? "cafile" : cf->capath ?
		    "capath" : cf->cert ? "cert" : "key");
	if (tlsfiles_check(cf->cafile, cf->cert, cf->key, why, sizeof why) ==
	    -1)
		die(EXIT_USAGE, "%s", why);
	if (cf->persistent && o->m.client_id == NULL)
		die(EXIT_USAGE, "--persistent-session needs --client-id ID: a "
		    "session is the client id's, and the default one changes "
		    "every run");
	mqf_client_id(&o->m, "flespi-to-mqtt");
	/* Secrets: from a file or the environment, never argv. */
	if (o->user[0] == '\0')
		secret_get("user name", NULL, "--user", "MQTT_USER", o->user,
		    sizeof o->user);
	if (secret_get("password", o->pwfile, "--password-file",
	    "MQTT_PASSWORD", o->password, sizeof o->password) &&
	    o->user[0] == '\0')
		die(EXIT_USAGE, "a password needs a user name: --user NAME");
	if (o->user[0] != '\0')
		cf->user = o->user;
	if (o->password[0] != '\0')
		cf->password = o->password;
	if (!cf->tls && !host_loopback(cf->host))
		xwarn("warning: mqtt://%s is not TLS: the messages%s go out in "
		    "clear (mqtts:// is TLS)", cf->host, cf->password ?
		    " and the password" : "");
	if (!cf->mqtt5)
		xwarn("warning: under MQTT 3.1.1 a broker acknowledges a "
		    "publish it refuses (mosquitto's ACL) and drops it: "
		    "refusals cannot be seen; MQTT 5 shows them");
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
	mqf_defaults(&o.m, 10000, 5, 65535);
	o.m.q.c.mqtt5 = 1;
	fwd_parse(&cmd, &cl, &fc, &o, argc, argv);
	check(&o, &fc, &cl);
	mqf_init(&mp, o.m.topic, &topic_any, fc.uid_field, o.format, 0, NULL);
	status = mqf_run(&fc, &o.m, &mp);
	explicit_bzero(o.password, sizeof o.password);
	explicit_bzero(o.user, sizeof o.user);
	cli_free(&cl);
	return status;
}
