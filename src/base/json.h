/*
 * json.h - small helpers over jansson.
 *
 * Canonical form (sorted keys, compact, UTF-8, no trailing newline) is what
 * Slipway hashes and signs, so the same value always has the same bytes.
 * Parsing caps the input size and reports "line:col: message" in err.
 * Calls jansson, libc, base/buf, base/err, base/fs.
 */
#ifndef SW_JSON_H
#define SW_JSON_H

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"

/* Canonical bytes of v into out (appended). Returns -1 on failure. */
int sw_json_canonical(const json_t *v, struct sw_buf *out);
/* Pretty (indent 2, sorted keys) for files people read, with a final newline. */
int sw_json_pretty(const json_t *v, struct sw_buf *out);
/* Parse at most max bytes; errors name "what:line:col". New reference. */
json_t *sw_json_parse(const char *data, size_t len, size_t max, const char *what, struct sw_err *err);
json_t *sw_json_load_file(const char *path, size_t max, struct sw_err *err);
/* Write pretty JSON atomically (base/fs). */
int sw_json_write_file(const char *path, const json_t *v, unsigned mode, struct sw_err *err);
/* Field accessors that return NULL / def when missing or of another type. */
const char *sw_json_str(const json_t *obj, const char *key);
long long sw_json_int(const json_t *obj, const char *key, long long def);

#endif
