/*
 * err.h - error codes and struct sw_err, the one error carrier.
 *
 * Functions return 0 or a negative value; callers that need detail pass a
 * struct sw_err. sw_err_set() returns -1 so code reads
 *   return sw_err_set(err, SW_EINPUT, "cannot open '%s': %s", path, strerror(errno));
 * Messages are lower case, no final full stop, what failed first, subject
 * quoted. `where` holds a location such as "slipway.yml:12:5" or a request id.
 * Only main() maps an error to an exit code (sw_err_exit_code) and only the
 * server maps it to an HTTP status. A NULL err is allowed everywhere.
 * Calls only libc.
 */
#ifndef SW_ERR_H
#define SW_ERR_H

enum sw_code {
	SW_OK = 0,
	SW_EINPUT,     /* bad input or usage: exit 2, HTTP 400 */
	SW_ENOTFOUND,  /* a named thing does not exist: exit 2, HTTP 404 */
	SW_EIO,        /* the system failed us (disk, network): exit 1, HTTP 500 */
	SW_EFAILED,    /* the operation ran and failed (a job, a check): exit 1 */
	SW_EINTEGRITY, /* digest, signature or hash chain mismatch: exit 1, HTTP 422 */
	SW_EBUSY,      /* locked or in use: exit 1, HTTP 409 */
	SW_ETIMEOUT,   /* took too long: exit 1, HTTP 504 */
	SW_EAUTH,      /* not authenticated: exit 1, HTTP 401 */
	SW_EDENIED,    /* not allowed: exit 1, HTTP 403 */
	SW_EINTERNAL,  /* a bug: exit 1, HTTP 500 */
	SW_ECANCELED,  /* interrupted by the user: exit 130 */
	SW_CODE_COUNT
};

#define SW_ERR_MSG_MAX 1024
#define SW_ERR_WHERE_MAX 512

struct sw_err {
	enum sw_code code;
	char where[SW_ERR_WHERE_MAX]; /* "file:line:col", request id, or "" */
	char msg[SW_ERR_MSG_MAX];
};

#define SW_ERR_INIT { .code = SW_OK, .where = "", .msg = "" }

const char *sw_strerror(enum sw_code code);
int sw_err_set(struct sw_err *err, enum sw_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Set with a file:line:col location (line and col are 1-based; 0 omits). */
int sw_err_setloc(struct sw_err *err, enum sw_code code, const char *file,
		  unsigned long line, unsigned long col, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* Prefix the existing message with "what: " (for context while unwinding). */
void sw_err_prefix(struct sw_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sw_err_clear(struct sw_err *err);
/* 0 for SW_OK, 2 for bad input, 130 for cancel, 1 for the rest. */
int sw_err_exit_code(const struct sw_err *err);
/* "where: msg" or "msg", written into out (always NUL-terminated). */
const char *sw_err_format(const struct sw_err *err, char *out, unsigned long size);

#endif
