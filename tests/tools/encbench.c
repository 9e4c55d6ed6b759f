/*
 * encbench: the Wialon encoding cost, per path, for scripts/bench-encode.
 *
 *   encbench MODE [PASSES] <msgs.ndjson
 *
 * Loads every line into memory first (so no I/O is measured), then runs
 * the chosen path over all of them PASSES times (default 1) inside
 * bench(), the one function scripts/bench-encode has callgrind count:
 *   parse    jansson's parse only (json_loadb, json_decref)
 *   jansson  the tree path: json_loadb, uid and timestamp looked up as
 *            msgin does, wialon_encode, json_decref
 *   scan     wialon_scan, falling back to the tree path for lines it
 *            leaves (counted)
 *   check    both paths on every line, comparing the packets byte for
 *            byte; exits 1 on a difference
 * Prints "MODE: N lines, F fell back, S s, R msg/s" on stderr.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "pmap.h"
#include "wialon.h"

struct line {
	const char     *p;
	size_t		len;
};

static struct line *lines;
static size_t nlines;
static struct pmap pm;
static uint64_t fellback;

/* The tree path; returns 0, or -1 when the line is refused. */
static int
tree(const struct line *l, struct wbuf *b)
{
	json_error_t je;
	json_t *o, *u, *t;
	char err[160], ubuf[24];
	const char *uid;
	int r = -1;

	if ((o = json_loadb(l->p, l->len, 0, &je)) == NULL)
		return -1;
	u = json_object_get(o, "ident");
	t = json_object_get(o, "timestamp");
	if (json_is_string(u)) {
		uid = json_string_value(u);
	} else if (json_is_integer(u)) {
		snprintf(ubuf, sizeof ubuf, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(u));
		uid = ubuf;
	} else {
		goto out;
	}
	if (!json_is_number(t))
		goto out;
	r = wialon_encode(&pm, o, "ident", uid, json_number_value(t), b, err,
	    sizeof err);
out:
	json_decref(o);
	return r;
}

static __attribute__((noinline)) uint64_t
bench(const char *mode, int passes)
{
	struct wbuf a = { 0 }, b = { 0 };
	json_error_t je;
	uint64_t sum = 0;
	size_t i;
	int p;

	for (p = 0; p < passes; p++)
		for (i = 0; i < nlines; i++) {
			a.len = 0;
			switch (mode[0]) {
			case 'p':
				json_decref(json_loadb(lines[i].p,
				    lines[i].len, 0, &je));
				break;
			case 'j':
				tree(&lines[i], &a);
				break;
			case 's':
				if (!wialon_scan(&pm, lines[i].p, lines[i].len,
				    "ident", &a, NULL)) {
					fellback++;
					tree(&lines[i], &a);
				}
				break;
			case 'c':
				b.len = 0;
				if (!wialon_scan(&pm, lines[i].p, lines[i].len,
				    "ident", &a, NULL)) {
					fellback++;
					break;
				}
				if (tree(&lines[i], &b) == -1 ||
				    a.len != b.len ||
				    memcmp(a.p, b.p, a.len) != 0) {
					fprintf(stderr, "encbench: line %zu "
					    "differs\n", i + 1);
					exit(1);
				}
				break;
			}
			sum += a.len;
		}
	wbuf_free(&a);
	wbuf_free(&b);
	return sum;
}

int
main(int argc, char **argv)
{
	static char *buf;
	size_t cap = 1 << 20, len = 0, n, i, start;
	struct timespec t0, t1;
	double secs;
	int passes;

	if (argc < 2 || strchr("pjsc", argv[1][0]) == NULL) {
		fprintf(stderr, "usage: encbench parse|jansson|scan|check "
		    "[PASSES] <msgs\n");
		return 64;
	}
	passes = argc > 2 ? atoi(argv[2]) : 1;
	if ((buf = malloc(cap)) == NULL)
		return 1;
	while ((n = fread(buf + len, 1, cap - len, stdin)) > 0) {
		len += n;
		if (len == cap && (buf = realloc(buf, cap *= 2)) == NULL)
			return 1;
	}
	for (i = 0, n = 0; i < len; i++)
		n += buf[i] == '\n';
	if ((lines = calloc(n + 1, sizeof *lines)) == NULL)
		return 1;
	for (i = start = 0; i < len; i++)
		if (buf[i] == '\n') {
			lines[nlines].p = buf + start;
			lines[nlines++].len = i - start;
			start = i + 1;
		}
	if (pmap_init(&pm) == -1)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	bench(argv[1], passes);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) /
	    1e9;
	fprintf(stderr, "%s: %zu lines, %" PRIu64 " fell back, %.3f s, "
	    "%.0f msg/s\n", argv[1], nlines * (size_t)passes, fellback, secs,
	    secs > 0 ? nlines * (double)passes / secs : 0);
	pmap_free(&pm);
	return 0;
}
