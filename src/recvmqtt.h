/*
 * flespi-recv --mqtt: channel messages pushed by flespi's MQTT broker,
 * written to stdout as NDJSON.  recv_mqtt_main() takes the whole command
 * line (including "--mqtt") and returns the exit status; flespi-recv's
 * main() dispatches to it.  The topic and URL helpers are pure and
 * exported for the unit tests.
 */
#ifndef RECVMQTT_H
#define RECVMQTT_H

#include <stddef.h>

int	recv_mqtt_main(int argc, char **argv);

/*
 * The subscription topic for a channel selector ("1234", "10,20" or "+"):
 *   [$share/GROUP[:6]/][$filter/payload=<url-encoded EXPR>/]
 *   flespi/message/gw/channels/CHANNELS/+
 * share may be NULL; sticky (flespi's ":6" form, hashing on the first six
 * topic levels, i.e. on channel and ident) needs share; filter may be NULL.
 * Returns the length written to buf (NUL-terminated), or -1 when an
 * argument is not valid (errno EINVAL) or buf is too small (ERANGE).
 */
int	recvmqtt_topic(char *buf, size_t size, const char *channels,
	    const char *share, int sticky, const char *filter);

/*
 * Parse "mqtts://HOST[:PORT]" (also "[v6addr]:PORT"); PORT defaults to
 * 8883.  Returns 0, or -1 when the URL is not of that form.
 */
int	recvmqtt_url(const char *url, char *host, size_t hostsize, int *port);

#endif
