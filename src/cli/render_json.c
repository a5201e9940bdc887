/*
 * render_json.c - engine events as one JSON object per line (SPEC 5): every
 * object has "event", "ts" and "run_id"; the first is run_started. Field
 * names are an interface: add, never rename.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli/render.h"
#include "runbook/util.h"
#include "runbook/banned.h"


static void
set_str(json_t *o, const char *k, const char *v)
{
	json_t *j;

	if (v == NULL)
		return;
	j = json_string(v);
	json_object_set_new(o, k, j != NULL ? j :
	    json_string("<invalid utf-8>"));
}

void
render_json_event(const struct rb_event *ev, FILE *f)
{
	json_t *o = json_object();
	char ts[40];
	char *s;

	rb_time_format(ts, sizeof(ts), ev->ts);
	json_object_set_new(o, "event", json_string(rb_event_name(ev->type)));
	json_object_set_new(o, "ts", json_string(ts));
	set_str(o, "run_id", ev->run_id);
	switch (ev->type) {
	case RB_EV_RUN_STARTED:
		set_str(o, "runbook", ev->runbook);
		json_object_set_new(o, "dry_run", json_boolean(ev->dry_run));
		json_object_set_new(o, "resumed", json_boolean(ev->resumed));
		break;
	case RB_EV_RUN_FINISHED:
		set_str(o, "runbook", ev->runbook);
		json_object_set_new(o, "status",
		    json_string(rb_run_status_name(ev->run_status)));
		json_object_set_new(o, "exit_code",
		    json_integer(rb_run_exit_code(ev->run_status)));
		json_object_set_new(o, "duration_ms",
		    json_integer(ev->duration_ms));
		break;
	default:
		set_str(o, "step", ev->step_id);
		set_str(o, "name", ev->step_name);
		set_str(o, "action", ev->action);
		set_str(o, "host", ev->host ? ev->host : "local");
		json_object_set_new(o, "phase",
		    json_string(rb_phase_name(ev->phase)));
		json_object_set_new(o, "attempt", json_integer(ev->attempt));
		json_object_set_new(o, "max_attempts",
		    json_integer(ev->max_attempts));
		if (ev->type == RB_EV_STEP_FINISHED ||
		    ev->type == RB_EV_ROLLBACK_FINISHED ||
		    ev->type == RB_EV_STEP_SKIPPED) {
			json_object_set_new(o, "status",
			    json_string(rb_status_name(ev->status)));
		}
		if (ev->type == RB_EV_STEP_FINISHED ||
		    ev->type == RB_EV_ROLLBACK_FINISHED) {
			json_object_set_new(o, "exit_code",
			    ev->exit_code >= 0 ? json_integer(ev->exit_code) :
			    json_null());
			json_object_set_new(o, "duration_ms",
			    json_integer(ev->duration_ms));
			set_str(o, "stdout_tail", ev->out_tail);
			set_str(o, "stderr_tail", ev->err_tail);
			json_object_set_new(o, "stdout_bytes",
			    json_integer((json_int_t)ev->out_total));
			json_object_set_new(o, "stderr_bytes",
			    json_integer((json_int_t)ev->err_total));
			if (ev->nhosts > 0)
				json_object_set_new(o, "hosts",
				    json_integer(ev->nhosts));
		}
		if (ev->type == RB_EV_STEP_RETRY)
			json_object_set_new(o, "delay_ms",
			    json_integer(ev->delay_ms));
		if (ev->type == RB_EV_STEP_STARTED ||
		    ev->type == RB_EV_ROLLBACK_STARTED)
			set_str(o, "command", ev->command);
		if (ev->type == RB_EV_STEP_OUTPUT) {
			set_str(o, "line", ev->line);
			json_object_set_new(o, "stream", json_string(
			    ev->stream == 2 ? "stderr" : "stdout"));
		}
		set_str(o, "reason", ev->reason);
	}
	s = json_dumps(o, JSON_COMPACT);
	if (s != NULL) {
		fputs(s, f);
		fputc('\n', f);
		fflush(f);
	}
	free(s);
	json_decref(o);
}
