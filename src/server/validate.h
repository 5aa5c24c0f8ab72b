/*
 * validate.h - checking the JSON bodies and query arguments of the HTTP
 * API before a handler acts on them. Every failure is SW_EINPUT (HTTP 400)
 * with a message naming the field and err->where set to the field's name
 * ("ports", "services[2].slot"); a body that is not JSON names the
 * position ("invalid JSON at line 1, column 7: ...", where empty).
 *
 * Bodies (routes.h has them per route):
 *   token create   {name?: 0..128 printable, role: admin|deployer|viewer}
 *   join create    {labels?: {k: v}, ttl?: duration 1s..7d (default 1h)}
 *   enroll         {join_token, name (host name), labels?, ports: [A, B], address?}
 *   agent status   {generation >= 0, services: [{service, slot a|b, digest,
 *                   state, port?, pid?, message?, active?}], disk_free_bytes?,
 *                   address?}
 *   host labels    {set?: {k: v}, remove?: [k]}: at least one change, a key
 *                  not in both
 * Addresses: base/netaddr.h (IPv4, IPv6, DNS name).
 *   deploy         {service, env, digest (64 hex)}
 *   rollback       {service, env, emergency?, to?: version | digest | digest
 *                   prefix (1..128 of A-Z a-z 0-9 . _ + - :), reason?: 0..512}
 *   abort          {reason?}
 *   agent logs     {id, service, slot, offset, next_offset, size, data,
 *                   restarted?, more?} or {id, error: {code, message}}
 * Query arguments: integers in a range (sw_val_query_int); the log query
 * of GET /api/v1/hosts/{host}/logs (sw_val_logs_query).
 * User-facing bodies refuse unknown fields; agent bodies ignore them (newer
 * agents may send more). Labels: at most 32, keys 1..63 of [A-Za-z0-9._/-],
 * values 0..128 printable. Names (hosts, services, envs): 1..63 of
 * [A-Za-z0-9._-], not starting with '.' or '-'.
 *
 * Values returned as const char * borrow from the body. Calls jansson,
 * base/ and server/auth.h (roles). Fuzzed by tests/fuzz/fuzz_api.c.
 */
#ifndef SW_SERVER_VALIDATE_H
#define SW_SERVER_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "server/auth.h"

#define SW_VAL_LABELS_MAX 32
#define SW_VAL_SERVICES_MAX 256
#define SW_VAL_TTL_DEFAULT_MS ((uint64_t)3600 * 1000)
#define SW_VAL_TTL_MAX_MS ((uint64_t)7 * 24 * 3600 * 1000)

/* Parse a body that must be a JSON object (empty allowed: *out = NULL). */
int sw_val_body(const char *data, size_t len, json_t **out, struct sw_err *err);
/* Set a field error: SW_EINPUT, where = field. Returns -1. */
int sw_val_fail(struct sw_err *err, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int sw_val_name_ok(const char *s);
int sw_val_labels(const json_t *labels, const char *field, struct sw_err *err);
/* A query argument as an integer in [min, max]; missing -> def. */
int sw_val_query_int(const char *s, const char *field, int64_t min, int64_t max, int64_t def, int64_t *out,
		     struct sw_err *err);

int sw_val_token_create(const json_t *b, const char **name, enum sw_role *role, struct sw_err *err);
/* {labels?, ttl?, replace?}: replace (a host name, or NULL) lets the token take over that enrolled host. */
int sw_val_join_create(const json_t *b, const json_t **labels, const char **replace, uint64_t *ttl_ms,
		       struct sw_err *err);

struct sw_val_enroll {
	const char *join_token, *name;
	const json_t *labels; /* object or NULL */
	int ports[2];
	const char *address; /* or NULL */
};
int sw_val_enroll(const json_t *b, struct sw_val_enroll *out, struct sw_err *err);
/* *address: the report's address, or NULL when it has none. */
int sw_val_agent_status(const json_t *b, int64_t *generation, const char **address, struct sw_err *err);
/* The body of a label change: set (object of labels or NULL), remove (array of keys or NULL). */
int sw_val_host_labels(const json_t *b, const json_t **set, const json_t **remove, struct sw_err *err);
int sw_val_deploy(const json_t *b, const char **service, const char **env, const char **digest, struct sw_err *err);
/* {service, env, emergency?, to?, reason?}: emergency (a boolean) is false when absent; to and reason NULL. */
struct sw_val_rollback {
	const char *service, *env;
	const char *to;     /* the release asked for, or NULL: the previous good one */
	const char *reason; /* or NULL */
	bool emergency;
};
int sw_val_rollback(const json_t *b, struct sw_val_rollback *out, struct sw_err *err);
/* {reason?, emergency?}: emergency (a boolean) is false when absent. */
int sw_val_abort(const json_t *b, const char **reason, bool *emergency, struct sw_err *err);
/* The body of a manual verb: {reason?: string (pause, abort), full?: boolean (promote)}. */
int sw_val_verb(const json_t *b, const char **reason, bool *full, struct sw_err *err);

/*
 * GET /api/v1/hosts/{host}/logs: the query arguments as received (NULL when
 * absent), checked: service (a name), slot (a|b), offset (>= 0; absent: a
 * tail), lines (1..1000, default 20), max_bytes (1..65536, default 65536),
 * wait (seconds 1..30, default 10).
 */
#define SW_VAL_LOG_LINES_MAX 1000
#define SW_VAL_LOG_LINES_DEFAULT 20
#define SW_VAL_LOG_BYTES_MAX 65536
#define SW_VAL_LOG_WAIT_MAX_S 30
#define SW_VAL_LOG_WAIT_DEFAULT_S 10
struct sw_val_logs_args {
	const char *service, *slot, *offset, *lines, *max_bytes, *wait;
};
struct sw_val_logs_query {
	const char *service; /* NULL: the host's only service */
	char slot;           /* 0: the active slot */
	int64_t offset;      /* -1: a tail */
	unsigned lines, max_bytes, wait_s;
};
int sw_val_logs_query(const struct sw_val_logs_args *in, struct sw_val_logs_query *q, struct sw_err *err);
/*
 * POST /api/v1/agent/logs: {id >= 1, service, slot, offset, next_offset >=
 * offset, size, data (at most 65536 bytes), restarted?, more?} or {id,
 * error: {code: not_found|bad_request|failed, message (1..1024)}}. *answer
 * gets a new object with only those fields (the caller's).
 */
int sw_val_agent_logs(const json_t *b, int64_t *id, json_t **answer, struct sw_err *err);

#endif
