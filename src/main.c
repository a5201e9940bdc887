/*
 * main.c - the runbook command: finds the subcommand in cli_cmds[] and runs
 * it. Everything else lives in src/cli/ (front end) and the engine.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "runbook/fault.h"
#include "runbook/banned.h"

static void
usage(FILE *f)
{
	const struct cli_cmd *c;

	fprintf(f, "usage: runbook COMMAND [ARGS]\n\ncommands:\n");
	for (c = cli_cmds; c->name != NULL; c++)
		if (c->fn != NULL)
			fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\n'runbook help COMMAND' shows a command's options; "
	    "'man runbook' has the details.\n");
}

int
main(int argc, char **argv)
{
	const struct cli_cmd *c;

	rb_fault_init();	/* the fault-injection build only */
	/* A closed pipe is an error return, never a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return RB_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return RB_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
		return cmd_version(1, argv + 1);
	if ((c = cli_find(argv[1])) == NULL) {
		cli_error("unknown command '%s'", argv[1]);
		cli_hint("'runbook --help' lists the commands");
		return RB_EXIT_USAGE;
	}
	return c->fn(argc - 1, argv + 1);
}
