/*
 * fuzz_json.c - libFuzzer target for base/json.h: sw_json_parse() and
 * sw_json_canonical(), the bytes Slipway hashes (event payloads) and signs.
 *
 * Properties checked on every input that parses:
 *   - its canonical form encodes without error and parses again;
 *   - the value parsed back equals the first one (json_equal);
 *   - canonical form is a fixed point:
 *       canonical(parse(canonical(parse(x)))) == canonical(parse(x)).
 * Any violation aborts, which libFuzzer reports as a crash.
 * Corpus: tests/fuzz/corpus/json/.
 */
#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_JSON_MAX (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what, const struct sw_buf *a, const struct sw_buf *b)
{
	fprintf(stderr, "fuzz_json: %s\nfirst:  %s\nsecond: %s\n", what, sw_buf_str(a), b ? sw_buf_str(b) : "");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_buf c1 = SW_BUF_INIT(SW_BUF_UNLIMITED), c2 = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_err err = SW_ERR_INIT;
	json_t *v1, *v2;

	v1 = sw_json_parse((const char *)data, size, FUZZ_JSON_MAX, "fuzz", &err);
	if (!v1) {
		/* A refusal must say why, with a location or a size. */
		if (err.code != SW_EINPUT || !err.msg[0])
			abort();
		return 0;
	}
	if (sw_json_canonical(v1, &c1) < 0)
		fuzz_fail("canonical form of a parsed value cannot be encoded", &c1, NULL);
	v2 = sw_json_parse(c1.data, c1.len, SIZE_MAX, "canonical", &err);
	if (!v2)
		fuzz_fail(err.msg, &c1, NULL);
	if (!json_equal(v1, v2))
		fuzz_fail("canonical form parses to another value", &c1, NULL);
	if (sw_json_canonical(v2, &c2) < 0)
		fuzz_fail("canonical form of the canonical value cannot be encoded", &c1, NULL);
	if (c1.len != c2.len || memcmp(c1.data, c2.data, c1.len) != 0)
		fuzz_fail("canonical form is not a fixed point", &c1, &c2);
	json_decref(v1);
	json_decref(v2);
	sw_buf_release(&c1);
	sw_buf_release(&c2);
	return 0;
}
