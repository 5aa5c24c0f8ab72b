/*
 * dag.c - indegree-counting job scheduler (see dag.h).
 * Calls only libc, base/err and base/mem.
 */
#include "pipeline/dag.h"
#include "base/mem.h"

#include <stdint.h>
#include <string.h>

int sw_dag_init(struct sw_dag *d, size_t n, const size_t *const *deps, const size_t *ndeps, struct sw_err *err)
{
	size_t i, k, nedges = 0;
	size_t *fill;

	memset(d, 0, sizeof(*d));
	for (i = 0; i < n; i++) {
		for (k = 0; k < ndeps[i]; k++)
			if (deps[i][k] >= i)
				return sw_err_set(err, SW_EINTERNAL,
						  "job %zu needs job %zu, which is not before it in topological order", i,
						  deps[i][k]);
		if (ndeps[i] > SIZE_MAX / 2 - nedges)
			return sw_err_set(err, SW_EINTERNAL, "too many dependencies");
		nedges += ndeps[i];
	}
	d->n = n;
	d->state = sw_xcalloc(n ? n : 1, sizeof(*d->state));
	d->waiting = sw_xcalloc(n ? n : 1, sizeof(*d->waiting));
	d->blocker = sw_xmallocarray(n ? n : 1, sizeof(*d->blocker));
	d->ready = sw_xmallocarray(n ? n : 1, sizeof(*d->ready));
	d->stack = sw_xmallocarray(n ? n : 1, sizeof(*d->stack));
	d->out_off = sw_xcalloc(n + 1, sizeof(*d->out_off));
	d->out = sw_xmallocarray(nedges ? nedges : 1, sizeof(*d->out));
	/* Compressed rows of dependents: count, prefix-sum, fill. */
	for (i = 0; i < n; i++)
		for (k = 0; k < ndeps[i]; k++)
			d->out_off[deps[i][k] + 1]++;
	for (i = 0; i < n; i++)
		d->out_off[i + 1] += d->out_off[i];
	fill = sw_xmallocarray(n ? n : 1, sizeof(*fill));
	memcpy(fill, d->out_off, n * sizeof(*fill));
	for (i = 0; i < n; i++) {
		d->blocker[i] = SW_DAG_NONE;
		for (k = 0; k < ndeps[i]; k++)
			d->out[fill[deps[i][k]]++] = i;
	}
	free(fill);
	return 0;
}

void sw_dag_release(struct sw_dag *d)
{
	free(d->state);
	free(d->waiting);
	free(d->blocker);
	free(d->ready);
	free(d->stack);
	free(d->out_off);
	free(d->out);
	memset(d, 0, sizeof(*d));
}

void sw_dag_select(struct sw_dag *d, size_t i, const size_t *const *deps, const size_t *ndeps)
{
	size_t top = 0, k;

	SW_BUG_ON(i >= d->n);
	if (d->state[i] != SW_DAG_UNSELECTED)
		return;
	d->state[i] = SW_DAG_PENDING;
	d->selected++;
	d->stack[top++] = i;
	while (top > 0) {
		size_t j = d->stack[--top];

		for (k = 0; k < ndeps[j]; k++) {
			size_t dep = deps[j][k];

			if (d->state[dep] == SW_DAG_UNSELECTED) {
				d->state[dep] = SW_DAG_PENDING;
				d->selected++;
				d->stack[top++] = dep;
			}
		}
	}
}

void sw_dag_select_all(struct sw_dag *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (d->state[i] == SW_DAG_UNSELECTED) {
			d->state[i] = SW_DAG_PENDING;
			d->selected++;
		}
}

static void sw_dag_push_ready(struct sw_dag *d, size_t i)
{
	d->state[i] = SW_DAG_READY;
	d->ready[d->ready_tail++] = i;
}

void sw_dag_start(struct sw_dag *d, size_t max_running, bool keep_going)
{
	size_t i, k;

	d->max_running = max_running ? max_running : 1;
	d->keep_going = keep_going;
	/* A selected node's dependencies are all selected (sw_dag_select). */
	for (i = 0; i < d->n; i++) {
		if (d->state[i] == SW_DAG_UNSELECTED)
			continue;
		for (k = d->out_off[i]; k < d->out_off[i + 1]; k++)
			if (d->state[d->out[k]] != SW_DAG_UNSELECTED)
				d->waiting[d->out[k]]++;
	}
	for (i = 0; i < d->n; i++)
		if (d->state[i] == SW_DAG_PENDING && d->waiting[i] == 0)
			sw_dag_push_ready(d, i);
}

size_t sw_dag_next(struct sw_dag *d)
{
	size_t i;

	if (d->stopped || d->running >= d->max_running || d->ready_head == d->ready_tail)
		return SW_DAG_NONE;
	i = d->ready[d->ready_head++];
	d->state[i] = SW_DAG_RUNNING;
	d->running++;
	return i;
}

/* Mark every not-started node `to` (SKIPPED or CANCELED). */
static void sw_dag_stop(struct sw_dag *d, enum sw_dag_state to, size_t blocker)
{
	size_t i;

	d->stopped = true;
	for (i = 0; i < d->n; i++) {
		if (d->state[i] == SW_DAG_PENDING || d->state[i] == SW_DAG_READY) {
			d->state[i] = to;
			d->blocker[i] = blocker;
			d->finished++;
		}
	}
	d->ready_head = d->ready_tail;
}

/* Skip everything that needs i, transitively (each node visited once). */
static void sw_dag_skip_dependents(struct sw_dag *d, size_t i)
{
	size_t top = 0, k;

	d->stack[top++] = i;
	while (top > 0) {
		size_t j = d->stack[--top];

		for (k = d->out_off[j]; k < d->out_off[j + 1]; k++) {
			size_t dep = d->out[k];

			if (d->state[dep] == SW_DAG_PENDING) {
				d->state[dep] = SW_DAG_SKIPPED;
				d->blocker[dep] = i;
				d->finished++;
				d->stack[top++] = dep;
			}
		}
	}
}

void sw_dag_finish(struct sw_dag *d, size_t i, enum sw_dag_state result)
{
	size_t k;

	SW_BUG_ON(i >= d->n || d->state[i] != SW_DAG_RUNNING);
	SW_BUG_ON(result != SW_DAG_PASSED && result != SW_DAG_FAILED && result != SW_DAG_CANCELED);
	d->state[i] = result;
	d->running--;
	d->finished++;
	if (result == SW_DAG_PASSED) {
		for (k = d->out_off[i]; k < d->out_off[i + 1]; k++) {
			size_t j = d->out[k];

			if (d->state[j] == SW_DAG_PENDING && --d->waiting[j] == 0)
				sw_dag_push_ready(d, j);
		}
		return;
	}
	if (result == SW_DAG_CANCELED) {
		sw_dag_cancel(d);
		return;
	}
	sw_dag_skip_dependents(d, i);
	if (!d->keep_going)
		sw_dag_stop(d, SW_DAG_SKIPPED, SW_DAG_NONE); /* not waiting for i: no blocker */
}

void sw_dag_cancel(struct sw_dag *d)
{
	sw_dag_stop(d, SW_DAG_CANCELED, SW_DAG_NONE);
}

bool sw_dag_done(const struct sw_dag *d)
{
	return d->finished == d->selected;
}

const char *sw_dag_state_name(enum sw_dag_state s)
{
	static const char *const names[] = {
		[SW_DAG_UNSELECTED] = "unselected", [SW_DAG_PENDING] = "pending", [SW_DAG_READY] = "ready",
		[SW_DAG_RUNNING] = "running",       [SW_DAG_PASSED] = "passed",   [SW_DAG_FAILED] = "failed",
		[SW_DAG_SKIPPED] = "skipped",       [SW_DAG_CANCELED] = "canceled",
	};

	return (unsigned)s < SW_ARRAY_LEN(names) ? names[s] : "unknown";
}
