/*
 * traffic.c - dispatch and naming helpers of the traffic seam (see traffic.h).
 * Owns nothing; calls only libc and base/.
 */
#include "traffic/traffic.h"

#include <string.h>

#include "base/mem.h"

int sw_traffic_set_weight(struct sw_traffic *t, const char *backend, const char *server,
			  unsigned weight, struct sw_err *err)
{
	SW_BUG_ON(!t || !t->ops);
	return t->ops->set_weight(t, backend, server, weight, err);
}

int sw_traffic_set_weights(struct sw_traffic *t, const char *backend,
			   const struct sw_traffic_weight *w, size_t n, size_t *bad, struct sw_err *err)
{
	SW_BUG_ON(!t || !t->ops);
	return t->ops->set_weights(t, backend, w, n, bad, err);
}

int sw_traffic_set_state(struct sw_traffic *t, const char *backend, const char *server,
			 enum sw_traffic_state state, struct sw_err *err)
{
	SW_BUG_ON(!t || !t->ops);
	return t->ops->set_state(t, backend, server, state, err);
}

int sw_traffic_servers(struct sw_traffic *t, const char *backend, struct sw_arena *a,
		       struct sw_traffic_server **out, size_t *n, struct sw_err *err)
{
	SW_BUG_ON(!t || !t->ops);
	return t->ops->servers(t, backend, a, out, n, err);
}

int sw_traffic_stats(struct sw_traffic *t, const char *backend, struct sw_arena *a,
		     struct sw_traffic_stats **out, size_t *n, struct sw_err *err)
{
	SW_BUG_ON(!t || !t->ops);
	return t->ops->stats(t, backend, a, out, n, err);
}

static const char *const state_names[] = {
	[SW_TRAFFIC_READY] = "ready",
	[SW_TRAFFIC_DRAIN] = "drain",
	[SW_TRAFFIC_MAINT] = "maint",
};

const char *sw_traffic_state_name(enum sw_traffic_state state)
{
	if ((unsigned)state >= SW_ARRAY_LEN(state_names))
		return "unknown";
	return state_names[state];
}

int sw_traffic_state_parse(const char *s, size_t len, enum sw_traffic_state *out)
{
	size_t i;

	for (i = 0; i < SW_ARRAY_LEN(state_names); i++) {
		if (strlen(state_names[i]) == len && memcmp(state_names[i], s, len) == 0) {
			*out = (enum sw_traffic_state)i;
			return 0;
		}
	}
	return -1;
}

const char *sw_traffic_health_name(enum sw_traffic_health health)
{
	switch (health) {
	case SW_TRAFFIC_HEALTH_UP:
		return "up";
	case SW_TRAFFIC_HEALTH_DOWN:
		return "down";
	case SW_TRAFFIC_HEALTH_STARTING:
		return "starting";
	case SW_TRAFFIC_HEALTH_STOPPING:
		return "stopping";
	case SW_TRAFFIC_HEALTH_UNKNOWN:
		break;
	}
	return "unknown";
}

const struct sw_traffic_server *sw_traffic_find_server(const struct sw_traffic_server *s, size_t n,
							const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0)
			return &s[i];
	return NULL;
}

const struct sw_traffic_stats *sw_traffic_find_stats(const struct sw_traffic_stats *s, size_t n,
						      const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0)
			return &s[i];
	return NULL;
}
