/*
 * gitrev.c - HEAD commit and working-tree state of the repository around a
 * directory (see gitrev.h). Calls libgit2 and libc.
 */
#include "pipeline/gitrev.h"

#include <git2.h>
#include <string.h>

int sw_gitrev_head(const char *dir, char out[SW_GITREV_HEX])
{
	git_repository *repo = NULL;
	git_object *obj = NULL;
	int rc = -1;

	out[0] = '\0';
	if (git_libgit2_init() < 0)
		return -1;
	if (git_repository_open_ext(&repo, dir, 0, NULL) == 0 &&
	    git_revparse_single(&obj, repo, "HEAD^{commit}") == 0) {
		git_oid_tostr(out, SW_GITREV_HEX, git_object_id(obj));
		rc = 0;
	}
	git_object_free(obj);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return rc;
}

int sw_gitrev_state(const char *dir, struct sw_gitrev_state *st)
{
	git_diff_options dopts;
	git_repository *repo = NULL;
	git_object *obj = NULL;
	git_tree *tree = NULL;
	git_diff *diff = NULL;
	git_oid pid;
	int rc = -1;

	memset(st, 0, sizeof(*st));
	if (git_libgit2_init() < 0)
		return -1;
	if (git_repository_open_ext(&repo, dir, 0, NULL) < 0 || git_revparse_single(&obj, repo, "HEAD^{commit}") < 0) {
		rc = 0; /* no repository or no commit: not found */
		goto out;
	}
	git_oid_tostr(st->commit, sizeof(st->commit), git_object_id(obj));
	if (git_repository_is_bare(repo)) {
		st->found = true;
		rc = 0;
		goto out;
	}
	git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION);
	dopts.flags = GIT_DIFF_IGNORE_SUBMODULES;
	if (git_commit_tree(&tree, (git_commit *)obj) < 0 ||
	    git_diff_tree_to_workdir_with_index(&diff, repo, tree, &dopts) < 0)
		goto out;
	st->dirty = git_diff_num_deltas(diff) > 0;
	if (st->dirty) {
		if (git_diff_patchid(&pid, diff, NULL) < 0)
			goto out;
		git_oid_tostr(st->changes, sizeof(st->changes), &pid);
	}
	st->found = true;
	rc = 0;
out:
	git_diff_free(diff);
	git_tree_free(tree);
	git_object_free(obj);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return rc;
}
