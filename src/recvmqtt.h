/*
 * flespi-recv --mqtt: channel messages pushed by flespi's MQTT broker,
 * written to stdout as NDJSON.  flespi-recv's command line fills in a
 * recvmqtt_conf and calls recvmqtt_run(), which returns the exit status.
 * The topic, selector and URL helpers are pure and exported for the
 * command line and the unit tests.
 */
#ifndef RECVMQTT_H
#define RECVMQTT_H

#include "health.h"

#include <stddef.h>

#define RECVMQTT_URL	"mqtts://mqtt.flespi.io:8883"
#define RECVMQTT_CAPATH	"/etc/ssl/certs"	/* without a cafile */

/* The settings of one run, already checked by the command line. */
struct recvmqtt_conf {
	char		host[256];	/* from recvmqtt_url() */
	int		port;
	const char     *cafile;		/* NULL: the system store */
	const char     *session;	/* client id of a persistent session,
					   NULL: clean session, random id */
	long long	expiry;		/* session expiry, seconds (MQTT 5) */
	const char     *share;		/* shared subscription group, or NULL */
	int		sticky;		/* flespi's sticky share
					   (needs share) */
	const char     *filter;		/* flespi expression, or NULL */
	int		mqtt5;		/* 1: MQTT 5; 0: MQTT 3.1.1 */
	long long	count;		/* exit after this many lines;
					   0: never */
	long long	retries;	/* failed retries in a row;
					   -1: no limit */
	long long	retry_wait_ms;	/* first reconnect delay */
	long long	connect_ms;	/* TCP connect, TLS and
					   CONNACK at most */
	int		quiet;		/* no progress line */
	const char     *channels;	/* "1234", "10,20" or "+" */
	struct health_conf health;	/* --stats-interval, --metrics */
};

/*
 * Receive until a stop signal, count lines, a refusal or retries run out.
 * token is the MQTT user name; it is wiped (explicit_bzero, its
 * strlen) as soon as libmosquitto holds its own copy.  Returns the exit
 * status (exits.h).
 */
int	recvmqtt_run(const struct recvmqtt_conf *, char *token);

/* A channel selector: ids separated by commas, or "+".  1 when valid. */
int	recvmqtt_channels_ok(const char *);
/* A shared subscription group: non-empty, no '/', '+', '#' or ':'. */
int	recvmqtt_group_ok(const char *);

/*
 * The subscription topic for a channel selector ("1234", "10,20" or "+"):
 *   [$share/GROUP[:6]/][$filter/payload=<url-encoded EXPR>/]
 *   flespi/message/gw/channels/CHANNELS/+
 * share may be NULL; sticky (flespi's ":6" form, hashing on the first six
 * topic levels, i.e. on channel and ident) needs share; filter may be NULL.
 * Returns the length written to buf (NUL-terminated), or -1 when an
 * argument is not valid (errno EINVAL) or buf is too small (ERANGE).
 */
int	recvmqtt_topic(char *buf, size_t size, const char *channels,
	    const char *share, int sticky, const char *filter);

/*
 * Parse "mqtts://HOST[:PORT]" (also "[v6addr]:PORT"); PORT defaults to
 * 8883.  Returns 0, or -1 when the URL is not of that form.
 */
int	recvmqtt_url(const char *url, char *host, size_t hostsize, int *port);

#endif
