/*
 * runjson.h - the parts of a release's slipway.yml that a deployment needs,
 * as JSON: the `run:` section (what each host runs: agents build it from
 * the signed release with sw_runjson_run, agent/signedrun.h; desired rows
 * do not carry it) and one `environments.<name>` section (how the rollout
 * goes). A deployment stores both in its `spec` column, so that a server
 * restarted mid-rollout continues without parsing the spec again.
 *
 * run JSON (read by the agent, agent/runspec.h):
 *   | field          | type                                                   |
 *   | command        | string                                                 |
 *   | env            | {NAME: "value"}                                        |
 *   | health         | {kind: "http"|"tcp"|"command", target: string|null,    |
 *   |                |  interval_ms, timeout_ms, retries, start_period_ms};   |
 *   |                |  absent when the spec has no health check              |
 *   | stop           | {signal: "TERM", grace_ms}                             |
 *   | hooks          | {before_install, after_install, before_start, validate |
 *   |                |  (strings, absent when not set), timeout_ms}           |
 *   | keep_releases  | integer                                                |
 *
 * env JSON:
 *   | field                | type                                              |
 *   | name                 | environment name                                  |
 *   | selector             | {label: value}: every pair must match             |
 *   | strategy             | "rolling" | "blue_green" | "canary" | "rings"     |
 *   | progress_deadline_ms | integer                                           |
 *   | health_timeout_ms    | per batch (rolling), for the new colour (b/g)     |
 *   | rolling              | {batch, max_unavailable, min_healthy}: each an    |
 *   |                      | integer count or a "N%" string                    |
 *   | blue_green           | {smoke: string|null, keep_old_ms}                 |
 *   | traffic              | {haproxy: {socket, backend}} or null: the         |
 *   |                      | strategy's own (rolling, blue_green, canary)      |
 *   | canary               | (canary only) {steps: [{kind: "weight", weight} | |
 *   |                      | {kind: "pause", pause_ms, manual} | {kind:        |
 *   |                      | "analysis", analysis} | {kind: "instances",       |
 *   |                      | instances: count | "N%"}], templates: [name],     |
 *   |                      | start_at_step}                                    |
 *   | rings                | (rings only) {label, order: [value], bake_ms,     |
 *   |                      | analysis: name | null}                            |
 *
 * Ownership: every function returns a new reference. Calls jansson, spec/.
 */
#ifndef SW_ROLLOUT_RUNJSON_H
#define SW_ROLLOUT_RUNJSON_H

#include <jansson.h>

#include "spec/spec.h"

json_t *sw_runjson_run(const struct sw_spec_run *run);
json_t *sw_runjson_env(const struct sw_spec_env *env);
/* analysis.<name> as JSON (above), and back: *out borrows j's strings. -1: not one. */
json_t *sw_runjson_analysis(const struct sw_spec_analysis *a);
int sw_runjson_analysis_read(const json_t *j, struct sw_spec_analysis *out);
/* An amount as JSON: 3 or "25%". */
json_t *sw_runjson_amount(const struct sw_spec_amount *a);
/* "rolling", "blue_green", "canary", "rings". */
const char *sw_runjson_strategy_name(enum sw_strategy s);

#endif
