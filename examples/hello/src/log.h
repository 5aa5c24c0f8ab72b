/*
 * log.h - hello's log lines: one logfmt line per event on stderr,
 * "ts=<UTC ms> level=<level> service=hello <fields>". Calls only libc.
 */
#ifndef HELLO_LOG_H
#define HELLO_LOG_H

#include <stdarg.h>

void hello_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hello_vlog(const char *level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
