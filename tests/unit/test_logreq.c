/*
 * test_logreq.c - unit tests for server/logreq.h, the log requests between
 * `slipway logs` and an agent: handed to the host they name, once; answered
 * only by that host; the answer reaches the asker once; a request given up
 * is refused to a late answer; the caps per host; and the checks of the
 * query (field-named 400s) and of the agent's answer (server/validate.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/logreq.h"
#include "server/validate.h"

#include <stdio.h>
#include <string.h>

static struct sw_logreq_params params(const char *service, char slot, int64_t offset)
{
	struct sw_logreq_params p;

	memset(&p, 0, sizeof(p));
	snprintf(p.service, sizeof(p.service), "%s", service);
	p.slot = slot;
	p.offset = offset;
	p.lines = 20;
	p.max_bytes = 65536;
	return p;
}

static void flow_once_and_only_its_host(void **state)
{
	struct sw_logreqs *q = sw_logreqs_new();
	struct sw_logreq_params p = params("hello", 'a', -1);
	struct sw_err err = SW_ERR_INIT;
	json_t *reqs, *answer = NULL;
	int64_t id;

	(void)state;
	assert_int_equal(sw_logreqs_add(q, "h-1", &p, &id, &err), 0);
	assert_false(sw_logreqs_pending(q, "h-2"));
	assert_null(sw_logreqs_take(q, "h-2"));
	assert_true(sw_logreqs_pending(q, "h-1"));
	reqs = sw_logreqs_take(q, "h-1");
	assert_int_equal(json_array_size(reqs), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 0), "id")), id);
	assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, 0), "service")), "hello");
	assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, 0), "slot")), "a");
	assert_null(json_object_get(json_array_get(reqs, 0), "offset")); /* a tail */
	json_decref(reqs);
	/* Handed over once: the next long-poll is not answered early again. */
	assert_false(sw_logreqs_pending(q, "h-1"));
	assert_null(sw_logreqs_take(q, "h-1"));
	assert_int_equal(sw_logreqs_result(q, id, &answer), 0);
	/* Another host cannot answer it. */
	assert_int_equal(sw_logreqs_answer(q, "h-2", id, json_pack("{s:s}", "data", "forged"), &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_int_equal(sw_logreqs_answer(q, "h-1", id, json_pack("{s:s}", "data", "real"), &err), 0);
	/* Answered once. */
	assert_int_equal(sw_logreqs_answer(q, "h-1", id, json_pack("{s:s}", "data", "again"), &err), -1);
	assert_int_equal(sw_logreqs_result(q, id, &answer), 1);
	assert_string_equal(json_string_value(json_object_get(answer, "data")), "real");
	json_decref(answer);
	assert_int_equal(sw_logreqs_result(q, id, &answer), 0);
	assert_int_equal(sw_logreqs_count(q), 0);
	sw_logreqs_free(q);
}

static void given_up_and_caps(void **state)
{
	struct sw_logreqs *q = sw_logreqs_new();
	struct sw_logreq_params p = params("", 0, 42);
	struct sw_err err = SW_ERR_INIT;
	json_t *reqs;
	int64_t id, other;
	int i;

	(void)state;
	assert_int_equal(sw_logreqs_add(q, "h-1", &p, &id, &err), 0);
	reqs = sw_logreqs_take(q, "h-1");
	assert_null(json_object_get(json_array_get(reqs, 0), "service")); /* the host's only service */
	assert_null(json_object_get(json_array_get(reqs, 0), "slot"));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 0), "offset")), 42);
	json_decref(reqs);
	sw_logreqs_cancel(q, id);
	assert_int_equal(sw_logreqs_answer(q, "h-1", id, json_object(), &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	for (i = 0; i < SW_LOGREQ_PER_HOST; i++)
		assert_int_equal(sw_logreqs_add(q, "h-1", &p, &id, &err), 0);
	assert_int_equal(sw_logreqs_add(q, "h-1", &p, &id, &err), -1);
	assert_int_equal(err.code, SW_EBUSY);
	assert_int_equal(sw_logreqs_add(q, "h-2", &p, &other, &err), 0); /* another host still may */
	assert_int_equal(sw_logreqs_count(q), SW_LOGREQ_PER_HOST + 1);
	sw_logreqs_free(q); /* frees what is still in flight */
}

static void query_fields_named(void **state)
{
	struct sw_val_logs_query q;
	struct sw_err err = SW_ERR_INIT;
	struct sw_val_logs_args in;

	(void)state;
	memset(&in, 0, sizeof(in));
	assert_int_equal(sw_val_logs_query(&in, &q, &err), 0);
	assert_null(q.service);
	assert_int_equal(q.slot, 0);
	assert_int_equal(q.offset, -1);
	assert_int_equal(q.lines, 20);
	assert_int_equal(q.max_bytes, 65536);
	assert_int_equal(q.wait_s, 10);
	in.service = "../x";
	assert_int_equal(sw_val_logs_query(&in, &q, &err), -1);
	assert_string_equal(err.where, "service");
	in.service = "hello";
	in.slot = "ab";
	assert_int_equal(sw_val_logs_query(&in, &q, &err), -1);
	assert_string_equal(err.where, "slot");
	in.slot = "b";
	in.offset = "-5";
	assert_int_equal(sw_val_logs_query(&in, &q, &err), -1);
	assert_string_equal(err.where, "offset");
	in.offset = "7";
	in.lines = "0";
	assert_int_equal(sw_val_logs_query(&in, &q, &err), -1);
	assert_string_equal(err.where, "lines");
	in.lines = "3";
	in.max_bytes = "65537";
	assert_int_equal(sw_val_logs_query(&in, &q, &err), -1);
	assert_string_equal(err.where, "max_bytes");
	in.max_bytes = "10";
	in.wait = "31";
	assert_int_equal(sw_val_logs_query(&in, &q, &err), -1);
	assert_string_equal(err.where, "wait");
	in.wait = "2";
	assert_int_equal(sw_val_logs_query(&in, &q, &err), 0);
	assert_string_equal(q.service, "hello");
	assert_int_equal(q.slot, 'b');
	assert_int_equal(q.offset, 7);
	assert_int_equal(q.lines, 3);
	assert_int_equal(q.max_bytes, 10);
	assert_int_equal(q.wait_s, 2);
}

static int answer(const char *text, int64_t *id, json_t **out, struct sw_err *err)
{
	json_t *b = json_loads(text, 0, NULL);
	int rc;

	assert_non_null(b);
	rc = sw_val_agent_logs(b, id, out, err);
	json_decref(b);
	return rc;
}

static void agent_answer_checked(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	json_t *out = NULL;
	int64_t id;

	(void)state;
	assert_int_equal(answer("{\"id\": 2, \"service\": \"hello\", \"slot\": \"a\", \"offset\": 0, \"next_offset\": 3, "
				"\"size\": 3, \"data\": \"hi\\n\", \"more\": false, \"extra\": 1}",
				&id, &out, &err),
			 0);
	assert_int_equal(id, 2);
	assert_null(json_object_get(out, "extra")); /* only the known fields go on */
	assert_string_equal(json_string_value(json_object_get(out, "data")), "hi\n");
	assert_false(json_is_true(json_object_get(out, "restarted")));
	json_decref(out);
	assert_int_equal(answer("{\"id\": 2, \"error\": {\"code\": \"not_found\", \"message\": \"no log\"}}", &id, &out,
				&err),
			 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(out, "error"), "code")), "not_found");
	json_decref(out);
	assert_int_equal(answer("{\"id\": 0}", &id, &out, &err), -1);
	assert_string_equal(err.where, "id");
	assert_int_equal(answer("{\"id\": 2, \"service\": \"hello\", \"slot\": \"a\", \"offset\": 5, \"next_offset\": 3, "
				"\"size\": 3, \"data\": \"\"}",
				&id, &out, &err),
			 -1);
	assert_string_equal(err.where, "next_offset");
	assert_int_equal(answer("{\"id\": 2, \"error\": {\"code\": \"boom\", \"message\": \"x\"}}", &id, &out, &err), -1);
	assert_string_equal(err.where, "error.code");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flow_once_and_only_its_host),
		cmocka_unit_test(given_up_and_caps),
		cmocka_unit_test(query_fields_named),
		cmocka_unit_test(agent_answer_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
