/*
 * api_hosts.c - the fleet as users see it: list hosts with their health and
 * what they run, revoke a host's identity (routes in routes.c).
 * Calls store/, base/.
 */
#include "server/api.h"
#include "base/clock.h"
#include "base/json.h"

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
