/*
 * tls.c - load and check the server's certificate and key, compute its
 * pin (see tls.h).
 */
#include "server/tls.h"
#include "base/buf.h"
#include "base/fs.h"
#include "base/log.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* path's text into *out (NUL-terminated, owned by the caller). */
static int sw_tls_read(const char *path, const char *what, char **out, struct sw_err *err)
{
	struct sw_buf b = SW_BUF_INIT(SW_TLS_FILE_MAX);

	*out = NULL;
	if (sw_fs_read_file(path, SW_TLS_FILE_MAX, &b, err) < 0) {
		sw_err_prefix(err, "%s", what);
		if (err)
			err->code = SW_EINPUT; /* a file the admin named: bad input, exit 2 */
		sw_buf_release(&b);
		return -1;
	}
	if (b.len == 0 || memchr(b.data, '\0', b.len)) {
		sw_buf_release(&b);
		return sw_err_set(err, SW_EINPUT, "%s '%s' is empty or not PEM text", what, path);
	}
	*out = sw_buf_detach(&b, NULL);
	return 0;
}

static void sw_tls_free_key(char *key)
{
	if (key) {
		sodium_memzero(key, strlen(key));
		free(key);
	}
}

int sw_tls_cert_load(const char *cert_path, const char *key_path, struct sw_tls_cert *c, struct sw_err *err)
{
	gnutls_x509_crt_t *crts = NULL;
	unsigned ncrt = 0, i;
	gnutls_x509_privkey_t key = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_datum_t d, kd, der = { NULL, 0 };
	time_t now = time(NULL);
	int rc = -1, g;

	memset(c, 0, sizeof(*c));
	if (sw_tls_read(cert_path, "--tls-cert", &c->cert_pem, err) < 0 ||
	    sw_tls_read(key_path, "--tls-key", &c->key_pem, err) < 0)
		goto out;
	d.data = (unsigned char *)c->cert_pem;
	d.size = (unsigned)strlen(c->cert_pem);
	g = gnutls_x509_crt_list_import2(&crts, &ncrt, &d, GNUTLS_X509_FMT_PEM, GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	if (g < 0 || ncrt == 0) {
		sw_err_set(err, SW_EINPUT, "--tls-cert '%s' is not a PEM certificate (chain): %s", cert_path,
			   g < 0 ? gnutls_strerror(g) : "no certificate in it");
		goto out;
	}
	kd.data = (unsigned char *)c->key_pem;
	kd.size = (unsigned)strlen(c->key_pem);
	if ((g = gnutls_x509_privkey_init(&key)) < 0 ||
	    (g = gnutls_x509_privkey_import2(key, &kd, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN)) < 0) {
		sw_err_set(err, SW_EINPUT, "--tls-key '%s' is not an unencrypted PEM private key: %s", key_path,
			   gnutls_strerror(g));
		goto out;
	}
	if ((g = gnutls_certificate_allocate_credentials(&cred)) < 0) {
		sw_err_set(err, SW_EINTERNAL, "cannot set up TLS credentials: %s", gnutls_strerror(g));
		goto out;
	}
	g = gnutls_certificate_set_x509_key_mem2(cred, &d, &kd, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
	if (g < 0) {
		sw_err_set(err, SW_EINPUT, "--tls-key '%s' does not go with --tls-cert '%s': %s", key_path, cert_path,
			   gnutls_strerror(g));
		goto out;
	}
	if ((g = gnutls_pubkey_init(&pub)) < 0 || (g = gnutls_pubkey_import_x509(pub, crts[0], 0)) < 0 ||
	    (g = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der)) < 0) {
		sw_err_set(err, SW_EINPUT, "--tls-cert '%s': cannot read its public key: %s", cert_path,
			   gnutls_strerror(g));
		goto out;
	}
	crypto_hash_sha256(c->pin_hash, der.data, der.size);
	sw_tls_pin_format(c->pin_hash, c->pin);
	if (gnutls_x509_crt_get_expiration_time(crts[0]) < now)
		sw_warn("the TLS certificate '%s' has expired: clients will refuse it", cert_path);
	else if (gnutls_x509_crt_get_activation_time(crts[0]) > now)
		sw_warn("the TLS certificate '%s' is not valid yet: clients will refuse it", cert_path);
	rc = 0;
out:
	gnutls_free(der.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	if (cred)
		gnutls_certificate_free_credentials(cred);
	if (key)
		gnutls_x509_privkey_deinit(key);
	for (i = 0; i < ncrt; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	if (rc < 0)
		sw_tls_cert_release(c);
	return rc;
}

void sw_tls_cert_release(struct sw_tls_cert *c)
{
	free(c->cert_pem);
	sw_tls_free_key(c->key_pem);
	c->cert_pem = c->key_pem = NULL;
}
