/*
 * wialon-ack: the fastest Wialon Retranslator peer there can be, for
 * benchmarks.  wialon-ack PORTFILE: listens on 127.0.0.1, port 0, writes
 * the port to PORTFILE, then serves connections one after another: frames
 * packets by their size prefix and answers each with 0x11, checking
 * nothing else (wialon_receiver.py is the strict one).  Prints
 * "N packets, B bytes" per connection on stderr.  Runs until killed.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"
#include "io.h"

#define BUFSZ	(1 << 20)

static void
serve(int c)
{
	static unsigned char buf[BUFSZ], acks[BUFSZ / 4 + 1];
	size_t have = 0, off, need, nack;
	uint64_t packets = 0, bytes = 0;
	uint32_t len;
	ssize_t n;

	for (;;) {
		if (have == BUFSZ) {
			fprintf(stderr, "wialon-ack: packet over %d bytes\n",
			    BUFSZ);
			break;
		}
		n = read(c, buf + have, BUFSZ - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		bytes += (uint64_t)n;
		off = nack = 0;
		while (have - off >= 4) {
			len = (uint32_t)buf[off] | (uint32_t)buf[off + 1] << 8 |
			    (uint32_t)buf[off + 2] << 16 |
			    (uint32_t)buf[off + 3] << 24;
			need = 4 + (size_t)len;
			if (need > BUFSZ) {
				fprintf(stderr, "wialon-ack: size %" PRIu32
				    "\n", len);
				return;
			}
			if (have - off < need)
				break;
			off += need;
			acks[nack++] = 0x11;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
		packets += nack;
		if (nack > 0 && write_all(c, acks, nack, NULL) == -1)
			break;
	}
	fprintf(stderr, "wialon-ack: %" PRIu64 " packets, %" PRIu64
	    " bytes\n", packets, bytes);
}

int
main(int argc, char **argv)
{
	const char *what;
	int s, c;

	if (argc != 2) {
		fprintf(stderr, "usage: wialon-ack PORTFILE\n");
		return 64;
	}
	if ((s = listen_local(argv[1], 4, &what)) == -1) {
		perror(what == argv[1] ? argv[1] : "wialon-ack");
		return 1;
	}
	for (;;) {
		if ((c = accept(s, NULL, NULL)) == -1)
			continue;
		serve(c);
		close(c);
	}
}
