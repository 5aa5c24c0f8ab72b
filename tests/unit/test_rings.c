/*
 * test_rings.c - unit tests for the rings strategy (rollout/rings.c, its
 * plan in rollout/plan.c, its bake analysis through rollout/gate.c) over
 * the simulated fleet of rollout_sim.h: rings deployed in rings.order
 * (not host order), one deployment.step event {kind "ring"} per ring;
 * the bake holds the next ring until its time passed (pause pushes it
 * out, promote skips it, the progress deadline does not fire); an
 * analysis failing in ring 2 rolls back rings 1 and 2 and never touches
 * ring 3, the measurement in the reason; an inconclusive one pauses and
 * resume goes on; hosts whose label value is not in the order are
 * refused, named; a server restart mid-bake (the plan as stored, read
 * back) goes on where it was; the env JSON carries spec rings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "analysis/analysis.h"
#include "base/clock.h"
#include "rollout/rings.h"
#include "rollout/runjson.h"
#include "rollout_sim.h"
#include "spec/spec.h"

#include <stdlib.h>

#define OLD "sha256:old"
#define NEW "sha256:new"

#define ERRORS(count)                                                                                                 \
	"\"analyses\": {\"errors\": {\"name\": \"errors\", \"provider\": \"command\", \"command\": \"./check\", "     \
	"\"interval_ms\": 250, \"count\": " #count ", \"initial_delay_ms\": 0, \"success\": \"error_rate < 0.05\", "  \
	"\"failure\": \"error_rate > 0.2\", \"failure_limit\": 0, \"inconclusive_limit\": 0}}"

/* ---- fake provider: fails once `fail_from` canary servers are measured ---- */

static struct {
	struct sim *sim;
	unsigned calls;
	size_t fail_from;   /* 0: never fails */
	bool inconclusive;  /* every verdict inconclusive */
	size_t ncanary, nstable;
	char canary_last[32], stable0[32];
} fk;

static json_t *fake_measure(const struct sw_spec_analysis *a, const struct sw_analysis_target *t, const json_t *prev,
			    struct sw_err *err)
{
	const char *v, *msg;
	char when[64];
	double rate;

	(void)err;
	(void)prev;
	fk.calls++;
	fk.ncanary = t->ncanary_servers;
	fk.nstable = t->nstable_servers;
	snprintf(fk.canary_last, sizeof(fk.canary_last), "%s",
		 t->ncanary_servers ? t->canary_servers[t->ncanary_servers - 1] : "");
	snprintf(fk.stable0, sizeof(fk.stable0), "%s", t->nstable_servers ? t->stable_servers[0] : "");
	sw_clock_format_utc(fk.sim->now, when, sizeof(when));
	if (fk.inconclusive) {
		v = "inconclusive";
		msg = "'error_rate' has no value: the check printed nothing";
		rate = 0;
	} else if (fk.fail_from && t->ncanary_servers >= fk.fail_from) {
		v = "failure";
		msg = "failure condition 'error_rate > 0.2' is true (error_rate = 0.48)";
		rate = 0.48;
	} else {
		v = "success";
		msg = "success condition 'error_rate < 0.05' is true (error_rate = 0.01)";
		rate = 0.01;
	}
	return json_pack("{s:s, s:s, s:s, s:{s:f}, s:s, s:s, s:i}", "time", when, "analysis", a->name, "provider",
			 "command", "values", "error_rate", rate, "verdict", v, "message", msg, "took_ms", 0);
}

/* ---- the fleet ------------------------------------------------------------ */

/* Host records with labels {env: staging, <label>: rings[i]} (NULL: no such label). */
static json_t *ring_hosts(const struct sim *s, const char *label, const char *const *rings)
{
	json_t *hosts = json_array(), *labels;
	size_t i;

	for (i = 0; i < s->n; i++) {
		labels = json_pack("{s:s}", "env", "staging");
		if (rings[i])
			json_object_set_new(labels, label, json_string(rings[i]));
		json_array_append_new(hosts, json_pack("{s:s, s:s, s:o, s:[i, i], s:b}", "id", s->h[i].id, "name",
						       s->h[i].name, "labels", labels, "ports", 9000, 9001, "revoked", 0));
	}
	return hosts;
}

static json_t *ring_env(const char *rings_json, const char *extra)
{
	json_t *env, *x;

	env = json_pack("{s:s, s:{s:s}, s:s, s:I, s:I, s:{}, s:n}", "name", "staging", "selector", "env", "staging",
			"strategy", "rings", "progress_deadline_ms", (json_int_t)600000, "health_timeout_ms",
			(json_int_t)5000, "rolling", "traffic");
	json_object_set_new(env, "rings", json_loads(rings_json, 0, NULL));
	assert_non_null(json_object_get(env, "rings"));
	if (extra) {
		x = json_loads(extra, 0, NULL);
		assert_non_null(x);
		json_object_update(env, x);
		json_decref(x);
	}
	return env;
}

/* A deployment record as sw_rollout_create() makes it, for a rings env. */
static void rings_dep(struct sim *s, size_t n, const char *const *rings, const char *rings_json, const char *extra)
{
	struct sw_err err = SW_ERR_INIT;
	json_t *hosts, *env, *plan;

	sim_init(s, n, OLD);
	memset(&fk, 0, sizeof(fk));
	fk.sim = s;
	s->measure = fake_measure;
	hosts = ring_hosts(s, "ring", rings);
	env = ring_env(rings_json, extra);
	plan = sw_plan_build(env, hosts, &err);
	if (!plan)
		fail_msg("plan: %s", err.msg);
	s->dep = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:o, s:{s:s}}, s:o, s:I, s:s}", "id", "dep-1",
			   "service", "hello", "env", "staging", "digest", NEW, "state", "pending", "reason", "", "actor",
			   "tester", "spec", "env", env, "run", "command", "./dist/hello", "plan", plan, "deadline_ms",
			   (json_int_t)(s->now + 600000), "prev_digest", OLD);
	json_decref(hosts);
}

struct seen {
	char rings[256];     /* "canary early all " from the ring events */
	char steps[64];      /* their step numbers "0 1 2 " */
	unsigned nmeas;
	char meas_steps[256];
};

static void collect(struct seen *sn, const struct sw_step *out)
{
	json_t *ev, *p;
	size_t j, len;

	json_array_foreach(out->events, j, ev) {
		p = json_object_get(ev, "payload");
		if (!strcmp(json_string_value(json_object_get(ev, "kind")), "deployment.measurement")) {
			sn->nmeas++;
			len = strlen(sn->meas_steps);
			snprintf(sn->meas_steps + len, sizeof(sn->meas_steps) - len, "%lld ",
				 (long long)json_integer_value(json_object_get(p, "step")));
			continue;
		}
		if (!strcmp(json_string_value(json_object_get(ev, "kind")), "deployment.rollback_batch"))
			continue; /* the rollback's batch (one: rings restore every ring touched at once) */
		assert_string_equal(json_string_value(json_object_get(ev, "kind")), "deployment.step");
		assert_string_equal(json_string_value(json_object_get(p, "kind")), "ring");
		assert_string_equal(json_string_value(json_object_get(p, "id")), "dep-1");
		len = strlen(sn->rings);
		snprintf(sn->rings + len, sizeof(sn->rings) - len, "%s ", json_string_value(json_object_get(p, "ring")));
		len = strlen(sn->steps);
		snprintf(sn->steps + len, sizeof(sn->steps) - len, "%lld ",
			 (long long)json_integer_value(json_object_get(p, "step")));
	}
}

/* One step, then agents report and time moves by ms. */
static void tick(struct sim *s, struct seen *sn, int64_t ms)
{
	struct sw_step out;

	sim_step(s, false, &out);
	if (sn)
		collect(sn, &out);
	sw_step_release(&out);
	s->now += ms;
	sim_agents(s, NULL, NULL, NULL);
}

static bool ended(const struct sim *s)
{
	return strcmp(sim_state(s), "pending") && strcmp(sim_state(s), "progressing") && strcmp(sim_state(s), "paused");
}

static bool baking(const struct sim *s)
{
	return json_is_true(json_object_get(sim_plan(s), "baking"));
}

static int64_t plan_int(const struct sim *s, const char *key)
{
	return json_integer_value(json_object_get(sim_plan(s), key));
}

/* Step until cond (at most max steps); returns the steps taken or -1. */
static int until(struct sim *s, struct seen *sn, bool (*cond)(const struct sim *), int64_t ms, int max)
{
	int i;

	for (i = 0; i < max; i++) {
		if (cond(s))
			return i;
		tick(s, sn, ms);
	}
	return -1;
}

static const char *host_step(const struct sim *s)
{
	return json_string_value(json_object_get(sim_plan(s), "step"));
}

/* ---- tests ---------------------------------------------------------------- */

/* Rings go in rings.order, not host order; a ring's hosts all at once; one event per ring. */
static void test_ring_order(void **state)
{
	static const char *const rings[] = { "all", "canary", "early", "all", "early" };
	struct sim s;
	struct seen sn = { 0 };
	size_t p1, p2, p3, p4, p5;
	size_t i;

	(void)state;
	rings_dep(&s, 5, rings, "{\"label\": \"ring\", \"order\": [\"canary\", \"early\", \"all\"], \"bake_ms\": 0, "
				"\"analysis\": null}",
		  NULL);
	assert_int_equal(json_array_size(json_object_get(sim_plan(&s), "batches")), 3);
	assert_string_equal(json_string_value(json_array_get(json_object_get(sim_plan(&s), "rings"), 0)), "canary");
	/* Until ring "canary" is healthy, no other host is told anything. */
	tick(&s, &sn, 100); /* pending -> progressing */
	tick(&s, &sn, 100); /* ring canary starts */
	assert_string_equal(sim_want_digest(&s, 1, 0), NEW);
	for (i = 0; i < 5; i++)
		if (i != 1)
			assert_string_equal(sim_want_digest(&s, i, 0), OLD);
	assert_non_null(strstr(host_step(&s), "ring 'canary' (1 of 3)"));
	assert_true(until(&s, &sn, ended, 100, 100) >= 0);
	assert_string_equal(sim_state(&s), "succeeded");
	assert_string_equal(sn.rings, "canary early all ");
	assert_string_equal(sn.steps, "0 1 2 ");
	/* Row order: web-2, then web-3 and web-5 (same step), then web-1 and web-4. */
	p1 = (size_t)(strstr(s.lb.log, "web-1:row(" NEW ")") - s.lb.log);
	p2 = (size_t)(strstr(s.lb.log, "web-2:row(" NEW ")") - s.lb.log);
	p3 = (size_t)(strstr(s.lb.log, "web-3:row(" NEW ")") - s.lb.log);
	p4 = (size_t)(strstr(s.lb.log, "web-4:row(" NEW ")") - s.lb.log);
	p5 = (size_t)(strstr(s.lb.log, "web-5:row(" NEW ")") - s.lb.log);
	assert_true(p2 < p3 && p2 < p5);
	assert_true(p3 < p1 && p3 < p4 && p5 < p1 && p5 < p4);
	/* Like rolling: the same slot, active, every host on the new release. */
	for (i = 0; i < 5; i++) {
		assert_string_equal(sim_want_digest(&s, i, 0), NEW);
		assert_true(sim_want_active(&s, i, 0));
		assert_null(s.h[i].want[1]);
	}
	sim_release(&s);
}

/* A ring that is empty here is skipped; a failing host in a ring rolls back that ring. */
static void test_empty_ring_skipped_and_host_failure(void **state)
{
	static const char *const rings[] = { "early", "all" };
	struct sim s;

	(void)state;
	rings_dep(&s, 2, rings, "{\"label\": \"ring\", \"order\": [\"canary\", \"early\", \"all\"], \"bake_ms\": 0, "
				"\"analysis\": null}",
		  NULL);
	assert_int_equal(json_array_size(json_object_get(sim_plan(&s), "rings")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(sim_plan(&s), "rings"), 0)), "early");
	sim_run(&s, false, NEW, "failed", 100, 100);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "host 'web-1' failed"));
	assert_string_equal(sim_want_digest(&s, 0, 0), OLD);
	assert_int_equal(s.h[1].gen, 0); /* ring "all" never started */
	sim_release(&s);
}

/* The bake holds the next ring; pause pushes it out; promote skips it; no progress deadline meanwhile. */
static void test_bake(void **state)
{
	static const char *const rings[] = { "a1", "b1", "c1" };
	char note[128];
	struct sw_err err = SW_ERR_INIT;
	struct sim s;
	struct seen sn = { 0 };
	int64_t t_bake, t_until;

	(void)state;
	rings_dep(&s, 3, rings, "{\"label\": \"ring\", \"order\": [\"a1\", \"b1\", \"c1\"], \"bake_ms\": 10000, "
				"\"analysis\": null}",
		  "{\"progress_deadline_ms\": 3000}");
	assert_true(until(&s, &sn, baking, 100, 50) >= 0);
	assert_int_equal(plan_int(&s, "bake_ring"), 0);
	t_bake = plan_int(&s, "bake_started_ms");
	t_until = plan_int(&s, "bake_until_ms");
	assert_int_equal(t_until - t_bake, 10000);
	/* Baking: ring b1 untouched until the bake time passed (deadline 3 s does not fire). */
	while (s.now < t_until - 200) {
		tick(&s, &sn, 500);
		assert_true(baking(&s));
		assert_int_equal(s.h[1].gen, 0);
	}
	assert_string_equal(sim_state(&s), "progressing");
	assert_non_null(strstr(host_step(&s), "baking"));
	/* Time up: ring b1 starts. */
	s.now = t_until;
	tick(&s, &sn, 100);
	assert_false(baking(&s));
	tick(&s, &sn, 100);
	assert_string_equal(sim_want_digest(&s, 1, 0), NEW);
	assert_string_equal(sim_want_digest(&s, 2, 0), OLD);
	assert_string_equal(sn.rings, "a1 b1 ");
	/* Bake of ring b1: a pause of 30 s pushes its end out by 30 s. */
	assert_true(until(&s, &sn, baking, 100, 50) >= 0);
	assert_int_equal(plan_int(&s, "bake_ring"), 1);
	t_until = plan_int(&s, "bake_until_ms");
	assert_int_equal(sw_dep_pause(s.dep, "alice", "look", s.now, note, sizeof(note), &err), 1);
	s.now += 30000;
	tick(&s, &sn, 0); /* paused: nothing happens */
	assert_string_equal(sim_state(&s), "paused");
	assert_int_equal(sw_dep_resume(s.dep, s.now, note, sizeof(note), &err), 1);
	assert_int_equal(plan_int(&s, "bake_until_ms"), t_until + 30000);
	tick(&s, &sn, 100);
	assert_true(baking(&s));
	/* Promote skips the rest of the bake. */
	assert_int_equal(sw_dep_promote(s.dep, "alice", s.now, note, sizeof(note), &err), 1);
	tick(&s, &sn, 100);
	assert_false(baking(&s));
	assert_null(json_object_get(sim_plan(&s), "promote"));
	tick(&s, &sn, 100);
	assert_string_equal(sim_want_digest(&s, 2, 0), NEW);
	/* The last ring bakes too before the deployment succeeds. */
	assert_true(until(&s, &sn, baking, 100, 50) >= 0);
	assert_int_equal(plan_int(&s, "bake_ring"), 2);
	assert_string_equal(sim_state(&s), "progressing");
	assert_true(until(&s, &sn, ended, 1000, 100) >= 0);
	assert_string_equal(sim_state(&s), "succeeded");
	assert_string_equal(sn.rings, "a1 b1 c1 ");
	assert_int_equal(sn.nmeas, 0);
	assert_int_equal(fk.calls, 0);
	sim_release(&s);
}

/* Analysis fails in ring 2: rings 1 and 2 go back, ring 3 is never touched; the measurement in the reason. */
static void test_analysis_failure_ring2(void **state)
{
	static const char *const rings[] = { "one", "two", "three", "two" };
	struct sim s;
	struct seen sn = { 0 };
	const json_t *runs;

	(void)state;
	rings_dep(&s, 4, rings, "{\"label\": \"ring\", \"order\": [\"one\", \"two\", \"three\"], \"bake_ms\": 1000, "
				"\"analysis\": \"errors\"}",
		  "{" ERRORS(2) "}");
	fk.fail_from = 2; /* the canary has 2+ servers once ring "two" is in */
	assert_true(until(&s, &sn, ended, 100, 300) >= 0);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "ring 'two': analysis 'errors' failed"));
	assert_non_null(strstr(sim_reason(&s), "error_rate = 0.48"));
	assert_non_null(strstr(sim_reason(&s), "error_rate > 0.2"));
	/* Ring one passed its analysis (2 measurements), ring two failed at its first. */
	runs = json_object_get(sim_plan(&s), "cruns");
	assert_int_equal(json_array_size(runs), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "state")), "successful");
	assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 1), "state")), "failed");
	assert_int_equal(sn.nmeas, 3);
	assert_string_equal(sn.meas_steps, "0 0 1 ");
	/* Target while ring two baked: web-1, web-2, web-4 the canary; web-3 the stable side, in its slot. */
	assert_int_equal(fk.ncanary, 3);
	assert_int_equal(fk.nstable, 1);
	assert_string_equal(fk.stable0, "web-3-a");
	/* Rolled back: every host of rings one and two on the old release again; ring three never told. */
	assert_string_equal(sim_want_digest(&s, 0, 0), OLD);
	assert_string_equal(sim_want_digest(&s, 1, 0), OLD);
	assert_string_equal(sim_want_digest(&s, 3, 0), OLD);
	assert_true(sim_want_active(&s, 1, 0));
	assert_int_equal(s.h[2].gen, 0);
	assert_null(strstr(s.lb.log, "web-3:row"));
	assert_string_equal(sn.rings, "one two ");
	sim_release(&s);
}

/* Inconclusive: paused with the reason; resume goes on with the next ring. */
static void test_analysis_inconclusive_pauses(void **state)
{
	static const char *const rings[] = { "one", "two" };
	char note[128];
	struct sw_err err = SW_ERR_INIT;
	struct sim s;
	struct seen sn = { 0 };
	int i;

	(void)state;
	rings_dep(&s, 2, rings, "{\"label\": \"ring\", \"order\": [\"one\", \"two\"], \"bake_ms\": 0, "
				"\"analysis\": \"errors\"}",
		  "{" ERRORS(2) "}");
	fk.inconclusive = true;
	for (i = 0; i < 100 && strcmp(sim_state(&s), "paused"); i++)
		tick(&s, &sn, 100);
	assert_string_equal(sim_state(&s), "paused");
	assert_non_null(strstr(sim_reason(&s), "ring 'one': analysis 'errors' is inconclusive"));
	assert_int_equal(s.h[1].gen, 0);
	tick(&s, &sn, 1000); /* paused: nothing moves */
	assert_int_equal(s.h[1].gen, 0);
	fk.inconclusive = false;
	assert_int_equal(sw_dep_resume(s.dep, s.now, note, sizeof(note), &err), 1);
	tick(&s, &sn, 100);
	assert_false(baking(&s));
	tick(&s, &sn, 100);
	assert_string_equal(sim_want_digest(&s, 1, 0), NEW);
	assert_true(until(&s, &sn, ended, 100, 200) >= 0);
	assert_string_equal(sim_state(&s), "succeeded");
	sim_release(&s);
}

/* Hosts whose label value is not in the order (or with no such label) are refused, every one named. */
static void test_unknown_ring_refused(void **state)
{
	static const char *const rings[] = { "canary", "beta", NULL, "all" };
	struct sw_err err = SW_ERR_INIT;
	struct sim s;
	json_t *hosts, *env, *plan;

	(void)state;
	sim_init(&s, 4, OLD);
	hosts = ring_hosts(&s, "wave", rings);
	env = ring_env("{\"label\": \"wave\", \"order\": [\"canary\", \"all\"], \"bake_ms\": 0, \"analysis\": null}", NULL);
	plan = sw_plan_build(env, hosts, &err);
	assert_null(plan);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "'web-2' (wave=beta)"));
	assert_non_null(strstr(err.msg, "'web-3' (no label 'wave')"));
	assert_non_null(strstr(err.msg, "[canary, all]"));
	assert_null(strstr(err.msg, "web-1"));
	assert_null(strstr(err.msg, "web-4"));
	/* The same hosts with a known value each: a plan in order. */
	json_decref(hosts);
	hosts = ring_hosts(&s, "wave", (const char *const[]){ "canary", "all", "all", "canary" });
	err = (struct sw_err)SW_ERR_INIT;
	plan = sw_plan_build(env, hosts, &err);
	assert_non_null(plan);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(json_object_get(plan, "batches"), 0), 1)), 3);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(json_object_get(plan, "batches"), 1), 0)), 1);
	json_decref(plan);
	json_decref(hosts);
	json_decref(env);
	sim_release(&s);
}

/* Restart mid-bake: the stored record, read back, goes on where it was (same bake end, same analysis run). */
static void test_restart_mid_bake(void **state)
{
	static const char *const rings[] = { "one", "two" };
	struct sim s;
	struct seen sn = { 0 };
	int64_t t_until;
	json_int_t measured;
	char *text;
	json_t *back;
	int i;

	(void)state;
	rings_dep(&s, 2, rings, "{\"label\": \"ring\", \"order\": [\"one\", \"two\"], \"bake_ms\": 5000, "
				"\"analysis\": \"errors\"}",
		  "{" ERRORS(20) "}");
	assert_true(until(&s, &sn, baking, 100, 50) >= 0);
	t_until = plan_int(&s, "bake_until_ms");
	for (i = 0; i < 5; i++)
		tick(&s, &sn, 250);
	measured = json_integer_value(json_object_get(
		json_object_get(json_array_get(json_object_get(sim_plan(&s), "cruns"), 0), "tally"), "measurements"));
	assert_true(measured >= 2 && measured < 20);
	/* The server dies; a new one reads the record as stored. */
	text = json_dumps(s.dep, JSON_COMPACT);
	assert_non_null(text);
	back = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(back);
	json_decref(s.dep);
	s.dep = back;
	s.now += 2000;
	tick(&s, &sn, 250);
	assert_true(baking(&s));
	assert_int_equal(plan_int(&s, "bake_until_ms"), t_until);
	assert_int_equal(json_array_size(json_object_get(sim_plan(&s), "cruns")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_array_get(
								    json_object_get(sim_plan(&s), "cruns"), 0),
							    "tally"),
							    "measurements")),
			 measured + 1);
	assert_int_equal(s.h[1].gen, 0);
	assert_true(until(&s, &sn, ended, 250, 200) >= 0);
	assert_string_equal(sim_state(&s), "succeeded");
	assert_string_equal(sn.rings, "one two ");
	/* Ring two's bake did not start before ring one's ended. */
	assert_true(s.now > t_until);
	sim_release(&s);
}

/* Any label names rings: "env" here, every host in the one ring "staging". */
static void test_other_label_one_ring(void **state)
{
	struct sim s;
	size_t i;

	(void)state;
	sim_init(&s, 3, OLD);
	memset(&fk, 0, sizeof(fk));
	sim_dep(&s, "rings", NULL, NEW, OLD,
		"{\"rings\": {\"label\": \"env\", \"order\": [\"prod\", \"staging\"], \"bake_ms\": 0, "
		"\"analysis\": null}}");
	assert_int_equal(json_array_size(json_object_get(sim_plan(&s), "batches")), 1);
	assert_int_equal(json_array_size(json_array_get(json_object_get(sim_plan(&s), "batches"), 0)), 3);
	sim_run(&s, false, NULL, NULL, 100, 100);
	assert_string_equal(sim_state(&s), "succeeded");
	for (i = 0; i < 3; i++)
		assert_string_equal(sim_want_digest(&s, i, 0), NEW);
	sim_release(&s);
}

/* The env JSON a deployment stores carries the spec's rings. */
static void test_env_json_rings(void **state)
{
	static const char text[] = "service: hello\n"
				   "run:\n"
				   "  command: ./dist/hello --port ${PORT}\n"
				   "environments:\n"
				   "  edge:\n"
				   "    hosts: { role: edge }\n"
				   "    strategy:\n"
				   "      rings: { order: [canary, early, all], bake: 30m }\n";
	struct sw_err err = SW_ERR_INIT;
	struct sw_spec *spec = sw_spec_parse("slipway.yml", text, strlen(text), &err);
	json_t *e, *r;

	(void)state;
	if (!spec)
		fail_msg("spec: %s", err.msg);
	e = sw_runjson_env(&spec->envs[sw_spec_env_index(spec, "edge")]);
	assert_string_equal(json_string_value(json_object_get(e, "strategy")), "rings");
	r = json_object_get(e, "rings");
	assert_string_equal(json_string_value(json_object_get(r, "label")), "ring");
	assert_int_equal(json_array_size(json_object_get(r, "order")), 3);
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "order"), 1)), "early");
	assert_int_equal(json_integer_value(json_object_get(r, "bake_ms")), 30 * 60000);
	assert_true(json_is_null(json_object_get(r, "analysis")));
	json_decref(e);
	sw_spec_free(spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_order),
		cmocka_unit_test(test_empty_ring_skipped_and_host_failure),
		cmocka_unit_test(test_bake),
		cmocka_unit_test(test_analysis_failure_ring2),
		cmocka_unit_test(test_analysis_inconclusive_pauses),
		cmocka_unit_test(test_unknown_ring_refused),
		cmocka_unit_test(test_restart_mid_bake),
		cmocka_unit_test(test_other_label_one_ring),
		cmocka_unit_test(test_env_json_rings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
