/*
 * rollout_sim.h - a small simulated fleet for the state machine tests
 * (test_deployment.c, test_bluegreen.c): hosts with desired rows and
 * generations, agents that report, a fake load balancer implementing
 * struct sw_traffic_ops (with current sessions per server, a log of state
 * changes and desired writes in order, and a switch that makes every call
 * fail as an unreachable socket would), and a deployment record built the
 * way sw_rollout_create() builds one. Header-only (static functions).
 */
#ifndef SW_TEST_ROLLOUT_SIM_H
#define SW_TEST_ROLLOUT_SIM_H

#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "base/json.h"
#include "rollout/deployment.h"
#include "rollout/plan.h"
#include "traffic/traffic.h"

#define SIM_MAX 8
#define SIM_T0 1700000000000LL

struct sim_host {
	char id[16], name[16];
	json_t *want[2];  /* desired rows {digest, port, active, run} */
	int64_t gen;      /* desired generation */
	int64_t applied;  /* what the agent reported last */
	char digest[2][80], state[2][32], msg[2][128];
	int64_t last_seen;
	bool exists;
	bool dead;        /* the agent is gone: reports nothing */
};

/* A fake balancer: servers "<host>-a|b" in one backend. */
struct sim_server {
	char name[32];
	unsigned weight, initial;
	enum sw_traffic_state state;
	enum sw_traffic_health health;
	int64_t scur; /* current sessions (stats) */
};

struct sim_lb {
	struct sw_traffic traffic; /* first */
	struct sim_server srv[SIM_MAX * 2];
	size_t n;
	char refuse_state[32]; /* set_state on this server fails ... */
	bool refuse_maint_only; /* ... only when asked for maint */
	bool down;             /* every call fails: the socket is gone */
	bool log_weights;      /* addition (canary): log weights too, "web-1-b:w0" */
	unsigned calls;
	char log[8192];        /* "web-1-a:drain web-1:row ..." in order (sim_apply logs rows) */
};

struct sim {
	struct sim_host h[SIM_MAX];
	size_t n;
	struct sw_obs_host oh[SIM_MAX];
	struct sw_obs obs;
	struct sim_lb lb;
	json_t *dep;
	int64_t now;
	int64_t live_since; /* the server up (or resumed) since then: obs.live_since_ms; 0: no grace */
	/* addition (canary analyses): the obs's measure seam, NULL: the real sw_analysis_measure */
	json_t *(*measure)(const struct sw_spec_analysis *a, const struct sw_analysis_target *t, const json_t *prev,
			   struct sw_err *err);
};

/* ---- fake balancer ------------------------------------------------------- */

/* Append "<what>:<how> " to the log. */
static void sim_log(struct sim_lb *lb, const char *what, const char *how)
{
	size_t len = strlen(lb->log);

	snprintf(lb->log + len, sizeof(lb->log) - len, "%s:%s ", what, how);
}

static int sim_down(struct sim_lb *lb, struct sw_err *err)
{
	lb->calls++;
	return lb->down ? sw_err_set(err, SW_EIO, "cannot connect to haproxy at 'sim.sock': No such file or directory")
			: 0;
}

static struct sim_server *sim_srv(struct sim_lb *lb, const char *name)
{
	size_t i;

	for (i = 0; i < lb->n; i++)
		if (!strcmp(lb->srv[i].name, name))
			return &lb->srv[i];
	return NULL;
}

static int sim_set_weight(struct sw_traffic *t, const char *backend, const char *server, unsigned weight,
			  struct sw_err *err)
{
	struct sim_lb *lb = (struct sim_lb *)t;
	struct sim_server *s = sim_srv(lb, server);

	if (sim_down(lb, err) < 0)
		return -1;
	if (!s)
		return sw_err_set(err, SW_EFAILED, "no such server '%s'", server);
	s->weight = weight;
	if (lb->log_weights) {
		char how[16];

		snprintf(how, sizeof(how), "w%u", weight);
		sim_log(lb, server, how);
	}
	return 0;
}

static int sim_set_weights(struct sw_traffic *t, const char *backend, const struct sw_traffic_weight *w, size_t n,
			   size_t *bad, struct sw_err *err)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (sim_set_weight(t, backend, w[i].server, w[i].weight, err) < 0) {
			if (bad)
				*bad = i;
			return -1;
		}
	return 0;
}

static int sim_set_state(struct sw_traffic *t, const char *backend, const char *server, enum sw_traffic_state state,
			 struct sw_err *err)
{
	struct sim_lb *lb = (struct sim_lb *)t;
	struct sim_server *s = sim_srv(lb, server);

	if (sim_down(lb, err) < 0)
		return -1;
	if (!s)
		return sw_err_set(err, SW_EFAILED, "no such server '%s'", server);
	if (!strcmp(lb->refuse_state, server) && (!lb->refuse_maint_only || state == SW_TRAFFIC_MAINT))
		return sw_err_set(err, SW_EFAILED, "haproxy refused: 'permission denied'");
	s->state = state;
	sim_log(lb, server, sw_traffic_state_name(state));
	return 0;
}

static int sim_servers(struct sw_traffic *t, const char *backend, struct sw_arena *a, struct sw_traffic_server **out,
		       size_t *n, struct sw_err *err)
{
	struct sim_lb *lb = (struct sim_lb *)t;
	struct sw_traffic_server *v;
	size_t i;

	if (sim_down(lb, err) < 0)
		return -1;
	v = sw_arena_allocarray(a, lb->n + 1, sizeof(*v));
	for (i = 0; i < lb->n; i++) {
		v[i].name = sw_arena_strdup(a, lb->srv[i].name);
		v[i].addr = "";
		v[i].weight = lb->srv[i].weight;
		v[i].initial_weight = lb->srv[i].initial;
		v[i].state = lb->srv[i].state;
		v[i].health = lb->srv[i].state == SW_TRAFFIC_MAINT ? SW_TRAFFIC_HEALTH_DOWN : lb->srv[i].health;
		v[i].checked = 1;
	}
	*out = v;
	*n = lb->n;
	return 0;
}

static int sim_stats(struct sw_traffic *t, const char *backend, struct sw_arena *a, struct sw_traffic_stats **out,
		     size_t *n, struct sw_err *err)
{
	struct sim_lb *lb = (struct sim_lb *)t;
	struct sw_traffic_stats *v;
	size_t i;

	if (sim_down(lb, err) < 0)
		return -1;
	v = sw_arena_allocarray(a, lb->n + 1, sizeof(*v));
	for (i = 0; i < lb->n; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		v[i].name = sw_arena_strdup(a, lb->srv[i].name);
		v[i].status = "";
		v[i].check_status = "";
		v[i].scur = lb->srv[i].scur;
	}
	*out = v;
	*n = lb->n;
	return 0;
}

static const struct sw_traffic_ops sim_lb_ops = {
	.name = "sim",
	.set_weight = sim_set_weight,
	.set_weights = sim_set_weights,
	.set_state = sim_set_state,
	.servers = sim_servers,
	.stats = sim_stats,
};

/* ---- the fleet ----------------------------------------------------------- */

static int sim_slot(const char *s)
{
	return s && !strcmp(s, "b") ? 1 : 0;
}

static struct sim_host *sim_host(struct sim *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->h[i].id, id))
			return &s->h[i];
	return NULL;
}

/* n hosts web-1..web-n, all seen now, running `digest` (NULL: nothing) in slot a. */
static void sim_init(struct sim *s, size_t n, const char *digest)
{
	size_t i;
	int k;

	memset(s, 0, sizeof(*s));
	s->n = n;
	s->now = SIM_T0;
	s->lb.traffic.ops = &sim_lb_ops;
	for (i = 0; i < n; i++) {
		struct sim_host *h = &s->h[i];

		snprintf(h->id, sizeof(h->id), "h%zu", i + 1);
		snprintf(h->name, sizeof(h->name), "web-%zu", i + 1);
		h->exists = true;
		h->last_seen = s->now;
		if (digest) {
			h->want[0] = json_pack("{s:s, s:i, s:b, s:{s:s}}", "digest", digest, "port", 9000, "active", 1,
					       "run", "command", "old");
			snprintf(h->digest[0], sizeof(h->digest[0]), "%s", digest);
			snprintf(h->state[0], sizeof(h->state[0]), "healthy");
		}
		for (k = 0; k < 2; k++) {
			struct sim_server *sv = &s->lb.srv[s->lb.n++];

			snprintf(sv->name, sizeof(sv->name), "%s-%c", h->name, 'a' + k);
			sv->initial = 10;
			sv->weight = 10;
			sv->state = k == 0 ? SW_TRAFFIC_READY : SW_TRAFFIC_MAINT;
			sv->health = k == 0 && digest ? SW_TRAFFIC_HEALTH_UP : SW_TRAFFIC_HEALTH_DOWN;
		}
	}
}

/* Host i's agent is gone: it reports nothing and was last seen a minute ago (inline: not every test uses it). */
static inline void sim_offline(struct sim *s, size_t i)
{
	s->h[i].dead = true;
	s->h[i].last_seen = s->now - 60000;
}

static void sim_release(struct sim *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		json_decref(s->h[i].want[0]);
		json_decref(s->h[i].want[1]);
	}
	json_decref(s->dep);
}

/* A deployment record as sw_rollout_create() makes it. */
static json_t *sim_dep(struct sim *s, const char *strategy, const char *rolling, const char *digest,
		       const char *prev, const char *extra_env)
{
	struct sw_err err = SW_ERR_INIT;
	json_t *hosts = json_array(), *env, *plan, *dep, *extra;
	size_t i;

	for (i = 0; i < s->n; i++)
		json_array_append_new(hosts, json_pack("{s:s, s:s, s:{s:s}, s:[i, i], s:b}", "id", s->h[i].id, "name",
						       s->h[i].name, "labels", "env", "staging", "ports", 9000, 9001,
						       "revoked", 0));
	env = json_pack("{s:s, s:{s:s}, s:s, s:I, s:I, s:{s:n, s:I}, s:n}", "name", "staging", "selector", "env",
			"staging", "strategy", strategy, "progress_deadline_ms", (json_int_t)600000,
			"health_timeout_ms", (json_int_t)5000, "blue_green", "smoke", "keep_old_ms",
			(json_int_t)60000, "traffic");
	json_object_set_new(env, "rolling", json_loads(rolling ? rolling : "{}", 0, NULL));
	if (extra_env) {
		extra = json_loads(extra_env, 0, NULL);
		assert_non_null(extra);
		json_object_update_recursive(env, extra);
		json_decref(extra);
	}
	plan = sw_plan_build(env, hosts, &err);
	if (!plan)
		fail_msg("plan: %s", err.msg);
	dep = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:o, s:{s:s}}, s:o, s:I}", "id", "dep-1", "service",
			"hello", "env", "staging", "digest", digest, "state", "pending", "reason", "", "actor",
			"tester", "spec", "env", env, "run", "command", "./dist/hello", "plan", plan, "deadline_ms",
			(json_int_t)(s->now + 600000));
	json_object_set_new(dep, "prev_digest", prev ? json_string(prev) : json_null());
	json_decref(hosts);
	s->dep = dep;
	return dep;
}

/* The observation of the fleet now. */
static struct sw_obs *sim_obs(struct sim *s, bool with_lb)
{
	size_t i;
	int k;

	for (i = 0; i < s->n; i++) {
		struct sim_host *h = &s->h[i];
		struct sw_obs_host *o = &s->oh[i];

		memset(o, 0, sizeof(*o));
		o->id = h->id;
		o->exists = h->exists;
		o->last_seen_ms = h->last_seen;
		o->generation_applied = h->applied;
		for (k = 0; k < 2; k++) {
			o->want[k] = h->want[k];
			if (h->digest[k][0]) {
				o->slot[k].digest = h->digest[k];
				o->slot[k].state = h->state[k];
				o->slot[k].message = h->msg[k];
			}
		}
	}
	memset(&s->obs, 0, sizeof(s->obs));
	s->obs.now_ms = s->now;
	s->obs.heartbeat_timeout_ms = 3000;
	s->obs.live_since_ms = s->live_since;
	s->obs.hosts = s->oh;
	s->obs.nhosts = s->n;
	s->obs.traffic = with_lb ? &s->lb.traffic : NULL;
	s->obs.measure = s->measure;
	return &s->obs;
}

/* Do what the controller does with a step's desired rows. */
static void sim_apply(struct sim *s, const struct sw_step *out)
{
	json_t *act, *want, *ph;
	char row[128];
	size_t i, j;

	json_array_foreach(out->desired, i, act) {
		struct sim_host *h = sim_host(s, json_string_value(json_object_get(act, "host")));
		int k = sim_slot(json_string_value(json_object_get(act, "slot")));

		if (!h)
			continue;
		want = json_object_get(act, "want");
		snprintf(row, sizeof(row), "row(%s)",
			 json_is_null(want) ? "none" : json_string_value(json_object_get(want, "digest")));
		sim_log(&s->lb, h->name, row);
		json_decref(h->want[k]);
		h->want[k] = json_is_null(want) ? NULL : json_deep_copy(want);
		h->gen++;
		json_array_foreach(json_object_get(json_object_get(s->dep, "plan"), "hosts"), j, ph)
			if (!strcmp(json_string_value(json_object_get(ph, "id")), h->id))
				json_object_set_new(ph, "gen", json_integer(h->gen));
	}
}

/*
 * Every live agent reports what its desired rows say, each slot `state`
 * unless its digest is `bad_digest` (then bad_state), and heartbeats.
 */
static void sim_agents(struct sim *s, const char *bad_digest, const char *bad_state, const char *bad_msg)
{
	size_t i;
	int k;

	for (i = 0; i < s->n; i++) {
		struct sim_host *h = &s->h[i];

		if (h->dead)
			continue;
		h->last_seen = s->now;
		h->applied = h->gen;
		for (k = 0; k < 2; k++) {
			const char *d = h->want[k] ? json_string_value(json_object_get(h->want[k], "digest")) : NULL;
			bool bad = d && bad_digest && !strcmp(d, bad_digest);

			snprintf(h->digest[k], sizeof(h->digest[k]), "%s", d ? d : "");
			snprintf(h->state[k], sizeof(h->state[k]), "%s", d ? (bad ? bad_state : "healthy") : "");
			snprintf(h->msg[k], sizeof(h->msg[k]), "%s", bad ? bad_msg : "");
		}
	}
	/* The balancer's checks see what the agents see. */
	for (i = 0; i < s->n; i++)
		for (k = 0; k < 2; k++) {
			char name[40];
			struct sim_server *sv;

			snprintf(name, sizeof(name), "%s-%c", s->h[i].name, 'a' + k);
			sv = sim_srv(&s->lb, name);
			if (sv)
				sv->health = !s->h[i].dead && !strcmp(s->h[i].state[k], "healthy") ? SW_TRAFFIC_HEALTH_UP
												    : SW_TRAFFIC_HEALTH_DOWN;
		}
}

/* One step of the deployment with the fleet as it is; returns the transition state or -1. */
static int sim_step(struct sim *s, bool with_lb, struct sw_step *out)
{
	struct sw_err err = SW_ERR_INIT;

	sw_step_init(out);
	if (sw_deployment_step(s->dep, sim_obs(s, with_lb), out, &err) < 0)
		fail_msg("step: %s", err.msg);
	sim_apply(s, out);
	return out->transition ? (int)out->state : -1;
}

static const char *sim_state(const struct sim *s)
{
	return json_string_value(json_object_get(s->dep, "state"));
}

static const char *sim_reason(const struct sim *s)
{
	return json_string_value(json_object_get(s->dep, "reason"));
}

static json_t *sim_plan(const struct sim *s)
{
	return json_object_get(s->dep, "plan");
}

static const char *sim_want_digest(const struct sim *s, size_t host, int slot)
{
	const json_t *w = s->h[host].want[slot];

	return w ? json_string_value(json_object_get(w, "digest")) : NULL;
}

static bool sim_want_active(const struct sim *s, size_t host, int slot)
{
	const json_t *w = s->h[host].want[slot];

	return w && json_is_true(json_object_get(w, "active"));
}

/*
 * Run the deployment to its end: agents report (bad_digest gets bad_state),
 * time moves by step_ms each step; at most max steps. Returns the steps.
 */
static int sim_run(struct sim *s, bool with_lb, const char *bad_digest, const char *bad_state, int step_ms, int max)
{
	struct sw_step out;
	int i;

	for (i = 0; i < max; i++) {
		sim_step(s, with_lb, &out);
		sw_step_release(&out);
		if (strcmp(sim_state(s), "pending") && strcmp(sim_state(s), "progressing"))
			return i + 1;
		s->now += step_ms;
		sim_agents(s, bad_digest, bad_state, "boom");
	}
	return max;
}

#endif
