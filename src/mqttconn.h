/*
 * One MQTT connection to a broker (any broker; AWS IoT Core is one with
 * house rules, given as a preset: struct mwords and the command's
 * checks), driven from the caller's poll() loop: libmosquitto's socket,
 * read, write and misc calls, never its own thread.  The connection
 * keeps its own account of what is outstanding (published, PUBACK not
 * yet seen) in a ring of at most `window` entries, a token bucket for
 * its publish rate, a reconnect backoff (jittered) and a PUBACK
 * watchdog.  All its state is in struct mconn: no file-scope
 * variables, so a process may hold many.
 */
#ifndef MQTTCONN_H
#define MQTTCONN_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "fwd.h"
#include "tbucket.h"

/*
 * How a peer's refusals read, where it has house rules (AWS IoT: its
 * policy's iot:Connect and iot:Publish).  NULL, or a NULL member: the
 * words for any broker.
 */
struct mwords {
	/* The connection is closed before CONNACK, time after time. */
	const char     *closed_connect;
	/* It is closed with publishes outstanding and never a PUBACK. */
	const char     *closed_publish;
	/* The peer ended the TLS handshake (an alert). */
	const char     *tls_refused;
};

/* Settings shared by every connection; owned by the caller. */
struct mconf {
	const char     *host;
	int		port;
	int		tls;		/* TLS, else plain TCP */
	/*
	 * TLS: the CA file or directory to verify the broker with (both
	 * NULL: the system's store); our certificate and key, or NULL;
	 * an ALPN protocol, or NULL.
	 */
	const char     *cafile, *capath, *cert, *key, *alpn;
	const char     *user, *password;	/* or NULL */
	int		mqtt5;		/* MQTT 5, else 3.1.1 */
	int		persistent;	/* keep the session (no clean start);
					   MQTT 5: it never expires */
	int		keepalive;	/* seconds */
	int		qos;		/* 0 or 1 */
	int		retain;
	unsigned	window;		/* outstanding messages; under MQTT 5
					   at most the broker's Receive
					   Maximum */
	uint64_t	rate;		/* publishes a second; 0 = unlimited */
	unsigned	burst;
	int64_t		ack_timeout_ms;	/* PUBACK watchdog */
	int64_t		connect_timeout_ms; /* CONNECT to CONNACK */
	long long	retries;	/* retries after a failure;
					   -1 = no limit */
	unsigned	retry_wait_ms;	/* first reconnect delay */
	struct fwd     *core;		/* told of every message done */
	const struct mwords *words;	/* NULL: any broker's */
};

enum { MC_IDLE, MC_CONNECTING, MC_UP };

struct outmsg {
	int		mid;
	int		acked;
	int64_t		sent_ms;
	struct fwd_msg *m;		/* the core's, until done */
};

struct mconn {
	const struct mconf *cf;
	struct mosquitto *mosq;
	char		id[129];
	int		state;
	int		started;	/* mosquitto_connect_async was called */
	int		tcpwait;	/* MC_CONNECTING: TCP connect not yet
					   seen to complete */
	int		connerr;	/* errno a refused connect(2) left,
					   or 0 */
	int64_t		retry_at;	/* MC_IDLE: when to connect */
	int64_t		deadline;	/* MC_CONNECTING: CONNACK is
					   due by then */
	struct backoff	bo;
	struct tbucket	tb;
	struct outmsg  *ring;		/* window entries, oldest at head */
	unsigned	head, count;	/* count includes acked entries
					   not yet at head */
	unsigned	win;		/* the window: cf->window, or the
					   broker's Receive Maximum if lower */
	unsigned	outstanding;	/* entries not acked */
	unsigned	fails;		/* failed connection attempts
					   in a row */
	unsigned	early_closes;	/* of which closed by the peer
					   before CONNACK */
	unsigned	dry_losses;	/* connections lost in a row
					   with no PUBACK */
	unsigned	stalls;		/* PUBACK watchdogs in a row, no PUBACK
					   in between: count against retries */
	uint64_t	acked_at_connack; /* acked + rejected at the last
					     CONNACK */
	uint64_t	published, acked, rejected, reconnects, connects;
	int		connack_rc;	/* a CONNACK refusal in this attempt */
	int		fatal;		/* 69: the peer refused us;
					   75: gave up */
	char		why[512];	/* for fatal */
	char		lastlog[256];	/* libmosquitto's last error message */
};

/* Returns 0, or -1 with a reason in c->why. */
int	mc_init(struct mconn *, const struct mconf *, const char *id);
void	mc_free(struct mconn *);
/*
 * Timers (reconnect, CONNACK deadline, watchdog, keepalive), then the
 * descriptor to poll: *pfd gets fd -1 when there is none.  *timeout_ms
 * is lowered to when this connection next needs attention.
 */
void	mc_prepare(struct mconn *, int64_t now, struct pollfd *pfd,
	    int *timeout_ms);
/* After poll(): read and write as revents says. */
void	mc_handle(struct mconn *, short revents, int64_t now);
/*
 * 1 when a message can be published now: connected, window not full and a
 * token in the bucket (which this takes).  0 otherwise, with *wait_ms set
 * when only the rate limit stands in the way (else -1).
 */
int	mc_ready(struct mconn *, int64_t now, int64_t *wait_ms);
/*
 * Publish one message (after mc_ready) to the topic m->tp, which is
 * NUL-terminated: the payload is the bytes after that NUL when m->tplen
 * goes past it (a mapping that makes its own payload), else m->line.
 * Returns 0 when it is the library's (sent, or queued for resending
 * after a reconnect) and counted outstanding (at QoS 0: reported done at
 * once); -1 when it was refused and not queued, with the reason in why
 * (the caller reports it rejected); -2 when the connection can publish
 * nothing (the broker takes no such QoS or no retained messages): the
 * connection is fatal and m stays the core's.
 */
int	mc_publish(struct mconn *, struct fwd_msg *m, int64_t now, char *why,
	    size_t whysz);
/* True when nothing is waiting in the library to be written. */
int	mc_flushed(struct mconn *);
/* Disconnect cleanly, waiting up to a second for DISCONNECT to be written. */
void	mc_disconnect(struct mconn *);
/* Forget every outstanding message (the core has them); how many. */
uint64_t mc_drop_outstanding(struct mconn *);

/*
 * The MQTT transport of the forwarder core: nconns connections (ids
 * base, or base-0, base-1...), each message on the connection a hash of
 * its device id picks, so that a device's messages stay in order.
 */
#define MQT_CONNS_MAX	64

struct mqt {
	struct mconf	cf;
	struct mconn	c[MQT_CONNS_MAX];
	unsigned	n;
};

/*
 * Set up (cf is copied; libmosquitto must be initialised).  Returns 0,
 * or -1 with a reason in why.
 */
int	mqt_init(struct mqt *, const struct mconf *cf, unsigned nconns,
	    const char *base_id, char *why, size_t whysz);
void	mqt_free(struct mqt *);

/*
 * The transport (fwd.h): open takes a struct mqtconf (copied; the
 * strings it points to must outlive the transport); the
 * connections' core, timeouts and retries come from the core and its
 * fwd_conf.  It initialises libmosquitto and cleans it up in free.
 */
struct mqtconf {
	struct mconf	c;
	unsigned	nconns;
	const char     *base_id;	/* the client id, or its base */
};
extern const struct fwd_transport mqt_transport;

#endif
