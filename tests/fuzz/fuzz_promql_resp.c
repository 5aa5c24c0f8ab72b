/*
 * fuzz_promql_resp.c - libFuzzer target for the Prometheus answer parser
 * (sw_promql_parse() in analysis/promql.h), and for sw_promql_expand() on
 * the same bytes taken as a PromQL query.
 *
 * Properties checked (any violation aborts, which libFuzzer reports):
 *   - the parser returns 0 or -1; a refusal is SW_EIO or SW_EFAILED with a
 *     message and leaves no samples;
 *   - an accepted answer is a "vector" (at most SW_PROMQL_MAX_SAMPLES
 *     samples) or a "scalar" (exactly one, no labels); every label text is
 *     NUL-terminated inside its array and valid UTF-8 (jansson takes it);
 *     a NaN value only comes from an input that says "NaN";
 *   - expanding {{canary}}/{{stable}} never fails with valid addresses and
 *     never shortens the text.
 * Corpus: tests/fuzz/corpus/promql_resp/ (answers recorded from Prometheus 2.42).
 */
#include "analysis/promql.h"
#include "base/buf.h"
#include "base/err.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_promql_resp: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const canary[] = { "127.0.0.1:8101", "[::1]:9090" }, *const stable[] = { "10.0.0.1:80" };
	struct sw_promql_result r;
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf out = SW_BUF_INIT(1 << 22);
	char *text;
	size_t i;
	int rc;

	rc = sw_promql_parse((const char *)data, size, &r, &err);
	check(rc == 0 || rc == -1, "parser returned neither 0 nor -1");
	if (rc < 0) {
		check(err.code == SW_EIO || err.code == SW_EFAILED, "a refusal is not SW_EIO or SW_EFAILED");
		check(err.msg[0] != '\0', "a refusal has no message");
		check(r.n == 0 && r.samples == NULL, "a refusal left samples");
	} else {
		check(!strcmp(r.type, "vector") || !strcmp(r.type, "scalar"), "accepted an unknown result type");
		check(r.n <= SW_PROMQL_MAX_SAMPLES, "too many samples");
		if (!strcmp(r.type, "scalar"))
			check(r.n == 1 && r.samples[0].metric[0] == '\0', "a scalar is not one sample without labels");
		for (i = 0; i < r.n; i++) {
			json_t *j;

			check(memchr(r.samples[i].metric, '\0', SW_PROMQL_METRIC_MAX) != NULL, "label text not terminated");
			j = json_string(r.samples[i].metric);
			check(j != NULL, "label text is not valid UTF-8");
			json_decref(j);
			if (isnan(r.samples[i].value))
				check(size >= 3 && memmem(data, size, "NaN", 3) != NULL, "NaN out of nothing");
		}
		sw_promql_result_release(&r);
	}

	/* the same bytes as a query */
	text = malloc(size + 1);
	check(text != NULL, "out of memory");
	memcpy(text, data, size);
	text[size] = '\0';
	rc = sw_promql_expand(text, canary, 2, stable, 1, &out, &err);
	check(rc == 0, "expansion with valid addresses failed");
	check(out.len >= strlen(text), "expansion shortened the text");
	sw_buf_release(&out);
	free(text);
	return 0;
}
