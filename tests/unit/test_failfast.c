/*
 * test_failfast.c - unit tests for failing fast where the answer is known
 * (issue 8, part 3), over the simulated fleet of rollout_sim.h:
 *   - an agent's definite verdict ("unhealthy": the health check failed
 *     `retries` times in a row; "crashloop": the process keeps exiting)
 *     fails the batch at the next step, long before health_timeout, in
 *     rolling, blue/green and canary instances; the same state without a
 *     verdict ("not yet healthy") still waits;
 *   - a revoked host is skipped (phase "skipped", an event naming it), also
 *     when the running batch waits for it, and the deployment goes on;
 *   - a host of another batch offline at the start of a batch: the batch
 *     starts when max_unavailable / min_healthy hold with it, otherwise
 *     the deployment fails at once naming it (no wait for health_timeout).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rollout_sim.h"

#include <stdlib.h>

#define OLD "sha256:old"
#define NEW "sha256:new"
#define LONG_TIMEOUT "{\"health_timeout_ms\": 300000}"

/* Verdicts the simulated agents add to their reports of `digest` (NULL: none). */
struct verdict {
	const char *digest, *verdict, *message;
};

/* One step as the controller does it, with the verdict in the reports. */
static int vstep(struct sim *s, bool with_lb, const struct verdict *v, struct sw_step *out)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_obs *obs = sim_obs(s, with_lb);
	size_t i;
	int k;

	for (i = 0; v && v->digest && i < s->n; i++)
		for (k = 0; k < 2; k++)
			if (obs->hosts[i].slot[k].digest && !strcmp(obs->hosts[i].slot[k].digest, v->digest)) {
				s->oh[i].slot[k].verdict = v->verdict;
				s->oh[i].slot[k].verdict_message = v->message;
			}
	sw_step_init(out);
	if (sw_deployment_step(s->dep, obs, out, &err) < 0)
		fail_msg("step: %s", err.msg);
	sim_apply(s, out);
	return out->transition ? (int)out->state : -1;
}

/* Steps (time moves step_ms, agents report NEW as `state`) until the rollout phase ends; how many. */
static int run_until_rollback(struct sim *s, bool with_lb, const char *state, const struct verdict *v, int step_ms,
			      int max)
{
	struct sw_step out;
	int i;

	for (i = 0; i < max; i++) {
		vstep(s, with_lb, v, &out);
		sw_step_release(&out);
		if (strcmp(json_string_value(json_object_get(sim_plan(s), "phase")), "rollout"))
			return i + 1;
		s->now += step_ms;
		sim_agents(s, NEW, state, "GET /healthz: HTTP 503");
	}
	return max;
}

static const char *phase_of(const struct sim *s, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(sim_plan(s), "hosts"), i), "phase"));
}

/* ---- verdicts ----------------------------------------------------------- */

static void test_rolling_unhealthy_verdict_fails_the_batch_at_once(void **state)
{
	const struct verdict v = { NEW, "unhealthy",
				   "health check failed 3 times in a row: GET /healthz: HTTP 503; last output: boom" };
	struct sim s;
	int steps;

	(void)state;
	/* health_timeout 5 minutes: the verdict, not the timeout, ends it. */
	sim_init(&s, 4, OLD);
	sim_dep(&s, "rolling", "{\"batch\": 2, \"max_unavailable\": 2}", NEW, OLD, LONG_TIMEOUT);
	steps = run_until_rollback(&s, false, "unhealthy", &v, 250, 100);
	assert_true(steps <= 3);
	assert_true(s.now - SIM_T0 < 1000);
	assert_string_equal(json_string_value(json_object_get(sim_plan(&s), "phase")), "rollback");
	assert_string_equal(sim_reason(&s), "host 'web-1' unhealthy: health check failed 3 times in a row: "
					    "GET /healthz: HTTP 503; last output: boom");
	/* Batch 2 was never told. */
	assert_int_equal(s.h[2].gen, 0);
	assert_int_equal(s.h[3].gen, 0);
	sim_release(&s);

	/* The same reports without a verdict are "not yet healthy": the batch waits. */
	sim_init(&s, 4, OLD);
	sim_dep(&s, "rolling", "{\"batch\": 2, \"max_unavailable\": 2}", NEW, OLD, LONG_TIMEOUT);
	steps = run_until_rollback(&s, false, "unhealthy", NULL, 1000, 60);
	assert_int_equal(steps, 60);
	assert_string_equal(json_string_value(json_object_get(sim_plan(&s), "phase")), "rollout");
	sim_release(&s);
}

static void test_crashloop_verdict_in_every_strategy(void **state)
{
	const struct verdict v = { NEW, "crashloop",
				   "the process exited 3 times in a row within 1.5s, each less than 1m after it "
				   "started (last: exit 1 after 3 ms)" };
	static const char *const strategies[] = { "rolling", "blue_green", "canary" };
	struct sim s;
	size_t i;
	int steps;

	(void)state;
	for (i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++) {
		sim_init(&s, 2, OLD);
		sim_dep(&s, strategies[i], NULL, NEW, OLD,
			!strcmp(strategies[i], "canary")
				? "{\"health_timeout_ms\": 300000, \"traffic\": {\"haproxy\": {\"socket\": \"sim.sock\", "
				  "\"backend\": \"hello\"}}, \"canary\": {\"steps\": [{\"kind\": \"instances\", "
				  "\"instances\": 1}, {\"kind\": \"weight\", \"weight\": 50}], \"templates\": [], "
				  "\"start_at_step\": 0}}"
				: LONG_TIMEOUT);
		/* The agent says "starting" again after each restart: the verdict is what counts. */
		steps = run_until_rollback(&s, !strcmp(strategies[i], "canary"), "starting", &v, 250, 40);
		if (strcmp(json_string_value(json_object_get(sim_plan(&s), "phase")), "rollback"))
			fail_msg("%s: still %s after %d steps (%s)", strategies[i],
				 json_string_value(json_object_get(sim_plan(&s), "phase")), steps,
				 json_string_value(json_object_get(sim_plan(&s), "step")));
		assert_true(steps <= 6);
		assert_non_null(strstr(sim_reason(&s), "host 'web-1' crash loop: the process exited 3 times in a row"));
		sim_release(&s);
	}
}

/* ---- revoked and offline hosts ------------------------------------------ */

static bool has_event(const struct sw_step *out, const char *kind, const char *host)
{
	json_t *ev;
	size_t i;

	json_array_foreach(out->events, i, ev)
		if (!strcmp(json_string_value(json_object_get(ev, "kind")), kind) &&
		    !strcmp(json_string_value(json_object_get(json_object_get(ev, "payload"), "host")), host))
			return true;
	return false;
}

static void test_revoked_host_is_skipped(void **state)
{
	struct sw_step out;
	bool skipped_event = false;
	struct sim s;
	int i;

	(void)state;
	/* max_unavailable 1: one host per batch. web-3 was revoked (its agent is gone too). */
	sim_init(&s, 3, OLD);
	s.h[2].exists = false;
	sim_offline(&s, 2);
	sim_dep(&s, "rolling", NULL, NEW, OLD, LONG_TIMEOUT);
	for (i = 0; i < 30; i++) {
		vstep(&s, false, NULL, &out);
		skipped_event |= has_event(&out, "deployment.host_skipped", "web-3");
		sw_step_release(&out);
		if (strcmp(sim_state(&s), "pending") && strcmp(sim_state(&s), "progressing"))
			break;
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_string_equal(sim_state(&s), "succeeded");
	assert_true(skipped_event);
	assert_string_equal(phase_of(&s, 2), "skipped");
	assert_string_equal(sim_want_digest(&s, 0, 0), NEW);
	assert_string_equal(sim_want_digest(&s, 1, 0), NEW);
	assert_string_equal(sim_want_digest(&s, 2, 0), OLD);
	assert_true(sim_want_active(&s, 2, 0));
	assert_string_equal(json_string_value(json_object_get(sim_plan(&s), "step")), "2 hosts updated, 1 skipped (revoked)");
	assert_true(s.now - SIM_T0 < 5000);
	sim_release(&s);
}

/* Every host revoked: nothing was installed anywhere, and that is not a success. */
static void test_all_hosts_revoked_fails(void **state)
{
	struct sw_step out;
	struct sim s;
	int i, k;

	(void)state;
	sim_init(&s, 2, OLD);
	for (k = 0; k < 2; k++) {
		s.h[k].exists = false;
		sim_offline(&s, k);
	}
	sim_dep(&s, "rolling", NULL, NEW, OLD, LONG_TIMEOUT);
	for (i = 0; i < 30; i++) {
		vstep(&s, false, NULL, &out);
		sw_step_release(&out);
		if (strcmp(sim_state(&s), "pending") && strcmp(sim_state(&s), "progressing"))
			break;
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_string_equal(sim_state(&s), "failed");
	assert_non_null(strstr(json_string_value(json_object_get(s.dep, "reason")), "every host of the deployment was revoked"));
	sim_release(&s);
}

/* Steps (time moves 100 ms, agents report) until host i is told its new row; at most 40. */
static void run_until_told(struct sim *s, size_t i)
{
	struct sw_step out;
	int n;

	for (n = 0; n < 40; n++) {
		vstep(s, false, NULL, &out);
		sw_step_release(&out);
		if (s->h[i].gen)
			break;
		s->now += 100;
		sim_agents(s, NULL, NULL, NULL);
	}
	assert_int_equal(s->h[i].gen, 1);
}

static void test_revoke_releases_a_batch_waiting_for_the_host(void **state)
{
	struct sw_step out;
	struct sim s;
	int i;

	(void)state;
	sim_init(&s, 3, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, LONG_TIMEOUT);
	/* Batch 1 (web-1) goes through; web-2's agent takes its row but never gets healthy. */
	run_until_told(&s, 1);
	for (i = 0; i < 20; i++) {
		vstep(&s, false, NULL, &out);
		sw_step_release(&out);
		s.now += 1000;
		sim_agents(&s, NEW, "starting", "");
		/* web-1 stays healthy */
		snprintf(s.h[0].state[0], sizeof(s.h[0].state[0]), "healthy");
	}
	assert_string_equal(sim_state(&s), "progressing");
	assert_int_equal(sw_dep_int(sim_plan(&s), "batch"), 1);
	/* Revoked: the next step leaves it out and starts batch 3. */
	s.h[1].exists = false;
	vstep(&s, false, NULL, &out);
	assert_true(has_event(&out, "deployment.host_skipped", "web-2"));
	sw_step_release(&out);
	assert_string_equal(phase_of(&s, 1), "skipped");
	for (i = 0; i < 10 && strcmp(sim_state(&s), "succeeded"); i++) {
		vstep(&s, false, NULL, &out);
		sw_step_release(&out);
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_string_equal(sim_state(&s), "succeeded");
	assert_string_equal(sim_want_digest(&s, 2, 0), NEW);
	sim_release(&s);
}

static void test_rollback_does_not_wait_for_a_revoked_host(void **state)
{
	struct sw_step out;
	struct sim s;
	int i;

	(void)state;
	sim_init(&s, 3, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, LONG_TIMEOUT);
	/* web-1 done; web-2 told, then revoked (its agent gone) while the batch waits for it. */
	run_until_told(&s, 1);
	s.h[1].exists = false;
	s.h[1].dead = true;
	/* web-3's batch then fails: the rollback restores web-1 and web-3 and ends, web-2 is not waited for. */
	for (i = 0; i < 40; i++) {
		vstep(&s, false, NULL, &out);
		sw_step_release(&out);
		if (strcmp(sim_state(&s), "pending") && strcmp(sim_state(&s), "progressing"))
			break;
		s.now += 100;
		sim_agents(&s, NEW, "failed", "boom");
	}
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_string_equal(sim_reason(&s), "host 'web-3' failed: boom");
	assert_string_equal(phase_of(&s, 1), "skipped");
	assert_string_equal(sim_want_digest(&s, 0, 0), OLD);
	assert_string_equal(sim_want_digest(&s, 2, 0), OLD);
	assert_true(s.now - SIM_T0 < 10000);
	sim_release(&s);
}

static void test_offline_host_of_another_batch(void **state)
{
	struct sim s;
	int steps;

	(void)state;
	/* max_unavailable 1 and web-3 offline: batch 1 cannot start without breaking it: fail at once. */
	sim_init(&s, 3, OLD);
	sim_offline(&s, 2);
	sim_dep(&s, "rolling", NULL, NEW, OLD, LONG_TIMEOUT);
	steps = sim_run(&s, false, NULL, NULL, 1000, 50);
	assert_true(steps <= 3);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "cannot start batch 1 of 3: host 'web-3' (not seen for 1m"));
	assert_non_null(strstr(sim_reason(&s), ") is offline; counted as unavailable"));
	assert_non_null(strstr(sim_reason(&s), "would break max_unavailable 1"));
	assert_int_equal(s.h[0].gen, 0);
	sim_release(&s);

	/* max_unavailable 2: the remaining hosts can proceed; web-3's own batch then fails at once, naming it. */
	sim_init(&s, 3, OLD);
	sim_offline(&s, 2);
	sim_dep(&s, "rolling", "{\"max_unavailable\": 2, \"batch\": 1}", NEW, OLD, LONG_TIMEOUT);
	sim_run(&s, false, NULL, NULL, 100, 50);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "host 'web-3' is offline (not seen for"));
	assert_non_null(strstr(sim_reason(&s), "at the start of batch 3 of 3"));
	assert_true(s.now - SIM_T0 < 10000);
	sim_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rolling_unhealthy_verdict_fails_the_batch_at_once),
		cmocka_unit_test(test_crashloop_verdict_in_every_strategy),
		cmocka_unit_test(test_revoked_host_is_skipped),
		cmocka_unit_test(test_all_hosts_revoked_fails),
		cmocka_unit_test(test_revoke_releases_a_batch_waiting_for_the_host),
		cmocka_unit_test(test_rollback_does_not_wait_for_a_revoked_host),
		cmocka_unit_test(test_offline_host_of_another_batch),
	};
	return cmocka_run_group_tests_name("failfast", tests, NULL, NULL);
}
