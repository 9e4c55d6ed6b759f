#include <errno.h>
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
#include "vis.h"
#include "wialontcp.h"

#define LINGER_MS	2000	/* a closing connection is read this long */

enum { W_DOWN, W_CONNECTING, W_UP };

/*
 * A packet in the window: the core's message, how often written, and
 * when it was last written whole (its round trip starts then).
 */
struct went {
	struct fwd_msg *m;
	unsigned	sends;
	int64_t		at;
};

/*
 * The window: a ring of at most size entries from head, of which at most
 * lim are used (lim == size unless adaptive).  The first nsent were
 * written whole to the current connection, entry nsent has woff bytes
 * written; the rest wait.  Acks remove entries from head.
 */
struct wtcp {
	struct fwd     *core;
	const struct fwd_conf *cf;	/* &fc */
	struct fwd_conf	fc;
	const char     *host, *port, *target;
	struct went    *e;
	size_t		size, head, n, nsent, woff;
	size_t		lim, largest;	/* the window now, its largest */
	size_t		bytes;		/* line bytes in the window */
	int		adapt;		/* lim follows the link */
	int64_t		minrtt;		/* this connection's shortest, or -1 */
	int		sock, state;
	int		lingerfd;	/* a dropped connection, read to EOF */
	int64_t		linger_end;
	struct addrinfo *ai, *aicur;	/* the addresses of this attempt */
	int64_t		deadline;	/* W_CONNECTING: give up then */
	int64_t		next_try;	/* W_DOWN: connect then */
	int64_t		ack_deadline;	/* W_UP: 0, nothing outstanding */
	struct backoff	bo;
	unsigned	failures;	/* consecutive failed attempts */
	int		conn_acked;	/* this connection got an ack */
	unsigned	strangers;	/* connections in a row whose first
					   byte back was not an ack */
	int		ever_up;
	int		fatal;
	char		why[300];
	uint64_t	sent, acked, resent, conns;
	uint64_t	wbytes;		/* bytes written to the peer */
};

static struct wtcp *
wtcp_new(struct fwd *core, const struct fwd_conf *cf, const char *host,
    const char *port, const char *target, size_t window)
{
	struct wtcp *w;

	if ((w = calloc(1, sizeof *w)) == NULL)
		return NULL;
	w->adapt = window == 0;
	if (w->adapt)
		window = WTCP_CAP;
	if ((w->e = calloc(window, sizeof *w->e)) == NULL) {
		free(w);
		return NULL;
	}
	w->core = core;
	w->fc = *cf;
	w->cf = &w->fc;
	w->host = host;
	w->port = port;
	w->target = target;
	w->size = window;
	w->lim = w->largest = w->adapt ? WTCP_START : window;
	w->minrtt = -1;
	w->sock = w->lingerfd = -1;
	backoff_init(&w->bo, (unsigned)cf->retry_wait_ms, 30000, 0);
	return w;
}

static void
wtcp_free(struct wtcp *w)
{
	if (w == NULL)
		return;
	if (w->sock != -1)
		close(w->sock);
	if (w->lingerfd != -1)
		close(w->lingerfd);
	if (w->ai != NULL)
		freeaddrinfo(w->ai);
	free(w->e);
	free(w);
}

static struct went *
ent(struct wtcp *w, size_t i)
{
	size_t k = w->head + i;

	return &w->e[k >= w->size ? k - w->size : k];
}

/* ---- connections ---- */

/*
 * Stop using a connection without a reset the peer could lose data to:
 * say we are done writing, then read what it still sends (acks of what
 * it is processing) until it closes or LINGER_MS pass.
 */
static void
linger(struct wtcp *w, int fd, int64_t now)
{
	if (w->lingerfd != -1)
		close(w->lingerfd);
	shutdown(fd, SHUT_WR);
	w->lingerfd = fd;
	w->linger_end = now + LINGER_MS;
}

static void
linger_read(struct wtcp *w, int64_t now)
{
	char buf[4096];
	ssize_t n;

	while (w->lingerfd != -1) {
		n = read(w->lingerfd, buf, sizeof buf);
		if (n > 0)
			continue;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    now < w->linger_end)
			return;
		close(w->lingerfd);
		w->lingerfd = -1;
	}
}

/*
 * Close the connection; everything unacknowledged goes again.  polite:
 * the peer may still be processing what it was sent (it acknowledged
 * too much): let it finish rather than reset.
 */
static void
drop(struct wtcp *w, const char *why, int64_t now, int polite)
{
	size_t again = w->nsent + (w->woff > 0);

	if (polite)
		linger(w, w->sock, now);
	else
		close(w->sock);
	w->sock = -1;
	w->state = W_DOWN;
	w->nsent = 0;
	w->woff = 0;
	w->ack_deadline = 0;
	/* A connection that took packets and acknowledged none has failed. */
	if (!w->conn_acked && again > 0) {
		w->failures++;
		snprintf(w->why, sizeof w->why, "%s", why);
	}
	w->next_try = now + backoff_next(&w->bo);
	if (verbose || w->failures <= 1)
		xwarn("%s: %s; %zu unacknowledged, to be sent again",
		    w->target, why, again);
	/*
	 * Fewer duplicates next time.  Packets already in a larger window
	 * stay in it; the ring holds them (size is the cap).
	 */
	if (w->adapt && w->lim > WTCP_START) {
		w->lim = w->lim / 2 < WTCP_START ? WTCP_START : w->lim / 2;
		vlog("%s: window now %zu packet%s", w->target, w->lim,
		    plural(w->lim));
	}
}

/* A connection attempt failed (all addresses tried). */
static void
attempt_failed(struct wtcp *w, const char *why, int64_t now)
{
	if (w->ai != NULL)
		freeaddrinfo(w->ai);
	w->ai = w->aicur = NULL;
	w->state = W_DOWN;
	w->failures++;
	snprintf(w->why, sizeof w->why, "cannot connect: %s", why);
	if (verbose || w->failures == 1)
		xwarn("%s: cannot connect: %s", w->target, why);
	w->next_try = now + backoff_next(&w->bo);
}

/*
 * Start connecting to the current address, moving on to the next one
 * while an address fails at once.  Returns when connecting is under
 * way, connected, or every address failed.
 */
static void
dial(struct wtcp *w, int64_t now)
{
	const char *why = "no address";
	int s, one = 1;

	for (; w->aicur != NULL; w->aicur = w->aicur->ai_next) {
		s = socket(w->aicur->ai_family, w->aicur->ai_socktype |
		    SOCK_NONBLOCK | SOCK_CLOEXEC, w->aicur->ai_protocol);
		if (s == -1) {
			why = strerror(errno);
			continue;
		}
		/* Packets go out in batches already; no Nagle on a tail. */
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(s, w->aicur->ai_addr, w->aicur->ai_addrlen) ==
		    -1 && errno != EINPROGRESS && errno != EINTR) {
			why = strerror(errno);
			close(s);
			continue;
		}
		w->sock = s;
		w->state = W_CONNECTING;
		w->deadline = now + w->cf->connect_ms;
		return;
	}
	attempt_failed(w, why, now);
}

static void
start(struct wtcp *w, int64_t now)
{
	static char gai[160];
	struct addrinfo hints;
	int e;

	if (w->cf->retries >= 0 &&
	    w->failures > (unsigned long long)w->cf->retries) {
		char last[sizeof w->why];

		/*
		 * Until now w->why holds the last failure (attempt_failed,
		 * drop).
		 */
		snprintf(last, sizeof last, "%s", w->why[0] ? w->why :
		    "no connection");
		giveup_text(w->why, sizeof w->why, w->target,
		    (long long)w->failures - 1, last);
		w->fatal = EXIT_TEMPFAIL;
		return;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	if ((e = getaddrinfo(w->host, w->port, &hints, &w->ai)) != 0) {
		w->ai = NULL;
		snprintf(gai, sizeof gai, "%s", gai_strerror(e));
		attempt_failed(w, gai, now);
		return;
	}
	w->aicur = w->ai;
	dial(w, now);
}

static void
connected(struct wtcp *w)
{
	size_t i, again = 0;

	freeaddrinfo(w->ai);
	w->ai = w->aicur = NULL;
	w->state = W_UP;
	w->conns++;
	w->ever_up = 1;
	w->conn_acked = 0;
	w->minrtt = -1;	/* the path may be another one */
	if (w->failures > 0 && !verbose)
		xwarn("%s: connected after %u failed attempt%s", w->target,
		    w->failures, plural(w->failures));
	vlog("%s: connected%s", w->target, w->conns > 1 ? " again" : "");
	for (i = 0; i < w->n; i++)
		again += ent(w, i)->sends > 0;
	if (again > 0)
		vlog("%s: sending %zu unacknowledged packet%s again",
		    w->target, again, plural(again));
}

/* The connect in progress has an outcome (or timed out: err). */
static void
connect_done(struct wtcp *w, int err, int64_t now)
{
	socklen_t sl = sizeof(int);
	int e = err;

	if (e == 0 && getsockopt(w->sock, SOL_SOCKET, SO_ERROR, &e, &sl) ==
	    -1)
		e = errno;
	if (e == 0) {
		connected(w);
		return;
	}
	close(w->sock);
	w->sock = -1;
	w->aicur = w->aicur->ai_next;
	if (w->aicur != NULL) {
		dial(w, now);
		return;
	}
	attempt_failed(w, e == ETIMEDOUT ? "connection timed out" :
	    strerror(e), now);
}

/* ---- the window ---- */

/*
 * Write what the window holds unsent, as far as the socket takes it.
 * Returns 0, or -1 with errno on a connection error.
 */
static int
wflush(struct wtcp *w, int64_t now)
{
	struct iovec iov[WTCP_IOV];
	struct went *e;
	size_t i, cnt, rem;
	ssize_t n;
	int64_t t;

	while (w->nsent < w->n && !w->fatal) {
		for (cnt = 0, i = w->nsent; i < w->n && cnt < WTCP_IOV;
		    i++, cnt++) {
			e = ent(w, i);
			/*
			 * Written before, given back: a resend makes it again.
			 */
			if (e->m->tp == NULL &&
			    fwd_remap(w->core, e->m) == -1) {
				snprintf(w->why, sizeof w->why,
				    "out of memory");
				w->fatal = EXIT_TEMPFAIL;
				break;
			}
			iov[cnt].iov_base = (char *)e->m->tp +
			    (cnt == 0 ? w->woff : 0);
			iov[cnt].iov_len = e->m->tplen -
			    (cnt == 0 ? w->woff : 0);
		}
		if (cnt == 0)
			return 0;
		n = writev(w->sock, iov, (int)cnt);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		w->wbytes += (uint64_t)n;
		if (w->ack_deadline == 0)
			w->ack_deadline = now + w->cf->ack_ms;
		/* The loop's clock may be a long turn old: round trips. */
		t = w->adapt ? mono_ms() : now;
		while (n > 0) {
			e = ent(w, w->nsent);
			rem = e->m->tplen - w->woff;
			if ((size_t)n < rem) {
				w->woff += (size_t)n;
				break;
			}
			n -= (ssize_t)rem;
			w->woff = 0;
			w->nsent++;
			e->at = t;
			/* Only the line stays in flight (see WTCP_PENDING). */
			fwd_unmap(w->core, e->m);
			if (e->sends++ == 0)
				w->sent++;
			else
				w->resent++;
		}
	}
	return 0;
}

/*
 * One acknowledgement came, rtt ms after its packet was written; full
 * says at least half of the window was in use before this turn's acks
 * were taken (the window, not the input, limits sending; as Linux's TCP
 * judges its congestion window in slow start).  Grow the adaptive
 * window by WTCP_GROW packets when it was full and the round trip is
 * near the shortest seen on this connection (the peer keeps pace: a
 * longer one means packets queue at the peer, and more of them would
 * only wait).  Both the use and the window it is held against are
 * taken before the turn, not after each ack: a window's acks often
 * come in one read, nothing is sent between them, and judging each
 * against the packets left, or against the window grown so far, would
 * stop growth after a third of them (seen at 100 ms: 1.33 times a round
 * trip, not 4) or at twice the window (seen on a loaded machine, where
 * reads gather more acks: 2 times, not 4).
 * Under WTCP_FLOOR_MS there is no link to cover (the window as it is
 * allows more than the mapping makes), and a larger one would only
 * take memory; so would one past WTCP_BYTES of lines at their average
 * size in flight.
 */
static void
grow(struct wtcp *w, int64_t rtt, int full)
{
	if (rtt < 0)
		rtt = 0;
	if (w->minrtt < 0 || rtt < w->minrtt)
		w->minrtt = rtt;
	/* lim times the lines' average size reaches WTCP_BYTES: enough. */
	if (!full || w->lim >= w->size ||
	    (uint64_t)w->lim * w->bytes >= (uint64_t)WTCP_BYTES * w->n ||
	    rtt < WTCP_FLOOR_MS || rtt > 2 * w->minrtt + WTCP_SLACK_MS)
		return;
	w->lim += WTCP_GROW;
	if (w->lim > w->size)
		w->lim = w->size;
	if (w->lim > w->largest)
		w->largest = w->lim;
}

/*
 * The first bytes back on this connection (len at s) are not an ack:
 * after WTCP_STRANGERS such connections in a row, the peer is something
 * else (an HTTP or TLS port answers its own protocol) and retrying will
 * not change that: fatal, EXIT_REFUSED, with what it answered.
 */
static void
stranger(struct wtcp *w, const char *s, size_t len)
{
	char said[80];
	size_t i;

	if (++w->strangers < WTCP_STRANGERS)
		return;
	/* Up to the end of the first line: "HTTP/1.1 400 Bad Request". */
	for (i = 0; i < len && i < 48 && s[i] != '\r' && s[i] != '\n'; i++)
		;
	len = i;
	snprintf(w->why, sizeof w->why, "%s does not speak Wialon "
	    "Retranslator: %u connections in a row answered with something "
	    "other than an acknowledgement (0x11), starting 0x%02X: \"%s\"",
	    w->target, w->strangers, (unsigned char)s[0],
	    vis(said, sizeof said, s, len));
	w->fatal = EXIT_REFUSED;
}

/*
 * Take the acks the socket holds.  Returns 1 while the connection is
 * good, 0 when it must be dropped (*why says why, *polite whether the
 * peer may still be processing packets).
 */
static int
acks(struct wtcp *w, int64_t now, const char **why, int *polite)
{
	static char wrong[64];
	unsigned char buf[4096];
	ssize_t n, i;
	struct went *e;
	int64_t t;
	int full = w->n * 2 >= w->lim;	/* before this turn's acks */

	for (;;) {
		n = read(w->sock, buf, sizeof buf);
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
		t = w->adapt ? mono_ms() : now;
		for (i = 0; i < n; i++) {
			if (buf[i] != 0x11) {
				if (!w->conn_acked)
					stranger(w, (char *)buf + i,
					    (size_t)(n - i));
				snprintf(wrong, sizeof wrong,
				    "wrong acknowledgement byte 0x%02X",
				    buf[i]);
				*why = wrong;
				return 0;
			}
			/*
			 * More acks than packets: the peer acknowledges what
			 * it has not processed (0x11 twice a packet?), so
			 * earlier acks may have been wrong too.  Stop
			 * trusting this connection; let the peer finish.
			 */
			if (w->nsent == 0) {
				*why = "acknowledgement of nothing sent "
				    "(protocol error)";
				*polite = 1;
				return 0;
			}
			e = ent(w, 0);
			if (w->adapt)
				grow(w, t - e->at, full);
			w->head = w->head + 1 == w->size ? 0 : w->head + 1;
			w->n--;
			w->nsent--;
			w->bytes -= e->m->len;
			w->acked++;
			fwd_done(w->core, e->m, FWD_ACKED, NULL);
			e->m = NULL;
			if (!w->conn_acked) {
				/*
				 * The peer works: the next failure starts anew.
				 */
				w->conn_acked = 1;
				w->strangers = 0;
				w->failures = 0;
				backoff_reset(&w->bo);
			}
		}
		w->ack_deadline = w->nsent > 0 || w->woff > 0 ?
		    now + w->cf->ack_ms : 0;
	}
}

/* ---- fwd_ops ---- */

static int
w_ready(void *t, const struct fwd_msg *m, int64_t now, int64_t *wait_ms)
{
	struct wtcp *w = t;

	(void)m;
	(void)now;
	*wait_ms = -1;
	/* The lines' bytes are what limits: that is the window then. */
	if (w->adapt && w->bytes >= WTCP_BYTES && w->lim > w->n) {
		w->lim = w->n < WTCP_START ? WTCP_START : w->n;
		return 0;
	}
	return w->state == W_UP && w->n < w->lim &&
	    w->n - w->nsent < WTCP_PENDING;
}

static void
w_send(void *t, struct fwd_msg *m, int64_t now)
{
	struct wtcp *w = t;
	struct went *e = ent(w, w->n);

	e->m = m;
	e->sends = 0;
	w->n++;
	w->bytes += m->len;
	/* Write every WTCP_IOV packets: never encode a window before a byte. */
	if (w->n - w->nsent >= WTCP_IOV && wflush(w, now) == -1)
		drop(w, strerror(errno), now, 0);
}

static int
w_prepare(void *t, int64_t now, struct pollfd *pfd, int max, int *timeout)
{
	struct wtcp *w = t;
	int np = 0;
	int64_t at = 0, d;

	if (w->lingerfd != -1)
		linger_read(w, now);
	if (w->state == W_CONNECTING && now >= w->deadline)
		connect_done(w, ETIMEDOUT, now);
	if (w->state == W_UP && w->ack_deadline != 0 &&
	    now >= w->ack_deadline) {
		char msg[80];

		snprintf(msg, sizeof msg, "no acknowledgement within %lld ms",
		    w->cf->ack_ms);
		drop(w, msg, now, 0);
	}
	if (w->state == W_DOWN && !w->fatal && now >= w->next_try)
		start(w, now);
	if (w->fatal) {
		*timeout = 0;	/* the core must look at fatal() now */
		return 0;
	}
	if (w->state == W_UP && wflush(w, now) == -1)
		drop(w, strerror(errno), now, 0);

	switch (w->state) {
	case W_DOWN:
		at = w->next_try;
		break;
	case W_CONNECTING:
		pfd[np].fd = w->sock;
		pfd[np++].events = POLLOUT;
		at = w->deadline;
		break;
	case W_UP:
		pfd[np].fd = w->sock;
		pfd[np++].events = POLLIN | (w->nsent < w->n ? POLLOUT : 0);
		at = w->ack_deadline;
		break;
	}
	if (w->lingerfd != -1 && np < max) {
		pfd[np].fd = w->lingerfd;
		pfd[np++].events = POLLIN;
		if (at == 0 || w->linger_end < at)
			at = w->linger_end;
	}
	if (at != 0) {
		d = at > now ? at - now : 0;
		if (d > 60000)
			d = 60000;
		if (*timeout < 0 || d < *timeout)
			*timeout = (int)d;
	}
	return np;
}

static void
w_handle(void *t, struct pollfd *pfd, int n, int64_t now)
{
	struct wtcp *w = t;
	const char *why;
	int i, polite = 0;

	for (i = 0; i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		if (pfd[i].fd == w->lingerfd) {
			linger_read(w, now);
			continue;
		}
		if (pfd[i].fd != w->sock)
			continue;
		if (w->state == W_CONNECTING) {
			connect_done(w, 0, now);
			if (w->state == W_UP && wflush(w, now) == -1)
				drop(w, strerror(errno), now, 0);
			continue;
		}
		if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR) &&
		    !acks(w, now, &why, &polite)) {
			/* Fatal: abandon() closes; nothing is sent again. */
			if (!w->fatal)
				drop(w, why, now, polite);
			continue;
		}
		if (pfd[i].revents & POLLOUT && wflush(w, now) == -1)
			drop(w, strerror(errno), now, 0);
	}
}

static int
w_idle(void *t)
{
	struct wtcp *w = t;

	return w->n == 0 && w->ever_up;
}

static int
w_fatal(void *t, char *why, size_t whysz)
{
	struct wtcp *w = t;

	if (w->fatal)
		snprintf(why, whysz, "%s", w->why);
	return w->fatal;
}

static void
w_abandon(void *t)
{
	struct wtcp *w = t;

	if (w->sock != -1)
		close(w->sock);
	w->sock = -1;
	w->state = W_DOWN;
	w->n = w->nsent = w->woff = w->bytes = 0;
	if (w->lingerfd != -1)
		close(w->lingerfd);
	w->lingerfd = -1;
}

/*
 * A good end: everything is acknowledged.  Close our side and read until
 * the peer closes, so that nothing it still processes is lost to a reset
 * and a peer that acknowledged more than it was sent is found out.
 */
static void
w_close(void *t)
{
	struct wtcp *w = t;
	struct pollfd p;
	unsigned char buf[4096];
	uint64_t extra = 0;
	int64_t end = mono_ms() + (w->cf->ack_ms < LINGER_MS ?
	    w->cf->ack_ms : LINGER_MS), left;
	ssize_t n;

	if (w->state == W_UP) {
		shutdown(w->sock, SHUT_WR);
		p.fd = w->sock;
		p.events = POLLIN;
		while ((left = end - mono_ms()) > 0) {
			int r = poll(&p, 1, (int)left);

			if (r == 0 || (r == -1 && errno != EINTR))
				break;
			n = read(w->sock, buf, sizeof buf);
			if (n == -1 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				break;
			extra += (uint64_t)n;
		}
		if (extra > 0)
			xwarn("%s: %llu acknowledgement%s of nothing sent at "
			    "the end (protocol error)", w->target,
			    (unsigned long long)extra, plural(extra));
	}
	if (w->adapt)
		vlog("%s: window %zu packet%s at the end, %zu at most",
		    w->target, w->lim, plural(w->lim), w->largest);
	w_abandon(w);
}

static void
w_stats(void *t, char *buf, size_t sz)
{
	struct wtcp *w = t;

	snprintf(buf, sz, "sent %llu, resent %llu, connections %llu, "
	    "window %zu", (unsigned long long)w->sent,
	    (unsigned long long)w->resent, (unsigned long long)w->conns,
	    w->lim);
}

static void
w_figures(void *t, struct fwd_figures *g)
{
	struct wtcp *w = t;

	g->sent_bytes = (int64_t)w->wbytes;
	g->retries = (int64_t)w->resent;
	g->connects = (int64_t)w->conns;
	g->connections = w->state == W_UP;
	g->unacked = (int64_t)(w->nsent + (w->woff > 0));
	g->window = (int64_t)w->lim;
	g->reached = w->ever_up;
}

static const struct fwd_ops wtcp_ops = {
	.ready = w_ready,
	.send = w_send,
	.flush = NULL,
	.prepare = w_prepare,
	.handle = w_handle,
	.idle = w_idle,
	.fatal = w_fatal,
	.abandon = w_abandon,
	.close = w_close,
	.stats = w_stats,
	.figures = w_figures,
};

static void *
w_open(struct fwd *core, const struct fwd_conf *cf, const void *conf,
    char *why, size_t whysz)
{
	const struct wconf *wc = conf;
	struct wtcp *w;

	if ((w = wtcp_new(core, cf, wc->host, wc->port, wc->target,
	    wc->window)) == NULL)
		snprintf(why, whysz, "out of memory");
	return w;
}

static void
w_free(void *t)
{
	wtcp_free(t);
}

const struct fwd_transport wtcp_transport = { w_open, w_free, &wtcp_ops };
