/* sqlite_fleet.c - API tokens, join tokens and hosts in SQLite (placeholder: the control plane fills it in). */
#include "store/sqlite_int.h"

int sw_sq_token_create(struct sw_store *st, const json_t *tok, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_fleet: not built yet");
}

int sw_sq_token_lookup(struct sw_store *st, const char *hash, json_t **tok, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_fleet: not built yet");
}

int sw_sq_token_list(struct sw_store *st, json_t **arr, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_fleet: not built yet");
}

int sw_sq_token_revoke(struct sw_store *st, const char *id, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_fleet: not built yet");
}

int sw_sq_join_create(struct sw_store *st, const char *hash, const json_t *labels, int64_t expires_ms, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_fleet: not built yet");
}

int sw_sq_join_consume(struct sw_store *st, const char *hash, const char *host_id, int64_t now_ms, json_t **labels, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_fleet: not built yet");
}

int sw_sq_host_create(struct sw_store *st, const json_t *host, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_fleet: not built yet");
}

int sw_sq_host_lookup_token(struct sw_store *st, const char *token_hash, json_t **host, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_fleet: not built yet");
}

int sw_sq_host_get(struct sw_store *st, const char *id, json_t **host, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_fleet: not built yet");
}

int sw_sq_host_list(struct sw_store *st, json_t **arr, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_fleet: not built yet");
}

int sw_sq_host_report(struct sw_store *st, const char *id, int64_t now_ms, const json_t *status, int64_t generation_applied, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_fleet: not built yet");
}

int sw_sq_host_revoke(struct sw_store *st, const char *id, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_fleet: not built yet");
}
