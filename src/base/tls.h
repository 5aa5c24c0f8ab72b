/*
 * tls.h - what the CLI, the agent and the server share about TLS on the
 * API: the server certificate's public-key pin, the pin a join token
 * carries, and the rule that plain HTTP is for loopback only.
 *
 * A pin is the SHA-256 of the certificate's SubjectPublicKeyInfo (DER).
 * Written as libcurl's CURLOPT_PINNEDPUBLICKEY takes it:
 *   "sha256//" + 44 characters of standard base64 (with its '=' padding)
 * which is what `slipway server` writes to DATA/tls.pin and what --pin /
 * SLIPWAY_PIN take. One pin only (no ';' lists).
 *
 * Join token (made by the server, parsed by the agent):
 *   | form                 | meaning                                        |
 *   | SECRET               | a token of a plain-HTTP server, or an old one   |
 *   | SECRET "." PIN43     | the secret, then the server's pin: the same 32  |
 *   |                      | bytes in base64url without padding (43 chars)   |
 * SECRET is the server's "swj_<43 base64url>" (no '.' in it), the only part
 * sent back to the server at enrollment. The pin is not secret: it tells
 * the agent which server to trust the first time it connects.
 *
 * Loopback: 127.0.0.0/8 written as a dotted quad, ::1 (also ::ffff:127.x.y.z),
 * and the name "localhost". Any other name counts as not loopback.
 *
 * Calls libsodium (base64), libc, base/err, base/buf.
 */
#ifndef SW_TLS_H
#define SW_TLS_H

#include <stddef.h>

#include "base/err.h"

#define SW_TLS_PIN_BYTES 32
#define SW_TLS_PIN_MAX 64      /* "sha256//" + 44 + NUL fits */
#define SW_TLS_PIN_URL_LEN 43  /* the base64url form a join token carries */
#define SW_TLS_PIN_PREFIX "sha256//"

/* "sha256//..." (len bytes, not NUL-terminated) into the 32 bytes; SW_EINPUT naming what. */
int sw_tls_pin_parse(const char *text, size_t len, const char *what, unsigned char hash[SW_TLS_PIN_BYTES],
		     struct sw_err *err);
/* The "sha256//..." form of hash into out (SW_TLS_PIN_MAX bytes). */
void sw_tls_pin_format(const unsigned char hash[SW_TLS_PIN_BYTES], char out[SW_TLS_PIN_MAX]);

/*
 * Split a join token (len bytes) into its secret (NUL-terminated, into
 * secret of secret_size) and its pin ("sha256//..." into pin, "" when the
 * token carries none). SW_EINPUT for an empty secret or a part after '.'
 * that is not a pin.
 */
int sw_tls_join_split(const char *token, size_t len, char *secret, size_t secret_size, char pin[SW_TLS_PIN_MAX],
		      struct sw_err *err);
/* SECRET "." PIN43 into out; -1 when it does not fit. */
int sw_tls_join_compose(const char *secret, const unsigned char hash[SW_TLS_PIN_BYTES], char *out, size_t size);

/* 1 when host (no brackets, no port) is a loopback address or "localhost", else 0. */
int sw_tls_host_is_loopback(const char *host);

#endif
