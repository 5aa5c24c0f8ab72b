/*
 * gate.h - the canary's analyses (rollout/canary.c): runs the env's
 * analyses (spec env JSON "analyses", runjson.h) over the canary, one
 * measurement at a time, without sleeping. Owns the plan member "cruns".
 *
 * plan.cruns: [{name, step, background, dry_run, dry_run_verdict, state, started_ms, next_ms,
 *   tally: {measurements, successes, failures, inconclusives, errors},
 *   prev: the last haproxy counters (measurement "raw") or null,
 *   prev_key: "w<weight>c<canaries>" the counters were taken at,
 *   measurements: [the last SW_GATE_KEEP measurements, without "raw",
 *   with "step": the canary step it was taken at]}]
 *
 * An inline run (`analysis: NAME` at step N) starts when the step does;
 * a background run (canary.analysis.templates) when the rollout reaches
 * start_at_step, and goes on to the end of the deployment. Each run waits
 * initial_delay, then takes a measurement whenever next_ms is due (at
 * most one per run per call; next_ms advances by interval). For providers
 * that measure rates (sw_analysis_needs_baseline: haproxy), the first
 * measurement, and the first after the canary weight or the number of
 * canary instances changed, is a baseline: kept in prev, not tallied nor
 * listed (unless its verdict is error: then it is tallied like any
 * other). Each tallied measurement is listed in the run and queued as an
 * event deployment.measurement {id, step (the canary step it was taken
 * at), analysis, verdict, values, message, time, background}.
 *
 * A dry run (analysis dry_run: true) is measured, tallied, listed and
 * sent as events (payload dry_run: true) like any other, but never fails
 * nor pauses: what it would have decided is kept once in dry_run_verdict
 * (the reason text), and its state is successful once count measurements
 * are done (running before, and with count 0).
 *
 * Target: canary servers "<host>-<slot>" of the hosts running the new
 * release, stable servers "<host>-<old_slot>", of the env's HAProxy
 * backend; addresses "<host address>:<port>". Rings (rollout/rings.h)
 * run their bake analysis as an inline run with step = the ring index:
 * canary = hosts of the rings done, stable = the others in the slot
 * active in their desired rows. An inline measurement's "step" is its
 * run's step.
 *
 * Calls analysis/, rollout/runjson, rollout/deployment, jansson, base/.
 * Reasons are written into caller buffers; returned JSON is new.
 */
#ifndef SW_ROLLOUT_GATE_H
#define SW_ROLLOUT_GATE_H

#include <jansson.h>
#include <stddef.h>

#include "analysis/analysis.h"
#include "rollout/deployment.h"

#define SW_GATE_KEEP 50

/*
 * The inline analysis `name` of step idx: measure what is due. Returns
 * the state of its tally. FAILED: reason names the failing measurement
 * ("analysis 'errors' failed: error_rate = 0.48 (failure condition
 * 'error_rate > 0.05' is true) at 12:00:01"); INCONCLUSIVE: reason says
 * why and that a human decides.
 */
enum sw_analysis_state sw_gate_inline(json_t *dep, const struct sw_obs *obs, struct sw_step *out, size_t idx,
				      const char *name, char *reason, size_t rsize);
/*
 * The background analyses at step idx (idx >= the number of steps:
 * promoting): start those due, measure what is due. FAILED or
 * INCONCLUSIVE (the first run that is; reason as above), else RUNNING.
 */
enum sw_analysis_state sw_gate_background(json_t *dep, const struct sw_obs *obs, struct sw_step *out, size_t idx,
					  char *reason, size_t rsize);
/* A human let an inconclusive background analysis go on: its inconclusive count restarts, with a new baseline. */
void sw_gate_background_resume(json_t *dep);
/*
 * For the progress view: {measurements: [every listed measurement, by
 * time, with "background"], analyses: [{name, step, background,
 * state, tally, last: measurement | null}]}. New reference.
 */
json_t *sw_gate_view(const json_t *plan);

#endif
