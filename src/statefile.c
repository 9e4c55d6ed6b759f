#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exits.h"
#include "io.h"
#include "statefile.h"

int
state_load(const char *path, uint64_t *key)
{
	char buf[64], *end;
	ssize_t n;
	size_t len = 0;
	unsigned long long v;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return errno == ENOENT ? 0 : -1;
	while (len < sizeof buf - 1) {
		n = read(fd, buf + len, sizeof buf - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	    buf[len - 1] == ' '))
		buf[--len] = '\0';
	errno = 0;
	if (len == 0 || buf[0] < '0' || buf[0] > '9' ||
	    (v = strtoull(buf, &end, 10), *end != '\0') || errno == ERANGE) {
		errno = EINVAL;
		return -1;
	}
	*key = v;
	return 1;
}

/* fsync the directory holding path, so the rename itself is durable. */
static int
syncdir(const char *path)
{
	char *dir, *slash;
	int fd, r;

	if ((dir = strdup(path)) == NULL)
		return -1;
	if ((slash = strrchr(dir, '/')) == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	free(dir);
	if (fd == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

int
state_save(const char *path, uint64_t key)
{
	char buf[32], *tmp;
	size_t plen = strlen(path);
	int fd, n, e;

	if ((tmp = malloc(plen + 5)) == NULL)
		return -1;
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp", 5);
	n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", key);
	/*
	 * Never through a link planted at FILE.tmp, never into a file someone
	 * else opened: a new file or nothing.  One that exists is left over
	 * from a run that died (the caller holds the lock): it goes, and
	 * unlink removes a link itself, never its target.
	 */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1 && errno == EEXIST && unlink(tmp) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	if (fd == -1)
		goto fail;
	if (write_all(fd, buf, (size_t)n, NULL) == -1 || fsync(fd) == -1) {
		e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		goto fail;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		e = errno;
		unlink(tmp);
		errno = e;
		goto fail;
	}
	free(tmp);
	return syncdir(path);
fail:
	e = errno;
	free(tmp);
	errno = e;
	return -1;
}

char *
state_resolve(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
		return realpath(path, NULL);
	return strdup(path);
}

int
state_lock(const char *path)
{
	char *lk;
	size_t plen = strlen(path);
	int fd, e;

	if ((lk = malloc(plen + 6)) == NULL)
		return -1;
	memcpy(lk, path, plen);
	memcpy(lk + plen, ".lock", 6);
	fd = open(lk, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	e = errno;
	free(lk);
	if (fd == -1) {
		errno = e;
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		e = errno;
		close(fd);
		errno = e == EAGAIN ? EWOULDBLOCK : e;
		return -1;
	}
	return fd;
}

int
state_open(struct statefile *sf, const char *path, uint64_t *key,
    int *status, char *why, size_t whysz)
{
	int r;

	sf->lockfd = -1;
	*status = EXIT_IOERR;
	if ((sf->path = state_resolve(path)) == NULL) {
		snprintf(why, whysz, "%s: %s%s", path, strerror(errno),
		    errno == ENOENT ? " (a link to nothing)" : "");
		return -1;
	}
	if ((sf->lockfd = state_lock(sf->path)) == -1) {
		if (errno == EWOULDBLOCK) {
			snprintf(why, whysz, "%s is in use by another run "
			    "(%s.lock is locked); not starting", sf->path,
			    sf->path);
			*status = EXIT_LOCKED;
		} else
			snprintf(why, whysz, "%s.lock: %s", sf->path,
			    strerror(errno));
		goto fail;
	}
	if ((r = state_load(sf->path, key)) >= 0)
		return r;
	if (errno == EINVAL)
		snprintf(why, whysz, "%s: not a key file (one decimal key "
		    "expected)", sf->path);
	else
		snprintf(why, whysz, "%s: %s", sf->path, strerror(errno));
fail:
	state_close(sf);
	return -1;
}

void
state_close(struct statefile *sf)
{
	if (sf->lockfd != -1)
		close(sf->lockfd);
	sf->lockfd = -1;
	free(sf->path);
	sf->path = NULL;
}
