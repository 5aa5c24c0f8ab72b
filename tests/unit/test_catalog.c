/*
 * test_catalog.c - unit tests for the local release catalog
 * (src/release/catalog): listing newest first, lookups by version, by
 * "latest" and by digest, a version held by two digests, damaged files
 * left out, SERVICE@VERSION parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "release/catalog.h"
#include "release/manifest.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[PATH_MAX];

static void hex_of(char c, char out[65])
{
	memset(out, c, 64);
	out[64] = '\0';
}

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A release of service `svc`, version `ver`, digest c*64, made at created_ms, in root/<dir>. */
static void put_release(const char *dir, const char *svc, const char *ver, char c, int64_t created_ms, bool bundle)
{
	char hex[65], d[PATH_MAX], p[PATH_MAX];
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	json_t *sum = json_pack("{s:s, s:s, s:I, s:[]}", "run_id", "r1", "status", "passed", "duration_ms", (json_int_t)1,
				"jobs");
	struct sw_manifest_input in = {
		.service = svc,
		.version = ver,
		.size = 10,
		.created_ms = created_ms,
		.summary = sum,
		.nfiles = 1,
		.sbom_sha256 = "ab6cf24db1a57e890e3aefd1a261b2a490f1f487c2c1f489c9c3c42ffd922d09",
		.provenance_sha256 = "ab6cf24db1a57e890e3aefd1a261b2a490f1f487c2c1f489c9c3c42ffd922d09",
		.key_id = "B18F1F4029EAE874",
	};
	char bname[80], sname[80], pname[80];
	json_t *m;

	hex_of(c, hex);
	snprintf(bname, sizeof(bname), "%s.tar.zst", hex);
	snprintf(sname, sizeof(sname), "%s.sbom.cdx.json", hex);
	snprintf(pname, sizeof(pname), "%s.provenance.intoto.json", hex);
	in.digest_hex = hex;
	in.bundle_name = bname;
	in.sbom_file = sname;
	in.provenance_file = pname;
	m = sw_manifest_build(&in);
	assert_non_null(m);
	snprintf(d, sizeof(d), "%s/%s", root, dir);
	assert_int_equal(sw_fs_mkdirs(d, 0755, &err), 0);
	assert_int_equal(sw_json_pretty(m, &b), 0);
	snprintf(p, sizeof(p), "%s/%s.release.json", d, hex);
	put_file(p, sw_buf_str(&b));
	if (bundle) {
		snprintf(p, sizeof(p), "%s/%s", d, bname);
		put_file(p, "bundle");
	}
	sw_buf_release(&b);
	json_decref(m);
	json_decref(sum);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "%s/sw-catalog-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	return sw_fs_remove_tree(root, &err);
}

static void test_catalog_newest_first_and_lookups(void **state)
{
	struct sw_catalog c = SW_CATALOG_INIT;
	struct sw_err err = SW_ERR_INIT;
	const struct sw_catalog_entry *e;

	(void)state;
	put_release("hello", "hello", "1.0.0", 'a', 1795000000000LL, true);
	put_release("hello", "hello", "1.0.2", 'c', 1795000300000LL, true);
	put_release("hello", "hello", "1.0.1", 'b', 1795000200000LL, true);
	put_release("other", "other", "9.9.9", 'd', 1795000900000LL, true);

	assert_int_equal(sw_catalog_load(&c, root, "hello", &err), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.skipped, 0);
	assert_string_equal(c.v[0].version, "1.0.2");
	assert_string_equal(c.v[1].version, "1.0.1");
	assert_string_equal(c.v[2].version, "1.0.0");
	assert_string_equal(c.v[0].service, "hello");
	assert_string_equal(c.v[0].key_id, "B18F1F4029EAE874");
	assert_string_equal(c.v[0].created, "2026-11-18T11:11:40.000Z");
	assert_string_equal(c.v[2].digest, "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_non_null(strstr(c.v[2].bundle, "/hello/aaaaaaaa"));
	assert_non_null(strstr(c.v[2].bundle, ".tar.zst"));

	e = sw_catalog_find(&c, "hello", "1.0.1", &err);
	assert_non_null(e);
	assert_string_equal(e->digest, "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	e = sw_catalog_find(&c, "hello", SW_CATALOG_LATEST, &err);
	assert_non_null(e);
	assert_string_equal(e->version, "1.0.2");
	e = sw_catalog_find(&c, "hello", "1.0.9", &err);
	assert_null(e);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "no release '1.0.9' of 'hello' (known: 1.0.2, 1.0.1, 1.0.0)"));
	e = sw_catalog_find_digest(&c, "hello", "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
	assert_non_null(e);
	assert_string_equal(e->version, "1.0.2");
	assert_null(sw_catalog_find_digest(&c, "hello", "sha256:dddd"));
	sw_catalog_release(&c);

	/* Every service. */
	assert_int_equal(sw_catalog_load(&c, root, NULL, &err), 0);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.v[0].service, "other");
	assert_non_null(sw_catalog_find(&c, "other", "latest", &err));
	assert_null(sw_catalog_find(&c, "nosuch", "latest", &err));
	assert_int_equal(err.code, SW_ENOTFOUND);
	sw_catalog_release(&c);

	/* A service without releases: empty, not an error. */
	assert_int_equal(sw_catalog_load(&c, root, "nosuch", &err), 0);
	assert_int_equal(c.n, 0);
	sw_catalog_release(&c);
}

static void test_catalog_version_with_two_digests(void **state)
{
	struct sw_catalog c = SW_CATALOG_INIT;
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	put_release("dup", "dup", "2.0.0", 'a', 1795000000000LL, true);
	put_release("dup", "dup", "2.0.0", 'b', 1795000100000LL, true);
	assert_int_equal(sw_catalog_load(&c, root, "dup", &err), 0);
	assert_int_equal(c.n, 2);
	assert_null(sw_catalog_find(&c, "dup", "2.0.0", &err));
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "version '2.0.0' of 'dup' names two releases"));
	assert_non_null(strstr(err.msg, "sha256:aaaa"));
	assert_non_null(strstr(err.msg, "sha256:bbbb"));
	sw_catalog_release(&c);
}

static void test_catalog_skips_damaged(void **state)
{
	struct sw_catalog c = SW_CATALOG_INIT;
	struct sw_err err = SW_ERR_INIT;
	char hex[65], p[PATH_MAX];

	(void)state;
	put_release("dmg", "dmg", "1.0.0", 'a', 1795000000000LL, true);
	put_release("dmg", "dmg", "1.0.1", 'b', 1795000100000LL, false); /* no bundle */
	put_release("dmg", "else", "1.0.2", 'c', 1795000200000LL, true); /* another service's */
	hex_of('e', hex);
	snprintf(p, sizeof(p), "%s/dmg/%s.release.json", root, hex);
	put_file(p, "{not json");
	snprintf(p, sizeof(p), "%s/dmg/.tmp-1-abc.release.json", root);
	put_file(p, "{}");
	assert_int_equal(sw_catalog_load(&c, root, "dmg", &err), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.v[0].version, "1.0.0");
	assert_int_equal(c.skipped, 3);
	assert_true(c.skipped_why[0] != '\0');
	/* latest is the newest that is whole */
	assert_string_equal(sw_catalog_find(&c, "dmg", "latest", &err)->version, "1.0.0");
	sw_catalog_release(&c);
	assert_int_equal(c.n, 0);
	assert_int_equal(c.skipped, 0);
}

static void test_catalog_parse_ref(void **state)
{
	char s[64], v[64];
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	assert_int_equal(sw_catalog_parse_ref("hello@1.0.1", s, sizeof(s), v, sizeof(v), &err), 0);
	assert_string_equal(s, "hello");
	assert_string_equal(v, "1.0.1");
	assert_int_equal(sw_catalog_parse_ref("hello@latest", s, sizeof(s), v, sizeof(v), &err), 0);
	assert_string_equal(v, "latest");
	assert_int_equal(sw_catalog_parse_ref("hello", s, sizeof(s), v, sizeof(v), &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_int_equal(sw_catalog_parse_ref("@1.0", s, sizeof(s), v, sizeof(v), &err), -1);
	assert_int_equal(sw_catalog_parse_ref("hello@", s, sizeof(s), v, sizeof(v), &err), -1);
	assert_int_equal(sw_catalog_parse_ref("hello@1.0", s, 3, v, sizeof(v), &err), -1);
	assert_int_equal(sw_catalog_load(&(struct sw_catalog)SW_CATALOG_INIT, root, "../x", &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_catalog_newest_first_and_lookups),
		cmocka_unit_test(test_catalog_version_with_two_digests),
		cmocka_unit_test(test_catalog_skips_damaged),
		cmocka_unit_test(test_catalog_parse_ref),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
