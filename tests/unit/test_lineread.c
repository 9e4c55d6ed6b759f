/* The line reader, fed through a pipe in awkward pieces. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "lineread.h"
#include "unit.h"

/* Read everything from a pipe holding input; join lines as "a|b|!LONG|". */
static void
run(const char *input, size_t inlen, size_t max, char *out, size_t outsz,
    uint64_t *lines)
{
	struct linereader lr;
	int fds[2];
	char *line;
	size_t len, o = 0;
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
				o += (size_t)snprintf(out + o, outsz - o, "!NUL|");
			else
				o += (size_t)snprintf(out + o, outsz - o, "%s|", line);
		} else if (r == LR_LONG)
			o += (size_t)snprintf(out + o, outsz - o, "!LONG%llu|",
			    (unsigned long long)lr.lineno);
		else
			break;
	}
	*lines = lr.lineno;
	lr_free(&lr);
	close(fds[0]);
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
	T("a\nb", 100, "a|b|", 2);			/* no final newline */
	T("a\r\nb\r\n", 100, "a|b|", 2);		/* CRLF */
	T("a\r\nb\r", 100, "a|b|", 2);			/* CR then EOF */
	T("\n\n\na\n\n", 100, "a|", 5);			/* empty lines counted, skipped */
	T("\r\n", 100, "", 1);
	T("12345\n123456\n1\n", 5, "12345|!LONG2|1|", 3);
	T("12345\r\n", 5, "12345|", 1);			/* CR not counted in max */
	T("123456", 5, "!LONG1|", 1);			/* long last line */
	T("a\0b\nc\n", 100, "!NUL|c|", 2);		/* NUL inside a line */

	/* A line far longer than the buffer is skipped without buffering it. */
	len = 3 * 1024 * 1024;
	big = malloc(len + 64);
	memset(big, 'x', len);
	memcpy(big + len, "\n{\"ok\":1}\n", 10);
	if (pipe(fds) == -1)
		return 1;
	fflush(stdout);	/* a child must not repeat buffered lines */
	if (fork() == 0) {
		close(fds[0]);
		write_all(fds[1], big, len + 10, NULL);
		_exit(0);
	}
	close(fds[1]);
	lr_init(&lr, fds[0], 1024 * 1024);
	r = lr_next(&lr, &line, &len);
	CHECK(r == LR_LONG && lr.lineno == 1, "3 MiB line over a 1 MiB max is LR_LONG");
	r = lr_next(&lr, &line, &len);
	CHECK(r == LR_LINE && strcmp(line, "{\"ok\":1}") == 0 && lr.lineno == 2,
	    "the line after it is intact");
	CHECK(lr.cap <= 1024 * 1024 + 2 + 64 * 1024 + 1,
	    "buffer stayed bounded (%zu bytes)", lr.cap);
	CHECK(lr_next(&lr, &line, &len) == LR_EOF, "then EOF");
	lr_free(&lr);
	close(fds[0]);

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
	CHECK(r == LR_EOF && count == 100000, "100000 lines in order (%zu)", count);
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
	free(big);
	return UNIT_END();
}
