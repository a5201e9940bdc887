/*
 * ssh_bench.c - drive the SSH transport (include/runbook/ssh.h) the way a
 * runbook run does, for tests/bench/ssh_fanout.sh: STEPS steps, each run
 * on HOSTS inventory aliases of one sshd at once, each step starting when
 * the previous one finished on every host (a group step, then the next).
 * One pool, so sessions are opened by the first step and reused after.
 *
 *	ssh_bench -p PORT -k KNOWN_HOSTS -i IDENTITY [-H HOSTS] [-s STEPS]
 *	    [-c COMMAND] [-a]
 *
 * -a starts all HOSTS x STEPS commands at once instead (no step order).
 * Prints "key: value" lines: wall_ms, first_step_ms, per_host_step_ms,
 * connects, commands, failures. Exit status 1 if any command failed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/error.h"
#include "runbook/evloop.h"
#include "runbook/model.h"
#include "runbook/ssh.h"
#include "runbook/util.h"

struct bench {
	struct rb_ssh_pool *pool;
	struct rb_host *hosts;
	int nhosts, steps, step;
	const char *command;
	int outstanding, failures, done;
	int64_t first_step_ms;
};

static void start_step(struct bench *b);

static void
done(struct rb_ssh_exec *x, struct rb_ssh_result *res, void *payload)
{
	struct bench *b = payload;

	(void)x;
	if (res->status != 0) {
		if (b->failures++ < 5)
			fprintf(stderr, "ssh_bench: %s: status %d %s\n",
			    res->host, res->status, res->error.msg);
	}
	b->done++;
	if (--b->outstanding == 0 && b->step < b->steps) {
		if (b->step == 1)
			b->first_step_ms = rb_now_ms();
		start_step(b);
	}
}

static void
start_one(struct bench *b, int i)
{
	struct rb_ssh_cmd c = RB_SSH_CMD_INIT;
	struct rb_error err = RB_ERROR_INIT;

	c.command = b->command;
	c.timeout_ms = 60000;
	c.on_done = done;
	c.payload = b;
	if (rb_ssh_exec_start(NULL, b->pool, &b->hosts[i], &c, &err) != 0) {
		fprintf(stderr, "ssh_bench: %s\n", err.msg);
		exit(2);
	}
	b->outstanding++;
}

static void
start_step(struct bench *b)
{
	int i;

	b->step++;
	for (i = 0; i < b->nhosts; i++)
		start_one(b, i);
}

int
main(int argc, char **argv)
{
	struct rb_ssh_opts o = RB_SSH_OPTS_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_ssh_stats st;
	struct rb_evloop *loop;
	struct bench b;
	const char *kh = NULL, *id = NULL;
	bool all = false;
	int port = 22, c, i;
	int64_t t0, wall;

	memset(&b, 0, sizeof(b));
	b.nhosts = 20;
	b.steps = 10;
	b.command = "true";
	while ((c = getopt(argc, argv, "p:k:i:H:s:c:a")) != -1) {
		switch (c) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'k':
			kh = optarg;
			break;
		case 'i':
			id = optarg;
			break;
		case 'H':
			b.nhosts = atoi(optarg);
			break;
		case 's':
			b.steps = atoi(optarg);
			break;
		case 'c':
			b.command = optarg;
			break;
		case 'a':
			all = true;
			break;
		default:
			fprintf(stderr,
			    "usage: ssh_bench -p PORT -k KNOWN_HOSTS "
			    "-i IDENTITY [-H HOSTS] [-s STEPS] [-c CMD] "
			    "[-a]\n");
			return 2;
		}
	}
	if (kh == NULL || id == NULL || b.nhosts < 1 || b.steps < 1) {
		fprintf(stderr, "ssh_bench: -k and -i are required\n");
		return 2;
	}
	b.hosts = calloc((size_t)b.nhosts, sizeof(*b.hosts));
	for (i = 0; i < b.nhosts; i++) {
		b.hosts[i].name = xstrfmt("h%02d", i);
		b.hosts[i].address = xstrdup("127.0.0.1");
		b.hosts[i].port = port;
		b.hosts[i].identity = xstrdup(id);
		b.hosts[i].known_hosts = xstrdup(kh);
	}
	o.agent_socket = "";
	loop = rb_evloop_new();
	if (rb_ssh_pool_new(&b.pool, loop, &o, &err) != 0) {
		fprintf(stderr, "ssh_bench: %s\n", err.msg);
		return 2;
	}
	t0 = rb_now_ms();
	if (all) {
		int s;

		b.step = b.steps;
		for (s = 0; s < b.steps; s++)
			for (i = 0; i < b.nhosts; i++)
				start_one(&b, i);
	} else {
		start_step(&b);
	}
	while (b.done < b.nhosts * b.steps)
		if (rb_evloop_run_once(loop, 1000) < 0)
			break;
	wall = rb_now_ms() - t0;
	rb_ssh_pool_stats(&st, b.pool);
	printf("wall_ms: %lld\n", (long long)wall);
	if (!all)
		printf(
		    "first_step_ms: %lld\n", (long long)(b.first_step_ms - t0));
	printf("per_host_step_ms: %.2f\n", (double)wall / (b.nhosts * b.steps));
	printf("connects: %u\n", st.connects);
	printf("commands: %u\n", st.commands);
	printf("failures: %d\n", b.failures);
	rb_ssh_pool_free(b.pool);
	rb_evloop_free(loop);
	for (i = 0; i < b.nhosts; i++) {
		free(b.hosts[i].name);
		free(b.hosts[i].address);
		free(b.hosts[i].identity);
		free(b.hosts[i].known_hosts);
	}
	free(b.hosts);
	return b.failures != 0;
}
