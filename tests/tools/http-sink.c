/*
 * http-sink: an HTTP/1.1 server that answers every request with 200 at
 * once, for benchmarks; it must never be the bottleneck.  One thread,
 * epoll, keep-alive, bodies framed by Content-Length or chunked transfer
 * coding, "Expect: 100-continue" answered.  It checks nothing else.
 *
 *	http-sink --port-file FILE [--stats FILE] [--count STRING]
 *
 * Listens on 127.0.0.1, port 0, and writes the port to --port-file.  After
 * every request it rewrites --stats (when given) with one line,
 * "requests N bytes B matches M": B counts body bytes, M the occurrences
 * of --count in the bodies (e.g. '"ident":' once per flespi message), so
 * a benchmark can wait until every message has arrived.  Runs until
 * killed.
 */
#define _GNU_SOURCE		/* memmem */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"
#include "diag.h"
#include "io.h"

struct conn {
	int		fd;
	char	       *buf;		/* bytes received, not yet consumed */
	size_t		len, cap;
};

static const char *statsfile, *pattern;
static size_t patlen;
static uint64_t requests, bodybytes, matches;

static const char ok200[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
static const char cont100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void
count(const char *s, size_t n)
{
	const char *p = s, *end = s + n, *q;

	if (patlen == 0)
		return;
	while ((size_t)(end - p) >= patlen &&
	    (q = memmem(p, (size_t)(end - p), pattern, patlen)) != NULL) {
		matches++;
		p = q + patlen;
	}
}

static void
writestats(void)
{
	char tmp[4096];
	FILE *f;

	if (statsfile == NULL)
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp", statsfile);
	if ((f = fopen(tmp, "w")) == NULL)
		dieerr(74, "%s", tmp);
	fprintf(f, "requests %" PRIu64 " bytes %" PRIu64 " matches %" PRIu64
	    "\n", requests, bodybytes, matches);
	if (fclose(f) == EOF || rename(tmp, statsfile) == -1)
		dieerr(74, "%s", statsfile);
}

/* The value of header name in the head (len bytes), or NULL. */
static const char *
header(const char *head, size_t len, const char *name)
{
	const char *p = head, *end = head + len, *eol;
	size_t n = strlen(name);

	while (p < end && (eol = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if ((size_t)(eol - p) > n && p[n] == ':' &&
		    strncasecmp(p, name, n) == 0) {
			p += n + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = eol + 1;
	}
	return NULL;
}

/*
 * Decode a chunked body starting at b (n bytes buffered): its length on
 * the wire in *wire and the data bytes counted.  Returns 1 when complete,
 * 0 when more bytes are needed, -1 when malformed.
 */
static int
chunked(const char *b, size_t n, size_t *wire)
{
	size_t off = 0, sz;
	const char *eol;
	char *end;

	for (;;) {
		eol = memchr(b + off, '\n', n - off);
		if (eol == NULL)
			return 0;
		sz = strtoul(b + off, &end, 16);
		off = (size_t)(eol - b) + 1;
		if (sz == 0) {
			/* No trailers from our clients: one empty line. */
			eol = memchr(b + off, '\n', n - off);
			if (eol == NULL)
				return 0;
			*wire = (size_t)(eol - b) + 1;
			return 1;
		}
		if (n - off < sz + 2)
			return 0;
		count(b + off, sz);
		bodybytes += sz;
		off += sz + 2;
	}
}

/*
 * Answer every complete request in c->buf.  Returns 0, or -1 when the
 * connection must be closed.
 */
static int
serve(struct conn *c)
{
	const char *he, *v;
	size_t headlen, bodylen, wire;
	int r;

	for (;;) {
		he = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (he == NULL)
			return c->len > 65536 ? -1 : 0;
		headlen = (size_t)(he - c->buf) + 4;
		v = header(c->buf, headlen, "transfer-encoding");
		if (v != NULL && strncasecmp(v, "chunked", 7) == 0) {
			uint64_t save = bodybytes, msave = matches;

			r = chunked(c->buf + headlen, c->len - headlen, &wire);
			if (r == 0) {
				bodybytes = save;
				matches = msave;
				goto more;
			}
			if (r == -1)
				return -1;
			bodylen = wire;
		} else {
			v = header(c->buf, headlen, "content-length");
			bodylen = v ? strtoul(v, NULL, 10) : 0;
			if (c->len - headlen < bodylen)
				goto more;
			count(c->buf + headlen, bodylen);
			bodybytes += bodylen;
		}
		requests++;
		if (write_all(c->fd, ok200, sizeof ok200 - 1, NULL) == -1)
			return -1;
		memmove(c->buf, c->buf + headlen + bodylen,
		    c->len - headlen - bodylen);
		c->len -= headlen + bodylen;
		writestats();
		continue;
more:
		v = header(c->buf, headlen, "expect");
		if (v != NULL && strncasecmp(v, "100-continue", 12) == 0 &&
		    c->len == headlen &&
		    write_all(c->fd, cont100, sizeof cont100 - 1, NULL) == -1)
			return -1;
		return 0;
	}
}

static void
closeconn(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->buf);
	free(c);
}

static void
usage(int code)
{
	fprintf(code ? stderr : stdout, "usage: http-sink --port-file FILE "
	    "[--stats FILE] [--count STRING]\n");
	exit(code);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port-file", required_argument, NULL, 'p' },
		{ "stats", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct epoll_event ev, evs[64];
	const char *portfile = NULL, *what;
	struct conn *c;
	int s, fd, ep, n, i, ch, one = 1;
	ssize_t r;

	diag_init(argv[0]);
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'p': portfile = optarg; break;
		case 's': statsfile = optarg; break;
		case 'c': pattern = optarg; patlen = strlen(optarg); break;
		case 'h': usage(0); break;
		default: usage(64);
		}
	}
	if (portfile == NULL || optind != argc)
		usage(64);
	/* The stats file is there before the port file says we are. */
	writestats();
	if ((s = listen_local(portfile, 64, &what)) == -1)
		dieerr(what == portfile ? 74 : 71, "%s", what);
	if ((ep = epoll_create1(0)) == -1)
		dieerr(71, "epoll");
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 64, -1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			dieerr(71, "epoll_wait");
		for (i = 0; i < n; i++) {
			if ((c = evs[i].data.ptr) == NULL) {
				if ((fd = accept(s, NULL, NULL)) == -1)
					continue;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				    sizeof one);
				if ((c = calloc(1, sizeof *c)) == NULL)
					die(71, "out of memory");
				c->fd = fd;
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				continue;
			}
			if (c->cap - c->len < 65536) {
				c->cap = c->cap ? c->cap * 2 : 1 << 20;
				if ((c->buf = realloc(c->buf, c->cap)) == NULL)
					die(71, "out of memory");
			}
			r = read(c->fd, c->buf + c->len, c->cap - c->len);
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				closeconn(ep, c);
				continue;
			}
			c->len += (size_t)r;
			if (serve(c) == -1)
				closeconn(ep, c);
		}
	}
}
