/*
 * flespi-to-wialon: forward flespi messages (NDJSON on stdin) to a Wialon
 * server over the Retranslator 1.0 protocol, one packet per message, over
 * one TCP connection, with a window of unacknowledged packets that is sent
 * again after every reconnect (at-least-once, in order).  The options,
 * the mapping (wialon.c) and main; delivery is the forwarder core's
 * (fwd.c) over the Wialon TCP transport (wialontcp.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "exits.h"
#include "fwd.h"
#include "msgin.h"
#include "num.h"
#include "pmap.h"
#include "stdfds.h"
#include "stop.h"
#include "wialon.h"
#include "wialontcp.h"

#define DEFAULT_PORT	"20163"

struct opts {
	struct fwd_conf	fc;
	const char     *target;
	char		host[256];
	char		port[8];
	int		dump;		/* 1: hex, 2: text */
	size_t		window;		/* 0: adaptive (wialontcp.h) */
};

static const char synopsis[] =
"usage: flespi-to-wialon [options] HOST[:PORT]\n"
"       flespi-to-wialon --dump[=text] [options]\n";

static void __attribute__((noreturn))
help(void)
{
	printf("%s%s%s%s", synopsis,
"Forward flespi messages (NDJSON on stdin) to Wialon over Retranslator 1.0.\n"
"  -w, --window N          unacknowledged packets in flight, 1-16384\n"
"                          (default: adapts to the link, 1024 up to 16384\n"
"                          or 8 MiB of lines)\n"
"  --uid-field NAME        field holding the unit id (default ident)\n"
"  --rename FROM=TO        send parameter FROM as TO (TO empty or -: drop)\n"
"  --map FILE              FROM=TO rules, one per line\n"
"  --dump[=hex|text]       print each packet to stdout, no network: in hex,\n"
"                          or decoded as text\n"
"  -q, --quiet             no progress line on stderr\n"
"  -v, --verbose           log connects, reconnects and resends\n"
"  -h, --help              this help\n"
"  -V, --version           print the version\n"
"Options of every forwarder:\n", fwd_usage,
"Defaults here: --retry-wait 0.5, --connect-timeout 10.\n");
	if (fflush(stdout) == EOF || ferror(stdout))
		dieerr(EXIT_IOERR, "stdout");
	exit(EXIT_OK);
}

/*
 * HOST, HOST:PORT, [V6], [V6]:PORT, or a bare IPv6 literal (more than one
 * colon, no port).  The port defaults to 20163.
 */
static void
target_arg(struct opts *o, const char *s)
{
	const char *host = s, *port = NULL, *p;
	size_t hlen;

	if (*s == '[') {
		if ((p = strchr(s, ']')) == NULL)
			die(EXIT_USAGE, "'%s': no ']' after an IPv6 address", s);
		host = s + 1;
		hlen = (size_t)(p - host);
		if (p[1] == ':')
			port = p + 2;
		else if (p[1] != '\0')
			die(EXIT_USAGE, "'%s': expected ':PORT' after ']'", s);
	} else if ((p = strchr(s, ':')) != NULL && strchr(p + 1, ':') == NULL) {
		hlen = (size_t)(p - s);
		port = p + 1;
	} else
		hlen = strlen(s);
	if (hlen == 0 || hlen >= sizeof o->host)
		die(EXIT_USAGE, "'%s': bad host", s);
	memcpy(o->host, host, hlen);
	o->host[hlen] = '\0';
	if (port == NULL)
		port = DEFAULT_PORT;
	snprintf(o->port, sizeof o->port, "%lld",
	    num_arg("port", port, 1, 65535));
}

static void
parse(int argc, char **argv, struct opts *o, struct pmap *pm)
{
	enum { O_UID = 256, O_RENAME, O_MAP, O_DUMP };
	static const struct option own[] = {
		{ "window", required_argument, NULL, 'w' },
		{ "uid-field", required_argument, NULL, O_UID },
		{ "rename", required_argument, NULL, O_RENAME },
		{ "map", required_argument, NULL, O_MAP },
		{ "dump", optional_argument, NULL, O_DUMP },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
	};
	struct option lo[sizeof own / sizeof own[0] + FWD_NOPTS + 1];
	char err[512];
	int c;

	memset(o, 0, sizeof *o);
	fwd_conf_init(&o->fc, FWD_MAX_LINE, 500, 10000);
	fwd_options(lo, own, sizeof own / sizeof own[0]);
	o->window = 0;		/* adaptive */
	if (pmap_init(pm) == -1)
		dieerr(EXIT_IOERR, "out of memory");
	while ((c = getopt_long(argc, argv, "w:qvhV", lo, NULL)) != -1) {
		if (c == 'q')
			c = FWD_OPT_QUIET;
		if (fwd_option(&o->fc, c, optarg))
			continue;
		switch (c) {
		case 'w':
			o->window = (size_t)num_arg("--window", optarg, 1, WTCP_CAP);
			break;
		case O_UID:
			if (*optarg == '\0')
				die(EXIT_USAGE, "--uid-field: empty name");
			o->fc.uid_field = optarg;
			break;
		case O_RENAME:
			if (pmap_rule(pm, optarg, err, sizeof err) == -1)
				die(EXIT_USAGE, "--rename: %s", err);
			break;
		case O_MAP:
			if (pmap_load(pm, optarg, err, sizeof err) == -1)
				die(EXIT_USAGE, "--map: %s", err);
			break;
		case O_DUMP:
			if (optarg == NULL || strcmp(optarg, "hex") == 0)
				o->dump = 1;
			else if (strcmp(optarg, "text") == 0)
				o->dump = 2;
			else
				die(EXIT_USAGE, "--dump=%s: expected hex or text",
				    optarg);
			break;
		case 'v':	verbose++; break;
		case 'h':
			help();
		case 'V':
			printf("flespi-to-wialon %s\n", VERSION);
			if (fflush(stdout) == EOF || ferror(stdout))
				dieerr(EXIT_IOERR, "stdout");
			exit(EXIT_OK);
		default:
			usage_fail(synopsis);
		}
	}
	if (pmap_ready(pm) == -1)
		dieerr(EXIT_IOERR, "out of memory");
	if (o->dump && o->fc.state != NULL)
		die(EXIT_USAGE, "--dump takes no --state: nothing is delivered");
	if (o->dump && argc - optind == 0)
		return;
	if (o->dump || argc - optind != 1) {
		xwarn(o->dump ? "--dump takes no HOST:PORT" :
		    "expected one HOST[:PORT] argument");
		usage_fail(synopsis);
	}
	o->target = argv[optind];
	target_arg(o, o->target);
	o->fc.inflight = o->window > 0 ? o->window : WTCP_CAP;
}

/* ---- the mapping ---- */

/*
 * The mapping, and the fast path's packet: msgin's fast hook encodes an
 * ordinary line with wialon_scan into pkt (one strict scan, no jansson
 * tree); map() then moves that packet into the ledger slot.  Lines the
 * scan does not take go through jansson and wialon_encode, which stay
 * the reference (the scan's packets are theirs byte for byte).
 */
struct mapping {
	const struct pmap *pm;
	const char     *uid_field;
	struct wbuf	pkt;		/* the packet of the line just scanned */
};

/*
 * msgin's fast path.  The uid is the packet's own (offset 4,
 * NUL-terminated): valid until the next line, long enough for the core
 * to copy it.
 */
static int
fast(void *arg, struct msg *m)
{
	struct mapping *mp = arg;

	mp->pkt.len = 0;
	mp->pkt.oom = 0;
	if (!wialon_scan(mp->pm, m->line, m->len, mp->uid_field, &mp->pkt,
	    &m->timestamp))
		return 0;
	m->uid = (const char *)mp->pkt.p + 4;
	return 1;
}

/*
 * One packet per message, into the slot's buffer (reused, no malloc).
 * A scanned packet is swapped in: the slot's old buffer becomes the next
 * scan's, so neither is copied.
 */
static int
map(void *arg, struct fwd_msg *m, const struct msg *in, char *why,
    size_t whysz)
{
	struct mapping *mp = arg;
	struct wbuf b;
	int r;

	if (in->obj == NULL) {
		b = mp->pkt;
		mp->pkt.p = m->tp;
		mp->pkt.cap = m->tpcap;
		mp->pkt.len = 0;
		m->tp = b.p;
		m->tpcap = b.cap;
		m->tplen = b.len;
		return 0;
	}
	b.p = m->tp;
	b.len = 0;
	b.cap = m->tpcap;
	b.oom = 0;
	r = wialon_encode(mp->pm, in->obj, mp->uid_field, in->uid,
	    in->timestamp, &b, why, whysz);
	m->tp = b.p;
	m->tpcap = b.cap;
	m->tplen = b.len;
	return r;
}

/* ---- --dump: packets as hex or as text on stdout ---- */

static int
dump(const struct opts *o, const struct pmap *pm)
{
	static const char hexd[] = "0123456789ABCDEF";
	struct mapping mp = { pm, o->fc.uid_field, { 0 } };
	struct wbuf b = { 0 }, txt = { 0 };
	struct msgin in;
	struct msg m;
	char err[160], *hex = NULL;
	size_t hcap = 0, i;
	int st, inerr = 0;

	if (msgin_init(&in, STDIN_FILENO, o->fc.maxline, o->fc.uid_field) ==
	    -1)
		dieerr(EXIT_IOERR, "out of memory");
	in.strict = o->fc.strict;
	in.fast = fast;
	in.fast_arg = &mp;
	if (o->fc.failed != NULL && msgin_open_failed(&in, o->fc.failed) == -1)
		dieerr(EXIT_IOERR, "--failed: cannot open '%s'", o->fc.failed);
	if (o->fc.rejected != NULL &&
	    msgin_open_rejected(&in, o->fc.rejected) == -1)
		dieerr(EXIT_IOERR, "--rejected: cannot open '%s'",
		    o->fc.rejected);
	stop_install();
	for (;;) {
		st = msgin_next(&in, &m);
		if ((st == MSG_AGAIN || st == MSG_BUSY || st == MSG_CHECKPOINT)
		    && !stop_requested)
			continue;
		if (st == MSG_ERR) {
			xwarnerr("cannot read stdin");
			inerr = 1;
		}
		if (st != MSG_OK)
			break;
		b.len = 0;
		if (m.obj == NULL) {
			/* The fast path's packet: print it, keep the buffer. */
			struct wbuf t = b;

			b = mp.pkt;
			mp.pkt = t;
		} else if (wialon_encode(pm, m.obj, o->fc.uid_field, m.uid,
		    m.timestamp, &b, err, sizeof err) == -1) {
			msgin_reject(&in, m.lineno, m.line, m.len, "%s", err);
			json_decref(m.obj);
			if (o->fc.strict)
				break;
			continue;
		}
		json_decref(m.obj);
		if (o->dump == 2) {
			txt.len = 0;
			if (wialon_decode(b.p, b.len, &txt, err, sizeof err) ==
			    -1)
				dieerr(EXIT_IOERR, "--dump=text: %s", err);
			if (fwrite(txt.p, 1, txt.len, stdout) != txt.len ||
			    fflush(stdout) == EOF) {
				if (errno == EPIPE)
					break;
				dieerr(EXIT_IOERR, "stdout");
			}
			continue;
		}
		if (hcap < b.len * 2 + 2) {
			free(hex);
			hcap = b.len * 2 + 2;
			if ((hex = malloc(hcap)) == NULL)
				dieerr(EXIT_IOERR, "out of memory");
		}
		for (i = 0; i < b.len; i++) {
			hex[2 * i] = hexd[b.p[i] >> 4];
			hex[2 * i + 1] = hexd[b.p[i] & 15];
		}
		hex[2 * i] = '\n';
		if (fwrite(hex, 1, 2 * i + 1, stdout) != 2 * i + 1 ||
		    fflush(stdout) == EOF) {
			if (errno == EPIPE)
				break;	/* the reader is gone: end quietly */
			dieerr(EXIT_IOERR, "stdout");
		}
	}
	free(hex);
	wbuf_free(&txt);
	wbuf_free(&b);
	wbuf_free(&mp.pkt);
	if (fflush(stdout) == EOF && errno != EPIPE)
		dieerr(EXIT_IOERR, "stdout");
	msgin_sync(&in);
	st = msgin_status(&in);
	msgin_free(&in);
	return st == EXIT_OK && inerr ? EXIT_IOERR : st;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct pmap pm;
	struct mapping mp;
	struct fwd *f;
	struct wtcp *w;
	int st, fd;

	if (stdfds_check(&fd) == -1) {
		if (fd != STDERR_FILENO)
			fprintf(stderr, "flespi-to-wialon: descriptor %d is "
			    "closed\n", fd);
		return EXIT_IOERR;
	}
	diag_init(argv[0]);
	parse(argc, argv, &o, &pm);
	if (o.dump) {
		st = dump(&o, &pm);
		pmap_free(&pm);
		return st;
	}
	if ((f = fwd_new(&o.fc, &st)) == NULL) {
		pmap_free(&pm);
		return st;
	}
	if ((w = wtcp_new(f, &o.fc, o.host, o.port, o.target, o.window)) ==
	    NULL)
		dieerr(EXIT_IOERR, "out of memory");
	memset(&mp, 0, sizeof mp);
	mp.pm = &pm;
	mp.uid_field = o.fc.uid_field;
	fwd_input(f)->fast = fast;
	fwd_input(f)->fast_arg = &mp;
	st = fwd_run(f, &wtcp_ops, w, map, &mp);
	wbuf_free(&mp.pkt);
	wtcp_free(w);
	fwd_free(f);
	pmap_free(&pm);
	return st;
}
