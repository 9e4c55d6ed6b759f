/* Whole writes and reads over file descriptors, and a monotonic clock. */
#ifndef IO_H
#define IO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Write all len bytes, retrying short writes and EINTR.  Returns 0, or -1
 * with errno set; *done (when not NULL) gets the bytes written either way.
 * On a non-blocking fd, EAGAIN is waited out with poll().
 */
int		write_all(int fd, const void *buf, size_t len, size_t *done);
/* Read exactly len bytes.  Returns 0, or -1 with errno (0 on early EOF). */
int		read_exact(int fd, void *buf, size_t len);
int		set_nonblock(int fd, int on);
/*
 * The offset just past the last newline in the first size bytes of fd
 * (0 when there is none), read backwards with pread(2); -1 with errno on
 * a read error.
 */
int64_t		last_line_end(int fd, int64_t size);
/* Milliseconds from CLOCK_MONOTONIC. */
int64_t		mono_ms(void);

#endif
