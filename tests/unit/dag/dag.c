/* Unit tests for dag/dag.c: edges, cycles, layers, ready-set order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runbook/dag.h"

void test_dag_dag__layers_and_order(void);
void test_dag_dag__cycle_path(void);
void test_dag_dag__ready_set(void);
void test_dag_dag__large_chain(void);

/* Steps s0..s(n-1) with the needs given as index lists (-1 ends a list). */
static struct rb_step *
make_steps(size_t n, const int needs[][4])
{
	struct rb_step *s = calloc(n, sizeof(*s));
	size_t i, j;

	for (i = 0; i < n; i++) {
		char id[32];

		snprintf(id, sizeof(id), "s%zu", i);
		s[i].id = strdup(id);
		s[i].loc.file = "t.yaml";
		s[i].loc.line = (int)i + 1;
		s[i].loc.col = 5;
		s[i].need_idx = calloc(4, sizeof(size_t));
		for (j = 0; j < 4 && needs[i][j] >= 0; j++)
			s[i].need_idx[s[i].nneed_idx++] = (size_t)needs[i][j];
	}
	return s;
}

static void
free_steps(struct rb_step *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(s[i].id);
		free(s[i].need_idx);
	}
	free(s);
}

void
test_dag_dag__layers_and_order(void)
{
	/* s0, s1 roots; s2 needs both; s3 needs s2; s4 needs s0 */
	const int needs[5][4] = { { -1 }, { -1 }, { 0, 1, -1 }, { 2, -1 },
		{ 0, -1 } };
	struct rb_step *s = make_steps(5, needs);
	struct rb_dag dag = RB_DAG_INIT;
	struct rb_diags d = RB_DIAGS_INIT;

	T_EQ_INT(rb_dag_build(&dag, s, 5, &d), 0);
	T_EQ_INT(dag.nlayers, 3);
	T_EQ_INT(dag.layer[0], 0);
	T_EQ_INT(dag.layer[1], 0);
	T_EQ_INT(dag.layer[2], 1);
	T_EQ_INT(dag.layer[3], 2);
	T_EQ_INT(dag.layer[4], 1);
	T_EQ_INT(dag.topo[0], 0);
	T_EQ_INT(dag.topo[1], 1);
	T_ASSERT(rb_dag_is_ancestor(&dag, 0, 3));
	T_ASSERT(!rb_dag_is_ancestor(&dag, 4, 3));
	rb_dag_release(&dag);
	rb_diags_release(&d);
	free_steps(s, 5);
}

void
test_dag_dag__cycle_path(void)
{
	/* s0 root; s1 needs s3; s2 needs s1; s3 needs s2: s1 -> s3 -> s2 */
	const int needs[4][4] = { { -1 }, { 3, -1 }, { 1, -1 }, { 2, -1 } };
	struct rb_step *s = make_steps(4, needs);
	struct rb_dag dag = RB_DAG_INIT;
	struct rb_diags d = RB_DIAGS_INIT;

	T_EQ_INT(rb_dag_build(&dag, s, 4, &d), RB_EINVAL);
	T_EQ_INT(d.nerrors, 1);
	T_CONTAINS(d.v[0].msg, "dependency cycle: ");
	T_CONTAINS(d.v[0].msg, "s1 -> s3 -> s2 -> s1");
	rb_diags_release(&d);
	free_steps(s, 4);
}

void
test_dag_dag__ready_set(void)
{
	const int needs[4][4] = { { -1 }, { 0, -1 }, { 0, -1 }, { 1, 2, -1 } };
	struct rb_step *s = make_steps(4, needs);
	struct rb_dag dag = RB_DAG_INIT;
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_dag_iter it;
	size_t i;

	T_EQ_INT(rb_dag_build(&dag, s, 4, &d), 0);
	rb_dag_iter_init(&it, &dag);
	T_ASSERT(rb_dag_iter_next(&it, &i));
	T_EQ_INT(i, 0);
	T_ASSERT(!rb_dag_iter_next(&it, &i));
	rb_dag_iter_done(&it, 0);
	T_ASSERT(rb_dag_iter_next(&it, &i));
	T_EQ_INT(i, 1);
	T_ASSERT(rb_dag_iter_next(&it, &i));
	T_EQ_INT(i, 2);
	rb_dag_iter_done(&it, 2);
	T_ASSERT(!rb_dag_iter_next(&it, &i));
	rb_dag_iter_done(&it, 1);
	T_ASSERT(rb_dag_iter_next(&it, &i));
	T_EQ_INT(i, 3);
	rb_dag_iter_done(&it, 3);
	T_ASSERT(rb_dag_iter_finished(&it));
	rb_dag_iter_release(&it);
	rb_dag_release(&dag);
	rb_diags_release(&d);
	free_steps(s, 4);
}

void
test_dag_dag__large_chain(void)
{
	size_t n = 10000, i;
	struct rb_step *s = calloc(n, sizeof(*s));
	struct rb_dag dag = RB_DAG_INIT;
	struct rb_diags d = RB_DIAGS_INIT;

	for (i = 0; i < n; i++) {
		s[i].id = (char *)"x";
		s[i].need_idx = calloc(1, sizeof(size_t));
		if (i > 0)
			s[i].need_idx[s[i].nneed_idx++] = i - 1;
	}
	T_EQ_INT(rb_dag_build(&dag, s, n, &d), 0);
	T_EQ_INT(dag.nlayers, n);
	T_EQ_INT(dag.topo[n - 1], n - 1);
	rb_dag_release(&dag);
	for (i = 0; i < n; i++)
		free(s[i].need_idx);
	free(s);
}
