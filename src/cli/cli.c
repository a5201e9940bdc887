/*
 * cli.c - the command table, messages in the house format, and the loaders
 * shared by subcommands.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "runbook/banned.h"

const struct cli_cmd cli_cmds[] = {
	{ "run", cmd_run, "Run a runbook",
	  "run NAME|FILE [-p K=V]... [--dry-run[=checks]] [--jobs N] "
	  "[--inventory F] [--limit P] [--plan-digest D] [--force-window] "
	  "[--yes] [--interactive] [--accept-new-host-keys] "
	  "[--output text|json] [--state DIR] [-v]" },
	{ "plan", cmd_plan, "Show exactly what a run would do",
	  "plan NAME|FILE [-p K=V]... [--inventory F] "
	  "[--format text|json|markdown|dot]" },
	{ "validate", cmd_validate, "Check runbook, inventory and routes files",
	  "validate [--inventory F] FILE|DIR..." },
	{ "resume", cmd_resume, "Continue a failed or interrupted run",
	  "resume RUN_ID [--rerun-inflight] [--force] [--inventory F] "
	  "[--accept-new-host-keys] [--output text|json] [--state DIR] [-v]" },
	{ "approve", cmd_approve,
	  "Approve or reject a paused step and continue",
	  "approve RUN_ID STEP_ID --by NAME [--reject] [--comment TEXT] "
	  "[--output text|json] [--state DIR] [-v]" },
	{ "runs", cmd_runs, "List recorded runs",
	  "runs [--limit N] [--runbook NAME] [--status S] [--output text|json] "
	  "[--state DIR]" },
	{ "show", cmd_show, "Show one run, its steps and their output",
	  "show RUN_ID [--step ID] [--output text|json] [--state DIR]" },
	{ "audit", cmd_audit,
	  "Verify, export or show the head of the audit log",
	  "audit verify [--head H] | audit export [--since T] "
	  "[--format jsonl] | audit head [--state DIR]" },
	{ "serve", cmd_serve, "Receive alert webhooks and start runbooks",
	  "serve --routes FILE [--listen ADDR:PORT] [--state DIR]" },
	{ "list", cmd_list,
	  "List the runbooks and playbooks on the search path",
	  "list" },
	{ "version", cmd_version, "Print the version", "version" },
	{ "help", cmd_help, "Show help for a command", "help [COMMAND]" },
	{ NULL, NULL, NULL, NULL }
};

const struct cli_cmd *
cli_find(const char *name)
{
	const struct cli_cmd *c;

	for (c = cli_cmds; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0 && c->fn != NULL)
			return c;
	return NULL;
}

static void
vmsg(const char *level, const char *fmt, va_list ap)
{
	bool color = cli_use_color(stderr);
	const char *on = "", *off = "";

	if (color) {
		off = "\033[0m";
		on = strcmp(level, "error") == 0 ? "\033[1;31m" :
		    strcmp(level, "warning") == 0 ? "\033[1;33m" : "\033[1;36m";
	}
	fprintf(stderr, "runbook: %s%s:%s ", on, level, off);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int
cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("error", fmt, ap);
	va_end(ap);
	return RB_EXIT_USAGE;
}

void
cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning", fmt, ap);
	va_end(ap);
}

void
cli_hint(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("hint", fmt, ap);
	va_end(ap);
}

void
cli_print_error(const struct rb_error *err)
{
	cli_error("%s", err->msg[0] ? err->msg : rb_strerror(err->code));
	if (err->hint[0] != '\0')
		cli_hint("%s", err->hint);
}

void
cli_print_diags(struct rb_diags *d)
{
	struct rb_buf out = RB_BUF_INIT;
	size_t i;

	rb_diags_sort(d);
	for (i = 0; i < d->nr; i++) {
		const struct rb_diag *x = &d->v[i];
		struct rb_diags one = { (struct rb_diag *)x, 1, 1,
			0, 0, 0 };

		if (x->file == NULL) {
			if (x->level == RB_DIAG_ERROR)
				cli_error("%s", x->msg);
			else
				cli_warn("%s", x->msg);
			if (x->hint != NULL)
				cli_hint("%s", x->hint);
			continue;
		}
		rb_diags_format(&out, &one);
	}
	fputs(out.buf, stderr);
	rb_buf_release(&out);
}

void
cli_usage(FILE *f, const char *cmd)
{
	const struct cli_cmd *c;

	for (c = cli_cmds; c->name != NULL; c++)
		if (strcmp(c->name, cmd) == 0)
			fprintf(f, "usage: runbook %s\n", c->usage);
}

int
cli_help_exit(const char *cmd)
{
	cli_usage(stdout, cmd);
	return RB_EXIT_OK;
}

bool
cli_use_color(FILE *f)
{
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

	if (nc != NULL && nc[0] != '\0')
		return false;
	if (term != NULL && strcmp(term, "dumb") == 0)
		return false;
	return isatty(fileno(f));
}

int
cli_load_runbook(struct rb_runbook **out, const char *name_or_file)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_diags diags = RB_DIAGS_INIT;
	char *path = NULL;
	int r;

	if ((r = rb_runbook_find(&path, name_or_file, &err)) != 0) {
		cli_print_error(&err);
		return RB_EXIT_USAGE;
	}
	r = rb_runbook_load(out, path, RB_RUNBOOK_LOAD_CHECK_SUBRUNBOOKS,
	    &diags);
	cli_print_diags(&diags);
	rb_diags_release(&diags);
	free(path);
	return r == 0 ? RB_EXIT_OK : RB_EXIT_USAGE;
}

int
cli_load_inventory(struct rb_inventory **out, const char *path)
{
	struct rb_diags diags = RB_DIAGS_INIT;
	size_t ndiags;
	int r;

	*out = NULL;
	if (path == NULL)
		path = getenv("RUNBOOK_INVENTORY");
	if (path == NULL || *path == '\0') {
		if (access("inventory.yaml", F_OK) != 0)
			return RB_EXIT_OK;
		path = "inventory.yaml";
	}
	r = rb_inventory_load(out, path, &diags);
	cli_print_diags(&diags);
	ndiags = diags.nr;	/* the release zeroes it */
	rb_diags_release(&diags);
	if (r == RB_ENOTFOUND && ndiags == 0)
		return cli_error("cannot read inventory '%s': no such file",
		    path);
	return r == 0 ? RB_EXIT_OK : RB_EXIT_USAGE;
}
