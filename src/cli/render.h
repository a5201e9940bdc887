/*
 * render.h - turning engine events into what a person or a program reads:
 * live TTY lines, plain lines, or one JSON object per line.
 */
#ifndef RUNBOOK_CLI_RENDER_H
#define RUNBOOK_CLI_RENDER_H

#include <stdio.h>

#include "runbook/engine.h"

struct render;

enum render_mode {
	RENDER_AUTO,		/* live on a TTY, plain otherwise */
	RENDER_PLAIN,
	RENDER_JSON
};

/* Output goes to f (stdout for JSON, stderr-safe choice left to caller). */
struct render *render_new(enum render_mode mode, FILE *f, bool verbose);
/* An rb_event_fn; payload is the struct render. */
void render_event(const struct rb_event *ev, void *payload);
/* Print the summary table (text modes only). */
void render_summary(struct render *r);
void render_free(struct render *r);
/*
 * A command as a reader would type it: every line after indent and "$ ",
 * without the empty last line of a YAML block scalar.
 */
void render_command(FILE *f, const char *indent, const char *command);
/* One event as a JSON line on f (render_json.c). */
void render_json_event(const struct rb_event *ev, FILE *f);

#endif
