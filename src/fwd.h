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

#include "cli.h"
#include "health.h"
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

/*
 * A transport's own figures, for the periodic stats line and --metrics
 * (health.h): the core sets every number to -1 first, and what the
 * transport does not know stays so.
 */
struct fwd_figures {
	int64_t		sent_bytes;	/* bytes written to the peer */
	int64_t		retries;	/* packets sent again, requests
					   retried, reconnections */
	int64_t		connects;	/* connections established */
	int64_t		connections;	/* open now */
	int64_t		unacked;	/* sent, not yet acknowledged */
	int64_t		window;		/* how many may be in flight now */
	int		reached;	/* the first round trip succeeded (a
					   connection accepted, or a first
					   acknowledgement): READY=1 */
};

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
	 * Transport figures for the stats line and -v ("resent 3, ..."):
	 * a short text in buf, no newline.  NULL: none.
	 */
	void	(*stats)(void *t, char *buf, size_t sz);
	/* The transport's figures (struct fwd_figures).  NULL: none. */
	void	(*figures)(void *t, struct fwd_figures *);
};

/* Settings every forwarder has, from the shared options (fwd_opts). */
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
	long long	ckwait_ms;	/* --checkpoint-timeout: no checkpoint
					   line this long is said */
	size_t		inflight;	/* most messages the transport holds
					   at once (window x connections,
					   batch x parallel): sizes the
					   ledger */
	struct health_conf health;	/* --stats-interval, --metrics */
};

/*
 * A transport as a forwarder command names it: open one for the core
 * with the command's settings for it (conf: the transport's own struct),
 * its operations, and free.  open returns the transport, or NULL with a
 * reason in why (the run ends with 74).
 */
struct fwd_transport {
	void	       *(*open)(struct fwd *, const struct fwd_conf *,
			    const void *conf, char *why, size_t whysz);
	void		(*free)(void *t);
	const struct fwd_ops *ops;
};

/*
 * The default --max-line of every forwarder: above the longest line
 * flespi-recv passes with its defaults (an answer, and so any message in
 * it, is at most --limit-size 4 MiB + 1 MiB), so that nothing it passes
 * is refused for its length alone.  A longer line is rejected and kept
 * whole in --rejected; a peer's own limit on a message (AWS's 128 KB) is
 * enforced by that forwarder's mapping, as a rejected line too.
 */
#define FWD_MAX_LINE	(8 << 20)
/* The first --retry-wait and the --connect-timeout of every forwarder. */
#define FWD_RETRY_WAIT_MS 500
#define FWD_CONNECT_MS	10000

/*
 * A forwarder's mapping: map prepares each good message for the peer
 * (NULL: the lines go as they are), fast is msgin's fast path for it
 * (msgin.h; NULL: jansson only), each with its argument.
 */
struct fwd_mapping {
	fwd_map_fn     *map;
	void	       *maparg;
	int	      (*fast)(void *arg, struct msg *);
	void	       *fastarg;
};

/*
 * A forwarder command, as its file declares it: the text of its --help
 * and its own options.  Everything every forwarder shares (the shared
 * options, -h, -V, -q, -v, the exit status table) is the core's.
 */
struct fwd_cmd {
	const char     *synopsis;	/* "usage: NAME ..." lines */
	const char     *about;		/* --help's first line */
	const struct cli_opt *opts;	/* the command's own options */
	/* Foreign spellings (cli.h): the command's own, and those of a
	   family of commands (may be NULL). */
	const struct cli_habit *habits, *family_habits;
	const char     *notes;		/* --help's last lines: defaults of
					   the shared options that are the
					   command's own, and so on */
	/*
	 * Store the command's own option id (value arg, or NULL) in conf;
	 * exit 64 on a bad value.
	 */
	void	      (*option)(void *conf, struct fwd_conf *, int id,
			    const char *arg);
};

/*
 * The shared settings' defaults: maxline, retry_wait_ms and connect_ms
 * as given, the rest the same in every tool.
 */
void	fwd_conf_init(struct fwd_conf *, size_t maxline,
	    long long retry_wait_ms, long long connect_ms);

/*
 * A dry run (--dump): the tool writes data to stdout and delivers
 * nothing, so it takes no --state (exit 64 with cl's words).
 */
void	fwd_dry_run(const struct cli *, struct fwd_conf *);

/* The options every forwarder takes (cli.h), after the command's own. */
extern const struct cli_opt fwd_opts[];

/*
 * The command line of a forwarder: defaults, the command's own options
 * (cmd->option with conf), the shared ones into fc; --help, --version
 * and --list-options print and exit.  The operands are left in cl for
 * the command to check.  Exits 64 on a usage error.
 */
void	fwd_parse(const struct fwd_cmd *, struct cli *, struct fwd_conf *,
	    void *conf, int argc, char **argv);
/*
 * Run a forwarder: set up the core (fwd_new), the mapping and the
 * transport, run until done (fwd_run), free everything.  Returns the
 * exit status.
 */
int	fwd_main(const struct fwd_conf *, const struct fwd_transport *,
	    const void *tconf, const struct fwd_mapping *);

/*
 * Set up: lock --state (EXIT_LOCKED when another run holds it), open
 * --failed and --rejected (refused when one of them is stdin itself).
 * Returns the core, or NULL with a diagnostic printed and *status set to
 * the exit status to end with.  The transport is created after this, with
 * the core, so that it can call fwd_done().
 */
struct fwd *fwd_new(const struct fwd_conf *, int *status);
/*
 * Run (map may be NULL: nothing to map) until input ends and everything
 * is done, the transport is fatal, or a stop signal's drain time is
 * over (installs the SIGINT/SIGTERM/SIGHUP handlers, makes stdin
 * non-blocking).  Returns the exit status; never exits.
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

/*
 * A dry run (--dump) writes what it would send to stdout with this.
 * Returns 0, or -1 when stdout is gone or failed: the core then ends the
 * run, quietly when the reader went away (--dump | head), with 74 after
 * a write error (diagnosed here).
 */
int	fwd_dump(struct fwd *, const void *buf, size_t len);

/* The transport reports a message done (ACKED, or REJECTED with why). */
void	fwd_done(struct fwd *, struct fwd_msg *, enum fwd_outcome,
	    const char *why);

#endif
