/*
 * log.h - diagnostics on stderr: logfmt by default, one JSON object per line
 * with SLIPWAY_LOG_FORMAT=json. Level from SLIPWAY_LOG (debug|info|warn|error,
 * default warn for CLI commands; servers raise it to info).
 * User-facing command output does not go through here. Calls only libc.
 */
#ifndef SW_LOG_H
#define SW_LOG_H

enum sw_log_level { SW_LOG_DEBUG, SW_LOG_INFO, SW_LOG_WARN, SW_LOG_ERROR };

void sw_log_setup(enum sw_log_level default_level);
void sw_log(enum sw_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define sw_debug(...) sw_log(SW_LOG_DEBUG, __VA_ARGS__)
#define sw_info(...) sw_log(SW_LOG_INFO, __VA_ARGS__)
#define sw_warn(...) sw_log(SW_LOG_WARN, __VA_ARGS__)
#define sw_error(...) sw_log(SW_LOG_ERROR, __VA_ARGS__)

#endif
