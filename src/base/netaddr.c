/*
 * netaddr.c - host address syntax and the source address of a route (see
 * netaddr.h). Calls libc and base/err.
 */
#include "base/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SW_NETADDR_NAME_MAX 253

enum sw_netaddr_kind sw_netaddr_kind(const char *s)
{
	size_t n = s ? strlen(s) : 0, i;
	bool digits_dots = true;
	unsigned char buf[sizeof(struct in6_addr)];

	if (n == 0)
		return SW_NETADDR_BAD;
	if (s[0] == '[') {
		char inner[64];

		if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(inner))
			return SW_NETADDR_BAD;
		memcpy(inner, s + 1, n - 2);
		inner[n - 2] = '\0';
		return inet_pton(AF_INET6, inner, buf) == 1 ? SW_NETADDR_IPV6_BRACKET : SW_NETADDR_BAD;
	}
	if (strchr(s, ':'))
		return n < 64 && inet_pton(AF_INET6, s, buf) == 1 ? SW_NETADDR_IPV6 : SW_NETADDR_BAD;
	if (n > SW_NETADDR_NAME_MAX || s[0] == '-' || s[0] == '.')
		return SW_NETADDR_BAD;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if ((c >= '0' && c <= '9') || c == '.')
			continue;
		digits_dots = false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
			return SW_NETADDR_BAD;
	}
	if (digits_dots)
		return inet_pton(AF_INET, s, buf) == 1 ? SW_NETADDR_IPV4 : SW_NETADDR_BAD;
	return SW_NETADDR_NAME;
}

int sw_netaddr_route_source(const char *host, unsigned port, char *out, size_t size, struct sw_err *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char bare[SW_NETADDR_MAX], service[16];
	size_t n = host ? strlen(host) : 0;
	int rc, last = 0;

	if (n == 0 || n >= sizeof(bare))
		return sw_err_set(err, SW_EINPUT, "host '%.64s' is empty or too long", host ? host : "");
	if (host[0] == '[' && host[n - 1] == ']' && n > 2) {
		memcpy(bare, host + 1, n - 2);
		bare[n - 2] = '\0';
	} else {
		memcpy(bare, host, n + 1);
	}
	snprintf(service, sizeof(service), "%u", port ? port : 80);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	rc = getaddrinfo(bare, service, &hints, &res);
	if (rc != 0)
		return sw_err_set(err, SW_EIO, "cannot resolve '%s': %s", bare, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		const void *a;
		int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			last = errno;
			continue;
		}
		/* connect() on a UDP socket only picks the route and the source address: nothing is sent. */
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
			last = errno;
			close(fd);
			continue;
		}
		close(fd);
		a = ss.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
					     : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
		if (!inet_ntop(ss.ss_family, a, out, (socklen_t)size)) {
			last = errno;
			continue;
		}
		freeaddrinfo(res);
		return 0;
	}
	freeaddrinfo(res);
	return sw_err_set(err, SW_EIO, "no route to '%s': %s", bare, strerror(last ? last : EHOSTUNREACH));
}
