/*
 * sqlite_fleet.c - API tokens, join tokens and hosts in SQLite (migration
 * 2's tokens, join_tokens and hosts tables; records as documented in
 * store.h "Fleet and deployments").
 *
 * Statements are prepared per call (sqlite_int.h). JSON columns hold
 * canonical JSON; a column that no longer parses is SW_EINTEGRITY.
 *
 * Rules beyond store.h:
 *   token_create  needs id (1..64 bytes), name (0..128), role, hash (sha256
 *                 hex); created defaults to now. A duplicate id or hash is
 *                 SW_EBUSY. Revoking an already revoked token is fine.
 *   token_lookup  returns revoked tokens too (the caller refuses them).
 *   join_consume  checks in this order: unknown, already used, expired, and
 *                 marks the row used with one conditional UPDATE, so that a
 *                 token can be consumed once. replace_host (migration 4) is
 *                 the host name the token may take over, NULL for none.
 *   host_create   needs id, name (1..128), labels {}, token_hash, ports [a, b];
 *                 address (0..255 bytes) is optional (migration 5).
 *                 A host whose name is already enrolled is re-enrolled: its
 *                 row keeps its id (desired rows and deployment plans refer
 *                 to it) and gets the new token_hash (so the old token stops
 *                 working), labels, ports and enrolled time; status,
 *                 last_seen_ms and generation_applied start over; a
 *                 revocation stays (the server refuses to re-enroll a revoked
 *                 or taken name before it gets here, see api_agent.c). The
 *                 caller reads the resulting record with host_lookup_token().
 *   host_lookup_token returns revoked hosts too (the caller refuses them).
 * Calls sqlite3, jansson, base/, store/sqlite_int.h.
 * Returned json_t are new references the caller decrefs.
 */
#include "store/sqlite_int.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

#define SW_FLEET_JSON_MAX ((size_t)1 << 20)

/* ---- helpers ------------------------------------------------------------ */

static int sw_fl_prepare(struct sw_sqlite *s, const char *sql, sqlite3_stmt **stmt, struct sw_err *err)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, stmt, NULL);

	if (rc != SQLITE_OK) {
		*stmt = NULL;
		return sw_sq_fail(s, rc, "prepare", err);
	}
	return 0;
}

static int sw_fl_writable(struct sw_store *st, struct sw_err *err)
{
	if (st->readonly)
		return sw_err_set(err, SW_EIO, "cannot write to database '%s': read-only", sw_sq(st)->path);
	return 0;
}

/* Step a statement that returns no rows; finalizes it. */
static int sw_fl_step_done(struct sw_sqlite *s, sqlite3_stmt *stmt, int rc, const char *what, struct sw_err *err)
{
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return sw_sq_fail(s, rc, what, err);
	return 0;
}

/* Canonical JSON of v as a heap string (NULL if it cannot be encoded). */
static char *sw_fl_canon(const json_t *v)
{
	struct sw_buf b = SW_BUF_INIT(SW_FLEET_JSON_MAX);

	if (sw_json_canonical(v, &b) < 0) {
		sw_buf_release(&b);
		return NULL;
	}
	if (!b.data) /* empty buffer: never happens for a JSON value */
		return NULL;
	return sw_buf_detach(&b, NULL);
}

/* Parse a JSON column; SW_EINTEGRITY if it does not parse or has another type. */
static json_t *sw_fl_column_json(struct sw_sqlite *s, sqlite3_stmt *stmt, int col, const char *table,
				 const char *name, json_type want_type, struct sw_err *err)
{
	const char *text = sw_sq_text(stmt, col);
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);

	if (!v || json_typeof(v) != want_type) {
		json_decref(v);
		sw_err_set(err, SW_EINTEGRITY, "database '%s': %s.%s holds malformed JSON", s->path, table, name);
		return NULL;
	}
	return v;
}

static int sw_fl_check_str(const json_t *obj, const char *key, size_t min, size_t max, const char *what,
			   const char **out, struct sw_err *err)
{
	const char *v = sw_json_str(obj, key);
	size_t n;

	if (!v)
		return sw_err_set(err, SW_EINPUT, "%s: '%s' is missing or not a string", what, key);
	n = strlen(v);
	if (n < min || n > max)
		return sw_err_set(err, SW_EINPUT, "%s: '%s' must be %zu to %zu bytes", what, key, min, max);
	*out = v;
	return 0;
}

static int sw_fl_is_role(const char *r)
{
	return !strcmp(r, "admin") || !strcmp(r, "deployer") || !strcmp(r, "viewer");
}

static int sw_fl_is_constraint(int rc)
{
	return (rc & 0xff) == SQLITE_CONSTRAINT;
}

/* ---- API tokens --------------------------------------------------------- */

int sw_sq_token_create(struct sw_store *st, const json_t *tok, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	const char *id, *name = "", *role, *hash, *created;
	char now[SW_TIME_STR_MAX];
	sqlite3_stmt *stmt;
	json_t *rv;
	int rc;

	if (sw_fl_writable(st, err) < 0)
		return -1;
	if (!json_is_object(tok))
		return sw_err_set(err, SW_EINPUT, "token record must be a JSON object");
	if (sw_fl_check_str(tok, "id", 1, 64, "token", &id, err) < 0 ||
	    sw_fl_check_str(tok, "role", 1, 16, "token", &role, err) < 0 ||
	    sw_fl_check_str(tok, "hash", 64, 64, "token", &hash, err) < 0)
		return -1;
	if (json_object_get(tok, "name") && sw_fl_check_str(tok, "name", 0, 128, "token", &name, err) < 0)
		return -1;
	if (!sw_fl_is_role(role))
		return sw_err_set(err, SW_EINPUT, "token: unknown role '%s' (expected admin, deployer or viewer)",
				  role);
	if (!sw_is_sha256_hex(hash))
		return sw_err_set(err, SW_EINPUT, "token: 'hash' must be 64 lowercase hex digits");
	created = sw_json_str(tok, "created");
	if (!created)
		created = sw_clock_format_utc(sw_clock_wall_ms(), now, sizeof(now));
	rv = json_object_get(tok, "revoked");
	if (sw_fl_prepare(s, "INSERT INTO tokens (id, name, role, hash, created, revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
			  &stmt, err) < 0)
		return -1;
	rc = sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 3, role, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 4, hash, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 5, created, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(stmt, 6, json_is_true(rv) ? 1 : 0);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (sw_fl_is_constraint(rc))
		return sw_err_set(err, SW_EBUSY, "token '%s' already exists", id);
	if (rc != SQLITE_DONE)
		return sw_sq_fail(s, rc, "insert token", err);
	return 0;
}

#define SW_FL_TOKEN_COLS "id, name, role, hash, created, revoked"

static json_t *sw_fl_token_row(sqlite3_stmt *stmt)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "id", sw_sq_text(stmt, 0), "name", sw_sq_text(stmt, 1),
			 "role", sw_sq_text(stmt, 2), "hash", sw_sq_text(stmt, 3), "created", sw_sq_text(stmt, 4),
			 "revoked", sqlite3_column_int(stmt, 5) != 0);
}

int sw_sq_token_lookup(struct sw_store *st, const char *hash, json_t **tok, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt;
	int rc;

	*tok = NULL;
	if (sw_fl_prepare(s, "SELECT " SW_FL_TOKEN_COLS " FROM tokens WHERE hash = ?1", &stmt, err) < 0)
		return -1;
	rc = sqlite3_bind_text(stmt, 1, hash ? hash : "", -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*tok = sw_fl_token_row(stmt);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return sw_err_set(err, SW_ENOTFOUND, "unknown token");
	return sw_sq_fail(s, rc, "read token", err);
}

int sw_sq_token_list(struct sw_store *st, json_t **arr, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt;
	json_t *a;
	int rc;

	*arr = NULL;
	if (sw_fl_prepare(s, "SELECT " SW_FL_TOKEN_COLS " FROM tokens ORDER BY created, id", &stmt, err) < 0)
		return -1;
	a = json_array();
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		json_array_append_new(a, sw_fl_token_row(stmt));
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		json_decref(a);
		return sw_sq_fail(s, rc, "read tokens", err);
	}
	*arr = a;
	return 0;
}

int sw_sq_token_revoke(struct sw_store *st, const char *id, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt;
	int rc;

	if (sw_fl_writable(st, err) < 0)
		return -1;
	if (sw_fl_prepare(s, "UPDATE tokens SET revoked = 1 WHERE id = ?1", &stmt, err) < 0)
		return -1;
	rc = sqlite3_bind_text(stmt, 1, id ? id : "", -1, SQLITE_STATIC);
	if (sw_fl_step_done(s, stmt, rc, "revoke token", err) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return sw_err_set(err, SW_ENOTFOUND, "token '%s' not found", id ? id : "");
	return 0;
}

/* ---- join tokens -------------------------------------------------------- */

int sw_sq_join_create(struct sw_store *st, const char *hash, const json_t *labels, const char *replace,
		      int64_t expires_ms, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	char now[SW_TIME_STR_MAX], *ltext;
	sqlite3_stmt *stmt;
	int rc;

	if (sw_fl_writable(st, err) < 0)
		return -1;
	if (!hash || !sw_is_sha256_hex(hash))
		return sw_err_set(err, SW_EINPUT, "join token: hash must be 64 lowercase hex digits");
	if (labels && !json_is_object(labels))
		return sw_err_set(err, SW_EINPUT, "join token: labels must be a JSON object");
	if (replace && (!*replace || strlen(replace) > 128))
		return sw_err_set(err, SW_EINPUT, "join token: replace must be a host name of 1 to 128 bytes");
	ltext = labels ? sw_fl_canon(labels) : sw_xstrdup("{}");
	if (!ltext)
		return sw_err_set(err, SW_EINPUT, "join token: labels cannot be encoded");
	sw_clock_format_utc(sw_clock_wall_ms(), now, sizeof(now));
	if (sw_fl_prepare(s,
			  "INSERT INTO join_tokens (hash, labels, created, expires_ms, replace_host) "
			  "VALUES (?1, ?2, ?3, ?4, ?5)",
			  &stmt, err) < 0) {
		free(ltext);
		return -1;
	}
	rc = sqlite3_bind_text(stmt, 1, hash, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 2, ltext, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 3, now, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 4, expires_ms);
	if (rc == SQLITE_OK)
		rc = replace ? sqlite3_bind_text(stmt, 5, replace, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, 5);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	free(ltext);
	if (sw_fl_is_constraint(rc))
		return sw_err_set(err, SW_EBUSY, "join token already exists");
	if (rc != SQLITE_DONE)
		return sw_sq_fail(s, rc, "insert join token", err);
	return 0;
}

int sw_sq_join_consume(struct sw_store *st, const char *hash, const char *host_id, int64_t now_ms, json_t **labels,
		       char *replace, size_t replace_size, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	char now[SW_TIME_STR_MAX];
	sqlite3_stmt *stmt;
	json_t *l = NULL;
	int rc, used;
	int64_t expires;

	if (labels)
		*labels = NULL;
	if (replace && replace_size)
		replace[0] = '\0';
	if (sw_fl_writable(st, err) < 0)
		return -1;
	if (sw_fl_prepare(s, "SELECT used_at IS NOT NULL, expires_ms, labels, replace_host FROM join_tokens WHERE hash = ?1",
			  &stmt, err) < 0)
		return -1;
	rc = sqlite3_bind_text(stmt, 1, hash ? hash : "", -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(stmt);
		if (rc == SQLITE_DONE)
			return sw_err_set(err, SW_EAUTH, "unknown join token");
		return sw_sq_fail(s, rc, "read join token", err);
	}
	used = sqlite3_column_int(stmt, 0);
	expires = sqlite3_column_int64(stmt, 1);
	if (!used && expires > now_ms) {
		const unsigned char *rh = sqlite3_column_text(stmt, 3);

		l = sw_fl_column_json(s, stmt, 2, "join_tokens", "labels", JSON_OBJECT, err);
		if (l && rh && replace && sw_strlcpy(replace, (const char *)rh, replace_size) < 0) {
			json_decref(l);
			l = NULL;
			sw_err_set(err, SW_EINTEGRITY, "join token: replace_host too long");
		}
	}
	sqlite3_finalize(stmt);
	if (used)
		return sw_err_set(err, SW_EAUTH, "join token already used");
	if (expires <= now_ms)
		return sw_err_set(err, SW_EAUTH, "join token expired");
	if (!l)
		return -1;
	sw_clock_format_utc(now_ms, now, sizeof(now));
	if (sw_fl_prepare(s, "UPDATE join_tokens SET used_at = ?2, host_id = ?3 WHERE hash = ?1 AND used_at IS NULL",
			  &stmt, err) < 0)
		goto fail;
	rc = sqlite3_bind_text(stmt, 1, hash, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = host_id ? sqlite3_bind_text(stmt, 3, host_id, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, 3);
	if (sw_fl_step_done(s, stmt, rc, "use join token", err) < 0)
		goto fail;
	if (sqlite3_changes(s->db) != 1) {
		sw_err_set(err, SW_EAUTH, "join token already used");
		goto fail;
	}
	if (labels)
		*labels = l;
	else
		json_decref(l);
	return 0;
fail:
	json_decref(l);
	return -1;
}

/* ---- hosts -------------------------------------------------------------- */

#define SW_FL_HOST_COLS \
	"id, name, labels, token_hash, ports, enrolled, last_seen_ms, revoked, status, generation_applied, address"

static json_t *sw_fl_host_row(struct sw_sqlite *s, sqlite3_stmt *stmt, struct sw_err *err)
{
	json_t *labels, *ports, *status;

	labels = sw_fl_column_json(s, stmt, 2, "hosts", "labels", JSON_OBJECT, err);
	ports = labels ? sw_fl_column_json(s, stmt, 4, "hosts", "ports", JSON_ARRAY, err) : NULL;
	status = ports ? sw_fl_column_json(s, stmt, 8, "hosts", "status", JSON_OBJECT, err) : NULL;
	if (!status) {
		json_decref(labels);
		json_decref(ports);
		return NULL;
	}
	return json_pack("{s:s, s:s, s:o, s:s, s:o, s:s, s:I, s:b, s:o, s:I, s:s}", "id", sw_sq_text(stmt, 0), "name",
			 sw_sq_text(stmt, 1), "labels", labels, "token_hash", sw_sq_text(stmt, 3), "ports", ports,
			 "enrolled", sw_sq_text(stmt, 5), "last_seen_ms", (json_int_t)sqlite3_column_int64(stmt, 6),
			 "revoked", sqlite3_column_int(stmt, 7) != 0, "status", status, "generation_applied",
			 (json_int_t)sqlite3_column_int64(stmt, 9), "address", sw_sq_text(stmt, 10));
}

static int sw_fl_check_ports(const json_t *ports, struct sw_err *err)
{
	size_t i;
	json_t *p;

	if (!json_is_array(ports) || json_array_size(ports) != 2)
		return sw_err_set(err, SW_EINPUT, "host: 'ports' must be an array of two ports");
	json_array_foreach(ports, i, p)
	{
		if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 65535)
			return sw_err_set(err, SW_EINPUT, "host: 'ports' must hold integers from 1 to 65535");
	}
	return 0;
}

int sw_sq_host_create(struct sw_store *st, const json_t *host, struct sw_err *err)
{
	static const char sql[] =
		"INSERT INTO hosts (id, name, labels, token_hash, ports, enrolled, last_seen_ms, revoked, status, "
		"generation_applied, address) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, '{}', 0, ?7) "
		"ON CONFLICT (name) DO UPDATE SET labels = excluded.labels, token_hash = excluded.token_hash, "
		"ports = excluded.ports, enrolled = excluded.enrolled, last_seen_ms = 0, "
		"status = '{}', generation_applied = 0, address = excluded.address";
	struct sw_sqlite *s = sw_sq(st);
	const char *id, *name, *hash, *enrolled, *address = "";
	char now[SW_TIME_STR_MAX], *ltext = NULL, *ptext = NULL;
	const json_t *labels, *ports;
	sqlite3_stmt *stmt;
	int rc, ret = -1;

	if (sw_fl_writable(st, err) < 0)
		return -1;
	if (!json_is_object(host))
		return sw_err_set(err, SW_EINPUT, "host record must be a JSON object");
	if (sw_fl_check_str(host, "id", 1, 64, "host", &id, err) < 0 ||
	    sw_fl_check_str(host, "name", 1, 128, "host", &name, err) < 0 ||
	    sw_fl_check_str(host, "token_hash", 64, 64, "host", &hash, err) < 0)
		return -1;
	if (!sw_is_sha256_hex(hash))
		return sw_err_set(err, SW_EINPUT, "host: 'token_hash' must be 64 lowercase hex digits");
	labels = json_object_get(host, "labels");
	if (labels && !json_is_object(labels))
		return sw_err_set(err, SW_EINPUT, "host: 'labels' must be an object");
	ports = json_object_get(host, "ports");
	if (sw_fl_check_ports(ports, err) < 0)
		return -1;
	if (json_object_get(host, "address") && sw_fl_check_str(host, "address", 0, 255, "host", &address, err) < 0)
		return -1;
	enrolled = sw_json_str(host, "enrolled");
	if (!enrolled)
		enrolled = sw_clock_format_utc(sw_clock_wall_ms(), now, sizeof(now));
	ltext = labels ? sw_fl_canon(labels) : sw_xstrdup("{}");
	ptext = sw_fl_canon(ports);
	if (!ltext || !ptext) {
		sw_err_set(err, SW_EINPUT, "host: labels or ports cannot be encoded");
		goto out;
	}
	if (sw_fl_prepare(s, sql, &stmt, err) < 0)
		goto out;
	rc = sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 3, ltext, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 4, hash, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 5, ptext, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 6, enrolled, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 7, address, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (sw_fl_is_constraint(rc)) {
		sw_err_set(err, SW_EBUSY, "host '%s' or its token already exists", id);
		goto out;
	}
	if (rc != SQLITE_DONE) {
		sw_sq_fail(s, rc, "insert host", err);
		goto out;
	}
	ret = 0;
out:
	free(ltext);
	free(ptext);
	return ret;
}

/* One host by a column (id or token_hash). */
static int sw_fl_host_by(struct sw_store *st, const char *sql, const char *key, int by_token, json_t **host,
			 struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt;
	int rc;

	*host = NULL;
	if (sw_fl_prepare(s, sql, &stmt, err) < 0)
		return -1;
	rc = sqlite3_bind_text(stmt, 1, key ? key : "", -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*host = sw_fl_host_row(s, stmt, err);
		sqlite3_finalize(stmt);
		return *host ? 0 : -1;
	}
	sqlite3_finalize(stmt);
	if (rc == SQLITE_DONE && by_token)
		return sw_err_set(err, SW_ENOTFOUND, "unknown host token");
	if (rc == SQLITE_DONE)
		return sw_err_set(err, SW_ENOTFOUND, "host '%s' not found", key ? key : "");
	return sw_sq_fail(s, rc, "read host", err);
}

int sw_sq_host_lookup_token(struct sw_store *st, const char *token_hash, json_t **host, struct sw_err *err)
{
	return sw_fl_host_by(st, "SELECT " SW_FL_HOST_COLS " FROM hosts WHERE token_hash = ?1", token_hash, 1, host,
			     err);
}

int sw_sq_host_get(struct sw_store *st, const char *id, json_t **host, struct sw_err *err)
{
	return sw_fl_host_by(st, "SELECT " SW_FL_HOST_COLS " FROM hosts WHERE id = ?1", id, 0, host, err);
}

int sw_sq_host_list(struct sw_store *st, json_t **arr, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt;
	json_t *a, *h;
	int rc;

	*arr = NULL;
	if (sw_fl_prepare(s, "SELECT " SW_FL_HOST_COLS " FROM hosts ORDER BY name", &stmt, err) < 0)
		return -1;
	a = json_array();
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		h = sw_fl_host_row(s, stmt, err);
		if (!h) {
			sqlite3_finalize(stmt);
			json_decref(a);
			return -1;
		}
		json_array_append_new(a, h);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		json_decref(a);
		return sw_sq_fail(s, rc, "read hosts", err);
	}
	*arr = a;
	return 0;
}

int sw_sq_host_report(struct sw_store *st, const char *id, int64_t now_ms, const json_t *status,
		      int64_t generation_applied, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt;
	const char *address;
	char *text;
	int rc;

	if (sw_fl_writable(st, err) < 0)
		return -1;
	if (status && !json_is_object(status))
		return sw_err_set(err, SW_EINPUT, "host report: status must be a JSON object");
	text = status ? sw_fl_canon(status) : sw_xstrdup("{}");
	if (!text)
		return sw_err_set(err, SW_EINPUT, "host report: status cannot be encoded or is too large");
	address = status ? sw_json_str(status, "address") : NULL;
	if (address && strlen(address) > 255) {
		free(text);
		return sw_err_set(err, SW_EINPUT, "host report: 'address' is longer than 255 bytes");
	}
	if (sw_fl_prepare(s,
			  "UPDATE hosts SET last_seen_ms = ?2, status = ?3, generation_applied = ?4, "
			  "address = COALESCE(?5, address) WHERE id = ?1",
			  &stmt, err) < 0) {
		free(text);
		return -1;
	}
	rc = sqlite3_bind_text(stmt, 1, id ? id : "", -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 2, now_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 3, text, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 4, generation_applied);
	if (rc == SQLITE_OK)
		rc = address ? sqlite3_bind_text(stmt, 5, address, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, 5);
	rc = sw_fl_step_done(s, stmt, rc, "record host report", err);
	free(text);
	if (rc < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return sw_err_set(err, SW_ENOTFOUND, "host '%s' not found", id ? id : "");
	return 0;
}

int sw_sq_host_revoke(struct sw_store *st, const char *id, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt;
	int rc;

	if (sw_fl_writable(st, err) < 0)
		return -1;
	if (sw_fl_prepare(s, "UPDATE hosts SET revoked = 1 WHERE id = ?1", &stmt, err) < 0)
		return -1;
	rc = sqlite3_bind_text(stmt, 1, id ? id : "", -1, SQLITE_STATIC);
	if (sw_fl_step_done(s, stmt, rc, "revoke host", err) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return sw_err_set(err, SW_ENOTFOUND, "host '%s' not found", id ? id : "");
	return 0;
}

int sw_sq_host_set_labels(struct sw_store *st, const char *id, const json_t *labels, struct sw_err *err)
{
	struct sw_sqlite *s = sw_sq(st);
	sqlite3_stmt *stmt;
	char *text;
	int rc;

	if (sw_fl_writable(st, err) < 0)
		return -1;
	if (!json_is_object(labels))
		return sw_err_set(err, SW_EINPUT, "host: 'labels' must be an object");
	text = sw_fl_canon(labels);
	if (!text)
		return sw_err_set(err, SW_EINPUT, "host: labels cannot be encoded");
	if (sw_fl_prepare(s, "UPDATE hosts SET labels = ?2 WHERE id = ?1", &stmt, err) < 0) {
		free(text);
		return -1;
	}
	rc = sqlite3_bind_text(stmt, 1, id ? id : "", -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 2, text, -1, SQLITE_STATIC);
	rc = sw_fl_step_done(s, stmt, rc, "set host labels", err);
	free(text);
	if (rc < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return sw_err_set(err, SW_ENOTFOUND, "host '%s' not found", id ? id : "");
	return 0;
}
