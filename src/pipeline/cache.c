/*
 * cache.c - content-hash keys and the output cache (see cache.h).
 * Calls libc, base/ and spec/spec.h.
 */
#include "pipeline/cache.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SW_CACHE_MAX_DEPTH 256

int sw_cache_open(struct sw_cache *c, const char *dir, struct sw_err *err)
{
	if (sw_strlcpy(c->dir, dir, sizeof(c->dir)) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long: '%s'", dir);
	return sw_fs_mkdirs(c->dir, 0700, err);
}

bool sw_cache_output_ok(const char *path)
{
	const char *p = path;

	if (!*path || *path == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if ((n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		while (*p == '/')
			p++;
	}
	/* Only "." components (".", "./", "./."): the directory itself. */
	for (p = path; *p; p++)
		if (*p != '.' && *p != '/')
			return true;
	return false;
}

/* ---- key ---- */

/* One field: tag, 8-byte little-endian length, bytes. Unambiguous. */
static void sw_frame(struct sw_sha256 *h, char tag, const void *p, size_t n)
{
	unsigned char len[8];
	uint64_t v = n;
	int i;

	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)(v >> (8 * i));
	sw_sha256_update(h, &tag, 1);
	sw_sha256_update(h, len, sizeof(len));
	sw_sha256_update(h, p, n);
}

static void sw_frame_str(struct sw_sha256 *h, char tag, const char *s)
{
	sw_frame(h, tag, s, strlen(s));
}

struct sw_cache_file {
	char *rel; /* path relative to the spec's directory (or absolute if the pattern was) */
	char *abs;
};

struct sw_cache_files {
	struct sw_cache_file *v;
	size_t n, cap;
};

static int sw_files_push(struct sw_cache_files *f, const char *rel, const char *abs, struct sw_err *err)
{
	if (f->n >= SW_CACHE_MAX_FILES)
		return sw_err_set(err, SW_EINPUT, "cache inputs match more than %d files", SW_CACHE_MAX_FILES);
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->v = sw_xreallocarray(f->v, f->cap, sizeof(*f->v));
	}
	f->v[f->n].rel = sw_xstrdup(rel);
	f->v[f->n].abs = sw_xstrdup(abs);
	f->n++;
	return 0;
}

static void sw_files_release(struct sw_cache_files *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->v[i].rel);
		free(f->v[i].abs);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}

static int sw_files_walk(struct sw_cache_files *f, const char *abs, const char *rel, int depth, struct sw_err *err)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (depth > SW_CACHE_MAX_DEPTH)
		return sw_err_set(err, SW_EINPUT, "directory tree too deep at '%s'", abs);
	d = opendir(abs);
	if (!d)
		return sw_err_set(err, SW_EIO, "cannot read directory '%s': %s", abs, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		struct sw_buf ca = SW_BUF_INIT(PATH_MAX), cr = SW_BUF_INIT(PATH_MAX);
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		sw_buf_printf(&ca, "%s/%s", abs, de->d_name);
		sw_buf_printf(&cr, "%s/%s", rel, de->d_name);
		if (sw_buf_failed(&ca) || sw_buf_failed(&cr)) {
			rc = sw_err_set(err, SW_EINPUT, "path too long under '%s'", abs);
		} else if (lstat(ca.data, &st) < 0) {
			if (errno != ENOENT)
				rc = sw_err_set(err, SW_EIO, "cannot stat '%s': %s", ca.data, strerror(errno));
		} else {
			rc = sw_files_push(f, cr.data, ca.data, err);
			if (rc == 0 && S_ISDIR(st.st_mode))
				rc = sw_files_walk(f, ca.data, cr.data, depth + 1, err);
		}
		sw_buf_release(&ca);
		sw_buf_release(&cr);
		if (rc < 0)
			break;
	}
	closedir(d);
	return rc;
}

/* Escape glob metacharacters of a literal path prefix. */
static void sw_glob_escape(struct sw_buf *b, const char *s)
{
	for (; *s; s++) {
		if (strchr("*?[]\\", *s))
			sw_buf_putc(b, '\\');
		sw_buf_putc(b, *s);
	}
}

static int sw_files_glob(struct sw_cache_files *f, const char *dir, const char *pattern, struct sw_err *err)
{
	struct sw_buf pat = SW_BUF_INIT(PATH_MAX);
	size_t prefix, i;
	glob_t g;
	int rc = 0, grc;

	if (pattern[0] != '/') {
		sw_glob_escape(&pat, dir);
		sw_buf_putc(&pat, '/');
	}
	prefix = strlen(dir) + 1;
	sw_buf_puts(&pat, pattern);
	while (pat.len > 1 && pat.data[pat.len - 1] == '/')
		sw_buf_truncate(&pat, pat.len - 1);
	if (sw_buf_failed(&pat)) {
		sw_buf_release(&pat);
		return sw_err_set(err, SW_EINPUT, "cache pattern too long: '%s'", pattern);
	}
	grc = glob(pat.data, GLOB_NOSORT, NULL, &g);
	sw_buf_release(&pat);
	if (grc == GLOB_NOMATCH)
		return 0;
	if (grc != 0)
		return sw_err_set(err, SW_EIO, "cannot expand cache pattern '%s'", pattern);
	for (i = 0; i < g.gl_pathc && rc == 0; i++) {
		const char *abs = g.gl_pathv[i];
		const char *rel = pattern[0] == '/' ? abs : abs + prefix;
		struct stat st;

		if (pattern[0] != '/' && strlen(abs) < prefix)
			continue;
		if (lstat(abs, &st) < 0)
			continue;
		rc = sw_files_push(f, rel, abs, err);
		if (rc == 0 && S_ISDIR(st.st_mode))
			rc = sw_files_walk(f, abs, rel, 0, err);
	}
	globfree(&g);
	return rc;
}

static int sw_file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sw_cache_file *)a)->rel, ((const struct sw_cache_file *)b)->rel);
}

static int sw_hash_file_entry(struct sw_sha256 *h, const struct sw_cache_file *cf, struct sw_err *err)
{
	char hex[SW_SHA256_HEX], mode[16], target[PATH_MAX];
	struct stat st;
	ssize_t n;

	sw_frame_str(h, 'P', cf->rel);
	if (lstat(cf->abs, &st) < 0) {
		sw_frame_str(h, 'T', "missing");
		return 0;
	}
	snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
	if (S_ISREG(st.st_mode)) {
		sw_frame_str(h, 'T', "file");
		sw_frame_str(h, 'M', mode);
		if (sw_sha256_file_hex(cf->abs, hex, NULL, err) < 0)
			return -1;
		sw_frame_str(h, 'C', hex);
	} else if (S_ISLNK(st.st_mode)) {
		sw_frame_str(h, 'T', "symlink");
		n = readlink(cf->abs, target, sizeof(target) - 1);
		if (n < 0)
			return sw_err_set(err, SW_EIO, "cannot read link '%s': %s", cf->abs, strerror(errno));
		sw_frame(h, 'C', target, (size_t)n);
	} else if (S_ISDIR(st.st_mode)) {
		sw_frame_str(h, 'T', "dir");
		sw_frame_str(h, 'M', mode);
	} else {
		sw_frame_str(h, 'T', "other");
	}
	return 0;
}

static int sw_kv_cmp(const void *a, const void *b)
{
	const struct sw_spec_kv *x = *(const struct sw_spec_kv *const *)a, *y = *(const struct sw_spec_kv *const *)b;

	return strcmp(x->key, y->key);
}

static int sw_str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int sw_cache_key(const struct sw_spec_job *job, const char *dir, const char *const *dep_keys,
		 const char *const *dep_names, size_t ndeps, char key[SW_SHA256_HEX], struct sw_err *err)
{
	struct sw_cache_files files = { 0 };
	const struct sw_spec_kv **env;
	const char **secrets;
	struct sw_sha256 h;
	size_t i;
	int rc = 0;

	sw_sha256_init(&h);
	sw_frame_str(&h, 'V', "slipway-cache-v1");
	sw_frame_str(&h, 'J', job->name);
	for (i = 0; i < job->nsteps; i++)
		sw_frame_str(&h, 'S', job->steps[i].run ? job->steps[i].run : "");
	env = sw_xmallocarray(job->nenv ? job->nenv : 1, sizeof(*env));
	for (i = 0; i < job->nenv; i++)
		env[i] = &job->env[i];
	qsort(env, job->nenv, sizeof(*env), sw_kv_cmp);
	for (i = 0; i < job->nenv; i++) {
		sw_frame_str(&h, 'E', env[i]->key);
		sw_frame_str(&h, 'e', env[i]->value ? env[i]->value : "");
	}
	free(env);
	secrets = sw_xmallocarray(job->nsecrets ? job->nsecrets : 1, sizeof(*secrets));
	for (i = 0; i < job->nsecrets; i++)
		secrets[i] = job->secrets[i];
	qsort(secrets, job->nsecrets, sizeof(*secrets), sw_str_cmp);
	for (i = 0; i < job->nsecrets; i++)
		sw_frame_str(&h, 'K', secrets[i]);
	free(secrets);
	sw_frame_str(&h, 'W', job->workdir ? job->workdir : ".");
	for (i = 0; i < job->noutputs; i++)
		sw_frame_str(&h, 'O', job->outputs[i]);
	for (i = 0; i < job->ncache && rc == 0; i++) {
		sw_frame_str(&h, 'G', job->cache[i]);
		rc = sw_files_glob(&files, dir, job->cache[i], err);
	}
	if (rc == 0) {
		size_t j = 0;

		if (files.n)
			qsort(files.v, files.n, sizeof(*files.v), sw_file_cmp);
		for (i = 0; i < files.n && rc == 0; i++) {
			if (j > 0 && !strcmp(files.v[i].rel, files.v[j - 1].rel))
				continue; /* matched by two patterns */
			j = i + 1;
			rc = sw_hash_file_entry(&h, &files.v[i], err);
		}
	}
	for (i = 0; i < ndeps && rc == 0; i++) {
		if (dep_keys[i])
			sw_frame_str(&h, 'D', dep_keys[i]);
		else
			sw_frame_str(&h, 'N', dep_names[i]);
	}
	sw_files_release(&files);
	if (rc == 0)
		sw_sha256_final_hex(&h, key);
	return rc;
}

/* ---- entries ---- */

static int sw_entry_path(const struct sw_cache *c, const char *key, const char *sub, char *out, size_t size,
			 struct sw_err *err)
{
	int n = sub ? snprintf(out, size, "%s/%s/%s", c->dir, key, sub) : snprintf(out, size, "%s/%s", c->dir, key);

	if (n < 0 || (size_t)n >= size)
		return sw_err_set(err, SW_EINPUT, "cache path too long under '%s'", c->dir);
	return 0;
}

bool sw_cache_has(const struct sw_cache *c, const char *key)
{
	char p[PATH_MAX];

	if (!sw_is_sha256_hex(key) || sw_entry_path(c, key, "entry.json", p, sizeof(p), NULL) < 0)
		return false;
	return access(p, R_OK) == 0;
}

static int sw_copy_data(const char *src, const char *dst, mode_t mode, struct sw_err *err)
{
	char chunk[65536];
	int in, out, rc = 0;

	in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return sw_err_set(err, SW_EIO, "cannot open '%s': %s", src, strerror(errno));
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0) {
		rc = sw_err_set(err, SW_EIO, "cannot create '%s': %s", dst, strerror(errno));
		close(in);
		return rc;
	}
	for (;;) {
		ssize_t n = read(in, chunk, sizeof(chunk)), w = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = sw_err_set(err, SW_EIO, "cannot read '%s': %s", src, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		while (w < n) {
			ssize_t k = write(out, chunk + w, (size_t)(n - w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				rc = sw_err_set(err, SW_EIO, "cannot write '%s': %s", dst, strerror(errno));
				break;
			}
			w += k;
		}
		if (rc < 0)
			break;
	}
	if (rc == 0 && fchmod(out, mode & 07777) < 0)
		rc = sw_err_set(err, SW_EIO, "cannot set the mode of '%s': %s", dst, strerror(errno));
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = sw_err_set(err, SW_EIO, "cannot write '%s': %s", dst, strerror(errno));
	if (rc < 0)
		unlink(dst);
	return rc;
}

/*
 * Copy src (file, directory or symlink) to dst, modes kept. With replace,
 * what is at dst is replaced (files atomically) and directories are merged.
 */
static int sw_copy_tree(const char *src, const char *dst, bool replace, int depth, struct sw_err *err)
{
	struct stat st, dt;
	bool dst_exists;

	if (depth > SW_CACHE_MAX_DEPTH)
		return sw_err_set(err, SW_EINPUT, "directory tree too deep at '%s'", src);
	if (lstat(src, &st) < 0)
		return sw_err_set(err, SW_EIO, "cannot stat '%s': %s", src, strerror(errno));
	dst_exists = lstat(dst, &dt) == 0;
	if (dst_exists && replace && S_ISDIR(dt.st_mode) != S_ISDIR(st.st_mode) &&
	    sw_fs_remove_tree(dst, err) < 0)
		return -1;
	if (dst_exists && replace && S_ISDIR(dt.st_mode) != S_ISDIR(st.st_mode))
		dst_exists = false;
	if (S_ISDIR(st.st_mode)) {
		struct dirent *de;
		DIR *d;
		int rc = 0;

		if (!dst_exists && mkdir(dst, 0700) < 0)
			return sw_err_set(err, SW_EIO, "cannot create directory '%s': %s", dst, strerror(errno));
		if (dst_exists)
			chmod(dst, (dt.st_mode & 07777) | 0700);
		d = opendir(src);
		if (!d)
			return sw_err_set(err, SW_EIO, "cannot read directory '%s': %s", src, strerror(errno));
		while (rc == 0 && (de = readdir(d)) != NULL) {
			struct sw_buf s = SW_BUF_INIT(PATH_MAX), t = SW_BUF_INIT(PATH_MAX);

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			sw_buf_printf(&s, "%s/%s", src, de->d_name);
			sw_buf_printf(&t, "%s/%s", dst, de->d_name);
			if (sw_buf_failed(&s) || sw_buf_failed(&t))
				rc = sw_err_set(err, SW_EINPUT, "path too long under '%s'", src);
			else
				rc = sw_copy_tree(s.data, t.data, replace, depth + 1, err);
			sw_buf_release(&s);
			sw_buf_release(&t);
		}
		closedir(d);
		if (rc == 0 && chmod(dst, st.st_mode & 07777) < 0)
			rc = sw_err_set(err, SW_EIO, "cannot set the mode of '%s': %s", dst, strerror(errno));
		return rc;
	}
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(src, target, sizeof(target) - 1);

		if (n < 0)
			return sw_err_set(err, SW_EIO, "cannot read link '%s': %s", src, strerror(errno));
		target[n] = '\0';
		if (dst_exists && unlink(dst) < 0)
			return sw_err_set(err, SW_EIO, "cannot remove '%s': %s", dst, strerror(errno));
		if (symlink(target, dst) < 0)
			return sw_err_set(err, SW_EIO, "cannot create link '%s': %s", dst, strerror(errno));
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return 0; /* sockets, fifos, devices: not outputs we keep */
	if (!dst_exists)
		return sw_copy_data(src, dst, st.st_mode, err);
	{
		char tmp[PATH_MAX];

		if (sw_snprintf(tmp, sizeof(tmp), "%s.slipway-tmp.%ld", dst, (long)getpid()) < 0)
			return sw_err_set(err, SW_EINPUT, "path too long: '%s'", dst);
		unlink(tmp);
		if (sw_copy_data(src, tmp, st.st_mode, err) < 0)
			return -1;
		if (rename(tmp, dst) < 0) {
			int e = errno;

			unlink(tmp);
			return sw_err_set(err, SW_EIO, "cannot replace '%s': %s", dst, strerror(e));
		}
	}
	return 0;
}

/* mkdir -p of the directory that will hold path. */
static int sw_mkdirs_parent(const char *path, struct sw_err *err)
{
	char dir[PATH_MAX];
	char *slash;

	if (sw_strlcpy(dir, path, sizeof(dir)) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long: '%s'", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	return sw_fs_mkdirs(dir, 0755, err);
}

/* "dist/" -> "dist", "./a//b/" -> "./a//b" (no trailing slashes). */
static void sw_output_rel(const char *out, char *rel, size_t size)
{
	size_t n;

	sw_strlcpy(rel, out, size);
	n = strlen(rel);
	while (n > 1 && rel[n - 1] == '/')
		rel[--n] = '\0';
}

int sw_cache_restore(const struct sw_cache *c, const char *key, const char *dir, struct sw_err *err)
{
	char path[PATH_MAX], rel[PATH_MAX], src[PATH_MAX], dst[PATH_MAX];
	json_t *entry, *outs, *v;
	size_t i;
	int rc = 0;

	if (!sw_is_sha256_hex(key))
		return sw_err_set(err, SW_EINPUT, "bad cache key '%s'", key);
	if (sw_entry_path(c, key, "entry.json", path, sizeof(path), err) < 0)
		return -1;
	entry = sw_json_load_file(path, 1 << 20, err);
	if (!entry)
		return -1;
	outs = json_object_get(entry, "outputs");
	if (!json_is_array(outs)) {
		json_decref(entry);
		return sw_err_set(err, SW_EINTEGRITY, "cache entry '%s' has no outputs list", path);
	}
	if (sw_fs_mkdirs(dir, 0755, err) < 0) {
		json_decref(entry);
		return -1;
	}
	json_array_foreach(outs, i, v) {
		const char *o = json_string_value(v);

		if (!o || !sw_cache_output_ok(o)) {
			rc = sw_err_set(err, SW_EINTEGRITY, "cache entry '%s' has a bad output path", path);
			break;
		}
		sw_output_rel(o, rel, sizeof(rel));
		if (sw_snprintf(src, sizeof(src), "%s/%s/files/%s", c->dir, key, rel) < 0 ||
		    sw_snprintf(dst, sizeof(dst), "%s/%s", dir, rel) < 0) {
			rc = sw_err_set(err, SW_EINPUT, "path too long for output '%s'", o);
			break;
		}
		if (!sw_fs_exists(src)) {
			rc = sw_err_set(err, SW_EINTEGRITY, "cache entry '%s' lacks output '%s'", key, o);
			break;
		}
		rc = sw_mkdirs_parent(dst, err);
		if (rc == 0)
			rc = sw_copy_tree(src, dst, true, 0, err);
		if (rc < 0)
			break;
	}
	json_decref(entry);
	return rc;
}

int sw_cache_store(const struct sw_cache *c, const char *key, const struct sw_spec_job *job, const char *dir,
		   const char *run_id, struct sw_err *err)
{
	static unsigned counter;
	char tmp[PATH_MAX], final[PATH_MAX], rel[PATH_MAX], src[PATH_MAX], dst[PATH_MAX], now[SW_TIME_STR_MAX];
	json_t *entry = NULL, *outs;
	size_t i;
	int rc = 0;

	if (!sw_is_sha256_hex(key))
		return sw_err_set(err, SW_EINPUT, "bad cache key '%s'", key);
	if (sw_cache_has(c, key))
		return 0;
	if (sw_entry_path(c, key, NULL, final, sizeof(final), err) < 0)
		return -1;
	if (sw_snprintf(tmp, sizeof(tmp), "%s/.tmp-%.16s-%ld-%u", c->dir, key, (long)getpid(), counter++) < 0)
		return sw_err_set(err, SW_EINPUT, "cache path too long under '%s'", c->dir);
	if (sw_fs_remove_tree(tmp, err) < 0)
		return -1;
	if (sw_snprintf(dst, sizeof(dst), "%s/files", tmp) < 0 || sw_fs_mkdirs(dst, 0700, err) < 0) {
		rc = sw_err_set(err, SW_EIO, "cannot create cache directory '%s'", dst);
		goto fail;
	}
	outs = json_array();
	for (i = 0; i < job->noutputs; i++) {
		const char *o = job->outputs[i];

		if (!sw_cache_output_ok(o)) {
			json_decref(outs);
			rc = sw_err_set(err, SW_EINPUT, "output '%s' must be a relative path without '..'", o);
			goto fail;
		}
		sw_output_rel(o, rel, sizeof(rel));
		if (sw_snprintf(src, sizeof(src), "%s/%s", dir, rel) < 0 ||
		    sw_snprintf(dst, sizeof(dst), "%s/files/%s", tmp, rel) < 0) {
			json_decref(outs);
			rc = sw_err_set(err, SW_EINPUT, "path too long for output '%s'", o);
			goto fail;
		}
		if (!sw_fs_exists(src)) {
			json_decref(outs);
			rc = sw_err_set(err, SW_ENOTFOUND, "output '%s' not found in '%s'", o, dir);
			goto fail;
		}
		if (sw_mkdirs_parent(dst, err) < 0 || sw_copy_tree(src, dst, false, 0, err) < 0) {
			json_decref(outs);
			rc = -1;
			goto fail;
		}
		json_array_append_new(outs, json_string(o));
	}
	entry = json_pack("{s:s, s:s, s:s, s:s, s:o}", "key", key, "job", job->name, "run_id", run_id ? run_id : "",
			  "created", sw_clock_format_utc(sw_clock_wall_ms(), now, sizeof(now)), "outputs", outs);
	if (!entry) {
		rc = sw_err_set(err, SW_EINTERNAL, "cannot build cache entry for '%s'", job->name);
		goto fail;
	}
	if (sw_snprintf(dst, sizeof(dst), "%s/entry.json", tmp) < 0 || sw_json_write_file(dst, entry, 0600, err) < 0) {
		rc = -1;
		goto fail;
	}
	json_decref(entry);
	entry = NULL;
	if (rename(tmp, final) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY) { /* stored meanwhile by another run */
			sw_fs_remove_tree(tmp, NULL);
			return 0;
		}
		rc = sw_err_set(err, SW_EIO, "cannot rename '%s' to '%s': %s", tmp, final, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	json_decref(entry);
	sw_fs_remove_tree(tmp, NULL);
	return rc ? rc : -1;
}
