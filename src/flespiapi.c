#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "flespiapi.h"
#include "hostport.h"
#include "stop.h"
#include "vis.h"

static size_t
onbody(char *data, size_t sz, size_t nmemb, void *arg)
{
	struct flespiapi *fa = arg;
	size_t n = sz * nmemb, ncap;
	char *p;

	if (fa->len + n + 1 > fa->max) {
		fa->too_large = 1;
		return 0;	/* CURLE_WRITE_ERROR ends the transfer */
	}
	if (fa->len + n + 1 > fa->cap) {
		ncap = fa->cap ? fa->cap : 65536;
		while (ncap < fa->len + n + 1)
			ncap *= 2;
		if (ncap > fa->max)
			ncap = fa->max;
		if ((p = realloc(fa->body, ncap)) == NULL)
			return 0;
		fa->body = p;
		fa->cap = ncap;
	}
	memcpy(fa->body + fa->len, data, n);
	fa->len += n;
	fa->body[fa->len] = '\0';
	return n;
}

/* A non-zero return aborts the transfer: how SIGTERM ends a long poll. */
static int
onprogress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct flespiapi *fa = arg;
	struct pollfd p;

	(void)dltotal; (void)dlnow; (void)ultotal; (void)ulnow;
	if (fa->tick != NULL)
		fa->tick(fa->tickarg);
	if (!fa->abortable)
		return 0;
	/*
	 * A pipe whose reader has gone says POLLERR on our end: a long
	 * poll need not wait its 25 s to find out at the next write.
	 */
	p.fd = fa->watchfd;
	p.events = 0;
	if (fa->watchfd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLERR))
		fa->gone = 1;
	return stop_requested || fa->gone;
}

/* Is host (as curl_url gives it: IPv6 in brackets) this machine? */
static int
loopback(const char *host)
{
	char h[64];
	size_t n = strlen(host);

	if (n < 3 || host[0] != '[' || host[n - 1] != ']')
		return host_loopback(host);
	if (n - 2 >= sizeof h)
		return 0;
	memcpy(h, host + 1, n - 2);
	h[n - 2] = '\0';
	return host_loopback(h);
}

int
fa_cleartext(const char *url)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	int r = -1;

	if ((u = curl_url()) == NULL)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		r = strcasecmp(scheme, "https") != 0 && !loopback(host);
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

char *
fa_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), i;
	char *out, *o;
	unsigned char c;

	if ((out = malloc(3 * n + 1)) == NULL)
		return NULL;
	for (o = out, i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || c == ',')
			*o++ = (char)c;
		else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* "HOST port N" of url, for errors that do not name them; "" if none. */
static void
peerof(const char *url, char *buf, size_t size)
{
	CURLU *u;
	char *host = NULL, *port = NULL;

	buf[0] = '\0';
	if ((u = curl_url()) == NULL)
		return;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
	    CURLUE_OK)
		snprintf(buf, size, "%s port %s", host, port);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}

int
fa_init(struct flespiapi *fa, const char *baseurl, const char *selector,
    const char *token, const char *app, const char *cid, size_t maxbody)
{
	static int global;
	struct curl_slist *h;
	char *sel, *hdr;
	size_t blen, n;

	memset(fa, 0, sizeof *fa);
	fa->watchfd = -1;
	fa->max = maxbody;
	fa->connect_ms = 10000;
	fa->extra_ms = 10000;
	if (!global && curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return -1;
	global = 1;
	if ((fa->curl = curl_easy_init()) == NULL)
		return -1;
	if ((sel = fa_escape(selector)) == NULL)
		return -1;
	blen = strlen(baseurl);
	while (blen > 0 && baseurl[blen - 1] == '/')
		blen--;
	n = blen + strlen(sel) + 64;
	if ((fa->urlbase = malloc(n)) == NULL) {
		free(sel);
		return -1;
	}
	snprintf(fa->urlbase, n, "%.*s/gw/channels/%s/messages?data=",
	    (int)blen, baseurl, sel);
	free(sel);
	peerof(baseurl, fa->peer, sizeof fa->peer);

	n = strlen(token) + 64;
	if ((hdr = malloc(n)) == NULL)
		return -1;
	snprintf(hdr, n, "Authorization: FlespiToken %s", token);
	h = curl_slist_append(NULL, hdr);
	explicit_bzero(hdr, n);
	free(hdr);
	if (h == NULL)
		return -1;
	fa->hdrs = h;
	n = strlen(app) + 32;
	if ((hdr = malloc(n)) == NULL)
		return -1;
	snprintf(hdr, n, "x-flespi-app: %s", app);
	h = curl_slist_append(fa->hdrs, hdr);
	free(hdr);
	if (h == NULL)
		return -1;
	if (cid != NULL) {
		n = strlen(cid) + 32;
		if ((hdr = malloc(n)) == NULL)
			return -1;
		snprintf(hdr, n, "x-flespi-cid: %s", cid);
		h = curl_slist_append(fa->hdrs, hdr);
		free(hdr);
		if (h == NULL)
			return -1;
	}
	fa->hdrs = curl_slist_append(fa->hdrs, "Accept: application/json");

	curl_easy_setopt(fa->curl, CURLOPT_HTTPHEADER, fa->hdrs);
	curl_easy_setopt(fa->curl, CURLOPT_USERAGENT, app);
	curl_easy_setopt(fa->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(fa->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(fa->curl, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(fa->curl, CURLOPT_WRITEFUNCTION, onbody);
	curl_easy_setopt(fa->curl, CURLOPT_WRITEDATA, fa);
	curl_easy_setopt(fa->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(fa->curl, CURLOPT_XFERINFOFUNCTION, onprogress);
	curl_easy_setopt(fa->curl, CURLOPT_XFERINFODATA, fa);
	curl_easy_setopt(fa->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	/*
	 * Answers run to megabytes: read them in large pieces (libcurl's
	 * 16 KiB default costs a recv and a poll per 16 KiB).
	 */
	curl_easy_setopt(fa->curl, CURLOPT_BUFFERSIZE, 256L << 10);
	curl_easy_setopt(fa->curl, CURLOPT_ERRORBUFFER, fa->errbuf);
	return 0;
}

int
fa_cafile(struct flespiapi *fa, const char *path)
{
	return curl_easy_setopt(fa->curl, CURLOPT_CAINFO, path) == CURLE_OK ?
	    0 : -1;
}

void
fa_free(struct flespiapi *fa)
{
	struct curl_slist *h;

	if (fa->curl)
		curl_easy_cleanup(fa->curl);
	/* The first header holds the token: wiped, not only freed. */
	for (h = fa->hdrs; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(fa->hdrs);
	free(fa->urlbase);
	free(fa->body);
	memset(fa, 0, sizeof *fa);
}

/* The reason in a flespi error answer, {"errors":[{"reason":"..."}]}. */
static void
reason(const struct flespiapi *fa, char *out, size_t outlen)
{
	json_t *root, *e;
	const char *r = NULL;

	out[0] = '\0';
	if (fa->len == 0 ||
	    (root = json_loadb(fa->body, fa->len, 0, NULL)) == NULL)
		return;
	e = json_array_get(json_object_get(root, "errors"), 0);
	r = json_string_value(json_object_get(e, "reason"));
	if (r != NULL && outlen > 2) {
		/* The server's text: escaped, it cannot forge our lines. */
		memcpy(out, ": ", 3);
		vis(out + 2, outlen - 2, r,
		    json_string_length(json_object_get(e, "reason")));
	}
	json_decref(root);
}

int
fa_get(struct flespiapi *fa, const struct fa_req *q, char *why,
    size_t whylen)
{
	char data[256], rs[200], *enc, *url;
	size_t n;
	CURLcode rc;
	curl_off_t ra;
	long st = 0;

	snprintf(data, sizeof data, "{\"curr_key\":%llu,\"limit_count\":%u,"
	    "\"limit_size\":%zu,\"timeout\":%u%s}",
	    (unsigned long long)q->curr_key, q->limit_count, q->limit_size,
	    q->timeout, q->del ? ",\"delete\":true" : "");
	if ((enc = fa_escape(data)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return FA_RETRY;
	}
	n = strlen(fa->urlbase) + strlen(enc) + 1;
	if ((url = malloc(n)) == NULL) {
		free(enc);
		snprintf(why, whylen, "out of memory");
		return FA_RETRY;
	}
	snprintf(url, n, "%s%s", fa->urlbase, enc);
	free(enc);

	fa->len = 0;
	fa->too_large = 0;
	fa->status = 0;
	fa->errbuf[0] = '\0';
	if (fa->body)
		fa->body[0] = '\0';
	curl_easy_setopt(fa->curl, CURLOPT_URL, url);
	curl_easy_setopt(fa->curl, CURLOPT_CONNECTTIMEOUT_MS, fa->connect_ms);
	curl_easy_setopt(fa->curl, CURLOPT_TIMEOUT_MS,
	    (long)q->timeout * 1000 + fa->extra_ms);
	rc = curl_easy_perform(fa->curl);
	free(url);
	curl_easy_getinfo(fa->curl, CURLINFO_RESPONSE_CODE, &st);
	fa->status = st;
	ra = 0;
	if (curl_easy_getinfo(fa->curl, CURLINFO_RETRY_AFTER, &ra) !=
	    CURLE_OK || ra < 0)
		ra = 0;
	fa->retry_after = (long)ra;

	if (rc == CURLE_ABORTED_BY_CALLBACK && (stop_requested || fa->gone)) {
		snprintf(why, whylen,
		    fa->gone ? "the reader of stdout is gone" : "stopped");
		return FA_STOPPED;
	}
	if (fa->too_large) {
		snprintf(why, whylen, "answer longer than %zu bytes", fa->max);
		return FA_RETRY;
	}
	if (rc == CURLE_PEER_FAILED_VERIFICATION ||
	    rc == CURLE_SSL_CACERT_BADFILE) {
		/* Asking again will meet the same certificate. */
		vis(rs, sizeof rs, fa->errbuf, strlen(fa->errbuf));
		snprintf(why, whylen, "TLS: the server's certificate was not "
		    "accepted%s%s", rs[0] ? ": " : "", rs);
		return FA_REFUSED;
	}
	if (rc != CURLE_OK) {
		/*
		 * libcurl's detail names the host and port when connecting
		 * failed ("Failed to connect to H port N after ..."); other
		 * network errors get them in front.
		 */
		vis(rs, sizeof rs, fa->errbuf, strlen(fa->errbuf));
		if (rs[0] == '\0')
			snprintf(rs, sizeof rs, "%s", curl_easy_strerror(rc));
		if (fa->peer[0] != '\0' && strstr(rs, " port ") == NULL &&
		    strncmp(rs, "Could not resolve", 17) != 0)
			snprintf(why, whylen, "%s: %s", fa->peer, rs);
		else
			snprintf(why, whylen, "%s", rs);
		return FA_RETRY;
	}
	if (st == 200)
		return FA_OK;
	reason(fa, rs, sizeof rs);
	switch (st) {
	case 401:
		snprintf(why, whylen, "401 Unauthorized: the token was "
		    "rejected (bad or expired)%s", rs);
		return FA_REFUSED;
	case 403:
		snprintf(why, whylen, "403 Forbidden: the token may not read "
		    "this channel (ACL)%s", rs);
		return FA_REFUSED;
	case 404:
		snprintf(why, whylen, "404 Not Found: no such channel%s", rs);
		return FA_REFUSED;
	case 429:
		snprintf(why, whylen, "429 Too Many Requests: rate limit "
		    "exceeded%s", rs);
		return FA_RETRY;
	}
	snprintf(why, whylen, "HTTP status %ld%s%s", st, rs,
	    st >= 300 && st < 400 ? " (a redirect: check --url)" : "");
	/* 3xx and 4xx will not change by asking again; 5xx and odd 2xx may. */
	if (st >= 500 || st < 300)
		return FA_RETRY;
	return FA_REFUSED;
}
