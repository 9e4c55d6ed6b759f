/* Diagnostics on stderr, each prefixed with the program's name. */
#ifndef DIAG_H
#define DIAG_H

extern const char *progname;	/* set by diag_init(), "flespi-recv" etc. */
extern int verbose;		/* -v count; vlog() prints when > 0 */

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

#endif
