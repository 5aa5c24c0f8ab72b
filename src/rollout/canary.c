/*
 * canary.c - the canary strategy (see canary.h).
 * Calls rollout/deployment, rollout/gate, rollout/plan, traffic/ (through obs->traffic),
 * jansson, base/. Events go into out->events (struct sw_step owns them).
 */
#include "rollout/canary.h"
#include "base/arena.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/num.h"
#include "rollout/gate.h"
#include "rollout/plan.h"

#include <stdio.h>
#include <string.h>

static const json_t *sw_cn_steps(const json_t *dep)
{
	return json_object_get(json_object_get(sw_dep_env(dep), "canary"), "steps");
}

int sw_canary_weights(size_t c, size_t s, unsigned pct, unsigned *wc, unsigned *ws)
{
	unsigned a, b, best_a = 0, best_b = 0;
	uint64_t num, den, best_err = UINT64_MAX, err, total, best_total = 0;

	*wc = *ws = 0;
	if (pct > 100 || c + s == 0 || c > 100000 || s > 100000)
		return -1;
	if (pct == 0) {
		*ws = s ? SW_TRAFFIC_WEIGHT_MAX : 0;
		return s ? 0 : -1;
	}
	if (pct == 100 || s == 0) {
		if (pct != 100 || c == 0)
			return -1;
		*wc = SW_TRAFFIC_WEIGHT_MAX;
		return 0;
	}
	if (c == 0)
		return -1;
	/*
	 * share = c*a / (c*a + s*b); error = |100*c*a - pct*(c*a + s*b)| over
	 * the same denominator scaled: compare err/den across pairs by cross
	 * multiplication would be exact, but the absolute share error times
	 * 1e6 is enough at these sizes.
	 */
	for (a = 1; a <= SW_TRAFFIC_WEIGHT_MAX; a++)
		for (b = 1; b <= SW_TRAFFIC_WEIGHT_MAX; b++) {
			num = (uint64_t)c * a;
			den = num + (uint64_t)s * b;
			/* |num/den - pct/100| in millionths */
			err = num * 100 > (uint64_t)pct * den ? num * 100 - (uint64_t)pct * den
							      : (uint64_t)pct * den - num * 100;
			err = err * 10000 / den;
			total = (uint64_t)a + b;
			if (err < best_err || (err == best_err && total > best_total)) {
				best_err = err;
				best_total = total;
				best_a = a;
				best_b = b;
			}
		}
	*wc = best_a;
	*ws = best_b;
	return 0;
}

/* ---- events ------------------------------------------------------------- */

static void sw_cn_event(json_t *dep, struct sw_step *out, size_t step, const char *kind)
{
	json_t *ev;

	if (!out->events)
		out->events = json_array();
	ev = json_pack("{s:s, s:{s:s, s:I, s:s, s:I}}", "kind", "deployment.step", "payload", "id",
		       sw_json_str(dep, "id") ? sw_json_str(dep, "id") : "", "step", (json_int_t)step, "kind", kind,
		       "weight", (json_int_t)(sw_dep_int(sw_dep_plan(dep), "cweight") < 0 ? 0 : sw_dep_int(sw_dep_plan(dep), "cweight")));
	json_array_append_new(out->events, ev);
}

static const char *sw_cn_kind(const json_t *dep, size_t i)
{
	const char *k = sw_json_str(json_array_get(sw_cn_steps(dep), i), "kind");

	return k ? k : "promote";
}

/* Go on with step i + 1 (or the final promotion when the steps run out). */
static void sw_cn_next(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep);
	size_t i = (size_t)sw_dep_int(plan, "cstep") + 1;

	json_object_set_new(plan, "cstep", json_integer((json_int_t)i));
	json_object_set_new(plan, "cstep_started_ms", json_integer(obs->now_ms));
	json_object_del(plan, "cwaiting");
	sw_dep_progressed(dep, obs);
	sw_cn_event(dep, out, i, i < json_array_size(sw_cn_steps(dep)) ? sw_cn_kind(dep, i) : "promote");
	out->again = true;
}

/* Stop at this step for a human: state paused with the reason. */
static void sw_cn_pause(json_t *dep, const struct sw_obs *obs, struct sw_step *out, const char *reason)
{
	json_t *plan = sw_dep_plan(dep);

	json_object_set_new(plan, "cwaiting", json_integer(sw_dep_int(plan, "cstep")));
	sw_dep_wait_for_human(dep, obs, out, reason);
}

/* ---- the balancer ------------------------------------------------------- */

/* Record what the balancer reports now, for the reason of a pause (never leave weights unknown silently). */
static void sw_cn_record_seen(json_t *dep, const struct sw_obs *obs)
{
	struct sw_traffic_server *list = NULL;
	struct sw_err err = SW_ERR_INIT;
	json_t *seen;
	struct sw_arena a;
	size_t i, n = 0;

	sw_arena_init(&a);
	if (sw_traffic_servers(obs->traffic, sw_dep_backend(dep), &a, &list, &n, &err) < 0) {
		seen = json_pack("{s:s}", "error", err.msg);
	} else {
		seen = json_object();
		for (i = 0; i < n; i++)
			json_object_set_new(seen, list[i].name, json_integer(list[i].weight));
	}
	sw_arena_release(&a);
	json_object_set_new(sw_dep_plan(dep), "cweights_seen", seen);
}

/* Is every canary server UP in the balancer? *why: which is not. -1: cannot read the balancer. */
static int sw_cn_canaries_up(json_t *dep, const struct sw_obs *obs, char *why, size_t size, struct sw_err *err)
{
	const struct sw_traffic_server *srv;
	struct sw_traffic_server *list = NULL;
	struct sw_arena a;
	char server[300];
	json_t *ph;
	size_t i, n = 0;
	int ok = 1;

	if (!obs->traffic)
		return 1;
	sw_arena_init(&a);
	if (sw_traffic_servers(obs->traffic, sw_dep_backend(dep), &a, &list, &n, err) < 0) {
		sw_arena_release(&a);
		return -1;
	}
	json_array_foreach(json_object_get(sw_dep_plan(dep), "hosts"), i, ph) {
		if (!json_is_true(json_object_get(ph, "canary")))
			continue;
		srv = sw_traffic_find_server(list, n, sw_dep_server(ph, sw_json_str(ph, "slot"), server, sizeof(server)));
		if (!srv) {
			snprintf(why, size, "server '%s' is not in backend '%s'", server, sw_dep_backend(dep));
			ok = 0;
			break;
		}
		if (srv->checked && srv->health != SW_TRAFFIC_HEALTH_UP) {
			snprintf(why, size, "waiting for the balancer to see server '%s' up (%s)", server,
				 sw_traffic_health_name(srv->health));
			ok = 0;
			break;
		}
	}
	sw_arena_release(&a);
	return ok;
}

/*
 * Apply pct: canary servers wc, stable servers ws, in one call (read back).
 * pct 0 (rollback): canary 0, stable their configured weight.
 */
static int sw_cn_apply(json_t *dep, const struct sw_obs *obs, unsigned pct, struct sw_err *err)
{
	json_t *hosts = json_object_get(sw_dep_plan(dep), "hosts"), *ph, *seen;
	struct sw_traffic_server *list = NULL;
	const struct sw_traffic_server *srv;
	struct sw_traffic_weight *w;
	size_t i, n = 0, nw = 0, nc = 0, ns = 0, bad = 0;
	const char *backend = sw_dep_backend(dep), *old;
	unsigned wc = 0, ws = 0;
	struct sw_arena a;
	char server[300];
	int rc = -1;

	json_array_foreach(hosts, i, ph) {
		nc += json_is_true(json_object_get(ph, "canary"));
		ns += sw_json_str(ph, "old_slot") != NULL;
	}
	if (pct > 0 && sw_canary_weights(nc, ns, pct, &wc, &ws) < 0)
		return sw_err_set(err, SW_EFAILED, "cannot give %u%% of the traffic to %zu canary and %zu stable servers",
				  pct, nc, ns);
	sw_arena_init(&a);
	if (sw_traffic_servers(obs->traffic, backend, &a, &list, &n, err) < 0)
		goto out;
	w = sw_arena_allocarray(&a, json_array_size(hosts) * 2 + 1, sizeof(*w));
	/* Canary servers first: on the way down their weight goes to 0 before anything else moves. */
	json_array_foreach(hosts, i, ph) {
		if (!json_is_true(json_object_get(ph, "canary")))
			continue;
		sw_dep_server(ph, sw_json_str(ph, "slot"), server, sizeof(server));
		if (!sw_traffic_find_server(list, n, server)) {
			sw_err_set(err, SW_EFAILED, "server '%s' is not in backend '%s'", server, backend ? backend : "");
			goto out;
		}
		w[nw].server = sw_arena_strdup(&a, server);
		w[nw++].weight = wc;
	}
	json_array_foreach(hosts, i, ph) {
		old = sw_json_str(ph, "old_slot");
		if (!old)
			continue;
		srv = sw_traffic_find_server(list, n, sw_dep_server(ph, old, server, sizeof(server)));
		if (!srv) {
			sw_err_set(err, SW_EFAILED, "server '%s' is not in backend '%s'", server, backend ? backend : "");
			goto out;
		}
		w[nw].server = sw_arena_strdup(&a, server);
		w[nw++].weight = pct > 0 ? ws : (srv->initial_weight ? srv->initial_weight : 1);
	}
	if (nw && sw_traffic_set_weights(obs->traffic, backend, w, nw, &bad, err) < 0)
		goto out;
	seen = json_object();
	for (i = 0; i < nw; i++)
		json_object_set_new(seen, w[i].server, json_integer(w[i].weight));
	json_object_set_new(sw_dep_plan(dep), "cweights", seen);
	rc = 0;
out:
	sw_arena_release(&a);
	return rc;
}

/* Set server `slot` of ph to weight 0 and ready (checked, takes nothing). */
static int sw_cn_prepare(json_t *dep, const struct sw_obs *obs, const json_t *ph, struct sw_err *err)
{
	char server[300];

	if (!obs->traffic)
		return 0;
	sw_dep_server(ph, sw_json_str(ph, "slot"), server, sizeof(server));
	if (sw_traffic_set_weight(obs->traffic, sw_dep_backend(dep), server, 0, err) < 0 ||
	    sw_traffic_set_state(obs->traffic, sw_dep_backend(dep), server, SW_TRAFFIC_READY, err) < 0) {
		sw_err_prefix(err, "cannot prepare server '%s'", server);
		return -1;
	}
	return 0;
}

/* The balancer failed us during a weight change: record what it has, pause with the reason. */
static void sw_cn_traffic_pause(json_t *dep, const struct sw_obs *obs, struct sw_step *out, const char *what,
				const struct sw_err *err)
{
	char reason[SW_ERR_MSG_MAX];

	sw_cn_record_seen(dep, obs);
	snprintf(reason, sizeof(reason), "step %lld: %s: %s", (long long)sw_dep_int(sw_dep_plan(dep), "cstep") + 1,
		 what, err->msg);
	sw_cn_pause(dep, obs, out, reason);
}

/* ---- instances ---------------------------------------------------------- */

/*
 * The first `want` hosts run the new release in their idle slot, healthy
 * and UP. 1: ready; 0: waiting (or paused); -1: failed (rollback started).
 */
static int sw_cn_instances(json_t *dep, const struct sw_obs *obs, struct sw_step *out, size_t want)
{
	json_t *plan = sw_dep_plan(dep), *hosts = json_object_get(plan, "hosts"), *ph, *row;
	const char *digest = sw_json_str(dep, "digest"), *late = NULL;
	char msg[600], late_msg[600] = "", reason[SW_ERR_MSG_MAX], d[32];
	struct sw_err err = SW_ERR_INIT;
	const struct sw_obs_host *oh;
	size_t i, healthy = 0;
	int s, up;

	if (want > json_array_size(hosts))
		want = json_array_size(hosts);
	json_array_foreach(hosts, i, ph) {
		if (i >= want)
			break;
		if (json_is_true(json_object_get(ph, "canary")))
			continue;
		if (sw_cn_prepare(dep, obs, ph, &err) < 0) {
			sw_cn_traffic_pause(dep, obs, out, "the balancer", &err);
			return 0;
		}
		oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
		sw_dep_snapshot(ph, oh);
		s = sw_dep_slot_index(sw_json_str(ph, "slot"));
		json_object_set_new(ph, "port",
				    json_integer(json_integer_value(json_array_get(json_object_get(ph, "ports"), (size_t)s))));
		row = sw_dep_row(digest, json_integer_value(json_object_get(ph, "port")), false);
		sw_dep_push_desired(out, sw_json_str(ph, "id"), sw_dep_slots[s], row);
		json_decref(row);
		json_object_set_new(ph, "canary", json_true());
		sw_dep_host_phase(ph, "updating", "", obs->now_ms);
		json_object_set_new(plan, "cinst_started_ms", json_integer(obs->now_ms));
	}
	json_object_set_new(plan, "ccanaries", json_integer((json_int_t)want));
	if (json_array_size(out->desired))
		return 0; /* their reports come later */
	json_array_foreach(hosts, i, ph) {
		if (i >= want)
			break;
		switch (sw_dep_health(obs, ph, sw_dep_slot_index(sw_json_str(ph, "slot")), digest, msg, sizeof(msg))) {
		case SW_DH_HEALTHY:
			if (strcmp(sw_json_str(ph, "phase") ? sw_json_str(ph, "phase") : "", "healthy"))
				sw_dep_host_phase(ph, "healthy", "", obs->now_ms);
			healthy++;
			break;
		case SW_DH_OFFLINE:
		case SW_DH_FAILED:
			snprintf(reason, sizeof(reason), "host '%s' %s%s", sw_json_str(ph, "name"),
				 sw_dep_offline(obs, sw_dep_obs_host(obs, sw_json_str(ph, "id"))) ? "went offline: " : "", msg);
			sw_dep_host_phase(ph, "failed", msg, obs->now_ms);
			sw_dep_fail(dep, obs, reason);
			return -1;
		default:
			json_object_set_new(ph, "message", json_string(msg));
			if (!late) {
				late = sw_json_str(ph, "name");
				snprintf(late_msg, sizeof(late_msg), "%s", msg);
			}
			break;
		}
	}
	if (!late) {
		up = sw_cn_canaries_up(dep, obs, late_msg, sizeof(late_msg), &err);
		if (up < 0) {
			sw_cn_traffic_pause(dep, obs, out, "cannot read the balancer", &err);
			return 0;
		}
		if (up)
			return 1;
		late = "";
	}
	if (obs->now_ms - sw_dep_int(plan, "cinst_started_ms") > sw_dep_health_timeout(dep)) {
		snprintf(reason, sizeof(reason), "%s%s%s not healthy after %s (%s)", *late ? "canary host '" : "canary servers",
			 late, *late ? "'" : "", sw_format_duration_ms((uint64_t)sw_dep_health_timeout(dep), d, sizeof(d)),
			 *late_msg ? late_msg : "no report");
		sw_dep_fail(dep, obs, reason);
		return -1;
	}
	if (sw_dep_int(plan, "cstep") >= (int64_t)json_array_size(sw_cn_steps(dep)))
		sw_dep_set_step(dep, "%zu of %zu hosts healthy with the new release%s%s", healthy, want,
				*late_msg ? "; " : "", late_msg);
	else
		sw_dep_set_step(dep, "step %lld: %zu of %zu canary instances healthy%s%s",
				(long long)sw_dep_int(plan, "cstep") + 1, healthy, want, *late_msg ? "; " : "", late_msg);
	return 0;
}

/* ---- promotion ---------------------------------------------------------- */

/* Every host: new servers their configured weight and ready, old servers maint (their weight back), read back. */
static int sw_cn_flip(json_t *dep, const struct sw_obs *obs, struct sw_err *err)
{
	json_t *hosts = json_object_get(sw_dep_plan(dep), "hosts"), *ph;
	struct sw_traffic_server *list = NULL;
	const struct sw_traffic_server *srv;
	struct sw_traffic_weight *w;
	const char *backend = sw_dep_backend(dep), *old;
	size_t i, n = 0, nw = 0, bad;
	struct sw_arena a;
	char server[300];
	int rc = -1;

	if (!obs->traffic)
		return 0;
	sw_arena_init(&a);
	if (sw_traffic_servers(obs->traffic, backend, &a, &list, &n, err) < 0)
		goto out;
	w = sw_arena_allocarray(&a, json_array_size(hosts) * 2 + 1, sizeof(*w));
	json_array_foreach(hosts, i, ph) {
		srv = sw_traffic_find_server(list, n, sw_dep_server(ph, sw_json_str(ph, "slot"), server, sizeof(server)));
		if (!srv) {
			sw_err_set(err, SW_EFAILED, "server '%s' is not in backend '%s'", server, backend ? backend : "");
			goto out;
		}
		w[nw].server = sw_arena_strdup(&a, server);
		w[nw++].weight = srv->initial_weight ? srv->initial_weight : 1;
	}
	json_array_foreach(hosts, i, ph) {
		old = sw_json_str(ph, "old_slot");
		srv = old ? sw_traffic_find_server(list, n, sw_dep_server(ph, old, server, sizeof(server))) : NULL;
		if (!srv)
			continue;
		w[nw].server = sw_arena_strdup(&a, server);
		w[nw++].weight = srv->initial_weight ? srv->initial_weight : 1;
	}
	if (sw_traffic_set_weights(obs->traffic, backend, w, nw, &bad, err) < 0)
		goto out;
	json_array_foreach(hosts, i, ph)
		if (sw_traffic_set_state(obs->traffic, backend, sw_dep_server(ph, sw_json_str(ph, "slot"), server, sizeof(server)),
					 SW_TRAFFIC_READY, err) < 0)
			goto out;
	json_array_foreach(hosts, i, ph) {
		old = sw_json_str(ph, "old_slot");
		if (old && sw_traffic_find_server(list, n, sw_dep_server(ph, old, server, sizeof(server))) &&
		    sw_traffic_set_state(obs->traffic, backend, server, SW_TRAFFIC_MAINT, err) < 0)
			goto out;
	}
	sw_arena_release(&a);
	sw_arena_init(&a);
	if (sw_traffic_servers(obs->traffic, backend, &a, &list, &n, err) < 0)
		goto out;
	json_array_foreach(hosts, i, ph) {
		srv = sw_traffic_find_server(list, n, sw_dep_server(ph, sw_json_str(ph, "slot"), server, sizeof(server)));
		if (!srv || srv->state != SW_TRAFFIC_READY || srv->weight == 0) {
			sw_err_set(err, SW_EFAILED, "server '%s' did not take traffic (state %s, weight %u)", server,
				   srv ? sw_traffic_state_name(srv->state) : "missing", srv ? srv->weight : 0);
			goto out;
		}
	}
	rc = 0;
out:
	sw_arena_release(&a);
	return rc;
}

static void sw_cn_promote(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep), *hosts = json_object_get(plan, "hosts"), *ph, *row;
	struct sw_err err = SW_ERR_INIT;
	char reason[SW_ERR_MSG_MAX];
	size_t i, n = json_array_size(hosts);
	int r;

	if (!json_is_true(json_object_get(plan, "switch_started"))) {
		r = sw_cn_instances(dep, obs, out, n);
		if (r <= 0) {
			if (r == 0 && !out->transition)
				sw_dep_set_step(dep, "promoting: starting the new release on every host (%s)",
						sw_json_str(plan, "step") ? sw_json_str(plan, "step") : "");
			return;
		}
		json_object_set_new(plan, "switch_started", json_true());
	}
	if (sw_cn_flip(dep, obs, &err) < 0) {
		snprintf(reason, sizeof(reason), "promotion: traffic switch failed: %s", err.msg);
		sw_dep_fail(dep, obs, reason);
		return;
	}
	json_array_foreach(hosts, i, ph) {
		row = sw_dep_row(sw_json_str(dep, "digest"), sw_dep_int(ph, "port"), true);
		sw_dep_push_desired(out, sw_json_str(ph, "id"), sw_json_str(ph, "slot"), row);
		json_decref(row);
		if (sw_json_str(ph, "old_slot"))
			sw_dep_push_desired(out, sw_json_str(ph, "id"), sw_json_str(ph, "old_slot"), NULL);
		sw_dep_host_phase(ph, "switched", "", obs->now_ms);
	}
	json_object_set_new(plan, "cweight", json_integer(100));
	sw_deployment_finish(dep, SW_DEP_SUCCEEDED, "", out);
	sw_dep_set_step(dep, "promoted: 100%% on %zu host%s", n, n == 1 ? "" : "s");
}

/* ---- the step ----------------------------------------------------------- */

/* The slot whose desired row is active on the host (its stable release), or -1. */
static int sw_cn_active_slot(const struct sw_obs_host *oh)
{
	int s, old = -1;

	for (s = 0; oh && s < 2; s++)
		if (oh->want[s] && json_is_true(json_object_get(oh->want[s], "active")))
			old = s;
	return old;
}

/*
 * First step: slots per host; every host must run a release to be the stable side,
 * or none (the environment's first release: no canary, installed everywhere at once).
 */
static int sw_cn_start(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep), *ph;
	const struct sw_obs_host *oh;
	char reason[SW_ERR_MSG_MAX], age[128];
	size_t i, running = 0, nsteps = json_array_size(sw_cn_steps(dep));
	int old;

	json_array_foreach(json_object_get(plan, "hosts"), i, ph)
		if (sw_cn_active_slot(sw_dep_obs_host(obs, sw_json_str(ph, "id"))) >= 0)
			running++;
	json_array_foreach(json_object_get(plan, "hosts"), i, ph) {
		oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
		if (sw_dep_offline(obs, oh)) {
			sw_dep_health(obs, ph, -1, NULL, age, sizeof(age));
			snprintf(reason, sizeof(reason), "host '%s' is offline (%s)", sw_json_str(ph, "name"), age);
			sw_dep_host_phase(ph, "failed", age, obs->now_ms);
			sw_dep_fail(dep, obs, reason);
			return -1;
		}
		json_object_set_new(ph, "canary", json_false());
		if (!running) { /* the first release: slot a, promoted at once */
			json_object_set_new(ph, "slot", json_string(sw_dep_slots[0]));
			continue;
		}
		old = sw_cn_active_slot(oh);
		if (old < 0) {
			snprintf(reason, sizeof(reason),
				 "host '%s' runs no release of the service: a canary needs a stable release to compare "
				 "with (deploy it first with another environment or strategy)",
				 sw_json_str(ph, "name"));
			sw_dep_fail(dep, obs, reason);
			return -1;
		}
		json_object_set_new(ph, "slot", json_string(sw_dep_slots[old == 0 ? 1 : 0]));
		json_object_set_new(ph, "old_slot", json_string(sw_dep_slots[old]));
	}
	if (!running)
		json_object_set_new(plan, "cfirst", json_true());
	json_object_set_new(plan, "cstep", json_integer(running ? 0 : (json_int_t)nsteps));
	json_object_set_new(plan, "cstep_started_ms", json_integer(obs->now_ms));
	json_object_set_new(plan, "cweight", json_integer(-1));
	json_object_set_new(plan, "ccanaries", json_integer(0));
	if (running && nsteps)
		sw_cn_event(dep, out, 0, sw_cn_kind(dep, 0));
	else
		sw_cn_event(dep, out, nsteps, "promote");
	return 0;
}

/*
 * Canary instances that were healthy must stay so at every step (they take
 * traffic): failed, refused, unhealthy or offline fails the rollout.
 */
static int sw_cn_watch(json_t *dep, const struct sw_obs *obs)
{
	char msg[600], reason[SW_ERR_MSG_MAX];
	json_t *ph;
	size_t i;

	json_array_foreach(json_object_get(sw_dep_plan(dep), "hosts"), i, ph) {
		if (!json_is_true(json_object_get(ph, "canary")) ||
		    strcmp(sw_json_str(ph, "phase") ? sw_json_str(ph, "phase") : "", "healthy"))
			continue;
		switch (sw_dep_health(obs, ph, sw_dep_slot_index(sw_json_str(ph, "slot")), sw_json_str(dep, "digest"), msg,
				      sizeof(msg))) {
		case SW_DH_FAILED:
		case SW_DH_UNHEALTHY:
		case SW_DH_OFFLINE:
			snprintf(reason, sizeof(reason), "canary host '%s' %s%s", sw_json_str(ph, "name"),
				 sw_dep_offline(obs, sw_dep_obs_host(obs, sw_json_str(ph, "id"))) ? "went offline: " : "is ",
				 msg);
			sw_dep_host_phase(ph, "failed", msg, obs->now_ms);
			sw_dep_fail(dep, obs, reason);
			return -1;
		default:
			break;
		}
	}
	return 0;
}

void sw_canary_step(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep), *step, *promote;
	const json_t *steps = sw_cn_steps(dep);
	char reason[SW_ERR_MSG_MAX], d[32], why[600] = "";
	struct sw_err err = SW_ERR_INIT;
	size_t idx, want, ncan;
	int64_t cur, w, until;
	const char *kind, *name;
	int r;

	if (!json_object_get(plan, "cstep") && sw_cn_start(dep, obs, out) < 0)
		return;
	if (sw_cn_watch(dep, obs) < 0)
		return;
	idx = (size_t)sw_dep_int(plan, "cstep");
	/* A promote asked for at another step is stale: it skips only the wait it was asked at. */
	promote = json_object_get(plan, "promote");
	if (promote && sw_dep_int(promote, "step") != (int64_t)idx)
		sw_dep_take_promote(dep);
	/* A human let an inconclusive background analysis go on (resume or promote). */
	if (json_object_get(plan, "cbg_paused")) {
		const char *k = idx < json_array_size(steps) ? sw_cn_kind(dep, idx) : "";

		json_object_del(plan, "cbg_paused");
		sw_gate_background_resume(dep);
		/* At a wait a promote also skips the wait; elsewhere it was used up to go on. */
		if (strcmp(k, "pause") && strcmp(k, "analysis"))
			sw_dep_take_promote(dep);
	}
	/* The environment's first release: nothing to compare with, so no steps nor analyses. */
	if (json_object_get(plan, "cfirst")) {
		sw_cn_promote(dep, obs, out);
		return;
	}
	/* Background analyses: a failure rolls back at any step; inconclusive waits for a human. */
	switch (sw_gate_background(dep, obs, out, idx, reason, sizeof(reason))) {
	case SW_ANALYSIS_FAILED:
		sw_dep_fail(dep, obs, reason);
		out->again = true;
		return;
	case SW_ANALYSIS_INCONCLUSIVE: {
		json_t *waiting = json_incref(json_object_get(plan, "cwaiting"));

		sw_cn_pause(dep, obs, out, reason);
		if (waiting)
			json_object_set_new(plan, "cwaiting", waiting);
		else
			json_object_del(plan, "cwaiting");
		json_object_set_new(plan, "cbg_paused", json_true());
		return;
	}
	default:
		break;
	}
	/* promote --full: the steps left are skipped, promotion now (background analyses above still watch). */
	if (json_object_get(plan, "promote_full") && idx < json_array_size(steps)) {
		idx = json_array_size(steps);
		json_object_set_new(plan, "cstep", json_integer((json_int_t)idx));
		json_object_set_new(plan, "cstep_started_ms", json_integer(obs->now_ms));
		json_object_del(plan, "cwaiting");
		sw_dep_take_promote(dep);
		sw_cn_event(dep, out, idx, "promote");
	}
	if (idx >= json_array_size(steps)) {
		sw_cn_promote(dep, obs, out);
		return;
	}
	step = json_array_get(steps, idx);
	kind = sw_json_str(step, "kind") ? sw_json_str(step, "kind") : "";
	if (!strcmp(kind, "instances")) {
		if (sw_plan_amount(json_object_get(step, "instances"), json_array_size(json_object_get(plan, "hosts")),
				   SW_PLAN_ROUND_UP, "instances", &want, &err) < 0) {
			sw_dep_fail(dep, obs, err.msg);
			return;
		}
		if (want < 1)
			want = 1;
		ncan = (size_t)sw_dep_int(plan, "ccanaries");
		if (want < ncan)
			want = ncan; /* never fewer than already run: their traffic share stays right */
		r = sw_cn_instances(dep, obs, out, want);
		if (r == 1)
			sw_cn_next(dep, obs, out);
		return;
	}
	if (!strcmp(kind, "weight")) {
		w = sw_dep_int(step, "weight");
		cur = sw_dep_int(plan, "cweight");
		if (w >= 100) {
			sw_cn_promote(dep, obs, out);
			return;
		}
		if (!obs->traffic) {
			snprintf(reason, sizeof(reason), "step %zu: weight needs a load balancer (strategy.canary.traffic)",
				 idx + 1);
			sw_dep_fail(dep, obs, reason);
			return;
		}
		if (w < 0 || w < cur) {
			snprintf(reason, sizeof(reason), "step %zu: weight %lld after %lld: canary weights must not decrease",
				 idx + 1, (long long)w, (long long)cur);
			sw_dep_fail(dep, obs, reason);
			return;
		}
		/* Capacity before traffic: the canary instances exist, are healthy and UP. */
		r = sw_cn_instances(dep, obs, out, sw_dep_int(plan, "ccanaries") > 0 ? (size_t)sw_dep_int(plan, "ccanaries") : 1);
		if (r <= 0)
			return;
		r = sw_cn_canaries_up(dep, obs, why, sizeof(why), &err);
		if (r < 0) {
			sw_cn_traffic_pause(dep, obs, out, "cannot read the balancer", &err);
			return;
		}
		if (r == 0)
			return; /* sw_cn_instances waits for this too, bounded by health_timeout */
		if (sw_cn_apply(dep, obs, (unsigned)w, &err) < 0) {
			char what[64];

			snprintf(what, sizeof(what), "setting weight %lld%%", (long long)w);
			sw_cn_traffic_pause(dep, obs, out, what, &err);
			return;
		}
		json_object_set_new(plan, "cweight", json_integer(w));
		sw_dep_set_step(dep, "step %zu: canary at %lld%%", idx + 1, (long long)w);
		sw_cn_next(dep, obs, out);
		return;
	}
	if (!strcmp(kind, "pause")) {
		if (sw_dep_take_promote(dep) ||
		    (json_object_get(plan, "cwaiting") && sw_dep_int(plan, "cwaiting") == (int64_t)idx)) {
			sw_cn_next(dep, obs, out);
			return;
		}
		if (json_is_true(json_object_get(step, "manual"))) {
			snprintf(reason, sizeof(reason), "waiting for promote at step %zu", idx + 1);
			sw_cn_pause(dep, obs, out, reason);
			return;
		}
		until = sw_dep_int(plan, "cstep_started_ms") + sw_dep_int(step, "pause_ms");
		if (obs->now_ms >= until) {
			sw_cn_next(dep, obs, out);
			return;
		}
		/* A timed pause is not progress: keep the deadline from firing meanwhile. */
		sw_dep_progressed(dep, obs);
		/* The end, not the time left: the text changes once, so watchers print it once. */
		{
			char ts[SW_TIME_STR_MAX];

			sw_clock_format_utc(until, ts, sizeof(ts));
			sw_dep_set_step(dep, "step %zu: pause %s, until %.8s UTC (promote skips it)", idx + 1,
					sw_format_duration_ms((uint64_t)sw_dep_int(step, "pause_ms"), d, sizeof(d)), ts + 11);
		}
		return;
	}
	if (!strcmp(kind, "analysis")) {
		if (sw_dep_take_promote(dep) ||
		    (json_object_get(plan, "cwaiting") && sw_dep_int(plan, "cwaiting") == (int64_t)idx)) {
			sw_cn_next(dep, obs, out);
			return;
		}
		name = sw_json_str(step, "analysis") ? sw_json_str(step, "analysis") : "";
		switch (sw_gate_inline(dep, obs, out, idx, name, reason, sizeof(reason))) {
		case SW_ANALYSIS_SUCCESSFUL:
			sw_cn_next(dep, obs, out);
			return;
		case SW_ANALYSIS_FAILED:
			sw_dep_fail(dep, obs, reason);
			out->again = true;
			return;
		case SW_ANALYSIS_INCONCLUSIVE:
			sw_cn_pause(dep, obs, out, reason);
			return;
		case SW_ANALYSIS_RUNNING:
			break;
		}
		/* Measuring is not stalling: keep the progress deadline from firing meanwhile. */
		sw_dep_progressed(dep, obs);
		sw_dep_set_step(dep, "step %zu: analysis '%s' running", idx + 1, name);
		return;
	}
	snprintf(reason, sizeof(reason), "step %zu: unknown canary step kind '%s'", idx + 1, kind);
	sw_dep_fail(dep, obs, reason);
}

int sw_canary_unroute(json_t *dep, const struct sw_obs *obs, struct sw_err *err)
{
	json_t *hosts = json_object_get(sw_dep_plan(dep), "hosts"), *ph;
	struct sw_traffic_server *list = NULL;
	const struct sw_traffic_server *srv;
	const char *backend = sw_dep_backend(dep);
	struct sw_arena a;
	char server[300];
	size_t i, n = 0;
	int rc = -1;

	if (!obs->traffic)
		return 0;
	/* No canary instance was ever started (they start only once the balancer took their server): nothing to take off. */
	json_array_foreach(hosts, i, ph)
		if (json_is_true(json_object_get(ph, "canary")))
			n++;
	if (!n)
		return 0;
	n = 0;
	/* Weight first: canary 0 and stable full in one call, before any state or row changes. */
	if (sw_cn_apply(dep, obs, 0, err) < 0)
		return -1;
	json_array_foreach(hosts, i, ph) {
		if (sw_json_str(ph, "old_slot") &&
		    sw_traffic_set_state(obs->traffic, backend, sw_dep_server(ph, sw_json_str(ph, "old_slot"), server, sizeof(server)),
					 SW_TRAFFIC_READY, err) < 0)
			return -1;
	}
	json_array_foreach(hosts, i, ph) {
		if (json_is_true(json_object_get(ph, "canary")) &&
		    sw_traffic_set_state(obs->traffic, backend, sw_dep_server(ph, sw_json_str(ph, "slot"), server, sizeof(server)),
					 SW_TRAFFIC_MAINT, err) < 0)
			return -1;
	}
	sw_arena_init(&a);
	if (sw_traffic_servers(obs->traffic, backend, &a, &list, &n, err) < 0)
		goto out;
	json_array_foreach(hosts, i, ph) {
		if (!json_is_true(json_object_get(ph, "canary")))
			continue;
		srv = sw_traffic_find_server(list, n, sw_dep_server(ph, sw_json_str(ph, "slot"), server, sizeof(server)));
		if (srv && (srv->weight != 0 || srv->state != SW_TRAFFIC_MAINT)) {
			sw_err_set(err, SW_EFAILED, "canary server '%s' still takes traffic (state %s, weight %u)", server,
				   sw_traffic_state_name(srv->state), srv->weight);
			goto out;
		}
	}
	json_object_set_new(sw_dep_plan(dep), "cweight", json_integer(0));
	rc = 0;
out:
	sw_arena_release(&a);
	return rc;
}

bool sw_canary_paused_watch(const json_t *dep)
{
	const json_t *plan = sw_dep_plan(dep), *canary = json_object_get(sw_dep_env(dep), "canary");

	return json_is_object(plan) && !strcmp(sw_json_str(plan, "strategy") ? sw_json_str(plan, "strategy") : "", "canary") &&
	       !strcmp(sw_json_str(plan, "phase") ? sw_json_str(plan, "phase") : "", "rollout") &&
	       json_object_get(plan, "cstep") && !json_object_get(plan, "cfirst") && !json_object_get(plan, "abort") &&
	       !json_object_get(plan, "cbg_paused") &&
	       json_array_size(json_object_get(canary, "templates")) > 0 &&
	       sw_dep_int(plan, "cstep") >= sw_dep_int(canary, "start_at_step");
}

void sw_canary_paused(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep);
	char reason[SW_ERR_MSG_MAX];

	if (!sw_canary_paused_watch(dep))
		return;
	switch (sw_gate_background(dep, obs, out, (size_t)sw_dep_int(plan, "cstep"), reason, sizeof(reason))) {
	case SW_ANALYSIS_FAILED:
		/* A pause holds the rollout, not the rollback: out of paused, then roll back. */
		json_object_set_new(dep, "state", json_string("progressing"));
		json_object_del(plan, "pause");
		sw_dep_fail(dep, obs, reason);
		out->transition = true;
		out->state = SW_DEP_PROGRESSING;
		out->again = true;
		return;
	case SW_ANALYSIS_INCONCLUSIVE:
		/* Still paused; the reason is now the analysis, and resume or promote acknowledges it. */
		json_object_set_new(plan, "cbg_paused", json_true());
		if (json_is_object(json_object_get(plan, "pause")))
			json_object_set_new(json_object_get(plan, "pause"), "reason", json_string(reason));
		json_object_set_new(dep, "reason", json_string(reason));
		sw_dep_set_step(dep, "paused: %s", reason);
		out->transition = true;
		out->state = SW_DEP_PAUSED;
		return;
	default:
		return;
	}
}
