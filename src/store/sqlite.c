/*
 * sqlite.c - the SQLite store backend (see sqlite.h for the settings and
 * the schema). Owns the connection, its cached prepared statements and the
 * versioned migrations; it is the only file with SQL in it.
 * Calls sqlite3, base/, store/store.h, store/eventlog.h (genesis hash).
 * The struct sw_store it returns is freed by its close op.
 */
#include "store/sqlite.h"
#include "store/sqlite_int.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/mem.h"
#include "base/num.h"
#include "store/eventlog.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum sw_sq_stmt {
	SQ_BEGIN,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_LAST,
	SQ_INSERT,
	SQ_SCAN,
	SQ_SCAN_SUBJECT,
	SQ_PUT_REL,
	SQ_GET_REL,
	SQ_LIST_REL,
	SQ_COUNT
};

static const char *const sw_sq_sql[SQ_COUNT] = {
	[SQ_BEGIN] = "BEGIN IMMEDIATE",
	[SQ_COMMIT] = "COMMIT",
	[SQ_ROLLBACK] = "ROLLBACK",
	[SQ_LAST] = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
	[SQ_INSERT] = "INSERT INTO events (seq, time, actor, kind, subject, payload, prev_hash, hash) "
		      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[SQ_SCAN] = "SELECT seq, time, actor, kind, subject, payload, prev_hash, hash FROM events "
		    "WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
	/* Served by events_by_subject (migration 3); ?2 NULL: any kind. */
	[SQ_SCAN_SUBJECT] = "SELECT seq, time, actor, kind, subject, payload, prev_hash, hash FROM events "
			    "WHERE subject = ?1 AND seq > ?3 AND (?2 IS NULL OR kind = ?2) ORDER BY seq LIMIT ?4",
	[SQ_PUT_REL] = "INSERT INTO releases (digest, service, version, manifest, bundle_path, created) "
		       "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (digest) DO NOTHING",
	[SQ_GET_REL] = "SELECT manifest, bundle_path FROM releases WHERE digest = ?1",
	[SQ_LIST_REL] = "SELECT digest, service, version, created, manifest FROM releases "
			"WHERE (?1 IS NULL OR service = ?1) ORDER BY created DESC, rowid DESC",
};

/*
 * Versioned migrations. Each runs in its own BEGIN IMMEDIATE transaction
 * together with its schema_migrations row; a database already at or past a
 * version skips it. Never edit a migration that has shipped: add one.
 */
struct sw_sq_migration {
	int version;
	const char *sql;
};

static const struct sw_sq_migration sw_sq_migrations[] = {
	{ 1, "CREATE TABLE events (\n"
	     "  seq INTEGER PRIMARY KEY,\n"
	     "  time TEXT NOT NULL,\n"
	     "  actor TEXT NOT NULL,\n"
	     "  kind TEXT NOT NULL,\n"
	     "  subject TEXT NOT NULL,\n"
	     "  payload TEXT NOT NULL,\n"
	     "  prev_hash TEXT NOT NULL,\n"
	     "  hash TEXT NOT NULL\n"
	     ") STRICT;\n"
	     "CREATE TRIGGER events_no_update BEFORE UPDATE ON events\n"
	     "  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;\n"
	     "CREATE TRIGGER events_no_delete BEFORE DELETE ON events\n"
	     "  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;\n"
	     "CREATE TABLE releases (\n"
	     "  digest TEXT PRIMARY KEY,\n"
	     "  service TEXT NOT NULL,\n"
	     "  version TEXT NOT NULL,\n"
	     "  manifest TEXT NOT NULL,\n"
	     "  bundle_path TEXT NOT NULL,\n"
	     "  created TEXT NOT NULL\n"
	     ") STRICT;\n"
	     "PRAGMA application_id = 1397512025;\n" },
	/* 2: the control plane: API tokens, join tokens, hosts, deployments, desired state. */
	{ 2, "CREATE TABLE tokens (\n"
	     "  id TEXT PRIMARY KEY,\n"
	     "  name TEXT NOT NULL,\n"
	     "  role TEXT NOT NULL CHECK (role IN ('admin', 'deployer', 'viewer')),\n"
	     "  hash TEXT NOT NULL UNIQUE,\n"
	     "  created TEXT NOT NULL,\n"
	     "  revoked INTEGER NOT NULL DEFAULT 0\n"
	     ") STRICT;\n"
	     "CREATE TABLE join_tokens (\n"
	     "  hash TEXT PRIMARY KEY,\n"
	     "  labels TEXT NOT NULL,\n"
	     "  created TEXT NOT NULL,\n"
	     "  expires_ms INTEGER NOT NULL,\n"
	     "  used_at TEXT,\n"
	     "  host_id TEXT\n"
	     ") STRICT;\n"
	     "CREATE TABLE hosts (\n"
	     "  id TEXT PRIMARY KEY,\n"
	     "  name TEXT NOT NULL UNIQUE,\n"
	     "  labels TEXT NOT NULL,\n"
	     "  token_hash TEXT NOT NULL UNIQUE,\n"
	     "  ports TEXT NOT NULL,\n"
	     "  enrolled TEXT NOT NULL,\n"
	     "  last_seen_ms INTEGER NOT NULL DEFAULT 0,\n"
	     "  revoked INTEGER NOT NULL DEFAULT 0,\n"
	     "  status TEXT NOT NULL DEFAULT '{}',\n"
	     "  generation_applied INTEGER NOT NULL DEFAULT 0\n"
	     ") STRICT;\n"
	     "CREATE TABLE deployments (\n"
	     "  id TEXT PRIMARY KEY,\n"
	     "  service TEXT NOT NULL,\n"
	     "  env TEXT NOT NULL,\n"
	     "  digest TEXT NOT NULL,\n"
	     "  prev_digest TEXT,\n"
	     "  state TEXT NOT NULL,\n"
	     "  reason TEXT NOT NULL DEFAULT '',\n"
	     "  actor TEXT NOT NULL,\n"
	     "  spec TEXT NOT NULL,\n"
	     "  plan TEXT NOT NULL,\n"
	     "  created TEXT NOT NULL,\n"
	     "  updated TEXT NOT NULL,\n"
	     "  deadline_ms INTEGER NOT NULL\n"
	     ") STRICT;\n"
	     "CREATE INDEX deployments_by_target ON deployments (service, env, created);\n"
	     "CREATE TABLE desired (\n"
	     "  host_id TEXT NOT NULL REFERENCES hosts (id),\n"
	     "  service TEXT NOT NULL,\n"
	     "  slot TEXT NOT NULL CHECK (slot IN ('a', 'b')),\n"
	     "  digest TEXT NOT NULL,\n"
	     "  port INTEGER NOT NULL,\n"
	     "  active INTEGER NOT NULL,\n"
	     "  run TEXT NOT NULL,\n"
	     "  PRIMARY KEY (host_id, service, slot)\n"
	     ") STRICT;\n"
	     "CREATE TABLE host_generation (\n"
	     "  host_id TEXT PRIMARY KEY REFERENCES hosts (id),\n"
	     "  generation INTEGER NOT NULL\n"
	     ") STRICT;\n" },
	/* 3: one subject's events in seq order (a deployment's measurements) without a full scan. */
	{ 3, "CREATE INDEX events_by_subject ON events (subject, seq);\n" },
	/* 4: a join token may name the enrolled host it is allowed to replace (join-token create --replace). */
	{ 4, "ALTER TABLE join_tokens ADD COLUMN replace_host TEXT;\n" },
	/* 5: the address a host's agent reaches its services on (agent --address; '' = not reported). */
	{ 5, "ALTER TABLE hosts ADD COLUMN address TEXT NOT NULL DEFAULT '';\n" },
};

_Static_assert(1397512025 == SW_SQLITE_APPLICATION_ID, "application_id in migration 1");
_Static_assert(SQ_COUNT <= SW_SQ_CORE_STMTS, "room for the cached statements");
_Static_assert(sizeof(sw_sq_migrations) / sizeof(sw_sq_migrations[0]) == SW_SQLITE_SCHEMA_VERSION,
	       "one migration per schema version");


struct sw_sqlite *sw_sq(struct sw_store *st)
{
	return (struct sw_sqlite *)st;
}

/* Map a SQLite result code to the store's errors (store.h). */
static void sw_sq_seterr(struct sw_sqlite *s, int rc, const char *what, struct sw_err *err)
{
	const char *detail = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

	s->last_rc = rc;
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		sw_err_set(err, SW_EBUSY, "database '%s' is locked", s->path);
		break;
	case SQLITE_READONLY:
		if (rc == SQLITE_READONLY_DIRECTORY)
			sw_err_set(err, SW_EIO, "cannot write to database '%s': read-only (its directory is not writable)",
				   s->path);
		else
			sw_err_set(err, SW_EIO, "cannot write to database '%s': read-only", s->path);
		break;
	case SQLITE_NOTADB:
		sw_err_set(err, SW_EINPUT, "file '%s' is not a Slipway database", s->path);
		break;
	case SQLITE_CORRUPT:
		sw_err_set(err, SW_EINTEGRITY, "database '%s' is corrupt: %s", s->path, detail);
		break;
	case SQLITE_FULL:
		sw_err_set(err, SW_EIO, "cannot write to database '%s': disk full", s->path);
		break;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		sw_err_set(err, SW_EIO, "cannot open database '%s': %s", s->path, detail);
		break;
	default:
		sw_err_set(err, SW_EIO, "database '%s': %s: %s", s->path, what, detail);
		break;
	}
}

/* Set err from rc and return -1. */
int sw_sq_fail(struct sw_sqlite *s, int rc, const char *what, struct sw_err *err)
{
	sw_sq_seterr(s, rc, what, err);
	return -1;
}

static int sw_sq_prepare(struct sw_sqlite *s, enum sw_sq_stmt which, sqlite3_stmt **out, struct sw_err *err)
{
	int rc;

	if (!s->stmt[which]) {
		rc = sqlite3_prepare_v3(s->db, sw_sq_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[which],
					NULL);
		if (rc != SQLITE_OK) {
			s->stmt[which] = NULL;
			return sw_sq_fail(s, rc, "prepare", err);
		}
	}
	*out = s->stmt[which];
	return 0;
}

/* A cached statement goes back ready and without a read transaction. */
static void sw_sq_done(sqlite3_stmt *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

/* Run a statement that returns no rows. */
static int sw_sq_run(struct sw_sqlite *s, enum sw_sq_stmt which, const char *what, struct sw_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (sw_sq_prepare(s, which, &stmt, err) < 0)
		return -1;
	rc = sqlite3_step(stmt);
	sw_sq_done(stmt);
	if (rc != SQLITE_DONE)
		return sw_sq_fail(s, rc, what, err);
	return 0;
}

static int sw_sq_exec(struct sw_sqlite *s, const char *sql, const char *what, struct sw_err *err)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sw_sq_fail(s, rc, what, err);
}

/* One integer from a one-off query (open time only; not cached). */
static int sw_sq_query_int(struct sw_sqlite *s, const char *sql, int64_t *out, struct sw_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);

	*out = 0;
	if (rc != SQLITE_OK)
		return sw_sq_fail(s, rc, "read schema", err);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(stmt, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		*out = 0;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_OK ? 0 : sw_sq_fail(s, rc, "read schema", err);
}

const char *sw_sq_text(sqlite3_stmt *stmt, int col)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);

	return t ? (const char *)t : "";
}

/* ---- ops ---------------------------------------------------------------- */

static void sw_sq_close(struct sw_store *st)
{
	struct sw_sqlite *s = sw_sq(st);
	unsigned i;

	for (i = 0; i < SQ_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	if (s->db)
		sqlite3_close_v2(s->db);
	free(s);
}

static int sw_sq_begin(struct sw_store *st, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *unused;

	if (st->readonly)
		return sw_err_set(err, SW_EIO, "cannot write to database '%s': read-only", s->path);
	/* Prepared now so that rolling back never has to prepare. */
	if (sw_sq_prepare(s, SQ_ROLLBACK, &unused, err) < 0 || sw_sq_prepare(s, SQ_COMMIT, &unused, err) < 0)
		return -1;
	return sw_sq_run(s, SQ_BEGIN, "begin", err);
}

static int sw_sq_commit(struct sw_store *st, struct sw_err *err)
{
	return sw_sq_run(sw_sq(st), SQ_COMMIT, "commit", err);
}

static void sw_sq_rollback(struct sw_store *st)
{
	struct sw_sqlite *s = sw_sq(st);

	/* SQLite rolls back by itself after some errors (disk full, I/O). */
	if (sqlite3_get_autocommit(s->db))
		return;
	sw_sq_run(s, SQ_ROLLBACK, "rollback", NULL);
}

static int sw_sq_last_event(struct sw_store *st, int64_t *seq, char hash[65], struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt;
	int rc;

	if (sw_sq_prepare(s, SQ_LAST, &stmt, err) < 0)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		*seq = 0;
		memcpy(hash, SW_EVENTLOG_GENESIS, 65);
		sw_sq_done(stmt);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		sw_sq_done(stmt);
		return sw_sq_fail(s, rc, "read last event", err);
	}
	*seq = sqlite3_column_int64(stmt, 0);
	sw_strlcpy(hash, sw_sq_text(stmt, 1), 65);
	sw_sq_done(stmt);
	if (!sw_is_sha256_hex(hash) || *seq < 1 || *seq == INT64_MAX)
		return sw_err_set(err, SW_EINTEGRITY,
				  "database '%s': the newest event (seq %lld) is malformed; run 'slipway audit verify'",
				  s->path, (long long)*seq);
	return 0;
}

static int sw_sq_insert_event(struct sw_store *st, const struct sw_event *ev, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	const char *text[7] = { ev->time, ev->actor, ev->kind, ev->subject, ev->payload, ev->prev_hash, ev->hash };
	sqlite3_stmt *stmt;
	int rc, i;

	if (sw_sq_prepare(s, SQ_INSERT, &stmt, err) < 0)
		return -1;
	rc = sqlite3_bind_int64(stmt, 1, ev->seq);
	for (i = 0; i < 7 && rc == SQLITE_OK; i++)
		rc = sqlite3_bind_text(stmt, i + 2, text[i] ? text[i] : "", -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	sw_sq_done(stmt);
	if (rc != SQLITE_DONE)
		return sw_sq_fail(s, rc, "insert event", err);
	return 0;
}

/* Step stmt, handing each row to cb; SQLITE_DONE when all went (or cb stopped), else the failing code. */
static int sw_sq_scan_rows(sqlite3_stmt *stmt, sw_event_cb cb, void *ctx)
{
	struct sw_event ev;
	int rc;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ev.seq = sqlite3_column_int64(stmt, 0);
		ev.time = sw_sq_text(stmt, 1);
		ev.actor = sw_sq_text(stmt, 2);
		ev.kind = sw_sq_text(stmt, 3);
		ev.subject = sw_sq_text(stmt, 4);
		ev.payload = sw_sq_text(stmt, 5);
		ev.prev_hash = sw_sq_text(stmt, 6);
		ev.hash = sw_sq_text(stmt, 7);
		if (cb(&ev, ctx) != 0)
			return SQLITE_DONE;
	}
	return rc;
}

/*
 * The cached statement `which`, or (when *depth says a scan with it is
 * under way: a callback scanning again) a statement of its own (*own = 1,
 * finalised by the caller).
 */
static int sw_sq_scan_stmt(struct sw_sqlite *s, enum sw_sq_stmt which, int depth, sqlite3_stmt **stmt, int *own,
			   struct sw_err *err)
{
	int rc;

	*own = 0;
	if (!depth)
		return sw_sq_prepare(s, which, stmt, err);
	rc = sqlite3_prepare_v2(s->db, sw_sq_sql[which], -1, stmt, NULL);
	if (rc != SQLITE_OK)
		return sw_sq_fail(s, rc, "prepare", err);
	*own = 1;
	return 0;
}

static sqlite3_int64 sw_sq_limit(size_t limit)
{
	return limit == 0 || limit > (size_t)INT64_MAX ? -1 : (sqlite3_int64)limit;
}

static int sw_sq_scan_events(struct sw_store *st, int64_t after, size_t limit, sw_event_cb cb, void *ctx,
			     struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt;
	int rc, own;

	if (after == INT64_MAX)
		return 0;
	if (sw_sq_scan_stmt(s, SQ_SCAN, s->scanning, &stmt, &own, err) < 0)
		return -1;
	rc = sqlite3_bind_int64(stmt, 1, after == INT64_MIN ? INT64_MIN : after + 1);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 2, sw_sq_limit(limit));
	if (rc == SQLITE_OK) {
		s->scanning++;
		rc = sw_sq_scan_rows(stmt, cb, ctx);
		s->scanning--;
	}
	if (own)
		sqlite3_finalize(stmt);
	else
		sw_sq_done(stmt);
	if (rc != SQLITE_DONE)
		return sw_sq_fail(s, rc, "read events", err);
	return 0;
}

static int sw_sq_scan_subject(struct sw_store *st, const char *subject, const char *kind, int64_t after,
			      size_t limit, sw_event_cb cb, void *ctx, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt;
	int rc, own;

	if (after == INT64_MAX)
		return 0;
	if (sw_sq_scan_stmt(s, SQ_SCAN_SUBJECT, s->scanning_subject, &stmt, &own, err) < 0)
		return -1;
	rc = sqlite3_bind_text(stmt, 1, subject, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = kind ? sqlite3_bind_text(stmt, 2, kind, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, 2);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 3, after);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 4, sw_sq_limit(limit));
	if (rc == SQLITE_OK) {
		s->scanning_subject++;
		rc = sw_sq_scan_rows(stmt, cb, ctx);
		s->scanning_subject--;
	}
	if (own)
		sqlite3_finalize(stmt);
	else
		sw_sq_done(stmt);
	if (rc != SQLITE_DONE)
		return sw_sq_fail(s, rc, "read events", err);
	return 0;
}

/* Newest first, by the primary key (seq) backwards; its own statement, so a callback may scan again. */
static int sw_sq_scan_newest(struct sw_store *st, int64_t after, int64_t before, const char *kind, size_t limit,
			     sw_event_cb cb, void *ctx, struct sw_err *err)
{
	static const char sql[] = "SELECT seq, time, actor, kind, subject, payload, prev_hash, hash FROM events "
				  "WHERE seq > ?1 AND (?2 = 0 OR seq < ?2) AND (?3 IS NULL OR kind = ?3) "
				  "ORDER BY seq DESC LIMIT ?4";
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt;
	int rc;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return sw_sq_fail(s, rc, "prepare", err);
	rc = sqlite3_bind_int64(stmt, 1, after);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 2, before);
	if (rc == SQLITE_OK)
		rc = kind ? sqlite3_bind_text(stmt, 3, kind, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, 3);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 4, sw_sq_limit(limit));
	if (rc == SQLITE_OK)
		rc = sw_sq_scan_rows(stmt, cb, ctx);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return sw_sq_fail(s, rc, "read events", err);
	return 0;
}

static int sw_sq_get_release(struct sw_store *st, const char *digest, char **manifest_json, char **bundle_path,
			     struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt;
	int rc;

	if (sw_sq_prepare(s, SQ_GET_REL, &stmt, err) < 0)
		return -1;
	rc = sqlite3_bind_text(stmt, 1, digest, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		if (manifest_json)
			*manifest_json = sw_xstrdup(sw_sq_text(stmt, 0));
		if (bundle_path)
			*bundle_path = sw_xstrdup(sw_sq_text(stmt, 1));
		sw_sq_done(stmt);
		return 0;
	}
	sw_sq_done(stmt);
	if (rc == SQLITE_DONE)
		return sw_err_set(err, SW_ENOTFOUND, "release '%s' not found", digest);
	return sw_sq_fail(s, rc, "read release", err);
}

static int sw_sq_put_release(struct sw_store *st, const char *digest, const char *service, const char *version,
			     const char *manifest_json, const char *bundle_path, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	const char *text[5] = { digest, service, version, manifest_json, bundle_path };
	char now[SW_TIME_STR_MAX];
	sqlite3_stmt *stmt;
	char *old = NULL;
	int rc, i, same;

	if (st->readonly)
		return sw_err_set(err, SW_EIO, "cannot write to database '%s': read-only", s->path);
	if (sw_sq_prepare(s, SQ_PUT_REL, &stmt, err) < 0)
		return -1;
	sw_clock_format_utc(sw_clock_wall_ms(), now, sizeof(now));
	rc = SQLITE_OK;
	for (i = 0; i < 5 && rc == SQLITE_OK; i++)
		rc = sqlite3_bind_text(stmt, i + 1, text[i] ? text[i] : "", -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 6, now, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	sw_sq_done(stmt);
	if (rc != SQLITE_DONE)
		return sw_sq_fail(s, rc, "insert release", err);
	if (sqlite3_changes(s->db) == 1)
		return 0;
	/* The digest was there already: fine if it is the same release. */
	if (sw_sq_get_release(st, digest, &old, NULL, err) < 0)
		return -1;
	same = old && !strcmp(old, manifest_json ? manifest_json : "");
	free(old);
	if (!same)
		return sw_err_set(err, SW_EINTEGRITY, "release '%s' is already recorded with a different manifest",
				  digest);
	return 0;
}

static int sw_sq_list_releases(struct sw_store *st, const char *service, json_t **arr, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt;
	json_t *out = json_array();
	int rc;

	if (sw_sq_prepare(s, SQ_LIST_REL, &stmt, err) < 0) {
		json_decref(out);
		return -1;
	}
	rc = service ? sqlite3_bind_text(stmt, 1, service, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, 1);
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		json_t *m = json_loads(sw_sq_text(stmt, 4), 0, NULL);

		json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:o}", "digest", sw_sq_text(stmt, 0), "service",
						     sw_sq_text(stmt, 1), "version", sw_sq_text(stmt, 2), "recorded",
						     sw_sq_text(stmt, 3), "manifest", m ? m : json_object()));
		rc = SQLITE_OK;
	}
	sw_sq_done(stmt);
	if (rc != SQLITE_DONE) {
		json_decref(out);
		return sw_sq_fail(s, rc, "list releases", err);
	}
	*arr = out;
	return 0;
}

static const struct sw_store_ops sw_sqlite_ops = {
	.name = "sqlite",
	.close = sw_sq_close,
	.begin = sw_sq_begin,
	.commit = sw_sq_commit,
	.rollback = sw_sq_rollback,
	.last_event = sw_sq_last_event,
	.insert_event = sw_sq_insert_event,
	.scan_events = sw_sq_scan_events,
	.scan_subject = sw_sq_scan_subject,
	.scan_newest = sw_sq_scan_newest,
	.put_release = sw_sq_put_release,
	.get_release = sw_sq_get_release,
	.list_releases = sw_sq_list_releases,
	.token_create = sw_sq_token_create,
	.token_lookup = sw_sq_token_lookup,
	.token_list = sw_sq_token_list,
	.token_revoke = sw_sq_token_revoke,
	.join_create = sw_sq_join_create,
	.join_consume = sw_sq_join_consume,
	.host_create = sw_sq_host_create,
	.host_lookup_token = sw_sq_host_lookup_token,
	.host_get = sw_sq_host_get,
	.host_list = sw_sq_host_list,
	.host_report = sw_sq_host_report,
	.host_revoke = sw_sq_host_revoke,
	.host_set_labels = sw_sq_host_set_labels,
	.deployment_save = sw_sq_deployment_save,
	.deployment_get = sw_sq_deployment_get,
	.deployment_list = sw_sq_deployment_list,
	.desired_set = sw_sq_desired_set,
	.desired_get = sw_sq_desired_get,
};

/* ---- opening ------------------------------------------------------------ */

static int sw_sq_busy_timeout(int *ms, struct sw_err *err)
{
	const char *v = getenv(SW_SQLITE_BUSY_TIMEOUT_ENV);
	uint64_t x;

	*ms = SW_SQLITE_BUSY_TIMEOUT_MS;
	if (!v || !*v)
		return 0;
	if (sw_parse_u64(v, strlen(v), 0, 600000, &x) < 0)
		return sw_err_set(err, SW_EINPUT, "%s: expected milliseconds from 0 to 600000, got '%s'",
				  SW_SQLITE_BUSY_TIMEOUT_ENV, v);
	*ms = (int)x;
	return 0;
}

/* Create a missing database file 0600 (and its directory 0700). */
static int sw_sq_create_file(const char *path, struct sw_err *err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd;

	if (sw_strlcpy(tmp, path, sizeof(tmp)) < 0 || sw_strlcpy(dir, dirname(tmp), sizeof(dir)) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long: '%s'", path);
	if (!sw_fs_is_dir(dir) && sw_fs_mkdirs(dir, 0700, err) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return 0; /* created by someone else meanwhile */
		if (errno == EACCES || errno == EROFS || errno == EPERM)
			return sw_err_set(err, SW_EIO, "cannot write to database '%s': read-only (%s)", path,
					  strerror(errno));
		return sw_err_set(err, SW_EIO, "cannot create database '%s': %s", path, strerror(errno));
	}
	if (fchmod(fd, 0600) < 0) {
		int e = errno;

		close(fd);
		unlink(path);
		return sw_err_set(err, SW_EIO, "cannot create database '%s': %s", path, strerror(e));
	}
	close(fd);
	return sw_fs_sync_dir(dir, err);
}

/* "file:<path, percent-encoded>?mode=ro&immutable=1" for a database in a read-only place. */
static int sw_sq_immutable_uri(const char *path, struct sw_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	sw_buf_puts(out, "file:");
	for (p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("/-._~", *p)) {
			sw_buf_putc(out, (char)*p);
		} else {
			sw_buf_putc(out, '%');
			sw_buf_putc(out, hex[*p >> 4]);
			sw_buf_putc(out, hex[*p & 15]);
		}
	}
	sw_buf_puts(out, "?mode=ro&immutable=1");
	return sw_buf_failed(out) ? -1 : 0;
}

/*
 * Connect. A reader (readonly) still opens read-write when it can, with
 * query_only on: SQLite then cleans up its -wal and -shm files on close, which
 * a read-only connection cannot. immutable: see sw_sq_setup.
 */
static int sw_sq_connect(struct sw_sqlite *s, int readonly, int immutable, int busy_ms, struct sw_err *err)
{
	struct sw_buf uri = SW_BUF_INIT(3 * PATH_MAX + 64);
	int flags = (immutable ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_EXRESCODE;
	int rc;

	if (s->db) {
		sqlite3_close_v2(s->db);
		s->db = NULL;
	}
	if (immutable) {
		if (sw_sq_immutable_uri(s->path, &uri) < 0) {
			sw_buf_release(&uri);
			return sw_err_set(err, SW_EINPUT, "path too long: '%s'", s->path);
		}
		rc = sqlite3_open_v2(sw_buf_str(&uri), &s->db, flags | SQLITE_OPEN_URI, NULL);
	} else {
		rc = sqlite3_open_v2(s->path, &s->db, flags, NULL);
	}
	sw_buf_release(&uri);
	if (rc != SQLITE_OK) {
		sw_sq_fail(s, rc, "open", err);
		sqlite3_close_v2(s->db);
		s->db = NULL;
		return -1;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, busy_ms);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
	s->base.readonly = readonly || immutable || sqlite3_db_readonly(s->db, "main") == 1;
	if (readonly && !immutable && sw_sq_exec(s, "PRAGMA query_only = ON", "set query_only", err) < 0)
		return -1;
	return 0;
}

/* Is there a write-ahead log with content beside the database? */
static int sw_sq_wal_has_data(const char *path)
{
	char wal[PATH_MAX + 8];
	struct stat st;

	if (sw_snprintf(wal, sizeof(wal), "%s-wal", path) < 0)
		return 1;
	return stat(wal, &st) == 0 && st.st_size > 0;
}

/*
 * The schema version, after checking that this is a Slipway database:
 * 0 for an empty database, else the highest version in schema_migrations.
 */
static int sw_sq_schema_version(struct sw_sqlite *s, int64_t *version, struct sw_err *err)
{
	int64_t app, objects, has_table;

	if (sw_sq_query_int(s, "PRAGMA application_id", &app, err) < 0 ||
	    sw_sq_query_int(s, "SELECT count(*) FROM sqlite_schema", &objects, err) < 0 ||
	    sw_sq_query_int(s,
			    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'",
			    &has_table, err) < 0)
		return -1;
	if (app == 0 && objects == 0) {
		*version = 0;
		return 0;
	}
	if (app != SW_SQLITE_APPLICATION_ID || !has_table)
		return sw_err_set(err, SW_EINPUT, "file '%s' is not a Slipway database", s->path);
	return sw_sq_query_int(s, "SELECT coalesce(max(version), 0) FROM schema_migrations", version, err);
}

static int sw_sq_newer(struct sw_sqlite *s, int64_t version, struct sw_err *err)
{
	return sw_err_setloc(err, SW_EINPUT, s->path, 0, 0,
			     "database schema version %lld is newer than this slipway supports (%d)",
			     (long long)version, SW_SQLITE_SCHEMA_VERSION);
}

static int sw_sq_apply(struct sw_sqlite *s, const struct sw_sq_migration *m, struct sw_err *err)
{
	char now[SW_TIME_STR_MAX], sql[160];
	int64_t version;

	if (sw_sq_exec(s, "BEGIN IMMEDIATE", "begin migration", err) < 0)
		return -1;
	if (sw_sq_exec(s,
		       "CREATE TABLE IF NOT EXISTS schema_migrations (\n"
		       "  version INTEGER PRIMARY KEY,\n"
		       "  applied_at TEXT NOT NULL\n"
		       ") STRICT",
		       "create schema_migrations", err) < 0 ||
	    sw_sq_query_int(s, "SELECT coalesce(max(version), 0) FROM schema_migrations", &version, err) < 0)
		goto fail;
	if (version > SW_SQLITE_SCHEMA_VERSION) {
		sw_sq_newer(s, version, err);
		goto fail;
	}
	if (version >= m->version) { /* another process got here first */
		sw_sq_exec(s, "ROLLBACK", "rollback", NULL);
		return 0;
	}
	sw_clock_format_utc(sw_clock_wall_ms(), now, sizeof(now));
	if (sw_snprintf(sql, sizeof(sql), "INSERT INTO schema_migrations (version, applied_at) VALUES (%d, '%s')",
			m->version, now) < 0) {
		sw_err_set(err, SW_EINTERNAL, "migration statement too long");
		goto fail;
	}
	if (sw_sq_exec(s, m->sql, "apply migration", err) < 0 || sw_sq_exec(s, sql, "record migration", err) < 0 ||
	    sw_sq_exec(s, "COMMIT", "commit migration", err) < 0)
		goto fail;
	return 0;
fail:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* WAL mode is kept in the file; PRAGMA journal_mode answers with the mode in force. */
static int sw_sq_wal_mode(struct sw_sqlite *s, struct sw_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
	int wal = 0;

	if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		wal = !sqlite3_stricmp(sw_sq_text(stmt, 0), "wal");
		rc = SQLITE_OK;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_OK)
		return sw_sq_fail(s, rc, "set WAL mode", err);
	if (!wal)
		return sw_err_set(err, SW_EIO, "database '%s': cannot switch to WAL mode", s->path);
	return 0;
}

static int sw_sq_setup(struct sw_sqlite *s, int want_readonly, int busy_ms, struct sw_err *err)
{
	int64_t version = 0;
	size_t i;

	if (sw_sq_connect(s, want_readonly, 0, busy_ms, err) < 0)
		return -1;
	if (sw_sq_schema_version(s, &version, err) < 0) {
		/*
		 * A WAL database in a directory we cannot write cannot be read
		 * the usual way (no -shm file can be made). If it has been
		 * checkpointed (no -wal data), reading it as immutable is exact.
		 */
		if ((s->last_rc == SQLITE_READONLY_DIRECTORY || (s->last_rc & 0xff) == SQLITE_CANTOPEN) &&
		    !sw_sq_wal_has_data(s->path)) {
			sw_err_clear(err);
			s->last_rc = SQLITE_OK;
			if (sw_sq_connect(s, 1, 1, busy_ms, err) < 0 || sw_sq_schema_version(s, &version, err) < 0)
				return -1;
		} else {
			return -1;
		}
	}
	if (version > SW_SQLITE_SCHEMA_VERSION)
		return sw_sq_newer(s, version, err);
	if (version < SW_SQLITE_SCHEMA_VERSION && s->base.readonly) {
		if (!want_readonly)
			return sw_err_set(err, SW_EIO, "cannot write to database '%s': read-only (it needs migrating)",
					  s->path);
		if (version == 0)
			return sw_err_set(err, SW_EINPUT, "file '%s' is not a Slipway database (it is empty)", s->path);
		return sw_err_setloc(err, SW_EINPUT, s->path, 0, 0,
				     "database schema version %lld is older than this slipway (%d); "
				     "open it read-write once to migrate",
				     (long long)version, SW_SQLITE_SCHEMA_VERSION);
	}
	if (!s->base.readonly) {
		if (sw_sq_wal_mode(s, err) < 0)
			return -1;
		if (sw_sq_exec(s, "PRAGMA synchronous = FULL", "set synchronous", err) < 0)
			return -1;
	}
	if (sw_sq_exec(s, "PRAGMA foreign_keys = ON", "enable foreign keys", err) < 0)
		return -1;
	for (i = 0; i < SW_ARRAY_LEN(sw_sq_migrations) && version < SW_SQLITE_SCHEMA_VERSION; i++)
		if (sw_sq_migrations[i].version > version && sw_sq_apply(s, &sw_sq_migrations[i], err) < 0)
			return -1;
	return 0;
}

int sw_sqlite_open(const char *path, const char *url, int readonly, struct sw_store **out, struct sw_err *err)
{
	struct sw_sqlite *s;
	struct stat st;
	int busy_ms;

	*out = NULL;
	if (!*path)
		return sw_err_set(err, SW_EINPUT, "empty database path");
	if (sw_sq_busy_timeout(&busy_ms, err) < 0)
		return -1;
	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return sw_err_set(err, SW_EINPUT, "database '%s' is not a regular file", path);
	} else if (errno != ENOENT) {
		return sw_err_set(err, SW_EIO, "cannot open database '%s': %s", path, strerror(errno));
	} else if (readonly) {
		return sw_err_set(err, SW_ENOTFOUND, "database '%s' does not exist", path);
	} else if (sw_sq_create_file(path, err) < 0) {
		return -1;
	}
	s = sw_xcalloc(1, sizeof(*s));
	s->base.ops = &sw_sqlite_ops;
	if (sw_strlcpy(s->path, path, sizeof(s->path)) < 0 || sw_strlcpy(s->base.url, url, sizeof(s->base.url)) < 0) {
		free(s);
		return sw_err_set(err, SW_EINPUT, "database path too long: '%s'", path);
	}
	if (sw_sq_setup(s, readonly, busy_ms, err) < 0) {
		sw_sq_close(&s->base);
		return -1;
	}
	*out = &s->base;
	return 0;
}
