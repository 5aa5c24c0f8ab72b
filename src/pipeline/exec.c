/*
 * exec.c - one job's steps, attempts, log and reports (see exec.h).
 * Calls base/, spec/, pipeline/mask, pipeline/junit, pipeline/cache (output paths).
 */
#include "pipeline/exec.h"
#include "base/buf.h"
#include "base/fs.h"
#include "base/mem.h"
#include "base/num.h"
#include "pipeline/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SW_EXEC_READ_CHUNK 65536
#define SW_EXEC_READS_PER_WAKEUP 4     /* fairness between chatty jobs */
#define SW_EXEC_DRAIN_MAX ((size_t)4 << 20) /* after exit: what is left in the pipe, bounded */

static char sw_exec_buf[SW_EXEC_READ_CHUNK];

static void sw_exec_start_step(struct sw_exec *x, uint64_t now);

void sw_exec_init(struct sw_exec *x)
{
	memset(x, 0, sizeof(*x));
	x->log_fd = -1;
	sw_buf_init(&x->log_pending, 65536);
	x->exit_code = -1;
	x->proc.out_fd = x->proc.wait_fd = -1;
	sw_junit_init(&x->tests);
}

const char *sw_exec_step_name(const struct sw_spec_step *s, char *out, size_t size)
{
	const char *src = s->name && *s->name ? s->name : (s->run ? s->run : "");
	size_t n = strcspn(src, "\n");
	size_t lim = s->name && *s->name ? size - 1 : 60;

	if (n > lim)
		n = lim;
	if (n >= size)
		n = size - 1;
	memcpy(out, src, n);
	out[n] = '\0';
	if (!(s->name && *s->name) && src[n] != '\0' && n + 4 < size) {
		memcpy(out + n, "...", 4);
	}
	return out;
}

/* ---- log ---- */

static void sw_log_write_fd(struct sw_exec *x, const char *p, size_t n)
{
	while (n > 0 && x->log_fd >= 0 && !x->log_failed) {
		ssize_t w = write(x->log_fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			x->log_failed = true; /* disk full: keep running, stop logging */
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Create the log file (once) and write the lines kept until now. */
static void sw_log_open(struct sw_exec *x)
{
	if (x->log_fd >= 0 || x->log_failed)
		return;
	x->log_fd = open(x->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (x->log_fd < 0) {
		x->log_failed = true;
		return;
	}
	x->log_created = true;
	sw_log_write_fd(x, sw_buf_str(&x->log_pending), x->log_pending.len);
	sw_buf_release(&x->log_pending);
}

/* Bytes for the log: written if it exists, else kept (notes) until it does. */
static void sw_log_write_raw(struct sw_exec *x, const char *p, size_t n)
{
	if (x->log_fd < 0 && !x->log_failed) {
		if (sw_buf_append(&x->log_pending, p, n) == 0)
			return;
		sw_log_open(x); /* too much to keep: create the file now */
	}
	sw_log_write_fd(x, p, n);
}

/* Step output (already masked), counted against the cap. */
static void sw_log_output(struct sw_exec *x, const char *p, size_t n)
{
	uint64_t cap = x->log_cap ? x->log_cap : SW_EXEC_LOG_CAP_DEFAULT;

	if (x->on_output && n)
		x->on_output(x->ctx, x->index, p, n);
	if (x->log_truncated || n == 0)
		return;
	sw_log_open(x);
	if (x->log_bytes + n > cap) {
		size_t fit = (size_t)(cap - x->log_bytes);

		sw_log_write_raw(x, p, fit);
		sw_log_write_raw(x, SW_EXEC_LOG_TRUNCATED, strlen(SW_EXEC_LOG_TRUNCATED));
		x->log_bytes = cap;
		x->log_truncated = true;
		return;
	}
	sw_log_write_raw(x, p, n);
	x->log_bytes += n;
}

/* A "==> ..." line from Slipway itself: masked, not counted against the cap. */
__attribute__((format(printf, 2, 3))) static void sw_log_note(struct sw_exec *x, const char *fmt, ...)
{
	struct sw_buf raw = SW_BUF_INIT(8192), masked = SW_BUF_INIT(SW_BUF_UNLIMITED);
	va_list ap;

	sw_buf_puts(&raw, "==> ");
	va_start(ap, fmt);
	sw_buf_vprintf(&raw, fmt, ap);
	va_end(ap);
	sw_buf_putc(&raw, '\n');
	sw_mask_apply(x->mask, sw_buf_str(&raw), raw.len, &masked);
	sw_log_write_raw(x, sw_buf_str(&masked), masked.len);
	if (x->on_output)
		x->on_output(x->ctx, x->index, sw_buf_str(&masked), masked.len);
	sw_buf_release(&raw);
	sw_buf_release(&masked);
}

/* ---- output ---- */

static void sw_feed(struct sw_exec *x, const char *p, size_t n)
{
	size_t outlen;
	const char *out = sw_mask_stream_feed(&x->ms, p, n, &outlen);

	sw_log_output(x, out, outlen);
}

static void sw_close_output(struct sw_exec *x)
{
	size_t outlen;
	const char *out = sw_mask_stream_flush(&x->ms, &outlen);

	sw_log_output(x, out, outlen);
	if (x->proc.out_fd >= 0) {
		close(x->proc.out_fd);
		x->proc.out_fd = -1;
	}
}

void sw_exec_on_output(struct sw_exec *x)
{
	int i;

	for (i = 0; i < SW_EXEC_READS_PER_WAKEUP && x->proc.out_fd >= 0; i++) {
		ssize_t n = read(x->proc.out_fd, sw_exec_buf, sizeof(sw_exec_buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* EOF (or error): every writer closed it; the exit comes through wait_fd. */
			sw_close_output(x);
			return;
		}
		sw_feed(x, sw_exec_buf, (size_t)n);
		if ((size_t)n < sizeof(sw_exec_buf))
			return;
	}
}

/* After the leader exited and the group was killed: what is left in the pipe. */
static void sw_drain(struct sw_exec *x)
{
	size_t total = 0;

	while (x->proc.out_fd >= 0 && total < SW_EXEC_DRAIN_MAX) {
		ssize_t n = read(x->proc.out_fd, sw_exec_buf, sizeof(sw_exec_buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sw_feed(x, sw_exec_buf, (size_t)n);
		total += (size_t)n;
	}
	sw_close_output(x);
}

/* ---- reports and outputs ---- */

static void sw_glob_escape(struct sw_buf *b, const char *s)
{
	for (; *s; s++) {
		if (strchr("*?[]\\", *s))
			sw_buf_putc(b, '\\');
		sw_buf_putc(b, *s);
	}
}

/*
 * Parse every report into x->tests (replacing what an earlier attempt
 * found). strict: a pattern matching nothing or a malformed file is an
 * error (returned in msg); otherwise they are only noted in the log.
 */
static int sw_parse_reports(struct sw_exec *x, bool strict, struct sw_buf *msg)
{
	size_t i, k;
	int rc = 0;

	sw_junit_release(&x->tests);
	x->has_tests = false;
	for (i = 0; i < x->job->nreports; i++) {
		const char *pattern = x->job->reports[i];
		struct sw_buf pat = SW_BUF_INIT(8192);
		glob_t g;
		int grc;

		if (pattern[0] != '/') {
			sw_glob_escape(&pat, x->workdir);
			sw_buf_putc(&pat, '/');
		}
		sw_buf_puts(&pat, pattern);
		memset(&g, 0, sizeof(g));
		grc = sw_buf_failed(&pat) ? GLOB_NOMATCH : glob(sw_buf_str(&pat), 0, NULL, &g);
		sw_buf_release(&pat);
		if (grc != 0) {
			globfree(&g);
			if (strict && rc == 0) {
				sw_buf_printf(msg, "report '%s' not found in '%s'", pattern, x->workdir);
				rc = -1;
			}
			sw_log_note(x, "report '%s' not found", pattern);
			continue;
		}
		for (k = 0; k < g.gl_pathc; k++) {
			struct sw_err err = SW_ERR_INIT;
			char text[SW_ERR_MSG_MAX + SW_ERR_WHERE_MAX + 4];
			const char *shown = g.gl_pathv[k];
			size_t wl = strlen(x->workdir);

			if (!strncmp(shown, x->workdir, wl) && shown[wl] == '/')
				shown += wl + 1;
			if (sw_junit_parse_file(&x->tests, g.gl_pathv[k], &err) < 0) {
				/* Name the file as the job knows it (relative to the workdir). */
				if (!strncmp(err.where, g.gl_pathv[k], strlen(g.gl_pathv[k]))) {
					char rest[SW_ERR_WHERE_MAX];

					sw_strlcpy(rest, err.where + strlen(g.gl_pathv[k]), sizeof(rest));
					snprintf(err.where, sizeof(err.where), "%s%s", shown, rest);
				}
				sw_err_format(&err, text, sizeof(text));
				sw_log_note(x, "%s", text);
				if (strict && rc == 0) {
					sw_buf_puts(msg, text);
					rc = -1;
				}
				continue;
			}
			x->has_tests = true;
		}
		globfree(&g);
	}
	if (x->has_tests)
		sw_log_note(x, "tests: %llu passed, %llu failed, %llu skipped, %llu errors",
			    (unsigned long long)x->tests.passed, (unsigned long long)x->tests.failed,
			    (unsigned long long)x->tests.skipped, (unsigned long long)x->tests.errors);
	return rc;
}

static int sw_check_outputs(struct sw_exec *x, struct sw_buf *msg)
{
	size_t i;

	for (i = 0; i < x->job->noutputs; i++) {
		const char *o = x->job->outputs[i];
		struct sw_buf p = SW_BUF_INIT(8192);
		int ok;

		if (!sw_cache_output_ok(o)) {
			sw_buf_printf(msg, "output '%s' must be a relative path without '..'", o);
			return -1;
		}
		sw_buf_printf(&p, "%s/%s", x->base_dir ? x->base_dir : x->workdir, o);
		ok = !sw_buf_failed(&p) && sw_fs_exists(sw_buf_str(&p));
		sw_buf_release(&p);
		if (!ok) {
			sw_buf_printf(msg, "output '%s' not found after the steps passed", o);
			sw_log_note(x, "%s", sw_buf_str(msg));
			return -1;
		}
	}
	return 0;
}

/* ---- attempts ---- */

static void sw_close_log(struct sw_exec *x)
{
	if (x->log_fd >= 0) {
		close(x->log_fd);
		x->log_fd = -1;
	}
}

static void sw_attempt_end(struct sw_exec *x, bool ok, int exit_code, const char *why, uint64_t now)
{
	struct sw_buf msg = SW_BUF_INIT(4096);
	struct sw_exec_attempt *a;
	bool final;

	if (why)
		sw_buf_puts(&msg, why);
	if (ok && (sw_parse_reports(x, true, &msg) < 0 || sw_check_outputs(x, &msg) < 0))
		ok = false;
	if (!ok)
		sw_log_open(x); /* a failed attempt always leaves a log */
	x->attempts = sw_xreallocarray(x->attempts, x->nattempts + 1, sizeof(*x->attempts));
	a = &x->attempts[x->nattempts++];
	a->exit_code = exit_code;
	a->duration_ms = now - x->attempt_started_ms;
	a->message = ok ? NULL : sw_mask_strdup(x->mask, sw_buf_str(&msg));
	x->exit_code = exit_code;
	final = ok || x->canceled || x->attempt > x->job->retries;
	if (!final) {
		sw_buf_release(&msg);
		x->attempt++;
		x->step = 0;
		x->attempt_started_ms = now;
		sw_log_note(x, "attempt %u of %u", x->attempt, x->job->retries + 1);
		sw_exec_start_step(x, now);
		return;
	}
	if (!ok && !x->canceled)
		sw_parse_reports(x, false, NULL); /* failing tests are why it failed: count them */
	x->passed = ok;
	free(x->message);
	x->message = ok ? NULL : sw_mask_strdup(x->mask, sw_buf_str(&msg));
	x->duration_ms = now - x->started_ms;
	x->phase = SW_EXEC_DONE;
	sw_buf_release(&msg);
	sw_close_log(x);
}

static void sw_exec_start_step(struct sw_exec *x, uint64_t now)
{
	const struct sw_spec_step *s;
	struct sw_err err = SW_ERR_INIT;
	char name[128];
	uint64_t timeout;

	if (x->step >= x->job->nsteps) {
		sw_attempt_end(x, true, x->job->nsteps ? 0 : -1, NULL, now);
		return;
	}
	s = &x->job->steps[x->step];
	sw_exec_step_name(s, name, sizeof(name));
	sw_log_note(x, "step '%s'", name);
	x->timed_out = false;
	x->kill_at_ms = 0;
	x->step_started_ms = now;
	if (sw_proc_spawn(&x->proc, s->run ? s->run : "", x->workdir, x->envp, &err) < 0) {
		char text[SW_ERR_MSG_MAX + 64];

		snprintf(text, sizeof(text), "step '%s' could not start: %s", name, err.msg);
		sw_log_note(x, "%s", text);
		x->proc_live = false;
		sw_attempt_end(x, false, -1, text, now);
		return;
	}
	x->proc_live = true;
	timeout = s->timeout_ms ? s->timeout_ms : x->job->timeout_ms;
	x->deadline_ms = timeout ? now + timeout : 0;
}

int sw_exec_start(struct sw_exec *x, uint64_t now, struct sw_err *err)
{
	struct stat st;

	(void)err;
	sw_mask_stream_init(&x->ms, x->mask);
	x->phase = SW_EXEC_RUNNING;
	x->attempt = 1;
	x->step = 0;
	x->started_ms = x->attempt_started_ms = now;
	if (stat(x->workdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		struct sw_buf m = SW_BUF_INIT(4096);

		sw_buf_printf(&m, "workdir '%s' does not exist", x->workdir);
		sw_log_note(x, "%s", sw_buf_str(&m));
		x->attempt = x->job->retries + 1; /* retrying cannot help */
		sw_attempt_end(x, false, -1, sw_buf_str(&m), now);
		sw_buf_release(&m);
		return 0;
	}
	sw_exec_start_step(x, now);
	return 0;
}

void sw_exec_on_exit(struct sw_exec *x, uint64_t now)
{
	const struct sw_spec_step *s = &x->job->steps[x->step];
	char name[128], how[64], dur[32], text[512];
	int code;

	if (!x->proc_live)
		return;
	sw_proc_reap(&x->proc); /* kills what the step left running in its group */
	sw_drain(x);
	x->proc_live = false;
	x->deadline_ms = x->kill_at_ms = 0;
	code = sw_proc_exit_code(x->proc.status);
	sw_exec_step_name(s, name, sizeof(name));
	sw_proc_describe(x->proc.status, how, sizeof(how));
	if (x->canceled) {
		snprintf(text, sizeof(text), "canceled during step '%s' (%s)", name, how);
		sw_log_note(x, "%s", text);
		sw_attempt_end(x, false, code, text, now);
		return;
	}
	if (x->timed_out) {
		uint64_t t = s->timeout_ms ? s->timeout_ms : x->job->timeout_ms;

		snprintf(text, sizeof(text), "step '%s' timed out after %s (%s)", name,
			 sw_format_duration_ms(t, dur, sizeof(dur)), how);
		sw_log_note(x, "%s", text);
		sw_attempt_end(x, false, code, text, now);
		return;
	}
	if (WIFEXITED(x->proc.status) && WEXITSTATUS(x->proc.status) == 0) {
		x->step++;
		sw_exec_start_step(x, now);
		return;
	}
	snprintf(text, sizeof(text), "step '%s' failed: %s", name, how);
	sw_log_note(x, "%s", text);
	sw_attempt_end(x, false, code, text, now);
}

void sw_exec_on_time(struct sw_exec *x, uint64_t now)
{
	if (!x->proc_live)
		return;
	if (x->deadline_ms && now >= x->deadline_ms) {
		x->deadline_ms = 0;
		x->timed_out = true;
		sw_proc_signal(&x->proc, SIGTERM);
		x->kill_at_ms = now + SW_EXEC_KILL_GRACE_MS;
	}
	if (x->kill_at_ms && now >= x->kill_at_ms) {
		x->kill_at_ms = 0;
		sw_proc_signal(&x->proc, SIGKILL);
	}
}

uint64_t sw_exec_deadline(const struct sw_exec *x)
{
	uint64_t d = 0;

	if (!x->proc_live)
		return 0;
	if (x->deadline_ms)
		d = x->deadline_ms;
	if (x->kill_at_ms && (!d || x->kill_at_ms < d))
		d = x->kill_at_ms;
	return d;
}

void sw_exec_cancel(struct sw_exec *x, uint64_t now, bool hard)
{
	x->canceled = true;
	if (!x->proc_live)
		return;
	x->deadline_ms = 0;
	if (hard) {
		sw_proc_signal(&x->proc, SIGKILL);
		x->kill_at_ms = 0;
		return;
	}
	sw_proc_signal(&x->proc, SIGTERM);
	if (!x->kill_at_ms || x->kill_at_ms > now + SW_EXEC_KILL_GRACE_MS)
		x->kill_at_ms = now + SW_EXEC_KILL_GRACE_MS;
}

void sw_exec_release(struct sw_exec *x)
{
	size_t i;

	if (x->proc_live || x->proc.pid > 0)
		sw_proc_close(&x->proc);
	else if (x->proc.out_fd >= 0)
		close(x->proc.out_fd);
	x->proc_live = false;
	sw_close_log(x);
	sw_buf_release(&x->log_pending);
	if (x->phase != SW_EXEC_IDLE)
		sw_mask_stream_release(&x->ms);
	for (i = 0; i < x->nattempts; i++)
		free(x->attempts[i].message);
	free(x->attempts);
	free(x->message);
	sw_junit_release(&x->tests);
	x->attempts = NULL;
	x->nattempts = 0;
	x->message = NULL;
	x->phase = SW_EXEC_IDLE;
}

int sw_exec_log_tail(const char *path, unsigned nlines, struct sw_buf *out, struct sw_err *err)
{
	char buf[65536];
	struct stat st;
	off_t off;
	ssize_t n;
	size_t start;
	unsigned seen = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return sw_err_set(err, SW_EIO, "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		close(fd);
		return sw_err_set(err, SW_EIO, "cannot stat '%s': %s", path, strerror(errno));
	}
	off = st.st_size > (off_t)sizeof(buf) ? st.st_size - (off_t)sizeof(buf) : 0;
	n = pread(fd, buf, sizeof(buf), off);
	close(fd);
	if (n < 0)
		return sw_err_set(err, SW_EIO, "cannot read '%s': %s", path, strerror(errno));
	start = (size_t)n;
	if (start > 0 && buf[start - 1] == '\n')
		start--;
	while (start > 0) {
		if (buf[start - 1] == '\n' && ++seen >= nlines)
			break;
		start--;
	}
	sw_buf_append(out, buf + start, (size_t)n - start);
	return 0;
}
