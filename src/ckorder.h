/*
 * Is the pipeline keeping the checkpoint lines in place?  A filter
 * between flespi-recv --checkpoints and a forwarder may drop some (a
 * gap: harmless but worth saying), move them among themselves (a key
 * older than one already seen), or reorder messages across them (jq -s
 * 'sort_by(...)'): then a key saved on reading its line would pass
 * messages still to come, and a crash would lose them.  The forwarder
 * tells these apart from what the lines say (checkpoint.h): the key
 * before each batch, and the identities of its first and last messages.
 *
 * The rule: a checkpoint with messages between it and the one before is
 * in place and may be saved once the lines before it are done; one with
 * none (a filter dropped its whole batch, or a sorting filter put every
 * checkpoint line first) waits CKO_SETTLE_MS, so that messages a
 * reordering filter put after it show up before its key is saved.  A
 * message whose identity is the first or last of a batch whose checkpoint
 * has already been read came after its own checkpoint: once CKO_LATE of
 * them were seen, the lines are out of order and no key may be saved
 * again in the run.  (One alone may be a device sending a record again.)
 * Pure: no I/O, no clock.
 */
#ifndef CKORDER_H
#define CKORDER_H

#include <stdint.h>

#include "checkpoint.h"

#define CKO_SETTLE_MS	1000
#define CKO_LATE	2
#define CKO_RECENT	64	/* identities of checkpoints remembered */

enum {
	CKO_NOW,	/* in place: save once the lines before it are done */
	CKO_SETTLE,	/* not shown in place: save after CKO_SETTLE_MS */
	CKO_BAD		/* out of order: save nothing from now on */
};

struct ckorder {
	int		ids;		/* identities can be compared */
	uint64_t	msgs;		/* messages since the last checkpoint */
	int		haveck;
	uint64_t	lastkey;	/* the last checkpoint's key */
	uint64_t	recent[CKO_RECENT];
	unsigned	nrecent, at;
	unsigned	late;		/* messages after their own
					   checkpoint */
	int		bad;		/* out of order (sticky) */
	uint64_t	gapfrom, gapto;	/* the last gap: keys between them */
};

/*
 * ids: the forwarder's device id is "ident", as flespi-recv's identities
 * use (with --uid-field something else, identities cannot be compared
 * and no checkpoint waits for them).
 */
void	cko_init(struct ckorder *, int ids);
/*
 * A message was read; id is its identity (0: not known).  Returns 1 when
 * this message shows the lines out of order (once), else 0.
 */
int	cko_message(struct ckorder *, uint64_t id);
/*
 * A checkpoint line was read.  Returns CKO_NOW, CKO_SETTLE or CKO_BAD
 * (keys going backwards, or out of order before).  *gap is set when
 * checkpoints are missing before it (gapfrom, gapto say which keys).
 */
int	cko_checkpoint(struct ckorder *, const struct ckline *, int *gap);

#endif
