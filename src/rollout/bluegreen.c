/*
 * bluegreen.c - the blue/green strategy (see bluegreen.h).
 * Calls rollout/deployment, traffic/ (through obs->traffic), jansson, base/.
 */
#include "rollout/bluegreen.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/num.h"

#include <stdio.h>
#include <string.h>

static void sw_bg_sub(json_t *plan, const char *sub)
{
	json_object_set_new(plan, "bg", json_string(sub));
}

static bool sw_bg_is(const json_t *plan, const char *sub)
{
	const char *s = sw_json_str(plan, "bg");

	return !strcmp(s ? s : "install", sub);
}

static void sw_bg_install(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep), *hosts = json_object_get(plan, "hosts"), *ph, *want;
	const struct sw_obs_host *oh;
	const char *backend = sw_dep_backend(dep);
	char reason[SW_ERR_MSG_MAX], age[128], server[300];
	struct sw_err err = SW_ERR_INIT;
	size_t i, n = json_array_size(hosts);
	int s, old;

	json_array_foreach(hosts, i, ph) {
		oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
		if (sw_dep_offline(obs, oh)) {
			sw_dep_health(obs, ph, -1, NULL, age, sizeof(age));
			snprintf(reason, sizeof(reason), "host '%s' is offline (%s)", sw_json_str(ph, "name"), age);
			sw_dep_host_phase(ph, "failed", age, obs->now_ms);
			sw_dep_fail(dep, obs, reason);
			return;
		}
		old = -1;
		for (s = 0; s < 2; s++)
			if (oh->want[s] && json_is_true(json_object_get(oh->want[s], "active")))
				old = s;
		json_object_set_new(ph, "slot", json_string(sw_dep_slots[old == 0 ? 1 : 0]));
		json_object_set_new(ph, "old_slot", old >= 0 ? json_string(sw_dep_slots[old]) : json_null());
	}
	/* The balancer first: nothing is touched if it cannot take the new servers. */
	if (obs->traffic) {
		json_array_foreach(hosts, i, ph) {
			sw_dep_server(ph, sw_json_str(ph, "slot"), server, sizeof(server));
			if (sw_traffic_set_weight(obs->traffic, backend, server, 0, &err) < 0 ||
			    sw_traffic_set_state(obs->traffic, backend, server, SW_TRAFFIC_READY, &err) < 0) {
				snprintf(reason, sizeof(reason), "cannot prepare server '%s' of backend '%s': %s", server,
					 backend ? backend : "", err.msg);
				sw_dep_fail(dep, obs, reason);
				return;
			}
		}
	}
	json_array_foreach(hosts, i, ph) {
		oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
		sw_dep_snapshot(ph, oh);
		s = sw_dep_slot_index(sw_json_str(ph, "slot"));
		json_object_set_new(ph, "port",
				    json_integer(json_integer_value(json_array_get(json_object_get(ph, "ports"), (size_t)s))));
		want = sw_dep_row(sw_json_str(dep, "digest"), json_integer_value(json_object_get(ph, "port")), false);
		sw_dep_push_desired(out, sw_json_str(ph, "id"), sw_dep_slots[s], want);
		json_decref(want);
		sw_dep_host_phase(ph, "updating", "", obs->now_ms);
	}
	sw_bg_sub(plan, "health");
	json_object_set_new(plan, "batch_started_ms", json_integer(obs->now_ms));
	sw_dep_set_step(dep, "starting the new release beside the old one on %zu host%s", n, n == 1 ? "" : "s");
}

/* Does the balancer see every new server up? *why says which is not. */
static int sw_bg_balancer_up(json_t *dep, const struct sw_obs *obs, char *why, size_t size)
{
	json_t *hosts = json_object_get(sw_dep_plan(dep), "hosts"), *ph;
	const struct sw_traffic_server *srv;
	struct sw_traffic_server *list = NULL;
	struct sw_err err = SW_ERR_INIT;
	struct sw_arena a;
	char server[300];
	size_t i, n = 0;
	int ok = 1;

	if (!obs->traffic)
		return 1;
	sw_arena_init(&a);
	if (sw_traffic_servers(obs->traffic, sw_dep_backend(dep), &a, &list, &n, &err) < 0) {
		snprintf(why, size, "cannot read the balancer: %s", err.msg);
		ok = 0;
	}
	json_array_foreach(hosts, i, ph) {
		if (!ok)
			break;
		sw_dep_server(ph, sw_json_str(ph, "slot"), server, sizeof(server));
		srv = sw_traffic_find_server(list, n, server);
		if (!srv) {
			snprintf(why, size, "server '%s' is not in backend '%s'", server, sw_dep_backend(dep));
			ok = 0;
		} else if (srv->checked && srv->health != SW_TRAFFIC_HEALTH_UP) {
			snprintf(why, size, "waiting for the balancer to see server '%s' up (%s)", server,
				 sw_traffic_health_name(srv->health));
			ok = 0;
		}
	}
	sw_arena_release(&a);
	return ok;
}

static void sw_bg_health(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep), *hosts = json_object_get(plan, "hosts"), *ph, *smoke;
	const char *digest = sw_json_str(dep, "digest"), *late = NULL, *smoke_cmd;
	char msg[600], late_msg[600] = "", reason[SW_ERR_MSG_MAX], d[32];
	struct sw_buf targets = SW_BUF_INIT(65536);
	size_t i, healthy = 0, n = json_array_size(hosts);
	int64_t timeout = sw_dep_health_timeout(dep);

	json_array_foreach(hosts, i, ph) {
		switch (sw_dep_health(obs, ph, sw_dep_slot_index(sw_json_str(ph, "slot")), digest, msg, sizeof(msg))) {
		case SW_DH_HEALTHY:
			if (strcmp(sw_json_str(ph, "phase"), "healthy"))
				sw_dep_host_phase(ph, "healthy", "", obs->now_ms);
			healthy++;
			break;
		case SW_DH_OFFLINE:
			snprintf(reason, sizeof(reason), "host '%s' went offline (%s)", sw_json_str(ph, "name"), msg);
			sw_dep_host_phase(ph, "failed", msg, obs->now_ms);
			sw_dep_fail(dep, obs, reason);
			return;
		case SW_DH_FAILED:
			snprintf(reason, sizeof(reason), "host '%s' %s", sw_json_str(ph, "name"), msg);
			sw_dep_host_phase(ph, "failed", msg, obs->now_ms);
			sw_dep_fail(dep, obs, reason);
			return;
		default:
			json_object_set_new(ph, "message", json_string(msg));
			if (!late) {
				late = sw_json_str(ph, "name");
				snprintf(late_msg, sizeof(late_msg), "%s", msg);
			}
			break;
		}
	}
	if (healthy == n && !sw_bg_balancer_up(dep, obs, late_msg, sizeof(late_msg)))
		late = "";
	if (late) {
		if (obs->now_ms - sw_dep_int(plan, "batch_started_ms") > timeout) {
			if (*late)
				snprintf(reason, sizeof(reason), "host '%s' not healthy after %s (%s)", late,
					 sw_format_duration_ms((uint64_t)timeout, d, sizeof(d)),
					 *late_msg ? late_msg : "no report");
			else
				snprintf(reason, sizeof(reason), "new servers not up after %s: %s",
					 sw_format_duration_ms((uint64_t)timeout, d, sizeof(d)), late_msg);
			sw_dep_fail(dep, obs, reason);
			return;
		}
		if (*late)
			sw_dep_set_step(dep, "%zu of %zu hosts healthy", healthy, n);
		else
			sw_dep_set_step(dep, "%s", late_msg);
		return;
	}
	sw_dep_progressed(dep, obs);
	smoke_cmd = sw_json_str(json_object_get(sw_dep_env(dep), "blue_green"), "smoke");
	if (smoke_cmd && *smoke_cmd) {
		json_array_foreach(hosts, i, ph)
			sw_buf_printf(&targets, "%s%s:%lld", i ? "," : "", sw_json_str(ph, "address"),
				      (long long)sw_dep_int(ph, "port"));
		smoke = json_pack("{s:s, s:s, s:I, s:s}", "command", smoke_cmd, "targets", sw_buf_str(&targets),
				  "started_ms", (json_int_t)obs->now_ms, "message", "");
		sw_buf_release(&targets);
		json_object_set_new(plan, "smoke", smoke);
		sw_bg_sub(plan, "smoke");
		out->smoke_start = true;
		sw_dep_set_step(dep, "running the smoke test against %zu new instance%s", n, n == 1 ? "" : "s");
		return;
	}
	sw_bg_sub(plan, "switch");
	sw_dep_set_step(dep, "switching traffic");
	out->again = true;
}

static void sw_bg_smoke(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep), *smoke = json_object_get(plan, "smoke");
	char reason[SW_ERR_MSG_MAX], d[32];
	int64_t timeout = sw_dep_health_timeout(dep);

	switch (obs->smoke) {
	case SW_SMOKE_PASSED:
		json_object_set_new(smoke, "message", json_string(obs->smoke_message ? obs->smoke_message : "passed"));
		sw_bg_sub(plan, "switch");
		sw_dep_set_step(dep, "smoke test passed; switching traffic");
		out->again = true;
		return;
	case SW_SMOKE_FAILED:
		snprintf(reason, sizeof(reason), "smoke test failed: %s",
			 obs->smoke_message && *obs->smoke_message ? obs->smoke_message : "no output");
		json_object_set_new(smoke, "message", json_string(reason));
		sw_dep_fail(dep, obs, reason);
		return;
	case SW_SMOKE_IDLE:
		/* Not running (the server restarted): run it again. */
		json_object_set_new(smoke, "started_ms", json_integer(obs->now_ms));
		out->smoke_start = true;
		return;
	case SW_SMOKE_RUNNING:
		if (obs->now_ms - sw_dep_int(smoke, "started_ms") > timeout) {
			snprintf(reason, sizeof(reason), "smoke test did not finish within %s",
				 sw_format_duration_ms((uint64_t)timeout, d, sizeof(d)));
			sw_dep_fail(dep, obs, reason);
		}
		return;
	}
}

/*
 * The slot whose server leaves rotation: switching forward, the old colour,
 * or (first deployment) the other slot if the balancer has a server for it;
 * switching back, the new colour.
 */
static const char *sw_bg_off(const json_t *ph, bool forward, const struct sw_traffic_server *list, size_t n)
{
	const char *slot = sw_json_str(ph, "slot"), *other;
	char server[300];

	if (!forward)
		return slot;
	if (sw_json_str(ph, "old_slot"))
		return sw_json_str(ph, "old_slot");
	other = sw_dep_slot_index(slot) == 0 ? "b" : "a";
	return sw_traffic_find_server(list, n, sw_dep_server(ph, other, server, sizeof(server))) ? other : NULL;
}

/* Set each touched host's `want` server ready (weight from the balancer) and `off` server maint, then read back. */
static int sw_bg_flip(json_t *dep, const struct sw_obs *obs, bool forward, struct sw_err *err)
{
	json_t *hosts = json_object_get(sw_dep_plan(dep), "hosts"), *ph;
	const char *backend = sw_dep_backend(dep), *on, *off;
	struct sw_traffic_weight *w = NULL;
	struct sw_traffic_server *list = NULL;
	const struct sw_traffic_server *srv;
	size_t i, n = 0, nw = 0, bad;
	char **names = NULL;
	struct sw_arena a;
	char server[300];
	int rc = -1;

	sw_arena_init(&a);
	if (sw_traffic_servers(obs->traffic, backend, &a, &list, &n, err) < 0)
		goto out;
	w = sw_arena_allocarray(&a, json_array_size(hosts) + 1, sizeof(*w));
	names = sw_arena_allocarray(&a, json_array_size(hosts) + 1, sizeof(*names));
	json_array_foreach(hosts, i, ph) {
		if (!json_is_true(json_object_get(ph, "touched")))
			continue;
		on = forward ? sw_json_str(ph, "slot") : sw_json_str(ph, "old_slot");
		if (!on)
			continue;
		sw_dep_server(ph, on, server, sizeof(server));
		srv = sw_traffic_find_server(list, n, server);
		if (!srv) {
			sw_err_set(err, SW_EFAILED, "server '%s' is not in backend '%s'", server, backend ? backend : "");
			goto out;
		}
		names[nw] = sw_arena_strdup(&a, server);
		w[nw].server = names[nw];
		w[nw].weight = srv->initial_weight ? srv->initial_weight : 1;
		nw++;
	}
	/* The side taking traffic first, so that no moment has nobody serving. */
	if (nw && sw_traffic_set_weights(obs->traffic, backend, w, nw, &bad, err) < 0)
		goto out;
	for (i = 0; i < nw; i++)
		if (sw_traffic_set_state(obs->traffic, backend, w[i].server, SW_TRAFFIC_READY, err) < 0)
			goto out;
	json_array_foreach(hosts, i, ph) {
		if (!json_is_true(json_object_get(ph, "touched")))
			continue;
		off = sw_bg_off(ph, forward, list, n);
		if (!off)
			continue;
		sw_dep_server(ph, off, server, sizeof(server));
		if (sw_traffic_set_state(obs->traffic, backend, server, SW_TRAFFIC_MAINT, err) < 0)
			goto out;
	}
	/* Read everything back: the switch is done only if the balancer says so. */
	sw_arena_release(&a);
	sw_arena_init(&a);
	if (sw_traffic_servers(obs->traffic, backend, &a, &list, &n, err) < 0)
		goto out;
	json_array_foreach(hosts, i, ph) {
		if (!json_is_true(json_object_get(ph, "touched")))
			continue;
		on = forward ? sw_json_str(ph, "slot") : sw_json_str(ph, "old_slot");
		off = sw_bg_off(ph, forward, list, n);
		if (on) {
			srv = sw_traffic_find_server(list, n, sw_dep_server(ph, on, server, sizeof(server)));
			if (!srv || srv->state != SW_TRAFFIC_READY || srv->weight == 0) {
				sw_err_set(err, SW_EFAILED, "server '%s' did not take traffic (state %s, weight %u)",
					   server, srv ? sw_traffic_state_name(srv->state) : "missing", srv ? srv->weight : 0);
				goto out;
			}
		}
		if (off) {
			srv = sw_traffic_find_server(list, n, sw_dep_server(ph, off, server, sizeof(server)));
			if (!srv || srv->state != SW_TRAFFIC_MAINT) {
				sw_err_set(err, SW_EFAILED, "server '%s' did not leave rotation (state %s)", server,
					   srv ? sw_traffic_state_name(srv->state) : "missing");
				goto out;
			}
		}
	}
	rc = 0;
out:
	sw_arena_release(&a);
	return rc;
}

static void sw_bg_switch(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep), *hosts = json_object_get(plan, "hosts"), *ph, *row;
	const struct sw_obs_host *oh;
	struct sw_err err = SW_ERR_INIT;
	char reason[SW_ERR_MSG_MAX];
	const char *slot = NULL, *old;
	size_t i, n = json_array_size(hosts);
	int os;

	if (!json_is_true(json_object_get(plan, "switch_started"))) {
		/* Recorded before the balancer is touched: a rollback must then switch back first. */
		json_object_set_new(plan, "switch_started", json_true());
		out->again = true;
		return;
	}
	if (obs->traffic && sw_bg_flip(dep, obs, true, &err) < 0) {
		snprintf(reason, sizeof(reason), "traffic switch failed: %s", err.msg);
		sw_dep_fail(dep, obs, reason);
		return;
	}
	json_array_foreach(hosts, i, ph) {
		oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
		slot = sw_json_str(ph, "slot");
		row = sw_dep_row(sw_json_str(dep, "digest"), sw_dep_int(ph, "port"), true);
		sw_dep_push_desired(out, sw_json_str(ph, "id"), slot, row);
		json_decref(row);
		old = sw_json_str(ph, "old_slot");
		os = sw_dep_slot_index(old);
		if (os >= 0 && oh && oh->want[os]) {
			row = json_deep_copy(oh->want[os]);
			json_object_del(row, "service");
			json_object_del(row, "slot");
			json_object_set_new(row, "active", json_false());
			sw_dep_push_desired(out, sw_json_str(ph, "id"), old, row);
			json_decref(row);
		}
		sw_dep_host_phase(ph, "switched", "", obs->now_ms);
	}
	json_object_set_new(plan, "switched_ms", json_integer(obs->now_ms));
	json_object_set_new(plan, "cleanup",
			    json_pack("{s:I, s:b}", "at_ms",
				      (json_int_t)(obs->now_ms +
						   sw_dep_int(json_object_get(sw_dep_env(dep), "blue_green"), "keep_old_ms")),
				      "done", 0));
	sw_bg_sub(plan, "done");
	sw_deployment_finish(dep, SW_DEP_SUCCEEDED, "", out);
	sw_dep_set_step(dep, "traffic switched on %zu host%s", n, n == 1 ? "" : "s");
}

void sw_bluegreen_step(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep);

	if (sw_bg_is(plan, "install"))
		sw_bg_install(dep, obs, out);
	else if (sw_bg_is(plan, "health"))
		sw_bg_health(dep, obs, out);
	else if (sw_bg_is(plan, "smoke"))
		sw_bg_smoke(dep, obs, out);
	else if (sw_bg_is(plan, "switch"))
		sw_bg_switch(dep, obs, out);
}

int sw_bluegreen_unswitch(json_t *dep, const struct sw_obs *obs, struct sw_err *err)
{
	if (!obs->traffic)
		return 0;
	return sw_bg_flip(dep, obs, false, err);
}

int sw_bluegreen_cleanup(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep), *cleanup = json_object_get(plan, "cleanup"), *ph, *row;
	const struct sw_obs_host *oh;
	const char *old, *prev;
	size_t i, j;
	int os;

	if (!json_is_object(cleanup) || json_is_true(json_object_get(cleanup, "done")) ||
	    obs->now_ms < sw_dep_int(cleanup, "at_ms"))
		return 0;
	json_array_foreach(json_object_get(plan, "hosts"), i, ph) {
		old = sw_json_str(ph, "old_slot");
		os = sw_dep_slot_index(old);
		oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
		if (os < 0 || !oh || !oh->want[os] || json_is_true(json_object_get(oh->want[os], "active")))
			continue;
		prev = NULL;
		json_array_foreach(json_object_get(ph, "before"), j, row)
			if (sw_dep_slot_index(sw_json_str(row, "slot")) == os)
				prev = sw_json_str(row, "digest");
		/* Only the release this deployment replaced; anything newer belongs to someone else. */
		if (prev && !strcmp(prev, sw_json_str(oh->want[os], "digest") ? sw_json_str(oh->want[os], "digest") : ""))
			sw_dep_push_desired(out, sw_json_str(ph, "id"), old, NULL);
	}
	json_object_set_new(cleanup, "done", json_true());
	return 1;
}
