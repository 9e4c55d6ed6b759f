/*
 * The dry run of a forwarder (--dump): a transport that connects to
 * nothing and shows each message on stdout instead, in the command's own
 * words (its show function: the Wialon packet in hex or as text, the
 * MQTT topic and payload), acknowledging it at once.  The core's
 * mapping, bad-line policy and files work as in a real run.
 */
#ifndef DUMPOUT_H
#define DUMPOUT_H

#include <stddef.h>

#include "fwd.h"

/* A growing text buffer for show(). */
struct dumpbuf {
	char	       *p;
	size_t		len, cap;
};

/* Append n bytes.  Returns 0, or -1 when out of memory. */
int	dumpbuf_add(struct dumpbuf *, const void *, size_t n);

struct dumpconf {
	/*
	 * Append what m would be (after its mapping) to out, a newline at
	 * the end.  Returns 0, or -1 with why: the message is then
	 * rejected, as the peer would have refused it.
	 */
	int	      (*show)(void *arg, const struct fwd_msg *m,
			    struct dumpbuf *out, char *why, size_t whysz);
	void	       *arg;
};

/* The transport (fwd.h); open takes a struct dumpconf (copied). */
extern const struct fwd_transport dump_transport;

#endif
