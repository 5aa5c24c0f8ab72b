/*
 * sqlite_deploy.c - deployments, desired state and host generations in
 * SQLite (tables of migration 2, see sqlite.c; records as JSON, store.h
 * "Fleet and deployments").
 *
 *   deployments  one row per deployment, upserted by id (created is kept
 *                from the first save, or now; updated is stamped now on
 *                every save); spec and plan are canonical JSON text; "newest first" is created DESC, then
 *                insertion order (rowid; the upsert keeps a row's rowid)
 *   desired      one row per (host, service, slot): what the agent runs
 *   host_generation  bumped in the same savepoint as every desired change,
 *                so an agent that saw generation N has seen every row of it
 *
 * Writes that touch two tables run in a SAVEPOINT, which nests inside the
 * caller's sw_store_begin() transaction and is its own transaction outside
 * one. Statements are prepared per call (sqlite_int.h).
 * Ownership: returned json_t values are new references the caller decrefs.
 * Calls sqlite3, jansson, base/, store/sqlite_int.h.
 */
#include "store/sqlite_int.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

/* Run x only while every step before it succeeded. */
#define SW_SQ_TRY(x)                  \
	do {                          \
		if (rc == SQLITE_OK) \
			rc = (x);    \
	} while (0)

#define SW_SQ_JSON_MAX ((size_t)16 << 20) /* spec, plan and run columns */

static int sw_sq_ro(struct sw_store *st, struct sw_err *err)
{
	if (st->readonly)
		return sw_err_set(err, SW_EIO, "cannot write to database '%s': read-only", sw_sq(st)->path);
	return 0;
}

static int sw_sq_prep(struct sw_sqlite *s, const char *sql, sqlite3_stmt **stmt, struct sw_err *err)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, stmt, NULL);

	if (rc != SQLITE_OK) {
		*stmt = NULL;
		return sw_sq_fail(s, rc, "prepare", err);
	}
	return 0;
}

static int sw_sq_plain(struct sw_sqlite *s, const char *sql, const char *what, struct sw_err *err)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sw_sq_fail(s, rc, what, err);
}

/* Canonical JSON text of v (an object) into a heap string; NULL if v is not one. */
static char *sw_sq_json_text(const json_t *v, const char *what, struct sw_err *err)
{
	struct sw_buf b = SW_BUF_INIT(SW_SQ_JSON_MAX);

	if (!json_is_object(v)) {
		sw_err_set(err, SW_EINPUT, "%s must be a JSON object", what);
		return NULL;
	}
	if (sw_json_canonical(v, &b) < 0 || sw_buf_failed(&b)) {
		sw_buf_release(&b);
		sw_err_set(err, SW_EINPUT, "%s cannot be encoded or is larger than %zu bytes", what, SW_SQ_JSON_MAX);
		return NULL;
	}
	return sw_buf_detach(&b, NULL);
}

/* Parse a JSON column (written by us); a damaged one is SW_EINTEGRITY. */
static json_t *sw_sq_json_col(struct sw_sqlite *s, sqlite3_stmt *stmt, int col, const char *what,
			      struct sw_err *err)
{
	const char *t = sw_sq_text(stmt, col);
	json_t *v = sw_json_parse(t, strlen(t), SW_SQ_JSON_MAX, what, NULL);

	if (!v)
		sw_err_set(err, SW_EINTEGRITY, "database '%s': column %s is not valid JSON", s->path, what);
	return v;
}

/* A required, non-empty string field of a record. */
static const char *sw_sq_field(const json_t *obj, const char *rec, const char *key, struct sw_err *err)
{
	const char *v = sw_json_str(obj, key);

	if (!v || !*v)
		sw_err_set(err, SW_EINPUT, "%s record: field '%s' is missing or not a non-empty string", rec, key);
	return v && *v ? v : NULL;
}

/* ---- deployments -------------------------------------------------------- */

#define SW_SQ_DEP_COLS "id, service, env, digest, prev_digest, state, reason, actor, spec, plan, created, updated, deadline_ms"

int sw_sq_deployment_save(struct sw_store *st, const json_t *dep, struct sw_err *err)
{
	static const char sql[] =
		"INSERT INTO deployments (" SW_SQ_DEP_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
		"ON CONFLICT (id) DO UPDATE SET service = excluded.service, env = excluded.env, digest = excluded.digest, "
		"prev_digest = excluded.prev_digest, state = excluded.state, reason = excluded.reason, "
		"actor = excluded.actor, spec = excluded.spec, plan = excluded.plan, updated = excluded.updated, "
		"deadline_ms = excluded.deadline_ms";
	struct sw_sqlite *s = sw_sq(st);
	const char *text[8] = { "id", "service", "env", "digest", NULL, "state", NULL, "actor" };
	const char *val[8];
	char now[SW_TIME_STR_MAX];
	const char *created, *reason, *prev;
	char *spec = NULL, *plan = NULL;
	const json_t *jspec, *jplan, *jprev, *jdl;
	sqlite3_stmt *stmt = NULL;
	json_t *empty = NULL;
	int rc, i, ret = -1;

	if (sw_sq_ro(st, err) < 0)
		return -1;
	if (!json_is_object(dep))
		return sw_err_set(err, SW_EINPUT, "deployment record must be a JSON object");
	for (i = 0; i < 8; i++)
		if (text[i] && !(val[i] = sw_sq_field(dep, "deployment", text[i], err)))
			return -1;
	jprev = json_object_get(dep, "prev_digest");
	if (jprev && !json_is_null(jprev) && !json_is_string(jprev))
		return sw_err_set(err, SW_EINPUT, "deployment record: field 'prev_digest' must be a string or null");
	prev = json_is_string(jprev) && *json_string_value(jprev) ? json_string_value(jprev) : NULL;
	reason = sw_json_str(dep, "reason");
	jdl = json_object_get(dep, "deadline_ms");
	if (jdl && !json_is_integer(jdl))
		return sw_err_set(err, SW_EINPUT, "deployment record: field 'deadline_ms' must be an integer");
	sw_clock_format_utc(sw_clock_wall_ms(), now, sizeof(now));
	created = sw_json_str(dep, "created");
	empty = json_object();
	jspec = json_object_get(dep, "spec");
	jplan = json_object_get(dep, "plan");
	if (!(spec = sw_sq_json_text(jspec ? jspec : empty, "deployment spec", err)) ||
	    !(plan = sw_sq_json_text(jplan ? jplan : empty, "deployment plan", err)))
		goto out;
	if (sw_sq_prep(s, sql, &stmt, err) < 0)
		goto out;
	rc = SQLITE_OK;
	SW_SQ_TRY(sqlite3_bind_text(stmt, 1, val[0], -1, SQLITE_STATIC));
	SW_SQ_TRY(sqlite3_bind_text(stmt, 2, val[1], -1, SQLITE_STATIC));
	SW_SQ_TRY(sqlite3_bind_text(stmt, 3, val[2], -1, SQLITE_STATIC));
	SW_SQ_TRY(sqlite3_bind_text(stmt, 4, val[3], -1, SQLITE_STATIC));
	SW_SQ_TRY((prev ? sqlite3_bind_text(stmt, 5, prev, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, 5)));
	SW_SQ_TRY(sqlite3_bind_text(stmt, 6, val[5], -1, SQLITE_STATIC));
	SW_SQ_TRY(sqlite3_bind_text(stmt, 7, reason ? reason : "", -1, SQLITE_STATIC));
	SW_SQ_TRY(sqlite3_bind_text(stmt, 8, val[7], -1, SQLITE_STATIC));
	SW_SQ_TRY(sqlite3_bind_text(stmt, 9, spec, -1, SQLITE_STATIC));
	SW_SQ_TRY(sqlite3_bind_text(stmt, 10, plan, -1, SQLITE_STATIC));
	SW_SQ_TRY(sqlite3_bind_text(stmt, 11, created && *created ? created : now, -1, SQLITE_STATIC));
	SW_SQ_TRY(sqlite3_bind_text(stmt, 12, now, -1, SQLITE_STATIC));
	SW_SQ_TRY(sqlite3_bind_int64(stmt, 13, jdl ? json_integer_value(jdl) : 0));
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		sw_sq_fail(s, rc, "save deployment", err);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(stmt);
	json_decref(empty);
	free(spec);
	free(plan);
	return ret;
}

/*
 * The current row of a deployments query as a record, with the versions of
 * its releases beside the digests (spec.version and spec.prev_version as
 * "version" and "prev_version": read from spec, not columns of their own).
 */
static json_t *sw_sq_dep_row(struct sw_sqlite *s, sqlite3_stmt *stmt, struct sw_err *err)
{
	json_t *spec = sw_sq_json_col(s, stmt, 8, "deployments.spec", err), *plan, *dep, *v, *pv;

	if (!spec)
		return NULL;
	if (!(plan = sw_sq_json_col(s, stmt, 9, "deployments.plan", err))) {
		json_decref(spec);
		return NULL;
	}
	v = json_string(sw_json_str(spec, "version") ? sw_json_str(spec, "version") : "");
	pv = json_is_string(json_object_get(spec, "prev_version")) ? json_incref(json_object_get(spec, "prev_version"))
								     : json_null();
	dep = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:I}",
			 "id", sw_sq_text(stmt, 0), "service", sw_sq_text(stmt, 1), "env", sw_sq_text(stmt, 2),
			 "digest", sw_sq_text(stmt, 3), "prev_digest",
			 sqlite3_column_type(stmt, 4) == SQLITE_NULL ? json_null() : json_string(sw_sq_text(stmt, 4)),
			 "state", sw_sq_text(stmt, 5), "reason", sw_sq_text(stmt, 6), "actor", sw_sq_text(stmt, 7),
			 "spec", spec, "plan", plan, "created", sw_sq_text(stmt, 10), "updated", sw_sq_text(stmt, 11),
			 "deadline_ms", (json_int_t)sqlite3_column_int64(stmt, 12));
	json_object_set_new(dep, "version", v);
	json_object_set_new(dep, "prev_version", pv);
	return dep;
}

int sw_sq_deployment_get(struct sw_store *st, const char *id, json_t **dep, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt = NULL;
	int rc, ret = -1;

	*dep = NULL;
	if (sw_sq_prep(s, "SELECT " SW_SQ_DEP_COLS " FROM deployments WHERE id = ?1", &stmt, err) < 0)
		return -1;
	rc = sqlite3_bind_text(stmt, 1, id ? id : "", -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		if ((*dep = sw_sq_dep_row(s, stmt, err)))
			ret = 0;
	} else if (rc == SQLITE_DONE) {
		sw_err_set(err, SW_ENOTFOUND, "deployment '%s' not found", id ? id : "");
	} else {
		sw_sq_fail(s, rc, "read deployment", err);
	}
	sqlite3_finalize(stmt);
	return ret;
}

int sw_sq_deployment_list(struct sw_store *st, const char *service, const char *env, int active_only, size_t limit,
			  json_t **arr, struct sw_err *err)
{
	static const char sql[] =
		"SELECT " SW_SQ_DEP_COLS " FROM deployments "
		"WHERE (?1 IS NULL OR service = ?1) AND (?2 IS NULL OR env = ?2) "
		"AND (?3 = 0 OR state IN ('pending', 'gated', 'progressing', 'paused')) "
		"ORDER BY created DESC, rowid DESC LIMIT ?4";
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt = NULL;
	json_t *out, *row;
	int rc;

	*arr = NULL;
	if (sw_sq_prep(s, sql, &stmt, err) < 0)
		return -1;
	out = json_array();
	rc = service ? sqlite3_bind_text(stmt, 1, service, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, 1);
	SW_SQ_TRY((env ? sqlite3_bind_text(stmt, 2, env, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, 2)));
	SW_SQ_TRY(sqlite3_bind_int(stmt, 3, active_only ? 1 : 0));
	SW_SQ_TRY(sqlite3_bind_int64(stmt, 4, limit == 0 || limit > (size_t)INT64_MAX ? -1 : (sqlite3_int64)limit));
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (!(row = sw_sq_dep_row(s, stmt, err)))
			goto fail;
		json_array_append_new(out, row);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		sw_sq_fail(s, rc, "list deployments", err);
		goto fail;
	}
	sqlite3_finalize(stmt);
	*arr = out;
	return 0;
fail:
	sqlite3_finalize(stmt);
	json_decref(out);
	return -1;
}

/* ---- desired state ------------------------------------------------------ */

static int sw_sq_host_exists(struct sw_sqlite *s, const char *host_id, struct sw_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (sw_sq_prep(s, "SELECT 1 FROM hosts WHERE id = ?1", &stmt, err) < 0)
		return -1;
	rc = sqlite3_bind_text(stmt, 1, host_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return sw_err_set(err, SW_ENOTFOUND, "host '%s' not found", host_id);
	return sw_sq_fail(s, rc, "read host", err);
}

/* One statement with text parameters bound in order (NULL binds NULL). */
static int sw_sq_step_texts(struct sw_sqlite *s, const char *sql, const char *const *v, int n, const char *what,
			    struct sw_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc = SQLITE_OK, i;

	if (sw_sq_prep(s, sql, &stmt, err) < 0)
		return -1;
	for (i = 0; i < n && rc == SQLITE_OK; i++)
		rc = v[i] ? sqlite3_bind_text(stmt, i + 1, v[i], -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, i + 1);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : sw_sq_fail(s, rc, what, err);
}

static int sw_sq_desired_write(struct sw_sqlite *s, const char *host_id, const char *service, const char *slot,
			       const char *digest, json_int_t port, int active, const char *run, struct sw_err *err)
{
	const char *key[3] = { host_id, service, slot };
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!digest) {
		if (sw_sq_step_texts(s, "DELETE FROM desired WHERE host_id = ?1 AND service = ?2 AND slot = ?3", key, 3,
				     "remove desired state", err) < 0)
			return -1;
	} else {
		if (sw_sq_prep(s,
			       "INSERT INTO desired (host_id, service, slot, digest, port, active, run) "
			       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (host_id, service, slot) DO UPDATE SET "
			       "digest = excluded.digest, port = excluded.port, active = excluded.active, run = excluded.run",
			       &stmt, err) < 0)
			return -1;
		rc = sqlite3_bind_text(stmt, 1, host_id, -1, SQLITE_STATIC);
		SW_SQ_TRY(sqlite3_bind_text(stmt, 2, service, -1, SQLITE_STATIC));
		SW_SQ_TRY(sqlite3_bind_text(stmt, 3, slot, -1, SQLITE_STATIC));
		SW_SQ_TRY(sqlite3_bind_text(stmt, 4, digest, -1, SQLITE_STATIC));
		SW_SQ_TRY(sqlite3_bind_int64(stmt, 5, port));
		SW_SQ_TRY(sqlite3_bind_int(stmt, 6, active));
		SW_SQ_TRY(sqlite3_bind_text(stmt, 7, run, -1, SQLITE_STATIC));
		if (rc == SQLITE_OK)
			rc = sqlite3_step(stmt);
		sqlite3_finalize(stmt);
		if (rc != SQLITE_DONE)
			return sw_sq_fail(s, rc, "write desired state", err);
	}
	return sw_sq_step_texts(s,
				"INSERT INTO host_generation (host_id, generation) VALUES (?1, 1) "
				"ON CONFLICT (host_id) DO UPDATE SET generation = generation + 1",
				key, 1, "bump host generation", err);
}

int sw_sq_desired_set(struct sw_store *st, const char *host_id, const char *service, const char *slot,
		      const json_t *want, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	const char *digest = NULL;
	const json_t *jport, *jactive, *jrun;
	json_int_t port = 0;
	char *run = NULL;
	int active = 0, ret = -1;

	if (sw_sq_ro(st, err) < 0)
		return -1;
	if (!host_id || !*host_id || !service || !*service)
		return sw_err_set(err, SW_EINPUT, "desired state needs a host id and a service");
	if (!slot || (strcmp(slot, "a") && strcmp(slot, "b")))
		return sw_err_set(err, SW_EINPUT, "desired state: slot '%s' is not 'a' or 'b'", slot ? slot : "");
	if (want) {
		if (!json_is_object(want))
			return sw_err_set(err, SW_EINPUT, "desired state must be a JSON object");
		if (!(digest = sw_sq_field(want, "desired", "digest", err)))
			return -1;
		jport = json_object_get(want, "port");
		if (!json_is_integer(jport) || json_integer_value(jport) < 1 || json_integer_value(jport) > 65535)
			return sw_err_set(err, SW_EINPUT, "desired record: field 'port' must be an integer 1..65535");
		port = json_integer_value(jport);
		jactive = json_object_get(want, "active");
		if (jactive && !json_is_boolean(jactive))
			return sw_err_set(err, SW_EINPUT, "desired record: field 'active' must be true or false");
		active = json_is_true(jactive);
		/* Servers no longer write run (agents take it from the signed release); rows of older ones keep it. */
		jrun = json_object_get(want, "run");
		if (!(run = jrun ? sw_sq_json_text(jrun, "desired record: field 'run'", err) : sw_xstrdup("{}")))
			return -1;
	}
	if (sw_sq_host_exists(s, host_id, err) < 0)
		goto out;
	if (sw_sq_plain(s, "SAVEPOINT sw_desired", "begin desired change", err) < 0)
		goto out;
	if (sw_sq_desired_write(s, host_id, service, slot, digest, port, active, run, err) < 0) {
		/* Undo the half (row without its generation bump) and end the savepoint. */
		sqlite3_exec(s->db, "ROLLBACK TO sw_desired; RELEASE sw_desired", NULL, NULL, NULL);
		goto out;
	}
	if (sw_sq_plain(s, "RELEASE sw_desired", "commit desired change", err) < 0) {
		sqlite3_exec(s->db, "ROLLBACK TO sw_desired; RELEASE sw_desired", NULL, NULL, NULL);
		goto out;
	}
	ret = 0;
out:
	free(run);
	return ret;
}

int sw_sq_desired_get(struct sw_store *st, const char *host_id, int64_t *generation, json_t **rows,
		      struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt = NULL;
	json_t *out = NULL, *run, *row;
	int rc;

	*rows = NULL;
	if (generation)
		*generation = 0;
	if (!host_id || !*host_id)
		return sw_err_set(err, SW_EINPUT, "desired state needs a host id");
	if (sw_sq_host_exists(s, host_id, err) < 0)
		return -1;
	if (sw_sq_prep(s, "SELECT generation FROM host_generation WHERE host_id = ?1", &stmt, err) < 0)
		return -1;
	rc = sqlite3_bind_text(stmt, 1, host_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW && generation)
		*generation = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sw_sq_fail(s, rc, "read host generation", err);
	if (sw_sq_prep(s,
		       "SELECT service, slot, digest, port, active, run FROM desired WHERE host_id = ?1 "
		       "ORDER BY service, slot",
		       &stmt, err) < 0)
		return -1;
	out = json_array();
	rc = sqlite3_bind_text(stmt, 1, host_id, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (!(run = sw_sq_json_col(s, stmt, 5, "desired.run", err)))
			goto fail;
		row = json_pack("{s:s, s:s, s:s, s:I, s:b}", "service", sw_sq_text(stmt, 0), "slot",
				sw_sq_text(stmt, 1), "digest", sw_sq_text(stmt, 2), "port",
				(json_int_t)sqlite3_column_int64(stmt, 3), "active", sqlite3_column_int(stmt, 4) != 0);
		/* An empty run is none; a non-empty one (an older server's) goes out as is, for agents to check. */
		if (json_object_size(run))
			json_object_set_new(row, "run", run);
		else
			json_decref(run);
		json_array_append_new(out, row);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		sw_sq_fail(s, rc, "read desired state", err);
		goto fail;
	}
	sqlite3_finalize(stmt);
	*rows = out;
	return 0;
fail:
	sqlite3_finalize(stmt);
	json_decref(out);
	return -1;
}
