#include <sys/stat.h>

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "diag.h"
#include "io.h"
#include "stats.h"

int
stats_wanted(int quiet, int data)
{
	struct stat sb;

	if (quiet || !isatty(STDERR_FILENO))
		return 0;
	/* A pipe or socket on stdout: another program reads our output. */
	if (fstat(STDOUT_FILENO, &sb) == 0 &&
	    (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode)))
		return 0;
	/* Our data on the terminal: the line would cut into it. */
	if (data && isatty(STDOUT_FILENO))
		return 0;
	return 1;
}

void
stats_init(struct stats *s, int quiet, int data)
{
	s->tty = stats_wanted(quiet, data);
	s->quiet = quiet;
	diag_progress = 0;
	s->start_ms = mono_ms();
	s->next_ms = s->start_ms + 1000;
}

int
stats_due(struct stats *s, int64_t now)
{
	if (!s->tty || now < s->next_ms)
		return 0;
	s->next_ms = now + 1000;
	return 1;
}

void
stats_show(struct stats *s, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (!s->tty)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* Return to column 0 and clear to the end of the line. */
	fprintf(stderr, "\r\033[K%s: %s", progname, line);
	fflush(stderr);
	diag_progress = 1;
}

void
stats_end(struct stats *s)
{
	(void)s;
	if (diag_progress)
		fputc('\n', stderr);
	diag_progress = 0;
}

void
stats_total(struct stats *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if ((s->quiet || !isatty(STDERR_FILENO)) && !verbose) {
		stats_end(s);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* Over the progress line: column 0, cleared to the end. */
	fprintf(stderr, "%s%s: %s\n", diag_progress ? "\r\033[K" : "", progname,
	    line);
	fflush(stderr);
	diag_progress = 0;
}
