/*
 * fuzz_unpack.c - libFuzzer target for release/bundle.h: the streaming
 * checker (sw_bundle_scan_mem) and the safe unpacker (sw_bundle_unpack_mem)
 * on arbitrary bytes (tar, pax, tar.zst, or garbage).
 *
 * Properties checked on every input:
 *   - a refusal is SW_EINPUT (or SW_EIO for the disk) with a message;
 *   - the checker and the unpacker agree: an archive one accepts, the other
 *     accepts too;
 *   - nothing appears in the scratch directory but dest on success and
 *     nothing at all on failure (no temporary directory, no escaped file);
 *   - after a successful unpack, every symlink under dest that resolves
 *     resolves inside dest, and nothing under dest is a device or FIFO.
 * Any violation aborts, which libFuzzer reports as a crash.
 * Corpus: tests/fuzz/corpus/unpack/.
 */
#include "base/err.h"
#include "base/fs.h"
#include "base/hash.h"
#include "release/bundle.h"

#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[PATH_MAX];

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		abort();
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void check_tree(const char *root_real, const char *dir, int depth)
{
	DIR *d;
	struct dirent *de;
	char p[PATH_MAX], real[PATH_MAX];
	struct stat st;

	if (depth > 300)
		abort();
	d = opendir(dir);
	if (!d)
		abort();
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p))
			continue;
		if (lstat(p, &st) < 0)
			abort();
		if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
			abort();
		if (!S_ISLNK(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID | S_ISVTX | S_IWOTH | S_IWGRP)))
			abort();
		if (S_ISLNK(st.st_mode)) {
			if (realpath(p, real) &&
			    !(strncmp(real, root_real, strlen(root_real)) == 0 &&
			      (real[strlen(root_real)] == '/' || real[strlen(root_real)] == '\0'))) {
				fprintf(stderr, "fuzz_unpack: symlink '%s' resolves to '%s', outside '%s'\n", p, real, root_real);
				abort();
			}
		} else if (S_ISDIR(st.st_mode)) {
			check_tree(root_real, p, depth + 1);
		}
	}
	closedir(d);
}

static void remove_scratch(void)
{
	struct sw_err err = SW_ERR_INIT;

	if (scratch[0])
		sw_fs_remove_tree(scratch, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct sw_bundle_limits lim = { .max_entry_bytes = 1 << 20, .max_total_bytes = 4 << 20, .max_entries = 2000,
					      .max_ratio = 1000, .ratio_floor_bytes = 1 << 16 };
	struct sw_err err = SW_ERR_INIT, err2 = SW_ERR_INIT;
	char dest[PATH_MAX], real[PATH_MAX];
	int scan_rc, unpack_rc;

	if (!scratch[0]) {
		snprintf(scratch, sizeof(scratch), "/tmp/fuzz-unpack-%ld-XXXXXX", (long)getpid());
		if (!mkdtemp(scratch) || sw_hash_global_init() < 0)
			abort();
		atexit(remove_scratch);
	}
	snprintf(dest, sizeof(dest), "%s/out", scratch);

	scan_rc = sw_bundle_scan_mem(data, size, &lim, NULL, NULL, &err);
	if (scan_rc < 0 && (err.code != SW_EINPUT || !err.msg[0]))
		abort();
	unpack_rc = sw_bundle_unpack_mem(data, size, dest, &lim, &err2);
	if (unpack_rc < 0) {
		if ((err2.code != SW_EINPUT && err2.code != SW_EIO) || !err2.msg[0])
			abort();
		if (count_entries(scratch) != 0) {
			fprintf(stderr, "fuzz_unpack: failed unpack left files behind: %s\n", err2.msg);
			abort();
		}
		/* Disk-level failures (EIO) may happen where the checker saw no problem. */
		if (scan_rc == 0 && err2.code == SW_EINPUT) {
			fprintf(stderr, "fuzz_unpack: checker accepted, unpacker refused: %s\n", err2.msg);
			abort();
		}
		return 0;
	}
	if (scan_rc < 0) {
		fprintf(stderr, "fuzz_unpack: unpacker accepted, checker refused: %s\n", err.msg);
		abort();
	}
	if (count_entries(scratch) != 1 || !realpath(dest, real))
		abort();
	check_tree(real, dest, 0);
	if (sw_fs_remove_tree(dest, &err) < 0)
		abort();
	return 0;
}
