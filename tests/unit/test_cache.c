/*
 * test_cache.c - unit tests for src/pipeline/cache: what changes a key and
 * what does not, storing and restoring outputs (files, directories, modes,
 * symlinks), output path rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/hash.h"
#include "pipeline/cache.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[PATH_MAX];

static void put(const char *rel, const char *text, mode_t mode)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(sw_fs_write_atomic(p, text, strlen(text), mode, NULL), 0);
}

static char *get(const char *rel, mode_t *mode)
{
	char p[PATH_MAX * 2];
	struct sw_buf b = SW_BUF_INIT(1 << 20);
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	if (sw_fs_read_file(p, 1 << 20, &b, NULL) < 0) {
		sw_buf_release(&b);
		return NULL;
	}
	if (mode) {
		assert_int_equal(stat(p, &st), 0);
		*mode = st.st_mode & 07777;
	}
	return sw_buf_detach(&b, NULL);
}

static int setup(void **state)
{
	char p[PATH_MAX * 2];

	(void)state;
	assert_int_equal(sw_hash_global_init(), 0);
	snprintf(root, sizeof(root), "/tmp/sw-cache-XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(p, sizeof(p), "%s/work/src/sub", root);
	assert_int_equal(sw_fs_mkdirs(p, 0755, NULL), 0);
	put("work/src/a.c", "int a;\n", 0644);
	put("work/src/sub/b.c", "int b;\n", 0644);
	put("work/Makefile", "all:\n", 0644);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sw_fs_remove_tree(root, NULL);
	return 0;
}

static struct sw_spec_step steps[] = { { .run = "make" }, { .run = "make test" } };
static struct sw_spec_kv env[] = { { .key = "B", .value = "2" }, { .key = "A", .value = "1" } };
static const char *secrets[] = { "TOKEN" };
static const char *inputs[] = { "src/", "Makefile", "*.none" };
static const char *outputs[] = { "dist/", "app.bin" };

static struct sw_spec_job make_job(void)
{
	struct sw_spec_job j;

	memset(&j, 0, sizeof(j));
	j.name = "build";
	j.steps = steps;
	j.nsteps = 2;
	j.env = env;
	j.nenv = 2;
	j.secrets = secrets;
	j.nsecrets = 1;
	j.workdir = ".";
	j.cache = inputs;
	j.ncache = 3;
	j.outputs = outputs;
	j.noutputs = 2;
	return j;
}

static void key_of(const struct sw_spec_job *j, const char *dep, char key[SW_SHA256_HEX])
{
	char wd[PATH_MAX * 2];
	const char *keys[1] = { dep }, *names[1] = { "dep" };
	struct sw_err err = SW_ERR_INIT;

	snprintf(wd, sizeof(wd), "%s/work", root);
	assert_int_equal(sw_cache_key(j, wd, keys, names, 1, key, &err), 0);
	assert_true(sw_is_sha256_hex(key));
}

static void test_key_inputs(void **state)
{
	struct sw_spec_job j = make_job();
	char k0[SW_SHA256_HEX], k[SW_SHA256_HEX], wd[PATH_MAX * 2];
	struct sw_spec_kv env2[2];
	struct sw_spec_step steps2[2];

	(void)state;
	key_of(&j, NULL, k0);
	key_of(&j, NULL, k);
	assert_string_equal(k0, k); /* stable */

	/* env order does not matter (sorted), values do */
	env2[0] = env[1];
	env2[1] = env[0];
	j.env = env2;
	key_of(&j, NULL, k);
	assert_string_equal(k0, k);
	env2[0].value = "changed";
	key_of(&j, NULL, k);
	assert_string_not_equal(k0, k);
	j = make_job();

	/* a step's command */
	memcpy(steps2, steps, sizeof(steps2));
	steps2[1].run = "make check";
	j.steps = steps2;
	key_of(&j, NULL, k);
	assert_string_not_equal(k0, k);
	j = make_job();

	/* a dependency's key */
	key_of(&j, "0000000000000000000000000000000000000000000000000000000000000000", k);
	assert_string_not_equal(k0, k);

	/* file contents, a new file, a mode, a file outside the inputs */
	put("work/src/sub/b.c", "int b2;\n", 0644);
	key_of(&j, NULL, k);
	assert_string_not_equal(k0, k);
	put("work/src/sub/b.c", "int b;\n", 0644);
	key_of(&j, NULL, k);
	assert_string_equal(k0, k);
	snprintf(wd, sizeof(wd), "%s/work/src/sub/b.c", root);
	assert_int_equal(chmod(wd, 0755), 0);
	key_of(&j, NULL, k);
	assert_string_not_equal(k0, k);
	assert_int_equal(chmod(wd, 0644), 0);
	put("work/src/new.c", "", 0644);
	key_of(&j, NULL, k);
	assert_string_not_equal(k0, k);
	snprintf(wd, sizeof(wd), "%s/work/src/new.c", root);
	unlink(wd);
	put("work/README", "not an input", 0644);
	key_of(&j, NULL, k);
	assert_string_equal(k0, k);
	put("work/x.none", "now matched by *.none", 0644);
	key_of(&j, NULL, k);
	assert_string_not_equal(k0, k);
	snprintf(wd, sizeof(wd), "%s/work/x.none", root);
	unlink(wd);
	key_of(&j, NULL, k);
	assert_string_equal(k0, k);

	/* the job's name, and secret names (values never reach the key) */
	j.name = "build2";
	key_of(&j, NULL, k);
	assert_string_not_equal(k0, k);
	j = make_job();
	j.nsecrets = 0;
	key_of(&j, NULL, k);
	assert_string_not_equal(k0, k);
}

static void test_store_restore(void **state)
{
	struct sw_spec_job j = make_job();
	struct sw_cache c;
	struct sw_err err = SW_ERR_INIT;
	char key[SW_SHA256_HEX], wd[PATH_MAX * 2], p[PATH_MAX * 2], link[64];
	mode_t mode;
	char *s;

	(void)state;
	snprintf(p, sizeof(p), "%s/cache", root);
	assert_int_equal(sw_cache_open(&c, p, &err), 0);
	snprintf(wd, sizeof(wd), "%s/work", root);
	snprintf(p, sizeof(p), "%s/work/dist/sub", root);
	assert_int_equal(sw_fs_mkdirs(p, 0755, NULL), 0);
	put("work/dist/run.sh", "#!/bin/sh\necho hi\n", 0755);
	put("work/dist/sub/data.txt", "data", 0600);
	put("work/app.bin", "\x7f" "ELF...", 0700);
	snprintf(p, sizeof(p), "%s/work/dist/link", root);
	assert_int_equal(symlink("run.sh", p), 0);
	key_of(&j, NULL, key);
	assert_false(sw_cache_has(&c, key));
	assert_int_equal(sw_cache_store(&c, key, &j, wd, "run-1", &err), 0);
	assert_true(sw_cache_has(&c, key));
	assert_int_equal(sw_cache_store(&c, key, &j, wd, "run-2", &err), 0); /* exists: fine */

	/* Delete the outputs, change one that stays, restore. */
	snprintf(p, sizeof(p), "%s/work/dist", root);
	assert_int_equal(sw_fs_remove_tree(p, NULL), 0);
	put("work/app.bin", "stale", 0644);
	assert_int_equal(sw_cache_restore(&c, key, wd, &err), 0);
	s = get("work/dist/run.sh", &mode);
	assert_string_equal(s, "#!/bin/sh\necho hi\n");
	assert_int_equal(mode, 0755);
	free(s);
	s = get("work/dist/sub/data.txt", &mode);
	assert_string_equal(s, "data");
	assert_int_equal(mode, 0600);
	free(s);
	s = get("work/app.bin", &mode);
	assert_string_equal(s, "\x7f" "ELF...");
	assert_int_equal(mode, 0700);
	free(s);
	snprintf(p, sizeof(p), "%s/work/dist/link", root);
	memset(link, 0, sizeof(link));
	assert_int_equal(readlink(p, link, sizeof(link) - 1), 6);
	assert_string_equal(link, "run.sh");

	/* Missing output: nothing stored, no temporary left behind. */
	{
		static const char *missing[] = { "nope/" };
		char key2[SW_SHA256_HEX];

		j.outputs = missing;
		j.noutputs = 1;
		key_of(&j, NULL, key2);
		assert_int_equal(sw_cache_store(&c, key2, &j, wd, "run-3", &err), -1);
		assert_non_null(strstr(err.msg, "output 'nope/' not found"));
		assert_false(sw_cache_has(&c, key2));
		snprintf(p, sizeof(p), "ls -A %s/cache | grep -q tmp", root);
		assert_int_not_equal(system(p), 0);
	}
}

static void test_output_paths(void **state)
{
	(void)state;
	assert_true(sw_cache_output_ok("dist/"));
	assert_true(sw_cache_output_ok("a/b/c.txt"));
	assert_true(sw_cache_output_ok("./dist"));
	assert_true(sw_cache_output_ok("..foo"));
	assert_false(sw_cache_output_ok(""));
	assert_false(sw_cache_output_ok("."));
	assert_false(sw_cache_output_ok("./"));
	assert_false(sw_cache_output_ok("/etc/passwd"));
	assert_false(sw_cache_output_ok("../x"));
	assert_false(sw_cache_output_ok("a/../../x"));
	assert_false(sw_cache_output_ok("a/.."));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_inputs),
		cmocka_unit_test(test_store_restore),
		cmocka_unit_test(test_output_paths),
	};
	return cmocka_run_group_tests_name("cache", tests, setup, teardown);
}
