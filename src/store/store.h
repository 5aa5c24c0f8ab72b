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
 *
 * Ownership: struct sw_event passed to a callback is borrowed for the call.
 * Calls base/ and the database client libraries.
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
	/* Events with seq > after, in seq order, at most limit (0: all); cb returning non-zero stops. */
	int (*scan_events)(struct sw_store *st, int64_t after, size_t limit, sw_event_cb cb, void *ctx,
			   struct sw_err *err);
	/* Releases: digest -> manifest JSON (canonical) and where the bundle lives. */
	int (*put_release)(struct sw_store *st, const char *digest, const char *service, const char *version,
			   const char *manifest_json, const char *bundle_path, struct sw_err *err);
	/* *manifest_json and *bundle_path are heap strings the caller frees; SW_ENOTFOUND if absent. */
	int (*get_release)(struct sw_store *st, const char *digest, char **manifest_json, char **bundle_path,
			   struct sw_err *err);
};

struct sw_store {
	const struct sw_store_ops *ops;
	char url[512];
	int in_tx;
};

int sw_store_open(const char *url, struct sw_store **out, struct sw_err *err);
/* $SLIPWAY_HOME/slipway.db, directory created if needed. */
int sw_store_open_default(struct sw_store **out, struct sw_err *err);
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
int sw_store_scan(struct sw_store *st, int64_t after, size_t limit, sw_event_cb cb, void *ctx,
		  struct sw_err *err);

int sw_store_put_release(struct sw_store *st, const char *digest, const char *service, const char *version,
			 const char *manifest_json, const char *bundle_path, struct sw_err *err);
int sw_store_get_release(struct sw_store *st, const char *digest, char **manifest_json, char **bundle_path,
			 struct sw_err *err);

/* Who is acting: $SLIPWAY_ACTOR, else $USER@hostname. Written into out. */
const char *sw_store_actor(char *out, size_t size);

#endif
