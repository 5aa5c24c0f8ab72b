/*
 * test_manifest.c - unit tests for release.json (src/release/manifest), the
 * CycloneDX SBOM (src/release/sbom) and the in-toto provenance
 * (src/release/provenance).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/hash.h"
#include "base/json.h"
#include "release/bundle.h"
#include "release/gitinfo.h"
#include "release/manifest.h"
#include "release/provenance.h"
#include "release/sbom.h"

#include <string.h>

#define HEX_A "5d2193356e613bc624f93f01941a0f9b39944413ed287263066dbf4af696736a"
#define HEX_B "ab6cf24db1a57e890e3aefd1a261b2a490f1f487c2c1f489c9c3c42ffd922d09"

static json_t *summary(void)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:[{s:s}, {s:s}], s:{s:i, s:i, s:i, s:i}}", "run_id", "r1", "service",
			 "svc", "status", "passed", "duration_ms", (json_int_t)1234, "jobs", "name", "build", "name", "test", "tests",
			 "passed", 7, "failed", 0, "skipped", 2, "errors", 0);
}

static json_t *make_manifest(const struct sw_git_info *git)
{
	json_t *s = summary();
	struct sw_manifest_input in = {
		.service = "svc",
		.version = "1.2.3",
		.digest_hex = HEX_A,
		.bundle_name = HEX_A ".tar.zst",
		.size = 4242,
		.created_ms = 1795000000123LL,
		.git = git,
		.summary = s,
		.nfiles = 3,
		.sbom_file = HEX_A ".sbom.cdx.json",
		.sbom_sha256 = HEX_B,
		.provenance_file = HEX_A ".provenance.intoto.json",
		.provenance_sha256 = HEX_B,
		.key_id = "B18F1F4029EAE874",
	};
	json_t *m = sw_manifest_build(&in);

	json_decref(s);
	return m;
}

static void test_manifest_fields(void **state)
{
	struct sw_git_info git;
	struct sw_manifest_view v;
	struct sw_err err = SW_ERR_INIT;
	json_t *m;

	(void)state;
	memset(&git, 0, sizeof(git));
	git.found = true;
	snprintf(git.commit, sizeof(git.commit), "%s", "0123456789abcdef0123456789abcdef01234567");
	git.commit_time = 1700000000;
	git.dirty = true;
	m = make_manifest(&git);
	assert_non_null(m);
	assert_string_equal(sw_json_str(m, "schema"), "slipway.release/v1");
	assert_string_equal(sw_json_str(m, "digest"), "sha256:" HEX_A);
	assert_string_equal(sw_json_str(m, "created"), "2026-11-18T11:06:40.123Z");
	assert_string_equal(sw_json_str(json_object_get(m, "git"), "commit_time"), "2023-11-14T22:13:20.000Z");
	assert_true(json_is_true(json_object_get(json_object_get(m, "git"), "dirty")));
	assert_int_equal(sw_json_int(json_object_get(m, "pipeline"), "jobs", -1), 2);
	assert_int_equal(sw_json_int(json_object_get(m, "pipeline"), "duration_ms", -1), 1234);
	assert_int_equal(sw_json_int(json_object_get(m, "tests"), "passed", -1), 7);
	assert_int_equal(sw_json_int(json_object_get(m, "tests"), "skipped", -1), 2);
	assert_int_equal(sw_manifest_check(m, "release.json", &v, &err), 0);
	assert_string_equal(v.service, "svc");
	assert_int_equal(v.size, 4242);
	assert_int_equal(v.files, 3);
	json_decref(m);

	/* Outside git: null. */
	m = make_manifest(NULL);
	assert_true(json_is_null(json_object_get(m, "git")));
	json_decref(m);
}

static void test_manifest_check_rejects(void **state)
{
	struct sw_manifest_view v;
	struct sw_err err = SW_ERR_INIT;
	json_t *m;

	(void)state;
	m = make_manifest(NULL);
	json_object_set_new(m, "digest", json_string("sha256:xyz"));
	assert_int_equal(sw_manifest_check(m, "r.json", &v, &err), -1);
	assert_non_null(strstr(err.msg, "digest"));
	json_decref(m);

	m = make_manifest(NULL);
	json_object_set_new(json_object_get(m, "sbom"), "file", json_string("../../etc/passwd"));
	assert_int_equal(sw_manifest_check(m, "r.json", &v, &err), -1);
	assert_non_null(strstr(err.msg, "plain file names"));
	json_decref(m);

	m = make_manifest(NULL);
	json_object_set_new(m, "schema", json_string("slipway.release/v9"));
	assert_int_equal(sw_manifest_check(m, "r.json", &v, &err), -1);
	assert_non_null(strstr(err.msg, "schema"));
	json_decref(m);

	m = make_manifest(NULL);
	json_object_del(m, "key_id");
	assert_int_equal(sw_manifest_check(m, "r.json", &v, &err), -1);
	assert_non_null(strstr(err.msg, "key_id"));
	json_decref(m);

	m = make_manifest(NULL);
	json_object_set_new(m, "size", json_integer(-1));
	assert_int_equal(sw_manifest_check(m, "r.json", &v, &err), -1);
	json_decref(m);
}

static void test_sbom(void **state)
{
	struct sw_bundle_list l;
	struct sw_bundle_entry e[3];
	struct sw_err err = SW_ERR_INIT;
	char serial[SW_SBOM_SERIAL_MAX], serial2[SW_SBOM_SERIAL_MAX];
	json_t *sbom, *map, *comps;

	(void)state;
	sw_sbom_serial(HEX_A, serial);
	sw_sbom_serial(HEX_A, serial2);
	assert_string_equal(serial, serial2);
	assert_int_equal(strlen(serial), 45);
	assert_memory_equal(serial, "urn:uuid:5d219335-6e61-8", 24);
	assert_non_null(strchr("89ab", serial[28])); /* RFC 9562 variant */
	sw_sbom_serial(HEX_B, serial2);
	assert_string_not_equal(serial, serial2);

	memset(e, 0, sizeof(e));
	e[0].path = "dist";
	e[0].type = SW_BUNDLE_DIR;
	e[1].path = "dist/a";
	e[1].type = SW_BUNDLE_FILE;
	snprintf(e[1].sha256, sizeof(e[1].sha256), "%s", HEX_A);
	e[2].path = "dist/b";
	e[2].type = SW_BUNDLE_FILE;
	snprintf(e[2].sha256, sizeof(e[2].sha256), "%s", HEX_B);
	l.v = e;
	l.n = 3;
	l.cap = 3;
	sbom = sw_sbom_build("svc", "1.0", HEX_A, &l);
	assert_non_null(sbom);
	assert_string_equal(sw_json_str(sbom, "bomFormat"), "CycloneDX");
	assert_string_equal(sw_json_str(sbom, "specVersion"), "1.5");
	assert_string_equal(sw_json_str(sbom, "serialNumber"), serial);
	assert_string_equal(sw_json_str(json_object_get(json_object_get(sbom, "metadata"), "component"), "name"), "svc");
	comps = json_object_get(sbom, "components");
	assert_int_equal(json_array_size(comps), 2); /* directories are not components */
	assert_string_equal(sw_json_str(json_array_get(comps, 0), "type"), "file");
	map = sw_sbom_file_hashes(sbom, "sbom", &err);
	assert_non_null(map);
	assert_string_equal(json_string_value(json_object_get(map, "dist/b")), HEX_B);
	json_decref(map);

	/* A component without a SHA-256 is rejected. */
	json_object_set_new(json_array_get(comps, 1), "hashes", json_array());
	assert_null(sw_sbom_file_hashes(sbom, "sbom", &err));
	assert_non_null(strstr(err.msg, "component 1"));
	json_decref(sbom);
}

static void test_provenance(void **state)
{
	const char *jobs[] = { "build", "test" };
	struct sw_git_info git;
	struct sw_provenance_input in = {
		.service = "svc",
		.version = "1.0",
		.bundle_name = HEX_A ".tar.zst",
		.bundle_sha256 = HEX_A,
		.spec_name = "slipway.yml",
		.spec_sha256 = HEX_B,
		.jobs = jobs,
		.njobs = 2,
		.git = &git,
		.run_id = "r1",
		.started = "2026-01-01T00:00:00.000Z",
		.finished = NULL,
	};
	json_t *p, *pred, *dep, *meta;

	(void)state;
	memset(&git, 0, sizeof(git));
	git.found = true;
	snprintf(git.commit, sizeof(git.commit), "%s", "0123456789abcdef0123456789abcdef01234567");
	snprintf(git.remote_url, sizeof(git.remote_url), "%s", "https://example.com/svc.git");
	p = sw_provenance_build(&in);
	assert_non_null(p);
	assert_string_equal(sw_json_str(p, "_type"), "https://in-toto.io/Statement/v1");
	assert_string_equal(sw_json_str(p, "predicateType"), "https://slsa.dev/provenance/v1");
	assert_string_equal(sw_json_str(json_object_get(json_array_get(json_object_get(p, "subject"), 0), "digest"),
				       "sha256"),
			    HEX_A);
	pred = json_object_get(p, "predicate");
	assert_string_equal(sw_json_str(json_object_get(pred, "buildDefinition"), "buildType"),
			    "https://slipway.dev/pipeline/v1");
	dep = json_array_get(json_object_get(json_object_get(pred, "buildDefinition"), "resolvedDependencies"), 0);
	assert_string_equal(sw_json_str(dep, "uri"), "git+https://example.com/svc.git");
	assert_string_equal(sw_json_str(json_object_get(dep, "digest"), "gitCommit"), git.commit);
	meta = json_object_get(json_object_get(pred, "runDetails"), "metadata");
	assert_string_equal(sw_json_str(meta, "invocationId"), "r1");
	assert_non_null(json_object_get(meta, "startedOn"));
	assert_null(json_object_get(meta, "finishedOn"));
	assert_string_equal(
		sw_json_str(json_object_get(json_object_get(pred, "runDetails"), "builder"), "id"), "slipway-local");
	json_decref(p);

	in.git = NULL;
	p = sw_provenance_build(&in);
	assert_int_equal(json_array_size(json_object_get(
				 json_object_get(json_object_get(p, "predicate"), "buildDefinition"), "resolvedDependencies")),
			 0);
	json_decref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest_fields),
		cmocka_unit_test(test_manifest_check_rejects),
		cmocka_unit_test(test_sbom),
		cmocka_unit_test(test_provenance),
	};
	return cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
}
