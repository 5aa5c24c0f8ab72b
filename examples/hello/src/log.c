/*
 * log.c - hello's log lines (see log.h). Each line is formatted into one
 * buffer and written with a single fprintf, so lines from different threads
 * do not interleave.
 */
#include "log.h"

#include <stdio.h>
#include <time.h>

void hello_vlog(const char *level, const char *fmt, va_list ap)
{
	char ts[40], rest[512];
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	vsnprintf(rest, sizeof rest, fmt, ap);
	fprintf(stderr, "ts=%s.%03ldZ level=%s service=hello %s\n", ts, now.tv_nsec / 1000000L,
		level, rest);
}

void hello_log(const char *level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hello_vlog(level, fmt, ap);
	va_end(ap);
}
