/*
 * err.c - error codes and messages (see err.h). Calls only libc.
 */
#include "base/err.h"
#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const sw_code_names[SW_CODE_COUNT] = {
	[SW_OK] = "ok",
	[SW_EINPUT] = "bad input",
	[SW_ENOTFOUND] = "not found",
	[SW_EIO] = "i/o error",
	[SW_EFAILED] = "failed",
	[SW_EINTEGRITY] = "integrity check failed",
	[SW_EBUSY] = "busy",
	[SW_ETIMEOUT] = "timed out",
	[SW_EAUTH] = "not authenticated",
	[SW_EDENIED] = "permission denied",
	[SW_EINTERNAL] = "internal error",
	[SW_ECANCELED] = "canceled",
};

const char *sw_strerror(enum sw_code code)
{
	if ((unsigned)code >= SW_CODE_COUNT)
		return "unknown error";
	return sw_code_names[code];
}

int sw_err_set(struct sw_err *err, enum sw_code code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = code;
	err->where[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int sw_err_setloc(struct sw_err *err, enum sw_code code, const char *file,
		  unsigned long line, unsigned long col, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = code;
	if (line && col)
		snprintf(err->where, sizeof(err->where), "%s:%lu:%lu", file, line, col);
	else if (line)
		snprintf(err->where, sizeof(err->where), "%s:%lu", file, line);
	else
		snprintf(err->where, sizeof(err->where), "%s", file);
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void sw_err_prefix(struct sw_err *err, const char *fmt, ...)
{
	char head[SW_ERR_MSG_MAX], old[SW_ERR_MSG_MAX];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	sw_strlcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", head, old);
}

void sw_err_clear(struct sw_err *err)
{
	if (!err)
		return;
	err->code = SW_OK;
	err->where[0] = '\0';
	err->msg[0] = '\0';
}

int sw_err_exit_code(const struct sw_err *err)
{
	switch (err->code) {
	case SW_OK:
		return 0;
	case SW_EINPUT:
	case SW_ENOTFOUND:
		return 2;
	case SW_ECANCELED:
		return 130;
	default:
		return 1;
	}
}

const char *sw_err_format(const struct sw_err *err, char *out, unsigned long size)
{
	if (err->where[0])
		snprintf(out, size, "%s: %s", err->where, err->msg);
	else
		snprintf(out, size, "%s", err->msg[0] ? err->msg : sw_strerror(err->code));
	return out;
}
