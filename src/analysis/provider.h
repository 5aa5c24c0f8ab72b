/*
 * provider.h - what the four providers share: struct sw_provider_run (one
 * provider call: its inputs and what it measured) and placeholder
 * substitution for URLs and commands.
 *
 * A provider (prov_haproxy.h, prov_prometheus.h, prov_http.h,
 * prov_command.h) fills run->vals (initialised by the caller with the
 * provider's names, all UNSET) and returns 0, or returns -1 with err set
 * when it could not measure (the measurement's verdict is then ERROR with
 * err's message). It may decide the verdict itself (run->decided, http's
 * expect_status) and may leave counters for the next call in run->raw.
 * It must set every value, or mark it ABSENT with a reason.
 *
 * Calls analysis/values, analysis/promql, base/. Owns nothing returned.
 */
#ifndef SW_PROVIDER_H
#define SW_PROVIDER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "analysis/analysis.h"
#include "analysis/values.h"
#include "base/buf.h"
#include "base/err.h"

#define SW_PROVIDER_MSG_MAX 512
#define SW_PROVIDER_BODY_MAX ((size_t)1 << 20) /* http and prometheus answers */

struct sw_provider_run {
	const struct sw_spec_analysis *a;
	const struct sw_analysis_target *t;
	const json_t *prev;       /* the previous measurement's "raw", or NULL */
	uint64_t timeout_ms;
	struct sw_values vals;    /* out */
	json_t *raw;              /* out: counters for the next measurement, or NULL */
	bool decided;             /* out: the provider gave the verdict itself, */
	enum sw_verdict verdict;  /* this one, */
	char msg[SW_PROVIDER_MSG_MAX]; /* for this reason */
};

/*
 * Replace {{canary}} and {{stable}} in text with the target's addresses:
 * the first one (all = false: URLs) or all of them joined by ','.
 * SW_EINPUT when a placeholder has no address or an address has bytes
 * outside [A-Za-z0-9._:[]-] (so nothing can be smuggled into a shell or URL).
 */
int sw_provider_expand(const char *text, const struct sw_analysis_target *t, bool all, struct sw_buf *out,
		       struct sw_err *err);

/* Parse a whole trimmed text as a number (decimal, as strtod, no hex, no nan/inf words); -1 if it is not one. */
int sw_provider_parse_number(const char *s, size_t len, double *out);

#endif
