/*
 * test_release.c - unit tests for src/release/release: creating a release
 * (all six files or none), verifying it, and what verification says about
 * each kind of damage; reading the pipeline run summary; mtime and version
 * rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/json.h"
#include "release/minisign.h"
#include "release/release.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[PATH_MAX], svc[PATH_MAX];
static struct sw_minisign_pubkey pk;
static struct sw_minisign_seckey sk;

static void put(const char *dir, const char *rel, const char *content, mode_t mode)
{
	char p[PATH_MAX];
	struct sw_err err = SW_ERR_INIT;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(sw_fs_write_atomic(p, content, strlen(content), mode, &err), 0);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	char p[PATH_MAX];

	(void)state;
	if (sw_hash_global_init() < 0)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sw-test-release-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(svc, sizeof(svc), "%s/svc", tmpdir);
	snprintf(p, sizeof(p), "%s/dist", svc);
	if (sw_fs_mkdirs(p, 0755, &err) < 0)
		return -1;
	sw_minisign_keygen(&pk, &sk);
	return 0;
}

static int teardown(void **state)
{
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	sw_minisign_seckey_wipe(&sk);
	return sw_fs_remove_tree(tmpdir, &err);
}

static json_t *summary(const char *status)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:[{s:s, s:s}], s:{s:i, s:i, s:i, s:i}}", "run_id", "run-1",
			 "service", "svc", "status", status, "duration_ms", (json_int_t)5, "started",
			 "2026-01-01T00:00:00.000Z", "finished", "2026-01-01T00:00:05.000Z", "jobs", "name", "package",
			 "status", "passed", "tests", "passed", 1, "failed", 0, "skipped", 0, "errors", 0);
}

/* Make a release of svc's dist/ into out_dir. */
static int make_release(const char *out_dir, const char *version, const char *outpath, struct sw_release_result *res,
			struct sw_err *err)
{
	static const char *jobs[] = { "package" };
	struct sw_release_output outs[] = { { "package", outpath } };
	json_t *s = summary("passed");
	struct sw_release_params p = {
		.service = "svc",
		.version = version,
		.base_dir = svc,
		.spec_name = "slipway.yml",
		.spec_sha256 = "ab6cf24db1a57e890e3aefd1a261b2a490f1f487c2c1f489c9c3c42ffd922d09",
		.outputs = outs,
		.noutputs = 1,
		.jobs = jobs,
		.njobs = 1,
		.summary = s,
		.git = NULL,
		.mtime = 0,
		.now_ms = 1795000000000LL,
		.out_dir = out_dir,
		.key = &sk,
	};
	int rc = sw_release_create(&p, res, err);

	json_decref(s);
	return rc;
}

static const struct sw_verify_check *check(const struct sw_verify_report *rep, const char *name)
{
	size_t i;

	for (i = 0; i < rep->n; i++)
		if (!strcmp(rep->checks[i].name, name))
			return &rep->checks[i];
	fail_msg("no check named '%s'", name);
	return NULL;
}

static void fresh_release(const char *name, struct sw_release_result *res)
{
	char out[PATH_MAX];
	struct sw_err err = SW_ERR_INIT;

	put(svc, "dist/app", "#!/bin/sh\necho hi\n", 0755);
	put(svc, "dist/VERSION", "1.0\n", 0644);
	snprintf(out, sizeof(out), "%s/%s", tmpdir, name);
	if (make_release(out, "1.0", "dist/", res, &err) < 0)
		fail_msg("release: %s", err.msg);
}

static void test_create_and_verify(void **state)
{
	struct sw_release_result res, again;
	struct sw_verify_report rep;
	struct sw_err err = SW_ERR_INIT;
	char out[PATH_MAX];
	size_t i;
	int k;

	(void)state;
	fresh_release("rel-ok", &res);
	snprintf(out, sizeof(out), "%s/rel-ok", tmpdir);
	assert_int_equal(count_entries(out), SW_RELEASE_NFILES); /* no temporary file left */
	for (k = 0; k < SW_RELEASE_NFILES; k++)
		assert_true(sw_fs_exists(res.paths[k]));
	assert_non_null(strstr(res.paths[SW_RELEASE_BUNDLE], res.digest));
	assert_int_equal(res.nfiles, 2);
	assert_string_equal(sw_json_str(res.manifest, "version"), "1.0");
	assert_int_equal(sw_json_int(res.manifest, "files", 0), 2);

	assert_int_equal(sw_release_verify(res.paths[SW_RELEASE_BUNDLE], &pk, &rep, &err), 0);
	for (i = 0; i < rep.n; i++)
		if (!rep.checks[i].ok)
			fail_msg("%s: %s", rep.checks[i].name, rep.checks[i].detail);
	assert_true(rep.ok);
	assert_int_equal(rep.n, 7);
	assert_string_equal(rep.service, "svc");
	assert_int_equal(rep.files, 2);

	/* The same outputs again: the release exists, nothing is rewritten. */
	assert_int_equal(make_release(out, "1.0", "dist/", &again, &err), 0);
	assert_true(again.existed);
	assert_string_equal(again.digest, res.digest);
	assert_int_equal(count_entries(out), SW_RELEASE_NFILES);
	sw_release_result_release(&again);
	/* ... but not under another version. */
	assert_int_equal(make_release(out, "2.0", "dist/", &again, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "already released as version '1.0'"));
	assert_int_equal(count_entries(out), SW_RELEASE_NFILES);

	/* sw_release_remove undoes a release (used when the store refuses it). */
	sw_release_remove(&res);
	assert_int_equal(count_entries(out), 0);
	sw_release_result_release(&res);
}

static void flip_byte(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	int c;

	assert_non_null(f);
	assert_int_equal(fseek(f, off, off < 0 ? SEEK_END : SEEK_SET), 0);
	c = fgetc(f);
	assert_int_equal(fseek(f, -1, SEEK_CUR), 0);
	fputc(c ^ 0x20, f);
	fclose(f);
}

static void test_verify_damage(void **state)
{
	struct sw_release_result res;
	struct sw_verify_report rep;
	struct sw_err err = SW_ERR_INIT;
	struct sw_minisign_pubkey other;
	struct sw_minisign_seckey osk;
	char p[PATH_MAX], id1[SW_MINISIGN_KEY_ID_HEX], id2[SW_MINISIGN_KEY_ID_HEX], want[128];

	(void)state;
	/* A changed byte in the bundle. */
	fresh_release("dmg-byte", &res);
	flip_byte(res.paths[SW_RELEASE_BUNDLE], 100);
	assert_int_equal(sw_release_verify(res.paths[SW_RELEASE_BUNDLE], &pk, &rep, &err), 0);
	assert_false(rep.ok);
	assert_false(check(&rep, "digest")->ok);
	assert_false(check(&rep, "bundle signature")->ok);
	assert_true(check(&rep, "manifest signature")->ok);
	assert_false(check(&rep, "manifest")->ok);
	sw_release_result_release(&res);

	/* A truncated bundle. */
	fresh_release("dmg-trunc", &res);
	assert_int_equal(truncate(res.paths[SW_RELEASE_BUNDLE], 200), 0);
	assert_int_equal(sw_release_verify(res.paths[SW_RELEASE_BUNDLE], &pk, &rep, &err), 0);
	assert_false(rep.ok);
	assert_false(check(&rep, "contents")->ok);
	assert_non_null(strstr(check(&rep, "contents")->detail, "corrupt or truncated"));
	sw_release_result_release(&res);

	/* Another public key. */
	fresh_release("dmg-key", &res);
	sw_minisign_keygen(&other, &osk);
	sw_minisign_seckey_wipe(&osk);
	assert_int_equal(sw_release_verify(res.paths[SW_RELEASE_BUNDLE], &other, &rep, &err), 0);
	assert_false(rep.ok);
	assert_true(check(&rep, "digest")->ok);
	sw_minisign_key_id(pk.keynum, id1);
	sw_minisign_key_id(other.keynum, id2);
	snprintf(want, sizeof(want), "signed by key %s, expected key %s", id1, id2);
	assert_string_equal(check(&rep, "bundle signature")->detail, want);
	assert_string_equal(check(&rep, "manifest signature")->detail, want);

	/* A missing signature. */
	unlink(res.paths[SW_RELEASE_BUNDLE_SIG]);
	assert_int_equal(sw_release_verify(res.paths[SW_RELEASE_BUNDLE], &pk, &rep, &err), 0);
	assert_false(rep.ok);
	assert_non_null(strstr(check(&rep, "bundle signature")->detail, "missing"));
	assert_true(check(&rep, "manifest signature")->ok);
	sw_release_result_release(&res);

	/* A changed SBOM: its recorded sha256 no longer matches. */
	fresh_release("dmg-sbom", &res);
	flip_byte(res.paths[SW_RELEASE_SBOM], 20);
	assert_int_equal(sw_release_verify(res.paths[SW_RELEASE_BUNDLE], &pk, &rep, &err), 0);
	assert_false(rep.ok);
	assert_false(check(&rep, "sbom")->ok);
	assert_true(check(&rep, "provenance")->ok);
	assert_true(check(&rep, "manifest signature")->ok);
	sw_release_result_release(&res);

	/* A changed release.json: its signature fails. */
	fresh_release("dmg-manifest", &res);
	flip_byte(res.paths[SW_RELEASE_MANIFEST], 10);
	assert_int_equal(sw_release_verify(res.paths[SW_RELEASE_BUNDLE], &pk, &rep, &err), 0);
	assert_false(rep.ok);
	assert_false(check(&rep, "manifest signature")->ok);
	assert_true(check(&rep, "bundle signature")->ok);
	sw_release_result_release(&res);

	/* A changed provenance. */
	fresh_release("dmg-prov", &res);
	flip_byte(res.paths[SW_RELEASE_PROVENANCE], 30);
	assert_int_equal(sw_release_verify(res.paths[SW_RELEASE_BUNDLE], &pk, &rep, &err), 0);
	assert_false(check(&rep, "provenance")->ok);
	sw_release_result_release(&res);

	/* Unreadable input: not an error report but a failure (exit 2). */
	assert_int_equal(sw_release_verify("/nonexistent/bundle.tar.zst", &pk, &rep, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	snprintf(p, sizeof(p), "%s/%064d.tar.zst", tmpdir, 0);
	assert_int_equal(sw_release_verify(p, &pk, &rep, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
}

static void test_create_failures(void **state)
{
	struct sw_release_result res;
	struct sw_err err = SW_ERR_INIT;
	char out[PATH_MAX], p[PATH_MAX];

	(void)state;
	put(svc, "dist/app", "x", 0755);
	snprintf(out, sizeof(out), "%s/fail-missing", tmpdir);
	assert_int_equal(make_release(out, "1.0", "dist/nope", &res, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "job 'package'"));
	assert_non_null(strstr(err.msg, "'dist/nope'"));
	assert_false(sw_fs_exists(out));

	/* An output with no files. */
	snprintf(p, sizeof(p), "%s/empty", svc);
	assert_int_equal(sw_fs_mkdirs(p, 0755, &err), 0);
	assert_int_equal(make_release(out, "1.0", "empty/", &res, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "nothing to release"));

	/* The output directory cannot be made (a file is in the way). */
	snprintf(out, sizeof(out), "%s/a-file", tmpdir);
	put(tmpdir, "a-file", "x", 0644);
	assert_int_equal(make_release(out, "1.0", "dist/", &res, &err), -1);
	assert_int_equal(err.code, SW_EIO);
}

static void test_load_run(void **state)
{
	char runs[PATH_MAX], p[PATH_MAX];
	struct sw_err err = SW_ERR_INIT;
	json_t *s = NULL, *sum;

	(void)state;
	snprintf(runs, sizeof(runs), "%s/runs", tmpdir);
	assert_int_equal(sw_release_load_run(runs, "svc", &s, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND); /* exit 2, as with no signing key */
	assert_non_null(strstr(err.msg, "slipway run"));

	snprintf(p, sizeof(p), "%s/svc/run-1", runs);
	assert_int_equal(sw_fs_mkdirs(p, 0755, &err), 0);
	snprintf(p, sizeof(p), "%s/svc", runs);
	put(p, "latest", "../../etc\n", 0644);
	assert_int_equal(sw_release_load_run(runs, "svc", &s, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);

	put(p, "latest", "run-1\n", 0644);
	sum = summary("failed");
	snprintf(p, sizeof(p), "%s/svc/run-1/summary.json", runs);
	assert_int_equal(sw_json_write_file(p, sum, 0644, &err), 0);
	json_decref(sum);
	assert_int_equal(sw_release_load_run(runs, "svc", &s, &err), -1);
	assert_int_equal(err.code, SW_EFAILED);
	assert_non_null(strstr(err.msg, "status 'failed'"));

	sum = summary("passed");
	assert_int_equal(sw_json_write_file(p, sum, 0644, &err), 0);
	json_decref(sum);
	assert_int_equal(sw_release_load_run(runs, "svc", &s, &err), 0);
	assert_string_equal(sw_json_str(s, "run_id"), "run-1");
	json_decref(s);
	assert_int_equal(sw_release_load_run(runs, "../svc", &s, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
}

static void test_mtime_and_version(void **state)
{
	struct sw_git_info git;
	struct sw_err err = SW_ERR_INIT;
	char v[64];
	int64_t t;

	(void)state;
	memset(&git, 0, sizeof(git));
	unsetenv("SOURCE_DATE_EPOCH");
	assert_int_equal(sw_release_mtime(NULL, &t, &err), 0);
	assert_int_equal(t, 0);
	git.found = true;
	git.commit_time = 1600000000;
	snprintf(git.short_commit, sizeof(git.short_commit), "abc1234");
	assert_int_equal(sw_release_mtime(&git, &t, &err), 0);
	assert_int_equal(t, 1600000000);
	setenv("SOURCE_DATE_EPOCH", "1234", 1);
	assert_int_equal(sw_release_mtime(&git, &t, &err), 0);
	assert_int_equal(t, 1234);
	setenv("SOURCE_DATE_EPOCH", "12x", 1);
	assert_int_equal(sw_release_mtime(&git, &t, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	unsetenv("SOURCE_DATE_EPOCH");

	assert_string_equal(sw_release_version("9.9", "1.0", &git, v, sizeof(v)), "9.9");
	assert_string_equal(sw_release_version(NULL, "1.0", &git, v, sizeof(v)), "1.0");
	assert_string_equal(sw_release_version(NULL, NULL, &git, v, sizeof(v)), "0.0.0+abc1234");
	git.has_tag = true;
	snprintf(git.describe, sizeof(git.describe), "v2.0.0-3-gabc1234");
	assert_string_equal(sw_release_version(NULL, NULL, &git, v, sizeof(v)), "v2.0.0-3-gabc1234");
	assert_string_equal(sw_release_version(NULL, NULL, NULL, v, sizeof(v)), "0.0.0");
	assert_true(sw_release_safe_name("hello-1.x_y"));
	assert_false(sw_release_safe_name("../x"));
	assert_false(sw_release_safe_name(".hidden"));
	assert_false(sw_release_safe_name(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_verify), cmocka_unit_test(test_verify_damage),
		cmocka_unit_test(test_create_failures),   cmocka_unit_test(test_load_run),
		cmocka_unit_test(test_mtime_and_version),
	};
	return cmocka_run_group_tests_name("release", tests, setup, teardown);
}
