/*
 * manifest.h - release.json, the signed description of a release.
 *
 *   | field            | type        | meaning                                          |
 *   | schema           | string      | "slipway.release/v1"                             |
 *   | service          | string      | service name from slipway.yml                    |
 *   | version          | string      | --version, spec version, git describe, "0.0.0"   |
 *   | digest           | string      | "sha256:<hex>" of the bundle bytes               |
 *   | bundle           | string      | "<hex>.tar.zst"                                  |
 *   | size             | integer     | bundle bytes                                     |
 *   | created          | string      | UTC "YYYY-MM-DDTHH:MM:SS.mmmZ"                   |
 *   | git              | object/null | {commit, commit_time (UTC), dirty}; null outside |
 *   |                  |             | a repository                                     |
 *   | pipeline         | object      | {run_id, status, duration_ms, jobs (count)}      |
 *   | tests            | object      | {passed, failed, skipped, errors}                |
 *   | files            | integer     | regular files in the bundle                      |
 *   | sbom             | object      | {file "<hex>.sbom.cdx.json", sha256}             |
 *   | provenance       | object      | {file "<hex>.provenance.intoto.json", sha256}    |
 *   | key_id           | string      | minisign key id of the signing key               |
 *   | spec             | string      | the slipway.yml text the release was built from  |
 *   |                  |             | (environments: for the server; run: for agents,  |
 *   |                  |             | which run only what this signed text says)       |
 * Written pretty (sorted keys, 2 spaces, final newline); the signature
 * covers the file's bytes. Returned json_t values are new references.
 * Calls jansson, libc, base/ and release/gitinfo.
 */
#ifndef SW_RELEASE_MANIFEST_H
#define SW_RELEASE_MANIFEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "release/gitinfo.h"

#define SW_MANIFEST_SCHEMA "slipway.release/v1"
#define SW_MANIFEST_MAX_BYTES (1u << 20)

struct sw_manifest_input {
	const char *service, *version;
	const char *digest_hex;
	const char *bundle_name;
	uint64_t size;
	int64_t created_ms;
	const struct sw_git_info *git; /* NULL or !found: null */
	const json_t *summary;         /* pipeline run summary (see /tmp/brief.md schema) */
	size_t nfiles;
	const char *sbom_file, *sbom_sha256;
	const char *provenance_file, *provenance_sha256;
	const char *key_id;
	const char *spec_text; /* slipway.yml's text, or NULL */
	const json_t *stale;   /* NULL, or recorded as "stale" (--allow-stale) */
};

json_t *sw_manifest_build(const struct sw_manifest_input *in);

/* Borrowed views into a checked manifest. */
struct sw_manifest_view {
	const char *service, *version, *digest, *bundle, *key_id;
	const char *sbom_file, *sbom_sha256, *provenance_file, *provenance_sha256;
	uint64_t size;
	uint64_t files;
};

/* Check the shape of a parsed release.json (SW_EINPUT naming the field). */
int sw_manifest_check(const json_t *m, const char *what, struct sw_manifest_view *v, struct sw_err *err);

#endif
