/*
 * cmd_serve.c - `runbook serve`: load the routes file and run the webhook
 * listener until SIGINT/SIGTERM, writing its JSON log lines to stderr.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "runbook/webhook.h"
#include "runbook/banned.h"

/* One log line per write(2), so run children's output cannot split it. */
static void
log_line(enum rb_wh_log_level level, const char *line, void *payload)
{
	struct rb_buf b = RB_BUF_INIT;
	const char *p;
	size_t left;
	ssize_t n;

	(void)level;
	(void)payload;
	rb_buf_adds(&b, line);
	rb_buf_addch(&b, '\n');
	p = b.buf;
	left = b.len;
	while (left > 0) {
		n = write(STDERR_FILENO, p, left);
		if (n <= 0)
			break;
		p += n;
		left -= (size_t)n;
	}
	rb_buf_release(&b);
}

int
cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = { { "routes", required_argument,
						  NULL, 'r' },
		{ "listen", required_argument, NULL, 'l' },
		{ "state", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	struct rb_wh_serve_opts so = RB_WH_SERVE_OPTS_INIT;
	struct rb_diags diags = RB_DIAGS_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_routes *routes = NULL;
	struct rb_wh_server *srv = NULL;
	const char *routes_path = NULL;
	int c, r, ex = RB_EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "r:l:S:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			routes_path = optarg;
			break;
		case 'l':
			so.listen = optarg;
			break;
		case 'S':
			so.state_dir = optarg;
			break;
		case 'h':
			ex = cli_help_exit("serve");
			goto out;
		default:
			cli_usage(stderr, "serve");
			goto out;
		}
	}
	if (optind != argc || routes_path == NULL) {
		if (routes_path == NULL && optind == argc)
			cli_error("missing --routes FILE");
		cli_usage(stderr, "serve");
		goto out;
	}
	r = rb_routes_load(&routes, routes_path, &diags);
	cli_print_diags(&diags);
	rb_diags_release(&diags);
	if (r != 0)
		goto out;
	so.routes = routes;
	so.log = log_line;
	if ((r = rb_wh_serve_new(&srv, &so, &diags, &err)) != 0) {
		cli_print_diags(&diags);
		cli_print_error(&err);
		ex = r == RB_EINVAL || r == RB_ENOTFOUND ? RB_EXIT_USAGE
							 : RB_EXIT_FAILED;
		goto out;
	}
	cli_print_diags(&diags);
	if (rb_wh_serve_run(srv, &err) != 0) {
		cli_print_error(&err);
		ex = RB_EXIT_FAILED;
		goto out;
	}
	ex = RB_EXIT_OK;
out:
	rb_wh_serve_free(srv);
	rb_routes_free(routes);
	rb_diags_release(&diags);
	return ex;
}
