/* reply: channel-messages answers to NDJSON lines, byte for byte. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "reply.h"
#include "statefile.h"
#include "unit.h"

/* Parse a copy of s (reply_parse works in place). */
static int
parse(const char *s, struct reply *r, char **buf, const char **why)
{
	static char whybuf[256];
	size_t n = strlen(s);

	free(*buf);
	*buf = malloc(n + 1);
	memcpy(*buf, s, n + 1);
	return reply_parse(*buf, n, r, why, whybuf, sizeof whybuf);
}

#define GOOD(in, want, key, cnt, what) do {				\
	int rc_ = parse((in), &r, &buf, &why);				\
	CHECK(rc_ == 0, "%s: accepted%s%s", (what), rc_ ? ": " : "",	\
	    rc_ ? why : "");						\
	if (rc_ == 0) {							\
		CHECK_MEM(r.lines, r.len, (want), strlen(want),		\
		    "%s: lines", (what));				\
		CHECK(r.next_key == (key), "%s: next_key %llu", (what),	\
		    (unsigned long long)r.next_key);			\
		CHECK(r.count == (cnt), "%s: %zu lines", (what), r.count); \
	}								\
} while (0)

/* Refused; shape tells whether the body was JSON of another shape. */
#define SHAPE(in, want, what) do {					\
	int rc_ = parse((in), &r, &buf, &why);				\
	CHECK(rc_ == -1 && r.shape == (want), "%s: refused, shape %d "	\
	    "(rc %d, shape %d: %s)", (what), (want), rc_, r.shape,	\
	    rc_ ? why : "");						\
} while (0)

#define BAD(in, what) \
	CHECK(parse((in), &r, &buf, &why) == -1, "%s: rejected", (what))

/*
 * Differential check on mutated answers: reply_parse() accepts a body
 * exactly when jansson accepts it as a whole with the expected shape, and
 * then yields as many lines as result has elements.
 */
static void
test_mutations(const char *base)
{
	static const char alphabet[] = "{}[]\",:\\ 0-.eE9tnfu\n\xc3\xa9";
	char body[512], orig[512], whybuf[256];
	char refbody[512], refwhy[256];
	const char *why, *rwhy;
	struct reply r, rr;
	json_t *v, *res, *nk;
	json_error_t jerr;
	uint64_t rng;
	size_t n, agree = 0, accepted = 0, same = 0, i;
	int rc, rrc, want, k, nkok;

	for (i = 0; i < unit_rounds(20000); i++) {
		n = strlen(base);
		memcpy(body, base, n + 1);
		for (k = 0; k < 1 + (int)(i % 3) && n > 0; k++) {
			rng = unit_next();
			size_t pos = (size_t)(rng >> 8) % n;
			switch ((rng >> 40) % 3) {
			case 0:	/* replace a byte */
				body[pos] = alphabet[(rng >> 50) %
				    (sizeof alphabet - 1)];
				break;
			case 1:	/* truncate */
				n = pos;
				break;
			default:	/* delete a byte */
				memmove(body + pos, body + pos + 1,
				    n - pos - 1);
				n--;
			}
		}
		memcpy(orig, body, n);
		memcpy(refbody, body, n);
		rrc = reply_parse_ref(refbody, n, &rr, &rwhy, refwhy,
		    sizeof refwhy);
		/* As reply.c reads it: integers past 64 bits as reals. */
		if ((v = json_loadb(body, n, 0, &jerr)) == NULL &&
		    json_error_code(&jerr) == json_error_numeric_overflow) {
			v = json_loadb(body, n, JSON_DECODE_INT_AS_REAL, NULL);
			/*
			 * Every number a real now: next_key one written whole.
			 */
			nk = json_object_get(v, "next_key");
			nkok = json_is_real(nk) && json_real_value(nk) >= 0 &&
			    json_real_value(nk) < 1e15 &&
			    json_real_value(nk) == (double)(uint64_t)
			    json_real_value(nk);
		} else {
			nk = json_object_get(v, "next_key");
			nkok = json_is_integer(nk) &&
			    json_integer_value(nk) >= 0;
		}
		res = json_object_get(v, "result");
		want = json_is_array(res) && nkok && json_object_size(v) == 2;
		rc = reply_parse(body, n, &r, &why, whybuf, sizeof whybuf);
		if ((rc == 0) == want && (rc != 0 ||
		    r.count == json_array_size(res)))
			agree++;
		else
			printf("#   disagree (rc %d, want %d): %.*s\n", rc,
			    want, (int)n, orig);
		accepted += rc == 0;
		/* The scan path and the jansson reference: the same outcome. */
		if (rc == rrc && (rc == 0 ? r.count == rr.count &&
		    r.next_key == rr.next_key && r.len == rr.len &&
		    memcmp(r.lines, rr.lines, r.len) == 0 :
		    strcmp(why, rwhy) == 0 && r.shape == rr.shape))
			same++;
		else
			printf("#   scan path differs from jansson (rc %d/%d: "
			    "%s / %s): %.*s\n", rc, rrc, rc ? why : "",
			    rrc ? rwhy : "", (int)n, orig);
		json_decref(v);
	}
	CHECK(agree == unit_rounds(20000), "mutations: reply_parse agrees "
	    "with jansson on %zu of %lu bodies (%zu accepted)", agree,
	    unit_rounds(20000), accepted);
	CHECK(same == unit_rounds(20000), "mutations: the scan path and the "
	    "jansson reference agree on %zu of %lu bodies, reasons and lines "
	    "included", same, unit_rounds(20000));
}

static void
test_state(void)
{
	char dir[] = "/tmp/test_reply.XXXXXX", path[128], tmp[140];
	uint64_t k = 7;
	struct stat sb;
	FILE *f;

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(path, sizeof path, "%s/key", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	CHECK(state_load(path, &k) == 0 && k == 7, "state: missing file is 0");
	CHECK(state_save(path, 18446744073709551615ULL) == 0, "state: save");
	CHECK(state_load(path, &k) == 1 && k == 18446744073709551615ULL,
	    "state: the largest key round-trips");
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600,
	    "state: file is 0600");
	CHECK(access(tmp, F_OK) == -1, "state: no temporary file left");
	CHECK(state_save(path, 42) == 0 && state_load(path, &k) == 1 &&
	    k == 42, "state: overwritten");
	f = fopen(path, "w");
	fputs("12x\n", f);
	fclose(f);
	CHECK(state_load(path, &k) == -1 && errno == EINVAL,
	    "state: junk is EINVAL");
	f = fopen(path, "w");
	fclose(f);
	CHECK(state_load(path, &k) == -1 && errno == EINVAL,
	    "state: empty file is EINVAL");
	unlink(path);
	rmdir(dir);
}

/*
 * A batch big enough to be split between two threads: every element comes
 * out in order, and a bad element in either half refuses the whole answer.
 */
static void
threaded(void)
{
	size_t n = 300, k, o, bad, cap = 64 * 300 + 64;
	char *body = malloc(cap), *want = malloc(cap), whybuf[160];
	const char *w;
	struct reply r;
	size_t wl;

	for (bad = 0; bad < 3; bad++) {
		size_t badk = bad == 1 ? 10 : bad == 2 ? 250 : n;

		o = (size_t)snprintf(body, cap, "{\"result\":[");
		wl = 0;
		for (k = 0; k < n; k++) {
			char el[64];
			int l = snprintf(el, sizeof el, k == badk ?
			    "{\"n\":%zu,\"v\":tru}" :
			    "{\"n\":%zu,\"v\":12.64}", k);
			o += (size_t)snprintf(body + o, cap - o, "%s%s",
			    k ? " , " : "", el);
			memcpy(want + wl, el, (size_t)l);
			wl += (size_t)l;
			want[wl++] = '\n';
		}
		o += (size_t)snprintf(body + o, cap - o, "],\"next_key\":301}");
		if (badk == n) {
			CHECK(reply_parse(body, o, &r, &w, whybuf,
			    sizeof whybuf) == 0 &&
			    r.count == n && r.next_key == 301,
			    "300 elements over two threads");
			CHECK_MEM(r.lines, r.len, want, wl,
			    "... in order, byte for byte");
		} else {
			CHECK(reply_parse(body, o, &r, &w, whybuf,
			    sizeof whybuf) == -1,
			    "a bad element at %zu of 300 refuses the answer "
			    "(%s)", badk, w);
		}
	}
	free(body);
	free(want);
}

int
main(void)
{
	struct reply r;
	char *buf = NULL;
	const char *why;

	GOOD("{\"result\":[{\"a\":12.64,\"b\":53.95692},{\"c\":1}],"
	    "\"next_key\":3}",
	    "{\"a\":12.64,\"b\":53.95692}\n{\"c\":1}\n", 3, 2,
	    "compact answer");
	GOOD("{\"next_key\":17,\"result\":[]}", "", 17, 0, "empty result");
	/* Spaces in strings kept, beside structural characters or not. */
	GOOD("{\"result\":[{\"a\":\"x, y\",\"b\" :[1, 2] ,\"c\":\"p q\"},"
	    "{\"d\":\"Truck 01\",\"e\":\" { \"},{\"f\":\"a  b\",\"g\":\t1}],"
	    "\"next_key\":4}",
	    "{\"a\":\"x, y\",\"b\":[1,2],\"c\":\"p q\"}\n"
	    "{\"d\":\"Truck 01\",\"e\":\" { \"}\n"
	    "{\"f\":\"a  b\",\"g\":1}\n", 4, 3,
	    "whitespace outside strings removed, spaces inside kept");
	GOOD(" {\n \"next_key\" : 9 ,\n \"result\" : [\n  {\n   \"a b\" : "
	    "[ 1 , 2 ] ,\n   \"s\" : \"x  y\\t\"\n  } ,\n  { }\n ]\n}\n",
	    "{\"a b\":[1,2],\"s\":\"x  y\\t\"}\n{}\n", 9, 2,
	    "pretty answer, key first");
	GOOD("{\"result\":[{\"q\":\"\\\"],{\\\\\",\"e\":\"\\\\\"}],"
	    "\"next_key\":1}",
	    "{\"q\":\"\\\"],{\\\\\",\"e\":\"\\\\\"}\n", 1, 1,
	    "quotes, backslashes and brackets inside strings");
	GOOD("{\"result\":[{\"x\":1E+2,\"y\":-0.0,\"z\":1.50,"
	    "\"big\":123456789012345678901234567890}],\"next_key\":2}",
	    "{\"x\":1E+2,\"y\":-0.0,\"z\":1.50,"
	    "\"big\":123456789012345678901234567890}\n", 2, 1,
	    "numbers byte for byte, past 64 bits too");
	SHAPE("{\"result\":[1,\"s\",[],null,true],\"next_key\":6}", 1,
	    "elements that are not objects");
	SHAPE("{\"result\":[{\"a\":1},null],\"next_key\":3}", 1,
	    "an object, then null");
	SHAPE("{\"result\":[]}", 1, "no next_key");
	SHAPE("{\"result\":[],\"next_key\":1.5}", 1, "fractional next_key");
	SHAPE("{\"result\":[],\"next_key\":-3}", 1, "negative next_key");
	SHAPE("{\"next_key\":1}", 1, "no result");
	SHAPE("{\"result\":{},\"next_key\":1}", 1, "result an object");
	SHAPE("[{\"a\":1}]", 1, "an array, not an object");
	SHAPE("{\"result\":[],\"next_key\":1", 0, "truncated: not a shape");
	SHAPE("<html>502</html>", 0, "HTML: not a shape");
	SHAPE("{\"result\":[{\"a\":1}],\"next_key\":1.5", 0,
	    "fractional next_key, truncated: not a shape");
	GOOD("{\"result\":[{\"a\":1}],\"next_key\":2,\"errors\":[{\"code\":7,"
	    "\"reason\":\"x\\u001by\"}],\"warnings\":[\"w\\nz\",{\"id\":3}]}",
	    "{\"a\":1}\n", 2, 1, "errors and warnings members");
	CHECK(strcmp(r.notes, "error: x\\x1By (code 7)\nwarning: w\\nz\n"
	    "warning: {\"id\":3}\n") == 0, "... their entries, escaped");
	GOOD("{\"result\":[],\"next_key\":2,\"errors\":null,\"warnings\":[]}",
	    "", 2, 0, "empty errors and warnings");
	CHECK(r.notes[0] == '\0', "... no notes");
	GOOD("{\"errors\":[],\"result\":[{\"u\":\"Z\xc3\xbcrich\"}],"
	    "\"x\":{\"result\":[9]},\"next_key\":18446744073709551615}",
	    "{\"u\":\"Z\xc3\xbcrich\"}\n", 18446744073709551615ULL, 1,
	    "other keys skipped, UTF-8 kept, largest key");

	BAD("{\"result\":[{\"a\":1}],\"next_key\":18446744073709551616}",
	    "next_key past 64 bits");
	BAD("{\"result\":[],\"next_key\":-1}", "negative next_key");
	BAD("{\"result\":[],\"next_key\":1.5}", "fractional next_key");
	BAD("{\"result\":[],\"next_key\":1e3}", "next_key with exponent");
	BAD("{\"result\":[],\"next_key\":\"5\"}", "next_key as a string");
	BAD("{\"result\":[{\"a\":1}]}", "no next_key");
	BAD("{\"next_key\":1}", "no result");
	BAD("{\"result\":{},\"next_key\":1}", "result not an array");
	BAD("[{\"result\":[],\"next_key\":1}]", "top level not an object");
	BAD("{\"result\":[{\"a\":1},{\"b\":", "truncated body");
	BAD("<html>502 Bad Gateway</html>", "garbage body");
	BAD("", "empty body");
	BAD("{\"result\":[],\"next_key\":1} {}", "trailing data");
	BAD("{\"result\":[{\"a\":1},],\"next_key\":1}", "trailing comma");
	BAD("{\"result\":[{\"a\":1}{\"b\":2}],\"next_key\":1}",
	    "missing comma between elements");
	BAD("{\"result\":[{\"a\":1],\"next_key\":1}", "mismatched bracket");
	BAD("{\"result\":[1 2],\"next_key\":1}", "two scalars, no comma");
	BAD("{,\"result\":[],\"next_key\":1}", "leading comma");
	BAD("{\"result\":[],\"next_key\":1,}", "trailing comma in envelope");
	BAD("{\"result\":[],\"next_key\":01}", "next_key with a leading zero");
	BAD("{\"result\":[\"abc],\"next_key\":1}", "unclosed string");
	BAD("{\"result\":[],\"result\":[],\"next_key\":1}", "two results");
	BAD("{\"result\":[\"a\tb\"],\"next_key\":1}",
	    "raw control character in a string");
	BAD("{\"result\":[{\"a\":tru}],\"next_key\":1}", "bad literal");
	BAD("{\"result\":[],\"next_key\":1,\"x\":[}", "bad other member");
	BAD("{\"result\" [],\"next_key\":1}", "missing colon");
	{
		/* jansson 2.14 skips a NUL after a number: still not JSON. */
		static const char nul[] = "{\"result\":[{\"a\":1\0}],"
		    "\"next_key\":2}";
		char b[sizeof nul], wb[128];

		memcpy(b, nul, sizeof nul);
		CHECK(reply_parse(b, sizeof nul - 1, &r, &why, wb,
		    sizeof wb) == -1, "raw NUL after a number: rejected");
	}

	CHECK(reply_lines_in("a\nb\nc", 5) == 2,
	    "lines_in: partial line not counted");
	CHECK(reply_lines_in("a\nb\n", 4) == 2, "lines_in: whole lines");
	CHECK(reply_lines_in("", 0) == 0, "lines_in: nothing");

	test_mutations("{\"result\":[{\"a\":12.64,\"s\":\"x\\\" ]}\","
	    "\"n\":[1,{\"b\":null}]},{\"c\":true}],\"next_key\":42}");
	/* A flespi-like message: escapes, UTF-8, a counter past 64 bits. */
	test_mutations("{\"result\":[{\"ident\":\"3526\",\"timestamp\":"
	    "1764000001.801826,\"device.name\":\"Gr\xc3\xbcn \\u00e9\\n\","
	    "\"can.x\":18446744073709551616,\"v\":-0.5,\"ok\":false,"
	    "\"a\":[1,\"\\ud83d\\ude00\"]},{}],\"next_key\":7}");
	test_state();
	free(buf);
	threaded();
	return UNIT_END();
}
