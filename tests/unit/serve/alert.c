/* Unit tests for serve/wh_alert.c: payload parsing and fingerprints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/webhook.h"

void test_serve_alert__fingerprint_vectors(void);
void test_serve_alert__alertmanager_v4(void);
void test_serve_alert__group_status_and_unknown_fields(void);
void test_serve_alert__computed_fingerprint(void);
void test_serve_alert__grafana(void);
void test_serve_alert__generic(void);
void test_serve_alert__malformed(void);
void test_serve_alert__depth(void);
void test_serve_alert__alert_json(void);

static const char am_v4[] =
    "{\"receiver\":\"runbook\",\"status\":\"firing\",\"alerts\":[\n"
    " {\"status\":\"firing\",\n"
    "  \"labels\":{\"severity\":\"critical\",\"alertname\":"
    "\"PostgresConnectionsExhausted\",\"instance\":\"db1.example.org:9187\","
    "\"job\":\"postgres\",\"runbook\":\"db-connection\"},\n"
    "  \"annotations\":{\"summary\":\"db1: 98% of max_connections used\"},\n"
    "  \"startsAt\":\"2024-05-01T10:00:00.123456789Z\","
    "\"endsAt\":\"0001-01-01T00:00:00Z\",\n"
    "  \"generatorURL\":\"http://prometheus.example.org:9090/graph?g0.expr"
    "=x\\u0026g0.tab=1\",\"fingerprint\":\"f0755edba3887fd3\"}],\n"
    " \"groupLabels\":{\"alertname\":\"PostgresConnectionsExhausted\"},\n"
    " \"commonLabels\":{},\"commonAnnotations\":{},\n"
    " \"externalURL\":\"http://alertmanager.example.org:9093\","
    "\"version\":\"4\",\n"
    " \"groupKey\":\"{}/{severity=\\\"critical\\\"}:{alertname=\\\""
    "PostgresConnectionsExhausted\\\"}\",\"truncatedAlerts\":0}\n";

static int
parse(struct rb_wh_payload *p, enum rb_wh_kind kind, const char *body,
    struct rb_error *err)
{
	return rb_wh_payload_parse(p, kind, body, strlen(body), err);
}

void
test_serve_alert__fingerprint_vectors(void)
{
	/* prometheus/common model/signature_test.go and research C1. */
	struct rb_label two[] = { { (char *)"name", (char *)"garland, briggs" },
		{ (char *)"fear", (char *)"love is not enough" } };
	struct rb_label db1[] = { { (char *)"alertname",
				      (char *)"PostgresConnectionsExhausted" },
		{ (char *)"instance", (char *)"db1.example.org:9187" },
		{ (char *)"job", (char *)"postgres" },
		{ (char *)"runbook", (char *)"db-connection" },
		{ (char *)"severity", (char *)"critical" } };
	char fp[RB_WH_FINGERPRINT_SIZE];

	rb_wh_fingerprint(fp, NULL, 0);
	T_EQ_STR(fp, "cbf29ce484222325"); /* 14695981039346656037 */
	rb_wh_fingerprint(fp, two, 2);	  /* order does not matter */
	T_EQ_STR(fp, "507a62d79ee76c9a"); /* 5799056148416392346 */
	rb_wh_fingerprint(fp, db1, 5);
	T_EQ_STR(fp, "f0755edba3887fd3");
	db1[1].value = (char *)"db2.example.org:9187";
	rb_wh_fingerprint(fp, db1, 5);
	T_EQ_STR(fp, "dbe7466c4d4ea0d0");
}

void
test_serve_alert__alertmanager_v4(void)
{
	struct rb_wh_payload p = RB_WH_PAYLOAD_INIT;
	struct rb_error err = RB_ERROR_INIT;
	const struct rb_alert *a;

	T_EQ_INT(parse(&p, RB_WH_ALERTMANAGER, am_v4, &err), 0);
	T_EQ_INT(p.nalerts, 1);
	a = &p.alerts[0].view;
	T_EQ_STR(a->status, "firing");
	T_EQ_STR(a->fingerprint, "f0755edba3887fd3");
	T_EQ_STR(a->starts_at, "2024-05-01T10:00:00.123456789Z");
	T_EQ_INT(a->nlabels, 5);
	/* Sorted by key. */
	T_EQ_STR(a->labels[0].key, "alertname");
	T_EQ_STR(a->labels[4].key, "severity");
	T_EQ_STR(a->labels[1].value, "db1.example.org:9187");
	T_EQ_INT(a->nannotations, 1);
	T_EQ_STR(a->annotations[0].value, "db1: 98% of max_connections used");
	rb_wh_payload_release(&p);
	T_EQ_INT(p.nalerts, 0);
	rb_wh_payload_release(&p); /* twice is fine */
}

void
test_serve_alert__group_status_and_unknown_fields(void)
{
	struct rb_wh_payload p = RB_WH_PAYLOAD_INIT;
	struct rb_error err = RB_ERROR_INIT;

	T_EQ_INT(
	    parse(&p, RB_WH_ALERTMANAGER,
		"{\"status\":\"resolved\","
		"\"future\":{\"x\":[1,2,{\"y\":null}]},\"alerts\":["
		"{\"labels\":{\"a\":\"1\"},\"new\":true,\"fingerprint\":\"ab\"}"
		","
		"{\"status\":\"firing\",\"labels\":null,\"annotations\":null,"
		"\"fingerprint\":\"cd\",\"startsAt\":null}]}",
		&err),
	    0);
	T_EQ_INT(p.nalerts, 2);
	T_EQ_STR(p.alerts[0].status, "resolved");
	T_EQ_STR(p.alerts[0].starts_at, "");
	T_EQ_STR(p.alerts[1].status, "firing");
	T_EQ_INT(p.alerts[1].nlabels, 0);
	rb_wh_payload_release(&p);
}

void
test_serve_alert__computed_fingerprint(void)
{
	struct rb_wh_payload p = RB_WH_PAYLOAD_INIT;
	struct rb_error err = RB_ERROR_INIT;

	T_EQ_INT(parse(&p, RB_WH_ALERTMANAGER,
		     "{\"alerts\":[{\"labels\":"
		     "{\"name\":\"garland, briggs\",\"fear\":\"love is not "
		     "enough\"},"
		     "\"fingerprint\":\"\"}]}",
		     &err),
	    0);
	T_EQ_STR(p.alerts[0].fingerprint, "507a62d79ee76c9a");
	T_EQ_STR(p.alerts[0].status, "firing");
	rb_wh_payload_release(&p);
}

void
test_serve_alert__grafana(void)
{
	struct rb_wh_payload p = RB_WH_PAYLOAD_INIT;
	struct rb_error err = RB_ERROR_INIT;

	T_EQ_INT(
	    parse(&p, RB_WH_GRAFANA,
		"{\"receiver\":\"rb\",\"status\":"
		"\"firing\",\"orgId\":1,\"alerts\":[{\"status\":\"firing\","
		"\"labels\":{\"alertname\":\"HighCPU\",\"grafana_folder\":"
		"\"ops\"},"
		"\"annotations\":{},\"startsAt\":\"2024-05-01T10:00:00Z\","
		"\"values\":{\"B\":97.5},\"fingerprint\":\"2f5b8a6d9c1e4f70\","
		"\"silenceURL\":\"http://g/s\",\"dashboardURL\":\"\"}],"
		"\"groupKey\":\"{}:{}\",\"title\":\"[FIRING:1]\",\"state\":"
		"\"alerting\",\"message\":\"m\",\"version\":\"1\","
		"\"truncatedAlerts\":0}",
		&err),
	    0);
	T_EQ_INT(p.nalerts, 1);
	T_EQ_STR(p.alerts[0].fingerprint, "2f5b8a6d9c1e4f70");
	rb_wh_payload_release(&p);
	T_EQ_INT(
	    parse(&p, RB_WH_GRAFANA, "{\"version\":\"2\",\"alerts\":[]}", &err),
	    RB_EINVAL);
	T_CONTAINS(err.msg, "version");
	T_EQ_INT(
	    parse(&p, RB_WH_GRAFANA, "{\"version\":1,\"alerts\":[]}", &err),
	    RB_EINVAL);
}

void
test_serve_alert__generic(void)
{
	struct rb_wh_payload p = RB_WH_PAYLOAD_INIT;
	struct rb_error err = RB_ERROR_INIT;
	char fp[RB_WH_FINGERPRINT_SIZE];

	T_EQ_INT(
	    parse(&p, RB_WH_GENERIC,
		"{\"host\":\"web1\",\"n\":3,"
		"\"deep\":{\"x\":\"y\"},\"ok\":true,\"status\":\"resolved\","
		"\"startsAt\":\"t0\",\"odd\":\"$(id); `x` '\\\"\\n\"}",
		&err),
	    0);
	T_EQ_INT(p.nalerts, 1);
	T_EQ_INT(p.alerts[0].nlabels, 4);
	T_EQ_STR(p.alerts[0].labels[0].key, "host");
	T_EQ_STR(p.alerts[0].labels[1].key, "odd");
	T_EQ_STR(p.alerts[0].labels[1].value, "$(id); `x` '\"\n");
	T_EQ_STR(p.alerts[0].status, "resolved");
	T_EQ_STR(p.alerts[0].starts_at, "t0");
	rb_wh_fingerprint(fp, p.alerts[0].labels, p.alerts[0].nlabels);
	T_EQ_STR(p.alerts[0].fingerprint, fp);
	rb_wh_payload_release(&p);

	T_EQ_INT(parse(&p, RB_WH_GENERIC, "{}", &err), 0);
	T_EQ_STR(p.alerts[0].status, "firing");
	T_EQ_STR(p.alerts[0].fingerprint, "cbf29ce484222325");
	rb_wh_payload_release(&p);
	T_EQ_INT(parse(&p, RB_WH_GENERIC, "[1]", &err), RB_EINVAL);
	T_EQ_INT(parse(&p, RB_WH_GENERIC, "\"x\"", &err), RB_EINVAL);
}

void
test_serve_alert__malformed(void)
{
	static const char *const bad[] = {
		"",
		"{",
		"nul",
		"[]",
		"{\"alerts\":{}}",
		"{\"x\":1}",
		"{\"alerts\":[1]}",
		"{\"alerts\":[{\"labels\":{\"a\":1}}]}",
		"{\"alerts\":[{\"labels\":[]}]}",
		"{\"alerts\":[{\"annotations\":{\"a\":{}}}]}",
		"{\"alerts\":[{\"status\":\"pending\"}]}",
		"{\"alerts\":[{\"status\":1}]}",
		"{\"alerts\":[{\"fingerprint\":7}]}",
		"{\"alerts\":[{\"startsAt\":[]}]}",
		"{\"status\":\"weird\",\"alerts\":[]}",
		"{\"version\":\"4\",\"version\":\"5\",\"alerts\":[]}",
		"{\"alerts\":[{\"labels\":{\"a\":\"1\",\"a\":\"2\"}}]}",
		"{\"alerts\":[{\"labels\":{\"a\":\"\\u0000\"}}]}",
		"{\"alerts\":[]} trailing",
		"{\"alerts\":[{\"labels\":{\"a\":\"\xff\xfe\"}}]}",
	};
	struct rb_wh_payload p = RB_WH_PAYLOAD_INIT;
	struct rb_error err = RB_ERROR_INIT;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rb_error_clear(&err);
		if (parse(&p, RB_WH_ALERTMANAGER, bad[i], &err) != RB_EINVAL) {
			rb_test_fail(
			    __FILE__, __LINE__, "accepted: %s", bad[i]);
			rb_wh_payload_release(&p);
			return;
		}
		T_ASSERT(err.msg[0] != '\0');
		T_EQ_INT(p.nalerts, 0);
	}
	T_EQ_INT(parse(&p, RB_WH_ALERTMANAGER, bad[15], &err), RB_EINVAL);
	T_CONTAINS(err.msg, "duplicate");
	/* A NUL inside the body (not in a string) is malformed too. */
	T_EQ_INT(rb_wh_payload_parse(
		     &p, RB_WH_ALERTMANAGER, "{\"alerts\":[]}\0", 14, &err),
	    RB_EINVAL);
}

void
test_serve_alert__depth(void)
{
	struct rb_wh_payload p = RB_WH_PAYLOAD_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_buf b = RB_BUF_INIT;
	size_t i;

	T_EQ_INT(rb_wh_json_depth_check("[[[]]]", 6, 3), 0);
	T_EQ_INT(rb_wh_json_depth_check("[[[[]]]]", 8, 3), RB_ETOOBIG);
	/* Brackets in strings, with escaped quotes, do not count. */
	T_EQ_INT(
	    rb_wh_json_depth_check("[\"[[[[\\\"[[[\",{\"{{{\":1}]", 24, 2), 0);
	/* Closing more than was opened does not underflow. */
	T_EQ_INT(rb_wh_json_depth_check("]]]][[", 6, 2), 0);

	for (i = 0; i < 100000; i++)
		rb_buf_addch(&b, '[');
	for (i = 0; i < 100000; i++)
		rb_buf_addch(&b, ']');
	T_EQ_INT(rb_wh_payload_parse(&p, RB_WH_GENERIC, b.buf, b.len, &err),
	    RB_ETOOBIG);
	T_CONTAINS(err.msg, "nests");
	rb_buf_reset(&b);
	rb_buf_adds(&b, "{\"alerts\":[],\"x\":");
	for (i = 0; i < RB_WH_MAX_DEPTH - 1; i++)
		rb_buf_addch(&b, '[');
	for (i = 0; i < RB_WH_MAX_DEPTH - 1; i++)
		rb_buf_addch(&b, ']');
	rb_buf_addch(&b, '}');
	T_EQ_INT(
	    rb_wh_payload_parse(&p, RB_WH_ALERTMANAGER, b.buf, b.len, &err), 0);
	rb_wh_payload_release(&p);
	rb_buf_release(&b);
}

void
test_serve_alert__alert_json(void)
{
	struct rb_wh_payload p = RB_WH_PAYLOAD_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_buf b = RB_BUF_INIT;

	T_EQ_INT(parse(&p, RB_WH_ALERTMANAGER,
		     "{\"alerts\":[{\"labels\":"
		     "{\"z\":\"1\",\"a\":\"\\u00e9\\\"\"},\"annotations\":{"
		     "\"s\":\"x\"},"
		     "\"startsAt\":\"t\",\"fingerprint\":\"f\"}]}",
		     &err),
	    0);
	T_EQ_INT(
	    rb_wh_alert_json(&b, &p.alerts[0].view, RB_WH_ALERTMANAGER), 0);
	T_EQ_STR(b.buf,
	    "{\"annotations\":{\"s\":\"x\"},\"fingerprint\":\"f\","
	    "\"kind\":\"alertmanager\",\"labels\":{\"a\":\"\xc3\xa9\\\"\","
	    "\"z\":\"1\"},\"starts_at\":\"t\",\"status\":\"firing\"}");
	T_EQ_STR(rb_wh_kind_name(RB_WH_GENERIC), "generic");
	rb_buf_release(&b);
	rb_wh_payload_release(&p);
}
