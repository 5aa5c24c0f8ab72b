/*
 * test_junit.c - unit tests for src/pipeline/junit: counts, failing case
 * names, nesting, malformed and hostile documents, file parsing in chunks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/fs.h"
#include "pipeline/junit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(struct sw_junit *j, const char *xml, struct sw_err *err)
{
	return sw_junit_parse(j, xml, strlen(xml), "report.xml", err);
}

static void test_passing(void **state)
{
	struct sw_junit j;
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	sw_junit_init(&j);
	assert_int_equal(parse(&j,
			       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			       "<testsuite name=\"math\" tests=\"3\">\n"
			       "  <testcase classname=\"math\" name=\"add\" time=\"0.01\"/>\n"
			       "  <testcase name=\"sub\"><system-out>ok &amp; fine</system-out></testcase>\n"
			       "  <testcase name=\"mul\"></testcase>\n"
			       "</testsuite>\n",
			       &err),
			 0);
	assert_int_equal(j.passed, 3);
	assert_int_equal(j.failed + j.skipped + j.errors, 0);
	assert_int_equal(j.nnames, 0);
	sw_junit_release(&j);
}

static void test_failures_skipped_errors(void **state)
{
	struct sw_junit j;
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	sw_junit_init(&j);
	assert_int_equal(parse(&j,
			       "<testsuites>\n"
			       " <testsuite name=\"outer\">\n"
			       "  <testsuite name=\"inner\">\n"
			       "   <testcase name=\"t1\"><failure message=\"boom\">trace</failure></testcase>\n"
			       "   <testcase name=\"t2\"><skipped/></testcase>\n"
			       "  </testsuite>\n"
			       "  <testcase classname=\"pkg.Mod\" name=\"t3\"><error type=\"E\"/></testcase>\n"
			       "  <testcase name=\"t4\"><skipped/><failure/></testcase>\n"
			       "  <testcase name=\"t5\"/>\n"
			       " </testsuite>\n"
			       " <testcase name=\"loose\"><failure/></testcase>\n"
			       "</testsuites>\n",
			       &err),
			 0);
	assert_int_equal(j.passed, 1);
	assert_int_equal(j.failed, 3);
	assert_int_equal(j.skipped, 1);
	assert_int_equal(j.errors, 1);
	assert_int_equal(j.nnames, 4);
	assert_string_equal(j.names[0], "inner.t1");
	assert_string_equal(j.names[1], "pkg.Mod.t3");
	assert_string_equal(j.names[2], "outer.t4");
	assert_string_equal(j.names[3], "loose"); /* no suite, no classname */
	sw_junit_release(&j);
}

static void test_malformed(void **state)
{
	struct sw_junit j;
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	sw_junit_init(&j);
	assert_int_equal(parse(&j, "<testsuite name=\"a\">\n<testcase name=\"x\">\n</testsuite>\n", &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_string_equal(err.where, "report.xml:3:3");
	assert_non_null(strstr(err.msg, "malformed JUnit XML: mismatched tag"));
	/* A failed parse adds nothing. */
	assert_int_equal(j.passed + j.failed + j.skipped + j.errors, 0);

	assert_int_equal(parse(&j, "", &err), -1);
	assert_non_null(strstr(err.msg, "no element found"));
	assert_int_equal(parse(&j, "<html><body/></html>", &err), -1);
	assert_non_null(strstr(err.msg, "root element is <html>"));
	assert_int_equal(parse(&j, "<testsuite><testcase name=\"a\"/></testsuite><extra/>", &err), -1);
	assert_int_equal(j.passed, 0);
	sw_junit_release(&j);
}

static void test_entities_refused(void **state)
{
	struct sw_junit j;
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	sw_junit_init(&j);
	assert_int_equal(parse(&j,
			       "<?xml version=\"1.0\"?>\n"
			       "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>\n"
			       "<testsuite><testcase name=\"&lol2;\"/></testsuite>\n",
			       &err),
			 -1);
	assert_non_null(strstr(err.msg, "entity declarations are not allowed"));
	assert_int_equal(parse(&j,
			       "<!DOCTYPE x [<!ENTITY ext SYSTEM \"file:///etc/passwd\">]>"
			       "<testsuite><testcase name=\"&ext;\"/></testsuite>",
			       &err),
			 -1);
	assert_int_equal(j.passed, 0);
	sw_junit_release(&j);
}

static void test_long_names_and_cap(void **state)
{
	struct sw_buf x = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_junit j;
	struct sw_err err = SW_ERR_INIT;
	size_t i;

	(void)state;
	sw_junit_init(&j);
	sw_buf_puts(&x, "<testsuite name=\"s\">");
	sw_buf_puts(&x, "<testcase name=\"");
	for (i = 0; i < 2000; i++)
		sw_buf_putc(&x, 'n');
	sw_buf_puts(&x, "\"><failure/></testcase>");
	for (i = 0; i < SW_JUNIT_MAX_NAMES + 5; i++)
		sw_buf_printf(&x, "<testcase name=\"c%zu\"><failure/></testcase>", i);
	sw_buf_puts(&x, "</testsuite>");
	assert_int_equal(sw_junit_parse(&j, x.data, x.len, "big.xml", &err), 0);
	assert_int_equal(j.failed, SW_JUNIT_MAX_NAMES + 6);
	assert_int_equal(j.nnames, SW_JUNIT_MAX_NAMES);
	assert_int_equal(j.names_dropped, 6);
	assert_true(strlen(j.names[0]) < SW_JUNIT_NAME_MAX);
	assert_int_equal(strncmp(j.names[0], "s.nnn", 5), 0);
	assert_string_equal(j.names[1], "s.c0");
	sw_junit_release(&j);
	sw_buf_release(&x);
}

static void test_file_in_chunks(void **state)
{
	struct sw_buf x = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_junit a, b;
	struct sw_err err = SW_ERR_INIT;
	char path[] = "/tmp/sw-junit-XXXXXX";
	int fd;
	size_t i;

	(void)state;
	sw_junit_init(&a);
	sw_junit_init(&b);
	sw_buf_puts(&x, "<testsuites><testsuite name=\"big\">\n");
	for (i = 0; i < 5000; i++)
		sw_buf_printf(&x, "<testcase name=\"case_%zu\">%s</testcase>\n", i,
			      i % 7 == 0 ? "<failure/>" : i % 11 == 0 ? "<skipped/>" : "");
	sw_buf_puts(&x, "</testsuite></testsuites>\n");
	assert_true(x.len > 65536 * 2);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, x.data, x.len), (ssize_t)x.len);
	close(fd);
	assert_int_equal(sw_junit_parse_file(&a, path, &err), 0);
	assert_int_equal(sw_junit_parse(&b, x.data, x.len, "mem", &err), 0);
	assert_int_equal(a.passed, b.passed);
	assert_int_equal(a.failed, 715);
	assert_int_equal(a.failed, b.failed);
	assert_int_equal(a.skipped, b.skipped);
	assert_int_equal(a.nnames, b.nnames);
	assert_string_equal(a.names[1], "big.case_7");
	/* Truncate it: the error names the file and a line. */
	assert_int_equal(truncate(path, 70000), 0);
	assert_int_equal(sw_junit_parse_file(&a, path, &err), -1);
	assert_int_equal(strncmp(err.where, path, strlen(path)), 0);
	assert_true(err.where[strlen(path)] == ':');
	unlink(path);
	assert_int_equal(sw_junit_parse_file(&a, path, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	sw_junit_release(&a);
	sw_junit_release(&b);
	sw_buf_release(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passing),          cmocka_unit_test(test_failures_skipped_errors),
		cmocka_unit_test(test_malformed),        cmocka_unit_test(test_entities_refused),
		cmocka_unit_test(test_long_names_and_cap), cmocka_unit_test(test_file_in_chunks),
	};
	return cmocka_run_group_tests_name("junit", tests, NULL, NULL);
}
