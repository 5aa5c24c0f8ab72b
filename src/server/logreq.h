/*
 * logreq.h - the server's log requests in flight: what `slipway logs`
 * asked of a host's agent, until the agent answers or the asker gives up.
 *
 * Agents have no inbound port, so a log read travels on the agent's own
 * requests (docs/agent.md, "Logs"):
 *
 *   CLI  GET /api/v1/hosts/{host}/logs ──▶ sw_logreqs_add (pending)
 *        ... waits on the server's notifier, not holding the store lock
 *   agent GET /api/v1/agent/desired   ◀── sw_logreqs_take: answers the
 *        long-poll at once with "log_requests" (pending -> sent)
 *   agent POST /api/v1/agent/logs     ──▶ sw_logreqs_answer (sent -> done)
 *   CLI  sw_logreqs_result: the answer, and the request is gone
 *        (sw_logreqs_cancel when its wait passed: a late answer is 404)
 *
 * A request is handed to an agent once (an agent too old to know log
 * requests cannot make its long-polls spin), only to the host it names,
 * and answered only by that host. At most SW_LOGREQ_PER_HOST requests per
 * host and SW_LOGREQ_TOTAL in all are in flight (SW_EBUSY beyond).
 *
 * Request as sent to the agent, one element of "log_requests":
 *   | field     | type            | meaning                                      |
 *   | id        | integer > 0     | echoed in the answer                         |
 *   | service   | name, or absent | absent: the host's only service              |
 *   | slot      | "a"/"b", absent | absent: the service's active slot            |
 *   | offset    | integer >= 0    | absent: the last `lines` lines (a tail)      |
 *   | lines     | 1..1000         | tail length                                  |
 *   | max_bytes | 1..65536        | most bytes of log text in the answer         |
 *
 * Thread-safe (its own mutex; never the store lock). Answers are JSON
 * objects owned by the table until sw_logreqs_result hands them over.
 * Calls jansson, base/, pthreads.
 */
#ifndef SW_SERVER_LOGREQ_H
#define SW_SERVER_LOGREQ_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

#define SW_LOGREQ_CHUNK_MAX 65536 /* bytes of log text per answer */
#define SW_LOGREQ_LINES_MAX 1000
#define SW_LOGREQ_LINES_DEFAULT 20
#define SW_LOGREQ_PER_HOST 8
#define SW_LOGREQ_TOTAL 256
#define SW_LOGREQ_HOST_ID_MAX 128
#define SW_LOGREQ_NAME_MAX 64

struct sw_logreq_params {
	char service[SW_LOGREQ_NAME_MAX]; /* "" = the host's only service */
	char slot;                        /* 'a', 'b', or 0 = the active slot */
	int64_t offset;                   /* -1 = the last `lines` lines */
	unsigned lines;
	unsigned max_bytes;
};

struct sw_logreqs;

struct sw_logreqs *sw_logreqs_new(void);
void sw_logreqs_free(struct sw_logreqs *q);

/* Record a request for host_id; *id gets its id. SW_EBUSY when too many are in flight. */
int sw_logreqs_add(struct sw_logreqs *q, const char *host_id, const struct sw_logreq_params *p, int64_t *id,
		   struct sw_err *err);
/* Whether host_id has requests not yet handed to its agent. */
bool sw_logreqs_pending(struct sw_logreqs *q, const char *host_id);
/* The host's pending requests as a JSON array (table above), now marked sent; NULL when none. */
json_t *sw_logreqs_take(struct sw_logreqs *q, const char *host_id);
/*
 * The agent of host_id answers request id (answer stolen, also on error).
 * SW_ENOTFOUND when no such request is in flight for that host (unknown,
 * another host's, already answered or given up).
 */
int sw_logreqs_answer(struct sw_logreqs *q, const char *host_id, int64_t id, json_t *answer, struct sw_err *err);
/* 1 and *answer (the caller's) when request id was answered, which removes it; 0 while waiting. */
int sw_logreqs_result(struct sw_logreqs *q, int64_t id, json_t **answer);
/* Forget request id (its asker stopped waiting). */
void sw_logreqs_cancel(struct sw_logreqs *q, int64_t id);
/* Requests in flight (tests). */
size_t sw_logreqs_count(struct sw_logreqs *q);

#endif
