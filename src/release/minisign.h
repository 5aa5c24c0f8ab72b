/*
 * minisign.h - ed25519 keys and detached signatures in the minisign format,
 * implemented on libsodium, so that `minisign -V` checks what Slipway signs
 * and Slipway checks what minisign signs.
 *
 * Every file is text: an "untrusted comment: ..." line, then base64
 * (standard alphabet, padded) of a binary blob, each line ending in "\n"
 * ("\r\n" is accepted on input). Integers are little-endian.
 *
 * Public key (42 bytes after base64):
 *   | offset | size | field                      |
 *   | 0      | 2    | sig_alg "Ed"               |
 *   | 2      | 8    | key number (key id)        |
 *   | 10     | 32   | ed25519 public key         |
 *
 * Secret key (158 bytes after base64):
 *   | offset | size | field                                                   |
 *   | 0      | 2    | sig_alg "Ed"                                            |
 *   | 2      | 2    | kdf_alg: 00 00 = not encrypted, "Sc" = scrypt (refused) |
 *   | 4      | 2    | chk_alg "B2"                                            |
 *   | 6      | 32   | kdf salt (zero when not encrypted)                      |
 *   | 38     | 8    | kdf opslimit (zero when not encrypted)                  |
 *   | 46     | 8    | kdf memlimit (zero when not encrypted)                  |
 *   | 54     | 8    | key number                                              |
 *   | 62     | 64   | ed25519 secret key (seed || public key)                 |
 *   | 126    | 32   | checksum: BLAKE2b-256(sig_alg || key number || sk)      |
 * We write the checksum; on reading, a checksum of all zeros (what
 * `minisign -G -W` writes) is accepted, any other value must match, and the
 * public half of sk must always match its seed.
 *
 * Signature file (4 lines):
 *   untrusted comment: <text>
 *   base64( sig_alg (2) || key number (8) || ed25519 signature (64) )
 *   trusted comment: <text, at most 8192 bytes>
 *   base64( ed25519 signature (64) of (signature || trusted comment text) )
 * sig_alg "ED": the signature covers BLAKE2b-512(file) (minisign's default,
 * what we write); "Ed" (legacy): the signature covers the file itself
 * (accepted on verify, files up to 1 GiB).
 * We write the trusted comment "timestamp:<unix>\tfile:<name>\thashed".
 *
 * The key id is shown as minisign shows it: the key number read as a
 * little-endian 64-bit integer, 16 upper-case hex digits.
 *
 * Verification failures are SW_EINTEGRITY; malformed input SW_EINPUT.
 * Secret keys live in caller-owned structs: wipe them with
 * sw_minisign_seckey_wipe() (sodium_memzero) after use.
 * Calls libsodium, libc and base/.
 */
#ifndef SW_RELEASE_MINISIGN_H
#define SW_RELEASE_MINISIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define SW_MINISIGN_KEYNUM_BYTES 8
#define SW_MINISIGN_KEY_ID_HEX 17 /* 16 hex digits + NUL */
#define SW_MINISIGN_COMMENT_MAX 1024
#define SW_MINISIGN_TRUSTED_MAX 8192
#define SW_MINISIGN_FILE_MAX 16384 /* larger key or signature files are refused */
#define SW_MINISIGN_LEGACY_MAX ((uint64_t)1 << 30)

enum sw_minisign_alg {
	SW_MINISIGN_PREHASHED, /* "ED" */
	SW_MINISIGN_LEGACY,    /* "Ed" */
};

struct sw_minisign_pubkey {
	unsigned char keynum[SW_MINISIGN_KEYNUM_BYTES];
	unsigned char pk[32];
};

struct sw_minisign_seckey {
	unsigned char keynum[SW_MINISIGN_KEYNUM_BYTES];
	unsigned char sk[64];
};

struct sw_minisign_sig {
	enum sw_minisign_alg alg;
	unsigned char keynum[SW_MINISIGN_KEYNUM_BYTES];
	unsigned char sig[64];
	char trusted[SW_MINISIGN_TRUSTED_MAX + 1]; /* NUL-terminated */
	size_t trusted_len;
	unsigned char global_sig[64];
};

/* The key id as minisign prints it ("B18F1F4029EAE874"). */
void sw_minisign_key_id(const unsigned char keynum[SW_MINISIGN_KEYNUM_BYTES], char out[SW_MINISIGN_KEY_ID_HEX]);

/* A fresh random key pair. */
void sw_minisign_keygen(struct sw_minisign_pubkey *pk, struct sw_minisign_seckey *sk);
void sw_minisign_seckey_wipe(struct sw_minisign_seckey *sk);
/* The public half of a secret key. */
void sw_minisign_seckey_public(const struct sw_minisign_seckey *sk, struct sw_minisign_pubkey *pk);

/* Key files as text, appended to out. The secret key text must be wiped
 * by the caller (sodium_memzero(out->data, out->len)) after use. */
int sw_minisign_pubkey_format(const struct sw_minisign_pubkey *pk, struct sw_buf *out);
int sw_minisign_seckey_format(const struct sw_minisign_seckey *sk, struct sw_buf *out);

/* Parsers borrow text (at most len bytes, NUL not needed). `what` names the
 * input in messages (a path). */
int sw_minisign_pubkey_parse(const char *text, size_t len, const char *what, struct sw_minisign_pubkey *pk,
			     struct sw_err *err);
int sw_minisign_seckey_parse(const char *text, size_t len, const char *what, struct sw_minisign_seckey *sk,
			     struct sw_err *err);
int sw_minisign_sig_parse(const char *text, size_t len, const char *what, struct sw_minisign_sig *sig,
			  struct sw_err *err);

/*
 * Create a key pair: the secret key file (mode 0600, created with
 * O_EXCL | O_NOFOLLOW, its text wiped from memory after writing) and the
 * public key file (0644, atomic). An existing secret key is SW_EINPUT unless
 * force, which replaces both atomically. pk (may be NULL) gets the public key.
 */
int sw_minisign_write_keypair(const char *sk_path, const char *pk_path, bool force, struct sw_minisign_pubkey *pk,
			      struct sw_err *err);

/* Read and parse files (SW_ENOTFOUND when missing). The secret key file's
 * bytes are wiped from memory after parsing. */
int sw_minisign_pubkey_load(const char *path, struct sw_minisign_pubkey *pk, struct sw_err *err);
int sw_minisign_seckey_load(const char *path, struct sw_minisign_seckey *sk, struct sw_err *err);
int sw_minisign_sig_load(const char *path, struct sw_minisign_sig *sig, struct sw_err *err);

/*
 * Sign: a prehashed ("ED") signature file text of the message, appended to
 * out, with the trusted comment "timestamp:<timestamp>\tfile:<name>\thashed".
 */
int sw_minisign_sign_mem(const struct sw_minisign_seckey *sk, const void *msg, size_t len, const char *name,
			 int64_t timestamp, struct sw_buf *out, struct sw_err *err);
int sw_minisign_sign_file(const struct sw_minisign_seckey *sk, const char *path, const char *name, int64_t timestamp,
			  struct sw_buf *out, struct sw_err *err);

/*
 * Verify sig against the message with pk: key id, signature and the global
 * signature over the trusted comment. SW_EINTEGRITY with a clear message
 * ("signed by key X, expected key Y") on any mismatch.
 */
int sw_minisign_verify_mem(const struct sw_minisign_pubkey *pk, const struct sw_minisign_sig *sig, const void *msg,
			   size_t len, struct sw_err *err);
int sw_minisign_verify_file(const struct sw_minisign_pubkey *pk, const struct sw_minisign_sig *sig, const char *path,
			    struct sw_err *err);

#endif
