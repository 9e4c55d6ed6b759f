/*
 * libFuzzer target: MQTT topic templates and the AWS topic validator.
 *
 * Input: TEMPLATE NUL JSON.  The template is parsed; when it parses, it is
 * expanded from the JSON (when that is an object; otherwise from an object
 * with a value for every placeholder taken from the JSON text) and through
 * topic_expand_values() with slices of the input as values.  Nothing may
 * crash, and every topic the library produces or accepts must obey AWS IoT
 * Core's rules as re-checked here independently (see src/topic.c):
 * 1..256 bytes (the "$aws/rules/RULE/" prefix of a Basic Ingest topic not
 * counted), at most 7 '/' (likewise), no empty level, no '+' '#' NUL,
 * valid UTF-8 without control characters (C0, DEL, C1) or non-characters,
 * and a leading '$' only as $aws/rules/RULE/... with RULE 1..128 of
 * A-Z a-z 0-9 _.  topic_check() must agree with this check on every
 * input, both ways; and a successful expansion must equal the template
 * expanded here independently.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *why, const char *s, size_t n)
{
	fprintf(stderr, "fuzz_topic: %s: '%.*s'\n", why, (int)n, s);
	abort();
}

/* Next code point of s[*i..n), or -1 when the bytes are not UTF-8. */
static long
nextcp(const unsigned char *s, size_t n, size_t *i)
{
	unsigned char c = s[*i];
	size_t need, k;
	long cp, min;

	if (c < 0x80) {
		(*i)++;
		return c;
	}
	if ((c & 0xe0) == 0xc0) {
		need = 1; cp = c & 0x1f; min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		need = 2; cp = c & 0x0f; min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		need = 3; cp = c & 0x07; min = 0x10000;
	} else
		return -1;
	if (*i + need >= n)
		return -1;
	for (k = 1; k <= need; k++) {
		if ((s[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[*i + k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += need + 1;
	return cp;
}

static int
isrulechar(unsigned char c)
{
	return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

/* 1 when s[0..n) is a topic AWS accepts for publishing, by the rules above. */
static int
awsok(const char *topic, size_t n)
{
	const unsigned char *s = (const unsigned char *)topic;
	size_t i = 0, start = 0, lvl, slashes = 0, rl;
	long cp;

	if (n == 0)
		return 0;
	while (i < n) {
		if ((cp = nextcp(s, n, &i)) < 0)
			return 0;
		if (cp == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
		    cp == '+' || cp == '#')
			return 0;
		if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xffff) == 0xfffe ||
		    (cp & 0xffff) == 0xffff)
			return 0;
	}
	if (s[0] == '$') {
		if (n < 11 || memcmp(s, "$aws/rules/", 11) != 0)
			return 0;
		for (rl = 0; 11 + rl < n && s[11 + rl] != '/'; rl++)
			if (!isrulechar(s[11 + rl]))
				return 0;
		if (rl == 0 || rl > 128 || 11 + rl + 1 >= n)
			return 0;
		start = 11 + rl + 1;
	}
	if (n - start > 256)
		return 0;
	/* Levels between slashes, none empty. */
	for (lvl = 0, i = start; i <= n; i++) {
		if (i == n || s[i] == '/') {
			if (lvl == 0)
				return 0;
			if (i < n)
				slashes++;
			lvl = 0;
		} else
			lvl++;
	}
	return slashes <= 7;
}

/*
 * The template expanded here independently: "{{" and "}}" are braces,
 * "{name}" is msg's field name (strings as they are, integers in decimal,
 * reals as %.17g, booleans as true/false).  Returns the length, or -1 when
 * a field is missing or not a scalar, or the result would not fit.
 */
static long
myexpand(const char *tmpl, json_t *msg, char *out, size_t outsz)
{
	const char *s = tmpl, *e, *v;
	char name[4096], num[64];
	size_t o = 0, vlen;
	json_t *jv;

	while (*s != '\0') {
		if ((s[0] == '{' && s[1] == '{') || (s[0] == '}' && s[1] == '}')) {
			v = s;
			vlen = 1;
			s += 2;
		} else if (*s == '{') {
			if ((e = strchr(s, '}')) == NULL ||
			    (size_t)(e - s - 1) >= sizeof name)
				return -1;
			memcpy(name, s + 1, (size_t)(e - s - 1));
			name[e - s - 1] = '\0';
			s = e + 1;
			jv = json_object_get(msg, name);
			v = num;
			if (json_is_string(jv)) {
				v = json_string_value(jv);
				vlen = json_string_length(jv);
			} else if (json_is_integer(jv))
				vlen = (size_t)snprintf(num, sizeof num, "%lld",
				    (long long)json_integer_value(jv));
			else if (json_is_real(jv))
				vlen = (size_t)snprintf(num, sizeof num, "%.17g",
				    json_real_value(jv));
			else if (json_is_boolean(jv))
				vlen = (size_t)snprintf(num, sizeof num, "%s",
				    json_is_true(jv) ? "true" : "false");
			else
				return -1;
		} else {
			v = s++;
			vlen = 1;
		}
		if (vlen >= outsz - o)
			return -1;
		memcpy(out + o, v, vlen);
		o += vlen;
	}
	out[o] = '\0';
	return (long)o;
}

static void
checkout(const char *buf, int len, size_t bufsz)
{
	if (len < 0)
		return;
	if ((size_t)len >= bufsz || buf[len] != '\0')
		fail("expansion not NUL-terminated in the buffer", buf, 0);
	if (!awsok(buf, (size_t)len))
		fail("library produced a topic AWS refuses", buf, (size_t)len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *nul, *vals[64];
	char *tmpl, err[512], wbuf[256], buf[TOPIC_BUFSZ], mine[TOPIC_BUFSZ];
	size_t tlen, jlen, lens[64], i, nf;
	struct topic *t;
	json_t *msg;
	int len, ok, lib;

	if (size > 4096)
		return 0;
	/* The whole input as a topic: both checks must agree. */
	lib = topic_check(&topic_aws, in, size) == NULL;
	ok = awsok(in, size);
	if (lib != ok)
		fail(lib ? "topic_check accepts a bad topic" :
		    "topic_check refuses a good topic", in, size);

	nul = memchr(in, 0, size);
	tlen = nul ? (size_t)(nul - in) : size;
	jlen = nul ? size - tlen - 1 : 0;
	if ((tmpl = malloc(tlen + 1)) == NULL)
		return 0;
	memcpy(tmpl, in, tlen);
	tmpl[tlen] = '\0';
	t = topic_parse(tmpl, &topic_aws, err, sizeof err);
	if (t == NULL) {
		free(tmpl);
		return 0;
	}
	nf = topic_nfields(t);
	if (topic_is_fixed(t) != (nf == 0))
		fail("topic_is_fixed disagrees with topic_nfields", "", 0);

	msg = nul ? json_loadb(nul + 1, jlen, JSON_ALLOW_NUL, NULL) : NULL;
	if (!json_is_object(msg)) {
		/* Every placeholder gets the JSON text (or "v") as a string. */
		json_decref(msg);
		msg = json_object();
		for (i = 0; msg && i < nf; i++)
			json_object_set_new(msg, topic_field(t, i), nul ?
			    json_stringn_nocheck(nul + 1, jlen) :
			    json_string("v"));
	}
	len = topic_expand(t, msg, buf, sizeof buf, wbuf, sizeof wbuf);
	checkout(buf, len, sizeof buf);
	if (len >= 0 && (myexpand(tmpl, msg, mine, sizeof mine) != len ||
	    memcmp(mine, buf, (size_t)len) != 0))
		fail("expansion differs from the template's meaning", buf,
		    (size_t)len);
	json_decref(msg);

	/* Values cut from the JSON part, including empty and invalid ones. */
	if (nf <= 64) {
		for (i = 0; i < nf; i++) {
			size_t a = jlen ? (i * 7) % jlen : 0;
			size_t b = jlen ? (i * 13 + 5) % (jlen + 1) : 0;
			if (b < a)
				b = a;
			vals[i] = nul ? nul + 1 + a : "";
			lens[i] = b - a;
		}
		len = topic_expand_values(t, vals, lens, buf, sizeof buf, wbuf,
		    sizeof wbuf);
		checkout(buf, len, sizeof buf);
		/* A small buffer must fail cleanly, never overflow. */
		len = topic_expand_values(t, vals, lens, buf, 8, wbuf,
		    sizeof wbuf);
		if (len >= 8)
			fail("expansion longer than the buffer", buf, 8);
	}
	topic_free(t);
	free(tmpl);
	return 0;
}
