/*
 * node.h - the located YAML node tree (first parsing pass).
 *
 * libyaml events become a tree in which every node knows its file, line and
 * column. A document owns all of its nodes (arena); nothing in the tree is
 * freed on its own. Scalars keep their text and whether they were quoted, so
 * the schema pass can tell `null` from "null".
 */
#ifndef RUNBOOK_NODE_H
#define RUNBOOK_NODE_H

#include "runbook/diag.h"

enum rb_node_kind {
	RB_NODE_SCALAR,
	RB_NODE_MAP,
	RB_NODE_SEQ
};

struct rb_node_pair;

struct rb_node {
	enum rb_node_kind kind;
	struct rb_loc loc;	/* where the node starts (a quote, `|`, `[`) */
	/* RB_NODE_SCALAR */
	char *str;		/* NUL-terminated (may contain NUL: use len) */
	size_t len;
	bool quoted;		/* single, double, literal or folded style */
	/*
	 * Where the scalar's text starts: after an opening quote, or on the
	 * first line of a block scalar's body. Templates and expressions are
	 * parsed at this location so their errors point at the right column.
	 */
	struct rb_loc text_loc;
	/* RB_NODE_MAP */
	struct rb_node_pair *pairs;
	size_t npairs;
	/* RB_NODE_SEQ */
	struct rb_node **items;
	size_t nitems;
};

struct rb_node_pair {
	struct rb_node *key;	/* always a scalar */
	struct rb_node *value;
};

struct rb_yaml_doc;

/*
 * Parse YAML text into a document. Syntax errors, duplicate keys, non-scalar
 * keys, merge keys (<<), unknown anchors and more than one document become
 * diagnostics in diags (with the position libyaml reports). Aliases are
 * resolved by sharing nodes; total alias expansion is capped (100000 nodes)
 * so a "billion laughs" input fails fast, as are nesting (256 levels), the
 * number of nodes (1000000) and the input size (16 MiB).
 * name is the file name used in locations. Returns 0 and sets *out, or
 * RB_EINVAL (diagnostics added) with *out NULL. An empty document gives a
 * document whose root is NULL.
 */
int rb_yaml_load_buf(struct rb_yaml_doc **out, const char *name,
    const char *data, size_t len, struct rb_diags *diags);
/*
 * Read path (capped at 16 MiB) and parse it. RB_ENOTFOUND, with nothing
 * reported, if it is missing; other read errors are diagnostics (RB_EINVAL).
 */
int rb_yaml_load_file(struct rb_yaml_doc **out, const char *path,
    struct rb_diags *diags);
/* The root node, or NULL for an empty document. */
const struct rb_node *rb_yaml_root(const struct rb_yaml_doc *doc);
/* The file name locations point to (owned by the document). */
const char *rb_yaml_name(const struct rb_yaml_doc *doc);
void rb_yaml_free(struct rb_yaml_doc *doc);

/* The value for key in a map node, or NULL. */
const struct rb_node *rb_node_get(const struct rb_node *map, const char *key);
/* A scalar that is YAML null: plain ~, null, Null, NULL or empty. */
bool rb_node_is_null(const struct rb_node *n);
/* Human name of a node's kind: "a mapping", "a list", "a string". */
const char *rb_node_kind_name(const struct rb_node *n);

#endif
