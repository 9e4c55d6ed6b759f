/*
 * metrics.c: the exposition text byte for byte (golden), series left out
 * when not known, a buffer too small, the file label, a message's time
 * (server.timestamp first, top level only), and the atomic write that
 * replaces a link instead of following it.  notify.c: the socket address
 * of a path and of an abstract name, and the watchdog's owner.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "notify.h"
#include "unit.h"

static const char golden[] =
"# HELP flespi_pipe_info Always 1: the tool that writes these series, and "
    "its version.\n"
"# TYPE flespi_pipe_info gauge\n"
"flespi_pipe_info{tool=\"flespi-to-wialon\",file=\"w\",version=\"1.2.3\"} 1\n"
"# HELP flespi_pipe_start_time_seconds Unix time the tool started.\n"
"# TYPE flespi_pipe_start_time_seconds gauge\n"
"flespi_pipe_start_time_seconds{tool=\"flespi-to-wialon\",file=\"w\"} "
    "1700000000.250\n"
"# HELP flespi_pipe_ready 1 once the first round trip to the peer or to "
    "flespi succeeded (READY=1), else 0.\n"
"# TYPE flespi_pipe_ready gauge\n"
"flespi_pipe_ready{tool=\"flespi-to-wialon\",file=\"w\"} 1\n"
"# HELP flespi_pipe_messages_read_total Messages read: input lines "
    "(forwarders), messages received from flespi (flespi-recv).\n"
"# TYPE flespi_pipe_messages_read_total counter\n"
"flespi_pipe_messages_read_total{tool=\"flespi-to-wialon\",file=\"w\"} 10\n"
"# HELP flespi_pipe_messages_delivered_total Messages delivered: "
    "acknowledged by the peer (forwarders), written to stdout "
    "(flespi-recv).\n"
"# TYPE flespi_pipe_messages_delivered_total counter\n"
"flespi_pipe_messages_delivered_total{tool=\"flespi-to-wialon\",file=\"w\"} 7\n"
"# HELP flespi_pipe_messages_failed_total Good messages left undelivered: "
    "written to --failed, or lost.\n"
"# TYPE flespi_pipe_messages_failed_total counter\n"
"flespi_pipe_messages_failed_total{tool=\"flespi-to-wialon\",file=\"w\"} 1\n"
"# HELP flespi_pipe_messages_rejected_total Messages never deliverable: bad "
    "input, or refused by the peer (--rejected).\n"
"# TYPE flespi_pipe_messages_rejected_total counter\n"
"flespi_pipe_messages_rejected_total{tool=\"flespi-to-wialon\",file=\"w\"} 2\n"
"# HELP flespi_pipe_checkpoints_total Checkpoint lines read (forwarders) or "
    "written (flespi-recv --checkpoints).\n"
"# TYPE flespi_pipe_checkpoints_total counter\n"
"flespi_pipe_checkpoints_total{tool=\"flespi-to-wialon\",file=\"w\"} 3\n"
"# HELP flespi_pipe_read_bytes_total Bytes of the message lines read, "
    "newlines included.\n"
"# TYPE flespi_pipe_read_bytes_total counter\n"
"flespi_pipe_read_bytes_total{tool=\"flespi-to-wialon\",file=\"w\"} "
    "18446744073709551615\n"
"# HELP flespi_pipe_sent_bytes_total Bytes sent: to the peer, resends "
    "included (forwarders), to stdout (flespi-recv).\n"
"# TYPE flespi_pipe_sent_bytes_total counter\n"
"flespi_pipe_sent_bytes_total{tool=\"flespi-to-wialon\",file=\"w\"} 500\n"
"# HELP flespi_pipe_last_message_timestamp_seconds server.timestamp (else "
    "timestamp) of the newest message delivered.\n"
"# TYPE flespi_pipe_last_message_timestamp_seconds gauge\n"
"flespi_pipe_last_message_timestamp_seconds{tool=\"flespi-to-wialon\","
    "file=\"w\"} 1700000001.500\n"
"# HELP flespi_pipe_lag_seconds How far behind the newest message delivered "
    "was: its delivery time minus its server.timestamp (else timestamp).\n"
"# TYPE flespi_pipe_lag_seconds gauge\n"
"flespi_pipe_lag_seconds{tool=\"flespi-to-wialon\",file=\"w\"} 2\n";

static void
figs(struct figures *f)
{
	memset(f, 0, sizeof *f);
	f->retries = f->connects = f->connections = -1;
	f->inflight = f->window = -1;
	f->read = 10;
	f->delivered = 7;
	f->failed = 1;
	f->rejected = 2;
	f->checkpoints = 3;
	f->read_bytes = UINT64_MAX;
	f->sent_bytes = 500;
	f->newest = 1700000001.5;
	f->lag = 2;
	f->ready = 1;
}

static double
stamp(const char *s)
{
	return metrics_stamp(s, strlen(s));
}

int
main(void)
{
	struct figures f;
	struct notify n;
	struct stat sb;
	char buf[8192], lbl[64], dir[] = "/tmp/fp-unit-metrics.XXXXXX",
	    path[256], victim[256], why[200];
	int len, fd;

	figs(&f);
	len = metrics_format(buf, sizeof buf, "flespi-to-wialon", "w", "1.2.3",
	    1700000000.25, &f);
	CHECK_MEM(buf, (size_t)(len < 0 ? 0 : len), golden, sizeof golden - 1,
	    "the text: unknown series left out, counters whole, times to "
	    "the ms");
	CHECK(metrics_format(buf, 100, "t", "w", "1", 0, &f) == -1,
	    "a buffer too small: -1");
	f.havekey = 1;
	f.key = 4242;
	f.connections = 0;
	f.last_ack = 1700000002.125;
	len = metrics_format(buf, sizeof buf, "t", "w", "1", 0, &f);
	CHECK(len > 0 && strstr(buf,
	    "\nflespi_pipe_saved_key{tool=\"t\",file=\"w\"} 4242\n") &&
	    strstr(buf,
	    "\nflespi_pipe_connections{tool=\"t\",file=\"w\"} 0\n") &&
	    strstr(buf,
	    "\nflespi_pipe_last_ack_timestamp_seconds{tool=\"t\",file=\"w\"} "
	    "1700000002.125\n"),
	    "known: the saved key, connections 0, the last acknowledgement");

	metrics_label(lbl, sizeof lbl, "/var/lib/x/1234-wialon.prom");
	CHECK(strcmp(lbl, "1234-wialon") == 0, "label: name without .prom (%s)",
	    lbl);
	metrics_label(lbl, sizeof lbl, "we\"ird\\name x.prom.tmp");
	CHECK(strcmp(lbl, "we_ird_name_x.prom.tmp") == 0,
	    "label: quotes, backslashes, spaces made _ (%s)", lbl);

	CHECK(stamp("{\"timestamp\":1.5,\"server.timestamp\":2.25}") == 2.25,
	    "stamp: server.timestamp first");
	CHECK(stamp("{\"ident\":\"a\",\"timestamp\":1700000000}") == 1700000000,
	    "stamp: else timestamp");
	CHECK(stamp("{\"x\":{\"server.timestamp\":5},\"timestamp\":3}") == 3,
	    "stamp: a nested server.timestamp is not the message's");
	CHECK(stamp("{\"server.timestamp\":\"5\"}") == 0 && stamp("{}") == 0 &&
	    stamp("not json") == 0, "stamp: a string, none, not JSON: 0");

	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp");
		return UNIT_END();
	}
	snprintf(path, sizeof path, "%s/m.prom", dir);
	snprintf(victim, sizeof victim, "%s/victim", dir);
	fd = open(victim, O_WRONLY | O_CREAT, 0600);
	if (fd != -1) {
		(void)!write(fd, "keep\n", 5);
		close(fd);
	}
	CHECK(symlink(victim, path) == 0, "a link planted at the metrics path");
	CHECK(metrics_write(path, "a 1\n", 4) == 0, "metrics_write: 0");
	CHECK(lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (sb.st_mode & 0777) == 0644 && sb.st_size == 4,
	    "the link replaced by a regular file, 0644, 4 bytes");
	CHECK(stat(victim, &sb) == 0 && sb.st_size == 5,
	    "the link's target untouched");
	snprintf(buf, sizeof buf, "%s/none/m.prom", dir);
	CHECK(metrics_write(buf, "a 1\n", 4) == -1, "a missing directory: -1");
	snprintf(buf, sizeof buf, "rm -rf '%s'", dir);
	(void)!system(buf);

	setenv("NOTIFY_SOCKET", "@abc", 1);
	unsetenv("WATCHDOG_USEC");
	CHECK(notify_open(&n, why, sizeof why) == 0 && n.fd != -1 &&
	    n.sa.sun_path[0] == '\0' &&
	    memcmp(n.sa.sun_path + 1, "abc", 3) == 0 &&
	    n.salen == offsetof(struct sockaddr_un, sun_path) + 4 &&
	    n.watchdog_ms == 0,
	    "notify: @abc is the abstract name \\0abc, no NUL after; "
	    "no watchdog");
	notify_close(&n);
	setenv("NOTIFY_SOCKET", "/run/x.sock", 1);
	setenv("WATCHDOG_USEC", "3000000", 1);
	unsetenv("WATCHDOG_PID");
	CHECK(notify_open(&n, why, sizeof why) == 0 &&
	    strcmp(n.sa.sun_path, "/run/x.sock") == 0 &&
	    n.salen == offsetof(struct sockaddr_un, sun_path) + 12 &&
	    n.watchdog_ms == 1500,
	    "notify: a path with its NUL; pings every 1.5 s");
	notify_close(&n);
	setenv("WATCHDOG_PID", "1", 1);
	CHECK(notify_open(&n, why, sizeof why) == 0 && n.watchdog_ms == 0,
	    "notify: WATCHDOG_PID of another process: no pings");
	notify_close(&n);
	snprintf(buf, sizeof buf, "%ld", (long)getpid());
	setenv("WATCHDOG_PID", buf, 1);
	CHECK(notify_open(&n, why, sizeof why) == 0 && n.watchdog_ms == 1500,
	    "notify: WATCHDOG_PID ours: pings");
	notify_close(&n);
	setenv("NOTIFY_SOCKET", "x", 1);
	CHECK(notify_open(&n, why, sizeof why) == -1 && n.fd == -1,
	    "notify: a relative name is refused (%s)", why);
	unsetenv("NOTIFY_SOCKET");
	CHECK(notify_open(&n, why, sizeof why) == 0 && n.fd == -1 &&
	    notify_send(&n, "READY=1") == 0, "notify: none, nothing sent, 0");
	return UNIT_END();
}
