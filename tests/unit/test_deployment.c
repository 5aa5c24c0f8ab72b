/*
 * test_deployment.c - unit tests for the deployment state machine
 * (rollout/deployment.c) with the rolling strategy (rollout/rolling.c):
 * pure steps over a simulated fleet (rollout_sim.h). Covers the allowed
 * transitions, batches in order under max_unavailable, the current slot,
 * failures (failed/refused report, unhealthy past the timeout, a host going
 * offline, the progress deadline, abort), rollback to the rows as they were,
 * the first deployment stopping hosts, stale reports, and waiting on
 * offline hosts outside the batch.
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

static void test_transitions(void **state)
{
	enum sw_dep_state s;

	(void)state;
	assert_true(sw_dep_transition_ok(SW_DEP_PENDING, SW_DEP_PROGRESSING));
	assert_true(sw_dep_transition_ok(SW_DEP_PENDING, SW_DEP_ABORTED));
	assert_true(sw_dep_transition_ok(SW_DEP_PROGRESSING, SW_DEP_SUCCEEDED));
	assert_true(sw_dep_transition_ok(SW_DEP_PROGRESSING, SW_DEP_ROLLED_BACK));
	assert_true(sw_dep_transition_ok(SW_DEP_PROGRESSING, SW_DEP_FAILED));
	assert_true(sw_dep_transition_ok(SW_DEP_PROGRESSING, SW_DEP_ABORTED));
	assert_false(sw_dep_transition_ok(SW_DEP_PENDING, SW_DEP_SUCCEEDED));
	assert_false(sw_dep_transition_ok(SW_DEP_SUCCEEDED, SW_DEP_ROLLED_BACK));
	assert_false(sw_dep_transition_ok(SW_DEP_ROLLED_BACK, SW_DEP_PROGRESSING));
	assert_false(sw_dep_transition_ok(SW_DEP_PROGRESSING, SW_DEP_PENDING));
	assert_int_equal(sw_dep_state_parse("rolled_back", &s), 0);
	assert_int_equal(s, SW_DEP_ROLLED_BACK);
	assert_string_equal(sw_dep_state_name(SW_DEP_ABORTED), "aborted");
	assert_int_equal(sw_dep_state_parse("paused", &s), 0);
	assert_int_equal(s, SW_DEP_PAUSED);
	assert_false(sw_dep_state_final(SW_DEP_PAUSED));
	assert_int_equal(sw_dep_state_parse("gated", &s), -1);
	assert_true(sw_dep_state_final(SW_DEP_FAILED));
	assert_false(sw_dep_state_final(SW_DEP_PROGRESSING));
}

static void test_pending_starts(void **state)
{
	struct sim s;
	struct sw_step out;

	(void)state;
	sim_init(&s, 2, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	assert_int_equal(sim_step(&s, false, &out), SW_DEP_PROGRESSING);
	assert_true(out.again);
	assert_int_equal(json_array_size(out.desired), 0); /* hosts are told in the next step */
	assert_string_equal(sim_state(&s), "progressing");
	assert_int_equal(json_integer_value(json_object_get(s.dep, "deadline_ms")), s.now + 600000);
	sw_step_release(&out);
	/* A final record does not move. */
	json_object_set_new(s.dep, "state", json_string("succeeded"));
	assert_int_equal(sim_step(&s, false, &out), -1);
	assert_int_equal(json_array_size(out.desired), 0);
	sw_step_release(&out);
	sim_release(&s);
}

static void test_rolling_success(void **state)
{
	struct sim s;
	struct sw_step out;
	size_t i, updating, max_updating = 0;
	int steps;

	(void)state;
	sim_init(&s, 5, OLD);
	sim_dep(&s, "rolling", "{\"batch\": 2, \"max_unavailable\": 2}", NEW, OLD, NULL);
	for (steps = 0; steps < 100; steps++) {
		sim_step(&s, false, &out);
		sw_step_release(&out);
		/* Never more hosts told but not yet healthy than max_unavailable. */
		updating = 0;
		for (i = 0; i < 5; i++) {
			const char *ph = json_string_value(
				json_object_get(json_array_get(json_object_get(sim_plan(&s), "hosts"), i), "phase"));
			if (!strcmp(ph, "updating"))
				updating++;
		}
		if (updating > max_updating)
			max_updating = updating;
		/* Batches go in name order: web-5 only after web-1..4. */
		if (sim_want_digest(&s, 4, 0) && !strcmp(sim_want_digest(&s, 4, 0), NEW))
			for (i = 0; i < 4; i++)
				assert_string_equal(sim_want_digest(&s, i, 0), NEW);
		if (strcmp(sim_state(&s), "progressing") && strcmp(sim_state(&s), "pending"))
			break;
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_string_equal(sim_state(&s), "succeeded");
	assert_int_equal(max_updating, 2);
	for (i = 0; i < 5; i++) {
		assert_string_equal(sim_want_digest(&s, i, 0), NEW);
		assert_true(sim_want_active(&s, i, 0));
		assert_null(s.h[i].want[1]);
		assert_int_equal(json_integer_value(json_object_get(s.h[i].want[0], "port")), 9000);
		/* What runs comes from the signed release on the agent: the row names none. */
		assert_null(json_object_get(s.h[i].want[0], "run"));
	}
	assert_int_equal(json_integer_value(json_object_get(sim_plan(&s), "batch")), 3);
	sim_release(&s);
}

static void test_rolling_current_slot(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 2, NULL);
	/* web-1 serves from b (a blue/green env before), web-2 has nothing yet. */
	s.h[0].want[1] = json_pack("{s:s, s:i, s:b, s:{}}", "digest", OLD, "port", 9001, "active", 1, "run");
	s.h[0].want[0] = json_pack("{s:s, s:i, s:b, s:{}}", "digest", "sha256:older", "port", 9000, "active", 0, "run");
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	sim_run(&s, false, NULL, NULL, 100, 50);
	assert_string_equal(sim_state(&s), "succeeded");
	assert_string_equal(sim_want_digest(&s, 0, 1), NEW);
	assert_int_equal(json_integer_value(json_object_get(s.h[0].want[1], "port")), 9001);
	assert_string_equal(sim_want_digest(&s, 0, 0), "sha256:older"); /* the other slot is left alone */
	assert_string_equal(sim_want_digest(&s, 1, 0), NEW);
	sim_release(&s);
}

static void assert_back_to_old(struct sim *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		assert_string_equal(sim_want_digest(s, i, 0), OLD);
		assert_true(sim_want_active(s, i, 0));
		/* The row that was there before, restored as it was. */
		assert_string_equal(json_string_value(json_object_get(json_object_get(s->h[i].want[0], "run"), "command")),
				    "old");
		assert_null(s->h[i].want[1]);
	}
}

static void test_rolling_failed_host(void **state)
{
	struct sim s;
	json_t *hosts;

	(void)state;
	sim_init(&s, 4, OLD);
	sim_dep(&s, "rolling", "{\"batch\": 2, \"max_unavailable\": 2}", NEW, OLD, NULL);
	sim_run(&s, false, NEW, "failed", 100, 50);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "host 'web-1' failed: boom"));
	assert_back_to_old(&s, 4);
	hosts = json_object_get(sim_plan(&s), "hosts");
	/* Only the first batch was touched. */
	assert_true(json_is_true(json_object_get(json_array_get(hosts, 1), "touched")));
	assert_false(json_is_true(json_object_get(json_array_get(hosts, 2), "touched")));
	assert_int_equal(s.h[2].gen, 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(hosts, 0), "phase")), "restored");
	assert_string_equal(json_string_value(json_object_get(sim_plan(&s), "phase")), "done");
	sim_release(&s);

	sim_init(&s, 2, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	sim_run(&s, false, NEW, "refused", 100, 50);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "host 'web-1' refused: boom"));
	sim_release(&s);
}

static void test_rolling_unhealthy_timeout(void **state)
{
	struct sim s;
	int steps;

	(void)state;
	sim_init(&s, 3, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	steps = sim_run(&s, false, NEW, "unhealthy", 500, 100);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "host 'web-1' not healthy after 5s (unhealthy: boom)"));
	/* Not before the health timeout: 5 s in steps of 0.5 s. */
	assert_true(steps >= 10);
	assert_back_to_old(&s, 3);
	sim_release(&s);
}

static void test_rolling_offline(void **state)
{
	struct sim s;
	struct sw_step out;
	int i;

	(void)state;
	sim_init(&s, 3, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	/* Update web-1; then web-2's agent dies right after it was told. */
	for (i = 0; i < 10 && strcmp(sim_want_digest(&s, 1, 0), NEW); i++) {
		sim_step(&s, false, &out);
		sw_step_release(&out);
		s.now += 100;
		if (strcmp(sim_want_digest(&s, 1, 0), NEW))
			sim_agents(&s, NULL, NULL, NULL);
	}
	assert_string_equal(sim_want_digest(&s, 1, 0), NEW);
	s.h[1].dead = true;
	sim_run(&s, false, NULL, NULL, 1000, 50);
	/*
	 * web-2 (out already) gets its old rows first; web-1 serves the new
	 * release and max_unavailable is 1: it waits for web-2, which is
	 * waited for until health_timeout and then named. web-1 was never
	 * taken out: it still serves (the new release), and says so.
	 */
	assert_string_equal(sim_state(&s), "failed");
	assert_non_null(strstr(sim_reason(&s), "host 'web-2' went offline (not seen for"));
	assert_non_null(strstr(sim_reason(&s), "rollback incomplete: host 'web-2' unreachable after 5s (not seen for"));
	assert_non_null(strstr(sim_reason(&s), "; not restored: 'web-1'"));
	assert_string_equal(sim_want_digest(&s, 1, 0), OLD);
	assert_string_equal(sim_want_digest(&s, 2, 0), OLD);
	assert_string_equal(sim_want_digest(&s, 0, 0), NEW);
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(json_object_get(sim_plan(&s), "hosts"), 0),
								 "message")),
			       "not restored"));
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(json_object_get(sim_plan(&s), "hosts"), 1), "phase")),
		"offline");
	sim_release(&s);
}

static void test_rolling_offline_before_batch(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 3, OLD);
	s.h[0].last_seen = 0; /* never reported */
	s.h[0].dead = true;
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	sim_run(&s, false, NULL, NULL, 100, 20);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_string_equal(sim_reason(&s), "host 'web-1' is offline (has never reported) at the start of batch 1 of 3");
	assert_int_equal(s.h[1].gen, 0); /* nobody was touched */
	sim_release(&s);
}

static void test_rolling_offline_host_counts_as_unavailable(void **state)
{
	struct sim s;
	int steps;

	(void)state;
	/* web-3 is down from the start: batch 1 (web-1) would make 2 hosts unavailable: fails at once. */
	sim_init(&s, 3, OLD);
	sim_offline(&s, 2);
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	steps = sim_run(&s, false, NULL, NULL, 1000, 50);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "cannot start batch 1 of 3: host 'web-3' (not seen for 1m"));
	assert_non_null(strstr(sim_reason(&s), ") is offline; counted as unavailable"));
	assert_non_null(strstr(sim_reason(&s), "would break max_unavailable 1"));
	assert_true(steps <= 3);
	assert_int_equal(s.h[0].gen, 0);
	sim_release(&s);

	/* With max_unavailable 2 the same fleet proceeds until web-3's own batch. */
	sim_init(&s, 3, OLD);
	sim_offline(&s, 2);
	sim_dep(&s, "rolling", "{\"max_unavailable\": 2}", NEW, OLD, NULL);
	sim_run(&s, false, NULL, NULL, 100, 50);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "host 'web-3' is offline (not seen for"));
	assert_back_to_old(&s, 2);
	sim_release(&s);
}

static void test_deadline(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 2, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, "{\"progress_deadline_ms\": 2000, \"health_timeout_ms\": 60000}");
	sim_run(&s, false, NEW, "starting", 300, 100);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_string_equal(sim_reason(&s), "progress deadline exceeded (2s)");
	assert_back_to_old(&s, 2);
	sim_release(&s);

	/* Each finished batch pushes the deadline out: 4 batches of ~1 s each beat a 2 s deadline. */
	sim_init(&s, 4, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, "{\"progress_deadline_ms\": 2000}");
	sim_run(&s, false, NULL, NULL, 400, 100);
	assert_string_equal(sim_state(&s), "succeeded");
	sim_release(&s);
}

/* Rolling, batch of one: web-1 has been told and has not answered yet; then the server is down for 30 s. */
static void sim_outage(struct sim *s)
{
	struct sw_step out;
	int i;

	sim_init(s, 3, OLD);
	s->live_since = s->now;
	sim_dep(s, "rolling", NULL, NEW, OLD, "{\"progress_deadline_ms\": 20000, \"health_timeout_ms\": 5000}");
	for (i = 0; i < 2; i++) {
		sim_step(s, false, &out);
		sw_step_release(&out);
		s->now += 100;
	}
	assert_string_equal(sim_want_digest(s, 0, 0), NEW);
	assert_int_equal(s->h[0].applied, 0);
	/* Down (or stopped) for 30 s: nobody reports; then the server is back. */
	s->now += 30000;
	s->live_since = s->now;
}

static void test_outage_grace(void **state)
{
	struct sw_step out;
	struct sim s;

	(void)state;
	/* Back after 30 s: no host is offline yet, no deadline has passed (health_timeout 5 s, progress 20 s). */
	sim_outage(&s);
	assert_int_equal(sim_step(&s, false, &out), -1);
	sw_step_release(&out);
	assert_string_equal(sim_state(&s), "progressing");
	assert_string_equal(sw_json_str(sim_plan(&s), "phase"), "rollout");
	s.now += 2500; /* still within the grace (heartbeat timeout 3 s) */
	assert_int_equal(sim_step(&s, false, &out), -1);
	sw_step_release(&out);
	assert_string_equal(sw_json_str(sim_plan(&s), "phase"), "rollout");
	/* The hosts report again: the rollout goes on to the end. */
	sim_agents(&s, NULL, NULL, NULL);
	sim_run(&s, false, NULL, NULL, 300, 100);
	assert_string_equal(sim_state(&s), "succeeded");
	sim_release(&s);

	/* The grace is bounded: a host still silent heartbeat_timeout after the server came back is offline. */
	sim_outage(&s);
	s.h[1].dead = true;
	s.h[2].dead = true;
	s.now += 1000;
	assert_int_equal(sim_step(&s, false, &out), -1);
	sw_step_release(&out);
	s.now += 1000;
	sim_agents(&s, NULL, NULL, NULL); /* web-1 answers: healthy, batch 1 done */
	sim_run(&s, false, NULL, NULL, 500, 100);
	/* web-2 was told: the rollback waits for it, and names it when it never comes back. */
	assert_string_equal(sim_state(&s), "failed");
	assert_non_null(strstr(sim_reason(&s), "host 'web-2' went offline (not seen for 3"));
	assert_non_null(strstr(sim_reason(&s), "rollback incomplete: host 'web-2' unreachable after 5s"));
	sim_release(&s);
}

/* The timers stand still while the server is down: a restore's wait is measured from its return too. */
static void test_outage_shifts_timers(void **state)
{
	struct sw_step out;
	struct sim s;
	int64_t deadline, started, outage;

	(void)state;
	sim_outage(&s);
	deadline = sw_dep_int(s.dep, "deadline_ms");
	started = sw_dep_int(sim_plan(&s), "batch_started_ms");
	/* From the last step before it to the return. */
	outage = s.live_since - sw_dep_int(sim_plan(&s), "stepped_ms");
	assert_int_equal(outage, 30100);
	sim_step(&s, false, &out);
	sw_step_release(&out);
	assert_int_equal(sw_dep_int(s.dep, "deadline_ms"), deadline + outage);
	assert_int_equal(sw_dep_int(sim_plan(&s), "batch_started_ms"), started + outage);
	/* Once only: the next step, with no new outage, moves nothing. */
	s.now += 100;
	sim_step(&s, false, &out);
	sw_step_release(&out);
	assert_int_equal(sw_dep_int(s.dep, "deadline_ms"), deadline + outage);
	/* A real timeout still fires, counted from the return: 5 s of "starting" after it. */
	sim_run(&s, false, NEW, "starting", 500, 100);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "not healthy after 5s"));
	sim_release(&s);
}

static void test_abort(void **state)
{
	struct sim s;
	struct sw_step out;
	int i;

	(void)state;
	sim_init(&s, 3, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	for (i = 0; i < 3; i++) {
		sim_step(&s, false, &out);
		sw_step_release(&out);
		s.now += 100;
	}
	json_object_set_new(sim_plan(&s), "abort", json_pack("{s:s, s:s}", "actor", "alice", "reason", "wrong build"));
	sim_agents(&s, NULL, NULL, NULL);
	sim_run(&s, false, NULL, NULL, 100, 50);
	assert_string_equal(sim_state(&s), "aborted");
	assert_string_equal(sim_reason(&s), "aborted by alice: wrong build");
	assert_back_to_old(&s, 3);
	sim_release(&s);

	/* Aborted before it started: nothing is touched. */
	sim_init(&s, 3, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	json_object_set_new(sim_plan(&s), "abort", json_pack("{s:s}", "actor", "bob"));
	assert_int_equal(sim_step(&s, false, &out), SW_DEP_ABORTED);
	sw_step_release(&out);
	assert_string_equal(sim_reason(&s), "aborted by bob");
	assert_int_equal(s.h[0].gen, 0);
	sim_release(&s);
}

static void test_first_deploy_fails(void **state)
{
	struct sim s;
	size_t i;

	(void)state;
	sim_init(&s, 2, NULL);
	sim_dep(&s, "rolling", "{\"max_unavailable\": 2, \"batch\": 2}", NEW, NULL, NULL);
	sim_run(&s, false, NEW, "failed", 100, 50);
	assert_string_equal(sim_state(&s), "failed");
	assert_non_null(strstr(sim_reason(&s), "host 'web-1' failed: boom"));
	for (i = 0; i < 2; i++) {
		assert_null(s.h[i].want[0]); /* stopped */
		assert_null(s.h[i].want[1]);
	}
	sim_release(&s);
}

static void test_stale_report_ignored(void **state)
{
	struct sim s;
	struct sw_step out;

	(void)state;
	sim_init(&s, 1, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	sim_step(&s, false, &out); /* progressing */
	sw_step_release(&out);
	sim_step(&s, false, &out); /* web-1 told: gen 1 */
	sw_step_release(&out);
	/* A report of the new digest "failed" from before this change (generation 0) does not count. */
	snprintf(s.h[0].digest[0], sizeof(s.h[0].digest[0]), "%s", NEW);
	snprintf(s.h[0].state[0], sizeof(s.h[0].state[0]), "failed");
	s.h[0].applied = 0;
	s.now += 100;
	s.h[0].last_seen = s.now;
	assert_int_equal(sim_step(&s, false, &out), -1);
	sw_step_release(&out);
	assert_string_equal(json_string_value(json_object_get(sim_plan(&s), "phase")), "rollout");
	/* Once the host has applied generation 1 its report counts. */
	s.h[0].applied = 1;
	snprintf(s.h[0].state[0], sizeof(s.h[0].state[0]), "healthy");
	sim_run(&s, false, NULL, NULL, 100, 10);
	assert_string_equal(sim_state(&s), "succeeded");
	sim_release(&s);
}

static void test_restore_incomplete(void **state)
{
	struct sim s;
	struct sw_step out;

	(void)state;
	/* The old release does not come back healthy either: failed, saying so. */
	sim_init(&s, 1, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	sim_run(&s, false, NEW, "failed", 100, 2);
	sim_step(&s, false, &out);
	sw_step_release(&out);
	assert_string_equal(json_string_value(json_object_get(sim_plan(&s), "phase")), "rollback");
	sim_run(&s, false, OLD, "unhealthy", 1000, 20);
	assert_string_equal(sim_state(&s), "failed");
	assert_non_null(strstr(sim_reason(&s), "host 'web-1' failed: boom; rollback incomplete: host 'web-1' not healthy"));
	sim_release(&s);
}

static void test_bad_record(void **state)
{
	struct sim s;
	struct sw_step out;
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	sim_init(&s, 1, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	json_object_set_new(s.dep, "state", json_string("bogus"));
	sw_step_init(&out);
	assert_int_equal(sw_deployment_step(s.dep, sim_obs(&s, false), &out, &err), -1);
	assert_non_null(strstr(err.msg, "unknown state 'bogus'"));
	json_object_set_new(s.dep, "state", json_string("progressing"));
	json_object_del(s.dep, "plan");
	assert_int_equal(sw_deployment_step(s.dep, sim_obs(&s, false), &out, &err), -1);
	assert_non_null(strstr(err.msg, "malformed"));
	sw_deployment_finish(s.dep, SW_DEP_FAILED, "cannot run", &out);
	assert_true(out.transition);
	assert_string_equal(sim_state(&s), "failed");
	sw_step_release(&out);
	sim_release(&s);
}

/* Manual control: pause stops the steps, resume goes on where it stopped, promote, refusals. */
static void test_pause_resume_promote(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sim s;
	struct sw_step out;
	char note[128];
	int64_t deadline, since;
	int i, gen0;

	(void)state;
	sim_init(&s, 4, OLD);
	sim_dep(&s, "rolling", "{\"batch\": 1, \"max_unavailable\": 1}", NEW, OLD, NULL);
	for (i = 0; i < 3; i++) {
		sim_step(&s, false, &out);
		sw_step_release(&out);
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_string_equal(sim_state(&s), "progressing");
	assert_int_equal(sw_dep_pause(s.dep, "alice", "looking at graphs", s.now, note, sizeof(note), &err), 1);
	assert_string_equal(sim_state(&s), "paused");
	assert_string_equal(note, "paused");
	assert_true(sw_dep_transition_ok(SW_DEP_PROGRESSING, SW_DEP_PAUSED));
	assert_true(sw_dep_transition_ok(SW_DEP_PAUSED, SW_DEP_PROGRESSING));
	assert_false(sw_dep_transition_ok(SW_DEP_SUCCEEDED, SW_DEP_PAUSED));
	/* Idempotent. */
	assert_int_equal(sw_dep_pause(s.dep, "bob", NULL, s.now, note, sizeof(note), &err), 0);
	assert_string_equal(note, "already paused");
	/* Paused: many steps later nothing was written, nothing moved. */
	gen0 = (int)s.h[1].gen + (int)s.h[2].gen + (int)s.h[3].gen;
	deadline = sw_dep_int(s.dep, "deadline_ms");
	since = sw_dep_int(sim_plan(&s), "batch_started_ms");
	for (i = 0; i < 50; i++) {
		assert_int_equal(sim_step(&s, false, &out), -1);
		assert_int_equal(json_array_size(out.desired), 0);
		sw_step_release(&out);
		s.now += 1000;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_string_equal(sim_state(&s), "paused");
	assert_int_equal((int)s.h[1].gen + (int)s.h[2].gen + (int)s.h[3].gen, gen0);
	assert_string_equal(sim_want_digest(&s, 3, 0), OLD);
	/* Resume: timers pushed out by the 50 s paused, back to progressing, then it finishes. */
	assert_int_equal(sw_dep_resume(s.dep, s.now, note, sizeof(note), &err), 1);
	assert_string_equal(sim_state(&s), "progressing");
	assert_int_equal(sw_dep_int(s.dep, "deadline_ms"), deadline + 50000);
	if (since)
		assert_int_equal(sw_dep_int(sim_plan(&s), "batch_started_ms"), since + 50000);
	assert_null(json_object_get(sim_plan(&s), "pause"));
	assert_int_equal(sw_dep_resume(s.dep, s.now, note, sizeof(note), &err), 0);
	assert_string_equal(note, "not paused (progressing)");
	/* Promote on a rolling deployment: recorded, then used up by the next step (nothing waits). */
	assert_int_equal(sw_dep_promote(s.dep, "alice", s.now, note, sizeof(note), &err), 1);
	assert_int_equal(sw_dep_promote(s.dep, "alice", s.now, note, sizeof(note), &err), 0);
	assert_string_equal(note, "already promoted");
	sim_step(&s, false, &out);
	sw_step_release(&out);
	assert_null(json_object_get(sim_plan(&s), "promote"));
	sim_agents(&s, NULL, NULL, NULL);
	sim_run(&s, false, NULL, NULL, 100, 200);
	assert_string_equal(sim_state(&s), "succeeded");
	/* Ended: every verb refused with the reason. */
	assert_int_equal(sw_dep_pause(s.dep, "alice", NULL, s.now, note, sizeof(note), &err), -1);
	assert_int_equal(err.code, SW_EBUSY);
	assert_string_equal(err.msg, "dep-1 has ended (succeeded); nothing to pause");
	assert_int_equal(sw_dep_resume(s.dep, s.now, note, sizeof(note), &err), -1);
	assert_string_equal(err.msg, "dep-1 has ended (succeeded); nothing to resume");
	assert_int_equal(sw_dep_promote(s.dep, "alice", s.now, note, sizeof(note), &err), -1);
	assert_string_equal(err.msg, "dep-1 has ended (succeeded); nothing to promote");
	sim_release(&s);

	/* Rolling back: pause refused (the stable release must come back). */
	sim_init(&s, 2, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	sim_step(&s, false, &out);
	sw_step_release(&out);
	sim_step(&s, false, &out); /* web-1 told: there is something to restore */
	sw_step_release(&out);
	json_object_set_new(sim_plan(&s), "abort", json_pack("{s:s}", "actor", "bob"));
	sim_step(&s, false, &out);
	sw_step_release(&out);
	assert_int_equal(sw_dep_pause(s.dep, "alice", NULL, s.now, note, sizeof(note), &err), -1);
	assert_string_equal(err.msg, "dep-1 is rolling back; nothing to pause");
	sim_release(&s);

	/* Paused while pending: resume goes back to pending, which then starts. */
	sim_init(&s, 2, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	assert_int_equal(sw_dep_pause(s.dep, "alice", NULL, s.now, note, sizeof(note), &err), 1);
	assert_int_equal(sim_step(&s, false, &out), -1);
	sw_step_release(&out);
	assert_int_equal(sw_dep_promote(s.dep, "alice", s.now, note, sizeof(note), &err), 1);
	assert_string_equal(sim_state(&s), "pending");
	assert_int_equal(sim_step(&s, false, &out), SW_DEP_PROGRESSING);
	sw_step_release(&out);
	sim_release(&s);
}

/* Who rolled a deployment back, for history and the event log: the controller, with its cause. */
/*
 * A pause recorded while a controller step ran (the step read the record
 * before it): the commit keeps the step's own changes, but the pause's
 * state, reason and step line win. Before sw_dep_merge_concurrent took
 * them, the reason the step read ("") was written over "looking at graphs".
 */
static void test_pause_during_a_step(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sim s;
	struct sw_step out;
	char note[128];
	json_t *stepped, *aborted;
	int i;

	(void)state;
	sim_init(&s, 4, OLD);
	sim_dep(&s, "rolling", "{\"batch\": 1, \"max_unavailable\": 1}", NEW, OLD, NULL);
	for (i = 0; i < 2; i++) {
		sim_step(&s, false, &out);
		sw_step_release(&out);
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_string_equal(sim_state(&s), "progressing");
	/* The step's copy, read before the pause and changed by the step. */
	stepped = json_deep_copy(s.dep);
	json_object_set_new(stepped, "_read_state", json_string("progressing"));
	sw_dep_set_step(stepped, "batch 2 of 4: updating 1 host");
	json_object_set_new(sw_dep_plan(stepped), "batch_started_ms", json_integer(4242));
	/* Meanwhile the store got the pause. */
	assert_int_equal(sw_dep_pause(s.dep, "alice", "looking at graphs", s.now, note, sizeof(note), &err), 1);
	sw_dep_merge_concurrent(stepped, s.dep, false);
	assert_string_equal(sw_json_str(stepped, "state"), "paused");
	assert_string_equal(sw_json_str(stepped, "reason"), "looking at graphs");
	assert_string_equal(sw_json_str(sw_dep_plan(stepped), "step"), "paused: looking at graphs");
	assert_non_null(json_object_get(sw_dep_plan(stepped), "pause"));
	assert_null(json_object_get(stepped, "_read_state"));
	/* The step's own change stays. */
	assert_int_equal(sw_dep_int(sw_dep_plan(stepped), "batch_started_ms"), 4242);
	json_decref(stepped);

	/* A step that ended the deployment keeps its end; an abort asked meanwhile is carried over. */
	stepped = json_deep_copy(s.dep);
	json_object_set_new(stepped, "_read_state", json_string("paused"));
	json_object_set_new(stepped, "state", json_string("failed"));
	json_object_set_new(stepped, "reason", json_string("host web-2 failed"));
	aborted = json_deep_copy(s.dep);
	json_object_set_new(sw_dep_plan(aborted), "abort", json_pack("{s:s, s:b}", "actor", "bob", "emergency", 1));
	json_object_set_new(aborted, "state", json_string("progressing"));
	sw_dep_merge_concurrent(stepped, aborted, true);
	assert_string_equal(sw_json_str(stepped, "state"), "failed");
	assert_string_equal(sw_json_str(stepped, "reason"), "host web-2 failed");
	assert_string_equal(sw_json_str(json_object_get(sw_dep_plan(stepped), "abort"), "actor"), "bob");
	json_decref(stepped);
	json_decref(aborted);
	sim_release(&s);
}

static void test_rollback_actor(void **state)
{
	static const char *const cases[][2] = {
		{ "step 2: analysis 'errors' failed: error_rate 0.5 (> 0.1) at 12:00", "slipway (analysis errors)" },
		{ "background analysis 'latency' failed: p90 0.4", "slipway (analysis latency)" },
		{ "host 'web-2' unhealthy: health check failed 2 times", "slipway (health)" },
		{ "host 'web-1' not healthy after 5s (starting)", "slipway (health)" },
		{ "host 'web-1' crash loop: process exit 1", "slipway (health)" },
		{ "host 'web-3' went offline (seen 4s ago)", "slipway (host offline)" },
		{ "progress deadline exceeded (4s)", "slipway (progress deadline)" },
		{ "smoke test failed: exit 1", "slipway (smoke test)" },
		{ "cannot drain server 'web-1-a' of backend 'hello': timeout", "slipway (traffic)" },
		{ "host 'web-1' refused: signature", "slipway (host failed)" },
		{ "something else", "slipway" },
	};
	char out[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sw_dep_rollback_actor(cases[i][0], out, sizeof(out));
		assert_string_equal(out, cases[i][1]);
	}
	sw_dep_rollback_actor(NULL, out, sizeof(out));
	assert_string_equal(out, "slipway");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transitions),
		cmocka_unit_test(test_pending_starts),
		cmocka_unit_test(test_rolling_success),
		cmocka_unit_test(test_rolling_current_slot),
		cmocka_unit_test(test_rolling_failed_host),
		cmocka_unit_test(test_rolling_unhealthy_timeout),
		cmocka_unit_test(test_rolling_offline),
		cmocka_unit_test(test_rolling_offline_before_batch),
		cmocka_unit_test(test_rolling_offline_host_counts_as_unavailable),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_outage_grace),
		cmocka_unit_test(test_outage_shifts_timers),
		cmocka_unit_test(test_abort),
		cmocka_unit_test(test_first_deploy_fails),
		cmocka_unit_test(test_stale_report_ignored),
		cmocka_unit_test(test_restore_incomplete),
		cmocka_unit_test(test_bad_record),
		cmocka_unit_test(test_pause_resume_promote),
		cmocka_unit_test(test_pause_during_a_step),
		cmocka_unit_test(test_rollback_actor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
