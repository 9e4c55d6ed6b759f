/*
 * listen.h: a test peer's listening socket on 127.0.0.1, on a port the
 * kernel picks, written to a file for the test to read (lib.sh port_of).
 * Shared by the C peers in tests/tools.
 */
#ifndef LISTEN_H
#define LISTEN_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Listen with backlog and write the port to portfile.  Returns the
 * socket, or -1 with errno set and *what naming the step that failed
 * ("listen", or portfile itself).
 */
static int
listen_local(const char *portfile, int backlog, const char **what)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	FILE *f;
	int s, e, one = 1;

	*what = "listen";
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    listen(s, backlog) == -1 ||
	    getsockname(s, (struct sockaddr *)&sa, &sl) == -1)
		goto fail;
	*what = portfile;
	if ((f = fopen(portfile, "w")) == NULL)
		goto fail;
	if (fprintf(f, "%d\n", ntohs(sa.sin_port)) < 0) {
		e = errno;
		fclose(f);
		errno = e;
		goto fail;
	}
	if (fclose(f) == EOF)
		goto fail;
	return s;
fail:
	e = errno;
	close(s);
	errno = e;
	return -1;
}

#endif
