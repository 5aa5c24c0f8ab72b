/*
 * prov_haproxy.c - rates from HAProxy's cumulative per-server counters
 * (see prov_haproxy.h).
 */
#include "analysis/prov_haproxy.h"
#include "base/arena.h"
#include "base/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_RATE_MAX 200

/* Why the interval's rates cannot be computed: "" when they can. */
struct interval {
	double seconds;
	const json_t *prev_servers;
	char no_rate[NO_RATE_MAX];
};

static void set_prefixed_absent(struct sw_values *vs, const char *prefix, const char *name, const char *why)
{
	char key[48];

	snprintf(key, sizeof(key), "%s%s", prefix, name);
	sw_values_set_absent(vs, key, SW_VERDICT_INCONCLUSIVE, "%s", why);
}

static void set_prefixed_integer(struct sw_values *vs, const char *prefix, const char *name, int64_t v)
{
	char key[48];

	snprintf(key, sizeof(key), "%s%s", prefix, name);
	sw_values_set_integer(vs, key, v);
}

static void set_prefixed_number(struct sw_values *vs, const char *prefix, const char *name, double v)
{
	char key[48];

	snprintf(key, sizeof(key), "%s%s", prefix, name);
	sw_values_set_number(vs, key, v);
}

static int64_t prev_counter(const json_t *srv, const char *name)
{
	const json_t *v = json_object_get(srv, name);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* The five values of one group of servers (prefix "" canary, "stable_"). */
static void group_values(struct sw_values *vs, const char *prefix, const char *what, const char *const *names,
			 size_t n, const struct sw_traffic_stats *st, size_t nst, const struct interval *iv)
{
	char no_rate[NO_RATE_MAX], why[NO_RATE_MAX + 64];
	int64_t dreq = 0, derr = 0, stot = 0;
	double rt_sum = 0, rt_weight = 0, rt_sum_all = 0, rt_weight_all = 0;
	size_t i;

	if (n == 0) {
		snprintf(why, sizeof(why), "there are no %s servers", what);
		set_prefixed_absent(vs, prefix, "requests", why);
		set_prefixed_absent(vs, prefix, "request_rate", why);
		set_prefixed_absent(vs, prefix, "errors", why);
		set_prefixed_absent(vs, prefix, "error_rate", why);
		set_prefixed_absent(vs, prefix, "response_ms", why);
		return;
	}
	sw_strlcpy(no_rate, iv->no_rate, sizeof(no_rate));
	for (i = 0; i < n; i++) {
		const struct sw_traffic_stats *s = sw_traffic_find_stats(st, nst, names[i]);
		const json_t *p = iv->prev_servers ? json_object_get(iv->prev_servers, names[i]) : NULL;
		int64_t pstot = prev_counter(p, "stot"), p5xx = prev_counter(p, "hrsp_5xx");

		stot += s->stot;
		if (s->rtime >= 0) {
			rt_sum_all += (double)s->rtime * (double)s->stot;
			rt_weight_all += (double)s->stot;
		}
		if (no_rate[0])
			continue;
		if (!p || pstot < 0 || p5xx < 0) {
			snprintf(no_rate, sizeof(no_rate), "no previous counters for server '%s'", names[i]);
			continue;
		}
		if (s->stot < pstot || s->hrsp_5xx < p5xx) {
			snprintf(no_rate, sizeof(no_rate),
				 "the counters of server '%s' went back since the previous measurement (haproxy restarted or cleared them)",
				 names[i]);
			continue;
		}
		dreq += s->stot - pstot;
		derr += s->hrsp_5xx - p5xx;
		if (s->rtime >= 0) {
			rt_sum += (double)s->rtime * (double)(s->stot - pstot);
			rt_weight += (double)(s->stot - pstot);
		}
	}
	if (no_rate[0]) {
		set_prefixed_absent(vs, prefix, "requests", no_rate);
		set_prefixed_absent(vs, prefix, "request_rate", no_rate);
		set_prefixed_absent(vs, prefix, "errors", no_rate);
		set_prefixed_absent(vs, prefix, "error_rate", no_rate);
		if (rt_weight_all > 0) {
			set_prefixed_number(vs, prefix, "response_ms", rt_sum_all / rt_weight_all);
		} else {
			snprintf(why, sizeof(why), "no request has reached the %s servers yet", what);
			set_prefixed_absent(vs, prefix, "response_ms", stot > 0 ? "haproxy reports no response times" : why);
		}
		return;
	}
	set_prefixed_integer(vs, prefix, "requests", dreq);
	set_prefixed_integer(vs, prefix, "errors", derr);
	set_prefixed_number(vs, prefix, "request_rate", (double)dreq / iv->seconds);
	if (dreq == 0) {
		snprintf(why, sizeof(why), "no request reached the %s servers in the last %.1fs", what, iv->seconds);
		set_prefixed_absent(vs, prefix, "error_rate", why);
		set_prefixed_absent(vs, prefix, "response_ms", why);
		return;
	}
	set_prefixed_number(vs, prefix, "error_rate", (double)derr / (double)dreq);
	if (rt_weight > 0)
		set_prefixed_number(vs, prefix, "response_ms", rt_sum / rt_weight);
	else
		set_prefixed_absent(vs, prefix, "response_ms", "haproxy reports no response times");
}

/* Every named server must be in the answer, with HTTP counters. */
static int check_servers(const char *backend, const char *const *names, size_t n, const struct sw_traffic_stats *st,
			 size_t nst, json_t *raw_servers, struct sw_err *err)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct sw_traffic_stats *s = sw_traffic_find_stats(st, nst, names[i]);

		if (!s)
			return sw_err_set(err, SW_EFAILED, "server '%s' is not in haproxy backend '%s'", names[i], backend);
		if (s->stot < 0 || s->hrsp_5xx < 0)
			return sw_err_set(err, SW_EFAILED,
					  "haproxy reports no HTTP counters for server '%s' (is backend '%s' in mode http?)",
					  names[i], backend);
		json_object_set_new(raw_servers, names[i],
				    json_pack("{s:I,s:I,s:I}", "stot", (json_int_t)s->stot, "hrsp_5xx",
					      (json_int_t)s->hrsp_5xx, "rtime", (json_int_t)s->rtime));
	}
	return 0;
}

/* The interval since prev, or why there is none. */
static void find_interval(const json_t *prev, uint64_t mono, int64_t wall, struct interval *iv)
{
	const json_t *pm = json_object_get(prev, "mono_ms"), *pw = json_object_get(prev, "wall_ms");
	int64_t dm, dw, dt;

	memset(iv, 0, sizeof(*iv));
	if (!prev) {
		sw_strlcpy(iv->no_rate, "first measurement: rates need the counters of a previous one", sizeof(iv->no_rate));
		return;
	}
	iv->prev_servers = json_object_get(prev, "servers");
	if (!json_is_integer(pm) || !json_is_integer(pw) || !json_is_object(iv->prev_servers)) {
		iv->prev_servers = NULL;
		sw_strlcpy(iv->no_rate, "the previous measurement has no haproxy counters", sizeof(iv->no_rate));
		return;
	}
	dm = (int64_t)mono - (int64_t)json_integer_value(pm);
	dw = wall - (int64_t)json_integer_value(pw);
	dt = dm > 0 && llabs(dm - dw) <= 2000 ? dm : dw;
	if (dt <= 0) {
		sw_strlcpy(iv->no_rate, "no time passed since the previous measurement", sizeof(iv->no_rate));
		return;
	}
	iv->seconds = (double)dt / 1000.0;
}

int sw_prov_haproxy_measure(struct sw_provider_run *run, struct sw_err *err)
{
	const struct sw_analysis_target *t = run->t;
	struct sw_traffic_stats *st = NULL;
	struct interval iv;
	struct sw_arena a;
	json_t *raw_servers = json_object();
	uint64_t mono;
	int64_t wall;
	size_t nst = 0;
	int rc = -1;

	sw_arena_init(&a);
	if (sw_traffic_stats(t->traffic, t->backend, &a, &st, &nst, err) < 0)
		goto out;
	mono = sw_clock_mono_ms();
	wall = sw_clock_wall_ms();
	if (check_servers(t->backend, t->canary_servers, t->ncanary_servers, st, nst, raw_servers, err) < 0 ||
	    check_servers(t->backend, t->stable_servers, t->nstable_servers, st, nst, raw_servers, err) < 0)
		goto out;
	find_interval(run->prev, mono, wall, &iv);
	group_values(&run->vals, "", "canary", t->canary_servers, t->ncanary_servers, st, nst, &iv);
	group_values(&run->vals, "stable_", "stable", t->stable_servers, t->nstable_servers, st, nst, &iv);
	run->raw = json_pack("{s:I,s:I,s:O}", "mono_ms", (json_int_t)mono, "wall_ms", (json_int_t)wall, "servers",
			     raw_servers);
	rc = 0;
out:
	json_decref(raw_servers);
	sw_arena_release(&a);
	return rc;
}
