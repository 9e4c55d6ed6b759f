/*
 * MQTT topic templates for flespi-to-aws: "fleet/{channel.id}/{ident}".
 * A template is parsed once; each message expands it from its own fields,
 * looked up by their whole (flat, dotted) names: {channel.id} is the key
 * "channel.id".  The result is checked against AWS IoT Core's rules for
 * topic names before anything is published.  Pure functions.
 */
#ifndef TOPIC_H
#define TOPIC_H

#include <stddef.h>

#include <jansson.h>

#define TOPIC_MAX	256	/* AWS: bytes in a topic (Basic Ingest prefix excluded) */
#define TOPIC_SLASHES	7	/* AWS: '/' in a topic (Basic Ingest prefix excluded) */
#define TOPIC_BUFSZ	1024	/* big enough for any expansion topic_expand accepts */

struct topic;

/*
 * Parse tmpl: literal text, "{field}" placeholders, "{{" and "}}" for
 * literal braces.  Returns the template (free with topic_free), or NULL
 * with the reason in err (a usage error: bad braces, an empty name, or a
 * template that cannot give a valid topic).
 */
struct topic   *topic_parse(const char *tmpl, char *err, size_t errsz);
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

/* The template's placeholders, in order: for callers that find values themselves. */
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
 * Check a topic name against AWS IoT Core's rules.  Returns NULL when it
 * is valid, else a static string saying why not.
 */
const char     *topic_check(const char *topic, size_t len);

#endif
