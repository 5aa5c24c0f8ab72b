/*
 * bluegreen.h - the blue/green strategy: every host of the environment at
 * once gets the new release in its idle slot (the one not active in its
 * desired rows; "a" when none is), beside the running one, on the idle
 * slot's port. Sub-steps (plan.bg):
 *
 *   install  desired row {digest, idle port, active: false} per host; with a
 *            load balancer, the idle server "<host>-<slot>" is set to weight
 *            0 and state ready so that the balancer health-checks it while
 *            it takes no traffic
 *   health   every host reports the new release healthy, and the balancer
 *            sees every idle server up (health_timeout)
 *   smoke    the env's smoke command (if any) runs on the server with
 *            SLIPWAY_TARGETS=address:port,... of the new instances
 *   switch   plan.switch_started is recorded first; then at once: new
 *            servers get their weight (the balancer's initial weight, at
 *            least 1), old servers go to maint, and every weight and state
 *            is read back; rows flip active; the deployment succeeded
 *
 * The old slot keeps running; plan.cleanup {at_ms, done} tells the
 * controller to remove its rows after keep_old (sw_bluegreen_cleanup).
 * Rollback (deployment.c) first calls sw_bluegreen_unswitch: new servers
 * to maint, old servers ready with their weight, read back.
 *
 * Calls rollout/deployment, traffic/ (through obs->traffic), jansson, base/.
 */
#ifndef SW_ROLLOUT_BLUEGREEN_H
#define SW_ROLLOUT_BLUEGREEN_H

#include <jansson.h>

#include "base/err.h"
#include "rollout/deployment.h"

void sw_bluegreen_step(json_t *dep, const struct sw_obs *obs, struct sw_step *out);
/* Traffic back to the old colour (no balancer: nothing to do). */
int sw_bluegreen_unswitch(json_t *dep, const struct sw_obs *obs, struct sw_err *err);
/*
 * For a succeeded blue/green deployment whose keep_old time has come:
 * queue the removal of every old slot row that still holds the previous
 * release inactive, and mark plan.cleanup.done. Returns 1 when it did
 * something to commit, 0 when it is not time (or nothing to do).
 */
int sw_bluegreen_cleanup(json_t *dep, const struct sw_obs *obs, struct sw_step *out);

#endif
