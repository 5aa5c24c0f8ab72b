/*
 * buf.h - struct sw_buf, the one growable byte buffer of Slipway.
 *
 * Always NUL-terminated (data[len] == '\0') and binary-safe. Created with a
 * maximum size: an append that would pass it sets a sticky error instead of
 * growing, so input cannot grow a buffer without bound; check sw_buf_failed()
 * once at the end. A buffer initialised with SW_BUF_INIT(max) owns no memory
 * until its first append; data is then never NULL. Appending may move data:
 * never keep pointers into it across an append.
 * Calls only libc and base/mem. The buffer owns data until sw_buf_detach().
 */
#ifndef SW_BUF_H
#define SW_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct sw_buf {
	char *data;     /* NUL-terminated; "" before the first append */
	size_t len;     /* bytes used, not counting the NUL */
	size_t cap;     /* bytes allocated */
	size_t max;     /* largest len allowed */
	bool overflow;  /* sticky: an append passed max and was dropped */
};

#define SW_BUF_UNLIMITED ((size_t)1 << 40)
#define SW_BUF_INIT(maxlen) { .data = NULL, .len = 0, .cap = 0, .max = (maxlen), .overflow = false }

void sw_buf_init(struct sw_buf *b, size_t max);
void sw_buf_release(struct sw_buf *b);
/* Empty the buffer, keep the memory and clear the sticky error. */
void sw_buf_reset(struct sw_buf *b);
/* Returns 0, or -1 (and sets overflow) if the result would pass max. */
int sw_buf_append(struct sw_buf *b, const void *p, size_t n);
int sw_buf_puts(struct sw_buf *b, const char *s);
int sw_buf_putc(struct sw_buf *b, char c);
int sw_buf_printf(struct sw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sw_buf_vprintf(struct sw_buf *b, const char *fmt, va_list ap);
/* Shorten to n bytes (n <= len). */
void sw_buf_truncate(struct sw_buf *b, size_t n);
/* The NUL-terminated contents; "" for an empty buffer. */
const char *sw_buf_str(const struct sw_buf *b);
/* Hand the heap string to the caller (who frees it); the buffer is emptied. */
char *sw_buf_detach(struct sw_buf *b, size_t *len);
static inline bool sw_buf_failed(const struct sw_buf *b) { return b->overflow; }

/* Bounded copy into a fixed array: always NUL-terminates, returns -1 on truncation. */
int sw_strlcpy(char *dst, const char *src, size_t size);
/* snprintf that returns -1 on truncation or error instead of a length. */
int sw_snprintf(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
