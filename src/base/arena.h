/*
 * arena.h - bump allocator owned by one operation (a spec load, a request).
 *
 * Everything allocated from an arena is freed by one sw_arena_release().
 * Allocation failure aborts (base/mem). Calls only libc and base/mem, base/buf.
 */
#ifndef SW_ARENA_H
#define SW_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct sw_arena_block;

struct sw_arena {
	struct sw_arena_block *head;
	size_t block_size;
	size_t total; /* bytes handed out, for limits and tests */
};

void sw_arena_init(struct sw_arena *a);
void sw_arena_release(struct sw_arena *a);
/* Zeroed, aligned for any type. */
void *sw_arena_alloc(struct sw_arena *a, size_t n);
void *sw_arena_allocarray(struct sw_arena *a, size_t nmemb, size_t size);
char *sw_arena_strdup(struct sw_arena *a, const char *s);
char *sw_arena_strndup(struct sw_arena *a, const char *s, size_t n);
char *sw_arena_printf(struct sw_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
