/*
 * fuzz_minisig.c - libFuzzer target for release/minisign.h: the public key,
 * secret key and signature parsers, and verification of whatever parses.
 *
 * Properties checked on every input:
 *   - a refusal is SW_EINPUT with a message;
 *   - a public or secret key that parses formats back to text that parses
 *     to the same key;
 *   - a signature that parses can be verified against a fixed key and
 *     message without crashing, and the verdict is 0 or SW_EINTEGRITY; it
 *     never verifies unless the input carries one of the fixture signatures;
 *   - the fixture signature still verifies with the input as a message only
 *     when the input is the fixture message.
 * Any violation aborts, which libFuzzer reports as a crash.
 * Corpus: tests/fuzz/corpus/minisig/.
 */
#include "base/buf.h"
#include "base/err.h"
#include "base/hash.h"
#include "release/minisign.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fx_pub[] = "untrusted comment: minisign public key 1E19A166A5893AEB\n"
			     "RWTrOomlZqEZHrStepI7KBal4hlWG5K/lSgAkn2fB5bOQ4geP7WHS52B\n";
static const char fx_sig[] = "untrusted comment: signature from minisign secret key\n"
			     "RUTrOomlZqEZHvBB9J/OC0Bu5UMyj50+5Vok95tMD3RAntKDjiwVEiYxtU53Eet9hwuJx7Uzux1/KdKUjcXjEnih8OVg6vjyuwM=\n"
			     "trusted comment: release fixture\n"
			     "gsukPNV8yRAg+bwNRe/MdRgClZe5yza/L1ROsBF57+vigsNzAOQbK63KzJ7Yrw3HP1jLTaaE8P1O/VwWDOo2Cg==\n";
static const char fx_legacy[] = "untrusted comment: signature from minisign secret key\n"
				"RWTrOomlZqEZHmuTeIYYjVVizMwFim2YmMWac4QIsNNrFWQyjcxFoY0KXuecV9xvOMt4GXm9p1uy5B3GMcRptrLjXtlQZpM/+wg=\n"
				"trusted comment: legacy fixture\n"
				"xEAxpYNwPUjR/ZxUYZV3pDOFXefdhY+VqFNXevUtIhPvvb0YCyznmBlFqhgkbzlo07q7JX4fj7HP/eTzowMDDw==\n";
static const char fx_msg[] = "slipway\n";

static int same_sig(const struct sw_minisign_sig *a, const struct sw_minisign_sig *b)
{
	return a->alg == b->alg && !memcmp(a->sig, b->sig, 64) && !memcmp(a->global_sig, b->global_sig, 64) &&
	       a->trusted_len == b->trusted_len && !memcmp(a->trusted, b->trusted, a->trusted_len);
}

static void refused_ok(const struct sw_err *err)
{
	if (err->code != SW_EINPUT || !err->msg[0]) {
		fprintf(stderr, "fuzz_minisig: refusal without SW_EINPUT/message: %d '%s'\n", err->code, err->msg);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sw_minisign_pubkey fpk;
	static struct sw_minisign_sig fsig, flegacy;
	static int ready;
	const char *text = (const char *)data;
	struct sw_err err = SW_ERR_INIT;
	struct sw_minisign_pubkey pk, pk2;
	struct sw_minisign_seckey sk, sk2;
	struct sw_minisign_sig *sig = malloc(sizeof(*sig));
	struct sw_buf b = SW_BUF_INIT(SW_MINISIGN_FILE_MAX);
	int rc;

	if (!ready) {
		if (sw_hash_global_init() < 0 ||
		    sw_minisign_pubkey_parse(fx_pub, strlen(fx_pub), "fx", &fpk, &err) < 0 ||
		    sw_minisign_sig_parse(fx_sig, strlen(fx_sig), "fx", &fsig, &err) < 0 ||
		    sw_minisign_sig_parse(fx_legacy, strlen(fx_legacy), "fx", &flegacy, &err) < 0)
			abort();
		ready = 1;
	}

	if (sw_minisign_pubkey_parse(text, size, "fuzz.pub", &pk, &err) == 0) {
		if (sw_minisign_pubkey_format(&pk, &b) < 0 ||
		    sw_minisign_pubkey_parse(b.data, b.len, "again", &pk2, &err) < 0 || memcmp(&pk, &pk2, sizeof(pk)))
			abort();
		sw_buf_reset(&b);
	} else {
		refused_ok(&err);
	}

	if (sw_minisign_seckey_parse(text, size, "fuzz.key", &sk, &err) == 0) {
		if (sw_minisign_seckey_format(&sk, &b) < 0 ||
		    sw_minisign_seckey_parse(b.data, b.len, "again", &sk2, &err) < 0 || memcmp(&sk, &sk2, sizeof(sk)))
			abort();
		sw_buf_reset(&b);
		sw_minisign_seckey_wipe(&sk);
		sw_minisign_seckey_wipe(&sk2);
	} else {
		refused_ok(&err);
	}

	if (sw_minisign_sig_parse(text, size, "fuzz.minisig", sig, &err) == 0) {
		if (sig->trusted_len != strlen(sig->trusted))
			abort();
		rc = sw_minisign_verify_mem(&fpk, sig, fx_msg, strlen(fx_msg), &err);
		if (rc < 0 && err.code != SW_EINTEGRITY)
			abort();
		/* Only the fixtures' own signatures and comments can verify (no forgery). */
		if (rc == 0 && !same_sig(sig, &fsig) && !same_sig(sig, &flegacy))
			abort();
	} else {
		refused_ok(&err);
	}

	/* The input as a message under the fixture signature. */
	rc = sw_minisign_verify_mem(&fpk, &fsig, data, size, &err);
	if (rc == 0 && (size != strlen(fx_msg) || memcmp(data, fx_msg, size)))
		abort();
	if (rc < 0 && err.code != SW_EINTEGRITY)
		abort();

	sw_buf_release(&b);
	free(sig);
	return 0;
}
