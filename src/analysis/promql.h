/*
 * promql.h - Prometheus's instant-query answer, and {{canary}}/{{stable}}
 * placeholders in PromQL.
 *
 * sw_promql_parse() reads the body of GET /api/v1/query (Prometheus HTTP
 * API v1) with jansson. Accepted:
 *
 *   {"status": "success", "data": {"resultType": "vector",
 *     "result": [{"metric": {"instance": "...", ...}, "value": [<time>, "<number>"]}, ...]}}
 *   {"status": "success", "data": {"resultType": "scalar", "result": [<time>, "<number>"]}}
 *
 * A sample's number is a string as Prometheus writes it: a decimal float
 * ("0.475", "1e-05", "30"), or "NaN", "+Inf", "-Inf" (also "Inf"); anything
 * else, hex floats and strtod's "nan"/"infinity" included, is refused.
 * `warnings` and extra keys are ignored. Refused (SW_EIO, "bad answer ...",
 * or SW_EFAILED for Prometheus's own error):
 *
 *   not JSON, or more than SW_PROMQL_MAX_BYTES
 *   "status": "error"             -> SW_EFAILED "prometheus refused the query: <errorType>: <error>"
 *   resultType matrix or string   -> "the query gave a range vector (matrix) ..." (instant queries only)
 *   a sample that is not [number, "number"], metric not an object,
 *   more than SW_PROMQL_MAX_SAMPLES samples
 *
 * A scalar is one sample with metric "". An empty vector is n == 0 (the
 * caller calls that inconclusive). Samples keep the answer's order.
 *
 * sw_promql_expand() replaces {{canary}} and {{stable}} in a query with a
 * regular expression that matches exactly the given addresses
 * ("127.0.0.1:8101" -> 127\.0\.0\.1:8101, several joined with '|';
 * Prometheus anchors label regexes, so no ^...$ is needed), escaped for
 * where the placeholder stands: inside a "..." or '...' PromQL string a
 * backslash is written twice (PromQL strings take escapes), inside a `...`
 * raw string or outside strings once. An empty list, or an address with
 * bytes outside [A-Za-z0-9._:[]-], is SW_EINPUT.
 *
 * Calls jansson, base/. The caller owns the result (sw_promql_result_release).
 */
#ifndef SW_PROMQL_H
#define SW_PROMQL_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

#define SW_PROMQL_MAX_BYTES ((size_t)1 << 20) /* larger answers are refused */
#define SW_PROMQL_MAX_SAMPLES 1000
#define SW_PROMQL_METRIC_MAX 160              /* bytes of a sample's label text kept */

struct sw_promql_sample {
	double value;                       /* NaN and +-Inf possible */
	char metric[SW_PROMQL_METRIC_MAX];  /* `name{label="v",...}`, cut with "..."; "" for a scalar */
};

struct sw_promql_result {
	char type[8];                    /* "vector" or "scalar" */
	struct sw_promql_sample *samples; /* heap */
	size_t n;
};

int sw_promql_parse(const char *body, size_t len, struct sw_promql_result *out, struct sw_err *err);
void sw_promql_result_release(struct sw_promql_result *r);

/* A sample's number, strictly (see above); -1 if it is not one. */
int sw_promql_parse_number(const char *s, size_t len, double *out);

/* out gets query with the placeholders replaced (appended). */
int sw_promql_expand(const char *query, const char *const *canary, size_t ncanary, const char *const *stable,
		     size_t nstable, struct sw_buf *out, struct sw_err *err);

/* Is addr a plain instance address (see above), 1..255 bytes? */
int sw_promql_addr_ok(const char *addr);

#endif
