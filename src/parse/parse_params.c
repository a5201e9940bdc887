/*
 * parse_params.c - the runbook's top-level declarations besides steps:
 * params (defaults, patterns, enums, env, secret), labels, and the
 * maintenance window (days, start, end, zone).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runbook/util.h"
#include "runbook/strvec.h"
#include "parse/parse_int.h"
#include "runbook/dag.h"
#include "runbook/banned.h"

/* Top level: params, window, labels */

/* Report a default that its own enum or pattern would refuse. */
static void
check_default(struct rbp *p, const struct rb_param *pa, const struct rb_node *n)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_buf what = RB_BUF_INIT, list = RB_BUF_INIT;
	struct rb_qbuf qa, qb;
	size_t i;
	int r;

	rb_qstr(&qa, pa->name, strlen(pa->name));
	if (pa->secret)
		rb_buf_addf(&what, "the default of param '%s'", qa.s);
	else
		rb_buf_addf(&what, "default '%s' of param '%s'",
		    rb_qstr(&qb, pa->def, strlen(pa->def)), qa.s);
	if (pa->nenums > 0) {
		for (i = 0; i < pa->nenums; i++)
			if (strcmp(pa->enums[i], pa->def) == 0)
				break;
		if (i == pa->nenums) {
			for (i = 0; i < pa->nenums; i++)
				rb_buf_addf(
				    &list, "%s%s", i ? ", " : "", pa->enums[i]);
			rb_diag_error(p->d, &n->loc,
			    "%s is not one of its enum values: %s", what.buf,
			    list.buf);
		}
	}
	if (pa->pattern != NULL) {
		r = rb_regex_match(pa->pattern, pa->def, strlen(pa->def), &err);
		if (r == 0)
			rb_diag_error(p->d, &n->loc,
			    "%s does not match its pattern '%s'", what.buf,
			    rb_qstr(
				&qb, pa->pattern_src, strlen(pa->pattern_src)));
		else if (r < 0)
			rb_diag_error(p->d, &n->loc, "%s cannot be checked: %s",
			    what.buf, err.msg);
	}
	rb_buf_release(&what);
	rb_buf_release(&list);
}

static void
parse_param(struct rbp *p, struct rb_param *pa, const struct rb_node *k,
    const struct rb_node *n)
{
	enum {
		P_DEFAULT,
		P_REQUIRED,
		P_PATTERN,
		P_ENUM,
		P_ENV,
		P_SECRET,
		P_DESCRIPTION,
		P_N
	};
	const struct rb_node *v[P_N];
	const struct parse_key keys[P_N] = { { "default", 0, &v[P_DEFAULT] },
		{ "required", 0, &v[P_REQUIRED] },
		{ "pattern", 0, &v[P_PATTERN] }, { "enum", 0, &v[P_ENUM] },
		{ "env", 0, &v[P_ENV] }, { "secret", 0, &v[P_SECRET] },
		{ "description", 0, &v[P_DESCRIPTION] } };
	char where[160];
	struct rb_qbuf qb;
	bool required_given = false;
	size_t i;

	pa->name = xstrndup(k->str, k->len);
	pa->loc = k->loc;
	if (!parse_valid_name(pa->name) || strlen(pa->name) != k->len) {
		rb_diag_error(p->d, &k->loc, "invalid param name '%s'",
		    rb_qstr(&qb, k->str, k->len));
		rb_diag_hint(p->d,
		    "use letters, digits, '_' and '-', starting "
		    "with a letter or '_'");
	}
	snprintf(
	    where, sizeof(where), "param '%s'", rb_qstr(&qb, k->str, k->len));
	if (n->kind == RB_NODE_SCALAR) {
		/* NAME: VALUE is short for NAME: {default: VALUE}. */
		pa->def = parse_str(p->d, n, "default", NULL);
		pa->required = pa->def == NULL;
		return;
	}
	if (n->kind != RB_NODE_MAP) {
		rb_diag_error(p->d, &n->loc,
		    "%s must be a mapping or a default value, not %s", where,
		    parse_describe(&qb, n));
		rb_diag_hint(p->d,
		    "for example '%s: {default: x, pattern: \"^[a-z]+$\"}'",
		    pa->name);
		return;
	}
	parse_map(p->d, n, where, keys, P_N);
	if (v[P_DEFAULT] != NULL)
		pa->def = parse_str(p->d, v[P_DEFAULT], "default", NULL);
	if (v[P_REQUIRED] != NULL &&
	    parse_bool(p->d, v[P_REQUIRED], "required", &pa->required) == 0)
		required_given = true;
	if (!required_given)
		pa->required = pa->def == NULL;
	if (v[P_PATTERN] != NULL) {
		pa->pattern_src =
		    parse_str(p->d, v[P_PATTERN], "pattern", NULL);
		if (pa->pattern_src != NULL)
			(void)parse_regex(
			    p->d, v[P_PATTERN], "pattern", false, &pa->pattern);
	}
	if (v[P_ENUM] != NULL && parse_want_seq(p->d, v[P_ENUM], "enum")) {
		const struct rb_node *en = v[P_ENUM];

		if (en->nitems == 0)
			rb_diag_error(
			    p->d, &en->loc, "'enum' must not be an empty list");
		pa->enums = xcalloc(en->nitems + 1, sizeof(*pa->enums));
		for (i = 0; i < en->nitems; i++) {
			char *s = NULL;

			if (en->items[i]->kind == RB_NODE_SCALAR &&
			    rb_node_is_null(en->items[i]))
				s = xstrdup("");
			else
				s = parse_str(p->d, en->items[i], "enum", NULL);
			if (s != NULL)
				pa->enums[pa->nenums++] = s;
		}
	}
	if (v[P_ENV] != NULL) {
		pa->env = parse_nonempty_str(p->d, v[P_ENV], "env");
		if (pa->env != NULL && !parse_valid_env_name(pa->env)) {
			rb_diag_error(p->d, &v[P_ENV]->loc,
			    "invalid environment variable name '%s'",
			    rb_qstr(&qb, pa->env, strlen(pa->env)));
			rb_diag_hint(p->d,
			    "use letters, digits and '_', not "
			    "starting with a digit");
		}
	}
	if (v[P_SECRET] != NULL)
		(void)parse_bool(p->d, v[P_SECRET], "secret", &pa->secret);
	if (v[P_DESCRIPTION] != NULL)
		pa->description =
		    parse_str(p->d, v[P_DESCRIPTION], "description", NULL);
	/* A default must pass the param's own checks. */
	if (pa->def != NULL)
		check_default(p, pa, v[P_DEFAULT]);
}

void
rbp_parse_params(struct rbp *p, const struct rb_node *n)
{
	struct rb_runbook *rb = p->rb;
	size_t i;

	if (!parse_want_map(p->d, n, "params"))
		return;
	rb->params = xcalloc(n->npairs + 1, sizeof(*rb->params));
	for (i = 0; i < n->npairs; i++)
		parse_param(p, &rb->params[rb->nparams++], n->pairs[i].key,
		    n->pairs[i].value);
}

void
rbp_parse_labels(struct rbp *p, const struct rb_node *n)
{
	struct rb_runbook *rb = p->rb;
	size_t i;

	if (!parse_want_map(p->d, n, "labels"))
		return;
	rb->labels = xcalloc(n->npairs + 1, sizeof(*rb->labels));
	for (i = 0; i < n->npairs; i++) {
		const struct rb_node *k = n->pairs[i].key;
		bool failed = false;
		char *val;

		val = parse_str(p->d, n->pairs[i].value, k->str, &failed);
		if (failed)
			continue;
		rb->labels[rb->nlabels].key = xstrndup(k->str, k->len);
		rb->labels[rb->nlabels].value = val != NULL ? val : xstrdup("");
		rb->nlabels++;
	}
}

static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu",
	"fri", "sat" };
static const char *const day_long[] = { "sunday", "monday", "tuesday",
	"wednesday", "thursday", "friday", "saturday" };

/* A day name (sun, Sunday) as 0..6, or -1. */
static int
day_index(const char *s, size_t len)
{
	int i;

	for (i = 0; i < 7; i++)
		if ((len == 3 && strncasecmp(s, day_names[i], 3) == 0) ||
		    (len == strlen(day_long[i]) &&
			strncasecmp(s, day_long[i], len) == 0))
			return i;
	return -1;
}

/*
 * One days item: "daily", "weekdays", "weekends", a day, a range "mon-fri"
 * (wrapping: "fri-mon"), or a comma-separated list of those.
 */
static int
parse_days_text(const char *s, unsigned *out, char *bad, size_t badsz)
{
	while (*s != '\0') {
		size_t len = strcspn(s, ",");
		const char *dash = memchr(s, '-', len);
		size_t a = 0, b = 0;
		int da, db;

		while (len > 0 && *s == ' ') {
			s++;
			len--;
		}
		while (len > 0 && s[len - 1] == ' ')
			len--;
		if ((len == 5 && strncasecmp(s, "daily", 5) == 0) ||
		    (len == 3 && strncasecmp(s, "all", 3) == 0))
			*out |= 0x7f;
		else if (len == 8 && strncasecmp(s, "weekdays", 8) == 0)
			*out |= 0x3e;
		else if (len == 8 && strncasecmp(s, "weekends", 8) == 0)
			*out |= 0x41;
		else if (dash != NULL) {
			a = (size_t)(dash - s);
			b = len - a - 1;
			da = day_index(s, a);
			db = day_index(dash + 1, b);
			if (da < 0 || db < 0)
				goto bad;
			for (;;) {
				*out |= 1u << da;
				if (da == db)
					break;
				da = (da + 1) % 7;
			}
		} else if ((da = day_index(s, len)) >= 0)
			*out |= 1u << da;
		else
			goto bad;
		s += strcspn(s, ",");
		if (*s == ',')
			s++;
		continue;
	bad:
		snprintf(bad, badsz, "%.*s", (int)(len < 40 ? len : 40), s);
		return -1;
	}
	return 0;
}

static void
parse_days(struct rbp *p, const struct rb_node *n, unsigned *out)
{
	const struct rb_node *const *items = &n;
	size_t i, nitems = 1;
	char bad[64];

	if (n->kind == RB_NODE_SEQ) {
		items = (const struct rb_node *const *)n->items;
		nitems = n->nitems;
		if (nitems == 0)
			rb_diag_error(
			    p->d, &n->loc, "'days' must not be an empty list");
	}
	for (i = 0; i < nitems; i++) {
		const struct rb_node *it = items[i];
		struct rb_buf msg = RB_BUF_INIT;
		struct rb_qbuf qb;

		if (it->kind != RB_NODE_SCALAR || rb_node_is_null(it) ||
		    memchr(it->str, '\0', it->len) != NULL) {
			rb_diag_error(p->d, &it->loc,
			    "'days' must be days "
			    "like [sat, sun], mon-fri or daily, not %s",
			    parse_describe(&qb, it));
			continue;
		}
		if (it->len == 0) {
			/* "" would leave no day at all, like []. */
			rb_diag_error(
			    p->d, &it->loc, "'days' must not be empty");
			continue;
		}
		if (parse_days_text(it->str, out, bad, sizeof(bad)) == 0)
			continue;
		rb_buf_addf(&msg, "unknown day '%s' in 'days'",
		    rb_qstr(&qb, bad, strlen(bad)));
		parse_suggest(&msg, bad, day_names, 7);
		rb_diag_error(p->d, &it->loc, "%s", msg.buf);
		rb_diag_hint(p->d,
		    "use sun, mon, tue, wed, thu, fri, sat, a "
		    "range like mon-fri, weekdays, weekends or daily");
		rb_buf_release(&msg);
	}
}

/* "HH:MM" as minutes after midnight ("24:00" only when allow_24). */
static int
parse_hhmm(struct rbp *p, const struct rb_node *n, const char *key,
    bool allow_24, int *out)
{
	struct rb_qbuf qb;
	const char *s = n->str;
	int h, m;

	if (n->kind == RB_NODE_SCALAR && n->len >= 4 && n->len <= 5 &&
	    s[n->len - 3] == ':') {
		size_t hl = n->len - 3;

		if (s[0] >= '0' && s[0] <= '9' &&
		    (hl == 1 || (s[1] >= '0' && s[1] <= '9')) &&
		    s[hl + 1] >= '0' && s[hl + 1] <= '9' && s[hl + 2] >= '0' &&
		    s[hl + 2] <= '9') {
			h = hl == 1 ? s[0] - '0'
				    : (s[0] - '0') * 10 + (s[1] - '0');
			m = (s[hl + 1] - '0') * 10 + (s[hl + 2] - '0');
			if ((h < 24 && m < 60) ||
			    (allow_24 && h == 24 && m == 0)) {
				*out = h * 60 + m;
				return 0;
			}
		}
	}
	rb_diag_error(p->d, &n->loc,
	    "'%s' must be a time like \"02:00\" (00:00 to 23:59), not %s", key,
	    parse_describe(&qb, n));
	return -1;
}

/* Whether path is a compiled zone (TZif), not zone.tab or tzdata.zi. */
static bool
is_tzif(const char *path)
{
	char magic[4];
	FILE *f;
	bool ok;

	if ((f = fopen(path, "rb")) == NULL)
		return false;
	ok = fread(magic, 1, sizeof(magic), f) == sizeof(magic) &&
	    memcmp(magic, "TZif", sizeof(magic)) == 0;
	fclose(f);
	return ok;
}

/* Whether a zoneinfo name exists; lists near misses into cands. */
static bool
tz_exists(const char *tz, struct rb_strvec *cands)
{
	const char *dir = getenv("TZDIR");
	const char *slash;
	char *path, *sub;
	struct stat st;
	bool ok;
	DIR *dp;
	struct dirent *de;

	if (dir == NULL || *dir == '\0')
		dir = "/usr/share/zoneinfo";
	if (strcmp(tz, "UTC") == 0)
		return true;
	if (tz[0] == '/' || tz[0] == '.' || strstr(tz, "..") != NULL ||
	    strstr(tz, "/.") != NULL)
		return false;
	path = xstrfmt("%s/%s", dir, tz);
	ok = stat(path, &st) == 0 && S_ISREG(st.st_mode) && is_tzif(path);
	free(path);
	if (ok)
		return true;
	/* Near misses in the same region directory. */
	slash = strrchr(tz, '/');
	sub = slash != NULL ? xstrfmt("%s/%.*s", dir, (int)(slash - tz), tz)
			    : xstrdup(dir);
	if ((dp = opendir(sub)) != NULL) {
		while ((de = readdir(dp)) != NULL && cands->nr < 2000) {
			if (de->d_name[0] == '.')
				continue;
			if (slash != NULL)
				rb_strvec_pushf(cands, "%.*s/%s",
				    (int)(slash - tz), tz, de->d_name);
			else
				rb_strvec_push(cands, de->d_name);
		}
		closedir(dp);
	}
	free(sub);
	return false;
}

void
rbp_parse_window(struct rbp *p, const struct rb_node *n)
{
	enum { W_DAYS, W_START, W_END, W_TZ, W_N };
	const struct rb_node *v[W_N];
	const struct parse_key keys[W_N] = { { "days", 0, &v[W_DAYS] },
		{ "start", PARSE_REQUIRED, &v[W_START] },
		{ "end", PARSE_REQUIRED, &v[W_END] }, { "tz", 0, &v[W_TZ] } };
	struct rb_window *w = &p->rb->window;
	bool start_ok = false, end_ok = false;

	if (!parse_want_map(p->d, n, "window"))
		return;
	w->present = true;
	w->loc = n->loc;
	w->days = 0x7f;
	parse_map(p->d, n, "'window'", keys, W_N);
	if (v[W_DAYS] != NULL) {
		w->days = 0;
		parse_days(p, v[W_DAYS], &w->days);
	}
	if (v[W_START] != NULL)
		start_ok = parse_hhmm(p, v[W_START], "start", false,
		    &w->start_min) == 0;
	if (v[W_END] != NULL)
		end_ok = parse_hhmm(p, v[W_END], "end", true, &w->end_min) == 0;
	if (start_ok && end_ok && w->start_min == w->end_min)
		rb_diag_error(p->d, &v[W_END]->loc,
		    "'window' is empty: 'start' and 'end' are the same time");
	if (v[W_TZ] != NULL) {
		struct rb_strvec cands = RB_STRVEC_INIT;
		char *tz = parse_nonempty_str(p->d, v[W_TZ], "tz");

		if (tz != NULL && !tz_exists(tz, &cands)) {
			struct rb_buf msg = RB_BUF_INIT;
			struct rb_qbuf qb;

			rb_buf_addf(&msg, "unknown time zone '%s'",
			    rb_qstr(&qb, tz, strlen(tz)));
			parse_suggest(
			    &msg, tz, (const char *const *)cands.v, cands.nr);
			rb_diag_error(p->d, &v[W_TZ]->loc, "%s", msg.buf);
			rb_diag_hint(p->d,
			    "use a tz database name such as UTC "
			    "or Europe/Berlin (see /usr/share/zoneinfo)");
			rb_buf_release(&msg);
			free(tz);
			tz = NULL;
		}
		w->tz = tz;
		rb_strvec_release(&cands);
	}
}

/* ------------------------------------------------------------------ */
