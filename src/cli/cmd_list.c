/*
 * cmd_list.c - `runbook list`: the runbooks and playbooks on the search path
 * with their descriptions.
 */
#include <dirent.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "runbook/banned.h"

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* First line of a description, cut to fit a terminal line. */
static void
first_line(struct rb_buf *out, const char *s)
{
	size_t n = strcspn(s, "\n");

	if (n > 72) {
		rb_buf_add(out, s, 69);
		rb_buf_adds(out, "...");
	} else
		rb_buf_add(out, s, n);
}

static void
list_dir(const char *dir, struct rb_strvec *seen)
{
	struct rb_strvec files = RB_STRVEC_INIT;
	struct dirent *de;
	DIR *dp;
	size_t i, j;

	if ((dp = opendir(dir)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		if ((n > 5 && strcmp(de->d_name + n - 5, ".yaml") == 0) ||
		    (n > 4 && strcmp(de->d_name + n - 4, ".yml") == 0))
			rb_strvec_pushf(&files, "%s/%s", dir, de->d_name);
	}
	closedir(dp);
	qsort(files.v, files.nr, sizeof(char *), cmp_str);
	for (i = 0; i < files.nr; i++) {
		struct rb_diags d = RB_DIAGS_INIT;
		struct rb_runbook *rb = NULL;
		struct rb_buf desc = RB_BUF_INIT;
		bool dup = false;

		if (rb_runbook_load(&rb, files.v[i], 0, &d) != 0) {
			printf("%-24s %-8s (invalid: %zu errors; run 'runbook "
			    "validate %s')\n", files.v[i], "?", d.nerrors,
			    files.v[i]);
			rb_diags_release(&d);
			continue;
		}
		for (j = 0; j < seen->nr; j++)
			if (strcmp(seen->v[j], rb->name) == 0)
				dup = true;
		if (!dup) {
			rb_strvec_push(seen, rb->name);
			first_line(&desc, rb->description ? rb->description :
			    "");
			printf("%-24s %-8s %s\n", rb->name,
			    rb->playbook ? "playbook" : "runbook", desc.buf);
		}
		rb_buf_release(&desc);
		rb_diags_release(&d);
		rb_runbook_free(rb);
	}
	rb_strvec_release(&files);
}

int
cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct rb_strvec path = RB_STRVEC_INIT, seen = RB_STRVEC_INIT;
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help_exit("list");
		cli_usage(stderr, "list");
		return RB_EXIT_USAGE;
	}
	if (optind != argc) {
		cli_usage(stderr, "list");
		return RB_EXIT_USAGE;
	}
	rb_runbook_search_path(&path);
	for (i = 0; i < path.nr; i++)
		list_dir(path.v[i], &seen);
	if (seen.nr == 0) {
		fprintf(stderr, "runbook: no runbooks found in:");
		for (i = 0; i < path.nr; i++)
			fprintf(stderr, " %s", path.v[i]);
		fputc('\n', stderr);
		cli_hint("create runbooks/NAME.yaml or set RUNBOOK_PATH");
	}
	rb_strvec_release(&path);
	rb_strvec_release(&seen);
	return RB_EXIT_OK;
}
