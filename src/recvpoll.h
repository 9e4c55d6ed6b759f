/*
 * flespi-recv's polling engine: GET a channel's message buffer from
 * flespi's REST API (flespiapi.c), batch after batch, and write each
 * answer's messages to stdout as NDJSON, saving the key with --state
 * once the lines before it were written, or passing it down the pipe as
 * a checkpoint line (--checkpoints).  flespi-recv's command line fills
 * in a recvpoll_conf and calls recvpoll_run(), which returns the exit
 * status.
 */
#ifndef RECVPOLL_H
#define RECVPOLL_H

#include <stddef.h>
#include <stdint.h>

#include "health.h"

/* The settings of one run, already checked by the command line. */
struct recvpoll_conf {
	const char     *url;		/* API base URL */
	const char     *selector;	/* "1234", "10,20" or "all" */
	const char     *cid;		/* x-flespi-cid, or NULL */
	const char     *cafile;		/* NULL: the system store */
	const char     *state;		/* the first --state, or NULL */
	const char    **states;		/* every --state (--checkpoints) */
	int		nstates;
	int		checkpoints;	/* write checkpoint lines */
	uint64_t	from;		/* --from, when have_from */
	int		have_from;
	int		del;		/* --delete */
	int		once;		/* --once */
	uint64_t	count;		/* -n; 0 = no limit */
	long long	retries;	/* -1 = no limit */
	unsigned	timeout;	/* long-poll seconds */
	unsigned	limit_count;	/* the first request's size */
	int		count_fixed;	/* --limit-count given: no sizing */
	size_t		limit_size;
	long long	request_ms;	/* allowed on top of the long poll */
	long long	wait_ms;	/* first retry delay */
	long long	connect_ms;
	int		quiet;		/* no progress line */
	struct health_conf health;	/* --stats-interval, --metrics */
};

/*
 * Run until a stop signal, --once or -n is done, the reader of stdout
 * goes away, a refusal or --retries running out.  token goes into the
 * request headers and is wiped (explicit_bzero, its strlen) as soon as
 * they hold it.  Returns the exit status (exits.h).
 */
int	recvpoll_run(const struct recvpoll_conf *, char *token);

#endif
