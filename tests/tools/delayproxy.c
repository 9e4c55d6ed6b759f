/*
 * delayproxy: a userspace TCP proxy on loopback that delays every chunk
 * of bytes by a fixed time in each direction, for benchmarks and tests on
 * a kernel without netem.  There is no bandwidth limit: a chunk read at
 * time t is written at t + DELAY, whatever came before it.
 *
 *	delayproxy --port-file FILE [--delay MS] HOST:PORT
 *
 * Listens on 127.0.0.1, port 0, writes the port to --port-file, and for
 * every connection accepted connects to HOST:PORT (a numeric IPv4 address
 * on loopback).  --delay is one way (default 25 ms: a round trip of 50
 * ms).  An end of stream is passed on (shutdown) after the same delay; an
 * error on either side closes both.  Each direction buffers at most 8 MiB
 * before it stops reading (back pressure, not loss).  Runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"
#include "diag.h"
#include "io.h"
#include "num.h"

#define CHUNK	65536
#define MAXBUF	(8u << 20)

struct chunk {
	struct chunk   *next;
	int64_t		due;		/* when it may be written */
	size_t		len, off;	/* len 0: the end of the stream */
	char		data[];
};

/* One direction: bytes read from src, queued, written to dst. */
struct dir {
	struct chunk   *head, *tail;
	size_t		queued;
	int		eof;		/* src ended: no more reads */
	int		shut;		/* dst shut down for writing */
};

struct pair {
	int		fd[2];		/* 0 client, 1 target */
	struct dir	d[2];		/* d[0]: client -> target */
	int		dead;
	struct pair    *next;
};

/* What an epoll event points at: one side of a pair, or the listener. */
struct side {
	struct pair    *p;
	int		i;
};

static int64_t delay = 25;
static struct sockaddr_in target;
static int ep;
static struct pair *pairs;

static void
watch(struct pair *p, int i, struct side *sd)
{
	struct epoll_event ev;
	struct dir *in = &p->d[i], *out = &p->d[1 - i];
	int64_t now = mono_ms();

	ev.events = 0;
	if (!in->eof && in->queued < MAXBUF)
		ev.events |= EPOLLIN;
	/* Writing to side i: what travels the other way, once due. */
	if (out->head != NULL && out->head->due <= now)
		ev.events |= EPOLLOUT;
	ev.data.ptr = sd;
	epoll_ctl(ep, EPOLL_CTL_MOD, p->fd[i], &ev);
}

static struct side *
sides(struct pair *p)
{
	return (struct side *)(p + 1);
}

static void
kill_pair(struct pair *p)
{
	struct chunk *c;
	int i;

	if (p->dead)
		return;
	p->dead = 1;
	for (i = 0; i < 2; i++) {
		epoll_ctl(ep, EPOLL_CTL_DEL, p->fd[i], NULL);
		close(p->fd[i]);
		while ((c = p->d[i].head) != NULL) {
			p->d[i].head = c->next;
			free(c);
		}
	}
}

static void
readside(struct pair *p, int i)
{
	struct dir *d = &p->d[i];
	struct chunk *c;
	ssize_t n;

	if (d->eof)
		return;
	if ((c = malloc(sizeof *c + CHUNK)) == NULL)
		die(71, "out of memory");
	n = read(p->fd[i], c->data, CHUNK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		free(c);
		return;
	}
	if (n == -1) {
		free(c);
		kill_pair(p);
		return;
	}
	if (n == 0)
		d->eof = 1;
	else if ((size_t)n < CHUNK / 2) {
		struct chunk *s = realloc(c, sizeof *c + (size_t)n);

		if (s != NULL)
			c = s;
	}
	c->next = NULL;
	c->len = (size_t)n;
	c->off = 0;
	c->due = mono_ms() + delay;
	if (d->tail)
		d->tail->next = c;
	else
		d->head = c;
	d->tail = c;
	d->queued += (size_t)n;
}

/* Write what is due from p->d[1 - i] to side i. */
static void
writeside(struct pair *p, int i)
{
	struct dir *d = &p->d[1 - i];
	struct chunk *c;
	int64_t now = mono_ms();
	ssize_t n;

	while ((c = d->head) != NULL && c->due <= now) {
		if (c->len == 0) {
			shutdown(p->fd[i], SHUT_WR);
			d->shut = 1;
		} else {
			n = write(p->fd[i], c->data + c->off, c->len - c->off);
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n == -1) {
				kill_pair(p);
				return;
			}
			c->off += (size_t)n;
			d->queued -= (size_t)n;
			if (c->off < c->len)
				return;
		}
		d->head = c->next;
		if (d->head == NULL)
			d->tail = NULL;
		free(c);
	}
}

static void
newpair(int lfd)
{
	struct epoll_event ev;
	struct pair *p;
	struct side *sd;
	int c, t, one = 1, i;

	if ((c = accept(lfd, NULL, NULL)) == -1)
		return;
	t = socket(AF_INET, SOCK_STREAM, 0);
	if (t == -1 || connect(t, (struct sockaddr *)&target,
	    sizeof target) == -1) {
		xwarnerr("connect");
		close(c);
		if (t != -1)
			close(t);
		return;
	}
	set_nonblock(c, 1);
	set_nonblock(t, 1);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if ((p = calloc(1, sizeof *p + 2 * sizeof *sd)) == NULL)
		die(71, "out of memory");
	p->fd[0] = c;
	p->fd[1] = t;
	sd = sides(p);
	for (i = 0; i < 2; i++) {
		sd[i].p = p;
		sd[i].i = i;
		ev.events = EPOLLIN;
		ev.data.ptr = &sd[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, p->fd[i], &ev);
	}
	p->next = pairs;
	pairs = p;
}

/* Drop finished pairs; return the ms until the next chunk is due. */
static int
sweep(void)
{
	struct pair **pp = &pairs, *p;
	int64_t now = mono_ms(), soonest = -1, w;
	int i;

	while ((p = *pp) != NULL) {
		if (!p->dead && p->d[0].shut && p->d[1].shut &&
		    p->d[0].head == NULL && p->d[1].head == NULL)
			kill_pair(p);
		if (p->dead) {
			*pp = p->next;
			free(p);
			continue;
		}
		for (i = 0; i < 2; i++) {
			watch(p, i, &sides(p)[i]);
			if (p->d[1 - i].head != NULL) {
				w = p->d[1 - i].head->due - now;
				if (w < 0)
					w = 0;
				if (soonest == -1 || w < soonest)
					soonest = w;
			}
		}
		pp = &p->next;
	}
	return (int)soonest;
}

static void
usage(int code)
{
	fprintf(code ? stderr : stdout, "usage: delayproxy --port-file FILE "
	    "[--delay MS] HOST:PORT\n");
	exit(code);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port-file", required_argument, NULL, 'p' },
		{ "delay", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct epoll_event ev, evs[64];
	struct side *sd;
	const char *portfile = NULL, *what;
	char host[64], *colon;
	int s, n, i, ch;

	diag_init(argv[0]);
	/* A side that closed while bytes were due must not kill the proxy. */
	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "d:p:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'p': portfile = optarg; break;
		case 'd': delay = num_arg("--delay", optarg, 0, 60000); break;
		case 'h': usage(0); break;
		default: usage(64);
		}
	}
	if (portfile == NULL || argc - optind != 1)
		usage(64);
	snprintf(host, sizeof host, "%s", argv[optind]);
	if ((colon = strrchr(host, ':')) == NULL)
		usage(64);
	*colon = '\0';
	memset(&target, 0, sizeof target);
	target.sin_family = AF_INET;
	target.sin_port = htons((uint16_t)num_arg("port", colon + 1, 1,
	    65535));
	if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" :
	    host, &target.sin_addr) != 1)
		die(64, "%s: not a numeric IPv4 address", host);

	if ((s = listen_local(portfile, 64, &what)) == -1)
		dieerr(what == portfile ? 74 : 71, "%s", what);
	if ((ep = epoll_create1(0)) == -1)
		dieerr(71, "epoll");
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 64, sweep());
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			dieerr(71, "epoll_wait");
		for (i = 0; i < n; i++) {
			if ((sd = evs[i].data.ptr) == NULL) {
				newpair(s);
				continue;
			}
			if (sd->p->dead)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				readside(sd->p, sd->i);
			if (!sd->p->dead && (evs[i].events & EPOLLOUT))
				writeside(sd->p, sd->i);
		}
		/* Chunks that fell due while nobody was writable yet. */
		{
			struct pair *p;

			for (p = pairs; p != NULL; p = p->next)
				for (i = 0; i < 2 && !p->dead; i++)
					writeside(p, i);
		}
	}
}
