/*
 * health.h - health checks of a supervised service and the rules that turn
 * their results into a state.
 *
 * Probes (each bounded by its timeout):
 *   HTTP     GET http://127.0.0.1:<port><path> (base/httpc); 2xx is healthy
 *   TCP      a TCP connect to 127.0.0.1:<port> succeeds
 *   COMMAND  `/bin/sh -c <text>` in the release directory exits 0 (agent/hook)
 *   NONE     healthy while the process runs (the caller checks that)
 *
 * State rules (sw_health_record, pure):
 *   - a success makes the slot healthy and clears the failure count;
 *   - a failure within start_period of the start, before any success, is
 *     not counted (the service is still starting);
 *   - otherwise failures count; `retries` of them in a row make the slot
 *     unhealthy; a later success makes it healthy again.
 *
 * Verdicts (sw_health_verdict, pure): what the agent reports as definite,
 * so that the server fails a deployment at once instead of waiting for its
 * health_timeout (docs/agent.md, "Verdicts"):
 *   crashloop  the process exited SW_CRASHLOOP_EXITS times in a row, each
 *              run shorter than SW_CRASHLOOP_RESET_MS (the run length that
 *              also resets the restart backoff, supervisor.h); cleared by a
 *              run that lasts that long, or a new release in the slot
 *   unhealthy  the health check failed `retries` times in a row after
 *              start_period (status SW_HEALTH_UNHEALTHY)
 *   none       anything else: starting, restarting after a first exit,
 *              healthy ("not yet healthy" is no verdict)
 * A crash loop wins over unhealthy.
 * Calls base/httpc, agent/hook, libc.
 */
#ifndef SW_AGENT_HEALTH_H
#define SW_AGENT_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/runspec.h"

struct sw_health_probe {
	enum sw_runspec_health kind;
	const char *target; /* HTTP path / shell text */
	unsigned port;
	uint64_t timeout_ms;
	const char *cwd;    /* COMMAND: release directory */
	char *const *envp;  /* COMMAND: environment */
	int log_fd;         /* COMMAND: output goes here (-1: dropped) */
};

/* 1 healthy, 0 not (detail says why, e.g. "GET /healthz: HTTP 503"). */
int sw_health_check(const struct sw_health_probe *p, char *detail, size_t size);

enum sw_health_status { SW_HEALTH_STARTING, SW_HEALTH_HEALTHY, SW_HEALTH_UNHEALTHY };

struct sw_health_state {
	enum sw_health_status status;
	unsigned failures; /* counted failures in a row */
	bool ever_ok;
	uint64_t started_ms; /* when the process started (any monotonic clock) */
};

void sw_health_begin(struct sw_health_state *st, uint64_t now_ms);
enum sw_health_status sw_health_record(struct sw_health_state *st, bool ok, uint64_t now_ms, uint64_t start_period_ms,
				       unsigned retries);
const char *sw_health_status_name(enum sw_health_status s);

#define SW_CRASHLOOP_EXITS 3
#define SW_CRASHLOOP_RESET_MS 60000 /* = SW_BACKOFF_RESET_MS */

/* Exits of a slot's process in a row, each after a short run. */
struct sw_crashloop {
	unsigned exits;
	uint64_t first_ms; /* when the first of them happened (monotonic) */
	uint64_t last_ms;  /* when the last one did */
};

/* An exit after a run of uptime_ms, at now_ms. */
void sw_crashloop_exit(struct sw_crashloop *c, uint64_t uptime_ms, uint64_t now_ms);
/* The running process has been up uptime_ms: a long run clears the loop. Returns true when it cleared one. */
bool sw_crashloop_running(struct sw_crashloop *c, uint64_t uptime_ms);
bool sw_crashloop_active(const struct sw_crashloop *c);

enum sw_health_verdict { SW_VERDICT_NONE, SW_VERDICT_UNHEALTHY, SW_VERDICT_CRASHLOOP };

enum sw_health_verdict sw_health_verdict(const struct sw_health_state *st, const struct sw_crashloop *c);
/* "", "unhealthy", "crashloop": the status report's "verdict" field. */
const char *sw_health_verdict_name(enum sw_health_verdict v);

#endif
