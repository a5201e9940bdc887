/*
 * parse_runbook.c - the schema pass for runbook and playbook files (SPEC 2):
 * node tree -> immutable struct rb_runbook.
 *
 * The pass never stops at the first problem. It reads every key it knows,
 * reports what is wrong where it is, and keeps whatever parsed so that later
 * checks (needs, names in templates and expressions, sub-runbooks) still
 * run and report their own problems. A model is handed out only when the
 * file produced no errors.
 *
 * Order: top-level keys and params; every step; step ids (duplicates);
 * needs; names used in templates and expressions; sub-runbooks.
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

static int load_buf(struct rb_runbook **out, const char *name, const char *data,
    size_t len, unsigned flags, struct rb_diags *diags, struct load_ctx *ctx);

/* ------------------------------------------------------------------ */
/* The file */

static void
parse_top(struct rbp *p, const struct rb_node *root)
{
	enum {
		T_RUNBOOK,
		T_PLAYBOOK,
		T_DESCRIPTION,
		T_LABELS,
		T_PARAMS,
		T_ON,
		T_TIMEOUT,
		T_WINDOW,
		T_LOCK,
		T_STEPS,
		T_ON_FAILURE,
		T_INCLUDE,
		T_N
	};
	const struct rb_node *v[T_N];
	const struct parse_key keys[T_N] = { { "runbook", 0, &v[T_RUNBOOK] },
		{ "playbook", 0, &v[T_PLAYBOOK] },
		{ "description", 0, &v[T_DESCRIPTION] },
		{ "labels", 0, &v[T_LABELS] }, { "params", 0, &v[T_PARAMS] },
		{ "on", 0, &v[T_ON] }, { "timeout", 0, &v[T_TIMEOUT] },
		{ "window", 0, &v[T_WINDOW] }, { "lock", 0, &v[T_LOCK] },
		{ "steps", PARSE_REQUIRED, &v[T_STEPS] },
		{ "on_failure", 0, &v[T_ON_FAILURE] },
		{ "include", 0, &v[T_INCLUDE] } };
	struct rb_runbook *rb = p->rb;
	const struct rb_node *name;
	struct rb_qbuf qb;

	if (root->kind != RB_NODE_MAP) {
		rb_diag_error(p->d, &root->loc,
		    "a runbook must be a mapping, not %s",
		    parse_describe(&qb, root));
		rb_diag_hint(p->d, "start with 'runbook: NAME' and 'steps:'");
		return;
	}
	/* The name first: a missing one is the first thing to fix. */
	if (rb_node_get(root, "runbook") == NULL &&
	    rb_node_get(root, "playbook") == NULL) {
		rb_diag_error(p->d, &root->loc, "missing key 'runbook'");
		rb_diag_hint(p->d,
		    "name the runbook with 'runbook: NAME' (or "
		    "'playbook: NAME')");
	}
	parse_map(p->d, root, NULL, keys, T_N);

	if (v[T_RUNBOOK] != NULL && v[T_PLAYBOOK] != NULL) {
		rb_diag_error(p->d, &parse_key_node(root, "playbook")->loc,
		    "both 'runbook' and 'playbook' are given");
		rb_diag_hint(p->d, "name the file with one of them");
	}
	rb->playbook = v[T_RUNBOOK] == NULL && v[T_PLAYBOOK] != NULL;
	name = v[T_RUNBOOK] != NULL ? v[T_RUNBOOK] : v[T_PLAYBOOK];
	if (name != NULL &&
	    (rb->name = parse_nonempty_str(
		 p->d, name, rb->playbook ? "playbook" : "runbook")) != NULL &&
	    !parse_valid_id(rb->name)) {
		rb_diag_error(p->d, &name->loc, "invalid %s name '%s'",
		    rb->playbook ? "playbook" : "runbook",
		    rb_qstr(&qb, rb->name, strlen(rb->name)));
		rb_diag_hint(p->d,
		    "use a-z, 0-9, '_' and '-', starting with "
		    "a letter or digit");
	}
	if (v[T_INCLUDE] != NULL) {
		rb_diag_error(p->d, &parse_key_node(root, "include")->loc,
		    "'include' is not supported");
		rb_diag_hint(p->d,
		    "run the other runbook as a step: '- id: "
		    "NAME' with 'runbook: OTHER' and 'with: {...}'");
	}
	if (v[T_DESCRIPTION] != NULL)
		rb->description =
		    parse_str(p->d, v[T_DESCRIPTION], "description", NULL);
	if (v[T_LABELS] != NULL)
		rbp_parse_labels(p, v[T_LABELS]);
	if (v[T_PARAMS] != NULL)
		rbp_parse_params(p, v[T_PARAMS]);
	if (v[T_ON] != NULL)
		rbp_parse_nonempty_tmpl(p, v[T_ON], "on", &rb->on);
	if (v[T_TIMEOUT] != NULL &&
	    parse_duration(p->d, v[T_TIMEOUT], "timeout", &rb->timeout_ms) ==
		0 &&
	    rb->timeout_ms == 0)
		rb_diag_error(
		    p->d, &v[T_TIMEOUT]->loc, "'timeout' must be more than 0s");
	if (v[T_WINDOW] != NULL)
		rbp_parse_window(p, v[T_WINDOW]);
	if (v[T_LOCK] != NULL)
		rbp_parse_nonempty_tmpl(p, v[T_LOCK], "lock", &rb->lock);
	if (v[T_STEPS] != NULL) {
		rbp_parse_steps(p, v[T_STEPS], "steps", STEP_MAIN, &rb->steps,
		    &rb->nsteps, &p->aux);
		if (v[T_STEPS]->kind == RB_NODE_SEQ && rb->nsteps == 0) {
			rb_diag_error(
			    p->d, &v[T_STEPS]->loc, "'steps' is empty");
			rb_diag_hint(p->d, "a runbook needs at least one step");
		}
	}
	if (v[T_ON_FAILURE] != NULL)
		rbp_parse_steps(p, v[T_ON_FAILURE], "on_failure",
		    STEP_ON_FAILURE, &rb->on_failure, &rb->non_failure,
		    &p->faux);
	rbp_index_ids(p);
	rbp_resolve_needs(p, rb->steps, rb->nsteps, p->aux, false);
	rbp_resolve_needs(p, rb->on_failure, rb->non_failure, p->faux, true);
	rbp_check_cycles(p, rb->steps, rb->nsteps);
	rbp_check_cycles(p, rb->on_failure, rb->non_failure);
	rbp_check_names(p);
}

/* ------------------------------------------------------------------ */
/* Sub-runbooks */

/* A canonical name for a file, to recognise it on the stack. */
static char *
canonical(const char *path)
{
	char *r = realpath(path, NULL);

	return r != NULL ? r : xstrdup(path);
}

/* Check `with:` against the params the target declares. */
static void
check_with(struct rbp *p, const struct rb_step *s, const struct rb_node *n,
    const struct rb_runbook *target)
{
	const char **names;
	struct rb_qbuf qa, qb;
	size_t i, j;

	names = xcalloc(target->nparams + 1, sizeof(*names));
	for (i = 0; i < target->nparams; i++)
		names[i] = target->params[i].name;
	rb_qstr(&qa, target->name, strlen(target->name));
	for (i = 0; i < s->nwith; i++) {
		struct rb_buf msg = RB_BUF_INIT;

		if (rb_runbook_param(target, s->with[i].key) != NULL)
			continue;
		rb_buf_addf(&msg, "runbook '%s' has no param '%s'", qa.s,
		    rb_qstr(&qb, s->with[i].key, strlen(s->with[i].key)));
		parse_suggest(&msg, s->with[i].key, names, target->nparams);
		rb_diag_error(p->d, &s->with[i].loc, "%s", msg.buf);
		rb_buf_reset(&msg);
		for (j = 0; j < target->nparams; j++)
			rb_buf_addf(&msg, "%s%s", j ? ", " : "", names[j]);
		if (target->nparams > 0)
			rb_diag_hint(p->d, "its params are: %s", msg.buf);
		else
			rb_diag_hint(p->d, "it declares no params");
		rb_buf_release(&msg);
	}
	for (i = 0; i < target->nparams; i++) {
		const struct rb_param *pa = &target->params[i];

		if (!pa->required || pa->def != NULL || pa->env != NULL)
			continue;
		for (j = 0; j < s->nwith; j++)
			if (strcmp(s->with[j].key, pa->name) == 0)
				break;
		if (j < s->nwith)
			continue;
		rb_diag_error(p->d, &n->loc,
		    "runbook '%s' needs param '%s': add it to 'with'", qa.s,
		    rb_qstr(&qb, pa->name, strlen(pa->name)));
	}
	free(names);
}

/* Load (or find already loaded) the file at path for a `runbook:` step. */
static struct loaded *
load_sub(struct load_ctx *ctx, char *real, char *path, unsigned flags)
{
	struct rb_diags scratch = RB_DIAGS_INIT;
	struct rb_buf buf = RB_BUF_INIT;
	struct rb_runbook *rb = NULL;
	struct loaded *l;
	size_t i, li;
	int r;

	for (i = 0; i < ctx->ndone; i++) {
		if (strcmp(ctx->done[i].real, real) == 0) {
			free(real);
			free(path);
			return &ctx->done[i];
		}
	}
	RB_ALLOC_GROW(ctx->done, ctx->ndone + 1, ctx->dalloc);
	li = ctx->ndone++;
	l = &ctx->done[li];
	l->real = real;
	l->path = path;
	l->rb = NULL;
	l->status = 0;
	if ((r = rb_file_read(&buf, path, &scratch)) == 0)
		r = load_buf(&rb, path, buf.buf, buf.len, flags, &scratch, ctx);
	/* ctx->done may have moved while the sub-load recursed. */
	l = &ctx->done[li];
	l->rb = rb;
	l->status = r;
	rb_buf_release(&buf);
	rb_diags_release(&scratch);
	return l;
}

static void
check_sub(struct rbp *p, struct load_ctx *ctx, const struct rb_step *s,
    const struct rb_node *n, unsigned flags)
{
	struct rb_error err = RB_ERROR_INIT;
	struct loaded *l;
	char *path = NULL, *real;
	size_t k;

	if (rb_runbook_find_from(&path, s->sub_runbook, p->rb->path, &err) !=
	    0) {
		parse_report_missing_runbook(p->d, n, s->sub_runbook, &err);
		return;
	}
	real = canonical(path);
	for (k = 0; k < ctx->depth; k++) {
		struct rb_buf chain = RB_BUF_INIT;
		size_t j;

		if (strcmp(ctx->stack[k].real, real) != 0)
			continue;
		for (j = k; j < ctx->depth; j++)
			rb_buf_addf(&chain, "%s -> ", ctx->stack[j].name);
		rb_buf_adds(&chain, ctx->stack[k].name);
		rb_diag_error(ctx->root, &ctx->stack[k].call,
		    "runbook cycle: %s", chain.buf);
		rb_diag_hint(ctx->root,
		    "a runbook cannot run itself, directly or through others");
		rb_buf_release(&chain);
		free(real);
		free(path);
		return;
	}
	if (ctx->depth >= MAX_NESTING) {
		rb_diag_error(p->d, &n->loc,
		    "runbooks call each other more than %d deep", MAX_NESTING);
		free(real);
		free(path);
		return;
	}
	l = load_sub(ctx, real, path, flags);
	if (l->status == RB_ENOTFOUND) {
		rb_error_set(
		    &err, RB_ENOTFOUND, "no runbook file '%s'", l->path);
		parse_report_missing_runbook(p->d, n, s->sub_runbook, &err);
	} else if (l->status != 0 || l->rb == NULL) {
		struct rb_qbuf qb;

		rb_diag_error(p->d, &n->loc, "runbook '%s' has errors",
		    rb_qstr(&qb, s->sub_runbook, strlen(s->sub_runbook)));
		rb_diag_hint(
		    p->d, "run 'runbook validate %s' to see them", l->path);
	} else
		check_with(p, s, n, l->rb);
}

static void
check_subrunbooks(struct rbp *p, struct load_ctx *ctx, unsigned flags)
{
	struct rb_runbook *rb = p->rb;
	size_t i, top;

	RB_ALLOC_GROW(ctx->stack, ctx->depth + 1, ctx->salloc);
	top = ctx->depth++;
	ctx->stack[top].real = canonical(rb->path);
	ctx->stack[top].name = xstrdup(rb->name != NULL ? rb->name : rb->path);
	for (i = 0; i < rb->nsteps + rb->non_failure; i++) {
		bool fail = i >= rb->nsteps;
		size_t j = fail ? i - rb->nsteps : i;
		const struct rb_step *s =
		    fail ? &rb->on_failure[j] : &rb->steps[j];
		const struct step_aux *a = fail ? &p->faux[j] : &p->aux[j];

		if (s->action != RB_ACT_RUNBOOK || s->sub_runbook == NULL ||
		    a->runbook == NULL)
			continue;
		ctx->stack[top].call = a->runbook->loc;
		check_sub(p, ctx, s, a->runbook, flags);
	}
	ctx->depth--;
	free(ctx->stack[top].real);
	free(ctx->stack[top].name);
}

static void
load_ctx_release(struct load_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->ndone; i++) {
		free(ctx->done[i].real);
		free(ctx->done[i].path);
		rb_runbook_free(ctx->done[i].rb);
	}
	free(ctx->done);
	free(ctx->stack);
}

/* ------------------------------------------------------------------ */
/* Loading */

static int
load_buf(struct rb_runbook **out, const char *name, const char *data,
    size_t len, unsigned flags, struct rb_diags *diags, struct load_ctx *ctx)
{
	struct rb_yaml_doc *doc = NULL;
	struct rb_runbook *rb = NULL;
	const struct rb_node *root;
	struct rbp p;
	size_t before = diags->nerrors;
	int r;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	if ((r = rb_yaml_load_buf(&doc, name, data, len, diags)) != 0)
		goto out;
	rb = xcalloc(1, sizeof(*rb));
	rb->doc = doc;
	rb->path = xstrdup(rb_yaml_name(doc));
	rb_sha256_hex(rb->digest, data != NULL ? data : "", len);
	p.d = diags;
	p.rb = rb;
	if ((root = rb_yaml_root(doc)) == NULL) {
		struct rb_loc loc = { rb_yaml_name(doc), 0, 0 };

		rb_diag_error(diags, &loc, "the file is empty");
		rb_diag_hint(
		    diags, "a runbook needs 'runbook: NAME' and 'steps:'");
	} else
		parse_top(&p, root);
	if ((flags & RB_RUNBOOK_LOAD_CHECK_SUBRUNBOOKS) && ctx != NULL &&
	    root != NULL)
		check_subrunbooks(&p, ctx, flags);
	if (diags->nerrors > before) {
		r = RB_EINVAL;
		goto out;
	}
	*out = rb;
	rb = NULL;
	r = 0;
out:
	free(p.aux);
	free(p.faux);
	free(p.ids);
	free(p.anc);
	free(p.warned);
	rb_runbook_free(rb);
	return r;
}

int
rb_runbook_load_buf(struct rb_runbook **out, const char *name, const char *data,
    size_t len, unsigned flags, struct rb_diags *diags)
{
	struct load_ctx ctx;
	int r;

	memset(&ctx, 0, sizeof(ctx));
	ctx.root = diags;
	r = load_buf(out, name, data, len, flags, diags, &ctx);
	load_ctx_release(&ctx);
	return r;
}

int
rb_runbook_load(struct rb_runbook **out, const char *path, unsigned flags,
    struct rb_diags *diags)
{
	struct rb_buf buf = RB_BUF_INIT;
	int r;

	*out = NULL;
	if ((r = rb_file_read(&buf, path, diags)) == 0)
		r = rb_runbook_load_buf(
		    out, path, buf.buf, buf.len, flags, diags);
	rb_buf_release(&buf);
	return r;
}
