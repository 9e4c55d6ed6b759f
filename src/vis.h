/*
 * Untrusted text made safe for a terminal: a server's error reason, an
 * ident, a topic.  Printable ASCII passes, and so does well-formed UTF-8;
 * control bytes, DEL, backslash and invalid UTF-8 become escapes (\n, \t,
 * \\, \xHH), so that no peer can move the cursor, ring the bell or forge a
 * line that looks like one of ours.  Pure, no allocation.
 */
#ifndef VIS_H
#define VIS_H

#include <stddef.h>

/*
 * Escape len bytes of s into dst (dstsz > 0), always NUL-terminated; a
 * result that does not fit is cut at an escape boundary and ends in
 * "...".  Returns dst, so it can be an argument of xwarn().
 */
char	*vis(char *dst, size_t dstsz, const char *s, size_t len);

#endif
