/*
 * trafficsync.h - traffic reconciliation: put back in rotation every
 * healthy host that runs what it should, whatever ended before.
 *
 * A rollout takes servers out of rotation around its changes (rolling with
 * traffic drains a host to maint, blue/green prepares a colour at weight
 * 0, a rollback leaves a host that was not back yet in maint). When it
 * ends early (a rollback, a failure, a host that came back late, a server
 * restarted in between), a healthy host could stay out until the next
 * deployment. The controller (controller.c) runs this pass for every
 * (service, env) with a load balancer whose latest deployment has ended:
 * at start, at the end of every deployment and every SW_TRAFFICSYNC_MS.
 *
 * For each host of dep's plan that is online, each slot whose desired row
 * is active and that the host reports healthy on that row's digest: its
 * server "<host>-<slot>" is set ready when it is not, and given its
 * configured weight (1 without one) when its weight is 0. Nothing else is
 * touched: inactive slots, unhealthy, offline or unknown hosts, servers the
 * backend does not have. Only with no deployment of the service active in
 * any environment: the controller checks that (a rollout owns the traffic
 * while it runs, and environments of one service may share hosts).
 *
 * Calls rollout/deployment (its accessors and sw_dep_offline), traffic/
 * through obs->traffic, jansson, base/.
 */
#ifndef SW_ROLLOUT_TRAFFICSYNC_H
#define SW_ROLLOUT_TRAFFICSYNC_H

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "rollout/deployment.h"

/* How often the controller reconciles when nothing else asks for it. */
#define SW_TRAFFICSYNC_MS 5000

/*
 * Reconcile the balancer of dep's environment (obs->traffic, backend from
 * dep's spec) with what dep's hosts run. Returns the number of servers put
 * back in rotation (their names and old states appended to done, "web-2-a
 * (maint)", comma separated), 0 when nothing was out or there is no
 * balancer, -1 (err) when the balancer cannot be read or refused a change
 * (servers changed before stay changed).
 */
int sw_trafficsync(const json_t *dep, const struct sw_obs *obs, struct sw_buf *done, struct sw_err *err);

#endif
