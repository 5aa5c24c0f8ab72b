/*
 * fuzz_logs.c - libFuzzer target for the two parsers of a log request's
 * round trip: the agent's check of a request (agent/logread.h,
 * sw_logread_parse) and the server's check of the agent's answer
 * (server/validate.h, sw_val_agent_logs), plus the text sanitizer.
 *
 * Input: the first byte picks the parser (even: the request, odd: the
 * answer), the rest is a JSON document. Properties checked:
 *   - a failure is SW_EINPUT naming a field that the message quotes;
 *   - a request that passes has its fields in range (slot a/b/none,
 *     lines 1..1000, max_bytes 1..65536, offset -1 or >= 0);
 *   - an answer that passes carries data of at most 65536 bytes and
 *     next_offset >= offset;
 *   - the sanitizer keeps the length and leaves valid UTF-8 without
 *     control characters other than newline and tab.
 * Any violation aborts. Corpus: tests/fuzz/corpus/logs/.
 */
#include "agent/logread.h"
#include "base/err.h"
#include "server/validate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int rc, const struct sw_err *err, const char *kind)
{
	if (rc == 0)
		return;
	if (err->code != SW_EINPUT || !err->msg[0] || !err->where[0] || !strstr(err->msg, err->where)) {
		fprintf(stderr, "fuzz_logs: %s: code %d, field '%s', message '%s'\n", kind, err->code, err->where,
			err->msg);
		abort();
	}
}

static void fuzz_sanitize(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	json_t *v;

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	sw_logread_sanitize(s, size);
	for (size_t i = 0; i < size; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\t') || s[i] == 0x7f)
			abort();
	v = json_stringn(s, size); /* NULL when not valid UTF-8 */
	if (!v)
		abort();
	json_decref(v);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_logread_req r;
	json_t *doc, *out = NULL;
	int64_t id;
	int rc;

	if (size < 1 || size > (1u << 17))
		return 0;
	fuzz_sanitize(data + 1, size - 1);
	doc = json_loadb((const char *)data + 1, size - 1, 0, NULL);
	if (!doc)
		return 0;
	if (data[0] % 2 == 0) {
		rc = sw_logread_parse(doc, &r, &err);
		fuzz_check(rc, &err, "request");
		if (rc == 0 && (r.lines < 1 || r.lines > 1000 || r.max_bytes < 1 || r.max_bytes > 65536 ||
				r.offset < -1 || (r.slot && r.slot != 'a' && r.slot != 'b')))
			abort();
	} else {
		rc = sw_val_agent_logs(json_is_object(doc) ? doc : NULL, &id, &out, &err);
		fuzz_check(rc, &err, "answer");
		if (rc == 0 && !json_object_get(out, "error") &&
		    (json_string_length(json_object_get(out, "data")) > 65536 ||
		     json_integer_value(json_object_get(out, "next_offset")) <
			     json_integer_value(json_object_get(out, "offset"))))
			abort();
		json_decref(out);
	}
	json_decref(doc);
	return 0;
}
