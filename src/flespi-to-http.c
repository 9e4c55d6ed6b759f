/*
 * flespi-to-http: send flespi messages (NDJSON on stdin) to an HTTP
 * endpoint in batches, through the forwarder core (fwd.h) and the HTTP
 * transport (httpconn.h).  This file is the command's options and main:
 * the message lines go into request bodies exactly as read, so its
 * mapping is msgin's fast check alone.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "diag.h"
#include "exits.h"
#include "fwd.h"
#include "httpconn.h"
#include "msgfast.h"
#include "msgin.h"
#include "num.h"
#include "tlsfiles.h"

#define HEADERS_MAX	64

enum { O_REQUEST = 256, O_HEADER, O_HFILE, O_FORMAT, O_GZIP, O_BATCH,
	O_BBYTES, O_LINGER, O_PARALLEL, O_CAFILE, O_CERT, O_KEY, O_RSTATUS,
	O_DUMP };

static const struct cli_opt opts[] = {
	{ "request", 'X', CLI_ARG, O_REQUEST, "METHOD",
	  "POST (default), PUT, PATCH...", "POST|PUT|PATCH", 0 },
	{ "header", 'H', CLI_ARG, O_HEADER, "LINE",
	  "'Name: value', repeatable", NULL, 0 },
	{ "header-file", 0, CLI_ARG, O_HFILE, "FILE",
	  "more header lines from FILE (secrets: tokens)", NULL, 0 },
	{ "format", 0, CLI_ARG, O_FORMAT, "FORMAT",
	  "array (default: a JSON array per request),\n"
	  "ndjson (application/x-ndjson), single (one\n"
	  "message per request)", "array|ndjson|single", 0 },
	{ "gzip", 0, CLI_FLAG, O_GZIP, NULL,
	  "compress request bodies (Content-Encoding: gzip)", NULL, 0 },
	{ "batch", 0, CLI_ARG, O_BATCH, "N",
	  "messages a request at most; default 1000", NULL, 0 },
	{ "batch-bytes", 0, CLI_ARG, O_BBYTES, "BYTES",
	  "body bytes a request at most; default 1048576", NULL, 0 },
	{ "linger", 0, CLI_ARG, O_LINGER, "MS",
	  "a partial batch waits this long for more while\n"
	  "input is live; default 100", NULL, 0 },
	{ "parallel", 0, CLI_ARG, O_PARALLEL, "N",
	  "requests in flight, 1..64; default 1 keeps input\n"
	  "order, N > 1 keeps each device's order", NULL, 0 },
	{ "cafile", 0, CLI_ARG, O_CAFILE, "FILE",
	  "CA certificates to verify the server;\n"
	  "--cacert FILE (curl's name) is the same", NULL, 0 },
	{ "cacert", 0, CLI_ARG, O_CAFILE, "FILE", NULL, NULL, CLI_ALIAS },
	{ "cert", 0, CLI_ARG, O_CERT, "FILE", "client certificate (mutual TLS)",
	  NULL, 0 },
	{ "key", 0, CLI_ARG, O_KEY, "FILE", "its private key", NULL, 0 },
	{ "reject-status", 0, CLI_ARG, O_RSTATUS, "LIST",
	  "more statuses that refuse the content (4xx, such\n"
	  "as 409,451); 400, 413, 415 and 422 always do", NULL, 0 },
	{ "dump", 0, CLI_FLAG, O_DUMP, NULL,
	  "print each request that would be sent (request\n"
	  "line, headers with secrets as ***, body) to\n"
	  "stdout; no network", NULL, 0 },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, 0 }
};

/* What curl users type that means something else here, or nothing. */
static const struct cli_habit habits[] = {
	{ "--fail", NULL, "an HTTP error is a failure here already: "
	  "see the man page for what each status does" },
	{ "-f", NULL, "curl's --fail: an HTTP error is a failure here "
	  "already" },
	{ "--data", NULL, "the bodies are the messages read on stdin" },
	{ "-d", NULL, "curl's -d DATA: the bodies are the messages read on "
	  "stdin" },
	{ "--retry-delay", NULL, "curl's --retry-delay is --retry-wait "
	  "SECS here (the first delay, doubling)" },
	{ "--max-time", NULL, "a request's time is --ack-timeout SECS here" },
	{ "-m", NULL, "curl's -m SECS is --ack-timeout SECS here" },
	{ "-o", NULL, "answers are not kept: -v shows each request's status" },
	{ "-s", NULL, "curl's -s is -q (--quiet) here" },
	{ "--silent", NULL, "curl's --silent is -q (--quiet) here" },
	{ "-k", NULL, "TLS verification cannot be turned off: give the "
	  "server's CA with --cafile FILE" },
	{ "--insecure", NULL, "TLS verification cannot be turned off: give "
	  "the server's CA with --cafile FILE" },
	{ NULL, NULL, NULL }
};

static void	option(void *, struct fwd_conf *, int, const char *);

static const struct fwd_cmd cmd = {
	.synopsis = "usage: flespi-to-http [options] URL\n",
	.about = "Send flespi messages (NDJSON on stdin) to an HTTP endpoint "
	    "in batches.",
	.opts = opts,
	.habits = habits,
	.notes = "--ack-timeout is a whole request, answer included.  A status "
	    "refused before\nany 2xx (401, 403, 404, 3xx, TLS) ends the run "
	    "with 69.\n",
	.option = option,
};

/* The command's settings: the transport's, the headers and statuses given. */
struct conf {
	struct hconf	hc;
	const char     *headers[HEADERS_MAX];
	int		hsecret[HEADERS_MAX];	/* from --header-file */
	size_t		nheaders;
	int		rstatus[REJECT_STATUS_MAX];
	size_t		nrstatus;
};

/* A header line must be "Name: value" with a token for a name. */
static int
goodheader(const char *h)
{
	const char *p;

	for (p = h; *p && *p != ':'; p++)
		if (!isalnum((unsigned char)*p) &&
		    !strchr("!#$%&'*+-.^_`|~", *p))
			return 0;
	if (p == h || *p != ':')
		return 0;
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return 0;
	return 1;
}

static void
addheader(struct conf *c, const char *h, const char *where, int secret)
{
	if (!goodheader(h))
		die(EXIT_USAGE, "%s: a header is 'Name: value'", where);
	if (c->nheaders == HEADERS_MAX)
		die(EXIT_USAGE, "more than %d headers", HEADERS_MAX);
	c->hsecret[c->nheaders] = secret;
	c->headers[c->nheaders++] = h;
}

/*
 * Header lines from a file: one a line, blank lines and lines starting
 * with '#' skipped.  Their values are never printed.
 */
static void
headerfile(struct conf *c, const char *path)
{
	struct stat sb;
	char *line = NULL, *h;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		dieerr(EXIT_IOERR, "%s", path);
	if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 044))
		xwarn("%s: the header file is readable by other users "
		    "(chmod 600 it)", path);
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if (!goodheader(line))
			die(EXIT_USAGE, "%s:%zu: a header is 'Name: value'",
			    path, lineno);
		if ((h = strdup(line)) == NULL)
			die(EXIT_IOERR, "out of memory");
		addheader(c, h, path, 1);
	}
	if (ferror(f))
		dieerr(EXIT_IOERR, "%s", path);
	free(line);
	fclose(f);
}

/*
 * --reject-status: a comma-separated list of 4xx statuses (not 408 or
 * 429, which are retried), added to the content statuses; repeatable.
 */
static void
rejectstatus(struct conf *c, const char *list)
{
	const char *p = list, *e;
	char tok[16];
	long long v;
	size_t len;

	do {
		e = p + strcspn(p, ",");
		len = (size_t)(e - p);
		snprintf(tok, sizeof tok, "%.*s", (int)len, p);
		if (len >= sizeof tok || parse_ll(tok, 100, 599, &v) == -1 ||
		    !hc_reject_ok((long)v))
			die(EXIT_USAGE, "--reject-status: '%.*s' is not a 4xx "
			    "status other than 408 and 429", (int)len, p);
		if (c->nrstatus == REJECT_STATUS_MAX)
			die(EXIT_USAGE, "--reject-status: more than %d "
			    "statuses", REJECT_STATUS_MAX);
		c->rstatus[c->nrstatus++] = (int)v;
		p = e + 1;
	} while (*e == ',');
}

static void
option(void *arg, struct fwd_conf *fc, int id, const char *optarg)
{
	struct conf *c = arg;
	struct hconf *hc = &c->hc;

	(void)fc;
	switch (id) {
	case O_REQUEST:
		hc->method = optarg;
		break;
	case O_HEADER:
		if (strncasecmp(optarg, "authorization:", 14) == 0)
			xwarn("-H: a secret on the command line is seen by ps: "
			    "use --header-file");
		addheader(c, optarg, "-H", 0);
		break;
	case O_HFILE:
		headerfile(c, optarg);
		break;
	case O_FORMAT:
		if (strcmp(optarg, "array") == 0)
			hc->format = HF_ARRAY;
		else if (strcmp(optarg, "ndjson") == 0)
			hc->format = HF_NDJSON;
		else if (strcmp(optarg, "single") == 0)
			hc->format = HF_SINGLE;
		else
			die(EXIT_USAGE, "--format: '%s' is not array, ndjson "
			    "or single", optarg);
		break;
	case O_GZIP:
		hc->gzip = 1;
		break;
	case O_BATCH:
		hc->batch = (size_t)num_arg("--batch", optarg, 1, 100000);
		break;
	case O_BBYTES:
		hc->batch_bytes = (size_t)num_arg("--batch-bytes", optarg, 1024,
		    64 << 20);
		break;
	case O_LINGER:
		hc->linger_ms = num_arg("--linger", optarg, 0, 60000);
		break;
	case O_PARALLEL:
		hc->parallel = (unsigned)num_arg("--parallel", optarg, 1,
		    HTTP_PARALLEL_MAX);
		break;
	case O_CAFILE:
		hc->cacert = optarg;
		break;
	case O_CERT:
		hc->cert = optarg;
		break;
	case O_KEY:
		hc->key = optarg;
		break;
	case O_RSTATUS:
		rejectstatus(c, optarg);
		break;
	case O_DUMP:
		hc->dump = 1;
		break;
	}
}

/* The URL, and what the options must agree on. */
static void
check(struct conf *c, struct fwd_conf *fc, struct cli *cl)
{
	struct hconf *hc = &c->hc;
	char why[512];
	CURLU *u;

	if (cl->noperands == 0)
		cli_fail(cl, "no URL given");
	if (cl->noperands > 1)
		cli_operand_fail(cl, 1, "one URL argument expected, not '%s' "
		    "too", cl->operands[1]);
	hc->url = cl->operands[0];
	if (strncasecmp(hc->url, "http://", 7) != 0 &&
	    strncasecmp(hc->url, "https://", 8) != 0)
		die(EXIT_USAGE, "the URL must start with http:// or https://");
	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, hc->url, 0) != CURLUE_OK)
		die(EXIT_USAGE, "not a URL: %s", hc->url);
	curl_url_cleanup(u);
	if (strspn(hc->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") !=
	    strlen(hc->method) || *hc->method == '\0')
		die(EXIT_USAGE, "-X: '%s' is not a method (PUT, PATCH...)",
		    hc->method);
	if (tlsfiles_check(hc->cacert, hc->cert, hc->key, why, sizeof why) ==
	    -1)
		die(EXIT_USAGE, "%s", why);
	hc->headers = c->headers;
	hc->hsecret = c->hsecret;
	hc->nheaders = c->nheaders;
	if (hc->dump)
		fwd_dry_run(cl, fc);
	hc->reject_status = c->rstatus;
	hc->nreject_status = c->nrstatus;
	fc->inflight = hc_inflight(hc);
}

int
main(int argc, char **argv)
{
	struct conf c;
	struct fwd_conf fc;
	struct cli cl;
	struct msgfast mf;
	struct fwd_mapping mp = { NULL, NULL, msgfast_check, &mf };
	size_t i;
	int status;

	memset(&c, 0, sizeof c);
	c.hc.method = "POST";
	c.hc.format = HF_ARRAY;
	c.hc.batch = 1000;
	c.hc.batch_bytes = 1024 * 1024;
	c.hc.linger_ms = 100;
	c.hc.parallel = 1;
	c.hc.useragent = "flespi-to-http/" VERSION;
	fwd_parse(&cmd, &cl, &fc, &c, argc, argv);
	check(&c, &fc, &cl);
	msgfast_init(&mf, fc.uid_field, NULL, 0);
	status = fwd_main(&fc, &hc_transport, &c.hc, &mp);
	/* The header file's lines are ours (strdup), and secrets: wiped. */
	for (i = 0; i < c.nheaders; i++)
		if (c.hsecret[i]) {
			explicit_bzero((char *)(uintptr_t)c.headers[i],
			    strlen(c.headers[i]));
			free((char *)(uintptr_t)c.headers[i]);
		}
	cli_free(&cl);
	return status;
}
