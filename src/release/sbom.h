/*
 * sbom.h - the CycloneDX 1.5 JSON SBOM of a release bundle.
 *
 *   | field                         | value                                        |
 *   | bomFormat / specVersion       | "CycloneDX" / "1.5"                          |
 *   | serialNumber                  | "urn:uuid:<UUID>": the first 16 bytes of the |
 *   |                               | bundle's sha256 as a version-8 (RFC 9562)    |
 *   |                               | UUID, so the same bundle has the same SBOM   |
 *   | version                       | 1                                            |
 *   | metadata.component            | {type "application", name: service, version} |
 *   | metadata.tools.components     | [{type "application", name "slipway", ...}]  |
 *   | metadata.properties           | slipway:bundle = "<hex>.tar.zst"             |
 *   | components[]                  | one per regular file of the bundle, in path  |
 *   |                               | order: {type "file", name: path,             |
 *   |                               | hashes [{alg "SHA-256", content: hex}]}      |
 * Directories and symlinks are not components.
 * Returned json_t values are new references the caller owns.
 * Calls jansson, libc, base/ and release/bundle (the entry list).
 */
#ifndef SW_RELEASE_SBOM_H
#define SW_RELEASE_SBOM_H

#include <jansson.h>

#include "base/err.h"
#include "release/bundle.h"

#define SW_SBOM_SERIAL_MAX 46 /* "urn:uuid:" + 36 + NUL */

void sw_sbom_serial(const char *bundle_sha256, char out[SW_SBOM_SERIAL_MAX]);
json_t *sw_sbom_build(const char *service, const char *version, const char *bundle_sha256,
		      const struct sw_bundle_list *l);
/*
 * Check an SBOM's shape and return a new object mapping each component's
 * name to its SHA-256 hex (SW_EINPUT naming the first problem).
 */
json_t *sw_sbom_file_hashes(const json_t *sbom, const char *what, struct sw_err *err);

#endif
