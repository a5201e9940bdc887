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
void parse_kv_free(struct rb_kv *kv, size_t n);

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

#endif
