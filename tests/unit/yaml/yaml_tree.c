/* Unit tests for yaml/yaml_tree.c: the located node tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/node.h"

void test_yaml_yaml_tree__locations(void);
void test_yaml_yaml_tree__scalars(void);
void test_yaml_yaml_tree__block_text_loc(void);
void test_yaml_yaml_tree__empty(void);
void test_yaml_yaml_tree__syntax_error(void);
void test_yaml_yaml_tree__tab_hint(void);
void test_yaml_yaml_tree__duplicate_keys(void);
void test_yaml_yaml_tree__non_scalar_key(void);
void test_yaml_yaml_tree__merge_key(void);
void test_yaml_yaml_tree__multiple_documents(void);
void test_yaml_yaml_tree__aliases_shared(void);
void test_yaml_yaml_tree__alias_errors(void);
void test_yaml_yaml_tree__billion_laughs(void);
void test_yaml_yaml_tree__too_deep(void);
void test_yaml_yaml_tree__bad_utf8(void);
void test_yaml_yaml_tree__too_big(void);
void test_yaml_yaml_tree__load_file(void);

/* Parse text; return the sorted diagnostics as text (caller frees). */
static char *
diags_of(const char *text, size_t len, int *out_r)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_yaml_doc *doc = NULL;
	struct rb_buf out = RB_BUF_INIT;
	int r;

	r = rb_yaml_load_buf(&doc, "t.yaml", text, len, &d);
	if ((r == 0) != (doc != NULL))
		rb_buf_adds(&out, "BUG: result and document disagree\n");
	rb_diags_sort(&d);
	rb_diags_format(&out, &d);
	rb_diags_release(&d);
	rb_yaml_free(doc);
	if (out_r != NULL)
		*out_r = r;
	return rb_buf_detach(&out, NULL);
}

void
test_yaml_yaml_tree__locations(void)
{
	const char *y = "a: 1\nb:\n  - x\n  - {c: d}\n";
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_yaml_doc *doc = NULL;
	const struct rb_node *root, *b, *m;

	T_EQ_INT(rb_yaml_load_buf(&doc, "t.yaml", y, strlen(y), &d), 0);
	T_EQ_INT(d.nr, 0);
	root = rb_yaml_root(doc);
	T_ASSERT(root != NULL && root->kind == RB_NODE_MAP);
	T_EQ_STR(rb_yaml_name(doc), "t.yaml");
	T_EQ_STR(root->loc.file, "t.yaml");
	T_EQ_INT(root->npairs, 2);
	T_EQ_STR(root->pairs[0].key->str, "a");
	T_EQ_INT(root->pairs[0].key->loc.line, 1);
	T_EQ_INT(root->pairs[0].key->loc.col, 1);
	T_EQ_INT(root->pairs[0].value->loc.col, 4);
	b = rb_node_get(root, "b");
	T_ASSERT(b != NULL && b->kind == RB_NODE_SEQ);
	T_EQ_INT(b->nitems, 2);
	T_EQ_INT(b->items[0]->loc.line, 3);
	T_EQ_INT(b->items[0]->loc.col, 5);
	m = b->items[1];
	T_EQ_INT(m->kind, RB_NODE_MAP);
	T_EQ_INT(m->loc.line, 4);
	T_EQ_INT(m->loc.col, 5);
	T_EQ_STR(rb_node_get(m, "c")->str, "d");
	T_EQ_INT(rb_node_get(m, "c")->loc.col, 9);
	T_ASSERT(rb_node_get(m, "zz") == NULL);
	T_ASSERT(rb_node_get(b, "c") == NULL);
	T_EQ_STR(rb_node_kind_name(m), "a mapping");
	T_EQ_STR(rb_node_kind_name(b), "a list");
	T_EQ_STR(rb_node_kind_name(b->items[0]), "a string");
	rb_yaml_free(doc);
	rb_diags_release(&d);
}

void
test_yaml_yaml_tree__scalars(void)
{
	const char *y = "a: ~\nb: 'null'\nc: \"x\\0y\"\nd:\ne: !!str 5\n"
	    "f: Null\ng: plain\n";
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_yaml_doc *doc = NULL;
	const struct rb_node *root, *c;

	T_EQ_INT(rb_yaml_load_buf(&doc, "t.yaml", y, strlen(y), &d), 0);
	root = rb_yaml_root(doc);
	T_ASSERT(rb_node_is_null(rb_node_get(root, "a")));
	T_ASSERT(!rb_node_is_null(rb_node_get(root, "b")));
	T_ASSERT(rb_node_get(root, "b")->quoted);
	c = rb_node_get(root, "c");
	T_EQ_INT(c->len, 3);
	T_ASSERT(memcmp(c->str, "x\0y", 3) == 0);
	/* The text starts after the quote. */
	T_EQ_INT(c->loc.col, 4);
	T_EQ_INT(c->text_loc.col, 5);
	T_ASSERT(rb_node_is_null(rb_node_get(root, "d")));
	T_ASSERT(rb_node_get(root, "e")->quoted);
	T_ASSERT(rb_node_is_null(rb_node_get(root, "f")));
	T_ASSERT(!rb_node_get(root, "g")->quoted);
	T_EQ_INT(rb_node_get(root, "g")->text_loc.col, 4);
	T_ASSERT(!rb_node_is_null(root));
	rb_yaml_free(doc);
	rb_diags_release(&d);
}

void
test_yaml_yaml_tree__block_text_loc(void)
{
	const char *y = "run: |\n\n    echo one\n    echo two\nx: >-\n  folded\n";
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_yaml_doc *doc = NULL;
	const struct rb_node *run, *x;

	T_EQ_INT(rb_yaml_load_buf(&doc, "t.yaml", y, strlen(y), &d), 0);
	run = rb_node_get(rb_yaml_root(doc), "run");
	T_EQ_STR(run->str, "\necho one\necho two\n");
	T_ASSERT(run->quoted);
	T_EQ_INT(run->loc.line, 1);
	T_EQ_INT(run->loc.col, 6);
	/* The body starts on the line after the header, at its indent. */
	T_EQ_INT(run->text_loc.line, 2);
	T_EQ_INT(run->text_loc.col, 5);
	x = rb_node_get(rb_yaml_root(doc), "x");
	T_EQ_INT(x->text_loc.line, 6);
	T_EQ_INT(x->text_loc.col, 3);
	rb_yaml_free(doc);
	rb_diags_release(&d);
}

void
test_yaml_yaml_tree__empty(void)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_yaml_doc *doc = NULL;

	T_EQ_INT(rb_yaml_load_buf(&doc, "t.yaml", "", 0, &d), 0);
	T_ASSERT(doc != NULL);
	T_ASSERT(rb_yaml_root(doc) == NULL);
	rb_yaml_free(doc);
	T_EQ_INT(rb_yaml_load_buf(&doc, NULL, "# only a comment\n", 17, &d),
	    0);
	T_ASSERT(rb_yaml_root(doc) == NULL);
	T_EQ_STR(rb_yaml_name(doc), "<input>");
	rb_yaml_free(doc);
	T_EQ_INT(d.nr, 0);
	rb_yaml_free(NULL);
	T_ASSERT(rb_yaml_root(NULL) == NULL);
}

void
test_yaml_yaml_tree__syntax_error(void)
{
	const char *y = "steps:\n  - id: a\n    run: echo a: b\n";
	char *got;
	int r;

	got = diags_of(y, strlen(y), &r);
	T_EQ_INT(r, RB_EINVAL);
	T_EQ_STR(got, "t.yaml:3:16: error: invalid YAML: mapping values are "
	    "not allowed in this context\n"
	    "t.yaml:3:16: hint: quote the value if it contains ': ', or check "
	    "the indentation of this line\n");
	free(got);

	y = "a: \"unclosed\n";
	got = diags_of(y, strlen(y), &r);
	T_EQ_STR(got, "t.yaml:2:1: error: invalid YAML: found unexpected end "
	    "of stream (while scanning a quoted scalar at line 1, column 4)\n"
	    "t.yaml:2:1: hint: check for an unclosed quote or bracket\n");
	free(got);

	y = "a:\n  b: 1\n c: 2\n";
	got = diags_of(y, strlen(y), &r);
	T_EQ_STR(got, "t.yaml:3:2: error: invalid YAML: did not find expected "
	    "key (while parsing a block mapping at line 1, column 1)\n"
	    "t.yaml:3:2: hint: check the indentation: the keys of one mapping "
	    "(and the items of one list) must line up\n");
	free(got);
}

void
test_yaml_yaml_tree__tab_hint(void)
{
	const char *y = "a:\n\t- b\n";
	char *got = diags_of(y, strlen(y), NULL);

	T_EQ_STR(got, "t.yaml:2:1: error: invalid YAML: found character that "
	    "cannot start any token (while scanning for the next token)\n"
	    "t.yaml:2:1: hint: indent with spaces: YAML does not allow tabs "
	    "for indentation\n");
	free(got);
}

void
test_yaml_yaml_tree__duplicate_keys(void)
{
	const char *y = "a: 1\nb:\n  x: 1\n  y: 2\n  x: 3\na: 4\nc: {a: 1, a: 2}\n";
	char *got;
	int r;

	got = diags_of(y, strlen(y), &r);
	T_EQ_INT(r, RB_EINVAL);
	T_EQ_STR(got,
	    "t.yaml:5:3: error: duplicate key 'x' (first at line 3)\n"
	    "t.yaml:5:3: hint: remove one of them: later keys would silently "
	    "replace earlier ones\n"
	    "t.yaml:6:1: error: duplicate key 'a' (first at line 1)\n"
	    "t.yaml:6:1: hint: remove one of them: later keys would silently "
	    "replace earlier ones\n"
	    "t.yaml:7:11: error: duplicate key 'a' (first at line 7)\n"
	    "t.yaml:7:11: hint: remove one of them: later keys would silently "
	    "replace earlier ones\n");
	free(got);
}

void
test_yaml_yaml_tree__non_scalar_key(void)
{
	const char *y = "? [a, b]\n: 1\nok: 2\n";
	char *got = diags_of(y, strlen(y), NULL);

	T_EQ_STR(got, "t.yaml:1:3: error: mapping key is a list, not a string\n"
	    "t.yaml:1:3: hint: keys must be plain names; quote a key that "
	    "looks like YAML syntax\n");
	free(got);
}

void
test_yaml_yaml_tree__merge_key(void)
{
	const char *y = "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n";
	char *got = diags_of(y, strlen(y), NULL);

	T_EQ_STR(got, "t.yaml:3:3: error: merge keys ('<<') are not "
	    "supported\n"
	    "t.yaml:3:3: hint: write the keys out in full; an alias (*name) "
	    "can still stand for a whole value\n");
	free(got);
}

void
test_yaml_yaml_tree__multiple_documents(void)
{
	const char *y = "a: 1\n---\nb: 2\n---\nc: 3\n";
	char *got = diags_of(y, strlen(y), NULL);

	/* Reported once, at the second document. */
	T_EQ_STR(got, "t.yaml:2:1: error: more than one YAML document in one "
	    "file\n"
	    "t.yaml:2:1: hint: put each document ('---') in a file of its "
	    "own\n");
	free(got);
}

void
test_yaml_yaml_tree__aliases_shared(void)
{
	const char *y = "x: &a {k: v}\ny: *a\nz: [*a, *a]\n";
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_yaml_doc *doc = NULL;
	const struct rb_node *root;

	T_EQ_INT(rb_yaml_load_buf(&doc, "t.yaml", y, strlen(y), &d), 0);
	root = rb_yaml_root(doc);
	T_ASSERT(rb_node_get(root, "x") == rb_node_get(root, "y"));
	T_ASSERT(rb_node_get(root, "z")->items[1] == rb_node_get(root, "x"));
	T_EQ_STR(rb_node_get(rb_node_get(root, "y"), "k")->str, "v");
	rb_yaml_free(doc);
	rb_diags_release(&d);
}

void
test_yaml_yaml_tree__alias_errors(void)
{
	const char *y = "a: *nope\nb: &self [1, *self]\n";
	char *got = diags_of(y, strlen(y), NULL);

	T_EQ_STR(got, "t.yaml:1:4: error: unknown anchor 'nope' in alias\n"
	    "t.yaml:1:4: hint: define it first with '&nope' on an earlier "
	    "value\n"
	    "t.yaml:2:14: error: alias '*self' refers to the node that "
	    "contains it\n");
	free(got);
}

void
test_yaml_yaml_tree__billion_laughs(void)
{
	struct rb_buf y = RB_BUF_INIT;
	char *got;
	int i, j, r;

	rb_buf_adds(&y, "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (i = 1; i < 10; i++) {
		rb_buf_addf(&y, "l%d: &l%d [", i, i);
		for (j = 0; j < 8; j++)
			rb_buf_addf(&y, "%s*l%d", j ? ", " : "", i - 1);
		rb_buf_adds(&y, "]\n");
	}
	got = diags_of(y.buf, y.len, &r);
	T_EQ_INT(r, RB_EINVAL);
	T_CONTAINS(got, "error: aliases expand to more than 100000 nodes\n");
	T_CONTAINS(got, "t.yaml:6:");
	free(got);
	rb_buf_release(&y);
}

void
test_yaml_yaml_tree__too_deep(void)
{
	struct rb_buf y = RB_BUF_INIT;
	char *got;
	int i;

	for (i = 0; i < 300; i++)
		rb_buf_addch(&y, '[');
	for (i = 0; i < 300; i++)
		rb_buf_addch(&y, ']');
	got = diags_of(y.buf, y.len, NULL);
	T_EQ_STR(got, "t.yaml:1:257: error: document is nested deeper than 256 "
	    "levels\n");
	free(got);
	rb_buf_release(&y);
}

void
test_yaml_yaml_tree__bad_utf8(void)
{
	const char *y = "a: b\nc: \xff\n";
	char *got = diags_of(y, strlen(y), NULL);

	T_EQ_STR(got, "t.yaml:2:4: error: invalid YAML: invalid leading UTF-8 "
	    "octet (#FF)\n");
	free(got);
}

void
test_yaml_yaml_tree__too_big(void)
{
	size_t n = 16 * 1024 * 1024 + 1;
	char *big = malloc(n), *got;

	T_ASSERT(big != NULL);
	memset(big, ' ', n);
	got = diags_of(big, n, NULL);
	T_EQ_STR(got, "t.yaml: error: file is larger than 16 MiB\n");
	free(got);
	free(big);
}

void
test_yaml_yaml_tree__load_file(void)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_yaml_doc *doc = NULL;
	struct rb_buf path = RB_BUF_INIT, out = RB_BUF_INIT;
	FILE *f;

	rb_buf_addf(&path, "%s/x.yaml", rb_test_tmpdir());
	T_EQ_INT(rb_yaml_load_file(&doc, path.buf, &d), RB_ENOTFOUND);
	T_EQ_INT(d.nr, 0);
	f = fopen(path.buf, "w");
	T_ASSERT(f != NULL);
	fputs("k: v\n", f);
	fclose(f);
	T_EQ_INT(rb_yaml_load_file(&doc, path.buf, &d), 0);
	T_EQ_STR(rb_node_get(rb_yaml_root(doc), "k")->str, "v");
	T_EQ_STR(rb_yaml_root(doc)->loc.file, path.buf);
	rb_yaml_free(doc);
	/* A directory cannot be read. */
	T_EQ_INT(rb_yaml_load_file(&doc, rb_test_tmpdir(), &d), RB_EINVAL);
	rb_diags_format(&out, &d);
	T_CONTAINS(out.buf, ": error: cannot read '");
	T_CONTAINS(out.buf, "': is a directory\n");
	remove(path.buf);
	rb_buf_release(&out);
	rb_buf_release(&path);
	rb_diags_release(&d);
}
