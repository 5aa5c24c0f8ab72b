/*
 * trafficsync.c - traffic reconciliation (see trafficsync.h): healthy hosts
 * on their desired release back in rotation.
 * Calls rollout/deployment, traffic/ (through obs->traffic), jansson, base/.
 */
#include "rollout/trafficsync.h"
#include "base/arena.h"
#include "base/json.h"

#include <stdio.h>
#include <string.h>

/* Host oh reports the active row of slot s healthy, on that row's digest. */
static bool sw_tsync_serving(const struct sw_obs_host *oh, int s)
{
	const json_t *want = oh->want[s];
	const char *digest = sw_json_str(want, "digest");

	return want && json_is_true(json_object_get(want, "active")) && digest && oh->slot[s].digest &&
	       !strcmp(oh->slot[s].digest, digest) && oh->slot[s].state && !strcmp(oh->slot[s].state, "healthy");
}

int sw_trafficsync(const json_t *dep, const struct sw_obs *obs, struct sw_buf *done, struct sw_err *err)
{
	const char *backend = sw_dep_backend(dep);
	struct sw_traffic_server *list = NULL;
	const struct sw_traffic_server *srv;
	const struct sw_obs_host *oh;
	char server[300];
	struct sw_arena a;
	const json_t *ph;
	size_t i, n = 0;
	int s, changed = 0, rc = -1;

	if (!obs->traffic || !backend)
		return 0;
	sw_arena_init(&a);
	if (sw_traffic_servers(obs->traffic, backend, &a, &list, &n, err) < 0)
		goto out;
	json_array_foreach(json_object_get(sw_dep_plan(dep), "hosts"), i, ph) {
		oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
		if (!oh || sw_dep_offline(obs, oh))
			continue;
		for (s = 0; s < 2; s++) {
			if (!sw_tsync_serving(oh, s))
				continue;
			sw_dep_server(ph, sw_dep_slots[s], server, sizeof(server));
			srv = sw_traffic_find_server(list, n, server);
			if (!srv || (srv->state == SW_TRAFFIC_READY && srv->weight > 0))
				continue;
			if (srv->weight == 0 &&
			    sw_traffic_set_weight(obs->traffic, backend, server,
						  srv->initial_weight ? srv->initial_weight : 1, err) < 0)
				goto out;
			if (srv->state != SW_TRAFFIC_READY &&
			    sw_traffic_set_state(obs->traffic, backend, server, SW_TRAFFIC_READY, err) < 0)
				goto out;
			sw_buf_printf(done, "%s%s (%s%s)", changed ? ", " : "", server,
				      sw_traffic_state_name(srv->state), srv->weight == 0 ? ", weight 0" : "");
			changed++;
		}
	}
	rc = changed;
out:
	sw_arena_release(&a);
	return rc;
}
