/*
 * dag.c - the step graph built from `needs`: cycle detection with the
 * cycle's path, topological layers, and the ready set the scheduler draws
 * from. All of it is linear in steps + edges, so a 10,000-step runbook costs
 * nothing noticeable.
 */
#include <stdlib.h>
#include <string.h>

#include "runbook/dag.h"
#include "runbook/error.h"
#include "runbook/banned.h"

void
rb_dag_release(struct rb_dag *dag)
{
	size_t i;

	if (dag == NULL)
		return;
	for (i = 0; i < dag->n && dag->succ != NULL; i++)
		free(dag->succ[i]);
	free(dag->succ);
	free(dag->nsucc);
	free(dag->npred);
	free(dag->layer);
	free(dag->topo);
	memset(dag, 0, sizeof(*dag));
}

/* Report the cycle that closes at `to`, walking the DFS stack back. */
static void
report_cycle(const struct rb_step *steps, const size_t *stack, size_t depth,
    size_t to, struct rb_diags *diags)
{
	struct rb_buf path = RB_BUF_INIT;
	size_t k = depth;

	while (k > 0 && stack[k - 1] != to)
		k--;
	if (k > 0)
		k--;
	for (; k < depth; k++)
		rb_buf_addf(&path, "%s -> ", steps[stack[k]].id);
	rb_buf_adds(&path, steps[to].id);
	rb_diag_error(diags, &steps[to].loc, "dependency cycle: %s", path.buf);
	rb_diag_hint(diags, "remove one of these 'needs' so the steps can run "
	    "in some order");
	rb_buf_release(&path);
}

/*
 * Iterative three-colour DFS over the `needs` edges (from a step to what it
 * needs). Every back edge is a cycle; each is reported once.
 */
static int
find_cycles(const struct rb_step *steps, size_t n, struct rb_diags *diags)
{
	/* colour: 0 new, 1 open, 2 done */
	unsigned char *colour = xcalloc(n ? n : 1, 1);
	size_t *stack = xcalloc(n ? n : 1, sizeof(*stack));
	size_t *edge = xcalloc(n ? n : 1, sizeof(*edge));
	size_t root, depth;
	int r = 0;

	for (root = 0; root < n; root++) {
		if (colour[root] != 0)
			continue;
		depth = 0;
		stack[depth] = root;
		edge[depth++] = 0;
		colour[root] = 1;
		while (depth > 0) {
			size_t v = stack[depth - 1];
			const struct rb_step *s = &steps[v];

			if (edge[depth - 1] < s->nneed_idx) {
				size_t w = s->need_idx[edge[depth - 1]++];

				if (w >= n)
					continue;
				if (colour[w] == 1) {
					report_cycle(steps, stack, depth, w,
					    diags);
					r = RB_EINVAL;
				} else if (colour[w] == 0) {
					colour[w] = 1;
					stack[depth] = w;
					edge[depth++] = 0;
				}
				continue;
			}
			colour[v] = 2;
			depth--;
		}
	}
	free(colour);
	free(stack);
	free(edge);
	return r;
}

int
rb_dag_build(struct rb_dag *out, const struct rb_step *steps, size_t n,
    struct rb_diags *diags)
{
	struct rb_dag dag = RB_DAG_INIT;
	struct rb_dag_iter it;
	size_t i, j, k, *alloc = NULL;
	int r;

	if ((r = find_cycles(steps, n, diags)) != 0)
		return r;
	dag.n = n;
	dag.succ = xcalloc(n ? n : 1, sizeof(*dag.succ));
	dag.nsucc = xcalloc(n ? n : 1, sizeof(*dag.nsucc));
	dag.npred = xcalloc(n ? n : 1, sizeof(*dag.npred));
	dag.layer = xcalloc(n ? n : 1, sizeof(*dag.layer));
	dag.topo = xcalloc(n ? n : 1, sizeof(*dag.topo));
	alloc = xcalloc(n ? n : 1, sizeof(*alloc));
	for (i = 0; i < n; i++) {
		for (j = 0; j < steps[i].nneed_idx; j++) {
			size_t p = steps[i].need_idx[j];
			bool dup = false;

			if (p >= n)
				RB_BUG("need index out of range");
			for (k = 0; k < dag.nsucc[p]; k++)
				if (dag.succ[p][k] == i)
					dup = true;
			if (dup)
				continue;
			RB_ALLOC_GROW(dag.succ[p], dag.nsucc[p] + 1, alloc[p]);
			dag.succ[p][dag.nsucc[p]++] = i;
			dag.npred[i]++;
		}
	}
	free(alloc);

	/* Kahn's algorithm in file order gives topo order and layers. */
	rb_dag_iter_init(&it, &dag);
	k = 0;
	while (rb_dag_iter_next(&it, &i)) {
		dag.topo[k++] = i;
		for (j = 0; j < dag.nsucc[i]; j++) {
			size_t s = dag.succ[i][j];

			if (dag.layer[s] < dag.layer[i] + 1)
				dag.layer[s] = dag.layer[i] + 1;
		}
		if (dag.layer[i] + 1 > dag.nlayers)
			dag.nlayers = dag.layer[i] + 1;
		rb_dag_iter_done(&it, i);
	}
	rb_dag_iter_release(&it);
	if (k != n)
		RB_BUG("cycle not caught by find_cycles");
	*out = dag;
	return 0;
}

/* Binary min-heap of step indices: ready steps leave in file order. */
static void
heap_push(struct rb_dag_iter *it, size_t v)
{
	size_t i = it->nheap++;

	while (i > 0 && it->heap[(i - 1) / 2] > v) {
		it->heap[i] = it->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	it->heap[i] = v;
}

static size_t
heap_pop(struct rb_dag_iter *it)
{
	size_t top = it->heap[0], last = it->heap[--it->nheap], i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= it->nheap)
			break;
		if (c + 1 < it->nheap && it->heap[c + 1] < it->heap[c])
			c++;
		if (it->heap[c] >= last)
			break;
		it->heap[i] = it->heap[c];
		i = c;
	}
	if (it->nheap > 0)
		it->heap[i] = last;
	return top;
}

void
rb_dag_iter_init(struct rb_dag_iter *it, const struct rb_dag *dag)
{
	size_t i, n = dag->n;

	it->dag = dag;
	it->waiting = xcalloc(n ? n : 1, sizeof(*it->waiting));
	it->heap = xcalloc(n ? n : 1, sizeof(*it->heap));
	it->nheap = 0;
	it->ndone = 0;
	for (i = 0; i < n; i++) {
		it->waiting[i] = dag->npred[i];
		if (it->waiting[i] == 0)
			heap_push(it, i);
	}
}

bool
rb_dag_iter_next(struct rb_dag_iter *it, size_t *out)
{
	if (it->nheap == 0)
		return false;
	*out = heap_pop(it);
	return true;
}

void
rb_dag_iter_done(struct rb_dag_iter *it, size_t i)
{
	size_t j;

	it->ndone++;
	for (j = 0; j < it->dag->nsucc[i]; j++) {
		size_t s = it->dag->succ[i][j];

		if (it->waiting[s] == 0)
			RB_BUG("step finished twice");
		if (--it->waiting[s] == 0)
			heap_push(it, s);
	}
}

bool
rb_dag_iter_finished(const struct rb_dag_iter *it)
{
	return it->ndone >= it->dag->n;
}

void
rb_dag_iter_release(struct rb_dag_iter *it)
{
	if (it == NULL)
		return;
	free(it->waiting);
	free(it->heap);
	it->waiting = NULL;
	it->heap = NULL;
	it->nheap = 0;
}

bool
rb_dag_is_ancestor(const struct rb_dag *dag, size_t a, size_t b)
{
	unsigned char *seen;
	size_t *stack, n = 0, i;
	bool found = false;

	if (a == b || a >= dag->n || b >= dag->n)
		return false;
	seen = xcalloc(dag->n, 1);
	stack = xcalloc(dag->n, sizeof(*stack));
	stack[n++] = a;
	seen[a] = 1;
	while (n > 0 && !found) {
		size_t v = stack[--n];

		for (i = 0; i < dag->nsucc[v]; i++) {
			size_t w = dag->succ[v][i];

			if (w == b) {
				found = true;
				break;
			}
			if (!seen[w]) {
				seen[w] = 1;
				stack[n++] = w;
			}
		}
	}
	free(seen);
	free(stack);
	return found;
}
