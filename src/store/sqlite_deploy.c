/* sqlite_deploy.c - deployments and desired state in SQLite (placeholder: the control plane fills it in). */
#include "store/sqlite_int.h"

int sw_sq_deployment_save(struct sw_store *st, const json_t *dep, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_deploy: not built yet");
}

int sw_sq_deployment_get(struct sw_store *st, const char *id, json_t **dep, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_deploy: not built yet");
}

int sw_sq_deployment_list(struct sw_store *st, const char *service, const char *env, int active_only, size_t limit, json_t **arr, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_deploy: not built yet");
}

int sw_sq_desired_set(struct sw_store *st, const char *host_id, const char *service, const char *slot, const json_t *want, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_deploy: not built yet");
}

int sw_sq_desired_get(struct sw_store *st, const char *host_id, int64_t *generation, json_t **rows, struct sw_err *err)
{
	(void)st;
	return sw_err_set(err, SW_EINTERNAL, "sqlite_deploy: not built yet");
}
