#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notify.h"
#include "num.h"

int
notify_open(struct notify *n, char *why, size_t whysz)
{
	const char *path = getenv("NOTIFY_SOCKET"), *us, *pid;
	size_t len;
	long long v, p;

	n->fd = -1;
	n->salen = 0;
	n->watchdog_ms = 0;
	if (path == NULL || *path == '\0')
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len < 2 ||
	    len > sizeof n->sa.sun_path - 1) {
		snprintf(why, whysz, "NOTIFY_SOCKET: '%.100s' is not a socket "
		    "path or an abstract name (@NAME)", path);
		return -1;
	}
	memset(&n->sa, 0, sizeof n->sa);
	n->sa.sun_family = AF_UNIX;
	memcpy(n->sa.sun_path, path, len);
	/* An abstract name: a NUL in place of the '@', no NUL at the end. */
	if (path[0] == '@')
		n->sa.sun_path[0] = '\0';
	n->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	    (path[0] == '@' ? 0 : 1));
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd == -1) {
		snprintf(why, whysz, "NOTIFY_SOCKET: socket: %s",
		    strerror(errno));
		return -1;
	}
	/*
	 * The watchdog is ours when no other process was named for it.
	 * (The shipped unit's shell hands it to both stages by unsetting
	 * WATCHDOG_PID.)
	 */
	us = getenv("WATCHDOG_USEC");
	pid = getenv("WATCHDOG_PID");
	if (us != NULL && parse_ll(us, 1, (long long)1 << 50, &v) == 0 &&
	    (pid == NULL || *pid == '\0' || (parse_ll(pid, 1, (long long)1 <<
	    40, &p) == 0 && p == (long long)getpid()))) {
		/* Half the period, as sd_watchdog_enabled(3) advises. */
		n->watchdog_ms = v / 2000;
		if (n->watchdog_ms < 1)
			n->watchdog_ms = 1;
	}
	return 0;
}

int
notify_send(struct notify *n, const char *msg)
{
	ssize_t r;

	if (n->fd == -1)
		return 0;
	do
		r = sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL,
		    (const struct sockaddr *)&n->sa, n->salen);
	while (r == -1 && errno == EINTR);
	return r == -1 ? -1 : 0;
}

void
notify_close(struct notify *n)
{
	if (n->fd != -1)
		close(n->fd);
	n->fd = -1;
}
