/*
 * gitrev.h - the commit and working-tree state a pipeline run built, read
 * with libgit2.
 *
 * sw_gitrev_head() finds the repository containing dir (searching upwards
 * like git does) and resolves HEAD to a commit id. sw_gitrev_state() adds
 * whether tracked files differ from HEAD (staged or not; untracked and
 * ignored files do not count, as `git describe --dirty`) and, when they do,
 * a fingerprint of those changes: the patch id of the HEAD -> working tree
 * diff, so that two dirty trees on one commit can be told apart. `slipway
 * run` records the state in summary.json; `slipway release` compares it with
 * the tree it is about to sign for (docs/releases.md).
 * Calls libgit2 and libc; initialises and shuts down libgit2 around each call.
 */
#ifndef SW_PIPELINE_GITREV_H
#define SW_PIPELINE_GITREV_H

#include <stdbool.h>
#include <stddef.h>

#define SW_GITREV_HEX 41

struct sw_gitrev_state {
	bool found;                   /* a repository with a commit */
	char commit[SW_GITREV_HEX];   /* HEAD, 40 hex */
	bool dirty;                   /* tracked files differ from HEAD */
	char changes[SW_GITREV_HEX];  /* patch id of those differences; "" when clean */
};

/* 0 with the 40-hex commit id in out, or -1 (no repository, no commit yet). */
int sw_gitrev_head(const char *dir, char out[SW_GITREV_HEX]);

/*
 * The state of the repository around dir: 0 (st->found false outside a
 * repository or before the first commit), -1 when the repository exists but
 * its status cannot be read.
 */
int sw_gitrev_state(const char *dir, struct sw_gitrev_state *st);

#endif
