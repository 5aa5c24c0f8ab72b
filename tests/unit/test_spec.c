/*
 * test_spec.c - unit tests for src/spec: the slipway.yml loader.
 *
 * Good specs are checked field by field; every error class is checked with
 * its exact file:line:col and message, both inline here and through the
 * golden files in tests/data/spec/bad/ (each starts with
 * "# expect: LINE:COL: message"). Run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "spec/spec.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATA "tests/data/spec"

static struct sw_spec *parse(const char *yaml, struct sw_err *err)
{
	sw_err_clear(err);
	return sw_spec_parse("slipway.yml", yaml, strlen(yaml), err);
}

/* The spec must fail with exactly "slipway.yml:<where>" and msg. */
static void check_error(const char *yaml, const char *where, const char *msg)
{
	struct sw_err err = SW_ERR_INIT;
	char want[256];
	struct sw_spec *s = parse(yaml, &err);

	if (s)
		fail_msg("accepted, expected error %s: %s\n---\n%s", where, msg, yaml);
	snprintf(want, sizeof(want), "slipway.yml:%s", where);
	if (strcmp(err.where, want) || strcmp(err.msg, msg))
		fail_msg("got      %s: %s\nexpected %s: %s\n---\n%s", err.where, err.msg, want, msg, yaml);
	assert_int_equal(err.code, SW_EINPUT);
}

static struct sw_spec *must_parse(const char *yaml)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_spec *s = parse(yaml, &err);

	if (!s)
		fail_msg("rejected: %s: %s\n---\n%s", err.where, err.msg, yaml);
	return s;
}

static const struct sw_spec_job *job(const struct sw_spec *s, const char *name)
{
	long i = sw_spec_job_index(s, name);

	if (i < 0)
		fail_msg("no job '%s'", name);
	return &s->jobs[i];
}

static const char *env_value(const struct sw_spec_kv *kv, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(kv[i].key, key))
			return kv[i].value;
	return NULL;
}

static void test_minimal_and_defaults(void **state)
{
	struct sw_spec *s;
	const struct sw_spec_job *j;

	(void)state;
	s = must_parse("service: web\nbuild:\n  jobs:\n    build:\n      steps: [make]\n");
	assert_string_equal(s->service, "web");
	assert_null(s->version);
	assert_string_equal(s->path, "slipway.yml");
	assert_string_equal(s->dir, ".");
	assert_null(s->run);
	assert_int_equal(s->nenvs, 0);
	assert_int_equal(s->nanalyses, 0);
	assert_int_equal(s->njobs, 1);
	j = &s->jobs[0];
	assert_string_equal(j->name, "build");
	assert_string_equal(j->base_name, "build");
	assert_string_equal(j->workdir, ".");
	assert_int_equal(j->timeout_ms, 30 * 60 * 1000);
	assert_int_equal(j->retries, 0);
	assert_int_equal(j->nsteps, 1);
	assert_string_equal(j->steps[0].run, "make");
	assert_string_equal(j->steps[0].name, "make");
	assert_int_equal(j->steps[0].timeout_ms, 0);
	assert_int_equal(j->steps[0].loc.line, 5);
	assert_int_equal(j->steps[0].loc.col, 15);
	assert_int_equal(j->loc.line, 4);
	assert_int_equal(j->loc.col, 5);
	assert_int_equal(j->ndeps + j->nneeds + j->nenv + j->ncache + j->nreports + j->noutputs + j->nsecrets, 0);
	sw_spec_free(s);

	/* a service alone is a valid spec; dir comes from the path */
	{
		struct sw_err err = SW_ERR_INIT;

		s = sw_spec_parse("repo/sub/slipway.yml", "service: a-1\n", 13, &err);
		assert_non_null(s);
		assert_string_equal(s->dir, "repo/sub");
		assert_int_equal(s->njobs, 0);
		sw_spec_free(s);
		s = sw_spec_parse("/slipway.yml", "service: a\n", 11, &err);
		assert_non_null(s);
		assert_string_equal(s->dir, "/");
		sw_spec_free(s);
	}
}

static char *read_data(const char *rel)
{
	struct sw_buf b = SW_BUF_INIT(SW_SPEC_MAX_BYTES + 1);
	struct sw_err err = SW_ERR_INIT;

	if (sw_fs_read_file(rel, SW_SPEC_MAX_BYTES, &b, &err) < 0)
		fail_msg("%s (run the tests from the repository root)", err.msg);
	return sw_buf_detach(&b, NULL);
}

static void test_full_spec(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_spec *s = sw_spec_load(DATA "/good/full.yml", &err);
	const struct sw_spec_job *j, *t;
	const struct sw_spec_env *e;
	const struct sw_spec_analysis *a;
	static const char *const order[] = { "lint", "build", "test[os=debian,py=3.11]", "test[os=debian,py=3.12]",
					     "test[os=alpine,py=3.11]", "test[os=alpine,py=3.12]", "package" };
	size_t i;

	(void)state;
	if (!s)
		fail_msg("%s: %s", err.where, err.msg);
	assert_string_equal(s->service, "checkout");
	assert_string_equal(s->version, "1.4.0");
	assert_string_equal(s->dir, DATA "/good");

	/* secrets */
	assert_int_equal(s->nsecrets, 2);
	assert_string_equal(s->secrets[0].name, "NPM_TOKEN");
	assert_int_equal(s->secrets[0].source, SW_SECRET_ENV);
	assert_string_equal(s->secrets[0].from, "CI_NPM_TOKEN");
	assert_int_equal(s->secrets[1].source, SW_SECRET_FILE);
	assert_string_equal(s->secrets[1].from, ".secrets/signing.key");

	/* jobs: topological, file order kept where possible, matrix expanded */
	assert_int_equal(s->njobs, SW_ARRAY_LEN(order));
	for (i = 0; i < SW_ARRAY_LEN(order); i++)
		assert_string_equal(s->jobs[i].name, order[i]);
	j = job(s, "package");
	assert_int_equal(j->nneeds, 2);
	assert_string_equal(j->needs[0], "test");
	assert_int_equal(j->ndeps, 5); /* four test expansions + lint */
	for (i = 0; i < 4; i++)
		assert_string_equal(s->jobs[j->deps[i]].base_name, "test");
	assert_string_equal(s->jobs[j->deps[4]].name, "lint");
	assert_string_equal(j->steps[0].name, "bundle");
	assert_int_equal(j->steps[0].timeout_ms, 5 * 60000);
	assert_int_equal(j->noutputs, 2);
	assert_string_equal(j->outputs[0], "dist/");

	t = job(s, "test[os=alpine,py=3.12]");
	assert_string_equal(t->base_name, "test");
	assert_int_equal(t->ndeps, 1);
	assert_string_equal(s->jobs[t->deps[0]].name, "build");
	assert_string_equal(env_value(t->env, t->nenv, "PORT"), "8080");
	assert_string_equal(env_value(t->env, t->nenv, "DEBUG"), "true");
	assert_string_equal(env_value(t->env, t->nenv, "MATRIX_OS"), "alpine");
	assert_string_equal(env_value(t->env, t->nenv, "MATRIX_PY"), "3.12");
	assert_int_equal(t->nenv, 4);
	assert_string_equal(env_value(job(s, "test[os=debian,py=3.11]")->env, 4, "MATRIX_OS"), "debian");
	assert_int_equal(t->nsecrets, 1);
	assert_string_equal(t->secrets[0], "NPM_TOKEN");
	assert_string_equal(t->workdir, "src/..");
	assert_int_equal(t->timeout_ms, 600000);
	assert_int_equal(t->retries, 2);
	assert_int_equal(t->ncache, 2);
	assert_string_equal(t->cache[1], "tests/**/*.py");
	assert_string_equal(t->reports[0], "build/junit.xml");
	assert_int_equal(t->nsteps, 2);
	assert_string_equal(t->steps[1].run, "echo multi\necho line\n");
	assert_string_equal(t->steps[1].name, "echo multi");
	for (i = 0; i < s->njobs; i++) /* every job after all it needs */
		for (size_t k = 0; k < s->jobs[i].ndeps; k++)
			assert_true(s->jobs[i].deps[k] < i);

	/* run */
	assert_non_null(s->run);
	assert_string_equal(s->run->command, "./dist/checkout --port ${PORT}");
	assert_string_equal(env_value(s->run->env, s->run->nenv, "LOG_LEVEL"), "info");
	assert_int_equal(s->run->health.kind, SW_HEALTH_HTTP);
	assert_string_equal(s->run->health.target, "/healthz");
	assert_int_equal(s->run->health.interval_ms, 1000);
	assert_int_equal(s->run->health.timeout_ms, 2000);
	assert_int_equal(s->run->health.retries, 5);
	assert_int_equal(s->run->health.start_period_ms, 10000);
	assert_int_equal(s->run->stop_signal, SIGTERM);
	assert_int_equal(s->run->stop_grace_ms, 10000);
	assert_string_equal(s->run->hooks.validate, "curl -fsS localhost:${PORT}/healthz");
	assert_int_equal(s->run->hooks.timeout_ms, 120000);
	assert_int_equal(s->run->keep_releases, 5);

	/* environments */
	assert_int_equal(s->nenvs, 4);
	e = &s->envs[0];
	assert_string_equal(e->name, "staging");
	assert_null(e->after);
	assert_int_equal(e->strategy, SW_STRATEGY_ROLLING);
	assert_true(e->rolling.batch.percent);
	assert_int_equal(e->rolling.batch.value, 25);
	assert_false(e->rolling.max_unavailable.percent);
	assert_int_equal(e->rolling.max_unavailable.value, 1);
	assert_int_equal(e->rolling.min_healthy.value, 50);
	assert_int_equal(e->rolling.health_timeout_ms, 120000);
	assert_string_equal(e->rolling.traffic.haproxy_socket, "/run/haproxy/staging.sock");
	assert_string_equal(e->rolling.traffic.haproxy_backend, "checkout");
	assert_int_equal(e->progress_deadline_ms, 600000);

	e = &s->envs[1];
	assert_string_equal(e->name, "prod");
	assert_string_equal(e->after, "staging");
	assert_int_equal(e->after_index, 0);
	assert_int_equal(e->nhosts, 2);
	assert_string_equal(e->hosts[1].key, "region");
	assert_string_equal(e->hosts[1].value, "eu-west");
	assert_int_equal(e->progress_deadline_ms, 15 * 60000);
	assert_int_equal(e->strategy, SW_STRATEGY_CANARY);
	assert_string_equal(e->canary.traffic.haproxy_socket, "/run/haproxy/admin.sock");
	assert_string_equal(e->canary.traffic.haproxy_backend, "checkout");
	assert_int_equal(e->canary.ntemplates, 1);
	assert_string_equal(e->canary.templates[0], "latency");
	assert_int_equal(e->canary.template_index[0], 1);
	assert_int_equal(e->canary.start_at_step, 1);
	assert_int_equal(e->canary.nsteps, 7);
	assert_int_equal(e->canary.steps[0].kind, SW_CANARY_INSTANCES);
	assert_int_equal(e->canary.steps[0].instances.value, 1);
	assert_int_equal(e->canary.steps[1].kind, SW_CANARY_WEIGHT);
	assert_int_equal(e->canary.steps[1].weight, 5);
	assert_int_equal(e->canary.steps[2].kind, SW_CANARY_ANALYSIS);
	assert_string_equal(e->canary.steps[2].analysis, "errors");
	assert_int_equal(e->canary.steps[2].analysis_index, 0);
	assert_int_equal(e->canary.steps[4].kind, SW_CANARY_PAUSE);
	assert_int_equal(e->canary.steps[4].pause_ms, 120000);
	assert_false(e->canary.steps[4].pause_manual);
	assert_int_equal(e->canary.steps[5].kind, SW_CANARY_PAUSE);
	assert_true(e->canary.steps[5].pause_manual);
	assert_int_equal(e->canary.steps[6].weight, 100);

	e = &s->envs[2];
	assert_int_equal(e->strategy, SW_STRATEGY_RINGS);
	assert_int_equal(e->after_index, 1);
	assert_string_equal(e->rings.label, "ring");
	assert_int_equal(e->rings.norder, 3);
	assert_string_equal(e->rings.order[2], "all");
	assert_int_equal(e->rings.bake_ms, 30 * 60000);
	assert_string_equal(e->rings.analysis, "errors");
	assert_int_equal(e->rings.analysis_index, 0);
	assert_string_equal(e->rings.traffic.haproxy_backend, "edge");
	assert_string_equal(e->rings.traffic.haproxy_socket, "/run/haproxy/admin.sock");

	e = &s->envs[3];
	assert_int_equal(e->strategy, SW_STRATEGY_BLUE_GREEN);
	assert_string_equal(e->blue_green.smoke, "./smoke.sh");
	assert_int_equal(e->blue_green.keep_old_ms, 3600000);
	assert_string_equal(e->blue_green.traffic.haproxy_socket, "127.0.0.1:9999");
	assert_int_equal(sw_spec_env_index(s, "preview"), 3);
	assert_int_equal(sw_spec_env_index(s, "nope"), -1);

	/* analyses */
	assert_int_equal(s->nanalyses, 4);
	a = &s->analyses[0];
	assert_int_equal(a->provider, SW_PROVIDER_HAPROXY);
	assert_int_equal(a->interval_ms, 1000);
	assert_int_equal(a->count, 30);
	assert_string_equal(a->success, "error_rate < 0.01 and response_ms < 300");
	assert_string_equal(a->failure, "error_rate > 0.05");
	assert_int_equal(a->failure_limit, 2);
	assert_int_equal(a->success_loc.line, 99);
	assert_int_equal(a->success_loc.col, 5);
	a = &s->analyses[1];
	assert_int_equal(a->provider, SW_PROVIDER_PROMETHEUS);
	assert_string_equal(a->address, "http://127.0.0.1:9090");
	assert_int_equal(a->count, 0);
	assert_int_equal(a->initial_delay_ms, 60000);
	assert_int_equal(a->inconclusive_limit, 1);
	assert_true(a->dry_run);
	assert_false(s->analyses[0].dry_run);
	assert_null(a->failure);
	a = &s->analyses[2];
	assert_int_equal(a->provider, SW_PROVIDER_HTTP);
	assert_string_equal(a->url, "http://127.0.0.1:8080/stats");
	assert_int_equal(a->expect_status, 200);
	assert_string_equal(a->json_field, "data.ok");
	assert_int_equal(a->interval_ms, 30000);
	assert_int_equal(a->count, 1);
	a = &s->analyses[3];
	assert_int_equal(a->provider, SW_PROVIDER_COMMAND);
	assert_string_equal(a->command, "./check.sh");
	assert_int_equal(sw_spec_analysis_index(s, "script"), 3);
	sw_spec_free(s);
}

static void test_matrix_expansion(void **state)
{
	struct sw_spec *s;
	const struct sw_spec_job *j;
	size_t i;

	(void)state;
	s = must_parse("service: m\n"
		       "build:\n"
		       "  jobs:\n"
		       "    after:\n"
		       "      needs: [t]\n"
		       "      steps: [x]\n"
		       "    t:\n"
		       "      steps: [x]\n"
		       "      env: {A: b}\n"
		       "      matrix:\n"
		       "        os: [linux, mac]\n"
		       "        arch: [amd64, arm64, riscv]\n");
	assert_int_equal(s->njobs, 7);
	assert_string_equal(s->jobs[0].name, "t[os=linux,arch=amd64]");
	assert_string_equal(s->jobs[1].name, "t[os=linux,arch=arm64]");
	assert_string_equal(s->jobs[2].name, "t[os=linux,arch=riscv]");
	assert_string_equal(s->jobs[3].name, "t[os=mac,arch=amd64]");
	assert_string_equal(s->jobs[5].name, "t[os=mac,arch=riscv]");
	assert_string_equal(s->jobs[6].name, "after");
	for (i = 0; i < 6; i++) {
		j = &s->jobs[i];
		assert_string_equal(j->base_name, "t");
		assert_int_equal(j->nenv, 3);
		assert_string_equal(j->env[0].key, "A");
		assert_string_equal(j->env[1].key, "MATRIX_OS");
		assert_string_equal(j->env[2].key, "MATRIX_ARCH");
		assert_int_equal(j->ndeps, 0);
	}
	assert_string_equal(s->jobs[4].env[1].value, "mac");
	assert_string_equal(s->jobs[4].env[2].value, "arm64");
	j = job(s, "after");
	assert_int_equal(j->ndeps, 6);
	for (i = 0; i < 6; i++)
		assert_int_equal(j->deps[i], i);
	assert_int_equal(sw_spec_job_index(s, "t"), -1);
	assert_int_equal(sw_spec_job_index(s, "t[os=mac,arch=amd64]"), 3);
	sw_spec_free(s);

	/* exactly at the cap is fine; one more is not */
	s = must_parse("service: m\nbuild:\n  jobs:\n    t:\n      steps: [x]\n      matrix:\n"
		       "        a: [0,1,2,3,4,5,6,7,8,9]\n        b: [0,1,2,3,4,5,6,7,8,9]\n"
		       "        c: [0,1,2,3,4,5,6,7,8,9]\n        d: [0,1,2,3,4,5,6,7,8,9]\n");
	assert_int_equal(s->njobs, 10000);
	assert_string_equal(s->jobs[9999].name, "t[a=9,b=9,c=9,d=9]");
	sw_spec_free(s);
	check_error("service: m\nbuild:\n  jobs:\n    t:\n      steps: [x]\n      matrix:\n"
		    "        a: [0,1,2,3,4,5,6,7,8,9]\n        b: [0,1,2,3,4,5,6,7,8,9]\n"
		    "        c: [0,1,2,3,4,5,6,7,8,9]\n        d: [0,1,2,3,4,5,6,7,8,9]\n"
		    "    u:\n      steps: [x]\n      matrix: {a: [1]}\n",
		    "13:7", "matrix expansion makes more than 10000 jobs");
	check_error("service: m\nbuild:\n  jobs:\n    t:\n      steps: [x]\n      matrix: {os: [a/b]}\n", "6:21",
		    "bad matrix value 'a/b' (use letters, digits and _ . : + @ -, at most 63)");
	check_error("service: m\nbuild:\n  jobs:\n    t:\n      steps: [x]\n      matrix: {os: [a, b, a]}\n", "6:27",
		    "'a' is listed twice");
	check_error("service: m\nbuild:\n  jobs:\n    t:\n      steps: [x]\n      matrix: {}\n", "6:7",
		    "matrix needs at least one axis");
}

static void test_topological_order(void **state)
{
	struct sw_spec *s;
	size_t i;

	(void)state;
	/* ready jobs go in file order; a job waits only for what it needs */
	s = must_parse("service: o\nbuild:\n  jobs:\n"
		       "    deploy: {needs: [package, docs], steps: [x]}\n"
		       "    docs: {steps: [x]}\n"
		       "    package: {needs: [test], steps: [x]}\n"
		       "    test: {needs: [build], steps: [x]}\n"
		       "    lint: {steps: [x]}\n"
		       "    build: {steps: [x]}\n");
	{
		static const char *const want[] = { "docs", "lint", "build", "test", "package", "deploy" };

		assert_int_equal(s->njobs, 6);
		for (i = 0; i < 6; i++)
			assert_string_equal(s->jobs[i].name, want[i]);
	}
	assert_int_equal(job(s, "deploy")->ndeps, 2);
	assert_int_equal(job(s, "deploy")->deps[0], 4);
	assert_int_equal(job(s, "deploy")->deps[1], 0);
	sw_spec_free(s);

	/* a diamond */
	s = must_parse("service: o\nbuild:\n  jobs:\n"
		       "    a: {steps: [x]}\n    b: {needs: [a], steps: [x]}\n"
		       "    c: {needs: [a], steps: [x]}\n    d: {needs: [c, b], steps: [x]}\n");
	for (i = 0; i < 4; i++)
		assert_int_equal(s->jobs[i].name[0], "abcd"[i]);
	sw_spec_free(s);
}

static void test_cycles(void **state)
{
	(void)state;
	check_error("service: c\nbuild:\n  jobs:\n    a: {needs: [b], steps: [x]}\n    b: {needs: [a], steps: [x]}\n",
		    "4:17", "dependency cycle: a -> b -> a");
	check_error("service: c\nbuild:\n  jobs:\n    a: {needs: [a], steps: [x]}\n", "4:17", "dependency cycle: a -> a");
	/* the cycle is named from its first job in file order, even when reached from outside it */
	check_error("service: c\nbuild:\n  jobs:\n"
		    "    top: {needs: [z], steps: [x]}\n"
		    "    y: {needs: [ok, z], steps: [x]}\n"
		    "    z: {needs: [w], steps: [x]}\n"
		    "    w: {needs: [y], steps: [x]}\n"
		    "    ok: {steps: [x]}\n",
		    "5:21", "dependency cycle: y -> z -> w -> y");
	check_error("service: c\nenvironments:\n  a: {hosts: {e: a}, after: a}\n", "3:3",
		    "environment cycle in 'after': a -> a");
	check_error("service: c\nenvironments:\n  x: {hosts: {e: x}, after: a}\n  a: {hosts: {e: a}, after: b}\n"
		    "  b: {hosts: {e: b}, after: a}\n",
		    "4:3", "environment cycle in 'after': a -> b -> a");
}

static void test_errors_keys_and_types(void **state)
{
	(void)state;
	check_error("service: x\nbuild:\n  jbos:\n    a: {steps: [x]}\n", "3:3", "unknown key 'jbos' (did you mean 'jobs'?)");
	check_error("sevrice: x\n", "1:1", "unknown key 'sevrice' (did you mean 'service'?)");
	check_error("service: x\nbuild:\n  jobs:\n    a: {steps: [x], outptus: [a]}\n", "4:21",
		    "unknown key 'outptus' (did you mean 'outputs'?)");
	check_error("service: x\nbuild:\n  jobs:\n    a: {steps: [x], zzz: 1}\n", "4:21", "unknown key 'zzz'");
	check_error("service: x\nrun:\n  comand: x\n", "3:3", "unknown key 'comand' (did you mean 'command'?)");
	check_error("service: x\nbuild: [1]\n", "2:8", "expected a mapping, got a sequence");
	check_error("service: x\nbuild: hello\n", "2:8", "expected a mapping, got a string");
	check_error("service: [x]\n", "1:10", "expected a string, got a sequence");
	check_error("service: x\nbuild:\n  jobs:\n    a: {steps: x}\n", "4:16", "expected a sequence, got a string");
	check_error("service: x\nbuild:\n  jobs:\n    a: {steps: [[x]]}\n", "4:17",
		    "expected a command or a mapping with 'run', got a sequence");
	check_error("service: x\nbuild:\n  jobs:\n    a: {steps: [{name: n}]}\n", "4:17",
		    "missing required key 'run' in 'build.jobs.a.steps[0]'");
	check_error("service: x\nbuild:\n  jobs:\n    a: {steps: []}\n", "4:9", "job 'a' needs at least one step");
	check_error("build: {}\n", "1:1", "missing required key 'service'");
	check_error("", "1:1", "missing required key 'service'");
	check_error("service: x\nservice: y\n", "2:1", "duplicate key 'service' (first at 1:1)");
	check_error("service: x\nbuild:\n  jobs:\n    a: {steps: [x], retries: -1}\n", "4:30",
		    "expected an integer from 0 to 10, got '-1'");
	check_error("service: x\nbuild:\n  jobs:\n    a: {steps: [x], timeout: 10}\n", "4:30",
		    "bad duration '10' (use e.g. 250ms, 10s, 2m, 1h)");
	check_error("service: x\nbuild:\n  jobs:\n    a: {steps: [x], timeout: 1m1h}\n", "4:30",
		    "bad duration '1m1h' (use e.g. 250ms, 10s, 2m, 1h)");
	check_error("service: x\nbuild:\n  jobs:\n    a: {steps: [x], workdir: /tmp}\n", "4:30", "path '/tmp' must be relative");
	check_error("service: x\nbuild:\n  jobs:\n    a: {steps: [x], reports: [../r.xml]}\n", "4:31",
		    "path '../r.xml' leaves the repository");
	check_error("service: x\nbuild:\n  jobs:\n    a: {steps: [x], needs: [b]}\n    b: {steps: [x]}\n    c: {needs: [d], steps: [x]}\n",
		    "6:17", "unknown job 'd'");
	check_error("service: x\nbuild:\n  secrets:\n    K: {env: K}\n  jobs:\n    a: {steps: [x], secrets: [L]}\n", "6:31",
		    "unknown secret 'L'");
	check_error("service: x\nbuild:\n  secrets:\n    K: {}\n", "4:5", "expected exactly one of 'env' or 'file' in 'build.secrets.K'");
	check_error("service: x\nbuild:\n  secrets:\n    K: {env: 1X}\n", "4:14", "bad environment variable name '1X'");
	check_error("service: x\nversion: 1 2\n", "2:10", "bad version '1 2' (printable, no spaces or '/', at most 128 bytes; or {file: PATH} or {git: describe})");
	check_error("service: x\nbuild:\n  jobs:\n    " /* 64 characters */
		    "a123456789012345678901234567890123456789012345678901234567890123: {steps: [x]}\n",
		    "4:5", "bad job name 'a123456789012345678901234567890123456789012345678901234567890123' "
			   "(use letters, digits, '-', '_' and '.', at most 63)");
}

static void test_errors_yaml(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	char deep[300];
	size_t i;

	(void)state;
	check_error("service: x\n  bad: 1\n", "2:6", "bad YAML: mapping values are not allowed in this context");
	check_error("service: [x\n", "2:1", "bad YAML: did not find expected ',' or ']' (while parsing a flow sequence at 1:10)");
	check_error("service: x\nbuild: &b {}\n", "2:8", "aliases and anchors are not supported in slipway.yml");
	check_error("service: x\nx: *b\n", "2:4", "aliases and anchors are not supported in slipway.yml");
	check_error("service: !!binary eA==\n", "1:10", "tag 'tag:yaml.org,2002:binary' is not supported in slipway.yml");
	check_error("service: !!map x\n", "1:10", "tag 'tag:yaml.org,2002:map' is not supported in slipway.yml");
	check_error("service: x\n...\n---\nservice: y\n", "3:1", "slipway.yml must hold one YAML document");
	check_error("service: \"a\\0b\"\n", "1:10", "NUL bytes are not allowed in slipway.yml strings");
	check_error("service: x\n{a: 1}: 2\n", "2:1", "mapping keys must be strings");
	check_error("service: \"x\xff\"\n", "1:12", "bad YAML: invalid leading UTF-8 octet");
	/* the earliest error wins, even a duplicate key found before a syntax error */
	check_error("service: x\nservice: y\nbuild: [\n", "2:1", "duplicate key 'service' (first at 1:1)");
	check_error("a:\n  b: 1\n  b: 2\nc: 1\nc: 2\n", "3:3", "duplicate key 'b' (first at 2:3)");

	/* 64 levels are fine, 65 are not */
	memcpy(deep, "service: x\nbuild:\n  jobs: ", 26);
	for (i = 0; i < 2; i++) {
		size_t depth = 62 + i, n = 26, k; /* root + build + 62/63 */

		for (k = 0; k < depth; k++)
			deep[n++] = '[';
		for (k = 0; k < depth; k++)
			deep[n++] = ']';
		deep[n] = '\0';
		assert_null(parse(deep, &err));
		if (i == 0)
			assert_string_equal(err.msg, "expected a mapping, got a sequence");
		else
			assert_string_equal(err.msg, "nesting deeper than 64 levels");
	}
	/* plain scalars keep their text; null is "", ~ or null */
	{
		struct sw_spec *s = must_parse("service: x\nbuild:\n  jobs:\n    a:\n      steps: [x]\n"
					       "      env: {A: 1.50, B: yes, C: \"\", D: '~', E: 0x1F}\n");

		assert_string_equal(s->jobs[0].env[0].value, "1.50");
		assert_string_equal(s->jobs[0].env[1].value, "yes");
		assert_string_equal(s->jobs[0].env[2].value, "");
		assert_string_equal(s->jobs[0].env[3].value, "~");
		assert_string_equal(s->jobs[0].env[4].value, "0x1F");
		sw_spec_free(s);
	}
	check_error("service: x\nbuild:\n  jobs:\n    a:\n      steps: [x]\n      env: {A: ~}\n", "6:16",
		    "expected a string, got null");
}

static void test_errors_run_envs_analysis(void **state)
{
	const char *an = "analysis:\n  errors: {provider: {haproxy: {}}, success: error_rate < 0.01}\n";
	char buf[1024];

	(void)state;
	check_error("service: x\nrun:\n  command: a\n  health: {tcp: false, interval: 1s, timeout: 1s}\n", "4:17",
		    "tcp: false checks nothing (use 'tcp: true' or remove it)");
	check_error("service: x\nrun:\n  command: a\n  health: {http: healthz, interval: 1s, timeout: 1s}\n", "4:18",
		    "health path 'healthz' must start with '/'");
	check_error("service: x\nrun:\n  command: a\n  health: {interval: 1s, timeout: 1s}\n", "4:3",
		    "expected exactly one of 'http', 'tcp' or 'command' in 'run.health'");
	check_error("service: x\nrun:\n  command: a\n  health: {command: c, http: /h, interval: 1s, timeout: 1s}\n", "4:24",
		    "expected exactly one of 'http', 'tcp' or 'command' in 'run.health'");
	check_error("service: x\nrun:\n  command: a\n  stop: {signal: SIGTERM}\n", "4:18",
		    "unknown signal 'SIGTERM' (did you mean 'TERM'?) (expected TERM, INT, QUIT, KILL, HUP, USR1 or USR2)");
	check_error("service: x\nrun:\n  command: a\n  hooks: {validate: ''}\n", "4:21", "expected a non-empty string");
	{
		struct sw_spec *s = must_parse("service: x\nrun:\n  command: a\n  stop: {signal: USR2}\n");

		assert_int_equal(s->run->stop_signal, SIGUSR2);
		assert_string_equal(s->run->stop_signal_name, "USR2");
		assert_int_equal(s->run->stop_grace_ms, 10000);
		assert_int_equal(s->run->keep_releases, 3);
		assert_int_equal(s->run->health.kind, SW_HEALTH_NONE);
		assert_int_equal(s->run->hooks.timeout_ms, 300000);
		sw_spec_free(s);
	}

	check_error("service: x\nenvironments:\n  p: {hosts: {}}\n", "3:7", "expected at least 1 entry");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, after: q}\n", "3:31", "unknown environment 'q'");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, strategy: {rolling: {batch: 0}}}\n", "3:52",
		    "expected a count from 1 to 100000 or a percentage like 25%, got '0'");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, strategy: {rolling: {batch: 0%}}}\n", "3:52",
		    "expected a percentage from 1% to 100%, got '0%'");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, strategy: {rollin: {}}}\n", "3:35",
		    "unknown key 'rollin' (did you mean 'rolling'?)");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, strategy: {rollin: {}, canary: {}}}\n", "3:35",
		    "unknown key 'rollin' (did you mean 'rolling'?)");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, approvals: {count: 2}}\n", "3:24",
		    "approvals are not built yet: no deployment would wait for one; remove 'approvals' "
		    "(planned, see docs/spec.md)");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, strategy: {canary: {steps: [x]}}}\n", "3:52",
		    "expected a mapping with one of 'weight', 'pause', 'analysis' or 'instances', got a string");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, strategy: {canary: {steps: [{pause: 0s}]}}}\n",
		    "3:60", "duration '0s' is too short (at least 1ms)");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, strategy: {canary: {steps: []}}}\n", "3:44",
		    "a canary needs at least one step");
	snprintf(buf, sizeof(buf),
		 "service: x\nenvironments:\n  p:\n    hosts: {env: p}\n    strategy:\n      canary:\n"
		 "        analysis: {templates: [errors, erors]}\n        steps: [{instances: 10%%}]\n%s", an);
	check_error(buf, "7:40", "unknown analysis 'erors' (did you mean 'errors'?)");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, strategy: {rings: {order: [a], label: 'x y'}}}\n",
		    "3:62", "bad label name 'x y' (use letters, digits, '-', '_' and '.', at most 63)");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, strategy: {rings: {order: [a, a]}}}\n", "3:54",
		    "'a' is listed twice");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, strategy: {blue_green: {smoke: s}}}\n", "3:35",
		    "missing required key 'traffic' in 'environments.p.strategy.blue_green'");

	check_error("service: x\nanalysis:\n  a: {provider: {haproxy: {}}, success: 'x =! 1'}\n", "3:32",
		    "bad Lua expression in 'success': ')' expected (to close '(' at line 1) near '='");
	check_error("service: x\nanalysis:\n  a: {provider: {haproxy: {}}, failure: 'x and'}\n", "3:32",
		    "bad Lua expression in 'failure': unexpected symbol near ')'");
	check_error("service: x\nanalysis:\n  a: {provider: {haproxy: {}}, success: 'return 1'}\n", "3:32",
		    "bad Lua expression in 'success': unexpected symbol near 'return'");
	check_error("service: x\nanalysis:\n  a: {provider: {http: {}}, success: x}\n", "3:18",
		    "missing required key 'url' in 'analysis.a.provider.http'");
	check_error("service: x\nanalysis:\n  a: {provider: {command: {run: c}}, success: x, count: x}\n", "3:57",
		    "expected an integer from 0 to 100000, got 'x'");
	check_error("service: x\nanalysis:\n  a: {provider: {haproxy: {}}, success: x}\n  a: {provider: {haproxy: {}}, success: x}\n",
		    "4:3", "duplicate key 'a' (first at 3:3)");
	{
		/* conditions are compiled, never run: an expression that would loop forever loads fine */
		struct sw_spec *s = must_parse("service: x\nanalysis:\n  a:\n    provider: {haproxy: {}}\n"
					       "    success: (function() while true do end end)()\n"
					       "    failure: error_rate > 0.5 -- a comment\n");

		assert_int_equal(s->analyses[0].success_loc.line, 5);
		sw_spec_free(s);
	}
}

/* Every file in tests/data/spec/bad/ names its expected error on line 1. */
static void test_golden_bad(void **state)
{
	DIR *d = opendir(DATA "/bad");
	struct dirent *de;
	unsigned n = 0;

	(void)state;
	assert_non_null(d);
	while ((de = readdir(d))) {
		struct sw_err err = SW_ERR_INIT;
		char path[512], want[1200], got[2048];
		const char *nl = NULL;
		char *text;
		struct sw_spec *s;

		if (!strstr(de->d_name, ".yml"))
			continue;
		snprintf(path, sizeof(path), DATA "/bad/%s", de->d_name);
		text = read_data(path);
		if (strncmp(text, "# expect: ", 10) || !(nl = strchr(text, '\n')))
			fail_msg("%s: first line must be '# expect: LINE:COL: message'", path);
		snprintf(want, sizeof(want), "%s:%.*s", path, (int)(nl - text - 10), text + 10);
		s = sw_spec_load(path, &err);
		if (s)
			fail_msg("%s: accepted, expected %s", path, want);
		snprintf(got, sizeof(got), "%s: %s", err.where, err.msg);
		if (strcmp(got, want))
			fail_msg("%s:\n  got      %s\n  expected %s", path, got, want);
		free(text);
		n++;
	}
	closedir(d);
	assert_true(n >= 50);
}

static void test_golden_good(void **state)
{
	DIR *d = opendir(DATA "/good");
	struct dirent *de;
	unsigned n = 0;

	(void)state;
	assert_non_null(d);
	while ((de = readdir(d))) {
		struct sw_err err = SW_ERR_INIT;
		char path[512];
		struct sw_spec *s;

		if (!strstr(de->d_name, ".yml"))
			continue;
		snprintf(path, sizeof(path), DATA "/good/%s", de->d_name);
		if (!(s = sw_spec_load(path, &err)))
			fail_msg("%s: %s", err.where, err.msg);
		sw_spec_free(s);
		n++;
	}
	closedir(d);
	assert_true(n >= 2);
}

static void test_limits(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	uint64_t t0;
	char *bomb;
	int i;

	(void)state;
	/* billion laughs: refused at the first anchor, fast */
	bomb = read_data(DATA "/bad/bomb.yml");
	t0 = sw_clock_mono_ms();
	for (i = 0; i < 100; i++)
		assert_null(sw_spec_parse("b.yml", bomb, strlen(bomb), &err));
	assert_true(sw_clock_mono_ms() - t0 < 1000); /* < 10 ms each, even under ASan */
	assert_string_equal(err.msg, "aliases and anchors are not supported in slipway.yml");
	free(bomb);

	/* larger than SW_SPEC_MAX_BYTES */
	sw_buf_puts(&b, "service: x\n");
	while (b.len <= SW_SPEC_MAX_BYTES)
		sw_buf_puts(&b, "# padding padding padding padding padding padding padding\n");
	assert_null(sw_spec_parse("big.yml", b.data, b.len, &err));
	assert_int_equal(err.code, SW_EINPUT);
	assert_string_equal(err.where, "big.yml");
	assert_string_equal(err.msg, "larger than 1048576 bytes");

	/* missing file */
	assert_null(sw_spec_load("tests/data/spec/does-not-exist.yml", &err));
	assert_int_equal(err.code, SW_ENOTFOUND);

	/* a long flat list and many duplicate checks stay fast */
	sw_buf_reset(&b);
	sw_buf_puts(&b, "service: x\nbuild:\n  jobs:\n    a:\n      steps: [x]\n      cache: [");
	for (i = 0; i < 20000; i++)
		sw_buf_printf(&b, "%sf%d", i ? "," : "", i);
	sw_buf_printf(&b, ",f17]\n");
	t0 = sw_clock_mono_ms();
	assert_null(sw_spec_parse("slipway.yml", b.data, b.len, &err));
	assert_string_equal(err.msg, "'f17' is listed twice");
	assert_true(sw_clock_mono_ms() - t0 < 2000);
	sw_buf_release(&b);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(sw_spec_service_name_ok("a"));
	assert_true(sw_spec_service_name_ok("checkout-api-2"));
	assert_true(sw_spec_service_name_ok("0day"));
	assert_false(sw_spec_service_name_ok(""));
	assert_false(sw_spec_service_name_ok("-x"));
	assert_false(sw_spec_service_name_ok("Checkout"));
	assert_false(sw_spec_service_name_ok("a_b"));
	assert_false(sw_spec_service_name_ok("a.b"));
	assert_true(sw_spec_service_name_ok("a23456789012345678901234567890123456789012345678901234567890123"));
	assert_false(sw_spec_service_name_ok("a234567890123456789012345678901234567890123456789012345678901234"));
}

/* ---- analysis conditions may read only their provider's fields -------------
 * (added with src/analysis/: the table is sw_spec_provider_fields()) */

static void check_condition(const char *provider, const char *key, const char *expr, const char *where, const char *msg)
{
	char yaml[1024];

	snprintf(yaml, sizeof(yaml), "service: x\nanalysis:\n  a:\n    provider: {%s}\n    %s: %s\n", provider, key, expr);
	if (!where) {
		sw_spec_free(must_parse(yaml));
		return;
	}
	check_error(yaml, where, msg);
}

static void test_env_unpack(void **state)
{
	struct sw_spec *s;

	(void)state;
	s = must_parse("service: x\nenvironments:\n  p:\n    hosts: {env: p}\n"
		       "    unpack: {max_size: 2GB, max_file_size: 512MB, max_ratio: 50}\n  q: {hosts: {env: q}}\n");
	assert_int_equal(s->envs[0].unpack.max_size, (uint64_t)2 << 30);
	assert_int_equal(s->envs[0].unpack.max_file_size, (uint64_t)512 << 20);
	assert_int_equal(s->envs[0].unpack.max_ratio, 50);
	assert_int_equal(s->envs[1].unpack.max_size, 0); /* not set: the agent's own limits */
	assert_int_equal(s->envs[1].unpack.max_ratio, 0);
	sw_spec_free(s);
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, unpack: {max_size: lots}}\n", "3:43",
		    "bad size 'lots' (use e.g. 512, 64KB, 10MB, 2GB)");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, unpack: {max_size: 0}}\n", "3:43",
		    "size '0' is out of range (1 to 18446744073709551615 bytes)");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, unpack: {max_ratio: 0}}\n", "3:44",
		    "expected an integer from 1 to 1000000, got '0'");
	check_error("service: x\nenvironments:\n  p: {hosts: {env: p}, unpack: {max_total: 1GB}}\n", "3:33",
		    "unknown key 'max_total'");
}

static void test_condition_fields(void **state)
{
	const char *hap = "haproxy: {}", *prom = "prometheus: {address: 'http://p:9090', query: up}",
		   *http = "http: {url: 'http://h/'}", *cmd = "command: {run: ./c.sh}";
	size_t n, i;
	const char *const *names;

	(void)state;
	/* an unknown name: the list of what the provider measures, at the name itself */
	check_condition(hap, "success", "'error_rate < 0.01 and p95_ms < 300'", "5:37",
			"condition refers to unknown field 'p95_ms' (the haproxy provider measures: requests, request_rate, "
			"errors, error_rate, response_ms, stable_requests, stable_request_rate, stable_errors, "
			"stable_error_rate, stable_response_ms)");
	check_condition(hap, "failure", "eror_rate > 0.1", "5:14", "condition refers to unknown field 'eror_rate' (did you mean 'error_rate'?)");
	check_condition(prom, "success", "\"reslt < 0.3\"", "5:15", "condition refers to unknown field 'reslt' (did you mean 'result'?)");
	check_condition(prom, "success", "value < 1", "5:14",
			"condition refers to unknown field 'value' (the prometheus provider measures: result, results)");
	check_condition(http, "success", "exit_code == 0", "5:14",
			"condition refers to unknown field 'exit_code' (the http provider measures: status, latency_ms, result)");
	check_condition(cmd, "failure", "status ~= 0", "5:14",
			"condition refers to unknown field 'status' (the command provider measures: exit_code, result)");
	check_condition(cmd, "failure", "x1 ~= 0", "5:14",
			"condition refers to unknown field 'x1' (the command provider measures: exit_code, result)");
	check_condition(hap, "success", "print(error_rate)", "5:14",
			"condition refers to unknown field 'print' (the haproxy provider measures: requests, request_rate, "
			"errors, error_rate, response_ms, stable_requests, stable_request_rate, stable_errors, "
			"stable_error_rate, stable_response_ms)");
	check_condition(hap, "success", "error_rate .. '' ~= stable", "5:34", "condition refers to unknown field 'stable' (the haproxy provider measures: requests, request_rate, "
			"errors, error_rate, response_ms, stable_requests, stable_request_rate, stable_errors, "
			"stable_error_rate, stable_response_ms)");

	/* what is not a field read */
	check_condition(hap, "success", "math.max(error_rate, 0) < 1 and math.huge > requests", NULL, NULL);
	check_condition(hap, "success", "\"error_rate < 1 -- p95_ms\"", NULL, NULL);
	check_condition(hap, "success", "\"error_rate < 1 --[==[ p95_ms ]] still ]==] and true\"", NULL, NULL);
	check_condition(hap, "success", "\"'p95_ms' ~= [[p95_ms]] and \\\"a\\\\\\\"p95_ms\\\" ~= nil\"", NULL, NULL);
	check_condition(hap, "success", "\"#{p95_ms = 1, [1] = 2} == 1 and not (error_rate > 1) and nil == nil\"", NULL, NULL);
	check_condition(hap, "success", "\"(function(p95_ms, ...) return p95_ms end)(error_rate) < 1\"", NULL, NULL);
	check_condition(hap, "success", "\"(function() local x <const>, y = error_rate, 2 return x < y end)()\"", NULL, NULL);
	check_condition(hap, "success", "\"(function() for i, j in 1, 2 do end for k = 1, 3 do if k > requests then return false end end return true end)()\"",
			NULL, NULL);
	check_condition(hap, "success", "\"(function() goto done ::done:: return true end)()\"", NULL, NULL);
	check_condition(hap, "success", "\"(function() local t = {} function t:m() return self end return t:m() == t end)()\"", NULL, NULL);
	check_condition(hap, "success", "\"1e5 > requests and 0x1p4 > 0 and 3 < 0xff and .5 < 1 and 2E-3 > 0\"", NULL, NULL);
	check_condition(hap, "success", "\"error_rate:foo() and error_rate.bar\"", NULL, NULL); /* fails when run, not a field */

	/* positions: in a literal block, after escapes (the value's start), the earliest of two */
	check_error("service: x\nanalysis:\n  a:\n    provider: {haproxy: {}}\n    success: |\n      error_rate < 0.01 and\n"
		    "        p95_ms < 300\n",
		    "7:9", "condition refers to unknown field 'p95_ms' (the haproxy provider measures: requests, request_rate, "
		    "errors, error_rate, response_ms, stable_requests, stable_request_rate, stable_errors, "
		    "stable_error_rate, stable_response_ms)");
	check_error("service: x\nanalysis:\n  a:\n    provider: {prometheus: {address: 'http://p', query: up}}\n"
		    "    success: \"'\\t' ~= nil and reslt < 1\"\n",
		    "5:14", "condition refers to unknown field 'reslt' (did you mean 'result'?)");
	check_error("service: x\nanalysis:\n  a:\n    failure: resul > 1\n    success: reslt < 1\n"
		    "    provider: {prometheus: {address: 'http://p', query: up}}\n",
		    "4:14", "condition refers to unknown field 'resul' (did you mean 'result'?)");
	/* a syntax error is still reported as such, before any field check */
	check_error("service: x\nanalysis:\n  a:\n    provider: {haproxy: {}}\n    success: p95_ms < < 1\n", "5:5",
		    "bad Lua expression in 'success': unexpected symbol near '<'");

	/* the table itself */
	names = sw_spec_provider_fields(SW_PROVIDER_HTTP, &n);
	assert_int_equal(n, 3);
	assert_string_equal(names[0], "status");
	for (i = 0; i < 4; i++) {
		names = sw_spec_provider_fields((enum sw_provider)i, &n);
		assert_true(n > 0);
	}
	assert_string_equal(sw_spec_provider_name(SW_PROVIDER_PROMETHEUS), "prometheus");
}

/* `version:`: a literal, {file: PATH} (read, trimmed, checked) or {git: describe}. */
static void test_version_sources(void **state)
{
	char tmpl[] = "/tmp/sw-specver-XXXXXX", path[512], out[SW_SPEC_VERSION_MAX + 1];
	struct sw_err err = SW_ERR_INIT;
	struct sw_spec *s;
	FILE *f;

	(void)state;
	/* literal */
	s = must_parse("service: a\nversion: 1.2.3\n");
	assert_int_equal(s->version_from, SW_SPEC_VERSION_LITERAL);
	assert_int_equal(sw_spec_version_resolve(s, NULL, out, sizeof(out), &err), 0);
	assert_string_equal(out, "1.2.3");
	sw_spec_free(s);
	/* none */
	s = must_parse("service: a\n");
	assert_int_equal(s->version_from, SW_SPEC_VERSION_NONE);
	assert_int_equal(sw_spec_version_resolve(s, "v1-2-gabc", out, sizeof(out), &err), 0);
	assert_string_equal(out, "");
	sw_spec_free(s);
	/* git: describe, given by the caller */
	s = must_parse("service: a\nversion: {git: describe}\n");
	assert_int_equal(s->version_from, SW_SPEC_VERSION_GIT);
	assert_int_equal(sw_spec_version_resolve(s, "v1.2.0-3-gabc1234", out, sizeof(out), &err), 0);
	assert_string_equal(out, "v1.2.0-3-gabc1234");
	assert_int_equal(sw_spec_version_resolve(s, NULL, out, sizeof(out), &err), -1);
	assert_string_equal(err.where, "slipway.yml:2:16");
	assert_int_equal(err.code, SW_EINPUT);
	sw_spec_free(s);

	/* structure errors, with file:line:col */
	check_error("service: a\nversion: {fiel: VERSION}\n", "2:11", "unknown key 'fiel' (did you mean 'file'?)");
	check_error("service: a\nversion: {git: tags}\n", "2:16", "unknown git version source 'tags' (expected 'describe')");
	check_error("service: a\nversion: {file: VERSION, git: describe}\n", "2:26",
		    "expected exactly one of 'file' or 'git' in 'version'");
	check_error("service: a\nversion: {file: /etc/VERSION}\n", "2:17",
		    "path '/etc/VERSION' must be relative");
	check_error("service: a\nversion: 1.0/2\n", "2:10",
		    "bad version '1.0/2' (printable, no spaces or '/', at most 128 bytes; or {file: PATH} or {git: describe})");

	/* file: relative to the spec's directory, trimmed, non-empty, a usable version */
	assert_non_null(mkdtemp(tmpl));
	snprintf(path, sizeof(path), "%s/slipway.yml", tmpl);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("service: a\nversion: {file: VERSION}\n", f);
	fclose(f);
	s = sw_spec_load(path, &err);
	assert_non_null(s);
	assert_int_equal(s->version_from, SW_SPEC_VERSION_FILE);
	assert_int_equal(sw_spec_version_resolve(s, NULL, out, sizeof(out), &err), -1);
	assert_non_null(strstr(err.msg, "version file 'VERSION'"));
	assert_non_null(strstr(err.msg, "No such file or directory"));
	assert_non_null(strstr(err.where, "slipway.yml:2:17"));
	snprintf(path, sizeof(path), "%s/VERSION", tmpl);
	f = fopen(path, "w");
	fputs("  1.0.1\n\n", f);
	fclose(f);
	assert_int_equal(sw_spec_version_resolve(s, "ignored", out, sizeof(out), &err), 0);
	assert_string_equal(out, "1.0.1");
	f = fopen(path, "w");
	fputs(" \n", f);
	fclose(f);
	assert_int_equal(sw_spec_version_resolve(s, NULL, out, sizeof(out), &err), -1);
	assert_string_equal(err.msg, "version file 'VERSION' is empty");
	f = fopen(path, "w");
	fputs("1.0 beta\n", f);
	fclose(f);
	assert_int_equal(sw_spec_version_resolve(s, NULL, out, sizeof(out), &err), -1);
	assert_non_null(strstr(err.msg, "holds '1.0 beta', not a usable version"));
	unlink(path);
	sw_spec_free(s);
	snprintf(path, sizeof(path), "%s/slipway.yml", tmpl);
	unlink(path);
	rmdir(tmpl);

	assert_true(sw_spec_version_ok("1.0.0+abc"));
	assert_false(sw_spec_version_ok(""));
	assert_false(sw_spec_version_ok("a\tb"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_and_defaults),
		cmocka_unit_test(test_full_spec),
		cmocka_unit_test(test_matrix_expansion),
		cmocka_unit_test(test_topological_order),
		cmocka_unit_test(test_cycles),
		cmocka_unit_test(test_errors_keys_and_types),
		cmocka_unit_test(test_errors_yaml),
		cmocka_unit_test(test_errors_run_envs_analysis),
		cmocka_unit_test(test_golden_bad),
		cmocka_unit_test(test_golden_good),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_condition_fields),
		cmocka_unit_test(test_env_unpack),
		cmocka_unit_test(test_version_sources),
	};
	return cmocka_run_group_tests_name("spec", tests, NULL, NULL);
}
