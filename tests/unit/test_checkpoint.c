/*
 * Checkpoint lines (checkpoint.h): the line flespi-recv writes and every
 * form of it a filter may pass on, byte for byte; message identities
 * against values computed apart (python, in tests/t14); and the order
 * rules of ckorder.h -- in place, settling, late messages, keys going
 * backwards, gaps.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "ckorder.h"
#include "unit.h"

static void
lines(void)
{
	static const uint64_t keys[] = { 0, 9, 10, 99, 100, 1234567,
	    18446744073709551615ULL };
	static const char *const bad[] = {
		"{\"@checkpoint\":\"007\"}", "{\"@checkpoint\":\"\"}",
		"{\"@checkpoint\":\"18446744073709551616\"}",
		"{\"@checkpoint\":\"99999999999999999999\"}",
		"{\"@checkpoint\":\"1\",\"x\":1}", "{\"@checkpoint\":\"1\"} x",
		"{\"@checkpoint\":\"1x\"}", "{\"@checkpoint\":1}",
		"{\"@checkpoint\":\"1\",\"@prev\":\"01\"}",
		"{\"@checkpoint\":\"1\",\"@prev\":\"0\",\"@prev\":\"0\"}",
		"{\"@checkpoint\":\"1\",\"@first\":\"123\"}",
		"{\"@checkpoint\":\"1\",\"@first\":\"0123456789ABCDEF\"}",
		"{\"@checkpoint\":\"1\",\"@last\":\"0123456789abcdef0\"}",
		"{\"@checkpoint\":\"1\",}",
	};
	struct ckline c, d;
	char buf[CHECKPOINT_MAX], want[64];
	const char *s;
	size_t i, n;

	memset(&c, 0, sizeof c);
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		c.key = keys[i];
		n = checkpoint_format(buf, &c);
		snprintf(want, sizeof want, "{\"@checkpoint\":\"%llu\"}\n",
		    (unsigned long long)keys[i]);
		CHECK_MEM(buf, n, want, strlen(want), "checkpoint_format %llu",
		    (unsigned long long)keys[i]);
		CHECK(checkpoint_parse(buf, n - 1, &d) == 1 &&
		    d.key == keys[i] && d.has == 0,
		    "checkpoint_parse reads back %llu",
		    (unsigned long long)keys[i]);
	}
	c.key = 1301;
	c.prev = 1201;
	c.first = 0x732c3f4b2b7740e1ULL;
	c.last = 0x0000000000000001ULL;
	c.has = CK_PREV | CK_FIRST | CK_LAST;
	n = checkpoint_format(buf, &c);
	s = "{\"@checkpoint\":\"1301\",\"@prev\":\"1201\","
	    "\"@first\":\"732c3f4b2b7740e1\",\"@last\":\"0000000000000001\"}\n";
	CHECK_MEM(buf, n, s, strlen(s), "checkpoint_format: the whole line");
	CHECK(checkpoint_parse(buf, n - 1, &d) == 1 &&
	    memcmp(&c, &d, sizeof c) == 0, "checkpoint_parse reads it back");
	/* jq -S sorts keys; -c after any filter: the same line. */
	s = "{\"@checkpoint\":\"1301\",\"@first\":\"732c3f4b2b7740e1\","
	    "\"@last\":\"0000000000000001\",\"@prev\":\"1201\"}";
	CHECK(checkpoint_parse(s, strlen(s), &d) == 1 &&
	    memcmp(&c, &d, sizeof c) == 0,
	    "checkpoint_parse: members in another order");
	s = " { \"@checkpoint\" : \"42\" , \"@prev\" : \"41\" } ";
	CHECK(checkpoint_parse(s, strlen(s), &d) == 1 && d.key == 42 &&
	    d.prev == 41 && d.has == CK_PREV,
	    "checkpoint_parse: blanks between tokens");
	CHECK(checkpoint_parse("{\"ident\":\"x\"}", 13, &d) == 0,
	    "checkpoint_parse: a message is not a checkpoint");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(checkpoint_parse(bad[i], strlen(bad[i]), &d) == -1,
		    "checkpoint_parse: malformed %s", bad[i]);
}

static void
ids(void)
{
	/* Computed apart, in python, from the definition in checkpoint.h. */
	CHECK(checkpoint_id("352625066004561", 15, 1764000005.8412) ==
	    0x732c3f4b2b7740e1ULL, "checkpoint_id: a real message");
	CHECK(checkpoint_id("dev0", 4, 1700000000) == 0x6d28d4dc4301d54aULL,
	    "checkpoint_id: an integer timestamp");
	CHECK(checkpoint_id("", 0, 0.0) == 0xe604823a249029bfULL,
	    "checkpoint_id: empty ident, zero time");
	CHECK(checkpoint_id("caf\xc3\xa9", 5, 1.5) == 0x5ca7c32d684f4c0aULL,
	    "checkpoint_id: UTF-8 in the ident");
	CHECK(checkpoint_id("", 0, -0.0) == checkpoint_id("", 0, 0.0),
	    "checkpoint_id: -0 is 0");
}

/* A checkpoint line for key after prev, its batch from first to last. */
static struct ckline
ck(uint64_t key, uint64_t prev, uint64_t first, uint64_t last)
{
	struct ckline c;

	memset(&c, 0, sizeof c);
	c.key = key;
	c.prev = prev;
	c.first = first;
	c.last = last;
	c.has = CK_PREV | CK_FIRST | CK_LAST;
	return c;
}

static void
order(void)
{
	struct ckorder o;
	struct ckline c;
	int gap, r;

	/* In place: each batch's last message right before its line. */
	cko_init(&o, 1);
	cko_message(&o, 11);
	cko_message(&o, 12);
	c = ck(3, 0, 11, 12);
	CHECK(cko_checkpoint(&o, &c, &gap) == CKO_NOW && !gap,
	    "in place: saved as soon as its lines are done");
	cko_message(&o, 13);
	c = ck(4, 3, 13, 13);
	CHECK(cko_checkpoint(&o, &c, &gap) == CKO_NOW, "... and the next");
	/* A filter dropped the batch's last message: still in place. */
	cko_message(&o, 21);
	c = ck(6, 4, 21, 22);
	CHECK(cko_checkpoint(&o, &c, &gap) == CKO_NOW,
	    "its last message dropped, others came: in place");
	/* ... or the whole batch. */
	c = ck(8, 6, 31, 32);
	CHECK(cko_checkpoint(&o, &c, &gap) == CKO_SETTLE && !gap,
	    "a batch dropped whole: it waits to settle");
	/* A gap: a checkpoint line dropped. */
	cko_message(&o, 51);
	c = ck(12, 10, 51, 51);
	r = cko_checkpoint(&o, &c, &gap);
	CHECK(r == CKO_NOW && gap && o.gapfrom == 8 && o.gapto == 10,
	    "a gap between 8 and 10 is said, the key still saved");
	/* One message of a checkpointed batch again: a device resending. */
	CHECK(!cko_message(&o, 13) && !o.bad,
	    "one late message is not yet out of order");
	CHECK(cko_message(&o, 21) && o.bad,
	    "a second one is: out of order");
	c = ck(13, 12, 61, 61);
	CHECK(cko_checkpoint(&o, &c, &gap) == CKO_BAD,
	    "... and nothing is saved from then on");

	/* jq -s sort_by: every line first, the messages after. */
	cko_init(&o, 1);
	c = ck(3, 0, 11, 12);
	CHECK(cko_checkpoint(&o, &c, &gap) == CKO_SETTLE,
	    "sorted: the first line shows nothing before it");
	c = ck(5, 3, 13, 14);
	CHECK(cko_checkpoint(&o, &c, &gap) == CKO_SETTLE, "... nor the next");
	CHECK(!cko_message(&o, 12) && cko_message(&o, 13) && o.bad,
	    "... and its messages come late: out of order");

	/* Keys going backwards. */
	cko_init(&o, 1);
	cko_message(&o, 1);
	c = ck(10, 0, 1, 1);
	(void)cko_checkpoint(&o, &c, &gap);
	cko_message(&o, 2);
	c = ck(7, 5, 2, 2);
	CHECK(cko_checkpoint(&o, &c, &gap) == CKO_BAD,
	    "a key older than the last one: out of order");

	/* Lines of an older flespi-recv (the key alone) are trusted. */
	cko_init(&o, 1);
	memset(&c, 0, sizeof c);
	c.key = 3;
	CHECK(cko_checkpoint(&o, &c, &gap) == CKO_NOW,
	    "a line without identities: saved as before");
	/* Identities that cannot be compared (--uid-field): likewise. */
	cko_init(&o, 0);
	c = ck(3, 0, 11, 12);
	CHECK(cko_checkpoint(&o, &c, &gap) == CKO_NOW &&
	    !cko_message(&o, 11) && !cko_message(&o, 12),
	    "--uid-field: no identities compared");
}

int
main(void)
{
	lines();
	ids();
	order();
	return UNIT_END();
}
