#include <sys/prctl.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "exits.h"
#include "token.h"

static int
isblankc(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Read a secret (what: "token") from file, else from env; none is an
 * error when required (the hint names fileopt), else returns 0.
 */
static int
secret_read(const char *what, const char *file, const char *fileopt,
    const char *env, int required, char *buf, size_t size)
{
	struct stat sb;
	char *val;
	size_t len = 0, start = 0;
	ssize_t n;
	int fd;

	/*
	 * From here on the secret is in our memory: no core dump, no ptrace
	 * by another process of the same user, /proc/self/mem root's only.
	 */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (file) {
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
			dieerr(EXIT_USAGE, "%s", file);
		if (fstat(fd, &sb) == 0 && (sb.st_mode & (S_IRGRP | S_IROTH)))
			xwarn("warning: %s is readable by %s (mode %04o): "
			    "chmod 600 it", file,
			    sb.st_mode & S_IROTH ? "others" : "its group",
			    (unsigned)sb.st_mode & 07777);
		while (len < size) {
			n = read(fd, buf + len, size - len);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1)
				dieerr(EXIT_IOERR, "%s", file);
			if (n == 0)
				break;
			len += (size_t)n;
		}
		close(fd);
		if (len == size) {
			explicit_bzero(buf, size);
			die(EXIT_USAGE, "%s: longer than a %s can be", file,
			    what);
		}
	} else if ((val = getenv(env)) != NULL) {
		if ((len = strlen(val)) >= size)
			die(EXIT_USAGE, "%s is longer than a %s can be", env,
			    what);
		memcpy(buf, val, len);
		/*
		 * Our copy is enough: wipe the environment's, which anyone
		 * allowed to read /proc/PID/environ could see.
		 */
		explicit_bzero(val, len);
		unsetenv(env);
	} else if (required) {
		die(EXIT_USAGE, "no %s: set %s or use %s FILE", what, env,
		    fileopt);
	} else {
		buf[0] = '\0';
		return 0;
	}
	while (len > 0 && isblankc(buf[len - 1]))
		len--;
	while (start < len && isblankc(buf[start]))
		start++;
	memmove(buf, buf + start, len - start);
	len -= start;
	buf[len] = '\0';
	if (len == 0)
		die(EXIT_USAGE, "the %s is empty", what);
	for (n = 0; (size_t)n < len; n++)
		if ((unsigned char)buf[n] < 0x20 || buf[n] == 0x7f)
			die(EXIT_USAGE, "the %s holds a control character",
			    what);
	return 1;
}

void
token_get(const char *file, char *buf, size_t size)
{
	secret_read("token", file, "--token-file", "FLESPI_TOKEN", 1, buf,
	    size);
}

int
secret_get(const char *what, const char *file, const char *fileopt,
    const char *env, char *buf, size_t size)
{
	return secret_read(what, file, fileopt, env, 0, buf, size);
}
