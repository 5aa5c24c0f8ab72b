/*
 * test_agent_ports.c - unit tests for src/agent/ports: the parsers of the
 * kernel's ip_local_port_range and ip_local_reserved_ports, the ephemeral
 * warning (in range, reserved, below the range, unreadable files), the bind
 * test (a listener on 127.0.0.1 makes the port taken; a closed one frees
 * it) and the start check (taken: SW_EINPUT naming the port and slot; held
 * by the agent's own service: skipped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/ports.h"
#include "base/fs.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char tmpdir[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sw-test-agent-ports-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	return sw_fs_remove_tree(tmpdir, &err);
}

#define RANGE(t, lo, hi) sw_ports_parse_range((t), strlen(t), (lo), (hi))
#define RESERVED(t, p) sw_ports_reserved((t), strlen(t), (p))

static void test_parse_range(void **state)
{
	unsigned lo = 0, hi = 0;

	(void)state;
	assert_int_equal(RANGE("32768\t60999\n", &lo, &hi), 0);
	assert_int_equal(lo, 32768);
	assert_int_equal(hi, 60999);
	assert_int_equal(RANGE(" 1024 65535 ", &lo, &hi), 0);
	assert_int_equal(lo, 1024);
	assert_int_equal(RANGE("5000 5000", &lo, &hi), 0);
	assert_int_equal(RANGE("", &lo, &hi), -1);
	assert_int_equal(RANGE("32768", &lo, &hi), -1);
	assert_int_equal(RANGE("32768\t", &lo, &hi), -1);
	assert_int_equal(RANGE("60999 32768", &lo, &hi), -1);
	assert_int_equal(RANGE("0 100", &lo, &hi), -1);
	assert_int_equal(RANGE("1 65536", &lo, &hi), -1);
	assert_int_equal(RANGE("1 2 3", &lo, &hi), -1);
	assert_int_equal(RANGE("a b", &lo, &hi), -1);
	assert_int_equal(RANGE("-1 5", &lo, &hi), -1);
	assert_int_equal(RANGE("99999999999999999999 5", &lo, &hi), -1);
}

static void test_reserved(void **state)
{
	(void)state;
	assert_int_equal(RESERVED("\n", 8000), 0);
	assert_int_equal(RESERVED("", 8000), 0);
	assert_int_equal(RESERVED("8000\n", 8000), 1);
	assert_int_equal(RESERVED("8000\n", 8001), 0);
	assert_int_equal(RESERVED("40000-40010,50000\n", 40005), 1);
	assert_int_equal(RESERVED("40000-40010,50000\n", 40010), 1);
	assert_int_equal(RESERVED("40000-40010,50000\n", 50000), 1);
	assert_int_equal(RESERVED("40000-40010,50000\n", 40011), 0);
	assert_int_equal(RESERVED("40000-40010,", 1), -1);
	assert_int_equal(RESERVED("40010-40000", 1), -1);
	assert_int_equal(RESERVED("a", 1), -1);
	assert_int_equal(RESERVED("1,,2", 1), -1);
	assert_int_equal(RESERVED("1-", 1), -1);
	assert_int_equal(RESERVED("70000", 1), -1);
}

static void put(const char *name, const char *text, char *path)
{
	struct sw_err err = SW_ERR_INIT;

	snprintf(path, PATH_MAX, "%s/%s", tmpdir, name);
	assert_int_equal(sw_fs_write_atomic(path, text, strlen(text), 0644, &err), 0);
}

static void test_ephemeral_warning(void **state)
{
	char range[PATH_MAX], reserved[PATH_MAX], none[PATH_MAX], msg[512];

	(void)state;
	put("range", "32768\t60999\n", range);
	put("reserved", "40000-40010,50000\n", reserved);
	snprintf(none, sizeof(none), "%s/missing", tmpdir);
	assert_int_equal(sw_ports_ephemeral_warning(40100, range, reserved, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "port 40100 lies in the kernel's ephemeral port range 32768-60999"));
	assert_non_null(strstr(msg, "an outgoing connection can take it"));
	assert_non_null(strstr(msg, "net.ipv4.ip_local_reserved_ports=40100"));
	/* Reserved, below or above the range: nothing to say. */
	assert_int_equal(sw_ports_ephemeral_warning(40005, range, reserved, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
	assert_int_equal(sw_ports_ephemeral_warning(8001, range, reserved, msg, sizeof(msg)), 0);
	assert_int_equal(sw_ports_ephemeral_warning(61000, range, reserved, msg, sizeof(msg)), 0);
	/* Without the reserved list the range alone decides; without the range, nothing. */
	assert_int_equal(sw_ports_ephemeral_warning(40005, range, none, msg, sizeof(msg)), 1);
	assert_int_equal(sw_ports_ephemeral_warning(40005, none, reserved, msg, sizeof(msg)), 0);
	put("badrange", "lots\n", range);
	assert_int_equal(sw_ports_ephemeral_warning(40100, range, reserved, msg, sizeof(msg)), 0);
}

/* A listener on 127.0.0.1, its port in *port. */
static int listener(unsigned *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_probe_and_check(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	unsigned taken, other, ports[2];
	int fd = listener(&taken), fd2 = listener(&other), rc;
	char want[128];

	(void)state;
	close(fd2); /* other: just freed, nothing listens there now */
	assert_int_equal(sw_ports_probe(taken, &err), 1);
	assert_int_equal(sw_ports_probe(other, &err), 0);
	ports[0] = other;
	ports[1] = taken;
	assert_int_equal(sw_ports_check(ports, NULL, 0, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	snprintf(want, sizeof(want), "--ports: port %u (slot b) is already in use on this host by another process", taken);
	assert_non_null(strstr(err.msg, want));
	/* The same port held by the agent's own service: not taken. */
	sw_err_clear(&err);
	assert_int_equal(sw_ports_check(ports, &taken, 1, &err), 0);
	close(fd);
	sw_err_clear(&err);
	rc = sw_ports_check(ports, NULL, 0, &err);
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_range),
		cmocka_unit_test(test_reserved),
		cmocka_unit_test(test_ephemeral_warning),
		cmocka_unit_test(test_probe_and_check),
	};
	return cmocka_run_group_tests_name("agent_ports", tests, setup, teardown);
}
