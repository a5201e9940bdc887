/*
 * scope.h - what names in templates and expressions resolve to: params,
 * env, steps, alert, run and host (SPEC 2.3). The planner and the engine
 * share this one lookup, so `plan` renders exactly what `run` will.
 */
#ifndef RUNBOOK_SCOPE_H
#define RUNBOOK_SCOPE_H

#include "runbook/params.h"

/* An alert that triggered a run (webhook runs); borrowed strings. */
struct rb_alert {
	const char *status;		/* firing | resolved */
	const struct rb_label *labels;
	size_t nlabels;
	const struct rb_label *annotations;
	size_t nannotations;
	const char *fingerprint;
	const char *starts_at;
};

/*
 * Resolve steps.ID.FIELD...: fill *out and return 0, or RB_ENOTFOUND.
 * NULL (as in `plan`) makes every step value unknown until run time.
 */
typedef int (*rb_step_value_fn)(struct rb_value *out, const char *step_id,
    const char *const *field, size_t nfield, void *payload);

struct rb_scope {
	const struct rb_runbook *rb;
	const struct rb_params *params;
	const struct rb_alert *alert;	/* NULL: alert.* is null */
	const char *run_id;		/* NULL: unknown until run time */
	const char *started_at;
	const char *trigger;		/* cli | webhook | resume */
	const char *host_name;		/* inside a step on a host */
	const char *host_address;
	rb_step_value_fn step_value;
	void *step_payload;
	/*
	 * Environment for env.* (NULL: the process environment). Variables
	 * whose name suggests a secret (TOKEN, SECRET, PASSWORD, PASSWD, KEY,
	 * WEBHOOK, CREDENTIAL) are treated as secrets.
	 */
	const struct rb_strvec *env;
};

/* An rb_lookup_fn over a struct rb_scope (payload). */
int rb_scope_lookup(struct rb_value *out, const char *const *path,
    size_t npath, void *payload);

/* Whether an environment variable name looks like it holds a secret. */
bool rb_env_name_is_secret(const char *name);

#endif
