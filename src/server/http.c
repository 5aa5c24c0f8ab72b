/*
 * http.c - libmicrohttpd daemon, request bodies with caps, replies and the
 * sw_err -> HTTP mapping (see http.h).
 */
#include "server/http.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/num.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Small per-connection footprint: the server should stay small with many agents. */
#define SW_HTTP_THREAD_STACK ((size_t)512 << 10)
#define SW_HTTP_CONN_MEMORY ((size_t)32 << 10)
#define SW_HTTP_CONN_TIMEOUT_S 120
#define SW_HTTP_CONN_LIMIT 1000
/* Bodies up to this size are read (and dropped) before an early error answer. */
#define SW_HTTP_DRAIN_MAX ((uint64_t)8 << 20)

struct sw_http {
	struct MHD_Daemon *d;
	struct sw_http_hooks hooks;
	atomic_ullong next_id;
};

/* ---- error mapping ------------------------------------------------------ */

unsigned sw_http_err_status(const struct sw_err *err, const char **code)
{
	unsigned status = 500;
	const char *c = "internal";

	switch (err ? err->code : SW_EINTERNAL) {
	case SW_EINPUT:
		status = 400, c = "bad_request";
		break;
	case SW_EAUTH:
		status = 401, c = "unauthorized";
		break;
	case SW_EDENIED:
		status = 403, c = "forbidden";
		break;
	case SW_ENOTFOUND:
		status = 404, c = "not_found";
		break;
	case SW_EBUSY:
		status = 409, c = "conflict";
		break;
	case SW_EINTEGRITY:
		status = 422, c = "integrity";
		break;
	case SW_ETIMEOUT:
		status = 504, c = "timeout";
		break;
	default:
		break;
	}
	if (code)
		*code = c;
	return status;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static size_t sw_http_utf8_len(const unsigned char *p)
{
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) || (p[0] == 0xf0 && p[1] < 0x90) ||
	    (p[0] == 0xf4 && p[1] > 0x8f))
		return 0; /* overlong, surrogate or past U+10FFFF */
	return n;
}

/* Messages may quote client bytes: keep them valid UTF-8 without control characters. */
static const char *sw_http_clean(const char *in, char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0, n;

	while (*p && o + 1 < size) {
		n = sw_http_utf8_len(p);
		if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
			out[o++] = '?';
			p++;
			continue;
		}
		if (o + n >= size)
			break;
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	out[o] = '\0';
	return out;
}

static json_t *sw_http_err_doc(const char *code, const char *message, const char *field, const char *request_id)
{
	char msg[SW_ERR_MSG_MAX], fld[SW_ERR_WHERE_MAX];
	json_t *e = json_pack("{s:s, s:s}", "code", code, "message",
			      sw_http_clean(message && *message ? message : code, msg, sizeof(msg)));

	json_object_set_new(e, "field", field && *field ? json_string(sw_http_clean(field, fld, sizeof(fld))) : json_null());
	if (request_id)
		json_object_set_new(e, "request_id", json_string(request_id));
	return json_pack("{s:o}", "error", e);
}

json_t *sw_http_err_body(const struct sw_err *err, const char *request_id, unsigned *status)
{
	const char *code;
	unsigned st = sw_http_err_status(err, &code);

	if (status)
		*status = st;
	return sw_http_err_doc(code, err ? err->msg : "internal error",
			       err && err->code == SW_EINPUT ? err->where : NULL, request_id);
}

/* ---- replies ------------------------------------------------------------ */

static void sw_http_set(struct sw_http_req *r, unsigned status, struct MHD_Response *resp, const char *ctype)
{
	if (!resp)
		sw_die("cannot create an HTTP response");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, "X-Request-Id", r->id);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	r->status = status;
	r->resp = resp;
}

void sw_http_reply_json(struct sw_http_req *r, unsigned status, json_t *body)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	size_t len = 0;
	char *data;

	if (r->resp) {
		json_decref(body);
		return;
	}
	if (sw_json_canonical(body, &b) < 0 || sw_buf_putc(&b, '\n') < 0) {
		sw_buf_release(&b);
		json_decref(body);
		sw_http_reply_status(r, 500, "internal", "cannot encode the answer", NULL);
		return;
	}
	json_decref(body);
	data = sw_buf_detach(&b, &len);
	sw_http_set(r, status, MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE), "application/json");
}

void sw_http_reply_status(struct sw_http_req *r, unsigned status, const char *code, const char *message,
			  const char *field)
{
	if (r->resp)
		return;
	sw_http_reply_json(r, status, sw_http_err_doc(code, message, field, r->id));
}

void sw_http_reply_error(struct sw_http_req *r, const struct sw_err *err)
{
	unsigned status;
	json_t *body;

	if (r->resp)
		return;
	body = sw_http_err_body(err, r->id, &status);
	sw_http_reply_json(r, status, body);
}

void sw_http_reply_fd(struct sw_http_req *r, int fd, uint64_t size, const char *content_type)
{
	if (r->resp) {
		close(fd);
		return;
	}
	sw_http_set(r, 200, MHD_create_response_from_fd64(size, fd), content_type);
}

/* ---- request data ------------------------------------------------------- */

const char *sw_http_query(struct sw_http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *sw_http_header(struct sw_http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *sw_http_header_n(struct sw_http_req *r, const char *name, size_t *len)
{
	const char *v = NULL;
	size_t n = 0;

	if (MHD_lookup_connection_value_n(r->conn, MHD_HEADER_KIND, name, strlen(name), &v, &n) != MHD_YES)
		v = NULL, n = 0;
	if (len)
		*len = v ? n : 0;
	return v;
}

/* ---- header checks (see http.h) ----------------------------------------- */

/*
 * libmicrohttpd 0.9.x measures header values with strlen(), so a value with a
 * NUL inside ("Bearer <token>\0junk") reads as its part before the NUL, and
 * the _n lookups do not help. It parses the request head in place in its
 * read buffer, though: request line, then each header's name and value, in
 * order, in [method, method + REQUEST_HEADER_SIZE), with the separators
 * (':' and line ends) overwritten by NULs. So every byte of the head between
 * one header's name or value and the next that is not a NUL, a space or a
 * tab is a byte the library hid behind a NUL. If the head does not have that
 * layout (obsolete folded header lines, which the library joins in place;
 * another library version), the request is refused: the check fails closed.
 */
struct sw_http_hdrscan {
	const char *start, *end; /* the request head */
	const char *covered;     /* end of the last name or value seen */
	unsigned content_length, transfer_encoding;
	struct sw_err *err;
	int failed;
};

/* Only NUL, space and tab in [from, to). */
static int sw_http_gap_ok(const char *from, const char *to)
{
	for (; from < to; from++)
		if (*from != '\0' && *from != ' ' && *from != '\t')
			return 0;
	return 1;
}

static enum MHD_Result sw_http_hdr_one(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
				       const char *value, size_t value_size)
{
	struct sw_http_hdrscan *s = cls;
	char name[64];

	(void)kind;
	if (!key || !value || key < s->start || value < key + key_size || value_size > (size_t)(s->end - value) ||
	    (s->covered && key < s->covered)) {
		sw_err_set(s->err, SW_EINPUT, "cannot check the request headers (folded header lines are not accepted)");
		s->failed = 1;
		return MHD_NO;
	}
	sw_http_clean(key, name, sizeof(name));
	/* Report on the header whose line held the NUL: the one before key, or this one. */
	if (s->covered && !sw_http_gap_ok(s->covered, key)) {
		s->failed = 1;
		s->covered = key;
		return MHD_NO;
	}
	if (!sw_http_gap_ok(key + key_size, value)) {
		s->failed = 1;
		s->covered = key + 1;
		return MHD_NO;
	}
	s->covered = value + value_size;
	if (!strcasecmp(name, MHD_HTTP_HEADER_CONTENT_LENGTH))
		s->content_length++;
	else if (!strcasecmp(name, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		s->transfer_encoding++;
	return MHD_YES;
}

/* The header whose name or value ends right before p (for the message). */
struct sw_http_hdrfind {
	const char *at;
	char name[64];
};

static enum MHD_Result sw_http_hdr_find(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
					const char *value, size_t value_size)
{
	struct sw_http_hdrfind *f = cls;

	(void)kind, (void)key_size, (void)value, (void)value_size;
	if (!key || key >= f->at)
		return MHD_NO;
	sw_http_clean(key, f->name, sizeof(f->name));
	return MHD_YES;
}

/* 0, or -1 with err set: the request's headers are ambiguous or carry NUL bytes. */
static int sw_http_check_headers(struct sw_http_req *r, struct sw_err *err)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	struct sw_http_hdrscan s = { .err = err };

	if (!ci || !r->method)
		return sw_err_set(err, SW_EINPUT, "cannot check the request headers (no request head)");
	s.start = r->method;
	s.end = r->method + ci->header_size;
	MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, sw_http_hdr_one, &s);
	if (!s.failed && s.covered && !sw_http_gap_ok(s.covered, s.end))
		s.failed = 1, s.covered = s.end;
	if (s.failed) {
		struct sw_http_hdrfind f = { .at = s.covered, .name = "" };

		if (err->code != SW_OK)
			return -1;
		MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, sw_http_hdr_find, &f);
		if (!strcasecmp(f.name, MHD_HTTP_HEADER_AUTHORIZATION))
			return sw_err_set(err, SW_EAUTH, "authorization header contains a NUL byte");
		return sw_err_setloc(err, SW_EINPUT, f.name, 0, 0, "header '%s' contains a NUL byte", f.name);
	}
	if (s.content_length > 1)
		return sw_err_setloc(err, SW_EINPUT, MHD_HTTP_HEADER_CONTENT_LENGTH, 0, 0,
				     "more than one Content-Length header (%u)", s.content_length);
	if (s.content_length && s.transfer_encoding)
		return sw_err_setloc(err, SW_EINPUT, MHD_HTTP_HEADER_TRANSFER_ENCODING, 0, 0,
				     "Content-Length and Transfer-Encoding together (send one of them)");
	return 0;
}

/* ---- the daemon --------------------------------------------------------- */

static enum MHD_Result sw_http_queue(struct sw_http_req *r)
{
	enum MHD_Result rc;

	if (!r->resp)
		sw_http_reply_status(r, 500, "internal", "the handler gave no answer", NULL);
	rc = MHD_queue_response(r->conn, r->status, r->resp);
	MHD_destroy_response(r->resp);
	r->resp = NULL;
	r->queued = 1;
	return rc;
}

static void sw_http_take(struct sw_http_req *r, const char *data, size_t n)
{
	if (r->body_too_large || r->body_errno)
		return; /* discarding the rest */
	if (n > r->body_max - r->body_len) {
		r->body_too_large = 1;
		return;
	}
	if (r->body_fd >= 0) {
		while (n > 0) {
			ssize_t w = write(r->body_fd, data, n);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				r->body_errno = w < 0 ? errno : EIO;
				return;
			}
			data += w;
			n -= (size_t)w;
			r->body_len += (uint64_t)w;
		}
		return;
	}
	if (!r->body.max)
		sw_buf_init(&r->body, (size_t)r->body_max);
	if (sw_buf_append(&r->body, data, n) < 0)
		r->body_too_large = 1;
	else
		r->body_len += n;
}

static enum MHD_Result sw_http_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				      const char *version, const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	struct sw_http *h = cls;
	struct sw_http_req *r = *con_cls;
	struct sw_err herr = SW_ERR_INIT;
	const char *cl;
	uint64_t n;

	(void)version;
	if (!r) {
		r = sw_xcalloc(1, sizeof(*r));
		r->conn = conn;
		r->method = method;
		r->path = url;
		r->body_fd = -1;
		r->body_max = SW_HTTP_JSON_MAX;
		r->start_ms = sw_clock_mono_ms();
		snprintf(r->id, sizeof(r->id), "r-%llu", (unsigned long long)atomic_fetch_add(&h->next_id, 1));
		*con_cls = r;
		if (sw_http_check_headers(r, &herr) < 0) {
			/* The body's framing is not to be trusted: answer now and close. */
			sw_http_reply_error(r, &herr);
			MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONNECTION, "close");
			return sw_http_queue(r);
		}
		if (h->hooks.begin)
			h->hooks.begin(h->hooks.ctx, r);
		cl = sw_http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (!cl || sw_parse_u64(cl, strlen(cl), 0, UINT64_MAX, &n) < 0)
			n = UINT64_MAX; /* unknown length */
		if (!r->resp && n != UINT64_MAX && n > r->body_max)
			r->body_too_large = 1;
		/*
		 * An answer known before the body (an error) waits until a small
		 * body has been read, so that the client, still sending, is not
		 * cut off; with a large or unknown body it goes out now and the
		 * connection closes.
		 */
		if (n <= SW_HTTP_DRAIN_MAX && n > 0)
			return MHD_YES;
		if (r->body_too_large && !r->resp) {
			char msg[128];

			snprintf(msg, sizeof(msg), "request body larger than %llu bytes", (unsigned long long)r->body_max);
			sw_http_reply_status(r, 413, "too_large", msg, NULL);
		}
		if (r->resp)
			return sw_http_queue(r);
		return MHD_YES;
	}
	if (r->queued)
		return MHD_YES;
	if (*upload_data_size) {
		if (!r->resp) /* otherwise the answer is known: drain */
			sw_http_take(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->resp) {
		/* answered in begin; the body has been drained */
	} else if (r->body_too_large) {
		char msg[128];

		snprintf(msg, sizeof(msg), "request body larger than %llu bytes", (unsigned long long)r->body_max);
		sw_http_reply_status(r, 413, "too_large", msg, NULL);
	} else if (r->body_errno) {
		char msg[256];

		snprintf(msg, sizeof(msg), "cannot store the request body: %s", strerror(r->body_errno));
		sw_http_reply_status(r, 500, "internal", msg, NULL);
	} else if (h->hooks.handle) {
		h->hooks.handle(h->hooks.ctx, r);
	}
	return sw_http_queue(r);
}

static void sw_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	struct sw_http *h = cls;
	struct sw_http_req *r = *con_cls;

	(void)conn;
	if (!r)
		return;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status == 0)
		r->status = 499; /* the client went away before an answer */
	if (h->hooks.finish)
		h->hooks.finish(h->hooks.ctx, r);
	if (r->body_fd >= 0)
		close(r->body_fd);
	if (r->resp)
		MHD_destroy_response(r->resp);
	sw_buf_release(&r->body);
	free(r);
	*con_cls = NULL;
}

static void sw_http_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	sw_warn("libmicrohttpd: %s", msg);
}

int sw_http_parse_listen(const char *addr, char *host, size_t host_size, unsigned *port, struct sw_err *err)
{
	const char *colon, *p = addr, *hs, *he;
	uint64_t v;

	if (!addr || !*addr)
		return sw_err_set(err, SW_EINPUT, "empty listen address");
	if (*p == '[') {
		he = strchr(p, ']');
		if (!he || he[1] != ':')
			return sw_err_set(err, SW_EINPUT, "listen address '%s': expected [IPv6]:PORT", addr);
		hs = p + 1;
		colon = he + 1;
	} else {
		colon = strrchr(p, ':');
		if (!colon)
			return sw_err_set(err, SW_EINPUT, "listen address '%s': expected ADDRESS:PORT", addr);
		if (memchr(p, ':', (size_t)(colon - p)))
			return sw_err_set(err, SW_EINPUT, "listen address '%s': put an IPv6 address in brackets", addr);
		hs = p;
		he = colon;
	}
	if (sw_parse_u64(colon + 1, strlen(colon + 1), 0, 65535, &v) < 0)
		return sw_err_set(err, SW_EINPUT, "listen address '%s': port must be 0 to 65535", addr);
	if ((size_t)(he - hs) >= host_size)
		return sw_err_set(err, SW_EINPUT, "listen address '%s': host too long", addr);
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	*port = (unsigned)v;
	return 0;
}

int sw_http_start(const char *addr, const struct sw_http_tls *tls, const struct sw_http_hooks *hooks,
		  struct sw_http **out, unsigned *bound_port, struct sw_err *err)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	char host[256], portstr[8];
	unsigned port, flags;
	const union MHD_DaemonInfo *info;
	struct sw_http *h;
	int rc;
	/* With TLS: the certificate, the key, TLS 1.2 and 1.3 only (without: the END alone). */
	struct MHD_OptionItem tls_opts[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, tls ? (void *)tls->cert_pem : NULL },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, tls ? (void *)tls->key_pem : NULL },
		{ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" },
		{ MHD_OPTION_END, 0, NULL },
	};

	*out = NULL;
	if (sw_http_parse_listen(addr, host, sizeof(host), &port, err) < 0)
		return -1;
	memset(&ss, 0, sizeof(ss));
	if (!host[0]) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons((uint16_t)port);
	} else {
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV;
		snprintf(portstr, sizeof(portstr), "%u", port);
		rc = getaddrinfo(host, portstr, &hints, &ai);
		if (rc != 0 || !ai)
			return sw_err_set(err, SW_EINPUT, "listen address '%s': %s", addr, gai_strerror(rc));
		if (ai->ai_addrlen > sizeof(ss)) {
			freeaddrinfo(ai);
			return sw_err_set(err, SW_EINPUT, "listen address '%s': unsupported address", addr);
		}
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		freeaddrinfo(ai);
	}
	flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_POLL;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (tls) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
			return sw_err_set(err, SW_EINPUT, "this libmicrohttpd is built without TLS: cannot serve --tls-cert");
		flags |= MHD_USE_TLS;
	}
	h = sw_xcalloc(1, sizeof(*h));
	h->hooks = *hooks;
	atomic_init(&h->next_id, 1);
	/* The logger first, so that MHD reports everything through it. */
	h->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, sw_http_access, h, MHD_OPTION_EXTERNAL_LOGGER,
				sw_http_logger, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_NOTIFY_COMPLETED, sw_http_completed, h, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned)SW_HTTP_CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, (unsigned)SW_HTTP_CONN_LIMIT,
				MHD_OPTION_THREAD_STACK_SIZE, SW_HTTP_THREAD_STACK, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				SW_HTTP_CONN_MEMORY, MHD_OPTION_ARRAY, tls ? tls_opts : tls_opts + 3, MHD_OPTION_END);
	if (!h->d) {
		free(h);
		return sw_err_set(err, SW_EIO, "cannot listen on '%s' (address in use or not available%s)", addr,
				  tls ? ", or the TLS certificate refused: see the log above" : "");
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	if (bound_port)
		*bound_port = info ? info->port : port;
	*out = h;
	return 0;
}

void sw_http_stop(struct sw_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
