/*
 * MQTT topic templates for the MQTT forwarders: "fleet/{channel.id}/{ident}".
 * A template is parsed once; each message expands it from its own fields,
 * looked up by their whole (flat, dotted) names: {channel.id} is the key
 * "channel.id".  The result is checked against the peer's rules for topic
 * names (struct topic_rules: AWS IoT Core's, or any broker's) before
 * anything is published.  Pure functions.
 */
#ifndef TOPIC_H
#define TOPIC_H

#include <stddef.h>

#include <jansson.h>

#define TOPIC_BUFSZ	1024	/* big enough for any expansion
				   topic_expand accepts */

/*
 * What a peer takes for a topic name, beyond MQTT's own rules (UTF-8, no
 * wildcard, no NUL), which always hold, as does ours: no empty level.
 */
struct topic_rules {
	size_t		maxlen;		/* bytes (a Basic Ingest prefix
					   excluded), < TOPIC_BUFSZ */
	int		maxslashes;	/* '/' at most, or -1: any */
	int		ingest;		/* '$' only as AWS Basic Ingest's
					   "$aws/rules/RULE/" */
	const char     *toolong;	/* the reasons, naming the limits */
	const char     *tooslashes;
	const char     *dollar;
};

/* AWS IoT Core: 256 bytes, 7 '/', '$' only for Basic Ingest. */
extern const struct topic_rules topic_aws;
/* Any broker: 1000 bytes, no '$' (the broker's own: $SYS). */
extern const struct topic_rules topic_any;

struct topic;

/*
 * Parse tmpl: literal text, "{field}" placeholders, "{{" and "}}" for
 * literal braces; its topics are checked against rules (kept: static).
 * Returns the template (free with topic_free), or NULL with the reason
 * in err (a usage error: bad braces, an empty name, or a template that
 * cannot give a valid topic).
 */
struct topic   *topic_parse(const char *tmpl, const struct topic_rules *,
		    char *err, size_t errsz);
void		topic_free(struct topic *);
/* True when the template has no placeholders (the topic never changes). */
int		topic_is_fixed(const struct topic *);

/*
 * Expand t from msg's fields into buf (bufsz bytes, NUL-terminated) and
 * validate the result.  Strings go in as they are, integers in decimal,
 * reals as %.17g, booleans as true/false.  Returns the length, or -1 with
 * the reason in why (missing field, null or non-scalar value, invalid
 * topic).
 */
int		topic_expand(const struct topic *t, json_t *msg, char *buf,
		    size_t bufsz, char *why, size_t whysz);

/*
 * The template's placeholders, in order: for callers that find values
 * themselves.
 */
size_t		topic_nfields(const struct topic *);
const char     *topic_field(const struct topic *, size_t i);
/*
 * Expand t with vals[i] (lens[i] bytes) for placeholder i, and validate
 * the result, as topic_expand does.  An empty value is refused.
 */
int		topic_expand_values(const struct topic *t,
		    const char *const *vals, const size_t *lens, char *buf,
		    size_t bufsz, char *why, size_t whysz);

/*
 * Check a topic name against rules.  Returns NULL when it is valid, else
 * a static string saying why not.
 */
const char     *topic_check(const struct topic_rules *, const char *topic,
		    size_t len);

#endif
