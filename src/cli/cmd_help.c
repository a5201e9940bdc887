/*
 * cmd_help.c - `runbook help [COMMAND]` and `runbook version`.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "runbook/banned.h"

int
cmd_help(int argc, char **argv)
{
	const struct cli_cmd *c;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0))
		return cli_help_exit("help");
	if (argc < 2) {
		printf("usage: runbook COMMAND [ARGS]\n\ncommands:\n");
		for (c = cli_cmds; c->name != NULL; c++)
			if (c->fn != NULL)
				printf("  %-10s %s\n", c->name, c->summary);
		return RB_EXIT_OK;
	}
	if ((c = cli_find(argv[1])) == NULL) {
		cli_error("unknown command '%s'", argv[1]);
		return RB_EXIT_USAGE;
	}
	printf("usage: runbook %s\n%s\n", c->usage, c->summary);
	return RB_EXIT_OK;
}

int
cmd_version(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0))
		return cli_help_exit("version");
	printf("runbook %s\n", RB_VERSION);
	return RB_EXIT_OK;
}
