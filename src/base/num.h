/*
 * num.h - range-checked number, duration and size parsing.
 *
 * One syntax each, used by the spec loader and the CLI alike:
 *   duration: <int><unit>[<int><unit>...] with unit ms|s|m|h, e.g. 250ms, 2m, 1h30m
 *   size:     <int>[B|K|KB|M|MB|G|GB] (powers of 1024), e.g. 512, 10MB
 *   percent:  <int>%  (0..100)
 * Parsers borrow (pointer + length) and never read past len. Calls only libc.
 */
#ifndef SW_NUM_H
#define SW_NUM_H

#include <stddef.h>
#include <stdint.h>

int sw_parse_u64(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *out);
int sw_parse_i64(const char *s, size_t len, int64_t min, int64_t max, int64_t *out);
/* Milliseconds; returns -1 on bad syntax or overflow. */
int sw_parse_duration_ms(const char *s, size_t len, uint64_t *ms);
int sw_parse_size(const char *s, size_t len, uint64_t *bytes);
int sw_parse_percent(const char *s, size_t len, unsigned *pct);
/* "1h2m3s", "250ms", "0s" into out. */
const char *sw_format_duration_ms(uint64_t ms, char *out, size_t size);

#endif
