/*
 * parsefloor: the parse-only floor for benchmarks.  Reads NDJSON lines
 * from stdin with the project's line reader and parses each with jansson,
 * nothing else; prints "LINES lines, BAD bad" on stderr.  A forwarder can
 * go no faster than this, so benchmarks report their rate against it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include <jansson.h>

#include "lineread.h"

int
main(void)
{
	struct linereader lr;
	json_error_t err;
	json_t *v;
	char *line;
	size_t len;
	uint64_t n = 0, bad = 0;
	int r;

	if (lr_init(&lr, STDIN_FILENO, 1 << 20) == -1)
		return 1;
	while ((r = lr_next(&lr, &line, &len)) != LR_EOF) {
		if (r == LR_ERR)
			return 1;
		if (r != LR_LINE) {
			bad++;
			continue;
		}
		if ((v = json_loadb(line, len, 0, &err)) == NULL)
			bad++;
		json_decref(v);
		n++;
	}
	fprintf(stderr, "%" PRIu64 " lines, %" PRIu64 " bad\n", n, bad);
	lr_free(&lr);
	return 0;
}
