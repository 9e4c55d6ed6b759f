/*
 * msgin's fast path (msgfast.c): which lines it takes, what it fills in,
 * and that it hands every unusual line to jansson (returns 0).
 */
#include <string.h>

#include "msgfast.h"
#include "unit.h"

/* Run the fast path over line; 1 when it took it. */
static int
take(struct msgfast *mf, const char *line, struct msg *m)
{
	static char buf[1024];

	memset(m, 0, sizeof *m);
	snprintf(buf, sizeof buf, "%s", line);
	m->line = buf;
	m->len = strlen(buf);
	return msgfast_check(mf, m);
}

int
main(void)
{
	static const char *const fields[] = { "a", "b" };
	static const char *const many[MSGFAST_FIELDS + 1];
	struct msgfast mf;
	struct msg m;
	const struct jspan *v;

	CHECK(msgfast_init(&mf, "ident", NULL, 0) == 0, "no named fields");
	CHECK(take(&mf, "{\"ident\":\"d1\",\"timestamp\":1.5}", &m) == 1 &&
	    strcmp(m.uid, "d1") == 0 && m.timestamp == 1.5,
	    "a string ident and a real timestamp are taken");
	CHECK(take(&mf, "{\"timestamp\":7,\"ident\":123}", &m) == 1 &&
	    strcmp(m.uid, "123") == 0 && m.timestamp == 7,
	    "an integer ident is formatted as jansson would");
	CHECK(take(&mf, "{\"ident\":-0,\"timestamp\":1}", &m) == 0,
	    "-0 goes to jansson (it formats it as 0)");
	CHECK(take(&mf, "{\"ident\":1234567890123456789,\"timestamp\":1}",
	    &m) == 0, "a 19-digit ident goes to jansson");
	CHECK(take(&mf, "{\"ident\":\"d\\u0031\",\"timestamp\":1}", &m) == 0,
	    "an escaped ident goes to jansson");
	CHECK(take(&mf, "{\"ident\":\"\",\"timestamp\":1}", &m) == 0,
	    "an empty ident goes to jansson");
	CHECK(take(&mf, "{\"ident\":\"123456789012345678901234\","
	    "\"timestamp\":1}", &m) == 0, "an ident too long for uidbuf "
	    "goes to jansson");
	CHECK(take(&mf, "{\"ident\":\"d\",\"timestamp\":-1}", &m) == 0,
	    "a negative timestamp goes to jansson");
	CHECK(take(&mf, "{\"ident\":\"d\",\"timestamp\":\"1\"}", &m) == 0,
	    "a string timestamp goes to jansson");
	CHECK(take(&mf, "{\"ident\":\"d\"}", &m) == 0,
	    "no timestamp goes to jansson");
	CHECK(take(&mf, "{\"ident\":\"d\",\"timestamp\":1", &m) == 0,
	    "a bad line goes to jansson");

	CHECK(msgfast_init(&mf, "id", fields, 2) == 0, "two named fields");
	CHECK(take(&mf, "{\"id\":\"x\",\"timestamp\":2,\"b\":true,"
	    "\"a\":\"s\"}", &m) == 1, "string and boolean fields are taken");
	v = msgfast_field(&mf, 0);
	CHECK(v->len == 1 && memcmp(v->p, "s", 1) == 0, "field a is s");
	v = msgfast_field(&mf, 1);
	CHECK(v->len == 4 && memcmp(v->p, "true", 4) == 0, "field b is true");
	CHECK(take(&mf, "{\"id\":\"x\",\"timestamp\":2,\"a\":1.5,\"b\":1}",
	    &m) == 0, "a real field goes to jansson");
	CHECK(take(&mf, "{\"id\":\"x\",\"timestamp\":2,\"a\":null,\"b\":1}",
	    &m) == 0, "a null field goes to jansson");
	CHECK(take(&mf, "{\"id\":\"x\",\"timestamp\":2,\"b\":1}", &m) == 0,
	    "a missing field goes to jansson");
	CHECK(take(&mf, "{\"ident\":\"x\",\"timestamp\":2,\"a\":1,\"b\":1}",
	    &m) == 0, "the id field is the one named, not ident");

	CHECK(msgfast_init(&mf, "ident", many, MSGFAST_FIELDS + 1) == -1,
	    "more than MSGFAST_FIELDS named fields are refused");
	return UNIT_END();
}
