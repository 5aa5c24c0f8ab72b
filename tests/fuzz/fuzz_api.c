/*
 * fuzz_api.c - libFuzzer target for server/validate.h: the checks every API
 * request body and query argument goes through before a handler acts.
 *
 * Input: the first byte picks the body kind (token create, join create,
 * enroll, agent status, deploy, rollback, abort, query integer), the rest is
 * the body. Properties checked:
 *   - a body that fails is SW_EINPUT with a message, never anything else;
 *   - a field error names a field (err.where) that the message quotes;
 *   - a body that passes has its borrowed strings inside the parsed value
 *     (they are read here, so ASan sees a dangling pointer).
 * Any violation aborts. Corpus: tests/fuzz/corpus/api/.
 */
#include "base/err.h"
#include "server/validate.h"
#include "base/netaddr.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int rc, const struct sw_err *err, const char *kind)
{
	if (rc == 0)
		return;
	if (err->code != SW_EINPUT || !err->msg[0]) {
		fprintf(stderr, "fuzz_api: %s failed with code %d: %s\n", kind, err->code, err->msg);
		abort();
	}
	if (err->where[0] && !strstr(err->msg, err->where)) {
		fprintf(stderr, "fuzz_api: %s: field '%s' not named in '%s'\n", kind, err->where, err->msg);
		abort();
	}
}

static size_t fuzz_touch(const char *s)
{
	return s ? strlen(s) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_err err = SW_ERR_INIT;
	const char *a, *b, *c;
	bool flag;
	struct sw_val_enroll e;
	const json_t *labels;
	enum sw_role role;
	uint64_t ttl;
	int64_t v;
	json_t *body = NULL;
	char query[64];
	int rc;

	if (size < 1 || size > (1u << 16))
		return 0;
	if (data[0] % 8 == 7) {
		size_t n = size - 1 < sizeof(query) - 1 ? size - 1 : sizeof(query) - 1;

		memcpy(query, data + 1, n);
		query[n] = '\0';
		rc = sw_val_query_int(query, "after", 0, INT64_MAX - 1, 0, &v, &err);
		fuzz_check(rc, &err, "query");
		if (rc == 0 && v < 0)
			abort();
		return 0;
	}
	if (sw_val_body((const char *)data + 1, size - 1, &body, &err) < 0) {
		fuzz_check(-1, &err, "body");
		return 0;
	}
	switch (data[0] % 8) {
	case 0:
		rc = sw_val_token_create(body, &a, &role, &err);
		fuzz_check(rc, &err, "token create");
		if (rc == 0 && (fuzz_touch(a) > 128 || role < SW_ROLE_VIEWER || role > SW_ROLE_ADMIN))
			abort();
		break;
	case 1:
		rc = sw_val_join_create(body, &labels, &a, &ttl, &err);
		fuzz_check(rc, &err, "join create");
		if (rc == 0 && (ttl < 1000 || ttl > SW_VAL_TTL_MAX_MS || (labels && !json_is_object(labels)) ||
				(a && !sw_val_name_ok(a))))
			abort();
		break;
	case 2:
		rc = sw_val_enroll(body, &e, &err);
		fuzz_check(rc, &err, "enroll");
		if (rc == 0 && (!sw_val_name_ok(e.name) || fuzz_touch(e.join_token) == 0 || e.ports[0] == e.ports[1] ||
				e.ports[0] < 1 || e.ports[1] > 65535))
			abort();
		break;
	case 3:
		rc = sw_val_agent_status(body, &v, &a, &err);
		fuzz_check(rc, &err, "agent status");
		if (rc == 0 && (v < 0 || (a && sw_netaddr_kind(a) == SW_NETADDR_BAD)))
			abort();
		/* The same body as a label change (POST /api/v1/hosts/{id}/labels). */
		{
			const json_t *set, *rm;

			sw_err_clear(&err);
			rc = sw_val_host_labels(body, &set, &rm, &err);
			fuzz_check(rc, &err, "host labels");
			if (rc == 0 && ((set && !json_is_object(set)) || (rm && !json_is_array(rm)) ||
					json_object_size(set) + json_array_size(rm) == 0))
				abort();
		}
		break;
	case 4:
		rc = sw_val_deploy(body, &a, &b, &c, &err);
		fuzz_check(rc, &err, "deploy");
		if (rc == 0 && (!sw_val_name_ok(a) || !sw_val_name_ok(b) || fuzz_touch(c) != 64))
			abort();
		break;
	case 5:
	{
		struct sw_val_rollback rb;

		rc = sw_val_rollback(body, &rb, &err);
		fuzz_check(rc, &err, "rollback");
		if (rc == 0 && (!sw_val_name_ok(rb.service) || !sw_val_name_ok(rb.env) ||
				(rb.to && (fuzz_touch(rb.to) == 0 || fuzz_touch(rb.to) > 128)) ||
				(rb.reason && fuzz_touch(rb.reason) > 512)))
			abort();
		break;
	}
	default:
		rc = sw_val_abort(body, &a, &flag, &err);
		fuzz_check(rc, &err, "abort");
		if (rc == 0 && fuzz_touch(a) > 512)
			abort();
		break;
	}
	json_decref(body);
	return 0;
}
