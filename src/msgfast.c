/*
 * msgin's fast path for the forwarders (see msgfast.h): one jscan pass
 * instead of jansson's tree, for the lines where both give the same.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "msgfast.h"

int
msgfast_init(struct msgfast *mf, const char *uid_field,
    const char *const *fields, size_t n)
{
	size_t i;

	memset(mf, 0, sizeof *mf);
	if (n > MSGFAST_FIELDS)
		return -1;
	mf->keys[0] = uid_field;
	mf->keys[1] = "timestamp";
	for (i = 0; i < n; i++)
		mf->keys[2 + i] = fields[i];
	mf->nkeys = 2 + n;
	return 0;
}

/* An integer span jansson would format back to the same text. */
static int
plain_int(const struct jspan *v)
{
	return v->type == JS_INT && v->len <= 18 &&
	    !(v->len == 2 && v->p[0] == '-' && v->p[1] == '0');
}

int
msgfast_check(void *arg, struct msg *m)
{
	struct msgfast *mf = arg;
	const struct jspan *u = &mf->spans[0], *ts = &mf->spans[1], *v;
	size_t i;

	if (!jscan_object(m->line, m->len, mf->keys, mf->nkeys, mf->spans))
		return 0;
	if (!((u->type == JS_STRING && !u->escaped) || plain_int(u)) ||
	    u->len == 0 || u->len >= sizeof m->uidbuf)
		return 0;
	if (jscan_double(ts, &m->timestamp) == -1 ||
	    !isfinite(m->timestamp) || m->timestamp < 0)
		return 0;
	for (i = 2; i < mf->nkeys; i++) {
		v = &mf->spans[i];
		if (!((v->type == JS_STRING && !v->escaped) || plain_int(v) ||
		    v->type == JS_TRUE || v->type == JS_FALSE))
			return 0;
	}
	memcpy(m->uidbuf, u->p, u->len);
	m->uidbuf[u->len] = '\0';
	m->uid = m->uidbuf;
	return 1;
}

const struct jspan *
msgfast_field(const struct msgfast *mf, size_t i)
{
	return &mf->spans[2 + i];
}
