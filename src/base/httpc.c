/*
 * httpc.c - blocking HTTP client over libcurl (see httpc.h).
 */
#include "base/httpc.h"
#include "base/fs.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sw_httpc_url_host(const char *url, char *host, size_t size, unsigned *port, struct sw_err *err)
{
	CURLU *u = curl_url();
	char *h = NULL, *p = NULL;
	unsigned long v = 0;
	int rc = -1;

	if (!u)
		return sw_err_set(err, SW_EINTERNAL, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		sw_err_set(err, SW_EINPUT, "'%.200s' is not a URL with a host", url);
		goto out;
	}
	v = strtoul(p, NULL, 10);
	if (v < 1 || v > 65535 || strlen(h) >= size) {
		sw_err_set(err, SW_EINPUT, "'%.200s': bad port or host too long", url);
		goto out;
	}
	memcpy(host, h, strlen(h) + 1);
	*port = (unsigned)v;
	rc = 0;
out:
	curl_free(h);
	curl_free(p);
	curl_url_cleanup(u);
	return rc;
}

int sw_httpc_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

int sw_httpc_check_url(const char *url, bool insecure_http, const char *what, struct sw_err *err)
{
	char *scheme = NULL, *host = NULL, bare[256];
	CURLU *u = curl_url();
	int rc = -1;
	size_t n;

	if (!u)
		return sw_err_set(err, SW_EINTERNAL, "cannot parse URLs");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
		sw_err_set(err, SW_EINPUT, "%s: '%s' is not an http:// or https:// URL", what, url);
		goto out;
	}
	n = strlen(host);
	if (host[0] == '[' && n >= 2 && host[n - 1] == ']') /* an IPv6 literal */
		snprintf(bare, sizeof(bare), "%.*s", (int)(n - 2), host + 1);
	else
		snprintf(bare, sizeof(bare), "%s", host);
	if (!strcmp(scheme, "http") && !sw_tls_host_is_loopback(bare) && !insecure_http) {
		sw_err_set(err, SW_EINPUT,
			   "%s: refusing plain HTTP to '%s', which is not loopback: tokens would cross the network in "
			   "clear; use https:// (the server's --tls-cert), or --insecure-http / SLIPWAY_INSECURE_HTTP=1",
			   what, url);
		goto out;
	}
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/* The TLS options for a request to slipway server (httpc.h). */
static void sw_httpc_set_tls(CURL *c, const struct sw_httpc_tls *tls)
{
	if (tls->ca_file[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, tls->ca_file);
	if (tls->pin[0]) {
		curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, tls->pin);
		if (!tls->ca_file[0]) {
			/* The pin alone identifies the server (a self-signed certificate has no chain to check). */
			curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
			curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
		}
	}
}

/* A TLS failure that means "this is not the server you were told to trust". */
static int sw_httpc_cert_failure(CURLcode rc)
{
	return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
	       rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_ISSUER_ERROR || rc == CURLE_SSL_INVALIDCERTSTATUS;
}

struct sw_httpc_sink {
	struct sw_buf *buf; /* in memory, or */
	FILE *file;         /* to a temporary file */
	int too_big;
	int write_errno;    /* a failed write to file (ENOSPC), reported as such */
};

static size_t sw_httpc_write(char *p, size_t size, size_t n, void *ctx)
{
	struct sw_httpc_sink *sink = ctx;
	size_t len = size * n;

	if (sink->file) {
		size_t w = fwrite(p, 1, len, sink->file);

		if (w < len)
			sink->write_errno = errno ? errno : EIO;
		return w;
	}
	if (sw_buf_append(sink->buf, p, len) < 0) {
		sink->too_big = 1;
		return 0;
	}
	return len;
}

int sw_httpc_do(const struct sw_httpc_req *req, long *status, struct sw_buf *resp, struct sw_err *err)
{
	struct sw_httpc_sink sink = { .buf = resp };
	struct curl_slist *headers = NULL;
	char hdr[1024], tmp[PATH_MAX] = "", errbuf[CURL_ERROR_SIZE] = "";
	FILE *up = NULL;
	CURL *c;
	CURLcode rc;
	int ret = -1;

	*status = 0;
	if (req->tls && sw_httpc_check_url(req->url, req->tls->insecure_http, "server URL", err) < 0)
		return -1;
	c = curl_easy_init();
	if (!c)
		return sw_err_set(err, SW_EINTERNAL, "cannot create an HTTP client");
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms ? req->timeout_ms : 30000));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sw_httpc_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	if (req->tls)
		sw_httpc_set_tls(c, req->tls);
	if (req->token) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", req->token);
		headers = curl_slist_append(headers, hdr);
	}
	if (req->body || req->upload_path) {
		snprintf(hdr, sizeof(hdr), "Content-Type: %s",
			 req->content_type ? req->content_type
					   : (req->upload_path ? "application/octet-stream" : "application/json"));
		headers = curl_slist_append(headers, hdr);
		headers = curl_slist_append(headers, "Expect:");
	}
	if (req->upload_path) {
		struct stat st;

		int fd = sw_fs_open_regular(req->upload_path, err);

		if (fd < 0)
			goto out;
		up = fdopen(fd, "rb");
		if (!up || fstat(fd, &st) < 0) {
			sw_err_set(err, SW_EIO, "cannot open '%s': %s", req->upload_path, strerror(errno));
			if (!up)
				close(fd);
			goto out;
		}
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READDATA, up);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
	} else if (req->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	} else if (!strcmp(req->method, "POST") || !strcmp(req->method, "PUT")) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	if (req->download_path) {
		int fd;

		if (sw_snprintf(tmp, sizeof(tmp), "%s.part.%ld", req->download_path, (long)getpid()) < 0) {
			sw_err_set(err, SW_EINPUT, "path too long: '%s'", req->download_path);
			goto out;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 || !(sink.file = fdopen(fd, "wb"))) {
			sw_err_set(err, SW_EIO, "cannot create '%s': %s", tmp, strerror(errno));
			if (fd >= 0)
				close(fd);
			tmp[0] = '\0';
			goto out;
		}
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (sink.too_big) {
		sw_err_set(err, SW_EIO, "response from '%s' is larger than %zu bytes", req->url, resp->max);
		goto out;
	}
	if (sink.write_errno) {
		sw_err_set(err, SW_EIO, "cannot write '%s': %s", tmp, strerror(sink.write_errno));
		goto out;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		sw_err_set(err, SW_ETIMEOUT, "request to '%s' timed out", req->url);
		goto out;
	}
	if (req->tls && sw_httpc_cert_failure(rc)) {
		sw_err_set(err, SW_EAUTH,
			   "cannot verify the TLS certificate of '%s': %s (trust it with --ca FILE, or --pin with the "
			   "server's DATA/tls.pin)",
			   req->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	if (rc != CURLE_OK) {
		sw_err_set(err, SW_EIO, "cannot reach '%s': %s", req->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	if (sink.file) {
		int bad = fflush(sink.file) != 0 || fsync(fileno(sink.file)) != 0;

		bad |= fclose(sink.file) != 0;
		sink.file = NULL;
		if (bad) {
			sw_err_set(err, SW_EIO, "cannot write '%s': %s", tmp, strerror(errno));
			goto out;
		}
		if (*status >= 200 && *status < 300) {
			if (rename(tmp, req->download_path) < 0) {
				sw_err_set(err, SW_EIO, "cannot rename '%s': %s", tmp, strerror(errno));
				goto out;
			}
			tmp[0] = '\0';
		}
	}
	ret = 0;
out:
	if (sink.file)
		fclose(sink.file);
	if (tmp[0])
		unlink(tmp);
	if (up)
		fclose(up);
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
	return ret;
}
