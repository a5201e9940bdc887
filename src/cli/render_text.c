/*
 * render_text.c - engine events as text: on a TTY a live line per running
 * step with its elapsed time and attempt, redrawn in place; otherwise one
 * plain line per event. Both end with a summary table. NO_COLOR turns
 * colour off (only colour); TERM=dumb turns off colour and the live lines.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/render.h"
#include "runbook/banned.h"

struct row {
	char *step;
	char *host;
	char *phase;
	enum rb_status status;
	int attempts;
	int64_t duration_ms;
	int64_t started;	/* wall ms, while running */
	char *action;
	bool on_host;		/* ran on an inventory host (a grid row) */
	bool verdict;		/* the judgement over a step's hosts */
};

struct render {
	enum render_mode mode;
	FILE *f;
	bool verbose;
	bool live;		/* TTY redraw */
	bool color;
	struct row *rows;
	size_t nrows, alloc;
	size_t live_lines;	/* lines of the live area on screen */
	char run_id[64];
	char runbook[128];
	enum rb_run_status final;
	bool finished;
	bool dry_run;
};


/* A terminal that cannot move the cursor (TERM unset or dumb). */
static bool
dumb_term(void)
{
	const char *term = getenv("TERM");

	return term == NULL || *term == '\0' || strcmp(term, "dumb") == 0;
}

struct render *
render_new(enum render_mode mode, FILE *f, bool verbose)
{
	struct render *r = xcalloc(1, sizeof(*r));

	r->mode = mode;
	r->f = f;
	r->verbose = verbose;
	r->color = mode != RENDER_JSON && cli_use_color(f);
	r->live = mode == RENDER_AUTO && isatty(fileno(f)) && !dumb_term();
	return r;
}

void
render_free(struct render *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nrows; i++) {
		free(r->rows[i].step);
		free(r->rows[i].host);
		free(r->rows[i].phase);
		free(r->rows[i].action);
	}
	free(r->rows);
	free(r);
}

static struct row *
find_row(struct render *r, const struct rb_event *ev, bool create)
{
	const char *phase = rb_phase_name(ev->phase);
	const char *host = ev->host ? ev->host : "local";
	size_t i;
	struct row *w;

	for (i = 0; i < r->nrows; i++) {
		w = &r->rows[i];
		if (strcmp(w->step, ev->step_id) == 0 &&
		    strcmp(w->host, host) == 0 && strcmp(w->phase, phase) == 0)
			return w;
	}
	if (!create)
		return NULL;
	RB_ALLOC_GROW(r->rows, r->nrows + 1, r->alloc);
	w = &r->rows[r->nrows++];
	memset(w, 0, sizeof(*w));
	w->step = xstrdup(ev->step_id);
	w->host = xstrdup(host);
	w->phase = xstrdup(phase);
	w->action = xstrdup(ev->action ? ev->action : "");
	w->status = RB_ST_PENDING;
	return w;
}

static const char *
col(struct render *r, const char *code)
{
	return r->color ? code : "";
}

static const char *
status_color(struct render *r, enum rb_status s)
{
	switch (s) {
	case RB_ST_SUCCEEDED:
		return col(r, "\033[32m");
	case RB_ST_FAILED:
	case RB_ST_TIMED_OUT:
		return col(r, "\033[1;31m");
	case RB_ST_SKIPPED:
	case RB_ST_NOT_RUN:
		return col(r, "\033[2m");
	default:
		return col(r, "\033[33m");
	}
}

static void
fmt_ms(char *out, size_t n, int64_t ms)
{
	if (ms < 1000)
		snprintf(out, n, "%lldms", (long long)ms);
	else if (ms < 60000)
		snprintf(out, n, "%.1fs", (double)ms / 1000.0);
	else
		snprintf(out, n, "%lldm%02llds", (long long)(ms / 60000),
		    (long long)(ms / 1000 % 60));
}

/* Erase the live area so a permanent line can be printed above it. */
static void
clear_live(struct render *r)
{
	if (!r->live || r->live_lines == 0)
		return;
	fprintf(r->f, "\033[%zuA\033[J", r->live_lines);
	r->live_lines = 0;
}

static void
draw_live(struct render *r, int64_t now)
{
	size_t i;

	if (!r->live)
		return;
	for (i = 0; i < r->nrows; i++) {
		const struct row *w = &r->rows[i];
		char el[32];

		if (w->status != RB_ST_RUNNING)
			continue;
		fmt_ms(el, sizeof(el), now - w->started);
		fprintf(r->f, "  %s~%s %s%s%s%s on %s  %s", col(r, "\033[33m"),
		    col(r, "\033[0m"), w->step,
		    strcmp(w->phase, "main") ? " (" : "",
		    strcmp(w->phase, "main") ? w->phase : "",
		    strcmp(w->phase, "main") ? ")" : "", w->host, el);
		if (w->attempts > 1)
			fprintf(r->f, "  attempt %d", w->attempts);
		fputc('\n', r->f);
		r->live_lines++;
	}
	fflush(r->f);
}

static void
print_tail(struct render *r, const char *label, const char *tail,
    uint64_t total)
{
	const char *p = tail, *nl;

	if (tail == NULL || *tail == '\0')
		return;
	fprintf(r->f, "    %s%s", col(r, "\033[2m"), label);
	if (total > strlen(tail))
		fprintf(r->f, " (last %zu of %llu bytes)", strlen(tail),
		    (unsigned long long)total);
	fprintf(r->f, ":%s\n", col(r, "\033[0m"));
	while (*p != '\0') {
		nl = strchr(p, '\n');
		fprintf(r->f, "    | %.*s\n",
		    nl != NULL ? (int)(nl - p) : (int)strlen(p), p);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

void
render_command(FILE *f, const char *indent, const char *command)
{
	const char *c = command, *nl;

	for (;;) {
		nl = strchr(c, '\n');
		fprintf(f, "%s$ %.*s\n", indent,
		    nl != NULL ? (int)(nl - c) : (int)strlen(c), c);
		if (nl == NULL || nl[1] == '\0')
			break;
		c = nl + 1;
	}
}

static void
step_line(struct render *r, const struct rb_event *ev, const char *what)
{
	const char *host = ev->host ? ev->host : "local";

	fprintf(r->f, "%s%-7s%s %s", status_color(r, ev->status), what,
	    col(r, "\033[0m"), ev->step_id);
	if (ev->phase != RB_PHASE_MAIN)
		fprintf(r->f, " (%s)", rb_phase_name(ev->phase));
	if (strcmp(host, "local") != 0)
		fprintf(r->f, " on %s", host);
}

void
render_event(const struct rb_event *ev, void *payload)
{
	struct render *r = payload;
	struct row *w;
	char d[32];

	if (r->mode == RENDER_JSON) {
		if (ev->type != RB_EV_TICK)
			render_json_event(ev, r->f);
		return;
	}
	if (ev->type == RB_EV_TICK) {
		clear_live(r);
		draw_live(r, ev->ts);
		return;
	}
	clear_live(r);
	switch (ev->type) {
	case RB_EV_RUN_STARTED:
		snprintf(r->run_id, sizeof(r->run_id), "%s", ev->run_id);
		snprintf(r->runbook, sizeof(r->runbook), "%s", ev->runbook);
		r->dry_run = ev->dry_run;
		fprintf(r->f, "%srunbook%s: %s '%s' %s, run %s\n",
		    col(r, "\033[1m"), col(r, "\033[0m"),
		    ev->dry_run ? "dry run (checks only) of" : "run of",
		    ev->runbook, ev->resumed ? "resumed" : "started",
		    ev->run_id);
		break;
	case RB_EV_STEP_STARTED:
	case RB_EV_ROLLBACK_STARTED:
		w = find_row(r, ev, true);
		w->status = RB_ST_RUNNING;
		w->attempts = ev->attempt;
		w->started = ev->ts;
		if (ev->host != NULL && strcmp(ev->host, "local") != 0)
			w->on_host = true;
		if (!r->live || r->verbose) {
			step_line(r, ev, "start");
			if (ev->attempt > 1)
				fprintf(r->f, " attempt %d/%d", ev->attempt,
				    ev->max_attempts);
			fputc('\n', r->f);
		}
		if (r->verbose && ev->command != NULL)
			render_command(r->f, "    ", ev->command);
		break;
	case RB_EV_STEP_OUTPUT:
		/* Hosts run at once: each line says whose it is. */
		if (ev->host != NULL && strcmp(ev->host, "local") != 0)
			fprintf(r->f, "    %s %s %s\n", ev->host,
			    ev->stream == 2 ? "!" : "|", ev->line);
		else
			fprintf(r->f, "    %s %s\n",
			    ev->stream == 2 ? "!" : "|", ev->line);
		break;
	case RB_EV_STEP_RETRY:
		w = find_row(r, ev, true);
		w->status = RB_ST_PENDING;
		fmt_ms(d, sizeof(d), ev->delay_ms);
		step_line(r, ev, "retry");
		fprintf(r->f, ": %s; attempt %d/%d in %s\n",
		    ev->reason ? ev->reason : "not done yet", ev->attempt + 1,
		    ev->max_attempts, d);
		break;
	case RB_EV_STEP_SKIPPED:
		w = find_row(r, ev, true);
		w->status = ev->status;
		/* Carried over from before a resume: what it took then. */
		w->attempts = ev->attempt;
		w->duration_ms = ev->duration_ms;
		step_line(r, ev, ev->status == RB_ST_SKIPPED ||
		    ev->status == RB_ST_NOT_RUN ? "skip" : "done");
		if (ev->reason != NULL)
			fprintf(r->f, ": %s", ev->reason);
		fputc('\n', r->f);
		break;
	case RB_EV_STEP_FINISHED:
	case RB_EV_ROLLBACK_FINISHED:
		w = find_row(r, ev, true);
		w->status = ev->status;
		w->attempts = ev->attempt;
		w->duration_ms = ev->duration_ms;
		if (ev->nhosts > 0) {
			w->verdict = true;
			/* One host: its own line has said it all. */
			if (ev->nhosts == 1)
				break;
		}
		fmt_ms(d, sizeof(d), ev->duration_ms);
		step_line(r, ev, ev->status == RB_ST_SUCCEEDED ? "ok" :
		    rb_status_name(ev->status));
		fprintf(r->f, " in %s", d);
		if (ev->attempt > 1)
			fprintf(r->f, " after %d attempts", ev->attempt);
		if (ev->status != RB_ST_SUCCEEDED && ev->reason != NULL)
			fprintf(r->f, ": %s", ev->reason);
		fputc('\n', r->f);
		if (ev->status != RB_ST_SUCCEEDED &&
		    ev->status != RB_ST_PAUSED && !r->verbose) {
			print_tail(r, "stdout", ev->out_tail, ev->out_total);
			print_tail(r, "stderr", ev->err_tail, ev->err_total);
		}
		break;
	case RB_EV_RUN_FINISHED:
		r->finished = true;
		r->final = ev->run_status;
		break;
	default:
		break;
	}
	draw_live(r, ev->ts);
	fflush(r->f);
}

/* A short status word for one cell of the host x step grid. */
static const char *
cell(enum rb_status st)
{
	switch (st) {
	case RB_ST_SUCCEEDED:
		return "ok";
	case RB_ST_FAILED:
		return "FAIL";
	case RB_ST_TIMED_OUT:
		return "TIME";
	case RB_ST_SKIPPED:
		return "skip";
	case RB_ST_INTERRUPTED:
		return "INT";
	case RB_ST_NOT_RUN:
		return "-";
	default:
		return "...";
	}
}

/*
 * When steps ran on several inventory hosts, a host x step grid: one line
 * per host, one column per step that ran on hosts.
 */
static void
grid(struct render *r)
{
	struct rb_strvec hosts = RB_STRVEC_INIT, steps = RB_STRVEC_INIT;
	size_t i, j, k, wh = 4;

	for (i = 0; i < r->nrows; i++) {
		const struct row *w = &r->rows[i];
		bool seen = false;

		if (!w->on_host || strcmp(w->phase, "main") != 0)
			continue;
		for (j = 0; j < hosts.nr && !seen; j++)
			seen = strcmp(hosts.v[j], w->host) == 0;
		if (!seen)
			rb_strvec_push(&hosts, w->host);
		seen = false;
		for (j = 0; j < steps.nr && !seen; j++)
			seen = strcmp(steps.v[j], w->step) == 0;
		if (!seen)
			rb_strvec_push(&steps, w->step);
	}
	if (hosts.nr < 2)
		goto out;
	for (j = 0; j < hosts.nr; j++)
		if (strlen(hosts.v[j]) > wh)
			wh = strlen(hosts.v[j]);
	fprintf(r->f, "\n%s%-*s", col(r, "\033[1m"), (int)wh, "HOST");
	for (k = 0; k < steps.nr; k++)
		fprintf(r->f, "  %-*s", (int)(strlen(steps.v[k]) > 4 ?
		    strlen(steps.v[k]) : 4), steps.v[k]);
	fprintf(r->f, "%s\n", col(r, "\033[0m"));
	for (j = 0; j < hosts.nr; j++) {
		fprintf(r->f, "%-*s", (int)wh, hosts.v[j]);
		for (k = 0; k < steps.nr; k++) {
			enum rb_status st = RB_ST_NOT_RUN;
			int wcol = (int)(strlen(steps.v[k]) > 4 ?
			    strlen(steps.v[k]) : 4);

			for (i = 0; i < r->nrows; i++)
				if (r->rows[i].on_host &&
				    strcmp(r->rows[i].host, hosts.v[j]) == 0 &&
				    strcmp(r->rows[i].step, steps.v[k]) == 0 &&
				    strcmp(r->rows[i].phase, "main") == 0)
					st = r->rows[i].status;
			fprintf(r->f, "  %s%-*s%s", status_color(r, st), wcol,
			    cell(st), col(r, "\033[0m"));
		}
		fputc('\n', r->f);
	}
out:
	rb_strvec_release(&hosts);
	rb_strvec_release(&steps);
}

/* A row the table leaves out: a group's verdict (its hosts have rows). */
static bool
hidden_row(const struct row *w)
{
	return w->verdict && !w->on_host;
}

/* Whether two rows are the main phase of the same step. */
static bool
same_step(const struct row *a, const struct row *b)
{
	return strcmp(a->step, b->step) == 0 &&
	    strcmp(a->phase, "main") == 0 && strcmp(b->phase, "main") == 0;
}

/*
 * Whether a row counts as one step in the run's totals: main-phase rows
 * only (not rollbacks or on_failure), and for a step on hosts its verdict,
 * not each host (a host row counts only while there is no verdict yet).
 */
static bool
counts_as_step(const struct render *r, const struct row *w)
{
	const struct row *x;
	size_t i;

	if (strcmp(w->phase, "main") != 0)
		return false;
	if (w->verdict || !w->on_host)
		return true;
	for (i = 0; i < r->nrows; i++)
		if (r->rows[i].verdict && same_step(&r->rows[i], w))
			return false;
	for (i = 0; i < r->nrows; i++) {
		x = &r->rows[i];
		/* Several hosts, no verdict: the first stands for all. */
		if (x != w && x->on_host && same_step(x, w))
			return x > w;
	}
	return true;
}

void
render_summary(struct render *r)
{
	size_t i, wstep = 4, whost = 6;
	size_t ok = 0, failed = 0, skipped = 0;

	if (r->mode == RENDER_JSON)
		return;
	clear_live(r);
	for (i = 0; i < r->nrows; i++) {
		const struct row *w = &r->rows[i];
		size_t n;

		if (hidden_row(w))
			continue;
		n = strlen(w->step) + (strcmp(w->phase, "main") != 0 ?
		    strlen(w->phase) + 3 : 0);

		if (n > wstep)
			wstep = n;
		if (strlen(r->rows[i].host) > whost)
			whost = strlen(r->rows[i].host);
	}
	if (r->nrows > 0) {
		fprintf(r->f, "\n%s%-*s  %-*s  %-11s  %8s  %9s%s\n",
		    col(r, "\033[1m"), (int)wstep, "STEP", (int)whost, "TARGET",
		    "STATUS", "ATTEMPTS", "DURATION", col(r, "\033[0m"));
	}
	for (i = 0; i < r->nrows; i++) {
		const struct row *w = &r->rows[i];
		char name[256], d[32];

		if (counts_as_step(r, w)) {
			if (w->status == RB_ST_SUCCEEDED)
				ok++;
			else if (w->status == RB_ST_SKIPPED)
				skipped++;
			else if (w->status == RB_ST_FAILED ||
			    w->status == RB_ST_TIMED_OUT)
				failed++;
		}
		if (hidden_row(w))
			continue;
		if (strcmp(w->phase, "main") != 0)
			snprintf(name, sizeof(name), "%s (%s)", w->step,
			    w->phase);
		else
			snprintf(name, sizeof(name), "%s", w->step);
		if (w->status == RB_ST_SKIPPED || w->attempts == 0)
			snprintf(d, sizeof(d), "-");
		else
			fmt_ms(d, sizeof(d), w->duration_ms);
		fprintf(r->f, "%-*s  %-*s  %s%-11s%s  %8d  %9s\n", (int)wstep,
		    name, (int)whost, w->host, status_color(r, w->status),
		    rb_status_name(w->status), col(r, "\033[0m"), w->attempts,
		    d);
	}
	grid(r);
	if (r->finished)
		fprintf(r->f, "\nrun %s %s%s%s: %zu succeeded, %zu failed, "
		    "%zu skipped\n", r->run_id,
		    r->final == RB_RUN_SUCCEEDED ? col(r, "\033[1;32m") :
		    col(r, "\033[1;31m"), rb_run_status_name(r->final),
		    col(r, "\033[0m"), ok, failed, skipped);
	fflush(r->f);
}
