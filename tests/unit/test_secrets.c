/*
 * test_secrets.c - unit tests for src/pipeline/secrets: env and file
 * sources, newline stripping, --secret-file syntax and precedence, only
 * the secrets of jobs that run are read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/fs.h"
#include "pipeline/secrets.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[PATH_MAX];

static void put(const char *name, const char *text)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(sw_fs_write_atomic(p, text, strlen(text), 0600, NULL), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sw-secrets-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sw_fs_remove_tree(dir, NULL);
	return 0;
}

static struct sw_spec_secret secs[] = {
	{ .name = "TOKEN", .source = SW_SECRET_ENV, .from = "SW_TEST_TOKEN" },
	{ .name = "PASS", .source = SW_SECRET_FILE, .from = "pass.txt" },
	{ .name = "DEPLOY", .source = SW_SECRET_ENV, .from = "SW_TEST_UNSET_DEPLOY" },
};
static const char *uses_build[] = { "TOKEN", "PASS" }, *uses_deploy[] = { "DEPLOY" };

static void make_spec(struct sw_spec *spec, struct sw_spec_job jobs[2])
{
	memset(spec, 0, sizeof(*spec));
	memset(jobs, 0, 2 * sizeof(*jobs));
	jobs[0].name = "build";
	jobs[0].secrets = uses_build;
	jobs[0].nsecrets = 2;
	jobs[1].name = "deploy";
	jobs[1].secrets = uses_deploy;
	jobs[1].nsecrets = 1;
	spec->path = "slipway.yml";
	spec->jobs = jobs;
	spec->njobs = 2;
	spec->secrets = secs;
	spec->nsecrets = 3;
}

static void test_sources(void **state)
{
	struct sw_spec spec;
	struct sw_spec_job jobs[2];
	struct sw_secrets s = { 0 };
	struct sw_err err = SW_ERR_INIT;
	bool only_build[2] = { true, false }, all[2] = { true, true };
	size_t len;

	(void)state;
	make_spec(&spec, jobs);
	setenv("SW_TEST_TOKEN", "tok-value", 1);
	unsetenv("SW_TEST_UNSET_DEPLOY");
	put("pass.txt", "line1\nline2\r\n");
	assert_int_equal(sw_secrets_load(&s, &spec, only_build, dir, NULL, &err), 0);
	assert_string_equal(sw_secrets_value(&s, &spec, "TOKEN", &len), "tok-value");
	assert_string_equal(sw_secrets_value(&s, &spec, "PASS", &len), "line1\nline2");
	assert_int_equal(len, 11);
	assert_null(sw_secrets_value(&s, &spec, "DEPLOY", NULL)); /* its job does not run */
	sw_secrets_release(&s);

	/* deploy runs too: its unset variable is an error */
	assert_int_equal(sw_secrets_load(&s, &spec, all, dir, NULL, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_string_equal(err.msg, "secret 'DEPLOY': environment variable 'SW_TEST_UNSET_DEPLOY' is not set");
	assert_null(s.v);

	/* a missing file */
	{
		char p[PATH_MAX * 2];

		snprintf(p, sizeof(p), "%s/pass.txt", dir);
		unlink(p);
	}
	assert_int_equal(sw_secrets_load(&s, &spec, only_build, dir, NULL, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "secret 'PASS'"));
	assert_non_null(strstr(err.msg, "pass.txt"));
	unsetenv("SW_TEST_TOKEN");
}

static void test_secret_file(void **state)
{
	struct sw_spec spec;
	struct sw_spec_job jobs[2];
	struct sw_secrets s = { 0 };
	struct sw_err err = SW_ERR_INIT;
	bool all[2] = { true, true };
	char path[PATH_MAX * 2];

	(void)state;
	make_spec(&spec, jobs);
	unsetenv("SW_TEST_TOKEN");
	unsetenv("SW_TEST_UNSET_DEPLOY");
	snprintf(path, sizeof(path), "%s/local.env", dir);
	/* Overrides every source, even ones that would fail (unset env, missing file). */
	put("local.env", "# comment\n\n  TOKEN=a=b c \r\nPASS=p4ss\nDEPLOY=\nTOKEN=later wins\n");
	assert_int_equal(sw_secrets_load(&s, &spec, all, dir, path, &err), 0);
	assert_string_equal(sw_secrets_value(&s, &spec, "TOKEN", NULL), "later wins");
	assert_string_equal(sw_secrets_value(&s, &spec, "PASS", NULL), "p4ss");
	assert_string_equal(sw_secrets_value(&s, &spec, "DEPLOY", NULL), "");
	sw_secrets_release(&s);

	put("local.env", "TOKEN=a=b c \r\n");
	assert_int_equal(sw_secrets_load(&s, &spec, (bool[2]){ false, false }, dir, path, &err), 0);
	assert_string_equal(sw_secrets_value(&s, &spec, "TOKEN", NULL), "a=b c ");
	sw_secrets_release(&s);

	put("local.env", "TOKEN=x\nTOKNE=y\n");
	assert_int_equal(sw_secrets_load(&s, &spec, all, dir, path, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_true(strstr(err.where, "local.env:2") != NULL);
	assert_non_null(strstr(err.msg, "unknown secret 'TOKNE'"));
	put("local.env", "just words\n");
	assert_int_equal(sw_secrets_load(&s, &spec, all, dir, path, &err), -1);
	assert_non_null(strstr(err.msg, "expected KEY=VALUE"));
	snprintf(path, sizeof(path), "%s/nope.env", dir);
	assert_int_equal(sw_secrets_load(&s, &spec, all, dir, path, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
}

static void test_undeclared_secret(void **state)
{
	static const char *bad[] = { "NOT_DECLARED" };
	struct sw_spec spec;
	struct sw_spec_job jobs[2];
	struct sw_secrets s = { 0 };
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	make_spec(&spec, jobs);
	jobs[0].secrets = bad;
	jobs[0].nsecrets = 1;
	assert_int_equal(sw_secrets_load(&s, &spec, (bool[2]){ true, false }, dir, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "which build.secrets does not declare"));
	assert_int_equal(sw_secrets_index(&spec, "PASS"), 1);
	assert_int_equal(sw_secrets_index(&spec, "nope"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_secret_file),
		cmocka_unit_test(test_undeclared_secret),
	};
	return cmocka_run_group_tests_name("secrets", tests, setup, teardown);
}
