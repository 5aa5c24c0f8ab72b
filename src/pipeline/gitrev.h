/*
 * gitrev.h - the commit a pipeline run built, read with libgit2.
 *
 * sw_gitrev_head() finds the repository containing dir (searching upwards
 * like git does) and resolves HEAD to a commit id. Calls libgit2 and libc;
 * initialises and shuts down libgit2 around the call.
 */
#ifndef SW_PIPELINE_GITREV_H
#define SW_PIPELINE_GITREV_H

#include <stddef.h>

#define SW_GITREV_HEX 41

/* 0 with the 40-hex commit id in out, or -1 (no repository, no commit yet). */
int sw_gitrev_head(const char *dir, char out[SW_GITREV_HEX]);

#endif
