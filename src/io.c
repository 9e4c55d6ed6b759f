#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

int
write_all(int fd, const void *buf, size_t len, size_t *done)
{
	const char *p = buf;
	size_t off = 0;
	ssize_t n;
	struct pollfd pfd;

	while (off < len) {
		n = write(fd, p + off, len - off);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
				break;
			continue;
		}
		if (n == 0)
			errno = EIO;
		break;
	}
	if (done)
		*done = off;
	return off == len ? 0 : -1;
}

int
read_exact(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = read(fd, p + off, len - off);
		if (n > 0)
			off += (size_t)n;
		else if (n == 0) {
			errno = 0;
			return -1;
		} else if (errno != EINTR)
			return -1;
	}
	return 0;
}

int
set_nonblock(int fd, int on)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -1;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl);
}

int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
last_line_end(int fd, int64_t size)
{
	char buf[4096];
	int64_t pos;
	ssize_t n, i, r;

	for (pos = size; pos > 0; pos -= n) {
		n = pos < (int64_t)sizeof buf ? (ssize_t)pos :
		    (ssize_t)sizeof buf;
		if ((r = pread(fd, buf, (size_t)n, (off_t)(pos - n))) != n) {
			if (r >= 0)
				errno = EIO;	/* the file shrank */
			return -1;
		}
		for (i = n; i > 0; i--)
			if (buf[i - 1] == '\n')
				return pos - n + i;
	}
	return 0;
}
