/*
 * notify.c - POST a JSON message to a chat webhook (Slack and the many
 * services that accept Slack's {"text": ...}), through the HTTP client of
 * probe_http.c, so a slow webhook never holds up the run.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runbook/probe.h"
#include "runbook/banned.h"

/*
 * Length of the valid UTF-8 sequence at s (of n bytes), or 0 when it is
 * not one (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF).
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int
rb_notify_body_slack(struct rb_buf *out, const char *text)
{
	static const char fffd[] = "\xef\xbf\xbd";
	struct rb_buf clean = RB_BUF_INIT;
	const unsigned char *s = (const unsigned char *)text;
	size_t n = strlen(text), oldlen = out->len;
	int r;

	while (n > 0) {
		size_t len = utf8_len(s, n);

		if (len == 0) {
			rb_buf_add(&clean, fffd, 3);
			len = 1;
		} else {
			rb_buf_add(&clean, s, len);
		}
		s += len;
		n -= len;
	}
	if ((r = rb_buf_adds(out, "{\"text\":")) != 0 ||
	    (r = rb_buf_add_json_str(out, clean.buf, clean.len)) != 0 ||
	    (r = rb_buf_addch(out, '}')) != 0)
		rb_buf_setlen(out, oldlen);
	rb_buf_release(&clean);
	return r;
}

/* Whether headers set name ("Name:" or "Name;", any case). */
static bool
has_header(const struct rb_strvec *h, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; h != NULL && i < h->nr; i++)
		if (strncasecmp(h->v[i], name, n) == 0 &&
		    (h->v[i][n] == ':' || h->v[i][n] == ';'))
			return true;
	return false;
}

int
rb_notify_send(struct rb_http_xfer **out, struct rb_http *http,
    const struct rb_notify *n, struct rb_error *err)
{
	struct rb_http_request req = RB_HTTP_REQUEST_INIT;
	struct rb_strvec headers = RB_STRVEC_INIT;
	struct rb_buf body = RB_BUF_INIT;
	size_t i;
	int r = RB_ERROR;

	if (n->url == NULL || *n->url == '\0') {
		r = rb_error_set(err, RB_EINVAL, "notification without a URL");
		goto out;
	}
	if (n->body == NULL && n->text == NULL) {
		r = rb_error_set(
		    err, RB_EINVAL, "notification without text or body");
		goto out;
	}
	if (n->body != NULL)
		rb_buf_adds(&body, n->body);
	else if ((r = rb_notify_body_slack(&body, n->text)) != 0)
		goto out;
	for (i = 0; n->headers != NULL && i < n->headers->nr; i++)
		rb_strvec_push(&headers, n->headers->v[i]);
	if (!has_header(n->headers, "Content-Type"))
		rb_strvec_push(&headers, "Content-Type: application/json");

	req.url = n->url;
	req.method = "POST";
	req.headers = &headers;
	req.body = body.buf;
	req.body_len = body.len;
	req.timeout_ms =
	    n->timeout_ms > 0 ? n->timeout_ms : RB_NOTIFY_TIMEOUT_MS;
	req.insecure = n->insecure;
	req.require_2xx = true;
	req.redact_path = true;
	req.max_redirects = 0;
	req.on_done = n->on_done;
	req.payload = n->payload;
	r = rb_http_start(out, http, &req, err);
out:
	rb_strvec_release(&headers);
	rb_buf_release(&body);
	return r;
}
