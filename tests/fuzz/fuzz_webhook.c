/*
 * fuzz_webhook.c - libFuzzer target for what `runbook serve` reads from
 * the network. The first byte picks what the rest is:
 *
 *   'A' (and byte % 5 == 0)  an Alertmanager v4 body
 *   'G' (% 5 == 1)           a Grafana unified alerting body
 *   'H' (% 5 == 2)           a generic /hooks/NAME body
 *   'S' (% 5 == 3)           signature, Authorization and timestamp
 *                            header values, one per line
 *   'T' (% 5 == 4)           a whole request for rb_wh_auth_check():
 *                            Authorization, X-Hub-Signature-256,
 *                            X-Grafana-Alerting-Signature and timestamp
 *                            lines, then the body. A Grafana line "a|b"
 *                            also sends b as the older
 *                            X-Grafana-Alert-Signature (a may be empty);
 *                            in the signature lines each '@' ('^')
 *                            becomes the right MAC in lower (upper) case
 *                            hex, so valid and stale signatures are
 *                            reachable too
 *
 * Every parsed alert is also routed through a fixed routes file whose
 * runbook declares host: {pattern: '^[a-z0-9.-]+$'}.
 *
 * Invariants: no crash, no leak; a failed parse leaves no alerts and says
 * why; a parsed alert has a status of firing or resolved, a fingerprint
 * and labels sorted with unique keys; its queue JSON parses back to the
 * same labels; a routed alert's params are valid JSON whose host satisfies
 * the pattern (checked here without a regex); parsed signatures re-encode
 * to the hex they came from. An authentication result is the one the
 * contract gives, from a model computed here: each scheme (bearer, basic,
 * hmac, grafana) is ok, missing, malformed, invalid or stale by its own
 * header, and the request passes by the first that is ok, else reports
 * the first failure that is not "missing", naming its scheme.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "runbook/buf.h"
#include "runbook/diag.h"
#include "runbook/error.h"
#include "runbook/model.h"
#include "runbook/webhook.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rb_routes *routes;
static struct rb_wh_router *router;
static struct rb_wh_auth *auth;

static const char runbook_yaml[] =
    "runbook: target\n"
    "params:\n"
    "  host: {pattern: '^[a-z0-9.-]+$'}\n"
    "  note: {default: ''}\n"
    "steps: [{id: s, run: 'echo {{ params.host }}'}]\n";

static const char routes_yaml[] =
    "routes:\n"
    "  - name: pg\n"
    "    match: {alertname: PostgresDown, severity: '/^(critical|page)$/'}\n"
    "    runbook: target.yaml\n"
    "    params: {host: '{{ alert.labels.instance | host }}',"
    " note: '{{ alert.annotations.summary }}'}\n"
    "    dedup: 10m\n"
    "  - name: hook\n"
    "    hook: deploy\n"
    "    status: any\n"
    "    runbook: target.yaml\n"
    "    params: {host: '{{ alert.labels.host | lower }}',"
    " note: '{{ alert.fingerprint }} {{ alert.starts_at }}'}\n"
    "  - name: any\n"
    "    status: any\n"
    "    runbook: target.yaml\n"
    "    params: {host: '{{ alert.labels.host | default(\"x\") }}'}\n";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_routes_auth cfg;
	char dir[] = "/tmp/fuzz-webhook-XXXXXX", path[256];
	FILE *f;

	(void)argc;
	(void)argv;
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/target.yaml", dir);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fputs(runbook_yaml, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/routes.yaml", dir);
	if (rb_routes_load_buf(
		&routes, path, routes_yaml, strlen(routes_yaml), &d) != 0 ||
	    rb_wh_router_new(&router, routes, &d, &err) != 0)
		abort();
	rb_diags_release(&d);
	setenv("FUZZ_WH_TOKEN", "fuzz-token", 1);
	setenv("FUZZ_WH_HMAC", "fuzz-hmac", 1);
	setenv("FUZZ_WH_GRAFANA", "fuzz-grafana", 1);
	setenv("FUZZ_WH_USER", "fuzz-user", 1);
	setenv("FUZZ_WH_PASS", "fuzz-pass", 1);
	memset(&cfg, 0, sizeof(cfg));
	cfg.bearer_token_env = (char *)"FUZZ_WH_TOKEN";
	cfg.basic_user_env = (char *)"FUZZ_WH_USER";
	cfg.basic_password_env = (char *)"FUZZ_WH_PASS";
	cfg.hmac_secret_env = (char *)"FUZZ_WH_HMAC";
	cfg.hmac_header = (char *)"X-Hub-Signature-256";
	cfg.grafana_secret_env = (char *)"FUZZ_WH_GRAFANA";
	cfg.grafana_timestamp_header = (char *)"X-Grafana-Alerting-Timestamp";
	if (rb_wh_auth_new(&auth, &cfg, &err) != 0)
		abort();
	return 0;
}

/* The host param of a routed alert satisfies '^[a-z0-9.-]+$'. */
static void
check_params(const char *params)
{
	json_t *j = json_loads(params, JSON_REJECT_DUPLICATES, NULL);
	const char *h;

	if (j == NULL || !json_is_object(j))
		abort();
	h = json_string_value(json_object_get(j, "host"));
	if (h == NULL || *h == '\0')
		abort();
	for (; *h != '\0'; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= '0' && *h <= '9') ||
			*h == '.' || *h == '-'))
			abort();
	json_decref(j);
}

static void
check_alert(const struct rb_wh_alert *a, enum rb_wh_kind kind, size_t i)
{
	struct rb_buf b = RB_BUF_INIT;
	struct rb_wh_match m = RB_WH_MATCH_INIT;
	struct rb_error err = RB_ERROR_INIT;
	json_t *j, *labels;
	size_t k;
	int r;

	if (a->status == NULL ||
	    (strcmp(a->status, "firing") != 0 &&
		strcmp(a->status, "resolved") != 0))
		abort();
	if (a->fingerprint == NULL || a->fingerprint[0] == '\0' ||
	    a->starts_at == NULL)
		abort();
	for (k = 1; k < a->nlabels; k++)
		if (strcmp(a->labels[k - 1].key, a->labels[k].key) >= 0)
			abort();
	if (a->view.labels != a->labels || a->view.nlabels != a->nlabels)
		abort();
	if (rb_wh_alert_json(&b, &a->view, kind) != 0)
		abort();
	j = json_loads(b.buf, JSON_REJECT_DUPLICATES, NULL);
	if (j == NULL)
		abort();
	labels = json_object_get(j, "labels");
	if (json_object_size(labels) != a->nlabels)
		abort();
	for (k = 0; k < a->nlabels; k++) {
		const char *v = json_string_value(
		    json_object_get(labels, a->labels[k].key));

		if (v == NULL || strcmp(v, a->labels[k].value) != 0)
			abort();
	}
	json_decref(j);
	rb_buf_release(&b);

	r = rb_wh_router_route(&m, router, &a->view,
	    kind == RB_WH_GENERIC ? (i % 2 ? "deploy" : "other") : NULL, &err);
	if (r == 0 && m.route != NULL) {
		if (m.params == NULL || m.dedup_key == NULL)
			abort();
		check_params(m.params);
	} else if (r != 0 && (err.msg[0] == '\0' || m.params != NULL))
		abort();
	rb_wh_match_release(&m);
}

static void
fuzz_payload(enum rb_wh_kind kind, const char *body, size_t len)
{
	struct rb_wh_payload p = RB_WH_PAYLOAD_INIT;
	struct rb_error err = RB_ERROR_INIT;
	size_t i;
	int r;

	r = rb_wh_payload_parse(&p, kind, body, len, &err);
	if (r != 0) {
		if (p.nalerts != 0 || p.alerts != NULL || err.msg[0] == '\0')
			abort();
		if ((r == RB_ETOOBIG) !=
		    (rb_wh_json_depth_check(body, len, RB_WH_MAX_DEPTH) != 0))
			abort();
		return;
	}
	if (kind == RB_WH_GENERIC && p.nalerts != 1)
		abort();
	for (i = 0; i < p.nalerts; i++)
		check_alert(&p.alerts[i], kind, i);
	rb_wh_payload_release(&p);
}

/* Split text into at most n NUL-terminated lines (in place). */
static size_t
split_lines(char *text, char **lines, size_t n)
{
	size_t k = 0;
	char *p = text, *nl;

	while (k < n && p != NULL) {
		lines[k++] = p;
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	return k;
}

static void
check_sig(const char *v, const char *prefix)
{
	unsigned char mac[RB_WH_MAC_SIZE];
	char hex[2 * RB_WH_MAC_SIZE + 1];
	const char *p = v;
	size_t i;

	if (rb_wh_sig_parse(mac, v, prefix) != 0)
		return;
	for (i = 0; i < RB_WH_MAC_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	while (*p == ' ' || *p == '\t')
		p++;
	if (prefix != NULL)
		p += strlen(prefix);
	if (strncasecmp(p, hex, 2 * RB_WH_MAC_SIZE) != 0)
		abort();
}

static void
fuzz_headers(char *text)
{
	char *lines[4] = { NULL, NULL, NULL, NULL };
	const char *cred;
	size_t n = split_lines(text, lines, 4), i, len;
	int64_t ts;

	for (i = 0; i < n; i++) {
		check_sig(lines[i], "sha256=");
		check_sig(lines[i], NULL);
		if (rb_wh_auth_parse_scheme(&cred, &len, lines[i], "Bearer") ==
			0 &&
		    (len == 0 || cred < lines[i] ||
			cred + len > lines[i] + strlen(lines[i]) ||
			cred[0] == ' ' || cred[len - 1] == ' '))
			abort();
		(void)rb_wh_auth_parse_scheme(&cred, &len, lines[i], "Basic");
		if (rb_wh_parse_timestamp(&ts, lines[i]) == 0 && ts < 0)
			abort();
	}
}

struct fake_request {
	const char *auth, *hub, *grafana, *grafana_old, *ts;
};

static const char *
header(const char *name, void *payload)
{
	struct fake_request *q = payload;

	if (strcasecmp(name, "Authorization") == 0)
		return q->auth;
	if (strcasecmp(name, "X-Hub-Signature-256") == 0)
		return q->hub;
	if (strcasecmp(name, "X-Grafana-Alerting-Signature") == 0)
		return q->grafana;
	if (strcasecmp(name, "X-Grafana-Alert-Signature") == 0)
		return q->grafana_old;
	if (strcasecmp(name, "X-Grafana-Alerting-Timestamp") == 0)
		return q->ts;
	return NULL;
}

#define NOW_S 1700000000
/* base64 of "fuzz-user:fuzz-pass" */
#define BASIC_CRED "ZnV6ei11c2VyOmZ1enotcGFzcw=="

static void
mac_of(unsigned char mac[RB_WH_MAC_SIZE], const char *key, const char *a,
    size_t alen, const char *b, size_t blen)
{
	unsigned char *msg = malloc(alen + blen + 1);
	unsigned int len = 0;

	memcpy(msg, a, alen);
	memcpy(msg + alen, b, blen);
	if (HMAC(EVP_sha256(), key, (int)strlen(key), msg, alen + blen, mac,
		&len) == NULL || len != RB_WH_MAC_SIZE)
		abort();
	free(msg);
}

/* A copy of v (or NULL) with each '@' / '^' replaced by mac in hex. */
static char *
with_mac(const char *v, const unsigned char mac[RB_WH_MAC_SIZE])
{
	static const char lower[] = "0123456789abcdef";
	static const char upper[] = "0123456789ABCDEF";
	struct rb_buf b = RB_BUF_INIT;
	size_t i;

	if (v == NULL)
		return NULL;
	for (; *v != '\0'; v++) {
		const char *hex = *v == '@' ? lower : *v == '^' ? upper : NULL;

		if (hex == NULL) {
			rb_buf_addch(&b, *v);
			continue;
		}
		for (i = 0; i < RB_WH_MAC_SIZE; i++) {
			rb_buf_addch(&b, hex[mac[i] >> 4]);
			rb_buf_addch(&b, hex[mac[i] & 15]);
		}
	}
	return rb_buf_detach(&b, NULL);
}

/* Whether v is [blanks] prefix <mac in hex, either case> [blanks]. */
static bool
sig_is(const char *v, const char *prefix,
    const unsigned char mac[RB_WH_MAC_SIZE])
{
	char hex[2 * RB_WH_MAC_SIZE + 1];
	size_t i, len;

	for (i = 0; i < RB_WH_MAC_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	while (*v == ' ' || *v == '\t')
		v++;
	if (prefix != NULL) {
		if (strncasecmp(v, prefix, strlen(prefix)) != 0)
			return false;
		v += strlen(prefix);
	}
	len = strlen(v);
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	return len == 2 * RB_WH_MAC_SIZE &&
	    strncasecmp(v, hex, 2 * RB_WH_MAC_SIZE) == 0;
}

/* A token scheme by the model: ok, invalid, or missing when not sent. */
static enum rb_wh_auth_result
model_token(const char *value, const char *scheme, const char *want)
{
	const char *cred;
	size_t len;

	if (rb_wh_auth_parse_scheme(&cred, &len, value, scheme) != 0)
		return RB_WH_AUTH_MISSING;
	return len == strlen(want) && memcmp(cred, want, len) == 0
	    ? RB_WH_AUTH_OK
	    : RB_WH_AUTH_INVALID;
}

static enum rb_wh_auth_result
model_grafana(const struct fake_request *q,
    const unsigned char mac[RB_WH_MAC_SIZE])
{
	const char *sigs[2] = { q->grafana, q->grafana_old };
	unsigned char got[RB_WH_MAC_SIZE];
	bool parsed = false, bad = false;
	int64_t ts;
	size_t i;

	if (q->ts == NULL)
		return RB_WH_AUTH_MISSING;
	if (rb_wh_parse_timestamp(&ts, q->ts) != 0)
		return RB_WH_AUTH_MALFORMED;
	for (i = 0; i < 2; i++) {
		if (sigs[i] == NULL)
			continue;
		if (sig_is(sigs[i], NULL, mac))
			return ts >= NOW_S - RB_WH_REPLAY_WINDOW_S &&
				ts <= NOW_S + RB_WH_REPLAY_WINDOW_S
			    ? RB_WH_AUTH_OK
			    : RB_WH_AUTH_STALE;
		if (rb_wh_sig_parse(got, sigs[i], NULL) == 0)
			parsed = true;
		else
			bad = true;
	}
	return parsed ? RB_WH_AUTH_INVALID
	    : bad     ? RB_WH_AUTH_MALFORMED
		      : RB_WH_AUTH_MISSING;
}

static void
fuzz_auth(char *text, size_t size)
{
	static const char *const names[] = { "bearer", "basic", "hmac",
		"grafana" };
	char *lines[5] = { NULL, NULL, NULL, NULL, NULL };
	unsigned char hub_mac[RB_WH_MAC_SIZE], graf_mac[RB_WH_MAC_SIZE];
	unsigned char got[RB_WH_MAC_SIZE];
	enum rb_wh_auth_result model[4], want = RB_WH_AUTH_MISSING;
	struct fake_request q;
	const char *scheme = NULL, *body = "", *want_scheme = "bearer";
	char *hub, *graf, *graf_old, *bar;
	size_t n = split_lines(text, lines, 5), blen = 0, i;
	enum rb_wh_auth_result r;

	memset(&q, 0, sizeof(q));
	q.auth = n > 0 && lines[0][0] != '\0' ? lines[0] : NULL;
	q.ts = n > 3 && lines[3][0] != '\0' ? lines[3] : NULL;
	if (n > 4) {
		body = lines[4];
		blen = size - (size_t)(lines[4] - text);
	}
	mac_of(hub_mac, "fuzz-hmac", "", 0, body, blen);
	if (q.ts != NULL) {
		struct rb_buf m = RB_BUF_INIT;

		rb_buf_adds(&m, q.ts);
		rb_buf_addch(&m, ':');
		mac_of(graf_mac, "fuzz-grafana", m.buf, m.len, body, blen);
		rb_buf_release(&m);
	} else
		mac_of(graf_mac, "fuzz-grafana", "", 0, body, blen);
	hub = with_mac(n > 1 && lines[1][0] != '\0' ? lines[1] : NULL,
	    hub_mac);
	graf = graf_old = NULL;
	if (n > 2 && lines[2][0] != '\0') {
		if ((bar = strchr(lines[2], '|')) != NULL) {
			*bar = '\0';
			graf_old = with_mac(bar + 1, graf_mac);
		}
		if (lines[2][0] != '\0')
			graf = with_mac(lines[2], graf_mac);
	}
	q.hub = hub;
	q.grafana = graf;
	q.grafana_old = graf_old;

	r = rb_wh_auth_check(auth, header, &q, body, blen, NOW_S, &scheme);
	if (scheme == NULL || (unsigned)r >= RB_WH_AUTH_NRESULTS)
		abort();

	model[0] = model_token(q.auth, "Bearer", "fuzz-token");
	model[1] = model_token(q.auth, "Basic", BASIC_CRED);
	model[2] = q.hub == NULL ? RB_WH_AUTH_MISSING
	    : rb_wh_sig_parse(got, q.hub, "sha256=") != 0
	    ? RB_WH_AUTH_MALFORMED
	    : sig_is(q.hub, "sha256=", hub_mac) ? RB_WH_AUTH_OK
						: RB_WH_AUTH_INVALID;
	model[3] = model_grafana(&q, graf_mac);
	for (i = 0; i < 4; i++)
		if (model[i] == RB_WH_AUTH_OK) {
			want = RB_WH_AUTH_OK;
			want_scheme = names[i];
			break;
		}
	for (i = 0; i < 4 && want != RB_WH_AUTH_OK; i++)
		if (model[i] != RB_WH_AUTH_MISSING) {
			want = model[i];
			want_scheme = names[i];
			break;
		}
	if (r != want || strcmp(scheme, want_scheme) != 0)
		abort();
	/* A token is only ever accepted when it was sent. */
	if (r == RB_WH_AUTH_OK && strcmp(scheme, "bearer") == 0 &&
	    strstr(q.auth, "fuzz-token") == NULL)
		abort();
	free(hub);
	free(graf);
	free(graf_old);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size == 0)
		return 0;
	/* A NUL-terminated copy of the rest (headers are C strings). */
	text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 5) {
	case 0:
		fuzz_payload(RB_WH_ALERTMANAGER, text, size - 1);
		break;
	case 1:
		fuzz_payload(RB_WH_GRAFANA, text, size - 1);
		break;
	case 2:
		fuzz_payload(RB_WH_GENERIC, text, size - 1);
		break;
	case 3:
		fuzz_headers(text);
		break;
	default:
		fuzz_auth(text, size - 1);
		break;
	}
	free(text);
	return 0;
}
