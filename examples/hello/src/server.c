/*
 * server.c - the HTTP side of hello: routes, fault injection, graceful drain
 * (see server.h).
 *
 * Routes: GET|HEAD  /         "hello from hello <version> (pid N)\n"
 *                   /healthz  200 "ok" | 503 "unhealthy" (faults, draining)
 *                   /version  {"service":"hello","version":"..."}
 *                   /metrics  Prometheus text exposition (metrics.c)
 * Anything else: 404; other methods: 405.
 *
 * Every request gets a small heap record on the first handler call (start
 * time, status), counted in the metrics when its response is queued and
 * freed by the completion callback; the number of live records is the
 * in-flight count that shutdown waits for. The answer is queued on the last
 * handler call, once the request is complete, so that connections stay
 * alive. Faults on / are decided from a global atomic sequence number, so they
 * are deterministic: with HELLO_ERROR_RATE=r request n fails exactly when
 * floor(n*r) > floor((n-1)*r) (r=0.25: every 4th).
 */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

struct req {
	uint64_t start_ns;
	unsigned code;  /* 0 until a response is queued */
	bool counted;   /* false for /healthz and /metrics */
};

static const struct hello_config *cfg;
static struct MHD_Daemon *daemon_;
static MHD_socket listen_fd = MHD_INVALID_SOCKET;
static unsigned bound_port;
static uint64_t started_ns;
static atomic_uint_fast64_t root_seq;
static atomic_uint_fast64_t in_flight;
static atomic_bool draining;
static atomic_bool stopping; /* drain time is over: delayed requests give up */

uint64_t hello_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps ms in 10 ms slices; false when cut short by hello_server_stop(). */
static bool sleep_ms(uint64_t ms)
{
	uint64_t end = hello_now_ns() + ms * 1000000u, now;

	while ((now = hello_now_ns()) < end) {
		if (atomic_load(&stopping))
			return false;
		uint64_t left = end - now, slice = left < 10000000u ? left : 10000000u;
		struct timespec ts = { 0, (long)slice };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	return true;
}

static enum MHD_Result reply(struct MHD_Connection *c, struct req *r, unsigned code,
			     const char *type, const char *body, size_t len, bool copy)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body,
					       copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		if (!copy)
			free((void *)body);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES ||
	    (code == MHD_HTTP_METHOD_NOT_ALLOWED &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES) ||
	    (atomic_load(&draining) &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, code, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES) {
		r->code = code;
		/* Counted here rather than in completed(): the client may read the
		 * response before libmicrohttpd calls completed(), and a scrape
		 * right after a request must already see it. */
		if (r->counted)
			hello_metrics_observe(code, (hello_now_ns() - r->start_ns) / 1000u);
	}
	return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, struct req *r, unsigned code, const char *s)
{
	return reply(c, r, code, "text/plain; charset=utf-8", s, strlen(s), true);
}

static bool healthy(void)
{
	if (cfg->unhealthy || atomic_load(&draining))
		return false;
	if (cfg->has_health_fail_after &&
	    (hello_now_ns() - started_ns) / 1000000u >= cfg->health_fail_after_ms)
		return false;
	return true;
}

static enum MHD_Result root(struct MHD_Connection *c, struct req *r)
{
	uint64_t n = atomic_fetch_add(&root_seq, 1) + 1;
	bool fail = false;
	char body[160];

	if (cfg->delay_ms && (!cfg->has_slow_after || n > cfg->slow_after) && !sleep_ms(cfg->delay_ms))
		return MHD_NO; /* shutting down: close the connection unanswered */
	if (cfg->has_fail_after && n > cfg->fail_after)
		fail = true;
	/* floor(n*r) > floor((n-1)*r) depends only on n mod 10^6 (r in ppm):
	 * m in 1..10^6 keeps the products far from overflow. */
	uint64_t m = (n - 1) % 1000000u + 1;
	if (cfg->error_ppm && (m * cfg->error_ppm) / 1000000u > ((m - 1) * cfg->error_ppm) / 1000000u)
		fail = true;
	if (fail)
		return text(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "injected failure\n");
	snprintf(body, sizeof body, "hello from hello %s (pid %ld)\n", cfg->version, (long)getpid());
	return text(c, r, MHD_HTTP_OK, body);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_size, void **req_cls)
{
	struct req *r = *req_cls;

	(void)cls;
	(void)version;
	if (!r) {
		r = calloc(1, sizeof *r);
		if (!r)
			return MHD_NO;
		r->start_ns = hello_now_ns();
		r->counted = strcmp(url, "/healthz") != 0 && strcmp(url, "/metrics") != 0;
		atomic_fetch_add(&in_flight, 1);
		*req_cls = r;
		/* Answer only once the request is complete: a response queued
		 * earlier makes libmicrohttpd close the connection (no keep-alive). */
		return MHD_YES;
	}
	if (*upload_size) {
		/* No route takes a body: drop it. */
		(void)upload_data;
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->code)
		return MHD_YES;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return text(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (strcmp(url, "/") == 0)
		return root(c, r);
	if (strcmp(url, "/healthz") == 0)
		return healthy() ? text(c, r, MHD_HTTP_OK, "ok")
				 : text(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, "unhealthy");
	if (strcmp(url, "/version") == 0) {
		char body[160];
		snprintf(body, sizeof body, "{\"service\":\"hello\",\"version\":\"%s\"}\n",
			 cfg->version);
		return reply(c, r, MHD_HTTP_OK, "application/json", body, strlen(body), true);
	}
	if (strcmp(url, "/metrics") == 0) {
		size_t len = 0;
		char *m = hello_metrics_render(cfg->version, atomic_load(&in_flight), &len);
		if (!m)
			return text(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		return reply(c, r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", m, len,
			     false);
	}
	return text(c, r, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *r = *req_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (!r)
		return;
	free(r);
	*req_cls = NULL;
	atomic_fetch_sub(&in_flight, 1);
}

/* libmicrohttpd's own messages, as warn lines (trailing newline dropped). */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[400];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof line, fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (line[i] == '"' || line[i] == '\\' || (unsigned char)line[i] < 0x20)
			line[i] = '?';
	hello_log("warn", "msg=\"libmicrohttpd: %s\"", line);
}

int hello_server_start(const struct hello_config *c, char *msg, size_t msgcap)
{
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_AUTO | MHD_USE_ITC | MHD_USE_ERROR_LOG;

	cfg = c;
	started_ns = hello_now_ns();
	if (c->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	daemon_ = MHD_start_daemon(flags, 0, NULL, NULL, handle, NULL,
				   MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first, to catch all */
				   MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&c->addr,
				   MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				   MHD_OPTION_CONNECTION_LIMIT, 1000u,
				   MHD_OPTION_CONNECTION_TIMEOUT, 60u,
				   MHD_OPTION_END);
	if (!daemon_) {
		snprintf(msg, msgcap, "cannot listen: %s", errno ? strerror(errno) : "libmicrohttpd failed");
		return -1;
	}
	info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
	bound_port = info ? info->port : 0;
	return 0;
}

unsigned hello_server_port(void)
{
	return bound_port;
}

uint64_t hello_server_in_flight(void)
{
	return atomic_load(&in_flight);
}

void hello_server_quiesce(void)
{
	atomic_store(&draining, true);
	if (daemon_ && listen_fd == MHD_INVALID_SOCKET) {
		listen_fd = MHD_quiesce_daemon(daemon_);
		/* MHD no longer accepts, but the socket still listens until it is
		 * closed after MHD_stop_daemon(), so the kernel would keep completing
		 * handshakes that nobody answers. shutdown() takes it out of the
		 * LISTEN state now: new clients are refused at once and can retry
		 * elsewhere (e.g. the load balancer's next server). */
		if (listen_fd != MHD_INVALID_SOCKET)
			shutdown(listen_fd, SHUT_RDWR);
	}
}

void hello_server_stop(void)
{
	atomic_store(&stopping, true);
	if (daemon_)
		MHD_stop_daemon(daemon_);
	daemon_ = NULL;
	/* Closed only now: MHD's threads may use it until MHD_stop_daemon returns. */
	if (listen_fd != MHD_INVALID_SOCKET)
		close(listen_fd);
	listen_fd = MHD_INVALID_SOCKET;
}
