/*
 * mask.h - replaces secret values by "***" in text, also across the read()
 * boundaries of a stream.
 *
 * A struct sw_mask holds the values to hide (copies, wiped on release).
 * Values shorter than SW_MASK_MIN_LEN bytes are not masked (masking "a" or
 * "1" would garble every log line); sw_mask_add() says so by returning 1 so
 * the caller can warn. A value with several lines is masked whole and each
 * of its lines (of at least SW_MASK_MIN_LEN bytes) on its own too, since
 * programs often print one line of a multi-line secret. Where values
 * overlap, the longest match at a position wins.
 *
 * Stream masking keeps a carry-over of at most (longest value - 1) bytes:
 * bytes that could still be the start of a value split by a read() boundary
 * are held back until the next chunk (or the final flush) decides.
 *
 * Calls only libc, base/buf and base/mem. sw_mask_stream_feed() returns a
 * pointer valid until the next call on the same stream.
 */
#ifndef SW_MASK_H
#define SW_MASK_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

#define SW_MASK_MIN_LEN 3
#define SW_MASK_MAX_LEN 65536 /* longer values are refused (return -1) */
#define SW_MASK_REPLACEMENT "***"

struct sw_mask {
	char **vals;
	size_t *lens;
	size_t n, cap;
	size_t maxlen;             /* longest value, 0 when empty */
	unsigned char first[256];  /* 1 where some value starts with that byte */
};

struct sw_mask_stream {
	const struct sw_mask *m;
	struct sw_buf work;  /* carry-over + new input */
	struct sw_buf out;   /* masked bytes of the last feed */
};

void sw_mask_init(struct sw_mask *m);
/* Wipes and frees every value. */
void sw_mask_release(struct sw_mask *m);
/* 0 added, 1 ignored (empty or shorter than SW_MASK_MIN_LEN), -1 too long. */
int sw_mask_add(struct sw_mask *m, const char *val, size_t len);
/* Mask a complete text, appending the result to out. */
void sw_mask_apply(const struct sw_mask *m, const char *in, size_t len, struct sw_buf *out);
/* Mask a NUL-terminated string into a new heap string (caller frees). */
char *sw_mask_strdup(const struct sw_mask *m, const char *s);

void sw_mask_stream_init(struct sw_mask_stream *s, const struct sw_mask *m);
/* Masked bytes that are final so far (*outlen of them); may hold some back. */
const char *sw_mask_stream_feed(struct sw_mask_stream *s, const char *in, size_t len, size_t *outlen);
/* End of stream: the held-back bytes, masked. The stream can be fed again afterwards. */
const char *sw_mask_stream_flush(struct sw_mask_stream *s, size_t *outlen);
void sw_mask_stream_release(struct sw_mask_stream *s);

#endif
