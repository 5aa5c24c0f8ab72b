/*
 * rolling.h - the rolling strategy's rollout step: batch by batch (plan.h),
 * each host's release replaced in its current slot (the slot active in its
 * desired rows; "a" at first), the next batch only when every host of this
 * one reports the new release healthy.
 *
 * Revoked hosts (no longer enrolled) are skipped at every step: phase
 * "skipped", an event deployment.host_skipped naming each, never waited for,
 * not counted among the hosts (also when the running batch waits for one).
 * Before a batch starts: a host of the batch that is offline fails the
 * deployment at once; hosts of other batches that are offline count as
 * unavailable, and when batch size + those > max_unavailable or hosts -
 * both < min_healthy the deployment fails at once, naming them (no wait).
 * While a batch runs: a host that goes offline, reports failed or refused,
 * or reports a verdict (unhealthy after retries, crashloop; deployment.h)
 * fails it; one not healthy when health_timeout has passed since the batch
 * started fails it. When every batch is done the deployment succeeded.
 * Failing = sw_dep_fail() (deployment.h): the common rollback follows.
 *
 * With a load balancer (env traffic: {haproxy: {socket, backend}}), each
 * host's server "<host>-<slot>" is taken out of rotation around its change,
 * one "set" per step, so that a restarted controller repeats it safely:
 *
 *   host phase  balancer                     moves on when
 *   draining    server set to drain          its sessions (stats scur) are 0,
 *                                            or SW_ROLLING_DRAIN_MS passed:
 *                                            then maint, then the desired row
 *   updating    maint                        the host reports the new release
 *                                            healthy: then ready, read back
 *   healthy     ready, balancer sees it up   (the host is done)
 *
 * batch_started_ms (the health_timeout clock) is set when the last host of
 * the batch has left "draining". A balancer error (unreachable, unknown
 * server, a state not taken) fails the batch with the balancer's words.
 *
 * Rollback (deployment.c, rolling only; batches chosen there):
 *   sw_rolling_unroute  every pass: hosts still draining for the rollout go
 *                       back to ready (their release never changed); hosts
 *                       of the rollback batch (phase "unrouting") in
 *                       rotation are drained (same bound, from their
 *                       since_ms) and put in maint, then phase "unrouted"
 *                       (their rows go back). 1 while one waits for
 *                       sessions. Balancer errors land in the host's
 *                       message and do not hold the rollback.
 *   sw_rolling_reroute  host ph reports its previous release healthy: its
 *                       server goes back to ready and is read back (1 done,
 *                       0 not yet, -1 failed; *why says). A host that had
 *                       nothing running stays in maint. A host that never
 *                       gets healthy again is never put back in rotation.
 *
 * Calls rollout/deployment, traffic/ (through obs->traffic), jansson, base/.
 */
#ifndef SW_ROLLOUT_ROLLING_H
#define SW_ROLLOUT_ROLLING_H

#include <jansson.h>

#include "rollout/deployment.h"

/* Longest wait for a draining server's sessions to end. */
#define SW_ROLLING_DRAIN_MS 5000

void sw_rolling_step(json_t *dep, const struct sw_obs *obs, struct sw_step *out);
/* The balancer to drain through: obs->traffic when the env has traffic.haproxy, else NULL. */
struct sw_traffic *sw_rolling_traffic(const json_t *dep, const struct sw_obs *obs);
int sw_rolling_unroute(json_t *dep, const struct sw_obs *obs);
int sw_rolling_reroute(const json_t *dep, const struct sw_obs *obs, const json_t *ph, char *why, size_t size);

#endif
