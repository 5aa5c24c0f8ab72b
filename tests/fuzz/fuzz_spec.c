/*
 * fuzz_spec.c - libFuzzer target for the slipway.yml loader.
 *
 * Feeds the input to sw_spec_parse() and frees the result. On success the
 * model's invariants are checked (jobs in topological order, every index in
 * range), so a loader bug shows up as a crash rather than passing silently.
 * Corpus: tests/fuzz/corpus/spec/.
 */
#include "spec/spec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_spec *spec = sw_spec_parse("fuzz.yml", (const char *)data, size, &err);
	size_t i, k;

	if (!spec) {
		if (err.code != SW_EINPUT || !err.msg[0])
			abort();
		return 0;
	}
	if (!spec->service || spec->njobs > SW_SPEC_MAX_JOBS)
		abort();
	for (i = 0; i < spec->njobs; i++) {
		const struct sw_spec_job *j = &spec->jobs[i];

		if (!j->name || !j->nsteps || sw_spec_job_index(spec, j->name) != (long)i)
			abort();
		for (k = 0; k < j->ndeps; k++)
			if (j->deps[k] >= i)
				abort();
		for (k = 0; k < j->nsteps; k++)
			if (!j->steps[k].run || !j->steps[k].name)
				abort();
	}
	for (i = 0; i < spec->nenvs; i++) {
		const struct sw_spec_env *e = &spec->envs[i];

		if (e->after && e->after_index >= spec->nenvs)
			abort();
		if (e->strategy == SW_STRATEGY_CANARY)
			for (k = 0; k < e->canary.nsteps; k++)
				if (e->canary.steps[k].kind == SW_CANARY_ANALYSIS &&
				    e->canary.steps[k].analysis_index >= spec->nanalyses)
					abort();
	}
	sw_spec_free(spec);
	return 0;
}
