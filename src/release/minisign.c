/*
 * minisign.c - minisign key and signature formats over libsodium (see
 * minisign.h for the byte layouts). Written from the format description;
 * no minisign code is used. Owns nothing beyond the caller's structs.
 * Calls libsodium, libc, base/buf, base/err, base/fs.
 */
#include "release/minisign.h"
#include "base/fs.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/stat.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SW_MS_UNTRUSTED "untrusted comment: "
#define SW_MS_TRUSTED "trusted comment: "
#define SW_MS_PK_BYTES 42
#define SW_MS_SK_BYTES 158
#define SW_MS_SIG_BYTES 74

_Static_assert(crypto_sign_PUBLICKEYBYTES == 32, "ed25519 public key size");
_Static_assert(crypto_sign_SECRETKEYBYTES == 64, "ed25519 secret key size");
_Static_assert(crypto_sign_BYTES == 64, "ed25519 signature size");

void sw_minisign_key_id(const unsigned char keynum[SW_MINISIGN_KEYNUM_BYTES], char out[SW_MINISIGN_KEY_ID_HEX])
{
	uint64_t v = 0;
	int i;

	for (i = SW_MINISIGN_KEYNUM_BYTES - 1; i >= 0; i--)
		v = (v << 8) | keynum[i];
	snprintf(out, SW_MINISIGN_KEY_ID_HEX, "%016" PRIX64, v);
}

void sw_minisign_keygen(struct sw_minisign_pubkey *pk, struct sw_minisign_seckey *sk)
{
	randombytes_buf(sk->keynum, sizeof(sk->keynum));
	crypto_sign_keypair(pk->pk, sk->sk);
	memcpy(pk->keynum, sk->keynum, sizeof(pk->keynum));
}

void sw_minisign_seckey_wipe(struct sw_minisign_seckey *sk)
{
	sodium_memzero(sk, sizeof(*sk));
}

void sw_minisign_seckey_public(const struct sw_minisign_seckey *sk, struct sw_minisign_pubkey *pk)
{
	memcpy(pk->keynum, sk->keynum, sizeof(pk->keynum));
	crypto_sign_ed25519_sk_to_pk(pk->pk, sk->sk);
}

/* ---- text helpers ---- */

struct sw_ms_line {
	const char *p;
	size_t n;
};

/* Split off the next line of [*pos, end): without "\n" or "\r\n". Returns -1 at the end. */
static int sw_ms_next_line(const char **pos, const char *end, struct sw_ms_line *line)
{
	const char *s = *pos, *nl;

	if (s >= end)
		return -1;
	nl = memchr(s, '\n', (size_t)(end - s));
	line->p = s;
	line->n = nl ? (size_t)(nl - s) : (size_t)(end - s);
	*pos = nl ? nl + 1 : end;
	if (line->n && line->p[line->n - 1] == '\r')
		line->n--;
	return 0;
}

static int sw_ms_has_prefix(const struct sw_ms_line *l, const char *prefix)
{
	size_t n = strlen(prefix);

	return l->n >= n && memcmp(l->p, prefix, n) == 0;
}

static int sw_ms_untrusted(const struct sw_ms_line *l, const char *what, struct sw_err *err)
{
	if (!sw_ms_has_prefix(l, SW_MS_UNTRUSTED))
		return sw_err_set(err, SW_EINPUT, "'%s': the first line must start with \"untrusted comment: \"", what);
	if (l->n - strlen(SW_MS_UNTRUSTED) > SW_MINISIGN_COMMENT_MAX)
		return sw_err_set(err, SW_EINPUT, "'%s': untrusted comment longer than %d bytes", what,
				  SW_MINISIGN_COMMENT_MAX);
	return 0;
}

/* Decode one base64 line to exactly `want` bytes. */
static int sw_ms_b64(const struct sw_ms_line *l, unsigned char *out, size_t want, const char *what,
		     const char *field, struct sw_err *err)
{
	unsigned char tmp[SW_MS_SK_BYTES + 8];
	size_t got = 0;
	const char *b64_end = NULL;
	int rc;

	if (want > sizeof(tmp) - 8)
		return sw_err_set(err, SW_EINTERNAL, "base64 field too large");
	if (l->n == 0)
		return sw_err_set(err, SW_EINPUT, "'%s': %s is missing", what, field);
	rc = sodium_base642bin(tmp, sizeof(tmp), l->p, l->n, NULL, &got, &b64_end, sodium_base64_VARIANT_ORIGINAL);
	if (rc != 0 || b64_end != l->p + l->n) {
		sodium_memzero(tmp, sizeof(tmp));
		return sw_err_set(err, SW_EINPUT, "'%s': %s is not valid base64", what, field);
	}
	if (got != want) {
		sodium_memzero(tmp, sizeof(tmp));
		return sw_err_set(err, SW_EINPUT, "'%s': %s has %zu bytes, expected %zu", what, field, got, want);
	}
	memcpy(out, tmp, want);
	sodium_memzero(tmp, sizeof(tmp));
	return 0;
}

static int sw_ms_put_b64(struct sw_buf *out, const unsigned char *bin, size_t n)
{
	char b64[sodium_base64_ENCODED_LEN(SW_MS_SK_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	int rc;

	if (n > SW_MS_SK_BYTES)
		return -1;
	sodium_bin2base64(b64, sizeof(b64), bin, n, sodium_base64_VARIANT_ORIGINAL);
	rc = sw_buf_puts(out, b64);
	sodium_memzero(b64, sizeof(b64));
	if (rc == 0)
		rc = sw_buf_putc(out, '\n');
	return rc;
}

/* ---- keys ---- */

int sw_minisign_pubkey_format(const struct sw_minisign_pubkey *pk, struct sw_buf *out)
{
	unsigned char bin[SW_MS_PK_BYTES];
	char id[SW_MINISIGN_KEY_ID_HEX];

	memcpy(bin, "Ed", 2);
	memcpy(bin + 2, pk->keynum, 8);
	memcpy(bin + 10, pk->pk, 32);
	sw_minisign_key_id(pk->keynum, id);
	sw_buf_printf(out, "%sminisign public key %s\n", SW_MS_UNTRUSTED, id);
	sw_ms_put_b64(out, bin, sizeof(bin));
	return sw_buf_failed(out) ? -1 : 0;
}

static void sw_ms_sk_checksum(const unsigned char keynum[8], const unsigned char sk[64], unsigned char chk[32])
{
	unsigned char in[2 + 8 + 64];

	memcpy(in, "Ed", 2);
	memcpy(in + 2, keynum, 8);
	memcpy(in + 10, sk, 64);
	crypto_generichash(chk, 32, in, sizeof(in), NULL, 0);
	sodium_memzero(in, sizeof(in));
}

int sw_minisign_seckey_format(const struct sw_minisign_seckey *sk, struct sw_buf *out)
{
	unsigned char bin[SW_MS_SK_BYTES] = { 0 };
	size_t n0;
	int rc;

	/* Reserve room first so that growing the buffer leaves no copy of the key behind. */
	n0 = out->len;
	if (sw_buf_append(out, bin, sizeof(bin)) < 0 || sw_buf_append(out, bin, sizeof(bin)) < 0 ||
	    sw_buf_append(out, bin, sizeof(bin)) < 0)
		return -1;
	sw_buf_truncate(out, n0);
	memset(bin, 0, sizeof(bin));
	memcpy(bin, "Ed", 2);
	/* bin[2..3]: kdf_alg 00 00 (not encrypted); salt, opslimit, memlimit stay zero */
	memcpy(bin + 4, "B2", 2);
	memcpy(bin + 54, sk->keynum, 8);
	memcpy(bin + 62, sk->sk, 64);
	sw_ms_sk_checksum(sk->keynum, sk->sk, bin + 126);
	sw_buf_printf(out, "%sslipway secret key (not encrypted)\n", SW_MS_UNTRUSTED);
	rc = sw_ms_put_b64(out, bin, sizeof(bin));
	sodium_memzero(bin, sizeof(bin));
	return rc < 0 || sw_buf_failed(out) ? -1 : 0;
}

int sw_minisign_pubkey_parse(const char *text, size_t len, const char *what, struct sw_minisign_pubkey *pk,
			     struct sw_err *err)
{
	const char *pos = text, *end = text + len;
	unsigned char bin[SW_MS_PK_BYTES];
	struct sw_ms_line l1, l2;

	if (len > SW_MINISIGN_FILE_MAX)
		return sw_err_set(err, SW_EINPUT, "'%s': public key file larger than %d bytes", what, SW_MINISIGN_FILE_MAX);
	if (sw_ms_next_line(&pos, end, &l1) < 0)
		return sw_err_set(err, SW_EINPUT, "'%s': empty public key file", what);
	if (sw_ms_untrusted(&l1, what, err) < 0)
		return -1;
	if (sw_ms_next_line(&pos, end, &l2) < 0)
		return sw_err_set(err, SW_EINPUT, "'%s': public key line is missing", what);
	if (sw_ms_b64(&l2, bin, sizeof(bin), what, "public key", err) < 0)
		return -1;
	if (memcmp(bin, "Ed", 2) != 0)
		return sw_err_set(err, SW_EINPUT, "'%s': unsupported public key algorithm (expected Ed25519)", what);
	memcpy(pk->keynum, bin + 2, 8);
	memcpy(pk->pk, bin + 10, 32);
	return 0;
}

int sw_minisign_seckey_parse(const char *text, size_t len, const char *what, struct sw_minisign_seckey *sk,
			     struct sw_err *err)
{
	static const unsigned char zero32[32];
	const char *pos = text, *end = text + len;
	unsigned char bin[SW_MS_SK_BYTES], chk[32], seed[32], pk2[32], sk2[64];
	struct sw_ms_line l1, l2;
	int rc = -1;

	if (len > SW_MINISIGN_FILE_MAX)
		return sw_err_set(err, SW_EINPUT, "'%s': secret key file larger than %d bytes", what, SW_MINISIGN_FILE_MAX);
	if (sw_ms_next_line(&pos, end, &l1) < 0)
		return sw_err_set(err, SW_EINPUT, "'%s': empty secret key file", what);
	if (sw_ms_untrusted(&l1, what, err) < 0)
		return -1;
	if (sw_ms_next_line(&pos, end, &l2) < 0)
		return sw_err_set(err, SW_EINPUT, "'%s': secret key line is missing", what);
	if (sw_ms_b64(&l2, bin, sizeof(bin), what, "secret key", err) < 0)
		return -1;
	if (memcmp(bin, "Ed", 2) != 0) {
		sw_err_set(err, SW_EINPUT, "'%s': unsupported secret key algorithm (expected Ed25519)", what);
		goto out;
	}
	if (memcmp(bin + 2, "Sc", 2) == 0) {
		sw_err_set(err, SW_EINPUT,
			   "'%s': encrypted minisign secret keys are not supported yet; create one with "
			   "'slipway keygen' or 'minisign -G -W'",
			   what);
		goto out;
	}
	if (bin[2] != 0 || bin[3] != 0) {
		sw_err_set(err, SW_EINPUT, "'%s': unsupported key derivation algorithm", what);
		goto out;
	}
	if (memcmp(bin + 4, "B2", 2) != 0) {
		sw_err_set(err, SW_EINPUT, "'%s': unsupported checksum algorithm (expected BLAKE2b)", what);
		goto out;
	}
	sw_ms_sk_checksum(bin + 54, bin + 62, chk);
	/* `minisign -G -W` leaves the checksum of an unencrypted key zero. */
	if (sodium_memcmp(bin + 126, zero32, 32) != 0 && sodium_memcmp(bin + 126, chk, 32) != 0) {
		sw_err_set(err, SW_EINPUT, "'%s': secret key checksum does not match (damaged key file)", what);
		goto out;
	}
	crypto_sign_ed25519_sk_to_seed(seed, bin + 62);
	crypto_sign_seed_keypair(pk2, sk2, seed);
	if (sodium_memcmp(sk2, bin + 62, 64) != 0) {
		sw_err_set(err, SW_EINPUT, "'%s': secret key is inconsistent (damaged key file)", what);
		goto out;
	}
	memcpy(sk->keynum, bin + 54, 8);
	memcpy(sk->sk, bin + 62, 64);
	rc = 0;
out:
	sodium_memzero(bin, sizeof(bin));
	sodium_memzero(chk, sizeof(chk));
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk2, sizeof(sk2));
	return rc;
}

int sw_minisign_sig_parse(const char *text, size_t len, const char *what, struct sw_minisign_sig *sig,
			  struct sw_err *err)
{
	const char *pos = text, *end = text + len;
	unsigned char bin[SW_MS_SIG_BYTES];
	struct sw_ms_line l1, l2, l3, l4;
	size_t tlen;

	if (len > SW_MINISIGN_FILE_MAX)
		return sw_err_set(err, SW_EINPUT, "'%s': signature file larger than %d bytes", what, SW_MINISIGN_FILE_MAX);
	if (sw_ms_next_line(&pos, end, &l1) < 0)
		return sw_err_set(err, SW_EINPUT, "'%s': empty signature file", what);
	if (sw_ms_untrusted(&l1, what, err) < 0)
		return -1;
	if (sw_ms_next_line(&pos, end, &l2) < 0)
		return sw_err_set(err, SW_EINPUT, "'%s': signature line is missing", what);
	if (sw_ms_b64(&l2, bin, sizeof(bin), what, "signature", err) < 0)
		return -1;
	if (memcmp(bin, "ED", 2) == 0)
		sig->alg = SW_MINISIGN_PREHASHED;
	else if (memcmp(bin, "Ed", 2) == 0)
		sig->alg = SW_MINISIGN_LEGACY;
	else
		return sw_err_set(err, SW_EINPUT, "'%s': unsupported signature algorithm", what);
	memcpy(sig->keynum, bin + 2, 8);
	memcpy(sig->sig, bin + 10, 64);
	if (sw_ms_next_line(&pos, end, &l3) < 0 || !sw_ms_has_prefix(&l3, SW_MS_TRUSTED))
		return sw_err_set(err, SW_EINPUT, "'%s': the third line must start with \"trusted comment: \"", what);
	tlen = l3.n - strlen(SW_MS_TRUSTED);
	if (tlen > SW_MINISIGN_TRUSTED_MAX)
		return sw_err_set(err, SW_EINPUT, "'%s': trusted comment longer than %d bytes", what,
				  SW_MINISIGN_TRUSTED_MAX);
	if (memchr(l3.p, '\0', l3.n))
		return sw_err_set(err, SW_EINPUT, "'%s': the trusted comment contains a NUL byte", what);
	memcpy(sig->trusted, l3.p + strlen(SW_MS_TRUSTED), tlen);
	sig->trusted[tlen] = '\0';
	sig->trusted_len = tlen;
	if (sw_ms_next_line(&pos, end, &l4) < 0)
		return sw_err_set(err, SW_EINPUT, "'%s': trusted comment signature line is missing", what);
	return sw_ms_b64(&l4, sig->global_sig, 64, what, "trusted comment signature", err);
}

/* ---- files ---- */

static int sw_ms_read(const char *path, struct sw_buf *b, const char *kind, struct sw_err *err)
{
	if (sw_fs_check_regular(path, err) < 0)
		return -1;
	if (sw_fs_read_file(path, SW_MINISIGN_FILE_MAX, b, err) < 0) {
		if (err && err->code == SW_EINPUT) /* the only SW_EINPUT left: too large */
			sw_err_set(err, SW_EINPUT, "'%s': %s file larger than %d bytes", path, kind, SW_MINISIGN_FILE_MAX);
		return -1;
	}
	return 0;
}

int sw_minisign_pubkey_load(const char *path, struct sw_minisign_pubkey *pk, struct sw_err *err)
{
	struct sw_buf b = SW_BUF_INIT(SW_MINISIGN_FILE_MAX);
	int rc = sw_ms_read(path, &b, "public key", err);

	if (rc == 0)
		rc = sw_minisign_pubkey_parse(sw_buf_str(&b), b.len, path, pk, err);
	sw_buf_release(&b);
	return rc;
}

/* Read into a fixed buffer (no copies left behind by realloc), wiped after parsing. */
int sw_minisign_seckey_load(const char *path, struct sw_minisign_seckey *sk, struct sw_err *err)
{
	char *text = sw_xmalloc(SW_MINISIGN_FILE_MAX + 1);
	size_t len = 0;
	int fd = sw_fs_open_regular(path, err), rc = -1;

	if (fd < 0)
		goto out;
	for (;;) {
		ssize_t n = read(fd, text + len, SW_MINISIGN_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sw_err_set(err, SW_EIO, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SW_MINISIGN_FILE_MAX) {
			sw_err_set(err, SW_EINPUT, "'%s': secret key file larger than %d bytes", path, SW_MINISIGN_FILE_MAX);
			goto out;
		}
	}
	rc = sw_minisign_seckey_parse(text, len, path, sk, err);
out:
	if (fd >= 0)
		close(fd);
	sodium_memzero(text, SW_MINISIGN_FILE_MAX + 1);
	free(text);
	return rc;
}

int sw_minisign_sig_load(const char *path, struct sw_minisign_sig *sig, struct sw_err *err)
{
	struct sw_buf b = SW_BUF_INIT(SW_MINISIGN_FILE_MAX);
	int rc = sw_ms_read(path, &b, "signature", err);

	if (rc == 0)
		rc = sw_minisign_sig_parse(sw_buf_str(&b), b.len, path, sig, err);
	sw_buf_release(&b);
	return rc;
}

/* ---- hashing ---- */

static int sw_ms_prehash_chunk(const void *p, size_t n, void *ctx)
{
	crypto_generichash_update(ctx, p, (unsigned long long)n);
	return 0;
}

static int sw_ms_prehash_file(const char *path, unsigned char out[64], struct sw_err *err)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 64);
	if (sw_fs_read_chunks(path, sw_ms_prehash_chunk, &st, err) < 0)
		return -1;
	crypto_generichash_final(&st, out, 64);
	return 0;
}

/* ---- signing ---- */

static int sw_ms_sign_hash(const struct sw_minisign_seckey *sk, const unsigned char hash[64], const char *name,
			   int64_t timestamp, struct sw_buf *out, struct sw_err *err)
{
	unsigned char bin[SW_MS_SIG_BYTES], global[64];
	unsigned char *msg;
	char trusted[SW_MINISIGN_TRUSTED_MAX + 1];
	int n;

	if (strpbrk(name, "\r\n"))
		return sw_err_set(err, SW_EINPUT, "cannot sign '%s': the name contains a line break", name);
	n = snprintf(trusted, sizeof(trusted), "timestamp:%" PRId64 "\tfile:%s\thashed", timestamp, name);
	if (n < 0 || (size_t)n >= sizeof(trusted))
		return sw_err_set(err, SW_EINPUT, "cannot sign '%s': the name is too long", name);
	memcpy(bin, "ED", 2);
	memcpy(bin + 2, sk->keynum, 8);
	crypto_sign_detached(bin + 10, NULL, hash, 64, sk->sk);
	msg = sw_xmalloc(64 + (size_t)n);
	memcpy(msg, bin + 10, 64);
	memcpy(msg + 64, trusted, (size_t)n);
	crypto_sign_detached(global, NULL, msg, 64 + (unsigned long long)n, sk->sk);
	free(msg);
	sw_buf_printf(out, "%ssignature from slipway secret key\n", SW_MS_UNTRUSTED);
	sw_ms_put_b64(out, bin, sizeof(bin));
	sw_buf_printf(out, "%s%s\n", SW_MS_TRUSTED, trusted);
	sw_ms_put_b64(out, global, sizeof(global));
	if (sw_buf_failed(out))
		return sw_err_set(err, SW_EINTERNAL, "signature for '%s' does not fit its buffer", name);
	return 0;
}

int sw_minisign_sign_mem(const struct sw_minisign_seckey *sk, const void *msg, size_t len, const char *name,
			 int64_t timestamp, struct sw_buf *out, struct sw_err *err)
{
	unsigned char hash[64];

	crypto_generichash(hash, sizeof(hash), msg, len, NULL, 0);
	return sw_ms_sign_hash(sk, hash, name, timestamp, out, err);
}

int sw_minisign_sign_file(const struct sw_minisign_seckey *sk, const char *path, const char *name, int64_t timestamp,
			  struct sw_buf *out, struct sw_err *err)
{
	unsigned char hash[64];

	if (sw_ms_prehash_file(path, hash, err) < 0)
		return -1;
	return sw_ms_sign_hash(sk, hash, name, timestamp, out, err);
}

/* ---- verification ---- */

static int sw_ms_check_key(const struct sw_minisign_pubkey *pk, const struct sw_minisign_sig *sig, struct sw_err *err)
{
	char have[SW_MINISIGN_KEY_ID_HEX], want[SW_MINISIGN_KEY_ID_HEX];

	if (memcmp(pk->keynum, sig->keynum, 8) == 0)
		return 0;
	sw_minisign_key_id(sig->keynum, have);
	sw_minisign_key_id(pk->keynum, want);
	return sw_err_set(err, SW_EINTEGRITY, "signed by key %s, expected key %s", have, want);
}

static int sw_ms_check_global(const struct sw_minisign_pubkey *pk, const struct sw_minisign_sig *sig,
			      struct sw_err *err)
{
	unsigned char *msg = sw_xmalloc(64 + sig->trusted_len);
	int rc;

	memcpy(msg, sig->sig, 64);
	memcpy(msg + 64, sig->trusted, sig->trusted_len);
	rc = crypto_sign_verify_detached(sig->global_sig, msg, 64 + (unsigned long long)sig->trusted_len, pk->pk);
	free(msg);
	if (rc != 0)
		return sw_err_set(err, SW_EINTEGRITY, "the trusted comment's signature is invalid");
	return 0;
}

static int sw_ms_bad_sig(struct sw_err *err)
{
	return sw_err_set(err, SW_EINTEGRITY, "signature does not match the content");
}

int sw_minisign_verify_mem(const struct sw_minisign_pubkey *pk, const struct sw_minisign_sig *sig, const void *msg,
			   size_t len, struct sw_err *err)
{
	unsigned char hash[64];

	if (sw_ms_check_key(pk, sig, err) < 0)
		return -1;
	if (sig->alg == SW_MINISIGN_PREHASHED) {
		crypto_generichash(hash, sizeof(hash), msg, len, NULL, 0);
		if (crypto_sign_verify_detached(sig->sig, hash, sizeof(hash), pk->pk) != 0)
			return sw_ms_bad_sig(err);
	} else if (crypto_sign_verify_detached(sig->sig, msg, len, pk->pk) != 0) {
		return sw_ms_bad_sig(err);
	}
	return sw_ms_check_global(pk, sig, err);
}

int sw_minisign_verify_file(const struct sw_minisign_pubkey *pk, const struct sw_minisign_sig *sig, const char *path,
			    struct sw_err *err)
{
	unsigned char hash[64];
	struct sw_buf b;
	int rc;

	if (sw_ms_check_key(pk, sig, err) < 0)
		return -1;
	if (sig->alg == SW_MINISIGN_PREHASHED) {
		if (sw_ms_prehash_file(path, hash, err) < 0)
			return -1;
		if (crypto_sign_verify_detached(sig->sig, hash, sizeof(hash), pk->pk) != 0)
			return sw_ms_bad_sig(err);
		return sw_ms_check_global(pk, sig, err);
	}
	if (sw_fs_check_regular(path, err) < 0)
		return -1;
	sw_buf_init(&b, SW_MINISIGN_LEGACY_MAX);
	if (sw_fs_read_file(path, SW_MINISIGN_LEGACY_MAX, &b, err) < 0) {
		sw_buf_release(&b);
		if (err && err->code == SW_EINPUT)
			sw_err_set(err, SW_EINPUT, "'%s': legacy (non-prehashed) signatures are only checked for files up to 1 GiB",
				   path);
		return -1;
	}
	rc = crypto_sign_verify_detached(sig->sig, (const unsigned char *)sw_buf_str(&b), b.len, pk->pk);
	sw_buf_release(&b);
	if (rc != 0)
		return sw_ms_bad_sig(err);
	return sw_ms_check_global(pk, sig, err);
}

/* ---- key files ---- */

int sw_minisign_write_keypair(const char *sk_path, const char *pk_path, bool force, struct sw_minisign_pubkey *pk_out,
			      struct sw_err *err)
{
	struct sw_minisign_pubkey pk;
	struct sw_minisign_seckey sk;
	struct sw_buf skt = SW_BUF_INIT(SW_MINISIGN_FILE_MAX), pkt = SW_BUF_INIT(SW_MINISIGN_FILE_MAX);
	char tmp[PATH_MAX];
	const char *p;
	size_t left;
	int fd = -1, rc = -1, placed = 0;

	if (!force && sw_fs_exists(sk_path))
		return sw_err_set(err, SW_EINPUT, "'%s' already exists; use --force to replace it", sk_path);
	if (sw_snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", sk_path, (long)getpid()) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long: '%s'", sk_path);
	sw_minisign_keygen(&pk, &sk);
	if (sw_minisign_seckey_format(&sk, &skt) < 0 || sw_minisign_pubkey_format(&pk, &pkt) < 0) {
		sw_err_set(err, SW_EINTERNAL, "cannot format the key pair");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		sw_err_set(err, SW_EIO, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	for (p = skt.data, left = skt.len; left > 0;) {
		ssize_t n = write(fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sw_err_set(err, SW_EIO, "cannot write '%s': %s", tmp, n < 0 ? strerror(errno) : "short write");
			goto out;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fchmod(fd, 0600) < 0 || fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		sw_err_set(err, SW_EIO, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (force) {
		if (rename(tmp, sk_path) < 0) {
			sw_err_set(err, SW_EIO, "cannot rename '%s' to '%s': %s", tmp, sk_path, strerror(errno));
			goto out;
		}
	} else {
		/* link() never replaces: a key created meanwhile wins. */
		if (link(tmp, sk_path) < 0) {
			if (errno == EEXIST)
				sw_err_set(err, SW_EINPUT, "'%s' already exists; use --force to replace it", sk_path);
			else
				sw_err_set(err, SW_EIO, "cannot create '%s': %s", sk_path, strerror(errno));
			goto out;
		}
		unlink(tmp);
		placed = 1;
	}
	if (sw_fs_write_atomic(pk_path, pkt.data, pkt.len, 0644, err) < 0)
		goto out;
	if (pk_out)
		*pk_out = pk;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	if (rc < 0 && placed)
		unlink(sk_path);
	if (skt.data)
		sodium_memzero(skt.data, skt.cap);
	sw_buf_release(&skt);
	sw_buf_release(&pkt);
	sw_minisign_seckey_wipe(&sk);
	return rc;
}
