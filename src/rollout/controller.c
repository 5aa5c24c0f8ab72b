/*
 * controller.c - the rollout controller thread and the deployment API
 * (see controller.h): creating, aborting and rolling back deployments, and
 * the loop that moves every active one on.
 *
 * One pass (every tick_ms, or at once after a kick):
 *   1. list the active deployments (store lock held only for the read)
 *   2. for each: read the record and observe its hosts (host records with
 *      their last report, desired rows), unlock, run sw_deployment_step()
 *      (which may talk to HAProxy), then commit the result under the lock
 *      in one transaction: desired rows, new host generations into the
 *      plan, the record, and the event of a transition. An abort recorded
 *      meanwhile is merged in; a record that ended meanwhile is left alone.
 *   3. blue/green cleanups whose keep_old time has come
 *   4. smoke commands: collect output and exit status
 * Everything a pass needs is in the store, so a restarted server continues
 * where the last one stopped (a smoke command that was running is run
 * again).
 *
 * Each observation carries live_since_ms: the controller's start, or the
 * last resume from a stall seen by the stall watch thread (sw_ctl_watch).
 *
 * Owns struct sw_controller, its two threads and the smoke child processes.
 * Calls store/, spec/, traffic/, rollout/ (canary analyses: analysis/ through rollout/gate), base/.
 */
#include "rollout/controller.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/httpc.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/num.h"
#include "base/proc.h"
#include "rollout/bluegreen.h"
#include "rollout/canary.h"
#include "rollout/deployment.h"
#include "rollout/plan.h"
#include "rollout/gate.h"
#include "rollout/runjson.h"
#include "rollout/trafficsync.h"
#include "release/bundle.h"
#include "spec/spec.h"
#include "traffic/haproxy.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/*
 * The stall watch (sw_ctl_watch): it wakes every SW_CTL_WATCH_MS; a gap of
 * more than SW_CTL_STALL_MS between two looks at the clock means the
 * process did not run (SIGSTOP, a frozen machine or VM, a suspend).
 */
#define SW_CTL_WATCH_MS 100
#define SW_CTL_STALL_MS 1000
#define SW_CTL_SMOKE_OUT_MAX 8192
#define SW_CTL_MAX_STEPS 8 /* steps of one deployment in a row within one pass */

struct sw_ctl_smoke {
	char id[128];
	struct sw_proc proc;
	struct sw_buf out;
	bool done;
	bool passed;
	char message[512];
};

struct sw_ctl_cleanup {
	char id[128];
	int64_t at_ms;
};

/* The latest deployment of one (service, env): whose hosts the traffic pass reconciles. */
struct sw_ctl_sync {
	char service[128], env[128], id[128];
};

struct sw_controller {
	struct sw_controller_config cfg;
	pthread_t thread, watch;
	pthread_mutex_t mu; /* kicked, stopping, alive_ms, live_since_ms */
	pthread_cond_t cv;
	pthread_cond_t watch_cv;
	bool kicked, stopping, started, watching;
	int64_t alive_ms;      /* CLOCK_BOOTTIME ms of the last look at the clock */
	int64_t live_since_ms; /* wall ms: the server up without a stall since then (deployment.h) */
	struct sw_ctl_smoke *smokes;
	size_t nsmokes;
	struct sw_ctl_cleanup *cleanups;
	size_t ncleanups;
	struct sw_ctl_sync *syncs;
	size_t nsyncs;
	uint64_t sync_at_ms; /* monotonic: the next traffic pass (0: at the next pass) */
};

/* ---- observing hosts ---------------------------------------------------- */

struct sw_ctl_obs {
	struct sw_obs obs;
	struct sw_obs_host *hosts;
	json_t *keep; /* the records the observation borrows from */
	struct sw_haproxy haproxy;
};

static void sw_ctl_obs_release(struct sw_ctl_obs *o)
{
	free(o->hosts);
	o->hosts = NULL;
	json_decref(o->keep);
	o->keep = NULL;
}

/* Read every plan host of dep. Unknown hosts are observed as not existing. */
static int sw_ctl_observe(struct sw_store *st, const json_t *dep, uint64_t hb_ms, struct sw_ctl_obs *o,
			  struct sw_err *err)
{
	json_t *hosts = json_object_get(sw_dep_plan(dep), "hosts"), *ph, *host, *rows, *row, *rep;
	const char *service = sw_json_str(dep, "service");
	struct sw_obs_host *oh;
	struct sw_err e2 = SW_ERR_INIT;
	int64_t gen;
	size_t i, j;
	int s;

	memset(o, 0, sizeof(*o));
	o->keep = json_array();
	o->hosts = sw_xcalloc(json_array_size(hosts) + 1, sizeof(*o->hosts));
	o->obs.now_ms = sw_clock_wall_ms();
	o->obs.heartbeat_timeout_ms = hb_ms;
	o->obs.hosts = o->hosts;
	o->obs.nhosts = json_array_size(hosts);
	json_array_foreach(hosts, i, ph) {
		oh = &o->hosts[i];
		oh->id = sw_json_str(ph, "id");
		if (sw_store_host_get(st, oh->id, &host, &e2) < 0) {
			if (e2.code == SW_ENOTFOUND)
				continue;
			*err = e2;
			sw_ctl_obs_release(o);
			return -1;
		}
		json_array_append_new(o->keep, host);
		oh->exists = !json_is_true(json_object_get(host, "revoked"));
		oh->last_seen_ms = sw_dep_int(host, "last_seen_ms");
		oh->generation_applied = sw_dep_int(host, "generation_applied");
		json_array_foreach(json_object_get(json_object_get(host, "status"), "services"), j, rep) {
			const char *svc = sw_json_str(rep, "service");

			s = sw_dep_slot_index(sw_json_str(rep, "slot"));
			if (s < 0 || !svc || strcmp(svc, service))
				continue;
			oh->slot[s].digest = sw_json_str(rep, "digest");
			oh->slot[s].state = sw_json_str(rep, "state");
			oh->slot[s].message = sw_json_str(rep, "message");
			oh->slot[s].verdict = sw_json_str(rep, "verdict");
			oh->slot[s].verdict_message = sw_json_str(rep, "verdict_message");
		}
		if (sw_store_desired_get(st, oh->id, &gen, &rows, &e2) < 0) {
			if (e2.code == SW_ENOTFOUND)
				continue;
			*err = e2;
			sw_ctl_obs_release(o);
			return -1;
		}
		json_array_append_new(o->keep, rows);
		json_array_foreach(rows, j, row) {
			const char *svc = sw_json_str(row, "service");

			s = sw_dep_slot_index(sw_json_str(row, "slot"));
			if (s >= 0 && svc && !strcmp(svc, service))
				oh->want[s] = row;
		}
	}
	return 0;
}

/* The env's load balancer, or NULL (none configured). -1: configured but unusable. */
static int sw_ctl_traffic(const json_t *dep, struct sw_ctl_obs *o, struct sw_err *err)
{
	const json_t *hap = json_object_get(json_object_get(sw_dep_env(dep), "traffic"), "haproxy");
	const char *sock = sw_json_str(hap, "socket");

	o->obs.traffic = NULL;
	if (!sock)
		return 0;
	if (sw_haproxy_init(&o->haproxy, sock, err) < 0)
		return -1;
	o->obs.traffic = &o->haproxy.traffic;
	return 0;
}

/* ---- stalls: the hosts' grace after a start or a resume ----------------- */

/* Milliseconds on CLOCK_BOOTTIME: it goes on while the process is stopped or the machine sleeps. */
static int64_t sw_ctl_boot_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A look at the clock (c->mu held): after a gap the process was not running, and the grace restarts. */
static void sw_ctl_alive_locked(struct sw_controller *c)
{
	int64_t now = sw_ctl_boot_ms();

	if (now - c->alive_ms > SW_CTL_STALL_MS) {
		c->live_since_ms = sw_clock_wall_ms();
		sw_info("msg=\"the server did not run for %lldms (stopped or frozen): hosts get %llums of grace\"",
			(long long)(now - c->alive_ms), (unsigned long long)c->cfg.heartbeat_timeout_ms);
	}
	c->alive_ms = now;
}

/*
 * Since when hosts have had a running server to report to. Looks at the
 * clock itself: a step right after a resume must not judge hosts before the
 * watch thread has noticed the stall.
 */
static int64_t sw_ctl_live_since(struct sw_controller *c)
{
	int64_t v;

	pthread_mutex_lock(&c->mu);
	sw_ctl_alive_locked(c);
	v = c->live_since_ms;
	pthread_mutex_unlock(&c->mu);
	return v;
}

static void *sw_ctl_watch(void *arg)
{
	struct sw_controller *c = arg;
	struct timespec ts;

	pthread_mutex_lock(&c->mu);
	while (!c->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += SW_CTL_WATCH_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->watch_cv, &c->mu, &ts);
		sw_ctl_alive_locked(c);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* ---- smoke commands ----------------------------------------------------- */

static struct sw_ctl_smoke *sw_ctl_smoke_find(struct sw_controller *c, const char *id)
{
	size_t i;

	for (i = 0; i < c->nsmokes; i++)
		if (!strcmp(c->smokes[i].id, id))
			return &c->smokes[i];
	return NULL;
}

static void sw_ctl_smoke_drop(struct sw_controller *c, const char *id)
{
	struct sw_ctl_smoke *s = sw_ctl_smoke_find(c, id);
	size_t i;

	if (!s)
		return;
	sw_proc_close(&s->proc);
	sw_buf_release(&s->out);
	i = (size_t)(s - c->smokes);
	c->smokes[i] = c->smokes[c->nsmokes - 1];
	c->nsmokes--;
}

static void sw_ctl_smoke_drain(struct sw_ctl_smoke *s)
{
	char buf[4096];
	ssize_t n;

	while (s->proc.out_fd >= 0 && (n = read(s->proc.out_fd, buf, sizeof(buf))) > 0) {
		if (s->out.len + (size_t)n > SW_CTL_SMOKE_OUT_MAX) {
			/* Keep the tail: the end of the output says why it failed. */
			size_t keep = SW_CTL_SMOKE_OUT_MAX / 2;

			if (s->out.len > keep) {
				memmove(s->out.data, s->out.data + s->out.len - keep, keep);
				sw_buf_truncate(&s->out, keep);
			}
		}
		sw_buf_append(&s->out, buf, (size_t)n);
	}
}

/* The last non-empty line of the output. */
static void sw_ctl_last_line(const char *text, char *out, size_t size)
{
	const char *end = text + strlen(text), *start;

	while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	snprintf(out, size, "%.*s", (int)(end - start), start);
}

static void sw_ctl_smoke_poll(struct sw_controller *c)
{
	char how[64], line[400];
	size_t i;

	for (i = 0; i < c->nsmokes; i++) {
		struct sw_ctl_smoke *s = &c->smokes[i];

		if (s->done)
			continue;
		sw_ctl_smoke_drain(s);
		if (!sw_proc_exited(&s->proc))
			continue;
		sw_proc_reap(&s->proc);
		sw_ctl_smoke_drain(s);
		s->done = true;
		s->passed = sw_proc_exit_code(s->proc.status) == 0;
		sw_ctl_last_line(sw_buf_str(&s->out), line, sizeof(line));
		sw_proc_describe(s->proc.status, how, sizeof(how));
		snprintf(s->message, sizeof(s->message), "%s%s%s", how, *line ? ": " : "", line);
	}
}

static void sw_ctl_smoke_start(struct sw_controller *c, const json_t *dep)
{
	const json_t *smoke = json_object_get(sw_dep_plan(dep), "smoke");
	const char *id = sw_json_str(dep, "id"), *path = getenv("PATH");
	struct sw_err err = SW_ERR_INIT;
	struct sw_ctl_smoke *s;
	char *envp[8];
	int n = 0, i;

	sw_ctl_smoke_drop(c, id);
	c->smokes = sw_xreallocarray(c->smokes, c->nsmokes + 1, sizeof(*c->smokes));
	s = &c->smokes[c->nsmokes++];
	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->proc = (struct sw_proc)SW_PROC_INIT;
	sw_buf_init(&s->out, SW_CTL_SMOKE_OUT_MAX * 2);
	{
		struct sw_buf b = SW_BUF_INIT(1 << 20);

		sw_buf_printf(&b, "PATH=%s", path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
		envp[n++] = sw_buf_detach(&b, NULL);
		sw_buf_printf(&b, "SLIPWAY_TARGETS=%s", sw_json_str(smoke, "targets") ? sw_json_str(smoke, "targets") : "");
		envp[n++] = sw_buf_detach(&b, NULL);
		sw_buf_printf(&b, "SLIPWAY_SERVICE=%s", sw_json_str(dep, "service"));
		envp[n++] = sw_buf_detach(&b, NULL);
		sw_buf_printf(&b, "SLIPWAY_ENV=%s", sw_json_str(dep, "env"));
		envp[n++] = sw_buf_detach(&b, NULL);
		sw_buf_printf(&b, "SLIPWAY_DIGEST=%s", sw_json_str(dep, "digest"));
		envp[n++] = sw_buf_detach(&b, NULL);
		sw_buf_printf(&b, "SLIPWAY_DEPLOYMENT=%s", id);
		envp[n++] = sw_buf_detach(&b, NULL);
		envp[n] = NULL;
	}
	if (sw_proc_spawn(&s->proc, sw_json_str(smoke, "command") ? sw_json_str(smoke, "command") : "false",
			  c->cfg.data_dir, envp, &err) < 0) {
		s->done = true;
		s->passed = false;
		snprintf(s->message, sizeof(s->message), "cannot start: %s", err.msg);
	}
	for (i = 0; i < n; i++)
		free(envp[i]);
}

/* ---- committing a step -------------------------------------------------- */

static void sw_ctl_lock(struct sw_controller *c)
{
	pthread_mutex_lock(c->cfg.store_lock);
}

static void sw_ctl_unlock(struct sw_controller *c)
{
	pthread_mutex_unlock(c->cfg.store_lock);
}

static int sw_ctl_event(struct sw_store *st, const json_t *dep, const char *kind_state, const char *actor,
			struct sw_err *err)
{
	char kind[64], subject[256];
	const json_t *spec;
	json_t *payload;
	int rc;

	snprintf(kind, sizeof(kind), "deployment.%s", kind_state);
	snprintf(subject, sizeof(subject), "deployment/%s", sw_json_str(dep, "id"));
	payload = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s}", "id", sw_json_str(dep, "id"), "service",
			    sw_json_str(dep, "service"), "env", sw_json_str(dep, "env"), "digest",
			    sw_json_str(dep, "digest"), "prev_digest",
			    json_object_get(dep, "prev_digest") ? json_object_get(dep, "prev_digest") : json_null(),
			    "reason", sw_json_str(dep, "reason") ? sw_json_str(dep, "reason") : "");
	/* The versions beside the digests; a rollback's target and reason (spec.rollback). */
	spec = json_object_get(dep, "spec");
	json_object_set_new(payload, "version",
			    json_string(sw_json_str(spec, "version") ? sw_json_str(spec, "version") : ""));
	json_object_set(payload, "prev_version",
			json_is_string(json_object_get(spec, "prev_version")) ? json_object_get(spec, "prev_version")
									    : json_null());
	if (json_is_object(json_object_get(spec, "rollback")))
		json_object_set(payload, "rollback", json_object_get(spec, "rollback"));
	/* An emergency (rollback --emergency, abort --emergency) is in the log from its first event on. */
	if (json_is_true(json_object_get(json_object_get(dep, "spec"), "emergency")) ||
	    json_is_true(json_object_get(json_object_get(sw_dep_plan(dep), "abort"), "emergency")))
		json_object_set_new(payload, "emergency", json_true());
	rc = sw_store_append(st, actor, kind, subject, payload, NULL, err);
	json_decref(payload);
	return rc;
}

/* Write the step's desired rows and their generations into the plan (inside a transaction). */
static int sw_ctl_apply_desired(struct sw_store *st, json_t *dep, const struct sw_step *out, struct sw_err *err)
{
	json_t *act, *ph, *rows = NULL, *want;
	const char *host;
	struct sw_err e2 = SW_ERR_INIT;
	int64_t gen;
	size_t i, j;

	json_array_foreach(out->desired, i, act) {
		host = sw_json_str(act, "host");
		want = json_object_get(act, "want");
		if (sw_store_desired_set(st, host, sw_json_str(dep, "service"), sw_json_str(act, "slot"),
					 json_is_null(want) ? NULL : want, &e2) < 0) {
			if (e2.code == SW_ENOTFOUND)
				continue; /* the host is gone: nothing to tell it */
			*err = e2;
			return -1;
		}
		if (sw_store_desired_get(st, host, &gen, &rows, err) < 0)
			return -1;
		json_decref(rows);
		json_array_foreach(json_object_get(sw_dep_plan(dep), "hosts"), j, ph)
			if (!strcmp(sw_json_str(ph, "id") ? sw_json_str(ph, "id") : "", host))
				json_object_set_new(ph, "gen", json_integer(gen));
	}
	return 0;
}

/*
 * Commit dep (changed by a step) with out's actions. Returns 1 when the
 * stored record had ended meanwhile (nothing written), 0 when committed.
 */
static int sw_ctl_commit(struct sw_controller *c, json_t *dep, const struct sw_step *out, bool allow_final,
			 struct sw_err *err)
{
	struct sw_store *st = c->cfg.store;
	json_t *cur = NULL, *ev;
	enum sw_dep_state cs;
	const char *actor = "server";
	char subject[256];
	size_t i;
	int rc = -1;

	snprintf(subject, sizeof(subject), "deployment/%s", sw_json_str(dep, "id") ? sw_json_str(dep, "id") : "");

	sw_ctl_lock(c);
	if (sw_store_begin(st, err) < 0)
		goto out;
	if (sw_store_deployment_get(st, sw_json_str(dep, "id"), &cur, err) < 0)
		goto fail;
	if (!allow_final && sw_dep_state_parse(sw_json_str(cur, "state"), &cs) == 0 && sw_dep_state_final(cs)) {
		sw_store_rollback(st);
		rc = 1;
		goto out;
	}
	sw_dep_merge_concurrent(dep, cur, out->transition);
	if (sw_ctl_apply_desired(st, dep, out, err) < 0 || sw_store_deployment_save(st, dep, err) < 0)
		goto fail;
	json_array_foreach(out->events, i, ev)
		if (sw_store_append(st, "server", sw_json_str(ev, "kind"), subject, json_object_get(ev, "payload"), NULL,
				    err) < 0)
			goto fail;
	if (out->transition) {
		if (out->state == SW_DEP_ABORTED)
			actor = sw_json_str(json_object_get(sw_dep_plan(dep), "abort"), "actor");
		else if (out->state == SW_DEP_ROLLED_BACK || out->state == SW_DEP_FAILED)
			actor = sw_json_str(sw_dep_plan(dep), "rollback_by"); /* "slipway (analysis errors)" */
		if (sw_ctl_event(st, dep, sw_dep_state_name(out->state), actor ? actor : "server", err) < 0)
			goto fail;
	}
	if (sw_store_commit(st, err) < 0)
		goto out;
	rc = 0;
	goto out;
fail:
	sw_store_rollback(st);
out:
	sw_ctl_unlock(c);
	json_decref(cur);
	return rc;
}

static void sw_ctl_add_cleanup(struct sw_controller *c, const json_t *dep)
{
	const json_t *cl = json_object_get(sw_dep_plan(dep), "cleanup");
	size_t i;

	if (!json_is_object(cl) || json_is_true(json_object_get(cl, "done")))
		return;
	for (i = 0; i < c->ncleanups; i++)
		if (!strcmp(c->cleanups[i].id, sw_json_str(dep, "id")))
			return;
	c->cleanups = sw_xreallocarray(c->cleanups, c->ncleanups + 1, sizeof(*c->cleanups));
	snprintf(c->cleanups[c->ncleanups].id, sizeof(c->cleanups[0].id), "%s", sw_json_str(dep, "id"));
	c->cleanups[c->ncleanups].at_ms = sw_dep_int(cl, "at_ms");
	c->ncleanups++;
}

/* Remember dep as the latest deployment of its (service, env) (callers give them oldest first). */
static void sw_ctl_add_sync(struct sw_controller *c, const json_t *dep)
{
	const char *service = sw_json_str(dep, "service"), *env = sw_json_str(dep, "env"), *id = sw_json_str(dep, "id");
	struct sw_ctl_sync *y = NULL;
	size_t i;

	if (!service || !env || !id)
		return;
	for (i = 0; i < c->nsyncs && !y; i++)
		if (!strcmp(c->syncs[i].service, service) && !strcmp(c->syncs[i].env, env))
			y = &c->syncs[i];
	if (!y) {
		c->syncs = sw_xreallocarray(c->syncs, c->nsyncs + 1, sizeof(*c->syncs));
		y = &c->syncs[c->nsyncs++];
		snprintf(y->service, sizeof(y->service), "%s", service);
		snprintf(y->env, sizeof(y->env), "%s", env);
	}
	snprintf(y->id, sizeof(y->id), "%s", id);
}

/* ---- one deployment ----------------------------------------------------- */

static void sw_ctl_run(struct sw_controller *c, const char *id)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_ctl_smoke *smoke;
	struct sw_ctl_obs o;
	struct sw_step out;
	enum sw_dep_state st;
	json_t *dep = NULL;
	int i, rc, stalls = 0;

	for (i = 0; i < SW_CTL_MAX_STEPS; i++) {
		sw_ctl_lock(c);
		rc = sw_store_deployment_get(c->cfg.store, id, &dep, &err);
		if (rc == 0 && sw_ctl_observe(c->cfg.store, dep, c->cfg.heartbeat_timeout_ms, &o, &err) < 0)
			rc = -1;
		sw_ctl_unlock(c);
		if (rc == 0)
			o.obs.live_since_ms = sw_ctl_live_since(c);
		if (rc < 0) {
			sw_warn("msg=\"cannot read deployment\" id=%s error=\"%s\"", id, err.msg);
			json_decref(dep);
			return;
		}
		/* Paused: not stepped (hosts keep what they run), but for a canary's background analyses. */
		if (!strcmp(sw_json_str(dep, "state") ? sw_json_str(dep, "state") : "", "paused") &&
		    !json_object_get(sw_dep_plan(dep), "abort") && !sw_canary_paused_watch(dep)) {
			sw_ctl_obs_release(&o);
			json_decref(dep);
			return;
		}
		json_object_set_new(dep, "_read_state", json_string(sw_json_str(dep, "state") ? sw_json_str(dep, "state") : ""));
		sw_step_init(&out);
		smoke = sw_ctl_smoke_find(c, id);
		o.obs.smoke = !smoke ? SW_SMOKE_IDLE : !smoke->done ? SW_SMOKE_RUNNING
					: smoke->passed	      ? SW_SMOKE_PASSED
							      : SW_SMOKE_FAILED;
		o.obs.smoke_message = smoke ? smoke->message : NULL;
		if (sw_ctl_traffic(dep, &o, &err) < 0 || sw_deployment_step(dep, &o.obs, &out, &err) < 0) {
			char reason[SW_ERR_MSG_MAX + 32];

			snprintf(reason, sizeof(reason), "cannot run the deployment: %s", err.msg);
			sw_step_release(&out);
			sw_step_init(&out);
			sw_deployment_finish(dep, SW_DEP_FAILED, reason, &out);
		}
		/*
		 * The process stalled during the step (SIGSTOP): what it measured with a
		 * deadline (a balancer call's timeout, say) measured the stall. Its result is
		 * dropped and the step is taken again from the store; its balancer calls are
		 * "sets", so doing them again is safe (deployment.h).
		 */
		if (sw_ctl_live_since(c) > o.obs.now_ms && stalls++ < SW_CTL_MAX_STEPS) {
			sw_info("msg=\"the server stalled during a step: taking it again\" id=%s", id);
			sw_step_release(&out);
			sw_ctl_obs_release(&o);
			json_decref(dep);
			dep = NULL;
			i--;
			continue;
		}
		rc = sw_ctl_commit(c, dep, &out, false, &err);
		if (rc < 0)
			sw_warn("msg=\"cannot record deployment step\" id=%s error=\"%s\"", id, err.msg);
		else if (rc == 0 && out.transition) {
			sw_info("msg=\"deployment %s\" id=%s reason=\"%s\"", sw_dep_state_name(out.state), id,
				sw_json_str(dep, "reason") ? sw_json_str(dep, "reason") : "");
			if (c->cfg.on_events)
				c->cfg.on_events(c->cfg.on_events_ctx);
		}
		if (rc == 0 && out.smoke_start)
			sw_ctl_smoke_start(c, dep);
		/* A smoke command of a deployment that moved on is of no use. */
		if (sw_ctl_smoke_find(c, id) && strcmp(sw_json_str(sw_dep_plan(dep), "bg") ? sw_json_str(sw_dep_plan(dep), "bg") : "", "smoke"))
			sw_ctl_smoke_drop(c, id);
		if (rc == 0 && sw_dep_state_parse(sw_json_str(dep, "state"), &st) == 0 && sw_dep_state_final(st)) {
			sw_ctl_smoke_drop(c, id);
			sw_ctl_add_cleanup(c, dep);
			sw_ctl_add_sync(c, dep);
			c->sync_at_ms = 0; /* whatever it left out of rotation is looked at now */
		}
		sw_ctl_obs_release(&o);
		json_decref(dep);
		dep = NULL;
		if (rc != 0 || !out.again) {
			sw_step_release(&out);
			break;
		}
		sw_step_release(&out);
	}
}

/* ---- blue/green cleanups ------------------------------------------------ */

static void sw_ctl_cleanup_one(struct sw_controller *c, size_t idx)
{
	struct sw_store *st = c->cfg.store;
	struct sw_ctl_cleanup *cl = &c->cleanups[idx];
	struct sw_err err = SW_ERR_INIT;
	json_t *dep = NULL, *newest = NULL, *active = NULL;
	struct sw_ctl_obs o;
	struct sw_step out;
	bool observed = false, drop = true;
	int rc;

	memset(&o, 0, sizeof(o));
	sw_step_init(&out);
	sw_ctl_lock(c);
	rc = sw_store_deployment_get(st, cl->id, &dep, &err);
	if (rc == 0)
		rc = sw_store_deployment_list(st, sw_json_str(dep, "service"), sw_json_str(dep, "env"), 0, 1, &newest,
					      &err);
	if (rc == 0)
		rc = sw_store_deployment_list(st, sw_json_str(dep, "service"), sw_json_str(dep, "env"), 1, 1, &active,
					      &err);
	if (rc == 0 && json_array_size(active) > 0) {
		/* Someone is deploying this service there now: look again later. */
		cl->at_ms = sw_clock_wall_ms() + 1000;
		drop = false;
		rc = 1;
	}
	if (rc == 0 && strcmp(sw_json_str(json_array_get(newest, 0), "id"), cl->id)) {
		/* A newer deployment owns the slots now: nothing of ours to remove. */
		json_object_set_new(json_object_get(sw_dep_plan(dep), "cleanup"), "done", json_true());
		rc = 2;
	}
	if (rc == 0) {
		rc = sw_ctl_observe(st, dep, c->cfg.heartbeat_timeout_ms, &o, &err);
		observed = rc == 0;
	}
	sw_ctl_unlock(c);
	if (observed)
		o.obs.live_since_ms = sw_ctl_live_since(c);
	if (rc == 0 && sw_bluegreen_cleanup(dep, &o.obs, &out) == 0)
		rc = 1;
	if (rc == 0 || rc == 2) {
		if (sw_ctl_commit(c, dep, &out, true, &err) < 0) {
			sw_warn("msg=\"cannot remove the old colour\" id=%s error=\"%s\"", cl->id, err.msg);
			cl->at_ms = sw_clock_wall_ms() + 5000;
			drop = false;
		} else {
			sw_info("msg=\"old colour removed\" id=%s rows=%zu", cl->id, json_array_size(out.desired));
		}
	} else if (rc < 0) {
		sw_warn("msg=\"cannot read deployment for cleanup\" id=%s error=\"%s\"", cl->id, err.msg);
	}
	if (observed)
		sw_ctl_obs_release(&o);
	sw_step_release(&out);
	json_decref(dep);
	json_decref(newest);
	json_decref(active);
	if (drop) {
		c->cleanups[idx] = c->cleanups[c->ncleanups - 1];
		c->ncleanups--;
	}
}

static void sw_ctl_cleanups(struct sw_controller *c)
{
	int64_t now = sw_clock_wall_ms();
	size_t i = c->ncleanups;

	while (i-- > 0)
		if (c->cleanups[i].at_ms <= now)
			sw_ctl_cleanup_one(c, i);
}

/* ---- traffic reconciliation --------------------------------------------- */

/*
 * One (service, env): when no deployment of the service is active (in any
 * environment: environments of one service may share hosts and a backend,
 * and a rollout owns the traffic while it runs), its latest deployment's
 * hosts that serve healthy go back in rotation (trafficsync.h). Runs on
 * the controller thread, so no deployment step runs meanwhile.
 */
static void sw_ctl_sync_one(struct sw_controller *c, const struct sw_ctl_sync *y)
{
	struct sw_store *st = c->cfg.store;
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf done = SW_BUF_INIT(8192);
	json_t *active = NULL, *dep = NULL;
	struct sw_ctl_obs o;
	bool observed = false;
	int rc;

	sw_ctl_lock(c);
	rc = sw_store_deployment_list(st, y->service, NULL, 1, 1, &active, &err);
	if (rc == 0 && json_array_size(active) == 0)
		rc = sw_store_deployment_get(st, y->id, &dep, &err);
	if (rc == 0 && dep && json_object_get(json_object_get(sw_dep_env(dep), "traffic"), "haproxy")) {
		rc = sw_ctl_observe(st, dep, c->cfg.heartbeat_timeout_ms, &o, &err);
		observed = rc == 0;
	}
	sw_ctl_unlock(c);
	if (observed) {
		o.obs.live_since_ms = sw_ctl_live_since(c);
		if (sw_ctl_traffic(dep, &o, &err) < 0 || (rc = sw_trafficsync(dep, &o.obs, &done, &err)) < 0)
			sw_warn("msg=\"cannot reconcile traffic\" service=%s env=%s error=\"%s\"", y->service, y->env,
				err.msg);
		else if (rc > 0)
			sw_info("msg=\"traffic reconciled: back in rotation\" service=%s env=%s deployment=%s servers=\"%s\"",
				y->service, y->env, y->id, sw_buf_str(&done));
		sw_ctl_obs_release(&o);
	} else if (rc < 0) {
		sw_warn("msg=\"cannot read deployments for traffic reconciliation\" service=%s env=%s error=\"%s\"",
			y->service, y->env, err.msg);
	}
	sw_buf_release(&done);
	json_decref(active);
	json_decref(dep);
}

static void sw_ctl_syncs(struct sw_controller *c)
{
	uint64_t now = sw_clock_mono_ms();
	size_t i;

	if (c->sync_at_ms && now < c->sync_at_ms)
		return;
	c->sync_at_ms = now + SW_TRAFFICSYNC_MS;
	for (i = 0; i < c->nsyncs; i++)
		sw_ctl_sync_one(c, &c->syncs[i]);
}

/* ---- the thread --------------------------------------------------------- */

static void sw_ctl_pass(struct sw_controller *c)
{
	struct sw_err err = SW_ERR_INIT;
	json_t *active = NULL, *d;
	size_t i;
	int rc;

	sw_ctl_smoke_poll(c);
	sw_ctl_lock(c);
	rc = sw_store_deployment_list(c->cfg.store, NULL, NULL, 1, 0, &active, &err);
	sw_ctl_unlock(c);
	if (rc < 0) {
		sw_warn("msg=\"cannot list deployments\" error=\"%s\"", err.msg);
		return;
	}
	/* Oldest first: the order they were asked for. */
	i = json_array_size(active);
	while (i-- > 0) {
		d = json_array_get(active, i);
		sw_ctl_run(c, sw_json_str(d, "id"));
	}
	json_decref(active);
	sw_ctl_cleanups(c);
	sw_ctl_syncs(c);
}

static void *sw_ctl_main(void *arg)
{
	struct sw_controller *c = arg;
	struct timespec ts;
	uint64_t ns;

	for (;;) {
		pthread_mutex_lock(&c->mu);
		if (c->stopping) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		c->kicked = false;
		pthread_mutex_unlock(&c->mu);

		sw_ctl_pass(c);

		pthread_mutex_lock(&c->mu);
		if (!c->kicked && !c->stopping) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ns = (uint64_t)ts.tv_nsec + c->cfg.tick_ms * 1000000ull;
			ts.tv_sec += (time_t)(ns / 1000000000ull);
			ts.tv_nsec = (long)(ns % 1000000000ull);
			while (!c->kicked && !c->stopping &&
			       pthread_cond_timedwait(&c->cv, &c->mu, &ts) != ETIMEDOUT)
				;
		}
		pthread_mutex_unlock(&c->mu);
	}
	return NULL;
}

/* Blue/green deployments that still have an old colour to remove; the latest deployment of each (service, env). */
static int sw_ctl_load_cleanups(struct sw_controller *c, struct sw_err *err)
{
	json_t *all = NULL, *d;
	size_t i;
	int rc;

	sw_ctl_lock(c);
	rc = sw_store_deployment_list(c->cfg.store, NULL, NULL, 0, 0, &all, err);
	sw_ctl_unlock(c);
	if (rc < 0)
		return -1;
	/* Newest first: the first of each (service, env) is its latest, which traffic passes follow. */
	i = json_array_size(all);
	while (i-- > 0)
		sw_ctl_add_sync(c, json_array_get(all, i));
	json_array_foreach(all, i, d)
		if (!strcmp(sw_json_str(d, "state") ? sw_json_str(d, "state") : "", "succeeded"))
			sw_ctl_add_cleanup(c, d);
	json_decref(all);
	return 0;
}

struct sw_controller *sw_controller_start(const struct sw_controller_config *cfg, struct sw_err *err)
{
	struct sw_controller *c;
	pthread_condattr_t ca;
	int rc;

	if (!cfg || !cfg->store || !cfg->store_lock) {
		sw_err_set(err, SW_EINTERNAL, "controller: no store or store lock");
		return NULL;
	}
	/* Analyses (prometheus, http providers) use base/httpc from the controller thread. */
	if (sw_httpc_global_init() < 0) {
		sw_err_set(err, SW_EINTERNAL, "controller: cannot initialise libcurl");
		return NULL;
	}
	c = sw_xcalloc(1, sizeof(*c));
	c->cfg = *cfg;
	if (!c->cfg.tick_ms)
		c->cfg.tick_ms = 200;
	if (!c->cfg.heartbeat_timeout_ms)
		c->cfg.heartbeat_timeout_ms = 3000;
	if (!c->cfg.data_dir)
		c->cfg.data_dir = ".";
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_cond_init(&c->watch_cv, &ca);
	pthread_condattr_destroy(&ca);
	/* A start is the end of an outage: hosts have had no server to report to. */
	c->alive_ms = sw_ctl_boot_ms();
	c->live_since_ms = sw_clock_wall_ms();
	if (sw_ctl_load_cleanups(c, err) < 0)
		goto fail;
	rc = pthread_create(&c->watch, NULL, sw_ctl_watch, c);
	if (rc != 0) {
		sw_err_set(err, SW_EIO, "cannot start the controller's stall watch: %s", strerror(rc));
		goto fail;
	}
	c->watching = true;
	rc = pthread_create(&c->thread, NULL, sw_ctl_main, c);
	if (rc != 0) {
		sw_err_set(err, SW_EIO, "cannot start the rollout controller: %s", strerror(rc));
		goto fail;
	}
	c->started = true;
	return c;
fail:
	if (c->watching) {
		pthread_mutex_lock(&c->mu);
		c->stopping = true;
		pthread_cond_signal(&c->watch_cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->watch, NULL);
	}
	pthread_cond_destroy(&c->watch_cv);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c->cleanups);
	free(c->syncs);
	free(c);
	return NULL;
}

void sw_controller_kick(struct sw_controller *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->kicked = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void sw_controller_stop(struct sw_controller *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = true;
	pthread_cond_signal(&c->cv);
	pthread_cond_signal(&c->watch_cv);
	pthread_mutex_unlock(&c->mu);
	if (c->started)
		pthread_join(c->thread, NULL);
	if (c->watching)
		pthread_join(c->watch, NULL);
	while (c->nsmokes)
		sw_ctl_smoke_drop(c, c->smokes[0].id);
	free(c->smokes);
	free(c->cleanups);
	free(c->syncs);
	pthread_cond_destroy(&c->watch_cv);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* ---- the deployment API ------------------------------------------------- */

/* The release under digest, as the store knows it ("sha256:<hex>" or "<hex>"). */
static int sw_ctl_release(struct sw_store *st, const char *digest, char *key, size_t keysize, json_t **manifest,
			  struct sw_err *err)
{
	char alt[128], *text = NULL;
	struct sw_err e2 = SW_ERR_INIT;

	*manifest = NULL;
	if (!digest || !*digest || strlen(digest) > 100)
		return sw_err_set(err, SW_EINPUT, "a release digest is required");
	snprintf(key, keysize, "%s", digest);
	if (sw_store_get_release(st, key, &text, NULL, &e2) < 0) {
		if (e2.code != SW_ENOTFOUND) {
			*err = e2;
			return -1;
		}
		if (!strncmp(digest, "sha256:", 7))
			snprintf(alt, sizeof(alt), "%s", digest + 7);
		else
			snprintf(alt, sizeof(alt), "sha256:%s", digest);
		if (sw_store_get_release(st, alt, &text, NULL, &e2) < 0) {
			if (e2.code == SW_ENOTFOUND)
				return sw_err_set(err, SW_ENOTFOUND, "release '%s' not found (upload and commit it first)",
						  digest);
			*err = e2;
			return -1;
		}
		snprintf(key, keysize, "%s", alt);
	}
	*manifest = sw_json_parse(text, strlen(text), 1u << 24, "release manifest", err);
	free(text);
	return *manifest ? 0 : -1;
}

static int sw_ctl_active_check(struct sw_store *st, const char *service, const char *env, struct sw_err *err)
{
	json_t *active = NULL;

	if (sw_store_deployment_list(st, service, env, 1, 1, &active, err) < 0)
		return -1;
	if (json_array_size(active) > 0) {
		json_t *d = json_array_get(active, 0);

		sw_err_set(err, SW_EBUSY, "deployment %s of %s to %s is still %s", sw_json_str(d, "id"), service, env,
			   sw_json_str(d, "state"));
		json_decref(active);
		return -1;
	}
	json_decref(active);
	return 0;
}

/*
 * Promotion order (environments.<env>.after): the same release must have
 * succeeded in the environment before, so that the digest tested there is
 * the one that comes here. Build once, promote the same digest.
 */
static int sw_ctl_after_check(struct sw_store *st, const char *service, const char *env, const char *after,
			      const char *key, struct sw_err *err)
{
	json_t *history = NULL, *d;
	size_t i;
	bool ok = false;

	if (sw_store_deployment_list(st, service, after, 0, 0, &history, err) < 0)
		return -1;
	json_array_foreach(history, i, d)
		if (!strcmp(sw_json_str(d, "state") ? sw_json_str(d, "state") : "", "succeeded") &&
		    !strcmp(sw_json_str(d, "digest") ? sw_json_str(d, "digest") : "", key))
			ok = true;
	json_decref(history);
	if (!ok)
		return sw_err_set(err, SW_EBUSY,
				  "release '%s' has not succeeded in '%s' yet: '%s' comes after '%s' "
				  "(environments.%s.after); deploy it to '%s' first",
				  key, after, env, after, env, after);
	return 0;
}

/* Next "dep-<n>": one more than the newest, skipping any id already taken. */
static int sw_ctl_next_id(struct sw_store *st, char *out, size_t size, struct sw_err *err)
{
	json_t *newest = NULL, *probe = NULL;
	struct sw_err e2 = SW_ERR_INIT;
	const char *id;
	uint64_t n = 0;
	int i;

	if (sw_store_deployment_list(st, NULL, NULL, 0, 1, &newest, err) < 0)
		return -1;
	id = sw_json_str(json_array_get(newest, 0), "id");
	if (id && !strncmp(id, "dep-", 4) && sw_parse_u64(id + 4, strlen(id + 4), 0, UINT64_MAX / 2, &n) < 0)
		n = 0;
	json_decref(newest);
	for (i = 0; i < 10000; i++) {
		snprintf(out, size, "dep-%llu", (unsigned long long)(n + 1 + (uint64_t)i));
		if (sw_store_deployment_get(st, out, &probe, &e2) < 0) {
			if (e2.code == SW_ENOTFOUND)
				return 0;
			*err = e2;
			return -1;
		}
		json_decref(probe);
		probe = NULL;
	}
	return sw_err_set(err, SW_EINTERNAL, "cannot find a free deployment id");
}

/* The newest succeeded deployment of (service, env) other than skip_digest (NULL: any). */
static const json_t *sw_ctl_last_good(const json_t *history, const char *skip_digest, size_t from, size_t *at)
{
	const json_t *d;
	size_t i;

	for (i = from; i < json_array_size(history); i++) {
		d = json_array_get(history, i);
		if (strcmp(sw_json_str(d, "state") ? sw_json_str(d, "state") : "", "succeeded"))
			continue;
		if (skip_digest && !strcmp(sw_json_str(d, "digest") ? sw_json_str(d, "digest") : "", skip_digest))
			continue;
		if (at)
			*at = i;
		return d;
	}
	return NULL;
}

/* A load balancer address that cannot be used is bad input now, not a failed deployment later. */
static int sw_ctl_check_traffic(const json_t *envj, const char *env, struct sw_err *err)
{
	const json_t *hap = json_object_get(json_object_get(envj, "traffic"), "haproxy");
	struct sw_haproxy h;

	if (!sw_json_str(hap, "socket"))
		return 0;
	if (sw_haproxy_init(&h, sw_json_str(hap, "socket"), err) < 0) {
		sw_err_prefix(err, "environment '%s': traffic", env);
		return -1;
	}
	return 0;
}

/*
 * `slipway rollback --emergency`: every host at once, whatever the limits
 * (rolling: one batch of every host; canary and rings: every step and bake
 * skipped, as `promote --full`; blue/green is one switch anyway).
 */
static void sw_ctl_emergency(json_t *plan)
{
	json_t *all = json_array(), *limits = json_object_get(plan, "limits");
	size_t i, n = json_array_size(json_object_get(plan, "hosts"));
	const char *strategy = sw_json_str(plan, "strategy") ? sw_json_str(plan, "strategy") : "";

	if (!strcmp(strategy, "rolling")) {
		for (i = 0; i < n; i++)
			json_array_append_new(all, json_integer((json_int_t)i));
		json_object_set_new(plan, "batches", json_pack("[O]", all));
		json_object_set_new(limits, "max_unavailable", json_integer((json_int_t)n));
		json_object_set_new(limits, "min_healthy", json_integer(0));
		json_object_set_new(limits, "size", json_integer((json_int_t)n));
	} else if (!strcmp(strategy, "canary") || !strcmp(strategy, "rings")) {
		json_object_set_new(plan, "promote_full",
				    json_pack("{s:s, s:I}", "actor", "emergency", "at_ms", (json_int_t)sw_clock_wall_ms()));
		json_object_set_new(plan, "promote", json_pack("{s:s, s:I, s:I}", "actor", "emergency", "at_ms",
							       (json_int_t)sw_clock_wall_ms(), "step", (json_int_t)0));
	}
	json_object_set_new(plan, "emergency", json_true());
	json_decref(all);
}

/*
 * environments.<name>.unpack: the committed bundle must fit the limits the
 * environment sets (the server's own were checked at commit; agents apply
 * their host caps). The commit's scan left the archive's totals beside the
 * bundle (SW_BUNDLE_STATS_FILE), so this runs under the store lock without
 * reading the archive; a release committed before that file existed is
 * scanned (read, not written).
 */
/* The bundle's recorded totals against lim; a scan when none were recorded. */
static int sw_ctl_unpack_fits(const char *bundle, const struct sw_bundle_limits *lim, struct sw_err *err)
{
	struct sw_bundle_stats stats;
	struct sw_err e2 = SW_ERR_INIT;
	char path[PATH_MAX];
	const char *slash = strrchr(bundle, '/');
	int n = slash ? (int)(slash - bundle) : 1;

	if (sw_snprintf(path, sizeof(path), "%.*s/%s", n, slash ? bundle : ".", SW_BUNDLE_STATS_FILE) < 0)
		return sw_err_set(err, SW_EINTERNAL, "release path too long");
	if (sw_bundle_stats_read(path, &stats, &e2) == 0)
		return sw_bundle_stats_check(&stats, lim, bundle, err);
	if (e2.code != SW_ENOTFOUND)
		sw_warn("msg=\"cannot read a bundle's recorded totals: scanning it\" error=\"%s\"", e2.msg);
	return sw_bundle_scan(bundle, lim, NULL, NULL, err);
}

static int sw_ctl_unpack_check(struct sw_store *st, const char *key, const struct sw_spec_env *e, struct sw_err *err)
{
	const struct sw_spec_unpack *u = &e->unpack;
	struct sw_bundle_limits lim = { .max_entry_bytes = UINT64_MAX, .max_total_bytes = UINT64_MAX,
					.max_entries = UINT64_MAX };
	struct sw_err e2 = SW_ERR_INIT;
	char *text = NULL, *bundle = NULL;
	int rc = 0;

	if (!u->max_size && !u->max_file_size && !u->max_ratio)
		return 0;
	if (u->max_size)
		lim.max_total_bytes = u->max_size;
	if (u->max_file_size)
		lim.max_entry_bytes = u->max_file_size;
	lim.max_ratio = u->max_ratio;
	lim.ratio_floor_bytes = SW_BUNDLE_RATIO_FLOOR_DEFAULT;
	if (sw_store_get_release(st, key, &text, &bundle, err) < 0)
		return -1;
	if (!bundle || sw_ctl_unpack_fits(bundle, &lim, &e2) < 0)
		rc = sw_err_set(err, SW_EINPUT, "release '%s' does not fit the unpack limits of environment '%s' "
				"(slipway.yml:%u:%u): %s",
				key, e->name, e->loc.line, e->loc.col, bundle ? e2.msg : "its bundle is not on the server");
	free(text);
	free(bundle);
	return rc;
}

/*
 * rollback: spec.rollback of a deployment made by sw_rollout_rollback
 * ({to, version, digest, reason}, borrowed), or NULL.
 */
static int sw_ctl_create(struct sw_store *st, const char *service, const char *env, const char *digest,
			 const char *actor, const char *kind, bool emergency, const json_t *rollback, json_t **out,
			 struct sw_err *err)
{
	char key[128], id[64], now[SW_TIME_STR_MAX], *sel = NULL;
	json_t *manifest = NULL, *hosts = NULL, *matched = NULL, *history = NULL, *envj = NULL, *runj = NULL;
	json_t *plan = NULL, *dep = NULL, *spec_json = NULL;
	const json_t *prev;
	const char *spec_text, *mservice;
	struct sw_spec *spec = NULL;
	long ei;
	int own = 0, rc = -1;

	*out = NULL;
	if (!service || !sw_spec_service_name_ok(service))
		return sw_err_set(err, SW_EINPUT, "invalid service name '%s'", service ? service : "");
	if (!env || !*env || strlen(env) > 63)
		return sw_err_set(err, SW_EINPUT, "an environment name is required");
	if (sw_ctl_release(st, digest, key, sizeof(key), &manifest, err) < 0)
		goto out;
	mservice = sw_json_str(manifest, "service");
	if (!mservice || strcmp(mservice, service)) {
		sw_err_set(err, SW_EINPUT, "release '%s' is of service '%s', not '%s'", digest, mservice ? mservice : "?",
			   service);
		goto out;
	}
	spec_text = sw_json_str(manifest, "spec");
	if (!spec_text) {
		sw_err_set(err, SW_EINPUT,
			   "release '%s' carries no slipway.yml (field 'spec' of release.json); make it again with "
			   "'slipway release'",
			   digest);
		goto out;
	}
	if (!(spec = sw_spec_parse("slipway.yml", spec_text, strlen(spec_text), err))) {
		sw_err_prefix(err, "release '%s'", digest);
		goto out;
	}
	ei = sw_spec_env_index(spec, env);
	if (ei < 0) {
		struct sw_buf names = SW_BUF_INIT(4096);
		size_t i;

		for (i = 0; i < spec->nenvs; i++)
			sw_buf_printf(&names, "%s%s", i ? ", " : "", spec->envs[i].name);
		sw_err_set(err, SW_EINPUT, "environment '%s' is not defined in the slipway.yml of release '%s' (defined: %s)",
			   env, digest, spec->nenvs ? sw_buf_str(&names) : "none");
		sw_buf_release(&names);
		goto out;
	}
	if (!spec->run) {
		sw_err_set(err, SW_EINPUT, "release '%s' has no run section: nothing to start on hosts", digest);
		goto out;
	}
	/* A rollback goes back to what ran here before: not held up by limits tightened since either. */
	if (strcmp(kind, "rollback") && sw_ctl_unpack_check(st, key, &spec->envs[ei], err) < 0)
		goto out;
	if (sw_ctl_active_check(st, service, env, err) < 0)
		goto out;
	/* A rollback goes back to what ran here before: never held up by the promotion order. */
	if (spec->envs[ei].after && strcmp(kind, "rollback") &&
	    sw_ctl_after_check(st, service, env, spec->envs[ei].after, key, err) < 0)
		goto out;
	envj = sw_runjson_env(&spec->envs[ei]);
	runj = sw_runjson_run(spec->run);
	if (spec->nanalyses) {
		json_t *an = json_object();
		size_t k;

		for (k = 0; k < spec->nanalyses; k++)
			json_object_set_new(an, spec->analyses[k].name, sw_runjson_analysis(&spec->analyses[k]));
		json_object_set_new(envj, "analyses", an);
	}
	if (sw_ctl_check_traffic(envj, env, err) < 0)
		goto out;
	if (sw_store_host_list(st, &hosts, err) < 0)
		goto out;
	matched = sw_plan_select(hosts, json_object_get(envj, "selector"));
	if (json_array_size(matched) == 0) {
		sel = sw_plan_selector_text(json_object_get(envj, "selector"));
		sw_err_set(err, SW_EINPUT, "no hosts match %s for environment '%s'", sel, env);
		goto out;
	}
	if (!(plan = sw_plan_build(envj, matched, err)))
		goto out;
	if (emergency)
		sw_ctl_emergency(plan);
	if (sw_store_deployment_list(st, service, env, 0, 0, &history, err) < 0)
		goto out;
	prev = sw_ctl_last_good(history, NULL, 0, NULL);
	if (!st->in_tx) {
		if (sw_store_begin(st, err) < 0)
			goto out;
		own = 1;
	}
	if (sw_ctl_next_id(st, id, sizeof(id), err) < 0)
		goto out;
	sw_clock_format_utc(sw_clock_wall_ms(), now, sizeof(now));
	spec_json = json_pack("{s:o, s:o, s:s, s:s, s:O}", "env", envj, "run", runj, "kind", kind, "version",
			      sw_json_str(manifest, "version") ? sw_json_str(manifest, "version") : "",
			      "prev_version",
			      prev && sw_json_str(json_object_get(prev, "spec"), "version")
				      ? json_object_get(json_object_get(prev, "spec"), "version")
				      : json_null());
	envj = runj = NULL;
	if (emergency)
		json_object_set_new(spec_json, "emergency", json_true());
	if (rollback)
		json_object_set_new(spec_json, "rollback", json_deep_copy(rollback));
	dep = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s, s:s, s:s, s:O, s:O, s:s, s:s, s:I}", "id", id, "service",
			service, "env", env, "digest", key, "prev_digest",
			prev ? json_object_get(prev, "digest") : json_null(), "state", "pending", "reason", "", "actor",
			actor && *actor ? actor : "unknown", "spec", spec_json, "plan", plan, "created", now, "updated",
			now, "deadline_ms",
			(json_int_t)(sw_clock_wall_ms() + sw_dep_int(json_object_get(spec_json, "env"),
								      "progress_deadline_ms")));
	if (sw_store_deployment_save(st, dep, err) < 0 ||
	    sw_ctl_event(st, dep, "created", actor && *actor ? actor : "unknown", err) < 0)
		goto out;
	if (own) {
		own = 0;
		if (sw_store_commit(st, err) < 0)
			goto out;
	}
	*out = dep;
	dep = NULL;
	rc = 0;
out:
	if (own)
		sw_store_rollback(st);
	free(sel);
	sw_spec_free(spec);
	json_decref(manifest);
	json_decref(hosts);
	json_decref(matched);
	json_decref(history);
	json_decref(envj);
	json_decref(runj);
	json_decref(plan);
	json_decref(spec_json);
	json_decref(dep);
	return rc;
}

/*
 * Retry: a new deployment of the same digest into the same env, from the
 * first step, for an aborted, rolled back or failed one. Asking again while
 * that new deployment exists answers it (idempotent): the retry is found by
 * spec.retry_of among the newer deployments of (service, env).
 */
static int sw_ctl_retry(struct sw_store *st, const char *id, const char *actor, json_t **out, char *note,
			size_t notesize, struct sw_err *err)
{
	json_t *dep = NULL, *history = NULL, *d, *created = NULL;
	enum sw_dep_state s;
	const char *state;
	size_t i;
	int rc = -1;

	if (sw_store_deployment_get(st, id, &dep, err) < 0)
		return -1;
	state = sw_json_str(dep, "state") ? sw_json_str(dep, "state") : "?";
	if (sw_dep_state_parse(state, &s) < 0 || !sw_dep_state_final(s)) {
		sw_err_set(err, SW_EBUSY, "%s is still %s; abort it before retrying", id, state);
		goto out;
	}
	if (s == SW_DEP_SUCCEEDED) {
		sw_err_set(err, SW_EBUSY, "%s has succeeded; nothing to retry", id);
		goto out;
	}
	if (sw_store_deployment_list(st, sw_json_str(dep, "service"), sw_json_str(dep, "env"), 0, 50, &history, err) < 0)
		goto out;
	json_array_foreach(history, i, d) {
		if (!strcmp(sw_json_str(d, "id") ? sw_json_str(d, "id") : "", id))
			break; /* older ones cannot be its retry */
		if (!strcmp(sw_json_str(json_object_get(d, "spec"), "retry_of") ? sw_json_str(json_object_get(d, "spec"), "retry_of") : "", id)) {
			snprintf(note, notesize, "already retried as %s", sw_json_str(d, "id"));
			*out = json_incref(d);
			rc = 0;
			goto out;
		}
	}
	if (sw_ctl_create(st, sw_json_str(dep, "service"), sw_json_str(dep, "env"), sw_json_str(dep, "digest"), actor,
			  "retry", false, NULL, &created, err) < 0)
		goto out;
	/* Remember what it retries (the create committed already; a second write of the same row). */
	json_object_set_new(json_object_get(created, "spec"), "retry_of", json_string(id));
	if (sw_store_deployment_save(st, created, err) < 0) {
		json_decref(created);
		goto out;
	}
	snprintf(note, notesize, "retried as %s", sw_json_str(created, "id"));
	*out = created;
	rc = 0;
out:
	json_decref(history);
	json_decref(dep);
	return rc;
}

int sw_rollout_create(struct sw_store *st, const char *service, const char *env, const char *digest,
		      const char *actor, json_t **dep, struct sw_err *err)
{
	return sw_ctl_create(st, service, env, digest, actor, "deploy", false, NULL, dep, err);
}

int sw_rollout_abort(struct sw_store *st, const char *id, const char *actor, const char *reason, bool emergency,
		     struct sw_err *err)
{
	json_t *dep = NULL, *plan;
	enum sw_dep_state s;
	int own = 0, rc = -1;

	if (sw_store_deployment_get(st, id, &dep, err) < 0)
		return -1;
	if (sw_dep_state_parse(sw_json_str(dep, "state"), &s) < 0 || sw_dep_state_final(s)) {
		sw_err_set(err, SW_EBUSY, "%s has already ended (%s); nothing to abort", id,
			   sw_json_str(dep, "state") ? sw_json_str(dep, "state") : "?");
		goto out;
	}
	plan = sw_dep_plan(dep);
	if (!json_is_object(plan)) {
		sw_err_set(err, SW_EINTERNAL, "deployment %s has no plan", id);
		goto out;
	}
	if (json_object_get(plan, "abort")) {
		/* Asked already; an emergency asked now makes the rest of the rollback one batch. */
		if (!emergency || json_is_true(json_object_get(json_object_get(plan, "abort"), "emergency"))) {
			rc = 0;
			goto out;
		}
		json_object_set_new(json_object_get(plan, "abort"), "emergency", json_true());
	} else {
		json_object_set_new(plan, "abort",
				    json_pack("{s:s, s:s, s:I, s:b}", "actor", actor && *actor ? actor : "unknown", "reason",
					      reason ? reason : "", "at_ms", (json_int_t)sw_clock_wall_ms(), "emergency",
					      emergency));
	}
	/* A paused deployment goes back to where it was so that the rollback runs. */
	if (s == SW_DEP_PAUSED) {
		const char *from = sw_json_str(json_object_get(plan, "pause"), "from");

		json_object_set_new(dep, "state", json_string(from && !strcmp(from, "pending") ? "pending" : "progressing"));
		json_object_del(plan, "pause");
	}
	if (!st->in_tx) {
		if (sw_store_begin(st, err) < 0)
			goto out;
		own = 1;
	}
	if (sw_store_deployment_save(st, dep, err) < 0 ||
	    sw_ctl_event(st, dep, "abort_requested", actor && *actor ? actor : "unknown", err) < 0)
		goto out;
	if (own) {
		own = 0;
		if (sw_store_commit(st, err) < 0)
			goto out;
	}
	rc = 0;
out:
	if (own)
		sw_store_rollback(st);
	json_decref(dep);
	return rc;
}

int sw_rollout_verb(struct sw_store *st, const char *id, const char *verb, const char *actor, const char *reason,
		    json_t **out, char *note, size_t notesize, struct sw_err *err)
{
	json_t *dep = NULL;
	int64_t now = sw_clock_wall_ms();
	int own = 0, rc = -1, changed;
	const char *kind;

	*out = NULL;
	if (notesize)
		note[0] = '\0';
	if (!strcmp(verb, "retry"))
		return sw_ctl_retry(st, id, actor, out, note, notesize, err);
	if (sw_store_deployment_get(st, id, &dep, err) < 0)
		return -1;
	if (!strcmp(verb, "pause")) {
		changed = sw_dep_pause(dep, actor, reason, now, note, notesize, err);
		kind = "paused";
	} else if (!strcmp(verb, "resume")) {
		changed = sw_dep_resume(dep, now, note, notesize, err);
		kind = "resumed";
	} else if (!strcmp(verb, "promote")) {
		changed = sw_dep_promote(dep, actor, now, note, notesize, err);
		kind = "promoted";
	} else if (!strcmp(verb, "promote-full")) {
		changed = sw_dep_promote_full(dep, actor, now, note, notesize, err);
		kind = "promoted";
	} else {
		sw_err_set(err, SW_EINPUT, "unknown deployment verb '%s'", verb);
		goto out;
	}
	if (changed < 0)
		goto out;
	if (changed > 0) {
		if (!st->in_tx) {
			if (sw_store_begin(st, err) < 0)
				goto out;
			own = 1;
		}
		if (sw_store_deployment_save(st, dep, err) < 0 ||
		    sw_ctl_event(st, dep, kind, actor && *actor ? actor : "unknown", err) < 0)
			goto out;
		if (own) {
			own = 0;
			if (sw_store_commit(st, err) < 0)
				goto out;
		}
	}
	*out = dep;
	dep = NULL;
	rc = 0;
out:
	if (own)
		sw_store_rollback(st);
	json_decref(dep);
	return rc;
}

/* A digest matches ref, a digest or a prefix of at least 4 hex digits ("sha256:" optional on both). */
static bool sw_ctl_digest_match(const char *digest, const char *ref)
{
	size_t i, n;

	if (!strncmp(ref, "sha256:", 7))
		ref += 7;
	if (!strncmp(digest, "sha256:", 7))
		digest += 7;
	n = strlen(ref);
	if (n < 4 || n > 64)
		return false;
	for (i = 0; i < n; i++)
		if (!strchr("0123456789abcdefABCDEF", ref[i]))
			return false;
	return strncasecmp(digest, ref, n) == 0;
}

/* "1.0.0 (sha256:0123456789ab)" for a deployment record. */
static void sw_ctl_release_text(struct sw_buf *b, const json_t *d)
{
	const char *v = sw_json_str(json_object_get(d, "spec"), "version"), *dg = sw_json_str(d, "digest");

	if (!dg)
		dg = "";
	if (!strncmp(dg, "sha256:", 7))
		dg += 7;
	sw_buf_printf(b, "%s (sha256:%.12s)", v && *v ? v : "?", dg);
}

/*
 * The release `to` names among those that ran (succeeded) in (service,
 * env): a version, else a digest or digest prefix. history: newest first.
 * *target borrows from history. SW_EINPUT when it names none (the message
 * lists those that ran, newest first), more than one, or the release that
 * the newest deployment there succeeded with (nothing to go back from).
 */
static int sw_ctl_rollback_to(const json_t *history, const char *service, const char *env, const char *to,
			      const json_t **target, struct sw_err *err)
{
	json_t *ran = json_array(), *matches = json_array(), *seen = json_object();
	struct sw_buf b = SW_BUF_INIT(4096);
	const json_t *d, *newest = json_array_get(history, 0);
	const char *dg, *v;
	size_t i;
	int pass, rc = -1;

	*target = NULL;
	/* Each release that ran, once, at its newest deployment. */
	json_array_foreach(history, i, d) {
		dg = sw_json_str(d, "digest");
		if (!dg || strcmp(sw_json_str(d, "state") ? sw_json_str(d, "state") : "", "succeeded") ||
		    json_object_get(seen, dg))
			continue;
		json_object_set_new(seen, dg, json_true());
		json_array_append(ran, (json_t *)d);
	}
	if (!json_array_size(ran)) {
		rc = sw_err_set(err, SW_ENOTFOUND, "%s has no successful deployment in %s yet", service, env);
		goto out;
	}
	/* A version first; only when no version is `to`, digests. */
	for (pass = 0; pass < 2 && !json_array_size(matches); pass++)
		json_array_foreach(ran, i, d) {
			v = sw_json_str(json_object_get(d, "spec"), "version");
			if (pass == 0 ? (v && !strcmp(v, to)) : sw_ctl_digest_match(sw_json_str(d, "digest"), to))
				json_array_append(matches, (json_t *)d);
		}
	if (json_array_size(matches) == 1) {
		*target = json_array_get(matches, 0);
		if (newest == *target) {
			sw_ctl_release_text(&b, newest);
			rc = sw_err_set(err, SW_EINPUT, "%s %s is what %s runs now (%s succeeded); nothing to roll back",
					service, sw_buf_str(&b), env, sw_json_str(newest, "id"));
			*target = NULL;
			goto out;
		}
		rc = 0;
		goto out;
	}
	json_array_foreach(json_array_size(matches) ? matches : ran, i, d) {
		if (i == 20) {
			sw_buf_printf(&b, " and %zu more", json_array_size(json_array_size(matches) ? matches : ran) - i);
			break;
		}
		if (i)
			sw_buf_puts(&b, ", ");
		sw_ctl_release_text(&b, d);
	}
	if (json_array_size(matches))
		rc = sw_err_set(err, SW_EINPUT, "'%s' names more than one release that ran in %s: %s; give more of the "
				"digest", to, env, sw_buf_str(&b));
	else
		rc = sw_err_set(err, SW_EINPUT, "%s '%s' never ran in %s; releases that ran there, newest first: %s",
				service, to, env, sw_buf_str(&b));
out:
	sw_buf_release(&b);
	json_decref(ran);
	json_decref(matches);
	json_decref(seen);
	return rc;
}

int sw_rollout_rollback(struct sw_store *st, const char *service, const char *env, const char *actor,
			const struct sw_rollback_req *req, json_t **dep, struct sw_err *err)
{
	json_t *history = NULL, *rec = NULL;
	const json_t *cur, *target;
	size_t at = 0;
	char digest[128];
	int rc = -1;

	*dep = NULL;
	if (!service || !env)
		return sw_err_set(err, SW_EINPUT, "service and environment are required");
	if (sw_ctl_active_check(st, service, env, err) < 0)
		return -1;
	if (sw_store_deployment_list(st, service, env, 0, 0, &history, err) < 0)
		return -1;
	if (req->to && *req->to) {
		if (sw_ctl_rollback_to(history, service, env, req->to, &target, err) < 0)
			goto out;
	} else {
		cur = sw_ctl_last_good(history, NULL, 0, &at);
		target = cur ? sw_ctl_last_good(history, sw_json_str(cur, "digest"), at + 1, NULL) : NULL;
		if (!target) {
			sw_err_set(err, SW_ENOTFOUND,
				   cur ? "no earlier successful release of %s in %s to roll back to"
				       : "%s has no successful deployment in %s yet",
				   service, env);
			goto out;
		}
	}
	snprintf(digest, sizeof(digest), "%s", sw_json_str(target, "digest"));
	rec = json_pack("{s:o, s:s, s:s, s:s}", "to", req->to && *req->to ? json_string(req->to) : json_null(),
			"version",
			sw_json_str(json_object_get(target, "spec"), "version")
				? sw_json_str(json_object_get(target, "spec"), "version")
				: "",
			"digest", digest, "reason", req->reason ? req->reason : "");
	rc = sw_ctl_create(st, service, env, digest, actor, "rollback", req->emergency, rec, dep, err);
out:
	json_decref(rec);
	json_decref(history);
	return rc;
}

/* ---- progress view ------------------------------------------------------ */

json_t *sw_rollout_view(struct sw_store *st, const json_t *dep, uint64_t heartbeat_timeout_ms)
{
	static const char *const copy[] = { "id",    "service", "env",	   "digest",  "prev_digest", "state",
					    "reason", "actor",	"created", "updated", "deadline_ms" };
	json_t *v = json_object(), *plan = sw_dep_plan(dep), *spec = json_object_get(dep, "spec"), *hosts, *ph, *h;
	const struct sw_obs_host *oh;
	struct sw_err err = SW_ERR_INIT;
	struct sw_ctl_obs o;
	int64_t created = 0, end = 0;
	enum sw_dep_state s;
	bool observed;
	size_t i;
	int slot;

	for (i = 0; i < SW_ARRAY_LEN(copy); i++)
		if (json_object_get(dep, copy[i]))
			json_object_set(v, copy[i], json_object_get(dep, copy[i]));
	json_object_set_new(v, "version", json_string(sw_json_str(spec, "version") ? sw_json_str(spec, "version") : ""));
	json_object_set(v, "prev_version", json_object_get(spec, "prev_version") ? json_object_get(spec, "prev_version")
										: json_null());
	json_object_set_new(v, "kind", json_string(sw_json_str(spec, "kind") ? sw_json_str(spec, "kind") : "deploy"));
	if (json_is_object(json_object_get(spec, "rollback")))
		json_object_set(v, "rollback", json_object_get(spec, "rollback"));
	json_object_set_new(v, "strategy",
			    json_string(sw_json_str(plan, "strategy") ? sw_json_str(plan, "strategy") : ""));
	json_object_set_new(v, "step", json_string(sw_json_str(plan, "step") ? sw_json_str(plan, "step") : ""));
	json_object_set_new(v, "phase", json_string(sw_json_str(plan, "phase") ? sw_json_str(plan, "phase") : ""));
	json_object_set_new(v, "batch", json_integer(sw_dep_int(plan, "batch")));
	json_object_set_new(v, "batches", json_integer((json_int_t)json_array_size(json_object_get(plan, "batches"))));
	sw_clock_parse_utc(sw_json_str(dep, "created") ? sw_json_str(dep, "created") : "", &created);
	if (sw_dep_state_parse(sw_json_str(dep, "state"), &s) == 0 && sw_dep_state_final(s))
		sw_clock_parse_utc(sw_json_str(dep, "updated") ? sw_json_str(dep, "updated") : "", &end);
	else
		end = sw_clock_wall_ms();
	json_object_set_new(v, "duration_ms", json_integer(created && end >= created ? end - created : 0));
	observed = sw_ctl_observe(st, dep, heartbeat_timeout_ms, &o, &err) == 0;
	hosts = json_array();
	json_array_foreach(json_object_get(plan, "hosts"), i, ph) {
		h = json_pack("{s:s, s:s, s:O, s:I, s:s, s:s, s:I}", "id", sw_json_str(ph, "id") ? sw_json_str(ph, "id") : "",
			      "name", sw_json_str(ph, "name") ? sw_json_str(ph, "name") : "", "slot",
			      json_object_get(ph, "slot") ? json_object_get(ph, "slot") : json_null(), "port",
			      (json_int_t)sw_dep_int(ph, "port"), "phase",
			      sw_json_str(ph, "phase") ? sw_json_str(ph, "phase") : "", "message",
			      sw_json_str(ph, "message") ? sw_json_str(ph, "message") : "", "since_ms",
			      (json_int_t)sw_dep_int(ph, "since_ms"));
		oh = observed ? sw_dep_obs_host(&o.obs, sw_json_str(ph, "id")) : NULL;
		json_object_set_new(h, "online", json_boolean(observed && !sw_dep_offline(&o.obs, oh)));
		slot = sw_dep_slot_index(sw_json_str(ph, "slot"));
		if (oh && slot >= 0 && oh->slot[slot].digest)
			json_object_set_new(h, "reported",
					    json_pack("{s:s, s:s, s:s}", "digest", oh->slot[slot].digest, "state",
						      oh->slot[slot].state ? oh->slot[slot].state : "", "message",
						      oh->slot[slot].message ? oh->slot[slot].message : ""));
		else
			json_object_set_new(h, "reported", json_null());
		/* What the host is told to run now, active (null: nothing, e.g. a host that never ran this service). */
		if (oh) {
			const char *runs = NULL;
			int k;

			for (k = 0; k < 2 && !runs; k++)
				if (oh->want[k] && json_is_true(json_object_get(oh->want[k], "active")))
					runs = sw_json_str(oh->want[k], "digest");
			json_object_set_new(h, "runs", runs ? json_string(runs) : json_null());
		}
		/* What a rollback gives the host back: its active release before (null: it ran none). */
		if (json_is_true(json_object_get(ph, "touched"))) {
			const json_t *row, *back = NULL;
			size_t j;

			json_array_foreach(json_object_get(ph, "before"), j, row)
				if (!back && json_is_true(json_object_get(row, "active")) && sw_json_str(row, "digest"))
					back = json_object_get(row, "digest");
			json_object_set(h, "restores", back ? (json_t *)back : json_null());
		}
		json_array_append_new(hosts, h);
	}
	json_object_set_new(v, "hosts", hosts);
	if (observed)
		sw_ctl_obs_release(&o);
	if (!strcmp(sw_json_str(plan, "strategy") ? sw_json_str(plan, "strategy") : "", "canary")) {
		json_t *g = sw_gate_view(plan);

		json_object_set_new(v, "cstep", json_integer(sw_dep_int(plan, "cstep")));
		json_object_set_new(v, "csteps", json_integer((json_int_t)json_array_size(
							json_object_get(json_object_get(sw_dep_env(dep), "canary"), "steps"))));
		json_object_set_new(v, "weight", json_integer(json_object_get(plan, "cweight") ? sw_dep_int(plan, "cweight") : -1));
		json_object_set(v, "measurements", json_object_get(g, "measurements"));
		json_object_set(v, "analyses", json_object_get(g, "analyses"));
		json_decref(g);
	} else if (!strcmp(sw_json_str(plan, "strategy") ? sw_json_str(plan, "strategy") : "", "rings")) {
		/* Rings: the ring in progress (or baking), and the bake analyses like a canary's. */
		json_t *g = sw_gate_view(plan);

		json_object_set(v, "rings", json_object_get(plan, "rings") ? json_object_get(plan, "rings") : json_null());
		json_object_set_new(v, "ring", json_integer(json_is_true(json_object_get(plan, "baking"))
								    ? sw_dep_int(plan, "bake_ring")
								    : sw_dep_int(plan, "batch")));
		json_object_set_new(v, "baking", json_boolean(json_is_true(json_object_get(plan, "baking"))));
		json_object_set_new(v, "bake_until_ms", json_integer(sw_dep_int(plan, "bake_until_ms")));
		json_object_set(v, "measurements", json_object_get(g, "measurements"));
		json_object_set(v, "analyses", json_object_get(g, "analyses"));
		json_decref(g);
	}
	/* An analysis still "running" in a deployment that has ended measures no more: it stopped. */
	if (sw_dep_state_parse(sw_json_str(dep, "state"), &s) == 0 && sw_dep_state_final(s)) {
		json_t *a;

		json_array_foreach(json_object_get(v, "analyses"), i, a)
			if (!strcmp(sw_json_str(a, "state") ? sw_json_str(a, "state") : "", "running"))
				json_object_set_new(a, "state", json_string("stopped"));
	}
	return v;
}

int sw_rollout_progress(struct sw_store *st, const char *id, uint64_t heartbeat_timeout_ms, json_t **out,
			struct sw_err *err)
{
	json_t *dep = NULL;

	*out = NULL;
	if (sw_store_deployment_get(st, id, &dep, err) < 0)
		return -1;
	*out = sw_rollout_view(st, dep, heartbeat_timeout_ms ? heartbeat_timeout_ms : 3000);
	json_decref(dep);
	return 0;
}
