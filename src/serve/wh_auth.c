/*
 * wh_auth.c - authenticating webhook senders: bearer tokens and basic auth
 * (Alertmanager's http_config), HMAC-SHA256 of the raw body
 * (X-Hub-Signature-256 style) and Grafana's signature with its optional
 * timestamp and replay window.
 *
 * Secrets come only from environment variables named in the routes file,
 * are copied once at start-up and wiped on free. Every comparison of a
 * secret or a MAC goes through CRYPTO_memcmp on values of equal length:
 * tokens and passwords are compared as SHA-256 digests of both sides, so
 * neither their contents nor their lengths leak through timing.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "runbook/util.h"
#include "runbook/webhook.h"
#include "runbook/banned.h"

#define GRAFANA_SIG_HEADER "X-Grafana-Alerting-Signature"
#define GRAFANA_SIG_HEADER_OLD "X-Grafana-Alert-Signature"
#define MAX_ENV_NAMES 6

struct secret {
	char *v;
	size_t len;
};

struct rb_wh_auth {
	struct secret bearer; /* the token */
	struct secret basic;  /* "user:password" base64-encoded */
	struct secret hmac;   /* key */
	char *hmac_header;
	struct secret grafana;	 /* key */
	char *grafana_ts_header; /* or NULL */
	const char *env_names[MAX_ENV_NAMES + 1];
	size_t nenv;
};

const char *
rb_wh_auth_result_name(enum rb_wh_auth_result r)
{
	switch (r) {
	case RB_WH_AUTH_OK:
		return "ok";
	case RB_WH_AUTH_MISSING:
		return "missing";
	case RB_WH_AUTH_MALFORMED:
		return "malformed";
	case RB_WH_AUTH_INVALID:
		return "invalid";
	case RB_WH_AUTH_STALE:
		return "stale";
	}
	return "unknown";
}

static void
secret_wipe(struct secret *s)
{
	if (s->v != NULL)
		freezero(s->v, s->len);
	s->v = NULL;
	s->len = 0;
}

/* Copy the value of environment variable name into *out. */
static int
read_env(struct secret *out, struct rb_wh_auth *a, const char *name,
    const char *what, struct rb_error *err)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0') {
		rb_error_set(err, RB_EINVAL,
		    "environment variable '%s' (the "
		    "%s of the routes file's 'auth') is %s",
		    name, what, v == NULL ? "not set" : "empty");
		rb_error_hint(err,
		    "export %s with the secret before starting "
		    "'runbook serve' (for systemd: EnvironmentFile= or "
		    "LoadCredential=)",
		    name);
		return RB_EINVAL;
	}
	out->len = strlen(v);
	out->v = xstrndup(v, out->len);
	if (a->nenv < MAX_ENV_NAMES)
		a->env_names[a->nenv++] = xstrdup(name);
	return 0;
}

int
rb_wh_auth_new(struct rb_wh_auth **out, const struct rb_routes_auth *cfg,
    struct rb_error *err)
{
	struct rb_wh_auth *a = xcalloc(1, sizeof(*a));
	struct secret user = { NULL, 0 }, pass = { NULL, 0 };
	int r;

	if (cfg->bearer_token_env != NULL &&
	    (r = read_env(&a->bearer, a, cfg->bearer_token_env, "bearer token",
		 err)) != 0)
		goto out;
	if (cfg->basic_user_env != NULL && cfg->basic_password_env != NULL) {
		struct rb_buf plain = RB_BUF_INIT;

		if ((r = read_env(&user, a, cfg->basic_user_env,
			 "basic auth user", err)) != 0 ||
		    (r = read_env(&pass, a, cfg->basic_password_env,
			 "basic auth password", err)) != 0)
			goto out;
		rb_buf_add(&plain, user.v, user.len);
		rb_buf_addch(&plain, ':');
		rb_buf_add(&plain, pass.v, pass.len);
		/* RFC 4648 base64 with padding, as Go and curl send it. */
		a->basic.v = xmalloc(4 * ((plain.len + 2) / 3) + 1);
		a->basic.len =
		    (size_t)EVP_EncodeBlock((unsigned char *)a->basic.v,
			(unsigned char *)plain.buf, (int)plain.len);
		rb_buf_release_secret(&plain);
	}
	if (cfg->hmac_secret_env != NULL) {
		if ((r = read_env(&a->hmac, a, cfg->hmac_secret_env,
			 "HMAC secret", err)) != 0)
			goto out;
		a->hmac_header = xstrdup(cfg->hmac_header != NULL ?
		    cfg->hmac_header : "X-Hub-Signature-256");
	}
	if (cfg->grafana_secret_env != NULL) {
		if ((r = read_env(&a->grafana, a, cfg->grafana_secret_env,
			 "Grafana signing secret", err)) != 0)
			goto out;
		if (cfg->grafana_timestamp_header != NULL)
			a->grafana_ts_header =
			    xstrdup(cfg->grafana_timestamp_header);
	}
	*out = a;
	a = NULL;
	r = 0;
out:
	secret_wipe(&user);
	secret_wipe(&pass);
	rb_wh_auth_free(a);
	return r;
}

void
rb_wh_auth_free(struct rb_wh_auth *a)
{
	size_t i;

	if (a == NULL)
		return;
	secret_wipe(&a->bearer);
	secret_wipe(&a->basic);
	secret_wipe(&a->hmac);
	secret_wipe(&a->grafana);
	free(a->hmac_header);
	free(a->grafana_ts_header);
	for (i = 0; i < a->nenv; i++)
		free((char *)(uintptr_t)a->env_names[i]);
	free(a);
}

bool
rb_wh_auth_configured(const struct rb_wh_auth *a)
{
	return a->bearer.v != NULL || a->basic.v != NULL || a->hmac.v != NULL ||
	    a->grafana.v != NULL;
}

const char *const *
rb_wh_auth_env_names(const struct rb_wh_auth *a)
{
	return a->env_names;
}

/* ------------------------------------------------------------------ */
/* Header parsing */

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
rb_wh_sig_parse(
    unsigned char out[RB_WH_MAC_SIZE], const char *value, const char *prefix)
{
	unsigned char mac[RB_WH_MAC_SIZE];
	const char *p = value, *end;
	size_t i, plen;

	if (value == NULL)
		return RB_EINVAL;
	while (is_blank(*p))
		p++;
	if (prefix != NULL) {
		plen = strlen(prefix);
		if (strncasecmp(p, prefix, plen) != 0)
			return RB_EINVAL;
		p += plen;
	}
	end = p + strlen(p);
	while (end > p && is_blank(end[-1]))
		end--;
	if ((size_t)(end - p) != 2 * RB_WH_MAC_SIZE)
		return RB_EINVAL;
	for (i = 0; i < RB_WH_MAC_SIZE; i++) {
		int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return RB_EINVAL;
		mac[i] = (unsigned char)(hi << 4 | lo);
	}
	memcpy(out, mac, sizeof(mac));
	return 0;
}

int
rb_wh_auth_parse_scheme(const char **out_cred, size_t *out_len,
    const char *value, const char *scheme)
{
	size_t n = strlen(scheme);
	const char *p, *end;

	if (value == NULL)
		return RB_EINVAL;
	p = value;
	while (is_blank(*p))
		p++;
	if (strncasecmp(p, scheme, n) != 0 || !is_blank(p[n]))
		return RB_EINVAL;
	p += n;
	while (is_blank(*p))
		p++;
	end = p + strlen(p);
	while (end > p && is_blank(end[-1]))
		end--;
	if (end == p)
		return RB_EINVAL;
	*out_cred = p;
	*out_len = (size_t)(end - p);
	return 0;
}

int
rb_wh_parse_timestamp(int64_t *out, const char *value)
{
	long long v;

	if (value == NULL || rb_parse_int(&v, value, 0, 253402300799LL) != 0)
		return RB_EINVAL;
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Checks */

/* Constant-time equality of two byte strings of any lengths. */
static bool
digest_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	unsigned char da[EVP_MAX_MD_SIZE], db[EVP_MAX_MD_SIZE];
	unsigned int la = 0, lb = 0;

	if (EVP_Digest(a, alen, da, &la, EVP_sha256(), NULL) != 1 ||
	    EVP_Digest(b, blen, db, &lb, EVP_sha256(), NULL) != 1 ||
	    la != RB_WH_MAC_SIZE || lb != RB_WH_MAC_SIZE)
		return false;
	return CRYPTO_memcmp(da, db, RB_WH_MAC_SIZE) == 0;
}

/* HMAC-SHA256 of the concatenation of two byte strings. */
static void
hmac2(unsigned char out[RB_WH_MAC_SIZE], const struct secret *key,
    const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char *msg = xmalloc(alen + blen + 1);
	unsigned int len = 0;

	if (alen > 0)
		memcpy(msg, a, alen);
	if (blen > 0)
		memcpy(msg + alen, b, blen);
	if (HMAC(EVP_sha256(), key->v, (int)key->len, msg, alen + blen, out,
		&len) == NULL ||
	    len != RB_WH_MAC_SIZE)
		memset(out, 0, RB_WH_MAC_SIZE);
	free(msg);
}

static enum rb_wh_auth_result
check_scheme_token(const struct secret *want, const char *scheme,
    rb_wh_header_fn header, void *payload)
{
	const char *cred;
	size_t len;

	if (rb_wh_auth_parse_scheme(
		&cred, &len, header("Authorization", payload), scheme) != 0)
		return RB_WH_AUTH_MISSING;
	return digest_equal(cred, len, want->v, want->len) ? RB_WH_AUTH_OK
							   : RB_WH_AUTH_INVALID;
}

static enum rb_wh_auth_result
check_hmac(const struct rb_wh_auth *a, rb_wh_header_fn header, void *payload,
    const char *body, size_t len)
{
	unsigned char got[RB_WH_MAC_SIZE], want[RB_WH_MAC_SIZE];
	const char *v = header(a->hmac_header, payload);

	if (v == NULL)
		return RB_WH_AUTH_MISSING;
	if (rb_wh_sig_parse(got, v, "sha256=") != 0)
		return RB_WH_AUTH_MALFORMED;
	hmac2(want, &a->hmac, body, len, NULL, 0);
	return CRYPTO_memcmp(got, want, RB_WH_MAC_SIZE) == 0
	    ? RB_WH_AUTH_OK
	    : RB_WH_AUTH_INVALID;
}

static enum rb_wh_auth_result
check_grafana(const struct rb_wh_auth *a, rb_wh_header_fn header, void *payload,
    const char *body, size_t len, int64_t now_s)
{
	static const char *const names[] = { GRAFANA_SIG_HEADER,
		GRAFANA_SIG_HEADER_OLD };
	unsigned char got[RB_WH_MAC_SIZE], want[RB_WH_MAC_SIZE];
	enum rb_wh_auth_result res = RB_WH_AUTH_MISSING;
	const char *ts = NULL;
	int64_t ts_v = 0;
	struct rb_buf prefix = RB_BUF_INIT;
	size_t i;

	if (a->grafana_ts_header != NULL) {
		ts = header(a->grafana_ts_header, payload);
		if (ts == NULL)
			return RB_WH_AUTH_MISSING;
		if (rb_wh_parse_timestamp(&ts_v, ts) != 0)
			return RB_WH_AUTH_MALFORMED;
		rb_buf_adds(&prefix, ts);
		rb_buf_addch(&prefix, ':');
	}
	hmac2(want, &a->grafana, prefix.buf, prefix.len, body, len);
	rb_buf_release(&prefix);
	for (i = 0; i < RB_ARRAY_SIZE(names); i++) {
		const char *v = header(names[i], payload);

		if (v == NULL)
			continue;
		if (rb_wh_sig_parse(got, v, NULL) != 0) {
			if (res == RB_WH_AUTH_MISSING)
				res = RB_WH_AUTH_MALFORMED;
			continue;
		}
		if (CRYPTO_memcmp(got, want, RB_WH_MAC_SIZE) != 0) {
			res = RB_WH_AUTH_INVALID;
			continue;
		}
		if (ts != NULL &&
		    (ts_v > now_s + RB_WH_REPLAY_WINDOW_S ||
			ts_v < now_s - RB_WH_REPLAY_WINDOW_S))
			return RB_WH_AUTH_STALE;
		return RB_WH_AUTH_OK;
	}
	return res;
}

/*
 * Fold one scheme's result r into the overall one: true when it passed.
 * Otherwise the first failure that is not "missing" is kept, so a wrong
 * signature is reported even when another scheme's header was absent.
 */
static bool
fold(enum rb_wh_auth_result *res, const char **scheme, enum rb_wh_auth_result r,
    const char *name)
{
	if (r == RB_WH_AUTH_OK) {
		*res = r;
		*scheme = name;
		return true;
	}
	if (*res == RB_WH_AUTH_MISSING && r != RB_WH_AUTH_MISSING) {
		*res = r;
		*scheme = name;
	} else if (strcmp(*scheme, "none") == 0)
		*scheme = name;
	return false;
}

enum rb_wh_auth_result
rb_wh_auth_check(const struct rb_wh_auth *a, rb_wh_header_fn header,
    void *payload, const char *body, size_t len, int64_t now_s,
    const char **out_scheme)
{
	enum rb_wh_auth_result res = RB_WH_AUTH_MISSING;
	const char *scheme = "none";

	if (!rb_wh_auth_configured(a)) {
		res = RB_WH_AUTH_OK;
		goto out;
	}
	if (a->bearer.v != NULL &&
	    fold(&res, &scheme,
		check_scheme_token(&a->bearer, "Bearer", header, payload),
		"bearer"))
		goto out;
	if (a->basic.v != NULL &&
	    fold(&res, &scheme,
		check_scheme_token(&a->basic, "Basic", header, payload),
		"basic"))
		goto out;
	if (a->hmac.v != NULL &&
	    fold(&res, &scheme, check_hmac(a, header, payload, body, len),
		"hmac"))
		goto out;
	if (a->grafana.v != NULL)
		(void)fold(&res, &scheme,
		    check_grafana(a, header, payload, body, len, now_s),
		    "grafana");
out:
	if (out_scheme != NULL)
		*out_scheme = scheme;
	return res;
}
