/*
 * signedrun.c - the run configuration from the signed release.json, and
 * the check of a server's claim against it (see signedrun.h).
 * Calls spec/, rollout/runjson, agent/runspec, jansson, base/.
 */
#include "agent/signedrun.h"
#include "base/json.h"
#include "rollout/runjson.h"
#include "spec/spec.h"

#include <string.h>

struct sw_runspec *sw_signedrun_from_manifest(const json_t *manifest, struct sw_err *err)
{
	const char *text = sw_json_str(manifest, "spec");
	struct sw_runspec *rs = NULL;
	struct sw_spec *spec;
	json_t *run;

	if (!text) {
		sw_err_set(err, SW_EINTEGRITY,
			   "release.json carries no slipway.yml (field 'spec'): nothing signed says what to run");
		return NULL;
	}
	if (!(spec = sw_spec_parse("slipway.yml", text, strlen(text), err))) {
		sw_err_prefix(err, "the signed slipway.yml of the release does not load");
		goto fail;
	}
	if (!spec->run) {
		sw_err_set(err, SW_EINTEGRITY, "the signed slipway.yml of the release has no run section");
		goto fail;
	}
	run = sw_runjson_run(spec->run);
	rs = sw_runspec_parse(run, err);
	json_decref(run);
	if (!rs) {
		sw_err_prefix(err, "the signed run section of the release");
		goto fail;
	}
	sw_spec_free(spec);
	return rs;
fail:
	if (err)
		err->code = SW_EINTEGRITY;
	sw_spec_free(spec);
	return NULL;
}

int sw_signedrun_check(const struct sw_runspec *claim, const struct sw_runspec *signed_rs, struct sw_err *err)
{
	const char *field;

	if (!claim || !(field = sw_runspec_diff(claim, signed_rs)))
		return 0;
	return sw_err_set(err, SW_EINTEGRITY,
			  "the desired state's '%s' differs from the signed release.json: refused, nothing of it runs",
			  field);
}
