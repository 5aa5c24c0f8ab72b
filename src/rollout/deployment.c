/*
 * deployment.c - the deployment state machine (see deployment.h): states,
 * the common start / deadline / abort / rollback logic, and the helpers
 * the strategies share. The strategies' own steps live in rolling.c and
 * bluegreen.c.
 * Calls jansson, base/, rollout/rolling, rollout/bluegreen, rollout/canary,
 * rollout/rings.
 * out->desired belongs to struct sw_step.
 */
#include "rollout/deployment.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/num.h"
#include "rollout/bluegreen.h"
#include "rollout/canary.h"
#include "rollout/rings.h"
#include "rollout/rolling.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const sw_dep_names[SW_DEP_NSTATES] = {
	[SW_DEP_PENDING] = "pending",	  [SW_DEP_PROGRESSING] = "progressing", [SW_DEP_SUCCEEDED] = "succeeded",
	[SW_DEP_ROLLED_BACK] = "rolled_back", [SW_DEP_FAILED] = "failed",	[SW_DEP_ABORTED] = "aborted",
	[SW_DEP_PAUSED] = "paused",
};

const char *sw_dep_state_name(enum sw_dep_state s)
{
	return (unsigned)s < SW_DEP_NSTATES ? sw_dep_names[s] : "unknown";
}

int sw_dep_state_parse(const char *s, enum sw_dep_state *out)
{
	unsigned i;

	for (i = 0; s && i < SW_DEP_NSTATES; i++)
		if (!strcmp(s, sw_dep_names[i])) {
			*out = (enum sw_dep_state)i;
			return 0;
		}
	return -1;
}

bool sw_dep_state_final(enum sw_dep_state s)
{
	return s == SW_DEP_SUCCEEDED || s == SW_DEP_ROLLED_BACK || s == SW_DEP_FAILED || s == SW_DEP_ABORTED;
}

bool sw_dep_transition_ok(enum sw_dep_state from, enum sw_dep_state to)
{
	switch (from) {
	case SW_DEP_PENDING:
		/* failed: a record the controller cannot run; aborted: before it started. */
		return to == SW_DEP_PROGRESSING || to == SW_DEP_ABORTED || to == SW_DEP_FAILED || to == SW_DEP_PAUSED;
	case SW_DEP_PROGRESSING:
		return to == SW_DEP_SUCCEEDED || to == SW_DEP_ROLLED_BACK || to == SW_DEP_FAILED ||
		       to == SW_DEP_ABORTED || to == SW_DEP_PAUSED;
	case SW_DEP_PAUSED:
		/* resume (to where it was), or an abort / unreadable record ending it */
		return to == SW_DEP_PENDING || to == SW_DEP_PROGRESSING || to == SW_DEP_ABORTED ||
		       to == SW_DEP_FAILED || to == SW_DEP_ROLLED_BACK;
	default:
		return false;
	}
}

void sw_step_init(struct sw_step *s)
{
	memset(s, 0, sizeof(*s));
	s->desired = json_array();
}

void sw_step_release(struct sw_step *s)
{
	json_decref(s->desired);
	s->desired = NULL;
	json_decref(s->events);
	s->events = NULL;
}

/* ---- accessors ---------------------------------------------------------- */

json_t *sw_dep_plan(const json_t *dep)
{
	return json_object_get(dep, "plan");
}

const json_t *sw_dep_env(const json_t *dep)
{
	return json_object_get(json_object_get(dep, "spec"), "env");
}

const json_t *sw_dep_run(const json_t *dep)
{
	return json_object_get(json_object_get(dep, "spec"), "run");
}

int64_t sw_dep_int(const json_t *obj, const char *key)
{
	return (int64_t)sw_json_int(obj, key, 0);
}

const struct sw_obs_host *sw_dep_obs_host(const struct sw_obs *obs, const char *id)
{
	size_t i;

	for (i = 0; id && i < obs->nhosts; i++)
		if (obs->hosts[i].id && !strcmp(obs->hosts[i].id, id))
			return &obs->hosts[i];
	return NULL;
}

const char *const sw_dep_slots[2] = { "a", "b" };

void sw_dep_wait_for_human(json_t *dep, const struct sw_obs *obs, struct sw_step *out, const char *reason)
{
	json_object_set_new(sw_dep_plan(dep), "pause",
			    json_pack("{s:s, s:s, s:I, s:s}", "actor", "server", "reason", reason, "at_ms",
				      (json_int_t)obs->now_ms, "from", "progressing"));
	json_object_set_new(dep, "state", json_string("paused"));
	json_object_set_new(dep, "reason", json_string(reason));
	sw_dep_set_step(dep, "paused: %s", reason);
	out->transition = true;
	out->state = SW_DEP_PAUSED;
}

const char *sw_dep_backend(const json_t *dep)
{
	return sw_json_str(json_object_get(json_object_get(sw_dep_env(dep), "traffic"), "haproxy"), "backend");
}

const char *sw_dep_server(const json_t *ph, const char *slot, char *out, size_t size)
{
	snprintf(out, size, "%s-%s", sw_json_str(ph, "name") ? sw_json_str(ph, "name") : "", slot ? slot : "");
	return out;
}

int64_t sw_dep_health_timeout(const json_t *dep)
{
	int64_t t = sw_dep_int(sw_dep_env(dep), "health_timeout_ms");

	return t > 0 ? t : 300000;
}

int sw_dep_slot_index(const char *slot)
{
	if (slot && !strcmp(slot, "a"))
		return 0;
	if (slot && !strcmp(slot, "b"))
		return 1;
	return -1;
}

bool sw_dep_offline(const struct sw_obs *obs, const struct sw_obs_host *oh)
{
	int64_t since;

	if (!oh || !oh->exists || oh->last_seen_ms <= 0)
		return true;
	/* Grace: while the server was down or stopped nobody could report; the clock starts when it is back. */
	since = oh->last_seen_ms > obs->live_since_ms ? oh->last_seen_ms : obs->live_since_ms;
	return obs->now_ms - since > (int64_t)obs->heartbeat_timeout_ms;
}

/* "web-1 went offline (not seen for 3.2s)" style age text. */
static const char *sw_dep_age(const struct sw_obs *obs, const struct sw_obs_host *oh, char *out, size_t size)
{
	char d[32];

	if (!oh || !oh->exists)
		snprintf(out, size, "is no longer enrolled");
	else if (oh->last_seen_ms <= 0)
		snprintf(out, size, "has never reported");
	else
		snprintf(out, size, "not seen for %s",
			 sw_format_duration_ms((uint64_t)(obs->now_ms - oh->last_seen_ms), d, sizeof(d)));
	return out;
}

enum sw_dep_health sw_dep_health(const struct sw_obs *obs, const json_t *ph, int slot, const char *digest,
				 char *msg, size_t msgsize)
{
	const struct sw_obs_host *oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
	const struct sw_obs_slot *s;
	const char *state;

	if (msgsize)
		msg[0] = '\0';
	if (sw_dep_offline(obs, oh)) {
		sw_dep_age(obs, oh, msg, msgsize);
		return SW_DH_OFFLINE;
	}
	if (slot < 0 || slot > 1 || !digest)
		return SW_DH_WAIT;
	/* Only a report about our latest change counts. */
	if (oh->generation_applied < sw_dep_int(ph, "gen")) {
		snprintf(msg, msgsize, "waiting for the host to pick up the change");
		return SW_DH_WAIT;
	}
	s = &oh->slot[slot];
	if (!s->digest || strcmp(s->digest, digest)) {
		snprintf(msg, msgsize, "waiting for the host to report the release");
		return SW_DH_WAIT;
	}
	state = s->state ? s->state : "";
	/* A definite verdict from the agent: no point waiting for health_timeout. */
	if (s->verdict && *s->verdict) {
		snprintf(msg, msgsize, "%s: %s", !strcmp(s->verdict, "crashloop") ? "crash loop" : s->verdict,
			 s->verdict_message && *s->verdict_message ? s->verdict_message
								   : (s->message ? s->message : ""));
		return SW_DH_FAILED;
	}
	if (s->message && *s->message)
		snprintf(msg, msgsize, "%s: %s", state, s->message);
	else
		snprintf(msg, msgsize, "%s", state);
	if (!strcmp(state, "healthy"))
		return SW_DH_HEALTHY;
	if (!strcmp(state, "failed") || !strcmp(state, "refused"))
		return SW_DH_FAILED;
	if (!strcmp(state, "unhealthy"))
		return SW_DH_UNHEALTHY;
	return SW_DH_WAIT;
}

void sw_dep_snapshot(json_t *ph, const struct sw_obs_host *oh)
{
	json_t *before, *row;
	int i;

	if (json_is_true(json_object_get(ph, "touched")))
		return; /* the first snapshot is the one to go back to */
	before = json_array();
	for (i = 0; oh && i < 2; i++) {
		if (!oh->want[i])
			continue;
		row = json_deep_copy(oh->want[i]);
		json_object_del(row, "service");
		json_object_set_new(row, "slot", json_string(sw_dep_slots[i]));
		json_array_append_new(before, row);
	}
	json_object_set_new(ph, "before", before);
	json_object_set_new(ph, "touched", json_true());
}

void sw_dep_push_desired(struct sw_step *out, const char *host, const char *slot, const json_t *want)
{
	json_array_append_new(out->desired, json_pack("{s:s, s:s, s:O}", "host", host, "slot", slot, "want",
						      want ? (json_t *)want : json_null()));
}

json_t *sw_dep_row(const char *digest, json_int_t port, bool active)
{
	return json_pack("{s:s, s:I, s:b}", "digest", digest, "port", port, "active", active);
}

void sw_dep_host_phase(json_t *ph, const char *phase, const char *message, int64_t now_ms)
{
	const char *old = sw_json_str(ph, "phase");

	if (!old || strcmp(old, phase))
		json_object_set_new(ph, "since_ms", json_integer(now_ms));
	json_object_set_new(ph, "phase", json_string(phase));
	json_object_set_new(ph, "message", json_string(message ? message : ""));
}

void sw_dep_set_step(json_t *dep, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	json_object_set_new(sw_dep_plan(dep), "step", json_string(line));
}

void sw_dep_progressed(json_t *dep, const struct sw_obs *obs)
{
	int64_t pd = sw_dep_int(sw_dep_env(dep), "progress_deadline_ms");

	json_object_set_new(dep, "deadline_ms", json_integer(obs->now_ms + (pd > 0 ? pd : 600000)));
}

/* Every host touched had an active release before (at least one touched): restoring brings releases back. */
static bool sw_dep_restores_releases(const json_t *plan)
{
	const json_t *ph, *row;
	size_t i, j, touched = 0;
	bool active;

	json_array_foreach(json_object_get(plan, "hosts"), i, ph) {
		if (!json_is_true(json_object_get(ph, "touched")))
			continue;
		touched++;
		active = false;
		json_array_foreach(json_object_get(ph, "before"), j, row)
			if (json_is_true(json_object_get(row, "active")))
				active = true;
		if (!active)
			return false;
	}
	return touched > 0;
}

void sw_dep_rollback_actor(const char *reason, char *out, size_t size)
{
	static const struct {
		const char *needle, *cause;
	} causes[] = {
		/* the reasons of rolling.c, bluegreen.c, canary.c, gate.c and sw_deployment_step(), by what they say */
		{ "deadline", "progress deadline" },
		{ "smoke test", "smoke test" },
		{ "offline", "host offline" },
		{ "not healthy", "health" },
		{ "unhealthy", "health" },
		{ "crash", "health" },
		{ "process exit", "health" },
		{ "backend '", "traffic" },
		{ "traffic", "traffic" },
		{ "host '", "host failed" }, /* installs refused, failed: what is left of a host's report */
	};
	const char *a = reason ? strstr(reason, "analysis '") : NULL, *end;
	size_t i;

	if (a && (end = strchr(a + 10, '\'')) != NULL) {
		snprintf(out, size, "slipway (analysis %.*s)", (int)(end - a - 10), a + 10);
		return;
	}
	for (i = 0; reason && i < SW_ARRAY_LEN(causes); i++)
		if (strstr(reason, causes[i].needle)) {
			snprintf(out, size, "slipway (%s)", causes[i].cause);
			return;
		}
	snprintf(out, size, "slipway");
}

void sw_dep_fail(json_t *dep, const struct sw_obs *obs, const char *reason)
{
	json_t *plan = sw_dep_plan(dep);
	const char *final;
	char by[256];

	if (!strcmp(sw_json_str(plan, "phase") ? sw_json_str(plan, "phase") : "", "rollback"))
		return;
	if (json_object_get(plan, "abort"))
		final = "aborted";
	else if (json_is_string(json_object_get(dep, "prev_digest")) || sw_dep_restores_releases(plan) ||
		 (!strcmp(sw_json_str(plan, "strategy") ? sw_json_str(plan, "strategy") : "", "canary") &&
		  json_object_get(plan, "cstep") && !json_object_get(plan, "cfirst")))
		/* A release ran before on every host touched (deployed by another environment, say), or a
		 * canary started (every host runs a stable release, which stays): it runs again. */
		final = "rolled_back";
	else
		final = "failed";
	if (json_object_get(plan, "abort"))
		snprintf(by, sizeof(by), "%s", sw_json_str(json_object_get(plan, "abort"), "actor") ? sw_json_str(json_object_get(plan, "abort"), "actor") : "unknown");
	else
		sw_dep_rollback_actor(reason, by, sizeof(by));
	json_object_set_new(plan, "rollback_by", json_string(by));
	json_object_set_new(plan, "phase", json_string("rollback"));
	json_object_set_new(plan, "final", json_string(final));
	json_object_set_new(plan, "failed_ms", json_integer(obs->now_ms));
	json_object_set_new(plan, "restoring", json_false());
	/* `slipway rollback --emergency`: its own undoing is not held back by the limits either. */
	if (json_is_true(json_object_get(json_object_get(dep, "spec"), "emergency")))
		json_object_set_new(plan, "emergency", json_true());
	json_object_set_new(dep, "reason", json_string(reason));
	sw_dep_set_step(dep, "rolling back: %s", reason);
}

void sw_deployment_finish(json_t *dep, enum sw_dep_state state, const char *reason, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep);

	json_object_set_new(dep, "state", json_string(sw_dep_state_name(state)));
	/* The step first: reason may be dep's own "reason" string, which the next set frees. */
	if (json_is_object(plan)) {
		json_object_set_new(plan, "phase", json_string("done"));
		/* What a watcher prints last: why it ended, when there is a why. */
		if (reason && *reason)
			sw_dep_set_step(dep, "%s", reason);
		else
			sw_dep_set_step(dep, "%s", sw_dep_state_name(state));
	}
	if (reason)
		json_object_set_new(dep, "reason", json_string(reason));
	out->transition = true;
	out->state = state;
}

/* ---- manual control ----------------------------------------------------- */

static const char *sw_dep_id(const json_t *dep)
{
	return sw_json_str(dep, "id") ? sw_json_str(dep, "id") : "?";
}

/* Refuse a verb on an ended deployment or one rolling back. */
static int sw_dep_verb_check(const json_t *dep, const char *verb, enum sw_dep_state *st, struct sw_err *err)
{
	const char *phase = sw_json_str(sw_dep_plan(dep), "phase");

	if (sw_dep_state_parse(sw_json_str(dep, "state"), st) < 0)
		return sw_err_set(err, SW_EBUSY, "%s is in an unknown state '%s'; nothing to %s", sw_dep_id(dep),
				  sw_json_str(dep, "state") ? sw_json_str(dep, "state") : "", verb);
	if (sw_dep_state_final(*st))
		return sw_err_set(err, SW_EBUSY, "%s has ended (%s); nothing to %s", sw_dep_id(dep),
				  sw_dep_state_name(*st), verb);
	if (!json_is_object(sw_dep_plan(dep)))
		return sw_err_set(err, SW_EBUSY, "%s has no plan; nothing to %s", sw_dep_id(dep), verb);
	if (json_object_get(sw_dep_plan(dep), "abort") || (phase && strcmp(phase, "rollout")))
		return sw_err_set(err, SW_EBUSY, "%s is %s; nothing to %s", sw_dep_id(dep),
				  phase && !strcmp(phase, "done") ? "ending" : "rolling back", verb);
	return 0;
}

int sw_dep_pause(json_t *dep, const char *actor, const char *reason, int64_t now_ms, char *note, size_t notesize,
		 struct sw_err *err)
{
	enum sw_dep_state st;

	if (notesize)
		note[0] = '\0';
	if (sw_dep_verb_check(dep, "pause", &st, err) < 0)
		return -1;
	if (st == SW_DEP_PAUSED) {
		snprintf(note, notesize, "already paused");
		return 0;
	}
	json_object_set_new(sw_dep_plan(dep), "pause",
			    json_pack("{s:s, s:s, s:I, s:s}", "actor", actor && *actor ? actor : "unknown", "reason",
				      reason && *reason ? reason : "paused", "at_ms", (json_int_t)now_ms, "from",
				      sw_dep_state_name(st)));
	json_object_set_new(dep, "state", json_string("paused"));
	json_object_set_new(dep, "reason", json_string(reason && *reason ? reason : "paused"));
	sw_dep_set_step(dep, "paused: %s", reason && *reason ? reason : "paused");
	snprintf(note, notesize, "paused");
	return 1;
}

/* Push a timer field of obj out by d ms (it stood still while paused). */
static void sw_dep_shift(json_t *obj, const char *key, int64_t d)
{
	int64_t v = sw_dep_int(obj, key);

	if (v > 0 && json_is_object(obj))
		json_object_set_new(obj, key, json_integer(v + d));
}

/*
 * Push every timer of the deployment out by d ms: the time it stood still
 * (paused by a human, or the server down or stopped) does not count
 * against its deadlines.
 */
static void sw_dep_shift_timers(json_t *dep, int64_t d)
{
	static const char *const timers[] = { "batch_started_ms", "blocked_ms",	    "step_started_ms",
					      "pause_until_ms",	  "cstep_started_ms", "cinst_started_ms",
					      "bake_started_ms",  "bake_until_ms",    "failed_ms",
					      "restore_ms",	  "unroute_ms" };
	json_t *plan = sw_dep_plan(dep), *ph;
	size_t i;

	for (i = 0; i < SW_ARRAY_LEN(timers); i++)
		sw_dep_shift(plan, timers[i], d);
	sw_dep_shift(json_object_get(plan, "smoke"), "started_ms", d);
	json_array_foreach(json_object_get(plan, "hosts"), i, ph)
		sw_dep_shift(ph, "since_ms", d);
	sw_dep_shift(dep, "deadline_ms", d);
}

/*
 * The server was down or stopped since this deployment was last stepped
 * (obs->live_since_ms, when the server came back, is after plan.stepped_ms):
 * its timers move out by that outage, so that a health_timeout, batch wait,
 * progress deadline or canary pause does not expire while nobody watched.
 */
static void sw_dep_outage(json_t *dep, const struct sw_obs *obs)
{
	json_t *plan = sw_dep_plan(dep);
	int64_t last = sw_dep_int(plan, "stepped_ms");

	if (last > 0 && obs->live_since_ms > last)
		sw_dep_shift_timers(dep, obs->live_since_ms - last);
	json_object_set_new(plan, "stepped_ms", json_integer(obs->now_ms));
}

int sw_dep_resume(json_t *dep, int64_t now_ms, char *note, size_t notesize, struct sw_err *err)
{
	json_t *plan = sw_dep_plan(dep), *pause;
	const char *from;
	enum sw_dep_state st, back = SW_DEP_PROGRESSING;
	int64_t d;

	if (notesize)
		note[0] = '\0';
	if (sw_dep_verb_check(dep, "resume", &st, err) < 0)
		return -1;
	if (st != SW_DEP_PAUSED) {
		snprintf(note, notesize, "not paused (%s)", sw_dep_state_name(st));
		return 0;
	}
	pause = json_object_get(plan, "pause");
	from = sw_json_str(pause, "from");
	if (from && sw_dep_state_parse(from, &back) == 0 && back != SW_DEP_PENDING)
		back = SW_DEP_PROGRESSING;
	d = now_ms - sw_dep_int(pause, "at_ms");
	if (d < 0 || !pause)
		d = 0;
	sw_dep_shift_timers(dep, d);
	/* The pause's time is accounted for: an outage during it is not shifted again. */
	if (sw_dep_int(plan, "stepped_ms") > 0)
		json_object_set_new(plan, "stepped_ms", json_integer(now_ms));
	json_object_del(plan, "pause");
	json_object_set_new(dep, "state", json_string(sw_dep_state_name(back)));
	json_object_set_new(dep, "reason", json_string(""));
	sw_dep_set_step(dep, "resuming");
	snprintf(note, notesize, "resumed");
	return 1;
}

int sw_dep_promote(json_t *dep, const char *actor, int64_t now_ms, char *note, size_t notesize, struct sw_err *err)
{
	enum sw_dep_state st;
	int rc;

	if (sw_dep_verb_check(dep, "promote", &st, err) < 0)
		return -1;
	if (json_object_get(sw_dep_plan(dep), "promote")) {
		snprintf(note, notesize, "already promoted");
		return 0;
	}
	json_object_set_new(sw_dep_plan(dep), "promote",
			    json_pack("{s:s, s:I, s:I}", "actor", actor && *actor ? actor : "unknown", "at_ms",
				      (json_int_t)now_ms, "step", (json_int_t)sw_dep_int(sw_dep_plan(dep), "cstep")));
	/* A paused deployment is resumed by promote (the pause is what it skips). */
	rc = st == SW_DEP_PAUSED ? sw_dep_resume(dep, now_ms, note, notesize, err) : 1;
	if (rc < 0)
		return -1;
	snprintf(note, notesize, "promoted");
	return 1;
}

int sw_dep_promote_full(json_t *dep, const char *actor, int64_t now_ms, char *note, size_t notesize,
			struct sw_err *err)
{
	json_t *plan = sw_dep_plan(dep);
	enum sw_dep_state st;
	int rc;

	if (sw_dep_verb_check(dep, "promote", &st, err) < 0)
		return -1;
	if (json_object_get(plan, "promote_full")) {
		snprintf(note, notesize, "already promoted (full)");
		return 0;
	}
	json_object_set_new(plan, "promote_full", json_pack("{s:s, s:I}", "actor", actor && *actor ? actor : "unknown",
							     "at_ms", (json_int_t)now_ms));
	/* The current wait goes too (a timed pause, an analysis step, a bake), and a pause is resumed. */
	rc = sw_dep_promote(dep, actor, now_ms, note, notesize, err);
	if (rc < 0)
		return -1;
	snprintf(note, notesize, "promoted (full): remaining steps skipped");
	return 1;
}

bool sw_dep_take_promote(json_t *dep)
{
	json_t *plan = sw_dep_plan(dep), *p = json_object_get(plan, "promote");

	if (!p)
		return false;
	json_object_set_new(plan, "promote_done_ms", json_integer(sw_dep_int(p, "at_ms")));
	json_object_del(plan, "promote");
	return true;
}

/* ---- rollback ----------------------------------------------------------- */

/* Give touched host ph its desired rows as they were before: phase "restoring" from now. */
static void sw_dep_restore_host(json_t *ph, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *before = json_object_get(ph, "before"), *row, *found;
	size_t j;
	int s;

	for (s = 0; s < 2; s++) {
		found = NULL;
		json_array_foreach(before, j, row)
			if (sw_dep_slot_index(sw_json_str(row, "slot")) == s)
				found = row;
		if (found) {
			row = json_deep_copy(found);
			json_object_del(row, "slot");
			sw_dep_push_desired(out, sw_json_str(ph, "id"), sw_dep_slots[s], row);
			json_decref(row);
		} else {
			sw_dep_push_desired(out, sw_json_str(ph, "id"), sw_dep_slots[s], NULL);
		}
	}
	sw_dep_host_phase(ph, "restoring", "", obs->now_ms); /* since_ms: its deadline's start */
	json_object_del(ph, "out_of_rotation"); /* once restored, it serves like any other */
}

enum sw_dep_back { SW_DEP_BACK, SW_DEP_BACK_WAIT, SW_DEP_BACK_OFFLINE };

/*
 * Is host ph back where it was: every row that was active before reports
 * healthy, in a report about the restored rows? An offline host is not
 * back: it is waited for (until its deadline). *why gets what is missing.
 */
static enum sw_dep_back sw_dep_restored(const struct sw_obs *obs, const json_t *ph, char *why, size_t size)
{
	json_t *before = json_object_get(ph, "before"), *row;
	char msg[600];
	size_t j;

	why[0] = '\0';
	json_array_foreach(before, j, row) {
		if (!json_is_true(json_object_get(row, "active")))
			continue;
		switch (sw_dep_health(obs, ph, sw_dep_slot_index(sw_json_str(row, "slot")), sw_json_str(row, "digest"),
				      msg, sizeof(msg))) {
		case SW_DH_HEALTHY:
			continue;
		case SW_DH_OFFLINE:
			snprintf(why, size, "%s", msg);
			return SW_DEP_BACK_OFFLINE;
		default:
			snprintf(why, size, "%s", msg);
			return SW_DEP_BACK_WAIT;
		}
	}
	return SW_DEP_BACK;
}

/*
 * Does host ph serve now: online, and its active desired row reported
 * healthy in a fresh report (and not left out of rotation by the rollout:
 * out_of_rotation, set when the rollback began)?
 */
static bool sw_dep_serving(const struct sw_obs *obs, const json_t *ph)
{
	const struct sw_obs_host *oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
	const char *d;
	int s;

	if (sw_dep_offline(obs, oh) || oh->generation_applied < sw_dep_int(ph, "gen") ||
	    json_is_true(json_object_get(ph, "out_of_rotation")))
		return false;
	for (s = 0; s < 2; s++) {
		if (!oh->want[s] || !json_is_true(json_object_get(oh->want[s], "active")))
			continue;
		d = sw_json_str(oh->want[s], "digest");
		return d && oh->slot[s].digest && !strcmp(d, oh->slot[s].digest) && oh->slot[s].state &&
		       !strcmp(oh->slot[s].state, "healthy");
	}
	return false;
}

/*
 * Does host ph count towards min_healthy / max_unavailable in a rollback:
 * it runs a release now (not touched) or will run one again (touched, an
 * active row before). A host that had nothing is stopped by the rollback
 * whatever the limits say.
 */
static bool sw_dep_counts(const struct sw_obs *obs, const json_t *ph)
{
	const struct sw_obs_host *oh;
	const json_t *row;
	size_t j;
	int s;

	if (sw_json_str(ph, "phase") && !strcmp(sw_json_str(ph, "phase"), "skipped"))
		return false; /* revoked: no longer one of the environment's hosts */
	if (json_is_true(json_object_get(ph, "touched"))) {
		json_array_foreach(json_object_get(ph, "before"), j, row)
			if (json_is_true(json_object_get(row, "active")))
				return true;
		return false;
	}
	oh = sw_dep_obs_host(obs, sw_json_str(ph, "id"));
	for (s = 0; oh && s < 2; s++)
		if (oh->want[s] && json_is_true(json_object_get(oh->want[s], "active")))
			return true;
	return false;
}

/* A plan host's name for messages ("?" for a record without one). */
static const char *sw_dep_name(const json_t *ph)
{
	return sw_json_str(ph, "name") ? sw_json_str(ph, "name") : "?";
}

static bool sw_dep_phase_in(const json_t *ph, const char *a, const char *b, const char *c)
{
	const char *p = sw_json_str(ph, "phase");

	return p && ((a && !strcmp(p, a)) || (b && !strcmp(p, b)) || (c && !strcmp(p, c)));
}

/*
 * Rolling, not an emergency: how many hosts that serve now the next
 * rollback batch may take out, as the rollout's limits allow: at most
 * `size`, leaving at least min_healthy hosts serving and at most
 * max_unavailable not serving. 0: none (*why says why).
 */
static size_t sw_dep_rollback_room(const json_t *dep, const struct sw_obs *obs, char *why, size_t size)
{
	const json_t *plan = sw_dep_plan(dep), *limits = json_object_get(plan, "limits"), *ph;
	int64_t mu = sw_dep_int(limits, "max_unavailable"), mh = sw_dep_int(limits, "min_healthy");
	int64_t sz = sw_dep_int(limits, "size"), counted = 0, serving = 0, room;
	struct sw_buf down = SW_BUF_INIT(2048);
	size_t i;

	json_array_foreach(json_object_get(plan, "hosts"), i, ph) {
		if (!sw_dep_counts(obs, ph))
			continue;
		counted++;
		if (!sw_dep_phase_in(ph, "unrouting", "unrouted", "restoring") && sw_dep_serving(obs, ph))
			serving++;
		else
			sw_buf_printf(&down, "%s'%s'", counted - serving > 1 ? ", " : "", sw_dep_name(ph));
	}
	room = mu - (counted - serving);
	if (serving - mh < room)
		room = serving - mh;
	if (sz > 0 && sz < room)
		room = sz;
	if (room <= 0)
		snprintf(why, size, "%lld of %lld hosts healthy (not: %s), min_healthy is %lld and max_unavailable is %lld",
			 (long long)serving, (long long)counted, counted > serving ? sw_buf_str(&down) : "none",
			 (long long)mh, (long long)mu);
	sw_buf_release(&down);
	return room > 0 ? (size_t)room : 0;
}

/*
 * The next rollback batch: every queued host that serves nothing now (the
 * bad batch: restoring it costs no capacity), and as many serving ones as
 * the limits allow (all of them when not batched). With a balancer they are
 * drained first ("unrouting"), else their rows go back at once. One event
 * deployment.rollback_batch {id, batch, hosts, emergency}. Returns
 * how many hosts it took (0 with hosts queued: the limits hold them, *why
 * says why).
 */
static size_t sw_dep_rollback_admit(json_t *dep, const struct sw_obs *obs, struct sw_step *out, bool batched,
				    bool lb, char *why, size_t whysize)
{
	json_t *plan = sw_dep_plan(dep), *ph, *names = json_array(), *ev;
	size_t i, room = SIZE_MAX, taken = 0;
	int64_t nb;

	if (batched)
		room = sw_dep_rollback_room(dep, obs, why, whysize);
	json_array_foreach(json_object_get(plan, "hosts"), i, ph) {
		if (!sw_dep_phase_in(ph, "queued", NULL, NULL))
			continue;
		if (sw_dep_counts(obs, ph) && sw_dep_serving(obs, ph)) {
			if (room == 0)
				continue;
			room--;
		}
		if (lb)
			sw_dep_host_phase(ph, "unrouting", "", obs->now_ms);
		else
			sw_dep_restore_host(ph, obs, out);
		json_array_append_new(names, json_string(sw_dep_name(ph)));
		taken++;
	}
	if (taken) {
		nb = sw_dep_int(plan, "rollback_batch") + 1;
		json_object_set_new(plan, "rollback_batch", json_integer(nb));
		json_object_set_new(plan, "restore_ms", json_integer(obs->now_ms));
		if (!out->events)
			out->events = json_array();
		ev = json_pack("{s:s, s:{s:s, s:I, s:O, s:b}}", "kind", "deployment.rollback_batch", "payload", "id",
			       sw_json_str(dep, "id") ? sw_json_str(dep, "id") : "", "batch", (json_int_t)nb, "hosts",
			       names, "emergency", !batched);
		json_array_append_new(out->events, ev);
		out->again = lb; /* draining: read the sessions again soon */
	}
	json_decref(names);
	return taken;
}

/*
 * Rolling with a balancer, at the end of a rollback: hosts that did not
 * come back healthy (or are offline) stay in maint; say so where they are
 * listed. Hosts never restored say so too.
 */
static void sw_dep_left_out(json_t *dep, const struct sw_obs *obs, bool lb)
{
	char msg[SW_ERR_MSG_MAX];
	const char *m;
	json_t *ph;
	size_t i;

	json_array_foreach(json_object_get(sw_dep_plan(dep), "hosts"), i, ph) {
		m = sw_json_str(ph, "message") ? sw_json_str(ph, "message") : "";
		if (sw_dep_phase_in(ph, "queued", NULL, NULL)) {
			snprintf(msg, sizeof(msg), "not restored (still runs the release rolled back)%s%s", *m ? ": " : "", m);
			sw_dep_host_phase(ph, "failed", msg, obs->now_ms);
			continue;
		}
		if (!sw_dep_phase_in(ph, "restoring", "unrouting", "unrouted"))
			continue;
		snprintf(msg, sizeof(msg), "%s%s", lb ? "left in maint: " : "not restored: ", m);
		sw_dep_host_phase(ph, sw_dep_offline(obs, sw_dep_obs_host(obs, sw_json_str(ph, "id"))) ? "offline" : "failed",
				  msg, obs->now_ms);
	}
}

/* Append "; not restored: 'web-1', 'web-2'" for the hosts still queued (none: nothing). */
static void sw_dep_queued_names(const json_t *dep, struct sw_buf *b)
{
	const json_t *ph;
	size_t i, n = 0;

	json_array_foreach(json_object_get(sw_dep_plan(dep), "hosts"), i, ph)
		if (sw_dep_phase_in(ph, "queued", NULL, NULL))
			sw_buf_printf(b, "%s'%s'", n++ ? ", " : "; not restored: ", sw_dep_name(ph));
}

static void sw_dep_rollback_step(json_t *dep, const struct sw_obs *obs, struct sw_step *out)
{
	json_t *plan = sw_dep_plan(dep), *hosts = json_object_get(plan, "hosts"), *ph;
	const char *final = sw_json_str(plan, "final"), *reason = sw_json_str(dep, "reason");
	const char *strategy = sw_json_str(plan, "strategy") ? sw_json_str(plan, "strategy") : "";
	int64_t failed = sw_dep_int(plan, "failed_ms");
	int64_t timeout = sw_dep_health_timeout(dep);
	enum sw_dep_state st = SW_DEP_FAILED;
	char why[SW_ERR_MSG_MAX], d[32], msg[SW_ERR_MSG_MAX], first_why[SW_ERR_MSG_MAX] = "";
	struct sw_buf late = SW_BUF_INIT(8192);
	struct sw_err err = SW_ERR_INIT;
	const char *waiting = NULL;
	bool rolling = !strcmp(strategy, "rolling"), lb = rolling && sw_rolling_traffic(dep, obs);
	bool batched;
	size_t i, hold = 0, pending = 0, queued = 0;
	enum sw_dep_back back;
	int rr;

	if (!reason)
		reason = "";
	/* `slipway abort --emergency` during a batched rollback makes the rest of it one batch. */
	if (json_is_true(json_object_get(json_object_get(plan, "abort"), "emergency")))
		json_object_set_new(plan, "emergency", json_true());
	batched = rolling && !json_is_true(json_object_get(plan, "emergency"));
	if (!json_is_true(json_object_get(plan, "restoring"))) {
		/* Canary: canary weight to 0 (stable back to full) before any canary instance stops. */
		if (!strcmp(strategy, "canary") && sw_canary_unroute(dep, obs, &err) < 0) {
			if (obs->now_ms - failed > timeout) {
				snprintf(msg, sizeof(msg), "%s; canary traffic could not be taken off: %s", reason, err.msg);
				sw_deployment_finish(dep, SW_DEP_FAILED, msg, out);
				return;
			}
			sw_dep_set_step(dep, "rolling back: taking canary traffic off: %s", err.msg);
			return;
		}
		/* Blue/green: traffic goes back to the old colour before anything is removed. */
		if (!strcmp(strategy, "blue_green") && sw_bluegreen_unswitch(dep, obs, &err) < 0 &&
		    json_is_true(json_object_get(plan, "switch_started"))) {
			if (obs->now_ms - failed > timeout) {
				snprintf(msg, sizeof(msg), "%s; traffic could not be switched back: %s", reason, err.msg);
				sw_deployment_finish(dep, SW_DEP_FAILED, msg, out);
				return;
			}
			sw_dep_set_step(dep, "rolling back: switching traffic back: %s", err.msg);
			return;
		}
		/*
		 * Every touched host waits for its rollback batch; a revoked one left the plan
		 * (rolling.h). With a balancer, one the rollout had not put back in rotation
		 * (not "healthy") serves nobody now.
		 */
		json_array_foreach(hosts, i, ph) {
			if (!json_is_true(json_object_get(ph, "touched")) || sw_dep_phase_in(ph, "skipped", NULL, NULL))
				continue;
			if (lb && !sw_dep_phase_in(ph, "healthy", NULL, NULL))
				json_object_set_new(ph, "out_of_rotation", json_true());
			sw_dep_host_phase(ph, "queued", "", obs->now_ms);
		}
		json_object_set_new(plan, "restoring", json_true());
		json_object_set_new(plan, "restore_ms", json_integer(obs->now_ms));
	}
	/* Rolling: hosts still draining for the rollout go back in rotation; a batch's hosts are drained out. */
	if (rolling && sw_rolling_unroute(dep, obs) > 0)
		hold++;
	json_array_foreach(hosts, i, ph)
		if (sw_dep_phase_in(ph, "unrouted", NULL, NULL))
			sw_dep_restore_host(ph, obs, out);
	json_array_foreach(hosts, i, ph) {
		if (sw_dep_phase_in(ph, "unrouting", NULL, NULL)) {
			hold++;
			continue;
		}
		if (sw_dep_phase_in(ph, "queued", NULL, NULL))
			queued++;
		if (!sw_dep_phase_in(ph, "restoring", NULL, NULL))
			continue;
		back = sw_dep_restored(obs, ph, why, sizeof(why));
		if (back == SW_DEP_BACK) {
			/* Healthy on the previous release: only now back in rotation (rolling with a balancer). */
			rr = lb ? sw_rolling_reroute(dep, obs, ph, why, sizeof(why)) : 1;
			if (rr > 0) {
				sw_dep_host_phase(ph, "restored", "", obs->now_ms);
				json_object_set_new(plan, "restore_ms", json_integer(obs->now_ms));
				continue;
			}
		}
		json_object_set_new(ph, "message", json_string(why));
		/*
		 * Not back yet. An offline host is waited for (until its deadline) but does
		 * not hold the next batch: it is out either way, and the limits count it so.
		 */
		pending++;
		if (back != SW_DEP_BACK_OFFLINE)
			hold++;
		if (!waiting) {
			waiting = sw_dep_name(ph);
			snprintf(first_why, sizeof(first_why), "%s", why);
		}
		if (obs->now_ms - sw_dep_int(ph, "since_ms") > timeout)
			sw_buf_printf(&late, "%shost '%s' %s after %s (%s)", late.len ? ", " : "",
				      sw_dep_name(ph),
				      back == SW_DEP_BACK_OFFLINE ? "unreachable"
				      : back == SW_DEP_BACK    ? "not back in rotation"
							       : "not healthy",
				      sw_format_duration_ms((uint64_t)timeout, d, sizeof(d)), why);
	}
	if (late.len) {
		sw_dep_queued_names(dep, &late);
		snprintf(msg, sizeof(msg), "%s; rollback incomplete: %s", reason, sw_buf_str(&late));
		sw_buf_release(&late);
		sw_dep_left_out(dep, obs, lb);
		sw_deployment_finish(dep, SW_DEP_FAILED, msg, out);
		return;
	}
	sw_buf_release(&late);
	if (!hold && queued) {
		if (sw_dep_rollback_admit(dep, obs, out, batched, lb, why, sizeof(why)) == 0) {
			/* Nothing can move: the limits hold the rest until hosts come back (or the deadline). */
			if (obs->now_ms - sw_dep_int(plan, "restore_ms") > timeout) {
				snprintf(msg, sizeof(msg), "%s; rollback incomplete: %zu host%s not restored after %s: %s",
					 reason, queued, queued == 1 ? "" : "s",
					 sw_format_duration_ms((uint64_t)timeout, d, sizeof(d)), why);
				sw_dep_left_out(dep, obs, lb);
				sw_deployment_finish(dep, SW_DEP_FAILED, msg, out);
				return;
			}
			sw_dep_set_step(dep, "rolling back: %zu host%s wait for capacity: %s", queued, queued == 1 ? "" : "s",
					why);
			return;
		}
		sw_dep_set_step(dep, "rolling back (batch %lld%s): %s", (long long)sw_dep_int(plan, "rollback_batch"),
				batched ? "" : ", all at once", reason);
		return;
	}
	if (!pending && !hold) {
		if (final)
			sw_dep_state_parse(final, &st);
		sw_deployment_finish(dep, st, reason, out);
		return;
	}
	if (waiting)
		sw_dep_set_step(dep, "rolling back: waiting for host '%s': %s", waiting, first_why);
	else
		sw_dep_set_step(dep, "rolling back: draining hosts of batch %lld",
				(long long)sw_dep_int(plan, "rollback_batch"));
}

/* ---- the step ----------------------------------------------------------- */

int sw_deployment_step(json_t *dep, const struct sw_obs *obs, struct sw_step *out, struct sw_err *err)
{
	json_t *plan = sw_dep_plan(dep), *abort_req;
	const char *strategy, *phase;
	enum sw_dep_state st;
	char reason[SW_ERR_MSG_MAX], d[32];

	if (sw_dep_state_parse(sw_json_str(dep, "state"), &st) < 0)
		return sw_err_set(err, SW_EINPUT, "deployment '%s': unknown state '%s'",
				  sw_json_str(dep, "id") ? sw_json_str(dep, "id") : "",
				  sw_json_str(dep, "state") ? sw_json_str(dep, "state") : "");
	if (sw_dep_state_final(st))
		return 0;
	if (st == SW_DEP_PAUSED) {
		/* Hosts keep what they run until resumed (or aborted: the abort resumes it); a canary's
		 * background analyses keep watching. */
		if (sw_canary_paused_watch(dep))
			sw_canary_paused(dep, obs, out);
		return 0;
	}
	strategy = sw_json_str(plan, "strategy");
	phase = sw_json_str(plan, "phase");
	if (!json_is_object(plan) || !strategy || !phase || !json_is_array(json_object_get(plan, "hosts")) ||
	    !json_is_object(sw_dep_env(dep)) || !json_is_object(sw_dep_run(dep)) || !sw_json_str(dep, "digest"))
		return sw_err_set(err, SW_EINPUT, "deployment '%s': its plan or spec is malformed",
				  sw_json_str(dep, "id") ? sw_json_str(dep, "id") : "");
	abort_req = json_object_get(plan, "abort");
	if (abort_req)
		snprintf(reason, sizeof(reason), "aborted by %s%s%s",
			 sw_json_str(abort_req, "actor") ? sw_json_str(abort_req, "actor") : "someone",
			 sw_json_str(abort_req, "reason") && *sw_json_str(abort_req, "reason") ? ": " : "",
			 sw_json_str(abort_req, "reason") ? sw_json_str(abort_req, "reason") : "");
	if (st == SW_DEP_PENDING) {
		if (abort_req) {
			sw_deployment_finish(dep, SW_DEP_ABORTED, reason, out);
			return 0;
		}
		json_object_set_new(dep, "state", json_string("progressing"));
		json_object_set_new(plan, "started_ms", json_integer(obs->now_ms));
		sw_dep_progressed(dep, obs);
		sw_dep_set_step(dep, "starting");
		out->transition = true;
		out->state = SW_DEP_PROGRESSING;
		out->again = true;
		return 0;
	}
	sw_dep_outage(dep, obs);
	if (!strcmp(phase, "rollout")) {
		if (abort_req) {
			sw_dep_fail(dep, obs, reason);
		} else if (obs->now_ms > sw_dep_int(dep, "deadline_ms")) {
			snprintf(reason, sizeof(reason), "progress deadline exceeded (%s)",
				 sw_format_duration_ms((uint64_t)sw_dep_int(sw_dep_env(dep), "progress_deadline_ms"), d,
						       sizeof(d)));
			sw_dep_fail(dep, obs, reason);
		} else if (!strcmp(strategy, "blue_green")) {
			sw_bluegreen_step(dep, obs, out);
		} else if (!strcmp(strategy, "canary")) {
			sw_canary_step(dep, obs, out);
		} else if (!strcmp(strategy, "rings")) {
			sw_rings_step(dep, obs, out);
		} else {
			sw_rolling_step(dep, obs, out);
		}
		/* Rolling and blue/green have no waits to skip: a promote is used up. */
		if (strcmp(strategy, "canary"))
			sw_dep_take_promote(dep);
		if (out->transition)
			return 0;
		phase = sw_json_str(plan, "phase");
	}
	if (phase && !strcmp(phase, "rollback"))
		sw_dep_rollback_step(dep, obs, out);
	return 0;
}

void sw_dep_merge_concurrent(json_t *dep, const json_t *cur, bool transition)
{
	json_t *plan = sw_dep_plan(dep), *cplan = sw_dep_plan(cur);
	json_t *abort_req = json_object_get(cplan, "abort"), *v;
	const char *read_state = sw_json_str(dep, "_read_state"), *cst = sw_json_str(cur, "state");
	enum sw_dep_state ds;

	/* An abort recorded since the step read the record must survive this write. */
	if (abort_req && !json_object_get(plan, "abort"))
		json_object_set(plan, "abort", abort_req);
	/* And an emergency asked of an abort already there (abort --emergency again). */
	if (json_is_true(json_object_get(abort_req, "emergency")) && json_object_get(plan, "abort"))
		json_object_set_new(json_object_get(plan, "abort"), "emergency", json_true());
	/* A pause, resume or promote recorded since: its state and its words win unless the step ended it. */
	if ((!read_state || strcmp(cst ? cst : "", read_state)) && cst &&
	    sw_dep_state_parse(sw_json_str(dep, "state"), &ds) == 0 && !sw_dep_state_final(ds) && !transition) {
		json_object_set_new(dep, "state", json_string(cst));
		if ((v = json_object_get(cplan, "pause")))
			json_object_set(plan, "pause", v);
		else
			json_object_del(plan, "pause");
		if ((v = json_object_get(cur, "deadline_ms")))
			json_object_set(dep, "deadline_ms", v);
		if ((v = json_object_get(cur, "reason")))
			json_object_set(dep, "reason", v);
		if ((v = json_object_get(cplan, "step")))
			json_object_set(plan, "step", v);
	}
	if (json_object_get(cplan, "promote") && !json_object_get(plan, "promote") &&
	    sw_dep_int(json_object_get(cplan, "promote"), "at_ms") > sw_dep_int(plan, "promote_done_ms"))
		json_object_set(plan, "promote", json_object_get(cplan, "promote"));
	json_object_del(dep, "_read_state");
}
