/*
 * cmd_audit.c - `runbook audit verify|export|head`: check the hash chain of
 * the audit log, export it as JSON Lines, or print its head so it can be
 * kept somewhere else.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "runbook/audit.h"
#include "runbook/store.h"
#include "runbook/banned.h"

/* Parse --since: ms since the epoch, RFC 3339 (UTC), or a duration ago. */
static int
parse_since(int64_t *out, const char *s)
{
	struct tm tm;
	const char *end;
	long long n;
	int64_t d;

	if (rb_parse_int(&n, s, 0, INT64_MAX) == 0) {
		*out = n;
		return 0;
	}
	if (rb_duration_parse(&d, s) == 0) {
		*out = rb_wall_ms() - d;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL &&
	    (end = strptime(s, "%Y-%m-%d", &tm)) == NULL)
		return RB_EINVAL;
	*out = (int64_t)timegm(&tm) * 1000;
	return 0;
}

int
cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "head", required_argument, NULL, 'H' },
		{ "since", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'f' },
		{ "state", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct rb_store *st = NULL;
	struct rb_buf out = RB_BUF_INIT;
	const char *state = NULL, *head = NULL, *verb;
	int64_t since = 0;
	int c, ex = RB_EXIT_USAGE;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0))
		return cli_help_exit("audit");
	if (argc < 2) {
		cli_usage(stderr, "audit");
		return RB_EXIT_USAGE;
	}
	verb = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "H:s:f:S:h", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			head = optarg;
			break;
		case 's':
			if (parse_since(&since, optarg) != 0) {
				cli_error("bad --since '%s'", optarg);
				cli_hint("use a time like 2026-11-23T19:00:00 "
				    "(UTC) or a duration like 2h (ago)");
				return RB_EXIT_USAGE;
			}
			break;
		case 'f':
			if (strcmp(optarg, "jsonl") != 0) {
				cli_error("unknown export format '%s'", optarg);
				cli_hint("use --format jsonl");
				return RB_EXIT_USAGE;
			}
			break;
		case 'S':
			state = optarg;
			break;
		case 'h':
			return cli_help_exit("audit");
		default:
			cli_usage(stderr, "audit");
			return RB_EXIT_USAGE;
		}
	}
	if (optind != argc || (strcmp(verb, "verify") != 0 &&
	    strcmp(verb, "export") != 0 && strcmp(verb, "head") != 0)) {
		cli_usage(stderr, "audit");
		return RB_EXIT_USAGE;
	}
	if ((ex = cli_open_store(&st, state)) != 0)
		return ex;
	ex = RB_EXIT_FAILED;
	if (strcmp(verb, "head") == 0) {
		struct rb_audit_head h;

		if (rb_audit_head(&h, st) != 0) {
			cli_print_error(rb_store_error(st));
			goto out;
		}
		printf("%lld %s\n", (long long)h.seq, h.hash);
	} else if (strcmp(verb, "export") == 0) {
		if (rb_audit_export_jsonl(&out, st, since) != 0) {
			cli_print_error(rb_store_error(st));
			goto out;
		}
		fwrite(out.buf, 1, out.len, stdout);
	} else {
		struct rb_audit_verdict v;

		if (rb_audit_verify(&v, st, head) != 0) {
			cli_print_error(rb_store_error(st));
			ex = head != NULL ? RB_EXIT_USAGE : RB_EXIT_FAILED;
			goto out;
		}
		if (v.problem != RB_AUDIT_OK) {
			cli_error("audit log '%s' fails verification at seq "
			    "%lld: %s (%s)", rb_store_path(st),
			    (long long)v.bad_seq,
			    rb_audit_problem_name(v.problem), v.reason);
			cli_hint("records up to seq %lld check out; treat "
			    "everything after as untrusted",
			    (long long)v.head.seq);
			goto out;
		}
		printf("audit log ok: %lld records, head %lld %s\n",
		    (long long)v.nrecords, (long long)v.head.seq, v.head.hash);
	}
	ex = RB_EXIT_OK;
out:
	rb_buf_release(&out);
	rb_store_free(st);
	return ex;
}
