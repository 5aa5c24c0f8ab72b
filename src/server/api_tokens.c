/*
 * api_tokens.c - API tokens and join tokens: create, list, revoke (routes
 * in routes.c). Secrets are made here, handed out once and stored only as
 * their SHA-256. Calls server/auth, server/validate, store/, base/.
 */
#include "server/api.h"
#include "base/clock.h"
#include "base/mem.h"
#include "base/tls.h"
#include "server/validate.h"

#include <sodium.h>
#include <string.h>

int sw_api_token_create(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	char secret[SW_TOKEN_MAX], id[32], hash[SW_SHA256_HEX], now[SW_TIME_STR_MAX], subject[64];
	const char *name;
	enum sw_role role;
	json_t *rec, *out;
	int rc = -1;

	if (sw_val_token_create(a->body, &name, &role, err) < 0)
		return -1;
	sw_auth_new_token("swt_", secret, sizeof(secret));
	sw_auth_new_id("tok-", id, sizeof(id));
	sw_auth_token_hash(secret, hash);
	sw_clock_format_utc(sw_clock_wall_ms(), now, sizeof(now));
	rec = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "name", name, "role", sw_role_name(role), "hash", hash,
			"created", now);
	snprintf(subject, sizeof(subject), "token/%s", id);
	sw_server_lock(s);
	if (sw_store_begin(s->store, err) == 0) {
		if (sw_store_token_create(s->store, rec, err) == 0 &&
		    sw_api_event(a, "token.created", subject,
				 json_pack("{s:s, s:s, s:s}", "id", id, "name", name, "role", sw_role_name(role)),
				 err) == 0 &&
		    sw_store_commit(s->store, err) == 0)
			rc = 0;
		else
			sw_store_rollback(s->store);
	}
	sw_server_unlock(s);
	json_decref(rec);
	if (rc < 0) {
		sodium_memzero(secret, sizeof(secret));
		return -1;
	}
	sw_server_notify(s);
	out = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "name", name, "role", sw_role_name(role), "created", now,
			"token", secret);
	sodium_memzero(secret, sizeof(secret));
	return sw_api_reply(a, 201, out);
}

int sw_api_token_list(struct sw_api *a, struct sw_err *err)
{
	json_t *arr = NULL, *t;
	size_t i;
	int rc;

	sw_server_lock(a->srv);
	rc = sw_store_token_list(a->srv->store, &arr, err);
	sw_server_unlock(a->srv);
	if (rc < 0)
		return -1;
	json_array_foreach(arr, i, t)
	{
		json_object_del(t, "hash");
	}
	return sw_api_reply(a, 200, arr);
}

int sw_api_token_revoke(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	const char *id = sw_route_param(&a->params, "id");
	char subject[SW_ROUTE_PARAM_MAX + 8];
	int rc = -1;

	snprintf(subject, sizeof(subject), "token/%s", id);
	sw_server_lock(s);
	if (sw_store_begin(s->store, err) == 0) {
		if (sw_store_token_revoke(s->store, id, err) == 0 &&
		    sw_api_event(a, "token.revoked", subject, json_pack("{s:s}", "id", id), err) == 0 &&
		    sw_store_commit(s->store, err) == 0)
			rc = 0;
		else
			sw_store_rollback(s->store);
	}
	sw_server_unlock(s);
	if (rc < 0)
		return -1;
	sw_server_notify(s);
	return sw_api_reply(a, 200, json_pack("{s:s, s:b}", "id", id, "revoked", 1));
}

int sw_api_join_create(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	char secret[SW_TOKEN_MAX], hash[SW_SHA256_HEX], expires[SW_TIME_STR_MAX];
	char token[SW_TOKEN_MAX + 1 + SW_TLS_PIN_URL_LEN + 1];
	const json_t *labels;
	const char *replace;
	uint64_t ttl_ms;
	int64_t expires_ms;
	json_t *l, *out, *ev;
	int rc = -1;

	if (sw_val_join_create(a->body, &labels, &replace, &ttl_ms, err) < 0)
		return -1;
	l = labels ? json_deep_copy(labels) : json_object();
	expires_ms = sw_clock_wall_ms() + (int64_t)ttl_ms;
	sw_clock_format_utc(expires_ms, expires, sizeof(expires));
	sw_auth_new_token("swj_", secret, sizeof(secret));
	sw_auth_token_hash(secret, hash);
	ev = json_pack("{s:s, s:O}", "expires", expires, "labels", l);
	if (replace)
		json_object_set_new(ev, "replace", json_string(replace));
	sw_server_lock(s);
	if (sw_store_begin(s->store, err) == 0) {
		if ((!replace || sw_api_replace_check(s->store, replace, err) == 0) &&
		    sw_store_join_create(s->store, hash, l, replace, expires_ms, err) == 0 &&
		    sw_api_event(a, "join_token.created", "", json_incref(ev), err) == 0 &&
		    sw_store_commit(s->store, err) == 0)
			rc = 0;
		else
			sw_store_rollback(s->store);
	}
	sw_server_unlock(s);
	json_decref(ev);
	if (rc < 0) {
		json_decref(l);
		sodium_memzero(secret, sizeof(secret));
		return -1;
	}
	sw_server_notify(s);
	/* Over TLS the token carries the server's pin (base/tls.h), so that the agent trusts this server at once. */
	if (!s->tls_on)
		sw_strlcpy(token, secret, sizeof(token));
	else if (sw_tls_join_compose(secret, s->tls.pin_hash, token, sizeof(token)) < 0)
		sw_die("join token buffer too small");
	out = json_pack("{s:s, s:s, s:I, s:o}", "token", token, "expires", expires, "expires_ms", (json_int_t)expires_ms,
			"labels", l);
	if (replace)
		json_object_set_new(out, "replace", json_string(replace));
	if (s->tls_on)
		json_object_set_new(out, "pin", json_string(s->tls.pin));
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(token, sizeof(token));
	return sw_api_reply(a, 201, out);
}
