/*
 * fuzz_duration.c - libFuzzer target for durations (`timeout`, `sleep`,
 * `dedup`): rb_duration_parse(), the schema pass's parse_duration() on a
 * scalar node, and rb_duration_format(). The input is the scalar's text,
 * NUL bytes and all.
 *
 * Invariants: no crash, no leak, and
 *  - rb_duration_parse() accepts exactly what an independent reference
 *    parser accepts (digits then ms, s, m, h or d, repeated; the total at
 *    most INT64_MAX ms) and gives the same value;
 *  - parse_duration() on the scalar, quoted or not, succeeds exactly when
 *    the text has no NUL and rb_duration_parse() accepts it, with the same
 *    value; otherwise it reports one error naming the key, and a hint only
 *    for a bare whole number, whose suggested '<n>s' and '<n>m' are
 *    themselves valid durations; every formatted line is a diagnostic
 *    (a stray newline or carriage return would forge one);
 *  - a parsed value (and a value taken from the input bytes) formats to
 *    canonical text: "0s" for 0, else units in the order d h m s ms, each
 *    at most once, none zero, each below the next larger unit; that text
 *    parses back to the same value;
 *  - formatting into any shorter buffer stays inside it, NUL-terminates
 *    and gives a prefix of the full text.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/buf.h"
#include "runbook/diag.h"
#include "runbook/node.h"
#include "runbook/util.h"
#include "parse/parse_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FMT_MAX 64

/* The reference: 0 and *out, or -1. */
static int
ref_parse(int64_t *out, const char *s)
{
	uint64_t total = 0;

	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		uint64_t n = 0, unit;
		bool big = false;

		if (*s < '0' || *s > '9')
			return -1;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (n > (UINT64_MAX - 9) / 10)
				big = true;
			else
				n = n * 10 + (uint64_t)(*s - '0');
		}
		if (s[0] == 'm' && s[1] == 's') {
			unit = 1;
			s += 2;
		} else if (*s == 's' || *s == 'm' || *s == 'h' || *s == 'd') {
			unit = *s == 's' ? 1000 : *s == 'm' ? 60000 :
			    *s == 'h' ? 3600000 : 86400000;
			s++;
		} else
			return -1;
		if (big || n > (uint64_t)INT64_MAX / unit)
			return -1;
		total += n * unit;
		if (total > (uint64_t)INT64_MAX)
			return -1;
	}
	*out = (int64_t)total;
	return 0;
}

/* Check that text is the canonical form of ms. */
static void
check_canonical(const char *text, int64_t ms)
{
	static const struct {
		const char *name;
		int64_t unit, below;
	} units[] = { { "d", 86400000, 0 }, { "h", 3600000, 24 },
		{ "m", 60000, 60 }, { "s", 1000, 60 }, { "ms", 1, 1000 } };
	const char *p = text;
	size_t next = 0, i;
	int64_t back = -1;

	if (ms <= 0) {
		if (strcmp(text, "0s") != 0)
			abort();
		return;
	}
	while (*p != '\0') {
		int64_t n = 0;

		if (*p < '1' || *p > '9')
			abort();	/* no leading zero, no zero part */
		for (; *p >= '0' && *p <= '9'; p++)
			n = n * 10 + (*p - '0');
		for (i = next; i < sizeof(units) / sizeof(units[0]); i++)
			if (strncmp(p, units[i].name, strlen(units[i].name)) ==
			    0 && (i != 2 || p[1] != 's'))
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			abort();	/* unknown, repeated or out of order */
		if (units[i].below != 0 && n >= units[i].below)
			abort();
		p += strlen(units[i].name);
		next = i + 1;
	}
	if (rb_duration_parse(&back, text) != 0 || back != ms)
		abort();
}

static void
check_format(int64_t ms)
{
	char full[FMT_MAX];
	size_t len, sz;

	memset(full, 'x', sizeof(full));
	rb_duration_format(full, sizeof(full), ms);
	len = strlen(full);
	check_canonical(full, ms);
	/* Each shorter buffer gets a NUL-terminated prefix, in bounds. */
	for (sz = 1; sz <= len; sz++) {
		char *small = malloc(sz);

		memset(small, 'x', sz);
		rb_duration_format(small, sz, ms);
		if (strlen(small) != sz - 1 ||
		    strncmp(small, full, sz - 1) != 0)
			abort();
		free(small);
	}
	rb_duration_format(NULL, 0, ms);
}

/* Every line of the formatted diagnostics is "fuzz.yaml:..." */
static void
check_lines(const struct rb_diags *d)
{
	struct rb_buf out = RB_BUF_INIT;
	const char *p;

	rb_diags_format(&out, d);
	for (p = out.buf; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, "fuzz.yaml:", 10) != 0 ||
		    memchr(p, '\r', nl != NULL ? (size_t)(nl - p) : strlen(p)))
			abort();
		p = nl != NULL ? nl + 1 : NULL;
	}
	rb_buf_release(&out);
}

/* A suggested "'<n>s' for seconds" must be a duration. */
static void
check_hint_suggests(const char *hint)
{
	const char *q;

	for (q = strchr(hint, '\''); q != NULL; q = strchr(q + 1, '\'')) {
		const char *close = strchr(q + 1, '\'');
		char *s;
		int64_t v;

		if (close == NULL)
			abort();
		s = strndup(q + 1, (size_t)(close - q - 1));
		if (rb_duration_parse(&v, s) != 0)
			abort();
		free(s);
		q = close;
	}
}

static void
check_node(const char *text, size_t size, bool quoted, int parsed, int64_t ms)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_node n;
	int64_t got = -7;
	long long whole;
	int r;

	memset(&n, 0, sizeof(n));
	n.kind = RB_NODE_SCALAR;
	n.loc.file = "fuzz.yaml";
	n.loc.line = 3;
	n.loc.col = 14;
	n.text_loc = n.loc;
	n.str = (char *)(uintptr_t)text;
	n.len = size;
	n.quoted = quoted;
	r = parse_duration(&d, &n, "timeout", &got);
	if (memchr(text, '\0', size) == NULL && parsed == 0) {
		if (r != 0 || got != ms || d.nr != 0)
			abort();
		goto out;
	}
	if (r != -1 || d.nerrors != 1 || d.nr != 1 || d.v[0].msg == NULL ||
	    strstr(d.v[0].msg, "'timeout'") == NULL)
		abort();
	if (d.v[0].hint != NULL) {
		/* Only for a bare number, such as "30". */
		if (memchr(text, '\0', size) != NULL || rb_node_is_null(&n) ||
		    rb_parse_int(&whole, text, 0, 1000000000) != 0)
			abort();
		check_hint_suggests(d.v[0].hint);
	}
	check_lines(&d);
out:
	rb_diags_release(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	int64_t ms = -1, ref = -1, raw = 0;
	int r, rr;
	size_t i;

	/* A NUL-terminated copy: the parser wants a C string. */
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	r = rb_duration_parse(&ms, text);
	rr = ref_parse(&ref, text);
	if ((r == 0) != (rr == 0) || (r != 0 && r != RB_EINVAL))
		abort();
	if (r == 0) {
		if (ms != ref || ms < 0)
			abort();
		check_format(ms);
	} else if (ms != -1)
		abort();	/* left alone on failure */

	check_node(text, size, false, r, ms);
	check_node(text, size, true, r, ms);

	/* Any int64 from the first eight bytes formats canonically. */
	for (i = 0; i < 8 && i < size; i++)
		raw = (int64_t)((uint64_t)raw << 8 | data[i]);
	check_format(raw);
	check_format(raw & 0xffffffffffLL);

	free(text);
	return 0;
}
