/*
 * libFuzzer target: the Wialon encoder against a strict decoder.
 *
 * Input bytes that parse as a JSON object become a flespi message (an
 * "ident" and a "timestamp" are put in when the input has no usable ones),
 * which wialon_encode() turns into a packet with the default parameter
 * map.  The packet must pass the strict decoder in wdecode.h, and its
 * blocks must be exactly the ones the documented mapping gives, computed
 * here independently of src/wialon.c and src/pmap.c:
 *   - posinfo first when position.latitude and position.longitude are both
 *     numbers (then the six position.* fields are not sent again);
 *     altitude as given (missing: 0), speed rounded and clamped to
 *     0..65535, direction taken modulo 360 into 0..359 (rounded, 359.5
 *     and up is 0), satellites rounded and clamped to 0..255;
 *   - every other field but ident and timestamp in the object's order,
 *     renamed (din, dout, the voltages, ignition, GSM level) or sanitised
 *     (A-Z lowered, bytes outside a-z 0-9 _ become '_', 37 bytes at most;
 *     an empty name is not sent); a resulting name posinfo, image or imag
 *     gets '_' appended; the first field to produce a block under a name
 *     wins;
 *   - int32 -> type 3, other integers -> 5, reals -> 4 bit-exact,
 *     booleans -> 3 (0/1), strings -> 1 with the same bytes (a string
 *     holding a NUL is skipped); arrays, objects and null are skipped;
 *   - avl_inputs/avl_outputs (the masks): integers in INT32_MIN..UINT32_MAX
 *     as 32 bits, booleans as 0/1, anything else skipped; avl_driver:
 *     integers as decimal text, strings as text, anything else skipped.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pmap.h"
#include "wialon.h"
#include "wdecode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXFIELDS	3000

struct want {
	char		name[38];
	unsigned	type;
	int64_t		i;		/* types 3 and 5 */
	double		d;		/* type 4 */
	const char     *s;		/* type 1 */
	size_t		slen;
	char		buf[24];
};

static struct want want[MAXFIELDS + 1];
static size_t nwant;
static struct wd_packet pkt;
static struct pmap pm;
static int pm_ready;

static void
fail(const char *why, const char *name)
{
	fprintf(stderr, "fuzz_wialon: %s%s%s\n", why, name ? ": " : "",
	    name ? name : "");
	abort();
}

static const char *const renames[][2] = {
	{ "din", "avl_inputs" },
	{ "dout", "avl_outputs" },
	{ "external.powersource.voltage", "pwr_ext" },
	{ "battery.voltage", "pwr_int" },
	{ "engine.ignition.status", "ign" },
	{ "gsm.signal.level", "gsm" },
};

static void
wname(const char *key, char out[38])
{
	size_t i, n;
	unsigned char c;

	for (i = 0; i < sizeof renames / sizeof renames[0]; i++)
		if (strcmp(key, renames[i][0]) == 0) {
			strcpy(out, renames[i][1]);
			return;
		}
	for (n = 0; n < 37 && key[n] != '\0'; n++) {
		c = (unsigned char)key[n];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_'))
			c = '_';
		out[n] = (char)c;
	}
	out[n] = '\0';
}

static struct wd_names wnames;	/* the names in want[] */

static int
ispos(const char *k)
{
	return strcmp(k, "position.longitude") == 0 ||
	    strcmp(k, "position.latitude") == 0 ||
	    strcmp(k, "position.altitude") == 0 ||
	    strcmp(k, "position.speed") == 0 ||
	    strcmp(k, "position.direction") == 0 ||
	    strcmp(k, "position.satellites") == 0;
}

/* The block the mapping gives for one field, appended to want[]. */
static void
expect(const char *key, json_t *v)
{
	struct want *w = &want[nwant];
	int mask, driver;
	json_int_t i;

	memset(w, 0, sizeof *w);
	wname(key, w->name);
	if (w->name[0] == '\0')
		return;
	if (strcmp(w->name, "posinfo") == 0 || strcmp(w->name, "image") == 0 ||
	    strcmp(w->name, "imag") == 0)
		strcat(w->name, "_");
	mask = strcmp(w->name, "avl_inputs") == 0 ||
	    strcmp(w->name, "avl_outputs") == 0;
	driver = strcmp(w->name, "avl_driver") == 0;
	switch (json_typeof(v)) {
	case JSON_INTEGER:
		i = json_integer_value(v);
		if (driver) {
			w->type = 1;
			w->slen = (size_t)snprintf(w->buf, sizeof w->buf,
			    "%lld", (long long)i);
			w->s = w->buf;
		} else if (mask) {
			if (i < INT32_MIN || i > (json_int_t)UINT32_MAX)
				return;
			w->type = 3;
			w->i = (int32_t)(uint32_t)(uint64_t)i;
		} else {
			w->type = (i >= INT32_MIN && i <= INT32_MAX) ? 3 : 5;
			w->i = i;
		}
		break;
	case JSON_REAL:
		if (mask || driver)
			return;
		w->type = 4;
		w->d = json_real_value(v);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		if (driver)
			return;
		w->type = 3;
		w->i = json_is_true(v);
		break;
	case JSON_STRING:
		if (mask || memchr(json_string_value(v), 0,
		    json_string_length(v)) != NULL)
			return;
		w->type = 1;
		w->s = json_string_value(v);
		w->slen = json_string_length(v);
		break;
	default:
		return;
	}
	if (wd_names_add(&wnames, w->name))
		return;
	nwant++;
}

static double
numor0(json_t *v)
{
	return json_is_number(v) ? json_number_value(v) : 0;
}

static unsigned
clamp(double d, unsigned max)
{
	if (isnan(d) || d <= 0)
		return 0;
	if (d >= max)
		return max;
	return (unsigned)floor(d + 0.5);
}

/* Degrees into 0..359: modulo 360 first, then to the nearest degree. */
static unsigned
course(double d)
{
	double r = fmod(d, 360.0);
	unsigned c;

	if (isnan(r))
		return 0;
	if (r < 0)
		r += 360.0;
	c = (unsigned)round(r);
	return c % 360;
}

static void
check_block(const struct wd_block *b, const struct want *w)
{
	double d;

	if (strcmp(b->name, w->name) != 0)
		fail("block out of order or unexpected", b->name);
	if (b->type != w->type)
		fail("wrong type", b->name);
	switch (w->type) {
	case 1:
		if (b->vlen != w->slen + 1 || memcmp(b->val, w->s, w->slen))
			fail("text differs", b->name);
		break;
	case 3:
		if ((int32_t)wd_be32(b->val) != w->i)
			fail("int differs", b->name);
		break;
	case 5:
		if ((int64_t)wd_be64(b->val) != w->i)
			fail("long differs", b->name);
		break;
	case 4:
		d = wd_f64le(b->val);
		if (memcmp(&d, &w->d, sizeof d) != 0)
			fail("double differs", b->name);
		break;
	}
}

static void
check_posinfo(const struct wd_block *b, json_t *msg)
{
	const unsigned char *v = b->val;
	double want_d[3], got;
	int i;

	want_d[0] = json_number_value(json_object_get(msg,
	    "position.longitude"));
	want_d[1] = json_number_value(json_object_get(msg,
	    "position.latitude"));
	want_d[2] = numor0(json_object_get(msg, "position.altitude"));
	for (i = 0; i < 3; i++) {
		got = wd_f64le(v + 8 * i);
		if (memcmp(&got, &want_d[i], sizeof got) != 0)
			fail("posinfo coordinate differs", NULL);
	}
	if ((unsigned)(v[24] << 8 | v[25]) !=
	    clamp(numor0(json_object_get(msg, "position.speed")), 65535))
		fail("posinfo speed differs", NULL);
	if ((unsigned)(v[26] << 8 | v[27]) !=
	    course(numor0(json_object_get(msg, "position.direction"))))
		fail("posinfo course differs", NULL);
	if (v[28] != clamp(numor0(json_object_get(msg,
	    "position.satellites")), 255))
		fail("posinfo satellites differ", NULL);
}

/* An ident the encoder must accept: non-empty printable ASCII. */
static int
goodident(json_t *v)
{
	const char *s;
	size_t i, n;

	if (!json_is_string(v))
		return 0;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > 200)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *msg, *v, *ts;
	json_error_t jerr;
	struct wbuf out = { 0 };
	const char *key, *why, *uid;
	char err[256];
	double t;
	size_t i, first;
	int haspos;

	if (!pm_ready) {
		if (pmap_init(&pm) == -1)
			abort();
		pm_ready = 1;
	}
	msg = json_loadb((const char *)data, size, JSON_ALLOW_NUL, &jerr);
	if (msg == NULL)
		return 0;
	if (!json_is_object(msg) || json_object_size(msg) > MAXFIELDS) {
		json_decref(msg);
		return 0;
	}
	if (!goodident(json_object_get(msg, "ident")))
		json_object_set_new(msg, "ident", json_string("fuzz-unit"));
	uid = json_string_value(json_object_get(msg, "ident"));
	ts = json_object_get(msg, "timestamp");
	t = json_is_number(ts) ? floor(json_number_value(ts)) : NAN;
	if (!(t >= 0 && t <= INT32_MAX)) {
		json_object_set_new(msg, "timestamp", json_real(1700000000.75));
		t = 1700000000;
	}

	if (wialon_encode(&pm, msg, "ident", uid,
	    json_number_value(json_object_get(msg, "timestamp")), &out, err,
	    sizeof err) == -1)
		fail("encoder refused a valid message", err);
	if ((why = wd_decode(out.p, out.len, &pkt)) != NULL)
		fail("decoder refused the packet", why);
	if (strcmp(pkt.uid, uid) != 0)
		fail("uid differs", pkt.uid);
	if (pkt.time != (int32_t)t)
		fail("time differs", NULL);

	haspos = json_is_number(json_object_get(msg, "position.latitude")) &&
	    json_is_number(json_object_get(msg, "position.longitude"));
	nwant = 0;
	wd_names_clear(&wnames);
	json_object_foreach(msg, key, v) {
		if (strcmp(key, "ident") == 0 || strcmp(key, "timestamp") == 0 ||
		    (haspos && ispos(key)))
			continue;
		expect(key, v);
	}
	first = 0;
	if (haspos) {
		if (pkt.n == 0 || strcmp(pkt.b[0].name, "posinfo") != 0)
			fail("posinfo missing or not first", NULL);
		check_posinfo(&pkt.b[0], msg);
		first = 1;
	} else if (wd_find(&pkt, "posinfo") != NULL)
		fail("posinfo without a position", NULL);
	if (pkt.n - first != nwant)
		fail("block count differs", NULL);
	for (i = 0; i < nwant; i++)
		check_block(&pkt.b[first + i], &want[i]);

	wbuf_free(&out);
	json_decref(msg);
	return 0;
}
