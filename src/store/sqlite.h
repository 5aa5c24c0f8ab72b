/*
 * sqlite.h - the SQLite implementation of struct sw_store_ops (store.h).
 *
 * The only file that speaks SQL to SQLite is store/sqlite.c; nothing of
 * sqlite3.h leaks out of it. Reached through store.c's URL dispatch.
 *
 * Connection settings and why:
 *   journal_mode=WAL    readers never block the writer and the other way round
 *   synchronous=FULL    a commit is on disk when it returns, also across a power
 *                       loss: the event log is audit evidence and an event that
 *                       was acknowledged must not vanish. Appends are few (one
 *                       transaction per operation), so one fsync each is cheap.
 *   foreign_keys=ON     enforce references as later migrations add them
 *   busy_timeout        5000 ms, or $SLIPWAY_DB_BUSY_TIMEOUT_MS (0..600000)
 *   trusted_schema=OFF, SQLITE_DBCONFIG_DEFENSIVE: a database file from
 *                       elsewhere cannot run code through its schema
 *   application_id      0x534c5759 ("SLWY") marks a Slipway database
 *
 * Schema (versioned migrations; table schema_migrations(version, applied_at),
 * each migration in its own BEGIN IMMEDIATE transaction; see sqlite.c):
 *   1: events(seq INTEGER PRIMARY KEY, time, actor, kind, subject, payload,
 *             prev_hash, hash)  STRICT, all TEXT NOT NULL; triggers refuse
 *             UPDATE and DELETE (append-only; a tamperer must drop them)
 *      releases(digest TEXT PRIMARY KEY, service, version, manifest,
 *             bundle_path, created)  STRICT, all TEXT NOT NULL
 *   2: the control plane (store.h "Fleet and deployments"):
 *      tokens(id, name, role, hash UNIQUE, created, revoked)
 *      join_tokens(hash, labels, created, expires_ms, used_at, host_id)
 *      hosts(id, name UNIQUE, labels, token_hash UNIQUE, ports, enrolled,
 *            last_seen_ms, revoked, status, generation_applied)
 *      deployments(id, service, env, digest, prev_digest, state, reason, actor,
 *            spec, plan, created, updated, deadline_ms)
 *      desired(host_id, service, slot, digest, port, active, run)
 *      host_generation(host_id, generation)
 *   3: index events_by_subject(subject, seq): one subject's events in seq
      order (sw_store_scan_subject) without reading the whole log
   JSON columns (labels, ports, status, spec, plan, run) hold canonical JSON.
 *
 * Files: a new database is created 0600 (SQLite gives its -wal and -shm files
 * the same mode); a missing parent directory is created 0700.
 * Readers (sw_store_open_readonly) connect read-write when they may, with
 * PRAGMA query_only, so that SQLite removes its -wal/-shm files on close; a
 * database whose directory cannot be written is read with immutable=1 when
 * its write-ahead log is empty (then nothing is created beside it).
 * A writer whose file or directory is not writable gets a read-only store.
 * Calls sqlite3, base/, store/store.h. The store is freed by its close op.
 */
#ifndef SW_STORE_SQLITE_H
#define SW_STORE_SQLITE_H

#include "base/err.h"
#include "store/store.h"

#define SW_SQLITE_SCHEMA_VERSION 5
#define SW_SQLITE_APPLICATION_ID 0x534c5759
#define SW_SQLITE_BUSY_TIMEOUT_MS 5000
#define SW_SQLITE_BUSY_TIMEOUT_ENV "SLIPWAY_DB_BUSY_TIMEOUT_MS"

/*
 * Open the SQLite database at path; url is what the user gave (kept in
 * st->url). readonly: never create, migrate or write (the file must exist).
 */
int sw_sqlite_open(const char *path, const char *url, int readonly, struct sw_store **out, struct sw_err *err);

#endif
