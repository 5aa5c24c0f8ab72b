/*
 * test_analysis.c - unit tests for src/analysis: measurements of the four
 * providers, rates from HAProxy's cumulative counters, provider failures
 * as "error" measurements, the tally, and the agreement between the
 * providers and the spec's table of field names.
 *
 * Group "analysis": no peers. HAProxy is a fake struct sw_traffic (the ops
 * seam) plus a real sw_haproxy on a missing socket; Prometheus and HTTP
 * probes are a small HTTP server thread in this test that answers what
 * each test asks (recorded Prometheus answers from tests/data/prometheus/,
 * garbage, errors, silence); commands are real /bin/sh.
 *
 * Group "analysis_e2e": skipped unless SLIPWAY_ANALYSIS_HAPROXY_SOCKET is
 * set. tests/e2e/test_analysis.py starts the real peers on loopback and
 * sets:
 *   SLIPWAY_ANALYSIS_HAPROXY_SOCKET  haproxy admin socket
 *   SLIPWAY_ANALYSIS_BACKEND         its backend (balance random)
 *   SLIPWAY_ANALYSIS_FRONTEND        127.0.0.1:port of its frontend
 *   SLIPWAY_ANALYSIS_SERVERS         name=127.0.0.1:port,... of examples/hello
 *                                    instances: stable, good, bad
 *                                    (HELLO_ERROR_RATE=0.5), slow (HELLO_DELAY_MS=400)
 *   SLIPWAY_ANALYSIS_PROMETHEUS      http://127.0.0.1:port of a prometheus
 *                                    scraping all of them every second
 *   SLIPWAY_ANALYSIS_JUNK            a server answering garbage
 *   SLIPWAY_ANALYSIS_DOWN            an address where nothing listens
 * Run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "analysis/analysis.h"
#include "analysis/prov_command.h"
#include "analysis/prov_haproxy.h"
#include "analysis/prov_http.h"
#include "analysis/prov_prometheus.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/httpc.h"
#include "traffic/haproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

static struct sw_spec_analysis analysis(enum sw_provider p, const char *success, const char *failure)
{
	struct sw_spec_analysis a;

	memset(&a, 0, sizeof(a));
	a.name = "check";
	a.provider = p;
	a.success = success;
	a.failure = failure;
	a.interval_ms = 1000;
	a.count = 1;
	a.expect_status = 200;
	return a;
}

static const char *verdict_of(const json_t *m)
{
	const char *v = json_string_value(json_object_get(m, "verdict"));

	return v ? v : "(none)";
}

static const char *message_of(const json_t *m)
{
	const char *v = json_string_value(json_object_get(m, "message"));

	return v ? v : "(none)";
}

static const json_t *value_of(const json_t *m, const char *name)
{
	const json_t *vals = json_object_get(m, "values");

	if (!json_is_object(vals))
		fail_msg("measurement has no values");
	if (!json_object_get(vals, name))
		fail_msg("measurement has no value '%s'", name);
	return json_object_get(vals, name);
}

static double num_of(const json_t *m, const char *name)
{
	const json_t *v = value_of(m, name);

	if (!json_is_number(v))
		fail_msg("'%s' is not a number (message: %s)", name, message_of(m));
	return json_number_value(v);
}

static void expect_verdict(const json_t *m, const char *verdict, const char *msg_part)
{
	if (!m)
		fail_msg("no measurement");
	if (strcmp(verdict_of(m), verdict) || (msg_part && !strstr(message_of(m), msg_part)))
		fail_msg("verdict %s '%s', expected %s with '%s'", verdict_of(m), message_of(m), verdict,
			 msg_part ? msg_part : "");
}

static json_t *measure(const struct sw_spec_analysis *a, const struct sw_analysis_target *t, const json_t *prev)
{
	struct sw_err err = SW_ERR_INIT;
	json_t *m = sw_analysis_measure(a, t, prev, &err);

	if (!m)
		fail_msg("sw_analysis_measure: %s", err.msg);
	return m;
}

/* Every name of the provider's spec table is a key of values, and nothing else. */
static void check_value_names(const json_t *m, enum sw_provider p)
{
	const json_t *vals = json_object_get(m, "values");
	size_t n, i;
	const char *const *names = sw_spec_provider_fields(p, &n);

	assert_int_equal(json_object_size(vals), n);
	for (i = 0; i < n; i++)
		if (!json_object_get(vals, names[i]))
			fail_msg("values lack '%s'", names[i]);
}

/* ---- a fake balancer: struct sw_traffic with canned stats ------------------ */

struct fake_lb {
	struct sw_traffic traffic; /* first */
	struct sw_traffic_stats rows[8];
	size_t n;
	int fail;
	unsigned calls;
};

static int fake_stats(struct sw_traffic *t, const char *backend, struct sw_arena *a, struct sw_traffic_stats **out,
		      size_t *n, struct sw_err *err)
{
	struct fake_lb *lb = (struct fake_lb *)t;
	size_t i;

	lb->calls++;
	if (lb->fail)
		return sw_err_set(err, SW_EIO, "cannot connect to haproxy at '/nope.sock': No such file or directory");
	if (strcmp(backend, "web"))
		return sw_err_set(err, SW_EFAILED, "haproxy refused 'show stat %s -1 -1': 'No such proxy.'", backend);
	*out = sw_arena_allocarray(a, lb->n, sizeof(**out));
	for (i = 0; i < lb->n; i++) {
		(*out)[i] = lb->rows[i];
		(*out)[i].name = sw_arena_strdup(a, lb->rows[i].name);
	}
	*n = lb->n;
	return 0;
}

static const struct sw_traffic_ops fake_ops = { .name = "fake", .stats = fake_stats };

static void fake_row(struct fake_lb *lb, const char *name, int64_t stot, int64_t h5xx, int64_t rtime)
{
	struct sw_traffic_stats *s = &lb->rows[lb->n++];

	memset(s, 0, sizeof(*s));
	s->name = name;
	s->status = "UP";
	s->check_status = "L7OK";
	s->stot = stot;
	s->hrsp_2xx = stot - h5xx;
	s->hrsp_5xx = h5xx;
	s->rtime = rtime;
	s->qtime = s->ctime = s->ttime = 0;
}

static struct sw_traffic_stats *fake_find(struct fake_lb *lb, const char *name)
{
	size_t i;

	for (i = 0; i < lb->n; i++)
		if (!strcmp(lb->rows[i].name, name))
			return &lb->rows[i];
	return NULL;
}

static const char *canary_srv[] = { "c1", "c2" }, *stable_srv[] = { "s1" };

static struct sw_analysis_target lb_target(struct fake_lb *lb)
{
	struct sw_analysis_target t = { .traffic = &lb->traffic, .backend = "web" };

	t.canary_servers = canary_srv;
	t.ncanary_servers = 2;
	t.stable_servers = stable_srv;
	t.nstable_servers = 1;
	return t;
}

static void fake_setup(struct fake_lb *lb)
{
	memset(lb, 0, sizeof(*lb));
	lb->traffic.ops = &fake_ops;
	fake_row(lb, "c1", 1000, 10, 10);
	fake_row(lb, "c2", 3000, 30, 30);
	fake_row(lb, "s1", 5000, 0, 5);
	fake_row(lb, "other", 7, 7, 1);
}

/* A copy of m's raw counters, moved back in time by ms (as if measured then). */
static json_t *raw_back(const json_t *m, int64_t ms)
{
	json_t *raw = json_deep_copy(json_object_get(m, "raw"));

	assert_non_null(raw);
	json_object_set_new(raw, "mono_ms", json_integer(json_integer_value(json_object_get(raw, "mono_ms")) - ms));
	json_object_set_new(raw, "wall_ms", json_integer(json_integer_value(json_object_get(raw, "wall_ms")) - ms));
	return raw;
}

/* ---- haproxy provider ---------------------------------------------------- */

static void test_haproxy_first_measurement_has_no_rate(void **state)
{
	struct sw_spec_analysis a = analysis(SW_PROVIDER_HAPROXY, "error_rate < 0.05", NULL);
	struct fake_lb lb;
	struct sw_analysis_target t;
	json_t *m, *raw;

	(void)state;
	fake_setup(&lb);
	t = lb_target(&lb);
	assert_true(sw_analysis_needs_baseline(&a));
	m = measure(&a, &t, NULL);
	/* never a success on the first measurement: no rate yet */
	expect_verdict(m, "inconclusive", "'error_rate' has no value: first measurement: rates need the counters of a previous one");
	check_value_names(m, SW_PROVIDER_HAPROXY);
	assert_true(json_is_null(value_of(m, "requests")));
	assert_true(json_is_null(value_of(m, "request_rate")));
	/* response time is HAProxy's own average: known without a previous measurement */
	assert_true(fabs(num_of(m, "response_ms") - 25.0) < 1e-9); /* (10*1000 + 30*3000) / 4000 */
	assert_true(fabs(num_of(m, "stable_response_ms") - 5.0) < 1e-9);
	raw = json_object_get(m, "raw");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(raw, "servers"), "c2"), "stot")), 3000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(raw, "servers"), "s1"), "hrsp_5xx")), 0);
	assert_null(json_object_get(json_object_get(raw, "servers"), "other")); /* only the servers asked for */
	assert_true(json_is_string(json_object_get(m, "time")));
	assert_string_equal(json_string_value(json_object_get(m, "provider")), "haproxy");
	assert_string_equal(json_string_value(json_object_get(m, "analysis")), "check");
	assert_true(json_is_integer(json_object_get(m, "took_ms")));
	/* a condition that needs no rate is judged */
	a = analysis(SW_PROVIDER_HAPROXY, "response_ms < 100", NULL);
	json_decref(m);
	m = measure(&a, &t, NULL);
	expect_verdict(m, "success", "(response_ms = 25)");
	json_decref(m);
}

static void test_haproxy_rates(void **state)
{
	struct sw_spec_analysis a = analysis(SW_PROVIDER_HAPROXY, "error_rate < 0.05", "error_rate > stable_error_rate + 0.05");
	struct fake_lb lb;
	struct sw_analysis_target t;
	json_t *base, *prev, *m;

	(void)state;
	fake_setup(&lb);
	t = lb_target(&lb);
	base = measure(&a, &t, NULL);
	prev = raw_back(base, 2000); /* as if taken 2 s ago */
	/* in those 2 s: c1 +100 requests (5 errors, 10 ms), c2 +300 (75 errors, 50 ms), s1 +400 (4 errors) */
	fake_find(&lb, "c1")->stot += 100;
	fake_find(&lb, "c1")->hrsp_5xx += 5;
	fake_find(&lb, "c2")->stot += 300;
	fake_find(&lb, "c2")->hrsp_5xx += 75;
	fake_find(&lb, "c2")->rtime = 50;
	fake_find(&lb, "s1")->stot += 400;
	fake_find(&lb, "s1")->hrsp_5xx += 4;
	m = measure(&a, &t, prev);
	assert_int_equal(json_integer_value(value_of(m, "requests")), 400);
	assert_int_equal(json_integer_value(value_of(m, "errors")), 80);
	assert_true(fabs(num_of(m, "error_rate") - 0.2) < 1e-9);
	assert_true(fabs(num_of(m, "request_rate") - 200.0) < 5.0); /* 400 over ~2 s */
	assert_true(fabs(num_of(m, "response_ms") - 40.0) < 1e-9);   /* (10*100 + 50*300) / 400 */
	assert_int_equal(json_integer_value(value_of(m, "stable_requests")), 400);
	assert_int_equal(json_integer_value(value_of(m, "stable_errors")), 4);
	assert_true(fabs(num_of(m, "stable_error_rate") - 0.01) < 1e-9);
	assert_true(fabs(num_of(m, "stable_request_rate") - 200.0) < 5.0);
	expect_verdict(m, "failure", "failure condition 'error_rate > stable_error_rate + 0.05' is true (error_rate = 0.2, stable_error_rate = 0.01)");
	check_value_names(m, SW_PROVIDER_HAPROXY);
	json_decref(prev);

	/* the whole measurement may be passed as prev too; now healthy */
	json_decref(base);
	base = m;
	prev = json_deep_copy(base);
	json_object_set_new(prev, "raw", raw_back(base, 1000));
	fake_find(&lb, "c1")->stot += 50;
	fake_find(&lb, "c2")->stot += 50;
	fake_find(&lb, "s1")->stot += 100;
	m = measure(&a, &t, prev);
	assert_true(num_of(m, "error_rate") == 0.0);
	expect_verdict(m, "success", "success condition 'error_rate < 0.05' is true (error_rate = 0, stable_error_rate = 0)");
	json_decref(m);
	json_decref(prev);
	json_decref(base);
}

static void test_haproxy_no_traffic_and_resets(void **state)
{
	struct sw_spec_analysis a = analysis(SW_PROVIDER_HAPROXY, "error_rate < 0.05", NULL);
	struct fake_lb lb;
	struct sw_analysis_target t;
	json_t *base, *prev, *m;

	(void)state;
	fake_setup(&lb);
	t = lb_target(&lb);
	base = measure(&a, &t, NULL);
	prev = raw_back(base, 1500);
	/* no request to the canary in the interval: no error rate, not a success */
	fake_find(&lb, "s1")->stot += 10;
	m = measure(&a, &t, prev);
	expect_verdict(m, "inconclusive", "'error_rate' has no value: no request reached the canary servers in the last 1.5s");
	assert_int_equal(json_integer_value(value_of(m, "requests")), 0);
	assert_true(num_of(m, "request_rate") == 0.0);
	assert_true(json_is_null(value_of(m, "response_ms")));
	assert_int_equal(json_integer_value(value_of(m, "stable_requests")), 10);
	json_decref(m);

	/* counters went back (haproxy restarted) */
	fake_find(&lb, "c1")->stot = 3;
	m = measure(&a, &t, prev);
	expect_verdict(m, "inconclusive", "the counters of server 'c1' went back since the previous measurement");
	json_decref(m);
	fake_find(&lb, "c1")->stot = 1000;

	/* prev lacks a server (a new canary instance) */
	json_object_del(json_object_get(prev, "servers"), "c2");
	m = measure(&a, &t, prev);
	expect_verdict(m, "inconclusive", "no previous counters for server 'c2'");
	json_decref(m);

	/* prev from the future, or not counters at all */
	json_decref(prev);
	prev = raw_back(base, -5000);
	m = measure(&a, &t, prev);
	expect_verdict(m, "inconclusive", "no time passed since the previous measurement");
	json_decref(m);
	json_decref(prev);
	prev = json_pack("{s:s}", "what", "ever");
	m = measure(&a, &t, prev);
	expect_verdict(m, "inconclusive", "the previous measurement has no haproxy counters");
	json_decref(m);
	json_decref(prev);

	/* no stable servers: stable values are absent, canary ones still judged */
	t.nstable_servers = 0;
	prev = raw_back(base, 1000);
	fake_find(&lb, "c1")->stot += 10;
	m = measure(&a, &t, prev);
	expect_verdict(m, "success", NULL);
	assert_true(json_is_null(value_of(m, "stable_requests")));
	a = analysis(SW_PROVIDER_HAPROXY, "error_rate <= stable_error_rate", NULL);
	json_decref(m);
	m = measure(&a, &t, prev);
	expect_verdict(m, "inconclusive", "'stable_error_rate' has no value: there are no stable servers");
	json_decref(m);
	json_decref(prev);
	json_decref(base);
}

static void test_haproxy_provider_failures(void **state)
{
	struct sw_spec_analysis a = analysis(SW_PROVIDER_HAPROXY, "error_rate < 0.05", NULL);
	const char *missing[] = { "c1", "c9" };
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;
	struct fake_lb lb;
	struct sw_analysis_target t;
	json_t *m;

	(void)state;
	fake_setup(&lb);
	t = lb_target(&lb);
	lb.fail = 1;
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "cannot connect to haproxy at '/nope.sock'");
	check_value_names(m, SW_PROVIDER_HAPROXY);
	assert_null(json_object_get(m, "raw"));
	json_decref(m);
	lb.fail = 0;

	t.canary_servers = missing;
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "server 'c9' is not in haproxy backend 'web'");
	json_decref(m);
	t = lb_target(&lb);

	t.backend = "nope";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "'No such proxy.'");
	json_decref(m);
	t = lb_target(&lb);

	fake_find(&lb, "c2")->hrsp_5xx = SW_TRAFFIC_NONE; /* mode tcp */
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "haproxy reports no HTTP counters for server 'c2' (is backend 'web' in mode http?)");
	json_decref(m);

	/* a real client on a socket that is not there */
	assert_int_equal(sw_haproxy_init(&h, "/nonexistent/slipway-test/admin.sock", &err), 0);
	t.traffic = &h.traffic;
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "cannot connect to haproxy at '/nonexistent/slipway-test/admin.sock'");
	json_decref(m);

	/* caller's bugs are not measurements */
	t.traffic = NULL;
	assert_null(sw_analysis_measure(&a, &t, NULL, &err));
	assert_int_equal(err.code, SW_EINPUT);
	t = lb_target(&lb);
	t.ncanary_servers = 0;
	assert_null(sw_analysis_measure(&a, &t, NULL, &err));
}

/* ---- a small HTTP server for prometheus and http probes -------------------- */

struct fake_http {
	int fd;
	unsigned port;
	atomic_bool stop;
	pthread_t thr;
	pthread_mutex_t mu;
	int status;          /* 0: accept, read, never answer */
	char *body;          /* heap */
	size_t body_len;
	const char *ctype;
	char last_target[4096];
	atomic_int requests;
};

static struct fake_http H;

static void *http_serve(void *arg)
{
	struct fake_http *s = arg;

	(void)arg;
	while (!atomic_load(&s->stop)) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		char req[8192], head[256];
		size_t got = 0, off;
		int c, status, hl;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		for (;;) { /* read the request head */
			struct pollfd cp = { .fd = c, .events = POLLIN };
			ssize_t n;

			if (poll(&cp, 1, 2000) <= 0)
				break;
			n = recv(c, req + got, sizeof(req) - 1 - got, 0);
			if (n <= 0)
				break;
			got += (size_t)n;
			req[got] = '\0';
			if (strstr(req, "\r\n\r\n") || got == sizeof(req) - 1)
				break;
		}
		req[got] = '\0';
		pthread_mutex_lock(&s->mu);
		{
			char *sp1 = strchr(req, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;

			if (sp1 && sp2 && (size_t)(sp2 - sp1 - 1) < sizeof(s->last_target)) {
				memcpy(s->last_target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
				s->last_target[sp2 - sp1 - 1] = '\0';
			}
		}
		atomic_fetch_add(&s->requests, 1);
		status = s->status;
		if (status == 0) {
			struct pollfd cp = { .fd = c, .events = POLLIN };

			pthread_mutex_unlock(&s->mu);
			poll(&cp, 1, 3000); /* until the client gives up */
			close(c);
			continue;
		}
		hl = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			      status, s->ctype ? s->ctype : "application/json", s->body_len);
		if (send(c, head, (size_t)hl, MSG_NOSIGNAL) == hl)
			for (off = 0; off < s->body_len;) {
				ssize_t w = send(c, s->body + off, s->body_len - off, MSG_NOSIGNAL);

				if (w <= 0)
					break;
				off += (size_t)w;
			}
		pthread_mutex_unlock(&s->mu);
		close(c);
	}
	return NULL;
}

static int http_setup(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	(void)state;
	memset(&H, 0, sizeof(H));
	pthread_mutex_init(&H.mu, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	H.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (H.fd < 0 || bind(H.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(H.fd, 16) < 0 ||
	    getsockname(H.fd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	H.port = ntohs(sa.sin_port);
	return pthread_create(&H.thr, NULL, http_serve, &H) == 0 ? 0 : -1;
}

static int http_teardown(void **state)
{
	(void)state;
	atomic_store(&H.stop, true);
	pthread_join(H.thr, NULL);
	close(H.fd);
	free(H.body);
	pthread_mutex_destroy(&H.mu);
	return 0;
}

static void http_answer(int status, const char *body, size_t len)
{
	pthread_mutex_lock(&H.mu);
	free(H.body);
	H.body = malloc(len ? len : 1);
	memcpy(H.body, body, len);
	H.body_len = len;
	H.status = status;
	H.ctype = NULL;
	pthread_mutex_unlock(&H.mu);
}

static void http_answer_file(int status, const char *name)
{
	struct sw_buf b = SW_BUF_INIT(1 << 20);
	struct sw_err err = SW_ERR_INIT;
	char path[256];

	snprintf(path, sizeof(path), "tests/data/prometheus/%s", name);
	if (sw_fs_read_file(path, 1 << 20, &b, &err) < 0)
		fail_msg("%s", err.msg);
	http_answer(status, b.data, b.len);
	sw_buf_release(&b);
}

static char http_addr[64];

static const char *base_url(void)
{
	snprintf(http_addr, sizeof(http_addr), "http://127.0.0.1:%u", H.port);
	return http_addr;
}

/* A port where nothing listens (bound, then closed). */
static unsigned closed_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The query parameter of the last request, decoded. */
static void last_query(char *out, size_t size)
{
	const char *p;
	size_t k = 0;

	pthread_mutex_lock(&H.mu);
	p = strstr(H.last_target, "?query=");
	assert_non_null(p);
	for (p += 7; *p && k + 1 < size; p++) {
		if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
			out[k++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			p += 2;
		} else {
			out[k++] = *p;
		}
	}
	out[k] = '\0';
	pthread_mutex_unlock(&H.mu);
}

static const char *canary_addrs[] = { "127.0.0.1:8101", "127.0.0.1:8102" }, *stable_addrs[] = { "127.0.0.1:8001" };

static struct sw_analysis_target addr_target(void)
{
	struct sw_analysis_target t = { .canary_addrs = canary_addrs, .ncanary_addrs = 2 };

	t.stable_addrs = stable_addrs;
	t.nstable_addrs = 1;
	return t;
}

/* ---- prometheus provider --------------------------------------------------- */

static void test_prometheus(void **state)
{
	struct sw_spec_analysis a = analysis(SW_PROVIDER_PROMETHEUS, "result < 0.3", NULL);
	struct sw_analysis_target t = addr_target();
	char q[4096];
	json_t *m;

	(void)state;
	a.address = base_url();
	a.query = "histogram_quantile(0.9, sum by (le) (rate(hello_request_duration_seconds_bucket{instance=~\"{{canary}}\"}[10s])))";
	assert_false(sw_analysis_needs_baseline(&a));

	http_answer_file(200, "vector_one.json");
	m = measure(&a, &t, NULL);
	expect_verdict(m, "failure", "success condition 'result < 0.3' is false (result = 0.475)");
	assert_true(num_of(m, "result") == 0.475);
	assert_int_equal(json_array_size(value_of(m, "results")), 1);
	check_value_names(m, SW_PROVIDER_PROMETHEUS);
	assert_null(json_object_get(m, "raw"));
	last_query(q, sizeof(q));
	assert_string_equal(q, "histogram_quantile(0.9, sum by (le) (rate(hello_request_duration_seconds_bucket"
			       "{instance=~\"127\\\\.0\\\\.0\\\\.1:8101|127\\\\.0\\\\.0\\\\.1:8102\"}[10s])))");
	pthread_mutex_lock(&H.mu);
	assert_int_equal(strncmp(H.last_target, "/api/v1/query?query=histogram_quantile%280.9%2C%20sum", 53), 0);
	pthread_mutex_unlock(&H.mu);
	json_decref(m);

	/* several samples: result is the first, results all of them */
	a.success = "#results == 2 and results[2] == 1 and result == 1";
	http_answer_file(200, "vector_many.json");
	m = measure(&a, &t, NULL);
	expect_verdict(m, "success", NULL);
	assert_int_equal(json_array_size(value_of(m, "results")), 2);
	json_decref(m);

	/* a scalar, +Inf: a value (slow), judged */
	a.success = "result < 0.3";
	http_answer_file(200, "scalar_inf.json");
	m = measure(&a, &t, NULL);
	expect_verdict(m, "failure", "(result = +Inf)");
	assert_string_equal(json_string_value(value_of(m, "result")), "+Inf");
	json_decref(m);

	/* no data: an empty vector and NaN are inconclusive, never success */
	http_answer_file(200, "vector_empty.json");
	m = measure(&a, &t, NULL);
	expect_verdict(m, "inconclusive", "'result' has no value: the query gave no samples (an empty vector: no series matched)");
	assert_true(json_is_null(value_of(m, "result")));
	json_decref(m);
	http_answer_file(200, "vector_nan.json");
	m = measure(&a, &t, NULL);
	expect_verdict(m, "inconclusive", "'result' has no value: the query gave NaN");
	assert_string_equal(json_string_value(json_array_get(value_of(m, "results"), 0)), "NaN");
	json_decref(m);

	/* {{stable}} with no stable instances: an error, said so */
	a.query = "up{instance=~'{{stable}}'}";
	t.nstable_addrs = 0;
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "the query uses {{stable}}, but there are no stable instances");
	json_decref(m);
}

static void test_prometheus_failures(void **state)
{
	struct sw_spec_analysis a = analysis(SW_PROVIDER_PROMETHEUS, "result < 0.3", NULL);
	struct sw_analysis_target t = addr_target();
	struct sw_buf big = SW_BUF_INIT(SW_BUF_UNLIMITED);
	char down[64];
	uint64_t t0;
	json_t *m;

	(void)state;
	a.address = base_url();
	a.query = "up";

	http_answer(200, "<html>it works</html>", 21);
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "bad answer: not JSON (line 1, column 1: '[' or '{' expected near '<')");
	check_value_names(m, SW_PROVIDER_PROMETHEUS);
	json_decref(m);

	http_answer_file(400, "error_bad_data.json");
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "answered HTTP 400: prometheus refused the query: bad_data: invalid parameter");
	json_decref(m);

	http_answer(503, "Service Unavailable", 19);
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "answered HTTP 503: bad answer: not JSON");
	json_decref(m);

	http_answer(200, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}", 63);
	pthread_mutex_lock(&H.mu);
	H.status = 302;
	pthread_mutex_unlock(&H.mu);
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "answered HTTP 302");
	json_decref(m);

	http_answer_file(200, "matrix.json");
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "the query gave a range vector (matrix)");
	json_decref(m);

	/* larger than the cap */
	while (big.len <= SW_PROVIDER_BODY_MAX)
		sw_buf_puts(&big, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
	http_answer(200, big.data, big.len);
	sw_buf_release(&big);
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "answered more than 1048576 bytes");
	json_decref(m);

	/* silence: bounded by the timeout */
	http_answer(0, "", 0);
	t.timeout_ms = 300;
	t0 = sw_clock_mono_ms();
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "did not answer within 300 ms");
	assert_true(sw_clock_mono_ms() - t0 < 2000);
	json_decref(m);

	/* down */
	snprintf(down, sizeof(down), "http://127.0.0.1:%u/", closed_port());
	a.address = down;
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "cannot reach prometheus at 'http://127.0.0.1:");
	json_decref(m);

	a.address = "ftp://127.0.0.1:1";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "is not an http:// or https:// URL");
	json_decref(m);
}

/* ---- http provider ---------------------------------------------------------- */

static void test_http_probe(void **state)
{
	static const char body[] = "{\"data\": {\"ok\": true, \"n\": [1, 2.5], \"name\": \"v2\", \"none\": null, \"big\": 12}}";
	struct sw_spec_analysis a = analysis(SW_PROVIDER_HTTP, "result == true and status == 200 and latency_ms < 2000", NULL);
	struct sw_analysis_target t = addr_target();
	char url[128];
	json_t *m;

	(void)state;
	snprintf(url, sizeof(url), "%s/stats?canary={{canary}}", base_url());
	a.url = url;
	a.json_field = "data.ok";
	http_answer(200, body, sizeof(body) - 1);
	m = measure(&a, &t, NULL);
	expect_verdict(m, "success", NULL);
	check_value_names(m, SW_PROVIDER_HTTP);
	assert_int_equal(json_integer_value(value_of(m, "status")), 200);
	assert_true(num_of(m, "latency_ms") >= 0 && num_of(m, "latency_ms") < 2000);
	assert_true(json_is_true(value_of(m, "result")));
	pthread_mutex_lock(&H.mu);
	assert_string_equal(H.last_target, "/stats?canary=127.0.0.1:8101"); /* the first canary */
	pthread_mutex_unlock(&H.mu);
	json_decref(m);

	a.json_field = "data.n.1";
	a.success = "result == 2.5";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "success", NULL);
	json_decref(m);
	a.json_field = "data.name";
	a.success = "result == 'v2'";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "success", NULL);
	json_decref(m);
	a.json_field = "data.big";
	a.success = "math.type(result) == 'integer'";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "success", NULL);
	json_decref(m);

	/* a missing, null or non-value field is an error when read, never a success */
	a.success = "result == true";
	a.json_field = "data.missing";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "'result' has no value: the answer has no field 'data.missing'");
	json_decref(m);
	a.json_field = "data.none";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "field 'data.none' of the answer is null, not a value");
	json_decref(m);
	a.json_field = "data";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "field 'data' of the answer is an object, not a value");
	json_decref(m);
	a.json_field = "data.n.7";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "the answer has no field 'data.n.7'");
	json_decref(m);

	/* the body as a number */
	a.json_field = NULL;
	a.success = "result > 0.2 and result < 0.3";
	http_answer(200, " 0.25\n", 6);
	m = measure(&a, &t, NULL);
	expect_verdict(m, "success", "(result = 0.25)");
	json_decref(m);
	http_answer(200, "ok", 2);
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "'result' has no value: the answer is not a number");
	json_decref(m);

	/* expect_status: a mismatch fails whatever the conditions say */
	a.success = "latency_ms >= 0";
	http_answer(503, "0", 1);
	m = measure(&a, &t, NULL);
	expect_verdict(m, "failure", "answered 503, expected 200");
	assert_int_equal(json_integer_value(value_of(m, "status")), 503);
	json_decref(m);
	a.expect_status = 503;
	m = measure(&a, &t, NULL);
	expect_verdict(m, "success", NULL);
	json_decref(m);
	a.expect_status = 200;

	/* timeout, connection refused, no address for the placeholder */
	http_answer(0, "", 0);
	t.timeout_ms = 300;
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "timed out");
	check_value_names(m, SW_PROVIDER_HTTP);
	assert_true(json_is_null(value_of(m, "status")));
	json_decref(m);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", closed_port());
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "cannot reach");
	json_decref(m);
	snprintf(url, sizeof(url), "http://{{stable}}/x");
	t.nstable_addrs = 0;
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "{{stable}} is used, but there are no stable instances");
	json_decref(m);
}

/* ---- command provider --------------------------------------------------------- */

static void test_command(void **state)
{
	struct sw_spec_analysis a = analysis(SW_PROVIDER_COMMAND, "exit_code == 0 and result < 1", NULL);
	struct sw_analysis_target t = addr_target();
	json_t *m;

	(void)state;
	a.command = "echo checking; echo 0.75";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "success", "(exit_code = 0, result = 0.75)");
	check_value_names(m, SW_PROVIDER_COMMAND);
	json_decref(m);

	a.command = "echo 0.5; exit 3";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "failure", "(exit_code = 3)");
	assert_int_equal(json_integer_value(value_of(m, "exit_code")), 3);
	assert_true(num_of(m, "result") == 0.5);
	json_decref(m);

	/* a command that prints no number: only conditions that read result are affected */
	a.command = "echo all good >&2";
	a.success = "exit_code == 0";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "success", NULL);
	json_decref(m);
	a.failure = "result ~= 0";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "'result' has no value: the last line the command printed is not a number: 'all good'");
	json_decref(m);
	a.command = "true";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "the command printed nothing");
	json_decref(m);
	a.failure = NULL;

	/* killed by a signal */
	a.command = "kill -9 $$";
	m = measure(&a, &t, NULL);
	assert_int_equal(json_integer_value(value_of(m, "exit_code")), 137);
	expect_verdict(m, "failure", NULL);
	json_decref(m);

	/* placeholders and the environment it gets */
	a.command = "test \"$SLIPWAY_CANARY\" = 127.0.0.1:8101,127.0.0.1:8102 && test \"$SLIPWAY_STABLE\" = 127.0.0.1:8001 && "
		    "test \"$SLIPWAY_ANALYSIS\" = check && test -z \"$SLIPWAY_SECRET_FOR_TEST\" && "
		    "test {{canary}} = 127.0.0.1:8101,127.0.0.1:8102";
	setenv("SLIPWAY_SECRET_FOR_TEST", "x", 1);
	m = measure(&a, &t, NULL);
	unsetenv("SLIPWAY_SECRET_FOR_TEST");
	expect_verdict(m, "success", NULL);
	json_decref(m);

	/* working directory */
	a.command = "test \"$(pwd)\" = /tmp";
	t.cwd = "/tmp";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "success", NULL);
	json_decref(m);
	t.cwd = NULL;

	/* lots of output: only the tail is kept, the last line still counts */
	a.command = "i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done; echo 42";
	a.success = "result == 42";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "success", NULL);
	json_decref(m);

	/* output that is not UTF-8 still makes a valid message */
	a.command = "printf 'bad \\377\\001 bytes\\n'";
	a.success = "result == 1";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "is not a number: 'bad ?? bytes'");
	json_decref(m);
}

static void test_command_timeout_kills_group(void **state)
{
	struct sw_spec_analysis a = analysis(SW_PROVIDER_COMMAND, "exit_code == 0", NULL);
	struct sw_analysis_target t = addr_target();
	char dir[] = "/tmp/sw-analysis-XXXXXX", cmd[512], pidfile[300];
	struct sw_buf b = SW_BUF_INIT(64);
	struct sw_err err = SW_ERR_INIT;
	uint64_t t0;
	json_t *m;
	long pid;
	int i, dead = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! > %s; wait", pidfile);
	a.command = cmd;
	t.timeout_ms = 300;
	t0 = sw_clock_mono_ms();
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "command timed out after 300ms (its process group was killed)");
	assert_true(sw_clock_mono_ms() - t0 < 3000);
	check_value_names(m, SW_PROVIDER_COMMAND);
	json_decref(m);
	assert_int_equal(sw_fs_read_file(pidfile, 64, &b, &err), 0);
	pid = strtol(b.data, NULL, 10);
	assert_true(pid > 1);
	for (i = 0; i < 200 && !dead; i++) { /* the background sleep is gone (or a zombie of init) */
		char path[64], st[256];
		FILE *f;

		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
			dead = 1;
			break;
		}
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		f = fopen(path, "r");
		if (f && fgets(st, sizeof(st), f) && strstr(st, ") Z "))
			dead = 1;
		if (f)
			fclose(f);
		usleep(10000);
	}
	assert_true(dead);
	sw_buf_release(&b);
	unlink(pidfile);
	rmdir(dir);
}

/* ---- the tally ----------------------------------------------------------------- */

static void test_tally(void **state)
{
	struct sw_spec_analysis a = analysis(SW_PROVIDER_HAPROXY, "error_rate < 0.01", NULL);
	struct sw_analysis_tally t = { 0 };
	enum sw_verdict v;
	int i;

	(void)state;
	a.count = 3;
	a.failure_limit = 1;
	a.inconclusive_limit = 1;
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_SUCCESS), SW_ANALYSIS_RUNNING);
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_FAILURE), SW_ANALYSIS_RUNNING); /* 1 <= limit */
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_SUCCESS), SW_ANALYSIS_SUCCESSFUL);
	assert_int_equal(t.measurements, 3);
	assert_int_equal(t.successes, 2);
	assert_int_equal(t.failures, 1);

	memset(&t, 0, sizeof(t));
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_FAILURE), SW_ANALYSIS_RUNNING);
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_FAILURE), SW_ANALYSIS_FAILED);

	/* errors count with inconclusives; an error is never a success */
	memset(&t, 0, sizeof(t));
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_ERROR), SW_ANALYSIS_RUNNING);
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_INCONCLUSIVE), SW_ANALYSIS_INCONCLUSIVE);
	assert_int_equal(t.errors, 1);
	assert_int_equal(t.inconclusives, 1);
	assert_int_equal(t.successes, 0);
	memset(&t, 0, sizeof(t));
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_ERROR), SW_ANALYSIS_RUNNING);
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_ERROR), SW_ANALYSIS_INCONCLUSIVE);
	/* even at the last measurement: count reached but too many errors */
	a.count = 2;
	memset(&t, 0, sizeof(t));
	sw_analysis_tally_add(&t, &a, SW_VERDICT_ERROR);
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_ERROR), SW_ANALYSIS_INCONCLUSIVE);
	/* count reached, within the limits, but nothing was a success: inconclusive, never successful */
	a.count = 2;
	a.inconclusive_limit = 5;
	memset(&t, 0, sizeof(t));
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_INCONCLUSIVE), SW_ANALYSIS_RUNNING);
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_ERROR), SW_ANALYSIS_INCONCLUSIVE);
	memset(&t, 0, sizeof(t));
	sw_analysis_tally_add(&t, &a, SW_VERDICT_INCONCLUSIVE);
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_SUCCESS), SW_ANALYSIS_SUCCESSFUL);
	/* failed wins over inconclusive */
	a.failure_limit = 0;
	a.inconclusive_limit = 0;
	memset(&t, 0, sizeof(t));
	t.inconclusives = 5;
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_FAILURE), SW_ANALYSIS_FAILED);
	/* limits 0: the first failure fails, the first error makes it inconclusive */
	memset(&t, 0, sizeof(t));
	assert_int_equal(sw_analysis_tally_add(&t, &a, SW_VERDICT_ERROR), SW_ANALYSIS_INCONCLUSIVE);
	/* an unknown verdict counts as an error */
	memset(&t, 0, sizeof(t));
	a.inconclusive_limit = 5;
	sw_analysis_tally_add(&t, &a, (enum sw_verdict)42);
	assert_int_equal(t.errors, 1);

	/* count 0: runs until stopped */
	a.count = 0;
	a.failure_limit = 1000;
	memset(&t, 0, sizeof(t));
	for (i = 0; i < 10000; i++)
		assert_int_equal(sw_analysis_tally_add(&t, &a, i % 10 ? SW_VERDICT_SUCCESS : SW_VERDICT_FAILURE),
				 SW_ANALYSIS_RUNNING);
	assert_int_equal(sw_analysis_tally_state(&t, &a), SW_ANALYSIS_RUNNING);

	/* names */
	for (i = 0; i < 4; i++) {
		assert_int_equal(sw_analysis_verdict_parse(sw_analysis_verdict_name((enum sw_verdict)i), &v), 0);
		assert_int_equal((int)v, i);
	}
	assert_int_equal(sw_analysis_verdict_parse("maybe", &v), -1);
	assert_int_equal(sw_analysis_verdict_parse(NULL, &v), -1);
	assert_string_equal(sw_analysis_state_name(SW_ANALYSIS_INCONCLUSIVE), "inconclusive");
	assert_string_equal(sw_analysis_state_name(SW_ANALYSIS_SUCCESSFUL), "successful");
	assert_string_equal(sw_analysis_state_name(SW_ANALYSIS_FAILED), "failed");
	assert_string_equal(sw_analysis_state_name(SW_ANALYSIS_RUNNING), "running");
	{
		json_t *m = json_pack("{s:s}", "verdict", "failure");

		assert_int_equal(sw_analysis_measurement_verdict(m, &v), 0);
		assert_int_equal(v, SW_VERDICT_FAILURE);
		json_object_set_new(m, "verdict", json_integer(1));
		assert_int_equal(sw_analysis_measurement_verdict(m, &v), -1);
		json_decref(m);
	}
	/* timeouts from the interval */
	a.interval_ms = 250;
	assert_int_equal(sw_analysis_timeout_ms(&a, NULL), 1000);
	a.interval_ms = 5000;
	assert_int_equal(sw_analysis_timeout_ms(&a, NULL), 5000);
	a.interval_ms = 3600000;
	assert_int_equal(sw_analysis_timeout_ms(&a, NULL), 30000);
}

/* ---- the providers and the spec's table agree ------------------------------------ */

static void run_provider(enum sw_provider p, const struct sw_spec_analysis *a, const struct sw_analysis_target *t,
			 const json_t *prev)
{
	struct sw_provider_run run;
	struct sw_err err = SW_ERR_INIT;
	int rc;

	memset(&run, 0, sizeof(run));
	run.a = a;
	run.t = t;
	run.prev = prev;
	run.timeout_ms = 2000;
	sw_values_init(&run.vals, p);
	switch (p) {
	case SW_PROVIDER_HAPROXY:
		rc = sw_prov_haproxy_measure(&run, &err);
		break;
	case SW_PROVIDER_PROMETHEUS:
		rc = sw_prov_prometheus_measure(&run, &err);
		break;
	case SW_PROVIDER_HTTP:
		rc = sw_prov_http_measure(&run, &err);
		break;
	default:
		rc = sw_prov_command_measure(&run, &err);
		break;
	}
	if (rc < 0)
		fail_msg("%s provider: %s", sw_spec_provider_name(p), err.msg);
	if (sw_values_first_unset(&run.vals))
		fail_msg("the %s provider does not set '%s', which the spec allows conditions to use",
			 sw_spec_provider_name(p), sw_values_first_unset(&run.vals));
	sw_values_release(&run.vals);
	json_decref(run.raw);
}

static void test_providers_match_spec_table(void **state)
{
	struct sw_spec_analysis a;
	struct sw_analysis_target t = addr_target();
	struct fake_lb lb;
	json_t *base, *prev;
	size_t n, i;
	const char *const *names;

	(void)state;
	/* the names the spec loader allows are the names the values carry */
	for (i = 0; i < 4; i++) {
		struct sw_values vs;
		size_t k;

		names = sw_spec_provider_fields((enum sw_provider)i, &n);
		sw_values_init(&vs, (enum sw_provider)i);
		assert_int_equal(vs.n, n);
		for (k = 0; k < n; k++)
			assert_non_null(sw_values_find(&vs, names[k]));
		sw_values_release(&vs);
	}
	names = sw_spec_provider_fields(SW_PROVIDER_HAPROXY, &n);
	assert_int_equal(n, 10);

	/* each provider sets every name (with data and without) */
	fake_setup(&lb);
	t = lb_target(&lb);
	a = analysis(SW_PROVIDER_HAPROXY, "error_rate < 1", NULL);
	run_provider(SW_PROVIDER_HAPROXY, &a, &t, NULL);
	base = measure(&a, &t, NULL);
	prev = raw_back(base, 1000);
	fake_find(&lb, "c1")->stot += 10;
	fake_find(&lb, "s1")->stot += 10;
	run_provider(SW_PROVIDER_HAPROXY, &a, &t, prev);
	t.nstable_servers = 0;
	run_provider(SW_PROVIDER_HAPROXY, &a, &t, prev);
	json_decref(prev);
	json_decref(base);

	t = addr_target();
	a = analysis(SW_PROVIDER_PROMETHEUS, "result < 1", NULL);
	a.address = base_url();
	a.query = "up";
	http_answer_file(200, "vector_many.json");
	run_provider(SW_PROVIDER_PROMETHEUS, &a, &t, NULL);
	http_answer_file(200, "vector_empty.json");
	run_provider(SW_PROVIDER_PROMETHEUS, &a, &t, NULL);
	http_answer_file(200, "scalar_nan.json");
	run_provider(SW_PROVIDER_PROMETHEUS, &a, &t, NULL);

	a = analysis(SW_PROVIDER_HTTP, "status == 200", NULL);
	a.url = base_url();
	http_answer(200, "1", 1);
	run_provider(SW_PROVIDER_HTTP, &a, &t, NULL);
	a.json_field = "x";
	run_provider(SW_PROVIDER_HTTP, &a, &t, NULL);

	a = analysis(SW_PROVIDER_COMMAND, "exit_code == 0", NULL);
	a.command = "echo 1";
	run_provider(SW_PROVIDER_COMMAND, &a, &t, NULL);
	a.command = "exit 1";
	run_provider(SW_PROVIDER_COMMAND, &a, &t, NULL);
}

/* ---- scenarios against real peers (tests/e2e/test_analysis.py) -------------------- */

struct e2e_server {
	char name[32];
	char addr[64];
	struct sockaddr_in sa;
};

static struct {
	const char *sock, *backend, *prometheus, *junk, *down;
	struct sockaddr_in fe;
	struct e2e_server srv[8];
	size_t nsrv;
} E;

static int parse_sa(const char *s, struct sockaddr_in *sa)
{
	const char *colon = strrchr(s, ':');
	char host[64];

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int e2e_setup(void **state)
{
	const char *list = getenv("SLIPWAY_ANALYSIS_SERVERS"), *fe = getenv("SLIPWAY_ANALYSIS_FRONTEND");

	(void)state;
	E.sock = getenv("SLIPWAY_ANALYSIS_HAPROXY_SOCKET");
	if (!E.sock || !*E.sock) {
		E.sock = NULL;
		return 0;
	}
	E.backend = getenv("SLIPWAY_ANALYSIS_BACKEND");
	E.prometheus = getenv("SLIPWAY_ANALYSIS_PROMETHEUS");
	E.junk = getenv("SLIPWAY_ANALYSIS_JUNK");
	E.down = getenv("SLIPWAY_ANALYSIS_DOWN");
	if (!E.backend || !E.prometheus || !E.junk || !E.down || !list || !fe || parse_sa(fe, &E.fe) < 0)
		return -1;
	while (*list && E.nsrv < 8) {
		size_t k = strcspn(list, ","), eq;
		struct e2e_server *s = &E.srv[E.nsrv];

		eq = strcspn(list, "=");
		if (eq >= k || eq >= sizeof(s->name) || k - eq - 1 >= sizeof(s->addr))
			return -1;
		memcpy(s->name, list, eq);
		s->name[eq] = '\0';
		memcpy(s->addr, list + eq + 1, k - eq - 1);
		s->addr[k - eq - 1] = '\0';
		if (parse_sa(s->addr, &s->sa) < 0)
			return -1;
		E.nsrv++;
		list += k + (list[k] == ',');
	}
	return E.nsrv >= 4 ? 0 : -1;
}

#define E2E_REQUIRED()                                                                   \
	do {                                                                             \
		if (!E.sock)                                                             \
			skip(); /* needs SLIPWAY_ANALYSIS_HAPROXY_SOCKET: tests/e2e */ \
	} while (0)

static const struct e2e_server *e2e_srv(const char *name)
{
	size_t i;

	for (i = 0; i < E.nsrv; i++)
		if (!strcmp(E.srv[i].name, name))
			return &E.srv[i];
	fail_msg("no server '%s' in SLIPWAY_ANALYSIS_SERVERS", name);
	return NULL;
}

/* One HTTP/1.0 GET; the status code, or -1. Bounded by 5 s. */
static int get(const struct sockaddr_in *sa)
{
	struct timeval tv = { .tv_sec = 5 };
	char buf[512];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), code = -1;
	static const char req[] = "GET / HTTP/1.0\r\nHost: test\r\n\r\n";

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 &&
	    write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
		for (;;) {
			ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);

			if (r <= 0)
				break;
			got += (size_t)r;
			if (got == sizeof(buf) - 1)
				got = 16;
		}
		buf[got] = '\0';
		if (got >= 12 && !strncmp(buf, "HTTP/1.", 7))
			code = (int)strtol(buf + 9, NULL, 10);
	}
	close(fd);
	return code;
}

static void e2e_weights(unsigned stable, unsigned good, unsigned bad, unsigned slow)
{
	struct sw_traffic_weight w[4] = { { "stable", stable }, { "good", good }, { "bad", bad }, { "slow", slow } };
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;

	if (sw_haproxy_init(&h, E.sock, &err) < 0 || sw_haproxy_set_weights(&h, E.backend, w, 4, NULL, &err) < 0)
		fail_msg("%s", err.msg);
}

/* n requests through haproxy; how many answered 5xx. */
static int e2e_load(int n)
{
	int i, fails = 0;

	for (i = 0; i < n; i++) {
		int code = get(&E.fe);

		if (code < 0)
			fail_msg("request %d through haproxy got no answer", i);
		fails += code >= 500;
	}
	return fails;
}

/* canary `canary` against stable, 200 requests at 10/10, one baseline and one measurement. */
static json_t *e2e_haproxy_round(const char *canary, const struct sw_spec_analysis *a, int *fails)
{
	const char *cs[] = { canary }, *ss[] = { "stable" };
	struct sw_analysis_target t = { .backend = E.backend };
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;
	json_t *base, *m;

	assert_int_equal(sw_haproxy_init(&h, E.sock, &err), 0);
	t.traffic = &h.traffic;
	t.canary_servers = cs;
	t.ncanary_servers = 1;
	t.stable_servers = ss;
	t.nstable_servers = 1;
	e2e_weights(10, !strcmp(canary, "good") ? 10 : 0, !strcmp(canary, "bad") ? 10 : 0, 0);
	/* the first measurement after the weight change: a baseline, not a verdict */
	base = measure(a, &t, NULL);
	expect_verdict(base, "inconclusive", "first measurement");
	*fails = e2e_load(200);
	m = measure(a, &t, base);
	json_decref(base);
	return m;
}

static void e2e_haproxy_healthy_canary(void **state)
{
	struct sw_spec_analysis a = analysis(SW_PROVIDER_HAPROXY, "error_rate < 0.05 and error_rate <= stable_error_rate + 0.01",
					     NULL);
	int64_t reqs, sreqs;
	int fails;
	json_t *m;

	(void)state;
	E2E_REQUIRED();
	m = e2e_haproxy_round("good", &a, &fails);
	expect_verdict(m, "success", "(error_rate = 0, stable_error_rate = 0)");
	assert_int_equal(fails, 0);
	reqs = json_integer_value(value_of(m, "requests"));
	sreqs = json_integer_value(value_of(m, "stable_requests"));
	/* every request went to one of the two, about half each (balance random) */
	assert_int_equal(reqs + sreqs, 200);
	assert_true(reqs >= 60 && reqs <= 140);
	assert_true(num_of(m, "request_rate") > 0);
	assert_true(num_of(m, "response_ms") >= 0 && num_of(m, "response_ms") < 100);
	print_message("MEASURE haproxy healthy: %s\n", message_of(m));
	json_decref(m);
}

static void e2e_haproxy_failing_canary(void **state)
{
	struct sw_spec_analysis a = analysis(SW_PROVIDER_HAPROXY, "error_rate < 0.05", "error_rate > stable_error_rate + 0.05");
	int64_t reqs, errs;
	double rate;
	int fails;
	json_t *m;

	(void)state;
	E2E_REQUIRED();
	m = e2e_haproxy_round("bad", &a, &fails);
	expect_verdict(m, "failure", "failure condition 'error_rate > stable_error_rate + 0.05' is true");
	reqs = json_integer_value(value_of(m, "requests"));
	errs = json_integer_value(value_of(m, "errors"));
	rate = num_of(m, "error_rate");
	/* HELLO_ERROR_RATE=0.5 fails every second request it serves */
	assert_true(reqs >= 40);
	assert_true(rate >= 0.45 && rate <= 0.55);
	assert_int_equal(errs, fails); /* every 5xx the clients saw came from the canary */
	assert_true(num_of(m, "stable_error_rate") == 0.0);
	print_message("MEASURE haproxy failing: %s\n", message_of(m));
	json_decref(m);
	e2e_weights(10, 10, 0, 0);
}

struct slow_load {
	struct sockaddr_in sa;
	int code;
};

static void *slow_get(void *arg)
{
	struct slow_load *l = arg;

	l->code = get(&l->sa);
	return NULL;
}

/* Measure until Prometheus has data (not inconclusive), at most ~12 s. */
static json_t *e2e_prometheus_until_data(const struct sw_spec_analysis *a, const struct sw_analysis_target *t)
{
	json_t *m = NULL;
	int i;

	for (i = 0; i < 24; i++) {
		json_decref(m);
		m = measure(a, t, NULL);
		if (strcmp(verdict_of(m), "inconclusive"))
			return m;
		usleep(500000);
	}
	return m;
}

static void e2e_prometheus_latency(void **state)
{
	struct sw_spec_analysis a = analysis(SW_PROVIDER_PROMETHEUS, "result < 0.3", NULL);
	const char *good[1], *slow[1], *stable[1];
	struct sw_analysis_target t = { .canary_addrs = good, .ncanary_addrs = 1, .stable_addrs = stable, .nstable_addrs = 1 };
	struct slow_load l[6];
	pthread_t thr[6];
	json_t *m;
	int i;

	(void)state;
	E2E_REQUIRED();
	good[0] = e2e_srv("good")->addr;
	slow[0] = e2e_srv("slow")->addr;
	stable[0] = e2e_srv("stable")->addr;
	a.address = E.prometheus;
	a.query = "histogram_quantile(0.9, sum by (le) (rate(hello_request_duration_seconds_bucket{instance=~\"{{canary}}\"}[10s])))";
	a.interval_ms = 2000;
	/* a healthy canary: fast answers */
	for (i = 0; i < 20; i++)
		assert_int_equal(get(&e2e_srv("good")->sa), 200);
	m = e2e_prometheus_until_data(&a, &t);
	expect_verdict(m, "success", "is true (result = ");
	assert_true(num_of(m, "result") < 0.05);
	print_message("MEASURE prometheus good: %s\n", message_of(m));
	json_decref(m);

	/* HELLO_DELAY_MS=400 on the canary: its p90 lands in the 0.25..0.5 s bucket */
	t.canary_addrs = slow;
	for (i = 0; i < 6; i++) {
		l[i].sa = e2e_srv("slow")->sa;
		assert_int_equal(pthread_create(&thr[i], NULL, slow_get, &l[i]), 0);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(thr[i], NULL);
		assert_int_equal(l[i].code, 200);
	}
	m = e2e_prometheus_until_data(&a, &t);
	expect_verdict(m, "failure", "success condition");
	/* 0.475 when every request took 0.4..0.5 s; more if the machine is slow, never under 0.3 */
	assert_true(num_of(m, "result") > 0.3 && num_of(m, "result") <= 1.0);
	print_message("MEASURE prometheus slow: %s\n", message_of(m));
	json_decref(m);

	/* the stable placeholder and a comparison query work against the real PromQL parser */
	a.query = "count(up{instance=~'{{canary}}'} == 1) + count(up{instance=~`{{stable}}`} == 1)";
	a.success = "result == 2";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "success", "(result = 2)");
	json_decref(m);
}

static void e2e_prometheus_down_or_garbage(void **state)
{
	struct sw_spec_analysis a = analysis(SW_PROVIDER_PROMETHEUS, "result < 0.3", NULL);
	const char *good[1];
	struct sw_analysis_target t = { .canary_addrs = good, .ncanary_addrs = 1, .timeout_ms = 2000 };
	struct sw_analysis_tally tally = { 0 };
	enum sw_analysis_state st = SW_ANALYSIS_RUNNING;
	enum sw_verdict v;
	json_t *m;
	int i;

	(void)state;
	E2E_REQUIRED();
	good[0] = e2e_srv("good")->addr;
	a.query = "up{instance=~\"{{canary}}\"}";
	a.count = 5;
	a.inconclusive_limit = 2;
	/* down: error, counted against inconclusive_limit, never success */
	a.address = E.down;
	for (i = 0; i < 3; i++) {
		m = measure(&a, &t, NULL);
		expect_verdict(m, "error", "cannot reach prometheus at");
		assert_int_equal(sw_analysis_measurement_verdict(m, &v), 0);
		st = sw_analysis_tally_add(&tally, &a, v);
		json_decref(m);
	}
	assert_int_equal(st, SW_ANALYSIS_INCONCLUSIVE);
	assert_int_equal(tally.errors, 3);
	assert_int_equal(tally.successes, 0);
	/* garbage */
	a.address = E.junk;
	m = measure(&a, &t, NULL);
	expect_verdict(m, "error", "bad answer");
	print_message("MEASURE prometheus garbage: %s\n", message_of(m));
	json_decref(m);
	/* the real one again: up == 1 for the canary */
	a.address = E.prometheus;
	a.success = "result == 1";
	m = measure(&a, &t, NULL);
	expect_verdict(m, "success", NULL);
	json_decref(m);
}

int main(void)
{
	const struct CMUnitTest unit[] = {
		cmocka_unit_test(test_haproxy_first_measurement_has_no_rate),
		cmocka_unit_test(test_haproxy_rates),
		cmocka_unit_test(test_haproxy_no_traffic_and_resets),
		cmocka_unit_test(test_haproxy_provider_failures),
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_prometheus_failures),
		cmocka_unit_test(test_http_probe),
		cmocka_unit_test(test_command),
		cmocka_unit_test(test_command_timeout_kills_group),
		cmocka_unit_test(test_tally),
		cmocka_unit_test(test_providers_match_spec_table),
	};
	const struct CMUnitTest e2e[] = {
		cmocka_unit_test(e2e_haproxy_healthy_canary),
		cmocka_unit_test(e2e_haproxy_failing_canary),
		cmocka_unit_test(e2e_prometheus_latency),
		cmocka_unit_test(e2e_prometheus_down_or_garbage),
	};
	int fails;

	signal(SIGPIPE, SIG_IGN);
	sw_httpc_global_init();
	fails = cmocka_run_group_tests_name("analysis", unit, http_setup, http_teardown);
	fails += cmocka_run_group_tests_name("analysis_e2e", e2e, e2e_setup, NULL);
	return fails ? 1 : 0;
}
