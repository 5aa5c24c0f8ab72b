/*
 * rings.h - the rings strategy: the environment's hosts grouped by the
 * value of a host label (env JSON rings.label, default "ring"), deployed
 * ring by ring in rings.order (plan.c makes one batch per ring and refuses
 * hosts whose value is not in the order).
 *
 * Within a ring every host is replaced like rolling does it (rolling.c's
 * per-host path: the release goes into the host's current slot, the ring
 * is done when each host reports it healthy within health_timeout; a host
 * that fails, goes offline or stays unhealthy fails the deployment). With
 * the env's traffic (rings.traffic in the spec, "traffic" in the env JSON
 * as for rolling) each host is drained first and put back in rotation once
 * healthy, by rolling.c; without it nothing is drained.
 *
 * After each ring (the last one included) is healthy, the ring bakes for
 * rings.bake_ms (plan timestamps, no sleeping) while rings.analysis, if
 * set, runs over it through rollout/gate.h exactly as a canary's inline
 * analysis does (its run is the "cruns" entry {name, step: ring index};
 * the hosts of every ring done so far are its canary servers, the others
 * its stable servers):
 *   successful (or, with count 0, still running when the bake time is up)
 *     and the bake time passed: the next ring starts
 *   failed: the rollback of every ring touched so far (deployment.c), the
 *     failing measurement in the reason ("ring 'early': analysis ...")
 *   inconclusive: state paused with the reason; resume or promote goes on
 *     with the next ring, abort rolls back
 * `slipway promote` during a bake ends it at once (the analysis is left as
 * it is). Pause / resume push the bake's end out by the time paused. The
 * progress deadline does not fire while a ring bakes.
 *
 * Each ring that starts is an event deployment.step {id, step (ring
 * index), kind: "ring", ring (its name)}, queued in struct sw_step.events.
 *
 * Plan fields (besides rolling's batch, batch_started_ms, hosts): rings
 * (names, one per batch), rings_started (how many ring events were
 * queued), baking (bool), bake_ring, bake_started_ms, bake_until_ms,
 * bake_waiting (the ring whose inconclusive analysis paused it); per
 * host: canary (true once its ring is healthy: the analysis target).
 *
 * Calls rollout/rolling, rollout/gate, rollout/deployment, rollout/runjson,
 * jansson, base/.
 */
#ifndef SW_ROLLOUT_RINGS_H
#define SW_ROLLOUT_RINGS_H

#include <jansson.h>

#include "rollout/deployment.h"

void sw_rings_step(json_t *dep, const struct sw_obs *obs, struct sw_step *out);

#endif
