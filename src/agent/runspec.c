/*
 * runspec.c - parse the `run` object of a desired row (see runspec.h).
 * Calls jansson and base/.
 */
#include "agent/runspec.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/num.h"

#include <signal.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	int sig;
} sw_runspec_signals[] = {
	{ "TERM", SIGTERM }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
	{ "HUP", SIGHUP },   { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
};

int sw_runspec_signal(const char *name)
{
	size_t i;

	if (!strncasecmp(name, "SIG", 3))
		name += 3;
	for (i = 0; i < SW_ARRAY_LEN(sw_runspec_signals); i++)
		if (!strcasecmp(name, sw_runspec_signals[i].name))
			return sw_runspec_signals[i].sig;
	return -1;
}

/* A string field: NULL when absent; -1 when present with another type or too long. */
static int sw_runspec_text(struct sw_runspec *rs, const json_t *obj, const char *key, const char *what,
			   const char **out, struct sw_err *err)
{
	const json_t *v = json_object_get(obj, key);
	size_t len;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return sw_err_set(err, SW_EINPUT, "'%s.%s' must be a string", what, key);
	len = json_string_length(v);
	if (len > SW_RUNSPEC_MAX_TEXT || memchr(json_string_value(v), '\0', len))
		return sw_err_set(err, SW_EINPUT, "'%s.%s' is too long or holds a NUL byte", what, key);
	*out = sw_arena_strndup(&rs->arena, json_string_value(v), len);
	return 0;
}

/*
 * A duration: key as "1s" or integer ms, or key_ms as integer ms. Leaves
 * *ms alone when neither is present.
 */
static int sw_runspec_duration(const json_t *obj, const char *key, const char *what, uint64_t *ms,
			       struct sw_err *err)
{
	char key_ms[64];
	const json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v)) {
		if (sw_snprintf(key_ms, sizeof(key_ms), "%s_ms", key) < 0)
			return sw_err_set(err, SW_EINTERNAL, "key too long");
		v = json_object_get(obj, key_ms);
		if (!v || json_is_null(v))
			return 0;
		key = key_ms;
	}
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);

		if (n < 0 || n > (json_int_t)7 * 24 * 3600 * 1000)
			return sw_err_set(err, SW_EINPUT, "'%s.%s' is out of range", what, key);
		*ms = (uint64_t)n;
		return 0;
	}
	if (json_is_string(v) &&
	    sw_parse_duration_ms(json_string_value(v), json_string_length(v), ms) == 0 &&
	    *ms <= (uint64_t)7 * 24 * 3600 * 1000)
		return 0;
	return sw_err_set(err, SW_EINPUT, "'%s.%s' must be a duration such as \"10s\" or milliseconds", what, key);
}

static int sw_runspec_uint(const json_t *obj, const char *key, const char *what, unsigned min, unsigned max,
			   unsigned *out, struct sw_err *err)
{
	const json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min || json_integer_value(v) > (json_int_t)max)
		return sw_err_set(err, SW_EINPUT, "'%s.%s' must be an integer %u..%u", what, key, min, max);
	*out = (unsigned)json_integer_value(v);
	return 0;
}

static int sw_runspec_env_ok(const char *name)
{
	size_t i;

	if (!name[0] || (name[0] >= '0' && name[0] <= '9'))
		return 0;
	for (i = 0; name[i]; i++) {
		char c = name[i];

		if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return 0;
	}
	return i <= 255;
}

static int sw_runspec_add_env(struct sw_runspec *rs, const char *name, const json_t *value, size_t *cap,
			      struct sw_err *err)
{
	const char *val;

	if (!sw_runspec_env_ok(name))
		return sw_err_set(err, SW_EINPUT, "'run.env': '%.64s' is not a valid variable name", name);
	if (json_is_string(value))
		val = json_string_value(value);
	else
		return sw_err_set(err, SW_EINPUT, "'run.env.%s' must be a string", name);
	if (json_string_length(value) > SW_RUNSPEC_MAX_TEXT || strlen(val) != json_string_length(value))
		return sw_err_set(err, SW_EINPUT, "'run.env.%s' is too long or holds a NUL byte", name);
	if (rs->nenv >= SW_RUNSPEC_MAX_ENV)
		return sw_err_set(err, SW_EINPUT, "'run.env' has more than %d variables", SW_RUNSPEC_MAX_ENV);
	if (rs->nenv == *cap) {
		struct sw_runspec_env *nv;

		*cap = *cap ? *cap * 2 : 8;
		nv = sw_arena_allocarray(&rs->arena, *cap, sizeof(*nv));
		if (rs->nenv)
			memcpy(nv, rs->env, rs->nenv * sizeof(*nv));
		rs->env = nv;
	}
	rs->env[rs->nenv].name = sw_arena_strdup(&rs->arena, name);
	rs->env[rs->nenv].value = sw_arena_strdup(&rs->arena, val);
	rs->nenv++;
	return 0;
}

static int sw_runspec_env(struct sw_runspec *rs, const json_t *env, struct sw_err *err)
{
	size_t cap = 0, i;

	if (!env || json_is_null(env))
		return 0;
	if (json_is_object(env)) {
		const char *k;
		json_t *v;

		json_object_foreach((json_t *)env, k, v)
			if (sw_runspec_add_env(rs, k, v, &cap, err) < 0)
				return -1;
		return 0;
	}
	if (!json_is_array(env))
		return sw_err_set(err, SW_EINPUT, "'run.env' must be an object of strings");
	for (i = 0; i < json_array_size(env); i++) {
		const json_t *e = json_array_get(env, i);
		const char *name = sw_json_str(e, "name");

		if (!name)
			name = sw_json_str(e, "key");
		if (!name || !json_object_get(e, "value"))
			return sw_err_set(err, SW_EINPUT, "'run.env[%zu]' must be {name, value}", i);
		if (sw_runspec_add_env(rs, name, json_object_get(e, "value"), &cap, err) < 0)
			return -1;
	}
	return 0;
}

static int sw_runspec_health_parse(struct sw_runspec *rs, const json_t *h, struct sw_err *err)
{
	const char *kind = NULL, *target = NULL;
	const json_t *tcp;

	if (!h || json_is_null(h))
		return 0;
	if (!json_is_object(h))
		return sw_err_set(err, SW_EINPUT, "'run.health' must be an object");
	if (sw_runspec_text(rs, h, "kind", "run.health", &kind, err) < 0)
		return -1;
	if (kind) {
		if (!strcmp(kind, "http"))
			rs->health = SW_RUNSPEC_HEALTH_HTTP;
		else if (!strcmp(kind, "tcp"))
			rs->health = SW_RUNSPEC_HEALTH_TCP;
		else if (!strcmp(kind, "command"))
			rs->health = SW_RUNSPEC_HEALTH_COMMAND;
		else if (!strcmp(kind, "none"))
			rs->health = SW_RUNSPEC_HEALTH_NONE;
		else
			return sw_err_set(err, SW_EINPUT, "'run.health.kind' must be http, tcp or command");
		if (sw_runspec_text(rs, h, "target", "run.health", &target, err) < 0)
			return -1;
		if (!target && sw_runspec_text(rs, h, rs->health == SW_RUNSPEC_HEALTH_HTTP ? "path" : "command",
					       "run.health", &target, err) < 0)
			return -1;
		if (!target && rs->health == SW_RUNSPEC_HEALTH_HTTP && json_is_string(json_object_get(h, "http")) &&
		    sw_runspec_text(rs, h, "http", "run.health", &target, err) < 0)
			return -1;
	} else {
		int n = 0;

		if (sw_runspec_text(rs, h, "http", "run.health", &target, err) < 0)
			return -1;
		if (target) {
			rs->health = SW_RUNSPEC_HEALTH_HTTP;
			n++;
		}
		tcp = json_object_get(h, "tcp");
		if (tcp && !json_is_null(tcp) && !json_is_false(tcp)) {
			if (!json_is_true(tcp))
				return sw_err_set(err, SW_EINPUT, "'run.health.tcp' must be true");
			rs->health = SW_RUNSPEC_HEALTH_TCP;
			n++;
		}
		if (json_object_get(h, "command") && !json_is_null(json_object_get(h, "command"))) {
			if (sw_runspec_text(rs, h, "command", "run.health", &target, err) < 0)
				return -1;
			rs->health = SW_RUNSPEC_HEALTH_COMMAND;
			n++;
		}
		if (n > 1)
			return sw_err_set(err, SW_EINPUT, "'run.health' must set only one of http, tcp, command");
	}
	if (rs->health == SW_RUNSPEC_HEALTH_HTTP && (!target || target[0] != '/' || strpbrk(target, " \r\n")))
		return sw_err_set(err, SW_EINPUT, "'run.health.http' must be a path starting with '/'");
	if (rs->health == SW_RUNSPEC_HEALTH_COMMAND && (!target || !target[0]))
		return sw_err_set(err, SW_EINPUT, "'run.health.command' must be a command");
	rs->health_target = rs->health == SW_RUNSPEC_HEALTH_TCP ? NULL : target;
	if (sw_runspec_duration(h, "interval", "run.health", &rs->health_interval_ms, err) < 0 ||
	    sw_runspec_duration(h, "timeout", "run.health", &rs->health_timeout_ms, err) < 0 ||
	    sw_runspec_duration(h, "start_period", "run.health", &rs->health_start_period_ms, err) < 0 ||
	    sw_runspec_uint(h, "retries", "run.health", 1, 100, &rs->health_retries, err) < 0)
		return -1;
	if (rs->health_interval_ms == 0 || rs->health_timeout_ms == 0)
		return sw_err_set(err, SW_EINPUT, "'run.health' interval and timeout must be greater than 0");
	return 0;
}

static int sw_runspec_stop(struct sw_runspec *rs, const json_t *run, struct sw_err *err)
{
	const json_t *stop = json_object_get(run, "stop"), *sig;
	const char *where = "run.stop";

	if (stop && !json_is_null(stop) && !json_is_object(stop))
		return sw_err_set(err, SW_EINPUT, "'run.stop' must be an object");
	sig = stop ? json_object_get(stop, "signal") : NULL;
	if (!sig) {
		sig = json_object_get(run, "stop_signal");
		where = "run";
		if (!sig)
			sig = json_object_get(run, "stop_signal_name");
	}
	if (sig && !json_is_null(sig)) {
		if (json_is_string(sig))
			rs->stop_signal = sw_runspec_signal(json_string_value(sig));
		else if (json_is_integer(sig) && json_integer_value(sig) > 0 && json_integer_value(sig) < 65)
			rs->stop_signal = (int)json_integer_value(sig);
		else
			rs->stop_signal = -1;
		if (rs->stop_signal < 0)
			return sw_err_set(err, SW_EINPUT, "'%s.signal' must be one of TERM, INT, QUIT, KILL, HUP, USR1, USR2",
					  where);
	}
	if (stop && json_is_object(stop) && sw_runspec_duration(stop, "grace", "run.stop", &rs->stop_grace_ms, err) < 0)
		return -1;
	return sw_runspec_duration(run, "stop_grace", "run", &rs->stop_grace_ms, err);
}

static int sw_runspec_hooks(struct sw_runspec *rs, const json_t *hooks, struct sw_err *err)
{
	if (!hooks || json_is_null(hooks))
		return 0;
	if (!json_is_object(hooks))
		return sw_err_set(err, SW_EINPUT, "'run.hooks' must be an object");
	if (sw_runspec_text(rs, hooks, "before_install", "run.hooks", &rs->before_install, err) < 0 ||
	    sw_runspec_text(rs, hooks, "after_install", "run.hooks", &rs->after_install, err) < 0 ||
	    sw_runspec_text(rs, hooks, "before_start", "run.hooks", &rs->before_start, err) < 0 ||
	    sw_runspec_text(rs, hooks, "validate", "run.hooks", &rs->validate, err) < 0 ||
	    sw_runspec_duration(hooks, "timeout", "run.hooks", &rs->hook_timeout_ms, err) < 0)
		return -1;
	if (rs->hook_timeout_ms == 0)
		return sw_err_set(err, SW_EINPUT, "'run.hooks.timeout' must be greater than 0");
	return 0;
}

struct sw_runspec *sw_runspec_parse(const json_t *run, struct sw_err *err)
{
	struct sw_buf canon = SW_BUF_INIT((size_t)16 << 20);
	struct sw_runspec *rs;

	if (!json_is_object(run)) {
		sw_err_set(err, SW_EINPUT, "'run' must be an object");
		return NULL;
	}
	rs = sw_xcalloc(1, sizeof(*rs));
	sw_arena_init(&rs->arena);
	rs->health_interval_ms = 1000;
	rs->health_timeout_ms = 2000;
	rs->health_retries = 3;
	rs->stop_signal = SIGTERM;
	rs->stop_grace_ms = 10000;
	rs->hook_timeout_ms = 5 * 60 * 1000;
	rs->keep_releases = 3;
	if (sw_runspec_text(rs, run, "command", "run", &rs->command, err) < 0)
		goto fail;
	if (!rs->command || !rs->command[0]) {
		sw_err_set(err, SW_EINPUT, "'run.command' is required");
		goto fail;
	}
	if (sw_runspec_env(rs, json_object_get(run, "env"), err) < 0 ||
	    sw_runspec_health_parse(rs, json_object_get(run, "health"), err) < 0 || sw_runspec_stop(rs, run, err) < 0 ||
	    sw_runspec_hooks(rs, json_object_get(run, "hooks"), err) < 0 ||
	    sw_runspec_uint(run, "keep_releases", "run", 1, 100, &rs->keep_releases, err) < 0)
		goto fail;
	if (sw_json_canonical(run, &canon) < 0) {
		sw_err_set(err, SW_EINPUT, "'run' cannot be serialised");
		goto fail;
	}
	sw_sha256_hex(canon.data ? canon.data : "", canon.len, rs->digest);
	rs->json = sw_arena_strndup(&rs->arena, canon.data ? canon.data : "", canon.len);
	sw_buf_release(&canon);
	return rs;
fail:
	sw_buf_release(&canon);
	sw_runspec_free(rs);
	return NULL;
}

void sw_runspec_free(struct sw_runspec *rs)
{
	if (!rs)
		return;
	sw_arena_release(&rs->arena);
	free(rs);
}

struct sw_runspec *sw_runspec_parse_text(const char *text, size_t len, struct sw_err *err)
{
	struct sw_runspec *rs;
	json_t *v = sw_json_parse(text, len, (size_t)16 << 20, "run", err);

	if (!v)
		return NULL;
	rs = sw_runspec_parse(v, err);
	json_decref(v);
	return rs;
}

struct sw_runspec *sw_runspec_clone(const struct sw_runspec *rs, struct sw_err *err)
{
	return sw_runspec_parse_text(rs->json, strlen(rs->json), err);
}

static bool sw_runspec_str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The value of env variable name in rs, or NULL. */
static const char *sw_runspec_env_get(const struct sw_runspec *rs, const char *name)
{
	size_t i;

	for (i = 0; i < rs->nenv; i++)
		if (!strcmp(rs->env[i].name, name))
			return rs->env[i].value;
	return NULL;
}

const char *sw_runspec_diff(const struct sw_runspec *a, const struct sw_runspec *b)
{
	size_t i;

	if (!sw_runspec_str_eq(a->command, b->command))
		return "run.command";
	if (a->nenv != b->nenv)
		return "run.env";
	for (i = 0; i < a->nenv; i++)
		if (!sw_runspec_str_eq(a->env[i].value, sw_runspec_env_get(b, a->env[i].name)))
			return "run.env";
	if (a->health != b->health || !sw_runspec_str_eq(a->health_target, b->health_target))
		return "run.health";
	if (a->health_interval_ms != b->health_interval_ms || a->health_timeout_ms != b->health_timeout_ms ||
	    a->health_start_period_ms != b->health_start_period_ms || a->health_retries != b->health_retries)
		return "run.health";
	if (a->stop_signal != b->stop_signal || a->stop_grace_ms != b->stop_grace_ms)
		return "run.stop";
	if (!sw_runspec_str_eq(a->before_install, b->before_install))
		return "run.hooks.before_install";
	if (!sw_runspec_str_eq(a->after_install, b->after_install))
		return "run.hooks.after_install";
	if (!sw_runspec_str_eq(a->before_start, b->before_start))
		return "run.hooks.before_start";
	if (!sw_runspec_str_eq(a->validate, b->validate))
		return "run.hooks.validate";
	if (a->hook_timeout_ms != b->hook_timeout_ms)
		return "run.hooks.timeout";
	if (a->keep_releases != b->keep_releases)
		return "run.keep_releases";
	return NULL;
}
