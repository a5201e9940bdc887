/* Unit tests for serve/wh_auth.c: header parsing and every scheme. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "harness.h"
#include "runbook/error.h"
#include "runbook/webhook.h"

void test_serve_auth__sig_parse(void);
void test_serve_auth__parse_scheme(void);
void test_serve_auth__timestamp(void);
void test_serve_auth__missing_env(void);
void test_serve_auth__none(void);
void test_serve_auth__bearer(void);
void test_serve_auth__basic(void);
void test_serve_auth__hmac(void);
void test_serve_auth__grafana(void);
void test_serve_auth__several_schemes(void);

/* A fake request: up to 8 headers. */
struct hdrs {
	const char *name[8];
	const char *value[8];
	size_t n;
};

static const char *
lookup(const char *name, void *payload)
{
	struct hdrs *h = payload;
	size_t i;

	for (i = 0; i < h->n; i++)
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}

static void
hset(struct hdrs *h, const char *name, const char *value)
{
	h->name[h->n] = name;
	h->value[h->n] = value;
	h->n++;
}

/* Lower-case hex HMAC-SHA256 of msg with key, with an optional prefix. */
static void
mac_hex(char *out, size_t outsz, const char *prefix, const char *key,
    const char *msg, size_t len)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	size_t i, n;

	HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg,
	    len, md, &mdlen);
	n = (size_t)snprintf(out, outsz, "%s", prefix);
	for (i = 0; i < 32 && n + 2 < outsz; i++, n += 2)
		snprintf(out + n, outsz - n, "%02x", md[i]);
}

static struct rb_wh_auth *
auth_with(const struct rb_routes_auth *cfg)
{
	struct rb_wh_auth *a = NULL;
	struct rb_error err = RB_ERROR_INIT;

	if (rb_wh_auth_new(&a, cfg, &err) != 0)
		fprintf(stderr, "auth_with: %s\n", err.msg);
	return a;
}

void
test_serve_auth__sig_parse(void)
{
	unsigned char mac[RB_WH_MAC_SIZE];
	char good[80], upper[96];
	size_t i;

	snprintf(good, sizeof(good), "sha256=");
	for (i = 0; i < 32; i++)
		snprintf(good + 7 + 2 * i, 3, "%02x", (unsigned)(i * 7 + 1));
	T_EQ_INT(rb_wh_sig_parse(mac, good, "sha256="), 0);
	T_EQ_INT(mac[0], 1);
	T_EQ_INT(mac[31], 31 * 7 + 1);
	snprintf(upper, sizeof(upper), "  SHA256=%s\t", good + 7);
	for (i = 9; upper[i] != '\0'; i++)
		if (upper[i] >= 'a' && upper[i] <= 'f')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	T_EQ_INT(rb_wh_sig_parse(mac, upper, "sha256="), 0);
	T_EQ_INT(mac[31], 31 * 7 + 1);
	T_EQ_INT(rb_wh_sig_parse(mac, good + 7, NULL), 0);
	T_EQ_INT(rb_wh_sig_parse(mac, good + 7, "sha256="), RB_EINVAL);
	T_EQ_INT(rb_wh_sig_parse(mac, good, NULL), RB_EINVAL);
	/* good is "sha256=" and 64 digits: 71 characters. */
	snprintf(upper, sizeof(upper), "%.70s", good); /* 63 digits */
	T_EQ_INT(rb_wh_sig_parse(mac, upper, "sha256="), RB_EINVAL);
	snprintf(upper, sizeof(upper), "%.70sg", good); /* one not hex */
	T_EQ_INT(rb_wh_sig_parse(mac, upper, "sha256="), RB_EINVAL);
	snprintf(upper, sizeof(upper), "%s0", good); /* 65 digits */
	T_EQ_INT(rb_wh_sig_parse(mac, upper, "sha256="), RB_EINVAL);
	T_EQ_INT(rb_wh_sig_parse(mac, "", NULL), RB_EINVAL);
	T_EQ_INT(rb_wh_sig_parse(mac, NULL, NULL), RB_EINVAL);
	T_EQ_INT(rb_wh_sig_parse(mac, "sha1=abcd", "sha256="), RB_EINVAL);
}

void
test_serve_auth__parse_scheme(void)
{
	const char *cred = NULL;
	size_t len = 0;

	T_EQ_INT(
	    rb_wh_auth_parse_scheme(&cred, &len, "Bearer abc", "Bearer"), 0);
	T_EQ_INT(len, 3);
	T_ASSERT(strncmp(cred, "abc", 3) == 0);
	T_EQ_INT(
	    rb_wh_auth_parse_scheme(&cred, &len, " bearer \t a b  ", "Bearer"),
	    0);
	T_EQ_INT(len, 3);
	T_ASSERT(strncmp(cred, "a b", 3) == 0);
	T_EQ_INT(rb_wh_auth_parse_scheme(&cred, &len, "Bearerabc", "Bearer"),
	    RB_EINVAL);
	T_EQ_INT(rb_wh_auth_parse_scheme(&cred, &len, "Basic abc", "Bearer"),
	    RB_EINVAL);
	T_EQ_INT(rb_wh_auth_parse_scheme(&cred, &len, "Bearer ", "Bearer"),
	    RB_EINVAL);
	T_EQ_INT(rb_wh_auth_parse_scheme(&cred, &len, "Bearer", "Bearer"),
	    RB_EINVAL);
	T_EQ_INT(
	    rb_wh_auth_parse_scheme(&cred, &len, NULL, "Bearer"), RB_EINVAL);
}

void
test_serve_auth__timestamp(void)
{
	int64_t ts = 0;

	T_EQ_INT(rb_wh_parse_timestamp(&ts, "1700000000"), 0);
	T_EQ_INT(ts, 1700000000);
	T_EQ_INT(rb_wh_parse_timestamp(&ts, "-5"), RB_EINVAL);
	T_EQ_INT(rb_wh_parse_timestamp(&ts, "17e8"), RB_EINVAL);
	T_EQ_INT(rb_wh_parse_timestamp(&ts, ""), RB_EINVAL);
	T_EQ_INT(rb_wh_parse_timestamp(&ts, "99999999999999999999"), RB_EINVAL);
	T_EQ_INT(rb_wh_parse_timestamp(&ts, NULL), RB_EINVAL);
}

void
test_serve_auth__missing_env(void)
{
	struct rb_routes_auth cfg = { 0 };
	struct rb_wh_auth *a = NULL;
	struct rb_error err = RB_ERROR_INIT;

	unsetenv("RB_TEST_WH_UNSET");
	cfg.bearer_token_env = (char *)"RB_TEST_WH_UNSET";
	T_EQ_INT(rb_wh_auth_new(&a, &cfg, &err), RB_EINVAL);
	T_ASSERT(a == NULL);
	T_CONTAINS(err.msg, "'RB_TEST_WH_UNSET'");
	T_CONTAINS(err.msg, "not set");
	T_CONTAINS(err.hint, "export RB_TEST_WH_UNSET");
	setenv("RB_TEST_WH_EMPTY", "", 1);
	cfg.bearer_token_env = NULL;
	cfg.hmac_secret_env = (char *)"RB_TEST_WH_EMPTY";
	T_EQ_INT(rb_wh_auth_new(&a, &cfg, &err), RB_EINVAL);
	T_CONTAINS(err.msg, "empty");
}

void
test_serve_auth__none(void)
{
	struct rb_routes_auth cfg = { 0 };
	struct rb_wh_auth *a = auth_with(&cfg);
	struct hdrs h = { { 0 }, { 0 }, 0 };
	const char *scheme = NULL;

	T_ASSERT(a != NULL);
	T_ASSERT(!rb_wh_auth_configured(a));
	T_EQ_INT(
	    rb_wh_auth_check(a, lookup, &h, "", 0, 0, &scheme), RB_WH_AUTH_OK);
	T_EQ_STR(scheme, "none");
	T_ASSERT(rb_wh_auth_env_names(a)[0] == NULL);
	rb_wh_auth_free(a);
}

void
test_serve_auth__bearer(void)
{
	struct rb_routes_auth cfg = { 0 };
	struct rb_wh_auth *a;
	struct hdrs h = { { 0 }, { 0 }, 0 };
	const char *scheme = NULL;

	setenv("RB_TEST_WH_TOKEN", "t0ken-Z", 1);
	cfg.bearer_token_env = (char *)"RB_TEST_WH_TOKEN";
	T_ASSERT((a = auth_with(&cfg)) != NULL);
	T_EQ_STR(rb_wh_auth_env_names(a)[0], "RB_TEST_WH_TOKEN");
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, "", 0, 0, &scheme),
	    RB_WH_AUTH_MISSING);
	T_EQ_STR(scheme, "bearer");
	hset(&h, "authorization", "Bearer t0ken-Z");
	T_EQ_INT(
	    rb_wh_auth_check(a, lookup, &h, "", 0, 0, &scheme), RB_WH_AUTH_OK);
	h.value[0] = "Bearer t0ken-Y";
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, "", 0, 0, NULL),
	    RB_WH_AUTH_INVALID);
	h.value[0] = "Bearer t0ken-ZZ";
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, "", 0, 0, NULL),
	    RB_WH_AUTH_INVALID);
	h.value[0] = "Bearer t0ken";
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, "", 0, 0, NULL),
	    RB_WH_AUTH_INVALID);
	h.value[0] = "Basic t0ken-Z";
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, "", 0, 0, NULL),
	    RB_WH_AUTH_MISSING);
	rb_wh_auth_free(a);
}

void
test_serve_auth__basic(void)
{
	struct rb_routes_auth cfg = { 0 };
	struct rb_wh_auth *a;
	struct hdrs h = { { 0 }, { 0 }, 0 };

	setenv("RB_TEST_WH_USER", "am", 1);
	setenv("RB_TEST_WH_PASS", "pa:ss", 1);
	cfg.basic_user_env = (char *)"RB_TEST_WH_USER";
	cfg.basic_password_env = (char *)"RB_TEST_WH_PASS";
	T_ASSERT((a = auth_with(&cfg)) != NULL);
	/* base64("am:pa:ss") */
	hset(&h, "Authorization", "Basic YW06cGE6c3M=");
	T_EQ_INT(
	    rb_wh_auth_check(a, lookup, &h, "", 0, 0, NULL), RB_WH_AUTH_OK);
	h.value[0] = "basic  YW06cGE6c3M=  ";
	T_EQ_INT(
	    rb_wh_auth_check(a, lookup, &h, "", 0, 0, NULL), RB_WH_AUTH_OK);
	h.value[0] = "Basic YW06cGE6c3Q="; /* am:pa:st */
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, "", 0, 0, NULL),
	    RB_WH_AUTH_INVALID);
	T_EQ_INT(rb_wh_auth_check(a, lookup, &(struct hdrs){ { 0 }, { 0 }, 0 },
		     "", 0, 0, NULL),
	    RB_WH_AUTH_MISSING);
	rb_wh_auth_free(a);
}

void
test_serve_auth__hmac(void)
{
	static const char body[] = "{\"alerts\":[]}\n";
	struct rb_routes_auth cfg = { 0 };
	struct rb_wh_auth *a;
	struct hdrs h = { { 0 }, { 0 }, 0 };
	char sig[100], flipped[sizeof(body)];

	setenv("RB_TEST_WH_HMAC", "k3y", 1);
	cfg.hmac_secret_env = (char *)"RB_TEST_WH_HMAC";
	cfg.hmac_header = (char *)"X-Signature-256";
	T_ASSERT((a = auth_with(&cfg)) != NULL);
	mac_hex(sig, sizeof(sig), "sha256=", "k3y", body, strlen(body));
	hset(&h, "x-signature-256", sig);
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, strlen(body), 0, NULL),
	    RB_WH_AUTH_OK);
	/* One bit of the body flipped. */
	memcpy(flipped, body, sizeof(body));
	flipped[3] ^= 1;
	T_EQ_INT(
	    rb_wh_auth_check(a, lookup, &h, flipped, strlen(body), 0, NULL),
	    RB_WH_AUTH_INVALID);
	/* Wrong secret. */
	mac_hex(sig, sizeof(sig), "sha256=", "k3Y", body, strlen(body));
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, strlen(body), 0, NULL),
	    RB_WH_AUTH_INVALID);
	h.value[0] = "sha256=zz";
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, strlen(body), 0, NULL),
	    RB_WH_AUTH_MALFORMED);
	h.name[0] = "X-Hub-Signature-256";
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, strlen(body), 0, NULL),
	    RB_WH_AUTH_MISSING);
	rb_wh_auth_free(a);
}

void
test_serve_auth__grafana(void)
{
	static const char body[] = "{\"version\":\"1\",\"alerts\":[]}";
	struct rb_routes_auth cfg = { 0 };
	struct rb_wh_auth *a;
	struct hdrs h = { { 0 }, { 0 }, 0 };
	char sig[100], msg[200];
	const int64_t now = 1700000000;

	setenv("RB_TEST_WH_GRAFANA", "gr4f", 1);
	cfg.grafana_secret_env = (char *)"RB_TEST_WH_GRAFANA";
	T_ASSERT((a = auth_with(&cfg)) != NULL);
	/* Without a timestamp header: bare hex over the body; either name. */
	mac_hex(sig, sizeof(sig), "", "gr4f", body, strlen(body));
	hset(&h, "X-Grafana-Alert-Signature", sig);
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, strlen(body), now, NULL),
	    RB_WH_AUTH_OK);
	h.name[0] = "X-Grafana-Alerting-Signature";
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, strlen(body), now, NULL),
	    RB_WH_AUTH_OK);
	h.value[0] = "sha256=00";
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, strlen(body), now, NULL),
	    RB_WH_AUTH_MALFORMED);
	/* A bad one under the new name, a good one under the old. */
	hset(&h, "X-Grafana-Alert-Signature", sig);
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, strlen(body), now, NULL),
	    RB_WH_AUTH_OK);
	rb_wh_auth_free(a);

	/* With a timestamp header: MAC over "ts:body", 300 s window. */
	cfg.grafana_timestamp_header = (char *)"X-Grafana-Alerting-Timestamp";
	T_ASSERT((a = auth_with(&cfg)) != NULL);
	h.n = 0;
	snprintf(msg, sizeof(msg), "%lld:%s", (long long)now, body);
	mac_hex(sig, sizeof(sig), "", "gr4f", msg, strlen(msg));
	hset(&h, "X-Grafana-Alerting-Signature", sig);
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, strlen(body), now, NULL),
	    RB_WH_AUTH_MISSING);
	hset(&h, "X-Grafana-Alerting-Timestamp", "1700000000");
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, strlen(body), now, NULL),
	    RB_WH_AUTH_OK);
	T_EQ_INT(rb_wh_auth_check(
		     a, lookup, &h, body, strlen(body), now + 300, NULL),
	    RB_WH_AUTH_OK);
	T_EQ_INT(rb_wh_auth_check(
		     a, lookup, &h, body, strlen(body), now - 300, NULL),
	    RB_WH_AUTH_OK);
	T_EQ_INT(rb_wh_auth_check(
		     a, lookup, &h, body, strlen(body), now + 301, NULL),
	    RB_WH_AUTH_STALE);
	T_EQ_INT(rb_wh_auth_check(
		     a, lookup, &h, body, strlen(body), now - 301, NULL),
	    RB_WH_AUTH_STALE);
	/* The timestamp is signed: changing it breaks the MAC. */
	h.value[1] = "1700000001";
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, strlen(body), now, NULL),
	    RB_WH_AUTH_INVALID);
	h.value[1] = "soon";
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, strlen(body), now, NULL),
	    RB_WH_AUTH_MALFORMED);
	/* A MAC over the body alone does not pass with a timestamp. */
	h.value[1] = "1700000000";
	mac_hex(sig, sizeof(sig), "", "gr4f", body, strlen(body));
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, strlen(body), now, NULL),
	    RB_WH_AUTH_INVALID);
	rb_wh_auth_free(a);
	T_EQ_STR(rb_wh_auth_result_name(RB_WH_AUTH_STALE), "stale");
}

void
test_serve_auth__several_schemes(void)
{
	static const char body[] = "{}";
	struct rb_routes_auth cfg = { 0 };
	struct rb_wh_auth *a;
	struct hdrs h = { { 0 }, { 0 }, 0 };
	const char *scheme = NULL;
	char sig[100];

	setenv("RB_TEST_WH_TOKEN", "tok", 1);
	setenv("RB_TEST_WH_HMAC", "k3y", 1);
	cfg.bearer_token_env = (char *)"RB_TEST_WH_TOKEN";
	cfg.hmac_secret_env = (char *)"RB_TEST_WH_HMAC";
	T_ASSERT((a = auth_with(&cfg)) != NULL);
	T_EQ_STR(rb_wh_auth_env_names(a)[1], "RB_TEST_WH_HMAC");
	/* Nothing at all: missing, reported against the first scheme. */
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, 2, 0, &scheme),
	    RB_WH_AUTH_MISSING);
	T_EQ_STR(scheme, "bearer");
	/* A wrong signature is reported even though no token was sent. */
	mac_hex(sig, sizeof(sig), "sha256=", "nope", body, 2);
	hset(&h, "X-Hub-Signature-256", sig);
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, 2, 0, &scheme),
	    RB_WH_AUTH_INVALID);
	T_EQ_STR(scheme, "hmac");
	/* Either scheme passing is enough. */
	mac_hex(sig, sizeof(sig), "sha256=", "k3y", body, 2);
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, 2, 0, &scheme),
	    RB_WH_AUTH_OK);
	T_EQ_STR(scheme, "hmac");
	hset(&h, "Authorization", "Bearer tok");
	T_EQ_INT(rb_wh_auth_check(a, lookup, &h, body, 2, 0, &scheme),
	    RB_WH_AUTH_OK);
	T_EQ_STR(scheme, "bearer");
	rb_wh_auth_free(a);
}
