/*
 * catalog.h - the local release catalog: the releases `slipway release`
 * wrote under $SLIPWAY_HOME/releases/<service>/, read from their
 * release.json files, and lookups by service and version.
 *
 * What it reads, per service directory:
 *   | file                 | used for                                          |
 *   | <hex>.release.json   | service, version, digest, created, key_id         |
 *   | <hex>.tar.zst        | the bundle path (must exist)                      |
 * Temporary files (".tmp-*") and other names are ignored. A release.json
 * that does not parse, fails sw_manifest_check(), names another digest than
 * its file name or another service than its directory, or has no bundle
 * beside it, is left out and counted in `skipped` (the first reason kept in
 * `skipped_why`): one damaged file does not hide the others. Signatures are
 * NOT checked here: `slipway verify`, the server (at commit) and agents do
 * that.
 *
 * Order: newest first (`created`, then version, then digest, descending),
 * so v[0] of one service is its `latest`.
 *
 * A version names exactly one release of a service: sw_catalog_find() of a
 * version held by two digests (possible only for releases made before
 * `slipway release` refused that) fails with SW_EINPUT naming both.
 *
 * Ownership: the catalog owns every entry and string (sw_catalog_release);
 * sw_catalog_find() returns a pointer into it. Calls release/manifest,
 * base/ (fs, json, mem, err) and libc only.
 */
#ifndef SW_RELEASE_CATALOG_H
#define SW_RELEASE_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define SW_CATALOG_LATEST "latest"

struct sw_catalog_entry {
	char *service;
	char *version;
	char *digest;   /* "sha256:<hex>" */
	char *created;  /* UTC "YYYY-MM-DDTHH:MM:SS.mmmZ", from release.json */
	char *key_id;   /* the signer: minisign key id, 16 upper-case hex digits */
	char *bundle;   /* path of <hex>.tar.zst */
	char *manifest; /* path of <hex>.release.json */
};

struct sw_catalog {
	struct sw_catalog_entry *v;
	size_t n, cap;
	size_t skipped;        /* release.json files left out (see above) */
	char skipped_why[512]; /* the first one's reason, "" if none */
};

#define SW_CATALOG_INIT { NULL, 0, 0, 0, "" }

/*
 * Add the releases of every service under releases_dir (one subdirectory
 * per service, as $SLIPWAY_HOME/releases), or of one service when service
 * is not NULL. A missing releases_dir or service directory adds nothing
 * (not an error). Sorted when it returns. -1 on an unreadable directory.
 */
int sw_catalog_load(struct sw_catalog *c, const char *releases_dir, const char *service, struct sw_err *err);
/* The same for one directory holding releases of `service` (e.g. `slipway release --out DIR`). */
int sw_catalog_load_dir(struct sw_catalog *c, const char *dir, const char *service, struct sw_err *err);
/* $SLIPWAY_HOME/releases (which need not exist). */
int sw_catalog_default_dir(char *out, size_t size, struct sw_err *err);

/*
 * The release of `service` named `version`, or its newest when version is
 * "latest". NULL with SW_ENOTFOUND ("no release 1.0.9 of 'hello' in DIR
 * (known: 1.0.1, 1.0.0)") or SW_EINPUT (one version, two digests).
 */
const struct sw_catalog_entry *sw_catalog_find(const struct sw_catalog *c, const char *service, const char *version,
					       struct sw_err *err);
/* The release of `service` with this digest ("sha256:<hex>" or "<hex>"), or NULL. */
const struct sw_catalog_entry *sw_catalog_find_digest(const struct sw_catalog *c, const char *service,
						      const char *digest);

/*
 * Split "SERVICE@VERSION" (VERSION may be "latest") into its parts, copied
 * into service/version. 0 on success; -1 (SW_EINPUT) when ref has no '@',
 * an empty side, or a part that does not fit. Does not look anything up.
 */
int sw_catalog_parse_ref(const char *ref, char *service, size_t ssize, char *version, size_t vsize,
			 struct sw_err *err);

void sw_catalog_release(struct sw_catalog *c);

#endif
