/*
 * api_events.c - the event log over HTTP, with a long-poll (route in
 * routes.c): events after a seq, or wait up to `wait` seconds for one; or,
 * with order=newest, the end of the log backwards in pages.
 * Calls store/, server/validate, base/.
 */
#include "server/api.h"
#include "base/clock.h"
#include "server/validate.h"

#include <string.h>

static int sw_api_event_cb(const struct sw_event *ev, void *ctx)
{
	json_t *arr = ctx, *payload = json_loads(ev->payload, 0, NULL);

	json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "seq", (json_int_t)ev->seq,
					     "time", ev->time, "actor", ev->actor, "kind", ev->kind, "subject",
					     ev->subject, "payload", payload ? payload : json_object(), "prev_hash",
					     ev->prev_hash, "hash", ev->hash));
	return 0;
}

/* kind: what sw_store_append accepts (1..64 bytes of [a-z0-9._-]). */
static int sw_api_kind_ok(const char *k)
{
	size_t n = strlen(k);

	return n > 0 && n <= SW_EVENT_KIND_MAX && strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/*
 * order=newest: the end of the log backwards, a page at a time (`slipway
 * audit log --server`): events below `before` (0: the newest), above
 * `after`, of `kind` if given; `next` is the `before` of the next page (0:
 * no more). No waiting.
 */
static int sw_api_events_newest(struct sw_api *a, int64_t after, int64_t limit, struct sw_err *err)
{
	const char *kind = sw_http_query(a->req, "kind");
	int64_t before, next = 0;
	json_t *arr;
	int rc;

	if (sw_val_query_int(sw_http_query(a->req, "before"), "before", 0, INT64_MAX, 0, &before, err) < 0)
		return -1;
	if (sw_http_query(a->req, "wait"))
		return sw_val_fail(err, "wait", "query argument 'wait' does not go with order=newest");
	if (kind && !sw_api_kind_ok(kind))
		return sw_val_fail(err, "kind", "query argument 'kind' is not an event kind ([a-z0-9._-], 1..64 bytes)");
	arr = json_array();
	sw_server_lock(a->srv);
	rc = sw_store_scan_newest(a->srv->store, after, before, kind, (size_t)limit, sw_api_event_cb, arr, err);
	sw_server_unlock(a->srv);
	if (rc < 0) {
		json_decref(arr);
		return -1;
	}
	if ((int64_t)json_array_size(arr) == limit)
		next = (int64_t)json_integer_value(json_object_get(json_array_get(arr, json_array_size(arr) - 1), "seq"));
	if (next <= after + 1)
		next = 0; /* nothing older left in range */
	return sw_api_reply(a, 200, json_pack("{s:o, s:I}", "events", arr, "next", (json_int_t)next));
}

int sw_api_events(struct sw_api *a, struct sw_err *err)
{
	struct sw_server *s = a->srv;
	const char *order = sw_http_query(a->req, "order");
	int64_t after, wait, limit, last;
	uint64_t deadline, seq;
	json_t *arr = NULL;
	int rc, done = 0;

	if (sw_val_query_int(sw_http_query(a->req, "after"), "after", 0, INT64_MAX - 1, 0, &after, err) < 0 ||
	    sw_val_query_int(sw_http_query(a->req, "limit"), "limit", 1, 1000, 100, &limit, err) < 0)
		return -1;
	if (order && strcmp(order, "oldest") && strcmp(order, "newest"))
		return sw_val_fail(err, "order", "query argument 'order' must be oldest or newest");
	if (order && !strcmp(order, "newest"))
		return sw_api_events_newest(a, after, limit, err);
	if (sw_http_query(a->req, "before") || sw_http_query(a->req, "kind"))
		return sw_val_fail(err, sw_http_query(a->req, "before") ? "before" : "kind",
				   "query arguments 'before' and 'kind' go with order=newest");
	if (sw_val_query_int(sw_http_query(a->req, "wait"), "wait", 0, 3600, 0, &wait, err) < 0)
		return -1;
	if (wait > SW_SERVER_WAIT_MAX_S)
		wait = SW_SERVER_WAIT_MAX_S;
	deadline = sw_clock_mono_ms() + (uint64_t)wait * 1000;
	sw_server_poll_begin(s);
	a->polling = 1;
	for (;;) {
		seq = sw_server_seq(s);
		arr = json_array();
		sw_server_lock(s);
		rc = sw_store_scan(s->store, after, (size_t)limit, sw_api_event_cb, arr, err);
		sw_server_unlock(s);
		if (rc < 0) {
			json_decref(arr);
			return -1;
		}
		if (json_array_size(arr) > 0 || wait == 0 || done)
			break;
		json_decref(arr);
		done = sw_server_wait(s, seq, deadline);
	}
	last = json_array_size(arr) ? (int64_t)json_integer_value(
					      json_object_get(json_array_get(arr, json_array_size(arr) - 1), "seq"))
				    : after;
	return sw_api_reply(a, 200, json_pack("{s:o, s:I}", "events", arr, "last", (json_int_t)last));
}
