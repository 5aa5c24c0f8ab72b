/*
 * client.h - the CLI's glue to `slipway server`: which server and token to
 * use, one JSON request, file uploads and downloads, and turning the
 * server's error body into a struct sw_err.
 *
 * Server and token come from the command's --server / --token, else from
 * $SLIPWAY_SERVER / $SLIPWAY_TOKEN (SW_EINPUT naming both when neither is
 * set). The server URL is "http://host:port" or "https://..." (a trailing
 * '/' is dropped); request paths start with "/api/v1/...".
 *
 * Errors the server answers with ({"error": {"code", "message", "field"}})
 * become struct sw_err with the server's message and a code mapped from the
 * HTTP status:
 *   | status        | code          | exit |
 *   | 400, 413      | SW_EINPUT     | 2    |
 *   | 401           | SW_EAUTH      | 1    |
 *   | 403           | SW_EDENIED    | 1    |
 *   | 404           | SW_ENOTFOUND  | 2    |
 *   | 409           | SW_EBUSY      | 1    |
 *   | 422           | SW_EINTEGRITY | 1    |
 *   | 504           | SW_ETIMEOUT   | 1    |
 *   | other non-2xx | SW_EIO        | 1    |
 * c->last_status holds the status of the last request (0: no answer).
 * Transport failures are SW_EIO / SW_ETIMEOUT from base/httpc; a server
 * certificate that cannot be verified is SW_EAUTH (exit 1).
 *
 * Trusting the server (every command that talks to it takes these options;
 * base/httpc.h says what they do):
 *   | option          | environment               | checked at init (exit 2)        |
 *   | --ca FILE       | SLIPWAY_CA                | the file can be read             |
 *   | --pin PIN       | SLIPWAY_PIN               | "sha256//" + 44 base64 characters |
 *   | --insecure-http | SLIPWAY_INSECURE_HTTP=1   | -                                |
 * Without --insecure-http, an http:// server URL whose host is not loopback
 * is refused at init, before any connection.
 *
 * Ownership: *resp is a new reference the caller decrefs (NULL on error).
 * Calls base/httpc, base/json, base/err; no printing.
 */
#ifndef SW_CLI_CLIENT_H
#define SW_CLI_CLIENT_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"
#include "base/httpc.h"

#define SW_CLIENT_RESP_MAX ((size_t)16 << 20) /* largest JSON answer accepted */

/* Option ids and getopt_long entries for the table above (include <getopt.h> first). */
enum { SW_CLIENT_OPT_CA = 0x1000, SW_CLIENT_OPT_PIN, SW_CLIENT_OPT_INSECURE_HTTP };
#define SW_CLIENT_TLS_LONGOPTS                                                                                       \
	{ "ca", required_argument, NULL, SW_CLIENT_OPT_CA }, { "pin", required_argument, NULL, SW_CLIENT_OPT_PIN }, \
		{ "insecure-http", no_argument, NULL, SW_CLIENT_OPT_INSECURE_HTTP }
#define SW_CLIENT_TLS_USAGE                                                                       \
	"  --ca FILE         trust a server certificate this CA signed (default $SLIPWAY_CA)\n"  \
	"  --pin PIN         trust the server whose certificate key has this pin, sha256//...\n"        \
	"                    (the server's DATA/tls.pin; default $SLIPWAY_PIN)\n"                       \
	"  --insecure-http   allow an http:// server that is not loopback (SLIPWAY_INSECURE_HTTP=1)\n"
/* Record one of those options (id from the table); sw_client_init uses them. */
void sw_client_tls_option(int id, const char *value);

struct sw_client {
	char server[1024]; /* "http://127.0.0.1:7070", no trailing '/' */
	struct sw_httpc_tls tls;
	char token[512];
	uint64_t timeout_ms; /* per request; default 30 s (raise it for long-polls) */
	long last_status;
};

/* token_opt for a client of public routes only (GET /api/v1/health): no token is looked for. */
#define SW_CLIENT_NO_TOKEN ((const char *)sw_client_no_token)
extern const char sw_client_no_token[];
/* Resolve server, token and TLS trust (options first, then the environment). */
int sw_client_init(struct sw_client *c, const char *server_opt, const char *token_opt, struct sw_err *err);
/*
 * method path with an optional JSON body (not stolen). On 2xx, *resp (if
 * resp is not NULL) gets the parsed answer (JSON null for an empty body);
 * otherwise -1 with the server's message.
 */
int sw_client_json(struct sw_client *c, const char *method, const char *path, const json_t *body, json_t **resp,
		   struct sw_err *err);
/* PUT the file at `file` to path as application/octet-stream (streamed). */
int sw_client_upload(struct sw_client *c, const char *path, const char *file, struct sw_err *err);
/* GET path into `file` (written atomically; nothing left behind on error). */
int sw_client_download(struct sw_client *c, const char *path, const char *file, struct sw_err *err);
/* The struct sw_err code for an HTTP status (table above); SW_OK for 2xx. */
enum sw_code sw_client_status_code(long status);
/* Percent-encode s for a query string value into out. -1 if it does not fit. */
int sw_client_escape(const char *s, char *out, size_t size);

#endif
