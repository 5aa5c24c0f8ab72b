/*
 * rolling.c - the rolling strategy's rollout step, and the load balancer
 * side of its rollback (see rolling.h).
 * Calls rollout/deployment, traffic/ (through obs->traffic), jansson, base/.
 */
#include "rollout/rolling.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/num.h"

#include <stdio.h>
#include <string.h>

struct sw_traffic *sw_rolling_traffic(const json_t *dep, const struct sw_obs *obs)
{
	return obs->traffic && sw_dep_backend(dep) ? obs->traffic : NULL;
}

static bool sw_rolling_phase_is(const json_t *ph, const char *phase)
{
	const char *p = sw_json_str(ph, "phase");

	return p && !strcmp(p, phase);
}

static bool sw_rolling_in_batch(const json_t *batch, size_t idx)
{
	json_t *v;
	size_t i;

	json_array_foreach(batch, i, v)
		if ((size_t)json_integer_value(v) == idx)
			return true;
	return false;
}

static bool sw_rolling_skipped(const json_t *ph)
{
	return sw_rolling_phase_is(ph, "skipped");
}

/*
 * Hosts that are no longer enrolled (revoked with `slipway hosts revoke`,
 * or deleted) leave the plan: phase "skipped", an event
 * deployment.host_skipped naming each, never waited for or counted again.
 * A host of the running batch too: the batch goes on without it.
 */
static void sw_rolling_skip_revoked(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	const struct sw_obs_host *oh;
	json_t *ph, *ev;
	size_t i;

	json_array_foreach(json_object_get(sw_dep_plan(dep), "hosts"), i, ph) {
		oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
		if ((oh && oh->exists) || sw_rolling_skipped(ph))
			continue;
		sw_dep_host_phase(ph, "skipped", "revoked (no longer enrolled): left out of the deployment", obs->now_ms);
		if (!out->events)
			out->events = json_array();
		ev = json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}}", "kind", "deployment.host_skipped", "payload",
			       "id", sw_json_str(dep, "id") ? sw_json_str(dep, "id") : "", "service",
			       sw_json_str(dep, "service") ? sw_json_str(dep, "service") : "", "env",
			       sw_json_str(dep, "env") ? sw_json_str(dep, "env") : "", "host",
			       sw_json_str(ph, "name") ? sw_json_str(ph, "name") : "", "host_id",
			       sw_json_str(ph, "id") ? sw_json_str(ph, "id") : "", "reason", "revoked");
		if (ev)
			json_array_append_new(out->events, ev);
	}
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

/* Tell host ph (its slot and port chosen): its desired row gets the new release. */
static void sw_rolling_update(json_t *dep, const struct sw_obs *obs, json_t *ph, struct sw_step *out)
{
	int slot = sw_dep_slot_index(sw_json_str(ph, "slot"));
	json_t *want;

	sw_dep_snapshot(ph, sw_dep_obs_host(obs, sw_json_str(ph, "id")));
	want = sw_dep_row(sw_json_str(dep, "digest"), sw_dep_int(ph, "port"), true);
	sw_dep_push_desired(out, sw_json_str(ph, "id"), sw_dep_slots[slot < 0 ? 0 : slot], want);
	json_decref(want);
	sw_dep_host_phase(ph, "updating", "", obs->now_ms);
}

/*
 * Start batch b: check availability, then tell its hosts; with a load
 * balancer, set their servers to drain first (sw_rolling_drain tells them).
 * Returns 1 when started.
 */
static int sw_rolling_start_batch(json_t *dep, const struct sw_obs *obs, struct sw_step *out, size_t b,
				  size_t nbatches)
{
	json_t *plan = sw_dep_plan(dep), *hosts = json_object_get(plan, "hosts"), *limits = json_object_get(plan, "limits");
	json_t *batch = json_array_get(json_object_get(plan, "batches"), b), *ph, *v;
	struct sw_traffic *lb = sw_rolling_traffic(dep, obs);
	const char *backend = sw_dep_backend(dep);
	const struct sw_obs_host *oh;
	size_t i, n = json_array_size(hosts), nb, off = 0;
	int64_t mu = sw_dep_int(limits, "max_unavailable"), mh = sw_dep_int(limits, "min_healthy");
	char reason[SW_ERR_MSG_MAX], age[128], server[300];
	struct sw_buf names = SW_BUF_INIT(4096);
	struct sw_err err = SW_ERR_INIT;
	int slot;

	/*
	 * The fail-fast rule (docs/rollout.md, "Offline and revoked hosts"):
	 * revoked hosts are skipped (sw_rolling_skip_revoked); a host of this
	 * batch that is offline cannot be updated: the deployment fails at once,
	 * naming it. Offline hosts of other batches count as unavailable: the
	 * batch starts if max_unavailable and min_healthy still hold with them,
	 * else the deployment fails at once, naming them (waiting for a host
	 * that missed three heartbeats would only delay the same answer).
	 */
	nb = 0;
	json_array_foreach(batch, i, v) {
		ph = json_array_get(hosts, (size_t)json_integer_value(v));
		if (sw_rolling_skipped(ph))
			continue;
		nb++;
		oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
		if (sw_dep_offline(obs, oh)) {
			sw_dep_health(obs, ph, -1, NULL, age, sizeof(age));
			snprintf(reason, sizeof(reason), "host '%s' is offline (%s) at the start of batch %zu of %zu", sw_json_str(ph, "name"), age,
				 b + 1, nbatches);
			sw_dep_host_phase(ph, "failed", age, obs->now_ms);
			sw_dep_fail(dep, obs, reason);
			return 0;
		}
	}
	if (nb == 0) {
		/* Every host of the batch was revoked: on to the next one. */
		json_object_set_new(plan, "batch", json_integer((json_int_t)(b + 1)));
		sw_dep_set_step(dep, "batch %zu of %zu skipped: its hosts were revoked", b + 1, nbatches);
		out->again = true;
		return 0;
	}
	json_array_foreach(hosts, i, ph) {
		if (sw_rolling_skipped(ph)) {
			n--; /* no longer part of the environment */
			continue;
		}
		if (sw_rolling_in_batch(batch, i))
			continue;
		oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
		if (sw_dep_offline(obs, oh)) {
			sw_dep_health(obs, ph, -1, NULL, age, sizeof(age));
			sw_buf_printf(&names, "%s'%s' (%s)", off ? ", " : "", sw_json_str(ph, "name"), age);
			off++;
		}
	}
	if ((int64_t)(nb + off) > mu || (int64_t)n - (int64_t)(nb + off) < mh) {
		snprintf(reason, sizeof(reason),
			 "cannot start batch %zu of %zu: host%s %s %s offline; counted as unavailable, updating %zu more "
			 "host%s would break max_unavailable %lld or min_healthy %lld (revoke a host that is gone to "
			 "leave it out)",
			 b + 1, nbatches, off > 1 ? "s" : "", sw_buf_str(&names), off > 1 ? "are" : "is", nb,
			 nb == 1 ? "" : "s", (long long)mu, (long long)mh);
		sw_dep_fail(dep, obs, reason);
		sw_buf_release(&names);
		return 0;
	}
	sw_buf_release(&names);
	json_array_foreach(batch, i, v) {
		ph = json_array_get(hosts, (size_t)json_integer_value(v));
		if (sw_rolling_skipped(ph))
			continue;
		oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
		slot = sw_rolling_current_slot(oh);
		json_object_set_new(ph, "slot", json_string(sw_dep_slots[slot]));
		json_object_set_new(ph, "port", json_integer(json_integer_value(json_array_get(json_object_get(ph, "ports"), (size_t)slot))));
		if (!lb) {
			sw_rolling_update(dep, obs, ph, out);
			continue;
		}
		/* No new sessions for it; its row changes once those it has are done. */
		sw_dep_server(ph, sw_dep_slots[slot], server, sizeof(server));
		if (sw_traffic_set_state(lb, backend, server, SW_TRAFFIC_DRAIN, &err) < 0) {
			snprintf(reason, sizeof(reason), "cannot drain server '%s' of backend '%s': %s", server, backend,
				 err.msg);
			sw_dep_host_phase(ph, "failed", err.msg, obs->now_ms);
			sw_dep_fail(dep, obs, reason);
			return 0;
		}
		sw_dep_host_phase(ph, "draining", "", obs->now_ms);
	}
	if (lb) {
		sw_dep_set_step(dep, "batch %zu of %zu: draining %zu host%s", b + 1, nbatches, nb, nb == 1 ? "" : "s");
		out->again = true; /* most have no session left by now */
		return 1;
	}
	json_object_set_new(plan, "batch_started_ms", json_integer(obs->now_ms));
	sw_dep_set_step(dep, "batch %zu of %zu: updating %zu host%s", b + 1, nbatches, nb, nb == 1 ? "" : "s");
	return 1;
}

/*
 * The hosts of batch b in phase "draining": each one whose server has no
 * session left (or has drained for SW_ROLLING_DRAIN_MS) goes to maint and
 * then gets its row. When none is left draining the batch has started.
 */
static void sw_rolling_drain(json_t *dep, const struct sw_obs *obs, struct sw_step *out, size_t b, size_t nbatches)
{
	json_t *plan = sw_dep_plan(dep), *hosts = json_object_get(plan, "hosts"), *ph, *v;
	json_t *batch = json_array_get(json_object_get(plan, "batches"), b);
	struct sw_traffic *lb = sw_rolling_traffic(dep, obs);
	const char *backend = sw_dep_backend(dep);
	struct sw_traffic_stats *st = NULL;
	const struct sw_traffic_stats *srv;
	struct sw_err err = SW_ERR_INIT;
	char reason[SW_ERR_MSG_MAX], server[300], msg[64];
	size_t i, nst = 0, left = 0, nb = json_array_size(batch);
	struct sw_arena a;

	if (!lb) {
		/* Cannot happen with a stored spec (the controller makes obs->traffic from it). */
		sw_dep_fail(dep, obs, "hosts are draining but no load balancer is configured");
		return;
	}
	sw_arena_init(&a);
	if (sw_traffic_stats(lb, backend, &a, &st, &nst, &err) < 0) {
		snprintf(reason, sizeof(reason), "cannot read the sessions of backend '%s': %s", backend, err.msg);
		sw_dep_fail(dep, obs, reason);
		goto out;
	}
	json_array_foreach(batch, i, v) {
		ph = json_array_get(hosts, (size_t)json_integer_value(v));
		if (!sw_rolling_phase_is(ph, "draining"))
			continue;
		sw_dep_server(ph, sw_json_str(ph, "slot"), server, sizeof(server));
		srv = sw_traffic_find_stats(st, nst, server);
		if (!srv) {
			snprintf(reason, sizeof(reason), "server '%s' is not in backend '%s'", server, backend);
			sw_dep_host_phase(ph, "failed", reason, obs->now_ms);
			sw_dep_fail(dep, obs, reason);
			goto out;
		}
		if (srv->scur > 0 && obs->now_ms - sw_dep_int(ph, "since_ms") < SW_ROLLING_DRAIN_MS) {
			snprintf(msg, sizeof(msg), "%lld session%s left", (long long)srv->scur, srv->scur == 1 ? "" : "s");
			json_object_set_new(ph, "message", json_string(msg));
			left++;
			continue;
		}
		if (sw_traffic_set_state(lb, backend, server, SW_TRAFFIC_MAINT, &err) < 0) {
			snprintf(reason, sizeof(reason), "cannot take server '%s' of backend '%s' out of rotation: %s",
				 server, backend, err.msg);
			sw_dep_host_phase(ph, "failed", err.msg, obs->now_ms);
			sw_dep_fail(dep, obs, reason);
			goto out;
		}
		sw_rolling_update(dep, obs, ph, out);
	}
	if (left) {
		sw_dep_set_step(dep, "batch %zu of %zu: draining %zu host%s", b + 1, nbatches, left, left == 1 ? "" : "s");
	} else {
		json_object_set_new(plan, "batch_started_ms", json_integer(obs->now_ms));
		sw_dep_set_step(dep, "batch %zu of %zu: updating %zu host%s", b + 1, nbatches, nb, nb == 1 ? "" : "s");
	}
out:
	sw_arena_release(&a);
}

/*
 * Put slot's server of host ph back in rotation (ready), then read it back:
 * 1 when the balancer has it ready and (if it checks it) sees it up, 0
 * while its checks do not see it up yet, -1 when the balancer failed or did
 * not take it. *why says what is missing.
 */
static int sw_rolling_ready(const json_t *dep, struct sw_traffic *lb, const json_t *ph, const char *slot, char *why,
			    size_t size)
{
	const char *backend = sw_dep_backend(dep);
	struct sw_traffic_server *list = NULL;
	const struct sw_traffic_server *srv;
	struct sw_err err = SW_ERR_INIT;
	char server[300];
	struct sw_arena a;
	size_t n = 0;
	int rc = -1;

	sw_dep_server(ph, slot, server, sizeof(server));
	sw_arena_init(&a);
	if (sw_traffic_set_state(lb, backend, server, SW_TRAFFIC_READY, &err) < 0 ||
	    sw_traffic_servers(lb, backend, &a, &list, &n, &err) < 0) {
		snprintf(why, size, "cannot put server '%s' of backend '%s' back in rotation: %s", server, backend, err.msg);
		goto out;
	}
	srv = sw_traffic_find_server(list, n, server);
	if (!srv || srv->state != SW_TRAFFIC_READY) {
		snprintf(why, size, "server '%s' of backend '%s' did not return to rotation (state %s)", server, backend,
			 srv ? sw_traffic_state_name(srv->state) : "missing");
		goto out;
	}
	rc = 1;
	if (srv->checked && srv->health != SW_TRAFFIC_HEALTH_UP) {
		snprintf(why, size, "waiting for the balancer to see server '%s' up (%s)", server,
			 sw_traffic_health_name(srv->health));
		rc = 0;
	}
out:
	sw_arena_release(&a);
	return rc;
}

void sw_rolling_step(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep), *hosts = json_object_get(plan, "hosts"), *batches = json_object_get(plan, "batches");
	json_t *batch, *ph, *v;
	size_t b = (size_t)sw_dep_int(plan, "batch"), nbatches = json_array_size(batches), i, healthy = 0, nb;
	int64_t started = sw_dep_int(plan, "batch_started_ms"), timeout = sw_dep_int(sw_dep_env(dep), "health_timeout_ms");
	struct sw_traffic *lb = sw_rolling_traffic(dep, obs);
	const char *digest = sw_json_str(dep, "digest"), *late = NULL, *late_msg = "";
	char msg[SW_ERR_MSG_MAX], reason[SW_ERR_MSG_MAX], d[32];
	json_t *late_ph = NULL;
	bool draining = false;

	if (timeout <= 0)
		timeout = 300000;
	sw_rolling_skip_revoked(dep, obs, out);
	if (b >= nbatches) {
		size_t skipped = 0;

		json_array_foreach(hosts, i, ph)
			if (sw_rolling_skipped(ph))
				skipped++;
		/* Nothing was updated: the release runs nowhere, which is not a success. */
		if (skipped && skipped == json_array_size(hosts)) {
			sw_deployment_finish(dep, SW_DEP_FAILED,
					     "every host of the deployment was revoked: the release was installed nowhere", out);
			return;
		}
		sw_deployment_finish(dep, SW_DEP_SUCCEEDED, "", out);
		if (skipped)
			sw_dep_set_step(dep, "%zu host%s updated, %zu skipped (revoked)", json_array_size(hosts) - skipped,
					json_array_size(hosts) - skipped == 1 ? "" : "s", skipped);
		else
			sw_dep_set_step(dep, "%zu host%s updated", json_array_size(hosts),
					json_array_size(hosts) == 1 ? "" : "s");
		return;
	}
	batch = json_array_get(batches, b);
	nb = json_array_size(batch);
	if (started == 0) {
		json_array_foreach(batch, i, v)
			if (sw_rolling_phase_is(json_array_get(hosts, (size_t)json_integer_value(v)), "draining"))
				draining = true;
		if (draining)
			sw_rolling_drain(dep, obs, out, b, nbatches);
		else
			sw_rolling_start_batch(dep, obs, out, b, nbatches);
		return;
	}
	json_array_foreach(batch, i, v) {
		ph = json_array_get(hosts, (size_t)json_integer_value(v));
		if (sw_rolling_phase_is(ph, "healthy") || sw_rolling_skipped(ph)) {
			healthy++; /* a revoked host is not waited for */
			continue;
		}
		switch (sw_dep_health(obs, ph, sw_dep_slot_index(sw_json_str(ph, "slot")), digest, msg, sizeof(msg))) {
		case SW_DH_HEALTHY:
			/* With a balancer: done only once it has the server back in rotation. */
			switch (lb ? sw_rolling_ready(dep, lb, ph, sw_json_str(ph, "slot"), msg, sizeof(msg)) : 1) {
			case -1:
				sw_dep_host_phase(ph, "failed", msg, obs->now_ms);
				sw_dep_fail(dep, obs, msg);
				return;
			case 0:
				goto not_yet;
			}
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
		not_yet:
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

/* ---- rollback ----------------------------------------------------------- */

int sw_rolling_unroute(json_t *dep, const struct sw_obs *obs)
{
	json_t *plan = sw_dep_plan(dep), *ph;
	struct sw_traffic *lb = sw_rolling_traffic(dep, obs);
	const char *backend = sw_dep_backend(dep);
	struct sw_traffic_server *list = NULL;
	struct sw_traffic_stats *st = NULL;
	const struct sw_traffic_server *srv;
	const struct sw_traffic_stats *ss;
	struct sw_err err = SW_ERR_INIT;
	char server[300], msg[SW_ERR_MSG_MAX];
	size_t i, n = 0, nst = 0;
	struct sw_arena a;
	int busy = 0;

	sw_arena_init(&a);
	/* A balancer that cannot be read cannot drain anything: the rows are restored anyway. */
	if (lb && (sw_traffic_servers(lb, backend, &a, &list, &n, &err) < 0 ||
		   sw_traffic_stats(lb, backend, &a, &st, &nst, &err) < 0))
		n = nst = 0;
	json_array_foreach(json_object_get(plan, "hosts"), i, ph) {
		sw_dep_server(ph, sw_json_str(ph, "slot"), server, sizeof(server));
		if (!json_is_true(json_object_get(ph, "touched"))) {
			if (!lb || !sw_rolling_phase_is(ph, "draining"))
				continue;
			/* Its release never changed: back in rotation at once. */
			msg[0] = '\0';
			if (sw_traffic_set_state(lb, backend, server, SW_TRAFFIC_READY, &err) < 0)
				snprintf(msg, sizeof(msg), "left draining: %s", err.msg);
			sw_dep_host_phase(ph, "waiting", msg, obs->now_ms);
			continue;
		}
		if (!sw_rolling_phase_is(ph, "unrouting"))
			continue;
		srv = lb ? sw_traffic_find_server(list, n, server) : NULL;
		if (!srv || srv->state == SW_TRAFFIC_MAINT) {
			sw_dep_host_phase(ph, "unrouted", sw_json_str(ph, "message"), obs->now_ms);
			continue;
		}
		/* In rotation with the new release: drained and out before its rows go back. */
		if (srv->state == SW_TRAFFIC_READY && sw_traffic_set_state(lb, backend, server, SW_TRAFFIC_DRAIN, &err) < 0) {
			sw_dep_host_phase(ph, "unrouted", err.msg, obs->now_ms);
			continue;
		}
		ss = sw_traffic_find_stats(st, nst, server);
		if (ss && ss->scur > 0 && obs->now_ms - sw_dep_int(ph, "since_ms") < SW_ROLLING_DRAIN_MS) {
			snprintf(msg, sizeof(msg), "%lld session%s left", (long long)ss->scur, ss->scur == 1 ? "" : "s");
			json_object_set_new(ph, "message", json_string(msg));
			busy++;
			continue;
		}
		msg[0] = '\0';
		if (sw_traffic_set_state(lb, backend, server, SW_TRAFFIC_MAINT, &err) < 0)
			snprintf(msg, sizeof(msg), "%s", err.msg);
		sw_dep_host_phase(ph, "unrouted", msg, obs->now_ms);
	}
	sw_arena_release(&a);
	return busy > 0;
}

int sw_rolling_reroute(const json_t *dep, const struct sw_obs *obs, const json_t *ph, char *why, size_t size)
{
	struct sw_traffic *lb = sw_rolling_traffic(dep, obs);
	const char *slot = NULL;
	json_t *row;
	size_t i;

	json_array_foreach(json_object_get(ph, "before"), i, row)
		if (json_is_true(json_object_get(row, "active")))
			slot = sw_json_str(row, "slot");
	/* Nothing ran there before: the server stays out of rotation. */
	if (!lb || !slot)
		return 1;
	return sw_rolling_ready(dep, lb, ph, slot, why, size);
}
