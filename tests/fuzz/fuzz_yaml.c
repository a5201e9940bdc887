/*
 * fuzz_yaml.c - libFuzzer target for the YAML tree and the three schema
 * passes. The first byte picks the document kind (runbook, inventory,
 * routes); the rest is the file. Invariants: no crash, no leak, a model
 * exactly when there are no errors, at least one error otherwise, and
 * every diagnostic has a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/buf.h"
#include "runbook/diag.h"
#include "runbook/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walk a runbook model the way later passes do. */
static void
touch_runbook(const struct rb_runbook *rb)
{
	size_t i, j;

	for (i = 0; i < rb->nsteps; i++) {
		const struct rb_step *s = &rb->steps[i];

		if (s->id == NULL || rb_runbook_step(rb, s->id) == NULL)
			abort();
		for (j = 0; j < s->nneed_idx; j++)
			if (s->need_idx[j] >= rb->nsteps)
				abort();
		(void)rb_step_is_readonly(s);
		(void)rb_action_name(s->action);
		if (s->rollback != NULL && s->rollback->id == NULL)
			abort();
	}
	for (i = 0; i < rb->nparams; i++) {
		struct rb_error err = RB_ERROR_INIT;

		if (rb_runbook_param(rb, rb->params[i].name) == NULL)
			abort();
		if (rb->params[i].def != NULL &&
		    rb_param_check(&rb->params[i], rb->params[i].def, &err) ==
		    RB_EINVAL)
			abort();	/* defaults are checked at load time */
	}
}

static void
touch_inventory(const struct rb_inventory *inv)
{
	size_t i, j;

	for (i = 0; i < inv->ngroups; i++)
		for (j = 0; j < inv->groups[i].nmembers; j++)
			if (strcmp(inv->groups[i].members[j], "local") != 0 &&
			    rb_inventory_host(inv,
			    inv->groups[i].members[j]) == NULL)
				abort();
	for (i = 0; i < inv->nhosts; i++)
		if (inv->hosts[i].address == NULL || inv->hosts[i].port < 1)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_buf out = RB_BUF_INIT;
	struct rb_runbook *rb = NULL;
	struct rb_inventory *inv = NULL;
	struct rb_routes *routes = NULL;
	const char *text;
	size_t i, len;
	int kind, r;
	bool model;

	if (size == 0)
		return 0;
	kind = data[0] % 3;
	text = (const char *)data + 1;
	len = size - 1;
	switch (kind) {
	case 0:
		r = rb_runbook_load_buf(&rb, "fuzz.yaml", text, len, 0, &d);
		model = rb != NULL;
		if (rb != NULL)
			touch_runbook(rb);
		break;
	case 1:
		r = rb_inventory_load_buf(&inv, "fuzz.yaml", text, len, &d);
		model = inv != NULL;
		if (inv != NULL)
			touch_inventory(inv);
		break;
	default:
		r = rb_routes_load_buf(&routes, "fuzz.yaml", text, len, &d);
		model = routes != NULL;
		break;
	}
	if ((r == 0) != model || (r == 0) != (d.nerrors == 0))
		abort();
	for (i = 0; i < d.nr; i++)
		if (d.v[i].msg == NULL || d.v[i].msg[0] == '\0')
			abort();
	rb_diags_sort(&d);
	rb_diags_format(&out, &d);
	rb_buf_release(&out);
	rb_diags_release(&d);
	rb_runbook_free(rb);
	rb_inventory_free(inv);
	rb_routes_free(routes);
	return 0;
}
