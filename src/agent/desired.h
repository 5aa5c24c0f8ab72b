/*
 * desired.h - the desired-state document an agent long-polls from
 * GET /api/v1/agent/desired, parsed and checked.
 *
 *   { "generation": N,
 *     "services": [ { "service": "hello",
 *                     "slots": [ { "slot": "a"|"b", "digest": "<sha256 hex>",
 *                                  "port": 1..65535, "active": bool } ] } ] }
 *
 * A row may set only slot, digest, port and active (the allow-list): what
 * runs comes from the release's signed release.json (agent/signedrun.h).
 * A row may also carry "run" (servers before that check sent it; a
 * tampered database may): it is parsed as a claim, which the slot's worker
 * compares with the signed run before anything runs.
 *
 * A digest may carry a "sha256:" prefix (dropped). A malformed document
 * (not JSON, wrong types, bad service name, slot, digest or port, a
 * duplicate (service, slot)) is refused as a whole (SW_EINPUT naming the
 * field). A row with a field outside the allow-list is kept with invalid
 * and refused set, one whose `run` claim does not parse with invalid set;
 * error says why, so that the agent reports that slot refused or failed
 * (and runs nothing new there) instead of ignoring the whole host.
 *
 * Ownership: struct sw_desired owns its rows and their runspecs
 * (sw_desired_release). Calls agent/runspec, spec/ (service names), base/.
 */
#ifndef SW_AGENT_DESIRED_H
#define SW_AGENT_DESIRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/runspec.h"
#include "base/err.h"
#include "base/hash.h"

#define SW_DESIRED_MAX_BYTES ((size_t)8 << 20)
#define SW_DESIRED_MAX_ROWS 4096
#define SW_SERVICE_NAME_MAX 64

struct sw_desired_row {
	char service[SW_SERVICE_NAME_MAX];
	char slot; /* 'a' or 'b' */
	char digest[SW_SHA256_HEX];
	unsigned port;
	bool active;
	struct sw_runspec *claim; /* the row's "run" object; NULL when none was sent (or it is invalid) */
	bool invalid;             /* the slot's target cannot be used: error says why */
	bool refused;             /* invalid because of a field outside the allow-list */
	char error[256];
};

struct sw_desired {
	int64_t generation;
	struct sw_desired_row *rows;
	size_t n;
};

int sw_desired_parse(const char *body, size_t len, struct sw_desired *d, struct sw_err *err);
void sw_desired_release(struct sw_desired *d);

#endif
