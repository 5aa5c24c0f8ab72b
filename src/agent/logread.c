/*
 * logread.c - log requests: checking them, reading a bounded tail or range
 * of a service log, sanitizing the text (see logread.h).
 */
#include "agent/logread.h"
#include "base/num.h"
#include "spec/spec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int sw_logread_fail(struct sw_err *err, const char *field, const char *msg)
{
	sw_err_set(err, SW_EINPUT, "'%s' %s", field, msg);
	if (err)
		sw_strlcpy(err->where, field, sizeof(err->where));
	return -1;
}

static int sw_logread_int(const json_t *o, const char *key, int64_t min, int64_t max, bool *has, int64_t *out,
			  struct sw_err *err)
{
	const json_t *v = json_object_get(o, key);
	char msg[96];

	*has = v && !json_is_null(v);
	if (!*has)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(msg, sizeof(msg), "must be an integer from %lld to %lld", (long long)min, (long long)max);
		return sw_logread_fail(err, key, msg);
	}
	*out = json_integer_value(v);
	return 0;
}

int sw_logread_parse(const json_t *o, struct sw_logread_req *r, struct sw_err *err)
{
	const json_t *v;
	int64_t n = 0;
	bool has;

	memset(r, 0, sizeof(*r));
	r->offset = -1;
	if (!json_is_object(o))
		return sw_logread_fail(err, "log_requests[]", "must be an object");
	if (sw_logread_int(o, "id", 1, INT64_MAX, &has, &n, err) < 0)
		return -1;
	if (!has)
		return sw_logread_fail(err, "id", "is missing");
	r->id = n;
	v = json_object_get(o, "service");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || !sw_spec_service_name_ok(json_string_value(v)) ||
		    strlen(json_string_value(v)) >= sizeof(r->service))
			return sw_logread_fail(err, "service", "must be a service name");
		sw_strlcpy(r->service, json_string_value(v), sizeof(r->service));
	}
	v = json_object_get(o, "slot");
	if (v && !json_is_null(v)) {
		const char *s = json_string_value(v);

		if (!s || (strcmp(s, "a") && strcmp(s, "b")))
			return sw_logread_fail(err, "slot", "must be \"a\" or \"b\"");
		r->slot = s[0];
	}
	if (sw_logread_int(o, "offset", 0, INT64_MAX, &has, &n, err) < 0)
		return -1;
	if (has)
		r->offset = n;
	if (sw_logread_int(o, "lines", 1, SW_LOGREAD_LINES_MAX, &has, &n, err) < 0)
		return -1;
	r->lines = has ? (unsigned)n : 20;
	if (sw_logread_int(o, "max_bytes", 1, SW_LOGREAD_BYTES_MAX, &has, &n, err) < 0)
		return -1;
	r->max_bytes = has ? (size_t)n : SW_LOGREAD_BYTES_MAX;
	return 0;
}

void sw_logread_chunk_init(struct sw_logread_chunk *c)
{
	memset(c, 0, sizeof(*c));
	sw_buf_init(&c->data, SW_LOGREAD_BYTES_MAX + 1);
}

void sw_logread_chunk_release(struct sw_logread_chunk *c)
{
	sw_buf_release(&c->data);
}

size_t sw_logread_tail_start(const char *buf, size_t len, uint64_t start, unsigned lines)
{
	size_t p = len, found = 0;
	const char *nl;

	if (len == 0)
		return 0;
	if (buf[len - 1] == '\n')
		p = len - 1; /* the last line's own newline */
	while (p > 0) {
		nl = memrchr(buf, '\n', p);
		if (!nl)
			break;
		if (++found == lines)
			return (size_t)(nl - buf) + 1;
		p = (size_t)(nl - buf);
	}
	if (start == 0)
		return 0; /* the whole file: fewer lines than asked */
	/* The window starts inside a line: drop that part, unless it is all there is. */
	nl = memchr(buf, '\n', len);
	return nl && (size_t)(nl - buf) + 1 < len ? (size_t)(nl - buf) + 1 : 0;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes left): 1..4, or 0. */
static size_t sw_logread_utf8(const unsigned char *p, size_t n)
{
	size_t want, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		want = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		want = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		want = 4;
	else
		return 0;
	if (want > n)
		return 0;
	for (i = 1; i < want; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) || (p[0] == 0xf0 && p[1] < 0x90) ||
	    (p[0] == 0xf4 && p[1] > 0x8f))
		return 0; /* overlong, surrogate or past U+10FFFF */
	return want;
}

void sw_logread_sanitize(char *data, size_t len)
{
	unsigned char *p = (unsigned char *)data;
	size_t i = 0, n;

	while (i < len) {
		n = sw_logread_utf8(p + i, len - i);
		if (n == 0) {
			p[i++] = '?';
			continue;
		}
		if (n == 1 && ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\t') || p[i] == 0x7f))
			p[i] = '?';
		i += n;
	}
}

static int sw_logread_pread(int fd, char *dst, size_t n, uint64_t off, size_t *got)
{
	ssize_t r;

	*got = 0;
	while (*got < n) {
		r = pread(fd, dst + *got, n - *got, (off_t)(off + *got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

int sw_logread_file(const char *path, int64_t offset, unsigned lines, size_t max_bytes, struct sw_logread_chunk *c,
		    struct sw_err *err)
{
	char buf[SW_LOGREAD_BYTES_MAX];
	uint64_t from;
	struct stat st;
	size_t n, got = 0, cut = 0;
	int fd;

	if (max_bytes == 0 || max_bytes > SW_LOGREAD_BYTES_MAX)
		max_bytes = SW_LOGREAD_BYTES_MAX;
	sw_buf_reset(&c->data);
	c->restarted = c->more = false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return sw_err_set(err, errno == ENOENT ? SW_ENOTFOUND : SW_EIO, "cannot open '%s': %s", path,
				  strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return sw_err_set(err, SW_EIO, "'%s' is not a regular file", path);
	}
	c->size = (uint64_t)st.st_size;
	if (offset < 0) {
		from = c->size > max_bytes ? c->size - max_bytes : 0;
	} else {
		from = (uint64_t)offset;
		if (from > c->size) {
			from = 0;
			c->restarted = true;
		}
	}
	n = c->size - from < max_bytes ? (size_t)(c->size - from) : max_bytes;
	if (sw_logread_pread(fd, buf, n, from, &got) < 0) {
		int e = errno;

		close(fd);
		return sw_err_set(err, SW_EIO, "cannot read '%s': %s", path, strerror(e));
	}
	close(fd);
	if (offset < 0)
		cut = sw_logread_tail_start(buf, got, from, lines);
	c->offset = from + cut;
	c->next_offset = from + got;
	c->more = offset >= 0 && c->next_offset < c->size;
	sw_logread_sanitize(buf + cut, got - cut);
	if (sw_buf_append(&c->data, buf + cut, got - cut) < 0)
		return sw_err_set(err, SW_EINTERNAL, "log chunk does not fit its buffer");
	return 0;
}
