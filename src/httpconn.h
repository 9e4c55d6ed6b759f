/*
 * The HTTP transport of the forwarder core: batches of message lines sent
 * in requests through libcurl's multi interface, driven from the core's
 * poll() loop (socket and timer callbacks, curl_multi_socket_action; curl
 * never waits on its own).  Connections are reused, HTTP/2 is used when a
 * TLS server offers it, TLS verification is always on.
 *
 * Messages are spread over `parallel` lanes by a hash of their device id;
 * a lane has at most one request in flight and sends its messages in the
 * order it took them, so each device's messages arrive in input order
 * (and all of them, with one lane).
 *
 * Outcomes, by what the status judges:
 *
 * - 2xx acknowledges every message of the request, even when the answer
 *   after a complete status line is cut short (said once per run).
 * - The content: 400, 413, 415, 422 and the extra codes of
 *   hconf.reject_status.  The batch is split (in halves; after a 413 into
 *   batches under a new, halved ceiling) until each refused message is
 *   alone; a message refused alone is reported REJECTED with the status
 *   and the start of the answer (raw: the core escapes it); the others
 *   are delivered, in order.  413 alone always rejects (its size is the
 *   problem).  Otherwise the refusals are bounded: before any 2xx the
 *   first message refused alone is parked until a 2xx (then rejected) or
 *   the end of what was flushed, and a second one means the endpoint
 *   refuses everything: fatal, EXIT_REFUSED.  After a 2xx, more than
 *   ALONE_RUN_MAX messages refused alone with no 2xx in between mean the
 *   same: the next one is retried with backoff, like a 5xx.
 * - The endpoint: 3xx (never followed), 401, 403, 404, 405, 407, 410 and
 *   every other 4xx but 408 and 429; a TLS alert refusing the handshake
 *   (our client certificate).  Before any 2xx: fatal, EXIT_REFUSED,
 *   nothing more is sent.  After one: retried with backoff, like a 5xx
 *   (a deploy, a token being rotated).  Nothing is ever rejected for it.
 * - Anything else: 408, 429 (Retry-After honoured up to
 *   RETRY_AFTER_MAX_MS), 5xx, connection errors and timeouts.  The same
 *   batch is retried with backoff and jitter.
 *
 * Retries count against --retries (-1: for ever), then the transport is
 * fatal with EXIT_TEMPFAIL.  An HTTP/2 stream reset that hides the answer
 * (Apache resets the stream after a 413, which libcurl 7.88 reports as
 * CURLE_HTTP2_STREAM) is retried at once, over HTTP/1.1, uncounted.
 * After a 413 batches stay under a ceiling, half the refused body; it
 * grows back by 1/16 with each accepted batch that it limited, up to 7/8
 * of the smallest body refused.
 */
#ifndef HTTPCONN_H
#define HTTPCONN_H

#include <stddef.h>
#include <stdint.h>

#include "fwd.h"

#define RETRY_AFTER_MAX_MS	120000
#define HTTP_PARALLEL_MAX	64
#define ALONE_RUN_MAX		16	/* messages refused alone in a row */
#define REJECT_STATUS_MAX	100	/* extra content statuses */

enum { HF_ARRAY, HF_NDJSON, HF_SINGLE };

/* Settings: the command's (copied by open). */
struct hconf {
	const char     *url;
	const char     *method;		/* "POST", "PUT"... */
	/*
	 * Header lines "Name: value", n of them (-H and --header-file), and
	 * for each whether it is a secret (from --header-file): --dump
	 * shows those values, and those of Authorization-like names, as ***.
	 */
	const char    **headers;
	const int      *hsecret;
	size_t		nheaders;
	const char     *cacert, *cert, *key;	/* or NULL */
	int		format;		/* HF_* */
	int		gzip;		/* Content-Encoding: gzip */
	size_t		batch;		/* most messages a request */
	size_t		batch_bytes;	/* most body bytes a request (but
					   always at least one message) */
	int64_t		linger_ms;	/* a partial batch waits this long */
	unsigned	parallel;	/* lanes, 1..HTTP_PARALLEL_MAX */
	const char     *useragent;
	/*
	 * Statuses that judge the content besides 400, 413, 415 and 422:
	 * 4xx codes other than 408 and 429 (hc_reject_ok), n of them.
	 */
	const int      *reject_status;
	size_t		nreject_status;
	/*
	 * A dry run: connect to nothing; each request that would be sent is
	 * printed on stdout (fwd_dump) -- its request line, its headers (a
	 * secret's value as ***) and its body, uncompressed -- and taken as
	 * acknowledged.
	 */
	int		dump;
};

/*
 * The transport (fwd.h): open takes a struct hconf, copied; the retries,
 * the first backoff and the timeouts come from the fwd_conf (--retries,
 * --retry-wait, --ack-timeout for a whole request, --connect-timeout).
 */
extern const struct fwd_transport hc_transport;

/*
 * The body of a request holding n lines (pure; for the transport and its
 * tests): a JSON array of them (HF_ARRAY), each followed by a newline
 * (HF_NDJSON), or the one line (HF_SINGLE, n == 1).  hc_bodylen says how
 * many bytes out needs.  Returns the length written.
 */
size_t	hc_bodylen(int format, struct fwd_msg *const *m, size_t n);
size_t	hc_body(int format, struct fwd_msg *const *m, size_t n, char *out);

/* How many messages the transport may hold at once: the core's ledger. */
size_t	hc_inflight(const struct hconf *);

/*
 * Whether status may be added to the content statuses: a 4xx other than
 * 408 and 429 (those are retried).
 */
int	hc_reject_ok(long status);

/* The lane of a device id among n (FNV-1a: stable across runs). */
unsigned hc_lane(const char *uid, unsigned n);

#endif
