/*
 * api.c - request dispatch for the HTTP API (see api.h): route, authorize,
 * take the body, call the handler, log; plus the health route.
 */
#include "server/api.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/validate.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SW_VERSION
#define SW_VERSION "0.1.0-dev"
#endif

int sw_api_reply(struct sw_api *a, unsigned status, json_t *body)
{
	sw_http_reply_json(a->req, status, body);
	return 0;
}

int sw_api_event(struct sw_api *a, const char *kind, const char *subject, json_t *payload, struct sw_err *err)
{
	const char *actor = a->who.actor[0] ? a->who.actor : "server";
	int rc = sw_store_append(a->srv->store, actor, kind, subject, payload, NULL, err);

	json_decref(payload);
	return rc;
}

int sw_api_health(struct sw_api *a, struct sw_err *err)
{
	(void)err;
	return sw_api_reply(a, 200, json_pack("{s:b, s:s}", "ok", 1, "version", SW_VERSION));
}

void sw_api_begin(void *ctx, struct sw_http_req *r)
{
	struct sw_server *srv = ctx;
	struct sw_err err = SW_ERR_INIT;
	struct sw_api *a = sw_xcalloc(1, sizeof(*a));
	char token[SW_TOKEN_MAX];
	enum sw_route_result m;
	const char *authz;
	size_t authz_len = 0;
	int rc;

	a->srv = srv;
	a->req = r;
	r->app = a;
	m = sw_route_find(r->method, r->path, &a->route, &a->params);
	if (m == SW_ROUTE_NO_PATH) {
		sw_http_reply_status(r, 404, "not_found", "no such API path", NULL);
		return;
	}
	if (m == SW_ROUTE_NO_METHOD) {
		char msg[128];

		snprintf(msg, sizeof(msg), "method %.16s is not allowed on this path", r->method);
		sw_http_reply_status(r, 405, "method_not_allowed", msg, NULL);
		return;
	}
	if (a->route->access != SW_ACCESS_PUBLIC && a->route->access != SW_ACCESS_JOIN) {
		authz = sw_http_header_n(r, "Authorization", &authz_len);
		if (sw_auth_bearer(authz, authz_len, token, sizeof(token), &err) < 0) {
			sw_http_reply_error(r, &err);
			return;
		}
		sw_server_lock(srv);
		rc = sw_auth_resolve(srv->store, token, &a->who, &err);
		sw_server_unlock(srv);
		explicit_bzero(token, sizeof(token));
		if (rc < 0 || sw_auth_check(a->route->access, &a->who, &err) < 0) {
			sw_http_reply_error(r, &err);
			return;
		}
	}
	if (a->route->body == SW_ROUTE_BODY_FILE) {
		if (sw_api_release_prepare(a, &err) < 0)
			sw_http_reply_error(r, &err);
		return;
	}
	r->body_max = SW_HTTP_JSON_MAX;
}

void sw_api_handle(void *ctx, struct sw_http_req *r)
{
	struct sw_api *a = r->app;
	struct sw_err err = SW_ERR_INIT;

	(void)ctx;
	if (!a || !a->route) {
		sw_http_reply_status(r, 500, "internal", "request without a route", NULL);
		return;
	}
	if (a->route->body == SW_ROUTE_BODY_JSON && sw_val_body(r->body.data ? r->body.data : "", r->body.len, &a->body,
								  &err) < 0) {
		sw_http_reply_error(r, &err);
		return;
	}
	if (a->route->fn(a, &err) < 0) {
		if (err.code == SW_OK)
			sw_err_set(&err, SW_EINTERNAL, "handler failed without a message");
		if (err.code == SW_EIO || err.code == SW_EINTERNAL || err.code == SW_EFAILED)
			sw_error("request %s %s %s failed: %s", r->id, r->method, r->path, err.msg);
		sw_http_reply_error(r, &err);
	}
}

/* The path for a log line: bounded, control characters and spaces replaced. */
static const char *sw_api_log_path(const char *path, char *out, size_t size)
{
	size_t i;

	for (i = 0; path && path[i] && i + 1 < size; i++)
		out[i] = (unsigned char)path[i] <= 0x20 || path[i] == 0x7f || path[i] == '"' ? '?' : path[i];
	out[i] = '\0';
	return out;
}

void sw_api_finish(void *ctx, struct sw_http_req *r)
{
	struct sw_api *a = r->app;
	uint64_t ms = sw_clock_mono_ms() - r->start_ms;
	char path[256];
	int quiet;

	(void)ctx;
	/* Agents talk every second: their routine traffic is debug-level noise. */
	quiet = a && a->route && a->route->access == SW_ACCESS_AGENT && r->status >= 200 && r->status < 300;
	sw_log(quiet ? SW_LOG_DEBUG : SW_LOG_INFO, "request id=%s method=%s path=%s status=%u ms=%llu who=%s", r->id,
	       r->method, sw_api_log_path(r->path, path, sizeof(path)), r->status, (unsigned long long)ms,
	       a && a->who.actor[0] ? a->who.actor : "-");
	if (!a)
		return;
	if (a->polling)
		sw_server_poll_end(a->srv);
	if (a->upload_tmp[0])
		unlink(a->upload_tmp);
	json_decref(a->body);
	free(a);
	r->app = NULL;
}
