/*
 * test_agent_runspec.c - unit tests for src/agent/runspec (the run object
 * of a desired row, in the server's resolved shape and in the slipway.yml
 * shape) and src/agent/desired (the desired-state document).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/desired.h"
#include "agent/runspec.h"
#include "base/hash.h"

#include <signal.h>
#include <string.h>

static struct sw_runspec *parse(const char *text, struct sw_err *err)
{
	return sw_runspec_parse_text(text, strlen(text), err);
}

/* The shape rollout/runjson.c writes. */
static void test_resolved_shape(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_runspec *rs, *copy;

	(void)state;
	rs = parse("{\"command\": \"./dist/hello --port ${PORT}\", \"env\": {\"A\": \"1\", \"B\": \"two\"},"
		   " \"health\": {\"kind\": \"http\", \"target\": \"/healthz\", \"interval_ms\": 1000, \"timeout_ms\": 2000,"
		   " \"retries\": 5, \"start_period_ms\": 3000},"
		   " \"stop\": {\"signal\": \"INT\", \"grace_ms\": 7000},"
		   " \"hooks\": {\"timeout_ms\": 4000, \"validate\": \"true\", \"before_start\": \"echo hi\"},"
		   " \"keep_releases\": 4}",
		   &err);
	assert_non_null(rs);
	assert_string_equal(rs->command, "./dist/hello --port ${PORT}");
	assert_int_equal(rs->nenv, 2);
	assert_true(!strcmp(rs->env[0].name, "A") || !strcmp(rs->env[1].name, "A"));
	assert_int_equal(rs->health, SW_RUNSPEC_HEALTH_HTTP);
	assert_string_equal(rs->health_target, "/healthz");
	assert_int_equal(rs->health_interval_ms, 1000);
	assert_int_equal(rs->health_timeout_ms, 2000);
	assert_int_equal(rs->health_retries, 5);
	assert_int_equal(rs->health_start_period_ms, 3000);
	assert_int_equal(rs->stop_signal, SIGINT);
	assert_int_equal(rs->stop_grace_ms, 7000);
	assert_int_equal(rs->hook_timeout_ms, 4000);
	assert_string_equal(rs->validate, "true");
	assert_string_equal(rs->before_start, "echo hi");
	assert_null(rs->before_install);
	assert_int_equal(rs->keep_releases, 4);
	assert_true(sw_is_sha256_hex(rs->digest));
	/* A clone is equal and independent. */
	copy = sw_runspec_clone(rs, &err);
	assert_non_null(copy);
	assert_string_equal(copy->digest, rs->digest);
	assert_string_equal(copy->command, rs->command);
	assert_ptr_not_equal(copy->command, rs->command);
	sw_runspec_free(rs);
	assert_string_equal(copy->health_target, "/healthz");
	sw_runspec_free(copy);

	/* TCP with a null target, as written for tcp. */
	rs = parse("{\"command\": \"x\", \"health\": {\"kind\": \"tcp\", \"target\": null, \"interval_ms\": 500,"
		   " \"timeout_ms\": 100, \"retries\": 3, \"start_period_ms\": 0}}",
		   &err);
	assert_non_null(rs);
	assert_int_equal(rs->health, SW_RUNSPEC_HEALTH_TCP);
	assert_null(rs->health_target);
	sw_runspec_free(rs);
}

/* The slipway.yml shape, with duration strings. */
static void test_yaml_shape_and_defaults(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_runspec *rs, *rs2;

	(void)state;
	rs = parse("{\"command\": \"run\", \"health\": {\"command\": \"test -f ok\", \"interval\": \"250ms\","
		   " \"timeout\": \"1s\", \"start_period\": \"1m\"}, \"stop\": {\"signal\": \"SIGQUIT\", \"grace\": \"2s\"},"
		   " \"hooks\": {\"timeout\": \"5s\"}, \"env\": [{\"name\": \"X\", \"value\": \"y\"}]}",
		   &err);
	assert_non_null(rs);
	assert_int_equal(rs->health, SW_RUNSPEC_HEALTH_COMMAND);
	assert_string_equal(rs->health_target, "test -f ok");
	assert_int_equal(rs->health_interval_ms, 250);
	assert_int_equal(rs->health_start_period_ms, 60000);
	assert_int_equal(rs->stop_signal, SIGQUIT);
	assert_int_equal(rs->stop_grace_ms, 2000);
	assert_int_equal(rs->hook_timeout_ms, 5000);
	assert_int_equal(rs->nenv, 1);
	assert_string_equal(rs->env[0].value, "y");
	sw_runspec_free(rs);

	rs = parse("{\"command\": \"run\"}", &err);
	assert_non_null(rs);
	assert_int_equal(rs->health, SW_RUNSPEC_HEALTH_NONE);
	assert_int_equal(rs->stop_signal, SIGTERM);
	assert_int_equal(rs->stop_grace_ms, 10000);
	assert_int_equal(rs->hook_timeout_ms, 300000);
	assert_int_equal(rs->keep_releases, 3);
	assert_int_equal(rs->health_retries, 3);
	/* Key order does not change the digest; content does. */
	rs2 = parse("{\"keep_releases\": 3, \"command\": \"run\"}", &err);
	assert_non_null(rs2);
	assert_string_not_equal(rs->digest, rs2->digest);
	sw_runspec_free(rs2);
	rs2 = parse("{ \"command\" : \"run\" }", &err);
	assert_string_equal(rs->digest, rs2->digest);
	sw_runspec_free(rs2);
	sw_runspec_free(rs);
	/* Unknown fields are ignored. */
	rs = parse("{\"command\": \"run\", \"future\": {\"x\": 1}}", &err);
	assert_non_null(rs);
	sw_runspec_free(rs);
}

static void expect_bad(const char *text, const char *needle)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_runspec *rs = parse(text, &err);

	assert_null(rs);
	assert_int_equal(err.code, SW_EINPUT);
	if (!strstr(err.msg, needle))
		fail_msg("'%s': message '%s' lacks '%s'", text, err.msg, needle);
}

static void test_bad_run(void **state)
{
	(void)state;
	expect_bad("[]", "'run' must be an object");
	expect_bad("{}", "run.command");
	expect_bad("{\"command\": 3}", "run.command");
	expect_bad("{\"command\": \"\"}", "run.command");
	expect_bad("{\"command\": \"x\", \"env\": {\"1A\": \"x\"}}", "valid variable name");
	expect_bad("{\"command\": \"x\", \"env\": {\"A\": 1}}", "run.env.A");
	expect_bad("{\"command\": \"x\", \"health\": {\"http\": \"healthz\"}}", "run.health.http");
	expect_bad("{\"command\": \"x\", \"health\": {\"http\": \"/h\", \"tcp\": true}}", "only one");
	expect_bad("{\"command\": \"x\", \"health\": {\"kind\": \"udp\"}}", "run.health.kind");
	expect_bad("{\"command\": \"x\", \"health\": {\"tcp\": true, \"interval\": \"soon\"}}", "run.health.interval");
	expect_bad("{\"command\": \"x\", \"health\": {\"tcp\": true, \"interval\": -5}}", "run.health.interval");
	expect_bad("{\"command\": \"x\", \"health\": {\"tcp\": true, \"interval\": 0}}", "greater than 0");
	expect_bad("{\"command\": \"x\", \"health\": {\"tcp\": true, \"retries\": 0}}", "run.health.retries");
	expect_bad("{\"command\": \"x\", \"stop\": {\"signal\": \"STOP\"}}", "signal");
	expect_bad("{\"command\": \"x\", \"stop\": {\"grace\": \"forever\"}}", "run.stop.grace");
	expect_bad("{\"command\": \"x\", \"hooks\": {\"validate\": 1}}", "run.hooks.validate");
	expect_bad("{\"command\": \"x\", \"keep_releases\": 0}", "run.keep_releases");
	expect_bad("{\"command\": \"x\", \"keep_releases\": \"3\"}", "run.keep_releases");
}

static void test_signal_names(void **state)
{
	(void)state;
	assert_int_equal(sw_runspec_signal("TERM"), SIGTERM);
	assert_int_equal(sw_runspec_signal("sigkill"), SIGKILL);
	assert_int_equal(sw_runspec_signal("USR2"), SIGUSR2);
	assert_int_equal(sw_runspec_signal("STOP"), -1);
	assert_int_equal(sw_runspec_signal(""), -1);
}

#define DIG "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_desired(void **state)
{
	const char *doc = "{\"generation\": 7, \"heartbeat_ms\": 1000, \"services\": ["
			  " {\"service\": \"hello\", \"slots\": ["
			  "   {\"slot\": \"a\", \"digest\": \"" DIG "\", \"port\": 8001, \"active\": true,"
			  "    \"run\": {\"command\": \"./hello\"}},"
			  "   {\"slot\": \"b\", \"digest\": \"sha256:" DIG "\", \"port\": 8002, \"active\": false,"
			  "    \"run\": {\"command\": 5}}]},"
			  " {\"service\": \"other\", \"slots\": []}]}";
	struct sw_err err = SW_ERR_INIT;
	struct sw_desired d;

	(void)state;
	assert_int_equal(sw_desired_parse(doc, strlen(doc), &d, &err), 0);
	assert_int_equal(d.generation, 7);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.rows[0].service, "hello");
	assert_int_equal(d.rows[0].slot, 'a');
	assert_int_equal(d.rows[0].port, 8001);
	assert_true(d.rows[0].active);
	assert_non_null(d.rows[0].claim); /* an older server's run: kept as a claim */
	assert_false(d.rows[0].invalid);
	assert_string_equal(d.rows[1].digest, DIG); /* prefix dropped */
	assert_false(d.rows[1].active);
	assert_null(d.rows[1].claim); /* invalid run: kept, with the reason */
	assert_true(d.rows[1].invalid);
	assert_false(d.rows[1].refused);
	assert_non_null(strstr(d.rows[1].error, "run.command"));
	sw_desired_release(&d);

	/* What a current server sends: no run at all. */
	doc = "{\"generation\": 8, \"services\": [{\"service\": \"hello\", \"slots\": ["
	      " {\"slot\": \"a\", \"digest\": \"" DIG "\", \"port\": 8001, \"active\": true}]}]}";
	assert_int_equal(sw_desired_parse(doc, strlen(doc), &d, &err), 0);
	assert_int_equal(d.n, 1);
	assert_null(d.rows[0].claim);
	assert_false(d.rows[0].invalid);
	sw_desired_release(&d);

	doc = "{\"generation\": 0, \"services\": []}";
	assert_int_equal(sw_desired_parse(doc, strlen(doc), &d, &err), 0);
	assert_int_equal(d.n, 0);
	sw_desired_release(&d);
}

/* A row may set slot, digest, port and active only: anything else is refused for that slot. */
static void test_desired_allow_list(void **state)
{
	static const char *const foreign[] = { "command", "env", "hooks", "health", "stop" };
	struct sw_err err = SW_ERR_INIT;
	struct sw_desired d;
	char doc[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
		snprintf(doc, sizeof(doc),
			 "{\"generation\": 1, \"services\": [{\"service\": \"hello\", \"slots\": ["
			 " {\"slot\": \"a\", \"digest\": \"" DIG "\", \"port\": 8001, \"%s\": \"touch /tmp/x\"},"
			 " {\"slot\": \"b\", \"digest\": \"" DIG "\", \"port\": 8002}]}]}",
			 foreign[i]);
		assert_int_equal(sw_desired_parse(doc, strlen(doc), &d, &err), 0);
		assert_int_equal(d.n, 2);
		assert_true(d.rows[0].invalid);
		assert_true(d.rows[0].refused);
		assert_null(d.rows[0].claim);
		assert_non_null(strstr(d.rows[0].error, foreign[i]));
		assert_non_null(strstr(d.rows[0].error, "not one the server may set"));
		assert_false(d.rows[1].invalid); /* the other slot is fine */
		sw_desired_release(&d);
	}
}

static void expect_bad_doc(const char *doc, const char *needle)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_desired d;

	assert_int_equal(sw_desired_parse(doc, strlen(doc), &d, &err), -1);
	assert_int_equal(d.n, 0);
	assert_null(d.rows);
	if (!strstr(err.msg, needle))
		fail_msg("'%s': message '%s' lacks '%s'", doc, err.msg, needle);
}

static void test_desired_bad(void **state)
{
	(void)state;
	expect_bad_doc("nope", "invalid JSON");
	expect_bad_doc("{\"services\": []}", "generation");
	expect_bad_doc("{\"generation\": -1}", "generation");
	expect_bad_doc("{\"generation\": 1, \"services\": {}}", "'services' must be an array");
	expect_bad_doc("{\"generation\": 1, \"services\": [{\"service\": \"Bad_Name\", \"slots\": []}]}", "services[0].service");
	expect_bad_doc("{\"generation\": 1, \"services\": [{\"service\": \"ok\"}]}", "services[0].slots");
	expect_bad_doc("{\"generation\": 1, \"services\": [{\"service\": \"ok\", \"slots\": [{\"slot\": \"c\"}]}]}",
		       "slots[0].slot");
	expect_bad_doc("{\"generation\": 1, \"services\": [{\"service\": \"ok\", \"slots\": [{\"slot\": \"a\", \"digest\": \"abc\"}]}]}",
		       "slots[0].digest");
	expect_bad_doc("{\"generation\": 1, \"services\": [{\"service\": \"ok\", \"slots\": [{\"slot\": \"a\", \"digest\": \"" DIG
		       "\", \"port\": 70000}]}]}",
		       "slots[0].port");
	expect_bad_doc("{\"generation\": 1, \"services\": [{\"service\": \"ok\", \"slots\": ["
		       "{\"slot\": \"a\", \"digest\": \"" DIG "\", \"port\": 1, \"run\": {\"command\": \"x\"}},"
		       "{\"slot\": \"a\", \"digest\": \"" DIG "\", \"port\": 2, \"run\": {\"command\": \"x\"}}]}]}",
		       "appears twice");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolved_shape),
		cmocka_unit_test(test_yaml_shape_and_defaults),
		cmocka_unit_test(test_bad_run),
		cmocka_unit_test(test_signal_names),
		cmocka_unit_test(test_desired),
		cmocka_unit_test(test_desired_allow_list),
		cmocka_unit_test(test_desired_bad),
	};
	sw_hash_global_init();
	return cmocka_run_group_tests_name("agent_runspec", tests, NULL, NULL);
}
