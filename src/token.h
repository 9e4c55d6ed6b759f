/*
 * Secrets: the flespi token, a broker's password.  From a file or the
 * environment, never the command line.
 */
#ifndef TOKEN_H
#define TOKEN_H

#include <stddef.h>

/*
 * Put the token into buf: from file when not NULL (surrounding whitespace
 * trimmed; a warning when its group or others may read it), else from
 * FLESPI_TOKEN, which is then wiped from the environment.  Makes the
 * process non-dumpable first (prctl PR_SET_DUMPABLE 0).  Exits 64 when
 * there is none, it is empty, too long for buf or holds a control
 * character; 74 when the file cannot be read.  Never echoes it; the
 * caller wipes buf after use.
 */
void	token_get(const char *file, char *buf, size_t size);

/*
 * Another secret, read as token_get reads the token: from file when not
 * NULL (named fileopt in messages, "--password-file"), else from the
 * environment variable env, then wiped; what names it ("password") in
 * messages.  Returns 1 with the secret in buf, 0 when neither file nor
 * env is given (buf empty).  Exits as token_get does.
 */
int	secret_get(const char *what, const char *file, const char *fileopt,
	    const char *env, char *buf, size_t size);

#endif
