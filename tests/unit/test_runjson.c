/*
 * test_runjson.c - unit tests for rollout/runjson.c: a slipway.yml's run
 * and environment sections turned into the JSON stored with a deployment,
 * and that the agent's parser (agent/runspec.c) reads the run JSON back to
 * the same values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/runspec.h"
#include "base/err.h"
#include "rollout/runjson.h"
#include "spec/spec.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char spec_text[] =
	"service: hello\n"
	"run:\n"
	"  command: ./dist/hello --port ${PORT}\n"
	"  env: { GREETING: hi, HELLO_UNHEALTHY: \"1\" }\n"
	"  health: { http: /healthz, interval: 200ms, timeout: 1s, retries: 2, start_period: 3s }\n"
	"  stop: { signal: INT, grace: 4s }\n"
	"  hooks: { before_install: echo a, validate: test -x dist/hello, timeout: 7s }\n"
	"  keep_releases: 5\n"
	"environments:\n"
	"  staging:\n"
	"    hosts: { env: staging, region: eu }\n"
	"    progress_deadline: 2m\n"
	"    strategy:\n"
	"      rolling: { batch: 25%, max_unavailable: 2, min_healthy: 50%, health_timeout: 30s }\n"
	"  prod:\n"
	"    hosts: { env: prod }\n"
	"    strategy:\n"
	"      blue_green:\n"
	"        smoke: ./smoke.sh\n"
	"        keep_old: 5m\n"
	"        traffic: { haproxy: { socket: 127.0.0.1:9999, backend: hello } }\n";

static struct sw_spec *load(const char *text)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_spec *s = sw_spec_parse("slipway.yml", text, strlen(text), &err);

	if (!s)
		fail_msg("spec: %s: %s", err.where, err.msg);
	return s;
}

static void test_run(void **state)
{
	struct sw_spec *s = load(spec_text);
	json_t *r = sw_runjson_run(s->run), *h, *hooks;

	(void)state;
	assert_string_equal(json_string_value(json_object_get(r, "command")), "./dist/hello --port ${PORT}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "env"), "GREETING")), "hi");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "env"), "HELLO_UNHEALTHY")), "1");
	h = json_object_get(r, "health");
	assert_string_equal(json_string_value(json_object_get(h, "kind")), "http");
	assert_string_equal(json_string_value(json_object_get(h, "target")), "/healthz");
	assert_int_equal(json_integer_value(json_object_get(h, "interval_ms")), 200);
	assert_int_equal(json_integer_value(json_object_get(h, "timeout_ms")), 1000);
	assert_int_equal(json_integer_value(json_object_get(h, "retries")), 2);
	assert_int_equal(json_integer_value(json_object_get(h, "start_period_ms")), 3000);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "stop"), "signal")), "INT");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "stop"), "grace_ms")), 4000);
	hooks = json_object_get(r, "hooks");
	assert_string_equal(json_string_value(json_object_get(hooks, "before_install")), "echo a");
	assert_string_equal(json_string_value(json_object_get(hooks, "validate")), "test -x dist/hello");
	assert_null(json_object_get(hooks, "after_install"));
	assert_int_equal(json_integer_value(json_object_get(hooks, "timeout_ms")), 7000);
	assert_int_equal(json_integer_value(json_object_get(r, "keep_releases")), 5);
	json_decref(r);
	sw_spec_free(s);
}

static void test_run_defaults(void **state)
{
	struct sw_spec *s = load("service: x\nrun:\n  command: ./x\n");
	json_t *r = sw_runjson_run(s->run);

	(void)state;
	assert_null(json_object_get(r, "health")); /* no check: the agent's default */
	assert_int_equal(json_object_size(json_object_get(r, "env")), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "stop"), "signal")), "TERM");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "stop"), "grace_ms")), 10000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "hooks"), "timeout_ms")), 300000);
	assert_int_equal(json_integer_value(json_object_get(r, "keep_releases")), 3);
	json_decref(r);
	sw_spec_free(s);

	s = load("service: x\nrun:\n  command: ./x\n  health: { tcp: true, interval: 1s, timeout: 1s }\n");
	r = sw_runjson_run(s->run);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "health"), "kind")), "tcp");
	assert_true(json_is_null(json_object_get(json_object_get(r, "health"), "target")));
	json_decref(r);
	sw_spec_free(s);
}

static void test_agent_reads_it(void **state)
{
	struct sw_spec *s = load(spec_text);
	json_t *r = sw_runjson_run(s->run);
	struct sw_err err = SW_ERR_INIT;
	struct sw_runspec *rs = sw_runspec_parse(r, &err);
	size_t i;
	int found = 0;

	(void)state;
	if (!rs)
		fail_msg("runspec: %s", err.msg);
	assert_string_equal(rs->command, "./dist/hello --port ${PORT}");
	assert_int_equal(rs->health, SW_RUNSPEC_HEALTH_HTTP);
	assert_string_equal(rs->health_target, "/healthz");
	assert_int_equal(rs->health_interval_ms, 200);
	assert_int_equal(rs->health_timeout_ms, 1000);
	assert_int_equal(rs->health_retries, 2);
	assert_int_equal(rs->health_start_period_ms, 3000);
	assert_int_equal(rs->stop_signal, SIGINT);
	assert_int_equal(rs->stop_grace_ms, 4000);
	assert_string_equal(rs->before_install, "echo a");
	assert_null(rs->after_install);
	assert_int_equal(rs->hook_timeout_ms, 7000);
	assert_int_equal(rs->keep_releases, 5);
	for (i = 0; i < rs->nenv; i++)
		if (!strcmp(rs->env[i].name, "GREETING") && !strcmp(rs->env[i].value, "hi"))
			found = 1;
	assert_true(found);
	sw_runspec_free(rs);
	json_decref(r);
	sw_spec_free(s);
}

static void test_env(void **state)
{
	struct sw_spec *s = load(spec_text);
	json_t *e = sw_runjson_env(&s->envs[sw_spec_env_index(s, "staging")]), *r;

	(void)state;
	assert_string_equal(json_string_value(json_object_get(e, "name")), "staging");
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "selector"), "region")), "eu");
	assert_string_equal(json_string_value(json_object_get(e, "strategy")), "rolling");
	assert_int_equal(json_integer_value(json_object_get(e, "progress_deadline_ms")), 120000);
	assert_int_equal(json_integer_value(json_object_get(e, "health_timeout_ms")), 30000);
	r = json_object_get(e, "rolling");
	assert_string_equal(json_string_value(json_object_get(r, "batch")), "25%");
	assert_int_equal(json_integer_value(json_object_get(r, "max_unavailable")), 2);
	assert_string_equal(json_string_value(json_object_get(r, "min_healthy")), "50%");
	assert_true(json_is_null(json_object_get(e, "traffic")));
	json_decref(e);

	e = sw_runjson_env(&s->envs[sw_spec_env_index(s, "prod")]);
	assert_string_equal(json_string_value(json_object_get(e, "strategy")), "blue_green");
	assert_int_equal(json_integer_value(json_object_get(e, "progress_deadline_ms")), 600000);
	assert_int_equal(json_integer_value(json_object_get(e, "health_timeout_ms")), 300000);
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "blue_green"), "smoke")),
			    "./smoke.sh");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "blue_green"), "keep_old_ms")), 300000);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(json_object_get(e, "traffic"), "haproxy"), "socket")),
		"127.0.0.1:9999");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(json_object_get(e, "traffic"), "haproxy"), "backend")),
		"hello");
	json_decref(e);
	sw_spec_free(s);
}


/* An analysis as the deployment record stores it, and read back as the canary uses it. */
static void test_analysis_round_trip(void **state)
{
	static const char text[] =
		"service: hello\n"
		"run: { command: ./x }\n"
		"analysis:\n"
		"  errors:\n"
		"    provider: { haproxy: {} }\n"
		"    interval: 250ms\n"
		"    count: 7\n"
		"    initial_delay: 2s\n"
		"    success: error_rate < 0.01\n"
		"    failure: error_rate > 0.05\n"
		"    failure_limit: 2\n"
		"    inconclusive_limit: 3\n"
		"  probe:\n"
		"    provider: { http: { url: \"http://{{canary}}/stats\", expect_status: 204, json_field: data.ok } }\n"
		"    success: result == true\n";
	struct sw_spec *s = load(text);
	struct sw_spec_analysis a, b;
	json_t *j, *text_j;
	char *dump;

	(void)state;
	j = sw_runjson_analysis(&s->analyses[sw_spec_analysis_index(s, "errors")]);
	/* Through text, as the store keeps it. */
	dump = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	text_j = json_loads(dump, 0, NULL);
	free(dump);
	assert_int_equal(sw_runjson_analysis_read(text_j, &a), 0);
	assert_string_equal(a.name, "errors");
	assert_int_equal(a.provider, SW_PROVIDER_HAPROXY);
	assert_int_equal(a.interval_ms, 250);
	assert_int_equal(a.count, 7);
	assert_int_equal(a.initial_delay_ms, 2000);
	assert_string_equal(a.success, "error_rate < 0.01");
	assert_string_equal(a.failure, "error_rate > 0.05");
	assert_int_equal(a.failure_limit, 2);
	assert_int_equal(a.inconclusive_limit, 3);
	assert_false(a.dry_run);
	assert_null(a.url);
	json_decref(text_j);
	j = sw_runjson_analysis(&s->analyses[sw_spec_analysis_index(s, "probe")]);
	assert_int_equal(sw_runjson_analysis_read(j, &b), 0);
	assert_int_equal(b.provider, SW_PROVIDER_HTTP);
	assert_string_equal(b.url, "http://{{canary}}/stats");
	assert_int_equal(b.expect_status, 204);
	assert_string_equal(b.json_field, "data.ok");
	assert_null(b.failure);
	/* Not an analysis. */
	json_object_set_new(j, "provider", json_string("carrier-pigeon"));
	assert_int_equal(sw_runjson_analysis_read(j, &b), -1);
	assert_int_equal(sw_runjson_analysis_read(NULL, &b), -1);
	json_decref(j);
	sw_spec_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_run_defaults),
		cmocka_unit_test(test_agent_reads_it),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_analysis_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
