/*
 * sqlite_int.h - what the SQLite backend's files share, and nothing else
 * may include: the connection struct, error mapping, and the ops each file
 * implements.
 *
 *   sqlite.c         connection, settings, migrations, events, releases
 *   sqlite_fleet.c   API tokens, join tokens, hosts
 *   sqlite_deploy.c  deployments, desired state, host generations
 *
 * Statements in sqlite_fleet.c and sqlite_deploy.c are prepared per call
 * (control-plane calls are few; the event log's hot statements are cached
 * in stmt[]). Calls sqlite3, base/, store/store.h.
 */
#ifndef SW_STORE_SQLITE_INT_H
#define SW_STORE_SQLITE_INT_H

#include <limits.h>
#include <sqlite3.h>

#include "base/err.h"
#include "store/store.h"

#define SW_SQ_CORE_STMTS 16

struct sw_sqlite {
	struct sw_store base; /* first: a struct sw_store * is a struct sw_sqlite * */
	sqlite3 *db;
	char path[PATH_MAX];
	sqlite3_stmt *stmt[SW_SQ_CORE_STMTS]; /* sqlite.c's cached statements */
	int scanning;         /* nesting depth of scans using the cached scan statement */
	int scanning_subject; /* the same for the cached subject scan statement */
	int last_rc;  /* extended result code of the last failure */
};

struct sw_sqlite *sw_sq(struct sw_store *st);
/* Map rc to the store's errors (store.h), set err, return -1. */
int sw_sq_fail(struct sw_sqlite *s, int rc, const char *what, struct sw_err *err);
/* Column text, "" for NULL. */
const char *sw_sq_text(sqlite3_stmt *stmt, int col);

/* sqlite_fleet.c */
int sw_sq_token_create(struct sw_store *st, const json_t *tok, struct sw_err *err);
int sw_sq_token_lookup(struct sw_store *st, const char *hash, json_t **tok, struct sw_err *err);
int sw_sq_token_list(struct sw_store *st, json_t **arr, struct sw_err *err);
int sw_sq_token_revoke(struct sw_store *st, const char *id, struct sw_err *err);
int sw_sq_join_create(struct sw_store *st, const char *hash, const json_t *labels, const char *replace,
		      int64_t expires_ms, struct sw_err *err);
int sw_sq_join_consume(struct sw_store *st, const char *hash, const char *host_id, int64_t now_ms, json_t **labels,
		       char *replace, size_t replace_size, struct sw_err *err);
int sw_sq_host_create(struct sw_store *st, const json_t *host, struct sw_err *err);
int sw_sq_host_lookup_token(struct sw_store *st, const char *token_hash, json_t **host, struct sw_err *err);
int sw_sq_host_get(struct sw_store *st, const char *id, json_t **host, struct sw_err *err);
int sw_sq_host_list(struct sw_store *st, json_t **arr, struct sw_err *err);
int sw_sq_host_report(struct sw_store *st, const char *id, int64_t now_ms, const json_t *status,
		      int64_t generation_applied, struct sw_err *err);
int sw_sq_host_revoke(struct sw_store *st, const char *id, struct sw_err *err);
int sw_sq_host_set_labels(struct sw_store *st, const char *id, const json_t *labels, struct sw_err *err);

/* sqlite_deploy.c */
int sw_sq_deployment_save(struct sw_store *st, const json_t *dep, struct sw_err *err);
int sw_sq_deployment_get(struct sw_store *st, const char *id, json_t **dep, struct sw_err *err);
int sw_sq_deployment_list(struct sw_store *st, const char *service, const char *env, int active_only, size_t limit,
			  json_t **arr, struct sw_err *err);
int sw_sq_desired_set(struct sw_store *st, const char *host_id, const char *service, const char *slot,
		      const json_t *want, struct sw_err *err);
int sw_sq_desired_get(struct sw_store *st, const char *host_id, int64_t *generation, json_t **rows,
		      struct sw_err *err);

#endif
