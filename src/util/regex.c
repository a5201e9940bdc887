/*
 * regex.c - a thin PCRE2 wrapper: /re/flags parsing, JIT when available, and
 * match/depth/heap limits on every match so that a pathological pattern fails
 * fast with RB_ETOOBIG instead of hanging a run.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "runbook/regex.h"
#include "runbook/banned.h"

/*
 * Limits for every match. The match limit bounds backtracking steps (the
 * ReDoS bound), the depth limit bounds nested backtracking frames, and the
 * heap limit (KiB) bounds the memory the interpreter may use for them.
 */
#define RE_MATCH_LIMIT 100000
#define RE_DEPTH_LIMIT 10000
#define RE_HEAP_LIMIT 20000

/* How much of a pattern is quoted in messages. */
#define RE_QUOTE_MAX 80

struct rb_regex {
	pcre2_code *code;	   /* compiled pattern */
	pcre2_match_context *mctx; /* limits; read-only after compile */
	char *source;		   /* as written, slashes and flags included */
	size_t ngroups;		   /* named groups */
	char **names;		   /* ngroups names, in name-table order */
	uint32_t *numbers;	   /* their group numbers */
	uint32_t ncaptures;	   /* all capture groups */
};

/* Map one /re/flags flag letter onto PCRE2 options; 0 when unknown. */
static uint32_t
flag_option(char c)
{
	switch (c) {
	case 'i':
		return PCRE2_CASELESS;
	case 'm':
		return PCRE2_MULTILINE;
	case 's':
		return PCRE2_DOTALL;
	case 'x':
		return PCRE2_EXTENDED;
	default:
		return 0;
	}
}

/* Load the name table of a compiled pattern into re. */
static void
load_names(struct rb_regex *re)
{
	uint32_t count = 0, entsize = 0, i;
	PCRE2_SPTR table = NULL;

	pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &re->ncaptures);
	if (pcre2_pattern_info(re->code, PCRE2_INFO_NAMECOUNT, &count) != 0 ||
	    count == 0)
		return;
	pcre2_pattern_info(re->code, PCRE2_INFO_NAMEENTRYSIZE, &entsize);
	pcre2_pattern_info(re->code, PCRE2_INFO_NAMETABLE, &table);
	re->names = xcalloc(count, sizeof(*re->names));
	re->numbers = xcalloc(count, sizeof(*re->numbers));
	for (i = 0; i < count; i++) {
		PCRE2_SPTR ent = table + (size_t)i * entsize;

		/* Each entry: a 2-byte big-endian group number, then the name.
		 */
		re->numbers[i] = ((uint32_t)ent[0] << 8) | ent[1];
		re->names[i] = xstrdup((const char *)ent + 2);
	}
	re->ngroups = count;
}

int
rb_regex_compile(struct rb_regex **out, const char *pattern, size_t len,
    bool slashes, size_t *out_offset, struct rb_error *err)
{
	struct rb_regex *re = NULL;
	const char *body = pattern;
	size_t blen = len, skip = 0, i;
	uint32_t opts =
	    PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C;
	PCRE2_SIZE eoff = 0;
	int ecode = 0, r = RB_ERROR;

	if (pattern == NULL) {
		pattern = body = "";
		len = blen = 0;
	}
	if (slashes && len >= 2 && pattern[0] == '/') {
		size_t close = len - 1;

		/* The closing slash is the last one; what follows are flags. */
		while (close > 0 && pattern[close] != '/')
			close--;
		if (close > 0) {
			for (i = close + 1; i < len; i++) {
				if (flag_option(pattern[i]) != 0) {
					opts |= flag_option(pattern[i]);
					continue;
				}
				if (out_offset != NULL)
					*out_offset = i;
				r = rb_error_set(err, RB_EINVAL,
				    "unknown regex flag '%c' in '%.*s' at "
				    "offset %zu",
				    pattern[i], RE_QUOTE_MAX, pattern, i);
				rb_error_hint(err,
				    "a pattern that starts with '/' is read as "
				    "/re/flags with flags i, m, s, x; escape a "
				    "literal leading slash as '\\/'");
				goto out;
			}
			body = pattern + 1;
			blen = close - 1;
			skip = 1;
		}
	}

	re = xcalloc(1, sizeof(*re));
	re->source = xstrndup(pattern, len);
	re->code =
	    pcre2_compile((PCRE2_SPTR)body, blen, opts, &ecode, &eoff, NULL);
	if (re->code == NULL) {
		PCRE2_UCHAR msg[256];

		if (pcre2_get_error_message(ecode, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", ecode);
		if (out_offset != NULL)
			*out_offset = (size_t)eoff + skip;
		r = rb_error_set(err, RB_EINVAL,
		    "invalid regex '%.*s': %s at offset %zu", RE_QUOTE_MAX,
		    re->source, (const char *)msg, (size_t)eoff + skip);
		goto out;
	}
	/* JIT is an optimisation only: without it the interpreter runs. */
	(void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
	re->mctx = pcre2_match_context_create(NULL);
	if (re->mctx == NULL)
		RB_BUG("pcre2_match_context_create: out of memory");
	pcre2_set_match_limit(re->mctx, RE_MATCH_LIMIT);
	pcre2_set_depth_limit(re->mctx, RE_DEPTH_LIMIT);
	pcre2_set_heap_limit(re->mctx, RE_HEAP_LIMIT);
	load_names(re);

	*out = re;
	re = NULL;
	r = 0;
out:
	rb_regex_free(re);
	return r;
}

const char *
rb_regex_source(const struct rb_regex *re)
{
	return re->source;
}

/* Which limit a PCRE2 limit error code stands for, for messages. */
static const char *
limit_name(int rc)
{
	switch (rc) {
	case PCRE2_ERROR_MATCHLIMIT:
		return "backtracking";
	case PCRE2_ERROR_HEAPLIMIT:
		return "memory";
	default:
		return "depth";
	}
}

/*
 * Run one match with the limits. Returns 1 and leaves the match in md, 0 on
 * no match, or RB_ETOOBIG / RB_ERROR with a message in err.
 */
static int
run_match(const struct rb_regex *re, const char *subject, size_t len,
    pcre2_match_data *md, struct rb_error *err)
{
	int rc;

	if (subject == NULL) {
		subject = "";
		len = 0;
	}
	rc =
	    pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, md, re->mctx);
	if (rc >= 0)
		return 1;
	switch (rc) {
	case PCRE2_ERROR_NOMATCH:
		return 0;
	case PCRE2_ERROR_MATCHLIMIT:
	case PCRE2_ERROR_DEPTHLIMIT:
	case PCRE2_ERROR_HEAPLIMIT:
	case PCRE2_ERROR_JIT_STACKLIMIT:
		rb_error_set(err, RB_ETOOBIG,
		    "regex '%.*s' exceeded its %s limit on %zu bytes of input",
		    RE_QUOTE_MAX, re->source, limit_name(rc), len);
		rb_error_hint(err,
		    "simplify the pattern: avoid nested quantifiers such as "
		    "'(a+)+' and anchor it where possible");
		return RB_ETOOBIG;
	default: {
		PCRE2_UCHAR msg[256];

		if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", rc);
		return rb_error_set(err, RB_ERROR, "regex '%.*s' failed: %s",
		    RE_QUOTE_MAX, re->source, (const char *)msg);
	}
	}
}

/* Match data sized for re; dies on out-of-memory like xmalloc. */
static pcre2_match_data *
match_data(const struct rb_regex *re)
{
	pcre2_match_data *md;

	md = pcre2_match_data_create_from_pattern(re->code, NULL);
	if (md == NULL)
		RB_BUG("pcre2_match_data_create: out of memory");
	return md;
}

int
rb_regex_match(const struct rb_regex *re, const char *subject, size_t len,
    struct rb_error *err)
{
	pcre2_match_data *md = match_data(re);
	int r;

	r = run_match(re, subject, len, md, err);
	pcre2_match_data_free(md);
	return r;
}

int
rb_regex_match_groups(const struct rb_regex *re, const char *subject,
    size_t len, rb_regex_group_fn fn, void *payload, struct rb_error *err)
{
	pcre2_match_data *md = match_data(re);
	PCRE2_SIZE *ov;
	uint32_t npairs;
	size_t i;
	int r;

	if ((r = run_match(re, subject, len, md, err)) != 1)
		goto out;
	ov = pcre2_get_ovector_pointer(md);
	npairs = pcre2_get_ovector_count(md);
	for (i = 0; i < re->ngroups; i++) {
		uint32_t n = re->numbers[i];
		int cr;

		if (n >= npairs || ov[2 * n] == PCRE2_UNSET)
			continue;
		if ((cr = fn(re->names[i], subject + ov[2 * n],
			 ov[2 * n + 1] - ov[2 * n], payload)) != 0) {
			r = cr;
			goto out;
		}
	}
	r = 1;
out:
	pcre2_match_data_free(md);
	return r;
}

int
rb_regex_match_span(const struct rb_regex *re, const char *subject, size_t len,
    size_t group, size_t *out_start, size_t *out_len, struct rb_error *err)
{
	pcre2_match_data *md = match_data(re);
	PCRE2_SIZE *ov;
	int r;

	if ((r = run_match(re, subject, len, md, err)) != 1)
		goto out;
	ov = pcre2_get_ovector_pointer(md);
	if (group >= pcre2_get_ovector_count(md) ||
	    ov[2 * group] == PCRE2_UNSET || ov[2 * group + 1] < ov[2 * group]) {
		*out_start = 0;
		*out_len = 0;
		r = 0;
		goto out;
	}
	*out_start = ov[2 * group];
	*out_len = ov[2 * group + 1] - ov[2 * group];
out:
	pcre2_match_data_free(md);
	return r;
}

size_t
rb_regex_ngroups(const struct rb_regex *re)
{
	return re->ngroups;
}

const char *
rb_regex_group_name(const struct rb_regex *re, size_t i)
{
	return i < re->ngroups ? re->names[i] : NULL;
}

size_t
rb_regex_ncaptures(const struct rb_regex *re)
{
	return re->ncaptures;
}

void
rb_regex_free(struct rb_regex *re)
{
	size_t i;

	if (re == NULL)
		return;
	for (i = 0; i < re->ngroups; i++)
		free(re->names[i]);
	free(re->names);
	free(re->numbers);
	pcre2_match_context_free(re->mctx);
	pcre2_code_free(re->code);
	free(re->source);
	free(re);
}
