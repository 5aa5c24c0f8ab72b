/*
 * test_agent_enroll.c - unit tests for src/agent/enroll: reading the join
 * token from a join file (`slipway agent --join-file`): the token, white
 * space around it, and every refusal (permissions as OpenSSH judges a
 * private key, not a regular file, FIFO without hanging, empty, two words,
 * too large, missing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/enroll.h"
#include "base/fs.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sw-test-agent-enroll-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	return sw_fs_remove_tree(tmpdir, &err);
}

/* tmpdir/name holding text (len bytes) with mode; its path in p. */
static void put(const char *name, const char *text, size_t len, mode_t mode, char *p)
{
	int fd;

	snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
}

static void test_token_read_and_trimmed(void **state)
{
	char p[PATH_MAX], tok[SW_JOIN_TOKEN_MAX];
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	put("plain", "swj_abc123\n", 11, 0600, p);
	assert_int_equal(sw_enroll_read_join_file(p, tok, sizeof(tok), &err), 0);
	assert_string_equal(tok, "swj_abc123");
	put("spaces", "  \r\nswj_x-Y_z \t\r\n\n", 18, 0400, p);
	assert_int_equal(sw_enroll_read_join_file(p, tok, sizeof(tok), &err), 0);
	assert_string_equal(tok, "swj_x-Y_z");
	put("nonl", "swj_q", 5, 0600, p);
	assert_int_equal(sw_enroll_read_join_file(p, tok, sizeof(tok), &err), 0);
	assert_string_equal(tok, "swj_q");
}

static void test_refused_when_others_may_read(void **state)
{
	char p[PATH_MAX], tok[SW_JOIN_TOKEN_MAX], want[PATH_MAX + 64];
	struct sw_err err = SW_ERR_INIT;
	static const mode_t others[] = { 0644, 0604, 0602, 0601, 0666 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		put("open", "swj_abc\n", 8, others[i], p);
		sw_err_clear(&err);
		snprintf(tok, sizeof(tok), "unchanged");
		assert_int_equal(sw_enroll_read_join_file(p, tok, sizeof(tok), &err), -1);
		assert_int_equal(err.code, SW_EINPUT);
		assert_non_null(strstr(err.msg, "is accessible by others"));
		snprintf(want, sizeof(want), "'chmod 600 %s'", p);
		assert_non_null(strstr(err.msg, want));
		assert_string_equal(tok, "");
	}
	/* The agent user's own file: its group may not read it either (OpenSSH's rule for keys). */
	put("group", "swj_abc\n", 8, 0640, p);
	sw_err_clear(&err);
	assert_int_equal(sw_enroll_read_join_file(p, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "is accessible by its group (mode 0640)"));
}

static void test_refused_contents(void **state)
{
	char p[PATH_MAX], tok[SW_JOIN_TOKEN_MAX], big[5000];
	struct sw_err err = SW_ERR_INIT;
	char small[8];

	(void)state;
	put("empty", "", 0, 0600, p);
	assert_int_equal(sw_enroll_read_join_file(p, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "is empty"));
	put("blank", " \n\n", 3, 0600, p);
	sw_err_clear(&err);
	assert_int_equal(sw_enroll_read_join_file(p, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "is empty"));
	put("two", "swj_a swj_b\n", 12, 0600, p);
	sw_err_clear(&err);
	assert_int_equal(sw_enroll_read_join_file(p, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "byte 6 is not part of a token"));
	put("lines", "swj_a\nswj_b\n", 12, 0600, p);
	sw_err_clear(&err);
	assert_int_equal(sw_enroll_read_join_file(p, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "byte 6 is not part of a token"));
	memset(big, 'a', sizeof(big));
	put("big", big, sizeof(big), 0600, p);
	sw_err_clear(&err);
	assert_int_equal(sw_enroll_read_join_file(p, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "is larger than 4096 bytes"));
	put("long", "swj_0123456789", 14, 0600, p);
	sw_err_clear(&err);
	assert_int_equal(sw_enroll_read_join_file(p, small, sizeof(small), &err), -1);
	assert_non_null(strstr(err.msg, "too long"));
}

static void test_refused_kinds(void **state)
{
	char p[PATH_MAX], tok[SW_JOIN_TOKEN_MAX];
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	snprintf(p, sizeof(p), "%s/missing", tmpdir);
	assert_int_equal(sw_enroll_read_join_file(p, tok, sizeof(tok), &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "join file: cannot open"));
	assert_non_null(strstr(err.msg, "No such file or directory"));
	snprintf(p, sizeof(p), "%s/dir", tmpdir);
	assert_int_equal(mkdir(p, 0700), 0);
	sw_err_clear(&err);
	assert_int_equal(sw_enroll_read_join_file(p, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "is a directory"));
	/* A FIFO nobody writes to: refused at once, not waited on. */
	snprintf(p, sizeof(p), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(p, 0600), 0);
	sw_err_clear(&err);
	assert_int_equal(sw_enroll_read_join_file(p, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "is not a regular file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_read_and_trimmed),
		cmocka_unit_test(test_refused_when_others_may_read),
		cmocka_unit_test(test_refused_contents),
		cmocka_unit_test(test_refused_kinds),
	};
	return cmocka_run_group_tests_name("agent_enroll", tests, setup, teardown);
}
