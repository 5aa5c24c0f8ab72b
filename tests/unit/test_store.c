/*
 * test_store.c - unit tests for src/store (store.c, sqlite.c): URLs,
 * migrations (a version 2 database upgraded to 3), appends, transactions,
 * one subject's events (sw_store_scan_subject and its index), releases,
 * and bad databases (locked, read-only, not a database, newer schema). Tests that need a database the
 * test user cannot write run in a child process that drops root (to uid
 * 65534) first, since root ignores file modes.
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
#include "base/hash.h"
#include "base/json.h"
#include "store/eventlog.h"
#include "store/sqlite.h"
#include "store/store.h"

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_UID 65534

struct fixture {
	char dir[PATH_MAX];
	char db[PATH_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sw-test-store-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	/* The unprivileged child of the read-only tests must reach it. */
	chmod(f->dir, 0755);
	snprintf(f->db, sizeof(f->db), "%s/slipway.db", f->dir);
	unsetenv(SW_SQLITE_BUSY_TIMEOUT_ENV);
	setenv("SLIPWAY_ACTOR", "tester@example.com", 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX + 32];

	/* Restore modes so the tree can go. */
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	sw_fs_remove_tree(f->dir, NULL);
	free(f);
	unsetenv(SW_SQLITE_BUSY_TIMEOUT_ENV);
	return 0;
}

/* ---- helpers: the database seen directly through SQLite ---------------- */

static void sql_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_close(db);
}

static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void sql_text(const char *path, const char *sql, char *out, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	out[0] = '\0';
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static struct sw_store *open_ok(const char *url)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_store *st = NULL;

	if (sw_store_open(url, &st, &err) < 0)
		fail_msg("open '%s': %s", url, err.msg);
	assert_non_null(st);
	return st;
}

static void append_ok(struct sw_store *st, const char *kind, json_t *payload, int64_t want_seq)
{
	struct sw_err err = SW_ERR_INIT;
	int64_t seq = -1;

	if (sw_store_append(st, "tester@example.com", kind, "run/r1", payload, &seq, &err) < 0)
		fail_msg("append: %s", err.msg);
	assert_int_equal(seq, want_seq);
	json_decref(payload);
}

static void make_log(const char *path, int n)
{
	struct sw_store *st = open_ok(path);
	int i;

	for (i = 1; i <= n; i++)
		append_ok(st, "job.finished", json_pack("{s:i}", "n", i), i);
	sw_store_close(st);
}

struct collect {
	int n;
	int64_t seq[64];
	char payload[64][128];
	char hash[64][SW_SHA256_HEX];
	char prev[64][SW_SHA256_HEX];
	char time[64][SW_TIME_STR_MAX];
	int stop_after; /* 0: never */
	struct sw_store *nested; /* scan again from inside the callback */
	int nested_n;
};

static int count_cb(const struct sw_event *ev, void *ctx)
{
	(void)ev;
	(*(int *)ctx)++;
	return 0;
}

static int collect_cb(const struct sw_event *ev, void *ctx)
{
	struct collect *c = ctx;
	char hash[SW_SHA256_HEX];

	if (c->n >= 64)
		return 1;
	c->seq[c->n] = ev->seq;
	snprintf(c->payload[c->n], sizeof(c->payload[0]), "%s", ev->payload);
	snprintf(c->hash[c->n], sizeof(c->hash[0]), "%s", ev->hash);
	snprintf(c->prev[c->n], sizeof(c->prev[0]), "%s", ev->prev_hash);
	snprintf(c->time[c->n], sizeof(c->time[0]), "%s", ev->time);
	sw_eventlog_hash(ev, hash);
	assert_string_equal(hash, ev->hash);
	if (c->nested) {
		int n = 0;

		assert_int_equal(sw_store_scan(c->nested, 0, 0, count_cb, &n, NULL), 0);
		c->nested_n = n;
	}
	c->n++;
	return c->stop_after && c->n >= c->stop_after;
}

static int count_events(struct sw_store *st)
{
	struct sw_err err = SW_ERR_INIT;
	int n = 0;

	if (sw_store_scan(st, 0, 0, count_cb, &n, &err) < 0)
		fail_msg("scan: %s", err.msg);
	return n;
}

/* Run fn in a child as an unprivileged user (if we are root); its exit code. */
static int run_unprivileged(int (*fn)(struct fixture *), struct fixture *f)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(TEST_UID) < 0 || setuid(TEST_UID) < 0)) {
			perror("drop privileges");
			_exit(99);
		}
		_exit(fn(f));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void give_to_test_user(const char *path)
{
	if (geteuid() == 0)
		assert_int_equal(chown(path, TEST_UID, TEST_UID), 0);
}

#define CHILD_CHECK(cond)                                                            \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "child check failed at line %d: %s (err: %s)\n", \
				__LINE__, #cond, err.msg);                           \
			return 1;                                                    \
		}                                                                    \
	} while (0)

/* ---- tests -------------------------------------------------------------- */

static void test_create_modes(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 32], wal[PATH_MAX + 40], sub[PATH_MAX + 8];
	struct sw_store *st;
	struct stat sb;

	snprintf(sub, sizeof(sub), "%s/a/b", f->dir);
	snprintf(path, sizeof(path), "%s/slipway.db", sub);
	st = open_ok(path);
	append_ok(st, "pipeline.started", NULL, 1);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(sub, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_false(st->readonly);
	assert_string_equal(st->ops->name, "sqlite");
	sw_store_close(st);
}

static void test_migrations_idempotent(void **state)
{
	struct fixture *f = *state;
	char mode[32], cols[256];
	struct sw_store *st;
	int i;

	for (i = 0; i < 3; i++) {
		st = open_ok(f->db);
		sw_store_close(st);
	}
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM schema_migrations"), SW_SQLITE_SCHEMA_VERSION);
	assert_int_equal(sql_int(f->db, "SELECT max(version) FROM schema_migrations"), SW_SQLITE_SCHEMA_VERSION);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM schema_migrations WHERE applied_at LIKE '____-__-__T%Z'"),
			 SW_SQLITE_SCHEMA_VERSION);
	assert_int_equal(sql_int(f->db, "PRAGMA application_id"), SW_SQLITE_APPLICATION_ID);
	sql_text(f->db, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	sql_text(f->db, "SELECT group_concat(name, ',') FROM pragma_table_info('events')", cols, sizeof(cols));
	assert_string_equal(cols, "seq,time,actor,kind,subject,payload,prev_hash,hash");
	sql_text(f->db, "SELECT group_concat(name, ',') FROM pragma_table_info('releases')", cols, sizeof(cols));
	assert_string_equal(cols, "digest,service,version,manifest,bundle_path,created");
}

static void test_append_scan(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct collect *c = calloc(1, sizeof(*c));
	struct sw_store *st = open_ok(f->db);
	int64_t ms;

	assert_non_null(c);
	append_ok(st, "pipeline.started", NULL, 1);
	append_ok(st, "job.finished", json_pack("{s:i, s:s, s:[i,i]}", "z", 1, "a", "x", "m", 1, 2), 2);
	append_ok(st, "pipeline.finished", json_pack("{s:s}", "status", "passed"), 3);
	assert_int_equal(sw_store_scan(st, 0, 0, collect_cb, c, &err), 0);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->seq[0], 1);
	assert_int_equal(c->seq[2], 3);
	assert_string_equal(c->payload[0], "{}");
	assert_string_equal(c->payload[1], "{\"a\":\"x\",\"m\":[1,2],\"z\":1}");
	assert_string_equal(c->prev[0], SW_EVENTLOG_GENESIS);
	assert_string_equal(c->prev[1], c->hash[0]);
	assert_string_equal(c->prev[2], c->hash[1]);
	assert_int_equal(sw_clock_parse_utc(c->time[0], &ms), 0);
	assert_true(ms > 1700000000000LL);

	/* after + limit */
	memset(c, 0, sizeof(*c));
	assert_int_equal(sw_store_scan(st, 1, 1, collect_cb, c, &err), 0);
	assert_int_equal(c->n, 1);
	assert_int_equal(c->seq[0], 2);
	/* a callback that stops early is not an error */
	memset(c, 0, sizeof(*c));
	c->stop_after = 2;
	assert_int_equal(sw_store_scan(st, 0, 0, collect_cb, c, &err), 0);
	assert_int_equal(c->n, 2);
	/* a callback may scan again (the cached statement is busy then) */
	memset(c, 0, sizeof(*c));
	c->nested = st;
	assert_int_equal(sw_store_scan(st, 0, 0, collect_cb, c, &err), 0);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->nested_n, 3);
	/* after past the end */
	memset(c, 0, sizeof(*c));
	assert_int_equal(sw_store_scan(st, INT64_MAX, 0, collect_cb, c, &err), 0);
	assert_int_equal(c->n, 0);
	sw_store_close(st);
	free(c);
}

/* The end of the log backwards (audit log): newest first, limit, kind, the (after, before) window. */
static void test_scan_newest(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct collect *c = calloc(1, sizeof(*c));
	struct sw_store *st = open_ok(f->db);
	int i;

	assert_non_null(c);
	for (i = 1; i <= 6; i++)
		append_ok(st, i % 2 ? "job.finished" : "pipeline.finished", NULL, i);
	assert_int_equal(sw_store_scan_newest(st, 0, 0, NULL, 0, collect_cb, c, &err), 0);
	assert_int_equal(c->n, 6);
	for (i = 0; i < 6; i++)
		assert_int_equal(c->seq[i], 6 - i);
	memset(c, 0, sizeof(*c));
	assert_int_equal(sw_store_scan_newest(st, 0, 0, NULL, 2, collect_cb, c, &err), 0);
	assert_int_equal(c->n, 2); /* the newest two */
	assert_int_equal(c->seq[0], 6);
	assert_int_equal(c->seq[1], 5);
	memset(c, 0, sizeof(*c));
	assert_int_equal(sw_store_scan_newest(st, 0, 5, "job.finished", 0, collect_cb, c, &err), 0);
	assert_int_equal(c->n, 2); /* below 5, that kind: 3, 1 */
	assert_int_equal(c->seq[0], 3);
	assert_int_equal(c->seq[1], 1);
	memset(c, 0, sizeof(*c));
	assert_int_equal(sw_store_scan_newest(st, 4, 0, NULL, 0, collect_cb, c, &err), 0);
	assert_int_equal(c->n, 2);
	assert_int_equal(c->seq[1], 5);
	assert_int_equal(sw_store_scan_newest(st, -1, 0, NULL, 0, collect_cb, c, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	sw_store_close(st);
	free(c);
}

static void test_transactions(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct sw_store *st = open_ok(f->db);
	int64_t seq = 0;

	assert_int_equal(sw_store_begin(st, &err), 0);
	assert_int_equal(sw_store_begin(st, &err), -1); /* no nesting */
	assert_int_equal(err.code, SW_EINTERNAL);
	append_ok(st, "pipeline.started", NULL, 1);
	append_ok(st, "job.finished", NULL, 2);
	sw_store_rollback(st);
	assert_int_equal(count_events(st), 0);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM events"), 0);

	/* the events of one operation land together */
	assert_int_equal(sw_store_begin(st, &err), 0);
	append_ok(st, "pipeline.started", NULL, 1);
	append_ok(st, "pipeline.finished", NULL, 2);
	/* not visible to another connection before commit */
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM events"), 0);
	assert_int_equal(sw_store_commit(st, &err), 0);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM events"), 2);
	assert_int_equal(sw_store_commit(st, &err), -1); /* nothing open */

	/* closing with an open transaction rolls it back */
	assert_int_equal(sw_store_begin(st, &err), 0);
	assert_int_equal(sw_store_append(st, "a", "job.finished", "", NULL, &seq, &err), 0);
	assert_int_equal(seq, 3);
	sw_store_close(st);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM events"), 2);
	st = open_ok(f->db);
	append_ok(st, "release.created", NULL, 3);
	sw_store_close(st);
}

static void test_append_rejects_bad_fields(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct sw_store *st = open_ok(f->db);
	json_t *arr = json_pack("[i]", 1);
	char long_subject[SW_EVENT_SUBJECT_MAX + 2];

	assert_int_equal(sw_store_append(st, "", "job.finished", "x", NULL, NULL, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_int_equal(sw_store_append(st, "a", "Job Finished", "x", NULL, NULL, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "Job Finished"));
	assert_int_equal(sw_store_append(st, "a\nb", "job.finished", "x", NULL, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "control character"));
	assert_int_equal(sw_store_append(st, "a", "job.finished", "x", arr, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "payload must be a JSON object"));
	memset(long_subject, 's', sizeof(long_subject) - 1);
	long_subject[sizeof(long_subject) - 1] = '\0';
	assert_int_equal(sw_store_append(st, "a", "job.finished", long_subject, NULL, NULL, &err), -1);
	assert_int_equal(count_events(st), 0);
	/* NULL subject is "" */
	assert_int_equal(sw_store_append(st, "a", "job.finished", NULL, NULL, NULL, &err), 0);
	json_decref(arr);
	sw_store_close(st);
}

static void test_urls(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct sw_store *st = NULL;
	char url[PATH_MAX + 16];

	assert_int_equal(sw_store_open("postgres://u@localhost/slipway", &st, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_string_equal(err.msg, "PostgreSQL store is not built yet");
	assert_null(st);
	assert_int_equal(sw_store_open("postgresql://localhost/x", &st, &err), -1);
	assert_string_equal(err.msg, "PostgreSQL store is not built yet");
	assert_int_equal(sw_store_open("mysql://localhost/x", &st, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_int_equal(sw_store_open("", &st, &err), -1);
	assert_int_equal(sw_store_open("sqlite:", &st, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);

	snprintf(url, sizeof(url), "sqlite:%s", f->db);
	st = open_ok(url);
	assert_string_equal(st->url, url);
	append_ok(st, "pipeline.started", NULL, 1);
	sw_store_close(st);
	snprintf(url, sizeof(url), "sqlite://%s", f->db);
	st = open_ok(url);
	assert_int_equal(count_events(st), 1);
	sw_store_close(st);
	/* a directory is not a database */
	assert_int_equal(sw_store_open(f->dir, &st, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
}

static void test_default_store(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	char home[PATH_MAX + 8], url[PATH_MAX + 32], want[PATH_MAX + 32];
	struct sw_store *st = NULL;
	struct stat sb;

	snprintf(home, sizeof(home), "%s/home", f->dir);
	setenv("SLIPWAY_HOME", home, 1);
	assert_int_equal(sw_store_default_url(url, sizeof(url), &err), 0);
	snprintf(want, sizeof(want), "%s/slipway.db", home);
	assert_string_equal(url, want);
	assert_false(sw_fs_exists(home)); /* creates nothing */
	assert_int_equal(sw_store_open_default(&st, &err), 0);
	assert_int_equal(stat(home, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(stat(want, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	sw_store_close(st);
	unsetenv("SLIPWAY_HOME");
}

static void test_releases(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct sw_store *st = open_ok(f->db);
	char *manifest = NULL, *bundle = NULL;
	const char *d = "1111111111111111111111111111111111111111111111111111111111111111";

	assert_int_equal(sw_store_get_release(st, d, &manifest, &bundle, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_null(manifest);
	assert_int_equal(sw_store_put_release(st, d, "hello", "1.0.0", "{\"a\":1}", "/r/1.tar.zst", &err), 0);
	assert_int_equal(sw_store_get_release(st, d, &manifest, &bundle, &err), 0);
	assert_string_equal(manifest, "{\"a\":1}");
	assert_string_equal(bundle, "/r/1.tar.zst");
	free(manifest);
	free(bundle);
	/* the same release again is fine; another manifest under its digest is not */
	assert_int_equal(sw_store_put_release(st, d, "hello", "1.0.0", "{\"a\":1}", "/r/other.tar.zst", &err), 0);
	assert_int_equal(sw_store_put_release(st, d, "hello", "1.0.0", "{\"a\":2}", "/r/1.tar.zst", &err), -1);
	assert_int_equal(err.code, SW_EINTEGRITY);
	assert_int_equal(sw_store_get_release(st, d, &manifest, NULL, &err), 0);
	assert_string_equal(manifest, "{\"a\":1}");
	free(manifest);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM releases WHERE service = 'hello' AND version = '1.0.0'"), 1);
	/* inside a transaction with its event: both or neither */
	assert_int_equal(sw_store_begin(st, &err), 0);
	assert_int_equal(sw_store_put_release(st, "22", "hello", "2", "{}", "/r/2", &err), 0);
	append_ok(st, "release.created", NULL, 1);
	sw_store_rollback(st);
	assert_int_equal(sw_store_get_release(st, "22", NULL, NULL, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_int_equal(count_events(st), 0);
	/* listed newest recorded first, per service or all, with the parsed manifest */
	{
		json_t *arr = NULL;

		assert_int_equal(sw_store_put_release(st, "33", "hello", "1.0.1", "{\"created\":\"x\"}", "/r/3", &err), 0);
		assert_int_equal(sw_store_put_release(st, "44", "other", "9", "{}", "/r/4", &err), 0);
		assert_int_equal(sw_store_list_releases(st, "hello", &arr, &err), 0);
		assert_int_equal(json_array_size(arr), 2);
		assert_string_equal(sw_json_str(json_array_get(arr, 0), "digest"), "33");
		assert_string_equal(sw_json_str(json_array_get(arr, 0), "version"), "1.0.1");
		assert_string_equal(sw_json_str(json_object_get(json_array_get(arr, 0), "manifest"), "created"), "x");
		assert_non_null(sw_json_str(json_array_get(arr, 0), "recorded"));
		assert_string_equal(sw_json_str(json_array_get(arr, 1), "digest"), d);
		json_decref(arr);
		assert_int_equal(sw_store_list_releases(st, NULL, &arr, &err), 0);
		assert_int_equal(json_array_size(arr), 3);
		json_decref(arr);
		assert_int_equal(sw_store_list_releases(st, "none", &arr, &err), 0);
		assert_int_equal(json_array_size(arr), 0);
		json_decref(arr);
	}
	sw_store_close(st);
}

static void test_actor(void **state)
{
	char out[300], host[256];

	(void)state;
	setenv("SLIPWAY_ACTOR", "alice@example.com", 1);
	assert_string_equal(sw_store_actor(out, sizeof(out)), "alice@example.com");
	unsetenv("SLIPWAY_ACTOR");
	setenv("USER", "bob", 1);
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	sw_store_actor(out, sizeof(out));
	assert_int_equal(strncmp(out, "bob@", 4), 0);
	assert_string_equal(out + 4, host);
	setenv("SLIPWAY_ACTOR", "tester@example.com", 1);
}

static void test_locked(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct sw_store *st;
	sqlite3 *other = NULL;
	char want[PATH_MAX + 64];
	uint64_t t0, took;

	make_log(f->db, 2);
	setenv(SW_SQLITE_BUSY_TIMEOUT_ENV, "100", 1);
	st = open_ok(f->db);
	assert_int_equal(sqlite3_open(f->db, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	t0 = sw_clock_mono_ms();
	assert_int_equal(sw_store_append(st, "a", "job.finished", "x", NULL, NULL, &err), -1);
	took = sw_clock_mono_ms() - t0;
	assert_int_equal(err.code, SW_EBUSY);
	snprintf(want, sizeof(want), "database '%s' is locked", f->db);
	assert_string_equal(err.msg, want);
	assert_true(took >= 80 && took < SW_SQLITE_BUSY_TIMEOUT_MS); /* the 100 ms asked for, not the default */
	assert_false(st->in_tx);
	/* a release write waits and fails the same way */
	assert_int_equal(sw_store_put_release(st, "33", "s", "v", "{}", "/b", &err), -1);
	assert_int_equal(err.code, SW_EBUSY);
	/* readers are not blocked (WAL) */
	assert_int_equal(count_events(st), 2);
	assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM events"), 2);
	append_ok(st, "job.finished", NULL, 3);
	sw_store_close(st);
}

static void test_busy_timeout_env(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct sw_store *st = NULL;

	setenv(SW_SQLITE_BUSY_TIMEOUT_ENV, "soon", 1);
	assert_int_equal(sw_store_open(f->db, &st, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, SW_SQLITE_BUSY_TIMEOUT_ENV));
	assert_non_null(strstr(err.msg, "'soon'"));
	assert_false(sw_fs_exists(f->db));
	setenv(SW_SQLITE_BUSY_TIMEOUT_ENV, "0", 1);
	st = open_ok(f->db);
	sw_store_close(st);
}

/* Child: the database file is 0400 (its directory writable). */
static int child_readonly_file(struct fixture *f)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_eventlog_report rep;
	struct sw_store *st = NULL;
	char want[PATH_MAX + 64];
	int n = 0;

	CHILD_CHECK(sw_store_open(f->db, &st, &err) == 0);
	CHILD_CHECK(st->readonly);
	CHILD_CHECK(sw_store_append(st, "a", "job.finished", "x", NULL, NULL, &err) == -1);
	snprintf(want, sizeof(want), "cannot write to database '%s': read-only", f->db);
	CHILD_CHECK(err.code == SW_EIO && !strcmp(err.msg, want));
	CHILD_CHECK(sw_store_put_release(st, "44", "s", "v", "{}", "/b", &err) == -1);
	CHILD_CHECK(!strcmp(err.msg, want));
	CHILD_CHECK(sw_store_scan(st, 0, 0, count_cb, &n, &err) == 0 && n == 3);
	CHILD_CHECK(sw_eventlog_verify(st, &rep, &err) == 0 && rep.events == 3);
	sw_store_close(st);
	CHILD_CHECK(sw_store_open_readonly(f->db, &st, &err) == 0);
	CHILD_CHECK(sw_eventlog_verify(st, &rep, &err) == 0 && rep.events == 3);
	sw_store_close(st);
	return 0;
}

static void test_readonly_file(void **state)
{
	struct fixture *f = *state;

	make_log(f->db, 3);
	give_to_test_user(f->dir);
	give_to_test_user(f->db);
	assert_int_equal(chmod(f->db, 0400), 0);
	assert_int_equal(run_unprivileged(child_readonly_file, f), 0);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM events"), 3);
}

/* Child: the file is writable, its directory is not (no -wal/-shm can be made). */
static int child_readonly_dir(struct fixture *f)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_eventlog_report rep;
	struct sw_store *st = NULL;
	int n = 0;

	CHILD_CHECK(sw_store_open(f->db, &st, &err) == 0);
	CHILD_CHECK(st->readonly);
	CHILD_CHECK(sw_store_append(st, "a", "job.finished", "x", NULL, NULL, &err) == -1);
	CHILD_CHECK(err.code == SW_EIO && strstr(err.msg, "cannot write to database '") &&
		    strstr(err.msg, "': read-only"));
	CHILD_CHECK(sw_store_scan(st, 0, 0, count_cb, &n, &err) == 0 && n == 4);
	sw_store_close(st);
	CHILD_CHECK(sw_store_open_readonly(f->db, &st, &err) == 0);
	CHILD_CHECK(sw_eventlog_verify(st, &rep, &err) == 0 && rep.events == 4);
	sw_store_close(st);
	return 0;
}

static void test_readonly_dir(void **state)
{
	struct fixture *f = *state;
	char sub[PATH_MAX + 8], path[PATH_MAX + 32];

	snprintf(sub, sizeof(sub), "%s/ro", f->dir);
	snprintf(path, sizeof(path), "%s/slipway.db", sub);
	make_log(path, 4);
	give_to_test_user(path);
	assert_int_equal(chmod(sub, 0555), 0);
	snprintf(f->db, sizeof(f->db), "%s", path);
	assert_int_equal(run_unprivileged(child_readonly_dir, f), 0);
}

/* Child: a missing database in a directory that cannot be written. */
static int child_cannot_create(struct fixture *f)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_store *st = NULL;

	CHILD_CHECK(sw_store_open(f->db, &st, &err) == -1);
	CHILD_CHECK(st == NULL && err.code == SW_EIO && strstr(err.msg, "read-only"));
	return 0;
}

static void test_cannot_create(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(chmod(f->dir, 0555), 0);
	assert_int_equal(run_unprivileged(child_cannot_create, f), 0);
	assert_false(sw_fs_exists(f->db));
}

static void test_not_a_database(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct sw_store *st = NULL;
	struct sw_buf b = SW_BUF_INIT(1 << 20), after = SW_BUF_INIT(1 << 20);
	char want[PATH_MAX + 64], other[PATH_MAX + 16];
	int i;

	for (i = 0; i < 200; i++)
		sw_buf_puts(&b, "this is a text file, not a database\n");
	assert_int_equal(sw_fs_write_atomic(f->db, b.data, b.len, 0600, &err), 0);
	snprintf(want, sizeof(want), "file '%s' is not a Slipway database", f->db);
	assert_int_equal(sw_store_open(f->db, &st, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_string_equal(err.msg, want);
	assert_null(st);
	assert_int_equal(sw_store_open_readonly(f->db, &st, &err), -1);
	assert_string_equal(err.msg, want);
	/* untouched */
	assert_int_equal(sw_fs_read_file(f->db, 1 << 20, &after, &err), 0);
	assert_int_equal(after.len, b.len);
	assert_memory_equal(after.data, b.data, b.len);

	/* an SQLite database of some other program */
	snprintf(other, sizeof(other), "%s/other.db", f->dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(sw_store_open(other, &st, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "is not a Slipway database"));
	assert_int_equal(sql_int(other, "SELECT count(*) FROM sqlite_schema"), 1);
	sw_buf_release(&b);
	sw_buf_release(&after);
}

static void test_newer_schema(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct sw_store *st = NULL;
	char want[PATH_MAX + 128], got[PATH_MAX + 256];

	make_log(f->db, 1);
	sql_exec(f->db, "INSERT INTO schema_migrations (version, applied_at) VALUES (7, '2030-01-01T00:00:00.000Z')");
	snprintf(want, sizeof(want), "%s: database schema version 7 is newer than this slipway supports (%d)", f->db,
		 SW_SQLITE_SCHEMA_VERSION);
	assert_int_equal(sw_store_open(f->db, &st, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_string_equal(sw_err_format(&err, got, sizeof(got)), want);
	assert_null(st);
	assert_int_equal(sw_store_open_readonly(f->db, &st, &err), -1);
	assert_string_equal(sw_err_format(&err, got, sizeof(got)), want);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM schema_migrations"), SW_SQLITE_SCHEMA_VERSION + 1);
}

static void test_readonly_open(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct sw_store *st = NULL;
	int fd;

	assert_int_equal(sw_store_open_readonly(f->db, &st, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "does not exist"));
	assert_false(sw_fs_exists(f->db));
	/* an empty file is no Slipway database to a reader */
	fd = open(f->db, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(sw_store_open_readonly(f->db, &st, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	/* but a writer initialises it */
	st = open_ok(f->db);
	append_ok(st, "pipeline.started", NULL, 1);
	sw_store_close(st);
	assert_int_equal(sw_store_open_readonly(f->db, &st, &err), 0);
	assert_true(st->readonly);
	assert_int_equal(count_events(st), 1);
	assert_int_equal(sw_store_append(st, "a", "job.finished", "", NULL, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "read-only"));
	assert_int_equal(sw_store_begin(st, &err), -1);
	sw_store_close(st);
}

static void test_concurrent_appenders(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct sw_eventlog_report rep;
	struct sw_store *st = open_ok(f->db);
	pid_t pids[4];
	int i, j, status;

	sw_store_close(st);
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct sw_store *cst = NULL;

			if (sw_store_open(f->db, &cst, &err) < 0)
				_exit(1);
			for (j = 0; j < 25; j++)
				if (sw_store_append(cst, "child", "job.finished", "x", NULL, NULL, &err) < 0) {
					fprintf(stderr, "child %d: %s\n", i, err.msg);
					_exit(2);
				}
			sw_store_close(cst);
			_exit(0);
		}
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	st = open_ok(f->db);
	assert_int_equal(sw_eventlog_verify(st, &rep, &err), 0);
	assert_int_equal(rep.events, 100);
	sw_store_close(st);
}

/* ---- one subject's events (sw_store_scan_subject, migration 3) ---------- */

struct subj_collect {
	int n;
	int64_t seq[64];
	char kind[64][32];
	char subject[64][32];
	struct sw_store *nested; /* scan the same subject again from inside the callback */
	int nested_n[64];
	int stop_after; /* 0: never */
};

static int subj_count_cb(const struct sw_event *ev, void *ctx)
{
	(void)ev;
	(*(int *)ctx)++;
	return 0;
}

static int subj_cb(const struct sw_event *ev, void *ctx)
{
	struct subj_collect *c = ctx;
	char hash[SW_SHA256_HEX];

	if (c->n >= 64)
		return 1;
	c->seq[c->n] = ev->seq;
	snprintf(c->kind[c->n], sizeof(c->kind[0]), "%s", ev->kind);
	snprintf(c->subject[c->n], sizeof(c->subject[0]), "%s", ev->subject);
	sw_eventlog_hash(ev, hash);
	assert_string_equal(hash, ev->hash);
	if (c->nested) {
		int n = 0;

		/* the cached statement is busy: this must not disturb the outer scan */
		assert_int_equal(sw_store_scan_subject(c->nested, ev->subject, NULL, 0, 0, subj_count_cb, &n, NULL), 0);
		c->nested_n[c->n] = n;
		n = 0;
		assert_int_equal(sw_store_scan(c->nested, 0, 0, subj_count_cb, &n, NULL), 0);
		assert_true(n > 0);
	}
	c->n++;
	return c->stop_after && c->n >= c->stop_after;
}

static void append_subject(struct sw_store *st, const char *kind, const char *subject, int i)
{
	struct sw_err err = SW_ERR_INIT;
	json_t *p = json_pack("{s:i}", "i", i);

	if (sw_store_append(st, "tester@example.com", kind, subject, p, NULL, &err) < 0)
		fail_msg("append: %s", err.msg);
	json_decref(p);
}

/*
 * 30 events: seq 1..30; i % 3 == 0 -> deployment/d1, 1 -> deployment/d2,
 * 2 -> run/r1; kind deployment.measurement on even i, deployment.step on odd.
 */
static void make_subject_log(struct sw_store *st)
{
	static const char *const subjects[] = { "deployment/d1", "deployment/d2", "run/r1" };
	int i;

	for (i = 1; i <= 30; i++)
		append_subject(st, i % 2 ? "deployment.step" : "deployment.measurement", subjects[i % 3], i);
}

static void test_scan_subject(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct subj_collect *c = calloc(1, sizeof(*c)), *p = calloc(1, sizeof(*p));
	struct sw_store *st = open_ok(f->db);
	int64_t after, want[16];
	int i, n, nwant = 0, pages;

	assert_non_null(c);
	assert_non_null(p);
	make_subject_log(st);

	/* subject filter, any kind: i = 3, 6, ..., 30 */
	assert_int_equal(sw_store_scan_subject(st, "deployment/d1", NULL, 0, 0, subj_cb, c, &err), 0);
	assert_int_equal(c->n, 10);
	for (i = 0; i < 10; i++) {
		assert_int_equal(c->seq[i], 3 * (i + 1));
		assert_string_equal(c->subject[i], "deployment/d1");
	}
	/* subject and kind: d1's even i = 6, 12, 18, 24, 30 */
	memset(c, 0, sizeof(*c));
	assert_int_equal(sw_store_scan_subject(st, "deployment/d1", "deployment.measurement", 0, 0, subj_cb, c, &err),
			 0);
	assert_int_equal(c->n, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(c->seq[i], 6 * (i + 1));
		assert_string_equal(c->kind[i], "deployment.measurement");
	}
	/* d2 with the other kind: i % 3 == 1 and odd: 1, 7, 13, 19, 25 */
	memset(c, 0, sizeof(*c));
	assert_int_equal(sw_store_scan_subject(st, "deployment/d2", "deployment.step", 0, 0, subj_cb, c, &err), 0);
	assert_int_equal(c->n, 5);
	assert_int_equal(c->seq[0], 1);
	assert_int_equal(c->seq[4], 25);
	/* no prefix matching, no such kind, no such subject */
	n = 0;
	assert_int_equal(sw_store_scan_subject(st, "deployment/d", NULL, 0, 0, subj_count_cb, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sw_store_scan_subject(st, "deployment/d1", "deployment.nope", 0, 0, subj_count_cb, &n, &err),
			 0);
	assert_int_equal(n, 0);
	assert_int_equal(sw_store_scan_subject(st, "", NULL, 0, 0, subj_count_cb, &n, &err), 0);
	assert_int_equal(n, 0);

	/* after and limit: d1 after seq 10, two of them: 12, 15 */
	memset(c, 0, sizeof(*c));
	assert_int_equal(sw_store_scan_subject(st, "deployment/d1", NULL, 10, 2, subj_cb, c, &err), 0);
	assert_int_equal(c->n, 2);
	assert_int_equal(c->seq[0], 12);
	assert_int_equal(c->seq[1], 15);
	/* after is exclusive */
	memset(c, 0, sizeof(*c));
	assert_int_equal(sw_store_scan_subject(st, "deployment/d1", NULL, 12, 1, subj_cb, c, &err), 0);
	assert_int_equal(c->n, 1);
	assert_int_equal(c->seq[0], 15);
	/* paging with limit 3 gives the same list as one scan */
	memset(c, 0, sizeof(*c));
	assert_int_equal(sw_store_scan_subject(st, "run/r1", NULL, 0, 0, subj_cb, c, &err), 0);
	for (i = 0; i < c->n; i++)
		want[nwant++] = c->seq[i];
	assert_int_equal(nwant, 10);
	after = 0;
	n = 0; /* measurements seen so far over the pages */
	for (pages = 0; pages < 10; pages++) {
		memset(p, 0, sizeof(*p));
		assert_int_equal(sw_store_scan_subject(st, "run/r1", NULL, after, 3, subj_cb, p, &err), 0);
		assert_true(p->n <= 3 && n + p->n <= nwant);
		for (i = 0; i < p->n; i++)
			assert_int_equal(p->seq[i], want[n++]);
		if (p->n < 3)
			break;
		after = p->seq[p->n - 1];
	}
	assert_int_equal(n, nwant);
	assert_int_equal(pages, 3); /* 3 + 3 + 3 + 1 */
	/* past the end */
	n = 0;
	assert_int_equal(sw_store_scan_subject(st, "run/r1", NULL, 30, 0, subj_count_cb, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sw_store_scan_subject(st, "run/r1", NULL, INT64_MAX, 0, subj_count_cb, &n, &err), 0);
	assert_int_equal(n, 0);
	/* a callback that stops early is not an error */
	memset(c, 0, sizeof(*c));
	c->stop_after = 2;
	assert_int_equal(sw_store_scan_subject(st, "deployment/d1", NULL, 0, 0, subj_cb, c, &err), 0);
	assert_int_equal(c->n, 2);
	/* re-entrant: each callback scans its subject and the whole log again */
	memset(c, 0, sizeof(*c));
	c->nested = st;
	assert_int_equal(sw_store_scan_subject(st, "deployment/d2", NULL, 0, 0, subj_cb, c, &err), 0);
	assert_int_equal(c->n, 10);
	for (i = 0; i < 10; i++) {
		assert_int_equal(c->seq[i], 3 * i + 1);
		assert_int_equal(c->nested_n[i], 10);
	}
	/* and the cached statement still works afterwards */
	memset(c, 0, sizeof(*c));
	assert_int_equal(sw_store_scan_subject(st, "deployment/d2", NULL, 20, 0, subj_cb, c, &err), 0);
	assert_int_equal(c->n, 3); /* 22, 25, 28 */
	assert_int_equal(c->seq[0], 22);
	/* bad input */
	assert_int_equal(sw_store_scan_subject(st, NULL, NULL, 0, 0, subj_count_cb, &n, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_int_equal(sw_store_scan_subject(st, "run/r1", NULL, -1, 0, subj_count_cb, &n, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	sw_store_close(st);
	free(c);
	free(p);
}

/*
 * The plan of SQ_SCAN_SUBJECT (store/sqlite.c; the same text here): a
 * search of events_by_subject, no full scan, no sort. Without the index
 * the plan changes, so this check can fail.
 */
#define SCAN_SUBJECT_SQL                                                                                          \
	"EXPLAIN QUERY PLAN SELECT seq, time, actor, kind, subject, payload, prev_hash, hash FROM events "           \
	"WHERE subject = ?1 AND seq > ?3 AND (?2 IS NULL OR kind = ?2) ORDER BY seq LIMIT ?4"

static void query_plan(const char *path, char *out, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	size_t len = 0;

	out[0] = '\0';
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, SCAN_SUBJECT_SQL, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW && len + 2 < size) {
		snprintf(out + len, size - len, "%s;", (const char *)sqlite3_column_text(st, 3));
		len = strlen(out);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_scan_subject_uses_index(void **state)
{
	struct fixture *f = *state;
	struct sw_store *st = open_ok(f->db);
	char plan[1024];

	make_subject_log(st);
	sw_store_close(st);
	query_plan(f->db, plan, sizeof(plan));
	assert_non_null(strstr(plan, "SEARCH events USING INDEX events_by_subject (subject=? AND seq>?)"));
	assert_null(strstr(plan, "TEMP B-TREE"));
	sql_exec(f->db, "DROP INDEX events_by_subject");
	query_plan(f->db, plan, sizeof(plan));
	assert_null(strstr(plan, "events_by_subject"));
}

/* A database as version 2 left it: migrations 3 (the index) and 4 (join_tokens.replace_host) not applied. */
static void make_v2(const char *path)
{
	sql_exec(path, "DROP INDEX events_by_subject; ALTER TABLE join_tokens DROP COLUMN replace_host; "
		       "ALTER TABLE hosts DROP COLUMN address; "
		       "DELETE FROM schema_migrations WHERE version >= 3");
	assert_int_equal(sql_int(path, "SELECT max(version) FROM schema_migrations"), 2);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'events_by_subject'"), 0);
}

static void test_migrate_v2_to_v3(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct sw_eventlog_report rep;
	struct sw_store *st = open_ok(f->db);
	char head[SW_SHA256_HEX], got[PATH_MAX + 256];
	int n = 0;

	assert_int_equal(SW_SQLITE_SCHEMA_VERSION, 5);
	make_subject_log(st);
	assert_int_equal(sw_eventlog_verify(st, &rep, &err), 0);
	snprintf(head, sizeof(head), "%s", rep.head);
	sw_store_close(st);
	make_v2(f->db);

	/* a reader does not migrate: it says so */
	assert_int_equal(sw_store_open_readonly(f->db, &st, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(sw_err_format(&err, got, sizeof(got)),
			       "database schema version 2 is older than this slipway (5); open it read-write once to "
			       "migrate"));
	assert_null(st);

	/* a writer migrates: the index appears, the events and their chain stay */
	st = open_ok(f->db);
	assert_int_equal(sql_int(f->db, "SELECT max(version) FROM schema_migrations"), 5);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM schema_migrations"), 5);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM pragma_table_info('join_tokens') WHERE name = 'replace_host'"),
			 1);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM pragma_table_info('hosts') WHERE name = 'address'"), 1);
	assert_int_equal(
		sql_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'events_by_subject' "
			       "AND tbl_name = 'events'"),
		1);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM events"), 30);
	assert_int_equal(sw_eventlog_verify(st, &rep, &err), 0);
	assert_true(rep.ok);
	assert_int_equal(rep.events, 30);
	assert_int_equal(rep.head_seq, 30);
	assert_string_equal(rep.head, head);
	assert_int_equal(sw_store_scan_subject(st, "deployment/d1", "deployment.measurement", 0, 0, subj_count_cb, &n,
					       &err),
			 0);
	assert_int_equal(n, 5);
	/* and the chain goes on from where it was */
	append_subject(st, "deployment.measurement", "deployment/d1", 31);
	assert_int_equal(sw_eventlog_verify(st, &rep, &err), 0);
	assert_int_equal(rep.events, 31);
	sw_store_close(st);
	/* opening again applies nothing twice */
	st = open_ok(f->db);
	sw_store_close(st);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM schema_migrations"), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrations_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_rejects_bad_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_urls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_releases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_actor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_timeout_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cannot_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_appenders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_subject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_subject_uses_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v2_to_v3, setup, teardown),
	};

	if (sw_hash_global_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
