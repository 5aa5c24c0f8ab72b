/*
 * release.h - making and checking a release: the steps behind
 * `slipway release` and `slipway verify`, on plain inputs (the CLI loads
 * the spec, the run summary and the key, and records the result in the
 * store).
 *
 * Files of one release, all in one directory (default
 * $SLIPWAY_HOME/releases/<service>/), named after the bundle's sha256 <hex>:
 *   | file                             | content                                  |
 *   | <hex>.tar.zst                    | the bundle (release/bundle.h)            |
 *   | <hex>.tar.zst.minisig            | minisign signature of the bundle         |
 *   | <hex>.release.json               | the manifest (release/manifest.h)        |
 *   | <hex>.release.json.minisig       | minisign signature of the manifest       |
 *   | <hex>.sbom.cdx.json              | CycloneDX SBOM (release/sbom.h)          |
 *   | <hex>.provenance.intoto.json     | in-toto SLSA provenance (provenance.h)   |
 * sw_release_create() writes every file under a temporary name in that
 * directory and renames them into place (release.json last) only when all
 * were written; on any failure it removes everything it wrote.
 *
 * Ownership: result->manifest is a new reference (sw_release_result_release).
 * Calls release/ (bundle, minisign, sbom, provenance, manifest, gitinfo,
 * catalog: a version already held by another digest is refused),
 * jansson, libsodium, libc and base/.
 */
#ifndef SW_RELEASE_RELEASE_H
#define SW_RELEASE_RELEASE_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/hash.h"
#include "release/gitinfo.h"
#include "release/minisign.h"

enum sw_release_file {
	SW_RELEASE_BUNDLE,
	SW_RELEASE_SBOM,
	SW_RELEASE_PROVENANCE,
	SW_RELEASE_BUNDLE_SIG,
	SW_RELEASE_MANIFEST_SIG,
	SW_RELEASE_MANIFEST, /* renamed last */
	SW_RELEASE_NFILES
};

/* "<hex>.tar.zst", "<hex>.release.json", ... into out. */
const char *sw_release_file_name(enum sw_release_file f, const char *hex, char *out, size_t size);

struct sw_release_output {
	const char *job;  /* for messages */
	const char *path; /* relative to base_dir */
};

struct sw_release_params {
	const char *service, *version;
	const char *base_dir;  /* the spec's directory */
	const char *spec_name; /* "slipway.yml" (recorded in the provenance) */
	const char *spec_sha256;
	const char *spec_text; /* slipway.yml's text, embedded in release.json for the server; NULL = none */
	const struct sw_release_output *outputs;
	size_t noutputs;
	const char *const *jobs; /* job names, for the provenance */
	size_t njobs;
	const json_t *summary; /* the pipeline run summary */
	const struct sw_git_info *git; /* of the commit the run built (not necessarily HEAD) */
	const json_t *stale; /* NULL, or {allow_stale, worktree}: signed with --allow-stale for a tree that moved on */
	int64_t mtime;  /* of every bundle entry */
	int64_t now_ms; /* "created" and the signatures' timestamps */
	const char *out_dir;
	const struct sw_minisign_seckey *key;
};

struct sw_release_result {
	char digest[SW_SHA256_HEX];
	uint64_t size;
	size_t nfiles;
	char key_id[SW_MINISIGN_KEY_ID_HEX];
	char paths[SW_RELEASE_NFILES][PATH_MAX];
	bool existed; /* the same bundle was already released with this version: nothing written */
	json_t *manifest;
};

int sw_release_create(const struct sw_release_params *p, struct sw_release_result *res, struct sw_err *err);
/* Remove the files of a release just created (when recording it failed). */
void sw_release_remove(const struct sw_release_result *res);
void sw_release_result_release(struct sw_release_result *res);

/*
 * The latest pipeline run of a service: runs_dir/<service>/latest names the
 * run id, runs_dir/<service>/<id>/summary.json holds the summary. A missing
 * run is SW_ENOTFOUND (missing input, exit 2, as a missing key is), one whose
 * status is not "passed" SW_EFAILED (the build failed, exit 1), both
 * suggesting `slipway run`; a malformed summary SW_EINPUT. *summary is a new
 * reference.
 */
int sw_release_load_run(const char *runs_dir, const char *service, json_t **summary, struct sw_err *err);
/* Bundle mtime: SOURCE_DATE_EPOCH if set (must be an integer), else the git commit time, else 0. */
int sw_release_mtime(const struct sw_git_info *git, int64_t *mtime, struct sw_err *err);
/* Version: flag, else the spec's, else from git (gitinfo.h), else "0.0.0". */
const char *sw_release_version(const char *flag, const char *spec_version, const struct sw_git_info *git, char *out,
			       size_t size);
/* Is s usable as one path component (service names, run ids)? */
bool sw_release_safe_name(const char *s);

/* ---- verification ---- */

#define SW_VERIFY_MAX_CHECKS 8

struct sw_verify_check {
	const char *name; /* "digest", "bundle signature", ... */
	bool ok;
	char detail[768];
};

struct sw_verify_report {
	struct sw_verify_check checks[SW_VERIFY_MAX_CHECKS];
	size_t n;
	bool ok;
	char digest[SW_SHA256_HEX]; /* from the file name */
	char service[256], version[256];
	uint64_t files;
};

/*
 * Check a bundle and its companion files against pk (see `slipway verify`).
 * Returns -1 only when the bundle itself cannot be read or is not named
 * <hex>.tar.zst (SW_EINPUT / SW_ENOTFOUND); otherwise 0, with rep->ok
 * telling whether every check passed.
 */
int sw_release_verify(const char *bundle_path, const struct sw_minisign_pubkey *pk, struct sw_verify_report *rep,
		      struct sw_err *err);

#endif
