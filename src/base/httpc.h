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
 *
 * Requests to `slipway server` (from the CLI and the agent) carry req->tls:
 *   | tls field     | effect                                                   |
 *   | ca_file       | verify the certificate chain and host name against this |
 *   |               | CA file (PEM) instead of the system's CA store          |
 *   | pin           | "sha256//..." (base/tls.h): the certificate's public key |
 *   |               | must hash to it; without ca_file it is the only check   |
 *   |               | (a self-signed certificate needs no CA)                 |
 *   | insecure_http | allow http:// to a host that is not loopback            |
 * With req->tls, an http:// URL to a host that is not loopback is refused
 * before any connection (SW_EINPUT) unless insecure_http, and a certificate
 * that cannot be verified is SW_EAUTH ("cannot verify the TLS certificate
 * of 'URL': ..."), not a transport failure to retry. Without req->tls
 * (health checks, metric providers) libcurl's defaults apply to any URL.
 * Calls libcurl, libc, base/buf, base/err, base/tls.
 */
#ifndef SW_HTTPC_H
#define SW_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/tls.h"

#include <limits.h>
#include <stdbool.h>

/* How to trust `slipway server` (a value: copy it freely). */
struct sw_httpc_tls {
	char ca_file[PATH_MAX];   /* "" = the system's CA store */
	char pin[SW_TLS_PIN_MAX]; /* "" = no pin */
	bool insecure_http;
};

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
	const struct sw_httpc_tls *tls; /* set for requests to slipway server (table above) */
};

int sw_httpc_global_init(void);
/*
 * The loopback rule for a server URL: SW_EINPUT for a URL that is not
 * http:// or https://, or an http:// one whose host is not loopback
 * (base/tls.h) unless insecure_http. `what` names the URL's source in the
 * message ("--server").
 */
int sw_httpc_check_url(const char *url, bool insecure_http, const char *what, struct sw_err *err);
/*
 * The host (IPv6 in brackets, as in the URL) and port (the scheme's default
 * when none is given) of an http:// or https:// URL, parsed by libcurl.
 * SW_EINPUT naming the URL otherwise.
 */
int sw_httpc_url_host(const char *url, char *host, size_t size, unsigned *port, struct sw_err *err);
/* resp gets the body (unless download_path); *status the HTTP status. */
int sw_httpc_do(const struct sw_httpc_req *req, long *status, struct sw_buf *resp, struct sw_err *err);

#endif
