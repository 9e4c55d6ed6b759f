/*
 * The Wialon Retranslator 1.0 transport: one TCP connection to one peer,
 * a window of packets written and not yet acknowledged, each acknowledged
 * by one byte 0x11 in order; after a reconnect (with backoff) everything
 * unacknowledged is written again.  The packets themselves are the
 * mapping's (fwd_msg.tp, from wialon_encode): this module only frames
 * nothing and counts acks.  It implements the fwd_ops of fwd.h.
 */
#ifndef WIALONTCP_H
#define WIALONTCP_H

#include "fwd.h"

struct wtcp;

/* Packets per writev(), and the most encoded before a write. */
#define WTCP_IOV	64

/*
 * The adaptive window (window 0 to wtcp_new): it starts at WTCP_START
 * packets and grows by one packet per acknowledgement while the window
 * is what limits sending (at least half of it was in use when a read's
 * acknowledgements came) and acknowledgements keep pace (a packet's
 * round trip within twice the connection's shortest plus WTCP_SLACK_MS,
 * and at least WTCP_FLOOR_MS: 64 packets a millisecond are more than the
 * mapping makes), so it doubles every round trip up to WTCP_CAP; every
 * reconnect halves it (not below WTCP_START).  Duplicates after a
 * reconnect are at most the window at that moment, so at most WTCP_CAP.
 */
#define WTCP_START	64
#define WTCP_CAP	4096
#define WTCP_SLACK_MS	10
#define WTCP_FLOOR_MS	2

/*
 * Connections in a row whose first byte back is not an ack (0x11) before
 * the peer is taken for something that is not a Retranslator server and
 * the transport is fatal (EXIT_REFUSED); an ack in between starts anew.
 */
#define WTCP_STRANGERS	3

/*
 * A transport to host:port (target names it in diagnostics) with window
 * packets in flight (0: the adaptive window); retries, delays and
 * timeouts from cf.  Returns NULL when out of memory.
 */
struct wtcp *wtcp_new(struct fwd *, const struct fwd_conf *cf,
	    const char *host, const char *port, const char *target,
	    size_t window);
void	wtcp_free(struct wtcp *);
/* The window now, and the largest it has been. */
size_t	wtcp_window(const struct wtcp *, size_t *largest);

/* The transport's operations (release and flush: none). */
extern const struct fwd_ops wtcp_ops;

#endif
