/*
 * The forwarder core: what flespi-to-wialon, flespi-to-aws and
 * flespi-to-http share.  It reads NDJSON on stdin (msgin: the bad-line
 * policy), keeps every message line in a ledger from the moment it is
 * read until it is done, saves checkpoints to --state once everything
 * before them is done, drains on SIGINT/SIGTERM/SIGHUP, gives up, writes
 * leftovers, shows the stats line and computes the exit status.  A
 * forwarder supplies its options, a mapping (fwd_map_fn) and a transport (the
 * ops below); the core never knows which peer it talks to.
 *
 * Every line read ends in exactly one of three ways, and the counters say
 * which: delivered (the peer acknowledged it), rejected (bad input, or
 * content the peer refused: --rejected FILE), failed (good but not
 * delivered when the run ended: --failed FILE).  A message line is "done"
 * once acknowledged, or once written to the rejected or failed file and
 * that file fsync'd; a checkpoint's key is saved only when every message
 * line before it is done.
 *
 * One thread: the core runs one poll() loop over stdin and the
 * transport's descriptors.  A transport calls fwd_done() from its own
 * callbacks (handle, send, prepare), never from anywhere else.
 */
#ifndef FWD_H
#define FWD_H

#include <getopt.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "msgin.h"

struct fwd;

/*
 * One message line in flight.  The core owns it (and line) from read to
 * done; a transport may keep the pointer until it reports the message
 * done with fwd_done(), or until abandon(), and not after.
 */
struct fwd_msg {
	uint64_t	lineno;		/* input line number (1-based) */
	char	       *line;		/* the bytes as read, NUL-terminated,
					   no newline */
	size_t		len;
	char	       *uid;		/* device id, NUL-terminated, owned
					   by the core: for sharding */
	double		timestamp;	/* "timestamp", Unix seconds */
	/*
	 * The mapping's result (the encoded packet, the topic): tplen
	 * bytes at tp.  The core hands the mapping a spare buffer that a
	 * previous message left (tpcap bytes, from malloc; or NULL, 0),
	 * which it may grow with realloc or swap for one of its own; the
	 * core takes the buffer back when the message leaves the ledger
	 * (or at fwd_unmap) and free()s it in the end.
	 */
	void	       *tp;
	size_t		tplen, tpcap;
};

/*
 * The mapping: prepare a good message for this peer (encode the packet,
 * expand the topic) while in->obj is still valid (NULL when msgin's fast
 * path took the line): fill m->tp.  Returns 0, or -1 with a reason in
 * why: the line is rejected as bad input.  The forwarder's own, separate
 * from its transport.
 */
typedef int	fwd_map_fn(void *arg, struct fwd_msg *m, const struct msg *in,
		    char *why, size_t whysz);

enum fwd_outcome {
	FWD_ACKED,		/* the peer acknowledged it */
	FWD_REJECTED		/* the peer refused the content: never retry */
};

/*
 * A transport: one peer (which may use several connections), driven from
 * the core's poll() loop.  It owns its connections, their windows,
 * reconnects with backoff and --retries; the core owns the messages.
 * Members may be NULL where marked.
 */
struct fwd_ops {
	/*
	 * Can m be sent now (connected, window or batch not full, rate)?
	 * 1 yes; 0 no, with *wait_ms set when only time stands in the way
	 * (else -1).  The core reads no further input while the answer is
	 * 0, and asks again after the next poll().
	 */
	int	(*ready)(void *t, const struct fwd_msg *m, int64_t now,
		    int64_t *wait_ms);
	/*
	 * Take m (after ready said 1); it is reported with fwd_done() later,
	 * possibly from within this call, or forgotten in abandon().
	 */
	void	(*send)(void *t, struct fwd_msg *m, int64_t now);
	/*
	 * Send what is held back for batching now, without waiting for more
	 * (end of input, a checkpoint line, a stop signal).  NULL: nothing
	 * is ever held back.
	 */
	void	(*flush)(void *t, int64_t now);
	/*
	 * Timers and descriptors: fill at most max entries of pfd, return
	 * how many; lower *timeout_ms (-1: no limit yet) to when the
	 * transport next needs to run.  Connecting starts here.  Messages
	 * reported done from here make the core poll without waiting, so
	 * that it retires them (and ends the run) at once.
	 */
	int	(*prepare)(void *t, int64_t now, struct pollfd *pfd, int max,
		    int *timeout_ms);
	/* After poll(): the n entries prepare filled, with revents. */
	void	(*handle)(void *t, struct pollfd *pfd, int n, int64_t now);
	/*
	 * True when nothing is in flight or held back, and the run may end
	 * (a transport may also say 0 until it has reached its peer once,
	 * so that a wrong address fails even with nothing to send).
	 */
	int	(*idle)(void *t);
	/*
	 * 0 while the transport goes on; otherwise the run must end now:
	 * EXIT_TEMPFAIL (gave up after --retries) or EXIT_REFUSED (auth,
	 * TLS, 401/403...), with the reason in why (printed by the core).
	 */
	int	(*fatal)(void *t, char *why, size_t whysz);
	/*
	 * The run is over with messages outstanding: close every connection
	 * and forget them (without fwd_done); the core writes them to the
	 * failed file.
	 */
	void	(*abandon)(void *t);
	/* End of a good run: say goodbye to the peer (bounded in time). */
	void	(*close)(void *t);
	/*
	 * The message left the ledger (done or abandoned): drop any
	 * reference to it.  NULL: nothing to do (m->tp stays with the slot).
	 */
	void	(*release)(void *t, struct fwd_msg *m);
	/*
	 * Transport figures for the stats line and -v ("resent 3, ..."):
	 * a short text in buf, no newline.  NULL: none.
	 */
	void	(*stats)(void *t, char *buf, size_t sz);
};

/* Settings every forwarder has, parsed by fwd_option(). */
struct fwd_conf {
	const char     *state;		/* --state FILE: checkpoint keys */
	const char     *failed;		/* --failed FILE: undelivered lines */
	const char     *rejected;	/* --rejected FILE: refused lines */
	const char     *uid_field;	/* field naming the device, "ident" */
	int		strict;		/* --strict: stop at a bad line */
	int		quiet;		/* -q/--quiet: no progress line */
	int		data;		/* the tool writes data to stdout
					   (--dump): see stats.h */
	size_t		maxline;	/* --max-line */
	long long	retries;	/* --retries, -1 = never give up */
	long long	retry_wait_ms;	/* --retry-wait: first backoff */
	long long	ack_ms;		/* --ack-timeout */
	long long	connect_ms;	/* --connect-timeout */
	long long	drain_ms;	/* --drain-timeout */
	size_t		inflight;	/* most messages the transport holds
					   at once (window x connections,
					   batch x parallel): sizes the
					   ledger */
};

/*
 * The long options every forwarder takes; end a tool's table with them.
 * fwd_usage has a --help line for each but --quiet, which a tool lists
 * itself (with -q, or long-only where -q means something else): a tool
 * with -q passes FWD_OPT_QUIET to fwd_option() for it.
 */
#define FWD_OPT_BASE	1000
#define FWD_OPT_QUIET	(FWD_OPT_BASE + 10)
#define FWD_NOPTS	11
extern const struct option fwd_longopts[];	/* FWD_NOPTS, then { NULL } */
extern const char fwd_usage[];			/* their --help lines */

/*
 * The default --max-line of every forwarder: above the longest line
 * flespi-recv passes with its defaults (an answer, and so any message in
 * it, is at most --limit-size 4 MiB + 1 MiB), so that nothing it passes
 * is refused for its length alone.  A longer line is rejected and kept
 * whole in --rejected; a peer's own limit on a message (AWS's 128 KB) is
 * enforced by that forwarder's mapping, as a rejected line too.
 */
#define FWD_MAX_LINE	(8 << 20)

/*
 * Defaults: the forwarder's own longest line (FWD_MAX_LINE), first
 * reconnect delay and connect timeout; the rest are the same in every
 * tool.
 */
void	fwd_conf_init(struct fwd_conf *, size_t maxline, long long retry_wait_ms,
	    long long connect_ms);
/*
 * An option from fwd_longopts (c >= FWD_OPT_BASE): store it, die with 64
 * on a bad value.  Returns 1 when c was one of ours, else 0.
 */
int	fwd_option(struct fwd_conf *, int c, const char *arg);
/*
 * Copy a tool's own options and then fwd_longopts into out (room for
 * nown + FWD_NOPTS + 1), for getopt_long.
 */
void	fwd_options(struct option *out, const struct option *own, size_t nown);

/*
 * Set up: lock --state (EXIT_LOCKED when another run holds it), open
 * --failed and --rejected (refused when one of them is stdin itself).
 * Returns the core, or NULL with a diagnostic printed and *status set to
 * the exit status to end with.  The transport is created after this, with
 * the core, so that it can call fwd_done().
 */
struct fwd *fwd_new(const struct fwd_conf *, int *status);
/* The core's input, e.g. to set msgin's fast path before fwd_run. */
struct msgin *fwd_input(struct fwd *);
/*
 * Run (map may be NULL: nothing to map) until input ends and everything is done, the transport is fatal, or
 * a stop signal's drain time is over (installs the SIGINT/SIGTERM/SIGHUP
 * handlers, makes stdin non-blocking).  Returns the exit status; never
 * exits.
 */
int	fwd_run(struct fwd *, const struct fwd_ops *, void *t,
	    fwd_map_fn *map, void *maparg);
void	fwd_free(struct fwd *);

/*
 * A transport that holds many messages may give a message's mapping back
 * once it has used it (written the packet), so that the message holds
 * only its line, and have it made again from the line, byte for byte,
 * before using it again (a resend).  fwd_remap does nothing while
 * m->tp is there; it returns 0, or -1 when out of memory.  Call it from
 * the transport's callbacks, never between mappings of the core's own.
 */
void	fwd_unmap(struct fwd *, struct fwd_msg *);
int	fwd_remap(struct fwd *, struct fwd_msg *);

/* The transport reports a message done (ACKED, or REJECTED with why). */
void	fwd_done(struct fwd *, struct fwd_msg *, enum fwd_outcome,
	    const char *why);

#endif
