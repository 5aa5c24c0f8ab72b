/*
 * installer.h - puts a release on the host: download, verify, unpack,
 * prune.
 *
 * Layout under the agent root:
 *   | path                              | what                                   |
 *   | trusted/KEY.pub                     | minisign public keys from enrollment   |
 *   | bundles/<digest>.tar.zst          | the downloaded bundle (kept so that a  |
 *   | bundles/<digest>.tar.zst.minisig  | reused release is verified again)      |
 *   | bundles/<digest>.release.json     | the release's signed manifest and its  |
 *   | bundles/<digest>.release.json.minisig | signature (verified again on each use) |
 *   | bundles/<digest>.json             | {service, installed, last_used_ms}     |
 *   | releases/<digest>/                | the unpacked release (sw_bundle_unpack)|
 *
 * sw_installer_install() is idempotent: a bundle already on disk is
 * verified again (sha256 equal to the digest, signature by a trusted key)
 * and an already unpacked directory is reused; otherwise the bundle and its
 * signature are downloaded from GET /api/v1/releases/<digest>/<file> with
 * the host token. A bundle whose digest or signature does not match, or
 * whose archive the safe unpacker refuses (path traversal, links out of
 * the tree, devices), is deleted and the call fails with SW_EINTEGRITY:
 * the slot is reported "refused" and nothing of it ever runs. The unpack
 * limits (release/bundle.h) are the installer's own (host-wide: `limits`,
 * set from the agent's --max-unpacked and --min-free) merged with the
 * stricter values of the caller's (the environment's, from the desired
 * state); an archive over them is refused the same way, before anything
 * of it is written. A full disk, or too little free space for the
 * unpacked release plus its margin, fails with a message starting "no
 * space left on device"; the downloaded bundle and anything half written
 * are removed and nothing else is touched. When `limits.cancel` turns
 * true (the agent stopping) an install in progress stops with
 * SW_ECANCELED and leaves nothing of the release behind.
 *
 * sw_installer_manifest() does the same for release.json (the signed
 * manifest, release/manifest.h): kept under bundles/, verified again on
 * every use, downloaded when missing or no longer verifying. It must be
 * signed by a trusted key, name the digest asked for and the service of the
 * slot; otherwise it is deleted and the call fails with SW_EINTEGRITY. The
 * agent takes what it runs from it (agent/signedrun.h).
 *
 * Prune: per service, releases not in use (the caller passes every digest
 * a slot runs, targets, or keeps as its previous release) are removed,
 * oldest use first, until `keep` remain.
 *
 * One mutex serialises install and prune (threads of several slots share
 * one installer). Ownership: struct sw_installer is the caller's
 * (sw_installer_release). Calls release/ (bundle, minisign), base/ (httpc,
 * hash, fs, json), libc.
 */
#ifndef SW_AGENT_INSTALLER_H
#define SW_AGENT_INSTALLER_H

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/httpc.h"
#include "release/bundle.h"
#include "release/minisign.h"

struct sw_installer {
	char root[PATH_MAX];
	char server[1024]; /* base URL; "" = never download (tests) */
	char token[256];   /* host token */
	struct sw_minisign_pubkey *keys;
	size_t nkeys;
	struct sw_bundle_limits limits; /* host-wide; see above */
	uint64_t download_timeout_ms;
	struct sw_httpc_tls tls; /* how to trust the server (the agent's; zeroed by init) */
	pthread_mutex_t lock;
};

/* Loads every root/trusted/<key id>.pub (at least one is needed) and creates the directories. */
int sw_installer_init(struct sw_installer *in, const char *root, const char *server, const char *token,
		      struct sw_err *err);
void sw_installer_release(struct sw_installer *in);

/* root/releases/<digest> into out. */
int sw_installer_release_dir(const struct sw_installer *in, const char *digest, char *out, size_t size);

/* Make releases/<digest>/ ready (see above); dir (may be NULL) gets its path. */
int sw_installer_install(struct sw_installer *in, const char *service, const char *digest, char *dir, size_t size,
			 struct sw_err *err);
/* The same with the environment's unpack limits (NULL: the host's only). */
int sw_installer_install_limited(struct sw_installer *in, const char *service, const char *digest,
				 const struct sw_bundle_limits *env, char *dir, size_t size, struct sw_err *err);

/* Check a bundle file: its sha256 is digest and sig_path verifies with a trusted key (SW_EINTEGRITY). */
int sw_installer_verify(const struct sw_installer *in, const char *bundle, const char *sig_path, const char *digest,
			struct sw_err *err);

/* The verified release.json of digest (see above) into *out (a new reference). */
int sw_installer_manifest(struct sw_installer *in, const char *service, const char *digest, json_t **out,
			  struct sw_err *err);

int sw_installer_prune(struct sw_installer *in, const char *service, unsigned keep, const char *const *in_use,
		       size_t n_in_use, struct sw_err *err);

#endif
