/*
 * prov_http.c - an HTTP probe: status, latency and a value of the answer
 * (see prov_http.h).
 */
#include "analysis/prov_http.h"
#include "base/httpc.h"
#include "base/num.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* result from the JSON field at a dotted path. */
static void json_result(struct sw_values *vs, const char *body, size_t len, const char *path)
{
	json_error_t je;
	json_t *root = json_loadb(body, len, 0, &je), *v;
	const char *p = path;

	if (!root) {
		sw_values_set_absent(vs, "result", SW_VERDICT_ERROR, "the answer is not JSON (line %d: %.100s)", je.line,
				     je.text);
		return;
	}
	v = root;
	while (v && *p) {
		size_t k = strcspn(p, ".");
		char key[256];
		uint64_t idx;

		if (k >= sizeof(key)) {
			v = NULL;
			break;
		}
		memcpy(key, p, k);
		key[k] = '\0';
		if (json_is_object(v))
			v = json_object_get(v, key);
		else if (json_is_array(v) && sw_parse_u64(key, k, 0, SIZE_MAX, &idx) == 0)
			v = json_array_get(v, (size_t)idx);
		else
			v = NULL;
		p += k + (p[k] == '.');
	}
	if (!v)
		sw_values_set_absent(vs, "result", SW_VERDICT_ERROR, "the answer has no field '%.100s'", path);
	else if (json_is_integer(v))
		sw_values_set_integer(vs, "result", (int64_t)json_integer_value(v));
	else if (json_is_number(v))
		sw_values_set_number(vs, "result", json_number_value(v));
	else if (json_is_boolean(v))
		sw_values_set_bool(vs, "result", json_is_true(v));
	else if (json_is_string(v))
		sw_values_set_string(vs, "result", json_string_value(v), json_string_length(v));
	else
		sw_values_set_absent(vs, "result", SW_VERDICT_ERROR, "field '%.100s' of the answer is %s, not a value", path,
				     json_is_null(v) ? "null" : json_is_object(v) ? "an object" : "an array");
	json_decref(root);
}

int sw_prov_http_measure(struct sw_provider_run *run, struct sw_err *err)
{
	const struct sw_spec_analysis *a = run->a;
	struct sw_buf url = SW_BUF_INIT(8192), body = SW_BUF_INIT(SW_PROVIDER_BODY_MAX);
	struct sw_httpc_req req = { .method = "GET" };
	long status = 0;
	double t0, num;
	int rc = -1;

	if (sw_provider_expand(a->url, run->t, false, &url, err) < 0)
		goto out;
	req.url = sw_buf_str(&url);
	req.timeout_ms = run->timeout_ms;
	t0 = now_ms();
	if (sw_httpc_do(&req, &status, &body, err) < 0)
		goto out;
	sw_values_set_integer(&run->vals, "status", status);
	sw_values_set_number(&run->vals, "latency_ms", now_ms() - t0);
	if (a->json_field)
		json_result(&run->vals, sw_buf_str(&body), body.len, a->json_field);
	else if (sw_provider_parse_number(sw_buf_str(&body), body.len, &num) == 0)
		sw_values_set_number(&run->vals, "result", num);
	else
		sw_values_set_absent(&run->vals, "result", SW_VERDICT_ERROR, "the answer is not a number");
	if (status != (long)a->expect_status) {
		run->decided = true;
		run->verdict = SW_VERDICT_FAILURE;
		snprintf(run->msg, sizeof(run->msg), "GET '%.300s' answered %ld, expected %u", req.url, status,
			 a->expect_status);
	}
	rc = 0;
out:
	sw_buf_release(&body);
	sw_buf_release(&url);
	return rc;
}
