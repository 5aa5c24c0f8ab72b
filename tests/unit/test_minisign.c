/*
 * test_minisign.c - unit tests for src/release/minisign: key and signature
 * formats, sign/verify, and interoperability with files made by the
 * minisign tool (fixtures below were made with `minisign -G -W`, `minisign
 * -S` and `minisign -S -l` over the message "slipway\n").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/hash.h"
#include "release/minisign.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char fx_pub[] = "untrusted comment: minisign public key 1E19A166A5893AEB\n"
			     "RWTrOomlZqEZHrStepI7KBal4hlWG5K/lSgAkn2fB5bOQ4geP7WHS52B\n";
static const char fx_key[] =
	"untrusted comment: minisign encrypted secret key\n"
	"RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA6zqJpWahGR6D18IBtstxuzcGzB9/iS9b2Uo3pqfU"
	"fhO3Cg19lVbBWbStepI7KBal4hlWG5K/lSgAkn2fB5bOQ4geP7WHS52BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
static const char fx_sig[] = "untrusted comment: signature from minisign secret key\n"
			     "RUTrOomlZqEZHvBB9J/OC0Bu5UMyj50+5Vok95tMD3RAntKDjiwVEiYxtU53Eet9hwuJx7Uzux1/KdKUjcXjEnih8OVg6vjyuwM=\n"
			     "trusted comment: release fixture\n"
			     "gsukPNV8yRAg+bwNRe/MdRgClZe5yza/L1ROsBF57+vigsNzAOQbK63KzJ7Yrw3HP1jLTaaE8P1O/VwWDOo2Cg==\n";
static const char fx_legacy[] = "untrusted comment: signature from minisign secret key\n"
				"RWTrOomlZqEZHmuTeIYYjVVizMwFim2YmMWac4QIsNNrFWQyjcxFoY0KXuecV9xvOMt4GXm9p1uy5B3GMcRptrLjXtlQZpM/+wg=\n"
				"trusted comment: legacy fixture\n"
				"xEAxpYNwPUjR/ZxUYZV3pDOFXefdhY+VqFNXevUtIhPvvb0YCyznmBlFqhgkbzlo07q7JX4fj7HP/eTzowMDDw==\n";
static const char fx_msg[] = "slipway\n";

static int setup(void **state)
{
	(void)state;
	return sw_hash_global_init();
}

static void test_key_id_format(void **state)
{
	const unsigned char keynum[8] = { 0x74, 0xe8, 0xea, 0x29, 0x40, 0x1f, 0x8f, 0xb1 };
	char id[SW_MINISIGN_KEY_ID_HEX];

	(void)state;
	sw_minisign_key_id(keynum, id);
	/* minisign shows the key number as a little-endian integer. */
	assert_string_equal(id, "B18F1F4029EAE874");
}

static void test_fixture_key_and_signatures(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_minisign_pubkey pk, pk2;
	struct sw_minisign_seckey sk;
	struct sw_minisign_sig sig;
	char id[SW_MINISIGN_KEY_ID_HEX];

	(void)state;
	assert_int_equal(sw_minisign_pubkey_parse(fx_pub, strlen(fx_pub), "fx.pub", &pk, &err), 0);
	sw_minisign_key_id(pk.keynum, id);
	assert_string_equal(id, "1E19A166A5893AEB");
	/* minisign -W leaves the checksum zero: still accepted, and consistent. */
	assert_int_equal(sw_minisign_seckey_parse(fx_key, strlen(fx_key), "fx.key", &sk, &err), 0);
	sw_minisign_seckey_public(&sk, &pk2);
	assert_memory_equal(&pk, &pk2, sizeof(pk));
	sw_minisign_seckey_wipe(&sk);

	assert_int_equal(sw_minisign_sig_parse(fx_sig, strlen(fx_sig), "msg.minisig", &sig, &err), 0);
	assert_int_equal(sig.alg, SW_MINISIGN_PREHASHED);
	assert_string_equal(sig.trusted, "release fixture");
	assert_int_equal(sw_minisign_verify_mem(&pk, &sig, fx_msg, strlen(fx_msg), &err), 0);
	assert_int_equal(sw_minisign_verify_mem(&pk, &sig, "slipway!", 8, &err), -1);
	assert_int_equal(err.code, SW_EINTEGRITY);
	assert_string_equal(err.msg, "signature does not match the content");

	assert_int_equal(sw_minisign_sig_parse(fx_legacy, strlen(fx_legacy), "msg.legacy", &sig, &err), 0);
	assert_int_equal(sig.alg, SW_MINISIGN_LEGACY);
	assert_int_equal(sw_minisign_verify_mem(&pk, &sig, fx_msg, strlen(fx_msg), &err), 0);
	assert_int_equal(sw_minisign_verify_mem(&pk, &sig, "Slipway\n", 8, &err), -1);
	assert_int_equal(err.code, SW_EINTEGRITY);
}

static void test_roundtrip_and_tamper(void **state)
{
	struct sw_buf pub = SW_BUF_INIT(SW_MINISIGN_FILE_MAX), sec = SW_BUF_INIT(SW_MINISIGN_FILE_MAX);
	struct sw_buf sigt = SW_BUF_INIT(SW_MINISIGN_FILE_MAX);
	struct sw_err err = SW_ERR_INIT;
	struct sw_minisign_pubkey pk, pk2;
	struct sw_minisign_seckey sk, sk2;
	struct sw_minisign_sig sig;
	char *p;

	(void)state;
	sw_minisign_keygen(&pk, &sk);
	assert_int_equal(sw_minisign_pubkey_format(&pk, &pub), 0);
	assert_int_equal(sw_minisign_seckey_format(&sk, &sec), 0);
	assert_int_equal(sw_minisign_pubkey_parse(pub.data, pub.len, "p", &pk2, &err), 0);
	assert_memory_equal(&pk, &pk2, sizeof(pk));
	assert_int_equal(sw_minisign_seckey_parse(sec.data, sec.len, "s", &sk2, &err), 0);
	assert_memory_equal(&sk, &sk2, sizeof(sk));

	assert_int_equal(sw_minisign_sign_mem(&sk, "payload", 7, "a.tar.zst", 1700000000, &sigt, &err), 0);
	assert_non_null(strstr(sigt.data, "trusted comment: timestamp:1700000000\tfile:a.tar.zst\thashed\n"));
	assert_int_equal(sw_minisign_sig_parse(sigt.data, sigt.len, "sig", &sig, &err), 0);
	assert_int_equal(sw_minisign_verify_mem(&pk, &sig, "payload", 7, &err), 0);
	assert_int_equal(sw_minisign_verify_mem(&pk, &sig, "paylaod", 7, &err), -1);
	assert_int_equal(err.code, SW_EINTEGRITY);

	/* A changed trusted comment breaks the global signature. */
	p = strstr(sigt.data, "hashed");
	assert_non_null(p);
	p[0] = 'H';
	assert_int_equal(sw_minisign_sig_parse(sigt.data, sigt.len, "sig", &sig, &err), 0);
	assert_int_equal(sw_minisign_verify_mem(&pk, &sig, "payload", 7, &err), -1);
	assert_string_equal(err.msg, "the trusted comment's signature is invalid");

	/* Another key: named clearly. */
	{
		struct sw_minisign_pubkey other;
		struct sw_minisign_seckey osk;
		char want[SW_MINISIGN_KEY_ID_HEX], have[SW_MINISIGN_KEY_ID_HEX], msg[128];

		p[0] = 'h';
		assert_int_equal(sw_minisign_sig_parse(sigt.data, sigt.len, "sig", &sig, &err), 0);
		sw_minisign_keygen(&other, &osk);
		sw_minisign_seckey_wipe(&osk);
		assert_int_equal(sw_minisign_verify_mem(&other, &sig, "payload", 7, &err), -1);
		assert_int_equal(err.code, SW_EINTEGRITY);
		sw_minisign_key_id(pk.keynum, have);
		sw_minisign_key_id(other.keynum, want);
		snprintf(msg, sizeof(msg), "signed by key %s, expected key %s", have, want);
		assert_string_equal(err.msg, msg);
		/* Same key id, different key: the signature check catches it. */
		memcpy(other.keynum, pk.keynum, 8);
		assert_int_equal(sw_minisign_verify_mem(&other, &sig, "payload", 7, &err), -1);
		assert_string_equal(err.msg, "signature does not match the content");
	}
	sw_minisign_seckey_wipe(&sk);
	sw_minisign_seckey_wipe(&sk2);
	sw_buf_release(&pub);
	sw_buf_release(&sec);
	sw_buf_release(&sigt);
}

/* Re-encode a secret key blob after editing it. */
static void sk_text(const unsigned char *bin, size_t n, char *out, size_t size)
{
	char b64[400];

	sodium_bin2base64(b64, sizeof(b64), bin, n, sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, size, "untrusted comment: k\n%s\n", b64);
}

static void test_seckey_rules(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_minisign_pubkey pk;
	struct sw_minisign_seckey sk, out;
	struct sw_buf sec = SW_BUF_INIT(SW_MINISIGN_FILE_MAX);
	unsigned char bin[158], copy[158];
	char text[512];
	size_t n;
	const char *nl;

	(void)state;
	sw_minisign_keygen(&pk, &sk);
	assert_int_equal(sw_minisign_seckey_format(&sk, &sec), 0);
	nl = strchr(sec.data, '\n');
	assert_int_equal(sodium_base642bin(bin, sizeof(bin), nl + 1, strlen(nl + 1) - 1, NULL, &n, NULL,
					   sodium_base64_VARIANT_ORIGINAL),
			 0);
	assert_int_equal(n, 158);
	assert_memory_equal(bin, "Ed\0\0B2", 6);

	/* Encrypted (scrypt) keys are refused with a plain explanation. */
	memcpy(copy, bin, sizeof(copy));
	memcpy(copy + 2, "Sc", 2);
	sk_text(copy, sizeof(copy), text, sizeof(text));
	assert_int_equal(sw_minisign_seckey_parse(text, strlen(text), "enc.key", &out, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "encrypted minisign secret keys are not supported yet; create one with "
					"'slipway keygen' or 'minisign -G -W'"));

	/* A wrong checksum is refused; an all-zero one (minisign -W) is not. */
	memcpy(copy, bin, sizeof(copy));
	copy[130] ^= 1;
	sk_text(copy, sizeof(copy), text, sizeof(text));
	assert_int_equal(sw_minisign_seckey_parse(text, strlen(text), "k", &out, &err), -1);
	assert_non_null(strstr(err.msg, "checksum"));
	memset(copy + 126, 0, 32);
	sk_text(copy, sizeof(copy), text, sizeof(text));
	assert_int_equal(sw_minisign_seckey_parse(text, strlen(text), "k", &out, &err), 0);

	/* The public half must belong to the seed. */
	memcpy(copy, bin, sizeof(copy));
	memset(copy + 126, 0, 32);
	copy[62 + 40] ^= 0x55;
	sk_text(copy, sizeof(copy), text, sizeof(text));
	assert_int_equal(sw_minisign_seckey_parse(text, strlen(text), "k", &out, &err), -1);
	assert_non_null(strstr(err.msg, "inconsistent"));

	/* Other algorithms. */
	memcpy(copy, bin, sizeof(copy));
	memcpy(copy + 4, "XX", 2);
	sk_text(copy, sizeof(copy), text, sizeof(text));
	assert_int_equal(sw_minisign_seckey_parse(text, strlen(text), "k", &out, &err), -1);
	sw_minisign_seckey_wipe(&sk);
	sw_minisign_seckey_wipe(&out);
	sodium_memzero(sec.data, sec.cap);
	sw_buf_release(&sec);
}

static void test_parse_errors(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_minisign_pubkey pk;
	struct sw_minisign_sig sig;
	char buf[1024];

	(void)state;
	assert_int_equal(sw_minisign_pubkey_parse("", 0, "p", &pk, &err), -1);
	assert_int_equal(sw_minisign_pubkey_parse("comment\nRWQ=\n", 13, "p", &pk, &err), -1);
	assert_non_null(strstr(err.msg, "untrusted comment"));
	snprintf(buf, sizeof(buf), "untrusted comment: x\n!!!notbase64\n");
	assert_int_equal(sw_minisign_pubkey_parse(buf, strlen(buf), "p", &pk, &err), -1);
	assert_non_null(strstr(err.msg, "not valid base64"));
	snprintf(buf, sizeof(buf), "untrusted comment: x\nRWQAAA==\n");
	assert_int_equal(sw_minisign_pubkey_parse(buf, strlen(buf), "p", &pk, &err), -1);
	assert_non_null(strstr(err.msg, "expected 42"));
	/* CRLF line ends are fine. */
	snprintf(buf, sizeof(buf), "untrusted comment: minisign public key\r\n"
				   "RWTrOomlZqEZHrStepI7KBal4hlWG5K/lSgAkn2fB5bOQ4geP7WHS52B\r\n");
	assert_int_equal(sw_minisign_pubkey_parse(buf, strlen(buf), "p", &pk, &err), 0);

	/* Signature files: each line checked. */
	assert_int_equal(sw_minisign_sig_parse(fx_sig, 60, "s", &sig, &err), -1);
	snprintf(buf, sizeof(buf), "%s", fx_sig);
	*strstr(buf, "trusted comment: release") = 'X';
	assert_int_equal(sw_minisign_sig_parse(buf, strlen(buf), "s", &sig, &err), -1);
	assert_non_null(strstr(err.msg, "trusted comment"));
	snprintf(buf, sizeof(buf), "%s", fx_sig);
	buf[strlen(buf) - 3] = '\0'; /* cut the global signature */
	assert_int_equal(sw_minisign_sig_parse(buf, strlen(buf), "s", &sig, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	/* An unknown signature algorithm. */
	snprintf(buf, sizeof(buf), "%s", fx_sig);
	buf[strlen("untrusted comment: signature from minisign secret key\n")] = 'X';
	assert_int_equal(sw_minisign_sig_parse(buf, strlen(buf), "s", &sig, &err), -1);
}

static void test_files_and_keypair(void **state)
{
	char dir[] = "/tmp/sw-test-minisign-XXXXXX", skp[256], pkp[256], f[256];
	struct sw_buf sigt = SW_BUF_INIT(SW_MINISIGN_FILE_MAX);
	struct sw_err err = SW_ERR_INIT;
	struct sw_minisign_pubkey pk, loaded;
	struct sw_minisign_seckey sk;
	struct sw_minisign_sig sig;
	struct stat st;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(skp, sizeof(skp), "%s/k.key", dir);
	snprintf(pkp, sizeof(pkp), "%s/k.pub", dir);
	snprintf(f, sizeof(f), "%s/file", dir);
	assert_int_equal(sw_minisign_write_keypair(skp, pkp, false, &pk, &err), 0);
	assert_int_equal(stat(skp, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(sw_minisign_write_keypair(skp, pkp, false, NULL, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "--force"));
	assert_int_equal(sw_minisign_pubkey_load(pkp, &loaded, &err), 0);
	assert_memory_equal(&pk, &loaded, sizeof(pk));
	assert_int_equal(sw_minisign_seckey_load(skp, &sk, &err), 0);

	fp = fopen(f, "w");
	assert_non_null(fp);
	fputs("bundle bytes\n", fp);
	fclose(fp);
	assert_int_equal(sw_minisign_sign_file(&sk, f, "file", 1, &sigt, &err), 0);
	assert_int_equal(sw_minisign_sig_parse(sigt.data, sigt.len, "sig", &sig, &err), 0);
	assert_int_equal(sw_minisign_verify_file(&pk, &sig, f, &err), 0);
	fp = fopen(f, "a");
	fputc('x', fp);
	fclose(fp);
	assert_int_equal(sw_minisign_verify_file(&pk, &sig, f, &err), -1);
	assert_int_equal(err.code, SW_EINTEGRITY);

	/* --force replaces the pair; the old signature no longer verifies with it. */
	assert_int_equal(sw_minisign_write_keypair(skp, pkp, true, &loaded, &err), 0);
	assert_memory_not_equal(&pk, &loaded, sizeof(pk));
	assert_int_equal(sw_minisign_pubkey_load("/nonexistent/k.pub", &pk, &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	sw_minisign_seckey_wipe(&sk);
	sw_buf_release(&sigt);
	assert_int_equal(sw_fs_remove_tree(dir, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_id_format),     cmocka_unit_test(test_fixture_key_and_signatures),
		cmocka_unit_test(test_roundtrip_and_tamper), cmocka_unit_test(test_seckey_rules),
		cmocka_unit_test(test_parse_errors),      cmocka_unit_test(test_files_and_keypair),
	};
	return cmocka_run_group_tests_name("minisign", tests, setup, NULL);
}
