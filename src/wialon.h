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

#endif
