/*
 * cmd_validate.c - `runbook validate FILE|DIR...`: check runbook, playbook,
 * inventory and routes files and report every problem at once.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "runbook/banned.h"

enum kind {
	KIND_RUNBOOK,
	KIND_INVENTORY,
	KIND_ROUTES
};

struct totals {
	size_t files, errors, warnings;
	const struct rb_inventory *inv;	/* to check `on:` targets, or NULL */
};

/* Check one literal target against the inventory. */
static void
check_target(struct rb_diags *d, const struct rb_inventory *inv,
    const struct rb_tmpl *on, const struct rb_loc *loc, const char *what)
{
	const char **names;
	const char *t, *sug;
	size_t i, n = 0;

	if (on == NULL || !rb_tmpl_is_literal(on))
		return;
	t = rb_tmpl_source(on);
	if (strcmp(t, "local") == 0 || rb_inventory_host(inv, t) != NULL ||
	    rb_inventory_group(inv, t) != NULL)
		return;
	names = xcalloc(inv->nhosts + inv->ngroups + 1, sizeof(*names));
	for (i = 0; i < inv->nhosts; i++)
		names[n++] = inv->hosts[i].name;
	for (i = 0; i < inv->ngroups; i++)
		names[n++] = inv->groups[i].name;
	sug = rb_suggest(t, names, n);
	if (sug != NULL)
		rb_diag_error(d, loc, "%s targets '%s', which is not a host or "
		    "group of '%s' (did you mean '%s'?)", what, t, inv->path,
		    sug);
	else
		rb_diag_error(d, loc, "%s targets '%s', which is not a host or "
		    "group of '%s'", what, t, inv->path);
	rb_diag_hint(d, "use 'local', or add it to the inventory");
	free(names);
}

static void
check_targets(struct rb_diags *d, const struct rb_inventory *inv,
    const struct rb_runbook *rb)
{
	char what[300];
	size_t i;

	if (inv == NULL)
		return;
	check_target(d, inv, rb->on, rb->steps ? &rb->steps[0].loc : NULL,
	    "the runbook");
	for (i = 0; i < rb->nsteps; i++) {
		snprintf(what, sizeof(what), "step '%s'", rb->steps[i].id);
		check_target(d, inv, rb->steps[i].on, &rb->steps[i].loc, what);
	}
}

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
		if (rb_node_get(root, "runbook") ||
		    rb_node_get(root, "playbook") ||
		    rb_node_get(root, "steps"))
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

/*
 * A routes file names the environment variables that hold its secrets;
 * `serve` refuses to start while one is unset. Say so here too, as a
 * warning (validate may run where the secrets are not).
 */
static void
check_secret_env(struct rb_diags *d, const struct rb_routes *routes)
{
	static const struct {
		const char *section, *key, *what;
		size_t off;
	} envs[] = {
		{ NULL, "bearer_token_env", "the bearer token",
		    offsetof(struct rb_routes_auth, bearer_token_env) },
		{ "basic", "user_env", "the basic auth user",
		    offsetof(struct rb_routes_auth, basic_user_env) },
		{ "basic", "password_env", "the basic auth password",
		    offsetof(struct rb_routes_auth, basic_password_env) },
		{ "hmac", "secret_env", "the HMAC secret",
		    offsetof(struct rb_routes_auth, hmac_secret_env) },
		{ "grafana", "secret_env", "the Grafana signing secret",
		    offsetof(struct rb_routes_auth, grafana_secret_env) },
	};
	const struct rb_node *auth, *n;
	const char *name, *v;
	size_t i;

	auth = rb_node_get(rb_yaml_root(routes->doc), "auth");
	for (i = 0; i < RB_ARRAY_SIZE(envs); i++) {
		name = *(char *const *)((const char *)&routes->auth +
		    envs[i].off);
		if (name == NULL || ((v = getenv(name)) != NULL && *v != '\0'))
			continue;
		n = envs[i].section != NULL ?
		    rb_node_get(rb_node_get(auth, envs[i].section),
		    envs[i].key) : rb_node_get(auth, envs[i].key);
		rb_diag_warn(d, n != NULL ? &n->loc : NULL, "environment "
		    "variable '%s' (%s) is not set: 'runbook serve' refuses "
		    "to start without it", name, envs[i].what);
		rb_diag_hint(d, "export %s=... first (e.g. $(openssl rand -hex "
		    "32), the same value the sender is given)", name);
	}
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
		if (r == 0)
			check_secret_env(&d, routes);
		break;
	default:
		r = rb_runbook_load(&rb, path,
		    RB_RUNBOOK_LOAD_CHECK_SUBRUNBOOKS, &d);
		if (r == 0)
			check_targets(&d, t->inv, rb);
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
	size_t i, dirlen = strlen(dir);

	while (dirlen > 1 && dir[dirlen - 1] == '/')
		dirlen--;
	if ((dp = opendir(dir)) == NULL) {
		cli_error("cannot open directory '%s'", dir);
		t->errors++;
		return;
	}
	while ((de = readdir(dp)) != NULL)
		if (de->d_name[0] != '.')
			rb_strvec_pushf(&names, "%.*s/%s", (int)dirlen, dir,
			    de->d_name);
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
		{ "inventory", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct totals t = { 0, 0, 0, NULL };
	struct rb_inventory *inv = NULL;
	const char *inv_path = NULL;
	int c, i, ex;

	while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help_exit("validate");
		if (c == 'i') {
			inv_path = optarg;
			continue;
		}
		cli_usage(stderr, "validate");
		return RB_EXIT_USAGE;
	}
	if (optind >= argc) {
		cli_usage(stderr, "validate");
		return RB_EXIT_USAGE;
	}
	if ((ex = cli_load_inventory(&inv, inv_path)) != 0)
		return ex;
	t.inv = inv;
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
	rb_inventory_free(inv);
	return t.errors ? RB_EXIT_USAGE : RB_EXIT_OK;
}
