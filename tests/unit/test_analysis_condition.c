/*
 * test_analysis_condition.c - unit tests for src/analysis/condition: the
 * Lua sandbox (true, false, run-time errors, names the provider does not
 * measure, values without data, instruction and memory limits, what is
 * and is not reachable from a condition) and the verdict rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "analysis/condition.h"
#include "analysis/values.h"
#include "base/clock.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* haproxy values: 200 canary requests, 100 errors, 12.5 ms; stable_error_rate absent. */
static void haproxy_values(struct sw_values *vs)
{
	sw_values_init(vs, SW_PROVIDER_HAPROXY);
	sw_values_set_integer(vs, "requests", 200);
	sw_values_set_number(vs, "request_rate", 100.0);
	sw_values_set_integer(vs, "errors", 100);
	sw_values_set_number(vs, "error_rate", 0.5);
	sw_values_set_number(vs, "response_ms", 12.5);
	sw_values_set_integer(vs, "stable_requests", 0);
	sw_values_set_number(vs, "stable_request_rate", 0.0);
	sw_values_set_integer(vs, "stable_errors", 0);
	sw_values_set_absent(vs, "stable_error_rate", SW_VERDICT_INCONCLUSIVE,
			     "no request reached the stable servers in the last 1.0s");
	/* stable_response_ms stays UNSET on purpose */
}

static enum sw_condition_outcome eval(struct sw_values *vs, const char *expr, struct sw_condition_result *r)
{
	return sw_condition_eval(expr, vs, 0, 0, r);
}

static void expect(struct sw_values *vs, const char *expr, enum sw_condition_outcome oc, const char *msg)
{
	struct sw_condition_result r;
	enum sw_condition_outcome got = eval(vs, expr, &r);

	if (got != oc || (msg && strcmp(r.msg, msg)))
		fail_msg("%s: got outcome %d '%s', expected %d '%s'", expr, (int)got, r.msg, (int)oc, msg ? msg : "");
}

static void test_true_false(void **state)
{
	struct sw_values vs;

	(void)state;
	haproxy_values(&vs);
	expect(&vs, "error_rate < 0.6", SW_CONDITION_TRUE, "");
	expect(&vs, "error_rate > 0.6", SW_CONDITION_FALSE, "");
	expect(&vs, "error_rate == 0.5 and requests == 200 and response_ms < 13", SW_CONDITION_TRUE, NULL);
	expect(&vs, "requests // 3 == 66 and math.type(requests) == 'integer'", SW_CONDITION_TRUE, NULL);
	expect(&vs, "math.max(error_rate, 0.9) == 0.9 and math.abs(-1) == 1 and math.huge > 1e308", SW_CONDITION_TRUE, NULL);
	expect(&vs, "errors / requests == error_rate -- a comment at the end", SW_CONDITION_TRUE, NULL);
	expect(&vs, "not (error_rate < 0.1)", SW_CONDITION_TRUE, NULL);
	expect(&vs, "_ENV.error_rate == 0.5", SW_CONDITION_TRUE, NULL);
	expect(&vs, "(function(x) local y = x * 2 return y == 1 end)(error_rate)", SW_CONDITION_TRUE, NULL);
	sw_values_release(&vs);
}

static void test_reads_are_marked(void **state)
{
	struct sw_values vs;
	struct sw_condition_result r;

	(void)state;
	haproxy_values(&vs);
	sw_values_clear_read(&vs);
	assert_int_equal(eval(&vs, "error_rate < 0.6 or requests > 0", &r), SW_CONDITION_TRUE);
	assert_true(sw_values_find(&vs, "error_rate")->read);
	assert_false(sw_values_find(&vs, "requests")->read); /* short-circuit: never read */
	assert_false(sw_values_find(&vs, "response_ms")->read);
	sw_values_release(&vs);
}

static void test_errors(void **state)
{
	struct sw_values vs;
	struct sw_condition_result r;

	(void)state;
	haproxy_values(&vs);
	expect(&vs, "p95_ms < 300", SW_CONDITION_ERROR,
	       "condition refers to 'p95_ms', which the haproxy provider does not measure");
	expect(&vs, "error_rate < 0.01 and p95_ms < 300", SW_CONDITION_FALSE, ""); /* never reaches p95_ms */
	expect(&vs, "error_rate .. {}", SW_CONDITION_ERROR, "condition failed: attempt to concatenate a table value");
	expect(&vs, "error_rate < {}", SW_CONDITION_ERROR, "condition failed: attempt to compare number with table");
	expect(&vs, "error_rate", SW_CONDITION_ERROR, "condition gave a number, not true or false");
	expect(&vs, "nil", SW_CONDITION_ERROR, "condition gave nil, not true or false");
	expect(&vs, "'yes'", SW_CONDITION_ERROR, "condition gave a string, not true or false");
	expect(&vs, "(function() x = 1 return true end)()", SW_CONDITION_ERROR, "conditions cannot assign 'x'");
	expect(&vs, "error_rate < < 1", SW_CONDITION_ERROR, NULL); /* not compiled by the loader: still safe */
	assert_int_equal(eval(&vs, "error_rate < < 1", &r), SW_CONDITION_ERROR);
	assert_non_null(strstr(r.msg, "unexpected symbol near '<'"));
	assert_int_equal(r.verdict, SW_VERDICT_ERROR);
	sw_values_release(&vs);
}

static void test_absent_values(void **state)
{
	struct sw_values vs;
	struct sw_condition_result r;

	(void)state;
	haproxy_values(&vs);
	assert_int_equal(eval(&vs, "stable_error_rate < 0.05", &r), SW_CONDITION_ABSENT);
	assert_int_equal(r.verdict, SW_VERDICT_INCONCLUSIVE);
	assert_string_equal(r.msg, "'stable_error_rate' has no value: no request reached the stable servers in the last 1.0s");
	/* a value the provider left unset is an error, not a guess */
	assert_int_equal(eval(&vs, "stable_response_ms < 100", &r), SW_CONDITION_ABSENT);
	assert_int_equal(r.verdict, SW_VERDICT_ERROR);
	assert_string_equal(r.msg, "'stable_response_ms' has no value: the provider did not measure it");
	/* guarding with a nil test does not help: reading is what stops it */
	assert_int_equal(eval(&vs, "stable_error_rate == nil or stable_error_rate < 1", &r), SW_CONDITION_ABSENT);
	sw_values_release(&vs);
}

static void test_limits(void **state)
{
	struct sw_values vs;
	struct sw_condition_result r;
	uint64_t t0;

	(void)state;
	haproxy_values(&vs);
	t0 = sw_clock_mono_ms();
	expect(&vs, "(function() while true do end end)()", SW_CONDITION_ERROR,
	       "condition ran too long (more than 100000 instructions)");
	expect(&vs, "(function() local n = 0 repeat n = n + 1 until false end)()", SW_CONDITION_ERROR,
	       "condition ran too long (more than 100000 instructions)");
	assert_true(sw_clock_mono_ms() - t0 < 2000);
	/* recursion: the C stack is not at risk, Lua's own limit or ours stops it */
	assert_int_equal(eval(&vs, "(function(f) return f(f) end)(function(f) return f(f) end)", &r), SW_CONDITION_ERROR);
	/* memory: doubling a string passes 1 MiB within 25 instructions */
	expect(&vs, "(function() local s = 'x' for i = 1, 40 do s = s .. s end return true end)()", SW_CONDITION_ERROR,
	       "condition needs more than 1048576 bytes of memory");
	expect(&vs, "(function() local t = {} for i = 1, 90000 do t[i] = {} end return true end)()", SW_CONDITION_ERROR,
	       NULL);
	/* smaller limits as asked */
	assert_int_equal(sw_condition_eval("(function() local t = {} for i = 1, 2000 do t[i] = i end return #t == 2000 end)()",
					   &vs, 0, 0, &r),
			 SW_CONDITION_TRUE);
	assert_int_equal(sw_condition_eval("(function() local t = {} for i = 1, 2000 do t[i] = i end return #t == 2000 end)()",
					   &vs, 0, 500, &r),
			 SW_CONDITION_ERROR);
	assert_string_equal(r.msg, "condition ran too long (more than 500 instructions)");
	assert_int_equal(sw_condition_eval("(function() local s = 'x' for i = 1, 16 do s = s .. s end return true end)()",
					   &vs, 32 * 1024, 0, &r),
			 SW_CONDITION_ERROR);
	assert_string_equal(r.msg, "condition needs more than 32768 bytes of memory");
	/* garbage that is freed on the way does not count */
	expect(&vs, "(function() for i = 1, 2000 do local t = {i, i, i, i, i, i, i, i} end return true end)()",
	       SW_CONDITION_TRUE, NULL);
	sw_values_release(&vs);
}

static void test_sandbox(void **state)
{
	static const char *const names[] = { "io", "os", "require", "load", "loadstring", "dofile", "loadfile", "print",
					     "string", "debug", "package", "pcall", "xpcall", "error", "setmetatable",
					     "getmetatable", "rawget", "rawset", "collectgarbage", "_G", "coroutine",
					     "utf8", "table", "next", "pairs", "tostring", "tonumber", "type" };
	struct sw_values vs;
	struct sw_condition_result r;
	char expr[64], want[128];
	size_t i;

	(void)state;
	haproxy_values(&vs);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(expr, sizeof(expr), "%s ~= nil", names[i]);
		snprintf(want, sizeof(want), "condition refers to '%s', which the haproxy provider does not measure", names[i]);
		expect(&vs, expr, SW_CONDITION_ERROR, want);
	}
	expect(&vs, "string.dump(math.max) ~= nil", SW_CONDITION_ERROR,
	       "condition refers to 'string', which the haproxy provider does not measure");
	/* no string methods: strings have no metatable here */
	assert_int_equal(eval(&vs, "('x'):rep(10) == 'xxxxxxxxxx'", &r), SW_CONDITION_ERROR);
	assert_non_null(strstr(r.msg, "attempt to index a string value"));
	/* no randomness */
	assert_int_equal(eval(&vs, "math.random() < 1", &r), SW_CONDITION_ERROR);
	assert_non_null(strstr(r.msg, "attempt to call a nil value (field 'random')"));
	/* a fresh state per evaluation: nothing leaks from one to the next */
	expect(&vs, "(function() math.pi = 4 return true end)()", SW_CONDITION_TRUE, NULL);
	expect(&vs, "math.pi < 4", SW_CONDITION_TRUE, NULL);
	/* the chunk is text: a condition cannot close the wrapper and add statements */
	expect(&vs, "1) os.exit(1) --", SW_CONDITION_ERROR, NULL);
	sw_values_release(&vs);
}

static void test_value_kinds(void **state)
{
	struct sw_values vs;
	struct sw_condition_result r;
	double list[] = { 0.25, NAN, INFINITY };
	char buf[64];

	(void)state;
	sw_values_init(&vs, SW_PROVIDER_PROMETHEUS);
	sw_values_set_number(&vs, "result", 0.25);
	sw_values_set_list(&vs, "results", list, 3);
	expect(&vs, "#results == 3 and results[1] == result and results[2] ~= results[2] and results[3] == math.huge",
	       SW_CONDITION_TRUE, NULL);
	expect(&vs, "results[4] == nil", SW_CONDITION_TRUE, NULL);
	assert_string_equal(sw_values_format(sw_values_find(&vs, "results"), buf, sizeof(buf)), "{3 values}");
	sw_values_release(&vs);

	sw_values_init(&vs, SW_PROVIDER_HTTP);
	sw_values_set_integer(&vs, "status", 200);
	sw_values_set_number(&vs, "latency_ms", 3.25);
	sw_values_set_bool(&vs, "result", true);
	expect(&vs, "result == true and status == 200", SW_CONDITION_TRUE, NULL);
	sw_values_set_string(&vs, "result", "ok\0x", 4);
	expect(&vs, "result == 'ok\\0x' and #result == 4", SW_CONDITION_TRUE, NULL);
	assert_int_equal(eval(&vs, "exit_code == 0", &r), SW_CONDITION_ERROR);
	assert_string_equal(r.msg, "condition refers to 'exit_code', which the http provider does not measure");
	sw_values_release(&vs);
}

static struct sw_spec_analysis an(const char *success, const char *failure)
{
	struct sw_spec_analysis a;

	memset(&a, 0, sizeof(a));
	a.name = "t";
	a.provider = SW_PROVIDER_HAPROXY;
	a.success = success;
	a.failure = failure;
	return a;
}

static void verdict_is(const char *success, const char *failure, enum sw_verdict v, const char *msg)
{
	struct sw_spec_analysis a = an(success, failure);
	struct sw_values vs;
	char got[512];
	enum sw_verdict gv;

	haproxy_values(&vs);
	gv = sw_condition_verdict(&a, &vs, got, sizeof(got));
	if (gv != v || (msg && strcmp(got, msg)))
		fail_msg("success %s failure %s: got %d '%s', expected %d '%s'", success ? success : "-",
			 failure ? failure : "-", (int)gv, got, (int)v, msg ? msg : "");
	sw_values_release(&vs);
}

static void test_verdict_rules(void **state)
{
	(void)state;
	/* success only */
	verdict_is("error_rate < 0.6", NULL, SW_VERDICT_SUCCESS, "success condition 'error_rate < 0.6' is true (error_rate = 0.5)");
	verdict_is("error_rate < 0.01", NULL, SW_VERDICT_FAILURE, "success condition 'error_rate < 0.01' is false (error_rate = 0.5)");
	/* failure only */
	verdict_is(NULL, "error_rate > 0.05", SW_VERDICT_FAILURE, "failure condition 'error_rate > 0.05' is true (error_rate = 0.5)");
	verdict_is(NULL, "error_rate > 0.9", SW_VERDICT_SUCCESS, "failure condition 'error_rate > 0.9' is false (error_rate = 0.5)");
	/* both */
	verdict_is("error_rate < 0.6", "error_rate > 0.05", SW_VERDICT_FAILURE, NULL); /* failure wins */
	verdict_is("error_rate < 0.6", "error_rate > 0.9", SW_VERDICT_SUCCESS, NULL);
	verdict_is("error_rate < 0.01", "error_rate > 0.9", SW_VERDICT_INCONCLUSIVE,
		   "success condition 'error_rate < 0.01' and failure condition 'error_rate > 0.9' are both false (error_rate = 0.5)");
	/* errors and absent values, failure first */
	verdict_is("error_rate < 0.6", "p95_ms > 1", SW_VERDICT_ERROR,
		   "failure condition 'p95_ms > 1': condition refers to 'p95_ms', which the haproxy provider does not measure");
	verdict_is("stable_error_rate < 0.6", NULL, SW_VERDICT_INCONCLUSIVE,
		   "success condition 'stable_error_rate < 0.6': 'stable_error_rate' has no value: no request reached the stable servers in the last 1.0s");
	verdict_is("error_rate < 0.6", "stable_response_ms > 100", SW_VERDICT_ERROR, NULL);
	verdict_is("(function() while true do end end)()", NULL, SW_VERDICT_ERROR, NULL);
	/* several values read, long expressions cut */
	verdict_is("error_rate < 0.6 and requests >= 200 and response_ms < 100", NULL, SW_VERDICT_SUCCESS,
		   "success condition 'error_rate < 0.6 and requests >= 200 and response_ms < 100' is true "
		   "(requests = 200, error_rate = 0.5, response_ms = 12.5)");
	verdict_is("error_rate < 0.6 and\n   requests >= 0 and requests >= 1 and requests >= 2 and requests >= 3 and requests >= 4",
		   NULL, SW_VERDICT_SUCCESS,
		   "success condition 'error_rate < 0.6 and requests >= 0 and requests >= 1 and requests >= 2 and reque...' "
		   "is true (requests = 200, error_rate = 0.5)");
}

static void test_speed(void **state)
{
	struct sw_values vs;
	struct sw_condition_result r;
	uint64_t t0 = sw_clock_mono_ms();
	int i;

	(void)state;
	haproxy_values(&vs);
	for (i = 0; i < 1000; i++)
		assert_int_equal(eval(&vs, "error_rate < 0.6 and response_ms < 300", &r), SW_CONDITION_TRUE);
	/* a fresh state each time stays cheap: well under 1 ms per evaluation, even under ASan */
	assert_true(sw_clock_mono_ms() - t0 < 3000);
	sw_values_release(&vs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_true_false),
		cmocka_unit_test(test_reads_are_marked),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_absent_values),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_sandbox),
		cmocka_unit_test(test_value_kinds),
		cmocka_unit_test(test_verdict_rules),
		cmocka_unit_test(test_speed),
	};

	return cmocka_run_group_tests_name("analysis_condition", tests, NULL, NULL);
}
