/*
 * test_http.c - unit tests for server/http.c: the one sw_err -> HTTP status
 * and JSON error body mapping, and listen address parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/http.h"

#include <string.h>

static void test_status_table(void **state)
{
	static const struct {
		enum sw_code code;
		unsigned status;
		const char *name;
	} m[] = {
		{ SW_EINPUT, 400, "bad_request" },   { SW_EAUTH, 401, "unauthorized" },
		{ SW_EDENIED, 403, "forbidden" },    { SW_ENOTFOUND, 404, "not_found" },
		{ SW_EBUSY, 409, "conflict" },       { SW_EINTEGRITY, 422, "integrity" },
		{ SW_ETIMEOUT, 504, "timeout" },     { SW_EIO, 500, "internal" },
		{ SW_EFAILED, 500, "internal" },     { SW_EINTERNAL, 500, "internal" },
		{ SW_ECANCELED, 500, "internal" },
	};
	struct sw_err err = SW_ERR_INIT;
	const char *code;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		err.code = m[i].code;
		assert_int_equal(sw_http_err_status(&err, &code), m[i].status);
		assert_string_equal(code, m[i].name);
	}
	assert_int_equal(sw_http_err_status(NULL, &code), 500);
}

static void test_error_body(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	unsigned status = 0;
	json_t *doc, *e;

	(void)state;
	sw_err_set(&err, SW_EINPUT, "missing field 'role'");
	sw_strlcpy(err.where, "role", sizeof(err.where));
	doc = sw_http_err_body(&err, "r-7", &status);
	assert_int_equal(status, 400);
	e = json_object_get(doc, "error");
	assert_string_equal(json_string_value(json_object_get(e, "code")), "bad_request");
	assert_string_equal(json_string_value(json_object_get(e, "message")), "missing field 'role'");
	assert_string_equal(json_string_value(json_object_get(e, "field")), "role");
	assert_string_equal(json_string_value(json_object_get(e, "request_id")), "r-7");
	json_decref(doc);

	/* where is a field only for bad input; elsewhere it may be a path and is not shown. */
	sw_err_setloc(&err, SW_EIO, "/var/lib/slipway/slipway.db", 0, 0, "disk full");
	doc = sw_http_err_body(&err, NULL, &status);
	assert_int_equal(status, 500);
	e = json_object_get(doc, "error");
	assert_true(json_is_null(json_object_get(e, "field")));
	assert_null(json_object_get(e, "request_id"));
	json_decref(doc);

	sw_err_set(&err, SW_EAUTH, "join token already used");
	doc = sw_http_err_body(&err, "r-1", &status);
	assert_int_equal(status, 401);
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "error"), "message")),
			    "join token already used");
	json_decref(doc);
}

/* Client bytes quoted in messages: the body stays valid UTF-8 without control characters. */
static void test_error_body_clean(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	json_t *doc, *e;

	(void)state;
	sw_err_set(&err, SW_EINPUT, "unknown field '\xc3'\x01 caf\xc3\xa9 \xed\xa0\x80'");
	sw_strlcpy(err.where, "na\xffme", sizeof(err.where));
	doc = sw_http_err_body(&err, "r-2", NULL);
	e = json_object_get(doc, "error");
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "message")), "unknown field '?'? caf\xc3\xa9 ?" "?" "?'");
	assert_string_equal(json_string_value(json_object_get(e, "field")), "na?me");
	json_decref(doc);
}

static void test_parse_listen(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	char host[64];
	unsigned port;

	(void)state;
	assert_int_equal(sw_http_parse_listen("127.0.0.1:7070", host, sizeof(host), &port, &err), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 7070);
	assert_int_equal(sw_http_parse_listen(":0", host, sizeof(host), &port, &err), 0);
	assert_string_equal(host, "");
	assert_int_equal(port, 0);
	assert_int_equal(sw_http_parse_listen("[::1]:8080", host, sizeof(host), &port, &err), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 8080);
	assert_int_equal(sw_http_parse_listen("localhost:1", host, sizeof(host), &port, &err), 0);
	assert_string_equal(host, "localhost");
	assert_int_equal(sw_http_parse_listen("7070", host, sizeof(host), &port, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_int_equal(sw_http_parse_listen("1.2.3.4:65536", host, sizeof(host), &port, &err), -1);
	assert_int_equal(sw_http_parse_listen("1.2.3.4:", host, sizeof(host), &port, &err), -1);
	assert_int_equal(sw_http_parse_listen("::1:80", host, sizeof(host), &port, &err), -1);
	assert_non_null(strstr(err.msg, "brackets"));
	assert_int_equal(sw_http_parse_listen("[::1]80", host, sizeof(host), &port, &err), -1);
	assert_int_equal(sw_http_parse_listen("", host, sizeof(host), &port, &err), -1);
	assert_int_equal(sw_http_parse_listen("a-very-long-host-name-that-does-not-fit-in-the-sixty-four-byte-buffer:1", host,
					      sizeof(host), &port, &err),
			 -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_table),
		cmocka_unit_test(test_error_body),
		cmocka_unit_test(test_error_body_clean),
		cmocka_unit_test(test_parse_listen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
