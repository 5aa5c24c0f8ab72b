/*
 * test_dag.c - unit tests for src/pipeline/dag: dependency order, the -j
 * limit, failure policies (stop / keep going), selection, cancel, and a
 * randomised run checking the invariants on a larger graph.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pipeline/dag.h"

#include <stdlib.h>
#include <string.h>

/* a <- b <- c (chain), d independent, e needs a and d. */
static const size_t g1_b[] = { 0 }, g1_c[] = { 1 }, g1_e[] = { 0, 3 };
static const size_t *const g1_deps[] = { NULL, g1_b, g1_c, NULL, g1_e };
static const size_t g1_ndeps[] = { 0, 1, 1, 0, 2 };

static void test_order_and_limit(void **state)
{
	struct sw_dag d;
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	assert_int_equal(sw_dag_init(&d, 5, g1_deps, g1_ndeps, &err), 0);
	sw_dag_select_all(&d);
	sw_dag_start(&d, 1, false);
	assert_int_equal(sw_dag_next(&d), 0);
	assert_int_equal(sw_dag_next(&d), SW_DAG_NONE); /* -j 1 */
	sw_dag_finish(&d, 0, SW_DAG_PASSED);
	assert_int_equal(sw_dag_next(&d), 3); /* ready before b became ready */
	sw_dag_finish(&d, 3, SW_DAG_PASSED);
	assert_int_equal(sw_dag_next(&d), 1);
	sw_dag_finish(&d, 1, SW_DAG_PASSED);
	assert_int_equal(sw_dag_next(&d), 4);
	sw_dag_finish(&d, 4, SW_DAG_PASSED);
	assert_false(sw_dag_done(&d));
	assert_int_equal(sw_dag_next(&d), 2);
	sw_dag_finish(&d, 2, SW_DAG_PASSED);
	assert_true(sw_dag_done(&d));
	assert_int_equal(sw_dag_next(&d), SW_DAG_NONE);
	sw_dag_release(&d);
}

static void test_parallel_limit(void **state)
{
	const size_t *deps[6] = { NULL };
	size_t ndeps[6] = { 0 };
	struct sw_dag d;
	size_t a, b;

	(void)state;
	assert_int_equal(sw_dag_init(&d, 6, deps, ndeps, NULL), 0);
	sw_dag_select_all(&d);
	sw_dag_start(&d, 2, false);
	a = sw_dag_next(&d);
	b = sw_dag_next(&d);
	assert_true(a != SW_DAG_NONE && b != SW_DAG_NONE && a != b);
	assert_int_equal(sw_dag_next(&d), SW_DAG_NONE);
	assert_int_equal(d.running, 2);
	sw_dag_finish(&d, a, SW_DAG_PASSED);
	assert_true(sw_dag_next(&d) != SW_DAG_NONE);
	assert_int_equal(sw_dag_next(&d), SW_DAG_NONE);
	sw_dag_release(&d);
}

static void test_failure_stops_new_jobs(void **state)
{
	struct sw_dag d;

	(void)state;
	assert_int_equal(sw_dag_init(&d, 5, g1_deps, g1_ndeps, NULL), 0);
	sw_dag_select_all(&d);
	sw_dag_start(&d, 2, false);
	assert_int_equal(sw_dag_next(&d), 0);
	assert_int_equal(sw_dag_next(&d), 3);
	sw_dag_finish(&d, 0, SW_DAG_FAILED);
	/* b, c, e need a: skipped with a as the reason; d still running. */
	assert_int_equal(d.state[1], SW_DAG_SKIPPED);
	assert_int_equal(d.state[2], SW_DAG_SKIPPED);
	assert_int_equal(d.state[4], SW_DAG_SKIPPED);
	assert_int_equal(d.blocker[2], 0);
	assert_int_equal(d.state[3], SW_DAG_RUNNING);
	assert_false(sw_dag_done(&d));
	assert_int_equal(sw_dag_next(&d), SW_DAG_NONE);
	sw_dag_finish(&d, 3, SW_DAG_PASSED);
	assert_true(sw_dag_done(&d));
	sw_dag_release(&d);
}

/* a, b(needs a), c, f(needs c): a fails with -j1. */
static const size_t g2_b[] = { 0 }, g2_f[] = { 2 };
static const size_t *const g2_deps[] = { NULL, g2_b, NULL, g2_f };
static const size_t g2_ndeps[] = { 0, 1, 0, 1 };

static void test_failure_policies(void **state)
{
	struct sw_dag d;

	(void)state;
	/* Default: stop starting jobs; c and f are skipped too. */
	assert_int_equal(sw_dag_init(&d, 4, g2_deps, g2_ndeps, NULL), 0);
	sw_dag_select_all(&d);
	sw_dag_start(&d, 1, false);
	assert_int_equal(sw_dag_next(&d), 0);
	sw_dag_finish(&d, 0, SW_DAG_FAILED);
	assert_int_equal(sw_dag_next(&d), SW_DAG_NONE);
	assert_int_equal(d.state[2], SW_DAG_SKIPPED);
	assert_int_equal(d.state[3], SW_DAG_SKIPPED);
	assert_int_equal(d.blocker[1], 0);           /* b needs a */
	assert_int_equal(d.blocker[2], SW_DAG_NONE); /* c only stopped */
	assert_true(sw_dag_done(&d));
	sw_dag_release(&d);

	/* keep_going: only b (which needs a) is skipped; c and f run. */
	assert_int_equal(sw_dag_init(&d, 4, g2_deps, g2_ndeps, NULL), 0);
	sw_dag_select_all(&d);
	sw_dag_start(&d, 1, true);
	assert_int_equal(sw_dag_next(&d), 0);
	sw_dag_finish(&d, 0, SW_DAG_FAILED);
	assert_int_equal(d.state[1], SW_DAG_SKIPPED);
	assert_int_equal(sw_dag_next(&d), 2);
	sw_dag_finish(&d, 2, SW_DAG_PASSED);
	assert_int_equal(sw_dag_next(&d), 3);
	sw_dag_finish(&d, 3, SW_DAG_PASSED);
	assert_true(sw_dag_done(&d));
	sw_dag_release(&d);
}

static void test_select_subset(void **state)
{
	struct sw_dag d;

	(void)state;
	assert_int_equal(sw_dag_init(&d, 5, g1_deps, g1_ndeps, NULL), 0);
	sw_dag_select(&d, 2, g1_deps, g1_ndeps); /* c needs b needs a */
	assert_int_equal(d.selected, 3);
	assert_int_equal(d.state[3], SW_DAG_UNSELECTED);
	assert_int_equal(d.state[4], SW_DAG_UNSELECTED);
	sw_dag_start(&d, 4, false);
	assert_int_equal(sw_dag_next(&d), 0);
	assert_int_equal(sw_dag_next(&d), SW_DAG_NONE);
	sw_dag_finish(&d, 0, SW_DAG_PASSED);
	assert_int_equal(sw_dag_next(&d), 1);
	sw_dag_finish(&d, 1, SW_DAG_PASSED);
	assert_int_equal(sw_dag_next(&d), 2);
	sw_dag_finish(&d, 2, SW_DAG_PASSED);
	assert_true(sw_dag_done(&d));
	sw_dag_release(&d);
}

static void test_cancel(void **state)
{
	struct sw_dag d;

	(void)state;
	assert_int_equal(sw_dag_init(&d, 5, g1_deps, g1_ndeps, NULL), 0);
	sw_dag_select_all(&d);
	sw_dag_start(&d, 2, false);
	assert_int_equal(sw_dag_next(&d), 0);
	assert_int_equal(sw_dag_next(&d), 3);
	sw_dag_cancel(&d);
	assert_int_equal(sw_dag_next(&d), SW_DAG_NONE);
	assert_int_equal(d.state[1], SW_DAG_CANCELED);
	sw_dag_finish(&d, 0, SW_DAG_CANCELED);
	sw_dag_finish(&d, 3, SW_DAG_PASSED);
	assert_true(sw_dag_done(&d));
	assert_int_equal(d.state[0], SW_DAG_CANCELED);
	assert_int_equal(d.state[4], SW_DAG_CANCELED);
	sw_dag_release(&d);
}

static void test_refuses_bad_order(void **state)
{
	static const size_t self[] = { 0 }, fwd[] = { 1 };
	const size_t *deps1[] = { self };
	const size_t *deps2[] = { fwd, NULL };
	size_t n1[] = { 1 }, n2[] = { 1, 0 };
	struct sw_dag d;
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	assert_int_equal(sw_dag_init(&d, 1, deps1, n1, &err), -1);
	assert_int_equal(sw_dag_init(&d, 2, deps2, n2, &err), -1);
	assert_non_null(strstr(err.msg, "topological"));
}

/* 300 random nodes, -j 3, random failures with keep_going: check the invariants. */
static void test_random_invariants(void **state)
{
	enum { N = 300 };
	size_t *deps[N], ndeps[N], i, k, order = 0, running[N], nrun = 0;
	size_t started_at[N];
	bool fails[N];
	struct sw_dag d;
	int round;

	(void)state;
	srand(12345);
	for (i = 0; i < N; i++) {
		ndeps[i] = i ? (size_t)rand() % (i < 4 ? i : 4) : 0;
		deps[i] = malloc((ndeps[i] ? ndeps[i] : 1) * sizeof(size_t));
		for (k = 0; k < ndeps[i]; k++)
			deps[i][k] = (size_t)rand() % i;
		fails[i] = rand() % 40 == 0;
		started_at[i] = SIZE_MAX;
	}
	for (round = 0; round < 2; round++) {
		bool keep = round == 1;

		assert_int_equal(sw_dag_init(&d, N, (const size_t *const *)deps, ndeps, NULL), 0);
		sw_dag_select_all(&d);
		sw_dag_start(&d, 3, keep);
		nrun = 0;
		while (!sw_dag_done(&d)) {
			size_t j;

			while ((j = sw_dag_next(&d)) != SW_DAG_NONE) {
				for (k = 0; k < ndeps[j]; k++)
					assert_int_equal(d.state[deps[j][k]], SW_DAG_PASSED);
				started_at[j] = order++;
				running[nrun++] = j;
				assert_true(nrun <= 3);
			}
			assert_true(nrun > 0);
			/* finish a pseudo-random running job */
			k = (size_t)rand() % nrun;
			j = running[k];
			running[k] = running[--nrun];
			sw_dag_finish(&d, j, fails[j] ? SW_DAG_FAILED : SW_DAG_PASSED);
		}
		for (i = 0; i < N; i++) {
			if (d.state[i] == SW_DAG_SKIPPED && keep) {
				/* skipped only because something it needs failed or was skipped */
				bool cause = false;

				for (k = 0; k < ndeps[i]; k++)
					cause |= d.state[deps[i][k]] == SW_DAG_FAILED ||
						 d.state[deps[i][k]] == SW_DAG_SKIPPED;
				assert_true(cause);
			}
			if (keep && d.state[i] == SW_DAG_PASSED)
				assert_true(started_at[i] != SIZE_MAX);
		}
		sw_dag_release(&d);
	}
	for (i = 0; i < N; i++)
		free(deps[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_limit),      cmocka_unit_test(test_parallel_limit),
		cmocka_unit_test(test_failure_stops_new_jobs), cmocka_unit_test(test_failure_policies),
		cmocka_unit_test(test_select_subset),        cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_refuses_bad_order),    cmocka_unit_test(test_random_invariants),
	};
	return cmocka_run_group_tests_name("dag", tests, NULL, NULL);
}
