/* Unit tests for parse/parse_inventory.c: hosts, defaults and groups. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/model.h"

void test_parse_inventory__spec_example(void);
void test_parse_inventory__defaults_applied(void);
void test_parse_inventory__nested_groups(void);
void test_parse_inventory__errors(void);
void test_parse_inventory__group_cycle(void);
void test_parse_inventory__empty_and_missing(void);

static char *
diags_of(const char *yaml, int *out_r)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_inventory *inv = NULL;
	struct rb_buf out = RB_BUF_INIT;
	int r;

	r = rb_inventory_load_buf(&inv, "inv.yaml", yaml, strlen(yaml), &d);
	if ((r == 0) != (inv != NULL))
		rb_buf_adds(&out, "BUG: result and model disagree\n");
	rb_diags_sort(&d);
	rb_diags_format(&out, &d);
	rb_diags_release(&d);
	rb_inventory_free(inv);
	if (out_r != NULL)
		*out_r = r;
	return rb_buf_detach(&out, NULL);
}

static struct rb_inventory *
load_ok(const char *yaml)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_inventory *inv = NULL;
	struct rb_buf out = RB_BUF_INIT;

	if (rb_inventory_load_buf(&inv, "inv.yaml", yaml, strlen(yaml),
	    &d) != 0) {
		rb_diags_format(&out, &d);
		fprintf(stderr, "unexpected diagnostics:\n%s", out.buf);
	}
	rb_buf_release(&out);
	rb_diags_release(&d);
	return inv;
}

void
test_parse_inventory__spec_example(void)
{
	struct rb_inventory *inv = load_ok(
	    "defaults: {user: ops, port: 22, identity: ~/.ssh/id_ed25519, "
	    "known_hosts: ~/.ssh/known_hosts}\n"
	    "hosts:\n"
	    "  db1: {address: 10.0.0.11}\n"
	    "  db2: {address: 10.0.0.12, port: 2222}\n"
	    "groups:\n"
	    "  db: [db1, db2]\n");
	const struct rb_host *h;
	const struct rb_group *g;

	T_ASSERT(inv != NULL);
	T_EQ_INT(inv->nhosts, 2);
	h = rb_inventory_host(inv, "db2");
	T_ASSERT(h != NULL);
	T_EQ_STR(h->address, "10.0.0.12");
	T_EQ_INT(h->port, 2222);
	T_EQ_STR(h->user, "ops");
	/* ~/ is kept as written: it is expanded when connecting. */
	T_EQ_STR(h->identity, "~/.ssh/id_ed25519");
	T_EQ_STR(h->known_hosts, "~/.ssh/known_hosts");
	T_EQ_INT(h->loc.line, 4);
	T_EQ_INT(rb_inventory_host(inv, "db1")->port, 22);
	g = rb_inventory_group(inv, "db");
	T_ASSERT(g != NULL);
	T_EQ_INT(g->nmembers, 2);
	T_EQ_STR(g->members[0], "db1");
	T_EQ_STR(g->members[1], "db2");
	T_ASSERT(rb_inventory_host(inv, "db") == NULL);
	T_ASSERT(rb_inventory_group(inv, "db1") == NULL);
	T_EQ_STR(inv->path, "inv.yaml");
	rb_inventory_free(inv);
	rb_inventory_free(NULL);
}

void
test_parse_inventory__defaults_applied(void)
{
	const char *old = getenv("USER");
	char *saved = old != NULL ? strdup(old) : NULL;
	struct rb_inventory *inv;
	const struct rb_host *h;

	setenv("USER", "alice", 1);
	inv = load_ok("hosts:\n  a: 10.0.0.1\n  b:\n"
	    "  c: {user: bob, identity: /k, known_hosts: /kh, port: 2200}\n");
	if (saved != NULL)
		setenv("USER", saved, 1);
	else
		unsetenv("USER");
	free(saved);
	T_ASSERT(inv != NULL);
	h = rb_inventory_host(inv, "a");
	T_EQ_STR(h->address, "10.0.0.1");
	T_EQ_STR(h->user, "alice");
	T_EQ_INT(h->port, 22);
	T_ASSERT(h->identity == NULL && h->known_hosts == NULL);
	h = rb_inventory_host(inv, "b");
	T_EQ_STR(h->address, "b");
	h = rb_inventory_host(inv, "c");
	T_EQ_STR(h->user, "bob");
	T_EQ_STR(h->identity, "/k");
	T_EQ_STR(h->known_hosts, "/kh");
	T_EQ_INT(h->port, 2200);
	T_EQ_STR(h->address, "c");
	rb_inventory_free(inv);
}

void
test_parse_inventory__nested_groups(void)
{
	struct rb_inventory *inv = load_ok("hosts: {a: 1, b: 2, c: 3}\n"
	    "groups:\n  all: [web, db, local, a]\n  web: [a, b]\n"
	    "  db: [c, b]\n  none: []\n");
	const struct rb_group *g;

	T_ASSERT(inv != NULL);
	g = rb_inventory_group(inv, "all");
	T_EQ_INT(g->nmembers, 4);
	T_EQ_STR(g->members[0], "a");
	T_EQ_STR(g->members[1], "b");
	T_EQ_STR(g->members[2], "c");
	T_EQ_STR(g->members[3], "local");
	T_EQ_INT(rb_inventory_group(inv, "db")->nmembers, 2);
	T_EQ_INT(rb_inventory_group(inv, "none")->nmembers, 0);
	T_EQ_INT(g->loc.line, 3);
	rb_inventory_free(inv);
}

void
test_parse_inventory__errors(void)
{
	int r;
	char *got = diags_of("defaults: {user: ops, port: ssh, colour: x}\n"
	    "hosts:\n"
	    "  local: {address: x}\n"
	    "  bad host: 1\n"
	    "  db3: {adress: x, port: 70000}\n"
	    "  db4: [1]\n"
	    "  db5: \"10.0.0.5 extra\"\n"
	    "groups:\n"
	    "  web: [web1, db33, [x]]\n"
	    "  db3: [db4]\n"
	    "  g: db3\n", &r);

	T_EQ_INT(r, RB_EINVAL);
	T_EQ_STR(got,
	    "inv.yaml:1:29: error: 'port' must be a whole number from 1 to "
	    "65535, not 'ssh'\n"
	    "inv.yaml:1:34: error: unknown key 'colour' in 'defaults'\n"
	    "inv.yaml:1:34: hint: valid keys here: user, port, identity, "
	    "known_hosts\n"
	    "inv.yaml:3:3: error: 'local' is reserved\n"
	    "inv.yaml:3:3: hint: 'local' always means this machine; give the "
	    "host another name\n"
	    "inv.yaml:4:3: error: invalid host name 'bad host'\n"
	    "inv.yaml:4:3: hint: use letters, digits, '.', '_' and '-', "
	    "starting with a letter or digit\n"
	    "inv.yaml:5:9: error: unknown key 'adress' in host 'db3' (did you "
	    "mean 'address'?)\n"
	    "inv.yaml:5:26: error: 'port' must be a whole number from 1 to "
	    "65535, not '70000'\n"
	    "inv.yaml:6:8: error: 'db4' must be a mapping, not a list\n"
	    "inv.yaml:7:8: error: invalid address '10.0.0.5 extra' for host "
	    "'db5'\n"
	    "inv.yaml:7:8: hint: an address is a host name or an IP address, "
	    "without spaces\n"
	    "inv.yaml:9:9: error: unknown host or group 'web1' in group "
	    "'web' (did you mean 'web'?)\n"
	    "inv.yaml:9:9: hint: declare it under 'hosts:' or 'groups:'\n"
	    "inv.yaml:9:15: error: unknown host or group 'db33' in group 'web' "
	    "(did you mean 'db3'?)\n"
	    "inv.yaml:9:15: hint: declare it under 'hosts:' or 'groups:'\n"
	    "inv.yaml:9:21: error: each member of group 'web' must be a host "
	    "or group name, not a list\n"
	    "inv.yaml:10:3: error: 'db3' is both a host and a group\n"
	    "inv.yaml:10:3: hint: give the group another name\n"
	    "inv.yaml:11:6: error: group 'g' must be a list of host or group "
	    "names, not 'db3'\n");
	free(got);
}

void
test_parse_inventory__group_cycle(void)
{
	char *got = diags_of("hosts: {h: 1}\ngroups:\n"
	    "  a: [b]\n  b: [c, h]\n  c: [a]\n  d: [d]\n", NULL);

	T_EQ_STR(got,
	    "inv.yaml:5:7: error: group cycle: a -> b -> c -> a\n"
	    "inv.yaml:5:7: hint: a group cannot contain itself, directly or "
	    "through other groups\n"
	    "inv.yaml:6:7: error: group cycle: d -> d\n"
	    "inv.yaml:6:7: hint: a group cannot contain itself, directly or "
	    "through other groups\n");
	free(got);
}

void
test_parse_inventory__empty_and_missing(void)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_inventory *inv = NULL;
	struct rb_buf path = RB_BUF_INIT;
	char *got;

	inv = load_ok("");
	T_ASSERT(inv != NULL);
	T_EQ_INT(inv->nhosts, 0);
	rb_inventory_free(inv);
	got = diags_of("[a]\n", NULL);
	T_EQ_STR(got, "inv.yaml:1:1: error: an inventory must be a mapping, "
	    "not a list\n"
	    "inv.yaml:1:1: hint: start with 'hosts:' (and 'groups:')\n");
	free(got);
	rb_buf_addf(&path, "%s/none.yaml", rb_test_tmpdir());
	T_EQ_INT(rb_inventory_load(&inv, path.buf, &d), RB_ENOTFOUND);
	T_ASSERT(inv == NULL);
	T_EQ_INT(d.nr, 0);
	rb_buf_release(&path);
}
