/*
 * msgin's fast path for the forwarders: check a line as a flespi message
 * with one jscan pass, finding the device id, the timestamp and up to
 * MSGFAST_FIELDS more named fields without building a tree (jansson's
 * parse is most of the CPU time otherwise).  It takes only the plain
 * cases, where its result is the jansson path's to the byte: an id that
 * is a string without escapes or a short integer, a timestamp that
 * parses, named fields that are unescaped strings, short integers or
 * booleans.  Everything else (every bad line too) goes to jansson, which
 * diagnoses as usual.  No I/O.
 */
#ifndef MSGFAST_H
#define MSGFAST_H

#include <stddef.h>

#include "jscan.h"
#include "msgin.h"

#define MSGFAST_FIELDS	32	/* named fields beyond id and timestamp */

/*
 * The keys looked for, and their spans in the line the fast path last
 * accepted.  The field names and the id field are the caller's and must
 * outlive it.
 */
struct msgfast {
	const char     *keys[2 + MSGFAST_FIELDS];
	size_t		nkeys;
	struct jspan	spans[2 + MSGFAST_FIELDS];
};

/*
 * Look for uid_field, "timestamp" and the n fields named in fields
 * (fields may be NULL when n is 0).  Returns 0, or -1 when n is over
 * MSGFAST_FIELDS.
 */
int	msgfast_init(struct msgfast *, const char *uid_field,
	    const char *const *fields, size_t n);
/*
 * msgin's fast path (msgin.fast, with the struct msgfast as fast_arg):
 * 1 with m->uid and m->timestamp set when the line is a plain flespi
 * message, else 0.
 */
int	msgfast_check(void *arg, struct msg *m);
/*
 * The i-th named field's value (0-based) in the line msgfast_check
 * accepted last: unescaped string text, an integer or true/false.
 * Valid as long as that line is.
 */
const struct jspan *msgfast_field(const struct msgfast *, size_t i);

#endif
