/*
 * plan.h - what a run will do, rendered exactly as `run` will render it.
 *
 * The plan is built once as canonical JSON (SPEC 5: runbook, digest, params
 * with secrets masked, steps with id, action, command, target, needs, when,
 * timeout, retries, rollback, layer); the text, markdown and dot formats are
 * all drawn from that JSON. The digest is SHA-256 over the canonical JSON
 * (sorted keys, no whitespace) without the digest field itself.
 */
#ifndef RUNBOOK_PLAN_H
#define RUNBOOK_PLAN_H

#include "runbook/dag.h"
#include "runbook/scope.h"

struct rb_plan;

enum rb_plan_format {
	RB_PLAN_TEXT,
	RB_PLAN_JSON,
	RB_PLAN_MARKDOWN,
	RB_PLAN_DOT
};

/* Map "text", "json", "markdown" (or "md"), "dot"; RB_EINVAL otherwise. */
int rb_plan_format_parse(enum rb_plan_format *out, const char *name);

/*
 * Build the plan of rb with the given params. inv may be NULL (targets are
 * shown as written). Values only known at run time render as
 * <runtime:NAME>. Returns 0 or an error with a message in err.
 */
int rb_plan_build(struct rb_plan **out, const struct rb_runbook *rb,
    const struct rb_params *params, const struct rb_inventory *inv,
    struct rb_error *err);
/* The digest as 64 lower-case hex digits. */
const char *rb_plan_digest(const struct rb_plan *plan);
/* Append the plan in the given format. */
void rb_plan_format(struct rb_buf *out, const struct rb_plan *plan,
    enum rb_plan_format fmt);
void rb_plan_free(struct rb_plan *plan);

/*
 * Render the shell text of a run/check step (or of a shell rollback) as
 * /bin/sh -c will get it: substitutions single-quoted, secrets as
 * "$RUNBOOK_SECRET_N" references whose NAME=value go to secret_env (may be
 * NULL in plans). Returns 0 or an error in err.
 */
int rb_render_shell(struct rb_buf *out, const struct rb_tmpl *t,
    const struct rb_scope *scope, struct rb_strvec *secret_env,
    struct rb_error *err);
/*
 * Render a non-shell template (URLs, messages, env values). With mask,
 * secrets render as ******.
 */
int rb_render_text(struct rb_buf *out, const struct rb_tmpl *t,
    const struct rb_scope *scope, bool mask, struct rb_error *err);
/* The target of a step: its `on`, else the runbook's, else "local". */
int rb_render_target(struct rb_buf *out, const struct rb_step *s,
    const struct rb_runbook *rb, const struct rb_scope *scope,
    struct rb_error *err);

#endif
