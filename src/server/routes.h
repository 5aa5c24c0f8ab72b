/*
 * routes.h - THE route table of the HTTP API: method, path pattern with
 * {params}, who may call it, how its body is taken, the handler, and the
 * request/response summaries. The router (sw_route_find), the
 * authorization check (server/auth) and docs/api.md
 * (sw_routes_markdown, printed by `slipway server --routes-markdown`) all
 * come from it, so they cannot drift apart.
 *
 * Patterns are absolute paths whose segments are literals or "{name}"; a
 * parameter matches one non-empty segment (at most SW_ROUTE_PARAM_MAX - 1
 * bytes, no '/'). Matching is exact (no trailing '/'); the first route in
 * table order whose pattern and method match wins.
 *
 * Ownership: the table is static; struct sw_route_params holds copies.
 * Calls base/ and server/api.h (handler prototypes) only.
 */
#ifndef SW_SERVER_ROUTES_H
#define SW_SERVER_ROUTES_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

/* Who may call a route (checked by server/auth). */
enum sw_access {
	SW_ACCESS_PUBLIC,          /* no token */
	SW_ACCESS_VIEWER,          /* API token, role viewer or above */
	SW_ACCESS_DEPLOYER,        /* API token, role deployer or above */
	SW_ACCESS_ADMIN,           /* API token, role admin */
	SW_ACCESS_AGENT,           /* host token ("swh_...") only */
	SW_ACCESS_VIEWER_OR_AGENT, /* either of the two */
	SW_ACCESS_JOIN,            /* no bearer token: a one-time join token in the body */
};

enum sw_route_body {
	SW_ROUTE_BODY_NONE, /* any body is read (up to 1 MiB) and ignored */
	SW_ROUTE_BODY_JSON, /* a JSON object, up to 1 MiB; may be empty when every field is optional */
	SW_ROUTE_BODY_FILE, /* raw bytes streamed to a file (release uploads, up to 1 GiB) */
};

struct sw_api;
typedef int (*sw_route_fn)(struct sw_api *a, struct sw_err *err);

struct sw_route {
	const char *method;
	const char *pattern;
	enum sw_access access;
	enum sw_route_body body;
	sw_route_fn fn;
	const char *request;  /* body fields / query arguments, for docs */
	const char *response; /* the answer, for docs */
	const char *summary;
};

#define SW_ROUTE_MAX_PARAMS 4
#define SW_ROUTE_PARAM_MAX 256
#define SW_ROUTE_NAME_MAX 32

struct sw_route_params {
	size_t n;
	char name[SW_ROUTE_MAX_PARAMS][SW_ROUTE_NAME_MAX];
	char value[SW_ROUTE_MAX_PARAMS][SW_ROUTE_PARAM_MAX];
};

enum sw_route_result {
	SW_ROUTE_FOUND = 0,
	SW_ROUTE_NO_PATH = -1,   /* 404 */
	SW_ROUTE_NO_METHOD = -2, /* 405: the path exists with other methods */
};

extern const struct sw_route sw_routes[];
extern const size_t sw_route_count;

/* Match method + path in table (sw_routes for the server; tests pass their own). */
enum sw_route_result sw_route_match(const struct sw_route *table, size_t n, const char *method, const char *path,
				    const struct sw_route **route, struct sw_route_params *params);
enum sw_route_result sw_route_find(const char *method, const char *path, const struct sw_route **route,
				   struct sw_route_params *params);
/* The value of {name}, or NULL. */
const char *sw_route_param(const struct sw_route_params *p, const char *name);
/* "none", "viewer", "deployer", "admin", "agent", "viewer or agent", "join token" */
const char *sw_access_name(enum sw_access a);
/* docs/api.md, generated from the table. */
int sw_routes_markdown(struct sw_buf *out);

#endif
