/*
 * eventlog.c - event hash rule and streaming chain verification (see
 * eventlog.h for the rule and the checks). Backend-neutral: reads the log
 * only through sw_store_scan(). Calls base/ and store/store.h.
 */
#include "store/eventlog.h"
#include "base/buf.h"
#include "base/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void sw_eventlog_netstring(struct sw_sha256 *h, const char *p, size_t n)
{
	char len[32];
	int k = snprintf(len, sizeof(len), "%zu:", n);

	sw_sha256_update(h, len, (size_t)k);
	sw_sha256_update(h, p, n);
	sw_sha256_update(h, ",", 1);
}

static void sw_eventlog_field(struct sw_sha256 *h, const char *s)
{
	if (!s)
		s = "";
	sw_eventlog_netstring(h, s, strlen(s));
}

void sw_eventlog_hash(const struct sw_event *ev, char hex[SW_SHA256_HEX])
{
	struct sw_sha256 h;
	char seq[32];
	int n = snprintf(seq, sizeof(seq), "%" PRId64, ev->seq);

	sw_sha256_init(&h);
	sw_eventlog_field(&h, SW_EVENTLOG_TAG);
	sw_eventlog_netstring(&h, seq, (size_t)n);
	sw_eventlog_field(&h, ev->time);
	sw_eventlog_field(&h, ev->actor);
	sw_eventlog_field(&h, ev->kind);
	sw_eventlog_field(&h, ev->subject);
	sw_eventlog_field(&h, ev->payload);
	sw_eventlog_field(&h, ev->prev_hash);
	sw_sha256_final_hex(&h, hex);
}

const char *sw_eventlog_check_reason(enum sw_eventlog_check c)
{
	switch (c) {
	case SW_EVENTLOG_OK:
		return "ok";
	case SW_EVENTLOG_SEQ_GAP:
		return "seq gap (row deleted)";
	case SW_EVENTLOG_SEQ_UNEXPECTED:
		return "unexpected seq (row inserted)";
	case SW_EVENTLOG_PREV_MISMATCH:
		return "prev_hash mismatch (row deleted, inserted or reordered)";
	case SW_EVENTLOG_BAD_PAYLOAD:
		return "payload is not a JSON object (row modified)";
	case SW_EVENTLOG_HASH_MISMATCH:
		return "hash mismatch (row modified)";
	}
	return "unknown";
}

const char *sw_eventlog_check_name(enum sw_eventlog_check c)
{
	switch (c) {
	case SW_EVENTLOG_OK:
		return "ok";
	case SW_EVENTLOG_SEQ_GAP:
	case SW_EVENTLOG_SEQ_UNEXPECTED:
		return "seq";
	case SW_EVENTLOG_PREV_MISMATCH:
		return "prev";
	case SW_EVENTLOG_BAD_PAYLOAD:
		return "payload";
	case SW_EVENTLOG_HASH_MISMATCH:
		return "hash";
	}
	return "unknown";
}

/* Control bytes of s shown as '?' (reports end up on terminals). */
static void sw_eventlog_sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* Copy s for a report, cut to fit. */
static void sw_eventlog_show(char *out, size_t size, const char *s)
{
	sw_strlcpy(out, s ? s : "(null)", size);
	sw_eventlog_sanitize(out);
}

static int sw_eventlog_break(struct sw_eventlog_report *r, int64_t seq, enum sw_eventlog_check c)
{
	r->ok = 0;
	r->broken_seq = seq;
	r->check = c;
	return 1; /* stops the scan */
}

static int sw_eventlog_payload_ok(const char *payload, char *why, size_t size)
{
	struct sw_err perr = SW_ERR_INIT;
	json_t *v;
	int ok;

	if (!payload) {
		sw_strlcpy(why, "NULL", size);
		return 0;
	}
	v = sw_json_parse(payload, strlen(payload), SW_EVENT_PAYLOAD_MAX, "payload", &perr);
	if (!v) {
		sw_err_format(&perr, why, size);
		return 0;
	}
	ok = json_is_object(v);
	if (!ok)
		snprintf(why, size, "a JSON %s", json_is_array(v) ? "array" : "scalar");
	json_decref(v);
	return ok;
}

static int sw_eventlog_check_row(const struct sw_event *ev, void *ctx)
{
	struct sw_eventlog_report *r = ctx;
	int64_t want = r->head_seq + 1;
	char hash[SW_SHA256_HEX];

	if (ev->seq != want) {
		snprintf(r->expected, sizeof(r->expected), "seq %" PRId64, want);
		snprintf(r->found, sizeof(r->found), "seq %" PRId64, ev->seq);
		return sw_eventlog_break(r, want, ev->seq > want ? SW_EVENTLOG_SEQ_GAP : SW_EVENTLOG_SEQ_UNEXPECTED);
	}
	if (!ev->prev_hash || strcmp(ev->prev_hash, r->head) != 0) {
		sw_strlcpy(r->expected, r->head, sizeof(r->expected));
		sw_eventlog_show(r->found, sizeof(r->found), ev->prev_hash);
		return sw_eventlog_break(r, ev->seq, SW_EVENTLOG_PREV_MISMATCH);
	}
	if (!sw_eventlog_payload_ok(ev->payload, r->found, sizeof(r->found))) {
		sw_strlcpy(r->expected, "a JSON object", sizeof(r->expected));
		sw_eventlog_sanitize(r->found);
		return sw_eventlog_break(r, ev->seq, SW_EVENTLOG_BAD_PAYLOAD);
	}
	sw_eventlog_hash(ev, hash);
	if (!ev->hash || strcmp(ev->hash, hash) != 0) {
		sw_strlcpy(r->expected, hash, sizeof(r->expected));
		sw_eventlog_show(r->found, sizeof(r->found), ev->hash);
		return sw_eventlog_break(r, ev->seq, SW_EVENTLOG_HASH_MISMATCH);
	}
	sw_strlcpy(r->head, hash, sizeof(r->head));
	r->head_seq = ev->seq;
	r->events++;
	return 0;
}

int sw_eventlog_verify(struct sw_store *st, struct sw_eventlog_report *report, struct sw_err *err)
{
	memset(report, 0, sizeof(*report));
	sw_strlcpy(report->head, SW_EVENTLOG_GENESIS, sizeof(report->head));
	report->ok = 1;
	if (sw_store_scan(st, INT64_MIN, 0, sw_eventlog_check_row, report, err) < 0) {
		report->ok = 0;
		report->check = SW_EVENTLOG_OK;
		return -1;
	}
	if (report->ok)
		return 0;
	return sw_err_set(err, SW_EINTEGRITY, "event log broken at seq %" PRId64 ": %s: expected %s, found %s",
			  report->broken_seq, sw_eventlog_check_reason(report->check), report->expected,
			  report->found);
}
