/*
 * test_validate.c - unit tests for server/validate.c: body parsing (the
 * position of malformed JSON), and each body's checks naming the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/validate.h"

#include <string.h>

static json_t *parse(const char *text)
{
	struct sw_err err = SW_ERR_INIT;
	json_t *v = NULL;

	if (sw_val_body(text, strlen(text), &v, &err) < 0)
		fail_msg("unexpected parse failure: %s", err.msg);
	return v;
}

/* Expect the validator to fail naming field. */
#define EXPECT_FIELD(call, field)                                    \
	do {                                                         \
		struct sw_err e_ = SW_ERR_INIT;                      \
		struct sw_err *err = &e_;                            \
		assert_int_equal((call), -1);                        \
		assert_int_equal(e_.code, SW_EINPUT);                \
		assert_string_equal(e_.where, (field));              \
		assert_non_null(strstr(e_.msg, (field)));            \
	} while (0)

static void test_body(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	json_t *v = NULL;

	(void)state;
	assert_int_equal(sw_val_body("", 0, &v, &err), 0);
	assert_null(v);
	assert_int_equal(sw_val_body(" \n\t", 3, &v, &err), 0);
	assert_null(v);
	assert_int_equal(sw_val_body("{\"a\": 1,\n \"b\": }", 16, &v, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "line 2, column"));
	assert_string_equal(err.where, "");
	assert_int_equal(sw_val_body("[]", 2, &v, &err), -1);
	assert_non_null(strstr(err.msg, "JSON object"));
	assert_int_equal(sw_val_body("{\"a\":1,\"a\":2}", 13, &v, &err), -1);
	assert_int_equal(sw_val_body("{\"a\":1} x", 9, &v, &err), -1);
	assert_int_equal(sw_val_body("{\"a\":1}", 7, &v, &err), 0);
	assert_true(json_is_object(v));
	json_decref(v);
}

static void test_token_create(void **state)
{
	const char *name;
	enum sw_role role;
	json_t *b;

	(void)state;
	b = parse("{\"role\": \"deployer\", \"name\": \"ci\"}");
	assert_int_equal(sw_val_token_create(b, &name, &role, NULL), 0);
	assert_string_equal(name, "ci");
	assert_int_equal(role, SW_ROLE_DEPLOYER);
	json_decref(b);
	b = parse("{\"role\": \"viewer\"}");
	assert_int_equal(sw_val_token_create(b, &name, &role, NULL), 0);
	assert_string_equal(name, "");
	json_decref(b);
	EXPECT_FIELD(sw_val_token_create(NULL, &name, &role, err), "role");
	b = parse("{\"name\": \"x\"}");
	EXPECT_FIELD(sw_val_token_create(b, &name, &role, err), "role");
	json_decref(b);
	b = parse("{\"role\": \"god\"}");
	EXPECT_FIELD(sw_val_token_create(b, &name, &role, err), "role");
	json_decref(b);
	b = parse("{\"role\": \"admin\", \"extra\": true}");
	EXPECT_FIELD(sw_val_token_create(b, &name, &role, err), "extra");
	json_decref(b);
	b = parse("{\"role\": \"admin\", \"name\": \"a\\u0001b\"}");
	EXPECT_FIELD(sw_val_token_create(b, &name, &role, err), "name");
	json_decref(b);
}

static void test_join_create(void **state)
{
	const json_t *labels;
	const char *replace;
	uint64_t ttl;
	json_t *b;

	(void)state;
	assert_int_equal(sw_val_join_create(NULL, &labels, &replace, &ttl, NULL), 0);
	assert_int_equal(ttl, SW_VAL_TTL_DEFAULT_MS);
	assert_null(labels);
	b = parse("{\"labels\": {\"env\": \"prod\", \"topology.kubernetes.io/zone\": \"a\"}, \"ttl\": \"10m\"}");
	assert_int_equal(sw_val_join_create(b, &labels, &replace, &ttl, NULL), 0);
	assert_int_equal(ttl, 600000);
	assert_string_equal(json_string_value(json_object_get(labels, "env")), "prod");
	json_decref(b);
	b = parse("{\"ttl\": \"0s\"}");
	EXPECT_FIELD(sw_val_join_create(b, &labels, &replace, &ttl, err), "ttl");
	json_decref(b);
	b = parse("{\"ttl\": \"200h\"}");
	EXPECT_FIELD(sw_val_join_create(b, &labels, &replace, &ttl, err), "ttl");
	json_decref(b);
	b = parse("{\"labels\": {\"bad key\": \"x\"}}");
	EXPECT_FIELD(sw_val_join_create(b, &labels, &replace, &ttl, err), "labels");
	json_decref(b);
	b = parse("{\"labels\": [\"env=prod\"]}");
	EXPECT_FIELD(sw_val_join_create(b, &labels, &replace, &ttl, err), "labels");
	json_decref(b);
	assert_null(replace);
	b = parse("{\"replace\": \"web-1\"}");
	assert_int_equal(sw_val_join_create(b, &labels, &replace, &ttl, NULL), 0);
	assert_string_equal(replace, "web-1");
	json_decref(b);
	b = parse("{\"replace\": \"-bad name\"}");
	EXPECT_FIELD(sw_val_join_create(b, &labels, &replace, &ttl, err), "replace");
	json_decref(b);
}

static void test_enroll(void **state)
{
	struct sw_val_enroll e;
	json_t *b;

	(void)state;
	b = parse("{\"join_token\": \"swj_x\", \"name\": \"web-1\", \"labels\": {\"a\": \"b\"}, \"ports\": [9001, 9002],"
		  " \"version\": \"future\"}");
	assert_int_equal(sw_val_enroll(b, &e, NULL), 0);
	assert_string_equal(e.name, "web-1");
	assert_int_equal(e.ports[0], 9001);
	assert_int_equal(e.ports[1], 9002);
	json_decref(b);
	b = parse("{\"name\": \"web-1\", \"ports\": [1, 2]}");
	EXPECT_FIELD(sw_val_enroll(b, &e, err), "join_token");
	json_decref(b);
	b = parse("{\"join_token\": \"j\", \"name\": \"../etc\", \"ports\": [1, 2]}");
	EXPECT_FIELD(sw_val_enroll(b, &e, err), "name");
	json_decref(b);
	b = parse("{\"join_token\": \"j\", \"name\": \"w\", \"ports\": [1]}");
	EXPECT_FIELD(sw_val_enroll(b, &e, err), "ports");
	json_decref(b);
	b = parse("{\"join_token\": \"j\", \"name\": \"w\", \"ports\": [5, 5]}");
	EXPECT_FIELD(sw_val_enroll(b, &e, err), "ports");
	json_decref(b);
	b = parse("{\"join_token\": \"j\", \"name\": \"w\", \"ports\": [0, 70000]}");
	EXPECT_FIELD(sw_val_enroll(b, &e, err), "ports");
	json_decref(b);
}

static void test_agent_status(void **state)
{
	const char *addr;
	int64_t gen;
	json_t *b;

	(void)state;
	b = parse("{\"generation\": 3, \"disk_free_bytes\": 10, \"services\": [{\"service\": \"hello\", \"slot\": \"b\","
		  " \"digest\": \"\", \"state\": \"installing\", \"port\": 9, \"pid\": 0, \"restarts\": 2}]}");
	assert_int_equal(sw_val_agent_status(b, &gen, &addr, NULL), 0);
	assert_int_equal(gen, 3);
	json_decref(b);
	b = parse("{\"services\": []}");
	EXPECT_FIELD(sw_val_agent_status(b, &gen, &addr, err), "generation");
	json_decref(b);
	b = parse("{\"generation\": -1, \"services\": []}");
	EXPECT_FIELD(sw_val_agent_status(b, &gen, &addr, err), "generation");
	json_decref(b);
	b = parse("{\"generation\": 1}");
	EXPECT_FIELD(sw_val_agent_status(b, &gen, &addr, err), "services");
	json_decref(b);
	b = parse("{\"generation\": 1, \"services\": [1]}");
	EXPECT_FIELD(sw_val_agent_status(b, &gen, &addr, err), "services[0]");
	json_decref(b);
	b = parse("{\"generation\": 1, \"services\": [{\"service\": \"a\", \"slot\": \"a\", \"state\": \"healthy\"},"
		  " {\"service\": \"a\", \"slot\": \"a\", \"state\": \"healthy\", \"digest\": \"xyz\"}]}");
	EXPECT_FIELD(sw_val_agent_status(b, &gen, &addr, err), "services[1].digest");
	json_decref(b);
	b = parse("{\"generation\": 1, \"services\": [{\"slot\": \"a\", \"state\": \"healthy\"}]}");
	EXPECT_FIELD(sw_val_agent_status(b, &gen, &addr, err), "services[0].service");
	json_decref(b);
	b = parse("{\"generation\": 1, \"services\": [{\"service\": \"a\", \"slot\": \"a\", \"state\": \"ok\"}]}");
	EXPECT_FIELD(sw_val_agent_status(b, &gen, &addr, err), "services[0].state");
	json_decref(b);
	b = parse("{\"generation\": 1, \"services\": [{\"service\": \"a\", \"slot\": \"a\", \"state\": \"healthy\","
		  " \"port\": \"80\"}]}");
	EXPECT_FIELD(sw_val_agent_status(b, &gen, &addr, err), "services[0].port");
	json_decref(b);
	/* Verdicts: the two the agent knows (or none), with a bounded message. */
	b = parse("{\"generation\": 1, \"services\": [{\"service\": \"a\", \"slot\": \"a\", \"state\": \"unhealthy\","
		  " \"verdict\": \"crashloop\", \"verdict_message\": \"exited 3 times\"}, {\"service\": \"a\", \"slot\": \"b\","
		  " \"state\": \"unhealthy\", \"verdict\": \"unhealthy\"}, {\"service\": \"b\", \"slot\": \"a\","
		  " \"state\": \"healthy\", \"verdict\": \"\"}]}");
	assert_int_equal(sw_val_agent_status(b, &gen, &addr, NULL), 0);
	json_decref(b);
	b = parse("{\"generation\": 1, \"services\": [{\"service\": \"a\", \"slot\": \"a\", \"state\": \"healthy\","
		  " \"verdict\": \"doomed\"}]}");
	EXPECT_FIELD(sw_val_agent_status(b, &gen, &addr, err), "services[0].verdict");
	json_decref(b);
	b = parse("{\"generation\": 1, \"services\": [{\"service\": \"a\", \"slot\": \"a\", \"state\": \"healthy\","
		  " \"verdict_message\": 7}]}");
	EXPECT_FIELD(sw_val_agent_status(b, &gen, &addr, err), "services[0].verdict_message");
	json_decref(b);
	b = parse("{\"generation\": 1, \"services\": [], \"disk_free_bytes\": \"lots\"}");
	EXPECT_FIELD(sw_val_agent_status(b, &gen, &addr, err), "disk_free_bytes");
	json_decref(b);
	/* The address the agent reaches its services on: optional; IPv4, IPv6 or a DNS name. */
	assert_null(addr);
	static const char *const good[] = { "10.0.0.7", "fd00::1", "[fd00::1]", "web-1.example.com", "127.0.0.1" };
	static const char *const bad[] = { "", "10.0.0.7:80", "bad_host", "999.1.1.1", "a b", "-x", "web#1", "[::1" };
	char text[256];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "{\"generation\": 1, \"services\": [], \"address\": \"%s\"}", good[i]);
		b = parse(text);
		assert_int_equal(sw_val_agent_status(b, &gen, &addr, NULL), 0);
		assert_string_equal(addr, good[i]);
		json_decref(b);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"generation\": 1, \"services\": [], \"address\": \"%s\"}", bad[i]);
		b = parse(text);
		EXPECT_FIELD(sw_val_agent_status(b, &gen, &addr, err), "address");
		json_decref(b);
	}
	b = parse("{\"generation\": 1, \"services\": [], \"address\": 7}");
	EXPECT_FIELD(sw_val_agent_status(b, &gen, &addr, err), "address");
	json_decref(b);
}

static void test_host_labels(void **state)
{
	const json_t *set, *rm;
	json_t *b;

	(void)state;
	b = parse("{\"set\": {\"env\": \"prod\", \"ring\": \"1\"}, \"remove\": [\"old\"]}");
	assert_int_equal(sw_val_host_labels(b, &set, &rm, NULL), 0);
	assert_int_equal(json_object_size(set), 2);
	assert_int_equal(json_array_size(rm), 1);
	json_decref(b);
	b = parse("{\"remove\": [\"old\"]}");
	assert_int_equal(sw_val_host_labels(b, &set, &rm, NULL), 0);
	assert_null(set);
	json_decref(b);
	EXPECT_FIELD(sw_val_host_labels(NULL, &set, &rm, err), "set");
	b = parse("{}");
	EXPECT_FIELD(sw_val_host_labels(b, &set, &rm, err), "set");
	json_decref(b);
	b = parse("{\"set\": {}, \"remove\": []}");
	EXPECT_FIELD(sw_val_host_labels(b, &set, &rm, err), "set");
	json_decref(b);
	b = parse("{\"set\": {\"bad key\": \"x\"}}");
	EXPECT_FIELD(sw_val_host_labels(b, &set, &rm, err), "set");
	json_decref(b);
	b = parse("{\"set\": {\"k\": 7}}");
	EXPECT_FIELD(sw_val_host_labels(b, &set, &rm, err), "set");
	json_decref(b);
	b = parse("{\"set\": {\"k\": \"a\\u0001b\"}}");
	EXPECT_FIELD(sw_val_host_labels(b, &set, &rm, err), "set");
	json_decref(b);
	b = parse("{\"remove\": [\"ok\", \"no good\"]}");
	EXPECT_FIELD(sw_val_host_labels(b, &set, &rm, err), "remove[1]");
	json_decref(b);
	b = parse("{\"remove\": \"env\"}");
	EXPECT_FIELD(sw_val_host_labels(b, &set, &rm, err), "remove");
	json_decref(b);
	b = parse("{\"set\": {\"env\": \"a\"}, \"remove\": [\"env\"]}");
	EXPECT_FIELD(sw_val_host_labels(b, &set, &rm, err), "remove[0]");
	json_decref(b);
	b = parse("{\"set\": {\"env\": \"a\"}, \"labels\": {}}");
	EXPECT_FIELD(sw_val_host_labels(b, &set, &rm, err), "labels");
	json_decref(b);
}

static void test_deploy_rollback_abort(void **state)
{
	const char *s, *e, *d, *r;
	struct sw_val_rollback rb;
	bool em;
	json_t *b;

	(void)state;
	b = parse("{\"service\": \"hello\", \"env\": \"staging\", \"digest\": "
		  "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}");
	assert_int_equal(sw_val_deploy(b, &s, &e, &d, NULL), 0);
	assert_string_equal(e, "staging");
	json_decref(b);
	b = parse("{\"service\": \"hello\", \"env\": \"staging\", \"digest\": \"sha256:abc\"}");
	EXPECT_FIELD(sw_val_deploy(b, &s, &e, &d, err), "digest");
	json_decref(b);
	b = parse("{\"env\": \"staging\"}");
	EXPECT_FIELD(sw_val_rollback(b, &rb, err), "service");
	json_decref(b);
	b = parse("{\"service\": \"hello\", \"env\": \"-x\"}");
	EXPECT_FIELD(sw_val_rollback(b, &rb, err), "env");
	json_decref(b);
	b = parse("{\"service\": \"hello\", \"env\": \"staging\", \"emergency\": \"yes\"}");
	EXPECT_FIELD(sw_val_rollback(b, &rb, err), "emergency");
	json_decref(b);
	b = parse("{\"service\": \"hello\", \"env\": \"staging\", \"emergency\": true}");
	assert_int_equal(sw_val_rollback(b, &rb, NULL), 0);
	assert_true(rb.emergency);
	assert_null(rb.to);
	assert_null(rb.reason);
	json_decref(b);
	b = parse("{\"service\": \"hello\", \"env\": \"staging\"}");
	assert_int_equal(sw_val_rollback(b, &rb, NULL), 0);
	assert_false(rb.emergency);
	json_decref(b);
	/* to: a version, a digest or a prefix; reason: free text up to 512 bytes. */
	b = parse("{\"service\": \"hello\", \"env\": \"staging\", \"to\": \"1.0.0+g1a2b\", \"reason\": \"bad build\"}");
	assert_int_equal(sw_val_rollback(b, &rb, NULL), 0);
	assert_string_equal(rb.to, "1.0.0+g1a2b");
	assert_string_equal(rb.reason, "bad build");
	assert_string_equal(rb.service, "hello");
	json_decref(b);
	b = parse("{\"service\": \"hello\", \"env\": \"staging\", \"to\": \"sha256:0123abcd\"}");
	assert_int_equal(sw_val_rollback(b, &rb, NULL), 0);
	json_decref(b);
	b = parse("{\"service\": \"hello\", \"env\": \"staging\", \"to\": \"1.0 0\"}");
	EXPECT_FIELD(sw_val_rollback(b, &rb, err), "to");
	json_decref(b);
	b = parse("{\"service\": \"hello\", \"env\": \"staging\", \"to\": \"\"}");
	EXPECT_FIELD(sw_val_rollback(b, &rb, err), "to");
	json_decref(b);
	b = parse("{\"service\": \"hello\", \"env\": \"staging\", \"to\": 1}");
	EXPECT_FIELD(sw_val_rollback(b, &rb, err), "to");
	json_decref(b);
	b = parse("{\"service\": \"hello\", \"env\": \"staging\", \"reason\": [1]}");
	EXPECT_FIELD(sw_val_rollback(b, &rb, err), "reason");
	json_decref(b);
	EXPECT_FIELD(sw_val_deploy(NULL, &s, &e, &d, err), "service");
	assert_int_equal(sw_val_abort(NULL, &r, &em, NULL), 0);
	assert_null(r);
	b = parse("{\"reason\": 5}");
	EXPECT_FIELD(sw_val_abort(b, &r, &em, err), "reason");
	json_decref(b);
}

static void test_query_int(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	int64_t v;

	(void)state;
	assert_int_equal(sw_val_query_int(NULL, "wait", 0, 30, 7, &v, &err), 0);
	assert_int_equal(v, 7);
	assert_int_equal(sw_val_query_int("12", "wait", 0, 30, 7, &v, &err), 0);
	assert_int_equal(v, 12);
	assert_int_equal(sw_val_query_int("31", "wait", 0, 30, 7, &v, &err), -1);
	assert_string_equal(err.where, "wait");
	assert_int_equal(sw_val_query_int("1x", "after", 0, 30, 7, &v, &err), -1);
	assert_string_equal(err.where, "after");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body),          cmocka_unit_test(test_token_create),
		cmocka_unit_test(test_join_create),   cmocka_unit_test(test_enroll),
		cmocka_unit_test(test_agent_status),
		cmocka_unit_test(test_host_labels),  cmocka_unit_test(test_deploy_rollback_abort),
		cmocka_unit_test(test_query_int),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
