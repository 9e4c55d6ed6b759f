/*
 * jscanref.h: jansson as the reference the strict scanner (jscan) is
 * checked against, shared by tests/unit/test_jscan.c and
 * tests/fuzz/fuzz_jscan.c so that both judge by the same rules.
 */
#ifndef JSCANREF_H
#define JSCANREF_H

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "jscan.h"

/* What msgin does: jansson, with big integers retried as reals. */
static inline json_t *
jparse(const char *s, size_t len)
{
	json_error_t err;
	json_t *o = json_loadb(s, len, 0, &err);

	if (o == NULL && json_error_code(&err) == json_error_numeric_overflow)
		o = json_loadb(s, len, JSON_DECODE_INT_AS_REAL, &err);
	return o;
}

/* The span agrees with jansson's value for the key. */
static inline int
same(const struct jspan *sp, json_t *v)
{
	char buf[64];
	int n;

	if (v == NULL)
		return sp->type == JS_NONE;
	switch (sp->type) {
	case JS_STRING:
		return json_is_string(v) && (sp->escaped ||
		    (json_string_length(v) == sp->len &&
		    memcmp(json_string_value(v), sp->p, sp->len) == 0));
	case JS_INT:
		if (!json_is_integer(v))
			return json_is_real(v);	/* a big one, as a real */
		n = snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return ((size_t)n == sp->len && memcmp(buf, sp->p, sp->len) == 0) ||
		    (sp->len == 2 && memcmp(sp->p, "-0", 2) == 0);
	case JS_REAL:
		return json_is_real(v);
	case JS_TRUE:
		return json_is_true(v);
	case JS_FALSE:
		return json_is_false(v);
	case JS_NULL:
		return json_is_null(v);
	case JS_OBJECT:
		return json_is_object(v);
	case JS_ARRAY:
		return json_is_array(v);
	}
	return 0;
}

#endif
