/*
 * flespi-to-wialon: forward flespi messages (NDJSON on stdin) to a Wialon
 * server over the Retranslator 1.0 protocol, one packet per message, over
 * one TCP connection, with a window of unacknowledged packets that is sent
 * again after every reconnect (at-least-once, in order).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backoff.h"
#include "diag.h"
#include "exits.h"
#include "io.h"
#include "msgin.h"
#include "num.h"
#include "pmap.h"
#include "stats.h"
#include "stop.h"
#include "wialon.h"

#define DEFAULT_PORT	"20163"
#define IOV_BATCH	64	/* packets per writev() */
#define BIG_SLOT	(256 * 1024)	/* window slots keep no more after an ack */

struct opts {
	const char     *target;
	char		host[256];
	char		port[8];
	const char     *failed;
	const char     *uid_field;
	int		dump;
	int		strict;
	size_t		window;
	size_t		maxline;
	long long	ack_ms;
	long long	connect_ms;
	long long	drain_ms;
	long long	wait_ms;	/* first reconnect delay */
	long long	retries;	/* -1 = unlimited */
};

/*
 * One unacknowledged message: its packet, followed in the same buffer by
 * the input line it came from (for --failed).  Slots are reused, so after
 * warm-up no message costs a malloc.
 */
struct entry {
	struct wbuf	b;		/* packet bytes [0, pktlen), then the line */
	size_t		pktlen;
	unsigned	sends;		/* times written to a connection */
};

/*
 * The window: a ring of at most size entries from head.  The first nsent
 * were written whole to the current connection, entry nsent has woff
 * bytes written; the rest wait.  Acks remove entries from head.
 */
struct window {
	struct entry   *e;
	size_t		size, head, n, nsent, woff;
};

struct run {
	struct opts    *o;
	struct pmap	pm;
	struct msgin	in;
	struct window	w;
	struct backoff	bo;
	struct stats	st;
	int		sock;
	int		eof;		/* no more input will be read */
	int		inerr;		/* stdin could not be read */
	int		gaveup;		/* --retries ran out */
	int		conn_acked;	/* this connection got an ack */
	unsigned	failures;	/* consecutive failed attempts */
	int64_t		ack_deadline;	/* 0: nothing outstanding */
	uint64_t	sent, acked, resent, conns;
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: %s [options] HOST[:PORT]\n"
"       %s --dump [options]\n"
"Forward flespi messages (NDJSON on stdin) to Wialon over Retranslator 1.0.\n"
"  -w, --window N          unacknowledged packets in flight, 1-4096 "
"(default 64)\n"
"  --ack-timeout SECS      reconnect when no ack comes (default 10)\n"
"  --connect-timeout SECS  per connection attempt (default 10)\n"
"  --retries N             give up after N failed reconnects "
"(default: never)\n"
"  --retry-wait SECS       first reconnect delay, doubling up to 30 "
"(default 0.5)\n"
"  --drain-timeout SECS    after SIGINT/SIGTERM, deliver for at most SECS\n"
"                          (default 10)\n"
"  --failed FILE           append bad and undelivered lines to FILE\n"
"  --strict                stop at the first bad input line\n"
"  --max-line BYTES        longest input line (default 1048576)\n"
"  --uid-field NAME        field holding the unit id (default ident)\n"
"  --rename FROM=TO        send parameter FROM as TO (TO empty or -: drop)\n"
"  --map FILE              FROM=TO rules, one per line\n"
"  --dump                  print each packet in hex to stdout, no network\n"
"  -v, --verbose           log connects, reconnects and resends\n"
"  -h, --help              this help\n"
"  -V, --version           print the version\n", progname, progname);
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
	enum { O_ACK = 256, O_CONN, O_RETRIES, O_WAIT, O_DRAIN, O_FAILED,
	    O_STRICT, O_MAXLINE, O_UID, O_RENAME, O_MAP, O_DUMP };
	static const struct option lo[] = {
		{ "window", required_argument, NULL, 'w' },
		{ "ack-timeout", required_argument, NULL, O_ACK },
		{ "connect-timeout", required_argument, NULL, O_CONN },
		{ "retries", required_argument, NULL, O_RETRIES },
		{ "retry-wait", required_argument, NULL, O_WAIT },
		{ "drain-timeout", required_argument, NULL, O_DRAIN },
		{ "failed", required_argument, NULL, O_FAILED },
		{ "strict", no_argument, NULL, O_STRICT },
		{ "max-line", required_argument, NULL, O_MAXLINE },
		{ "uid-field", required_argument, NULL, O_UID },
		{ "rename", required_argument, NULL, O_RENAME },
		{ "map", required_argument, NULL, O_MAP },
		{ "dump", no_argument, NULL, O_DUMP },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	char err[512];
	int c;

	memset(o, 0, sizeof *o);
	o->uid_field = "ident";
	o->window = 64;
	o->maxline = 1 << 20;
	o->ack_ms = 10000;
	o->connect_ms = 10000;
	o->drain_ms = 10000;
	o->wait_ms = 500;
	o->retries = -1;
	if (pmap_init(pm) == -1)
		dieerr(EXIT_IOERR, "out of memory");
	while ((c = getopt_long(argc, argv, "w:vhV", lo, NULL)) != -1) {
		switch (c) {
		case 'w':
			o->window = (size_t)num_arg("--window", optarg, 1, 4096);
			break;
		case O_ACK:
			o->ack_ms = secs_arg("--ack-timeout", optarg, 10,
			    3600000);
			break;
		case O_CONN:
			o->connect_ms = secs_arg("--connect-timeout", optarg,
			    10, 3600000);
			break;
		case O_RETRIES:
			o->retries = num_arg("--retries", optarg, 0,
			    1000000000);
			break;
		case O_WAIT:
			o->wait_ms = secs_arg("--retry-wait", optarg, 1, 30000);
			break;
		case O_DRAIN:
			o->drain_ms = secs_arg("--drain-timeout", optarg, 0,
			    3600000);
			break;
		case O_FAILED:	o->failed = optarg; break;
		case O_STRICT:	o->strict = 1; break;
		case O_MAXLINE:
			o->maxline = (size_t)num_arg("--max-line", optarg, 64,
			    64 << 20);
			break;
		case O_UID:
			if (*optarg == '\0')
				die(EXIT_USAGE, "--uid-field: empty name");
			o->uid_field = optarg;
			break;
		case O_RENAME:
			if (pmap_rule(pm, optarg, err, sizeof err) == -1)
				die(EXIT_USAGE, "--rename: %s", err);
			break;
		case O_MAP:
			if (pmap_load(pm, optarg, err, sizeof err) == -1)
				die(EXIT_USAGE, "--map: %s", err);
			break;
		case O_DUMP:	o->dump = 1; break;
		case 'v':	verbose++; break;
		case 'h':
			usage(stdout);
			if (fflush(stdout) == EOF || ferror(stdout))
				dieerr(EXIT_IOERR, "stdout");
			exit(EXIT_OK);
		case 'V':
			printf("flespi-to-wialon %s\n", VERSION);
			if (fflush(stdout) == EOF || ferror(stdout))
				dieerr(EXIT_IOERR, "stdout");
			exit(EXIT_OK);
		default:
			usage(stderr);
			exit(EXIT_USAGE);
		}
	}
	if (pmap_ready(pm) == -1)
		dieerr(EXIT_IOERR, "out of memory");
	if (o->dump && argc - optind == 0)
		return;
	if (o->dump || argc - optind != 1) {
		xwarn(o->dump ? "--dump takes no HOST:PORT" :
		    "expected one HOST[:PORT] argument");
		usage(stderr);
		exit(EXIT_USAGE);
	}
	o->target = argv[optind];
	target_arg(o, o->target);
}

/* ---- --dump: packets as hex on stdout ---- */

static int
dump(struct run *r)
{
	static const char hexd[] = "0123456789ABCDEF";
	struct wbuf b = { 0 };
	struct msg m;
	char err[160], *hex = NULL;
	size_t hcap = 0, i;
	int st;

	for (;;) {
		st = msgin_next(&r->in, &m);
		if (st == MSG_AGAIN && !stop_requested)
			continue;
		if (st == MSG_ERR) {
			xwarnerr("cannot read stdin");
			r->inerr = 1;
		}
		if (st != MSG_OK)
			break;
		b.len = 0;
		if (wialon_encode(&r->pm, m.obj, r->o->uid_field, m.uid,
		    m.timestamp, &b, err, sizeof err) == -1) {
			msgin_reject(&r->in, m.lineno, m.line, m.len, "%s", err);
			json_decref(m.obj);
			if (r->o->strict)
				break;
			continue;
		}
		json_decref(m.obj);
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
	wbuf_free(&b);
	if (fflush(stdout) == EOF && errno != EPIPE)
		dieerr(EXIT_IOERR, "stdout");
	st = msgin_status(&r->in, 0);
	return st == EXIT_OK && r->inerr ? EXIT_IOERR : st;
}

/* ---- the window ---- */

static struct entry *
slot(struct window *w, size_t i)
{
	return &w->e[(w->head + i) % w->size];
}

/*
 * Read and encode input while the window has room.  A message that
 * cannot be encoded is a bad line like any other.
 */
static void
readin(struct run *r)
{
	struct window *w = &r->w;
	struct entry *e;
	struct msg m;
	char err[160];
	int st;

	while (!r->eof && w->n < w->size) {
		st = msgin_next(&r->in, &m);
		if (st == MSG_AGAIN)
			return;
		if (st != MSG_OK) {
			if (st == MSG_ERR) {
				xwarnerr("cannot read stdin");
				r->inerr = 1;
			}
			r->eof = 1;
			return;
		}
		e = slot(w, w->n);
		e->b.len = 0;
		e->sends = 0;
		if (wialon_encode(&r->pm, m.obj, r->o->uid_field, m.uid,
		    m.timestamp, &e->b, err, sizeof err) == -1) {
			msgin_reject(&r->in, m.lineno, m.line, m.len, "%s", err);
			json_decref(m.obj);
			if (r->o->strict)
				r->eof = 1;
			continue;
		}
		json_decref(m.obj);
		e->pktlen = e->b.len;
		/* Keep the line for --failed, right after the packet. */
		if (e->b.cap - e->b.len < m.len) {
			unsigned char *np = realloc(e->b.p, e->b.len + m.len);

			if (np == NULL)
				dieerr(EXIT_IOERR, "out of memory");
			e->b.p = np;
			e->b.cap = e->b.len + m.len;
		}
		memcpy(e->b.p + e->b.len, m.line, m.len);
		e->b.len += m.len;
		w->n++;
	}
}

/* Anything written to the connection and not yet acknowledged? */
static int
outstanding(const struct window *w)
{
	return w->nsent > 0 || w->woff > 0;
}

/*
 * Write what the window holds unsent, as far as the socket takes it.
 * Returns 0, or -1 with errno on a connection error.
 */
static int
flush(struct run *r)
{
	struct window *w = &r->w;
	struct iovec iov[IOV_BATCH];
	struct entry *e;
	size_t i, cnt, rem;
	ssize_t n;

	while (w->nsent < w->n) {
		for (cnt = 0, i = w->nsent; i < w->n && cnt < IOV_BATCH;
		    i++, cnt++) {
			e = slot(w, i);
			iov[cnt].iov_base = e->b.p + (cnt == 0 ? w->woff : 0);
			iov[cnt].iov_len = e->pktlen - (cnt == 0 ? w->woff : 0);
		}
		n = writev(r->sock, iov, (int)cnt);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		if (r->ack_deadline == 0)
			r->ack_deadline = mono_ms() + r->o->ack_ms;
		while (n > 0) {
			e = slot(w, w->nsent);
			rem = e->pktlen - w->woff;
			if ((size_t)n < rem) {
				w->woff += (size_t)n;
				break;
			}
			n -= (ssize_t)rem;
			w->woff = 0;
			w->nsent++;
			if (e->sends++ == 0)
				r->sent++;
			else
				r->resent++;
		}
	}
	return 0;
}

/*
 * Take the acks the socket holds.  Returns 1 while the connection is
 * good, 0 when it must be dropped (why says why).
 */
static int
acks(struct run *r, const char **why)
{
	struct window *w = &r->w;
	unsigned char buf[4096];
	ssize_t n, i;

	for (;;) {
		n = read(r->sock, buf, sizeof buf);
		if (n == 0) {
			*why = "connection closed by the server";
			return 0;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			*why = strerror(errno);
			return 0;
		}
		for (i = 0; i < n; i++) {
			if (buf[i] != 0x11) {
				static char wrong[64];
				snprintf(wrong, sizeof wrong,
				    "wrong acknowledgement byte 0x%02X", buf[i]);
				*why = wrong;
				return 0;
			}
			if (w->nsent == 0) {
				*why = "acknowledgement of nothing sent";
				return 0;
			}
			/* A slot that once held a huge line gives it back. */
			if (slot(w, 0)->b.cap > BIG_SLOT)
				wbuf_free(&slot(w, 0)->b);
			w->head = (w->head + 1) % w->size;
			w->n--;
			w->nsent--;
			r->acked++;
		}
		r->conn_acked = 1;
		r->failures = 0;
		backoff_reset(&r->bo);
		r->ack_deadline = outstanding(w) ? mono_ms() + r->o->ack_ms : 0;
	}
}

/* Close the connection; everything unacknowledged goes again. */
static void
drop(struct run *r, const char *why)
{
	size_t again = r->w.nsent + (r->w.woff > 0);

	close(r->sock);
	r->sock = -1;
	r->w.nsent = 0;
	r->w.woff = 0;
	r->ack_deadline = 0;
	/* A connection that took packets and acknowledged none has failed. */
	if (!r->conn_acked && again > 0)
		r->failures++;
	stats_end(&r->st);
	if (verbose || r->failures <= 1)
		xwarn("%s: %s; %zu unacknowledged, to be sent again",
		    r->o->target, why, again);
}

/* ---- connecting ---- */

/*
 * Connect to one address without blocking past deadline.  Returns the
 * socket, or -1 with a reason in why.
 */
static int
dial1(const struct addrinfo *ai, int64_t deadline, long long drain_ms,
    const char **why)
{
	struct pollfd p;
	socklen_t sl = sizeof(int);
	int s, e = 0, one = 1, r;
	int64_t left;

	s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (s == -1) {
		*why = strerror(errno);
		return -1;
	}
	if (connect(s, ai->ai_addr, ai->ai_addrlen) == -1) {
		if (errno != EINPROGRESS && errno != EINTR) {
			*why = strerror(errno);
			close(s);
			return -1;
		}
		p.fd = s;
		p.events = POLLOUT;
		for (;;) {
			/* A stop signal now: the drain time bounds the wait. */
			if (stop_requested && deadline > mono_ms() + drain_ms)
				deadline = mono_ms() + drain_ms;
			left = deadline - mono_ms();
			if (left <= 0) {
				*why = "connection timed out";
				close(s);
				return -1;
			}
			r = poll(&p, 1, (int)left);
			if (r == 1)
				break;
			if (r == -1 && errno != EINTR) {
				*why = strerror(errno);
				close(s);
				return -1;
			}
		}
		if (getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &sl) == -1)
			e = errno;
		if (e != 0) {
			*why = strerror(e);
			close(s);
			return -1;
		}
	}
	/* Packets go out in batches already; do not let Nagle hold a tail. */
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return s;
}

/* Resolve and try each address in turn. */
static int
dial(struct run *r, int64_t deadline, const char **why)
{
	static char gai[160];
	struct addrinfo hints, *res, *ai;
	int s = -1, e;

	*why = "no address";
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	if ((e = getaddrinfo(r->o->host, r->o->port, &hints, &res)) != 0) {
		snprintf(gai, sizeof gai, "%s", gai_strerror(e));
		*why = gai;
		return -1;
	}
	for (ai = res; ai != NULL && s == -1; ai = ai->ai_next)
		s = dial1(ai, deadline, r->o->drain_ms, why);
	freeaddrinfo(res);
	return s;
}

/* ---- the delivery loop ---- */

static void
showstats(struct run *r, int64_t now)
{
	int64_t ms = now - r->st.start_ms;

	stats_show(&r->st, "sent %" PRIu64 ", acked %" PRIu64 ", resent %"
	    PRIu64 ", bad %" PRIu64 ", %.0f msg/s", r->sent, r->acked,
	    r->resent, r->in.bad, ms > 0 ? r->acked * 1000.0 / (double)ms : 0.0);
}

static int
mintime(int64_t now, int64_t t, int cur)
{
	int64_t d;

	if (t == 0)
		return cur;
	d = t > now ? t - now : 0;
	if (d > 60000)
		d = 60000;
	return cur < 0 || d < cur ? (int)d : cur;
}

/*
 * One connection attempt, bounded by the connect timeout and the drain
 * time.  Returns 0 when connected, -1 after a failed attempt (counted).
 */
static int
reconnect(struct run *r, int64_t now, int64_t drain_end)
{
	struct opts *o = r->o;
	struct window *w = &r->w;
	const char *why;
	int64_t deadline = now + o->connect_ms;
	size_t i, again = 0;

	if (drain_end != 0 && drain_end < deadline)
		deadline = drain_end;
	if ((r->sock = dial(r, deadline, &why)) == -1) {
		r->failures++;
		stats_end(&r->st);
		if (verbose || r->failures == 1)
			xwarn("%s: cannot connect: %s", o->target, why);
		return -1;
	}
	r->conns++;
	r->conn_acked = 0;
	if (r->failures > 0 && !verbose)
		xwarn("%s: connected after %u failed attempts", o->target,
		    r->failures);
	vlog("%s: connected%s", o->target, r->conns > 1 ? " again" : "");
	for (i = 0; i < w->n; i++)
		again += slot(w, i)->sends > 0;
	if (again > 0)
		vlog("%s: sending %zu unacknowledged packets again",
		    o->target, again);
	return 0;
}

/*
 * Deliver until input ends and everything is acknowledged, the drain
 * time after a stop signal runs out, or the retries are used up.
 * Returns 1 when everything read was delivered.
 */
static int
deliver(struct run *r)
{
	struct opts *o = r->o;
	struct window *w = &r->w;
	struct pollfd p[2];
	const char *why;
	int64_t now, next_try = 0, drain_end = 0;
	int np, to, sockfd;

	for (;;) {
		now = mono_ms();
		if (stop_requested && drain_end == 0) {
			drain_end = now + o->drain_ms;
			if (drain_end == 0)
				drain_end = 1;
			vlog("signal %d: delivering for at most %lld ms",
			    (int)stop_requested, o->drain_ms);
		}
		if (r->eof && w->n == 0)
			return 1;
		if (drain_end != 0 && now >= drain_end) {
			stats_end(&r->st);
			xwarn("drain time over");
			return 0;
		}
		if (r->sock == -1) {
			if (now < next_try) {
				to = mintime(now, next_try, -1);
				to = mintime(now, drain_end, to);
				poll(NULL, 0, to);
				continue;
			}
			if (o->retries >= 0 &&
			    r->failures > (unsigned long long)o->retries) {
				stats_end(&r->st);
				xwarn("%s: giving up after %u failed attempts",
				    o->target, r->failures);
				r->gaveup = 1;
				return 0;
			}
			if (reconnect(r, now, drain_end) == -1) {
				next_try = mono_ms() + backoff_next(&r->bo);
				continue;
			}
		}

		readin(r);
		if (r->eof && w->n == 0)
			continue;	/* input ended and all is acknowledged */
		if (flush(r) == -1) {
			drop(r, strerror(errno));
			next_try = mono_ms() + backoff_next(&r->bo);
			continue;
		}

		np = 0;
		p[np].fd = r->sock;
		p[np].events = POLLIN | (w->nsent < w->n ? POLLOUT : 0);
		sockfd = np++;
		if (!r->eof && w->n < w->size) {
			p[np].fd = r->in.lr.fd;
			p[np].events = POLLIN;
			np++;
		}
		to = mintime(now, r->ack_deadline, -1);
		to = mintime(now, drain_end, to);
		if (r->st.tty)
			to = mintime(now, r->st.next_ms, to);
		if (poll(p, (nfds_t)np, to) == -1 && errno != EINTR)
			dieerr(EXIT_IOERR, "poll");

		now = mono_ms();
		if (p[sockfd].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (!acks(r, &why)) {
				drop(r, why);
				next_try = now + backoff_next(&r->bo);
				continue;
			}
		}
		if (r->ack_deadline != 0 && now >= r->ack_deadline) {
			char msg[80];

			snprintf(msg, sizeof msg, "no acknowledgement within "
			    "%lld ms", o->ack_ms);
			drop(r, msg);
			next_try = now + backoff_next(&r->bo);
			continue;
		}
		if (stats_due(&r->st, now))
			showstats(r, now);
	}
}

/*
 * After giving up or running out of drain time: every message not
 * delivered goes to the failed file, window first.  Unless input has
 * ended, the lines read but not yet parsed follow; after a stop signal
 * (rest) so does whatever the stopping producer left in the pipe, read
 * for at most a second more, so that delivered + failed = all input.
 * Returns how many lines were undelivered.
 */
static uint64_t
spill(struct run *r, int rest)
{
	struct window *w = &r->w;
	struct entry *e;
	uint64_t n = 0;
	int64_t until = mono_ms() + 1000;
	char *line;
	size_t i, len;
	int st = LR_EOF;

	for (i = 0; i < w->n; i++, n++) {
		e = slot(w, i);
		msgin_failed(&r->in, (char *)e->b.p + e->pktlen,
		    e->b.len - e->pktlen);
	}
	w->n = w->nsent = w->woff = 0;
	if (r->eof)
		return n;
	if (!rest)
		r->in.lr.fd = -1;	/* no more reads: buffered lines only */
	for (;;) {
		st = lr_next(&r->in.lr, &line, &len);
		if (st == LR_LINE) {
			msgin_failed(&r->in, line, len);
			if (++n % 1024 == 0 && mono_ms() > until)
				break;
		} else if (st == LR_LONG)
			msgin_reject(&r->in, r->in.lr.lineno, line,
			    line ? len : 0, "line longer than %zu bytes",
			    r->in.lr.max);
		else
			break;
	}
	if (st != LR_EOF && lr_pending(&r->in.lr) > 0)
		xwarn("input line %" PRIu64 " was cut off: %zu bytes of it "
		    "dropped", r->in.lr.lineno + 1, lr_pending(&r->in.lr));
	return n;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct run r;
	uint64_t undelivered = 0;
	size_t i;
	int st, ok;

	diag_init(argv[0]);
	memset(&r, 0, sizeof r);
	parse(argc, argv, &o, &r.pm);
	r.o = &o;
	r.sock = -1;
	stop_install();

	if (msgin_init(&r.in, STDIN_FILENO, o.maxline, o.uid_field) == -1)
		dieerr(EXIT_IOERR, "out of memory");
	r.in.strict = o.strict;
	if (o.failed != NULL && msgin_open_failed(&r.in, o.failed) == -1)
		dieerr(EXIT_IOERR, "%s", o.failed);
	if (o.dump) {
		st = dump(&r);
		msgin_free(&r.in);
		pmap_free(&r.pm);
		return st;
	}

	r.w.size = o.window;
	if ((r.w.e = calloc(o.window, sizeof *r.w.e)) == NULL)
		dieerr(EXIT_IOERR, "out of memory");
	backoff_init(&r.bo, (unsigned)o.wait_ms, 30000, 0);
	stats_init(&r.st);
	if (set_nonblock(STDIN_FILENO, 1) == -1)
		dieerr(EXIT_IOERR, "stdin");

	ok = deliver(&r);
	if (!ok)
		undelivered = spill(&r, stop_requested != 0);
	if (r.st.tty)
		showstats(&r, mono_ms());	/* the final figures */
	stats_end(&r.st);
	set_nonblock(STDIN_FILENO, 0);
	if (r.sock != -1)
		close(r.sock);
	vlog("%" PRIu64 " packets acknowledged, %" PRIu64 " sent again, %"
	    PRIu64 " bad lines, %" PRIu64 " connections", r.acked, r.resent,
	    r.in.bad, r.conns);
	if (undelivered > 0)
		xwarn("%" PRIu64 " messages undelivered%s", undelivered,
		    o.failed ? ", written to the failed file" : "");
	st = msgin_status(&r.in, undelivered);
	if (r.gaveup)
		st = EXIT_TEMPFAIL;
	else if (st == EXIT_OK && r.inerr)
		st = EXIT_IOERR;
	for (i = 0; i < r.w.size; i++)
		wbuf_free(&r.w.e[i].b);
	free(r.w.e);
	msgin_free(&r.in);
	pmap_free(&r.pm);
	return st;
}
