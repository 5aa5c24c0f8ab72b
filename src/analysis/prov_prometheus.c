/*
 * prov_prometheus.c - PromQL over Prometheus's HTTP API (see prov_prometheus.h).
 */
#include "analysis/prov_prometheus.h"
#include "analysis/promql.h"
#include "base/httpc.h"
#include "base/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sw_prov_prometheus_url(const char *address, const char *query, struct sw_buf *out, struct sw_err *err)
{
	size_t n = strlen(address);
	const unsigned char *p;

	if (strncmp(address, "http://", 7) && strncmp(address, "https://", 8))
		return sw_err_set(err, SW_EINPUT, "prometheus address '%.80s' is not an http:// or https:// URL", address);
	while (n > 0 && address[n - 1] == '/')
		n--;
	sw_buf_append(out, address, n);
	sw_buf_puts(out, "/api/v1/query?query=");
	for (p = (const unsigned char *)query; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			sw_buf_putc(out, (char)*p);
		else
			sw_buf_printf(out, "%%%02X", *p);
	}
	if (sw_buf_failed(out))
		return sw_err_set(err, SW_EINPUT, "prometheus query URL too long");
	return 0;
}

/* httpc's message names the whole query URL; name the server instead. */
static int transport_error(const char *address, uint64_t timeout_ms, struct sw_err *err)
{
	const char *m = strstr(err->msg, "': ");

	if (err->code == SW_ETIMEOUT)
		return sw_err_set(err, SW_ETIMEOUT, "prometheus at '%s' did not answer within %llu ms", address,
				  (unsigned long long)timeout_ms);
	if (strstr(err->msg, "is larger than"))
		return sw_err_set(err, SW_EIO, "prometheus at '%s' answered more than %zu bytes", address,
				  SW_PROVIDER_BODY_MAX);
	return sw_err_set(err, SW_EIO, "cannot reach prometheus at '%s': %s", address, m ? m + 3 : err->msg);
}

int sw_prov_prometheus_measure(struct sw_provider_run *run, struct sw_err *err)
{
	const struct sw_spec_analysis *a = run->a;
	const struct sw_analysis_target *t = run->t;
	struct sw_buf q = SW_BUF_INIT(64 * 1024), url = SW_BUF_INIT(256 * 1024), body = SW_BUF_INIT(SW_PROVIDER_BODY_MAX);
	struct sw_promql_result res = { .n = 0 };
	struct sw_httpc_req req = { .method = "GET" };
	double *vals = NULL;
	long status = 0;
	size_t i;
	int rc = -1;

	if (sw_promql_expand(a->query, t->canary_addrs, t->ncanary_addrs, t->stable_addrs, t->nstable_addrs, &q, err) < 0 ||
	    sw_prov_prometheus_url(a->address, sw_buf_str(&q), &url, err) < 0)
		goto out;
	req.url = sw_buf_str(&url);
	req.timeout_ms = run->timeout_ms;
	if (sw_httpc_do(&req, &status, &body, err) < 0) {
		transport_error(a->address, run->timeout_ms, err);
		goto out;
	}
	if (sw_promql_parse(sw_buf_str(&body), body.len, &res, err) < 0) {
		if (status != 200)
			sw_err_prefix(err, "prometheus at '%s' answered HTTP %ld", a->address, status);
		else
			sw_err_prefix(err, "prometheus at '%s'", a->address);
		goto out;
	}
	if (status != 200) {
		sw_err_set(err, SW_EIO, "prometheus at '%s' answered HTTP %ld", a->address, status);
		goto out;
	}
	if (res.n == 0) {
		sw_values_set_absent(&run->vals, "result", SW_VERDICT_INCONCLUSIVE,
				     "the query gave no samples (an empty vector: no series matched)");
		sw_values_set_absent(&run->vals, "results", SW_VERDICT_INCONCLUSIVE,
				     "the query gave no samples (an empty vector: no series matched)");
		rc = 0;
		goto out;
	}
	vals = sw_xmallocarray(res.n, sizeof(*vals));
	for (i = 0; i < res.n; i++)
		vals[i] = res.samples[i].value;
	sw_values_set_list(&run->vals, "results", vals, res.n);
	if (isnan(vals[0]))
		sw_values_set_absent(&run->vals, "result", SW_VERDICT_INCONCLUSIVE,
				     "the query gave NaN%s%s (nothing to compute it from, e.g. no requests in its range)",
				     res.samples[0].metric[0] ? " for " : "", res.samples[0].metric);
	else
		sw_values_set_number(&run->vals, "result", vals[0]);
	rc = 0;
out:
	free(vals);
	sw_promql_result_release(&res);
	sw_buf_release(&body);
	sw_buf_release(&url);
	sw_buf_release(&q);
	return rc;
}
