/*
 * cli.h - the command table and the helpers every subcommand shares. The
 * CLI is the only layer that prints or exits.
 */
#ifndef RUNBOOK_CLI_H
#define RUNBOOK_CLI_H

#include <stdio.h>

#include "runbook/runbook.h"

struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	const char *usage;	/* = the SYNOPSIS line in runbook.1 */
};

extern const struct cli_cmd cli_cmds[];
const struct cli_cmd *cli_find(const char *name);

/* "runbook: error: ..." on stderr; returns RB_EXIT_USAGE for chaining. */
int cli_error(const char *fmt, ...) RB_PRINTFLIKE(1, 2);
void cli_warn(const char *fmt, ...) RB_PRINTFLIKE(1, 2);
void cli_hint(const char *fmt, ...) RB_PRINTFLIKE(1, 2);
/* Print an rb_error (message and hint). */
void cli_print_error(const struct rb_error *err);
/* Print located diagnostics (sorted) to stderr. */
void cli_print_diags(struct rb_diags *d);
/* Print "usage: runbook <usage>" to f. */
void cli_usage(FILE *f, const char *cmd);
/* Handle -h/--help: print usage to stdout. */
int cli_help_exit(const char *cmd);

/* Whether to use colour on a stream (TTY, NO_COLOR unset, TERM != dumb). */
bool cli_use_color(FILE *f);

/*
 * Load the runbook NAME|FILE with its sub-runbooks checked. Diagnostics are
 * printed. Returns 0 or an RB_EXIT_* code.
 */
int cli_load_runbook(struct rb_runbook **out, const char *name_or_file);
/*
 * Load the inventory from path, else $RUNBOOK_INVENTORY, else
 * ./inventory.yaml when it exists. *out stays NULL when there is none.
 */
int cli_load_inventory(struct rb_inventory **out, const char *path);

struct rb_store;
/* Open state.db of --state DIR (or the default); prints errors. */
int cli_open_store(struct rb_store **out, const char *state_dir);

struct rb_run_result;
/* cli_resume() flag besides enum rb_resume_flags. */
#define CLI_ACCEPT_NEW_HOST_KEYS (1u << 16)
/* Continue a journaled run in the foreground (cmd_resume.c). */
int cli_resume(const char *state, const char *run_id, unsigned flags,
    const struct rb_strvec *extra, const char *inv_path, int output,
    bool verbose);
/*
 * After a run ended: say what a paused run waits for, and return the exit
 * code (cmd_run.c).
 */
int cli_run_finished(const struct rb_run_result *res,
    const struct rb_runbook *rb);

/*
 * Record a decision on the paused gate step_id of run_id in the journal and
 * the audit log (cmd_approve.c). Returns 0 or an exit code.
 */
int cli_approve(const char *state, const char *run_id, const char *step_id,
    const char *by, bool reject, const char *comment);

int cmd_run(int argc, char **argv);
int cmd_approve(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_help(int argc, char **argv);

#endif
