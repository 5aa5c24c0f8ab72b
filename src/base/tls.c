/*
 * tls.c - pins, the join token's pin and the loopback rule (see tls.h).
 */
#include "base/tls.h"
#include "base/buf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

#define SW_TLS_PIN_B64_LEN 44 /* standard base64 of 32 bytes, with one '=' */

/* Decode exactly n characters of base64 (variant) into 32 bytes, canonical form only. */
static int sw_tls_decode(const char *p, size_t n, int variant, unsigned char hash[SW_TLS_PIN_BYTES])
{
	char again[SW_TLS_PIN_B64_LEN + 1];
	const char *end = NULL;
	size_t got = 0;

	if (sodium_base642bin(hash, SW_TLS_PIN_BYTES, p, n, NULL, &got, &end, variant) != 0 || got != SW_TLS_PIN_BYTES ||
	    end != p + n)
		return -1;
	/* One spelling per pin: unused low bits must be zero (re-encode and compare). */
	sodium_bin2base64(again, sizeof(again), hash, SW_TLS_PIN_BYTES, variant);
	return strlen(again) == n && !memcmp(again, p, n) ? 0 : -1;
}

int sw_tls_pin_parse(const char *text, size_t len, const char *what, unsigned char hash[SW_TLS_PIN_BYTES],
		     struct sw_err *err)
{
	size_t plen = strlen(SW_TLS_PIN_PREFIX);

	if (len < plen || memcmp(text, SW_TLS_PIN_PREFIX, plen))
		return sw_err_set(err, SW_EINPUT, "%s: a pin starts with '%s' (the server's DATA/tls.pin)", what,
				  SW_TLS_PIN_PREFIX);
	if (len - plen != SW_TLS_PIN_B64_LEN ||
	    sw_tls_decode(text + plen, len - plen, sodium_base64_VARIANT_ORIGINAL, hash) < 0)
		return sw_err_set(err, SW_EINPUT,
				  "%s: expected '%s' and 44 characters of base64 (a SHA-256 of the public key)", what,
				  SW_TLS_PIN_PREFIX);
	return 0;
}

void sw_tls_pin_format(const unsigned char hash[SW_TLS_PIN_BYTES], char out[SW_TLS_PIN_MAX])
{
	size_t plen = strlen(SW_TLS_PIN_PREFIX);

	memcpy(out, SW_TLS_PIN_PREFIX, plen);
	sodium_bin2base64(out + plen, SW_TLS_PIN_MAX - plen, hash, SW_TLS_PIN_BYTES, sodium_base64_VARIANT_ORIGINAL);
}

int sw_tls_join_split(const char *token, size_t len, char *secret, size_t secret_size, char pin[SW_TLS_PIN_MAX],
		      struct sw_err *err)
{
	const char *dot = memchr(token, '.', len);
	size_t slen = dot ? (size_t)(dot - token) : len;
	unsigned char hash[SW_TLS_PIN_BYTES];

	pin[0] = '\0';
	if (secret_size)
		secret[0] = '\0';
	if (slen == 0)
		return sw_err_set(err, SW_EINPUT, "join token is empty before its '.'");
	if (memchr(token, '\0', len))
		return sw_err_set(err, SW_EINPUT, "join token contains a NUL byte");
	if (slen >= secret_size)
		return sw_err_set(err, SW_EINPUT, "join token is too long");
	if (dot) {
		size_t plen = len - slen - 1;

		if (plen != SW_TLS_PIN_URL_LEN ||
		    sw_tls_decode(dot + 1, plen, sodium_base64_VARIANT_URLSAFE_NO_PADDING, hash) < 0)
			return sw_err_set(err, SW_EINPUT,
					  "join token: the part after '.' is not a server pin (43 characters of base64url)");
		sw_tls_pin_format(hash, pin);
	}
	memcpy(secret, token, slen);
	secret[slen] = '\0';
	return 0;
}

int sw_tls_join_compose(const char *secret, const unsigned char hash[SW_TLS_PIN_BYTES], char *out, size_t size)
{
	char b64[SW_TLS_PIN_URL_LEN + 1];

	sodium_bin2base64(b64, sizeof(b64), hash, SW_TLS_PIN_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return sw_snprintf(out, size, "%s.%s", secret, b64) < 0 ? -1 : 0;
}

int sw_tls_host_is_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (!host || !*host)
		return 0; /* every address */
	if (!strcasecmp(host, "localhost"))
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return 0;
}
