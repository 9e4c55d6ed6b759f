#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "exits.h"

const char *progname = "flespi-pipe";
int verbose;
int diag_progress;

void
diag_init(const char *argv0)
{
	const char *p;

	if (argv0 == NULL || *argv0 == '\0')
		return;
	p = strrchr(argv0, '/');
	progname = p ? p + 1 : argv0;
}

/*
 * The whole line is formatted first and written with one fputs() so that
 * diagnostics of several tools sharing a terminal do not interleave.
 */
static void
vdiag(int with_errno, int err, const char *fmt, va_list ap)
{
	char msg[1024];
	int n;

	n = snprintf(msg, sizeof msg, "%s: ", progname);
	if (n < 0 || (size_t)n >= sizeof msg)
		n = 0;
	vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	n = (int)strlen(msg);
	if (with_errno)
		snprintf(msg + n, sizeof msg - (size_t)n, ": %s",
		    strerror(err));
	fprintf(stderr, "%s%s\n", diag_progress ? "\r\033[K" : "", msg);
	diag_progress = 0;
}

void
xwarn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(0, 0, fmt, ap);
	va_end(ap);
}

void
xwarnerr(const char *fmt, ...)
{
	va_list ap;
	int err = errno;

	va_start(ap, fmt);
	vdiag(1, err, fmt, ap);
	va_end(ap);
}

void
die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(0, 0, fmt, ap);
	va_end(ap);
	exit(code);
}

void
dieerr(int code, const char *fmt, ...)
{
	va_list ap;
	int err = errno;

	va_start(ap, fmt);
	vdiag(1, err, fmt, ap);
	va_end(ap);
	exit(code);
}

void
vlog(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	vdiag(0, 0, fmt, ap);
	va_end(ap);
}

void
usage_fail(const char *synopsis)
{
	diag_progress = 0;
	fprintf(stderr, "%sTry '%s --help'.\n", synopsis, progname);
	exit(EXIT_USAGE);
}

const char *
plural(unsigned long long n)
{
	return n == 1 ? "" : "s";
}

const char *
giveup_text(char *buf, size_t sz, const char *who, long long retries,
    const char *why)
{
	snprintf(buf, sz, "%s: giving up after %lld %s: %s", who, retries,
	    retries == 1 ? "retry" : "retries", why);
	return buf;
}
