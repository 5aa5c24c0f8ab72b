/*
 * http.h - the HTTP layer of `slipway server` over libmicrohttpd: one
 * daemon (a thread per connection, so that a long-poll may block its own
 * thread), request bodies taken with a cap, request ids, replies, and the
 * one function that maps struct sw_err to an HTTP status and JSON body.
 *
 * A request goes through the application's hooks:
 *   begin   headers are in: route and authenticate; choose how the body is
 *           taken (memory up to r->body_max, default 1 MiB, or streamed into
 *           r->body_fd up to r->body_max). A reply made here (an error) is
 *           sent once a body of at most 8 MiB has been read and dropped, so
 *           that a client still sending is not cut off; with a larger or
 *           unknown body at once, and the connection then closes.
 *   handle  the whole body is in: reply (sw_http_reply_*).
 *   finish  always, once, after the reply was sent or the connection died.
 * A body past its cap is answered 413 without calling handle; one that
 * cannot be written (disk full) 500.
 *
 * Headers are checked before begin, and a request that fails is answered at
 * once (the connection then closes: its body framing cannot be trusted):
 *   | header problem                                   | status |
 *   | a NUL byte in the Authorization value            | 401    |
 *   | a NUL byte in any other header value             | 400    |
 *   | more than one Content-Length                     | 400    |
 *   | Content-Length together with Transfer-Encoding   | 400    |
 * (libmicrohttpd 0.9.75 takes one Content-Length, prefers chunked, and
 * measures values with strlen(), so "Bearer <token>\0junk" read as
 * "Bearer <token>": without this check each passed. How the NUL is found is
 * in http.c. A NUL in a header name is answered 400 by libmicrohttpd itself.)
 *
 * Errors as JSON (every non-2xx reply):
 *   {"error": {"code": "<see table>", "message": "...", "field": "name"|null,
 *              "request_id": "r-..."}}
 *   | sw_err code          | status | code             |
 *   | SW_EINPUT            | 400    | bad_request      |
 *   | SW_EAUTH             | 401    | unauthorized     |
 *   | SW_EDENIED           | 403    | forbidden        |
 *   | SW_ENOTFOUND         | 404    | not_found        |
 *   | (wrong method)       | 405    | method_not_allowed |
 *   | SW_EBUSY             | 409    | conflict         |
 *   | (body over its cap)  | 413    | too_large        |
 *   | SW_EINTEGRITY        | 422    | integrity        |
 *   | SW_ETIMEOUT          | 504    | timeout          |
 *   | SW_EIO, SW_EFAILED, SW_EINTERNAL, SW_ECANCELED, other | 500 | internal |
 * "field" is err->where for SW_EINPUT (the server's validators put the
 * offending field's name there), null otherwise.
 *
 * Ownership: a struct sw_http_req lives from the first callback to finish;
 * its body buffer and reply are freed by this module. JSON passed to
 * sw_http_reply_json is stolen; an fd passed to sw_http_reply_fd is owned
 * (closed) from then on. Calls libmicrohttpd, jansson, base/.
 */
#ifndef SW_SERVER_HTTP_H
#define SW_SERVER_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define SW_HTTP_JSON_MAX ((size_t)1 << 20)        /* default body cap */
#define SW_HTTP_FILE_MAX ((uint64_t)1 << 30)      /* largest streamed upload */
#define SW_HTTP_REQ_ID_MAX 24

struct sw_http;
struct MHD_Connection;
struct MHD_Response;

struct sw_http_req {
	struct MHD_Connection *conn;
	char id[SW_HTTP_REQ_ID_MAX]; /* "r-<n>", also sent as X-Request-Id */
	const char *method;          /* "GET", ... (MHD's, valid for the request) */
	const char *path;            /* the URL path, decoded, without the query */
	uint64_t start_ms;           /* monotonic */
	/* body: memory (body_fd < 0) or a file */
	struct sw_buf body;
	int body_fd;
	uint64_t body_len, body_max;
	int body_too_large;
	int body_errno;
	/* reply */
	unsigned status;
	struct MHD_Response *resp;
	int queued;
	/* the application's per-request state (hooks own it) */
	void *app;
};

struct sw_http_hooks {
	void *ctx;
	void (*begin)(void *ctx, struct sw_http_req *r);
	void (*handle)(void *ctx, struct sw_http_req *r);
	void (*finish)(void *ctx, struct sw_http_req *r);
};

/* TLS for the daemon: libmicrohttpd's own (GnuTLS), PEM text that must outlive the daemon. */
struct sw_http_tls {
	const char *cert_pem; /* the certificate, then its chain */
	const char *key_pem;
};

/*
 * Listen on addr ("127.0.0.1:7070", "[::1]:7070", ":7070" for every
 * address; port 0 picks a free one) and serve with hooks (copied), over
 * TLS 1.2 or 1.3 when tls is not NULL. *bound_port gets the port listened on.
 */
int sw_http_start(const char *addr, const struct sw_http_tls *tls, const struct sw_http_hooks *hooks,
		  struct sw_http **out, unsigned *bound_port, struct sw_err *err);
/* Stop accepting, wait for the connection threads (long-polls must have been woken), free. */
void sw_http_stop(struct sw_http *h);

/* Parse "host:port" forms (above) into host (may come back "") and port. */
int sw_http_parse_listen(const char *addr, char *host, size_t host_size, unsigned *port, struct sw_err *err);

/* Request data: query argument / header value or NULL (valid for the request). */
const char *sw_http_query(struct sw_http_req *r, const char *name);
const char *sw_http_header(struct sw_http_req *r, const char *name);
/* A header value and its length as received (*len = 0 when absent). */
const char *sw_http_header_n(struct sw_http_req *r, const char *name, size_t *len);

/* Replies (the first one wins; later calls are ignored). */
void sw_http_reply_json(struct sw_http_req *r, unsigned status, json_t *body);
void sw_http_reply_error(struct sw_http_req *r, const struct sw_err *err);
void sw_http_reply_status(struct sw_http_req *r, unsigned status, const char *code, const char *message,
			  const char *field);
/* Stream size bytes of fd (owned from now on) with content_type. */
void sw_http_reply_fd(struct sw_http_req *r, int fd, uint64_t size, const char *content_type);

/* The mapping table above: status and code for err. */
unsigned sw_http_err_status(const struct sw_err *err, const char **code);
/* {"error": {...}} for err (new reference). */
json_t *sw_http_err_body(const struct sw_err *err, const char *request_id, unsigned *status);

#endif
