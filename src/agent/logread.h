/*
 * logread.h - what the agent answers to a log request (`slipway logs`):
 * the request as the server sends it, checked, and a bounded piece of a
 * service log read from disk, made safe to print.
 *
 * Request (one element of the desired document's "log_requests",
 * server/logreq.h): {id > 0, service?, slot? "a"|"b", offset? >= 0,
 * lines 1..1000, max_bytes 1..65536}. Anything else is SW_EINPUT naming
 * the field; the agent answers such a request with the error.
 *
 * Reading (sw_logread_file), at most max_bytes of the file:
 *   tail   (offset < 0) the last `lines` lines, from the file's last
 *          max_bytes bytes: a first line cut by that window is dropped
 *          unless it is all there is;
 *   range  (offset >= 0) bytes [offset, offset + max_bytes) up to the
 *          file's size; `more` when the file goes on. An offset past the
 *          end means the log was rotated or truncated since: the read
 *          starts again at 0 and `restarted` says so.
 * next_offset is where the next range read starts (the end of what was
 * read): following a log is asking again from there.
 *
 * Text (sw_logread_sanitize, in place, length kept): bytes that are not
 * valid UTF-8, and control characters other than newline and tab (escape
 * sequences included), become '?', so that a log cannot drive the
 * terminal of whoever reads it and the answer is valid JSON text.
 *
 * Ownership: struct sw_logread_chunk owns its buffer (sw_logread_chunk_release).
 * Calls base/, jansson, libc.
 */
#ifndef SW_AGENT_LOGREAD_H
#define SW_AGENT_LOGREAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define SW_LOGREAD_BYTES_MAX 65536
#define SW_LOGREAD_LINES_MAX 1000

struct sw_logread_req {
	int64_t id;
	char service[64]; /* "" = the host's only service */
	char slot;        /* 'a', 'b', or 0 = the service's active slot */
	int64_t offset;   /* -1 = tail */
	unsigned lines;
	size_t max_bytes;
};

/* Check one request object. r->id is set as soon as it is known (0 before), so that errors can be answered. */
int sw_logread_parse(const json_t *o, struct sw_logread_req *r, struct sw_err *err);

struct sw_logread_chunk {
	uint64_t offset;      /* where data starts in the file */
	uint64_t next_offset; /* where the next range read starts */
	uint64_t size;        /* the file's size when read */
	bool restarted;       /* the offset asked for was past the end: read from 0 */
	bool more;            /* range: the file goes on past next_offset */
	struct sw_buf data;   /* the text, sanitized */
};

void sw_logread_chunk_init(struct sw_logread_chunk *c);
void sw_logread_chunk_release(struct sw_logread_chunk *c);
/* Read per the rules above. SW_ENOTFOUND when the file does not exist, SW_EIO on read errors. */
int sw_logread_file(const char *path, int64_t offset, unsigned lines, size_t max_bytes, struct sw_logread_chunk *c,
		    struct sw_err *err);
/* Where, in buf[0..len) (the file's last bytes, starting at file offset start), the last `lines` lines begin. */
size_t sw_logread_tail_start(const char *buf, size_t len, uint64_t start, unsigned lines);
void sw_logread_sanitize(char *data, size_t len);

#endif
