/*
 * analysis.c - one measurement (provider, then conditions) as JSON, and
 * the tally of verdicts (see analysis.h).
 */
#include "analysis/analysis.h"
#include "analysis/condition.h"
#include "analysis/prov_command.h"
#include "analysis/prov_haproxy.h"
#include "analysis/prov_http.h"
#include "analysis/prov_prometheus.h"
#include "analysis/provider.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

static const char *const verdict_names[] = { "success", "failure", "inconclusive", "error" };
static const char *const state_names[] = { "running", "successful", "failed", "inconclusive" };

const char *sw_analysis_verdict_name(enum sw_verdict v)
{
	return (size_t)v < SW_ARRAY_LEN(verdict_names) ? verdict_names[v] : "?";
}

int sw_analysis_verdict_parse(const char *s, enum sw_verdict *out)
{
	size_t i;

	for (i = 0; s && i < SW_ARRAY_LEN(verdict_names); i++)
		if (!strcmp(s, verdict_names[i])) {
			*out = (enum sw_verdict)i;
			return 0;
		}
	return -1;
}

const char *sw_analysis_state_name(enum sw_analysis_state s)
{
	return (size_t)s < SW_ARRAY_LEN(state_names) ? state_names[s] : "?";
}

int sw_analysis_measurement_verdict(const json_t *m, enum sw_verdict *out)
{
	return sw_analysis_verdict_parse(sw_json_str(m, "verdict"), out);
}

bool sw_analysis_needs_baseline(const struct sw_spec_analysis *a)
{
	return a->provider == SW_PROVIDER_HAPROXY;
}

uint64_t sw_analysis_timeout_ms(const struct sw_spec_analysis *a, const struct sw_analysis_target *t)
{
	uint64_t ms = a->interval_ms;

	if (t && t->timeout_ms)
		return t->timeout_ms;
	if (ms < SW_ANALYSIS_TIMEOUT_MIN_MS)
		ms = SW_ANALYSIS_TIMEOUT_MIN_MS;
	if (ms > SW_ANALYSIS_TIMEOUT_MAX_MS)
		ms = SW_ANALYSIS_TIMEOUT_MAX_MS;
	return ms;
}

enum sw_analysis_state sw_analysis_tally_state(const struct sw_analysis_tally *tally, const struct sw_spec_analysis *a)
{
	if (tally->failures > a->failure_limit)
		return SW_ANALYSIS_FAILED;
	if ((uint64_t)tally->inconclusives + tally->errors > a->inconclusive_limit)
		return SW_ANALYSIS_INCONCLUSIVE;
	/* Done: successful only if something measured was good (no data is never a pass). */
	if (a->count > 0 && tally->measurements >= a->count)
		return tally->successes > 0 ? SW_ANALYSIS_SUCCESSFUL : SW_ANALYSIS_INCONCLUSIVE;
	return SW_ANALYSIS_RUNNING;
}

enum sw_analysis_state sw_analysis_tally_add(struct sw_analysis_tally *tally, const struct sw_spec_analysis *a,
					     enum sw_verdict v)
{
	tally->measurements++;
	switch (v) {
	case SW_VERDICT_SUCCESS:
		tally->successes++;
		break;
	case SW_VERDICT_FAILURE:
		tally->failures++;
		break;
	case SW_VERDICT_INCONCLUSIVE:
		tally->inconclusives++;
		break;
	default: /* an unknown verdict is never a success */
		tally->errors++;
		break;
	}
	return sw_analysis_tally_state(tally, a);
}

/* A JSON string of any bytes: invalid UTF-8 and control bytes become '?'. */
static json_t *safe_string(const char *s)
{
	json_t *j = json_string(s);
	char *copy;
	size_t i;

	if (j && !strpbrk(s, "\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17"
			     "\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"))
		return j;
	json_decref(j);
	copy = sw_xstrdup(s);
	for (i = 0; copy[i]; i++)
		if ((unsigned char)copy[i] < 0x20 || (unsigned char)copy[i] >= 0x7f)
			copy[i] = (unsigned char)copy[i] == '\t' || (unsigned char)copy[i] == '\n' ? ' ' : '?';
	j = json_string(copy);
	free(copy);
	return j;
}

json_t *sw_analysis_measure(const struct sw_spec_analysis *a, const struct sw_analysis_target *t, const json_t *prev,
			    struct sw_err *err)
{
	struct sw_provider_run run;
	struct sw_err perr = SW_ERR_INIT;
	char when[SW_TIME_STR_MAX], msg[SW_ERR_MSG_MAX];
	const json_t *raw;
	enum sw_verdict verdict;
	uint64_t t0;
	int64_t wall;
	json_t *m;
	int rc;

	if (a->provider == SW_PROVIDER_HAPROXY &&
	    (!t->traffic || !t->backend || !t->backend[0] || t->ncanary_servers == 0)) {
		sw_err_set(err, SW_EINPUT, "analysis '%s': the haproxy provider needs a traffic backend and canary servers",
			   a->name ? a->name : "?");
		return NULL;
	}
	memset(&run, 0, sizeof(run));
	run.a = a;
	run.t = t;
	raw = prev ? json_object_get(prev, "raw") : NULL;
	run.prev = raw ? raw : prev;
	run.timeout_ms = sw_analysis_timeout_ms(a, t);
	sw_values_init(&run.vals, a->provider);
	wall = sw_clock_wall_ms();
	t0 = sw_clock_mono_ms();
	switch (a->provider) {
	case SW_PROVIDER_HAPROXY:
		rc = sw_prov_haproxy_measure(&run, &perr);
		break;
	case SW_PROVIDER_PROMETHEUS:
		rc = sw_prov_prometheus_measure(&run, &perr);
		break;
	case SW_PROVIDER_HTTP:
		rc = sw_prov_http_measure(&run, &perr);
		break;
	case SW_PROVIDER_COMMAND:
		rc = sw_prov_command_measure(&run, &perr);
		break;
	default:
		rc = sw_err_set(&perr, SW_EINTERNAL, "unknown provider %d", (int)a->provider);
		break;
	}
	if (rc < 0) {
		verdict = SW_VERDICT_ERROR;
		sw_strlcpy(msg, perr.msg[0] ? perr.msg : "the provider failed", sizeof(msg));
	} else if (run.decided) {
		verdict = run.verdict;
		sw_strlcpy(msg, run.msg, sizeof(msg));
	} else {
		verdict = sw_condition_verdict(a, &run.vals, msg, sizeof(msg));
	}
	m = json_object();
	json_object_set_new(m, "time", json_string(sw_clock_format_utc(wall, when, sizeof(when))));
	json_object_set_new(m, "analysis", safe_string(a->name ? a->name : ""));
	json_object_set_new(m, "provider", json_string(sw_spec_provider_name(a->provider)));
	json_object_set_new(m, "values", sw_values_json(&run.vals));
	json_object_set_new(m, "verdict", json_string(sw_analysis_verdict_name(verdict)));
	json_object_set_new(m, "message", safe_string(msg));
	json_object_set_new(m, "took_ms", json_integer((json_int_t)(sw_clock_mono_ms() - t0)));
	if (run.raw)
		json_object_set_new(m, "raw", run.raw);
	sw_values_release(&run.vals);
	return m;
}
