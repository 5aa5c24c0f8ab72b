/*
 * num.c - range-checked number, duration and size parsing (see num.h).
 * Calls only libc.
 */
#include "base/num.h"

#include <stdio.h>
#include <string.h>

int sw_parse_u64(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int sw_parse_i64(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
	uint64_t v;
	int neg = 0;

	if (len && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		s++;
		len--;
	}
	if (sw_parse_u64(s, len, 0, (uint64_t)INT64_MAX + (neg ? 1 : 0), &v) < 0)
		return -1;
	if (neg) {
		int64_t r = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
		if (r < min || r > max)
			return -1;
		*out = r;
	} else {
		if ((int64_t)v < min || (int64_t)v > max)
			return -1;
		*out = (int64_t)v;
	}
	return 0;
}

int sw_parse_duration_ms(const char *s, size_t len, uint64_t *ms)
{
	uint64_t total = 0;
	size_t i = 0;
	int last_rank = 5; /* units must decrease: h > m > s > ms */

	if (len == 0)
		return -1;
	while (i < len) {
		size_t start = i;
		uint64_t n, mult;
		int rank;

		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start || sw_parse_u64(s + start, i - start, 0, UINT64_MAX, &n) < 0)
			return -1;
		if (i + 1 < len && s[i] == 'm' && s[i + 1] == 's') {
			mult = 1, rank = 1, i += 2;
		} else if (i < len && s[i] == 's') {
			mult = 1000, rank = 2, i++;
		} else if (i < len && s[i] == 'm') {
			mult = 60000, rank = 3, i++;
		} else if (i < len && s[i] == 'h') {
			mult = 3600000, rank = 4, i++;
		} else {
			return -1;
		}
		if (rank >= last_rank)
			return -1;
		last_rank = rank;
		if (n > (UINT64_MAX - total) / mult)
			return -1;
		total += n * mult;
	}
	*ms = total;
	return 0;
}

int sw_parse_size(const char *s, size_t len, uint64_t *bytes)
{
	static const struct { const char *suffix; unsigned shift; } units[] = {
		{ "KB", 10 }, { "MB", 20 }, { "GB", 30 },
		{ "K", 10 }, { "M", 20 }, { "G", 30 }, { "B", 0 },
	};
	size_t i = 0, k;
	uint64_t n;

	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (sw_parse_u64(s, i, 0, UINT64_MAX, &n) < 0)
		return -1;
	if (i == len) {
		*bytes = n;
		return 0;
	}
	for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
		size_t ul = strlen(units[k].suffix);

		if (len - i == ul && memcmp(s + i, units[k].suffix, ul) == 0) {
			if (units[k].shift && n > (UINT64_MAX >> units[k].shift))
				return -1;
			*bytes = n << units[k].shift;
			return 0;
		}
	}
	return -1;
}

int sw_parse_percent(const char *s, size_t len, unsigned *pct)
{
	uint64_t v;

	if (len < 2 || s[len - 1] != '%')
		return -1;
	if (sw_parse_u64(s, len - 1, 0, 100, &v) < 0)
		return -1;
	*pct = (unsigned)v;
	return 0;
}

const char *sw_format_duration_ms(uint64_t ms, char *out, size_t size)
{
	uint64_t h = ms / 3600000, m = ms / 60000 % 60, sec = ms / 1000 % 60, rest = ms % 1000;
	size_t off = 0;
	int n;

	out[0] = '\0';
	if (ms == 0) {
		snprintf(out, size, "0s");
		return out;
	}
#define SW_PUT(v, u)                                                               \
	if (v && off < size) {                                                     \
		n = snprintf(out + off, size - off, "%llu%s", (unsigned long long)v, u); \
		if (n > 0)                                                         \
			off += (size_t)n;                                          \
	}
	SW_PUT(h, "h")
	SW_PUT(m, "m")
	SW_PUT(sec, "s")
	SW_PUT(rest, "ms")
#undef SW_PUT
	return out;
}
