/*
 * parse_names.c - what refers to what in a runbook: step ids (duplicates),
 * needs (resolved to indices, cycles reported with their path), and every
 * name used in templates and expressions (params., steps.ID., alert., ...)
 * checked against what the step can see when it runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runbook/util.h"
#include "runbook/strvec.h"
#include "parse/parse_int.h"
#include "runbook/dag.h"
#include "runbook/banned.h"

/* Step ids and needs */

static int
cmp_id_ent(const void *pa, const void *pb)
{
	const struct id_ent *a = pa, *b = pb;
	int c = strcmp(a->id, b->id);

	if (c != 0)
		return c;
	if (a->loc.line != b->loc.line)
		return a->loc.line < b->loc.line ? -1 : 1;
	if (a->loc.col != b->loc.col)
		return a->loc.col < b->loc.col ? -1 : 1;
	return 0;
}

static int
cmp_id_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct id_ent *)elem)->id);
}

/* The first (in file order) step with this id, or NULL. */
static const struct id_ent *
find_id(const struct rbp *p, const char *id)
{
	const struct id_ent *e;

	if (p->nids == 0)
		return NULL;
	e = bsearch(id, p->ids, p->nids, sizeof(*p->ids), cmp_id_key);
	while (e != NULL && e > p->ids && strcmp(e[-1].id, id) == 0)
		e--;
	return e;
}

/* Index every step id and report duplicates. */
void
rbp_index_ids(struct rbp *p)
{
	struct rb_runbook *rb = p->rb;
	size_t i, n = 0;

	p->ids = xcalloc(rb->nsteps + rb->non_failure + 1, sizeof(*p->ids));
	for (i = 0; i < rb->nsteps; i++) {
		if (rb->steps[i].id == NULL)
			continue;
		p->ids[n].id = rb->steps[i].id;
		p->ids[n].idx = i;
		p->ids[n].loc = rb->steps[i].loc;
		n++;
	}
	for (i = 0; i < rb->non_failure; i++) {
		if (rb->on_failure[i].id == NULL)
			continue;
		p->ids[n].id = rb->on_failure[i].id;
		p->ids[n].idx = i;
		p->ids[n].fail = true;
		p->ids[n].loc = rb->on_failure[i].loc;
		n++;
	}
	p->nids = n;
	qsort(p->ids, n, sizeof(*p->ids), cmp_id_ent);
	for (i = 1; i < n; i++) {
		const struct id_ent *e = &p->ids[i];
		const struct id_ent *first = find_id(p, e->id);
		const struct rb_step *s =
		    e->fail ? &rb->on_failure[e->idx] : &rb->steps[e->idx];
		const struct rb_node *idn;
		struct rb_qbuf qb;

		if (first == e)
			continue;
		idn = rb_node_get(
		    e->fail ? p->faux[e->idx].node : p->aux[e->idx].node, "id");
		rb_diag_error(p->d, idn != NULL ? &idn->loc : &s->loc,
		    "duplicate step id '%s' (first at line %d)",
		    rb_qstr(&qb, e->id, strlen(e->id)), first->loc.line);
		rb_diag_hint(p->d,
		    "step ids must be unique in a file, "
		    "on_failure steps included");
	}
}

/* Every step id of one list, for "did you mean". */
static const char **
id_list(const struct rb_step *steps, size_t n)
{
	const char **v = xcalloc(n + 1, sizeof(*v));
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = steps[i].id;
	return v;
}

/*
 * Report dependency cycles with their path, together with every other
 * problem of the file (the DAG module finds them).
 */
void
rbp_check_cycles(struct rbp *p, const struct rb_step *steps, size_t n)
{
	struct rb_dag dag = RB_DAG_INIT;
	size_t i;

	for (i = 0; i < n; i++)
		if (steps[i].id == NULL)
			return;
	if (rb_dag_build(&dag, steps, n, p->d) == 0)
		rb_dag_release(&dag);
}

/* Fill need_idx of every step of one list (indices into that list). */
void
rbp_resolve_needs(struct rbp *p, struct rb_step *steps, size_t n,
    struct step_aux *aux, bool fail)
{
	const char **names = id_list(steps, n);
	size_t i, j, k;

	for (i = 0; i < n; i++) {
		struct rb_step *s = &steps[i];
		const struct rb_node *nn = aux[i].needs;

		if (!s->needs_given) {
			if (i > 0) {
				s->need_idx = xcalloc(1, sizeof(*s->need_idx));
				s->need_idx[0] = i - 1;
				s->nneed_idx = 1;
			}
			continue;
		}
		s->need_idx = xcalloc(s->nneeds + 1, sizeof(*s->need_idx));
		for (j = 0; j < s->nneeds; j++) {
			const struct id_ent *e = find_id(p, s->needs[j]);
			const struct rb_node *at = nn;
			const struct rb_loc *atl;
			struct rb_buf msg = RB_BUF_INIT;
			struct rb_qbuf qa, qb;

			/* The item's own position when needs is a list. */
			if (nn != NULL && nn->kind == RB_NODE_SEQ) {
				for (k = 0; k < nn->nitems; k++)
					if (nn->items[k]->kind ==
						RB_NODE_SCALAR &&
					    strcmp(nn->items[k]->str,
						s->needs[j]) == 0) {
						at = nn->items[k];
						break;
					}
			}
			atl = at != NULL ? &at->loc : &s->loc;
			rb_qstr(&qa, s->id != NULL ? s->id : "?",
			    s->id != NULL ? strlen(s->id) : 1);
			rb_qstr(&qb, s->needs[j], strlen(s->needs[j]));
			if (e != NULL && e->fail == fail) {
				if (e->idx == i) {
					rb_diag_error(p->d, atl,
					    "step '%s' needs itself", qa.s);
					continue;
				}
				for (k = 0; k < s->nneed_idx; k++)
					if (s->need_idx[k] == e->idx)
						break;
				if (k == s->nneed_idx)
					s->need_idx[s->nneed_idx++] = e->idx;
				continue;
			}
			rb_buf_addf(&msg, "step '%s' needs unknown step '%s'",
			    qa.s, qb.s);
			if (e == NULL)
				parse_suggest(&msg, s->needs[j], names, n);
			rb_diag_error(p->d, atl, "%s", msg.buf);
			if (e != NULL && fail)
				rb_diag_hint(p->d,
				    "on_failure steps run after "
				    "every step has finished; 'needs' names "
				    "other on_failure steps only");
			else if (e != NULL)
				rb_diag_hint(p->d,
				    "on_failure steps run only "
				    "when the run fails; a step cannot wait "
				    "for one");
			rb_buf_release(&msg);
		}
	}
	free(names);
}

/* ------------------------------------------------------------------ */
/* Names in templates and expressions */

static const char *const namespaces[] = { "params", "env", "steps", "alert",
	"run", "host" };
static const char *const step_fields[] = { "ok", "failed", "skipped", "status",
	"exit_code", "stdout", "stderr", "duration_ms", "vars" };
static const char *const run_fields[] = { "id", "runbook", "started_at",
	"trigger" };
static const char *const host_fields[] = { "name", "address" };

#define NAMESPACE_HINT                                                         \
	"names start with params., env., steps., alert., "                     \
	"run. or host."

/* A `| raw` of an outside value in shell text: warn. */
static void
warn_raw(const struct chk *c, const struct rb_name_ref *ref)
{
	struct rb_buf name = RB_BUF_INIT;

	if (!c->shell || !ref->raw)
		return;
	parse_ref_name(&name, ref);
	rb_diag_warn(c->p->d, &ref->loc,
	    "'| raw' passes %s to the shell unquoted", name.buf);
	rb_diag_hint(c->p->d, "drop '| raw' so the value is quoted%s",
	    strcmp(ref->path[0], "params") == 0 ? ", or restrict the param "
						  "with a 'pattern'"
						: "");
	rb_buf_release(&name);
}

/*
 * Whether step target is an ancestor (via need_idx) of step idx. The
 * search stops as soon as it finds target, which is at once for the usual
 * reference to a step just before; visits are marked with a generation
 * number so no per-query clearing is needed (linear runbooks of 10,000
 * steps stay linear).
 */
static bool
is_ancestor(struct rbp *p, const struct rb_step *steps, size_t n, size_t idx,
    size_t target, bool fail)
{
	size_t *stack, depth = 0, i;
	bool found = false;

	if (p->anc == NULL || p->anc_fail != fail || p->anc_idx != n) {
		free(p->anc);
		p->anc = xcalloc(n + 1, sizeof(*p->anc));
		p->anc_fail = fail;
		p->anc_idx = n;
		p->anc_gen = 0;
	}
	if (++p->anc_gen == 0) {
		memset(p->anc, 0, (n + 1) * sizeof(*p->anc));
		p->anc_gen = 1;
	}
	stack = xcalloc(n + 1, sizeof(*stack));
	stack[depth++] = idx;
	while (depth > 0 && !found) {
		const struct rb_step *s = &steps[stack[--depth]];

		for (i = 0; i < s->nneed_idx; i++) {
			size_t w = s->need_idx[i];

			if (w == target) {
				found = true;
				break;
			}
			if (w < n && p->anc[w] != p->anc_gen) {
				p->anc[w] = p->anc_gen;
				stack[depth++] = w;
			}
		}
	}
	free(stack);
	return found;
}

/* Check steps.ID.FIELD[.NAME]. */
static int
resolve_step_ref(
    enum rb_type *out, const struct rb_name_ref *ref, struct chk *c)
{
	struct rbp *p = c->p;
	struct rb_runbook *rb = p->rb;
	const struct id_ent *e;
	const struct rb_step *target, *self;
	struct rb_buf msg = RB_BUF_INIT, name = RB_BUF_INIT;
	struct rb_qbuf qa, qb;
	const char **names;
	size_t i;
	int r = RB_ENOTFOUND;

	parse_ref_name(&name, ref);
	if (c->idx == NONE) {
		rb_diag_error(p->d, &ref->loc,
		    "'%s' cannot be used here: no "
		    "step has run when this is evaluated",
		    name.buf);
		goto out;
	}
	self = c->fail ? &rb->on_failure[c->idx] : &rb->steps[c->idx];
	if (ref->npath < 3) {
		rb_diag_error(
		    p->d, &ref->loc, "incomplete name '%s'", name.buf);
		rb_diag_hint(p->d,
		    "use steps.ID.ok, .failed, .skipped, "
		    ".status, .exit_code, .stdout, .stderr, .duration_ms or "
		    ".vars.NAME");
		goto out;
	}
	e = find_id(p, ref->path[1]);
	if (e == NULL || (e->fail && !c->fail)) {
		rb_qstr(&qa, ref->path[1], strlen(ref->path[1]));
		rb_buf_addf(&msg, "unknown step '%s' in '%s'", qa.s, name.buf);
		if (e == NULL) {
			names = id_list(rb->steps, rb->nsteps);
			parse_suggest(&msg, ref->path[1], names, rb->nsteps);
			free(names);
		}
		rb_diag_error(p->d, &ref->loc, "%s", msg.buf);
		if (e != NULL)
			rb_diag_hint(p->d,
			    "on_failure steps run only when "
			    "the run fails, after every other step");
		goto out;
	}
	target = e->fail ? &rb->on_failure[e->idx] : &rb->steps[e->idx];
	if (!parse_in_list(
		ref->path[2], step_fields, RB_ARRAY_SIZE(step_fields)) ||
	    (strcmp(ref->path[2], "vars") == 0) != (ref->npath == 4) ||
	    ref->npath > 4) {
		const char *s = ref->npath == 3
		    ? rb_suggest(
			  ref->path[2], step_fields, RB_ARRAY_SIZE(step_fields))
		    : NULL;

		rb_buf_addf(&msg, "unknown name '%s'", name.buf);
		if (s != NULL)
			rb_buf_addf(&msg, " (did you mean 'steps.%s.%s'?)",
			    rb_qstr(&qa, ref->path[1], strlen(ref->path[1])),
			    s);
		rb_diag_error(p->d, &ref->loc, "%s", msg.buf);
		rb_diag_hint(p->d,
		    "a step has ok, failed, skipped, status, "
		    "exit_code, stdout, stderr, duration_ms and vars.NAME");
		goto out;
	}
	if (ref->npath == 4) {
		const char **caps =
		    xcalloc(target->ncaptures + 1, sizeof(*caps));

		for (i = 0; i < target->ncaptures; i++)
			caps[i] = target->captures[i].name;
		for (i = 0; i < target->ncaptures; i++)
			if (strcmp(caps[i], ref->path[3]) == 0)
				break;
		if (i == target->ncaptures) {
			rb_buf_addf(&msg, "step '%s' has no capture '%s'",
			    rb_qstr(&qa, target->id, strlen(target->id)),
			    rb_qstr(&qb, ref->path[3], strlen(ref->path[3])));
			parse_suggest(
			    &msg, ref->path[3], caps, target->ncaptures);
			rb_diag_error(p->d, &ref->loc, "%s", msg.buf);
			rb_diag_hint(p->d,
			    "declare it under 'capture:' of step '%s'", qa.s);
			free(caps);
			goto out;
		}
		free(caps);
	}
	if (target == self && !c->self_ok) {
		rb_diag_error(p->d, &ref->loc,
		    "step '%s' cannot use its own result '%s'",
		    rb_qstr(&qa, self->id, strlen(self->id)), name.buf);
		rb_diag_hint(p->d,
		    "only 'until' (and the step's rollback) "
		    "can look at the step's own latest attempt");
		goto out;
	}
	/* A step should wait for the steps whose results it reads. */
	if (target != self && e->fail == c->fail && self->id != NULL) {
		const struct rb_step *arr =
		    c->fail ? rb->on_failure : rb->steps;
		size_t n = c->fail ? rb->non_failure : rb->nsteps;

		for (i = 0; i < p->nwarned; i++)
			if (p->warned[i] == e->idx)
				break;
		if (i == p->nwarned &&
		    !is_ancestor(p, arr, n, c->idx, e->idx, c->fail)) {
			RB_ALLOC_GROW(p->warned, p->nwarned + 1, p->awarned);
			p->warned[p->nwarned++] = e->idx;
			rb_qstr(&qa, self->id, strlen(self->id));
			rb_qstr(&qb, target->id, strlen(target->id));
			rb_diag_warn(p->d, &ref->loc,
			    "step '%s' uses steps.%s "
			    "but does not wait for it: add '%s' to needs",
			    qa.s, qb.s, qb.s);
		}
	}
	if (strcmp(ref->path[2], "ok") == 0 ||
	    strcmp(ref->path[2], "failed") == 0 ||
	    strcmp(ref->path[2], "skipped") == 0)
		*out = RB_TYPE_BOOL;
	else if (strcmp(ref->path[2], "exit_code") == 0 ||
	    strcmp(ref->path[2], "duration_ms") == 0)
		*out = RB_TYPE_NUM;
	else
		*out = RB_TYPE_STR;
	r = 0;
out:
	rb_buf_release(&msg);
	rb_buf_release(&name);
	return r;
}

/* The rb_resolve_fn of runbook files (payload: struct chk). */
static int
resolve_name(enum rb_type *out, const struct rb_name_ref *ref, void *payload)
{
	struct chk *c = payload;
	struct rbp *p = c->p;
	const char *ns;

	*out = RB_TYPE_STR;
	if (ref->npath == 0)
		return parse_unknown_name(
		    p->d, ref, NULL, 0, 0, NAMESPACE_HINT);
	ns = ref->path[0];
	if (strcmp(ns, "params") == 0) {
		const char **names;
		struct rb_buf msg = RB_BUF_INIT;
		struct rb_qbuf qb;
		size_t i;

		if (ref->npath != 2)
			return parse_unknown_name(p->d, ref, NULL, 0, 0,
			    "a param is used as params.NAME");
		if (rb_runbook_param(p->rb, ref->path[1]) != NULL) {
			warn_raw(c, ref);
			return 0;
		}
		names = xcalloc(p->rb->nparams + 1, sizeof(*names));
		for (i = 0; i < p->rb->nparams; i++)
			names[i] = p->rb->params[i].name;
		rb_buf_addf(&msg, "unknown param '%s'",
		    rb_qstr(&qb, ref->path[1], strlen(ref->path[1])));
		parse_suggest(&msg, ref->path[1], names, p->rb->nparams);
		rb_diag_error(p->d, &ref->loc, "%s", msg.buf);
		rb_diag_hint(p->d, "declare it under 'params:'");
		rb_buf_release(&msg);
		free(names);
		return RB_ENOTFOUND;
	}
	if (strcmp(ns, "env") == 0) {
		if (ref->npath != 2)
			return parse_unknown_name(p->d, ref, NULL, 0, 0,
			    "an environment variable is used as env.NAME");
		return 0;
	}
	if (strcmp(ns, "steps") == 0)
		return resolve_step_ref(out, ref, c);
	if (strcmp(ns, "alert") == 0) {
		if (parse_check_alert_ref(p->d, ref) != 0)
			return RB_ENOTFOUND;
		warn_raw(c, ref);
		return 0;
	}
	if (strcmp(ns, "run") == 0) {
		if (ref->npath != 2 ||
		    !parse_in_list(
			ref->path[1], run_fields, RB_ARRAY_SIZE(run_fields)))
			return parse_unknown_name(p->d, ref, run_fields,
			    RB_ARRAY_SIZE(run_fields), 1,
			    "a run has run.id, "
			    "run.runbook, run.started_at and run.trigger");
		return 0;
	}
	if (strcmp(ns, "host") == 0) {
		if (ref->npath != 2 ||
		    !parse_in_list(
			ref->path[1], host_fields, RB_ARRAY_SIZE(host_fields)))
			return parse_unknown_name(p->d, ref, host_fields,
			    RB_ARRAY_SIZE(host_fields), 1,
			    "a host has host.name and host.address");
		if (c->idx == NONE) {
			struct rb_buf name = RB_BUF_INIT;

			parse_ref_name(&name, ref);
			rb_diag_error(p->d, &ref->loc,
			    "'%s' can only be used inside a step", name.buf);
			rb_buf_release(&name);
			return RB_ENOTFOUND;
		}
		return 0;
	}
	return parse_unknown_name(p->d, ref, namespaces,
	    RB_ARRAY_SIZE(namespaces), 0, NAMESPACE_HINT);
}

static void
check_tmpl(struct chk *c, const struct rb_tmpl *t, bool shell)
{
	if (t == NULL)
		return;
	c->shell = shell;
	(void)rb_tmpl_check(t, resolve_name, c, c->p->d);
	c->shell = false;
}

static void
check_kvs(struct chk *c, const struct rb_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; kv != NULL && i < n; i++)
		check_tmpl(c, kv[i].value, false);
}

/* Check every name a step (or its rollback) uses. */
static void
check_step_names(struct chk *c, const struct rb_step *s)
{
	bool shell = s->action == RB_ACT_RUN || s->action == RB_ACT_CHECK;

	check_tmpl(c, s->command, shell);
	if (s->http != NULL) {
		check_tmpl(c, s->http->url, false);
		check_kvs(c, s->http->headers, s->http->nheaders);
		check_tmpl(c, s->http->body, false);
	}
	if (s->notify != NULL) {
		check_tmpl(c, s->notify->url, false);
		check_tmpl(c, s->notify->text, false);
		check_tmpl(c, s->notify->body, false);
		check_kvs(c, s->notify->headers, s->notify->nheaders);
	}
	check_kvs(c, s->with, s->nwith);
	if (s->when != NULL)
		(void)rb_expr_check(s->when, resolve_name, c, c->p->d);
	if (s->until != NULL) {
		bool saved = c->self_ok;

		c->self_ok = true;
		(void)rb_expr_check(s->until, resolve_name, c, c->p->d);
		c->self_ok = saved;
	}
	check_tmpl(c, s->on, false);
	check_kvs(c, s->env, s->nenv);
	check_tmpl(c, s->workdir, false);
	if (s->rollback != NULL) {
		c->self_ok = true;
		check_step_names(c, s->rollback);
		c->self_ok = false;
	}
}

void
rbp_check_names(struct rbp *p)
{
	struct rb_runbook *rb = p->rb;
	struct chk c;
	size_t i;

	memset(&c, 0, sizeof(c));
	c.p = p;
	c.idx = NONE;
	check_tmpl(&c, rb->on, false);
	check_tmpl(&c, rb->lock, false);
	for (i = 0; i < rb->nsteps; i++) {
		c.idx = i;
		c.fail = false;
		p->nwarned = 0;
		check_step_names(&c, &rb->steps[i]);
	}
	for (i = 0; i < rb->non_failure; i++) {
		c.idx = i;
		c.fail = true;
		p->nwarned = 0;
		check_step_names(&c, &rb->on_failure[i]);
	}
}

/* ------------------------------------------------------------------ */
