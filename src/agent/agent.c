/*
 * agent.c - `slipway agent`: enrollment, the long-poll / status / signal
 * threads, one worker thread per (service, slot), adoption of services
 * left running by a previous agent (see agent.h).
 *
 * Memory: the struct sw_agent itself is never freed: the poll thread may
 * still sit in a long-poll (up to the wait + 15 s) and the signal thread in
 * sigwait() when sw_agent_run() returns; both only touch that struct, so it
 * stays valid (and reachable, through sw_agent_instance) until the process
 * exits. Everything else (slots, runspecs, the installer) is freed.
 * Calls agent/ (all of it), base/, libc, pthreads.
 */
#include "agent/agent.h"
#include "agent/desired.h"
#include "agent/enroll.h"
#include "agent/health.h"
#include "agent/hook.h"
#include "agent/installer.h"
#include "agent/logread.h"
#include "agent/ports.h"
#include "agent/reconcile.h"
#include "agent/runspec.h"
#include "agent/signedrun.h"
#include "agent/supervisor.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/httpc.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/netaddr.h"
#include "base/num.h"
#include "base/tls.h"
#include "spec/spec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#ifndef SW_VERSION
#define SW_VERSION "0.1.0-dev"
#endif

#define SW_AGENT_THREAD_STACK ((size_t)512 << 10) /* virtual; only touched pages count */
#define SW_AGENT_FIRST_PROBE_MS 250
#define SW_AGENT_NO_HEALTH_MS 1000 /* without a health check: healthy after this long up */

extern char **environ;

struct sw_agent;

struct sw_slot {
	struct sw_agent *ag;
	struct sw_slot *next;
	pthread_t thr;
	bool thr_started;
	int wake_fd;
	char service[SW_SERVICE_NAME_MAX];
	char slot;
	char name[SW_SERVICE_NAME_MAX + 4]; /* "<service>-<slot>" */
	char log_path[PATH_MAX], pid_path[PATH_MAX], state_path[PATH_MAX];

	/* Target: written by main, read by the worker (ag->mu). */
	bool has_target, remove, t_active, t_valid;
	char t_digest[SW_SHA256_HEX];
	unsigned t_port;
	char t_run[SW_SHA256_HEX];     /* digest of t_claim, "" when none */
	struct sw_runspec *t_claim;    /* the row's run claim (desired.h), NULL when none */
	bool t_refused;                /* !t_valid because of a field outside the allow-list */
	char t_error[256];
	uint64_t t_seq;

	/* Published state: written by the worker, read by the status thread (ag->mu). */
	char p_state[16];
	char p_digest[SW_SHA256_HEX];
	unsigned p_port;
	long p_pid;
	char p_message[512];
	char p_verdict[16];          /* "", "unhealthy", "crashloop" (health.h) */
	char p_verdict_message[768]; /* why, for the deployment's reason */
	char p_running[SW_SHA256_HEX];
	char p_previous[SW_SHA256_HEX];
	bool finished;       /* the worker has ended */
	bool final_reported; /* a status report after that carried its last state */

	/* Worker-private. */
	struct sw_supervisor_proc proc;
	bool have_cur; /* cur_* describe what runs (or ran) in the slot */
	char cur_digest[SW_SHA256_HEX];
	unsigned cur_port;
	struct sw_runspec *cur_rs; /* from the signed release.json (signedrun.h) */
	char cur_claim[SW_SHA256_HEX]; /* the target's run claim accepted at that deploy; "" = none */
	char cur_dir[PATH_MAX];
	char prev_digest[SW_SHA256_HEX];
	struct sw_backoff backoff;
	struct sw_crashloop crash;
	char verdict_msg[768]; /* the latest verdict's explanation */
	char last_exit[400];   /* this release's last exit here, with its last output lines ("" none) */
	uint64_t log_since;    /* the log's size when the release started: its own lines come after */
	bool crashed;
	uint64_t restart_at;
	struct sw_health_state hs;
	uint64_t next_health;
	bool validate_pending, validate_failed, prune_pending;
	char validate_msg[512]; /* why validate failed: reported until the next deploy */
	uint64_t failed_seq, seen_seq, next_rotate;
};

struct sw_agent {
	char root[PATH_MAX];
	char server[1024];
	char token[512];
	char host_id[128];
	char name[256];
	char address[SW_NETADDR_MAX]; /* where services are reached; "" when unknown (heartbeat, enrollment) */
	uint64_t heartbeat_ms, poll_wait_s, log_max;
	unsigned log_keep;
	bool stop_on_exit;
	struct sw_httpc_tls tls; /* how to trust the server (identity, flags) */
	struct sw_installer inst;

	pthread_mutex_t mu;
	pthread_cond_t cv;      /* main: a new document, a finished slot, shutdown */
	pthread_cond_t tick_cv; /* poll/status sleeps; status kicks */
	bool shutdown;
	atomic_bool stopping; /* hooks poll it to give up early */
	enum sw_code fatal;
	char fatal_msg[SW_ERR_MSG_MAX];
	struct sw_desired *pending;
	bool status_dirty;
	int64_t generation;
	struct sw_slot *slots;
};

/* The one agent of this process; see the top of this file for why it is never freed. */
static struct sw_agent *sw_agent_instance;

/* ---- small helpers ---- */

static void sw_agent_deadline(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void sw_agent_timedwait(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t ms)
{
	struct timespec ts;

	sw_agent_deadline(&ts, ms);
	pthread_cond_timedwait(cv, mu, &ts);
}

static void sw_agent_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
}

static int sw_agent_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t a;
	int rc;

	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, SW_AGENT_THREAD_STACK);
	rc = pthread_create(t, &a, fn, arg);
	pthread_attr_destroy(&a);
	return rc;
}

void sw_agent_memory(uint64_t *hwm_kb, uint64_t *rss_kb)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	*hwm_kb = *rss_kb = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		uint64_t *dst = !strncmp(line, "VmHWM:", 6) ? hwm_kb : !strncmp(line, "VmRSS:", 6) ? rss_kb : NULL;
		const char *p = line + 6, *e;

		if (!dst)
			continue;
		while (*p == ' ' || *p == '\t')
			p++;
		for (e = p; *e >= '0' && *e <= '9'; e++)
			;
		sw_parse_u64(p, (size_t)(e - p), 0, UINT64_MAX, dst);
	}
	fclose(f);
}

static uint64_t sw_agent_disk_free(const char *root)
{
	struct statvfs sv;

	if (statvfs(root, &sv) < 0)
		return 0;
	return (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
}

static void sw_agent_fatal(struct sw_agent *ag, enum sw_code code, const char *msg)
{
	pthread_mutex_lock(&ag->mu);
	if (!ag->fatal) {
		ag->fatal = code;
		sw_strlcpy(ag->fatal_msg, msg, sizeof(ag->fatal_msg));
	}
	ag->shutdown = true;
	atomic_store(&ag->stopping, true);
	pthread_cond_broadcast(&ag->cv);
	pthread_cond_broadcast(&ag->tick_cv);
	pthread_mutex_unlock(&ag->mu);
}

static void sw_slot_kick(struct sw_slot *s)
{
	uint64_t one = 1;

	if (write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		sw_warn("%s: cannot wake the worker: %s", s->name, strerror(errno));
}

/* ---- publishing slot state (worker -> status thread) ---- */

static void sw_slot_publish(struct sw_slot *s, const char *state, const char *digest, unsigned port,
			    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void sw_slot_publish(struct sw_slot *s, const char *state, const char *digest, unsigned port,
			    const char *fmt, ...)
{
	struct sw_agent *ag = s->ag;
	enum sw_health_verdict v = SW_VERDICT_NONE;
	const char *verdict;
	char msg[512] = "";
	bool changed;
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	/* A verdict concerns the release that runs (or crash-loops) in the slot. */
	if (s->have_cur && digest && !strcmp(digest, s->cur_digest) &&
	    (!strcmp(state, "starting") || !strcmp(state, "healthy") || !strcmp(state, "unhealthy")))
		v = sw_health_verdict(&s->hs, &s->crash);
	verdict = sw_health_verdict_name(v);
	pthread_mutex_lock(&ag->mu);
	changed = strcmp(s->p_state, state) || strcmp(s->p_digest, digest ? digest : "") || strcmp(s->p_message, msg) ||
		  strcmp(s->p_verdict, verdict) || (v != SW_VERDICT_NONE && strcmp(s->p_verdict_message, s->verdict_msg));
	sw_strlcpy(s->p_verdict, verdict, sizeof(s->p_verdict));
	sw_strlcpy(s->p_verdict_message, v != SW_VERDICT_NONE ? s->verdict_msg : "", sizeof(s->p_verdict_message));
	sw_strlcpy(s->p_state, state, sizeof(s->p_state));
	sw_strlcpy(s->p_digest, digest ? digest : "", sizeof(s->p_digest));
	s->p_port = port;
	s->p_pid = s->proc.pid > 0 && !s->proc.exited ? (long)s->proc.pid : 0;
	sw_strlcpy(s->p_message, msg, sizeof(s->p_message));
	sw_strlcpy(s->p_running, s->have_cur && s->p_pid ? s->cur_digest : "", sizeof(s->p_running));
	sw_strlcpy(s->p_previous, s->prev_digest, sizeof(s->p_previous));
	if (changed) {
		ag->status_dirty = true;
		pthread_cond_broadcast(&ag->tick_cv);
	}
	pthread_mutex_unlock(&ag->mu);
	if (changed) {
		if (v != SW_VERDICT_NONE)
			sw_warn("%s: %s (release %.12s), verdict %s: %s", s->name, state, digest && digest[0] ? digest : "-",
				verdict, s->verdict_msg);
		else if (!strcmp(state, "failed") || !strcmp(state, "refused") || !strcmp(state, "unhealthy"))
			sw_warn("%s: %s (release %.12s)%s%s", s->name, state, digest && digest[0] ? digest : "-", msg[0] ? ": " : "",
				msg);
		else
			sw_info("%s: %s (release %.12s)%s%s", s->name, state, digest && digest[0] ? digest : "-", msg[0] ? ": " : "",
				msg);
	}
}

/* ---- the service environment ---- */

static char **sw_slot_env(struct sw_slot *s, struct sw_arena *a, const char *digest, unsigned port,
			  const struct sw_runspec *rs, const char *dir)
{
	static const char *const inherit[] = { "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR" };
	size_t n = 0, cap = SW_ARRAY_LEN(inherit) + 8 + rs->nenv + 1, i, j;
	char **env = sw_arena_allocarray(a, cap, sizeof(char *));
	bool have_path = false;

	for (i = 0; i < SW_ARRAY_LEN(inherit); i++) {
		const char *v = getenv(inherit[i]);

		if (!v)
			continue;
		if (!strcmp(inherit[i], "PATH"))
			have_path = true;
		env[n++] = sw_arena_printf(a, "%s=%s", inherit[i], v);
	}
	if (!have_path)
		env[n++] = sw_arena_strdup(a, "PATH=/usr/local/bin:/usr/bin:/bin");
	env[n++] = sw_arena_printf(a, "PORT=%u", port);
	env[n++] = sw_arena_printf(a, "SLIPWAY_SERVICE=%s", s->service);
	env[n++] = sw_arena_printf(a, "SLIPWAY_SLOT=%c", s->slot);
	env[n++] = sw_arena_printf(a, "SLIPWAY_RELEASE=%s", digest);
	env[n++] = sw_arena_printf(a, "SLIPWAY_RELEASE_DIR=%s", dir);
	env[n++] = sw_arena_printf(a, "SLIPWAY_HOST=%s", s->ag->name);
	/* Declared env overrides the inherited names, never PORT or SLIPWAY_*. */
	for (i = 0; i < rs->nenv; i++) {
		const char *name = rs->env[i].name;
		size_t len = strlen(name);

		if (!strcmp(name, "PORT") || !strncmp(name, "SLIPWAY_", 8))
			continue;
		for (j = 0; j < n; j++)
			if (!strncmp(env[j], name, len) && env[j][len] == '=')
				break;
		env[j] = sw_arena_printf(a, "%s=%s", name, rs->env[i].value);
		if (j == n)
			n++;
	}
	env[n] = NULL;
	return env;
}

static int sw_slot_open_log(struct sw_slot *s)
{
	return open(s->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
}

static void sw_slot_log_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sw_slot_log_line(int fd, const char *fmt, ...)
{
	char line[1024], ts[SW_TIME_STR_MAX];
	int n, m;
	va_list ap;

	if (fd < 0)
		return;
	sw_clock_format_utc(sw_clock_wall_ms(), ts, sizeof(ts));
	n = snprintf(line, sizeof(line), "--- slipway %s: ", ts);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(fd, line, (size_t)n) < 0) {
		/* a full log disk must not stop the service */
	}
}

/* ---- state files (what runs in a slot, for the next agent) ---- */

static int sw_slot_write_state(struct sw_slot *s, struct sw_err *err)
{
	char ts[SW_TIME_STR_MAX];
	json_t *run, *v;
	int rc;

	run = json_loads(s->cur_rs->json, 0, NULL);
	if (!run)
		return sw_err_set(err, SW_EINTERNAL, "cannot re-read the run object");
	sw_clock_format_utc(sw_clock_wall_ms(), ts, sizeof(ts));
	char slot[2] = { s->slot, '\0' };

	v = json_pack("{s:s, s:s, s:s, s:i, s:o, s:o, s:s, s:s}", "service", s->service, "slot", slot,
		      "digest", s->cur_digest, "port", (int)s->cur_port, "run", run, "claim",
		      s->cur_claim[0] ? json_string(s->cur_claim) : json_null(), "previous", s->prev_digest,
		      "started", ts);
	if (!v)
		return sw_err_set(err, SW_EINTERNAL, "cannot build the state file");
	rc = sw_json_write_file(s->state_path, v, 0644, err);
	json_decref(v);
	return rc;
}

static void sw_slot_remove_files(struct sw_slot *s)
{
	unlink(s->pid_path);
	unlink(s->state_path);
}

/* ---- worker steps ---- */

static void sw_slot_clear_proc(struct sw_slot *s)
{
	sw_supervisor_release(&s->proc);
	s->proc = (struct sw_supervisor_proc)SW_SUPERVISOR_PROC_INIT;
}

static bool sw_slot_alive(struct sw_slot *s)
{
	return s->proc.pid > 0 && !s->proc.exited && sw_supervisor_alive(&s->proc);
}

/* Set the explanation a verdict is reported with, plus the service's last output lines. */
static void sw_slot_verdict_msg(struct sw_slot *s, const char *tail, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sw_slot_verdict_msg(struct sw_slot *s, const char *tail, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->verdict_msg, sizeof(s->verdict_msg), fmt, ap);
	va_end(ap);
	n = strlen(s->verdict_msg);
	if (tail && *tail && n < sizeof(s->verdict_msg))
		snprintf(s->verdict_msg + n, sizeof(s->verdict_msg) - n, "; last output: %s", tail);
}

/* The process was seen dead: schedule a restart with backoff. */
static void sw_slot_on_exit(struct sw_slot *s)
{
	char desc[64], dur[32], tail[300];
	uint64_t now = sw_clock_mono_ms(), up = now - s->proc.started_mono_ms, delay;

	sw_supervisor_describe(&s->proc, desc, sizeof(desc));
	delay = sw_backoff_next(&s->backoff, up);
	sw_crashloop_exit(&s->crash, up, now);
	sw_supervisor_log_tail(s->log_path, s->log_since, 3, tail, sizeof(tail));
	if (sw_crashloop_active(&s->crash)) {
		char span[32];

		sw_slot_verdict_msg(s, tail,
				    "the process exited %u times in a row within %s, each less than 1m after it started "
				    "(last: %s after %llu ms)",
				    s->crash.exits, sw_format_duration_ms(now - s->crash.first_ms, span, sizeof(span)), desc,
				    (unsigned long long)up);
	}
	/* Why it exited, for the slot's messages until the release changes (a timeout's reason quotes them). */
	snprintf(s->last_exit, sizeof(s->last_exit), "process %s after %llu ms%s%s", desc, (unsigned long long)up,
		 tail[0] ? "; last output: " : "", tail);
	s->crashed = true;
	s->restart_at = now + delay;
	unlink(s->pid_path);
	sw_slot_clear_proc(s);
	{
		int fd = sw_slot_open_log(s);

		sw_slot_log_line(fd, "process %s after %llu ms; restarting in %s", desc, (unsigned long long)up,
				 sw_format_duration_ms(delay, dur, sizeof(dur)));
		if (fd >= 0)
			close(fd);
	}
	sw_slot_publish(s, "unhealthy", s->cur_digest, s->cur_port, "process %s; restarting in %s%s%s", desc, dur,
			tail[0] ? "; last output: " : "", tail);
}

/* Start cur_* (after a deploy or for a restart). */
static int sw_slot_start(struct sw_slot *s)
{
	struct sw_supervisor_spec spec;
	struct sw_err err = SW_ERR_INIT;
	struct sw_arena a;
	int rc = -1;

	sw_arena_init(&a);
	if (!s->cur_rs) {
		sw_err_set(&err, SW_EINTERNAL, "no run configuration for this slot");
		goto fail;
	}
	if (!sw_fs_is_dir(s->cur_dir)) {
		sw_err_set(&err, SW_ENOTFOUND, "release directory '%s' is missing", s->cur_dir);
		goto fail;
	}
	spec.command = s->cur_rs->command;
	spec.cwd = s->cur_dir;
	spec.log_path = s->log_path;
	spec.envp = sw_slot_env(s, &a, s->cur_digest, s->cur_port, s->cur_rs, s->cur_dir);
	if (sw_supervisor_spawn(&s->proc, &spec, &err) < 0)
		goto fail;
	if (sw_slot_write_state(s, &err) < 0 || sw_supervisor_pidfile_write(s->pid_path, &s->proc, &err) < 0)
		sw_warn("%s: the service runs but its pid file is not written (%s): a restarted agent will not adopt it",
			s->name, err.msg);
	s->crashed = false;
	sw_health_begin(&s->hs, sw_clock_mono_ms());
	s->next_health = sw_clock_mono_ms() +
			 (s->cur_rs->health == SW_RUNSPEC_HEALTH_NONE ? SW_AGENT_NO_HEALTH_MS : SW_AGENT_FIRST_PROBE_MS);
	if (s->last_exit[0])
		sw_slot_publish(s, "starting", s->cur_digest, s->cur_port, "pid %ld, restarted after %s", (long)s->proc.pid,
				s->last_exit);
	else
		sw_slot_publish(s, "starting", s->cur_digest, s->cur_port, "pid %ld", (long)s->proc.pid);
	rc = 0;
	goto out;
fail:
	s->crashed = true;
	s->restart_at = sw_clock_mono_ms() + sw_backoff_next(&s->backoff, 0);
	sw_slot_publish(s, "failed", s->cur_digest, s->cur_port, "cannot start: %s", err.msg);
out:
	sw_arena_release(&a);
	return rc;
}

static void sw_slot_stop(struct sw_slot *s, const char *why)
{
	struct sw_err err = SW_ERR_INIT;
	int sig = s->cur_rs ? s->cur_rs->stop_signal : SIGTERM;
	uint64_t grace = s->cur_rs ? s->cur_rs->stop_grace_ms : 10000;
	bool killed = false;
	int fd;

	if (!sw_slot_alive(s)) {
		sw_slot_clear_proc(s);
		return;
	}
	if (sw_supervisor_stop(&s->proc, sig, grace, &killed, &err) < 0)
		sw_warn("%s: %s", s->name, err.msg);
	fd = sw_slot_open_log(s);
	sw_slot_log_line(fd, "stopped pid %ld (%s)%s", (long)s->proc.pid, why, killed ? ", killed after the grace period" : "");
	if (fd >= 0)
		close(fd);
	sw_info("%s: stopped pid %ld (%s)%s", s->name, (long)s->proc.pid, why, killed ? ", SIGKILL after grace" : "");
	unlink(s->pid_path);
	sw_slot_clear_proc(s);
}

static int sw_slot_hook(struct sw_slot *s, const char *name, const char *cmd, const struct sw_runspec *rs,
			const char *dir, char **env, struct sw_err *err)
{
	char what[64];
	int fd, rc;

	if (!cmd)
		return 0;
	snprintf(what, sizeof(what), "hook '%s'", name);
	fd = sw_slot_open_log(s);
	sw_slot_log_line(fd, "running %s", what);
	rc = sw_hook_run(what, cmd, dir, env, rs->hook_timeout_ms, fd, &s->ag->stopping, err);
	if (rc < 0)
		sw_slot_log_line(fd, "%s", err->msg);
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * A stop request (SIGTERM/SIGINT) arrived: the deploy in progress ends
 * here, nothing new starts, what runs keeps running (docs/agent.md).
 */
static bool sw_slot_deploy_canceled(struct sw_slot *s, const char *digest, const char *step)
{
	int fd;

	if (!atomic_load(&s->ag->stopping))
		return false;
	fd = sw_slot_open_log(s);
	sw_slot_log_line(fd, "deploy of release %.12s canceled %s: the agent is stopping", digest, step);
	if (fd >= 0)
		close(fd);
	sw_info("%s: deploy of release %.12s canceled %s: the agent is stopping", s->name, digest, step);
	return true;
}

/*
 * What runs for target T: the run section of its signed release.json, and
 * T's run claim (the worker's own copy, may be NULL) must equal it. *rs
 * gets it; -1 with err (SW_EINTEGRITY: refused) otherwise.
 */
static int sw_slot_signed_run(struct sw_slot *s, const char *digest, const struct sw_runspec *claim,
			      struct sw_runspec **rs, struct sw_err *err)
{
	json_t *manifest = NULL;

	*rs = NULL;
	if (sw_installer_manifest(&s->ag->inst, s->service, digest, &manifest, err) < 0)
		return -1;
	*rs = sw_signedrun_from_manifest(manifest, err);
	json_decref(manifest);
	if (!*rs)
		return -1;
	if (sw_signedrun_check(claim, *rs, err) < 0) {
		sw_runspec_free(*rs);
		*rs = NULL;
		return -1;
	}
	return 0;
}

/*
 * Install target T, run the hooks, swap the process. claim is the worker's
 * own copy of T's run claim (consumed; NULL: none), claim_digest its digest.
 */
static void sw_slot_deploy(struct sw_slot *s, const char *digest, unsigned port, struct sw_runspec *claim,
			   const char *claim_digest, uint64_t seq)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_runspec *rs = NULL;
	char dir[PATH_MAX];
	struct sw_arena a;
	char **env;

	sw_arena_init(&a);
	if (sw_slot_deploy_canceled(s, digest, "before the install"))
		goto out;
	sw_slot_publish(s, "installing", digest, port, NULL);
	/* What runs is settled (and the server's claim checked) before the bundle is even fetched. */
	if (sw_slot_signed_run(s, digest, claim, &rs, &err) < 0 ||
	    sw_installer_install(&s->ag->inst, s->service, digest, dir, sizeof(dir), &err) < 0) {
		if (err.code == SW_ECANCELED || atomic_load(&s->ag->stopping)) {
			sw_slot_deploy_canceled(s, digest, "during the install");
			goto out;
		}
		s->failed_seq = seq;
		sw_slot_publish(s, err.code == SW_EINTEGRITY ? "refused" : "failed", digest, port, "%s", err.msg);
		goto out;
	}
	if (sw_slot_deploy_canceled(s, digest, "after the install"))
		goto out;
	env = sw_slot_env(s, &a, digest, port, rs, dir);
	if (sw_slot_hook(s, "before_install", rs->before_install, rs, dir, env, &err) < 0 ||
	    sw_slot_hook(s, "after_install", rs->after_install, rs, dir, env, &err) < 0)
		goto hook_failed;
	sw_slot_publish(s, "installed", digest, port, NULL);
	if (sw_slot_hook(s, "before_start", rs->before_start, rs, dir, env, &err) < 0)
		goto hook_failed;
	/* The last point where a stop request leaves the old process untouched. */
	if (sw_slot_deploy_canceled(s, digest, "before the swap"))
		goto out;
	sw_slot_stop(s, "replaced by a new release");
	if (s->have_cur && strcmp(s->cur_digest, digest))
		sw_strlcpy(s->prev_digest, s->cur_digest, sizeof(s->prev_digest));
	sw_runspec_free(s->cur_rs);
	s->cur_rs = rs;
	rs = NULL;
	s->have_cur = true;
	sw_strlcpy(s->cur_claim, claim_digest ? claim_digest : "", sizeof(s->cur_claim));
	sw_strlcpy(s->cur_digest, digest, sizeof(s->cur_digest));
	s->cur_port = port;
	sw_strlcpy(s->cur_dir, dir, sizeof(s->cur_dir));
	s->backoff.next_ms = 0;
	memset(&s->crash, 0, sizeof(s->crash)); /* a new release: its own verdicts */
	s->log_since = sw_supervisor_log_size(s->log_path);
	s->verdict_msg[0] = '\0';
	s->last_exit[0] = '\0';
	s->validate_pending = s->cur_rs->validate != NULL;
	s->validate_failed = false;
	s->prune_pending = true;
	{
		int fd = sw_slot_open_log(s);

		sw_slot_log_line(fd, "starting release %.12s on port %u", digest, port);
		if (fd >= 0)
			close(fd);
	}
	if (sw_slot_start(s) < 0)
		s->failed_seq = seq;
	goto out;
hook_failed:
	s->failed_seq = seq;
	if (err.code != SW_ECANCELED)
		sw_slot_publish(s, "failed", digest, port, "%s", err.msg);
out:
	sw_runspec_free(rs);
	sw_runspec_free(claim);
	sw_arena_release(&a);
}

/* Every digest a slot runs, is told to run, or keeps as its previous release. */
static void sw_slot_prune(struct sw_slot *s)
{
	struct sw_agent *ag = s->ag;
	struct sw_err err = SW_ERR_INIT;
	const char **use = NULL;
	size_t n = 0, cap = 0;
	struct sw_slot *o;

	pthread_mutex_lock(&ag->mu);
	for (o = ag->slots; o; o = o->next) {
		const char *d[4] = { o->p_digest, o->p_running, o->p_previous, o->has_target ? o->t_digest : "" };

		for (size_t i = 0; i < 4; i++) {
			if (!d[i][0])
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				use = sw_xreallocarray(use, cap, sizeof(*use));
			}
			use[n++] = sw_xstrdup(d[i]);
		}
	}
	pthread_mutex_unlock(&ag->mu);
	if (sw_installer_prune(&ag->inst, s->service, s->cur_rs->keep_releases, use, n, &err) < 0)
		sw_warn("%s: cannot prune old releases: %s", s->name, err.msg);
	for (size_t i = 0; i < n; i++)
		free((void *)use[i]);
	free(use);
}

/* One health check, and what follows from it (validate, prune). */
static void sw_slot_health(struct sw_slot *s)
{
	struct sw_health_probe p;
	enum sw_health_status before = s->hs.status, now_status;
	char detail[256];
	struct sw_arena a;
	uint64_t now;
	int ok, fd = -1;

	sw_arena_init(&a);
	p.kind = s->cur_rs->health;
	p.target = s->cur_rs->health_target;
	p.port = s->cur_port;
	p.timeout_ms = s->cur_rs->health_timeout_ms;
	p.cwd = s->cur_dir;
	p.envp = NULL;
	p.log_fd = -1;
	if (p.kind == SW_RUNSPEC_HEALTH_COMMAND) {
		p.envp = sw_slot_env(s, &a, s->cur_digest, s->cur_port, s->cur_rs, s->cur_dir);
		fd = sw_slot_open_log(s);
		p.log_fd = fd;
	}
	ok = sw_health_check(&p, detail, sizeof(detail));
	if (fd >= 0)
		close(fd);
	sw_arena_release(&a);
	now = sw_clock_mono_ms();
	now_status = sw_health_record(&s->hs, ok, now, s->cur_rs->health_start_period_ms, s->cur_rs->health_retries);
	s->next_health = now + s->cur_rs->health_interval_ms;
	if (!sw_slot_alive(s))
		return; /* died meanwhile: the exit path reports it */
	if (s->validate_failed) {
		/* Stays failed until the next deploy, also across restarts. */
		sw_slot_publish(s, "failed", s->cur_digest, s->cur_port, "%s", s->validate_msg);
		return;
	}
	if (now_status == SW_HEALTH_HEALTHY && s->validate_pending) {
		struct sw_err err = SW_ERR_INIT;
		char **env;

		sw_arena_init(&a);
		env = sw_slot_env(s, &a, s->cur_digest, s->cur_port, s->cur_rs, s->cur_dir);
		if (sw_slot_hook(s, "validate", s->cur_rs->validate, s->cur_rs, s->cur_dir, env, &err) < 0) {
			sw_arena_release(&a);
			if (err.code == SW_ECANCELED)
				return;
			s->validate_failed = true;
			sw_strlcpy(s->validate_msg, err.msg, sizeof(s->validate_msg));
			sw_slot_publish(s, "failed", s->cur_digest, s->cur_port, "%s", err.msg);
			return;
		}
		sw_arena_release(&a);
		s->validate_pending = false;
		before = SW_HEALTH_STARTING; /* publish healthy now */
	}
	if (now_status == SW_HEALTH_HEALTHY && s->validate_pending)
		return;
	if (now_status == SW_HEALTH_UNHEALTHY && !sw_crashloop_active(&s->crash)) {
		char tail[400];

		sw_slot_verdict_msg(s, sw_supervisor_log_tail(s->log_path, s->log_since, 3, tail, sizeof(tail)),
				    "health check failed %u time%s in a row: %s", s->hs.failures,
				    s->hs.failures == 1 ? "" : "s", detail);
	}
	if (now_status != before || now_status == SW_HEALTH_UNHEALTHY || before == SW_HEALTH_STARTING)
		sw_slot_publish(s, sw_health_status_name(now_status), s->cur_digest, s->cur_port, "%s%s%s",
				now_status == SW_HEALTH_HEALTHY ? "" : detail,
				now_status != SW_HEALTH_HEALTHY && s->last_exit[0] ? "; restarted after " : "",
				now_status != SW_HEALTH_HEALTHY ? s->last_exit : "");
	if (now_status == SW_HEALTH_HEALTHY && s->prune_pending) {
		s->prune_pending = false;
		sw_slot_prune(s);
	}
}

/* Wait for something to do: a kick, the process exiting, a timer. */
static void sw_slot_supervise(struct sw_slot *s)
{
	uint64_t now = sw_clock_mono_ms(), wait = 1000;
	struct pollfd pfd[2];
	nfds_t n = 0;
	bool alive = sw_slot_alive(s);

	if (s->proc.pid > 0 && !alive) {
		sw_slot_on_exit(s);
		return;
	}
	if (alive && sw_crashloop_running(&s->crash, now - s->proc.started_mono_ms)) {
		/* A run as long as the backoff's reset: no longer a crash loop; say so. */
		sw_slot_publish(s, sw_health_status_name(s->hs.status), s->cur_digest, s->cur_port, NULL);
		return;
	}
	if (alive && s->cur_rs) {
		if (now >= s->next_health) {
			sw_slot_health(s);
			return;
		}
		if (s->next_health - now < wait)
			wait = s->next_health - now;
	}
	if (s->crashed && s->restart_at > now && s->restart_at - now < wait)
		wait = s->restart_at - now;
	if (now >= s->next_rotate) {
		struct sw_err err = SW_ERR_INIT;

		if (sw_supervisor_rotate(s->log_path, s->ag->log_max, s->ag->log_keep, &err) < 0)
			sw_warn("%s: cannot rotate the log: %s", s->name, err.msg);
		s->next_rotate = now + 1000;
	}
	pfd[n].fd = s->wake_fd;
	pfd[n++].events = POLLIN;
	if (alive && s->proc.pidfd >= 0) {
		pfd[n].fd = s->proc.pidfd;
		pfd[n++].events = POLLIN;
	} else if (alive && wait > 200) {
		wait = 200; /* no pidfd: look again soon */
	}
	if (poll(pfd, n, (int)wait) > 0 && (pfd[0].revents & POLLIN)) {
		uint64_t v;

		if (read(s->wake_fd, &v, sizeof(v)) < 0) {
			/* nothing: the counter was already drained */
		}
	}
}

static void *sw_slot_worker(void *arg)
{
	struct sw_slot *s = arg;
	struct sw_agent *ag = s->ag;

	for (;;) {
		struct sw_reconcile_view v;
		enum sw_reconcile_step step;
		struct sw_runspec *claim = NULL;
		char digest[SW_SHA256_HEX] = "", claim_digest[SW_SHA256_HEX] = "", run_error[256] = "";
		bool refused = false;
		unsigned port = 0;
		uint64_t seq;
		bool alive = sw_slot_alive(s), new_seq;

		if (s->proc.pid > 0 && !alive) {
			sw_slot_on_exit(s);
			continue;
		}
		memset(&v, 0, sizeof(v));
		pthread_mutex_lock(&ag->mu);
		if (ag->shutdown) {
			pthread_mutex_unlock(&ag->mu);
			break;
		}
		v.has_target = s->has_target;
		v.remove = s->remove;
		v.target_valid = s->t_valid;
		v.target.digest = s->has_target ? s->t_digest : NULL;
		v.target.port = s->t_port;
		v.target.run = s->t_run[0] ? s->t_run : NULL;
		v.target_seq = s->t_seq;
		v.failed_seq = s->failed_seq;
		v.cur.digest = s->have_cur ? s->cur_digest : NULL;
		v.cur.port = s->cur_port;
		v.cur.run = s->cur_claim[0] ? s->cur_claim : NULL;
		v.proc_alive = alive;
		v.restart_due = s->crashed && sw_clock_mono_ms() >= s->restart_at;
		step = sw_reconcile_step(&v);
		seq = s->t_seq;
		new_seq = seq != s->seen_seq;
		s->seen_seq = seq;
		if (step == SW_STEP_DEPLOY) {
			struct sw_err err = SW_ERR_INIT;

			sw_strlcpy(digest, s->t_digest, sizeof(digest));
			port = s->t_port;
			if (s->t_claim) {
				sw_strlcpy(claim_digest, s->t_run, sizeof(claim_digest));
				claim = sw_runspec_clone(s->t_claim, &err);
				if (!claim) {
					snprintf(run_error, sizeof(run_error), "invalid run configuration: %s", err.msg);
					step = SW_STEP_REJECT;
				}
			}
		} else if (step == SW_STEP_REJECT) {
			sw_strlcpy(digest, s->t_digest, sizeof(digest));
			port = s->t_port;
			sw_strlcpy(run_error, s->t_error, sizeof(run_error));
			refused = s->t_refused;
		}
		pthread_mutex_unlock(&ag->mu);

		/* The server went back to what runs here (a rollback after a failed attempt): say how it is. */
		if (new_seq && step == SW_STEP_NONE && v.has_target && v.cur.digest && alive &&
		    sw_reconcile_satisfies(&v.cur, &v.target) && !s->validate_failed)
			sw_slot_publish(s, sw_health_status_name(s->hs.status), s->cur_digest, s->cur_port, NULL);

		switch (step) {
		case SW_STEP_DEPLOY:
			sw_slot_deploy(s, digest, port, claim, claim_digest[0] ? claim_digest : NULL, seq);
			break;
		case SW_STEP_RESTART:
			sw_slot_start(s);
			break;
		case SW_STEP_REJECT:
			s->failed_seq = seq;
			sw_slot_publish(s, refused ? "refused" : "failed", digest, port, "%s", run_error);
			break;
		case SW_STEP_STOP:
			sw_slot_stop(s, "removed from the desired state");
			break;
		case SW_STEP_DONE:
			sw_slot_remove_files(s);
			sw_slot_publish(s, "stopped", s->have_cur ? s->cur_digest : "", s->cur_port, NULL);
			pthread_mutex_lock(&ag->mu);
			if (s->remove) {
				s->finished = true;
				pthread_cond_broadcast(&ag->cv);
				pthread_mutex_unlock(&ag->mu);
				return NULL;
			}
			pthread_mutex_unlock(&ag->mu);
			break;
		case SW_STEP_NONE:
			sw_slot_supervise(s);
			break;
		}
	}
	/* The agent is stopping. */
	if (ag->stop_on_exit) {
		sw_slot_stop(s, "the agent is stopping");
		sw_slot_remove_files(s);
		sw_slot_publish(s, "stopped", s->have_cur ? s->cur_digest : "", s->cur_port, NULL);
	} else {
		sw_slot_clear_proc(s); /* keeps running; the next agent adopts it */
	}
	pthread_mutex_lock(&ag->mu);
	s->finished = true;
	pthread_cond_broadcast(&ag->cv);
	pthread_mutex_unlock(&ag->mu);
	return NULL;
}

/* ---- slots (main thread) ---- */

static struct sw_slot *sw_slot_new(struct sw_agent *ag, const char *service, char slot)
{
	struct sw_slot *s = sw_xcalloc(1, sizeof(*s));

	s->ag = ag;
	sw_strlcpy(s->service, service, sizeof(s->service));
	s->slot = slot;
	snprintf(s->name, sizeof(s->name), "%s-%c", service, slot);
	snprintf(s->log_path, sizeof(s->log_path), "%s/logs/%s.log", ag->root, s->name);
	snprintf(s->pid_path, sizeof(s->pid_path), "%s/run/%s.pid", ag->root, s->name);
	snprintf(s->state_path, sizeof(s->state_path), "%s/run/%s.json", ag->root, s->name);
	s->proc = (struct sw_supervisor_proc)SW_SUPERVISOR_PROC_INIT;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0)
		sw_die("cannot create an eventfd: %s", strerror(errno));
	sw_strlcpy(s->p_state, "pending", sizeof(s->p_state));
	return s;
}

static void sw_slot_free(struct sw_slot *s)
{
	if (s->thr_started)
		pthread_join(s->thr, NULL);
	sw_supervisor_release(&s->proc);
	sw_runspec_free(s->t_claim);
	sw_runspec_free(s->cur_rs);
	close(s->wake_fd);
	free(s);
}

/* Call with ag->mu held. */
static void sw_slot_launch(struct sw_agent *ag, struct sw_slot *s)
{
	int rc = sw_agent_thread(&s->thr, sw_slot_worker, s);

	if (rc != 0)
		sw_die("cannot start a worker thread for '%s': %s", s->name, strerror(rc));
	s->thr_started = true;
	s->next = ag->slots;
	ag->slots = s;
}

/* Call with ag->mu held. Takes row->claim. */
static void sw_slot_set_target(struct sw_slot *s, struct sw_desired_row *row)
{
	sw_runspec_free(s->t_claim);
	s->t_claim = row->claim;
	row->claim = NULL;
	s->has_target = true;
	s->remove = false;
	s->t_valid = !row->invalid;
	s->t_refused = row->refused;
	s->t_active = row->active;
	s->t_port = row->port;
	sw_strlcpy(s->t_digest, row->digest, sizeof(s->t_digest));
	sw_strlcpy(s->t_run, s->t_claim ? s->t_claim->digest : "", sizeof(s->t_run));
	sw_strlcpy(s->t_error, row->error, sizeof(s->t_error));
	s->t_seq++;
}

/* Join and free finished workers (all of them when `all`). Call with ag->mu held. */
static void sw_agent_reap(struct sw_agent *ag, bool all)
{
	struct sw_slot **pp = &ag->slots;

	while (*pp) {
		struct sw_slot *s = *pp;

		if (s->finished && (all || s->final_reported)) {
			*pp = s->next;
			pthread_mutex_unlock(&ag->mu);
			sw_slot_free(s);
			pthread_mutex_lock(&ag->mu);
		} else {
			pp = &s->next;
		}
	}
}

static struct sw_slot *sw_agent_find(struct sw_agent *ag, const char *service, char slot)
{
	struct sw_slot *s;

	for (s = ag->slots; s; s = s->next)
		if (!s->finished && s->slot == slot && !strcmp(s->service, service))
			return s;
	return NULL;
}

static void sw_agent_apply(struct sw_agent *ag, struct sw_desired *d)
{
	struct sw_slot *s;
	size_t i;

	pthread_mutex_lock(&ag->mu);
	/* A finished worker of a slot that comes back is joined first. */
	for (s = ag->slots; s; s = s->next)
		for (i = 0; i < d->n; i++)
			if (s->finished && s->slot == d->rows[i].slot && !strcmp(s->service, d->rows[i].service))
				s->final_reported = true;
	sw_agent_reap(ag, false);
	for (i = 0; i < d->n; i++) {
		struct sw_desired_row *row = &d->rows[i];
		struct sw_reconcile_target have, want = { row->digest, row->port,
							  row->claim ? row->claim->digest : NULL, row->active };
		enum sw_reconcile_change ch;

		s = sw_agent_find(ag, row->service, row->slot);
		if (s) {
			have.digest = s->has_target ? s->t_digest : NULL;
			have.port = s->t_port;
			have.run = s->t_run[0] ? s->t_run : NULL;
			have.active = s->t_active;
		}
		ch = sw_reconcile_change(s ? &have : NULL, s && s->remove, &want);
		switch (ch) {
		case SW_CHANGE_CREATE:
			s = sw_slot_new(ag, row->service, row->slot);
			sw_slot_set_target(s, row);
			sw_slot_launch(ag, s);
			break;
		case SW_CHANGE_RETARGET:
			sw_slot_set_target(s, row);
			sw_slot_kick(s);
			break;
		case SW_CHANGE_ACTIVE:
			s->t_active = row->active;
			break;
		case SW_CHANGE_KEEP:
		case SW_CHANGE_REMOVE:
			break;
		}
	}
	for (s = ag->slots; s; s = s->next) {
		struct sw_reconcile_target have = { s->has_target ? s->t_digest : NULL, s->t_port, NULL, s->t_active };
		bool listed = false;

		if (s->finished)
			continue;
		for (i = 0; i < d->n && !listed; i++)
			listed = s->slot == d->rows[i].slot && !strcmp(s->service, d->rows[i].service);
		if (!listed && sw_reconcile_change(&have, s->remove, NULL) == SW_CHANGE_REMOVE) {
			s->remove = true;
			sw_slot_kick(s);
		}
	}
	ag->generation = d->generation;
	ag->status_dirty = true;
	pthread_cond_broadcast(&ag->tick_cv);
	pthread_mutex_unlock(&ag->mu);
}

/* Slots a previous agent left in root/run: adopt running processes, restart dead ones. */
static void sw_agent_adopt(struct sw_agent *ag)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/run", ag->root);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct sw_err err = SW_ERR_INIT;
		char path[PATH_MAX];
		const char *service, *slot, *digest, *prev;
		size_t len = strlen(de->d_name);
		struct sw_runspec *rs;
		struct sw_slot *s;
		const json_t *claim;
		json_t *st;
		long long port;
		int r;

		if (len < 6 || strcmp(de->d_name + len - 5, ".json") || de->d_name[0] == '.')
			continue;
		if (sw_snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < 0)
			continue;
		st = sw_json_load_file(path, (size_t)16 << 20, &err);
		service = sw_json_str(st, "service");
		slot = sw_json_str(st, "slot");
		digest = sw_json_str(st, "digest");
		prev = sw_json_str(st, "previous");
		port = sw_json_int(st, "port", 0);
		rs = st ? sw_runspec_parse(json_object_get(st, "run"), &err) : NULL;
		if (!st || !service || !sw_spec_service_name_ok(service) || !slot ||
		    (strcmp(slot, "a") && strcmp(slot, "b")) || !digest || !sw_is_sha256_hex(digest) || port < 1 ||
		    port > 65535 || !rs) {
			sw_warn("ignoring '%s': not a slot state file%s%s", path, err.msg[0] ? ": " : "", err.msg);
			sw_runspec_free(rs);
			json_decref(st);
			continue;
		}
		pthread_mutex_lock(&ag->mu);
		s = sw_agent_find(ag, service, slot[0]);
		pthread_mutex_unlock(&ag->mu);
		if (s) {
			sw_runspec_free(rs);
			json_decref(st);
			continue;
		}
		s = sw_slot_new(ag, service, slot[0]);
		s->have_cur = true;
		sw_strlcpy(s->cur_digest, digest, sizeof(s->cur_digest));
		s->cur_port = (unsigned)port;
		s->cur_rs = rs;
		/* A state file without "claim" is an older agent's: its run was the server's row, which is the claim. */
		claim = json_object_get(st, "claim");
		if (!claim)
			sw_strlcpy(s->cur_claim, rs->digest, sizeof(s->cur_claim));
		else if (json_is_string(claim) && sw_is_sha256_hex(json_string_value(claim)))
			sw_strlcpy(s->cur_claim, json_string_value(claim), sizeof(s->cur_claim));
		if (prev && sw_is_sha256_hex(prev))
			sw_strlcpy(s->prev_digest, prev, sizeof(s->prev_digest));
		sw_installer_release_dir(&ag->inst, digest, s->cur_dir, sizeof(s->cur_dir));
		r = sw_supervisor_adopt(s->pid_path, &s->proc, &err);
		if (r == 1) {
			sw_info("%s: adopted pid %ld (release %.12s, port %u)", s->name, (long)s->proc.pid, digest,
				s->cur_port);
			sw_health_begin(&s->hs, sw_clock_mono_ms());
			s->next_health = sw_clock_mono_ms() + (rs->health == SW_RUNSPEC_HEALTH_NONE ? SW_AGENT_NO_HEALTH_MS
												: SW_AGENT_FIRST_PROBE_MS);
			sw_slot_publish(s, "starting", digest, s->cur_port, "adopted pid %ld", (long)s->proc.pid);
		} else {
			if (r < 0)
				sw_warn("%s: %s", s->name, err.msg);
			sw_info("%s: release %.12s is not running any more; starting it again", s->name, digest);
			unlink(s->pid_path);
			s->crashed = true;
			s->restart_at = 0;
		}
		json_decref(st);
		pthread_mutex_lock(&ag->mu);
		sw_slot_launch(ag, s);
		pthread_mutex_unlock(&ag->mu);
	}
	closedir(d);
}

/* ---- network threads ---- */

/* A URL on the server; every request to it also sets req.tls = &ag->tls (how the server is trusted). */
static void sw_agent_url(struct sw_agent *ag, char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void sw_agent_url(struct sw_agent *ag, char *out, size_t size, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	n = (size_t)snprintf(out, size, "%s", ag->server);
	if (n >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(out + n, size - n, fmt, ap);
	va_end(ap);
}

static bool sw_agent_auth_failed(struct sw_agent *ag, long status, const struct sw_buf *body, const char *what)
{
	char msg[512], full[SW_ERR_MSG_MAX];

	if (status != 401 && status != 403)
		return false;
	sw_enroll_api_message(status, body, msg, sizeof(msg));
	snprintf(full, sizeof(full), "the server refused this host's identity (%s: HTTP %ld: %s): it was revoked or is unknown; enroll again with a new join token",
		 what, status, msg);
	sw_agent_fatal(ag, SW_EAUTH, full);
	return true;
}

/* Sleep up to ms unless the agent is stopping. Call with ag->mu held. */
static void sw_agent_nap(struct sw_agent *ag, uint64_t ms)
{
	if (!ag->shutdown)
		sw_agent_timedwait(&ag->tick_cv, &ag->mu, ms);
}

/* ---- log requests (`slipway logs`, agent/logread.h) ---- */

#define SW_AGENT_LOG_POST_MS 10000
#define SW_AGENT_LOG_REQS_MAX 16 /* per desired answer; the server sends at most 8 per host */

/*
 * Which log a request means: its service (else the only service this agent
 * has slots for) and slot (else the service's active slot, else the one
 * with a target, else 'a'). Returns 0, or -1 with a message in err.
 * Takes ag->mu.
 */
static int sw_agent_log_pick(struct sw_agent *ag, const struct sw_logread_req *r, char *service, size_t size,
			     char *slot, struct sw_err *err)
{
	struct sw_slot *s, *best = NULL;
	char names[256] = "";
	size_t nnames = 0;

	pthread_mutex_lock(&ag->mu);
	if (r->service[0]) {
		sw_strlcpy(service, r->service, size);
	} else {
		for (s = ag->slots; s; s = s->next) {
			struct sw_slot *o;

			for (o = ag->slots; o != s; o = o->next)
				if (!strcmp(o->service, s->service))
					break;
			if (o != s)
				continue; /* counted already */
			if (nnames++ == 0)
				sw_strlcpy(service, s->service, size);
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", nnames > 1 ? ", " : "",
				 s->service);
		}
		if (nnames != 1) {
			pthread_mutex_unlock(&ag->mu);
			if (nnames == 0)
				return sw_err_set(err, SW_ENOTFOUND, "this host runs no service: name the service");
			return sw_err_set(err, SW_EINPUT, "this host runs several services (%s): name one", names);
		}
	}
	*slot = r->slot;
	for (s = ag->slots; s && !*slot; s = s->next) {
		if (strcmp(s->service, service) || !s->has_target || s->remove)
			continue;
		if (s->t_active && (!best || !best->t_active || s->slot < best->slot))
			best = s;
		else if (!best || (!best->t_active && s->slot < best->slot))
			best = s;
	}
	if (!*slot)
		*slot = best ? best->slot : 'a';
	pthread_mutex_unlock(&ag->mu);
	return 0;
}

/* Answer one log request (r->id known) with a chunk or an error. */
static void sw_agent_log_answer(struct sw_agent *ag, const struct sw_logread_req *r, const struct sw_err *rerr)
{
	struct sw_buf body = SW_BUF_INIT((size_t)1 << 20), resp = SW_BUF_INIT(65536);
	struct sw_logread_chunk chunk;
	struct sw_httpc_req req = { 0 };
	struct sw_err err = SW_ERR_INIT;
	char service[SW_SERVICE_NAME_MAX], slot = 0, path[PATH_MAX], url[2048];
	json_t *doc = NULL;
	long status = 0;

	sw_logread_chunk_init(&chunk);
	if (rerr)
		err = *rerr;
	else if (sw_agent_log_pick(ag, r, service, sizeof(service), &slot, &err) == 0) {
		snprintf(path, sizeof(path), "%s/logs/%s-%c.log", ag->root, service, slot);
		if (sw_logread_file(path, r->offset, r->lines, r->max_bytes, &chunk, &err) == 0) {
			char sl[2] = { slot, '\0' };

			doc = json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:s%, s:b, s:b}", "id", (json_int_t)r->id, "service",
					service, "slot", sl, "offset", (json_int_t)chunk.offset, "next_offset",
					(json_int_t)chunk.next_offset, "size", (json_int_t)chunk.size, "data",
					chunk.data.data ? chunk.data.data : "", chunk.data.len, "restarted",
					(int)chunk.restarted, "more", (int)chunk.more);
		} else if (err.code == SW_ENOTFOUND) {
			sw_err_set(&err, SW_ENOTFOUND, "no log for service '%s' slot %c on this host (logs/%s-%c.log)",
				   service, slot, service, slot);
		}
	}
	if (!doc) {
		char msg[1024];

		sw_strlcpy(msg, err.msg[0] ? err.msg : "cannot read the log", sizeof(msg));
		doc = json_pack("{s:I, s:{s:s, s:s}}", "id", (json_int_t)r->id, "error", "code",
				err.code == SW_ENOTFOUND ? "not_found"
				: err.code == SW_EINPUT	 ? "bad_request"
							 : "failed",
				"message", msg);
	}
	sw_logread_chunk_release(&chunk);
	if (!doc || sw_json_canonical(doc, &body) < 0) {
		sw_warn("cannot build the answer to log request %lld", (long long)r->id);
		goto out;
	}
	sw_agent_url(ag, url, sizeof(url), "/api/v1/agent/logs");
	req.method = "POST";
	req.url = url;
	req.token = ag->token;
	req.tls = &ag->tls;
	req.body = body.data;
	req.body_len = body.len;
	req.timeout_ms = SW_AGENT_LOG_POST_MS;
	sw_err_clear(&err);
	if (sw_httpc_do(&req, &status, &resp, &err) < 0)
		sw_warn("cannot send the answer to log request %lld: %s", (long long)r->id, err.msg);
	else if (status != 200)
		sw_debug("log request %lld: the server refused the answer (HTTP %ld): its asker may have given up",
			 (long long)r->id, status);
out:
	json_decref(doc);
	sw_buf_release(&body);
	sw_buf_release(&resp);
}

/* The "log_requests" of a desired answer, if any: answer each. */
static void sw_agent_logs(struct sw_agent *ag, const struct sw_buf *resp)
{
	struct sw_err err = SW_ERR_INIT;
	const json_t *reqs;
	json_t *doc;
	size_t i;

	if (!resp->data || !memmem(resp->data, resp->len, "\"log_requests\"", 14))
		return;
	doc = sw_json_parse(resp->data, resp->len, SW_DESIRED_MAX_BYTES, "desired state", &err);
	reqs = json_object_get(doc, "log_requests");
	for (i = 0; i < json_array_size(reqs) && i < SW_AGENT_LOG_REQS_MAX; i++) {
		struct sw_logread_req r;

		sw_err_clear(&err);
		if (sw_logread_parse(json_array_get(reqs, i), &r, &err) < 0) {
			sw_warn("log request: %s", err.msg);
			if (r.id > 0)
				sw_agent_log_answer(ag, &r, &err);
			continue;
		}
		sw_agent_log_answer(ag, &r, NULL);
	}
	json_decref(doc);
}

static void *sw_agent_poll_thread(void *arg)
{
	struct sw_agent *ag = arg;
	struct sw_buf resp = SW_BUF_INIT(SW_DESIRED_MAX_BYTES);
	int64_t gen = 0;
	bool first = true;
	uint64_t backoff = 500;
	unsigned failures = 0;

	for (;;) {
		struct sw_httpc_req req = { 0 };
		struct sw_err err = SW_ERR_INIT;
		struct sw_desired *d;
		char url[2048];
		long status = 0;
		uint64_t wait = first ? 0 : ag->poll_wait_s;

		pthread_mutex_lock(&ag->mu);
		if (ag->shutdown) {
			pthread_mutex_unlock(&ag->mu);
			break;
		}
		pthread_mutex_unlock(&ag->mu);
		sw_agent_url(ag, url, sizeof(url), "/api/v1/agent/desired?generation=%lld&wait=%llu", (long long)gen,
			     (unsigned long long)wait);
		req.method = "GET";
		req.url = url;
		req.token = ag->token;
		req.tls = &ag->tls;
		req.timeout_ms = (wait + 15) * 1000;
		sw_buf_reset(&resp);
		if (sw_httpc_do(&req, &status, &resp, &err) < 0 || status != 200) {
			if (sw_agent_auth_failed(ag, status, &resp, "desired state"))
				break;
			if (failures++ % 10 == 0) {
				char msg[512];

				if (status)
					sw_enroll_api_message(status, &resp, msg, sizeof(msg));
				sw_warn("cannot get the desired state: %s (retrying)", status ? msg : err.msg);
			}
			pthread_mutex_lock(&ag->mu);
			sw_agent_nap(ag, backoff);
			pthread_mutex_unlock(&ag->mu);
			backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
			continue;
		}
		d = sw_xcalloc(1, sizeof(*d));
		if (sw_desired_parse(resp.data ? resp.data : "", resp.len, d, &err) < 0) {
			free(d);
			sw_warn("ignoring a malformed desired state: %s%s%s", err.where, err.where[0] ? ": " : "", err.msg);
			pthread_mutex_lock(&ag->mu);
			sw_agent_nap(ag, backoff);
			pthread_mutex_unlock(&ag->mu);
			backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
			continue;
		}
		if (failures)
			sw_info("reached the server again");
		failures = 0;
		backoff = 500;
		sw_agent_logs(ag, &resp);
		if (first || d->generation != gen) {
			gen = d->generation;
			first = false;
			pthread_mutex_lock(&ag->mu);
			if (ag->pending) {
				sw_desired_release(ag->pending);
				free(ag->pending);
			}
			ag->pending = d;
			pthread_cond_broadcast(&ag->cv);
			pthread_mutex_unlock(&ag->mu);
		} else {
			sw_desired_release(d);
			free(d);
		}
	}
	sw_buf_release(&resp);
	return NULL;
}

/* The status document; call with ag->mu held. */
static json_t *sw_agent_status_json(struct sw_agent *ag)
{
	json_t *services = json_array(), *doc;
	uint64_t hwm, rss;
	struct sw_slot *s;

	for (s = ag->slots; s; s = s->next) {
		char slot[2] = { s->slot, '\0' };
		json_t *row;

		if (!strcmp(s->p_state, "pending"))
			continue; /* nothing to say yet (not a state the server knows) */
		row = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:s, s:b, s:s, s:s}", "service", s->service, "slot", slot,
				"digest", s->p_digest, "state", s->p_state, "port", (int)s->p_port, "pid",
				(json_int_t)s->p_pid, "message", s->p_message, "active", (int)s->t_active, "running_digest",
				s->p_running, "previous_digest", s->p_previous);
		if (row && s->p_verdict[0]) {
			json_object_set_new(row, "verdict", json_string(s->p_verdict));
			json_object_set_new(row, "verdict_message", json_string(s->p_verdict_message));
		}
		if (row)
			json_array_append_new(services, row);
	}
	sw_agent_memory(&hwm, &rss);
	doc = json_pack("{s:I, s:o, s:I, s:{s:s, s:I, s:I, s:I}}", "generation", (json_int_t)ag->generation,
			"services", services, "disk_free_bytes", (json_int_t)sw_agent_disk_free(ag->root), "agent",
			"version", SW_VERSION, "pid", (json_int_t)getpid(), "rss_kb", (json_int_t)rss, "hwm_kb",
			(json_int_t)hwm);
	if (doc && ag->address[0])
		json_object_set_new(doc, "address", json_string(ag->address));
	return doc;
}

static int sw_agent_post_status(struct sw_agent *ag, const char *body, size_t len, uint64_t timeout_ms,
				long *status, struct sw_buf *resp, struct sw_err *err)
{
	struct sw_httpc_req req = { 0 };
	char url[2048];

	sw_agent_url(ag, url, sizeof(url), "/api/v1/agent/status");
	req.method = "POST";
	req.url = url;
	req.token = ag->token;
	req.body = body;
	req.body_len = len;
	req.timeout_ms = timeout_ms;
	req.tls = &ag->tls;
	sw_buf_reset(resp);
	return sw_httpc_do(&req, status, resp, err);
}

static void *sw_agent_status_thread(void *arg)
{
	struct sw_agent *ag = arg;
	struct sw_buf body = SW_BUF_INIT((size_t)16 << 20), resp = SW_BUF_INIT(65536);
	uint64_t last = 0;
	unsigned failures = 0;

	pthread_mutex_lock(&ag->mu);
	while (!ag->shutdown) {
		uint64_t now = sw_clock_mono_ms();
		struct sw_slot **carried = NULL;
		size_t ncarried = 0, i;
		struct sw_err err = SW_ERR_INIT;
		struct sw_slot *s;
		json_t *doc;
		long status = 0;
		int rc;

		if (last && !(ag->status_dirty && now - last >= 50) && now - last < ag->heartbeat_ms) {
			uint64_t left = ag->status_dirty ? 50 - (now - last) : ag->heartbeat_ms - (now - last);

			sw_agent_timedwait(&ag->tick_cv, &ag->mu, left);
			continue;
		}
		ag->status_dirty = false;
		doc = sw_agent_status_json(ag);
		for (s = ag->slots; s; s = s->next)
			if (s->finished && !s->final_reported) {
				carried = sw_xreallocarray(carried, ncarried + 1, sizeof(*carried));
				carried[ncarried++] = s;
			}
		pthread_mutex_unlock(&ag->mu);
		sw_buf_reset(&body);
		if (!doc || sw_json_canonical(doc, &body) < 0) {
			sw_warn("cannot build the status report");
			rc = -1;
		} else {
			rc = sw_agent_post_status(ag, body.data, body.len, ag->heartbeat_ms * 3 > 5000 ? ag->heartbeat_ms * 3 : 5000,
						  &status, &resp, &err);
		}
		json_decref(doc);
		last = sw_clock_mono_ms();
		if (rc == 0 && sw_agent_auth_failed(ag, status, &resp, "status")) {
			free(carried);
			pthread_mutex_lock(&ag->mu);
			break;
		}
		pthread_mutex_lock(&ag->mu);
		if (rc == 0 && status >= 200 && status < 300) {
			if (failures)
				sw_info("status reports reach the server again");
			failures = 0;
			for (i = 0; i < ncarried; i++)
				carried[i]->final_reported = true;
			if (ncarried)
				pthread_cond_broadcast(&ag->cv);
		} else if (failures++ % 10 == 0) {
			char msg[512];

			if (rc == 0)
				sw_enroll_api_message(status, &resp, msg, sizeof(msg));
			sw_warn("cannot report status: %s (retrying)", rc == 0 ? msg : err.msg);
		}
		free(carried);
	}
	pthread_mutex_unlock(&ag->mu);
	sw_buf_release(&body);
	sw_buf_release(&resp);
	return NULL;
}

static void *sw_agent_signal_thread(void *arg)
{
	struct sw_agent *ag = arg;
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	while (sigwait(&set, &sig) != 0)
		;
	sw_info("received %s: stopping%s", sig == SIGTERM ? "SIGTERM" : "SIGINT",
		ag->stop_on_exit ? " the services and the agent" : " (services keep running)");
	pthread_mutex_lock(&ag->mu);
	ag->shutdown = true;
	atomic_store(&ag->stopping, true);
	pthread_cond_broadcast(&ag->cv);
	pthread_cond_broadcast(&ag->tick_cv);
	pthread_mutex_unlock(&ag->mu);
	return NULL;
}

/* ---- enrollment ---- */

/* A --pin / --ca that differs from the identity's replaces it (saved, as a new --server is). */
static void sw_agent_tls_override(const struct sw_agent_config *cfg, struct sw_identity *id)
{
	struct sw_err serr = SW_ERR_INIT;
	bool changed = false;

	if (cfg->pin && strcmp(cfg->pin, id->pin)) {
		sw_warn("using --pin '%s' instead of '%s' from the identity (saved)", cfg->pin,
			id->pin[0] ? id->pin : "none");
		sw_strlcpy(id->pin, cfg->pin, sizeof(id->pin));
		changed = true;
	}
	if (cfg->ca_file && strcmp(cfg->ca_file, id->ca)) {
		sw_warn("using --ca '%s' instead of '%s' from the identity (saved)", cfg->ca_file, id->ca[0] ? id->ca : "none");
		sw_strlcpy(id->ca, cfg->ca_file, sizeof(id->ca));
		changed = true;
	}
	if (changed && sw_identity_save(cfg->root, id, &serr) < 0)
		sw_warn("cannot save the new TLS settings: %s", serr.msg);
}

/* ag->tls from what the agent trusts, and the loopback rule for the server URL (before any connection). */
static int sw_agent_tls_set(struct sw_agent *ag, const struct sw_agent_config *cfg, const char *server,
			    const char *pin, const char *ca, struct sw_err *err)
{
	memset(&ag->tls, 0, sizeof(ag->tls));
	ag->tls.insecure_http = cfg->insecure_http;
	if (sw_strlcpy(ag->tls.pin, pin, sizeof(ag->tls.pin)) < 0 || sw_strlcpy(ag->tls.ca_file, ca, sizeof(ag->tls.ca_file)) < 0)
		return sw_err_set(err, SW_EINPUT, "TLS pin or CA path too long");
	if (pin[0] && !strncmp(server, "http://", 7))
		return sw_err_set(err, SW_EINPUT,
				  "the server URL '%s' is plain HTTP, but this agent trusts the server by its TLS pin: use "
				  "https://",
				  server);
	return sw_httpc_check_url(server, cfg->insecure_http, "server URL", err);
}

#define SW_AGENT_OWN_PORTS_MAX 256

/*
 * The ports this host's own services hold: those of run/<service>-<slot>.json
 * whose pid file names a live process (what sw_agent_adopt will adopt). Only
 * looked at, not adopted: the pidfd is closed again.
 */
static size_t sw_agent_own_ports(struct sw_agent *ag, unsigned *own, size_t max)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (sw_snprintf(dir, sizeof(dir), "%s/run", ag->root) < 0 || !(d = opendir(dir)))
		return 0;
	while ((de = readdir(d)) && n < max) {
		struct sw_supervisor_proc p = SW_SUPERVISOR_PROC_INIT;
		struct sw_err err = SW_ERR_INIT;
		size_t len = strlen(de->d_name);
		long long port;
		json_t *st;

		if (len < 6 || strcmp(de->d_name + len - 5, ".json") || de->d_name[0] == '.' ||
		    sw_snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < 0)
			continue;
		st = sw_json_load_file(path, (size_t)16 << 20, &err);
		port = sw_json_int(st, "port", 0);
		json_decref(st);
		if (port < 1 || port > 65535 || sw_snprintf(path, sizeof(path), "%s/%.*s.pid", dir, (int)(len - 5),
								    de->d_name) < 0)
			continue;
		if (sw_supervisor_adopt(path, &p, &err) == 1)
			own[n++] = (unsigned)port;
		sw_supervisor_release(&p);
	}
	closedir(d);
	return n;
}

/* The start check of the slot ports (agent/ports.h): a port another process holds ends the agent (exit 2). */
static int sw_agent_check_ports(struct sw_agent *ag, const unsigned ports[2], struct sw_err *err)
{
	unsigned own[SW_AGENT_OWN_PORTS_MAX];
	size_t n = sw_agent_own_ports(ag, own, SW_AGENT_OWN_PORTS_MAX);

	return sw_ports_check(ports, own, n, err);
}

/*
 * ag->address: --address, else the source address of this machine's route
 * to the server (127.0.0.1 for a server on loopback). Left empty, with a
 * warning, when the server's host does not resolve: the server then falls
 * back to the host's name.
 */
static void sw_agent_pick_address(struct sw_agent *ag, const struct sw_agent_config *cfg, const char *server)
{
	struct sw_err aerr = SW_ERR_INIT;
	char host[SW_NETADDR_MAX];
	unsigned port;

	if (ag->address[0])
		return;
	if (cfg->address) {
		sw_strlcpy(ag->address, cfg->address, sizeof(ag->address));
		return;
	}
	if (sw_httpc_url_host(server, host, sizeof(host), &port, &aerr) < 0 ||
	    sw_netaddr_route_source(host, port, ag->address, sizeof(ag->address), &aerr) < 0) {
		ag->address[0] = '\0';
		sw_warn("cannot tell which address this host reaches the server from (%s): no address reported; "
			"give --address HOST",
			aerr.msg);
		return;
	}
	sw_info("services are reached on %s (the source address of the route to %s; --address sets it)",
		ag->address, host);
}

static int sw_agent_identity(struct sw_agent *ag, const struct sw_agent_config *cfg, struct sw_identity *id,
			     struct sw_err *err)
{
	uint64_t backoff = 500;
	char host[256] = "", filetok[SW_JOIN_TOKEN_MAX], secret[SW_JOIN_TOKEN_MAX], tpin[SW_TLS_PIN_MAX];
	const char *join = cfg->join_token;
	int r = sw_identity_load(cfg->root, id, err), rc;

	if (r < 0)
		return -1;
	if (r == 1) {
		/* The join file is not even read: it may be gone once the host is enrolled. */
		if (cfg->join_token)
			sw_warn("this host is already enrolled as '%s' (%s/%s); the join token is ignored", id->host_id,
				cfg->root, SW_IDENTITY_FILE);
		else if (cfg->join_file)
			sw_info("this host is already enrolled as '%s' (%s/%s); the join file '%s' is not read (it may "
				"be removed)",
				id->host_id, cfg->root, SW_IDENTITY_FILE, cfg->join_file);
		if (cfg->server && strcmp(cfg->server, id->server)) {
			struct sw_err serr = SW_ERR_INIT;

			sw_warn("using server '%s' instead of '%s' from the identity (saved)", cfg->server, id->server);
			sw_strlcpy(id->server, cfg->server, sizeof(id->server));
			if (sw_identity_save(cfg->root, id, &serr) < 0)
				sw_warn("cannot save the new server URL: %s", serr.msg);
		}
		if (cfg->name && strcmp(cfg->name, id->name))
			sw_warn("this host is enrolled as '%s'; --name '%s' is ignored", id->name, cfg->name);
		if (cfg->ports[0] && (cfg->ports[0] != id->ports[0] || cfg->ports[1] != id->ports[1]))
			sw_warn("--ports differ from the enrolled ports %u,%u; the server's desired state decides the ports",
				id->ports[0], id->ports[1]);
		sw_agent_tls_override(cfg, id);
		if (sw_agent_check_ports(ag, id->ports, err) < 0) {
			sw_identity_release(id);
			return -1;
		}
		return sw_agent_tls_set(ag, cfg, id->server, id->pin, id->ca, err);
	}
	if (!cfg->join_token && !cfg->join_file)
		return sw_err_set(err, SW_EINPUT,
				  "'%s/%s' does not exist: give --join-file FILE (or $SLIPWAY_JOIN_TOKEN) and --server URL "
				  "to enroll",
				  cfg->root, SW_IDENTITY_FILE);
	if (!cfg->server)
		return sw_err_set(err, SW_EINPUT, "--server URL is required to enroll");
	if (!cfg->ports[0] || !cfg->ports[1])
		return sw_err_set(err, SW_EINPUT, "--ports A,B is required to enroll");
	/* Before the join token is used: a refused start leaves it valid. */
	if (sw_agent_check_ports(ag, cfg->ports, err) < 0)
		return -1;
	if (!cfg->name) {
		if (gethostname(host, sizeof(host)) < 0 || !host[0])
			snprintf(host, sizeof(host), "host");
		host[sizeof(host) - 1] = '\0';
	}
	if (!join) {
		if (sw_enroll_read_join_file(cfg->join_file, filetok, sizeof(filetok), err) < 0)
			return -1;
		join = filetok;
	}
	/* The join token may carry the server's pin (base/tls.h): only its secret goes to the server. */
	rc = sw_tls_join_split(join, strlen(join), secret, sizeof(secret), tpin, err);
	sodium_memzero(filetok, sizeof(filetok));
	if (rc < 0)
		goto out;
	if (cfg->pin && tpin[0] && strcmp(cfg->pin, tpin)) {
		rc = sw_err_set(err, SW_EINPUT, "--pin '%s' differs from the pin the join token carries ('%s')", cfg->pin,
				tpin);
		goto out;
	}
	rc = sw_agent_tls_set(ag, cfg, cfg->server, cfg->pin ? cfg->pin : tpin, cfg->ca_file ? cfg->ca_file : "", err);
	if (rc < 0)
		goto out;
	sw_agent_pick_address(ag, cfg, cfg->server);
	for (;;) {
		struct sw_enroll_request rq = { cfg->server, secret, &ag->tls, cfg->name ? cfg->name : host, cfg->labels,
						{ cfg->ports[0], cfg->ports[1] }, ag->address };
		bool stop;

		sw_err_clear(err);
		if (sw_enroll(cfg->root, &rq, id, err) == 0) {
			sw_info("enrolled as '%s' (host id %s)%s", id->name, id->host_id,
				id->pin[0] ? ", trusting the server by its TLS pin" : "");
			rc = 0;
			break;
		}
		if (err->code != SW_EIO && err->code != SW_ETIMEOUT) {
			rc = -1;
			break;
		}
		sw_warn("%s (retrying)", err->msg);
		pthread_mutex_lock(&ag->mu);
		sw_agent_nap(ag, backoff);
		stop = ag->shutdown;
		pthread_mutex_unlock(&ag->mu);
		if (stop) {
			rc = sw_err_set(err, SW_ECANCELED, "stopped before enrollment finished");
			break;
		}
		backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
	}
out:
	sodium_memzero(secret, sizeof(secret));
	return rc;
}

/* ---- main ---- */

int sw_agent_run(const struct sw_agent_config *cfg, struct sw_err *err)
{
	struct sw_agent *ag = sw_xcalloc(1, sizeof(*ag));
	struct sw_identity id;
	pthread_t poll_thr, status_thr, sig_thr;
	sigset_t set, old;
	char dir[PATH_MAX];
	int rc = -1;

	sw_agent_instance = ag;
	memset(&id, 0, sizeof(id));
	if (sw_strlcpy(ag->root, cfg->root, sizeof(ag->root)) < 0)
		return sw_err_set(err, SW_EINPUT, "root path too long");
	ag->log_max = cfg->log_max_bytes ? cfg->log_max_bytes : (uint64_t)10 << 20;
	ag->log_keep = cfg->log_keep ? cfg->log_keep : 3;
	ag->poll_wait_s = cfg->poll_wait_s ? cfg->poll_wait_s : 25;
	ag->stop_on_exit = cfg->stop_services_on_exit;
	ag->generation = 0;
	pthread_mutex_init(&ag->mu, NULL);
	sw_agent_cond_init(&ag->cv);
	sw_agent_cond_init(&ag->tick_cv);
	atomic_init(&ag->stopping, false);

	for (const char *const *sub = (const char *const[]){ "", "run", "logs", NULL }; *sub; sub++) {
		if (sw_snprintf(dir, sizeof(dir), "%s/%s", cfg->root, *sub) < 0)
			return sw_err_set(err, SW_EINPUT, "root path too long");
		if (sw_fs_mkdirs(dir, 0755, err) < 0)
			return -1;
	}

	/* Signals go to the signal thread only; children get an empty mask (supervisor, proc). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if (sw_agent_thread(&sig_thr, sw_agent_signal_thread, ag) != 0) {
		sw_err_set(err, SW_EINTERNAL, "cannot start the signal thread");
		goto restore;
	}
	pthread_detach(sig_thr);

	if (sw_agent_identity(ag, cfg, &id, err) < 0)
		goto restore;
	sw_strlcpy(ag->server, id.server, sizeof(ag->server));
	while (strlen(ag->server) > 0 && ag->server[strlen(ag->server) - 1] == '/')
		ag->server[strlen(ag->server) - 1] = '\0';
	sw_strlcpy(ag->token, id.host_token, sizeof(ag->token));
	sw_strlcpy(ag->host_id, id.host_id, sizeof(ag->host_id));
	sw_strlcpy(ag->name, id.name, sizeof(ag->name));
	sw_agent_pick_address(ag, cfg, ag->server);
	ag->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : id.heartbeat_ms;
	if (ag->heartbeat_ms < 50)
		ag->heartbeat_ms = 1000;
	sw_identity_release(&id);
	if (sw_installer_init(&ag->inst, ag->root, ag->server, ag->token, err) < 0)
		goto restore;
	ag->inst.tls = ag->tls;
	if (cfg->max_unpacked_bytes)
		ag->inst.limits.max_total_bytes = ag->inst.limits.max_entry_bytes = cfg->max_unpacked_bytes;
	if (cfg->min_free_set)
		ag->inst.limits.free_margin_bytes = cfg->min_free_bytes;
	ag->inst.limits.cancel = &ag->stopping; /* a stop request cancels an install in progress */
	if (ag->inst.nkeys == 0)
		sw_warn("no trusted keys in '%s/trusted': every release will be refused", ag->root);
	sw_info("agent '%s' (host id %s) on %s, heartbeat %llu ms, root '%s'", ag->name, ag->host_id, ag->server,
		(unsigned long long)ag->heartbeat_ms, ag->root);

	sw_agent_adopt(ag);

	if (sw_agent_thread(&status_thr, sw_agent_status_thread, ag) != 0 ||
	    sw_agent_thread(&poll_thr, sw_agent_poll_thread, ag) != 0)
		sw_die("cannot start the agent threads");
	pthread_detach(poll_thr);

	pthread_mutex_lock(&ag->mu);
	for (;;) {
		struct sw_desired *d;
		struct sw_slot *s;
		bool reap = false;

		for (s = ag->slots; s; s = s->next)
			reap |= s->finished && s->final_reported;
		if (reap)
			sw_agent_reap(ag, false);
		if (ag->shutdown)
			break;
		if (!ag->pending) {
			sw_agent_timedwait(&ag->cv, &ag->mu, 1000);
			continue;
		}
		d = ag->pending;
		ag->pending = NULL;
		pthread_mutex_unlock(&ag->mu);
		sw_info("desired state generation %lld: %zu slot(s)", (long long)d->generation, d->n);
		sw_agent_apply(ag, d);
		sw_desired_release(d);
		free(d);
		pthread_mutex_lock(&ag->mu);
	}
	/* Stopping: wake every worker; they stop their services or leave them running. */
	for (struct sw_slot *s = ag->slots; s; s = s->next)
		sw_slot_kick(s);
	pthread_mutex_unlock(&ag->mu);
	pthread_join(status_thr, NULL);
	pthread_mutex_lock(&ag->mu);
	{
		struct sw_slot *all = ag->slots, *next;

		pthread_mutex_unlock(&ag->mu);
		for (struct sw_slot *s = all; s; s = s->next)
			if (s->thr_started) {
				pthread_join(s->thr, NULL);
				s->thr_started = false;
			}
		pthread_mutex_lock(&ag->mu);
		if (ag->stop_on_exit && !ag->fatal) {
			/* One last report so the server sees the services stopped. */
			struct sw_buf body = SW_BUF_INIT((size_t)16 << 20), resp = SW_BUF_INIT(65536);
			struct sw_err perr = SW_ERR_INIT;
			json_t *doc = sw_agent_status_json(ag);
			long status = 0;

			pthread_mutex_unlock(&ag->mu);
			if (doc && sw_json_canonical(doc, &body) == 0)
				sw_agent_post_status(ag, body.data, body.len, 2000, &status, &resp, &perr);
			json_decref(doc);
			sw_buf_release(&body);
			sw_buf_release(&resp);
			pthread_mutex_lock(&ag->mu);
		}
		ag->slots = NULL;
		pthread_mutex_unlock(&ag->mu);
		for (struct sw_slot *s = all; s; s = next) {
			next = s->next;
			sw_slot_free(s);
		}
		pthread_mutex_lock(&ag->mu);
	}
	if (ag->fatal) {
		sw_err_set(err, ag->fatal, "%s", ag->fatal_msg);
		rc = -1;
	} else {
		rc = 0;
	}
	if (ag->pending) {
		sw_desired_release(ag->pending);
		free(ag->pending);
		ag->pending = NULL;
	}
	pthread_mutex_unlock(&ag->mu);
	sw_installer_release(&ag->inst);
	{
		uint64_t hwm, rss;

		sw_agent_memory(&hwm, &rss);
		sw_info("agent stopped; peak RSS %llu kB", (unsigned long long)hwm);
	}
restore:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* ag stays allocated: the detached poll thread may still read it (see the top of this file). */
	return rc;
}
