/*
 * cmd_validate.c - `runbook validate FILE|DIR...`: check runbook, playbook,
 * inventory and routes files and report every problem at once.
 */
#include <dirent.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "runbook/banned.h"

enum kind {
	KIND_RUNBOOK,
	KIND_INVENTORY,
	KIND_ROUTES
};

struct totals {
	size_t files, errors, warnings;
};

/* Decide what a file is from its top-level keys. */
static enum kind
detect_kind(const char *path)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_yaml_doc *doc = NULL;
	const struct rb_node *root;
	enum kind k = KIND_RUNBOOK;

	if (rb_yaml_load_file(&doc, path, &d) == 0 &&
	    (root = rb_yaml_root(doc)) != NULL && root->kind == RB_NODE_MAP) {
		if (rb_node_get(root, "runbook") || rb_node_get(root, "playbook")
		    || rb_node_get(root, "steps"))
			k = KIND_RUNBOOK;
		else if (rb_node_get(root, "routes"))
			k = KIND_ROUTES;
		else if (rb_node_get(root, "hosts") ||
		    rb_node_get(root, "groups") ||
		    rb_node_get(root, "defaults"))
			k = KIND_INVENTORY;
	}
	rb_yaml_free(doc);
	rb_diags_release(&d);
	return k;
}

static void
validate_file(const char *path, struct totals *t)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_runbook *rb = NULL;
	struct rb_inventory *inv = NULL;
	struct rb_routes *routes = NULL;
	int r;

	t->files++;
	switch (detect_kind(path)) {
	case KIND_INVENTORY:
		r = rb_inventory_load(&inv, path, &d);
		break;
	case KIND_ROUTES:
		r = rb_routes_load(&routes, path, &d);
		break;
	default:
		r = rb_runbook_load(&rb, path,
		    RB_RUNBOOK_LOAD_CHECK_SUBRUNBOOKS, &d);
	}
	if (r == RB_ENOTFOUND && d.nr == 0)
		rb_diag_error(&d, NULL, "cannot read '%s': no such file", path);
	t->errors += d.nerrors;
	t->warnings += d.nwarnings;
	cli_print_diags(&d);
	rb_diags_release(&d);
	rb_runbook_free(rb);
	rb_inventory_free(inv);
	rb_routes_free(routes);
}

static bool
is_yaml(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	    (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Validate every YAML file under dir, in name order, recursively. */
static void
validate_dir(const char *dir, struct totals *t)
{
	struct rb_strvec names = RB_STRVEC_INIT;
	struct dirent *de;
	DIR *dp;
	size_t i;

	if ((dp = opendir(dir)) == NULL) {
		cli_error("cannot open directory '%s'", dir);
		t->errors++;
		return;
	}
	while ((de = readdir(dp)) != NULL)
		if (de->d_name[0] != '.')
			rb_strvec_pushf(&names, "%s/%s", dir, de->d_name);
	closedir(dp);
	qsort(names.v, names.nr, sizeof(char *), cmp_str);
	for (i = 0; i < names.nr; i++) {
		struct stat st;

		if (stat(names.v[i], &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			validate_dir(names.v[i], t);
		else if (is_yaml(names.v[i]))
			validate_file(names.v[i], t);
	}
	rb_strvec_release(&names);
}

int
cmd_validate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct totals t = { 0, 0, 0 };
	int c, i;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help_exit("validate");
		cli_usage(stderr, "validate");
		return RB_EXIT_USAGE;
	}
	if (optind >= argc) {
		cli_usage(stderr, "validate");
		return RB_EXIT_USAGE;
	}
	for (i = optind; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			validate_dir(argv[i], &t);
		else
			validate_file(argv[i], &t);
	}
	printf("%zu %s checked: %zu %s, %zu %s\n", t.files,
	    t.files == 1 ? "file" : "files", t.errors,
	    t.errors == 1 ? "error" : "errors", t.warnings,
	    t.warnings == 1 ? "warning" : "warnings");
	return t.errors ? RB_EXIT_USAGE : RB_EXIT_OK;
}
