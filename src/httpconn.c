#define _GNU_SOURCE		/* memmem */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <zlib.h>

#include "backoff.h"
#include "diag.h"
#include "exits.h"
#include "fwd.h"
#include "httpconn.h"
#include "io.h"
#include "vis.h"

#define SPLIT_MAX	64	/* halvings of one batch: 2^64 messages */
#define ANSWER_MAX	200	/* bytes of a server's answer
				   kept for reasons */
#define BACKOFF_CAP_MS	30000
#define REASON_MAX	(ANSWER_MAX + 64)	/* "HTTP 400: "
						   and the answer */
#define EARLY_CLOSES	3	/* closed after our handshake, in a row */

/*
 * Batches a lane may hold (one in flight, the next filling): with several
 * lanes, more, so that a lane a little fuller than the others does not
 * stop the input for all of them (lanes fill unevenly); the core's ledger
 * (hc_inflight) bounds the total.
 */
#define LANE_BATCHES(cf)	((cf)->parallel > 1 ? 4 : 2)

struct held {
	struct fwd_msg *m;
	int64_t		at;		/* when the lane took it */
};

/*
 * One lane: the messages it took, oldest first, and the one request it may
 * have in flight (always the first `sending` of them).  split[] holds the
 * sizes of the sub-batches at the front of q still to be sent, the next
 * one on top: a retried batch (one entry), the halves of a refused one,
 * or a batch and the rest of a refused one re-split under the ceiling
 * (pump() splits the rest again when its turn comes).
 */
struct lane {
	struct httpconn *hc;
	CURL	       *easy;
	struct held    *q;
	size_t		len, cap;
	size_t		bytes;		/* sum of len + 1 over q */
	size_t		split[SPLIT_MAX];
	int		nsplit;
	size_t		sending;	/* messages in the request in flight */
	size_t		flush_n;	/* send this many now, full or not */
	int		h1;		/* the next request over HTTP/1.1 */
	int64_t		retry_at;	/* no request before this */
	int64_t		started;	/* the request in flight */
	unsigned	fails;		/* failed attempts in a row */
	struct backoff	bo;
	char	       *body;		/* the request's body */
	size_t		bodycap, bodylen;
	char	       *zbody;		/* ... compressed */
	size_t		zcap;
	char		ans[ANSWER_MAX];	/* start of the answer */
	size_t		anslen;
	char		err[CURL_ERROR_SIZE];
};

struct sock {
	curl_socket_t	fd;
	short		events;
};

struct httpconn {
	const struct hconf *cf;		/* &conf */
	struct hconf	conf;		/* the command's */
	/* The shared settings of fwd_conf that the transport uses. */
	long long	retries;	/* -1: retry for ever */
	int64_t		retry_wait_ms;	/* first backoff */
	int64_t		timeout_ms;	/* a whole request, answer included */
	int64_t		connect_ms;
	const char     *autoh[2];	/* headers we add (for --dump) */
	size_t		nauto;
	struct fwd     *fwd;
	CURLM	       *multi;
	struct curl_slist *hdrs;
	struct lane    *lanes;
	struct sock    *socks;
	size_t		nsocks, capsocks;
	int64_t		timer_at;	/* curl's timeout, -1: none */
	z_stream	z;
	int		zinit;
	int		any_ok;		/* a 2xx was seen */
	unsigned	alone_run;	/* messages refused alone since the
					   last 2xx */
	/*
	 * Before any 2xx, the first message refused alone waits here, out
	 * of its lane, for the verdict on the others: a 2xx rejects it, a
	 * second refusal makes the endpoint fatal (it goes to the failed
	 * file with the rest).  The core still owns it.
	 */
	struct fwd_msg *parked;
	char		parkwhy[REASON_MAX];
	int		flushed;	/* flush() with no send() since */
	size_t		ceiling;	/* after a 413: most body bytes a
					   batch, or 0 */
	size_t		toobig;		/* smallest body refused with 413 */
	int		said_cut;	/* a 2xx cut short was said */
	unsigned	early_closes;	/* in a row, before any 2xx */
	int		fatal;
	char		why[512];
	char		showurl[256];	/* the URL without its userinfo */
	uint64_t	requests, retried, splits, rejected;
	uint64_t	sentbytes;	/* request bodies, as sent */
};

size_t
hc_inflight(const struct hconf *cf)
{
	return 2 * cf->parallel * (cf->format == HF_SINGLE ? 1 : cf->batch);
}

unsigned
hc_lane(const char *uid, unsigned n)
{
	uint32_t h = 2166136261u;

	while (*uid)
		h = (h ^ (unsigned char)*uid++) * 16777619u;
	return h % n;
}

size_t
hc_bodylen(int format, struct fwd_msg *const *m, size_t n)
{
	size_t i, len = format == HF_ARRAY ? 2 : 0;

	for (i = 0; i < n; i++)
		len += m[i]->len + (format == HF_SINGLE ? 0 : 1);
	if (format == HF_ARRAY && n > 0)
		len--;			/* n - 1 commas */
	return len;
}

size_t
hc_body(int format, struct fwd_msg *const *m, size_t n, char *out)
{
	char *p = out;
	size_t i;

	if (format == HF_ARRAY)
		*p++ = '[';
	for (i = 0; i < n; i++) {
		if (format == HF_ARRAY && i > 0)
			*p++ = ',';
		memcpy(p, m[i]->line, m[i]->len);
		p += m[i]->len;
		if (format == HF_NDJSON)
			*p++ = '\n';
	}
	if (format == HF_ARRAY)
		*p++ = ']';
	return (size_t)(p - out);
}

static void
setfatal(struct httpconn *hc, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
setfatal(struct httpconn *hc, int code, const char *fmt, ...)
{
	va_list ap;

	if (hc->fatal)
		return;
	hc->fatal = code;
	va_start(ap, fmt);
	vsnprintf(hc->why, sizeof hc->why, fmt, ap);
	va_end(ap);
}

/* The most body bytes a batch may have now: the ceiling or --batch-bytes. */
static size_t
maxbytes(const struct httpconn *hc)
{
	return hc->ceiling > 0 && hc->ceiling < hc->cf->batch_bytes ?
	    hc->ceiling : hc->cf->batch_bytes;
}

/*
 * How many of the first max messages of q fit in a body of at most bytes
 * (an estimate that is never short of the real length): always one at
 * least, a message is never split.
 */
static size_t
fit(const struct lane *l, size_t max, size_t bytes)
{
	size_t n = 0, b = 2;

	while (n < max && (n == 0 || b + l->q[n].m->len + 1 <= bytes)) {
		b += l->q[n].m->len + 1;
		n++;
	}
	return n;
}

/*
 * The next batch from the front of q: how many messages, and whether it
 * is full (a limit stopped it, not the end of q).
 */
static size_t
nextbatch(const struct lane *l, int *full)
{
	const struct hconf *cf = l->hc->cf;
	size_t max = cf->format == HF_SINGLE ? 1 : cf->batch, n;

	n = fit(l, max < l->len ? max : l->len, maxbytes(l->hc));
	*full = n < l->len || n == max;
	return n;
}

/*
 * The batch on top of split[] was made before the ceiling came down (the
 * halves of a refused batch, a batch to retry, the rest of a re-split
 * one): send what fits first, the rest after it.  The stack grows by one
 * entry for each 413 that halved the ceiling at most, so SPLIT_MAX (with
 * halvings of --batch at most 17) is never reached.
 */
static void
resplit(struct lane *l)
{
	size_t top = l->split[l->nsplit - 1], k;

	if (top < 2 || l->hc->ceiling == 0 || l->nsplit == SPLIT_MAX)
		return;
	if ((k = fit(l, top, maxbytes(l->hc))) == top)
		return;
	l->split[l->nsplit - 1] = top - k;
	l->split[l->nsplit++] = k;
}

static int
grow(char **buf, size_t *cap, size_t need)
{
	char *p;

	if (need <= *cap)
		return 0;
	if ((p = realloc(*buf, need)) == NULL)
		return -1;
	*buf = p;
	*cap = need;
	return 0;
}

static int
compress_body(struct lane *l)
{
	z_stream *z = &l->hc->z;
	size_t bound = deflateBound(z, (uLong)l->bodylen) + 32;

	if (grow(&l->zbody, &l->zcap, bound) == -1 || deflateReset(z) != Z_OK)
		return -1;
	z->next_in = (Bytef *)l->body;
	z->avail_in = (uInt)l->bodylen;
	z->next_out = (Bytef *)l->zbody;
	z->avail_out = (uInt)l->zcap;
	if (deflate(z, Z_FINISH) != Z_STREAM_END)
		return -1;
	return 0;
}

/*
 * Is the value of header line h a secret?  One from --header-file is;
 * so is one whose name says it holds credentials.
 */
static int
secret(const struct hconf *cf, size_t i)
{
	static const char *const words[] = { "auth", "token", "key",
	    "secret", "password", "cookie", "session", "signature" };
	const char *h = cf->headers[i], *colon = strchr(h, ':');
	size_t k, j, n = colon ? (size_t)(colon - h) : strlen(h);

	if (cf->hsecret != NULL && cf->hsecret[i])
		return 1;
	for (k = 0; k < sizeof words / sizeof words[0]; k++)
		for (j = 0; j + strlen(words[k]) <= n; j++)
			if (strncasecmp(h + j, words[k], strlen(words[k])) == 0)
				return 1;
	return 0;
}

/*
 * --dump: the request the lane's body would make, as
 * text on stdout: the request line, the headers we send (secrets as
 * ***), a blank line, the body as it is before compression, a blank
 * line.  Returns 0, or -1 when stdout is gone or failed (the core ends
 * the run).
 */
static int
showreq(struct lane *l, size_t wire)
{
	const struct hconf *cf = l->hc->cf;
	const char *h, *colon;
	char *t = NULL, *nt;
	size_t cap = 0, len = 0, i, need;
	int r, k;

	for (k = 0; k < 2; k++) {
		/* Twice: once to size the text, once to write it. */
		len = 0;
#define ADD(...) do {							\
	int n_ = snprintf(t ? t + len : NULL, t ? cap - len : 0, __VA_ARGS__); \
	len += n_ > 0 ? (size_t)n_ : 0;					\
} while (0)
		ADD("%s %s HTTP/1.1\n", cf->method, l->hc->showurl);
		for (i = 0; i < cf->nheaders; i++) {
			h = cf->headers[i];
			colon = strchr(h, ':');
			if (colon != NULL && secret(cf, i))
				ADD("%.*s: ***\n", (int)(colon - h), h);
			else
				ADD("%s\n", h);
		}
		for (i = 0; i < l->hc->nauto; i++)
			ADD("%s\n", l->hc->autoh[i]);
		ADD("User-Agent: %s\n", cf->useragent);
		ADD("Content-Length: %zu\n", wire);
		ADD("\n");
#undef ADD
		need = len + l->bodylen + 2;
		if (t != NULL)
			break;
		if ((nt = malloc(need)) == NULL)
			return -1;
		t = nt;
		cap = need;
	}
	memcpy(t + len, l->body, l->bodylen);
	len += l->bodylen;
	if (len == 0 || t[len - 1] != '\n')
		t[len++] = '\n';
	t[len++] = '\n';
	r = fwd_dump(l->hc->fwd, t, len);
	free(t);
	return r;
}

static void	delivered(struct lane *, size_t);

/* Start the request for the first n messages of q. */
static void
start(struct lane *l, size_t n, int64_t now)
{
	struct httpconn *hc = l->hc;
	struct fwd_msg *tmp[64], **m = tmp;
	size_t i, len;
	const char *data;
	CURLMcode mc;

	if (n > 64 && (m = malloc(n * sizeof *m)) == NULL)
		goto nomem;
	for (i = 0; i < n; i++)
		m[i] = l->q[i].m;
	len = hc_bodylen(hc->cf->format, m, n);
	if (grow(&l->body, &l->bodycap, len + 1) == -1) {
		if (m != tmp)
			free(m);
		goto nomem;
	}
	l->bodylen = hc_body(hc->cf->format, m, n, l->body);
	if (m != tmp)
		free(m);
	data = l->body;
	len = l->bodylen;
	if (hc->cf->gzip) {
		if (compress_body(l) == -1) {
			setfatal(hc, EXIT_TEMPFAIL, "gzip: cannot compress "
			    "a request body");
			return;
		}
		data = l->zbody;
		len = hc->z.total_out;
	}
	if (!hc->cf->dump) {
		curl_easy_setopt(l->easy, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)len);
		curl_easy_setopt(l->easy, CURLOPT_HTTP_VERSION, l->h1 ?
		    (long)CURL_HTTP_VERSION_1_1 :
		    (long)CURL_HTTP_VERSION_2TLS);
		curl_easy_setopt(l->easy, CURLOPT_POSTFIELDS, data);
		l->anslen = 0;
		l->err[0] = '\0';
		if ((mc = curl_multi_add_handle(hc->multi, l->easy)) !=
		    CURLM_OK) {
			setfatal(hc, EXIT_TEMPFAIL, "curl: %s",
			    curl_multi_strerror(mc));
			return;
		}
		l->sending = n;
		l->started = now;
	}
	hc->sentbytes += len;
	if (l->flush_n > 0)
		l->flush_n = l->flush_n > n ? l->flush_n - n : 0;
	hc->requests++;
	if (hc->cf->dump) {
		/* Shown, or stdout gone: either way, done here. */
		(void)showreq(l, len);
		delivered(l, n);
	}
	return;
nomem:
	setfatal(hc, EXIT_TEMPFAIL, "out of memory for a request body");
}

/* Start the lane's next request if one is due. */
static void
pump(struct lane *l, int64_t now)
{
	const struct hconf *cf = l->hc->cf;
	size_t n;
	int full;

	if (l->hc->fatal || l->sending > 0 || l->len == 0 || now < l->retry_at)
		return;
	if (l->nsplit > 0) {
		resplit(l);
		start(l, l->split[l->nsplit - 1], now);
		return;
	}
	n = nextbatch(l, &full);
	if (full || l->flush_n > 0 || now - l->q[0].at >= cf->linger_ms)
		start(l, n, now);
}

/* When the lane next needs to run without a socket event, or -1. */
static int64_t
due(const struct lane *l)
{
	int full;

	if (l->hc->fatal || l->sending > 0 || l->len == 0)
		return -1;
	if (l->retry_at > 0 && l->nsplit > 0)
		return l->retry_at;
	(void)nextbatch(l, &full);
	if (full || l->flush_n > 0)
		return l->retry_at;
	return l->q[0].at + l->hc->cf->linger_ms > l->retry_at ?
	    l->q[0].at + l->hc->cf->linger_ms : l->retry_at;
}

/* Drop the first n messages of q (already reported, or abandoned). */
static void
shift(struct lane *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		l->bytes -= l->q[i].m->len + 1;
	memmove(l->q, l->q + n, (l->len - n) * sizeof *l->q);
	l->len -= n;
}

/* Keep the request's n messages as the next batch to send, if not yet. */
static void
hold(struct lane *l, size_t n)
{
	if (l->nsplit == 0) {
		l->split[0] = n;
		l->nsplit = 1;
	}
}

/* Report m refused by the server, why (raw: the core escapes it). */
static void
reject(struct httpconn *hc, struct fwd_msg *m, const char *why)
{
	hc->rejected++;
	fwd_done(hc->fwd, m, FWD_REJECTED, why);
}

/* The message refused alone, held back: rejected now, if there is one. */
static void
unpark(struct httpconn *hc)
{
	if (hc->parked != NULL) {
		reject(hc, hc->parked, hc->parkwhy);
		hc->parked = NULL;
	}
}

/*
 * An accepted body of len bytes: when the ceiling limited it (len at
 * least 3/4 of the ceiling), the ceiling grows by 1/16, up to 7/8 of the
 * smallest body refused with 413 (so that it does not go back to a size
 * known to be refused); at --batch-bytes it is gone.
 */
static void
raise_ceiling(struct httpconn *hc, size_t len)
{
	size_t c = hc->ceiling, cap = hc->toobig - hc->toobig / 8;

	if (c == 0 || len < c - c / 4 || c >= cap)
		return;
	c += c / 16 > 0 ? c / 16 : 1;
	hc->ceiling = c < cap ? c : cap;
	if (hc->ceiling >= hc->cf->batch_bytes)
		hc->ceiling = 0;
}

/* A 2xx for the request's n messages. */
static void
delivered(struct lane *l, size_t n)
{
	struct httpconn *hc = l->hc;
	size_t i;

	for (i = 0; i < n; i++)
		fwd_done(hc->fwd, l->q[i].m, FWD_ACKED, NULL);
	shift(l, n);
	if (l->nsplit > 0)
		l->nsplit--;
	l->fails = 0;
	backoff_reset(&l->bo);
	hc->any_ok = 1;
	hc->alone_run = 0;
	/* The server takes content: the one it refused alone was bad. */
	unpark(hc);
	raise_ceiling(hc, l->bodylen);
}

static void
retry(struct lane *l, size_t n, const char *reason, long ra_secs,
    int64_t now)
{
	struct httpconn *hc = l->hc;
	int64_t wait;

	hold(l, n);
	l->fails++;
	hc->retried++;
	if (hc->retries >= 0 && l->fails > hc->retries) {
		char who[600], msg[1200];

		snprintf(who, sizeof who, "%s %s", hc->cf->method,
		    hc->showurl);
		setfatal(hc, EXIT_TEMPFAIL, "%s", giveup_text(msg, sizeof msg,
		    who, hc->retries, reason));
		return;
	}
	wait = backoff_next(&l->bo);
	if (ra_secs > 0) {
		int64_t ra = ra_secs > RETRY_AFTER_MAX_MS / 1000 ?
		    RETRY_AFTER_MAX_MS : (int64_t)ra_secs * 1000;

		if (ra > wait)
			wait = ra;
	}
	l->retry_at = now + wait;
	xwarn("%s %s: %s; retry %u in %lld ms", hc->cf->method, hc->showurl,
	    reason, l->fails, (long long)wait);
}

/*
 * The endpoint refused the request's n messages (a status that judges
 * it, a TLS alert), shown says how: before any 2xx it refuses us, and
 * hint says what to check; after one it is retried (a deploy, a token
 * being rotated).  No message is ever rejected for it.
 */
static void
endpoint(struct lane *l, size_t n, const char *shown, const char *hint,
    int64_t now)
{
	struct httpconn *hc = l->hc;

	if (hc->any_ok) {
		retry(l, n, shown, 0, now);
		return;
	}
	hold(l, n);
	setfatal(hc, EXIT_REFUSED, "%s %s: %s: %s", hc->cf->method,
	    hc->showurl, shown, hint);
}

/*
 * The server refused the content of the request's n messages with code
 * (one of the content statuses): raw is the reason for the core, shown
 * the same made safe for a terminal.
 */
static void
refused(struct lane *l, size_t n, long code, const char *raw,
    const char *shown, int64_t now)
{
	struct httpconn *hc = l->hc;
	char why[REASON_MAX * 4 + 100];

	hold(l, n);
	if (code == 413 && (hc->toobig == 0 || l->bodylen < hc->toobig))
		hc->toobig = l->bodylen;
	if (n > 1) {
		l->fails = 0;
		backoff_reset(&l->bo);
		hc->splits++;
		if (code == 413) {
			/*
			 * Half the refused body at once: the batch (left on
			 * top) and every batch built before are re-split
			 * under it when their turn comes (resplit).  A body
			 * over the ceiling was built before it came down (in
			 * flight on another lane): it teaches nothing new.
			 */
			if (hc->ceiling == 0 || l->bodylen <= hc->ceiling) {
				hc->ceiling = l->bodylen / 2;
				vlog("HTTP 413 for %zu bytes: smaller batches "
				    "from now on, at most %zu bytes",
				    l->bodylen, hc->ceiling);
			}
			return;
		}
		l->nsplit--;
		l->split[l->nsplit++] = n - n / 2;
		l->split[l->nsplit++] = n / 2;
		vlog("%s: split %zu messages to find the refused ones",
		    shown, n);
		return;
	}
	if (code != 413 && !hc->any_ok) {
		/*
		 * Nothing accepted yet: one message refused alone may be bad,
		 * a second one says the server refuses us (a proxy wanting a
		 * client certificate answers 400 to everything).
		 */
		if (hc->parked != NULL) {
			setfatal(hc, EXIT_REFUSED, "%s %s: %s; two messages "
			    "refused alone and nothing accepted yet: the "
			    "endpoint refuses us, not the content (check the "
			    "URL and the credentials)", hc->cf->method,
			    hc->showurl, shown);
			return;
		}
		hc->parked = l->q[0].m;
		snprintf(hc->parkwhy, sizeof hc->parkwhy, "%s", raw);
		l->nsplit--;
		shift(l, 1);
		vlog("%s: one message refused alone; rejected once the server "
		    "accepts another", shown);
		return;
	}
	if (code != 413 && ++hc->alone_run > ALONE_RUN_MAX) {
		snprintf(why, sizeof why, "%s (more than %d messages refused "
		    "alone in a row: the server seems to refuse everything)",
		    shown, ALONE_RUN_MAX);
		retry(l, 1, why, 0, now);
		return;
	}
	l->nsplit--;
	l->fails = 0;
	backoff_reset(&l->bo);
	reject(hc, l->q[0].m, raw);
	shift(l, 1);
	/* A verdict on content: so was the refusal of the parked one. */
	unpark(hc);
}

/*
 * Before any 2xx, the message refused alone is rejected once everything
 * else flushed has ended without a verdict on the server (the input was
 * that message, say): a 400 for the only message sent is about it.
 */
static void
settle(struct httpconn *hc)
{
	unsigned i;

	if (hc->parked == NULL || !hc->flushed || hc->fatal)
		return;
	for (i = 0; i < hc->cf->parallel; i++)
		if (hc->lanes[i].len > 0)
			return;
	unpark(hc);
}

/*
 * The start of the server's answer, raw: its first line, or the title of
 * an HTML page (proxies answer with those).  Sets *len.
 */
static const char *
answer(const struct lane *l, size_t *len)
{
	const char *p = l->ans, *t, *e;
	size_t n = l->anslen;

	if (n > 0 && *p == '<' &&
	    (t = memmem(p, n, "<title>", 7)) != NULL &&
	    (e = memmem(t, n - (size_t)(t - p), "</title>", 8)) != NULL) {
		p = t + 7;
		n = (size_t)(e - p);
	}
	for (t = p; t < p + n && *t != '\r' && *t != '\n'; t++)
		;
	*len = (size_t)(t - p);
	return p;
}

/*
 * The reason phrase of a status code a server is likely to send, for -v
 * ("200 OK"); "" for others.  HTTP/2 carries no phrase of its own.
 */
static const char *
phrase(long code)
{
	static const struct {
		long		code;
		const char     *text;
	} t[] = {
		{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
		{ 204, "No Content" }, { 301, "Moved Permanently" },
		{ 302, "Found" }, { 307, "Temporary Redirect" },
		{ 308, "Permanent Redirect" }, { 400, "Bad Request" },
		{ 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 408, "Request Timeout" }, { 410, "Gone" },
		{ 413, "Content Too Large" },
		{ 415, "Unsupported Media Type" },
		{ 422, "Unprocessable Content" }, { 429, "Too Many Requests" },
		{ 500, "Internal Server Error" }, { 502, "Bad Gateway" },
		{ 503, "Service Unavailable" }, { 504, "Gateway Timeout" }
	};
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		if (t[i].code == code)
			return t[i].text;
	return "";
}

int
hc_reject_ok(long status)
{
	return status >= 400 && status < 500 && status != 408 &&
	    status != 429;
}

/* Does status judge the content (400, 413, 415, 422, --reject-status)? */
static int
iscontent(const struct hconf *cf, long status)
{
	size_t i;

	if (status == 400 || status == 413 || status == 415 || status == 422)
		return 1;
	for (i = 0; i < cf->nreject_status; i++)
		if (cf->reject_status[i] == status)
			return 1;
	return 0;
}

/*
 * The TLS alert in libcurl's error text when the server refused the
 * handshake over our certificate (OpenSSL's words: "tlsv13 alert
 * certificate required", "tlsv1 alert unknown ca"...), or NULL.  TLS 1.3
 * sends it after the client's side of the handshake is done, so libcurl
 * sees it on its first read or write, as a receive or send error.
 */
static const char *
tls_refusal(const char *err)
{
	static const char *const alerts[] = {
		"alert certificate required", "alert unknown ca",
		"alert bad certificate", "alert certificate unknown",
		"alert certificate expired", "alert certificate revoked",
		"alert unsupported certificate", "alert access denied",
		"alert handshake failure"
	};
	size_t i;

	for (i = 0; i < sizeof alerts / sizeof alerts[0]; i++)
		if (strstr(err, alerts[i]) != NULL)
			return alerts[i] + 6;
	return NULL;
}

/* The hint for a TLS handshake refused, by alert (or NULL: closed). */
static void
tls_hint(const struct httpconn *hc, const char *alert, char *buf, size_t sz)
{
	if (alert == NULL)
		snprintf(buf, sz, "the server closed the connection right "
		    "after the TLS handshake, %d times in a row: %s",
		    EARLY_CLOSES, hc->cf->cert == NULL ? "it likely wants a "
		    "client certificate (--cert and --key)" : "it likely "
		    "refuses the client certificate (--cert)");
	else
		snprintf(buf, sz, "the server refused the TLS handshake (%s): "
		    "%s", alert, hc->cf->cert == NULL ? "it wants a client "
		    "certificate (--cert and --key)" : "the client certificate "
		    "(--cert) is not one it accepts (its CA, its subject, its "
		    "dates)");
}

/*
 * The request of n messages ended without a status line: err is why
 * (libcurl's words, safe for a terminal), h1 whether it went over
 * HTTP/1.1 after an HTTP/2 stream reset.
 */
static void
failed(struct lane *l, size_t n, CURLcode res, const char *err, int h1,
    int64_t now)
{
	struct httpconn *hc = l->hc;
	curl_off_t hs = 0, up = -1;
	char hint[300];
	const char *alert;

	vlog("%s %s: %s, %zu message%s, %lld ms", hc->cf->method,
	    hc->showurl, err, n, plural(n), (long long)(now - l->started));
	switch (res) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		hold(l, n);
		setfatal(hc, EXIT_REFUSED, "%s %s: %s", hc->cf->method,
		    hc->showurl, err);
		return;
	case CURLE_HTTP2_STREAM:
		/*
		 * A server may answer before it has read the whole body and
		 * then reset the stream with NO_ERROR (RFC 9113 8.1; Apache
		 * does so with its 413); libcurl 7.88 then drops the answer.
		 * Over HTTP/1.1 the answer is seen: send it again that way,
		 * at once, once.
		 */
		if (!h1) {
			hold(l, n);
			l->h1 = 1;
			hc->retried++;
			vlog("%s %s: %s: sending the %zu message%s again over "
			    "HTTP/1.1 to see the answer", hc->cf->method,
			    hc->showurl, err, n, plural(n));
			return;
		}
		break;
	default:
		break;
	}
	if ((alert = tls_refusal(l->err)) != NULL) {
		tls_hint(hc, alert, hint, sizeof hint);
		endpoint(l, n, err, hint, now);
		return;
	}
	/*
	 * TLS 1.3: the server's alert may be lost to the reset that follows
	 * it, and libcurl 7.88 then says "getpeername() failed".  Before
	 * any 2xx, a connection closed right after our handshake (one of
	 * ours, not one reused), before a byte of the body went and without
	 * an answer, is sent again at once to see the alert; after
	 * EARLY_CLOSES of them in a row the server refuses us.  (A server
	 * that closes after reading part of a body, as after a 413 without
	 * lingering, has had bytes of it.)
	 */
	curl_easy_getinfo(l->easy, CURLINFO_APPCONNECT_TIME_T, &hs);
	curl_easy_getinfo(l->easy, CURLINFO_SIZE_UPLOAD_T, &up);
	if (!hc->any_ok && hs > 0 && up == 0 &&
	    (res == CURLE_SEND_ERROR || res == CURLE_RECV_ERROR)) {
		if (++hc->early_closes < EARLY_CLOSES) {
			hold(l, n);
			hc->retried++;
			vlog("%s %s: %s, right after the TLS handshake: "
			    "sending it again", hc->cf->method, hc->showurl,
			    err);
			return;
		}
		tls_hint(hc, NULL, hint, sizeof hint);
		endpoint(l, n, err, hint, now);
		return;
	}
	hc->early_closes = 0;
	retry(l, n, err, 0, now);
}

static void
finished(struct httpconn *hc, CURL *easy, CURLcode res, int64_t now)
{
	struct lane *l;
	char raw[REASON_MAX], shown[REASON_MAX * 4], err[CURL_ERROR_SIZE * 4];
	char where[ANSWER_MAX * 4 + 64], ans[ANSWER_MAX * 4];
	const char *a;
	long code = 0, ver = 0;
	curl_off_t ra = 0;
	char *loc = NULL;
	size_t n, alen;
	int h1;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&l);
	curl_multi_remove_handle(hc->multi, easy);
	n = l->sending;
	l->sending = 0;
	h1 = l->h1;
	l->h1 = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	err[0] = '\0';
	if (res != CURLE_OK) {
		a = l->err[0] ? l->err : curl_easy_strerror(res);
		vis(err, sizeof err, a, strlen(a));
		/* No complete status line: the server said nothing yet. */
		if (code < 200) {
			failed(l, n, res, err, h1, now);
			return;
		}
		/* Else the status stands, whatever became of the rest. */
	}
	hc->early_closes = 0;
	a = answer(l, &alen);
	snprintf(raw, sizeof raw, "HTTP %ld%s%.*s", code, alen ? ": " : "",
	    (int)alen, a);
	vis(shown, sizeof shown, raw, strlen(raw));
	curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &ver);
	vlog("%s %s: %ld%s%s, %zu message%s, %zu byte%s, %lld ms (HTTP/%s)%s%s",
	    hc->cf->method, hc->showurl, code, phrase(code)[0] ? " " : "",
	    phrase(code), n, plural(n), l->bodylen, plural(l->bodylen),
	    (long long)(now - l->started),
	    ver == CURL_HTTP_VERSION_2_0 ? "2" : ver == CURL_HTTP_VERSION_3 ?
	    "3" : "1.1", err[0] ? ", then " : "", err);
	if (code >= 200 && code < 300) {
		if (err[0] && !hc->said_cut) {
			hc->said_cut = 1;
			xwarn("%s %s: HTTP %ld, then the answer was cut short "
			    "(%s): a complete 2xx status line accepts the "
			    "batch (said once)", hc->cf->method, hc->showurl,
			    code, err);
		}
		delivered(l, n);
	} else if (iscontent(hc->cf, code)) {
		refused(l, n, code, raw, shown, now);
	} else if (code >= 300 && code < 400) {
		curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &loc);
		vis(ans, sizeof ans, loc ? loc : "?", loc ? strlen(loc) : 1);
		snprintf(where, sizeof where, "HTTP %ld redirects to %s", code,
		    ans);
		endpoint(l, n, where, "give the final URL", now);
	} else if (code == 401 || code == 403 || code == 407) {
		endpoint(l, n, shown, "the credentials are refused", now);
	} else if (hc_reject_ok(code)) {
		endpoint(l, n, shown, "nothing has been accepted yet: check "
		    "the URL and the method", now);
	} else {
		if (code == 429 || code == 503)
			curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &ra);
		retry(l, n, shown, (long)ra, now);
	}
}

static void
collect(struct httpconn *hc, int64_t now)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(hc->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE)
			finished(hc, msg->easy_handle, msg->data.result, now);
}

static void
timers(struct httpconn *hc, int64_t now)
{
	int running;

	if (hc->timer_at >= 0 && now >= hc->timer_at) {
		hc->timer_at = -1;
		curl_multi_socket_action(hc->multi, CURL_SOCKET_TIMEOUT, 0,
		    &running);
		collect(hc, now);
	}
}

static int
sockcb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct httpconn *hc = arg;
	struct sock *s;
	size_t i;

	(void)easy;
	(void)sockp;
	for (i = 0; i < hc->nsocks && hc->socks[i].fd != fd; i++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (i < hc->nsocks)
			hc->socks[i] = hc->socks[--hc->nsocks];
		return 0;
	}
	if (i == hc->nsocks) {
		if (hc->nsocks == hc->capsocks) {
			size_t cap = hc->capsocks ? hc->capsocks * 2 : 8;

			if ((s = realloc(hc->socks, cap * sizeof *s)) == NULL)
				return -1;
			hc->socks = s;
			hc->capsocks = cap;
		}
		hc->socks[hc->nsocks++].fd = fd;
	}
	s = &hc->socks[i];
	s->events = 0;
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		s->events |= POLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		s->events |= POLLOUT;
	return 0;
}

static int
timercb(CURLM *multi, long ms, void *arg)
{
	struct httpconn *hc = arg;

	(void)multi;
	hc->timer_at = ms < 0 ? -1 : mono_ms() + ms;
	return 0;
}

static size_t
answercb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct lane *l = arg;
	size_t n = size * nmemb, room = sizeof l->ans - l->anslen;

	memcpy(l->ans + l->anslen, p, n < room ? n : room);
	l->anslen += n < room ? n : room;
	return n;
}

/* ---- the ops ---- */

static int
op_ready(void *t, const struct fwd_msg *m, int64_t now, int64_t *wait_ms)
{
	struct httpconn *hc = t;
	struct lane *l = &hc->lanes[hc_lane(m->uid, hc->cf->parallel)];

	*wait_ms = -1;
	if (hc->fatal)
		return 0;
	pump(l, now);
	if (l->len == 0)
		return 1;
	return l->len < l->cap &&
	    l->bytes + m->len + 1 <= LANE_BATCHES(hc->cf) *
	    hc->cf->batch_bytes + 2;
}

static void
op_send(void *t, struct fwd_msg *m, int64_t now)
{
	struct httpconn *hc = t;
	struct lane *l = &hc->lanes[hc_lane(m->uid, hc->cf->parallel)];

	l->q[l->len].m = m;
	l->q[l->len].at = now;
	l->len++;
	l->bytes += m->len + 1;
	hc->flushed = 0;
	pump(l, now);
}

static void
op_flush(void *t, int64_t now)
{
	struct httpconn *hc = t;
	unsigned i;

	hc->flushed = 1;
	for (i = 0; i < hc->cf->parallel; i++) {
		hc->lanes[i].flush_n = hc->lanes[i].len;
		pump(&hc->lanes[i], now);
	}
}

static int
op_prepare(void *t, int64_t now, struct pollfd *pfd, int max,
    int *timeout_ms)
{
	struct httpconn *hc = t;
	int64_t d, w;
	unsigned i;
	int n = 0;
	size_t k;

	/*
	 * Requests start here; they complete in handle, where curl's timer
	 * runs and its answers are collected.
	 */
	settle(hc);
	for (i = 0; i < hc->cf->parallel; i++)
		pump(&hc->lanes[i], now);
	for (k = 0; k < hc->nsocks && n < max; k++) {
		pfd[n].fd = hc->socks[k].fd;
		pfd[n].events = hc->socks[k].events;
		pfd[n].revents = 0;
		n++;
	}
	w = hc->timer_at;
	for (i = 0; i < hc->cf->parallel; i++)
		if ((d = due(&hc->lanes[i])) >= 0 && (w < 0 || d < w))
			w = d;
	if (w >= 0) {
		w = w > now ? w - now : 0;
		if (*timeout_ms < 0 || w < *timeout_ms)
			*timeout_ms = (int)w;
	}
	return n;
}

static void
op_handle(void *t, struct pollfd *pfd, int n, int64_t now)
{
	struct httpconn *hc = t;
	int i, running, ev;
	unsigned k;

	for (i = 0; i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		ev = 0;
		if (pfd[i].revents & (POLLIN | POLLHUP))
			ev |= CURL_CSELECT_IN;
		if (pfd[i].revents & POLLOUT)
			ev |= CURL_CSELECT_OUT;
		if (pfd[i].revents & (POLLERR | POLLNVAL))
			ev |= CURL_CSELECT_ERR;
		curl_multi_socket_action(hc->multi, pfd[i].fd, ev, &running);
	}
	collect(hc, now);
	timers(hc, now);
	for (k = 0; k < hc->cf->parallel; k++)
		pump(&hc->lanes[k], now);
}

static int
op_idle(void *t)
{
	struct httpconn *hc = t;
	unsigned i;

	if (hc->parked != NULL)
		return 0;
	for (i = 0; i < hc->cf->parallel; i++)
		if (hc->lanes[i].len > 0)
			return 0;
	return 1;
}

static int
op_fatal(void *t, char *why, size_t whysz)
{
	struct httpconn *hc = t;

	if (hc->fatal)
		snprintf(why, whysz, "%s", hc->why);
	return hc->fatal;
}

static void
op_abandon(void *t)
{
	struct httpconn *hc = t;
	struct lane *l;
	unsigned i;

	for (i = 0; i < hc->cf->parallel; i++) {
		l = &hc->lanes[i];
		if (l->sending > 0)
			curl_multi_remove_handle(hc->multi, l->easy);
		l->sending = 0;
		l->nsplit = 0;
		l->len = 0;
		l->bytes = 0;
	}
	hc->parked = NULL;
}

static void
op_close(void *t)
{
	(void)t;
}

static void
op_stats(void *t, char *buf, size_t sz)
{
	struct httpconn *hc = t;

	snprintf(buf, sz, "%llu request%s, %llu retried, %llu split",
	    (unsigned long long)hc->requests, plural(hc->requests),
	    (unsigned long long)hc->retried,
	    (unsigned long long)hc->splits);
}

static void
op_figures(void *t, struct fwd_figures *g)
{
	struct httpconn *hc = t;
	int64_t out = 0;
	unsigned i;

	for (i = 0; i < hc->cf->parallel; i++)
		out += (int64_t)hc->lanes[i].sending;
	g->sent_bytes = (int64_t)hc->sentbytes;
	g->retries = (int64_t)hc->retried;
	g->unacked = out;
	g->window = (int64_t)hc->cf->parallel * (hc->cf->format == HF_SINGLE ?
	    1 : (int64_t)hc->cf->batch);
	g->reached = hc->any_ok;
}

static const struct fwd_ops hc_ops = {
	.ready = op_ready,
	.send = op_send,
	.flush = op_flush,
	.prepare = op_prepare,
	.handle = op_handle,
	.idle = op_idle,
	.fatal = op_fatal,
	.abandon = op_abandon,
	.close = op_close,
	.stats = op_stats,
	.figures = op_figures,
};

/* ---- set up ---- */

static void	hc_free(void *);

static int
hasheader(const struct hconf *cf, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < cf->nheaders; i++)
		if (strncasecmp(cf->headers[i], name, n) == 0 &&
		    cf->headers[i][n] == ':')
			return 1;
	return 0;
}

static int
addheader(struct httpconn *hc, const char *h)
{
	struct curl_slist *s;

	if ((s = curl_slist_append(hc->hdrs, h)) == NULL)
		return -1;
	hc->hdrs = s;
	return 0;
}

/* The URL for diagnostics: userinfo (a password) replaced by "***". */
static void
showurl(char *dst, size_t sz, const char *url)
{
	const char *p = strstr(url, "://"), *at, *end;
	char tmp[1024];

	if (p != NULL) {
		p += 3;
		end = p + strcspn(p, "/?#");
		at = memchr(p, '@', (size_t)(end - p));
		if (at != NULL) {
			snprintf(tmp, sizeof tmp, "%.*s***%s",
			    (int)(p - url), url, at);
			url = tmp;
		}
	}
	vis(dst, sz, url, strlen(url));
}

static int
setup_lane(struct httpconn *hc, struct lane *l, char *why, size_t whysz)
{
	const struct hconf *cf = hc->cf;
	CURL *e;

	l->hc = hc;
	l->cap = LANE_BATCHES(cf) * (cf->format == HF_SINGLE ? 1 : cf->batch);
	if (l->cap < 2)
		l->cap = 2;
	if ((l->q = calloc(l->cap, sizeof *l->q)) == NULL ||
	    (e = l->easy = curl_easy_init()) == NULL) {
		snprintf(why, whysz, "out of memory");
		return -1;
	}
	backoff_init(&l->bo, (unsigned)hc->retry_wait_ms, BACKOFF_CAP_MS, 0);
	curl_easy_setopt(e, CURLOPT_URL, cf->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, l);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	if (strcmp(cf->method, "POST") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, cf->method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hc->hdrs);
	/*
	 * Over TLS, lanes wait for a connection being set up rather than
	 * open their own: over HTTP/2 they then share one.  Cleartext is
	 * always HTTP/1.1 (start() asks for CURL_HTTP_VERSION_2TLS at
	 * most): no waiting.
	 */
	if (strncasecmp(cf->url, "https:", 6) == 0)
		curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (cf->cacert)
		curl_easy_setopt(e, CURLOPT_CAINFO, cf->cacert);
	if (cf->cert)
		curl_easy_setopt(e, CURLOPT_SSLCERT, cf->cert);
	if (cf->key)
		curl_easy_setopt(e, CURLOPT_SSLKEY, cf->key);
	curl_easy_setopt(e, CURLOPT_USERAGENT, cf->useragent);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)hc->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)hc->connect_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, answercb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, l);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, l->err);
	/*
	 * The proxy, as curl takes it from the environment: http_proxy,
	 * https_proxy, all_proxy and no_proxy (flespi-pipe(7)).
	 */
	return 0;
}

static void *
hc_open(struct fwd *fwd, const struct fwd_conf *fc, const void *conf,
    char *why, size_t whysz)
{
	const struct hconf *cf;
	struct httpconn *hc;
	size_t i;
	unsigned k;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		snprintf(why, whysz, "curl_global_init failed");
		return NULL;
	}
	if ((hc = calloc(1, sizeof *hc)) == NULL) {
		curl_global_cleanup();
		snprintf(why, whysz, "out of memory");
		return NULL;
	}
	hc->conf = *(const struct hconf *)conf;
	hc->retries = fc->retries;
	hc->retry_wait_ms = fc->retry_wait_ms;
	hc->timeout_ms = fc->ack_ms;
	hc->connect_ms = fc->connect_ms;
	hc->cf = cf = &hc->conf;
	hc->fwd = fwd;
	hc->timer_at = -1;
	showurl(hc->showurl, sizeof hc->showurl, cf->url);
	for (i = 0; i < cf->nheaders; i++)
		if (addheader(hc, cf->headers[i]) == -1)
			goto nomem;
	if (!hasheader(cf, "Content-Type") && addheader(hc,
	    hc->autoh[hc->nauto++] = cf->format == HF_NDJSON ?
	    "Content-Type: application/x-ndjson" :
	    "Content-Type: application/json") == -1)
		goto nomem;
	if (cf->gzip && addheader(hc, hc->autoh[hc->nauto++] =
	    "Content-Encoding: gzip") == -1)
		goto nomem;
	/* No 100-continue round trip before each body. */
	if (!hasheader(cf, "Expect") && addheader(hc, "Expect:") == -1)
		goto nomem;
	if (cf->gzip) {
		if (deflateInit2(&hc->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
		    15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			goto nomem;
		hc->zinit = 1;
	}
	if ((hc->multi = curl_multi_init()) == NULL ||
	    (hc->lanes = calloc(cf->parallel, sizeof *hc->lanes)) == NULL)
		goto nomem;
	curl_multi_setopt(hc->multi, CURLMOPT_SOCKETFUNCTION, sockcb);
	curl_multi_setopt(hc->multi, CURLMOPT_SOCKETDATA, hc);
	curl_multi_setopt(hc->multi, CURLMOPT_TIMERFUNCTION, timercb);
	curl_multi_setopt(hc->multi, CURLMOPT_TIMERDATA, hc);
	for (k = 0; k < cf->parallel; k++)
		if (setup_lane(hc, &hc->lanes[k], why, whysz) == -1) {
			hc_free(hc);
			return NULL;
		}
	return hc;
nomem:
	snprintf(why, whysz, "out of memory");
	hc_free(hc);
	return NULL;
}

static void
hc_free(void *t)
{
	struct httpconn *hc = t;
	struct lane *l;
	unsigned k;

	if (hc == NULL)
		return;
	for (k = 0; hc->lanes != NULL && k < hc->cf->parallel; k++) {
		l = &hc->lanes[k];
		if (l->easy != NULL) {
			if (l->sending > 0)
				curl_multi_remove_handle(hc->multi, l->easy);
			curl_easy_cleanup(l->easy);
		}
		free(l->q);
		free(l->body);
		free(l->zbody);
	}
	free(hc->lanes);
	if (hc->multi != NULL)
		curl_multi_cleanup(hc->multi);
	curl_slist_free_all(hc->hdrs);
	if (hc->zinit)
		deflateEnd(&hc->z);
	free(hc->socks);
	free(hc);
	curl_global_cleanup();
}

const struct fwd_transport hc_transport = { hc_open, hc_free, &hc_ops };
