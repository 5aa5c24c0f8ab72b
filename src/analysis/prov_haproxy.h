/*
 * prov_haproxy.h - the haproxy provider: per-server counters of the
 * canary's backend, canary servers against stable servers.
 *
 * One `show stat` (sw_traffic_stats()) per measurement. HAProxy's
 * counters are cumulative since it started, so the values are differences
 * to the previous measurement's counters (run->prev, the "raw" member
 * {mono_ms, wall_ms, servers: {name: {stot, hrsp_5xx, rtime}}}), summed
 * over the canary servers (and, with the stable_ prefix, the stable ones):
 *
 *   value          type      meaning
 *   requests       integer   Δstot: requests sent to the servers in the interval
 *   request_rate   number    requests / interval seconds
 *   errors         integer   Δhrsp_5xx: 5xx answers in the interval
 *   error_rate     number    errors / requests (0..1)
 *   response_ms    number    HAProxy's rtime (average response time over each
 *                            server's last 1024 requests, ms), weighted by the
 *                            servers' requests in the interval
 *   stable_...     the same five for the stable servers
 *
 * No value is guessed. ABSENT (inconclusive) when: there is no previous
 * measurement (the first one after a start or a weight change has no rate
 * yet: rates and counts), a server has no previous counters, a counter
 * went back (HAProxy restarted or cleared them), no time passed, no
 * request reached the group in the interval (error_rate and response_ms),
 * or there are no stable servers. The interval is the monotonic clock's
 * (the wall clock's if the two disagree by over 2 s, i.e. the previous
 * measurement came from another boot).
 *
 * Provider failures (measurement error): the balancer cannot be asked
 * (socket missing, refused, timeout), a named server is not in the
 * backend, or it has no HTTP counters (backend not in mode http).
 *
 * run->raw is a new JSON object the caller owns (sw_analysis_measure puts
 * it into the measurement). Calls traffic/, analysis/values, base/, jansson.
 */
#ifndef SW_PROV_HAPROXY_H
#define SW_PROV_HAPROXY_H

#include "analysis/provider.h"

int sw_prov_haproxy_measure(struct sw_provider_run *run, struct sw_err *err);

#endif
