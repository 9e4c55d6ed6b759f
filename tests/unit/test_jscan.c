/*
 * jscan: the fast path must never accept what jansson refuses, and must
 * find the same top-level values; jscan_members must visit the members
 * jansson builds, in its order.  Hand-picked cases, then a few hundred
 * thousand random mutations of a realistic message checked against jansson.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jscan.h"
#include "unit.h"
#include "../jscanref.h"

static const char *keys[] = { "ident", "timestamp", "channel.id", "name",
	"pos", "flag" };
#define NKEYS (sizeof keys / sizeof keys[0])

/*
 * jscan_members' walk against jansson's object: the same members in the
 * same order (jansson keeps a repeated key at its first place, so lines
 * with one are only counted), each key and value the same.
 */
struct walk {
	json_t	       *o;
	void	       *it;
	size_t		n;
	int		ok;
	size_t		stopat;		/* stop the scan at this member */
};

static int
visit(void *arg, const struct jspan *k, const struct jspan *v)
{
	struct walk *w = arg;
	const char *jk;

	if (w->n++ == w->stopat)
		return 0;
	if (w->o == NULL || w->it == NULL)
		return 1;
	jk = json_object_iter_key(w->it);
	if (k->type != JS_STRING || (!k->escaped && (strlen(jk) != k->len ||
	    memcmp(jk, k->p, k->len) != 0)) ||
	    !same(v, json_object_iter_value(w->it)))
		w->ok = 0;
	w->it = json_object_iter_next(w->o, w->it);
	return 1;
}

/*
 * Returns 1 when jscan_members' verdict and walk agree with jansson, and
 * its verdict is jscan_object's when no keys are looked for (escaped keys
 * are only a reason to say "don't know" when matching keys).
 */
static int
agreemembers(const char *s, size_t len, json_t *o)
{
	struct walk w = { NULL, NULL, 0, 1, (size_t)-1 };
	int r;

	w.o = o;
	if (w.o != NULL && json_is_object(w.o))
		w.it = json_object_iter(w.o);
	r = jscan_members(s, len, visit, &w);
	if (r && w.n != json_object_size(w.o))
		w.ok = 1;	/* a repeated key: only the verdict counts */
	if (r && (w.o == NULL || !json_is_object(w.o)))
		w.ok = 0;
	if (r != jscan_object(s, len, NULL, 0, NULL))
		w.ok = 0;	/* same acceptance as jscan_object */
	return w.ok;
}

/* Returns 1 when jscan's verdict is consistent with jansson's. */
static int
agree(const char *s, size_t len, int *accepted)
{
	struct jspan sp[NKEYS];
	json_t *o;
	size_t i;
	int ok = 1;

	*accepted = jscan_object(s, len, keys, NKEYS, sp);
	o = jparse(s, len);
	if (!agreemembers(s, len, o)) {
		json_decref(o);
		return 0;
	}
	if (!*accepted) {
		json_decref(o);
		return 1;
	}
	if (o == NULL || !json_is_object(o))
		ok = 0;
	for (i = 0; ok && i < NKEYS; i++)
		ok = same(&sp[i], json_object_get(o, keys[i]));
	json_decref(o);
	return ok;
}

/* jscan_members: stopping, repeated keys, the bound on long integers. */
static void
members(void)
{
	struct walk w = { NULL, NULL, 0, 1, 1 };
	char buf[4096];
	size_t len, i;

	CHECK(jscan_members("{\"a\":1,\"b\":2,\"c\":3}", 19, visit, &w) == 0 &&
	    w.n == 2, "members: a callback returning 0 stops the scan");
	w.n = 0;
	w.stopat = (size_t)-1;
	CHECK(jscan_members("{\"a\":1,\"a\":2}", 13, visit, &w) == 1 &&
	    w.n == 2, "members: a repeated key is met twice");
	w.n = 0;
	CHECK(jscan_members(" {} ", 4, visit, &w) == 1 && w.n == 0,
	    "members: an empty object has none");
	CHECK(jscan_members("{\"a\":1} ,", 10, visit, &w) == 0,
	    "members: trailing garbage after the members is refused");
	for (i = 64; i <= 65; i++) {
		size_t k;

		len = (size_t)sprintf(buf, "{\"a\":[");
		for (k = 0; k < i; k++)
			len += (size_t)sprintf(buf + len, "%s%s", k ? "," : "",
			    k % 2 ? "-1000000000000000000" :
			    "1000000000000000000");
		len += (size_t)sprintf(buf + len, "]}");
		w.n = 0;
		CHECK(jscan_members(buf, len, visit, &w) == (i == 64),
		    "members: %zu integers of 19 digits %s", i,
		    i == 64 ? "scanned" : "left to jansson");
	}
}

/* Nesting deeper than jansson takes is refused too. */
static void
deep(void)
{
	static char s[7000];
	size_t n = 0;
	int i;

	n += (size_t)sprintf(s, "{\"a\":");
	for (i = 0; i < 3000; i++)
		s[n++] = '[';
	for (i = 0; i < 3000; i++)
		s[n++] = ']';
	s[n++] = '}';
	CHECK(!jscan_object(s, n, NULL, 0, NULL),
	    "jscan: 3000 levels (jansson refuses) are not accepted");
}

int
main(void)
{
	deep();
	static const char *const yes[] = {
		"{}", " { } ", "{\"a\":1}",
		"{\"ident\":\"x\",\"timestamp\":1.5}",
		"{\"a\":[1,2,{\"b\":[]}],\"c\":\"\\u00e9\\n\",\"d\":-0.5}",
		"{\"ident\":\"caf\xc3\xa9\"}", "{\"a\":\"\\ud83d\\ude97\"}",
		"{\"ident\":1,\"ident\":2}",
		"{\"a\":true,\"b\":false,\"c\":null}",
	};
	static const char *const no[] = {
		"", "[]", "1", "\"x\"", "{", "{\"a\"}", "{\"a\":}",
		"{\"a\":1,}",
		"{a:1}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}",
		"{\"a\":1e5}", "{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}",
		"{\"a\":\"\\udc00x\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\t\"}",
		"{\"a\":\"\xc3\"}", "{\"a\":\"\xed\xa0\x80\"}",
		"{\"a\":\"\xc0\xaf\"}",
		"{\"a\":1} x", "{\"a\":1}{}", "{\"a\":tru}", "{\"a\":nul}",
		"{\"\\u0069dent\":1}", "{\"a\":[1,]}",
	};
	const char *base = "{\"ident\":\"352625066004561\",\"timestamp\":"
	    "1764000001.209955,\"channel.id\":1234,"
	    "\"name\":\"Truck \\\"01\\\"\","
	    "\"pos\":{\"lat\":55.789596,\"lon\":[37.668702,-1]},\"flag\":true,"
	    "\"x\":null,\"u\":\"\xc3\xa9\xe2\x82\xac\\u00e9\",\"n\":-0,"
	    "\"big\":123456789012345678901234567890}";
	static const char alphabet[] =
	    "{}[]\":,.-+0123456789eEtrufalsn \\u\t\xc3\xa9\x80";
	char buf[1024];
	size_t i, len, blen = strlen(base);
	unsigned iter, k, n;
	int acc, allagree = 1, nacc = 0, fails = 0;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		CHECK(agree(yes[i], strlen(yes[i]), &acc) && acc,
		    "accepted and agrees: %s", yes[i]);
	}
	for (i = 0; i < sizeof no / sizeof no[0]; i++) {
		struct jspan sp[NKEYS];
		/* An escaped key is only "don't know" when matching keys. */
		CHECK(!jscan_object(no[i], strlen(no[i]), keys, NKEYS, sp) &&
		    (strstr(no[i], "\\u0069") != NULL ||
		    !jscan_members(no[i], strlen(no[i]), visit,
		    &(struct walk){ NULL, NULL, 0, 1, (size_t)-1 })),
		    "left to jansson: %s", no[i]);
	}
	/* UTF-8 at its edges, NUL bytes, nesting and number length limits. */
	{
#define L(s)	{ s, sizeof s - 1 }
		static const struct { const char *s; size_t n; } ok8[] = {
			L("{\"a\":\"\xe0\xa0\x80\"}"),	/* U+0800,
							   first 3-byte */
			L("{\"a\":\"\xed\x9f\xbf\"}"),	/* U+D7FF,
							   below surrogates */
			L("{\"a\":\"\xee\x80\x80\"}"),	/* U+E000, above them */
			L("{\"a\":\"\xf0\x90\x80\x80\"}"),	/* U+10000 */
			L("{\"a\":\"\xf4\x8f\xbf\xbf\"}"),	/* U+10FFFF */
			L("{\"a\":\"\xdf\xbf\"}"),		/* U+07FF */
			L("{\"\":7,\"ident\":\"x\"}"),	/* an empty key */
		}, bad8[] = {
			L("{\"a\":\"\xc0\x80\"}"),		/* overlong
								   2-byte NUL */
			L("{\"a\":\"\xc1\xbf\"}"),	/* overlong 2-byte */
			L("{\"a\":\"\xe0\x80\xaf\"}"),	/* overlong
							   3-byte '/' */
			L("{\"a\":\"\xe0\x9f\xbf\"}"),	/* overlong
							   3-byte U+07FF */
			L("{\"\xe0\x80\xaf\":1}"),	/* ... in a key */
			L("{\"a\":\"\xf0\x80\x80\xaf\"}"),	/* overlong
								   4-byte */
			L("{\"a\":\"\xf0\x8f\xbf\xbf\"}"),	/* overlong
								   4-byte
								   U+FFFF */
			L("{\"a\":\"\xf4\x90\x80\x80\"}"),	/* U+110000 */
			L("{\"a\":\"\xf5\x80\x80\x80\"}"),
			L("{\"a\":\"\xed\xa0\x80\"}"),	/* U+D800 as UTF-8 */
			L("{\"a\":\"\xed\xbf\xbf\"}"),	/* U+DFFF as UTF-8 */
			L("{\"a\":\"\xe2\x82\"}"),		/* cut short */
			L("{\"a\":\"\x80\"}"),		/* a lone
							   continuation */
			L("{\"a\":\"\\udc00\\ud800\"}"),	/* a reversed
								   pair */
			L("{\"a\":\"x\0y\"}"),		/* raw NUL
							   in a string */
			L("{\"a\":1\0}"),		/* ... after a number */
			L("{\"a\":1}\0"),			/* ... after
								   the object */
			L("{\"a\":\"\\u0000\"}"),	/* escaped NUL */
			L("{\"a\":1e400}"),
		};
#undef L
		struct jspan sp[NKEYS];
		char deep[300], num[200];
		int lv;

		for (i = 0; i < sizeof ok8 / sizeof ok8[0]; i++)
			CHECK(agree(ok8[i].s, ok8[i].n, &acc) && acc,
			    "valid UTF-8 edge %zu accepted, agrees", i);
		for (i = 0; i < sizeof bad8 / sizeof bad8[0]; i++)
			CHECK(!jscan_object(bad8[i].s, bad8[i].n, keys, NKEYS,
			    sp), "bad UTF-8 / NUL case %zu left to jansson", i);
		/* 64 levels are scanned, 65 left to jansson, 3000 refused. */
		for (lv = 64; lv <= 65; lv++) {
			len = (size_t)snprintf(deep, sizeof deep, "{\"a\":");
			memset(deep + len, '[', (size_t)lv - 1);
			memset(deep + len + lv - 1, ']', (size_t)lv - 1);
			len += 2 * ((size_t)lv - 1);
			deep[len++] = '}';
			if (lv == 64)
				CHECK(agree(deep, len, &acc) && acc,
				    "64 levels of nesting: accepted");
			else
				CHECK(!jscan_object(deep, len, keys, NKEYS, sp),
				    "65 levels of nesting: left to jansson");
		}
		/* Numbers: 100 characters are scanned, 101 left to jansson. */
		for (lv = 100; lv <= 101; lv++) {
			len = (size_t)snprintf(num, sizeof num, "{\"ident\":"
			    "\"x\",\"timestamp\":");
			memset(num + len, '9', (size_t)lv);
			len += (size_t)lv;
			num[len++] = '}';
			if (lv == 100)
				CHECK(agree(num, len, &acc) && acc,
				    "a 100-digit integer: accepted as "
				    "jansson's real");
			else
				CHECK(!jscan_object(num, len, keys, NKEYS, sp),
				    "a 101-digit integer: left to jansson");
		}
	}

	CHECK(agree(base, blen, &acc) && acc, "a realistic message: accepted, "
	    "same values as jansson");
	members();

	/* Random edits of the realistic message: never more lenient. */
	for (iter = 0; iter < unit_rounds(200000); iter++) {
		memcpy(buf, base, blen);
		len = blen;
		n = 1 + unit_rnd(3);
		for (k = 0; k < n; k++) {
			i = unit_rnd((unsigned)len);
			switch (unit_rnd(3)) {
			case 0:		/* replace */
				buf[i] =
				    alphabet[unit_rnd(sizeof alphabet - 1)];
				break;
			case 1:		/* delete */
				memmove(buf + i, buf + i + 1, len - i - 1);
				len--;
				break;
			default:	/* insert */
				if (len + 1 >= sizeof buf)
					break;
				memmove(buf + i + 1, buf + i, len - i);
				buf[i] =
				    alphabet[unit_rnd(sizeof alphabet - 1)];
				len++;
			}
		}
		if (!agree(buf, len, &acc)) {
			allagree = 0;
			if (fails++ < 5)
				unit_hex("disagrees", buf, len);
		}
		nacc += acc;
	}
	CHECK(allagree, "%lu mutations: jscan never accepts what jansson "
	    "refuses, and finds the same values (%d accepted)",
	    unit_rounds(200000), nacc);
	return UNIT_END();
}
