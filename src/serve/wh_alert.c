/*
 * wh_alert.c - webhook bodies to alerts: Alertmanager v4, Grafana unified
 * alerting and generic JSON objects, parsed strictly (no duplicate keys,
 * bounded nesting, typed fields) but tolerant of fields we do not know.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runbook/webhook.h"
#include "runbook/banned.h"

#define FNV64_OFFSET 14695981039346656037ULL
#define FNV64_PRIME 1099511628211ULL

const char *
rb_wh_kind_name(enum rb_wh_kind kind)
{
	switch (kind) {
	case RB_WH_ALERTMANAGER:
		return "alertmanager";
	case RB_WH_GRAFANA:
		return "grafana";
	case RB_WH_GENERIC:
		return "generic";
	}
	return "unknown";
}

int
rb_wh_json_depth_check(const char *body, size_t len, size_t max_depth)
{
	bool in_str = false, esc = false;
	size_t depth = 0, i;

	for (i = 0; i < len; i++) {
		char c = body[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return RB_ETOOBIG;
		} else if ((c == ']' || c == '}') && depth > 0)
			depth--;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Fingerprints */

static uint64_t
fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV64_PRIME;
	}
	return h;
}

static int
label_cmp(const void *a, const void *b)
{
	const struct rb_label *x = a, *y = b;

	return strcmp(x->key, y->key);
}

static int
label_ptr_cmp(const void *a, const void *b)
{
	const struct rb_label *const *x = a, *const *y = b;

	return strcmp((*x)->key, (*y)->key);
}

void
rb_wh_fingerprint(
    char out[RB_WH_FINGERPRINT_SIZE], const struct rb_label *labels, size_t n)
{
	static const unsigned char sep = 0xff;
	const struct rb_label **sorted;
	uint64_t h = FNV64_OFFSET;
	size_t i;

	sorted = xcalloc(n + 1, sizeof(*sorted));
	for (i = 0; i < n; i++)
		sorted[i] = &labels[i];
	qsort(sorted, n, sizeof(*sorted), label_ptr_cmp);
	for (i = 0; i < n; i++) {
		h = fnv1a(h, sorted[i]->key, strlen(sorted[i]->key));
		h = fnv1a(h, &sep, 1);
		h = fnv1a(h, sorted[i]->value, strlen(sorted[i]->value));
		h = fnv1a(h, &sep, 1);
	}
	free(sorted);
	snprintf(out, RB_WH_FINGERPRINT_SIZE, "%016llx", (unsigned long long)h);
}

/* ------------------------------------------------------------------ */
/* Parsing */

static void
labels_free(struct rb_label *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(l[i].key);
		free(l[i].value);
	}
	free(l);
}

static void
alert_release(struct rb_wh_alert *a)
{
	labels_free(a->labels, a->nlabels);
	labels_free(a->annotations, a->nannotations);
	free(a->status);
	free(a->fingerprint);
	free(a->starts_at);
	memset(a, 0, sizeof(*a));
}

/* Point the borrowed view at the alert's own strings. */
static void
alert_set_view(struct rb_wh_alert *a)
{
	a->view.status = a->status;
	a->view.labels = a->labels;
	a->view.nlabels = a->nlabels;
	a->view.annotations = a->annotations;
	a->view.nannotations = a->nannotations;
	a->view.fingerprint = a->fingerprint;
	a->view.starts_at = a->starts_at;
}

/* A copy of a JSON string's value (never contains NUL: no JSON_ALLOW_NUL). */
static char *
jstrdup(const json_t *s)
{
	return xstrndup(json_string_value(s), json_string_length(s));
}

/*
 * A string map ("labels", "annotations") of alert number idx into *out.
 * Absent or null is empty; anything but an object of strings is refused.
 */
static int
parse_string_map(struct rb_label **out, size_t *out_n, const json_t *obj,
    const char *what, size_t idx, struct rb_error *err)
{
	struct rb_label *l = NULL;
	const char *key;
	json_t *v;
	size_t n = 0;

	*out = NULL;
	*out_n = 0;
	if (obj == NULL || json_is_null(obj))
		return 0;
	if (!json_is_object(obj))
		return rb_error_set(err, RB_EINVAL,
		    "'%s' of alert %zu is not an object", what, idx + 1);
	l = xcalloc(json_object_size(obj) + 1, sizeof(*l));
	json_object_foreach((json_t *)obj, key, v)
	{
		if (!json_is_string(v)) {
			labels_free(l, n);
			return rb_error_set(err, RB_EINVAL,
			    "%s of alert %zu must be strings", what, idx + 1);
		}
		l[n].key = xstrdup(key);
		l[n].value = jstrdup(v);
		n++;
	}
	qsort(l, n, sizeof(*l), label_cmp);
	*out = l;
	*out_n = n;
	return 0;
}

/* An optional string field: NULL when absent or null, else it must be one. */
static int
opt_string(const json_t **out, const json_t *obj, const char *key, size_t idx,
    struct rb_error *err)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return rb_error_set(err, RB_EINVAL,
		    "'%s' of alert %zu is not a string", key, idx + 1);
	*out = v;
	return 0;
}

static bool
valid_status(const char *s)
{
	return strcmp(s, "firing") == 0 || strcmp(s, "resolved") == 0;
}

/* One element of "alerts" (Alertmanager and Grafana). */
static int
parse_one_alert(struct rb_wh_alert *a, const json_t *obj,
    const char *group_status, size_t idx, struct rb_error *err)
{
	const json_t *st, *sa, *fp;
	int r;

	if (!json_is_object(obj))
		return rb_error_set(
		    err, RB_EINVAL, "alert %zu is not an object", idx + 1);
	if ((r = parse_string_map(&a->labels, &a->nlabels,
		 json_object_get(obj, "labels"), "labels", idx, err)) != 0 ||
	    (r = parse_string_map(&a->annotations, &a->nannotations,
		 json_object_get(obj, "annotations"), "annotations", idx,
		 err)) != 0 ||
	    (r = opt_string(&st, obj, "status", idx, err)) != 0 ||
	    (r = opt_string(&sa, obj, "startsAt", idx, err)) != 0 ||
	    (r = opt_string(&fp, obj, "fingerprint", idx, err)) != 0)
		return r;
	if (st != NULL)
		a->status = jstrdup(st);
	else
		a->status =
		    xstrdup(group_status != NULL ? group_status : "firing");
	if (!valid_status(a->status))
		return rb_error_set(err, RB_EINVAL,
		    "'status' of alert %zu must be firing or resolved",
		    idx + 1);
	a->starts_at = sa != NULL ? jstrdup(sa) : xstrdup("");
	if (fp != NULL && json_string_length(fp) > 0)
		a->fingerprint = jstrdup(fp);
	else {
		a->fingerprint = xmalloc(RB_WH_FINGERPRINT_SIZE);
		rb_wh_fingerprint(a->fingerprint, a->labels, a->nlabels);
	}
	alert_set_view(a);
	return 0;
}

/* Alertmanager v4 and Grafana: an object with an "alerts" array. */
static int
parse_alerts(struct rb_wh_payload *p, const json_t *root, struct rb_error *err)
{
	const json_t *alerts, *gs, *ver;
	const char *group_status = NULL;
	size_t i;
	int r;

	if (!json_is_object(root))
		return rb_error_set(
		    err, RB_EINVAL, "the body is not a JSON object");
	gs = json_object_get(root, "status");
	if (gs != NULL && !json_is_null(gs)) {
		if (!json_is_string(gs) || !valid_status(json_string_value(gs)))
			return rb_error_set(err, RB_EINVAL,
			    "'status' must be firing or resolved");
		group_status = json_string_value(gs);
	}
	ver = json_object_get(root, "version");
	if (p->kind == RB_WH_GRAFANA && ver != NULL &&
	    (!json_is_string(ver) || strcmp(json_string_value(ver), "1") != 0))
		return rb_error_set(err, RB_EINVAL,
		    "unsupported Grafana webhook 'version': expected \"1\"");
	alerts = json_object_get(root, "alerts");
	if (alerts == NULL || !json_is_array(alerts))
		return rb_error_set(
		    err, RB_EINVAL, "the body has no 'alerts' array");
	p->alerts = xcalloc(json_array_size(alerts) + 1, sizeof(*p->alerts));
	for (i = 0; i < json_array_size(alerts); i++) {
		r = parse_one_alert(&p->alerts[i], json_array_get(alerts, i),
		    group_status, i, err);
		p->nalerts = i + 1;
		if (r != 0)
			return r;
	}
	return 0;
}

/* The value of label key, or NULL. */
static const char *
label_get(const struct rb_label *l, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(l[i].key, key) == 0)
			return l[i].value;
	return NULL;
}

/* Generic hooks: the top-level strings of an object are one alert. */
static int
parse_generic(struct rb_wh_payload *p, const json_t *root, struct rb_error *err)
{
	struct rb_wh_alert *a;
	const char *key, *v;
	json_t *val;
	size_t n = 0;

	if (!json_is_object(root))
		return rb_error_set(
		    err, RB_EINVAL, "the body is not a JSON object");
	p->alerts = xcalloc(1, sizeof(*p->alerts));
	p->nalerts = 1;
	a = &p->alerts[0];
	a->labels = xcalloc(json_object_size(root) + 1, sizeof(*a->labels));
	json_object_foreach((json_t *)root, key, val)
	{
		if (!json_is_string(val))
			continue;
		a->labels[n].key = xstrdup(key);
		a->labels[n].value = jstrdup(val);
		n++;
	}
	a->nlabels = n;
	qsort(a->labels, n, sizeof(*a->labels), label_cmp);
	v = label_get(a->labels, n, "status");
	a->status = xstrdup(
	    v != NULL && strcmp(v, "resolved") == 0 ? "resolved" : "firing");
	if ((v = label_get(a->labels, n, "startsAt")) == NULL)
		v = label_get(a->labels, n, "starts_at");
	a->starts_at = xstrdup(v != NULL ? v : "");
	a->fingerprint = xmalloc(RB_WH_FINGERPRINT_SIZE);
	rb_wh_fingerprint(a->fingerprint, a->labels, a->nlabels);
	alert_set_view(a);
	return 0;
}

int
rb_wh_payload_parse(struct rb_wh_payload *out, enum rb_wh_kind kind,
    const char *body, size_t len, struct rb_error *err)
{
	struct rb_wh_payload p = RB_WH_PAYLOAD_INIT;
	json_error_t jerr;
	json_t *root = NULL;
	int r;

	p.kind = kind;
	if (rb_wh_json_depth_check(body, len, RB_WH_MAX_DEPTH) != 0) {
		r = rb_error_set(err, RB_ETOOBIG,
		    "the body nests more than %d levels deep", RB_WH_MAX_DEPTH);
		goto out;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		r = rb_error_set(err, RB_EINVAL,
		    "malformed JSON at line %d column %d: %s", jerr.line,
		    jerr.column, jerr.text);
		goto out;
	}
	if (kind == RB_WH_GENERIC)
		r = parse_generic(&p, root, err);
	else
		r = parse_alerts(&p, root, err);
out:
	json_decref(root);
	if (r != 0) {
		rb_wh_payload_release(&p);
		p.kind = kind;
	}
	*out = p;
	return r;
}

void
rb_wh_payload_release(struct rb_wh_payload *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nalerts; i++)
		alert_release(&p->alerts[i]);
	free(p->alerts);
	p->alerts = NULL;
	p->nalerts = 0;
}

/* ------------------------------------------------------------------ */
/* Serialising for the queue */

static json_t *
labels_json(const struct rb_label *l, size_t n)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < n; i++)
		json_object_set_new(o, l[i].key, json_string(l[i].value));
	return o;
}

static json_t *
str_or_empty(const char *s)
{
	return json_string(s != NULL ? s : "");
}

int
rb_wh_alert_json(
    struct rb_buf *out, const struct rb_alert *a, enum rb_wh_kind kind)
{
	json_t *o = json_object();
	char *text;
	int r;

	json_object_set_new(
	    o, "annotations", labels_json(a->annotations, a->nannotations));
	json_object_set_new(o, "fingerprint", str_or_empty(a->fingerprint));
	json_object_set_new(o, "kind", json_string(rb_wh_kind_name(kind)));
	json_object_set_new(o, "labels", labels_json(a->labels, a->nlabels));
	json_object_set_new(o, "starts_at", str_or_empty(a->starts_at));
	json_object_set_new(o, "status", str_or_empty(a->status));
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (text == NULL)
		RB_BUG("cannot serialise an alert");
	r = rb_buf_adds(out, text);
	free(text);
	return r;
}
