/*
 * Unit tests for exec/ssh_*.c against a real OpenSSH server: each test
 * starts tests/fixtures/sshd/start-sshd.sh in its own scratch directory
 * (a private sshd on 127.0.0.1 with generated keys) and stops it by PID
 * at the end, also when an assertion failed. The script and its watcher
 * are also checked locally, through /bin/sh -s, without a server.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/evloop.h"
#include "runbook/model.h"
#include "runbook/proc.h"
#include "runbook/ssh.h"
#include "runbook/strvec.h"
#include "runbook/util.h"

void test_exec_ssh__script_local(void);
void test_exec_ssh__script_lifeline_local(void);
void test_exec_ssh__exec_status_and_output(void);
void test_exec_ssh__env_hostile(void);
void test_exec_ssh__workdir(void);
void test_exec_ssh__timeout_kills_remote(void);
void test_exec_ssh__cancel(void);
void test_exec_ssh__fanout(void);
void test_exec_ssh__session_reuse(void);
void test_exec_ssh__reconnect_after_drop(void);
void test_exec_ssh__max_channels(void);
void test_exec_ssh__large_output(void);
void test_exec_ssh__hostkey_unknown_refused(void);
void test_exec_ssh__hostkey_accept_new(void);
void test_exec_ssh__hostkey_changed_refused(void);
void test_exec_ssh__hostkey_hashed_and_port(void);
void test_exec_ssh__auth_rsa_message(void);
void test_exec_ssh__auth_ecdsa(void);
void test_exec_ssh__auth_agent(void);
void test_exec_ssh__default_identity(void);
void test_exec_ssh__unreachable(void);
void test_exec_ssh__pool_free_running(void);

/* ------------------------------------------------------------- helpers */

/* tests/ from this file's path (tests run from the top directory). */
static char *
tests_path(const char *rest)
{
	const char *f = __FILE__;
	const char *cut = strstr(f, "unit/exec/ssh.c");

	return xstrfmt("%.*s%s", cut ? (int)(cut - f) : 0, f, rest);
}

/* Run argv (NULL-terminated) and return its stdout (caller frees), or
 * NULL when it could not run or exited non-zero. */
static char *
run_argv(const char *const *argv, const char *extra_env)
{
	struct rb_proc p = RB_PROC_INIT;
	struct rb_error err = RB_ERROR_INIT;
	char *out = NULL;
	size_t i;

	for (i = 0; argv[i] != NULL; i++)
		rb_strvec_push(&p.args, argv[i]);
	rb_strvec_push(&p.env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	rb_strvec_push(&p.env, "HOME=/nonexistent");
	if (extra_env != NULL)
		rb_strvec_push(&p.env, extra_env);
	p.err = RB_PROC_INHERIT;
	if (rb_proc_run(&p, &err) == 0 && p.result.status == 0)
		out = rb_buf_detach(&p.result.out.head, NULL);
	else if (err.msg[0] != '\0')
		fprintf(stderr, "run %s: %s\n", argv[0], err.msg);
	rb_proc_release(&p);
	return out;
}

/* Run a /bin/sh -c command; stdout or NULL on failure. */
static char *
sh(const char *cmd)
{
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };

	return run_argv(argv, NULL);
}

/* How many lines of path contain needle. */
static int
count_lines(const char *path, const char *needle)
{
	struct rb_buf b = RB_BUF_INIT;
	const char *p;
	int n = 0;

	if (rb_buf_read_file(&b, path, 0) != 0)
		return -1;
	for (p = b.buf; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	rb_buf_release(&b);
	return n;
}

static bool
exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Whether pid is gone (or a zombie nobody reaps). */
static bool
pid_gone(long pid)
{
	char path[64], buf[512];
	FILE *f;
	char *rp;

	if (kill((pid_t)pid, 0) != 0)
		return true;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return true;
	buf[0] = '\0';
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	rp = strrchr(buf, ')');
	return rp != NULL && rp[1] == ' ' && rp[2] == 'Z';
}

/* Wait up to ms for pid to be gone. */
static bool
wait_pid_gone(long pid, int ms)
{
	int64_t end = rb_now_ms() + ms;

	while (!pid_gone(pid)) {
		if (rb_now_ms() > end)
			return false;
		usleep(20000);
	}
	return true;
}

/* The number in a file, or -1. */
static long
read_pid(const char *path)
{
	struct rb_buf b = RB_BUF_INIT;
	long long v = -1;

	if (rb_buf_read_file(&b, path, 64) == 0) {
		rb_buf_rtrim(&b);
		if (rb_parse_int(&v, b.buf, 1, 1 << 30) != 0)
			v = -1;
	}
	rb_buf_release(&b);
	return (long)v;
}

/* ------------------------------------------------------------- fixture */

struct sshd {
	char dir[512];
	int port;
};

/* Start the fixture sshd in <tmpdir>/sshd; false (with a note) if not. */
static bool
sshd_start(struct sshd *d)
{
	char *script = tests_path("fixtures/sshd/start-sshd.sh");
	const char *argv[4];
	char *out;
	long long port = 0;

	memset(d, 0, sizeof(*d));
	if (access("/usr/sbin/sshd", X_OK) != 0) {
		fprintf(stderr,
		    "skip: /usr/sbin/sshd is not installed "
		    "(apt-get install openssh-server)\n");
		free(script);
		return false;
	}
	snprintf(d->dir, sizeof(d->dir), "%s/sshd", rb_test_tmpdir());
	argv[0] = "/bin/sh";
	argv[1] = script;
	argv[2] = d->dir;
	argv[3] = NULL;
	out = run_argv(argv, "SSHD_LOGLEVEL=DEBUG1");
	free(script);
	if (out != NULL)
		out[strcspn(out, "\n")] = '\0';
	if (out == NULL || rb_parse_int(&port, out, 1, 65535) != 0) {
		rb_test_fail(__FILE__, __LINE__,
		    "cannot start the test sshd in %s", d->dir);
		free(out);
		return false;
	}
	free(out);
	d->port = (int)port;
	return true;
}

static void
sshd_stop(struct sshd *d)
{
	char *script = tests_path("fixtures/sshd/stop-sshd.sh");
	const char *argv[] = { "/bin/sh", script, d->dir, NULL };

	free(run_argv(argv, NULL));
	free(script);
}

/* A path in the fixture directory (static buffer, one at a time). */
static const char *
fx(const struct sshd *d, const char *name)
{
	static char buf[4][640];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", d->dir, name);
	return buf[i];
}

/* Connections sshd accepted (one log line per authenticated session). */
static int
sshd_logins(const struct sshd *d)
{
	return count_lines(fx(d, "sshd.log"), "Accepted publickey for");
}

/* ------------------------------------------------------------- hosts */

/* An inventory host of the fixture; free with host_release(). */
static void
host_init(struct rb_host *h, const struct sshd *d, const char *name)
{
	memset(h, 0, sizeof(*h));
	h->name = xstrdup(name);
	h->address = xstrdup("127.0.0.1");
	h->user = NULL; /* $USER or the current user */
	h->port = d->port;
	h->identity = xstrdup(fx(d, "id_ed25519"));
	h->known_hosts = xstrdup(fx(d, "known_hosts"));
}

static void
host_set(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? xstrdup(value) : NULL;
}

static void
host_release(struct rb_host *h)
{
	free(h->name);
	free(h->address);
	free(h->user);
	free(h->identity);
	free(h->known_hosts);
	memset(h, 0, sizeof(*h));
}

/* ------------------------------------------------------------- outcome */

/* What a test keeps from one command's result. */
struct outcome {
	bool done;
	int calls;
	int status, signal;
	bool started, host_error, timed_out, cancelled;
	struct rb_error error;
	char *out, *err;
	uint64_t out_total;
	size_t head_len, tail_len;
	bool truncated;
	int64_t start_ms, exec_ms, end_ms;
	int lines_out, lines_err;
};

static void
outcome_line(struct rb_ssh_exec *x, int stream, const char *line, size_t len,
    void *payload)
{
	struct outcome *o = payload;

	(void)x;
	(void)line;
	(void)len;
	if (stream == RB_PROC_STDOUT)
		o->lines_out++;
	else
		o->lines_err++;
}

static void
outcome_done(struct rb_ssh_exec *x, struct rb_ssh_result *res, void *payload)
{
	struct outcome *o = payload;
	struct rb_buf b = RB_BUF_INIT;

	(void)x;
	if (getenv("RB_SSH_DEBUG") != NULL)
		fprintf(stderr, "  [%s] status %d error %d '%s' hint '%s'\n",
		    res->host, res->status, res->error.code, res->error.msg,
		    res->error.hint);
	o->calls++;
	o->done = true;
	o->status = res->status;
	o->signal = res->signal;
	o->started = res->started;
	o->host_error = res->host_error;
	o->timed_out = res->timed_out;
	o->cancelled = res->cancelled;
	o->error = res->error;
	o->start_ms = res->start_ms;
	o->exec_ms = res->exec_ms;
	o->end_ms = res->end_ms;
	o->out_total = res->out.total;
	o->head_len = res->out.head.len;
	o->tail_len = res->out.tail.len;
	o->truncated = rb_capture_truncated(&res->out);
	(void)rb_capture_join(&b, &res->out);
	o->out = rb_buf_detach(&b, NULL);
	(void)rb_capture_join(&b, &res->err);
	o->err = rb_buf_detach(&b, NULL);
}

static void
outcome_release(struct outcome *o)
{
	free(o->out);
	free(o->err);
	memset(o, 0, sizeof(*o));
}

/* Run the loop until every outcome is done or ms pass; false on timeout. */
static bool
wait_all(struct rb_evloop *loop, struct outcome *o, size_t n, int ms)
{
	int64_t end = rb_now_ms() + ms;
	size_t i;

	for (;;) {
		for (i = 0; i < n && o[i].done; i++)
			;
		if (i == n)
			return true;
		if (rb_now_ms() > end)
			return false;
		rb_evloop_run_once(loop, 100);
	}
}

/* Start command on host with an outcome as payload; 0 or the error. */
static int
start(struct rb_ssh_pool *pool, const struct rb_host *host, const char *command,
    struct outcome *o)
{
	struct rb_ssh_cmd c = RB_SSH_CMD_INIT;
	struct rb_error err = RB_ERROR_INIT;
	int r;

	c.command = command;
	c.on_done = outcome_done;
	c.on_line = outcome_line;
	c.payload = o;
	if ((r = rb_ssh_exec_start(NULL, pool, host, &c, &err)) != 0)
		fprintf(stderr, "rb_ssh_exec_start: %s\n", err.msg);
	return r;
}

/* Host-key decisions seen by a pool. */
struct hk_log {
	int n;
	enum rb_ssh_hostkey_status status[64];
	int line[64];
	char fp[64][80];
	char type[64][32];
	bool trusted[64];
};

static void
hk_record(const struct rb_ssh_hostkey_info *info, void *payload)
{
	struct hk_log *l = payload;

	if (l->n >= 64)
		return;
	l->status[l->n] = info->status;
	l->line[l->n] = info->line;
	l->trusted[l->n] = info->trusted;
	snprintf(l->fp[l->n], sizeof(l->fp[0]), "%s", info->fingerprint);
	snprintf(l->type[l->n], sizeof(l->type[0]), "%s", info->key_type);
	l->n++;
}

/* Options for a test pool: no agent, no real home, short timeouts. */
static void
test_opts(struct rb_ssh_opts *o, struct hk_log *l)
{
	struct rb_ssh_opts d = RB_SSH_OPTS_INIT;

	*o = d;
	o->agent_socket = "";
	o->home = rb_test_tmpdir();
	o->connect_timeout_ms = 5000;
	o->auth_timeout_ms = 5000;
	o->kill_grace_ms = 1000;
	if (l != NULL) {
		memset(l, 0, sizeof(*l));
		o->on_hostkey = hk_record;
		o->payload = l;
	}
}

/* The fixture host key's fingerprint as ssh-keygen prints it. */
static char *
host_fingerprint(const struct sshd *d)
{
	const char *argv[] = { "ssh-keygen", "-lf",
		fx(d, "ssh_host_ed25519_key.pub"), NULL };
	char *out = run_argv(argv, NULL), *sp, *fp;

	if (out == NULL || (sp = strchr(out, ' ')) == NULL) {
		free(out);
		return NULL;
	}
	fp = xstrndup(sp + 1, strcspn(sp + 1, " \n"));
	free(out);
	return fp;
}

/* ----------------------------------------------- script, without sshd */

struct local_run {
	bool done;
	int status;
	char *out;
	int wfd;
};

static void
local_done(struct rb_proc *p, struct rb_proc_result *res, void *payload)
{
	struct local_run *l = payload;

	(void)p;
	l->done = true;
	l->status = res->status;
	l->out = rb_buf_detach(&res->out.head, NULL);
}

static void
close_stdin(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct local_run *l = payload;

	(void)loop;
	(void)id;
	close(l->wfd);
	l->wfd = -1;
}

/*
 * Run script through /bin/sh -s with stdin a pipe held open (as an SSH
 * channel's is); close it after close_after_ms if >= 0.
 */
static int
run_script_local(struct local_run *l, const char *script, int close_after_ms)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_proc p = RB_PROC_INIT;
	struct rb_error err = RB_ERROR_INIT;
	int fds[2], r;
	int64_t end = rb_now_ms() + 20000;

	memset(l, 0, sizeof(*l));
	if (pipe(fds) != 0)
		return -1;
	rb_strvec_push(&p.args, "/bin/sh");
	rb_strvec_push(&p.args, "-s");
	rb_strvec_push(&p.env, "PATH=/usr/bin:/bin");
	p.in = fds[0];
	p.on_done = local_done;
	p.payload = l;
	r = rb_proc_start(&p, loop, &err);
	close(fds[0]);
	if (r == 0) {
		(void)!write(fds[1], script, strlen(script));
		l->wfd = fds[1];
		if (close_after_ms >= 0)
			rb_evloop_add_timer(
			    loop, rb_now_ms() + close_after_ms, close_stdin, l);
		while (!l->done && rb_now_ms() < end)
			rb_evloop_run_once(loop, 100);
	}
	if (l->wfd >= 0)
		close(l->wfd);
	rb_proc_release(&p);
	rb_evloop_free(loop);
	return r;
}

void
test_exec_ssh__script_local(void)
{
	struct rb_strvec env = RB_STRVEC_INIT;
	struct rb_buf s = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct local_run l;
	char *canary = xstrfmt("%s/CANARY", rb_test_tmpdir());
	char *value = xstrfmt("x'; touch %s; echo '$(id)\n`id`\"{{ env.HOME }}"
			      "\\ $HOME %%s",
	    canary);
	char *expect = xstrfmt("%s|%s\n", value, rb_test_tmpdir());

	rb_strvec_setenv(&env, "RUNBOOK_PARAM_X", value);
	T_EQ_INT(rb_ssh_script(&s,
		     "printf '%s|' \"$RUNBOOK_PARAM_X\"; pwd; "
		     "exit 7",
		     &env, rb_test_tmpdir(), 2000, &err),
	    0);
	T_CONTAINS(s.buf, "export RUNBOOK_PARAM_X='x'\\''; touch");
	T_CONTAINS(s.buf, "sleep 2;");
	T_CONTAINS(s.buf,
	    "\neval 'printf '\\''%s|'\\'' \"$RUNBOOK_PARAM_X\"; pwd; "
	    "exit 7'\n");
	T_EQ_INT(run_script_local(&l, s.buf, -1), 0);
	T_ASSERT(l.done);
	T_EQ_INT(l.status, 7);
	T_EQ_STR(l.out, expect);
	T_ASSERT(!exists(canary));
	free(l.out);

	/* Invalid names are refused without echoing values. */
	rb_buf_reset(&s);
	rb_strvec_push(&env, "BAD-NAME=secret");
	T_EQ_INT(rb_ssh_script(&s, "true", &env, NULL, 2000, &err), RB_EINVAL);
	T_CONTAINS(err.msg, "BAD-NAME");
	T_ASSERT(strstr(err.msg, "secret") == NULL);
	T_EQ_INT(s.len, 0);

	/* A missing workdir: exit 1 before anything runs. */
	rb_strvec_release(&env);
	T_EQ_INT(rb_ssh_script(
		     &s, "touch CANARY", NULL, "/nonexistent/dir", 2000, &err),
	    0);
	T_EQ_INT(run_script_local(&l, s.buf, -1), 0);
	T_EQ_INT(l.status, 1);
	free(l.out);
	rb_buf_release(&s);
	free(canary);
	free(value);
	free(expect);
}

void
test_exec_ssh__script_lifeline_local(void)
{
	struct rb_buf s = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct local_run l;
	char *pidfile = xstrfmt("%s/pid", rb_test_tmpdir());
	char *cmd = xstrfmt("echo $$ > %s; exec sleep 30", pidfile);
	int64_t t0;

	T_EQ_INT(rb_ssh_script(&s, cmd, NULL, NULL, 1000, &err), 0);
	t0 = rb_now_ms();
	T_EQ_INT(run_script_local(&l, s.buf, 300), 0);
	T_ASSERT(l.done);
	/* stdin's EOF stopped it (SIGTERM), long before sleep 30 ended. */
	T_EQ_INT(l.status, 128 + SIGTERM);
	T_ASSERT(rb_now_ms() - t0 < 5000);
	T_ASSERT(read_pid(pidfile) > 0);
	T_ASSERT(wait_pid_gone(read_pid(pidfile), 3000));
	free(l.out);

	/* A command that ignores SIGTERM is killed after the grace. */
	free(cmd);
	cmd = xstrfmt("trap '' TERM; echo $$ > %s; sleep 30", pidfile);
	rb_buf_reset(&s);
	T_EQ_INT(rb_ssh_script(&s, cmd, NULL, NULL, 1000, &err), 0);
	t0 = rb_now_ms();
	T_EQ_INT(run_script_local(&l, s.buf, 300), 0);
	T_ASSERT(l.done);
	T_ASSERT(rb_now_ms() - t0 < 6000);
	T_ASSERT(wait_pid_gone(read_pid(pidfile), 3000));
	free(l.out);
	rb_buf_release(&s);
	free(cmd);
	free(pidfile);
}

/* ------------------------------------------------------------- commands */

static void
exec_status_and_output(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_ssh_stats st;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h;
	struct outcome r[4];
	struct hk_log hk;
	char *fp = host_fingerprint(d);

	memset(r, 0, sizeof(r));
	test_opts(&o, &hk);
	host_init(&h, d, "web1");
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	T_EQ_INT(start(pool, &h, "echo out; echo err >&2; exit 7", &r[0]), 0);
	T_EQ_INT(start(pool, &h, "true", &r[1]), 0);
	T_EQ_INT(start(pool, &h, "printf 'a\\nb\\nno-newline'", &r[2]), 0);
	T_EQ_INT(start(pool, &h, "kill -s USR1 $$", &r[3]), 0);
	T_EQ_INT(rb_ssh_pool_pending(pool), 4);
	T_ASSERT(!r[0].done); /* never from inside rb_ssh_exec_start() */
	T_ASSERT(wait_all(loop, r, 4, 20000));
	T_EQ_INT(r[0].calls, 1);
	T_EQ_INT(r[0].status, 7);
	T_EQ_INT(r[0].error.code, 0);
	T_ASSERT(r[0].started && !r[0].host_error && !r[0].timed_out);
	T_EQ_STR(r[0].out, "out\n");
	T_EQ_STR(r[0].err, "err\n");
	T_EQ_INT(r[0].lines_out, 1);
	T_EQ_INT(r[0].lines_err, 1);
	T_ASSERT(r[0].start_ms <= r[0].exec_ms && r[0].exec_ms <= r[0].end_ms);
	T_EQ_INT(r[1].status, 0);
	T_EQ_STR(r[1].out, "");
	T_EQ_STR(r[2].out, "a\nb\nno-newline");
	T_EQ_INT(r[2].lines_out, 3);
	T_EQ_INT(r[3].status, 128 + SIGUSR1);
	T_EQ_INT(rb_ssh_pool_pending(pool), 0);
	rb_ssh_pool_stats(&st, pool);
	T_EQ_INT(st.connects, 1);
	T_EQ_INT(st.commands, 4);
	T_EQ_INT(hk.n, 1);
	T_EQ_INT(hk.status[0], RB_SSH_HOSTKEY_KNOWN);
	T_ASSERT(hk.trusted[0]);
	T_EQ_INT(hk.line[0], 1);
	T_EQ_STR(hk.type[0], "ssh-ed25519");
	T_EQ_STR(hk.fp[0], fp);
	T_EQ_INT(sshd_logins(d), 1);
	/* Never an agent-forwarding, pty or env request; one exec each. */
	T_EQ_INT(count_lines(fx(d, "sshd.log"), "req auth-agent-req"), 0);
	T_EQ_INT(count_lines(fx(d, "sshd.log"), "req pty-req"), 0);
	T_EQ_INT(count_lines(fx(d, "sshd.log"), "req env"), 0);
	T_EQ_INT(count_lines(fx(d, "sshd.log"), "req exec"), 4);
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	host_release(&h);
	for (size_t i = 0; i < 4; i++)
		outcome_release(&r[i]);
	free(fp);
}

void
test_exec_ssh__exec_status_and_output(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	exec_status_and_output(&d);
	sshd_stop(&d);
}

static void
env_hostile(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_ssh_cmd c = RB_SSH_CMD_INIT;
	struct rb_strvec env = RB_STRVEC_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h;
	struct outcome r[2];
	char *canary = xstrfmt("%s/CANARY", rb_test_tmpdir());
	char *value = xstrfmt("x'; touch %s; echo '$(id)\n`touch %s`\"{{ "
			      "env.HOME }}\\ $HOME %%s\t\r\x01\xff end",
	    canary, canary);
	char *big = xmalloc(100001);
	size_t i;

	for (i = 0; i < 100000; i++)
		big[i] = "ab'\"$\\`\n "[i % 9];
	big[100000] = '\0';
	memset(r, 0, sizeof(r));
	test_opts(&o, NULL);
	host_init(&h, d, "db1");
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	rb_strvec_setenv(&env, "RUNBOOK_PARAM_X", value);
	rb_strvec_setenv(&env, "BIG", big);
	c.command = "printf '%s' \"$RUNBOOK_PARAM_X\"";
	c.env = &env;
	c.on_done = outcome_done;
	c.payload = &r[0];
	T_EQ_INT(rb_ssh_exec_start(NULL, pool, &h, &c, &err), 0);
	c.command = "printf '%s' \"$BIG\" | cksum";
	c.payload = &r[1];
	T_EQ_INT(rb_ssh_exec_start(NULL, pool, &h, &c, &err), 0);
	T_ASSERT(wait_all(loop, r, 2, 20000));
	T_EQ_INT(r[0].status, 0);
	T_EQ_INT(r[0].out_total, strlen(value));
	T_EQ_STR(r[0].out, value);
	T_ASSERT(!exists(canary));
	T_EQ_INT(r[1].status, 0);
	{
		char *file = xstrfmt("%s/big", rb_test_tmpdir());
		FILE *f = fopen(file, "w");
		char *cmd, *want;

		T_ASSERT(f != NULL);
		fwrite(big, 1, 100000, f);
		fclose(f);
		cmd = xstrfmt("cksum < '%s'", file);
		want = sh(cmd);
		T_ASSERT(want != NULL);
		T_EQ_STR(r[1].out, want);
		free(want);
		free(cmd);
		free(file);
	}
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	rb_strvec_release(&env);
	host_release(&h);
	outcome_release(&r[0]);
	outcome_release(&r[1]);
	free(canary);
	free(value);
	free(big);
}

void
test_exec_ssh__env_hostile(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	env_hostile(&d);
	sshd_stop(&d);
}

static void
workdir(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_ssh_cmd c = RB_SSH_CMD_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h;
	struct outcome r[3];
	char *expect = xstrfmt("%s\n", rb_test_tmpdir());
	char *marker = xstrfmt("%s/MARKER", rb_test_tmpdir());
	char *cmd = xstrfmt("touch '%s'", marker);
	char *pidfile = xstrfmt("%s/bg.pid", rb_test_tmpdir());
	char *bg =
	    xstrfmt("sleep 30 >/dev/null 2>&1 & echo $! > '%s'", pidfile);

	memset(r, 0, sizeof(r));
	test_opts(&o, NULL);
	host_init(&h, d, "app1");
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	c.command = "pwd";
	c.workdir = rb_test_tmpdir();
	c.on_done = outcome_done;
	c.payload = &r[0];
	T_EQ_INT(rb_ssh_exec_start(NULL, pool, &h, &c, &err), 0);
	c.command = cmd;
	c.workdir = "/nonexistent/dir";
	c.payload = &r[1];
	T_EQ_INT(rb_ssh_exec_start(NULL, pool, &h, &c, &err), 0);
	/* A background leftover is killed when the command's channel
	 * closes, as rb_proc kills a local step's process group. */
	c.command = bg;
	c.workdir = "~";
	c.payload = &r[2];
	T_EQ_INT(rb_ssh_exec_start(NULL, pool, &h, &c, &err), 0);
	T_ASSERT(wait_all(loop, r, 3, 20000));
	T_EQ_INT(r[2].status, 0);
	T_ASSERT(read_pid(pidfile) > 0);
	T_ASSERT(wait_pid_gone(read_pid(pidfile), 3000));
	T_EQ_INT(r[0].status, 0);
	T_EQ_STR(r[0].out, expect);
	T_EQ_INT(r[1].status, 1);
	T_CONTAINS(r[1].err, "/nonexistent/dir");
	T_ASSERT(!exists(marker));
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	host_release(&h);
	outcome_release(&r[0]);
	outcome_release(&r[1]);
	outcome_release(&r[2]);
	free(expect);
	free(marker);
	free(cmd);
	free(pidfile);
	free(bg);
}

void
test_exec_ssh__workdir(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	workdir(&d);
	sshd_stop(&d);
}

/*
 * Open h's session with a `true` first, so that a timing-sensitive command
 * after it measures the command, not the connection (slow under ASan or
 * on a loaded machine).
 */
static void
warm_up(struct rb_evloop *loop, struct rb_ssh_pool *pool,
    const struct rb_host *h)
{
	struct rb_ssh_cmd c = RB_SSH_CMD_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct outcome w;

	memset(&w, 0, sizeof(w));
	c.command = "true";
	c.on_done = outcome_done;
	c.payload = &w;
	T_EQ_INT(rb_ssh_exec_start(NULL, pool, h, &c, &err), 0);
	T_ASSERT(wait_all(loop, &w, 1, 20000));
	T_EQ_INT(w.status, 0);
	outcome_release(&w);
}

/* Start a sleeper with a pid file; returns the command (caller frees). */
static char *
sleeper(const char *pidfile)
{
	return xstrfmt("echo $$ > '%s'; exec sleep 30", pidfile);
}

static void
timeout_kills_remote(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_ssh_cmd c = RB_SSH_CMD_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h;
	struct outcome r[2];
	char *pidfile = xstrfmt("%s/sleep.pid", rb_test_tmpdir());
	char *cmd = sleeper(pidfile);

	memset(r, 0, sizeof(r));
	test_opts(&o, NULL);
	host_init(&h, d, "slow1");
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	warm_up(loop, pool, &h);
	c.command = cmd;
	c.timeout_ms = 500;
	c.on_done = outcome_done;
	c.payload = &r[0];
	T_EQ_INT(rb_ssh_exec_start(NULL, pool, &h, &c, &err), 0);
	/* A neighbour on the same session is not disturbed. */
	c.command = "sleep 1; echo fine";
	c.timeout_ms = 0;
	c.payload = &r[1];
	T_EQ_INT(rb_ssh_exec_start(NULL, pool, &h, &c, &err), 0);
	T_ASSERT(wait_all(loop, r, 1, 20000));
	T_ASSERT(r[0].timed_out);
	T_ASSERT(r[0].started);
	T_ASSERT(!r[0].host_error);
	T_EQ_INT(r[0].error.code, RB_ETIMEOUT);
	T_CONTAINS(r[0].error.msg, "timed out after 500ms");
	T_EQ_INT(r[0].status, 128 + SIGTERM);
	T_EQ_INT(r[0].signal, SIGTERM);
	T_ASSERT(r[0].end_ms - r[0].start_ms < 3000);
	T_ASSERT(read_pid(pidfile) > 0);
	T_ASSERT(wait_pid_gone(read_pid(pidfile), 3000));
	T_ASSERT(wait_all(loop, r, 2, 20000));
	T_EQ_INT(r[1].status, 0);
	T_EQ_STR(r[1].out, "fine\n");
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	host_release(&h);
	outcome_release(&r[0]);
	outcome_release(&r[1]);
	free(pidfile);
	free(cmd);
}

void
test_exec_ssh__timeout_kills_remote(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	timeout_kills_remote(&d);
	sshd_stop(&d);
}

struct cancel_ctx {
	struct rb_ssh_exec *x;
};

static void
cancel_fire(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct cancel_ctx *cc = payload;

	(void)loop;
	(void)id;
	rb_ssh_exec_cancel(cc->x);
}

/* on_line that cancels its own command at its first line. */
static void
cancel_on_line(struct rb_ssh_exec *x, int stream, const char *line, size_t len,
    void *payload)
{
	outcome_line(x, stream, line, len, payload);
	rb_ssh_exec_cancel(x);
}

static void
cancel(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_ssh_cmd c = RB_SSH_CMD_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h;
	struct outcome r[3];
	struct cancel_ctx cc;
	char *pidfile = xstrfmt("%s/sleep.pid", rb_test_tmpdir());
	char *cmd = sleeper(pidfile);
	struct rb_ssh_exec *queued = NULL;

	memset(r, 0, sizeof(r));
	test_opts(&o, NULL);
	host_init(&h, d, "c1");
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	warm_up(loop, pool, &h);
	c.command = cmd;
	c.on_done = outcome_done;
	c.payload = &r[0];
	T_EQ_INT(rb_ssh_exec_start(&cc.x, pool, &h, &c, &err), 0);
	rb_evloop_add_timer(loop, rb_now_ms() + 700, cancel_fire, &cc);
	/* One cancelled while still queued: ends at once, never runs. */
	c.command = "touch SHOULD-NOT-EXIST";
	c.payload = &r[1];
	T_EQ_INT(rb_ssh_exec_start(&queued, pool, &h, &c, &err), 0);
	rb_ssh_exec_cancel(queued);
	rb_ssh_exec_cancel(queued); /* twice is fine */
	T_ASSERT(!r[1].done);	    /* from the loop only */
	/* One that cancels itself from its own output. */
	c.command = "echo first; echo second; sleep 30";
	c.on_line = cancel_on_line;
	c.payload = &r[2];
	T_EQ_INT(rb_ssh_exec_start(NULL, pool, &h, &c, &err), 0);
	T_ASSERT(wait_all(loop, r, 3, 20000));
	T_ASSERT(r[2].cancelled);
	T_EQ_INT(r[2].calls, 1);
	T_ASSERT(r[2].lines_out >= 1);
	T_ASSERT(r[2].end_ms - r[2].start_ms < 10000);
	T_ASSERT(r[0].cancelled && !r[0].timed_out);
	T_EQ_INT(r[0].error.code, RB_EINTR);
	T_EQ_INT(r[0].status, 128 + SIGTERM);
	T_ASSERT(wait_pid_gone(read_pid(pidfile), 3000));
	T_ASSERT(r[1].cancelled);
	T_ASSERT(!r[1].started);
	T_EQ_INT(r[1].calls, 1);
	/* The warm-up and the two that ran; the queued one never did. */
	T_EQ_INT(count_lines(fx(d, "sshd.log"), "req exec"), 3);
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	host_release(&h);
	outcome_release(&r[0]);
	outcome_release(&r[1]);
	outcome_release(&r[2]);
	free(pidfile);
	free(cmd);
}

void
test_exec_ssh__cancel(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	cancel(&d);
	sshd_stop(&d);
}

/* ------------------------------------------------------------- fan-out */

#define FAN_HOSTS 20
#define FAN_CMDS 10

static void
fanout(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_ssh_stats st;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h[FAN_HOSTS];
	struct outcome *r = xcalloc(FAN_HOSTS * FAN_CMDS, sizeof(*r));
	char name[32], cmd[64], want[64];
	int64_t t0;
	int i, j;

	test_opts(&o, NULL);
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	for (i = 0; i < FAN_HOSTS; i++) {
		snprintf(name, sizeof(name), "h%02d", i);
		host_init(&h[i], d, name);
	}
	t0 = rb_now_ms();
	for (j = 0; j < FAN_CMDS; j++) {
		for (i = 0; i < FAN_HOSTS; i++) {
			snprintf(cmd, sizeof(cmd), "echo %s-%d", h[i].name, j);
			T_EQ_INT(
			    start(pool, &h[i], cmd, &r[i * FAN_CMDS + j]), 0);
		}
	}
	T_ASSERT(wait_all(loop, r, FAN_HOSTS * FAN_CMDS, 60000));
	fprintf(stderr, "  ssh fanout: %d hosts x %d commands in %lld ms\n",
	    FAN_HOSTS, FAN_CMDS, (long long)(rb_now_ms() - t0));
	for (i = 0; i < FAN_HOSTS; i++) {
		for (j = 0; j < FAN_CMDS; j++) {
			struct outcome *x = &r[i * FAN_CMDS + j];

			snprintf(want, sizeof(want), "%s-%d\n", h[i].name, j);
			T_EQ_INT(x->calls, 1);
			T_EQ_INT(x->status, 0);
			T_EQ_STR(x->out, want);
		}
	}
	rb_ssh_pool_stats(&st, pool);
	T_EQ_INT(st.connects, FAN_HOSTS);
	T_EQ_INT(st.commands, FAN_HOSTS * FAN_CMDS);
	T_EQ_INT(sshd_logins(d), FAN_HOSTS);
	T_EQ_INT(
	    count_lines(fx(d, "sshd.log"), "req exec"), FAN_HOSTS * FAN_CMDS);
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	for (i = 0; i < FAN_HOSTS; i++)
		host_release(&h[i]);
	for (i = 0; i < FAN_HOSTS * FAN_CMDS; i++)
		outcome_release(&r[i]);
	free(r);
}

void
test_exec_ssh__fanout(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	fanout(&d);
	sshd_stop(&d);
}

/* A chain: each command's on_done starts the next one. */
struct chain {
	struct rb_ssh_pool *pool;
	const struct rb_host *host;
	int left, ok;
	bool done;
};

static void
chain_done(struct rb_ssh_exec *x, struct rb_ssh_result *res, void *payload)
{
	struct chain *ch = payload;
	struct rb_ssh_cmd c = RB_SSH_CMD_INIT;

	(void)x;
	if (res->status == 0)
		ch->ok++;
	if (--ch->left == 0) {
		ch->done = true;
		return;
	}
	c.command = "true";
	c.on_done = chain_done;
	c.payload = ch;
	if (rb_ssh_exec_start(NULL, ch->pool, ch->host, &c, NULL) != 0)
		ch->done = true;
}

static void
session_reuse(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_ssh_cmd c = RB_SSH_CMD_INIT;
	struct rb_ssh_stats st;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h;
	struct chain ch;
	int64_t end = rb_now_ms() + 20000;

	test_opts(&o, NULL);
	host_init(&h, d, "seq1");
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	memset(&ch, 0, sizeof(ch));
	ch.pool = pool;
	ch.host = &h;
	ch.left = 8;
	c.command = "true";
	c.on_done = chain_done;
	c.payload = &ch;
	T_EQ_INT(rb_ssh_exec_start(NULL, pool, &h, &c, &err), 0);
	while (!ch.done && rb_now_ms() < end)
		rb_evloop_run_once(loop, 100);
	T_ASSERT(ch.done);
	T_EQ_INT(ch.ok, 8);
	rb_ssh_pool_stats(&st, pool);
	T_EQ_INT(st.connects, 1);
	T_EQ_INT(st.commands, 8);
	T_EQ_INT(sshd_logins(d), 1);
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	host_release(&h);
}

void
test_exec_ssh__session_reuse(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	session_reuse(&d);
	sshd_stop(&d);
}

static void
reconnect_after_drop(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_ssh_stats st;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h;
	struct outcome r[2];
	long long server = 0;
	char *ppid;

	memset(r, 0, sizeof(r));
	test_opts(&o, NULL);
	host_init(&h, d, "drop1");
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	/* The sshd process that holds this connection: the remote shell's
	 * parent. */
	T_EQ_INT(start(pool, &h, "echo $PPID", &r[0]), 0);
	T_ASSERT(wait_all(loop, r, 1, 20000));
	T_EQ_INT(r[0].status, 0);
	ppid = r[0].out;
	ppid[strcspn(ppid, "\n")] = '\0';
	T_EQ_INT(rb_parse_int(&server, ppid, 2, 1 << 30), 0);
	/* Drop that connection from the server side. */
	T_EQ_INT(kill((pid_t)server, SIGKILL), 0);
	T_ASSERT(wait_pid_gone(server, 3000));
	usleep(100000);
	/* The idle session is dead; the next command reconnects. */
	T_EQ_INT(start(pool, &h, "echo again", &r[1]), 0);
	T_ASSERT(wait_all(loop, r, 2, 20000));
	T_EQ_INT(r[1].status, 0);
	T_EQ_STR(r[1].out, "again\n");
	rb_ssh_pool_stats(&st, pool);
	T_EQ_INT(st.connects, 2);
	T_EQ_INT(sshd_logins(d), 2);
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	host_release(&h);
	outcome_release(&r[0]);
	outcome_release(&r[1]);
}

void
test_exec_ssh__reconnect_after_drop(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	reconnect_after_drop(&d);
	sshd_stop(&d);
}

static void
max_channels(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_ssh_stats st;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h;
	struct outcome r[9];
	char cmd[64], want[16];
	int64_t t0;
	int i;

	memset(r, 0, sizeof(r));
	test_opts(&o, NULL);
	o.max_channels = 3;
	host_init(&h, d, "narrow");
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	t0 = rb_now_ms();
	for (i = 0; i < 9; i++) {
		snprintf(cmd, sizeof(cmd), "sleep 0.3; echo %d", i);
		T_EQ_INT(start(pool, &h, cmd, &r[i]), 0);
	}
	T_ASSERT(wait_all(loop, r, 9, 30000));
	/* Three waves of three. */
	T_ASSERT(rb_now_ms() - t0 >= 900);
	for (i = 0; i < 9; i++) {
		snprintf(want, sizeof(want), "%d\n", i);
		T_EQ_INT(r[i].status, 0);
		T_EQ_STR(r[i].out, want);
	}
	rb_ssh_pool_stats(&st, pool);
	T_EQ_INT(st.connects, 1);
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	host_release(&h);
	for (i = 0; i < 9; i++)
		outcome_release(&r[i]);
}

void
test_exec_ssh__max_channels(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	max_channels(&d);
	sshd_stop(&d);
}

static void
large_output(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_ssh_cmd c = RB_SSH_CMD_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h;
	struct outcome r[2];

	memset(r, 0, sizeof(r));
	test_opts(&o, NULL);
	host_init(&h, d, "chatty");
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	c.command = "head -c 3000000 /dev/zero | tr '\\0' a; echo; echo END";
	c.head_max = 1000;
	c.tail_max = 1000;
	c.on_done = outcome_done;
	c.payload = &r[0];
	T_EQ_INT(rb_ssh_exec_start(NULL, pool, &h, &c, &err), 0);
	c.command = "echo small";
	c.payload = &r[1];
	T_EQ_INT(rb_ssh_exec_start(NULL, pool, &h, &c, &err), 0);
	T_ASSERT(wait_all(loop, r, 2, 30000));
	T_EQ_INT(r[0].status, 0);
	T_EQ_INT(r[0].out_total, 3000000 + 1 + 4);
	T_EQ_INT(r[0].head_len, 1000);
	T_EQ_INT(r[0].tail_len, 1000);
	T_ASSERT(r[0].truncated);
	T_CONTAINS(r[0].out, "bytes omitted");
	T_CONTAINS(r[0].out, "aaaa\nEND\n");
	T_EQ_STR(r[1].out, "small\n");
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	host_release(&h);
	outcome_release(&r[0]);
	outcome_release(&r[1]);
}

void
test_exec_ssh__large_output(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	large_output(&d);
	sshd_stop(&d);
}

/* ------------------------------------------------------------- host keys */

/* Run one command that would create marker; returns its outcome. */
static void
run_marker(struct rb_ssh_pool *pool, struct rb_evloop *loop,
    const struct rb_host *h, const char *marker, struct outcome *r)
{
	char *cmd = xstrfmt("touch '%s'", marker);

	memset(r, 0, sizeof(*r));
	if (start(pool, h, cmd, r) == 0)
		(void)wait_all(loop, r, 1, 20000);
	free(cmd);
}

static void
hostkey_unknown_refused(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_ssh_stats st;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h;
	struct outcome r, r2;
	struct hk_log hk;
	char *marker = xstrfmt("%s/MARKER", rb_test_tmpdir());
	char *empty = xstrfmt("%s/known_hosts.empty", rb_test_tmpdir());
	char *fp = host_fingerprint(d);
	char *port = xstrfmt("ssh-keyscan -p %d -t ed25519", d->port);
	FILE *f = fopen(empty, "w");

	T_ASSERT(f != NULL && fp != NULL);
	fclose(f);
	test_opts(&o, &hk);
	host_init(&h, d, "new1");
	host_set(&h.known_hosts, empty);
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	run_marker(pool, loop, &h, marker, &r);
	T_ASSERT(r.done);
	T_ASSERT(r.host_error);
	T_ASSERT(!r.started);
	T_EQ_INT(r.status, -1);
	T_EQ_INT(r.error.code, RB_EREFUSED);
	T_CONTAINS(r.error.msg, "unknown host key for 'new1'");
	T_CONTAINS(r.error.msg, "ssh-ed25519");
	T_CONTAINS(r.error.msg, fp);
	T_CONTAINS(r.error.msg, empty);
	T_CONTAINS(r.error.hint, "--accept-new-host-keys");
	T_CONTAINS(r.error.hint, port);
	T_EQ_INT(hk.n, 1);
	T_EQ_INT(hk.status[0], RB_SSH_HOSTKEY_UNKNOWN);
	T_ASSERT(!hk.trusted[0]);
	T_EQ_STR(hk.fp[0], fp);
	/* A refusal sticks: the next command fails without a connection. */
	run_marker(pool, loop, &h, marker, &r2);
	T_ASSERT(r2.host_error);
	T_EQ_INT(r2.error.code, RB_EREFUSED);
	T_EQ_INT(hk.n, 1);
	rb_ssh_pool_stats(&st, pool);
	T_EQ_INT(st.hostkey_refusals, 1);
	T_EQ_INT(st.commands, 0);
	/* Nothing reached the server past the key exchange. */
	T_ASSERT(!exists(marker));
	T_EQ_INT(sshd_logins(d), 0);
	T_EQ_INT(count_lines(fx(d, "sshd.log"), "req exec"), 0);
	T_EQ_INT(count_lines(empty, "ssh-"), 0);
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	host_release(&h);
	outcome_release(&r);
	outcome_release(&r2);
	free(marker);
	free(empty);
	free(fp);
	free(port);
}

void
test_exec_ssh__hostkey_unknown_refused(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	hostkey_unknown_refused(&d);
	sshd_stop(&d);
}

static void
hostkey_accept_new(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h[3];
	struct outcome r[3];
	struct hk_log hk;
	struct stat sb;
	struct rb_buf kh = RB_BUF_INIT, pub = RB_BUF_INIT;
	char *file = xstrfmt("%s/dotssh/known_hosts", rb_test_tmpdir());
	char *want, *hostport = xstrfmt("[127.0.0.1]:%d", d->port);
	const char *argv[] = { "ssh-keygen", "-F", hostport, "-f", file, NULL };
	char *found;
	int i;

	memset(r, 0, sizeof(r));
	test_opts(&o, &hk);
	o.accept_new_host_keys = true;
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	/* Three aliases of one server, all new at once: one entry. */
	for (i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof(name), "a%d", i);
		host_init(&h[i], d, name);
		host_set(&h[i].known_hosts, file);
		T_EQ_INT(start(pool, &h[i], "echo in", &r[i]), 0);
	}
	T_ASSERT(wait_all(loop, r, 3, 20000));
	for (i = 0; i < 3; i++) {
		T_EQ_INT(r[i].status, 0);
		T_EQ_STR(r[i].out, "in\n");
	}
	T_EQ_INT(hk.n, 3);
	T_EQ_INT(hk.status[0], RB_SSH_HOSTKEY_ADDED);
	T_ASSERT(hk.trusted[0]);
	T_EQ_INT(hk.line[0], 1);
	T_EQ_INT(hk.status[1], RB_SSH_HOSTKEY_KNOWN);
	T_EQ_INT(hk.status[2], RB_SSH_HOSTKEY_KNOWN);
	T_EQ_INT(stat(file, &sb), 0);
	T_EQ_INT(sb.st_mode & 0777, 0600);
	T_EQ_INT(rb_buf_read_file(&kh, file, 0), 0);
	T_EQ_INT(
	    rb_buf_read_file(&pub, fx(d, "ssh_host_ed25519_key.pub"), 0), 0);
	pub.len = strcspn(pub.buf, " ");
	pub.len += 1 + strcspn(pub.buf + pub.len + 1, " \n");
	pub.buf[pub.len] = '\0';
	want = xstrfmt("%s %s\n", hostport, pub.buf);
	T_EQ_STR(kh.buf, want);
	/* OpenSSH finds it under the same name. */
	found = run_argv(argv, NULL);
	T_ASSERT(found != NULL);
	T_CONTAINS(found, hostport);
	rb_ssh_pool_free(pool);
	pool = NULL;

	/* A new pool without accept-new trusts it now. */
	o.accept_new_host_keys = false;
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	outcome_release(&r[0]);
	T_EQ_INT(start(pool, &h[0], "echo again", &r[0]), 0);
	T_ASSERT(wait_all(loop, r, 1, 20000));
	T_EQ_INT(r[0].status, 0);
	T_EQ_INT(hk.status[hk.n - 1], RB_SSH_HOSTKEY_KNOWN);
	T_EQ_INT(hk.line[hk.n - 1], 1);
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	for (i = 0; i < 3; i++) {
		host_release(&h[i]);
		outcome_release(&r[i]);
	}
	rb_buf_release(&kh);
	rb_buf_release(&pub);
	free(file);
	free(want);
	free(hostport);
	free(found);
}

void
test_exec_ssh__hostkey_accept_new(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	hostkey_accept_new(&d);
	sshd_stop(&d);
}

static void
hostkey_changed_refused(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h;
	struct outcome r;
	struct hk_log hk;
	struct rb_buf before = RB_BUF_INIT, after = RB_BUF_INIT;
	char *marker = xstrfmt("%s/MARKER", rb_test_tmpdir());
	char *file = xstrfmt("%s/kh.wrong", rb_test_tmpdir());
	char *cp = xstrfmt("printf '# a comment\\n\\n' > '%s'; "
			   "cat '%s' >> '%s'",
	    file, fx(d, "known_hosts.wrong"), file);
	char *fp = host_fingerprint(d);

	free(sh(cp));
	test_opts(&o, &hk);
	o.accept_new_host_keys = true; /* never for a changed key */
	host_init(&h, d, "moved");
	host_set(&h.known_hosts, file);
	T_EQ_INT(rb_buf_read_file(&before, file, 0), 0);
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	run_marker(pool, loop, &h, marker, &r);
	T_ASSERT(r.done && r.host_error && !r.started);
	T_EQ_INT(r.error.code, RB_EREFUSED);
	T_CONTAINS(r.error.msg, "remote host identification has changed");
	T_CONTAINS(r.error.msg, "'moved'");
	T_CONTAINS(r.error.msg, fp);
	T_CONTAINS(r.error.msg, file);
	T_CONTAINS(r.error.msg, "line 3");
	T_CONTAINS(r.error.hint, "man-in-the-middle");
	T_CONTAINS(r.error.hint, "ssh-keygen -R");
	T_EQ_INT(hk.n, 1);
	T_EQ_INT(hk.status[0], RB_SSH_HOSTKEY_CHANGED);
	T_EQ_INT(hk.line[0], 3);
	T_ASSERT(!exists(marker));
	T_EQ_INT(sshd_logins(d), 0);
	T_EQ_INT(rb_buf_read_file(&after, file, 0), 0);
	T_EQ_STR(after.buf, before.buf);
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	host_release(&h);
	outcome_release(&r);
	rb_buf_release(&before);
	rb_buf_release(&after);
	free(marker);
	free(file);
	free(cp);
	free(fp);
}

void
test_exec_ssh__hostkey_changed_refused(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	hostkey_changed_refused(&d);
	sshd_stop(&d);
}

static void
hostkey_hashed_and_port(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h[3];
	struct outcome r[3];
	struct hk_log hk;
	char *hashed = xstrfmt("%s/kh.hashed", rb_test_tmpdir());
	char *plain = xstrfmt("%s/kh.plain", rb_test_tmpdir());
	char *bad = xstrfmt("%s/kh.badlines", rb_test_tmpdir());
	char *cmd = xstrfmt(
	    "cp '%s' '%s' && ssh-keygen -q -H -f '%s' 2>/dev/null && "
	    "sed 's/^\\[127.0.0.1\\]:[0-9]*/127.0.0.1/' '%s' > '%s' && "
	    "{ echo 'garbage line'; echo '@cert-authority * ssh-ed25519 "
	    "AAAA'; echo 'h sk-ssh-ed25519@openssh.com AAAA'; cat '%s'; } "
	    "> '%s' && grep -q '^|1|' '%s'",
	    fx(d, "known_hosts"), hashed, hashed, fx(d, "known_hosts"), plain,
	    fx(d, "known_hosts"), bad, hashed);
	char *out = sh(cmd);
	int i;

	T_ASSERT(out != NULL);
	free(out);
	memset(r, 0, sizeof(r));
	test_opts(&o, &hk);
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	host_init(&h[0], d, "hashed");
	host_set(&h[0].known_hosts, hashed);
	host_init(&h[1], d, "plain");
	host_set(&h[1].known_hosts, plain);
	host_init(&h[2], d, "badlines");
	host_set(&h[2].known_hosts, bad);
	for (i = 0; i < 3; i++)
		T_EQ_INT(start(pool, &h[i], "echo ok", &r[i]), 0);
	T_ASSERT(wait_all(loop, r, 3, 20000));
	/* A hashed "[127.0.0.1]:PORT" entry matches. */
	T_EQ_INT(r[0].status, 0);
	/* A plain "127.0.0.1" entry is for port 22 only, as in OpenSSH. */
	T_ASSERT(r[1].host_error);
	T_CONTAINS(r[1].error.msg, "unknown host key");
	/* Lines libssh2 cannot parse do not hide the ones after them. */
	T_EQ_INT(r[2].status, 0);
	for (i = 0; i < hk.n; i++)
		if (hk.status[i] == RB_SSH_HOSTKEY_KNOWN && hk.line[i] == 4)
			break;
	T_ASSERT(i < hk.n);
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	for (i = 0; i < 3; i++) {
		host_release(&h[i]);
		outcome_release(&r[i]);
	}
	free(hashed);
	free(plain);
	free(bad);
	free(cmd);
}

void
test_exec_ssh__hostkey_hashed_and_port(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	hostkey_hashed_and_port(&d);
	sshd_stop(&d);
}

/* ------------------------------------------------------------- auth */

static void
auth_rsa_message(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h;
	struct outcome r;
	char *marker = xstrfmt("%s/MARKER", rb_test_tmpdir());

	test_opts(&o, NULL);
	host_init(&h, d, "legacy");
	host_set(&h.identity, fx(d, "id_rsa"));
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	run_marker(pool, loop, &h, marker, &r);
	T_ASSERT(r.done && r.host_error && !r.started);
	T_EQ_INT(r.error.code, RB_ERROR);
	T_CONTAINS(r.error.msg, "cannot log in to 'legacy'");
	T_CONTAINS(r.error.msg, "RSA");
	T_CONTAINS(r.error.msg, "libssh2 issue 634");
	T_CONTAINS(r.error.msg, "SHA-2");
	T_CONTAINS(r.error.msg, fx(d, "id_rsa"));
	T_CONTAINS(r.error.hint, "ed25519");
	T_ASSERT(!exists(marker));
	T_EQ_INT(sshd_logins(d), 0);
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	host_release(&h);
	outcome_release(&r);
	free(marker);
}

void
test_exec_ssh__auth_rsa_message(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	auth_rsa_message(&d);
	sshd_stop(&d);
}

static void
auth_ecdsa(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h[2];
	struct outcome r[2];
	char *missing = xstrfmt("%s/no-such-key", rb_test_tmpdir());

	memset(r, 0, sizeof(r));
	test_opts(&o, NULL);
	host_init(&h[0], d, "ec");
	host_set(&h[0].identity, fx(d, "id_ecdsa"));
	host_init(&h[1], d, "nokey");
	host_set(&h[1].identity, missing);
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	T_EQ_INT(start(pool, &h[0], "echo ec", &r[0]), 0);
	T_EQ_INT(start(pool, &h[1], "echo never", &r[1]), 0);
	T_ASSERT(wait_all(loop, r, 2, 20000));
	T_EQ_INT(r[0].status, 0);
	T_EQ_STR(r[0].out, "ec\n");
	T_EQ_INT(count_lines(fx(d, "sshd.log"), "ssh2: ECDSA SHA256"), 1);
	T_ASSERT(r[1].host_error);
	T_CONTAINS(r[1].error.msg, missing);
	T_CONTAINS(r[1].error.msg, "No such file");
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	host_release(&h[0]);
	host_release(&h[1]);
	outcome_release(&r[0]);
	outcome_release(&r[1]);
	free(missing);
}

void
test_exec_ssh__auth_ecdsa(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	auth_ecdsa(&d);
	sshd_stop(&d);
}

static void
auth_agent(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_proc agent = RB_PROC_INIT;
	struct rb_host h;
	struct outcome r;
	char *sock = xstrfmt("%s/agent.sock", rb_test_tmpdir());
	char *envsock = xstrfmt("SSH_AUTH_SOCK=%s", sock);
	const char *add[] = { "ssh-add", "-q", fx(d, "id_ed25519"), NULL };
	char *out;
	int64_t end;

	memset(&r, 0, sizeof(r));
	rb_strvec_push(&agent.args, "ssh-agent");
	rb_strvec_push(&agent.args, "-D");
	rb_strvec_push(&agent.args, "-a");
	rb_strvec_push(&agent.args, sock);
	rb_strvec_push(&agent.env, "PATH=/usr/bin:/bin");
	agent.out = RB_PROC_DEVNULL;
	T_EQ_INT(rb_proc_start(&agent, loop, &err), 0);
	for (end = rb_now_ms() + 5000; !exists(sock) && rb_now_ms() < end;)
		usleep(10000);
	out = run_argv(add, envsock);
	free(out);
	test_opts(&o, NULL);
	o.agent_socket = sock;
	host_init(&h, d, "via-agent");
	host_set(&h.identity, "/nonexistent/key");
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	T_EQ_INT(start(pool, &h, "echo agent", &r), 0);
	T_ASSERT(wait_all(loop, &r, 1, 20000));
	T_EQ_INT(r.status, 0);
	T_EQ_STR(r.out, "agent\n");
	T_EQ_INT(sshd_logins(d), 1);
	/* The agent is used for auth, never forwarded. */
	T_EQ_INT(count_lines(fx(d, "sshd.log"), "auth-agent-req"), 0);
	rb_ssh_pool_free(pool);
	rb_proc_release(&agent); /* kills and reaps ssh-agent */
	rb_evloop_free(loop);
	host_release(&h);
	outcome_release(&r);
	free(sock);
	free(envsock);
}

void
test_exec_ssh__auth_agent(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	auth_agent(&d);
	sshd_stop(&d);
}

static void
default_identity(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h;
	struct outcome r;
	char *home = xstrfmt("%s/home", rb_test_tmpdir());
	char *cmd = xstrfmt("mkdir -p '%s/.ssh' && cp '%s' '%s/.ssh/id_ecdsa'"
			    " && cp '%s' '%s/.ssh/known_hosts'",
	    home, fx(d, "id_ecdsa"), home, fx(d, "known_hosts"), home);

	free(sh(cmd));
	memset(&r, 0, sizeof(r));
	test_opts(&o, NULL);
	o.home = home;
	host_init(&h, d, "defaults");
	host_set(&h.identity, NULL);
	host_set(&h.known_hosts, NULL);
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	T_EQ_INT(start(pool, &h, "echo home", &r), 0);
	T_ASSERT(wait_all(loop, &r, 1, 20000));
	T_EQ_INT(r.status, 0);
	T_EQ_STR(r.out, "home\n");
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	host_release(&h);
	outcome_release(&r);
	free(home);
	free(cmd);
}

void
test_exec_ssh__default_identity(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	default_identity(&d);
	sshd_stop(&d);
}

/* ------------------------------------------------------------- failures */

/* A loopback port nobody listens on. */
static int
closed_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		port = 1;
	else
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void
unreachable(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h[4];
	struct outcome r[4];
	char portstr[16];
	int i;

	memset(r, 0, sizeof(r));
	test_opts(&o, NULL);
	o.connect_timeout_ms = 3000;
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	host_init(&h[0], d, "down");
	h[0].port = closed_port();
	snprintf(portstr, sizeof(portstr), "port %d", h[0].port);
	host_init(&h[1], d, "nowhere");
	host_set(&h[1].address, "no-such-host.invalid");
	host_init(&h[2], d, "up");
	host_init(&h[3], d, "bad address");
	host_set(&h[3].address, "a b\n[x]");
	for (i = 0; i < 3; i++)
		T_EQ_INT(start(pool, &h[i], "echo up", &r[i]), 0);
	T_EQ_INT(rb_ssh_exec_start(NULL, pool, &h[3],
		     &(struct rb_ssh_cmd)RB_SSH_CMD_INIT, &err),
	    RB_EINVAL);
	T_ASSERT(wait_all(loop, r, 3, 20000));
	T_ASSERT(r[0].host_error && !r[0].started);
	T_EQ_INT(r[0].status, -1);
	T_CONTAINS(r[0].error.msg, "cannot connect to 'down'");
	T_CONTAINS(r[0].error.msg, portstr);
	T_CONTAINS(r[0].error.msg, "Connection refused");
	T_CONTAINS(r[0].error.hint, "sshd listens");
	T_ASSERT(r[1].host_error);
	T_CONTAINS(r[1].error.msg, "no-such-host.invalid");
	/* The healthy host is not held up by the others. */
	T_EQ_INT(r[2].status, 0);
	T_EQ_STR(r[2].out, "up\n");
	T_ASSERT(r[2].end_ms - r[2].start_ms < 2500);
	/* A bad address never makes it into a known_hosts line. */
	T_EQ_INT(rb_ssh_exec_start(NULL, pool, &h[3],
		     &(struct rb_ssh_cmd){ "true", NULL, NULL, 0, 10, 10, NULL,
			 outcome_done, &r[3] },
		     &err),
	    RB_EINVAL);
	T_CONTAINS(err.msg, "invalid address");
	rb_ssh_pool_free(pool);
	rb_evloop_free(loop);
	for (i = 0; i < 4; i++) {
		host_release(&h[i]);
		outcome_release(&r[i]);
	}
}

void
test_exec_ssh__unreachable(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	unreachable(&d);
	sshd_stop(&d);
}

static void
pool_free_running(struct sshd *d)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_ssh_pool *pool = NULL;
	struct rb_ssh_opts o;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_host h;
	struct outcome r[2];
	char *pidfile = xstrfmt("%s/sleep.pid", rb_test_tmpdir());
	char *cmd = sleeper(pidfile);
	int64_t end, t0;

	memset(r, 0, sizeof(r));
	test_opts(&o, NULL);
	o.max_channels = 1;
	host_init(&h, d, "busy");
	T_EQ_INT(rb_ssh_pool_new(&pool, loop, &o, &err), 0);
	T_EQ_INT(start(pool, &h, cmd, &r[0]), 0);
	T_EQ_INT(start(pool, &h, "echo queued", &r[1]), 0);
	for (end = rb_now_ms() + 10000;
	     read_pid(pidfile) <= 0 && rb_now_ms() < end;)
		rb_evloop_run_once(loop, 50);
	T_ASSERT(read_pid(pidfile) > 0);
	t0 = rb_now_ms();
	rb_ssh_pool_free(pool);
	T_ASSERT(rb_now_ms() - t0 < 1000);
	/* No callback after the free; the remote command died with it. */
	rb_evloop_run_once(loop, 0);
	T_ASSERT(!r[0].done && !r[1].done);
	T_ASSERT(wait_pid_gone(read_pid(pidfile), 5000));
	rb_evloop_free(loop);
	host_release(&h);
	free(pidfile);
	free(cmd);
}

void
test_exec_ssh__pool_free_running(void)
{
	struct sshd d;

	if (!sshd_start(&d))
		return;
	pool_free_running(&d);
	sshd_stop(&d);
}
