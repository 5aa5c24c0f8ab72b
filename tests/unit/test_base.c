/*
 * test_base.c - unit tests for src/base: buf, arena, num, fs, clock, hash, err, suggest.
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
#include "base/hash.h"
#include "base/json.h"
#include "base/num.h"
#include "base/suggest.h"

#include <fcntl.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_buf_bounded(void **state)
{
	struct sw_buf b = SW_BUF_INIT(8);

	(void)state;
	assert_string_equal(sw_buf_str(&b), "");
	assert_int_equal(sw_buf_puts(&b, "abcd"), 0);
	assert_int_equal(sw_buf_printf(&b, "%d", 1234), 0);
	assert_string_equal(b.data, "abcd1234");
	assert_false(sw_buf_failed(&b));
	assert_int_equal(sw_buf_putc(&b, 'x'), -1);
	assert_true(sw_buf_failed(&b));
	assert_int_equal(b.len, 8);
	sw_buf_reset(&b);
	assert_false(sw_buf_failed(&b));
	assert_int_equal(sw_buf_append(&b, "a\0b", 3), 0);
	assert_int_equal(b.len, 3);
	assert_int_equal(b.data[1], '\0');
	sw_buf_release(&b);
}

static void test_buf_detach_and_strlcpy(void **state)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	char small[4];
	size_t len;
	char *s;
	int i;

	(void)state;
	for (i = 0; i < 1000; i++)
		assert_int_equal(sw_buf_puts(&b, "0123456789"), 0);
	s = sw_buf_detach(&b, &len);
	assert_int_equal(len, 10000);
	assert_int_equal(strlen(s), 10000);
	assert_null(b.data);
	free(s);
	assert_int_equal(sw_strlcpy(small, "abc", sizeof(small)), 0);
	assert_int_equal(sw_strlcpy(small, "abcd", sizeof(small)), -1);
	assert_string_equal(small, "abc");
	assert_int_equal(sw_snprintf(small, sizeof(small), "%s", "toolong"), -1);
}

static void test_arena(void **state)
{
	struct sw_arena a;
	char *big, *s;
	int i;

	(void)state;
	sw_arena_init(&a);
	for (i = 0; i < 10000; i++) {
		int *p = sw_arena_alloc(&a, sizeof(int));
		assert_int_equal(*p, 0);
		*p = i;
	}
	big = sw_arena_alloc(&a, 100000);
	memset(big, 'x', 100000);
	s = sw_arena_printf(&a, "%s-%d", "job", 7);
	assert_string_equal(s, "job-7");
	assert_string_equal(sw_arena_strndup(&a, "hello", 3), "hel");
	sw_arena_release(&a);
}

static void test_num(void **state)
{
	uint64_t v;
	int64_t i;
	unsigned pct;

	(void)state;
	assert_int_equal(sw_parse_u64("123", 3, 0, 1000, &v), 0);
	assert_int_equal(v, 123);
	assert_int_equal(sw_parse_u64("1001", 4, 0, 1000, &v), -1);
	assert_int_equal(sw_parse_u64("18446744073709551616", 20, 0, UINT64_MAX, &v), -1);
	assert_int_equal(sw_parse_u64("12a", 3, 0, 1000, &v), -1);
	assert_int_equal(sw_parse_u64("", 0, 0, 1000, &v), -1);
	assert_int_equal(sw_parse_i64("-5", 2, -10, 10, &i), 0);
	assert_int_equal(i, -5);
	assert_int_equal(sw_parse_duration_ms("250ms", 5, &v), 0);
	assert_int_equal(v, 250);
	assert_int_equal(sw_parse_duration_ms("1h30m", 5, &v), 0);
	assert_int_equal(v, 5400000);
	assert_int_equal(sw_parse_duration_ms("2m10s", 5, &v), 0);
	assert_int_equal(v, 130000);
	assert_int_equal(sw_parse_duration_ms("10", 2, &v), -1);
	assert_int_equal(sw_parse_duration_ms("1s2m", 4, &v), -1);
	assert_int_equal(sw_parse_duration_ms("5x", 2, &v), -1);
	assert_int_equal(sw_parse_duration_ms("99999999999999999999h", 21, &v), -1);
	assert_int_equal(sw_parse_size("10MB", 4, &v), 0);
	assert_int_equal(v, 10u << 20);
	assert_int_equal(sw_parse_size("10mb", 4, &v), -1);
	assert_int_equal(sw_parse_percent("25%", 3, &pct), 0);
	assert_int_equal(pct, 25);
	assert_int_equal(sw_parse_percent("101%", 4, &pct), -1);
	assert_int_equal(sw_parse_percent("25", 2, &pct), -1);
}

static void test_duration_format(void **state)
{
	char out[32];

	(void)state;
	assert_string_equal(sw_format_duration_ms(0, out, sizeof(out)), "0s");
	assert_string_equal(sw_format_duration_ms(250, out, sizeof(out)), "250ms");
	assert_string_equal(sw_format_duration_ms(5430000, out, sizeof(out)), "1h30m30s");
}

static void test_clock(void **state)
{
	char s[SW_TIME_STR_MAX];
	int64_t back;

	(void)state;
	sw_clock_format_utc(1795000000123LL, s, sizeof(s));
	assert_int_equal(strlen(s), 24);
	assert_int_equal(sw_clock_parse_utc(s, &back), 0);
	assert_int_equal(back, 1795000000123LL);
	assert_int_equal(sw_clock_parse_utc("2026-01-01T00:00:00Z", &back), 0);
	assert_int_equal(sw_clock_parse_utc("2026-01-01 00:00:00", &back), -1);
}

static void test_hash(void **state)
{
	char hex[SW_SHA256_HEX];

	(void)state;
	assert_int_equal(sw_hash_global_init(), 0);
	sw_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_true(sw_is_sha256_hex(hex));
	hex[3] = 'X';
	assert_false(sw_is_sha256_hex(hex));
}

static void test_fs_atomic(void **state)
{
	char dir[] = "/tmp/sw-test-fs-XXXXXX", path[256], sub[256];
	struct sw_buf b = SW_BUF_INIT(1024);
	struct sw_err err = SW_ERR_INIT;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(sw_path_join(path, sizeof(path), dir, "f.txt"), 0);
	assert_int_equal(sw_fs_write_atomic(path, "hello", 5, 0600, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(sw_fs_read_file(path, 1024, &b, &err), 0);
	assert_string_equal(b.data, "hello");
	sw_buf_reset(&b);
	assert_int_equal(sw_fs_read_file(path, 3, &b, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_int_equal(sw_path_join(sub, sizeof(sub), dir, "a/b/c"), 0);
	assert_int_equal(sw_fs_mkdirs(sub, 0755, &err), 0);
	assert_true(sw_fs_is_dir(sub));
	/* A target in a missing directory fails and leaves nothing behind. */
	assert_int_equal(sw_path_join(sub, sizeof(sub), dir, "missing/x"), 0);
	assert_int_equal(sw_fs_write_atomic(sub, "x", 1, 0644, &err), -1);
	assert_int_equal(err.code, SW_EIO);
	assert_int_equal(sw_fs_remove_tree(dir, &err), 0);
	assert_false(sw_fs_exists(dir));
	sw_buf_release(&b);
}

/* Directories and FIFOs are refused before any blocking read; a FIFO without a writer must not hang. */
static void test_fs_open_regular(void **state)
{
	char dir[] = "/tmp/sw-test-fsreg-XXXXXX", path[256], fifo[256];
	struct sw_buf b = SW_BUF_INIT(1024);
	struct sw_err err = SW_ERR_INIT;
	char c;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(sw_path_join(path, sizeof(path), dir, "f"), 0);
	assert_int_equal(sw_fs_write_atomic(path, "x", 1, 0600, &err), 0);
	fd = sw_fs_open_regular(path, &err);
	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0); /* blocking again */
	assert_int_equal(read(fd, &c, 1), 1);
	close(fd);

	assert_int_equal(sw_fs_open_regular(dir, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "is a directory"));
	assert_int_equal(sw_fs_read_file(dir, 1024, &b, &err), -1);
	assert_int_equal(sw_err_exit_code(&err), 2);

	assert_int_equal(sw_path_join(fifo, sizeof(fifo), dir, "fifo"), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(10); /* a hang fails the test instead of stalling the suite */
	assert_int_equal(sw_fs_check_regular(fifo, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "is not a regular file"));
	assert_int_equal(sw_fs_read_file(fifo, 1024, &b, &err), -1);
	assert_non_null(strstr(err.msg, "is not a regular file"));
	alarm(0);

	assert_int_equal(sw_path_join(path, sizeof(path), dir, "missing"), 0);
	assert_int_equal(sw_fs_open_regular(path, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_int_equal(sw_fs_remove_tree(dir, &err), 0);
	sw_buf_release(&b);
}

static const char *suggest1(const char *word, bool prefixes, const char *const *cands)
{
	struct sw_suggest s;

	sw_suggest_init(&s, word, prefixes);
	for (; *cands; cands++)
		sw_suggest_add(&s, *cands);
	return sw_suggest_best(&s);
}

static void test_suggest(void **state)
{
	static const char *const cmds[] = { "deploy", "hosts", "history", "status", "rollback", NULL };
	static const char *const opts[] = { "server", "token", "env", "wait", "timeout", NULL };
	char longw[SW_SUGGEST_MAX_WORD + 2];

	(void)state;
	assert_int_equal(sw_suggest_distance("deplyo", "deploy", 2), 1); /* a swap is one edit */
	assert_int_equal(sw_suggest_distance("jbos", "jobs", 2), 1);
	assert_int_equal(sw_suggest_distance("kitten", "sitting", 5), 3);
	assert_int_equal(sw_suggest_distance("a", "abcdef", 2), 3); /* more than the cap: cap + 1 */
	assert_string_equal(suggest1("deplyo", false, cmds), "deploy");
	assert_string_equal(suggest1("stauts", false, cmds), "status");
	assert_null(suggest1("xyzzy", true, cmds));
	/* by prefix only when asked: --environment for --env, hist for history (not hosts) */
	assert_null(suggest1("environment", false, opts));
	assert_string_equal(suggest1("environment", true, opts), "env");
	assert_string_equal(suggest1("hist", true, cmds), "history");
	assert_string_equal(suggest1("outptu", true, (const char *const[]){ "out", "output", NULL }), "output");
	assert_null(suggest1("to", true, opts)); /* a prefix this short means nothing */
	assert_null(suggest1("a", false, (const char *const[]){ "b", NULL })); /* as many edits as letters */
	memset(longw, 'a', sizeof(longw) - 1);
	longw[sizeof(longw) - 1] = '\0';
	assert_null(suggest1(longw, false, (const char *const[]){ longw + 1, NULL }));
}

static void test_err(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	char out[256];

	(void)state;
	assert_int_equal(sw_err_setloc(&err, SW_EINPUT, "slipway.yml", 3, 5, "unknown key '%s'", "jbos"), -1);
	assert_string_equal(sw_err_format(&err, out, sizeof(out)), "slipway.yml:3:5: unknown key 'jbos'");
	assert_int_equal(sw_err_exit_code(&err), 2);
	sw_err_set(&err, SW_EIO, "disk full");
	sw_err_prefix(&err, "writing '%s'", "x");
	assert_string_equal(err.msg, "writing 'x': disk full");
	assert_int_equal(sw_err_exit_code(&err), 1);
}

static void test_json_canonical(void **state)
{
	struct sw_buf b = SW_BUF_INIT(1024);
	struct sw_err err = SW_ERR_INIT;
	json_t *v = json_pack("{s:i, s:s, s:[i,i]}", "z", 1, "a", "x", "m", 1, 2);

	(void)state;
	assert_int_equal(sw_json_canonical(v, &b), 0);
	assert_string_equal(b.data, "{\"a\":\"x\",\"m\":[1,2],\"z\":1}");
	json_decref(v);
	assert_null(sw_json_parse("{\"a\":1,\"a\":2}", 13, 100, "req", &err));
	assert_int_equal(err.code, SW_EINPUT);
	assert_null(sw_json_parse("{\n  \"a\": }", 10, 100, "req", &err));
	assert_string_equal(err.where, "req:2:8");
	sw_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_bounded),     cmocka_unit_test(test_buf_detach_and_strlcpy),
		cmocka_unit_test(test_arena),           cmocka_unit_test(test_num),
		cmocka_unit_test(test_duration_format), cmocka_unit_test(test_clock),
		cmocka_unit_test(test_hash),            cmocka_unit_test(test_fs_atomic),
		cmocka_unit_test(test_err),             cmocka_unit_test(test_json_canonical),
		cmocka_unit_test(test_fs_open_regular), cmocka_unit_test(test_suggest),
	};
	return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
