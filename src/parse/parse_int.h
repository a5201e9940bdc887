/*
 * parse_int.h - internals shared by the schema passes (parse_runbook.c,
 * parse_inventory.c, parse_routes.c) and the YAML tree builder: a
 * required/optional-keys helper in the manner of h2o's configurator, typed
 * value readers that report located diagnostics, and name checks.
 *
 * Every reader reports its problem at the node's location and returns a
 * failure the caller may ignore: the schema passes keep going so that all
 * problems of a file are reported at once.
 */
#ifndef RUNBOOK_PARSE_INT_H
#define RUNBOOK_PARSE_INT_H

#include "runbook/model.h"
#include "runbook/node.h"

/* ------------------------------------------------------------------ */
/* Mappings */

enum parse_key_flags {
	PARSE_REQUIRED = (1 << 0) /* "missing key" when absent */
};

/* One key a mapping may have; *value receives its node or NULL. */
struct parse_key {
	const char *name;
	unsigned flags; /* enum parse_key_flags */
	const struct rb_node **value;
};

/*
 * Fill the value pointers of keys[0..nkeys-1] from map (which must be a
 * mapping), report each unknown key ("unknown key 'retires' in step
 * 'wait-db' (did you mean 'retries'?)") and each missing required key at
 * the mapping. where names the mapping in messages ("step 'wait-db'"), or
 * is NULL at the top level. Returns the number of errors reported.
 */
int parse_map(struct rb_diags *d, const struct rb_node *map, const char *where,
    const struct parse_key *keys, size_t nkeys);
/* The key node of key in map, or NULL. */
const struct rb_node *parse_key_node(
    const struct rb_node *map, const char *key);

/* ------------------------------------------------------------------ */
/* Typed values. key names the value in messages ("'timeout' must be..."). */

/* "a list", "a mapping", "empty" or the quoted scalar text. */
const char *parse_describe(struct rb_qbuf *b, const struct rb_node *n);
/* Report unless n is a mapping; returns whether it is. */
bool parse_want_map(
    struct rb_diags *d, const struct rb_node *n, const char *key);
/* Report unless n is a list; returns whether it is. */
bool parse_want_seq(
    struct rb_diags *d, const struct rb_node *n, const char *key);
/*
 * A copy of a scalar's text. A YAML null gives NULL without a report; a
 * list, a mapping or text with a NUL byte gives NULL and a report
 * (*failed set when failed is not NULL).
 */
char *parse_str(
    struct rb_diags *d, const struct rb_node *n, const char *key, bool *failed);
/* Like parse_str, but null and "" are reported too. */
char *parse_nonempty_str(
    struct rb_diags *d, const struct rb_node *n, const char *key);
/* true/false (also yes/no); 0 or -1. */
int parse_bool(
    struct rb_diags *d, const struct rb_node *n, const char *key, bool *out);
/* A whole number in [min, max]; 0 or -1. */
int parse_int(struct rb_diags *d, const struct rb_node *n, const char *key,
    long long min, long long max, long long *out);
/* A decimal number >= min; 0 or -1. */
int parse_double(struct rb_diags *d, const struct rb_node *n, const char *key,
    double min, double *out);
/* A duration ("30s", "5m", "1m30s"); 0 or -1. */
int parse_duration(
    struct rb_diags *d, const struct rb_node *n, const char *key, int64_t *out);
/* A size ("1MiB", "512KiB", "1000000"), at most max bytes; 0 or -1. */
int parse_size(struct rb_diags *d, const struct rb_node *n, const char *key,
    size_t max, size_t *out);
/* A PCRE2 pattern (/re/flags when slashes); 0 or -1. */
int parse_regex(struct rb_diags *d, const struct rb_node *n, const char *key,
    bool slashes, struct rb_regex **out);
/* A template, parsed at the scalar's text location; 0 or -1. */
int parse_tmpl(struct rb_diags *d, const struct rb_node *n, const char *key,
    struct rb_tmpl **out);
/* An expression, parsed at the scalar's text location; 0 or -1. */
int parse_expr(struct rb_diags *d, const struct rb_node *n, const char *key,
    struct rb_expr **out);
/*
 * A mapping of NAME: template into a new array. With env_names, every NAME
 * must be a valid environment variable name. 0 or -1 (partial results are
 * kept, so later passes can still check what parsed).
 */
int parse_kv_map(struct rb_diags *d, const struct rb_node *n, const char *key,
    bool env_names, struct rb_kv **out, size_t *nout);

/* ------------------------------------------------------------------ */
/* Names */

/* [a-z0-9][a-z0-9_-]*: runbook names, step ids, route names. */
bool parse_valid_id(const char *s);
/* [A-Za-z_][A-Za-z0-9_]*: environment variables. */
bool parse_valid_env_name(const char *s);
/* [A-Za-z_][A-Za-z0-9_-]*: params, captures, labels in templates. */
bool parse_valid_name(const char *s);
/*
 * Append " (did you mean 'x'?)" to out when one of cands is close to word.
 * Returns the suggestion or NULL.
 */
const char *parse_suggest(
    struct rb_buf *out, const char *word, const char *const *cands, size_t n);
/* The dotted form of a name reference ("steps.db.ok") into out. */
void parse_ref_name(struct rb_buf *out, const struct rb_name_ref *ref);
/*
 * Report "unknown name 'a.b'" at the reference, suggesting a near miss of
 * path[at] among fields, with hint. Returns RB_ENOTFOUND.
 */
int parse_unknown_name(struct rb_diags *d, const struct rb_name_ref *ref,
    const char *const *fields, size_t nfields, size_t at, const char *hint);
/* Whether s is one of list[0..n-1]. */
bool parse_in_list(const char *s, const char *const *list, size_t n);
/*
 * Check an alert.* reference (status, labels.X, annotations.X,
 * fingerprint, starts_at). 0, or RB_ENOTFOUND with a report.
 */
int parse_check_alert_ref(struct rb_diags *d, const struct rb_name_ref *ref);

/* ------------------------------------------------------------------ */
/* Shared between the runbook and routes passes */

/* Report a runbook that could not be found, with what is near its name. */
void parse_report_missing_runbook(struct rb_diags *d, const struct rb_node *n,
    const char *ref, const struct rb_error *err);


/* ------------------------------------------------------------------ */
/*
 * The runbook pass, in four files: parse_runbook.c (the file, top-level
 * keys, sub-runbooks, loading), parse_step.c (one step and its keys),
 * parse_names.c (ids, needs, names in templates and expressions) and
 * parse_params.c (params, window, labels).
 */

#define NONE ((size_t)-1)
/* Deepest chain of runbooks calling runbooks. */
#define MAX_NESTING 32
/* Default per-attempt timeout of a step (SPEC 2.2). */
#define DEFAULT_STEP_TIMEOUT_MS (5 * 60 * 1000)
#define DEFAULT_HTTP_TIMEOUT_MS (10 * 1000)
/* Sizes of "step 'x'" and "'http' of step 'x'" in messages. */
#define WHERE_SZ 160
#define SUBWHERE_SZ (WHERE_SZ + 32)

enum step_kind { STEP_MAIN, STEP_ON_FAILURE, STEP_ROLLBACK };

/* Parse-time facts about one step that the model does not keep. */
struct step_aux {
	const struct rb_node *node;    /* the step mapping, or NULL */
	const struct rb_node *needs;   /* the `needs` value, or NULL */
	const struct rb_node *runbook; /* the `runbook` value, or NULL */
};

/* One step id, for duplicate checks and lookups. */
struct id_ent {
	const char *id;
	size_t idx; /* in rb->steps or rb->on_failure */
	bool fail;  /* an on_failure step */
	struct rb_loc loc;
};

/* The state of the pass over one file. */
struct rbp {
	struct rb_diags *d;
	struct rb_runbook *rb;
	struct step_aux *aux;  /* parallel to rb->steps */
	struct step_aux *faux; /* parallel to rb->on_failure */
	struct id_ent *ids;    /* every step id, sorted by id then position */
	size_t nids;
	/* Name checks: the ancestors of one step, computed on demand. */
	uint32_t *anc;		/* visit marks, generation anc_gen */
	uint32_t anc_gen;
	size_t anc_idx;
	bool anc_fail;
	/* Steps already warned about for the step being checked. */
	size_t *warned;
	size_t nwarned, awarned;
};

/* What a name in a template or expression is checked against. */
struct chk {
	struct rbp *p;
	size_t idx;   /* the step, or NONE at the runbook level */
	bool fail;    /* the step is an on_failure step */
	bool self_ok; /* until / rollback: the step's own result */
	bool shell;   /* the text goes to /bin/sh */
};

/* Runbooks being loaded (for cycles) and those already loaded. */
struct load_frame {
	char *real;	    /* canonical path */
	char *name;	    /* runbook name, for cycle messages */
	struct rb_loc call; /* the step calling the next frame's file */
};

struct loaded {
	char *real;
	char *path;
	struct rb_runbook *rb; /* NULL when it did not load */
	int status;
};

struct load_ctx {
	struct rb_diags *root; /* diagnostics of the top-level file */
	struct load_frame *stack;
	size_t depth, salloc;
	struct loaded *done;
	size_t ndone, dalloc;
};

/* A template that must not be empty. */
void rbp_parse_nonempty_tmpl(struct rbp *p, const struct rb_node *n,
    const char *key, struct rb_tmpl **out);

/* Parse a list of steps into a new array. */
void rbp_parse_steps(struct rbp *p, const struct rb_node *n, const char *key,
    enum step_kind kind, struct rb_step **out, size_t *nout,
    struct step_aux **aux);

/* Index every step id and report duplicates. */
void rbp_index_ids(struct rbp *p);

/*
 * Report dependency cycles with their path, together with every other
 * problem of the file (the DAG module finds them).
 */
void rbp_check_cycles(struct rbp *p, const struct rb_step *steps, size_t n);

/* Fill need_idx of every step of one list (indices into that list). */
void rbp_resolve_needs(struct rbp *p, struct rb_step *steps, size_t n,
    struct step_aux *aux, bool fail);
/* Check every name used in templates and expressions. */
void rbp_check_names(struct rbp *p);
/* The params block: declarations, defaults, patterns, enums. */
void rbp_parse_params(struct rbp *p, const struct rb_node *n);
/* labels: a string map. */
void rbp_parse_labels(struct rbp *p, const struct rb_node *n);
/* window: days, start, end, tz. */
void rbp_parse_window(struct rbp *p, const struct rb_node *n);

#endif
