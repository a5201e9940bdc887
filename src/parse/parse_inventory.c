/*
 * parse_inventory.c - the schema pass for inventory files (SPEC 3): hosts
 * with their connection settings (defaults applied), and groups expanded
 * recursively into host names, with cycles and unknown members reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/strvec.h"
#include "runbook/util.h"
#include "parse/parse_int.h"
#include "runbook/banned.h"

/* Defaults for every host, from the `defaults` mapping. */
struct defaults {
	char *user;
	long long port;
	char *identity;
	char *known_hosts;
};

/* A group while its members are being expanded. */
struct gsrc {
	const struct rb_node *key;
	const struct rb_node *members; /* the list, or NULL when invalid */
	int state;		       /* 0 new, 1 expanding, 2 done */
	struct rb_strvec hosts;	       /* expanded member hosts */
};

struct invp {
	struct rb_diags *d;
	struct rb_inventory *inv;
	struct defaults def;
	struct gsrc *g; /* parallel to inv->groups */
	size_t ng;
	const char **names; /* hosts and groups, for suggestions */
	size_t nnames;
	struct rb_strvec path; /* groups being expanded, for cycles */
};

/* [A-Za-z0-9][A-Za-z0-9._-]*: a host or group name. */
static bool
valid_host_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || strlen(s) != len)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			continue;
		if (i > 0 && (c == '.' || c == '_' || c == '-'))
			continue;
		return false;
	}
	return true;
}

/* Report a bad or reserved host/group name; returns whether it is fine. */
static bool
check_name(struct invp *p, const struct rb_node *k, const char *what)
{
	struct rb_qbuf qb;

	if (!valid_host_name(k->str, k->len)) {
		rb_diag_error(p->d, &k->loc, "invalid %s name '%s'", what,
		    rb_qstr(&qb, k->str, k->len));
		rb_diag_hint(p->d,
		    "use letters, digits, '.', '_' and '-', "
		    "starting with a letter or digit");
		return false;
	}
	if (strcmp(k->str, "local") == 0) {
		rb_diag_error(p->d, &k->loc, "'local' is reserved");
		rb_diag_hint(p->d,
		    "'local' always means this machine; give "
		    "the %s another name",
		    what);
		return false;
	}
	return true;
}

/* Parse user/port/identity/known_hosts shared by defaults and hosts. */
static void
parse_conn(struct invp *p, const struct rb_node *user,
    const struct rb_node *port, const struct rb_node *identity,
    const struct rb_node *known_hosts, char **out_user, long long *out_port,
    char **out_identity, char **out_known_hosts)
{
	if (user != NULL) {
		free(*out_user);
		*out_user = parse_nonempty_str(p->d, user, "user");
	}
	if (port != NULL)
		(void)parse_int(p->d, port, "port", 1, 65535, out_port);
	if (identity != NULL) {
		free(*out_identity);
		*out_identity = parse_nonempty_str(p->d, identity, "identity");
	}
	if (known_hosts != NULL) {
		free(*out_known_hosts);
		*out_known_hosts =
		    parse_nonempty_str(p->d, known_hosts, "known_hosts");
	}
}

static void
parse_defaults(struct invp *p, const struct rb_node *n)
{
	enum { D_USER, D_PORT, D_IDENTITY, D_KNOWN_HOSTS, D_N };
	const struct rb_node *v[D_N];
	const struct parse_key keys[D_N] = { { "user", 0, &v[D_USER] },
		{ "port", 0, &v[D_PORT] }, { "identity", 0, &v[D_IDENTITY] },
		{ "known_hosts", 0, &v[D_KNOWN_HOSTS] } };

	if (!parse_want_map(p->d, n, "defaults"))
		return;
	parse_map(p->d, n, "'defaults'", keys, D_N);
	parse_conn(p, v[D_USER], v[D_PORT], v[D_IDENTITY], v[D_KNOWN_HOSTS],
	    &p->def.user, &p->def.port, &p->def.identity, &p->def.known_hosts);
}

static void
parse_host(struct invp *p, struct rb_host *h, const struct rb_node *k,
    const struct rb_node *n)
{
	enum { H_ADDRESS, H_PORT, H_USER, H_IDENTITY, H_KNOWN_HOSTS, H_N };
	const struct rb_node *v[H_N];
	const struct parse_key keys[H_N] = { { "address", 0, &v[H_ADDRESS] },
		{ "port", 0, &v[H_PORT] }, { "user", 0, &v[H_USER] },
		{ "identity", 0, &v[H_IDENTITY] },
		{ "known_hosts", 0, &v[H_KNOWN_HOSTS] } };
	const char *env_user = getenv("USER");
	long long port = p->def.port;
	char where[160];
	struct rb_qbuf qb;

	h->name = xstrndup(k->str, k->len);
	h->loc = k->loc;
	h->user = p->def.user != NULL		    ? xstrdup(p->def.user)
	    : env_user != NULL && *env_user != '\0' ? xstrdup(env_user)
						    : NULL;
	h->identity = p->def.identity != NULL ? xstrdup(p->def.identity) : NULL;
	h->known_hosts =
	    p->def.known_hosts != NULL ? xstrdup(p->def.known_hosts) : NULL;
	(void)check_name(p, k, "host");
	if (n->kind == RB_NODE_SCALAR) {
		/* NAME: ADDRESS, or NAME: with the name as the address. */
		h->address = parse_str(p->d, n, "address", NULL);
	} else if (parse_want_map(p->d, n, h->name)) {
		snprintf(where, sizeof(where), "host '%s'",
		    rb_qstr(&qb, k->str, k->len));
		parse_map(p->d, n, where, keys, H_N);
		if (v[H_ADDRESS] != NULL)
			h->address =
			    parse_nonempty_str(p->d, v[H_ADDRESS], "address");
		parse_conn(p, v[H_USER], v[H_PORT], v[H_IDENTITY],
		    v[H_KNOWN_HOSTS], &h->user, &port, &h->identity,
		    &h->known_hosts);
	}
	if (h->address != NULL && strpbrk(h->address, " \t\r\n") != NULL) {
		rb_diag_error(p->d, &n->loc,
		    "invalid address '%s' for host '%s'",
		    rb_qstr(&qb, h->address, strlen(h->address)), h->name);
		rb_diag_hint(p->d,
		    "an address is a host name or an IP "
		    "address, without spaces");
	}
	if (h->address == NULL)
		h->address = xstrdup(h->name);
	h->port = (int)port;
}

/* The index of group name, or -1. */
static long
find_group(const struct invp *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->inv->ngroups; i++)
		if (strcmp(p->inv->groups[i].name, name) == 0)
			return (long)i;
	return -1;
}

static void
add_unique(struct rb_strvec *sv, const char *s)
{
	size_t i;

	for (i = 0; i < sv->nr; i++)
		if (strcmp(sv->v[i], s) == 0)
			return;
	rb_strvec_push(sv, s);
}

/* Expand group gi into its hosts (depth-first, with cycle reports). */
static void
expand_group(struct invp *p, size_t gi)
{
	struct gsrc *g = &p->g[gi];
	const struct rb_node *m = g->members;
	const char *gname = p->inv->groups[gi].name;
	size_t i, j;

	if (g->state != 0)
		return;
	g->state = 1;
	rb_strvec_push(&p->path, gname);
	for (i = 0; m != NULL && i < m->nitems; i++) {
		const struct rb_node *it = m->items[i];
		struct rb_buf msg = RB_BUF_INIT;
		struct rb_qbuf qa, qb;
		long sub;

		if (it->kind != RB_NODE_SCALAR || rb_node_is_null(it) ||
		    strlen(it->str) != it->len)
			continue;
		if (strcmp(it->str, "local") == 0 ||
		    rb_inventory_host(p->inv, it->str) != NULL) {
			add_unique(&g->hosts, it->str);
			continue;
		}
		if ((sub = find_group(p, it->str)) >= 0) {
			struct gsrc *sg = &p->g[sub];

			if (sg->state == 1) {
				/* A cycle: from sub on the path back to it. */
				for (j = 0; j < p->path.nr; j++)
					if (strcmp(p->path.v[j], it->str) == 0)
						break;
				for (; j < p->path.nr; j++)
					rb_buf_addf(
					    &msg, "%s -> ", p->path.v[j]);
				rb_buf_adds(&msg, it->str);
				rb_diag_error(
				    p->d, &it->loc, "group cycle: %s", msg.buf);
				rb_diag_hint(p->d,
				    "a group cannot contain "
				    "itself, directly or through other groups");
				rb_buf_release(&msg);
				continue;
			}
			expand_group(p, (size_t)sub);
			g = &p->g[gi];
			for (j = 0; j < p->g[sub].hosts.nr; j++)
				add_unique(&g->hosts, p->g[sub].hosts.v[j]);
			continue;
		}
		rb_buf_addf(&msg, "unknown host or group '%s' in group '%s'",
		    rb_qstr(&qa, it->str, it->len),
		    rb_qstr(&qb, gname, strlen(gname)));
		parse_suggest(&msg, it->str, p->names, p->nnames);
		rb_diag_error(p->d, &it->loc, "%s", msg.buf);
		rb_diag_hint(p->d, "declare it under 'hosts:' or 'groups:'");
		rb_buf_release(&msg);
	}
	rb_strvec_pop(&p->path);
	g->state = 2;
}

static void
parse_groups(struct invp *p, const struct rb_node *n)
{
	struct rb_inventory *inv = p->inv;
	size_t i, j;

	if (!parse_want_map(p->d, n, "groups"))
		return;
	inv->groups = xcalloc(n->npairs + 1, sizeof(*inv->groups));
	p->g = xcalloc(n->npairs + 1, sizeof(*p->g));
	for (i = 0; i < n->npairs; i++) {
		const struct rb_node *k = n->pairs[i].key;
		const struct rb_node *v = n->pairs[i].value;
		struct rb_group *g = &inv->groups[inv->ngroups];
		struct rb_qbuf qa, qb;

		g->name = xstrndup(k->str, k->len);
		g->loc = k->loc;
		rb_strvec_init(&p->g[inv->ngroups].hosts);
		p->g[inv->ngroups].key = k;
		inv->ngroups++;
		p->ng++;
		if (!check_name(p, k, "group"))
			continue;
		if (rb_inventory_host(inv, g->name) != NULL) {
			rb_diag_error(p->d, &k->loc,
			    "'%s' is both a host and a group",
			    rb_qstr(&qb, k->str, k->len));
			rb_diag_hint(p->d, "give the group another name");
			continue;
		}
		if (v->kind != RB_NODE_SEQ) {
			rb_diag_error(p->d, &v->loc,
			    "group '%s' must be a "
			    "list of host or group names, not %s",
			    rb_qstr(&qa, k->str, k->len),
			    parse_describe(&qb, v));
			continue;
		}
		for (j = 0; j < v->nitems; j++) {
			const struct rb_node *it = v->items[j];

			if (it->kind != RB_NODE_SCALAR || rb_node_is_null(it))
				rb_diag_error(p->d, &it->loc,
				    "each member of "
				    "group '%s' must be a host or group name, "
				    "not %s",
				    g->name, parse_describe(&qb, it));
		}
		p->g[inv->ngroups - 1].members = v;
	}
	/* Every host and group name, for "did you mean". */
	p->names = xcalloc(inv->nhosts + inv->ngroups + 1, sizeof(*p->names));
	for (i = 0; i < inv->nhosts; i++)
		p->names[p->nnames++] = inv->hosts[i].name;
	for (i = 0; i < inv->ngroups; i++)
		p->names[p->nnames++] = inv->groups[i].name;
	for (i = 0; i < inv->ngroups; i++)
		expand_group(p, i);
	for (i = 0; i < inv->ngroups; i++) {
		struct rb_strvec *h = &p->g[i].hosts;

		inv->groups[i].nmembers = h->nr;
		inv->groups[i].members = xcalloc(h->nr + 1, sizeof(char *));
		for (j = 0; j < h->nr; j++)
			inv->groups[i].members[j] = xstrdup(h->v[j]);
	}
}

static void
parse_inventory(struct invp *p, const struct rb_node *root)
{
	enum { I_DEFAULTS, I_HOSTS, I_GROUPS, I_N };
	const struct rb_node *v[I_N];
	const struct parse_key keys[I_N] = { { "defaults", 0, &v[I_DEFAULTS] },
		{ "hosts", 0, &v[I_HOSTS] }, { "groups", 0, &v[I_GROUPS] } };
	struct rb_inventory *inv = p->inv;
	struct rb_qbuf qb;
	size_t i;

	if (root->kind != RB_NODE_MAP) {
		rb_diag_error(p->d, &root->loc,
		    "an inventory must be a mapping, not %s",
		    parse_describe(&qb, root));
		rb_diag_hint(p->d, "start with 'hosts:' (and 'groups:')");
		return;
	}
	parse_map(p->d, root, NULL, keys, I_N);
	if (v[I_DEFAULTS] != NULL)
		parse_defaults(p, v[I_DEFAULTS]);
	if (v[I_HOSTS] != NULL && parse_want_map(p->d, v[I_HOSTS], "hosts")) {
		const struct rb_node *hn = v[I_HOSTS];

		inv->hosts = xcalloc(hn->npairs + 1, sizeof(*inv->hosts));
		for (i = 0; i < hn->npairs; i++)
			parse_host(p, &inv->hosts[inv->nhosts++],
			    hn->pairs[i].key, hn->pairs[i].value);
	}
	if (v[I_GROUPS] != NULL)
		parse_groups(p, v[I_GROUPS]);
}

int
rb_inventory_load_buf(struct rb_inventory **out, const char *name,
    const char *data, size_t len, struct rb_diags *diags)
{
	struct rb_yaml_doc *doc = NULL;
	struct rb_inventory *inv = NULL;
	struct invp p;
	size_t before = diags->nerrors, i;
	int r;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	rb_strvec_init(&p.path);
	if ((r = rb_yaml_load_buf(&doc, name, data, len, diags)) != 0)
		goto out;
	inv = xcalloc(1, sizeof(*inv));
	inv->doc = doc;
	inv->path = xstrdup(rb_yaml_name(doc));
	p.d = diags;
	p.inv = inv;
	p.def.port = 22;
	if (rb_yaml_root(doc) != NULL)
		parse_inventory(&p, rb_yaml_root(doc));
	if (diags->nerrors > before) {
		r = RB_EINVAL;
		goto out;
	}
	*out = inv;
	inv = NULL;
	r = 0;
out:
	free(p.def.user);
	free(p.def.identity);
	free(p.def.known_hosts);
	for (i = 0; p.g != NULL && i < p.ng; i++)
		rb_strvec_release(&p.g[i].hosts);
	free(p.g);
	free(p.names);
	rb_strvec_release(&p.path);
	rb_inventory_free(inv);
	return r;
}

int
rb_inventory_load(
    struct rb_inventory **out, const char *path, struct rb_diags *diags)
{
	struct rb_buf buf = RB_BUF_INIT;
	int r;

	*out = NULL;
	if ((r = rb_file_read(&buf, path, diags)) == 0)
		r = rb_inventory_load_buf(out, path, buf.buf, buf.len, diags);
	rb_buf_release(&buf);
	return r;
}
