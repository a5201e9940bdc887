/*
 * cmd_runs.c - `runbook runs` (history) and `runbook show RUN_ID` (one run,
 * every step attempt, with output tails and timings), from the journal.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/render.h"
#include "runbook/journal.h"
#include "runbook/store.h"
#include "runbook/banned.h"

/* A run's status as a person should read it. */
static const char *
shown_status(const struct rb_journal_run *r)
{
	if (strcmp(r->status, "running") == 0 && !r->runner_alive)
		return "crashed";
	return r->status;
}

static void
fmt_time(char *out, size_t n, int64_t ms)
{
	if (ms <= 0)
		snprintf(out, n, "-");
	else
		rb_time_format(out, n, ms);
}

static void
fmt_dur(char *out, size_t n, int64_t ms)
{
	if (ms < 0)
		snprintf(out, n, "-");
	else if (ms < 1000)
		snprintf(out, n, "%lldms", (long long)ms);
	else
		snprintf(out, n, "%.1fs", (double)ms / 1000.0);
}

static json_t *
jstr(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
run_json(const struct rb_journal_run *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "run_id", jstr(r->run_id));
	json_object_set_new(o, "runbook", jstr(r->runbook));
	json_object_set_new(o, "runbook_path", jstr(r->runbook_path));
	json_object_set_new(o, "runbook_digest", jstr(r->runbook_digest));
	json_object_set_new(o, "plan_digest", jstr(r->plan_digest));
	json_object_set_new(o, "status", jstr(shown_status(r)));
	json_object_set_new(o, "trigger", jstr(r->trigger));
	json_object_set_new(o, "actor", jstr(r->actor));
	json_object_set_new(o, "started_ms", json_integer(r->started_ms));
	json_object_set_new(o, "finished_ms", r->finished_ms ?
	    json_integer(r->finished_ms) : json_null());
	json_object_set_new(o, "exit_code", r->exit_code >= 0 ?
	    json_integer(r->exit_code) : json_null());
	if (r->params != NULL)
		json_object_set_new(o, "params",
		    json_loads(r->params, 0, NULL));
	return o;
}

/* Whether --status S can match a run; says why not. */
static bool
status_ok(const char *want)
{
	if (strcmp(want, "refused") == 0) {
		cli_error("no run has the status 'refused': a refused run "
		    "never starts, so it is not in the journal");
		cli_hint("refusals are in the audit log: runbook audit export");
		return false;
	}
	if (strcmp(want, "crashed") != 0 &&
	    !rb_journal_run_status_valid(want)) {
		cli_error("unknown run status '%s'", want);
		cli_hint("use running, crashed, succeeded, failed, "
		    "rollback_failed, paused or interrupted");
		return false;
	}
	return true;
}

/*
 * The first limit runs of list whose shown status is want (any when NULL),
 * as a table or JSON lines; a hint when more were left out.
 */
static void
print_runs(const struct rb_journal_run_list *list, const char *want,
    size_t limit, bool json)
{
	size_t i, n, shown = 0;

	for (i = 0; i < list->nr; i++)
		if (want == NULL || strcmp(shown_status(&list->runs[i]),
		    want) == 0)
			shown++;
	if (!json && shown > 0)
		printf("%-26s %-22s %-15s %-24s %9s  %s\n", "RUN", "RUNBOOK",
		    "STATUS", "STARTED", "DURATION", "TRIGGER");
	for (i = 0, n = 0; i < list->nr && n < limit; i++) {
		const struct rb_journal_run *r = &list->runs[i];
		char t[40], d[32];

		if (want != NULL && strcmp(shown_status(r), want) != 0)
			continue;
		n++;
		if (json) {
			json_t *o = run_json(r);
			char *s = json_dumps(o, JSON_COMPACT);

			printf("%s\n", s);
			free(s);
			json_decref(o);
			continue;
		}
		fmt_time(t, sizeof(t), r->started_ms);
		fmt_dur(d, sizeof(d), r->finished_ms ?
		    r->finished_ms - r->started_ms : -1);
		printf("%-26s %-22s %-15s %-24s %9s  %s\n", r->run_id,
		    r->runbook, shown_status(r), t, d,
		    r->trigger ? r->trigger : "-");
	}
	if (!json && shown > limit) {
		fflush(stdout);
		cli_hint("only the %zu most recent run%s shown; --limit N "
		    "shows more", limit, limit == 1 ? " is" : "s are");
	}
}

int
cmd_runs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'n' },
		{ "runbook", required_argument, NULL, 'r' },
		{ "status", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "state", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct rb_journal_filter f = RB_JOURNAL_FILTER_INIT;
	struct rb_journal_run_list list = RB_JOURNAL_RUN_LIST_INIT;
	struct rb_store *st = NULL;
	const char *state = NULL, *want = NULL;
	bool json = false;
	long long n;
	size_t limit = f.limit;
	int c, ex = RB_EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "n:r:s:o:S:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (rb_parse_int(&n, optarg, 1, 1000000) != 0) {
				cli_error("bad --limit '%s': a number of runs "
				    "from 1 to 1000000", optarg);
				return RB_EXIT_USAGE;
			}
			limit = (size_t)n;
			break;
		case 'r':
			f.runbook = optarg;
			break;
		case 's':
			want = optarg;
			break;
		case 'o':
			json = strcmp(optarg, "json") == 0;
			if (!json && strcmp(optarg, "text") != 0) {
				cli_error("unknown output format '%s'", optarg);
				return RB_EXIT_USAGE;
			}
			break;
		case 'S':
			state = optarg;
			break;
		case 'h':
			return cli_help_exit("runs");
		default:
			cli_usage(stderr, "runs");
			return RB_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		cli_usage(stderr, "runs");
		return RB_EXIT_USAGE;
	}
	if (want != NULL && !status_ok(want))
		return RB_EXIT_USAGE;
	/*
	 * "crashed" is "running" with its process gone, which only a look at
	 * the process tells: take every running run and sort them here. One
	 * more than the limit says whether there are more.
	 */
	if (want != NULL && (strcmp(want, "crashed") == 0 ||
	    strcmp(want, "running") == 0)) {
		f.status = "running";
		f.limit = 0;
	} else {
		f.status = want;
		f.limit = limit + 1;
	}
	if ((ex = cli_open_store(&st, state)) != 0)
		return ex;
	if (rb_journal_runs_list(&list, st, &f) != 0) {
		cli_print_error(rb_store_error(st));
		ex = RB_EXIT_FAILED;
		goto out;
	}
	print_runs(&list, want, limit, json);
	ex = RB_EXIT_OK;
out:
	rb_journal_run_list_release(&list);
	rb_store_free(st);
	return ex;
}

static void
print_tail(const char *label, const char *s, size_t len, uint64_t total)
{
	const char *p = s, *end = s + len, *nl;

	if (s == NULL || len == 0)
		return;
	printf("    %s", label);
	if (total > len)
		printf(" (last %zu of %llu bytes)", len,
		    (unsigned long long)total);
	printf(":\n");
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		printf("    | %.*s\n", (int)((nl ? nl : end) - p), p);
		p = nl ? nl + 1 : end;
	}
}

static json_t *
attempt_json(const struct rb_journal_attempt *a)
{
	json_t *o = json_object();

	json_object_set_new(o, "step", jstr(a->step_id));
	json_object_set_new(o, "host", jstr(a->host));
	json_object_set_new(o, "phase", jstr(a->phase));
	json_object_set_new(o, "attempt", json_integer(a->attempt));
	json_object_set_new(o, "status", jstr(a->status));
	json_object_set_new(o, "exit_code", a->exit_code >= 0 ?
	    json_integer(a->exit_code) : json_null());
	json_object_set_new(o, "started_ms", json_integer(a->started_ms));
	json_object_set_new(o, "finished_ms", a->finished_ms ?
	    json_integer(a->finished_ms) : json_null());
	json_object_set_new(o, "duration_ms", json_integer(a->duration_ms));
	json_object_set_new(o, "command", jstr(a->command));
	json_object_set_new(o, "stdout_tail", a->stdout_tail ?
	    json_stringn(a->stdout_tail, a->stdout_len) : json_null());
	json_object_set_new(o, "stderr_tail", a->stderr_tail ?
	    json_stringn(a->stderr_tail, a->stderr_len) : json_null());
	json_object_set_new(o, "stdout_bytes",
	    json_integer((json_int_t)a->stdout_total));
	json_object_set_new(o, "stderr_bytes",
	    json_integer((json_int_t)a->stderr_total));
	json_object_set_new(o, "error", jstr(a->error));
	if (a->captures != NULL)
		json_object_set_new(o, "captures",
		    json_loads(a->captures, 0, NULL));
	return o;
}

int
cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "step", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "state", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct rb_journal_run run = RB_JOURNAL_RUN_INIT;
	struct rb_store *st = NULL;
	const char *state = NULL, *step = NULL;
	bool json = false, found = false;
	size_t i;
	int c, r, ex = RB_EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "s:o:S:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			step = optarg;
			break;
		case 'o':
			json = strcmp(optarg, "json") == 0;
			if (!json && strcmp(optarg, "text") != 0) {
				cli_error("unknown output format '%s'", optarg);
				return RB_EXIT_USAGE;
			}
			break;
		case 'S':
			state = optarg;
			break;
		case 'h':
			return cli_help_exit("show");
		default:
			cli_usage(stderr, "show");
			return RB_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		cli_usage(stderr, "show");
		return RB_EXIT_USAGE;
	}
	if ((ex = cli_open_store(&st, state)) != 0)
		return ex;
	if ((r = rb_journal_run_load(&run, st, argv[optind])) != 0) {
		if (r == RB_ENOTFOUND) {
			cli_error("no run '%s' in '%s'", argv[optind],
			    rb_store_path(st));
			cli_hint("'runbook runs' lists the recorded runs");
			ex = RB_EXIT_USAGE;
		} else {
			cli_print_error(rb_store_error(st));
			ex = RB_EXIT_FAILED;
		}
		goto out;
	}
	if (json) {
		json_t *o = run_json(&run), *a = json_array();
		char *s;

		for (i = 0; i < run.nattempts; i++)
			if (step == NULL ||
			    strcmp(run.attempts[i].step_id, step) == 0)
				json_array_append_new(a,
				    attempt_json(&run.attempts[i]));
		json_object_set_new(o, "attempts", a);
		s = json_dumps(o, JSON_INDENT(2));
		printf("%s\n", s);
		free(s);
		json_decref(o);
		ex = RB_EXIT_OK;
		goto out;
	}
	{
		char t[40], d[32];

		fmt_time(t, sizeof(t), run.started_ms);
		fmt_dur(d, sizeof(d), run.finished_ms ?
		    run.finished_ms - run.started_ms : -1);
		printf("run %s of '%s': %s", run.run_id, run.runbook,
		    shown_status(&run));
		if (run.exit_code >= 0)
			printf(" (exit %d)", run.exit_code);
		printf("\n  started %s by %s (%s), took %s\n", t,
		    run.actor ? run.actor : "?",
		    run.trigger ? run.trigger : "cli", d);
		if (run.runbook_path != NULL)
			printf("  runbook %s (sha256 %s)\n",
			    run.runbook_path, run.runbook_digest ?
			    run.runbook_digest : "?");
		if (run.params != NULL)
			printf("  params %s\n", run.params);
		printf("\n%-28s %-8s %-10s %3s  %-11s %4s %9s\n", "STEP",
		    "HOST", "PHASE", "#", "STATUS", "EXIT", "DURATION");
	}
	for (i = 0; i < run.nattempts; i++) {
		const struct rb_journal_attempt *a = &run.attempts[i];
		char d[32], x[16];

		if (step != NULL && strcmp(a->step_id, step) != 0)
			continue;
		found = true;
		fmt_dur(d, sizeof(d), a->duration_ms);
		if (a->exit_code >= 0)
			snprintf(x, sizeof(x), "%d", a->exit_code);
		else
			snprintf(x, sizeof(x), "-");
		printf("%-28s %-8s %-10s %3d  %-11s %4s %9s\n", a->step_id,
		    a->host, a->phase, a->attempt, a->status, x, d);
		if (a->error != NULL && strcmp(a->status, "succeeded") != 0)
			printf("    %s\n", a->error);
		if (step != NULL || (strcmp(a->status, "succeeded") != 0 &&
		    strcmp(a->status, "skipped") != 0)) {
			if (a->command != NULL)
				render_command(stdout, "    ", a->command);
			print_tail("stdout", a->stdout_tail, a->stdout_len,
			    a->stdout_total);
			print_tail("stderr", a->stderr_tail, a->stderr_len,
			    a->stderr_total);
		}
	}
	if (step != NULL && !found) {
		cli_error("run '%s' has no step '%s'", run.run_id, step);
		ex = RB_EXIT_USAGE;
		goto out;
	}
	ex = RB_EXIT_OK;
out:
	rb_journal_run_release(&run);
	rb_store_free(st);
	return ex;
}
