/*
 * test_haproxy.c - unit tests for src/traffic (HAProxy runtime API client and
 * the sw_traffic seam), plus a scenario group against a real HAProxy.
 *
 * Group "haproxy": parsers on answers recorded from HAProxy 2.6
 * (tests/data/haproxy/, well-formed and broken), address and name checks,
 * and the transport against a forked fake runtime API on a UNIX socket
 * (partial reads, timeouts, size cap, refusals, read-back mismatches).
 *
 * Group "haproxy_e2e": skipped unless SLIPWAY_HAPROXY_SOCKET is set;
 * tests/e2e/test_haproxy.py starts haproxy and runs this binary with
 *   SLIPWAY_HAPROXY_SOCKET    admin socket path
 *   SLIPWAY_HAPROXY_TCP       optional second admin socket, ipv4@127.0.0.1:port
 *   SLIPWAY_HAPROXY_BACKEND   backend name
 *   SLIPWAY_HAPROXY_SERVERS   its servers, comma-separated (at least 2)
 *   SLIPWAY_HAPROXY_FRONTEND  127.0.0.1:port of the frontend in front of it
 * Measurements are printed as lines starting with "MEASURE ".
 * Test data is read from $SLIPWAY_TEST_DATA (default tests/data).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "traffic/haproxy.h"
#include "traffic/traffic.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

static void load(const char *name, struct sw_buf *out)
{
	struct sw_err err = SW_ERR_INIT;
	const char *root = getenv("SLIPWAY_TEST_DATA");
	char path[1024];

	snprintf(path, sizeof(path), "%s/haproxy/%s", root && *root ? root : "tests/data", name);
	if (sw_fs_read_file(path, 1 << 20, out, &err) < 0)
		fail_msg("cannot load test data: %s", err.msg);
}

/*
 * Heap copies of exactly len bytes, so that ASan catches any read past the
 * end. Parsed rows borrow from them: they stay until kept_free().
 */
static char *kept[64];
static size_t nkept;

static char *exact(const char *p, size_t len)
{
	char *c = malloc(len ? len : 1);

	assert_non_null(c);
	memcpy(c, p, len);
	return c;
}

static void keep(char *c)
{
	if (nkept == SW_ARRAY_LEN(kept))
		fail_msg("too many kept buffers");
	kept[nkept++] = c;
}

static void kept_free(void)
{
	while (nkept)
		free(kept[--nkept]);
}

static int parse_stat(const char *p, size_t len, struct sw_arena *a, struct sw_haproxy_stat **rows,
		      size_t *n, struct sw_err *err)
{
	char *c = exact(p, len);
	int rc = sw_haproxy_parse_stat(c, len, a, rows, n, err);

	if (rc == 0)
		keep(c);
	else
		free(c);
	return rc;
}

static int parse_state(const char *p, size_t len, struct sw_arena *a, struct sw_haproxy_srv_state **rows,
		       size_t *n, struct sw_err *err)
{
	char *c = exact(p, len);
	int rc = sw_haproxy_parse_servers_state(c, len, a, rows, n, err);

	if (rc == 0)
		keep(c);
	else
		free(c);
	return rc;
}

static const struct sw_haproxy_stat *find_stat(const struct sw_haproxy_stat *rows, size_t n,
					       const char *px, const char *sv)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (sw_haproxy_str_eq(rows[i].pxname, px) && sw_haproxy_str_eq(rows[i].svname, sv))
			return &rows[i];
	return NULL;
}

static const struct sw_haproxy_srv_state *find_state(const struct sw_haproxy_srv_state *rows, size_t n,
						     const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (sw_haproxy_str_eq(rows[i].name, name))
			return &rows[i];
	return NULL;
}

static void assert_str(struct sw_haproxy_str s, const char *want)
{
	if (!sw_haproxy_str_eq(s, want))
		fail_msg("got '%.*s', want '%s'", (int)s.len, s.p, want);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int teardown_kept(void **state)
{
	(void)state;
	kept_free();
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static char tmpdir[256];

static const char *tmp_path(const char *name, char *out, size_t size)
{
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/sw-haproxy-test-XXXXXX");
		assert_non_null(mkdtemp(tmpdir));
	}
	snprintf(out, size, "%s/%s", tmpdir, name);
	return out;
}

/* ---- parsers on recorded answers ------------------------------------------ */

static void test_parse_stat_recorded(void **state)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy_stat *rows;
	const struct sw_haproxy_stat *r, *be, *fe;
	struct sw_arena a;
	size_t n, i;
	int64_t stot = 0, x2 = 0, x5 = 0;

	(void)state;
	sw_arena_init(&a);
	load("show_stat.csv", &b);
	assert_int_equal(parse_stat(b.data, b.len, &a, &rows, &n, &err), 0);
	assert_int_equal(n, 6); /* FRONTEND, 3 servers, 2 BACKEND rows */

	r = find_stat(rows, n, "checkout", "blue-1");
	assert_non_null(r);
	assert_int_equal(r->type, 2);
	assert_str(r->status, "UP");
	assert_str(r->check_status, "L4OK");
	assert_str(r->addr, "127.0.0.1:18081");
	assert_int_equal(r->weight, 50);
	assert_int_equal(r->uweight, 50);
	assert_int_equal(r->stot, 22);
	assert_int_equal(r->hrsp_2xx, 21);
	assert_int_equal(r->hrsp_5xx, 1);
	assert_int_equal(r->scur, 0);
	assert_int_equal(r->sid, 1);

	r = find_stat(rows, n, "checkout", "green-2");
	assert_non_null(r);
	assert_str(r->status, "no check");
	assert_str(r->check_status, "");
	assert_int_equal(r->chkfail, SW_HAPROXY_NONE); /* empty field */

	fe = find_stat(rows, n, "fe_checkout", "FRONTEND");
	assert_non_null(fe);
	assert_int_equal(fe->type, 0);
	assert_int_equal(fe->weight, SW_HAPROXY_NONE);
	assert_str(fe->status, "OPEN");

	be = find_stat(rows, n, "checkout", "BACKEND");
	assert_non_null(be);
	assert_int_equal(be->type, 1);
	for (i = 0; i < n; i++) {
		if (rows[i].type == 2) {
			stot += rows[i].stot;
			x2 += rows[i].hrsp_2xx;
			x5 += rows[i].hrsp_5xx;
		}
	}
	/* the backend's counters are the sum of its servers' */
	assert_int_equal(stot, be->stot);
	assert_int_equal(x2, be->hrsp_2xx);
	assert_int_equal(x5, be->hrsp_5xx);
	assert_int_equal(stot, 40);
	assert_non_null(find_stat(rows, n, "empty", "BACKEND"));
	sw_arena_release(&a);
	sw_buf_release(&b);
}

static void test_parse_stat_drain_maint(void **state)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy_stat *rows;
	struct sw_arena a;
	size_t n;

	(void)state;
	sw_arena_init(&a);
	load("show_stat_drain_maint.csv", &b);
	assert_int_equal(parse_stat(b.data, b.len, &a, &rows, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_str(find_stat(rows, n, "checkout", "blue-1")->status, "UP");
	assert_str(find_stat(rows, n, "checkout", "green-1")->status, "DRAIN");
	assert_str(find_stat(rows, n, "checkout", "green-2")->status, "MAINT");
	assert_null(find_stat(rows, n, "fe_checkout", "FRONTEND")); /* filtered answer */
	sw_arena_release(&a);
	sw_buf_release(&b);
}

/* Columns are found by name: order, unknown columns and quoting do not matter. */
static void test_parse_stat_by_header_names(void **state)
{
	static const char csv[] =
		"# svname,future_col,stot,pxname,status,hrsp_5xx,weight,type,check_status,rtime,\n"
		"s1,\"x,y\",7,web,UP,0,10,2,\"* L7OK\",,\n"
		"\"s\"\"2\",z,9,web,DOWN,3,0,2,L4CON,12,\n"
		"\n";
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy_stat *rows;
	struct sw_arena a;
	size_t n;

	(void)state;
	sw_arena_init(&a);
	assert_int_equal(parse_stat(csv, sizeof(csv) - 1, &a, &rows, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_str(rows[0].pxname, "web");
	assert_str(rows[0].svname, "s1");
	assert_int_equal(rows[0].stot, 7);
	assert_int_equal(rows[0].weight, 10);
	assert_str(rows[0].check_status, "* L7OK");
	assert_int_equal(rows[0].rtime, SW_HAPROXY_NONE);
	assert_int_equal(rows[0].scur, SW_HAPROXY_NONE); /* absent column */
	assert_str(rows[1].svname, "s\"\"2");            /* quoted, doubled quote kept as is */
	assert_int_equal(rows[1].hrsp_5xx, 3);
	assert_int_equal(rows[1].rtime, 12);
	assert_str(rows[1].status, "DOWN");
	sw_arena_release(&a);
}

static void expect_stat_error(const char *csv, const char *want)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy_stat *rows = (void *)1;
	struct sw_arena a;
	size_t n = 99;

	sw_arena_init(&a);
	if (parse_stat(csv, strlen(csv), &a, &rows, &n, &err) == 0)
		fail_msg("parsed %zu rows of a broken answer, want error '%s'", n, want);
	assert_int_equal(err.code, SW_EIO);
	if (!strstr(err.msg, want))
		fail_msg("error '%s' does not contain '%s'", err.msg, want);
	assert_null(rows);
	assert_int_equal(n, 0);
	sw_arena_release(&a);
}

static void test_parse_stat_broken(void **state)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy_stat *rows;
	struct sw_arena a;
	size_t n, cut;
	char *nl;

	(void)state;
	expect_stat_error("", "empty answer");
	expect_stat_error("pxname,svname,stot,\nweb,s1,1,\n\n", "expected a header line");
	expect_stat_error("# pxname,stot,\nweb,1,\n\n", "no column 'svname'");
	expect_stat_error("# pxname,svname,stot,\nweb,s1,\n\n", "line 2: 3 fields, the header has 4");
	expect_stat_error("# pxname,svname,stot,\nweb,s1,1,2,\n\n", "line 2: 5 fields, the header has 4");
	expect_stat_error("# pxname,svname,stot,\nweb,s1,x1,\n\n", "column 'stot' is not a number: 'x1'");
	expect_stat_error("# pxname,svname,stot,\nweb,\"s1,1,\n\n", "line 2: bad quoting");
	expect_stat_error("# pxname,svname,stot,\nweb,\"s1\"x,1,\n\n", "line 2: bad quoting");
	expect_stat_error("# pxname,svname,stot,\nweb,s1,1,\n", "no final empty line");
	expect_stat_error("# pxname,svname,stot,\nweb,s1,1,", "the last line has no newline");
	expect_stat_error("# pxname,svname,stot,\nweb,s1,1,\n\nweb,s2,1,\n\n", "data after the final empty line");
	expect_stat_error("# pxname,svname,stot,\nweb,s1,99999999999999999999,\n\n", "not a number");

	/* Every strict prefix of a recorded answer is a cut answer: all fail. */
	load("show_stat.csv", &b);
	sw_arena_init(&a);
	for (cut = 0; cut < b.len; cut++) {
		sw_err_clear(&err);
		if (parse_stat(b.data, cut, &a, &rows, &n, &err) == 0)
			fail_msg("a cut answer of %zu of %zu bytes parsed", cut, b.len);
		assert_int_equal(err.code, SW_EIO);
	}
	/* A row that lost a field in the middle. */
	nl = strstr(b.data, "\ncheckout,green-1,");
	assert_non_null(nl);
	nl = strchr(nl + 20, ',');
	memmove(nl, nl + 1, b.len - (size_t)(nl + 1 - b.data) + 1);
	b.len--;
	assert_int_equal(parse_stat(b.data, b.len, &a, &rows, &n, &err), -1);
	if (!strstr(err.msg, "fields, the header has"))
		fail_msg("%s", err.msg);
	sw_arena_release(&a);
	sw_buf_release(&b);
}

static void test_parse_servers_state_recorded(void **state)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy_srv_state *rows;
	const struct sw_haproxy_srv_state *r;
	struct sw_arena a;
	size_t n;

	(void)state;
	sw_arena_init(&a);
	load("servers_state_checkout.txt", &b);
	assert_int_equal(parse_state(b.data, b.len, &a, &rows, &n, &err), 0);
	assert_int_equal(n, 3);
	r = find_state(rows, n, "blue-1");
	assert_non_null(r);
	assert_str(r->backend, "checkout");
	assert_str(r->addr, "127.0.0.1");
	assert_int_equal(r->backend_id, 3);
	assert_int_equal(r->id, 1);
	assert_int_equal(r->port, 18081);
	assert_int_equal(r->weight, 50);
	assert_int_equal(r->initial_weight, 100);
	assert_int_equal(r->op_state, 2);
	assert_int_equal(r->admin_state, 0);
	assert_int_equal(r->check_result, 3);
	assert_int_equal(r->check_state, 6);
	assert_int_equal(sw_haproxy_health(r->op_state), SW_TRAFFIC_HEALTH_UP);
	assert_int_equal(sw_haproxy_admin_state(r->admin_state), SW_TRAFFIC_READY);
	r = find_state(rows, n, "green-2");
	assert_int_equal(r->weight, 25);
	assert_int_equal(r->initial_weight, 0);
	assert_int_equal(r->check_state, 0);
	sw_buf_reset(&b);

	load("servers_state_drain_maint.txt", &b);
	assert_int_equal(parse_state(b.data, b.len, &a, &rows, &n, &err), 0);
	assert_int_equal(n, 3);
	r = find_state(rows, n, "green-1");
	assert_int_equal(sw_haproxy_admin_state(r->admin_state), SW_TRAFFIC_DRAIN);
	assert_int_equal(sw_haproxy_health(r->op_state), SW_TRAFFIC_HEALTH_UP);
	r = find_state(rows, n, "green-2");
	assert_int_equal(sw_haproxy_admin_state(r->admin_state), SW_TRAFFIC_MAINT);
	assert_int_equal(sw_haproxy_health(r->op_state), SW_TRAFFIC_HEALTH_DOWN);
	sw_buf_reset(&b);

	load("servers_state_empty.txt", &b);
	assert_int_equal(parse_state(b.data, b.len, &a, &rows, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(rows);
	sw_arena_release(&a);
	sw_buf_release(&b);
}

static void expect_state_error(const char *txt, const char *want)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy_srv_state *rows = (void *)1;
	struct sw_arena a;
	size_t n = 99;

	sw_arena_init(&a);
	if (parse_state(txt, strlen(txt), &a, &rows, &n, &err) == 0)
		fail_msg("parsed %zu rows of a broken answer, want error '%s'", n, want);
	assert_int_equal(err.code, SW_EIO);
	if (!strstr(err.msg, want))
		fail_msg("error '%s' does not contain '%s'", err.msg, want);
	assert_null(rows);
	assert_int_equal(n, 0);
	sw_arena_release(&a);
}

#define HDR "# be_id be_name srv_id srv_name srv_op_state srv_admin_state srv_uweight srv_iweight\n"

static void test_parse_servers_state_broken(void **state)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy_srv_state *rows;
	struct sw_arena a;
	size_t n, cut;

	(void)state;
	expect_state_error("", "empty answer");
	expect_state_error("2\n" HDR "\n", "unsupported servers state format version '2'");
	expect_state_error(HDR "\n", "expected the format version");
	expect_state_error("1\n", "no header line");
	expect_state_error("1\n3 web 1 s1 2 0 1 1\n\n", "expected a header line");
	expect_state_error("1\n# be_id be_name srv_id srv_name srv_op_state srv_admin_state srv_iweight\n\n",
			   "no column 'srv_uweight'");
	expect_state_error("1\n" HDR "3 web 1 s1 2 0 1\n\n", "line 3: 7 fields, the header has 8");
	expect_state_error("1\n" HDR "3 web 1 s1 2 0 1 1 9\n\n", "line 3: 9 fields, the header has 8");
	expect_state_error("1\n" HDR "3 web 1 s1 2 0 - 1\n\n", "column 'srv_uweight' is empty");
	expect_state_error("1\n" HDR "3 web 1 s1 2 0 1x 1\n\n", "column 'srv_uweight' is not a number");
	expect_state_error("1\n" HDR "3 web 1 s1 2 0 1 1\n", "no final empty line");

	/* an optional column may be "-" */
	sw_arena_init(&a);
	assert_int_equal(parse_state("1\n" HDR "- web - s1 2 0 7 1\n\n", sizeof("1\n" HDR "- web - s1 2 0 7 1\n\n") - 1,
				     &a, &rows, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].id, SW_HAPROXY_NONE);
	assert_int_equal(rows[0].weight, 7);
	assert_int_equal(rows[0].check_state, SW_HAPROXY_NONE);

	load("servers_state_drain_maint.txt", &b);
	for (cut = 0; cut < b.len; cut++) {
		sw_err_clear(&err);
		if (parse_state(b.data, cut, &a, &rows, &n, &err) == 0)
			fail_msg("a cut answer of %zu of %zu bytes parsed", cut, b.len);
		assert_int_equal(err.code, SW_EIO);
	}
	sw_arena_release(&a);
	sw_buf_release(&b);
}

static void test_parse_weight(void **state)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	static const char *const bad[] = {
		"", "\n", "abc\n", "25\n", "25 (initial 0\n", "25 (initial 0) x\n", "300 (initial 1)\n",
		"25 (initial 999)\n", "-1 (initial 1)\n", "25  (initial 1)\n", "25 (initial )\n", "25 ()\n",
	};
	unsigned cur = 99, ini = 99;
	size_t i;

	(void)state;
	load("get_weight.txt", &b);
	assert_int_equal(sw_haproxy_parse_weight(b.data, b.len, &cur, &ini, &err), 0);
	assert_int_equal(cur, 25);
	assert_int_equal(ini, 0);
	assert_int_equal(sw_haproxy_parse_weight("256 (7)\n", 8, &cur, &ini, &err), 0);
	assert_int_equal(cur, 256);
	assert_int_equal(ini, 7);
	for (i = 0; i < SW_ARRAY_LEN(bad); i++) {
		char *c = exact(bad[i], strlen(bad[i]));

		cur = ini = 99;
		if (sw_haproxy_parse_weight(c, strlen(bad[i]), &cur, &ini, &err) == 0)
			fail_msg("'%s' parsed as a weight", bad[i]);
		assert_int_equal(err.code, SW_EIO);
		assert_int_equal(cur, 99);
		free(c);
	}
	sw_buf_release(&b);
}

static void test_states_and_names(void **state)
{
	enum sw_traffic_state st;

	(void)state;
	assert_int_equal(sw_haproxy_admin_state(0), SW_TRAFFIC_READY);
	assert_int_equal(sw_haproxy_admin_state(0x08), SW_TRAFFIC_DRAIN);
	assert_int_equal(sw_haproxy_admin_state(0x10), SW_TRAFFIC_DRAIN);
	assert_int_equal(sw_haproxy_admin_state(0x01), SW_TRAFFIC_MAINT);
	assert_int_equal(sw_haproxy_admin_state(0x04), SW_TRAFFIC_MAINT);
	assert_int_equal(sw_haproxy_admin_state(0x09), SW_TRAFFIC_MAINT); /* maint wins over drain */
	assert_int_equal(sw_haproxy_health(1), SW_TRAFFIC_HEALTH_STARTING);
	assert_int_equal(sw_haproxy_health(3), SW_TRAFFIC_HEALTH_STOPPING);
	assert_int_equal(sw_haproxy_health(7), SW_TRAFFIC_HEALTH_UNKNOWN);
	assert_string_equal(sw_traffic_state_name(SW_TRAFFIC_DRAIN), "drain");
	assert_int_equal(sw_traffic_state_parse("maint", 5, &st), 0);
	assert_int_equal(st, SW_TRAFFIC_MAINT);
	assert_int_equal(sw_traffic_state_parse("main", 4, &st), -1);
	assert_int_equal(sw_traffic_state_parse("ready!", 6, &st), -1);
	assert_string_equal(sw_traffic_health_name(SW_TRAFFIC_HEALTH_UP), "up");
}

/* ---- addresses, names, transport --------------------------------------------- */

static void test_address(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;
	char longp[200];

	(void)state;
	assert_int_equal(sw_haproxy_init(&h, "/run/haproxy/admin.sock", &err), 0);
	assert_int_equal(h.family, AF_UNIX);
	assert_string_equal(h.sa.un.sun_path, "/run/haproxy/admin.sock");
	assert_int_equal(h.timeout_ms, 1000);
	assert_int_equal(h.connect_timeout_ms, 1000);
	assert_int_equal(h.max_response, 4u << 20);
	assert_ptr_equal(h.traffic.ops->set_weight != NULL, 1);
	assert_string_equal(h.traffic.ops->name, "haproxy");
	assert_int_equal(sw_haproxy_init(&h, "unix@/tmp/a.sock", &err), 0);
	assert_string_equal(h.sa.un.sun_path, "/tmp/a.sock");
	assert_int_equal(sw_haproxy_init(&h, "admin.sock", &err), 0);
	assert_int_equal(h.family, AF_UNIX);
	assert_int_equal(sw_haproxy_init(&h, "ipv4@127.0.0.1:9999", &err), 0);
	assert_int_equal(h.family, AF_INET);
	assert_int_equal(ntohs(h.sa.in.sin_port), 9999);
	assert_int_equal(ntohl(h.sa.in.sin_addr.s_addr), 0x7f000001);
	assert_int_equal(sw_haproxy_init(&h, "127.0.0.1:80", &err), 0);
	assert_int_equal(h.family, AF_INET);
	assert_int_equal(ntohs(h.sa.in.sin_port), 80);

	assert_int_equal(sw_haproxy_init(&h, "", &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_int_equal(sw_haproxy_init(&h, "ipv4@127.0.0.1:0", &err), -1);
	assert_string_equal(err.msg, "bad haproxy socket address 'ipv4@127.0.0.1:0': expected ipv4@<a.b.c.d>:<port>");
	assert_int_equal(sw_haproxy_init(&h, "ipv4@127.0.0.1:70000", &err), -1);
	assert_int_equal(sw_haproxy_init(&h, "127.0.0.1:x", &err), -1);
	assert_string_equal(err.msg, "bad haproxy socket address '127.0.0.1:x': expected <a.b.c.d>:<port>");
	assert_int_equal(sw_haproxy_init(&h, "ipv4@localhost:80", &err), -1);
	assert_int_equal(sw_haproxy_init(&h, "ipv6@::1:80", &err), -1);
	assert_non_null(strstr(err.msg, "unsupported haproxy socket address 'ipv6@::1:80'"));
	assert_int_equal(sw_haproxy_init(&h, "unix@", &err), -1);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(sw_haproxy_init(&h, longp, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "is longer than 127 bytes"));
	longp[120] = '\0'; /* fits the address, not sun_path */
	assert_int_equal(sw_haproxy_init(&h, longp, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "is longer than 107 bytes"));
	longp[107] = '\0';
	assert_int_equal(sw_haproxy_init(&h, longp, &err), 0);
}

static void test_bad_names_never_reach_haproxy(void **state)
{
	static const char *const bad[] = { "", "a b", "web;shutdown", "web\nshow", "web/s1", "a\"b", "é" };
	struct sw_traffic_weight w[2] = { { "s1", 1 }, { "s1", 2 } };
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;
	struct sw_buf out = SW_BUF_INIT(100);
	char path[512];
	size_t i, badi = 0;
	unsigned c, in;

	(void)state;
	/* The socket does not exist: reaching the network would be SW_EIO. */
	assert_int_equal(sw_haproxy_init(&h, tmp_path("none.sock", path, sizeof(path)), &err), 0);
	for (i = 0; i < SW_ARRAY_LEN(bad); i++) {
		assert_int_equal(sw_haproxy_set_weight(&h, bad[i], "s1", 1, &err), -1);
		assert_int_equal(err.code, SW_EINPUT);
		assert_int_equal(sw_haproxy_set_state(&h, "web", bad[i], SW_TRAFFIC_DRAIN, &err), -1);
		assert_int_equal(err.code, SW_EINPUT);
		assert_int_equal(sw_haproxy_get_weight(&h, "web", bad[i], &c, &in, &err), -1);
		assert_int_equal(err.code, SW_EINPUT);
	}
	assert_int_equal(sw_haproxy_set_weight(&h, "web", "a b", 1, &err), -1);
	assert_string_equal(err.msg,
			    "bad haproxy server name 'a b': use only letters, digits, '-', '_', '.' and ':'");
	assert_int_equal(sw_haproxy_set_weight(&h, "web", "s1", 257, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_string_equal(err.msg, "weight 257 of 'web/s1' is out of range 0..256");
	assert_int_equal(sw_haproxy_set_state(&h, "web", "s1", (enum sw_traffic_state)7, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_int_equal(sw_haproxy_set_weights(&h, "web", w, 2, &badi, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_string_equal(err.msg, "server 'web/s1' is given two weights");
	assert_int_equal(sw_haproxy_command(&h, "show stat\nshutdown sessions", &out, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_int_equal(sw_haproxy_command(&h, "show info; show stat", &out, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_int_equal(sw_haproxy_command(&h, "", &out, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_int_equal(sw_haproxy_set_weights(&h, "web", w, 0, &badi, &err), 0); /* nothing to do */
	sw_buf_release(&out);
}

static void test_socket_missing(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;
	char path[512], want[1024];

	(void)state;
	tmp_path("missing.sock", path, sizeof(path));
	assert_int_equal(sw_haproxy_init(&h, path, &err), 0);
	assert_int_equal(sw_haproxy_set_weight(&h, "web", "s1", 5, &err), -1);
	assert_int_equal(err.code, SW_EIO);
	snprintf(want, sizeof(want), "cannot connect to haproxy at '%s': No such file or directory", path);
	assert_string_equal(err.msg, want);
}

static void test_tcp_refused(void **state)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t sl = sizeof(in);
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;
	char addr[64];
	int fd;

	(void)state;
	/* a port that was free a moment ago */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &sl), 0);
	close(fd);
	snprintf(addr, sizeof(addr), "ipv4@127.0.0.1:%d", ntohs(in.sin_port));
	assert_int_equal(sw_haproxy_init(&h, addr, &err), 0);
	assert_int_equal(sw_haproxy_exec(&h, "show info", &err), -1);
	assert_int_equal(err.code, SW_EIO);
	assert_non_null(strstr(err.msg, "Connection refused"));
}

/* A socket that accepts connections into its backlog and never answers. */
static void test_timeout(void **state)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf out = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_haproxy h;
	char path[512];
	uint64_t t0, ms;
	int fd;

	(void)state;
	tmp_path("silent.sock", path, sizeof(path));
	unlink(path);
	sw_strlcpy(un.sun_path, path, sizeof(un.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(sw_haproxy_init(&h, path, &err), 0);
	h.timeout_ms = 150;
	t0 = sw_clock_mono_ms();
	assert_int_equal(sw_haproxy_command(&h, "show info", &out, &err), -1);
	ms = sw_clock_mono_ms() - t0;
	assert_int_equal(err.code, SW_ETIMEOUT);
	assert_non_null(strstr(err.msg, "did not answer 'show info' within 150 ms"));
	assert_true(ms >= 140 && ms < 1000);
	close(fd);
	unlink(path);
	sw_buf_release(&out);
}

/* ---- a forked fake runtime API ------------------------------------------------ */

struct fake_answer {
	const char *prefix; /* command prefix */
	const char *text;
	size_t len;
};

struct fake {
	pid_t pid;
	char path[108];
};

static void fake_serve(int lfd, const struct fake_answer *ans, size_t n, size_t chunk, unsigned delay_us)
{
	for (;;) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		char line[2048];
		size_t got = 0, i, off;
		const struct fake_answer *a = NULL;
		int c;

		if (poll(&p, 1, 10000) <= 0)
			_exit(0);
		c = accept(lfd, NULL, NULL);
		if (c < 0)
			_exit(1);
		while (got < sizeof(line) - 1) {
			ssize_t r = read(c, line + got, sizeof(line) - 1 - got);

			if (r <= 0)
				break;
			got += (size_t)r;
			if (memchr(line, '\n', got))
				break;
		}
		line[got] = '\0';
		for (i = 0; i < n && !a; i++)
			if (strncmp(line, ans[i].prefix, strlen(ans[i].prefix)) == 0)
				a = &ans[i];
		if (a) {
			for (off = 0; off < a->len;) {
				size_t k = a->len - off < chunk ? a->len - off : chunk;
				ssize_t w = write(c, a->text + off, k);

				if (w <= 0)
					break;
				off += (size_t)w;
				if (delay_us)
					usleep(delay_us);
			}
		} else {
			(void)!write(c, "Unknown command.\n\n", 18);
		}
		close(c);
	}
}

static void fake_start(struct fake *f, const char *name, const struct fake_answer *ans, size_t n, size_t chunk,
		       unsigned delay_us)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char path[512];
	int fd;

	tmp_path(name, path, sizeof(path));
	assert_int_equal(sw_strlcpy(f->path, path, sizeof(f->path)), 0);
	unlink(path);
	sw_strlcpy(un.sun_path, path, sizeof(un.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
	assert_int_equal(listen(fd, 16), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		fake_serve(fd, ans, n, chunk, delay_us);
		_exit(0);
	}
	close(fd);
}

static void fake_stop(struct fake *f)
{
	int st;

	kill(f->pid, SIGKILL);
	waitpid(f->pid, &st, 0);
	unlink(f->path);
}

static void test_fake_partial_reads(void **state)
{
	struct sw_buf stat = SW_BUF_INIT(SW_BUF_UNLIMITED), resp = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy_stat *rows;
	struct sw_haproxy h;
	struct sw_arena a;
	struct fake f;
	size_t n;

	(void)state;
	load("show_stat_checkout.csv", &stat);
	{
		struct fake_answer ans[] = { { "show stat checkout -1 -1\n", stat.data, stat.len } };

		/* 7-byte writes with pauses: the client must join them */
		fake_start(&f, "partial.sock", ans, 1, 7, 200);
		sw_arena_init(&a);
		assert_int_equal(sw_haproxy_init(&h, f.path, &err), 0);
		h.timeout_ms = 5000;
		if (sw_haproxy_show_stat(&h, "checkout", &resp, &a, &rows, &n, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(n, 4);
		assert_int_equal(resp.len, stat.len);
		assert_memory_equal(resp.data, stat.data, stat.len);
		assert_int_equal(find_stat(rows, n, "checkout", "green-1")->stot, 9);
		fake_stop(&f);
		sw_arena_release(&a);
	}
	sw_buf_release(&stat);
	sw_buf_release(&resp);
}

static void test_fake_size_cap(void **state)
{
	struct sw_buf resp = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;
	struct fake f;
	char *big = malloc(300000);

	(void)state;
	memset(big, 'x', 300000);
	{
		struct fake_answer ans[] = { { "show info", big, 300000 } };

		fake_start(&f, "big.sock", ans, 1, 65536, 0);
		assert_int_equal(sw_haproxy_init(&h, f.path, &err), 0);
		h.max_response = 100000;
		assert_int_equal(sw_haproxy_command(&h, "show info", &resp, &err), -1);
		assert_int_equal(err.code, SW_EIO);
		assert_non_null(strstr(err.msg, "to 'show info' is larger than 100000 bytes"));
		assert_int_equal(resp.len, 0); /* nothing half-read is left */
		sw_buf_reset(&resp);
		h.max_response = 300000; /* exactly fits */
		assert_int_equal(sw_haproxy_command(&h, "show info", &resp, &err), 0);
		assert_int_equal(resp.len, 300000);
		fake_stop(&f);
	}
	free(big);
	sw_buf_release(&resp);
}

/* An answer that keeps trickling in: the deadline holds for the whole answer. */
static void test_fake_slow_answer(void **state)
{
	struct sw_buf resp = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;
	struct fake f;
	char *slow = malloc(20000);
	uint64_t t0, ms;

	(void)state;
	memset(slow, 'y', 20000);
	{
		struct fake_answer ans[] = { { "show info", slow, 20000 } };

		fake_start(&f, "slow.sock", ans, 1, 10, 1000); /* 10 bytes a ms: 2 s in all */
		assert_int_equal(sw_haproxy_init(&h, f.path, &err), 0);
		h.timeout_ms = 150;
		t0 = sw_clock_mono_ms();
		assert_int_equal(sw_haproxy_command(&h, "show info", &resp, &err), -1);
		ms = sw_clock_mono_ms() - t0;
		assert_int_equal(err.code, SW_ETIMEOUT);
		assert_true(ms >= 140 && ms < 1000);
		assert_int_equal(resp.len, 0);
		fake_stop(&f);
	}
	free(slow);
	sw_buf_release(&resp);
}

#define STATE_HDR "1\n" HDR
static const char fake_state_ok[] = STATE_HDR "3 web 1 s1 2 0 25 1\n3 web 2 s2 2 0 75 1\n3 web 3 s3 2 8 0 1\n\n";
static const char fake_state_lost[] = STATE_HDR "3 web 1 s1 2 0 25 1\n3 web 2 s2 2 0 1 1\n\n";
#define A(prefix, lit) { prefix, lit, sizeof(lit) - 1 }

static void test_fake_set_weights(void **state)
{
	struct fake_answer ok[] = {
		A("set server web/s1 weight 25\n", "\n"),
		A("set server web/s2 weight 75\n", "\n"),
		A("set server web/s3 weight 0\n", "\n"),
		A("set server web/s4 weight", "No such server.\n\n"),
		A("show servers state web\n", fake_state_ok),
	};
	struct fake_answer lost[] = {
		A("set server web/", "\n"),
		A("show servers state web\n", fake_state_lost),
	};
	struct sw_traffic_weight w[] = { { "s1", 25 }, { "s2", 75 }, { "s3", 0 }, { "s4", 5 } };
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;
	struct fake f;
	char want[1024];
	size_t bad = 42;

	(void)state;
	fake_start(&f, "weights.sock", ok, SW_ARRAY_LEN(ok), 4096, 0);
	assert_int_equal(sw_haproxy_init(&h, f.path, &err), 0);
	if (sw_traffic_set_weights(&h.traffic, "web", w, 3, &bad, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(bad, SIZE_MAX);
	/* s4 is refused by haproxy: reported as SW_EFAILED quoting it, bad = 3 */
	assert_int_equal(sw_haproxy_set_weights(&h, "web", w, 4, &bad, &err), -1);
	assert_int_equal(err.code, SW_EFAILED);
	assert_int_equal(bad, 3);
	snprintf(want, sizeof(want), "haproxy at '%s' refused 'set server web/s4 weight 5': 'No such server.'", f.path);
	assert_string_equal(err.msg, want);
	fake_stop(&f);

	/* haproxy answers every set with nothing, but s2 and s3 did not keep theirs */
	fake_start(&f, "weights2.sock", lost, SW_ARRAY_LEN(lost), 4096, 0);
	assert_int_equal(sw_haproxy_init(&h, f.path, &err), 0);
	assert_int_equal(sw_haproxy_set_weights(&h, "web", w, 3, &bad, &err), -1);
	assert_int_equal(err.code, SW_EFAILED);
	assert_int_equal(bad, 1);
	snprintf(want, sizeof(want),
		 "haproxy at '%s' did not keep the weights of backend 'web': 's2' has 1 (asked 75), 's3' is not listed",
		 f.path);
	assert_string_equal(err.msg, want);
	fake_stop(&f);
}

static void test_fake_errors_and_ops(void **state)
{
	struct sw_buf stat = SW_BUF_INIT(SW_BUF_UNLIMITED), st = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_buf e1 = SW_BUF_INIT(4096), e2 = SW_BUF_INIT(4096), e3 = SW_BUF_INIT(4096);
	struct sw_buf resp = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	struct sw_traffic_server *srv;
	struct sw_traffic_stats *sts;
	struct sw_haproxy_stat *rows;
	const struct sw_traffic_server *s;
	const struct sw_traffic_stats *x;
	struct sw_haproxy h;
	struct sw_arena a;
	struct fake f;
	char want[1024];
	unsigned cur, ini;
	size_t n;

	(void)state;
	load("show_stat_drain_maint.csv", &stat);
	load("servers_state_drain_maint.txt", &st);
	load("err_no_such_proxy.txt", &e1);
	load("err_cant_find_backend.txt", &e2);
	load("err_require_backend_server.txt", &e3);
	{
		struct fake_answer ans[] = {
			{ "show stat checkout -1 -1\n", stat.data, stat.len },
			{ "show servers state checkout\n", st.data, st.len },
			{ "show stat nope", e1.data, e1.len },
			{ "show servers state nope", e2.data, e2.len },
			{ "set server web weight", e3.data, e3.len },
			A("show stat nohdr", "web,s1,1,\n\n"),
			A("show stat prose", "Unknown command, but maybe one of the following:\n  help\n\n"),
			A("get weight web/s1\n", "25 (initial 1)\n\n"),
			A("get weight web/s2\n", "No such server.\n\n"),
			A("get weight web/s3\n", "25 initial\n\n"),
		};

		fake_start(&f, "ops.sock", ans, SW_ARRAY_LEN(ans), 100, 0);
		assert_int_equal(sw_haproxy_init(&h, f.path, &err), 0);
		sw_arena_init(&a);

		if (sw_traffic_servers(&h.traffic, "checkout", &a, &srv, &n, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(n, 3);
		s = sw_traffic_find_server(srv, n, "green-1");
		assert_non_null(s);
		assert_string_equal(s->addr, "127.0.0.1:18082");
		assert_int_equal(s->weight, 25);
		assert_int_equal(s->initial_weight, 0);
		assert_int_equal(s->state, SW_TRAFFIC_DRAIN);
		assert_int_equal(s->health, SW_TRAFFIC_HEALTH_UP);
		assert_true(s->checked);
		s = sw_traffic_find_server(srv, n, "green-2");
		assert_int_equal(s->state, SW_TRAFFIC_MAINT);
		assert_int_equal(s->health, SW_TRAFFIC_HEALTH_DOWN);
		assert_false(s->checked);
		assert_null(sw_traffic_find_server(srv, n, "nope"));

		if (sw_traffic_stats(&h.traffic, "checkout", &a, &sts, &n, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(n, 3); /* servers only, no BACKEND row */
		x = sw_traffic_find_stats(sts, n, "blue-1");
		assert_non_null(x);
		assert_string_equal(x->status, "UP");
		assert_string_equal(x->check_status, "L4OK");
		assert_int_equal(x->stot, 22);
		assert_int_equal(x->hrsp_5xx, 1);
		x = sw_traffic_find_stats(sts, n, "green-2");
		assert_string_equal(x->status, "MAINT");
		assert_string_equal(x->check_status, "");
		assert_null(sw_traffic_find_stats(sts, n, "BACKEND"));

		assert_int_equal(sw_haproxy_show_stat(&h, "nope", &resp, &a, &rows, &n, &err), -1);
		assert_int_equal(err.code, SW_EFAILED);
		snprintf(want, sizeof(want), "haproxy at '%s' refused 'show stat nope -1 -1': 'No such proxy.'", f.path);
		assert_string_equal(err.msg, want);
		assert_int_equal(sw_haproxy_show_stat(&h, "nohdr", &resp, &a, &rows, &n, &err), -1);
		assert_int_equal(err.code, SW_EIO); /* CSV that lost its header: a bad answer */
		assert_non_null(strstr(err.msg, "to 'show stat nohdr -1 -1': line 1: expected a header line"));
		assert_int_equal(sw_haproxy_show_stat(&h, "prose", &resp, &a, &rows, &n, &err), -1);
		assert_int_equal(err.code, SW_EFAILED); /* prose: haproxy's own words */
		assert_non_null(strstr(err.msg, ": 'Unknown command, but maybe one of the following: help'"));
		assert_int_equal(sw_traffic_servers(&h.traffic, "nope", &a, &srv, &n, &err), -1);
		assert_int_equal(err.code, SW_EFAILED);
		assert_non_null(strstr(err.msg, "refused 'show servers state nope': 'Can't find backend.'"));
		assert_int_equal(sw_haproxy_exec(&h, "set server web weight 1", &err), -1);
		assert_int_equal(err.code, SW_EFAILED);
		assert_non_null(strstr(err.msg, "refused 'set server web weight 1': 'Require 'backend/server'.'"));

		assert_int_equal(sw_haproxy_get_weight(&h, "web", "s1", &cur, &ini, &err), 0);
		assert_int_equal(cur, 25);
		assert_int_equal(ini, 1);
		assert_int_equal(sw_haproxy_get_weight(&h, "web", "s2", &cur, &ini, &err), -1);
		assert_int_equal(err.code, SW_EFAILED);
		assert_non_null(strstr(err.msg, "'No such server.'"));
		assert_int_equal(sw_haproxy_get_weight(&h, "web", "s3", &cur, &ini, &err), -1);
		assert_int_equal(err.code, SW_EIO);
		assert_non_null(strstr(err.msg, "bad answer of haproxy at"));
		/* an unknown command gets haproxy's text back as the error */
		assert_int_equal(sw_haproxy_set_state(&h, "web", "s1", SW_TRAFFIC_READY, &err), -1);
		assert_int_equal(err.code, SW_EFAILED);
		assert_non_null(strstr(err.msg, "'Unknown command.'"));
		fake_stop(&f);
		sw_arena_release(&a);
	}
	sw_buf_release(&stat);
	sw_buf_release(&st);
	sw_buf_release(&e1);
	sw_buf_release(&e2);
	sw_buf_release(&e3);
	sw_buf_release(&resp);
}

/* ---- scenario group against a real haproxy --------------------------------- */

struct e2e {
	const char *sock, *tcp, *backend;
	char servers[8][64];
	size_t nservers;
	struct sockaddr_in fe;
};

static struct e2e E;

static int e2e_setup(void **state)
{
	const char *s = getenv("SLIPWAY_HAPROXY_SOCKET"), *list, *fe;
	char host[64];
	const char *colon;

	(void)state;
	if (!s || !*s)
		return 0;
	E.sock = s;
	E.tcp = getenv("SLIPWAY_HAPROXY_TCP");
	E.backend = getenv("SLIPWAY_HAPROXY_BACKEND");
	list = getenv("SLIPWAY_HAPROXY_SERVERS");
	fe = getenv("SLIPWAY_HAPROXY_FRONTEND");
	if (!E.backend || !list || !fe)
		return -1;
	while (*list && E.nservers < SW_ARRAY_LEN(E.servers)) {
		size_t k = strcspn(list, ",");

		if (k == 0 || k >= sizeof(E.servers[0]))
			return -1;
		memcpy(E.servers[E.nservers], list, k);
		E.servers[E.nservers++][k] = '\0';
		list += k + (list[k] == ',');
	}
	colon = strrchr(fe, ':');
	if (E.nservers < 2 || !colon || (size_t)(colon - fe) >= sizeof(host))
		return -1;
	memcpy(host, fe, (size_t)(colon - fe));
	host[colon - fe] = '\0';
	E.fe.sin_family = AF_INET;
	E.fe.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
	if (inet_pton(AF_INET, host, &E.fe.sin_addr) != 1)
		return -1;
	return 0;
}

#define E2E_REQUIRED()                                                          \
	do {                                                                    \
		if (!E.sock)                                                    \
			skip(); /* needs SLIPWAY_HAPROXY_SOCKET: see tests/e2e */ \
	} while (0)

static void e2e_init(struct sw_haproxy *h)
{
	struct sw_err err = SW_ERR_INIT;

	if (sw_haproxy_init(h, E.sock, &err) < 0)
		fail_msg("%s", err.msg);
}

/* One HTTP/1.0 GET through the frontend; returns the status code, bounded by 2 s. */
static int http_get(const char *path)
{
	struct timeval tv = { .tv_sec = 2 };
	char req[256], buf[4096];
	size_t got = 0;
	int fd, code = -1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&E.fe, sizeof(E.fe)) < 0)
		goto out;
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: test\r\n\r\n", path);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto out;
	for (;;) {
		ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);

		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == sizeof(buf) - 1)
			got = 16; /* keep the status line, drop the body */
	}
	buf[got] = '\0';
	if (got >= 12 && strncmp(buf, "HTTP/1.", 7) == 0)
		code = (int)strtol(buf + 9, NULL, 10);
out:
	close(fd);
	return code;
}

static void e2e_weights(const unsigned *w)
{
	struct sw_traffic_weight tw[8];
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;
	size_t i;

	e2e_init(&h);
	for (i = 0; i < E.nservers; i++) {
		tw[i].server = E.servers[i];
		tw[i].weight = w[i];
	}
	if (sw_haproxy_set_weights(&h, E.backend, tw, E.nservers, NULL, &err) < 0)
		fail_msg("%s", err.msg);
}

/* stot per server, in E.servers order */
static void e2e_stot(int64_t *out, int64_t *x2)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_traffic_stats *st;
	struct sw_haproxy h;
	struct sw_arena a;
	size_t n, i;

	e2e_init(&h);
	sw_arena_init(&a);
	if (sw_traffic_stats(&h.traffic, E.backend, &a, &st, &n, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(n, E.nservers);
	for (i = 0; i < E.nservers; i++) {
		const struct sw_traffic_stats *x = sw_traffic_find_stats(st, n, E.servers[i]);

		assert_non_null(x);
		out[i] = x->stot;
		if (x2)
			x2[i] = x->hrsp_2xx;
	}
	sw_arena_release(&a);
}

static void e2e_reset(void)
{
	unsigned w[8];
	size_t i;
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;

	e2e_init(&h);
	for (i = 0; i < E.nservers; i++) {
		w[i] = 10;
		if (sw_haproxy_set_state(&h, E.backend, E.servers[i], SW_TRAFFIC_READY, &err) < 0)
			fail_msg("%s", err.msg);
	}
	e2e_weights(w);
}

static void e2e_weight_round_trip(void **state)
{
	static const unsigned weights[] = { 0, 1, 17, 256, 10 };
	struct sw_err err = SW_ERR_INIT;
	struct sw_traffic_server *srv;
	struct sw_haproxy h, t;
	struct sw_arena a;
	unsigned cur, ini, ini0;
	size_t i, n;

	(void)state;
	E2E_REQUIRED();
	e2e_init(&h);
	if (sw_haproxy_get_weight(&h, E.backend, E.servers[0], &cur, &ini0, &err) < 0)
		fail_msg("%s", err.msg);
	for (i = 0; i < SW_ARRAY_LEN(weights); i++) {
		if (sw_traffic_set_weight(&h.traffic, E.backend, E.servers[0], weights[i], &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(sw_haproxy_get_weight(&h, E.backend, E.servers[0], &cur, &ini, &err), 0);
		assert_int_equal(cur, weights[i]);
		assert_int_equal(ini, ini0);
	}
	/* the same through the TCP admin socket, read back through the UNIX one */
	if (E.tcp && *E.tcp) {
		if (sw_haproxy_init(&t, E.tcp, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(t.family, AF_INET);
		if (sw_haproxy_set_weight(&t, E.backend, E.servers[1], 33, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(sw_haproxy_get_weight(&h, E.backend, E.servers[1], &cur, &ini, &err), 0);
		assert_int_equal(cur, 33);
	}
	sw_arena_init(&a);
	if (sw_traffic_servers(&h.traffic, E.backend, &a, &srv, &n, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(n, E.nservers);
	assert_int_equal(sw_traffic_find_server(srv, n, E.servers[0])->weight, 10);
	if (E.tcp && *E.tcp)
		assert_int_equal(sw_traffic_find_server(srv, n, E.servers[1])->weight, 33);
	sw_arena_release(&a);
	e2e_reset();
}

static void e2e_set_weights_confirmed(void **state)
{
	struct sw_traffic_weight w[3];
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;
	unsigned cur, ini;
	size_t bad = 0;

	(void)state;
	E2E_REQUIRED();
	e2e_init(&h);
	w[0].server = E.servers[0];
	w[0].weight = 40;
	w[1].server = E.servers[1];
	w[1].weight = 60;
	if (sw_traffic_set_weights(&h.traffic, E.backend, w, 2, &bad, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(bad, SIZE_MAX);
	assert_int_equal(sw_haproxy_get_weight(&h, E.backend, E.servers[1], &cur, &ini, &err), 0);
	assert_int_equal(cur, 60);
	/* a server haproxy does not know: its answer is quoted, the index reported */
	w[1].server = "no-such-server";
	w[2].server = E.servers[1];
	w[2].weight = 1;
	assert_int_equal(sw_haproxy_set_weights(&h, E.backend, w, 3, &bad, &err), -1);
	assert_int_equal(err.code, SW_EFAILED);
	assert_int_equal(bad, 1);
	assert_non_null(strstr(err.msg, "refused 'set server "));
	assert_non_null(strstr(err.msg, "/no-such-server weight 60': 'No such server.'"));
	/* weights before the refusal stay, after it were not sent */
	assert_int_equal(sw_haproxy_get_weight(&h, E.backend, E.servers[1], &cur, &ini, &err), 0);
	assert_int_equal(cur, 60);
	e2e_reset();
}

static void e2e_drain_maint(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_traffic_server *srv;
	struct sw_traffic_stats *st;
	struct sw_haproxy h;
	struct sw_arena a;
	int64_t before[8], after[8];
	unsigned w[8];
	size_t n, i;
	static const struct {
		enum sw_traffic_state state;
		const char *status;
	} steps[] = {
		{ SW_TRAFFIC_DRAIN, "DRAIN" },
		{ SW_TRAFFIC_MAINT, "MAINT" },
		{ SW_TRAFFIC_READY, "UP" },
	};

	(void)state;
	E2E_REQUIRED();
	e2e_init(&h);
	for (i = 0; i < E.nservers; i++)
		w[i] = 10;
	e2e_weights(w);
	for (i = 0; i < SW_ARRAY_LEN(steps); i++) {
		const struct sw_traffic_stats *x;

		sw_arena_init(&a);
		if (sw_traffic_set_state(&h.traffic, E.backend, E.servers[0], steps[i].state, &err) < 0)
			fail_msg("%s", err.msg);
		if (sw_traffic_servers(&h.traffic, E.backend, &a, &srv, &n, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(sw_traffic_find_server(srv, n, E.servers[0])->state, steps[i].state);
		assert_int_equal(sw_traffic_find_server(srv, n, E.servers[1])->state, SW_TRAFFIC_READY);
		if (sw_traffic_stats(&h.traffic, E.backend, &a, &st, &n, &err) < 0)
			fail_msg("%s", err.msg);
		x = sw_traffic_find_stats(st, n, E.servers[0]);
		assert_non_null(x);
		if (strncmp(x->status, steps[i].status, strlen(steps[i].status)) != 0)
			fail_msg("state %s: status '%s', want '%s'", sw_traffic_state_name(steps[i].state), x->status,
				 steps[i].status);
		if (steps[i].state != SW_TRAFFIC_READY) {
			/* neither drain nor maint gets new requests */
			size_t k;

			e2e_stot(before, NULL);
			for (k = 0; k < 30; k++)
				assert_int_equal(http_get("/"), 200);
			e2e_stot(after, NULL);
			assert_int_equal(after[0], before[0]);
		}
		sw_arena_release(&a);
	}
	e2e_reset();
}

static void e2e_errors(void **state)
{
	struct sw_buf resp = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy_stat *rows;
	struct sw_traffic_server *srv;
	struct sw_haproxy h;
	struct sw_arena a;
	char want[1024];
	unsigned c, i;
	size_t n;

	(void)state;
	E2E_REQUIRED();
	e2e_init(&h);
	sw_arena_init(&a);
	assert_int_equal(sw_haproxy_set_weight(&h, "no-such-backend", E.servers[0], 5, &err), -1);
	assert_int_equal(err.code, SW_EFAILED);
	snprintf(want, sizeof(want), "haproxy at '%s' refused 'set server no-such-backend/%s weight 5': 'No such backend.'",
		 E.sock, E.servers[0]);
	assert_string_equal(err.msg, want);
	assert_int_equal(sw_haproxy_set_state(&h, E.backend, "no-such-server", SW_TRAFFIC_DRAIN, &err), -1);
	assert_int_equal(err.code, SW_EFAILED);
	snprintf(want, sizeof(want), "haproxy at '%s' refused 'set server %s/no-such-server state drain': 'No such server.'",
		 E.sock, E.backend);
	assert_string_equal(err.msg, want);
	assert_int_equal(sw_haproxy_exec(&h, "set server nobackendslash weight 1", &err), -1);
	assert_int_equal(err.code, SW_EFAILED);
	assert_non_null(strstr(err.msg, ": 'Require 'backend/server'.'"));
	assert_int_equal(sw_haproxy_get_weight(&h, E.backend, "no-such-server", &c, &i, &err), -1);
	assert_int_equal(err.code, SW_EFAILED);
	assert_non_null(strstr(err.msg, "'No such server.'"));
	assert_int_equal(sw_haproxy_show_stat(&h, "no-such-backend", &resp, &a, &rows, &n, &err), -1);
	assert_int_equal(err.code, SW_EFAILED);
	assert_non_null(strstr(err.msg, "'No such proxy.'"));
	assert_int_equal(sw_traffic_servers(&h.traffic, "no-such-backend", &a, &srv, &n, &err), -1);
	assert_int_equal(err.code, SW_EFAILED);
	assert_non_null(strstr(err.msg, "'Can't find backend.'"));
	assert_int_equal(sw_haproxy_exec(&h, "no-such-command", &err), -1);
	assert_int_equal(err.code, SW_EFAILED);
	assert_non_null(strstr(err.msg, "'Unknown command"));
	sw_arena_release(&a);
	sw_buf_release(&resp);
}

static void e2e_socket_missing(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;
	char path[512], want[1024];
	const char *slash;

	(void)state;
	E2E_REQUIRED();
	slash = strrchr(E.sock, '/');
	snprintf(path, sizeof(path), "%.*s/missing.sock", slash ? (int)(slash - E.sock) : 1, slash ? E.sock : ".");
	assert_int_equal(sw_haproxy_init(&h, path, &err), 0);
	assert_int_equal(sw_haproxy_set_weight(&h, E.backend, E.servers[0], 5, &err), -1);
	assert_int_equal(err.code, SW_EIO);
	snprintf(want, sizeof(want), "cannot connect to haproxy at '%s': No such file or directory", path);
	assert_string_equal(err.msg, want);
}

static void e2e_stats_counters(void **state)
{
	int64_t before[8], after[8], b2[8], a2[8], d = 0, d2 = 0;
	unsigned w[8];
	size_t i;
	const int N = 60;

	(void)state;
	E2E_REQUIRED();
	for (i = 0; i < E.nservers; i++)
		w[i] = 10;
	e2e_weights(w);
	e2e_stot(before, b2);
	for (i = 0; i < (size_t)N; i++)
		assert_int_equal(http_get("/"), 200);
	e2e_stot(after, a2);
	for (i = 0; i < E.nservers; i++) {
		assert_true(after[i] >= before[i]);
		d += after[i] - before[i];
		d2 += a2[i] - b2[i];
	}
	assert_int_equal(d, N);
	assert_int_equal(d2, N);
	print_message("MEASURE stats: %d requests, stot delta %lld, hrsp_2xx delta %lld\n", N, (long long)d,
		      (long long)d2);
}

/* The real split of 400 requests at 25/75 (other servers 0), from haproxy's counters. */
static void e2e_weight_split(void **state)
{
	int64_t before[8], after[8];
	unsigned w[8] = { 0 };
	size_t i;
	const int N = 400;
	double share;

	(void)state;
	E2E_REQUIRED();
	w[0] = 25;
	w[1] = 75;
	e2e_weights(w);
	e2e_stot(before, NULL);
	for (i = 0; i < (size_t)N; i++)
		assert_int_equal(http_get("/"), 200);
	e2e_stot(after, NULL);
	for (i = 2; i < E.nservers; i++)
		assert_int_equal(after[i], before[i]); /* weight 0: no traffic */
	assert_int_equal((after[0] - before[0]) + (after[1] - before[1]), N);
	share = (double)(after[0] - before[0]) / N;
	print_message("MEASURE split: weights 25/75 -> %lld/%lld of %d (%.1f%% on the 25)\n",
		      (long long)(after[0] - before[0]), (long long)(after[1] - before[1]), N, share * 100);
	/* binomial sd at n=400, p=.25 is 2.2 points; allow ~3.5 sd */
	assert_true(share > 0.17 && share < 0.33);

	/* flip at once: the next 400 follow the new weights */
	w[0] = 75;
	w[1] = 25;
	e2e_weights(w);
	e2e_stot(before, NULL);
	for (i = 0; i < (size_t)N; i++)
		assert_int_equal(http_get("/"), 200);
	e2e_stot(after, NULL);
	share = (double)(after[0] - before[0]) / N;
	print_message("MEASURE split: weights 75/25 -> %lld/%lld of %d (%.1f%% on the 75)\n",
		      (long long)(after[0] - before[0]), (long long)(after[1] - before[1]), N, share * 100);
	assert_true(share > 0.67 && share < 0.83);
	e2e_reset();
}

/* A raw interactive (prompt mode) session, only to compare with one connection per command. */
static int prompt_open(void)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char buf[256];
	size_t got = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sw_strlcpy(un.sun_path, E.sock, sizeof(un.sun_path));
	if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0 || write(fd, "prompt\n", 7) != 7)
		return -1;
	while (got < 2 || memcmp(buf + got - 2, "> ", 2) != 0) {
		ssize_t r = read(fd, buf + got, sizeof(buf) - got);

		if (r <= 0 || (got += (size_t)r) >= sizeof(buf))
			return -1;
	}
	return fd;
}

static int prompt_cmd(int fd, const char *cmd)
{
	char buf[4096];
	size_t got = 0, len = strlen(cmd);

	if (write(fd, cmd, len) != (ssize_t)len)
		return -1;
	while (got < 3 || memcmp(buf + got - 3, "\n> ", 3) != 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 2000) <= 0)
			return -1;
		r = read(fd, buf + got, sizeof(buf) - got);
		if (r <= 0 || (got += (size_t)r) >= sizeof(buf))
			return -1;
	}
	return got == 3 ? 0 : -1; /* "\n> ": an empty answer */
}

static void e2e_latency(void **state)
{
	enum { RUNS = 100 };
	uint64_t t_set[RUNS], t_get[RUNS], t_confirm[RUNS], t_prompt[RUNS];
	struct sw_traffic_weight w[2];
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy h;
	unsigned cur, ini;
	char cmd[256];
	size_t i;
	int fd;

	(void)state;
	E2E_REQUIRED();
	e2e_init(&h);
	for (i = 0; i < RUNS; i++) {
		uint64_t t0 = now_us();

		if (sw_haproxy_set_weight(&h, E.backend, E.servers[0], (unsigned)(i % 200) + 1, &err) < 0)
			fail_msg("%s", err.msg);
		t_set[i] = now_us() - t0;
		t0 = now_us();
		if (sw_haproxy_get_weight(&h, E.backend, E.servers[0], &cur, &ini, &err) < 0)
			fail_msg("%s", err.msg);
		t_get[i] = now_us() - t0;
		assert_int_equal(cur, (unsigned)(i % 200) + 1);
	}
	w[0].server = E.servers[0];
	w[1].server = E.servers[1];
	for (i = 0; i < RUNS; i++) {
		uint64_t t0 = now_us();

		w[0].weight = (unsigned)(i % 100) + 1;
		w[1].weight = 101 - w[0].weight;
		if (sw_haproxy_set_weights(&h, E.backend, w, 2, NULL, &err) < 0)
			fail_msg("%s", err.msg);
		t_confirm[i] = now_us() - t0;
	}
	fd = prompt_open();
	assert_true(fd >= 0);
	for (i = 0; i < RUNS; i++) {
		uint64_t t0 = now_us();

		snprintf(cmd, sizeof(cmd), "set server %s/%s weight %u\n", E.backend, E.servers[0], (unsigned)(i % 200) + 1);
		assert_int_equal(prompt_cmd(fd, cmd), 0);
		t_prompt[i] = now_us() - t0;
	}
	close(fd);
	qsort(t_set, RUNS, sizeof(t_set[0]), cmp_u64);
	qsort(t_get, RUNS, sizeof(t_get[0]), cmp_u64);
	qsort(t_confirm, RUNS, sizeof(t_confirm[0]), cmp_u64);
	qsort(t_prompt, RUNS, sizeof(t_prompt[0]), cmp_u64);
	print_message("MEASURE latency (median of %d, p90 in brackets): set weight %llu us [%llu], get weight %llu us [%llu], "
		      "set_weights 2 servers + read-back %llu us [%llu], prompt-mode set weight %llu us [%llu]\n",
		      RUNS, (unsigned long long)t_set[RUNS / 2], (unsigned long long)t_set[RUNS * 9 / 10],
		      (unsigned long long)t_get[RUNS / 2], (unsigned long long)t_get[RUNS * 9 / 10],
		      (unsigned long long)t_confirm[RUNS / 2], (unsigned long long)t_confirm[RUNS * 9 / 10],
		      (unsigned long long)t_prompt[RUNS / 2], (unsigned long long)t_prompt[RUNS * 9 / 10]);
	/* generous bound: a weight change is a local socket round trip */
	assert_true(t_set[RUNS / 2] < 50000);
	e2e_reset();
}

int main(void)
{
	const struct CMUnitTest unit[] = {
		cmocka_unit_test_teardown(test_parse_stat_recorded, teardown_kept),
		cmocka_unit_test_teardown(test_parse_stat_drain_maint, teardown_kept),
		cmocka_unit_test_teardown(test_parse_stat_by_header_names, teardown_kept),
		cmocka_unit_test_teardown(test_parse_stat_broken, teardown_kept),
		cmocka_unit_test_teardown(test_parse_servers_state_recorded, teardown_kept),
		cmocka_unit_test_teardown(test_parse_servers_state_broken, teardown_kept),
		cmocka_unit_test_teardown(test_parse_weight, teardown_kept),
		cmocka_unit_test_teardown(test_states_and_names, teardown_kept),
		cmocka_unit_test_teardown(test_address, teardown_kept),
		cmocka_unit_test_teardown(test_bad_names_never_reach_haproxy, teardown_kept),
		cmocka_unit_test_teardown(test_socket_missing, teardown_kept),
		cmocka_unit_test_teardown(test_tcp_refused, teardown_kept),
		cmocka_unit_test_teardown(test_timeout, teardown_kept),
		cmocka_unit_test_teardown(test_fake_partial_reads, teardown_kept),
		cmocka_unit_test_teardown(test_fake_size_cap, teardown_kept),
		cmocka_unit_test_teardown(test_fake_slow_answer, teardown_kept),
		cmocka_unit_test_teardown(test_fake_set_weights, teardown_kept),
		cmocka_unit_test_teardown(test_fake_errors_and_ops, teardown_kept),
	};
	const struct CMUnitTest e2e[] = {
		cmocka_unit_test(e2e_weight_round_trip),
		cmocka_unit_test(e2e_set_weights_confirmed),
		cmocka_unit_test(e2e_drain_maint),
		cmocka_unit_test(e2e_errors),
		cmocka_unit_test(e2e_socket_missing),
		cmocka_unit_test(e2e_stats_counters),
		cmocka_unit_test(e2e_weight_split),
		cmocka_unit_test(e2e_latency),
	};
	int fails;

	signal(SIGPIPE, SIG_IGN);
	fails = cmocka_run_group_tests_name("haproxy", unit, NULL, NULL);
	fails += cmocka_run_group_tests_name("haproxy_e2e", e2e, e2e_setup, NULL);
	if (tmpdir[0])
		rmdir(tmpdir);
	return fails ? 1 : 0;
}
