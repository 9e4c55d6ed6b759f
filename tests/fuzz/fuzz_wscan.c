/*
 * libFuzzer target: the scan path (wialon_scan) against the jansson path.
 *
 * The input, up to its first newline, is one NDJSON line.  The jansson
 * path takes it exactly as flespi-to-wialon does (tests/unit/wref.h:
 * msgin_next through a pipe, then wialon_encode); wialon_scan gets the
 * bytes msgin saw.  Whenever the scan path takes a line, the jansson path
 * must take it too, with the same packet byte for byte and the same
 * timestamp bit for bit; a line the scan path leaves must leave its
 * buffer as it was (the fallback then runs the jansson path, so together
 * they accept exactly what jansson accepts).  The input length picks a
 * variant: the uid field is "ident", or "timestamp" or "position.latitude"
 * for some lengths, and for others the input is wrapped as the members of
 * a message that already has an ident and a timestamp, so that most of
 * what the fuzzer tries is accepted and encoded.  The map adds renames
 * that collide, drop and land on reserved names.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/wref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pmap pm;
static int ready, devnull = -1, saved = -1;

static void
setup(void)
{
	static const char *const rules[] = {
		"drop.me=", "a.b=same", "x=avl_driver", "y=posinfo",
		"z=avl_inputs", "w=Image",
	};
	char err[128];
	size_t i;

	if (pmap_init(&pm) == -1)
		abort();
	for (i = 0; i < sizeof rules / sizeof rules[0]; i++)
		if (pmap_rule(&pm, rules[i], err, sizeof err) == -1)
			abort();
	if (pmap_ready(&pm) == -1)
		abort();
	/* msgin diagnoses each refused line on stderr: hush it per call. */
	devnull = open("/dev/null", O_WRONLY);
	saved = dup(2);
	ready = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char prefix[] = "packet before";
	static const char head[] = "{\"ident\":\"352625066004561\","
	    "\"timestamp\":1764000001.209955,";
	static char wrapped[60000 + sizeof head + 1];
	struct wbuf a = { 0 }, b = { 0 };
	const char *line = (const char *)data, *uf, *nl;
	double ta = -1, tb = -2;
	size_t len = size, plen = sizeof prefix - 1, hlen = sizeof head - 1;
	int ra, rb, v = (int)(size % 7);

	if (!ready)
		setup();
	if ((nl = memchr(line, '\n', len)) != NULL)
		len = (size_t)(nl - line);
	if (len > 60000)
		return 0;
	uf = v == 5 ? "timestamp" : v == 6 ? "position.latitude" : "ident";
	if (v >= 2 && v <= 4) {
		memcpy(wrapped, head, hlen);
		memcpy(wrapped + hlen, line, len);
		wrapped[hlen + len] = '}';
		line = wrapped;
		len += hlen + 1;
	}

	fflush(stderr);
	dup2(devnull, 2);
	ra = wref(&pm, uf, line, len, &a, &ta);
	dup2(saved, 2);
	if (ra == -1)
		abort();
	if (wref_line == NULL)
		goto out;	/* an empty line: skipped, never parsed */

	/* Appending after another packet, as a window slot may. */
	b.p = malloc(plen);
	if (b.p == NULL)
		abort();
	memcpy(b.p, prefix, plen);
	b.len = b.cap = plen;
	rb = wialon_scan(&pm, wref_line, wref_len, uf, &b, &tb);
	if (b.len < plen || memcmp(b.p, prefix, plen) != 0)
		abort();	/* it wrote over what was there */
	if (rb == 0 && b.len != plen)
		abort();	/* left the line, but not the buffer */
	if (rb == 1 && ra != 1) {
		fprintf(stderr, "fuzz_wscan: scan path takes a line the "
		    "jansson path refuses\n");
		abort();
	}
	if (rb == 1 && (b.len - plen != a.len ||
	    memcmp(b.p + plen, a.p, a.len) != 0 ||
	    memcmp(&ta, &tb, sizeof ta) != 0)) {
		fprintf(stderr, "fuzz_wscan: packets differ\n");
		abort();
	}
out:
	wbuf_free(&a);
	wbuf_free(&b);
	return 0;
}
