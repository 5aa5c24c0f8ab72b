/*
 * logreq.c - log requests in flight between `slipway logs` and an agent
 * (see logreq.h): a short list under its own mutex.
 */
#include "server/logreq.h"
#include "base/buf.h"
#include "base/mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum sw_logreq_state { SW_LOGREQ_PENDING, SW_LOGREQ_SENT, SW_LOGREQ_DONE };

struct sw_logreq {
	struct sw_logreq *next;
	int64_t id;
	char host_id[SW_LOGREQ_HOST_ID_MAX];
	struct sw_logreq_params p;
	enum sw_logreq_state state;
	json_t *answer;
};

struct sw_logreqs {
	pthread_mutex_t mu;
	struct sw_logreq *head;
	int64_t next_id;
	size_t n;
};

struct sw_logreqs *sw_logreqs_new(void)
{
	struct sw_logreqs *q = sw_xcalloc(1, sizeof(*q));

	pthread_mutex_init(&q->mu, NULL);
	q->next_id = 1;
	return q;
}

static void sw_logreq_free(struct sw_logreq *r)
{
	json_decref(r->answer);
	free(r);
}

void sw_logreqs_free(struct sw_logreqs *q)
{
	struct sw_logreq *r, *next;

	if (!q)
		return;
	for (r = q->head; r; r = next) {
		next = r->next;
		sw_logreq_free(r);
	}
	pthread_mutex_destroy(&q->mu);
	free(q);
}

int sw_logreqs_add(struct sw_logreqs *q, const char *host_id, const struct sw_logreq_params *p, int64_t *id,
		   struct sw_err *err)
{
	struct sw_logreq *r, **tail;
	size_t mine = 0;

	if (strlen(host_id) >= SW_LOGREQ_HOST_ID_MAX)
		return sw_err_set(err, SW_EINPUT, "host id '%.64s...' is too long", host_id);
	pthread_mutex_lock(&q->mu);
	for (r = q->head; r; r = r->next)
		mine += !strcmp(r->host_id, host_id);
	if (mine >= SW_LOGREQ_PER_HOST || q->n >= SW_LOGREQ_TOTAL) {
		pthread_mutex_unlock(&q->mu);
		return sw_err_set(err, SW_EBUSY, "too many log requests in flight (%s): try again in a moment",
				  mine >= SW_LOGREQ_PER_HOST ? "for this host" : "on this server");
	}
	r = sw_xcalloc(1, sizeof(*r));
	r->id = q->next_id++;
	sw_strlcpy(r->host_id, host_id, sizeof(r->host_id));
	r->p = *p;
	r->state = SW_LOGREQ_PENDING;
	for (tail = &q->head; *tail; tail = &(*tail)->next)
		;
	*tail = r;
	q->n++;
	*id = r->id;
	pthread_mutex_unlock(&q->mu);
	return 0;
}

bool sw_logreqs_pending(struct sw_logreqs *q, const char *host_id)
{
	struct sw_logreq *r;
	bool any = false;

	pthread_mutex_lock(&q->mu);
	for (r = q->head; r && !any; r = r->next)
		any = r->state == SW_LOGREQ_PENDING && !strcmp(r->host_id, host_id);
	pthread_mutex_unlock(&q->mu);
	return any;
}

static json_t *sw_logreq_json(const struct sw_logreq *r)
{
	json_t *o = json_pack("{s:I, s:i, s:i}", "id", (json_int_t)r->id, "lines", (int)r->p.lines, "max_bytes",
			      (int)r->p.max_bytes);

	if (r->p.service[0])
		json_object_set_new(o, "service", json_string(r->p.service));
	if (r->p.slot) {
		char slot[2] = { r->p.slot, '\0' };

		json_object_set_new(o, "slot", json_string(slot));
	}
	if (r->p.offset >= 0)
		json_object_set_new(o, "offset", json_integer(r->p.offset));
	return o;
}

json_t *sw_logreqs_take(struct sw_logreqs *q, const char *host_id)
{
	json_t *arr = NULL;
	struct sw_logreq *r;

	pthread_mutex_lock(&q->mu);
	for (r = q->head; r; r = r->next) {
		if (r->state != SW_LOGREQ_PENDING || strcmp(r->host_id, host_id))
			continue;
		if (!arr)
			arr = json_array();
		json_array_append_new(arr, sw_logreq_json(r));
		r->state = SW_LOGREQ_SENT;
	}
	pthread_mutex_unlock(&q->mu);
	return arr;
}

int sw_logreqs_answer(struct sw_logreqs *q, const char *host_id, int64_t id, json_t *answer, struct sw_err *err)
{
	struct sw_logreq *r;

	pthread_mutex_lock(&q->mu);
	for (r = q->head; r; r = r->next)
		if (r->id == id && !strcmp(r->host_id, host_id) && r->state != SW_LOGREQ_DONE)
			break;
	if (!r) {
		pthread_mutex_unlock(&q->mu);
		json_decref(answer);
		return sw_err_set(err, SW_ENOTFOUND, "no log request %lld is waiting for this host's answer",
				  (long long)id);
	}
	r->answer = answer;
	r->state = SW_LOGREQ_DONE;
	pthread_mutex_unlock(&q->mu);
	return 0;
}

/* Unlink request id; returns it (the caller frees) or NULL. Call with q->mu held. */
static struct sw_logreq *sw_logreqs_unlink(struct sw_logreqs *q, int64_t id, bool only_done)
{
	struct sw_logreq **pp, *r;

	for (pp = &q->head; (r = *pp); pp = &r->next) {
		if (r->id != id)
			continue;
		if (only_done && r->state != SW_LOGREQ_DONE)
			return NULL;
		*pp = r->next;
		q->n--;
		return r;
	}
	return NULL;
}

int sw_logreqs_result(struct sw_logreqs *q, int64_t id, json_t **answer)
{
	struct sw_logreq *r;

	pthread_mutex_lock(&q->mu);
	r = sw_logreqs_unlink(q, id, true);
	pthread_mutex_unlock(&q->mu);
	if (!r)
		return 0;
	*answer = r->answer;
	r->answer = NULL;
	sw_logreq_free(r);
	return 1;
}

void sw_logreqs_cancel(struct sw_logreqs *q, int64_t id)
{
	struct sw_logreq *r;

	pthread_mutex_lock(&q->mu);
	r = sw_logreqs_unlink(q, id, false);
	pthread_mutex_unlock(&q->mu);
	if (r)
		sw_logreq_free(r);
}

size_t sw_logreqs_count(struct sw_logreqs *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->n;
	pthread_mutex_unlock(&q->mu);
	return n;
}
