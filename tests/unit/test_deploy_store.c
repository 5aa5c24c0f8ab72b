/*
 * test_deploy_store.c - unit tests for store/sqlite_deploy.c: deployment
 * records (save = upsert, get, list newest first with filters), desired
 * rows per (host, service, slot) with the host generation bumped on every
 * change, validation of records, and transactions undoing both.
 * Hosts are inserted straight through SQLite (the fleet half of the store
 * is tested on its own).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/fs.h"
#include "store/store.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
	char dir[PATH_MAX];
	char db[PATH_MAX];
	struct sw_store *st;
};

static void add_host(const char *path, const char *id)
{
	sqlite3 *db = NULL;
	char sql[512];

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO hosts (id, name, labels, token_hash, ports, enrolled) "
		 "VALUES ('%s', 'name-%s', '{}', 'hash-%s', '[9000,9001]', '2026-01-01T00:00:00Z')",
		 id, id, id);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sw_err err = SW_ERR_INIT;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sw-test-deploy-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/slipway.db", f->dir);
	if (sw_store_open(f->db, &f->st, &err) < 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	add_host(f->db, "h1");
	add_host(f->db, "h2");
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

static json_t *dep(const char *id, const char *service, const char *env, const char *state, const char *created)
{
	json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:n, s:s, s:s, s:s, s:{s:s}, s:{s:[]}, s:I}", "id", id, "service",
			      service, "env", env, "digest", "d1", "prev_digest", "state", state, "reason", "", "actor",
			      "tester", "spec", "strategy", "rolling", "plan", "batches", "deadline_ms",
			      (json_int_t)1234567);

	if (created)
		json_object_set_new(d, "created", json_string(created));
	return d;
}

static void save(struct sw_store *st, json_t *d)
{
	struct sw_err err = SW_ERR_INIT;

	if (sw_store_deployment_save(st, d, &err) < 0)
		fail_msg("save: %s", err.msg);
	json_decref(d);
}

static void test_save_get(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *d = dep("dep-1", "hello", "staging", "pending", NULL), *got = NULL;

	json_object_set_new(d, "prev_digest", json_string("d0"));
	save(f->st, d);
	assert_int_equal(sw_store_deployment_get(f->st, "dep-1", &got, &err), 0);
	assert_string_equal(json_string_value(json_object_get(got, "service")), "hello");
	assert_string_equal(json_string_value(json_object_get(got, "env")), "staging");
	assert_string_equal(json_string_value(json_object_get(got, "digest")), "d1");
	assert_string_equal(json_string_value(json_object_get(got, "prev_digest")), "d0");
	assert_string_equal(json_string_value(json_object_get(got, "state")), "pending");
	assert_string_equal(json_string_value(json_object_get(got, "actor")), "tester");
	assert_string_equal(json_string_value(json_object_get(json_object_get(got, "spec"), "strategy")), "rolling");
	assert_true(json_is_array(json_object_get(json_object_get(got, "plan"), "batches")));
	assert_int_equal(json_integer_value(json_object_get(got, "deadline_ms")), 1234567);
	assert_true(strlen(json_string_value(json_object_get(got, "created"))) >= 20);
	json_decref(got);
}

static void test_upsert_keeps_created(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *got = NULL, *d;

	save(f->st, dep("dep-1", "hello", "staging", "pending", "2026-01-01T00:00:00.000Z"));
	d = dep("dep-1", "hello", "staging", "rolled_back", "2030-01-01T00:00:00.000Z");
	json_object_set_new(d, "reason", json_string("host 'h1' failed: boom"));
	json_object_set_new(d, "prev_digest", json_null());
	save(f->st, d);
	assert_int_equal(sw_store_deployment_get(f->st, "dep-1", &got, &err), 0);
	assert_string_equal(json_string_value(json_object_get(got, "state")), "rolled_back");
	assert_string_equal(json_string_value(json_object_get(got, "reason")), "host 'h1' failed: boom");
	assert_string_equal(json_string_value(json_object_get(got, "created")), "2026-01-01T00:00:00.000Z");
	assert_true(json_is_null(json_object_get(got, "prev_digest")));
	json_decref(got);
}

static void test_get_unknown(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *got = (json_t *)1;

	assert_int_equal(sw_store_deployment_get(f->st, "dep-9", &got, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_null(got);
	assert_non_null(strstr(err.msg, "dep-9"));
}

static void test_save_bad_records(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *d = dep("dep-1", "hello", "staging", "pending", NULL), *arr = NULL;

	json_object_del(d, "service");
	assert_int_equal(sw_store_deployment_save(f->st, d, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "'service'"));
	json_decref(d);

	d = dep("dep-1", "hello", "staging", "pending", NULL);
	json_object_set_new(d, "plan", json_string("x"));
	assert_int_equal(sw_store_deployment_save(f->st, d, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "plan"));
	json_decref(d);

	d = dep("dep-1", "hello", "staging", "pending", NULL);
	json_object_set_new(d, "deadline_ms", json_string("soon"));
	assert_int_equal(sw_store_deployment_save(f->st, d, &err), -1);
	assert_non_null(strstr(err.msg, "deadline_ms"));
	json_decref(d);

	assert_int_equal(sw_store_deployment_list(f->st, NULL, NULL, 0, 0, &arr, &err), 0);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
}

static const char *id_at(const json_t *arr, size_t i)
{
	return json_string_value(json_object_get(json_array_get(arr, i), "id"));
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *arr = NULL;

	save(f->st, dep("dep-1", "hello", "staging", "succeeded", "2026-01-01T00:00:01.000Z"));
	save(f->st, dep("dep-2", "hello", "prod", "progressing", "2026-01-01T00:00:02.000Z"));
	save(f->st, dep("dep-3", "other", "staging", "pending", "2026-01-01T00:00:03.000Z"));
	save(f->st, dep("dep-4", "hello", "staging", "progressing", "2026-01-01T00:00:04.000Z"));
	/* Same created time: insertion order breaks the tie. */
	save(f->st, dep("dep-5", "hello", "staging", "failed", "2026-01-01T00:00:04.000Z"));

	assert_int_equal(sw_store_deployment_list(f->st, NULL, NULL, 0, 0, &arr, &err), 0);
	assert_int_equal(json_array_size(arr), 5);
	assert_string_equal(id_at(arr, 0), "dep-5");
	assert_string_equal(id_at(arr, 1), "dep-4");
	assert_string_equal(id_at(arr, 4), "dep-1");
	json_decref(arr);

	assert_int_equal(sw_store_deployment_list(f->st, "hello", "staging", 0, 0, &arr, &err), 0);
	assert_int_equal(json_array_size(arr), 3);
	assert_string_equal(id_at(arr, 2), "dep-1");
	json_decref(arr);

	assert_int_equal(sw_store_deployment_list(f->st, "hello", NULL, 1, 0, &arr, &err), 0);
	assert_int_equal(json_array_size(arr), 2);
	assert_string_equal(id_at(arr, 0), "dep-4");
	assert_string_equal(id_at(arr, 1), "dep-2");
	json_decref(arr);

	assert_int_equal(sw_store_deployment_list(f->st, NULL, "staging", 0, 2, &arr, &err), 0);
	assert_int_equal(json_array_size(arr), 2);
	assert_string_equal(id_at(arr, 1), "dep-4");
	json_decref(arr);

	assert_int_equal(sw_store_deployment_list(f->st, "nope", NULL, 0, 0, &arr, &err), 0);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
}

static json_t *want(const char *digest, int port, int active)
{
	return json_pack("{s:s, s:i, s:b, s:{s:s}}", "digest", digest, "port", port, "active", active, "run",
			 "command", "./dist/hello --port ${PORT}");
}

static void set(struct sw_store *st, const char *host, const char *service, const char *slot, json_t *w)
{
	struct sw_err err = SW_ERR_INIT;

	if (sw_store_desired_set(st, host, service, slot, w, &err) < 0)
		fail_msg("desired_set: %s", err.msg);
	json_decref(w);
}

static void test_desired(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *rows = NULL, *r;
	int64_t gen = -1;

	assert_int_equal(sw_store_desired_get(f->st, "h1", &gen, &rows, &err), 0);
	assert_int_equal(gen, 0);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);

	set(f->st, "h1", "hello", "a", want("d1", 9000, 1));
	set(f->st, "h1", "hello", "b", want("d2", 9001, 0));
	set(f->st, "h1", "api", "a", want("d3", 9000, 1));
	set(f->st, "h2", "hello", "a", want("d1", 9100, 1));
	assert_int_equal(sw_store_desired_get(f->st, "h1", &gen, &rows, &err), 0);
	assert_int_equal(gen, 3);
	assert_int_equal(json_array_size(rows), 3);
	r = json_array_get(rows, 0); /* ordered by service, slot */
	assert_string_equal(json_string_value(json_object_get(r, "service")), "api");
	r = json_array_get(rows, 2);
	assert_string_equal(json_string_value(json_object_get(r, "slot")), "b");
	assert_string_equal(json_string_value(json_object_get(r, "digest")), "d2");
	assert_int_equal(json_integer_value(json_object_get(r, "port")), 9001);
	assert_true(json_is_false(json_object_get(r, "active")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "run"), "command")),
			    "./dist/hello --port ${PORT}");
	json_decref(rows);

	/* Replace and remove. */
	set(f->st, "h1", "hello", "b", want("d4", 9001, 1));
	set(f->st, "h1", "hello", "a", NULL);
	assert_int_equal(sw_store_desired_get(f->st, "h1", &gen, &rows, &err), 0);
	assert_int_equal(gen, 5);
	assert_int_equal(json_array_size(rows), 2);
	r = json_array_get(rows, 1);
	assert_string_equal(json_string_value(json_object_get(r, "slot")), "b");
	assert_string_equal(json_string_value(json_object_get(r, "digest")), "d4");
	assert_true(json_is_true(json_object_get(r, "active")));
	json_decref(rows);

	assert_int_equal(sw_store_desired_get(f->st, "h2", &gen, &rows, &err), 0);
	assert_int_equal(gen, 1);
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);
}

static void test_desired_bad(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *w, *rows = (json_t *)1;
	int64_t gen;

	w = want("d1", 9000, 1);
	assert_int_equal(sw_store_desired_set(f->st, "nohost", "hello", "a", w, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "nohost"));
	assert_int_equal(sw_store_desired_set(f->st, "h1", "hello", "c", w, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "slot"));
	json_decref(w);

	w = want("d1", 70000, 1);
	assert_int_equal(sw_store_desired_set(f->st, "h1", "hello", "a", w, &err), -1);
	assert_non_null(strstr(err.msg, "port"));
	json_decref(w);

	w = json_pack("{s:s, s:i, s:b, s:s}", "digest", "d1", "port", 9000, "active", 1, "run", "x");
	assert_int_equal(sw_store_desired_set(f->st, "h1", "hello", "a", w, &err), -1);
	assert_non_null(strstr(err.msg, "run"));
	json_decref(w);

	assert_int_equal(sw_store_desired_get(f->st, "nohost", &gen, &rows, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_null(rows);
	assert_int_equal(sw_store_desired_get(f->st, "h1", &gen, &rows, &err), 0);
	assert_int_equal(gen, 0);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
}

static void test_desired_in_transaction(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *rows = NULL;
	int64_t gen = -1;

	set(f->st, "h1", "hello", "a", want("d1", 9000, 1));
	assert_int_equal(sw_store_begin(f->st, &err), 0);
	set(f->st, "h1", "hello", "a", want("d2", 9000, 1));
	set(f->st, "h1", "hello", "b", want("d2", 9001, 0));
	save(f->st, dep("dep-7", "hello", "staging", "progressing", NULL));
	sw_store_rollback(f->st);
	assert_int_equal(sw_store_desired_get(f->st, "h1", &gen, &rows, &err), 0);
	assert_int_equal(gen, 1);
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "digest")), "d1");
	json_decref(rows);
	assert_int_equal(sw_store_deployment_get(f->st, "dep-7", &rows, &err), -1);

	assert_int_equal(sw_store_begin(f->st, &err), 0);
	set(f->st, "h1", "hello", "a", want("d2", 9000, 1));
	assert_int_equal(sw_store_commit(f->st, &err), 0);
	assert_int_equal(sw_store_desired_get(f->st, "h1", &gen, &rows, &err), 0);
	assert_int_equal(gen, 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "digest")), "d2");
	json_decref(rows);
}

static void test_reopen_keeps(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *rows = NULL;
	int64_t gen = 0;

	save(f->st, dep("dep-1", "hello", "staging", "progressing", NULL));
	set(f->st, "h2", "hello", "b", want("d9", 9101, 0));
	sw_store_close(f->st);
	f->st = NULL;
	assert_int_equal(sw_store_open(f->db, &f->st, &err), 0);
	assert_int_equal(sw_store_deployment_list(f->st, "hello", "staging", 1, 0, &rows, &err), 0);
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);
	assert_int_equal(sw_store_desired_get(f->st, "h2", &gen, &rows, &err), 0);
	assert_int_equal(gen, 1);
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_save_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upsert_keeps_created, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_bad_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_desired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_desired_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_desired_in_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
