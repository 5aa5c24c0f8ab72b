/*
 * test_logread.c - unit tests for agent/logread.h, what an agent answers to
 * `slipway logs`: the tail's first line, byte ranges with `more`, an
 * offset past the end (a rotated log) read again from 0, the text made
 * safe (no escape sequences, no invalid UTF-8, length kept), and the
 * request's fields checked with field-named errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/logread.h"
#include "base/fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void tail_start_rules(void **state)
{
	const char *b = "one\ntwo\nthree\n";

	(void)state;
	assert_int_equal(sw_logread_tail_start(b, strlen(b), 0, 1), 8);  /* "three\n" */
	assert_int_equal(sw_logread_tail_start(b, strlen(b), 0, 2), 4);  /* "two\nthree\n" */
	assert_int_equal(sw_logread_tail_start(b, strlen(b), 0, 9), 0);  /* fewer lines than asked: all */
	/* A last line without its newline counts as a line. */
	assert_int_equal(sw_logread_tail_start("one\ntwo", 7, 0, 1), 4);
	/* A window inside the file starts inside a line: that part is dropped... */
	assert_int_equal(sw_logread_tail_start("ne\ntwo\n", 7, 100, 5), 3);
	/* ...unless it is all there is (one line longer than the window). */
	assert_int_equal(sw_logread_tail_start("xxxxxxx", 7, 100, 5), 0);
	assert_int_equal(sw_logread_tail_start("xxxxxx\n", 7, 100, 5), 0);
	assert_int_equal(sw_logread_tail_start("", 0, 0, 5), 0);
}

static void sanitize_keeps_length_and_text(void **state)
{
	char s[] = "ok\t\xc3\xa9\n\x1b[31mred\x1b[0m\r\x00x\xff\xc3";
	size_t n = sizeof(s) - 1;

	(void)state;
	sw_logread_sanitize(s, n);
	assert_memory_equal(s, "ok\t\xc3\xa9\n?[31mred?[0m??x??", n);
}

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/test_logread.XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void file_tail_and_ranges(void **state)
{
	struct sw_logread_chunk c;
	struct sw_err err = SW_ERR_INIT;
	char *path = write_tmp("alpha\nbeta\ngamma\n");

	(void)state;
	sw_logread_chunk_init(&c);
	assert_int_equal(sw_logread_file(path, -1, 2, 65536, &c, &err), 0);
	assert_string_equal(c.data.data, "beta\ngamma\n");
	assert_int_equal(c.offset, 6);
	assert_int_equal(c.next_offset, 17);
	assert_int_equal(c.size, 17);
	assert_false(c.restarted);
	/* A range in pieces of 8 bytes: `more` until the end. */
	assert_int_equal(sw_logread_file(path, 0, 20, 8, &c, &err), 0);
	assert_string_equal(c.data.data, "alpha\nbe");
	assert_true(c.more);
	assert_int_equal(sw_logread_file(path, (int64_t)c.next_offset, 20, 8, &c, &err), 0);
	assert_string_equal(c.data.data, "ta\ngamma");
	assert_int_equal(sw_logread_file(path, (int64_t)c.next_offset, 20, 8, &c, &err), 0);
	assert_string_equal(c.data.data, "\n");
	assert_false(c.more);
	assert_int_equal(c.next_offset, 17);
	/* Nothing new yet: empty, same offset. */
	assert_int_equal(sw_logread_file(path, 17, 20, 8, &c, &err), 0);
	assert_string_equal(c.data.data, "");
	assert_int_equal(c.next_offset, 17);
	assert_false(c.restarted);
	/* The log was rotated (shorter now): read again from 0, and say so. */
	unlink(path);
	free(path);
	path = write_tmp("new\n");
	assert_int_equal(sw_logread_file(path, 17, 20, 8, &c, &err), 0);
	assert_true(c.restarted);
	assert_int_equal(c.offset, 0);
	assert_string_equal(c.data.data, "new\n");
	/* A tail window of 5 bytes over a 9-byte file drops the cut first line. */
	unlink(path);
	free(path);
	path = write_tmp("abcd\nefg\n");
	assert_int_equal(sw_logread_file(path, -1, 10, 5, &c, &err), 0);
	assert_string_equal(c.data.data, "efg\n");
	assert_int_equal(c.offset, 5);
	unlink(path);
	assert_int_equal(sw_logread_file(path, -1, 10, 5, &c, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	free(path);
	sw_logread_chunk_release(&c);
}

static int parse(const char *text, struct sw_logread_req *r, struct sw_err *err)
{
	json_t *o = json_loads(text, 0, NULL);
	int rc;

	assert_non_null(o);
	rc = sw_logread_parse(o, r, err);
	json_decref(o);
	return rc;
}

static void request_fields(void **state)
{
	struct sw_logread_req r;
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	assert_int_equal(parse("{\"id\": 3, \"lines\": 5, \"max_bytes\": 100}", &r, &err), 0);
	assert_int_equal(r.id, 3);
	assert_int_equal(r.offset, -1);
	assert_int_equal(r.slot, 0);
	assert_string_equal(r.service, "");
	assert_int_equal(parse("{\"id\": 4, \"service\": \"hello\", \"slot\": \"b\", \"offset\": 10}", &r, &err), 0);
	assert_string_equal(r.service, "hello");
	assert_int_equal(r.slot, 'b');
	assert_int_equal(r.offset, 10);
	assert_int_equal(r.lines, 20);
	assert_int_equal(r.max_bytes, 65536);
	assert_int_equal(parse("{\"id\": 5, \"service\": \"../etc\"}", &r, &err), -1);
	assert_string_equal(err.where, "service");
	assert_int_equal(r.id, 5); /* known: the error can be answered */
	assert_int_equal(parse("{\"id\": 5, \"slot\": \"c\"}", &r, &err), -1);
	assert_string_equal(err.where, "slot");
	assert_int_equal(parse("{\"id\": 5, \"offset\": -1}", &r, &err), -1);
	assert_string_equal(err.where, "offset");
	assert_int_equal(parse("{\"id\": 5, \"lines\": 1001}", &r, &err), -1);
	assert_string_equal(err.where, "lines");
	assert_int_equal(parse("{\"id\": 5, \"max_bytes\": 65537}", &r, &err), -1);
	assert_string_equal(err.where, "max_bytes");
	assert_int_equal(parse("{\"service\": \"hello\"}", &r, &err), -1);
	assert_string_equal(err.where, "id");
	assert_int_equal(r.id, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tail_start_rules),
		cmocka_unit_test(sanitize_keeps_length_and_text),
		cmocka_unit_test(file_tail_and_ranges),
		cmocka_unit_test(request_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
