/*
 * log.c - logfmt / JSON-lines diagnostics on stderr (see log.h).
 */
#include "base/log.h"
#include "base/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum sw_log_level sw_log_min = SW_LOG_WARN;
static int sw_log_json;

void sw_log_setup(enum sw_log_level default_level)
{
	const char *lvl = getenv("SLIPWAY_LOG"), *fmt = getenv("SLIPWAY_LOG_FORMAT");

	sw_log_min = default_level;
	if (lvl) {
		if (!strcmp(lvl, "debug"))
			sw_log_min = SW_LOG_DEBUG;
		else if (!strcmp(lvl, "info"))
			sw_log_min = SW_LOG_INFO;
		else if (!strcmp(lvl, "warn"))
			sw_log_min = SW_LOG_WARN;
		else if (!strcmp(lvl, "error"))
			sw_log_min = SW_LOG_ERROR;
	}
	sw_log_json = fmt && !strcmp(fmt, "json");
}

static void sw_log_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void sw_log(enum sw_log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	char msg[2048], ts[SW_TIME_STR_MAX];
	va_list ap;

	if (lvl < sw_log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sw_clock_format_utc(sw_clock_wall_ms(), ts, sizeof(ts));
	if (sw_log_json) {
		fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", ts, names[lvl]);
		sw_log_quote(stderr, msg);
		fputs("}\n", stderr);
	} else {
		fprintf(stderr, "time=%s level=%s msg=", ts, names[lvl]);
		sw_log_quote(stderr, msg);
		fputc('\n', stderr);
	}
}
