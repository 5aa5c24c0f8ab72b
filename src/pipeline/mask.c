/*
 * mask.c - secret masking of texts and streams (see mask.h).
 * Calls only libc, base/buf and base/mem.
 */
#include "pipeline/mask.h"
#include "base/mem.h"

#include <string.h>

void sw_mask_init(struct sw_mask *m)
{
	memset(m, 0, sizeof(*m));
}

void sw_mask_release(struct sw_mask *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		explicit_bzero(m->vals[i], m->lens[i]);
		free(m->vals[i]);
	}
	free(m->vals);
	free(m->lens);
	sw_mask_init(m);
}

static int sw_mask_has(const struct sw_mask *m, const char *val, size_t len)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m->lens[i] == len && !memcmp(m->vals[i], val, len))
			return 1;
	return 0;
}

/* Insert keeping the values sorted longest first, so the longest match wins. */
static void sw_mask_insert(struct sw_mask *m, const char *val, size_t len)
{
	size_t i, pos;

	if (sw_mask_has(m, val, len))
		return;
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 8;
		m->vals = sw_xreallocarray(m->vals, m->cap, sizeof(*m->vals));
		m->lens = sw_xreallocarray(m->lens, m->cap, sizeof(*m->lens));
	}
	for (pos = 0; pos < m->n && m->lens[pos] >= len; pos++)
		;
	for (i = m->n; i > pos; i--) {
		m->vals[i] = m->vals[i - 1];
		m->lens[i] = m->lens[i - 1];
	}
	m->vals[pos] = sw_xmalloc(len);
	memcpy(m->vals[pos], val, len);
	m->lens[pos] = len;
	m->n++;
	if (len > m->maxlen)
		m->maxlen = len;
	m->first[(unsigned char)val[0]] = 1;
}

int sw_mask_add(struct sw_mask *m, const char *val, size_t len)
{
	const char *p, *end, *nl;
	int added = 0;

	if (len > SW_MASK_MAX_LEN)
		return -1;
	if (len >= SW_MASK_MIN_LEN) {
		sw_mask_insert(m, val, len);
		added = 1;
	}
	if (!memchr(val, '\n', len))
		return added ? 0 : 1;
	for (p = val, end = val + len; p < end; p = nl + 1) {
		size_t n;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		n = (size_t)(nl - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (n >= SW_MASK_MIN_LEN) {
			sw_mask_insert(m, p, n);
			added = 1;
		}
	}
	return added ? 0 : 1;
}

/*
 * Mask work[0..wlen) into out. Without `final`, positions from
 * wlen - (maxlen - 1) on are not decided (a value may continue in the next
 * chunk): returns how many bytes were consumed; the rest is the carry-over.
 * Before that limit every value fits entirely, so a match is always whole.
 */
static size_t sw_mask_scan(const struct sw_mask *m, const char *work, size_t wlen, int final, struct sw_buf *out)
{
	size_t i = 0, from = 0, limit, k;

	if (final)
		limit = wlen;
	else
		limit = wlen >= m->maxlen - 1 ? wlen - (m->maxlen - 1) : 0;
	while (i < limit) {
		int hit = 0;

		if (m->first[(unsigned char)work[i]]) {
			for (k = 0; k < m->n; k++) {
				if (m->lens[k] <= wlen - i && !memcmp(work + i, m->vals[k], m->lens[k])) {
					sw_buf_append(out, work + from, i - from);
					sw_buf_puts(out, SW_MASK_REPLACEMENT);
					i += m->lens[k];
					from = i;
					hit = 1;
					break;
				}
			}
		}
		if (!hit)
			i++;
	}
	sw_buf_append(out, work + from, i - from);
	return i;
}

void sw_mask_apply(const struct sw_mask *m, const char *in, size_t len, struct sw_buf *out)
{
	if (m->n == 0) {
		sw_buf_append(out, in, len);
		return;
	}
	sw_mask_scan(m, in, len, 1, out);
}

char *sw_mask_strdup(const struct sw_mask *m, const char *s)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);

	sw_mask_apply(m, s, strlen(s), &b);
	return sw_buf_detach(&b, NULL);
}

void sw_mask_stream_init(struct sw_mask_stream *s, const struct sw_mask *m)
{
	s->m = m;
	sw_buf_init(&s->work, SW_BUF_UNLIMITED);
	sw_buf_init(&s->out, SW_BUF_UNLIMITED);
}

static void sw_buf_wipe_reset(struct sw_buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->len);
	sw_buf_reset(b);
}

const char *sw_mask_stream_feed(struct sw_mask_stream *s, const char *in, size_t len, size_t *outlen)
{
	size_t used;

	if (s->m->n == 0) {
		*outlen = len;
		return in;
	}
	sw_buf_wipe_reset(&s->out);
	sw_buf_append(&s->work, in, len);
	used = sw_mask_scan(s->m, s->work.data, s->work.len, 0, &s->out);
	/* Keep the undecided tail (at most maxlen - 1 bytes) at the front. */
	memmove(s->work.data, s->work.data + used, s->work.len - used);
	explicit_bzero(s->work.data + (s->work.len - used), used);
	sw_buf_truncate(&s->work, s->work.len - used);
	*outlen = s->out.len;
	return sw_buf_str(&s->out);
}

const char *sw_mask_stream_flush(struct sw_mask_stream *s, size_t *outlen)
{
	if (s->m->n == 0 || s->work.len == 0) {
		*outlen = 0;
		return "";
	}
	sw_buf_wipe_reset(&s->out);
	sw_mask_scan(s->m, s->work.data, s->work.len, 1, &s->out);
	sw_buf_wipe_reset(&s->work);
	*outlen = s->out.len;
	return sw_buf_str(&s->out);
}

void sw_mask_stream_release(struct sw_mask_stream *s)
{
	sw_buf_wipe_reset(&s->work);
	sw_buf_wipe_reset(&s->out);
	sw_buf_release(&s->work);
	sw_buf_release(&s->out);
}
