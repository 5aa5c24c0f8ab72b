/*
 * deployment.h - the deployment state machine, as pure transitions: given
 * a deployment record (store.h) with its plan (plan.h) and what the hosts
 * report now (struct sw_obs), move the plan on and say what to do: desired
 * rows to write, a state to enter, a smoke test to start. The controller
 * (controller.c) gathers the observations, calls sw_deployment_step() and
 * commits the result (rows + record + event) in one store transaction; a
 * server killed at any point repeats the step from the stored plan, and
 * every action is idempotent (desired rows are set, not toggled; traffic
 * states are set, not flipped).
 *
 * States and transitions (each one an event "deployment.<state>" with
 * {id, service, env, digest, prev_digest, reason}):
 *
 *   pending ──> progressing ──> succeeded
 *                   │
 *                   └─(a host failed, went offline, stayed unhealthy past
 *                      health_timeout; progress deadline; smoke failed;
 *                      traffic switch failed; abort)── plan.phase "rollback":
 *                      traffic is switched back first (blue/green) or the
 *                      canary weight goes to 0 (canary); then touched hosts
 *                      (phase "queued") get back their desired rows as they
 *                      were before (plan.hosts[].before) in rollback batches:
 *                      rolling keeps min_healthy / max_unavailable (every
 *                      queued host that serves nothing, plus as many serving
 *                      ones as the limits allow; with a balancer each is
 *                      drained out first, rolling.h), the others and an
 *                      emergency (plan.emergency: abort --emergency,
 *                      rollback --emergency) take every host at once; the
 *                      next batch when the previous is back. A host is back
 *                      only when it reports its previous active release
 *                      healthy in a fresh report (offline: waited for);
 *                      one not back health_timeout after its rows (since_ms
 *                      of "restoring"), or limits that hold the rest that
 *                      long without progress, end it failed, naming them.
 *                      When every host is back:
 *                          rolled_back   (a previous release runs again:
 *                                         prev_digest, or every host touched
 *                                         had an active release before, or
 *                                         a canary started; also when the
 *                                         env had no deployment record)
 *                          failed        (first deployment: hosts stopped,
 *                                         or the restore did not get healthy)
 *                          aborted       (asked for: plan.abort)
 *                      Each rollback batch is an event
 *                      deployment.rollback_batch {id, batch, hosts,
 *                      emergency}.
 *
 * Paused (addition, manual control): pending or progressing (phase
 * "rollout") -> paused -> back to the state it left (plan.pause.from), on
 * `slipway resume` or `promote`. A paused deployment is not stepped (but
 * for a canary's background analyses, canary.h sw_canary_paused): hosts
 * keep what they run, no desired rows are written, and the progress
 * deadline and the running batch's timers are pushed out by the time spent
 * paused when it resumes (sw_dep_resume). An abort of a paused deployment
 * puts it back to its previous state first, so that the rollback runs.
 * plan.pause = {actor, reason, at_ms, from}; plan.promote = {actor, at_ms}
 * is a request to skip the current wait, consumed by the strategy that
 * waits (canary pauses); strategies without waits drop it.
 *
 * A host's report counts only when it is fresh: its generation_applied has
 * reached the generation written with our last change to it (plan host
 * "gen"), so a state left from an earlier attempt is never mistaken for the
 * answer. A host is offline when unseen for heartbeat_timeout_ms while
 * the server was up: unseen for heartbeat_timeout_ms since the later of its
 * last report and obs.live_since_ms.
 *
 * Outages (the server killed and restarted, or stopped with SIGSTOP and
 * continued): nobody could report and nobody watched. Hosts get a grace of
 * heartbeat_timeout_ms from obs.live_since_ms (above), and the first step
 * after the outage moves every timer of the deployment (progress deadline,
 * batch and health waits, blocked batch, smoke, canary pauses and steps,
 * bakes, rollback waits, hosts' since_ms) out by the outage: the time from
 * the last step (plan.stepped_ms) to obs.live_since_ms.
 *
 * Slot reports: host status {services: [{service, slot, digest, state,
 * message, verdict, verdict_message}]}, agent states installing,
 * installed, starting, healthy, unhealthy, stopped, failed, refused.
 * "failed" and "refused" fail the deployment at once, and so does a
 * verdict ("unhealthy": the health check failed `retries` times in a row
 * after start_period; "crashloop": the process keeps exiting; agent/health.h):
 * sw_dep_health says SW_DH_FAILED with "unhealthy: ..." / "crash loop: ...".
 * Anything else that is not healthy is "not yet healthy" (SW_DH_WAIT, or
 * SW_DH_UNHEALTHY for the state "unhealthy" without a verdict: a process
 * restarting after an exit), which only health_timeout bounds.
 *
 * Progress deadline: deadline_ms = now + progress_deadline when the
 * deployment starts and again each time a batch (or the blue/green
 * switch) completes; past it the rollout rolls back with "progress deadline
 * exceeded (10m)".
 *
 * Ownership: the step borrows obs; out->desired is owned by struct
 * sw_step (sw_step_release). Calls jansson, base/, traffic/ (through
 * obs->traffic only), rollout/rolling, rollout/bluegreen.
 */
#ifndef SW_ROLLOUT_DEPLOYMENT_H
#define SW_ROLLOUT_DEPLOYMENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "traffic/traffic.h"

struct sw_spec_analysis;
struct sw_analysis_target;

enum sw_dep_state {
	SW_DEP_PENDING,
	SW_DEP_PROGRESSING,
	SW_DEP_SUCCEEDED,
	SW_DEP_ROLLED_BACK,
	SW_DEP_FAILED,
	SW_DEP_ABORTED,
	SW_DEP_PAUSED, /* addition: stopped between steps by `slipway pause` (or a canary pause: {}) */
	SW_DEP_NSTATES
};

const char *sw_dep_state_name(enum sw_dep_state s);
/* -1 for an unknown name. */
int sw_dep_state_parse(const char *s, enum sw_dep_state *out);
bool sw_dep_state_final(enum sw_dep_state s);
/* Is from -> to one of the arrows above? */
bool sw_dep_transition_ok(enum sw_dep_state from, enum sw_dep_state to);

/* What a host reports for one slot of the deployment's service. */
struct sw_obs_slot {
	const char *digest; /* NULL: nothing reported for the slot */
	const char *state;
	const char *message;
	const char *verdict;         /* the agent's definite verdict: "unhealthy", "crashloop"; NULL/"": none */
	const char *verdict_message; /* why (with the service's last output lines) */
};

struct sw_obs_host {
	const char *id;
	bool exists;                /* enrolled and not revoked */
	int64_t last_seen_ms;       /* wall ms of the last report; 0 never */
	int64_t generation_applied; /* the host's last reported generation */
	struct sw_obs_slot slot[2]; /* "a", "b" */
	const json_t *want[2];      /* desired rows of the service for "a", "b" (NULL: none) */
};

enum sw_smoke { SW_SMOKE_IDLE, SW_SMOKE_RUNNING, SW_SMOKE_PASSED, SW_SMOKE_FAILED };

struct sw_obs {
	int64_t now_ms;                 /* wall clock */
	uint64_t heartbeat_timeout_ms;
	/*
	 * Wall ms since which the server has been up without a stall (its
	 * start, or its resume after SIGSTOP or any freeze the controller
	 * noticed); 0: no grace. See "Outages" above.
	 */
	int64_t live_since_ms;
	const struct sw_obs_host *hosts;
	size_t nhosts;
	struct sw_traffic *traffic;     /* the env's load balancer, NULL: none */
	enum sw_smoke smoke;            /* of this deployment's smoke command */
	const char *smoke_message;
	/*
	 * Addition (canary analysis): takes one measurement; NULL means
	 * sw_analysis_measure (analysis.h). A test seam for a fake provider.
	 */
	json_t *(*measure)(const struct sw_spec_analysis *a, const struct sw_analysis_target *t, const json_t *prev,
			   struct sw_err *err);
};

struct sw_step {
	json_t *desired;            /* [{host, slot, want: row|null}] to write, in order */
	bool transition;            /* the record entered `state` */
	enum sw_dep_state state;
	bool smoke_start;           /* start the smoke command (SLIPWAY_TARGETS in plan.smoke.targets) */
	bool again;                 /* step again at once (more to do without waiting) */
	json_t *events;             /* addition: [{kind, payload}] more events to commit with it (NULL: none) */
};

void sw_step_init(struct sw_step *s);
void sw_step_release(struct sw_step *s);

/*
 * Advance dep (a deployment record: state, plan, spec, digest, ...; changed
 * in place) by one step. Returns 0, or -1 (err) for a record this code
 * cannot read (then nothing in it changed that matters: the controller
 * fails the deployment with the message).
 */
int sw_deployment_step(json_t *dep, const struct sw_obs *obs, struct sw_step *out, struct sw_err *err);

/*
 * End the deployment now without touching hosts (a record that cannot be
 * read, a pending deployment aborted before it started): state, reason and
 * plan phase "done".
 */
void sw_deployment_finish(json_t *dep, enum sw_dep_state state, const char *reason, struct sw_step *out);

/*
 * Manual control (addition), pure record changes the controller's verbs
 * (sw_rollout_pause, ...) commit with their event. Each returns 1 when it
 * changed dep, 0 when there was nothing to do (note gets "already paused"),
 * -1 with SW_EBUSY and a message when the state does not allow it.
 */
int sw_dep_pause(json_t *dep, const char *actor, const char *reason, int64_t now_ms, char *note, size_t notesize,
		 struct sw_err *err);
int sw_dep_resume(json_t *dep, int64_t now_ms, char *note, size_t notesize, struct sw_err *err);
int sw_dep_promote(json_t *dep, const char *actor, int64_t now_ms, char *note, size_t notesize, struct sw_err *err);

/*
 * Merge into dep (the record a controller step changed, read before the
 * step) what a verb recorded in the store meanwhile (cur): an abort
 * request survives, and so does an emergency asked of it; a pause,
 * resume or promote wins over the step's state unless the step ended the
 * deployment (transition): the verb's state, plan.pause, deadline_ms and
 * the reason and plan.step it wrote ("paused: looking at graphs") are
 * taken from cur. The step's other changes stay. dep's "_read_state" (the
 * state the step read) tells whether the state moved; it is removed.
 */
void sw_dep_merge_concurrent(json_t *dep, const json_t *cur, bool transition);

/*
 * Promote --full: plan.promote_full = {actor, at_ms}, and a promote of the
 * current wait. Canary: the remaining steps are skipped, promotion starts
 * (background analyses still watch it); rings: every remaining bake is
 * skipped. Rolling and blue/green have no steps to skip. 1 changed, 0
 * already asked, -1 refused (as promote).
 */
int sw_dep_promote_full(json_t *dep, const char *actor, int64_t now_ms, char *note, size_t notesize,
			struct sw_err *err);
/* A promote asked for (plan.promote): true once, when a wait consumes it. */
bool sw_dep_take_promote(json_t *dep);

/* ---- shared by the strategies (rolling, bluegreen, canary, rings, gate) ---------------- */

/* The two slots' names by index ("a", "b"; sw_dep_slot_index is the reverse). */
extern const char *const sw_dep_slots[2];
/* The env's HAProxy backend (env JSON traffic.haproxy.backend), or NULL without one. */
const char *sw_dep_backend(const json_t *dep);
/* "<host>-<slot>": the balancer's name for one slot of plan host ph, written into out; returns out. */
const char *sw_dep_server(const json_t *ph, const char *slot, char *out, size_t size);
/* The env's health_timeout in ms (5 minutes when unset). */
int64_t sw_dep_health_timeout(const json_t *dep);
/*
 * The rollout stops for a human (an inconclusive analysis, a balancer that
 * failed a step): state paused (a transition), plan.pause by "server" from
 * progressing, the reason in the record and the step text. The strategy
 * records which wait it paused on.
 */
void sw_dep_wait_for_human(json_t *dep, const struct sw_obs *obs, struct sw_step *out, const char *reason);
/* The observation for host id, or NULL. */
const struct sw_obs_host *sw_dep_obs_host(const struct sw_obs *obs, const char *id);
/* 0 for "a", 1 for "b", -1 otherwise. */
int sw_dep_slot_index(const char *slot);
bool sw_dep_offline(const struct sw_obs *obs, const struct sw_obs_host *oh);

enum sw_dep_health { SW_DH_WAIT, SW_DH_HEALTHY, SW_DH_UNHEALTHY, SW_DH_FAILED, SW_DH_OFFLINE };
/*
 * How host ph (a plan host) does with `digest` in `slot`, from a fresh
 * report; *msg gets the report's state and message for the reason.
 */
enum sw_dep_health sw_dep_health(const struct sw_obs *obs, const json_t *ph, int slot, const char *digest,
				 char *msg, size_t msgsize);
/* Record the host's current desired rows in ph.before (once: the first time it is touched). */
void sw_dep_snapshot(json_t *ph, const struct sw_obs_host *oh);
/* Queue a desired write. want may be NULL (remove); it is not stolen. */
void sw_dep_push_desired(struct sw_step *out, const char *host, const char *slot, const json_t *want);
/*
 * A desired row {digest, port, active} (new reference). No run section:
 * agents take what they run from the release's signed release.json and
 * refuse a row that says otherwise (docs/agent.md, "What the server may set").
 */
json_t *sw_dep_row(const char *digest, json_int_t port, bool active);
void sw_dep_host_phase(json_t *ph, const char *phase, const char *message, int64_t now_ms);
/*
 * Start the rollback with this reason (the first reason wins). It records who
 * decided it in plan.rollback_by: the actor of an abort, else the controller
 * with the cause (sw_dep_rollback_actor): "slipway (analysis errors)".
 */
void sw_dep_fail(json_t *dep, const struct sw_obs *obs, const char *reason);
/*
 * The controller as the actor of a rollback it decided, by the reason's
 * cause: "slipway (analysis NAME)", "slipway (health)", "slipway (host
 * offline)", "slipway (progress deadline)", "slipway (smoke test)",
 * "slipway (traffic)", "slipway (host failed)", else "slipway". Written
 * into out (always terminated).
 */
void sw_dep_rollback_actor(const char *reason, char *out, size_t size);
/* Set plan.step to a line for people. */
void sw_dep_set_step(json_t *dep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Push the progress deadline out: now + progress_deadline. */
void sw_dep_progressed(json_t *dep, const struct sw_obs *obs);
/* Accessors over the record. */
json_t *sw_dep_plan(const json_t *dep);
const json_t *sw_dep_env(const json_t *dep);
const json_t *sw_dep_run(const json_t *dep);
int64_t sw_dep_int(const json_t *obj, const char *key);

#endif
