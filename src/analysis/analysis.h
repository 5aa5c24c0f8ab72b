/*
 * analysis.h - metric analysis: a provider measures, Lua conditions judge.
 *
 * The library under canary steps and ring bakes (slipway.yml `analysis:`,
 * struct sw_spec_analysis): take one measurement, give it a verdict, and
 * keep the tally that decides the analysis. It does not sleep or loop:
 * the caller (the rollout controller) calls sw_analysis_measure() every
 * `interval` after `initial_delay`, stores each measurement, and feeds its
 * verdict to sw_analysis_tally_add() until the state is not RUNNING.
 *
 *   call                        does
 *   sw_analysis_measure         one measurement -> JSON (below); a provider
 *                               failure is a measurement with verdict "error"
 *   sw_analysis_needs_baseline  1 for providers whose values are rates over
 *                               the interval (haproxy): take one measurement
 *                               when the analysis starts and after every
 *                               weight change, pass it as `prev` to the next,
 *                               and do not tally it
 *   sw_analysis_tally_add       count a verdict -> the analysis state
 *   sw_analysis_tally_state     the state of a tally, nothing added
 *
 * A measurement (new JSON object, the caller owns it):
 *
 *   key        value
 *   time       "2026-11-22T10:00:00.123Z" (UTC, when it was taken)
 *   analysis   the analysis name                provider  "haproxy" | "prometheus" | "http" | "command"
 *   values     {name: value or null}: every name the provider measures
 *              (docs/analysis.md; non-finite numbers as "NaN", "+Inf", "-Inf")
 *   verdict    "success" | "failure" | "inconclusive" | "error"
 *   message    why: "failure condition 'error_rate > 0.05' is true (error_rate = 0.5)",
 *              "cannot reach prometheus at 'http://127.0.0.1:9090': Connection refused", ...
 *   took_ms    how long the provider took
 *   raw        haproxy only: the cumulative counters {mono_ms, wall_ms,
 *              servers: {name: {stot, hrsp_5xx, rtime}}} that the next
 *              measurement computes its rates from
 *
 * Verdicts:
 *
 *   verdict        when
 *   SUCCESS        the conditions say so (condition.h has the exact rules)
 *   FAILURE        the failure condition is true, or the success condition
 *                  false without a failure condition; http: the status is
 *                  not expect_status
 *   INCONCLUSIVE   success and failure both false, or a condition read a
 *                  value that has no data this time (first measurement
 *                  without `prev`, no requests to the canary in the
 *                  interval, an empty Prometheus vector, NaN)
 *   ERROR          the provider failed (Prometheus down or answering
 *                  garbage, HAProxy socket missing, probe or command timed
 *                  out), or the condition did (run-time error, unknown
 *                  name, too long, too much memory, not a boolean)
 *
 * An ERROR is never a success: the tally counts it with the inconclusive
 * ones against inconclusive_limit.
 *
 * Tally state after each verdict, first match wins:
 *
 *   FAILED        failures > failure_limit
 *   INCONCLUSIVE  inconclusives + errors > inconclusive_limit (a human decides)
 *   SUCCESSFUL    count > 0 and measurements >= count
 *   RUNNING       otherwise (count 0: until the caller stops it)
 *
 * Each provider call is bounded by sw_analysis_timeout_ms(): the target's
 * timeout_ms, else the interval clamped to 1 s .. 30 s (haproxy: the
 * struct sw_haproxy's own connect + answer timeouts).
 *
 * sw_httpc_global_init() must have run once in the process (prometheus
 * and http use base/httpc). Measurements of different analyses may run in
 * parallel threads: nothing is shared between calls.
 *
 * Calls analysis/ (providers, conditions), spec/, traffic/, base/.
 */
#ifndef SW_ANALYSIS_H
#define SW_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "analysis/values.h" /* enum sw_verdict */
#include "base/err.h"
#include "spec/spec.h"
#include "traffic/traffic.h"

#define SW_ANALYSIS_TIMEOUT_MIN_MS 1000u
#define SW_ANALYSIS_TIMEOUT_MAX_MS 30000u

/*
 * What a measurement is about. The haproxy provider reads the servers of
 * `backend` through `traffic`; the others replace {{canary}} / {{stable}}
 * with the instance addresses ("127.0.0.1:8101"): prometheus with a regex
 * of all of them, http with the first one, command with all of them joined
 * by ',' (also in $SLIPWAY_CANARY / $SLIPWAY_STABLE). Nothing is copied.
 */
struct sw_analysis_target {
	struct sw_traffic *traffic;          /* haproxy: the balancer */
	const char *backend;                 /* haproxy: the backend's name */
	const char *const *canary_servers;   /* haproxy: server names of the new release */
	size_t ncanary_servers;
	const char *const *stable_servers;   /* haproxy: server names of the release it replaces */
	size_t nstable_servers;
	const char *const *canary_addrs;     /* host:port of each canary instance */
	size_t ncanary_addrs;
	const char *const *stable_addrs;
	size_t nstable_addrs;
	const char *cwd;                     /* command: working directory; NULL = ours */
	uint64_t timeout_ms;                 /* per measurement; 0 = from the interval */
};

enum sw_analysis_state { SW_ANALYSIS_RUNNING, SW_ANALYSIS_SUCCESSFUL, SW_ANALYSIS_FAILED, SW_ANALYSIS_INCONCLUSIVE };

struct sw_analysis_tally {
	unsigned measurements, successes, failures, inconclusives, errors;
};

/*
 * One measurement of a over t. prev: the previous measurement (or its
 * "raw" member), or NULL. NULL is returned only when a and t do not fit
 * together (SW_EINPUT: haproxy without traffic, backend or canary servers),
 * a caller's bug rather than a measurement.
 */
json_t *sw_analysis_measure(const struct sw_spec_analysis *a, const struct sw_analysis_target *t, const json_t *prev,
			    struct sw_err *err);
bool sw_analysis_needs_baseline(const struct sw_spec_analysis *a);
uint64_t sw_analysis_timeout_ms(const struct sw_spec_analysis *a, const struct sw_analysis_target *t);

enum sw_analysis_state sw_analysis_tally_add(struct sw_analysis_tally *tally, const struct sw_spec_analysis *a,
					     enum sw_verdict v);
enum sw_analysis_state sw_analysis_tally_state(const struct sw_analysis_tally *tally, const struct sw_spec_analysis *a);

/* "success", "failure", "inconclusive", "error" and back (-1: not one). */
const char *sw_analysis_verdict_name(enum sw_verdict v);
int sw_analysis_verdict_parse(const char *s, enum sw_verdict *out);
/* "running", "successful", "failed", "inconclusive". */
const char *sw_analysis_state_name(enum sw_analysis_state s);
/* The verdict of a stored measurement; -1 if it has none. */
int sw_analysis_measurement_verdict(const json_t *m, enum sw_verdict *out);

#endif
