/*
 * Checkpoint lines: how flespi-recv --checkpoints tells the end of a
 * pipeline which channel key follows the messages before it.  One line,
 *
 *	{"@checkpoint":"KEY"}
 *
 * with KEY in decimal, as a string so that jq (which keeps numbers as
 * doubles) passes keys past 2^53 through unchanged.  No flespi message
 * can take this shape: a message always has "timestamp", and flespi
 * parameter names never hold '@'.  A jq filter keeps checkpoints with
 * select(has("@checkpoint") or ...).  Pure functions, no I/O.
 */
#ifndef CHECKPOINT_H
#define CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#define CHECKPOINT_NAME	"@checkpoint"
#define CHECKPOINT_MAX	48	/* longest line checkpoint_format writes */

/*
 * Write the line for key into buf (at least CHECKPOINT_MAX bytes), newline
 * included.  Returns its length.
 */
size_t	checkpoint_format(char *buf, uint64_t key);
/*
 * Is line (len bytes, no newline) a checkpoint?  1 and *key when it is
 * exactly the shape above (as jq -c prints it, or with blanks between
 * tokens); 0 when it is not an object whose first member is "@checkpoint"
 * (an ordinary line); -1 when it is one but malformed (a bad line, never
 * a message: no leading zeros, no members after the key, no overflow).
 */
int	checkpoint_parse(const char *line, size_t len, uint64_t *key);

#endif
