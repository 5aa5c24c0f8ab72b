/*
 * test_routes.c - unit tests for server/routes.c: path matching with
 * {params}, method mismatch (405) versus unknown path (404), limits on
 * parameters, and the real table (every route reachable, unique, documented).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "server/routes.h"

#include <stdio.h>
#include <string.h>

static int fn_a(struct sw_api *a, struct sw_err *err)
{
	(void)a;
	(void)err;
	return 0;
}

static const struct sw_route table[] = {
	{ "GET", "/v1/things", SW_ACCESS_VIEWER, SW_ROUTE_BODY_NONE, fn_a, "-", "-", "list" },
	{ "POST", "/v1/things", SW_ACCESS_DEPLOYER, SW_ROUTE_BODY_JSON, fn_a, "-", "-", "create" },
	{ "GET", "/v1/things/{id}", SW_ACCESS_VIEWER, SW_ROUTE_BODY_NONE, fn_a, "-", "-", "get" },
	{ "POST", "/v1/things/{id}/poke", SW_ACCESS_ADMIN, SW_ROUTE_BODY_NONE, fn_a, "-", "-", "poke" },
	{ "GET", "/v1/things/{id}/{part}", SW_ACCESS_VIEWER, SW_ROUTE_BODY_NONE, fn_a, "-", "-", "part" },
};
#define NT (sizeof(table) / sizeof(table[0]))

static void test_literal_and_method(void **state)
{
	const struct sw_route *r;
	struct sw_route_params p;

	(void)state;
	assert_int_equal(sw_route_match(table, NT, "GET", "/v1/things", &r, &p), SW_ROUTE_FOUND);
	assert_ptr_equal(r, &table[0]);
	assert_int_equal(p.n, 0);
	assert_int_equal(sw_route_match(table, NT, "POST", "/v1/things", &r, &p), SW_ROUTE_FOUND);
	assert_ptr_equal(r, &table[1]);
	assert_int_equal(sw_route_match(table, NT, "DELETE", "/v1/things", &r, &p), SW_ROUTE_NO_METHOD);
	assert_null(r);
	assert_int_equal(sw_route_match(table, NT, "GET", "/v1/other", &r, &p), SW_ROUTE_NO_PATH);
	assert_int_equal(sw_route_match(table, NT, "GET", "/v1/things/", &r, &p), SW_ROUTE_NO_PATH);
	assert_int_equal(sw_route_match(table, NT, "GET", "/v1/thing", &r, &p), SW_ROUTE_NO_PATH);
	assert_int_equal(sw_route_match(table, NT, "GET", "/v1/thingsX", &r, &p), SW_ROUTE_NO_PATH);
	assert_int_equal(sw_route_match(table, NT, "GET", "v1/things", &r, &p), SW_ROUTE_NO_PATH);
	assert_int_equal(sw_route_match(table, NT, "GET", "", &r, &p), SW_ROUTE_NO_PATH);
	assert_int_equal(sw_route_match(table, NT, "GET", "/", &r, &p), SW_ROUTE_NO_PATH);
	assert_int_equal(sw_route_match(table, NT, "GET", "//v1/things", &r, &p), SW_ROUTE_NO_PATH);
}

static void test_params(void **state)
{
	const struct sw_route *r;
	struct sw_route_params p;

	(void)state;
	assert_int_equal(sw_route_match(table, NT, "GET", "/v1/things/abc-1", &r, &p), SW_ROUTE_FOUND);
	assert_ptr_equal(r, &table[2]);
	assert_int_equal(p.n, 1);
	assert_string_equal(sw_route_param(&p, "id"), "abc-1");
	assert_null(sw_route_param(&p, "part"));

	/* A literal segment beats a later parameter route for its method. */
	assert_int_equal(sw_route_match(table, NT, "POST", "/v1/things/7/poke", &r, &p), SW_ROUTE_FOUND);
	assert_ptr_equal(r, &table[3]);
	assert_string_equal(sw_route_param(&p, "id"), "7");
	assert_int_equal(sw_route_match(table, NT, "GET", "/v1/things/7/poke", &r, &p), SW_ROUTE_FOUND);
	assert_ptr_equal(r, &table[4]);
	assert_string_equal(sw_route_param(&p, "part"), "poke");
	assert_int_equal(sw_route_match(table, NT, "POST", "/v1/things/7/other", &r, &p), SW_ROUTE_NO_METHOD);

	assert_int_equal(sw_route_match(table, NT, "GET", "/v1/things/7/a/b", &r, &p), SW_ROUTE_NO_PATH);
	assert_int_equal(sw_route_match(table, NT, "GET", "/v1/things//x", &r, &p), SW_ROUTE_NO_PATH);
}

static void test_param_too_long(void **state)
{
	char path[SW_ROUTE_PARAM_MAX + 32];
	const struct sw_route *r;
	struct sw_route_params p;

	(void)state;
	memcpy(path, "/v1/things/", 11);
	memset(path + 11, 'x', SW_ROUTE_PARAM_MAX - 1);
	path[11 + SW_ROUTE_PARAM_MAX - 1] = '\0';
	assert_int_equal(sw_route_match(table, NT, "GET", path, &r, &p), SW_ROUTE_FOUND);
	assert_int_equal(strlen(sw_route_param(&p, "id")), SW_ROUTE_PARAM_MAX - 1);
	memset(path + 11, 'x', SW_ROUTE_PARAM_MAX);
	path[11 + SW_ROUTE_PARAM_MAX] = '\0';
	assert_int_equal(sw_route_match(table, NT, "GET", path, &r, &p), SW_ROUTE_NO_PATH);
}

/* The real table: each route is found by its own pattern and no two share method + pattern. */
static void test_real_table(void **state)
{
	char path[512], *o;
	const char *s;
	const struct sw_route *r;
	struct sw_route_params p;
	size_t i, j;

	(void)state;
	assert_true(sw_route_count >= 19);
	for (i = 0; i < sw_route_count; i++) {
		const struct sw_route *want = &sw_routes[i];

		assert_non_null(want->fn);
		assert_non_null(want->summary);
		assert_true(strlen(want->summary) > 0);
		for (j = 0; j < i; j++)
			assert_false(!strcmp(sw_routes[j].method, want->method) &&
				     !strcmp(sw_routes[j].pattern, want->pattern));
		/* Fill {params} with a value that is not a literal anywhere. */
		for (s = want->pattern, o = path; *s; s++) {
			if (*s == '{') {
				memcpy(o, "zz9", 3);
				o += 3;
				s = strchr(s, '}');
			} else {
				*o++ = *s;
			}
		}
		*o = '\0';
		assert_int_equal(sw_route_find(want->method, path, &r, &p), SW_ROUTE_FOUND);
		assert_ptr_equal(r, want);
	}
	assert_int_equal(sw_route_find("POST", "/api/v1/releases/abc/commit", &r, &p), SW_ROUTE_FOUND);
	assert_string_equal(r->pattern, "/api/v1/releases/{digest}/commit");
	assert_int_equal(sw_route_find("PUT", "/api/v1/releases/abc/release.json", &r, &p), SW_ROUTE_FOUND);
	assert_string_equal(sw_route_param(&p, "file"), "release.json");
	assert_int_equal(r->body, SW_ROUTE_BODY_FILE);
	assert_int_equal(sw_route_find("GET", "/api/v1/agent/desired", &r, &p), SW_ROUTE_FOUND);
	assert_int_equal(r->access, SW_ACCESS_AGENT);
	assert_int_equal(sw_route_find("GET", "/api/v1/health", &r, &p), SW_ROUTE_FOUND);
	assert_int_equal(r->access, SW_ACCESS_PUBLIC);
}

static void test_markdown(void **state)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	char line[600];
	size_t i;

	(void)state;
	assert_int_equal(sw_routes_markdown(&b), 0);
	assert_true(!strncmp(b.data, "# HTTP API\n", 11));
	for (i = 0; i < sw_route_count; i++) {
		snprintf(line, sizeof(line), "| %s | `%s` | %s |\n", sw_routes[i].method, sw_routes[i].pattern,
			 sw_access_name(sw_routes[i].access));
		assert_non_null(strstr(b.data, line));
		snprintf(line, sizeof(line), "### %s %s\n", sw_routes[i].method, sw_routes[i].pattern);
		assert_non_null(strstr(b.data, line));
	}
	sw_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal_and_method), cmocka_unit_test(test_params),
		cmocka_unit_test(test_param_too_long),     cmocka_unit_test(test_real_table),
		cmocka_unit_test(test_markdown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
