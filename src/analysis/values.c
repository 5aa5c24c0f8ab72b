/*
 * values.c - the named values of one measurement (see values.h).
 */
#include "analysis/values.h"
#include "base/buf.h"
#include "base/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sw_values_init(struct sw_values *vs, enum sw_provider provider)
{
	const char *const *names;
	size_t n, i;

	memset(vs, 0, sizeof(*vs));
	vs->provider = provider;
	names = sw_spec_provider_fields(provider, &n);
	SW_BUG_ON(n > SW_VALUES_MAX);
	for (i = 0; i < n; i++)
		vs->v[i].name = names[i];
	vs->n = n;
}

static void value_clear(struct sw_value *v)
{
	free(v->str);
	free(v->list);
	v->str = NULL;
	v->list = NULL;
	v->str_len = v->nlist = 0;
	v->why[0] = '\0';
}

void sw_values_release(struct sw_values *vs)
{
	size_t i;

	for (i = 0; i < vs->n; i++) {
		value_clear(&vs->v[i]);
		vs->v[i].kind = SW_VALUE_UNSET;
	}
}

struct sw_value *sw_values_find(struct sw_values *vs, const char *name)
{
	size_t i;

	for (i = 0; i < vs->n; i++)
		if (!strcmp(vs->v[i].name, name))
			return &vs->v[i];
	return NULL;
}

/* The slot of a name the provider must have, emptied. */
static struct sw_value *slot(struct sw_values *vs, const char *name, enum sw_value_kind kind)
{
	struct sw_value *v = sw_values_find(vs, name);

	if (!v)
		sw_die("BUG: the %s provider has no value '%s' (see sw_spec_provider_fields)",
		       sw_spec_provider_name(vs->provider), name);
	value_clear(v);
	v->kind = kind;
	return v;
}

void sw_values_set_number(struct sw_values *vs, const char *name, double x)
{
	slot(vs, name, SW_VALUE_NUMBER)->num = x;
}

void sw_values_set_integer(struct sw_values *vs, const char *name, int64_t x)
{
	slot(vs, name, SW_VALUE_INTEGER)->integer = x;
}

void sw_values_set_bool(struct sw_values *vs, const char *name, bool x)
{
	slot(vs, name, SW_VALUE_BOOL)->boolean = x;
}

void sw_values_set_string(struct sw_values *vs, const char *name, const char *s, size_t len)
{
	struct sw_value *v = slot(vs, name, SW_VALUE_STRING);

	v->str = sw_xstrndup(s, len);
	v->str_len = len;
}

void sw_values_set_list(struct sw_values *vs, const char *name, const double *x, size_t n)
{
	struct sw_value *v = slot(vs, name, SW_VALUE_LIST);

	if (n > SW_VALUES_LIST_MAX)
		n = SW_VALUES_LIST_MAX;
	v->list = sw_xmallocarray(n ? n : 1, sizeof(double));
	if (n)
		memcpy(v->list, x, n * sizeof(double));
	v->nlist = n;
}

static void set_absent_v(struct sw_value *v, enum sw_verdict verdict, const char *fmt, va_list ap)
{
	value_clear(v);
	v->kind = SW_VALUE_ABSENT;
	v->verdict = verdict;
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
}

void sw_values_set_absent(struct sw_values *vs, const char *name, enum sw_verdict verdict, const char *fmt, ...)
{
	struct sw_value *v = slot(vs, name, SW_VALUE_ABSENT);
	va_list ap;

	va_start(ap, fmt);
	set_absent_v(v, verdict, fmt, ap);
	va_end(ap);
}

void sw_values_absent_rest(struct sw_values *vs, enum sw_verdict verdict, const char *fmt, ...)
{
	size_t i;

	for (i = 0; i < vs->n; i++) {
		va_list ap;

		if (vs->v[i].kind != SW_VALUE_UNSET)
			continue;
		va_start(ap, fmt);
		set_absent_v(&vs->v[i], verdict, fmt, ap);
		va_end(ap);
	}
}

const char *sw_values_first_unset(const struct sw_values *vs)
{
	size_t i;

	for (i = 0; i < vs->n; i++)
		if (vs->v[i].kind == SW_VALUE_UNSET)
			return vs->v[i].name;
	return NULL;
}

void sw_values_clear_read(struct sw_values *vs)
{
	size_t i;

	for (i = 0; i < vs->n; i++)
		vs->v[i].read = false;
}

json_t *sw_values_number_json(double x)
{
	if (isnan(x))
		return json_string("NaN");
	if (isinf(x))
		return json_string(x > 0 ? "+Inf" : "-Inf");
	return json_real(x);
}

static json_t *value_json(const struct sw_value *v)
{
	json_t *arr;
	size_t i;

	switch (v->kind) {
	case SW_VALUE_NUMBER:
		return sw_values_number_json(v->num);
	case SW_VALUE_INTEGER:
		return json_integer(v->integer);
	case SW_VALUE_BOOL:
		return json_boolean(v->boolean);
	case SW_VALUE_STRING:
		arr = json_stringn(v->str, v->str_len);
		return arr ? arr : json_string("(not UTF-8)");
	case SW_VALUE_LIST:
		arr = json_array();
		for (i = 0; i < v->nlist; i++)
			json_array_append_new(arr, sw_values_number_json(v->list[i]));
		return arr;
	default:
		return json_null();
	}
}

json_t *sw_values_json(const struct sw_values *vs)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < vs->n; i++)
		json_object_set_new(o, vs->v[i].name, value_json(&vs->v[i]));
	return o;
}

static const char *number_str(double x, char *out, size_t size)
{
	if (isnan(x))
		snprintf(out, size, "NaN");
	else if (isinf(x))
		snprintf(out, size, "%s", x > 0 ? "+Inf" : "-Inf");
	else
		snprintf(out, size, "%.6g", x);
	return out;
}

const char *sw_values_format(const struct sw_value *v, char *out, size_t size)
{
	size_t i, n;

	if (!size)
		return out;
	switch (v->kind) {
	case SW_VALUE_NUMBER:
		return number_str(v->num, out, size);
	case SW_VALUE_INTEGER:
		snprintf(out, size, "%lld", (long long)v->integer);
		return out;
	case SW_VALUE_BOOL:
		snprintf(out, size, "%s", v->boolean ? "true" : "false");
		return out;
	case SW_VALUE_STRING:
		n = v->str_len > 40 ? 40 : v->str_len;
		snprintf(out, size, "'%.*s%s'", (int)n, v->str, v->str_len > n ? "..." : "");
		for (i = 1; out[i] && i + 1 < size; i++)
			if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
				out[i] = '?';
		return out;
	case SW_VALUE_LIST:
		if (v->nlist == 1) {
			char num[32];

			snprintf(out, size, "{%s}", number_str(v->list[0], num, sizeof(num)));
		} else {
			snprintf(out, size, "{%zu values}", v->nlist);
		}
		return out;
	default:
		snprintf(out, size, "no value");
		return out;
	}
}
