/*
 * plan.h - which hosts a deployment touches, and in which batches.
 *
 * Hosts: every enrolled, not revoked host whose labels hold every pair of
 * the environment's selector (env JSON "selector", runjson.h), sorted by
 * name. Batches (rolling): consecutive runs of that list, each of
 *
 *   size = min(batch, max_unavailable, hosts - min_healthy)
 *
 * where an amount is a count or a percentage of the hosts:
 *   batch            percent rounds up, at least 1
 *   max_unavailable  percent rounds down, but at least 1 when not 0%
 *   min_healthy      percent rounds up
 * A size below 1 (max_unavailable 0, or min_healthy >= hosts) cannot make
 * progress and is refused (SW_EINPUT naming the setting). Blue/green and
 * canary put every host in one batch (each host keeps serving from its
 * other slot); canary's own fields are in canary.h. Rings (env "rings":
 * {label, order}): one batch per ring of the order that has hosts, in that
 * order, its hosts all at once (plan.rings: the names of those rings); a
 * host whose label value is not in the order, or that lacks the label, is
 * refused (SW_EINPUT naming every such host); rings.h has the rest.
 *
 * The plan JSON (the deployment's `plan` column; deployment.h says how each
 * field moves):
 *   | field              | meaning                                            |
 *   | strategy           | "rolling" | "blue_green" | "canary" | "rings"      |
 *   | phase              | "rollout" -> "rollback" (only on failure/abort)    |
 *   |                    | -> "done"                                          |
 *   | step               | one line for people: "batch 2 of 3", ...           |
 *   | limits             | {batch, max_unavailable, min_healthy} resolved     |
 *   | batches            | [[host index, ...], ...]                           |
 *   | batch              | index of the batch in progress                     |
 *   | batch_started_ms   | when its hosts were told (0: not yet)              |
 *   | hosts              | [{id, name, address, ports [a, b], slot, port,     |
 *   |                    |   phase, touched, gen, before [desired rows], old  |
 *   |                    |   slot (b/g), message, since_ms}]                  |
 *
 * Ownership: returned json_t values are new references (sw_plan_selector_text:
 * a heap string the caller frees). Calls jansson, base/.
 */
#ifndef SW_ROLLOUT_PLAN_H
#define SW_ROLLOUT_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct sw_plan_limits {
	size_t hosts;
	size_t batch;           /* resolved from the spec */
	size_t max_unavailable;
	size_t min_healthy;
	size_t size;            /* hosts per batch */
};

enum sw_plan_round { SW_PLAN_ROUND_UP, SW_PLAN_ROUND_DOWN };

/*
 * An amount (JSON integer count or "N%" string) of n hosts. -1 with err for
 * anything else (what names it in the message).
 */
int sw_plan_amount(const json_t *amount, size_t n, enum sw_plan_round round, const char *what, size_t *out,
		   struct sw_err *err);
/* Does labels (an object) hold every pair of selector (an object)? */
bool sw_plan_labels_match(const json_t *labels, const json_t *selector);
/* "env=staging,region=eu" (selector order) into a new heap string. */
char *sw_plan_selector_text(const json_t *selector);
/*
 * The hosts of host_list (store records) that the selector matches and are
 * not revoked, sorted by name: a new array of borrowed-then-increfed records.
 */
json_t *sw_plan_select(const json_t *host_list, const json_t *selector);
/*
 * The address the smoke command, analyses and balancers use for a host
 * record: its label "address" (an override an admin sets), else the address
 * its agent reports ("address", agent --address), else its name.
 */
const char *sw_plan_address(const json_t *host);
/* Resolve the rolling limits for n hosts (rolling = env JSON "rolling"). */
int sw_plan_limits(const json_t *rolling, size_t n, struct sw_plan_limits *out, struct sw_err *err);
/*
 * A new plan for env (env JSON) over the selected hosts (sw_plan_select).
 * SW_EINPUT when the limits leave nothing to do or the strategy is not one
 * this controller runs.
 */
json_t *sw_plan_build(const json_t *env, const json_t *hosts, struct sw_err *err);

#endif
