/*
 * One flespi REST request for a channel's message buffer:
 * GET BASE/gw/channels/SELECTOR/messages?data=URL-ENCODED-JSON, over one
 * reused libcurl handle (keep-alive).  The answer body lands in a buffer
 * owned by the handle, bounded in size; the outcome is classified the way a
 * consumer must act on it: use it, retry later, or give up.
 */
#ifndef FLESPIAPI_H
#define FLESPIAPI_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

enum {
	FA_OK,		/* 200: body, len hold the answer */
	FA_RETRY,	/* temporary: network, timeout, 429, 5xx, too large */
	FA_REFUSED,	/* 401, 403, 404, other 4xx, 3xx, an untrusted TLS
			   certificate: retrying will not help */
	FA_STOPPED	/* stop_requested ended the transfer (abortable only) */
};

struct flespiapi {
	CURL	       *curl;		/* reused for keep-alive */
	struct curl_slist *hdrs;	/* holds the token */
	/* ".../gw/channels/SEL/messages?data=" */
	char	       *urlbase;
	char	       *body;		/* the last answer, NUL-terminated */
	size_t		len;
	size_t		cap;
	size_t		max;		/* a longer answer is FA_RETRY */
	int		too_large;
	int		abortable;	/* FA_STOPPED when stop_requested, */
	int		watchfd;	/* or when this descriptor (stdout; -1:
					   none) says its reader is gone: */
	int		gone;		/* then this is set */
	long		status;		/* HTTP status of the last
					   answer, or 0 */
	long		retry_after;	/* its Retry-After, seconds, or 0 */
	long		connect_ms;
	long		extra_ms;	/* allowed on top of the
					   long-poll time */
	char		errbuf[CURL_ERROR_SIZE];	/* libcurl's detail */
	char		peer[300];	/* "HOST port N", for network errors */
	/*
	 * Called from libcurl's progress callback, at least once a second
	 * during a request (a long poll included), when not NULL: the
	 * engine's health_tick.
	 */
	void	      (*tick)(void *arg);
	void	       *tickarg;
};

struct fa_req {
	uint64_t	curr_key;
	unsigned	limit_count;
	size_t		limit_size;
	unsigned	timeout;	/* long-poll seconds */
	int		del;		/* delete what is before curr_key */
};

/*
 * The token is copied into the request headers and never printed; cid,
 * when not NULL, is sent as x-flespi-cid (act as that subaccount).
 * Returns 0, or -1.
 */
int	fa_init(struct flespiapi *, const char *baseurl, const char *selector,
	    const char *token, const char *app, const char *cid,
	    size_t maxbody);
void	fa_free(struct flespiapi *);
/* Trust the CA certificates in path instead of the system store; 0 or -1. */
int	fa_cafile(struct flespiapi *, const char *path);
/* One request; why gets a one-line reason for everything but FA_OK. */
int	fa_get(struct flespiapi *, const struct fa_req *, char *why,
	    size_t whylen);
/*
 * Would a request to url send the token in clear over a network?  Decided
 * on the URL as libcurl parses it (scheme and host, so that
 * http://localhost@10.0.0.1 or HTTP://10.0.0.1 are not mistaken for a
 * local URL): 1 for http to a host other than localhost, 127.0.0.0/8 or
 * ::1; 0 for https or loopback; -1 when url does not parse.
 */
int	fa_cleartext(const char *url);
/* Percent-encode s (keeping unreserved characters and ','); malloc'd. */
char   *fa_escape(const char *s);

#endif
