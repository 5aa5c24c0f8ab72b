/*
 * test_proc.c - unit tests for src/base/proc: exit codes, joined output,
 * clean environment, working directory, group kill (grandchildren too) on
 * timeout and when the leader exits, spawn errors; sw_proc_run: stdin from
 * memory, stdout and stderr apart, large input and output without deadlock,
 * a child that reads nothing, the deadline, a missing program.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *const test_env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "FOO=bar baz", "LANG=C.UTF-8", NULL };

/* Read all output until EOF (bounded by 10 s). */
static void read_all(struct sw_proc *p, struct sw_buf *out)
{
	char buf[4096];
	int rounds = 0;

	while (p->out_fd >= 0 && rounds++ < 1000) {
		struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 10) == 0)
			continue;
		n = read(p->out_fd, buf, sizeof(buf));
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n <= 0)
			break;
		sw_buf_append(out, buf, (size_t)n);
	}
}

static int run_cmd(const char *cmd, const char *cwd, struct sw_buf *out)
{
	struct sw_proc p = SW_PROC_INIT;
	struct sw_err err = SW_ERR_INIT;

	assert_int_equal(sw_proc_spawn(&p, cmd, cwd, test_env, &err), 0);
	assert_true(p.pid > 0);
	assert_true(p.out_fd > 2);
	read_all(&p, out);
	assert_int_equal(sw_proc_wait_exit(&p, 10000), 1);
	sw_proc_close(&p);
	assert_true(p.reaped);
	assert_int_equal(p.out_fd, -1);
	return p.status;
}

static bool pid_alive(pid_t pid)
{
	char path[64], stat[512];
	FILE *f;
	char *rp;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	/* A zombie nobody reaps (PID 1 in a container may not) is dead too. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(stat, sizeof(stat), f)) {
		fclose(f);
		return false;
	}
	fclose(f);
	rp = strrchr(stat, ')');
	return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

static bool wait_dead(pid_t pid, int ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i;

	for (i = 0; i < ms / 10; i++) {
		if (!pid_alive(pid))
			return true;
		nanosleep(&ts, NULL);
	}
	return !pid_alive(pid);
}

static void test_exit_codes(void **state)
{
	struct sw_buf out = SW_BUF_INIT(1 << 20);
	char how[64];
	int st;

	(void)state;
	st = run_cmd("exit 0", NULL, &out);
	assert_int_equal(sw_proc_exit_code(st), 0);
	st = run_cmd("exit 3", NULL, &out);
	assert_int_equal(sw_proc_exit_code(st), 3);
	assert_string_equal(sw_proc_describe(st, how, sizeof(how)), "exit 3");
	st = run_cmd("kill -TERM $$", NULL, &out);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(sw_proc_exit_code(st), 128 + SIGTERM);
	assert_string_equal(sw_proc_describe(st, how, sizeof(how)), "killed by SIGTERM");
	sw_buf_release(&out);
}

static void test_output_joined_and_stdin_null(void **state)
{
	struct sw_buf out = SW_BUF_INIT(1 << 20);
	int st;

	(void)state;
	st = run_cmd("echo out; echo err >&2; cat; echo end", NULL, &out);
	assert_int_equal(sw_proc_exit_code(st), 0);
	assert_string_equal(sw_buf_str(&out), "out\nerr\nend\n");
	sw_buf_release(&out);
}

static void test_env_is_clean(void **state)
{
	struct sw_buf out = SW_BUF_INIT(1 << 20);

	(void)state;
	setenv("SW_TEST_PARENT_ONLY", "leak", 1);
	run_cmd("env", NULL, &out);
	assert_non_null(strstr(sw_buf_str(&out), "FOO=bar baz\n"));
	assert_non_null(strstr(sw_buf_str(&out), "LANG=C.UTF-8\n"));
	assert_null(strstr(sw_buf_str(&out), "SW_TEST_PARENT_ONLY"));
	assert_null(strstr(sw_buf_str(&out), "\nHOME="));
	unsetenv("SW_TEST_PARENT_ONLY");
	sw_buf_release(&out);
}

static void test_no_fd_leaks(void **state)
{
	struct sw_buf out = SW_BUF_INIT(1 << 20);
	int leaked = dup(1); /* an fd without close-on-exec, as a careless parent leaves them */
	char cmd[128];

	(void)state;
	assert_true(leaked > 2);
	snprintf(cmd, sizeof(cmd), "test -e /proc/$$/fd/%d && echo leaked || echo clean; test -e /proc/$$/fd/2 && echo ok",
		 leaked);
	run_cmd(cmd, NULL, &out);
	assert_string_equal(sw_buf_str(&out), "clean\nok\n");
	close(leaked);
	sw_buf_release(&out);
}

static void test_cwd(void **state)
{
	struct sw_buf out = SW_BUF_INIT(1 << 20);
	char dir[] = "/tmp/sw-proc-XXXXXX", want[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	run_cmd("pwd", dir, &out);
	snprintf(want, sizeof(want), "%s\n", dir);
	assert_string_equal(sw_buf_str(&out), want);
	rmdir(dir);
	sw_buf_release(&out);
}

static void test_spawn_error(void **state)
{
	struct sw_proc p = SW_PROC_INIT;
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	assert_int_equal(sw_proc_spawn(&p, "true", "/nonexistent/sw-dir", test_env, &err), -1);
	assert_int_equal(err.code, SW_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/sw-dir"));
	assert_int_equal(p.out_fd, -1);
	assert_int_equal(p.pid, 0);
}

/* Parse the grandchild's pid from the first output line. */
static pid_t read_pid_line(struct sw_proc *p)
{
	char buf[64];
	size_t len = 0;
	int rounds = 0;
	uint64_t v = 0;
	size_t i;

	while (rounds++ < 500 && (len == 0 || !memchr(buf, '\n', len))) {
		struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 10) <= 0)
			continue;
		n = read(p->out_fd, buf + len, sizeof(buf) - 1 - len);
		if (n > 0)
			len += (size_t)n;
	}
	for (i = 0; i < len && buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(buf[i] - '0');
	return (pid_t)v;
}

static void test_timeout_kills_group(void **state)
{
	struct sw_proc p = SW_PROC_INIT;
	struct sw_err err = SW_ERR_INIT;
	pid_t grandchild;

	(void)state;
	/* A shell that ignores TERM with a grandchild in the background. */
	assert_int_equal(sw_proc_spawn(&p, "sleep 300 & echo $!; trap '' TERM; while :; do sleep 1; done", NULL,
				       test_env, &err),
			 0);
	grandchild = read_pid_line(&p);
	assert_true(grandchild > 0);
	assert_true(pid_alive(grandchild));
	assert_int_equal(sw_proc_exited(&p), 0);
	assert_int_equal(sw_proc_wait_exit(&p, 100), 0); /* "times out" */
	assert_int_equal(sw_proc_signal(&p, SIGTERM), 0);
	assert_true(wait_dead(grandchild, 3000)); /* TERM reached the whole group */
	assert_int_equal(sw_proc_wait_exit(&p, 300), 0); /* the leader ignores TERM */
	assert_int_equal(sw_proc_signal(&p, SIGKILL), 0);
	assert_int_equal(sw_proc_wait_exit(&p, 5000), 1);
	sw_proc_close(&p);
	assert_true(WIFSIGNALED(p.status));
	assert_int_equal(WTERMSIG(p.status), SIGKILL);
}

static void test_reap_kills_leftovers(void **state)
{
	struct sw_proc p = SW_PROC_INIT;
	struct sw_err err = SW_ERR_INIT;
	pid_t bg;

	(void)state;
	assert_int_equal(sw_proc_spawn(&p, "sleep 300 >/dev/null 2>&1 & echo $!", NULL, test_env, &err), 0);
	bg = read_pid_line(&p);
	assert_true(bg > 0);
	assert_int_equal(sw_proc_wait_exit(&p, 5000), 1);
	assert_true(pid_alive(bg)); /* the leader exited; its background child lives on */
	sw_proc_close(&p);
	assert_int_equal(sw_proc_exit_code(p.status), 0);
	assert_true(wait_dead(bg, 3000));
	assert_int_equal(sw_proc_signal(&p, SIGTERM), -1); /* gone */
}

/* Large input through cat comes back whole; stderr kept apart; exit code seen. */
static void test_run_stdin_stdout_stderr(void **state)
{
	struct sw_buf in = SW_BUF_INIT(SW_BUF_UNLIMITED), out = SW_BUF_INIT(SW_BUF_UNLIMITED),
		      errb = SW_BUF_INIT(4096);
	char *const cat[] = { "sh", "-c", "cat; echo oops >&2; exit 3", NULL };
	struct sw_err err = SW_ERR_INIT;
	size_t i;
	int status = 0;

	(void)state;
	for (i = 0; i < 300000; i++) /* 3 MB: far past any pipe buffer, both ways */
		sw_buf_puts(&in, "0123456789");
	assert_int_equal(sw_proc_run(cat, in.data, in.len, 20000, &out, &errb, &status, &err), 0);
	assert_int_equal(sw_proc_exit_code(status), 3);
	assert_int_equal(out.len, in.len);
	assert_memory_equal(out.data, in.data, in.len);
	assert_string_equal(sw_buf_str(&errb), "oops\n");
	sw_buf_release(&in);
	sw_buf_release(&out);
	sw_buf_release(&errb);
}

/* A child that exits without reading its input: EPIPE, not a SIGPIPE death of the caller. */
static void test_run_child_reads_nothing(void **state)
{
	struct sw_buf in = SW_BUF_INIT(SW_BUF_UNLIMITED);
	char *const t[] = { "true", NULL };
	struct sw_err err = SW_ERR_INIT;
	size_t i;
	int status = -1;

	(void)state;
	signal(SIGPIPE, SIG_DFL);
	for (i = 0; i < 100000; i++)
		sw_buf_puts(&in, "0123456789");
	assert_int_equal(sw_proc_run(t, in.data, in.len, 20000, NULL, NULL, &status, &err), 0);
	assert_int_equal(sw_proc_exit_code(status), 0);
	sw_buf_release(&in);
}

/* No input given: stdin is /dev/null (cat ends at once). Output past the buffer's max is dropped, flagged. */
static void test_run_devnull_and_capped_output(void **state)
{
	struct sw_buf out = SW_BUF_INIT(100);
	char *const c[] = { "sh", "-c", "cat; head -c 5000 /dev/zero", NULL };
	struct sw_err err = SW_ERR_INIT;
	int status = -1;

	(void)state;
	assert_int_equal(sw_proc_run(c, NULL, 0, 20000, &out, NULL, &status, &err), 0);
	assert_int_equal(sw_proc_exit_code(status), 0);
	assert_true(sw_buf_failed(&out));
	assert_true(out.len <= 100);
	sw_buf_release(&out);
}

/* The deadline kills the child and says so; a missing program is a clear error. */
static void test_run_timeout_and_missing(void **state)
{
	char *const slow[] = { "sleep", "30", NULL }, *const none[] = { "no-such-program-sw", NULL };
	struct sw_err err = SW_ERR_INIT;
	struct timespec t0, t1;
	int status = 0;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(sw_proc_run(slow, NULL, 0, 200, NULL, NULL, &status, &err), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(err.code, SW_ETIMEOUT);
	assert_non_null(strstr(err.msg, "'sleep' did not finish within 200 ms"));
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* Killed at the deadline, not after the 30 s: a safety bound well under that. */
	assert_true(t1.tv_sec - t0.tv_sec < 10);
	sw_err_clear(&err);
	assert_int_equal(sw_proc_run(none, NULL, 0, 1000, NULL, NULL, &status, &err), -1);
	assert_int_equal(err.code, SW_EIO);
	assert_string_equal(err.msg, "cannot run 'no-such-program-sw': No such file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_codes),          cmocka_unit_test(test_output_joined_and_stdin_null),
		cmocka_unit_test(test_env_is_clean),        cmocka_unit_test(test_cwd),
		cmocka_unit_test(test_no_fd_leaks),
		cmocka_unit_test(test_spawn_error),         cmocka_unit_test(test_timeout_kills_group),
		cmocka_unit_test(test_reap_kills_leftovers),
		cmocka_unit_test(test_run_stdin_stdout_stderr), cmocka_unit_test(test_run_child_reads_nothing),
		cmocka_unit_test(test_run_devnull_and_capped_output), cmocka_unit_test(test_run_timeout_and_missing),
	};
	return cmocka_run_group_tests_name("proc", tests, NULL, NULL);
}
