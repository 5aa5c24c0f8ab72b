/*
 * gate.c - the canary's analyses (see gate.h).
 * Calls analysis/, rollout/runjson, rollout/deployment, jansson, base/.
 */
#include "rollout/gate.h"
#include "base/arena.h"
#include "base/json.h"
#include "base/mem.h"
#include "rollout/runjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *sw_gate_s(const json_t *o, const char *key)
{
	const char *s = sw_json_str(o, key);

	return s ? s : "";
}

/* Rings: the slot active in the host's desired rows (NULL: none). */
static const char *sw_gate_active_slot(const struct sw_obs *obs, const json_t *ph)
{
	const struct sw_obs_host *oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
	int s;

	for (s = 0; oh && s < 2; s++)
		if (oh->want[s] && json_is_true(json_object_get(oh->want[s], "active")))
			return s ? "b" : "a";
	return NULL;
}

/*
 * The target of the canary as it is now; strings live in a. Rings: the
 * hosts of the rings done are the canary, the others the stable side.
 */
static void sw_gate_target(const json_t *dep, const struct sw_obs *obs, struct sw_arena *a,
			   struct sw_analysis_target *t)
{
	json_t *hosts = json_object_get(sw_dep_plan(dep), "hosts"), *ph;
	size_t i, n = json_array_size(hosts) + 1;
	const char **cs = sw_arena_allocarray(a, n, sizeof(*cs)), **ss = sw_arena_allocarray(a, n, sizeof(*ss));
	const char **ca = sw_arena_allocarray(a, n, sizeof(*ca)), **sa = sw_arena_allocarray(a, n, sizeof(*sa));
	const char *old, *addr, *strategy = sw_json_str(sw_dep_plan(dep), "strategy");
	bool rings = strategy && !strcmp(strategy, "rings");
	int k;

	memset(t, 0, sizeof(*t));
	json_array_foreach(hosts, i, ph) {
		addr = sw_json_str(ph, "address") ? sw_json_str(ph, "address") : sw_gate_s(ph, "name");
		if (json_is_true(json_object_get(ph, "canary"))) {
			cs[t->ncanary_servers++] = sw_arena_printf(a, "%s-%s", sw_gate_s(ph, "name"), sw_gate_s(ph, "slot"));
			ca[t->ncanary_addrs++] = sw_arena_printf(a, "%s:%lld", addr, (long long)sw_dep_int(ph, "port"));
		}
		old = sw_json_str(ph, "old_slot");
		/* Rings: a host not updated yet serves from its active slot. */
		if (!old && rings && !json_is_true(json_object_get(ph, "canary")))
			old = sw_gate_active_slot(obs, ph);
		if (old) {
			ss[t->nstable_servers++] = sw_arena_printf(a, "%s-%s", sw_gate_s(ph, "name"), old);
			k = sw_dep_slot_index(old);
			sa[t->nstable_addrs++] = sw_arena_printf(
				a, "%s:%lld", addr,
				(long long)json_integer_value(json_array_get(json_object_get(ph, "ports"), k < 0 ? 0 : (size_t)k)));
		}
	}
	t->traffic = obs->traffic;
	t->backend = sw_dep_backend(dep);
	t->canary_servers = cs;
	t->stable_servers = ss;
	t->canary_addrs = ca;
	t->stable_addrs = sa;
}

static void sw_gate_tally_read(const json_t *run, struct sw_analysis_tally *t)
{
	const json_t *j = json_object_get(run, "tally");

	t->measurements = (unsigned)sw_dep_int(j, "measurements");
	t->successes = (unsigned)sw_dep_int(j, "successes");
	t->failures = (unsigned)sw_dep_int(j, "failures");
	t->inconclusives = (unsigned)sw_dep_int(j, "inconclusives");
	t->errors = (unsigned)sw_dep_int(j, "errors");
}

static void sw_gate_tally_write(json_t *run, const struct sw_analysis_tally *t)
{
	json_object_set_new(run, "tally",
			    json_pack("{s:i, s:i, s:i, s:i, s:i}", "measurements", (int)t->measurements, "successes",
				      (int)t->successes, "failures", (int)t->failures, "inconclusives",
				      (int)t->inconclusives, "errors", (int)t->errors));
}

static json_t *sw_gate_find(json_t *plan, const char *name, int64_t step, bool background)
{
	json_t *run;
	size_t i;

	json_array_foreach(json_object_get(plan, "cruns"), i, run)
		if (!strcmp(sw_gate_s(run, "name"), name) && json_is_true(json_object_get(run, "background")) == background &&
		    (background || sw_dep_int(run, "step") == step))
			return run;
	return NULL;
}

static json_t *sw_gate_add(json_t *plan, const char *name, int64_t step, bool background, int64_t now,
			   const struct sw_spec_analysis *a)
{
	json_t *run;

	if (!json_is_array(json_object_get(plan, "cruns")))
		json_object_set_new(plan, "cruns", json_array());
	run = json_pack("{s:s, s:I, s:b, s:s, s:I, s:I, s:n, s:s, s:[]}", "name", name, "step", (json_int_t)step,
			"background", background, "state", "running", "started_ms", (json_int_t)now, "next_ms",
			(json_int_t)(now + (int64_t)(a ? a->initial_delay_ms : 0)), "prev", "prev_key", "",
			"measurements");
	sw_gate_tally_write(run, &(struct sw_analysis_tally){ 0 });
	json_array_append_new(json_object_get(plan, "cruns"), run);
	return run;
}

/* "analysis 'x' failed: error_rate = 0.48 (failure condition '...' is true) at 12:00:01". */
static void sw_gate_reason(const json_t *run, const json_t *m, const char *what, char *reason, size_t rsize)
{
	const char *msg = sw_gate_s(m, "message"), *time = sw_gate_s(m, "time"), *p = NULL, *q, *at;
	char clock[16] = "";
	size_t len = strlen(msg);

	if (strlen(time) >= 19)
		snprintf(clock, sizeof(clock), "%.8s", time + 11);
	for (q = msg; (q = strstr(q, "' is ")); q++)
		p = q;
	at = p ? strstr(p, " (") : NULL;
	if (at && len && msg[len - 1] == ')')
		snprintf(reason, rsize, "%sanalysis '%s' %s: %.*s (%.*s) at %s",
			 json_is_true(json_object_get(run, "background")) ? "background " : "", sw_gate_s(run, "name"), what,
			 (int)(len - (size_t)(at - msg) - 3), at + 2, (int)(at - msg), msg, clock);
	else
		snprintf(reason, rsize, "%sanalysis '%s' %s: %s at %s",
			 json_is_true(json_object_get(run, "background")) ? "background " : "", sw_gate_s(run, "name"), what,
			 msg, clock);
}

static void sw_gate_event(const json_t *dep, struct sw_step *out, const json_t *run, const json_t *m)
{
	if (!out->events)
		out->events = json_array();
	json_array_append_new(
		out->events,
		json_pack("{s:s, s:{s:s, s:I, s:s, s:s, s:O, s:s, s:s, s:b, s:b}}", "kind", "deployment.measurement",
			  "payload", "id", sw_gate_s(dep, "id"), "step", (json_int_t)sw_dep_int(m, "step"), "analysis",
			  sw_gate_s(run, "name"), "verdict", sw_gate_s(m, "verdict"), "values",
			  json_object_get(m, "values") ? json_object_get(m, "values") : json_null(), "message",
			  sw_gate_s(m, "message"), "time", sw_gate_s(m, "time"), "background",
			  json_is_true(json_object_get(run, "background")), "dry_run",
			  json_is_true(json_object_get(run, "dry_run"))));
}

/* Measure run if due. Returns its state; reason set when it ends FAILED or INCONCLUSIVE. */
static enum sw_analysis_state sw_gate_tick(json_t *dep, const struct sw_obs *obs, struct sw_step *out, json_t *run,
					   char *reason, size_t rsize)
{
	const json_t *aj = json_object_get(json_object_get(sw_dep_env(dep), "analyses"), sw_gate_s(run, "name"));
	json_t *plan = sw_dep_plan(dep), *m, *list, *prev;
	struct sw_spec_analysis a;
	struct sw_analysis_target t;
	struct sw_analysis_tally tally;
	struct sw_err err = SW_ERR_INIT;
	enum sw_analysis_state st;
	enum sw_verdict v;
	struct sw_arena ar;
	char key[64];
	int64_t next;
	bool baseline;

	if (strcmp(sw_gate_s(run, "state"), "running")) {
		if (!strcmp(sw_gate_s(run, "state"), "successful"))
			return SW_ANALYSIS_SUCCESSFUL;
		if (!strcmp(sw_gate_s(run, "state"), "failed"))
			return SW_ANALYSIS_FAILED;
		snprintf(reason, rsize, "%s", sw_gate_s(run, "reason"));
		return SW_ANALYSIS_INCONCLUSIVE;
	}
	if (sw_runjson_analysis_read(aj, &a) < 0) {
		snprintf(reason, rsize, "analysis '%s' is not in the deployment's record: check the canary by hand, then promote (or abort)",
			 sw_gate_s(run, "name"));
		json_object_set_new(run, "state", json_string("inconclusive"));
		json_object_set_new(run, "reason", json_string(reason));
		return SW_ANALYSIS_INCONCLUSIVE;
	}
	if (obs->now_ms < sw_dep_int(run, "next_ms"))
		return SW_ANALYSIS_RUNNING;
	snprintf(key, sizeof(key), "w%lldc%lld", (long long)sw_dep_int(plan, "cweight"),
		 (long long)sw_dep_int(plan, "ccanaries"));
	prev = json_object_get(run, "prev");
	baseline = sw_analysis_needs_baseline(&a) && (!json_is_object(prev) || strcmp(sw_gate_s(run, "prev_key"), key));
	sw_arena_init(&ar);
	sw_gate_target(dep, obs, &ar, &t);
	if (!t.ncanary_servers) {
		sw_arena_release(&ar);
		return SW_ANALYSIS_RUNNING; /* no canary instance yet: nothing to measure */
	}
	m = (obs->measure ? obs->measure : sw_analysis_measure)(&a, &t, baseline ? NULL : prev, &err);
	sw_arena_release(&ar);
	next = sw_dep_int(run, "next_ms") + (int64_t)(a.interval_ms ? a.interval_ms : 1000);
	if (next <= obs->now_ms)
		next = obs->now_ms + (int64_t)(a.interval_ms ? a.interval_ms : 1000);
	json_object_set_new(run, "next_ms", json_integer(next));
	if (!m) {
		snprintf(reason, rsize, "analysis '%s' cannot run on this canary: %s", a.name, err.msg);
		json_object_set_new(run, "state", json_string("inconclusive"));
		json_object_set_new(run, "reason", json_string(reason));
		return SW_ANALYSIS_INCONCLUSIVE;
	}
	if (sw_analysis_measurement_verdict(m, &v) < 0)
		v = SW_VERDICT_ERROR;
	if (json_is_object(json_object_get(m, "raw"))) {
		json_object_set(run, "prev", json_object_get(m, "raw"));
		json_object_set_new(run, "prev_key", json_string(key));
	}
	if (baseline && v != SW_VERDICT_ERROR) {
		json_decref(m);
		return SW_ANALYSIS_RUNNING;
	}
	json_object_del(m, "raw");
	/* An inline run measures only at its own step (canary step, or ring). */
	json_object_set_new(m, "step", json_integer(json_is_true(json_object_get(run, "background"))
							    ? sw_dep_int(plan, "cstep")
							    : sw_dep_int(run, "step")));
	list = json_object_get(run, "measurements");
	if (!json_is_array(list)) {
		json_object_set_new(run, "measurements", json_array());
		list = json_object_get(run, "measurements");
	}
	json_array_append(list, m);
	while (json_array_size(list) > SW_GATE_KEEP)
		json_array_remove(list, 0);
	if (a.dry_run)
		json_object_set_new(run, "dry_run", json_true());
	sw_gate_event(dep, out, run, m);
	sw_gate_tally_read(run, &tally);
	st = sw_analysis_tally_add(&tally, &a, v);
	sw_gate_tally_write(run, &tally);
	/* A dry run keeps what it would have decided, for people, and never holds the rollout. */
	if (a.dry_run && (st == SW_ANALYSIS_FAILED || st == SW_ANALYSIS_INCONCLUSIVE)) {
		if (!json_object_get(run, "dry_run_verdict")) {
			char why[SW_ERR_MSG_MAX];

			sw_gate_reason(run, m, st == SW_ANALYSIS_FAILED ? "failed" : "is inconclusive", why, sizeof(why));
			json_object_set_new(run, "dry_run_verdict", json_string(why));
		}
		st = a.count > 0 && tally.measurements >= a.count ? SW_ANALYSIS_SUCCESSFUL : SW_ANALYSIS_RUNNING;
	}
	json_object_set_new(run, "state", json_string(sw_analysis_state_name(st)));
	if (st == SW_ANALYSIS_FAILED)
		sw_gate_reason(run, m, "failed", reason, rsize);
	else if (st == SW_ANALYSIS_INCONCLUSIVE) {
		char why[SW_ERR_MSG_MAX];

		sw_gate_reason(run, m, "is inconclusive", why, sizeof(why));
		snprintf(reason, rsize, "%s; promote to go on, abort to roll back", why);
		json_object_set_new(run, "reason", json_string(reason));
	}
	json_decref(m);
	return st;
}

enum sw_analysis_state sw_gate_inline(json_t *dep, const struct sw_obs *obs, struct sw_step *out, size_t idx,
				      const char *name, char *reason, size_t rsize)
{
	json_t *plan = sw_dep_plan(dep), *run = sw_gate_find(plan, name, (int64_t)idx, false);
	struct sw_spec_analysis a;

	if (!run) {
		bool known = sw_runjson_analysis_read(
				     json_object_get(json_object_get(sw_dep_env(dep), "analyses"), name), &a) == 0;

		run = sw_gate_add(plan, name, (int64_t)idx, false, obs->now_ms, known ? &a : NULL);
	}
	return sw_gate_tick(dep, obs, out, run, reason, rsize);
}

enum sw_analysis_state sw_gate_background(json_t *dep, const struct sw_obs *obs, struct sw_step *out, size_t idx,
					  char *reason, size_t rsize)
{
	const json_t *canary = json_object_get(sw_dep_env(dep), "canary"), *tj;
	json_t *plan = sw_dep_plan(dep), *run;
	struct sw_spec_analysis a;
	enum sw_analysis_state st;
	const char *name;
	size_t i;

	if ((int64_t)idx < sw_dep_int(canary, "start_at_step"))
		return SW_ANALYSIS_RUNNING;
	json_array_foreach(json_object_get(canary, "templates"), i, tj) {
		name = json_string_value(tj);
		if (!name)
			continue;
		run = sw_gate_find(plan, name, 0, true);
		if (!run) {
			bool known = sw_runjson_analysis_read(
					     json_object_get(json_object_get(sw_dep_env(dep), "analyses"), name), &a) == 0;

			run = sw_gate_add(plan, name, (int64_t)idx, true, obs->now_ms, known ? &a : NULL);
		}
		st = sw_gate_tick(dep, obs, out, run, reason, rsize);
		if (st == SW_ANALYSIS_FAILED || st == SW_ANALYSIS_INCONCLUSIVE)
			return st;
	}
	return SW_ANALYSIS_RUNNING;
}

void sw_gate_background_resume(json_t *dep)
{
	json_t *run;
	struct sw_analysis_tally t;
	size_t i;

	json_array_foreach(json_object_get(sw_dep_plan(dep), "cruns"), i, run) {
		if (!json_is_true(json_object_get(run, "background")) || strcmp(sw_gate_s(run, "state"), "inconclusive"))
			continue;
		sw_gate_tally_read(run, &t);
		t.inconclusives = t.errors = 0;
		sw_gate_tally_write(run, &t);
		json_object_set_new(run, "state", json_string("running"));
		json_object_set_new(run, "prev", json_null());
		json_object_del(run, "reason");
	}
}

json_t *sw_gate_view(const json_t *plan)
{
	json_t *all = json_array(), *analyses = json_array(), *run, *m, *c, *sorted;
	json_t **v;
	size_t i, j, n;

	json_array_foreach(json_object_get(plan, "cruns"), i, run) {
		json_array_foreach(json_object_get(run, "measurements"), j, m) {
			c = json_copy(m);
			json_object_set(c, "background", json_object_get(run, "background"));
			if (json_is_true(json_object_get(run, "dry_run")))
				json_object_set_new(c, "dry_run", json_true());
			json_array_append_new(all, c);
		}
		n = json_array_size(json_object_get(run, "measurements"));
		json_array_append_new(
			analyses,
			json_pack("{s:s, s:I, s:O, s:s, s:O, s:O}", "name", sw_gate_s(run, "name"), "step",
				  (json_int_t)sw_dep_int(run, "step"), "background",
				  json_object_get(run, "background") ? json_object_get(run, "background") : json_false(),
				  "state", sw_gate_s(run, "state"), "tally",
				  json_object_get(run, "tally") ? json_object_get(run, "tally") : json_null(), "last",
				  n ? json_array_get(json_object_get(run, "measurements"), n - 1) : json_null()));
		if (json_is_true(json_object_get(run, "dry_run"))) {
			json_t *last = json_array_get(analyses, json_array_size(analyses) - 1);

			json_object_set_new(last, "dry_run", json_true());
			json_object_set(last, "dry_run_verdict", json_object_get(run, "dry_run_verdict")
								   ? json_object_get(run, "dry_run_verdict")
								   : json_null());
		}
	}
	/* By time, stable (insertion: a few hundred at most). */
	n = json_array_size(all);
	v = sw_xcalloc(n + 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		m = json_array_get(all, i);
		for (j = i; j > 0 && strcmp(sw_gate_s(v[j - 1], "time"), sw_gate_s(m, "time")) > 0; j--)
			v[j] = v[j - 1];
		v[j] = m;
	}
	sorted = json_array();
	for (i = 0; i < n; i++)
		json_array_append(sorted, v[i]);
	free(v);
	json_decref(all);
	return json_pack("{s:o, s:o}", "measurements", sorted, "analyses", analyses);
}
