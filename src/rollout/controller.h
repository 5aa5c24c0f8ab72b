/*
 * controller.h - the rollout controller: turns deployments into desired
 * state for hosts, step by step, and decides success or rollback.
 *
 * It runs as one thread inside `slipway server`. All rollout state lives in
 * the store (deployment rows with their plan, desired rows, events), so a
 * server killed at any instant resumes every unfinished deployment from the
 * store when it starts again. The store is not thread-safe: every store call
 * here and in the API handlers happens with cfg->store_lock held.
 *
 * A second thread, the stall watch, looks at CLOCK_BOOTTIME every 100 ms: a
 * gap means the process did not run (SIGSTOP, a frozen machine), and hosts
 * get a grace of heartbeat_timeout_ms from the start and from each such
 * resume before they are judged offline (deployment.h, "Outages").
 *
 * API handlers call sw_rollout_create / _abort / _rollback with the lock
 * held, then sw_controller_kick() after releasing it. Agents' status reports
 * (sw_store_host_report) are followed by a kick too.
 *
 * Calls store/, spec/, traffic/, base/.
 */
#ifndef SW_ROLLOUT_CONTROLLER_H
#define SW_ROLLOUT_CONTROLLER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

struct sw_controller_config {
	struct sw_store *store;
	pthread_mutex_t *store_lock;   /* held around every store call */
	const char *data_dir;          /* the server's --data */
	uint64_t tick_ms;              /* re-evaluate at least this often; default 200 */
	uint64_t heartbeat_timeout_ms; /* host offline after this long unseen; default 3000 */
	/*
	 * Addition (optional, NULL: none): called from the controller thread,
	 * without the store lock, after it committed events (a deployment
	 * changed state), so that the server can wake its event long-polls.
	 */
	void (*on_events)(void *ctx);
	void *on_events_ctx;
};

struct sw_controller;

/* Starts the thread; resumes unfinished deployments first. */
struct sw_controller *sw_controller_start(const struct sw_controller_config *cfg, struct sw_err *err);
/* Something changed (new deployment, a host reported): evaluate now. Thread-safe. */
void sw_controller_kick(struct sw_controller *c);
/* Stops the thread (deployments stay in the store, to resume later) and frees c. */
void sw_controller_stop(struct sw_controller *c);

/*
 * Validate and record a new deployment of the release `digest` (already
 * uploaded and committed) into environment `env`: state pending, event
 * deployment.created. SW_ENOTFOUND unknown release, SW_EINPUT unknown env in
 * the release's spec or no matching hosts, SW_EBUSY one is already active for
 * (service, env). *dep: new reference to the deployment record.
 */
int sw_rollout_create(struct sw_store *st, const char *service, const char *env, const char *digest,
		      const char *actor, json_t **dep, struct sw_err *err);
/*
 * Abort an active deployment: hosts go back to the previous release
 * (plan.abort = {actor, reason, at_ms, emergency}). Idempotent while it is
 * active; SW_EBUSY once it ended. emergency: the rollback restores every
 * host at once, min_healthy and max_unavailable not kept; asked of one
 * already aborted (or rolling back after an abort), it escalates the rest.
 */
int sw_rollout_abort(struct sw_store *st, const char *id, const char *actor, const char *reason, bool emergency,
		     struct sw_err *err);
/* What a rollback asks for (POST /api/v1/rollback). */
struct sw_rollback_req {
	/*
	 * The release to go back to: a version, a digest ("sha256:" optional)
	 * or a digest prefix of at least 4 hex digits, among the releases that
	 * ran (succeeded) in the environment; NULL: the previous good release.
	 */
	const char *to;
	const char *reason; /* why; NULL or "" for none */
	bool emergency;
};

/*
 * New deployment (spec.kind "rollback") of the previous successful release
 * of (service, env), or of the one req->to names. spec.rollback records
 * {to (as asked, or null), version, digest, reason} and every event of the
 * deployment carries it ("rollback"). SW_ENOTFOUND nothing to go back to;
 * SW_EINPUT req->to names no release that ran there (the message lists
 * those that did), more than one, or the one the newest deployment there
 * succeeded with. emergency: every host at once, min_healthy and
 * max_unavailable not applied (spec.emergency and plan.emergency true;
 * canary and rings skip their steps and bakes), and its own rollback, if it
 * fails, is not held back by them either.
 */
int sw_rollout_rollback(struct sw_store *st, const char *service, const char *env, const char *actor,
			const struct sw_rollback_req *req, json_t **dep, struct sw_err *err);

/* ---- additions (rollout helper) ------------------------------------------ */

/*
 * Manual control: verb "pause" | "resume" | "promote" | "retry" on
 * deployment id (deployment.h says what each does to the record), with its
 * event deployment.paused | resumed | promoted (retry: the new deployment's
 * deployment.created). Idempotent: a verb with nothing to do returns 0 and
 * says why in note ("already paused"); a verb the state does not allow is
 * SW_EBUSY with the reason ("dep-3 has ended (succeeded); nothing to
 * pause"). *out: new reference to the deployment (retry: the new one).
 */
int sw_rollout_verb(struct sw_store *st, const char *id, const char *verb, const char *actor, const char *reason,
		    json_t **out, char *note, size_t notesize, struct sw_err *err);

/*
 * The progress view of one deployment for `GET /api/v1/deployments/{id}`
 * and `slipway status`: the record (store.h) without its spec and plan,
 * plus {version, strategy, step, duration_ms, hosts: [{id, name, slot,
 * port, phase, message, since_ms, online, reported: {digest, state,
 * message} | null}]}; canary adds {cstep, csteps, weight, measurements,
 * analyses}, rings {rings, ring, baking, measurements, analyses} (gate.h's
 * view). Call with the store lock held. *out: new reference.
 */
int sw_rollout_progress(struct sw_store *st, const char *id, uint64_t heartbeat_timeout_ms, json_t **out,
			struct sw_err *err);
/* Same, from a record already read (dep is not changed). */
json_t *sw_rollout_view(struct sw_store *st, const json_t *dep, uint64_t heartbeat_timeout_ms);

#endif
