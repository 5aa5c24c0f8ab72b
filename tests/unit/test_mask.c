/*
 * test_mask.c - unit tests for src/pipeline/mask: whole-text masking,
 * short values, overlaps, multi-line values, and stream masking with
 * values split across every possible read() boundary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "pipeline/mask.h"

#include <stdlib.h>
#include <string.h>

static char *apply(const struct sw_mask *m, const char *s)
{
	return sw_mask_strdup(m, s);
}

/* Feed text in chunks of the given sizes (cycled), return the concatenated output. */
static char *stream(const struct sw_mask *m, const char *text, size_t len, const size_t *sizes, size_t nsizes)
{
	struct sw_mask_stream s;
	struct sw_buf out = SW_BUF_INIT(SW_BUF_UNLIMITED);
	size_t off = 0, k = 0, n;
	const char *p;

	sw_mask_stream_init(&s, m);
	while (off < len) {
		size_t c = sizes[k++ % nsizes];

		if (c > len - off)
			c = len - off;
		p = sw_mask_stream_feed(&s, text + off, c, &n);
		sw_buf_append(&out, p, n);
		off += c;
	}
	p = sw_mask_stream_flush(&s, &n);
	sw_buf_append(&out, p, n);
	sw_mask_stream_release(&s);
	return sw_buf_detach(&out, NULL);
}

static void test_apply(void **state)
{
	struct sw_mask m;
	char *r;

	(void)state;
	sw_mask_init(&m);
	r = apply(&m, "nothing to hide");
	assert_string_equal(r, "nothing to hide");
	free(r);
	assert_int_equal(sw_mask_add(&m, "hunter2", 7), 0);
	assert_int_equal(sw_mask_add(&m, "ab", 2), 1);  /* too short: not masked */
	assert_int_equal(sw_mask_add(&m, "", 0), 1);
	r = apply(&m, "pw=hunter2, again hunter2hunter2; ab stays; hunter");
	assert_string_equal(r, "pw=***, again ******; ab stays; hunter");
	free(r);
	sw_mask_release(&m);
	assert_int_equal(m.n, 0);
}

static void test_longest_wins_and_multiline(void **state)
{
	struct sw_mask m;
	char *r;

	(void)state;
	sw_mask_init(&m);
	sw_mask_add(&m, "abc", 3);
	sw_mask_add(&m, "abcdef", 6);
	r = apply(&m, "xabcdefy abcx");
	assert_string_equal(r, "x***y ***x");
	free(r);
	sw_mask_release(&m);

	sw_mask_init(&m);
	assert_int_equal(sw_mask_add(&m, "-----KEY-----\r\nline-two\nx\n", 26), 0);
	r = apply(&m, "a line-two b\n-----KEY----- c x");
	assert_string_equal(r, "a *** b\n*** c x"); /* "x" alone is too short */
	free(r);
	sw_mask_release(&m);
}

static void test_stream_every_split(void **state)
{
	static const char text[] = "start SECRETVALUE mid SECRETVALUESECRETVALUE tokXYZ end SECRETVALU";
	struct sw_mask m;
	size_t len = strlen(text), a, b;
	char *want;

	(void)state;
	sw_mask_init(&m);
	sw_mask_add(&m, "SECRETVALUE", 11);
	sw_mask_add(&m, "tokXYZ", 6);
	want = apply(&m, text);
	assert_string_equal(want, "start *** mid ****** *** end SECRETVALU");
	/* Every split into two or three chunks. */
	for (a = 0; a <= len; a++) {
		for (b = 0; b + a <= len; b++) {
			size_t sizes[3] = { a ? a : 1, b ? b : 1, len };
			char *got = stream(&m, text, len, sizes, 3);

			assert_string_equal(got, want);
			free(got);
		}
	}
	/* One byte at a time. */
	{
		size_t one = 1;
		char *got = stream(&m, text, len, &one, 1);

		assert_string_equal(got, want);
		free(got);
	}
	free(want);
	sw_mask_release(&m);
}

static void test_stream_random(void **state)
{
	static const char *const secrets[] = { "p4ssw0rd", "AKIAXXXXXXXXXXXX", "zzz", "zzzz" };
	struct sw_mask m;
	int round;
	size_t i;

	(void)state;
	srand(42);
	sw_mask_init(&m);
	for (i = 0; i < 4; i++)
		sw_mask_add(&m, secrets[i], strlen(secrets[i]));
	for (round = 0; round < 300; round++) {
		struct sw_buf t = SW_BUF_INIT(SW_BUF_UNLIMITED);
		size_t sizes[5], k;
		char *want, *got;

		for (k = 0; k < 60; k++) {
			if (rand() % 4 == 0)
				sw_buf_puts(&t, secrets[rand() % 4]);
			else
				sw_buf_putc(&t, "azp4\n\0Z"[rand() % 7]);
		}
		for (k = 0; k < 5; k++)
			sizes[k] = 1 + (size_t)rand() % 20;
		{
			struct sw_buf w = SW_BUF_INIT(SW_BUF_UNLIMITED);

			sw_mask_apply(&m, t.data, t.len, &w);
			want = sw_buf_detach(&w, &k);
			got = NULL;
			{
				struct sw_mask_stream s;
				struct sw_buf out = SW_BUF_INIT(SW_BUF_UNLIMITED);
				size_t off = 0, j = 0, n;
				const char *p;

				sw_mask_stream_init(&s, &m);
				while (off < t.len) {
					size_t c = sizes[j++ % 5];

					if (c > t.len - off)
						c = t.len - off;
					p = sw_mask_stream_feed(&s, t.data + off, c, &n);
					sw_buf_append(&out, p, n);
					off += c;
				}
				p = sw_mask_stream_flush(&s, &n);
				sw_buf_append(&out, p, n);
				sw_mask_stream_release(&s);
				assert_int_equal(out.len, k);
				assert_memory_equal(out.data, want, k);
				got = sw_buf_detach(&out, NULL);
			}
			/* No secret survives in the output. */
			for (i = 0; i < 4; i++)
				assert_null(memmem(got, k, secrets[i], strlen(secrets[i])));
			free(got);
			free(want);
		}
		sw_buf_release(&t);
	}
	sw_mask_release(&m);
}

static void test_stream_passthrough(void **state)
{
	struct sw_mask m;
	struct sw_mask_stream s;
	const char *p;
	size_t n;

	(void)state;
	sw_mask_init(&m);
	sw_mask_stream_init(&s, &m);
	p = sw_mask_stream_feed(&s, "abc\0def", 7, &n);
	assert_int_equal(n, 7);
	assert_memory_equal(p, "abc\0def", 7);
	sw_mask_stream_flush(&s, &n);
	assert_int_equal(n, 0);
	sw_mask_stream_release(&s);
	sw_mask_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply),          cmocka_unit_test(test_longest_wins_and_multiline),
		cmocka_unit_test(test_stream_every_split), cmocka_unit_test(test_stream_random),
		cmocka_unit_test(test_stream_passthrough),
	};
	return cmocka_run_group_tests_name("mask", tests, NULL, NULL);
}
