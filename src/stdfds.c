#include <fcntl.h>

#include "stdfds.h"

int
stdfds_check(int *which)
{
	int fd, bad = -1;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1)
			continue;
		if (bad == -1)
			bad = fd;
		/* open() returns the lowest free descriptor: this one. */
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) == -1)
			break;
	}
	*which = bad;
	return bad == -1 ? 0 : -1;
}
