/*
 * fuzz_join_pin.c - libFuzzer target for base/tls.h: the join token split
 * (secret and the pin it may carry) and the sha256// pin parser.
 *
 * Properties checked on every input (as a join token, and as a pin):
 *   - a refusal is SW_EINPUT with a message, and leaves the pin empty;
 *   - a token that splits gives a non-empty secret without '.', equal to
 *     the input up to its first '.'; with a pin, composing the secret and
 *     the pin again gives back the input byte for byte (one spelling);
 *   - a pin that parses formats back to the same bytes.
 * Any violation aborts, which libFuzzer reports as a crash.
 * Corpus: tests/fuzz/corpus/join_pin/.
 */
#include "base/err.h"
#include "base/tls.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char secret[128], pin[SW_TLS_PIN_MAX], again[256];
	unsigned char hash[SW_TLS_PIN_BYTES];
	struct sw_err err = SW_ERR_INIT;

	if (sw_tls_join_split(in, size, secret, sizeof(secret), pin, &err) < 0) {
		if (err.code != SW_EINPUT || !err.msg[0] || pin[0])
			abort();
	} else {
		size_t slen = strlen(secret);

		if (slen == 0 || memchr(secret, '.', slen) || slen > size || memcmp(secret, in, slen))
			abort();
		if (!pin[0]) {
			if (slen != size)
				abort();
		} else {
			if (sw_tls_pin_parse(pin, strlen(pin), "pin", hash, &err) < 0 ||
			    sw_tls_join_compose(secret, hash, again, sizeof(again)) < 0 || strlen(again) != size ||
			    memcmp(again, in, size))
				abort();
		}
	}
	sw_err_clear(&err);
	if (sw_tls_pin_parse(in, size, "pin", hash, &err) < 0) {
		if (err.code != SW_EINPUT || !err.msg[0])
			abort();
	} else {
		sw_tls_pin_format(hash, pin);
		if (strlen(pin) != size || memcmp(pin, in, size))
			abort();
	}
	return 0;
}
