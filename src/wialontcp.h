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
 * packets and grows by WTCP_GROW packets per acknowledgement while the
 * window is what limits sending (at least half of it was in use when a
 * read's acknowledgements came) and acknowledgements keep pace (a
 * packet's round trip within twice the connection's shortest plus
 * WTCP_SLACK_MS, and at least WTCP_FLOOR_MS: the start's 1024 packets in
 * 3 ms are more than the mapping makes), so it quadruples every round
 * trip up to WTCP_CAP packets or WTCP_BYTES of their lines, whichever
 * comes first; every reconnect halves it (not below WTCP_START).
 * Duplicates after a reconnect are at most the window at that moment, so
 * at most WTCP_CAP.  TCP below does its own congestion control: this
 * window only has to cover the round trip, and a backlog drained over
 * 100 ms pays every round trip of its growth.  (The window starts large
 * for that reason; the old 64 took 6 round trips to reach 4096.)
 *
 * Memory: a packet is given back to the core once written whole
 * (fwd_unmap) and made again from its line for a resend, so the window
 * holds lines, and at most WTCP_PENDING packets wait to be written
 * (more input waits while the socket takes no more).  At 700-byte lines
 * the whole is about 15 MiB at most.
 */
#define WTCP_START	1024
#define WTCP_GROW	3
#define WTCP_CAP	16384
#define WTCP_BYTES	(8 * 1024 * 1024)
#define WTCP_PENDING	256
#define WTCP_SLACK_MS	2
#define WTCP_FLOOR_MS	3

/*
 * Connections in a row whose first byte back is not an ack (0x11) before
 * the peer is taken for something that is not a Retranslator server and
 * the transport is fatal (EXIT_REFUSED); an ack in between starts anew.
 */
#define WTCP_STRANGERS	3

/*
 * The transport (fwd.h): open takes a struct wconf, whose strings the
 * caller keeps for the run; retries, delays and timeouts come from the
 * fwd_conf.
 */
struct wconf {
	const char     *host, *port;
	const char     *target;		/* names the peer in diagnostics */
	size_t		window;		/* packets in flight; 0: adaptive */
};
extern const struct fwd_transport wtcp_transport;

#endif
