/*
 * test_agent_supervisor.c - unit tests for src/agent/supervisor: start in a
 * new session with the given env and cwd, stop with grace and SIGKILL
 * (the whole group), exit detection, restart backoff, log rotation (no
 * line lost while a service writes), pid files and adoption of a process
 * that is not our child (and the cleanup of its group when its leader was
 * reaped by someone else).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/supervisor.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[PATH_MAX];
static char *const test_env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "FOO=bar baz", NULL };

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sw-test-agent-sup-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	return sw_fs_remove_tree(tmpdir, &err);
}

static void path(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", tmpdir, name);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void read_text(const char *p, struct sw_buf *b)
{
	struct sw_err err = SW_ERR_INIT;

	sw_buf_reset(b);
	if (sw_fs_exists(p))
		assert_int_equal(sw_fs_read_file(p, 64 << 20, b, &err), 0);
}

/* Wait (bounded) until the file holds needle. */
static void wait_for_text(const char *p, const char *needle)
{
	struct sw_buf b = SW_BUF_INIT(1 << 20);
	int i;

	for (i = 0; i < 500; i++) {
		read_text(p, &b);
		if (strstr(sw_buf_str(&b), needle))
			break;
		sleep_ms(10);
	}
	if (!strstr(sw_buf_str(&b), needle))
		fail_msg("'%s' never showed '%s' (has '%s')", p, needle, sw_buf_str(&b));
	sw_buf_release(&b);
}

/* Gone or a zombie (PID 1 here may not reap orphans). */
static int dead(pid_t pid)
{
	char st = 0;

	return sw_supervisor_proc_stat(pid, NULL, &st) < 0 || st == 'Z' || st == 'X';
}

static void start(struct sw_supervisor_proc *p, const char *cmd, const char *log)
{
	struct sw_supervisor_spec spec = { cmd, tmpdir, log, test_env };
	struct sw_err err = SW_ERR_INIT;

	assert_int_equal(sw_supervisor_spawn(p, &spec, &err), 0);
	assert_true(p->pid > 0);
	assert_true(p->child);
	assert_true(p->start_ticks > 0);
}

static void test_start_env_cwd_session(void **state)
{
	struct sw_supervisor_proc p;
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf b = SW_BUF_INIT(1 << 20);
	char log[PATH_MAX], want[PATH_MAX + 8], desc[64];
	bool killed = true;

	(void)state;
	path(log, "svc.log");
	start(&p, "echo \"foo=$FOO\"; pwd; echo err >&2; read x; echo \"stdin=[$x]\"; exec sleep 30", log);
	wait_for_text(log, "stdin=[]");
	assert_int_equal(sw_supervisor_alive(&p), 1);
	/* Its own session and process group: a signal to the group never reaches us. */
	assert_int_equal(getsid(p.pid), p.pid);
	assert_int_equal(getpgid(p.pid), p.pid);
	read_text(log, &b);
	assert_non_null(strstr(b.data, "foo=bar baz"));
	snprintf(want, sizeof(want), "%s\n", tmpdir);
	assert_non_null(strstr(b.data, want));
	assert_non_null(strstr(b.data, "err"));
	assert_int_equal(sw_supervisor_stop(&p, SIGTERM, 5000, &killed, &err), 0);
	assert_false(killed);
	assert_true(p.exited);
	assert_string_equal(sw_supervisor_describe(&p, desc, sizeof(desc)), "killed by SIGTERM");
	sw_supervisor_release(&p);
	sw_buf_release(&b);
}

static void test_stop_grace_then_kill_group(void **state)
{
	struct sw_supervisor_proc p;
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf b = SW_BUF_INIT(4096);
	char log[PATH_MAX], pidf[PATH_MAX], cmd[PATH_MAX * 2];
	uint64_t t0, took;
	bool killed = false;
	long child;

	(void)state;
	path(log, "grace.log");
	path(pidf, "grandchild.pid");
	/* Ignores SIGTERM and leaves a grandchild behind: both must go. */
	snprintf(cmd, sizeof(cmd), "trap '' TERM; sleep 60 & echo $! > '%s'; echo ready; while :; do sleep 0.05; done", pidf);
	start(&p, cmd, log);
	wait_for_text(log, "ready");
	read_text(pidf, &b);
	child = strtol(b.data, NULL, 10);
	assert_true(child > 1);
	t0 = sw_clock_mono_ms();
	assert_int_equal(sw_supervisor_stop(&p, SIGTERM, 300, &killed, &err), 0);
	took = sw_clock_mono_ms() - t0;
	assert_true(killed);
	assert_true(took >= 300);
	assert_true(took < 30000); /* killed after the grace, not the 60 s sleep waited for */
	assert_true(p.exited);
	assert_int_equal(WIFSIGNALED(p.status) ? WTERMSIG(p.status) : 0, SIGKILL);
	for (int i = 0; i < 200 && !dead((pid_t)child); i++)
		sleep_ms(10);
	assert_true(dead((pid_t)child));
	/* Stopping again is a no-op. */
	assert_int_equal(sw_supervisor_stop(&p, SIGTERM, 300, &killed, &err), 0);
	assert_false(killed);
	sw_supervisor_release(&p);
	sw_buf_release(&b);
}

static void test_exit_detection(void **state)
{
	struct sw_supervisor_proc p;
	char log[PATH_MAX], desc[64];

	(void)state;
	path(log, "exit.log");
	start(&p, "sleep 0.1; exit 3", log);
	assert_int_equal(sw_supervisor_wait(&p, 5000), 1);
	assert_true(p.exited);
	assert_string_equal(sw_supervisor_describe(&p, desc, sizeof(desc)), "exit 3");
	assert_int_equal(sw_supervisor_alive(&p), 0);
	assert_true(p.pidfd < 0);
	/* A command that cannot be found still starts the shell, which exits 127. */
	start(&p, "/nonexistent/binary", log);
	assert_int_equal(sw_supervisor_wait(&p, 5000), 1);
	assert_string_equal(sw_supervisor_describe(&p, desc, sizeof(desc)), "exit 127");
	sw_supervisor_release(&p);
}

static void test_spawn_errors(void **state)
{
	struct sw_supervisor_proc p;
	struct sw_supervisor_spec spec = { "true", "/nonexistent-dir", NULL, test_env };
	struct sw_err err = SW_ERR_INIT;
	char log[PATH_MAX];

	(void)state;
	path(log, "no/such/dir/x.log");
	spec.log_path = log;
	assert_int_equal(sw_supervisor_spawn(&p, &spec, &err), -1);
	assert_int_equal(err.code, SW_EIO);
	assert_non_null(strstr(err.msg, "cannot open"));
	path(log, "ok.log");
	spec.log_path = log;
	assert_int_equal(sw_supervisor_spawn(&p, &spec, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent-dir"));
}

static void test_backoff(void **state)
{
	struct sw_backoff b = { 0 };
	const uint64_t want[] = { 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(sw_backoff_next(&b, 100), want[i]);
	/* Up for a minute: back to the start. */
	assert_int_equal(sw_backoff_next(&b, 60000), 500);
	assert_int_equal(sw_backoff_next(&b, 59999), 1000);
}

static void write_bytes(const char *p, size_t n, char c)
{
	FILE *f = fopen(p, "ae");
	size_t i;

	assert_non_null(f);
	for (i = 0; i < n; i++)
		fputc(i % 100 == 99 ? '\n' : c, f);
	fclose(f);
}

static off_t size_of(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? st.st_size : -1;
}

static void test_rotate(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf b = SW_BUF_INIT(1 << 20), b1 = SW_BUF_INIT(1 << 20);
	char log[PATH_MAX], l1[PATH_MAX], l2[PATH_MAX], l3[PATH_MAX];

	(void)state;
	path(log, "rot.log");
	snprintf(l1, sizeof(l1), "%s.1", log);
	snprintf(l2, sizeof(l2), "%s.2", log);
	snprintf(l3, sizeof(l3), "%s.3", log);
	/* Missing or small: nothing. */
	assert_int_equal(sw_supervisor_rotate(log, 4096, 2, &err), 0);
	write_bytes(log, 1000, 'a');
	assert_int_equal(sw_supervisor_rotate(log, 4096, 2, &err), 0);
	assert_false(sw_fs_exists(l1));
	/* Big enough: rotated; the two files hold exactly what was written. */
	write_bytes(log, 9000, 'b');
	assert_int_equal(sw_supervisor_rotate(log, 4096, 2, &err), 1);
	assert_true(sw_fs_exists(l1));
	assert_true(size_of(log) < 4096);
	assert_int_equal(size_of(l1) + size_of(log), 10000);
	read_text(l1, &b1);
	assert_int_equal(b1.data[0], 'a');
	/* Again: .1 moves to .2; with keep 2 there is never a .3. */
	write_bytes(log, 9000, 'c');
	assert_int_equal(sw_supervisor_rotate(log, 4096, 2, &err), 1);
	read_text(l2, &b);
	assert_int_equal(b.len, b1.len);
	assert_memory_equal(b.data, b1.data, b.len);
	write_bytes(log, 9000, 'd');
	assert_int_equal(sw_supervisor_rotate(log, 4096, 2, &err), 1);
	assert_false(sw_fs_exists(l3));
	/* Smaller than a block: copied whole, then truncated. */
	path(log, "tiny.log");
	snprintf(l1, sizeof(l1), "%s.1", log);
	write_bytes(log, 300, 'e');
	assert_int_equal(sw_supervisor_rotate(log, 100, 3, &err), 1);
	assert_int_equal(size_of(log), 0);
	assert_int_equal(size_of(l1), 300);
	sw_buf_release(&b);
	sw_buf_release(&b1);
}

/* Does this file system cut a file's head (fallocate COLLAPSE_RANGE)? */
static int can_collapse(void)
{
	char p[PATH_MAX];
	int fd, ok;

	path(p, "collapse-probe");
	write_bytes(p, 3 * 65536, 'x');
	fd = open(p, O_RDWR);
	ok = fd >= 0 && fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 65536) == 0;
	if (fd >= 0)
		close(fd);
	unlink(p);
	return ok;
}

static void test_rotate_while_writing(void **state)
{
	struct sw_supervisor_proc p;
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf all = SW_BUF_INIT(16 << 20), part = SW_BUF_INIT(16 << 20);
	char log[PATH_MAX], rp[PATH_MAX + 16], want[32];
	int rotations = 0, i, k;
	const char *s;

	(void)state;
	if (!can_collapse())
		skip();
	path(log, "live.log");
	start(&p, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); echo line-$i; done", log);
	while (sw_supervisor_alive(&p)) {
		int r = sw_supervisor_rotate(log, 16384, 200, &err);

		assert_true(r >= 0);
		rotations += r;
	}
	while (sw_supervisor_rotate(log, 16384, 200, &err) == 1)
		rotations++;
	assert_true(rotations > 3);
	assert_true(rotations < 200);
	for (k = rotations; k >= 1; k--) {
		snprintf(rp, sizeof(rp), "%s.%d", log, k);
		read_text(rp, &part);
		sw_buf_append(&all, part.data ? part.data : "", part.len);
	}
	read_text(log, &part);
	sw_buf_append(&all, part.data ? part.data : "", part.len);
	/* Every line, once, in order. */
	s = sw_buf_str(&all);
	for (i = 1; i <= 20000; i++) {
		size_t n = (size_t)snprintf(want, sizeof(want), "line-%d\n", i);

		if (strncmp(s, want, n))
			fail_msg("line %d missing or out of order after %d rotations", i, rotations);
		s += n;
	}
	assert_int_equal(*s, '\0');
	sw_supervisor_release(&p);
	sw_buf_release(&all);
	sw_buf_release(&part);
}

static void test_pidfile_adopt(void **state)
{
	struct sw_supervisor_proc p, q;
	struct sw_err err = SW_ERR_INIT;
	char log[PATH_MAX], pf[PATH_MAX], line[256], boot[40];
	bool killed;

	(void)state;
	path(log, "adopt.log");
	path(pf, "svc.pid");
	/* Missing: nothing to adopt. */
	assert_int_equal(sw_supervisor_adopt(pf, &q, &err), 0);
	start(&p, "exec sleep 30", log);
	assert_int_equal(sw_supervisor_pidfile_write(pf, &p, &err), 0);
	assert_int_equal(sw_supervisor_adopt(pf, &q, &err), 1);
	assert_int_equal(q.pid, p.pid);
	assert_int_equal(q.start_ticks, p.start_ticks);
	assert_false(q.child);
	assert_int_equal(sw_supervisor_alive(&q), 1);
	/* Another start time (a recycled pid) is not adopted. */
	sw_supervisor_boot_id(boot);
	snprintf(line, sizeof(line), "%ld %llu %s\n", (long)p.pid, (unsigned long long)p.start_ticks + 1, boot);
	assert_int_equal(sw_fs_write_atomic(pf, line, strlen(line), 0644, &err), 0);
	{
		struct sw_supervisor_proc r;

		assert_int_equal(sw_supervisor_adopt(pf, &r, &err), 0);
		assert_int_equal(r.pid, 0);
	}
	/* Another boot neither. */
	snprintf(line, sizeof(line), "%ld %llu 00000000-0000-0000-0000-000000000000\n", (long)p.pid,
		 (unsigned long long)p.start_ticks);
	assert_int_equal(sw_fs_write_atomic(pf, line, strlen(line), 0644, &err), 0);
	{
		struct sw_supervisor_proc r;

		assert_int_equal(sw_supervisor_adopt(pf, &r, &err), 0);
		assert_int_equal(r.pid, 0);
	}
	/* Malformed. */
	assert_int_equal(sw_fs_write_atomic(pf, "12 x\n", 5, 0644, &err), 0);
	{
		struct sw_supervisor_proc r;

		assert_int_equal(sw_supervisor_adopt(pf, &r, &err), -1);
		assert_int_equal(err.code, SW_EINPUT);
	}
	/* The adopted handle stops the process (not our child from its point of view). */
	assert_int_equal(sw_supervisor_stop(&q, SIGTERM, 2000, &killed, &err), 0);
	assert_false(killed);
	assert_true(q.exited);
	assert_int_equal(q.status, -1);
	assert_int_equal(sw_supervisor_wait(&p, 2000), 1); /* reaped by its parent handle */
	/* Dead now: a pid file naming it is stale. */
	assert_int_equal(sw_supervisor_pidfile_write(pf, &p, &err), 0);
	{
		struct sw_supervisor_proc r;

		assert_int_equal(sw_supervisor_adopt(pf, &r, &err), 0);
	}
	sw_supervisor_release(&p);
	sw_supervisor_release(&q);
}

/* A process that is not our child (an orphan, as after an agent restart). */
static void test_adopt_orphan(void **state)
{
	struct sw_supervisor_proc launcher, q;
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf b = SW_BUF_INIT(4096);
	char log[PATH_MAX], pf[PATH_MAX], idf[PATH_MAX], cmd[PATH_MAX * 2], line[256], boot[40];
	uint64_t ticks = 0;
	long pid;
	bool killed;

	(void)state;
	path(log, "orphan.log");
	path(pf, "orphan.pid");
	path(idf, "orphan.id");
	snprintf(cmd, sizeof(cmd), "setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $! > '%s'; sleep 0.3", idf);
	start(&launcher, cmd, log);
	assert_int_equal(sw_supervisor_wait(&launcher, 5000), 1);
	read_text(idf, &b);
	pid = strtol(b.data, NULL, 10);
	assert_true(pid > 1);
	for (int i = 0; i < 100 && sw_supervisor_proc_stat((pid_t)pid, &ticks, NULL) < 0; i++)
		sleep_ms(10);
	assert_int_equal(sw_supervisor_proc_stat((pid_t)pid, &ticks, NULL), 0);
	sw_supervisor_boot_id(boot);
	snprintf(line, sizeof(line), "%ld %llu %s\n", pid, (unsigned long long)ticks, boot[0] ? boot : "-");
	assert_int_equal(sw_fs_write_atomic(pf, line, strlen(line), 0644, &err), 0);
	assert_int_equal(sw_supervisor_adopt(pf, &q, &err), 1);
	assert_int_equal(sw_supervisor_alive(&q), 1);
	assert_int_equal(sw_supervisor_wait(&q, 50), 0);
	/* It dies from outside: the adopted handle notices. */
	kill((pid_t)pid, SIGKILL);
	assert_int_equal(sw_supervisor_wait(&q, 5000), 1);
	assert_int_equal(sw_supervisor_alive(&q), 0);
	assert_int_equal(sw_supervisor_stop(&q, SIGTERM, 100, &killed, &err), 0);
	sw_supervisor_release(&q);
	sw_supervisor_release(&launcher);
	sw_buf_release(&b);
}

/* An adopted service whose leader (a wrapper shell) is killed and reaped by its parent before
 * the agent looks: what is left of its group (the real service, holding the port) is killed
 * too, or every restart would fail for as long as it lives. */
static void test_adopt_leader_reaped_first(void **state)
{
	struct sw_supervisor_proc launcher, q;
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf b = SW_BUF_INIT(4096);
	char log[PATH_MAX], pf[PATH_MAX], idf[PATH_MAX], cmd[PATH_MAX * 2];
	pid_t leader, member;
	int status, i;

	(void)state;
	path(log, "wrapped.log");
	path(pf, "wrapped.pid");
	path(idf, "wrapped.id");
	/* The leader is the shell, the member its child (same group and session). */
	snprintf(cmd, sizeof(cmd), "sleep 60 & echo $! > '%s'; wait", idf);
	start(&launcher, cmd, log);
	leader = launcher.pid;
	wait_for_text(idf, "\n");
	read_text(idf, &b);
	member = (pid_t)strtol(b.data, NULL, 10);
	assert_true(member > 1 && member != leader);
	assert_int_equal(sw_supervisor_pidfile_write(pf, &launcher, &err), 0);
	sw_supervisor_release(&launcher);
	/* A restarted agent adopts it: not its child. */
	assert_int_equal(sw_supervisor_adopt(pf, &q, &err), 1);
	assert_false(q.child);
	assert_int_equal(sw_supervisor_alive(&q), 1);
	/* The leader dies and its parent reaps it before the agent looks again. */
	kill(leader, SIGKILL);
	assert_int_equal(waitpid(leader, &status, 0), leader);
	assert_int_equal(sw_supervisor_alive(&q), 0);
	for (i = 0; i < 500 && !dead(member); i++)
		sleep_ms(10);
	if (!dead(member)) {
		kill(member, SIGKILL);
		fail_msg("pid %ld of the adopted group outlived its leader", (long)member);
	}
	sw_supervisor_release(&q);
	sw_buf_release(&b);
}

static void test_log_tail(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	char log[PATH_MAX], out[256], small[16];
	struct sw_buf b = SW_BUF_INIT(1 << 20);
	const char *text = "first\n--- slipway 2026-01-01T00:00:00Z: starting release abc\n"
			   "listening on 8001\r\nerror:\tcannot bind \x01port\n\n"
			   "--- slipway 2026-01-01T00:00:01Z: process exit 1 after 3 ms\nbye\n";

	(void)state;
	path(log, "tail.log");
	/* Missing: nothing. */
	assert_string_equal(sw_supervisor_log_tail(log, 0, 3, out, sizeof(out)), "");
	/* The service's last lines, not the agent's, control characters made harmless. */
	assert_int_equal(sw_fs_write_atomic(log, text, strlen(text), 0644, &err), 0);
	assert_string_equal(sw_supervisor_log_tail(log, 0, 3, out, sizeof(out)),
			    "listening on 8001 | error: cannot bind ?port | bye");
	assert_string_equal(sw_supervisor_log_tail(log, 0, 1, out, sizeof(out)), "bye");
	assert_string_equal(sw_supervisor_log_tail(log, 0, 0, out, sizeof(out)), "");
	/* Only what was written since an offset (a release's own lines), a repeated line once. */
	assert_string_equal(sw_supervisor_log_tail(log, strlen(text) - 4, 3, out, sizeof(out)), "bye");
	{
		const char *more = "fatal: no database\nfatal: no database\n--- slipway x: exit 1\nfatal: no database\n";
		int fd = open(log, O_WRONLY | O_APPEND);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, more, strlen(more)), (ssize_t)strlen(more));
		close(fd);
		assert_int_equal(sw_supervisor_log_size(log), strlen(text) + strlen(more));
		assert_string_equal(sw_supervisor_log_tail(log, strlen(text), 3, out, sizeof(out)), "fatal: no database");
		/* Rotated since (shorter than the offset): read from the start. */
		assert_string_equal(sw_supervisor_log_tail(log, 1 << 20, 1, out, sizeof(out)), "fatal: no database");
	}
	/* Cut to fit. */
	assert_string_equal(sw_supervisor_log_tail(log, 0, 3, small, sizeof(small)), "error: cannot b");
	/* A big log: only its end is read, and a line cut by that is dropped. */
	for (int i = 0; i < 2000; i++)
		sw_buf_printf(&b, "line %d of a long log\n", i);
	assert_int_equal(sw_fs_write_atomic(log, b.data, b.len, 0644, &err), 0);
	assert_string_equal(sw_supervisor_log_tail(log, 0, 2, out, sizeof(out)),
			    "line 1998 of a long log | line 1999 of a long log");
	sw_buf_release(&b);
	unlink(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_env_cwd_session),
		cmocka_unit_test(test_stop_grace_then_kill_group),
		cmocka_unit_test(test_exit_detection),
		cmocka_unit_test(test_spawn_errors),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_log_tail),
		cmocka_unit_test(test_rotate),
		cmocka_unit_test(test_rotate_while_writing),
		cmocka_unit_test(test_pidfile_adopt),
		cmocka_unit_test(test_adopt_orphan),
		cmocka_unit_test(test_adopt_leader_reaped_first),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("agent_supervisor", tests, setup, teardown);
}
