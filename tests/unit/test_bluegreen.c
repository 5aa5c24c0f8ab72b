/*
 * test_bluegreen.c - unit tests for the blue/green strategy
 * (rollout/bluegreen.c) over a simulated fleet and a fake load balancer
 * (rollout_sim.h): the idle slot gets the new release inactive beside the
 * old one, new servers are prepared at weight 0, the switch waits for the
 * hosts and the balancer, the smoke test gates it, the switch sets every
 * weight and state at once and reads them back, a refused switch is
 * switched back, and keep_old cleanup removes only the old release.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rollout/bluegreen.h"
#include "rollout_sim.h"

#include <stdlib.h>

#define OLD "sha256:old"
#define NEW "sha256:new"
#define BG_ENV "{\"traffic\": {\"haproxy\": {\"socket\": \"127.0.0.1:1\", \"backend\": \"hello\"}}}"
#define BG_SMOKE_ENV                                                                                      \
	"{\"traffic\": {\"haproxy\": {\"socket\": \"127.0.0.1:1\", \"backend\": \"hello\"}}, \"blue_green\": " \
	"{\"smoke\": \"./smoke.sh\", \"keep_old_ms\": 60000}}"

static struct sim_server *srv(struct sim *s, const char *name)
{
	struct sim_server *v = sim_srv(&s->lb, name);

	assert_non_null(v);
	return v;
}

static void step(struct sim *s, bool lb)
{
	struct sw_step out;

	sim_step(s, lb, &out);
	sw_step_release(&out);
}

static void test_switch(void **state)
{
	struct sim s;
	size_t i;
	char a[32], b[32];

	(void)state;
	sim_init(&s, 4, OLD);
	sim_dep(&s, "blue_green", NULL, NEW, OLD, BG_ENV);
	step(&s, true); /* progressing */
	step(&s, true); /* install */
	for (i = 0; i < 4; i++) {
		/* The new release beside the old one, not active yet; old untouched. */
		assert_string_equal(sim_want_digest(&s, i, 1), NEW);
		assert_false(sim_want_active(&s, i, 1));
		assert_int_equal(json_integer_value(json_object_get(s.h[i].want[1], "port")), 9001);
		assert_string_equal(sim_want_digest(&s, i, 0), OLD);
		assert_true(sim_want_active(&s, i, 0));
		snprintf(b, sizeof(b), "web-%zu-b", i + 1);
		assert_int_equal(srv(&s, b)->weight, 0);
		assert_int_equal(srv(&s, b)->state, SW_TRAFFIC_READY);
	}
	/* Hosts healthy but the balancer does not see web-3-b up yet: no switch. */
	s.now += 100;
	sim_agents(&s, NULL, NULL, NULL);
	srv(&s, "web-3-b")->health = SW_TRAFFIC_HEALTH_DOWN;
	step(&s, true);
	assert_string_equal(sim_state(&s), "progressing");
	assert_non_null(strstr(json_string_value(json_object_get(sim_plan(&s), "step")), "web-3-b"));
	assert_int_equal(srv(&s, "web-1-a")->state, SW_TRAFFIC_READY);
	srv(&s, "web-3-b")->health = SW_TRAFFIC_HEALTH_UP;
	sim_run(&s, true, NULL, NULL, 100, 10);
	assert_string_equal(sim_state(&s), "succeeded");
	for (i = 0; i < 4; i++) {
		snprintf(a, sizeof(a), "web-%zu-a", i + 1);
		snprintf(b, sizeof(b), "web-%zu-b", i + 1);
		assert_int_equal(srv(&s, b)->state, SW_TRAFFIC_READY);
		assert_int_equal(srv(&s, b)->weight, 10);
		assert_int_equal(srv(&s, a)->state, SW_TRAFFIC_MAINT);
		/* Rows flipped; the old one keeps running inactive. */
		assert_true(sim_want_active(&s, i, 1));
		assert_string_equal(sim_want_digest(&s, i, 0), OLD);
		assert_false(sim_want_active(&s, i, 0));
	}
	assert_int_equal(json_integer_value(json_object_get(json_object_get(sim_plan(&s), "cleanup"), "at_ms")),
			 json_integer_value(json_object_get(sim_plan(&s), "switched_ms")) + 60000);
	sim_release(&s);
}

static void test_next_deploy_uses_other_slot(void **state)
{
	struct sim s;

	(void)state;
	/* The old release serves from b: the new one goes to a. */
	sim_init(&s, 2, NULL);
	for (size_t i = 0; i < 2; i++) {
		s.h[i].want[1] = json_pack("{s:s, s:i, s:b, s:{}}", "digest", OLD, "port", 9001, "active", 1, "run");
		s.h[i].want[0] = json_pack("{s:s, s:i, s:b, s:{}}", "digest", "sha256:older", "port", 9000, "active", 0,
					   "run");
	}
	sim_agents(&s, NULL, NULL, NULL);
	sim_dep(&s, "blue_green", NULL, NEW, OLD, BG_ENV);
	sim_run(&s, true, NULL, NULL, 100, 20);
	assert_string_equal(sim_state(&s), "succeeded");
	assert_string_equal(sim_want_digest(&s, 0, 0), NEW);
	assert_true(sim_want_active(&s, 0, 0));
	assert_false(sim_want_active(&s, 0, 1));
	assert_int_equal(srv(&s, "web-1-a")->state, SW_TRAFFIC_READY);
	assert_int_equal(srv(&s, "web-1-b")->state, SW_TRAFFIC_MAINT);
	sim_release(&s);
}

static void test_first_deploy(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 2, NULL);
	srv(&s, "web-2-b")->state = SW_TRAFFIC_READY;
	sim_dep(&s, "blue_green", NULL, NEW, NULL, BG_ENV);
	sim_run(&s, true, NULL, NULL, 100, 20);
	assert_string_equal(sim_state(&s), "succeeded");
	assert_string_equal(sim_want_digest(&s, 1, 0), NEW);
	assert_true(sim_want_active(&s, 1, 0));
	assert_null(s.h[1].want[1]);
	assert_int_equal(srv(&s, "web-2-a")->state, SW_TRAFFIC_READY);
	assert_int_equal(srv(&s, "web-2-a")->weight, 10);
	/* The other slot's server leaves rotation too: nothing may take traffic there. */
	assert_int_equal(srv(&s, "web-2-b")->state, SW_TRAFFIC_MAINT);
	sim_release(&s);
}

static void test_unhealthy_never_switches(void **state)
{
	struct sim s;
	size_t i;

	(void)state;
	sim_init(&s, 3, OLD);
	sim_dep(&s, "blue_green", NULL, NEW, OLD, BG_ENV);
	sim_run(&s, true, NEW, "unhealthy", 500, 100);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "not healthy after 5s"));
	for (i = 0; i < 3; i++) {
		char a[32], b[32];

		snprintf(a, sizeof(a), "web-%zu-a", i + 1);
		snprintf(b, sizeof(b), "web-%zu-b", i + 1);
		/* Traffic never left the old colour; the new one is out. */
		assert_int_equal(srv(&s, a)->state, SW_TRAFFIC_READY);
		assert_int_equal(srv(&s, a)->weight, 10);
		assert_int_equal(srv(&s, b)->state, SW_TRAFFIC_MAINT);
		assert_null(s.h[i].want[1]);
		assert_string_equal(sim_want_digest(&s, i, 0), OLD);
		assert_true(sim_want_active(&s, i, 0));
	}
	sim_release(&s);
}

static void test_smoke(void **state)
{
	struct sim s;
	struct sw_step out;
	int i;

	(void)state;
	sim_init(&s, 2, OLD);
	sim_dep(&s, "blue_green", NULL, NEW, OLD, BG_SMOKE_ENV);
	for (i = 0; i < 10; i++) {
		sim_step(&s, true, &out);
		if (out.smoke_start)
			break;
		sw_step_release(&out);
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_true(out.smoke_start);
	sw_step_release(&out);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(sim_plan(&s), "smoke"), "targets")),
		"web-1:9001,web-2:9001");
	/* Running: nothing moves. */
	sim_obs(&s, true);
	sw_step_init(&out);
	s.obs.smoke = SW_SMOKE_RUNNING;
	assert_int_equal(sw_deployment_step(s.dep, &s.obs, &out, NULL), 0);
	assert_false(out.transition);
	assert_int_equal(json_array_size(out.desired), 0);
	sw_step_release(&out);
	assert_int_equal(srv(&s, "web-1-a")->state, SW_TRAFFIC_READY);
	/* Failed: rolled back without a switch. */
	sim_obs(&s, true);
	sw_step_init(&out);
	s.obs.smoke = SW_SMOKE_FAILED;
	s.obs.smoke_message = "exit 1: GET / answered 500";
	assert_int_equal(sw_deployment_step(s.dep, &s.obs, &out, NULL), 0);
	sim_apply(&s, &out);
	sw_step_release(&out);
	sim_run(&s, true, NULL, NULL, 100, 10);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_string_equal(sim_reason(&s), "smoke test failed: exit 1: GET / answered 500");
	assert_int_equal(srv(&s, "web-2-b")->state, SW_TRAFFIC_MAINT);
	assert_int_equal(srv(&s, "web-2-a")->state, SW_TRAFFIC_READY);
	assert_null(s.h[1].want[1]);
	sim_release(&s);

	/* Passed: switched. */
	sim_init(&s, 2, OLD);
	sim_dep(&s, "blue_green", NULL, NEW, OLD, BG_SMOKE_ENV);
	for (i = 0; i < 10 && strcmp(json_string_value(json_object_get(sim_plan(&s), "bg")) ? json_string_value(json_object_get(sim_plan(&s), "bg")) : "", "smoke"); i++) {
		step(&s, true);
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	for (i = 0; i < 5 && !strcmp(sim_state(&s), "progressing"); i++) {
		sim_obs(&s, true);
		sw_step_init(&out);
		s.obs.smoke = SW_SMOKE_PASSED;
		assert_int_equal(sw_deployment_step(s.dep, &s.obs, &out, NULL), 0);
		sim_apply(&s, &out);
		sw_step_release(&out);
	}
	assert_string_equal(sim_state(&s), "succeeded");
	assert_int_equal(srv(&s, "web-1-a")->state, SW_TRAFFIC_MAINT);
	sim_release(&s);
}

static void test_switch_refused(void **state)
{
	struct sim s;

	(void)state;
	/* The balancer refuses to take web-2-a out: switch back, old colour serves. */
	sim_init(&s, 2, OLD);
	snprintf(s.lb.refuse_state, sizeof(s.lb.refuse_state), "web-2-a");
	s.lb.refuse_maint_only = true;
	sim_dep(&s, "blue_green", NULL, NEW, OLD, BG_ENV);
	sim_run(&s, true, NULL, NULL, 100, 30);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "traffic switch failed: haproxy refused"));
	assert_int_equal(srv(&s, "web-1-a")->state, SW_TRAFFIC_READY);
	assert_int_equal(srv(&s, "web-1-a")->weight, 10);
	assert_int_equal(srv(&s, "web-1-b")->state, SW_TRAFFIC_MAINT);
	assert_int_equal(srv(&s, "web-2-b")->state, SW_TRAFFIC_MAINT);
	assert_true(sim_want_active(&s, 0, 0));
	assert_null(s.h[0].want[1]);
	assert_true(json_is_true(json_object_get(sim_plan(&s), "switch_started")));
	sim_release(&s);
}

static void test_unswitch_must_succeed(void **state)
{
	struct sim s;
	int i;

	(void)state;
	/* Once the switch started, rows are not removed until traffic is back. */
	sim_init(&s, 1, OLD);
	sim_dep(&s, "blue_green", NULL, NEW, OLD, BG_ENV);
	for (i = 0; i < 20 && !json_is_true(json_object_get(sim_plan(&s), "switch_started")); i++) {
		step(&s, true);
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_true(json_is_true(json_object_get(sim_plan(&s), "switch_started")));
	json_object_set_new(sim_plan(&s), "abort", json_pack("{s:s}", "actor", "alice"));
	/* web-1-a cannot be set ready: the new release must keep running. */
	snprintf(s.lb.refuse_state, sizeof(s.lb.refuse_state), "web-1-a");
	step(&s, true);
	step(&s, true);
	assert_string_equal(sim_want_digest(&s, 0, 1), NEW);
	assert_non_null(strstr(json_string_value(json_object_get(sim_plan(&s), "step")), "switching traffic back"));
	/* The balancer recovers: back to old, then the new slot goes. */
	s.lb.refuse_state[0] = '\0';
	sim_run(&s, true, NULL, NULL, 100, 10);
	assert_string_equal(sim_state(&s), "aborted");
	assert_null(s.h[0].want[1]);
	assert_int_equal(srv(&s, "web-1-a")->state, SW_TRAFFIC_READY);
	sim_release(&s);

	/* A balancer that never recovers: failed after the health timeout, saying why. */
	sim_init(&s, 1, OLD);
	sim_dep(&s, "blue_green", NULL, NEW, OLD, BG_ENV);
	for (i = 0; i < 20 && !json_is_true(json_object_get(sim_plan(&s), "switch_started")); i++) {
		step(&s, true);
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	json_object_set_new(sim_plan(&s), "abort", json_pack("{s:s}", "actor", "alice"));
	snprintf(s.lb.refuse_state, sizeof(s.lb.refuse_state), "web-1-a");
	sim_run(&s, true, NULL, NULL, 1000, 20);
	assert_string_equal(sim_state(&s), "failed");
	assert_non_null(strstr(sim_reason(&s), "traffic could not be switched back"));
	assert_string_equal(sim_want_digest(&s, 0, 1), NEW);
	sim_release(&s);
}

static void test_cleanup(void **state)
{
	struct sim s;
	struct sw_step out;

	(void)state;
	sim_init(&s, 2, OLD);
	sim_dep(&s, "blue_green", NULL, NEW, OLD, BG_ENV);
	sim_run(&s, true, NULL, NULL, 100, 20);
	assert_string_equal(sim_state(&s), "succeeded");
	/* Not before keep_old. */
	sw_step_init(&out);
	assert_int_equal(sw_bluegreen_cleanup(s.dep, sim_obs(&s, true), &out), 0);
	assert_int_equal(json_array_size(out.desired), 0);
	sw_step_release(&out);
	/* web-2's old slot was reused by someone else meanwhile: left alone. */
	json_decref(s.h[1].want[0]);
	s.h[1].want[0] = json_pack("{s:s, s:i, s:b, s:{}}", "digest", "sha256:other", "port", 9000, "active", 0, "run");
	s.now += 60001;
	sw_step_init(&out);
	assert_int_equal(sw_bluegreen_cleanup(s.dep, sim_obs(&s, true), &out), 1);
	sim_apply(&s, &out);
	assert_int_equal(json_array_size(out.desired), 1);
	sw_step_release(&out);
	assert_null(s.h[0].want[0]);
	assert_string_equal(sim_want_digest(&s, 0, 1), NEW);
	assert_string_equal(sim_want_digest(&s, 1, 0), "sha256:other");
	assert_true(json_is_true(json_object_get(json_object_get(sim_plan(&s), "cleanup"), "done")));
	/* Done once. */
	sw_step_init(&out);
	assert_int_equal(sw_bluegreen_cleanup(s.dep, sim_obs(&s, true), &out), 0);
	sw_step_release(&out);
	sim_release(&s);
}

static void test_no_balancer(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 2, OLD);
	sim_dep(&s, "blue_green", NULL, NEW, OLD, NULL);
	sim_run(&s, false, NULL, NULL, 100, 20);
	assert_string_equal(sim_state(&s), "succeeded");
	assert_true(sim_want_active(&s, 0, 1));
	assert_false(sim_want_active(&s, 0, 0));
	assert_int_equal(s.lb.calls, 0);
	sim_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_switch),
		cmocka_unit_test(test_next_deploy_uses_other_slot),
		cmocka_unit_test(test_first_deploy),
		cmocka_unit_test(test_unhealthy_never_switches),
		cmocka_unit_test(test_smoke),
		cmocka_unit_test(test_switch_refused),
		cmocka_unit_test(test_unswitch_must_succeed),
		cmocka_unit_test(test_cleanup),
		cmocka_unit_test(test_no_balancer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
