/* Diagnostics on stderr, each prefixed with the program's name. */
#ifndef DIAG_H
#define DIAG_H

#include <stddef.h>

extern const char *progname;	/* set by diag_init(), "flespi-recv" etc. */
extern int verbose;		/* -v count; vlog() prints when > 0 */
/*
 * A progress line (stats.h) is on stderr, unterminated.  Its one owner
 * is the terminal's last line: every diagnostic erases it first (the
 * next redraw brings it back), so no warning is glued onto it.
 */
extern int diag_progress;

void diag_init(const char *argv0);

/* "prog: message\n" */
void xwarn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: message: strerror(errno)\n" */
void xwarnerr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* xwarn, then exit(code). */
void die(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* xwarnerr, then exit(code). */
void dieerr(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* xwarn only when verbose. */
void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * A command-line mistake, after getopt's message or ours: synopsis (the
 * usage lines only) and "Try 'PROG --help'." on stderr, then exit 64.
 */
void usage_fail(const char *synopsis) __attribute__((noreturn));
/*
 * "s" unless n is 1, for counts in messages: "%llu message%s", n,
 * plural(n).  English only; a word that does not just take an s has its
 * own line (see giveup_text).
 */
const char *plural(unsigned long long n);
/*
 * The one wording of every tool for --retries running out, into buf
 * (returned): "WHO: giving up after N retries: WHY" ("1 retry").
 */
const char *giveup_text(char *buf, size_t sz, const char *who,
    long long retries, const char *why);

#endif
