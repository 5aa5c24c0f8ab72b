/*
 * bundle.h - release bundles: a deterministic tar.zst writer, a streaming
 * checker and a safe unpacker (libarchive).
 *
 * Bundle layout (docs/releases.md has the same tables):
 *   | property       | value                                                     |
 *   | container      | tar (POSIX pax, ustar headers unless a field needs pax)   |
 *   |                | compressed with zstd (libarchive's default level)         |
 *   | entry order    | sorted by path, bytewise (C locale); parents first        |
 *   | paths          | relative to the service directory, no "./", no "..",      |
 *   |                | directories without trailing '/' in the list (libarchive  |
 *   |                | writes ustar directory names with one)                    |
 *   | entry types    | regular files, directories, symlinks (see below)          |
 *   | mtime          | the caller's (SOURCE_DATE_EPOCH, git commit time, or 0)   |
 *   | uid/gid        | 0/0, user and group names empty                           |
 *   | mode           | 0755 for directories and files with any execute bit,      |
 *   |                | 0644 for other files, 0777 for symlinks                   |
 * The same list of paths with the same contents and mtime gives the same
 * bytes with the same libarchive and zstd.
 *
 * Symlinks met while walking an output directory are stored as symlinks
 * when their target is relative, its ".." components (if any) all come
 * first, and it names an entry of the bundle; anything else is refused. An
 * output named directly in slipway.yml is followed if it is a symlink, but
 * must resolve inside the service directory.
 *
 * Reading (sw_bundle_scan, sw_bundle_unpack) refuses: absolute paths and
 * ".." components, duplicate paths, symlinks whose target is absolute,
 * has ".." after another component, or climbs out of the root, hardlinks to
 * anything but an earlier regular file of the archive, devices, FIFOs,
 * sockets, entries, totals or ratios over the limits (below).
 * sw_bundle_unpack first reads the whole archive without writing (every
 * check above on the headers, the claimed total), then refuses when the
 * file system of dest lacks the space (statvfs: total + 10% + margin),
 * then extracts into a temporary directory beside dest with
 * openat()/O_NOFOLLOW, never through a symlink, counting the bytes it
 * writes against the limits again, normalises modes as above and renames
 * it to dest (which must not exist) only when everything succeeded; on
 * any failure or cancellation the temporary directory is removed.
 *
 * Test hook: when SLIPWAY_TEST_UNPACK_GATE names a FIFO, sw_bundle_unpack
 * waits after writing its first entry until a writer opens and closes it
 * (tests use it to stop an agent in the middle of an unpack).
 *
 * Ownership: a struct sw_bundle_list owns its entries and their strings
 * (sw_bundle_list_release). Entries passed to a scan callback are borrowed
 * for the call. Calls libarchive, libc and base/.
 */
#ifndef SW_RELEASE_BUNDLE_H
#define SW_RELEASE_BUNDLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/hash.h"

enum sw_bundle_type {
	SW_BUNDLE_FILE,
	SW_BUNDLE_DIR,
	SW_BUNDLE_SYMLINK,
	SW_BUNDLE_HARDLINK, /* read side only: the writer never makes hardlinks */
};

struct sw_bundle_entry {
	char *path; /* archive path: relative, normalised, no trailing '/' */
	char *src;  /* writer: the file on disk; NULL when read from an archive */
	char *link; /* symlink target, or hardlink target path; NULL otherwise */
	enum sw_bundle_type type;
	unsigned mode;              /* normalised permission bits */
	uint64_t size;              /* regular files */
	char sha256[SW_SHA256_HEX]; /* regular files (and hardlinks, read side) once written or read */
};

struct sw_bundle_list {
	struct sw_bundle_entry *v;
	size_t n, cap;
};

struct sw_bundle_result {
	char sha256[SW_SHA256_HEX]; /* of the bundle bytes */
	uint64_t size;              /* bundle bytes */
	size_t nfiles;              /* regular files */
};

/*
 * What reading an archive may cost. Sizes count the bytes actually
 * produced by decompression (a header's claimed size is only a first,
 * early check), so an entry whose header lies cannot get past them:
 *   | field              | default  | refused when                               |
 *   | max_entry_bytes    | 1 GiB    | one regular file is larger                 |
 *   | max_total_bytes    | 1 GiB    | all regular files together are larger      |
 *   | max_entries        | 1000000  | the archive has more entries               |
 *   | max_ratio          | 200      | unpacked total > max_ratio x bundle bytes  |
 *   |                    |          | (0: no ratio limit) ...                    |
 *   | ratio_floor_bytes  | 16 MiB   | ... and the total is above this floor, so  |
 *   |                    |          | that small, very compressible bundles pass |
 *   | free_margin_bytes  | 64 MiB   | unpack only: the file system of dest has   |
 *   |                    |          | less free than total + 10% + this margin   |
 * `cancel` (unpack and scan): when it turns true the call stops with
 * SW_ECANCELED and leaves nothing behind; NULL: never.
 */
struct sw_bundle_limits {
	uint64_t max_entry_bytes;
	uint64_t max_total_bytes;
	uint64_t max_entries;
	uint64_t max_ratio;
	uint64_t ratio_floor_bytes;
	uint64_t free_margin_bytes;
	const atomic_bool *cancel;
};

#define SW_BUNDLE_MAX_TOTAL_DEFAULT ((uint64_t)1 << 30)
#define SW_BUNDLE_MAX_RATIO_DEFAULT 200
#define SW_BUNDLE_RATIO_FLOOR_DEFAULT ((uint64_t)16 << 20)
#define SW_BUNDLE_FREE_MARGIN_DEFAULT ((uint64_t)64 << 20)
#define SW_BUNDLE_LIMITS_DEFAULT                                                                                  \
	{ .max_entry_bytes = SW_BUNDLE_MAX_TOTAL_DEFAULT, .max_total_bytes = SW_BUNDLE_MAX_TOTAL_DEFAULT,            \
	  .max_entries = 1000000, .max_ratio = SW_BUNDLE_MAX_RATIO_DEFAULT,                                        \
	  .ratio_floor_bytes = SW_BUNDLE_RATIO_FLOOR_DEFAULT, .free_margin_bytes = SW_BUNDLE_FREE_MARGIN_DEFAULT,   \
	  .cancel = NULL }

/*
 * The stricter of a and b in out: for each size the smaller non-zero value
 * (0 in one of them means "not set there"); cancel from a, else b.
 */
void sw_bundle_limits_merge(const struct sw_bundle_limits *a, const struct sw_bundle_limits *b,
			    struct sw_bundle_limits *out);

/*
 * What a scan measured of an archive: the bytes of its regular files, the
 * largest one, its entries and the bundle's own size. The server records
 * them at commit (the archive does not change), so that a later check
 * against other limits needs no second pass over the archive.
 */
struct sw_bundle_stats {
	uint64_t total, largest, entries, packed;
};

/* The file the server keeps beside a committed bundle: its stats as JSON. */
#define SW_BUNDLE_STATS_FILE "unpacked.json"
/* {total, largest, entries, packed} to path (atomically), and back (SW_ENOTFOUND: no file). */
int sw_bundle_stats_write(const char *path, const struct sw_bundle_stats *st, struct sw_err *err);
int sw_bundle_stats_read(const char *path, struct sw_bundle_stats *st, struct sw_err *err);
/* Add one scanned entry to st. */
void sw_bundle_stats_add(struct sw_bundle_stats *st, const struct sw_bundle_entry *e);
/*
 * The limits' verdict on measured totals: the same rules and messages as a
 * scan or unpack with lim (cancel and free_margin_bytes do not apply).
 */
int sw_bundle_stats_check(const struct sw_bundle_stats *st, const struct sw_bundle_limits *lim, const char *what,
			  struct sw_err *err);

void sw_bundle_list_init(struct sw_bundle_list *l);
void sw_bundle_list_release(struct sw_bundle_list *l);
/*
 * Add one output: `rel` is a file or directory (walked recursively) relative
 * to base_dir. A missing output is SW_ENOTFOUND; a path outside base_dir,
 * or a FIFO, socket or device inside it, SW_EINPUT. Messages name `rel`.
 */
int sw_bundle_list_add(struct sw_bundle_list *l, const char *base_dir, const char *rel, struct sw_err *err);
/* Sort, drop duplicates, add missing parent directories, check symlinks. */
int sw_bundle_list_finish(struct sw_bundle_list *l, struct sw_err *err);
/* The entry with this path, or NULL (after sw_bundle_list_finish). */
const struct sw_bundle_entry *sw_bundle_list_find(const struct sw_bundle_list *l, const char *path);

/*
 * Write the finished list as tar.zst to fd (not closed; not synced). `what`
 * names the output in messages. Fills the entries' sha256 and *res.
 */
int sw_bundle_write_fd(struct sw_bundle_list *l, int fd, const char *what, int64_t mtime,
		       struct sw_bundle_result *res, struct sw_err *err);
/* Same into a new file at path (O_EXCL, 0644, fsynced); removed on failure. */
int sw_bundle_write(struct sw_bundle_list *l, const char *path, int64_t mtime, struct sw_bundle_result *res,
		    struct sw_err *err);

/*
 * Stream through an archive without touching the disk, checking every entry
 * as the unpacker would; cb sees each entry (regular files with sha256 set).
 * cb returning -1 stops with its error.
 */
typedef int (*sw_bundle_scan_cb)(const struct sw_bundle_entry *e, void *ctx, struct sw_err *err);
int sw_bundle_scan(const char *path, const struct sw_bundle_limits *lim, sw_bundle_scan_cb cb, void *ctx,
		   struct sw_err *err);
int sw_bundle_scan_mem(const void *data, size_t len, const struct sw_bundle_limits *lim, sw_bundle_scan_cb cb,
		       void *ctx, struct sw_err *err);

int sw_bundle_unpack(const char *bundle, const char *dest, const struct sw_bundle_limits *lim, struct sw_err *err);
int sw_bundle_unpack_mem(const void *data, size_t len, const char *dest, const struct sw_bundle_limits *lim,
			 struct sw_err *err);

/*
 * Normalise an archive path: strips "./" and empty components; refuses
 * absolute paths, ".." and empty results. Exposed for tests.
 */
int sw_bundle_norm_path(const char *in, char *out, size_t size);
/*
 * Resolve a symlink target relative to the link's path (both archive
 * paths) into out; -1 if the target is absolute, has ".." after another
 * component, or climbs out of the root. Exposed for tests.
 */
int sw_bundle_resolve_link(const char *link_path, const char *target, char *out, size_t size);

#endif
