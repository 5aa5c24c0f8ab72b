/*
 * provenance.c - in-toto Statement v1 + SLSA provenance v1 (see provenance.h).
 * Calls jansson, libc and release/gitinfo.
 */
#include "release/provenance.h"

#include <stdio.h>

json_t *sw_provenance_build(const struct sw_provenance_input *in)
{
	json_t *jobs = json_array(), *deps = json_array(), *meta, *st;
	size_t i;

	for (i = 0; i < in->njobs; i++)
		json_array_append_new(jobs, json_string(in->jobs[i]));
	if (in->git && in->git->found) {
		char uri[sizeof(in->git->remote_url) + sizeof(in->git->workdir) + 16];

		if (in->git->remote_url[0])
			snprintf(uri, sizeof(uri), "git+%s", in->git->remote_url);
		else
			snprintf(uri, sizeof(uri), "git+file://%s", in->git->workdir);
		json_array_append_new(deps, json_pack("{s:s, s:{s:s}, s:{s:b}}", "uri", uri, "digest", "gitCommit",
						      in->git->commit, "annotations", "dirty", in->git->dirty));
	}
	meta = json_pack("{s:s}", "invocationId", in->run_id);
	if (in->started)
		json_object_set_new(meta, "startedOn", json_string(in->started));
	if (in->finished)
		json_object_set_new(meta, "finishedOn", json_string(in->finished));
	st = json_pack("{s:s, s:[{s:s, s:{s:s}}], s:s, s:{s:{s:s, s:{s:s, s:s, s:{s:s, s:{s:s}}, s:o}, s:o}, "
			 "s:{s:{s:s}, s:o}}}",
			 "_type", "https://in-toto.io/Statement/v1", "subject", "name", in->bundle_name, "digest",
			 "sha256", in->bundle_sha256, "predicateType", "https://slsa.dev/provenance/v1", "predicate",
			 "buildDefinition", "buildType", "https://slipway.dev/pipeline/v1", "externalParameters",
			 "service", in->service, "version", in->version, "spec", "path", in->spec_name, "digest",
			 "sha256", in->spec_sha256, "jobs", jobs, "resolvedDependencies", deps, "runDetails",
			 "builder", "id", "slipway-local", "metadata", meta);
	if (st && in->stale)
		json_object_set_new(json_object_get(json_object_get(st, "predicate"), "buildDefinition"),
				    "internalParameters", json_pack("{s:O}", "stale", in->stale));
	return st;
}
