/*
 * The reference the scan path (wialon_scan) is held to: one line through
 * the jansson path exactly as flespi-to-wialon takes it, msgin_next (NUL
 * check, jansson, the retry for integers past 64 bits, the message
 * checks) and then wialon_encode, by way of a pipe.  Shared by
 * tests/unit/test_wialon.c and tests/fuzz/fuzz_wscan.c.
 */
#ifndef WREF_H
#define WREF_H

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "msgin.h"
#include "pmap.h"
#include "wialon.h"

/* The line as msgin handed it to its fast hook (and then to jansson). */
static char *wref_line;
static size_t wref_len;

static int
wref_capture(void *arg, struct msg *m)
{
	(void)arg;
	free(wref_line);
	wref_line = malloc(m->len + 1);
	if (wref_line != NULL) {
		memcpy(wref_line, m->line, m->len);
		wref_len = m->len;
	}
	return 0;	/* and now jansson, as usual */
}

/*
 * Feed line[0..len) (no '\n' in it, under 1 MiB) to msgin and encode what
 * it accepts.  Returns 1 with the packet appended to out and the
 * timestamp in *ts, 0 when the jansson path refuses the line, -1 when the
 * harness itself failed.  wref_line then holds the bytes msgin saw (NULL
 * for a line it skipped as empty).
 */
static int
wref(const struct pmap *pm, const char *uid_field, const char *line,
    size_t len, struct wbuf *out, double *ts)
{
	struct msgin in;
	struct msg m;
	char err[160];
	int fd[2], r, ok = 0;

	free(wref_line);
	wref_line = NULL;
	wref_len = 0;
	if (pipe(fd) == -1)
		return -1;
#ifdef F_SETPIPE_SZ
	fcntl(fd[1], F_SETPIPE_SZ, 1 << 20);
#endif
	if (write(fd[1], line, len) != (ssize_t)len ||
	    write(fd[1], "\n", 1) != 1) {
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	close(fd[1]);
	if (msgin_init(&in, fd[0], 1 << 20, uid_field) == -1) {
		close(fd[0]);
		return -1;
	}
	in.fast = wref_capture;
	r = msgin_next(&in, &m);
	if (r == MSG_OK) {
		ok = wialon_encode(pm, m.obj, uid_field, m.uid, m.timestamp,
		    out, err, sizeof err) == 0;
		*ts = m.timestamp;
		json_decref(m.obj);
	}
	msgin_free(&in);
	close(fd[0]);
	return ok;
}

#endif
