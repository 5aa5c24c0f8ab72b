/*
 * test_agent_hook.c - unit tests for src/agent/hook: output into the log
 * fd, exit codes, a hanging hook killed at its timeout (with the processes
 * it started), cancellation, cwd and environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/hook.h"
#include "agent/supervisor.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[PATH_MAX];
static char *const env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "PORT=8123", NULL };

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sw-test-agent-hook-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	return sw_fs_remove_tree(tmpdir, &err);
}

static int open_log(const char *name, char *p)
{
	snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
	return open(p, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
}

static void read_text(const char *p, struct sw_buf *b)
{
	struct sw_err err = SW_ERR_INIT;

	sw_buf_reset(b);
	assert_int_equal(sw_fs_read_file(p, 1 << 20, b, &err), 0);
}

static void test_ok_and_output(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf b = SW_BUF_INIT(1 << 20);
	char p[PATH_MAX], want[PATH_MAX + 8];
	int fd = open_log("ok.log", p);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(sw_hook_run("hook 'after_install'", "echo port=$PORT; pwd; echo oops >&2", tmpdir, env, 5000, fd,
				     NULL, &err),
			 0);
	close(fd);
	read_text(p, &b);
	assert_non_null(strstr(b.data, "port=8123\n"));
	snprintf(want, sizeof(want), "%s\n", tmpdir);
	assert_non_null(strstr(b.data, want));
	assert_non_null(strstr(b.data, "oops\n"));
	sw_buf_release(&b);
}

static void test_failure(void **state)
{
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	assert_int_equal(sw_hook_run("hook 'before_start'", "exit 3", tmpdir, env, 5000, -1, NULL, &err), -1);
	assert_int_equal(err.code, SW_EFAILED);
	assert_string_equal(err.msg, "hook 'before_start' failed: exit 3");
	assert_int_equal(sw_hook_run("hook 'x'", "kill -9 $$", tmpdir, env, 5000, -1, NULL, &err), -1);
	assert_string_equal(err.msg, "hook 'x' failed: killed by SIGKILL");
	assert_int_equal(sw_hook_run("hook 'x'", "true", "/nonexistent-dir", env, 5000, -1, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "hook 'x'"));
}

static void test_timeout_kills_group(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf b = SW_BUF_INIT(4096);
	char p[PATH_MAX], pidf[PATH_MAX], cmd[PATH_MAX * 2];
	uint64_t t0, took;
	long child;
	int fd = open_log("hang.log", p), i;
	char st = 0;

	(void)state;
	snprintf(pidf, sizeof(pidf), "%s/hang.pid", tmpdir);
	snprintf(cmd, sizeof(cmd), "sleep 60 & echo $! > '%s'; echo hanging; sleep 60", pidf);
	t0 = sw_clock_mono_ms();
	assert_int_equal(sw_hook_run("hook 'validate'", cmd, tmpdir, env, 500, fd, NULL, &err), -1);
	took = sw_clock_mono_ms() - t0;
	close(fd);
	assert_int_equal(err.code, SW_ETIMEOUT);
	assert_string_equal(err.msg, "hook 'validate' timed out after 500ms");
	/* Well under the hook's own 60 s: it was killed, not waited for (a loaded machine may be slow to reap). */
	assert_true(took >= 500 && took < 30000);
	read_text(p, &b);
	assert_non_null(strstr(b.data, "hanging"));
	read_text(pidf, &b);
	child = strtol(b.data, NULL, 10);
	assert_true(child > 1);
	/* Wait for the background child's death (an event), bounded far above any scheduling delay. */
	for (i = 0; i < 3000; i++) {
		if (sw_supervisor_proc_stat((pid_t)child, NULL, &st) < 0 || st == 'Z')
			break;
		struct timespec ts = { 0, 10000000L };
		nanosleep(&ts, NULL);
	}
	assert_true(sw_supervisor_proc_stat((pid_t)child, NULL, &st) < 0 || st == 'Z');
	sw_buf_release(&b);
}

static atomic_bool cancel_flag;

static void *cancel_later(void *arg)
{
	struct timespec ts = { 0, 200000000L };

	(void)arg;
	nanosleep(&ts, NULL);
	atomic_store(&cancel_flag, true);
	return NULL;
}

static void test_cancel(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	pthread_t t;
	uint64_t t0, took;

	(void)state;
	atomic_init(&cancel_flag, false);
	assert_int_equal(pthread_create(&t, NULL, cancel_later, NULL), 0);
	t0 = sw_clock_mono_ms();
	assert_int_equal(sw_hook_run("hook 'before_install'", "sleep 30", tmpdir, env, 60000, -1, &cancel_flag, &err), -1);
	took = sw_clock_mono_ms() - t0;
	pthread_join(t, NULL);
	assert_int_equal(err.code, SW_ECANCELED);
	assert_true(took < 20000); /* canceled, not the 30 s sleep waited for */
}

static void test_much_output(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf b = SW_BUF_INIT(4 << 20);
	char p[PATH_MAX];
	int fd = open_log("big.log", p);

	(void)state;
	/* More than a pipe holds: the hook must not block on a full pipe. */
	assert_int_equal(sw_hook_run("hook 'x'", "head -c 300000 /dev/zero | tr '\\0' a", tmpdir, env, 10000, fd, NULL,
				     &err),
			 0);
	close(fd);
	read_text(p, &b);
	assert_int_equal(b.len, 300000);
	sw_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_and_output),
		cmocka_unit_test(test_failure),
		cmocka_unit_test(test_timeout_kills_group),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_much_output),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("agent_hook", tests, setup, teardown);
}
