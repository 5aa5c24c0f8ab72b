/*
 * mem.c - allocation wrappers that abort on failure (see mem.h).
 * Calls only libc.
 */
#include "base/mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void sw_die(const char *fmt, ...)
{
	va_list ap;

	fputs("slipway: fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void *sw_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		sw_die("out of memory allocating %zu bytes", n);
	return p;
}

void *sw_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		sw_die("out of memory allocating %zu x %zu bytes", nmemb, size);
	return p;
}

void *sw_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		sw_die("out of memory reallocating %zu bytes", n);
	return q;
}

void *sw_xmallocarray(size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		sw_die("allocation size overflow: %zu x %zu", nmemb, size);
	return sw_xmalloc(nmemb * size);
}

void *sw_xreallocarray(void *p, size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		sw_die("allocation size overflow: %zu x %zu", nmemb, size);
	return sw_xrealloc(p, nmemb * size);
}

char *sw_xstrdup(const char *s)
{
	return sw_xstrndup(s, strlen(s));
}

char *sw_xstrndup(const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX)
		sw_die("string too long");
	p = sw_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}
