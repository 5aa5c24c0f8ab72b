/*
 * store.h - the persistent store: events (hash-chained) and the records
 * derived from them, behind one ops struct so that SQLite (default,
 * store/sqlite.c) and PostgreSQL (later, store/postgres.c) are
 * interchangeable.
 *
 * URLs: "sqlite:/path/to.db", a plain path (SQLite), or "postgres://..."
 * (not built yet: refused with a clear message). The local default is
 * $SLIPWAY_HOME/slipway.db (sw_store_open_default).
 *
 * The event log (see store/eventlog.h for the hash rules):
 *   seq        int64, 1, 2, 3 ... without gaps
 *   time       UTC "YYYY-MM-DDTHH:MM:SS.mmmZ"
 *   actor      who did it ("alice@example.com", "agent:host-1", "server")
 *   kind       what happened ("pipeline.started", "release.signed", ...)
 *   subject    what it happened to ("service/hello", "run/<id>", "release/<digest>")
 *   payload    canonical JSON object (sorted keys, compact)
 *   prev_hash  hash of event seq-1 (64 zeros for seq 1)
 *   hash       SHA-256 hex over the fields above (eventlog.h)
 * Appends happen inside a transaction; several appends between
 * sw_store_begin() and sw_store_commit() land together or not at all.
 * Transactions do not nest. If an append inside the caller's transaction
 * fails, the transaction stays open and the caller rolls it back.
 *
 * Errors (struct sw_err, the same for every backend):
 *   SW_EBUSY     "database '<path>' is locked" (busy timeout passed; nothing written)
 *   SW_EIO       "cannot write to database '<path>': read-only" (file, directory or
 *                file system not writable; reads still work)
 *   SW_EINPUT    "file '<path>' is not a Slipway database", "database schema
 *                version N is newer than this slipway supports (M)" (where = path),
 *                "PostgreSQL store is not built yet", a bad URL or bad event field
 *   SW_ENOTFOUND sw_store_open_readonly() of a missing database, an unknown release
 *
 * Ownership: struct sw_event passed to a callback is borrowed for the call;
 * a store from sw_store_open*() is freed by sw_store_close().
 * Calls base/ and store/sqlite (the only file that speaks SQL).
 */
#ifndef SW_STORE_H
#define SW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

struct sw_store;

struct sw_event {
	int64_t seq;
	const char *time;
	const char *actor;
	const char *kind;
	const char *subject;
	const char *payload; /* canonical JSON text */
	const char *prev_hash;
	const char *hash;
};

typedef int (*sw_event_cb)(const struct sw_event *ev, void *ctx);

struct sw_store_ops {
	const char *name; /* "sqlite", "postgres" */
	void (*close)(struct sw_store *st);
	int (*begin)(struct sw_store *st, struct sw_err *err);
	int (*commit)(struct sw_store *st, struct sw_err *err);
	void (*rollback)(struct sw_store *st);
	/* Reads the last (seq, hash) and inserts the given row; called inside a transaction. */
	int (*last_event)(struct sw_store *st, int64_t *seq, char hash[65], struct sw_err *err);
	int (*insert_event)(struct sw_store *st, const struct sw_event *ev, struct sw_err *err);
	/*
	 * Events with seq > after, in seq order, at most limit (0: all); after ==
	 * INT64_MIN means every row, even forged ones with seq <= 0 (verification).
	 * cb returning non-zero stops the scan early; that is not an error (0).
	 */
	int (*scan_events)(struct sw_store *st, int64_t after, size_t limit, sw_event_cb cb, void *ctx,
			   struct sw_err *err);
	/*
	 * The same, restricted to the events of one subject and (kind not NULL)
	 * one kind: seq > after, in seq order, at most limit (0: all). Served
	 * by an index on (subject, seq); a callback may scan again.
	 */
	int (*scan_subject)(struct sw_store *st, const char *subject, const char *kind, int64_t after, size_t limit,
			    sw_event_cb cb, void *ctx, struct sw_err *err);
	/*
	 * Events with after < seq < before (before 0: no upper bound), of one
	 * kind when kind is not NULL, newest first, at most limit (0: all).
	 */
	int (*scan_newest)(struct sw_store *st, int64_t after, int64_t before, const char *kind, size_t limit,
			   sw_event_cb cb, void *ctx, struct sw_err *err);
	/* Releases: digest -> manifest JSON (canonical) and where the bundle lives. */
	int (*put_release)(struct sw_store *st, const char *digest, const char *service, const char *version,
			   const char *manifest_json, const char *bundle_path, struct sw_err *err);
	/* *manifest_json and *bundle_path are heap strings the caller frees; SW_ENOTFOUND if absent. */
	int (*get_release)(struct sw_store *st, const char *digest, char **manifest_json, char **bundle_path,
			   struct sw_err *err);
	/* Releases of service (NULL: all), newest recorded first: see sw_store_list_releases(). */
	int (*list_releases)(struct sw_store *st, const char *service, json_t **arr, struct sw_err *err);
	/* Fleet (store/sqlite_fleet.c): API tokens, join tokens, hosts. Records are JSON objects. */
	int (*token_create)(struct sw_store *st, const json_t *tok, struct sw_err *err);
	int (*token_lookup)(struct sw_store *st, const char *hash, json_t **tok, struct sw_err *err);
	int (*token_list)(struct sw_store *st, json_t **arr, struct sw_err *err);
	int (*token_revoke)(struct sw_store *st, const char *id, struct sw_err *err);
	int (*join_create)(struct sw_store *st, const char *hash, const json_t *labels, const char *replace,
			   int64_t expires_ms, struct sw_err *err);
	int (*join_consume)(struct sw_store *st, const char *hash, const char *host_id, int64_t now_ms,
			    json_t **labels, char *replace, size_t replace_size, struct sw_err *err);
	int (*host_create)(struct sw_store *st, const json_t *host, struct sw_err *err);
	int (*host_lookup_token)(struct sw_store *st, const char *token_hash, json_t **host, struct sw_err *err);
	int (*host_get)(struct sw_store *st, const char *id, json_t **host, struct sw_err *err);
	int (*host_list)(struct sw_store *st, json_t **arr, struct sw_err *err);
	int (*host_report)(struct sw_store *st, const char *id, int64_t now_ms, const json_t *status,
			   int64_t generation_applied, struct sw_err *err);
	int (*host_revoke)(struct sw_store *st, const char *id, struct sw_err *err);
	int (*host_set_labels)(struct sw_store *st, const char *id, const json_t *labels, struct sw_err *err);
	/* Deployments (store/sqlite_deploy.c): deployment rows and each host's desired state. */
	int (*deployment_save)(struct sw_store *st, const json_t *dep, struct sw_err *err);
	int (*deployment_get)(struct sw_store *st, const char *id, json_t **dep, struct sw_err *err);
	int (*deployment_list)(struct sw_store *st, const char *service, const char *env, int active_only,
			       size_t limit, json_t **arr, struct sw_err *err);
	int (*desired_set)(struct sw_store *st, const char *host_id, const char *service, const char *slot,
			   const json_t *want, struct sw_err *err);
	int (*desired_get)(struct sw_store *st, const char *host_id, int64_t *generation, json_t **rows,
			   struct sw_err *err);
};

struct sw_store {
	const struct sw_store_ops *ops;
	char url[512];
	int in_tx;
	int readonly; /* opened read-only (asked for, or the file/directory is not writable) */
};

/*
 * Open (creating and migrating if needed) the store at url. A database whose
 * file or directory is not writable opens read-only: reads work, writes fail
 * with "cannot write to database '...': read-only".
 */
int sw_store_open(const char *url, struct sw_store **out, struct sw_err *err);
/* $SLIPWAY_HOME/slipway.db, directory created if needed. */
int sw_store_open_default(struct sw_store **out, struct sw_err *err);
/* Open an existing store for reading only: never creates, migrates or writes. */
int sw_store_open_readonly(const char *url, struct sw_store **out, struct sw_err *err);
/* The default store URL ($SLIPWAY_HOME/slipway.db) into out; creates nothing. */
int sw_store_default_url(char *out, size_t size, struct sw_err *err);
void sw_store_close(struct sw_store *st);

int sw_store_begin(struct sw_store *st, struct sw_err *err);
int sw_store_commit(struct sw_store *st, struct sw_err *err);
void sw_store_rollback(struct sw_store *st);

/*
 * Append one event: stamps time (now, UTC), seq and the hash chain. payload
 * may be NULL ({}); it is serialised canonically and not stolen. When called
 * outside a transaction it runs in its own. *seq (if not NULL) gets the seq.
 */
int sw_store_append(struct sw_store *st, const char *actor, const char *kind, const char *subject,
		    const json_t *payload, int64_t *seq, struct sw_err *err);
/*
 * Field rules checked by sw_store_append (SW_EINPUT otherwise): actor 1..256
 * bytes, kind 1..64 bytes of [a-z0-9._-], subject 0..1024 bytes, none with
 * control characters; payload NULL or a JSON object of at most
 * SW_EVENT_PAYLOAD_MAX canonical bytes.
 */
#define SW_EVENT_ACTOR_MAX 256
#define SW_EVENT_KIND_MAX 64
#define SW_EVENT_SUBJECT_MAX 1024
#define SW_EVENT_PAYLOAD_MAX ((size_t)1 << 20)
int sw_store_scan(struct sw_store *st, int64_t after, size_t limit, sw_event_cb cb, void *ctx,
		  struct sw_err *err);
/*
 * The events of one subject ("deployment/dep-7"), of one kind when kind is
 * not NULL, with seq > after, oldest first, at most limit (0: all): a page
 * of one object's history without reading the whole log (the next page
 * starts after the last seq seen). cb returning non-zero stops early (not
 * an error). SW_EINPUT for a NULL subject or a bad after (< 0).
 */
int sw_store_scan_subject(struct sw_store *st, const char *subject, const char *kind, int64_t after, size_t limit,
			  sw_event_cb cb, void *ctx, struct sw_err *err);

/*
 * The end of the log, newest first: events with after < seq < before
 * (before 0: no upper bound; after 0: from the first), of one kind when
 * kind is not NULL, at most limit (0: all). The next page (older events)
 * is before the smallest seq seen. cb returning non-zero stops early (not
 * an error). SW_EINPUT for a negative after or before. (`audit log`, GET
 * /api/v1/events?order=newest.)
 */
int sw_store_scan_newest(struct sw_store *st, int64_t after, int64_t before, const char *kind, size_t limit,
			 sw_event_cb cb, void *ctx, struct sw_err *err);

/*
 * Record a release. Idempotent: the same digest with the same manifest again
 * is fine (the first bundle_path stays); the same digest with another
 * manifest is SW_EINTEGRITY.
 */
int sw_store_put_release(struct sw_store *st, const char *digest, const char *service, const char *version,
			 const char *manifest_json, const char *bundle_path, struct sw_err *err);
int sw_store_get_release(struct sw_store *st, const char *digest, char **manifest_json, char **bundle_path,
			 struct sw_err *err);
/*
 * The releases of service (NULL: every service), newest recorded first:
 * *arr is a new array of {digest, service, version, recorded (UTC, when the
 * store got it), manifest (the parsed release.json object)}. A version
 * names one release: callers use this to refuse a second digest under a
 * version a service already has (the table itself does not forbid it, so
 * that databases holding such pairs from before still open).
 */
int sw_store_list_releases(struct sw_store *st, const char *service, json_t **arr, struct sw_err *err);

/*
 * ---- Fleet and deployments (control plane) -------------------------------
 *
 * The store is NOT thread-safe: a process that uses one store from several
 * threads (the server) serialises every call, transactions included, with
 * its own lock. Records cross this interface as JSON objects (new
 * references the caller decrefs), so that every backend maps rows the same
 * way. Times are UTC strings, *_ms fields are ms since the epoch. Unknown
 * ids are SW_ENOTFOUND.
 *
 * token   {id, name, role: "admin"|"deployer"|"viewer", hash: sha256 hex of the
 *          secret, created, revoked: bool}         (the secret itself is never stored)
 * join    one-time enrollment token: hash, labels {}, replace (the name of an
 *         enrolled host it may take over, or NULL), expires_ms, used_at, host_id.
 *         consume marks it used atomically and gives labels and replace ("" =
 *         none); SW_EAUTH "unknown join token", "join token already used" or
 *         "join token expired".
 * host    {id, name (unique), labels {}, token_hash, ports [a, b], address
 *          ("" = not reported), enrolled, last_seen_ms, revoked: bool,
 *          status {last report}, generation_applied}. A report whose status
 *          has a string "address" also sets the host's address; set_labels
 *          replaces the labels object (revoked hosts too: the caller decides).
 * deployment {id, service, env, digest, prev_digest|null, state, reason, actor,
 *          spec {...}, plan {...}, created, updated, deadline_ms}   (save = upsert by id);
 *          read back with version and prev_version|null beside the digests (copies
 *          of spec.version and spec.prev_version, not saved from the top level)
 * desired one row per (host, service, slot "a"|"b"): want = {digest, port,
 *          active: bool, run? {...}}, NULL want removes the row. Every set bumps the
 *          host's generation; get returns it with the rows
 *          [{service, slot, digest, port, active, run?}]. The controller writes no
 *          run (agents read it from the signed release); a row that has one
 *          (an older server's) is returned with it, for the agent to check.
 */
int sw_store_token_create(struct sw_store *st, const json_t *tok, struct sw_err *err);
int sw_store_token_lookup(struct sw_store *st, const char *hash, json_t **tok, struct sw_err *err);
int sw_store_token_list(struct sw_store *st, json_t **arr, struct sw_err *err);
int sw_store_token_revoke(struct sw_store *st, const char *id, struct sw_err *err);
int sw_store_join_create(struct sw_store *st, const char *hash, const json_t *labels, const char *replace,
			 int64_t expires_ms, struct sw_err *err);
int sw_store_join_consume(struct sw_store *st, const char *hash, const char *host_id, int64_t now_ms,
			  json_t **labels, char *replace, size_t replace_size, struct sw_err *err);
int sw_store_host_create(struct sw_store *st, const json_t *host, struct sw_err *err);
int sw_store_host_lookup_token(struct sw_store *st, const char *token_hash, json_t **host, struct sw_err *err);
int sw_store_host_get(struct sw_store *st, const char *id, json_t **host, struct sw_err *err);
int sw_store_host_list(struct sw_store *st, json_t **arr, struct sw_err *err);
int sw_store_host_report(struct sw_store *st, const char *id, int64_t now_ms, const json_t *status,
			 int64_t generation_applied, struct sw_err *err);
int sw_store_host_revoke(struct sw_store *st, const char *id, struct sw_err *err);
int sw_store_host_set_labels(struct sw_store *st, const char *id, const json_t *labels, struct sw_err *err);
int sw_store_deployment_save(struct sw_store *st, const json_t *dep, struct sw_err *err);
int sw_store_deployment_get(struct sw_store *st, const char *id, json_t **dep, struct sw_err *err);
/* Newest first; service/env NULL = any; active_only: state pending|gated|progressing|paused. */
int sw_store_deployment_list(struct sw_store *st, const char *service, const char *env, int active_only,
			     size_t limit, json_t **arr, struct sw_err *err);
int sw_store_desired_set(struct sw_store *st, const char *host_id, const char *service, const char *slot,
			 const json_t *want, struct sw_err *err);
int sw_store_desired_get(struct sw_store *st, const char *host_id, int64_t *generation, json_t **rows,
			 struct sw_err *err);

/* Who is acting: $SLIPWAY_ACTOR, else $USER@hostname. Written into out. */
const char *sw_store_actor(char *out, size_t size);

#endif
