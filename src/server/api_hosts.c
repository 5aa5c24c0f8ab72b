/*
 * api_hosts.c - the fleet as users see it: list hosts with their health,
 * address and what they run, change a host's labels, revoke a host's
 * identity (routes in routes.c).
 * Calls server/validate, store/, base/.
 */
#include "server/api.h"
#include "base/clock.h"
#include "base/json.h"
#include "server/validate.h"

#include <string.h>

/* A host record (store.h) as the API shows it: no token hash, times readable. */
static json_t *sw_api_host_view(const json_t *h, int64_t now_ms, uint64_t heartbeat_ms)
{
	int64_t seen = (int64_t)sw_json_int(h, "last_seen_ms", 0);
	int revoked = json_is_true(json_object_get(h, "revoked"));
	const json_t *status = json_object_get(h, "status"), *e;
	json_t *services = json_array(), *v;
	char when[SW_TIME_STR_MAX];
	size_t i;

	json_array_foreach(json_object_get(status, "services"), i, e)
	{
		json_t *svc = json_object();
		static const char *const keys[] = { "service", "slot", "digest", "state", "port", "active", "message",
						    "pid" };
		size_t k;

		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (json_object_get(e, keys[k]))
				json_object_set(svc, keys[k], json_object_get(e, keys[k]));
		json_array_append_new(services, svc);
	}
	v = json_pack("{s:O?, s:O?, s:O?, s:O?, s:b, s:b, s:I, s:O?, s:O?, s:o}", "id", json_object_get(h, "id"), "name",
		      json_object_get(h, "name"), "labels", json_object_get(h, "labels"), "ports",
		      json_object_get(h, "ports"), "online",
		      !revoked && seen > 0 && now_ms - seen <= (int64_t)(3 * heartbeat_ms), "revoked", revoked,
		      "last_seen_ms", (json_int_t)seen, "enrolled", json_object_get(h, "enrolled"),
		      "generation_applied", json_object_get(h, "generation_applied"), "services", services);
	json_object_set_new(v, "last_seen", seen > 0 ? json_string(sw_clock_format_utc(seen, when, sizeof(when)))
						     : json_null());
	e = json_object_get(h, "address");
	json_object_set_new(v, "address", json_string_length(e) ? json_deep_copy(e) : json_null());
	e = json_object_get(status, "disk_free_bytes");
	json_object_set_new(v, "disk_free_bytes", json_is_integer(e) ? json_deep_copy(e) : json_null());
	return v;
}

int sw_api_hosts_list(struct sw_api *a, struct sw_err *err)
{
	json_t *arr = NULL, *out, *h;
	int64_t now = sw_clock_wall_ms();
	size_t i;
	int rc;

	sw_server_lock(a->srv);
	rc = sw_store_host_list(a->srv->store, &arr, err);
	sw_server_unlock(a->srv);
	if (rc < 0)
		return -1;
	out = json_array();
	json_array_foreach(arr, i, h)
	{
		json_array_append_new(out, sw_api_host_view(h, now, a->srv->heartbeat_ms));
	}
	json_decref(arr);
	return sw_api_reply(a, 200, out);
}

int sw_api_host_revoke(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	const char *id = sw_route_param(&a->params, "id");
	char subject[SW_ROUTE_PARAM_MAX + 8];
	json_t *h = NULL;
	int rc = -1;

	snprintf(subject, sizeof(subject), "host/%s", id);
	sw_server_lock(s);
	if (sw_store_host_get(s->store, id, &h, err) == 0 && sw_store_begin(s->store, err) == 0) {
		if (sw_store_host_revoke(s->store, id, err) == 0 &&
		    sw_api_event(a, "host.revoked", subject,
				 json_pack("{s:s, s:O?}", "host_id", id, "name", json_object_get(h, "name")), err) == 0 &&
		    sw_store_commit(s->store, err) == 0)
			rc = 0;
		else
			sw_store_rollback(s->store);
	}
	sw_server_unlock(s);
	json_decref(h);
	if (rc < 0)
		return -1;
	sw_server_notify(s);
	sw_server_kick(s);
	return sw_api_reply(a, 200, json_pack("{s:s, s:b}", "id", id, "revoked", 1));
}

/* The host called {id}: its id, else its name (what `slipway hosts label` is given). Store lock held. */
static int sw_api_host_find(struct sw_store *st, const char *key, json_t **host, struct sw_err *err)
{
	json_t *arr = NULL, *h;
	size_t i;

	if (sw_store_host_get(st, key, host, err) == 0)
		return 0;
	if (err->code != SW_ENOTFOUND)
		return -1;
	sw_err_clear(err);
	if (sw_store_host_list(st, &arr, err) < 0)
		return -1;
	json_array_foreach(arr, i, h)
	{
		if (sw_json_str(h, "name") && !strcmp(sw_json_str(h, "name"), key)) {
			*host = json_incref(h);
			json_decref(arr);
			return 0;
		}
	}
	json_decref(arr);
	return sw_err_set(err, SW_ENOTFOUND, "no host with id or name '%s'", key);
}

int sw_api_host_labels(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	const char *key = sw_route_param(&a->params, "id"), *id = NULL, *k;
	const json_t *set, *remove, *v;
	json_t *h = NULL, *before = NULL, *after = NULL, *removed = json_array(), *out = NULL;
	char subject[SW_ROUTE_PARAM_MAX + 8];
	size_t i;
	int rc = -1;

	if (sw_val_host_labels(a->body, &set, &remove, err) < 0)
		goto done;
	sw_server_lock(s);
	if (sw_api_host_find(s->store, key, &h, err) < 0)
		goto unlock;
	id = sw_json_str(h, "id");
	if (json_is_true(json_object_get(h, "revoked"))) {
		sw_err_set(err, SW_EBUSY, "host '%s' (%s) is revoked: its labels no longer matter", sw_json_str(h, "name"),
			   id);
		goto unlock;
	}
	before = json_object_get(h, "labels");
	after = json_is_object(before) ? json_deep_copy(before) : json_object();
	json_object_foreach((json_t *)set, k, v)
	{
		json_object_set(after, k, (json_t *)v);
	}
	json_array_foreach(remove, i, v)
	{
		/* Removing a label the host does not have is fine (asking twice is harmless); it is not recorded. */
		if (json_object_get(after, json_string_value(v))) {
			json_object_del(after, json_string_value(v));
			json_array_append(removed, (json_t *)v);
		}
	}
	if (json_object_size(after) > SW_VAL_LABELS_MAX) {
		sw_val_fail(err, "set", "host '%s' would have %zu labels, more than %d", sw_json_str(h, "name"),
			    json_object_size(after), SW_VAL_LABELS_MAX);
		goto unlock;
	}
	snprintf(subject, sizeof(subject), "host/%s", id);
	if (sw_store_begin(s->store, err) < 0)
		goto unlock;
	if (sw_store_host_set_labels(s->store, id, after, err) < 0 ||
	    sw_api_event(a, "host.labeled", subject,
			 json_pack("{s:s, s:O?, s:o, s:O, s:O, s:O}", "host_id", id, "name", json_object_get(h, "name"),
				   "set", set ? json_deep_copy(set) : json_object(), "removed", removed, "before", before,
				   "labels", after),
			 err) < 0 ||
	    sw_store_commit(s->store, err) < 0) {
		sw_store_rollback(s->store);
		goto unlock;
	}
	out = json_pack("{s:s, s:O?, s:O}", "id", id, "name", json_object_get(h, "name"), "labels", after);
	rc = 0;
unlock:
	sw_server_unlock(s);
done:
	json_decref(h);
	json_decref(after);
	json_decref(removed);
	if (rc < 0)
		return -1;
	sw_server_notify(s);
	sw_server_kick(s);
	return sw_api_reply(a, 200, out);
}
