/*
 * fuzz_haproxy_stat.c - libFuzzer target for the HAProxy runtime API answer
 * parsers in traffic/haproxy.h: `show stat` CSV, `show servers state` and
 * `get weight`. Every input goes through all three.
 *
 * Properties checked (any violation aborts, which libFuzzer reports):
 *   - a refusal is SW_EIO with a message, and leaves no rows;
 *   - every slice of an accepted answer lies inside the input;
 *   - an accepted table answer has no more rows than lines, and cutting
 *     its last byte (the final empty line) makes it a refusal;
 *   - an accepted weight is within 0..256.
 * Corpus: tests/fuzz/corpus/haproxy_stat/ (answers recorded from HAProxy 2.6).
 */
#include "base/arena.h"
#include "base/err.h"
#include "traffic/haproxy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lo, *hi;

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_haproxy_stat: %s\n", what);
		abort();
	}
}

static void in_input(struct sw_haproxy_str s)
{
	if (s.len == 0)
		return;
	check(s.p >= lo && s.p + s.len <= hi, "a slice points outside the input");
}

static void refused(int rc, const struct sw_err *err, size_t n)
{
	check(rc == -1, "parser returned neither 0 nor -1");
	check(err->code == SW_EIO, "a refusal is not SW_EIO");
	check(err->msg[0] != '\0', "a refusal has no message");
	check(n == 0, "a refusal left rows");
}

static size_t count_lines(const char *p, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += p[i] == '\n';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct sw_err err = SW_ERR_INIT;
	struct sw_haproxy_stat *st;
	struct sw_haproxy_srv_state *ss;
	struct sw_arena a;
	size_t n, i;
	unsigned cur, ini;
	int rc;

	lo = p;
	hi = p + size;
	sw_arena_init(&a);

	rc = sw_haproxy_parse_stat(p, size, &a, &st, &n, &err);
	if (rc == 0) {
		check(n <= count_lines(p, size), "more stat rows than lines");
		for (i = 0; i < n; i++) {
			in_input(st[i].pxname);
			in_input(st[i].svname);
			in_input(st[i].status);
			in_input(st[i].check_status);
			in_input(st[i].addr);
			in_input(st[i].mode);
			in_input(st[i].algo);
		}
		sw_err_clear(&err);
		rc = sw_haproxy_parse_stat(p, size - 1, &a, &st, &n, &err);
		refused(rc, &err, n);
	} else {
		refused(rc, &err, n);
	}

	sw_err_clear(&err);
	rc = sw_haproxy_parse_servers_state(p, size, &a, &ss, &n, &err);
	if (rc == 0) {
		check(n <= count_lines(p, size), "more server rows than lines");
		for (i = 0; i < n; i++) {
			in_input(ss[i].backend);
			in_input(ss[i].name);
			in_input(ss[i].addr);
			(void)sw_haproxy_admin_state(ss[i].admin_state);
			(void)sw_haproxy_health(ss[i].op_state);
		}
		sw_err_clear(&err);
		rc = sw_haproxy_parse_servers_state(p, size - 1, &a, &ss, &n, &err);
		refused(rc, &err, n);
	} else {
		refused(rc, &err, n);
	}

	sw_err_clear(&err);
	rc = sw_haproxy_parse_weight(p, size, &cur, &ini, &err);
	if (rc == 0)
		check(cur <= SW_TRAFFIC_WEIGHT_MAX && ini <= SW_TRAFFIC_WEIGHT_MAX, "weight out of range");
	else
		refused(rc, &err, 0);

	sw_arena_release(&a);
	return 0;
}
