/*
 * validate.c - request body and query checks of the HTTP API (see validate.h).
 */
#include "server/validate.h"
#include "base/netaddr.h"
#include "base/buf.h"
#include "base/hash.h"
#include "base/num.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sw_val_fail(struct sw_err *err, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = SW_EINPUT;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	sw_strlcpy(err->where, field ? field : "", sizeof(err->where));
	return -1;
}

int sw_val_body(const char *data, size_t len, json_t **out, struct sw_err *err)
{
	json_error_t je;
	json_t *v;
	size_t i;

	*out = NULL;
	for (i = 0; i < len; i++)
		if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r' && data[i] != '\n')
			break;
	if (i == len)
		return 0; /* empty body */
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!v)
		return sw_val_fail(err, NULL, "invalid JSON at line %d, column %d (byte %d): %s", je.line, je.column,
				   je.position, je.text);
	if (!json_is_object(v)) {
		json_decref(v);
		return sw_val_fail(err, NULL, "request body must be a JSON object");
	}
	*out = v;
	return 0;
}

static int sw_val_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int sw_val_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0, i;

	if (n < 1 || n > 63 || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int sw_val_label_key_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 1 || n > 63)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-' || c == '/'))
			return 0;
	}
	return 1;
}

int sw_val_labels(const json_t *labels, const char *field, struct sw_err *err)
{
	const char *k;
	json_t *v;

	if (!json_is_object(labels))
		return sw_val_fail(err, field, "'%s' must be an object of string labels", field);
	if (json_object_size(labels) > SW_VAL_LABELS_MAX)
		return sw_val_fail(err, field, "'%s' has more than %d labels", field, SW_VAL_LABELS_MAX);
	json_object_foreach((json_t *)labels, k, v)
	{
		if (!sw_val_label_key_ok(k))
			return sw_val_fail(err, field, "'%s': label name '%.64s' must be 1 to 63 of A-Z a-z 0-9 . _ / -",
					   field, k);
		if (!json_is_string(v) || json_string_length(v) > 128 || !sw_val_printable(json_string_value(v)))
			return sw_val_fail(err, field, "'%s': label '%s' must be a string of at most 128 printable bytes",
					   field, k);
	}
	return 0;
}

int sw_val_query_int(const char *s, const char *field, int64_t min, int64_t max, int64_t def, int64_t *out,
		     struct sw_err *err)
{
	if (!s || !*s) {
		*out = def;
		return 0;
	}
	if (sw_parse_i64(s, strlen(s), min, max, out) < 0)
		return sw_val_fail(err, field, "query argument '%s' must be an integer from %lld to %lld", field,
				   (long long)min, (long long)max);
	return 0;
}

/* Refuse fields not in allowed (NULL-terminated). */
static int sw_val_only(const json_t *b, const char *const *allowed, struct sw_err *err)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)b, k, v)
	{
		for (i = 0; allowed[i]; i++)
			if (!strcmp(k, allowed[i]))
				break;
		if (!allowed[i]) {
			char shown[65];
			size_t j;

			/* Bounded and printable: the name comes from the client. */
			for (j = 0; j < sizeof(shown) - 1 && k[j]; j++)
				shown[j] = (unsigned char)k[j] < 0x20 || k[j] == 0x7f ? '?' : k[j];
			shown[j] = '\0';
			return sw_val_fail(err, shown, "unknown field '%s'", shown);
		}
	}
	return 0;
}

/* A string field: required or not, length bounds, printable. */
static int sw_val_str(const json_t *b, const char *key, int required, size_t min, size_t max, const char **out,
		      struct sw_err *err)
{
	json_t *v = json_object_get(b, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return sw_val_fail(err, key, "missing field '%s'", key);
		return 0;
	}
	if (!json_is_string(v))
		return sw_val_fail(err, key, "field '%s' must be a string", key);
	if (json_string_length(v) < min || json_string_length(v) > max)
		return sw_val_fail(err, key, "field '%s' must be %zu to %zu bytes long", key, min, max);
	if (!sw_val_printable(json_string_value(v)))
		return sw_val_fail(err, key, "field '%s' contains a control character", key);
	*out = json_string_value(v);
	return 0;
}

static int sw_val_name_field(const json_t *b, const char *key, const char *what, const char **out, struct sw_err *err)
{
	if (sw_val_str(b, key, 1, 1, 63, out, err) < 0)
		return -1;
	if (!sw_val_name_ok(*out))
		return sw_val_fail(err, key, "field '%s': %s name '%s' must be 1 to 63 of A-Z a-z 0-9 . _ - (not starting "
				   "with '.' or '-')", key, what, *out);
	return 0;
}

int sw_val_token_create(const json_t *b, const char **name, enum sw_role *role, struct sw_err *err)
{
	static const char *const allowed[] = { "name", "role", NULL };
	const char *r;

	if (!b)
		return sw_val_fail(err, "role", "missing field 'role'");
	if (sw_val_only(b, allowed, err) < 0 || sw_val_str(b, "name", 0, 0, 128, name, err) < 0 ||
	    sw_val_str(b, "role", 1, 1, 16, &r, err) < 0)
		return -1;
	if (sw_role_parse(r, role) < 0)
		return sw_val_fail(err, "role", "field 'role' must be admin, deployer or viewer, not '%s'", r);
	if (!*name)
		*name = "";
	return 0;
}

int sw_val_join_create(const json_t *b, const json_t **labels, const char **replace, uint64_t *ttl_ms,
		       struct sw_err *err)
{
	static const char *const allowed[] = { "labels", "ttl", "replace", NULL };
	const char *ttl = NULL;
	json_t *l;

	*labels = NULL;
	*replace = NULL;
	*ttl_ms = SW_VAL_TTL_DEFAULT_MS;
	if (!b)
		return 0;
	if (sw_val_only(b, allowed, err) < 0 || sw_val_str(b, "ttl", 0, 1, 32, &ttl, err) < 0)
		return -1;
	l = json_object_get(b, "replace");
	if (l && !json_is_null(l) && sw_val_name_field(b, "replace", "host", replace, err) < 0)
		return -1;
	l = json_object_get(b, "labels");
	if (l && !json_is_null(l)) {
		if (sw_val_labels(l, "labels", err) < 0)
			return -1;
		*labels = l;
	}
	if (ttl) {
		if (sw_parse_duration_ms(ttl, strlen(ttl), ttl_ms) < 0)
			return sw_val_fail(err, "ttl", "field 'ttl' must be a duration such as 10m or 1h, not '%s'", ttl);
		if (*ttl_ms < 1000 || *ttl_ms > SW_VAL_TTL_MAX_MS)
			return sw_val_fail(err, "ttl", "field 'ttl' must be from 1s to 168h");
	}
	return 0;
}

/* Optional field 'address' (base/netaddr.h); *out NULL when absent. */
static int sw_val_address(const json_t *b, const char **out, struct sw_err *err)
{
	const json_t *a = json_object_get(b, "address");

	*out = NULL;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_string(a) || json_string_length(a) >= SW_NETADDR_MAX ||
	    sw_netaddr_kind(json_string_value(a)) == SW_NETADDR_BAD)
		return sw_val_fail(err, "address",
				   "field 'address' must be an IPv4 address, an IPv6 address or a host name of A-Z a-z "
				   "0-9 . -");
	*out = json_string_value(a);
	return 0;
}

int sw_val_enroll(const json_t *b, struct sw_val_enroll *out, struct sw_err *err)
{
	json_t *ports, *p, *l;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!b)
		return sw_val_fail(err, "join_token", "missing field 'join_token'");
	if (sw_val_str(b, "join_token", 1, 1, 128, &out->join_token, err) < 0 ||
	    sw_val_name_field(b, "name", "host", &out->name, err) < 0)
		return -1;
	l = json_object_get(b, "labels");
	if (l && !json_is_null(l)) {
		if (sw_val_labels(l, "labels", err) < 0)
			return -1;
		out->labels = l;
	}
	ports = json_object_get(b, "ports");
	if (!ports)
		return sw_val_fail(err, "ports", "missing field 'ports'");
	if (!json_is_array(ports) || json_array_size(ports) != 2)
		return sw_val_fail(err, "ports", "field 'ports' must be an array of two ports [A, B]");
	json_array_foreach(ports, i, p)
	{
		if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 65535)
			return sw_val_fail(err, "ports", "field 'ports' must hold integers from 1 to 65535");
		out->ports[i] = (int)json_integer_value(p);
	}
	if (out->ports[0] == out->ports[1])
		return sw_val_fail(err, "ports", "field 'ports' must name two different ports");
	return sw_val_address(b, &out->address, err);
}

static int sw_val_state_ok(const char *s)
{
	static const char *const states[] = { "installing", "installed", "starting", "healthy", "unhealthy",
					      "stopped",    "failed",    "refused",  NULL };
	size_t i;

	for (i = 0; states[i]; i++)
		if (!strcmp(s, states[i]))
			return 1;
	return 0;
}

static int sw_val_service_entry(const json_t *e, size_t i, struct sw_err *err)
{
	char field[64];
	const char *s;
	json_t *v;

	snprintf(field, sizeof(field), "services[%zu]", i);
	if (!json_is_object(e))
		return sw_val_fail(err, field, "'%s' must be an object", field);
	snprintf(field, sizeof(field), "services[%zu].service", i);
	s = json_string_value(json_object_get(e, "service"));
	if (!s)
		return sw_val_fail(err, field, "missing or non-string field '%s'", field);
	if (!sw_val_name_ok(s))
		return sw_val_fail(err, field, "'%s' is not a valid service name", field);
	snprintf(field, sizeof(field), "services[%zu].slot", i);
	s = json_string_value(json_object_get(e, "slot"));
	if (!s || (strcmp(s, "a") && strcmp(s, "b")))
		return sw_val_fail(err, field, "field '%s' must be \"a\" or \"b\"", field);
	snprintf(field, sizeof(field), "services[%zu].digest", i);
	v = json_object_get(e, "digest");
	if (v && !json_is_null(v) &&
	    (!json_is_string(v) || (json_string_length(v) && !sw_is_sha256_hex(json_string_value(v)))))
		return sw_val_fail(err, field, "field '%s' must be 64 lowercase hex digits", field);
	snprintf(field, sizeof(field), "services[%zu].state", i);
	s = json_string_value(json_object_get(e, "state"));
	if (!s)
		return sw_val_fail(err, field, "missing or non-string field '%s'", field);
	if (!sw_val_state_ok(s))
		return sw_val_fail(err, field, "field '%s': unknown state '%.32s'", field, s);
	snprintf(field, sizeof(field), "services[%zu].port", i);
	v = json_object_get(e, "port");
	if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65535))
		return sw_val_fail(err, field, "field '%s' must be an integer from 0 to 65535", field);
	snprintf(field, sizeof(field), "services[%zu].pid", i);
	v = json_object_get(e, "pid");
	if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 0))
		return sw_val_fail(err, field, "field '%s' must be a non-negative integer", field);
	snprintf(field, sizeof(field), "services[%zu].message", i);
	v = json_object_get(e, "message");
	if (v && !json_is_null(v) && (!json_is_string(v) || json_string_length(v) > 4096))
		return sw_val_fail(err, field, "field '%s' must be a string of at most 4096 bytes", field);
	snprintf(field, sizeof(field), "services[%zu].verdict", i);
	v = json_object_get(e, "verdict");
	if (v && !json_is_null(v) &&
	    (!json_is_string(v) || (json_string_length(v) && strcmp(json_string_value(v), "unhealthy") &&
				    strcmp(json_string_value(v), "crashloop"))))
		return sw_val_fail(err, field, "field '%s' must be \"unhealthy\", \"crashloop\" or \"\"", field);
	snprintf(field, sizeof(field), "services[%zu].verdict_message", i);
	v = json_object_get(e, "verdict_message");
	if (v && !json_is_null(v) && (!json_is_string(v) || json_string_length(v) > 4096))
		return sw_val_fail(err, field, "field '%s' must be a string of at most 4096 bytes", field);
	snprintf(field, sizeof(field), "services[%zu].active", i);
	v = json_object_get(e, "active");
	if (v && !json_is_null(v) && !json_is_boolean(v))
		return sw_val_fail(err, field, "field '%s' must be true or false", field);
	return 0;
}

int sw_val_agent_status(const json_t *b, int64_t *generation, const char **address, struct sw_err *err)
{
	json_t *g, *services, *e, *d;
	size_t i;

	if (!b)
		return sw_val_fail(err, "generation", "missing field 'generation'");
	g = json_object_get(b, "generation");
	if (!g)
		return sw_val_fail(err, "generation", "missing field 'generation'");
	if (!json_is_integer(g) || json_integer_value(g) < 0)
		return sw_val_fail(err, "generation", "field 'generation' must be a non-negative integer");
	*generation = (int64_t)json_integer_value(g);
	services = json_object_get(b, "services");
	if (!services)
		return sw_val_fail(err, "services", "missing field 'services'");
	if (!json_is_array(services))
		return sw_val_fail(err, "services", "field 'services' must be an array");
	if (json_array_size(services) > SW_VAL_SERVICES_MAX)
		return sw_val_fail(err, "services", "field 'services' has more than %d entries", SW_VAL_SERVICES_MAX);
	json_array_foreach(services, i, e)
	{
		if (sw_val_service_entry(e, i, err) < 0)
			return -1;
	}
	d = json_object_get(b, "disk_free_bytes");
	if (d && !json_is_null(d) && (!json_is_integer(d) || json_integer_value(d) < 0))
		return sw_val_fail(err, "disk_free_bytes", "field 'disk_free_bytes' must be a non-negative integer");
	return sw_val_address(b, address, err);
}

int sw_val_host_labels(const json_t *b, const json_t **set, const json_t **remove, struct sw_err *err)
{
	static const char *const allowed[] = { "set", "remove", NULL };
	const json_t *s, *r, *k;
	size_t i;

	*set = *remove = NULL;
	if (!b)
		return sw_val_fail(err, "set", "give field 'set' (labels to set) or 'remove' (label names)");
	if (sw_val_only(b, allowed, err) < 0)
		return -1;
	s = json_object_get(b, "set");
	r = json_object_get(b, "remove");
	if (s && !json_is_null(s)) {
		if (sw_val_labels(s, "set", err) < 0)
			return -1;
		*set = s;
	}
	if (r && !json_is_null(r)) {
		if (!json_is_array(r) || json_array_size(r) > SW_VAL_LABELS_MAX)
			return sw_val_fail(err, "remove", "field 'remove' must be an array of at most %d label names",
					   SW_VAL_LABELS_MAX);
		json_array_foreach(r, i, k)
		{
			char field[32];

			snprintf(field, sizeof(field), "remove[%zu]", i);
			if (!json_is_string(k) || !sw_val_label_key_ok(json_string_value(k)))
				return sw_val_fail(err, field,
						   "'%s' must be a label name: 1 to 63 of A-Z a-z 0-9 . _ / -", field);
			if (*set && json_object_get(*set, json_string_value(k)))
				return sw_val_fail(err, field, "'%s': label '%s' is both set and removed", field,
						   json_string_value(k));
		}
		*remove = r;
	}
	if (json_object_size(*set) + json_array_size(*remove) == 0)
		return sw_val_fail(err, "set", "nothing to change: give labels in 'set' or names in 'remove'");
	return 0;
}

static int sw_val_service_env(const json_t *b, const char **service, const char **env, struct sw_err *err)
{
	if (!b)
		return sw_val_fail(err, "service", "missing field 'service'");
	if (sw_val_name_field(b, "service", "service", service, err) < 0 ||
	    sw_val_name_field(b, "env", "environment", env, err) < 0)
		return -1;
	return 0;
}

int sw_val_deploy(const json_t *b, const char **service, const char **env, const char **digest, struct sw_err *err)
{
	static const char *const allowed[] = { "service", "env", "digest", NULL };

	if (b && sw_val_only(b, allowed, err) < 0)
		return -1;
	if (sw_val_service_env(b, service, env, err) < 0 || sw_val_str(b, "digest", 1, 64, 64, digest, err) < 0)
		return -1;
	if (!sw_is_sha256_hex(*digest))
		return sw_val_fail(err, "digest", "field 'digest' must be 64 lowercase hex digits");
	return 0;
}

/* A release as a person names it: a version, a digest ("sha256:" optional) or a digest prefix. */
static int sw_val_release_ref(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
		      *s == '_' || *s == '+' || *s == '-' || *s == ':'))
			return 0;
	return 1;
}

int sw_val_rollback(const json_t *b, struct sw_val_rollback *out, struct sw_err *err)
{
	static const char *const allowed[] = { "service", "env", "emergency", "to", "reason", NULL };
	const json_t *v;

	memset(out, 0, sizeof(*out));
	if (b && sw_val_only(b, allowed, err) < 0)
		return -1;
	v = json_object_get(b, "emergency");
	if (v && !json_is_null(v) && !json_is_boolean(v))
		return sw_val_fail(err, "emergency", "field 'emergency' must be true or false");
	out->emergency = json_is_true(v);
	if (sw_val_str(b, "to", 0, 1, 128, &out->to, err) < 0 || sw_val_str(b, "reason", 0, 0, 512, &out->reason, err) < 0)
		return -1;
	if (out->to && !sw_val_release_ref(out->to))
		return sw_val_fail(err, "to", "field 'to': '%s' is not a version or a digest (A-Z a-z 0-9 . _ + - :)",
				   out->to);
	return sw_val_service_env(b, &out->service, &out->env, err);
}

int sw_val_verb(const json_t *b, const char **reason, bool *full, struct sw_err *err)
{
	static const char *const allowed[] = { "reason", "full", NULL };
	const json_t *v;

	*reason = NULL;
	*full = false;
	if (!b)
		return 0;
	if (sw_val_only(b, allowed, err) < 0 || sw_val_str(b, "reason", 0, 0, 512, reason, err) < 0)
		return -1;
	v = json_object_get(b, "full");
	if (v && !json_is_null(v) && !json_is_boolean(v))
		return sw_val_fail(err, "full", "field 'full' must be true or false");
	*full = json_is_true(v);
	return 0;
}

int sw_val_abort(const json_t *b, const char **reason, bool *emergency, struct sw_err *err)
{
	static const char *const allowed[] = { "reason", "emergency", NULL };
	const json_t *v;

	*reason = NULL;
	*emergency = false;
	if (!b)
		return 0;
	if (sw_val_only(b, allowed, err) < 0)
		return -1;
	v = json_object_get(b, "emergency");
	if (v && !json_is_null(v) && !json_is_boolean(v))
		return sw_val_fail(err, "emergency", "field 'emergency' must be true or false");
	*emergency = json_is_true(v);
	return sw_val_str(b, "reason", 0, 0, 512, reason, err);
}

int sw_val_logs_query(const struct sw_val_logs_args *in, struct sw_val_logs_query *q, struct sw_err *err)
{
	int64_t v;

	memset(q, 0, sizeof(*q));
	if (in->service && *in->service) {
		if (!sw_val_name_ok(in->service))
			return sw_val_fail(err, "service", "query argument 'service' must be a service name (1 to 63 of "
					   "A-Z a-z 0-9 . _ -, not starting with '.' or '-')");
		q->service = in->service;
	}
	if (in->slot && *in->slot) {
		if (strcmp(in->slot, "a") && strcmp(in->slot, "b"))
			return sw_val_fail(err, "slot", "query argument 'slot' must be \"a\" or \"b\"");
		q->slot = in->slot[0];
	}
	q->offset = -1;
	if (in->offset && *in->offset &&
	    sw_val_query_int(in->offset, "offset", 0, INT64_MAX, 0, &q->offset, err) < 0)
		return -1;
	if (sw_val_query_int(in->lines, "lines", 1, SW_VAL_LOG_LINES_MAX, SW_VAL_LOG_LINES_DEFAULT, &v, err) < 0)
		return -1;
	q->lines = (unsigned)v;
	if (sw_val_query_int(in->max_bytes, "max_bytes", 1, SW_VAL_LOG_BYTES_MAX, SW_VAL_LOG_BYTES_MAX, &v, err) < 0)
		return -1;
	q->max_bytes = (unsigned)v;
	if (sw_val_query_int(in->wait, "wait", 1, SW_VAL_LOG_WAIT_MAX_S, SW_VAL_LOG_WAIT_DEFAULT_S, &v, err) < 0)
		return -1;
	q->wait_s = (unsigned)v;
	return 0;
}

/* An integer field >= 0 of the agent's log answer, copied into out. */
static int sw_val_log_uint(const json_t *b, const json_t *out, const char *key, struct sw_err *err)
{
	const json_t *v = json_object_get(b, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return sw_val_fail(err, key, "field '%s' must be an integer >= 0", key);
	json_object_set_new((json_t *)out, key, json_integer(json_integer_value(v)));
	return 0;
}

int sw_val_agent_logs(const json_t *b, int64_t *id, json_t **answer, struct sw_err *err)
{
	static const char *const flags[] = { "restarted", "more" };
	const json_t *v, *e;
	size_t i;
	json_t *out;
	const char *s, *code;

	*answer = NULL;
	*id = 0;
	v = b ? json_object_get(b, "id") : NULL;
	if (!json_is_integer(v) || json_integer_value(v) < 1)
		return sw_val_fail(err, "id", "field 'id' must be an integer >= 1");
	*id = json_integer_value(v);
	e = json_object_get(b, "error");
	if (e && !json_is_null(e)) {
		code = json_string_value(json_object_get(e, "code"));
		s = json_string_value(json_object_get(e, "message"));
		if (!json_is_object(e) || !code ||
		    (strcmp(code, "not_found") && strcmp(code, "bad_request") && strcmp(code, "failed")))
			return sw_val_fail(err, "error.code", "field 'error.code' must be \"not_found\", \"bad_request\" "
					   "or \"failed\"");
		if (!s || json_string_length(json_object_get(e, "message")) > 1024 || !*s)
			return sw_val_fail(err, "error.message", "field 'error.message' must be a string of 1 to 1024 "
					   "bytes");
		*answer = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", s);
		return 0;
	}
	out = json_object();
	s = json_string_value(json_object_get(b, "service"));
	if (!s || !sw_val_name_ok(s)) {
		json_decref(out);
		return sw_val_fail(err, "service", "field 'service' must be a service name");
	}
	json_object_set_new(out, "service", json_string(s));
	s = json_string_value(json_object_get(b, "slot"));
	if (!s || (strcmp(s, "a") && strcmp(s, "b"))) {
		json_decref(out);
		return sw_val_fail(err, "slot", "field 'slot' must be \"a\" or \"b\"");
	}
	json_object_set_new(out, "slot", json_string(s));
	if (sw_val_log_uint(b, out, "offset", err) < 0 || sw_val_log_uint(b, out, "next_offset", err) < 0 ||
	    sw_val_log_uint(b, out, "size", err) < 0) {
		json_decref(out);
		return -1;
	}
	if (json_integer_value(json_object_get(out, "next_offset")) < json_integer_value(json_object_get(out, "offset"))) {
		json_decref(out);
		return sw_val_fail(err, "next_offset", "field 'next_offset' must not be below 'offset'");
	}
	v = json_object_get(b, "data");
	if (!json_is_string(v) || json_string_length(v) > SW_VAL_LOG_BYTES_MAX) {
		json_decref(out);
		return sw_val_fail(err, "data", "field 'data' must be a string of at most %d bytes", SW_VAL_LOG_BYTES_MAX);
	}
	json_object_set_new(out, "data", json_stringn(json_string_value(v), json_string_length(v)));
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		s = flags[i];
		v = json_object_get(b, s);
		if (v && !json_is_null(v) && !json_is_boolean(v)) {
			json_decref(out);
			return sw_val_fail(err, s, "field '%s' must be true or false", s);
		}
		json_object_set_new(out, s, json_boolean(json_is_true(v)));
	}
	*answer = out;
	return 0;
}
