/* The order of checkpoints and messages (see ckorder.h). */
#include <string.h>

#include "ckorder.h"

void
cko_init(struct ckorder *o, int ids)
{
	memset(o, 0, sizeof *o);
	o->ids = ids;
}

static int
recent(const struct ckorder *o, uint64_t id)
{
	unsigned i;

	for (i = 0; i < o->nrecent; i++)
		if (o->recent[i] == id)
			return 1;
	return 0;
}

static void
remember(struct ckorder *o, uint64_t id)
{
	if (id == 0)
		return;
	o->recent[o->at] = id;
	o->at = (o->at + 1) % CKO_RECENT;
	if (o->nrecent < CKO_RECENT)
		o->nrecent++;
}

int
cko_message(struct ckorder *o, uint64_t id)
{
	o->msgs++;
	if (!o->ids || id == 0 || o->bad || !recent(o, id))
		return 0;
	if (++o->late < CKO_LATE)
		return 0;
	o->bad = 1;
	return 1;
}

int
cko_checkpoint(struct ckorder *o, const struct ckline *c, int *gap)
{
	int inplace;

	*gap = 0;
	if (o->bad)
		return CKO_BAD;
	if (o->haveck && c->key < o->lastkey) {
		o->bad = 1;
		return CKO_BAD;
	}
	if (o->haveck && (c->has & CK_PREV) && c->prev != o->lastkey &&
	    c->key != o->lastkey) {
		*gap = 1;
		o->gapfrom = o->lastkey;
		o->gapto = c->prev;
	}
	/*
	 * In place: messages came between it and the checkpoint before (a
	 * filter that drops some streams the rest in order; one that sorts
	 * holds every line back and puts the checkpoints together).  A
	 * line without identities (an older flespi-recv) is trusted as it
	 * always was.
	 */
	inplace = !o->ids || !(c->has & (CK_FIRST | CK_LAST)) || o->msgs > 0;
	if (o->ids) {
		if (c->has & CK_FIRST)
			remember(o, c->first);
		if (c->has & CK_LAST)
			remember(o, c->last);
	}
	o->haveck = 1;
	o->lastkey = c->key;
	o->msgs = 0;
	return inplace ? CKO_NOW : CKO_SETTLE;
}
