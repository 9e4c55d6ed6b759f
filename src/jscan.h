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

#endif
