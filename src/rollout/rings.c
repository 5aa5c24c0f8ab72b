/*
 * rings.c - the rings strategy (see rings.h): ring by ring through
 * rolling's per-host step, a bake with the ring's analysis after each.
 * Calls rollout/rolling, rollout/gate, rollout/deployment, rollout/runjson,
 * jansson, base/. Events go into out->events (struct sw_step owns them).
 */
#include "rollout/rings.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/num.h"
#include "rollout/gate.h"
#include "rollout/rolling.h"
#include "rollout/runjson.h"

#include <stdio.h>
#include <string.h>

static const char *sw_rings_name(const json_t *plan, size_t r)
{
	const char *s = json_string_value(json_array_get(json_object_get(plan, "rings"), r));

	return s ? s : "?";
}

static const char *sw_rings_analysis(const json_t *dep)
{
	return sw_json_str(json_object_get(sw_dep_env(dep), "rings"), "analysis");
}

static void sw_rings_event(json_t *dep, struct sw_step *out, size_t r)
{
	if (!out->events)
		out->events = json_array();
	json_array_append_new(out->events,
			      json_pack("{s:s, s:{s:s, s:I, s:s, s:s}}", "kind", "deployment.step", "payload", "id",
					sw_json_str(dep, "id") ? sw_json_str(dep, "id") : "", "step", (json_int_t)r,
					"kind", "ring", "ring", sw_rings_name(sw_dep_plan(dep), r)));
}

/* Rolling's "batch 2 of 3: ..." lines, said of rings: "ring 'early' (2 of 3): ...". */
static void sw_rings_relabel(json_t *dep)
{
	json_t *plan = sw_dep_plan(dep);
	const char *line = sw_json_str(plan, "step");
	size_t b, n;
	int used = 0;

	if (!line || sscanf(line, "batch %zu of %zu%n", &b, &n, &used) != 2 || used <= 0 || b < 1)
		return;
	sw_dep_set_step(dep, "ring '%s' (%zu of %zu)%s", sw_rings_name(plan, b - 1), b, n, line + used);
}

/* Stop for a human (inconclusive analysis): state paused with the reason. */
static void sw_rings_pause(json_t *dep, const struct sw_obs *obs, struct sw_step *out, size_t r, const char *reason)
{
	json_t *plan = sw_dep_plan(dep);

	json_object_set_new(plan, "bake_waiting", json_integer((json_int_t)r));
	sw_dep_wait_for_human(dep, obs, out, reason);
}

static void sw_rings_bake_end(json_t *dep, const struct sw_obs *obs, struct sw_step *out, size_t r, const char *how)
{
	json_t *plan = sw_dep_plan(dep);

	json_object_set_new(plan, "baking", json_false());
	json_object_del(plan, "bake_waiting");
	sw_dep_progressed(dep, obs);
	sw_dep_set_step(dep, "ring '%s' (%zu of %zu) %s", sw_rings_name(plan, r), r + 1,
			json_array_size(json_object_get(plan, "batches")), how);
	out->again = true;
}

/* Ring r is healthy: its hosts become the analysis' canary, the bake starts. */
static void sw_rings_bake_start(json_t *dep, const struct sw_obs *obs, size_t r)
{
	json_t *plan = sw_dep_plan(dep), *hosts = json_object_get(plan, "hosts"), *v;
	int64_t bake = sw_dep_int(json_object_get(sw_dep_env(dep), "rings"), "bake_ms");
	size_t i;

	json_array_foreach(json_array_get(json_object_get(plan, "batches"), r), i, v)
		json_object_set_new(json_array_get(hosts, (size_t)json_integer_value(v)), "canary", json_true());
	json_object_set_new(plan, "baking", json_true());
	json_object_set_new(plan, "bake_ring", json_integer((json_int_t)r));
	json_object_set_new(plan, "bake_started_ms", json_integer(obs->now_ms));
	json_object_set_new(plan, "bake_until_ms", json_integer(obs->now_ms + (bake > 0 ? bake : 0)));
	sw_dep_progressed(dep, obs);
	sw_dep_set_step(dep, "ring '%s' (%zu of %zu) healthy: baking", sw_rings_name(plan, r), r + 1,
			json_array_size(json_object_get(plan, "batches")));
}

static void sw_rings_bake(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep);
	size_t r = (size_t)sw_dep_int(plan, "bake_ring"), n = json_array_size(json_object_get(plan, "batches"));
	const char *name = sw_rings_analysis(dep);
	int64_t until = sw_dep_int(plan, "bake_until_ms");
	char reason[SW_ERR_MSG_MAX], msg[SW_ERR_MSG_MAX + 64];
	struct sw_spec_analysis a;
	bool done = true;

	if (sw_dep_take_promote(dep) || json_object_get(plan, "promote_full")) {
		sw_rings_bake_end(dep, obs, out, r,
				  json_object_get(plan, "promote_full") ? "bake skipped (promote --full)" : "bake skipped by promote");
		return;
	}
	/* A human let an inconclusive analysis go on (resume or promote). */
	if (json_object_get(plan, "bake_waiting") && sw_dep_int(plan, "bake_waiting") == (int64_t)r) {
		sw_rings_bake_end(dep, obs, out, r, "bake ended: inconclusive analysis let go on");
		return;
	}
	if (name) {
		switch (sw_gate_inline(dep, obs, out, r, name, reason, sizeof(reason))) {
		case SW_ANALYSIS_SUCCESSFUL:
			break;
		case SW_ANALYSIS_FAILED:
			snprintf(msg, sizeof(msg), "ring '%s': %s", sw_rings_name(plan, r), reason);
			sw_dep_fail(dep, obs, msg);
			out->again = true;
			return;
		case SW_ANALYSIS_INCONCLUSIVE:
			snprintf(msg, sizeof(msg), "ring '%s': %s", sw_rings_name(plan, r), reason);
			sw_rings_pause(dep, obs, out, r, msg);
			return;
		case SW_ANALYSIS_RUNNING:
			/* count 0 measures until promoted: here, until the bake time is up. */
			done = sw_runjson_analysis_read(json_object_get(json_object_get(sw_dep_env(dep), "analyses"), name),
							&a) == 0 &&
			       a.count == 0;
			break;
		}
	}
	if (done && obs->now_ms >= until) {
		sw_rings_bake_end(dep, obs, out, r, "baked");
		return;
	}
	/* Baking is not stalling: keep the progress deadline from firing meanwhile. */
	sw_dep_progressed(dep, obs);
	if (obs->now_ms < until) {
		/* The end, not the time left: the text changes once, so watchers print it once. */
		char ts[SW_TIME_STR_MAX];

		sw_clock_format_utc(until, ts, sizeof(ts));
		sw_dep_set_step(dep, "ring '%s' (%zu of %zu) baking until %.8s UTC%s%s%s (promote skips it)",
				sw_rings_name(plan, r), r + 1, n, ts + 11, name ? ", analysis '" : "", name ? name : "",
				name ? "' running" : "");
	} else
		sw_dep_set_step(dep, "ring '%s' (%zu of %zu) baked, analysis '%s' running (promote skips it)",
				sw_rings_name(plan, r), r + 1, n, name ? name : "");
}

void sw_rings_step(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep);
	size_t b = (size_t)sw_dep_int(plan, "batch"), n = json_array_size(json_object_get(plan, "batches"));
	const char *phase;

	if (json_is_true(json_object_get(plan, "baking"))) {
		sw_rings_bake(dep, obs, out);
		return;
	}
	if (b < n && sw_dep_int(plan, "rings_started") <= (int64_t)b) {
		sw_rings_event(dep, out, b);
		json_object_set_new(plan, "rings_started", json_integer((json_int_t)(b + 1)));
	}
	sw_rolling_step(dep, obs, out);
	phase = sw_json_str(plan, "phase");
	if (out->transition || !phase || strcmp(phase, "rollout")) {
		if (out->transition && out->state == SW_DEP_SUCCEEDED)
			sw_dep_set_step(dep, "%zu ring%s done", n, n == 1 ? "" : "s");
		return;
	}
	if ((size_t)sw_dep_int(plan, "batch") == b + 1)
		sw_rings_bake_start(dep, obs, b);
	else
		sw_rings_relabel(dep);
}
