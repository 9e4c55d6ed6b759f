/*
 * Parameter names for flespi-to-wialon: which flespi parameter goes out
 * under which Wialon name, or not at all.
 *
 * A map holds rules "flespi name -> Wialon name" (an empty Wialon name
 * drops the parameter).  It starts with the well-known renames; later rules
 * for the same flespi name replace earlier ones, so --map and --rename
 * override the defaults.  A name without a rule goes out under its own
 * name, sanitised (pmap_sanitize).  The map owns copies of its strings.
 */
#ifndef PMAP_H
#define PMAP_H

#include <stddef.h>
#include <stdint.h>

/* Longest Wialon parameter name, in bytes, not counting the NUL. */
#define PMAP_NAMEMAX	37

struct pmap_rule {
	char	       *from;		/* flespi name, as in the message */
	char	       *to;		/* sanitised Wialon name; "" = drop */
};

struct pmap {
	struct pmap_rule *rules;
	size_t		n, cap;
	/* Built by pmap_ready(): rule index + 1 by hash of from, 0 = empty. */
	uint32_t       *slots;
	size_t		mask;		/* slots has mask + 1 entries */
};

/* The well-known renames: din, dout, voltages, ignition, GSM level. */
int	pmap_init(struct pmap *);
void	pmap_free(struct pmap *);
/*
 * Add a rule.  to is sanitised; NULL, "" or "-" drops the parameter.
 * Returns 0, or -1 when out of memory.
 */
int	pmap_add(struct pmap *, const char *from, const char *to);
/*
 * Parse "from=to" (as for --rename) and add it.  Returns 0, or -1 with a
 * reason in err.
 */
int	pmap_rule(struct pmap *, const char *spec, char *err, size_t errsz);
/*
 * Read rules from a file: one "from=to" per line; "from=" or "from=-"
 * drops; blank lines and lines starting with '#' are ignored; spaces
 * around names are trimmed.  Returns 0, or -1 with a reason (naming the
 * line) in err.
 */
int	pmap_load(struct pmap *, const char *path, char *err, size_t errsz);
/*
 * Index the rules for lookup; call after the last pmap_add (until then
 * lookups scan the rules).  Returns 0, or -1 when out of memory.
 */
int	pmap_ready(struct pmap *);
/*
 * The Wialon name for a flespi parameter, written to out (NUL-terminated,
 * at most PMAP_NAMEMAX bytes).  Returns its length; 0 means "do not send".
 */
size_t	pmap_name(const struct pmap *, const char *from,
	    char out[PMAP_NAMEMAX + 1]);
/*
 * Wialon's alphabet: A-Z lowered, a-z 0-9 _ kept, every other byte
 * (including each byte of a multi-byte UTF-8 character) becomes '_';
 * truncated to PMAP_NAMEMAX bytes.  Returns the length written to out.
 */
size_t	pmap_sanitize(const char *in, char out[PMAP_NAMEMAX + 1]);

#endif
