/* What the MQTT forwarder commands share (see mqttfwd.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "diag.h"
#include "exits.h"
#include "jscan.h"
#include "mqttfwd.h"
#include "num.h"

static int	mqf_version_arg(const char *);

/* A growing buffer of the caller's: *buf, *cap bytes, *len used. */
struct gbuf {
	char	      **buf;
	size_t	       *cap, *len;
	int		err;
};

static void
put(struct gbuf *g, const void *p, size_t n)
{
	size_t cap;
	char *nb;

	if (g->err)
		return;
	if (*g->cap - *g->len < n) {
		cap = *g->cap ? *g->cap : 256;
		while (cap - *g->len < n)
			cap *= 2;
		if ((nb = realloc(*g->buf, cap)) == NULL) {
			g->err = 1;
			return;
		}
		*g->buf = nb;
		*g->cap = cap;
	}
	memcpy(*g->buf + *g->len, p, n);
	*g->len += n;
}

static void
puts_(struct gbuf *g, const char *s)
{
	put(g, s, strlen(s));
}

/* s as a JSON string, quotes included. */
static void
putjstr(struct gbuf *g, const char *s)
{
	char esc[8];

	put(g, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(g, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			put(g, esc, 6);
		} else {
			put(g, s, 1);
		}
	}
	put(g, "\"", 1);
}

struct tbscan {
	struct gbuf    *g;
	const char     *uid_field;
	int		n;		/* members copied */
};

/* A member of the line: copied as it is unless it is the id or time. */
static int
tbmember(void *arg, const struct jspan *key, const struct jspan *val)
{
	struct tbscan *ts = arg;
	int quoted = val->type == JS_STRING;

	if (key->escaped)
		return 0;	/* jansson compares it decoded */
	if ((key->len == strlen(ts->uid_field) &&
	    memcmp(key->p, ts->uid_field, key->len) == 0) ||
	    (key->len == 9 && memcmp(key->p, "timestamp", 9) == 0))
		return 1;
	if (ts->n++ > 0)
		put(ts->g, ",", 1);
	/* A string's span is its text between the quotes of the line. */
	put(ts->g, key->p - 1, key->len + 2);
	put(ts->g, ":", 1);
	put(ts->g, val->p - quoted, val->len + 2 * (size_t)quoted);
	return 1;
}

int
mqf_thingsboard(const char *line, size_t len, const char *uid,
    const char *uid_field, double timestamp, char **buf, size_t *cap,
    size_t *blen, char *why, size_t whysz)
{
	struct gbuf g = { buf, cap, blen, 0 };
	struct tbscan ts = { &g, uid_field, 0 };
	size_t start = *blen, vstart;
	char num[64];

	put(&g, "{", 1);
	putjstr(&g, uid);
	snprintf(num, sizeof num, ":[{\"ts\":%lld,\"values\":{",
	    (long long)llround(timestamp * 1000.0));
	puts_(&g, num);
	vstart = *blen;
	if (jscan_members(line, len, tbmember, &ts) != 1) {
		/* What the scanner leaves to jansson (escaped keys...). */
		json_t *o = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
		const char *k;
		json_t *v;
		char *s;

		if (!json_is_object(o)) {
			json_decref(o);
			*blen = start;
			snprintf(why, whysz, "not a JSON object");
			return -1;
		}
		json_object_del(o, uid_field);
		json_object_del(o, "timestamp");
		*blen = vstart;
		ts.n = 0;
		json_object_foreach(o, k, v) {
			if (ts.n++ > 0)
				put(&g, ",", 1);
			putjstr(&g, k);
			put(&g, ":", 1);
			if ((s = json_dumps(v, JSON_COMPACT |
			    JSON_ENCODE_ANY)) == NULL) {
				g.err = 1;
				break;
			}
			puts_(&g, s);
			free(s);
		}
		json_decref(o);
	}
	puts_(&g, "}}]}");
	if (g.err) {
		*blen = start;
		snprintf(why, whysz, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * The mapping: the topic into the message's buffer, NUL-terminated, and
 * after the NUL the payload when it is not the line (mqttconn.h).  The
 * fast path's field values belong to this very line.
 */
static int
map(void *arg, struct fwd_msg *m, const struct msg *in, char *why,
    size_t whysz)
{
	struct mqfmap *mp = arg;
	const char *vals[MSGFAST_FIELDS];
	size_t lens[MSGFAST_FIELDS], i, plen, tl;
	char *b;
	void *nb;
	int n;

	if (m->tpcap < TOPIC_BUFSZ) {
		if ((nb = realloc(m->tp, TOPIC_BUFSZ)) == NULL) {
			snprintf(why, whysz, "out of memory");
			return -1;
		}
		m->tp = nb;
		m->tpcap = TOPIC_BUFSZ;
	}
	if (in->obj == NULL) {
		for (i = 0; i < topic_nfields(mp->topic); i++) {
			vals[i] = msgfast_field(&mp->fast, i)->p;
			lens[i] = msgfast_field(&mp->fast, i)->len;
		}
		n = topic_expand_values(mp->topic, vals, lens, m->tp,
		    TOPIC_BUFSZ, why, whysz);
	} else {
		n = topic_expand(mp->topic, in->obj, m->tp, TOPIC_BUFSZ, why,
		    whysz);
	}
	if (n < 0)
		return -1;
	m->tplen = (size_t)n;
	plen = m->len;
	if (mp->format == MQF_THINGSBOARD) {
		b = m->tp;
		tl = m->tplen + 1;
		n = mqf_thingsboard(m->line, m->len, m->uid, mp->uid_field,
		    m->timestamp, &b, &m->tpcap, &tl, why, whysz);
		m->tp = b;
		if (n == -1)
			return -1;
		plen = tl - m->tplen - 1;
		m->tplen = tl;
	}
	if (mp->maxpayload > 0 && plen > mp->maxpayload) {
		snprintf(why, whysz, "message of %zu bytes is over %s (%zu "
		    "bytes) limit", plen, mp->maxwhat, mp->maxpayload);
		return -1;
	}
	return 0;
}

/* --dump: the topic and the payload, as mosquitto_sub -v shows them. */
static int
show(void *arg, const struct fwd_msg *m, struct dumpbuf *out, char *why,
    size_t whysz)
{
	size_t tl = strlen(m->tp);
	const char *pl = m->line;
	size_t plen = m->len;

	(void)arg;
	(void)why;
	(void)whysz;
	if (m->tplen > tl) {
		pl = (const char *)m->tp + tl + 1;
		plen = m->tplen - tl - 1;
	}
	if (dumpbuf_add(out, m->tp, tl) == -1 ||
	    dumpbuf_add(out, " ", 1) == -1 ||
	    dumpbuf_add(out, pl, plen) == -1 ||
	    dumpbuf_add(out, "\n", 1) == -1)
		return -1;
	return 0;
}

void
mqf_init(struct mqfmap *mp, const char *tmpl, const struct topic_rules *rules,
    const char *uid_field, int format, size_t maxpayload, const char *maxwhat)
{
	char err[300];
	size_t i;

	memset(mp, 0, sizeof *mp);
	mp->uid_field = uid_field;
	mp->format = format;
	mp->maxpayload = maxpayload;
	mp->maxwhat = maxwhat;
	if ((mp->topic = topic_parse(tmpl, rules, err, sizeof err)) == NULL)
		die(EXIT_USAGE, "--topic: %s", err);
	/* topic_parse takes no more fields than topic_expand can fill. */
	for (i = 0; i < topic_nfields(mp->topic) && i < MSGFAST_FIELDS; i++)
		mp->fields[i] = topic_field(mp->topic, i);
}

static void
mqf_free(struct mqfmap *mp)
{
	topic_free(mp->topic);
	mp->topic = NULL;
}

/* The forwarder's mapping (fwd.h) and --dump's (dumpout.h), over mp. */
static void
mqf_mapping(struct mqfmap *mp, struct fwd_mapping *fm, struct dumpconf *dc)
{
	memset(fm, 0, sizeof *fm);
	fm->map = map;
	fm->maparg = mp;
	if (msgfast_init(&mp->fast, mp->uid_field, mp->fields,
	    topic_nfields(mp->topic)) == 0) {
		fm->fast = msgfast_check;
		fm->fastarg = &mp->fast;
	}
	dc->show = show;
	dc->arg = mp;
}

/* What mosquitto_pub users type that means the same in every MQTT command. */
const struct cli_habit mqf_habits[] = {
	{ "-q", "0|1|2", "-q is --quiet here; mosquitto_pub's -q QOS is "
	  "--qos QOS" },
	{ "-V", NULL, "mosquitto_pub's -V VERSION is --mqtt-version VERSION "
	  "here" },
	{ "-m", NULL, "the messages are the lines read on stdin" },
	{ "-f", NULL, "the messages are the lines read on stdin" },
	{ "-l", NULL, "the messages are the lines read on stdin, one a line, "
	  "always" },
	{ "-s", NULL, "the messages are the lines read on stdin" },
	{ "-d", NULL, "mosquitto_pub's -d is -v (twice: the library's log) "
	  "here" },
	{ "--debug", NULL, "mosquitto_pub's --debug is -v (twice: the "
	  "library's log) here" },
	{ "--id", NULL, "mosquitto_pub's --id is --client-id here" },
	{ NULL, NULL, NULL }
};

int
mqf_option(struct mqfopts *o, int id, const char *arg)
{
	struct mconf *cf = &o->q.c;

	switch (id) {
	case MQF_O_TOPIC:
		o->topic = arg;
		break;
	case MQF_O_QOS:
		cf->qos = (int)num_arg("--qos", arg, 0, 2);
		if (cf->qos == 2)
			die(EXIT_USAGE, "--qos: QoS 2 is not supported; 1 (the "
			    "default) delivers every message at least once");
		break;
	case MQF_O_CAFILE:
		cf->cafile = arg;
		break;
	case MQF_O_CERT:
		cf->cert = arg;
		break;
	case MQF_O_KEY:
		cf->key = arg;
		break;
	case MQF_O_MQTTVER:
		cf->mqtt5 = mqf_version_arg(arg);
		break;
	case MQF_O_CLIENTID:
		o->client_id = arg;
		break;
	case MQF_O_KEEPALIVE:
		cf->keepalive = (int)num_arg("--keepalive", arg, o->keep_min,
		    o->keep_max);
		break;
	case MQF_O_WINDOW:
		cf->window = (unsigned)num_arg("--window", arg, 1,
		    o->window_max);
		break;
	case MQF_O_CONNS:
		o->q.nconns = (unsigned)num_arg("--connections", arg, 1,
		    MQT_CONNS_MAX);
		break;
	case MQF_O_RATE:
		cf->rate = (uint64_t)num_arg("--rate", arg, 0, 1000000);
		break;
	case MQF_O_DUMP:
		o->dump = 1;
		break;
	default:
		return 0;
	}
	return 1;
}

void
mqf_defaults(struct mqfopts *o, unsigned window_max, int keep_min,
    int keep_max)
{
	o->q.c.keepalive = 60;
	o->q.c.qos = 1;
	o->q.c.window = 100;
	o->q.nconns = 1;
	o->topic = "{ident}";
	o->window_max = window_max;
	o->keep_min = keep_min;
	o->keep_max = keep_max;
}

int
mqf_run(const struct fwd_conf *fc, const struct mqfopts *o,
    struct mqfmap *mp)
{
	struct fwd_mapping fm;
	struct dumpconf dc;
	int status;

	mqf_mapping(mp, &fm, &dc);
	status = o->dump ? fwd_main(fc, &dump_transport, &dc, &fm) :
	    fwd_main(fc, &mqt_transport, &o->q, &fm);
	mqf_free(mp);
	return status;
}

void
mqf_settle(struct mqfopts *o, struct fwd_conf *fc)
{
	struct mconf *cf = &o->q.c;

	cf->burst = cf->rate / 10 ? (unsigned)(cf->rate / 10) : 1;
	if (cf->rate == 0 || cf->burst > cf->window)
		cf->burst = cf->window;
	fc->inflight = (size_t)cf->window * o->q.nconns;
}

/* --mqtt-version V: 1 for 5, 0 for 3.1.1 ("311" too); exits 64 else. */
static int
mqf_version_arg(const char *v)
{
	if (strcmp(v, "3.1.1") == 0 || strcmp(v, "311") == 0)
		return 0;
	if (strcmp(v, "5") == 0)
		return 1;
	die(EXIT_USAGE, "--mqtt-version: '%s' is not 3.1.1 or 5", v);
}

void
mqf_client_id(struct mqfopts *o, const char *prog)
{
	const char *given = o->client_id;
	unsigned nconns = o->q.nconns;
	char *buf = o->base, host[64];
	size_t sz = sizeof o->base;

	o->q.base_id = o->base;
	if (given != NULL) {
		if (given[0] == '\0' || strlen(given) + (nconns > 1 ? 3 : 0) >
		    128)
			die(EXIT_USAGE, "--client-id: must be 1 to %d bytes",
			    nconns > 1 ? 125 : 128);
		snprintf(buf, sz, "%s", given);
		return;
	}
	if (gethostname(host, sizeof host) == -1)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	snprintf(buf, sz, "%s-%s-%ld", prog, host, (long)getpid());
}
