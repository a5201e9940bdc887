/*
 * parse_common.c - the helpers every schema pass shares (parse_int.h):
 * the required/optional-keys helper, typed readers with located messages,
 * name rules and "did you mean".
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runbook/strvec.h"
#include "runbook/util.h"
#include "parse/parse_int.h"
#include "runbook/banned.h"

/* ------------------------------------------------------------------ */
/* Mappings */

const struct rb_node *
parse_key_node(const struct rb_node *map, const char *key)
{
	size_t i, klen = strlen(key);

	if (map == NULL || map->kind != RB_NODE_MAP)
		return NULL;
	for (i = 0; i < map->npairs; i++) {
		const struct rb_node *k = map->pairs[i].key;

		if (k->len == klen && memcmp(k->str, key, klen) == 0)
			return k;
	}
	return NULL;
}

int
parse_map(struct rb_diags *d, const struct rb_node *map, const char *where,
    const struct parse_key *keys, size_t nkeys)
{
	const char **names;
	size_t i, j;
	int nerr = 0;

	for (j = 0; j < nkeys; j++)
		*keys[j].value = NULL;
	if (map == NULL || map->kind != RB_NODE_MAP)
		return 0;
	names = xcalloc(nkeys + 1, sizeof(*names));
	for (j = 0; j < nkeys; j++)
		names[j] = keys[j].name;
	for (i = 0; i < map->npairs; i++) {
		const struct rb_node *k = map->pairs[i].key;
		struct rb_buf msg = RB_BUF_INIT;
		struct rb_qbuf qb;

		for (j = 0; j < nkeys; j++)
			if (k->len == strlen(keys[j].name) &&
			    memcmp(k->str, keys[j].name, k->len) == 0)
				break;
		if (j < nkeys) {
			*keys[j].value = map->pairs[i].value;
			continue;
		}
		rb_buf_addf(
		    &msg, "unknown key '%s'", rb_qstr(&qb, k->str, k->len));
		if (where != NULL)
			rb_buf_addf(&msg, " in %s", where);
		if (parse_suggest(&msg, k->str, names, nkeys) != NULL)
			rb_diag_error(d, &k->loc, "%s", msg.buf);
		else {
			rb_diag_error(d, &k->loc, "%s", msg.buf);
			rb_buf_reset(&msg);
			for (j = 0; j < nkeys; j++)
				rb_buf_addf(
				    &msg, "%s%s", j ? ", " : "", keys[j].name);
			rb_diag_hint(d, "valid keys here: %s", msg.buf);
		}
		rb_buf_release(&msg);
		nerr++;
	}
	for (j = 0; j < nkeys; j++) {
		if (!(keys[j].flags & PARSE_REQUIRED) || *keys[j].value != NULL)
			continue;
		if (where != NULL)
			rb_diag_error(d, &map->loc, "missing key '%s' in %s",
			    keys[j].name, where);
		else
			rb_diag_error(
			    d, &map->loc, "missing key '%s'", keys[j].name);
		nerr++;
	}
	free(names);
	return nerr;
}

/* ------------------------------------------------------------------ */
/* Typed values */

const char *
parse_describe(struct rb_qbuf *b, const struct rb_node *n)
{
	if (n == NULL || rb_node_is_null(n))
		return "empty";
	if (n->kind != RB_NODE_SCALAR) {
		snprintf(b->s, sizeof(b->s), "%s", rb_node_kind_name(n));
		return b->s;
	}
	if (n->len == 0)
		return "empty";
	{
		struct rb_qbuf inner;
		size_t len;

		rb_qstr(&inner, n->str, n->len);
		len = strlen(inner.s);
		if (len > sizeof(b->s) - 3)
			len = sizeof(b->s) - 3;
		b->s[0] = '\'';
		memcpy(b->s + 1, inner.s, len);
		b->s[len + 1] = '\'';
		b->s[len + 2] = '\0';
	}
	return b->s;
}

bool
parse_want_map(struct rb_diags *d, const struct rb_node *n, const char *key)
{
	struct rb_qbuf qb;

	if (n != NULL && n->kind == RB_NODE_MAP)
		return true;
	rb_diag_error(d, n != NULL ? &n->loc : NULL,
	    "'%s' must be a mapping, not %s", key, parse_describe(&qb, n));
	return false;
}

bool
parse_want_seq(struct rb_diags *d, const struct rb_node *n, const char *key)
{
	struct rb_qbuf qb;

	if (n != NULL && n->kind == RB_NODE_SEQ)
		return true;
	rb_diag_error(d, n != NULL ? &n->loc : NULL,
	    "'%s' must be a list, not %s", key, parse_describe(&qb, n));
	return false;
}

char *
parse_str(
    struct rb_diags *d, const struct rb_node *n, const char *key, bool *failed)
{
	struct rb_qbuf qb;

	if (n == NULL || rb_node_is_null(n))
		return NULL;
	if (n->kind != RB_NODE_SCALAR) {
		rb_diag_error(d, &n->loc, "'%s' must be a string, not %s", key,
		    parse_describe(&qb, n));
		if (failed != NULL)
			*failed = true;
		return NULL;
	}
	if (memchr(n->str, '\0', n->len) != NULL) {
		rb_diag_error(d, &n->loc, "'%s' contains a NUL character", key);
		if (failed != NULL)
			*failed = true;
		return NULL;
	}
	return xstrndup(n->str, n->len);
}

char *
parse_nonempty_str(struct rb_diags *d, const struct rb_node *n, const char *key)
{
	bool failed = false;
	char *s = parse_str(d, n, key, &failed);

	if (failed)
		return NULL;
	if (s == NULL || *s == '\0') {
		rb_diag_error(d, n != NULL ? &n->loc : NULL,
		    "'%s' must not be empty", key);
		free(s);
		return NULL;
	}
	return s;
}

/* The text of a scalar, or NULL (reported) for anything else. */
static const char *
scalar_text(struct rb_diags *d, const struct rb_node *n, const char *key,
    const char *what)
{
	struct rb_qbuf qb;

	if (n != NULL && n->kind == RB_NODE_SCALAR && !rb_node_is_null(n) &&
	    memchr(n->str, '\0', n->len) == NULL)
		return n->str;
	if (n != NULL && n->kind == RB_NODE_SCALAR && !rb_node_is_null(n)) {
		rb_diag_error(d, &n->loc, "'%s' contains a NUL character", key);
		return NULL;
	}
	rb_diag_error(d, n != NULL ? &n->loc : NULL, "'%s' must be %s, not %s",
	    key, what, parse_describe(&qb, n));
	return NULL;
}

int
parse_bool(
    struct rb_diags *d, const struct rb_node *n, const char *key, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	const char *s;
	struct rb_qbuf qb;
	size_t i;

	if ((s = scalar_text(d, n, key, "true or false")) == NULL)
		return -1;
	for (i = 0; i < RB_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	rb_diag_error(d, &n->loc, "'%s' must be true or false, not %s", key,
	    parse_describe(&qb, n));
	return -1;
}

int
parse_int(struct rb_diags *d, const struct rb_node *n, const char *key,
    long long min, long long max, long long *out)
{
	char what[96];
	const char *s;
	struct rb_qbuf qb;

	snprintf(
	    what, sizeof(what), "a whole number from %lld to %lld", min, max);
	if ((s = scalar_text(d, n, key, what)) == NULL)
		return -1;
	if (rb_parse_int(out, s, min, max) != 0) {
		rb_diag_error(d, &n->loc, "'%s' must be %s, not %s", key, what,
		    parse_describe(&qb, n));
		return -1;
	}
	return 0;
}

int
parse_double(struct rb_diags *d, const struct rb_node *n, const char *key,
    double min, double *out)
{
	char what[96], *end;
	const char *s;
	struct rb_qbuf qb;
	double v;

	snprintf(what, sizeof(what), "a number of at least %g", min);
	if ((s = scalar_text(d, n, key, what)) == NULL)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || v != v || v < min ||
	    v > 1e9 || strchr(s, 'x') != NULL || strchr(s, 'X') != NULL) {
		rb_diag_error(d, &n->loc, "'%s' must be %s, not %s", key, what,
		    parse_describe(&qb, n));
		return -1;
	}
	*out = v;
	return 0;
}

int
parse_duration(
    struct rb_diags *d, const struct rb_node *n, const char *key, int64_t *out)
{
	static const char what[] = "a duration like 30s, 5m or 2h";
	const char *s;
	struct rb_qbuf qb;
	long long dummy;

	if ((s = scalar_text(d, n, key, what)) == NULL)
		return -1;
	if (rb_duration_parse(out, s) != 0) {
		rb_diag_error(d, &n->loc, "'%s' must be %s, not %s", key, what,
		    parse_describe(&qb, n));
		/* Only bare digits: "+5s" or "\t5s" are not durations. */
		if (s[strspn(s, "0123456789")] == '\0' &&
		    rb_parse_int(&dummy, s, 0, 1000000000) == 0)
			rb_diag_hint(d,
			    "add a unit: '%ss' for seconds, '%sm' for minutes",
			    s, s);
		return -1;
	}
	return 0;
}

int
parse_size(struct rb_diags *d, const struct rb_node *n, const char *key,
    size_t max, size_t *out)
{
	static const struct {
		const char *unit;
		unsigned long long mult;
	} units[] = { { "", 1 }, { "B", 1 }, { "KB", 1000ULL },
		{ "KiB", 1024ULL }, { "MB", 1000000ULL },
		{ "MiB", 1024ULL * 1024 }, { "GB", 1000000000ULL },
		{ "GiB", 1024ULL * 1024 * 1024 } };
	static const char what[] = "a size like 1MiB, 512KiB or 1000000";
	unsigned long long v;
	const char *s;
	char *end;
	struct rb_qbuf qb;
	size_t i;

	if ((s = scalar_text(d, n, key, what)) == NULL)
		return -1;
	if (*s < '0' || *s > '9')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		goto bad;
	if (*end == ' ')
		end++;
	for (i = 0; i < RB_ARRAY_SIZE(units); i++)
		if (strcmp(end, units[i].unit) == 0)
			break;
	if (i == RB_ARRAY_SIZE(units) || v > max / units[i].mult)
		goto bad;
	*out = (size_t)(v * units[i].mult);
	return 0;
bad:
	rb_diag_error(d, &n->loc, "'%s' must be %s, not %s", key, what,
	    parse_describe(&qb, n));
	if (n->kind == RB_NODE_SCALAR && *s >= '0' && *s <= '9')
		rb_diag_hint(d,
		    "units are B, KB, KiB, MB, MiB, GB and GiB; "
		    "at most %zu bytes",
		    max);
	return -1;
}

int
parse_regex(struct rb_diags *d, const struct rb_node *n, const char *key,
    bool slashes, struct rb_regex **out)
{
	struct rb_error err = RB_ERROR_INIT;

	*out = NULL;
	if (scalar_text(d, n, key, "a regex") == NULL)
		return -1;
	if (rb_regex_compile(out, n->str, n->len, slashes, NULL, &err) != 0) {
		rb_diag_error(d, &n->loc, "%s", err.msg);
		if (err.hint[0] != '\0')
			rb_diag_hint(d, "%s", err.hint);
		*out = NULL;
		return -1;
	}
	return 0;
}

int
parse_tmpl(struct rb_diags *d, const struct rb_node *n, const char *key,
    struct rb_tmpl **out)
{
	*out = NULL;
	if (scalar_text(d, n, key, "a string") == NULL)
		return -1;
	if (rb_tmpl_parse(out, n->str, n->len, &n->text_loc, d) != 0) {
		*out = NULL;
		return -1;
	}
	return 0;
}

int
parse_expr(struct rb_diags *d, const struct rb_node *n, const char *key,
    struct rb_expr **out)
{
	*out = NULL;
	if (scalar_text(d, n, key, "an expression") == NULL)
		return -1;
	if (rb_expr_parse(out, n->str, n->len, &n->text_loc, d) != 0) {
		*out = NULL;
		return -1;
	}
	return 0;
}

int
parse_kv_map(struct rb_diags *d, const struct rb_node *n, const char *key,
    bool env_names, struct rb_kv **out, size_t *nout)
{
	struct rb_kv *kv = NULL;
	size_t i, nkv = 0;
	int r = 0;

	*out = NULL;
	*nout = 0;
	if (!parse_want_map(d, n, key))
		return -1;
	if (n->npairs > 0)
		kv = xcalloc(n->npairs, sizeof(*kv));
	for (i = 0; i < n->npairs; i++) {
		const struct rb_node *k = n->pairs[i].key;
		struct rb_qbuf qb;

		if (memchr(k->str, '\0', k->len) != NULL ||
		    (env_names && !parse_valid_env_name(k->str))) {
			rb_diag_error(d, &k->loc,
			    "invalid environment variable name '%s' in '%s'",
			    rb_qstr(&qb, k->str, k->len), key);
			rb_diag_hint(d,
			    "use letters, digits and '_', not "
			    "starting with a digit");
			r = -1;
			continue;
		}
		if (k->len == 0) {
			rb_diag_error(d, &k->loc, "empty key in '%s'", key);
			r = -1;
			continue;
		}
		if (parse_tmpl(d, n->pairs[i].value, k->str, &kv[nkv].value) !=
		    0) {
			r = -1;
			continue;
		}
		kv[nkv].key = xstrndup(k->str, k->len);
		kv[nkv].loc = k->loc;
		nkv++;
	}
	*out = kv;
	*nout = nkv;
	return r;
}

/* ------------------------------------------------------------------ */
/* Names */

static bool
is_lower_digit(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_alpha_(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool
parse_valid_id(const char *s)
{
	if (s == NULL || !is_lower_digit(*s))
		return false;
	for (s++; *s != '\0'; s++)
		if (!is_lower_digit(*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

bool
parse_valid_env_name(const char *s)
{
	if (s == NULL || !is_alpha_(*s))
		return false;
	for (s++; *s != '\0'; s++)
		if (!is_alpha_(*s) && !(*s >= '0' && *s <= '9'))
			return false;
	return true;
}

bool
parse_valid_name(const char *s)
{
	if (s == NULL || !is_alpha_(*s))
		return false;
	for (s++; *s != '\0'; s++)
		if (!is_alpha_(*s) && !(*s >= '0' && *s <= '9') && *s != '-')
			return false;
	return true;
}

const char *
parse_suggest(
    struct rb_buf *out, const char *word, const char *const *cands, size_t n)
{
	const char *s = rb_suggest(word, cands, n);
	struct rb_qbuf qb;

	if (s != NULL)
		rb_buf_addf(
		    out, " (did you mean '%s'?)", rb_qstr(&qb, s, strlen(s)));
	return s;
}

void
parse_ref_name(struct rb_buf *out, const struct rb_name_ref *ref)
{
	size_t i;

	for (i = 0; i < ref->npath; i++) {
		struct rb_qbuf qb;

		rb_buf_addf(out, "%s%s", i ? "." : "",
		    rb_qstr(&qb, ref->path[i], strlen(ref->path[i])));
	}
}

/* ------------------------------------------------------------------ */
/* Name references */

int
parse_unknown_name(struct rb_diags *d, const struct rb_name_ref *ref,
    const char *const *fields, size_t nfields, size_t at, const char *hint)
{
	struct rb_buf msg = RB_BUF_INIT, name = RB_BUF_INIT;

	parse_ref_name(&name, ref);
	rb_buf_addf(&msg, "unknown name '%s'", name.buf);
	if (at < ref->npath && fields != NULL) {
		const char *s = rb_suggest(ref->path[at], fields, nfields);
		size_t i;

		if (s != NULL) {
			struct rb_qbuf qb;

			rb_buf_adds(&msg, " (did you mean '");
			for (i = 0; i < ref->npath; i++)
				rb_buf_addf(&msg, "%s%s", i ? "." : "",
				    i == at ? s
					    : rb_qstr(&qb, ref->path[i],
						  strlen(ref->path[i])));
			rb_buf_adds(&msg, "'?)");
		}
	}
	rb_diag_error(d, &ref->loc, "%s", msg.buf);
	if (hint != NULL)
		rb_diag_hint(d, "%s", hint);
	rb_buf_release(&msg);
	rb_buf_release(&name);
	return RB_ENOTFOUND;
}

bool
parse_in_list(const char *s, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

int
parse_check_alert_ref(struct rb_diags *d, const struct rb_name_ref *ref)
{
	static const char *const fields[] = { "status", "labels", "annotations",
		"fingerprint", "starts_at" };
	bool map = ref->npath >= 2 &&
	    (strcmp(ref->path[1], "labels") == 0 ||
		strcmp(ref->path[1], "annotations") == 0);

	if (ref->npath < 2 ||
	    !parse_in_list(ref->path[1], fields, RB_ARRAY_SIZE(fields)) ||
	    ref->npath != (map ? 3u : 2u))
		return parse_unknown_name(d, ref, fields, RB_ARRAY_SIZE(fields),
		    1,
		    "an alert has alert.status, alert.labels.NAME, "
		    "alert.annotations.NAME, alert.fingerprint and "
		    "alert.starts_at");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Finding runbooks from other files */

/* A reference that names a file rather than a runbook. */
static bool
path_like(const char *ref)
{
	size_t n = strlen(ref);

	return strchr(ref, '/') != NULL ||
	    (n > 5 && strcmp(ref + n - 5, ".yaml") == 0) ||
	    (n > 4 && strcmp(ref + n - 4, ".yml") == 0);
}

/* Names of the runbooks on the search path (for "did you mean"). */
static void
list_runbooks(struct rb_strvec *out)
{
	struct rb_strvec dirs = RB_STRVEC_INIT;
	size_t i;

	rb_runbook_search_path(&dirs);
	for (i = 0; i < dirs.nr; i++) {
		DIR *dp = opendir(dirs.v[i]);
		struct dirent *de;

		if (dp == NULL)
			continue;
		while ((de = readdir(dp)) != NULL && out->nr < 1000) {
			size_t n = strlen(de->d_name);

			if (n > 5 && strcmp(de->d_name + n - 5, ".yaml") == 0)
				rb_strvec_pushf(
				    out, "%.*s", (int)(n - 5), de->d_name);
			else if (n > 4 &&
			    strcmp(de->d_name + n - 4, ".yml") == 0)
				rb_strvec_pushf(
				    out, "%.*s", (int)(n - 4), de->d_name);
		}
		closedir(dp);
	}
	rb_strvec_release(&dirs);
}

void
parse_report_missing_runbook(struct rb_diags *d, const struct rb_node *n,
    const char *ref, const struct rb_error *err)
{
	struct rb_strvec names = RB_STRVEC_INIT;
	struct rb_buf msg = RB_BUF_INIT;
	struct rb_qbuf qb;

	rb_buf_addf(
	    &msg, "unknown runbook '%s'", rb_qstr(&qb, ref, strlen(ref)));
	if (!path_like(ref)) {
		list_runbooks(&names);
		parse_suggest(
		    &msg, ref, (const char *const *)names.v, names.nr);
	}
	rb_diag_error(d, &n->loc, "%s", msg.buf);
	if (err->hint[0] != '\0')
		rb_diag_hint(d, "%s", err->hint);
	else if (err->msg[0] != '\0')
		rb_diag_hint(d, "%s", err->msg);
	rb_buf_release(&msg);
	rb_strvec_release(&names);
}
