/*
 * flespi-recv: stream a flespi channel's message buffer to stdout as NDJSON,
 * one message per line, in channel order, each exactly as flespi sent it.
 * This file is the command line of both modes and main; the engines are
 * recvpoll.c (polling the REST API) and recvmqtt.c (--mqtt, pushed).
 */
#include <sys/resource.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diag.h"
#include "exits.h"
#include "flespiapi.h"
#include "health.h"
#include "num.h"
#include "recvmqtt.h"
#include "recvpoll.h"
#include "stdfds.h"
#include "tlsfiles.h"
#include "token.h"

enum { O_URL = 256, O_TOKFILE, O_CAFILE, O_COUNT, O_MQTT, O_CKPT,
    /* polling */
    O_CID, O_FROM, O_STATE, O_DELETE, O_ONCE, O_TIMEOUT, O_LCOUNT, O_LSIZE,
    O_REQTO,
    /* push */
    O_SESSION, O_EXPIRY, O_SHARE, O_STICKY, O_FILTER, O_MQTTVER };

static const char synopsis[] =
"usage: flespi-recv [options] CHANNEL[,CHANNEL...]\n"
"       flespi-recv --mqtt [options] CHANNEL[,CHANNEL...]\n";

/* The options of both modes. */
static const struct cli_opt both[] = {
	{ "token-file", 0, CLI_ARG, O_TOKFILE, "FILE",
	  "read the token from FILE (default: $FLESPI_TOKEN)", NULL, 0 },
	{ "cafile", 0, CLI_ARG, O_CAFILE, "FILE",
	  "trust the CA certificates in FILE (default: the\n"
	  "system store); --cacert FILE is the same", NULL, 0 },
	{ "cacert", 0, CLI_ARG, O_CAFILE, "FILE", NULL, NULL, CLI_ALIAS },
	{ "count", 'n', CLI_ARG, O_COUNT, "COUNT",
	  "stop after COUNT messages", NULL, 0 },
	{ "mqtt", 0, CLI_FLAG, O_MQTT, NULL,
	  "push mode over MQTT instead (see --mqtt --help)", NULL, CLI_MODE },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, 0 }
};

static const struct cli_opt poll_opts[] = {
	{ "url", 0, CLI_ARG, O_URL, "BASE",
	  "API base URL (default https://flespi.io)", NULL, 0 },
	{ "cid", 0, CLI_ARG, O_CID, "ID", "act as subaccount ID (x-flespi-cid)",
	  NULL, 0 },
	{ "from", 0, CLI_ARG, O_FROM, "KEY",
	  "start at this key (0: the oldest kept message)", NULL, 0 },
	{ "state", 0, CLI_ARG, O_STATE, "FILE",
	  "resume from and save the key in FILE", NULL, 0 },
	{ "checkpoints", 0, CLI_FLAG, O_CKPT, NULL,
	  "write the key after each answer as a line\n"
	  "{\"@checkpoint\":\"KEY\"}; --state is then only read\n"
	  "(may be repeated: resume from the oldest key)", NULL, 0 },
	{ "delete", 0, CLI_FLAG, O_DELETE, NULL,
	  "delete from the channel what was written out", NULL, 0 },
	{ "once", 0, CLI_FLAG, O_ONCE, NULL,
	  "drain what the channel holds now, then exit", NULL, 0 },
	{ "timeout", 0, CLI_ARG, O_TIMEOUT, "SECS",
	  "long-poll wait per request (default 25)", NULL, 0 },
	{ NULL, 't', CLI_ARG, O_TIMEOUT, "SECS", NULL, NULL, CLI_DEPRECATED },
	{ "limit-count", 0, CLI_ARG, O_LCOUNT, "N",
	  "messages per request, fixed (default: from 1000,\n"
	  "growing while answers come back full)", NULL, 0 },
	{ NULL, 'c', CLI_ARG, O_LCOUNT, "N", NULL, NULL, CLI_DEPRECATED },
	{ "limit-size", 0, CLI_ARG, O_LSIZE, "BYTES",
	  "bytes per answer (default 4194304)", NULL, 0 },
	{ "request-timeout", 0, CLI_ARG, O_REQTO, "SECS",
	  "allowed beyond the long poll (default 10)", NULL, 0 },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, 0 }
};

static const struct cli_opt mqtt_opts[] = {
	{ "url", 0, CLI_ARG, O_URL, "mqtts://HOST[:PORT]",
	  "broker (default " RECVMQTT_URL ")", NULL, 0 },
	{ "session", 0, CLI_ARG, O_SESSION, "NAME",
	  "persistent session with client id NAME: messages\n"
	  "published while away are delivered on return", NULL, 0 },
	{ "session-expiry", 0, CLI_ARG, O_EXPIRY, "SECS",
	  "how long the broker keeps the session (MQTT 5,\n"
	  "default 86400)", NULL, 0 },
	{ "share", 0, CLI_ARG, O_SHARE, "GROUP",
	  "shared subscription: the group's consumers split\nthe stream",
	  NULL, 0 },
	{ "sticky", 0, CLI_FLAG, O_STICKY, NULL,
	  "with --share: each device stays on one consumer", NULL, 0 },
	{ "filter", 0, CLI_ARG, O_FILTER, "EXPR",
	  "flespi expression evaluated by the broker", NULL, 0 },
	{ "mqtt-version", 0, CLI_ARG, O_MQTTVER, "V", "5 (default) or 3.1.1",
	  "5|3.1.1", 0 },
	/* Refused with a reason: a PUBACK cannot wait for the pipeline. */
	{ "checkpoints", 0, CLI_FLAG, O_CKPT, NULL, NULL, NULL, CLI_ALIAS },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, 0 }
};

/* What curl and mosquitto_sub users type that means something else here. */
static const struct cli_habit poll_habits[] = {
	{ "-H", NULL, "the token is read from --token-file FILE or "
	  "$FLESPI_TOKEN, never from the command line" },
	{ "--token", NULL, "never on the command line: --token-file FILE or "
	  "$FLESPI_TOKEN" },
	{ "-h", NULL, "the API's address is --url BASE" },
	{ NULL, NULL, NULL }
};

static const struct cli_habit mqtt_habits[] = {
	{ "-h", NULL, "mosquitto_sub's -h HOST is --url mqtts://HOST[:PORT] "
	  "here" },
	{ "-p", NULL, "the port goes in --url mqtts://HOST:PORT" },
	{ "-t", NULL, "the topic is made from CHANNEL (and --share, "
	  "--filter)" },
	{ "-q", "0|1|2", "-q is --quiet here; messages are received at QoS 1" },
	{ "-u", NULL, "the token is the user name: --token-file FILE or "
	  "$FLESPI_TOKEN" },
	{ "-P", NULL, "the token is the user name: --token-file FILE or "
	  "$FLESPI_TOKEN" },
	{ "-i", NULL, "mosquitto_sub's -i ID is --session ID here (a "
	  "persistent session)" },
	{ "-c", NULL, "mosquitto_sub's -c is --session NAME here" },
	{ "-V", NULL, "mosquitto_sub's -V VERSION is --mqtt-version VERSION "
	  "here" },
	{ "-d", NULL, "mosquitto_sub's -d is -v (twice: the library's log) "
	  "here" },
	{ NULL, NULL, NULL }
};

static const char exit_text[] =
"\n"
"Exit status: 0 done (stopped, --once, -n, or the reader went away),\n"
"64 usage, 69 refused (token, channel, certificate), 73 --state in use,\n"
"74 local I/O error, 75 gave up after retries.\n";

/* Everything the command line says, for either engine. */
struct opts {
	struct recvpoll_conf p;
	struct recvmqtt_conf m;
	const char     *url;
	const char     *token_file;
	const char     *cafile;
	long long	retries;
	long long	wait_ms;
	long long	connect_ms;
	uint64_t	count;
	int		quiet;
	struct health_conf health;	/* --stats-interval, --metrics */
};

static void __attribute__((noreturn))
help(int mqtt)
{
	fputs(synopsis, stdout);
	if (mqtt) {
		puts("Receive flespi channel messages pushed over MQTT; write "
		    "them as NDJSON.");
		puts("CHANNEL is a channel id, a comma list of ids, or all (+ "
		    "works too).");
		cli_help(stdout, mqtt_opts);
	} else {
		puts("Stream a flespi channel's message buffer to stdout as "
		    "NDJSON.");
		puts("CHANNEL is a channel id, a comma list of ids, or all (+ "
		    "works too).");
		cli_help(stdout, poll_opts);
	}
	cli_help(stdout, both);
	cli_help(stdout, cli_every);
	cli_help(stdout, cli_common);
	fputs(exit_text, stdout);
	cli_done();
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

/* An option both modes take.  Returns 1 when id was one, else 0. */
static int
common(struct cli *cl, struct opts *o, int id, const char *arg)
{
	switch (id) {
	case CLI_VERSION:
		printf("flespi-recv %s\n", VERSION);
		cli_done();
	case CLI_LIST:
		cli_list(stdout, cl->tabs);
		cli_done();
	case O_URL:	o->url = arg; break;
	case O_TOKFILE:	o->token_file = arg; break;
	case O_CAFILE:	o->cafile = arg; break;
	case O_MQTT:	break;
	case O_COUNT:
		o->count = (uint64_t)num_arg("--count", arg, 1, INT64_MAX);
		break;
	case CLI_RETRIES:
		o->retries = num_arg("--retries", arg, 0, INT32_MAX);
		break;
	case CLI_RETRYWAIT:
		o->wait_ms = secs_arg("--retry-wait", arg, 1, 30000);
		break;
	case CLI_CONNTO:
		o->connect_ms = secs_arg("--connect-timeout", arg, 10,
		    3600000);
		break;
	case 'q':	o->quiet = o->health.quiet = 1; break;
	case 'v':	verbose++; break;
	case CLI_STATSINT:
		health_interval_arg(&o->health, arg);
		break;
	case CLI_METRICS:
		health_metrics_arg(&o->health, arg);
		break;
	default:
		return 0;
	}
	return 1;
}

/* The one CHANNEL argument; all and + both mean every channel. */
static const char *
channel_arg(struct cli *cl)
{
	if (cl->noperands != 1) {
		if (cl->noperands == 0)
			cli_fail(cl, "no CHANNEL given (a channel id like "
			    "1234, a comma list like 1234,5678, or all)");
		cli_operand_fail(cl, 1, "one CHANNEL argument expected (a "
		    "comma list for several), not '%s' too", cl->operands[1]);
	}
	if (*cl->operands[0] == '\0')
		die(EXIT_USAGE, "empty CHANNEL");
	return cl->operands[0];
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

/* The command line of polling mode, into o->p. */
static void
parse_poll(struct cli *cl, struct opts *o)
{
	struct recvpoll_conf *p = &o->p;
	const char *arg;
	int id;

	while ((id = cli_next(cl, &arg)) != -1) {
		if (common(cl, o, id, arg))
			continue;
		switch (id) {
		case CLI_HELP:	help(0);
		case O_CID:
			p->cid = arg;
			num_arg("--cid", arg, 1, INT64_MAX);
			break;
		case O_FROM:
			p->from = key_arg("--from", arg);
			p->have_from = 1;
			break;
		case O_STATE:
			if (*arg == '\0')
				die(EXIT_USAGE, "--state: empty file name");
			p->states[p->nstates++] = arg;
			p->state = p->states[0];
			break;
		case O_CKPT:	p->checkpoints = 1; break;
		case O_DELETE:	p->del = 1; break;
		case O_ONCE:	p->once = 1; break;
		case O_TIMEOUT:
			p->timeout = (unsigned)num_arg("--timeout", arg,
			    0, 3600);
			break;
		case O_LCOUNT:
			p->limit_count = (unsigned)num_arg("--limit-count", arg,
			    1, 100000);
			p->count_fixed = 1;
			break;
		case O_LSIZE:
			p->limit_size = (size_t)num_arg("--limit-size", arg,
			    1024, 256 << 20);
			break;
		case O_REQTO:
			p->request_ms = secs_arg("--request-timeout", arg, 100,
			    3600000);
			break;
		}
	}
	p->selector = channel_arg(cl);
	/* flespi's own selector for every channel is "all". */
	if (strcmp(p->selector, "+") == 0)
		p->selector = "all";
	check_cafile(o->cafile);
	if (p->nstates > 1 && !p->checkpoints)
		die(EXIT_USAGE, "--state given %d times: only --checkpoints "
		    "reads several key files (one per branch of a tee)",
		    p->nstates);
	/*
	 * flespi deletes everything before the key, written by us or not;
	 * with --checkpoints only what the end of the pipeline saved is.
	 */
	if (p->del && p->checkpoints && p->nstates == 0)
		die(EXIT_USAGE, "--delete --checkpoints deletes up to the key "
		    "the end of the pipeline saves: name its file with "
		    "--state");
	if (p->del && p->checkpoints && p->have_from)
		die(EXIT_USAGE, "--delete --checkpoints deletes up to the keys "
		    "in the --state files; with --from they would not describe "
		    "this run's output");
	if (p->del && !p->checkpoints && p->have_from && p->from > 0)
		die(EXIT_USAGE, "--delete with --from %" PRIu64 " would delete "
		    "the messages before it, which were never written out",
		    p->from);
	switch (fa_cleartext(o->url)) {
	case 1:
		xwarn("warning: %s is not https: the token goes out in clear",
		    o->url);
		break;
	case -1:
		die(EXIT_USAGE, "--url: '%s' is not a URL", o->url);
	}
	p->url = o->url;
	p->cafile = o->cafile;
	p->count = o->count;
	p->retries = o->retries;
	p->wait_ms = o->wait_ms;
	p->connect_ms = o->connect_ms;
	p->quiet = o->quiet;
	p->health = o->health;
}

/* The command line of push mode (--mqtt), into o->m. */
static void
parse_mqtt(struct cli *cl, struct opts *o)
{
	struct recvmqtt_conf *mq = &o->m;
	const char *arg;
	int id;

	mq->mqtt5 = 1;
	o->url = RECVMQTT_URL;
	while ((id = cli_next(cl, &arg)) != -1) {
		if (common(cl, o, id, arg))
			continue;
		switch (id) {
		case CLI_HELP:	help(1);
		case O_SESSION:	mq->session = arg; break;
		case O_EXPIRY:
			mq->expiry = num_arg("--session-expiry", arg, 1,
			    UINT32_MAX);
			break;
		case O_SHARE:	mq->share = arg; break;
		case O_STICKY:	mq->sticky = 1; break;
		case O_FILTER:	mq->filter = arg; break;
		case O_MQTTVER:
			if (strcmp(arg, "5") == 0)
				mq->mqtt5 = 1;
			else if (strcmp(arg, "3.1.1") == 0)
				mq->mqtt5 = 0;
			else
				die(EXIT_USAGE, "--mqtt-version: '%s' is not 5 "
				    "or 3.1.1", arg);
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
		}
	}
	mq->channels = channel_arg(cl);
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
	mq->health = o->health;
}

/*
 * The command line: --mqtt anywhere (before a "--") selects push mode,
 * whose options differ.  Returns 1 for push mode, else 0.
 */
static int
parse(struct cli *cl, int argc, char **argv, struct opts *o)
{
	const struct cli_opt *poll_tabs[] = { poll_opts, both, cli_every,
	    cli_common, NULL };
	const struct cli_opt *mqtt_tabs[] = { mqtt_opts, both, cli_every,
	    cli_common, NULL };
	const struct cli_habit *poll_habits_tabs[] = { poll_habits, NULL };
	const struct cli_habit *mqtt_habits_tabs[] = { mqtt_habits, NULL };
	int i;

	memset(o, 0, sizeof *o);
	o->url = "https://flespi.io";
	o->retries = -1;
	o->health.interval_ms = -1;
	o->wait_ms = 500;
	o->connect_ms = 10000;
	o->p.timeout = 25;
	o->p.limit_count = 1000;
	o->p.limit_size = 4 << 20;
	o->p.request_ms = 10000;
	if ((o->p.states = calloc((size_t)argc, sizeof *o->p.states)) == NULL)
		die(EXIT_IOERR, "out of memory");
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--mqtt") == 0) {
			if (cli_init(cl, argc, argv, mqtt_tabs, synopsis,
			    mqtt_habits_tabs) == -1)
				die(EXIT_IOERR, "out of memory");
			parse_mqtt(cl, o);
			return 1;
		}
	if (cli_init(cl, argc, argv, poll_tabs, synopsis, poll_habits_tabs) ==
	    -1)
		die(EXIT_IOERR, "out of memory");
	parse_poll(cl, o);
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct cli cl;
	static char token[4096];	/* static: never leaked, wiped below */
	struct rlimit nocore = { 0, 0 };
	int fd, mqtt, status;

	/*
	 * Before anything can be opened: a closed stdout would be taken by
	 * libcurl's or libmosquitto's socketpair, and messages "written" there.
	 */
	diag_init(argv[0]);
	if (stdfds_check(&fd) == -1)
		die(EXIT_IOERR, "file descriptor %d (%s) is closed: "
		    "not starting", fd,
		    fd == 0 ? "stdin" : fd == 1 ? "stdout" : "stderr");

	/* The token will be in memory: no core dump of ours may hold it. */
	setrlimit(RLIMIT_CORE, &nocore);

	mqtt = parse(&cl, argc, argv, &o);
	token_get(o.token_file, token, sizeof token);
	/* Each wipes the token as soon as its library holds a copy. */
	status = mqtt ? recvmqtt_run(&o.m, token) : recvpoll_run(&o.p, token);
	free(o.p.states);
	cli_free(&cl);
	return status;
}
