/*
 * scope.c - resolving names (params.X, env.X, steps.ID.F, alert.*, run.*,
 * host.*) to values for templates and expressions. One lookup for plan and
 * run: what the plan shows is what the run executes.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runbook/error.h"
#include "runbook/scope.h"
#include "runbook/banned.h"

bool
rb_env_name_is_secret(const char *name)
{
	static const char *const marks[] = { "TOKEN", "SECRET", "PASSWORD",
		"PASSWD", "KEY", "WEBHOOK", "CREDENTIAL" };
	size_t i;

	for (i = 0; i < RB_ARRAY_SIZE(marks); i++)
		if (strcasestr(name, marks[i]) != NULL)
			return true;
	return false;
}

/* Set *out to the value of label key in a list, or null. */
static void
label_value(struct rb_value *out, const struct rb_label *l, size_t n,
    const char *key)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(l[i].key, key) == 0) {
			rb_value_set_str(out, l[i].value, strlen(l[i].value),
			    RB_VALUE_TAINTED);
			return;
		}
	}
	rb_value_set_null(out);
}

static void
set_opt_str(struct rb_value *out, const char *s, unsigned flags)
{
	if (s == NULL)
		rb_value_set_null(out);
	else
		rb_value_set_str(out, s, strlen(s), flags);
}

static int
lookup_alert(struct rb_value *out, const struct rb_alert *a,
    const char *const *path, size_t npath)
{
	if (npath == 2 && strcmp(path[1], "status") == 0)
		set_opt_str(out, a ? a->status : NULL, RB_VALUE_TAINTED);
	else if (npath == 2 && strcmp(path[1], "fingerprint") == 0)
		set_opt_str(out, a ? a->fingerprint : NULL, RB_VALUE_TAINTED);
	else if (npath == 2 && strcmp(path[1], "starts_at") == 0)
		set_opt_str(out, a ? a->starts_at : NULL, RB_VALUE_TAINTED);
	else if (npath == 3 && strcmp(path[1], "labels") == 0) {
		if (a == NULL)
			rb_value_set_null(out);
		else
			label_value(out, a->labels, a->nlabels, path[2]);
	} else if (npath == 3 && strcmp(path[1], "annotations") == 0) {
		if (a == NULL)
			rb_value_set_null(out);
		else
			label_value(out, a->annotations, a->nannotations,
			    path[2]);
	} else
		return RB_ENOTFOUND;
	return 0;
}

int
rb_scope_lookup(struct rb_value *out, const char *const *path, size_t npath,
    void *payload)
{
	const struct rb_scope *sc = payload;
	const char *ns;

	if (npath < 2)
		return RB_ENOTFOUND;
	ns = path[0];
	if (strcmp(ns, "params") == 0 && npath == 2) {
		const struct rb_param_value *v =
		    rb_params_find(sc->params, path[1]);

		if (v == NULL)
			return RB_ENOTFOUND;
		set_opt_str(out, v->value,
		    v->param->secret ? RB_VALUE_SECRET : 0);
		return 0;
	}
	if (strcmp(ns, "env") == 0 && npath == 2) {
		const char *v = sc->env != NULL ?
		    rb_strvec_getenv(sc->env, path[1]) : getenv(path[1]);

		set_opt_str(out, v,
		    rb_env_name_is_secret(path[1]) ? RB_VALUE_SECRET : 0);
		return 0;
	}
	if (strcmp(ns, "steps") == 0 && npath >= 3) {
		if (sc->step_value == NULL) {
			struct rb_buf name = RB_BUF_INIT;
			size_t i;

			for (i = 0; i < npath; i++)
				rb_buf_addf(&name, "%s%s", i ? "." : "",
				    path[i]);
			rb_value_set_unknown(out, name.buf);
			rb_buf_release(&name);
			return 0;
		}
		return sc->step_value(out, path[1], path + 2, npath - 2,
		    sc->step_payload);
	}
	if (strcmp(ns, "alert") == 0)
		return lookup_alert(out, sc->alert, path, npath);
	if (strcmp(ns, "run") == 0 && npath == 2) {
		const char *f = path[1], *v = NULL;

		if (strcmp(f, "runbook") == 0)
			v = sc->rb != NULL ? sc->rb->name : NULL;
		else if (strcmp(f, "trigger") == 0)
			v = sc->trigger != NULL ? sc->trigger : "cli";
		else if (strcmp(f, "id") == 0 || strcmp(f, "started_at") == 0) {
			v = strcmp(f, "id") == 0 ? sc->run_id : sc->started_at;
			if (v == NULL) {
				rb_value_set_unknown(out, strcmp(f, "id") == 0 ?
				    "run.id" : "run.started_at");
				return 0;
			}
		} else
			return RB_ENOTFOUND;
		set_opt_str(out, v, 0);
		return 0;
	}
	if (strcmp(ns, "host") == 0 && npath == 2) {
		if (strcmp(path[1], "name") == 0)
			set_opt_str(out, sc->host_name ? sc->host_name :
			    "local", 0);
		else if (strcmp(path[1], "address") == 0)
			set_opt_str(out, sc->host_address ? sc->host_address :
			    "127.0.0.1", 0);
		else
			return RB_ENOTFOUND;
		return 0;
	}
	return RB_ENOTFOUND;
}
