/*
 * gitinfo.c - commit, commit time, dirty flag and describe name through
 * libgit2 (see gitinfo.h). Owns nothing after it returns.
 * Calls libgit2, libc and base/ (buf, err, log).
 */
#include "release/gitinfo.h"
#include "base/buf.h"
#include "base/log.h"

#include <git2.h>
#include <stdio.h>
#include <string.h>

/* Remove "user:password@" from scheme://user:password@host/... */
static void sw_git_strip_credentials(const char *url, char *out, size_t size)
{
	const char *scheme = strstr(url, "://"), *host, *at, *slash;

	if (!scheme) {
		sw_strlcpy(out, url, size);
		return;
	}
	host = scheme + 3;
	slash = strchr(host, '/');
	at = memchr(host, '@', slash ? (size_t)(slash - host) : strlen(host));
	if (!at) {
		sw_strlcpy(out, url, size);
		return;
	}
	snprintf(out, size, "%.*s%s", (int)(host - url), url, at + 1);
}

static void sw_git_warn(const char *what, const char *dir)
{
	const git_error *e = git_error_last();

	sw_warn("git: %s in '%s': %s (release records no git metadata)", what, dir, e && e->message ? e->message : "error");
}

int sw_gitinfo_read(const char *dir, struct sw_git_info *gi, struct sw_err *err)
{
	return sw_gitinfo_read_at(dir, NULL, gi, err);
}

int sw_gitinfo_read_at(const char *dir, const char *at, struct sw_git_info *gi, struct sw_err *err)
{
	git_describe_options dopts;
	git_describe_format_options fopts;
	git_status_options sopts;
	git_repository *repo = NULL;
	git_commit *commit = NULL;
	git_describe_result *desc = NULL;
	git_status_list *status = NULL;
	git_remote *remote = NULL;
	git_buf buf = { 0 };
	git_oid oid;
	const char *wd;
	int rc, ret = 0;

	memset(gi, 0, sizeof(*gi));
	if (git_libgit2_init() < 0)
		return sw_err_set(err, SW_EINTERNAL, "cannot initialise libgit2");
	git_describe_options_init(&dopts, GIT_DESCRIBE_OPTIONS_VERSION);
	git_describe_format_options_init(&fopts, GIT_DESCRIBE_FORMAT_OPTIONS_VERSION);
	git_status_options_init(&sopts, GIT_STATUS_OPTIONS_VERSION);
	rc = git_repository_open_ext(&repo, dir, 0, NULL);
	if (rc == GIT_ENOTFOUND)
		goto out;
	if (rc < 0) {
		sw_git_warn("cannot open the repository", dir);
		goto out;
	}
	if (at) {
		if (git_oid_fromstr(&oid, at) < 0 || git_commit_lookup(&commit, repo, &oid) < 0) {
			ret = sw_err_set(err, SW_EFAILED, "commit %s is not in the repository at '%s'", at, dir);
			goto out;
		}
	} else if (git_repository_head_unborn(repo) == 1 || git_reference_name_to_id(&oid, repo, "HEAD") < 0 ||
		   git_commit_lookup(&commit, repo, &oid) < 0) {
		goto out; /* no commits yet */
	}
	git_oid_tostr(gi->commit, sizeof(gi->commit), &oid);
	memcpy(gi->short_commit, gi->commit, 7);
	gi->short_commit[7] = '\0';
	gi->commit_time = (int64_t)git_commit_time(commit);
	wd = git_repository_workdir(repo);
	sw_strlcpy(gi->workdir, wd ? wd : "", sizeof(gi->workdir));

	sopts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	sopts.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
	if (!at && !git_repository_is_bare(repo)) {
		if (git_status_list_new(&status, repo, &sopts) < 0) {
			sw_git_warn("cannot read the status", dir);
			goto out;
		}
		gi->dirty = git_status_list_entrycount(status) > 0;
	}

	dopts.describe_strategy = GIT_DESCRIBE_TAGS;
	if (git_describe_commit(&desc, (git_object *)commit, &dopts) == 0 &&
	    git_describe_format(&buf, desc, &fopts) == 0 && buf.ptr) {
		gi->has_tag = true;
		sw_strlcpy(gi->describe, buf.ptr, sizeof(gi->describe));
	} else {
		sw_strlcpy(gi->describe, gi->short_commit, sizeof(gi->describe));
	}
	if (git_remote_lookup(&remote, repo, "origin") == 0 && git_remote_url(remote))
		sw_git_strip_credentials(git_remote_url(remote), gi->remote_url, sizeof(gi->remote_url));
	gi->found = true;
out:
	git_buf_dispose(&buf);
	git_remote_free(remote);
	git_describe_result_free(desc);
	git_status_list_free(status);
	git_commit_free(commit);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return ret;
}

const char *sw_gitinfo_version(const struct sw_git_info *gi, char *out, size_t size)
{
	if (gi && gi->found && gi->has_tag)
		snprintf(out, size, "%s", gi->describe);
	else if (gi && gi->found)
		snprintf(out, size, "0.0.0+%s", gi->short_commit);
	else
		snprintf(out, size, "0.0.0");
	return out;
}
