/*
 * test_netaddr.c - unit tests for base/netaddr: which address forms are
 * accepted (and as what kind), which are refused, and the source address
 * of a route (loopback gives loopback, an address without a usable route
 * is SW_EIO naming it), plus base/httpc's URL host parsing the agent uses to
 * find the server's host and port.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/httpc.h"
#include "base/netaddr.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_kinds(void **state)
{
	static const struct {
		const char *s;
		enum sw_netaddr_kind k;
	} cases[] = {
		{ "127.0.0.1", SW_NETADDR_IPV4 },
		{ "10.0.0.255", SW_NETADDR_IPV4 },
		{ "::1", SW_NETADDR_IPV6 },
		{ "fd00::1:2", SW_NETADDR_IPV6 },
		{ "[::1]", SW_NETADDR_IPV6_BRACKET },
		{ "web-1", SW_NETADDR_NAME },
		{ "web-1.example.com", SW_NETADDR_NAME },
		{ "1a.example", SW_NETADDR_NAME },
		{ "", SW_NETADDR_BAD },
		{ "999.1.1.1", SW_NETADDR_BAD },
		{ "1.2.3", SW_NETADDR_BAD },
		{ "10.0.0.1:80", SW_NETADDR_BAD },
		{ "bad_host", SW_NETADDR_BAD },
		{ "-web", SW_NETADDR_BAD },
		{ ".web", SW_NETADDR_BAD },
		{ "web 1", SW_NETADDR_BAD },
		{ "web#1", SW_NETADDR_BAD },
		{ "[::1", SW_NETADDR_BAD },
		{ "[]", SW_NETADDR_BAD },
		{ "[web]", SW_NETADDR_BAD },
		{ ":::", SW_NETADDR_BAD },
		{ "\"x\"", SW_NETADDR_BAD },
	};
	char longname[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (sw_netaddr_kind(cases[i].s) != cases[i].k)
			fail_msg("'%s': kind %d, want %d", cases[i].s, sw_netaddr_kind(cases[i].s), cases[i].k);
	}
	assert_int_equal(sw_netaddr_kind(NULL), SW_NETADDR_BAD);
	memset(longname, 'a', 253);
	longname[253] = '\0';
	assert_int_equal(sw_netaddr_kind(longname), SW_NETADDR_NAME);
	memset(longname, 'a', 254);
	longname[254] = '\0';
	assert_int_equal(sw_netaddr_kind(longname), SW_NETADDR_BAD);
}

static void test_route_source(void **state)
{
	char out[SW_NETADDR_MAX];
	struct sw_err err = SW_ERR_INIT;
	int fd;

	(void)state;
	assert_int_equal(sw_netaddr_route_source("127.0.0.1", 7070, out, sizeof(out), &err), 0);
	assert_string_equal(out, "127.0.0.1");
	assert_int_equal(sw_netaddr_route_source("127.0.0.5", 0, out, sizeof(out), &err), 0);
	assert_string_equal(out, "127.0.0.1");
	/* IPv6 loopback, bracketed as in a URL, where the machine has IPv6. */
	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd >= 0) {
		close(fd);
		if (sw_netaddr_route_source("[::1]", 7070, out, sizeof(out), &err) == 0)
			assert_string_equal(out, "::1");
	}
	sw_err_clear(&err);
	/* No name lookup here (no traffic beyond loopback): the broadcast address has no route a UDP socket may use. */
	assert_int_equal(sw_netaddr_route_source("255.255.255.255", 7070, out, sizeof(out), &err), -1);
	assert_int_equal(err.code, SW_EIO);
	assert_non_null(strstr(err.msg, "no route to '255.255.255.255'"));
	sw_err_clear(&err);
	assert_int_equal(sw_netaddr_route_source("", 7070, out, sizeof(out), &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
}

static void test_url_host(void **state)
{
	char host[SW_NETADDR_MAX];
	struct sw_err err = SW_ERR_INIT;
	unsigned port = 0;

	(void)state;
	assert_int_equal(sw_httpc_url_host("http://127.0.0.1:7070", host, sizeof(host), &port, &err), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 7070);
	assert_int_equal(sw_httpc_url_host("https://cp.example.com/base/", host, sizeof(host), &port, &err), 0);
	assert_string_equal(host, "cp.example.com");
	assert_int_equal(port, 443);
	assert_int_equal(sw_httpc_url_host("http://[::1]:8080", host, sizeof(host), &port, &err), 0);
	assert_string_equal(host, "[::1]");
	assert_int_equal(port, 8080);
	assert_int_equal(sw_httpc_url_host("http://", host, sizeof(host), &port, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_route_source),
		cmocka_unit_test(test_url_host),
	};
	return cmocka_run_group_tests_name("netaddr", tests, NULL, NULL);
}
