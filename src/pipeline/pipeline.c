/*
 * pipeline.c - `slipway run` orchestration: job selection, secrets, the
 * poll() loop over running jobs, cache use, summary and events (see
 * pipeline.h).
 * Calls base/, spec/, store/, pipeline/{dag,exec,cache,mask,junit,secrets,gitrev}.
 */
#include "pipeline/pipeline.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/suggest.h"
#include "pipeline/cache.h"
#include "pipeline/dag.h"
#include "pipeline/exec.h"
#include "pipeline/gitrev.h"
#include "pipeline/mask.h"
#include "pipeline/secrets.h"
#include "store/store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define SW_NO_PIDFD_POLL_MS 20
#define SW_EVENT_MAX_FAILURES 100

struct sw_run_job {
	enum sw_job_status status;
	char *log_path;
	char key[SW_SHA256_HEX];
	bool has_key;
	struct sw_exec *x; /* while running */
	char **envp;
	size_t nenv;
	unsigned attempts;
	uint64_t duration_ms;
	int exit_code;
	char *message;
	struct sw_exec_attempt *tries;
	size_t ntries;
	struct sw_junit tests;
	bool has_tests;
};

struct sw_run {
	const struct sw_spec *spec;
	const struct sw_pipeline_opts *o;
	struct sw_run_job *jobs;
	const size_t **deps;
	size_t *ndeps;
	struct sw_dag dag;
	struct sw_mask mask;
	struct sw_secrets secrets;
	struct sw_cache cache;
	bool have_cache;
	char base_dir[PATH_MAX]; /* the spec's directory, absolute */
	char service_dir[PATH_MAX];
	char run_dir[PATH_MAX];
	char logs_dir[PATH_MAX];
	char run_id[64];
	char *env_path, *env_home, *env_tmpdir, *env_lang, *env_run_id, *env_service;
	size_t *running;
	size_t nrunning;
	bool canceled;
	bool made_run_dir; /* run_dir was created by this run */
	unsigned cancel_bytes;
};

#define SW_OBS(r, fn, ...)                                                   \
	do {                                                                 \
		if ((r)->o->obs && (r)->o->obs->fn)                          \
			(r)->o->obs->fn((r)->o->obs_ctx, __VA_ARGS__);       \
	} while (0)

__attribute__((format(printf, 2, 3))) static void sw_run_warn(struct sw_run *r, const char *fmt, ...)
{
	struct sw_buf b = SW_BUF_INIT(4096);
	char *masked;
	va_list ap;

	va_start(ap, fmt);
	sw_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	masked = sw_mask_strdup(&r->mask, sw_buf_str(&b));
	SW_OBS(r, warning, masked);
	free(masked);
	sw_buf_release(&b);
}

const char *sw_job_status_name(enum sw_job_status s)
{
	static const char *const names[] = {
		[SW_JOB_PENDING] = "pending", [SW_JOB_RUNNING] = "running", [SW_JOB_PASSED] = "passed",
		[SW_JOB_FAILED] = "failed",   [SW_JOB_SKIPPED] = "skipped", [SW_JOB_CACHED] = "cached",
		[SW_JOB_CANCELED] = "canceled",
	};

	return (unsigned)s < SW_ARRAY_LEN(names) ? names[s] : "unknown";
}

const char *sw_run_status_name(enum sw_run_status s)
{
	return s == SW_RUN_PASSED ? "passed" : s == SW_RUN_FAILED ? "failed" : "canceled";
}

int sw_pipeline_log_tail(const char *path, unsigned nlines, struct sw_buf *out, struct sw_err *err)
{
	return sw_exec_log_tail(path, nlines, out, err);
}

/* ---- job selection ---- */

static int sw_select_jobs(struct sw_run *r, struct sw_err *err)
{
	const struct sw_spec *spec = r->spec;
	size_t i, k;

	if (r->o->njobs == 0) {
		sw_dag_select_all(&r->dag);
		return 0;
	}
	for (k = 0; k < r->o->njobs; k++) {
		const char *want = r->o->jobs[k];
		long idx = sw_spec_job_index(spec, want);
		bool any = false;

		if (idx >= 0) {
			sw_dag_select(&r->dag, (size_t)idx, r->deps, r->ndeps);
			continue;
		}
		for (i = 0; i < spec->njobs; i++) {
			if (spec->jobs[i].base_name && !strcmp(spec->jobs[i].base_name, want)) {
				sw_dag_select(&r->dag, i, r->deps, r->ndeps);
				any = true;
			}
		}
		if (!any) {
			const char *best = NULL;
			size_t bestd = (size_t)-1;
			unsigned cap = 2 + (unsigned)(strlen(want) / 4);

			for (i = 0; i < spec->njobs; i++) {
				/* base names first: "test" rather than "test[os=a]" */
				const char *cand[2] = { spec->jobs[i].base_name, spec->jobs[i].name };
				int c;

				for (c = 0; c < 2; c++) {
					size_t d = cand[c] ? sw_suggest_distance(want, cand[c], cap) : (size_t)-1;

					if (d < bestd) {
						bestd = d;
						best = cand[c];
					}
				}
			}
			if (best && bestd <= cap)
				return sw_err_set(err, SW_ENOTFOUND, "unknown job '%s' in '%s' (did you mean '%s'?)", want,
						  spec->path, best);
			return sw_err_set(err, SW_ENOTFOUND, "unknown job '%s' in '%s'", want, spec->path);
		}
	}
	return 0;
}

/* ---- secrets ---- */

/* Resolve the secrets the selected jobs use; mask every value. */
static int sw_resolve_secrets(struct sw_run *r, struct sw_err *err)
{
	const struct sw_spec *spec = r->spec;
	bool *jobs = sw_xcalloc(spec->njobs ? spec->njobs : 1, sizeof(*jobs));
	size_t i;
	int rc;

	for (i = 0; i < spec->njobs; i++)
		jobs[i] = r->dag.state[i] != SW_DAG_UNSELECTED;
	rc = sw_secrets_load(&r->secrets, spec, jobs, r->base_dir, r->o->secret_file, err);
	free(jobs);
	for (i = 0; i < r->secrets.n && rc == 0; i++) {
		const struct sw_secret_val *s = &r->secrets.v[i];
		int m;

		if (!s->value || s->len == 0)
			continue;
		m = sw_mask_add(&r->mask, s->value, s->len);
		if (m < 0)
			rc = sw_err_set(err, SW_EINPUT, "secret '%s' is longer than %d bytes", spec->secrets[i].name,
					SW_MASK_MAX_LEN);
		else if (m > 0)
			sw_run_warn(r, "secret '%s' is shorter than %d bytes and is not masked in logs",
				    spec->secrets[i].name, SW_MASK_MIN_LEN);
	}
	return rc;
}

/* ---- environment ---- */

static char *sw_kv(const char *k, const char *v)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);

	sw_buf_printf(&b, "%s=%s", k, v);
	return sw_buf_detach(&b, NULL);
}

static void sw_env_put(char ***env, size_t *n, size_t *cap, char *kv)
{
	size_t klen = strcspn(kv, "="), i;

	for (i = 0; i < *n; i++) {
		if (!strncmp((*env)[i], kv, klen) && (*env)[i][klen] == '=') {
			explicit_bzero((*env)[i], strlen((*env)[i]));
			free((*env)[i]);
			(*env)[i] = kv;
			return;
		}
	}
	if (*n + 2 > *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*env = sw_xreallocarray(*env, *cap, sizeof(**env));
	}
	(*env)[(*n)++] = kv;
	(*env)[*n] = NULL;
}

static void sw_build_env(struct sw_run *r, size_t i)
{
	const struct sw_spec_job *job = &r->spec->jobs[i];
	struct sw_run_job *rj = &r->jobs[i];
	char **env = NULL;
	size_t n = 0, cap = 0, k;

	sw_env_put(&env, &n, &cap, sw_xstrdup(r->env_path));
	sw_env_put(&env, &n, &cap, sw_xstrdup(r->env_home));
	sw_env_put(&env, &n, &cap, sw_xstrdup(r->env_tmpdir));
	sw_env_put(&env, &n, &cap, sw_xstrdup(r->env_lang));
	for (k = 0; k < job->nenv; k++)
		sw_env_put(&env, &n, &cap, sw_kv(job->env[k].key, job->env[k].value ? job->env[k].value : ""));
	for (k = 0; k < job->nsecrets; k++) {
		const char *v = sw_secrets_value(&r->secrets, r->spec, job->secrets[k], NULL);

		if (v)
			sw_env_put(&env, &n, &cap, sw_kv(job->secrets[k], v));
	}
	sw_env_put(&env, &n, &cap, sw_xstrdup(r->env_run_id));
	sw_env_put(&env, &n, &cap, sw_xstrdup(r->env_service));
	sw_env_put(&env, &n, &cap, sw_kv("SLIPWAY_JOB", job->name));
	rj->envp = env;
	rj->nenv = n;
}

static void sw_free_env(struct sw_run_job *rj)
{
	size_t k;

	for (k = 0; k < rj->nenv; k++) {
		explicit_bzero(rj->envp[k], strlen(rj->envp[k]));
		free(rj->envp[k]);
	}
	free(rj->envp);
	rj->envp = NULL;
	rj->nenv = 0;
}

/* ---- paths ---- */

static bool sw_path_component_ok(const char *s)
{
	return *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/') && strlen(s) < 128;
}

static char *sw_log_path(struct sw_run *r, size_t i)
{
	const char *name = r->spec->jobs[i].name;
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	bool changed = false;
	const char *p;

	sw_buf_printf(&b, "%s/", r->logs_dir);
	for (p = name; *p && p - name < 200; p++) {
		unsigned char c = (unsigned char)*p;

		if (isalnum(c) || strchr("._=,+@[]-", c)) {
			sw_buf_putc(&b, (char)c);
		} else {
			sw_buf_putc(&b, '_');
			changed = true;
		}
	}
	if (*p || !strcmp(name, ".") || !strcmp(name, "..") || name[0] == '.')
		changed = true;
	if (changed)
		sw_buf_printf(&b, "-%zu", i);
	sw_buf_puts(&b, ".log");
	return sw_buf_detach(&b, NULL);
}

static void sw_job_workdir(const struct sw_run *r, const struct sw_spec_job *job, char *out, size_t size)
{
	const char *w = job->workdir && *job->workdir ? job->workdir : ".";

	if (w[0] == '/')
		snprintf(out, size, "%s", w);
	else if (!strcmp(w, "."))
		snprintf(out, size, "%s", r->base_dir);
	else
		snprintf(out, size, "%s/%s", r->base_dir, w);
	/* No trailing slash: reports and cache inputs are reported relative to it. */
	{
		size_t n = strlen(out);

		while (n > 1 && out[n - 1] == '/')
			out[--n] = '\0';
	}
}

static void sw_make_run_id(char *out, size_t size)
{
	unsigned char rnd[3] = { 0, 0, 0 };
	int64_t now = sw_clock_wall_ms();
	time_t t = (time_t)(now / 1000);
	struct tm tm;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t m = sw_clock_mono_ms() ^ ((uint64_t)getpid() << 8);

		rnd[0] = (unsigned char)m;
		rnd[1] = (unsigned char)(m >> 8);
		rnd[2] = (unsigned char)(m >> 16);
	}
	gmtime_r(&t, &tm);
	snprintf(out, size, "%04d%02d%02dT%02d%02d%02dZ-%02x%02x%02x", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, rnd[0], rnd[1], rnd[2]);
}

/* ---- running jobs ---- */

static void sw_job_done(struct sw_run *r, size_t i)
{
	struct sw_run_job *rj = &r->jobs[i];
	struct sw_pipeline_job_info info = {
		.index = i,
		.name = r->spec->jobs[i].name,
		.status = rj->status,
		.attempts = rj->attempts,
		.duration_ms = rj->duration_ms,
		.exit_code = rj->exit_code,
		.message = rj->message,
		.log_path = rj->log_path,
	};

	if (rj->status == SW_JOB_SKIPPED && r->dag.blocker[i] != SW_DAG_NONE)
		info.blocker = r->spec->jobs[r->dag.blocker[i]].name;
	SW_OBS(r, job_finished, &info);
}

static void sw_job_fail_now(struct sw_run *r, size_t i, const char *msg)
{
	struct sw_run_job *rj = &r->jobs[i];

	rj->status = SW_JOB_FAILED;
	rj->message = sw_mask_strdup(&r->mask, msg);
	sw_dag_finish(&r->dag, i, SW_DAG_FAILED);
	sw_job_done(r, i);
}

static void sw_on_output(void *ctx, size_t index, const char *data, size_t len)
{
	struct sw_run *r = ctx;

	SW_OBS(r, job_output, index, r->spec->jobs[index].name, data, len);
}

/* Try the cache; true if the job was restored from it (and is finished). */
static bool sw_try_cache(struct sw_run *r, size_t i, uint64_t now)
{
	const struct sw_spec_job *job = &r->spec->jobs[i];
	struct sw_run_job *rj = &r->jobs[i];
	const char **keys, **names;
	struct sw_err err = SW_ERR_INIT;
	size_t k;
	int rc;

	if (!r->have_cache || job->ncache == 0)
		return false;
	keys = sw_xcalloc(job->ndeps ? job->ndeps : 1, sizeof(*keys));
	names = sw_xcalloc(job->ndeps ? job->ndeps : 1, sizeof(*names));
	for (k = 0; k < job->ndeps; k++) {
		keys[k] = r->jobs[job->deps[k]].has_key ? r->jobs[job->deps[k]].key : NULL;
		names[k] = r->spec->jobs[job->deps[k]].name;
	}
	rc = sw_cache_key(job, r->base_dir, keys, names, job->ndeps, rj->key, &err);
	free(keys);
	free(names);
	if (rc < 0) {
		sw_run_warn(r, "job '%s': cache key not computed, running it: %s", job->name, err.msg);
		return false;
	}
	rj->has_key = true;
	if (r->o->no_cache || !sw_cache_has(&r->cache, rj->key))
		return false;
	if (sw_cache_restore(&r->cache, rj->key, r->base_dir, &err) < 0) {
		sw_run_warn(r, "job '%s': cache entry %.12s not restored, running it: %s", job->name, rj->key, err.msg);
		return false;
	}
	{
		/* A plain write: a log is not worth an fsync per cached job. */
		char note[128];
		int n = snprintf(note, sizeof(note), "==> restored from cache entry %s\n", rj->key);
		int fd = open(rj->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd >= 0) {
			if (write(fd, note, (size_t)n) != n)
				sw_run_warn(r, "cannot write log '%s'", rj->log_path);
			close(fd);
		}
	}
	rj->status = SW_JOB_CACHED;
	rj->exit_code = -1;
	rj->duration_ms = sw_clock_mono_ms() - now;
	sw_dag_finish(&r->dag, i, SW_DAG_PASSED);
	sw_job_done(r, i);
	return true;
}

static void sw_finish_exec(struct sw_run *r, size_t i);

static void sw_start_job(struct sw_run *r, size_t i, uint64_t now)
{
	const struct sw_spec_job *job = &r->spec->jobs[i];
	struct sw_run_job *rj = &r->jobs[i];
	struct sw_err err = SW_ERR_INIT;
	char workdir[PATH_MAX];
	struct sw_exec *x;

	rj->status = SW_JOB_RUNNING;
	rj->log_path = sw_log_path(r, i);
	SW_OBS(r, job_started, i, job->name, now);
	sw_job_workdir(r, job, workdir, sizeof(workdir));
	if (sw_try_cache(r, i, now))
		return;
	sw_build_env(r, i);
	x = sw_xmalloc(sizeof(*x));
	sw_exec_init(x);
	x->job = job;
	x->index = i;
	x->workdir = sw_xstrdup(workdir);
	x->base_dir = r->base_dir;
	x->envp = rj->envp;
	x->mask = &r->mask;
	x->log_path = rj->log_path;
	x->log_cap = r->o->log_cap;
	x->on_output = r->o->stream_output ? sw_on_output : NULL;
	x->ctx = r;
	rj->x = x;
	if (sw_exec_start(x, now, &err) < 0) {
		free((char *)x->workdir);
		sw_exec_release(x);
		free(x);
		rj->x = NULL;
		sw_free_env(rj);
		sw_job_fail_now(r, i, err.msg);
		return;
	}
	if (x->phase == SW_EXEC_DONE) {
		sw_finish_exec(r, i);
		return;
	}
	r->running[r->nrunning++] = i;
}

/* The exec of job i is DONE: take its results, store outputs, tell the DAG. */
static void sw_finish_exec(struct sw_run *r, size_t i)
{
	struct sw_run_job *rj = &r->jobs[i];
	struct sw_exec *x = rj->x;
	enum sw_dag_state result;

	rj->attempts = (unsigned)x->nattempts;
	rj->duration_ms = x->duration_ms;
	rj->exit_code = x->exit_code;
	rj->message = x->message;
	x->message = NULL;
	rj->tries = x->attempts;
	rj->ntries = x->nattempts;
	x->attempts = NULL;
	x->nattempts = 0;
	rj->tests = x->tests;
	rj->has_tests = x->has_tests;
	if (!x->log_created) { /* passed without a byte of output: no log file */
		free(rj->log_path);
		rj->log_path = NULL;
	}
	sw_junit_init(&x->tests);
	if (x->passed) {
		rj->status = SW_JOB_PASSED;
		result = SW_DAG_PASSED;
		if (rj->has_key) {
			struct sw_err err = SW_ERR_INIT;

			if (sw_cache_store(&r->cache, rj->key, x->job, r->base_dir, r->run_id, &err) < 0)
				sw_run_warn(r, "job '%s': outputs not cached: %s", x->job->name, err.msg);
		}
	} else if (x->canceled) {
		rj->status = SW_JOB_CANCELED;
		result = SW_DAG_CANCELED;
	} else {
		rj->status = SW_JOB_FAILED;
		result = SW_DAG_FAILED;
	}
	free((char *)x->workdir);
	sw_exec_release(x);
	free(x);
	rj->x = NULL;
	sw_free_env(rj);
	sw_dag_finish(&r->dag, i, result);
	sw_job_done(r, i);
}

static void sw_start_ready(struct sw_run *r)
{
	size_t i;

	while (!r->canceled && (i = sw_dag_next(&r->dag)) != SW_DAG_NONE)
		sw_start_job(r, i, sw_clock_mono_ms());
}

static void sw_cancel_all(struct sw_run *r, uint64_t now, bool hard)
{
	size_t k;

	if (!r->canceled) {
		r->canceled = true;
		sw_dag_cancel(&r->dag);
	}
	for (k = 0; k < r->nrunning; k++)
		sw_exec_cancel(r->jobs[r->running[k]].x, now, hard);
}

static void sw_drain_cancel_fd(struct sw_run *r)
{
	char buf[64];
	ssize_t n;

	while ((n = read(r->o->cancel_fd, buf, sizeof(buf))) > 0)
		r->cancel_bytes += (unsigned)n;
	if (n == 0)
		r->cancel_bytes++; /* the writer closed it: treat as a cancel */
}

static void sw_run_loop(struct sw_run *r)
{
	size_t cap = 1 + 2 * (r->dag.max_running ? r->dag.max_running : 1);
	struct pollfd *pfd = sw_xcalloc(cap, sizeof(*pfd));
	int *slot_out = sw_xcalloc(cap, sizeof(int)), *slot_wait = sw_xcalloc(cap, sizeof(int));
	uint64_t tick = r->o->tick_ms, next_tick = tick ? sw_clock_mono_ms() + tick : 0;
	bool cancel_open = r->o->cancel_fd >= 0;

	for (;;) {
		size_t k, np = 0;
		uint64_t now, wake = 0;
		int timeout = -1, pr, cancel_slot = -1;
		bool no_pidfd = false;

		sw_start_ready(r);
		if (r->nrunning == 0) {
			SW_BUG_ON(!sw_dag_done(&r->dag));
			break;
		}
		if (cancel_open) {
			cancel_slot = (int)np;
			pfd[np++] = (struct pollfd){ .fd = r->o->cancel_fd, .events = POLLIN };
		}
		for (k = 0; k < r->nrunning; k++) {
			struct sw_exec *x = r->jobs[r->running[k]].x;
			uint64_t d = sw_exec_deadline(x);

			slot_out[k] = slot_wait[k] = -1;
			if (x->proc.out_fd >= 0) {
				slot_out[k] = (int)np;
				pfd[np++] = (struct pollfd){ .fd = x->proc.out_fd, .events = POLLIN };
			}
			if (x->proc.wait_fd >= 0) {
				slot_wait[k] = (int)np;
				pfd[np++] = (struct pollfd){ .fd = x->proc.wait_fd, .events = POLLIN };
			} else if (x->proc_live) {
				no_pidfd = true;
			}
			if (d && (!wake || d < wake))
				wake = d;
		}
		if (next_tick && (!wake || next_tick < wake))
			wake = next_tick;
		now = sw_clock_mono_ms();
		if (wake)
			timeout = wake <= now ? 0 : (wake - now > 60000 ? 60000 : (int)(wake - now));
		if (no_pidfd && (timeout < 0 || timeout > SW_NO_PIDFD_POLL_MS))
			timeout = SW_NO_PIDFD_POLL_MS;
		pr = poll(pfd, np, timeout);
		if (pr < 0 && errno != EINTR)
			sw_die("poll: %s", strerror(errno));
		now = sw_clock_mono_ms();
		if (pr > 0 && cancel_slot >= 0 && pfd[cancel_slot].revents) {
			unsigned before = r->cancel_bytes;

			sw_drain_cancel_fd(r);
			if (pfd[cancel_slot].revents & (POLLHUP | POLLERR | POLLNVAL))
				cancel_open = false;
			if (r->cancel_bytes > before)
				sw_cancel_all(r, now, r->cancel_bytes > 1);
		}
		for (k = 0; k < r->nrunning; k++) {
			struct sw_exec *x = r->jobs[r->running[k]].x;
			bool exited = false;

			if (pr > 0 && slot_out[k] >= 0 && pfd[slot_out[k]].revents)
				sw_exec_on_output(x);
			if (pr > 0 && slot_wait[k] >= 0 && pfd[slot_wait[k]].revents)
				exited = true;
			else if (slot_wait[k] < 0 && x->proc_live && sw_proc_exited(&x->proc))
				exited = true;
			if (exited)
				sw_exec_on_exit(x, now);
			sw_exec_on_time(x, now);
		}
		/* Finish what is done (compacting the running list). */
		for (k = 0; k < r->nrunning;) {
			size_t i = r->running[k];

			if (r->jobs[i].x->phase == SW_EXEC_DONE) {
				r->running[k] = r->running[--r->nrunning];
				sw_finish_exec(r, i);
			} else {
				k++;
			}
		}
		if (next_tick && now >= next_tick) {
			SW_OBS(r, tick, now);
			next_tick = now + tick;
		}
	}
	free(pfd);
	free(slot_out);
	free(slot_wait);
}

/* ---- summary and events ---- */

static json_t *sw_tests_json(const struct sw_run *r, const struct sw_junit *t, size_t max_names)
{
	json_t *names = json_array();
	size_t i;

	for (i = 0; i < t->nnames && i < max_names; i++) {
		char *m = sw_mask_strdup(&r->mask, t->names[i]);

		json_array_append_new(names, json_string(m));
		free(m);
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:o}", "passed", (json_int_t)t->passed, "failed",
			 (json_int_t)t->failed, "skipped", (json_int_t)t->skipped, "errors", (json_int_t)t->errors,
			 "failures", names);
}

static json_t *sw_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *sw_build_summary(struct sw_run *r, enum sw_run_status status, int64_t started, int64_t finished,
				uint64_t duration, const char *digest, const struct sw_gitrev_state *git, int git_known,
				struct sw_junit *all)
{
	char t0[SW_TIME_STR_MAX], t1[SW_TIME_STR_MAX];
	json_t *jobs = json_array(), *sum;
	size_t i, k;

	for (i = 0; i < r->spec->njobs; i++) {
		struct sw_run_job *rj = &r->jobs[i];
		json_t *j, *tries;

		if (r->dag.state[i] == SW_DAG_UNSELECTED)
			continue;
		j = json_pack("{s:s, s:s, s:i, s:I, s:o, s:o, s:o}", "name", r->spec->jobs[i].name, "status",
			      sw_job_status_name(rj->status), "attempts", (int)rj->attempts, "duration_ms",
			      (json_int_t)rj->duration_ms, "exit_code",
			      rj->exit_code >= 0 ? json_integer(rj->exit_code) : json_null(), "log",
			      sw_str_or_null(rj->log_path), "message", sw_str_or_null(rj->message));
		if (rj->status == SW_JOB_SKIPPED && r->dag.blocker[i] != SW_DAG_NONE)
			json_object_set_new(j, "needs_failed", json_string(r->spec->jobs[r->dag.blocker[i]].name));
		if (rj->has_key)
			json_object_set_new(j, "cache_key", json_string(rj->key));
		if (rj->has_tests) {
			json_object_set_new(j, "tests", sw_tests_json(r, &rj->tests, SW_JUNIT_MAX_NAMES));
			sw_junit_merge(all, &rj->tests);
		}
		tries = json_array();
		for (k = 0; k < rj->ntries; k++)
			json_array_append_new(tries, json_pack("{s:o, s:I, s:o}", "exit_code",
							       rj->tries[k].exit_code >= 0
								       ? json_integer(rj->tries[k].exit_code)
								       : json_null(),
							       "duration_ms", (json_int_t)rj->tries[k].duration_ms,
							       "message", sw_str_or_null(rj->tries[k].message)));
		json_object_set_new(j, "tries", tries);
		json_array_append_new(jobs, j);
	}
	sum = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o}", "run_id", r->run_id, "service",
			r->spec->service, "status", sw_run_status_name(status), "started",
			sw_clock_format_utc(started, t0, sizeof(t0)), "finished",
			sw_clock_format_utc(finished, t1, sizeof(t1)), "duration_ms", (json_int_t)duration, "jobs", jobs,
			"tests", sw_tests_json(r, all, SW_JUNIT_MAX_NAMES), "spec_digest", sw_str_or_null(digest),
			"git_commit", sw_str_or_null(git->found ? git->commit : NULL));
	/* The tree the outputs were built from: `slipway release` refuses to sign them for another one. */
	json_object_set_new(sum, "git_dirty", git->found && git_known ? json_boolean(git->dirty) : json_null());
	json_object_set_new(sum, "git_changes", sw_str_or_null(git->found && git->dirty ? git->changes : NULL));
	return sum;
}

static int sw_append_finish_events(struct sw_run *r, struct sw_store *st, const char *actor, json_t *summary,
				   struct sw_err *err)
{
	char subject[128];
	json_t *jobs = json_object_get(summary, "jobs"), *j, *counts, *payload, *tests;
	size_t i;
	int rc = 0;

	snprintf(subject, sizeof(subject), "run/%s", r->run_id);
	if (sw_store_begin(st, err) < 0)
		return -1;
	counts = json_pack("{s:i, s:i, s:i, s:i, s:i}", "passed", 0, "failed", 0, "skipped", 0, "cached", 0,
			   "canceled", 0);
	json_array_foreach(jobs, i, j) {
		const char *status = sw_json_str(j, "status");

		payload = json_pack("{s:s, s:s, s:s, s:O, s:O, s:O}", "run_id", r->run_id, "service", r->spec->service,
				    "job", sw_json_str(j, "name"), "status", json_object_get(j, "status"), "attempts",
				    json_object_get(j, "attempts"), "duration_ms", json_object_get(j, "duration_ms"));
		json_object_set(payload, "exit_code", json_object_get(j, "exit_code"));
		rc = sw_store_append(st, actor, "job.finished", subject, payload, NULL, err);
		json_decref(payload);
		if (rc < 0)
			break;
		if (status)
			json_object_set_new(counts, status, json_integer(sw_json_int(counts, status, 0) + 1));
	}
	if (rc == 0) {
		json_t *all = json_object_get(summary, "tests");
		json_t *names = json_array(), *nm;
		size_t k;

		json_array_foreach(json_object_get(all, "failures"), k, nm) {
			if (k >= SW_EVENT_MAX_FAILURES)
				break;
			json_array_append(names, nm);
		}
		tests = json_pack("{s:O, s:O, s:O, s:O, s:o}", "passed", json_object_get(all, "passed"), "failed",
				  json_object_get(all, "failed"), "skipped", json_object_get(all, "skipped"), "errors",
				  json_object_get(all, "errors"), "failures", names);
		payload = json_pack("{s:s, s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "run_id", r->run_id, "service",
				    r->spec->service, "status", json_object_get(summary, "status"), "duration_ms",
				    json_object_get(summary, "duration_ms"), "jobs", counts, "tests", tests,
				    "spec_digest", json_object_get(summary, "spec_digest"), "git_commit",
				    json_object_get(summary, "git_commit"), "started", json_object_get(summary, "started"));
		json_decref(tests);
		rc = sw_store_append(st, actor, "pipeline.finished", subject, payload, NULL, err);
		json_decref(payload);
	}
	json_decref(counts);
	if (rc < 0) {
		sw_store_rollback(st);
		return -1;
	}
	return sw_store_commit(st, err);
}

/* ---- setup and teardown ---- */

static char *sw_env_inherit(const char *name, const char *def)
{
	const char *v = getenv(name);

	return sw_kv(name, v && *v ? v : def);
}

static int sw_run_setup(struct sw_run *r, struct sw_err *err)
{
	const struct sw_spec *spec = r->spec;
	char runs[PATH_MAX], cache[PATH_MAX];
	size_t i;

	if (!spec->service || !sw_path_component_ok(spec->service))
		return sw_err_set(err, SW_EINPUT, "service name '%s' cannot name a directory",
				  spec->service ? spec->service : "");
	if (!realpath(spec->dir && *spec->dir ? spec->dir : ".", r->base_dir))
		return sw_err_set(err, SW_EINPUT, "cannot resolve directory '%s': %s", spec->dir, strerror(errno));
	r->deps = sw_xcalloc(spec->njobs ? spec->njobs : 1, sizeof(*r->deps));
	r->ndeps = sw_xcalloc(spec->njobs ? spec->njobs : 1, sizeof(*r->ndeps));
	for (i = 0; i < spec->njobs; i++) {
		r->deps[i] = spec->jobs[i].deps;
		r->ndeps[i] = spec->jobs[i].ndeps;
	}
	if (sw_dag_init(&r->dag, spec->njobs, r->deps, r->ndeps, err) < 0)
		return -1;
	r->jobs = sw_xcalloc(spec->njobs ? spec->njobs : 1, sizeof(*r->jobs));
	for (i = 0; i < spec->njobs; i++) {
		r->jobs[i].exit_code = -1;
		sw_junit_init(&r->jobs[i].tests);
	}
	if (sw_select_jobs(r, err) < 0 || sw_resolve_secrets(r, err) < 0)
		return -1;

	sw_make_run_id(r->run_id, sizeof(r->run_id));
	if (sw_home_subdir(runs, sizeof(runs), "runs", err) < 0)
		return -1;
	if (sw_snprintf(r->service_dir, sizeof(r->service_dir), "%s/%s", runs, spec->service) < 0 ||
	    sw_snprintf(r->run_dir, sizeof(r->run_dir), "%s/%s", r->service_dir, r->run_id) < 0 ||
	    sw_snprintf(r->logs_dir, sizeof(r->logs_dir), "%s/logs", r->run_dir) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long under '%s'", runs);
	if (sw_fs_mkdirs(r->logs_dir, 0755, err) < 0)
		return -1;
	r->made_run_dir = true;
	if (sw_home_subdir(cache, sizeof(cache), "cache", err) < 0 || sw_cache_open(&r->cache, cache, err) < 0)
		return -1;
	r->have_cache = true;

	r->env_path = sw_env_inherit("PATH", "/usr/local/bin:/usr/bin:/bin");
	r->env_home = sw_env_inherit("HOME", "/");
	r->env_tmpdir = sw_env_inherit("TMPDIR", "/tmp");
	r->env_lang = sw_kv("LANG", "C.UTF-8");
	r->env_run_id = sw_kv("SLIPWAY_RUN_ID", r->run_id);
	r->env_service = sw_kv("SLIPWAY_SERVICE", spec->service);
	return 0;
}

static void sw_run_release(struct sw_run *r)
{
	size_t i, k;

	for (i = 0; r->jobs && i < r->spec->njobs; i++) {
		struct sw_run_job *rj = &r->jobs[i];

		if (rj->x) {
			free((char *)rj->x->workdir);
			sw_exec_release(rj->x);
			free(rj->x);
		}
		sw_free_env(rj);
		free(rj->log_path);
		free(rj->message);
		for (k = 0; k < rj->ntries; k++)
			free(rj->tries[k].message);
		free(rj->tries);
		sw_junit_release(&rj->tests);
	}
	free(r->jobs);
	sw_secrets_release(&r->secrets);
	sw_mask_release(&r->mask);
	sw_dag_release(&r->dag);
	free(r->deps);
	free(r->ndeps);
	free(r->running);
	free(r->env_path);
	free(r->env_home);
	free(r->env_tmpdir);
	free(r->env_lang);
	free(r->env_run_id);
	free(r->env_service);
}

int sw_pipeline_run(const struct sw_spec *spec, const struct sw_pipeline_opts *opts, struct sw_pipeline_result *res,
		    struct sw_err *err)
{
	struct sw_run r;
	struct sw_store *st = NULL;
	struct sw_junit all;
	char actor[256], subject[128], digest[SW_SHA256_HEX], latest[PATH_MAX];
	struct sw_gitrev_state git;
	bool have_digest, git_known, ran = false;
	int64_t started_wall;
	uint64_t started_mono;
	unsigned parallel = opts->parallel;
	json_t *payload;
	size_t i;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&r, 0, sizeof(r));
	r.spec = spec;
	r.o = opts;
	sw_mask_init(&r.mask);
	sw_junit_init(&all);
	if (parallel == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		parallel = n > 0 ? (unsigned)n : 1;
	}
	if (sw_run_setup(&r, err) < 0)
		goto out;
	sw_strlcpy(res->run_id, r.run_id, sizeof(res->run_id));
	sw_strlcpy(res->run_dir, r.run_dir, sizeof(res->run_dir));
	snprintf(res->summary_path, sizeof(res->summary_path), "%s/summary.json", r.run_dir);
	have_digest = sw_sha256_file_hex(spec->path, digest, NULL, NULL) == 0;
	/* The tree as the jobs start from it: what the outputs are built from. */
	git_known = sw_gitrev_state(r.base_dir, &git) == 0;
	if (!git_known) {
		sw_warn("git: cannot read the working tree state in '%s'; the run records only its commit", r.base_dir);
		git.found = sw_gitrev_head(r.base_dir, git.commit) == 0;
	}

	/* The store must take our events before anything runs. */
	sw_store_actor(actor, sizeof(actor));
	snprintf(subject, sizeof(subject), "run/%s", r.run_id);
	if (sw_store_open_default(&st, err) < 0)
		goto out;
	payload = json_pack("{s:s, s:s, s:i, s:o, s:o}", "run_id", r.run_id, "service", spec->service, "jobs",
			    (int)r.dag.selected, "spec_digest", have_digest ? json_string(digest) : json_null(),
			    "git_commit", git.found ? json_string(git.commit) : json_null());
	if (sw_store_append(st, actor, "pipeline.started", subject, payload, NULL, err) < 0) {
		json_decref(payload);
		sw_err_prefix(err, "cannot record the run");
		goto out;
	}
	json_decref(payload);

	ran = true;
	started_wall = sw_clock_wall_ms();
	started_mono = sw_clock_mono_ms();
	SW_OBS(&r, run_started, r.run_id, r.run_dir, r.dag.selected);
	r.running = sw_xcalloc(parallel, sizeof(*r.running));
	sw_dag_start(&r.dag, parallel, opts->keep_going);
	sw_run_loop(&r);

	/* Jobs that never started: skipped after a failure, or canceled. */
	for (i = 0; i < spec->njobs; i++) {
		if (r.dag.state[i] == SW_DAG_SKIPPED && r.jobs[i].status == SW_JOB_PENDING) {
			r.jobs[i].status = SW_JOB_SKIPPED;
			sw_job_done(&r, i);
		} else if (r.dag.state[i] == SW_DAG_CANCELED && r.jobs[i].status == SW_JOB_PENDING) {
			r.jobs[i].status = SW_JOB_CANCELED;
			sw_job_done(&r, i);
		}
	}
	res->status = SW_RUN_PASSED;
	for (i = 0; i < spec->njobs; i++)
		if (r.jobs[i].status == SW_JOB_FAILED || r.jobs[i].status == SW_JOB_SKIPPED)
			res->status = SW_RUN_FAILED;
	if (r.canceled)
		res->status = SW_RUN_CANCELED;

	res->summary = sw_build_summary(&r, res->status, started_wall, sw_clock_wall_ms(),
					sw_clock_mono_ms() - started_mono, have_digest ? digest : NULL,
					&git, git_known, &all);
	if (!res->summary) {
		sw_err_set(err, SW_EINTERNAL, "cannot build the run summary");
		goto out;
	}
	if (sw_json_write_file(res->summary_path, res->summary, 0644, err) < 0)
		goto out;
	if (sw_snprintf(latest, sizeof(latest), "%s/latest", r.service_dir) < 0) {
		sw_err_set(err, SW_EINPUT, "path too long under '%s'", r.service_dir);
		goto out;
	}
	if (sw_fs_write_atomic(latest, r.run_id, strlen(r.run_id), 0644, err) < 0)
		goto out;
	if (sw_append_finish_events(&r, st, actor, res->summary, err) < 0) {
		sw_err_prefix(err, "cannot record the end of run '%s'", r.run_id);
		goto out;
	}
	rc = 0;
out:
	if (!ran && r.made_run_dir)
		sw_fs_remove_tree(r.run_dir, NULL); /* nothing ran: leave no empty run behind */
	if (st)
		sw_store_close(st);
	sw_junit_release(&all);
	sw_run_release(&r);
	return rc;
}
