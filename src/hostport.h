/*
 * A peer's address as users write it: HOST, HOST:PORT, [IPV6]:PORT or a
 * bare IPv6 address.  Pure: no lookups; what cannot be an address
 * ("127.0.0.1:35957:99", "host:port", "http://host") is refused here,
 * at parse time, rather than looked up as a name and retried for ever.
 */
#ifndef HOSTPORT_H
#define HOSTPORT_H

#include <stddef.h>

/*
 * Split s into host (no brackets) and port (decimal 1-65535; defport
 * when s has none, or NULL to require one).  Returns 0, or -1 with a
 * one-line reason in why.
 */
int	hostport_parse(const char *s, const char *defport, char *host,
	    size_t hostsz, char *port, size_t portsz, char *why,
	    size_t whysz);
/*
 * Can h be a host name or an IP address (no port, scheme, path, user,
 * blank or control character)?  Returns 0, or -1 with why.
 */
int	host_check(const char *h, char *why, size_t whysz);
/*
 * Is h (no brackets) this machine: localhost, 127.0.0.0/8, ::1 or an
 * IPv4-mapped 127.x.y.z?  No lookup: another name is not.
 */
int	host_loopback(const char *h);

#endif
