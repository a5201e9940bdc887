/*
 * parse_step.c - one step of a runbook (SPEC 2.2): its action (run, check,
 * http, tcp, sleep, approve, notify, runbook, manual), the common keys
 * (needs, retries, expect, capture, rollback, ...) and the step lists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runbook/util.h"
#include "runbook/strvec.h"
#include "parse/parse_int.h"
#include "runbook/dag.h"
#include "runbook/banned.h"

/* ------------------------------------------------------------------ */
/* Step keys */

static const char *const step_keys[] = { "id", "name", "needs", "when", "until",
	"on", "batch", "max_fail", "timeout", "retries", "expect", "capture",
	"rollback", "continue_on_error", "idempotent", "readonly", "env",
	"workdir", "with",
	/* actions, in the order messages list them */
	"run", "check", "http", "tcp", "sleep", "approve", "notify", "runbook",
	"manual" };

enum {
	K_ID,
	K_NAME,
	K_NEEDS,
	K_WHEN,
	K_UNTIL,
	K_ON,
	K_BATCH,
	K_MAX_FAIL,
	K_TIMEOUT,
	K_RETRIES,
	K_EXPECT,
	K_CAPTURE,
	K_ROLLBACK,
	K_CONTINUE,
	K_IDEMPOTENT,
	K_READONLY,
	K_ENV,
	K_WORKDIR,
	K_WITH,
	K_RUN,
	K_CHECK,
	K_HTTP,
	K_TCP,
	K_SLEEP,
	K_APPROVE,
	K_NOTIFY,
	K_RUNBOOK,
	K_MANUAL,
	K_NKEYS
};

static const enum rb_action key_actions[] = { RB_ACT_RUN, RB_ACT_CHECK,
	RB_ACT_HTTP, RB_ACT_TCP, RB_ACT_SLEEP, RB_ACT_APPROVE, RB_ACT_NOTIFY,
	RB_ACT_RUNBOOK, RB_ACT_MANUAL };

#define ACTION_LIST                                                            \
	"run, check, http, tcp, sleep, approve, notify, "                      \
	"runbook, manual"
#define ROLLBACK_ACTION_LIST "run, check, http, tcp, notify or sleep"

/* Keys a rollback mapping may not have (besides id, which is optional). */
static bool
rollback_forbids(int k)
{
	switch (k) {
	case K_NEEDS:
	case K_WHEN:
	case K_UNTIL:
	case K_BATCH:
	case K_MAX_FAIL:
	case K_CAPTURE:
	case K_ROLLBACK:
	case K_CONTINUE:
	case K_IDEMPOTENT:
	case K_WITH:
	case K_APPROVE:
	case K_RUNBOOK:
	case K_MANUAL:
		return true;
	default:
		return false;
	}
}

/* ------------------------------------------------------------------ */
/* Small readers */

/* "N" or "N%": an int in [min, 100000] or a percentage in [min, 100]. */
static void
parse_count_or_pct(struct rbp *p, const struct rb_node *n, const char *key,
    long long min, int *out, bool *pct)
{
	struct rb_qbuf qb;
	long long v;

	if (n->kind == RB_NODE_SCALAR && n->len > 1 &&
	    n->str[n->len - 1] == '%') {
		char *num = xstrndup(n->str, n->len - 1);
		int r = rb_parse_int(&v, num, min, 100);

		free(num);
		if (r == 0) {
			*out = (int)v;
			*pct = true;
			return;
		}
		rb_diag_error(p->d, &n->loc,
		    "'%s' must be a number or a "
		    "percentage from %lld%% to 100%%, not %s",
		    key, min, parse_describe(&qb, n));
		return;
	}
	if (n->kind == RB_NODE_SCALAR && !rb_node_is_null(n) &&
	    rb_parse_int(&v, n->str, min, 100000) == 0) {
		*out = (int)v;
		*pct = false;
		return;
	}
	rb_diag_error(p->d, &n->loc,
	    "'%s' must be a whole number of at least "
	    "%lld or a percentage like 25%%, not %s",
	    key, min, parse_describe(&qb, n));
}

/* An int or a list of ints in [min, max] into a new array. */
static void
parse_int_list(struct rbp *p, const struct rb_node *n, const char *key,
    long long min, long long max, int **out, size_t *nout)
{
	long long v;
	size_t i;

	if (n->kind != RB_NODE_SEQ) {
		if (parse_int(p->d, n, key, min, max, &v) == 0) {
			*out = xcalloc(1, sizeof(**out));
			(*out)[0] = (int)v;
			*nout = 1;
		}
		return;
	}
	if (n->nitems == 0) {
		rb_diag_error(
		    p->d, &n->loc, "'%s' must not be an empty list", key);
		return;
	}
	*out = xcalloc(n->nitems, sizeof(**out));
	for (i = 0; i < n->nitems; i++)
		if (parse_int(p->d, n->items[i], key, min, max, &v) == 0)
			(*out)[(*nout)++] = (int)v;
}

/* A template that must not be empty. */
void
rbp_parse_nonempty_tmpl(struct rbp *p, const struct rb_node *n, const char *key,
    struct rb_tmpl **out)
{
	if (n->kind == RB_NODE_SCALAR && (rb_node_is_null(n) || n->len == 0)) {
		rb_diag_error(p->d, &n->loc, "'%s' must not be empty", key);
		return;
	}
	(void)parse_tmpl(p->d, n, key, out);
}

/* An HTTP header name: a token without separators. */
static bool
header_name_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f ||
		    strchr("()<>@,;:\\\"/[]?={}", *s) != NULL)
			return false;
	return true;
}

static void
parse_headers(
    struct rbp *p, const struct rb_node *n, struct rb_kv **out, size_t *nout)
{
	size_t i;

	(void)parse_kv_map(p->d, n, "headers", false, out, nout);
	for (i = 0; i < *nout; i++) {
		struct rb_qbuf qb;

		if (!header_name_ok((*out)[i].key))
			rb_diag_error(p->d, &(*out)[i].loc,
			    "invalid HTTP header name '%s'",
			    rb_qstr(&qb, (*out)[i].key, strlen((*out)[i].key)));
	}
}

/* ------------------------------------------------------------------ */
/* Actions */

static void
parse_http(struct rbp *p, struct rb_step *s, const struct rb_node *n,
    const char *where)
{
	enum {
		H_URL,
		H_METHOD,
		H_HEADERS,
		H_BODY,
		H_STATUS,
		H_MATCH,
		H_TIMEOUT,
		H_INSECURE,
		H_N
	};
	const struct rb_node *v[H_N];
	const struct parse_key keys[H_N] = { { "url", PARSE_REQUIRED,
						 &v[H_URL] },
		{ "method", 0, &v[H_METHOD] }, { "headers", 0, &v[H_HEADERS] },
		{ "body", 0, &v[H_BODY] }, { "status", 0, &v[H_STATUS] },
		{ "body_match", 0, &v[H_MATCH] },
		{ "timeout", 0, &v[H_TIMEOUT] },
		{ "insecure", 0, &v[H_INSECURE] } };
	struct rb_http_spec *h;
	char w[SUBWHERE_SZ];
	size_t i;

	h = s->http = xcalloc(1, sizeof(*h));
	h->method = xstrdup("GET");
	h->timeout_ms = DEFAULT_HTTP_TIMEOUT_MS;
	if (n->kind == RB_NODE_SCALAR) {
		/* http: URL is short for http: {url: URL}. */
		rbp_parse_nonempty_tmpl(p, n, "http", &h->url);
		return;
	}
	if (!parse_want_map(p->d, n, "http"))
		return;
	snprintf(w, sizeof(w), "'http' of %s", where);
	parse_map(p->d, n, w, keys, H_N);
	if (v[H_URL] != NULL)
		rbp_parse_nonempty_tmpl(p, v[H_URL], "url", &h->url);
	if (v[H_METHOD] != NULL) {
		char *m = parse_nonempty_str(p->d, v[H_METHOD], "method");
		bool ok = m != NULL;

		for (i = 0; m != NULL && m[i] != '\0'; i++) {
			if (m[i] >= 'a' && m[i] <= 'z')
				m[i] = (char)(m[i] - 'a' + 'A');
			if (m[i] < 'A' || m[i] > 'Z')
				ok = false;
		}
		if (m != NULL && !ok) {
			struct rb_qbuf qb;

			rb_diag_error(p->d, &v[H_METHOD]->loc,
			    "'method' must "
			    "be an HTTP method like GET or POST, not %s",
			    parse_describe(&qb, v[H_METHOD]));
		}
		if (ok) {
			free(h->method);
			h->method = m;
		} else
			free(m);
	}
	if (v[H_HEADERS] != NULL)
		parse_headers(p, v[H_HEADERS], &h->headers, &h->nheaders);
	if (v[H_BODY] != NULL)
		(void)parse_tmpl(p->d, v[H_BODY], "body", &h->body);
	if (v[H_STATUS] != NULL)
		parse_int_list(p, v[H_STATUS], "status", 100, 599, &h->status,
		    &h->nstatus);
	if (v[H_MATCH] != NULL)
		(void)parse_regex(
		    p->d, v[H_MATCH], "body_match", true, &h->body_match);
	if (v[H_TIMEOUT] != NULL &&
	    parse_duration(p->d, v[H_TIMEOUT], "timeout", &h->timeout_ms) ==
		0 &&
	    h->timeout_ms == 0) {
		rb_diag_error(
		    p->d, &v[H_TIMEOUT]->loc, "'timeout' must be more than 0s");
		h->timeout_ms = DEFAULT_HTTP_TIMEOUT_MS;
	}
	if (v[H_INSECURE] != NULL)
		(void)parse_bool(p->d, v[H_INSECURE], "insecure", &h->insecure);
}

static void
parse_notify(struct rbp *p, struct rb_step *s, const struct rb_node *n,
    const char *where)
{
	enum { N_URL, N_TEXT, N_BODY, N_HEADERS, N_N };
	const struct rb_node *v[N_N];
	const struct parse_key keys[N_N] = {
		{ "url", PARSE_REQUIRED, &v[N_URL] }, { "text", 0, &v[N_TEXT] },
		{ "body", 0, &v[N_BODY] }, { "headers", 0, &v[N_HEADERS] }
	};
	struct rb_notify_spec *ns;
	char w[SUBWHERE_SZ];

	ns = s->notify = xcalloc(1, sizeof(*ns));
	if (!parse_want_map(p->d, n, "notify"))
		return;
	snprintf(w, sizeof(w), "'notify' of %s", where);
	parse_map(p->d, n, w, keys, N_N);
	if (v[N_URL] != NULL)
		rbp_parse_nonempty_tmpl(p, v[N_URL], "url", &ns->url);
	if (v[N_TEXT] != NULL && v[N_BODY] != NULL) {
		rb_diag_error(p->d, &parse_key_node(n, "body")->loc,
		    "'notify' takes 'text' or 'body', not both");
		rb_diag_hint(p->d,
		    "'text' sends Slack-style {\"text\": ...}; "
		    "'body' sends the body exactly as written");
	} else if (v[N_TEXT] == NULL && v[N_BODY] == NULL) {
		rb_diag_error(p->d, &n->loc,
		    "'notify' of %s has no message: add 'text' or 'body'",
		    where);
	}
	if (v[N_TEXT] != NULL)
		rbp_parse_nonempty_tmpl(p, v[N_TEXT], "text", &ns->text);
	if (v[N_BODY] != NULL)
		rbp_parse_nonempty_tmpl(p, v[N_BODY], "body", &ns->body);
	if (v[N_HEADERS] != NULL)
		parse_headers(p, v[N_HEADERS], &ns->headers, &ns->nheaders);
}

/* tcp: host:port; a literal target is checked now. */
static void
parse_tcp(struct rbp *p, struct rb_step *s, const struct rb_node *n)
{
	const char *colon;
	long long port;
	struct rb_qbuf qb;

	rbp_parse_nonempty_tmpl(p, n, "tcp", &s->command);
	if (s->command == NULL || !rb_tmpl_is_literal(s->command))
		return;
	colon = strrchr(n->str, ':');
	if (colon == NULL || colon == n->str ||
	    rb_parse_int(&port, colon + 1, 1, 65535) != 0) {
		rb_diag_error(p->d, &n->loc, "'tcp' must be host:port, not %s",
		    parse_describe(&qb, n));
		rb_diag_hint(p->d, "for example 'db1:5432' or '[::1]:5432'");
	}
}

static void
parse_runbook_action(struct rbp *p, struct rb_step *s, const struct rb_node *n)
{
	struct rb_qbuf qb;
	char *ref = parse_nonempty_str(p->d, n, "runbook");
	size_t len;

	if (ref == NULL)
		return;
	len = strlen(ref);
	if (strchr(ref, '/') == NULL && !parse_valid_id(ref) &&
	    !(len > 5 && strcmp(ref + len - 5, ".yaml") == 0) &&
	    !(len > 4 && strcmp(ref + len - 4, ".yml") == 0)) {
		rb_diag_error(p->d, &n->loc, "invalid runbook name '%s'",
		    rb_qstr(&qb, ref, len));
		rb_diag_hint(p->d,
		    "use a runbook's name (a-z, 0-9, '_', "
		    "'-') or a path to its file");
	}
	s->sub_runbook = ref;
}

/* ------------------------------------------------------------------ */
/* Common step keys */

static void
parse_needs(struct rbp *p, struct rb_step *s, const struct rb_node *n)
{
	struct rb_qbuf qb;
	size_t i;

	s->needs_given = true;
	if (n->kind == RB_NODE_SCALAR && !rb_node_is_null(n)) {
		s->needs = xcalloc(1, sizeof(*s->needs));
		if ((s->needs[0] = parse_str(p->d, n, "needs", NULL)) != NULL)
			s->nneeds = 1;
		return;
	}
	if (n->kind != RB_NODE_SEQ) {
		rb_diag_error(p->d, &n->loc,
		    "'needs' must be a list of step ids, not %s",
		    parse_describe(&qb, n));
		if (rb_node_is_null(n))
			rb_diag_hint(p->d,
			    "write 'needs: []' to make this "
			    "step a root that waits for nothing");
		return;
	}
	s->needs = xcalloc(n->nitems + 1, sizeof(*s->needs));
	for (i = 0; i < n->nitems; i++) {
		const struct rb_node *it = n->items[i];
		char *id;

		if (it->kind != RB_NODE_SCALAR || rb_node_is_null(it)) {
			rb_diag_error(p->d, &it->loc,
			    "each item of 'needs' must be a step id, not %s",
			    parse_describe(&qb, it));
			continue;
		}
		if ((id = parse_str(p->d, it, "needs", NULL)) != NULL)
			s->needs[s->nneeds++] = id;
	}
}

static void
parse_retries(struct rbp *p, struct rb_step *s, const struct rb_node *n,
    const char *where)
{
	enum { R_COUNT, R_DELAY, R_BACKOFF, R_N };
	const struct rb_node *v[R_N];
	const struct parse_key keys[R_N] = { { "count", PARSE_REQUIRED,
						 &v[R_COUNT] },
		{ "delay", 0, &v[R_DELAY] }, { "backoff", 0, &v[R_BACKOFF] } };
	char w[SUBWHERE_SZ];
	long long count;

	if (n->kind != RB_NODE_MAP) {
		if (n->kind == RB_NODE_SCALAR && !rb_node_is_null(n) &&
		    rb_parse_int(&count, n->str, 0, 1000) == 0) {
			s->retries.count = (int)count;
			return;
		}
		{
			struct rb_qbuf qb;

			rb_diag_error(p->d, &n->loc,
			    "'retries' must be a "
			    "whole number from 0 to 1000 or {count, delay, "
			    "backoff}, not %s",
			    parse_describe(&qb, n));
		}
		return;
	}
	snprintf(w, sizeof(w), "'retries' of %s", where);
	parse_map(p->d, n, w, keys, R_N);
	if (v[R_COUNT] != NULL &&
	    parse_int(p->d, v[R_COUNT], "count", 0, 1000, &count) == 0)
		s->retries.count = (int)count;
	if (v[R_DELAY] != NULL)
		(void)parse_duration(
		    p->d, v[R_DELAY], "delay", &s->retries.delay_ms);
	if (v[R_BACKOFF] != NULL)
		(void)parse_double(
		    p->d, v[R_BACKOFF], "backoff", 1.0, &s->retries.backoff);
}

static void
parse_expect(struct rbp *p, struct rb_step *s, const struct rb_node *n,
    const char *where)
{
	enum { E_EXIT, E_STDOUT, E_STDERR, E_NOT_STDOUT, E_NOT_STDERR, E_N };
	const struct rb_node *v[E_N];
	const struct parse_key keys[E_N] = { { "exit", 0, &v[E_EXIT] },
		{ "stdout", 0, &v[E_STDOUT] }, { "stderr", 0, &v[E_STDERR] },
		{ "not_stdout", 0, &v[E_NOT_STDOUT] },
		{ "not_stderr", 0, &v[E_NOT_STDERR] } };
	struct rb_expect *e = &s->expect;
	char w[SUBWHERE_SZ];

	if (!parse_want_map(p->d, n, "expect"))
		return;
	snprintf(w, sizeof(w), "'expect' of %s", where);
	parse_map(p->d, n, w, keys, E_N);
	if (v[E_EXIT] != NULL)
		parse_int_list(
		    p, v[E_EXIT], "exit", 0, 255, &e->exit_codes, &e->nexit);
	if (v[E_STDOUT] != NULL)
		(void)parse_regex(
		    p->d, v[E_STDOUT], "stdout", true, &e->stdout_re);
	if (v[E_STDERR] != NULL)
		(void)parse_regex(
		    p->d, v[E_STDERR], "stderr", true, &e->stderr_re);
	if (v[E_NOT_STDOUT] != NULL)
		(void)parse_regex(p->d, v[E_NOT_STDOUT], "not_stdout", true,
		    &e->not_stdout_re);
	if (v[E_NOT_STDERR] != NULL)
		(void)parse_regex(p->d, v[E_NOT_STDERR], "not_stderr", true,
		    &e->not_stderr_re);
}

/* Whether re can capture something for a variable called name. */
static bool
capture_has_group(const struct rb_regex *re, const char *name)
{
	size_t i;

	for (i = 0; i < rb_regex_ngroups(re); i++)
		if (strcmp(rb_regex_group_name(re, i), name) == 0)
			return true;
	return rb_regex_ncaptures(re) > 0;
}

static void
parse_capture(struct rbp *p, struct rb_step *s, const struct rb_node *n,
    const char *where)
{
	size_t i;

	if (!parse_want_map(p->d, n, "capture"))
		return;
	s->captures = xcalloc(n->npairs + 1, sizeof(*s->captures));
	for (i = 0; i < n->npairs; i++) {
		const struct rb_node *k = n->pairs[i].key, *val;
		const struct rb_node *re_node = n->pairs[i].value;
		struct rb_step_capture *c = &s->captures[s->ncaptures];
		struct rb_qbuf qb;
		char *stream = NULL;

		val = re_node;
		if (!parse_valid_name(k->str) || strlen(k->str) != k->len) {
			rb_diag_error(p->d, &k->loc,
			    "invalid capture name '%s'",
			    rb_qstr(&qb, k->str, k->len));
			rb_diag_hint(p->d,
			    "use letters, digits, '_' and '-', "
			    "starting with a letter or '_'");
			continue;
		}
		if (val->kind == RB_NODE_MAP) {
			enum { C_REGEX, C_STREAM, C_N };
			const struct rb_node *v[C_N];
			const struct parse_key keys[C_N] = {
				{ "regex", PARSE_REQUIRED, &v[C_REGEX] },
				{ "stream", 0, &v[C_STREAM] }
			};
			char w[SUBWHERE_SZ + sizeof(qb.s)];

			snprintf(w, sizeof(w), "capture '%s' of %s",
			    rb_qstr(&qb, k->str, k->len), where);
			parse_map(p->d, val, w, keys, C_N);
			re_node = v[C_REGEX];
			if (v[C_STREAM] != NULL &&
			    (stream = parse_nonempty_str(
				 p->d, v[C_STREAM], "stream")) != NULL &&
			    strcmp(stream, "stdout") != 0 &&
			    strcmp(stream, "stderr") != 0) {
				rb_diag_error(p->d, &v[C_STREAM]->loc,
				    "'stream' must be stdout or stderr, not %s",
				    parse_describe(&qb, v[C_STREAM]));
				free(stream);
				stream = NULL;
			}
			if (re_node == NULL) {
				free(stream);
				continue;
			}
		}
		if (parse_regex(p->d, re_node, k->str, true, &c->re) != 0) {
			free(stream);
			continue;
		}
		c->name = xstrndup(k->str, k->len);
		c->stream = stream != NULL ? stream : xstrdup("stdout");
		c->loc = k->loc;
		s->ncaptures++;
		if (!capture_has_group(c->re, c->name)) {
			rb_diag_warn(p->d, &re_node->loc,
			    "capture '%s' has no "
			    "group: the whole match is captured",
			    c->name);
			rb_diag_hint(p->d,
			    "name the part you want, e.g. "
			    "'/version (?<%s>\\S+)/'",
			    c->name);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Steps */

static void parse_step(struct rbp *p, struct rb_step *s,
    const struct rb_node *n, size_t pos, enum step_kind kind,
    const struct rb_step *parent, struct step_aux *aux);

/* Describe a step for messages: "step 'wait-db'" or "step 3". */
static void
step_where(char *out, size_t outsz, const struct rb_step *s, size_t pos,
    enum step_kind kind, const struct rb_step *parent)
{
	struct rb_qbuf qb;
	const char *pre = kind == STEP_ON_FAILURE ? "on_failure " : "";

	if (kind == STEP_ROLLBACK)
		snprintf(out, outsz, "the rollback of step '%s'",
		    parent->id != NULL
			? rb_qstr(&qb, parent->id, strlen(parent->id))
			: "?");
	else if (s->id != NULL)
		snprintf(out, outsz, "%sstep '%s'", pre,
		    rb_qstr(&qb, s->id, strlen(s->id)));
	else
		snprintf(out, outsz, "%sstep %zu", pre, pos + 1);
}

static void
parse_rollback(struct rbp *p, struct rb_step *s, const struct rb_node *n)
{
	struct rb_step *r;

	r = s->rollback = xcalloc(1, sizeof(*r));
	if (n->kind == RB_NODE_MAP) {
		parse_step(p, r, n, 0, STEP_ROLLBACK, s, NULL);
		return;
	}
	/* A shell string: a run step of its own. */
	r->id = xstrfmt("%s.rollback", s->id != NULL ? s->id : "step");
	r->loc = n->loc;
	r->action = RB_ACT_RUN;
	r->timeout_ms = DEFAULT_STEP_TIMEOUT_MS;
	r->retries.delay_ms = 1000;
	r->retries.backoff = 1.0;
	if (n->kind != RB_NODE_SCALAR) {
		struct rb_qbuf qb;

		rb_diag_error(p->d, &n->loc,
		    "'rollback' must be a shell "
		    "command or a step mapping, not %s",
		    parse_describe(&qb, n));
		return;
	}
	rbp_parse_nonempty_tmpl(p, n, "rollback", &r->command);
}

/* The step's action from its keys, in file order; reports none or two. */
static int
find_action(struct rbp *p, const struct rb_node *n, const char *where,
    enum step_kind kind, const struct rb_node *const *v)
{
	const struct rb_node *first = NULL;
	int found = -1;
	size_t i;
	int k;

	for (i = 0; i < n->npairs; i++) {
		const struct rb_node *key = n->pairs[i].key;

		for (k = K_RUN; k < K_NKEYS; k++)
			if (strcmp(key->str, step_keys[k]) == 0 &&
			    key->len == strlen(step_keys[k]))
				break;
		if (k == K_NKEYS || v[k] == NULL)
			continue;
		if (first == NULL) {
			first = key;
			found = k;
			continue;
		}
		rb_diag_error(p->d, &key->loc,
		    "%s has two actions, '%s' and '%s'", where, first->str,
		    key->str);
		rb_diag_hint(
		    p->d, "a step does one thing: split it into two steps");
	}
	if (found < 0 && kind == STEP_ROLLBACK)
		rb_diag_error(p->d, &n->loc,
		    "%s has no action: add one of " ROLLBACK_ACTION_LIST,
		    where);
	else if (found < 0)
		rb_diag_error(p->d, &n->loc,
		    "%s has no action: add one of " ACTION_LIST, where);
	return found;
}

static void
parse_step(struct rbp *p, struct rb_step *s, const struct rb_node *n,
    size_t pos, enum step_kind kind, const struct rb_step *parent,
    struct step_aux *aux)
{
	const struct rb_node *v[K_NKEYS], *idn;
	struct parse_key keys[K_NKEYS];
	char where[WHERE_SZ];
	struct rb_qbuf qb;
	bool failed = false, forbidden_action = false;
	int k, act;

	s->loc = n->loc;
	s->action = RB_ACT_RUN;
	s->timeout_ms = DEFAULT_STEP_TIMEOUT_MS;
	s->retries.delay_ms = 1000;
	s->retries.backoff = 1.0;
	if (aux != NULL)
		aux->node = n;

	if (n->kind != RB_NODE_MAP) {
		rb_diag_error(p->d, &n->loc,
		    "step %zu must be a mapping, not %s", pos + 1,
		    parse_describe(&qb, n));
		rb_diag_hint(p->d,
		    "write '- id: NAME' and, indented under it, "
		    "an action such as 'run: COMMAND'");
		if (aux != NULL)
			aux->node = NULL;
		return;
	}

	/* The id first: every other message names the step by it. */
	if ((idn = rb_node_get(n, "id")) != NULL) {
		s->id = parse_str(p->d, idn, "id", &failed);
		if (s->id != NULL && !parse_valid_id(s->id)) {
			rb_diag_error(p->d, &idn->loc, "invalid step id '%s'",
			    rb_qstr(&qb, s->id, strlen(s->id)));
			rb_diag_hint(p->d,
			    "use a-z, 0-9, '_' and '-', "
			    "starting with a letter or digit");
		} else if (s->id == NULL && !failed)
			rb_diag_error(
			    p->d, &idn->loc, "'id' must not be empty");
	}
	if (s->id == NULL && kind == STEP_ROLLBACK)
		s->id = xstrfmt(
		    "%s.rollback", parent->id != NULL ? parent->id : "step");
	step_where(where, sizeof(where), s, pos, kind, parent);
	if (idn == NULL && kind != STEP_ROLLBACK) {
		rb_diag_error(p->d, &n->loc, "%s has no 'id'", where);
		rb_diag_hint(p->d,
		    "add 'id: NAME' (a-z, 0-9, '_', '-'); "
		    "other steps and templates refer to it");
	}

	for (k = 0; k < K_NKEYS; k++) {
		keys[k].name = step_keys[k];
		keys[k].flags = 0;
		keys[k].value = &v[k];
	}
	parse_map(p->d, n, where, keys, K_NKEYS);

	/* Keys that make no sense here are reported, then ignored. */
	for (k = 0; k < K_NKEYS; k++) {
		const struct rb_node *key;

		if (v[k] == NULL)
			continue;
		key = parse_key_node(n, step_keys[k]);
		if (kind == STEP_ROLLBACK && k >= K_RUN &&
		    rollback_forbids(k)) {
			forbidden_action = true;
			rb_diag_error(p->d, &key->loc,
			    "a rollback cannot be '%s': use %s", step_keys[k],
			    ROLLBACK_ACTION_LIST);
			v[k] = NULL;
		} else if (kind == STEP_ROLLBACK && rollback_forbids(k)) {
			rb_diag_error(p->d, &key->loc,
			    "'%s' cannot be used in a rollback", step_keys[k]);
			v[k] = NULL;
		} else if (kind == STEP_ON_FAILURE && k == K_ROLLBACK) {
			rb_diag_error(p->d, &key->loc,
			    "'rollback' cannot be used in on_failure steps");
			rb_diag_hint(p->d,
			    "on_failure steps run after the "
			    "rollbacks; nothing undoes them");
			v[k] = NULL;
		}
	}

	act = forbidden_action ? -1 : find_action(p, n, where, kind, v);
	if (act >= 0)
		s->action = key_actions[act - K_RUN];
	switch (act) {
	case K_RUN:
	case K_CHECK:
	case K_APPROVE:
	case K_MANUAL:
		rbp_parse_nonempty_tmpl(p, v[act], step_keys[act], &s->command);
		break;
	case K_HTTP:
		parse_http(p, s, v[act], where);
		break;
	case K_TCP:
		parse_tcp(p, s, v[act]);
		break;
	case K_SLEEP:
		(void)parse_duration(p->d, v[act], "sleep", &s->sleep_ms);
		break;
	case K_NOTIFY:
		parse_notify(p, s, v[act], where);
		break;
	case K_RUNBOOK:
		parse_runbook_action(p, s, v[act]);
		if (aux != NULL)
			aux->runbook = v[act];
		break;
	default:
		break;
	}

	if (v[K_NAME] != NULL)
		s->name = parse_str(p->d, v[K_NAME], "name", NULL);
	if (v[K_NEEDS] != NULL) {
		parse_needs(p, s, v[K_NEEDS]);
		if (aux != NULL)
			aux->needs = v[K_NEEDS];
	}
	if (v[K_WHEN] != NULL)
		(void)parse_expr(p->d, v[K_WHEN], "when", &s->when);
	if (v[K_UNTIL] != NULL)
		(void)parse_expr(p->d, v[K_UNTIL], "until", &s->until);
	if (v[K_ON] != NULL)
		rbp_parse_nonempty_tmpl(p, v[K_ON], "on", &s->on);
	if (v[K_BATCH] != NULL)
		parse_count_or_pct(
		    p, v[K_BATCH], "batch", 1, &s->batch, &s->batch_pct);
	if (v[K_MAX_FAIL] != NULL)
		parse_count_or_pct(p, v[K_MAX_FAIL], "max_fail", 0,
		    &s->max_fail, &s->max_fail_pct);
	if (v[K_TIMEOUT] != NULL &&
	    parse_duration(p->d, v[K_TIMEOUT], "timeout", &s->timeout_ms) ==
		0 &&
	    s->timeout_ms == 0) {
		rb_diag_error(
		    p->d, &v[K_TIMEOUT]->loc, "'timeout' must be more than 0s");
		s->timeout_ms = DEFAULT_STEP_TIMEOUT_MS;
	}
	if (v[K_RETRIES] != NULL)
		parse_retries(p, s, v[K_RETRIES], where);
	if (v[K_UNTIL] != NULL && s->retries.count == 0) {
		rb_diag_warn(p->d, &v[K_UNTIL]->loc,
		    "'until' has no effect without 'retries' in %s", where);
		rb_diag_hint(p->d,
		    "add 'retries: {count: N, delay: 5s}' so "
		    "the step is tried again until the condition holds");
	}
	if (v[K_EXPECT] != NULL) {
		if (act >= 0 && act != K_RUN && act != K_CHECK) {
			rb_diag_error(p->d, &parse_key_node(n, "expect")->loc,
			    "'expect' only applies to run and check steps");
			if (act == K_HTTP)
				rb_diag_hint(p->d,
				    "an http probe checks "
				    "'status' and 'body_match' under 'http'");
		} else
			parse_expect(p, s, v[K_EXPECT], where);
	}
	if (v[K_CAPTURE] != NULL) {
		if (act >= 0 && act != K_RUN && act != K_CHECK && act != K_HTTP)
			rb_diag_error(p->d, &parse_key_node(n, "capture")->loc,
			    "'capture' only applies to run, check and http "
			    "steps");
		else
			parse_capture(p, s, v[K_CAPTURE], where);
	}
	if (v[K_ROLLBACK] != NULL)
		parse_rollback(p, s, v[K_ROLLBACK]);
	if (v[K_CONTINUE] != NULL)
		(void)parse_bool(p->d, v[K_CONTINUE], "continue_on_error",
		    &s->continue_on_error);
	if (v[K_IDEMPOTENT] != NULL)
		(void)parse_bool(
		    p->d, v[K_IDEMPOTENT], "idempotent", &s->idempotent);
	if (v[K_READONLY] != NULL &&
	    parse_bool(p->d, v[K_READONLY], "readonly", &s->readonly) == 0 &&
	    act >= 0 && act != K_RUN) {
		rb_diag_error(p->d, &parse_key_node(n, "readonly")->loc,
		    "'readonly' only applies to run steps");
		rb_diag_hint(p->d,
		    "check, http (GET/HEAD), tcp and sleep "
		    "steps are read-only already");
		s->readonly = false;
	}
	if (v[K_ENV] != NULL)
		(void)parse_kv_map(
		    p->d, v[K_ENV], "env", true, &s->env, &s->nenv);
	if (v[K_WORKDIR] != NULL)
		rbp_parse_nonempty_tmpl(
		    p, v[K_WORKDIR], "workdir", &s->workdir);
	if (v[K_WITH] != NULL) {
		if (act >= 0 && act != K_RUNBOOK)
			rb_diag_error(p->d, &parse_key_node(n, "with")->loc,
			    "'with' only applies to 'runbook:' steps");
		else
			(void)parse_kv_map(p->d, v[K_WITH], "with", false,
			    &s->with, &s->nwith);
	}
}

/* Parse a list of steps into a new array. */
void
rbp_parse_steps(struct rbp *p, const struct rb_node *n, const char *key,
    enum step_kind kind, struct rb_step **out, size_t *nout,
    struct step_aux **aux)
{
	size_t i;

	if (!parse_want_seq(p->d, n, key))
		return;
	*out = xcalloc(n->nitems + 1, sizeof(**out));
	*aux = xcalloc(n->nitems + 1, sizeof(**aux));
	*nout = n->nitems;
	for (i = 0; i < n->nitems; i++)
		parse_step(
		    p, &(*out)[i], n->items[i], i, kind, NULL, &(*aux)[i]);
}

/* ------------------------------------------------------------------ */
