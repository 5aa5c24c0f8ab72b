/*
 * api_logs.c - a service's log, read on its host: the route `slipway logs`
 * calls and the route its agent answers on (routes in routes.c; the flow
 * is in server/logreq.h).
 *
 * GET /api/v1/hosts/{host}/logs finds the host (name or id; 404 unknown,
 * 409 revoked or offline), records a log request, wakes the host's
 * long-poll (api_agent.c hands the request over) and waits on the server's
 * notifier, never holding the store lock, up to `wait` seconds for the
 * agent's answer (504 after that; the request is then forgotten and a late
 * answer is refused). POST /api/v1/agent/logs takes the answer of the
 * calling host only.
 * Calls server/logreq, server/validate, store/, base/.
 */
#include "server/api.h"
#include "base/clock.h"
#include "base/json.h"
#include "server/logreq.h"
#include "server/validate.h"

#include <string.h>

/* The host called (or with the id) ref: a new reference, or NULL with err (404). Store lock not held. */
static json_t *sw_api_logs_host(struct sw_server *s, const char *ref, struct sw_err *err)
{
	json_t *arr = NULL, *h, *found = NULL;
	size_t i;
	int rc;

	sw_server_lock(s);
	rc = sw_store_host_list(s->store, &arr, err);
	sw_server_unlock(s);
	if (rc < 0)
		return NULL;
	json_array_foreach(arr, i, h)
	{
		const char *n = sw_json_str(h, "name"), *id = sw_json_str(h, "id");

		if ((n && !strcmp(n, ref)) || (id && !strcmp(id, ref))) {
			found = json_incref(h);
			break;
		}
	}
	json_decref(arr);
	if (!found)
		sw_err_set(err, SW_ENOTFOUND, "no host called '%s' (see 'slipway hosts')", ref);
	return found;
}

/* The agent's error answer {error: {code, message}} as err. */
static int sw_api_logs_agent_error(const json_t *e, const char *host, struct sw_err *err)
{
	const char *code = sw_json_str(e, "code"), *msg = sw_json_str(e, "message");
	enum sw_code c = !strcmp(code ? code : "", "not_found")	  ? SW_ENOTFOUND
			 : !strcmp(code ? code : "", "bad_request") ? SW_EINPUT
								    : SW_EIO;

	return sw_err_set(err, c, "host '%s': %s", host, msg ? msg : "the agent could not read the log");
}

int sw_api_host_logs(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	struct sw_val_logs_args in = {
		.service = sw_http_query(a->req, "service"),
		.slot = sw_http_query(a->req, "slot"),
		.offset = sw_http_query(a->req, "offset"),
		.lines = sw_http_query(a->req, "lines"),
		.max_bytes = sw_http_query(a->req, "max_bytes"),
		.wait = sw_http_query(a->req, "wait"),
	};
	struct sw_val_logs_query q;
	struct sw_logreq_params p;
	const char *ref = sw_route_param(&a->params, "host"), *name, *id;
	json_t *host, *answer = NULL;
	int64_t seen, now = sw_clock_wall_ms(), rid;
	uint64_t deadline, seq;
	char host_id[SW_LOGREQ_HOST_ID_MAX], host_name[SW_LOGREQ_NAME_MAX * 4];
	int last = 0;

	if (sw_val_logs_query(&in, &q, err) < 0)
		return -1;
	host = sw_api_logs_host(s, ref, err);
	if (!host)
		return -1;
	name = sw_json_str(host, "name");
	id = sw_json_str(host, "id");
	sw_strlcpy(host_name, name ? name : ref, sizeof(host_name));
	sw_strlcpy(host_id, id ? id : "", sizeof(host_id));
	seen = (int64_t)sw_json_int(host, "last_seen_ms", 0);
	if (json_is_true(json_object_get(host, "revoked"))) {
		json_decref(host);
		return sw_err_set(err, SW_EBUSY, "host '%s' is revoked: it has no agent to ask", host_name);
	}
	json_decref(host);
	if (seen <= 0 || now - seen > (int64_t)(3 * s->heartbeat_ms)) {
		if (seen <= 0)
			return sw_err_set(err, SW_EBUSY, "host '%s' is offline (never seen): its agent cannot send logs",
					  host_name);
		return sw_err_set(err, SW_EBUSY, "host '%s' is offline (last seen %llds ago): its agent cannot send logs",
				  host_name, (long long)((now - seen) / 1000));
	}
	memset(&p, 0, sizeof(p));
	if (q.service)
		sw_strlcpy(p.service, q.service, sizeof(p.service));
	p.slot = q.slot;
	p.offset = q.offset;
	p.lines = q.lines;
	p.max_bytes = q.max_bytes;
	if (sw_logreqs_add(s->logs, host_id, &p, &rid, err) < 0)
		return -1;
	sw_server_notify(s); /* the host's long-poll hands it over */
	sw_server_poll_begin(s);
	a->polling = 1;
	deadline = sw_clock_mono_ms() + (uint64_t)q.wait_s * 1000;
	for (;;) {
		seq = sw_server_seq(s);
		if (sw_logreqs_result(s->logs, rid, &answer))
			break;
		if (last) {
			sw_logreqs_cancel(s->logs, rid);
			return sw_err_set(err, SW_ETIMEOUT,
					  "host '%s' did not answer the log request within %us (its agent may be busy, "
					  "cut off, or older than this server)",
					  host_name, q.wait_s);
		}
		last = sw_server_wait(s, seq, deadline);
	}
	if (json_object_get(answer, "error")) {
		sw_api_logs_agent_error(json_object_get(answer, "error"), host_name, err);
		json_decref(answer);
		return -1;
	}
	json_object_set_new(answer, "host", json_string(host_name));
	return sw_api_reply(a, 200, answer);
}

int sw_api_agent_logs(struct sw_api *a, struct sw_err *err)
{
	json_t *answer = NULL;
	int64_t id;

	if (sw_val_agent_logs(a->body, &id, &answer, err) < 0)
		return -1;
	if (sw_logreqs_answer(a->srv->logs, a->who.id, id, answer, err) < 0)
		return -1;
	sw_server_notify(a->srv);
	return sw_api_reply(a, 200, json_pack("{s:b}", "ok", 1));
}
