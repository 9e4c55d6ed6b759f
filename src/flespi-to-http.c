/*
 * flespi-to-http: send flespi messages (NDJSON on stdin) to an HTTP
 * endpoint in batches, through the forwarder core (fwd.h) and the HTTP
 * transport (httpconn.h).  This file is the options and main: the
 * message lines go into request bodies exactly as read, so there is no
 * mapping.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
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
#include "stdfds.h"
#include "tlsfiles.h"

#define HEADERS_MAX	64

static const char usage_text[] =
"usage: flespi-to-http [-X METHOD] [-H 'Name: value'] [--header-file FILE]\n"
"           [--format array|ndjson|single] [--gzip] [--batch N]\n"
"           [--batch-bytes BYTES] [--linger MS] [--parallel N]\n"
"           [--cafile FILE] [--cert FILE --key FILE] [--state FILE]\n"
"           [--failed FILE] [--rejected FILE] [--retries N] [-q] [-v] URL\n";

static const char help_text[] =
"Send flespi messages (NDJSON on stdin) to an HTTP endpoint in batches.\n"
"\n"
"  -X, --request METHOD    POST (default), PUT, PATCH...\n"
"  -H, --header LINE       'Name: value', repeatable\n"
"      --header-file FILE  more header lines from FILE (secrets: tokens)\n"
"      --format FORMAT     array (default: a JSON array per request),\n"
"                          ndjson (application/x-ndjson), single (one\n"
"                          message per request)\n"
"      --gzip              compress request bodies (Content-Encoding: gzip)\n"
"      --batch N           messages a request at most; default 1000\n"
"      --batch-bytes BYTES body bytes a request at most; default 1048576\n"
"      --linger MS         a partial batch waits this long for more while\n"
"                          input is live; default 100\n"
"      --parallel N        requests in flight, 1..64; default 1 keeps input\n"
"                          order, N > 1 keeps each device's order\n"
"      --cafile FILE       CA certificates to verify the server;\n"
"                          --cacert FILE (curl's name) is the same\n"
"      --cert FILE         client certificate (mutual TLS)\n"
"      --key FILE          its private key\n"
"%s"
"  -q, --quiet             no progress line on stderr\n"
"  -v, --verbose           one line per request: method, URL, status,\n"
"                          messages, bytes, milliseconds\n"
"  -h, --help              this help\n"
"  -V, --version           the version\n"
"\n"
"Exit status: 0 all delivered, 64 usage, 65 bad or refused lines,\n"
"69 refused by the server (401/403, TLS), 73 --state in use, 74 local I/O\n"
"error, 75 undelivered messages (gave up, or stopped by a signal).\n";

enum { OPT_HFILE = 256, OPT_FORMAT, OPT_GZIP, OPT_BATCH, OPT_BBYTES,
	OPT_LINGER, OPT_PARALLEL, OPT_CACERT, OPT_CERT, OPT_KEY };

static const struct option own[] = {
	{ "request",		required_argument, NULL, 'X' },
	{ "header",		required_argument, NULL, 'H' },
	{ "header-file",	required_argument, NULL, OPT_HFILE },
	{ "format",		required_argument, NULL, OPT_FORMAT },
	{ "gzip",		no_argument,	   NULL, OPT_GZIP },
	{ "batch",		required_argument, NULL, OPT_BATCH },
	{ "batch-bytes",	required_argument, NULL, OPT_BBYTES },
	{ "linger",		required_argument, NULL, OPT_LINGER },
	{ "parallel",		required_argument, NULL, OPT_PARALLEL },
	{ "cafile",		required_argument, NULL, OPT_CACERT },
	{ "cacert",		required_argument, NULL, OPT_CACERT },
	{ "cert",		required_argument, NULL, OPT_CERT },
	{ "key",		required_argument, NULL, OPT_KEY },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "version",		no_argument,	   NULL, 'V' },
};
#define NOWN	(sizeof own / sizeof own[0])

static const char *headers[HEADERS_MAX];
static size_t nheaders;

/* A header line must be "Name: value" with a token for a name. */
static int
goodheader(const char *h)
{
	const char *p;

	for (p = h; *p && *p != ':'; p++)
		if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
			return 0;
	if (p == h || *p != ':')
		return 0;
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return 0;
	return 1;
}

static void
addheader(const char *h, const char *where)
{
	if (!goodheader(h))
		die(EXIT_USAGE, "%s: a header is 'Name: value'", where);
	if (nheaders == HEADERS_MAX)
		die(EXIT_USAGE, "more than %d headers", HEADERS_MAX);
	headers[nheaders++] = h;
}

/*
 * Header lines from a file: one a line, blank lines and lines starting
 * with '#' skipped.  Their values are never printed.
 */
static void
headerfile(const char *path)
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
		addheader(h, path);
	}
	if (ferror(f))
		dieerr(EXIT_IOERR, "%s", path);
	free(line);
	fclose(f);
}

static void
parse(int argc, char **argv, struct hconf *hc, struct fwd_conf *fc)
{
	struct option lo[NOWN + FWD_NOPTS + 1];
	CURLU *u;
	int c;

	memset(hc, 0, sizeof *hc);
	hc->method = "POST";
	hc->format = HF_ARRAY;
	hc->batch = 1000;
	hc->batch_bytes = 1024 * 1024;
	hc->linger_ms = 100;
	hc->parallel = 1;
	hc->useragent = "flespi-to-http/" VERSION;
	fwd_conf_init(fc, FWD_MAX_LINE, 500, 10000);
	fwd_options(lo, own, NOWN);
	while ((c = getopt_long(argc, argv, "X:H:qvhV", lo, NULL)) != -1) {
		switch (c) {
		case 'q':
			fc->quiet = 1;
			break;
		case 'X':
			hc->method = optarg;
			break;
		case 'H':
			if (strncasecmp(optarg, "authorization:", 14) == 0)
				xwarn("-H: a secret on the command line is "
				    "seen by ps: use --header-file");
			addheader(optarg, "-H");
			break;
		case OPT_HFILE:
			headerfile(optarg);
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "array") == 0)
				hc->format = HF_ARRAY;
			else if (strcmp(optarg, "ndjson") == 0)
				hc->format = HF_NDJSON;
			else if (strcmp(optarg, "single") == 0)
				hc->format = HF_SINGLE;
			else
				die(EXIT_USAGE, "--format: '%s' is not array, "
				    "ndjson or single", optarg);
			break;
		case OPT_GZIP:
			hc->gzip = 1;
			break;
		case OPT_BATCH:
			hc->batch = (size_t)num_arg("--batch", optarg, 1,
			    100000);
			break;
		case OPT_BBYTES:
			hc->batch_bytes = (size_t)num_arg("--batch-bytes",
			    optarg, 1024, 64 << 20);
			break;
		case OPT_LINGER:
			hc->linger_ms = num_arg("--linger", optarg, 0, 60000);
			break;
		case OPT_PARALLEL:
			hc->parallel = (unsigned)num_arg("--parallel", optarg,
			    1, HTTP_PARALLEL_MAX);
			break;
		case OPT_CACERT:
			hc->cacert = optarg;
			break;
		case OPT_CERT:
			hc->cert = optarg;
			break;
		case OPT_KEY:
			hc->key = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			printf("%s\n", usage_text);
			printf(help_text, fwd_usage);
			exit(EXIT_OK);
		case 'V':
			printf("flespi-to-http %s\n", VERSION);
			exit(EXIT_OK);
		default:
			if (!fwd_option(fc, c, optarg))
				usage_fail(usage_text);
		}
	}
	if (argc - optind != 1) {
		xwarn(argc == optind ? "no URL given" : "one URL argument "
		    "expected");
		usage_fail(usage_text);
	}
	hc->url = argv[optind];
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
	if ((hc->cert == NULL) != (hc->key == NULL))
		die(EXIT_USAGE, "--cert and --key go together");
	hc->headers = headers;
	hc->nheaders = nheaders;
	hc->retries = fc->retries;
	hc->retry_wait_ms = fc->retry_wait_ms;
	hc->timeout_ms = fc->ack_ms;
	hc->connect_ms = fc->connect_ms;
	fc->inflight = hc_inflight(hc);
}

int
main(int argc, char **argv)
{
	struct hconf hc;
	struct fwd_conf fc;
	struct msgfast mf;
	struct httpconn *t;
	struct fwd *f;
	struct msgin *in;
	char why[512];
	int status, fd;

	diag_init(argv[0]);
	if (stdfds_check(&fd) == -1) {
		if (fd != 2)
			xwarn("descriptor %d is closed", fd);
		return EXIT_IOERR;
	}
	parse(argc, argv, &hc, &fc);
	if (tlsfiles_check(hc.cacert, hc.cert, hc.key, why, sizeof why) == -1)
		die(EXIT_USAGE, "%s", why);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		die(EXIT_IOERR, "curl_global_init failed");
	if ((f = fwd_new(&fc, &status)) == NULL)
		return status;
	in = fwd_input(f);
	msgfast_init(&mf, in->uid_field, NULL, 0);
	in->fast = msgfast_check;
	in->fast_arg = &mf;
	if ((t = hc_new(&hc, f, why, sizeof why)) == NULL)
		die(EXIT_IOERR, "%s", why);
	status = fwd_run(f, &hc_ops, t, NULL, NULL);
	hc_free(t);
	fwd_free(f);
	curl_global_cleanup();
	return status;
}
