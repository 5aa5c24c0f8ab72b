/*
 * fs.c - atomic writes, bounded reads, directories (see fs.h).
 * Calls only libc, base/buf, base/err.
 */
#include "base/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int sw_dirname(const char *path, char *out, size_t size)
{
	char tmp[PATH_MAX];

	if (sw_strlcpy(tmp, path, sizeof(tmp)) < 0)
		return -1;
	return sw_strlcpy(out, dirname(tmp), size);
}

int sw_fs_sync_dir(const char *dir, struct sw_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return sw_err_set(err, SW_EIO, "cannot open directory '%s': %s", dir, strerror(errno));
	if (fsync(fd) < 0 && errno != EINVAL) {
		int e = errno;
		close(fd);
		return sw_err_set(err, SW_EIO, "cannot sync directory '%s': %s", dir, strerror(e));
	}
	close(fd);
	return 0;
}

int sw_fs_write_all(int fd, const void *data, size_t len, const char *path, struct sw_err *err)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return sw_err_set(err, SW_EIO, "cannot write '%s': %s", path,
					  n < 0 ? strerror(errno) : "short write");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sw_fs_close_synced(int fd, const char *path, struct sw_err *err)
{
	if (fsync(fd) < 0) {
		sw_err_set(err, SW_EIO, "cannot sync '%s': %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) < 0) {
		sw_err_set(err, SW_EIO, "cannot write '%s': %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

int sw_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct sw_err *err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd;

	if (sw_snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) < 0 ||
	    sw_dirname(path, dir, sizeof(dir)) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long: '%s'", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return sw_err_set(err, SW_EIO, "cannot create '%s': %s", tmp, strerror(errno));
	if (sw_fs_write_all(fd, data, len, path, err) < 0 || fchmod(fd, mode) < 0) {
		if (err && err->code == SW_OK)
			sw_err_set(err, SW_EIO, "cannot chmod '%s': %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (sw_fs_close_synced(fd, tmp, err) < 0)
		return -1;
	if (rename(tmp, path) < 0) {
		sw_err_set(err, SW_EIO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return sw_fs_sync_dir(dir, err);
}

int sw_fs_open_regular(const char *path, struct sw_err *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC), fl, e;

	if (fd < 0)
		return sw_err_set(err, errno == ENOENT ? SW_ENOTFOUND : SW_EIO, "cannot open '%s': %s", path,
				  strerror(errno));
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		return sw_err_set(err, SW_EIO, "cannot stat '%s': %s", path, strerror(e));
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return sw_err_set(err, SW_EINPUT, "'%s' is a directory", path);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return sw_err_set(err, SW_EINPUT, "'%s' is not a regular file", path);
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		e = errno;
		close(fd);
		return sw_err_set(err, SW_EIO, "cannot read '%s': %s", path, strerror(e));
	}
	return fd;
}

int sw_fs_check_regular(const char *path, struct sw_err *err)
{
	int fd = sw_fs_open_regular(path, err);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int sw_fs_read_chunks(const char *path, sw_fs_chunk_cb cb, void *ctx, struct sw_err *err)
{
	unsigned char chunk[65536];
	int fd = sw_fs_open_regular(path, err);

	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			return sw_err_set(err, SW_EIO, "cannot read '%s': %s", path, strerror(e));
		}
		if (n == 0)
			break;
		if (cb(chunk, (size_t)n, ctx) < 0) {
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

struct sw_fs_read_ctx {
	struct sw_buf *out;
	size_t max;
	const char *path;
	struct sw_err *err;
};

static int sw_fs_read_into(const void *chunk, size_t n, void *ctx)
{
	struct sw_fs_read_ctx *c = ctx;

	if (c->out->len + n > c->max || sw_buf_append(c->out, chunk, n) < 0)
		return sw_err_set(c->err, SW_EINPUT, "'%s' is larger than %zu bytes", c->path, c->max);
	return 0;
}

int sw_fs_read_file(const char *path, size_t max, struct sw_buf *out, struct sw_err *err)
{
	struct sw_fs_read_ctx c = { .out = out, .max = max, .path = path, .err = err };

	return sw_fs_read_chunks(path, sw_fs_read_into, &c, err);
}

int sw_fs_mkdirs(const char *path, mode_t mode, struct sw_err *err)
{
	char tmp[PATH_MAX];
	size_t i, n;

	if (sw_strlcpy(tmp, path, sizeof(tmp)) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long: '%s'", path);
	n = strlen(tmp);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return sw_err_set(err, SW_EIO, "cannot create directory '%s': %s", tmp, strerror(errno));
		if (i < n)
			tmp[i] = '/';
	}
	if (!sw_fs_is_dir(path))
		return sw_err_set(err, SW_EIO, "'%s' exists and is not a directory", path);
	return 0;
}

static int sw_remove_at(int parent, const char *name, struct sw_err *err, int depth)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int fd, rc = 0;

	if (depth > 256)
		return sw_err_set(err, SW_EIO, "directory tree too deep at '%s'", name);
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : sw_err_set(err, SW_EIO, "cannot stat '%s': %s", name, strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
			return sw_err_set(err, SW_EIO, "cannot remove '%s': %s", name, strerror(errno));
		return 0;
	}
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return sw_err_set(err, SW_EIO, "cannot open '%s': %s", name, strerror(errno));
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return sw_err_set(err, SW_EIO, "cannot read '%s': %s", name, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (sw_remove_at(dirfd(d), de->d_name, err, depth + 1) < 0) {
			rc = -1;
			break;
		}
	}
	closedir(d);
	if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return sw_err_set(err, SW_EIO, "cannot remove '%s': %s", name, strerror(errno));
	return rc;
}

int sw_fs_remove_tree(const char *path, struct sw_err *err)
{
	return sw_remove_at(AT_FDCWD, path, err, 0);
}

int sw_fs_copy_file(const char *src, const char *dst, struct sw_err *err)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct stat st;
	int rc;

	if (stat(src, &st) < 0)
		return sw_err_set(err, SW_EIO, "cannot stat '%s': %s", src, strerror(errno));
	if (sw_fs_read_file(src, SW_BUF_UNLIMITED, &b, err) < 0) {
		sw_buf_release(&b);
		return -1;
	}
	rc = sw_fs_write_atomic(dst, b.data ? b.data : "", b.len, st.st_mode & 07777, err);
	sw_buf_release(&b);
	return rc;
}

int sw_fs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int sw_fs_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int sw_path_join(char *out, size_t size, const char *a, const char *b)
{
	size_t la = strlen(a);

	if (la && a[la - 1] == '/')
		return sw_snprintf(out, size, "%s%s", a, b) < 0 ? -1 : 0;
	return sw_snprintf(out, size, "%s/%s", a, b) < 0 ? -1 : 0;
}

int sw_home_dir(char *out, size_t size, struct sw_err *err)
{
	const char *h = getenv("SLIPWAY_HOME");

	if (h && *h) {
		if (sw_strlcpy(out, h, size) < 0)
			return sw_err_set(err, SW_EINPUT, "SLIPWAY_HOME is too long");
		return 0;
	}
	h = getenv("HOME");
	if (!h || !*h)
		return sw_err_set(err, SW_EINPUT, "neither SLIPWAY_HOME nor HOME is set");
	if (sw_path_join(out, size, h, ".slipway") < 0)
		return sw_err_set(err, SW_EINPUT, "HOME is too long");
	return 0;
}

int sw_home_subdir(char *out, size_t size, const char *sub, struct sw_err *err)
{
	char home[PATH_MAX];

	if (sw_home_dir(home, sizeof(home), err) < 0)
		return -1;
	if (sub && *sub) {
		if (sw_path_join(out, size, home, sub) < 0)
			return sw_err_set(err, SW_EINPUT, "path too long under '%s'", home);
	} else if (sw_strlcpy(out, home, size) < 0) {
		return sw_err_set(err, SW_EINPUT, "path too long: '%s'", home);
	}
	return sw_fs_mkdirs(out, 0700, err);
}
