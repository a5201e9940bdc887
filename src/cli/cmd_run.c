/*
 * cmd_run.c - `runbook run`: load, check the plan digest, and execute a
 * runbook, rendering its events and mapping the outcome to the SPEC exit
 * codes.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/render.h"
#include "runbook/engine.h"
#include "runbook/queue.h"
#include "runbook/store.h"
#include "runbook/banned.h"

/* An alert from the queue, owning what struct rb_alert points to. */
struct queued_alert {
	struct rb_alert a;
	struct rb_label *labels;
	struct rb_label *annotations;
	json_t *json;
};

static struct rb_label *
labels_from(const json_t *o, size_t *n)
{
	struct rb_label *l = xcalloc(json_object_size(o) + 1, sizeof(*l));
	const char *k;
	json_t *v;

	*n = 0;
	json_object_foreach((json_t *)o, k, v) {
		if (!json_is_string(v))
			continue;
		l[*n].key = (char *)k;
		l[*n].value = (char *)json_string_value(v);
		(*n)++;
	}
	return l;
}

static const char *
jget(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/*
 * Load queue entry id (written by `runbook serve`): its runbook, its params
 * as NAME=VALUE into kv, and its alert. Returns 0 or an exit code.
 */
static int
load_queued(struct rb_queue_entry *qe, struct queued_alert *qa,
    struct rb_strvec *kv, struct rb_store *st, long long id)
{
	json_t *p;
	const char *k;
	json_t *v;
	int r;

	if ((r = rb_queue_get(qe, st, id)) != 0) {
		if (r == RB_ENOTFOUND)
			return cli_error("no queued run %lld in '%s'", id,
			    rb_store_path(st));
		cli_print_error(rb_store_error(st));
		return RB_EXIT_FAILED;
	}
	if (qe->status != NULL && strcmp(qe->status, "queued") != 0 &&
	    strcmp(qe->status, "started") != 0) {
		cli_error("queued run %lld is already %s%s%s", id, qe->status,
		    qe->run_id ? " as run " : "", qe->run_id ? qe->run_id : "");
		return RB_EXIT_REFUSED;
	}
	p = qe->params != NULL ? json_loads(qe->params, 0, NULL) : NULL;
	json_object_foreach(p, k, v)
		if (json_is_string(v))
			rb_strvec_pushf(kv, "%s=%s", k, json_string_value(v));
	json_decref(p);
	if (qe->alert != NULL &&
	    (qa->json = json_loads(qe->alert, 0, NULL)) != NULL) {
		qa->labels = labels_from(json_object_get(qa->json, "labels"),
		    &qa->a.nlabels);
		qa->annotations = labels_from(json_object_get(qa->json,
		    "annotations"), &qa->a.nannotations);
		qa->a.labels = qa->labels;
		qa->a.annotations = qa->annotations;
		qa->a.status = jget(qa->json, "status");
		qa->a.fingerprint = jget(qa->json, "fingerprint");
		qa->a.starts_at = jget(qa->json, "starts_at");
	}
	return 0;
}

int
cli_run_finished(const struct rb_run_result *res, const struct rb_runbook *rb)
{
	(void)rb;
	if (res->status == RB_RUN_PAUSED && res->paused_step[0] != '\0') {
		fprintf(stderr, "runbook: run %s is paused at step '%s': %s\n",
		    res->run_id, res->paused_step, res->paused_message);
		fprintf(stderr, "runbook: to continue: runbook approve %s %s "
		    "--by NAME [--comment TEXT]\n", res->run_id,
		    res->paused_step);
		fprintf(stderr, "runbook: to refuse:   runbook approve %s %s "
		    "--by NAME --reject\n", res->run_id, res->paused_step);
	} else if (res->status == RB_RUN_INTERRUPTED) {
		fprintf(stderr, "runbook: run %s was interrupted; 'runbook "
		    "resume %s' continues it\n", res->run_id, res->run_id);
	} else if (res->status == RB_RUN_FAILED ||
	    res->status == RB_RUN_ROLLBACK_FAILED) {
		fprintf(stderr, "runbook: 'runbook show %s' has every step's "
		    "output; 'runbook resume %s' retries what failed\n",
		    res->run_id, res->run_id);
	}
	return rb_run_exit_code(res->status);
}

/*
 * --interactive: ask in place whether to approve the gate the run paused
 * at; on an answer, record it and continue. Returns the exit code, or -1
 * when no answer was given (the run stays paused).
 */
static int
ask_in_place(const struct rb_run_result *res, const char *state,
    bool verbose, int json)
{
	char line[512], by[RB_STORE_ACTOR_SIZE];
	bool reject;
	size_t n;

	if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO))
		return -1;
	fprintf(stderr, "\n%s\napprove step '%s'? [y = approve, n = reject, "
	    "anything else = leave paused] ", res->paused_message,
	    res->paused_step);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return -1;
	n = strcspn(line, "\n");
	line[n] = '\0';
	if (strcmp(line, "y") == 0 || strcmp(line, "yes") == 0)
		reject = false;
	else if (strcmp(line, "n") == 0 || strcmp(line, "no") == 0)
		reject = true;
	else
		return -1;
	rb_store_default_actor(by, sizeof(by));
	if (cli_approve(state, res->run_id, res->paused_step, by, reject,
	    "answered at the terminal (--interactive)") != 0)
		return RB_EXIT_FAILED;
	return cli_resume(state, res->run_id, 0, NULL, NULL, json, verbose);
}

/* A full SHA-256 in hex, as `plan` prints it. */
static bool
is_digest(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return i == 64;
}

int
cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "param", required_argument, NULL, 'p' },
		{ "dry-run", optional_argument, NULL, 'n' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "inventory", required_argument, NULL, 'i' },
		{ "limit", required_argument, NULL, 'l' },
		{ "plan-digest", required_argument, NULL, 'D' },
		{ "force-window", no_argument, NULL, 'W' },
		{ "yes", no_argument, NULL, 'y' },
		{ "output", required_argument, NULL, 'o' },
		{ "state", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "interactive", no_argument, NULL, 'I' },
		{ "queue-id", required_argument, NULL, 'Q' },
		{ "accept-new-host-keys", no_argument, NULL, 'K' },
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
	struct rb_run_opts ro = RB_RUN_OPTS_INIT;
	struct rb_run_result res;
	struct render *rend = NULL;
	enum render_mode mode = RENDER_AUTO;
	const char *inv_path = NULL, *digest = NULL, *state_dir = NULL;
	struct rb_store *store = NULL;
	struct rb_buf dir = RB_BUF_INIT;
	char actor[RB_STORE_ACTOR_SIZE];
	bool verbose = false, interactive = false;
	long long jobs = 0, queue_id = -1;
	struct rb_queue_entry qe = RB_QUEUE_ENTRY_INIT;
	struct queued_alert qa;
	char run_id[64], qactor[512];

	memset(&qa, 0, sizeof(qa));
	int c, ex = RB_EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "p:n::j:i:l:D:Wyo:S:vh", opts,
	    NULL)) != -1) {
		switch (c) {
		case 'p':
			rb_strvec_push(&kv, optarg);
			break;
		case 'n':
			if (optarg == NULL)
				ro.dry_run = RB_DRY_ALL;
			else if (strcmp(optarg, "checks") == 0)
				ro.dry_run = RB_DRY_CHECKS;
			else {
				cli_error("unknown dry-run mode '%s'", optarg);
				cli_hint("use --dry-run or --dry-run=checks");
				goto out;
			}
			break;
		case 'j':
			if (rb_parse_int(&jobs, optarg, 1, 4096) != 0) {
				cli_error("bad --jobs '%s': expected a number "
				    "from 1 to 4096", optarg);
				goto out;
			}
			ro.jobs = (int)jobs;
			break;
		case 'i':
			inv_path = optarg;
			break;
		case 'l':
			ro.limit = optarg;
			break;
		case 'D':
			digest = optarg;
			break;
		case 'W':
			ro.force_window = true;
			break;
		case 'y':
			break;
		case 'I':
			interactive = true;
			break;
		case 'K':
			ro.accept_new_host_keys = true;
			break;
		case 'Q':
			if (rb_parse_int(&queue_id, optarg, 0, INT64_MAX)) {
				cli_error("bad --queue-id '%s'", optarg);
				goto out;
			}
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				mode = RENDER_JSON;
			else if (strcmp(optarg, "text") == 0)
				mode = RENDER_AUTO;
			else {
				cli_error("unknown output format '%s'", optarg);
				cli_hint("use --output text or --output json");
				goto out;
			}
			break;
		case 'S':
			state_dir = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			ex = cli_help_exit("run");
			goto out;
		default:
			cli_usage(stderr, "run");
			goto out;
		}
	}
	if (queue_id >= 0) {
		/* A run that `runbook serve` queued: its record says it all. */
		if (optind != argc) {
			cli_usage(stderr, "run");
			goto out;
		}
		if ((ex = cli_open_store(&store, state_dir)) != 0 ||
		    (ex = load_queued(&qe, &qa, &kv, store, queue_id)) != 0)
			goto out;
		ex = RB_EXIT_USAGE;
		rb_run_id_new(run_id);
		ro.run_id = run_id;
		ro.trigger = "webhook";
		ro.alert = qa.json != NULL ? &qa.a : NULL;
		mode = RENDER_PLAIN;
		rb_queue_mark(store, queue_id, "started", run_id);
	} else if (optind != argc - 1) {
		cli_usage(stderr, "run");
		goto out;
	}
	if ((ex = cli_load_runbook(&rb, queue_id >= 0 ? qe.runbook :
	    argv[optind])) != 0 ||
	    (ex = cli_load_inventory(&inv, inv_path)) != 0)
		goto out;
	ex = RB_EXIT_USAGE;
	if (rb_params_resolve(&params, rb, (const char *const *)kv.v, kv.nr,
	    &diags) != 0) {
		cli_print_diags(&diags);
		goto out;
	}
	if (digest != NULL || ro.dry_run == RB_DRY_ALL) {
		if (digest != NULL && !is_digest(digest)) {
			cli_error("bad --plan-digest '%s': a digest is 64 hex "
			    "characters; got %zu", digest, strlen(digest));
			cli_hint("copy the whole digest from the 'plan "
			    "digest:' line of 'runbook plan %s'", rb->name);
			ex = RB_EXIT_USAGE;
			goto out;
		}
		if (rb_plan_build(&plan, rb, &params, inv, &err) != 0) {
			cli_print_error(&err);
			goto out;
		}
	}
	if (digest != NULL && strcasecmp(digest, rb_plan_digest(plan)) != 0) {
		cli_error("plan digest mismatch for '%s': approved %s, "
		    "current %s", rb->name, digest, rb_plan_digest(plan));
		cli_hint("the runbook or its parameters changed since the plan "
		    "was approved; review 'runbook plan %s' again", rb->name);
		ex = RB_EXIT_REFUSED;
		goto out;
	}
	if (ro.dry_run == RB_DRY_ALL) {
		struct rb_buf b = RB_BUF_INIT;

		rb_plan_format(&b, plan, mode == RENDER_JSON ? RB_PLAN_JSON :
		    RB_PLAN_TEXT);
		fputs(b.buf, stdout);
		rb_buf_release(&b);
		fprintf(stderr, "runbook: dry run: nothing was executed\n");
		ex = RB_EXIT_OK;
		goto out;
	}
	if (rb_store_default_dir(&dir, state_dir, &err) != 0 ||
	    (store == NULL && rb_store_open(&store, dir.buf, &err) != 0)) {
		cli_print_error(&err);
		ex = RB_EXIT_FAILED;
		goto out;
	}
	rb_store_default_actor(actor, sizeof(actor));
	if (queue_id >= 0) {
		snprintf(qactor, sizeof(qactor), "webhook:%s/%s",
		    qe.source ? qe.source : "?", qe.route ? qe.route : "?");
		ro.actor = qactor;
	} else
		ro.actor = actor;
	ro.store = store;
	ro.plan_digest = digest;
	rend = render_new(mode, mode == RENDER_JSON ? stdout : stderr,
	    verbose);
	ro.inv = inv;
	ro.stream_output = verbose;
	ro.on_event = render_event;
	ro.payload = rend;
	if (rb_run(&res, rb, &params, &ro, &err) != 0) {
		render_summary(rend);
		cli_print_error(&err);
		ex = err.code == RB_EREFUSED ? RB_EXIT_REFUSED :
		    err.code == RB_EINTR ? RB_EXIT_INTERRUPTED : RB_EXIT_FAILED;
		if (err.code == RB_EIO && res.run_id[0] != '\0')
			cli_hint("the run is recorded as far as it got: "
			    "'runbook resume %s' continues it", res.run_id);
		goto out;
	}
	render_summary(rend);
	ex = cli_run_finished(&res, rb);
	/* The entry says how its run ended, even if the listener is gone. */
	if (queue_id >= 0)
		rb_queue_mark(store, queue_id, ex == RB_EXIT_OK ||
		    ex == RB_EXIT_PAUSED ? "done" : "failed", res.run_id);
	if (res.status == RB_RUN_PAUSED && interactive) {
		int ax;

		rb_store_free(store);
		store = NULL;
		if ((ax = ask_in_place(&res, dir.buf, verbose,
		    mode == RENDER_JSON)) >= 0)
			ex = ax;
	}
out:
	render_free(rend);
	rb_queue_entry_release(&qe);
	free(qa.labels);
	free(qa.annotations);
	json_decref(qa.json);
	rb_store_free(store);
	rb_buf_release(&dir);
	rb_plan_free(plan);
	rb_params_release(&params);
	rb_diags_release(&diags);
	rb_inventory_free(inv);
	rb_runbook_free(rb);
	rb_strvec_release(&kv);
	return ex;
}
