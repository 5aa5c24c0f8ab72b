/*
 * bundle.c - deterministic tar.zst writer, streaming checker and safe
 * unpacker for release bundles (see bundle.h for the layout and the rules).
 * Owns the entry lists it builds; scan callbacks borrow entries.
 * Calls libarchive, libc and base/ (buf, err, fs, hash, json, mem).
 */
#include "release/bundle.h"
#include "base/buf.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define SW_BUNDLE_MAX_DEPTH 256
#define SW_BUNDLE_CHUNK 65536

/* ---- paths ---- */

int sw_bundle_norm_path(const char *in, char *out, size_t size)
{
	const char *p = in;
	size_t o = 0;

	if (!in || in[0] == '/' || size == 0)
		return -1;
	while (*p) {
		const char *q = strchr(p, '/');
		size_t n = q ? (size_t)(q - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -1;
		if (!(n == 0 || (n == 1 && p[0] == '.'))) {
			if (o + (o ? 1 : 0) + n + 1 > size)
				return -1;
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = q ? q + 1 : p + n;
	}
	if (o == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

int sw_bundle_resolve_link(const char *link_path, const char *target, char *out, size_t size)
{
	const char *p = target, *slash;
	size_t o = 0;
	int named = 0;

	if (!target || !*target || target[0] == '/' || size == 0)
		return -1;
	/* Start from the link's directory. */
	slash = strrchr(link_path, '/');
	if (slash) {
		o = (size_t)(slash - link_path);
		if (o + 1 > size)
			return -1;
		memcpy(out, link_path, o);
	}
	while (*p) {
		const char *q = strchr(p, '/');
		size_t n = q ? (size_t)(q - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			/* ".." after a name could climb out through a symlink: refused. */
			if (named || o == 0)
				return -1;
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			named = 1;
			if (o + (o ? 1 : 0) + n + 1 > size)
				return -1;
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = q ? q + 1 : p + n;
	}
	out[o] = '\0';
	return 0;
}

/* ---- the entry list (writer side) ---- */

void sw_bundle_list_init(struct sw_bundle_list *l)
{
	l->v = NULL;
	l->n = l->cap = 0;
}

static void sw_entry_release(struct sw_bundle_entry *e)
{
	free(e->path);
	free(e->src);
	free(e->link);
	e->path = e->src = e->link = NULL;
}

void sw_bundle_list_release(struct sw_bundle_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		sw_entry_release(&l->v[i]);
	free(l->v);
	sw_bundle_list_init(l);
}

static struct sw_bundle_entry *sw_list_push(struct sw_bundle_list *l, const char *path, const char *src,
					    enum sw_bundle_type type)
{
	struct sw_bundle_entry *e;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = sw_xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	e->path = sw_xstrdup(path);
	e->src = src ? sw_xstrdup(src) : NULL;
	e->type = type;
	e->mode = 0755;
	return e;
}

static unsigned sw_norm_mode(mode_t m)
{
	return (m & 0111) ? 0755 : 0644;
}

static int sw_walk(struct sw_bundle_list *l, const char *dir, const char *arch, int depth, struct sw_err *err);

static int sw_add_child(struct sw_bundle_list *l, const char *full, const char *arch, int depth, struct sw_err *err)
{
	struct stat st;
	struct sw_bundle_entry *e;
	char target[PATH_MAX];
	ssize_t n;

	if (lstat(full, &st) < 0)
		return sw_err_set(err, SW_EIO, "cannot stat '%s': %s", arch, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		sw_list_push(l, arch, full, SW_BUNDLE_DIR);
		return sw_walk(l, full, arch, depth + 1, err);
	}
	if (S_ISREG(st.st_mode)) {
		e = sw_list_push(l, arch, full, SW_BUNDLE_FILE);
		e->mode = sw_norm_mode(st.st_mode);
		e->size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISLNK(st.st_mode)) {
		n = readlink(full, target, sizeof(target) - 1);
		if (n < 0)
			return sw_err_set(err, SW_EIO, "cannot read symlink '%s': %s", arch, strerror(errno));
		if ((size_t)n >= sizeof(target) - 1)
			return sw_err_set(err, SW_EINPUT, "symlink '%s': target too long", arch);
		target[n] = '\0';
		e = sw_list_push(l, arch, full, SW_BUNDLE_SYMLINK);
		e->link = sw_xstrdup(target);
		e->mode = 0777;
		return 0;
	}
	return sw_err_set(err, SW_EINPUT,
			  "'%s' is a device, FIFO or socket; bundles hold only regular files, directories and symlinks",
			  arch);
}

static int sw_walk(struct sw_bundle_list *l, const char *dir, const char *arch, int depth, struct sw_err *err)
{
	char full[PATH_MAX], sub[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (depth > SW_BUNDLE_MAX_DEPTH)
		return sw_err_set(err, SW_EINPUT, "'%s': directory tree deeper than %d levels", arch, SW_BUNDLE_MAX_DEPTH);
	d = opendir(dir);
	if (!d)
		return sw_err_set(err, SW_EIO, "cannot open directory '%s': %s", arch, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (sw_path_join(full, sizeof(full), dir, de->d_name) < 0 ||
		    sw_path_join(sub, sizeof(sub), arch, de->d_name) < 0) {
			rc = sw_err_set(err, SW_EINPUT, "path too long under '%s'", arch);
			break;
		}
		if (sw_add_child(l, full, sub, depth, err) < 0) {
			rc = -1;
			break;
		}
	}
	closedir(d);
	return rc;
}

int sw_bundle_list_add(struct sw_bundle_list *l, const char *base_dir, const char *rel, struct sw_err *err)
{
	char norm[PATH_MAX], full[PATH_MAX], rbase[PATH_MAX], rfull[PATH_MAX];
	struct stat st;
	struct sw_bundle_entry *e;
	size_t nb;

	if (sw_bundle_norm_path(rel, norm, sizeof(norm)) < 0)
		return sw_err_set(err, SW_EINPUT,
				  "output '%s' must be a relative path inside the service directory (no '..', not '.')", rel);
	if (sw_path_join(full, sizeof(full), base_dir, norm) < 0)
		return sw_err_set(err, SW_EINPUT, "output '%s': path too long", rel);
	if (stat(full, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return sw_err_set(err, SW_ENOTFOUND, "output '%s' does not exist in '%s'", rel, base_dir);
		return sw_err_set(err, SW_EIO, "cannot stat output '%s': %s", rel, strerror(errno));
	}
	if (!realpath(base_dir, rbase) || !realpath(full, rfull))
		return sw_err_set(err, SW_EIO, "cannot resolve output '%s': %s", rel, strerror(errno));
	nb = strlen(rbase);
	if (!(strncmp(rfull, rbase, nb) == 0 && (rfull[nb] == '/' || (nb == 1 && rbase[0] == '/' && rfull[1]))))
		return sw_err_set(err, SW_EINPUT, "output '%s' resolves to '%s', outside the service directory", rel,
				  rfull);
	if (S_ISDIR(st.st_mode)) {
		sw_list_push(l, norm, full, SW_BUNDLE_DIR);
		return sw_walk(l, full, norm, 1, err);
	}
	if (S_ISREG(st.st_mode)) {
		e = sw_list_push(l, norm, full, SW_BUNDLE_FILE);
		e->mode = sw_norm_mode(st.st_mode);
		e->size = (uint64_t)st.st_size;
		return 0;
	}
	return sw_err_set(err, SW_EINPUT, "output '%s' is not a regular file or directory", rel);
}

static int sw_entry_cmp(const void *a, const void *b)
{
	const struct sw_bundle_entry *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	if (c)
		return c;
	return (int)x->type - (int)y->type;
}

static int sw_entry_key_cmp(const void *key, const void *elem)
{
	const struct sw_bundle_entry *e = elem;

	return strcmp(key, e->path);
}

const struct sw_bundle_entry *sw_bundle_list_find(const struct sw_bundle_list *l, const char *path)
{
	if (!l->n)
		return NULL;
	return bsearch(path, l->v, l->n, sizeof(*l->v), sw_entry_key_cmp);
}

int sw_bundle_list_finish(struct sw_bundle_list *l, struct sw_err *err)
{
	char prefix[PATH_MAX], target[PATH_MAX];
	size_t i, j, n0;

	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), sw_entry_cmp);
	/* Drop duplicates (overlapping outputs): keep the first after sorting. */
	for (i = j = 0; i < l->n; i++) {
		if (j > 0 && !strcmp(l->v[j - 1].path, l->v[i].path)) {
			sw_entry_release(&l->v[i]);
			continue;
		}
		l->v[j++] = l->v[i];
	}
	l->n = j;
	/* Missing parent directories. */
	n0 = l->n;
	for (i = 0; i < n0; i++) {
		const char *p = l->v[i].path, *s;

		for (s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
			size_t k = (size_t)(s - p), m;
			int found = 0;

			memcpy(prefix, p, k);
			prefix[k] = '\0';
			if (sw_bundle_list_find(l, prefix))
				continue;
			for (m = n0; m < l->n; m++)
				if (!strcmp(l->v[m].path, prefix)) {
					found = 1;
					break;
				}
			if (!found)
				sw_list_push(l, prefix, NULL, SW_BUNDLE_DIR);
		}
		/* sw_list_push may move l->v: nothing of it is kept across the loop. */
	}
	if (l->n > n0)
		qsort(l->v, l->n, sizeof(*l->v), sw_entry_cmp);
	for (i = 0; i < l->n; i++) {
		const struct sw_bundle_entry *e = &l->v[i];
		const char *s;

		for (s = strchr(e->path, '/'); s; s = strchr(s + 1, '/')) {
			const struct sw_bundle_entry *parent;
			size_t k = (size_t)(s - e->path);

			memcpy(prefix, e->path, k);
			prefix[k] = '\0';
			parent = sw_bundle_list_find(l, prefix);
			if (parent && parent->type != SW_BUNDLE_DIR)
				return sw_err_set(err, SW_EINPUT, "'%s' is not a directory in the bundle but holds '%s'",
						  prefix, e->path);
		}
		if (e->type != SW_BUNDLE_SYMLINK)
			continue;
		if (sw_bundle_resolve_link(e->path, e->link, target, sizeof(target)) < 0 ||
		    (target[0] && !sw_bundle_list_find(l, target)))
			return sw_err_set(err, SW_EINPUT,
					  "symlink '%s' points to '%s', outside the bundle; bundle its target too or "
					  "replace the link with a file",
					  e->path, e->link);
	}
	return 0;
}

/* ---- writer ---- */

struct sw_bw_ctx {
	int fd;
	struct sw_sha256 h;
	uint64_t size;
	int errnum;
};

static la_ssize_t sw_bw_write(struct archive *a, void *cd, const void *buf, size_t n)
{
	struct sw_bw_ctx *c = cd;
	const char *p = buf;
	size_t left = n;

	while (left > 0) {
		ssize_t w = write(c->fd, p, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			c->errnum = w < 0 ? errno : EIO;
			archive_set_error(a, c->errnum, "%s", strerror(c->errnum));
			return -1;
		}
		p += w;
		left -= (size_t)w;
	}
	sw_sha256_update(&c->h, buf, n);
	c->size += n;
	return (la_ssize_t)n;
}

static int sw_bw_fail(struct archive *a, const struct sw_bw_ctx *c, const char *what, struct sw_err *err)
{
	if (c->errnum)
		return sw_err_set(err, SW_EIO, "cannot write '%s': %s", what, strerror(c->errnum));
	return sw_err_set(err, SW_EIO, "cannot write bundle '%s': %s", what,
			  archive_error_string(a) ? archive_error_string(a) : "unknown libarchive error");
}

static int sw_bw_file(struct archive *a, struct sw_bw_ctx *c, struct sw_bundle_entry *e, const char *what,
		      struct sw_err *err)
{
	unsigned char *chunk;
	struct sw_sha256 h;
	struct stat st;
	uint64_t total = 0;
	int fd, rc = -1;

	fd = open(e->src, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sw_err_set(err, errno == ENOENT ? SW_ENOTFOUND : SW_EIO, "cannot open '%s': %s", e->path,
				  strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size) {
		close(fd);
		return sw_err_set(err, SW_EFAILED, "'%s' changed while it was being bundled", e->path);
	}
	chunk = sw_xmalloc(SW_BUNDLE_CHUNK);
	sw_sha256_init(&h);
	for (;;) {
		ssize_t n = read(fd, chunk, SW_BUNDLE_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sw_err_set(err, SW_EIO, "cannot read '%s': %s", e->path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (total + (uint64_t)n > e->size) {
			sw_err_set(err, SW_EFAILED, "'%s' changed while it was being bundled", e->path);
			goto out;
		}
		sw_sha256_update(&h, chunk, (size_t)n);
		if (archive_write_data(a, chunk, (size_t)n) != n) {
			sw_bw_fail(a, c, what, err);
			goto out;
		}
		total += (uint64_t)n;
	}
	if (total != e->size) {
		sw_err_set(err, SW_EFAILED, "'%s' changed while it was being bundled", e->path);
		goto out;
	}
	sw_sha256_final_hex(&h, e->sha256);
	rc = 0;
out:
	free(chunk);
	close(fd);
	return rc;
}

int sw_bundle_write_fd(struct sw_bundle_list *l, int fd, const char *what, int64_t mtime,
		       struct sw_bundle_result *res, struct sw_err *err)
{
	struct sw_bw_ctx c = { .fd = fd };
	struct archive *a = archive_write_new();
	struct archive_entry *ae = NULL;
	size_t i, nfiles = 0;
	int rc = -1;

	if (!a)
		sw_die("out of memory (archive_write_new)");
	sw_sha256_init(&c.h);
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_add_filter_zstd(a) != ARCHIVE_OK || archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK) {
		sw_err_set(err, SW_EINTERNAL, "libarchive cannot write tar.zst: %s", archive_error_string(a));
		goto out;
	}
	if (archive_write_open(a, &c, NULL, sw_bw_write, NULL) != ARCHIVE_OK) {
		sw_bw_fail(a, &c, what, err);
		goto out;
	}
	ae = archive_entry_new();
	if (!ae)
		sw_die("out of memory (archive_entry_new)");
	for (i = 0; i < l->n; i++) {
		struct sw_bundle_entry *e = &l->v[i];

		archive_entry_clear(ae);
		archive_entry_set_pathname(ae, e->path);
		archive_entry_set_mtime(ae, (time_t)mtime, 0);
		archive_entry_set_uid(ae, 0);
		archive_entry_set_gid(ae, 0);
		switch (e->type) {
		case SW_BUNDLE_FILE:
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_perm(ae, e->mode);
			archive_entry_set_size(ae, (la_int64_t)e->size);
			nfiles++;
			break;
		case SW_BUNDLE_DIR:
			archive_entry_set_filetype(ae, AE_IFDIR);
			archive_entry_set_perm(ae, 0755);
			archive_entry_set_size(ae, 0);
			break;
		case SW_BUNDLE_SYMLINK:
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_perm(ae, 0777);
			archive_entry_set_symlink(ae, e->link);
			archive_entry_set_size(ae, 0);
			break;
		default:
			sw_err_set(err, SW_EINTERNAL, "cannot write entry '%s' of this type", e->path);
			goto out;
		}
		if (archive_write_header(a, ae) != ARCHIVE_OK) {
			sw_bw_fail(a, &c, what, err);
			goto out;
		}
		if (e->type == SW_BUNDLE_FILE && sw_bw_file(a, &c, e, what, err) < 0)
			goto out;
		if (archive_write_finish_entry(a) != ARCHIVE_OK) {
			sw_bw_fail(a, &c, what, err);
			goto out;
		}
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		sw_bw_fail(a, &c, what, err);
		goto out;
	}
	sw_sha256_final_hex(&c.h, res->sha256);
	res->size = c.size;
	res->nfiles = nfiles;
	rc = 0;
out:
	if (ae)
		archive_entry_free(ae);
	archive_write_free(a);
	return rc;
}

int sw_bundle_write(struct sw_bundle_list *l, const char *path, int64_t mtime, struct sw_bundle_result *res,
		    struct sw_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return sw_err_set(err, SW_EIO, "cannot create '%s': %s", path, strerror(errno));
	if (sw_bundle_write_fd(l, fd, path, mtime, res, err) < 0) {
		close(fd);
		unlink(path);
		return -1;
	}
	return sw_fs_close_synced(fd, path, err);
}

/* ---- reader: a small set of the paths seen so far ---- */

struct sw_pset_item {
	char *key;
	enum sw_bundle_type type;
	char sha256[SW_SHA256_HEX];
};

struct sw_pset {
	struct sw_pset_item *v;
	size_t cap, n;
};

static uint64_t sw_pset_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct sw_pset_item *sw_pset_slot(struct sw_pset *s, const char *key)
{
	size_t i;

	if (!s->cap)
		return NULL;
	i = (size_t)(sw_pset_hash(key) & (s->cap - 1));
	while (s->v[i].key && strcmp(s->v[i].key, key))
		i = (i + 1) & (s->cap - 1);
	return &s->v[i];
}

static struct sw_pset_item *sw_pset_get(struct sw_pset *s, const char *key)
{
	struct sw_pset_item *it = sw_pset_slot(s, key);

	return it && it->key ? it : NULL;
}

/* Returns NULL if the key is already present. */
static struct sw_pset_item *sw_pset_add(struct sw_pset *s, const char *key)
{
	struct sw_pset_item *it;

	if ((s->n + 1) * 2 > s->cap) {
		struct sw_pset old = *s;
		size_t i;

		s->cap = old.cap ? old.cap * 2 : 256;
		s->v = sw_xcalloc(s->cap, sizeof(*s->v));
		s->n = 0;
		for (i = 0; i < old.cap; i++)
			if (old.v[i].key) {
				*sw_pset_slot(s, old.v[i].key) = old.v[i];
				s->n++;
			}
		free(old.v);
	}
	it = sw_pset_slot(s, key);
	if (it->key)
		return NULL;
	it->key = sw_xstrdup(key);
	s->n++;
	return it;
}

static void sw_pset_release(struct sw_pset *s)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		free(s->v[i].key);
	free(s->v);
	s->v = NULL;
	s->cap = s->n = 0;
}

/* ---- reader ---- */

struct sw_br {
	struct archive *a;
	int fd; /* the bundle file, or -1 (read from memory) */
	struct sw_bundle_limits lim;
	struct sw_pset seen;
	uint64_t total;  /* unpacked bytes of regular files so far */
	uint64_t count;  /* entries so far */
	uint64_t packed; /* bundle bytes, for the ratio */
	const char *what;
	char path[PATH_MAX];
	char link[PATH_MAX];
	struct sw_bundle_entry cur; /* points into path/link */
};

static int sw_br_open(struct sw_br *r, const char *path, const void *data, size_t len,
		      const struct sw_bundle_limits *lim, struct sw_err *err)
{
	struct sw_bundle_limits def = SW_BUNDLE_LIMITS_DEFAULT;
	int rc;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->lim = lim ? *lim : def;
	r->what = path ? path : "(memory)";
	r->packed = len;
	if (path) {
		struct stat st;

		/* a directory or FIFO is refused here, before libarchive could block on it */
		r->fd = sw_fs_open_regular(path, err);
		if (r->fd < 0) {
			if (err)
				sw_err_prefix(err, "cannot read bundle");
			return -1;
		}
		if (fstat(r->fd, &st) == 0)
			r->packed = (uint64_t)st.st_size;
	}
	r->a = archive_read_new();
	if (!r->a)
		sw_die("out of memory (archive_read_new)");
	archive_read_support_filter_zstd(r->a);
	archive_read_support_format_tar(r->a);
	if (path)
		rc = archive_read_open_fd(r->a, r->fd, SW_BUNDLE_CHUNK);
	else
		rc = archive_read_open_memory(r->a, data, len);
	if (rc != ARCHIVE_OK) {
		int e = archive_errno(r->a);

		const char *msg = archive_error_string(r->a) ? archive_error_string(r->a) : "unknown error";

		if (e == ENOENT || e == EACCES || e == EISDIR)
			sw_err_set(err, e == ENOENT ? SW_ENOTFOUND : SW_EINPUT, "cannot read bundle '%s': %s", r->what, msg);
		else
			sw_err_set(err, SW_EINPUT, "corrupt or truncated bundle '%s' (not a tar.zst?): %s", r->what, msg);
		archive_read_free(r->a);
		r->a = NULL;
		if (r->fd >= 0)
			close(r->fd);
		r->fd = -1;
		return -1;
	}
	return 0;
}

static void sw_br_close(struct sw_br *r)
{
	if (r->a)
		archive_read_free(r->a);
	r->a = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	sw_pset_release(&r->seen);
}

static int sw_br_corrupt(struct sw_br *r, struct sw_err *err)
{
	const char *s = archive_error_string(r->a);

	return sw_err_set(err, SW_EINPUT, "corrupt or truncated bundle '%s': %s", r->what, s ? s : "read error");
}

static int sw_br_unsafe(struct sw_br *r, struct sw_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int sw_br_unsafe(struct sw_br *r, struct sw_err *err, const char *fmt, ...)
{
	char msg[SW_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sw_err_set(err, SW_EINPUT, "unsafe bundle '%s': %s", r->what, msg);
}

void sw_bundle_limits_merge(const struct sw_bundle_limits *a, const struct sw_bundle_limits *b,
			    struct sw_bundle_limits *out)
{
#define SW_MIN_SET(x, y) ((x) && (!(y) || (x) < (y)) ? (x) : (y))
	out->max_entry_bytes = SW_MIN_SET(a->max_entry_bytes, b->max_entry_bytes);
	out->max_total_bytes = SW_MIN_SET(a->max_total_bytes, b->max_total_bytes);
	out->max_entries = SW_MIN_SET(a->max_entries, b->max_entries);
	out->max_ratio = SW_MIN_SET(a->max_ratio, b->max_ratio);
	out->ratio_floor_bytes = SW_MIN_SET(a->ratio_floor_bytes, b->ratio_floor_bytes);
	/* A margin is a minimum: the larger one is the stricter. */
	out->free_margin_bytes = a->free_margin_bytes > b->free_margin_bytes ? a->free_margin_bytes : b->free_margin_bytes;
	out->cancel = a->cancel ? a->cancel : b->cancel;
#undef SW_MIN_SET
}

static int sw_br_canceled(struct sw_br *r, struct sw_err *err)
{
	if (r->lim.cancel && atomic_load(r->lim.cancel))
		return sw_err_set(err, SW_ECANCELED, "reading bundle '%s' canceled", r->what);
	return 0;
}

/* May regular files of `total` bytes come out of a bundle of `packed` bytes under lim? */
static int sw_limits_total(const struct sw_bundle_limits *lim, const char *what, uint64_t total, uint64_t packed,
			   struct sw_err *err)
{
	uint64_t ratio = lim->max_ratio;

	if (total > lim->max_total_bytes)
		return sw_err_set(err, SW_EINPUT, "bundle '%s' unpacks to more than %llu bytes (the unpacked size limit)",
				  what, (unsigned long long)lim->max_total_bytes);
	if (ratio && total > lim->ratio_floor_bytes && packed <= UINT64_MAX / ratio && total > packed * ratio)
		return sw_err_set(err, SW_EINPUT,
				  "bundle '%s' unpacks to more than %llu times its %llu bytes (the compression ratio limit)",
				  what, (unsigned long long)ratio, (unsigned long long)packed);
	return 0;
}

/* May the regular files of the archive unpack to `total` bytes? */
static int sw_br_check_total(struct sw_br *r, uint64_t total, struct sw_err *err)
{
	return sw_limits_total(&r->lim, r->what, total, r->packed, err);
}

void sw_bundle_stats_add(struct sw_bundle_stats *st, const struct sw_bundle_entry *e)
{
	st->entries++;
	if (e->type != SW_BUNDLE_FILE)
		return;
	st->total = e->size > UINT64_MAX - st->total ? UINT64_MAX : st->total + e->size;
	if (e->size > st->largest)
		st->largest = e->size;
}

int sw_bundle_stats_write(const char *path, const struct sw_bundle_stats *st, struct sw_err *err)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "total", (json_int_t)st->total, "largest",
			      (json_int_t)st->largest, "entries", (json_int_t)st->entries, "packed",
			      (json_int_t)st->packed);
	char *text;
	int rc;

	if (!o || !(text = json_dumps(o, JSON_SORT_KEYS)))
		sw_die("out of memory (bundle stats)");
	json_decref(o);
	rc = sw_fs_write_atomic(path, text, strlen(text), 0644, err);
	free(text);
	return rc;
}

int sw_bundle_stats_read(const char *path, struct sw_bundle_stats *st, struct sw_err *err)
{
	static const char *const keys[] = { "total", "largest", "entries", "packed" };
	uint64_t *const vals[] = { &st->total, &st->largest, &st->entries, &st->packed };
	struct sw_buf text = SW_BUF_INIT(4096);
	json_t *o = NULL, *v;
	size_t i;
	int rc = -1;

	if (sw_fs_read_file(path, 4096, &text, err) < 0)
		goto out;
	if (!(o = sw_json_parse(text.data, text.len, 4096, path, err)))
		goto out;
	for (i = 0; i < SW_ARRAY_LEN(keys); i++) {
		v = json_object_get(o, keys[i]);
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			sw_err_set(err, SW_EINPUT, "%s: field '%s' is not a size", path, keys[i]);
			goto out;
		}
		*vals[i] = (uint64_t)json_integer_value(v);
	}
	rc = 0;
out:
	json_decref(o);
	sw_buf_release(&text);
	return rc;
}

int sw_bundle_stats_check(const struct sw_bundle_stats *st, const struct sw_bundle_limits *lim, const char *what,
			  struct sw_err *err)
{
	if (st->entries > lim->max_entries)
		return sw_err_set(err, SW_EINPUT, "bundle '%s' has more than %llu entries", what,
				  (unsigned long long)lim->max_entries);
	if (st->largest > lim->max_entry_bytes)
		return sw_err_set(err, SW_EINPUT, "bundle '%s': its largest entry is %llu bytes, over the limit of %llu",
				  what, (unsigned long long)st->largest, (unsigned long long)lim->max_entry_bytes);
	return sw_limits_total(lim, what, st->total, st->packed, err);
}

static int sw_br_entry_too_big(struct sw_br *r, uint64_t size, struct sw_err *err)
{
	return sw_err_set(err, SW_EINPUT, "bundle '%s': entry '%s' is %s%llu bytes, over the limit of %llu", r->what,
			  r->path, size > r->cur.size ? "at least " : "", (unsigned long long)size,
			  (unsigned long long)r->lim.max_entry_bytes);
}

/* 1: an entry in r->cur (checked), 0: end of archive, -1: error. */
static int sw_br_next(struct sw_br *r, struct archive_entry **aep, struct sw_err *err)
{
	struct archive_entry *ae;
	struct sw_pset_item *it;
	const char *raw, *hl, *s;
	char target[PATH_MAX];
	int rc;

	if (sw_br_canceled(r, err) < 0)
		return -1;
	rc = archive_read_next_header(r->a, &ae);
	if (rc == ARCHIVE_EOF)
		return 0;
	if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
		return sw_br_corrupt(r, err);
	*aep = ae;
	if (++r->count > r->lim.max_entries)
		return sw_err_set(err, SW_EINPUT, "bundle '%s' has more than %llu entries", r->what,
				  (unsigned long long)r->lim.max_entries);
	raw = archive_entry_pathname(ae);
	if (!raw || !*raw)
		return sw_br_unsafe(r, err, "an entry has no readable name");
	if (raw[0] == '/')
		return sw_br_unsafe(r, err, "entry '%s' has an absolute path", raw);
	if (sw_bundle_norm_path(raw, r->path, sizeof(r->path)) < 0)
		return sw_br_unsafe(r, err, "entry '%s' has a '..' component or an empty name", raw);
	memset(&r->cur, 0, sizeof(r->cur));
	r->cur.path = r->path;
	/* Nothing may live inside a non-directory. */
	for (s = strchr(r->path, '/'); s; s = strchr(s + 1, '/')) {
		size_t k = (size_t)(s - r->path);

		memcpy(target, r->path, k);
		target[k] = '\0';
		it = sw_pset_get(&r->seen, target);
		if (it && it->type != SW_BUNDLE_DIR)
			return sw_br_unsafe(r, err, "entry '%s' lies inside '%s', which is not a directory", r->path,
					    target);
	}
	hl = archive_entry_hardlink(ae);
	if (hl) {
		if (sw_bundle_norm_path(hl, r->link, sizeof(r->link)) < 0)
			return sw_br_unsafe(r, err, "hardlink '%s' points outside the bundle ('%s')", r->path, hl);
		it = sw_pset_get(&r->seen, r->link);
		if (!it || it->type != SW_BUNDLE_FILE)
			return sw_br_unsafe(r, err, "hardlink '%s' does not name an earlier regular file ('%s')", r->path,
					    hl);
		r->cur.type = SW_BUNDLE_HARDLINK;
		r->cur.link = r->link;
		r->cur.mode = 0644;
		memcpy(r->cur.sha256, it->sha256, sizeof(r->cur.sha256));
	} else {
		switch (archive_entry_filetype(ae)) {
		case AE_IFREG:
			r->cur.type = SW_BUNDLE_FILE;
			r->cur.mode = sw_norm_mode((mode_t)archive_entry_perm(ae));
			if (!archive_entry_size_is_set(ae) || archive_entry_size(ae) < 0)
				return sw_br_unsafe(r, err, "entry '%s' has no size", r->path);
			r->cur.size = (uint64_t)archive_entry_size(ae);
			/* The header's claim, checked early; sw_br_data() counts what really comes. */
			if (r->cur.size > r->lim.max_entry_bytes)
				return sw_br_entry_too_big(r, r->cur.size, err);
			if (r->cur.size > UINT64_MAX - r->total)
				return sw_br_check_total(r, UINT64_MAX, err);
			if (sw_br_check_total(r, r->total + r->cur.size, err) < 0)
				return -1;
			break;
		case AE_IFDIR:
			r->cur.type = SW_BUNDLE_DIR;
			r->cur.mode = 0755;
			break;
		case AE_IFLNK:
			r->cur.type = SW_BUNDLE_SYMLINK;
			r->cur.mode = 0777;
			raw = archive_entry_symlink(ae);
			if (!raw || !*raw)
				return sw_br_unsafe(r, err, "symlink '%s' has no target", r->path);
			if (sw_strlcpy(r->link, raw, sizeof(r->link)) < 0 ||
			    sw_bundle_resolve_link(r->path, raw, target, sizeof(target)) < 0)
				return sw_br_unsafe(r, err, "symlink '%s' points outside the bundle ('%s')", r->path, raw);
			r->cur.link = r->link;
			break;
		case AE_IFCHR:
		case AE_IFBLK:
		case AE_IFIFO:
		case AE_IFSOCK:
			return sw_br_unsafe(r, err, "entry '%s' is a device, FIFO or socket", r->path);
		default:
			return sw_br_unsafe(r, err, "entry '%s' has an unsupported type", r->path);
		}
	}
	it = sw_pset_add(&r->seen, r->path);
	if (!it)
		return sw_br_unsafe(r, err, "entry '%s' appears twice", r->path);
	it->type = r->cur.type == SW_BUNDLE_HARDLINK ? SW_BUNDLE_FILE : r->cur.type;
	memcpy(it->sha256, r->cur.sha256, sizeof(it->sha256));
	return 1;
}

/* Read the current file's data; fd >= 0 also gets it written. Sets r->cur.sha256. */
static int sw_br_data(struct sw_br *r, int fd, const char *dest_name, struct sw_err *err)
{
	unsigned char *chunk = sw_xmalloc(SW_BUNDLE_CHUNK);
	struct sw_sha256 h;
	uint64_t total = 0;
	int rc = -1;

	sw_sha256_init(&h);
	for (;;) {
		la_ssize_t n = archive_read_data(r->a, chunk, SW_BUNDLE_CHUNK);
		const unsigned char *p = chunk;
		size_t left;

		if (n == 0)
			break;
		if (n < 0) {
			sw_br_corrupt(r, err);
			goto out;
		}
		if (sw_br_canceled(r, err) < 0)
			goto out;
		total += (uint64_t)n;
		r->total += (uint64_t)n;
		if (total > r->lim.max_entry_bytes) {
			sw_br_entry_too_big(r, total, err);
			goto out;
		}
		if (sw_br_check_total(r, r->total, err) < 0)
			goto out;
		if (total > r->cur.size) {
			sw_br_unsafe(r, err, "entry '%s' holds more data than its size", r->path);
			goto out;
		}
		sw_sha256_update(&h, chunk, (size_t)n);
		for (left = (size_t)n; fd >= 0 && left > 0;) {
			ssize_t w = write(fd, p, left);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				sw_err_set(err, SW_EIO, "cannot write '%s': %s", dest_name, w < 0 ? strerror(errno) : "short write");
				goto out;
			}
			p += w;
			left -= (size_t)w;
		}
	}
	if (total != r->cur.size) {
		sw_err_set(err, SW_EINPUT, "corrupt or truncated bundle '%s': entry '%s' is short", r->what, r->path);
		goto out;
	}
	sw_sha256_final_hex(&h, r->cur.sha256);
	{
		struct sw_pset_item *it = sw_pset_get(&r->seen, r->path);

		SW_BUG_ON(!it); /* sw_br_next() added it */
		memcpy(it->sha256, r->cur.sha256, SW_SHA256_HEX);
	}
	rc = 0;
out:
	free(chunk);
	return rc;
}

static int sw_scan(const char *path, const void *data, size_t len, const struct sw_bundle_limits *lim,
		   sw_bundle_scan_cb cb, void *ctx, struct sw_err *err)
{
	struct archive_entry *ae;
	struct sw_br r;
	int rc;

	if (sw_br_open(&r, path, data, len, lim, err) < 0)
		return -1;
	for (;;) {
		rc = sw_br_next(&r, &ae, err);
		if (rc <= 0)
			break;
		if (r.cur.type == SW_BUNDLE_FILE && sw_br_data(&r, -1, NULL, err) < 0) {
			rc = -1;
			break;
		}
		if (cb && cb(&r.cur, ctx, err) < 0) {
			rc = -1;
			break;
		}
	}
	sw_br_close(&r);
	return rc < 0 ? -1 : 0;
}

int sw_bundle_scan(const char *path, const struct sw_bundle_limits *lim, sw_bundle_scan_cb cb, void *ctx,
		   struct sw_err *err)
{
	return sw_scan(path, NULL, 0, lim, cb, ctx, err);
}

int sw_bundle_scan_mem(const void *data, size_t len, const struct sw_bundle_limits *lim, sw_bundle_scan_cb cb,
		       void *ctx, struct sw_err *err)
{
	return sw_scan(NULL, data, len, lim, cb, ctx, err);
}

/* ---- unpacker ---- */

/*
 * Open the directory that holds `path` (relative to rootfd), creating
 * missing directories, never following a symlink. *leaf points into path.
 */
static int sw_open_parent(struct sw_br *r, int rootfd, char *path, const char **leaf, struct sw_err *err)
{
	char *p = path, *slash;
	int cur = rootfd;

	while ((slash = strchr(p, '/')) != NULL) {
		int fd;

		*slash = '\0';
		fd = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT) {
			if (mkdirat(cur, p, 0755) < 0 && errno != EEXIST) {
				*slash = '/';
				sw_err_set(err, SW_EIO, "cannot create directory for '%s': %s", r->path, strerror(errno));
				goto fail;
			}
			fd = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		*slash = '/';
		if (fd < 0) {
			if (errno == ELOOP || errno == ENOTDIR)
				sw_br_unsafe(r, err, "entry '%s' passes through a symlink or a file", r->path);
			else
				sw_err_set(err, SW_EIO, "cannot open directory for '%s': %s", r->path, strerror(errno));
			goto fail;
		}
		if (cur != rootfd)
			close(cur);
		cur = fd;
		p = slash + 1;
	}
	*leaf = p;
	return cur;
fail:
	if (cur != rootfd)
		close(cur);
	return -1;
}

static int sw_unpack_entry(struct sw_br *r, int rootfd, const char *tmpdir, struct sw_err *err)
{
	char path[PATH_MAX], shown[PATH_MAX];
	const char *leaf;
	struct stat st;
	int dfd, fd, rc = -1;

	if (sw_strlcpy(path, r->path, sizeof(path)) < 0)
		return sw_err_set(err, SW_EINPUT, "entry name too long");
	dfd = sw_open_parent(r, rootfd, path, &leaf, err);
	if (dfd < 0)
		return -1;
	snprintf(shown, sizeof(shown), "%s/%s", tmpdir, r->path);
	switch (r->cur.type) {
	case SW_BUNDLE_DIR:
		if (mkdirat(dfd, leaf, 0755) < 0) {
			if (errno != EEXIST || fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
				sw_br_unsafe(r, err, "directory '%s' clashes with an earlier entry", r->path);
				goto out;
			}
		}
		break;
	case SW_BUNDLE_FILE:
		fd = openat(dfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, r->cur.mode);
		if (fd < 0) {
			if (errno == EEXIST)
				sw_br_unsafe(r, err, "file '%s' clashes with an earlier entry", r->path);
			else
				sw_err_set(err, SW_EIO, "cannot create '%s': %s", shown, strerror(errno));
			goto out;
		}
		if (sw_br_data(r, fd, shown, err) < 0) {
			close(fd);
			goto out;
		}
		if (fchmod(fd, r->cur.mode) < 0) {
			sw_err_set(err, SW_EIO, "cannot set the mode of '%s': %s", shown, strerror(errno));
			close(fd);
			goto out;
		}
		if (close(fd) < 0) {
			sw_err_set(err, SW_EIO, "cannot write '%s': %s", shown, strerror(errno));
			goto out;
		}
		break;
	case SW_BUNDLE_SYMLINK:
		if (symlinkat(r->cur.link, dfd, leaf) < 0) {
			if (errno == EEXIST)
				sw_br_unsafe(r, err, "symlink '%s' clashes with an earlier entry", r->path);
			else
				sw_err_set(err, SW_EIO, "cannot create symlink '%s': %s", shown, strerror(errno));
			goto out;
		}
		break;
	case SW_BUNDLE_HARDLINK:
		if (linkat(rootfd, r->cur.link, dfd, leaf, 0) < 0) {
			if (errno == EEXIST)
				sw_br_unsafe(r, err, "hardlink '%s' clashes with an earlier entry", r->path);
			else
				sw_err_set(err, SW_EIO, "cannot create hardlink '%s': %s", shown, strerror(errno));
			goto out;
		}
		break;
	}
	rc = 0;
out:
	if (dfd != rootfd)
		close(dfd);
	return rc;
}

/*
 * Pass 1 of an unpack: every header-level check, without writing, data
 * skipped; *total gets the claimed unpacked size.
 */
static int sw_unpack_precheck(const char *bundle, const void *data, size_t len, const struct sw_bundle_limits *lim,
			      uint64_t *total, struct sw_err *err)
{
	struct archive_entry *ae;
	struct sw_br r;
	int rc;

	if (sw_br_open(&r, bundle, data, len, lim, err) < 0)
		return -1;
	while ((rc = sw_br_next(&r, &ae, err)) > 0) {
		if (r.cur.type != SW_BUNDLE_FILE)
			continue;
		if (archive_read_data_skip(r.a) != ARCHIVE_OK) {
			rc = sw_br_corrupt(&r, err);
			break;
		}
		r.total += r.cur.size; /* sw_br_next() checked that it fits */
	}
	*total = r.total;
	sw_br_close(&r);
	return rc < 0 ? -1 : 0;
}

/* Room for total bytes plus 10% plus the margin on the file system of dir? */
static int sw_unpack_space(const char *dir, const char *dest, uint64_t total, uint64_t margin, struct sw_err *err)
{
	struct statvfs vfs;
	uint64_t need, avail;

	if (statvfs(dir, &vfs) < 0)
		return sw_err_set(err, SW_EIO, "cannot check the free space in '%s': %s", dir, strerror(errno));
	avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
	need = total + total / 10;
	need = need > UINT64_MAX - margin ? UINT64_MAX : need + margin;
	if (avail < need)
		return sw_err_set(err, SW_EIO,
				  "%s: unpacking '%s' needs %llu bytes free (%llu unpacked + 10%% + a margin of %llu), "
				  "%llu available",
				  strerror(ENOSPC), dest, (unsigned long long)need, (unsigned long long)total,
				  (unsigned long long)margin, (unsigned long long)avail);
	return 0;
}

/* See SLIPWAY_TEST_UNPACK_GATE in bundle.h: block until a writer opened and closed the FIFO. */
static void sw_unpack_test_gate(void)
{
	const char *gate = getenv("SLIPWAY_TEST_UNPACK_GATE");
	char buf[64];
	int fd;

	if (!gate || !*gate)
		return;
	fd = open(gate, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0 || (n < 0 && errno == EINTR))
			continue;
		break; /* EOF: the writer closed it */
	}
	close(fd);
}

static int sw_unpack(const char *bundle, const void *data, size_t len, const char *dest,
		     const struct sw_bundle_limits *lim, struct sw_err *err)
{
	char tmp[PATH_MAX], parent[PATH_MAX];
	struct archive_entry *ae;
	struct sw_br r;
	struct sw_err ignored = SW_ERR_INIT;
	struct sw_bundle_limits def = SW_BUNDLE_LIMITS_DEFAULT;
	int rootfd = -1, rc, made = 0, gated = 0;
	uint64_t total = 0;
	char *slash;

	if (sw_strlcpy(parent, dest, sizeof(parent)) < 0 || sw_snprintf(tmp, sizeof(tmp), "%s.unpack-XXXXXX", dest) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long: '%s'", dest);
	while (strlen(parent) > 1 && parent[strlen(parent) - 1] == '/')
		parent[strlen(parent) - 1] = '\0';
	slash = strrchr(parent, '/');
	if (slash)
		*(slash == parent ? slash + 1 : slash) = '\0';
	else
		sw_strlcpy(parent, ".", sizeof(parent));
	if (sw_fs_exists(dest))
		return sw_err_set(err, SW_EINPUT, "cannot unpack into '%s': it already exists", dest);
	if (sw_unpack_precheck(bundle, data, len, lim, &total, err) < 0 ||
	    sw_unpack_space(parent, dest, total, (lim ? lim : &def)->free_margin_bytes, err) < 0)
		return -1;
	if (sw_br_open(&r, bundle, data, len, lim, err) < 0)
		return -1;
	if (!mkdtemp(tmp)) {
		sw_err_set(err, SW_EIO, "cannot create a directory beside '%s': %s", dest, strerror(errno));
		goto fail;
	}
	made = 1;
	rootfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0) {
		sw_err_set(err, SW_EIO, "cannot open '%s': %s", tmp, strerror(errno));
		goto fail;
	}
	for (;;) {
		rc = sw_br_next(&r, &ae, err);
		if (rc < 0)
			goto fail;
		if (rc == 0)
			break;
		if (sw_unpack_entry(&r, rootfd, tmp, err) < 0)
			goto fail;
		if (!gated++)
			sw_unpack_test_gate();
	}
	if (sw_br_canceled(&r, err) < 0)
		goto fail;
	if (fchmod(rootfd, 0755) < 0 || syncfs(rootfd) < 0) {
		sw_err_set(err, SW_EIO, "cannot sync '%s': %s", tmp, strerror(errno));
		goto fail;
	}
	close(rootfd);
	rootfd = -1;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_NOREPLACE) < 0) {
		if (errno == EINVAL && !sw_fs_exists(dest) && rename(tmp, dest) == 0)
			goto renamed;
		if (errno == EEXIST || errno == ENOTEMPTY)
			sw_err_set(err, SW_EINPUT, "cannot unpack into '%s': it already exists", dest);
		else
			sw_err_set(err, SW_EIO, "cannot rename '%s' to '%s': %s", tmp, dest, strerror(errno));
		goto fail;
	}
renamed:
	sw_br_close(&r);
	sw_fs_sync_dir(parent, &ignored);
	return 0;
fail:
	if (rootfd >= 0)
		close(rootfd);
	sw_br_close(&r);
	if (made)
		sw_fs_remove_tree(tmp, &ignored);
	return -1;
}

int sw_bundle_unpack(const char *bundle, const char *dest, const struct sw_bundle_limits *lim, struct sw_err *err)
{
	return sw_unpack(bundle, NULL, 0, dest, lim, err);
}

int sw_bundle_unpack_mem(const void *data, size_t len, const char *dest, const struct sw_bundle_limits *lim,
			 struct sw_err *err)
{
	return sw_unpack(NULL, data, len, dest, lim, err);
}
