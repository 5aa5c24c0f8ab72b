/*
 * metrics.h - request counters and the latency histogram of hello, and their
 * Prometheus text exposition.
 *
 * Owns: process-wide atomic counters (no locks; safe from every connection
 * thread). hello_metrics_render() returns a malloc'd string the caller frees.
 * Calls only libc.
 */
#ifndef HELLO_METRICS_H
#define HELLO_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Count one finished request with HTTP status `code` that took `duration_us`. */
void hello_metrics_observe(unsigned code, uint64_t duration_us);

/* Requests observed so far (all codes). */
uint64_t hello_metrics_total(void);

/*
 * The exposition text (format version 0.0.4): hello_requests_total{code},
 * hello_request_duration_seconds histogram, hello_in_flight_requests,
 * hello_up, hello_version_info{version}. `version` must already be a safe
 * label value (main.c allows only [A-Za-z0-9._+~-]). NULL when out of memory;
 * *len receives the length.
 */
char *hello_metrics_render(const char *version, uint64_t in_flight, size_t *len);

#endif
