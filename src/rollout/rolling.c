/*
 * rolling.c - the rolling strategy's rollout step (see rolling.h).
 * Calls rollout/deployment, jansson, base/.
 */
#include "rollout/rolling.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/num.h"

#include <stdio.h>
#include <string.h>

static bool sw_rolling_in_batch(const json_t *batch, size_t idx)
{
	json_t *v;
	size_t i;

	json_array_foreach(batch, i, v)
		if ((size_t)json_integer_value(v) == idx)
			return true;
	return false;
}

/* The slot a host serves from now: the one active in its desired rows, else "a". */
static int sw_rolling_current_slot(const struct sw_obs_host *oh)
{
	int s;

	for (s = 0; oh && s < 2; s++)
		if (oh->want[s] && json_is_true(json_object_get(oh->want[s], "active")))
			return s;
	return 0;
}

/* Start batch b: check availability, then tell its hosts. Returns 1 when started. */
static int sw_rolling_start_batch(json_t *dep, const struct sw_obs *obs, struct sw_step *out, size_t b,
				  size_t nbatches)
{
	static const char *const slots[2] = { "a", "b" };
	json_t *plan = sw_dep_plan(dep), *hosts = json_object_get(plan, "hosts"), *limits = json_object_get(plan, "limits");
	json_t *batch = json_array_get(json_object_get(plan, "batches"), b), *ph, *v, *want;
	const struct sw_obs_host *oh;
	size_t i, n = json_array_size(hosts), nb = json_array_size(batch), off = 0;
	int64_t mu = sw_dep_int(limits, "max_unavailable"), mh = sw_dep_int(limits, "min_healthy");
	int64_t timeout = sw_dep_int(sw_dep_env(dep), "health_timeout_ms"), blocked;
	char reason[SW_ERR_MSG_MAX], age[128], d[32];
	struct sw_buf names = SW_BUF_INIT(4096);
	int slot;

	json_array_foreach(batch, i, v) {
		ph = json_array_get(hosts, (size_t)json_integer_value(v));
		oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
		if (sw_dep_offline(obs, oh)) {
			sw_dep_health(obs, ph, -1, NULL, age, sizeof(age));
			snprintf(reason, sizeof(reason), "host '%s' is offline (%s)", sw_json_str(ph, "name"), age);
			sw_dep_host_phase(ph, "failed", age, obs->now_ms);
			sw_dep_fail(dep, obs, reason);
			return 0;
		}
	}
	json_array_foreach(hosts, i, ph) {
		if (sw_rolling_in_batch(batch, i))
			continue;
		if (sw_dep_offline(obs, sw_dep_obs_host(obs, sw_json_str(ph, "id")))) {
			sw_buf_printf(&names, "%s'%s'", off ? ", " : "", sw_json_str(ph, "name"));
			off++;
		}
	}
	if ((int64_t)(nb + off) > mu || (int64_t)n - (int64_t)(nb + off) < mh) {
		blocked = sw_dep_int(plan, "blocked_ms");
		if (!blocked)
			json_object_set_new(plan, "blocked_ms", json_integer(blocked = obs->now_ms));
		if (obs->now_ms - blocked > (timeout > 0 ? timeout : 300000)) {
			snprintf(reason, sizeof(reason),
				 "cannot start batch %zu of %zu: host%s %s offline, max_unavailable is %lld and "
				 "min_healthy is %lld (waited %s)",
				 b + 1, nbatches, off > 1 ? "s" : "", sw_buf_str(&names), (long long)mu, (long long)mh,
				 sw_format_duration_ms((uint64_t)(timeout > 0 ? timeout : 300000), d, sizeof(d)));
			sw_dep_fail(dep, obs, reason);
		} else {
			sw_dep_set_step(dep, "batch %zu of %zu waits: host%s %s offline", b + 1, nbatches,
					off > 1 ? "s" : "", sw_buf_str(&names));
		}
		sw_buf_release(&names);
		return 0;
	}
	sw_buf_release(&names);
	json_object_set_new(plan, "blocked_ms", json_integer(0));
	json_array_foreach(batch, i, v) {
		ph = json_array_get(hosts, (size_t)json_integer_value(v));
		oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
		slot = sw_rolling_current_slot(oh);
		sw_dep_snapshot(ph, oh);
		json_object_set_new(ph, "slot", json_string(slots[slot]));
		json_object_set_new(ph, "port", json_integer(json_integer_value(json_array_get(json_object_get(ph, "ports"), (size_t)slot))));
		want = sw_dep_row(sw_json_str(dep, "digest"), json_integer_value(json_object_get(ph, "port")), true,
				  sw_dep_run(dep));
		sw_dep_push_desired(out, sw_json_str(ph, "id"), slots[slot], want);
		json_decref(want);
		sw_dep_host_phase(ph, "updating", "", obs->now_ms);
	}
	json_object_set_new(plan, "batch_started_ms", json_integer(obs->now_ms));
	sw_dep_set_step(dep, "batch %zu of %zu: updating %zu host%s", b + 1, nbatches, nb, nb == 1 ? "" : "s");
	return 1;
}

void sw_rolling_step(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep), *hosts = json_object_get(plan, "hosts"), *batches = json_object_get(plan, "batches");
	json_t *batch, *ph, *v;
	size_t b = (size_t)sw_dep_int(plan, "batch"), nbatches = json_array_size(batches), i, healthy = 0, nb;
	int64_t started = sw_dep_int(plan, "batch_started_ms"), timeout = sw_dep_int(sw_dep_env(dep), "health_timeout_ms");
	const char *digest = sw_json_str(dep, "digest"), *phase, *late = NULL, *late_msg = "";
	char msg[600], reason[SW_ERR_MSG_MAX], d[32];
	json_t *late_ph = NULL;

	if (timeout <= 0)
		timeout = 300000;
	if (b >= nbatches) {
		sw_deployment_finish(dep, SW_DEP_SUCCEEDED, "", out);
		sw_dep_set_step(dep, "%zu host%s updated", json_array_size(hosts), json_array_size(hosts) == 1 ? "" : "s");
		return;
	}
	if (started == 0) {
		sw_rolling_start_batch(dep, obs, out, b, nbatches);
		return;
	}
	batch = json_array_get(batches, b);
	nb = json_array_size(batch);
	json_array_foreach(batch, i, v) {
		ph = json_array_get(hosts, (size_t)json_integer_value(v));
		phase = sw_json_str(ph, "phase");
		if (phase && !strcmp(phase, "healthy")) {
			healthy++;
			continue;
		}
		switch (sw_dep_health(obs, ph, sw_dep_slot_index(sw_json_str(ph, "slot")), digest, msg, sizeof(msg))) {
		case SW_DH_HEALTHY:
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
		case SW_DH_UNHEALTHY:
		case SW_DH_WAIT:
			json_object_set_new(ph, "message", json_string(msg));
			if (!late) {
				late = sw_json_str(ph, "name");
				late_msg = sw_json_str(ph, "message");
				late_ph = ph;
			}
			break;
		}
	}
	if (healthy == nb) {
		json_object_set_new(plan, "batch", json_integer((json_int_t)(b + 1)));
		json_object_set_new(plan, "batch_started_ms", json_integer(0));
		sw_dep_progressed(dep, obs);
		sw_dep_set_step(dep, "batch %zu of %zu healthy", b + 1, nbatches);
		out->again = true;
		return;
	}
	if (obs->now_ms - started > timeout) {
		snprintf(reason, sizeof(reason), "host '%s' not healthy after %s (%s)", late,
			 sw_format_duration_ms((uint64_t)timeout, d, sizeof(d)), late_msg && *late_msg ? late_msg : "no report");
		sw_dep_host_phase(late_ph, "failed", late_msg, obs->now_ms);
		sw_dep_fail(dep, obs, reason);
		return;
	}
	sw_dep_set_step(dep, "batch %zu of %zu: %zu of %zu host%s healthy", b + 1, nbatches, healthy, nb,
			nb == 1 ? "" : "s");
}
