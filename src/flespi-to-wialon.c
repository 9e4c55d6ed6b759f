/*
 * flespi-to-wialon: forward flespi messages (NDJSON on stdin) to a Wialon
 * server over the Retranslator 1.0 protocol, one packet per message, over
 * one TCP connection, with a window of unacknowledged packets that is sent
 * again after every reconnect (at-least-once, in order).  The options,
 * the mapping (wialon.c) and main; delivery is the forwarder core's
 * (fwd.c) over the Wialon TCP transport (wialontcp.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"
#include "dumpout.h"
#include "exits.h"
#include "fwd.h"
#include "hostport.h"
#include "msgin.h"
#include "num.h"
#include "pmap.h"
#include "wialon.h"
#include "wialontcp.h"

#define DEFAULT_PORT	"20163"
#define DECODE_MAX	(64 << 20)	/* --decode: longest packet */

enum { O_WINDOW = 256, O_UID, O_RENAME, O_MAP, O_DUMP, O_DECODE };

static const struct cli_opt opts[] = {
	{ "window", 'w', CLI_ARG, O_WINDOW, "N",
	  "unacknowledged packets in flight, 1-16384\n"
	  "(default: adapts to the link, 1024 up to 16384\n"
	  "or 8 MiB of lines)", NULL, 0 },
	{ "uid-field", 0, CLI_ARG, O_UID, "NAME",
	  "field holding the unit id (default ident)", NULL, 0 },
	{ "rename", 0, CLI_ARG, O_RENAME, "FROM=TO",
	  "send parameter FROM as TO (TO empty or -: drop)", NULL, 0 },
	{ "map", 0, CLI_ARG, O_MAP, "FILE", "FROM=TO rules, one per line",
	  NULL, 0 },
	{ "dump", 0, CLI_OPTARG, O_DUMP, "hex|text",
	  "print each packet to stdout, no network: in hex\n"
	  "(the default), or decoded as text", "hex|text", 0 },
	{ "decode", 0, CLI_FLAG, O_DECODE, NULL,
	  "read packets on stdin (hex lines as --dump prints\n"
	  "them, or raw bytes as captured off the wire) and\n"
	  "print them as text; no network", NULL, 0 },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, 0 }
};

static void	option(void *, struct fwd_conf *, int, const char *);

static const struct fwd_cmd cmd = {
	.synopsis = "usage: flespi-to-wialon [options] HOST[:PORT]\n"
	    "       flespi-to-wialon --dump[=hex|text] [options]\n"
	    "       flespi-to-wialon --decode\n",
	.about = "Forward flespi messages (NDJSON on stdin) to Wialon over "
	    "Retranslator 1.0.",
	.opts = opts,
	.habits = NULL,
	.notes = NULL,
	.option = option,
};

struct conf {
	struct wconf	w;
	struct pmap	pm;
	char		host[256];
	char		port[8];
	int		dump;		/* 1: hex, 2: text */
	int		decode;
};

static void
option(void *arg, struct fwd_conf *fc, int id, const char *optarg)
{
	struct conf *c = arg;
	char err[512];

	switch (id) {
	case O_WINDOW:
		c->w.window = (size_t)num_arg("--window", optarg, 1, WTCP_CAP);
		break;
	case O_UID:
		if (*optarg == '\0')
			die(EXIT_USAGE, "--uid-field: empty name");
		fc->uid_field = optarg;
		break;
	case O_RENAME:
		if (pmap_rule(&c->pm, optarg, err, sizeof err) == -1)
			die(EXIT_USAGE, "--rename: %s", err);
		break;
	case O_MAP:
		if (pmap_load(&c->pm, optarg, err, sizeof err) == -1)
			die(EXIT_USAGE, "--map: %s", err);
		break;
	case O_DUMP:
		if (optarg == NULL || strcmp(optarg, "hex") == 0)
			c->dump = 1;
		else if (strcmp(optarg, "text") == 0)
			c->dump = 2;
		else
			die(EXIT_USAGE, "--dump=%s: expected hex or text",
			    optarg);
		break;
	case O_DECODE:
		c->decode = 1;
		break;
	}
}

/* HOST[:PORT] (the port defaults to 20163), and what options exclude. */
static void
check(struct conf *c, struct fwd_conf *fc, struct cli *cl)
{
	char why[600];

	if (pmap_ready(&c->pm) == -1)
		dieerr(EXIT_IOERR, "out of memory");
	if (c->decode && (c->dump || cl->noperands > 0 || fc->state != NULL))
		cli_fail(cl, "--decode reads packets on stdin and takes "
		    "nothing else");
	if (c->dump)
		fwd_dry_run(cl, fc);
	if (c->dump || c->decode) {
		if (cl->noperands > 0)
			cli_operand_fail(cl, 0, "--dump takes no HOST:PORT");
		fc->data = 1;
		return;
	}
	if (cl->noperands != 1) {
		if (cl->noperands == 0)
			cli_fail(cl, "expected one HOST[:PORT] argument");
		cli_operand_fail(cl, 1, "expected one HOST[:PORT] argument, "
		    "not '%s' too", cl->operands[1]);
	}
	if (hostport_parse(cl->operands[0], DEFAULT_PORT, c->host,
	    sizeof c->host, c->port, sizeof c->port, why, sizeof why) == -1)
		die(EXIT_USAGE, "%s", why);
	c->w.host = c->host;
	c->w.port = c->port;
	c->w.target = cl->operands[0];
	fc->inflight = c->w.window > 0 ? c->w.window : WTCP_CAP;
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
	struct wbuf	pkt;		/* the packet of the line
					   just scanned */
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

/* ---- --dump and --decode: packets as hex or as text ---- */

static const char hexd[] = "0123456789ABCDEF";

/* --dump: the message's packet, in hex or as text. */
static int
show(void *arg, const struct fwd_msg *m, struct dumpbuf *out, char *why,
    size_t whysz)
{
	const struct conf *c = arg;
	const unsigned char *p = m->tp;
	struct wbuf txt = { 0 };
	char hex[128];
	size_t i, k;
	int r = 0;

	if (c->dump == 2) {
		if (wialon_decode(p, m->tplen, &txt, why, whysz) == -1 ||
		    dumpbuf_add(out, txt.p, txt.len) == -1)
			r = -1;
		wbuf_free(&txt);
		return r;
	}
	for (i = 0; i < m->tplen; i += k / 2) {
		for (k = 0; k < sizeof hex && i + k / 2 < m->tplen; k += 2) {
			hex[k] = hexd[p[i + k / 2] >> 4];
			hex[k + 1] = hexd[p[i + k / 2] & 15];
		}
		if (dumpbuf_add(out, hex, k) == -1)
			return -1;
	}
	return dumpbuf_add(out, "\n", 1);
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * --decode: stdin holds packets, as hex (--dump's lines, or any hex with
 * blanks between) or as the raw bytes of a capture; every packet is
 * printed as text.  Hex is told from raw bytes by the input: nothing
 * but hex digits and blanks.  Returns the exit status: 0, 65 when the
 * bytes do not frame as packets (what came before is printed), 74.
 */
static int
decode(void)
{
	struct dumpbuf in = { 0 };
	struct wbuf txt = { 0 };
	unsigned char *b;
	unsigned char buf[65536];
	char err[160];
	size_t i, n, len, off;
	ssize_t r;
	int hex = 1, hi, lo, st = EXIT_OK;

	while ((r = read(STDIN_FILENO, buf, sizeof buf)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			dieerr(EXIT_IOERR, "stdin");
		if (in.len + (size_t)r > DECODE_MAX)
			die(EXIT_DATAERR, "stdin: more than %d MiB",
			    DECODE_MAX >> 20);
		if (dumpbuf_add(&in, buf, (size_t)r) == -1)
			die(EXIT_IOERR, "out of memory");
	}
	b = (unsigned char *)in.p;
	for (i = 0; i < in.len && hex; i++)
		hex = hexval(b[i]) >= 0 || (b[i] != '\0' &&
		    strchr(" \t\r\n", b[i]) != NULL);
	if (hex) {
		for (i = n = 0; i < in.len; i++) {
			if ((hi = hexval(b[i])) < 0)
				continue;
			if (i + 1 >= in.len || (lo = hexval(b[i + 1])) < 0)
				die(EXIT_DATAERR, "stdin: an odd number of hex "
				    "digits at byte %zu", i);
			b[n++] = (unsigned char)(hi << 4 | lo);
			i++;
		}
		in.len = n;
	}
	for (off = 0; off < in.len; off += len) {
		if (in.len - off < 4) {
			xwarn("stdin: %zu byte%s after the last packet",
			    in.len - off, plural(in.len - off));
			st = EXIT_DATAERR;
			break;
		}
		len = 4 + ((size_t)b[off] | (size_t)b[off + 1] << 8 |
		    (size_t)b[off + 2] << 16 | (size_t)b[off + 3] << 24);
		if (len > in.len - off) {
			xwarn("stdin: the packet at byte %zu says %zu bytes, "
			    "%zu are left", off, len, in.len - off);
			st = EXIT_DATAERR;
			break;
		}
		txt.len = 0;
		if (wialon_decode(b + off, len, &txt, err, sizeof err) == -1) {
			xwarn("stdin: the packet at byte %zu: %s", off, err);
			st = EXIT_DATAERR;
			break;
		}
		if (fwrite(txt.p, 1, txt.len, stdout) != txt.len)
			break;
	}
	free(in.p);
	wbuf_free(&txt);
	if (fflush(stdout) == EOF && errno != EPIPE)
		dieerr(EXIT_IOERR, "stdout");
	return st;
}

int
main(int argc, char **argv)
{
	struct conf c;
	struct fwd_conf fc;
	struct cli cl;
	struct mapping mp;
	struct dumpconf dc = { show, &c };
	struct fwd_mapping fm = { map, &mp, fast, &mp };
	int st;

	memset(&c, 0, sizeof c);
	if (pmap_init(&c.pm) == -1)
		dieerr(EXIT_IOERR, "out of memory");
	fwd_parse(&cmd, &cl, &fc, &c, argc, argv);
	check(&c, &fc, &cl);
	if (c.decode) {
		st = decode();
		pmap_free(&c.pm);
		cli_free(&cl);
		return st;
	}
	memset(&mp, 0, sizeof mp);
	mp.pm = &c.pm;
	mp.uid_field = fc.uid_field;
	if (c.dump)
		st = fwd_main(&fc, &dump_transport, &dc, &fm);
	else
		st = fwd_main(&fc, &wtcp_transport, &c.w, &fm);
	wbuf_free(&mp.pkt);
	pmap_free(&c.pm);
	cli_free(&cl);
	return st;
}
