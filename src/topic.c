#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "topic.h"

/*
 * A template is a list of parts: literal text or a field name.  Both are
 * stored NUL-terminated in one allocation after the part array.
 */
struct part {
	const char     *text;	/* literal bytes, or the field's name */
	size_t		len;
	int		field;
};

struct topic {
	const struct topic_rules *rules;
	size_t		nparts;
	int		nfields;
	struct part	parts[];
};

static const char ingest[] = "$aws/rules/";

const struct topic_rules topic_aws = {
	256, 7, 1,
	"topic is longer than 256 bytes",
	"topic has more than 7 '/'",
	"topic starts with '$' (reserved; only Basic Ingest "
	    "$aws/rules/RULE/... is allowed)"
};

/*
 * MQTT allows 65535 bytes; 1000 is more than any template needs and
 * keeps every expansion in a TOPIC_BUFSZ buffer.  A broker's '$' topics
 * ($SYS) are its own: a publish there is refused or dropped.
 */
const struct topic_rules topic_any = {
	1000, -1, 0,
	"topic is longer than 1000 bytes",
	NULL,
	"topic starts with '$' (reserved for the broker, as $SYS is)"
};

/*
 * AWS IoT Core quotas ("AWS IoT Core endpoints and quotas", message broker
 * and protocol limits,
 * https://docs.aws.amazon.com/general/latest/gr/iot-core.html):
 * a topic passed when publishing may not exceed 256 bytes of UTF-8 and may
 * hold at most 7 forward slashes; both limits exclude the first three
 * mandatory segments of a Basic Ingest topic, "$aws/rules/rule_name/".
 * Topics starting with '$' are reserved ("MQTT topics", developer guide);
 * Basic Ingest topics "start with $aws/rules/rule_name for their first
 * three levels" (iot-basic-ingest.html), and a rule name is letters,
 * digits and underscores.  MQTT forbids wildcards in a topic name and a
 * NUL; libmosquitto also refuses control characters and non-characters,
 * so those are refused here with a reason rather than by the library.
 * Empty levels ("a//b", a leading or trailing '/') are legal MQTT but are
 * refused: in an expanded template they mean an empty field value, and a
 * topic that silently loses a level would be routed to the wrong rule.
 */
static const char *
check_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0, n, k;
	unsigned long cp;

	while (i < len) {
		unsigned char c = s[i];

		if (c == 0)
			return "topic holds a NUL byte";
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return "topic holds a control character";
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return "topic is not valid UTF-8";
		}
		if (len - i <= n)
			return "topic is not valid UTF-8";
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return "topic is not valid UTF-8";
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return "topic is not valid UTF-8";
		if (cp >= 0x80 && cp <= 0x9f)
			return "topic holds a control character";
		if ((cp & 0xfffe) == 0xfffe || (cp >= 0xfdd0 && cp <= 0xfdef))
			return "topic holds a Unicode non-character";
		i += n + 1;
	}
	return NULL;
}

const char *
topic_check(const struct topic_rules *r, const char *topic, size_t len)
{
	const char *p = topic, *why;
	size_t i, rest, slashes = 0;

	if (len == 0)
		return "topic is empty";
	if ((why = check_utf8((const unsigned char *)topic, len)) != NULL)
		return why;
	if (memchr(topic, '+', len) || memchr(topic, '#', len))
		return "topic holds an MQTT wildcard ('+' or '#')";
	if (topic[0] == '$') {
		if (!r->ingest || len < sizeof ingest - 1 ||
		    memcmp(topic, ingest, sizeof ingest - 1) != 0)
			return r->dollar;
		p = topic + sizeof ingest - 1;
		for (i = 0; p + i < topic + len && p[i] != '/'; i++)
			if (!(p[i] == '_' || (p[i] >= '0' && p[i] <= '9') ||
			    (p[i] >= 'a' && p[i] <= 'z') ||
			    (p[i] >= 'A' && p[i] <= 'Z')))
				return "Basic Ingest rule name holds a "
				    "character other than A-Z a-z 0-9 _";
		if (i == 0)
			return "Basic Ingest topic has an empty rule name";
		if (i > 128)
			return "Basic Ingest rule name is longer than 128 "
			    "bytes";
		if (p + i == topic + len || p + i + 1 == topic + len)
			return "Basic Ingest topic has nothing after "
			    "$aws/rules/RULE/";
		p += i + 1;
	}
	rest = len - (size_t)(p - topic);
	if (rest > r->maxlen)
		return r->toolong;
	for (i = 0; i < rest; i++) {
		if (p[i] != '/')
			continue;
		if (r->maxslashes >= 0 && ++slashes > (size_t)r->maxslashes)
			return r->tooslashes;
		if (i == 0 || i + 1 == rest || p[i + 1] == '/')
			return "topic has an empty level";
	}
	return NULL;
}

void
topic_free(struct topic *t)
{
	free(t);
}

int
topic_is_fixed(const struct topic *t)
{
	return t->nfields == 0;
}

struct topic *
topic_parse(const char *tmpl, const struct topic_rules *r, char *err,
    size_t errsz)
{
	struct topic *t;
	struct part *pt;
	const char *s, *e;
	char *out, buf[TOPIC_BUFSZ], why[128];
	size_t n = strlen(tmpl), maxparts = n + 1;
	int len;

	/*
	 * Parts and their text (never longer than the template) in one block.
	 */
	t = malloc(sizeof *t + maxparts * sizeof(struct part) + 2 * n +
	    maxparts);
	if (t == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	t->rules = r;
	t->nparts = 0;
	t->nfields = 0;
	out = (char *)&t->parts[maxparts];
	for (s = tmpl; *s != '\0';) {
		pt = &t->parts[t->nparts];
		if (*s == '{' && s[1] != '{') {
			e = strchr(s + 1, '}');
			if (e == NULL) {
				snprintf(err, errsz, "'{' without '}' in the "
				    "topic template");
				goto fail;
			}
			if (e == s + 1 ||
			    memchr(s + 1, '{', (size_t)(e - s - 1))) {
				snprintf(err, errsz, "empty or bad field name "
				    "in the topic template at '%.*s'",
				    (int)(e - s + 1), s);
				goto fail;
			}
			pt->field = 1;
			pt->len = (size_t)(e - s - 1);
			memcpy(out, s + 1, pt->len);
			s = e + 1;
			t->nfields++;
		} else {
			/* Literal text up to the next single '{'. */
			pt->field = 0;
			pt->len = 0;
			while (*s != '\0' && !(*s == '{' && s[1] != '{')) {
				if (*s == '}' && s[1] != '}') {
					snprintf(err, errsz, "'}' without '{' "
					    "in the topic template (write "
					    "'}}' for a literal one)");
					goto fail;
				}
				out[pt->len++] = *s;
				s += (*s == '{' || *s == '}') ? 2 : 1;
			}
		}
		pt->text = out;
		out[pt->len] = '\0';
		out += pt->len + 1;
		t->nparts++;
	}

	/*
	 * Expand with a one-letter value in every placeholder: a template
	 * that cannot give a valid topic even then is a usage error, found
	 * before any message is read.
	 */
	{
		json_t *probe = json_object();
		size_t i;

		for (i = 0; probe && i < t->nparts; i++)
			if (t->parts[i].field)
				json_object_set_new(probe, t->parts[i].text,
				    json_string("x"));
		len = probe ? topic_expand(t, probe, buf, sizeof buf, why,
		    sizeof why) : -1;
		json_decref(probe);
		if (len < 0) {
			snprintf(err, errsz, "topic template '%s' cannot give "
			    "a valid topic: %s", tmpl, probe ? why :
			    "out of memory");
			goto fail;
		}
	}
	return t;
fail:
	free(t);
	return NULL;
}

/* Format one scalar value; returns its bytes and length, or NULL. */
static const char *
scalar(json_t *v, char *tmp, size_t tmpsz, size_t *len)
{
	int n;

	switch (json_typeof(v)) {
	case JSON_STRING:
		*len = json_string_length(v);
		return json_string_value(v);
	case JSON_INTEGER:
		n = snprintf(tmp, tmpsz, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		break;
	case JSON_REAL:
		n = snprintf(tmp, tmpsz, "%.17g", json_real_value(v));
		break;
	case JSON_TRUE:
		n = snprintf(tmp, tmpsz, "true");
		break;
	case JSON_FALSE:
		n = snprintf(tmp, tmpsz, "false");
		break;
	default:
		return NULL;
	}
	*len = (size_t)n;
	return tmp;
}

size_t
topic_nfields(const struct topic *t)
{
	return (size_t)t->nfields;
}

const char *
topic_field(const struct topic *t, size_t i)
{
	size_t k;

	for (k = 0; k < t->nparts; k++)
		if (t->parts[k].field && i-- == 0)
			return t->parts[k].text;
	return NULL;
}

int
topic_expand_values(const struct topic *t, const char *const *vals,
    const size_t *lens, char *buf, size_t bufsz, char *why, size_t whysz)
{
	const struct part *pt;
	const char *v, *bad;
	size_t i, f = 0, len = 0, vlen;

	for (i = 0; i < t->nparts; i++) {
		pt = &t->parts[i];
		if (!pt->field) {
			v = pt->text;
			vlen = pt->len;
		} else {
			v = vals[f];
			vlen = lens[f++];
			if (vlen == 0) {
				snprintf(why, whysz, "topic field \"%s\" is "
				    "empty", pt->text);
				return -1;
			}
		}
		if (vlen >= bufsz - len) {
			snprintf(why, whysz, "%s", t->rules->toolong);
			return -1;
		}
		memcpy(buf + len, v, vlen);
		len += vlen;
	}
	buf[len] = '\0';
	if ((bad = topic_check(t->rules, buf, len)) != NULL) {
		snprintf(why, whysz, "%s", bad);
		return -1;
	}
	return (int)len;
}

#define FIELDS_MAX	32	/* placeholders formatted on the stack */

int
topic_expand(const struct topic *t, json_t *msg, char *buf, size_t bufsz,
    char *why, size_t whysz)
{
	const char *vals[FIELDS_MAX];
	size_t lens[FIELDS_MAX], i, f = 0;
	char tmp[FIELDS_MAX][40];
	json_t *jv;

	if (t->nfields > FIELDS_MAX) {
		snprintf(why, whysz, "more than %d fields in the topic",
		    FIELDS_MAX);
		return -1;
	}
	for (i = 0; i < t->nparts; i++) {
		const struct part *pt = &t->parts[i];

		if (!pt->field)
			continue;
		jv = json_object_get(msg, pt->text);
		if (jv == NULL) {
			snprintf(why, whysz, "topic field \"%s\" is missing",
			    pt->text);
			return -1;
		}
		vals[f] = scalar(jv, tmp[f], sizeof tmp[f], &lens[f]);
		if (vals[f] == NULL) {
			snprintf(why, whysz, "topic field \"%s\" is %s, not a "
			    "string or number", pt->text,
			    json_is_null(jv) ? "null" : "not a scalar");
			return -1;
		}
		f++;
	}
	return topic_expand_values(t, vals, lens, buf, bufsz, why, whysz);
}
