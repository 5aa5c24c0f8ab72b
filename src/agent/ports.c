/*
 * ports.c - bind test and ephemeral-range check of the agent's slot ports
 * (see ports.h). Calls libc and base/ (fs, log, num).
 */
#include "agent/ports.h"
#include "base/fs.h"
#include "base/log.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool sw_ports_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A decimal number 0..65535 at text[*i]; advances *i. -1 when there is none or it is larger. */
static long sw_ports_num(const char *text, size_t len, size_t *i)
{
	long v = 0;
	size_t start = *i;

	while (*i < len && text[*i] >= '0' && text[*i] <= '9') {
		v = v * 10 + (text[*i] - '0');
		if (v > 65535)
			return -1;
		(*i)++;
	}
	return *i > start ? v : -1;
}

int sw_ports_parse_range(const char *text, size_t len, unsigned *lo, unsigned *hi)
{
	size_t i = 0;
	long a, b;

	while (i < len && sw_ports_space(text[i]))
		i++;
	a = sw_ports_num(text, len, &i);
	if (a < 1 || i >= len || !sw_ports_space(text[i]))
		return -1;
	while (i < len && sw_ports_space(text[i]))
		i++;
	b = sw_ports_num(text, len, &i);
	if (b < a)
		return -1;
	while (i < len && sw_ports_space(text[i]))
		i++;
	if (i != len)
		return -1;
	*lo = (unsigned)a;
	*hi = (unsigned)b;
	return 0;
}

int sw_ports_reserved(const char *text, size_t len, unsigned port)
{
	size_t i = 0;
	int found = 0;

	while (len > 0 && sw_ports_space(text[len - 1]))
		len--;
	while (i < len && sw_ports_space(text[i]))
		i++;
	while (i < len) {
		long a = sw_ports_num(text, len, &i), b;

		if (a < 0)
			return -1;
		b = a;
		if (i < len && text[i] == '-') {
			i++;
			b = sw_ports_num(text, len, &i);
			if (b < a)
				return -1;
		}
		if (port >= (unsigned long)a && port <= (unsigned long)b)
			found = 1;
		if (i == len)
			break;
		if (text[i] != ',' || ++i == len)
			return -1;
	}
	return found;
}

/* Bind one socket of family to port; 0 bound, 1 EADDRINUSE, 2 family unavailable, -1 other (errno kept). */
static int sw_ports_try(int family, unsigned port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, rc = 0, saved;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		a->sin6_addr = in6addr_any;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		a->sin_addr.s_addr = htonl(INADDR_ANY);
		len = sizeof(*a);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return family == AF_INET6 && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT) ? 2 : -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		rc = errno == EADDRINUSE				? 1
		     : family == AF_INET6 && errno == EADDRNOTAVAIL ? 2
								    : -1;
	}
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int sw_ports_probe(unsigned port, struct sw_err *err)
{
	static const int families[] = { AF_INET, AF_INET6 };
	size_t i;

	for (i = 0; i < 2; i++) {
		int r = sw_ports_try(families[i], port);

		if (r == 1)
			return 1;
		if (r < 0)
			return sw_err_set(err, SW_EIO, "cannot bind port %u on %s: %s", port,
					  families[i] == AF_INET ? "0.0.0.0" : "[::]", strerror(errno));
	}
	return 0;
}

int sw_ports_ephemeral_warning(unsigned port, const char *range_file, const char *reserved_file, char *msg,
			       size_t size)
{
	struct sw_buf range = SW_BUF_INIT(4096), reserved = SW_BUF_INIT(65536);
	struct sw_err err = SW_ERR_INIT;
	unsigned lo, hi;
	int rc = 0;

	if (size)
		msg[0] = '\0';
	if (sw_fs_read_file(range_file, 4096, &range, &err) < 0 ||
	    sw_ports_parse_range(range.data ? range.data : "", range.len, &lo, &hi) < 0 || port < lo || port > hi)
		goto out;
	/* A reserved port is never picked for an outgoing connection (unless named explicitly). */
	if (reserved_file && sw_fs_read_file(reserved_file, 65536, &reserved, &err) == 0 &&
	    sw_ports_reserved(reserved.data ? reserved.data : "", reserved.len, port) == 1)
		goto out;
	snprintf(msg, size,
		 "port %u lies in the kernel's ephemeral port range %u-%u (%s): an outgoing connection can take it "
		 "while the service is down (a restart, a deploy) and the service then cannot bind it; choose a port "
		 "below %u, or reserve it with 'sysctl net.ipv4.ip_local_reserved_ports=%u'",
		 port, lo, hi, range_file, lo, port);
	rc = 1;
out:
	sw_buf_release(&range);
	sw_buf_release(&reserved);
	return rc;
}

int sw_ports_check(const unsigned ports[2], const unsigned *own, size_t nown, struct sw_err *err)
{
	char msg[512];
	size_t i, j;

	for (i = 0; i < 2; i++) {
		struct sw_err perr = SW_ERR_INIT;
		bool mine = false;
		int r;

		if (sw_ports_ephemeral_warning(ports[i], SW_PORTS_RANGE_FILE, SW_PORTS_RESERVED_FILE, msg, sizeof(msg)))
			sw_warn("slot %c: %s", i ? 'b' : 'a', msg);
		for (j = 0; j < nown; j++)
			mine |= own[j] == ports[i];
		if (mine) {
			sw_debug("slot %c: port %u is held by this host's own service (adopted): not probed",
				 i ? 'b' : 'a', ports[i]);
			continue;
		}
		r = sw_ports_probe(ports[i], &perr);
		if (r == 1)
			return sw_err_set(err, SW_EINPUT,
					  "--ports: port %u (slot %c) is already in use on this host by another process "
					  "(see 'ss -tlnp sport = :%u'): free it or choose other ports",
					  ports[i], i ? 'b' : 'a', ports[i]);
		if (r < 0)
			sw_warn("slot %c: %s; the service may not be able to listen there", i ? 'b' : 'a', perr.msg);
	}
	return 0;
}
