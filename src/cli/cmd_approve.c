/*
 * cmd_approve.c - `runbook approve RUN_ID STEP_ID --by NAME`: record a
 * person's decision on a paused approve/manual step in the journal and the
 * audit log, then continue the run in the foreground. A rejection fails the
 * step, so the run rolls back what it did.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "runbook/audit.h"
#include "runbook/journal.h"
#include "runbook/store.h"
#include "runbook/banned.h"

int
cli_approve(const char *state, const char *run_id, const char *step_id,
    const char *by, bool reject, const char *comment)
{
	struct rb_journal_run run = RB_JOURNAL_RUN_INIT;
	struct rb_journal_attempt a = RB_JOURNAL_ATTEMPT_INIT;
	const struct rb_journal_attempt *paused = NULL;
	struct rb_store *st = NULL;
	struct rb_buf why = RB_BUF_INIT;
	char actor[RB_STORE_ACTOR_SIZE];
	json_t *d = NULL;
	char *details = NULL;
	size_t i;
	int r, ex;

	if ((ex = cli_open_store(&st, state)) != 0)
		return ex;
	ex = RB_EXIT_USAGE;
	if ((r = rb_journal_run_load(&run, st, run_id)) != 0) {
		if (r == RB_ENOTFOUND) {
			cli_error("no run '%s' in '%s'", run_id,
			    rb_store_path(st));
			cli_hint("'runbook runs --status paused' lists "
			    "paused runs");
		} else {
			cli_print_error(rb_store_error(st));
			ex = RB_EXIT_FAILED;
		}
		goto out;
	}
	for (i = 0; i < run.nattempts; i++) {
		const struct rb_journal_attempt *x = &run.attempts[i];

		if (strcmp(x->step_id, step_id) == 0 &&
		    strcmp(x->phase, "main") == 0 &&
		    (paused == NULL || x->seq > paused->seq))
			paused = x;
	}
	if (strcmp(run.status, "paused") != 0 || paused == NULL ||
	    strcmp(paused->status, "paused") != 0) {
		cli_error("step '%s' of run '%s' is not waiting for approval "
		    "(run %s)", step_id, run.run_id, run.status);
		ex = RB_EXIT_REFUSED;
		goto out;
	}
	rb_buf_addf(&why, "%s by %s", reject ? "rejected" : "approved", by);
	if (comment != NULL && *comment != '\0')
		rb_buf_addf(&why, ": %s", comment);
	a.run_id = run.run_id;
	a.step_id = paused->step_id;
	a.host = paused->host;
	a.phase = paused->phase;
	a.attempt = paused->attempt;
	a.status = reject ? "failed" : "succeeded";
	a.exit_code = reject ? 1 : 0;
	a.started_ms = paused->started_ms;
	a.error = why.buf;
	rb_store_default_actor(actor, sizeof(actor));
	d = json_pack("{s:s,s:s,s:s*}", "step", step_id, "by", by, "comment",
	    comment);
	details = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
	if ((r = rb_store_begin(st)) != 0 ||
	    (r = rb_journal_step_finished(st, &a)) != 0 ||
	    (r = rb_audit_append(NULL, st, reject ? "approval.rejected" :
	    "approval.granted", actor, run.run_id, details)) != 0 ||
	    (r = rb_store_commit(st)) != 0) {
		cli_print_error(rb_store_error(st));
		rb_store_rollback(st);
		ex = RB_EXIT_FAILED;
		goto out;
	}
	fprintf(stderr, "runbook: step '%s' of run %s %s\n", step_id,
	    run.run_id, why.buf);
	ex = RB_EXIT_OK;
out:
	free(details);
	json_decref(d);
	rb_buf_release(&why);
	rb_journal_run_release(&run);
	rb_store_free(st);
	return ex;
}

int
cmd_approve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "by", required_argument, NULL, 'b' },
		{ "reject", no_argument, NULL, 'r' },
		{ "comment", required_argument, NULL, 'c' },
		{ "state", required_argument, NULL, 'S' },
		{ "output", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *by = NULL, *comment = NULL, *state = NULL;
	bool reject = false, verbose = false;
	int c, json = 0, ex;

	while ((c = getopt_long(argc, argv, "b:rc:S:o:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			by = optarg;
			break;
		case 'r':
			reject = true;
			break;
		case 'c':
			comment = optarg;
			break;
		case 'S':
			state = optarg;
			break;
		case 'o':
			json = strcmp(optarg, "json") == 0;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			return cli_help_exit("approve");
		default:
			cli_usage(stderr, "approve");
			return RB_EXIT_USAGE;
		}
	}
	if (optind != argc - 2) {
		cli_usage(stderr, "approve");
		return RB_EXIT_USAGE;
	}
	if (by == NULL || *by == '\0') {
		cli_error("who decides? --by NAME is required");
		cli_hint("the approver's name is recorded in the audit log");
		return RB_EXIT_USAGE;
	}
	if ((ex = cli_approve(state, argv[optind], argv[optind + 1], by,
	    reject, comment)) != 0)
		return ex;
	return cli_resume(state, argv[optind], 0, NULL, NULL, json, verbose);
}
