/*
 * journal_bench.c - what a step boundary costs in the journal.
 *
 * A step boundary is "step N finished, step N+1 started". The engine can
 * write it as separate commits (each journal call commits on its own) or
 * as one (rb_store_begin ... rb_store_commit), with or without the two
 * audit records that go with it. The floor is one raw prepared SQLite
 * INSERT per commit. Every mode runs on a fresh state.db with WAL and
 * synchronous=FULL.
 *
 * Usage: journal-bench [-n boundaries] [-r repeats] [-d dir]
 * (dir defaults to $JOURNAL_DIR, then $TMPDIR, then /tmp).
 * With BENCH_FORMAT=tsv the table goes to stderr and stdout carries
 * result lines "journal.boundary_p50<TAB>MODE<TAB>us<TAB>us" for
 * tests/bench/run-all (MODE: raw, auto, batch, auto-audit, batch-audit).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "runbook/audit.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/journal.h"
#include "runbook/store.h"
#include "runbook/util.h"

enum mode {
	M_RAW,			/* one raw INSERT per commit */
	M_AUTO,			/* finished + started, 2 commits */
	M_BATCH,		/* finished + started, 1 commit */
	M_AUTO_AUDIT,		/* + 2 audit records, 4 commits */
	M_BATCH_AUDIT,		/* + 2 audit records, 1 commit */
	M_NMODES
};

static const char *const mode_names[] = {
	"raw sqlite INSERT, 1 row/commit (floor)",
	"journal, autocommit (2 commits)",
	"journal, batched (1 commit)",
	"journal+audit, autocommit (4 commits)",
	"journal+audit, batched (1 commit)",
};

/* The modes' names in result lines. */
static const char *const mode_keys[] = {
	"raw", "auto", "batch", "auto-audit", "batch-audit",
};

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile p (0..100) of sorted v[n]. */
static int64_t
pct(const int64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return v[i < n ? i : n - 1];
}

static void
die(const char *what, const char *msg)
{
	fprintf(stderr, "journal-bench: %s: %s\n", what, msg);
	exit(1);
}

/* The floor: a 7-column row like the baseline's, one per commit. */
static void
run_raw(int64_t *us, size_t n, const char *dir)
{
	char *path;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	size_t i;

	path = xstrfmt("%s/raw.db", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	    "CREATE TABLE step_journal (run_id TEXT, step_id TEXT, attempt "
	    "INTEGER, status TEXT, exit_code INTEGER, started_ms INTEGER, "
	    "finished_ms INTEGER)", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO step_journal VALUES (?, ?, ?,"
	    " ?, ?, ?, ?)", -1, &s, NULL) != SQLITE_OK)
		die("raw", sqlite3_errmsg(db));
	for (i = 0; i < n; i++) {
		int64_t t0 = rb_now_us();

		sqlite3_bind_text(s, 1, "20261123T190012Z-3fa9c2d1", -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(s, 2, "step", -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 3, 1);
		sqlite3_bind_text(s, 4, "succeeded", -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 5, 0);
		sqlite3_bind_int64(s, 6, rb_wall_ms());
		sqlite3_bind_int64(s, 7, rb_wall_ms());
		if (sqlite3_step(s) != SQLITE_DONE)
			die("raw insert", sqlite3_errmsg(db));
		sqlite3_reset(s);
		us[i] = rb_now_us() - t0;
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	free(path);
}

static void
check(struct rb_store *st, int r, const char *what)
{
	if (r != 0)
		die(what, rb_store_error(st)->msg);
}

/* One engine-shaped boundary after another, timing each. */
static void
run_journal(int64_t *us, size_t n, const char *dir, enum mode m)
{
	static const char out[] = "PostgreSQL is accepting connections\n";
	struct rb_error err = RB_ERROR_INIT;
	struct rb_journal_run run = RB_JOURNAL_RUN_INIT;
	struct rb_journal_attempt a = RB_JOURNAL_ATTEMPT_INIT;
	struct rb_store *st = NULL;
	char id[RB_JOURNAL_ID_SIZE], step[32], details[128];
	bool batch = m == M_BATCH || m == M_BATCH_AUDIT;
	bool audit = m == M_AUTO_AUDIT || m == M_BATCH_AUDIT;
	size_t i;

	if (rb_store_open(&st, dir, &err) != 0)
		die("open", err.msg);
	run.runbook = "bench";
	run.params = "{\"db_host\":\"db1\"}";
	check(st, rb_journal_run_create(id, st, &run), "create run");
	a.run_id = id;
	a.step_id = "step-0";
	a.command = "pg_isready -h 'db1' -p '5432'";
	check(st, rb_journal_step_started(&a.attempt, st, &a), "start");
	for (i = 0; i < n; i++) {
		int64_t t0 = rb_now_us();

		if (batch)
			check(st, rb_store_begin(st), "begin");
		a.status = "succeeded";
		a.exit_code = 0;
		a.stdout_tail = out;
		a.stdout_len = sizeof(out) - 1;
		a.stdout_total = sizeof(out) - 1;
		check(st, rb_journal_step_finished(st, &a), "finish");
		if (audit) {
			snprintf(details, sizeof(details), "{\"step\":\"%s\","
			    "\"attempt\":1,\"exit\":0,"
			    "\"status\":\"succeeded\"}", a.step_id);
			check(st, rb_audit_append(NULL, st, "step.finished",
			    "bench@host", id, details), "audit");
		}
		snprintf(step, sizeof(step), "step-%zu", i + 1);
		a = (struct rb_journal_attempt)RB_JOURNAL_ATTEMPT_INIT;
		a.run_id = id;
		a.step_id = step;
		a.command = "pg_isready -h 'db1' -p '5432'";
		check(st, rb_journal_step_started(&a.attempt, st, &a),
		    "start");
		if (audit) {
			snprintf(details, sizeof(details), "{\"step\":\"%s\","
			    "\"attempt\":1}", step);
			check(st, rb_audit_append(NULL, st, "step.started",
			    "bench@host", id, details), "audit");
		}
		if (batch)
			check(st, rb_store_commit(st), "commit");
		us[i] = rb_now_us() - t0;
	}
	rb_store_free(st);
}

/* Remove what a run left in dir (state.db and its WAL files, raw.db). */
static void
clean(const char *dir)
{
	static const char *const names[] = { "state.db", "state.db-wal",
		"state.db-shm", "raw.db", "raw.db-wal", "raw.db-shm" };
	size_t i;

	for (i = 0; i < RB_ARRAY_SIZE(names); i++) {
		char *p = xstrfmt("%s/%s", dir, names[i]);

		unlink(p);
		free(p);
	}
	rmdir(dir);
}

int
main(int argc, char **argv)
{
	const char *base = getenv("JOURNAL_DIR"), *fmt = getenv("BENCH_FORMAT");
	bool tsv = fmt != NULL && strcmp(fmt, "tsv") == 0;
	FILE *out = tsv ? stderr : stdout;
	int64_t *us, p50[M_NMODES][16], mean[M_NMODES][16];
	int64_t p90[M_NMODES][16], p99[M_NMODES][16];
	size_t n = 500, reps = 3, i, r;
	char *dir;
	int c, m;

	while ((c = getopt(argc, argv, "n:r:d:")) != -1) {
		switch (c) {
		case 'n':
			n = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			reps = strtoul(optarg, NULL, 10);
			break;
		case 'd':
			base = optarg;
			break;
		default:
			fprintf(stderr, "usage: journal-bench [-n N] [-r R] "
			    "[-d DIR]\n");
			return 2;
		}
	}
	if (n < 2 || reps < 1 || reps > 16) {
		fprintf(stderr, "journal-bench: need -n >= 2, 1 <= -r <= 16\n");
		return 2;
	}
	if (base == NULL && (base = getenv("TMPDIR")) == NULL)
		base = "/tmp";
	us = xcalloc(n, sizeof(*us));
	fprintf(out, "journal-bench: %zu step boundaries x %zu runs per mode, "
	    "WAL + synchronous=FULL, in %s\n\n", n, reps, base);
	for (r = 0; r < reps; r++) {
		for (m = 0; m < M_NMODES; m++) {
			int64_t sum = 0;

			dir = xstrfmt("%s/journal-bench-XXXXXX", base);
			if (mkdtemp(dir) == NULL)
				die("mkdtemp", strerror(errno));
			if (m == M_RAW)
				run_raw(us, n, dir);
			else
				run_journal(us, n, dir, (enum mode)m);
			clean(dir);
			free(dir);
			for (i = 0; i < n; i++)
				sum += us[i];
			qsort(us, n, sizeof(*us), cmp_i64);
			p50[m][r] = pct(us, n, 50);
			p90[m][r] = pct(us, n, 90);
			p99[m][r] = pct(us, n, 99);
			mean[m][r] = sum / (int64_t)n;
		}
	}
	fprintf(out, "| mode | p50 | p90 | p99 | mean | vs floor (p50) |\n");
	fprintf(out, "|---|---|---|---|---|---|\n");
	for (m = 0; m < M_NMODES; m++) {
		int64_t a = 0, b = 0, d = 0, e = 0, floor;

		/* Median over the repeats of each statistic. */
		qsort(p50[m], reps, sizeof(int64_t), cmp_i64);
		qsort(p90[m], reps, sizeof(int64_t), cmp_i64);
		qsort(p99[m], reps, sizeof(int64_t), cmp_i64);
		qsort(mean[m], reps, sizeof(int64_t), cmp_i64);
		a = p50[m][reps / 2];
		b = p90[m][reps / 2];
		d = p99[m][reps / 2];
		e = mean[m][reps / 2];
		floor = p50[M_RAW][reps / 2];
		fprintf(out, "| %s | %lld us | %lld us | %lld us | %lld us "
		    "| %.2fx |\n",
		    mode_names[m], (long long)a, (long long)b, (long long)d,
		    (long long)e, floor > 0 ? (double)a / (double)floor : 0.0);
		if (tsv)
			printf("journal.boundary_p50\t%s\t%lld\tus\n"
			    "journal.boundary_p99\t%s\t%lld\tus\n",
			    mode_keys[m], (long long)a, mode_keys[m],
			    (long long)d);
	}
	free(us);
	return 0;
}
