/*
 * api_releases.c - release upload, commit, metadata and download (routes in
 * routes.c).
 *
 * Files of a release on the server (DATA/releases/<digest>/):
 *   | file                    | limit   | content                           |
 *   | bundle.tar.zst          | 1 GiB   | the bundle; sha256 == <digest>    |
 *   | bundle.tar.zst.minisig  | 16 KiB  | minisign signature of the bundle  |
 *   | release.json            | 1 MiB   | the manifest (release/manifest.h) |
 *   | release.json.minisig    | 16 KiB  | minisign signature of the manifest|
 *   | unpacked.json           | 4 KiB   | the commit scan's totals (server) |
 * Uploads stream into incoming/<file>.part-<request id> and are renamed to
 * incoming/<file> when complete. Commit checks, in this order (422 naming
 * the first that fails): the bundle's sha256 equals <digest>, the bundle's
 * signature and the manifest's signature verify against a trusted key, the
 * manifest is well-formed, and it names sha256:<digest>, then the archive
 * itself with the agents' checker (release/bundle.h sw_bundle_scan: paths,
 * entry types, links, sizes and ratio against s->unpack_limits) and its
 * count of files against the manifest's `files`. An archive refused there
 * is 422 "archive check failed: ..." and its upload is removed. Only then
 * are the scan's totals written (unpacked.json, so that a deployment checks
 * an environment's unpack limits without reading the archive again under
 * the store lock), the files renamed into the release directory (manifest last) and the
 * release recorded with event release.uploaded, in one transaction. A
 * release that is already recorded with the same manifest is fine
 * (existed: true); with another manifest it is refused (422). A version
 * names one release: a new digest under a version its service already has
 * is refused (409 naming the other digest), checked before the files move
 * and again inside the recording transaction.
 *
 * GET /api/v1/releases lists the recorded releases with where each runs,
 * from the deployments (newest success per environment, or one under way)
 * and the hosts' reported slots.
 *
 * Abandoned uploads: sw_api_release_sweep() removes every file under
 * releases/<digest>/incoming/ not written for s->upload_timeout_ms, then
 * the directories left empty; the server runs it at start and from the
 * thread sw_api_release_sweeper().
 * Calls release/bundle, release/minisign, release/manifest, store/, base/.
 */
#include "server/api.h"
#include "base/buf.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/num.h"
#include "release/bundle.h"
#include "release/manifest.h"
#include "release/minisign.h"
#include "server/validate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sw_rel_file {
	const char *name;
	uint64_t max;
	const char *ctype;
};

static const struct sw_rel_file sw_rel_files[] = {
	{ "bundle.tar.zst", (uint64_t)1 << 30, "application/zstd" },
	{ "bundle.tar.zst.minisig", SW_MINISIGN_FILE_MAX, "text/plain; charset=utf-8" },
	{ "release.json", SW_MANIFEST_MAX_BYTES, "application/json" },
	{ "release.json.minisig", SW_MINISIGN_FILE_MAX, "text/plain; charset=utf-8" },
};
enum { REL_BUNDLE, REL_BUNDLE_SIG, REL_MANIFEST, REL_MANIFEST_SIG, REL_NFILES };

static const struct sw_rel_file *sw_rel_file_find(const char *name)
{
	size_t i;

	for (i = 0; i < REL_NFILES; i++)
		if (!strcmp(sw_rel_files[i].name, name))
			return &sw_rel_files[i];
	return NULL;
}

static int sw_rel_digest(struct sw_api *a, const char **digest, struct sw_err *err)
{
	*digest = sw_route_param(&a->params, "digest");
	if (!*digest || !sw_is_sha256_hex(*digest))
		return sw_val_fail(err, "digest", "release digest must be 64 lowercase hex digits");
	return 0;
}

static int sw_rel_dir(struct sw_server *s, const char *digest, const char *sub, char *out, size_t size,
		      struct sw_err *err)
{
	int rc = sub ? sw_snprintf(out, size, "%s/releases/%s/%s", s->data_dir, digest, sub)
		     : sw_snprintf(out, size, "%s/releases/%s", s->data_dir, digest);

	if (rc < 0)
		return sw_err_set(err, SW_EINTERNAL, "release path too long under '%s'", s->data_dir);
	return 0;
}

/* ---- upload ------------------------------------------------------------- */

int sw_api_release_prepare(struct sw_api *a, struct sw_err *err)
{
	const char *digest, *file = sw_route_param(&a->params, "file");
	const struct sw_rel_file *f;
	char dir[PATH_MAX];
	int fd;

	if (sw_rel_digest(a, &digest, err) < 0)
		return -1;
	f = file ? sw_rel_file_find(file) : NULL;
	if (!f)
		return sw_val_fail(err, "file",
				   "unknown release file '%.64s' (expected bundle.tar.zst, bundle.tar.zst.minisig, "
				   "release.json or release.json.minisig)",
				   file ? file : "");
	if (sw_rel_dir(a->srv, digest, "incoming", dir, sizeof(dir), err) < 0 || sw_fs_mkdirs(dir, 0700, err) < 0)
		return -1;
	if (sw_snprintf(a->upload_tmp, sizeof(a->upload_tmp), "%s/%s.part-%s", dir, f->name, a->req->id) < 0)
		return sw_err_set(err, SW_EINTERNAL, "upload path too long");
	fd = open(a->upload_tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT && sw_fs_mkdirs(dir, 0700, err) == 0) /* the sweeper removed it meanwhile */
		fd = open(a->upload_tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;

		a->upload_tmp[0] = '\0';
		return sw_err_set(err, SW_EIO, "cannot create an upload file in '%s': %s", dir, strerror(e));
	}
	sw_strlcpy(a->upload_name, f->name, sizeof(a->upload_name));
	a->req->body_fd = fd;
	a->req->body_max = f->max;
	return 0;
}

int sw_api_release_put(struct sw_api *a, struct sw_err *err)
{
	const char *digest = sw_route_param(&a->params, "digest");
	struct sw_http_req *r = a->req;
	char dir[PATH_MAX], dst[PATH_MAX];
	int fd = r->body_fd;

	r->body_fd = -1;
	if (fd < 0 || !a->upload_tmp[0])
		return sw_err_set(err, SW_EINTERNAL, "upload without a file");
	if (fsync(fd) < 0 || close(fd) < 0)
		return sw_err_set(err, SW_EIO, "cannot write upload '%s': %s", a->upload_tmp, strerror(errno));
	if (sw_rel_dir(a->srv, digest, "incoming", dir, sizeof(dir), err) < 0)
		return -1;
	if (sw_snprintf(dst, sizeof(dst), "%s/%s", dir, a->upload_name) < 0)
		return sw_err_set(err, SW_EINTERNAL, "upload path too long");
	if (rename(a->upload_tmp, dst) < 0)
		return sw_err_set(err, SW_EIO, "cannot rename '%s': %s", a->upload_tmp, strerror(errno));
	a->upload_tmp[0] = '\0';
	if (sw_fs_sync_dir(dir, err) < 0)
		return -1;
	return sw_api_reply(a, 200, json_pack("{s:s, s:s, s:I}", "digest", digest, "file", a->upload_name, "size",
					      (json_int_t)r->body_len));
}

/* ---- commit ------------------------------------------------------------- */

/* Verify one signature file against the trusted key that made it. */
static int sw_rel_verify_sig(struct sw_server *s, const char *path, const char *sig_path, const char *what,
			     char key_id[SW_MINISIGN_KEY_ID_HEX], struct sw_err *err)
{
	struct sw_minisign_sig *sig = sw_xcalloc(1, sizeof(*sig));
	struct sw_err e2 = SW_ERR_INIT;
	char id[SW_MINISIGN_KEY_ID_HEX];
	size_t i;
	int rc = -1;

	if (sw_minisign_sig_load(sig_path, sig, &e2) < 0) {
		sw_err_set(err, SW_EINTEGRITY, "%s check failed: %s", what, e2.msg);
		goto out;
	}
	sw_minisign_key_id(sig->keynum, id);
	for (i = 0; i < s->nkeys; i++)
		if (!memcmp(s->keys[i].pk.keynum, sig->keynum, SW_MINISIGN_KEYNUM_BYTES))
			break;
	if (i == s->nkeys) {
		sw_err_set(err, SW_EINTEGRITY, "%s check failed: signed by key %s, which is not trusted by this server",
			   what, id);
		goto out;
	}
	if (sw_minisign_verify_file(&s->keys[i].pk, sig, path, &e2) < 0) {
		sw_err_set(err, SW_EINTEGRITY, "%s check failed: %s", what, e2.msg);
		goto out;
	}
	if (key_id)
		memcpy(key_id, id, SW_MINISIGN_KEY_ID_HEX);
	rc = 0;
out:
	free(sig);
	return rc;
}

struct sw_rel_checked {
	json_t *manifest;
	char *canon;
	char key_id[SW_MINISIGN_KEY_ID_HEX];
	const char *service, *version;
	int archive_refused; /* the archive failed its checks: the upload is removed */
	struct sw_bundle_stats stats; /* what the scan measured: recorded beside the bundle */
};

/* What the commit's scan counts: the files the manifest counts, and the archive's totals. */
struct sw_rel_scan {
	uint64_t files; /* regular files and hardlinks, as `slipway verify` */
	struct sw_bundle_stats stats;
};

static int sw_rel_scan_entry(const struct sw_bundle_entry *e, void *ctx, struct sw_err *err)
{
	struct sw_rel_scan *sc = ctx;

	(void)err;
	if (e->type == SW_BUNDLE_FILE || e->type == SW_BUNDLE_HARDLINK)
		sc->files++;
	sw_bundle_stats_add(&sc->stats, e);
	return 0;
}

/* Every check of the uploaded files in inc/ (no lock held: hashing takes time). */
static int sw_rel_check(struct sw_server *s, const char *digest, const char *inc, struct sw_rel_checked *c,
			struct sw_err *err)
{
	char path[REL_NFILES][PATH_MAX], hex[SW_SHA256_HEX], want[SW_SHA256_HEX + 8];
	struct sw_buf text = SW_BUF_INIT(SW_MANIFEST_MAX_BYTES), canon = SW_BUF_INIT(SW_MANIFEST_MAX_BYTES * 2);
	struct sw_manifest_view v;
	struct sw_err e2 = SW_ERR_INIT;
	uint64_t size;
	size_t i;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < REL_NFILES; i++) {
		if (sw_snprintf(path[i], sizeof(path[i]), "%s/%s", inc, sw_rel_files[i].name) < 0)
			return sw_err_set(err, SW_EINTERNAL, "release path too long");
		if (!sw_fs_exists(path[i]))
			return sw_val_fail(err, sw_rel_files[i].name, "release file '%s' was not uploaded",
					   sw_rel_files[i].name);
	}
	if (sw_sha256_file_hex(path[REL_BUNDLE], hex, &size, err) < 0)
		return -1;
	if (strcmp(hex, digest))
		return sw_err_set(err, SW_EINTEGRITY, "digest check failed: the bundle's sha256 is %s, not %s", hex,
				  digest);
	if (s->nkeys == 0)
		return sw_err_set(err, SW_EINTEGRITY,
				  "bundle signature check failed: the server trusts no keys (use --trust or <data>/trusted/)");
	if (sw_rel_verify_sig(s, path[REL_BUNDLE], path[REL_BUNDLE_SIG], "bundle signature", c->key_id, err) < 0 ||
	    sw_rel_verify_sig(s, path[REL_MANIFEST], path[REL_MANIFEST_SIG], "manifest signature", NULL, err) < 0)
		return -1;
	if (sw_fs_read_file(path[REL_MANIFEST], SW_MANIFEST_MAX_BYTES, &text, &e2) < 0) {
		sw_err_set(err, SW_EINTEGRITY, "manifest check failed: %s", e2.msg);
		goto out;
	}
	c->manifest = sw_json_parse(text.data, text.len, SW_MANIFEST_MAX_BYTES, "release.json", &e2);
	if (!c->manifest || sw_manifest_check(c->manifest, "release.json", &v, &e2) < 0) {
		sw_err_set(err, SW_EINTEGRITY, "manifest check failed: %s", e2.msg);
		goto out;
	}
	snprintf(want, sizeof(want), "sha256:%s", digest);
	if (strcmp(v.digest, want)) {
		sw_err_set(err, SW_EINTEGRITY, "manifest digest check failed: release.json names %s, not %s", v.digest,
			   want);
		goto out;
	}
	if (v.size != size) {
		sw_err_set(err, SW_EINTEGRITY, "manifest size check failed: release.json says %llu bytes, the bundle has %llu",
			   (unsigned long long)v.size, (unsigned long long)size);
		goto out;
	}
	/* The archive, as every agent will check it: refused here rather than on every host. */
	{
		struct sw_rel_scan sc = { 0 };

		if (sw_bundle_scan(path[REL_BUNDLE], &s->unpack_limits, sw_rel_scan_entry, &sc, &e2) < 0) {
			sw_err_set(err, SW_EINTEGRITY, "archive check failed: %s", e2.msg);
			c->archive_refused = 1;
			goto out;
		}
		if (sc.files != v.files) {
			sw_err_set(err, SW_EINTEGRITY,
				   "archive check failed: the bundle holds %llu files, release.json says %llu",
				   (unsigned long long)sc.files, (unsigned long long)v.files);
			c->archive_refused = 1;
			goto out;
		}
		c->stats = sc.stats;
		c->stats.packed = size;
	}
	if (sw_json_canonical(c->manifest, &canon) < 0) {
		sw_err_set(err, SW_EINTEGRITY, "manifest check failed: cannot encode it");
		goto out;
	}
	c->canon = sw_buf_detach(&canon, NULL);
	c->service = v.service;
	c->version = v.version;
	rc = 0;
out:
	sw_buf_release(&text);
	sw_buf_release(&canon);
	if (rc < 0) {
		json_decref(c->manifest);
		c->manifest = NULL;
	}
	return rc;
}

/* Remove what is left of an upload (the committed files are elsewhere by now). */
static void sw_rel_clean_incoming(const char *inc)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < REL_NFILES; i++)
		if (sw_snprintf(path, sizeof(path), "%s/%s", inc, sw_rel_files[i].name) >= 0)
			unlink(path);
	rmdir(inc); /* fails, harmlessly, while another upload is in progress */
}

/*
 * A version names one release of a service: SW_EBUSY (409) when another
 * digest of c->service is recorded under c->version. Under the store lock.
 */
static int sw_rel_version_free(struct sw_server *s, const char *digest, const struct sw_rel_checked *c,
			       struct sw_err *err)
{
	json_t *arr = NULL, *r;
	size_t i;
	int rc = 0;

	if (sw_store_list_releases(s->store, c->service, &arr, err) < 0)
		return -1;
	json_array_foreach(arr, i, r)
	{
		const char *d = sw_json_str(r, "digest");

		if (!d || strcmp(sw_json_str(r, "version") ? sw_json_str(r, "version") : "", c->version) ||
		    !strcmp(d, digest))
			continue;
		rc = sw_err_set(err, SW_EBUSY,
				"version '%s' of '%s' is already release sha256:%s on this server; this upload is "
				"sha256:%s. A version names one release: release these outputs under a new version",
				c->version, c->service, d, digest);
		break;
	}
	json_decref(arr);
	return rc;
}

int sw_api_release_commit(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	char dir[PATH_MAX], inc[PATH_MAX], src[PATH_MAX], dst[PATH_MAX], bundle[PATH_MAX], subject[80];
	struct sw_rel_checked c;
	const char *digest;
	char *old = NULL;
	struct sw_err e2 = SW_ERR_INIT;
	int rc, existed;
	size_t i;

	if (sw_rel_digest(a, &digest, err) < 0 || sw_rel_dir(s, digest, NULL, dir, sizeof(dir), err) < 0 ||
	    sw_rel_dir(s, digest, "incoming", inc, sizeof(inc), err) < 0)
		return -1;
	sw_server_lock(s);
	rc = sw_store_get_release(s->store, digest, &old, NULL, &e2);
	sw_server_unlock(s);
	if (rc < 0 && e2.code != SW_ENOTFOUND) {
		*err = e2;
		return -1;
	}
	existed = rc == 0;
	if (existed && !sw_fs_exists(inc)) {
		/* Committed before and nothing new uploaded: say so. */
		json_t *m = json_loads(old, 0, NULL);

		free(old);
		rc = sw_api_reply(a, 200,
				  json_pack("{s:s, s:O?, s:O?, s:O?, s:b}", "digest", digest, "service",
					    json_object_get(m, "service"), "version", json_object_get(m, "version"),
					    "key_id", json_object_get(m, "key_id"), "existed", 1));
		json_decref(m);
		return rc;
	}
	if (sw_rel_check(s, digest, inc, &c, err) < 0) {
		free(old);
		if (c.archive_refused) {
			/* Nothing of a refused archive stays: not the upload, not an empty release directory. */
			sw_rel_clean_incoming(inc);
			rmdir(dir);
		}
		return -1;
	}
	if (existed) {
		int same = !strcmp(old, c.canon);

		free(old);
		if (!same) {
			sw_err_set(err, SW_EINTEGRITY, "release '%s' is already recorded with a different manifest", digest);
			goto fail;
		}
		sw_rel_clean_incoming(inc);
		rc = sw_api_reply(a, 200,
				  json_pack("{s:s, s:s, s:s, s:s, s:b}", "digest", digest, "service", c.service, "version",
					    c.version, "key_id", c.key_id, "existed", 1));
		json_decref(c.manifest);
		free(c.canon);
		return rc;
	}
	/* Refused before anything moves into place; checked again in the transaction below (a race). */
	sw_server_lock(s);
	rc = sw_rel_version_free(s, digest, &c, err);
	sw_server_unlock(s);
	if (rc < 0) {
		sw_rel_clean_incoming(inc);
		rmdir(dir);
		goto fail;
	}
	/* The scan's totals beside the bundle, so that deployments check their limits without a second scan. */
	if (sw_snprintf(dst, sizeof(dst), "%s/%s", dir, SW_BUNDLE_STATS_FILE) < 0 ||
	    sw_bundle_stats_write(dst, &c.stats, err) < 0)
		goto fail;
	/* Into place: the manifest last, so a directory with release.json is complete. */
	for (i = 0; i < REL_NFILES; i++) {
		size_t k = i < REL_MANIFEST ? i : (i == REL_MANIFEST ? REL_MANIFEST_SIG : REL_MANIFEST);

		if (sw_snprintf(src, sizeof(src), "%s/%s", inc, sw_rel_files[k].name) < 0 ||
		    sw_snprintf(dst, sizeof(dst), "%s/%s", dir, sw_rel_files[k].name) < 0) {
			sw_err_set(err, SW_EINTERNAL, "release path too long");
			goto fail;
		}
		if (rename(src, dst) < 0) {
			sw_err_set(err, SW_EIO, "cannot move '%s' into place: %s", src, strerror(errno));
			goto fail;
		}
	}
	if (sw_fs_sync_dir(dir, err) < 0)
		goto fail;
	sw_rel_clean_incoming(inc);
	snprintf(bundle, sizeof(bundle), "%s/%s", dir, sw_rel_files[REL_BUNDLE].name);
	snprintf(subject, sizeof(subject), "release/%s", digest);
	rc = -1;
	sw_server_lock(s);
	if (sw_store_begin(s->store, err) == 0) {
		if (sw_rel_version_free(s, digest, &c, err) == 0 &&
		    sw_store_put_release(s->store, digest, c.service, c.version, c.canon, bundle, err) == 0 &&
		    sw_api_event(a, "release.uploaded", subject,
				 json_pack("{s:s, s:s, s:s, s:s}", "digest", digest, "service", c.service, "version",
					   c.version, "key_id", c.key_id),
				 err) == 0 &&
		    sw_store_commit(s->store, err) == 0)
			rc = 0;
		else
			sw_store_rollback(s->store);
	}
	sw_server_unlock(s);
	if (rc < 0)
		goto fail;
	sw_server_notify(s);
	rc = sw_api_reply(a, 201,
			  json_pack("{s:s, s:s, s:s, s:s, s:b}", "digest", digest, "service", c.service, "version",
				    c.version, "key_id", c.key_id, "existed", 0));
	json_decref(c.manifest);
	free(c.canon);
	return rc;
fail:
	json_decref(c.manifest);
	free(c.canon);
	return -1;
}

/* ---- reading ------------------------------------------------------------ */

/* The committed release's manifest (SW_ENOTFOUND otherwise). */
static int sw_rel_committed(struct sw_api *a, const char *digest, json_t **manifest, struct sw_err *err)
{
	char *text = NULL;
	int rc;

	*manifest = NULL;
	sw_server_lock(a->srv);
	rc = sw_store_get_release(a->srv->store, digest, &text, NULL, err);
	sw_server_unlock(a->srv);
	if (rc < 0)
		return -1;
	*manifest = json_loads(text, 0, NULL);
	free(text);
	if (!*manifest)
		return sw_err_set(err, SW_EINTEGRITY, "release '%s' has a malformed manifest in the store", digest);
	return 0;
}

int sw_api_release_get(struct sw_api *a, struct sw_err *err)
{
	char dir[PATH_MAX], path[PATH_MAX];
	const char *digest;
	json_t *m, *files;
	size_t i;

	if (sw_rel_digest(a, &digest, err) < 0 || sw_rel_committed(a, digest, &m, err) < 0)
		return -1;
	if (sw_rel_dir(a->srv, digest, NULL, dir, sizeof(dir), err) < 0) {
		json_decref(m);
		return -1;
	}
	files = json_array();
	for (i = 0; i < REL_NFILES; i++)
		if (sw_snprintf(path, sizeof(path), "%s/%s", dir, sw_rel_files[i].name) >= 0 && sw_fs_exists(path))
			json_array_append_new(files, json_string(sw_rel_files[i].name));
	return sw_api_reply(a, 200,
			    json_pack("{s:s, s:O?, s:O?, s:o, s:o}", "digest", digest, "service",
				      json_object_get(m, "service"), "version", json_object_get(m, "version"), "manifest",
				      m, "files", files));
}

/* Where a release runs: environments and hosts, from deployments and agents' reports. */
struct sw_rel_where {
	json_t *deps;  /* [deployment], newest first */
	json_t *hosts; /* [host record] */
};

/*
 * envs: (service, env) whose newest succeeded deployment installed digest
 * ("succeeded"), or whose deployment of it is under way (its state).
 * hosts: slots an agent reports running digest (any state but "stopped").
 */
static void sw_rel_where_of(const struct sw_rel_where *w, const char *service, const char *digest, json_t *envs,
			    json_t *hosts)
{
	json_t *seen = json_object(), *d, *h, *e;
	size_t i, j;

	json_array_foreach(w->deps, i, d)
	{
		const char *env = sw_json_str(d, "env"), *st = sw_json_str(d, "state"), *dd = sw_json_str(d, "digest");
		bool active;

		if (!env || !st || !dd || strcmp(sw_json_str(d, "service") ? sw_json_str(d, "service") : "", service))
			continue;
		active = !strcmp(st, "pending") || !strcmp(st, "gated") || !strcmp(st, "progressing") ||
			 !strcmp(st, "paused");
		if (!strncmp(dd, "sha256:", 7))
			dd += 7;
		if (active && !strcmp(dd, digest)) {
			json_array_append_new(envs, json_pack("{s:s, s:s, s:O?}", "env", env, "state", st, "deployment",
							      json_object_get(d, "id")));
			continue;
		}
		if (strcmp(st, "succeeded") || json_object_get(seen, env))
			continue;
		json_object_set_new(seen, env, json_true()); /* the newest success of env decides */
		if (!strcmp(dd, digest))
			json_array_append_new(envs, json_pack("{s:s, s:s, s:O?}", "env", env, "state", st, "deployment",
							      json_object_get(d, "id")));
	}
	json_array_foreach(w->hosts, i, h)
	{
		if (json_is_true(json_object_get(h, "revoked")))
			continue;
		json_array_foreach(json_object_get(json_object_get(h, "status"), "services"), j, e)
		{
			const char *dd = sw_json_str(e, "digest"), *st = sw_json_str(e, "state");

			if (!dd || strcmp(sw_json_str(e, "service") ? sw_json_str(e, "service") : "", service))
				continue;
			if (!strncmp(dd, "sha256:", 7))
				dd += 7;
			if (strcmp(dd, digest) || (st && !strcmp(st, "stopped")))
				continue;
			json_array_append_new(hosts, json_pack("{s:O?, s:O?, s:O?, s:b}", "host", json_object_get(h, "name"),
							       "slot", json_object_get(e, "slot"), "state",
							       json_object_get(e, "state"), "active",
							       json_is_true(json_object_get(e, "active"))));
		}
	}
	json_decref(seen);
}

int sw_api_release_list(struct sw_api *a, struct sw_err *err)
{
	const char *service = sw_http_query(a->req, "service");
	struct sw_rel_where w = { NULL, NULL };
	json_t *rels = NULL, *out, *r;
	size_t i;
	int rc;

	if (service && !*service)
		service = NULL;
	if (service && !sw_val_name_ok(service))
		return sw_val_fail(err, "service", "query argument 'service' is not a valid service name");
	sw_server_lock(a->srv);
	rc = sw_store_list_releases(a->srv->store, service, &rels, err);
	if (rc == 0)
		rc = sw_store_deployment_list(a->srv->store, service, NULL, 0, 0, &w.deps, err);
	if (rc == 0)
		rc = sw_store_host_list(a->srv->store, &w.hosts, err);
	sw_server_unlock(a->srv);
	if (rc < 0)
		goto out;
	out = json_array();
	json_array_foreach(rels, i, r)
	{
		const json_t *m = json_object_get(r, "manifest");
		const char *digest = sw_json_str(r, "digest") ? sw_json_str(r, "digest") : "";
		const char *svc = sw_json_str(r, "service") ? sw_json_str(r, "service") : "";
		json_t *envs = json_array(), *hosts = json_array();
		char d[80];

		snprintf(d, sizeof(d), "sha256:%s", !strncmp(digest, "sha256:", 7) ? digest + 7 : digest);
		sw_rel_where_of(&w, svc, d + 7, envs, hosts);
		json_array_append_new(out, json_pack("{s:s, s:s, s:O?, s:O?, s:O?, s:O?, s:o, s:o}", "digest", d, "service",
						     svc, "version", json_object_get(r, "version"), "created",
						     json_object_get(m, "created"), "key_id", json_object_get(m, "key_id"),
						     "uploaded", json_object_get(r, "recorded"), "environments", envs,
						     "hosts", hosts));
	}
	rc = sw_api_reply(a, 200, out);
out:
	json_decref(rels);
	json_decref(w.deps);
	json_decref(w.hosts);
	return rc;
}

int sw_api_release_download(struct sw_api *a, struct sw_err *err)
{
	const char *digest, *file = sw_route_param(&a->params, "file");
	const struct sw_rel_file *f;
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat st;
	json_t *m;
	int fd;

	if (sw_rel_digest(a, &digest, err) < 0)
		return -1;
	f = file ? sw_rel_file_find(file) : NULL;
	if (!f)
		return sw_err_set(err, SW_ENOTFOUND, "unknown release file '%.64s'", file ? file : "");
	if (sw_rel_committed(a, digest, &m, err) < 0)
		return -1;
	json_decref(m);
	if (sw_rel_dir(a->srv, digest, NULL, dir, sizeof(dir), err) < 0 ||
	    sw_snprintf(path, sizeof(path), "%s/%s", dir, f->name) < 0)
		return sw_err_set(err, SW_EINTERNAL, "release path too long");
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return sw_err_set(err, SW_ENOTFOUND, "release '%s' has no file '%s'", digest, f->name);
		return sw_err_set(err, SW_EIO, "cannot open '%s': %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return sw_err_set(err, SW_EIO, "cannot read '%s'", path);
	}
	sw_http_reply_fd(a->req, fd, (uint64_t)st.st_size, f->ctype);
	return 0;
}

/* ---- abandoned uploads -------------------------------------------------- */

/* Remove the files of one incoming/ not written for max_age_ms, then incoming/ and its release dir if empty. */
static void sw_rel_sweep_incoming(const char *rdir, int64_t now_ms, uint64_t max_age_ms)
{
	char inc[PATH_MAX], path[PATH_MAX], age[32];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (sw_snprintf(inc, sizeof(inc), "%s/incoming", rdir) < 0 || !(d = opendir(inc)))
		return;
	while ((de = readdir(d))) {
		int64_t mtime_ms;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    sw_snprintf(path, sizeof(path), "%s/%s", inc, de->d_name) < 0 || lstat(path, &st) < 0)
			continue;
		mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		if (now_ms - mtime_ms < (int64_t)max_age_ms)
			continue;
		if (unlink(path) == 0)
			sw_info("removed abandoned upload '%s' (not committed, untouched for %s)", path,
				sw_format_duration_ms((uint64_t)(now_ms - mtime_ms), age, sizeof(age)));
	}
	closedir(d);
	if (rmdir(inc) == 0) /* fails, harmlessly, while an upload is in progress */
		rmdir(rdir);  /* fails, harmlessly, for a committed release */
}

void sw_api_release_sweep(struct sw_server *s)
{
	char dir[PATH_MAX], rdir[PATH_MAX];
	int64_t now = sw_clock_wall_ms();
	struct dirent *de;
	DIR *d;

	if (sw_snprintf(dir, sizeof(dir), "%s/releases", s->data_dir) < 0 || !(d = opendir(dir)))
		return;
	while ((de = readdir(d)))
		if (sw_is_sha256_hex(de->d_name) && sw_snprintf(rdir, sizeof(rdir), "%s/%s", dir, de->d_name) >= 0)
			sw_rel_sweep_incoming(rdir, now, s->upload_timeout_ms);
	closedir(d);
}

void *sw_api_release_sweeper(void *arg)
{
	struct sw_server *s = arg;
	uint64_t every = s->upload_timeout_ms / 4, next;
	struct timespec slice = { 0, 50 * 1000000L };

	if (every > 60000)
		every = 60000;
	if (every < 50)
		every = 50;
	next = sw_clock_mono_ms() + every;
	while (!atomic_load(&s->stopping)) {
		if (sw_clock_mono_ms() >= next) {
			sw_api_release_sweep(s);
			next = sw_clock_mono_ms() + every;
		}
		nanosleep(&slice, NULL);
	}
	return NULL;
}
