/*
 * plan.c - host selection and batch planning (see plan.h).
 * Calls jansson, base/. Returned json_t values are new references.
 */
#include "rollout/plan.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/num.h"

#include <stdlib.h>
#include <string.h>

int sw_plan_amount(const json_t *amount, size_t n, enum sw_plan_round round, const char *what, size_t *out,
		   struct sw_err *err)
{
	const char *s;
	unsigned pct;
	size_t len, v;

	if (json_is_integer(amount) && json_integer_value(amount) >= 0) {
		*out = (size_t)json_integer_value(amount);
		return 0;
	}
	s = json_string_value(amount);
	len = s ? strlen(s) : 0;
	if (!s || sw_parse_percent(s, len, &pct) < 0)
		return sw_err_set(err, SW_EINPUT, "%s: expected a count or a percentage", what);
	v = n * pct;
	if (round == SW_PLAN_ROUND_UP)
		v = (v + 99) / 100;
	else
		v /= 100;
	*out = v;
	return 0;
}

bool sw_plan_labels_match(const json_t *labels, const json_t *selector)
{
	const char *key, *want, *have;
	json_t *v;

	if (!json_is_object(selector))
		return false;
	json_object_foreach((json_t *)selector, key, v) {
		want = json_string_value(v);
		have = sw_json_str(labels, key);
		if (!want || !have || strcmp(want, have))
			return false;
	}
	return true;
}

char *sw_plan_selector_text(const json_t *selector)
{
	struct sw_buf b = SW_BUF_INIT(65536);
	const char *key;
	json_t *v;

	sw_buf_puts(&b, "");
	json_object_foreach((json_t *)selector, key, v) {
		if (b.len)
			sw_buf_putc(&b, ',');
		sw_buf_printf(&b, "%s=%s", key, json_string_value(v) ? json_string_value(v) : "");
	}
	return sw_buf_detach(&b, NULL);
}

static int sw_plan_by_name(const void *a, const void *b)
{
	const char *x = sw_json_str(*(json_t *const *)a, "name"), *y = sw_json_str(*(json_t *const *)b, "name");

	return strcmp(x ? x : "", y ? y : "");
}

json_t *sw_plan_select(const json_t *host_list, const json_t *selector)
{
	json_t **v, *h, *out = json_array();
	size_t i, n = 0;

	v = sw_xcalloc(json_array_size(host_list) + 1, sizeof(*v));
	json_array_foreach(host_list, i, h) {
		if (json_is_true(json_object_get(h, "revoked")) || !sw_json_str(h, "id") || !sw_json_str(h, "name"))
			continue;
		if (sw_plan_labels_match(json_object_get(h, "labels"), selector))
			v[n++] = h;
	}
	qsort(v, n, sizeof(*v), sw_plan_by_name);
	for (i = 0; i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	return out;
}

int sw_plan_limits(const json_t *rolling, size_t n, struct sw_plan_limits *out, struct sw_err *err)
{
	json_t *one = json_integer(1), *zero = json_integer(0);
	const json_t *b = json_object_get(rolling, "batch"), *mu = json_object_get(rolling, "max_unavailable"),
		     *mh = json_object_get(rolling, "min_healthy");
	size_t size;
	int rc;

	memset(out, 0, sizeof(*out));
	out->hosts = n;
	rc = sw_plan_amount(b ? b : one, n, SW_PLAN_ROUND_UP, "batch", &out->batch, err) < 0 ||
	     sw_plan_amount(mu ? mu : one, n, SW_PLAN_ROUND_DOWN, "max_unavailable", &out->max_unavailable, err) < 0 ||
	     sw_plan_amount(mh ? mh : zero, n, SW_PLAN_ROUND_UP, "min_healthy", &out->min_healthy, err) < 0;
	json_decref(one);
	json_decref(zero);
	if (rc)
		return -1;
	if (out->batch < 1)
		out->batch = 1;
	/* A non-zero percentage of a few hosts still lets one host go at a time. */
	if (out->max_unavailable == 0 && json_is_string(mu) && strcmp(json_string_value(mu), "0%"))
		out->max_unavailable = 1;
	if (out->max_unavailable == 0)
		return sw_err_set(err, SW_EINPUT,
				  "max_unavailable is 0: a rolling deployment replaces each host's release in place, so "
				  "at least one host must be allowed to be unavailable");
	if (out->min_healthy >= n)
		return sw_err_set(err, SW_EINPUT,
				  "min_healthy %zu leaves no host to update among the %zu hosts of the environment",
				  out->min_healthy, n);
	size = out->batch;
	if (size > out->max_unavailable)
		size = out->max_unavailable;
	if (size > n - out->min_healthy)
		size = n - out->min_healthy;
	out->size = size;
	return 0;
}

const char *sw_plan_address(const json_t *host)
{
	const char *a = sw_json_str(json_object_get(host, "labels"), "address");

	if (a && *a)
		return a;
	a = sw_json_str(host, "address");
	return a && *a ? a : sw_json_str(host, "name");
}

/*
 * Rings: the ring of each host (its label value), one batch per ring of
 * rings.order that has hosts, in that order; *names gets those rings'
 * names. A host whose value is not in the order (or that has no such
 * label) is refused, every one of them named.
 */
static json_t *sw_plan_rings(const json_t *env, const json_t *hosts, json_t **names, struct sw_err *err)
{
	const json_t *rings = json_object_get(env, "rings"), *order = json_object_get(rings, "order"), *h, *o;
	const char *label = sw_json_str(rings, "label") ? sw_json_str(rings, "label") : "ring", *v;
	struct sw_buf bad = SW_BUF_INIT(65536), known = SW_BUF_INIT(65536);
	json_t *batches = json_array(), *batch;
	size_t i, j, nbad = 0;

	*names = json_array();
	json_array_foreach(order, j, o)
		sw_buf_printf(&known, "%s%s", j ? ", " : "", json_string_value(o) ? json_string_value(o) : "");
	json_array_foreach(hosts, i, h) {
		v = sw_json_str(json_object_get(h, "labels"), label);
		json_array_foreach(order, j, o)
			if (v && json_string_value(o) && !strcmp(v, json_string_value(o)))
				break;
		if (j < json_array_size(order))
			continue;
		if (v)
			sw_buf_printf(&bad, "%s'%s' (%s=%s)", nbad ? ", " : "", sw_json_str(h, "name"), label, v);
		else
			sw_buf_printf(&bad, "%s'%s' (no label '%s')", nbad ? ", " : "", sw_json_str(h, "name"), label);
		nbad++;
	}
	if (nbad || json_array_size(order) == 0) {
		if (nbad)
			sw_err_set(err, SW_EINPUT, "environment '%s': host%s %s not in any ring of rings.order [%s]",
				   sw_json_str(env, "name") ? sw_json_str(env, "name") : "", nbad == 1 ? "" : "s",
				   sw_buf_str(&bad), sw_buf_str(&known));
		else
			sw_err_set(err, SW_EINPUT, "environment '%s': rings.order is empty",
				   sw_json_str(env, "name") ? sw_json_str(env, "name") : "");
		sw_buf_release(&bad);
		sw_buf_release(&known);
		json_decref(batches);
		json_decref(*names);
		*names = NULL;
		return NULL;
	}
	sw_buf_release(&bad);
	sw_buf_release(&known);
	json_array_foreach(order, j, o) {
		batch = json_array();
		json_array_foreach(hosts, i, h) {
			v = sw_json_str(json_object_get(h, "labels"), label);
			if (v && !strcmp(v, json_string_value(o)))
				json_array_append_new(batch, json_integer((json_int_t)i));
		}
		if (json_array_size(batch) == 0) {
			json_decref(batch); /* a ring without hosts here: nothing to do for it */
			continue;
		}
		json_array_append_new(batches, batch);
		json_array_append(*names, (json_t *)o);
	}
	return batches;
}

json_t *sw_plan_build(const json_t *env, const json_t *hosts, struct sw_err *err)
{
	const char *strategy = sw_json_str(env, "strategy");
	struct sw_plan_limits lim;
	json_t *plan, *batches, *batch = NULL, *phosts, *h, *ports, *rings = NULL, *ring_names = NULL;
	size_t i, n = json_array_size(hosts);
	bool bg;

	if (!strategy || (strcmp(strategy, "rolling") && strcmp(strategy, "blue_green") && strcmp(strategy, "canary") &&
			  strcmp(strategy, "rings"))) {
		sw_err_set(err, SW_EINPUT, "environment '%s' uses the %s strategy, which this server cannot run yet",
			   sw_json_str(env, "name") ? sw_json_str(env, "name") : "", strategy ? strategy : "unknown");
		return NULL;
	}
	if (n == 0) {
		sw_err_set(err, SW_EINPUT, "no hosts to plan for");
		return NULL;
	}
	/* Blue/green and canary: every host in one batch (each keeps serving from its other slot). */
	bg = !strcmp(strategy, "blue_green") || !strcmp(strategy, "canary");
	if (!strcmp(strategy, "rings")) {
		/* Rings: one batch per ring, all of its hosts at once; the limits do not hold them back. */
		if (!(rings = sw_plan_rings(env, hosts, &ring_names, err)))
			return NULL;
		memset(&lim, 0, sizeof(lim));
		lim.hosts = lim.batch = lim.max_unavailable = lim.size = n;
	} else if (bg) {
		memset(&lim, 0, sizeof(lim));
		lim.hosts = lim.batch = lim.max_unavailable = lim.size = n;
	} else if (sw_plan_limits(json_object_get(env, "rolling"), n, &lim, err) < 0) {
		sw_err_prefix(err, "environment '%s'", sw_json_str(env, "name") ? sw_json_str(env, "name") : "");
		return NULL;
	}
	phosts = json_array();
	batches = json_array();
	json_array_foreach(hosts, i, h) {
		ports = json_object_get(h, "ports");
		json_array_append_new(
			phosts,
			json_pack("{s:s, s:s, s:s, s:O, s:n, s:i, s:s, s:b, s:I, s:[], s:n, s:s, s:I}", "id",
				  sw_json_str(h, "id"), "name", sw_json_str(h, "name"), "address", sw_plan_address(h),
				  "ports", ports ? ports : json_null(), "slot", "port", 0, "phase", "waiting", "touched",
				  0, "gen", (json_int_t)0, "before", "old_slot", "message", "", "since_ms", (json_int_t)0));
		if (rings)
			continue;
		if (i % lim.size == 0) {
			batch = json_array();
			json_array_append_new(batches, batch);
		}
		json_array_append_new(batch, json_integer((json_int_t)i));
	}
	plan = json_pack("{s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I}, s:o, s:i, s:I, s:o}", "strategy", strategy,
			 "phase", "rollout", "step", "waiting to start", "limits", "batch", (json_int_t)lim.batch,
			 "max_unavailable", (json_int_t)lim.max_unavailable, "min_healthy",
			 (json_int_t)lim.min_healthy, "size", (json_int_t)lim.size, "batches", batches, "batch", 0,
			 "batch_started_ms", (json_int_t)0, "hosts", phosts);
	if (rings) {
		json_object_set_new(plan, "batches", rings);
		json_object_set_new(plan, "rings", ring_names); /* the empty batches went with the old value */
	}
	return plan;
}
