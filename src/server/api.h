/*
 * api.h - what the API handlers (server/api_*.c) share: the per-request
 * context, the dispatch hooks given to server/http, and the handlers the
 * route table (routes.c) points at.
 *
 * Dispatch (api.c): begin finds the route (404 / 405), authenticates and
 * checks access (401 / 403) before any body is read, and for file routes
 * opens the upload's temporary file; handle parses a JSON body (400) and
 * calls the handler; finish logs the request and removes a temporary file
 * that was not kept.
 *
 * A handler returns 0 after replying (sw_api_reply or sw_http_reply_*), or
 * -1 with err, which becomes the error reply (http.h). Handlers take the
 * store lock (sw_server_lock) around their store calls and never wait
 * while holding it.
 *
 * Ownership: struct sw_api lives for one request; a->body is freed with it.
 * Calls server/ (http, routes, auth, validate), store/, rollout/controller.h, release/, base/.
 */
#ifndef SW_SERVER_API_H
#define SW_SERVER_API_H

#include <jansson.h>
#include <limits.h>

#include "base/err.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/routes.h"
#include "server/server.h"

struct sw_api {
	struct sw_server *srv;
	struct sw_http_req *req;
	const struct sw_route *route;
	struct sw_route_params params;
	struct sw_principal who;
	json_t *body;                 /* parsed JSON body (object) or NULL */
	char upload_tmp[PATH_MAX];    /* file routes: the temporary file, removed in finish unless kept */
	char upload_name[64];         /* file routes: the release file name */
	int polling;                  /* a long-poll: counted until its answer went out (finish) */
};

/* The hooks for sw_http_start; ctx is the struct sw_server. */
void sw_api_begin(void *ctx, struct sw_http_req *r);
void sw_api_handle(void *ctx, struct sw_http_req *r);
void sw_api_finish(void *ctx, struct sw_http_req *r);

/* Reply with JSON (stolen). Returns 0. */
int sw_api_reply(struct sw_api *a, unsigned status, json_t *body);
/* Append one event as the caller (store lock held; inside or outside a transaction). payload is stolen. */
int sw_api_event(struct sw_api *a, const char *kind, const char *subject, json_t *payload, struct sw_err *err);

/* api_misc (api.c) */
int sw_api_health(struct sw_api *a, struct sw_err *err);
/* api_tokens.c */
int sw_api_token_create(struct sw_api *a, struct sw_err *err);
int sw_api_token_list(struct sw_api *a, struct sw_err *err);
int sw_api_token_revoke(struct sw_api *a, struct sw_err *err);
int sw_api_join_create(struct sw_api *a, struct sw_err *err);
/* 0 when a join token may be made to replace the host called name: it is enrolled and not revoked (lock held). */
int sw_api_replace_check(struct sw_store *st, const char *name, struct sw_err *err);
/* api_hosts.c */
int sw_api_hosts_list(struct sw_api *a, struct sw_err *err);
int sw_api_host_revoke(struct sw_api *a, struct sw_err *err);
int sw_api_host_labels(struct sw_api *a, struct sw_err *err);
/* api_agent.c */
int sw_api_agent_enroll(struct sw_api *a, struct sw_err *err);
int sw_api_agent_desired(struct sw_api *a, struct sw_err *err);
int sw_api_agent_status(struct sw_api *a, struct sw_err *err);
/* api_releases.c */
int sw_api_release_prepare(struct sw_api *a, struct sw_err *err); /* begin of a file upload */
int sw_api_release_put(struct sw_api *a, struct sw_err *err);
int sw_api_release_get(struct sw_api *a, struct sw_err *err);
int sw_api_release_list(struct sw_api *a, struct sw_err *err);
int sw_api_release_commit(struct sw_api *a, struct sw_err *err);
int sw_api_release_download(struct sw_api *a, struct sw_err *err);
/* Remove uploads not committed and not written for s->upload_timeout_ms (see api_releases.c). */
void sw_api_release_sweep(struct sw_server *s);
/* Thread body: sw_api_release_sweep() every upload_timeout/4 (50 ms .. 1 min) until s->stopping. */
void *sw_api_release_sweeper(void *server);
/* api_deploy.c */
int sw_api_deploy_create(struct sw_api *a, struct sw_err *err);
int sw_api_deploy_list(struct sw_api *a, struct sw_err *err);
int sw_api_deploy_get(struct sw_api *a, struct sw_err *err);
int sw_api_deploy_measurements(struct sw_api *a, struct sw_err *err);
int sw_api_deploy_abort(struct sw_api *a, struct sw_err *err);
int sw_api_deploy_verb(struct sw_api *a, struct sw_err *err);
int sw_api_rollback(struct sw_api *a, struct sw_err *err);
/* api_logs.c */
int sw_api_host_logs(struct sw_api *a, struct sw_err *err);
int sw_api_agent_logs(struct sw_api *a, struct sw_err *err);
/* api_events.c */
int sw_api_events(struct sw_api *a, struct sw_err *err);

#endif
