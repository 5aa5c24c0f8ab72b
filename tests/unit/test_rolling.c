/*
 * test_rolling.c - unit tests for the rolling strategy with a load balancer
 * (rollout/rolling.c, and its part of the rollback in rollout/deployment.c)
 * over the simulated fleet and fake balancer of rollout_sim.h: each host is
 * drained, put in maint and only then updated, and back to ready only once
 * it reports the new release healthy and the balancer sees it up; sessions
 * bound the drain by SW_ROLLING_DRAIN_MS; a rollback puts hosts back in
 * rotation only when they run the previous release healthy, and leaves
 * one that never does in maint; balancer errors fail the batch with their
 * words and roll back. Also: the env JSON keeps the rolling strategy's
 * traffic settings, and without them the balancer is never called.
 * (The rolling strategy without a balancer: test_deployment.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rollout/rolling.h"
#include "rollout/runjson.h"
#include "rollout_sim.h"
#include "spec/spec.h"

#include <stdlib.h>

#define OLD "sha256:old"
#define NEW "sha256:new"
#define LB_ENV "{\"traffic\": {\"haproxy\": {\"socket\": \"/run/haproxy.sock\", \"backend\": \"hello\"}}}"

static const char *host_phase(const struct sim *s, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(sim_plan(s), "hosts"), i), "phase"));
}

static const char *host_message(const struct sim *s, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(sim_plan(s), "hosts"), i), "message"));
}

static struct sim_server *server(struct sim *s, const char *name)
{
	struct sim_server *sv = sim_srv(&s->lb, name);

	assert_non_null(sv);
	return sv;
}

/* Position of needle in the balancer's log; fails if absent. */
static size_t log_at(const struct sim *s, const char *needle)
{
	const char *p = strstr(s->lb.log, needle);

	if (!p)
		fail_msg("'%s' not in the log: %s", needle, s->lb.log);
	return (size_t)(p - s->lb.log);
}

static void step(struct sim *s)
{
	struct sw_step out;

	sim_step(s, true, &out);
	sw_step_release(&out);
}

/* Every host whose desired row holds bad_digest has its server in maint: nothing can reach it. */
static void assert_bad_out_of_rotation(struct sim *s, const char *bad_digest)
{
	char name[40];
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (!sim_want_digest(s, i, 0) || strcmp(sim_want_digest(s, i, 0), bad_digest))
			continue;
		snprintf(name, sizeof(name), "%s-a", s->h[i].name);
		if (server(s, name)->state != SW_TRAFFIC_MAINT)
			fail_msg("server '%s' is %s while its host should run %s", name,
				 sw_traffic_state_name(server(s, name)->state), bad_digest);
	}
}

static void test_drain_maint_update_ready(void **state)
{
	struct sim s;
	char *text;
	int i;

	(void)state;
	sim_init(&s, 2, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, LB_ENV);
	server(&s, "web-1-a")->scur = 2;
	step(&s); /* pending -> progressing */
	step(&s); /* batch 1: web-1 drains */
	assert_string_equal(host_phase(&s, 0), "draining");
	assert_int_equal(server(&s, "web-1-a")->state, SW_TRAFFIC_DRAIN);
	assert_int_equal(server(&s, "web-2-a")->state, SW_TRAFFIC_READY);
	assert_string_equal(s.lb.log, "web-1-a:drain ");
	/* Sessions left: no row yet, however often it is asked. */
	s.now += 1000;
	step(&s);
	assert_string_equal(host_phase(&s, 0), "draining");
	assert_string_equal(host_message(&s, 0), "2 sessions left");
	assert_int_equal(s.h[0].gen, 0);
	assert_string_equal(sim_want_digest(&s, 0, 0), OLD);
	/* A restarted server continues from the stored plan. */
	text = json_dumps(s.dep, 0);
	json_decref(s.dep);
	s.dep = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(s.dep);
	/* Sessions done: maint, then the row. */
	server(&s, "web-1-a")->scur = 0;
	s.now += 100;
	step(&s);
	assert_string_equal(host_phase(&s, 0), "updating");
	assert_int_equal(server(&s, "web-1-a")->state, SW_TRAFFIC_MAINT);
	assert_string_equal(sim_want_digest(&s, 0, 0), NEW);
	assert_true(log_at(&s, "web-1-a:maint") < log_at(&s, "web-1:row(" NEW ")"));
	/* Healthy on the host, but the balancer's checks do not see it up yet: not done. */
	s.now += 100;
	sim_agents(&s, NULL, NULL, NULL);
	server(&s, "web-1-a")->health = SW_TRAFFIC_HEALTH_DOWN;
	step(&s);
	assert_string_equal(host_phase(&s, 0), "updating");
	assert_int_equal(server(&s, "web-1-a")->state, SW_TRAFFIC_READY);
	assert_non_null(strstr(host_message(&s, 0), "waiting for the balancer to see server 'web-1-a' up (down)"));
	assert_int_equal(json_integer_value(json_object_get(sim_plan(&s), "batch")), 0);
	assert_int_equal(server(&s, "web-2-a")->state, SW_TRAFFIC_READY); /* batch 2 not started */
	/* Up: web-1 is done, and batch 2 drains web-2 (whose sessions never end: 5 s at most). */
	server(&s, "web-1-a")->health = SW_TRAFFIC_HEALTH_UP;
	server(&s, "web-2-a")->scur = 3;
	step(&s);
	assert_string_equal(host_phase(&s, 0), "healthy");
	assert_int_equal(json_integer_value(json_object_get(sim_plan(&s), "batch")), 1);
	step(&s);
	assert_string_equal(host_phase(&s, 1), "draining");
	assert_true(log_at(&s, "web-1:row(" NEW ")") < log_at(&s, "web-1-a:ready"));
	assert_true(log_at(&s, "web-1-a:ready") < log_at(&s, "web-2-a:drain"));
	for (i = 0; i < 4; i++) {
		s.now += 1000;
		sim_agents(&s, NULL, NULL, NULL);
		step(&s);
		assert_string_equal(host_phase(&s, 1), "draining");
		assert_string_equal(sim_want_digest(&s, 1, 0), OLD);
	}
	s.now += 1001;
	sim_agents(&s, NULL, NULL, NULL);
	step(&s);
	assert_string_equal(host_phase(&s, 1), "updating");
	assert_int_equal(server(&s, "web-2-a")->state, SW_TRAFFIC_MAINT);
	assert_string_equal(sim_want_digest(&s, 1, 0), NEW);
	sim_run(&s, true, NULL, NULL, 100, 20);
	if (strcmp(sim_state(&s), "succeeded"))
		fail_msg("%s: %s", sim_state(&s), sim_reason(&s));
	assert_int_equal(server(&s, "web-1-a")->state, SW_TRAFFIC_READY);
	assert_int_equal(server(&s, "web-2-a")->state, SW_TRAFFIC_READY);
	assert_int_equal(server(&s, "web-1-b")->state, SW_TRAFFIC_MAINT); /* the other slot is left alone */
	assert_true(sim_want_active(&s, 0, 0) && sim_want_active(&s, 1, 0));
	assert_true(log_at(&s, "web-2-a:maint") < log_at(&s, "web-2:row(" NEW ")"));
	assert_true(log_at(&s, "web-2:row(" NEW ")") < log_at(&s, "web-2-a:ready"));
	sim_release(&s);
}

static void test_without_traffic_no_balancer_calls(void **state)
{
	struct sim s;

	(void)state;
	/* The controller hands in a balancer; the env has no traffic: it is not used. */
	sim_init(&s, 3, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, NULL);
	sim_run(&s, true, NULL, NULL, 100, 50);
	assert_string_equal(sim_state(&s), "succeeded");
	assert_int_equal(s.lb.calls, 0);
	assert_null(sw_rolling_traffic(s.dep, &s.obs));
	sim_release(&s);
}

static void test_unhealthy_release_never_in_rotation(void **state)
{
	struct sim s;
	int i;

	(void)state;
	sim_init(&s, 4, OLD);
	sim_dep(&s, "rolling", "{\"batch\": 2, \"max_unavailable\": 2}", NEW, OLD, LB_ENV);
	for (i = 0; i < 100; i++) {
		step(&s);
		assert_bad_out_of_rotation(&s, NEW);
		if (strcmp(sim_state(&s), "progressing") && strcmp(sim_state(&s), "pending"))
			break;
		s.now += 250;
		sim_agents(&s, NEW, "unhealthy", "GET /healthz: HTTP 503");
		assert_bad_out_of_rotation(&s, NEW);
	}
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "host 'web-1' not healthy after 5s (unhealthy: GET /healthz: HTTP 503)"));
	/* Never ready while it ran the new release: ready comes after the old row is back. */
	assert_true(log_at(&s, "web-1:row(" OLD ")") < log_at(&s, "web-1-a:ready"));
	assert_true(log_at(&s, "web-2:row(" OLD ")") < log_at(&s, "web-2-a:ready"));
	for (i = 0; i < 4; i++) {
		char name[16];

		snprintf(name, sizeof(name), "web-%d-a", i + 1);
		assert_int_equal(server(&s, name)->state, SW_TRAFFIC_READY);
		assert_string_equal(sim_want_digest(&s, (size_t)i, 0), OLD);
	}
	/* Batch 2 was never drained. */
	assert_null(strstr(s.lb.log, "web-3-a:drain"));
	sim_release(&s);
}

static void test_rollback_keeps_unhealthy_host_in_maint(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 2, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, LB_ENV);
	sim_run(&s, true, NEW, "failed", 100, 3);
	step(&s);
	assert_string_equal(sim_state(&s), "progressing");
	assert_string_equal(json_string_value(json_object_get(sim_plan(&s), "phase")), "rollback");
	assert_int_equal(server(&s, "web-1-a")->state, SW_TRAFFIC_MAINT);
	/* The previous release does not come back healthy either. */
	sim_run(&s, true, OLD, "unhealthy", 1000, 20);
	assert_string_equal(sim_state(&s), "failed");
	assert_non_null(strstr(sim_reason(&s), "host 'web-1' failed: boom; rollback incomplete: host 'web-1' not healthy"));
	assert_int_equal(server(&s, "web-1-a")->state, SW_TRAFFIC_MAINT);
	assert_null(strstr(s.lb.log, "web-1-a:ready"));
	assert_string_equal(host_phase(&s, 0), "failed");
	assert_non_null(strstr(host_message(&s, 0), "left in maint: unhealthy: boom"));
	/* web-2 was never touched: in rotation throughout. */
	assert_int_equal(server(&s, "web-2-a")->state, SW_TRAFFIC_READY);
	assert_null(strstr(s.lb.log, "web-2-a:"));
	sim_release(&s);
}

static void test_rollback_drains_updated_hosts(void **state)
{
	struct sim s;
	int i;

	(void)state;
	sim_init(&s, 2, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, LB_ENV);
	/* web-1 updated and back in rotation; web-2 updating. */
	for (i = 0; i < 20 && !(host_phase(&s, 1) && !strcmp(host_phase(&s, 1), "updating")); i++) {
		step(&s);
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_string_equal(host_phase(&s, 0), "healthy");
	assert_string_equal(host_phase(&s, 1), "updating");
	assert_int_equal(server(&s, "web-1-a")->state, SW_TRAFFIC_READY);
	/*
	 * web-2 fails. max_unavailable is 1 and web-2 is already out: it is
	 * restored first, while web-1 (new release, in rotation) keeps serving.
	 */
	snprintf(s.h[1].state[0], sizeof(s.h[1].state[0]), "failed");
	server(&s, "web-1-a")->scur = 1;
	step(&s);
	assert_string_equal(json_string_value(json_object_get(sim_plan(&s), "phase")), "rollback");
	assert_string_equal(host_phase(&s, 0), "queued");
	for (i = 0; i < 10 && strcmp(sim_want_digest(&s, 1, 0), OLD); i++)
		step(&s);
	assert_string_equal(sim_want_digest(&s, 1, 0), OLD);
	assert_string_equal(sim_want_digest(&s, 0, 0), NEW);
	assert_int_equal(server(&s, "web-1-a")->state, SW_TRAFFIC_READY);
	/* web-2 back and in rotation: now web-1 drains (one session open) before its row goes back. */
	for (i = 0; i < 10 && server(&s, "web-1-a")->state != SW_TRAFFIC_DRAIN; i++) {
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
		step(&s);
	}
	assert_int_equal(server(&s, "web-1-a")->state, SW_TRAFFIC_DRAIN);
	assert_int_equal(server(&s, "web-2-a")->state, SW_TRAFFIC_READY);
	assert_string_equal(host_phase(&s, 1), "restored");
	assert_string_equal(sim_want_digest(&s, 0, 0), NEW);
	assert_non_null(strstr(json_string_value(json_object_get(sim_plan(&s), "step")), "draining"));
	server(&s, "web-1-a")->scur = 0;
	s.now += 100;
	step(&s);
	assert_int_equal(server(&s, "web-1-a")->state, SW_TRAFFIC_MAINT);
	assert_string_equal(sim_want_digest(&s, 0, 0), OLD);
	assert_true(log_at(&s, "web-1-a:maint") < log_at(&s, "web-1:row(" OLD ")"));
	sim_run(&s, true, NULL, NULL, 100, 20);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_int_equal(server(&s, "web-1-a")->state, SW_TRAFFIC_READY);
	assert_int_equal(server(&s, "web-2-a")->state, SW_TRAFFIC_READY);
	assert_true(log_at(&s, "web-2:row(" OLD ")") < log_at(&s, "web-2-a:ready"));
	sim_release(&s);
}

static void test_balancer_errors_roll_back(void **state)
{
	struct sim s;
	int i;

	(void)state;
	/* Unknown server: nothing is told, the stable release keeps serving. */
	sim_init(&s, 2, OLD);
	snprintf(server(&s, "web-1-a")->name, sizeof(s.lb.srv[0].name), "other-a");
	sim_dep(&s, "rolling", NULL, NEW, OLD, LB_ENV);
	sim_run(&s, true, NULL, NULL, 100, 20);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "cannot drain server 'web-1-a' of backend 'hello': no such server 'web-1-a'"));
	assert_int_equal(s.h[0].gen, 0);
	assert_int_equal(s.h[1].gen, 0);
	assert_string_equal(sim_want_digest(&s, 0, 0), OLD);
	sim_release(&s);

	/* The socket is gone. */
	sim_init(&s, 2, OLD);
	s.lb.down = true;
	sim_dep(&s, "rolling", NULL, NEW, OLD, LB_ENV);
	sim_run(&s, true, NULL, NULL, 100, 20);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "cannot drain server 'web-1-a' of backend 'hello': cannot connect to haproxy"));
	assert_int_equal(s.h[0].gen, 0);
	sim_release(&s);

	/* Gone while web-1 drains: it is not updated, and its server is put back (or said to be left). */
	sim_init(&s, 2, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, LB_ENV);
	server(&s, "web-1-a")->scur = 1;
	step(&s);
	step(&s);
	assert_string_equal(host_phase(&s, 0), "draining");
	s.lb.down = true;
	sim_run(&s, true, NULL, NULL, 100, 20);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "cannot read the sessions of backend 'hello': cannot connect to haproxy"));
	assert_int_equal(s.h[0].gen, 0);
	assert_string_equal(host_phase(&s, 0), "waiting");
	assert_non_null(strstr(host_message(&s, 0), "left draining: cannot connect"));
	sim_release(&s);

	/* Refused when it should take the updated host back: rolled back, back in rotation on the old release. */
	sim_init(&s, 2, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, LB_ENV);
	snprintf(s.lb.refuse_state, sizeof(s.lb.refuse_state), "web-1-a");
	s.lb.refuse_maint_only = false;
	sim_run(&s, true, NULL, NULL, 100, 20);
	assert_int_equal(server(&s, "web-1-a")->state, SW_TRAFFIC_READY);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_non_null(strstr(sim_reason(&s), "cannot drain server 'web-1-a' of backend 'hello': haproxy refused"));
	sim_release(&s);

	sim_init(&s, 2, OLD);
	sim_dep(&s, "rolling", NULL, NEW, OLD, LB_ENV);
	step(&s);
	step(&s);
	step(&s);
	assert_string_equal(host_phase(&s, 0), "updating");
	s.now += 100;
	sim_agents(&s, NULL, NULL, NULL);
	snprintf(s.lb.refuse_state, sizeof(s.lb.refuse_state), "web-1-a");
	step(&s);
	assert_string_equal(json_string_value(json_object_get(sim_plan(&s), "phase")), "rollback");
	assert_non_null(strstr(sim_reason(&s), "cannot put server 'web-1-a' of backend 'hello' back in rotation: haproxy refused"));
	assert_int_equal(server(&s, "web-1-a")->state, SW_TRAFFIC_MAINT);
	/* Still refused once the old release is healthy: the rollback waits, saying why. */
	for (i = 0; i < 5 && !strstr(json_string_value(json_object_get(sim_plan(&s), "step")),
				     "waiting for host 'web-1': cannot put server 'web-1-a' of backend 'hello' back in rotation");
	     i++) {
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
		step(&s);
	}
	assert_string_equal(sim_want_digest(&s, 0, 0), OLD);
	assert_string_equal(sim_state(&s), "progressing");
	assert_non_null(strstr(json_string_value(json_object_get(sim_plan(&s), "step")), "back in rotation"));
	s.lb.refuse_state[0] = '\0';
	sim_run(&s, true, NULL, NULL, 100, 20);
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_int_equal(server(&s, "web-1-a")->state, SW_TRAFFIC_READY);
	assert_string_equal(sim_want_digest(&s, 0, 0), OLD);
	sim_release(&s);
}

/* Hosts that serve now: online, fresh report, their active row's digest healthy (and, with a balancer, ready). */
static size_t serving(struct sim *s, bool with_lb)
{
	char name[40];
	size_t i, n = 0;
	int k;

	for (i = 0; i < s->n; i++) {
		struct sim_host *h = &s->h[i];

		if (h->dead || h->applied < h->gen)
			continue;
		for (k = 0; k < 2; k++) {
			if (!h->want[k] || !json_is_true(json_object_get(h->want[k], "active")))
				continue;
			snprintf(name, sizeof(name), "%s-%c", h->name, 'a' + k);
			if (!strcmp(h->digest[k], json_string_value(json_object_get(h->want[k], "digest"))) &&
			    !strcmp(h->state[k], "healthy") && (!with_lb || server(s, name)->state == SW_TRAFFIC_READY))
				n++;
		}
	}
	return n;
}

/* "web-4|web-1|..." from the rollback batch events (deployment.rollback_batch) of a step. */
static void rollback_batches(const struct sw_step *out, char *acc, size_t size, bool *emergency)
{
	json_t *ev, *p, *h;
	size_t i, j, len;

	json_array_foreach(out->events, i, ev) {
		p = json_object_get(ev, "payload");
		if (strcmp(json_string_value(json_object_get(ev, "kind")), "deployment.rollback_batch"))
			continue;
		*emergency = json_is_true(json_object_get(p, "emergency"));
		len = strlen(acc);
		snprintf(acc + len, size - len, "%s", len ? "|" : "");
		json_array_foreach(json_object_get(p, "hosts"), j, h) {
			len = strlen(acc);
			snprintf(acc + len, size - len, "%s%s", j ? "," : "", json_string_value(h));
		}
	}
}

/*
 * 4 hosts, min_healthy 3: the deployment updates web-1..3, then web-4
 * fails. The rollback restores web-4 first (it serves nothing: no
 * capacity lost), then one host at a time: never fewer than 3 serving,
 * with or without a balancer. An emergency (abort --emergency or a
 * `rollback --emergency` deployment) restores every host at once.
 */
static void run_min_healthy(bool with_lb, int emergency, const char *want_batches)
{
	struct sim s;
	struct sw_step out;
	char batches[256] = "";
	bool em = false;
	size_t low = 99, n;
	int i;

	sim_init(&s, 4, OLD);
	sim_dep(&s, "rolling", "{\"batch\": 1, \"max_unavailable\": 1, \"min_healthy\": 3}", NEW, OLD,
		with_lb ? LB_ENV : NULL);
	if (emergency == 2)
		json_object_set_new(json_object_get(s.dep, "spec"), "emergency", json_true());
	for (i = 0; i < 100 && !(s.h[3].want[0] && !strcmp(sim_want_digest(&s, 3, 0), NEW)); i++) {
		sim_step(&s, with_lb, &out);
		sw_step_release(&out);
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_string_equal(sim_want_digest(&s, 3, 0), NEW);
	for (i = 0; i < 3; i++)
		assert_string_equal(sim_want_digest(&s, (size_t)i, 0), NEW);
	/* web-4's new release fails. */
	sim_agents(&s, NEW, "healthy", "");
	snprintf(s.h[3].state[0], sizeof(s.h[3].state[0]), "failed");
	if (emergency == 1)
		json_object_set_new(sim_plan(&s), "abort", json_pack("{s:s, s:b}", "actor", "bob", "emergency", 1));
	for (i = 0; i < 100; i++) {
		sim_step(&s, with_lb, &out);
		rollback_batches(&out, batches, sizeof(batches), &em);
		sw_step_release(&out);
		/* Counted right after the step, before any agent answers: what the step took out is out. */
		n = serving(&s, with_lb);
		if (n < low && strcmp(sw_json_str(sim_plan(&s), "phase"), "rollout"))
			low = n;
		if (strcmp(sim_state(&s), "progressing"))
			break;
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_string_equal(sim_state(&s), emergency == 1 ? "aborted" : "rolled_back");
	for (i = 0; i < 4; i++)
		assert_string_equal(sim_want_digest(&s, (size_t)i, 0), OLD);
	assert_string_equal(batches, want_batches);
	assert_int_equal(em, emergency != 0);
	if (emergency)
		assert_true(low <= 1);
	else
		assert_int_equal(low, 3);
	sim_release(&s);
}

static void test_rollback_keeps_min_healthy(void **state)
{
	(void)state;
	run_min_healthy(false, 0, "web-4|web-1|web-2|web-3");
	run_min_healthy(true, 0, "web-4|web-1|web-2|web-3");
	run_min_healthy(false, 1, "web-1,web-2,web-3,web-4");
	run_min_healthy(true, 1, "web-1,web-2,web-3,web-4");
	run_min_healthy(false, 2, "web-1,web-2,web-3,web-4");
}

/*
 * With a balancer, a host the rollout never put back in rotation serves
 * nobody, however healthy its report: here web-4 runs the new release
 * healthy but HAProxy refused to take it back. The rollback restores it
 * first (no capacity lost) and only then the hosts in rotation, one by one.
 */
static void test_rollback_host_out_of_rotation_goes_first(void **state)
{
	struct sim s;
	struct sw_step out;
	char batches[256] = "";
	bool em = false;
	size_t low = 99, n;
	int i;

	(void)state;
	sim_init(&s, 4, OLD);
	sim_dep(&s, "rolling", "{\"batch\": 1, \"max_unavailable\": 1, \"min_healthy\": 3}", NEW, OLD, LB_ENV);
	for (i = 0; i < 100 && strcmp(sw_json_str(sim_plan(&s), "phase"), "rollback"); i++) {
		if (s.h[3].want[0] && !strcmp(sim_want_digest(&s, 3, 0), NEW))
			snprintf(s.lb.refuse_state, sizeof(s.lb.refuse_state), "web-4-a");
		sim_step(&s, true, &out);
		rollback_batches(&out, batches, sizeof(batches), &em);
		sw_step_release(&out);
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_non_null(strstr(sim_reason(&s), "cannot put server 'web-4-a' of backend 'hello' back in rotation"));
	assert_string_equal(s.h[3].state[0], "healthy"); /* its report says healthy: it is out all the same */
	s.lb.refuse_state[0] = '\0';
	for (i = 0; i < 100 && !strcmp(sim_state(&s), "progressing"); i++) {
		sim_step(&s, true, &out);
		rollback_batches(&out, batches, sizeof(batches), &em);
		sw_step_release(&out);
		n = serving(&s, true);
		if (n < low)
			low = n;
		s.now += 100;
		sim_agents(&s, NULL, NULL, NULL);
	}
	assert_string_equal(sim_state(&s), "rolled_back");
	assert_string_equal(batches, "web-4|web-1|web-2|web-3");
	assert_int_equal(low, 3);
	sim_release(&s);
}

/*
 * "rolled_back" only once every touched host reports its previous release
 * healthy: hosts silent after the rows went back (a server restart, an
 * agent stopped) are waited for, and named when the wait ends.
 */
static void test_rollback_waits_for_every_host(void **state)
{
	struct sim s;
	struct sw_step out;
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		sim_init(&s, 4, OLD);
		sim_dep(&s, "rolling", "{\"batch\": 4, \"max_unavailable\": 4}", NEW, OLD, NULL);
		sim_run(&s, false, NEW, "failed", 100, 2); /* started, every host told, every host failed */
		assert_string_equal(sim_want_digest(&s, 3, 0), NEW);
		sim_step(&s, false, &out);
		sw_step_release(&out);
		assert_string_equal(sw_json_str(sim_plan(&s), "phase"), "rollback");
		assert_string_equal(sim_want_digest(&s, 0, 0), OLD);
		assert_string_equal(sim_want_digest(&s, 3, 0), OLD);
		/* Nobody reports for 4 s (heartbeat timeout 3 s): every host looks offline. */
		s.now += 4000;
		assert_int_equal(sim_step(&s, false, &out), -1);
		sw_step_release(&out);
		assert_string_equal(sim_state(&s), "progressing");
		/* Three come back on the old release; web-4 does not. */
		s.h[3].dead = true;
		sim_agents(&s, NULL, NULL, NULL);
		assert_int_equal(sim_step(&s, false, &out), -1);
		sw_step_release(&out);
		assert_string_equal(sim_state(&s), "progressing");
		assert_non_null(strstr(sw_json_str(sim_plan(&s), "step"), "waiting for host 'web-4'"));
		if (i == 0) {
			/* It reports in time: only now rolled back. */
			s.h[3].dead = false;
			s.now += 500;
			sim_agents(&s, NULL, NULL, NULL);
			assert_int_equal(sim_step(&s, false, &out), SW_DEP_ROLLED_BACK);
			sw_step_release(&out);
		} else {
			/* It never does: failed after health_timeout (5 s), naming it. */
			sim_run(&s, false, NULL, NULL, 500, 30);
			assert_string_equal(sim_state(&s), "failed");
			assert_non_null(strstr(sim_reason(&s), "rollback incomplete: host 'web-4' unreachable after 5s"));
			assert_null(strstr(strstr(sim_reason(&s), "rollback incomplete"), "web-1"));
		}
		sim_release(&s);
	}
}

static void test_env_json_keeps_rolling_traffic(void **state)
{
	static const char text[] = "service: hello\n"
				   "run:\n"
				   "  command: ./dist/hello --port ${PORT}\n"
				   "environments:\n"
				   "  prod:\n"
				   "    hosts: { env: prod }\n"
				   "    strategy:\n"
				   "      rolling:\n"
				   "        batch: 1\n"
				   "        traffic: { haproxy: { socket: /run/haproxy.sock, backend: hello } }\n"
				   "  staging:\n"
				   "    hosts: { env: staging }\n";
	struct sw_err err = SW_ERR_INIT;
	struct sw_spec *spec = sw_spec_parse("slipway.yml", text, strlen(text), &err);
	json_t *e, *hap;

	(void)state;
	if (!spec)
		fail_msg("spec: %s", err.msg);
	e = sw_runjson_env(&spec->envs[sw_spec_env_index(spec, "prod")]);
	hap = json_object_get(json_object_get(e, "traffic"), "haproxy");
	assert_string_equal(json_string_value(json_object_get(hap, "socket")), "/run/haproxy.sock");
	assert_string_equal(json_string_value(json_object_get(hap, "backend")), "hello");
	json_decref(e);
	e = sw_runjson_env(&spec->envs[sw_spec_env_index(spec, "staging")]);
	assert_true(json_is_null(json_object_get(e, "traffic")));
	json_decref(e);
	sw_spec_free(spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drain_maint_update_ready),
		cmocka_unit_test(test_without_traffic_no_balancer_calls),
		cmocka_unit_test(test_unhealthy_release_never_in_rotation),
		cmocka_unit_test(test_rollback_keeps_unhealthy_host_in_maint),
		cmocka_unit_test(test_rollback_drains_updated_hosts),
		cmocka_unit_test(test_balancer_errors_roll_back),
		cmocka_unit_test(test_env_json_keeps_rolling_traffic),
		cmocka_unit_test(test_rollback_keeps_min_healthy),
		cmocka_unit_test(test_rollback_waits_for_every_host),
		cmocka_unit_test(test_rollback_host_out_of_rotation_goes_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
