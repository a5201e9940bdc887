/*
 * parse_runbook.c - the schema pass for runbook and playbook files (SPEC 2):
 * node tree -> immutable struct rb_runbook.
 *
 * The pass never stops at the first problem. It reads every key it knows,
 * reports what is wrong where it is, and keeps whatever parsed so that later
 * checks (needs, names in templates and expressions, sub-runbooks) still
 * run and report their own problems. A model is handed out only when the
 * file produced no errors.
 *
 * Order: top-level keys and params; every step; step ids (duplicates);
 * needs; names used in templates and expressions; sub-runbooks.
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

static int load_buf(struct rb_runbook **out, const char *name, const char *data,
    size_t len, unsigned flags, struct rb_diags *diags, struct load_ctx *ctx);

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
static void
parse_nonempty_tmpl(struct rbp *p, const struct rb_node *n, const char *key,
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
		parse_nonempty_tmpl(p, n, "http", &h->url);
		return;
	}
	if (!parse_want_map(p->d, n, "http"))
		return;
	snprintf(w, sizeof(w), "'http' of %s", where);
	parse_map(p->d, n, w, keys, H_N);
	if (v[H_URL] != NULL)
		parse_nonempty_tmpl(p, v[H_URL], "url", &h->url);
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
		parse_nonempty_tmpl(p, v[N_URL], "url", &ns->url);
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
		parse_nonempty_tmpl(p, v[N_TEXT], "text", &ns->text);
	if (v[N_BODY] != NULL)
		parse_nonempty_tmpl(p, v[N_BODY], "body", &ns->body);
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

	parse_nonempty_tmpl(p, n, "tcp", &s->command);
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
	parse_nonempty_tmpl(p, n, "rollback", &r->command);
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
		parse_nonempty_tmpl(p, v[act], step_keys[act], &s->command);
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
		parse_nonempty_tmpl(p, v[K_ON], "on", &s->on);
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
		parse_nonempty_tmpl(p, v[K_WORKDIR], "workdir", &s->workdir);
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
static void
parse_steps(struct rbp *p, const struct rb_node *n, const char *key,
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
/* Step ids and needs */

static int
cmp_id_ent(const void *pa, const void *pb)
{
	const struct id_ent *a = pa, *b = pb;
	int c = strcmp(a->id, b->id);

	if (c != 0)
		return c;
	if (a->loc.line != b->loc.line)
		return a->loc.line < b->loc.line ? -1 : 1;
	if (a->loc.col != b->loc.col)
		return a->loc.col < b->loc.col ? -1 : 1;
	return 0;
}

static int
cmp_id_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct id_ent *)elem)->id);
}

/* The first (in file order) step with this id, or NULL. */
static const struct id_ent *
find_id(const struct rbp *p, const char *id)
{
	const struct id_ent *e;

	if (p->nids == 0)
		return NULL;
	e = bsearch(id, p->ids, p->nids, sizeof(*p->ids), cmp_id_key);
	while (e != NULL && e > p->ids && strcmp(e[-1].id, id) == 0)
		e--;
	return e;
}

/* Index every step id and report duplicates. */
static void
index_ids(struct rbp *p)
{
	struct rb_runbook *rb = p->rb;
	size_t i, n = 0;

	p->ids = xcalloc(rb->nsteps + rb->non_failure + 1, sizeof(*p->ids));
	for (i = 0; i < rb->nsteps; i++) {
		if (rb->steps[i].id == NULL)
			continue;
		p->ids[n].id = rb->steps[i].id;
		p->ids[n].idx = i;
		p->ids[n].loc = rb->steps[i].loc;
		n++;
	}
	for (i = 0; i < rb->non_failure; i++) {
		if (rb->on_failure[i].id == NULL)
			continue;
		p->ids[n].id = rb->on_failure[i].id;
		p->ids[n].idx = i;
		p->ids[n].fail = true;
		p->ids[n].loc = rb->on_failure[i].loc;
		n++;
	}
	p->nids = n;
	qsort(p->ids, n, sizeof(*p->ids), cmp_id_ent);
	for (i = 1; i < n; i++) {
		const struct id_ent *e = &p->ids[i];
		const struct id_ent *first = find_id(p, e->id);
		const struct rb_step *s =
		    e->fail ? &rb->on_failure[e->idx] : &rb->steps[e->idx];
		const struct rb_node *idn;
		struct rb_qbuf qb;

		if (first == e)
			continue;
		idn = rb_node_get(
		    e->fail ? p->faux[e->idx].node : p->aux[e->idx].node, "id");
		rb_diag_error(p->d, idn != NULL ? &idn->loc : &s->loc,
		    "duplicate step id '%s' (first at line %d)",
		    rb_qstr(&qb, e->id, strlen(e->id)), first->loc.line);
		rb_diag_hint(p->d,
		    "step ids must be unique in a file, "
		    "on_failure steps included");
	}
}

/* Every step id of one list, for "did you mean". */
static const char **
id_list(const struct rb_step *steps, size_t n)
{
	const char **v = xcalloc(n + 1, sizeof(*v));
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = steps[i].id;
	return v;
}

/*
 * Report dependency cycles with their path, together with every other
 * problem of the file (the DAG module finds them).
 */
static void
check_cycles(struct rbp *p, const struct rb_step *steps, size_t n)
{
	struct rb_dag dag = RB_DAG_INIT;
	size_t i;

	for (i = 0; i < n; i++)
		if (steps[i].id == NULL)
			return;
	if (rb_dag_build(&dag, steps, n, p->d) == 0)
		rb_dag_release(&dag);
}

/* Fill need_idx of every step of one list (indices into that list). */
static void
resolve_needs(struct rbp *p, struct rb_step *steps, size_t n,
    struct step_aux *aux, bool fail)
{
	const char **names = id_list(steps, n);
	size_t i, j, k;

	for (i = 0; i < n; i++) {
		struct rb_step *s = &steps[i];
		const struct rb_node *nn = aux[i].needs;

		if (!s->needs_given) {
			if (i > 0) {
				s->need_idx = xcalloc(1, sizeof(*s->need_idx));
				s->need_idx[0] = i - 1;
				s->nneed_idx = 1;
			}
			continue;
		}
		s->need_idx = xcalloc(s->nneeds + 1, sizeof(*s->need_idx));
		for (j = 0; j < s->nneeds; j++) {
			const struct id_ent *e = find_id(p, s->needs[j]);
			const struct rb_node *at = nn;
			const struct rb_loc *atl;
			struct rb_buf msg = RB_BUF_INIT;
			struct rb_qbuf qa, qb;

			/* The item's own position when needs is a list. */
			if (nn != NULL && nn->kind == RB_NODE_SEQ) {
				for (k = 0; k < nn->nitems; k++)
					if (nn->items[k]->kind ==
						RB_NODE_SCALAR &&
					    strcmp(nn->items[k]->str,
						s->needs[j]) == 0) {
						at = nn->items[k];
						break;
					}
			}
			atl = at != NULL ? &at->loc : &s->loc;
			rb_qstr(&qa, s->id != NULL ? s->id : "?",
			    s->id != NULL ? strlen(s->id) : 1);
			rb_qstr(&qb, s->needs[j], strlen(s->needs[j]));
			if (e != NULL && e->fail == fail) {
				if (e->idx == i) {
					rb_diag_error(p->d, atl,
					    "step '%s' needs itself", qa.s);
					continue;
				}
				for (k = 0; k < s->nneed_idx; k++)
					if (s->need_idx[k] == e->idx)
						break;
				if (k == s->nneed_idx)
					s->need_idx[s->nneed_idx++] = e->idx;
				continue;
			}
			rb_buf_addf(&msg, "step '%s' needs unknown step '%s'",
			    qa.s, qb.s);
			if (e == NULL)
				parse_suggest(&msg, s->needs[j], names, n);
			rb_diag_error(p->d, atl, "%s", msg.buf);
			if (e != NULL && fail)
				rb_diag_hint(p->d,
				    "on_failure steps run after "
				    "every step has finished; 'needs' names "
				    "other on_failure steps only");
			else if (e != NULL)
				rb_diag_hint(p->d,
				    "on_failure steps run only "
				    "when the run fails; a step cannot wait "
				    "for one");
			rb_buf_release(&msg);
		}
	}
	free(names);
}

/* ------------------------------------------------------------------ */
/* Names in templates and expressions */

static const char *const namespaces[] = { "params", "env", "steps", "alert",
	"run", "host" };
static const char *const step_fields[] = { "ok", "failed", "skipped", "status",
	"exit_code", "stdout", "stderr", "duration_ms", "vars" };
static const char *const run_fields[] = { "id", "runbook", "started_at",
	"trigger" };
static const char *const host_fields[] = { "name", "address" };

#define NAMESPACE_HINT                                                         \
	"names start with params., env., steps., alert., "                     \
	"run. or host."

/* A `| raw` of an outside value in shell text: warn. */
static void
warn_raw(const struct chk *c, const struct rb_name_ref *ref)
{
	struct rb_buf name = RB_BUF_INIT;

	if (!c->shell || !ref->raw)
		return;
	parse_ref_name(&name, ref);
	rb_diag_warn(c->p->d, &ref->loc,
	    "'| raw' passes %s to the shell unquoted", name.buf);
	rb_diag_hint(c->p->d, "drop '| raw' so the value is quoted%s",
	    strcmp(ref->path[0], "params") == 0 ? ", or restrict the param "
						  "with a 'pattern'"
						: "");
	rb_buf_release(&name);
}

/*
 * Whether step target is an ancestor (via need_idx) of step idx. The
 * search stops as soon as it finds target, which is at once for the usual
 * reference to a step just before; visits are marked with a generation
 * number so no per-query clearing is needed (linear runbooks of 10,000
 * steps stay linear).
 */
static bool
is_ancestor(struct rbp *p, const struct rb_step *steps, size_t n, size_t idx,
    size_t target, bool fail)
{
	size_t *stack, depth = 0, i;
	bool found = false;

	if (p->anc == NULL || p->anc_fail != fail || p->anc_idx != n) {
		free(p->anc);
		p->anc = xcalloc(n + 1, sizeof(*p->anc));
		p->anc_fail = fail;
		p->anc_idx = n;
		p->anc_gen = 0;
	}
	if (++p->anc_gen == 0) {
		memset(p->anc, 0, (n + 1) * sizeof(*p->anc));
		p->anc_gen = 1;
	}
	stack = xcalloc(n + 1, sizeof(*stack));
	stack[depth++] = idx;
	while (depth > 0 && !found) {
		const struct rb_step *s = &steps[stack[--depth]];

		for (i = 0; i < s->nneed_idx; i++) {
			size_t w = s->need_idx[i];

			if (w == target) {
				found = true;
				break;
			}
			if (w < n && p->anc[w] != p->anc_gen) {
				p->anc[w] = p->anc_gen;
				stack[depth++] = w;
			}
		}
	}
	free(stack);
	return found;
}

/* Check steps.ID.FIELD[.NAME]. */
static int
resolve_step_ref(
    enum rb_type *out, const struct rb_name_ref *ref, struct chk *c)
{
	struct rbp *p = c->p;
	struct rb_runbook *rb = p->rb;
	const struct id_ent *e;
	const struct rb_step *target, *self;
	struct rb_buf msg = RB_BUF_INIT, name = RB_BUF_INIT;
	struct rb_qbuf qa, qb;
	const char **names;
	size_t i;
	int r = RB_ENOTFOUND;

	parse_ref_name(&name, ref);
	if (c->idx == NONE) {
		rb_diag_error(p->d, &ref->loc,
		    "'%s' cannot be used here: no "
		    "step has run when this is evaluated",
		    name.buf);
		goto out;
	}
	self = c->fail ? &rb->on_failure[c->idx] : &rb->steps[c->idx];
	if (ref->npath < 3) {
		rb_diag_error(
		    p->d, &ref->loc, "incomplete name '%s'", name.buf);
		rb_diag_hint(p->d,
		    "use steps.ID.ok, .failed, .skipped, "
		    ".status, .exit_code, .stdout, .stderr, .duration_ms or "
		    ".vars.NAME");
		goto out;
	}
	e = find_id(p, ref->path[1]);
	if (e == NULL || (e->fail && !c->fail)) {
		rb_qstr(&qa, ref->path[1], strlen(ref->path[1]));
		rb_buf_addf(&msg, "unknown step '%s' in '%s'", qa.s, name.buf);
		if (e == NULL) {
			names = id_list(rb->steps, rb->nsteps);
			parse_suggest(&msg, ref->path[1], names, rb->nsteps);
			free(names);
		}
		rb_diag_error(p->d, &ref->loc, "%s", msg.buf);
		if (e != NULL)
			rb_diag_hint(p->d,
			    "on_failure steps run only when "
			    "the run fails, after every other step");
		goto out;
	}
	target = e->fail ? &rb->on_failure[e->idx] : &rb->steps[e->idx];
	if (!parse_in_list(
		ref->path[2], step_fields, RB_ARRAY_SIZE(step_fields)) ||
	    (strcmp(ref->path[2], "vars") == 0) != (ref->npath == 4) ||
	    ref->npath > 4) {
		const char *s = ref->npath == 3
		    ? rb_suggest(
			  ref->path[2], step_fields, RB_ARRAY_SIZE(step_fields))
		    : NULL;

		rb_buf_addf(&msg, "unknown name '%s'", name.buf);
		if (s != NULL)
			rb_buf_addf(&msg, " (did you mean 'steps.%s.%s'?)",
			    rb_qstr(&qa, ref->path[1], strlen(ref->path[1])),
			    s);
		rb_diag_error(p->d, &ref->loc, "%s", msg.buf);
		rb_diag_hint(p->d,
		    "a step has ok, failed, skipped, status, "
		    "exit_code, stdout, stderr, duration_ms and vars.NAME");
		goto out;
	}
	if (ref->npath == 4) {
		const char **caps =
		    xcalloc(target->ncaptures + 1, sizeof(*caps));

		for (i = 0; i < target->ncaptures; i++)
			caps[i] = target->captures[i].name;
		for (i = 0; i < target->ncaptures; i++)
			if (strcmp(caps[i], ref->path[3]) == 0)
				break;
		if (i == target->ncaptures) {
			rb_buf_addf(&msg, "step '%s' has no capture '%s'",
			    rb_qstr(&qa, target->id, strlen(target->id)),
			    rb_qstr(&qb, ref->path[3], strlen(ref->path[3])));
			parse_suggest(
			    &msg, ref->path[3], caps, target->ncaptures);
			rb_diag_error(p->d, &ref->loc, "%s", msg.buf);
			rb_diag_hint(p->d,
			    "declare it under 'capture:' of step '%s'", qa.s);
			free(caps);
			goto out;
		}
		free(caps);
	}
	if (target == self && !c->self_ok) {
		rb_diag_error(p->d, &ref->loc,
		    "step '%s' cannot use its own result '%s'",
		    rb_qstr(&qa, self->id, strlen(self->id)), name.buf);
		rb_diag_hint(p->d,
		    "only 'until' (and the step's rollback) "
		    "can look at the step's own latest attempt");
		goto out;
	}
	/* A step should wait for the steps whose results it reads. */
	if (target != self && e->fail == c->fail && self->id != NULL) {
		const struct rb_step *arr =
		    c->fail ? rb->on_failure : rb->steps;
		size_t n = c->fail ? rb->non_failure : rb->nsteps;

		for (i = 0; i < p->nwarned; i++)
			if (p->warned[i] == e->idx)
				break;
		if (i == p->nwarned &&
		    !is_ancestor(p, arr, n, c->idx, e->idx, c->fail)) {
			RB_ALLOC_GROW(p->warned, p->nwarned + 1, p->awarned);
			p->warned[p->nwarned++] = e->idx;
			rb_qstr(&qa, self->id, strlen(self->id));
			rb_qstr(&qb, target->id, strlen(target->id));
			rb_diag_warn(p->d, &ref->loc,
			    "step '%s' uses steps.%s "
			    "but does not wait for it: add '%s' to needs",
			    qa.s, qb.s, qb.s);
		}
	}
	if (strcmp(ref->path[2], "ok") == 0 ||
	    strcmp(ref->path[2], "failed") == 0 ||
	    strcmp(ref->path[2], "skipped") == 0)
		*out = RB_TYPE_BOOL;
	else if (strcmp(ref->path[2], "exit_code") == 0 ||
	    strcmp(ref->path[2], "duration_ms") == 0)
		*out = RB_TYPE_NUM;
	else
		*out = RB_TYPE_STR;
	r = 0;
out:
	rb_buf_release(&msg);
	rb_buf_release(&name);
	return r;
}

/* The rb_resolve_fn of runbook files (payload: struct chk). */
static int
resolve_name(enum rb_type *out, const struct rb_name_ref *ref, void *payload)
{
	struct chk *c = payload;
	struct rbp *p = c->p;
	const char *ns;

	*out = RB_TYPE_STR;
	if (ref->npath == 0)
		return parse_unknown_name(
		    p->d, ref, NULL, 0, 0, NAMESPACE_HINT);
	ns = ref->path[0];
	if (strcmp(ns, "params") == 0) {
		const char **names;
		struct rb_buf msg = RB_BUF_INIT;
		struct rb_qbuf qb;
		size_t i;

		if (ref->npath != 2)
			return parse_unknown_name(p->d, ref, NULL, 0, 0,
			    "a param is used as params.NAME");
		if (rb_runbook_param(p->rb, ref->path[1]) != NULL) {
			warn_raw(c, ref);
			return 0;
		}
		names = xcalloc(p->rb->nparams + 1, sizeof(*names));
		for (i = 0; i < p->rb->nparams; i++)
			names[i] = p->rb->params[i].name;
		rb_buf_addf(&msg, "unknown param '%s'",
		    rb_qstr(&qb, ref->path[1], strlen(ref->path[1])));
		parse_suggest(&msg, ref->path[1], names, p->rb->nparams);
		rb_diag_error(p->d, &ref->loc, "%s", msg.buf);
		rb_diag_hint(p->d, "declare it under 'params:'");
		rb_buf_release(&msg);
		free(names);
		return RB_ENOTFOUND;
	}
	if (strcmp(ns, "env") == 0) {
		if (ref->npath != 2)
			return parse_unknown_name(p->d, ref, NULL, 0, 0,
			    "an environment variable is used as env.NAME");
		return 0;
	}
	if (strcmp(ns, "steps") == 0)
		return resolve_step_ref(out, ref, c);
	if (strcmp(ns, "alert") == 0) {
		if (parse_check_alert_ref(p->d, ref) != 0)
			return RB_ENOTFOUND;
		warn_raw(c, ref);
		return 0;
	}
	if (strcmp(ns, "run") == 0) {
		if (ref->npath != 2 ||
		    !parse_in_list(
			ref->path[1], run_fields, RB_ARRAY_SIZE(run_fields)))
			return parse_unknown_name(p->d, ref, run_fields,
			    RB_ARRAY_SIZE(run_fields), 1,
			    "a run has run.id, "
			    "run.runbook, run.started_at and run.trigger");
		return 0;
	}
	if (strcmp(ns, "host") == 0) {
		if (ref->npath != 2 ||
		    !parse_in_list(
			ref->path[1], host_fields, RB_ARRAY_SIZE(host_fields)))
			return parse_unknown_name(p->d, ref, host_fields,
			    RB_ARRAY_SIZE(host_fields), 1,
			    "a host has host.name and host.address");
		if (c->idx == NONE) {
			struct rb_buf name = RB_BUF_INIT;

			parse_ref_name(&name, ref);
			rb_diag_error(p->d, &ref->loc,
			    "'%s' can only be used inside a step", name.buf);
			rb_buf_release(&name);
			return RB_ENOTFOUND;
		}
		return 0;
	}
	return parse_unknown_name(p->d, ref, namespaces,
	    RB_ARRAY_SIZE(namespaces), 0, NAMESPACE_HINT);
}

static void
check_tmpl(struct chk *c, const struct rb_tmpl *t, bool shell)
{
	if (t == NULL)
		return;
	c->shell = shell;
	(void)rb_tmpl_check(t, resolve_name, c, c->p->d);
	c->shell = false;
}

static void
check_kvs(struct chk *c, const struct rb_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; kv != NULL && i < n; i++)
		check_tmpl(c, kv[i].value, false);
}

/* Check every name a step (or its rollback) uses. */
static void
check_step_names(struct chk *c, const struct rb_step *s)
{
	bool shell = s->action == RB_ACT_RUN || s->action == RB_ACT_CHECK;

	check_tmpl(c, s->command, shell);
	if (s->http != NULL) {
		check_tmpl(c, s->http->url, false);
		check_kvs(c, s->http->headers, s->http->nheaders);
		check_tmpl(c, s->http->body, false);
	}
	if (s->notify != NULL) {
		check_tmpl(c, s->notify->url, false);
		check_tmpl(c, s->notify->text, false);
		check_tmpl(c, s->notify->body, false);
		check_kvs(c, s->notify->headers, s->notify->nheaders);
	}
	check_kvs(c, s->with, s->nwith);
	if (s->when != NULL)
		(void)rb_expr_check(s->when, resolve_name, c, c->p->d);
	if (s->until != NULL) {
		bool saved = c->self_ok;

		c->self_ok = true;
		(void)rb_expr_check(s->until, resolve_name, c, c->p->d);
		c->self_ok = saved;
	}
	check_tmpl(c, s->on, false);
	check_kvs(c, s->env, s->nenv);
	check_tmpl(c, s->workdir, false);
	if (s->rollback != NULL) {
		c->self_ok = true;
		check_step_names(c, s->rollback);
		c->self_ok = false;
	}
}

static void
check_names(struct rbp *p)
{
	struct rb_runbook *rb = p->rb;
	struct chk c;
	size_t i;

	memset(&c, 0, sizeof(c));
	c.p = p;
	c.idx = NONE;
	check_tmpl(&c, rb->on, false);
	check_tmpl(&c, rb->lock, false);
	for (i = 0; i < rb->nsteps; i++) {
		c.idx = i;
		c.fail = false;
		p->nwarned = 0;
		check_step_names(&c, &rb->steps[i]);
	}
	for (i = 0; i < rb->non_failure; i++) {
		c.idx = i;
		c.fail = true;
		p->nwarned = 0;
		check_step_names(&c, &rb->on_failure[i]);
	}
}

/* ------------------------------------------------------------------ */
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

static void
parse_params(struct rbp *p, const struct rb_node *n)
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

static void
parse_labels(struct rbp *p, const struct rb_node *n)
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

static void
parse_window(struct rbp *p, const struct rb_node *n)
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
/* The file */

static void
parse_top(struct rbp *p, const struct rb_node *root)
{
	enum {
		T_RUNBOOK,
		T_PLAYBOOK,
		T_DESCRIPTION,
		T_LABELS,
		T_PARAMS,
		T_ON,
		T_TIMEOUT,
		T_WINDOW,
		T_LOCK,
		T_STEPS,
		T_ON_FAILURE,
		T_INCLUDE,
		T_N
	};
	const struct rb_node *v[T_N];
	const struct parse_key keys[T_N] = { { "runbook", 0, &v[T_RUNBOOK] },
		{ "playbook", 0, &v[T_PLAYBOOK] },
		{ "description", 0, &v[T_DESCRIPTION] },
		{ "labels", 0, &v[T_LABELS] }, { "params", 0, &v[T_PARAMS] },
		{ "on", 0, &v[T_ON] }, { "timeout", 0, &v[T_TIMEOUT] },
		{ "window", 0, &v[T_WINDOW] }, { "lock", 0, &v[T_LOCK] },
		{ "steps", PARSE_REQUIRED, &v[T_STEPS] },
		{ "on_failure", 0, &v[T_ON_FAILURE] },
		{ "include", 0, &v[T_INCLUDE] } };
	struct rb_runbook *rb = p->rb;
	const struct rb_node *name;
	struct rb_qbuf qb;

	if (root->kind != RB_NODE_MAP) {
		rb_diag_error(p->d, &root->loc,
		    "a runbook must be a mapping, not %s",
		    parse_describe(&qb, root));
		rb_diag_hint(p->d, "start with 'runbook: NAME' and 'steps:'");
		return;
	}
	/* The name first: a missing one is the first thing to fix. */
	if (rb_node_get(root, "runbook") == NULL &&
	    rb_node_get(root, "playbook") == NULL) {
		rb_diag_error(p->d, &root->loc, "missing key 'runbook'");
		rb_diag_hint(p->d,
		    "name the runbook with 'runbook: NAME' (or "
		    "'playbook: NAME')");
	}
	parse_map(p->d, root, NULL, keys, T_N);

	if (v[T_RUNBOOK] != NULL && v[T_PLAYBOOK] != NULL) {
		rb_diag_error(p->d, &parse_key_node(root, "playbook")->loc,
		    "both 'runbook' and 'playbook' are given");
		rb_diag_hint(p->d, "name the file with one of them");
	}
	rb->playbook = v[T_RUNBOOK] == NULL && v[T_PLAYBOOK] != NULL;
	name = v[T_RUNBOOK] != NULL ? v[T_RUNBOOK] : v[T_PLAYBOOK];
	if (name != NULL &&
	    (rb->name = parse_nonempty_str(
		 p->d, name, rb->playbook ? "playbook" : "runbook")) != NULL &&
	    !parse_valid_id(rb->name)) {
		rb_diag_error(p->d, &name->loc, "invalid %s name '%s'",
		    rb->playbook ? "playbook" : "runbook",
		    rb_qstr(&qb, rb->name, strlen(rb->name)));
		rb_diag_hint(p->d,
		    "use a-z, 0-9, '_' and '-', starting with "
		    "a letter or digit");
	}
	if (v[T_INCLUDE] != NULL) {
		rb_diag_error(p->d, &parse_key_node(root, "include")->loc,
		    "'include' is not supported");
		rb_diag_hint(p->d,
		    "run the other runbook as a step: '- id: "
		    "NAME' with 'runbook: OTHER' and 'with: {...}'");
	}
	if (v[T_DESCRIPTION] != NULL)
		rb->description =
		    parse_str(p->d, v[T_DESCRIPTION], "description", NULL);
	if (v[T_LABELS] != NULL)
		parse_labels(p, v[T_LABELS]);
	if (v[T_PARAMS] != NULL)
		parse_params(p, v[T_PARAMS]);
	if (v[T_ON] != NULL)
		parse_nonempty_tmpl(p, v[T_ON], "on", &rb->on);
	if (v[T_TIMEOUT] != NULL &&
	    parse_duration(p->d, v[T_TIMEOUT], "timeout", &rb->timeout_ms) ==
		0 &&
	    rb->timeout_ms == 0)
		rb_diag_error(
		    p->d, &v[T_TIMEOUT]->loc, "'timeout' must be more than 0s");
	if (v[T_WINDOW] != NULL)
		parse_window(p, v[T_WINDOW]);
	if (v[T_LOCK] != NULL)
		parse_nonempty_tmpl(p, v[T_LOCK], "lock", &rb->lock);
	if (v[T_STEPS] != NULL) {
		parse_steps(p, v[T_STEPS], "steps", STEP_MAIN, &rb->steps,
		    &rb->nsteps, &p->aux);
		if (v[T_STEPS]->kind == RB_NODE_SEQ && rb->nsteps == 0) {
			rb_diag_error(
			    p->d, &v[T_STEPS]->loc, "'steps' is empty");
			rb_diag_hint(p->d, "a runbook needs at least one step");
		}
	}
	if (v[T_ON_FAILURE] != NULL)
		parse_steps(p, v[T_ON_FAILURE], "on_failure", STEP_ON_FAILURE,
		    &rb->on_failure, &rb->non_failure, &p->faux);
	index_ids(p);
	resolve_needs(p, rb->steps, rb->nsteps, p->aux, false);
	resolve_needs(p, rb->on_failure, rb->non_failure, p->faux, true);
	check_cycles(p, rb->steps, rb->nsteps);
	check_cycles(p, rb->on_failure, rb->non_failure);
	check_names(p);
}

/* ------------------------------------------------------------------ */
/* Sub-runbooks */

/* A canonical name for a file, to recognise it on the stack. */
static char *
canonical(const char *path)
{
	char *r = realpath(path, NULL);

	return r != NULL ? r : xstrdup(path);
}

/* Check `with:` against the params the target declares. */
static void
check_with(struct rbp *p, const struct rb_step *s, const struct rb_node *n,
    const struct rb_runbook *target)
{
	const char **names;
	struct rb_qbuf qa, qb;
	size_t i, j;

	names = xcalloc(target->nparams + 1, sizeof(*names));
	for (i = 0; i < target->nparams; i++)
		names[i] = target->params[i].name;
	rb_qstr(&qa, target->name, strlen(target->name));
	for (i = 0; i < s->nwith; i++) {
		struct rb_buf msg = RB_BUF_INIT;

		if (rb_runbook_param(target, s->with[i].key) != NULL)
			continue;
		rb_buf_addf(&msg, "runbook '%s' has no param '%s'", qa.s,
		    rb_qstr(&qb, s->with[i].key, strlen(s->with[i].key)));
		parse_suggest(&msg, s->with[i].key, names, target->nparams);
		rb_diag_error(p->d, &s->with[i].loc, "%s", msg.buf);
		rb_buf_reset(&msg);
		for (j = 0; j < target->nparams; j++)
			rb_buf_addf(&msg, "%s%s", j ? ", " : "", names[j]);
		if (target->nparams > 0)
			rb_diag_hint(p->d, "its params are: %s", msg.buf);
		else
			rb_diag_hint(p->d, "it declares no params");
		rb_buf_release(&msg);
	}
	for (i = 0; i < target->nparams; i++) {
		const struct rb_param *pa = &target->params[i];

		if (!pa->required || pa->def != NULL || pa->env != NULL)
			continue;
		for (j = 0; j < s->nwith; j++)
			if (strcmp(s->with[j].key, pa->name) == 0)
				break;
		if (j < s->nwith)
			continue;
		rb_diag_error(p->d, &n->loc,
		    "runbook '%s' needs param '%s': add it to 'with'", qa.s,
		    rb_qstr(&qb, pa->name, strlen(pa->name)));
	}
	free(names);
}

/* Load (or find already loaded) the file at path for a `runbook:` step. */
static struct loaded *
load_sub(struct load_ctx *ctx, char *real, char *path, unsigned flags)
{
	struct rb_diags scratch = RB_DIAGS_INIT;
	struct rb_buf buf = RB_BUF_INIT;
	struct rb_runbook *rb = NULL;
	struct loaded *l;
	size_t i, li;
	int r;

	for (i = 0; i < ctx->ndone; i++) {
		if (strcmp(ctx->done[i].real, real) == 0) {
			free(real);
			free(path);
			return &ctx->done[i];
		}
	}
	RB_ALLOC_GROW(ctx->done, ctx->ndone + 1, ctx->dalloc);
	li = ctx->ndone++;
	l = &ctx->done[li];
	l->real = real;
	l->path = path;
	l->rb = NULL;
	l->status = 0;
	if ((r = rb_file_read(&buf, path, &scratch)) == 0)
		r = load_buf(&rb, path, buf.buf, buf.len, flags, &scratch, ctx);
	/* ctx->done may have moved while the sub-load recursed. */
	l = &ctx->done[li];
	l->rb = rb;
	l->status = r;
	rb_buf_release(&buf);
	rb_diags_release(&scratch);
	return l;
}

static void
check_sub(struct rbp *p, struct load_ctx *ctx, const struct rb_step *s,
    const struct rb_node *n, unsigned flags)
{
	struct rb_error err = RB_ERROR_INIT;
	struct loaded *l;
	char *path = NULL, *real;
	size_t k;

	if (rb_runbook_find_from(&path, s->sub_runbook, p->rb->path, &err) !=
	    0) {
		parse_report_missing_runbook(p->d, n, s->sub_runbook, &err);
		return;
	}
	real = canonical(path);
	for (k = 0; k < ctx->depth; k++) {
		struct rb_buf chain = RB_BUF_INIT;
		size_t j;

		if (strcmp(ctx->stack[k].real, real) != 0)
			continue;
		for (j = k; j < ctx->depth; j++)
			rb_buf_addf(&chain, "%s -> ", ctx->stack[j].name);
		rb_buf_adds(&chain, ctx->stack[k].name);
		rb_diag_error(ctx->root, &ctx->stack[k].call,
		    "runbook cycle: %s", chain.buf);
		rb_diag_hint(ctx->root,
		    "a runbook cannot run itself, directly or through others");
		rb_buf_release(&chain);
		free(real);
		free(path);
		return;
	}
	if (ctx->depth >= MAX_NESTING) {
		rb_diag_error(p->d, &n->loc,
		    "runbooks call each other more than %d deep", MAX_NESTING);
		free(real);
		free(path);
		return;
	}
	l = load_sub(ctx, real, path, flags);
	if (l->status == RB_ENOTFOUND) {
		rb_error_set(
		    &err, RB_ENOTFOUND, "no runbook file '%s'", l->path);
		parse_report_missing_runbook(p->d, n, s->sub_runbook, &err);
	} else if (l->status != 0 || l->rb == NULL) {
		struct rb_qbuf qb;

		rb_diag_error(p->d, &n->loc, "runbook '%s' has errors",
		    rb_qstr(&qb, s->sub_runbook, strlen(s->sub_runbook)));
		rb_diag_hint(
		    p->d, "run 'runbook validate %s' to see them", l->path);
	} else
		check_with(p, s, n, l->rb);
}

static void
check_subrunbooks(struct rbp *p, struct load_ctx *ctx, unsigned flags)
{
	struct rb_runbook *rb = p->rb;
	size_t i, top;

	RB_ALLOC_GROW(ctx->stack, ctx->depth + 1, ctx->salloc);
	top = ctx->depth++;
	ctx->stack[top].real = canonical(rb->path);
	ctx->stack[top].name = xstrdup(rb->name != NULL ? rb->name : rb->path);
	for (i = 0; i < rb->nsteps + rb->non_failure; i++) {
		bool fail = i >= rb->nsteps;
		size_t j = fail ? i - rb->nsteps : i;
		const struct rb_step *s =
		    fail ? &rb->on_failure[j] : &rb->steps[j];
		const struct step_aux *a = fail ? &p->faux[j] : &p->aux[j];

		if (s->action != RB_ACT_RUNBOOK || s->sub_runbook == NULL ||
		    a->runbook == NULL)
			continue;
		ctx->stack[top].call = a->runbook->loc;
		check_sub(p, ctx, s, a->runbook, flags);
	}
	ctx->depth--;
	free(ctx->stack[top].real);
	free(ctx->stack[top].name);
}

static void
load_ctx_release(struct load_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->ndone; i++) {
		free(ctx->done[i].real);
		free(ctx->done[i].path);
		rb_runbook_free(ctx->done[i].rb);
	}
	free(ctx->done);
	free(ctx->stack);
}

/* ------------------------------------------------------------------ */
/* Loading */

static int
load_buf(struct rb_runbook **out, const char *name, const char *data,
    size_t len, unsigned flags, struct rb_diags *diags, struct load_ctx *ctx)
{
	struct rb_yaml_doc *doc = NULL;
	struct rb_runbook *rb = NULL;
	const struct rb_node *root;
	struct rbp p;
	size_t before = diags->nerrors;
	int r;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	if ((r = rb_yaml_load_buf(&doc, name, data, len, diags)) != 0)
		goto out;
	rb = xcalloc(1, sizeof(*rb));
	rb->doc = doc;
	rb->path = xstrdup(rb_yaml_name(doc));
	rb_sha256_hex(rb->digest, data != NULL ? data : "", len);
	p.d = diags;
	p.rb = rb;
	if ((root = rb_yaml_root(doc)) == NULL) {
		struct rb_loc loc = { rb_yaml_name(doc), 0, 0 };

		rb_diag_error(diags, &loc, "the file is empty");
		rb_diag_hint(
		    diags, "a runbook needs 'runbook: NAME' and 'steps:'");
	} else
		parse_top(&p, root);
	if ((flags & RB_RUNBOOK_LOAD_CHECK_SUBRUNBOOKS) && ctx != NULL &&
	    root != NULL)
		check_subrunbooks(&p, ctx, flags);
	if (diags->nerrors > before) {
		r = RB_EINVAL;
		goto out;
	}
	*out = rb;
	rb = NULL;
	r = 0;
out:
	free(p.aux);
	free(p.faux);
	free(p.ids);
	free(p.anc);
	free(p.warned);
	rb_runbook_free(rb);
	return r;
}

int
rb_runbook_load_buf(struct rb_runbook **out, const char *name, const char *data,
    size_t len, unsigned flags, struct rb_diags *diags)
{
	struct load_ctx ctx;
	int r;

	memset(&ctx, 0, sizeof(ctx));
	ctx.root = diags;
	r = load_buf(out, name, data, len, flags, diags, &ctx);
	load_ctx_release(&ctx);
	return r;
}

int
rb_runbook_load(struct rb_runbook **out, const char *path, unsigned flags,
    struct rb_diags *diags)
{
	struct rb_buf buf = RB_BUF_INIT;
	int r;

	*out = NULL;
	if ((r = rb_file_read(&buf, path, diags)) == 0)
		r = rb_runbook_load_buf(
		    out, path, buf.buf, buf.len, flags, diags);
	rb_buf_release(&buf);
	return r;
}
