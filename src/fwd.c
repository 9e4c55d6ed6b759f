/*
 * The forwarder core (see fwd.h): one poll() loop over stdin and a
 * transport, a ledger of message lines in input order, checkpoints,
 * drain, give-up and leftovers, the stats line and the exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "exits.h"
#include "fwd.h"
#include "io.h"
#include "num.h"
#include "statefile.h"
#include "stats.h"
#include "stop.h"
#include "vis.h"

#define MAXPFD		257	/* stdin and the transport's descriptors */
#define READ_TURN	4096	/* input lines per loop turn at most */
#define POOL		512	/* spare mapping buffers kept at most */
#define POOL_BYTES	(256 * 1024)	/* and their bytes at most */
#define CHUNK		(64 * 1024)	/* bytes of lines a chunk holds */
#define REST_QUIET_MS	1500	/* leftovers: input silent this long ends */
#define REST_MAX_MS	3000	/* leftovers: read stdin this long at most */

enum { S_HELD = 1, S_SENT, S_DONE };

struct fwd;
static void	saver_stop(struct fwd *);
struct slot;
static void	line_free(struct fwd *, struct slot *);

/*
 * The lines in the ledger live in chunks, filled in input order: a line
 * (line, NUL, uid, NUL) takes the next bytes of the newest chunk, and a
 * chunk goes when its last line has left the ledger.  Lines leave in
 * about the order they came, so memory follows the bytes in flight, with
 * no allocation or header per line.
 */
struct chunk {
	size_t		cap, used;
	size_t		live;		/* lines in it still in the ledger */
	char		data[];
};

/* A ledger slot: fwd_msg first, so that fwd_done can find its slot. */
struct slot {
	struct fwd_msg	m;
	struct chunk   *ck;		/* m.line's chunk, or NULL */
	int		state;
};

/*
 * Spare buffers for the mappings' results, newest last.  A slot holds one
 * only while it holds a message: a retired one gives it back here, so
 * that the memory follows the messages in flight, not the ledger's size,
 * and a steady stream mallocs nothing.
 */
struct pool {
	struct pbuf {
		void	       *p;
		size_t		cap;
	}		v[POOL];
	size_t		n, bytes;
};

/* A checkpoint: key, saved once the seq messages before it are done. */
struct ckpt {
	uint64_t	seq;
	uint64_t	key;
};

/*
 * The saver: a second thread that makes keys durable, so that fsync never
 * stalls delivery.  The main thread writes the failed and rejected files'
 * buffered lines out (write(2)) and then hands a key over; the saver
 * fsyncs both files, then saves the key.  Only the newest key handed over
 * is saved.  Everything below mu is shared, under mu; the descriptors are
 * the main thread's and stay open until the saver has ended.
 */
struct saver {
	pthread_t	th;
	int		running;
	const char     *path;
	int		fd[2];		/* fsync'd before each save; -1: none */
	pthread_mutex_t	mu;
	pthread_cond_t	cv;
	int		quit;
	int		pending;	/* key waits to be saved */
	uint64_t	key;
	uint64_t	saved, saves;	/* the last key saved, how many saves */
	int		err;		/* errno of the first failure, or 0 */
	int		errsync;	/* it was fsync of a file, not the save */
	uint64_t	errkey;
};

struct fwd {
	struct fwd_conf	cf;
	struct saver	sv;
	struct msgin	in;
	int		lockfd;
	const struct fwd_ops *ops;
	void	       *t;
	fwd_map_fn     *map;
	void	       *maparg;

	struct slot    *s;		/* the ledger: a ring */
	struct chunk   *tail;		/* lines are added here */
	struct chunk   *spare;		/* an empty chunk, kept */
	struct pool	maps;		/* spare mapping buffers */
	size_t		cap, head, n;
	uint64_t	base;		/* messages retired so far */
	int		held;		/* the newest slot waits for ready() */

	struct ckpt    *ck;		/* checkpoints waiting: a queue */
	size_t		ckhead, cklen, ckcap;

	struct stats	st;
	int		eof;		/* no more input will be read */
	int		inerr;		/* stdin could not be read */
	int		more;		/* msgin said MSG_BUSY */
	int		state_err;	/* a key could not be saved */
	int		fatal;		/* the transport's verdict */
	int		ttyin;		/* stdin is a terminal */
	int		unread;		/* stopped with the input still open */
	uint64_t	delivered, failed, lost, refused_by_peer;
};

const struct option fwd_longopts[] = {
	{ "state",		required_argument, NULL, FWD_OPT_BASE + 0 },
	{ "failed",		required_argument, NULL, FWD_OPT_BASE + 1 },
	{ "rejected",		required_argument, NULL, FWD_OPT_BASE + 2 },
	{ "strict",		no_argument,	   NULL, FWD_OPT_BASE + 3 },
	{ "max-line",		required_argument, NULL, FWD_OPT_BASE + 4 },
	{ "retries",		required_argument, NULL, FWD_OPT_BASE + 5 },
	{ "retry-wait",		required_argument, NULL, FWD_OPT_BASE + 6 },
	{ "ack-timeout",	required_argument, NULL, FWD_OPT_BASE + 7 },
	{ "connect-timeout",	required_argument, NULL, FWD_OPT_BASE + 8 },
	{ "drain-timeout",	required_argument, NULL, FWD_OPT_BASE + 9 },
	{ "quiet",		no_argument,	   NULL, FWD_OPT_QUIET },
	{ NULL, 0, NULL, 0 }
};

const char fwd_usage[] =
"  --state FILE            save the key of each checkpoint line once every\n"
"                          message before it is done (locked while running)\n"
"  --failed FILE           append good but undelivered lines to FILE\n"
"  --rejected FILE         append bad and refused lines to FILE\n"
"  --strict                stop at the first bad input line\n"
"  --max-line BYTES        longest input line (default 8 MiB); a longer\n"
"                          one is rejected, kept whole in --rejected\n"
"  --retries N             give up after N failed reconnects (exit 75;\n"
"                          default: never)\n"
"  --retry-wait SECS       first reconnect delay, doubling up to 30\n"
"  --ack-timeout SECS      reconnect when no acknowledgement comes\n"
"                          (default 10)\n"
"  --connect-timeout SECS  per connection attempt\n"
"  --drain-timeout SECS    after SIGINT/SIGTERM/SIGHUP, deliver for at most\n"
"                          SECS (default 10)\n";

void
fwd_conf_init(struct fwd_conf *cf, size_t maxline, long long retry_wait_ms,
    long long connect_ms)
{
	memset(cf, 0, sizeof *cf);
	cf->uid_field = "ident";
	cf->maxline = maxline;
	cf->retries = -1;
	cf->retry_wait_ms = retry_wait_ms;
	cf->ack_ms = 10000;
	cf->connect_ms = connect_ms;
	cf->drain_ms = 10000;
	cf->inflight = 64;
}

int
fwd_option(struct fwd_conf *cf, int c, const char *arg)
{
	switch (c - FWD_OPT_BASE) {
	case 0:
		cf->state = arg;
		break;
	case 1:
		cf->failed = arg;
		break;
	case 2:
		cf->rejected = arg;
		break;
	case 3:
		cf->strict = 1;
		break;
	case 4:
		cf->maxline = (size_t)num_arg("--max-line", arg, 64, 64 << 20);
		break;
	case 5:
		cf->retries = num_arg("--retries", arg, 0, 1000000000);
		break;
	case 6:
		cf->retry_wait_ms = secs_arg("--retry-wait", arg, 1, 30000);
		break;
	case 7:
		cf->ack_ms = secs_arg("--ack-timeout", arg, 10, 3600000);
		break;
	case 8:
		cf->connect_ms = secs_arg("--connect-timeout", arg, 10,
		    3600000);
		break;
	case 9:
		cf->drain_ms = secs_arg("--drain-timeout", arg, 0, 3600000);
		break;
	case FWD_OPT_QUIET - FWD_OPT_BASE:
		cf->quiet = 1;
		break;
	default:
		return 0;
	}
	return 1;
}

void
fwd_options(struct option *out, const struct option *own, size_t nown)
{
	memcpy(out, own, nown * sizeof *own);
	memcpy(out + nown, fwd_longopts, (FWD_NOPTS + 1) * sizeof *own);
}

/*
 * Refuse a --failed or --rejected FILE that is the input itself: its
 * lines would be read again as they are written, for ever.
 */
static int
is_stdin(const char *path)
{
	struct stat a, b;

	if (stat(path, &a) == -1 || fstat(STDIN_FILENO, &b) == -1)
		return 0;
	if (!S_ISREG(a.st_mode) && !S_ISFIFO(a.st_mode))
		return 0;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Say why --failed or --rejected FILE cannot be opened (errno). */
static void
openfail(const char *opt, const char *path)
{
	struct stat st;
	int e = errno;

	if (e == ENXIO && stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
		xwarn("%s: cannot open '%s': a FIFO that no process reads "
		    "(start its reader first)", opt, path);
	else {
		errno = e;
		xwarnerr("%s: cannot open '%s'", opt, path);
	}
}

struct fwd *
fwd_new(const struct fwd_conf *cf, int *status)
{
	struct fwd *f;
	const char *opt = NULL, *path = NULL;

	*status = EXIT_IOERR;
	if ((f = calloc(1, sizeof *f)) == NULL) {
		xwarn("out of memory");
		return NULL;
	}
	f->cf = *cf;
	f->lockfd = -1;
	if (msgin_init(&f->in, STDIN_FILENO, cf->maxline, cf->uid_field) ==
	    -1) {
		xwarn("out of memory");
		free(f);
		return NULL;
	}
	f->in.strict = cf->strict;
	if (cf->failed != NULL && is_stdin(cf->failed))
		opt = "--failed", path = cf->failed;
	if (cf->rejected != NULL && is_stdin(cf->rejected))
		opt = "--rejected", path = cf->rejected;
	if (opt != NULL) {
		xwarn("%s: '%s' is the input itself", opt, path);
		*status = EXIT_USAGE;
		goto fail;
	}
	if (cf->state != NULL && (f->lockfd = state_lock(cf->state)) == -1) {
		if (errno == EWOULDBLOCK) {
			xwarn("--state: '%s' is in use by another run "
			    "(locked: %s.lock)", cf->state, cf->state);
			*status = EXIT_LOCKED;
		} else
			xwarnerr("--state: cannot lock '%s.lock'", cf->state);
		goto fail;
	}
	if (cf->failed != NULL && msgin_open_failed(&f->in, cf->failed) ==
	    -1) {
		openfail("--failed", cf->failed);
		goto fail;
	}
	if (cf->rejected != NULL && msgin_open_rejected(&f->in,
	    cf->rejected) == -1) {
		openfail("--rejected", cf->rejected);
		goto fail;
	}
	/*
	 * Room for what the transport holds, the message waiting for it,
	 * and some done out of order (acks across connections) behind an
	 * older one: past that, reading waits for the oldest.
	 */
	f->cap = cf->inflight + cf->inflight / 4 + 64;
	if ((f->s = calloc(f->cap, sizeof *f->s)) == NULL) {
		xwarn("out of memory");
		goto fail;
	}
	return f;
fail:
	fwd_free(f);
	return NULL;
}

struct msgin *
fwd_input(struct fwd *f)
{
	return &f->in;
}

void
fwd_free(struct fwd *f)
{
	size_t i;

	if (f == NULL)
		return;
	saver_stop(f);
	msgin_free(&f->in);
	if (f->s != NULL)
		for (i = 0; i < f->cap; i++) {
			line_free(f, &f->s[i]);
			free(f->s[i].m.tp);
		}
	free(f->s);
	free(f->tail);
	free(f->spare);
	for (i = 0; i < f->maps.n; i++)
		free(f->maps.v[i].p);
	free(f->ck);
	if (f->lockfd != -1)
		close(f->lockfd);
	free(f);
}

static struct slot *
slot(struct fwd *f, size_t i)
{
	size_t k = f->head + i;

	return &f->s[k >= f->cap ? k - f->cap : k];
}

/*
 * Room for need bytes of a line in the newest chunk, or a new one.
 * Returns it, or NULL when out of memory.
 */
static char *
line_alloc(struct fwd *f, struct slot *s, size_t need)
{
	struct chunk *c = f->tail;
	size_t cap;

	if (c == NULL || c->cap - c->used < need) {
		cap = need > CHUNK ? need : CHUNK;
		if (f->spare != NULL && f->spare->cap >= cap) {
			c = f->spare;
			f->spare = NULL;
		} else if ((c = malloc(sizeof *c + cap)) == NULL)
			return NULL;
		else
			c->cap = cap;
		c->used = c->live = 0;
		/* The old tail goes with its last line (or now). */
		if (f->tail != NULL && f->tail->live == 0)
			free(f->tail);
		f->tail = c;
	}
	s->ck = c;
	c->live++;
	c->used += need;
	return c->data + c->used - need;
}

/* The slot's line leaves the ledger; so does its chunk with the last. */
static void
line_free(struct fwd *f, struct slot *s)
{
	struct chunk *c = s->ck;

	if (c == NULL)
		return;
	s->ck = NULL;
	if (--c->live > 0)
		return;
	if (c == f->tail) {
		c->used = 0;	/* empty: fill it again */
		return;
	}
	if (f->spare == NULL && c->cap == CHUNK)
		f->spare = c;
	else
		free(c);
}

/* Give a buffer back: kept spare, or freed. */
static void
pool_put(struct pool *pl, void *p, size_t cap)
{
	if (p == NULL)
		return;
	if (pl->n == POOL || pl->bytes + cap > POOL_BYTES) {
		free(p);
		return;
	}
	pl->v[pl->n].p = p;
	pl->v[pl->n++].cap = cap;
	pl->bytes += cap;
}

/* The newest spare buffer and its size in *cap, or NULL (*cap stays). */
static void *
pool_get(struct pool *pl, size_t *cap)
{
	if (pl->n == 0)
		return NULL;
	pl->n--;
	*cap = pl->v[pl->n].cap;
	pl->bytes -= *cap;
	return pl->v[pl->n].p;
}

void
fwd_unmap(struct fwd *f, struct fwd_msg *m)
{
	pool_put(&f->maps, m->tp, m->tpcap);
	m->tp = NULL;
	m->tplen = m->tpcap = 0;
}

int
fwd_remap(struct fwd *f, struct fwd_msg *m)
{
	struct msg in;
	char why[300];
	int r;

	if (m->tp != NULL || f->map == NULL)
		return 0;
	m->tp = pool_get(&f->maps, &m->tpcap);
	memset(&in, 0, sizeof in);
	in.line = m->line;
	in.len = m->len;
	in.lineno = m->lineno;
	if (msgin_parse(&f->in, &in, why, sizeof why) == -1)
		return -1;
	r = f->map(f->maparg, m, &in, why, sizeof why);
	json_decref(in.obj);
	return r;
}

void
fwd_done(struct fwd *f, struct fwd_msg *m, enum fwd_outcome o,
    const char *why)
{
	struct slot *s = (struct slot *)m;
	char vbuf[300];

	if (s->state == S_DONE)
		return;
	s->state = S_DONE;
	if (o == FWD_ACKED) {
		f->delivered++;
		return;
	}
	f->refused_by_peer++;
	stats_end(&f->st);
	why = why ? vis(vbuf, sizeof vbuf, why, strlen(why)) : "no reason";
	msgin_reject(&f->in, m->lineno, m->line, m->len, "refused by the "
	    "peer: %s", why);
}

/* ---- checkpoints ---- */

static void
ck_push(struct fwd *f, uint64_t seq, uint64_t key)
{
	struct ckpt *nc;

	if (f->ckhead > 0 && f->ckhead + f->cklen == f->ckcap) {
		memmove(f->ck, f->ck + f->ckhead, f->cklen * sizeof *f->ck);
		f->ckhead = 0;
	}
	if (f->ckhead + f->cklen == f->ckcap) {
		size_t ncap = f->ckcap ? f->ckcap * 2 : 16;

		if ((nc = realloc(f->ck, ncap * sizeof *nc)) == NULL) {
			/* Keep the newer key in place of the older: it lags. */
			f->ck[f->ckhead + f->cklen - 1].seq = seq;
			f->ck[f->ckhead + f->cklen - 1].key = key;
			return;
		}
		f->ck = nc;
		f->ckcap = ncap;
	}
	f->ck[f->ckhead + f->cklen].seq = seq;
	f->ck[f->ckhead + f->cklen].key = key;
	f->cklen++;
}

static void *
saver_main(void *arg)
{
	struct saver *sv = arg;
	uint64_t key;
	int i, e, insync;

	pthread_mutex_lock(&sv->mu);
	for (;;) {
		while (!sv->pending && !sv->quit)
			pthread_cond_wait(&sv->cv, &sv->mu);
		if (!sv->pending)
			break;
		key = sv->key;
		sv->pending = 0;
		pthread_mutex_unlock(&sv->mu);
		e = 0;
		insync = 0;
		for (i = 0; i < 2 && e == 0; i++)
			if (sv->fd[i] != -1 && fsync(sv->fd[i]) == -1 &&
			    errno != EINVAL && errno != EROFS) {
				e = errno;
				insync = 1;
			}
		if (e == 0 && state_save(sv->path, key) == -1)
			e = errno ? errno : EIO;
		pthread_mutex_lock(&sv->mu);
		if (e != 0 && sv->err == 0) {
			sv->err = e;
			sv->errsync = insync;
			sv->errkey = key;
		} else if (e == 0) {
			sv->saved = key;
			sv->saves++;
		}
	}
	pthread_mutex_unlock(&sv->mu);
	return NULL;
}

/* Start the saver with every signal blocked (the main thread takes them). */
static void
saver_start(struct fwd *f)
{
	struct saver *sv = &f->sv;
	sigset_t all, old;

	sv->path = f->cf.state;
	sv->fd[0] = f->in.failed.fd;
	sv->fd[1] = f->in.rejected.fd;
	if (pthread_mutex_init(&sv->mu, NULL) != 0)
		return;
	if (pthread_cond_init(&sv->cv, NULL) != 0) {
		pthread_mutex_destroy(&sv->mu);
		return;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	sv->running = pthread_create(&sv->th, NULL, saver_main, sv) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!sv->running) {
		pthread_cond_destroy(&sv->cv);
		pthread_mutex_destroy(&sv->mu);
	}
}

/* Wait until the last key handed over is saved; diagnose a failure. */
static void
saver_stop(struct fwd *f)
{
	struct saver *sv = &f->sv;

	if (!sv->running)
		return;
	pthread_mutex_lock(&sv->mu);
	sv->quit = 1;
	pthread_cond_signal(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
	pthread_join(sv->th, NULL);
	pthread_cond_destroy(&sv->cv);
	pthread_mutex_destroy(&sv->mu);
	sv->running = 0;
	if (sv->err != 0) {
		stats_end(&f->st);
		if (sv->errsync)
			xwarn("%s: key %" PRIu64 " not saved: cannot sync the "
			    "failed or rejected file: %s", f->cf.state,
			    sv->errkey, strerror(sv->err));
		else
			xwarn("%s: cannot save key %" PRIu64 ": %s",
			    f->cf.state, sv->errkey, strerror(sv->err));
		f->state_err = 1;
	}
}

/*
 * Save key: the failed and rejected files first, so that no key passes a
 * line that a crash could still take back.  Errors make the exit status
 * 74; no key is saved after one.  With the saver running, the lines are
 * written out here and the rest happens there.
 */
static void
save(struct fwd *f, uint64_t key)
{
	struct saver *sv = &f->sv;
	int err;

	if (f->cf.state == NULL || f->state_err)
		return;
	if (sv->running) {
		if (msgin_flush(&f->in) == -1 || msgin_file_error(&f->in)) {
			stats_end(&f->st);
			xwarn("%s: key %" PRIu64 " not saved: the failed or "
			    "rejected file could not be written", f->cf.state,
			    key);
			f->state_err = 1;
			return;
		}
		pthread_mutex_lock(&sv->mu);
		err = sv->err;
		sv->key = key;
		sv->pending = err == 0;
		pthread_cond_signal(&sv->cv);
		pthread_mutex_unlock(&sv->mu);
		return;
	}
	if (msgin_sync(&f->in) == -1 || msgin_file_error(&f->in)) {
		stats_end(&f->st);
		xwarn("%s: key %" PRIu64 " not saved: the failed or rejected "
		    "file could not be written", f->cf.state, key);
		f->state_err = 1;
		return;
	}
	if (state_save(f->cf.state, key) == -1) {
		stats_end(&f->st);
		xwarnerr("%s: cannot save key %" PRIu64, f->cf.state, key);
		f->state_err = 1;
		return;
	}
	sv->saved = key;
	sv->saves++;
}

/*
 * Retire done messages from the head of the ledger; save the last
 * checkpoint this reaches (several reached at once are one save).
 */
static void
retire(struct fwd *f)
{
	struct slot *s;
	uint64_t key = 0;
	int reached = 0;

	while (f->n > 0 && (s = slot(f, 0))->state == S_DONE) {
		if (f->ops->release != NULL)
			f->ops->release(f->t, &s->m);
		s->state = 0;
		line_free(f, s);
		fwd_unmap(f, &s->m);
		f->head = f->head + 1 == f->cap ? 0 : f->head + 1;
		f->n--;
		f->base++;
	}
	while (f->cklen > 0 && f->ck[f->ckhead].seq <= f->base) {
		key = f->ck[f->ckhead].key;
		reached = 1;
		f->ckhead++;
		f->cklen--;
	}
	if (reached)
		save(f, key);
}

/* ---- input ---- */

/*
 * Put a good message into a new ledger slot (there is room).  Returns
 * the slot, or NULL when out of memory.
 */
static struct slot *
take(struct fwd *f, const struct msg *in)
{
	struct slot *s = slot(f, f->n);
	size_t ulen = strlen(in->uid), need = in->len + ulen + 2;
	char *b;

	if ((b = line_alloc(f, s, need)) == NULL)
		return NULL;
	if (s->m.tp == NULL)
		s->m.tp = pool_get(&f->maps, &s->m.tpcap);
	memcpy(b, in->line, in->len);
	b[in->len] = '\0';
	memcpy(b + in->len + 1, in->uid, ulen + 1);
	s->m.lineno = in->lineno;
	s->m.line = b;
	s->m.len = in->len;
	s->m.uid = b + in->len + 1;
	s->m.timestamp = in->timestamp;
	s->m.tplen = 0;
	s->state = S_HELD;
	return s;
}

/* Hand the held message to the transport when it takes it. */
static int
send_held(struct fwd *f, int64_t now, int *timeout)
{
	struct slot *s;
	int64_t wait = -1;

	if (!f->held)
		return 1;
	s = slot(f, f->n - 1);
	if (!f->ops->ready(f->t, &s->m, now, &wait)) {
		if (wait >= 0 && (*timeout < 0 || wait < *timeout))
			*timeout = wait > 60000 ? 60000 : (int)wait;
		return 0;
	}
	f->held = 0;
	s->state = S_SENT;
	f->ops->send(f->t, &s->m, now);
	return 1;
}

static void
input_ended(struct fwd *f, int64_t now)
{
	f->eof = 1;
	if (f->ops->flush != NULL)
		f->ops->flush(f->t, now);
}

/*
 * Read, map and send messages while the transport takes them and the
 * ledger has room; note checkpoints.
 */
static void
readin(struct fwd *f, int64_t now, int *timeout)
{
	struct msg m;
	struct slot *s;
	char why[300];
	int r, turn;

	f->more = 0;
	for (turn = 0; turn < READ_TURN; turn++) {
		if (!send_held(f, now, timeout))
			return;
		if (f->eof || f->n == f->cap)
			return;
		r = msgin_next(&f->in, &m);
		switch (r) {
		case MSG_AGAIN:
			return;
		case MSG_BUSY:
			f->more = 1;
			return;
		case MSG_ERR:
			stats_end(&f->st);
			xwarnerr("cannot read stdin");
			f->inerr = 1;
			/* FALLTHROUGH */
		case MSG_EOF:
		case MSG_BAD:
			input_ended(f, now);
			return;
		case MSG_CHECKPOINT:
			if (f->cf.state == NULL)
				continue;
			ck_push(f, f->base + f->n, m.key);
			if (f->ops->flush != NULL)
				f->ops->flush(f->t, now);
			continue;
		}
		if ((s = take(f, &m)) == NULL) {
			json_decref(m.obj);
			stats_end(&f->st);
			xwarn("out of memory");
			f->inerr = 1;
			input_ended(f, now);
			return;
		}
		if (f->map != NULL && f->map(f->maparg, &s->m, &m, why,
		    sizeof why) == -1) {
			json_decref(m.obj);
			s->state = 0;
			line_free(f, s);
			stats_end(&f->st);
			msgin_reject(&f->in, m.lineno, m.line, m.len, "%s", why);
			if (f->cf.strict)
				input_ended(f, now);
			continue;
		}
		json_decref(m.obj);
		f->n++;
		f->held = 1;
	}
	f->more = 1;	/* the turn is over, not the input */
}

/* ---- the end of a run ---- */

/*
 * Write an undelivered message line to the failed file.  Returns 0 when
 * it is there (done once the file is synced), -1 when it is lost.
 */
static int
fail_line(struct fwd *f, const char *line, size_t len)
{
	if (msgin_failed(&f->in, line, len) == 0) {
		f->failed++;
		return 0;
	}
	f->lost++;
	return -1;
}

/*
 * The rest of the input after give-up or the end of the drain: every
 * line until end of input goes to the failed file (bad ones to the
 * rejected file), as long as the writer goes on writing: it stops after
 * REST_QUIET_MS without a byte, after REST_MAX_MS in all, or at another
 * stop signal; a terminal is not waited for at all.  Input left unread
 * makes the exit status 75 (the run ended before its input did); a line
 * cut off by that is said, not rejected (no key after it was saved: it
 * comes again).  Returns the last key whose lines are all in the files,
 * in *key (1), or 0.
 */
static int
rest(struct fwd *f, int blocked, uint64_t *key)
{
	struct pollfd p;
	struct msg m;
	int64_t end = mono_ms() + REST_MAX_MS, left;
	sig_atomic_t ints = stop_interrupts;
	int r, found = 0, t;

	f->in.strict = 0;
	while (!f->eof) {
		/* A writer that never pauses (or never stops) is cut off too. */
		if (mono_ms() >= end || stop_interrupts != ints)
			break;
		r = msgin_next(&f->in, &m);
		switch (r) {
		case MSG_OK:
			json_decref(m.obj);
			if (fail_line(f, m.line, m.len) == -1)
				blocked = 1;
			continue;
		case MSG_CHECKPOINT:
			if (!blocked && f->cf.state != NULL) {
				*key = m.key;
				found = 1;
			}
			continue;
		case MSG_BUSY:
		case MSG_BAD:
			continue;
		case MSG_AGAIN:
			/* A terminal: nobody types on after a stop signal. */
			if (f->ttyin)
				break;
			left = end - mono_ms();
			if (left <= 0 || stop_interrupts != ints)
				break;
			t = left < REST_QUIET_MS ? (int)left : REST_QUIET_MS;
			p.fd = f->in.lr.fd;
			p.events = POLLIN;
			r = poll(&p, 1, t);
			if (r == 0 || (r == -1 && errno != EINTR))
				break;
			continue;
		case MSG_ERR:
			xwarnerr("cannot read stdin");
			f->inerr = 1;
			/* FALLTHROUGH */
		default:
			f->eof = 1;
			continue;
		}
		break;
	}
	if (!f->eof) {
		stats_end(&f->st);
		msgin_abandon(&f->in);
		xwarn("stopped reading the input after line %" PRIu64
		    ": it is still open", f->in.lr.lineno);
		f->unread = 1;
	}
	return found;
}

/*
 * The run is over with work left (give-up, drain time over, refused):
 * everything in the ledger that is not done, then the rest of the input,
 * goes to the failed file in input order, and the last checkpoint whose
 * lines are all delivered or in the files is saved.
 */
static void
leftovers(struct fwd *f)
{
	struct slot *s;
	uint64_t key = 0, seq;
	int blocked = 0, found = 0;
	size_t i;

	f->ops->abandon(f->t);
	for (i = 0; i < f->n; i++) {
		s = slot(f, i);
		seq = f->base + i;
		while (f->cklen > 0 && f->ck[f->ckhead].seq <= seq) {
			if (!blocked) {
				key = f->ck[f->ckhead].key;
				found = 1;
			}
			f->ckhead++;
			f->cklen--;
		}
		if (s->state != S_DONE && fail_line(f, s->m.line, s->m.len) ==
		    -1)
			blocked = 1;
		s->state = S_DONE;
	}
	f->held = 0;
	while (f->cklen > 0) {
		if (!blocked) {
			key = f->ck[f->ckhead].key;
			found = 1;
		}
		f->ckhead++;
		f->cklen--;
	}
	retire(f);	/* releases every slot; no checkpoint is left */
	if (rest(f, blocked, &key))
		found = 1;
	if (found)
		save(f, key);
}

/*
 * The totals at the end (stats.h says where they show); the transport's
 * figures after a semicolon.
 */
static void
totals(struct fwd *f)
{
	char ts[160] = "";
	uint64_t ck = f->in.checkpoints;

	if (f->ops->stats != NULL)
		f->ops->stats(f->t, ts, sizeof ts);
	stats_total(&f->st, "%" PRIu64 " delivered, %" PRIu64 " failed, %"
	    PRIu64 " rejected, %" PRIu64 " checkpoint%s%s%s", f->delivered,
	    f->failed + f->lost, f->in.bad, ck, plural(ck), ts[0] ? "; " : "",
	    ts);
}

static void
showstats(struct fwd *f, int64_t now)
{
	char ts[160] = "";
	int64_t ms = now - f->st.start_ms;

	if (f->ops->stats != NULL)
		f->ops->stats(f->t, ts, sizeof ts);
	stats_show(&f->st, "delivered %" PRIu64 ", in flight %zu, rejected %"
	    PRIu64 ", %.0f msg/s%s%s", f->delivered, f->n, f->in.bad,
	    ms > 0 ? (double)f->delivered * 1000.0 / (double)ms : 0.0,
	    ts[0] ? ", " : "", ts);
}

int
fwd_run(struct fwd *f, const struct fwd_ops *ops, void *t, fwd_map_fn *map,
    void *maparg)
{
	struct pollfd pfd[MAXPFD];
	char why[512];
	int64_t now, drain_end = 0;
	uint64_t dones;
	int timeout, np, good = 0, status, again = 0;
	sig_atomic_t ints = 0;	/* SIGINTs when the drain began */

	f->ops = ops;
	f->t = t;
	f->map = map;
	f->maparg = maparg;
	stop_install();
	if (f->cf.state != NULL)
		saver_start(f);
	if (set_nonblock(STDIN_FILENO, 1) == -1) {
		xwarnerr("stdin");
		return EXIT_IOERR;
	}
	stats_init(&f->st, f->cf.quiet, f->cf.data);
	f->ttyin = isatty(STDIN_FILENO);
	for (;;) {
		now = mono_ms();
		if (stop_count != 0 && drain_end == 0) {
			drain_end = now + f->cf.drain_ms;
			ints = stop_interrupts;
			vlog("stopping on signal %d: delivering what is "
			    "outstanding for at most %.1f s", (int)stop_requested,
			    (double)f->cf.drain_ms / 1000.0);
			if (ops->flush != NULL)
				ops->flush(t, now);
		} else if (drain_end != 0 && stop_interrupts != ints &&
		    !again) {
			drain_end = now;	/* Ctrl-C again: stop now */
			again = 1;
		}
		if ((f->fatal = ops->fatal(t, why, sizeof why)) != 0) {
			stats_end(&f->st);
			xwarn("%s", why);
			break;
		}
		if (drain_end != 0 && now >= drain_end) {
			stats_end(&f->st);
			if (again)
				xwarn("interrupted again: stopping at once");
			else
				xwarn("drain time over (--drain-timeout %.1f s)",
				    (double)f->cf.drain_ms / 1000.0);
			break;
		}

		timeout = -1;
		/*
		 * What the transport finished leaves the ledger before new
		 * lines come in: the transport takes as many new ones as it
		 * finished, so retiring them only after the read held up to a
		 * window's lines twice (16 MiB for flespi-to-wialon's 8).
		 */
		retire(f);
		readin(f, now, &timeout);
		retire(f);
		if (f->eof && f->n == 0 && ops->idle(t)) {
			good = 1;
			break;
		}
		/*
		 * Stopped while reading a terminal: nobody types on after
		 * Ctrl-C (and the terminal discarded what was being typed), so
		 * end as soon as nothing is outstanding rather than wait for
		 * an end of input that is not coming.  A pipe is read on: its
		 * writer may still be flushing lines it has taken
		 * responsibility for.
		 */
		if (drain_end != 0 && f->ttyin && f->n == 0 && !f->more &&
		    lr_pending(&f->in.lr) == 0) {
			good = 1;
			break;
		}
		msgin_flush(&f->in);

		pfd[0].fd = !f->eof && !f->held && f->n < f->cap &&
		    !f->more ? f->in.lr.fd : -1;
		pfd[0].events = POLLIN;
		if (f->more)
			timeout = 0;
		dones = f->delivered + f->refused_by_peer;
		np = ops->prepare(t, now, pfd + 1, MAXPFD - 1, &timeout);
		/*
		 * A message done in prepare() (fwd.h allows it) came after the
		 * ledger and the end of the run were looked at: do not wait,
		 * come round again to retire it (and maybe end).
		 */
		if (f->delivered + f->refused_by_peer != dones)
			timeout = 0;
		if (drain_end != 0) {
			int64_t d = drain_end - now;

			if (timeout < 0 || d < timeout)
				timeout = d < 0 ? 0 : (int)d;
		}
		if (f->st.tty && (timeout < 0 || timeout > 1000))
			timeout = 1000;
		if (poll(pfd, (nfds_t)np + 1, timeout) == -1 && errno != EINTR) {
			stats_end(&f->st);
			xwarnerr("poll");
			f->inerr = 1;
			break;
		}
		now = mono_ms();
		ops->handle(t, pfd + 1, np, now);
		if (stats_due(&f->st, now))
			showstats(f, now);
	}

	if (good) {
		ops->close(t);
	} else {
		leftovers(f);
	}
	saver_stop(f);
	msgin_sync(&f->in);
	set_nonblock(STDIN_FILENO, 0);
	totals(f);

	if (f->failed + f->lost > 0) {
		/* What is really in the file, not what was handed to it. */
		uint64_t w = f->in.failed.written;

		if (msgin_file_error(&f->in) && f->cf.failed != NULL)
			xwarn("%" PRIu64 " message%s undelivered, %" PRIu64
			    " of them written to the failed file, %" PRIu64
			    " not (write error)", f->failed + f->lost,
			    plural(f->failed + f->lost), w,
			    f->failed + f->lost - w);
		else
			xwarn("%" PRIu64 " message%s undelivered%s",
			    f->failed + f->lost, plural(f->failed + f->lost),
			    f->failed > 0 ? ", written to the failed file" : "");
	}
	if (f->sv.saves > 0)
		vlog("%s: key %" PRIu64 " saved (%" PRIu64 " save%s)",
		    f->cf.state, f->sv.saved, f->sv.saves,
		    plural(f->sv.saves));

	if (f->fatal == EXIT_REFUSED)
		status = EXIT_REFUSED;
	else if (msgin_file_error(&f->in))
		status = EXIT_IOERR;
	else if (f->fatal != 0 || f->failed + f->lost > 0 || f->unread)
		status = EXIT_TEMPFAIL;
	else if (f->inerr || f->state_err)
		status = EXIT_IOERR;
	else if (f->in.bad > 0)
		status = EXIT_DATAERR;
	else
		status = EXIT_OK;
	return status;
}
