/*
 * supervisor.c - run children: claim queued entries oldest first while
 * fewer than max_runs run, hold back an entry whose lock key one of our
 * runs holds (its run would be refused and the alert lost), start
 * `runbook run --queue-id ID` through rb_proc, and count how it ended.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runbook/queue.h"
#include "runbook/store.h"
#include "runbook/util.h"
#include "serve/serve_int.h"
#include "runbook/banned.h"

extern char **environ;

const char *const serve_run_result_names[RUN_N] = { "started", "succeeded",
	"failed", "paused" };

static void run_done(
    struct rb_proc *proc, struct rb_proc_result *res, void *payload);

static void
run_unlink(struct rb_wh_server *s, struct run *run)
{
	if (run->prev != NULL)
		run->prev->next = run->next;
	else
		s->runs = run->next;
	if (run->next != NULL)
		run->next->prev = run->prev;
	s->nrunning--;
}

/* Start the child for claimed entry id; takes lock_key. */
static void
run_start(struct rb_wh_server *s, int64_t id, char *lock_key)
{
	struct run *run = xcalloc(1, sizeof(*run));
	struct rb_error err = RB_ERROR_INIT;
	size_t i;

	rb_proc_init(&run->proc);
	run->srv = s;
	run->queue_id = id;
	run->lock_key = lock_key;
	rb_strvec_push(&run->proc.args, s->exe);
	rb_strvec_push(&run->proc.args, "run");
	rb_strvec_push(&run->proc.args, "--queue-id");
	rb_strvec_pushf(&run->proc.args, "%lld", (long long)id);
	rb_strvec_push(&run->proc.args, "--state");
	rb_strvec_push(&run->proc.args, s->state_dir);
	for (i = 0; i < s->child_env.nr; i++)
		rb_strvec_push(&run->proc.env, s->child_env.v[i]);
	run->proc.in = RB_PROC_DEVNULL;
	run->proc.out = STDERR_FILENO; /* the run's output: our log */
	run->proc.err = STDERR_FILENO;
	run->proc.on_done = run_done;
	run->proc.payload = run;
	if (rb_proc_start(&run->proc, s->loop, &err) != 0) {
		serve_log(s, RB_WH_LOG_ERROR, "cannot start run",
		    json_pack("{s:I,s:o}", "queue_id", (json_int_t)id, "error",
			serve_jstr(err.msg)));
		if (rb_queue_mark(s->st, id, "failed", NULL) != 0)
			serve_log(s, RB_WH_LOG_ERROR, "cannot mark queue entry",
			    json_pack("{s:I,s:o}", "queue_id", (json_int_t)id,
				"error",
				serve_jstr(rb_store_error(s->st)->msg)));
		s->m.runs[RUN_FAILED]++;
		rb_proc_release(&run->proc);
		free(run->lock_key);
		free(run);
		return;
	}
	run->next = s->runs;
	if (s->runs != NULL)
		s->runs->prev = run;
	s->runs = run;
	s->nrunning++;
	s->m.runs[RUN_STARTED]++;
	serve_log(s, RB_WH_LOG_INFO, "run started",
	    json_pack("{s:I,s:i}", "queue_id", (json_int_t)id, "pid",
		(int)run->proc.pid));
}

static void
run_done(struct rb_proc *proc, struct rb_proc_result *res, void *payload)
{
	struct run *run = payload;
	struct rb_wh_server *s = run->srv;
	const char *status;
	enum run_result rr;

	(void)proc;
	if (res->status == RB_EXIT_OK) {
		rr = RUN_SUCCEEDED;
		status = "done";
	} else if (res->status == RB_EXIT_PAUSED) {
		/* Waiting for `runbook approve`: the journal has it now. */
		rr = RUN_PAUSED;
		status = "done";
	} else {
		rr = RUN_FAILED;
		status = "failed";
	}
	s->m.runs[rr]++;
	if (rb_queue_mark(s->st, run->queue_id, status, NULL) != 0)
		serve_log(s, RB_WH_LOG_ERROR, "cannot mark queue entry",
		    json_pack("{s:I,s:o}", "queue_id",
			(json_int_t)run->queue_id, "error",
			serve_jstr(rb_store_error(s->st)->msg)));
	serve_log(s, rr == RUN_FAILED ? RB_WH_LOG_WARN : RB_WH_LOG_INFO,
	    "run finished",
	    json_pack("{s:I,s:i,s:i,s:s,s:I}", "queue_id",
		(json_int_t)run->queue_id, "pid", (int)proc->pid, "exit",
		res->status, "result", serve_run_result_names[rr],
		"duration_ms", (json_int_t)(res->end_ms - res->start_ms)));
	run_unlink(s, run);
	rb_proc_release(&run->proc);
	free(run->lock_key);
	free(run);
	s->want_claim = true;
}

/* Whether a running run holds (or will take) lock key. */
static bool
lock_busy(const struct rb_wh_server *s, const char *key)
{
	const struct run *run;

	for (run = s->runs; run != NULL; run = run->next)
		if (strcmp(run->lock_key, key) == 0)
			return true;
	return false;
}

/* The lock key of a claimed entry (see rb_wh_lock_key()). */
static char *
entry_lock_key(struct rb_wh_server *s, const struct rb_queue_entry *e)
{
	const struct rb_runbook *rb =
	    rb_wh_router_runbook(s->router, e->runbook);
	struct rb_buf key = RB_BUF_INIT;

	if (rb == NULL)
		/* Not one of ours (another listener's routes): by file. */
		rb_buf_adds(&key, e->runbook);
	else
		rb_wh_lock_key(&key, rb, e->params, e->alert);
	return rb_buf_detach(&key, NULL);
}

/* Start held entries whose lock is free, oldest first. */
static void
start_held(struct rb_wh_server *s)
{
	struct held **pp = &s->held, *h;

	while ((h = *pp) != NULL && s->nrunning < (size_t)s->max_runs) {
		if (lock_busy(s, h->lock_key)) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		s->nheld--;
		run_start(s, h->queue_id, h->lock_key);
		free(h);
	}
}

static void
hold(struct rb_wh_server *s, int64_t id, char *key)
{
	struct held *h = xcalloc(1, sizeof(*h)), **pp = &s->held;

	h->queue_id = id;
	h->lock_key = key;
	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = h;
	s->nheld++;
	serve_log(s, RB_WH_LOG_INFO,
	    "run waits for a running run with the same lock",
	    json_pack("{s:I}", "queue_id", (json_int_t)id));
}

/*
 * Start queued runs while there is room: first the held entries whose lock
 * came free, then newly claimed ones (held instead when their lock is
 * taken; at most max_runs are held, keeping the rest in the queue).
 */
void
serve_claim_runs(struct rb_wh_server *s)
{
	struct rb_queue_entry e = RB_QUEUE_ENTRY_INIT;
	char *key;
	int r;

	if (s->draining)
		return;
	start_held(s);
	while (s->want_claim && s->nrunning < (size_t)s->max_runs &&
	    s->nheld < (size_t)s->max_runs) {
		r = rb_queue_claim(&e, s->st);
		if (r == RB_ENOTFOUND) {
			s->want_claim = false;
			break;
		}
		if (r != 0) {
			/* Try again on the next event (a request or a run
			 * that ends); log only the first failure. */
			if (!s->claim_error_logged)
				serve_log(s, RB_WH_LOG_ERROR,
				    "cannot claim a queued run",
				    json_pack("{s:o}", "error",
					serve_jstr(
					    rb_store_error(s->st)->msg)));
			s->claim_error_logged = true;
			s->want_claim = false;
			break;
		}
		s->claim_error_logged = false;
		serve_log(s, RB_WH_LOG_INFO, "claimed queue entry",
		    json_pack("{s:I,s:o,s:o}", "queue_id", (json_int_t)e.id,
			"route", serve_jstr(e.route), "runbook",
			serve_jstr(e.runbook)));
		key = entry_lock_key(s, &e);
		if (lock_busy(s, key))
			hold(s, e.id, key);
		else
			run_start(s, e.id, key);
		rb_queue_entry_release(&e);
	}
}

/* The environment of run children: ours without socket activation, the
 * service manager's notification socket, or the listener's secrets. */
void
serve_build_child_env(struct rb_wh_server *s)
{
	static const char *const drop[] = { "LISTEN_PID", "LISTEN_FDS",
		"LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_PID",
		"WATCHDOG_USEC" };
	const char *const *secrets = rb_wh_auth_env_names(s->auth);
	char **e;
	size_t i, n;

	for (e = environ; e != NULL && *e != NULL; e++) {
		bool keep = true;

		for (i = 0; keep && i < RB_ARRAY_SIZE(drop); i++) {
			n = strlen(drop[i]);
			if (strncmp(*e, drop[i], n) == 0 && (*e)[n] == '=')
				keep = false;
		}
		for (i = 0; keep && secrets[i] != NULL; i++) {
			n = strlen(secrets[i]);
			if (strncmp(*e, secrets[i], n) == 0 && (*e)[n] == '=')
				keep = false;
		}
		if (keep)
			rb_strvec_push(&s->child_env, *e);
	}
}

int
serve_resolve_exe(struct rb_wh_server *s, struct rb_error *err)
{
	char buf[PATH_MAX];
	ssize_t n;

	if (s->o.exe != NULL) {
		s->exe = xstrdup(s->o.exe);
		return 0;
	}
	n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return rb_error_set(err, RB_EIO,
		    "cannot find the runbook binary (/proc/self/exe): %s",
		    strerror(errno));
	buf[n] = '\0';
	s->exe = xstrdup(buf);
	return 0;
}
