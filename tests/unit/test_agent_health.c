/*
 * test_agent_health.c - unit tests for src/agent/health: HTTP checks
 * against a tiny listener in this test (2xx, 5xx, a server that never
 * answers), TCP connect (open and closed port), command checks, and the
 * state rules (retries, start_period, recovery).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/health.h"
#include "base/clock.h"
#include "base/httpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct listener {
	int fd;
	unsigned port;
	atomic_int status;   /* what to answer; 0: never answer */
	atomic_int requests; /* requests seen */
	atomic_bool stop;
	char last_path[256];
	pthread_t thr;
};

static void *serve(void *arg)
{
	struct listener *l = arg;

	while (!atomic_load(&l->stop)) {
		struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
		char req[2048], resp[256];
		ssize_t n;
		int c;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		c = accept(l->fd, NULL, NULL);
		if (c < 0)
			continue;
		n = recv(c, req, sizeof(req) - 1, 0);
		if (n > 0) {
			char *sp1, *sp2;

			req[n] = '\0';
			sp1 = strchr(req, ' ');
			sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
			if (sp1 && sp2 && (size_t)(sp2 - sp1 - 1) < sizeof(l->last_path)) {
				memcpy(l->last_path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
				l->last_path[sp2 - sp1 - 1] = '\0';
			}
			atomic_fetch_add(&l->requests, 1);
		}
		if (atomic_load(&l->status) == 0) {
			/* Hold the connection open without answering (until the client gives up). */
			struct pollfd cp = { .fd = c, .events = POLLIN };

			poll(&cp, 1, 3000);
		} else {
			int len = snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
					   atomic_load(&l->status));

			if (send(c, resp, (size_t)len, MSG_NOSIGNAL) < 0) {
				/* client went away */
			}
		}
		close(c);
	}
	return NULL;
}

static void listener_start(struct listener *l)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	memset(l, 0, sizeof(*l));
	atomic_init(&l->status, 200);
	l->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l->fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l->fd, 16), 0);
	assert_int_equal(getsockname(l->fd, (struct sockaddr *)&sa, &len), 0);
	l->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&l->thr, NULL, serve, l), 0);
}

static void listener_stop(struct listener *l)
{
	atomic_store(&l->stop, true);
	pthread_join(l->thr, NULL);
	close(l->fd);
}

/* A port nothing listens on (bound, then closed). */
static unsigned closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void test_http(void **state)
{
	struct listener l;
	struct sw_health_probe p = { SW_RUNSPEC_HEALTH_HTTP, "/healthz", 0, 2000, NULL, NULL, -1 };
	char detail[256];
	uint64_t t0, took;

	(void)state;
	listener_start(&l);
	p.port = l.port;
	assert_int_equal(sw_health_check(&p, detail, sizeof(detail)), 1);
	assert_string_equal(l.last_path, "/healthz");
	assert_non_null(strstr(detail, "HTTP 200"));
	atomic_store(&l.status, 204);
	assert_int_equal(sw_health_check(&p, detail, sizeof(detail)), 1);
	atomic_store(&l.status, 503);
	assert_int_equal(sw_health_check(&p, detail, sizeof(detail)), 0);
	assert_string_equal(detail, "GET /healthz: HTTP 503");
	atomic_store(&l.status, 302);
	assert_int_equal(sw_health_check(&p, detail, sizeof(detail)), 0);
	/* A server that never answers: bounded by the timeout. */
	atomic_store(&l.status, 0);
	p.timeout_ms = 300;
	t0 = sw_clock_mono_ms();
	assert_int_equal(sw_health_check(&p, detail, sizeof(detail)), 0);
	took = sw_clock_mono_ms() - t0;
	assert_true(took >= 250 && took < 10000); /* bounded by the timeout, not by the silent server (a loaded machine is slow) */
	assert_non_null(strstr(detail, "timed out"));
	listener_stop(&l);
	/* Nothing listening. */
	p.port = closed_port();
	assert_int_equal(sw_health_check(&p, detail, sizeof(detail)), 0);
	assert_non_null(strstr(detail, "GET /healthz"));
}

static void test_tcp(void **state)
{
	struct listener l;
	struct sw_health_probe p = { SW_RUNSPEC_HEALTH_TCP, NULL, 0, 1000, NULL, NULL, -1 };
	char detail[256];

	(void)state;
	listener_start(&l);
	p.port = l.port;
	assert_int_equal(sw_health_check(&p, detail, sizeof(detail)), 1);
	listener_stop(&l);
	p.port = closed_port();
	assert_int_equal(sw_health_check(&p, detail, sizeof(detail)), 0);
	assert_non_null(strstr(detail, "Connection refused"));
}

static void test_command(void **state)
{
	char *env[] = { "PATH=/usr/bin:/bin", "PORT=4242", NULL };
	struct sw_health_probe p = { SW_RUNSPEC_HEALTH_COMMAND, "test \"$PORT\" = 4242", 4242, 2000, "/", env, -1 };
	char detail[256];

	(void)state;
	assert_int_equal(sw_health_check(&p, detail, sizeof(detail)), 1);
	p.target = "exit 4";
	assert_int_equal(sw_health_check(&p, detail, sizeof(detail)), 0);
	assert_non_null(strstr(detail, "health command failed: exit 4"));
	p.target = "sleep 5";
	p.timeout_ms = 200;
	assert_int_equal(sw_health_check(&p, detail, sizeof(detail)), 0);
	assert_non_null(strstr(detail, "timed out after 200ms"));
	/* No check: healthy (the caller knows the process runs). */
	p.kind = SW_RUNSPEC_HEALTH_NONE;
	assert_int_equal(sw_health_check(&p, detail, sizeof(detail)), 1);
}

static void test_rules(void **state)
{
	struct sw_health_state st;

	(void)state;
	/* retries 3, no start period: three failures in a row make it unhealthy. */
	sw_health_begin(&st, 1000);
	assert_int_equal(st.status, SW_HEALTH_STARTING);
	assert_int_equal(sw_health_record(&st, false, 1100, 0, 3), SW_HEALTH_STARTING);
	assert_int_equal(sw_health_record(&st, false, 1200, 0, 3), SW_HEALTH_STARTING);
	assert_int_equal(sw_health_record(&st, false, 1300, 0, 3), SW_HEALTH_UNHEALTHY);
	/* A success heals it and resets the count. */
	assert_int_equal(sw_health_record(&st, true, 1400, 0, 3), SW_HEALTH_HEALTHY);
	assert_int_equal(sw_health_record(&st, false, 1500, 0, 3), SW_HEALTH_HEALTHY);
	assert_int_equal(sw_health_record(&st, false, 1600, 0, 3), SW_HEALTH_HEALTHY);
	assert_int_equal(sw_health_record(&st, true, 1700, 0, 3), SW_HEALTH_HEALTHY);
	assert_int_equal(st.failures, 0);
	assert_int_equal(sw_health_record(&st, false, 1800, 0, 3), SW_HEALTH_HEALTHY);
	assert_int_equal(sw_health_record(&st, false, 1900, 0, 3), SW_HEALTH_HEALTHY);
	assert_int_equal(sw_health_record(&st, false, 2000, 0, 3), SW_HEALTH_UNHEALTHY);

	/* start_period: failures before it ends (and before any success) do not count. */
	sw_health_begin(&st, 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(sw_health_record(&st, false, (uint64_t)i * 100, 5000, 1), SW_HEALTH_STARTING);
	assert_int_equal(st.failures, 0);
	assert_int_equal(sw_health_record(&st, false, 5000, 5000, 1), SW_HEALTH_UNHEALTHY);
	/* After a success, the start period no longer shields failures. */
	sw_health_begin(&st, 0);
	assert_int_equal(sw_health_record(&st, true, 100, 5000, 1), SW_HEALTH_HEALTHY);
	assert_int_equal(sw_health_record(&st, false, 200, 5000, 1), SW_HEALTH_UNHEALTHY);
	assert_string_equal(sw_health_status_name(SW_HEALTH_UNHEALTHY), "unhealthy");
}

static void test_verdicts(void **state)
{
	struct sw_health_state st;
	struct sw_crashloop cl = { 0 };

	(void)state;
	/* Not yet healthy is no verdict: starting, failures within start_period, fewer than retries. */
	sw_health_begin(&st, 0);
	assert_int_equal(sw_health_verdict(&st, &cl), SW_VERDICT_NONE);
	sw_health_record(&st, false, 100, 1000, 3);
	sw_health_record(&st, false, 1100, 1000, 3);
	sw_health_record(&st, false, 1200, 1000, 3);
	assert_int_equal(sw_health_verdict(&st, &cl), SW_VERDICT_NONE);
	/* `retries` failures in a row after start_period: definite. */
	sw_health_record(&st, false, 1300, 1000, 3);
	assert_int_equal(sw_health_verdict(&st, &cl), SW_VERDICT_UNHEALTHY);
	assert_string_equal(sw_health_verdict_name(SW_VERDICT_UNHEALTHY), "unhealthy");
	/* A success withdraws it. */
	sw_health_record(&st, true, 1400, 1000, 3);
	assert_int_equal(sw_health_verdict(&st, &cl), SW_VERDICT_NONE);
	assert_string_equal(sw_health_verdict_name(SW_VERDICT_NONE), "");

	/* A process that exits at once, restarted with backoff: the third exit in a row is a crash loop. */
	sw_health_begin(&st, 0);
	sw_crashloop_exit(&cl, 5, 5);
	assert_int_equal(sw_health_verdict(&st, &cl), SW_VERDICT_NONE);
	sw_crashloop_exit(&cl, 5, 510);
	assert_false(sw_crashloop_active(&cl));
	sw_crashloop_exit(&cl, 5, 1515);
	assert_true(sw_crashloop_active(&cl));
	assert_int_equal(cl.exits, 3);
	assert_int_equal(cl.last_ms - cl.first_ms, 1510);
	assert_int_equal(sw_health_verdict(&st, &cl), SW_VERDICT_CRASHLOOP);
	assert_string_equal(sw_health_verdict_name(SW_VERDICT_CRASHLOOP), "crashloop");
	/* It wins over unhealthy, and stays while runs are short (also across healthy moments). */
	st.status = SW_HEALTH_UNHEALTHY;
	assert_int_equal(sw_health_verdict(&st, &cl), SW_VERDICT_CRASHLOOP);
	st.status = SW_HEALTH_HEALTHY;
	assert_false(sw_crashloop_running(&cl, 59999));
	assert_int_equal(sw_health_verdict(&st, &cl), SW_VERDICT_CRASHLOOP);
	/* A run as long as the backoff's reset clears it (and says so once). */
	assert_true(sw_crashloop_running(&cl, 60000));
	assert_false(sw_crashloop_running(&cl, 70000));
	assert_int_equal(sw_health_verdict(&st, &cl), SW_VERDICT_NONE);
	/* Exits after long runs never add up to a loop. */
	for (int i = 0; i < 5; i++)
		sw_crashloop_exit(&cl, 60000, 100000 + (uint64_t)i * 70000);
	assert_false(sw_crashloop_active(&cl));
	/* An exit after a long run starts a new count. */
	sw_crashloop_exit(&cl, 10, 500000);
	sw_crashloop_exit(&cl, 10, 501000);
	assert_true(sw_crashloop_active(&cl));
	sw_crashloop_exit(&cl, 61000, 600000);
	assert_false(sw_crashloop_active(&cl));
	assert_int_equal(cl.exits, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_command),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_verdicts),
	};
	signal(SIGPIPE, SIG_IGN);
	sw_httpc_global_init();
	return cmocka_run_group_tests_name("agent_health", tests, NULL, NULL);
}
