/*
 * metrics.c - request counters and the latency histogram of hello, and their
 * Prometheus text exposition (see metrics.h).
 *
 * Counters are C11 atomics updated with relaxed ordering: each value is exact,
 * a scrape that races with requests may see one counter a step ahead of
 * another. The histogram's _count is computed from the same bucket reads as
 * its buckets, so the exposition is always internally consistent
 * (le="+Inf" == _count).
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CODE_MIN 100u
#define CODE_MAX 599u

/* Upper bounds of the finite buckets, in microseconds and as printed. */
static const uint64_t bucket_us[] = { 5000, 10000, 25000, 50000, 100000,
				      250000, 500000, 1000000, 2500000 };
static const char *const bucket_le[] = { "0.005", "0.01", "0.025", "0.05", "0.1",
					 "0.25", "0.5", "1", "2.5" };
#define NBUCKETS (sizeof bucket_us / sizeof bucket_us[0])

static atomic_uint_fast64_t by_code[CODE_MAX - CODE_MIN + 1];
static atomic_uint_fast64_t buckets[NBUCKETS + 1]; /* last: above 2.5 s */
static atomic_uint_fast64_t sum_us;

void hello_metrics_observe(unsigned code, uint64_t duration_us)
{
	size_t i = 0;

	if (code >= CODE_MIN && code <= CODE_MAX)
		atomic_fetch_add_explicit(&by_code[code - CODE_MIN], 1, memory_order_relaxed);
	while (i < NBUCKETS && duration_us > bucket_us[i])
		i++;
	atomic_fetch_add_explicit(&buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&sum_us, duration_us, memory_order_relaxed);
}

uint64_t hello_metrics_total(void)
{
	uint64_t n = 0;

	for (size_t i = 0; i <= NBUCKETS; i++)
		n += atomic_load_explicit(&buckets[i], memory_order_relaxed);
	return n;
}

/* A growable string; `failed` is sticky and checked once at the end. */
struct out {
	char *p;
	size_t len, cap;
	bool failed;
};

static void out_printf(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		size_t room = o->cap - o->len;

		va_start(ap, fmt);
		n = vsnprintf(o->p ? o->p + o->len : NULL, o->p ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if (o->p && (size_t)n < room) {
			o->len += (size_t)n;
			return;
		}
		size_t want = o->len + (size_t)n + 1;
		size_t cap = o->cap ? o->cap : 1024;
		while (cap < want)
			cap *= 2;
		char *np = realloc(o->p, cap);
		if (!np) {
			o->failed = true;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
}

char *hello_metrics_render(const char *version, uint64_t in_flight, size_t *len)
{
	struct out o = { 0 };
	uint64_t cum = 0;

	out_printf(&o, "# HELP hello_requests_total Requests answered, by HTTP status code "
		       "(health checks and scrapes excluded).\n"
		       "# TYPE hello_requests_total counter\n");
	for (unsigned c = CODE_MIN; c <= CODE_MAX; c++) {
		uint64_t v = atomic_load_explicit(&by_code[c - CODE_MIN], memory_order_relaxed);
		if (v)
			out_printf(&o, "hello_requests_total{code=\"%u\"} %" PRIu64 "\n", c, v);
	}
	out_printf(&o, "# HELP hello_request_duration_seconds Time from the request headers to "
		       "the response being ready.\n"
		       "# TYPE hello_request_duration_seconds histogram\n");
	for (size_t i = 0; i < NBUCKETS; i++) {
		cum += atomic_load_explicit(&buckets[i], memory_order_relaxed);
		out_printf(&o, "hello_request_duration_seconds_bucket{le=\"%s\"} %" PRIu64 "\n",
			   bucket_le[i], cum);
	}
	cum += atomic_load_explicit(&buckets[NBUCKETS], memory_order_relaxed);
	uint64_t s = atomic_load_explicit(&sum_us, memory_order_relaxed);
	out_printf(&o, "hello_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
		       "hello_request_duration_seconds_sum %" PRIu64 ".%06" PRIu64 "\n"
		       "hello_request_duration_seconds_count %" PRIu64 "\n",
		   cum, s / 1000000u, s % 1000000u, cum);
	out_printf(&o, "# HELP hello_in_flight_requests Requests being answered now.\n"
		       "# TYPE hello_in_flight_requests gauge\n"
		       "hello_in_flight_requests %" PRIu64 "\n"
		       "# HELP hello_up 1 while the service runs.\n"
		       "# TYPE hello_up gauge\n"
		       "hello_up 1\n"
		       "# HELP hello_version_info The running version.\n"
		       "# TYPE hello_version_info gauge\n"
		       "hello_version_info{version=\"%s\"} 1\n",
		   in_flight, version);
	if (o.failed) {
		free(o.p);
		return NULL;
	}
	*len = o.len;
	return o.p;
}
