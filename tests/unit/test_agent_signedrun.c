/*
 * test_agent_signedrun.c - unit tests for src/agent/signedrun and
 * sw_installer_manifest: what a slot runs comes from the release.json the
 * agent verified against its trusted keys; a desired row's run claim that
 * differs from it (another command, env, hook) is refused; a release.json
 * that is tampered, signed by an unknown key, or names another release or
 * service is refused and deleted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/desired.h"
#include "agent/installer.h"
#include "agent/signedrun.h"
#include "base/buf.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/json.h"
#include "release/minisign.h"

#include <stdio.h>
#include <string.h>

#define DIG "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIG2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static const char spec_text[] = "service: hello\n"
				"build:\n"
				"  jobs:\n"
				"    build:\n"
				"      steps: [make]\n"
				"run:\n"
				"  command: ./dist/hello --port ${PORT}\n"
				"  env: { GREETING: hi }\n"
				"  health: { http: /healthz, interval: 1s, timeout: 2s }\n"
				"  stop: { signal: TERM, grace: 10s }\n"
				"  hooks:\n"
				"    before_install: echo before\n"
				"    timeout: 30s\n"
				"environments:\n"
				"  staging:\n"
				"    hosts: { env: staging }\n";

static char tmpdir[PATH_MAX];
static struct sw_minisign_seckey key, other_key;
static struct sw_minisign_pubkey pub, other_pub;

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sw-test-signedrun-XXXXXX");
	if (!mkdtemp(tmpdir) || sw_hash_global_init() < 0)
		return -1;
	sw_minisign_keygen(&pub, &key);
	sw_minisign_keygen(&other_pub, &other_key);
	return 0;
}

static int teardown(void **state)
{
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	sw_minisign_seckey_wipe(&key);
	sw_minisign_seckey_wipe(&other_key);
	return sw_fs_remove_tree(tmpdir, &err);
}

/* A release.json for digest of service, carrying spec (NULL: none). */
static json_t *manifest(const char *service, const char *digest, const char *spec)
{
	char dg[80], bundle[80];
	json_t *m;

	snprintf(dg, sizeof(dg), "sha256:%s", digest);
	snprintf(bundle, sizeof(bundle), "%s.tar.zst", digest);
	m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:{s:s, s:s}, s:{s:s, s:s}}", "schema",
		      "slipway.release/v1", "service", service, "version", "1.0.0", "digest", dg, "bundle", bundle,
		      "key_id", "0000000000000000", "size", (json_int_t)1, "files", (json_int_t)1, "sbom", "file",
		      "x.sbom.cdx.json", "sha256", DIG, "provenance", "file", "x.provenance.intoto.json", "sha256", DIG);
	assert_non_null(m);
	if (spec)
		json_object_set_new(m, "spec", json_string(spec));
	return m;
}

/* A fresh agent root trusting pub, with bundles/<digest>.release.json (+ .minisig by k) from m. */
static void make_root(char *root, const char *name, const char *digest, const json_t *m,
		      const struct sw_minisign_seckey *k)
{
	struct sw_buf b = SW_BUF_INIT(1 << 20), sig = SW_BUF_INIT(65536);
	struct sw_err err = SW_ERR_INIT;
	char p[PATH_MAX], id[SW_MINISIGN_KEY_ID_HEX];

	snprintf(root, PATH_MAX, "%s/%s", tmpdir, name);
	snprintf(p, sizeof(p), "%s/trusted", root);
	assert_int_equal(sw_fs_mkdirs(p, 0755, &err), 0);
	snprintf(p, sizeof(p), "%s/bundles", root);
	assert_int_equal(sw_fs_mkdirs(p, 0755, &err), 0);
	assert_int_equal(sw_minisign_pubkey_format(&pub, &b), 0);
	sw_minisign_key_id(pub.keynum, id);
	snprintf(p, sizeof(p), "%s/trusted/%s.pub", root, id);
	assert_int_equal(sw_fs_write_atomic(p, b.data, b.len, 0644, &err), 0);
	sw_buf_reset(&b);
	assert_int_equal(sw_json_pretty(m, &b), 0);
	snprintf(p, sizeof(p), "%s/bundles/%s.release.json", root, digest);
	assert_int_equal(sw_fs_write_atomic(p, b.data, b.len, 0644, &err), 0);
	assert_int_equal(sw_minisign_sign_mem(k, b.data, b.len, "release.json", 1700000000, &sig, &err), 0);
	snprintf(p, sizeof(p), "%s/bundles/%s.release.json.minisig", root, digest);
	assert_int_equal(sw_fs_write_atomic(p, sig.data, sig.len, 0644, &err), 0);
	sw_buf_release(&b);
	sw_buf_release(&sig);
}

static int has_manifest(const char *root, const char *digest)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/bundles/%s.release.json", root, digest);
	return sw_fs_exists(p);
}

static struct sw_runspec *signed_run(void)
{
	struct sw_err err = SW_ERR_INIT;
	json_t *m = manifest("hello", DIG, spec_text);
	struct sw_runspec *rs = sw_signedrun_from_manifest(m, &err);

	if (!rs)
		fail_msg("signed run: %s", err.msg);
	json_decref(m);
	return rs;
}

static void test_from_manifest(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_runspec *rs = signed_run();
	json_t *m;

	(void)state;
	assert_string_equal(rs->command, "./dist/hello --port ${PORT}");
	assert_int_equal(rs->nenv, 1);
	assert_string_equal(rs->env[0].name, "GREETING");
	assert_string_equal(rs->env[0].value, "hi");
	assert_int_equal(rs->health, SW_RUNSPEC_HEALTH_HTTP);
	assert_string_equal(rs->health_target, "/healthz");
	assert_string_equal(rs->before_install, "echo before");
	assert_int_equal(rs->hook_timeout_ms, 30000);
	sw_runspec_free(rs);

	/* Nothing signed says what to run: refused. */
	m = manifest("hello", DIG, NULL);
	assert_null(sw_signedrun_from_manifest(m, &err));
	assert_int_equal(err.code, SW_EINTEGRITY);
	assert_non_null(strstr(err.msg, "'spec'"));
	json_decref(m);
	m = manifest("hello", DIG, "service: hello\nbuild:\n  jobs:\n    b:\n      steps: [make]\n");
	assert_null(sw_signedrun_from_manifest(m, &err));
	assert_int_equal(err.code, SW_EINTEGRITY);
	assert_non_null(strstr(err.msg, "no run section"));
	json_decref(m);
	m = manifest("hello", DIG, "service: [");
	assert_null(sw_signedrun_from_manifest(m, &err));
	assert_int_equal(err.code, SW_EINTEGRITY);
	json_decref(m);
}

/* The claim of a desired row with this run object (JSON text), parsed as the agent parses rows. */
static struct sw_runspec *claim_of(const char *run_json)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_runspec *claim;
	struct sw_desired d;
	char doc[2048];

	snprintf(doc, sizeof(doc),
		 "{\"generation\": 2, \"services\": [{\"service\": \"hello\", \"slots\": ["
		 " {\"slot\": \"a\", \"digest\": \"" DIG "\", \"port\": 8001, \"run\": %s}]}]}",
		 run_json);
	if (sw_desired_parse(doc, strlen(doc), &d, &err) < 0)
		fail_msg("desired: %s", err.msg);
	assert_int_equal(d.n, 1);
	assert_false(d.rows[0].invalid);
	claim = d.rows[0].claim;
	d.rows[0].claim = NULL;
	sw_desired_release(&d);
	assert_non_null(claim);
	return claim;
}

static void expect_claim_refused(const struct sw_runspec *signed_rs, const char *run_json, const char *field)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_runspec *claim = claim_of(run_json);

	assert_int_equal(sw_signedrun_check(claim, signed_rs, &err), -1);
	assert_int_equal(err.code, SW_EINTEGRITY);
	if (!strstr(err.msg, field) || !strstr(err.msg, "signed release.json"))
		fail_msg("claim %s: message '%s' lacks '%s'", run_json, err.msg, field);
	sw_runspec_free(claim);
}

static void test_claim_checked(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_runspec *rs = signed_run(), *claim;
	static const char same_yaml_shape[] =
		"{\"command\": \"./dist/hello --port ${PORT}\", \"env\": {\"GREETING\": \"hi\"},"
		" \"health\": {\"http\": \"/healthz\", \"interval\": \"1s\", \"timeout\": \"2s\"},"
		" \"stop\": {\"signal\": \"TERM\", \"grace\": \"10s\"},"
		" \"hooks\": {\"before_install\": \"echo before\", \"timeout\": \"30s\"}}";

	(void)state;
	/* No claim (what a current server sends): the signed run is used as it is. */
	assert_int_equal(sw_signedrun_check(NULL, rs, &err), 0);
	/* The same run in another JSON shape (an older server's row): accepted. */
	claim = claim_of(same_yaml_shape);
	assert_int_equal(sw_signedrun_check(claim, rs, &err), 0);
	sw_runspec_free(claim);
	/* Anything else is refused, naming the field. */
	expect_claim_refused(rs,
			     "{\"command\": \"touch /tmp/pwned\", \"env\": {\"GREETING\": \"hi\"},"
			     " \"health\": {\"http\": \"/healthz\"}, \"hooks\": {\"before_install\": \"echo before\","
			     " \"timeout\": \"30s\"}}",
			     "run.command");
	expect_claim_refused(rs,
			     "{\"command\": \"./dist/hello --port ${PORT}\", \"env\": {\"GREETING\": \"hi\","
			     " \"LD_PRELOAD\": \"/tmp/evil.so\"}, \"health\": {\"http\": \"/healthz\"},"
			     " \"hooks\": {\"before_install\": \"echo before\", \"timeout\": \"30s\"}}",
			     "run.env");
	expect_claim_refused(rs,
			     "{\"command\": \"./dist/hello --port ${PORT}\", \"env\": {\"GREETING\": \"hi\"},"
			     " \"health\": {\"http\": \"/healthz\"}, \"hooks\": {\"before_install\": \"touch /tmp/pwned\","
			     " \"timeout\": \"30s\"}}",
			     "run.hooks.before_install");
	expect_claim_refused(rs,
			     "{\"command\": \"./dist/hello --port ${PORT}\", \"env\": {\"GREETING\": \"hi\"},"
			     " \"health\": {\"http\": \"/healthz\"}, \"hooks\": {\"before_install\": \"echo before\","
			     " \"validate\": \"touch /tmp/pwned\", \"timeout\": \"30s\"}}",
			     "run.hooks.validate");
	expect_claim_refused(rs,
			     "{\"command\": \"./dist/hello --port ${PORT}\", \"env\": {\"GREETING\": \"hi\"},"
			     " \"health\": {\"command\": \"touch /tmp/pwned\"}, \"hooks\": {\"before_install\": "
			     "\"echo before\", \"timeout\": \"30s\"}}",
			     "run.health");
	sw_runspec_free(rs);
}

static void expect_manifest_refused(const char *name, const char *digest, const json_t *m,
				    const struct sw_minisign_seckey *k, const char *service, void (*damage)(const char *),
				    const char *needle)
{
	struct sw_installer in;
	struct sw_err err = SW_ERR_INIT;
	char root[PATH_MAX];
	json_t *out = (json_t *)1;

	make_root(root, name, digest, m, k);
	if (damage)
		damage(root);
	assert_int_equal(sw_installer_init(&in, root, "", "", &err), 0);
	assert_int_equal(sw_installer_manifest(&in, service, digest, &out, &err), -1);
	assert_null(out);
	assert_int_equal(err.code, SW_EINTEGRITY);
	if (!strstr(err.msg, needle))
		fail_msg("%s: message '%s' lacks '%s'", name, err.msg, needle);
	assert_false(has_manifest(root, digest)); /* deleted */
	sw_installer_release(&in);
}

/* Change the signed command after signing (a server serving an altered release.json). */
static void alter_command(const char *root)
{
	struct sw_buf b = SW_BUF_INIT(1 << 20);
	struct sw_err err = SW_ERR_INIT;
	char p[PATH_MAX], *at;

	snprintf(p, sizeof(p), "%s/bundles/%s.release.json", root, DIG);
	assert_int_equal(sw_fs_read_file(p, 1 << 20, &b, &err), 0);
	at = strstr(b.data, "./dist/hello");
	assert_non_null(at);
	memcpy(at, "touch /tmp/x", 12);
	assert_int_equal(sw_fs_write_atomic(p, b.data, b.len, 0644, &err), 0);
	sw_buf_release(&b);
}

static void test_installer_manifest(void **state)
{
	struct sw_installer in;
	struct sw_err err = SW_ERR_INIT;
	struct sw_runspec *rs;
	char root[PATH_MAX];
	json_t *m = manifest("hello", DIG, spec_text), *out = NULL;

	(void)state;
	/* Signed by the trusted key, naming this digest and service: used. */
	make_root(root, "good", DIG, m, &key);
	assert_int_equal(sw_installer_init(&in, root, "", "", &err), 0);
	assert_int_equal(sw_installer_manifest(&in, "hello", DIG, &out, &err), 0);
	rs = sw_signedrun_from_manifest(out, &err);
	assert_non_null(rs);
	assert_string_equal(rs->command, "./dist/hello --port ${PORT}");
	sw_runspec_free(rs);
	json_decref(out);
	sw_installer_release(&in);

	expect_manifest_refused("altered", DIG, m, &key, "hello", alter_command, "signature does not verify");
	expect_manifest_refused("untrusted", DIG, m, &other_key, "hello", NULL, "not a trusted key");
	expect_manifest_refused("other-service", DIG, m, &key, "api", NULL, "of service 'hello', not 'api'");
	json_decref(m);
	/* A signed release.json of another release, served under this digest. */
	m = manifest("hello", DIG2, spec_text);
	{
		char src[PATH_MAX], dst[PATH_MAX];

		make_root(root, "other-digest", DIG2, m, &key);
		for (int i = 0; i < 2; i++) {
			snprintf(src, sizeof(src), "%s/bundles/%s.release.json%s", root, DIG2, i ? ".minisig" : "");
			snprintf(dst, sizeof(dst), "%s/bundles/%s.release.json%s", root, DIG, i ? ".minisig" : "");
			assert_int_equal(rename(src, dst), 0);
		}
		assert_int_equal(sw_installer_init(&in, root, "", "", &err), 0);
		assert_int_equal(sw_installer_manifest(&in, "hello", DIG, &out, &err), -1);
		assert_int_equal(err.code, SW_EINTEGRITY);
		assert_non_null(strstr(err.msg, "names release fedcba987654"));
		assert_false(has_manifest(root, DIG));
		sw_installer_release(&in);
	}
	json_decref(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_manifest),
		cmocka_unit_test(test_claim_checked),
		cmocka_unit_test(test_installer_manifest),
	};
	return cmocka_run_group_tests_name("agent_signedrun", tests, setup, teardown);
}
