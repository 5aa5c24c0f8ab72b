/*
 * agent.h - `slipway agent`: the process on each host that enrolls once,
 * long-polls its desired state, installs and supervises releases per
 * (service, slot), and reports their state. No inbound port: the agent
 * only makes requests to the server.
 *
 * Threads (one mutex, agent->mu, guards everything they share):
 *   main     applies each new desired document to the slots (create,
 *            retarget, remove; agent/reconcile), joins finished slot
 *            workers, and on SIGTERM/SIGINT shuts down;
 *   poll     GET /api/v1/agent/desired?generation=N&wait=25 in a loop;
 *            hands each new generation to main;
 *   status   POST /api/v1/agent/status at least every heartbeat_ms and
 *            at once after a slot changes state (also the heartbeat);
 *   signal   sigwait() for SIGTERM/SIGINT;
 *   one worker per (service, slot): deploys its target (install, hooks,
 *            stop the old process, start the new one), supervises the
 *            process (exit through a pidfd, restart with backoff, health
 *            checks, validate hook, log rotation), stops it when removed.
 * A slow install or hook in one slot never delays heartbeats or other slots.
 *
 * Exit: on SIGTERM/SIGINT the services keep running (their pid files stay;
 * the next agent adopts them) unless stop_services_on_exit, which stops
 * every service (stop signal, SIGKILL after its grace) and removes the pid
 * files. A 401/403 on an agent route (identity revoked or unknown) ends the
 * agent with SW_EAUTH (exit 1) and leaves the services as they are.
 *
 * Root layout: agent.json + trusted/ (agent/enroll.h), bundles/ +
 * releases/ (agent/installer.h), run/<service>-<slot>.pid and .json (the
 * pid file, and what runs: service, slot, digest, port, run), logs/
 * <service>-<slot>.log (+ .1 .. .N rotated).
 *
 * Calls agent/ (all of it), base/, libc, pthreads. Library code: never prints to
 * stdout; diagnostics go through base/log.
 */
#ifndef SW_AGENT_AGENT_H
#define SW_AGENT_AGENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct sw_agent_config {
	const char *root;
	const char *server;     /* NULL: the one in the identity file */
	const char *join_token; /* NULL: join_file, or an identity must exist; may end in ".<pin>" (base/tls.h) */
	const char *join_file;  /* the token's file (agent/enroll.h), read only to enroll; NULL: none */
	const char *ca_file;    /* verify the server against this CA file; NULL: the identity's */
	const char *pin;        /* "sha256//..."; NULL: the join token's, else the identity's */
	bool insecure_http;     /* allow http:// to a server that is not loopback */
	const char *name;       /* host name for enrollment; NULL: gethostname() */
	const char *address;    /* where services are reached; NULL: the source address of the route to the server */
	const json_t *labels;   /* object of strings, or NULL */
	unsigned ports[2];      /* 0: from the identity */
	uint64_t heartbeat_ms;  /* 0: what the server asked for */
	uint64_t poll_wait_s;   /* long-poll wait; 0: 25 */
	uint64_t log_max_bytes; /* 0: 10 MiB */
	unsigned log_keep;      /* 0: 3 */
	bool stop_services_on_exit;
	uint64_t max_unpacked_bytes; /* host-wide unpack cap; 0: SW_BUNDLE_MAX_TOTAL_DEFAULT */
	uint64_t min_free_bytes;     /* free-space margin when min_free_set, else the default */
	bool min_free_set;
};

/* Runs until SIGTERM/SIGINT (0) or a fatal error (-1: SW_EAUTH for a revoked identity). */
int sw_agent_run(const struct sw_agent_config *cfg, struct sw_err *err);

/* Peak and current resident memory of this process in kB (from /proc/self/status). */
void sw_agent_memory(uint64_t *hwm_kb, uint64_t *rss_kb);

#endif
