/*
 * dag.h - the step graph: edges from `needs`, cycle reports, layers and
 * ready-set iteration for the scheduler.
 */
#ifndef RUNBOOK_DAG_H
#define RUNBOOK_DAG_H

#include "runbook/model.h"

struct rb_dag {
	size_t n;		/* number of steps */
	size_t **succ;		/* succ[i]: steps that need step i */
	size_t *nsucc;
	size_t *npred;		/* how many steps step i needs */
	size_t *layer;		/* 0 for roots; 1 + max(layer of needs) */
	size_t nlayers;
	size_t *topo;		/* a topological order (file order on ties) */
};
#define RB_DAG_INIT { 0, NULL, NULL, NULL, NULL, 0, NULL }

/*
 * Build the graph of steps[0..n-1] from their resolved need_idx. A cycle is
 * reported in diags with its path ("dependency cycle: a -> b -> a") at the
 * location of the first step on it. Returns 0 or RB_EINVAL.
 */
int rb_dag_build(struct rb_dag *out, const struct rb_step *steps, size_t n,
    struct rb_diags *diags);
void rb_dag_release(struct rb_dag *dag);

/*
 * Ready-set iteration. A step becomes ready when every step it needs is
 * done (succeeded, skipped, or failed with continue_on_error: the caller
 * decides what counts). Ready steps come out in file order.
 */
struct rb_dag_iter {
	const struct rb_dag *dag;
	size_t *waiting;	/* unfinished needs per step */
	size_t *heap;		/* ready steps, min-heap by index */
	size_t nheap;
	size_t ndone;
};

void rb_dag_iter_init(struct rb_dag_iter *it, const struct rb_dag *dag);
/* Take the next ready step into *out; false when none is ready now. */
bool rb_dag_iter_next(struct rb_dag_iter *it, size_t *out);
/* Mark step i finished; its dependents may become ready. */
void rb_dag_iter_done(struct rb_dag_iter *it, size_t i);
/* Whether every step has been marked done. */
bool rb_dag_iter_finished(const struct rb_dag_iter *it);
void rb_dag_iter_release(struct rb_dag_iter *it);

/* Whether step a is an ancestor of (transitively needed by) step b. */
bool rb_dag_is_ancestor(const struct rb_dag *dag, size_t a, size_t b);

#endif
