/*
 * test_exec.c - unit tests for src/pipeline/exec: steps in order, failure,
 * timeouts that kill the step, retries, masked and capped logs, reports
 * and outputs checked after the steps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "pipeline/exec.h"

#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];
static char logpath[PATH_MAX + 16];
static char *const env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "SECRET=SECRET_VALUE_42", NULL };

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sw-exec-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(logpath, sizeof(logpath), "%s/job.log", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sw_fs_remove_tree(dir, NULL);
	return 0;
}

/* Run x to the end with a poll loop like pipeline.c's. */
static void drive(struct sw_exec *x)
{
	struct sw_err err = SW_ERR_INIT;
	int guard = 0;

	assert_int_equal(sw_exec_start(x, sw_clock_mono_ms(), &err), 0);
	while (x->phase != SW_EXEC_DONE && guard++ < 100000) {
		struct pollfd p[2];
		int n = 0, oi = -1, wi = -1, timeout = 1000;
		uint64_t d = sw_exec_deadline(x), now = sw_clock_mono_ms();

		if (x->proc.out_fd >= 0) {
			oi = n;
			p[n++] = (struct pollfd){ .fd = x->proc.out_fd, .events = POLLIN };
		}
		if (x->proc.wait_fd >= 0) {
			wi = n;
			p[n++] = (struct pollfd){ .fd = x->proc.wait_fd, .events = POLLIN };
		} else {
			timeout = 20;
		}
		if (d)
			timeout = d <= now ? 0 : (int)(d - now);
		poll(p, (nfds_t)n, timeout);
		now = sw_clock_mono_ms();
		if (oi >= 0 && p[oi].revents)
			sw_exec_on_output(x);
		if ((wi >= 0 && p[wi].revents) || (wi < 0 && x->proc_live && sw_proc_exited(&x->proc)))
			sw_exec_on_exit(x, now);
		sw_exec_on_time(x, now);
	}
	assert_int_equal(x->phase, SW_EXEC_DONE);
}

static char *read_log(void)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);

	assert_int_equal(sw_fs_read_file(logpath, SW_BUF_UNLIMITED, &b, NULL), 0);
	return sw_buf_detach(&b, NULL);
}

static void prepare(struct sw_exec *x, struct sw_spec_job *job, struct sw_mask *m)
{
	sw_exec_init(x);
	x->job = job;
	x->workdir = dir;
	x->envp = env;
	x->mask = m;
	x->log_path = logpath;
}

static void test_steps_pass(void **state)
{
	struct sw_spec_step steps[] = { { .run = "echo one; pwd" }, { .name = "second", .run = "echo two >&2" } };
	struct sw_spec_job job = { .name = "j", .steps = steps, .nsteps = 2, .timeout_ms = 10000 };
	struct sw_mask m;
	struct sw_exec x;
	char *log;

	(void)state;
	sw_mask_init(&m);
	prepare(&x, &job, &m);
	drive(&x);
	assert_true(x.passed);
	assert_int_equal(x.exit_code, 0);
	assert_int_equal(x.nattempts, 1);
	assert_null(x.message);
	log = read_log();
	assert_non_null(strstr(log, "==> step 'echo one; pwd'\none\n"));
	assert_non_null(strstr(log, dir));
	assert_non_null(strstr(log, "==> step 'second'\ntwo\n"));
	free(log);
	assert_true(x.log_created);
	sw_exec_release(&x);

	/* Silent and passing: no log file at all. */
	unlink(logpath);
	steps[0].run = "true";
	steps[1].run = "true";
	prepare(&x, &job, &m);
	drive(&x);
	assert_true(x.passed);
	assert_false(x.log_created);
	assert_int_equal(access(logpath, F_OK), -1);
	sw_exec_release(&x);
	sw_mask_release(&m);
}

static void test_step_fails(void **state)
{
	struct sw_spec_step steps[] = { { .name = "compile", .run = "echo bad; exit 2" }, { .run = "echo never" } };
	struct sw_spec_job job = { .name = "j", .steps = steps, .nsteps = 2, .timeout_ms = 10000 };
	struct sw_mask m;
	struct sw_exec x;
	char *log;

	(void)state;
	sw_mask_init(&m);
	prepare(&x, &job, &m);
	drive(&x);
	assert_false(x.passed);
	assert_int_equal(x.exit_code, 2);
	assert_string_equal(x.message, "step 'compile' failed: exit 2");
	log = read_log();
	assert_null(strstr(log, "never"));
	free(log);
	sw_exec_release(&x);
	sw_mask_release(&m);
}

static void test_timeout(void **state)
{
	struct sw_spec_step steps[] = { { .name = "hang", .run = "sleep 60 & sleep 60", .timeout_ms = 300 } };
	struct sw_spec_job job = { .name = "j", .steps = steps, .nsteps = 1, .timeout_ms = 60000 };
	struct sw_mask m;
	struct sw_exec x;
	uint64_t t0 = sw_clock_mono_ms();

	(void)state;
	sw_mask_init(&m);
	prepare(&x, &job, &m);
	drive(&x);
	assert_false(x.passed);
	assert_true(sw_clock_mono_ms() - t0 < 3000);
	assert_int_equal(x.exit_code, 143);
	assert_string_equal(x.message, "step 'hang' timed out after 300ms (killed by SIGTERM)");
	sw_exec_release(&x);
	sw_mask_release(&m);
}

static void test_timeout_term_ignored(void **state)
{
	struct sw_spec_step steps[] = { { .name = "stubborn", .run = "trap '' TERM; while :; do sleep 0.1; done" } };
	struct sw_spec_job job = { .name = "j", .steps = steps, .nsteps = 1, .timeout_ms = 200 };
	struct sw_mask m;
	struct sw_exec x;
	uint64_t t0 = sw_clock_mono_ms();

	(void)state;
	sw_mask_init(&m);
	prepare(&x, &job, &m);
	drive(&x);
	assert_false(x.passed);
	assert_true(sw_clock_mono_ms() - t0 >= SW_EXEC_KILL_GRACE_MS);
	assert_true(sw_clock_mono_ms() - t0 < SW_EXEC_KILL_GRACE_MS + 3000);
	assert_int_equal(x.exit_code, 137);
	assert_non_null(strstr(x.message, "timed out after 200ms (killed by SIGKILL)"));
	sw_exec_release(&x);
	sw_mask_release(&m);
}

static void test_retries(void **state)
{
	struct sw_spec_step steps[] = { { .run = "echo x >> count; test $(wc -l < count) -ge 3" } };
	struct sw_spec_job job = { .name = "j", .steps = steps, .nsteps = 1, .timeout_ms = 10000, .retries = 5 };
	struct sw_mask m;
	struct sw_exec x;
	char *log;

	(void)state;
	sw_mask_init(&m);
	prepare(&x, &job, &m);
	drive(&x);
	assert_true(x.passed);
	assert_int_equal(x.nattempts, 3);
	assert_int_equal(x.attempts[0].exit_code, 1);
	assert_non_null(x.attempts[0].message);
	assert_null(x.attempts[2].message);
	log = read_log();
	assert_non_null(strstr(log, "==> attempt 3 of 6"));
	free(log);
	sw_exec_release(&x);

	/* Retries run out. */
	job.retries = 1;
	steps[0].run = "exit 4";
	prepare(&x, &job, &m);
	drive(&x);
	assert_false(x.passed);
	assert_int_equal(x.nattempts, 2);
	assert_int_equal(x.exit_code, 4);
	sw_exec_release(&x);
	sw_mask_release(&m);
}

static void test_masked_and_capped_log(void **state)
{
	struct sw_spec_step steps[] = {
		{ .run = "printf 'a SECRET_VA'; sleep 0.1; printf 'LUE_42 b\\n'; echo \"$SECRET\"" },
		{ .run = "head -c 200000 /dev/zero | tr '\\0' x; echo; echo SECRET_VALUE_42" },
	};
	struct sw_spec_job job = { .name = "j", .steps = steps, .nsteps = 2, .timeout_ms = 10000 };
	struct sw_mask m;
	struct sw_exec x;
	char *log;
	struct stat st;

	(void)state;
	sw_mask_init(&m);
	assert_int_equal(sw_mask_add(&m, "SECRET_VALUE_42", 15), 0);
	prepare(&x, &job, &m);
	x.log_cap = 10000;
	drive(&x);
	assert_true(x.passed);
	log = read_log();
	assert_null(strstr(log, "SECRET_VALUE_42"));
	assert_non_null(strstr(log, "a *** b\n***\n"));
	assert_non_null(strstr(log, SW_EXEC_LOG_TRUNCATED));
	assert_int_equal(stat(logpath, &st), 0);
	assert_true(st.st_size < 10000 + 500);
	free(log);
	sw_exec_release(&x);
	sw_mask_release(&m);
}

static void test_reports_and_outputs(void **state)
{
	struct sw_spec_step steps[] = { { .run = "mkdir -p out && printf '<testsuite name=\"s\"><testcase name=\"a\"/>"
						 "<testcase name=\"b\"><failure/></testcase></testsuite>' > out/r1.xml" } };
	const char *reports[] = { "out/r*.xml" }, *missing[] = { "nothere.xml" }, *bad[] = { "out/bad.xml" };
	const char *outs[] = { "out/" }, *nouts[] = { "dist/" };
	struct sw_spec_job job = { .name = "j", .steps = steps, .nsteps = 1, .timeout_ms = 10000,
				   .reports = reports, .nreports = 1, .outputs = outs, .noutputs = 1 };
	struct sw_mask m;
	struct sw_exec x;

	(void)state;
	sw_mask_init(&m);
	prepare(&x, &job, &m);
	drive(&x);
	assert_true(x.passed);
	assert_true(x.has_tests);
	assert_int_equal(x.tests.passed, 1);
	assert_int_equal(x.tests.failed, 1);
	assert_string_equal(x.tests.names[0], "s.b");
	sw_exec_release(&x);

	job.reports = missing;
	prepare(&x, &job, &m);
	drive(&x);
	assert_false(x.passed);
	assert_non_null(strstr(x.message, "report 'nothere.xml' not found"));
	sw_exec_release(&x);

	steps[0].run = "printf '<testsuite>\\n<testcase>\\n' > out/bad.xml";
	job.reports = bad;
	prepare(&x, &job, &m);
	drive(&x);
	assert_false(x.passed);
	assert_non_null(strstr(x.message, "out/bad.xml:3:1: malformed JUnit XML"));
	sw_exec_release(&x);

	steps[0].run = "true";
	job.nreports = 0;
	job.outputs = nouts;
	prepare(&x, &job, &m);
	drive(&x);
	assert_false(x.passed);
	assert_string_equal(x.message, "output 'dist/' not found after the steps passed");
	sw_exec_release(&x);
	sw_mask_release(&m);
}

static void test_bad_workdir_and_cancel(void **state)
{
	struct sw_spec_step steps[] = { { .run = "sleep 30" } };
	struct sw_spec_job job = { .name = "j", .steps = steps, .nsteps = 1, .timeout_ms = 60000, .retries = 3 };
	struct sw_err err = SW_ERR_INIT;
	struct sw_mask m;
	struct sw_exec x;
	uint64_t t0;

	(void)state;
	sw_mask_init(&m);
	prepare(&x, &job, &m);
	x.workdir = "/nonexistent/sw-workdir";
	assert_int_equal(sw_exec_start(&x, sw_clock_mono_ms(), &err), 0);
	assert_int_equal(x.phase, SW_EXEC_DONE);
	assert_false(x.passed);
	assert_int_equal(x.nattempts, 1);
	assert_non_null(strstr(x.message, "does not exist"));
	sw_exec_release(&x);

	prepare(&x, &job, &m);
	t0 = sw_clock_mono_ms();
	assert_int_equal(sw_exec_start(&x, t0, &err), 0);
	sw_exec_cancel(&x, t0, false);
	while (x.phase != SW_EXEC_DONE && sw_clock_mono_ms() - t0 < 5000) {
		if (sw_proc_wait_exit(&x.proc, 100))
			sw_exec_on_exit(&x, sw_clock_mono_ms());
		else
			sw_exec_on_time(&x, sw_clock_mono_ms());
	}
	assert_int_equal(x.phase, SW_EXEC_DONE);
	assert_false(x.passed);
	assert_true(x.canceled);
	assert_int_equal(x.nattempts, 1); /* no retry after cancel */
	assert_non_null(strstr(x.message, "canceled during step"));
	sw_exec_release(&x);
	sw_mask_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steps_pass),         cmocka_unit_test(test_step_fails),
		cmocka_unit_test(test_timeout),            cmocka_unit_test(test_timeout_term_ignored),
		cmocka_unit_test(test_retries),            cmocka_unit_test(test_masked_and_capped_log),
		cmocka_unit_test(test_reports_and_outputs), cmocka_unit_test(test_bad_workdir_and_cancel),
	};
	return cmocka_run_group_tests_name("exec", tests, setup, teardown);
}
