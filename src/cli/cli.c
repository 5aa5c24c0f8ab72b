/*
 * cli.c - shared helpers of the command groups (see cli.h).
 */
#include "cli/cli.h"
#include "base/buf.h"
#include "base/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int sw_cli_parse_output(const char *cmd, const char *value, enum sw_output *out)
{
	if (!strcmp(value, "json")) {
		*out = SW_OUTPUT_JSON;
		return 0;
	}
	if (!strcmp(value, "text")) {
		*out = SW_OUTPUT_TEXT;
		return 0;
	}
	sw_cli_usage_error(cmd, "--output: unknown format '%s' (expected text or json)", value);
	return -1;
}

int sw_cli_fail(const char *cmd, const struct sw_err *err)
{
	char msg[SW_ERR_MSG_MAX + SW_ERR_WHERE_MAX + 4];
	int code = sw_err_exit_code(err);

	fprintf(stderr, "slipway %s: %s\n", cmd, sw_err_format(err, msg, sizeof(msg)));
	return code ? code : 1;
}

int sw_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "slipway %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ntry 'slipway %s --help'\n", cmd);
	return 2;
}

void sw_cli_print_json(json_t *v)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);

	if (sw_json_pretty(v, &b) == 0)
		fwrite(b.data, 1, b.len, stdout);
	sw_buf_release(&b);
	json_decref(v);
	fflush(stdout);
}

bool sw_cli_stdout_is_tty(void)
{
	return isatty(STDOUT_FILENO) == 1;
}
