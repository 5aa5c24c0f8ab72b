/*
 * api_agent.c - the routes agents call: enroll with a join token, long-poll
 * desired state (answered early, with "log_requests", when `slipway logs`
 * waits for this host: server/logreq.h), report status (routes in routes.c).
 *
 * Enrollment runs in one transaction: consume the join token (401 when
 * unknown, used or expired), create the host (labels: the agent's,
 * overridden by the join token's), record host.enrolled. A name that is
 * already enrolled is refused (409, naming the host) unless the join token
 * was made with `replace: <that name>` (join-token create --replace): then
 * the host keeps its id, gets the new token (the old one stops working) and
 * host.enrolled says replaced. A revoked name stays revoked: refused even
 * with --replace. A --replace token enrolls only the host it names. Any
 * refusal rolls back, so the join token stays unused. The host token is
 * made here, returned once and stored as its SHA-256.
 * Calls server/validate, server/auth, store/, base/.
 */
#include "server/api.h"
#include "base/clock.h"
#include "base/json.h"
#include "server/logreq.h"
#include "server/validate.h"

#include <sodium.h>
#include <string.h>

/* The id of the host called name, if enrolled, and whether it is revoked (store lock held). */
static int sw_api_host_by_name(struct sw_store *st, const char *name, char *id, size_t size, int *revoked,
			       struct sw_err *err)
{
	json_t *arr = NULL, *h;
	size_t i;

	id[0] = '\0';
	*revoked = 0;
	if (sw_store_host_list(st, &arr, err) < 0)
		return -1;
	json_array_foreach(arr, i, h)
	{
		const char *n = sw_json_str(h, "name"), *hid = sw_json_str(h, "id");

		if (n && hid && !strcmp(n, name)) {
			sw_strlcpy(id, hid, size);
			*revoked = json_is_true(json_object_get(h, "revoked"));
			break;
		}
	}
	json_decref(arr);
	return 0;
}

static int sw_api_revoked_err(const char *name, const char *id, struct sw_err *err)
{
	return sw_err_set(err, SW_EBUSY,
			  "host '%s' (%s) is revoked, and a revoked host stays revoked; enroll this machine under "
			  "another name",
			  name, id);
}

int sw_api_replace_check(struct sw_store *st, const char *name, struct sw_err *err)
{
	char id[80];
	int revoked;

	if (sw_api_host_by_name(st, name, id, sizeof(id), &revoked, err) < 0)
		return -1;
	if (!id[0])
		return sw_err_set(err, SW_ENOTFOUND, "no host called '%s' is enrolled: nothing to replace", name);
	if (revoked)
		return sw_api_revoked_err(name, id, err);
	return 0;
}

int sw_api_agent_enroll(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	struct sw_val_enroll req;
	char secret[SW_TOKEN_MAX], hash[SW_SHA256_HEX], jhash[SW_SHA256_HEX], id[80], subject[96], replace[136];
	char jsecret[136];
	json_t *jlabels = NULL, *labels = NULL, *rec = NULL, *host = NULL, *keys, *out;
	int64_t now = sw_clock_wall_ms();
	int rc = -1, reenrolled = 0, revoked = 0;
	size_t i;

	if (sw_val_enroll(a->body, &req, err) < 0)
		return -1;
	/* A join token may end in ".<pin>" (base/tls.h): only the secret before it is ours to check. */
	snprintf(jsecret, sizeof(jsecret), "%.*s", (int)strcspn(req.join_token, "."), req.join_token);
	sw_auth_token_hash(jsecret, jhash);
	sodium_memzero(jsecret, sizeof(jsecret));
	sw_auth_new_token("swh_", secret, sizeof(secret));
	sw_auth_token_hash(secret, hash);
	sw_server_lock(s);
	if (sw_store_begin(s->store, err) < 0)
		goto unlock;
	if (sw_api_host_by_name(s->store, req.name, id, sizeof(id), &revoked, err) < 0)
		goto rollback;
	reenrolled = id[0] != '\0';
	if (!reenrolled)
		sw_auth_new_id("h-", id, sizeof(id));
	/* The token first (401 for a bad one), then the name: a taken name is told only to a valid token. */
	if (sw_store_join_consume(s->store, jhash, id, now, &jlabels, replace, sizeof(replace), err) < 0)
		goto rollback;
	if (replace[0] && strcmp(replace, req.name)) {
		sw_err_set(err, SW_EDENIED, "this join token may only enroll host '%s' (made with --replace %s), not '%s'",
			   replace, replace, req.name);
		goto rollback;
	}
	if (reenrolled && revoked) {
		sw_api_revoked_err(req.name, id, err);
		goto rollback;
	}
	if (reenrolled && !replace[0]) {
		sw_err_set(err, SW_EBUSY,
			   "host name '%s' is taken (host %s); to move it to this machine, enroll with a join token made by "
			   "'slipway join-token create --replace %s', or choose another name",
			   req.name, id, req.name);
		goto rollback;
	}
	labels = req.labels ? json_deep_copy(req.labels) : json_object();
	json_object_update(labels, jlabels);
	if (json_object_size(labels) > SW_VAL_LABELS_MAX) {
		sw_err_set(err, SW_EINPUT, "too many labels (the agent's and the join token's together)");
		goto rollback;
	}
	rec = json_pack("{s:s, s:s, s:O, s:s, s:[i,i], s:s}", "id", id, "name", req.name, "labels", labels, "token_hash",
			hash, "ports", req.ports[0], req.ports[1], "address", req.address ? req.address : "");
	if (sw_store_host_create(s->store, rec, err) < 0 || sw_store_host_lookup_token(s->store, hash, &host, err) < 0)
		goto rollback;
	snprintf(subject, sizeof(subject), "host/%s", sw_json_str(host, "id"));
	/* The new host is the actor: "agent:<name>". */
	snprintf(a->who.actor, sizeof(a->who.actor), "agent:%s", req.name);
	if (sw_api_event(a, "host.enrolled", subject,
			 json_pack("{s:O?, s:s, s:O, s:[i,i], s:s?, s:b, s:b}", "host_id", json_object_get(host, "id"),
				   "name", req.name, "labels", labels, "ports", req.ports[0], req.ports[1], "address",
				   req.address, "reenrolled", reenrolled, "replaced", reenrolled),
			 err) < 0 ||
	    (reenrolled && sw_api_event(a, "host.replaced", subject,
					json_pack("{s:O?, s:s}", "host_id", json_object_get(host, "id"), "name", req.name),
					err) < 0) ||
	    sw_store_commit(s->store, err) < 0)
		goto rollback;
	rc = 0;
	goto unlock;
rollback:
	sw_store_rollback(s->store);
unlock:
	sw_server_unlock(s);
	json_decref(jlabels);
	json_decref(rec);
	if (rc < 0) {
		json_decref(labels);
		json_decref(host);
		sodium_memzero(secret, sizeof(secret));
		return -1;
	}
	sw_server_notify(s);
	sw_server_kick(s);
	keys = json_array();
	for (i = 0; i < s->nkeys; i++)
		json_array_append_new(keys, json_string(s->keys[i].text));
	out = json_pack("{s:O?, s:s, s:s, s:o, s:o, s:I}", "host_id", json_object_get(host, "id"), "name", req.name,
			"host_token", secret, "labels", labels, "trusted_keys", keys, "heartbeat_ms",
			(json_int_t)s->heartbeat_ms);
	sodium_memzero(secret, sizeof(secret));
	json_decref(host);
	return sw_api_reply(a, 201, out);
}

/* desired rows [{service, slot, ...}] grouped per service. */
static json_t *sw_api_group_desired(const json_t *rows)
{
	json_t *services = json_array(), *row, *svc, *slot;
	const char *name;
	size_t i, j;

	json_array_foreach(rows, i, row)
	{
		name = sw_json_str(row, "service");
		if (!name)
			continue;
		svc = NULL;
		json_array_foreach(services, j, slot)
		{
			if (!strcmp(sw_json_str(slot, "service"), name)) {
				svc = slot;
				break;
			}
		}
		if (!svc) {
			svc = json_pack("{s:s, s:[]}", "service", name, "slots");
			json_array_append_new(services, svc);
		}
		slot = json_deep_copy(row);
		json_object_del(slot, "service");
		json_array_append_new(json_object_get(svc, "slots"), slot);
	}
	return services;
}

int sw_api_agent_desired(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	int64_t want, wait, gen = 0;
	uint64_t deadline, seq;
	json_t *rows = NULL, *services, *out, *logs;
	int rc, last = 0;

	if (sw_val_query_int(sw_http_query(a->req, "generation"), "generation", 0, INT64_MAX, 0, &want, err) < 0 ||
	    sw_val_query_int(sw_http_query(a->req, "wait"), "wait", 0, 3600, 0, &wait, err) < 0)
		return -1;
	if (wait > SW_SERVER_WAIT_MAX_S)
		wait = SW_SERVER_WAIT_MAX_S;
	deadline = sw_clock_mono_ms() + (uint64_t)wait * 1000;
	sw_server_poll_begin(s);
	a->polling = 1;
	for (;;) {
		seq = sw_server_seq(s);
		sw_server_lock(s);
		rc = sw_store_desired_get(s->store, a->who.id, &gen, &rows, err);
		sw_server_unlock(s);
		if (rc < 0)
			return -1;
		if (gen > want || last || wait == 0 || sw_logreqs_pending(s->logs, a->who.id))
			break;
		json_decref(rows);
		rows = NULL;
		last = sw_server_wait(s, seq, deadline);
	}
	services = sw_api_group_desired(rows);
	json_decref(rows);
	out = json_pack("{s:I, s:I, s:o}", "generation", (json_int_t)gen, "heartbeat_ms", (json_int_t)s->heartbeat_ms,
			"services", services);
	logs = sw_logreqs_take(s->logs, a->who.id);
	if (logs)
		json_object_set_new(out, "log_requests", logs);
	return sw_api_reply(a, 200, out);
}

int sw_api_agent_status(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	const char *address;
	int64_t generation;
	int rc;

	/* The address, when given, is stored with the host by the report itself (store.h). */
	if (sw_val_agent_status(a->body, &generation, &address, err) < 0)
		return -1;
	sw_server_lock(s);
	rc = sw_store_host_report(s->store, a->who.id, sw_clock_wall_ms(), a->body, generation, err);
	sw_server_unlock(s);
	if (rc < 0)
		return -1;
	sw_server_kick(s);
	return sw_api_reply(a, 200, json_pack("{s:b, s:I}", "ok", 1, "heartbeat_ms", (json_int_t)s->heartbeat_ms));
}
