/*
 * installer.c - download, verify, unpack and prune releases on a host
 * (see installer.h). Calls release/, base/, libc.
 */
#include "agent/installer.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/httpc.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "release/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int sw_installer_path(const struct sw_installer *in, char *out, size_t size, const char *sub,
			     const char *digest, const char *suffix)
{
	return sw_snprintf(out, size, "%s/%s/%s%s", in->root, sub, digest, suffix);
}

int sw_installer_release_dir(const struct sw_installer *in, const char *digest, char *out, size_t size)
{
	return sw_installer_path(in, out, size, "releases", digest, "");
}

/* Remove what a killed agent may have left: unpack temp dirs, partial downloads. */
static void sw_installer_sweep(const char *dir, const char *marker)
{
	struct sw_err ignored = SW_ERR_INIT;
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strstr(de->d_name, marker) && sw_snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= 0)
			sw_fs_remove_tree(path, &ignored);
	closedir(d);
}

int sw_installer_init(struct sw_installer *in, const char *root, const char *server, const char *token,
		      struct sw_err *err)
{
	struct sw_bundle_limits lim = SW_BUNDLE_LIMITS_DEFAULT;
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;
	size_t cap = 0;

	memset(in, 0, sizeof(*in));
	pthread_mutex_init(&in->lock, NULL);
	in->limits = lim;
	in->download_timeout_ms = 10 * 60 * 1000;
	if (sw_strlcpy(in->root, root, sizeof(in->root)) < 0 || sw_strlcpy(in->server, server ? server : "",
									      sizeof(in->server)) < 0 ||
	    sw_strlcpy(in->token, token ? token : "", sizeof(in->token)) < 0)
		return sw_err_set(err, SW_EINPUT, "root, server URL or token too long");
	while (strlen(in->server) > 0 && in->server[strlen(in->server) - 1] == '/')
		in->server[strlen(in->server) - 1] = '\0';
	for (const char *const *sub = (const char *const[]){ "trusted", "bundles", "releases", NULL }; *sub; sub++) {
		if (sw_snprintf(dir, sizeof(dir), "%s/%s", root, *sub) < 0)
			return sw_err_set(err, SW_EINPUT, "path too long: '%s'", root);
		if (sw_fs_mkdirs(dir, 0755, err) < 0)
			return -1;
	}
	sw_snprintf(dir, sizeof(dir), "%s/releases", root);
	sw_installer_sweep(dir, ".unpack-");
	sw_snprintf(dir, sizeof(dir), "%s/bundles", root);
	sw_installer_sweep(dir, ".part.");
	sw_snprintf(dir, sizeof(dir), "%s/trusted", root);
	d = opendir(dir);
	if (!d)
		return sw_err_set(err, SW_EIO, "cannot open '%s': %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		size_t len = strlen(de->d_name);

		if (len < 5 || strcmp(de->d_name + len - 4, ".pub") || de->d_name[0] == '.')
			continue;
		if (sw_snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < 0)
			continue;
		if (in->nkeys == cap) {
			cap = cap ? cap * 2 : 4;
			in->keys = sw_xreallocarray(in->keys, cap, sizeof(*in->keys));
		}
		if (sw_minisign_pubkey_load(path, &in->keys[in->nkeys], err) < 0) {
			closedir(d);
			return -1;
		}
		in->nkeys++;
	}
	closedir(d);
	return 0;
}

void sw_installer_release(struct sw_installer *in)
{
	free(in->keys);
	in->keys = NULL;
	in->nkeys = 0;
	pthread_mutex_destroy(&in->lock);
}

/* A trusted key that made sig, or NULL (err says which key signed, SW_EINTEGRITY). */
static const struct sw_minisign_pubkey *sw_installer_signer(const struct sw_installer *in,
							    const struct sw_minisign_sig *sig, const char *what,
							    struct sw_err *err)
{
	char id[SW_MINISIGN_KEY_ID_HEX];
	size_t i;

	for (i = 0; i < in->nkeys; i++)
		if (!memcmp(in->keys[i].keynum, sig->keynum, sizeof(sig->keynum)))
			return &in->keys[i];
	sw_minisign_key_id(sig->keynum, id);
	if (in->nkeys == 0)
		sw_err_set(err, SW_EINTEGRITY, "%s signed by key %s, but this host trusts no key", what, id);
	else
		sw_err_set(err, SW_EINTEGRITY, "%s signed by key %s, which is not a trusted key", what, id);
	return NULL;
}

int sw_installer_verify(const struct sw_installer *in, const char *bundle, const char *sig_path, const char *digest,
			struct sw_err *err)
{
	const struct sw_minisign_pubkey *pk;
	struct sw_minisign_sig sig;
	char hex[SW_SHA256_HEX];
	uint64_t size;

	if (sw_sha256_file_hex(bundle, hex, &size, err) < 0)
		return -1;
	if (strcmp(hex, digest))
		return sw_err_set(err, SW_EINTEGRITY, "bundle digest mismatch: expected %.12s, got %.12s", digest, hex);
	if (sw_minisign_sig_load(sig_path, &sig, err) < 0) {
		if (err)
			err->code = SW_EINTEGRITY;
		return -1;
	}
	if (!(pk = sw_installer_signer(in, &sig, "bundle", err)))
		return -1;
	if (sw_minisign_verify_file(pk, &sig, bundle, err) < 0) {
		if (err)
			err->code = SW_EINTEGRITY;
		sw_err_prefix(err, "bundle signature does not verify");
		return -1;
	}
	return 0;
}

/* "no space left on device ..." when the failure was ENOSPC, so the report says what to fix. */
static void sw_installer_enospc(struct sw_err *err, const char *while_doing)
{
	char orig[SW_ERR_MSG_MAX];

	if (!err || !strstr(err->msg, strerror(ENOSPC)))
		return;
	sw_strlcpy(orig, err->msg, sizeof(orig));
	sw_err_set(err, SW_EIO, "no space left on device while %s (%s)", while_doing, orig);
}

static int sw_installer_download(struct sw_installer *in, const char *digest, const char *file, const char *dest,
				 struct sw_err *err)
{
	struct sw_buf resp = SW_BUF_INIT(65536);
	struct sw_httpc_req req = { 0 };
	char url[2048];
	long status = 0;
	int rc = -1;

	if (sw_snprintf(url, sizeof(url), "%s/api/v1/releases/%s/%s", in->server, digest, file) < 0)
		return sw_err_set(err, SW_EINPUT, "server URL too long");
	req.method = "GET";
	req.url = url;
	req.token = in->token;
	req.tls = &in->tls;
	req.download_path = dest;
	req.timeout_ms = in->download_timeout_ms;
	if (sw_httpc_do(&req, &status, &resp, err) < 0) {
		sw_installer_enospc(err, "downloading the bundle");
		goto out;
	}
	if (status == 200) {
		rc = 0;
	} else if (status == 404) {
		sw_err_set(err, SW_ENOTFOUND, "the server has no '%s' for release %.12s", file, digest);
	} else if (status == 401 || status == 403) {
		sw_err_set(err, SW_EAUTH, "the server refused the download of '%s' (HTTP %ld)", file, status);
	} else {
		sw_err_set(err, SW_EIO, "downloading '%s' of release %.12s failed: HTTP %ld", file, digest, status);
	}
out:
	sw_buf_release(&resp);
	return rc;
}

static void sw_installer_write_meta(const struct sw_installer *in, const char *service, const char *digest)
{
	struct sw_err ignored = SW_ERR_INIT;
	char path[PATH_MAX], ts[SW_TIME_STR_MAX];
	json_t *m;

	if (sw_installer_path(in, path, sizeof(path), "bundles", digest, ".json") < 0)
		return;
	sw_clock_format_utc(sw_clock_wall_ms(), ts, sizeof(ts));
	m = json_pack("{s:s, s:s, s:s, s:I}", "service", service, "digest", digest, "last_used", ts, "last_used_ms",
		      (json_int_t)sw_clock_wall_ms());
	if (m && sw_json_write_file(path, m, 0644, &ignored) < 0)
		sw_warn("cannot record the use of release %.12s: %s", digest, ignored.msg);
	json_decref(m);
}

static void sw_installer_remove(const struct sw_installer *in, const char *digest, bool with_dir)
{
	struct sw_err ignored = SW_ERR_INIT;
	char path[PATH_MAX];

	if (sw_installer_path(in, path, sizeof(path), "bundles", digest, ".tar.zst") >= 0)
		unlink(path);
	if (sw_installer_path(in, path, sizeof(path), "bundles", digest, ".tar.zst.minisig") >= 0)
		unlink(path);
	if (with_dir) {
		if (sw_installer_path(in, path, sizeof(path), "bundles", digest, ".release.json") >= 0)
			unlink(path);
		if (sw_installer_path(in, path, sizeof(path), "bundles", digest, ".release.json.minisig") >= 0)
			unlink(path);
		if (sw_installer_path(in, path, sizeof(path), "bundles", digest, ".json") >= 0)
			unlink(path);
		if (sw_installer_path(in, path, sizeof(path), "releases", digest, "") >= 0)
			sw_fs_remove_tree(path, &ignored);
	}
}

static int sw_installer_canceled(const struct sw_installer *in, const char *digest, struct sw_err *err)
{
	if (in->limits.cancel && atomic_load(in->limits.cancel))
		return sw_err_set(err, SW_ECANCELED, "install of release %.12s canceled: the agent is stopping", digest);
	return 0;
}

int sw_installer_install(struct sw_installer *in, const char *service, const char *digest, char *dir, size_t size,
			 struct sw_err *err)
{
	return sw_installer_install_limited(in, service, digest, NULL, dir, size, err);
}

int sw_installer_install_limited(struct sw_installer *in, const char *service, const char *digest,
				 const struct sw_bundle_limits *env, char *dir, size_t size, struct sw_err *err)
{
	char bundle[PATH_MAX], sig[PATH_MAX], rdir[PATH_MAX];
	struct sw_err verr = SW_ERR_INIT;
	struct sw_bundle_limits lim;
	int rc = -1;

	if (!sw_is_sha256_hex(digest))
		return sw_err_set(err, SW_EINPUT, "'%s' is not a sha256 digest", digest);
	if (sw_installer_path(in, bundle, sizeof(bundle), "bundles", digest, ".tar.zst") < 0 ||
	    sw_installer_path(in, sig, sizeof(sig), "bundles", digest, ".tar.zst.minisig") < 0 ||
	    sw_installer_release_dir(in, digest, rdir, sizeof(rdir)) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long under '%s'", in->root);
	if (env)
		sw_bundle_limits_merge(env, &in->limits, &lim);
	else
		lim = in->limits;
	pthread_mutex_lock(&in->lock);
	if (sw_installer_canceled(in, digest, err) < 0)
		goto out;
	if (sw_fs_exists(bundle) && sw_fs_exists(sig)) {
		if (sw_installer_verify(in, bundle, sig, digest, &verr) == 0)
			goto have_bundle;
		/* A local copy that no longer verifies: fetch it again, and do not trust what came from it. */
		sw_warn("release %.12s on disk does not verify (%s); downloading it again", digest, verr.msg);
		sw_installer_remove(in, digest, true);
	}
	if (!in->server[0]) {
		sw_err_set(err, SW_ENOTFOUND, "release %.12s is not on this host and no server is set", digest);
		goto out;
	}
	if (sw_installer_download(in, digest, "bundle.tar.zst.minisig", sig, err) < 0 ||
	    sw_installer_download(in, digest, "bundle.tar.zst", bundle, err) < 0) {
		unlink(sig);
		unlink(bundle);
		goto out;
	}
	if (sw_installer_verify(in, bundle, sig, digest, err) < 0) {
		sw_installer_remove(in, digest, true);
		goto out;
	}
have_bundle:
	if (!sw_fs_is_dir(rdir)) {
		if (sw_installer_canceled(in, digest, err) < 0 || sw_bundle_unpack(bundle, rdir, &lim, err) < 0) {
			if (err && (err->code == SW_EINPUT || err->code == SW_EINTEGRITY)) {
				/* The archive itself is unsafe: never keep or run it. */
				sw_err_prefix(err, "archive refused by the unpacker");
				err->code = SW_EINTEGRITY;
			} else if (err && err->code != SW_ECANCELED) {
				sw_installer_enospc(err, "unpacking the release");
			}
			/* Never installed: nothing of it stays (a bundle without its release is never pruned). */
			sw_installer_remove(in, digest, true);
			goto out;
		}
	}
	sw_installer_write_meta(in, service, digest);
	if (dir && sw_strlcpy(dir, rdir, size) < 0) {
		sw_err_set(err, SW_EINPUT, "path too long: '%s'", rdir);
		goto out;
	}
	rc = 0;
out:
	pthread_mutex_unlock(&in->lock);
	return rc;
}

/*
 * release.json at path, signed (sig_path) by a trusted key, naming this
 * digest and service: parsed into *out. Any failure is SW_EINTEGRITY.
 */
static int sw_installer_check_manifest(const struct sw_installer *in, const char *path, const char *sig_path,
				       const char *service, const char *digest, json_t **out, struct sw_err *err)
{
	struct sw_buf text = SW_BUF_INIT((size_t)SW_MANIFEST_MAX_BYTES + 1);
	const struct sw_minisign_pubkey *pk;
	struct sw_manifest_view v;
	struct sw_minisign_sig sig;
	json_t *m = NULL;
	int rc = -1;

	*out = NULL;
	if (sw_minisign_sig_load(sig_path, &sig, err) < 0 ||
	    sw_fs_read_file(path, SW_MANIFEST_MAX_BYTES, &text, err) < 0)
		goto out;
	if (!(pk = sw_installer_signer(in, &sig, "release.json", err)))
		goto out;
	if (sw_minisign_verify_mem(pk, &sig, text.data ? text.data : "", text.len, err) < 0) {
		sw_err_prefix(err, "release.json signature does not verify");
		goto out;
	}
	m = sw_json_parse(text.data ? text.data : "", text.len, SW_MANIFEST_MAX_BYTES, "release.json", err);
	if (!m || sw_manifest_check(m, "release.json", &v, err) < 0)
		goto out;
	if (strcmp(v.digest + 7, digest)) {
		sw_err_set(err, SW_EINTEGRITY, "release.json names release %.12s, not %.12s", v.digest + 7, digest);
		goto out;
	}
	if (strcmp(v.service, service)) {
		sw_err_set(err, SW_EINTEGRITY, "release %.12s is of service '%s', not '%s'", digest, v.service, service);
		goto out;
	}
	*out = m;
	m = NULL;
	rc = 0;
out:
	if (rc < 0 && err)
		err->code = SW_EINTEGRITY;
	json_decref(m);
	sw_buf_release(&text);
	return rc;
}

int sw_installer_manifest(struct sw_installer *in, const char *service, const char *digest, json_t **out,
			  struct sw_err *err)
{
	char path[PATH_MAX], sig[PATH_MAX];
	struct sw_err verr = SW_ERR_INIT;
	int rc = -1;

	*out = NULL;
	if (!sw_is_sha256_hex(digest))
		return sw_err_set(err, SW_EINPUT, "'%s' is not a sha256 digest", digest);
	if (sw_installer_path(in, path, sizeof(path), "bundles", digest, ".release.json") < 0 ||
	    sw_installer_path(in, sig, sizeof(sig), "bundles", digest, ".release.json.minisig") < 0)
		return sw_err_set(err, SW_EINPUT, "path too long under '%s'", in->root);
	pthread_mutex_lock(&in->lock);
	if (sw_fs_exists(path) && sw_fs_exists(sig)) {
		if (sw_installer_check_manifest(in, path, sig, service, digest, out, &verr) == 0) {
			rc = 0;
			goto out;
		}
		sw_warn("release.json of %.12s on disk does not verify (%s); downloading it again", digest, verr.msg);
	}
	unlink(path);
	unlink(sig);
	if (!in->server[0]) {
		if (verr.code != SW_OK && err)
			*err = verr; /* nowhere to fetch it again from: why the local copy was refused */
		else
			sw_err_set(err, SW_ENOTFOUND, "release %.12s is not on this host and no server is set", digest);
		goto out;
	}
	if (sw_installer_download(in, digest, "release.json.minisig", sig, err) < 0 ||
	    sw_installer_download(in, digest, "release.json", path, err) < 0)
		goto fail;
	if (sw_installer_check_manifest(in, path, sig, service, digest, out, err) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	unlink(path);
	unlink(sig);
out:
	pthread_mutex_unlock(&in->lock);
	return rc;
}

struct sw_installer_item {
	char digest[SW_SHA256_HEX];
	int64_t used_ms;
};

static int sw_installer_item_cmp(const void *a, const void *b)
{
	const struct sw_installer_item *x = a, *y = b;

	if (x->used_ms != y->used_ms)
		return x->used_ms > y->used_ms ? -1 : 1; /* newest first */
	return strcmp(x->digest, y->digest);
}

int sw_installer_prune(struct sw_installer *in, const char *service, unsigned keep, const char *const *in_use,
		       size_t n_in_use, struct sw_err *err)
{
	struct sw_installer_item *items = NULL;
	size_t n = 0, cap = 0, i, j, kept = 0;
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (sw_snprintf(dir, sizeof(dir), "%s/bundles", in->root) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long: '%s'", in->root);
	pthread_mutex_lock(&in->lock);
	d = opendir(dir);
	if (!d) {
		pthread_mutex_unlock(&in->lock);
		return sw_err_set(err, SW_EIO, "cannot open '%s': %s", dir, strerror(errno));
	}
	while ((de = readdir(d))) {
		char path[PATH_MAX], hex[SW_SHA256_HEX];
		size_t len = strlen(de->d_name);
		const char *svc;
		json_t *m;

		if (len != 64 + 5 || strcmp(de->d_name + 64, ".json"))
			continue;
		memcpy(hex, de->d_name, 64);
		hex[64] = '\0';
		if (!sw_is_sha256_hex(hex) || sw_snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < 0)
			continue;
		m = sw_json_load_file(path, 65536, NULL);
		svc = sw_json_str(m, "service");
		if (svc && !strcmp(svc, service)) {
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				items = sw_xreallocarray(items, cap, sizeof(*items));
			}
			memcpy(items[n].digest, hex, sizeof(hex));
			items[n].used_ms = sw_json_int(m, "last_used_ms", 0);
			n++;
		}
		json_decref(m);
	}
	closedir(d);
	if (n)
		qsort(items, n, sizeof(*items), sw_installer_item_cmp);
	/* In-use releases always stay and count against keep; the newest others fill the rest. */
	for (i = 0; i < n; i++)
		for (j = 0; j < n_in_use; j++)
			if (in_use[j] && !strcmp(in_use[j], items[i].digest)) {
				kept++;
				items[i].used_ms = -1; /* mark: in use */
				break;
			}
	for (i = 0; i < n; i++) {
		if (items[i].used_ms == -1)
			continue;
		if (kept < keep) {
			kept++;
			continue;
		}
		sw_info("pruning release %.12s of '%s'", items[i].digest, service);
		sw_installer_remove(in, items[i].digest, true);
	}
	pthread_mutex_unlock(&in->lock);
	free(items);
	return 0;
}
