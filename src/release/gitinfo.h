/*
 * gitinfo.h - what a release records about the git checkout it came from:
 * HEAD's commit, its commit time, whether tracked files are modified, a
 * `git describe --tags --always` style name, and origin's URL (without
 * credentials). Read with libgit2; nothing is written.
 *
 * "dirty" follows `git describe --dirty`: staged or unstaged changes to
 * tracked files; untracked and ignored files (build outputs) do not count.
 * A directory outside any repository, or a repository without commits, is
 * not an error: gi->found is false.
 * Calls libgit2, libc and base/.
 */
#ifndef SW_RELEASE_GITINFO_H
#define SW_RELEASE_GITINFO_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct sw_git_info {
	bool found;
	char commit[41];       /* full hex */
	char short_commit[8];  /* 7 hex digits */
	int64_t commit_time;   /* committer time, unix seconds */
	bool dirty;
	bool has_tag;          /* describe found a tag */
	char describe[256];    /* "v1.2.0-3-gabc1234", "v1.2.0", or the short commit */
	char remote_url[1024]; /* origin's URL without user:password@, or "" */
	char workdir[PATH_MAX];
};

/* Fill gi for the repository that contains dir (searching upwards). */
int sw_gitinfo_read(const char *dir, struct sw_git_info *gi, struct sw_err *err);
/*
 * The same for commit (40 hex) instead of HEAD: commit time, describe name
 * and origin of that commit; dirty is left false (the caller knows the tree
 * state it built from). A commit the repository does not hold is SW_EFAILED.
 */
int sw_gitinfo_read_at(const char *dir, const char *commit, struct sw_git_info *gi, struct sw_err *err);
/* "v1.2.0-3-gabc1234" when a tag exists, else "0.0.0+<short commit>", else "0.0.0". */
const char *sw_gitinfo_version(const struct sw_git_info *gi, char *out, size_t size);

#endif
