/*
 * cmd_resume.c - `runbook resume RUN_ID`: continue a failed, interrupted or
 * crashed run from its journal without redoing what succeeded.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/render.h"
#include "runbook/audit.h"
#include "runbook/journal.h"
#include "runbook/store.h"
#include "runbook/banned.h"

/* The journaled params as NAME=VALUE; masked secrets are left out. */
static void
journal_params(struct rb_strvec *kv, const char *json)
{
	json_t *o = json != NULL ? json_loads(json, 0, NULL) : NULL;
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		if (!json_is_string(v) ||
		    strcmp(json_string_value(v), "******") == 0)
			continue;
		rb_strvec_pushf(kv, "%s=%s", k, json_string_value(v));
	}
	json_decref(o);
}

/*
 * Continue the journaled run run_id in the foreground: check that it can be
 * resumed and that its runbook did not change (unless RB_RESUME_FORCE),
 * rebuild its params (secrets from their env variables or extra -p), and
 * run the rest. Returns the exit code.
 */
int
cli_resume(const char *state, const char *run_id, unsigned flags,
    const struct rb_strvec *extra, const char *inv_path, int output,
    bool verbose)
{
	struct rb_journal_run run = RB_JOURNAL_RUN_INIT;
	struct rb_strvec kv = RB_STRVEC_INIT;
	struct rb_runbook *rb = NULL;
	struct rb_inventory *inv = NULL;
	struct rb_params params = RB_PARAMS_INIT;
	struct rb_diags diags = RB_DIAGS_INIT;
	struct rb_store *st = NULL;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_run_opts ro = RB_RUN_OPTS_INIT;
	struct rb_run_result res;
	struct render *rend = NULL;
	enum render_mode mode = output ? RENDER_JSON : RENDER_AUTO;
	char actor[RB_STORE_ACTOR_SIZE];
	size_t i;
	int r, ex;

	ro.resume_flags = flags & ~CLI_ACCEPT_NEW_HOST_KEYS;
	ro.accept_new_host_keys = (flags & CLI_ACCEPT_NEW_HOST_KEYS) != 0;
	if ((ex = cli_open_store(&st, state)) != 0)
		goto out;
	if ((r = rb_journal_run_load(&run, st, run_id)) != 0) {
		if (r == RB_ENOTFOUND) {
			cli_error("no run '%s' in '%s'", run_id,
			    rb_store_path(st));
			cli_hint("'runbook runs' lists the recorded runs");
			ex = RB_EXIT_USAGE;
		} else {
			cli_print_error(rb_store_error(st));
			ex = RB_EXIT_FAILED;
		}
		goto out;
	}
	ex = RB_EXIT_REFUSED;
	if (strcmp(run.status, "succeeded") == 0) {
		cli_error("run '%s' already succeeded: nothing to resume",
		    run.run_id);
		goto out;
	}
	if (strcmp(run.status, "running") == 0 && run.runner_alive) {
		cli_error("run '%s' is still running (pid %lld)", run.run_id,
		    (long long)run.pid);
		cli_hint("wait for it, or stop it with SIGTERM first");
		goto out;
	}
	if ((ex = cli_load_runbook(&rb, run.runbook_path ? run.runbook_path :
	    run.runbook)) != 0 ||
	    (ex = cli_load_inventory(&inv, inv_path)) != 0)
		goto out;
	rb_store_default_actor(actor, sizeof(actor));
	if (run.runbook_digest != NULL &&
	    strcmp(run.runbook_digest, rb->digest) != 0) {
		if (!(flags & RB_RESUME_FORCE)) {
			cli_error("runbook '%s' changed since run '%s' began",
			    rb->path, run.run_id);
			cli_hint("review the change; 'runbook resume %s "
			    "--force' resumes with the new file (audited)",
			    run.run_id);
			rb_audit_append(NULL, st, "refusal", actor,
			    run.run_id, "{\"reason\":\"runbook changed "
			    "since the run began\"}");
			ex = RB_EXIT_REFUSED;
			goto out;
		}
		rb_audit_append(NULL, st, "force.resume", actor, run.run_id,
		    "{\"reason\":\"runbook changed since the run began\"}");
	}
	if (flags & RB_RESUME_RERUN_INFLIGHT)
		rb_audit_append(NULL, st, "force.rerun_inflight", actor,
		    run.run_id, "{}");
	journal_params(&kv, run.params);
	for (i = 0; extra != NULL && i < extra->nr; i++)
		rb_strvec_push(&kv, extra->v[i]);
	ex = RB_EXIT_USAGE;
	if (rb_params_resolve(&params, rb, (const char *const *)kv.v, kv.nr,
	    &diags) != 0) {
		cli_print_diags(&diags);
		cli_hint("secret params are not journaled: set their env "
		    "variables or pass -p NAME=VALUE to resume");
		goto out;
	}
	rend = render_new(mode, mode == RENDER_JSON ? stdout : stderr,
	    verbose);
	ro.inv = inv;
	ro.store = st;
	ro.actor = actor;
	ro.trigger = "resume";
	ro.resume = &run;
	ro.stream_output = verbose;
	ro.on_event = render_event;
	ro.payload = rend;
	if (rb_run(&res, rb, &params, &ro, &err) != 0) {
		render_summary(rend);
		cli_print_error(&err);
		ex = err.code == RB_EREFUSED ? RB_EXIT_REFUSED : RB_EXIT_FAILED;
		goto out;
	}
	render_summary(rend);
	ex = cli_run_finished(&res, rb);
out:
	render_free(rend);
	rb_params_release(&params);
	rb_diags_release(&diags);
	rb_inventory_free(inv);
	rb_runbook_free(rb);
	rb_strvec_release(&kv);
	rb_journal_run_release(&run);
	rb_store_free(st);
	return ex;
}

int
cmd_resume(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rerun-inflight", no_argument, NULL, 'r' },
		{ "force", no_argument, NULL, 'f' },
		{ "param", required_argument, NULL, 'p' },
		{ "inventory", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{ "state", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "accept-new-host-keys", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct rb_strvec extra = RB_STRVEC_INIT;
	const char *state = NULL, *inv_path = NULL;
	unsigned flags = 0;
	bool verbose = false;
	int c, json = 0, ex = RB_EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "rfp:i:o:S:vh", opts,
	    NULL)) != -1) {
		switch (c) {
		case 'r':
			flags |= RB_RESUME_RERUN_INFLIGHT;
			break;
		case 'f':
			flags |= RB_RESUME_FORCE;
			break;
		case 'p':
			rb_strvec_push(&extra, optarg);
			break;
		case 'i':
			inv_path = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				json = 1;
			else if (strcmp(optarg, "text") != 0) {
				cli_error("unknown output format '%s'", optarg);
				goto out;
			}
			break;
		case 'S':
			state = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'K':
			flags |= CLI_ACCEPT_NEW_HOST_KEYS;
			break;
		case 'h':
			ex = cli_help_exit("resume");
			goto out;
		default:
			cli_usage(stderr, "resume");
			goto out;
		}
	}
	if (optind != argc - 1) {
		cli_usage(stderr, "resume");
		goto out;
	}
	ex = cli_resume(state, argv[optind], flags, &extra, inv_path, json,
	    verbose);
out:
	rb_strvec_release(&extra);
	return ex;
}
