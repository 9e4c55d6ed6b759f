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
 *
 * Reading until there is nothing left.  The library's own sign of an
 * empty socket, errno EAGAIN after a read, cannot be trusted here:
 * packet__queue() also writes one byte to an internal socketpair for
 * every packet it queues (threaded or not: a wake-up for
 * mosquitto_loop(), which we never call, so nobody reads it), and once a
 * few hundred PUBACKs have filled it, that write leaves EAGAIN after
 * every packet; loop_read itself then stops after one packet.  poll()
 * cannot see the bytes OpenSSL has already taken off the socket either
 * (a broker that packs several packets into one TLS record, as aedes
 * does): left there they would wait for the next traffic, the keep-alive
 * a minute later.  So pump() asks OpenSSL instead (more_to_read()).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/ssl.h>

#include "backoff.h"
#include "diag.h"
#include "exits.h"
#include "io.h"
#include "metrics.h"
#include "num.h"
#include "recvmqtt.h"
#include "reply.h"
#include "stats.h"
#include "stop.h"
#include "vis.h"

#define KEEPALIVE	60		/* seconds */
#define RECEIVE_MAX	1000		/* MQTT 5 in-flight window we offer */
#define MAX_READS	64		/* packet reads per round before
					   writing */
#define OUT_FLUSH	(64 * 1024)	/* write the output buffer at this
					   size */
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
/*
 * An MQTT 5 connection closed by the broker after the TLS handshake and
 * before any CONNACK, this many times in a row: a broker that speaks
 * only MQTT 3.1.1 (RabbitMQ 3.10 closes at an MQTT 5 CONNECT without a
 * word).  One such close may be a hiccup; three are a refusal.
 */
#define V5_DROPS	3

/* Everything the callbacks share with the loop. */
struct rx {
	struct mosquitto *m;
	const struct recvmqtt_conf *o;
	int		version;	/* MQTT_PROTOCOL_V5 or _V311 */
	int64_t		deadline;	/* connecting: give up at this time */
	int		timed_out;	/* the last attempt ran out of time */
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
	uint64_t	kill_at;	/* test hook: SIGKILL
					   before this line */
	int		werr;		/* errno of a failed stdout write */
	int		done;		/* -n reached */
	int		refused;	/* the broker refused us for good */
	const char     *fail;		/* a local failure ended the run
					   ("out of memory", "poll"), with
					   failerr its errno: exit 75 */
	int		failerr;
	int		tls_up;		/* TLS handshake done since dial() */
	unsigned	v5_drops;	/* closed before CONNACK, in a row */
	int		online;		/* CONNACK accepted
					   since the last dial() */
	int64_t		online_ms;	/* when */
	int		session_present;	/* in that CONNACK */
	unsigned	quick_losses;	/* lost within TAKEOVER_MS, in a row */
	int		ever_online;
	int		more;		/* a round of reads ended with more
					   to read: poll without waiting */
	int		qos0_warned;
	uint64_t	stat_lines;	/* rx->lines when the stats
					   were shown */
	int64_t		stat_ms;	/* and when */
	const char     *temp_refusal;	/* CONNACK reason worth a retry */
	struct stats	st;
	struct health	h;		/* notify, stats line, --metrics */
	uint64_t	bytes, written;	/* payload bytes, stdout bytes */
	uint64_t	retries, connects;
	double		last_ack;	/* Unix time of the broker's last */
	double		newest, lag;	/* the last line's time, and lag */
};

/* ---- pure helpers (unit-tested) ---- */

int
recvmqtt_channels_ok(const char *s)
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

int
recvmqtt_group_ok(const char *s)
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

	if (size == 0 || channels == NULL || !recvmqtt_channels_ok(channels) ||
	    (share != NULL && !recvmqtt_group_ok(share)) ||
	    (sticky && share == NULL) || (filter != NULL && *filter == '\0')) {
		errno = EINVAL;
		return -1;
	}
	buf[0] = '\0';
	if (share != NULL && (put(buf, size, &off, "$share/", 7) == -1 ||
	    put(buf, size, &off, share, strlen(share)) == -1 ||
	    (sticky && put(buf, size, &off, ":6", 2) == -1) ||
	    put(buf, size, &off, "/", 1) == -1))
		goto toolong;
	if (filter != NULL &&
	    (put(buf, size, &off, "$filter/payload=", 16) == -1 ||
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

/*
 * Room for n more bytes and a newline in the output buffer.  Returns 0,
 * or -1 (out of memory) with the run marked to end.
 */
static int
append(struct rx *rx, const char *p, size_t n)
{
	char *nb;
	size_t cap;

	if (rx->outlen + n + 1 > rx->outcap) {
		cap = rx->outcap ? rx->outcap : 65536;
		while (cap < rx->outlen + n + 1)
			cap *= 2;
		if ((nb = realloc(rx->out, cap)) == NULL) {
			rx->fail = "out of memory";
			rx->failerr = ENOMEM;
			return -1;
		}
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
	rx->bytes += n + 1;
	start = rx->outlen;
	if (append(rx, p, n) == -1) {
		/* Its PUBACK must not leave: the broker sends it again. */
		if (msg->qos > 0)
			rx->unacked_skips++;
		return;
	}
	/* Compact the line in place; its newline follows. */
	rx->outlen = start + reply_compact(rx->out + start, n);
	rx->out[rx->outlen++] = '\n';
}

/* The last buffered line's time, for the lag (health.h). */
static void
newest(struct rx *rx)
{
	double t;

	if ((t = metrics_last_stamp(rx->out, rx->outlen)) > 0) {
		rx->newest = t;
		rx->lag = health_wall() - t;
	}
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
	newest(rx);
	if (write_all(STDOUT_FILENO, rx->out, rx->outlen, &done) == -1) {
		rx->written += done;
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
	rx->written += rx->outlen;
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
		if (temporary_refusal(rx->version, rc)) {
			rx->temp_refusal = reason(rx->version, rc);
			return;		/* run() reports it and retries */
		}
		if (rx->version == MQTT_PROTOCOL_V5 &&
		    rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION)
			xwarn("broker refused the connection: %s (a broker "
			    "that speaks only MQTT 3.1.1? try --mqtt-version "
			    "3.1.1)", reason(rx->version, rc));
		else if (rx->version != MQTT_PROTOCOL_V5 &&
		    rc == CONNACK_REFUSED_PROTOCOL_VERSION)
			xwarn("broker refused the connection: %s (try "
			    "--mqtt-version 5)", reason(rx->version, rc));
		else
			xwarn("broker refused the connection: %s (check the "
			    "token)", reason(rx->version, rc));
		rx->refused = 1;
		return;
	}
	rx->online = rx->ever_online = 1;
	rx->online_ms = mono_ms();
	rx->connects++;
	rx->last_ack = health_wall();
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
		    rx->version == MQTT_PROTOCOL_V5 ?
		    mosquitto_reason_string(granted[0]) : "not authorised");
		rx->refused = 1;
		return;
	}
	rx->last_ack = health_wall();
	/* Subscribed: the first round trip is done (health.h). */
	health_ready(&rx->h);
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
	rx->last_ack = health_wall();
	if (rx->done || rx->werr || rx->refused || rx->fail) {
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
		vlog("disconnected: %s",
		    rc ? mosquitto_strerror(rc) : "as asked");
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
	stats_show(&rx->st, "%llu message%s, %.0f msg/s%s",
	    (unsigned long long)rx->lines, plural(rx->lines),
	    (double)(rx->lines - rx->stat_lines) * 1000.0 /
	    (double)(now - rx->stat_ms + 1),
	    rx->online ? "" : ", connecting");
	rx->stat_lines = rx->lines;
	rx->stat_ms = now;
}

/* The bytes OpenSSL has read from the connection's socket so far. */
static unsigned long
bytes_read(struct mosquitto *m)
{
	SSL *ssl = mosquitto_ssl_get(m);
	BIO *bio = ssl != NULL ? SSL_get_rbio(ssl) : NULL;

	return bio != NULL ? (unsigned long)BIO_number_read(bio) : 0;
}

/*
 * After a mosquitto_loop_read() that began when bytes_read() said
 * before: may there be more to read at once?  Yes while OpenSSL holds
 * decrypted bytes not yet read (SSL_pending), or when that read took
 * bytes from the socket (more may be behind them); no once a read found
 * the socket empty (a record still incomplete included: poll() sees its
 * rest arrive).  See the top of the file for why errno cannot tell.
 */
static int
more_to_read(struct mosquitto *m, unsigned long before)
{
	SSL *ssl = mosquitto_ssl_get(m);

	if (ssl == NULL)
		return 0;
	return SSL_pending(ssl) > 0 || bytes_read(m) != before;
}

/* True once the connection's TLS handshake is over. */
static int
tls_finished(struct mosquitto *m)
{
	SSL *ssl = mosquitto_ssl_get(m);

	return ssl != NULL && SSL_is_init_finished(ssl);
}

/* Why pump() returned. */
enum { P_STOP, P_LOST };

/*
 * Serve one connection until it is lost (P_LOST, *rc says why) or we are
 * to stop (P_STOP: signal, -n reached, write error, refusal, a local
 * failure).
 */
static int
pump(struct rx *rx, int *rc)
{
	struct pollfd pfd[2];
	int64_t left;
	unsigned long before;
	int i, n, wait;

	*rc = MOSQ_ERR_SUCCESS;
	/*
	 * stdout too, with no events: a pipe whose reader has gone reports
	 * POLLERR, so we stop at once instead of at the next message.
	 */
	pfd[1].fd = STDOUT_FILENO;
	pfd[1].events = 0;
	for (;;) {
		if (stop_requested)
			health_stopping(&rx->h);
		if (stop_requested || rx->done || rx->werr || rx->refused ||
		    rx->fail)
			return P_STOP;
		if ((pfd[0].fd = mosquitto_socket(rx->m)) < 0) {
			*rc = MOSQ_ERR_NO_CONN;
			return P_LOST;
		}
		/* The handshake may even be over when dial() returns. */
		if (!rx->tls_up)
			rx->tls_up = tls_finished(rx->m);
		pfd[0].events = POLLIN;
		if (mosquitto_want_write(rx->m))
			pfd[0].events |= POLLOUT;
		pfd[0].revents = pfd[1].revents = 0;
		wait = rx->more ? 0 : 1000;
		if (health_timeout(&rx->h, mono_ms()) < wait)
			wait = health_timeout(&rx->h, mono_ms());
		if (!rx->online) {
			if ((left = rx->deadline - mono_ms()) <= 0) {
				rx->timed_out = 1;
				*rc = MOSQ_ERR_NO_CONN;
				return P_LOST;
			}
			if (left < wait)
				wait = (int)left;
		}
		n = poll(pfd, 2, wait);
		if (n == -1 && errno != EINTR) {
			rx->fail = "poll";
			rx->failerr = errno;
			return P_STOP;
		}
		if (n > 0 && (pfd[1].revents & POLLERR)) {
			rx->werr = EPIPE;
			return P_STOP;
		}
		if (rx->more || (n > 0 &&
		    (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))) {
			/*
			 * Read until nothing is left (or MAX_READS, then come
			 * back without waiting), so that the lines of a burst
			 * leave in one write.
			 */
			rx->more = 0;
			for (i = 0; i < MAX_READS; i++) {
				before = bytes_read(rx->m);
				*rc = mosquitto_loop_read(rx->m, 1);
				if (*rc != MOSQ_ERR_SUCCESS)
					break;
				if (!rx->tls_up)
					rx->tls_up = tls_finished(rx->m);
				if (rx->done || rx->werr || rx->refused ||
				    rx->fail || !more_to_read(rx->m, before))
					break;
			}
			rx->more = i == MAX_READS;
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
		health_tick(&rx->h, mono_ms());
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
		vlog("closing without acknowledging the last %llu message%s",
		    (unsigned long long)rx->unacked_skips,
		    plural(rx->unacked_skips));
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

/* SIGALRM only interrupts a blocking connect(2): see dial(). */
static void
onalarm(int sig)
{
	(void)sig;
}

static void
alarm_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = onalarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: connect(2) returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
}

/* Arm SIGALRM in ms milliseconds and every 100 ms after that; 0 disarms. */
static void
alarm_ms(int64_t ms)
{
	struct itimerval it;

	memset(&it, 0, sizeof it);
	if (ms > 0) {
		it.it_value.tv_sec = ms / 1000;
		it.it_value.tv_usec = (ms % 1000) * 1000;
		it.it_interval.tv_usec = 100000;
	}
	setitimer(ITIMER_REAL, &it, NULL);
}

/*
 * Start a connection: --connect-timeout counts from here to CONNACK.
 * libmosquitto's connect(2) blocks (then the socket turns non-blocking
 * for TLS and CONNECT, which pump() bounds by rx->deadline): a repeating
 * SIGALRM from the deadline on makes it, and the connect to each further
 * address of the name, return EINTR.
 */
static int
dial(struct rx *rx)
{
	mosquitto_property *props = NULL;
	int rc, err;

	if (rx->version == MQTT_PROTOCOL_V5 && rx->o->session &&
	    mosquitto_property_add_int32(&props,
	    MQTT_PROP_SESSION_EXPIRY_INTERVAL, (uint32_t)rx->o->expiry) !=
	    MOSQ_ERR_SUCCESS)
		return MOSQ_ERR_NOMEM;
	rx->online = 0;
	rx->more = 0;
	rx->tls_up = 0;
	rx->temp_refusal = NULL;
	rx->timed_out = 0;
	rx->deadline = mono_ms() + rx->o->connect_ms;
	alarm_ms(rx->o->connect_ms);
	rc = mosquitto_connect_bind_v5(rx->m, rx->o->host, rx->o->port,
	    KEEPALIVE, NULL, props);
	err = errno;
	alarm_ms(0);
	mosquitto_property_free_all(&props);
	if (rc != MOSQ_ERR_SUCCESS && mono_ms() >= rx->deadline)
		rx->timed_out = 1;
	errno = err;
	return rc;
}

/*
 * Did the broker close this MQTT 5 attempt after the TLS handshake and
 * before any CONNACK (rc and err as the attempt ended)?  OpenSSL reports
 * a close without TLS close_notify as an error (errno EPROTO).
 */
static int
dropped(const struct rx *rx, int rc, int err)
{
	if (rx->version != MQTT_PROTOCOL_V5 || !rx->tls_up || rx->online ||
	    rx->timed_out || rx->temp_refusal != NULL)
		return 0;
	return rc == MOSQ_ERR_CONN_LOST || (rc == MOSQ_ERR_ERRNO &&
	    (err == ECONNRESET || err == EPIPE || err == EPROTO));
}

/* Why a connection failed, without the library's final full stop. */
static const char *
why(struct rx *rx, int rc, int err)
{
	static char buf[256];
	size_t n;

	if (rx->timed_out)
		snprintf(buf, sizeof buf, "not connected within %.1f s "
		    "(--connect-timeout)", rx->o->connect_ms / 1000.0);
	else if (rx->temp_refusal)
		snprintf(buf, sizeof buf, "broker refused the connection: %s",
		    rx->temp_refusal);
	else if (dropped(rx, rc, err))
		snprintf(buf, sizeof buf, "the broker closed the connection "
		    "before CONNACK (a broker that speaks only MQTT 3.1.1 "
		    "does that to MQTT 5: try --mqtt-version 3.1.1)");
	else
		snprintf(buf, sizeof buf, "%s", rc == MOSQ_ERR_ERRNO ?
		    strerror(err) : mosquitto_strerror(rc));
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '.')
		buf[n - 1] = '\0';
	return buf;
}

/*
 * Sleep ms before reconnecting, the health ticks going on; a stop
 * request ends it early.
 */
static void
snooze(struct rx *rx, unsigned ms)
{
	if (health_sleep(&rx->h, ms, -1) == -1) {
		rx->fail = "poll";
		rx->failerr = errno;
	}
}

/* The figures (health.h). */
static void
figures(void *arg, struct figures *g)
{
	struct rx *rx = arg;

	g->delivered = rx->lines;
	g->rejected = rx->bad;
	g->read = rx->lines + rx->pending + rx->bad;
	g->read_bytes = rx->bytes;
	g->sent_bytes = (int64_t)rx->written;
	g->retries = (int64_t)rx->retries;
	g->connects = (int64_t)rx->connects;
	g->connections = rx->online;
	g->inflight = (int64_t)rx->pending;
	g->last_ack = rx->last_ack;
	g->newest = rx->newest;
	g->lag = rx->lag;
}

/* Connect, serve, reconnect with backoff.  Returns the exit status. */
static int
run(struct rx *rx)
{
	struct backoff bo;
	long long failures = 0;
	unsigned delay;
	int rc, r, err, status = EXIT_OK;
	char who[300], msg[900];

	backoff_init(&bo, (unsigned)rx->o->retry_wait_ms, 30000, 0);
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
		if (!dropped(rx, rc, err))
			rx->v5_drops = 0;
		else if (++rx->v5_drops >= V5_DROPS) {
			stats_end(&rx->st);
			xwarn("%s:%d: the broker closed the connection before "
			    "CONNACK %d times in a row: it does not speak MQTT "
			    "5? try --mqtt-version 3.1.1", rx->o->host,
			    rx->o->port, V5_DROPS);
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
			xwarn("--session %s: taken over %u times in a row, "
			    "each time within %d s of connecting: another "
			    "client is using this session; giving up",
			    rx->o->session, rx->quick_losses,
			    TAKEOVER_MS / 1000);
			rx->refused = 1;
			break;
		}
		failures++;
		stats_end(&rx->st);
		if (rx->o->retries >= 0 && failures > rx->o->retries) {
			snprintf(who, sizeof who, "%s:%d", rx->o->host,
			    rx->o->port);
			xwarn("%s", giveup_text(msg, sizeof msg, who,
			    failures - 1, why(rx, rc, err)));
			status = EXIT_TEMPFAIL;
			break;
		}
		delay = backoff_next(&bo);
		rx->retries++;
		xwarn("%s:%d: %s; retry %lld in %u ms", rx->o->host,
		    rx->o->port, why(rx, rc, err), failures, delay);
		snooze(rx, delay);
		if (rx->fail != NULL)
			break;
		if (stop_requested)
			break;
	}
	leave(rx);
	/* The totals (stats.h says where they show). */
	if (rx->bad > 0)
		stats_total(&rx->st, "%llu message%s written, %llu skipped "
		    "(not a JSON object)", (unsigned long long)rx->lines,
		    plural(rx->lines), (unsigned long long)rx->bad);
	else
		stats_total(&rx->st, "%llu message%s written",
		    (unsigned long long)rx->lines, plural(rx->lines));
	if (status != EXIT_OK)
		return status;
	if (rx->fail != NULL) {
		xwarn("%s: %s", rx->fail, strerror(rx->failerr));
		return EXIT_TEMPFAIL;
	}
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
recvmqtt_run(const struct recvmqtt_conf *o, char *token)
{
	struct rx rx;
	char id[64];
	const char *hook;
	long long k;
	int rc, status;

	memset(&rx, 0, sizeof rx);
	rx.o = o;
	rx.version = o->mqtt5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311;
	if (recvmqtt_topic(rx.topic, sizeof rx.topic, o->channels, o->share,
	    o->sticky, o->filter) == -1) {
		explicit_bzero(token, strlen(token));
		xwarn("the subscription topic is too long");
		return EXIT_USAGE;
	}
	if ((hook = getenv(KILL_HOOK)) != NULL && *hook != '\0' &&
	    parse_ll(hook, 1, LLONG_MAX, &k) == 0)
		rx.kill_at = (uint64_t)k;

	stop_install();
	alarm_install();
	stats_init(&rx.st, o->quiet, 1);
	health_init(&rx.h, &o->health, figures, &rx);
	mosquitto_lib_init();
	if (o->session == NULL)
		random_id(id, sizeof id);
	rx.m = mosquitto_new(o->session ? o->session : id, o->session == NULL,
	    &rx);
	if (rx.m == NULL) {
		explicit_bzero(token, strlen(token));
		xwarnerr("mosquitto_new");
		return EXIT_TEMPFAIL;
	}
	/* Only to keep PUBACKs queued until our loop_write: see the top. */
	mosquitto_threaded_set(rx.m, true);
	mosquitto_int_option(rx.m, MOSQ_OPT_PROTOCOL_VERSION, rx.version);
	/*
	 * No TCP_NODELAY: with Nagle the PUBACKs of a burst share segments
	 * (the benchmark drains 10-40 % faster); a line reaches stdout before
	 * its PUBACK is even queued, so this costs no output latency.
	 */
	if (rx.version == MQTT_PROTOCOL_V5)
		mosquitto_int_option(rx.m, MOSQ_OPT_RECEIVE_MAXIMUM,
		    RECEIVE_MAX);
	rc = mosquitto_username_pw_set(rx.m, token, NULL);
	/* libmosquitto keeps its own copy for reconnecting; ours goes now. */
	explicit_bzero(token, strlen(token));
	if (rc != MOSQ_ERR_SUCCESS) {
		xwarn("out of memory");
		status = EXIT_TEMPFAIL;
		goto out;
	}
	rc = mosquitto_tls_set(rx.m, o->cafile, o->cafile ? NULL :
	    RECVMQTT_CAPATH, NULL, NULL, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		xwarn("TLS setup: %s", mosquitto_strerror(rc));
		status = EXIT_USAGE;
		goto out;
	}
	mosquitto_connect_v5_callback_set(rx.m, on_connect);
	mosquitto_subscribe_v5_callback_set(rx.m, on_subscribe);
	mosquitto_message_v5_callback_set(rx.m, on_message);
	mosquitto_disconnect_v5_callback_set(rx.m, on_disconnect);
	if (verbose > 1)
		mosquitto_log_callback_set(rx.m, on_log);
	vlog("subscribing to %s", rx.topic);

	status = run(&rx);
out:
	health_end(&rx.h);
	mosquitto_destroy(rx.m);
	mosquitto_lib_cleanup();
	free(rx.out);
	return status;
}
