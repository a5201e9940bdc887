/*
 * cli_state.c - opening the state database for the commands that read or
 * write it (--state DIR, $RUNBOOK_STATE_DIR, the XDG default).
 */
#include <stdlib.h>

#include "cli/cli.h"
#include "runbook/store.h"
#include "runbook/banned.h"

int
cli_open_store(struct rb_store **out, const char *state_dir)
{
	struct rb_buf dir = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	int ex = RB_EXIT_OK;

	if (rb_store_default_dir(&dir, state_dir, &err) != 0 ||
	    rb_store_open(out, dir.buf, &err) != 0) {
		cli_print_error(&err);
		ex = RB_EXIT_FAILED;
	}
	rb_buf_release(&dir);
	return ex;
}
