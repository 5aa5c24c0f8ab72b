/*
 * json.c - jansson helpers (see json.h).
 */
#include "base/json.h"
#include "base/fs.h"

#include <string.h>

static int sw_json_dump_cb(const char *p, size_t n, void *data)
{
	return sw_buf_append(data, p, n);
}

int sw_json_canonical(const json_t *v, struct sw_buf *out)
{
	if (json_dump_callback(v, sw_json_dump_cb, out, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY) < 0)
		return -1;
	return sw_buf_failed(out) ? -1 : 0;
}

int sw_json_pretty(const json_t *v, struct sw_buf *out)
{
	if (json_dump_callback(v, sw_json_dump_cb, out, JSON_SORT_KEYS | JSON_INDENT(2) | JSON_ENCODE_ANY) < 0)
		return -1;
	if (sw_buf_putc(out, '\n') < 0)
		return -1;
	return 0;
}

json_t *sw_json_parse(const char *data, size_t len, size_t max, const char *what, struct sw_err *err)
{
	json_error_t je;
	json_t *v;

	if (len > max) {
		sw_err_set(err, SW_EINPUT, "%s: JSON larger than %zu bytes", what, max);
		return NULL;
	}
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!v)
		sw_err_setloc(err, SW_EINPUT, what, (unsigned long)(je.line > 0 ? je.line : 0),
			      (unsigned long)(je.column > 0 ? je.column : 0), "invalid JSON: %s", je.text);
	return v;
}

json_t *sw_json_load_file(const char *path, size_t max, struct sw_err *err)
{
	struct sw_buf b = SW_BUF_INIT(max);
	json_t *v = NULL;

	if (sw_fs_read_file(path, max, &b, err) == 0)
		v = sw_json_parse(sw_buf_str(&b), b.len, max, path, err);
	sw_buf_release(&b);
	return v;
}

int sw_json_write_file(const char *path, const json_t *v, unsigned mode, struct sw_err *err)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);
	int rc;

	if (sw_json_pretty(v, &b) < 0) {
		sw_buf_release(&b);
		return sw_err_set(err, SW_EINTERNAL, "cannot encode JSON for '%s'", path);
	}
	rc = sw_fs_write_atomic(path, b.data, b.len, (mode_t)mode, err);
	sw_buf_release(&b);
	return rc;
}

const char *sw_json_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

long long sw_json_int(const json_t *obj, const char *key, long long def)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}
