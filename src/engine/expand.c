/*
 * expand.c - turning a runbook and the runbooks its `runbook:` steps call
 * into one DAG for the run.
 *
 * A `runbook: NAME` step becomes two nodes: a start node (it renders the
 * step's with: values and resolves the called runbook's params) and an end
 * node that waits for every step of the called runbook. Those steps sit in
 * between, with ids prefixed by the calling step ("resolve/db-ready"), so
 * events, the journal and resume all see inside the call, and each step is
 * evaluated in the scope (params, steps.*) of its own runbook.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "runbook/banned.h"

#define MAX_DEPTH 16

static size_t
add_node(struct engine *e, const struct rb_step *s, const char *prefix,
    enum node_kind kind, struct frame *f)
{
	size_t g = e->nx;

	if (e->nx + 1 > e->ax) {
		size_t a = e->ax;

		e->xsteps = xgrow(e->xsteps, &a, e->nx + 1, sizeof(*e->xsteps));
		e->xkind = xrealloc(e->xkind, a * sizeof(*e->xkind));
		e->xframe = xrealloc(e->xframe, a * sizeof(*e->xframe));
		e->xchild = xrealloc(e->xchild, a * sizeof(*e->xchild));
		e->ax = a;
	}
	e->xsteps[g] = *s;
	e->xsteps[g].id = xstrfmt("%s%s", prefix, s->id);
	e->xsteps[g].need_idx = NULL;
	e->xsteps[g].nneed_idx = 0;
	if (kind == NODE_SUB_START)
		e->xsteps[g].rollback = NULL;
	e->xkind[g] = kind;
	e->xframe[g] = f;
	e->xchild[g] = NULL;
	e->nx++;
	return g;
}

static void
add_need(struct rb_step *s, size_t need)
{
	size_t i;

	for (i = 0; i < s->nneed_idx; i++)
		if (s->need_idx[i] == need)
			return;
	s->need_idx = xrealloc(s->need_idx,
	    (s->nneed_idx + 1) * sizeof(*s->need_idx));
	s->need_idx[s->nneed_idx++] = need;
}

static struct frame *
new_frame(struct engine *e, const struct rb_runbook *rb, const char *prefix,
    struct frame *parent, size_t start_node)
{
	struct frame *f = xcalloc(1, sizeof(*f));

	f->e = e;
	f->rb = rb;
	f->prefix = xstrdup(prefix);
	f->parent = parent;
	f->start_node = start_node;
	f->scope = e->scope;
	f->scope.rb = rb;
	f->scope.step_payload = f;
	if (parent != NULL)
		f->scope.params = &f->params;
	RB_ALLOC_GROW(e->frames, e->nframes + 1, e->aframes);
	e->frames[e->nframes++] = f;
	return f;
}

/*
 * Expand the steps of frame f into the run's DAG: each local step's start
 * node waits for the end nodes of what it needs. Returns 0 or an error in
 * err.
 */
static int
expand(struct engine *e, struct frame *f, int depth, struct rb_error *err)
{
	const struct rb_runbook *rb = f->rb;
	size_t *start = xcalloc(rb->nsteps ? rb->nsteps : 1, sizeof(*start));
	size_t *end = xcalloc(rb->nsteps ? rb->nsteps : 1, sizeof(*end));
	size_t i, j;
	int r = 0;

	if (depth > MAX_DEPTH) {
		r = rb_error_set(err, RB_EINVAL, "runbooks call each other "
		    "more than %d deep at '%s'", MAX_DEPTH, rb->name);
		goto out;
	}
	for (i = 0; i < rb->nsteps && r == 0; i++) {
		const struct rb_step *s = &rb->steps[i];
		struct rb_runbook *sub = NULL;
		struct rb_diags d = RB_DIAGS_INIT;
		struct frame *child;
		char *path = NULL, *prefix;
		size_t k, first;

		if (s->action != RB_ACT_RUNBOOK) {
			start[i] = end[i] = add_node(e, s, f->prefix, NODE_STEP,
			    f);
			continue;
		}
		if ((r = rb_runbook_find_from(&path, s->sub_runbook, rb->path,
		    err)) != 0)
			break;
		if (rb_runbook_load(&sub, path, 0, &d) != 0) {
			r = rb_error_set(err, RB_EINVAL, "runbook '%s' called "
			    "by step '%s' has errors", s->sub_runbook, s->id);
			rb_error_hint(err, "run 'runbook validate %s'", path);
			rb_diags_release(&d);
			free(path);
			break;
		}
		rb_diags_release(&d);
		free(path);
		start[i] = add_node(e, s, f->prefix, NODE_SUB_START, f);
		prefix = xstrfmt("%s%s/", f->prefix, s->id);
		child = new_frame(e, sub, prefix, f, start[i]);
		child->owned = sub;
		free(prefix);
		e->xchild[start[i]] = child;
		first = e->nx;
		r = expand(e, child, depth + 1, err);
		end[i] = add_node(e, s, f->prefix, NODE_SUB_END, f);
		e->xchild[end[i]] = child;
		/* The end waits for the child's sinks (or its start). */
		for (k = first; k < end[i]; k++) {
			bool sink = true;

			for (j = first; j < end[i] && sink; j++) {
				size_t n;

				for (n = 0; n < e->xsteps[j].nneed_idx; n++)
					if (e->xsteps[j].need_idx[n] == k)
						sink = false;
			}
			if (sink && e->xframe[k] == child)
				add_need(&e->xsteps[end[i]], k);
		}
		if (e->xsteps[end[i]].nneed_idx == 0)
			add_need(&e->xsteps[end[i]], start[i]);
	}
	if (r != 0)
		goto out;
	/* Wire the local needs; roots of a child wait for its start node. */
	for (i = 0; i < rb->nsteps; i++) {
		const struct rb_step *s = &rb->steps[i];

		for (j = 0; j < s->nneed_idx; j++) {
			add_need(&e->xsteps[start[i]], end[s->need_idx[j]]);
		}
		if (s->nneed_idx == 0 && f->parent != NULL)
			add_need(&e->xsteps[start[i]], f->start_node);
	}
out:
	free(start);
	free(end);
	return r;
}

int
engine_expand(struct engine *e, struct rb_error *err)
{
	struct frame *root = new_frame(e, e->rb, "", NULL, (size_t)-1);

	root->scope.params = e->params;
	return expand(e, root, 0, err);
}

void
engine_expand_release(struct engine *e)
{
	size_t i;

	for (i = 0; i < e->nx; i++) {
		free(e->xsteps[i].id);
		free(e->xsteps[i].need_idx);
	}
	free(e->xsteps);
	free(e->xkind);
	free(e->xframe);
	free(e->xchild);
	for (i = 0; i < e->nframes; i++) {
		struct frame *f = e->frames[i];

		rb_params_release(&f->params);
		rb_runbook_free(f->owned);
		free(f->prefix);
		free(f);
	}
	free(e->frames);
	e->xsteps = NULL;
	e->frames = NULL;
	e->nx = e->nframes = 0;
}

/*
 * Start node: render the with: values in the caller's scope and resolve
 * the called runbook's params from them. Returns 0, or an error in err.
 */
int
engine_sub_start(struct task *t, struct rb_error *err)
{
	struct frame *child = t->child;
	const struct rb_step *s = t->step;
	struct rb_strvec kv = RB_STRVEC_INIT;
	struct rb_buf v = RB_BUF_INIT;
	struct rb_diags d = RB_DIAGS_INIT;
	size_t i;
	int r = 0;

	for (i = 0; i < s->nwith && r == 0; i++) {
		rb_buf_reset(&v);
		if ((r = rb_render_text(&v, s->with[i].value, t->scope, false,
		    err)) == 0)
			rb_strvec_pushf(&kv, "%s=%s", s->with[i].key, v.buf);
	}
	if (r == 0 && rb_params_resolve(&child->params, child->rb,
	    (const char *const *)kv.v, kv.nr, &d) != 0) {
		r = rb_error_set(err, RB_EINVAL, "runbook '%s': %s",
		    child->rb->name, d.nr ? d.v[0].msg : "bad params");
		child->failed = true;
	}
	rb_diags_release(&d);
	rb_buf_release_secret(&v);
	rb_strvec_release_secret(&kv);
	return r;
}

/* Whether f or a frame that called it was skipped. */
bool
engine_frame_skipped(const struct frame *f)
{
	for (; f != NULL; f = f->parent)
		if (f->skipped)
			return true;
	return false;
}
