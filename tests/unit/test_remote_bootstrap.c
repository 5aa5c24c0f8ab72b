/*
 * test_remote_bootstrap.c - unit tests for src/remote/bootstrap: the unit
 * it installs under systemd is contrib/systemd/slipway-agent.service.in
 * with the binary's directory filled in, and names the paths the install
 * script writes (the join token file, the agent's root, the env file). The
 * remote steps themselves run against a real sshd in
 * tests/e2e/test_bootstrap.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/fs.h"
#include "remote/bootstrap.h"

#include <stdio.h>
#include <string.h>

static void test_unit_is_the_packaged_one(void **state)
{
	struct sw_buf unit = SW_BUF_INIT(1 << 20), in = SW_BUF_INIT(1 << 20);
	struct sw_err err = SW_ERR_INIT;
	const char *u;

	(void)state;
	assert_int_equal(sw_bootstrap_unit("/opt/sw/bin", &unit), 0);
	u = sw_buf_str(&unit);
	assert_null(strchr(u, '@'));
	assert_non_null(strstr(u, "\nExecStart=/opt/sw/bin/slipway agent --root /var/lib/slipway-agent "
				  "--join-file /etc/slipway/join.token $SLIPWAY_AGENT_OPTS\n"));
	assert_non_null(strstr(u, "\nEnvironmentFile=-/etc/slipway/agent.env\n"));
	assert_non_null(strstr(u, "\nUser=slipway\n"));
	assert_non_null(strstr(u, "\nKillMode=process\n"));
	/* Everything else is the template as it is in the tree. */
	assert_int_equal(sw_fs_read_file("contrib/systemd/slipway-agent.service.in", 1 << 20, &in, &err), 0);
	{
		const char *a = strstr(sw_buf_str(&in), "[Unit]"), *b = strstr(u, "[Unit]");

		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(strlen(a) - strlen("@BINDIR@") - strlen("@DOCDIR@"),
				 strlen(b) - strlen("/opt/sw/bin") - strlen("/usr/share/doc/slipway"));
	}
	sw_buf_release(&unit);
	sw_buf_release(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unit_is_the_packaged_one),
	};
	return cmocka_run_group_tests_name("remote_bootstrap", tests, NULL, NULL);
}
