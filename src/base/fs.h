/*
 * fs.h - files and paths: atomic writes, bounded reads, directories.
 *
 * sw_fs_write_atomic() is the only way Slipway writes a file that must never
 * be seen half-written: it writes a temporary file beside the target
 * (O_EXCL, the target's mode), fsyncs it, renames it over the target and
 * fsyncs the directory; on any failure the temporary file is removed and the
 * old target is untouched. Calls only libc, base/buf, base/err.
 */
#ifndef SW_FS_H
#define SW_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/err.h"

int sw_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct sw_err *err);
/*
 * Open path for reading only if it is a regular file. It is opened with
 * O_NONBLOCK (so a FIFO without a writer cannot hang us) and checked with
 * fstat on that descriptor (no race with a rename); a directory fails with
 * "'PATH' is a directory", a FIFO, socket or device with "'PATH' is not a
 * regular file" (both SW_EINPUT), a missing file with SW_ENOTFOUND. Returns
 * the descriptor (O_CLOEXEC, blocking again), the caller's to close, or -1.
 * Every file Slipway reads as input goes through it.
 */
int sw_fs_open_regular(const char *path, struct sw_err *err);
/* sw_fs_open_regular(), closed again: 0 if path is a readable regular file. */
int sw_fs_check_regular(const char *path, struct sw_err *err);
/* Read a whole regular file (sw_fs_open_regular), failing (SW_EINPUT) if it is larger than max bytes. */
int sw_fs_read_file(const char *path, size_t max, struct sw_buf *out, struct sw_err *err);
/*
 * Read the regular file path (sw_fs_open_regular) in chunks of up to 64 KiB, calling cb(chunk, n, ctx) for each;
 * a negative return from cb stops the read and is returned (err is cb's to set).
 */
typedef int (*sw_fs_chunk_cb)(const void *chunk, size_t n, void *ctx);
int sw_fs_read_chunks(const char *path, sw_fs_chunk_cb cb, void *ctx, struct sw_err *err);
/* write(2) all of data to fd (retrying on EINTR); path is for messages. */
int sw_fs_write_all(int fd, const void *data, size_t len, const char *path, struct sw_err *err);
/*
 * Finish a file created for writing: fsync and close fd. On failure fd is
 * closed and path unlinked, so no partial file stays behind.
 */
int sw_fs_close_synced(int fd, const char *path, struct sw_err *err);
/* mkdir -p; existing directories are fine. */
int sw_fs_mkdirs(const char *path, mode_t mode, struct sw_err *err);
/* rm -rf without following symlinks; a missing path is fine. */
int sw_fs_remove_tree(const char *path, struct sw_err *err);
/* Copy a regular file (mode kept) through a temporary file + rename. */
int sw_fs_copy_file(const char *src, const char *dst, struct sw_err *err);
int sw_fs_exists(const char *path);
int sw_fs_is_dir(const char *path);
/* fsync a directory (after a rename or create inside it). */
int sw_fs_sync_dir(const char *dir, struct sw_err *err);
/* Join a and b with one '/', into out. Returns -1 if it does not fit. */
int sw_path_join(char *out, size_t size, const char *a, const char *b);
/* $SLIPWAY_HOME, or ~/.slipway. Returns -1 with err if neither can be found. */
int sw_home_dir(char *out, size_t size, struct sw_err *err);
/* sw_home_dir()/sub, created (0700) if missing. */
int sw_home_subdir(char *out, size_t size, const char *sub, struct sw_err *err);

#endif
