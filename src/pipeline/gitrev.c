/*
 * gitrev.c - HEAD commit of the repository around a directory (see gitrev.h).
 * Calls libgit2 and libc.
 */
#include "pipeline/gitrev.h"

#include <git2.h>

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
