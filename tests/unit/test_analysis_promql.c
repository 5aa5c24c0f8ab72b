/*
 * test_analysis_promql.c - unit tests for src/analysis/promql: the
 * Prometheus answer parser on answers recorded from Prometheus 2.42 in
 * tests/data/prometheus/ (vectors, scalars, NaN/Inf, empty, matrix,
 * string, Prometheus's own error), broken answers, sample numbers, and the
 * {{canary}}/{{stable}} expansion in each PromQL quoting context.
 * Run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "analysis/promql.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA "tests/data/prometheus/"

static char *load(const char *name, size_t *len)
{
	struct sw_buf b = SW_BUF_INIT(1 << 20);
	struct sw_err err = SW_ERR_INIT;
	char path[256];

	snprintf(path, sizeof(path), DATA "%s", name);
	if (sw_fs_read_file(path, 1 << 20, &b, &err) < 0)
		fail_msg("%s", err.msg);
	return sw_buf_detach(&b, len);
}

static void parse_file(const char *name, struct sw_promql_result *r)
{
	struct sw_err err = SW_ERR_INIT;
	size_t len;
	char *body = load(name, &len);

	if (sw_promql_parse(body, len, r, &err) < 0)
		fail_msg("%s: %s", name, err.msg);
	free(body);
}

static void refused_file(const char *name, enum sw_code code, const char *msg)
{
	struct sw_promql_result r;
	struct sw_err err = SW_ERR_INIT;
	size_t len;
	char *body = load(name, &len);

	assert_int_equal(sw_promql_parse(body, len, &r, &err), -1);
	assert_int_equal(err.code, code);
	if (strcmp(err.msg, msg))
		fail_msg("%s: got '%s', expected '%s'", name, err.msg, msg);
	assert_int_equal(r.n, 0);
	assert_null(r.samples);
	free(body);
}

static void test_recorded_answers(void **state)
{
	struct sw_promql_result r;

	(void)state;
	parse_file("vector_one.json", &r);
	assert_string_equal(r.type, "vector");
	assert_int_equal(r.n, 1);
	assert_true(r.samples[0].value == 0.475);
	assert_string_equal(r.samples[0].metric, "");
	sw_promql_result_release(&r);

	parse_file("vector_many.json", &r);
	assert_int_equal(r.n, 2);
	assert_true(r.samples[0].value == 1.0 && r.samples[1].value == 1.0);
	assert_string_equal(r.samples[0].metric, "up{instance=\"127.0.0.1:18101\",job=\"hello\"}");
	assert_string_equal(r.samples[1].metric, "up{instance=\"127.0.0.1:18102\",job=\"hello\"}");
	sw_promql_result_release(&r);

	parse_file("counter.json", &r);
	assert_int_equal(r.n, 1);
	assert_true(r.samples[0].value == 30.0);
	assert_string_equal(r.samples[0].metric, "hello_requests_total{code=\"200\",instance=\"127.0.0.1:18101\",job=\"hello\"}");
	sw_promql_result_release(&r);

	parse_file("vector_empty.json", &r);
	assert_string_equal(r.type, "vector");
	assert_int_equal(r.n, 0);
	sw_promql_result_release(&r);

	parse_file("vector_nan.json", &r);
	assert_int_equal(r.n, 1);
	assert_true(isnan(r.samples[0].value));
	sw_promql_result_release(&r);

	parse_file("scalar.json", &r);
	assert_string_equal(r.type, "scalar");
	assert_int_equal(r.n, 1);
	assert_true(r.samples[0].value == 2.0);
	sw_promql_result_release(&r);

	parse_file("scalar_inf.json", &r);
	assert_true(isinf(r.samples[0].value) && r.samples[0].value > 0);
	sw_promql_result_release(&r);
	parse_file("scalar_neg_inf.json", &r);
	assert_true(isinf(r.samples[0].value) && r.samples[0].value < 0);
	sw_promql_result_release(&r);
	parse_file("scalar_nan.json", &r);
	assert_true(isnan(r.samples[0].value));
	sw_promql_result_release(&r);

	refused_file("matrix.json", SW_EIO, "the query gave a range vector (matrix); use one that gives an instant vector or a scalar");
	refused_file("string.json", SW_EIO, "the query gave a string; use one that gives an instant vector or a scalar");
	refused_file("error_bad_data.json", SW_EFAILED,
		     "prometheus refused the query: bad_data: invalid parameter \"query\": 1:6: parse error: "
		     "unexpected end of input inside braces");
}

static void refused(const char *body, const char *msg)
{
	struct sw_promql_result r;
	struct sw_err err = SW_ERR_INIT;

	if (sw_promql_parse(body, strlen(body), &r, &err) == 0)
		fail_msg("accepted: %s", body);
	if (msg && strcmp(err.msg, msg))
		fail_msg("%s: got '%s', expected '%s'", body, err.msg, msg);
	assert_true(err.code == SW_EIO || err.code == SW_EFAILED);
	assert_null(r.samples);
}

static void test_garbage(void **state)
{
	struct sw_promql_result r;
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	size_t len, i;
	char *body;

	(void)state;
	refused("", "bad answer: not JSON (line 1, column 0: '[' or '{' expected near end of file)");
	refused("<html>Bad Gateway</html>", "bad answer: not JSON (line 1, column 1: '[' or '{' expected near '<')");
	refused("[]", "bad answer: not a JSON object");
	refused("{\"status\":\"success\"}", "bad answer: no 'data.resultType' and 'data.result'");
	refused("{\"status\":\"ok\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}",
		"bad answer: 'status' is not \"success\" or \"error\"");
	refused("{\"status\":\"error\"}", "prometheus refused the query: error: (no message)");
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":{}}}",
		"bad answer: 'data.result' is not an array");
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"table\",\"result\":[]}}",
		"bad answer: unknown resultType 'table'");
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[1]}}",
		"bad answer: sample 1 is not {metric, value}");
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":[],\"value\":[1,\"1\"]}]}}",
		"bad answer: sample 1 is not {metric, value}");
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"value\":[1,1]}]}}",
		"bad answer: the value of sample 1 is not [time, \"number\"]");
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"value\":[\"1\",\"1\"]}]}}", NULL);
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"value\":[1,\"1\",2]}]}}", NULL);
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"value\":[1,\"0x10\"]}]}}", NULL);
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"nan\"]}}",
		"bad answer: the scalar is not [time, \"number\"]");
	refused("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[]}}", NULL);
	refused("{\"status\":\"success\",\"status\":\"error\"}", NULL); /* duplicate keys */

	/* every strict prefix of a good answer is refused */
	body = load("vector_many.json", &len);
	while (len > 0 && (body[len - 1] == '\n'))
		len--;
	for (i = 0; i < len; i++) {
		if (sw_promql_parse(body, i, &r, &err) == 0)
			fail_msg("prefix of %zu bytes accepted", i);
	}
	free(body);

	/* more than SW_PROMQL_MAX_SAMPLES samples */
	sw_buf_puts(&b, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[");
	for (i = 0; i <= SW_PROMQL_MAX_SAMPLES; i++)
		sw_buf_printf(&b, "%s{\"metric\":{},\"value\":[1,\"%zu\"]}", i ? "," : "", i);
	sw_buf_puts(&b, "]}}");
	assert_int_equal(sw_promql_parse(b.data, b.len, &r, &err), -1);
	assert_string_equal(err.msg, "the query gave 1001 samples, more than 1000; aggregate them (sum, max, ...)");
	/* exactly the maximum is fine */
	sw_buf_reset(&b);
	sw_buf_puts(&b, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[");
	for (i = 0; i < SW_PROMQL_MAX_SAMPLES; i++)
		sw_buf_printf(&b, "%s{\"metric\":{\"i\":\"%zu\"},\"value\":[1,\"%zu\"]}", i ? "," : "", i, i);
	sw_buf_puts(&b, "]}}");
	assert_int_equal(sw_promql_parse(b.data, b.len, &r, &err), 0);
	assert_int_equal(r.n, SW_PROMQL_MAX_SAMPLES);
	assert_true(r.samples[999].value == 999.0);
	assert_string_equal(r.samples[999].metric, "{i=\"999\"}");
	sw_promql_result_release(&r);

	/* larger than the cap, whatever it holds */
	sw_buf_reset(&b);
	sw_buf_puts(&b, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]},\"pad\":\"");
	while (b.len <= SW_PROMQL_MAX_BYTES)
		sw_buf_puts(&b, "padpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpad");
	sw_buf_puts(&b, "\"}");
	assert_int_equal(sw_promql_parse(b.data, b.len, &r, &err), -1);
	assert_string_equal(err.msg, "bad answer: larger than 1048576 bytes");
	sw_buf_release(&b);
}

static void test_long_metric_is_cut(void **state)
{
	struct sw_promql_result r;
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	int i;

	(void)state;
	sw_buf_puts(&b, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"m\"");
	for (i = 0; i < 40; i++)
		sw_buf_printf(&b, ",\"label%d\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"", i);
	sw_buf_puts(&b, "},\"value\":[1,\"1\"]}]}}");
	assert_int_equal(sw_promql_parse(b.data, b.len, &r, &err), 0);
	assert_true(strlen(r.samples[0].metric) < SW_PROMQL_METRIC_MAX);
	assert_true(strlen(r.samples[0].metric) >= SW_PROMQL_METRIC_MAX - 8);
	assert_non_null(strstr(r.samples[0].metric, "..."));
	assert_int_equal(strncmp(r.samples[0].metric, "m{label0=", 9), 0);
	sw_promql_result_release(&r);
	sw_buf_release(&b);
}

static void test_numbers(void **state)
{
	static const struct {
		const char *s;
		int ok;
		double v;
	} cases[] = {
		{ "0", 0, 0 }, { "30", 0, 30 }, { "0.475", 0, 0.475 }, { "-1.5", 0, -1.5 }, { "1e-05", 0, 1e-05 },
		{ "0.0045000000000000005", 0, 0.0045000000000000005 }, { "+2", 0, 2 }, { "1E3", 0, 1000 },
		{ "", -1, 0 }, { " 1", -1, 0 }, { "1 ", -1, 0 }, { "0x10", -1, 0 }, { "nan", -1, 0 }, { "inf", -1, 0 },
		{ "infinity", -1, 0 }, { "1e", -1, 0 }, { "e", -1, 0 }, { "-", -1, 0 }, { "1.2.3", -1, 0 }, { "one", -1, 0 },
		{ "+inf", -1, 0 }, { "NAN", -1, 0 },
	};
	double v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = sw_promql_parse_number(cases[i].s, strlen(cases[i].s), &v);

		if (rc != cases[i].ok || (rc == 0 && v != cases[i].v))
			fail_msg("'%s': rc %d value %g", cases[i].s, rc, v);
	}
	assert_int_equal(sw_promql_parse_number("NaN", 3, &v), 0);
	assert_true(isnan(v));
	assert_int_equal(sw_promql_parse_number("+Inf", 4, &v), 0);
	assert_true(isinf(v) && v > 0);
	assert_int_equal(sw_promql_parse_number("Inf", 3, &v), 0);
	assert_true(isinf(v) && v > 0);
	assert_int_equal(sw_promql_parse_number("-Inf", 4, &v), 0);
	assert_true(isinf(v) && v < 0);
	assert_int_equal(sw_promql_parse_number("1\0", 2, &v), -1);
	assert_int_equal(sw_promql_parse_number("12", 1, &v), 0); /* reads only len bytes */
	assert_true(v == 1.0);
}

static void expand_is(const char *query, const char *want)
{
	const char *canary[] = { "127.0.0.1:8101", "127.0.0.1:8102" }, *stable[] = { "10.0.0.7:80" };
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;

	if (sw_promql_expand(query, canary, 2, stable, 1, &b, &err) < 0)
		fail_msg("%s: %s", query, err.msg);
	if (strcmp(b.data ? b.data : "", want))
		fail_msg("%s\n  got  %s\n  want %s", query, b.data, want);
	sw_buf_release(&b);
}

static void test_expand(void **state)
{
	const char *none[] = { NULL }, *v6[] = { "[::1]:9090" }, *bad[] = { "a b" }, *bad2[] = { "x\"}or{y" };
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	/* in a double-quoted PromQL string a backslash is written twice */
	expand_is("up{instance=~\"{{canary}}\"}", "up{instance=~\"127\\\\.0\\\\.0\\\\.1:8101|127\\\\.0\\\\.0\\\\.1:8102\"}");
	expand_is("up{instance=~'{{stable}}'}", "up{instance=~'10\\\\.0\\\\.0\\\\.7:80'}");
	/* raw strings and outside strings: once */
	expand_is("up{instance=~`{{canary}}`}", "up{instance=~`127\\.0\\.0\\.1:8101|127\\.0\\.0\\.1:8102`}");
	expand_is("{{stable}}", "10\\.0\\.0\\.7:80");
	/* escaped quotes do not end the string; a backtick inside "..." does not open one */
	expand_is("x{a=\"q\\\"`\",i=~\"{{stable}}\"}", "x{a=\"q\\\"`\",i=~\"10\\\\.0\\\\.0\\\\.7:80\"}");
	expand_is("x{a=`\\`,i=~\"{{stable}}\"}", "x{a=`\\`,i=~\"10\\\\.0\\\\.0\\\\.7:80\"}");
	/* several placeholders, untouched text, partial braces */
	expand_is("a{i=~\"{{canary}}\"} / b{i=~\"{{stable}}\"} {{other}} {{canary",
		  "a{i=~\"127\\\\.0\\\\.0\\\\.1:8101|127\\\\.0\\\\.0\\\\.1:8102\"} / b{i=~\"10\\\\.0\\\\.0\\\\.7:80\"} {{other}} {{canary");
	expand_is("no placeholders", "no placeholders");

	assert_int_equal(sw_promql_expand("up{i=~\"{{canary}}\"}", v6, 1, none, 0, &b, &err), 0);
	assert_string_equal(b.data, "up{i=~\"\\\\[::1\\\\]:9090\"}");
	sw_buf_reset(&b);
	assert_int_equal(sw_promql_expand("up{i=~\"{{stable}}\"}", v6, 1, none, 0, &b, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_string_equal(err.msg, "the query uses {{stable}}, but there are no stable instances");
	sw_buf_reset(&b);
	assert_int_equal(sw_promql_expand("{{canary}}", bad, 1, none, 0, &b, &err), -1);
	assert_string_equal(err.msg, "bad canary instance address 'a b'");
	sw_buf_reset(&b);
	assert_int_equal(sw_promql_expand("{{canary}}", bad2, 1, none, 0, &b, &err), -1);
	sw_buf_release(&b);
	assert_true(sw_promql_addr_ok("host-1.example.com:8080"));
	assert_false(sw_promql_addr_ok(""));
	assert_false(sw_promql_addr_ok("a|b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded_answers),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_long_metric_is_cut),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_expand),
	};

	return cmocka_run_group_tests_name("analysis_promql", tests, NULL, NULL);
}
