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

#include "checkpoint.h"
#include "ckorder.h"
#include "diag.h"
#include "exits.h"
#include "fwd.h"
#include "io.h"
#include "metrics.h"
#include "num.h"
#include "statefile.h"
#include "stats.h"
#include "stdfds.h"
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
struct saver;
static void	saver_join(struct saver *);
static const char *holds(struct fwd *, char *, size_t);
struct slot;
static void	line_free(struct fwd *, struct slot *);
static void	newest_read(struct fwd *);

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
 * The newest message delivered, for the lag (health.h): fwd_done notes
 * it, and its time is read from its line before the line leaves the
 * ledger (line_free) or when the figures are asked for.
 */
struct newest {
	struct fwd_msg *m;		/* noted, time not read yet; or NULL */
	uint64_t	lineno;		/* the newest line delivered */
	double		stamp;		/* its server.timestamp, or 0 */
	double		lag;		/* seconds behind when delivered */
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

/*
 * A checkpoint: key, saved once the seq messages before it are done and
 * the clock has passed ready (0: at once; see ckorder.h).
 */
struct ckpt {
	uint64_t	seq;
	uint64_t	key;
	int64_t		ready;
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
	/*
	 * A failed save (a full disk for a second) is tried again with the
	 * next key: err is the errno of the last attempt, 0 once one works
	 * again.  A failed or rejected file that cannot be synced is
	 * another matter (its lines may be lost): errsync stops saving for
	 * the rest of the run.
	 */
	int		err;
	uint64_t	errkey;		/* the key that attempt tried */
	uint64_t	failures;	/* failed attempts in all */
	int		errsync;	/* errno of a failed fsync, or 0 */
};

struct fwd {
	struct fwd_conf	cf;
	struct saver	sv;
	struct msgin	in;
	struct statefile sf;		/* --state: saved to sf.path */
	uint64_t	startkey;	/* the key --state held at start */
	int		havekey;	/* ... if it held one */
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
	struct ckorder	order;		/* are they in place? */
	int64_t		ck_ms;		/* the last checkpoint line read, or
					   the start */
	uint64_t	ck_msgs;	/* messages read since then */
	int		ck_silent;	/* the silence was said */
	int		ck_said;	/* a gap or a late start was said */

	struct stats	st;
	int		eof;		/* no more input will be read */
	int		inerr;		/* stdin could not be read */
	int		more;		/* msgin said MSG_BUSY */
	int		state_err;	/* no key will be saved again */
	int		state_failing;	/* the last save failed (said once) */
	int		fatal;		/* the transport's verdict */
	int		ttyin;		/* stdin is a terminal */
	int		dumpend;	/* --dump's stdout: 1 gone, 2 error */
	int		unread;		/* stopped with the input still open */
	uint64_t	delivered, failed, lost, refused_by_peer;
	struct health	h;		/* notify, stats line, --metrics */
	struct newest	nw;
	uint64_t	inbytes;	/* bytes of message lines taken */
	uint64_t	ackseen;	/* delivered when last_ack was set */
	double		last_ack;	/* Unix time of the last ack, or 0 */
};

enum { O_STATE = 1000, O_FAILED, O_REJECTED, O_STRICT, O_MAXLINE, O_ACKTO,
	O_DRAINTO, O_CKWAIT };

const struct cli_opt fwd_opts[] = {
	{ "state", 0, CLI_ARG, O_STATE, "FILE",
	  "save the key of each checkpoint line once every\n"
	  "message before it is done (locked while running)", NULL, 0 },
	{ "failed", 0, CLI_ARG, O_FAILED, "FILE",
	  "append good but undelivered lines to FILE", NULL, 0 },
	{ "rejected", 0, CLI_ARG, O_REJECTED, "FILE",
	  "append bad and refused lines to FILE", NULL, 0 },
	{ "strict", 0, CLI_FLAG, O_STRICT, NULL,
	  "stop at the first bad input line", NULL, 0 },
	{ "max-line", 0, CLI_ARG, O_MAXLINE, "BYTES",
	  "longest input line (default 8 MiB); a longer\n"
	  "one is rejected, kept whole in --rejected", NULL, 0 },
	{ "ack-timeout", 0, CLI_ARG, O_ACKTO, "SECS",
	  "reconnect when no acknowledgement comes\n(default 10)", NULL, 0 },
	{ "drain-timeout", 0, CLI_ARG, O_DRAINTO, "SECS",
	  "after SIGINT/SIGTERM/SIGHUP, deliver for at most\n"
	  "SECS (default 10)", NULL, 0 },
	{ "checkpoint-timeout", 0, CLI_ARG, O_CKWAIT, "SECS",
	  "with --state, warn when messages went through and\n"
	  "no checkpoint line came for SECS (default 60;\n0: never)", NULL, 0 },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, 0 }
};

static const char exit_text[] =
"\n"
"Exit status: 0 all delivered, 64 usage, 65 bad or refused lines, 69 refused\n"
"by the peer, 73 --state in use, 74 local I/O error, 75 undelivered messages\n"
"(gave up, or stopped by a signal).\n";

void
fwd_dry_run(const struct cli *cl, struct fwd_conf *fc)
{
	if (fc->state != NULL)
		cli_fail(cl, "--dump takes no --state: nothing is delivered");
	fc->data = 1;
}

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
	cf->ckwait_ms = 60000;
	cf->inflight = 64;
	cf->health.interval_ms = -1;
}

/* A shared option: store it.  Returns 1 when id was one, else 0. */
static int
option(struct fwd_conf *cf, int id, const char *arg)
{
	switch (id) {
	case O_STATE:
		cf->state = arg;
		break;
	case O_FAILED:
		cf->failed = arg;
		break;
	case O_REJECTED:
		cf->rejected = arg;
		break;
	case O_STRICT:
		cf->strict = 1;
		break;
	case O_MAXLINE:
		cf->maxline = (size_t)num_arg("--max-line", arg, 64, 64 << 20);
		break;
	case CLI_RETRIES:
		cf->retries = num_arg("--retries", arg, 0, 1000000000);
		break;
	case CLI_RETRYWAIT:
		cf->retry_wait_ms = secs_arg("--retry-wait", arg, 1, 30000);
		break;
	case O_ACKTO:
		cf->ack_ms = secs_arg("--ack-timeout", arg, 10, 3600000);
		break;
	case CLI_CONNTO:
		cf->connect_ms = secs_arg("--connect-timeout", arg, 10,
		    3600000);
		break;
	case O_DRAINTO:
		cf->drain_ms = secs_arg("--drain-timeout", arg, 0, 3600000);
		break;
	case O_CKWAIT:
		cf->ckwait_ms = secs_arg("--checkpoint-timeout", arg, 0,
		    86400000);
		break;
	case CLI_STATSINT:
		health_interval_arg(&cf->health, arg);
		break;
	case CLI_METRICS:
		health_metrics_arg(&cf->health, arg);
		break;
	default:
		return 0;
	}
	return 1;
}

static void __attribute__((noreturn))
help(const struct fwd_cmd *cmd)
{
	printf("%s%s\n\n", cmd->synopsis, cmd->about);
	cli_help(stdout, cmd->opts);
	printf("Options of every forwarder:\n");
	cli_help(stdout, fwd_opts);
	cli_help(stdout, cli_every);
	cli_help(stdout, cli_common);
	if (cmd->notes != NULL)
		printf("%s", cmd->notes);
	fputs(exit_text, stdout);
	cli_done();
}

void
fwd_parse(const struct fwd_cmd *cmd, struct cli *cl, struct fwd_conf *fc,
    void *conf, int argc, char **argv)
{
	const struct cli_opt *tabs[] = { cmd->opts, fwd_opts, cli_every,
	    cli_common, NULL };
	const struct cli_habit *habits[3];
	const char *arg;
	int id, fd, nh = 0;

	diag_init(argv[0]);
	/*
	 * Before anything is opened: a closed standard descriptor would be
	 * taken by the first file or socket, and data written there.
	 */
	if (stdfds_check(&fd) == -1) {
		if (fd != STDERR_FILENO)
			xwarn("descriptor %d is closed", fd);
		exit(EXIT_IOERR);
	}
	fwd_conf_init(fc, FWD_MAX_LINE, FWD_RETRY_WAIT_MS, FWD_CONNECT_MS);
	if (cmd->habits != NULL)
		habits[nh++] = cmd->habits;
	if (cmd->family_habits != NULL)
		habits[nh++] = cmd->family_habits;
	habits[nh] = NULL;
	if (cli_init(cl, argc, argv, tabs, cmd->synopsis, habits) == -1)
		die(EXIT_IOERR, "out of memory");
	while ((id = cli_next(cl, &arg)) != -1) {
		switch (id) {
		case CLI_HELP:
			help(cmd);
		case CLI_VERSION:
			printf("%s %s\n", progname, VERSION);
			cli_done();
		case CLI_LIST:
			cli_list(stdout, tabs);
			cli_done();
		case 'q':
			fc->quiet = 1;
			break;
		case 'v':
			verbose++;
			break;
		default:
			if (!option(fc, id, arg))
				cmd->option(conf, fc, id, arg);
		}
	}
}

int
fwd_main(const struct fwd_conf *fc, const struct fwd_transport *tr,
    const void *tconf, const struct fwd_mapping *mp)
{
	struct fwd *f;
	void *t;
	char why[512];
	int status;

	if ((f = fwd_new(fc, &status)) == NULL)
		return status;
	if (mp != NULL && mp->fast != NULL) {
		f->in.fast = mp->fast;
		f->in.fast_arg = mp->fastarg;
	}
	if ((t = tr->open(f, fc, tconf, why, sizeof why)) == NULL) {
		xwarn("%s", why);
		fwd_free(f);
		return EXIT_IOERR;
	}
	status = fwd_run(f, tr->ops, t, mp ? mp->map : NULL, mp ? mp->maparg :
	    NULL);
	tr->free(t);
	fwd_free(f);
	return status;
}

int
fwd_dump(struct fwd *f, const void *buf, size_t len)
{
	if (f->dumpend)
		return -1;
	if (write_all(STDOUT_FILENO, buf, len, NULL) == 0)
		return 0;
	if (errno == EPIPE) {
		f->dumpend = 1;		/* the reader went away */
		return -1;
	}
	stats_end(&f->st);
	xwarnerr("stdout");
	f->dumpend = 2;
	return -1;
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
	f->sf.lockfd = -1;
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
	if (cf->state != NULL) {
		char why[600];
		int r;

		r = state_open(&f->sf, cf->state, &f->startkey, status, why,
		    sizeof why);
		if (r == -1) {
			xwarn("--state: %s", why);
			goto fail;
		}
		f->havekey = r;
		*status = EXIT_IOERR;
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

void
fwd_free(struct fwd *f)
{
	size_t i;

	if (f == NULL)
		return;
	saver_join(&f->sv);
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
	state_close(&f->sf);
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
	if (&s->m == f->nw.m)
		newest_read(f);
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
		if (m->lineno > f->nw.lineno) {
			f->nw.lineno = m->lineno;
			f->nw.m = m;
		}
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
ck_push(struct fwd *f, uint64_t seq, uint64_t key, int64_t ready)
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
			f->ck[f->ckhead + f->cklen - 1].ready = ready;
			return;
		}
		f->ck = nc;
		f->ckcap = ncap;
	}
	f->ck[f->ckhead + f->cklen].seq = seq;
	f->ck[f->ckhead + f->cklen].key = key;
	f->ck[f->ckhead + f->cklen].ready = ready;
	f->cklen++;
}

/*
 * The lines are out of order (ckorder.h): no key is saved again in this
 * run, and those waiting are dropped; the key file keeps what it holds,
 * so the next run starts there and nothing is lost.
 */
static void
disorder(struct fwd *f, const char *what)
{
	char h[40];

	f->cklen = 0;
	f->ckhead = 0;
	stats_end(&f->st);
	xwarn("%s: %s: a filter in the pipe reorders lines (jq -s, sort_by, "
	    "group_by?); no key is saved in this run, so nothing is lost: "
	    "--state keeps %s, where the next run starts", f->cf.state, what,
	    holds(f, h, sizeof h));
}

/*
 * With --state, a message (its identity) in the checkpoints' order: 1
 * when it shows the order wrong for the first time.
 */
static int
late(struct fwd *f, const struct msg *m)
{
	return f->cf.state != NULL && cko_message(&f->order,
	    checkpoint_id(m->uid, strlen(m->uid), m->timestamp));
}

/*
 * A checkpoint line was read (with --state): is it in place (ckorder.h)?
 * Queue its key, to be saved once the messages before it are done.
 */
static void
checkpoint(struct fwd *f, const struct ckline *c, int64_t now)
{
	int gap, r, was_bad;

	f->ck_ms = now;
	f->ck_msgs = 0;
	f->ck_silent = 0;
	if (!f->order.haveck && (c->has & CK_PREV) && f->havekey &&
	    c->prev > f->startkey && !f->ck_said) {
		stats_end(&f->st);
		xwarn("%s: the stream starts after key %" PRIu64 ", but this "
		    "file held %" PRIu64 ": the messages between did not come "
		    "this way (flespi-recv run with --from, or another key "
		    "file?)", f->cf.state, c->prev, f->startkey);
		f->ck_said = 1;
	}
	was_bad = f->order.bad;
	r = cko_checkpoint(&f->order, c, &gap);
	if (r == CKO_BAD) {
		/* Said once: when the order first went bad. */
		if (!was_bad) {
			char what[120];

			snprintf(what, sizeof what, "checkpoint %" PRIu64
			    " comes after %" PRIu64, c->key, f->order.lastkey);
			disorder(f, what);
		}
		return;
	}
	if (gap && !f->ck_said) {
		stats_end(&f->st);
		xwarn("%s: checkpoint lines between keys %" PRIu64 " and %"
		    PRIu64 " are missing: does a filter in the pipe drop some? "
		    "(keep them with select(has(\"@checkpoint\") or ...))",
		    f->cf.state, f->order.gapfrom, f->order.gapto);
		f->ck_said = 1;
	}
	ck_push(f, f->base + f->n, c->key, r == CKO_SETTLE ?
	    now + CKO_SETTLE_MS : 0);
}

/* The outcome of saving key (e: 0, or the errno; insync: fsync failed). */
static void
saved(struct saver *sv, uint64_t key, int e, int insync)
{
	if (insync) {
		sv->errsync = e;
		return;
	}
	if (e != 0) {
		sv->err = e;
		sv->errkey = key;
		sv->failures++;
		return;
	}
	sv->err = 0;
	sv->saved = key;
	sv->saves++;
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
		if (sv->errsync)
			continue;
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
		saved(sv, key, e, insync);
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

	sv->path = f->sf.path;
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

/*
 * The key the file holds now: the last one saved in this run, else the
 * one it held at the start.  Returns 0 when it holds none.  The saver's
 * figures are read under its lock when it runs.
 */
static int
held_key(struct fwd *f, uint64_t *key)
{
	int saved;

	if (f->sv.running)
		pthread_mutex_lock(&f->sv.mu);
	saved = f->sv.saves > 0;
	*key = f->sv.saved;
	if (f->sv.running)
		pthread_mutex_unlock(&f->sv.mu);
	if (!saved && f->havekey)
		*key = f->startkey;
	return saved || f->havekey;
}

/* What the key file holds now, for diagnostics: "key 42" or "no key". */
static const char *
holds(struct fwd *f, char *buf, size_t sz)
{
	uint64_t key;

	if (held_key(f, &key))
		snprintf(buf, sz, "key %" PRIu64, key);
	else
		snprintf(buf, sz, "no key");
	return buf;
}

/*
 * Say what the saves did since last asked, once per change: a failure
 * (tried again at the next checkpoint), the recovery, or a file that
 * cannot be synced (no key saved again).  The saver's figures are read
 * under its lock when it runs.
 */
static void
state_news(struct fwd *f)
{
	struct saver *sv = &f->sv;
	int err, errsync;
	uint64_t errkey, saved;
	char h[40];

	if (f->cf.state == NULL)
		return;
	if (sv->running)
		pthread_mutex_lock(&sv->mu);
	err = sv->err;
	errsync = sv->errsync;
	errkey = sv->errkey;
	saved = sv->saved;
	if (sv->running)
		pthread_mutex_unlock(&sv->mu);
	if (errsync != 0 && !f->state_err) {
		stats_end(&f->st);
		xwarn("%s: key %" PRIu64 " not saved: cannot sync the failed "
		    "or rejected file: %s; no key is saved again in this run",
		    f->cf.state, errkey ? errkey : f->sv.key,
		    strerror(errsync));
		f->state_err = 1;
	} else if (err != 0 && !f->state_failing) {
		stats_end(&f->st);
		xwarn("%s: cannot save key %" PRIu64 ": %s; it holds %s; "
		    "trying again at the next checkpoint", f->cf.state, errkey,
		    strerror(err), holds(f, h, sizeof h));
		f->state_failing = 1;
	} else if (err == 0 && f->state_failing && saved != 0) {
		stats_end(&f->st);
		xwarn("%s: key %" PRIu64 " saved: saving works again",
		    f->cf.state, saved);
		f->state_failing = 0;
	}
}

/*
 * Wait until the last key handed over is saved; diagnose a failure.  A
 * run whose last save failed ends with 74: the key file is behind.
 */
static void
saver_join(struct saver *sv)
{
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
}

static void
saver_stop(struct fwd *f)
{
	struct saver *sv = &f->sv;
	char h[40];

	saver_join(sv);
	state_news(f);
	if (sv->err != 0) {
		stats_end(&f->st);
		xwarn("%s: the last key, %" PRIu64 ", is not saved (%" PRIu64
		    " failed attempt%s): it holds %s", f->cf.state, sv->errkey,
		    sv->failures, plural(sv->failures), holds(f, h, sizeof h));
		f->state_err = 1;
	}
}

/*
 * Save key: the failed and rejected files first, so that no key passes a
 * line that a crash could still take back.  A file that could not be
 * written makes the exit status 74 and no key is saved after it; a key
 * file that could not be written is tried again with the next key
 * (state_news says so), and the run ends with 74 only when the last
 * save failed.  With the saver running, the lines are written out here
 * and the rest happens there.
 */
static void
save(struct fwd *f, uint64_t key)
{
	struct saver *sv = &f->sv;
	int e;

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
		sv->key = key;
		sv->pending = 1;
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
	sv->key = key;
	e = state_save(f->sf.path, key) == -1 ? (errno ? errno : EIO) : 0;
	saved(sv, key, e, 0);
	state_news(f);
}

/*
 * Retire done messages from the head of the ledger; save the last
 * checkpoint this reaches (several reached at once are one save).
 */
static void
retire(struct fwd *f, int64_t now)
{
	struct slot *s;
	uint64_t key = 0;
	int reached = 0;

	while (f->n > 0 && (s = slot(f, 0))->state == S_DONE) {
		s->state = 0;
		line_free(f, s);
		fwd_unmap(f, &s->m);
		f->head = f->head + 1 == f->cap ? 0 : f->head + 1;
		f->n--;
		f->base++;
	}
	/* At the end of input no line can come to show them out of place. */
	while (f->cklen > 0 && f->ck[f->ckhead].seq <= f->base &&
	    (f->ck[f->ckhead].ready <= now || f->eof)) {
		key = f->ck[f->ckhead].key;
		reached = 1;
		f->ckhead++;
		f->cklen--;
	}
	if (reached)
		save(f, key);
}

/* When the next waiting checkpoint may be saved, or -1. */
static int64_t
ck_due(const struct fwd *f)
{
	if (f->cklen == 0 || f->ck[f->ckhead].seq > f->base ||
	    f->ck[f->ckhead].ready == 0)
		return -1;
	return f->ck[f->ckhead].ready;
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
	f->inbytes += in->len + 1;
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
			checkpoint(f, &m.ck, now);
			if (f->ops->flush != NULL)
				f->ops->flush(f->t, now);
			continue;
		}
		f->ck_msgs++;
		if (late(f, &m))
			disorder(f, "messages come after their own checkpoint "
			    "line");
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
			msgin_reject(&f->in, m.lineno, m.line, m.len, "%s",
			    why);
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
	int r, found = 0, t, gap;

	f->in.strict = 0;
	while (!f->eof) {
		/*
		 * A writer that never pauses (or never stops) is cut off too.
		 */
		if (mono_ms() >= end || stop_interrupts != ints)
			break;
		r = msgin_next(&f->in, &m);
		switch (r) {
		case MSG_OK:
			json_decref(m.obj);
			if (fail_line(f, m.line, m.len) == -1)
				blocked = 1;
			if (late(f, &m))
				found = 0;
			continue;
		case MSG_CHECKPOINT:
			if (f->cf.state != NULL && !blocked &&
			    cko_checkpoint(&f->order, &m.ck, &gap) != CKO_BAD) {
				*key = m.ck.key;
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
	return found && !f->order.bad;
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
	retire(f, INT64_MAX);	/* releases every slot; no checkpoint is left */
	if (rest(f, blocked, &key))
		found = 1;
	if (found && !f->order.bad)
		save(f, key);
}

/* Lines taken and not yet done. */
static uint64_t
undone(struct fwd *f)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < f->n; i++)
		n += slot(f, i)->state != S_DONE;
	return n;
}

/*
 * A stop signal came: say at once what the drain waits for (the messages
 * not yet acknowledged, for how long, where they go after) and, at a
 * terminal, that Ctrl-C again stops now.  Nothing outstanding: nothing
 * to say (-v: a line).
 */
static void
drainsay(struct fwd *f)
{
	const char *sig = stop_requested == SIGINT ? "SIGINT" :
	    stop_requested == SIGTERM ? "SIGTERM" : stop_requested == SIGHUP ?
	    "SIGHUP" : "a signal";
	uint64_t n = undone(f);
	char rest[200];

	if (n == 0) {
		vlog("stopping on %s: nothing is outstanding", sig);
		return;
	}
	snprintf(rest, sizeof rest, "then to %s", f->cf.failed != NULL ?
	    f->cf.failed : "nowhere: no --failed file");
	stats_end(&f->st);
	xwarn("stopping on %s: %" PRIu64 " message%s not yet acknowledged; "
	    "delivering for at most %.1f s, %s%s", sig, n,
	    plural(n), (double)f->cf.drain_ms / 1000.0, rest,
	    isatty(STDERR_FILENO) && stop_requested == SIGINT ?
	    " (Ctrl-C again: stop now)" : "");
}

/* Lower *timeout (-1: none yet) to ms (at least 0). */
static void
sooner(int *timeout, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms > INT32_MAX)
		ms = INT32_MAX;
	if (*timeout < 0 || ms < *timeout)
		*timeout = (int)ms;
}

/* When the silence is due to be said, or -1 (nothing to say). */
static int64_t
silence_due(const struct fwd *f)
{
	if (f->cf.state == NULL || f->cf.ckwait_ms == 0 || f->ck_silent ||
	    f->ck_msgs == 0)
		return -1;
	return f->ck_ms + f->cf.ckwait_ms;
}

/*
 * With --state, messages flow and no checkpoint line comes: the key is
 * never saved, and each run sends everything again.  Say so once per
 * silence, and at the end of a run that saw none.
 */
static void
silence(struct fwd *f, int64_t now)
{
	int64_t due = silence_due(f);

	if (due < 0 || (now != INT64_MAX && now < due))
		return;
	stats_end(&f->st);
	if (now == INT64_MAX)
		xwarn("%s: no checkpoint line came with the %" PRIu64 " "
		    "message%s read: the key is not saved.  Run flespi-recv "
		    "with --checkpoints, and keep its lines through any filter "
		    "(jq: select(has(\"@checkpoint\") or ...))", f->cf.state,
		    f->ck_msgs, plural(f->ck_msgs));
	else
		xwarn("%s: no checkpoint line for %.0f s while %" PRIu64
		    " message%s went through: the key is not saved.  Run "
		    "flespi-recv with --checkpoints, and keep its lines "
		    "through any filter (jq: select(has(\"@checkpoint\") "
		    "or ...))",
		    f->cf.state, (double)(now - f->ck_ms) / 1000.0, f->ck_msgs,
		    plural(f->ck_msgs));
	f->ck_silent = 1;
}

/* ---- health: the stats line, notify, --metrics (health.h) ---- */

/* The noted newest message's time, read from its line now. */
static void
newest_read(struct fwd *f)
{
	struct fwd_msg *m = f->nw.m;
	double t;

	f->nw.m = NULL;
	if ((t = metrics_stamp(m->line, m->len)) <= 0)
		t = m->timestamp;
	if (t > 0) {
		f->nw.stamp = t;
		f->nw.lag = health_wall() - t;
	}
}

/*
 * The figures: every line read is delivered, failed, rejected or still
 * undone, so that the counts add up.
 */
static void
figures(void *arg, struct figures *g)
{
	struct fwd *f = arg;
	struct fwd_figures t = { -1, -1, -1, -1, -1, -1, 0 };
	uint64_t left = undone(f);

	if (f->ops->figures != NULL)
		f->ops->figures(f->t, &t);
	if (f->nw.m != NULL)
		newest_read(f);
	g->delivered = f->delivered;
	g->failed = f->failed + f->lost;
	g->rejected = f->in.bad;
	g->read = g->delivered + g->failed + g->rejected + left;
	g->checkpoints = f->in.checkpoints;
	g->read_bytes = f->inbytes;
	g->sent_bytes = t.sent_bytes;
	g->retries = t.retries;
	g->connects = t.connects;
	g->connections = t.connections;
	g->inflight = t.unacked >= 0 ? t.unacked : (int64_t)left;
	g->window = t.window;
	g->last_ack = f->last_ack;
	g->newest = f->nw.stamp;
	g->lag = f->nw.lag;
	g->ready = t.reached || f->delivered > 0;
	g->havekey = held_key(f, &g->key);
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
	int64_t now, drain_end = 0, due;
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
	f->cf.health.quiet = f->cf.quiet;
	health_init(&f->h, &f->cf.health, figures, f);
	f->ttyin = isatty(STDIN_FILENO);
	f->ck_ms = mono_ms();
	cko_init(&f->order, strcmp(f->cf.uid_field, "ident") == 0);
	for (;;) {
		now = mono_ms();
		if (stop_count != 0 && drain_end == 0) {
			drain_end = now + f->cf.drain_ms;
			ints = stop_interrupts;
			drainsay(f);
			health_stopping(&f->h);
			if (ops->flush != NULL)
				ops->flush(t, now);
		} else if (drain_end != 0 && stop_interrupts != ints &&
		    !again) {
			drain_end = now;	/* Ctrl-C again: stop now */
			again = 1;
		}
		/* A dry run's stdout is gone: nothing more can be shown. */
		if (f->dumpend)
			break;
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
				xwarn("drain time over (--drain-timeout "
				    "%.1f s)", (double)f->cf.drain_ms / 1000.0);
			break;
		}

		timeout = -1;
		/*
		 * What the transport finished leaves the ledger before new
		 * lines come in: the transport takes as many new ones as it
		 * finished, so retiring them only after the read held up to a
		 * window's lines twice (16 MiB for flespi-to-wialon's 8).
		 */
		retire(f, now);
		readin(f, now, &timeout);
		retire(f, now);
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
		state_news(f);

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
		if (drain_end != 0)
			sooner(&timeout, drain_end - now);
		if ((due = ck_due(f)) >= 0)
			sooner(&timeout, due - now);
		if ((due = silence_due(f)) >= 0)
			sooner(&timeout, due - now);
		if (f->st.tty && (timeout < 0 || timeout > 1000))
			timeout = 1000;
		sooner(&timeout, health_timeout(&f->h, now));
		if (poll(pfd, (nfds_t)np + 1, timeout) == -1 &&
		    errno != EINTR) {
			stats_end(&f->st);
			xwarnerr("poll");
			f->inerr = 1;
			break;
		}
		now = mono_ms();
		ops->handle(t, pfd + 1, np, now);
		if (f->delivered != f->ackseen) {
			f->ackseen = f->delivered;
			f->last_ack = health_wall();
		}
		health_tick(&f->h, now);
		if (stats_due(&f->st, now))
			showstats(f, now);
		silence(f, now);
	}

	if (good)
		ops->close(t);
	else if (f->dumpend)
		ops->abandon(t);
	else
		leftovers(f);
	if (f->in.checkpoints == 0)
		silence(f, INT64_MAX);
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
			    f->failed > 0 ? ", written to the failed file" :
			    "");
	}
	if (f->sv.saves > 0)
		vlog("%s: key %" PRIu64 " saved (%" PRIu64 " save%s)",
		    f->cf.state, f->sv.saved, f->sv.saves,
		    plural(f->sv.saves));

	if (f->dumpend == 2)
		status = EXIT_IOERR;
	else if (f->fatal == EXIT_REFUSED)
		status = EXIT_REFUSED;
	else if (msgin_file_error(&f->in))
		status = EXIT_IOERR;
	else if (f->fatal != 0 || f->failed + f->lost > 0 || f->unread)
		status = EXIT_TEMPFAIL;
	else if (f->inerr || f->state_err)
		status = EXIT_IOERR;
	else if (f->in.bad > 0 || f->order.bad)
		status = EXIT_DATAERR;
	else
		status = EXIT_OK;
	if (f->delivered != f->ackseen)
		f->last_ack = health_wall();
	health_end(&f->h);
	return status;
}
