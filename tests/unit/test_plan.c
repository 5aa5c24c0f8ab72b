/*
 * test_plan.c - unit tests for rollout/plan.c: amounts (counts and
 * percentages with their rounding), label selectors, host selection and
 * order, batch sizes from batch / max_unavailable / min_healthy and the
 * settings that can make no progress.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "rollout/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t amount(json_t *a, size_t n, enum sw_plan_round r)
{
	struct sw_err err = SW_ERR_INIT;
	size_t out = 12345;

	if (sw_plan_amount(a, n, r, "batch", &out, &err) < 0)
		fail_msg("amount: %s", err.msg);
	json_decref(a);
	return out;
}

static void test_amounts(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	json_t *bad;
	size_t out;

	(void)state;
	assert_int_equal(amount(json_integer(3), 10, SW_PLAN_ROUND_UP), 3);
	assert_int_equal(amount(json_string("25%"), 10, SW_PLAN_ROUND_UP), 3);
	assert_int_equal(amount(json_string("25%"), 10, SW_PLAN_ROUND_DOWN), 2);
	assert_int_equal(amount(json_string("25%"), 20, SW_PLAN_ROUND_DOWN), 5);
	assert_int_equal(amount(json_string("100%"), 7, SW_PLAN_ROUND_UP), 7);
	assert_int_equal(amount(json_string("0%"), 7, SW_PLAN_ROUND_UP), 0);
	assert_int_equal(amount(json_string("1%"), 1, SW_PLAN_ROUND_UP), 1);
	assert_int_equal(amount(json_string("1%"), 1, SW_PLAN_ROUND_DOWN), 0);

	bad = json_string("25");
	assert_int_equal(sw_plan_amount(bad, 10, SW_PLAN_ROUND_UP, "max_unavailable", &out, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "max_unavailable"));
	json_decref(bad);
	bad = json_integer(-1);
	assert_int_equal(sw_plan_amount(bad, 10, SW_PLAN_ROUND_UP, "batch", &out, &err), -1);
	json_decref(bad);
	bad = json_string("120%");
	assert_int_equal(sw_plan_amount(bad, 10, SW_PLAN_ROUND_UP, "batch", &out, &err), -1);
	json_decref(bad);
}

static json_t *host(const char *id, const char *name, const char *env, int revoked)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s}, s:[i, i], s:b}", "id", id, "name", name, "labels", "env", env,
			 "region", "eu", "ports", 9000, 9001, "revoked", revoked);
}

static void test_select(void **state)
{
	json_t *list = json_array(), *sel, *m;
	char *text;

	(void)state;
	json_array_append_new(list, host("h3", "web-3", "staging", 0));
	json_array_append_new(list, host("h1", "web-1", "staging", 0));
	json_array_append_new(list, host("h2", "web-2", "prod", 0));
	json_array_append_new(list, host("h4", "web-0", "staging", 1));
	json_array_append_new(list, host("h5", "web-10", "staging", 0));

	sel = json_pack("{s:s}", "env", "staging");
	m = sw_plan_select(list, sel);
	assert_int_equal(json_array_size(m), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "name")), "web-1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "name")), "web-10");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 2), "name")), "web-3");
	json_decref(m);
	json_decref(sel);

	sel = json_pack("{s:s, s:s}", "env", "prod", "region", "eu");
	m = sw_plan_select(list, sel);
	assert_int_equal(json_array_size(m), 1);
	text = sw_plan_selector_text(sel);
	assert_string_equal(text, "env=prod,region=eu");
	free(text);
	json_decref(m);
	json_decref(sel);

	sel = json_pack("{s:s, s:s}", "env", "prod", "region", "us");
	m = sw_plan_select(list, sel);
	assert_int_equal(json_array_size(m), 0);
	json_decref(m);
	json_decref(sel);

	/* A label present with another value, or missing, does not match. */
	sel = json_pack("{s:s}", "ring", "1");
	assert_false(sw_plan_labels_match(json_object_get(json_array_get(list, 0), "labels"), sel));
	json_decref(sel);
	json_decref(list);
}

static int limits(const char *json, size_t n, struct sw_plan_limits *lim, struct sw_err *err)
{
	json_t *r = json_loads(json, 0, NULL);
	int rc;

	assert_non_null(r);
	rc = sw_plan_limits(r, n, lim, err);
	json_decref(r);
	return rc;
}

static void test_limits(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_plan_limits lim;

	(void)state;
	/* Defaults: one at a time. */
	assert_int_equal(limits("{}", 4, &lim, &err), 0);
	assert_int_equal(lim.size, 1);
	/* batch 25% of 20 = 5, but max_unavailable 1 caps it. */
	assert_int_equal(limits("{\"batch\": \"25%\"}", 20, &lim, &err), 0);
	assert_int_equal(lim.batch, 5);
	assert_int_equal(lim.size, 1);
	assert_int_equal(limits("{\"batch\": \"25%\", \"max_unavailable\": \"25%\"}", 20, &lim, &err), 0);
	assert_int_equal(lim.size, 5);
	/* 25% of 3 rounds down to 0 but a non-zero percentage allows one. */
	assert_int_equal(limits("{\"batch\": 2, \"max_unavailable\": \"25%\"}", 3, &lim, &err), 0);
	assert_int_equal(lim.max_unavailable, 1);
	assert_int_equal(lim.size, 1);
	/* min_healthy 50% of 5 rounds up to 3: only 2 may go. */
	assert_int_equal(limits("{\"batch\": 4, \"max_unavailable\": 4, \"min_healthy\": \"50%\"}", 5, &lim, &err), 0);
	assert_int_equal(lim.min_healthy, 3);
	assert_int_equal(lim.size, 2);
	/* A batch larger than the fleet is the fleet minus min_healthy. */
	assert_int_equal(limits("{\"batch\": 10, \"max_unavailable\": 10}", 3, &lim, &err), 0);
	assert_int_equal(lim.size, 3);

	assert_int_equal(limits("{\"max_unavailable\": 0}", 4, &lim, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "max_unavailable is 0"));
	assert_int_equal(limits("{\"max_unavailable\": \"0%\"}", 4, &lim, &err), -1);
	assert_int_equal(limits("{\"min_healthy\": 4}", 4, &lim, &err), -1);
	assert_non_null(strstr(err.msg, "min_healthy 4 leaves no host"));
	assert_int_equal(limits("{\"min_healthy\": \"100%\"}", 1, &lim, &err), -1);
	assert_int_equal(limits("{\"batch\": \"x\"}", 4, &lim, &err), -1);
	assert_non_null(strstr(err.msg, "batch"));
}

static json_t *env(const char *strategy, const char *rolling)
{
	json_t *e = json_pack("{s:s, s:{s:s}, s:s, s:I, s:I}", "name", "staging", "selector", "env", "staging",
			      "strategy", strategy, "progress_deadline_ms", (json_int_t)600000, "health_timeout_ms",
			      (json_int_t)5000);

	json_object_set_new(e, "rolling", json_loads(rolling, 0, NULL));
	return e;
}

static json_t *hosts(size_t n)
{
	json_t *a = json_array();
	char id[32], name[32];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "h%zu", i);
		snprintf(name, sizeof(name), "web-%02zu", i);
		json_array_append_new(a, host(id, name, "staging", 0));
	}
	return a;
}

static void test_build(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	json_t *e, *h, *plan, *batches, *ph;

	(void)state;
	e = env("rolling", "{\"batch\": 2, \"max_unavailable\": 2}");
	h = hosts(5);
	plan = sw_plan_build(e, h, &err);
	assert_non_null(plan);
	batches = json_object_get(plan, "batches");
	assert_int_equal(json_array_size(batches), 3);
	assert_int_equal(json_array_size(json_array_get(batches, 0)), 2);
	assert_int_equal(json_array_size(json_array_get(batches, 2)), 1);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(batches, 2), 0)), 4);
	assert_string_equal(json_string_value(json_object_get(plan, "phase")), "rollout");
	assert_int_equal(json_array_size(json_object_get(plan, "hosts")), 5);
	ph = json_array_get(json_object_get(plan, "hosts"), 1);
	assert_string_equal(json_string_value(json_object_get(ph, "name")), "web-01");
	assert_string_equal(json_string_value(json_object_get(ph, "phase")), "waiting");
	assert_string_equal(json_string_value(json_object_get(ph, "address")), "web-01");
	assert_int_equal(json_integer_value(json_array_get(json_object_get(ph, "ports"), 1)), 9001);
	assert_false(json_is_true(json_object_get(ph, "touched")));
	json_decref(plan);
	json_decref(e);

	/* Blue/green: every host in one batch, whatever the rolling limits say. */
	e = env("blue_green", "{\"max_unavailable\": 0}");
	plan = sw_plan_build(e, h, &err);
	assert_non_null(plan);
	assert_int_equal(json_array_size(json_object_get(plan, "batches")), 1);
	assert_int_equal(json_array_size(json_array_get(json_object_get(plan, "batches"), 0)), 5);
	json_decref(plan);
	json_decref(e);

	/* Canary: every host in one batch, like blue/green. Rings: hosts outside rings.order refused (test_rings.c). */
	e = env("canary", "{}");
	plan = sw_plan_build(e, h, &err);
	assert_non_null(plan);
	assert_string_equal(json_string_value(json_object_get(plan, "strategy")), "canary");
	assert_int_equal(json_array_size(json_array_get(json_object_get(plan, "batches"), 0)), 5);
	json_decref(plan);
	json_decref(e);
	e = env("rings", "{}");
	assert_null(sw_plan_build(e, h, &err));
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "'web-00' (no label 'ring')"));
	assert_non_null(strstr(err.msg, "'web-04' (no label 'ring')"));
	json_decref(e);

	e = env("rolling", "{\"min_healthy\": 5}");
	assert_null(sw_plan_build(e, h, &err));
	assert_non_null(strstr(err.msg, "environment 'staging'"));
	json_decref(e);
	json_decref(h);

	/* The address label wins over the name. */
	h = json_array();
	json_array_append_new(h, json_pack("{s:s, s:s, s:{s:s, s:s}, s:[i, i]}", "id", "x", "name", "x1", "labels",
					   "env", "staging", "address", "127.0.0.1", "ports", 1, 2));
	e = env("rolling", "{}");
	plan = sw_plan_build(e, h, &err);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(plan, "hosts"), 0),
								 "address")),
			    "127.0.0.1");
	json_decref(plan);
	json_decref(e);
	json_decref(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_amounts),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
