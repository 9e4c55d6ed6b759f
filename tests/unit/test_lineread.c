/* The line reader, fed through a pipe in awkward pieces. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "lineread.h"
#include "unit.h"

/*
 * Read everything from a pipe holding input; join lines as "a|b|": a
 * line over max as "!LONG<lineno>(<bytes>)", its pieces put together; "~"
 * after a line that ended at the end of input without a newline.
 */
static void
run(const char *input, size_t inlen, size_t max, char *out, size_t outsz,
    uint64_t *lines)
{
	struct linereader lr;
	int fds[2];
	char *line;
	size_t len, o = 0, longlen = 0;
	int r;

	if (pipe(fds) == -1)
		abort();
	if (write_all(fds[1], input, inlen, NULL) == -1)
		abort();
	close(fds[1]);
	lr_init(&lr, fds[0], max);
	out[0] = '\0';
	while ((r = lr_next(&lr, &line, &len)) != LR_EOF) {
		if (r == LR_LINE) {
			if (strlen(line) != len)
				o += (size_t)snprintf(out + o, outsz - o,
				    "!NUL");
			else
				o += (size_t)snprintf(out + o, outsz - o, "%s",
				    line);
		} else if (r == LR_LONG) {
			if (lr.longoff != longlen)
				o += (size_t)snprintf(out + o, outsz - o,
				    "!GAP");
			longlen = lr.longoff + len;
			if (lr.inlong)
				continue;
			o += (size_t)snprintf(out + o, outsz - o,
			    "!LONG%llu(%zu)", (unsigned long long)lr.lineno,
			    longlen);
			longlen = 0;
		} else
			break;
		o += (size_t)snprintf(out + o, outsz - o, "%s|",
		    lr.nonl ? "~" : "");
	}
	*lines = lr.lineno;
	lr_free(&lr);
	close(fds[0]);
}

/*
 * A child writes n bytes of the repeated pattern pat, then end, to a pipe;
 * the line reader (limit max) gets them.  Returns the reader's end.
 */
static int
writer(size_t n, const char *pat, const char *end)
{
	char buf[4096];
	size_t i, k, pl = strlen(pat);
	int fds[2];

	if (pipe(fds) == -1)
		abort();
	fflush(stdout);	/* a child must not repeat buffered lines */
	if (fork() == 0) {
		close(fds[0]);
		for (i = 0; i < sizeof buf; i++)
			buf[i] = pat[i % pl];
		for (i = 0; i < n; i += k) {
			k = n - i < sizeof buf - pl ? n - i :
			    (sizeof buf - pl) / pl * pl;
			if (write_all(fds[1], buf, k, NULL) == -1)
				_exit(1);
		}
		write_all(fds[1], end, strlen(end), NULL);
		_exit(0);
	}
	close(fds[1]);
	return fds[0];
}

/*
 * Read a long line of the pattern from fd in pieces: checks that the
 * pieces are in order and hold the pattern byte for byte.  Returns the
 * line's length, or (size_t)-1 when a piece was wrong; *lr is left after
 * the line's last piece.
 */
static size_t
readlong(struct linereader *lr, const char *pat, size_t *pieces)
{
	char *line;
	size_t len, i, got = 0, pl = strlen(pat);
	int r, bad = 0;

	*pieces = 0;
	do {
		r = lr_next(lr, &line, &len);
		if (r != LR_LONG || lr->longoff != got)
			return (size_t)-1;
		for (i = 0; i < len && !bad; i++)
			bad = line[i] != pat[(got + i) % pl];
		got += len;
		(*pieces)++;
	} while (lr->inlong && !bad);
	return bad ? (size_t)-1 : got;
}

#define T(in, max, want, wantlines) do {				\
	char out_[4096];						\
	uint64_t n_;							\
	run(in, sizeof(in) - 1, max, out_, sizeof out_, &n_);		\
	CHECK(strcmp(out_, want) == 0 && n_ == (wantlines),		\
	    "%-28s -> %s (%llu lines)", #in, out_,			\
	    (unsigned long long)n_);					\
} while (0)

int
main(void)
{
	char *big, *line;
	size_t i, len, count;
	struct linereader lr;
	int fds[2], r;

	T("", 100, "", 0);
	T("a\nb\n", 100, "a|b|", 2);
	T("a\nb", 100, "a|b~|", 2);			/* no final newline */
	T("a\r\nb\r\n", 100, "a|b|", 2);		/* CRLF */
	T("a\r\nb\r", 100, "a|b~|", 2);		/* CR then EOF */
	T("\n\n\na\n\n", 100, "a|", 5);		/* empty lines counted,
						   skipped */
	T("\r\n", 100, "", 1);
	T("a\n\r", 100, "a|", 2);		/* a last "line" of "\r" */
	T("12345\n123456\n1\n", 5, "12345|!LONG2(6)|1|", 3);
	T("12345\r\n", 5, "12345|", 1);		/* CR not counted in max */
	T("123456", 5, "!LONG1(6)~|", 1);		/* long last line */
	T("1234567\r\n8\n", 5, "!LONG1(7)|8|", 2);	/* CR not kept */
	T("a\0b\nc\n", 100, "!NUL|c|", 2);		/* NUL inside a line */

	/*
	 * A line far longer than the buffer comes in pieces, byte for byte,
	 * without buffering it: 50 MB of "abc\r" (so that reads of 64 KiB
	 * end on a "\r" that is not the line's end), then "\r\n".
	 */
	len = 50 * 1000 * 1000;
	fds[0] = writer(len, "abc\r", "\r\n{\"ok\":1}\n");
	lr_init(&lr, fds[0], 1024 * 1024);
	count = readlong(&lr, "abc\r", &i);
	CHECK(count == len && lr.lineno == 1 && !lr.nonl,
	    "50 MB line over a 1 MiB max: in %zu pieces, whole, its \\r kept "
	    "and the \\r\\n after it not (%zu bytes)", i, count);
	r = lr_next(&lr, &line, &len);
	CHECK(r == LR_LINE && strcmp(line, "{\"ok\":1}") == 0 && lr.lineno == 2,
	    "the line after it is intact");
	CHECK(lr.cap <= 1024 * 1024 + 2 + 64 * 1024 + 1,
	    "buffer stayed bounded (%zu bytes)", lr.cap);
	CHECK(lr_next(&lr, &line, &len) == LR_EOF, "then EOF");
	lr_free(&lr);
	close(fds[0]);

	/* A long last line without its newline: its last piece says so. */
	fds[0] = writer(3 * 1024 * 1024 + 7, "xy", "");
	lr_init(&lr, fds[0], 64 * 1024);
	count = readlong(&lr, "xy", &i);
	CHECK(count == 3 * 1024 * 1024 + 7 && lr.nonl && !lr.inlong,
	    "a long last line without a newline: whole, nonl on its last "
	    "piece (%zu bytes, %zu pieces)", count, i);
	CHECK(lr_next(&lr, &line, &len) == LR_EOF && lr.lineno == 1,
	    "then EOF");
	lr_free(&lr);
	close(fds[0]);

	/* Non-blocking: a long line's pieces, then LR_AGAIN in its middle. */
	if (pipe(fds) == -1)
		return 1;
	set_nonblock(fds[0], 1);
	lr_init(&lr, fds[0], 100);
	big = malloc(300);
	memset(big, 'z', 300);
	write_all(fds[1], big, 300, NULL);
	r = lr_next(&lr, &line, &len);
	CHECK(r == LR_LONG && lr.longoff == 0 && len == 300 && lr.inlong,
	    "non-blocking: the first piece of a long line (%zu bytes)", len);
	CHECK(lr_next(&lr, &line, &len) == LR_AGAIN && lr_pending(&lr) > 0,
	    "then LR_AGAIN, the line pending");
	write_all(fds[1], "zz\nok\n", 6, NULL);
	r = lr_next(&lr, &line, &len);
	CHECK(r == LR_LONG && lr.longoff == 300 && len == 2 && !lr.inlong,
	    "its last piece");
	r = lr_next(&lr, &line, &len);
	CHECK(r == LR_LINE && strcmp(line, "ok") == 0 && lr.lineno == 2 &&
	    lr_pending(&lr) == 0, "the next line");
	close(fds[1]);
	lr_free(&lr);
	close(fds[0]);
	free(big);

	/* Many lines split across reads arrive whole and in order. */
	if (pipe(fds) == -1)
		return 1;
	fflush(stdout);	/* a child must not repeat buffered lines */
	if (fork() == 0) {
		char b[32];
		close(fds[0]);
		for (i = 0; i < 100000; i++) {
			int n = snprintf(b, sizeof b, "{\"n\":%zu}\n", i);
			write_all(fds[1], b, (size_t)n, NULL);
		}
		_exit(0);
	}
	close(fds[1]);
	lr_init(&lr, fds[0], 64);
	count = 0;
	while ((r = lr_next(&lr, &line, &len)) == LR_LINE) {
		char want[32];
		snprintf(want, sizeof want, "{\"n\":%zu}", count);
		if (strcmp(want, line) != 0)
			break;
		count++;
	}
	CHECK(r == LR_EOF && count == 100000, "100000 lines in order (%zu)",
	    count);
	lr_free(&lr);
	close(fds[0]);

	/* Non-blocking: LR_AGAIN when the writer has not finished a line. */
	if (pipe(fds) == -1)
		return 1;
	set_nonblock(fds[0], 1);
	lr_init(&lr, fds[0], 100);
	write_all(fds[1], "{\"a\"", 4, NULL);
	CHECK(lr_next(&lr, &line, &len) == LR_AGAIN, "partial line: LR_AGAIN");
	write_all(fds[1], ":1}\n", 4, NULL);
	r = lr_next(&lr, &line, &len);
	CHECK(r == LR_LINE && strcmp(line, "{\"a\":1}") == 0, "completed line");
	CHECK(lr_pending(&lr) == 0, "nothing pending");
	close(fds[1]);
	CHECK(lr_next(&lr, &line, &len) == LR_EOF, "EOF after writer closed");
	lr_free(&lr);
	close(fds[0]);
	return UNIT_END();
}
