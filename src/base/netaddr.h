/*
 * netaddr.h - host addresses as Slipway passes them around: the address an
 * agent reaches its services on (`slipway agent --address`), written into
 * HAProxy server lines and smoke/analysis targets.
 *
 * Accepted forms (sw_netaddr_kind):
 *   | form                         | kind                    |
 *   | 10.0.0.1 (inet_pton's quad)  | SW_NETADDR_IPV4         |
 *   | fd00::1 (inet_pton)          | SW_NETADDR_IPV6         |
 *   | [fd00::1]                    | SW_NETADDR_IPV6_BRACKET |
 *   | web-1.example.com            | SW_NETADDR_NAME: 1..253 of A-Z a-z 0-9 . -, |
 *   |                              | not starting with '-' or '.'; digits and dots |
 *   |                              | only must be a valid IPv4 address |
 * Everything else (spaces, '#', quotes, ports, "999.1.1.1") is
 * SW_NETADDR_BAD, so an accepted value is one word for any config file.
 *
 * sw_netaddr_route_source() finds the local address the kernel would use
 * to reach host:port (a UDP socket connect()ed there, then getsockname():
 * no packet is sent): the agent's default address, 127.0.0.1 for a server
 * on loopback.
 * Calls libc (inet_pton, getaddrinfo, sockets) and base/err.
 */
#ifndef SW_NETADDR_H
#define SW_NETADDR_H

#include <stddef.h>

#include "base/err.h"

#define SW_NETADDR_MAX 256 /* longest accepted address, NUL included */

enum sw_netaddr_kind {
	SW_NETADDR_BAD,
	SW_NETADDR_IPV4,
	SW_NETADDR_IPV6,
	SW_NETADDR_IPV6_BRACKET,
	SW_NETADDR_NAME,
};

enum sw_netaddr_kind sw_netaddr_kind(const char *s);

/*
 * The source address of this machine's route to host:port (host: a name, an
 * IPv4 address or an IPv6 address with or without brackets), as text into
 * out. SW_EIO naming the host when it does not resolve or has no route.
 */
int sw_netaddr_route_source(const char *host, unsigned port, char *out, size_t size, struct sw_err *err);

#endif
