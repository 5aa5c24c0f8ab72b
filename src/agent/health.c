/*
 * health.c - HTTP, TCP and command health checks and the state rules
 * (see health.h). Calls base/httpc, agent/hook, libc.
 */
#include "agent/health.h"
#include "agent/hook.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int sw_health_http(const struct sw_health_probe *p, char *detail, size_t size)
{
	struct sw_buf body = SW_BUF_INIT((size_t)1 << 20);
	struct sw_err err = SW_ERR_INIT;
	struct sw_httpc_req req = { 0 };
	char url[2048];
	long status = 0;
	int ok = 0;

	if (sw_snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", p->port, p->target) < 0) {
		snprintf(detail, size, "health check path too long");
		return 0;
	}
	req.method = "GET";
	req.url = url;
	req.timeout_ms = p->timeout_ms ? p->timeout_ms : 2000;
	if (sw_httpc_do(&req, &status, &body, &err) < 0) {
		if (err.code == SW_ETIMEOUT)
			snprintf(detail, size, "GET %s: timed out after %llu ms", p->target,
				 (unsigned long long)req.timeout_ms);
		else
			snprintf(detail, size, "GET %s: %s", p->target, err.msg);
	} else if (status >= 200 && status < 300) {
		ok = 1;
		snprintf(detail, size, "GET %s: HTTP %ld", p->target, status);
	} else {
		snprintf(detail, size, "GET %s: HTTP %ld", p->target, status);
	}
	sw_buf_release(&body);
	return ok;
}

static int sw_health_tcp(const struct sw_health_probe *p, char *detail, size_t size)
{
	struct sockaddr_in sa;
	struct pollfd pfd;
	int fd, rc, soerr = 0;
	socklen_t len = sizeof(soerr);
	uint64_t timeout = p->timeout_ms ? p->timeout_ms : 2000;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(detail, size, "cannot create a socket: %s", strerror(errno));
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)p->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc < 0 && errno != EINPROGRESS) {
		snprintf(detail, size, "connect to 127.0.0.1:%u: %s", p->port, strerror(errno));
		close(fd);
		return 0;
	}
	if (rc < 0) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do
			rc = poll(&pfd, 1, (int)(timeout > 600000 ? 600000 : timeout));
		while (rc < 0 && errno == EINTR);
		if (rc == 0) {
			snprintf(detail, size, "connect to 127.0.0.1:%u: timed out after %llu ms", p->port,
				 (unsigned long long)timeout);
			close(fd);
			return 0;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		if (soerr) {
			snprintf(detail, size, "connect to 127.0.0.1:%u: %s", p->port, strerror(soerr));
			close(fd);
			return 0;
		}
	}
	close(fd);
	snprintf(detail, size, "connect to 127.0.0.1:%u: ok", p->port);
	return 1;
}

static int sw_health_command(const struct sw_health_probe *p, char *detail, size_t size)
{
	struct sw_err err = SW_ERR_INIT;

	if (sw_hook_run("health command", p->target, p->cwd, p->envp, p->timeout_ms ? p->timeout_ms : 2000, p->log_fd,
			NULL, &err) < 0) {
		snprintf(detail, size, "%s", err.msg);
		return 0;
	}
	snprintf(detail, size, "health command: exit 0");
	return 1;
}

int sw_health_check(const struct sw_health_probe *p, char *detail, size_t size)
{
	switch (p->kind) {
	case SW_RUNSPEC_HEALTH_HTTP:
		return sw_health_http(p, detail, size);
	case SW_RUNSPEC_HEALTH_TCP:
		return sw_health_tcp(p, detail, size);
	case SW_RUNSPEC_HEALTH_COMMAND:
		return sw_health_command(p, detail, size);
	case SW_RUNSPEC_HEALTH_NONE:
		break;
	}
	snprintf(detail, size, "running (no health check)");
	return 1;
}

void sw_health_begin(struct sw_health_state *st, uint64_t now_ms)
{
	st->status = SW_HEALTH_STARTING;
	st->failures = 0;
	st->ever_ok = false;
	st->started_ms = now_ms;
}

enum sw_health_status sw_health_record(struct sw_health_state *st, bool ok, uint64_t now_ms, uint64_t start_period_ms,
				       unsigned retries)
{
	if (ok) {
		st->status = SW_HEALTH_HEALTHY;
		st->failures = 0;
		st->ever_ok = true;
		return st->status;
	}
	if (!st->ever_ok && now_ms >= st->started_ms && now_ms - st->started_ms < start_period_ms)
		return st->status;
	st->failures++;
	if (st->failures >= (retries ? retries : 1))
		st->status = SW_HEALTH_UNHEALTHY;
	return st->status;
}

const char *sw_health_status_name(enum sw_health_status s)
{
	switch (s) {
	case SW_HEALTH_STARTING:
		return "starting";
	case SW_HEALTH_HEALTHY:
		return "healthy";
	case SW_HEALTH_UNHEALTHY:
		return "unhealthy";
	}
	return "?";
}

void sw_crashloop_exit(struct sw_crashloop *c, uint64_t uptime_ms, uint64_t now_ms)
{
	if (uptime_ms >= SW_CRASHLOOP_RESET_MS || c->exits == 0) {
		c->exits = 1;
		c->first_ms = now_ms;
	} else if (c->exits < UINT_MAX) {
		c->exits++;
	}
	c->last_ms = now_ms;
}

bool sw_crashloop_running(struct sw_crashloop *c, uint64_t uptime_ms)
{
	bool was = sw_crashloop_active(c);

	if (uptime_ms < SW_CRASHLOOP_RESET_MS || c->exits == 0)
		return false;
	c->exits = 0;
	return was;
}

bool sw_crashloop_active(const struct sw_crashloop *c)
{
	return c->exits >= SW_CRASHLOOP_EXITS;
}

enum sw_health_verdict sw_health_verdict(const struct sw_health_state *st, const struct sw_crashloop *c)
{
	if (c && sw_crashloop_active(c))
		return SW_VERDICT_CRASHLOOP;
	if (st && st->status == SW_HEALTH_UNHEALTHY)
		return SW_VERDICT_UNHEALTHY;
	return SW_VERDICT_NONE;
}

const char *sw_health_verdict_name(enum sw_health_verdict v)
{
	switch (v) {
	case SW_VERDICT_NONE:
		break;
	case SW_VERDICT_UNHEALTHY:
		return "unhealthy";
	case SW_VERDICT_CRASHLOOP:
		return "crashloop";
	}
	return "";
}
