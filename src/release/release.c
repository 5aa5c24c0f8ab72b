/*
 * release.c - create a release (bundle, SBOM, provenance, manifest,
 * signatures; all or nothing) and verify one (see release.h).
 * Owns temporary files while it works; the result's manifest is the
 * caller's. Calls the other release/ modules, jansson, libsodium, libc and base/.
 */
#include "release/release.h"
#include "base/buf.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/num.h"
#include "release/bundle.h"
#include "release/catalog.h"
#include "release/manifest.h"
#include "release/provenance.h"
#include "release/sbom.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const sw_release_suffix[SW_RELEASE_NFILES] = {
	[SW_RELEASE_BUNDLE] = ".tar.zst",
	[SW_RELEASE_SBOM] = ".sbom.cdx.json",
	[SW_RELEASE_PROVENANCE] = ".provenance.intoto.json",
	[SW_RELEASE_BUNDLE_SIG] = ".tar.zst.minisig",
	[SW_RELEASE_MANIFEST_SIG] = ".release.json.minisig",
	[SW_RELEASE_MANIFEST] = ".release.json",
};

const char *sw_release_file_name(enum sw_release_file f, const char *hex, char *out, size_t size)
{
	snprintf(out, size, "%s%s", hex, sw_release_suffix[f]);
	return out;
}

bool sw_release_safe_name(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > 128 || s[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_' || c == '.'))
			return false;
	}
	return true;
}

/* ---- inputs ---- */

int sw_release_load_run(const char *runs_dir, const char *service, json_t **summary, struct sw_err *err)
{
	char latest[PATH_MAX], path[PATH_MAX], id[256];
	struct sw_buf b = SW_BUF_INIT(512);
	const char *status, *sid, *ssvc;
	json_t *s;
	size_t n;

	*summary = NULL;
	if (!sw_release_safe_name(service))
		return sw_err_set(err, SW_EINPUT, "service name '%s' cannot be used in a path", service);
	if (sw_snprintf(latest, sizeof(latest), "%s/%s/latest", runs_dir, service) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long under '%s'", runs_dir);
	if (sw_fs_read_file(latest, 256, &b, err) < 0) {
		sw_buf_release(&b);
		if (err && err->code == SW_ENOTFOUND)
			return sw_err_set(err, SW_ENOTFOUND, /* missing input, as a missing key is: exit 2 */
					  "no pipeline run of service '%s' found; run 'slipway run' first", service);
		return -1;
	}
	n = b.len;
	while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r' || b.data[n - 1] == ' '))
		n--;
	sw_buf_truncate(&b, n);
	sw_strlcpy(id, sw_buf_str(&b), sizeof(id));
	sw_buf_release(&b);
	if (!sw_release_safe_name(id))
		return sw_err_set(err, SW_EINPUT, "'%s' does not hold a valid run id", latest);
	if (sw_snprintf(path, sizeof(path), "%s/%s/%s/summary.json", runs_dir, service, id) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long under '%s'", runs_dir);
	s = sw_json_load_file(path, 16u << 20, err);
	if (!s) {
		if (err && err->code == SW_ENOTFOUND)
			return sw_err_set(err, SW_ENOTFOUND,
					  "the latest run of service '%s' (%s) has no summary; run 'slipway run' again", service,
					  id);
		return -1;
	}
	status = sw_json_str(s, "status");
	sid = sw_json_str(s, "run_id");
	ssvc = sw_json_str(s, "service");
	if (!json_is_object(s) || !status || !sid) {
		json_decref(s);
		return sw_err_set(err, SW_EINPUT, "'%s': run_id and status must be strings", path);
	}
	if (strcmp(sid, id) || (ssvc && strcmp(ssvc, service))) {
		json_decref(s);
		return sw_err_set(err, SW_EINPUT, "'%s' describes run '%s' of '%s', expected run '%s' of '%s'", path, sid,
				  ssvc ? ssvc : "?", id, service);
	}
	if (strcmp(status, "passed")) {
		sw_err_set(err, SW_EFAILED,
			   "the latest pipeline run of '%s' (%s) has status '%s', not 'passed'; fix it and run 'slipway run' "
			   "again",
			   service, id, status);
		json_decref(s);
		return -1;
	}
	*summary = s;
	return 0;
}

int sw_release_mtime(const struct sw_git_info *git, int64_t *mtime, struct sw_err *err)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");

	if (sde && *sde) {
		if (sw_parse_i64(sde, strlen(sde), 0, INT64_C(253402300799), mtime) < 0)
			return sw_err_set(err, SW_EINPUT, "SOURCE_DATE_EPOCH='%s' is not a number of seconds", sde);
		return 0;
	}
	*mtime = git && git->found ? git->commit_time : 0;
	return 0;
}

const char *sw_release_version(const char *flag, const char *spec_version, const struct sw_git_info *git, char *out,
			       size_t size)
{
	if (flag && *flag)
		snprintf(out, size, "%s", flag);
	else if (spec_version && *spec_version)
		snprintf(out, size, "%s", spec_version);
	else
		sw_gitinfo_version(git, out, size);
	return out;
}

/* ---- writing ---- */

static int sw_write_new(const char *path, const void *data, size_t len, struct sw_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return sw_err_set(err, SW_EIO, "cannot create '%s': %s", path, strerror(errno));
	if (sw_fs_write_all(fd, data, len, path, err) < 0) {
		close(fd);
		unlink(path);
		return -1;
	}
	return sw_fs_close_synced(fd, path, err);
}

struct sw_rel_files {
	char tmp[SW_RELEASE_NFILES][PATH_MAX];
	bool have_tmp[SW_RELEASE_NFILES];
	bool placed[SW_RELEASE_NFILES];
};

static void sw_rel_cleanup(struct sw_rel_files *f, const struct sw_release_result *res)
{
	int i;

	for (i = 0; i < SW_RELEASE_NFILES; i++) {
		if (f->have_tmp[i])
			unlink(f->tmp[i]);
		if (f->placed[i])
			unlink(res->paths[i]);
		f->have_tmp[i] = f->placed[i] = false;
	}
}

static int sw_json_to_file(const json_t *v, const char *path, char sha[SW_SHA256_HEX], struct sw_buf *keep,
			   struct sw_err *err)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	int rc;

	if (!v || sw_json_pretty(v, &b) < 0) {
		sw_buf_release(&b);
		return sw_err_set(err, SW_EINTERNAL, "cannot encode '%s'", path);
	}
	sw_sha256_hex(b.data, b.len, sha);
	rc = sw_write_new(path, b.data, b.len, err);
	if (rc == 0 && keep) {
		sw_buf_release(keep);
		*keep = b;
	} else {
		sw_buf_release(&b);
	}
	return rc;
}

static int sw_rel_existing(const struct sw_release_params *p, struct sw_release_result *res, struct sw_err *err)
{
	const char *path = res->paths[SW_RELEASE_MANIFEST];
	struct sw_manifest_view v;
	json_t *m = sw_json_load_file(path, SW_MANIFEST_MAX_BYTES, err);

	if (!m)
		return -1;
	if (sw_manifest_check(m, path, &v, err) < 0) {
		json_decref(m);
		return -1;
	}
	if (strcmp(v.service, p->service) || strcmp(v.version, p->version)) {
		sw_err_set(err, SW_EINPUT,
			   "bundle sha256:%s was already released as version '%s' of '%s' ('%s'); the outputs have not "
			   "changed, so it cannot be released again as version '%s' of '%s' (a release is named by its "
			   "bundle's digest, and a digest has one version: deploy '%s' or change the outputs)",
			   res->digest, v.version, v.service, path, p->version, p->service, v.version);
		json_decref(m);
		return -1;
	}
	res->existed = true;
	res->manifest = m;
	res->nfiles = (size_t)v.files;
	res->size = v.size;
	return 0;
}

/* A version names one release: refuse new outputs under a version another digest of the service holds. */
static int sw_rel_version_taken(const struct sw_release_params *p, const char *hex, struct sw_err *err)
{
	struct sw_catalog cat = SW_CATALOG_INIT;
	size_t i;
	int rc = 0;

	if (sw_catalog_load_dir(&cat, p->out_dir, p->service, err) < 0)
		return -1;
	for (i = 0; i < cat.n; i++) {
		const struct sw_catalog_entry *e = &cat.v[i];

		if (strcmp(e->version, p->version) || !strcmp(e->digest + 7, hex))
			continue;
		rc = sw_err_set(err, SW_EINPUT,
				"version '%s' of '%s' is already release %s ('%s'); these outputs are sha256:%s. A version "
				"names one release: give these outputs a new version (--version, or 'version:' in "
				"slipway.yml)",
				p->version, p->service, e->digest, e->manifest, hex);
		break;
	}
	sw_catalog_release(&cat);
	return rc;
}

static void sw_rel_tmp_name(const char *dir, enum sw_release_file f, char *out, size_t size)
{
	unsigned char r[8];
	char hex[17];

	randombytes_buf(r, sizeof(r));
	sw_hex_encode(r, sizeof(r), hex);
	snprintf(out, size, "%s/.tmp-%ld-%s%s", dir, (long)getpid(), hex, sw_release_suffix[f]);
}

int sw_release_create(const struct sw_release_params *p, struct sw_release_result *res, struct sw_err *err)
{
	struct sw_bundle_list list;
	struct sw_bundle_result br;
	struct sw_rel_files f;
	struct sw_buf mbuf = SW_BUF_INIT(SW_BUF_UNLIMITED), sig = SW_BUF_INIT(SW_MINISIGN_FILE_MAX);
	char sbom_sha[SW_SHA256_HEX], prov_sha[SW_SHA256_HEX];
	char names[SW_RELEASE_NFILES][SW_SHA256_HEX + 32];
	json_t *sbom = NULL, *prov = NULL;
	int64_t now_s = p->now_ms / 1000;
	size_t i;
	int k, rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&f, 0, sizeof(f));
	sw_bundle_list_init(&list);
	sw_minisign_key_id(p->key->keynum, res->key_id);
	if (p->noutputs == 0)
		return sw_err_set(err, SW_EINPUT, "no job of '%s' declares outputs; there is nothing to release", p->service);
	for (i = 0; i < p->noutputs; i++) {
		if (sw_bundle_list_add(&list, p->base_dir, p->outputs[i].path, err) < 0) {
			sw_err_prefix(err, "job '%s'", p->outputs[i].job);
			goto out;
		}
	}
	if (sw_bundle_list_finish(&list, err) < 0)
		goto out;
	for (i = 0; i < list.n && list.v[i].type != SW_BUNDLE_FILE; i++)
		;
	if (i == list.n) {
		sw_err_set(err, SW_EINPUT, "the outputs of '%s' hold no files; there is nothing to release", p->service);
		goto out;
	}
	if (sw_fs_mkdirs(p->out_dir, 0755, err) < 0)
		goto out;

	/* The bundle first: its digest names everything else. */
	sw_rel_tmp_name(p->out_dir, SW_RELEASE_BUNDLE, f.tmp[SW_RELEASE_BUNDLE], PATH_MAX);
	if (sw_bundle_write(&list, f.tmp[SW_RELEASE_BUNDLE], p->mtime, &br, err) < 0)
		goto out;
	f.have_tmp[SW_RELEASE_BUNDLE] = true;
	memcpy(res->digest, br.sha256, sizeof(res->digest));
	res->size = br.size;
	res->nfiles = br.nfiles;
	for (k = 0; k < SW_RELEASE_NFILES; k++) {
		sw_release_file_name((enum sw_release_file)k, res->digest, names[k], sizeof(names[k]));
		if (sw_path_join(res->paths[k], PATH_MAX, p->out_dir, names[k]) < 0) {
			sw_err_set(err, SW_EINPUT, "path too long under '%s'", p->out_dir);
			goto out;
		}
	}
	if (sw_fs_exists(res->paths[SW_RELEASE_MANIFEST])) {
		if (sw_rel_existing(p, res, err) < 0)
			goto out;
		rc = 0;
		goto out;
	}
	if (sw_rel_version_taken(p, res->digest, err) < 0)
		goto out;

	sbom = sw_sbom_build(p->service, p->version, res->digest, &list);
	sw_rel_tmp_name(p->out_dir, SW_RELEASE_SBOM, f.tmp[SW_RELEASE_SBOM], PATH_MAX);
	if (sw_json_to_file(sbom, f.tmp[SW_RELEASE_SBOM], sbom_sha, NULL, err) < 0)
		goto out;
	f.have_tmp[SW_RELEASE_SBOM] = true;

	{
		struct sw_provenance_input pi = {
			.service = p->service,
			.version = p->version,
			.bundle_name = names[SW_RELEASE_BUNDLE],
			.bundle_sha256 = res->digest,
			.spec_name = p->spec_name,
			.spec_sha256 = p->spec_sha256,
			.jobs = p->jobs,
			.njobs = p->njobs,
			.git = p->git,
			.run_id = sw_json_str(p->summary, "run_id") ? sw_json_str(p->summary, "run_id") : "",
			.started = sw_json_str(p->summary, "started"),
			.finished = sw_json_str(p->summary, "finished"),
			.stale = p->stale,
		};

		prov = sw_provenance_build(&pi);
	}
	sw_rel_tmp_name(p->out_dir, SW_RELEASE_PROVENANCE, f.tmp[SW_RELEASE_PROVENANCE], PATH_MAX);
	if (sw_json_to_file(prov, f.tmp[SW_RELEASE_PROVENANCE], prov_sha, NULL, err) < 0)
		goto out;
	f.have_tmp[SW_RELEASE_PROVENANCE] = true;

	{
		struct sw_manifest_input mi = {
			.service = p->service,
			.version = p->version,
			.digest_hex = res->digest,
			.bundle_name = names[SW_RELEASE_BUNDLE],
			.size = res->size,
			.created_ms = p->now_ms,
			.git = p->git,
			.summary = p->summary,
			.nfiles = res->nfiles,
			.sbom_file = names[SW_RELEASE_SBOM],
			.sbom_sha256 = sbom_sha,
			.provenance_file = names[SW_RELEASE_PROVENANCE],
			.provenance_sha256 = prov_sha,
			.key_id = res->key_id,
			.spec_text = p->spec_text,
			.stale = p->stale,
		};
		char msha[SW_SHA256_HEX];

		res->manifest = sw_manifest_build(&mi);
		sw_rel_tmp_name(p->out_dir, SW_RELEASE_MANIFEST, f.tmp[SW_RELEASE_MANIFEST], PATH_MAX);
		if (sw_json_to_file(res->manifest, f.tmp[SW_RELEASE_MANIFEST], msha, &mbuf, err) < 0)
			goto out;
		f.have_tmp[SW_RELEASE_MANIFEST] = true;
	}

	/* Signatures over the bytes just written. */
	if (sw_minisign_sign_file(p->key, f.tmp[SW_RELEASE_BUNDLE], names[SW_RELEASE_BUNDLE], now_s, &sig, err) < 0)
		goto out;
	sw_rel_tmp_name(p->out_dir, SW_RELEASE_BUNDLE_SIG, f.tmp[SW_RELEASE_BUNDLE_SIG], PATH_MAX);
	if (sw_write_new(f.tmp[SW_RELEASE_BUNDLE_SIG], sig.data, sig.len, err) < 0)
		goto out;
	f.have_tmp[SW_RELEASE_BUNDLE_SIG] = true;
	sw_buf_reset(&sig);
	if (sw_minisign_sign_mem(p->key, mbuf.data, mbuf.len, names[SW_RELEASE_MANIFEST], now_s, &sig, err) < 0)
		goto out;
	sw_rel_tmp_name(p->out_dir, SW_RELEASE_MANIFEST_SIG, f.tmp[SW_RELEASE_MANIFEST_SIG], PATH_MAX);
	if (sw_write_new(f.tmp[SW_RELEASE_MANIFEST_SIG], sig.data, sig.len, err) < 0)
		goto out;
	f.have_tmp[SW_RELEASE_MANIFEST_SIG] = true;

	/* Everything is written: move it into place, release.json last. */
	for (k = 0; k < SW_RELEASE_NFILES; k++) {
		if (rename(f.tmp[k], res->paths[k]) < 0) {
			sw_err_set(err, SW_EIO, "cannot rename '%s' to '%s': %s", f.tmp[k], res->paths[k], strerror(errno));
			goto out;
		}
		f.have_tmp[k] = false;
		f.placed[k] = true;
	}
	if (sw_fs_sync_dir(p->out_dir, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0) {
		sw_rel_cleanup(&f, res);
		json_decref(res->manifest);
		res->manifest = NULL;
	} else {
		for (k = 0; k < SW_RELEASE_NFILES; k++)
			if (f.have_tmp[k])
				unlink(f.tmp[k]);
	}
	json_decref(sbom);
	json_decref(prov);
	sw_buf_release(&mbuf);
	sw_buf_release(&sig);
	sw_bundle_list_release(&list);
	return rc;
}

void sw_release_remove(const struct sw_release_result *res)
{
	int k;

	if (res->existed)
		return;
	for (k = SW_RELEASE_NFILES - 1; k >= 0; k--)
		if (res->paths[k][0])
			unlink(res->paths[k]);
}

void sw_release_result_release(struct sw_release_result *res)
{
	json_decref(res->manifest);
	res->manifest = NULL;
}

/* ---- verification ---- */

static struct sw_verify_check *sw_vcheck(struct sw_verify_report *rep, const char *name, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static struct sw_verify_check *sw_vcheck(struct sw_verify_report *rep, const char *name, bool ok, const char *fmt, ...)
{
	struct sw_verify_check *c;
	va_list ap;

	SW_BUG_ON(rep->n >= SW_VERIFY_MAX_CHECKS);
	c = &rep->checks[rep->n++];
	c->name = name;
	c->ok = ok;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	if (!ok)
		rep->ok = false;
	return c;
}

static void sw_verify_sig(struct sw_verify_report *rep, const char *name, const char *file, const char *sigpath,
			  const struct sw_minisign_pubkey *pk)
{
	struct sw_err e = SW_ERR_INIT;
	struct sw_minisign_sig sig;
	char id[SW_MINISIGN_KEY_ID_HEX];
	size_t i;

	if (sw_minisign_sig_load(sigpath, &sig, &e) < 0) {
		if (e.code == SW_ENOTFOUND)
			sw_vcheck(rep, name, false, "signature '%s' is missing", sigpath);
		else
			sw_vcheck(rep, name, false, "%s", e.msg);
		return;
	}
	if (sw_minisign_verify_file(pk, &sig, file, &e) < 0) {
		sw_vcheck(rep, name, false, "%s", e.msg);
		return;
	}
	sw_minisign_key_id(sig.keynum, id);
	for (i = 0; i < sig.trusted_len; i++)
		if (sig.trusted[i] == '\t' || (unsigned char)sig.trusted[i] < 0x20)
			sig.trusted[i] = ' ';
	sw_vcheck(rep, name, true, "key %s, trusted comment: %s", id, sig.trusted);
}

struct sw_verify_scan {
	json_t *sbom_files; /* name -> hex, or NULL */
	json_t *seen;       /* names met */
	uint64_t files;
	char problem[640];
};

static int sw_verify_entry(const struct sw_bundle_entry *e, void *ctx, struct sw_err *err)
{
	struct sw_verify_scan *s = ctx;
	const char *want;

	(void)err;
	if (e->type != SW_BUNDLE_FILE && e->type != SW_BUNDLE_HARDLINK)
		return 0;
	s->files++;
	json_object_set_new(s->seen, e->path, json_true());
	if (!s->sbom_files || s->problem[0])
		return 0;
	want = json_string_value(json_object_get(s->sbom_files, e->path));
	if (!want)
		snprintf(s->problem, sizeof(s->problem), "'%s' is in the bundle but not in the SBOM", e->path);
	else if (strcmp(want, e->sha256))
		snprintf(s->problem, sizeof(s->problem), "'%s' has sha256 %s, the SBOM says %s", e->path, e->sha256, want);
	return 0;
}

static json_t *sw_verify_json(const char *path, const char *want_sha, struct sw_verify_report *rep,
			      const char *name, struct sw_verify_check **check)
{
	struct sw_err e = SW_ERR_INIT;
	char sha[SW_SHA256_HEX];
	json_t *v;

	*check = NULL;
	if (sw_sha256_file_hex(path, sha, NULL, &e) < 0) {
		*check = sw_vcheck(rep, name, false, "%s", e.msg);
		return NULL;
	}
	if (want_sha && strcmp(sha, want_sha)) {
		*check = sw_vcheck(rep, name, false, "'%s' has sha256 %s, release.json says %s", path, sha, want_sha);
		return NULL;
	}
	v = sw_json_load_file(path, 64u << 20, &e);
	if (!v) {
		char msg[SW_ERR_MSG_MAX + SW_ERR_WHERE_MAX + 4];

		*check = sw_vcheck(rep, name, false, "%s", sw_err_format(&e, msg, sizeof(msg)));
		return NULL;
	}
	return v;
}

int sw_release_verify(const char *bundle_path, const struct sw_minisign_pubkey *pk, struct sw_verify_report *rep,
		      struct sw_err *err)
{
	char dir[PATH_MAX], sha[SW_SHA256_HEX], path[PATH_MAX], sigpath[PATH_MAX + 16];
	char want_id[SW_MINISIGN_KEY_ID_HEX], bname[SW_SHA256_HEX + 16];
	const char *base = strrchr(bundle_path, '/');
	struct sw_manifest_view mv;
	struct sw_verify_scan scan;
	struct sw_verify_check *c;
	struct sw_err e = SW_ERR_INIT;
	json_t *manifest = NULL, *sbom = NULL, *prov = NULL;
	bool manifest_ok = false;
	uint64_t size = 0;
	size_t blen;

	memset(rep, 0, sizeof(*rep));
	memset(&scan, 0, sizeof(scan));
	rep->ok = true;
	base = base ? base + 1 : bundle_path;
	blen = strlen(base);
	if (blen != 64 + strlen(".tar.zst") || strcmp(base + 64, ".tar.zst"))
		return sw_err_set(err, SW_EINPUT, "'%s' is not named <sha256>.tar.zst as releases are", bundle_path);
	memcpy(rep->digest, base, 64);
	rep->digest[64] = '\0';
	if (!sw_is_sha256_hex(rep->digest))
		return sw_err_set(err, SW_EINPUT, "'%s' is not named <sha256>.tar.zst as releases are", bundle_path);
	sw_strlcpy(bname, base, sizeof(bname));
	if (base == bundle_path)
		sw_strlcpy(dir, ".", sizeof(dir));
	else if (sw_snprintf(dir, sizeof(dir), "%.*s", (int)(base - bundle_path - 1), bundle_path) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long: '%s'", bundle_path);
	if (!dir[0])
		sw_strlcpy(dir, "/", sizeof(dir));
	if (sw_sha256_file_hex(bundle_path, sha, &size, err) < 0)
		return -1;
	sw_minisign_key_id(pk->keynum, want_id);

	/* 1. The name is the content's digest. */
	if (strcmp(sha, rep->digest))
		sw_vcheck(rep, "digest", false, "content is sha256:%s, the name says %s", sha, rep->digest);
	else
		sw_vcheck(rep, "digest", true, "sha256:%s", sha);

	/* 2. 3. Signatures. */
	snprintf(sigpath, sizeof(sigpath), "%s.minisig", bundle_path);
	sw_verify_sig(rep, "bundle signature", bundle_path, sigpath, pk);
	sw_path_join(path, sizeof(path), dir, sw_release_file_name(SW_RELEASE_MANIFEST, rep->digest, bname, sizeof(bname)));
	snprintf(sigpath, sizeof(sigpath), "%s.minisig", path);
	if (!sw_fs_exists(path))
		sw_vcheck(rep, "manifest signature", false, "manifest '%s' is missing", path);
	else
		sw_verify_sig(rep, "manifest signature", path, sigpath, pk);

	/* 4. The manifest describes this bundle. */
	manifest = sw_json_load_file(path, SW_MANIFEST_MAX_BYTES, &e);
	if (!manifest) {
		char msg[SW_ERR_MSG_MAX + SW_ERR_WHERE_MAX + 4];

		sw_vcheck(rep, "manifest", false, "%s", sw_err_format(&e, msg, sizeof(msg)));
	} else if (sw_manifest_check(manifest, path, &mv, &e) < 0) {
		sw_vcheck(rep, "manifest", false, "%s", e.msg);
	} else {
		sw_strlcpy(bname, base, sizeof(bname));
		snprintf(rep->service, sizeof(rep->service), "%s", mv.service);
		snprintf(rep->version, sizeof(rep->version), "%s", mv.version);
		if (strcmp(mv.digest + 7, sha))
			sw_vcheck(rep, "manifest", false, "release.json names digest %s, the bundle is sha256:%s", mv.digest,
				  sha);
		else if (strcmp(mv.bundle, bname))
			sw_vcheck(rep, "manifest", false, "release.json names bundle '%s', not '%s'", mv.bundle, bname);
		else if (mv.size != size)
			sw_vcheck(rep, "manifest", false, "release.json says %llu bytes, the bundle has %llu",
				  (unsigned long long)mv.size, (unsigned long long)size);
		else if (strcmp(mv.key_id, want_id))
			sw_vcheck(rep, "manifest", false, "release.json names key %s, verifying with key %s", mv.key_id,
				  want_id);
		else {
			manifest_ok = true;
			sw_vcheck(rep, "manifest", true, "%s %s, %llu files", mv.service, mv.version,
				  (unsigned long long)mv.files);
		}
	}

	/* 5. 6. SBOM and provenance match what the manifest recorded. */
	if (!manifest_ok) {
		sw_vcheck(rep, "sbom", false, "no valid release.json to compare with");
		sw_vcheck(rep, "provenance", false, "no valid release.json to compare with");
	} else {
		sw_path_join(path, sizeof(path), dir, mv.sbom_file);
		sbom = sw_verify_json(path, mv.sbom_sha256, rep, "sbom", &c);
		if (sbom) {
			scan.sbom_files = sw_sbom_file_hashes(sbom, path, &e);
			if (!scan.sbom_files)
				sw_vcheck(rep, "sbom", false, "%s", e.msg);
			else
				sw_vcheck(rep, "sbom", true, "sha256:%s, %zu files", mv.sbom_sha256,
					  json_object_size(scan.sbom_files));
		}
		sw_path_join(path, sizeof(path), dir, mv.provenance_file);
		prov = sw_verify_json(path, mv.provenance_sha256, rep, "provenance", &c);
		if (prov) {
			json_t *subj = json_array_get(json_object_get(prov, "subject"), 0);
			const char *pname = sw_json_str(subj, "name");
			const char *pdig = sw_json_str(json_object_get(subj, "digest"), "sha256");

			if (!pname || !pdig || strcmp(pname, base) || strcmp(pdig, sha))
				sw_vcheck(rep, "provenance", false, "its subject is not %s with sha256 %s", base, sha);
			else
				sw_vcheck(rep, "provenance", true, "sha256:%s, subject %s", mv.provenance_sha256, pname);
		}
	}

	/* 7. Every file of the archive is the one the SBOM lists. */
	scan.seen = json_object();
	if (sw_bundle_scan(bundle_path, NULL, sw_verify_entry, &scan, &e) < 0) {
		sw_vcheck(rep, "contents", false, "%s", e.msg);
	} else if (!scan.sbom_files) {
		sw_vcheck(rep, "contents", false, "%llu files read safely, but there is no valid SBOM to compare them with",
			  (unsigned long long)scan.files);
	} else if (scan.problem[0]) {
		sw_vcheck(rep, "contents", false, "%s", scan.problem);
	} else {
		const char *key;
		json_t *val;
		const char *missing = NULL;

		json_object_foreach(scan.sbom_files, key, val) {
			if (!json_object_get(scan.seen, key)) {
				missing = key;
				break;
			}
		}
		if (missing)
			sw_vcheck(rep, "contents", false, "the SBOM lists '%s', which is not in the bundle", missing);
		else if (manifest_ok && mv.files != scan.files)
			sw_vcheck(rep, "contents", false, "the bundle holds %llu files, release.json says %llu",
				  (unsigned long long)scan.files, (unsigned long long)mv.files);
		else
			sw_vcheck(rep, "contents", true, "%llu files match the SBOM", (unsigned long long)scan.files);
	}
	rep->files = scan.files;
	json_decref(scan.seen);
	json_decref(scan.sbom_files);
	json_decref(manifest);
	json_decref(sbom);
	json_decref(prov);
	return 0;
}
