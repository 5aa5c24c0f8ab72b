/*
 * client.c - the CLI's API client (see client.h): resolves server and
 * token, sends JSON requests and files through base/httpc and maps the
 * server's error bodies into struct sw_err.
 */
#include "cli/client.h"
#include "base/fs.h"
#include "base/buf.h"
#include "base/httpc.h"
#include "base/json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int sw_client_curl_ready;
const char sw_client_no_token[] = "";

/* The TLS options of this process's one command (set while parsing flags). */
static struct {
	const char *ca, *pin;
	bool insecure_http;
} sw_client_tls_opts;

void sw_client_tls_option(int id, const char *value)
{
	switch (id) {
	case SW_CLIENT_OPT_CA:
		sw_client_tls_opts.ca = value;
		break;
	case SW_CLIENT_OPT_PIN:
		sw_client_tls_opts.pin = value;
		break;
	case SW_CLIENT_OPT_INSECURE_HTTP:
		sw_client_tls_opts.insecure_http = true;
		break;
	default:
		break;
	}
}

/* --ca / --pin / --insecure-http, else the environment, checked (client.h). */
static int sw_client_tls_init(struct sw_client *c, struct sw_err *err)
{
	const char *ca = sw_client_tls_opts.ca ? sw_client_tls_opts.ca : getenv("SLIPWAY_CA");
	const char *pin = sw_client_tls_opts.pin ? sw_client_tls_opts.pin : getenv("SLIPWAY_PIN");
	const char *insecure = getenv("SLIPWAY_INSECURE_HTTP");
	unsigned char hash[SW_TLS_PIN_BYTES];

	c->tls.insecure_http = sw_client_tls_opts.insecure_http || (insecure && !strcmp(insecure, "1"));
	if (ca && *ca) {
		/* a regular file (a directory or FIFO is refused without blocking), readable */
		if (sw_fs_check_regular(ca, err) < 0) {
			sw_err_prefix(err, "--ca");
			if (err)
				err->code = SW_EINPUT;
			return -1;
		}
		if (sw_strlcpy(c->tls.ca_file, ca, sizeof(c->tls.ca_file)) < 0)
			return sw_err_set(err, SW_EINPUT, "--ca: path too long");
	}
	if (pin && *pin) {
		if (sw_tls_pin_parse(pin, strlen(pin), sw_client_tls_opts.pin ? "--pin" : "SLIPWAY_PIN", hash, err) < 0)
			return -1;
		sw_tls_pin_format(hash, c->tls.pin);
	}
	return sw_httpc_check_url(c->server, c->tls.insecure_http, "server URL", err);
}

enum sw_code sw_client_status_code(long status)
{
	if (status >= 200 && status < 300)
		return SW_OK;
	switch (status) {
	case 400:
	case 413:
		return SW_EINPUT;
	case 401:
		return SW_EAUTH;
	case 403:
		return SW_EDENIED;
	case 404:
		return SW_ENOTFOUND;
	case 409:
		return SW_EBUSY;
	case 422:
		return SW_EINTEGRITY;
	case 504:
		return SW_ETIMEOUT;
	default:
		return SW_EIO;
	}
}

int sw_client_init(struct sw_client *c, const char *server_opt, const char *token_opt, struct sw_err *err)
{
	const char *server = server_opt && *server_opt ? server_opt : getenv("SLIPWAY_SERVER");
	const char *token = token_opt && *token_opt ? token_opt : getenv("SLIPWAY_TOKEN");
	size_t n;

	memset(c, 0, sizeof(*c));
	c->timeout_ms = 30000;
	if (!server || !*server)
		return sw_err_set(err, SW_EINPUT, "no server given: use --server URL or set SLIPWAY_SERVER");
	if (strncmp(server, "http://", 7) && strncmp(server, "https://", 8))
		return sw_err_set(err, SW_EINPUT, "server URL '%s' must start with http:// or https://", server);
	if (sw_strlcpy(c->server, server, sizeof(c->server)) < 0)
		return sw_err_set(err, SW_EINPUT, "server URL '%.64s...' is too long", server);
	n = strlen(c->server);
	while (n > 0 && c->server[n - 1] == '/')
		c->server[--n] = '\0';
	if (!sw_client_curl_ready) {
		if (sw_httpc_global_init() < 0)
			return sw_err_set(err, SW_EINTERNAL, "cannot initialise libcurl");
		sw_client_curl_ready = 1;
	}
	if (sw_client_tls_init(c, err) < 0)
		return -1;
	if (token_opt == SW_CLIENT_NO_TOKEN)
		return 0;
	if (!token || !*token)
		return sw_err_set(err, SW_EINPUT, "no token given: use --token TOKEN or set SLIPWAY_TOKEN");
	if (sw_strlcpy(c->token, token, sizeof(c->token)) < 0)
		return sw_err_set(err, SW_EINPUT, "token is too long");
	for (n = 0; c->token[n]; n++)
		if ((unsigned char)c->token[n] <= 0x20 || c->token[n] == 0x7f)
			return sw_err_set(err, SW_EINPUT, "token contains a space or control character");
	return 0;
}

static int sw_client_url(const struct sw_client *c, const char *path, char *url, size_t size, struct sw_err *err)
{
	if (path[0] != '/')
		return sw_err_set(err, SW_EINTERNAL, "API path '%s' does not start with '/'", path);
	if (sw_snprintf(url, size, "%s%s", c->server, path) < 0)
		return sw_err_set(err, SW_EINPUT, "URL for '%.64s' is too long", path);
	return 0;
}

/* An error answer: the server's {"error": {...}} if there is one, else the status. */
static int sw_client_fail(const struct sw_client *c, const char *method, const char *path, long status,
			  const struct sw_buf *body, struct sw_err *err)
{
	enum sw_code code = sw_client_status_code(status);
	json_t *doc = NULL, *e;
	const char *msg = NULL;
	int rc;

	if (body && body->len)
		doc = json_loadb(body->data, body->len, 0, NULL);
	e = json_object_get(doc, "error");
	if (json_is_object(e))
		msg = sw_json_str(e, "message");
	if (msg && *msg)
		rc = sw_err_set(err, code, "%s", msg);
	else
		rc = sw_err_set(err, code, "%s %s: server answered HTTP %ld", method, path, status);
	json_decref(doc);
	return rc;
}

int sw_client_json(struct sw_client *c, const char *method, const char *path, const json_t *body, json_t **resp,
		   struct sw_err *err)
{
	struct sw_buf out = SW_BUF_INIT(SW_CLIENT_RESP_MAX), in = SW_BUF_INIT(SW_CLIENT_RESP_MAX);
	struct sw_httpc_req req;
	char url[2048];
	json_t *doc = NULL;
	long status = 0;
	int rc = -1;

	if (resp)
		*resp = NULL;
	c->last_status = 0;
	if (sw_client_url(c, path, url, sizeof(url), err) < 0)
		return -1;
	if (body && sw_json_canonical(body, &in) < 0) {
		sw_buf_release(&in);
		return sw_err_set(err, SW_EINPUT, "request body for '%s' cannot be encoded", path);
	}
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.token = c->token;
	req.tls = &c->tls;
	req.body = body ? in.data : NULL;
	req.body_len = body ? in.len : 0;
	req.timeout_ms = c->timeout_ms;
	if (sw_httpc_do(&req, &status, &out, err) < 0)
		goto out;
	c->last_status = status;
	if (status < 200 || status >= 300) {
		sw_client_fail(c, method, path, status, &out, err);
		goto out;
	}
	if (resp) {
		if (out.len == 0) {
			doc = json_null();
		} else {
			doc = sw_json_parse(out.data, out.len, SW_CLIENT_RESP_MAX, "server answer", err);
			if (!doc) {
				sw_err_prefix(err, "%s %s", method, path);
				goto out;
			}
		}
		*resp = doc;
	}
	rc = 0;
out:
	sw_buf_release(&in);
	sw_buf_release(&out);
	return rc;
}

int sw_client_upload(struct sw_client *c, const char *path, const char *file, struct sw_err *err)
{
	struct sw_buf out = SW_BUF_INIT(SW_CLIENT_RESP_MAX);
	struct sw_httpc_req req;
	char url[2048];
	long status = 0;
	int rc = -1;

	c->last_status = 0;
	if (sw_client_url(c, path, url, sizeof(url), err) < 0)
		return -1;
	memset(&req, 0, sizeof(req));
	req.method = "PUT";
	req.url = url;
	req.token = c->token;
	req.tls = &c->tls;
	req.upload_path = file;
	req.content_type = "application/octet-stream";
	/* Large files: a generous floor over the usual request timeout. */
	req.timeout_ms = c->timeout_ms > 600000 ? c->timeout_ms : 600000;
	if (sw_httpc_do(&req, &status, &out, err) < 0)
		goto out;
	c->last_status = status;
	if (status < 200 || status >= 300) {
		sw_client_fail(c, "PUT", path, status, &out, err);
		goto out;
	}
	rc = 0;
out:
	sw_buf_release(&out);
	return rc;
}

int sw_client_download(struct sw_client *c, const char *path, const char *file, struct sw_err *err)
{
	struct sw_buf out = SW_BUF_INIT(SW_CLIENT_RESP_MAX);
	struct sw_httpc_req req;
	char url[2048];
	long status = 0;
	int rc = -1;

	c->last_status = 0;
	if (sw_client_url(c, path, url, sizeof(url), err) < 0)
		return -1;
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.token = c->token;
	req.tls = &c->tls;
	req.download_path = file;
	req.timeout_ms = c->timeout_ms > 600000 ? c->timeout_ms : 600000;
	if (sw_httpc_do(&req, &status, &out, err) < 0)
		goto out;
	c->last_status = status;
	if (status < 200 || status >= 300) {
		/* base/httpc drops a non-2xx body of a download: the status has to do. */
		sw_client_fail(c, "GET", path, status, NULL, err);
		goto out;
	}
	rc = 0;
out:
	sw_buf_release(&out);
	return rc;
}

int sw_client_escape(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '.' || ch == '_' || ch == '~') {
			if (o + 1 >= size)
				return -1;
			out[o++] = (char)ch;
		} else {
			if (o + 3 >= size)
				return -1;
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	if (o >= size)
		return -1;
	out[o] = '\0';
	return 0;
}
