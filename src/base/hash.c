/*
 * hash.c - SHA-256 helpers over libsodium (see hash.h).
 */
#include "base/hash.h"
#include "base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(struct sw_sha256) >= sizeof(crypto_hash_sha256_state), "sha256 state too small");

int sw_hash_global_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

void sw_sha256_init(struct sw_sha256 *h)
{
	crypto_hash_sha256_init((crypto_hash_sha256_state *)h->state);
}

void sw_sha256_update(struct sw_sha256 *h, const void *p, size_t n)
{
	crypto_hash_sha256_update((crypto_hash_sha256_state *)h->state, p, n);
}

void sw_sha256_final(struct sw_sha256 *h, unsigned char out[SW_SHA256_LEN])
{
	crypto_hash_sha256_final((crypto_hash_sha256_state *)h->state, out);
}

void sw_hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void sw_sha256_final_hex(struct sw_sha256 *h, char hex[SW_SHA256_HEX])
{
	unsigned char d[SW_SHA256_LEN];

	sw_sha256_final(h, d);
	sw_hex_encode(d, sizeof(d), hex);
}

void sw_sha256_hex(const void *p, size_t n, char hex[SW_SHA256_HEX])
{
	struct sw_sha256 h;

	sw_sha256_init(&h);
	sw_sha256_update(&h, p, n);
	sw_sha256_final_hex(&h, hex);
}

struct sw_sha256_file_ctx {
	struct sw_sha256 h;
	uint64_t total;
};

static int sw_sha256_chunk(const void *p, size_t n, void *ctx)
{
	struct sw_sha256_file_ctx *c = ctx;

	sw_sha256_update(&c->h, p, n);
	c->total += n;
	return 0;
}

int sw_sha256_file_hex(const char *path, char hex[SW_SHA256_HEX], uint64_t *size, struct sw_err *err)
{
	struct sw_sha256_file_ctx c = { .total = 0 };

	sw_sha256_init(&c.h);
	if (sw_fs_read_chunks(path, sw_sha256_chunk, &c, err) < 0)
		return -1;
	sw_sha256_final_hex(&c.h, hex);
	if (size)
		*size = c.total;
	return 0;
}

int sw_is_sha256_hex(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}
