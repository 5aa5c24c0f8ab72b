/*
 * runjson.c - slipway.yml's run and environment sections as the JSON a
 * deployment stores (see runjson.h for both shapes).
 * Calls jansson, spec/. Returned values are new references.
 */
#include "rollout/runjson.h"

#include <stdio.h>
#include <string.h>

static const char *sw_runjson_health_kind(enum sw_health_kind k)
{
	switch (k) {
	case SW_HEALTH_HTTP:
		return "http";
	case SW_HEALTH_TCP:
		return "tcp";
	case SW_HEALTH_COMMAND:
		return "command";
	case SW_HEALTH_NONE:
		break;
	}
	return "none";
}

const char *sw_runjson_strategy_name(enum sw_strategy s)
{
	switch (s) {
	case SW_STRATEGY_ROLLING:
		return "rolling";
	case SW_STRATEGY_BLUE_GREEN:
		return "blue_green";
	case SW_STRATEGY_CANARY:
		return "canary";
	case SW_STRATEGY_RINGS:
		return "rings";
	}
	return "rolling";
}

static void sw_runjson_set_str(json_t *obj, const char *key, const char *v)
{
	if (v)
		json_object_set_new(obj, key, json_string(v));
}

json_t *sw_runjson_run(const struct sw_spec_run *run)
{
	json_t *o = json_object(), *env = json_object(), *hooks, *h;
	size_t i;

	json_object_set_new(o, "command", json_string(run->command ? run->command : ""));
	for (i = 0; i < run->nenv; i++)
		json_object_set_new(env, run->env[i].key, json_string(run->env[i].value ? run->env[i].value : ""));
	json_object_set_new(o, "env", env);
	if (run->health.kind != SW_HEALTH_NONE) {
		h = json_pack("{s:s, s:I, s:I, s:I, s:I}", "kind", sw_runjson_health_kind(run->health.kind),
			      "interval_ms", (json_int_t)run->health.interval_ms, "timeout_ms",
			      (json_int_t)run->health.timeout_ms, "retries", (json_int_t)run->health.retries,
			      "start_period_ms", (json_int_t)run->health.start_period_ms);
		json_object_set_new(h, "target", run->health.target ? json_string(run->health.target) : json_null());
		json_object_set_new(o, "health", h);
	}
	json_object_set_new(o, "stop",
			    json_pack("{s:s, s:I}", "signal", run->stop_signal_name ? run->stop_signal_name : "TERM",
				      "grace_ms", (json_int_t)run->stop_grace_ms));
	hooks = json_pack("{s:I}", "timeout_ms", (json_int_t)run->hooks.timeout_ms);
	sw_runjson_set_str(hooks, "before_install", run->hooks.before_install);
	sw_runjson_set_str(hooks, "after_install", run->hooks.after_install);
	sw_runjson_set_str(hooks, "before_start", run->hooks.before_start);
	sw_runjson_set_str(hooks, "validate", run->hooks.validate);
	json_object_set_new(o, "hooks", hooks);
	json_object_set_new(o, "keep_releases", json_integer(run->keep_releases));
	return o;
}

json_t *sw_runjson_amount(const struct sw_spec_amount *a)
{
	char pct[16];

	if (!a->percent)
		return json_integer(a->value);
	snprintf(pct, sizeof(pct), "%u%%", a->value);
	return json_string(pct);
}

static json_t *sw_runjson_traffic(const struct sw_spec_traffic *t)
{
	if (!t->haproxy_socket)
		return json_null();
	return json_pack("{s:{s:s, s:s}}", "haproxy", "socket", t->haproxy_socket, "backend",
			 t->haproxy_backend ? t->haproxy_backend : "");
}

/* canary: {steps: [{kind, weight | pause_ms, manual | analysis | instances}], templates, start_at_step}. */
static json_t *sw_runjson_canary(const struct sw_spec_canary *c)
{
	static const char *const kinds[] = { [SW_CANARY_WEIGHT] = "weight", [SW_CANARY_PAUSE] = "pause",
					     [SW_CANARY_ANALYSIS] = "analysis", [SW_CANARY_INSTANCES] = "instances" };
	json_t *steps = json_array(), *templates = json_array(), *st;
	size_t i;

	for (i = 0; i < c->nsteps; i++) {
		const struct sw_spec_canary_step *s = &c->steps[i];

		st = json_pack("{s:s}", "kind", (unsigned)s->kind < 4 ? kinds[s->kind] : "unknown");
		switch (s->kind) {
		case SW_CANARY_WEIGHT:
			json_object_set_new(st, "weight", json_integer(s->weight));
			break;
		case SW_CANARY_PAUSE:
			json_object_set_new(st, "pause_ms", json_integer((json_int_t)s->pause_ms));
			json_object_set_new(st, "manual", json_boolean(s->pause_manual));
			break;
		case SW_CANARY_ANALYSIS:
			json_object_set_new(st, "analysis", json_string(s->analysis ? s->analysis : ""));
			break;
		case SW_CANARY_INSTANCES:
			json_object_set_new(st, "instances", sw_runjson_amount(&s->instances));
			break;
		}
		json_array_append_new(steps, st);
	}
	for (i = 0; i < c->ntemplates; i++)
		json_array_append_new(templates, json_string(c->templates[i]));
	return json_pack("{s:o, s:o, s:I}", "steps", steps, "templates", templates, "start_at_step",
			 (json_int_t)c->start_at_step);
}

json_t *sw_runjson_env(const struct sw_spec_env *env)
{
	json_t *o = json_object(), *sel = json_object(), *traffic;
	size_t i;

	json_object_set_new(o, "name", json_string(env->name));
	for (i = 0; i < env->nhosts; i++)
		json_object_set_new(sel, env->hosts[i].key, json_string(env->hosts[i].value ? env->hosts[i].value : ""));
	json_object_set_new(o, "selector", sel);
	json_object_set_new(o, "strategy", json_string(sw_runjson_strategy_name(env->strategy)));
	json_object_set_new(o, "progress_deadline_ms", json_integer((json_int_t)env->progress_deadline_ms));
	json_object_set_new(o, "health_timeout_ms",
			    json_integer((json_int_t)(env->rolling.health_timeout_ms ? env->rolling.health_timeout_ms
										     : 5 * 60000)));
	json_object_set_new(o, "rolling",
			    json_pack("{s:o, s:o, s:o}", "batch", sw_runjson_amount(&env->rolling.batch),
				      "max_unavailable", sw_runjson_amount(&env->rolling.max_unavailable),
				      "min_healthy", sw_runjson_amount(&env->rolling.min_healthy)));
	json_object_set_new(o, "blue_green",
			    json_pack("{s:o, s:I}", "smoke",
				      env->blue_green.smoke ? json_string(env->blue_green.smoke) : json_null(),
				      "keep_old_ms", (json_int_t)env->blue_green.keep_old_ms));
	switch (env->strategy) {
	case SW_STRATEGY_ROLLING:
		traffic = sw_runjson_traffic(&env->rolling.traffic);
		break;
	case SW_STRATEGY_BLUE_GREEN:
		traffic = sw_runjson_traffic(&env->blue_green.traffic);
		break;
	case SW_STRATEGY_CANARY:
		traffic = sw_runjson_traffic(&env->canary.traffic);
		break;
	case SW_STRATEGY_RINGS:
		traffic = sw_runjson_traffic(&env->rings.traffic);
		break;
	default:
		traffic = json_null();
		break;
	}
	json_object_set_new(o, "traffic", traffic);
	if (env->strategy == SW_STRATEGY_CANARY)
		json_object_set_new(o, "canary", sw_runjson_canary(&env->canary));
	if (env->strategy == SW_STRATEGY_RINGS) {
		json_t *order = json_array();

		for (i = 0; i < env->rings.norder; i++)
			json_array_append_new(order, json_string(env->rings.order[i] ? env->rings.order[i] : ""));
		json_object_set_new(o, "rings",
				    json_pack("{s:s, s:o, s:I, s:o}", "label", env->rings.label ? env->rings.label : "ring",
					      "order", order, "bake_ms", (json_int_t)env->rings.bake_ms, "analysis",
					      env->rings.analysis ? json_string(env->rings.analysis) : json_null()));
	}
	return o;
}

static json_t *sw_runjson_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *sw_runjson_analysis(const struct sw_spec_analysis *a)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(a->name ? a->name : ""));
	json_object_set_new(o, "provider", json_string(sw_spec_provider_name(a->provider)));
	json_object_set_new(o, "address", sw_runjson_str_or_null(a->address));
	json_object_set_new(o, "query", sw_runjson_str_or_null(a->query));
	json_object_set_new(o, "url", sw_runjson_str_or_null(a->url));
	json_object_set_new(o, "expect_status", json_integer(a->expect_status));
	json_object_set_new(o, "json_field", sw_runjson_str_or_null(a->json_field));
	json_object_set_new(o, "command", sw_runjson_str_or_null(a->command));
	json_object_set_new(o, "interval_ms", json_integer((json_int_t)a->interval_ms));
	json_object_set_new(o, "count", json_integer(a->count));
	json_object_set_new(o, "initial_delay_ms", json_integer((json_int_t)a->initial_delay_ms));
	json_object_set_new(o, "success", sw_runjson_str_or_null(a->success));
	json_object_set_new(o, "failure", sw_runjson_str_or_null(a->failure));
	json_object_set_new(o, "failure_limit", json_integer(a->failure_limit));
	json_object_set_new(o, "inconclusive_limit", json_integer(a->inconclusive_limit));
	json_object_set_new(o, "dry_run", json_boolean(a->dry_run));
	return o;
}

static unsigned sw_runjson_uint(const json_t *j, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(j, key));

	return v > 0 && v <= 0x7fffffff ? (unsigned)v : 0;
}

int sw_runjson_analysis_read(const json_t *j, struct sw_spec_analysis *out)
{
	static const enum sw_provider provs[] = { SW_PROVIDER_HAPROXY, SW_PROVIDER_PROMETHEUS, SW_PROVIDER_HTTP,
						  SW_PROVIDER_COMMAND };
	const char *p = json_string_value(json_object_get(j, "provider"));
	json_int_t v;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j) || !p || !json_string_value(json_object_get(j, "name")))
		return -1;
	for (i = 0; i < sizeof(provs) / sizeof(provs[0]); i++)
		if (!strcmp(p, sw_spec_provider_name(provs[i])))
			break;
	if (i == sizeof(provs) / sizeof(provs[0]))
		return -1;
	out->provider = provs[i];
	out->name = json_string_value(json_object_get(j, "name"));
	out->address = json_string_value(json_object_get(j, "address"));
	out->query = json_string_value(json_object_get(j, "query"));
	out->url = json_string_value(json_object_get(j, "url"));
	out->expect_status = sw_runjson_uint(j, "expect_status");
	out->json_field = json_string_value(json_object_get(j, "json_field"));
	out->command = json_string_value(json_object_get(j, "command"));
	v = json_integer_value(json_object_get(j, "interval_ms"));
	out->interval_ms = v > 0 ? (uint64_t)v : 0;
	out->count = sw_runjson_uint(j, "count");
	v = json_integer_value(json_object_get(j, "initial_delay_ms"));
	out->initial_delay_ms = v > 0 ? (uint64_t)v : 0;
	out->success = json_string_value(json_object_get(j, "success"));
	out->failure = json_string_value(json_object_get(j, "failure"));
	out->failure_limit = sw_runjson_uint(j, "failure_limit");
	out->dry_run = json_is_true(json_object_get(j, "dry_run"));
	out->inconclusive_limit = sw_runjson_uint(j, "inconclusive_limit");
	return 0;
}
