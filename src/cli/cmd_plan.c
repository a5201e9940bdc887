/*
 * cmd_plan.c - `runbook plan`: show exactly what a run would execute, where,
 * in what order, with what rollback, and the plan digest.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "runbook/banned.h"

int
cmd_plan(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "param", required_argument, NULL, 'p' },
		{ "format", required_argument, NULL, 'f' },
		{ "inventory", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct rb_strvec kv = RB_STRVEC_INIT;
	struct rb_runbook *rb = NULL;
	struct rb_inventory *inv = NULL;
	struct rb_params params = RB_PARAMS_INIT;
	struct rb_diags diags = RB_DIAGS_INIT;
	struct rb_plan *plan = NULL;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_buf out = RB_BUF_INIT;
	enum rb_plan_format fmt = RB_PLAN_TEXT;
	const char *inv_path = NULL;
	int c, ex = RB_EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "p:f:i:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			rb_strvec_push(&kv, optarg);
			break;
		case 'f':
			if (rb_plan_format_parse(&fmt, optarg) != 0) {
				cli_error("unknown plan format '%s'", optarg);
				cli_hint("use text, json, markdown or dot");
				goto out;
			}
			break;
		case 'i':
			inv_path = optarg;
			break;
		case 'h':
			ex = cli_help_exit("plan");
			goto out;
		default:
			cli_usage(stderr, "plan");
			goto out;
		}
	}
	if (optind != argc - 1) {
		cli_usage(stderr, "plan");
		goto out;
	}
	if ((ex = cli_load_runbook(&rb, argv[optind])) != 0 ||
	    (ex = cli_load_inventory(&inv, inv_path)) != 0)
		goto out;
	ex = RB_EXIT_USAGE;
	if (rb_params_resolve(&params, rb, (const char *const *)kv.v, kv.nr,
	    &diags) != 0) {
		cli_print_diags(&diags);
		goto out;
	}
	if (rb_plan_build(&plan, rb, &params, inv, &err) != 0) {
		cli_print_error(&err);
		goto out;
	}
	rb_plan_format(&out, plan, fmt);
	fwrite(out.buf, 1, out.len, stdout);
	if (fmt == RB_PLAN_MARKDOWN || fmt == RB_PLAN_DOT ||
	    fmt == RB_PLAN_JSON)
		fprintf(stderr, "plan digest: %s\n", rb_plan_digest(plan));
	ex = RB_EXIT_OK;
out:
	rb_buf_release(&out);
	rb_plan_free(plan);
	rb_params_release(&params);
	rb_diags_release(&diags);
	rb_inventory_free(inv);
	rb_runbook_free(rb);
	rb_strvec_release(&kv);
	return ex;
}
