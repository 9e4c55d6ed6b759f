/* Peer addresses (see hostport.h). */
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hostport.h"

int
host_check(const char *h, char *why, size_t whysz)
{
	struct in6_addr a6;
	const char *p;

	if (*h == '\0') {
		snprintf(why, whysz, "empty host");
		return -1;
	}
	if (inet_pton(AF_INET6, h, &a6) == 1)
		return 0;
	for (p = h; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(why, whysz, "'%s': a host name holds no "
			    "blanks or control characters", h);
			return -1;
		}
	if ((p = strstr(h, "://")) != NULL) {
		snprintf(why, whysz, "'%s': give the host alone, without "
		    "%.*s://", h, (int)(p - h), h);
		return -1;
	}
	if (strpbrk(h, ":/?#@[]%") != NULL) {
		snprintf(why, whysz, "'%s': not a host name or an IP address",
		    h);
		return -1;
	}
	return 0;
}

int
host_loopback(const char *h)
{
	unsigned char a[16];

	if (strcasecmp(h, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, h, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, h, a) != 1)
		return 0;
	if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0)
		return 1;
	return memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 &&
	    a[12] == 127;
}

/* A whole decimal port, 1-65535. */
static int
portok(const char *p)
{
	unsigned long v = 0;

	if (*p == '\0' || strspn(p, "0123456789") != strlen(p) ||
	    strlen(p) > 5)
		return 0;
	for (; *p; p++)
		v = v * 10 + (unsigned long)(*p - '0');
	return v >= 1 && v <= 65535;
}

int
hostport_parse(const char *s, const char *defport, char *host,
    size_t hostsz, char *port, size_t portsz, char *why, size_t whysz)
{
	struct in6_addr a6;
	const char *h = s, *p = NULL, *e;
	size_t hlen;

	if (*s == '[') {
		if ((e = strchr(s, ']')) == NULL) {
			snprintf(why, whysz, "'%s': no ']' after the IPv6 "
			    "address", s);
			return -1;
		}
		h = s + 1;
		hlen = (size_t)(e - h);
		if (e[1] == ':')
			p = e + 2;
		else if (e[1] != '\0') {
			snprintf(why, whysz, "'%s': expected ':PORT' after ']'",
			    s);
			return -1;
		}
	} else if (inet_pton(AF_INET6, s, &a6) == 1) {
		hlen = strlen(s);	/* a bare IPv6 address: no port */
	} else if ((e = strchr(s, ':')) != NULL) {
		hlen = (size_t)(e - s);
		p = e + 1;
	} else
		hlen = strlen(s);
	if (hlen == 0 || hlen >= hostsz) {
		snprintf(why, whysz, "'%s': %s host", s, hlen ? "too long a" :
		    "no");
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (*s == '[' && inet_pton(AF_INET6, host, &a6) != 1) {
		snprintf(why, whysz, "'%s': '%s' is not an IPv6 address", s,
		    host);
		return -1;
	}
	if (*s != '[' && host_check(host, why, whysz) == -1)
		return -1;
	if (p == NULL && defport == NULL) {
		snprintf(why, whysz, "'%s': no port (HOST:PORT)", s);
		return -1;
	}
	if (p == NULL)
		p = defport;
	if (!portok(p)) {
		snprintf(why, whysz, "'%s': '%s' is not a port (1 to 65535)",
		    s, p);
		return -1;
	}
	snprintf(port, portsz, "%s", p);
	return 0;
}
