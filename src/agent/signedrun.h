/*
 * signedrun.h - what a slot runs comes from the signed release, never from
 * the server.
 *
 * The run configuration (command, env, health, stop, hooks, keep_releases)
 * is the `run:` section of the slipway.yml text that the release's
 * release.json carries (field `spec`, release/manifest.h). The agent has
 * verified that release.json against its trusted keys and checked that it
 * names the digest and service of the slot (sw_installer_manifest), so a
 * server or database that is not trusted can choose only among signed
 * releases, never what they execute.
 *
 * A desired row may still carry a `run` object: servers before this check
 * sent one in every row, and a tampered database can put one there. It is
 * a claim: accepted when it equals the signed run in every field
 * (sw_runspec_diff), otherwise the deployment into the slot is refused
 * (SW_EINTEGRITY naming the first field that differs) and nothing of it
 * runs. docs/agent.md lists what a desired row may set.
 *
 * Ownership: the returned runspec is the caller's (sw_runspec_free).
 * Calls spec/ (parses the signed slipway.yml), rollout/runjson (its run
 * section as run JSON), agent/runspec, jansson.
 */
#ifndef SW_AGENT_SIGNEDRUN_H
#define SW_AGENT_SIGNEDRUN_H

#include <jansson.h>

#include "agent/runspec.h"
#include "base/err.h"

/* The run configuration of a verified release.json; SW_EINTEGRITY when it has none or it does not parse. */
struct sw_runspec *sw_signedrun_from_manifest(const json_t *manifest, struct sw_err *err);

/* 0 when claim (the server's run object; NULL: none sent) equals signed; else -1, SW_EINTEGRITY. */
int sw_signedrun_check(const struct sw_runspec *claim, const struct sw_runspec *signed_rs, struct sw_err *err);

#endif
