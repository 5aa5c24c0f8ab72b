/*
 * junit.c - JUnit XML reports parsed with expat (see junit.h).
 * Calls expat, libc, base/buf, base/err, base/mem.
 */
#include "pipeline/junit.h"
#include "base/buf.h"
#include "base/mem.h"

#include <errno.h>
#include <expat.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum sw_case_outcome { SW_CASE_PASSED, SW_CASE_SKIPPED, SW_CASE_ERROR, SW_CASE_FAILED };

struct sw_junit_ctx {
	XML_Parser xp;
	struct sw_junit res;
	unsigned depth;
	const char *suites[SW_JUNIT_MAX_DEPTH + 2]; /* testsuite name by depth (heap), or NULL */
	unsigned case_depth;                       /* depth of the open <testcase>, 0 if none */
	char *case_name;
	enum sw_case_outcome outcome;
	/* Our own error (expat then reports XML_ERROR_ABORTED). */
	int failed;
	unsigned long line, col;
	char msg[256];
};

void sw_junit_init(struct sw_junit *j)
{
	memset(j, 0, sizeof(*j));
}

void sw_junit_release(struct sw_junit *j)
{
	size_t i;

	for (i = 0; i < j->nnames; i++)
		free(j->names[i]);
	free(j->names);
	sw_junit_init(j);
}

static void sw_junit_add_name(struct sw_junit *j, const char *name)
{
	if (j->nnames >= SW_JUNIT_MAX_NAMES) {
		j->names_dropped++;
		return;
	}
	if (j->nnames == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 16;
		j->names = sw_xreallocarray(j->names, j->cap, sizeof(*j->names));
	}
	j->names[j->nnames++] = sw_xstrdup(name);
}

void sw_junit_merge(struct sw_junit *into, const struct sw_junit *from)
{
	size_t i;

	into->passed += from->passed;
	into->failed += from->failed;
	into->skipped += from->skipped;
	into->errors += from->errors;
	for (i = 0; i < from->nnames; i++)
		sw_junit_add_name(into, from->names[i]);
	into->names_dropped += from->names_dropped;
}

__attribute__((format(printf, 2, 3))) static void sw_junit_fail(struct sw_junit_ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->failed)
		return;
	c->failed = 1;
	c->line = (unsigned long)XML_GetCurrentLineNumber(c->xp);
	c->col = (unsigned long)XML_GetCurrentColumnNumber(c->xp) + 1;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	XML_StopParser(c->xp, XML_FALSE);
}

static const char *sw_attr(const XML_Char **attrs, const char *name)
{
	size_t i;

	for (i = 0; attrs[i]; i += 2)
		if (!strcmp(attrs[i], name))
			return attrs[i + 1];
	return NULL;
}

static const char *sw_junit_suite(const struct sw_junit_ctx *c)
{
	unsigned d;

	for (d = c->depth; d > 0; d--)
		if (c->suites[d] && *c->suites[d])
			return c->suites[d];
	return "";
}

static void XMLCALL sw_junit_start(void *data, const XML_Char *el, const XML_Char **attrs)
{
	struct sw_junit_ctx *c = data;

	if (c->depth >= SW_JUNIT_MAX_DEPTH) {
		sw_junit_fail(c, "elements nested deeper than %d levels", SW_JUNIT_MAX_DEPTH);
		return;
	}
	c->depth++;
	if (c->depth == 1 && strcmp(el, "testsuites") != 0 && strcmp(el, "testsuite") != 0) {
		sw_junit_fail(c, "not a JUnit report: root element is <%s>, expected <testsuites> or <testsuite>", el);
		return;
	}
	if (c->case_depth) {
		if (c->depth != c->case_depth + 1)
			return;
		if (!strcmp(el, "failure"))
			c->outcome = SW_CASE_FAILED;
		else if (!strcmp(el, "error") && c->outcome < SW_CASE_ERROR)
			c->outcome = SW_CASE_ERROR;
		else if (!strcmp(el, "skipped") && c->outcome < SW_CASE_SKIPPED)
			c->outcome = SW_CASE_SKIPPED;
		return;
	}
	if (!strcmp(el, "testsuite")) {
		const char *name = sw_attr(attrs, "name");

		c->suites[c->depth] = sw_xstrdup(name ? name : "");
	} else if (!strcmp(el, "testcase")) {
		const char *name = sw_attr(attrs, "name");
		const char *cls = sw_attr(attrs, "classname");
		struct sw_buf b = SW_BUF_INIT(SW_JUNIT_NAME_MAX);

		if (!cls || !*cls)
			cls = sw_junit_suite(c);
		if (!name)
			name = "";
		if (*cls)
			sw_buf_printf(&b, "%s.%s", cls, name);
		else
			sw_buf_puts(&b, name);
		if (sw_buf_failed(&b)) { /* too long: keep what fits */
			struct sw_buf cut = SW_BUF_INIT(SW_JUNIT_NAME_MAX);

			sw_buf_append(&cut, cls, strnlen(cls, SW_JUNIT_NAME_MAX / 2));
			if (*cls)
				sw_buf_putc(&cut, '.');
			sw_buf_append(&cut, name, strnlen(name, SW_JUNIT_NAME_MAX - cut.len - 1));
			sw_buf_release(&b);
			b = cut;
		}
		c->case_name = sw_buf_detach(&b, NULL);
		c->case_depth = c->depth;
		c->outcome = SW_CASE_PASSED;
	}
}

static void XMLCALL sw_junit_end(void *data, const XML_Char *el)
{
	struct sw_junit_ctx *c = data;

	(void)el;
	if (c->depth == 0)
		return;
	if (c->case_depth == c->depth) {
		switch (c->outcome) {
		case SW_CASE_PASSED: c->res.passed++; break;
		case SW_CASE_SKIPPED: c->res.skipped++; break;
		case SW_CASE_ERROR:
			c->res.errors++;
			sw_junit_add_name(&c->res, c->case_name);
			break;
		case SW_CASE_FAILED:
			c->res.failed++;
			sw_junit_add_name(&c->res, c->case_name);
			break;
		}
		free(c->case_name);
		c->case_name = NULL;
		c->case_depth = 0;
	}
	free((char *)c->suites[c->depth]);
	c->suites[c->depth] = NULL;
	c->depth--;
}

static void XMLCALL sw_junit_entity_decl(void *data, const XML_Char *name, int is_param, const XML_Char *value,
					 int value_len, const XML_Char *base, const XML_Char *system_id,
					 const XML_Char *public_id, const XML_Char *notation)
{
	(void)is_param, (void)value, (void)value_len, (void)base, (void)system_id, (void)public_id, (void)notation;
	sw_junit_fail(data, "entity declarations are not allowed ('%s')", name);
}

static void sw_junit_ctx_init(struct sw_junit_ctx *c)
{
	memset(c, 0, sizeof(*c));
	sw_junit_init(&c->res);
	c->xp = XML_ParserCreate(NULL);
	if (!c->xp)
		sw_die("out of memory creating an XML parser");
	XML_SetUserData(c->xp, c);
	XML_SetElementHandler(c->xp, sw_junit_start, sw_junit_end);
	XML_SetEntityDeclHandler(c->xp, sw_junit_entity_decl);
}

static void sw_junit_ctx_release(struct sw_junit_ctx *c)
{
	size_t i;

	for (i = 0; i < SW_ARRAY_LEN(c->suites); i++)
		free((char *)c->suites[i]);
	free(c->case_name);
	sw_junit_release(&c->res);
	XML_ParserFree(c->xp);
}

/* Feed one chunk; -1 with err (naming what:line:col) on a parse error. */
static int sw_junit_feed(struct sw_junit_ctx *c, const char *data, size_t len, int final, const char *what,
			 struct sw_err *err)
{
	if (len > (size_t)INT32_MAX)
		return sw_err_set(err, SW_EINPUT, "'%s' is too large", what);
	if (XML_Parse(c->xp, data, (int)len, final) != XML_STATUS_ERROR)
		return 0;
	if (c->failed)
		return sw_err_setloc(err, SW_EINPUT, what, c->line, c->col, "malformed JUnit XML: %s", c->msg);
	return sw_err_setloc(err, SW_EINPUT, what, (unsigned long)XML_GetCurrentLineNumber(c->xp),
			     (unsigned long)XML_GetCurrentColumnNumber(c->xp) + 1, "malformed JUnit XML: %s",
			     XML_ErrorString(XML_GetErrorCode(c->xp)));
}

int sw_junit_parse(struct sw_junit *j, const char *data, size_t len, const char *what, struct sw_err *err)
{
	struct sw_junit_ctx c;
	int rc;

	if (len > SW_JUNIT_MAX_BYTES)
		return sw_err_set(err, SW_EINPUT, "'%s' is larger than %zu bytes", what, SW_JUNIT_MAX_BYTES);
	sw_junit_ctx_init(&c);
	rc = sw_junit_feed(&c, data, len, 1, what, err);
	if (rc == 0)
		sw_junit_merge(j, &c.res);
	sw_junit_ctx_release(&c);
	return rc;
}

int sw_junit_parse_file(struct sw_junit *j, const char *path, struct sw_err *err)
{
	struct sw_junit_ctx c;
	char chunk[65536];
	size_t total = 0;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sw_err_set(err, errno == ENOENT ? SW_ENOTFOUND : SW_EIO, "cannot open '%s': %s", path,
				  strerror(errno));
	sw_junit_ctx_init(&c);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sw_err_set(err, SW_EIO, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		total += (size_t)n;
		if (total > SW_JUNIT_MAX_BYTES) {
			sw_err_set(err, SW_EINPUT, "'%s' is larger than %zu bytes", path, SW_JUNIT_MAX_BYTES);
			goto out;
		}
		if (sw_junit_feed(&c, chunk, (size_t)n, n == 0, path, err) < 0)
			goto out;
		if (n == 0)
			break;
	}
	sw_junit_merge(j, &c.res);
	rc = 0;
out:
	close(fd);
	sw_junit_ctx_release(&c);
	return rc;
}
