/*
 * rolling.h - the rolling strategy's rollout step: batch by batch (plan.h),
 * each host's release replaced in its current slot (the slot active in its
 * desired rows; "a" at first), the next batch only when every host of this
 * one reports the new release healthy.
 *
 * Before a batch starts: a host of the batch that is offline fails the
 * deployment; hosts of other batches that are offline count as
 * unavailable, and the batch waits (up to health_timeout) while
 * batch size + those > max_unavailable or hosts - both < min_healthy.
 * While a batch runs: a host that goes offline, reports failed or refused
 * fails it; one not healthy when health_timeout has passed since the batch
 * started fails it. When every batch is done the deployment succeeded.
 * Failing = sw_dep_fail() (deployment.h): the common rollback follows.
 *
 * Calls rollout/deployment (shared helpers), jansson, base/.
 */
#ifndef SW_ROLLOUT_ROLLING_H
#define SW_ROLLOUT_ROLLING_H

#include <jansson.h>

#include "rollout/deployment.h"

void sw_rolling_step(json_t *dep, const struct sw_obs *obs, struct sw_step *out);

#endif
