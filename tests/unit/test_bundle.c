/*
 * test_bundle.c - unit tests for src/release/bundle: path rules, the
 * deterministic writer, the streaming checker and every refusal of the safe
 * unpacker (hostile archives are crafted here with libarchive).
 */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/hash.h"
#include "release/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static char tmpdir[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sw-test-bundle-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return sw_hash_global_init();
}

static int teardown(void **state)
{
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	return sw_fs_remove_tree(tmpdir, &err);
}

static void put(const char *dir, const char *rel, const char *content, mode_t mode)
{
	char p[PATH_MAX];
	struct sw_err err = SW_ERR_INIT;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(sw_fs_write_atomic(p, content, strlen(content), mode, &err), 0);
}

static void mk(const char *dir, const char *rel)
{
	char p[PATH_MAX];
	struct sw_err err = SW_ERR_INIT;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(sw_fs_mkdirs(p, 0755, &err), 0);
}

static void sub(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", tmpdir, name);
}

/* Number of entries in a directory (to prove nothing was left behind). */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_paths(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(sw_bundle_norm_path("./dist//app/", out, sizeof(out)), 0);
	assert_string_equal(out, "dist/app");
	assert_int_equal(sw_bundle_norm_path("a/./b", out, sizeof(out)), 0);
	assert_string_equal(out, "a/b");
	assert_int_equal(sw_bundle_norm_path("/etc/passwd", out, sizeof(out)), -1);
	assert_int_equal(sw_bundle_norm_path("a/../b", out, sizeof(out)), -1);
	assert_int_equal(sw_bundle_norm_path("..", out, sizeof(out)), -1);
	assert_int_equal(sw_bundle_norm_path(".", out, sizeof(out)), -1);
	assert_int_equal(sw_bundle_norm_path("", out, sizeof(out)), -1);
	assert_int_equal(sw_bundle_norm_path("abcdefghij", out, 8), -1);

	assert_int_equal(sw_bundle_resolve_link("dist/lib/x.so", "x.so.1", out, sizeof(out)), 0);
	assert_string_equal(out, "dist/lib/x.so.1");
	assert_int_equal(sw_bundle_resolve_link("dist/lib/x", "../bin/y", out, sizeof(out)), 0);
	assert_string_equal(out, "dist/bin/y");
	assert_int_equal(sw_bundle_resolve_link("dist/x", "..", out, sizeof(out)), 0);
	assert_string_equal(out, ""); /* the root itself */
	assert_int_equal(sw_bundle_resolve_link("dist/x", "../..", out, sizeof(out)), -1);
	assert_int_equal(sw_bundle_resolve_link("x", "../y", out, sizeof(out)), -1);
	assert_int_equal(sw_bundle_resolve_link("dist/x", "/etc/passwd", out, sizeof(out)), -1);
	/* ".." after a name could climb through a symlink: refused. */
	assert_int_equal(sw_bundle_resolve_link("dist/x", "sub/../y", out, sizeof(out)), -1);
	assert_int_equal(sw_bundle_resolve_link("dist/x", "", out, sizeof(out)), -1);
}

/* A service tree with files, an executable, a nested directory and an inner symlink. */
static void make_tree(const char *root, mode_t exec_mode)
{
	mk(root, "dist/lib");
	mk(root, "build");
	put(root, "dist/app", "#!/bin/sh\necho app\n", exec_mode);
	put(root, "dist/lib/libx.so.1", "library bytes", 0600);
	put(root, "dist/VERSION", "1.2.3\n", 0664);
	put(root, "build/report.txt", "ok\n", 0644);
	put(root, "unrelated.txt", "not bundled\n", 0644);
	{
		char p[PATH_MAX];

		snprintf(p, sizeof(p), "%s/dist/lib/libx.so", root);
		unlink(p);
		assert_int_equal(symlink("libx.so.1", p), 0);
	}
}

static int collect(struct sw_bundle_list *l, const char *root, struct sw_err *err)
{
	sw_bundle_list_init(l);
	if (sw_bundle_list_add(l, root, "dist/", err) < 0 || sw_bundle_list_add(l, root, "build/report.txt", err) < 0 ||
	    sw_bundle_list_add(l, root, "./dist/app", err) < 0)
		return -1;
	return sw_bundle_list_finish(l, err);
}

struct seen {
	char paths[32][64];
	char sha[32][SW_SHA256_HEX];
	int types[32];
	int n;
};

static int record(const struct sw_bundle_entry *e, void *ctx, struct sw_err *err)
{
	struct seen *s = ctx;

	(void)err;
	assert_true(s->n < 32);
	snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s", e->path);
	memcpy(s->sha[s->n], e->sha256, SW_SHA256_HEX);
	s->types[s->n] = (int)e->type;
	s->n++;
	return 0;
}

static void test_write_deterministic(void **state)
{
	char a[PATH_MAX], b[PATH_MAX], ba[PATH_MAX], bb[PATH_MAX], out[PATH_MAX], p[PATH_MAX];
	struct sw_bundle_list la, lb;
	struct sw_bundle_result ra, rb;
	struct sw_buf xa = SW_BUF_INIT(SW_BUF_UNLIMITED), xb = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	struct seen s = { .n = 0 };
	char want[SW_SHA256_HEX];
	struct timeval tv[2] = { { 1000, 0 }, { 1000, 0 } };
	struct stat st;
	int i;

	(void)state;
	sub(a, "tree-a");
	sub(b, "tree-b");
	make_tree(a, 0755);
	make_tree(b, 0700); /* other permission bits, other mtimes: same bundle */
	snprintf(p, sizeof(p), "%s/dist/VERSION", b);
	assert_int_equal(utimes(p, tv), 0);
	assert_int_equal(collect(&la, a, &err), 0);
	assert_int_equal(collect(&lb, b, &err), 0);
	/* Sorted, parents added, duplicates ("dist/app" twice) dropped. */
	assert_int_equal(la.n, 8);
	assert_string_equal(la.v[0].path, "build");
	assert_int_equal(la.v[0].type, SW_BUNDLE_DIR);
	assert_string_equal(la.v[1].path, "build/report.txt");
	assert_string_equal(la.v[2].path, "dist");
	assert_string_equal(la.v[3].path, "dist/VERSION");
	assert_string_equal(la.v[4].path, "dist/app");
	assert_int_equal(la.v[4].mode, 0755);
	assert_int_equal(la.v[3].mode, 0644);
	assert_string_equal(la.v[6].path, "dist/lib/libx.so");
	assert_int_equal(la.v[6].type, SW_BUNDLE_SYMLINK);

	sub(ba, "a.tar.zst");
	sub(bb, "b.tar.zst");
	assert_int_equal(sw_bundle_write(&la, ba, 1700000000, &ra, &err), 0);
	assert_int_equal(sw_bundle_write(&lb, bb, 1700000000, &rb, &err), 0);
	assert_int_equal(ra.nfiles, 4);
	assert_string_equal(ra.sha256, rb.sha256);
	assert_int_equal(sw_fs_read_file(ba, SW_BUF_UNLIMITED, &xa, &err), 0);
	assert_int_equal(sw_fs_read_file(bb, SW_BUF_UNLIMITED, &xb, &err), 0);
	assert_int_equal(xa.len, xb.len);
	assert_memory_equal(xa.data, xb.data, xa.len);
	assert_int_equal(xa.len, ra.size);
	sw_sha256_hex(xa.data, xa.len, want);
	assert_string_equal(want, ra.sha256);
	/* zstd magic */
	assert_memory_equal(xa.data, "\x28\xb5\x2f\xfd", 4);

	/* Another mtime: other bytes. */
	{
		char bc[PATH_MAX];
		struct sw_bundle_result rc;

		sub(bc, "c.tar.zst");
		assert_int_equal(sw_bundle_write(&la, bc, 0, &rc, &err), 0);
		assert_string_not_equal(rc.sha256, ra.sha256);
	}

	/* The checker sees the entries in order with the right hashes. */
	assert_int_equal(sw_bundle_scan(ba, NULL, record, &s, &err), 0);
	assert_int_equal(s.n, 8);
	for (i = 0; i < s.n; i++)
		assert_string_equal(s.paths[i], la.v[i].path);
	sw_sha256_hex("1.2.3\n", 6, want);
	assert_string_equal(s.sha[3], want);
	assert_string_equal(la.v[3].sha256, want);

	/* Unpack: same content, normalised modes, the symlink kept. */
	sub(out, "unpacked");
	assert_int_equal(sw_bundle_unpack(ba, out, NULL, &err), 0);
	snprintf(p, sizeof(p), "%s/dist/app", out);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	snprintf(p, sizeof(p), "%s/dist/lib/libx.so.1", out);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	snprintf(p, sizeof(p), "%s/dist/lib/libx.so", out);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	snprintf(p, sizeof(p), "%s/unrelated.txt", out);
	assert_false(sw_fs_exists(p));
	/* dest exists now: a second unpack is refused. */
	assert_int_equal(sw_bundle_unpack(ba, out, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "already exists"));

	sw_buf_release(&xa);
	sw_buf_release(&xb);
	sw_bundle_list_release(&la);
	sw_bundle_list_release(&lb);
}

static void test_collect_errors(void **state)
{
	char root[PATH_MAX], p[PATH_MAX], outdir[PATH_MAX];
	struct sw_bundle_list l;
	struct sw_bundle_result r;
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	sub(root, "errs");
	mk(root, "dist");
	put(root, "dist/a", "a", 0644);

	sw_bundle_list_init(&l);
	assert_int_equal(sw_bundle_list_add(&l, root, "dist/missing", &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "'dist/missing'"));
	assert_int_equal(sw_bundle_list_add(&l, root, "../etc", &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_int_equal(sw_bundle_list_add(&l, root, "/etc/passwd", &err), -1);
	assert_int_equal(sw_bundle_list_add(&l, root, ".", &err), -1);

	/* A named output that is a symlink out of the service directory. */
	snprintf(p, sizeof(p), "%s/outside", root);
	assert_int_equal(symlink("/etc", p), 0);
	assert_int_equal(sw_bundle_list_add(&l, root, "outside", &err), -1);
	assert_non_null(strstr(err.msg, "outside the service directory"));

	/* A symlink inside an output that leaves the bundle. */
	snprintf(p, sizeof(p), "%s/dist/escape", root);
	assert_int_equal(symlink("../../etc/passwd", p), 0);
	assert_int_equal(sw_bundle_list_add(&l, root, "dist", &err), 0);
	assert_int_equal(sw_bundle_list_finish(&l, &err), -1);
	assert_non_null(strstr(err.msg, "symlink 'dist/escape'"));
	sw_bundle_list_release(&l);
	unlink(p);

	/* FIFOs are refused. */
	snprintf(p, sizeof(p), "%s/dist/pipe", root);
	assert_int_equal(mkfifo(p, 0644), 0);
	sw_bundle_list_init(&l);
	assert_int_equal(sw_bundle_list_add(&l, root, "dist", &err), -1);
	assert_non_null(strstr(err.msg, "FIFO"));
	sw_bundle_list_release(&l);
	unlink(p);

	/* A file removed between listing and writing: error, no file left. */
	sw_bundle_list_init(&l);
	assert_int_equal(sw_bundle_list_add(&l, root, "dist", &err), 0);
	assert_int_equal(sw_bundle_list_finish(&l, &err), 0);
	snprintf(p, sizeof(p), "%s/dist/a", root);
	unlink(p);
	sub(outdir, "gone.tar.zst");
	assert_int_equal(sw_bundle_write(&l, outdir, 0, &r, &err), -1);
	assert_non_null(strstr(err.msg, "dist/a"));
	assert_false(sw_fs_exists(outdir));
	sw_bundle_list_release(&l);
}

static void test_disk_full(void **state)
{
	char root[PATH_MAX];
	struct sw_bundle_list l;
	struct sw_bundle_result r;
	struct sw_err err = SW_ERR_INIT;
	int fd;

	(void)state;
	sub(root, "full");
	mk(root, "dist");
	put(root, "dist/a", "some bytes that will not fit", 0644);
	sw_bundle_list_init(&l);
	assert_int_equal(sw_bundle_list_add(&l, root, "dist", &err), 0);
	assert_int_equal(sw_bundle_list_finish(&l, &err), 0);
	fd = open("/dev/full", O_WRONLY);
	if (fd < 0) {
		sw_bundle_list_release(&l);
		skip();
	}
	assert_int_equal(sw_bundle_write_fd(&l, fd, "/dev/full", 0, &r, &err), -1);
	assert_int_equal(err.code, SW_EIO);
	assert_non_null(strstr(err.msg, "No space left on device"));
	close(fd);
	sw_bundle_list_release(&l);
}

/* ---- hostile archives ---- */

struct craft {
	struct archive *a;
	unsigned char *buf;
	size_t size, used;
};

static void craft_begin(struct craft *c)
{
	c->size = 1 << 20;
	c->buf = malloc(c->size);
	c->used = 0;
	c->a = archive_write_new();
	archive_write_set_format_pax_restricted(c->a);
	assert_int_equal(archive_write_open_memory(c->a, c->buf, c->size, &c->used), ARCHIVE_OK);
}

static void craft_entry(struct craft *c, const char *path, unsigned type, const char *data, const char *link,
			const char *hardlink)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	if (link)
		archive_entry_set_symlink(e, link);
	if (hardlink)
		archive_entry_set_hardlink(e, hardlink);
	if (type == AE_IFCHR)
		archive_entry_set_rdev(e, 0x0103);
	archive_entry_set_size(e, data ? (la_int64_t)strlen(data) : 0);
	assert_int_equal(archive_write_header(c->a, e), ARCHIVE_OK);
	if (data && *data)
		assert_int_equal(archive_write_data(c->a, data, strlen(data)), (la_ssize_t)strlen(data));
	archive_entry_free(e);
}

static void craft_end(struct craft *c)
{
	assert_int_equal(archive_write_close(c->a), ARCHIVE_OK);
	archive_write_free(c->a);
}

/* Unpack must fail with SW_EINPUT, mention `needle`, and leave nothing. */
static void expect_refused(struct craft *c, const char *needle, const struct sw_bundle_limits *lim)
{
	char parent[PATH_MAX], dest[PATH_MAX];
	struct sw_err err = SW_ERR_INIT;

	snprintf(parent, sizeof(parent), "%s/refuse-XXXXXX", tmpdir);
	assert_non_null(mkdtemp(parent));
	snprintf(dest, sizeof(dest), "%s/out", parent);
	assert_int_equal(sw_bundle_unpack_mem(c->buf, c->used, dest, lim, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	if (!strstr(err.msg, needle))
		fail_msg("message '%s' does not mention '%s'", err.msg, needle);
	assert_int_equal(count_entries(parent), 0);
	/* The streaming checker refuses the same archive. */
	assert_int_equal(sw_bundle_scan_mem(c->buf, c->used, lim, NULL, NULL, &err), -1);
	assert_int_equal(sw_fs_remove_tree(parent, &err), 0);
	free(c->buf);
}

static void test_refuse_absolute(void **state)
{
	struct craft c;

	(void)state;
	craft_begin(&c);
	craft_entry(&c, "ok", AE_IFREG, "fine", NULL, NULL);
	craft_entry(&c, "/tmp/evil", AE_IFREG, "x", NULL, NULL);
	craft_end(&c);
	expect_refused(&c, "absolute path", NULL);
}

static void test_refuse_dotdot(void **state)
{
	struct craft c;

	(void)state;
	craft_begin(&c);
	craft_entry(&c, "a/../../evil", AE_IFREG, "x", NULL, NULL);
	craft_end(&c);
	expect_refused(&c, "'..' component", NULL);
	craft_begin(&c);
	craft_entry(&c, "../evil", AE_IFREG, "x", NULL, NULL);
	craft_end(&c);
	expect_refused(&c, "'..' component", NULL);
}

static void test_refuse_symlink_escape(void **state)
{
	struct craft c;

	(void)state;
	craft_begin(&c);
	craft_entry(&c, "etc", AE_IFLNK, NULL, "/etc", NULL);
	craft_end(&c);
	expect_refused(&c, "points outside", NULL);
	craft_begin(&c);
	craft_entry(&c, "d/up", AE_IFLNK, NULL, "../../outside", NULL);
	craft_end(&c);
	expect_refused(&c, "points outside", NULL);
	/* Climbing back out through another symlink: "x/../.." is refused. */
	craft_begin(&c);
	craft_entry(&c, "a/b/l", AE_IFLNK, NULL, "../..", NULL);
	craft_entry(&c, "a/b/m", AE_IFLNK, NULL, "l/../..", NULL);
	craft_end(&c);
	expect_refused(&c, "points outside", NULL);
	/* Writing through a symlink (even one inside the tree) is refused. */
	craft_begin(&c);
	craft_entry(&c, "d", AE_IFDIR, NULL, NULL, NULL);
	craft_entry(&c, "l", AE_IFLNK, NULL, "d", NULL);
	craft_entry(&c, "l/x", AE_IFREG, "x", NULL, NULL);
	craft_end(&c);
	expect_refused(&c, "not a directory", NULL);
}

static void test_refuse_hardlinks(void **state)
{
	struct craft c;

	(void)state;
	craft_begin(&c);
	craft_entry(&c, "h", AE_IFREG, NULL, NULL, "../../etc/passwd");
	craft_end(&c);
	expect_refused(&c, "hardlink 'h'", NULL);
	craft_begin(&c);
	craft_entry(&c, "h", AE_IFREG, NULL, NULL, "/etc/passwd");
	craft_end(&c);
	expect_refused(&c, "hardlink 'h'", NULL);
	/* Only to an earlier regular file of the archive. */
	craft_begin(&c);
	craft_entry(&c, "h", AE_IFREG, NULL, NULL, "later");
	craft_entry(&c, "later", AE_IFREG, "x", NULL, NULL);
	craft_end(&c);
	expect_refused(&c, "earlier regular file", NULL);
}

static void test_refuse_special(void **state)
{
	struct craft c;

	(void)state;
	craft_begin(&c);
	craft_entry(&c, "null", AE_IFCHR, NULL, NULL, NULL);
	craft_end(&c);
	expect_refused(&c, "device, FIFO or socket", NULL);
	craft_begin(&c);
	craft_entry(&c, "fifo", AE_IFIFO, NULL, NULL, NULL);
	craft_end(&c);
	expect_refused(&c, "device, FIFO or socket", NULL);
	craft_begin(&c);
	craft_entry(&c, "blk", AE_IFBLK, NULL, NULL, NULL);
	craft_end(&c);
	expect_refused(&c, "device, FIFO or socket", NULL);
}

static void test_refuse_limits_and_duplicates(void **state)
{
	struct sw_bundle_limits lim = { .max_entry_bytes = 10, .max_total_bytes = 15, .max_entries = 3 };
	struct craft c;

	(void)state;
	craft_begin(&c);
	craft_entry(&c, "big", AE_IFREG, "0123456789A", NULL, NULL);
	craft_end(&c);
	expect_refused(&c, "over the limit", &lim);
	craft_begin(&c);
	craft_entry(&c, "a", AE_IFREG, "0123456789", NULL, NULL);
	craft_entry(&c, "b", AE_IFREG, "0123456789", NULL, NULL);
	craft_end(&c);
	expect_refused(&c, "more than 15 bytes", &lim);
	craft_begin(&c);
	craft_entry(&c, "a", AE_IFREG, "", NULL, NULL);
	craft_entry(&c, "b", AE_IFREG, "", NULL, NULL);
	craft_entry(&c, "c", AE_IFREG, "", NULL, NULL);
	craft_entry(&c, "d", AE_IFREG, "", NULL, NULL);
	craft_end(&c);
	expect_refused(&c, "more than 3 entries", &lim);
	craft_begin(&c);
	craft_entry(&c, "a", AE_IFREG, "one", NULL, NULL);
	craft_entry(&c, "./a", AE_IFREG, "two", NULL, NULL);
	craft_end(&c);
	expect_refused(&c, "appears twice", NULL);
}

static void test_refuse_corrupt(void **state)
{
	char root[PATH_MAX], bundle[PATH_MAX], parent[PATH_MAX], dest[PATH_MAX];
	struct sw_bundle_list l;
	struct sw_bundle_result r;
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	char big[20000];
	size_t i;

	(void)state;
	sub(root, "corrupt");
	mk(root, "dist");
	for (i = 0; i < sizeof(big) - 1; i++)
		big[i] = (char)('a' + (i * 7919 % 26));
	big[sizeof(big) - 1] = '\0';
	put(root, "dist/data", big, 0644);
	sw_bundle_list_init(&l);
	assert_int_equal(sw_bundle_list_add(&l, root, "dist", &err), 0);
	assert_int_equal(sw_bundle_list_finish(&l, &err), 0);
	sub(bundle, "corrupt.tar.zst");
	assert_int_equal(sw_bundle_write(&l, bundle, 0, &r, &err), 0);
	assert_int_equal(sw_fs_read_file(bundle, SW_BUF_UNLIMITED, &b, &err), 0);

	snprintf(parent, sizeof(parent), "%s/corrupt-out", tmpdir);
	mk(parent, "");
	snprintf(dest, sizeof(dest), "%s/out", parent);
	/* Truncated. */
	assert_int_equal(sw_bundle_unpack_mem(b.data, b.len / 2, dest, NULL, &err), -1);
	if (!strstr(err.msg, "corrupt or truncated"))
		fail_msg("%s", err.msg);
	assert_int_equal(count_entries(parent), 0);
	assert_int_equal(sw_bundle_scan_mem(b.data, b.len / 2, NULL, NULL, NULL, &err), -1);
	/* Not an archive at all. */
	assert_int_equal(sw_bundle_scan_mem("hello world, not a tar", 22, NULL, NULL, NULL, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	/* The intact one unpacks. */
	assert_int_equal(sw_bundle_unpack_mem(b.data, b.len, dest, NULL, &err), 0);
	assert_int_equal(count_entries(parent), 1);
	sw_buf_release(&b);
	sw_bundle_list_release(&l);
}

static void test_unpack_links_inside(void **state)
{
	char parent[PATH_MAX], dest[PATH_MAX], p[PATH_MAX], target[64];
	struct sw_err err = SW_ERR_INIT;
	struct craft c;
	struct stat st1, st2;
	struct seen s = { .n = 0 };
	ssize_t n;

	(void)state;
	craft_begin(&c);
	craft_entry(&c, "bin/app", AE_IFREG, "binary", NULL, NULL);
	craft_entry(&c, "bin/app-hard", AE_IFREG, NULL, NULL, "bin/app");
	craft_entry(&c, "lib/cur", AE_IFLNK, NULL, "../bin/app", NULL);
	craft_end(&c);
	snprintf(parent, sizeof(parent), "%s/links", tmpdir);
	mk(parent, "");
	snprintf(dest, sizeof(dest), "%s/out", parent);
	assert_int_equal(sw_bundle_unpack_mem(c.buf, c.used, dest, NULL, &err), 0);
	snprintf(p, sizeof(p), "%s/bin/app", dest);
	assert_int_equal(stat(p, &st1), 0);
	snprintf(p, sizeof(p), "%s/bin/app-hard", dest);
	assert_int_equal(stat(p, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	snprintf(p, sizeof(p), "%s/lib/cur", dest);
	n = readlink(p, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "../bin/app");
	/* The checker reports the hardlink with its target's hash. */
	assert_int_equal(sw_bundle_scan_mem(c.buf, c.used, NULL, record, &s, &err), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.types[1], SW_BUNDLE_HARDLINK);
	assert_string_equal(s.sha[0], s.sha[1]);
	free(c.buf);
}

/* ---- decompression bombs, limits and cancellation ---- */

/* A zstd tar whose files hold only zeros (sizes in n[], names "f0", "f1", ...). */
static void craft_zeros(struct craft *c, const size_t *n, size_t count)
{
	static const unsigned char zeros[65536];
	size_t i;

	c->size = 1 << 20;
	c->buf = malloc(c->size);
	c->used = 0;
	c->a = archive_write_new();
	archive_write_set_format_pax_restricted(c->a);
	assert_int_equal(archive_write_add_filter_zstd(c->a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(c->a, c->buf, c->size, &c->used), ARCHIVE_OK);
	for (i = 0; i < count; i++) {
		struct archive_entry *e = archive_entry_new();
		char name[16];
		size_t left = n[i];

		snprintf(name, sizeof(name), "f%zu", i);
		archive_entry_set_pathname(e, name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)n[i]);
		assert_int_equal(archive_write_header(c->a, e), ARCHIVE_OK);
		while (left > 0) {
			size_t k = left < sizeof(zeros) ? left : sizeof(zeros);

			assert_int_equal(archive_write_data(c->a, zeros, k), (la_ssize_t)k);
			left -= k;
		}
		archive_entry_free(e);
	}
	craft_end(c);
}

/* Unpack into a fresh directory: the rc, with err filled; *left counts what is in the parent after. */
static int try_unpack(const struct craft *c, const struct sw_bundle_limits *lim, struct sw_err *err, int *left)
{
	char parent[PATH_MAX], dest[PATH_MAX];
	struct sw_err ignored = SW_ERR_INIT;
	int rc;

	snprintf(parent, sizeof(parent), "%s/try-XXXXXX", tmpdir);
	assert_non_null(mkdtemp(parent));
	snprintf(dest, sizeof(dest), "%s/out", parent);
	sw_err_clear(err);
	rc = sw_bundle_unpack_mem(c->buf, c->used, dest, lim, err);
	*left = count_entries(parent);
	assert_int_equal(sw_fs_remove_tree(parent, &ignored), 0);
	return rc;
}

/* The archive is refused (-1, err naming `want` and `want2` when given) by unpack, which leaves nothing
 * behind, and by scan; with einput, both say SW_EINPUT. */
static void assert_refused(const struct craft *c, const struct sw_bundle_limits *lim, struct sw_err *err, bool einput,
			   const char *want, const char *want2)
{
	int left;

	assert_int_equal(try_unpack(c, lim, err, &left), -1);
	if (einput)
		assert_int_equal(err->code, SW_EINPUT);
	if (!strstr(err->msg, want) || (want2 && !strstr(err->msg, want2)))
		fail_msg("%s", err->msg);
	assert_int_equal(left, 0);
	assert_int_equal(sw_bundle_scan_mem(c->buf, c->used, lim, NULL, NULL, err), -1);
	if (einput)
		assert_int_equal(err->code, SW_EINPUT);
}

static void test_bomb_total_limit(void **state)
{
	const size_t n[] = { 40000, 40000, 40000 };
	struct sw_bundle_limits lim = SW_BUNDLE_LIMITS_DEFAULT;
	struct sw_err err = SW_ERR_INIT;
	struct craft c;
	int left;

	(void)state;
	craft_zeros(&c, n, 3);
	assert_true(c.used < 2000); /* 120000 bytes of zeros compress to almost nothing */
	lim.max_total_bytes = 65536;
	lim.free_margin_bytes = 0;
	assert_refused(&c, &lim, &err, true, "unpacks to more than 65536 bytes", NULL);
	/* The same archive passes with room for it. */
	lim.max_total_bytes = 120000;
	assert_int_equal(try_unpack(&c, &lim, &err, &left), 0);
	assert_int_equal(left, 1);
	free(c.buf);
}

static void test_limits_exact_and_one_over(void **state)
{
	const size_t one[] = { 1000 }, two[] = { 600, 400 }, two_over[] = { 600, 401 };
	struct sw_bundle_limits lim = { .max_entry_bytes = 1000, .max_total_bytes = 1000, .max_entries = 10 };
	struct sw_err err = SW_ERR_INIT;
	struct craft c;
	int left;

	(void)state;
	craft_zeros(&c, one, 1);
	assert_int_equal(try_unpack(&c, &lim, &err, &left), 0); /* exactly at both limits */
	assert_int_equal(sw_bundle_scan_mem(c.buf, c.used, &lim, NULL, NULL, &err), 0);
	lim.max_entry_bytes = 999;
	assert_refused(&c, &lim, &err, false, "entry 'f0' is 1000 bytes, over the limit of 999", NULL);
	free(c.buf);
	lim.max_entry_bytes = 1000;
	craft_zeros(&c, two, 2);
	assert_int_equal(try_unpack(&c, &lim, &err, &left), 0);
	free(c.buf);
	craft_zeros(&c, two_over, 2);
	assert_int_equal(try_unpack(&c, &lim, &err, &left), -1);
	if (!strstr(err.msg, "unpacks to more than 1000 bytes"))
		fail_msg("%s", err.msg);
	assert_int_equal(left, 0);
	free(c.buf);
}

static int stats_cb(const struct sw_bundle_entry *e, void *ctx, struct sw_err *err)
{
	(void)err;
	sw_bundle_stats_add(ctx, e);
	return 0;
}

/* Recorded totals judge as the scan does, and survive a write and a read. */
static void test_stats(void **state)
{
	const size_t two[] = { 600, 400 };
	struct sw_bundle_limits lim = { .max_entry_bytes = 1000, .max_total_bytes = 1000, .max_entries = 10 };
	struct sw_bundle_stats st = { 0 }, back = { 0 };
	struct sw_err err = SW_ERR_INIT;
	char dir[] = "/tmp/sw-test-stats-XXXXXX", path[PATH_MAX];
	struct craft c;

	(void)state;
	craft_zeros(&c, two, 2);
	assert_int_equal(sw_bundle_scan_mem(c.buf, c.used, &lim, stats_cb, &st, &err), 0);
	st.packed = c.used;
	assert_int_equal(st.total, 1000);
	assert_int_equal(st.largest, 600);
	assert_true(st.entries >= 2);
	assert_int_equal(sw_bundle_stats_check(&st, &lim, "b", &err), 0); /* exactly at the limits */
	lim.max_total_bytes = 999;
	assert_int_equal(sw_bundle_stats_check(&st, &lim, "b", &err), -1);
	assert_non_null(strstr(err.msg, "unpacks to more than 999 bytes"));
	assert_int_equal(sw_bundle_scan_mem(c.buf, c.used, &lim, NULL, NULL, &err), -1); /* the scan agrees */
	lim.max_total_bytes = 1000;
	lim.max_entry_bytes = 599;
	assert_int_equal(sw_bundle_stats_check(&st, &lim, "b", &err), -1);
	assert_non_null(strstr(err.msg, "largest entry is 600 bytes, over the limit of 599"));
	lim.max_entry_bytes = 1000;
	lim.max_entries = 1;
	assert_int_equal(sw_bundle_stats_check(&st, &lim, "b", &err), -1);
	assert_non_null(strstr(err.msg, "more than 1 entries"));
	lim.max_entries = 10;
	lim.max_ratio = 1; /* zeros compress: 1000 bytes from far fewer */
	assert_true(st.packed < 1000);
	assert_int_equal(sw_bundle_stats_check(&st, &lim, "b", &err), -1);
	assert_non_null(strstr(err.msg, "compression ratio limit"));
	assert_int_equal(sw_bundle_scan_mem(c.buf, c.used, &lim, NULL, NULL, &err), -1);
	free(c.buf);

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, SW_BUNDLE_STATS_FILE);
	assert_int_equal(sw_bundle_stats_read(path, &back, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_int_equal(sw_bundle_stats_write(path, &st, &err), 0);
	assert_int_equal(sw_bundle_stats_read(path, &back, &err), 0);
	assert_memory_equal(&st, &back, sizeof(st));
	assert_int_equal(sw_fs_write_atomic(path, "{\"total\": -1}", 13, 0644, &err), 0);
	assert_int_equal(sw_bundle_stats_read(path, &back, &err), -1);
	assert_non_null(strstr(err.msg, "field 'total' is not a size"));
	unlink(path);
	rmdir(dir);
}

static void test_bomb_ratio(void **state)
{
	const size_t n[] = { (size_t)1 << 20 };
	struct sw_bundle_limits lim = SW_BUNDLE_LIMITS_DEFAULT;
	struct sw_err err = SW_ERR_INIT;
	struct craft c;
	int left;

	(void)state;
	craft_zeros(&c, n, 1);
	lim.free_margin_bytes = 0;
	lim.max_ratio = 100;
	lim.ratio_floor_bytes = 0;
	assert_refused(&c, &lim, &err, true, "more than 100 times its", "compression ratio limit");
	/* Under the floor the ratio does not count; without a ratio limit it passes too. */
	lim.ratio_floor_bytes = (uint64_t)1 << 20;
	assert_int_equal(try_unpack(&c, &lim, &err, &left), 0);
	lim.ratio_floor_bytes = 0;
	lim.max_ratio = 0;
	assert_int_equal(try_unpack(&c, &lim, &err, &left), 0);
	free(c.buf);
}

static void test_free_space(void **state)
{
	const size_t n[] = { 5000 };
	struct sw_bundle_limits lim = SW_BUNDLE_LIMITS_DEFAULT;
	struct sw_err err = SW_ERR_INIT;
	struct craft c;
	int left;

	(void)state;
	craft_zeros(&c, n, 1);
	lim.free_margin_bytes = UINT64_MAX / 2; /* more than any disk has */
	assert_int_equal(try_unpack(&c, &lim, &err, &left), -1);
	assert_int_equal(err.code, SW_EIO);
	if (!strstr(err.msg, "No space left on device") || !strstr(err.msg, "(5000 unpacked + 10% + a margin of"))
		fail_msg("%s", err.msg);
	assert_int_equal(left, 0);
	/* Only unpacking needs room: the checker reads without writing. */
	assert_int_equal(sw_bundle_scan_mem(c.buf, c.used, &lim, NULL, NULL, &err), 0);
	lim.free_margin_bytes = 0;
	assert_int_equal(try_unpack(&c, &lim, &err, &left), 0);
	free(c.buf);
}

/* One ustar header block for a regular file named name claiming `size` (octal field as given). */
static void ustar_header(unsigned char *h, const char *name, const char *size_octal)
{
	unsigned sum = 0;
	size_t i;

	memset(h, 0, 512);
	memcpy(h, name, strlen(name));
	memcpy(h + 100, "0000644", 8);
	memcpy(h + 108, "0000000", 8);
	memcpy(h + 116, "0000000", 8);
	memcpy(h + 124, size_octal, strlen(size_octal));
	memcpy(h + 136, "00000000000", 12);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

static void test_header_lies_about_size(void **state)
{
	struct sw_bundle_limits lim = { .max_entry_bytes = 1 << 20, .max_total_bytes = 1 << 20, .max_entries = 10 };
	struct sw_err err = SW_ERR_INIT;
	struct craft c;
	int left;

	(void)state;
	/* Claims 8 GiB (octal 100000000000), holds 512 bytes: refused on the claim, before a byte is written. */
	c.size = c.used = 512 * 4;
	c.buf = calloc(1, c.size);
	ustar_header(c.buf, "huge", "100000000000");
	memset(c.buf + 512, 'x', 512);
	assert_refused(&c, &lim, &err, false, "entry 'huge' is 8589934592 bytes, over the limit", NULL);
	/* Claims 4096 bytes within the limits, the archive ends after 512: short, refused, nothing left. */
	ustar_header(c.buf, "short", "00000010000");
	assert_int_equal(try_unpack(&c, &lim, &err, &left), -1);
	assert_int_equal(err.code, SW_EINPUT);
	if (!strstr(err.msg, "truncated"))
		fail_msg("%s", err.msg);
	assert_int_equal(left, 0);
	/* Claims 16 bytes and 1000 follow: the rest is no valid header. */
	free(c.buf);
	c.size = c.used = 512 * 6;
	c.buf = calloc(1, c.size);
	ustar_header(c.buf, "liar", "00000000020");
	memset(c.buf + 512, 'y', 1000);
	assert_int_equal(try_unpack(&c, &lim, &err, &left), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_int_equal(left, 0);
	assert_int_equal(sw_bundle_scan_mem(c.buf, c.used, &lim, NULL, NULL, &err), -1);
	free(c.buf);
}

static void test_cancel(void **state)
{
	const size_t n[] = { 100, 100 };
	struct sw_bundle_limits lim = SW_BUNDLE_LIMITS_DEFAULT;
	struct sw_err err = SW_ERR_INIT;
	atomic_bool stop;
	struct craft c;
	int left;

	(void)state;
	craft_zeros(&c, n, 2);
	atomic_init(&stop, true);
	lim.free_margin_bytes = 0;
	lim.cancel = &stop;
	assert_int_equal(try_unpack(&c, &lim, &err, &left), -1);
	assert_int_equal(err.code, SW_ECANCELED);
	assert_int_equal(left, 0);
	assert_int_equal(sw_bundle_scan_mem(c.buf, c.used, &lim, NULL, NULL, &err), -1);
	assert_int_equal(err.code, SW_ECANCELED);
	atomic_store(&stop, false);
	assert_int_equal(try_unpack(&c, &lim, &err, &left), 0);
	free(c.buf);
}

static void test_limits_merge(void **state)
{
	atomic_bool stop;
	struct sw_bundle_limits host = SW_BUNDLE_LIMITS_DEFAULT, env = { .max_total_bytes = 5000, .max_ratio = 0 },
				out;

	(void)state;
	host.cancel = &stop;
	sw_bundle_limits_merge(&env, &host, &out);
	assert_int_equal(out.max_total_bytes, 5000);
	assert_int_equal(out.max_entry_bytes, host.max_entry_bytes); /* not set in env */
	assert_int_equal(out.max_ratio, SW_BUNDLE_MAX_RATIO_DEFAULT);
	assert_int_equal(out.free_margin_bytes, SW_BUNDLE_FREE_MARGIN_DEFAULT);
	assert_ptr_equal(out.cancel, &stop);
	env.max_total_bytes = (uint64_t)8 << 30; /* an environment cannot raise the host's cap */
	env.max_ratio = 50;
	sw_bundle_limits_merge(&env, &host, &out);
	assert_int_equal(out.max_total_bytes, SW_BUNDLE_MAX_TOTAL_DEFAULT);
	assert_int_equal(out.max_ratio, 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_write_deterministic),
		cmocka_unit_test(test_collect_errors),
		cmocka_unit_test(test_disk_full),
		cmocka_unit_test(test_refuse_absolute),
		cmocka_unit_test(test_refuse_dotdot),
		cmocka_unit_test(test_refuse_symlink_escape),
		cmocka_unit_test(test_refuse_hardlinks),
		cmocka_unit_test(test_refuse_special),
		cmocka_unit_test(test_refuse_limits_and_duplicates),
		cmocka_unit_test(test_refuse_corrupt),
		cmocka_unit_test(test_unpack_links_inside),
		cmocka_unit_test(test_bomb_total_limit),
		cmocka_unit_test(test_limits_exact_and_one_over),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_bomb_ratio),
		cmocka_unit_test(test_free_space),
		cmocka_unit_test(test_header_lies_about_size),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_limits_merge),
	};
	return cmocka_run_group_tests_name("bundle", tests, setup, teardown);
}
