/*
 * main.c - hello: a small HTTP service that Slipway's demo and tests build,
 * release and deploy. It is a user's service, not part of Slipway.
 *
 * Owns: command line and environment parsing, signal handling and the
 * start/stop log lines. Calls server.h, metrics.h, log.h and libc.
 *
 * Usage: hello [--port N]   (or env PORT; default 8080)
 * Environment (all optional; a bad value is an error, exit 2):
 *   HELLO_BIND                  listen address (default 127.0.0.1; IPv6 allowed)
 *   HELLO_VERSION               reported version (default: the VERSION file at build time)
 *   HELLO_ERROR_RATE            0..1: fraction of / requests answered 500 (deterministic)
 *   HELLO_FAIL_AFTER            after N requests to /, every / answers 500
 *   HELLO_DELAY_MS              latency added to every / request (at most 60000)
 *   HELLO_SLOW_AFTER            the HELLO_DELAY_MS latency only after N requests to /
 *   HELLO_UNHEALTHY=1           /healthz answers 503 from the start
 *   HELLO_HEALTH_FAIL_AFTER_MS  /healthz answers 503 once this long after start
 *   HELLO_DRAIN_MS              on SIGTERM/SIGINT, wait this long at most for
 *                               requests in flight (default 8000)
 * SIGTERM or SIGINT: stop accepting, finish requests in flight, exit 0.
 * A second signal while draining stops at once (still exit 0).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "server.h"

#ifndef HELLO_VERSION_DEFAULT
#define HELLO_VERSION_DEFAULT "0.0.0-dev"
#endif

#define EXIT_USAGE 2

/* Logs an error line whose msg is printf-formatted; returns -1. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++) /* keep the logfmt value one quoted token */
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = '?';
	hello_log("error", "msg=\"%s\"", msg);
	return -1;
}

/* Decimal unsigned integer in [0, max]; the whole string must be digits. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static bool version_ok(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      strchr("._+~-", ch)))
			return false;
	}
	return true;
}

static int env_u64(const char *name, uint64_t max, bool *has, uint64_t *out)
{
	const char *s = getenv(name);

	*has = false;
	if (!s || !*s)
		return 0;
	if (parse_u64(s, max, out) < 0) {
		return usage_error("invalid %s '%.40s': want a whole number from 0 to %" PRIu64, name, s,
				   max);
	}
	*has = true;
	return 0;
}

static int load_config(int argc, char **argv, struct hello_config *c)
{
	const char *port_s = NULL, *bind_s, *s;
	uint64_t port = 8080, v;
	bool has;

	memset(c, 0, sizeof *c);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			printf("usage: hello [--port N]\n"
			       "Serves / /healthz /version /metrics on HELLO_BIND (default 127.0.0.1),\n"
			       "port N (or env PORT, default 8080). Fault injection: HELLO_ERROR_RATE,\n"
			       "HELLO_FAIL_AFTER, HELLO_DELAY_MS, HELLO_SLOW_AFTER, HELLO_UNHEALTHY, HELLO_HEALTH_FAIL_AFTER_MS.\n"
			       "See examples/hello/README.md.\n");
			exit(0);
		} else if (strcmp(a, "--version") == 0) {
			s = getenv("HELLO_VERSION");
			printf("hello %s\n", s && *s ? s : HELLO_VERSION_DEFAULT);
			exit(0);
		} else if (strcmp(a, "--port") == 0 && i + 1 < argc) {
			port_s = argv[++i];
		} else if (strncmp(a, "--port=", 7) == 0) {
			port_s = a + 7;
		} else {
			return usage_error("unknown argument '%.60s' (usage: hello [--port N])", a);
		}
	}
	if (!port_s && (s = getenv("PORT")) && *s)
		port_s = s;
	if (port_s && parse_u64(port_s, 65535, &port) < 0)
		return usage_error("invalid port '%.40s': want 0 to 65535", port_s);

	s = getenv("HELLO_VERSION");
	c->version = s && *s ? s : HELLO_VERSION_DEFAULT;
	if (!version_ok(c->version))
		return usage_error("invalid version '%.64s': want 1 to 64 of [A-Za-z0-9._+~-]",
				   c->version);

	bind_s = getenv("HELLO_BIND");
	if (!bind_s || !*bind_s)
		bind_s = "127.0.0.1";
	struct sockaddr_in *in4 = (struct sockaddr_in *)&c->addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&c->addr;
	if (inet_pton(AF_INET, bind_s, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		c->addrlen = sizeof *in4;
	} else if (inet_pton(AF_INET6, bind_s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		c->addrlen = sizeof *in6;
	} else {
		return usage_error("invalid HELLO_BIND '%.60s': want an IPv4 or IPv6 address", bind_s);
	}

	s = getenv("HELLO_ERROR_RATE");
	if (s && *s) {
		char *end;
		errno = 0;
		double r = strtod(s, &end);
		if (errno || *end || end == s || !isfinite(r) || r < 0 || r > 1)
			return usage_error("invalid HELLO_ERROR_RATE '%.40s': want a number from 0 to 1", s);
		c->error_ppm = (uint32_t)(r * 1e6 + 0.5);
	}
	if (env_u64("HELLO_FAIL_AFTER", UINT64_MAX / 2, &c->has_fail_after, &c->fail_after) < 0 ||
	    env_u64("HELLO_DELAY_MS", 60000, &has, &c->delay_ms) < 0 ||
	    env_u64("HELLO_SLOW_AFTER", UINT64_MAX / 2, &c->has_slow_after, &c->slow_after) < 0 ||
	    env_u64("HELLO_HEALTH_FAIL_AFTER_MS", UINT64_MAX / 2, &c->has_health_fail_after,
		    &c->health_fail_after_ms) < 0)
		return -1;
	c->drain_ms = 8000;
	if (env_u64("HELLO_DRAIN_MS", 600000, &has, &v) < 0)
		return -1;
	if (has)
		c->drain_ms = v;
	s = getenv("HELLO_UNHEALTHY");
	if (s && *s) {
		if (strcmp(s, "1") != 0 && strcmp(s, "0") != 0)
			return usage_error("invalid HELLO_UNHEALTHY '%.40s': want 0 or 1", s);
		c->unhealthy = strcmp(s, "1") == 0;
	}
	return 0;
}

static const char *signame(int sig)
{
	return sig == SIGTERM ? "TERM" : sig == SIGINT ? "INT" : "?";
}

int main(int argc, char **argv)
{
	struct hello_config cfg;
	char addr[INET6_ADDRSTRLEN], msg[256];
	sigset_t set;
	int sig;

	if (load_config(argc, argv, &cfg) < 0)
		return EXIT_USAGE;

	/* Blocked before the daemon starts, so every MHD thread inherits the mask
	 * and only sigwait() below sees these signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (hello_server_start(&cfg, msg, sizeof msg) < 0) {
		hello_log("error", "msg=\"%s\"", msg);
		return 1;
	}
	if (cfg.addr.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&cfg.addr)->sin6_addr, addr, sizeof addr);
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&cfg.addr)->sin_addr, addr, sizeof addr);
	hello_log("info", "msg=started version=%s pid=%ld addr=%s%s%s:%u", cfg.version,
		 (long)getpid(), cfg.addr.ss_family == AF_INET6 ? "[" : "", addr,
		 cfg.addr.ss_family == AF_INET6 ? "]" : "", hello_server_port());

	while (sigwait(&set, &sig) != 0)
		;
	uint64_t t0 = hello_now_ns();
	hello_server_quiesce();
	/* Drain: wait for requests in flight, up to HELLO_DRAIN_MS; a second
	 * signal cuts the wait short. */
	bool forced = false;
	while (hello_server_in_flight() > 0) {
		uint64_t waited_ms = (hello_now_ns() - t0) / 1000000u;
		if (waited_ms >= cfg.drain_ms) {
			forced = true;
			break;
		}
		struct timespec tick = { 0, 10 * 1000000L };
		if (sigtimedwait(&set, NULL, &tick) > 0) {
			forced = true;
			break;
		}
	}
	uint64_t left = hello_server_in_flight();
	hello_server_stop();
	hello_log("info", "msg=stopped signal=%s requests=%" PRIu64 " drain_ms=%" PRIu64
		 " abandoned=%" PRIu64 "%s",
		 signame(sig), hello_metrics_total(), (hello_now_ns() - t0) / 1000000u,
		 forced ? left : 0, forced ? " forced=true" : "");
	return 0;
}
