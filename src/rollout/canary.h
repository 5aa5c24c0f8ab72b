/*
 * canary.h - the canary strategy: the env's canary.steps (runjson.h) run
 * in order, each transition an event deployment.step {id, step, kind,
 * weight} (queued in struct sw_step.events).
 *
 * Every host keeps its running release in its active slot (the stable
 * server "<host>-<oldslot>"); canary instances get the new release in the
 * idle slot (desired row active=false, like blue/green), server
 * "<host>-<newslot>".
 *
 *   instances: N|P%  the first N hosts (by name; a percentage rounds up,
 *                    at least 1) run the new release; their canary
 *                    servers are set to weight 0 and state ready first, so
 *                    that the balancer checks them while they take nothing.
 *                    Done when each reports healthy and the balancer sees
 *                    it UP (health_timeout, else the rollout fails).
 *   weight: W        W% of the backend's traffic to the canary servers:
 *                    with c canary and s stable servers, per-server
 *                    weights wc, ws in 0..256 are chosen so that
 *                    c*wc / (c*wc + s*ws) is as close to W/100 as integers
 *                    allow (exhaustive search; ties go to the larger
 *                    weights, which HAProxy spreads more finely). All of
 *                    them in one set_weights call, which reads every
 *                    weight back. Weight goes only to canary servers the
 *                    balancer reports UP (waits up to health_timeout). No
 *                    instances step before: 1 canary instance first.
 *                    A weight below the one applied is refused (rollback).
 *   weight: 100      promotion (also when the steps run out): every other
 *                    host gets the new release in its idle slot; once all
 *                    are healthy and UP, plan.switch_started is recorded,
 *                    new servers get their configured weight and old
 *                    servers go to maint (read back), rows flip active,
 *                    old slot rows are removed: succeeded.
 *   pause: D         waits D; `slipway promote` skips it.
 *   pause: {}        state paused, reason "waiting for promote at step N";
 *                    promote (or resume) goes on with the next step.
 *   analysis: NAME   runs the analysis (rollout/gate.h): initial_delay,
 *                    then a measurement every interval, as each pass
 *                    finds it due. Successful: next step; failed:
 *                    rollback with the failing measurement in the reason;
 *                    inconclusive: paused with the reason (promote goes
 *                    on, abort rolls back). count 0: until promoted.
 *
 * The environment's first release (no host runs any release of the
 * service): nothing to compare a canary with, so the steps and analyses
 * are skipped and the release is installed on every host at once, as the
 * promotion above (plan.cfirst; as Argo Rollouts does for a first
 * rollout). Some hosts running a release and others none is refused.
 *
 * Background analyses (canary.analysis.templates) are measured on every
 * pass from start_at_step to the end (promotion included); a failure
 * rolls back at any step, an inconclusive one pauses (plan.cbg_paused;
 * resume or promote goes on, its inconclusive count restarting).
 *
 * The balancer refusing a command or unreachable during a weight step: the
 * weights HAProxy reports (or that it cannot be read) are recorded in
 * plan.cweights_seen and the rollout pauses with the reason; resume tries
 * the step again.
 *
 * Rollback (deployment.c) calls sw_canary_unroute first: in one
 * set_weights call canary servers weight 0 and stable servers their
 * configured weight, canary servers to maint, read back; only then the
 * rows go back (canary instances stopped).
 *
 * Plan fields: cstep (index of the step running), cstep_started_ms,
 * cweight (percent applied, -1 none), ccanaries (hosts with the new
 * release), cwaiting (the step paused on), cpromote ("install" |
 * "switch"), switch_started, cweights_seen; per host: canary (bool),
 * slot, old_slot.
 *
 * Calls rollout/deployment, rollout/gate, rollout/plan, traffic/ (through obs->traffic),
 * jansson, base/.
 */
#ifndef SW_ROLLOUT_CANARY_H
#define SW_ROLLOUT_CANARY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "rollout/deployment.h"

void sw_canary_step(json_t *dep, const struct sw_obs *obs, struct sw_step *out);
/*
 * True when a paused canary still has work: background analyses from
 * start_at_step on keep measuring while the rollout waits (as a pause
 * holds traffic where it is, not the watch on it), unless the pause is an
 * inconclusive background analysis itself, or an abort was asked for.
 */
bool sw_canary_paused_watch(const json_t *dep);
/*
 * That work, for a paused canary: failed: out of paused (state
 * progressing, transition) and the rollback starts; inconclusive: stays
 * paused, the reason becomes the analysis's (plan.cbg_paused, transition
 * paused again so the event log says why).
 */
void sw_canary_paused(json_t *dep, const struct sw_obs *obs, struct sw_step *out);
/*
 * Canary traffic off: canary servers weight 0 and maint, stable servers
 * their configured weight and ready, read back. 0 also without a balancer,
 * and when no canary instance was started (their servers are taken by the
 * balancer before they start, so a balancer that never answered has
 * nothing of ours: an abort then ends at once).
 */
int sw_canary_unroute(json_t *dep, const struct sw_obs *obs, struct sw_err *err);
/*
 * Per-server weights (0..SW_TRAFFIC_WEIGHT_MAX) giving c canary servers
 * pct percent of the traffic of c + s servers. -1 when it cannot be done
 * (no servers, pct over 100, 0 < pct < 100 without stable servers).
 */
int sw_canary_weights(size_t c, size_t s, unsigned pct, unsigned *wc, unsigned *ws);

#endif
