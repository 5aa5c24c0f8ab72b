/*
 * test_trafficsync.c - unit tests for traffic reconciliation
 * (rollout/trafficsync.c) over the simulated fleet and fake balancer of
 * rollout_sim.h: a healthy host on its desired release that an ended
 * deployment left in maint (or at weight 0) goes back in rotation with its
 * configured weight; unhealthy, offline or outdated hosts, inactive slots
 * and a rollout without a balancer are left alone; a balancer that cannot
 * be read is an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rollout/trafficsync.h"
/* The shared fleet has helpers for stepping deployments that these tests do not need. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "rollout_sim.h"

#define OLD "sha256:old"
#define NEW "sha256:new"
#define LB_ENV "{\"traffic\": {\"haproxy\": {\"socket\": \"/run/haproxy.sock\", \"backend\": \"hello\"}}}"

/* 4 hosts running OLD healthy in slot a, and an ended rollout of OLD (the latest deployment). */
static void setup(struct sim *s, const char *extra_env)
{
	sim_init(s, 4, OLD);
	s->live_since = s->now - 60000;
	sim_dep(s, "rolling", NULL, OLD, NULL, extra_env);
	json_object_set_new(s->dep, "state", json_string("rolled_back"));
}

static int sync_now(struct sim *s, bool with_lb, struct sw_buf *done)
{
	struct sw_err err = SW_ERR_INIT;
	int rc = sw_trafficsync(s->dep, sim_obs(s, with_lb), done, &err);

	if (rc < 0)
		print_message("%s\n", err.msg);
	return rc;
}

static void test_back_in_rotation(void **state)
{
	struct sw_buf done = SW_BUF_INIT(4096);
	struct sim s;

	(void)state;
	setup(&s, LB_ENV);
	/* Left by a rollback: web-2 in maint, web-3 drained, web-4 at weight 0. */
	sim_srv(&s.lb, "web-2-a")->state = SW_TRAFFIC_MAINT;
	sim_srv(&s.lb, "web-3-a")->state = SW_TRAFFIC_DRAIN;
	sim_srv(&s.lb, "web-4-a")->weight = 0;
	assert_int_equal(sync_now(&s, true, &done), 3);
	assert_string_equal(sw_buf_str(&done), "web-2-a (maint), web-3-a (drain), web-4-a (ready, weight 0)");
	assert_int_equal(sim_srv(&s.lb, "web-2-a")->state, SW_TRAFFIC_READY);
	assert_int_equal(sim_srv(&s.lb, "web-3-a")->state, SW_TRAFFIC_READY);
	assert_int_equal(sim_srv(&s.lb, "web-4-a")->weight, 10);
	/* The idle slots stay out. */
	assert_int_equal(sim_srv(&s.lb, "web-2-b")->state, SW_TRAFFIC_MAINT);
	/* Nothing left to do: nothing is set again. */
	s.lb.log[0] = '\0';
	sw_buf_reset(&done);
	assert_int_equal(sync_now(&s, true, &done), 0);
	assert_string_equal(s.lb.log, "");
	sw_buf_release(&done);
	sim_release(&s);
}

static void test_only_healthy_online_current(void **state)
{
	struct sw_buf done = SW_BUF_INIT(4096);
	struct sim s;
	size_t i;

	(void)state;
	setup(&s, LB_ENV);
	for (i = 0; i < 4; i++)
		sim_srv(&s.lb, i == 0 ? "web-1-a" : i == 1 ? "web-2-a" : i == 2 ? "web-3-a" : "web-4-a")->state =
			SW_TRAFFIC_MAINT;
	snprintf(s.h[0].state[0], sizeof(s.h[0].state[0]), "unhealthy"); /* web-1: unhealthy */
	s.h[1].last_seen = s.now - 10000;                               /* web-2: offline */
	snprintf(s.h[2].digest[0], sizeof(s.h[2].digest[0]), "%s", NEW); /* web-3: runs something else */
	assert_int_equal(sync_now(&s, true, &done), 1);
	assert_string_equal(sw_buf_str(&done), "web-4-a (maint)");
	assert_int_equal(sim_srv(&s.lb, "web-1-a")->state, SW_TRAFFIC_MAINT);
	assert_int_equal(sim_srv(&s.lb, "web-2-a")->state, SW_TRAFFIC_MAINT);
	assert_int_equal(sim_srv(&s.lb, "web-3-a")->state, SW_TRAFFIC_MAINT);
	/* web-2 within the grace after a server restart is not offline: it goes back too. */
	s.live_since = s.now - 1000;
	sw_buf_reset(&done);
	assert_int_equal(sync_now(&s, true, &done), 1);
	assert_string_equal(sw_buf_str(&done), "web-2-a (maint)");
	sw_buf_release(&done);
	sim_release(&s);
}

static void test_no_balancer_or_down(void **state)
{
	struct sw_buf done = SW_BUF_INIT(4096);
	struct sim s;

	(void)state;
	/* An environment without traffic: the balancer is never called. */
	setup(&s, NULL);
	sim_srv(&s.lb, "web-2-a")->state = SW_TRAFFIC_MAINT;
	assert_int_equal(sync_now(&s, true, &done), 0);
	assert_int_equal(s.lb.calls, 0);
	sim_release(&s);
	/* A balancer that cannot be read: an error, nothing changed. */
	setup(&s, LB_ENV);
	sim_srv(&s.lb, "web-2-a")->state = SW_TRAFFIC_MAINT;
	s.lb.down = true;
	assert_int_equal(sync_now(&s, true, &done), -1);
	assert_int_equal(sim_srv(&s.lb, "web-2-a")->state, SW_TRAFFIC_MAINT);
	sw_buf_release(&done);
	sim_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_back_in_rotation),
		cmocka_unit_test(test_only_healthy_online_current),
		cmocka_unit_test(test_no_balancer_or_down),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
