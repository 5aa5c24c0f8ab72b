/*
 * arena.c - bump allocator (see arena.h). Calls only libc and base/mem.
 */
#include "base/arena.h"
#include "base/mem.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct sw_arena_block {
	struct sw_arena_block *next;
	size_t size;
	size_t used;
	alignas(max_align_t) unsigned char mem[];
};

#define SW_ARENA_DEFAULT_BLOCK 8192

void sw_arena_init(struct sw_arena *a)
{
	a->head = NULL;
	a->block_size = SW_ARENA_DEFAULT_BLOCK;
	a->total = 0;
}

void sw_arena_release(struct sw_arena *a)
{
	struct sw_arena_block *b = a->head, *next;

	while (b) {
		next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
	a->total = 0;
}

void *sw_arena_alloc(struct sw_arena *a, size_t n)
{
	const size_t align = alignof(max_align_t);
	struct sw_arena_block *b = a->head;
	size_t off, bsize;
	void *p;

	if (n > SIZE_MAX / 2)
		sw_die("arena allocation too large: %zu", n);
	if (b) {
		off = (b->used + align - 1) & ~(align - 1);
		if (off <= b->size && n <= b->size - off) {
			b->used = off + n;
			a->total += n;
			p = b->mem + off;
			memset(p, 0, n);
			return p;
		}
	}
	bsize = n > a->block_size ? n : a->block_size;
	b = sw_xmalloc(sizeof(*b) + bsize);
	b->size = bsize;
	b->used = n;
	/* A large one-off block goes behind the head so the head keeps its space. */
	if (a->head && n > a->block_size / 2) {
		b->next = a->head->next;
		a->head->next = b;
	} else {
		b->next = a->head;
		a->head = b;
	}
	a->total += n;
	memset(b->mem, 0, n);
	return b->mem;
}

void *sw_arena_allocarray(struct sw_arena *a, size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		sw_die("arena allocation overflow: %zu x %zu", nmemb, size);
	return sw_arena_alloc(a, nmemb * size);
}

char *sw_arena_strndup(struct sw_arena *a, const char *s, size_t n)
{
	char *p = sw_arena_alloc(a, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *sw_arena_strdup(struct sw_arena *a, const char *s)
{
	return s ? sw_arena_strndup(a, s, strlen(s)) : NULL;
}

char *sw_arena_printf(struct sw_arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		sw_die("arena printf: bad format");
	p = sw_arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
