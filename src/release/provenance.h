/*
 * provenance.h - the in-toto Statement v1 with a SLSA provenance v1
 * predicate that describes how a bundle was built.
 *
 *   | field                                   | value                                    |
 *   | _type                                   | "https://in-toto.io/Statement/v1"        |
 *   | subject                                 | [{name "<hex>.tar.zst", digest {sha256}}]|
 *   | predicateType                           | "https://slsa.dev/provenance/v1"         |
 *   | predicate.buildDefinition.buildType     | "https://slipway.dev/pipeline/v1"        |
 *   | ...buildDefinition.externalParameters   | {service, version, spec {path, digest    |
 *   |                                         | {sha256}}, jobs [names in run order]}    |
 *   | ...buildDefinition.resolvedDependencies | [{uri "git+<origin URL or file://dir>",  |
 *   |                                         | digest {gitCommit}, annotations {dirty}}]|
 *   |                                         | or [] outside git                        |
 *   | predicate.runDetails.builder.id         | "slipway-local"                          |
 *   | predicate.runDetails.metadata           | {invocationId: run id, startedOn,        |
 *   |                                         | finishedOn} from the pipeline summary    |
 * Returns a new reference. Calls jansson, libc and release/gitinfo.
 */
#ifndef SW_RELEASE_PROVENANCE_H
#define SW_RELEASE_PROVENANCE_H

#include <jansson.h>
#include <stddef.h>

#include "release/gitinfo.h"

struct sw_provenance_input {
	const char *service, *version;
	const char *bundle_name;   /* "<hex>.tar.zst" */
	const char *bundle_sha256; /* hex */
	const char *spec_name;     /* "slipway.yml" */
	const char *spec_sha256;
	const char *const *jobs;
	size_t njobs;
	const struct sw_git_info *git; /* NULL or !found: no dependency */
	const char *run_id, *started, *finished; /* started/finished may be NULL */
	const json_t *stale; /* NULL, or buildDefinition.internalParameters.stale (--allow-stale) */
};

json_t *sw_provenance_build(const struct sw_provenance_input *in);

#endif
