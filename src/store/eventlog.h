/*
 * eventlog.h - the hash chain of the event log: how one event's hash is
 * computed, and how a whole log is verified. Shared by every store backend:
 * it sees the log only through sw_store_scan(), never through SQL.
 *
 * The hash of an event (version 1 of the rule; docs/events.md says the same):
 *
 *   hash = lowercase hex SHA-256 over the concatenation of these netstrings,
 *          in this order, each written as  <len> ":" <bytes> ","  where <len>
 *          is the byte length of <bytes> in decimal ASCII, no sign, no
 *          leading zeros (so "abc" becomes "3:abc," and "" becomes "0:,"):
 *
 *   | # | field     | bytes                                                   |
 *   |---|-----------|---------------------------------------------------------|
 *   | 0 | tag       | "slipway-event-v1" (the rule's version)                  |
 *   | 1 | seq       | decimal ASCII of the int64 seq, "-" for negatives        |
 *   | 2 | time      | UTF-8 as stored ("2026-11-22T10:00:00.123Z")             |
 *   | 3 | actor     | UTF-8 as stored                                          |
 *   | 4 | kind      | UTF-8 as stored                                          |
 *   | 5 | subject   | UTF-8 as stored (may be empty)                           |
 *   | 6 | payload   | canonical JSON text as stored (sorted keys, compact)     |
 *   | 7 | prev_hash | 64 lowercase hex digits; 64 "0" for seq 1                |
 *
 *   Example: seq 1 starts "16:slipway-event-v1,1:1,24:2026-...".
 *   Length prefixes make the encoding unambiguous: ("ab","c") and ("a","bc")
 *   hash differently, and no field can smuggle in a separator.
 *
 * Verification (sw_eventlog_verify) reads every row in seq order, keeping
 * only the previous hash (constant memory, one pass), and stops at the FIRST
 * row that fails one of these checks, in this order:
 *
 *   | check   | fails when                                    | usual cause        |
 *   |---------|-----------------------------------------------|--------------------|
 *   | seq     | seq is not previous seq + 1 (1 for the first) | row deleted/added  |
 *   | prev    | prev_hash is not the previous row's hash      | deleted, inserted, |
 *   |         |   (64 zeros for seq 1)                        |   reordered rows   |
 *   | payload | payload is not a JSON object                  | row modified       |
 *   | hash    | hash is not the recomputed hash of the row    | row modified       |
 *
 * What a chain cannot show: removing the newest events (truncation), or
 * rewriting the newest event, leaves a valid shorter chain. Anchoring the head
 * elsewhere (docs/events.md) closes that gap.
 *
 * Calls base/ (hash, json, buf) and store/store.h (sw_store_scan).
 * Reports are caller-owned structs; nothing is allocated for the caller.
 */
#ifndef SW_EVENTLOG_H
#define SW_EVENTLOG_H

#include <stdint.h>

#include "base/err.h"
#include "base/hash.h"
#include "store/store.h"

#define SW_EVENTLOG_TAG "slipway-event-v1"
#define SW_EVENTLOG_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

enum sw_eventlog_check {
	SW_EVENTLOG_OK = 0,
	SW_EVENTLOG_SEQ_GAP,        /* a seq is missing: row deleted */
	SW_EVENTLOG_SEQ_UNEXPECTED, /* a seq below the expected one: row inserted */
	SW_EVENTLOG_PREV_MISMATCH,  /* prev_hash is not the previous hash */
	SW_EVENTLOG_BAD_PAYLOAD,    /* payload is not a JSON object */
	SW_EVENTLOG_HASH_MISMATCH,  /* stored hash is not the recomputed one */
};

struct sw_eventlog_report {
	int ok;                      /* 1: every row passed */
	int64_t events;              /* rows that passed (all of them when ok) */
	char head[SW_SHA256_HEX];    /* hash of the last row that passed; genesis if none */
	int64_t head_seq;            /* its seq; 0 if none */
	/* When !ok: the first broken row. */
	int64_t broken_seq;          /* seq where the chain breaks (the missing seq for a gap) */
	enum sw_eventlog_check check;
	char expected[128];          /* what the chain needs there ("seq 5", a hash, "a JSON object") */
	char found[256];             /* what the row has */
};

/* The hash of ev by the rule above (ev->hash is ignored). NULL fields count as "". */
void sw_eventlog_hash(const struct sw_event *ev, char hex[SW_SHA256_HEX]);

/*
 * Verify the whole log of st. Returns 0 when it is intact; -1 with err
 * SW_EINTEGRITY ("event log broken at seq 17: hash mismatch (row modified):
 * expected ..., found ...") and the report filled when it is broken; -1 with
 * another code when the store cannot be read (report->ok is then 0 and
 * report->check SW_EVENTLOG_OK).
 */
int sw_eventlog_verify(struct sw_store *st, struct sw_eventlog_report *report, struct sw_err *err);

/* "hash mismatch (row modified)" etc. */
const char *sw_eventlog_check_reason(enum sw_eventlog_check c);
/* Short machine name: "ok", "seq", "prev", "payload", "hash". */
const char *sw_eventlog_check_name(enum sw_eventlog_check c);

#endif
