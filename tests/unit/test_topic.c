/* The topic template, the AWS topic validator and the token bucket. */
#include <string.h>

#include <jansson.h>

#include "tbucket.h"
#include "topic.h"
#include "unit.h"

static const char *
valid(const char *s)
{
	return topic_check(&topic_aws, s, strlen(s));
}

/* Expand tmpl over the JSON object msg; "!reason" on failure. */
static const char *
expand(const char *tmpl, const char *msg)
{
	static char buf[TOPIC_BUFSZ + 200];
	char err[200];
	struct topic *t;
	json_t *o;
	int n;

	if ((t = topic_parse(tmpl, &topic_aws, err, sizeof err)) == NULL) {
		snprintf(buf, sizeof buf, "!parse: %s", err);
		return buf;
	}
	o = json_loads(msg, JSON_ALLOW_NUL, NULL);
	n = topic_expand(t, o, buf, TOPIC_BUFSZ, err, sizeof err);
	if (n < 0)
		snprintf(buf, sizeof buf, "!%s", err);
	else if ((size_t)n != strlen(buf))
		snprintf(buf, sizeof buf, "!length %d is wrong", n);
	json_decref(o);
	topic_free(t);
	return buf;
}

#define EXPANDS(tmpl, msg, want) do {					\
	const char *got_ = expand(tmpl, msg);				\
	CHECK(strcmp(got_, want) == 0, "%s -> %s (got %s)", tmpl, want, got_); \
} while (0)

#define FAILS(tmpl, msg, part) do {					\
	const char *got_ = expand(tmpl, msg);				\
	CHECK(got_[0] == '!' && strstr(got_, part) != NULL,		\
	    "%s over %s fails: %s (got %s)", tmpl, msg, part, got_);	\
} while (0)

static void
test_check(void)
{
	char big[400];

	CHECK(valid("a") == NULL, "one level");
	CHECK(valid("fleet/1/2/3/4/5/6/7") == NULL, "7 slashes");
	CHECK(valid("fleet/1/2/3/4/5/6/7/8") != NULL, "8 slashes refused");
	CHECK(valid("$aws/rules/R_1/a/b/c/d/e/f/g/h") == NULL,
	    "Basic Ingest: the prefix's 3 slashes do not count");
	CHECK(valid("$aws/rules/R/a/b/c/d/e/f/g/h/i") != NULL,
	    "Basic Ingest: 8 slashes after the prefix refused");
	CHECK(valid("$aws/rules/R") != NULL, "Basic Ingest without a topic");
	CHECK(valid("$aws/rules/R/") != NULL, "Basic Ingest, empty topic");
	CHECK(valid("$aws/rules//x") != NULL, "Basic Ingest, empty rule");
	CHECK(valid("$aws/rules/bad-name/x") != NULL, "rule name with '-'");
	CHECK(valid("$aws/things/x/shadow/update") != NULL, "other $aws topic");
	CHECK(valid("$SYS/x") != NULL, "leading $");
	CHECK(valid("a$b") == NULL, "$ inside is fine");
	CHECK(valid("a/+/b") != NULL && valid("a/#") != NULL &&
	    valid("a+b") != NULL, "wildcards refused");
	CHECK(valid("") != NULL, "empty topic");
	CHECK(valid("/a") != NULL && valid("a/") != NULL &&
	    valid("a//b") != NULL && valid("/") != NULL, "empty levels");
	CHECK(topic_check(&topic_aws, "a\0b", 3) != NULL, "NUL refused");
	CHECK(valid("a\tb") != NULL && valid("a\x7f") != NULL,
	    "control characters refused");
	CHECK(valid("caf\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x9a\x97") == NULL,
	    "2-, 3- and 4-byte UTF-8");
	CHECK(valid("a\xc3") != NULL, "truncated UTF-8");
	CHECK(valid("a\xc0\xaf") != NULL, "overlong UTF-8");
	CHECK(valid("a\xed\xa0\x80") != NULL, "surrogate");
	CHECK(valid("a\xf4\x90\x80\x80") != NULL, "past U+10FFFF");
	CHECK(valid("a\xc2\x85") != NULL, "C1 control");
	CHECK(valid("a\xef\xbf\xbf") != NULL, "non-character U+FFFF");
	CHECK(valid("a b") == NULL, "a space is fine");

	memset(big, 'x', sizeof big);
	big[256] = '\0';
	CHECK(valid(big) == NULL, "256 bytes");
	big[256] = 'x';
	big[257] = '\0';
	CHECK(valid(big) != NULL, "257 bytes refused");
	memset(big, 'x', sizeof big);
	memcpy(big, "$aws/rules/R/", 13);
	big[13 + 256] = '\0';
	CHECK(valid(big) == NULL, "Basic Ingest: 256 bytes after the prefix");
	big[13 + 256] = 'x';
	big[13 + 257] = '\0';
	CHECK(valid(big) != NULL, "Basic Ingest: 257 after the prefix refused");
}

static void
test_template(void)
{
	const char *m = "{\"ident\":\"352093081234567\",\"channel.id\":1234,"
	    "\"timestamp\":1.5,\"flag\":true,\"pos\":{\"x\":1},\"n\":null,"
	    "\"slash\":\"a/b\",\"plus\":\"a+b\",\"hash\":\"#\",\"e\":\"\","
	    "\"utf\":\"\\u00e9t\\u00e9\",\"nul\":\"a\\u0000b\","
	    "\"neg\":-7}";
	char err[200];
	struct topic *t;

	EXPANDS("{ident}", m, "352093081234567");
	EXPANDS("fleet/{channel.id}/{ident}", m,
	    "fleet/1234/352093081234567");
	EXPANDS("$aws/rules/Ingest/{ident}", m,
	    "$aws/rules/Ingest/352093081234567");
	EXPANDS("t/{timestamp}/{flag}/{neg}", m, "t/1.5/true/-7");
	EXPANDS("x/{{lit}}/{ident}", m, "x/{lit}/352093081234567");
	EXPANDS("u/{utf}", m, "u/\xc3\xa9t\xc3\xa9");
	EXPANDS("s/{slash}", m, "s/a/b");
	EXPANDS("fixed/topic", m, "fixed/topic");
	FAILS("{missing}", m, "\"missing\" is missing");
	FAILS("{pos}", m, "not a scalar");
	FAILS("{n}", m, "null");
	FAILS("{e}", m, "empty");
	FAILS("x/{plus}", m, "wildcard");
	FAILS("x/{hash}", m, "wildcard");
	FAILS("x/{nul}", m, "NUL");
	FAILS("a/b/c/d/e/f/{slash}/{ident}", m, "more than 7");
	FAILS("{ident", m, "!parse");
	FAILS("{}", m, "!parse");
	FAILS("a}b", m, "!parse");
	FAILS("$x/{ident}", m, "!parse");
	FAILS("a/+/{ident}", m, "!parse");
	FAILS("a//{ident}", m, "!parse");
	FAILS("a/b/c/d/e/f/g/h/{ident}", m, "!parse");

	t = topic_parse("a/{ident}", &topic_aws, err, sizeof err);
	CHECK(t != NULL && !topic_is_fixed(t), "a template with a field");
	topic_free(t);
	t = topic_parse("a/b", &topic_aws, err, sizeof err);
	CHECK(t != NULL && topic_is_fixed(t), "a fixed topic");
	topic_free(t);
}

/* Any broker's rules: MQTT's own, no AWS limits, '$' refused. */
static void
test_any(void)
{
	static char big[1100];
	char err[200];
	struct topic *t;

#define ANY(s) topic_check(&topic_any, s, strlen(s))
	CHECK(ANY("a/b/c/d/e/f/g/h/i/j/k") == NULL, "10 slashes are fine");
	CHECK(ANY("$aws/rules/R/x") != NULL && ANY("$SYS/x") != NULL,
	    "'$' refused, Basic Ingest too");
	CHECK(ANY("a/+") != NULL && ANY("a//b") != NULL && ANY("") != NULL,
	    "wildcards, empty levels and an empty topic refused");
	CHECK(ANY("a\xc3") != NULL, "bad UTF-8 refused");
	memset(big, 'x', sizeof big);
	big[1000] = '\0';
	CHECK(ANY(big) == NULL, "1000 bytes");
	big[1000] = 'x';
	big[1001] = '\0';
	CHECK(ANY(big) != NULL && strstr(ANY(big), "1000") != NULL,
	    "1001 bytes refused, naming the limit");
#undef ANY
	t = topic_parse("a/b/c/d/e/f/g/h/{ident}", &topic_any, err, sizeof err);
	CHECK(t != NULL, "8 slashes in a template for any broker");
	topic_free(t);
	t = topic_parse("$SYS/{ident}", &topic_any, err, sizeof err);
	CHECK(t == NULL && strstr(err, "reserved for the broker") != NULL,
	    "a '$' template refused for any broker");
}

static void
test_bucket(void)
{
	struct tbucket tb;
	int64_t now = 1000;
	int n = 0, i;

	tb_init(&tb, 100, 10, now);
	while (tb_take(&tb, now))
		n++;
	CHECK(n == 10, "starts with the burst (%d)", n);
	CHECK(tb_wait_ms(&tb, now) == 10, "next token in 10 ms (%lld)",
	    (long long)tb_wait_ms(&tb, now));
	CHECK(!tb_take(&tb, now + 9) && tb_take(&tb, now + 10),
	    "a token after 10 ms");
	/* Over 10 simulated seconds, 1 ms steps: 100/s plus the burst. */
	for (n = 0, i = 1; i <= 10000; i++)
		while (tb_take(&tb, now + 10 + i))
			n++;
	CHECK(n == 1000, "1000 tokens in 10 s (%d)", n);
	now += 10 + 10000 + 60000;
	for (n = 0; tb_take(&tb, now); n++)
		;
	CHECK(n == 10, "idle time earns no more than the burst (%d)", n);
	tb_init(&tb, 0, 0, now);
	for (n = 0; n < 100000 && tb_take(&tb, now); n++)
		;
	CHECK(n == 100000 && tb_wait_ms(&tb, now) == 0, "rate 0 is unlimited");
	tb_init(&tb, 3, 0, 0);
	CHECK(tb_take(&tb, 0) && !tb_take(&tb, 0), "burst 0 acts as 1");
	CHECK(tb_wait_ms(&tb, 0) == 334, "3/s: next in 334 ms (%lld)",
	    (long long)tb_wait_ms(&tb, 0));
}

/* Overlong, surrogate and non-character UTF-8 in a topic. */
static void
topics(void)
{
	static const char *const bad[] = {
		"a/\xe0\x80\xaf", "a/\xe0\x9f\xbf", "a/\xf0\x80\x80\xaf",
		"a/\xf0\x8f\xbf\xbf", "a/\xed\xa0\x80", "a/\xf4\x90\x80\x80",
		"a/\xef\xbf\xbe", "a/\xc2\x85",
	};
	static const char *const good[] = { "a/\xe0\xa0\x80",
		"a/\xf0\x90\x80\x80", "a/\xed\x9f\xbf", "a/\xc2\xa0" };
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(topic_check(&topic_aws, bad[i], strlen(bad[i])) != NULL,
		    "topic_check refuses bad UTF-8 case %zu", i);
	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		CHECK(topic_check(&topic_aws, good[i], strlen(good[i])) == NULL,
		    "topic_check takes UTF-8 edge %zu", i);
}

int
main(void)
{
	topics();
	test_check();
	test_template();
	test_any();
	test_bucket();
	return UNIT_END();
}
