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
#include "msgfast.h"
#include "topic.h"

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
void	mqf_free(struct mqfmap *);
/* The forwarder's mapping (fwd.h) and --dump's (dumpout.h), over mp. */
void	mqf_mapping(struct mqfmap *mp, struct fwd_mapping *, struct dumpconf *);

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

/* --mqtt-version V: 1 for 5, 0 for 3.1.1 ("311" too); exits 64 else. */
int	mqf_version_arg(const char *v);
/*
 * The client id into buf: given (1 to 128 bytes; 125 with several
 * connections, which add "-N"), or PROG-HOSTNAME-PID.  Exits 64 when
 * given is too long or empty.
 */
void	mqf_client_id(char *buf, size_t sz, const char *given,
	    const char *prog, unsigned nconns);

#endif
