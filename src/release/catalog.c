/*
 * catalog.c - the local release catalog (see catalog.h): scan release
 * directories for <hex>.release.json, keep what each names, sort newest
 * first, look releases up by version, "latest" or digest.
 * Owns every entry it adds. Calls release/manifest, base/ and libc.
 */
#include "release/catalog.h"
#include "base/buf.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "release/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SW_CAT_SUFFIX ".release.json"
#define SW_CAT_HEX 64

static void sw_cat_skip(struct sw_catalog *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sw_cat_skip(struct sw_catalog *c, const char *fmt, ...)
{
	va_list ap;

	if (c->skipped++ == 0) {
		va_start(ap, fmt);
		vsnprintf(c->skipped_why, sizeof(c->skipped_why), fmt, ap);
		va_end(ap);
	}
}

static bool sw_cat_is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* One <hex>.release.json of dir: add it, or count it as skipped. */
static void sw_cat_add_file(struct sw_catalog *c, const char *dir, const char *name, const char *service)
{
	char path[PATH_MAX], bundle[PATH_MAX], want[SW_CAT_HEX + 8];
	struct sw_err e = SW_ERR_INIT;
	struct sw_manifest_view v;
	struct sw_catalog_entry *en;
	const char *created;
	json_t *m;

	if (sw_snprintf(path, sizeof(path), "%s/%s", dir, name) < 0 ||
	    sw_snprintf(bundle, sizeof(bundle), "%s/%.*s.tar.zst", dir, SW_CAT_HEX, name) < 0) {
		sw_cat_skip(c, "'%s/%s': path too long", dir, name);
		return;
	}
	m = sw_json_load_file(path, SW_MANIFEST_MAX_BYTES, &e);
	if (!m) {
		sw_cat_skip(c, "%s", e.msg);
		return;
	}
	if (sw_manifest_check(m, path, &v, &e) < 0) {
		sw_cat_skip(c, "%s", e.msg);
		goto out;
	}
	snprintf(want, sizeof(want), "sha256:%.*s", SW_CAT_HEX, name);
	created = sw_json_str(m, "created");
	if (strcmp(v.digest, want)) {
		sw_cat_skip(c, "'%s' names digest %s, not its file name's", path, v.digest);
		goto out;
	}
	if (service && strcmp(v.service, service)) {
		sw_cat_skip(c, "'%s' is a release of '%s', not of '%s'", path, v.service, service);
		goto out;
	}
	if (!sw_fs_exists(bundle)) {
		sw_cat_skip(c, "'%s' has no bundle beside it ('%s')", path, bundle);
		goto out;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = sw_xreallocarray(c->v, c->cap, sizeof(*c->v));
	}
	en = &c->v[c->n++];
	en->service = sw_xstrdup(v.service);
	en->version = sw_xstrdup(v.version);
	en->digest = sw_xstrdup(v.digest);
	en->created = sw_xstrdup(created ? created : "");
	en->key_id = sw_xstrdup(v.key_id);
	en->bundle = sw_xstrdup(bundle);
	en->manifest = sw_xstrdup(path);
out:
	json_decref(m);
}

/* Newest first: created, then version, then digest, all descending. */
static int sw_cat_cmp(const void *a, const void *b)
{
	const struct sw_catalog_entry *x = a, *y = b;
	int r = strcmp(y->created, x->created);

	if (!r)
		r = strcmp(y->version, x->version);
	if (!r)
		r = strcmp(y->digest, x->digest);
	return r;
}

static void sw_cat_sort(struct sw_catalog *c)
{
	if (c->n > 1)
		qsort(c->v, c->n, sizeof(*c->v), sw_cat_cmp);
}

static int sw_cat_scan_dir(struct sw_catalog *c, const char *dir, const char *service, struct sw_err *err)
{
	const size_t sl = strlen(SW_CAT_SUFFIX);
	struct dirent *d;
	DIR *dh = opendir(dir);

	if (!dh) {
		if (errno == ENOENT)
			return 0;
		return sw_err_set(err, SW_EIO, "cannot read '%s': %s", dir, strerror(errno));
	}
	while ((d = readdir(dh)) != NULL) {
		size_t n = strlen(d->d_name);

		if (n != SW_CAT_HEX + sl || strcmp(d->d_name + SW_CAT_HEX, SW_CAT_SUFFIX) ||
		    !sw_cat_is_hex(d->d_name, SW_CAT_HEX))
			continue;
		sw_cat_add_file(c, dir, d->d_name, service);
	}
	closedir(dh);
	return 0;
}

int sw_catalog_load_dir(struct sw_catalog *c, const char *dir, const char *service, struct sw_err *err)
{
	int rc = sw_cat_scan_dir(c, dir, service, err);

	sw_cat_sort(c);
	return rc;
}

int sw_catalog_load(struct sw_catalog *c, const char *releases_dir, const char *service, struct sw_err *err)
{
	char sub[PATH_MAX];
	struct dirent *d;
	DIR *dh;
	int rc = 0;

	if (service) {
		if (!*service || strchr(service, '/') || service[0] == '.')
			return sw_err_set(err, SW_EINPUT, "'%s' is not a service name", service);
		if (sw_snprintf(sub, sizeof(sub), "%s/%s", releases_dir, service) < 0)
			return sw_err_set(err, SW_EINPUT, "path too long under '%s'", releases_dir);
		return sw_catalog_load_dir(c, sub, service, err);
	}
	dh = opendir(releases_dir);
	if (!dh) {
		if (errno == ENOENT)
			return 0;
		return sw_err_set(err, SW_EIO, "cannot read '%s': %s", releases_dir, strerror(errno));
	}
	while (rc == 0 && (d = readdir(dh)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		if (sw_snprintf(sub, sizeof(sub), "%s/%s", releases_dir, d->d_name) < 0 || !sw_fs_is_dir(sub))
			continue;
		rc = sw_cat_scan_dir(c, sub, d->d_name, err);
	}
	closedir(dh);
	sw_cat_sort(c);
	return rc;
}

int sw_catalog_default_dir(char *out, size_t size, struct sw_err *err)
{
	char home[PATH_MAX];

	if (sw_home_dir(home, sizeof(home), err) < 0)
		return -1;
	if (sw_snprintf(out, size, "%s/releases", home) < 0)
		return sw_err_set(err, SW_EINPUT, "SLIPWAY_HOME is too long");
	return 0;
}

const struct sw_catalog_entry *sw_catalog_find(const struct sw_catalog *c, const char *service, const char *version,
					       struct sw_err *err)
{
	const struct sw_catalog_entry *hit = NULL;
	struct sw_buf known = SW_BUF_INIT(400);
	bool latest = !strcmp(version, SW_CATALOG_LATEST);
	size_t i, nknown = 0;

	for (i = 0; i < c->n; i++) {
		const struct sw_catalog_entry *e = &c->v[i];

		if (strcmp(e->service, service))
			continue;
		if (latest)
			return e; /* sorted newest first */
		if (strcmp(e->version, version)) {
			if (nknown++ < 10)
				sw_buf_printf(&known, "%s%s", nknown > 1 ? ", " : "", e->version);
			continue;
		}
		if (hit && strcmp(hit->digest, e->digest)) {
			sw_err_set(err, SW_EINPUT, "version '%s' of '%s' names two releases: %s ('%s') and %s ('%s')",
				   version, service, hit->digest, hit->manifest, e->digest, e->manifest);
			sw_buf_release(&known);
			return NULL;
		}
		if (!hit)
			hit = e;
	}
	if (!hit) {
		if (nknown > 10)
			sw_buf_printf(&known, ", ...");
		if (nknown)
			sw_err_set(err, SW_ENOTFOUND, "no release '%s' of '%s' (known: %s)", version, service,
				   sw_buf_str(&known));
		else
			sw_err_set(err, SW_ENOTFOUND, "no release of '%s' found%s", service,
				   latest ? "" : " (run 'slipway release' first)");
	}
	sw_buf_release(&known);
	return hit;
}

const struct sw_catalog_entry *sw_catalog_find_digest(const struct sw_catalog *c, const char *service,
						      const char *digest)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		const char *d = c->v[i].digest;

		if (service && strcmp(c->v[i].service, service))
			continue;
		if (!strcmp(d, digest) || !strcmp(d + 7, digest))
			return &c->v[i];
	}
	return NULL;
}

int sw_catalog_parse_ref(const char *ref, char *service, size_t ssize, char *version, size_t vsize,
			 struct sw_err *err)
{
	const char *at = strchr(ref, '@');
	size_t n;

	if (!at)
		return sw_err_set(err, SW_EINPUT, "'%s' is not SERVICE@VERSION", ref);
	n = (size_t)(at - ref);
	if (n == 0 || !at[1])
		return sw_err_set(err, SW_EINPUT, "'%s' is not SERVICE@VERSION (%s is empty)", ref,
				  n == 0 ? "SERVICE" : "VERSION");
	if (n >= ssize || strlen(at + 1) >= vsize)
		return sw_err_set(err, SW_EINPUT, "'%s' is too long", ref);
	memcpy(service, ref, n);
	service[n] = '\0';
	memcpy(version, at + 1, strlen(at + 1) + 1);
	return 0;
}

void sw_catalog_release(struct sw_catalog *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->v[i].service);
		free(c->v[i].version);
		free(c->v[i].digest);
		free(c->v[i].created);
		free(c->v[i].key_id);
		free(c->v[i].bundle);
		free(c->v[i].manifest);
	}
	free(c->v);
	c->v = NULL;
	c->n = c->cap = c->skipped = 0;
	c->skipped_why[0] = '\0';
}
