/*
 * ssh.c - the ssh:// URL parser, shell quoting and the ssh/scp argv (see
 * ssh.h). Calls base/proc, base/buf, base/err, libc.
 */
#include "remote/ssh.h"

#include "base/num.h"
#include "base/proc.h"

#include <stdio.h>
#include <string.h>

#define SW_SSH_ARGV_MAX (24 + 2 * SW_SSH_MAX_OPTIONS)
#define SW_SSH_OUT_MAX ((size_t)1 << 20)

static bool sw_ssh_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool sw_ssh_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int sw_ssh_parse_url(const char *url, size_t len, struct sw_ssh_target *t, struct sw_err *err)
{
	static const char scheme[] = "ssh://";
	const char *p, *end = url + len, *at, *hs, *he;
	size_t i, n;

	memset(t, 0, sizeof(*t));
	if (len < sizeof(scheme) - 1 || memcmp(url, scheme, sizeof(scheme) - 1))
		return sw_err_set(err, SW_EINPUT, "'%.*s' is not an ssh:// URL (expected ssh://USER@HOST[:PORT])",
				  (int)(len > 200 ? 200 : len), url);
	p = url + sizeof(scheme) - 1;
	if (end > p && end[-1] == '/')
		end--;
	at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		n = (size_t)(at - p);
		if (n == 0 || n >= sizeof(t->user) || p[0] == '-')
			return sw_err_set(err, SW_EINPUT, "ssh URL: user must be 1 to 32 of A-Z a-z 0-9 . _ - (not starting "
							  "with '-')");
		for (i = 0; i < n; i++)
			if (!sw_ssh_alnum(p[i]) && p[i] != '.' && p[i] != '_' && p[i] != '-')
				return sw_err_set(err, SW_EINPUT,
						  "ssh URL: user must be 1 to 32 of A-Z a-z 0-9 . _ - (not starting with '-')");
		memcpy(t->user, p, n);
		p = at + 1;
	}
	if (p < end && *p == '[') {
		hs = p + 1;
		he = memchr(hs, ']', (size_t)(end - hs));
		if (!he || he == hs || (size_t)(he - hs) >= sizeof(t->host))
			return sw_err_set(err, SW_EINPUT, "ssh URL: an IPv6 host is written [ADDRESS], e.g. ssh://root@[::1]");
		for (i = 0; hs + i < he; i++)
			if (!sw_ssh_hex(hs[i]) && hs[i] != ':' && hs[i] != '.')
				return sw_err_set(err, SW_EINPUT, "ssh URL: '%.*s' is not an IPv6 address", (int)(he - hs), hs);
		t->ipv6 = true;
		p = he + 1;
	} else {
		hs = p;
		he = memchr(p, ':', (size_t)(end - p));
		if (!he)
			he = end;
		if (he == hs || (size_t)(he - hs) >= sizeof(t->host) || !sw_ssh_alnum(hs[0]))
			return sw_err_set(err, SW_EINPUT, "ssh URL: missing or bad host (expected ssh://USER@HOST[:PORT])");
		for (i = 0; hs + i < he; i++)
			if (!sw_ssh_alnum(hs[i]) && hs[i] != '.' && hs[i] != '-')
				return sw_err_set(err, SW_EINPUT,
						  "ssh URL: host '%.*s' may hold only A-Z a-z 0-9 . - (or be [IPv6])",
						  (int)(he - hs > 200 ? 200 : he - hs), hs);
		p = he;
	}
	memcpy(t->host, hs, (size_t)(he - hs));
	if (p < end) {
		uint64_t port;

		if (*p != ':' || sw_parse_u64(p + 1, (size_t)(end - p - 1), 1, 65535, &port) < 0)
			return sw_err_set(err, SW_EINPUT, "ssh URL: '%.*s' after the host is not :PORT (1..65535)",
					  (int)(end - p > 100 ? 100 : end - p), p);
		t->port = (unsigned)port;
	}
	return 0;
}

const char *sw_ssh_url(const struct sw_ssh_target *t, char *out, size_t size)
{
	char port[16] = "";

	if (t->port)
		snprintf(port, sizeof(port), ":%u", t->port);
	snprintf(out, size, "ssh://%s%s%s%s%s%s", t->user, t->user[0] ? "@" : "", t->ipv6 ? "[" : "", t->host,
		 t->ipv6 ? "]" : "", port);
	return out;
}

int sw_sh_quote(struct sw_buf *b, const char *s)
{
	sw_buf_putc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			sw_buf_puts(b, "'\\''");
		else
			sw_buf_putc(b, *s);
	}
	return sw_buf_putc(b, '\'');
}

bool sw_ssh_path_ok(const char *p)
{
	size_t n = strlen(p), i;

	if (n < 2 || n > 400 || p[0] != '/')
		return false;
	for (i = 0; i < n; i++)
		if (!sw_ssh_alnum(p[i]) && !strchr("/._+-", p[i]))
			return false;
	/* No ".." component. */
	for (i = 0; i + 1 < n; i++)
		if (p[i] == '.' && p[i + 1] == '.' && (i == 0 || p[i - 1] == '/') && (i + 2 == n || p[i + 2] == '/'))
			return false;
	return true;
}

/* The options every ssh and scp run gets; port_flag is "-p" (ssh) or "-P" (scp). */
static void sw_ssh_common(const struct sw_ssh *s, const char *port_flag, const char **av, size_t *n, char *ct,
			  size_t ct_size, char *port, size_t port_size)
{
	unsigned i;

	snprintf(ct, ct_size, "ConnectTimeout=%u", s->connect_timeout_s ? s->connect_timeout_s : 10);
	av[(*n)++] = "-o";
	av[(*n)++] = "BatchMode=yes";
	av[(*n)++] = "-o";
	av[(*n)++] = ct;
	av[(*n)++] = "-o";
	av[(*n)++] = "LogLevel=ERROR";
	if (s->identity) {
		av[(*n)++] = "-i";
		av[(*n)++] = s->identity;
	}
	if (s->t.port) {
		snprintf(port, port_size, "%u", s->t.port);
		av[(*n)++] = port_flag;
		av[(*n)++] = port;
	}
	for (i = 0; i < s->n_options && i < SW_SSH_MAX_OPTIONS; i++) {
		av[(*n)++] = "-o";
		av[(*n)++] = s->options[i];
	}
}

/* ssh's own failure message: the last non-empty line it wrote to stderr. */
static const char *sw_ssh_last_line(struct sw_buf *e, char *out, size_t size)
{
	const char *text = sw_buf_str(e), *start, *stop = text + e->len;
	size_t n;

	while (stop > text && (stop[-1] == '\n' || stop[-1] == '\r' || stop[-1] == ' '))
		stop--;
	start = stop;
	while (start > text && start[-1] != '\n')
		start--;
	n = (size_t)(stop - start);
	if (n == 0)
		snprintf(out, size, "ssh failed without a message");
	else
		snprintf(out, size, "%.*s", (int)(n >= size ? size - 1 : n), start);
	return out;
}

static int sw_ssh_exec(const struct sw_ssh *s, char *const *av, const void *in, size_t in_len, struct sw_buf *out,
		       struct sw_buf *errout, int *exit_code, struct sw_err *err)
{
	struct sw_buf e = SW_BUF_INIT(SW_SSH_OUT_MAX);
	char url[512], line[512];
	int status = 0, rc;

	rc = sw_proc_run(av, in, in_len, s->timeout_ms > 0 ? s->timeout_ms : 120000, out, &e, &status, err);
	sw_ssh_url(&s->t, url, sizeof(url));
	if (rc < 0) {
		if (err && err->code == SW_ETIMEOUT)
			sw_err_prefix(err, "%s", url);
		sw_buf_release(&e);
		return -1;
	}
	*exit_code = sw_proc_exit_code(status);
	if (*exit_code == 255) {
		sw_err_set(err, SW_EIO, "cannot reach %s: %s", url, sw_ssh_last_line(&e, line, sizeof(line)));
		sw_buf_release(&e);
		return -1;
	}
	if (errout)
		sw_buf_append(errout, e.data ? e.data : "", e.len);
	sw_buf_release(&e);
	return 0;
}

int sw_ssh_run(const struct sw_ssh *s, const char *const *argv, const void *in, size_t in_len, struct sw_buf *out,
	       struct sw_buf *errout, int *exit_code, struct sw_err *err)
{
	struct sw_buf cmd = SW_BUF_INIT((size_t)256 << 10);
	const char *av[SW_SSH_ARGV_MAX];
	char ct[32], port[16];
	size_t n = 0, i;
	int rc;

	*exit_code = -1;
	for (i = 0; argv[i]; i++) {
		if (i)
			sw_buf_putc(&cmd, ' ');
		sw_sh_quote(&cmd, argv[i]);
	}
	if (sw_buf_failed(&cmd)) {
		sw_buf_release(&cmd);
		return sw_err_set(err, SW_EINPUT, "remote command is too long");
	}
	av[n++] = s->ssh_prog ? s->ssh_prog : "ssh";
	av[n++] = "-T";
	av[n++] = "-x";
	av[n++] = "-a";
	sw_ssh_common(s, "-p", av, &n, ct, sizeof(ct), port, sizeof(port));
	if (s->t.user[0]) {
		av[n++] = "-l";
		av[n++] = s->t.user;
	}
	av[n++] = "--";
	av[n++] = s->t.host;
	av[n++] = sw_buf_str(&cmd);
	av[n] = NULL;
	rc = sw_ssh_exec(s, (char *const *)av, in ? in : "", in ? in_len : 0, out, errout, exit_code, err);
	sw_buf_release(&cmd);
	return rc;
}

int sw_ssh_copy(const struct sw_ssh *s, const char *local, const char *remote_path, struct sw_err *err)
{
	struct sw_buf e = SW_BUF_INIT(SW_SSH_OUT_MAX);
	const char *av[SW_SSH_ARGV_MAX];
	char ct[32], port[16], dest[1024];
	size_t n = 0;
	int code = 0;

	if (!sw_ssh_path_ok(remote_path))
		return sw_err_set(err, SW_EINPUT,
				  "remote path '%.200s' must be absolute and hold only A-Z a-z 0-9 / . _ + - (no '..')",
				  remote_path);
	if (sw_snprintf(dest, sizeof(dest), "%s%s%s%s%s:%s", s->t.user, s->t.user[0] ? "@" : "", s->t.ipv6 ? "[" : "",
			s->t.host, s->t.ipv6 ? "]" : "", remote_path) < 0)
		return sw_err_set(err, SW_EINPUT, "remote path '%.200s' is too long", remote_path);
	if (strchr(local, ':') && local[0] != '/')
		return sw_err_set(err, SW_EINPUT, "local path '%.200s' would be read as a remote one", local);
	av[n++] = s->scp_prog ? s->scp_prog : "scp";
	av[n++] = "-q";
	av[n++] = "-p";
	sw_ssh_common(s, "-P", av, &n, ct, sizeof(ct), port, sizeof(port));
	av[n++] = "--";
	av[n++] = local;
	av[n++] = dest;
	av[n] = NULL;
	if (sw_ssh_exec(s, (char *const *)av, NULL, 0, NULL, &e, &code, err) < 0) {
		sw_buf_release(&e);
		return -1;
	}
	if (code != 0) {
		char url[512], line[512];

		sw_err_set(err, SW_EIO, "cannot copy '%s' to %s:%s: %s", local, sw_ssh_url(&s->t, url, sizeof(url)),
			   remote_path, sw_ssh_last_line(&e, line, sizeof(line)));
		sw_buf_release(&e);
		return -1;
	}
	sw_buf_release(&e);
	return 0;
}
