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

#endif
