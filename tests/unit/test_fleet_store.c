/*
 * test_fleet_store.c - unit tests for store/sqlite_fleet.c through the
 * store.h interface: API tokens, join tokens (one-time, expiry), hosts
 * (create, re-enroll by name, lookup, list, report, revoke), bad records
 * and persistence across a reopen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/hash.h"
#include "store/store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
	char dir[PATH_MAX];
	char db[PATH_MAX];
	struct sw_store *st;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sw_err err = SW_ERR_INIT;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sw-test-fleet-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/slipway.db", f->dir);
	if (sw_hash_global_init() < 0 || sw_store_open(f->db, &f->st, &err) < 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	sw_store_close(f->st);
	sw_fs_remove_tree(f->dir, NULL);
	free(f);
	return 0;
}

static void hash_of(const char *secret, char hex[SW_SHA256_HEX])
{
	sw_sha256_hex(secret, strlen(secret), hex);
}

static json_t *token_rec(const char *id, const char *name, const char *role, const char *secret)
{
	char h[SW_SHA256_HEX];

	hash_of(secret, h);
	return json_pack("{s:s, s:s, s:s, s:s}", "id", id, "name", name, "role", role, "hash", h);
}

static json_t *host_rec(const char *id, const char *name, const char *secret, int a, int b)
{
	char h[SW_SHA256_HEX];

	hash_of(secret, h);
	return json_pack("{s:s, s:s, s:{s:s}, s:s, s:[i,i]}", "id", id, "name", name, "labels", "env", "staging",
			 "token_hash", h, "ports", a, b);
}

/* ---- API tokens --------------------------------------------------------- */

static void test_token_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *t = token_rec("tok-1", "ci", "deployer", "swt_secret1"), *got = NULL, *list = NULL;
	char h[SW_SHA256_HEX];

	assert_int_equal(sw_store_token_create(f->st, t, &err), 0);
	json_decref(t);
	hash_of("swt_secret1", h);
	assert_int_equal(sw_store_token_lookup(f->st, h, &got, &err), 0);
	assert_string_equal(json_string_value(json_object_get(got, "id")), "tok-1");
	assert_string_equal(json_string_value(json_object_get(got, "name")), "ci");
	assert_string_equal(json_string_value(json_object_get(got, "role")), "deployer");
	assert_string_equal(json_string_value(json_object_get(got, "hash")), h);
	assert_true(json_is_false(json_object_get(got, "revoked")));
	assert_non_null(json_string_value(json_object_get(got, "created")));
	json_decref(got);

	t = token_rec("tok-2", "ro", "viewer", "swt_secret2");
	assert_int_equal(sw_store_token_create(f->st, t, &err), 0);
	json_decref(t);
	assert_int_equal(sw_store_token_list(f->st, &list, &err), 0);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);

	/* Revoke: still found (the caller refuses it), flagged revoked; twice is fine. */
	assert_int_equal(sw_store_token_revoke(f->st, "tok-1", &err), 0);
	assert_int_equal(sw_store_token_revoke(f->st, "tok-1", &err), 0);
	assert_int_equal(sw_store_token_lookup(f->st, h, &got, &err), 0);
	assert_true(json_is_true(json_object_get(got, "revoked")));
	json_decref(got);
}

static void test_token_errors(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *t, *got = NULL;
	char h[SW_SHA256_HEX];

	hash_of("nope", h);
	assert_int_equal(sw_store_token_lookup(f->st, h, &got, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_null(got);
	assert_int_equal(sw_store_token_revoke(f->st, "missing", &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "'missing'"));

	t = token_rec("tok-x", "x", "root", "s");
	assert_int_equal(sw_store_token_create(f->st, t, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "root"));
	json_decref(t);

	t = json_pack("{s:s, s:s, s:s}", "id", "tok-y", "role", "admin", "hash", "abc");
	assert_int_equal(sw_store_token_create(f->st, t, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "hash"));
	json_decref(t);

	/* Duplicate id, then duplicate hash. */
	t = token_rec("tok-d", "d", "admin", "s1");
	assert_int_equal(sw_store_token_create(f->st, t, &err), 0);
	assert_int_equal(sw_store_token_create(f->st, t, &err), -1);
	assert_int_equal(err.code, SW_EBUSY);
	json_decref(t);
	t = token_rec("tok-e", "e", "admin", "s1");
	assert_int_equal(sw_store_token_create(f->st, t, &err), -1);
	assert_int_equal(err.code, SW_EBUSY);
	json_decref(t);
}

/* ---- join tokens -------------------------------------------------------- */

static void test_join_once(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *labels = json_pack("{s:s, s:s}", "env", "staging", "region", "eu"), *got = NULL;
	int64_t now = sw_clock_wall_ms();
	char h[SW_SHA256_HEX];

	hash_of("swj_one", h);
	assert_int_equal(sw_store_join_create(f->st, h, labels, NULL, now + 60000, &err), 0);
	json_decref(labels);
	assert_int_equal(sw_store_join_consume(f->st, h, "h-1", now, &got, NULL, 0, &err), 0);
	assert_string_equal(json_string_value(json_object_get(got, "region")), "eu");
	json_decref(got);
	got = NULL;
	assert_int_equal(sw_store_join_consume(f->st, h, "h-2", now, &got, NULL, 0, &err), -1);
	assert_int_equal(err.code, SW_EAUTH);
	assert_string_equal(err.msg, "join token already used");
	assert_null(got);

	/* replace: kept with the token, given back by consume ("" when none). */
	char replace[64] = "x";

	hash_of("swj_replace", h);
	assert_int_equal(sw_store_join_create(f->st, h, NULL, "web-1", now + 60000, &err), 0);
	assert_int_equal(sw_store_join_consume(f->st, h, "h-1", now, &got, replace, sizeof(replace), &err), 0);
	assert_string_equal(replace, "web-1");
	json_decref(got);
	hash_of("swj_plain", h);
	assert_int_equal(sw_store_join_create(f->st, h, NULL, NULL, now + 60000, &err), 0);
	assert_int_equal(sw_store_join_consume(f->st, h, "h-1", now, &got, replace, sizeof(replace), &err), 0);
	assert_string_equal(replace, "");
	json_decref(got);
	assert_int_equal(sw_store_join_create(f->st, h, NULL, "", now, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
}

static void test_join_expired_unknown(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	int64_t now = sw_clock_wall_ms();
	char h[SW_SHA256_HEX];
	json_t *got = NULL;

	hash_of("swj_old", h);
	assert_int_equal(sw_store_join_create(f->st, h, NULL, NULL, now - 1, &err), 0);
	assert_int_equal(sw_store_join_consume(f->st, h, "h-1", now, &got, NULL, 0, &err), -1);
	assert_int_equal(err.code, SW_EAUTH);
	assert_string_equal(err.msg, "join token expired");
	/* Exactly at the expiry instant it is expired too. */
	hash_of("swj_edge", h);
	assert_int_equal(sw_store_join_create(f->st, h, NULL, NULL, now, &err), 0);
	assert_int_equal(sw_store_join_consume(f->st, h, "h-1", now, &got, NULL, 0, &err), -1);
	assert_string_equal(err.msg, "join token expired");
	assert_int_equal(sw_store_join_consume(f->st, h, "h-1", now - 1, &got, NULL, 0, &err), 0);
	assert_true(json_is_object(got) && json_object_size(got) == 0);
	json_decref(got);

	hash_of("swj_never", h);
	assert_int_equal(sw_store_join_consume(f->st, h, "h-1", now, &got, NULL, 0, &err), -1);
	assert_int_equal(err.code, SW_EAUTH);
	assert_string_equal(err.msg, "unknown join token");

	assert_int_equal(sw_store_join_create(f->st, "short", NULL, NULL, now, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	got = json_array();
	hash_of("swj_badlabels", h);
	assert_int_equal(sw_store_join_create(f->st, h, got, NULL, now, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	json_decref(got);
}

/* ---- hosts -------------------------------------------------------------- */

static void test_host_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *h = host_rec("h-aaa", "web-1", "swh_1", 9001, 9002), *got = NULL, *list = NULL, *status;
	char th[SW_SHA256_HEX];

	assert_int_equal(sw_store_host_create(f->st, h, &err), 0);
	json_decref(h);
	h = host_rec("h-bbb", "web-0", "swh_0", 9003, 9004);
	assert_int_equal(sw_store_host_create(f->st, h, &err), 0);
	json_decref(h);

	hash_of("swh_1", th);
	assert_int_equal(sw_store_host_lookup_token(f->st, th, &got, &err), 0);
	assert_string_equal(json_string_value(json_object_get(got, "id")), "h-aaa");
	assert_string_equal(json_string_value(json_object_get(got, "name")), "web-1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(got, "labels"), "env")), "staging");
	assert_int_equal(json_integer_value(json_array_get(json_object_get(got, "ports"), 1)), 9002);
	assert_int_equal(json_integer_value(json_object_get(got, "last_seen_ms")), 0);
	assert_true(json_is_false(json_object_get(got, "revoked")));
	assert_true(json_is_object(json_object_get(got, "status")));
	json_decref(got);

	/* Sorted by name. */
	assert_int_equal(sw_store_host_list(f->st, &list, &err), 0);
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")), "web-0");
	json_decref(list);

	status = json_pack("{s:[{s:s, s:s}]}", "services", "service", "hello", "state", "healthy");
	assert_int_equal(sw_store_host_report(f->st, "h-aaa", 1234567, status, 7, &err), 0);
	json_decref(status);
	assert_int_equal(sw_store_host_get(f->st, "h-aaa", &got, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(got, "last_seen_ms")), 1234567);
	assert_int_equal(json_integer_value(json_object_get(got, "generation_applied")), 7);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(json_object_get(got, "status"), "services"), 0),
				    "state")),
			    "healthy");
	json_decref(got);

	assert_int_equal(sw_store_host_revoke(f->st, "h-aaa", &err), 0);
	assert_int_equal(sw_store_host_lookup_token(f->st, th, &got, &err), 0);
	assert_true(json_is_true(json_object_get(got, "revoked")));
	json_decref(got);

	assert_int_equal(sw_store_host_get(f->st, "h-nope", &got, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_int_equal(sw_store_host_report(f->st, "h-nope", 1, NULL, 0, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_int_equal(sw_store_host_revoke(f->st, "h-nope", &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	hash_of("swh_unknown", th);
	assert_int_equal(sw_store_host_lookup_token(f->st, th, &got, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_string_equal(err.msg, "unknown host token");
}

/* The address an agent reports: given at enrollment, replaced by a report that has one, kept by one that has not. */
static void test_host_address_and_labels(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *h = host_rec("h-adr", "web-7", "swh_7", 9101, 9102), *got = NULL, *status, *labels;

	json_object_set_new(h, "address", json_string("10.0.0.7"));
	assert_int_equal(sw_store_host_create(f->st, h, &err), 0);
	json_decref(h);
	assert_int_equal(sw_store_host_get(f->st, "h-adr", &got, &err), 0);
	assert_string_equal(json_string_value(json_object_get(got, "address")), "10.0.0.7");
	json_decref(got);
	status = json_pack("{s:[], s:s}", "services", "address", "10.0.0.8");
	assert_int_equal(sw_store_host_report(f->st, "h-adr", 5, status, 1, &err), 0);
	json_decref(status);
	status = json_pack("{s:[]}", "services");
	assert_int_equal(sw_store_host_report(f->st, "h-adr", 6, status, 1, &err), 0);
	json_decref(status);
	assert_int_equal(sw_store_host_get(f->st, "h-adr", &got, &err), 0);
	assert_string_equal(json_string_value(json_object_get(got, "address")), "10.0.0.8");
	json_decref(got);
	/* A host enrolled without one has "". */
	h = host_rec("h-none", "web-8", "swh_8", 9103, 9104);
	assert_int_equal(sw_store_host_create(f->st, h, &err), 0);
	json_decref(h);
	assert_int_equal(sw_store_host_get(f->st, "h-none", &got, &err), 0);
	assert_string_equal(json_string_value(json_object_get(got, "address")), "");
	json_decref(got);

	/* Labels are replaced as a whole; the rest of the record stays. */
	labels = json_pack("{s:s, s:s}", "env", "prod", "ring", "2");
	assert_int_equal(sw_store_host_set_labels(f->st, "h-adr", labels, &err), 0);
	assert_int_equal(sw_store_host_get(f->st, "h-adr", &got, &err), 0);
	assert_true(json_equal(json_object_get(got, "labels"), labels));
	assert_string_equal(json_string_value(json_object_get(got, "address")), "10.0.0.8");
	assert_int_equal(json_integer_value(json_object_get(got, "last_seen_ms")), 6);
	json_decref(got);
	assert_int_equal(sw_store_host_set_labels(f->st, "h-nope", labels, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	json_decref(labels);
	labels = json_array();
	assert_int_equal(sw_store_host_set_labels(f->st, "h-adr", labels, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	json_decref(labels);
}

static void test_host_reenroll(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *h = host_rec("h-first", "db-1", "swh_old", 7001, 7002), *got = NULL;
	char th[SW_SHA256_HEX];

	assert_int_equal(sw_store_host_create(f->st, h, &err), 0);
	json_decref(h);
	assert_int_equal(sw_store_host_report(f->st, "h-first", 99, NULL, 3, &err), 0);
	assert_int_equal(sw_store_host_revoke(f->st, "h-first", &err), 0);

	/* Same name, new identity: the row keeps its id, the old token stops working. */
	h = host_rec("h-second", "db-1", "swh_new", 7101, 7102);
	assert_int_equal(sw_store_host_create(f->st, h, &err), 0);
	json_decref(h);
	hash_of("swh_old", th);
	assert_int_equal(sw_store_host_lookup_token(f->st, th, &got, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	hash_of("swh_new", th);
	assert_int_equal(sw_store_host_lookup_token(f->st, th, &got, &err), 0);
	assert_string_equal(json_string_value(json_object_get(got, "id")), "h-first");
	/* A revocation is never cleared by re-enrolling (the server refuses before; this is the backstop). */
	assert_true(json_is_true(json_object_get(got, "revoked")));
	assert_int_equal(json_integer_value(json_object_get(got, "generation_applied")), 0);
	assert_int_equal(json_integer_value(json_object_get(got, "last_seen_ms")), 0);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(got, "ports"), 0)), 7101);
	json_decref(got);

	/* Another name with a token hash in use: refused. */
	h = host_rec("h-third", "db-2", "swh_new", 7201, 7202);
	assert_int_equal(sw_store_host_create(f->st, h, &err), -1);
	assert_int_equal(err.code, SW_EBUSY);
	json_decref(h);
}

static void test_host_bad_records(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *h;

	h = host_rec("h-1", "x", "swh_a", 0, 2);
	assert_int_equal(sw_store_host_create(f->st, h, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "ports"));
	json_decref(h);
	h = host_rec("h-1", "", "swh_a", 1, 2);
	assert_int_equal(sw_store_host_create(f->st, h, &err), -1);
	assert_non_null(strstr(err.msg, "'name'"));
	json_decref(h);
	h = json_pack("{s:s, s:s, s:s, s:[i,i]}", "id", "h-1", "name", "n", "token_hash", "zz", "ports", 1, 2);
	assert_int_equal(sw_store_host_create(f->st, h, &err), -1);
	assert_non_null(strstr(err.msg, "token_hash"));
	json_decref(h);
	h = json_array();
	assert_int_equal(sw_store_host_report(f->st, "h-1", 1, h, 0, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	json_decref(h);
}

static void test_persists(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *t = token_rec("tok-p", "p", "admin", "swt_p"), *h = host_rec("h-p", "p-1", "swh_p", 1, 2), *got;
	char th[SW_SHA256_HEX];

	assert_int_equal(sw_store_token_create(f->st, t, &err), 0);
	assert_int_equal(sw_store_host_create(f->st, h, &err), 0);
	json_decref(t);
	json_decref(h);
	sw_store_close(f->st);
	f->st = NULL;
	assert_int_equal(sw_store_open(f->db, &f->st, &err), 0);
	hash_of("swt_p", th);
	assert_int_equal(sw_store_token_lookup(f->st, th, &got, &err), 0);
	assert_string_equal(json_string_value(json_object_get(got, "role")), "admin");
	json_decref(got);
	assert_int_equal(sw_store_host_get(f->st, "h-p", &got, &err), 0);
	assert_string_equal(json_string_value(json_object_get(got, "name")), "p-1");
	json_decref(got);
}

/* A rolled-back transaction leaves nothing behind. */
static void test_rollback(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *t = token_rec("tok-r", "r", "viewer", "swt_r"), *list = NULL;

	assert_int_equal(sw_store_begin(f->st, &err), 0);
	assert_int_equal(sw_store_token_create(f->st, t, &err), 0);
	sw_store_rollback(f->st);
	json_decref(t);
	assert_int_equal(sw_store_token_list(f->st, &list, &err), 0);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_token_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_join_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_join_expired_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_address_and_labels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_reenroll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_bad_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
