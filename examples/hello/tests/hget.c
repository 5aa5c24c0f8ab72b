/*
 * hget.c - the tiny HTTP client of hello's tests (curl may be missing).
 *
 * usage: hget [-X METHOD] [-t TIMEOUT_MS] [-o BODY_FILE] [-H HEADERS_FILE] [-k N]
 *             HOST PORT PATH
 *
 * Default: one HTTP/1.0 request with "Connection: close"; reads the response
 * until the server closes. -k N: N HTTP/1.1 requests, one after the other, on
 * one kept-alive connection; each response is read by its Content-Length and
 * the server must not close the connection before the last one.
 * Prints each status code on its own line on stdout; the last body goes to
 * BODY_FILE, the last header block to HEADERS_FILE. The whole exchange must
 * finish within the timeout (default 5000 ms).
 * Exit 0 when every response came back (whatever its status), 1 on
 * connection error, timeout or a malformed response, 2 on bad usage.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_RESPONSE (8u << 20)
#define USAGE "usage: hget [-X METHOD] [-t MS] [-o BODY] [-H HEADERS] [-k N] HOST PORT PATH\n"

static long long deadline;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(const char *what, const char *detail)
{
	fprintf(stderr, "hget: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	return 1;
}

/* Waits until fd is ready for `events` or the deadline passes. */
static int wait_fd(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	long long left = deadline - now_ms();

	if (left <= 0)
		return -1;
	return poll(&pfd, 1, (int)left) == 1 ? 0 : -1;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		if (wait_fd(fd, POLLOUT) < 0)
			return fail("send", "timed out");
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return fail("send", strerror(errno));
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
	}
	return 0;
}

struct rbuf {
	char *p;
	size_t len, cap;
};

/* Reads more bytes into b; 1 on end of stream, 0 on data, -1 on error. */
static int recv_more(int fd, struct rbuf *b)
{
	for (;;) {
		if (wait_fd(fd, POLLIN) < 0)
			return fail("receive", "timed out"), -1;
		if (b->len + 1 >= b->cap) {
			if (b->cap >= MAX_RESPONSE)
				return fail("response too large", NULL), -1;
			size_t cap = b->cap ? b->cap * 2 : 65536;
			char *np = realloc(b->p, cap);
			if (!np)
				return fail("out of memory", NULL), -1;
			b->p = np;
			b->cap = cap;
		}
		ssize_t r = recv(fd, b->p + b->len, b->cap - b->len - 1, 0);
		if (r == 0)
			return 1;
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return fail("receive", strerror(errno)), -1;
		}
		b->len += (size_t)r;
		b->p[b->len] = '\0';
		return 0;
	}
}

/* Value of header `name` in the header block [head, head+len), or NULL. */
static const char *header(const char *head, size_t len, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = memchr(head, '\n', len), *end = head + len;

	while (p && p + 1 < end) {
		const char *line = p + 1, *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			eol = end;
		if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = eol;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
				ve--;
			*vlen = (size_t)(ve - v);
			return v;
		}
		p = eol < end ? eol : NULL;
	}
	return NULL;
}

static int write_file(const char *path, const char *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	if (n && fwrite(p, 1, n, f) != n) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

int main(int argc, char **argv)
{
	const char *method = "GET", *body_path = NULL, *head_path = NULL;
	long timeout = 5000, keep = 0;
	int opt;
	char *end;

	while ((opt = getopt(argc, argv, "X:t:o:H:k:")) != -1) {
		switch (opt) {
		case 'X': method = optarg; break;
		case 't':
			timeout = strtol(optarg, &end, 10);
			if (*end || timeout <= 0 || timeout > 600000)
				return fprintf(stderr, "hget: bad timeout '%s'\n", optarg), 2;
			break;
		case 'k':
			keep = strtol(optarg, &end, 10);
			if (*end || keep <= 0 || keep > 10000)
				return fprintf(stderr, "hget: bad count '%s'\n", optarg), 2;
			break;
		case 'o': body_path = optarg; break;
		case 'H': head_path = optarg; break;
		default: return fputs(USAGE, stderr), 2;
		}
	}
	if (argc - optind != 3)
		return fputs(USAGE, stderr), 2;
	const char *host = argv[optind], *port = argv[optind + 1], *path = argv[optind + 2];
	deadline = now_ms() + timeout;

	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0)
		return fail("bad address", gai_strerror(rc));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail("socket", strerror(errno));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
		return fail("connect", strerror(errno));
	freeaddrinfo(ai);
	if (wait_fd(fd, POLLOUT) < 0)
		return fail("connect", "timed out");
	int soerr = 0;
	socklen_t sl = sizeof soerr;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
	if (soerr)
		return fail("connect", strerror(soerr));

	struct rbuf b = { 0 };
	long rounds = keep ? keep : 1;
	for (long i = 0; i < rounds; i++) {
		char req[2048];
		int n = snprintf(req, sizeof req, "%s %s HTTP/1.%s\r\nHost: %s:%s\r\n%sContent-Length: 0\r\n\r\n",
				 method, path, keep ? "1" : "0", host, port, keep ? "" : "Connection: close\r\n");
		if (n < 0 || (size_t)n >= sizeof req)
			return fail("request too long", NULL);
		if (send_all(fd, req, (size_t)n) < 0)
			return 1;

		/* Read the header block (requests are not pipelined: nothing of
		 * the previous response may be left). */
		b.len = 0;
		if (b.p)
			b.p[0] = '\0';
		char *sep = NULL;
		bool eof = false;
		while (!(b.p && (sep = strstr(b.p, "\r\n\r\n")))) {
			int r = recv_more(fd, &b);
			if (r < 0)
				return 1;
			if (r > 0)
				return fail("malformed response", b.len ? "no end of headers" : "connection closed");
		}
		size_t head_len = (size_t)(sep - b.p) + 2, body_off = head_len + 2;
		int status;
		if (strncmp(b.p, "HTTP/1.", 7) != 0 || sscanf(b.p + 9, "%3d", &status) != 1)
			return fail("malformed status line", NULL);
		size_t body_len;
		if (keep) {
			size_t vlen;
			const char *cl = header(b.p, head_len, "Content-Length", &vlen);
			if (!cl)
				return fail("malformed response", "no Content-Length on a kept-alive connection");
			body_len = strtoul(cl, NULL, 10);
			bool is_head = strcmp(method, "HEAD") == 0;
			if (is_head)
				body_len = 0;
			while (b.len - body_off < body_len) {
				int r = recv_more(fd, &b);
				if (r < 0)
					return 1;
				if (r > 0)
					return fail("malformed response", "body cut short");
			}
			if (b.len - body_off > body_len)
				return fail("malformed response", "more bytes than Content-Length");
			const char *conn = header(b.p, head_len, "Connection", &vlen);
			if (i + 1 < rounds && conn && vlen == 5 && strncasecmp(conn, "close", 5) == 0) {
				printf("%d\n", status);
				return fail("keep-alive", "server answered Connection: close");
			}
		} else {
			while (!eof) {
				int r = recv_more(fd, &b);
				if (r < 0)
					return 1;
				eof = r > 0;
			}
			body_len = b.len - body_off;
		}
		printf("%d\n", status);
		if (i + 1 == rounds) {
			if (head_path && write_file(head_path, b.p, head_len) != 0)
				return fail("cannot write", head_path);
			if (body_path && write_file(body_path, b.p + body_off, body_len) != 0)
				return fail("cannot write", body_path);
		}
	}
	close(fd);
	free(b.p);
	return 0;
}
