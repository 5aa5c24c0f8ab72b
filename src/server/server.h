/*
 * server.h - `slipway server`: the control plane process. Owns the data
 * directory, the store, the store lock, the change notifier long-polls
 * wait on, the trusted keys, the HTTP daemon and the rollout controller.
 *
 * Data directory (created 0700):
 *   | path                        | what                                              |
 *   | slipway.db                  | the store (events, releases, fleet, deployments)  |
 *   | admin.token                 | an admin API token (0600, O_EXCL), written at     |
 *   |                             | start when no active admin token exists           |
 *   | server.lock                 | the pid of the server holding the directory: an   |
 *   |                             | flock(LOCK_EX) held for the process's life, so    |
 *   |                             | that a second server on the same --data exits 2   |
 *   | server.url                  | "http://ADDR:PORT\n" while listening (removed at  |
 *   |                             | stop only while it still names this server);      |
 *   |                             | "https://..." with TLS                            |
 *   | tls.pin                     | "sha256//...\n": the TLS certificate's public-key |
 *   |                             | pin (base/tls.h), written at each start with TLS, |
 *   |                             | removed at a start without                        |
 *   | trusted/<name>.pub          | minisign public keys trusted for uploads          |
 *   | releases/<digest>/incoming/ | uploads in progress; removed when not written for  |
 *   |                             | upload_timeout (a thread sweeps every ~1/4 of it,  |
 *   |                             | at most every minute, and once at start)           |
 *   | releases/<digest>/<file>    | committed release files (api_releases.c)          |
 *
 * Concurrency: the store is not thread-safe. Every store call and
 * transaction, in handlers and in the controller, holds store_lock.
 * Long-polls never hold it while waiting: they wait on the notifier
 * (sw_server_wait) with a deadline, re-reading the store between waits; the
 * notifier is poked by handlers that change desired rows or append events
 * (sw_server_notify), and waits are sliced so that changes made by the
 * controller thread are seen within SW_SERVER_POLL_MS as well.
 *
 * Log requests (`slipway logs`) wait the same way, on s->logs, which has
 * its own lock (server/logreq.h).
 *
 * Calls server/http, server/api, server/logreq, store/, rollout/controller.h,
 * release/minisign.h, base/. The struct from sw_server_start is freed by
 * sw_server_stop.
 */
#ifndef SW_SERVER_SERVER_H
#define SW_SERVER_SERVER_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "release/bundle.h"
#include "release/minisign.h"
#include "server/tls.h"
#include "store/store.h"

#define SW_SERVER_DEFAULT_LISTEN "127.0.0.1:7070"
#define SW_SERVER_HEARTBEAT_MS 1000
#define SW_SERVER_POLL_MS 100
#define SW_SERVER_WAIT_MAX_S 30
#define SW_SERVER_UPLOAD_TIMEOUT_MS ((uint64_t)3600 * 1000)

struct sw_server_config {
	const char *data_dir;
	const char *listen;             /* default SW_SERVER_DEFAULT_LISTEN */
	const char *const *trust;       /* extra public key files */
	size_t ntrust;
	uint64_t heartbeat_ms;          /* told to agents; default SW_SERVER_HEARTBEAT_MS */
	int no_controller;              /* tests: do not start the rollout controller */
	uint64_t upload_timeout_ms;     /* abandoned uploads; default SW_SERVER_UPLOAD_TIMEOUT_MS */
	uint64_t max_unpacked_bytes;    /* commit check; default SW_BUNDLE_MAX_TOTAL_DEFAULT */
	const char *tls_cert;           /* PEM certificate (chain) and key: serve HTTPS (both or neither) */
	const char *tls_key;
	int insecure_http;              /* allow plain HTTP on an address that is not loopback */
};

struct sw_trusted_key {
	struct sw_minisign_pubkey pk;
	char id[SW_MINISIGN_KEY_ID_HEX];
	char path[PATH_MAX];
	char *text; /* the file's text, sent to agents */
};

struct sw_controller;
struct sw_http;
struct sw_logreqs;

struct sw_server {
	char data_dir[PATH_MAX];
	char url[300];
	unsigned port;
	struct sw_store *store;
	pthread_mutex_t store_lock;
	pthread_mutex_t notify_lock;
	pthread_cond_t notify_cond;
	uint64_t notify_seq;        /* under notify_lock */
	atomic_int stopping;
	atomic_int polls;           /* long-polls in progress (drained at stop) */
	struct sw_trusted_key *keys;
	size_t nkeys;
	uint64_t heartbeat_ms;
	struct sw_controller *ctl;
	struct sw_http *http;
	int admin_token_written;    /* this start wrote DATA/admin.token */
	int lock_fd;                /* DATA/server.lock, flock'ed for our life (-1: none) */
	struct sw_bundle_limits unpack_limits; /* the archive checks at commit */
	uint64_t upload_timeout_ms;
	pthread_t sweeper;          /* removes abandoned uploads (api_releases.c) */
	int sweeper_started;
	struct sw_logreqs *logs;    /* log requests in flight to agents (server/logreq.h) */
	int tls_on;                 /* serving HTTPS with tls (its pin goes into join tokens) */
	struct sw_tls_cert tls;
};

/*
 * Start serving. Refused before anything is bound or written (SW_EINPUT):
 * plain HTTP on a listen address that is not loopback (base/tls.h) unless
 * insecure_http, one of tls_cert / tls_key without the other, and a
 * certificate or key that does not load (server/tls.h, naming the file).
 */
int sw_server_start(const struct sw_server_config *cfg, struct sw_server **out, struct sw_err *err);
/* Stop serving (wakes long-polls), stop the controller, close the store, free. */
void sw_server_stop(struct sw_server *s);

/*
 * The whole foreground life of `slipway server`: block SIGTERM/SIGINT (so
 * every thread inherits the mask), start, call ready(s, ctx) once
 * listening, wait for a signal, stop. Returns 0 after a clean stop.
 */
int sw_server_serve(const struct sw_server_config *cfg, void (*ready)(const struct sw_server *s, void *ctx),
		    void *ctx, struct sw_err *err);

void sw_server_lock(struct sw_server *s);
void sw_server_unlock(struct sw_server *s);
/* Something long-polls may wait for changed: wake them. */
void sw_server_notify(struct sw_server *s);
/* The notifier's current count (read it before reading the store). */
uint64_t sw_server_seq(struct sw_server *s);
/*
 * Wait until the count passes seen, SW_SERVER_POLL_MS pass, the monotonic
 * deadline passes or the server stops. Returns 1 when the caller should
 * stop waiting (deadline or stopping), 0 to re-check and maybe wait again.
 */
int sw_server_wait(struct sw_server *s, uint64_t seen, uint64_t deadline_ms);
/* Bracket a long-poll, so that a stopping server lets it answer first. */
void sw_server_poll_begin(struct sw_server *s);
void sw_server_poll_end(struct sw_server *s);
/* Kick the controller (no-op without one). */
void sw_server_kick(struct sw_server *s);

#endif
