/*
 * auth.c - bearer tokens, roles and the access check (see auth.h).
 */
#include "server/auth.h"
#include "base/buf.h"
#include "base/json.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>

int sw_role_parse(const char *s, enum sw_role *role)
{
	if (!s)
		return -1;
	if (!strcmp(s, "viewer"))
		*role = SW_ROLE_VIEWER;
	else if (!strcmp(s, "deployer"))
		*role = SW_ROLE_DEPLOYER;
	else if (!strcmp(s, "admin"))
		*role = SW_ROLE_ADMIN;
	else
		return -1;
	return 0;
}

const char *sw_role_name(enum sw_role role)
{
	switch (role) {
	case SW_ROLE_VIEWER:
		return "viewer";
	case SW_ROLE_DEPLOYER:
		return "deployer";
	case SW_ROLE_ADMIN:
		return "admin";
	default:
		return "none";
	}
}

int sw_auth_bearer(const char *header, size_t len, char *token, size_t size, struct sw_err *err)
{
	const char *p, *end;
	size_t n;

	if (!header || len == 0)
		return sw_err_set(err, SW_EAUTH, "missing bearer token");
	if (memchr(header, '\0', len))
		return sw_err_set(err, SW_EAUTH, "authorization header contains a NUL byte");
	if (len < 7 || strncasecmp(header, "Bearer ", 7))
		return sw_err_set(err, SW_EAUTH, "authorization header must be 'Bearer <token>'");
	p = header + 7;
	end = header + len;
	while (p < end && *p == ' ')
		p++;
	n = (size_t)(end - p);
	while (n > 0 && p[n - 1] == ' ')
		n--;
	if (n == 0)
		return sw_err_set(err, SW_EAUTH, "missing bearer token");
	if (n >= size || n >= SW_TOKEN_MAX)
		return sw_err_set(err, SW_EAUTH, "unknown token");
	memcpy(token, p, n);
	token[n] = '\0';
	return 0;
}

int sw_auth_resolve(struct sw_store *st, const char *token, struct sw_principal *who, struct sw_err *err)
{
	char hash[SW_SHA256_HEX];
	const char *v;
	json_t *rec = NULL;
	struct sw_err e2 = SW_ERR_INIT;

	memset(who, 0, sizeof(*who));
	sw_auth_token_hash(token, hash);
	if (!strncmp(token, "swh_", 4)) {
		if (sw_store_host_lookup_token(st, hash, &rec, &e2) < 0) {
			if (e2.code == SW_ENOTFOUND)
				return sw_err_set(err, SW_EAUTH, "unknown host token");
			if (err)
				*err = e2;
			return -1;
		}
		if (json_is_true(json_object_get(rec, "revoked"))) {
			json_decref(rec);
			return sw_err_set(err, SW_EAUTH, "host identity revoked");
		}
		who->kind = SW_PRINCIPAL_HOST;
		sw_strlcpy(who->id, sw_json_str(rec, "id") ? sw_json_str(rec, "id") : "", sizeof(who->id));
		sw_strlcpy(who->name, sw_json_str(rec, "name") ? sw_json_str(rec, "name") : "", sizeof(who->name));
		sw_snprintf(who->actor, sizeof(who->actor), "agent:%s", who->name);
		json_decref(rec);
		return 0;
	}
	if (sw_store_token_lookup(st, hash, &rec, &e2) < 0) {
		if (e2.code == SW_ENOTFOUND)
			return sw_err_set(err, SW_EAUTH, "unknown token");
		if (err)
			*err = e2;
		return -1;
	}
	if (json_is_true(json_object_get(rec, "revoked"))) {
		json_decref(rec);
		return sw_err_set(err, SW_EAUTH, "token revoked");
	}
	who->kind = SW_PRINCIPAL_USER;
	if (sw_role_parse(sw_json_str(rec, "role"), &who->role) < 0) {
		json_decref(rec);
		return sw_err_set(err, SW_EINTEGRITY, "token has an unknown role");
	}
	sw_strlcpy(who->id, sw_json_str(rec, "id") ? sw_json_str(rec, "id") : "", sizeof(who->id));
	v = sw_json_str(rec, "name");
	sw_strlcpy(who->name, v ? v : "", sizeof(who->name));
	if (v && *v)
		sw_strlcpy(who->actor, v, sizeof(who->actor));
	else
		sw_snprintf(who->actor, sizeof(who->actor), "token:%s", who->id);
	json_decref(rec);
	return 0;
}

static enum sw_role sw_access_role(enum sw_access a)
{
	switch (a) {
	case SW_ACCESS_VIEWER:
	case SW_ACCESS_VIEWER_OR_AGENT:
		return SW_ROLE_VIEWER;
	case SW_ACCESS_DEPLOYER:
		return SW_ROLE_DEPLOYER;
	case SW_ACCESS_ADMIN:
		return SW_ROLE_ADMIN;
	default:
		return SW_ROLE_NONE;
	}
}

int sw_auth_check(enum sw_access access, const struct sw_principal *who, struct sw_err *err)
{
	enum sw_role need = sw_access_role(access);

	if (access == SW_ACCESS_PUBLIC || access == SW_ACCESS_JOIN)
		return 0;
	if (!who || who->kind == SW_PRINCIPAL_NONE)
		return sw_err_set(err, SW_EAUTH, "missing bearer token");
	if (access == SW_ACCESS_AGENT) {
		if (who->kind != SW_PRINCIPAL_HOST)
			return sw_err_set(err, SW_EDENIED, "this route takes a host token, not an API token");
		return 0;
	}
	if (who->kind == SW_PRINCIPAL_HOST) {
		if (access == SW_ACCESS_VIEWER_OR_AGENT)
			return 0;
		return sw_err_set(err, SW_EDENIED, "host tokens may only call agent routes");
	}
	if (who->role < need)
		return sw_err_set(err, SW_EDENIED, "role '%s' may not do this (needs '%s')", sw_role_name(who->role),
				  sw_role_name(need));
	return 0;
}

void sw_auth_new_token(const char *prefix, char *out, size_t size)
{
	unsigned char raw[32];
	char b64[64];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	sw_snprintf(out, size, "%s%s", prefix, b64);
	sodium_memzero(b64, sizeof(b64));
}

void sw_auth_new_id(const char *prefix, char *out, size_t size)
{
	unsigned char raw[8];
	char hex[17];

	randombytes_buf(raw, sizeof(raw));
	sw_hex_encode(raw, sizeof(raw), hex);
	sw_snprintf(out, size, "%s%s", prefix, hex);
}

void sw_auth_token_hash(const char *token, char hex[SW_SHA256_HEX])
{
	sw_sha256_hex(token, strlen(token), hex);
}
