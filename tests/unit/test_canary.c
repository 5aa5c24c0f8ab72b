/*
 * test_canary.c - unit tests for the canary strategy (rollout/canary.c)
 * over a simulated fleet and a fake load balancer (rollout_sim.h): the
 * weight arithmetic, steps in order with their events, capacity before
 * traffic, pause / promote, the balancer failing (pause, weights
 * recorded), weight 0 before any canary instance stops on failure and
 * abort, and a server restart mid-step (the plan as stored, read back);
 * analyses over a fake provider (the obs's measure seam): inline success
 * (baseline, count, interval, target, event), failure (weight 0 before
 * the canary stops, the measurement in the reason), inconclusive (paused,
 * promote goes on), a background analysis failing at a later step, and
 * background analyses measured during a manual pause.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "analysis/analysis.h"
#include "base/clock.h"
#include "rollout/canary.h"
#include "rollout/gate.h"
#include "rollout_sim.h"

#include <math.h>
#include <stdlib.h>

#define OLD "sha256:old"
#define NEW "sha256:new"
#define TRAFFIC "\"traffic\": {\"haproxy\": {\"socket\": \"127.0.0.1:1\", \"backend\": \"hello\"}}"

static struct sim_server *srv(struct sim *s, const char *name)
{
	struct sim_server *v = sim_srv(&s->lb, name);

	assert_non_null(v);
	return v;
}

static void canary_dep(struct sim *s, size_t n, const char *steps)
{
	char env[2048];

	sim_init(s, n, OLD);
	s->lb.log_weights = true;
	snprintf(env, sizeof(env), "{" TRAFFIC ", \"canary\": {\"steps\": %s, \"templates\": [], \"start_at_step\": 0}}",
		 steps);
	sim_dep(s, "canary", NULL, NEW, OLD, env);
}

/* Step (agents report, time moves 100 ms) until cond or max steps; collects event kinds. */
static int step_until(struct sim *s, bool (*cond)(struct sim *), int max, char *events, size_t esize)
{
	struct sw_step out;
	json_t *ev;
	size_t j;
	int i;

	for (i = 0; i < max; i++) {
		if (cond(s))
			return i;
		sim_step(s, true, &out);
		json_array_foreach(out.events, j, ev) {
			if (events) {
				size_t len = strlen(events);

				snprintf(events + len, esize - len, "%s:%lld:%lld ",
					 json_string_value(json_object_get(json_object_get(ev, "payload"), "kind")),
					 (long long)json_integer_value(json_object_get(json_object_get(ev, "payload"), "step")),
					 (long long)json_integer_value(json_object_get(json_object_get(ev, "payload"), "weight")));
			}
		}
		sw_step_release(&out);
		s->now += 100;
		sim_agents(s, NULL, NULL, NULL);
	}
	return -1;
}

static bool at_weight_25(struct sim *s)
{
	return json_integer_value(json_object_get(sim_plan(s), "cweight")) == 25;
}

static bool is_paused(struct sim *s)
{
	return !strcmp(sim_state(s), "paused");
}

static bool is_final(struct sim *s)
{
	enum sw_dep_state st;

	return sw_dep_state_parse(sim_state(s), &st) == 0 && sw_dep_state_final(st);
}

/* The canary share the fake balancer would give: sum(canary ready)/sum(all ready). */
static double canary_share(struct sim *s)
{
	unsigned c = 0, all = 0;
	size_t i;

	for (i = 0; i < s->lb.n; i++) {
		if (s->lb.srv[i].state != SW_TRAFFIC_READY)
			continue;
		all += s->lb.srv[i].weight;
		if (s->lb.srv[i].name[strlen(s->lb.srv[i].name) - 1] == 'b')
			c += s->lb.srv[i].weight;
	}
	return all ? (double)c / all : -1;
}

static void test_weights(void **state)
{
	static const size_t canaries[] = { 1, 2, 4 }, hosts[] = { 4, 5, 8 };
	static const unsigned pcts[] = { 5, 25, 50, 100 };
	unsigned wc, ws, best;
	size_t i, j, k;
	double share;

	(void)state;
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			for (k = 0; k < 4; k++) {
				size_t c = canaries[i], n = hosts[j];

				if (c > n)
					continue;
				/* every host keeps its stable server: n stable, c canary */
				assert_int_equal(sw_canary_weights(c, n, pcts[k], &wc, &ws), 0);
				assert_true(wc <= SW_TRAFFIC_WEIGHT_MAX && ws <= SW_TRAFFIC_WEIGHT_MAX);
				assert_true(wc >= 1);
				share = (double)(c * wc) / (double)(c * wc + n * ws);
				if (fabs(share - pcts[k] / 100.0) > 0.002)
					fail_msg("c=%zu n=%zu W=%u: wc=%u ws=%u share %.4f", c, n, pcts[k], wc, ws, share);
			}
	/* Exact where integers allow: 1 of 4 at 25% is 4:3 (or a multiple), the largest is 256:192. */
	assert_int_equal(sw_canary_weights(1, 4, 25, &wc, &ws), 0);
	assert_int_equal(wc * 3, ws * 4);
	best = wc;
	assert_int_equal(best, 256);
	/* 0%: canary 0, stable full. */
	assert_int_equal(sw_canary_weights(2, 4, 0, &wc, &ws), 0);
	assert_int_equal(wc, 0);
	assert_true(ws > 0);
	/* Impossible asks. */
	assert_int_equal(sw_canary_weights(1, 0, 25, &wc, &ws), -1);
	assert_int_equal(sw_canary_weights(0, 4, 25, &wc, &ws), -1);
	assert_int_equal(sw_canary_weights(1, 4, 101, &wc, &ws), -1);
	assert_int_equal(sw_canary_weights(0, 0, 0, &wc, &ws), -1);
}

static void test_good_canary_pause_promote(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sim s;
	struct sw_step out;
	char events[2048] = "", note[64];
	size_t i;

	(void)state;
	canary_dep(&s, 4, "[{\"kind\": \"weight\", \"weight\": 25}, {\"kind\": \"pause\", \"pause_ms\": 0, \"manual\": true},"
			  " {\"kind\": \"weight\", \"weight\": 50}, {\"kind\": \"weight\", \"weight\": 100}]");
	assert_true(step_until(&s, at_weight_25, 100, events, sizeof(events)) >= 0);
	/* Default one instance: web-1 in slot b, inactive, beside its stable slot a. */
	assert_string_equal(sim_want_digest(&s, 0, 1), NEW);
	assert_false(sim_want_active(&s, 0, 1));
	assert_string_equal(sim_want_digest(&s, 0, 0), OLD);
	assert_null(sim_want_digest(&s, 1, 1));
	/* Canary servers were at weight 0 before they got their share. */
	assert_non_null(strstr(s.lb.log, "web-1-b:w0"));
	assert_true(strstr(s.lb.log, "web-1-b:w0") < strstr(s.lb.log, "web-1-b:w256"));
	assert_true(fabs(canary_share(&s) - 0.25) < 0.002);
	assert_int_equal(srv(&s, "web-2-a")->weight, 192);
	/* Then paused for a human. */
	assert_true(step_until(&s, is_paused, 20, events, sizeof(events)) >= 0);
	assert_string_equal(sim_reason(&s), "waiting for promote at step 2");
	assert_string_equal(events, "weight:0:0 pause:1:25 ");
	for (i = 0; i < 10; i++) {
		assert_int_equal(sim_step(&s, true, &out), -1);
		assert_int_equal(json_array_size(out.desired), 0);
		sw_step_release(&out);
		s.now += 1000;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_true(fabs(canary_share(&s) - 0.25) < 0.002);
	assert_int_equal(sw_dep_promote(s.dep, "alice", s.now, note, sizeof(note), &err), 1);
	assert_string_equal(sim_state(&s), "progressing");
	assert_true(step_until(&s, is_final, 200, events, sizeof(events)) >= 0);
	assert_string_equal(sim_state(&s), "succeeded");
	assert_string_equal(events, "weight:0:0 pause:1:25 weight:2:25 weight:3:50 ");
	/* Every host on the new release in slot b, active; old rows removed; balancer switched. */
	for (i = 0; i < 4; i++) {
		char a[32], b[32];

		assert_string_equal(sim_want_digest(&s, i, 1), NEW);
		assert_true(sim_want_active(&s, i, 1));
		assert_null(sim_want_digest(&s, i, 0));
		snprintf(a, sizeof(a), "web-%zu-a", i + 1);
		snprintf(b, sizeof(b), "web-%zu-b", i + 1);
		assert_int_equal(srv(&s, b)->state, SW_TRAFFIC_READY);
		assert_int_equal(srv(&s, b)->weight, 10);
		assert_int_equal(srv(&s, a)->state, SW_TRAFFIC_MAINT);
		assert_int_equal(srv(&s, a)->weight, 10);
	}
	sim_release(&s);
}

/* The environment's first release: no stable side, so no canary steps; installed on every host at once. */
static void test_first_release_installs_everywhere(void **state)
{
	struct sim s;
	char events[512] = "", env[1024];
	size_t i;

	(void)state;
	sim_init(&s, 3, NULL);
	snprintf(env, sizeof(env),
		 "{" TRAFFIC ", \"canary\": {\"steps\": [{\"kind\": \"weight\", \"weight\": 25},"
		 " {\"kind\": \"pause\", \"pause_ms\": 0, \"manual\": true}], \"templates\": [], \"start_at_step\": 0}}");
	sim_dep(&s, "canary", NULL, NEW, NULL, env);
	assert_true(step_until(&s, is_final, 200, events, sizeof(events)) >= 0);
	assert_string_equal(sim_state(&s), "succeeded");
	assert_string_equal(events, "promote:2:0 ");
	assert_true(json_is_true(json_object_get(sim_plan(&s), "cfirst")));
	for (i = 0; i < 3; i++) {
		char a[32];

		assert_string_equal(sim_want_digest(&s, i, 0), NEW);
		assert_true(sim_want_active(&s, i, 0));
		assert_null(sim_want_digest(&s, i, 1));
		snprintf(a, sizeof(a), "web-%zu-a", i + 1);
		assert_int_equal(srv(&s, a)->state, SW_TRAFFIC_READY);
		assert_true(srv(&s, a)->weight > 0);
	}
	sim_release(&s);
}

/* A canary that fails under traffic: weight 0 first, then the canary instances stop. */
static void test_failure_weight_zero_before_stop(void **state)
{
	struct sim s;
	struct sw_step out;
	const char *w0, *row;
	int i;

	(void)state;
	canary_dep(&s, 5, "[{\"kind\": \"instances\", \"instances\": 2}, {\"kind\": \"weight\", \"weight\": 25},"
			  " {\"kind\": \"pause\", \"pause_ms\": 60000, \"manual\": false}]");
	assert_true(step_until(&s, at_weight_25, 100, NULL, 0) >= 0);
	assert_string_equal(sim_want_digest(&s, 1, 1), NEW);
	assert_null(sim_want_digest(&s, 2, 1));
	assert_true(fabs(canary_share(&s) - 0.25) < 0.002);
	s.lb.log[0] = '\0';
	for (i = 0; i < 200 && !is_final(&s); i++) {
		sim_agents(&s, NEW, "failed", "crashed");
		sim_step(&s, true, &out);
		sw_step_release(&out);
		s.now += 100;
	}
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "host 'web-1'"));
	w0 = strstr(s.lb.log, "web-1-b:w0");
	row = strstr(s.lb.log, "web-1:row(none)");
	assert_non_null(w0);
	assert_non_null(row);
	assert_true(w0 < row);
	assert_true(strstr(s.lb.log, "web-2-b:w0") < strstr(s.lb.log, "web-2:row(none)"));
	assert_true(strstr(s.lb.log, "web-1-b:maint") < row);
	/* Stable back to full weights, canary 0 and out of rotation, rows as before. */
	assert_int_equal(srv(&s, "web-3-a")->weight, 10);
	assert_int_equal(srv(&s, "web-1-b")->weight, 0);
	assert_int_equal(srv(&s, "web-1-b")->state, SW_TRAFFIC_MAINT);
	assert_true(fabs(canary_share(&s)) < 1e-9);
	assert_null(sim_want_digest(&s, 0, 1));
	assert_string_equal(sim_want_digest(&s, 0, 0), OLD);
	sim_release(&s);
}

/* Abort during a weight step (the timed pause after it), and the balancer failing. */
static void test_abort_and_balancer_down(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sim s;
	struct sw_step out;
	char note[64];
	json_t *seen;

	(void)state;
	canary_dep(&s, 4, "[{\"kind\": \"weight\", \"weight\": 5}, {\"kind\": \"weight\", \"weight\": 50},"
			  " {\"kind\": \"pause\", \"pause_ms\": 60000, \"manual\": false}]");
	assert_true(step_until(&s, is_paused, 2, NULL, 0) < 0);
	/* Weight 5 applied; then HAProxy goes away before the 50% step. */
	while (json_integer_value(json_object_get(sim_plan(&s), "cweight")) != 5) {
		sim_step(&s, true, &out);
		sw_step_release(&out);
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_true(fabs(canary_share(&s) - 0.05) < 0.002);
	s.lb.down = true;
	assert_true(step_until(&s, is_paused, 10, NULL, 0) >= 0);
	assert_non_null(strstr(sim_reason(&s), "step 2: "));
	assert_non_null(strstr(sim_reason(&s), "cannot connect to haproxy at 'sim.sock'"));
	seen = json_object_get(sim_plan(&s), "cweights_seen");
	assert_non_null(json_object_get(seen, "error")); /* what we know: it could not be read */
	/* Back: resume retries the step. */
	s.lb.down = false;
	assert_int_equal(sw_dep_resume(s.dep, s.now, note, sizeof(note), &err), 1);
	sim_step(&s, true, &out);
	sw_step_release(&out);
	assert_true(fabs(canary_share(&s) - 0.50) < 0.002);
	/* Abort while at 50%: weight 0 first, then rows. */
	json_object_set_new(sim_plan(&s), "abort", json_pack("{s:s}", "actor", "bob"));
	s.lb.log[0] = '\0';
	assert_true(step_until(&s, is_final, 100, NULL, 0) >= 0);
	assert_string_equal(sim_state(&s), "aborted");
	assert_true(strstr(s.lb.log, "web-1-b:w0") < strstr(s.lb.log, "web-1:row(none)"));
	assert_true(fabs(canary_share(&s)) < 1e-9);
	sim_release(&s);

	/* Weight that goes down is refused; some hosts with a stable release and others none is refused. */
	canary_dep(&s, 4, "[{\"kind\": \"weight\", \"weight\": 25}, {\"kind\": \"weight\", \"weight\": 10}]");
	assert_true(step_until(&s, is_final, 200, NULL, 0) >= 0);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "canary weights must not decrease"));
	assert_true(fabs(canary_share(&s)) < 1e-9);
	sim_release(&s);
	sim_init(&s, 2, OLD);
	json_decref(s.h[1].want[0]);
	s.h[1].want[0] = NULL;
	s.h[1].digest[0][0] = s.h[1].state[0][0] = '\0';
	sim_dep(&s, "canary", NULL, NEW, OLD,
		"{" TRAFFIC ", \"canary\": {\"steps\": [{\"kind\": \"weight\", \"weight\": 25}]}}");
	assert_true(step_until(&s, is_final, 50, NULL, 0) >= 0);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "runs no release of the service"));
	sim_release(&s);
}

/* The server restarts mid-step: the plan as stored (JSON text) goes on. Timed pause, promote skips it. */
static void test_resume_after_restart(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sim s;
	char *text, note[64];
	int i;

	(void)state;
	canary_dep(&s, 4, "[{\"kind\": \"instances\", \"instances\": \"50%\"}, {\"kind\": \"weight\", \"weight\": 25},"
			  " {\"kind\": \"pause\", \"pause_ms\": 600000, \"manual\": false}, {\"kind\": \"analysis\", "
			  "\"analysis\": \"latency\"}]");
	assert_true(step_until(&s, at_weight_25, 100, NULL, 0) >= 0);
	for (i = 0; i < 5; i++) {
		struct sw_step out;

		sim_step(&s, true, &out);
		sw_step_release(&out);
		s.now += 100;
	}
	assert_non_null(strstr(json_string_value(json_object_get(sim_plan(&s), "step")), "pause"));
	text = json_dumps(s.dep, JSON_COMPACT);
	json_decref(s.dep);
	s.dep = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(s.dep);
	/* 2 hosts are canaries, and still at 25% after the restart. */
	assert_string_equal(sim_want_digest(&s, 1, 1), NEW);
	assert_null(sim_want_digest(&s, 2, 1));
	assert_true(step_until(&s, is_paused, 20, NULL, 0) < 0); /* a 10-minute pause */
	assert_true(fabs(canary_share(&s) - 0.25) < 0.002);
	assert_int_equal(sw_dep_promote(s.dep, "alice", s.now, note, sizeof(note), &err), 1);
	/* An analysis the record does not hold (a record from before analyses): an explicit pause, never a silent success. */
	assert_true(step_until(&s, is_paused, 20, NULL, 0) >= 0);
	assert_non_null(strstr(sim_reason(&s), "analysis 'latency' is not in the deployment's record"));
	assert_int_equal(sw_dep_promote(s.dep, "alice", s.now, note, sizeof(note), &err), 1);
	sim_run(&s, true, NULL, NULL, 100, 200);
	assert_string_equal(sim_state(&s), "succeeded");
	sim_release(&s);
}


/* ---- analyses (rollout/gate.c) over a fake provider -------------------- */

/*
 * The fake provider: the haproxy shape (raw counters, so the first
 * measurement after a weight change is a baseline); the verdict per
 * analysis is set by the test.
 */
static struct {
	struct sim *sim;
	char verdict[32];      /* of "errors" */
	unsigned calls, baselines;
	size_t ncanary, nstable;
	char canary0[32], stable0[32];
} fk;

static json_t *fake_measure(const struct sw_spec_analysis *a, const struct sw_analysis_target *t, const json_t *prev,
			    struct sw_err *err)
{
	const char *v = fk.verdict, *msg;
	char when[64];
	double rate;

	(void)err;
	fk.calls++;
	fk.ncanary = t->ncanary_servers;
	fk.nstable = t->nstable_servers;
	snprintf(fk.canary0, sizeof(fk.canary0), "%s", t->ncanary_servers ? t->canary_servers[0] : "");
	snprintf(fk.stable0, sizeof(fk.stable0), "%s", t->nstable_servers ? t->stable_servers[0] : "");
	sw_clock_format_utc(fk.sim->now, when, sizeof(when));
	if (!prev) {
		fk.baselines++;
		v = "inconclusive";
		msg = "'error_rate' has no value: the first measurement has no rate";
		rate = 0;
	} else if (!strcmp(v, "failure")) {
		msg = "success condition 'error_rate < 0.05' is false (error_rate = 0.48)";
		rate = 0.48;
	} else if (!strcmp(v, "success")) {
		msg = "success condition 'error_rate < 0.05' is true (error_rate = 0.01)";
		rate = 0.01;
	} else {
		msg = "'error_rate' has no value: no request reached the canary servers in the last 0.3s";
		rate = 0;
	}
	return json_pack("{s:s, s:s, s:s, s:{s:f}, s:s, s:s, s:i, s:{s:I}}", "time", when, "analysis", a->name, "provider",
			 "haproxy", "values", "error_rate", rate, "verdict", v, "message", msg, "took_ms", 0, "raw",
			 "wall_ms", (json_int_t)fk.sim->now);
}

#define ERRORS_ANALYSIS(count)                                                                                        \
	"\"analyses\": {\"errors\": {\"name\": \"errors\", \"provider\": \"haproxy\", \"interval_ms\": 250, \"count\": " \
	#count ", \"initial_delay_ms\": 0, \"success\": \"error_rate < 0.05\", \"failure\": null, \"failure_limit\": 0, " \
	"\"inconclusive_limit\": 0}}"

static void analysis_dep(struct sim *s, size_t n, const char *steps, const char *templates, int start_at,
			 const char *analyses, const char *verdict)
{
	char env[4096];

	sim_init(s, n, OLD);
	s->lb.log_weights = true;
	s->measure = fake_measure;
	memset(&fk, 0, sizeof(fk));
	fk.sim = s;
	snprintf(fk.verdict, sizeof(fk.verdict), "%s", verdict);
	snprintf(env, sizeof(env),
		 "{" TRAFFIC ", %s, \"canary\": {\"steps\": %s, \"templates\": %s, \"start_at_step\": %d}}", analyses, steps,
		 templates, start_at);
	sim_dep(s, "canary", NULL, NEW, OLD, env);
}

/* Step (agents report, time moves 100 ms) until cond; counts measurement events, keeps the last payload. */
static int step_measure(struct sim *s, bool (*cond)(struct sim *), int max, unsigned *nmeas, json_t **last)
{
	struct sw_step out;
	json_t *ev;
	size_t j;
	int i;

	for (i = 0; i < max; i++) {
		if (cond(s))
			return i;
		sim_step(s, true, &out);
		json_array_foreach(out.events, j, ev) {
			if (strcmp(json_string_value(json_object_get(ev, "kind")), "deployment.measurement"))
				continue;
			(*nmeas)++;
			if (last) {
				json_decref(*last);
				*last = json_incref(json_object_get(ev, "payload"));
			}
		}
		sw_step_release(&out);
		s->now += 100;
		sim_agents(s, NULL, NULL, NULL);
	}
	return -1;
}

static bool at_weight_50(struct sim *s)
{
	return json_integer_value(json_object_get(sim_plan(s), "cweight")) == 50;
}

static const json_t *run_of(struct sim *s, size_t i)
{
	const json_t *r = json_array_get(json_object_get(sim_plan(s), "cruns"), i);

	assert_non_null(r);
	return r;
}

static int64_t mtime(const json_t *m)
{
	int64_t t = 0;

	assert_int_equal(sw_clock_parse_utc(json_string_value(json_object_get(m, "time")), &t), 0);
	return t;
}

/* An inline analysis that passes: a baseline, then count measurements an interval apart, then the next step. */
static void test_analysis_success(void **state)
{
	struct sim s;
	unsigned nmeas = 0;
	json_t *last = NULL, *view;
	const json_t *run, *list;
	int64_t started;

	(void)state;
	analysis_dep(&s, 4,
		     "[{\"kind\": \"weight\", \"weight\": 25}, {\"kind\": \"analysis\", \"analysis\": \"errors\"},"
		     " {\"kind\": \"weight\", \"weight\": 50}, {\"kind\": \"pause\", \"pause_ms\": 0, \"manual\": true}]",
		     "[]", 0, ERRORS_ANALYSIS(3), "success");
	assert_true(step_measure(&s, at_weight_25, 100, &nmeas, &last) >= 0);
	assert_int_equal(fk.calls, 0); /* nothing measured before the analysis step */
	assert_true(step_measure(&s, is_paused, 100, &nmeas, &last) >= 0);
	assert_string_equal(sim_reason(&s), "waiting for promote at step 4");
	assert_int_equal(json_integer_value(json_object_get(sim_plan(&s), "cweight")), 50);
	/* One baseline (not tallied, not listed) and three measurements. */
	assert_int_equal(fk.baselines, 1);
	assert_int_equal(fk.calls, 4);
	assert_int_equal(nmeas, 3);
	run = run_of(&s, 0);
	assert_string_equal(json_string_value(json_object_get(run, "state")), "successful");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(run, "tally"), "successes")), 3);
	list = json_object_get(run, "measurements");
	assert_int_equal(json_array_size(list), 3);
	/* An interval apart, the first one an interval after the baseline at the step's start. */
	started = json_integer_value(json_object_get(run, "started_ms"));
	assert_true(mtime(json_array_get(list, 0)) >= started + 250);
	assert_true(mtime(json_array_get(list, 1)) >= mtime(json_array_get(list, 0)) + 200);
	assert_true(mtime(json_array_get(list, 2)) >= started + 750);
	assert_null(json_object_get(json_array_get(list, 0), "raw"));
	/* The target: the canary server against the stable ones. */
	assert_int_equal(fk.ncanary, 1);
	assert_int_equal(fk.nstable, 4);
	assert_string_equal(fk.canary0, "web-1-b");
	assert_string_equal(fk.stable0, "web-1-a");
	/* The event. */
	assert_non_null(last);
	assert_string_equal(json_string_value(json_object_get(last, "id")), "dep-1");
	assert_int_equal(json_integer_value(json_object_get(last, "step")), 1);
	assert_string_equal(json_string_value(json_object_get(last, "analysis")), "errors");
	assert_string_equal(json_string_value(json_object_get(last, "verdict")), "success");
	assert_true(json_real_value(json_object_get(json_object_get(last, "values"), "error_rate")) > 0.009);
	assert_non_null(strstr(json_string_value(json_object_get(last, "message")), "is true"));
	json_decref(last);
	/* The progress view's part. */
	view = sw_gate_view(sim_plan(&s));
	assert_int_equal(json_array_size(json_object_get(view, "measurements")), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(view, "analyses"), 0), "state")),
			    "successful");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(json_object_get(view, "analyses"), 0), "last"), "verdict")),
			    "success");
	json_decref(view);
	sim_release(&s);
}

/* A failing analysis: canary weight 0 before any canary instance stops, the measurement in the reason. */
static void test_analysis_failure_rolls_back(void **state)
{
	struct sim s;
	unsigned nmeas = 0;
	json_t *last = NULL;
	const char *w0, *row, *reason;
	char want[256];

	(void)state;
	analysis_dep(&s, 5,
		     "[{\"kind\": \"instances\", \"instances\": 2}, {\"kind\": \"weight\", \"weight\": 25},"
		     " {\"kind\": \"analysis\", \"analysis\": \"errors\"}, {\"kind\": \"weight\", \"weight\": 50}]",
		     "[]", 0, ERRORS_ANALYSIS(5), "failure");
	assert_true(step_measure(&s, at_weight_25, 100, &nmeas, &last) >= 0);
	s.lb.log[0] = '\0';
	assert_true(step_measure(&s, is_final, 200, &nmeas, &last) >= 0);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_int_equal(nmeas, 1); /* failure_limit 0: the first failure decides */
	assert_int_equal(json_integer_value(json_object_get(sim_plan(&s), "cweight")), 0);
	reason = sim_reason(&s);
	snprintf(want, sizeof(want),
		 "analysis 'errors' failed: error_rate = 0.48 (success condition 'error_rate < 0.05' is false) at %.8s",
		 json_string_value(json_object_get(last, "time")) + 11);
	assert_string_equal(reason, want);
	assert_string_equal(json_string_value(json_object_get(last, "verdict")), "failure");
	w0 = strstr(s.lb.log, "web-1-b:w0");
	row = strstr(s.lb.log, "web-1:row(none)");
	assert_non_null(w0);
	assert_non_null(row);
	assert_true(w0 < row);
	assert_true(strstr(s.lb.log, "web-2-b:w0") < strstr(s.lb.log, "web-2:row(none)"));
	assert_true(fabs(canary_share(&s)) < 1e-9);
	assert_string_equal(sim_want_digest(&s, 0, 0), OLD);
	assert_null(sim_want_digest(&s, 0, 1));
	json_decref(last);
	sim_release(&s);
}

/* Inconclusive: paused for a human with the reason; promote goes on with the next step. */
static void test_analysis_inconclusive_pauses(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sim s;
	struct sw_step out;
	unsigned nmeas = 0, calls;
	char note[64];
	int i;

	(void)state;
	analysis_dep(&s, 4,
		     "[{\"kind\": \"weight\", \"weight\": 25}, {\"kind\": \"analysis\", \"analysis\": \"errors\"},"
		     " {\"kind\": \"weight\", \"weight\": 50}, {\"kind\": \"pause\", \"pause_ms\": 60000, \"manual\": false}]",
		     "[]", 0, ERRORS_ANALYSIS(0), "inconclusive");
	assert_true(step_measure(&s, is_paused, 100, &nmeas, NULL) >= 0);
	assert_int_equal(nmeas, 1);
	assert_non_null(strstr(sim_reason(&s), "analysis 'errors' is inconclusive: 'error_rate' has no value"));
	assert_non_null(strstr(sim_reason(&s), "promote to go on, abort to roll back"));
	assert_true(fabs(canary_share(&s) - 0.25) < 0.002); /* traffic as it was */
	calls = fk.calls;
	for (i = 0; i < 10; i++) {
		sim_step(&s, true, &out);
		sw_step_release(&out);
		s.now += 100;
	}
	assert_int_equal(fk.calls, calls); /* paused: nothing measured */
	assert_int_equal(sw_dep_promote(s.dep, "alice", s.now, note, sizeof(note), &err), 1);
	assert_true(step_measure(&s, at_weight_50, 50, &nmeas, NULL) >= 0);
	assert_string_equal(sim_state(&s), "progressing");
	assert_string_equal(json_string_value(json_object_get(run_of(&s, 0), "state")), "inconclusive");
	sim_release(&s);
}

/* A background analysis from start_at_step to the end: a failure at a later step rolls back. */
static void test_background_failure_later(void **state)
{
	struct sim s;
	unsigned nmeas = 0;
	json_t *last = NULL;
	const json_t *run;

	(void)state;
	analysis_dep(&s, 4,
		     "[{\"kind\": \"weight\", \"weight\": 10}, {\"kind\": \"pause\", \"pause_ms\": 1000, \"manual\": false},"
		     " {\"kind\": \"weight\", \"weight\": 50}, {\"kind\": \"pause\", \"pause_ms\": 60000, \"manual\": false}]",
		     "[\"errors\"]", 1, ERRORS_ANALYSIS(0), "success");
	assert_true(step_measure(&s, at_weight_50, 100, &nmeas, &last) >= 0);
	/* Measured from step 2 (index 1) on, about every 250 ms over the 1 s pause. */
	assert_true(nmeas >= 2);
	run = run_of(&s, 0);
	assert_true(json_is_true(json_object_get(run, "background")));
	assert_int_equal(json_integer_value(json_object_get(run, "step")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(run, "measurements"), 0), "step")), 1);
	assert_string_equal(json_string_value(json_object_get(run, "state")), "running");
	assert_int_equal(fk.baselines, 1);
	/* Step 4's timed pause: a few good measurements (a new baseline after the weight change), then errors. */
	assert_true(step_measure(&s, is_final, 10, &nmeas, &last) < 0);
	assert_int_equal(fk.baselines, 2);
	assert_string_equal(sim_state(&s), "progressing");
	snprintf(fk.verdict, sizeof(fk.verdict), "failure");
	s.lb.log[0] = '\0';
	assert_true(step_measure(&s, is_final, 100, &nmeas, &last) >= 0);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "background analysis 'errors' failed: error_rate = 0.48"));
	assert_int_equal(json_integer_value(json_object_get(last, "step")), 3);
	assert_true(strstr(s.lb.log, "web-1-b:w0") < strstr(s.lb.log, "web-1:row(none)"));
	assert_true(fabs(canary_share(&s)) < 1e-9);
	json_decref(last);
	sim_release(&s);
}

/*
 * A manual pause holds the rollout, not the watch on it: a background analysis keeps measuring;
 * inconclusive there changes the pause's reason (one promote both acknowledges it and skips the
 * wait), failure rolls back out of the pause.
 */
static void test_background_during_manual_pause(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sim s;
	unsigned nmeas = 0, before;
	json_t *last = NULL;
	char note[64];

	(void)state;
	analysis_dep(&s, 4,
		     "[{\"kind\": \"weight\", \"weight\": 25}, {\"kind\": \"pause\", \"pause_ms\": 0, \"manual\": true},"
		     " {\"kind\": \"weight\", \"weight\": 50}, {\"kind\": \"pause\", \"pause_ms\": 0, \"manual\": true}]",
		     "[\"errors\"]", 1, ERRORS_ANALYSIS(0), "success");
	assert_true(step_measure(&s, is_paused, 100, &nmeas, &last) >= 0);
	assert_string_equal(sim_reason(&s), "waiting for promote at step 2");
	/* Paused, and measured all the same: a baseline, then one every 250 ms. */
	before = nmeas;
	assert_true(step_measure(&s, is_final, 20, &nmeas, &last) < 0);
	assert_string_equal(sim_state(&s), "paused");
	assert_true(nmeas >= before + 5);
	assert_string_equal(json_string_value(json_object_get(last, "verdict")), "success");
	/* Inconclusive while paused: still paused, the reason is the analysis now. */
	snprintf(fk.verdict, sizeof(fk.verdict), "inconclusive");
	assert_true(step_measure(&s, is_final, 10, &nmeas, &last) < 0);
	assert_string_equal(sim_state(&s), "paused");
	assert_non_null(strstr(sim_reason(&s), "background analysis 'errors' is inconclusive"));
	before = fk.calls;
	assert_true(step_measure(&s, is_final, 10, &nmeas, &last) < 0);
	assert_int_equal(fk.calls, before); /* waiting for a human now */
	/* One promote: the analysis goes on (new baseline) and the wait is skipped. */
	snprintf(fk.verdict, sizeof(fk.verdict), "success");
	assert_int_equal(sw_dep_promote(s.dep, "alice", s.now, note, sizeof(note), &err), 1);
	assert_true(step_measure(&s, at_weight_50, 50, &nmeas, &last) >= 0);
	assert_string_equal(json_string_value(json_object_get(run_of(&s, 0), "state")), "running");
	assert_true(step_measure(&s, is_paused, 50, &nmeas, &last) >= 0);
	assert_string_equal(sim_reason(&s), "waiting for promote at step 4");
	/* Failure while paused at step 4: out of the pause and rolled back, canary weight 0 first. */
	snprintf(fk.verdict, sizeof(fk.verdict), "failure");
	s.lb.log[0] = '\0';
	assert_true(step_measure(&s, is_final, 100, &nmeas, &last) >= 0);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "background analysis 'errors' failed: error_rate = 0.48"));
	assert_int_equal(json_integer_value(json_object_get(last, "step")), 3);
	assert_null(json_object_get(sim_plan(&s), "pause"));
	assert_true(strstr(s.lb.log, "web-1-b:w0") < strstr(s.lb.log, "web-1:row(none)"));
	assert_true(fabs(canary_share(&s)) < 1e-9);
	json_decref(last);
	sim_release(&s);
}

/* A dry-run analysis is measured and listed but never fails nor pauses; what it would have decided is kept. */
static void test_dry_run_never_decides(void **state)
{
	struct sim s;
	unsigned nmeas = 0;
	json_t *last = NULL, *view;
	const json_t *run, *a;

	(void)state;
	analysis_dep(&s, 4,
		     "[{\"kind\": \"weight\", \"weight\": 25}, {\"kind\": \"analysis\", \"analysis\": \"errors\"},"
		     " {\"kind\": \"weight\", \"weight\": 50}, {\"kind\": \"pause\", \"pause_ms\": 0, \"manual\": true}]",
		     "[]", 0,
		     "\"analyses\": {\"errors\": {\"name\": \"errors\", \"provider\": \"haproxy\", \"interval_ms\": 250, "
		     "\"count\": 3, \"initial_delay_ms\": 0, \"success\": \"error_rate < 0.05\", \"failure\": null, "
		     "\"failure_limit\": 0, \"inconclusive_limit\": 0, \"dry_run\": true}}",
		     "failure");
	assert_true(step_measure(&s, is_paused, 200, &nmeas, &last) >= 0);
	/* Three failing measurements, and the rollout went on to 50% and the manual pause. */
	assert_string_equal(sim_reason(&s), "waiting for promote at step 4");
	assert_int_equal(json_integer_value(json_object_get(sim_plan(&s), "cweight")), 50);
	assert_int_equal(nmeas, 3);
	assert_true(json_is_true(json_object_get(last, "dry_run")));
	assert_string_equal(json_string_value(json_object_get(last, "verdict")), "failure");
	run = run_of(&s, 0);
	assert_string_equal(json_string_value(json_object_get(run, "state")), "successful");
	assert_non_null(strstr(json_string_value(json_object_get(run, "dry_run_verdict")),
			       "analysis 'errors' failed: error_rate = 0.48"));
	view = sw_gate_view(sim_plan(&s));
	a = json_array_get(json_object_get(view, "analyses"), 0);
	assert_true(json_is_true(json_object_get(a, "dry_run")));
	assert_non_null(json_string_value(json_object_get(a, "dry_run_verdict")));
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(view, "measurements"), 0), "dry_run")));
	json_decref(view);
	json_decref(last);
	sim_release(&s);
}

/* promote --full at the first pause: the steps left are skipped, promotion now; asking again changes nothing. */
static void test_promote_full(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sim s;
	char events[1024] = "", note[128];

	(void)state;
	canary_dep(&s, 4, "[{\"kind\": \"weight\", \"weight\": 10}, {\"kind\": \"pause\", \"pause_ms\": 0, \"manual\": true},"
			  " {\"kind\": \"weight\", \"weight\": 50}, {\"kind\": \"pause\", \"pause_ms\": 600000, \"manual\": false},"
			  " {\"kind\": \"weight\", \"weight\": 100}]");
	assert_true(step_until(&s, is_paused, 100, events, sizeof(events)) >= 0);
	assert_int_equal(sw_dep_promote_full(s.dep, "alice", s.now, note, sizeof(note), &err), 1);
	assert_string_equal(note, "promoted (full): remaining steps skipped");
	assert_string_equal(sim_state(&s), "progressing");
	assert_int_equal(sw_dep_promote_full(s.dep, "alice", s.now, note, sizeof(note), &err), 0);
	assert_string_equal(note, "already promoted (full)");
	events[0] = '\0';
	assert_true(step_until(&s, is_final, 200, events, sizeof(events)) >= 0);
	assert_string_equal(sim_state(&s), "succeeded");
	/* Straight to promotion: no 50% step, no 10-minute pause. */
	assert_string_equal(events, "promote:5:10 ");
	assert_string_equal(sim_want_digest(&s, 3, 1), NEW);
	assert_true(sim_want_active(&s, 3, 1));
	/* Refused once ended, like promote. */
	assert_int_equal(sw_dep_promote_full(s.dep, "alice", s.now, note, sizeof(note), &err), -1);
	sim_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_good_canary_pause_promote),
		cmocka_unit_test(test_first_release_installs_everywhere),
		cmocka_unit_test(test_failure_weight_zero_before_stop),
		cmocka_unit_test(test_abort_and_balancer_down),
		cmocka_unit_test(test_resume_after_restart),
		cmocka_unit_test(test_analysis_success),
		cmocka_unit_test(test_analysis_failure_rolls_back),
		cmocka_unit_test(test_analysis_inconclusive_pauses),
		cmocka_unit_test(test_background_failure_later),
		cmocka_unit_test(test_background_during_manual_pause),
		cmocka_unit_test(test_dry_run_never_decides),
		cmocka_unit_test(test_promote_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
