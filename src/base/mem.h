/*
 * mem.h - allocation wrappers that never return NULL.
 *
 * Internal allocation failure is not recoverable in Slipway: these abort with
 * a message (as git's xmalloc does). Sizes that come from input must be capped
 * by the caller before they reach here; sw_xmallocarray() checks the
 * multiplication for overflow. Calls only libc. The caller owns every result.
 */
#ifndef SW_MEM_H
#define SW_MEM_H

#include <stddef.h>

void *sw_xmalloc(size_t n);
void *sw_xcalloc(size_t nmemb, size_t size);
void *sw_xrealloc(void *p, size_t n);
void *sw_xmallocarray(size_t nmemb, size_t size);
void *sw_xreallocarray(void *p, size_t nmemb, size_t size);
char *sw_xstrdup(const char *s);
char *sw_xstrndup(const char *s, size_t n);
/* Abort with a message: internal error that must never happen. */
_Noreturn void sw_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Programmer errors only; never use on input. */
#define SW_BUG_ON(cond)                                                        \
	do {                                                                   \
		if (cond)                                                      \
			sw_die("BUG at %s:%d: %s", __FILE__, __LINE__, #cond); \
	} while (0)

#define SW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
