/*
 * tls.h - the server's certificate for TLS on the API: read the PEM
 * certificate (chain) and private key files, check that they parse and
 * belong together, and compute the certificate's public-key pin
 * (base/tls.h), which the server writes to DATA/tls.pin and puts in join
 * tokens. libmicrohttpd serves with the PEM text (server/http.h).
 *
 * Errors are SW_EINPUT naming the file: unreadable, not a PEM certificate,
 * not an unencrypted PEM private key, or a key that is not the
 * certificate's. A certificate outside its validity period is served with
 * a warning (clients will refuse it; the admin should see why).
 *
 * Ownership: sw_tls_cert_release wipes and frees the key text.
 * Calls GnuTLS, libsodium (SHA-256, wiping), base/.
 */
#ifndef SW_SERVER_TLS_H
#define SW_SERVER_TLS_H

#include "base/err.h"
#include "base/tls.h"

#define SW_TLS_FILE_MAX ((size_t)1 << 20) /* largest certificate or key file read */

struct sw_tls_cert {
	char *cert_pem;                          /* NUL-terminated, owned */
	char *key_pem;                           /* NUL-terminated, owned, wiped at release */
	unsigned char pin_hash[SW_TLS_PIN_BYTES];
	char pin[SW_TLS_PIN_MAX];                /* "sha256//..." */
};

int sw_tls_cert_load(const char *cert_path, const char *key_path, struct sw_tls_cert *c, struct sw_err *err);
void sw_tls_cert_release(struct sw_tls_cert *c);

#endif
