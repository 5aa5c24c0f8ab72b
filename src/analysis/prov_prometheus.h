/*
 * prov_prometheus.h - the prometheus provider: one instant PromQL query.
 *
 * GET <address>/api/v1/query?query=<query, percent-encoded> with
 * {{canary}} / {{stable}} replaced by regexes of the instance addresses
 * (sw_promql_expand()), answer at most SW_PROVIDER_BODY_MAX bytes within
 * the measurement's timeout, parsed by sw_promql_parse():
 *
 *   value     type             meaning
 *   result    number           the first sample's value (a scalar's value)
 *   results   list of numbers  every sample's value, in the answer's order
 *
 * ABSENT (inconclusive): an empty vector (no series matched: both), a
 * first sample that is NaN (result; histogram_quantile over no requests
 * gives NaN). +Inf and -Inf are values (a quantile in the +Inf bucket is
 * very slow, not unknown).
 *
 * Provider failures (measurement error): cannot connect, timeout, answer
 * too large, HTTP status other than 200 (Prometheus's own error text is
 * quoted), anything sw_promql_parse() refuses (garbage, a matrix, ...).
 *
 * Allocates nothing the caller must free. Calls base/httpc, analysis/promql, analysis/values, base/.
 */
#ifndef SW_PROV_PROMETHEUS_H
#define SW_PROV_PROMETHEUS_H

#include "analysis/provider.h"

int sw_prov_prometheus_measure(struct sw_provider_run *run, struct sw_err *err);

/* The query URL for a (placeholders replaced) PromQL text, appended to out. */
int sw_prov_prometheus_url(const char *address, const char *query, struct sw_buf *out, struct sw_err *err);

#endif
