/* flespi-recv --mqtt: subscription topics and broker URLs. */
#include <errno.h>
#include <string.h>

#include "recvmqtt.h"
#include "unit.h"

static void
topic(const char *channels, const char *share, int sticky,
    const char *filter, const char *want)
{
	char buf[512];
	int n;

	n = recvmqtt_topic(buf, sizeof buf, channels, share, sticky, filter);
	CHECK(n >= 0 && (size_t)n == strlen(want) && strcmp(buf, want) == 0,
	    "topic %s", want);
	if (n < 0 || strcmp(buf, want) != 0)
		printf("#   got  %s\n#   want %s\n", n < 0 ? "(error)" : buf,
		    want);
}

static void
bad_topic(const char *channels, const char *share, int sticky,
    const char *filter, int err, const char *what)
{
	char buf[512];
	int n;

	errno = 0;
	n = recvmqtt_topic(buf, sizeof buf, channels, share, sticky, filter);
	CHECK(n == -1 && errno == err, "rejected: %s", what);
}

static void
url(const char *u, const char *host, int port)
{
	char h[64];
	int p = 0, rc;

	rc = recvmqtt_url(u, h, sizeof h, &p);
	CHECK(rc == 0 && strcmp(h, host) == 0 && p == port,
	    "url %s -> %s port %d", u, host, port);
}

int
main(void)
{
	char small[40];

	topic("1234", NULL, 0, NULL,
	    "flespi/message/gw/channels/1234/+");
	topic("10,20,30", NULL, 0, NULL,
	    "flespi/message/gw/channels/10,20,30/+");
	topic("+", NULL, 0, NULL,
	    "flespi/message/gw/channels/+/+");
	topic("1234", "workers", 0, NULL,
	    "$share/workers/flespi/message/gw/channels/1234/+");
	topic("10,20", "workers", 1, NULL,
	    "$share/workers:6/flespi/message/gw/channels/10,20/+");
	topic("1234", NULL, 0, "position.speed>80",
	    "$filter/payload=position.speed%3E80/"
	    "flespi/message/gw/channels/1234/+");
	/* '/', '+', '#', spaces and quotes never reach the topic raw. */
	topic("1234", NULL, 0, "a/b+c#d e==\"x\"",
	    "$filter/payload=a%2Fb%2Bc%23d%20e%3D%3D%22x%22/"
	    "flespi/message/gw/channels/1234/+");
	topic("1234", "g", 1, "din&1",
	    "$share/g:6/$filter/payload=din%261/"
	    "flespi/message/gw/channels/1234/+");
	topic("7", "g", 0, "x~y-z_w.v",
	    "$share/g/$filter/payload=x~y-z_w.v/"
	    "flespi/message/gw/channels/7/+");

	bad_topic("", NULL, 0, NULL, EINVAL, "empty channel list");
	bad_topic("1,,2", NULL, 0, NULL, EINVAL, "empty channel in list");
	bad_topic("1,", NULL, 0, NULL, EINVAL, "trailing comma");
	bad_topic("12a", NULL, 0, NULL, EINVAL, "non-digit channel");
	bad_topic("1/2", NULL, 0, NULL, EINVAL, "'/' in channels");
	bad_topic("#", NULL, 0, NULL, EINVAL, "'#' as channel");
	bad_topic("1", "a/b", 0, NULL, EINVAL, "'/' in group");
	bad_topic("1", "a:6", 0, NULL, EINVAL, "':' in group");
	bad_topic("1", "", 0, NULL, EINVAL, "empty group");
	bad_topic("1", NULL, 1, NULL, EINVAL, "sticky without a group");
	bad_topic("1", NULL, 0, "", EINVAL, "empty filter");
	errno = 0;
	CHECK(recvmqtt_topic(small, sizeof small, "1234", NULL, 0, NULL) ==
	    33 && strcmp(small, "flespi/message/gw/channels/1234/+") == 0,
	    "a topic that just fits");
	CHECK(recvmqtt_topic(small, 33, "1234", NULL, 0, NULL) == -1 &&
	    errno == ERANGE, "one byte short: ERANGE");
	CHECK(recvmqtt_topic(small, sizeof small, "1234", "workers", 0,
	    NULL) == -1 && errno == ERANGE, "too long with a group: ERANGE");

	url("mqtts://mqtt.flespi.io", "mqtt.flespi.io", 8883);
	url("mqtts://mqtt.flespi.io:8883", "mqtt.flespi.io", 8883);
	url("mqtts://127.0.0.1:18883", "127.0.0.1", 18883);
	url("mqtts://[::1]:9000", "::1", 9000);
	url("mqtts://[::1]", "::1", 8883);
	{
		char h[64];
		int p;
		const char *bad[] = { "mqtt://h:1883", "https://flespi.io",
		    "mqtts://", "mqtts://:8883", "mqtts://h:0",
		    "mqtts://h:65536", "mqtts://h:x", "mqtts://h/path",
		    "mqtts://[::1", "h:8883", "mqtts://[::1]x" };
		size_t i;

		for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
			CHECK(recvmqtt_url(bad[i], h, sizeof h, &p) == -1,
			    "url %s rejected", bad[i]);
		CHECK(recvmqtt_url("mqtts://a-very-long-host-name", h, 8, &p) ==
		    -1, "host longer than the buffer rejected");
	}
	return UNIT_END();
}
