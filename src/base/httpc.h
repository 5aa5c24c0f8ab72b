/*
 * httpc.h - a small blocking HTTP client over libcurl, for the CLI and the
 * agent talking to `slipway server` (JSON bodies, bearer tokens, downloads
 * to a file, uploads from a file).
 *
 * Every call has a total timeout; responses are capped (resp->max) so a
 * server cannot make the caller grow without bound. Transport failures are
 * SW_EIO ("cannot reach 'URL': ..."), a timeout SW_ETIMEOUT; an HTTP error
 * status is NOT an error here: the caller reads *status and the body.
 * sw_httpc_global_init() once per process before threads start.
 * Calls libcurl, libc, base/buf, base/err.
 */
#ifndef SW_HTTPC_H
#define SW_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

struct sw_httpc_req {
	const char *method;       /* "GET", "POST", "PUT", "DELETE" */
	const char *url;
	const char *token;        /* bearer token, or NULL */
	const char *content_type; /* default "application/json" when a body is given */
	const void *body;         /* request body, or NULL */
	size_t body_len;
	const char *upload_path;  /* stream this file as the body instead (PUT) */
	const char *download_path; /* write a 2xx body to this file (atomically) instead of resp */
	uint64_t timeout_ms;      /* total; 0 = 30 s */
};

int sw_httpc_global_init(void);
/* resp gets the body (unless download_path); *status the HTTP status. */
int sw_httpc_do(const struct sw_httpc_req *req, long *status, struct sw_buf *resp, struct sw_err *err);

#endif
