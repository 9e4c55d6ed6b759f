/*
 * systemd's notification protocol (sd_notify(3)), spoken without
 * libsystemd: each message is one datagram of newline-separated
 * VAR=VALUE assignments ("READY=1", "STATUS=...", "WATCHDOG=1",
 * "STOPPING=1") sent to the AF_UNIX socket that $NOTIFY_SOCKET names: a
 * path, or an abstract name when it starts with '@'.  The protocol is
 * documented as stable and is a few lines over a datagram socket; the
 * suite keeps to its three libraries, and libsystemd would add a fourth
 * for this alone.
 *
 * Without $NOTIFY_SOCKET (not run by systemd with Type=notify) nothing
 * here does anything.  Sending never blocks and never fails the run: a
 * message the manager cannot take now is dropped.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <sys/socket.h>
#include <sys/un.h>

#include <stdint.h>

struct notify {
	int		fd;		/* -1: no socket, nothing is sent */
	struct sockaddr_un sa;
	socklen_t	salen;
	/*
	 * Half of $WATCHDOG_USEC in milliseconds when the watchdog is ours
	 * ($WATCHDOG_PID unset or our pid), else 0: how often to say
	 * WATCHDOG=1.
	 */
	int64_t		watchdog_ms;
};

/*
 * From the environment.  Returns 0 (n->fd -1 when there is nothing to
 * notify), or -1 with a reason in why when $NOTIFY_SOCKET is set but
 * cannot be used (the caller warns once and goes on without it).
 */
int	notify_open(struct notify *, char *why, size_t whysz);
/*
 * Send msg (assignments separated by newlines).  Returns 0 when it was
 * sent or there is no socket, -1 with errno when it could not be.
 */
int	notify_send(struct notify *, const char *msg);
void	notify_close(struct notify *);

#endif
