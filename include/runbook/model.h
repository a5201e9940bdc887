/*
 * model.h - the validated, immutable model of runbook, inventory and routes
 * files (second parsing pass).
 *
 * A model is produced only when its file had no errors, and is never changed
 * afterwards: the DAG, the planner and the engine all read it. A model owns
 * everything it points to, including the YAML document it was built from
 * (locations point into it). Free with the matching _free().
 */
#ifndef RUNBOOK_MODEL_H
#define RUNBOOK_MODEL_H

#include "runbook/diag.h"
#include "runbook/expr.h"
#include "runbook/regex.h"
#include "runbook/template.h"

/* ------------------------------------------------------------------ */
/* Runbooks */

enum rb_action {
	RB_ACT_RUN,
	RB_ACT_CHECK,
	RB_ACT_HTTP,
	RB_ACT_TCP,
	RB_ACT_SLEEP,
	RB_ACT_APPROVE,
	RB_ACT_NOTIFY,
	RB_ACT_RUNBOOK,
	RB_ACT_MANUAL
};
/* "run", "check", "http", ... */
const char *rb_action_name(enum rb_action a);

/* A key with a template value (env, with, headers). */
struct rb_kv {
	char *key;
	struct rb_tmpl *value;
	struct rb_loc loc;
};

struct rb_http_spec {
	struct rb_tmpl *url;
	char *method;			/* upper-case; default "GET" */
	struct rb_kv *headers;
	size_t nheaders;
	struct rb_tmpl *body;		/* or NULL */
	int *status;			/* accepted codes; none = any 2xx */
	size_t nstatus;
	struct rb_regex *body_match;	/* or NULL */
	int64_t timeout_ms;		/* per request; default 10s */
	bool insecure;			/* skip TLS verification */
};

struct rb_notify_spec {
	struct rb_tmpl *url;
	struct rb_tmpl *text;		/* Slack-compatible {"text": ...} */
	struct rb_tmpl *body;		/* raw body instead of text, or NULL */
	struct rb_kv *headers;
	size_t nheaders;
};

struct rb_retries {
	int count;			/* extra attempts; 0 = none */
	int64_t delay_ms;		/* before the first retry; default 1s */
	double backoff;			/* delay multiplier; default 1.0 */
};

struct rb_expect {
	int *exit_codes;		/* accepted; none = {0} */
	size_t nexit;
	struct rb_regex *stdout_re;
	struct rb_regex *stderr_re;
	struct rb_regex *not_stdout_re;
	struct rb_regex *not_stderr_re;
};

struct rb_step_capture {
	char *name;			/* steps.ID.vars.NAME */
	struct rb_regex *re;		/* group NAME, else 1, else whole */
	char *stream;			/* "stdout" (default) or "stderr" */
	struct rb_loc loc;
};

struct rb_step {
	char *id;
	char *name;			/* or NULL */
	struct rb_loc loc;		/* of the step mapping */
	enum rb_action action;
	/*
	 * The action's main template: the shell text of run/check (and of a
	 * shell-string rollback), the "host:port" of tcp, the message of
	 * approve/manual. NULL for http, notify, sleep, runbook.
	 */
	struct rb_tmpl *command;
	int64_t sleep_ms;		/* RB_ACT_SLEEP */
	struct rb_http_spec *http;	/* RB_ACT_HTTP */
	struct rb_notify_spec *notify;	/* RB_ACT_NOTIFY */
	char *sub_runbook;		/* RB_ACT_RUNBOOK: name or path as
					   written; rb_runbook_find_from() */
	struct rb_kv *with;		/* RB_ACT_RUNBOOK: params */
	size_t nwith;

	char **needs;			/* ids as written */
	size_t nneeds;
	bool needs_given;		/* false: implicit previous step */
	size_t *need_idx;		/* resolved indices into the array the
					   step is in (steps or on_failure) */
	size_t nneed_idx;

	struct rb_expr *when;		/* or NULL */
	struct rb_expr *until;		/* or NULL */
	struct rb_tmpl *on;		/* target; NULL = runbook default */
	int batch;			/* 0 = all hosts at once */
	bool batch_pct;			/* batch is a percentage */
	int max_fail;			/* host failures tolerated */
	bool max_fail_pct;
	int64_t timeout_ms;		/* per attempt; default 5m */
	struct rb_retries retries;
	struct rb_expect expect;
	struct rb_step_capture *captures;
	size_t ncaptures;
	/*
	 * Compensation or NULL. A shell string becomes a run step with id
	 * "<id>.rollback"; a mapping is a step with one of run, check, http,
	 * tcp, notify, sleep. A rollback has no needs; its fields not written
	 * keep their defaults (on NULL, timeout 5m).
	 */
	struct rb_step *rollback;
	bool continue_on_error;
	bool idempotent;
	bool readonly;			/* safe for --dry-run=checks */
	struct rb_kv *env;
	size_t nenv;
	struct rb_tmpl *workdir;	/* or NULL */
};

/* True for steps that --dry-run=checks executes. */
bool rb_step_is_readonly(const struct rb_step *s);

struct rb_param {
	char *name;
	char *def;			/* default, or NULL */
	bool required;			/* default: true when no default */
	char *pattern_src;		/* or NULL */
	struct rb_regex *pattern;
	char **enums;			/* allowed values, or NULL */
	size_t nenums;
	char *env;			/* env variable to read, or NULL */
	bool secret;
	char *description;
	struct rb_loc loc;
};

struct rb_label {
	char *key;
	char *value;
};

struct rb_window {
	bool present;
	unsigned days;			/* bit 0 Sunday ... bit 6 Saturday */
	int start_min;			/* minutes after midnight */
	int end_min;			/* < start_min: crosses midnight */
	char *tz;			/* zoneinfo name; NULL = UTC */
	struct rb_loc loc;
};

struct rb_runbook {
	char *name;
	bool playbook;			/* named with `playbook:` */
	char *description;
	struct rb_label *labels;
	size_t nlabels;
	struct rb_param *params;
	size_t nparams;
	struct rb_tmpl *on;		/* default target; NULL = local */
	int64_t timeout_ms;		/* whole run; 0 = none */
	struct rb_window window;
	struct rb_tmpl *lock;		/* NULL = the runbook name */
	struct rb_step *steps;
	size_t nsteps;
	struct rb_step *on_failure;	/* needs resolve among themselves */
	size_t non_failure;
	char *path;			/* the file it came from */
	char digest[65];		/* SHA-256 of the file's bytes */
	struct rb_yaml_doc *doc;	/* owns the locations */
};

/* Flags for rb_runbook_load(). */
enum rb_runbook_load_flags {
	/* Resolve `runbook:` steps and report cycles between runbooks. */
	RB_RUNBOOK_LOAD_CHECK_SUBRUNBOOKS = (1 << 0)
};

/*
 * Load and validate a runbook file. Every problem in the file is added to
 * diags (errors and warnings). Returns 0 and sets *out when there were no
 * errors; otherwise RB_EINVAL (or RB_ENOTFOUND, with nothing reported, for
 * a missing file) and *out is NULL. With RB_RUNBOOK_LOAD_CHECK_SUBRUNBOOKS,
 * a called runbook with errors is reported once at the calling step (its
 * own diagnostics are not repeated); a cycle is reported at the step that
 * starts it.
 */
int rb_runbook_load(struct rb_runbook **out, const char *path,
    unsigned flags, struct rb_diags *diags);
/* Same, from memory (name is used in locations; digest is of data). */
int rb_runbook_load_buf(struct rb_runbook **out, const char *name,
    const char *data, size_t len, unsigned flags, struct rb_diags *diags);
void rb_runbook_free(struct rb_runbook *rb);

/* Lookups by name; NULL when absent. */
const struct rb_step *rb_runbook_step(const struct rb_runbook *rb,
    const char *id);
const struct rb_param *rb_runbook_param(const struct rb_runbook *rb,
    const char *name);

/*
 * Check a param value against its pattern and enum. Returns 0, or RB_EINVAL
 * with a message in err naming the param (never the value of a secret).
 */
int rb_param_check(const struct rb_param *p, const char *value,
    struct rb_error *err);

/* ------------------------------------------------------------------ */
/* Inventory */

struct rb_host {
	char *name;
	char *address;			/* default: the name */
	char *user;			/* default: defaults.user, else $USER */
	int port;			/* default 22 */
	char *identity;			/* private key file, or NULL */
	char *known_hosts;		/* or NULL: ~/.ssh/known_hosts */
	struct rb_loc loc;
};

struct rb_group {
	char *name;
	char **members;			/* host names (groups are expanded) */
	size_t nmembers;
	struct rb_loc loc;
};

struct rb_inventory {
	struct rb_host *hosts;
	size_t nhosts;
	struct rb_group *groups;
	size_t ngroups;
	char *path;
	struct rb_yaml_doc *doc;
};

/*
 * Load and validate an inventory (SPEC 3): defaults are applied to every
 * host (user falls back to $USER; "~/" paths are kept as written) and
 * groups are expanded to host names ("local" may be a member). Returns
 * like rb_runbook_load().
 */
int rb_inventory_load(struct rb_inventory **out, const char *path,
    struct rb_diags *diags);
int rb_inventory_load_buf(struct rb_inventory **out, const char *name,
    const char *data, size_t len, struct rb_diags *diags);
void rb_inventory_free(struct rb_inventory *inv);
/* Lookups by name; NULL when absent ("local" is not an inventory host). */
const struct rb_host *rb_inventory_host(const struct rb_inventory *inv,
    const char *name);
const struct rb_group *rb_inventory_group(const struct rb_inventory *inv,
    const char *name);

/* ------------------------------------------------------------------ */
/* Webhook routes */

enum rb_route_status {
	RB_ROUTE_FIRING,
	RB_ROUTE_RESOLVED,
	RB_ROUTE_ANY
};

struct rb_route_match {
	char *label;
	char *value;			/* equality, when re is NULL */
	struct rb_regex *re;		/* /regex/ form */
	struct rb_loc loc;
};

struct rb_route {
	char *name;
	char *hook;			/* generic: POST /hooks/NAME; or NULL */
	struct rb_route_match *match;
	size_t nmatch;
	enum rb_route_status status;
	char *runbook;			/* as written; rb_runbook_find_from() */
	struct rb_kv *params;		/* templates over alert.* */
	size_t nparams;
	int64_t dedup_ms;		/* 0 = no dedup window */
	struct rb_loc loc;
};

struct rb_routes_auth {
	char *bearer_token_env;
	char *basic_user_env;
	char *basic_password_env;
	char *hmac_secret_env;
	char *hmac_header;		/* default X-Hub-Signature-256 */
	char *grafana_secret_env;
	char *grafana_timestamp_header;	/* or NULL */
};

struct rb_routes {
	char *listen;			/* default 127.0.0.1:9095 */
	struct rb_routes_auth auth;
	size_t max_body;		/* bytes; default 1 MiB */
	int max_runs;			/* concurrent runs; default 4 */
	struct rb_route *routes;
	size_t nroutes;
	char *path;
	struct rb_yaml_doc *doc;
};

/*
 * Load and validate a webhook routes file (SPEC 6). Each route's runbook is
 * found with rb_runbook_find_from() and loaded to check the route's params
 * against the ones it declares. Returns like rb_runbook_load().
 */
int rb_routes_load(struct rb_routes **out, const char *path,
    struct rb_diags *diags);
int rb_routes_load_buf(struct rb_routes **out, const char *name,
    const char *data, size_t len, struct rb_diags *diags);
void rb_routes_free(struct rb_routes *routes);

/* ------------------------------------------------------------------ */
/* Finding files */

/*
 * Resolve NAME|FILE: a path containing '/' or ending in .yaml/.yml is used
 * as is; otherwise NAME.yaml (then NAME.yml) is looked up in ./runbooks,
 * ./playbooks, then each directory of $RUNBOOK_PATH. Returns 0 and a newly
 * allocated path in *out, or RB_ENOTFOUND (message in err lists where it
 * looked).
 */
int rb_runbook_find(char **out, const char *name_or_file,
    struct rb_error *err);
/*
 * Resolve a reference made inside the file `from` (a `runbook:` step, a
 * route's runbook): a path (containing '/' or ending in .yaml/.yml) is
 * relative to the directory of from; a name is looked up like
 * rb_runbook_find(). Returns 0 and a newly allocated path in *out, or
 * RB_ENOTFOUND with a message and hint in err.
 */
int rb_runbook_find_from(char **out, const char *ref, const char *from,
    struct rb_error *err);
/* The search path as a list of directories (caller releases). */
void rb_runbook_search_path(struct rb_strvec *out);

#endif
