/*
 * runspec.h - the `run` object of a desired row: how the agent runs one
 * release in one slot (command, env, health check, stop, hooks, retention).
 *
 * The agent builds it from the `run:` section of the release's signed
 * slipway.yml (agent/signedrun.h); a desired row may carry one only as a
 * claim compared with that. The parser accepts the shapes that section can
 * take when turned into JSON, as written or resolved (durations as "1s"
 * strings or as integer milliseconds under the same key or a key ending in
 * "_ms"):
 *
 *   | field                | type                         | default          |
 *   | command              | string (required)            |                  |
 *   | env                  | {NAME: "value"} or           | none             |
 *   |                      | [{name|key, value}]          |                  |
 *   | health               | {http: "/p"} | {tcp: true} | | none: healthy    |
 *   |                      | {command: "sh text"} or      | once the process |
 *   |                      | {kind: "http"|"tcp"|"command"| has stayed up 1s |
 *   |                      |  , target|path: ...}         |                  |
 *   | health.interval      | duration                     | 1s               |
 *   | health.timeout       | duration                     | 2s               |
 *   | health.retries       | integer 1..100               | 3                |
 *   | health.start_period  | duration                     | 0                |
 *   | stop.signal          | "TERM" | "SIGTERM" | number   | TERM             |
 *   |   (or stop_signal)   |                              |                  |
 *   | stop.grace           | duration (or stop_grace_ms)  | 10s              |
 *   | hooks.before_install, after_install, before_start, validate: strings   |
 *   | hooks.timeout        | duration                     | 5m               |
 *   | keep_releases        | integer 1..100               | 3                |
 * Unknown fields are ignored (the server may add some); a wrong type or an
 * out-of-range value is SW_EINPUT naming the field ("run.health.interval").
 *
 * Ownership: a struct sw_runspec and all its strings live in its own arena;
 * sw_runspec_free() releases everything. `digest` is the sha256 hex of the
 * canonical JSON it was parsed from, so that two runs compare cheaply.
 * Calls jansson and base/.
 */
#ifndef SW_AGENT_RUNSPEC_H
#define SW_AGENT_RUNSPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/hash.h"

enum sw_runspec_health { SW_RUNSPEC_HEALTH_NONE, SW_RUNSPEC_HEALTH_HTTP, SW_RUNSPEC_HEALTH_TCP, SW_RUNSPEC_HEALTH_COMMAND };

struct sw_runspec_env {
	const char *name;
	const char *value;
};

struct sw_runspec {
	struct sw_arena arena;
	char digest[SW_SHA256_HEX]; /* of the canonical JSON */
	const char *json;           /* the canonical JSON text itself */
	const char *command;
	struct sw_runspec_env *env;
	size_t nenv;
	enum sw_runspec_health health;
	const char *health_target; /* HTTP path or shell text; NULL for TCP/NONE */
	uint64_t health_interval_ms, health_timeout_ms, health_start_period_ms;
	unsigned health_retries;
	int stop_signal;
	uint64_t stop_grace_ms;
	const char *before_install, *after_install, *before_start, *validate; /* NULL = none */
	uint64_t hook_timeout_ms;
	unsigned keep_releases;
};

#define SW_RUNSPEC_MAX_ENV 1000
#define SW_RUNSPEC_MAX_TEXT 65536

/* Parse a run object; NULL with err (SW_EINPUT naming the field) on bad input. */
struct sw_runspec *sw_runspec_parse(const json_t *run, struct sw_err *err);
void sw_runspec_free(struct sw_runspec *rs);
/* An independent copy (parsed again from rs->json). */
struct sw_runspec *sw_runspec_clone(const struct sw_runspec *rs, struct sw_err *err);
/* Parse canonical JSON text (a state file, a clone). */
struct sw_runspec *sw_runspec_parse_text(const char *text, size_t len, struct sw_err *err);
/*
 * NULL when a and b run the same thing (every field equal, whatever JSON
 * shape each was parsed from); else the first field that differs
 * ("run.command", "run.env", "run.health", "run.stop", "run.hooks.<name>",
 * "run.hooks.timeout", "run.keep_releases").
 */
const char *sw_runspec_diff(const struct sw_runspec *a, const struct sw_runspec *b);
/* "TERM", "SIGTERM" -> SIGTERM; -1 if unknown. */
int sw_runspec_signal(const char *name);

#endif
