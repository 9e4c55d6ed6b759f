/*
 * A fast, strict check of one NDJSON line holding a JSON object, which
 * also finds the values of chosen top-level keys without building a tree.
 * It is a fast path in front of jansson: it answers "valid" only for input
 * jansson accepts too, and says "don't know" (0) for anything invalid or
 * unusual (exponents, very long numbers, escaped keys, deep nesting), so
 * the caller falls back to jansson, which diagnoses.  Pure.
 */
#ifndef JSCAN_H
#define JSCAN_H

#include <stddef.h>

enum { JS_NONE, JS_STRING, JS_INT, JS_REAL, JS_TRUE, JS_FALSE, JS_NULL,
	JS_OBJECT, JS_ARRAY };

struct jspan {
	int		type;	/* JS_NONE: the key is not there */
	const char     *p;	/* the value's text; strings without quotes */
	size_t		len;
	int		escaped; /* a string holding backslash escapes */
};

/*
 * Scan s[0..len) as one JSON object followed by nothing but white space.
 * For each of the nkeys keys, out[i] gets its value (the last one when a
 * key repeats, as with jansson).  Returns 1 when the line is valid and
 * scanned, 0 when the caller must ask jansson.
 */
int	jscan_object(const char *s, size_t len, const char *const *keys,
	    size_t nkeys, struct jspan *out);

/*
 * Called by jscan_members for each top-level member, in the line's order:
 * key is a JS_STRING span (escaped set when it holds backslash escapes),
 * val the member's value as in struct jspan.  Returns 1 to go on, 0 to
 * stop the scan.
 */
typedef int	(*jscan_fn)(void *arg, const struct jspan *key,
		    const struct jspan *val);

/*
 * Scan s[0..len) as one JSON object followed by nothing but white space,
 * as jscan_object does, calling fn once for every top-level member.
 * Returns 1 when the line is valid and every call returned 1; 0 when fn
 * stopped the scan or the caller must ask jansson: everything
 * jscan_object leaves to jansson, and also a line holding more than 64
 * integers of 19 digits or more (msgin retries jansson once for each
 * integer past 64 bits and gives up at 256).  fn may already have been
 * called for the first members of a line that turns out invalid, so the
 * caller keeps what it builds provisional until 1 comes back.
 */
int	jscan_members(const char *s, size_t len, jscan_fn fn, void *arg);

/*
 * A number's span (JS_INT or JS_REAL, under 64 bytes) as a double, in
 * *v.  Returns 0, or -1 when the span is no such number.
 */
int	jscan_double(const struct jspan *, double *v);

#endif
