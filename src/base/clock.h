/*
 * clock.h - wall and monotonic time.
 *
 * Event times are UTC RFC 3339 with milliseconds ("2026-11-22T10:00:00.123Z").
 * Durations are measured on CLOCK_MONOTONIC. SOURCE_DATE_EPOCH is honoured by
 * callers that want reproducible output, not here. Calls only libc.
 */
#ifndef SW_CLOCK_H
#define SW_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SW_TIME_STR_MAX 32

uint64_t sw_clock_mono_ms(void);
int64_t sw_clock_wall_ms(void);
/* Sleep ms milliseconds; returns early (-1) only when a signal interrupted it. */
int sw_clock_sleep_ms(uint64_t ms);
/* ms since the epoch -> "YYYY-MM-DDTHH:MM:SS.mmmZ". */
const char *sw_clock_format_utc(int64_t wall_ms, char *out, size_t size);
/* Parses the form above (or without .mmm); returns -1 on bad syntax. */
int sw_clock_parse_utc(const char *s, int64_t *wall_ms);

#endif
