/*
 * wialon-ack: the fastest Wialon Retranslator peer there can be, for
 * benchmarks.  wialon-ack PORTFILE [GATHER_MS]: listens on 127.0.0.1,
 * port 0, writes the port to PORTFILE, then serves connections one after
 * another: frames packets by their size prefix and answers each with
 * 0x11, checking nothing else (wialon_receiver.py is the strict one).
 * With GATHER_MS, the acks owed are held until the first of them is
 * GATHER_MS old and then written at once, as a peer that answers in
 * batches would.  Prints "N packets, B bytes" per connection on stderr.
 * Runs until killed.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"
#include "io.h"

#define BUFSZ	(1 << 20)

static unsigned char acks[BUFSZ / 4 + 1];

/* ack C N: write N acks; -1 on error. */
static int
ack(int c, size_t n)
{
	size_t k;

	for (; n > 0; n -= k) {
		k = n < sizeof acks ? n : sizeof acks;
		if (write_all(c, acks, k, NULL) == -1)
			return -1;
	}
	return 0;
}

static void
serve(int c, int gather)
{
	static unsigned char buf[BUFSZ];
	size_t have = 0, off, need, nack, owed = 0;
	uint64_t packets = 0, bytes = 0;
	int64_t since = 0, left;
	struct pollfd p = { .fd = c, .events = POLLIN };
	uint32_t len;
	ssize_t n;

	memset(acks, 0x11, sizeof acks);
	for (;;) {
		if (owed > 0) {
			left = since + gather - mono_ms();
			if (left <= 0 || poll(&p, 1, (int)left) == 0) {
				if (ack(c, owed) == -1)
					break;
				owed = 0;
				continue;
			}
		}
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
			nack++;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
		packets += nack;
		if (gather > 0 && nack > 0) {
			if (owed == 0)
				since = mono_ms();
			owed += nack;
		} else if (ack(c, nack) == -1)
			break;
	}
	fprintf(stderr, "wialon-ack: %" PRIu64 " packets, %" PRIu64
	    " bytes\n", packets, bytes);
}

int
main(int argc, char **argv)
{
	const char *what;
	int s, c, gather = 0;

	if (argc == 3)
		gather = atoi(argv[2]);
	if (argc < 2 || argc > 3 || gather < 0) {
		fprintf(stderr, "usage: wialon-ack PORTFILE [GATHER_MS]\n");
		return 64;
	}
	if ((s = listen_local(argv[1], 4, &what)) == -1) {
		perror(what == argv[1] ? argv[1] : "wialon-ack");
		return 1;
	}
	for (;;) {
		if ((c = accept(s, NULL, NULL)) == -1)
			continue;
		serve(c, gather);
		close(c);
	}
}
