/*
 * The answer to a channel-messages request, {"result":[...],"next_key":N},
 * turned into NDJSON without re-serialising anything.
 *
 * The whole body is validated before reply_parse() returns, so a truncated
 * or garbage answer is rejected before the caller writes a single line: a
 * small scanner checks the envelope token by token and every value in it
 * is validated over its exact span -- each message by the strict scanner
 * jscan, which builds no tree, and by jansson where jscan cannot judge
 * (so acceptance is exactly jansson's; two threads for a big batch).
 * Each element of "result" comes out as its original
 * bytes with the insignificant whitespace outside strings removed (numbers
 * stay exactly as flespi wrote them), one element per line, and next_key is
 * read from its digits as an unsigned 64-bit integer.  An element that is
 * not an object is no flespi message: the answer is refused.
 */
#ifndef REPLY_H
#define REPLY_H

#include <stddef.h>
#include <stdint.h>

struct reply {
	char	       *lines;		/* the elements, each ending in "\n" */
	size_t		len;		/* bytes in lines */
	size_t		count;		/* elements (= lines) */
	uint64_t	next_key;
	/*
	 * Refused, but the body is valid JSON: the API answered in a shape
	 * we do not know (no next_key, a fractional one, no result...).
	 * Asking again will not change that.
	 */
	int		shape;
	/*
	 * The entries of "errors" and "warnings" members of an accepted
	 * answer, one per line ("error: ...", "warning: ..."), the server's
	 * text escaped by vis(); cut at the end of the buffer.
	 */
	char		notes[1024];
};

/*
 * Parse body[0..len).  The lines are built in place, inside body (they are
 * never longer than the bytes they came from), so r->lines points into
 * body and is valid as long as body is.  Returns 0, or -1 with *why (a
 * static string, or text in whybuf) saying what is wrong.
 */
int	reply_parse(char *body, size_t len, struct reply *r,
	    const char **why, char *whybuf, size_t whylen);
/*
 * reply_parse() with every value validated by jansson alone: the
 * reference the tests and the fuzzer hold the fast path to (same
 * outcome, same lines, same reasons).  Not for production use.
 */
int	reply_parse_ref(char *body, size_t len, struct reply *r,
	    const char **why, char *whybuf, size_t whylen);

/*
 * One message on its own (an MQTT payload), checked exactly as the
 * elements of an answer are: no raw NUL, an object, valid JSON for
 * jansson (so no invalid UTF-8, no nesting past its limit, no number it
 * cannot hold, nothing after the object).  Returns 0, or -1 with whybuf
 * saying what is wrong.
 */
int	reply_message(const char *p, size_t n, char *whybuf, size_t whylen);
/*
 * Remove the whitespace outside strings from a message reply_message()
 * accepted, in place, as answers' lines are built.  Returns the new length.
 */
size_t	reply_compact(char *p, size_t n);

/* The number of whole lines in the first n bytes of lines. */
size_t	reply_lines_in(const char *lines, size_t n);

#endif
