/*
 * cache.h - the content-hash cache of job outputs under $SLIPWAY_HOME/cache.
 *
 * Key: SHA-256 over length-framed fields, in this order:
 *   "slipway-cache-v1", the job name, every step's command, the job's env
 *   (sorted by name; values are declared, not secret), the names (never the
 *   values) of its secrets, its workdir as declared, its outputs and cache
 *   patterns as written, then every file matched by the cache patterns
 *   (relative to the spec's directory, like every path in slipway.yml but
 *   `reports`, which are relative to the workdir; directories walked without following
 *   symlinks), sorted by path, each as path + type + permission bits +
 *   SHA-256 of the contents (or the target of a symlink), and last the keys
 *   of its dependencies' cache entries ("-" + name for a dependency that has
 *   no cache key).
 *
 * Entry layout (written to a temporary directory, then renamed into place,
 * so an entry is complete or absent):
 *   cache/<key>/entry.json   { "key", "job", "run_id", "created", "outputs": [...] }
 *   cache/<key>/files/<output path>   the outputs, modes kept, symlinks as symlinks
 *
 * Output paths (relative to the spec's directory, `dir` below) must be
 * relative, without "..", and not the directory itself.
 * Restoring copies each output back under dir: files are replaced
 * atomically (temporary file + rename), directories are merged into.
 * Nothing is evicted; remove $SLIPWAY_HOME/cache to reclaim space.
 *
 * Calls libc, base/ and spec/spec.h (for struct sw_spec_job).
 */
#ifndef SW_CACHE_H
#define SW_CACHE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/hash.h"
#include "spec/spec.h"

#define SW_CACHE_MAX_FILES 1000000

struct sw_cache {
	char dir[PATH_MAX]; /* $SLIPWAY_HOME/cache */
};

/* Use dir (created if missing) as the cache root. */
int sw_cache_open(struct sw_cache *c, const char *dir, struct sw_err *err);
/*
 * The key of job; dir is the spec's directory (cache patterns are relative
 * to it). dep_keys[i] is the key of the job's i-th dependency, or NULL if
 * it has none (then dep_names[i] is framed instead).
 */
int sw_cache_key(const struct sw_spec_job *job, const char *dir, const char *const *dep_keys,
		 const char *const *dep_names, size_t ndeps, char key[SW_SHA256_HEX], struct sw_err *err);
/* Does an entry exist for key? */
bool sw_cache_has(const struct sw_cache *c, const char *key);
/* Copy the entry's outputs back under dir. */
int sw_cache_restore(const struct sw_cache *c, const char *key, const char *dir, struct sw_err *err);
/* Store job's outputs (under dir) as the entry for key (a no-op if it exists). */
int sw_cache_store(const struct sw_cache *c, const char *key, const struct sw_spec_job *job, const char *dir,
		   const char *run_id, struct sw_err *err);
/* Is path acceptable as an output (relative, no "..", not "." or empty)? */
bool sw_cache_output_ok(const char *path);

#endif
