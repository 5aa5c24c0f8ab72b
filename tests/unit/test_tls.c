/*
 * test_tls.c - unit tests for base/tls.c (pins, the pin a join token
 * carries, the loopback rule), base/httpc's server URL check, and
 * server/tls.c's certificate loading against files made by openssl.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/fs.h"
#include "base/httpc.h"
#include "base/tls.h"
#include "server/tls.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 32 bytes 0x00..0x1f in both spellings (computed with python's base64 module). */
static const char PIN_STD[] = "sha256//AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
static const char PIN_URL[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
/* 32 bytes of 0xfb, whose base64 uses '+' and '/': the base64url form differs. */
static const char PIN_STD2[] = "sha256//+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s=";
static const char PIN_URL2[] = "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s";

static void test_pin_parse_format(void **state)
{
	unsigned char h[SW_TLS_PIN_BYTES], want[SW_TLS_PIN_BYTES];
	char out[SW_TLS_PIN_MAX];
	struct sw_err err = SW_ERR_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want); i++)
		want[i] = (unsigned char)i;
	assert_int_equal(sw_tls_pin_parse(PIN_STD, strlen(PIN_STD), "--pin", h, &err), 0);
	assert_memory_equal(h, want, sizeof(want));
	sw_tls_pin_format(h, out);
	assert_string_equal(out, PIN_STD);
	assert_int_equal(sw_tls_pin_parse(PIN_STD2, strlen(PIN_STD2), "--pin", h, &err), 0);
	sw_tls_pin_format(h, out);
	assert_string_equal(out, PIN_STD2);

	/* Refused, each with the caller's name for it. */
	static const char *const bad[] = {
		"",
		"sha256//",
		"sha1//AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"SHA256//AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"sha256//AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",    /* no padding */
		"sha256//AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==",  /* too long */
		"sha256//AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=",   /* unused bits set: not canonical */
		"sha256//-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s=", /* base64url alphabet */
		"sha256//AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", /* a newline left in */
		"sha256//AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd Hh8=",
		"sha256//AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=;sha256//AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	};
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sw_err_clear(&err);
		assert_int_equal(sw_tls_pin_parse(bad[i], strlen(bad[i]), "SLIPWAY_PIN", h, &err), -1);
		assert_int_equal(err.code, SW_EINPUT);
		assert_non_null(strstr(err.msg, "SLIPWAY_PIN: "));
	}
	/* Only len bytes are read: the pin inside a longer buffer parses. */
	assert_int_equal(sw_tls_pin_parse("sha256//AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=trailing", strlen(PIN_STD),
					  "--pin", h, &err),
			 0);
}

static void test_join_split(void **state)
{
	char secret[128], pin[SW_TLS_PIN_MAX], tok[256];
	struct sw_err err = SW_ERR_INIT;
	unsigned char h[SW_TLS_PIN_BYTES];
	size_t i;

	(void)state;
	/* The old form: the secret alone, no pin. */
	assert_int_equal(sw_tls_join_split("swj_abc-_XYZ", 12, secret, sizeof(secret), pin, &err), 0);
	assert_string_equal(secret, "swj_abc-_XYZ");
	assert_string_equal(pin, "");
	/* With the pin: back in the sha256// form curl takes. */
	snprintf(tok, sizeof(tok), "swj_abc.%s", PIN_URL);
	assert_int_equal(sw_tls_join_split(tok, strlen(tok), secret, sizeof(secret), pin, &err), 0);
	assert_string_equal(secret, "swj_abc");
	assert_string_equal(pin, PIN_STD);
	snprintf(tok, sizeof(tok), "swj_abc.%s", PIN_URL2);
	assert_int_equal(sw_tls_join_split(tok, strlen(tok), secret, sizeof(secret), pin, &err), 0);
	assert_string_equal(pin, PIN_STD2);

	/* compose is split's inverse. */
	assert_int_equal(sw_tls_pin_parse(PIN_STD2, strlen(PIN_STD2), "pin", h, &err), 0);
	assert_int_equal(sw_tls_join_compose("swj_secret", h, tok, sizeof(tok)), 0);
	assert_int_equal(strncmp(tok, "swj_secret.", 11), 0);
	assert_string_equal(tok + 11, PIN_URL2);
	assert_int_equal(sw_tls_join_split(tok, strlen(tok), secret, sizeof(secret), pin, &err), 0);
	assert_string_equal(secret, "swj_secret");
	assert_string_equal(pin, PIN_STD2);
	assert_int_equal(sw_tls_join_compose("swj_secret", h, tok, 20), -1); /* does not fit */

	static const char *const bad[] = {
		"",
		".AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
		"swj_abc.",
		"swj_abc.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh",    /* short */
		"swj_abc.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A",  /* long */
		"swj_abc.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9",   /* unused bits set */
		"swj_abc.+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s", /* standard alphabet */
		"swj_abc.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",  /* padding */
		"swj_abc.sha256//AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"swj_abc.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8.x", /* a second part */
	};
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sw_err_clear(&err);
		assert_int_equal(sw_tls_join_split(bad[i], strlen(bad[i]), secret, sizeof(secret), pin, &err), -1);
		assert_int_equal(err.code, SW_EINPUT);
		assert_string_equal(pin, "");
	}
	/* A NUL inside, and a secret longer than the caller's buffer. */
	assert_int_equal(sw_tls_join_split("swj_a\0b", 7, secret, sizeof(secret), pin, &err), -1);
	assert_int_equal(sw_tls_join_split("swj_abcdef", 10, secret, 8, pin, &err), -1);
	assert_non_null(strstr(err.msg, "too long"));
}

static void test_loopback(void **state)
{
	static const char *const yes[] = { "127.0.0.1", "127.255.0.9", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1",
					   "localhost", "LocalHost" };
	static const char *const no[] = { "",	     "0.0.0.0",	    "::",	    "10.0.0.1", "128.0.0.1", "::2",
					  "::ffff:10.0.0.1", "example.com", "127.0.0.1.nip.io", "localhost.example.com",
					  "127.1",   "[::1]" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_int_equal(sw_tls_host_is_loopback(yes[i]), 1);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_int_equal(sw_tls_host_is_loopback(no[i]), 0);
	assert_int_equal(sw_tls_host_is_loopback(NULL), 0);
}

static void test_server_url_check(void **state)
{
	static const char *const ok[] = { "http://127.0.0.1:7070",  "http://127.0.0.1:7070/", "http://[::1]:7070",
					  "http://localhost:7070", "https://10.0.0.1:7070", "https://example.com",
					  "HTTP://127.0.0.1:1" };
	static const char *const plain[] = { "http://10.0.0.1:7070", "http://example.com", "http://[2001:db8::1]:1",
					     "http://0.0.0.0:7070", "http://127.0.0.1.example.com:1" };
	static const char *const junk[] = { "ftp://127.0.0.1/", "127.0.0.1:7070", "", "http://" };
	struct sw_err err = SW_ERR_INIT;
	size_t i;

	(void)state;
	assert_int_equal(sw_httpc_global_init(), 0);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(sw_httpc_check_url(ok[i], false, "--server", &err), 0);
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		sw_err_clear(&err);
		assert_int_equal(sw_httpc_check_url(plain[i], false, "--server", &err), -1);
		assert_int_equal(err.code, SW_EINPUT);
		assert_non_null(strstr(err.msg, "refusing plain HTTP"));
		assert_int_equal(sw_httpc_check_url(plain[i], true, "--server", &err), 0);
	}
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		sw_err_clear(&err);
		assert_int_equal(sw_httpc_check_url(junk[i], true, "--server", &err), -1);
		assert_non_null(strstr(err.msg, "not an http:// or https:// URL"));
	}
}

/* A request to the server with req.tls is refused before connecting when the URL breaks the rule. */
static void test_request_refused_before_connect(void **state)
{
	struct sw_httpc_tls tls;
	struct sw_httpc_req req = { 0 };
	struct sw_buf resp = SW_BUF_INIT(1024);
	struct sw_err err = SW_ERR_INIT;
	long status = -1;

	(void)state;
	memset(&tls, 0, sizeof(tls));
	req.method = "GET";
	req.url = "http://10.0.0.1:7070/api/v1/health";
	req.tls = &tls;
	req.timeout_ms = 1; /* were it to connect, it would time out instead */
	assert_int_equal(sw_httpc_do(&req, &status, &resp, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "refusing plain HTTP"));
	assert_int_equal(status, 0);
	sw_buf_release(&resp);
}

static int sh(const char *cmd)
{
	int rc = system(cmd);

	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_cert_load(void **state)
{
	char dir[] = "/tmp/sw-test-tls-XXXXXX", cmd[1024], cert[PATH_MAX], key[PATH_MAX], other[PATH_MAX],
	     expect[SW_TLS_PIN_MAX + 8];
	struct sw_tls_cert c;
	struct sw_err err = SW_ERR_INIT;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/c.pem", dir);
	snprintf(key, sizeof(key), "%s/k.pem", dir);
	snprintf(other, sizeof(other), "%s/o.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout k.pem "
		 "-out c.pem -days 2 -subj /CN=t -addext subjectAltName=IP:127.0.0.1 2>/dev/null && "
		 "openssl genpkey -algorithm ed25519 -out o.pem 2>/dev/null && "
		 "printf 'sha256//%%s' $(openssl x509 -in c.pem -pubkey -noout | openssl pkey -pubin -outform der | "
		 "openssl dgst -sha256 -binary | base64) > pin",
		 dir);
	assert_int_equal(sh(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/pin", dir);
	f = fopen(cmd, "r");
	assert_non_null(f);
	assert_non_null(fgets(expect, sizeof(expect), f));
	fclose(f);

	assert_int_equal(sw_tls_cert_load(cert, key, &c, &err), 0);
	assert_string_equal(c.pin, expect);
	assert_non_null(strstr(c.cert_pem, "BEGIN CERTIFICATE"));
	assert_non_null(strstr(c.key_pem, "PRIVATE KEY"));
	sw_tls_cert_release(&c);
	assert_null(c.key_pem);

	/* Each failure is bad input naming the file. */
	assert_int_equal(sw_tls_cert_load(cert, other, &c, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, other));
	assert_int_equal(sw_tls_cert_load(key, key, &c, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "not a PEM certificate"));
	assert_int_equal(sw_tls_cert_load(cert, cert, &c, &err), -1);
	assert_non_null(strstr(err.msg, "not an unencrypted PEM private key"));
	snprintf(cmd, sizeof(cmd), "%s/missing.pem", dir);
	assert_int_equal(sw_tls_cert_load(cmd, key, &c, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "missing.pem"));
	assert_null(c.cert_pem);
	assert_null(c.key_pem);
	sw_fs_remove_tree(dir, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pin_parse_format),	   cmocka_unit_test(test_join_split),
		cmocka_unit_test(test_loopback),		   cmocka_unit_test(test_server_url_check),
		cmocka_unit_test(test_request_refused_before_connect), cmocka_unit_test(test_cert_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
