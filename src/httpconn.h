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
 * Outcomes: 2xx acknowledges every message of the request.  408, 429
 * (Retry-After honoured up to RETRY_AFTER_MAX_MS), 5xx, connection
 * errors and timeouts retry the same batch with backoff and jitter,
 * --retries times (-1: for ever), then the transport is fatal with
 * EXIT_TEMPFAIL.  Any other 4xx refuses the content: the batch is split in
 * halves, retried, until each refused message is alone and reported
 * REJECTED with the status and the start of the answer; the others are
 * delivered, in order.  401 and 403 before any 2xx mean the credentials
 * are wrong: fatal with EXIT_REFUSED, nothing more is sent; after a 2xx
 * they are retried like a 5xx (a token being rotated).  A redirection
 * (3xx) is fatal with EXIT_REFUSED: the URL must name the endpoint.
 */
#ifndef HTTPCONN_H
#define HTTPCONN_H

#include <stddef.h>
#include <stdint.h>

#include "fwd.h"

#define RETRY_AFTER_MAX_MS	120000
#define HTTP_PARALLEL_MAX	64

enum { HF_ARRAY, HF_NDJSON, HF_SINGLE };

/* Settings: the command's (copied by open). */
struct hconf {
	const char     *url;
	const char     *method;		/* "POST", "PUT"... */
	/* Header lines "Name: value", n of them (-H and --header-file). */
	const char    **headers;
	size_t		nheaders;
	const char     *cacert, *cert, *key;	/* or NULL */
	int		format;		/* HF_* */
	int		gzip;		/* Content-Encoding: gzip */
	size_t		batch;		/* most messages a request */
	size_t		batch_bytes;	/* most body bytes a request (but
					   always at least one message) */
	int64_t		linger_ms;	/* a partial batch waits this long */
	unsigned	parallel;	/* lanes, 1..HTTP_PARALLEL_MAX */
	long long	retries;	/* -1: retry for ever */
	int64_t		retry_wait_ms;	/* first backoff */
	int64_t		timeout_ms;	/* a whole request, answer included */
	int64_t		connect_ms;
	const char     *useragent;
};

/*
 * The transport (fwd.h): open takes a struct hconf, copied; its retries,
 * retry_wait_ms, timeout_ms and connect_ms come from the fwd_conf.
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

/* The lane of a device id among n (FNV-1a: stable across runs). */
unsigned hc_lane(const char *uid, unsigned n);

#endif
