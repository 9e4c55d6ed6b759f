/*
 * mqtt-latpub: publish COUNT numbered messages at QoS 1 at a steady RATE
 * (0 = as fast as the broker takes them) over TLS, each carrying its
 * publish time, for the flespi-recv --mqtt benchmark and tests.
 *
 * mqtt-latpub --port P --cafile CA --topic T --count N [--rate R] [--size B]
 *
 * Payload: {"seq":N,"t_ns":MONOTONIC_NS,"pad":"xxx..."} of about B bytes
 * (default 650, a flespi message's size).  CLOCK_MONOTONIC is the same
 * clock in every process on the machine, so a reader subtracts it from
 * its own reading.  Exits 0 once every message is acknowledged (PUBACK).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

#include "diag.h"
#include "num.h"

static long long acked;
static int connected;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
on_connect(struct mosquitto *m, void *arg, int rc)
{
	(void)m, (void)arg;
	if (rc != 0)
		die(69, "connection refused: %s", mosquitto_connack_string(rc));
	connected = 1;
}

static void
on_publish(struct mosquitto *m, void *arg, int mid)
{
	(void)m, (void)arg, (void)mid;
	acked++;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "cafile", required_argument, NULL, 'c' },
		{ "topic", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "size", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cafile = NULL, *topic = NULL;
	long long port = 0, count = 0, rate = 0, size = 650, sent = 0;
	int64_t start, due, interval, t;
	struct mosquitto *m;
	struct pollfd pfd;
	char *buf, pad[4096];
	int c, rc, len, wait_ms;

	diag_init(argv[0]);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': port = num_arg("--port", optarg, 1, 65535); break;
		case 'c': cafile = optarg; break;
		case 't': topic = optarg; break;
		case 'n': count = num_arg("--count", optarg, 1, INT_MAX); break;
		case 'r': rate = num_arg("--rate", optarg, 0, 1000000); break;
		case 's': size = num_arg("--size", optarg, 60, 4000); break;
		default: exit(64);
		}
	}
	if (!port || !cafile || !topic || !count)
		die(64, "usage: mqtt-latpub --port P --cafile CA --topic T "
		    "--count N [--rate R] [--size B]");
	memset(pad, 'x', sizeof pad);
	pad[size - 50] = '\0';
	if ((buf = malloc((size_t)size + 64)) == NULL)
		die(75, "out of memory");

	mosquitto_lib_init();
	if ((m = mosquitto_new(NULL, true, NULL)) == NULL)
		die(75, "mosquitto_new failed");
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_max_inflight_messages_set(m, 100);
	mosquitto_tls_set(m, cafile, NULL, NULL, NULL, NULL);
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_publish_callback_set(m, on_publish);
	if ((rc = mosquitto_connect(m, "127.0.0.1", (int)port, 60)) != 0)
		die(75, "connect: %s", mosquitto_strerror(rc));

	interval = rate ? 1000000000 / rate : 0;
	start = due = 0;
	while (acked < count) {
		t = now_ns();
		if (connected && sent < count && (start == 0 || t >= due)) {
			if (start == 0)
				start = due = t;
			len = snprintf(buf, (size_t)size + 64,
			    "{\"seq\":%lld,\"t_ns\":%lld,\"pad\":\"%s\"}",
			    sent + 1, (long long)now_ns(), pad);
			rc = mosquitto_publish(m, NULL, topic, len, buf, 1,
			    false);
			if (rc != MOSQ_ERR_SUCCESS)
				die(75, "publish: %s", mosquitto_strerror(rc));
			sent++;
			due += interval;
		}
		if (!interval && sent < count && connected)
			wait_ms = 0;
		else if (sent < count && connected)
			wait_ms = due > t ? (int)((due - t) / 1000000) : 0;
		else
			wait_ms = 100;
		pfd.fd = mosquitto_socket(m);
		pfd.events = POLLIN | (mosquitto_want_write(m) ? POLLOUT : 0);
		if (poll(&pfd, 1, wait_ms) > 0) {
			if (pfd.revents & POLLIN &&
			    (rc = mosquitto_loop_read(m, 1)) != 0)
				die(75, "read: %s", mosquitto_strerror(rc));
		}
		if (mosquitto_want_write(m) &&
		    (rc = mosquitto_loop_write(m, 1)) != 0)
			die(75, "write: %s", mosquitto_strerror(rc));
		mosquitto_loop_misc(m);
	}
	mosquitto_disconnect(m);
	mosquitto_loop_write(m, 1);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	free(buf);
	return 0;
}
