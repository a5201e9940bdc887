/*
 * params.h - resolving a runbook's declared params from -p K=V, `with:`,
 * webhook mappings, environment variables and defaults.
 */
#ifndef RUNBOOK_PARAMS_H
#define RUNBOOK_PARAMS_H

#include "runbook/model.h"

enum rb_param_source {
	RB_PARAM_UNSET,		/* optional, no value */
	RB_PARAM_DEFAULT,
	RB_PARAM_GIVEN,		/* -p, with:, or a webhook mapping */
	RB_PARAM_ENV		/* from the param's `env` variable */
};

struct rb_param_value {
	const struct rb_param *param;	/* borrowed from the runbook */
	char *value;			/* NULL when unset; wiped if secret */
	enum rb_param_source source;
};

struct rb_params {
	struct rb_param_value *v;	/* one per declared param, in order */
	size_t n;
};
#define RB_PARAMS_INIT { NULL, 0 }

/*
 * Resolve every declared param of rb from kv ("NAME=VALUE" strings, later
 * ones win), then the param's env variable, then its default. Undeclared
 * names (with a "did you mean"), missing required params, and values that
 * fail a param's pattern or enum are each added to diags (values of secrets
 * are never quoted). Returns 0 or RB_EINVAL.
 */
int rb_params_resolve(struct rb_params *out, const struct rb_runbook *rb,
    const char *const *kv, size_t nkv, struct rb_diags *diags);
/* The value of name (NULL if unset or undeclared). */
const struct rb_param_value *rb_params_find(const struct rb_params *p,
    const char *name);
/*
 * Append RUNBOOK_PARAM_<NAME>=value for every set param to env (names
 * upper-cased, '-' becomes '_'). Secrets are included only if with_secrets.
 */
void rb_params_export(struct rb_strvec *env, const struct rb_params *p,
    bool with_secrets);
void rb_params_release(struct rb_params *p);

/* "db-host" -> "DB_HOST" into out (appending). */
void rb_env_name(struct rb_buf *out, const char *name);

#endif
