/*
 * server.h - the HTTP side of hello: routes, fault injection, graceful drain.
 *
 * Owns: the libmicrohttpd daemon (one polling thread + one thread per
 * connection) and the request state. Calls libmicrohttpd, metrics.h, log.h, libc.
 * The configuration is borrowed: it must outlive the server.
 */
#ifndef HELLO_SERVER_H
#define HELLO_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct hello_config {
	const char *version;           /* [A-Za-z0-9._+~-], at most 64 characters */
	struct sockaddr_storage addr;  /* where to listen (port included; 0: any free port) */
	socklen_t addrlen;
	uint32_t error_ppm;            /* HELLO_ERROR_RATE in parts per million */
	bool has_fail_after;
	uint64_t fail_after;           /* HELLO_FAIL_AFTER */
	uint64_t delay_ms;             /* HELLO_DELAY_MS */
	bool has_slow_after;
	uint64_t slow_after;           /* HELLO_SLOW_AFTER */
	bool unhealthy;                /* HELLO_UNHEALTHY=1 */
	bool has_health_fail_after;
	uint64_t health_fail_after_ms; /* HELLO_HEALTH_FAIL_AFTER_MS */
	uint64_t drain_ms;             /* HELLO_DRAIN_MS: how long shutdown waits for requests */
};

/* Starts listening; 0 on success, -1 with a message in msg[0..msgcap). */
int hello_server_start(const struct hello_config *cfg, char *msg, size_t msgcap);
/* The port actually bound (useful with port 0). */
unsigned hello_server_port(void);
/* Requests being answered right now. */
uint64_t hello_server_in_flight(void);
/* Stops accepting connections and marks the service as draining. */
void hello_server_quiesce(void);
/* Closes every connection and joins the threads. */
void hello_server_stop(void);
/* Monotonic clock in nanoseconds. */
uint64_t hello_now_ns(void);

#endif
