/*
 * promql.c - Prometheus instant-query answers and PromQL placeholders
 * (see promql.h).
 */
#include "analysis/promql.h"
#include "base/json.h"
#include "base/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sw_promql_result_release(struct sw_promql_result *r)
{
	free(r->samples);
	r->samples = NULL;
	r->n = 0;
	r->type[0] = '\0';
}

int sw_promql_parse_number(const char *s, size_t len, double *out)
{
	char buf[64], *end;
	size_t i;

	if (len == 3 && !memcmp(s, "NaN", 3)) {
		*out = NAN;
		return 0;
	}
	if ((len == 4 && !memcmp(s, "+Inf", 4)) || (len == 3 && !memcmp(s, "Inf", 3))) {
		*out = INFINITY;
		return 0;
	}
	if (len == 4 && !memcmp(s, "-Inf", 4)) {
		*out = -INFINITY;
		return 0;
	}
	if (len == 0 || len >= sizeof(buf))
		return -1;
	/* a decimal float only: sign, digits, '.', exponent */
	for (i = 0; i < len; i++)
		if (!strchr("0123456789+-.eE", s[i]) || s[i] == '\0')
			return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	*out = strtod(buf, &end);
	if (end != buf + len || isnan(*out))
		return -1;
	return 0;
}

/* `name{a="b",...}` of a metric object, cut to fit. */
static void metric_text(const json_t *m, char *out, size_t size)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	const char *name = sw_json_str(m, "__name__"), *k;
	json_t *v;
	size_t n = 0;

	if (name)
		sw_buf_puts(&b, name);
	json_object_foreach((json_t *)m, k, v) {
		if (!strcmp(k, "__name__") || !json_is_string(v))
			continue;
		sw_buf_printf(&b, "%s%s=\"%s\"", n++ ? "," : "{", k, json_string_value(v));
		if (b.len > size)
			break;
	}
	if (n)
		sw_buf_putc(&b, '}');
	if (b.len < size) {
		sw_strlcpy(out, sw_buf_str(&b), size);
	} else {
		size_t keep = size - 4;

		/* cut on a UTF-8 character boundary */
		while (keep > 0 && ((unsigned char)b.data[keep] & 0xc0) == 0x80)
			keep--;
		memcpy(out, b.data, keep);
		memcpy(out + keep, "...", 4);
	}
	sw_buf_release(&b);
}

/* [<time>, "<number>"] into *value. */
static int sample_value(const json_t *pair, double *value)
{
	const json_t *s;

	if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_number(json_array_get(pair, 0)))
		return -1;
	s = json_array_get(pair, 1);
	if (!json_is_string(s))
		return -1;
	return sw_promql_parse_number(json_string_value(s), json_string_length(s), value);
}

int sw_promql_parse(const char *body, size_t len, struct sw_promql_result *out, struct sw_err *err)
{
	json_t *root, *data, *res;
	json_error_t je;
	const char *status, *type;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (len > SW_PROMQL_MAX_BYTES)
		return sw_err_set(err, SW_EIO, "bad answer: larger than %zu bytes", SW_PROMQL_MAX_BYTES);
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return sw_err_set(err, SW_EIO, "bad answer: not JSON (line %d, column %d: %.200s)", je.line, je.column,
				  je.text);
	if (!json_is_object(root)) {
		sw_err_set(err, SW_EIO, "bad answer: not a JSON object");
		goto out;
	}
	status = sw_json_str(root, "status");
	if (status && !strcmp(status, "error")) {
		const char *et = sw_json_str(root, "errorType"), *e = sw_json_str(root, "error");

		sw_err_set(err, SW_EFAILED, "prometheus refused the query: %s: %.300s", et ? et : "error",
			   e ? e : "(no message)");
		goto out;
	}
	if (!status || strcmp(status, "success")) {
		sw_err_set(err, SW_EIO, "bad answer: 'status' is not \"success\" or \"error\"");
		goto out;
	}
	data = json_object_get(root, "data");
	type = sw_json_str(data, "resultType");
	res = json_object_get(data, "result");
	if (!type || !res) {
		sw_err_set(err, SW_EIO, "bad answer: no 'data.resultType' and 'data.result'");
		goto out;
	}
	if (!strcmp(type, "matrix") || !strcmp(type, "string")) {
		sw_err_set(err, SW_EIO, "the query gave a %s; use one that gives an instant vector or a scalar",
			   !strcmp(type, "matrix") ? "range vector (matrix)" : "string");
		goto out;
	}
	if (!strcmp(type, "scalar")) {
		out->samples = sw_xcalloc(1, sizeof(*out->samples));
		if (sample_value(res, &out->samples[0].value) < 0) {
			sw_err_set(err, SW_EIO, "bad answer: the scalar is not [time, \"number\"]");
			goto out;
		}
		out->n = 1;
		sw_strlcpy(out->type, "scalar", sizeof(out->type));
		rc = 0;
		goto out;
	}
	if (strcmp(type, "vector")) {
		sw_err_set(err, SW_EIO, "bad answer: unknown resultType '%.40s'", type);
		goto out;
	}
	if (!json_is_array(res)) {
		sw_err_set(err, SW_EIO, "bad answer: 'data.result' is not an array");
		goto out;
	}
	if (json_array_size(res) > SW_PROMQL_MAX_SAMPLES) {
		sw_err_set(err, SW_EIO, "the query gave %zu samples, more than %d; aggregate them (sum, max, ...)",
			   json_array_size(res), SW_PROMQL_MAX_SAMPLES);
		goto out;
	}
	out->samples = sw_xcalloc(json_array_size(res) ? json_array_size(res) : 1, sizeof(*out->samples));
	for (i = 0; i < json_array_size(res); i++) {
		const json_t *s = json_array_get(res, i), *m = json_object_get(s, "metric");

		if (!json_is_object(s) || (m && !json_is_object(m))) {
			sw_err_set(err, SW_EIO, "bad answer: sample %zu is not {metric, value}", i + 1);
			goto out;
		}
		if (sample_value(json_object_get(s, "value"), &out->samples[i].value) < 0) {
			sw_err_set(err, SW_EIO, "bad answer: the value of sample %zu is not [time, \"number\"]", i + 1);
			goto out;
		}
		if (m)
			metric_text(m, out->samples[i].metric, sizeof(out->samples[i].metric));
	}
	out->n = i;
	sw_strlcpy(out->type, "vector", sizeof(out->type));
	rc = 0;
out:
	if (rc < 0)
		sw_promql_result_release(out);
	json_decref(root);
	return rc;
}

int sw_promql_addr_ok(const char *addr)
{
	size_t n = strlen(addr);

	return n > 0 && n <= 255 &&
	       strspn(addr, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:[]-") == n;
}

/* The regex of a list of addresses; bs = how a backslash is written. */
static int put_regex(struct sw_buf *out, const char *what, const char *const *addrs, size_t n, const char *bs,
		     struct sw_err *err)
{
	size_t i;

	if (n == 0)
		return sw_err_set(err, SW_EINPUT, "the query uses {{%s}}, but there are no %s instances", what, what);
	for (i = 0; i < n; i++) {
		const char *p;

		if (!sw_promql_addr_ok(addrs[i]))
			return sw_err_set(err, SW_EINPUT, "bad %s instance address '%.80s'", what, addrs[i]);
		if (i)
			sw_buf_putc(out, '|');
		for (p = addrs[i]; *p; p++) {
			if (strchr(".[]", *p))
				sw_buf_puts(out, bs);
			sw_buf_putc(out, *p);
		}
	}
	return 0;
}

int sw_promql_expand(const char *query, const char *const *canary, size_t ncanary, const char *const *stable,
		     size_t nstable, struct sw_buf *out, struct sw_err *err)
{
	const char *p = query;
	char quote = 0; /* the PromQL string we are in: '"', '\'', '`' or none */

	while (*p) {
		bool c = !strncmp(p, "{{canary}}", 10), s = !strncmp(p, "{{stable}}", 10);

		if (c || s) {
			const char *bs = quote == '"' || quote == '\'' ? "\\\\" : "\\";

			if (put_regex(out, c ? "canary" : "stable", c ? canary : stable, c ? ncanary : nstable, bs, err) < 0)
				return -1;
			p += 10;
			continue;
		}
		if (quote && quote != '`' && *p == '\\' && p[1]) {
			sw_buf_append(out, p, 2);
			p += 2;
			continue;
		}
		if (!quote && (*p == '"' || *p == '\'' || *p == '`'))
			quote = *p;
		else if (quote && *p == quote)
			quote = 0;
		sw_buf_putc(out, *p++);
	}
	if (sw_buf_failed(out))
		return sw_err_set(err, SW_EINPUT, "query too long after its placeholders are replaced");
	return 0;
}
