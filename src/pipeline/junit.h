/*
 * junit.h - JUnit XML test reports into counts and failing case names.
 *
 * Parsed with expat (a real XML parser: entities, CDATA, encodings and
 * attribute escaping are its business, not ours). Accepted shape: a root
 * <testsuites> or <testsuite>, suites nested to any depth, <testcase>
 * elements anywhere under them. A test case counts as
 *   failed   if it has a <failure> child,
 *   errors   if it has an <error> child (and no <failure>),
 *   skipped  if it has a <skipped> child (and neither of the above),
 *   passed   otherwise.
 * Failing (failed or errored) cases are named "suite.case": suite is the
 * case's classname attribute, or the innermost enclosing testsuite's name
 * when it has none. At most SW_JUNIT_MAX_NAMES names are kept (each cut to
 * SW_JUNIT_NAME_MAX bytes); the rest are counted in names_dropped.
 *
 * Documents declaring entities are refused (no entity expansion at all, so
 * no billion laughs); reports larger than SW_JUNIT_MAX_BYTES are refused.
 * Errors name the file and line: "build/junit.xml:12:5: malformed JUnit XML: ...".
 * A failed parse leaves the struct sw_junit untouched.
 *
 * Calls expat, libc, base/. The struct owns its names (sw_junit_release).
 */
#ifndef SW_JUNIT_H
#define SW_JUNIT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define SW_JUNIT_MAX_BYTES ((size_t)32 << 20)
#define SW_JUNIT_MAX_NAMES 1000
#define SW_JUNIT_NAME_MAX 512
#define SW_JUNIT_MAX_DEPTH 256

struct sw_junit {
	uint64_t passed, failed, skipped, errors;
	char **names; /* failing cases, "suite.case" */
	size_t nnames, cap;
	uint64_t names_dropped;
};

void sw_junit_init(struct sw_junit *j);
void sw_junit_release(struct sw_junit *j);
/* Parse a report held in memory and add its counts to j. `what` names it in errors. */
int sw_junit_parse(struct sw_junit *j, const char *data, size_t len, const char *what, struct sw_err *err);
/* Same, reading path in chunks (SW_ENOTFOUND when it does not exist). */
int sw_junit_parse_file(struct sw_junit *j, const char *path, struct sw_err *err);
/* Add the counts and names of from to into. */
void sw_junit_merge(struct sw_junit *into, const struct sw_junit *from);

#endif
