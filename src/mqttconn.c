/*
 * One MQTT connection, and the sharded transport of the core (see
 * mqttconn.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netdb.h>
#include <sys/socket.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "diag.h"
#include "exits.h"
#include "io.h"
#include "mqttconn.h"

#define EARLY_CLOSES	3	/* closed before CONNACK this often: refused */
#define DRY_LOSSES	3	/* lost this often without a PUBACK: refused */

/* CONNACK refusals worth retrying: the broker is there but busy. */
static int
retryable_connack(const struct mconn *c, int rc)
{
	if (!c->cf->mqtt5)
		return rc == CONNACK_REFUSED_SERVER_UNAVAILABLE;
	return rc == MQTT_RC_SERVER_UNAVAILABLE || rc == MQTT_RC_SERVER_BUSY ||
	    rc == MQTT_RC_QUOTA_EXCEEDED ||
	    rc == MQTT_RC_CONNECTION_RATE_EXCEEDED;
}

/*
 * A CONNACK refusal in words.  A broker that speaks 3.1.1 only answers
 * an MQTT 5 CONNECT with 3.1.1's "unacceptable protocol version" (1),
 * which the library reads as an MQTT 5 reason code.
 */
static const char *
connack_text(const struct mconn *c, int rc, char *buf, size_t bufsz)
{
	if (c->cf->mqtt5 && (rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION ||
	    rc == CONNACK_REFUSED_PROTOCOL_VERSION))
		snprintf(buf, bufsz, "unsupported protocol version: the "
		    "broker may speak MQTT 3.1.1 only (try --mqtt-version "
		    "3.1.1)");
	else
		snprintf(buf, bufsz, "%s%s", c->cf->mqtt5 ?
		    mosquitto_reason_string(rc) : mosquitto_connack_string(rc),
		    (c->cf->mqtt5 ? rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD ||
		    rc == MQTT_RC_NOT_AUTHORIZED : rc ==
		    CONNACK_REFUSED_BAD_USERNAME_PASSWORD ||
		    rc == CONNACK_REFUSED_NOT_AUTHORIZED) ? " (are the user "
		    "name, the password and the certificate right?)" : "");
	return buf;
}

/* The peer's words for a refusal, or any broker's (dflt). */
#define WORDS(c, member, dflt) ((c)->cf->words != NULL && \
	(c)->cf->words->member != NULL ? (c)->cf->words->member : (dflt))

/* Pop acknowledged entries off the head of the ring. */
static void
pop_acked(struct mconn *c)
{
	while (c->count > 0 && c->ring[c->head].acked) {
		c->head = (c->head + 1) % c->cf->window;
		c->count--;
	}
}

static void
on_connect(struct mosquitto *mosq, void *arg, int rc, int flags,
    const mosquitto_property *props)
{
	struct mconn *c = arg;
	int64_t now = mono_ms();
	uint16_t rmax = 0;
	unsigned i;

	(void)mosq;
	(void)flags;
	if (rc != 0) {
		c->connack_rc = rc;
		return;
	}
	c->state = MC_UP;
	/*
	 * MQTT 5: the broker's Receive Maximum caps what is in flight (the
	 * library takes it for its own window even when it is larger than
	 * ours: ours stays the lower of the two).
	 */
	c->win = c->cf->window;
	if (props != NULL && mosquitto_property_read_int16(props,
	    MQTT_PROP_RECEIVE_MAXIMUM, &rmax, false) != NULL && rmax > 0 &&
	    rmax < c->win) {
		c->win = rmax;
		vlog("%s: the broker's receive maximum is %u: %u in flight",
		    c->id, (unsigned)rmax, c->win);
	}
	if (c->fails > 0 && !verbose)
		xwarn("%s: connected to %s port %d after %u failed attempt%s",
		    c->id, c->cf->host, c->cf->port, c->fails,
		    c->fails == 1 ? "" : "s");
	c->fails = 0;
	c->early_closes = 0;
	c->acked_at_connack = c->acked + c->rejected;
	c->connects++;
	backoff_reset(&c->bo);
	/* Resent messages get a fresh watchdog period. */
	for (i = 0; i < c->count; i++)
		c->ring[(c->head + i) % c->cf->window].sent_ms = now;
	vlog("%s: connected to %s port %d%s", c->id, c->cf->host, c->cf->port,
	    c->outstanding ? ", resending what was outstanding" : "");
}

static void
on_publish(struct mosquitto *mosq, void *arg, int mid, int reason,
    const mosquitto_property *props)
{
	struct mconn *c = arg;
	struct outmsg *e;
	unsigned i;

	(void)mosq;
	(void)props;
	for (i = 0; i < c->count; i++) {
		e = &c->ring[(c->head + i) % c->cf->window];
		if (e->acked || e->mid != mid)
			continue;
		e->acked = 1;
		c->outstanding--;
		c->stalls = 0;
		if (reason >= 0x80) {
			/*
			 * MQTT 5: the broker took the message and refused it.
			 */
			char why[200];

			c->rejected++;
			snprintf(why, sizeof why,
			    "%s: the broker refused it: %s", c->id,
			    mosquitto_reason_string(reason));
			fwd_done(c->cf->core, e->m, FWD_REJECTED, why);
		} else {
			c->acked++;
			fwd_done(c->cf->core, e->m, FWD_ACKED, NULL);
		}
		e->m = NULL;
		pop_acked(c);
		return;
	}
}

static void
on_log(struct mosquitto *mosq, void *arg, int level, const char *msg)
{
	struct mconn *c = arg;

	(void)mosq;
	if (level == MOSQ_LOG_ERR)
		snprintf(c->lastlog, sizeof c->lastlog, "%s", msg);
	if (verbose > 1)
		xwarn("%s: libmosquitto: %s", c->id, msg);
}

/*
 * MQTT 5 ends a session when the connection closes unless CONNECT asks
 * for a Session Expiry Interval: "never" here, as a 3.1.1 session.
 * libmosquitto 2.0 has no asynchronous connect that takes CONNECT
 * properties; its blocking one keeps them for every later connect, even
 * the asynchronous ones, and stores them before it checks its host and
 * port: an impossible port makes it return there, connecting nothing.
 * Returns 0, or -1.
 */
static int
session_expiry(struct mosquitto *m)
{
	mosquitto_property *pr = NULL;
	int rc;

	if (mosquitto_property_add_int32(&pr,
	    MQTT_PROP_SESSION_EXPIRY_INTERVAL, UINT32_MAX) != MOSQ_ERR_SUCCESS)
		return -1;
	rc = mosquitto_connect_bind_v5(m, "", -1, 60, NULL, pr);
	mosquitto_property_free_all(&pr);
	return rc == MOSQ_ERR_INVAL ? 0 : -1;
}

/*
 * TLS, always verifying the broker's certificate and name: with the CA
 * file or directory given, else with the system's store (OpenSSL's
 * default file, or its directory; SSL_CERT_FILE and SSL_CERT_DIR as
 * OpenSSL reads them).  A CA file rather than only "the OS certificates":
 * libmosquitto 2.0.11 loses the latter when it reconnects.  Returns 0,
 * or -1 with why.
 */
static int
tls_setup(struct mconn *c)
{
	const struct mconf *cf = c->cf;
	const char *file = cf->cafile, *dir = cf->capath, *e;
	int rc;

	if (file == NULL && dir == NULL) {
		if ((e = getenv(X509_get_default_cert_file_env())) != NULL &&
		    *e != '\0')
			file = e;
		else if (access(X509_get_default_cert_file(), R_OK) == 0)
			file = X509_get_default_cert_file();
		if ((e = getenv(X509_get_default_cert_dir_env())) != NULL &&
		    *e != '\0')
			dir = e;
		else if (file == NULL)
			dir = X509_get_default_cert_dir();
	}
	rc = mosquitto_tls_set(c->mosq, file, dir, cf->cert, cf->key, NULL);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_tls_opts_set(c->mosq, SSL_VERIFY_PEER, "tlsv1.2",
		    NULL);
	if (rc == MOSQ_ERR_SUCCESS && cf->alpn != NULL)
		rc = mosquitto_string_option(c->mosq, MOSQ_OPT_TLS_ALPN,
		    cf->alpn);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(c->why, sizeof c->why, "cannot set up TLS: %s",
		    mosquitto_strerror(rc));
		return -1;
	}
	return 0;
}

int
mc_init(struct mconn *c, const struct mconf *cf, const char *id)
{
	struct mosquitto *m;
	int rc;

	memset(c, 0, sizeof *c);
	c->cf = cf;
	snprintf(c->id, sizeof c->id, "%s", id);
	c->state = MC_IDLE;
	c->win = cf->window;
	backoff_init(&c->bo, cf->retry_wait_ms, 30000, 0);
	tb_init(&c->tb, cf->rate, cf->burst, mono_ms());
	if ((c->ring = calloc(cf->window, sizeof *c->ring)) == NULL ||
	    (c->mosq = m = mosquitto_new(c->id, !cf->persistent, c)) ==
	    NULL) {
		snprintf(c->why, sizeof c->why, "out of memory");
		return -1;
	}
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION,
	    cf->mqtt5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	/* The library's own window, never above ours (MQTT 5 may raise it). */
	mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, (int)cf->window);
	mosquitto_max_inflight_messages_set(m, cf->window);
	/* Nagle would hold back the tail of a burst of publishes. */
	mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
	if (cf->user != NULL && (rc = mosquitto_username_pw_set(m, cf->user,
	    cf->password)) != MOSQ_ERR_SUCCESS) {
		snprintf(c->why, sizeof c->why, "user name or password: %s",
		    mosquitto_strerror(rc));
		return -1;
	}
	if (cf->mqtt5 && cf->persistent && session_expiry(m) == -1) {
		snprintf(c->why, sizeof c->why, "cannot ask for a persistent "
		    "MQTT 5 session");
		return -1;
	}
	if (cf->tls && tls_setup(c) == -1)
		return -1;
	mosquitto_connect_v5_callback_set(m, on_connect);
	mosquitto_publish_v5_callback_set(m, on_publish);
	return 0;
}

void
mc_free(struct mconn *c)
{
	if (c->mosq != NULL)
		mosquitto_destroy(c->mosq);
	c->mosq = NULL;
	free(c->ring);
	c->ring = NULL;
}

static void
fatal(struct mconn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fatal(struct mconn *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
	c->fatal = code;
	c->state = MC_IDLE;
	c->retry_at = INT64_MAX;
}

/*
 * Schedule the next attempt after a failure (what says which, naming the
 * host and port), and say so on stderr as the other tools do: every
 * failed attempt with its retry number and delay, every lost connection;
 * quiet (-v only) when we chose to reconnect ourselves.
 */
static void
retry_later(struct mconn *c, int64_t now, const char *what, int quiet)
{
	unsigned d;

	c->state = MC_IDLE;
	if (c->cf->retries >= 0 && c->fails > c->cf->retries) {
		char msg[sizeof c->why];

		fatal(c, EXIT_TEMPFAIL, "%s", giveup_text(msg, sizeof msg,
		    c->id, (long long)c->fails - 1, what));
		return;
	}
	d = backoff_next(&c->bo);
	c->retry_at = now + d;
	if (quiet)
		vlog("%s: %s; reconnecting in %u ms", c->id, what, d);
	else if (c->fails > 0)
		xwarn("%s: %s; retry %u in %u ms", c->id, what, c->fails, d);
	else
		xwarn("%s: %s; reconnecting in %u ms", c->id, what, d);
}

static const char *
errtext(const struct mconn *c, int rc, int err, char *buf, size_t bufsz)
{
	if (rc == MOSQ_ERR_ERRNO)
		snprintf(buf, bufsz, "%s", strerror(err));
	else if (rc == MOSQ_ERR_TLS && c->lastlog[0])
		snprintf(buf, bufsz, "%s", c->lastlog);
	else if (rc == MOSQ_ERR_EAI)
		snprintf(buf, bufsz, "the name does not resolve");
	else
		snprintf(buf, bufsz, "%s", mosquitto_strerror(rc));
	return buf;
}

/*
 * The connection failed or was lost (rc from libmosquitto, which has
 * closed the socket).  Before CONNACK it is a failed attempt: a TLS
 * failure or a CONNACK refusal means the peer refused us (exit 69, no
 * retry: a rejected certificate stays rejected); anything else (refused
 * or reset TCP, timeout, DNS) means the broker is down: retry.
 */
static void
lost(struct mconn *c, int rc, int err, int64_t now)
{
	char buf[300], what[400];
	int was = c->state;

	c->state = MC_IDLE;
	errtext(c, rc, err, buf, sizeof buf);
	if (was == MC_UP) {
		c->reconnects++;
		/*
		 * AWS closes the connection on a publish its policy denies;
		 * the library would resend it after every reconnect, for
		 * ever.  Lost again and again with messages outstanding and
		 * not one PUBACK in between: the endpoint refuses them.
		 */
		if (c->outstanding > 0 && c->acked + c->rejected ==
		    c->acked_at_connack) {
			if (++c->dry_losses >= DRY_LOSSES) {
				fatal(c, EXIT_REFUSED, "%s: %s port %d closed "
				    "the connection %d times in a row without "
				    "acknowledging anything: %s (%s)",
				    c->id, c->cf->host, c->cf->port,
				    DRY_LOSSES, WORDS(c, closed_publish,
				    "may this client publish to these "
				    "topics?"), buf);
				return;
			}
		} else {
			c->dry_losses = 0;
		}
		snprintf(what, sizeof what, "connection to %s port %d lost: %s",
		    c->cf->host, c->cf->port, buf);
		retry_later(c, now, what, 0);
		return;
	}
	c->fails++;
	if (c->connack_rc != 0) {
		rc = c->connack_rc;
		c->connack_rc = 0;
		snprintf(what, sizeof what, "connection refused by %s port %d: "
		    "%s", c->cf->host, c->cf->port, connack_text(c, rc, buf,
		    sizeof buf));
		if (retryable_connack(c, rc))
			retry_later(c, now, what, 0);
		else
			fatal(c, EXIT_REFUSED, "%s: %s", c->id, what);
		return;
	}
	/*
	 * libmosquitto says MOSQ_ERR_TLS when our side rejects the handshake
	 * (the endpoint's certificate does not verify) and ERRNO/EPROTO when
	 * an OpenSSL error ends it on a read (the endpoint sent an alert:
	 * our certificate is not accepted).
	 */
	if (rc == MOSQ_ERR_TLS || (rc == MOSQ_ERR_ERRNO && err == EPROTO)) {
		/*
		 * A broker going down in the middle of the handshake ends it
		 * the same way (seen in scripts/soak): retried, and refused
		 * only when it happens EARLY_CLOSES times in a row.
		 */
		if (++c->early_closes < EARLY_CLOSES) {
			snprintf(what, sizeof what, "TLS handshake with %s "
			    "port %d failed: %s", c->cf->host, c->cf->port,
			    buf);
			retry_later(c, now, what, 0);
			return;
		}
		fatal(c, EXIT_REFUSED, "%s: TLS handshake with %s port %d "
		    "failed (certificate, key or CA file rejected): %s", c->id,
		    c->cf->host, c->cf->port, c->lastlog[0] ? c->lastlog :
		    WORDS(c, tls_refused, "the broker refused our "
		    "certificate, or asked for one"));
		return;
	}
	/*
	 * A peer that accepts TCP and then closes before CONNACK, time after
	 * time, refuses us too: it is how a rejected client certificate can
	 * look (the alert lost to a reset), and how AWS answers a CONNECT its
	 * policy does not allow.  A broker that is down refuses the TCP
	 * connection instead, which is retried without limit.
	 */
	if (rc == MOSQ_ERR_CONN_LOST || (rc == MOSQ_ERR_ERRNO &&
	    (err == ECONNRESET || err == EPIPE))) {
		if (++c->early_closes >= EARLY_CLOSES) {
			fatal(c, EXIT_REFUSED, "%s: %s port %d closed the "
			    "connection before CONNACK %d times in a row: %s",
			    c->id, c->cf->host, c->cf->port, EARLY_CLOSES,
			    WORDS(c, closed_connect, c->cf->mqtt5 ?
			    "not a broker, our certificate or client id not "
			    "accepted, or a broker that speaks MQTT 3.1.1 "
			    "only (try --mqtt-version 3.1.1)" :
			    "not a broker, or our certificate or client id "
			    "not accepted"));
			return;
		}
	} else {
		c->early_closes = 0;
	}
	snprintf(what, sizeof what, "cannot connect to %s port %d: %s",
	    c->cf->host, c->cf->port, buf);
	retry_later(c, now, what, 0);
}

/*
 * An errno that says why a connect(2) failed, as libmosquitto's first
 * TLS write can leave it (the write takes the socket's error, so that
 * SO_ERROR no longer has it); 0 for anything else.
 */
static int
connect_errno(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ECONNRESET:
	case ECONNABORTED:
	case ENETUNREACH:
	case ENETDOWN:
	case EHOSTUNREACH:
	case ETIMEDOUT:
	case EADDRNOTAVAIL:
	case EPIPE:
		return err;
	}
	return 0;
}

/* The socket's pending error (SO_ERROR), or 0. */
static int
sock_error(const struct mconn *c)
{
	int fd = mosquitto_socket(c->mosq), err = 0;
	socklen_t len = sizeof err;

	if (fd == -1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) ==
	    -1)
		return 0;
	return err;
}

/* True once the TLS handshake is over (or there is none). */
static int
tls_done(const struct mconn *c)
{
	SSL *ssl = mosquitto_ssl_get(c->mosq);

	return ssl == NULL || SSL_is_init_finished(ssl);
}

/*
 * Start a connection attempt without blocking: libmosquitto's async
 * connect returns with the TCP connect under way (only the name lookup
 * blocks, and a numeric or local name does not), and the TLS handshake
 * and CONNECT go on from mc_handle().  So several connections come up at
 * once, and one that cannot connect holds up no other; --connect-timeout
 * (c->deadline) bounds the whole of it, TCP connect included.
 */
static void
start(struct mconn *c, int64_t now)
{
	int rc, err;

	c->lastlog[0] = '\0';
	c->connack_rc = 0;
	/*
	 * The library's log explains TLS failures; only wanted while
	 * connecting.
	 */
	mosquitto_log_callback_set(c->mosq, on_log);
	errno = 0;
	if (!c->started)
		rc = mosquitto_connect_async(c->mosq, c->cf->host,
		    c->cf->port, c->cf->keepalive);
	else
		rc = mosquitto_reconnect_async(c->mosq);
	err = errno;
	c->started = 1;
	c->state = MC_CONNECTING;
	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_CONN_PENDING) {
		lost(c, rc, err, now);
		return;
	}
	c->deadline = now + c->cf->connect_timeout_ms;
	c->tcpwait = 1;
	c->connerr = connect_errno(err);
}

void
mc_prepare(struct mconn *c, int64_t now, struct pollfd *pfd, int *timeout_ms)
{
	int64_t t;
	int rc;

	pfd->fd = -1;
	pfd->events = 0;
	if (c->fatal)
		return;
	if (c->state == MC_IDLE && now >= c->retry_at)
		start(c, now);
	if (c->state == MC_CONNECTING && now >= c->deadline) {
		char what[300];

		c->fails++;
		c->state = MC_IDLE;
		snprintf(what, sizeof what, "cannot connect to %s port %d: no "
		    "CONNACK within %lld ms", c->cf->host, c->cf->port,
		    (long long)c->cf->connect_timeout_ms);
		retry_later(c, now, what, 0);
	}
	if (c->state == MC_UP && c->count > 0 &&
	    now - c->ring[c->head].sent_ms >= c->cf->ack_timeout_ms &&
	    !c->ring[c->head].acked) {
		/*
		 * AWS throttles by not answering: reconnect, which resends.
		 * A broker that never answers must not keep us at it for
		 * ever, though: each watchdog in a row without a PUBACK in
		 * between is a failed attempt for --retries.
		 */
		char what[200];

		snprintf(what, sizeof what, "no PUBACK for %.1f s (throttled, "
		    "or the broker does not answer)",
		    (now - c->ring[c->head].sent_ms) / 1000.0);
		mosquitto_disconnect(c->mosq);
		c->reconnects++;
		if (c->cf->retries >= 0 && ++c->stalls > c->cf->retries) {
			char msg[sizeof c->why];

			fatal(c, EXIT_TEMPFAIL, "%s", giveup_text(msg,
			    sizeof msg, c->id, c->cf->retries, what));
		} else {
			vlog("%s: %s: reconnecting", c->id, what);
			retry_later(c, now, "PUBACK watchdog", 1);
		}
	}
	if (c->state != MC_IDLE) {
		rc = mosquitto_loop_misc(c->mosq);
		if (rc != MOSQ_ERR_SUCCESS) {
			lost(c, rc, errno, now);
		}
	}
	if (c->fatal)
		return;
	if (c->state == MC_IDLE) {
		t = c->retry_at - now;
	} else {
		pfd->fd = mosquitto_socket(c->mosq);
		pfd->events = POLLIN;
		/*
		 * While the TLS handshake is under way the library may say
		 * it wants to write when it does not (a write tried before
		 * the TCP connect was complete): POLLOUT then would spin.
		 */
		if (mosquitto_want_write(c->mosq) && (c->state == MC_UP ||
		    c->tcpwait || tls_done(c)))
			pfd->events |= POLLOUT;
		t = 1000;	/* keepalive */
		if (c->state == MC_CONNECTING && c->deadline - now < t)
			t = c->deadline - now;
		if (c->state == MC_UP && c->count > 0) {
			int64_t w = c->ring[c->head].sent_ms +
			    c->cf->ack_timeout_ms - now;
			if (w < t)
				t = w;
		}
	}
	if (t < 0)
		t = 0;
	if (t < *timeout_ms)
		*timeout_ms = (int)t;
}

/*
 * Connecting: has the TCP connect failed?  Then say why (0 if not).  The
 * first event on the socket tells: writable once connected, POLLHUP or
 * POLLERR when refused (the reason in SO_ERROR, or taken from it by the
 * library's first write: c->connerr).
 */
static int
tcp_failed(struct mconn *c, short revents)
{
	int err;

	c->tcpwait = 0;
	if ((err = sock_error(c)) != 0)
		return err;
	if (revents & (POLLERR | POLLHUP))
		return c->connerr ? c->connerr : ECONNREFUSED;
	return 0;
}

/* How many addresses the endpoint's name has (a lookup, as the library's). */
static int
naddrs(const char *host)
{
	struct addrinfo hints, *res, *ai;
	int n = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return 0;
	for (ai = res; ai != NULL; ai = ai->ai_next)
		n++;
	freeaddrinfo(res);
	return n;
}

/*
 * The async connect tries the name's first address only (it does not
 * wait to see it fail).  When that one refused us and the name has more
 * (localhost as ::1 and 127.0.0.1, with the broker on one of them), the
 * library's blocking connect tries them all in turn, as before; a refusal
 * takes one round trip, so this blocks briefly, and only then.
 */
static void
try_every_address(struct mconn *c, int err, int64_t now)
{
	int rc;

	if (naddrs(c->cf->host) < 2) {
		lost(c, MOSQ_ERR_ERRNO, err, now);
		return;
	}
	vlog("%s: %s port %d, first address: %s; trying every address",
	    c->id, c->cf->host, c->cf->port, strerror(err));
	errno = 0;
	rc = mosquitto_reconnect(c->mosq);
	err = errno;
	if (rc != MOSQ_ERR_SUCCESS)
		lost(c, rc, err, now);
}

void
mc_handle(struct mconn *c, short revents, int64_t now)
{
	int rc, err;

	if (c->state == MC_IDLE || revents == 0)
		return;
	if (c->state == MC_CONNECTING && c->tcpwait &&
	    (err = tcp_failed(c, revents)) != 0) {
		try_every_address(c, err, now);
		return;
	}
	/*
	 * Connecting, any event may move the TLS handshake on: read drives
	 * it.
	 */
	if ((revents & (POLLIN | POLLERR | POLLHUP)) ||
	    c->state == MC_CONNECTING) {
		int was = c->state;

		errno = 0;
		rc = mosquitto_loop_read(c->mosq, 1);
		err = errno;
		if (rc != MOSQ_ERR_SUCCESS) {
			lost(c, rc, err, now);
			return;
		}
		/*
		 * A reset in the middle of the TLS handshake leaves the
		 * library waiting for more (it takes SSL_ERROR_SYSCALL for
		 * "try again"): a dead socket ends the attempt here.
		 */
		if (c->state == MC_CONNECTING && (revents & (POLLERR |
		    POLLHUP))) {
			if ((rc = sock_error(c)) != 0)
				err = rc;
			else if (connect_errno(err) == 0)
				err = ECONNRESET;
			lost(c, MOSQ_ERR_ERRNO, err, now);
			return;
		}
		/*
		 * Connected: stop the library's log, which formats a line
		 * (malloc, vsnprintf) for every packet, unless -vv wants it.
		 */
		if (was != MC_UP && c->state == MC_UP && verbose < 2)
			mosquitto_log_callback_set(c->mosq, NULL);
	}
	if ((revents & POLLOUT) || mosquitto_want_write(c->mosq)) {
		errno = 0;
		rc = mosquitto_loop_write(c->mosq, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			lost(c, rc, errno, now);
	}
}

int
mc_ready(struct mconn *c, int64_t now, int64_t *wait_ms)
{
	*wait_ms = -1;
	if (c->state != MC_UP || c->count >= c->win)
		return 0;
	/* QoS 0 has no window: stop while the socket cannot take more. */
	if (c->cf->qos == 0 && mosquitto_want_write(c->mosq))
		return 0;
	if (tb_take(&c->tb, now))
		return 1;
	*wait_ms = tb_wait_ms(&c->tb, now);
	return 0;
}

/*
 * The library did not take a publish: this message's fault (-1, why), or
 * the connection's (-2: fatal), when the broker's CONNACK said it takes
 * no such QoS or no retained messages.
 */
static int
cannot(struct mconn *c, int rc, char *why, size_t whysz)
{
	if (rc == MOSQ_ERR_QOS_NOT_SUPPORTED ||
	    rc == MOSQ_ERR_RETAIN_NOT_SUPPORTED) {
		fatal(c, EXIT_REFUSED, "%s: %s port %d %s", c->id, c->cf->host,
		    c->cf->port, rc == MOSQ_ERR_RETAIN_NOT_SUPPORTED ?
		    "takes no retained messages: drop --retain" :
		    "takes no QoS 1 publishes: try --qos 0");
		return -2;
	}
	snprintf(why, whysz, "cannot publish: %s", mosquitto_strerror(rc));
	return -1;
}

int
mc_publish(struct mconn *c, struct fwd_msg *m, int64_t now, char *why,
    size_t whysz)
{
	struct outmsg *e;
	const char *pl = m->line;
	size_t tl = strlen(m->tp), plen = m->len;
	int rc, mid = 0;

	if (m->tplen > tl) {
		pl = (const char *)m->tp + tl + 1;
		plen = m->tplen - tl - 1;
	}
	if (c->cf->qos == 0) {
		/* At most once: nothing to track. */
		rc = mosquitto_publish(c->mosq, &mid, m->tp, (int)plen, pl, 0,
		    c->cf->retain);
		if (rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_NO_CONN ||
		    rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO) {
			c->published++;
			c->acked += rc == MOSQ_ERR_SUCCESS;
			fwd_done(c->cf->core, m, FWD_ACKED, NULL);
			return 0;
		}
		return cannot(c, rc, why, whysz);
	}

	e = &c->ring[(c->head + c->count) % c->cf->window];
	e->acked = 0;
	e->mid = 0;
	e->sent_ms = now;
	e->m = m;
	c->count++;
	c->outstanding++;
	rc = mosquitto_publish(c->mosq, &e->mid, m->tp, (int)plen, pl, 1,
	    c->cf->retain);
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
	case MOSQ_ERR_NO_CONN:
	case MOSQ_ERR_CONN_LOST:
	case MOSQ_ERR_ERRNO:
		/* Queued by the library: it resends after a reconnect. */
		c->published++;
		return 0;
	}
	c->count--;
	c->outstanding--;
	e->m = NULL;
	return cannot(c, rc, why, whysz);
}

int
mc_flushed(struct mconn *c)
{
	return c->state != MC_UP || !mosquitto_want_write(c->mosq);
}

void
mc_disconnect(struct mconn *c)
{
	struct pollfd pfd;
	int64_t end = mono_ms() + 1000;

	if (c->state != MC_IDLE && mosquitto_disconnect(c->mosq) ==
	    MOSQ_ERR_SUCCESS) {
		/* Let DISCONNECT (and anything queued before it) go out. */
		while (mosquitto_want_write(c->mosq) && mono_ms() < end) {
			pfd.fd = mosquitto_socket(c->mosq);
			pfd.events = POLLOUT;
			if (pfd.fd == -1 || poll(&pfd, 1, 100) == -1 ||
			    mosquitto_loop_write(c->mosq, 1) !=
			    MOSQ_ERR_SUCCESS)
				break;
		}
	}
	c->state = MC_IDLE;
	c->retry_at = INT64_MAX;
}

uint64_t
mc_drop_outstanding(struct mconn *c)
{
	struct outmsg *e;
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < c->count; i++) {
		e = &c->ring[(c->head + i) % c->cf->window];
		if (e->acked)
			continue;
		e->m = NULL;
		e->acked = 1;
		n++;
	}
	c->count = c->outstanding = 0;
	return n;
}

/* ---- the transport: connections sharded by device ---- */

int
mqt_init(struct mqt *t, const struct mconf *cf, unsigned nconns,
    const char *base, char *why, size_t whysz)
{
	char id[140];
	unsigned i;

	memset(t, 0, sizeof *t);
	t->cf = *cf;
	if (nconns < 1 || nconns > MQT_CONNS_MAX) {
		snprintf(why, whysz, "1 to %d connections", MQT_CONNS_MAX);
		return -1;
	}
	for (i = 0; i < nconns; i++) {
		if (nconns > 1)
			snprintf(id, sizeof id, "%.*s-%u", 124, base, i);
		else
			snprintf(id, sizeof id, "%s", base);
		t->n = i + 1;
		if (mc_init(&t->c[i], &t->cf, id) == -1) {
			snprintf(why, whysz, "%s", t->c[i].why);
			return -1;
		}
	}
	return 0;
}

void
mqt_free(struct mqt *t)
{
	unsigned i;

	for (i = 0; i < t->n; i++)
		mc_free(&t->c[i]);
	t->n = 0;
}

/* FNV-1a: a stable hash, so a device always maps to the same connection. */
static struct mconn *
route(struct mqt *t, const char *uid)
{
	uint32_t h = 2166136261u;

	while (*uid)
		h = (h ^ (unsigned char)*uid++) * 16777619u;
	return &t->c[h % t->n];
}

static int
q_ready(void *arg, const struct fwd_msg *m, int64_t now, int64_t *wait_ms)
{
	return mc_ready(route(arg, m->uid), now, wait_ms);
}

static void
q_send(void *arg, struct fwd_msg *m, int64_t now)
{
	char why[200];

	/* -2: the connection is fatal, and the core keeps m. */
	if (mc_publish(route(arg, m->uid), m, now, why, sizeof why) == -1)
		fwd_done(((struct mqt *)arg)->cf.core, m, FWD_REJECTED, why);
}

static int
q_prepare(void *arg, int64_t now, struct pollfd *pfd, int max, int *timeout)
{
	struct mqt *t = arg;
	unsigned i;
	int to = *timeout < 0 ? 1000 : *timeout;

	for (i = 0; i < t->n && (int)i < max; i++) {
		mc_prepare(&t->c[i], now, &pfd[i], &to);
		if (t->c[i].fatal)
			to = 0;
	}
	*timeout = to;
	return (int)i;
}

static void
q_handle(void *arg, struct pollfd *pfd, int n, int64_t now)
{
	struct mqt *t = arg;
	int i;

	for (i = 0; i < n; i++)
		if (pfd[i].fd != -1)
			mc_handle(&t->c[i], pfd[i].revents, now);
}

/*
 * Nothing in flight, and no connection halfway up.  A connection still
 * connecting when the run ends (input that ends within milliseconds of
 * the start, a shard that got no message) is let finish its attempt,
 * within its own --connect-timeout, before q_close disconnects it.
 * Closed earlier, the broker sees a session end badly (mosquitto logs
 * "disconnected: Protocol error"; AWS IoT may be stricter): in the
 * middle of the TLS handshake libmosquitto holds the DISCONNECT back and
 * the socket is simply closed; after CONNECT, libmosquitto writes the
 * DISCONNECT and closes the socket at once, with the broker's CONNACK
 * unread in our receive buffer, so the kernel resets the connection
 * instead of closing it and the broker's read of the DISCONNECT fails.
 * Once up, the CONNACK has been read and DISCONNECT closes cleanly.
 */
static int
q_idle(void *arg)
{
	struct mqt *t = arg;
	unsigned i;

	for (i = 0; i < t->n; i++)
		if (t->c[i].outstanding > 0 || !mc_flushed(&t->c[i]) ||
		    t->c[i].state == MC_CONNECTING)
			return 0;
	return 1;
}

static int
q_fatal(void *arg, char *why, size_t whysz)
{
	struct mqt *t = arg;
	unsigned i;

	for (i = 0; i < t->n; i++)
		if (t->c[i].fatal) {
			snprintf(why, whysz, "%s", t->c[i].why);
			return t->c[i].fatal;
		}
	return 0;
}

static void
q_abandon(void *arg)
{
	struct mqt *t = arg;
	unsigned i;

	for (i = 0; i < t->n; i++) {
		mc_drop_outstanding(&t->c[i]);
		mc_disconnect(&t->c[i]);
	}
}

static void
q_close(void *arg)
{
	struct mqt *t = arg;
	unsigned i;

	for (i = 0; i < t->n; i++)
		mc_disconnect(&t->c[i]);
}

static void
q_stats(void *arg, char *buf, size_t sz)
{
	struct mqt *t = arg;
	unsigned long long pub = 0, rec = 0;
	unsigned i;

	for (i = 0; i < t->n; i++) {
		pub += t->c[i].published;
		rec += t->c[i].reconnects;
	}
	snprintf(buf, sz, "published %llu, reconnects %llu", pub, rec);
}

static void
q_figures(void *arg, struct fwd_figures *g)
{
	struct mqt *t = arg;
	int64_t rec = 0, con = 0, up = 0, out = 0;
	unsigned i;

	for (i = 0; i < t->n; i++) {
		rec += (int64_t)t->c[i].reconnects;
		con += (int64_t)t->c[i].connects;
		up += t->c[i].state == MC_UP;
		out += t->c[i].outstanding;
	}
	g->retries = rec;
	g->connects = con;
	g->connections = up;
	g->unacked = out;
	g->window = (int64_t)t->cf.window * t->n;
	g->reached = con > 0;
}

static const struct fwd_ops mqt_ops = {
	.ready = q_ready,
	.send = q_send,
	.flush = NULL,
	.prepare = q_prepare,
	.handle = q_handle,
	.idle = q_idle,
	.fatal = q_fatal,
	.abandon = q_abandon,
	.close = q_close,
	.stats = q_stats,
	.figures = q_figures,
};

static void *
q_open(struct fwd *f, const struct fwd_conf *fc, const void *conf,
    char *why, size_t whysz)
{
	const struct mqtconf *qc = conf;
	struct mconf cf = qc->c;
	struct mqt *t;

	if ((t = calloc(1, sizeof *t)) == NULL) {
		snprintf(why, whysz, "out of memory");
		return NULL;
	}
	cf.core = f;
	cf.ack_timeout_ms = fc->ack_ms;
	cf.connect_timeout_ms = fc->connect_ms;
	cf.retries = fc->retries;
	cf.retry_wait_ms = (unsigned)fc->retry_wait_ms;
	mosquitto_lib_init();
	if (mqt_init(t, &cf, qc->nconns, qc->base_id, why, whysz) == -1) {
		mqt_free(t);
		mosquitto_lib_cleanup();
		free(t);
		return NULL;
	}
	return t;
}

static void
q_free(void *arg)
{
	mqt_free(arg);
	mosquitto_lib_cleanup();
	free(arg);
}

const struct fwd_transport mqt_transport = { q_open, q_free, &mqt_ops };
