/*
 * haproxy.c - HAProxy runtime API client (see haproxy.h for the formats).
 *
 * Transport: one non-blocking socket per command; every wait is a poll()
 * bounded by a deadline on the monotonic clock. Parsers walk the answer
 * line by line and field by field with borrowed slices and never read past
 * the length they were given. Owns no memory between calls; row arrays go
 * into the caller's arena, answers into the caller's struct sw_buf.
 * Calls libc, base/ and traffic/traffic.h.
 */
#include "traffic/haproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/mem.h"
#include "base/num.h"

#define CMD_MAX 1024         /* longest command line we send */
#define QUOTE_MAX 240        /* longest piece of an answer quoted in an error */
#define COLUMNS_MAX 4096     /* columns in a header line */

static const struct sw_traffic_ops haproxy_ops;

/* ---- small helpers ---------------------------------------------------- */

static struct sw_haproxy_str mkstr(const char *p, size_t len)
{
	struct sw_haproxy_str s = { p, len };
	return s;
}

int sw_haproxy_str_eq(struct sw_haproxy_str s, const char *z)
{
	size_t n = strlen(z);

	return s.len == n && (n == 0 || memcmp(s.p, z, n) == 0);
}

static bool is_blank(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != '\n' && p[i] != ' ' && p[i] != '\r' && p[i] != '\t')
			return false;
	return true;
}

/*
 * Printable one-line excerpt of text for error messages: control bytes
 * become '?', line breaks and runs of blanks become one space, trailing
 * blanks go, and anything past QUOTE_MAX bytes becomes "...".
 */
static const char *excerpt(const char *p, size_t len, char *out, size_t size)
{
	size_t i, o = 0, limit;
	bool space = false;

	SW_BUG_ON(size < 8);
	/* each step writes at most 2 bytes; "..." and the NUL need 4 more */
	limit = size - 6 < QUOTE_MAX ? size - 6 : QUOTE_MAX;
	for (i = 0; i < len && o < limit; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\n' || c == '\r' || c == ' ' || c == '\t') {
			space = o > 0;
			continue;
		}
		if (space) {
			out[o++] = ' ';
			space = false;
		}
		out[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (i < len && !is_blank(p + i, len - i)) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o] = '\0';
	return out;
}

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == ':';
}

/* HAProxy's own rule for proxy and server names; it also keeps commands unambiguous. */
static int check_name(const char *what, const char *s, struct sw_err *err)
{
	char q[QUOTE_MAX + 8];
	size_t i, len = s ? strlen(s) : 0;

	if (len == 0)
		return sw_err_set(err, SW_EINPUT, "empty haproxy %s name", what);
	if (len > SW_HAPROXY_NAME_MAX)
		return sw_err_set(err, SW_EINPUT, "haproxy %s name '%s' is longer than %d bytes",
				  what, excerpt(s, len, q, sizeof(q)), SW_HAPROXY_NAME_MAX);
	for (i = 0; i < len; i++)
		if (!name_char_ok(s[i]))
			return sw_err_set(err, SW_EINPUT,
					  "bad haproxy %s name '%s': use only letters, digits, '-', '_', '.' and ':'",
					  what, excerpt(s, len, q, sizeof(q)));
	return 0;
}

static int check_server(const char *backend, const char *server, struct sw_err *err)
{
	if (check_name("backend", backend, err) < 0 || check_name("server", server, err) < 0)
		return -1;
	return 0;
}

/* ---- address and transport --------------------------------------------- */

static int parse_ipv4(const char *s, struct sockaddr_in *in)
{
	const char *colon = strrchr(s, ':');
	char host[INET_ADDRSTRLEN];
	uint64_t port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (sw_parse_u64(colon + 1, strlen(colon + 1), 1, 65535, &port) < 0)
		return -1;
	memset(in, 0, sizeof(*in));
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
		return -1;
	return 0;
}

int sw_haproxy_init(struct sw_haproxy *h, const char *addr, struct sw_err *err)
{
	const char *path;

	memset(h, 0, sizeof(*h));
	h->traffic.ops = &haproxy_ops;
	h->connect_timeout_ms = SW_HAPROXY_TIMEOUT_MS;
	h->timeout_ms = SW_HAPROXY_TIMEOUT_MS;
	h->max_response = SW_HAPROXY_RESPONSE_MAX;
	if (!addr || !*addr)
		return sw_err_set(err, SW_EINPUT, "empty haproxy socket address");
	if (sw_strlcpy(h->addr, addr, sizeof(h->addr)) < 0)
		return sw_err_set(err, SW_EINPUT, "haproxy socket address '%.64s...' is longer than %d bytes",
				  addr, SW_HAPROXY_ADDR_MAX - 1);
	if (strncmp(addr, "ipv4@", 5) == 0) {
		if (parse_ipv4(addr + 5, &h->sa.in) < 0)
			return sw_err_set(err, SW_EINPUT, "bad haproxy socket address '%s': expected ipv4@<a.b.c.d>:<port>",
					  addr);
		h->family = AF_INET;
		h->salen = sizeof(h->sa.in);
		return 0;
	}
	if (strchr(addr, '@') && strncmp(addr, "unix@", 5) != 0)
		return sw_err_set(err, SW_EINPUT,
				  "unsupported haproxy socket address '%s': use a path, unix@<path> or ipv4@<a.b.c.d>:<port>",
				  addr);
	if (!strchr(addr, '/') && strchr(addr, ':') && addr[0] >= '0' && addr[0] <= '9') {
		/* "127.0.0.1:9999": a digit first and a colon, no slash */
		if (parse_ipv4(addr, &h->sa.in) < 0)
			return sw_err_set(err, SW_EINPUT, "bad haproxy socket address '%s': expected <a.b.c.d>:<port>",
					  addr);
		h->family = AF_INET;
		h->salen = sizeof(h->sa.in);
		return 0;
	}
	path = strncmp(addr, "unix@", 5) == 0 ? addr + 5 : addr;
	if (!*path)
		return sw_err_set(err, SW_EINPUT, "bad haproxy socket address '%s': empty path", addr);
	h->family = AF_UNIX;
	h->sa.un.sun_family = AF_UNIX;
	if (sw_strlcpy(h->sa.un.sun_path, path, sizeof(h->sa.un.sun_path)) < 0)
		return sw_err_set(err, SW_EINPUT, "haproxy socket path '%s' is longer than %zu bytes", path,
				  sizeof(h->sa.un.sun_path) - 1);
	h->salen = (socklen_t)sizeof(h->sa.un);
	return 0;
}

/* Wait for events on fd until deadline: 1 ready, 0 timed out, -1 error (errno). */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = sw_clock_mono_ms();
		struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
		uint64_t left;
		int r;

		if (now >= deadline)
			return 0;
		left = deadline - now;
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 1; /* POLLERR/POLLHUP too: the next read or write reports them */
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static int hap_connect(struct sw_haproxy *h, struct sw_err *err)
{
	uint64_t deadline = sw_clock_mono_ms() + h->connect_timeout_ms;
	int fd, e, soerr = 0;
	socklen_t sl = sizeof(soerr);

	fd = socket(h->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sw_err_set(err, SW_EIO, "cannot connect to haproxy at '%s': %s", h->addr, strerror(errno));
	for (;;) {
		if (connect(fd, (const struct sockaddr *)&h->sa, h->salen) == 0)
			return fd;
		e = errno;
		if (e == EINPROGRESS || e == EINTR)
			break;
		if (e == EAGAIN && h->family == AF_UNIX) {
			/* listen backlog full: retry until the deadline */
			if (sw_clock_mono_ms() >= deadline)
				goto timeout;
			poll(NULL, 0, 5);
			continue;
		}
		close(fd);
		return sw_err_set(err, SW_EIO, "cannot connect to haproxy at '%s': %s", h->addr, strerror(e));
	}
	e = wait_fd(fd, POLLOUT, deadline);
	if (e == 0)
		goto timeout;
	if (e < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
		e = errno;
		close(fd);
		return sw_err_set(err, SW_EIO, "cannot connect to haproxy at '%s': %s", h->addr, strerror(e));
	}
	if (soerr) {
		close(fd);
		return sw_err_set(err, SW_EIO, "cannot connect to haproxy at '%s': %s", h->addr, strerror(soerr));
	}
	return fd;
timeout:
	close(fd);
	return sw_err_set(err, SW_ETIMEOUT, "cannot connect to haproxy at '%s': no answer within %u ms",
			  h->addr, h->connect_timeout_ms);
}

int sw_haproxy_command(struct sw_haproxy *h, const char *cmd, struct sw_buf *out, struct sw_err *err)
{
	char line[CMD_MAX + 2], chunk[16384];
	size_t len = strlen(cmd), sent = 0, start = out->len;
	uint64_t deadline;
	int fd, r;

	if (len == 0 || len > CMD_MAX || strpbrk(cmd, "\n\r;"))
		return sw_err_set(err, SW_EINPUT, "bad haproxy command '%.80s': empty, too long, or holds a newline or ';'",
				  cmd);
	memcpy(line, cmd, len);
	line[len++] = '\n';
	fd = hap_connect(h, err);
	if (fd < 0)
		return -1;
	deadline = sw_clock_mono_ms() + h->timeout_ms;
	while (sent < len) {
		ssize_t w = send(fd, line + sent, len - sent, MSG_NOSIGNAL);

		if (w >= 0) {
			sent += (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			goto io_error;
		r = wait_fd(fd, POLLOUT, deadline);
		if (r == 0)
			goto timeout;
		if (r < 0)
			goto io_error;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n == 0)
			break;
		if (n > 0) {
			if ((size_t)n > h->max_response - (out->len - start) || sw_buf_append(out, chunk, (size_t)n) < 0) {
				close(fd);
				sw_buf_truncate(out, start);
				return sw_err_set(err, SW_EIO, "answer of haproxy at '%s' to '%s' is larger than %zu bytes",
						  h->addr, cmd, h->max_response);
			}
			if (sw_clock_mono_ms() >= deadline)
				goto timeout; /* a peer that never stops talking */
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			goto io_error;
		r = wait_fd(fd, POLLIN, deadline);
		if (r == 0)
			goto timeout;
		if (r < 0)
			goto io_error;
	}
	close(fd);
	return 0;
io_error:
	r = errno;
	close(fd);
	sw_buf_truncate(out, start);
	return sw_err_set(err, SW_EIO, "cannot talk to haproxy at '%s' ('%s'): %s", h->addr, cmd, strerror(r));
timeout:
	close(fd);
	sw_buf_truncate(out, start);
	return sw_err_set(err, SW_ETIMEOUT, "haproxy at '%s' did not answer '%s' within %u ms", h->addr, cmd,
			  h->timeout_ms);
}

static int refused(struct sw_haproxy *h, const char *cmd, const char *p, size_t len, struct sw_err *err)
{
	char q[QUOTE_MAX + 8];

	return sw_err_set(err, SW_EFAILED, "haproxy at '%s' refused '%s': '%s'", h->addr, cmd,
			  excerpt(p, len, q, sizeof(q)));
}

int sw_haproxy_exec(struct sw_haproxy *h, const char *cmd, struct sw_err *err)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	int rc = -1;

	if (sw_haproxy_command(h, cmd, &b, err) < 0)
		goto out;
	if (!is_blank(b.data ? b.data : "", b.len)) {
		refused(h, cmd, b.data, b.len, err);
		goto out;
	}
	rc = 0;
out:
	sw_buf_release(&b);
	return rc;
}

/* ---- commands ---------------------------------------------------------- */

int sw_haproxy_set_weight(struct sw_haproxy *h, const char *backend, const char *server,
			  unsigned weight, struct sw_err *err)
{
	char cmd[CMD_MAX];

	if (check_server(backend, server, err) < 0)
		return -1;
	if (weight > SW_TRAFFIC_WEIGHT_MAX)
		return sw_err_set(err, SW_EINPUT, "weight %u of '%s/%s' is out of range 0..%u", weight, backend,
				  server, SW_TRAFFIC_WEIGHT_MAX);
	snprintf(cmd, sizeof(cmd), "set server %s/%s weight %u", backend, server, weight);
	return sw_haproxy_exec(h, cmd, err);
}

int sw_haproxy_set_state(struct sw_haproxy *h, const char *backend, const char *server,
			 enum sw_traffic_state state, struct sw_err *err)
{
	char cmd[CMD_MAX];

	if (check_server(backend, server, err) < 0)
		return -1;
	if ((unsigned)state > SW_TRAFFIC_MAINT)
		return sw_err_set(err, SW_EINPUT, "bad server state %d for '%s/%s'", (int)state, backend, server);
	snprintf(cmd, sizeof(cmd), "set server %s/%s state %s", backend, server, sw_traffic_state_name(state));
	return sw_haproxy_exec(h, cmd, err);
}

int sw_haproxy_get_weight(struct sw_haproxy *h, const char *backend, const char *server,
			  unsigned *current, unsigned *initial, struct sw_err *err)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	char cmd[CMD_MAX];
	int rc = -1;

	if (check_server(backend, server, err) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "get weight %s/%s", backend, server);
	if (sw_haproxy_command(h, cmd, &b, err) < 0)
		goto out;
	if (b.len == 0 || b.data[0] < '0' || b.data[0] > '9') {
		refused(h, cmd, b.data, b.len, err);
		goto out;
	}
	if (sw_haproxy_parse_weight(b.data, b.len, current, initial, err) < 0) {
		sw_err_prefix(err, "bad answer of haproxy at '%s' to '%s'", h->addr, cmd);
		goto out;
	}
	rc = 0;
out:
	sw_buf_release(&b);
	return rc;
}

int sw_haproxy_servers_state(struct sw_haproxy *h, const char *backend, struct sw_buf *resp,
			     struct sw_arena *a, struct sw_haproxy_srv_state **rows, size_t *n,
			     struct sw_err *err)
{
	char cmd[CMD_MAX];
	size_t start = resp->len;

	if (backend) {
		if (check_name("backend", backend, err) < 0)
			return -1;
		snprintf(cmd, sizeof(cmd), "show servers state %s", backend);
	} else {
		snprintf(cmd, sizeof(cmd), "show servers state");
	}
	if (sw_haproxy_command(h, cmd, resp, err) < 0)
		return -1;
	if (resp->len == start || resp->data[start] < '0' || resp->data[start] > '9')
		return refused(h, cmd, resp->data + start, resp->len - start, err);
	if (sw_haproxy_parse_servers_state(resp->data + start, resp->len - start, a, rows, n, err) < 0) {
		sw_err_prefix(err, "bad answer of haproxy at '%s' to '%s'", h->addr, cmd);
		return -1;
	}
	return 0;
}

int sw_haproxy_show_stat(struct sw_haproxy *h, const char *backend, struct sw_buf *resp,
			 struct sw_arena *a, struct sw_haproxy_stat **rows, size_t *n,
			 struct sw_err *err)
{
	char cmd[CMD_MAX];
	size_t start = resp->len, i;
	bool message = true;

	if (backend) {
		if (check_name("backend", backend, err) < 0)
			return -1;
		snprintf(cmd, sizeof(cmd), "show stat %s -1 -1", backend);
	} else {
		snprintf(cmd, sizeof(cmd), "show stat");
	}
	if (sw_haproxy_command(h, cmd, resp, err) < 0)
		return -1;
	/*
	 * An error is text ("No such proxy.", "Unknown command, but ..."); the
	 * CSV starts with "# " or, if its header were lost, with a row of
	 * commas without ", " (which the parser then reports).
	 */
	if (resp->len - start >= 2 && resp->data[start] == '#' && resp->data[start + 1] == ' ') {
		message = false;
	} else {
		bool comma = false, prose = false;

		for (i = start; i < resp->len && resp->data[i] != '\n'; i++) {
			comma |= resp->data[i] == ',';
			prose |= resp->data[i] == ',' && i + 1 < resp->len && resp->data[i + 1] == ' ';
		}
		message = !comma || prose;
	}
	if (resp->len == start || message)
		return refused(h, cmd, resp->data + start, resp->len - start, err);
	if (sw_haproxy_parse_stat(resp->data + start, resp->len - start, a, rows, n, err) < 0) {
		sw_err_prefix(err, "bad answer of haproxy at '%s' to '%s'", h->addr, cmd);
		return -1;
	}
	return 0;
}

int sw_haproxy_set_weights(struct sw_haproxy *h, const char *backend,
			   const struct sw_traffic_weight *w, size_t n, size_t *bad, struct sw_err *err)
{
	struct sw_buf resp = SW_BUF_INIT(SW_BUF_UNLIMITED), msg = SW_BUF_INIT(SW_ERR_MSG_MAX);
	struct sw_haproxy_srv_state *rows = NULL;
	struct sw_arena a;
	size_t i, j, nrows = 0, first_bad = SIZE_MAX;
	int rc = -1;

	sw_arena_init(&a);
	if (bad)
		*bad = SIZE_MAX;
	if (check_name("backend", backend, err) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (check_name("server", w[i].server, err) < 0)
			goto out;
		if (w[i].weight > SW_TRAFFIC_WEIGHT_MAX) {
			sw_err_set(err, SW_EINPUT, "weight %u of '%s/%s' is out of range 0..%u", w[i].weight,
				   backend, w[i].server, SW_TRAFFIC_WEIGHT_MAX);
			goto out;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(w[i].server, w[j].server) == 0) {
				sw_err_set(err, SW_EINPUT, "server '%s/%s' is given two weights", backend, w[i].server);
				goto out;
			}
		}
	}
	if (n == 0) {
		rc = 0;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (sw_haproxy_set_weight(h, backend, w[i].server, w[i].weight, err) < 0) {
			if (bad)
				*bad = i;
			goto out;
		}
	}
	if (sw_haproxy_servers_state(h, backend, &resp, &a, &rows, &nrows, err) < 0) {
		sw_err_prefix(err, "cannot read back the weights of backend '%s'", backend);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct sw_haproxy_srv_state *row = NULL;

		for (j = 0; j < nrows && !row; j++)
			if (sw_haproxy_str_eq(rows[j].name, w[i].server) && sw_haproxy_str_eq(rows[j].backend, backend))
				row = &rows[j];
		if (row && row->weight == (int64_t)w[i].weight)
			continue;
		if (first_bad == SIZE_MAX)
			first_bad = i;
		if (!row)
			sw_buf_printf(&msg, "%s'%s' is not listed", msg.len ? ", " : "", w[i].server);
		else
			sw_buf_printf(&msg, "%s'%s' has %lld (asked %u)", msg.len ? ", " : "", w[i].server,
				      (long long)row->weight, w[i].weight);
	}
	if (first_bad != SIZE_MAX) {
		if (bad)
			*bad = first_bad;
		sw_err_set(err, SW_EFAILED, "haproxy at '%s' did not keep the weights of backend '%s': %s%s",
			   h->addr, backend, sw_buf_str(&msg), sw_buf_failed(&msg) ? "..." : "");
		goto out;
	}
	rc = 0;
out:
	sw_arena_release(&a);
	sw_buf_release(&resp);
	sw_buf_release(&msg);
	return rc;
}

/* ---- parsers ----------------------------------------------------------- */

/* Lines of an answer. */
struct lines {
	const char *p;
	size_t len, off;
	unsigned long lineno;
};

/* Next '\n'-terminated line (without it): 1, or 0 at the end, or -1 if the rest lacks a '\n'. */
static int next_line(struct lines *l, struct sw_haproxy_str *line)
{
	const char *nl;

	if (l->off >= l->len)
		return 0;
	nl = memchr(l->p + l->off, '\n', l->len - l->off);
	if (!nl)
		return -1;
	*line = mkstr(l->p + l->off, (size_t)(nl - (l->p + l->off)));
	l->off = (size_t)(nl - l->p) + 1;
	l->lineno++;
	return 1;
}

/* Fields of one line, separated by sep; with csv, "..." quotes a field ("" is a quote). */
struct fields {
	struct sw_haproxy_str line;
	size_t off;
	bool done, csv;
	char sep;
};

static void fields_init(struct fields *f, struct sw_haproxy_str line, char sep, bool csv)
{
	f->line = line;
	f->off = 0;
	f->done = false;
	f->csv = csv;
	f->sep = sep;
}

/* 1 and the next field, 0 after the last one, -1 on a badly quoted field. */
static int next_field(struct fields *f, struct sw_haproxy_str *out)
{
	const char *p = f->line.p;
	size_t len = f->line.len, i = f->off;

	if (f->done)
		return 0;
	if (f->csv && i < len && p[i] == '"') {
		size_t start = ++i;

		for (;;) {
			if (i >= len)
				return -1; /* no closing quote */
			if (p[i] == '"') {
				if (i + 1 < len && p[i + 1] == '"') {
					i += 2;
					continue;
				}
				break;
			}
			i++;
		}
		*out = mkstr(p + start, i - start);
		i++; /* the closing quote */
		if (i == len) {
			f->done = true;
		} else if (p[i] == f->sep) {
			f->off = i + 1;
		} else {
			return -1;
		}
		return 1;
	}
	{
		const char *s = memchr(p + i, f->sep, len - i);

		if (!s) {
			*out = mkstr(p + i, len - i);
			f->done = true;
		} else {
			*out = mkstr(p + i, (size_t)(s - (p + i)));
			f->off = (size_t)(s - p) + 1;
		}
	}
	return 1;
}

enum col_kind { COL_STR, COL_NUM };

struct col_def {
	const char *name;
	enum col_kind kind;
	size_t off;
	bool required;
};

static const struct col_def srv_state_cols[] = {
	{ "be_id", COL_NUM, offsetof(struct sw_haproxy_srv_state, backend_id), false },
	{ "be_name", COL_STR, offsetof(struct sw_haproxy_srv_state, backend), true },
	{ "srv_id", COL_NUM, offsetof(struct sw_haproxy_srv_state, id), false },
	{ "srv_name", COL_STR, offsetof(struct sw_haproxy_srv_state, name), true },
	{ "srv_addr", COL_STR, offsetof(struct sw_haproxy_srv_state, addr), false },
	{ "srv_port", COL_NUM, offsetof(struct sw_haproxy_srv_state, port), false },
	{ "srv_op_state", COL_NUM, offsetof(struct sw_haproxy_srv_state, op_state), true },
	{ "srv_admin_state", COL_NUM, offsetof(struct sw_haproxy_srv_state, admin_state), true },
	{ "srv_uweight", COL_NUM, offsetof(struct sw_haproxy_srv_state, weight), true },
	{ "srv_iweight", COL_NUM, offsetof(struct sw_haproxy_srv_state, initial_weight), true },
	{ "srv_check_status", COL_NUM, offsetof(struct sw_haproxy_srv_state, check_status), false },
	{ "srv_check_result", COL_NUM, offsetof(struct sw_haproxy_srv_state, check_result), false },
	{ "srv_check_health", COL_NUM, offsetof(struct sw_haproxy_srv_state, check_health), false },
	{ "srv_check_state", COL_NUM, offsetof(struct sw_haproxy_srv_state, check_state), false },
};

#define TS(f) { #f, COL_STR, offsetof(struct sw_haproxy_stat, f), false }
#define TN(f) { #f, COL_NUM, offsetof(struct sw_haproxy_stat, f), false }
static const struct col_def stat_cols[] = {
	{ "pxname", COL_STR, offsetof(struct sw_haproxy_stat, pxname), true },
	{ "svname", COL_STR, offsetof(struct sw_haproxy_stat, svname), true },
	TS(status), TS(check_status), TS(addr), TS(mode), TS(algo),
	TN(type), TN(iid), TN(sid), TN(weight), TN(uweight), TN(act), TN(bck),
	TN(qcur), TN(qmax), TN(scur), TN(smax), TN(slim), TN(stot), TN(lbtot), TN(bin), TN(bout),
	TN(ereq), TN(econ), TN(eresp), TN(wretr), TN(wredis), TN(cli_abrt), TN(srv_abrt),
	TN(chkfail), TN(chkdown), TN(lastchg), TN(downtime), TN(check_code), TN(check_duration),
	TN(hrsp_1xx), TN(hrsp_2xx), TN(hrsp_3xx), TN(hrsp_4xx), TN(hrsp_5xx), TN(hrsp_other),
	TN(req_tot), TN(rate), TN(qtime), TN(ctime), TN(rtime), TN(ttime),
};
#undef TS
#undef TN

/* A row format: which columns to know, how big a row is. */
struct row_format {
	const char *what;
	const struct col_def *cols;
	size_t ncols;
	size_t row_size;
	char sep;
	bool csv;
};

static const struct row_format srv_state_format = {
	"servers state",
	srv_state_cols,
	SW_ARRAY_LEN(srv_state_cols),
	sizeof(struct sw_haproxy_srv_state),
	' ',
	false,
};

static const struct row_format stat_format = {
	"stat",
	stat_cols,
	SW_ARRAY_LEN(stat_cols),
	sizeof(struct sw_haproxy_stat),
	',',
	true,
};

static const struct col_def *find_col(const struct row_format *fmt, struct sw_haproxy_str name)
{
	size_t i;

	for (i = 0; i < fmt->ncols; i++)
		if (sw_haproxy_str_eq(name, fmt->cols[i].name))
			return &fmt->cols[i];
	return NULL;
}

static void row_defaults(const struct row_format *fmt, void *row)
{
	size_t i;

	for (i = 0; i < fmt->ncols; i++) {
		const struct col_def *c = &fmt->cols[i];
		char *at = (char *)row + c->off;

		if (c->kind == COL_NUM)
			*(int64_t *)(void *)at = SW_HAPROXY_NONE;
		else
			*(struct sw_haproxy_str *)(void *)at = mkstr("", 0);
	}
}

/*
 * Shared body of both table parsers: l is positioned after any preamble and
 * the next line is the header ("# a b c" or "# a,b,c,"). Rows run to the
 * final empty line, which must also end the answer.
 */
static int parse_table(const struct row_format *fmt, struct lines *l, struct sw_arena *a,
		       void **rows_out, size_t *n_out, struct sw_err *err)
{
	char q[QUOTE_MAX + 8];
	struct sw_haproxy_str line, f;
	const struct col_def **map;
	struct fields fi;
	struct lines scan;
	size_t ncols = 0, nrows = 0, i, r;
	unsigned long header_line;
	char *rows;
	int k;

	k = next_line(l, &line);
	if (k <= 0)
		return sw_err_set(err, SW_EIO, "%s: no header line", fmt->what);
	header_line = l->lineno;
	if (line.len < 2 || line.p[0] != '#' || line.p[1] != ' ')
		return sw_err_set(err, SW_EIO, "line %lu: expected a header line '# ...', got '%s'", l->lineno,
				  excerpt(line.p, line.len, q, sizeof(q)));
	line.p += 2;
	line.len -= 2;
	fields_init(&fi, line, fmt->sep, fmt->csv);
	while ((k = next_field(&fi, &f)) > 0)
		ncols++;
	if (k < 0)
		return sw_err_set(err, SW_EIO, "line %lu: bad quoting in the header", l->lineno);
	if (ncols > COLUMNS_MAX)
		return sw_err_set(err, SW_EIO, "line %lu: more than %d columns", l->lineno, COLUMNS_MAX);
	map = sw_arena_allocarray(a, ncols, sizeof(*map));
	fields_init(&fi, line, fmt->sep, fmt->csv);
	for (i = 0; next_field(&fi, &f) > 0; i++) {
		const struct col_def *c = find_col(fmt, f);
		size_t j;

		for (j = 0; c && j < i; j++)
			if (map[j] == c)
				c = NULL; /* a repeated name: the first one counts */
		map[i] = c;
	}
	for (r = 0; r < fmt->ncols; r++) {
		const struct col_def *c = &fmt->cols[r];
		bool found = false;

		for (i = 0; i < ncols && !found; i++)
			found = map[i] == c;
		if (c->required && !found)
			return sw_err_set(err, SW_EIO, "line %lu: the header has no column '%s'", header_line,
					  c->name);
	}

	/* Count the rows up to the final empty line, which must end the answer. */
	scan = *l;
	for (;;) {
		k = next_line(&scan, &line);
		if (k < 0)
			return sw_err_set(err, SW_EIO, "line %lu: truncated answer: the last line has no newline",
					  scan.lineno + 1);
		if (k == 0)
			return sw_err_set(err, SW_EIO, "truncated answer: no final empty line after line %lu",
					  scan.lineno);
		if (line.len == 0)
			break;
		if (++nrows > SW_HAPROXY_ROWS_MAX)
			return sw_err_set(err, SW_EIO, "more than %d rows", SW_HAPROXY_ROWS_MAX);
	}
	if (scan.off != scan.len)
		return sw_err_set(err, SW_EIO, "line %lu: data after the final empty line", scan.lineno + 1);

	rows = nrows ? sw_arena_allocarray(a, nrows, fmt->row_size) : NULL;
	for (r = 0; r < nrows; r++) {
		void *row = rows + r * fmt->row_size;

		k = next_line(l, &line);
		SW_BUG_ON(k <= 0);
		/* the field count first: a lost field then reads as such, not as a shifted value */
		fields_init(&fi, line, fmt->sep, fmt->csv);
		i = 0;
		while ((k = next_field(&fi, &f)) > 0)
			i++;
		if (k < 0)
			return sw_err_set(err, SW_EIO, "line %lu: bad quoting", l->lineno);
		if (i != ncols)
			return sw_err_set(err, SW_EIO, "line %lu: %zu fields, the header has %zu", l->lineno, i,
					  ncols);
		row_defaults(fmt, row);
		fields_init(&fi, line, fmt->sep, fmt->csv);
		for (i = 0; next_field(&fi, &f) > 0; i++) {
			const struct col_def *c = map[i];
			char *at;

			if (!c)
				continue;
			at = (char *)row + c->off;
			if (c->kind == COL_STR) {
				*(struct sw_haproxy_str *)(void *)at = f;
				continue;
			}
			if (f.len == 0 || (f.len == 1 && f.p[0] == '-')) {
				if (c->required)
					return sw_err_set(err, SW_EIO, "line %lu: column '%s' is empty", l->lineno,
							  c->name);
				continue;
			}
			if (sw_parse_i64(f.p, f.len, INT64_MIN, INT64_MAX, (int64_t *)(void *)at) < 0)
				return sw_err_set(err, SW_EIO, "line %lu: column '%s' is not a number: '%s'",
						  l->lineno, c->name, excerpt(f.p, f.len, q, sizeof(q)));
		}
	}
	*rows_out = rows;
	*n_out = nrows;
	return 0;
}

int sw_haproxy_parse_servers_state(const char *p, size_t len, struct sw_arena *a,
				   struct sw_haproxy_srv_state **rows, size_t *n, struct sw_err *err)
{
	char q[QUOTE_MAX + 8];
	struct lines l = { p, len, 0, 0 };
	struct sw_haproxy_str line;
	void *out = NULL;
	size_t i, count = 0;
	int k;

	*rows = NULL;
	*n = 0;
	k = next_line(&l, &line);
	if (k == 0 || (k < 0 && len == 0))
		return sw_err_set(err, SW_EIO, "empty answer");
	if (k < 0)
		return sw_err_set(err, SW_EIO, "line 1: truncated answer: the last line has no newline");
	if (!sw_haproxy_str_eq(line, "1")) {
		for (i = 0; i < line.len; i++)
			if (line.p[i] < '0' || line.p[i] > '9')
				return sw_err_set(err, SW_EIO, "line 1: expected the format version, got '%s'",
						  excerpt(line.p, line.len, q, sizeof(q)));
		return sw_err_set(err, SW_EIO, "line 1: unsupported servers state format version '%s' (known: 1)",
				  excerpt(line.p, line.len, q, sizeof(q)));
	}
	if (parse_table(&srv_state_format, &l, a, &out, &count, err) < 0)
		return -1;
	*rows = out;
	*n = count;
	return 0;
}

int sw_haproxy_parse_stat(const char *p, size_t len, struct sw_arena *a,
			  struct sw_haproxy_stat **rows, size_t *n, struct sw_err *err)
{
	struct lines l = { p, len, 0, 0 };
	void *out = NULL;
	size_t count = 0;

	*rows = NULL;
	*n = 0;
	if (len == 0)
		return sw_err_set(err, SW_EIO, "empty answer");
	if (parse_table(&stat_format, &l, a, &out, &count, err) < 0)
		return -1;
	*rows = out;
	*n = count;
	return 0;
}

int sw_haproxy_parse_weight(const char *p, size_t len, unsigned *current, unsigned *initial,
			    struct sw_err *err)
{
	char q[QUOTE_MAX + 8];
	size_t i = 0, s;
	uint64_t cur, ini;

	s = i;
	while (i < len && p[i] >= '0' && p[i] <= '9')
		i++;
	if (sw_parse_u64(p + s, i - s, 0, SW_TRAFFIC_WEIGHT_MAX, &cur) < 0)
		goto bad;
	if (len - i < 2 || p[i] != ' ' || p[i + 1] != '(')
		goto bad;
	i += 2;
	if (len - i >= 8 && memcmp(p + i, "initial ", 8) == 0)
		i += 8;
	s = i;
	while (i < len && p[i] >= '0' && p[i] <= '9')
		i++;
	if (sw_parse_u64(p + s, i - s, 0, SW_TRAFFIC_WEIGHT_MAX, &ini) < 0)
		goto bad;
	if (i >= len || p[i] != ')' || !is_blank(p + i + 1, len - i - 1))
		goto bad;
	*current = (unsigned)cur;
	*initial = (unsigned)ini;
	return 0;
bad:
	return sw_err_set(err, SW_EIO, "expected '<weight> (initial <weight>)', got '%s'",
			  excerpt(p, len, q, sizeof(q)));
}

enum sw_traffic_state sw_haproxy_admin_state(int64_t admin_state)
{
	if (admin_state < 0)
		return SW_TRAFFIC_READY;
	if ((uint64_t)admin_state & SW_HAPROXY_ADMIN_MAINT_MASK)
		return SW_TRAFFIC_MAINT;
	if ((uint64_t)admin_state & SW_HAPROXY_ADMIN_DRAIN_MASK)
		return SW_TRAFFIC_DRAIN;
	return SW_TRAFFIC_READY;
}

enum sw_traffic_health sw_haproxy_health(int64_t op_state)
{
	switch (op_state) {
	case 0:
		return SW_TRAFFIC_HEALTH_DOWN;
	case 1:
		return SW_TRAFFIC_HEALTH_STARTING;
	case 2:
		return SW_TRAFFIC_HEALTH_UP;
	case 3:
		return SW_TRAFFIC_HEALTH_STOPPING;
	default:
		return SW_TRAFFIC_HEALTH_UNKNOWN;
	}
}

/* ---- struct sw_traffic_ops for HAProxy ----------------------------------- */

static struct sw_haproxy *of(struct sw_traffic *t)
{
	SW_BUG_ON(t->ops != &haproxy_ops);
	return (struct sw_haproxy *)(void *)t; /* traffic is the first member */
}

static const char *dup_str(struct sw_arena *a, struct sw_haproxy_str s)
{
	return sw_arena_strndup(a, s.p, s.len);
}

static int op_set_weight(struct sw_traffic *t, const char *backend, const char *server, unsigned weight,
			 struct sw_err *err)
{
	return sw_haproxy_set_weight(of(t), backend, server, weight, err);
}

static int op_set_weights(struct sw_traffic *t, const char *backend, const struct sw_traffic_weight *w,
			  size_t n, size_t *bad, struct sw_err *err)
{
	return sw_haproxy_set_weights(of(t), backend, w, n, bad, err);
}

static int op_set_state(struct sw_traffic *t, const char *backend, const char *server,
			enum sw_traffic_state state, struct sw_err *err)
{
	return sw_haproxy_set_state(of(t), backend, server, state, err);
}

static int op_servers(struct sw_traffic *t, const char *backend, struct sw_arena *a,
		      struct sw_traffic_server **out, size_t *n, struct sw_err *err)
{
	struct sw_buf resp = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_haproxy_srv_state *rows = NULL;
	struct sw_traffic_server *res;
	struct sw_arena tmp;
	size_t nrows = 0, i, k = 0;
	int rc = -1;

	sw_arena_init(&tmp);
	*out = NULL;
	*n = 0;
	if (check_name("backend", backend, err) < 0)
		goto out;
	if (sw_haproxy_servers_state(of(t), backend, &resp, &tmp, &rows, &nrows, err) < 0)
		goto out;
	res = nrows ? sw_arena_allocarray(a, nrows, sizeof(*res)) : NULL;
	for (i = 0; i < nrows; i++) {
		const struct sw_haproxy_srv_state *r = &rows[i];
		struct sw_traffic_server *s;

		if (!sw_haproxy_str_eq(r->backend, backend))
			continue;
		s = &res[k++];
		s->name = dup_str(a, r->name);
		if (r->port > 0)
			s->addr = sw_arena_printf(a, "%.*s:%lld", (int)r->addr.len, r->addr.p, (long long)r->port);
		else
			s->addr = dup_str(a, r->addr);
		s->weight = r->weight < 0 ? 0 : (unsigned)r->weight;
		s->initial_weight = r->initial_weight < 0 ? 0 : (unsigned)r->initial_weight;
		s->state = sw_haproxy_admin_state(r->admin_state);
		s->health = sw_haproxy_health(r->op_state);
		s->checked = r->check_state >= 0 && (r->check_state & 0x02) != 0;
	}
	*out = res;
	*n = k;
	rc = 0;
out:
	sw_arena_release(&tmp);
	sw_buf_release(&resp);
	return rc;
}

static int op_stats(struct sw_traffic *t, const char *backend, struct sw_arena *a,
		    struct sw_traffic_stats **out, size_t *n, struct sw_err *err)
{
	struct sw_buf resp = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_haproxy_stat *rows = NULL;
	struct sw_traffic_stats *res;
	struct sw_arena tmp;
	size_t nrows = 0, i, k = 0;
	int rc = -1;

	sw_arena_init(&tmp);
	*out = NULL;
	*n = 0;
	if (check_name("backend", backend, err) < 0)
		goto out;
	if (sw_haproxy_show_stat(of(t), backend, &resp, &tmp, &rows, &nrows, err) < 0)
		goto out;
	res = nrows ? sw_arena_allocarray(a, nrows, sizeof(*res)) : NULL;
	for (i = 0; i < nrows; i++) {
		const struct sw_haproxy_stat *r = &rows[i];
		struct sw_haproxy_str cs = r->check_status;
		struct sw_traffic_stats *s;

		if (r->type != 2 || !sw_haproxy_str_eq(r->pxname, backend))
			continue;
		if (cs.len >= 2 && cs.p[0] == '*' && cs.p[1] == ' ') {
			cs.p += 2; /* "* L4OK": a check is running right now */
			cs.len -= 2;
		}
		s = &res[k++];
		s->name = dup_str(a, r->svname);
		s->status = dup_str(a, r->status);
		s->check_status = dup_str(a, cs);
		s->weight = r->weight;
		s->scur = r->scur;
		s->stot = r->stot;
		s->hrsp_1xx = r->hrsp_1xx;
		s->hrsp_2xx = r->hrsp_2xx;
		s->hrsp_3xx = r->hrsp_3xx;
		s->hrsp_4xx = r->hrsp_4xx;
		s->hrsp_5xx = r->hrsp_5xx;
		s->hrsp_other = r->hrsp_other;
		s->econ = r->econ;
		s->eresp = r->eresp;
		s->qtime = r->qtime;
		s->ctime = r->ctime;
		s->rtime = r->rtime;
		s->ttime = r->ttime;
	}
	*out = res;
	*n = k;
	rc = 0;
out:
	sw_arena_release(&tmp);
	sw_buf_release(&resp);
	return rc;
}

static const struct sw_traffic_ops haproxy_ops = {
	.name = "haproxy",
	.set_weight = op_set_weight,
	.set_weights = op_set_weights,
	.set_state = op_set_state,
	.servers = op_servers,
	.stats = op_stats,
};
