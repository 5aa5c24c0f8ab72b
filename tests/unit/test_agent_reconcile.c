/*
 * test_agent_reconcile.c - unit tests for src/agent/reconcile: the main
 * loop's per-slot change and each worker's next step, as tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/reconcile.h"

#include <string.h>

#define D1 "1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "2222222222222222222222222222222222222222222222222222222222222222"
#define R1 "aaaa"
#define R2 "bbbb"

static void test_change(void **state)
{
	struct sw_reconcile_target have = { D1, 8001, R1, true }, want = have;

	(void)state;
	/* No slot yet: create; no row: remove (once). */
	assert_int_equal(sw_reconcile_change(NULL, false, &want), SW_CHANGE_CREATE);
	assert_int_equal(sw_reconcile_change(&have, false, NULL), SW_CHANGE_REMOVE);
	assert_int_equal(sw_reconcile_change(&have, true, NULL), SW_CHANGE_KEEP);
	assert_int_equal(sw_reconcile_change(NULL, false, NULL), SW_CHANGE_KEEP);
	/* Same: keep. */
	assert_int_equal(sw_reconcile_change(&have, false, &want), SW_CHANGE_KEEP);
	/* Only active: no redeploy. */
	want.active = false;
	assert_int_equal(sw_reconcile_change(&have, false, &want), SW_CHANGE_ACTIVE);
	/* Digest, port or run config: new target. */
	want = have;
	want.digest = D2;
	assert_int_equal(sw_reconcile_change(&have, false, &want), SW_CHANGE_RETARGET);
	want = have;
	want.port = 8002;
	assert_int_equal(sw_reconcile_change(&have, false, &want), SW_CHANGE_RETARGET);
	want = have;
	want.run = R2;
	assert_int_equal(sw_reconcile_change(&have, false, &want), SW_CHANGE_RETARGET);
	/* A slot being removed that comes back: new target even if equal. */
	want = have;
	assert_int_equal(sw_reconcile_change(&have, true, &want), SW_CHANGE_RETARGET);
	/* An adopted slot (no target yet) that the server lists: new target. */
	have.digest = NULL;
	assert_int_equal(sw_reconcile_change(&have, false, &want), SW_CHANGE_RETARGET);
	/* An invalid run on both sides (NULL run) compares equal. */
	have = (struct sw_reconcile_target){ D1, 8001, NULL, true };
	want = have;
	assert_int_equal(sw_reconcile_change(&have, false, &want), SW_CHANGE_KEEP);
}

static struct sw_reconcile_view view(void)
{
	struct sw_reconcile_view v;

	memset(&v, 0, sizeof(v));
	v.has_target = true;
	v.target_valid = true;
	v.target = (struct sw_reconcile_target){ D2, 8001, R1, true };
	v.target_seq = 3;
	v.failed_seq = 0;
	v.cur = (struct sw_reconcile_target){ D1, 8001, R1, true };
	v.proc_alive = true;
	return v;
}

static void test_step(void **state)
{
	struct sw_reconcile_view v;

	(void)state;
	/* New digest: deploy. */
	v = view();
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_DEPLOY);
	/* Nothing ran before: deploy. */
	v.cur.digest = NULL;
	v.proc_alive = false;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_DEPLOY);
	/* Already runs the target: nothing. */
	v = view();
	v.cur.digest = D2;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_NONE);
	/* ... but it died: restart only once the backoff is due. */
	v.proc_alive = false;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_NONE);
	v.restart_due = true;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_RESTART);
	/* Same digest, other port or run config: deploy again. */
	v = view();
	v.cur.digest = D2;
	v.cur.port = 8002;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_DEPLOY);
	v = view();
	v.cur.digest = D2;
	v.cur.run = R2;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_DEPLOY);
}

static void test_step_failed_not_retried(void **state)
{
	struct sw_reconcile_view v;

	(void)state;
	/* The attempt for this target failed: do not download again... */
	v = view();
	v.failed_seq = v.target_seq;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_NONE);
	/* ... but keep the previous release alive. */
	v.proc_alive = false;
	v.restart_due = true;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_RESTART);
	/* A new target (even the same digest again) is tried once more. */
	v = view();
	v.failed_seq = 2;
	v.target_seq = 3;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_DEPLOY);
	/* Failed with nothing running before: nothing to restart. */
	v = view();
	v.failed_seq = v.target_seq;
	v.cur.digest = NULL;
	v.proc_alive = false;
	v.restart_due = true;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_NONE);
}

static void test_step_reject_invalid(void **state)
{
	struct sw_reconcile_view v = view();

	(void)state;
	v.target_valid = false;
	v.target.run = NULL;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_REJECT);
	/* Rejected once, then left alone; what ran keeps running. */
	v.failed_seq = v.target_seq;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_NONE);
}

static void test_step_remove_and_adopted(void **state)
{
	struct sw_reconcile_view v = view();

	(void)state;
	v.remove = true;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_STOP);
	v.proc_alive = false;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_DONE);
	/* Removal wins over a pending deploy or restart. */
	v.restart_due = true;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_DONE);

	/* Adopted from a pid file before any desired state: supervise, restart when due. */
	v = view();
	v.has_target = false;
	v.target.digest = NULL;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_NONE);
	v.proc_alive = false;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_NONE);
	v.restart_due = true;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_RESTART);
	assert_string_equal(sw_reconcile_step_name(SW_STEP_RESTART), "restart");
}

static void test_same(void **state)
{
	struct sw_reconcile_target a = { D1, 1, R1, true }, b = { D1, 1, R1, false }, c = { NULL, 1, R1, true };

	(void)state;
	assert_true(sw_reconcile_same(&a, &b)); /* active does not matter */
	assert_false(sw_reconcile_same(&a, &c));
	assert_false(sw_reconcile_same(&c, &c)); /* nothing is never the same as nothing */
}

/* Run claims: a row without one asks nothing of the run; one with a claim that differs is deployed (and checked). */
static void test_step_claims(void **state)
{
	struct sw_reconcile_view v;

	(void)state;
	/* A current server sends no run: what runs (deployed with an older server's claim) is left alone. */
	v = view();
	v.cur.digest = D2;
	v.target.run = NULL;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_NONE);
	v.cur.run = NULL;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_NONE);
	/* A claim appears for what runs (a tampered row): deployed, so that the worker checks and refuses it. */
	v.target.run = R2;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_DEPLOY);
	/* A row with a field outside the allow-list is rejected (reported) even though its digest runs. */
	v = view();
	v.cur.digest = D2;
	v.target_valid = false;
	assert_int_equal(sw_reconcile_step(&v), SW_STEP_REJECT);
	/* satisfies: target without claim matches any run; with one, only the same. */
	{
		struct sw_reconcile_target cur = { D1, 1, R1, true }, t = { D1, 1, NULL, true };

		assert_true(sw_reconcile_satisfies(&cur, &t));
		t.run = R2;
		assert_false(sw_reconcile_satisfies(&cur, &t));
		t.run = R1;
		assert_true(sw_reconcile_satisfies(&cur, &t));
		t.port = 2;
		assert_false(sw_reconcile_satisfies(&cur, &t));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_change),
		cmocka_unit_test(test_step),
		cmocka_unit_test(test_step_failed_not_retried),
		cmocka_unit_test(test_step_reject_invalid),
		cmocka_unit_test(test_step_remove_and_adopted),
		cmocka_unit_test(test_same),
		cmocka_unit_test(test_step_claims),
	};
	return cmocka_run_group_tests_name("agent_reconcile", tests, NULL, NULL);
}
