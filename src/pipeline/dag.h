/*
 * dag.h - the job scheduler: which job may start next, and what a finished
 * job means for the ones that need it. No processes here, only bookkeeping,
 * so that it can be tested on its own.
 *
 * Nodes are 0..n-1 with dependency lists in topological order (every
 * dependency index is lower than the node's own, as the spec loader
 * guarantees; anything else is refused, which also rules out cycles).
 * Scheduling is O(nodes + edges): each node keeps a counter of unfinished
 * dependencies and enters a FIFO of ready nodes when it drops to zero.
 *
 * Policy when a node fails:
 *   default     stop starting new nodes; running ones finish; every node not
 *               started yet is SKIPPED (like make without -k).
 *   keep_going  only the nodes that (transitively) need the failed one are
 *               SKIPPED; independent ones still run (make -k).
 * Cancel: not-started nodes become CANCELED; the caller finishes running
 * nodes with SW_DAG_CANCELED.
 *
 * Calls only libc, base/err and base/mem. sw_dag_release() frees everything.
 */
#ifndef SW_DAG_H
#define SW_DAG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

enum sw_dag_state {
	SW_DAG_UNSELECTED, /* not part of this run */
	SW_DAG_PENDING,    /* waiting for dependencies */
	SW_DAG_READY,      /* in the ready queue */
	SW_DAG_RUNNING,
	SW_DAG_PASSED,
	SW_DAG_FAILED,
	SW_DAG_SKIPPED,    /* a dependency failed, or the run stopped after a failure */
	SW_DAG_CANCELED,
};

#define SW_DAG_NONE ((size_t)-1)

struct sw_dag {
	size_t n;
	enum sw_dag_state *state;
	size_t *waiting;  /* unfinished dependencies */
	size_t *out_off;  /* dependents of i: out[out_off[i] .. out_off[i + 1]) */
	size_t *out;
	size_t *blocker;  /* SKIPPED: the failed node it (transitively) needs; SW_DAG_NONE when the run stopped */
	size_t *ready, ready_head, ready_tail;
	size_t *stack;    /* scratch for traversals */
	size_t max_running, running, selected, finished;
	bool keep_going, stopped;
};

/* deps[i] lists ndeps[i] dependency indices of node i (each < i). */
int sw_dag_init(struct sw_dag *d, size_t n, const size_t *const *deps, const size_t *ndeps, struct sw_err *err);
void sw_dag_release(struct sw_dag *d);
/* Select node i and everything it needs, transitively. */
void sw_dag_select(struct sw_dag *d, size_t i, const size_t *const *deps, const size_t *ndeps);
void sw_dag_select_all(struct sw_dag *d);
/* After selecting: fill the ready queue. max_running >= 1. */
void sw_dag_start(struct sw_dag *d, size_t max_running, bool keep_going);
/* Next node to start (now RUNNING), or SW_DAG_NONE if none may start now. */
size_t sw_dag_next(struct sw_dag *d);
/* A RUNNING node ended with PASSED, FAILED or CANCELED. */
void sw_dag_finish(struct sw_dag *d, size_t i, enum sw_dag_state result);
/* Stop starting nodes; every node not started becomes CANCELED. */
void sw_dag_cancel(struct sw_dag *d);
/* Every selected node has finished (passed, failed, skipped or canceled). */
bool sw_dag_done(const struct sw_dag *d);
const char *sw_dag_state_name(enum sw_dag_state s);

#endif
