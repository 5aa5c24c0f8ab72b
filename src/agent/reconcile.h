/*
 * reconcile.h - the agent's decisions as pure functions: what to do with a
 * slot given what the server wants and what runs there. No I/O, no clock:
 * callers pass everything in, so the rules are tested as tables.
 *
 * Two levels:
 *   sw_reconcile_change(): the main loop, for each (service, slot) of a new
 *     desired document and each slot it already has, decides whether the
 *     slot is created, gets a new target, only changes its `active` flag,
 *     keeps its target, or is removed.
 *   sw_reconcile_step(): each slot's worker, on every wake-up, decides the
 *     next step: deploy the target, restart the running release after a
 *     crash (once its backoff elapsed), stop it, or nothing.
 *
 * Rules (docs/agent.md has them in prose):
 *   - a row that disappears: the slot is stopped, then dropped;
 *   - a target that what runs satisfies (same digest and port, and the same
 *     run claim when the target carries one) needs nothing, except a restart
 *     when the process died and its backoff is due;
 *   - another target is deployed once per target: an attempt that failed
 *     (refused, failed install, hook failure) is not retried until the
 *     server sends a different target for that slot, so a bad release cannot
 *     make the agent download it in a loop; meanwhile what ran before keeps
 *     running (and is restarted if it crashes);
 *   - a target that cannot be used (a field outside the allow-list, an
 *     invalid run claim) is rejected (reported) without touching what runs;
 *   - only `active` changed: no restart (blue/green keeps both colours up).
 * Calls nothing.
 */
#ifndef SW_AGENT_RECONCILE_H
#define SW_AGENT_RECONCILE_H

#include <stdbool.h>
#include <stdint.h>

/* What a slot is told to run; digest/run NULL when there is none. */
struct sw_reconcile_target {
	const char *digest;
	unsigned port;
	/*
	 * The run claim: digest of the runspec the server sent with the row (a
	 * claim the worker checks against the signed release), NULL when none.
	 * For what runs: the claim accepted when it was deployed.
	 */
	const char *run;
	bool active;
};

enum sw_reconcile_change {
	SW_CHANGE_KEEP,     /* same target */
	SW_CHANGE_CREATE,   /* no slot yet: create one with this target */
	SW_CHANGE_RETARGET, /* digest, port or run config differ: new target */
	SW_CHANGE_ACTIVE,   /* only the active flag differs */
	SW_CHANGE_REMOVE,   /* the slot has no row any more */
};

/*
 * have: the slot's current target (NULL: no such slot; a slot adopted from
 * a pid file before any desired state has a target with digest == NULL).
 * want: the desired row (NULL: no row for it).
 * have_removing: the slot is already being removed.
 */
enum sw_reconcile_change sw_reconcile_change(const struct sw_reconcile_target *have, bool have_removing,
					     const struct sw_reconcile_target *want);

struct sw_reconcile_view {
	bool has_target;    /* false: adopted, no desired state yet */
	bool remove;        /* the row disappeared */
	bool target_valid;  /* the target can be used (allowed fields, a valid claim) */
	struct sw_reconcile_target target;
	uint64_t target_seq; /* bumped on every new target */
	uint64_t failed_seq; /* target_seq of the last failed deploy, or 0 */
	struct sw_reconcile_target cur; /* what runs (or last ran); digest NULL = nothing */
	bool proc_alive;
	bool restart_due; /* the process died and its backoff elapsed */
};

enum sw_reconcile_step {
	SW_STEP_NONE,    /* supervise: health checks, wait */
	SW_STEP_DEPLOY,  /* install the target, stop what runs, start the target */
	SW_STEP_RESTART, /* start what ran again (crash, backoff due) */
	SW_STEP_REJECT,  /* the target cannot be used (see target_valid): report it */
	SW_STEP_STOP,    /* stop the process: the slot is going away */
	SW_STEP_DONE,    /* removed and nothing runs: the worker ends */
};

enum sw_reconcile_step sw_reconcile_step(const struct sw_reconcile_view *v);
const char *sw_reconcile_step_name(enum sw_reconcile_step s);
/* Same digest, port and run claim (NULL digests are equal to nothing). */
bool sw_reconcile_same(const struct sw_reconcile_target *a, const struct sw_reconcile_target *b);
/* What runs (cur) is what target asks for: same digest and port; the same claim if target makes one. */
bool sw_reconcile_satisfies(const struct sw_reconcile_target *cur, const struct sw_reconcile_target *target);

#endif
