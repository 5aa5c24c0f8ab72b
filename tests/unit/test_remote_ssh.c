/*
 * test_remote_ssh.c - unit tests for src/remote/ssh: the ssh:// URL parser
 * (accepted forms, every refusal), shell quoting round-tripped through a
 * real /bin/sh with hostile words, remote path checks, and the exact argv
 * given to ssh and scp (a stand-in program records it): options, port,
 * user, "--", the one quoted command, stdin reaching it, exit 255 as ssh's
 * own failure with its last message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/proc.h"
#include "remote/ssh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_parse_ok(void **state)
{
	struct sw_ssh_target t;
	struct sw_err err = SW_ERR_INIT;
	char url[300];

	(void)state;
	assert_int_equal(sw_ssh_parse_url("ssh://root@web-1", 16, &t, &err), 0);
	assert_string_equal(t.user, "root");
	assert_string_equal(t.host, "web-1");
	assert_int_equal(t.port, 0);
	assert_false(t.ipv6);
	assert_string_equal(sw_ssh_url(&t, url, sizeof(url)), "ssh://root@web-1");

	assert_int_equal(sw_ssh_parse_url("ssh://web-1.example.com:2222/", 29, &t, &err), 0);
	assert_string_equal(t.user, "");
	assert_string_equal(t.host, "web-1.example.com");
	assert_int_equal(t.port, 2222);
	assert_string_equal(sw_ssh_url(&t, url, sizeof(url)), "ssh://web-1.example.com:2222");

	assert_int_equal(sw_ssh_parse_url("ssh://deploy_1@[fe80::1]:22", 27, &t, &err), 0);
	assert_string_equal(t.user, "deploy_1");
	assert_string_equal(t.host, "fe80::1");
	assert_true(t.ipv6);
	assert_int_equal(t.port, 22);
	assert_string_equal(sw_ssh_url(&t, url, sizeof(url)), "ssh://deploy_1@[fe80::1]:22");

	/* The parser borrows: it stops at len, whatever follows. */
	assert_int_equal(sw_ssh_parse_url("ssh://root@h1;rm -rf /", 13, &t, &err), 0);
	assert_string_equal(t.host, "h1");
}

static void test_parse_refused(void **state)
{
	static const struct {
		const char *url, *msg;
	} bad[] = {
		{ "", "is not an ssh:// URL" },
		{ "root@web-1", "is not an ssh:// URL" },
		{ "http://web-1", "is not an ssh:// URL" },
		{ "ssh://", "missing or bad host" },
		{ "ssh://root@", "missing or bad host" },
		{ "ssh://root@:22", "missing or bad host" },
		{ "ssh://@web-1", "user must be" },
		{ "ssh://-oProxyCommand=x@web-1", "user must be" },
		{ "ssh://ro ot@web-1", "user must be" },
		{ "ssh://root@-oProxyCommand=x", "missing or bad host" },
		{ "ssh://root@.web", "missing or bad host" },
		{ "ssh://root@web_1", "may hold only" },
		{ "ssh://root@web;id", "may hold only" },
		{ "ssh://root@web$(id)", "may hold only" },
		{ "ssh://root@web:0", "is not :PORT" },
		{ "ssh://root@web:65536", "is not :PORT" },
		{ "ssh://root@web:22x", "is not :PORT" },
		{ "ssh://root@web:", "is not :PORT" },
		{ "ssh://root@web/path", "may hold only" },
		{ "ssh://root@[::1", "IPv6" },
		{ "ssh://root@[]", "IPv6" },
		{ "ssh://root@[::g]", "is not an IPv6 address" },
		{ "ssh://root@[::1]x", "is not :PORT" },
		{ "ssh://a@b@c", "may hold only" },
	};
	struct sw_ssh_target t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sw_err err = SW_ERR_INIT;

		if (sw_ssh_parse_url(bad[i].url, strlen(bad[i].url), &t, &err) != -1 || err.code != SW_EINPUT ||
		    !strstr(err.msg, bad[i].msg))
			fail_msg("'%s': expected a refusal with '%s', got code %d '%s'", bad[i].url, bad[i].msg, err.code,
				 err.msg);
	}
}

/* Every word quoted, given to a real /bin/sh, comes back as that very word. */
static void test_quote_roundtrip(void **state)
{
	static const char *const words[] = { "plain", "a b", "it's", "''", "$(touch /nonexistent/x)", "`id`",
					     "\\", "a\nb", "*", "", "--", "-e", "$HOME", "\"q\"", "!x", "; ls", NULL };
	struct sw_buf cmd = SW_BUF_INIT(4096), out = SW_BUF_INIT(4096), want = SW_BUF_INIT(4096);
	struct sw_err err = SW_ERR_INIT;
	int status = -1;
	size_t i;

	(void)state;
	sw_buf_puts(&cmd, "printf '[%s]'");
	for (i = 0; words[i]; i++) {
		sw_buf_putc(&cmd, ' ');
		sw_sh_quote(&cmd, words[i]);
		sw_buf_printf(&want, "[%s]", words[i]);
	}
	{
		char *const argv[] = { "/bin/sh", "-c", cmd.data, NULL };

		assert_int_equal(sw_proc_run(argv, NULL, 0, 10000, &out, NULL, &status, &err), 0);
	}
	assert_int_equal(sw_proc_exit_code(status), 0);
	assert_string_equal(sw_buf_str(&out), sw_buf_str(&want));
	sw_buf_reset(&out);
	sw_sh_quote(&out, "it's");
	assert_string_equal(sw_buf_str(&out), "'it'\\''s'");
	sw_buf_release(&cmd);
	sw_buf_release(&out);
	sw_buf_release(&want);
}

static void test_path_ok(void **state)
{
	(void)state;
	assert_true(sw_ssh_path_ok("/usr/local/bin"));
	assert_true(sw_ssh_path_ok("/tmp/pytest-of-root/x_1/remote/data"));
	assert_true(sw_ssh_path_ok("/a/.hidden/..x/b+c"));
	assert_false(sw_ssh_path_ok("relative/dir"));
	assert_false(sw_ssh_path_ok("/"));
	assert_false(sw_ssh_path_ok("/a b"));
	assert_false(sw_ssh_path_ok("/a/../etc"));
	assert_false(sw_ssh_path_ok("/a/.."));
	assert_false(sw_ssh_path_ok("/a;id"));
	assert_false(sw_ssh_path_ok("/a:b"));
	assert_false(sw_ssh_path_ok("/$HOME"));
}

static char tmpdir[] = "/tmp/test_remote_ssh.XXXXXX";

/* A stand-in for ssh/scp: writes each argument on its own line to DIR/args, stdin to DIR/stdin, exits $FAKE_EXIT. */
static void write_fake(const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n"
		   "d=$(dirname \"$0\")\n"
		   ": >\"$d/args\"\n"
		   "for a; do printf '%%s\\n' \"$a\" >>\"$d/args\"; done\n"
		   "cat >\"$d/stdin\"\n"
		   "echo 'first line' >&2\n"
		   "echo 'ssh: connect to host web port 22: Connection refused' >&2\n"
		   "exit \"${FAKE_EXIT:-0}\"\n");
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

static char *slurp(const char *name)
{
	static char buf[8192];
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void setup_ssh(struct sw_ssh *s, char *prog, size_t size)
{
	struct sw_err err = SW_ERR_INIT;

	memset(s, 0, sizeof(*s));
	assert_int_equal(sw_ssh_parse_url("ssh://root@web:2222", 19, &s->t, &err), 0);
	snprintf(prog, size, "%s/fake", tmpdir);
	write_fake(prog);
	s->ssh_prog = s->scp_prog = prog;
	s->identity = "/keys/id_ed25519";
	s->options[0] = "StrictHostKeyChecking=accept-new";
	s->n_options = 1;
	s->connect_timeout_s = 7;
	s->timeout_ms = 10000;
}

static void test_run_argv_and_stdin(void **state)
{
	const char *const remote[] = { "sh", "-c", "echo \"$1\"", "x", "it's $(id)", NULL };
	struct sw_buf errb = SW_BUF_INIT(4096);
	struct sw_err err = SW_ERR_INIT;
	struct sw_ssh s;
	char prog[300];
	int code = -1;

	(void)state;
	assert_non_null(mkdtemp(tmpdir));
	setup_ssh(&s, prog, sizeof(prog));
	assert_int_equal(sw_ssh_run(&s, remote, "secret\n", 7, NULL, &errb, &code, &err), 0);
	assert_int_equal(code, 0);
	assert_string_equal(slurp("args"), "-T\n-x\n-a\n-o\nBatchMode=yes\n-o\nConnectTimeout=7\n-o\nLogLevel=ERROR\n"
					    "-i\n/keys/id_ed25519\n-p\n2222\n-o\nStrictHostKeyChecking=accept-new\n"
					    "-l\nroot\n--\nweb\n'sh' '-c' 'echo \"$1\"' 'x' 'it'\\''s $(id)'\n");
	/* The secret went on stdin, not into an argument. */
	assert_string_equal(slurp("stdin"), "secret\n");
	assert_non_null(strstr(sw_buf_str(&errb), "first line"));

	/* Exit 255: ssh's own failure, its last line in the message. */
	setenv("FAKE_EXIT", "255", 1);
	assert_int_equal(sw_ssh_run(&s, remote, NULL, 0, NULL, NULL, &code, &err), -1);
	unsetenv("FAKE_EXIT");
	assert_int_equal(err.code, SW_EIO);
	assert_string_equal(err.msg,
			    "cannot reach ssh://root@web:2222: ssh: connect to host web port 22: Connection refused");
	/* Other codes are the remote command's. */
	setenv("FAKE_EXIT", "3", 1);
	assert_int_equal(sw_ssh_run(&s, remote, NULL, 0, NULL, NULL, &code, &err), 0);
	unsetenv("FAKE_EXIT");
	assert_int_equal(code, 3);
	sw_buf_release(&errb);
}

static void test_copy_argv(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_ssh s;
	char prog[300];

	(void)state;
	setup_ssh(&s, prog, sizeof(prog));
	assert_int_equal(sw_ssh_copy(&s, "/proc/1/exe", "/usr/local/bin/.slipway.new.1", &err), 0);
	assert_string_equal(slurp("args"), "-q\n-p\n-o\nBatchMode=yes\n-o\nConnectTimeout=7\n-o\nLogLevel=ERROR\n"
					    "-i\n/keys/id_ed25519\n-P\n2222\n-o\nStrictHostKeyChecking=accept-new\n"
					    "--\n/proc/1/exe\nroot@web:/usr/local/bin/.slipway.new.1\n");
	assert_int_equal(sw_ssh_parse_url("ssh://[::1]", 11, &s.t, &err), 0);
	assert_int_equal(sw_ssh_copy(&s, "/f", "/d/f", &err), 0);
	assert_non_null(strstr(slurp("args"), "\n--\n/f\n[::1]:/d/f\n"));
	assert_int_equal(sw_ssh_copy(&s, "/f", "/d/$(id)", &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	setenv("FAKE_EXIT", "1", 1);
	assert_int_equal(sw_ssh_copy(&s, "/f", "/d/f", &err), -1);
	unsetenv("FAKE_EXIT");
	assert_int_equal(err.code, SW_EIO);
	assert_string_equal(err.msg, "cannot copy '/f' to ssh://[::1]:/d/f: ssh: connect to host web port 22: "
				     "Connection refused");
	{
		char path[300];

		snprintf(path, sizeof(path), "rm -rf '%s'", tmpdir);
		assert_int_equal(system(path), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),        cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_quote_roundtrip), cmocka_unit_test(test_path_ok),
		cmocka_unit_test(test_run_argv_and_stdin), cmocka_unit_test(test_copy_argv),
	};
	return cmocka_run_group_tests_name("remote_ssh", tests, NULL, NULL);
}
