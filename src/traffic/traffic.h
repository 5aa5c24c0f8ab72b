/*
 * traffic.h - the backend-neutral traffic seam: struct sw_traffic_ops.
 *
 * A load balancer that Slipway shifts traffic through (HAProxy through its
 * runtime API now, nginx through a config file + reload later) implements
 * these ops; rollout strategies (blue/green, canary) and the analysis
 * providers talk only to struct sw_traffic and never to a backend directly.
 * A backend object embeds struct sw_traffic as its first member (see
 * struct sw_haproxy) so that one pointer serves both views.
 *
 * Words: a "backend" is the pool of servers that one service's traffic is
 * spread over (HAProxy backend, nginx upstream); a "server" is one member of
 * it (one host:port of one release).
 *
 *   op           what it does                                   errors
 *   set_weight   one server's weight, 0..SW_TRAFFIC_WEIGHT_MAX  SW_EINPUT bad name or weight,
 *   set_weights  several servers of one backend, then reads     SW_EFAILED the balancer refused
 *                every weight back; *bad = index of the first   or did not take it, SW_EIO /
 *                server that did not take its weight            SW_ETIMEOUT transport
 *   set_state    admin state ready | drain | maint
 *   servers      every server of a backend: weights, admin state, health
 *   stats        per-server counters (sessions, responses, timings)
 *
 * servers() and stats() copy every string into the caller's arena: the
 * results live until sw_arena_release(). Nothing else is allocated.
 * Calls only base/.
 */
#ifndef SW_TRAFFIC_H
#define SW_TRAFFIC_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"

#define SW_TRAFFIC_WEIGHT_MAX 256u
/* A counter or time the balancer did not report. */
#define SW_TRAFFIC_NONE (-1)

enum sw_traffic_state {
	SW_TRAFFIC_READY, /* takes new traffic */
	SW_TRAFFIC_DRAIN, /* finishes what it has, gets no new sessions */
	SW_TRAFFIC_MAINT  /* out of rotation */
};

enum sw_traffic_health {
	SW_TRAFFIC_HEALTH_UNKNOWN,
	SW_TRAFFIC_HEALTH_UP,       /* running: checks pass, or no checks */
	SW_TRAFFIC_HEALTH_DOWN,     /* stopped: checks fail, or in maintenance */
	SW_TRAFFIC_HEALTH_STARTING, /* coming up (slowstart) */
	SW_TRAFFIC_HEALTH_STOPPING  /* going down (checks failing, not yet down) */
};

struct sw_traffic_weight {
	const char *server;
	unsigned weight; /* 0..SW_TRAFFIC_WEIGHT_MAX */
};

/* One server as the balancer sees it. Strings live in the caller's arena. */
struct sw_traffic_server {
	const char *name;
	const char *addr;          /* "127.0.0.1:8081", or "" */
	unsigned weight;           /* current weight */
	unsigned initial_weight;   /* weight from the balancer's configuration */
	enum sw_traffic_state state;
	enum sw_traffic_health health;
	int checked;               /* 1 if the balancer runs health checks on it */
};

/*
 * Counters of one server since the balancer started (or its counters were
 * cleared). Times are averages over the balancer's last requests, in ms.
 * SW_TRAFFIC_NONE where the balancer reports nothing.
 */
struct sw_traffic_stats {
	const char *name;
	const char *status;        /* balancer's words: "UP", "DOWN", "DRAIN", "MAINT", "no check", "UP 1/3" */
	const char *check_status;  /* "L4OK", "L7STS", "L4CON", ... or "" */
	int64_t weight;
	int64_t scur;              /* current sessions */
	int64_t stot;              /* total sessions */
	int64_t hrsp_1xx, hrsp_2xx, hrsp_3xx, hrsp_4xx, hrsp_5xx, hrsp_other;
	int64_t econ, eresp;       /* connection and response errors */
	int64_t qtime, ctime, rtime, ttime;
};

struct sw_traffic;

struct sw_traffic_ops {
	const char *name; /* "haproxy", "nginx" */
	int (*set_weight)(struct sw_traffic *t, const char *backend, const char *server,
			  unsigned weight, struct sw_err *err);
	int (*set_weights)(struct sw_traffic *t, const char *backend,
			   const struct sw_traffic_weight *w, size_t n, size_t *bad, struct sw_err *err);
	int (*set_state)(struct sw_traffic *t, const char *backend, const char *server,
			 enum sw_traffic_state state, struct sw_err *err);
	int (*servers)(struct sw_traffic *t, const char *backend, struct sw_arena *a,
		       struct sw_traffic_server **out, size_t *n, struct sw_err *err);
	int (*stats)(struct sw_traffic *t, const char *backend, struct sw_arena *a,
		     struct sw_traffic_stats **out, size_t *n, struct sw_err *err);
};

/* Embedded first in every backend object. */
struct sw_traffic {
	const struct sw_traffic_ops *ops;
};

/* Dispatch helpers: sw_traffic_set_weight(t, ...) is t->ops->set_weight(t, ...). */
int sw_traffic_set_weight(struct sw_traffic *t, const char *backend, const char *server,
			  unsigned weight, struct sw_err *err);
int sw_traffic_set_weights(struct sw_traffic *t, const char *backend,
			   const struct sw_traffic_weight *w, size_t n, size_t *bad, struct sw_err *err);
int sw_traffic_set_state(struct sw_traffic *t, const char *backend, const char *server,
			 enum sw_traffic_state state, struct sw_err *err);
int sw_traffic_servers(struct sw_traffic *t, const char *backend, struct sw_arena *a,
		       struct sw_traffic_server **out, size_t *n, struct sw_err *err);
int sw_traffic_stats(struct sw_traffic *t, const char *backend, struct sw_arena *a,
		     struct sw_traffic_stats **out, size_t *n, struct sw_err *err);

/* "ready", "drain", "maint". */
const char *sw_traffic_state_name(enum sw_traffic_state state);
/* Inverse of the above; -1 for anything else (len bytes of s, no NUL needed). */
int sw_traffic_state_parse(const char *s, size_t len, enum sw_traffic_state *out);
/* "unknown", "up", "down", "starting", "stopping". */
const char *sw_traffic_health_name(enum sw_traffic_health health);
/* Linear lookups by server name; NULL if absent. */
const struct sw_traffic_server *sw_traffic_find_server(const struct sw_traffic_server *s, size_t n,
							const char *name);
const struct sw_traffic_stats *sw_traffic_find_stats(const struct sw_traffic_stats *s, size_t n,
						      const char *name);

#endif
