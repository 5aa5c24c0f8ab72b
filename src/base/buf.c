/*
 * buf.c - growable, bounded, NUL-terminated byte buffer (see buf.h).
 * Calls only libc and base/mem.
 */
#include "base/buf.h"
#include "base/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static char sw_buf_empty[1];

void sw_buf_init(struct sw_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->overflow = false;
}

void sw_buf_release(struct sw_buf *b)
{
	free(b->data);
	sw_buf_init(b, b->max);
}

void sw_buf_reset(struct sw_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
	b->overflow = false;
}

static int sw_buf_grow(struct sw_buf *b, size_t extra)
{
	size_t need, ncap;

	if (extra > b->max || b->len > b->max - extra) {
		b->overflow = true;
		return -1;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	b->data = sw_xrealloc(b->data, ncap);
	if (b->cap == 0)
		b->data[0] = '\0';
	b->cap = ncap;
	return 0;
}

int sw_buf_append(struct sw_buf *b, const void *p, size_t n)
{
	if (sw_buf_grow(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int sw_buf_puts(struct sw_buf *b, const char *s)
{
	return sw_buf_append(b, s, strlen(s));
}

int sw_buf_putc(struct sw_buf *b, char c)
{
	return sw_buf_append(b, &c, 1);
}

int sw_buf_vprintf(struct sw_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0) {
		b->overflow = true;
		return -1;
	}
	if (sw_buf_grow(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int sw_buf_printf(struct sw_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = sw_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void sw_buf_truncate(struct sw_buf *b, size_t n)
{
	SW_BUG_ON(n > b->len);
	b->len = n;
	if (b->data)
		b->data[n] = '\0';
}

const char *sw_buf_str(const struct sw_buf *b)
{
	return b->data ? b->data : sw_buf_empty;
}

char *sw_buf_detach(struct sw_buf *b, size_t *len)
{
	char *p = b->data ? b->data : sw_xstrdup("");

	if (len)
		*len = b->len;
	sw_buf_init(b, b->max);
	return p;
}

int sw_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size == 0)
		return -1;
	if (n >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int sw_snprintf(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return n;
}
