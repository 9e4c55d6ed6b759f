/*
 * Checkpoint lines: how flespi-recv --checkpoints tells the end of a
 * pipeline which channel key follows the messages before it.  One line,
 *
 *	{"@checkpoint":"KEY","@prev":"PREV","@first":"ID","@last":"ID"}
 *
 * KEY in decimal, as a string so that jq (which keeps numbers as doubles)
 * passes keys past 2^53 through unchanged; PREV the key before the batch
 * the line ends (the previous checkpoint's KEY, or the key the run
 * started at), so that the forwarder can tell a missing or misplaced
 * checkpoint; and the identities (checkpoint_id, 16 hex digits) of the
 * batch's first and last messages, so that it can tell a message that
 * comes after its own checkpoint -- a filter that reorders lines.  The
 * three are optional (an older flespi-recv wrote the key alone).  No
 * flespi message can take this shape: a message always has "timestamp",
 * and flespi parameter names never hold '@'.  A jq filter keeps
 * checkpoints where they are with select(has("@checkpoint") or ...).
 * Pure functions, no I/O.
 */
#ifndef CHECKPOINT_H
#define CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#define CHECKPOINT_NAME	"@checkpoint"
#define CHECKPOINT_MAX	160	/* longest line checkpoint_format writes */

/* CK_* flags: which of the optional members a line has. */
#define CK_PREV		0x1
#define CK_FIRST	0x2
#define CK_LAST		0x4

struct ckline {
	uint64_t	key;
	uint64_t	prev;		/* with CK_PREV */
	uint64_t	first, last;	/* with CK_FIRST, CK_LAST */
	int		has;		/* CK_* */
};

/*
 * Write the line for c into buf (at least CHECKPOINT_MAX bytes), newline
 * included, with the members c->has names.  Returns its length.
 */
size_t	checkpoint_format(char *buf, const struct ckline *c);
/*
 * Is line (len bytes, no newline) a checkpoint?  1 and *c when it is the
 * shape above (as jq -c prints it, with blanks between tokens, or with
 * its optional members in any order); 0 when it is not an object whose
 * first member is "@checkpoint" (an ordinary line); -1 when it is one but
 * malformed (a bad line, never a message: no leading zeros, no unknown
 * or repeated members, no overflow).
 */
int	checkpoint_parse(const char *line, size_t len, struct ckline *c);
/*
 * A message's identity, as both ends compute it from the values (not
 * the bytes, which a filter like jq may write differently): FNV-1a over
 * the device id, a NUL and the IEEE bits of "timestamp".  0 is never
 * returned (it means "not known").
 */
uint64_t checkpoint_id(const char *uid, size_t uidlen, double timestamp);

#endif
