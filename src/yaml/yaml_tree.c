/*
 * yaml_tree.c - the first parsing pass: libyaml events become a tree of
 * located nodes (node.h).
 *
 * Every node, string and array of a document lives in the document's arena
 * and is freed with it. The builder keeps a stack of open collections; a
 * mapping is checked for duplicate keys when it closes. Aliases share the
 * anchored node, and the number of nodes reachable through aliases is
 * capped so that a "billion laughs" document fails fast instead of making
 * later passes walk an exponential tree.
 */
#include <stdalign.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "runbook/error.h"
#include "runbook/node.h"
#include "runbook/diag.h"
#include "runbook/banned.h"

/* Largest input accepted, in bytes. */
#define YAML_MAX_INPUT RB_FILE_MAX
/* Nodes reachable through aliases, summed over every alias. */
#define YAML_MAX_ALIAS_NODES 100000
/* Nodes of one document (aliases not counted). */
#define YAML_MAX_NODES 1000000
/* Deepest nesting of collections. */
#define YAML_MAX_DEPTH 256
/* Arena chunk size; larger requests get a chunk of their own. */
#define ARENA_CHUNK (64 * 1024)

struct chunk {
	struct chunk *next;
	size_t size; /* usable bytes after the header */
	size_t used;
};

/* Room for the chunk header, rounded up to the strictest alignment. */
#define CHUNK_HDR                                                              \
	((sizeof(struct chunk) + alignof(max_align_t) - 1) &                   \
	    ~(alignof(max_align_t) - 1))

struct rb_yaml_doc {
	char *name;	      /* file name for locations */
	struct chunk *chunks; /* arena; the head is the one being filled */
	struct rb_node *root; /* or NULL for an empty document */
};

/* An open collection on the builder's stack. */
struct frame {
	struct rb_node *node;
	char *anchor;	       /* registered when the node closes, or NULL */
	struct rb_node **kids; /* items; for maps key, value, key, value... */
	size_t nkids, alloc;
	size_t size; /* nodes in the subtree, aliases expanded */
};

struct anchor {
	char *name; /* NULL: empty slot */
	struct rb_node *node;
	size_t size; /* nodes in its subtree, aliases expanded */
};

struct builder {
	struct rb_yaml_doc *doc;
	struct rb_diags *diags;
	const char *data; /* the input, for positions of block scalars */
	size_t len;
	size_t *lines; /* byte offset of each line start (lazy) */
	size_t nlines;
	struct frame *stack;
	size_t depth, alloc;
	struct anchor *anchors; /* open-addressing hash table */
	size_t nanchors, anchor_cap;
	size_t nnodes;	 /* nodes created */
	size_t expanded; /* nodes reached through aliases */
	size_t ndocs;
	bool failed; /* an error was reported */
	bool stop;   /* stop reading events */
};

/* ------------------------------------------------------------------ */
/* Arena */

/* Allocate n zeroed bytes owned by doc. */
static void *
arena_alloc(struct rb_yaml_doc *doc, size_t n)
{
	struct chunk *c = doc->chunks;
	size_t align = alignof(max_align_t);
	void *p;

	n = (n + align - 1) & ~(align - 1);
	if (n == 0)
		n = align;
	if (c == NULL || c->size - c->used < n) {
		size_t size = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;

		c = xcalloc(1, CHUNK_HDR + size);
		c->size = size;
		if (size == n && doc->chunks != NULL) {
			/* A big block: keep filling the current chunk. */
			c->next = doc->chunks->next;
			doc->chunks->next = c;
		} else {
			c->next = doc->chunks;
			doc->chunks = c;
		}
	}
	p = (char *)c + CHUNK_HDR + c->used;
	c->used += n;
	return p;
}

/* Copy len bytes into the arena and NUL-terminate them. */
static char *
arena_strndup(struct rb_yaml_doc *doc, const char *s, size_t len)
{
	char *p = arena_alloc(doc, len + 1);

	if (len > 0)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void
rb_yaml_free(struct rb_yaml_doc *doc)
{
	struct chunk *c, *next;

	if (doc == NULL)
		return;
	for (c = doc->chunks; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(doc->name);
	free(doc);
}

/* ------------------------------------------------------------------ */
/* Positions */

/* Build the table of line starts, treating \n, \r\n and \r as breaks. */
static void
build_lines(struct builder *b)
{
	size_t i, alloc = 0;

	if (b->lines != NULL)
		return;
	RB_ALLOC_GROW(b->lines, 1, alloc);
	b->lines[b->nlines++] = 0;
	for (i = 0; i < b->len; i++) {
		if (b->data[i] == '\r' && i + 1 < b->len &&
		    b->data[i + 1] == '\n')
			i++;
		else if (b->data[i] != '\n' && b->data[i] != '\r')
			continue;
		RB_ALLOC_GROW(b->lines, b->nlines + 1, alloc);
		b->lines[b->nlines++] = i + 1;
	}
}

/* The 1-based line and column of a byte offset. */
static struct rb_loc
offset_loc(struct builder *b, size_t off)
{
	struct rb_loc loc = { b->doc->name, 1, 1 };
	size_t lo = 0, hi;

	build_lines(b);
	hi = b->nlines;
	/* The last line start <= off. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->lines[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	loc.line = (int)lo + 1;
	loc.col = (int)(off - b->lines[lo]) + 1;
	return loc;
}

static struct rb_loc
mark_loc(struct builder *b, const yaml_mark_t *m)
{
	struct rb_loc loc;

	loc.file = b->doc->name;
	loc.line = m->line < INT32_MAX ? (int)m->line + 1 : INT32_MAX;
	loc.col = m->column < INT32_MAX ? (int)m->column + 1 : INT32_MAX;
	return loc;
}

/*
 * Where the body of a block scalar starts: the line after its header, at
 * the indentation of its first non-blank line. Falls back to the header.
 */
static struct rb_loc
block_text_loc(struct builder *b, const yaml_mark_t *m, struct rb_loc header)
{
	struct rb_loc loc = header;
	size_t line;

	build_lines(b);
	for (line = m->line + 1; line < b->nlines; line++) {
		size_t p = b->lines[line], indent = 0;

		while (p + indent < b->len && b->data[p + indent] == ' ')
			indent++;
		if (p + indent >= b->len)
			break;
		if (b->data[p + indent] == '\n' || b->data[p + indent] == '\r')
			continue;
		if (m->line + 1 >= INT32_MAX || indent >= INT32_MAX)
			break;
		loc.line = (int)m->line + 2;
		loc.col = (int)indent + 1;
		break;
	}
	return loc;
}

/* ------------------------------------------------------------------ */
/* Anchors */

static size_t
hash_str(const char *s)
{
	size_t h = 14695981039346656037ULL & SIZE_MAX;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL & SIZE_MAX;
	}
	return h;
}

static struct anchor *
anchor_slot(struct anchor *tab, size_t cap, const char *name)
{
	size_t i = hash_str(name) & (cap - 1);

	while (tab[i].name != NULL && strcmp(tab[i].name, name) != 0)
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

static struct anchor *
anchor_find(struct builder *b, const char *name)
{
	struct anchor *a;

	if (b->anchor_cap == 0)
		return NULL;
	a = anchor_slot(b->anchors, b->anchor_cap, name);
	return a->name != NULL ? a : NULL;
}

/* Define (or redefine, as YAML allows) an anchor; takes name. */
static void
anchor_define(struct builder *b, char *name, struct rb_node *node, size_t size)
{
	struct anchor *a;
	size_t i;

	if (2 * (b->nanchors + 1) > b->anchor_cap) {
		size_t cap = b->anchor_cap ? 2 * b->anchor_cap : 64;
		struct anchor *tab = xcalloc(cap, sizeof(*tab));

		for (i = 0; i < b->anchor_cap; i++)
			if (b->anchors[i].name != NULL)
				*anchor_slot(tab, cap, b->anchors[i].name) =
				    b->anchors[i];
		free(b->anchors);
		b->anchors = tab;
		b->anchor_cap = cap;
	}
	a = anchor_slot(b->anchors, b->anchor_cap, name);
	if (a->name != NULL)
		free(name);
	else {
		a->name = name;
		b->nanchors++;
	}
	a->node = node;
	a->size = size;
}

/* ------------------------------------------------------------------ */
/* Building */

static void fail(struct builder *b, const struct rb_loc *loc, const char *fmt,
    ...) RB_PRINTFLIKE(3, 4);

static void
fail(struct builder *b, const struct rb_loc *loc, const char *fmt, ...)
{
	struct rb_buf msg = RB_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	rb_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	rb_diag_error(b->diags, loc, "%s", msg.buf);
	rb_buf_release(&msg);
	b->failed = true;
}

static size_t
add_size(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static struct rb_node *
new_node(struct builder *b, enum rb_node_kind kind, const yaml_mark_t *m)
{
	struct rb_node *n;

	if (++b->nnodes > YAML_MAX_NODES) {
		struct rb_loc loc = mark_loc(b, m);

		fail(
		    b, &loc, "document has more than %d nodes", YAML_MAX_NODES);
		b->stop = true;
		return NULL;
	}
	n = arena_alloc(b->doc, sizeof(*n));
	n->kind = kind;
	n->loc = mark_loc(b, m);
	n->text_loc = n->loc;
	return n;
}

/* Attach a finished node (of subtree size `size`) to its parent. */
static void
attach(struct builder *b, struct rb_node *n, size_t size)
{
	struct frame *f;

	if (b->depth == 0) {
		b->doc->root = n;
		return;
	}
	f = &b->stack[b->depth - 1];
	f->size = add_size(f->size, size);
	if (f->node->kind == RB_NODE_MAP && f->nkids % 2 == 0) {
		/* n is a key. */
		if (n->kind != RB_NODE_SCALAR) {
			fail(b, &n->loc, "mapping key is %s, not a string",
			    rb_node_kind_name(n));
			rb_diag_hint(b->diags,
			    "keys must be plain names; "
			    "quote a key that looks like YAML syntax");
			n = NULL; /* the pair is dropped at the end */
		} else if (!n->quoted && n->len == 2 &&
		    memcmp(n->str, "<<", 2) == 0) {
			fail(b, &n->loc, "merge keys ('<<') are not supported");
			rb_diag_hint(b->diags,
			    "write the keys out in full; "
			    "an alias (*name) can still stand for a whole "
			    "value");
			n = NULL;
		}
	}
	RB_ALLOC_GROW(f->kids, f->nkids + 1, f->alloc);
	f->kids[f->nkids++] = n;
}

static int
cmp_keys(const void *pa, const void *pb)
{
	const struct rb_node_pair *a = *(const struct rb_node_pair *const *)pa;
	const struct rb_node_pair *b = *(const struct rb_node_pair *const *)pb;
	size_t n = a->key->len < b->key->len ? a->key->len : b->key->len;
	int c = memcmp(a->key->str, b->key->str, n);

	if (c != 0)
		return c;
	if (a->key->len != b->key->len)
		return a->key->len < b->key->len ? -1 : 1;
	/* Equal keys: keep file order, so the first one leads a run. */
	return a < b ? -1 : a > b;
}

/* Report every key of map that repeats an earlier one. */
static void
check_duplicates(struct builder *b, struct rb_node *map)
{
	struct rb_node_pair **v;
	size_t i, first = 0;

	if (map->npairs < 2)
		return;
	v = xcalloc(map->npairs, sizeof(*v));
	for (i = 0; i < map->npairs; i++)
		v[i] = &map->pairs[i];
	qsort(v, map->npairs, sizeof(*v), cmp_keys);
	for (i = 1; i < map->npairs; i++) {
		const struct rb_node *k = v[i]->key, *f = v[first]->key;
		struct rb_qbuf qb;

		if (k->len != f->len || memcmp(k->str, f->str, k->len) != 0) {
			first = i;
			continue;
		}
		fail(b, &k->loc, "duplicate key '%s' (first at line %d)",
		    rb_qstr(&qb, k->str, k->len), f->loc.line);
		rb_diag_hint(b->diags,
		    "remove one of them: later keys "
		    "would silently replace earlier ones");
	}
	free(v);
}

static void
push_frame(struct builder *b, struct rb_node *n, const yaml_char_t *anchor)
{
	struct frame *f;

	RB_ALLOC_GROW(b->stack, b->depth + 1, b->alloc);
	f = &b->stack[b->depth++];
	memset(f, 0, sizeof(*f));
	f->node = n;
	f->anchor = anchor != NULL ? xstrdup((const char *)anchor) : NULL;
	f->size = 1;
}

/* Close the innermost collection: copy its children into the arena. */
static void
pop_frame(struct builder *b)
{
	struct frame f = b->stack[--b->depth];
	struct rb_node *n = f.node;
	size_t i;

	if (n->kind == RB_NODE_MAP) {
		size_t npairs = 0;

		n->pairs =
		    arena_alloc(b->doc, (f.nkids / 2 + 1) * sizeof(*n->pairs));
		for (i = 0; i + 1 < f.nkids; i += 2) {
			if (f.kids[i] == NULL)
				continue;
			n->pairs[npairs].key = f.kids[i];
			n->pairs[npairs].value = f.kids[i + 1];
			npairs++;
		}
		n->npairs = npairs;
		check_duplicates(b, n);
	} else {
		n->items =
		    arena_alloc(b->doc, (f.nkids + 1) * sizeof(*n->items));
		if (f.nkids > 0)
			memcpy(n->items, f.kids, f.nkids * sizeof(*n->items));
		n->nitems = f.nkids;
	}
	free(f.kids);
	if (f.anchor != NULL)
		anchor_define(b, f.anchor, n, f.size);
	attach(b, n, f.size);
}

/* Whether an anchor names a collection that is still open. */
static bool
anchor_is_open(struct builder *b, const char *name)
{
	size_t i;

	for (i = 0; i < b->depth; i++)
		if (b->stack[i].anchor != NULL &&
		    strcmp(b->stack[i].anchor, name) == 0)
			return true;
	return false;
}

static void
on_alias(struct builder *b, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct rb_loc loc = mark_loc(b, &ev->start_mark);
	struct anchor *a;
	struct rb_node *n;
	struct rb_qbuf qb;

	if ((a = anchor_find(b, name)) == NULL || anchor_is_open(b, name)) {
		if (anchor_is_open(b, name))
			fail(b, &loc,
			    "alias '*%s' refers to the node that contains it",
			    rb_qstr(&qb, name, strlen(name)));
		else {
			fail(b, &loc, "unknown anchor '%s' in alias",
			    rb_qstr(&qb, name, strlen(name)));
			rb_diag_hint(b->diags,
			    "define it first with '&%s' on an earlier value",
			    qb.s);
		}
		/* A stand-in keeps keys and values paired. */
		if ((n = new_node(b, RB_NODE_SCALAR, &ev->start_mark)) !=
		    NULL) {
			n->str = arena_strndup(b->doc, "", 0);
			attach(b, n, 1);
		}
		return;
	}
	b->expanded = add_size(b->expanded, a->size);
	if (b->expanded > YAML_MAX_ALIAS_NODES) {
		fail(b, &loc, "aliases expand to more than %d nodes",
		    YAML_MAX_ALIAS_NODES);
		rb_diag_hint(b->diags,
		    "write the repeated parts out, or use "
		    "fewer nested aliases");
		b->stop = true;
		return;
	}
	attach(b, a->node, a->size);
}

static void
on_scalar(struct builder *b, const yaml_event_t *ev)
{
	struct rb_node *n;
	const char *tag = (const char *)ev->data.scalar.tag;

	if ((n = new_node(b, RB_NODE_SCALAR, &ev->start_mark)) == NULL)
		return;
	n->str = arena_strndup(b->doc, (const char *)ev->data.scalar.value,
	    ev->data.scalar.length);
	n->len = ev->data.scalar.length;
	switch (ev->data.scalar.style) {
	case YAML_SINGLE_QUOTED_SCALAR_STYLE:
	case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
		n->quoted = true;
		if (n->loc.col < INT32_MAX)
			n->text_loc.col = n->loc.col + 1;
		break;
	case YAML_LITERAL_SCALAR_STYLE:
	case YAML_FOLDED_SCALAR_STYLE:
		n->quoted = true;
		n->text_loc = block_text_loc(b, &ev->start_mark, n->loc);
		break;
	default:
		break;
	}
	/* An explicit !!str makes a plain scalar a string. */
	if (tag != NULL && strcmp(tag, YAML_STR_TAG) == 0)
		n->quoted = true;
	if (ev->data.scalar.anchor != NULL)
		anchor_define(
		    b, xstrdup((const char *)ev->data.scalar.anchor), n, 1);
	attach(b, n, 1);
}

static void
on_collection(struct builder *b, const yaml_event_t *ev, bool map)
{
	struct rb_node *n;
	struct rb_loc loc;

	if (b->depth >= YAML_MAX_DEPTH) {
		loc = mark_loc(b, &ev->start_mark);
		fail(b, &loc, "document is nested deeper than %d levels",
		    YAML_MAX_DEPTH);
		b->stop = true;
		return;
	}
	n = new_node(b, map ? RB_NODE_MAP : RB_NODE_SEQ, &ev->start_mark);
	if (n == NULL)
		return;
	push_frame(b, n,
	    map ? ev->data.mapping_start.anchor
		: ev->data.sequence_start.anchor);
}

/* A hint for the libyaml problems people run into most. */
static const char *
syntax_hint(struct builder *b, const yaml_parser_t *p)
{
	const char *prob = p->problem != NULL ? p->problem : "";
	size_t off;

	if (strstr(prob, "cannot start any token") != NULL) {
		build_lines(b);
		if (p->problem_mark.line < b->nlines) {
			off = b->lines[p->problem_mark.line] +
			    p->problem_mark.column;
			if (off < b->len && b->data[off] == '\t')
				return "indent with spaces: YAML does not "
				    "allow tabs for indentation";
		}
		return "quote the value if it starts with a special "
		    "character such as @, ` or %";
	}
	if (strstr(prob, "tab character") != NULL)
		return "indent with spaces: YAML does not allow tabs for "
		    "indentation";
	if (strstr(prob, "mapping values are not allowed") != NULL)
		return "quote the value if it contains ': ', or check the "
		    "indentation of this line";
	if (strstr(prob, "did not find expected key") != NULL ||
	    strstr(prob, "did not find expected '-'") != NULL)
		return "check the indentation: the keys of one mapping (and "
		    "the items of one list) must line up";
	if (strstr(prob, "could not find expected ':'") != NULL)
		return "check for a missing ':' after a key or an unclosed "
		    "quote";
	if (strstr(prob, "end of stream") != NULL)
		return "check for an unclosed quote or bracket";
	if (strstr(prob, "did not find expected ',' or") != NULL)
		return "separate the items of a [list] or {mapping} with ','";
	return NULL;
}

/* Turn libyaml's error state into one located diagnostic. */
static void
syntax_error(struct builder *b, const yaml_parser_t *p)
{
	struct rb_buf msg = RB_BUF_INIT;
	struct rb_loc loc;
	const char *hint;

	if (p->error == YAML_MEMORY_ERROR)
		RB_BUG("libyaml ran out of memory");
	if (p->error == YAML_READER_ERROR) {
		loc = offset_loc(b, p->problem_offset);
		rb_buf_addf(&msg, "invalid YAML: %s",
		    p->problem != NULL ? p->problem : "unreadable input");
		if (p->problem_value != -1)
			rb_buf_addf(&msg, " (#%X)", (unsigned)p->problem_value);
	} else {
		loc = mark_loc(b, &p->problem_mark);
		rb_buf_addf(&msg, "invalid YAML: %s",
		    p->problem != NULL ? p->problem : "syntax error");
		if (p->context != NULL) {
			struct rb_loc c = mark_loc(b, &p->context_mark);

			rb_buf_addf(&msg, " (%s", p->context);
			if (c.line != loc.line || c.col != loc.col)
				rb_buf_addf(&msg, " at line %d, column %d",
				    c.line, c.col);
			rb_buf_addch(&msg, ')');
		}
	}
	fail(b, &loc, "%s", msg.buf);
	if ((hint = syntax_hint(b, p)) != NULL)
		rb_diag_hint(b->diags, "%s", hint);
	rb_buf_release(&msg);
}

static void
on_event(struct builder *b, const yaml_event_t *ev)
{
	struct rb_loc loc;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (b->ndocs++ > 0) {
			loc = mark_loc(b, &ev->start_mark);
			fail(
			    b, &loc, "more than one YAML document in one file");
			rb_diag_hint(b->diags,
			    "put each document ('---') in a file of its own");
			b->stop = true;
		}
		break;
	case YAML_SCALAR_EVENT:
		on_scalar(b, ev);
		break;
	case YAML_SEQUENCE_START_EVENT:
		on_collection(b, ev, false);
		break;
	case YAML_MAPPING_START_EVENT:
		on_collection(b, ev, true);
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth == 0)
			RB_BUG("unbalanced YAML events");
		pop_frame(b);
		break;
	case YAML_ALIAS_EVENT:
		on_alias(b, ev);
		break;
	default:
		break;
	}
}

static void
builder_release(struct builder *b)
{
	size_t i;

	for (i = 0; i < b->depth; i++) {
		free(b->stack[i].kids);
		free(b->stack[i].anchor);
	}
	free(b->stack);
	for (i = 0; i < b->anchor_cap; i++)
		free(b->anchors[i].name);
	free(b->anchors);
	free(b->lines);
}

int
rb_yaml_load_buf(struct rb_yaml_doc **out, const char *name, const char *data,
    size_t len, struct rb_diags *diags)
{
	struct builder b;
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	int r = RB_EINVAL;

	*out = NULL;
	memset(&b, 0, sizeof(b));
	b.doc = xcalloc(1, sizeof(*b.doc));
	b.doc->name = xstrdup(name != NULL ? name : "<input>");
	b.diags = diags;
	b.data = data != NULL ? data : "";
	b.len = data != NULL ? len : 0;
	if (b.len > YAML_MAX_INPUT) {
		struct rb_loc loc = { b.doc->name, 0, 0 };

		fail(&b, &loc, "file is larger than %d MiB",
		    YAML_MAX_INPUT / (1024 * 1024));
		goto out;
	}
	if (!yaml_parser_initialize(&parser))
		RB_BUG("yaml_parser_initialize failed");
	yaml_parser_set_input_string(
	    &parser, (const unsigned char *)b.data, b.len);
	while (!done && !b.stop) {
		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(&b, &parser);
			break;
		}
		on_event(&b, &ev);
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (b.failed)
		goto out;
	if (b.depth != 0)
		RB_BUG("YAML stream ended inside a collection");
	*out = b.doc;
	b.doc = NULL;
	r = 0;
out:
	builder_release(&b);
	rb_yaml_free(b.doc);
	return r;
}

int
rb_yaml_load_file(
    struct rb_yaml_doc **out, const char *path, struct rb_diags *diags)
{
	struct rb_buf buf = RB_BUF_INIT;
	int r;

	*out = NULL;
	if ((r = rb_file_read(&buf, path, diags)) == 0)
		r = rb_yaml_load_buf(out, path, buf.buf, buf.len, diags);
	rb_buf_release(&buf);
	return r;
}

const struct rb_node *
rb_yaml_root(const struct rb_yaml_doc *doc)
{
	return doc != NULL ? doc->root : NULL;
}

const char *
rb_yaml_name(const struct rb_yaml_doc *doc)
{
	return doc != NULL ? doc->name : NULL;
}

/* ------------------------------------------------------------------ */
/* Node queries */

const struct rb_node *
rb_node_get(const struct rb_node *map, const char *key)
{
	size_t i, klen;

	if (map == NULL || map->kind != RB_NODE_MAP)
		return NULL;
	klen = strlen(key);
	for (i = 0; i < map->npairs; i++) {
		const struct rb_node *k = map->pairs[i].key;

		if (k->len == klen && memcmp(k->str, key, klen) == 0)
			return map->pairs[i].value;
	}
	return NULL;
}

bool
rb_node_is_null(const struct rb_node *n)
{
	if (n == NULL || n->kind != RB_NODE_SCALAR || n->quoted)
		return false;
	return n->len == 0 || strcmp(n->str, "~") == 0 ||
	    strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
	    strcmp(n->str, "NULL") == 0;
}

const char *
rb_node_kind_name(const struct rb_node *n)
{
	if (n == NULL)
		return "nothing";
	switch (n->kind) {
	case RB_NODE_MAP:
		return "a mapping";
	case RB_NODE_SEQ:
		return "a list";
	default:
		return "a string";
	}
}
