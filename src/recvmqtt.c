/*
 * flespi-recv --mqtt: channel messages pushed by flespi's MQTT broker,
 * one NDJSON line each on stdout.
 *
 * One thread drives libmosquitto from our own poll() loop (mosquitto_socket,
 * loop_read, loop_write, loop_misc); the library never runs a thread of its
 * own.
 *
 * The acknowledgement contract.  libmosquitto 2.0 (lib/handle_publish.c)
 * queues the PUBACK of an incoming QoS 1 message *before* it calls
 * on_message, and packet__queue() writes a queued packet to the socket at
 * once unless the client is marked threaded or is inside a callback.  Left
 * alone, the broker would thus be told "delivered" before our line exists,
 * and a crash in between would lose the message.  We therefore mark the
 * client threaded (mosquitto_threaded_set(true): we call no library function
 * from another thread; what the flag changes for us is the test in 2.0.11's
 * lib/packet_mosq.c packet__queue(), "if(mosq->in_callback == false &&
 * mosq->threaded == mosq_ts_none) return packet__write(mosq);"), so
 * every queued packet waits for our own mosquitto_loop_write().  The loop
 * calls loop_read, on_message appends each payload to an output buffer, the
 * buffer is written to stdout with write(2) (no stdio buffering), and only
 * then loop_write sends the PUBACKs.  So a PUBACK reaches the socket only
 * after the message's line was handed to the kernel; if the write fails or
 * the process dies first, the broker still holds the message and, in a
 * persistent session (--session), delivers it again: at-least-once, with
 * duplicates possible after a crash, never a gap.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "backoff.h"
#include "diag.h"
#include "exits.h"
#include "io.h"
#include "num.h"
#include "recvmqtt.h"
#include "reply.h"
#include "stats.h"
#include "stop.h"
#include "tlsfiles.h"
#include "token.h"
#include "vis.h"

#define DEFAULT_URL	"mqtts://mqtt.flespi.io:8883"
#define DEFAULT_CAPATH	"/etc/ssl/certs"
#define KEEPALIVE	60		/* seconds */
#define RECEIVE_MAX	1000		/* MQTT 5 in-flight window we offer */
#define MAX_READS	64		/* packets read per wakeup before writing */
#define OUT_FLUSH	(64 * 1024)	/* write the output buffer at this size */
#define TOPIC_MAX	4096
#define TOKEN_MAX	4096
#define KILL_HOOK	"FLESPI_RECV_TEST_KILL_BEFORE_LINE"
/*
 * A --session connection lost this soon after a CONNACK that found the
 * session present, this many times in a row with no failed attempt
 * between them: another client with the same client id is taking the
 * session from us and we from it.  (mosquitto 2.0 closes the older
 * connection before its DISCONNECT "session taken over" leaves, even in
 * MQTT 5; 3.1.1 has no reason to give at all.)  A broker restarted
 * without its sessions answers "no session present" and is not counted.
 */
#define TAKEOVER_MS	10000
#define TAKEOVERS	3

struct opts {
	const char     *url;
	char		host[256];
	int		port;
	const char     *token_file;
	const char     *cafile;
	const char     *session;
	long long	expiry;		/* seconds; 0 = not given */
	const char     *share;
	int		sticky;
	const char     *filter;
	int		version;	/* MQTT_PROTOCOL_V5 or _V311 */
	long long	count;		/* -n; 0 = unlimited */
	long long	retries;	/* -1 = unlimited */
	const char     *channels;
};

/* Everything the callbacks share with the loop. */
struct rx {
	struct mosquitto *m;
	const struct opts *o;
	char		topic[TOPIC_MAX];
	char	       *out;		/* lines taken but not yet written */
	size_t		outlen, outcap;
	uint64_t	pending;	/* lines in out */
	uint64_t	lines;		/* lines written to stdout */
	uint64_t	bad;		/* payloads skipped */
	/*
	 * Messages whose PUBACK the library queued but whose line will not be
	 * written (after -n, after a write error).  While it is non-zero no
	 * packet may be sent any more: the queue would acknowledge them.
	 */
	uint64_t	unacked_skips;
	uint64_t	kill_at;	/* test hook: SIGKILL before this line */
	int		werr;		/* errno of a failed stdout write */
	int		done;		/* -n reached */
	int		refused;	/* the broker refused us for good */
	int		online;		/* CONNACK accepted since the last dial() */
	int64_t		online_ms;	/* when */
	int		session_present;	/* in that CONNACK */
	unsigned	quick_losses;	/* lost within TAKEOVER_MS, in a row */
	int		ever_online;
	int		qos0_warned;
	uint64_t	stat_lines;	/* rx->lines when the stats were shown */
	int64_t		stat_ms;	/* and when */
	const char     *temp_refusal;	/* CONNACK reason worth a retry */
	struct stats	st;
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: %s --mqtt [options] CHANNEL[,CHANNEL...]\n"
"Receive flespi channel messages pushed over MQTT; write them as NDJSON.\n"
"  --token-file FILE     read the token from FILE (default: $FLESPI_TOKEN)\n"
"  --url mqtts://HOST[:PORT]  broker (default " DEFAULT_URL ")\n"
"  --cafile FILE         trust the CA certificates in FILE\n"
"                        (default: the system store " DEFAULT_CAPATH ")\n"
"  --session NAME        persistent session with client id NAME: messages\n"
"                        published while away are delivered on return\n"
"  --session-expiry SECS how long the broker keeps the session (MQTT 5,\n"
"                        default 86400)\n"
"  --share GROUP         shared subscription: the group's consumers split\n"
"                        the stream\n"
"  --sticky              with --share: each device stays on one consumer\n"
"  --filter EXPR         flespi expression evaluated by the broker\n"
"  --mqtt-version V      5 (default) or 3.1.1\n"
"  --retries N           give up after N failed retries in a row, exit 75\n"
"                        (default: never)\n"
"  -n COUNT              exit after COUNT messages\n"
"  -v                    log connections (twice: library log)\n"
"  -h, --help            this help\n"
"  -V, --version         print the version\n",
	    progname);
}

/* ---- pure helpers (unit-tested) ---- */

static int
channels_ok(const char *s)
{
	int digits = 0;

	if (strcmp(s, "+") == 0)
		return 1;
	for (; *s; s++) {
		if (*s >= '0' && *s <= '9') {
			digits++;
		} else if (*s == ',' && digits > 0) {
			digits = 0;
		} else
			return 0;
	}
	return digits > 0;
}

static int
group_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	return strpbrk(s, "/+#:") == NULL;
}

/* Append to buf at *off; 0, or -1 when it does not fit. */
static int
put(char *buf, size_t size, size_t *off, const char *s, size_t n)
{
	if (n >= size - *off)
		return -1;
	memcpy(buf + *off, s, n);
	*off += n;
	buf[*off] = '\0';
	return 0;
}

/* Percent-encode all but RFC 3986 unreserved bytes (so '/', '+', '#' too). */
static int
put_escaped(char *buf, size_t size, size_t *off, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3];
	unsigned char c;

	for (; *s; s++) {
		c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~') {
			if (put(buf, size, off, (const char *)&c, 1) == -1)
				return -1;
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		if (put(buf, size, off, e, 3) == -1)
			return -1;
	}
	return 0;
}

int
recvmqtt_topic(char *buf, size_t size, const char *channels,
    const char *share, int sticky, const char *filter)
{
	static const char base[] = "flespi/message/gw/channels/";
	size_t off = 0;

	if (size == 0 || channels == NULL || !channels_ok(channels) ||
	    (share != NULL && !group_ok(share)) || (sticky && share == NULL) ||
	    (filter != NULL && *filter == '\0')) {
		errno = EINVAL;
		return -1;
	}
	buf[0] = '\0';
	if (share != NULL && (put(buf, size, &off, "$share/", 7) == -1 ||
	    put(buf, size, &off, share, strlen(share)) == -1 ||
	    (sticky && put(buf, size, &off, ":6", 2) == -1) ||
	    put(buf, size, &off, "/", 1) == -1))
		goto toolong;
	if (filter != NULL && (put(buf, size, &off, "$filter/payload=", 16) == -1 ||
	    put_escaped(buf, size, &off, filter) == -1 ||
	    put(buf, size, &off, "/", 1) == -1))
		goto toolong;
	if (put(buf, size, &off, base, sizeof base - 1) == -1 ||
	    put(buf, size, &off, channels, strlen(channels)) == -1 ||
	    put(buf, size, &off, "/+", 2) == -1)
		goto toolong;
	return (int)off;
toolong:
	errno = ERANGE;
	return -1;
}

int
recvmqtt_url(const char *url, char *host, size_t hostsize, int *port)
{
	static const char scheme[] = "mqtts://";
	const char *h, *end, *colon;
	long long p = 8883;
	size_t n;

	if (strncmp(url, scheme, sizeof scheme - 1) != 0)
		return -1;
	h = url + sizeof scheme - 1;
	if (*h == '[') {		/* [v6 address] */
		end = strchr(h, ']');
		if (end == NULL)
			return -1;
		h++;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
	} else {
		colon = strchr(h, ':');
		end = colon ? colon : h + strlen(h);
	}
	n = (size_t)(end - h);
	if (n == 0 || n >= hostsize || memchr(h, '/', n) != NULL)
		return -1;
	if (colon != NULL && parse_ll(colon + 1, 1, 65535, &p) == -1)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (int)p;
	return 0;
}

/* ---- output ---- */

static int
append(struct rx *rx, const char *p, size_t n)
{
	char *nb;
	size_t cap;

	if (rx->outlen + n + 1 > rx->outcap) {
		cap = rx->outcap ? rx->outcap : 65536;
		while (cap < rx->outlen + n + 1)
			cap *= 2;
		if ((nb = realloc(rx->out, cap)) == NULL)
			die(EXIT_TEMPFAIL, "out of memory");
		rx->out = nb;
		rx->outcap = cap;
	}
	memcpy(rx->out + rx->outlen, p, n);
	rx->outlen += n;
	rx->out[rx->outlen++] = '\n';
	rx->pending++;
	return 0;
}

/*
 * A payload is checked exactly as a polling answer's message is
 * (reply_message) and written the same way: its bytes, without the
 * whitespace outside strings.  One that is not a valid JSON object is
 * skipped with a warning, and acknowledged: it will not get better, and
 * held back it would block the session.  It is counted for exit 65.
 */
static void
take(struct rx *rx, const struct mosquitto_message *msg)
{
	const char *p = msg->payload;
	size_t n = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0, start;
	char why[200], topic[300];

	if (reply_message(p, n, why, sizeof why) == -1) {
		stats_end(&rx->st);
		vis(topic, sizeof topic, msg->topic, strlen(msg->topic));
		xwarn("%s: payload is not a JSON object, skipped: %s", topic,
		    n ? why : "empty");
		rx->bad++;
		return;
	}
	start = rx->outlen;
	append(rx, p, n);
	/* Compact the line in place; its newline follows. */
	rx->outlen = start + reply_compact(rx->out + start, n);
	rx->out[rx->outlen++] = '\n';
}

/*
 * Write the buffered lines.  Returns 0, or -1 after a write error (werr
 * set; the lines not written count as unacknowledged skips).
 */
static int
flush(struct rx *rx)
{
	size_t done = 0, i;
	uint64_t written = 0;

	if (rx->outlen == 0)
		return 0;
	if (rx->kill_at && rx->lines + 1 >= rx->kill_at)
		raise(SIGKILL);		/* test hook: die before the write */
	if (write_all(STDOUT_FILENO, rx->out, rx->outlen, &done) == -1) {
		rx->werr = errno ? errno : EIO;
		for (i = 0; i < done; i++)
			if (rx->out[i] == '\n')
				written++;
		rx->lines += written;
		rx->unacked_skips += rx->pending - written;
		rx->pending = 0;
		rx->outlen = 0;
		return -1;
	}
	rx->lines += rx->pending;
	rx->pending = 0;
	rx->outlen = 0;
	return 0;
}

/* ---- callbacks ---- */

static int
temporary_refusal(int version, int rc)
{
	if (version != MQTT_PROTOCOL_V5)
		return rc == 3;		/* server unavailable */
	return rc == MQTT_RC_SERVER_UNAVAILABLE || rc == MQTT_RC_SERVER_BUSY ||
	    rc == MQTT_RC_QUOTA_EXCEEDED ||
	    rc == MQTT_RC_CONNECTION_RATE_EXCEEDED;
}

static const char *
reason(int version, int rc)
{
	return version == MQTT_PROTOCOL_V5 ? mosquitto_reason_string(rc) :
	    mosquitto_connack_string(rc);
}

static void
on_connect(struct mosquitto *m, void *arg, int rc, int flags,
    const mosquitto_property *props)
{
	struct rx *rx = arg;
	int mid;

	(void)props;
	if (rc != 0) {
		stats_end(&rx->st);
		if (temporary_refusal(rx->o->version, rc)) {
			rx->temp_refusal = reason(rx->o->version, rc);
			return;		/* run() reports it and retries */
		}
		xwarn("broker refused the connection: %s (check the token)",
		    reason(rx->o->version, rc));
		rx->refused = 1;
		return;
	}
	rx->online = rx->ever_online = 1;
	rx->online_ms = mono_ms();
	rx->session_present = flags & 1;
	vlog("connected to %s:%d%s", rx->o->host, rx->o->port,
	    flags & 1 ? ", session present" : "");
	rc = mosquitto_subscribe_v5(m, &mid, rx->topic, 1, 0, NULL);
	if (rc != MOSQ_ERR_SUCCESS)
		xwarn("subscribe: %s", mosquitto_strerror(rc));
}

static void
on_subscribe(struct mosquitto *m, void *arg, int mid, int n,
    const int *granted, const mosquitto_property *props)
{
	struct rx *rx = arg;

	(void)m, (void)mid, (void)props;
	if (n < 1 || granted[0] >= 0x80) {
		stats_end(&rx->st);
		xwarn("broker refused the subscription to %s: %s", rx->topic,
		    n < 1 ? "no reason given" :
		    rx->o->version == MQTT_PROTOCOL_V5 ?
		    mosquitto_reason_string(granted[0]) : "not authorised");
		rx->refused = 1;
		return;
	}
	if (granted[0] == 0 && !rx->qos0_warned) {
		xwarn("broker granted QoS 0 only: messages can be lost");
		rx->qos0_warned = 1;
	}
	vlog("subscribed to %s", rx->topic);
}

static void
on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg,
    const mosquitto_property *props)
{
	struct rx *rx = arg;

	(void)m, (void)props;
	/*
	 * The library has already queued this message's PUBACK (see the top
	 * of the file); it leaves the process only with our loop_write.
	 */
	if (rx->done || rx->werr || rx->refused) {
		if (msg->qos > 0)
			rx->unacked_skips++;
		return;
	}
	take(rx, msg);
	if (rx->o->count && rx->lines + rx->pending >= (uint64_t)rx->o->count)
		rx->done = 1;
	if (rx->outlen >= OUT_FLUSH || rx->kill_at)
		flush(rx);
}

static void
on_disconnect(struct mosquitto *m, void *arg, int rc,
    const mosquitto_property *props)
{
	struct rx *rx = arg;

	(void)m, (void)props;
	/*
	 * An MQTT 5 broker's DISCONNECT passes its reason code here (values
	 * from 128; the library's own errors are small).  Another client
	 * with our --session id, or a token no longer allowed, is not cured
	 * by reconnecting: two consumers would just take turns.
	 */
	if (rc == MQTT_RC_SESSION_TAKEN_OVER || rc == MQTT_RC_NOT_AUTHORIZED) {
		stats_end(&rx->st);
		if (rc == MQTT_RC_SESSION_TAKEN_OVER)
			xwarn("broker disconnected us: %s (another client uses "
			    "this --session: %s)", mosquitto_reason_string(rc),
			    rx->o->session ? rx->o->session : "(none)");
		else
			xwarn("broker disconnected us: %s",
			    mosquitto_reason_string(rc));
		rx->refused = 1;
		return;
	}
	if (rc >= 128)
		vlog("broker disconnected us: %s", mosquitto_reason_string(rc));
	else
		vlog("disconnected: %s", rc ? mosquitto_strerror(rc) : "as asked");
}

static void
on_log(struct mosquitto *m, void *arg, int level, const char *s)
{
	char e[512];

	(void)m, (void)arg, (void)level;
	/* The library's lines carry the broker's topics and reasons. */
	if (verbose > 1)
		xwarn("mosquitto: %s", vis(e, sizeof e, s, strlen(s)));
}

/* ---- the loop ---- */

/* The stats line: lines written, and the rate since the last line shown. */
static void
show_stats(struct rx *rx)
{
	int64_t now = mono_ms();

	if (rx->stat_ms == 0)
		rx->stat_ms = rx->st.start_ms;
	stats_show(&rx->st, "%llu messages, %.0f msg/s%s",
	    (unsigned long long)rx->lines,
	    (double)(rx->lines - rx->stat_lines) * 1000.0 /
	    (double)(now - rx->stat_ms + 1),
	    rx->online ? "" : ", connecting");
	rx->stat_lines = rx->lines;
	rx->stat_ms = now;
}

/* Why pump() returned. */
enum { P_STOP, P_LOST };

/*
 * Serve one connection until it is lost (P_LOST, *rc says why) or we are
 * to stop (P_STOP: signal, -n reached, write error, refusal).
 */
static int
pump(struct rx *rx, int *rc)
{
	struct pollfd pfd[2];
	int i, n;

	*rc = MOSQ_ERR_SUCCESS;
	/*
	 * stdout too, with no events: a pipe whose reader has gone reports
	 * POLLERR, so we stop at once instead of at the next message.
	 */
	pfd[1].fd = STDOUT_FILENO;
	pfd[1].events = 0;
	for (;;) {
		if (stop_requested || rx->done || rx->werr || rx->refused)
			return P_STOP;
		if ((pfd[0].fd = mosquitto_socket(rx->m)) < 0) {
			*rc = MOSQ_ERR_NO_CONN;
			return P_LOST;
		}
		pfd[0].events = POLLIN;
		if (mosquitto_want_write(rx->m))
			pfd[0].events |= POLLOUT;
		pfd[0].revents = pfd[1].revents = 0;
		n = poll(pfd, 2, 1000);
		if (n == -1 && errno != EINTR)
			dieerr(EXIT_TEMPFAIL, "poll");
		if (n > 0 && (pfd[1].revents & POLLERR)) {
			rx->werr = EPIPE;
			return P_STOP;
		}
		if (n > 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			for (i = 0; i < MAX_READS; i++) {
				errno = 0;
				*rc = mosquitto_loop_read(rx->m, 1);
				if (*rc != MOSQ_ERR_SUCCESS)
					break;
				if (errno == EAGAIN || errno == EWOULDBLOCK ||
				    rx->done || rx->werr || rx->refused)
					break;
			}
			/* Lines first, then (below) their PUBACKs. */
			flush(rx);
			if (*rc != MOSQ_ERR_SUCCESS)
				return rx->refused ? P_STOP : P_LOST;
		}
		if (rx->unacked_skips || rx->refused)
			return P_STOP;
		if (mosquitto_want_write(rx->m) &&
		    (*rc = mosquitto_loop_write(rx->m, 1)) != MOSQ_ERR_SUCCESS)
			return P_LOST;
		if ((*rc = mosquitto_loop_misc(rx->m)) != MOSQ_ERR_SUCCESS)
			return P_LOST;
		if (stats_due(&rx->st, mono_ms()))
			show_stats(rx);
	}
}

/*
 * Leave the broker: send the PUBACKs of written lines and a DISCONNECT
 * (the session stays on the broker).  When a queued PUBACK belongs to a
 * message that was not written, send nothing at all and just close: the
 * broker then delivers everything unacknowledged again.
 */
static void
leave(struct rx *rx)
{
	struct pollfd pfd;
	int64_t deadline;

	if (mosquitto_socket(rx->m) < 0)
		return;
	if (rx->unacked_skips) {
		vlog("closing without acknowledging the last %llu messages",
		    (unsigned long long)rx->unacked_skips);
		return;		/* mosquitto_destroy() closes the socket */
	}
	if (mosquitto_disconnect_v5(rx->m, MQTT_RC_NORMAL_DISCONNECTION,
	    NULL) != MOSQ_ERR_SUCCESS)
		return;
	deadline = mono_ms() + 2000;
	while ((pfd.fd = mosquitto_socket(rx->m)) >= 0 &&
	    mosquitto_want_write(rx->m) && mono_ms() < deadline) {
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 100) > 0 &&
		    mosquitto_loop_write(rx->m, 1) != MOSQ_ERR_SUCCESS)
			break;
	}
}

static int
dial(struct rx *rx)
{
	mosquitto_property *props = NULL;
	int rc;

	if (rx->o->version == MQTT_PROTOCOL_V5 && rx->o->session &&
	    mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
	    (uint32_t)rx->o->expiry) != MOSQ_ERR_SUCCESS)
		die(EXIT_TEMPFAIL, "out of memory");
	rx->online = 0;
	rx->temp_refusal = NULL;
	rc = mosquitto_connect_bind_v5(rx->m, rx->o->host, rx->o->port,
	    KEEPALIVE, NULL, props);
	mosquitto_property_free_all(&props);
	return rc;
}

/* Why a connection failed, without the library's final full stop. */
static const char *
why(struct rx *rx, int rc, int err)
{
	static char buf[256];
	size_t n;

	if (rx->temp_refusal)
		snprintf(buf, sizeof buf, "broker refused the connection: %s",
		    rx->temp_refusal);
	else
		snprintf(buf, sizeof buf, "%s", rc == MOSQ_ERR_ERRNO ?
		    strerror(err) : mosquitto_strerror(rc));
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '.')
		buf[n - 1] = '\0';
	return buf;
}

/* Connect, serve, reconnect with backoff.  Returns the exit status. */
static int
run(struct rx *rx)
{
	struct backoff bo;
	long long failures = 0;
	unsigned delay;
	int rc, r, err;

	backoff_init(&bo, 1000, 60000, 0);
	for (;;) {
		rc = dial(rx);
		if (rc == MOSQ_ERR_SUCCESS) {
			r = pump(rx, &rc);
			if (r == P_STOP)
				break;
		}
		err = errno;	/* for MOSQ_ERR_ERRNO */
		if (rx->refused || stop_requested)
			break;
		if (rc == MOSQ_ERR_TLS && !rx->ever_online) {
			stats_end(&rx->st);
			xwarn("%s:%d: TLS handshake failed (certificate not "
			    "trusted? see --cafile)", rx->o->host, rx->o->port);
			rx->refused = 1;
			break;
		}
		if (rx->online) {	/* this connection was accepted */
			backoff_reset(&bo);
			failures = 0;
			if (rx->o->session && rx->session_present &&
			    mono_ms() - rx->online_ms < TAKEOVER_MS)
				rx->quick_losses++;
			else
				rx->quick_losses = 0;
		} else {
			rx->quick_losses = 0;
		}
		if (rx->quick_losses >= TAKEOVERS) {
			stats_end(&rx->st);
			xwarn("--session %s: taken over %u times in a row, each "
			    "time within %d s of connecting: another client "
			    "is using this session; giving up", rx->o->session,
			    rx->quick_losses, TAKEOVER_MS / 1000);
			rx->refused = 1;
			break;
		}
		failures++;
		stats_end(&rx->st);
		if (rx->o->retries >= 0 && failures > rx->o->retries) {
			xwarn("%s:%d: %s; giving up after %lld retries",
			    rx->o->host, rx->o->port, why(rx, rc, err),
			    failures - 1);
			return EXIT_TEMPFAIL;
		}
		delay = backoff_next(&bo);
		xwarn("%s:%d: %s; retrying in %.1f s", rx->o->host, rx->o->port,
		    why(rx, rc, err), delay / 1000.0);
		/* poll() with no descriptors sleeps; a signal ends it early. */
		if (poll(NULL, 0, (int)delay) == -1 && errno != EINTR)
			dieerr(EXIT_TEMPFAIL, "poll");
		if (stop_requested)
			break;
	}
	leave(rx);
	if (rx->st.shown)
		show_stats(rx);		/* the final count */
	stats_end(&rx->st);
	if (rx->refused)
		return EXIT_REFUSED;
	if (rx->werr && rx->werr != EPIPE) {
		errno = rx->werr;
		xwarnerr("stdout");
		return EXIT_IOERR;
	}
	if (rx->bad)
		return EXIT_DATAERR;
	return EXIT_OK;
}

/* ---- setup ---- */

static void
parse(int argc, char **argv, struct opts *o)
{
	enum { O_MQTT = 256, O_TOKEN, O_URL, O_CAFILE, O_SESSION, O_EXPIRY,
	    O_SHARE, O_STICKY, O_FILTER, O_VERSION, O_RETRIES, O_CKPT };
	static const struct option longopts[] = {
		{ "mqtt",		no_argument,		NULL, O_MQTT },
		{ "token-file",		required_argument,	NULL, O_TOKEN },
		{ "url",		required_argument,	NULL, O_URL },
		{ "cafile",		required_argument,	NULL, O_CAFILE },
		{ "session",		required_argument,	NULL, O_SESSION },
		{ "session-expiry",	required_argument,	NULL, O_EXPIRY },
		{ "share",		required_argument,	NULL, O_SHARE },
		{ "sticky",		no_argument,		NULL, O_STICKY },
		{ "filter",		required_argument,	NULL, O_FILTER },
		{ "mqtt-version",	required_argument,	NULL, O_VERSION },
		{ "retries",		required_argument,	NULL, O_RETRIES },
		{ "checkpoints",	no_argument,		NULL, O_CKPT },
		{ "help",		no_argument,		NULL, 'h' },
		{ "version",		no_argument,		NULL, 'V' },
		{ NULL,			0,			NULL, 0 }
	};
	int c;

	memset(o, 0, sizeof *o);
	o->url = DEFAULT_URL;
	o->version = MQTT_PROTOCOL_V5;
	o->retries = -1;
	while ((c = getopt_long(argc, argv, "n:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case O_MQTT:
			break;
		case O_TOKEN:
			o->token_file = optarg;
			break;
		case O_URL:
			o->url = optarg;
			break;
		case O_CAFILE:
			o->cafile = optarg;
			break;
		case O_SESSION:
			o->session = optarg;
			break;
		case O_EXPIRY:
			o->expiry = num_arg("--session-expiry", optarg, 1,
			    UINT32_MAX);
			break;
		case O_SHARE:
			o->share = optarg;
			break;
		case O_STICKY:
			o->sticky = 1;
			break;
		case O_FILTER:
			o->filter = optarg;
			break;
		case O_VERSION:
			if (strcmp(optarg, "5") == 0)
				o->version = MQTT_PROTOCOL_V5;
			else if (strcmp(optarg, "3.1.1") == 0)
				o->version = MQTT_PROTOCOL_V311;
			else
				die(EXIT_USAGE, "--mqtt-version: '%s' is not 5 "
				    "or 3.1.1", optarg);
			break;
		case O_RETRIES:
			o->retries = num_arg("--retries", optarg, 0, INT_MAX);
			break;
		case O_CKPT:
			/*
			 * A PUBACK would have to wait for the end of the
			 * pipeline, which cannot answer back through a pipe.
			 */
			die(EXIT_USAGE, "--checkpoints is for polling mode: "
			    "with --mqtt a message is acknowledged to the "
			    "broker once its line is written, and cannot wait "
			    "for the end of the pipeline to deliver it");
		case 'n':
			o->count = num_arg("-n", optarg, 1, LLONG_MAX);
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		case 'V':
			printf("%s %s\n", progname, VERSION);
			exit(EXIT_OK);
		default:
			usage(stderr);
			exit(EXIT_USAGE);
		}
	}
	if (optind != argc - 1) {
		xwarn(optind == argc ? "no CHANNEL given" : "one CHANNEL "
		    "argument expected (a comma list for several)");
		usage(stderr);
		exit(EXIT_USAGE);
	}
	o->channels = argv[optind];
	if (!channels_ok(o->channels))
		die(EXIT_USAGE, "'%s': CHANNEL must be channel ids separated "
		    "by commas, or +", o->channels);
	if (o->share && !group_ok(o->share))
		die(EXIT_USAGE, "--share: '%s' must be non-empty without "
		    "'/', '+', '#' or ':'", o->share);
	if (o->sticky && !o->share)
		die(EXIT_USAGE, "--sticky needs --share GROUP");
	if (o->filter && *o->filter == '\0')
		die(EXIT_USAGE, "--filter: empty expression");
	if (o->expiry && !o->session)
		die(EXIT_USAGE, "--session-expiry needs --session NAME");
	if (o->expiry && o->version != MQTT_PROTOCOL_V5)
		die(EXIT_USAGE, "--session-expiry needs MQTT 5");
	if (o->session && (*o->session == '\0' || strlen(o->session) > 65535))
		die(EXIT_USAGE, "--session: bad name");
	if (o->session && o->expiry == 0)
		o->expiry = 86400;
	if (recvmqtt_url(o->url, o->host, sizeof o->host, &o->port) == -1)
		die(EXIT_USAGE, "--url: '%s' is not mqtts://HOST[:PORT] (TLS "
		    "only: the token must not cross the network in clear)",
		    o->url);
	if (o->cafile && access(o->cafile, R_OK) == -1)
		dieerr(EXIT_USAGE, "--cafile %s", o->cafile);
}

/* A client id for a clean session: unique enough, never reused. */
static void
random_id(char *buf, size_t size)
{
	struct timespec ts;
	uint64_t x;

	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^
	    ((uint64_t)ts.tv_sec << 24) ^ (uint64_t)getpid();
	snprintf(buf, size, "flespi-recv-%016llx", (unsigned long long)x);
}

int
recv_mqtt_main(int argc, char **argv)
{
	struct opts o;
	struct rx rx;
	char id[64], why[512];
	static char token[TOKEN_MAX];	/* static: wiped below */
	const char *hook;
	int rc, status;

	diag_init(argv[0]);
	parse(argc, argv, &o);
	if (tlsfiles_check(o.cafile, NULL, NULL, why, sizeof why) == -1)
		die(EXIT_USAGE, "%s", why);
	token_get(o.token_file, token, sizeof token);

	memset(&rx, 0, sizeof rx);
	rx.o = &o;
	if (recvmqtt_topic(rx.topic, sizeof rx.topic, o.channels, o.share,
	    o.sticky, o.filter) == -1)
		die(EXIT_USAGE, "the subscription topic is too long");
	if ((hook = getenv(KILL_HOOK)) != NULL && *hook != '\0')
		rx.kill_at = (uint64_t)num_arg(KILL_HOOK, hook, 1, LLONG_MAX);

	stop_install();
	stats_init(&rx.st, 0, 1);
	mosquitto_lib_init();
	if (o.session == NULL)
		random_id(id, sizeof id);
	rx.m = mosquitto_new(o.session ? o.session : id, o.session == NULL, &rx);
	if (rx.m == NULL)
		die(EXIT_TEMPFAIL, "mosquitto_new: %s", strerror(errno));
	/* Only to keep PUBACKs queued until our loop_write: see the top. */
	mosquitto_threaded_set(rx.m, true);
	mosquitto_int_option(rx.m, MOSQ_OPT_PROTOCOL_VERSION, o.version);
	/*
	 * No TCP_NODELAY: with Nagle the PUBACKs of a burst share segments
	 * (the benchmark drains 10-40 % faster); a line reaches stdout before
	 * its PUBACK is even queued, so this costs no output latency.
	 */
	if (o.version == MQTT_PROTOCOL_V5)
		mosquitto_int_option(rx.m, MOSQ_OPT_RECEIVE_MAXIMUM, RECEIVE_MAX);
	if (mosquitto_username_pw_set(rx.m, token, NULL) != MOSQ_ERR_SUCCESS)
		die(EXIT_TEMPFAIL, "out of memory");
	/* libmosquitto keeps its own copy for reconnecting; ours goes now. */
	explicit_bzero(token, sizeof token);
	rc = mosquitto_tls_set(rx.m, o.cafile, o.cafile ? NULL : DEFAULT_CAPATH,
	    NULL, NULL, NULL);
	if (rc != MOSQ_ERR_SUCCESS)
		die(EXIT_USAGE, "TLS setup: %s", mosquitto_strerror(rc));
	mosquitto_connect_v5_callback_set(rx.m, on_connect);
	mosquitto_subscribe_v5_callback_set(rx.m, on_subscribe);
	mosquitto_message_v5_callback_set(rx.m, on_message);
	mosquitto_disconnect_v5_callback_set(rx.m, on_disconnect);
	if (verbose > 1)
		mosquitto_log_callback_set(rx.m, on_log);
	vlog("subscribing to %s", rx.topic);

	status = run(&rx);

	mosquitto_destroy(rx.m);
	mosquitto_lib_cleanup();
	free(rx.out);
	return status;
}
