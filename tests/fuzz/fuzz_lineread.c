/*
 * libFuzzer target: the line reader against a reference splitter.
 * The first input byte picks the maximum line length (1..256, or 1 MiB);
 * the rest is fed through a pipe.  Every line, every long line put
 * together from its LR_LONG pieces, every line number and whether the
 * line ended without a newline must match what a naive split of the same
 * bytes gives.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "lineread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(void)
{
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linereader lr;
	size_t max, i, start, n, got;
	uint64_t lineno = 0;
	char *line;
	size_t len;
	int fds[2], r;

	if (size < 1 || size > 60000)	/* one pipe buffer: no writer process needed */
		return 0;
	max = data[0] == 255 ? 1 << 20 : (size_t)data[0] + 1;
	data++;
	size--;
	if (pipe(fds) == -1)
		return 0;
	if (write_all(fds[1], data, size, NULL) == -1)
		fail();
	close(fds[1]);
	if (lr_init(&lr, fds[0], max) == -1)
		fail();

	for (start = 0; start < size; start = i + 1) {
		for (i = start; i < size && data[i] != '\n'; i++)
			;
		n = i - start;
		lineno++;
		if (n > 0 && data[start + n - 1] == '\r')
			n--;
		if (n == 0)
			continue;
		r = lr_next(&lr, &line, &len);
		if (lr.lineno != lineno)
			fail();
		if (n > max) {
			/* Its pieces, in order, make the line. */
			for (got = 0;; r = lr_next(&lr, &line, &len)) {
				if (r != LR_LONG || lr.lineno != lineno ||
				    lr.longoff != got || got + len > n ||
				    memcmp(line, data + start + got, len) != 0)
					fail();
				got += len;
				if (!lr.inlong)
					break;
			}
			if (got != n || lr.nonl != (i == size))
				fail();
			continue;
		}
		if (r != LR_LINE || len != n || memcmp(line, data + start, n) != 0 ||
		    line[n] != '\0' || lr.nonl != (i == size))
			fail();
	}
	if (lr_next(&lr, &line, &len) != LR_EOF)
		fail();
	lr_free(&lr);
	close(fds[0]);
	return 0;
}
