/*
 * What the MQTT forwarder commands (flespi-to-mqtt, flespi-to-aws) share
 * beside the transport (mqttconn.h): their mapping (the topic template,
 * the payload: the line as read, or ThingsBoard's gateway telemetry),
 * --dump's view of a message, the --mqtt-version value and the client
 * id.  A command gives its peer's rules (topic_rules, a payload limit).
 */
#ifndef MQTTFWD_H
#define MQTTFWD_H

#include <stddef.h>

#include "dumpout.h"
#include "fwd.h"
#include "mqttconn.h"
#include "msgfast.h"
#include "topic.h"

struct mqfmap;

/*
 * The options both MQTT commands take, with these ids in their own
 * tables (each with its own help text); mqf_option() stores them.
 */
enum { MQF_O_TOPIC = 200, MQF_O_QOS, MQF_O_CAFILE, MQF_O_CERT, MQF_O_KEY,
	MQF_O_MQTTVER, MQF_O_CLIENTID, MQF_O_KEEPALIVE, MQF_O_WINDOW,
	MQF_O_CONNS, MQF_O_RATE, MQF_O_DUMP };

/* What those options set, and the bounds that differ between peers. */
struct mqfopts {
	struct mqtconf	q;		/* the transport's settings */
	const char     *topic;		/* the template */
	const char     *client_id;	/* given, or NULL */
	int		dump;		/* --dump */
	unsigned	window_max;	/* --window 1..window_max */
	int		keep_min, keep_max;	/* --keepalive's bounds */
	char		base[129];	/* the client id, or its base */
};

/*
 * Store option id (an MQF_O_*) with its value arg in o; exit 64 on a bad
 * value.  Returns 1 when id was one of them, else 0.
 */
int	mqf_option(struct mqfopts *o, int id, const char *arg);
/* mosquitto_pub's spellings that mean the same in every MQTT command
   (fwd_cmd's family_habits). */
extern const struct cli_habit mqf_habits[];
/*
 * The defaults both commands have (keep-alive 60 s, QoS 1, 100 messages
 * in flight, one connection, topic {ident}) and the bounds that differ.
 */
void	mqf_defaults(struct mqfopts *, unsigned window_max, int keep_min,
	    int keep_max);
/*
 * After parsing, what the settings imply: the burst the rate allows (a
 * tenth, within the window) and the most messages the core may hold for
 * the transport.
 */
void	mqf_settle(struct mqfopts *, struct fwd_conf *);
/*
 * Run the forwarder (fwd_main) with the mapping mp, over the MQTT
 * transport or, with --dump, the dry run; free mp.  Returns the exit
 * status.
 */
int	mqf_run(const struct fwd_conf *, const struct mqfopts *,
	    struct mqfmap *mp);

enum { MQF_LINE, MQF_THINGSBOARD };

struct mqfmap {
	struct topic   *topic;
	const char     *fields[MSGFAST_FIELDS];
	struct msgfast	fast;
	const char     *uid_field;
	int		format;		/* MQF_LINE, MQF_THINGSBOARD */
	size_t		maxpayload;	/* bytes; 0: the broker's to say */
	const char     *maxwhat;	/* "AWS's 128 KB": in the reason */
};

/*
 * Set up the mapping: the template tmpl checked against rules (static),
 * the device id in uid_field, payloads in format, at most maxpayload
 * bytes (0: no limit of ours; maxwhat names it).  A command-line helper:
 * exits 64 on a bad template.
 */
void	mqf_init(struct mqfmap *, const char *tmpl,
	    const struct topic_rules *rules, const char *uid_field, int format,
	    size_t maxpayload, const char *maxwhat);

/*
 * The ThingsBoard gateway telemetry payload of a flespi message line,
 * {"UID":[{"ts":MS,"values":{...}}]}: the members other than uid_field
 * and "timestamp" copied as they are, ts the timestamp in milliseconds.
 * Appended to *buf (*cap bytes, from malloc; grown with realloc) at
 * *len.  Returns 0, or -1 with why (out of memory, not an object).
 */
int	mqf_thingsboard(const char *line, size_t len, const char *uid,
	    const char *uid_field, double timestamp, char **buf, size_t *cap,
	    size_t *blen, char *why, size_t whysz);

/*
 * The client id (o->base, the transport's base_id): --client-id (1 to
 * 128 bytes; 125 with several connections, which add "-N"), or
 * PROG-HOSTNAME-PID.  Exits 64 when the one given is too long or empty.
 */
void	mqf_client_id(struct mqfopts *o, const char *prog);

#endif
