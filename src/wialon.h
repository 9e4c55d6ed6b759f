/*
 * The Wialon Retranslator 1.0 encoder: one flespi message in, one packet
 * out, byte by byte (see shared/spec/wialon-retranslator.md).  Pure: no
 * I/O, no globals; the only state is the caller's output buffer.
 *
 *   packet = u32le(len(body)) body
 *   body   = uid 0x00 i32be(time) u32be(flags) block*
 *   block  = 0x0B 0xBB u32be(len(rest)) attr type name 0x00 value
 */
#ifndef WIALON_H
#define WIALON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "pmap.h"

/* flags bits; each is set exactly when its block is in the packet. */
#define WIALON_POS	0x01u	/* posinfo */
#define WIALON_DIN	0x02u	/* avl_inputs */
#define WIALON_DOUT	0x04u	/* avl_outputs */
#define WIALON_DRIVER	0x20u	/* avl_driver */

#define WIALON_TEXT	1
#define WIALON_BINARY	2
#define WIALON_INT	3
#define WIALON_DOUBLE	4
#define WIALON_LONG	5

/*
 * A growable byte buffer.  Appends never fail individually: running out
 * of memory sets oom, checked once at the end.  The buffer owns p.
 */
struct wbuf {
	unsigned char  *p;
	size_t		len, cap;
	int		oom;
};

void	wbuf_free(struct wbuf *);

/*
 * The low-level builder.  wialon_begin() starts a packet at out->len
 * (appending, so several packets may share a buffer) and returns its
 * offset; the block functions append one block each, with attr 1 for the
 * reserved names (posinfo, avl_inputs, avl_outputs, avl_driver) and 0 for
 * every other name, and note the matching flag; wialon_end() writes the
 * size and the flags.  Names must already be in Wialon's alphabet.
 * wialon_posinfo() writes its values as given: speed and course are
 * 16 bits, sats 8, and the specification wants course in 0..359.
 */
struct wpkt {
	struct wbuf    *b;
	size_t		start;		/* offset of the size field */
	size_t		flagsat;	/* offset of the flags field */
	uint32_t	flags;
};

void	wialon_begin(struct wpkt *, struct wbuf *, const char *uid,
	    int32_t time);
void	wialon_posinfo(struct wpkt *, double lon, double lat, double alt,
	    unsigned speed, unsigned course, unsigned sats);
void	wialon_int(struct wpkt *, const char *name, int32_t v);
void	wialon_long(struct wpkt *, const char *name, int64_t v);
void	wialon_double(struct wpkt *, const char *name, double v);
void	wialon_text(struct wpkt *, const char *name, const char *s,
	    size_t len);
/* Returns 0, or -1 when out of memory. */
int	wialon_end(struct wpkt *);

/*
 * Encode a whole flespi message: uid and time as given (the caller checked
 * them), posinfo from position.* when both latitude and longitude are
 * numbers (course taken modulo 360), then one block per other scalar
 * field in the message's own order, named through the map, and with '_'
 * appended when that name is posinfo, image or imag (see
 * flespi-to-wialon(1) for every rule).
 * uid_field names the field that gave the uid; it and "timestamp" are not
 * sent as parameters.  Appends to out.  Returns 0, or -1 with a reason in
 * err (uid empty or not printable ASCII, time outside int32, out of
 * memory).
 */
int	wialon_encode(const struct pmap *, json_t *msg, const char *uid_field,
	    const char *uid, double time, struct wbuf *out, char *err,
	    size_t errsz);

/*
 * The same packet from the line's text, without a jansson tree: one
 * strict scan of the NDJSON line s[0..len) (jscan_members) checks it as
 * msgin_next would and encodes it as wialon_encode would.  Returns 1 when
 * the line is a good flespi message and its packet was appended to out,
 * byte for byte what msgin_next + wialon_encode give (uid at offset 4 of
 * the packet, NUL-terminated; *timestamp set when not NULL).  Returns 0,
 * out unchanged, for every line it does not take: invalid or unusual JSON
 * (see jscan.h), a repeated top-level key, a key or uid with escapes,
 * position fields without a numeric latitude and longitude, anything
 * msgin or wialon_encode would refuse, out of memory.  The caller then
 * runs the jansson path, which encodes or diagnoses.
 */
int	wialon_scan(const struct pmap *, const char *s, size_t len,
	    const char *uid_field, struct wbuf *out, double *timestamp);

/*
 * ---- The decoder: what a packet says, for people ----
 *
 * The reverse of the builder, to show what would be sent (flespi-to-wialon
 * --dump=text).  It checks the framing (size prefix, markers, block
 * sizes, NUL-terminated uid and names, value widths) but not the rules
 * the encoder follows (name alphabet, attr, flags), so that it can show a
 * packet that breaks them.
 */
struct whead {
	const char     *uid;		/* NUL-terminated, inside the packet */
	int32_t		time;
	uint32_t	flags;
	uint32_t	size;		/* the size prefix: bytes after it */
};

/* One block as found; pointers are into the packet. */
struct wfield {
	const char     *name;		/* NUL-terminated */
	int		attr, type;
	const unsigned char *val;	/* the value bytes, as sent */
	size_t		vlen;
	int64_t		i;		/* WIALON_INT, WIALON_LONG */
	double		d;		/* WIALON_DOUBLE */
	const char     *s;		/* WIALON_TEXT, without its NUL */
	size_t		slen;
	int		pos;		/* posinfo: the six fields below */
	double		lon, lat, alt;
	unsigned	speed, course, sats;
};

/*
 * Parse the one whole packet p[0..len) (size prefix included): fill *h,
 * then call fn for each block in order; a non-zero return from fn stops
 * the walk and is returned.  Returns 0, or -1 with a reason in err when
 * the bytes are not a well-framed packet (fn may have been called for
 * the blocks before the fault).
 */
int	wialon_parse(const unsigned char *p, size_t len, struct whead *h,
	    int (*fn)(void *, const struct wfield *), void *arg, char *err,
	    size_t errsz);

/*
 * The packet p[0..len) as text appended to out: a line with the uid, the
 * time (seconds and UTC) and the flags, then one indented line per block
 * (name, type, value; "hidden" for attr 1), then an empty line.  Text
 * values are quoted and escaped as vis() does; doubles are printed in
 * the fewest digits that read back as the same double.  Returns 0, or -1
 * with a reason in err (malformed: out holds nothing new; out of memory).
 */
int	wialon_decode(const unsigned char *p, size_t len, struct wbuf *out,
	    char *err, size_t errsz);

#endif
