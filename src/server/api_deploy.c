/*
 * api_deploy.c - deployments over HTTP: create, list, get, abort, rollback,
 * the manual control verbs pause, resume, promote, retry, and a
 * deployment's analysis measurements from the event log (routes in
 * routes.c). The decisions are the rollout controller's
 * (rollout/controller.h): these handlers validate, call it with the store
 * lock held, and kick it after releasing the lock.
 * Calls rollout/controller.h, server/validate, store/, base/.
 */
#include "server/api.h"
#include "base/json.h"
#include "rollout/controller.h"
#include "server/validate.h"

#include <stdio.h>
#include <string.h>

int sw_api_deploy_create(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	const char *service, *env, *digest;
	json_t *dep = NULL;
	int rc;

	if (sw_val_deploy(a->body, &service, &env, &digest, err) < 0)
		return -1;
	sw_server_lock(s);
	rc = sw_rollout_create(s->store, service, env, digest, a->who.actor, &dep, err);
	sw_server_unlock(s);
	if (rc < 0)
		return -1;
	sw_server_notify(s);
	sw_server_kick(s);
	return sw_api_reply(a, 201, dep ? dep : json_object());
}

int sw_api_deploy_list(struct sw_api *a, struct sw_err *err)
{
	const char *service = sw_http_query(a->req, "service"), *env = sw_http_query(a->req, "env");
	int64_t limit, active;
	json_t *arr = NULL;
	int rc;

	if (service && *service && !sw_val_name_ok(service))
		return sw_val_fail(err, "service", "query argument 'service' is not a valid service name");
	if (env && *env && !sw_val_name_ok(env))
		return sw_val_fail(err, "env", "query argument 'env' is not a valid environment name");
	if (sw_val_query_int(sw_http_query(a->req, "limit"), "limit", 1, 1000, 50, &limit, err) < 0 ||
	    sw_val_query_int(sw_http_query(a->req, "active"), "active", 0, 1, 0, &active, err) < 0)
		return -1;
	sw_server_lock(a->srv);
	rc = sw_store_deployment_list(a->srv->store, service && *service ? service : NULL, env && *env ? env : NULL,
				      (int)active, (size_t)limit, &arr, err);
	sw_server_unlock(a->srv);
	if (rc < 0)
		return -1;
	return sw_api_reply(a, 200, arr);
}

int sw_api_deploy_get(struct sw_api *a, struct sw_err *err)
{
	json_t *dep = NULL;
	int rc;

	/* The progress view: the record plus each host's phase and live report. */
	sw_server_lock(a->srv);
	rc = sw_rollout_progress(a->srv->store, sw_route_param(&a->params, "id"), 3 * a->srv->heartbeat_ms, &dep, err);
	sw_server_unlock(a->srv);
	if (rc < 0)
		return -1;
	return sw_api_reply(a, 200, dep);
}

/* One deployment.measurement event: its payload with "seq" added. */
static int sw_api_measurement_cb(const struct sw_event *ev, void *ctx)
{
	json_t *arr = ctx, *m = json_loads(ev->payload, 0, NULL);

	if (!json_is_object(m)) {
		json_decref(m);
		m = json_object();
	}
	json_object_set_new(m, "seq", json_integer((json_int_t)ev->seq));
	json_array_append_new(arr, m);
	return 0;
}

/*
 * GET /api/v1/deployments/{id}/measurements?after=SEQ&limit=N: every
 * measurement from the event log (the plan keeps only the last
 * SW_GATE_KEEP per run), a page at a time.
 */
int sw_api_deploy_measurements(struct sw_api *a, struct sw_err *err)
{
	const char *id = sw_route_param(&a->params, "id");
	char subject[SW_ROUTE_PARAM_MAX + 16];
	int64_t after, limit, last;
	json_t *dep = NULL, *arr;
	int rc;

	if (sw_val_query_int(sw_http_query(a->req, "after"), "after", 0, INT64_MAX - 1, 0, &after, err) < 0 ||
	    sw_val_query_int(sw_http_query(a->req, "limit"), "limit", 1, 1000, 1000, &limit, err) < 0)
		return -1;
	snprintf(subject, sizeof(subject), "deployment/%s", id ? id : "");
	arr = json_array();
	sw_server_lock(a->srv);
	rc = sw_store_deployment_get(a->srv->store, id, &dep, err);
	if (rc == 0)
		rc = sw_store_scan_subject(a->srv->store, subject, "deployment.measurement", after, (size_t)limit,
					   sw_api_measurement_cb, arr, err);
	sw_server_unlock(a->srv);
	if (rc < 0) {
		json_decref(dep);
		json_decref(arr);
		return -1;
	}
	last = json_array_size(arr) ? (int64_t)json_integer_value(
					      json_object_get(json_array_get(arr, json_array_size(arr) - 1), "seq"))
				    : after;
	rc = sw_api_reply(a, 200,
			  json_pack("{s:s, s:o, s:I}", "deployment", sw_json_str(dep, "id") ? sw_json_str(dep, "id") : id,
				    "measurements", arr, "last", (json_int_t)last));
	json_decref(dep);
	return rc;
}

int sw_api_deploy_abort(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	const char *id = sw_route_param(&a->params, "id"), *reason;
	char why[600];
	json_t *dep = NULL;
	bool emergency;
	int rc;

	if (sw_val_abort(a->body, &reason, &emergency, err) < 0)
		return -1;
	if (!reason || !*reason) {
		snprintf(why, sizeof(why), "aborted by %s", a->who.actor);
		reason = why;
	}
	sw_server_lock(s);
	rc = sw_rollout_abort(s->store, id, a->who.actor, reason, emergency, err);
	if (rc == 0)
		rc = sw_store_deployment_get(s->store, id, &dep, err);
	sw_server_unlock(s);
	if (rc < 0)
		return -1;
	sw_server_notify(s);
	sw_server_kick(s);
	return sw_api_reply(a, 200, dep);
}

/*
 * POST /api/v1/deployments/{id}/{pause|resume|promote|retry}: the verb is
 * the last path segment. 200 {deployment, message} ("already paused" when
 * there was nothing to do); retry: 201 with the new deployment (200 when it
 * had been retried already).
 */
int sw_api_deploy_verb(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	const char *id = sw_route_param(&a->params, "id"), *reason, *path = a->route->pattern, *verb;
	char note[256];
	json_t *dep = NULL, *body;
	unsigned status = 200;
	bool full;
	int rc;

	verb = strrchr(path, '/');
	verb = verb ? verb + 1 : "";
	if (sw_val_verb(a->body, &reason, &full, err) < 0)
		return -1;
	if (full && strcmp(verb, "promote"))
		return sw_val_fail(err, "full", "field 'full' is for promote only");
	if (full)
		verb = "promote-full";
	sw_server_lock(s);
	rc = sw_rollout_verb(s->store, id, verb, a->who.actor, reason, &dep, note, sizeof(note), err);
	sw_server_unlock(s);
	if (rc < 0)
		return -1;
	if (!strcmp(verb, "retry") && !strncmp(note, "retried", 7))
		status = 201;
	sw_server_notify(s);
	sw_server_kick(s);
	body = json_pack("{s:o, s:s}", "deployment", dep ? dep : json_object(), "message", note);
	return sw_api_reply(a, status, body);
}

int sw_api_rollback(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	struct sw_val_rollback v;
	struct sw_rollback_req req;
	json_t *dep = NULL;
	int rc;

	if (sw_val_rollback(a->body, &v, err) < 0)
		return -1;
	req = (struct sw_rollback_req){ .to = v.to, .reason = v.reason, .emergency = v.emergency };
	sw_server_lock(s);
	rc = sw_rollout_rollback(s->store, v.service, v.env, a->who.actor, &req, &dep, err);
	sw_server_unlock(s);
	if (rc < 0)
		return -1;
	sw_server_notify(s);
	sw_server_kick(s);
	return sw_api_reply(a, 201, dep ? dep : json_object());
}
