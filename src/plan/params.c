/*
 * params.c - resolving declared params from the command line, `with:`,
 * webhook mappings, environment variables and defaults, and exporting them
 * as RUNBOOK_PARAM_* variables.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/error.h"
#include "runbook/params.h"
#include "runbook/util.h"
#include "runbook/banned.h"

void
rb_env_name(struct rb_buf *out, const char *name)
{
	for (; *name != '\0'; name++) {
		unsigned char c = (unsigned char)*name;

		rb_buf_addch(out, isalnum(c) ? toupper(c) : '_');
	}
}

/* Suggest a declared param for a misspelt -p name. */
static const char *
suggest_param(const struct rb_runbook *rb, const char *name)
{
	const char **names = xcalloc(rb->nparams + 1, sizeof(*names));
	const char *s;
	size_t i;

	for (i = 0; i < rb->nparams; i++)
		names[i] = rb->params[i].name;
	s = rb_suggest(name, names, rb->nparams);
	free(names);
	return s;
}

int
rb_params_resolve(struct rb_params *out, const struct rb_runbook *rb,
    const char *const *kv, size_t nkv, struct rb_diags *diags)
{
	struct rb_params p = RB_PARAMS_INIT;
	size_t i, before = diags->nerrors;

	p.n = rb->nparams;
	p.v = xcalloc(p.n ? p.n : 1, sizeof(*p.v));
	for (i = 0; i < p.n; i++)
		p.v[i].param = &rb->params[i];

	for (i = 0; i < nkv; i++) {
		const char *eq = strchr(kv[i], '=');
		char *name;
		size_t j;
		bool found = false;

		if (eq == NULL || eq == kv[i]) {
			rb_diag_error(diags, NULL, "bad parameter '%s': "
			    "expected NAME=VALUE", kv[i]);
			continue;
		}
		name = xstrndup(kv[i], (size_t)(eq - kv[i]));
		for (j = 0; j < p.n; j++) {
			if (strcmp(p.v[j].param->name, name) != 0)
				continue;
			if (p.v[j].param->secret)
				rb_free_secret(p.v[j].value);
			else
				free(p.v[j].value);
			p.v[j].value = xstrdup(eq + 1);
			p.v[j].source = RB_PARAM_GIVEN;
			found = true;
		}
		if (!found) {
			const char *s = suggest_param(rb, name);

			if (s != NULL)
				rb_diag_error(diags, NULL, "unknown "
				    "parameter '%s' for runbook '%s' (did "
				    "you mean '%s'?)", name, rb->name, s);
			else
				rb_diag_error(diags, NULL, "unknown parameter "
				    "'%s' for runbook '%s'", name, rb->name);
			rb_diag_hint(diags, "'runbook plan %s' lists its "
			    "parameters", rb->name);
		}
		free(name);
	}

	for (i = 0; i < p.n; i++) {
		struct rb_param_value *v = &p.v[i];
		const struct rb_param *d = v->param;
		struct rb_error err = RB_ERROR_INIT;

		if (v->value == NULL && d->env != NULL && getenv(d->env)) {
			v->value = xstrdup(getenv(d->env));
			v->source = RB_PARAM_ENV;
		}
		if (v->value == NULL && d->def != NULL) {
			v->value = xstrdup(d->def);
			v->source = RB_PARAM_DEFAULT;
		}
		if (v->value == NULL) {
			if (d->required) {
				rb_diag_error(diags, NULL, "missing required "
				    "parameter '%s' for runbook '%s'", d->name,
				    rb->name);
				if (d->env != NULL)
					rb_diag_hint(diags, "pass -p %s=VALUE "
					    "or set %s", d->name, d->env);
				else
					rb_diag_hint(diags, "pass -p %s=VALUE",
					    d->name);
			}
			continue;
		}
		if (v->source != RB_PARAM_DEFAULT &&
		    rb_param_check(d, v->value, &err) != 0) {
			rb_diag_error(diags, NULL, "%s", err.msg);
			if (err.hint[0] != '\0')
				rb_diag_hint(diags, "%s", err.hint);
		}
	}
	if (diags->nerrors > before) {
		rb_params_release(&p);
		return RB_EINVAL;
	}
	*out = p;
	return 0;
}

const struct rb_param_value *
rb_params_find(const struct rb_params *p, const char *name)
{
	size_t i;

	for (i = 0; p != NULL && i < p->n; i++)
		if (strcmp(p->v[i].param->name, name) == 0)
			return &p->v[i];
	return NULL;
}

void
rb_params_export(struct rb_strvec *env, const struct rb_params *p,
    bool with_secrets)
{
	struct rb_buf name = RB_BUF_INIT;
	size_t i;

	for (i = 0; p != NULL && i < p->n; i++) {
		if (p->v[i].value == NULL)
			continue;
		if (p->v[i].param->secret && !with_secrets)
			continue;
		rb_buf_reset(&name);
		rb_buf_adds(&name, "RUNBOOK_PARAM_");
		rb_env_name(&name, p->v[i].param->name);
		rb_strvec_setenv(env, name.buf, p->v[i].value);
	}
	rb_buf_release(&name);
}

void
rb_params_release(struct rb_params *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		if (p->v[i].param != NULL && p->v[i].param->secret)
			rb_free_secret(p->v[i].value);
		else
			free(p->v[i].value);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}
