/*
 * hash.h - SHA-256 digests as lowercase hex, of memory, files and streams.
 *
 * Backed by libsodium's crypto_hash_sha256 (the one crypto library of
 * Slipway); sw_hash_global_init() must run once before use (main does it).
 * Calls libsodium, libc, base/err, base/fs (chunked file reads).
 */
#ifndef SW_HASH_H
#define SW_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define SW_SHA256_LEN 32
#define SW_SHA256_HEX 65 /* 64 hex digits + NUL */

struct sw_sha256 {
	unsigned char state[128] __attribute__((aligned(64))); /* crypto_hash_sha256_state */
};

int sw_hash_global_init(void);
void sw_sha256_init(struct sw_sha256 *h);
void sw_sha256_update(struct sw_sha256 *h, const void *p, size_t n);
void sw_sha256_final_hex(struct sw_sha256 *h, char hex[SW_SHA256_HEX]);
void sw_sha256_final(struct sw_sha256 *h, unsigned char out[SW_SHA256_LEN]);
void sw_sha256_hex(const void *p, size_t n, char hex[SW_SHA256_HEX]);
int sw_sha256_file_hex(const char *path, char hex[SW_SHA256_HEX], uint64_t *size, struct sw_err *err);
void sw_hex_encode(const unsigned char *p, size_t n, char *out /* 2n+1 */);
/* Is s exactly 64 lowercase hex digits? */
int sw_is_sha256_hex(const char *s);

#endif
