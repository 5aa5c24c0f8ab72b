/*
 * provider.c - placeholders and numbers shared by the providers (see provider.h).
 */
#include "analysis/provider.h"
#include "analysis/promql.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int put_addrs(struct sw_buf *out, const char *what, const char *const *addrs, size_t n, bool all,
		     struct sw_err *err)
{
	size_t i;

	if (n == 0)
		return sw_err_set(err, SW_EINPUT, "{{%s}} is used, but there are no %s instances", what, what);
	for (i = 0; i < (all ? n : 1); i++) {
		if (!sw_promql_addr_ok(addrs[i]))
			return sw_err_set(err, SW_EINPUT, "bad %s instance address '%.80s'", what, addrs[i]);
		if (i)
			sw_buf_putc(out, ',');
		sw_buf_puts(out, addrs[i]);
	}
	return 0;
}

int sw_provider_expand(const char *text, const struct sw_analysis_target *t, bool all, struct sw_buf *out,
		       struct sw_err *err)
{
	const char *p = text;

	while (*p) {
		if (!strncmp(p, "{{canary}}", 10)) {
			if (put_addrs(out, "canary", t->canary_addrs, t->ncanary_addrs, all, err) < 0)
				return -1;
			p += 10;
		} else if (!strncmp(p, "{{stable}}", 10)) {
			if (put_addrs(out, "stable", t->stable_addrs, t->nstable_addrs, all, err) < 0)
				return -1;
			p += 10;
		} else {
			sw_buf_putc(out, *p++);
		}
	}
	if (sw_buf_failed(out))
		return sw_err_set(err, SW_EINPUT, "'%.60s' is too long once its placeholders are replaced", text);
	return 0;
}

int sw_provider_parse_number(const char *s, size_t len, double *out)
{
	char buf[64], *end;
	size_t i;

	while (len && strchr(" \t\r\n", *s) && *s)
		s++, len--;
	while (len && strchr(" \t\r\n", s[len - 1]) && s[len - 1])
		len--;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	for (i = 0; i < len; i++)
		if (!s[i] || !strchr("0123456789+-.eE", s[i]))
			return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	*out = strtod(buf, &end);
	return end == buf + len && isfinite(*out) ? 0 : -1;
}
