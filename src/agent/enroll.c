/*
 * enroll.c - enrollment and the identity file (see enroll.h).
 * Calls release/minisign, base/, jansson, libsodium (wiping), libc.
 */
#include "agent/enroll.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/httpc.h"
#include "base/json.h"
#include "base/log.h"
#include "release/minisign.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SW_JOIN_FILE_MAX 4096

const char *sw_enroll_api_message(long status, const struct sw_buf *body, char *out, size_t size)
{
	json_t *v = body && body->len ? json_loadb(body->data, body->len, 0, NULL) : NULL;
	const char *msg = NULL;

	if (v) {
		json_t *e = json_object_get(v, "error");

		msg = json_is_object(e) ? sw_json_str(e, "message") : sw_json_str(v, "error");
	}
	if (msg)
		snprintf(out, size, "%s", msg);
	else
		snprintf(out, size, "HTTP %ld", status);
	json_decref(v);
	return out;
}

static int sw_enroll_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int sw_enroll_join_token_parse(const char *buf, size_t len, char *out, size_t size, const char *path,
			       struct sw_err *err)
{
	size_t start, end, i;

	if (size)
		out[0] = '\0';
	for (start = 0; start < len && sw_enroll_space(buf[start]); start++)
		;
	for (end = len; end > start && sw_enroll_space(buf[end - 1]); end--)
		;
	if (end == start)
		return sw_err_set(err, SW_EINPUT, "join file '%s' is empty: it should hold one join token", path);
	for (i = start; i < end; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c <= 0x20 || c >= 0x7f)
			return sw_err_set(err, SW_EINPUT,
					  "join file '%s': byte %zu is not part of a token (one token on one line, as "
					  "'slipway join-token create' prints it)",
					  path, i + 1);
	}
	if (end - start >= size)
		return sw_err_set(err, SW_EINPUT, "join file '%s': the token is too long (%zu bytes)", path,
				  end - start);
	memcpy(out, buf + start, end - start);
	out[end - start] = '\0';
	return 0;
}

int sw_enroll_read_join_file(const char *path, char *out, size_t size, struct sw_err *err)
{
	char buf[SW_JOIN_FILE_MAX + 1];
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd, rc = -1;

	if (size)
		out[0] = '\0';
	/* A directory or FIFO is refused before any read (a FIFO must not hang the agent). */
	fd = sw_fs_open_regular(path, err);
	if (fd < 0) {
		if (err)
			err->code = SW_EINPUT;
		sw_err_prefix(err, "join file");
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		sw_err_set(err, SW_EINPUT, "cannot stat join file '%s': %s", path, strerror(errno));
		goto out;
	}
	if ((st.st_mode & 0007) || (st.st_uid == geteuid() && (st.st_mode & 0070))) {
		sw_err_set(err, SW_EINPUT,
			   "join file '%s' is accessible by %s (mode %04o): a join token enrolls a host, keep it "
			   "private ('chmod 600 %s')",
			   path, (st.st_mode & 0007) ? "others" : "its group", (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sw_err_set(err, SW_EINPUT, "cannot read join file '%s': %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SW_JOIN_FILE_MAX) {
			sw_err_set(err, SW_EINPUT, "join file '%s' is larger than %d bytes: it should hold one join token",
				   path, SW_JOIN_FILE_MAX);
			goto out;
		}
	}
	if (sw_enroll_join_token_parse(buf, len, out, size, path, err) < 0)
		goto out;
	rc = 0;
out:
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

static int sw_identity_path(const char *root, char *out, size_t size)
{
	return sw_snprintf(out, size, "%s/%s", root, SW_IDENTITY_FILE);
}

static int sw_identity_copy(char *dst, size_t size, const json_t *obj, const char *key, const char *path,
			    struct sw_err *err)
{
	const char *v = sw_json_str(obj, key);

	if (!v || !v[0] || sw_strlcpy(dst, v, size) < 0)
		return sw_err_set(err, SW_EINPUT, "'%s': field '%s' is missing or too long", path, key);
	return 0;
}

static int sw_identity_ports(const json_t *ports, unsigned out[2])
{
	size_t i;

	if (!json_is_array(ports) || json_array_size(ports) != 2)
		return -1;
	for (i = 0; i < 2; i++) {
		const json_t *p = json_array_get(ports, i);

		if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 65535)
			return -1;
		out[i] = (unsigned)json_integer_value(p);
	}
	return 0;
}

int sw_identity_load(const char *root, struct sw_identity *id, struct sw_err *err)
{
	char path[PATH_MAX];
	struct sw_buf b = SW_BUF_INIT(65536);
	json_t *v = NULL;
	long long hb;
	int rc = -1;

	memset(id, 0, sizeof(*id));
	if (sw_identity_path(root, path, sizeof(path)) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long: '%s'", root);
	if (!sw_fs_exists(path))
		return 0;
	if (sw_fs_read_file(path, 65536, &b, err) < 0)
		goto out;
	v = sw_json_parse(b.data ? b.data : "", b.len, 65536, path, err);
	if (!v)
		goto out;
	if (!json_is_object(v)) {
		sw_err_set(err, SW_EINPUT, "'%s' must hold a JSON object", path);
		goto out;
	}
	if (sw_identity_copy(id->server, sizeof(id->server), v, "server", path, err) < 0 ||
	    sw_identity_copy(id->host_id, sizeof(id->host_id), v, "host_id", path, err) < 0 ||
	    sw_identity_copy(id->host_token, sizeof(id->host_token), v, "host_token", path, err) < 0 ||
	    sw_identity_copy(id->name, sizeof(id->name), v, "name", path, err) < 0)
		goto out;
	if (sw_identity_ports(json_object_get(v, "ports"), id->ports) < 0) {
		sw_err_set(err, SW_EINPUT, "'%s': field 'ports' must be two ports", path);
		goto out;
	}
	hb = sw_json_int(v, "heartbeat_ms", 1000);
	id->heartbeat_ms = hb >= 50 && hb <= 600000 ? (uint64_t)hb : 1000;
	if (json_object_get(v, "pin")) {
		const char *pin = sw_json_str(v, "pin");
		unsigned char hash[SW_TLS_PIN_BYTES];
		char what[PATH_MAX + 16];

		snprintf(what, sizeof(what), "'%s': field 'pin'", path);
		if (!pin || sw_tls_pin_parse(pin, strlen(pin), what, hash, err) < 0) {
			if (!pin)
				sw_err_set(err, SW_EINPUT, "'%s': field 'pin' must be a string", path);
			goto out;
		}
		sw_tls_pin_format(hash, id->pin);
	}
	if (json_object_get(v, "ca") && sw_identity_copy(id->ca, sizeof(id->ca), v, "ca", path, err) < 0)
		goto out;
	id->labels = json_incref(json_is_object(json_object_get(v, "labels")) ? json_object_get(v, "labels") : NULL);
	if (!id->labels)
		id->labels = json_object();
	rc = 1;
out:
	if (v) {
		/* The token string inside jansson's value is wiped too. */
		json_t *t = json_object_get(v, "host_token");

		if (json_is_string(t))
			sodium_memzero((void *)json_string_value(t), json_string_length(t));
	}
	json_decref(v);
	if (b.data)
		sodium_memzero(b.data, b.len);
	sw_buf_release(&b);
	if (rc < 0)
		sw_identity_release(id);
	return rc;
}

int sw_identity_save(const char *root, const struct sw_identity *id, struct sw_err *err)
{
	char path[PATH_MAX], ts[SW_TIME_STR_MAX];
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	json_t *v;
	int rc;

	if (sw_identity_path(root, path, sizeof(path)) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long: '%s'", root);
	sw_clock_format_utc(sw_clock_wall_ms(), ts, sizeof(ts));
	v = json_pack("{s:s, s:s, s:s, s:s, s:o, s:[i,i], s:I, s:s}", "server", id->server, "host_id", id->host_id,
		      "host_token", id->host_token, "name", id->name,
		      "labels", id->labels ? json_incref(id->labels) : json_object(),
		      "ports", (int)id->ports[0], (int)id->ports[1], "heartbeat_ms", (json_int_t)id->heartbeat_ms,
		      "enrolled", ts);
	if (!v)
		return sw_err_set(err, SW_EINTERNAL, "cannot build the identity");
	if (id->pin[0])
		json_object_set_new(v, "pin", json_string(id->pin));
	if (id->ca[0])
		json_object_set_new(v, "ca", json_string(id->ca));
	if (sw_json_pretty(v, &b) < 0) {
		json_decref(v);
		sw_buf_release(&b);
		return sw_err_set(err, SW_EINTERNAL, "cannot serialise the identity");
	}
	{
		json_t *t = json_object_get(v, "host_token");

		sodium_memzero((void *)json_string_value(t), json_string_length(t));
	}
	json_decref(v);
	rc = sw_fs_write_atomic(path, b.data, b.len, 0600, err);
	sodium_memzero(b.data, b.len);
	sw_buf_release(&b);
	return rc;
}

void sw_identity_release(struct sw_identity *id)
{
	sodium_memzero(id->host_token, sizeof(id->host_token));
	json_decref(id->labels);
	id->labels = NULL;
}

/* Replace the .pub files of root/trusted/ with the keys the server sent. */
static int sw_enroll_write_keys(const char *root, const json_t *keys, struct sw_err *err)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	size_t i;
	DIR *d;

	if (sw_snprintf(dir, sizeof(dir), "%s/trusted", root) < 0)
		return sw_err_set(err, SW_EINPUT, "path too long: '%s'", root);
	if (sw_fs_mkdirs(dir, 0755, err) < 0)
		return -1;
	if (!json_is_array(keys))
		return sw_err_set(err, SW_EINPUT, "enrollment answer: 'trusted_keys' must be an array");
	for (i = 0; i < json_array_size(keys); i++) {
		const json_t *k = json_array_get(keys, i);
		struct sw_minisign_pubkey pk;

		if (!json_is_string(k) ||
		    sw_minisign_pubkey_parse(json_string_value(k), json_string_length(k), "trusted key", &pk, err) < 0)
			return sw_err_set(err, SW_EINPUT, "enrollment answer: 'trusted_keys[%zu]' is not a minisign public key",
					  i);
	}
	d = opendir(dir);
	if (d) {
		while ((de = readdir(d))) {
			size_t len = strlen(de->d_name);

			if (len > 4 && !strcmp(de->d_name + len - 4, ".pub") &&
			    sw_snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= 0)
				unlink(path);
		}
		closedir(d);
	}
	for (i = 0; i < json_array_size(keys); i++) {
		const json_t *k = json_array_get(keys, i);
		struct sw_minisign_pubkey pk;
		char kid[SW_MINISIGN_KEY_ID_HEX];

		sw_minisign_pubkey_parse(json_string_value(k), json_string_length(k), "trusted key", &pk, NULL);
		sw_minisign_key_id(pk.keynum, kid);
		if (sw_snprintf(path, sizeof(path), "%s/%s.pub", dir, kid) < 0)
			return sw_err_set(err, SW_EINPUT, "path too long: '%s'", dir);
		if (sw_fs_write_atomic(path, json_string_value(k), json_string_length(k), 0644, err) < 0)
			return -1;
	}
	return 0;
}

int sw_enroll(const char *root, const struct sw_enroll_request *rq, struct sw_identity *id, struct sw_err *err)
{
	struct sw_buf resp = SW_BUF_INIT(1 << 20), body = SW_BUF_INIT(1 << 20);
	struct sw_httpc_req req = { 0 };
	char url[2048], msg[512];
	json_t *in = NULL, *out = NULL;
	long status = 0;
	long long hb;
	int rc = -1;

	memset(id, 0, sizeof(*id));
	if (sw_snprintf(url, sizeof(url), "%s/api/v1/agent/enroll", rq->server) < 0)
		return sw_err_set(err, SW_EINPUT, "server URL too long");
	in = json_pack("{s:s, s:s, s:o, s:[i,i]}", "join_token", rq->join_token, "name", rq->name, "labels",
		       rq->labels ? json_deep_copy(rq->labels) : json_object(), "ports", (int)rq->ports[0], (int)rq->ports[1]);
	if (in && rq->address && rq->address[0])
		json_object_set_new(in, "address", json_string(rq->address));
	if (!in || sw_json_canonical(in, &body) < 0) {
		sw_err_set(err, SW_EINTERNAL, "cannot build the enrollment request");
		goto out;
	}
	req.method = "POST";
	req.url = url;
	req.body = body.data;
	req.body_len = body.len;
	req.timeout_ms = 30000;
	req.tls = rq->tls;
	if (sw_httpc_do(&req, &status, &resp, err) < 0)
		goto out;
	if (status != 200 && status != 201) {
		sw_enroll_api_message(status, &resp, msg, sizeof(msg));
		/* Only a server that failed (5xx) or an unexpected answer is worth retrying (SW_EIO). */
		sw_err_set(err,
			   status == 401 || status == 403 ? SW_EAUTH
			   : status == 400		  ? SW_EINPUT
			   : status == 409		  ? SW_EBUSY
			   : status == 404		  ? SW_ENOTFOUND
						  : SW_EIO,
			   "enrollment refused by '%s' (HTTP %ld): %s", rq->server, status, msg);
		goto out;
	}
	out = sw_json_parse(resp.data ? resp.data : "", resp.len, 1 << 20, "enrollment answer", err);
	if (!out)
		goto out;
	if (sw_identity_copy(id->host_id, sizeof(id->host_id), out, "host_id", "enrollment answer", err) < 0 ||
	    sw_identity_copy(id->host_token, sizeof(id->host_token), out, "host_token", "enrollment answer", err) < 0)
		goto out;
	hb = sw_json_int(out, "heartbeat_ms", 1000);
	id->heartbeat_ms = hb >= 50 && hb <= 600000 ? (uint64_t)hb : 1000;
	if (sw_strlcpy(id->server, rq->server, sizeof(id->server)) < 0 ||
	    sw_strlcpy(id->name, rq->name, sizeof(id->name)) < 0) {
		sw_err_set(err, SW_EINPUT, "server URL or name too long");
		goto out;
	}
	id->ports[0] = rq->ports[0];
	id->ports[1] = rq->ports[1];
	if (rq->tls) {
		sw_strlcpy(id->pin, rq->tls->pin, sizeof(id->pin));
		sw_strlcpy(id->ca, rq->tls->ca_file, sizeof(id->ca));
	}
	id->labels = rq->labels ? json_deep_copy(rq->labels) : json_object();
	if (sw_enroll_write_keys(root, json_object_get(out, "trusted_keys"), err) < 0 ||
	    sw_identity_save(root, id, err) < 0) {
		sw_err_prefix(err, "enrolled as '%s' but cannot save the identity (create a new join token)", id->host_id);
		goto out;
	}
	rc = 0;
out:
	if (out) {
		json_t *t = json_object_get(out, "host_token");

		if (json_is_string(t))
			sodium_memzero((void *)json_string_value(t), json_string_length(t));
	}
	if (body.data)
		sodium_memzero(body.data, body.len);
	if (resp.data)
		sodium_memzero(resp.data, resp.len);
	json_decref(in);
	json_decref(out);
	sw_buf_release(&resp);
	sw_buf_release(&body);
	if (rc < 0)
		sw_identity_release(id);
	return rc;
}
