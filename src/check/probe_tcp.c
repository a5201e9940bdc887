/*
 * probe_tcp.c - "can I connect to host:port?" without blocking the loop:
 * a non-blocking connect() per address, one deadline for all of them.
 *
 * The result is always delivered from a loop callback, even when it is
 * known inside rb_tcp_start() (a bad name, a loopback refusal), so callers
 * see one code path.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runbook/evloop.h"
#include "runbook/probe.h"
#include "runbook/util.h"
#include "runbook/banned.h"

struct rb_tcp_probe {
	struct rb_evloop *loop;
	char *host, *port;
	struct addrinfo *addrs; /* from getaddrinfo() */
	struct addrinfo *next;	/* the next address to try */
	int fd;			/* connecting socket, -1: none */
	int64_t timeout_ms;
	uint64_t deadline_timer;
	uint64_t done_timer; /* delivers the result */
	int last_errno;
	struct rb_tcp_result res;
	rb_tcp_done_fn on_done;
	void *payload;
};

/* "host:port" for messages, with brackets around IPv6 literals. */
static char *
target_name(const struct rb_tcp_probe *p)
{
	bool v6 = strchr(p->host, ':') != NULL;

	return xstrfmt(
	    "%s%s%s:%s", v6 ? "[" : "", p->host, v6 ? "]" : "", p->port);
}

static void
probe_free(struct rb_tcp_probe *p)
{
	if (p == NULL)
		return;
	if (p->fd >= 0) {
		rb_evloop_del_fd(p->loop, p->fd);
		close(p->fd);
	}
	if (p->deadline_timer != 0)
		(void)rb_evloop_cancel_timer(p->loop, p->deadline_timer);
	if (p->done_timer != 0)
		(void)rb_evloop_cancel_timer(p->loop, p->done_timer);
	if (p->addrs != NULL)
		freeaddrinfo(p->addrs);
	free(p->host);
	free(p->port);
	free(p);
}

/* Deliver the result and free the probe. */
static void
on_done_timer(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct rb_tcp_probe *p = payload;

	(void)loop;
	(void)id;
	p->done_timer = 0;
	p->on_done(&p->res, p->payload);
	probe_free(p);
}

/* The outcome is known: stop everything and deliver it on the loop. */
static void
complete(struct rb_tcp_probe *p, int code)
{
	p->res.code = code;
	p->res.end_ms = rb_now_ms();
	if (p->fd >= 0) {
		rb_evloop_del_fd(p->loop, p->fd);
		close(p->fd);
		p->fd = -1;
	}
	if (p->deadline_timer != 0)
		(void)rb_evloop_cancel_timer(p->loop, p->deadline_timer);
	p->deadline_timer = 0;
	p->done_timer = rb_evloop_add_timer(p->loop, 0, on_done_timer, p);
}

/* Remember which address we are on, for the result. */
static void
set_address(struct rb_tcp_probe *p, const struct addrinfo *ai)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	const void *a;

	if (ai->ai_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)
			 ->sin6_addr;
	else
		a = &((const struct sockaddr_in *)(const void *)ai->ai_addr)
			 ->sin_addr;
	(void)inet_ntop(ai->ai_family, a, ip, sizeof(ip));
	snprintf(p->res.address, sizeof(p->res.address),
	    ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", ip, p->port);
}

static void on_writable(
    struct rb_evloop *loop, int fd, int mask, void *payload);

/* Connect to the next address; complete() when none is left. */
static void
try_next(struct rb_tcp_probe *p)
{
	while (p->next != NULL) {
		struct addrinfo *ai = p->next;
		int fd;

		p->next = ai->ai_next;
		set_address(p, ai);
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0) {
			p->last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			close(fd);
			complete(p, 0);
			return;
		}
		if (errno == EINPROGRESS) {
			p->fd = fd;
			if (rb_evloop_add_fd(p->loop, fd, RB_EVLOOP_WRITE,
				on_writable, p) != 0)
				RB_BUG("socket fd already on the loop");
			return;
		}
		p->last_errno = errno;
		close(fd);
	}
	{
		char *t = target_name(p);

		rb_error_set(&p->res.err, RB_ERROR,
		    "cannot connect to '%s': %s", t,
		    strerror(p->last_errno ? p->last_errno : ECONNREFUSED));
		free(t);
	}
	complete(p, RB_ERROR);
}

/* The pending connect() finished, one way or the other. */
static void
on_writable(struct rb_evloop *loop, int fd, int mask, void *payload)
{
	struct rb_tcp_probe *p = payload;
	socklen_t len = sizeof(int);
	int soerr = 0;

	(void)mask;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		soerr = errno;
	if (soerr == 0) {
		complete(p, 0);
		return;
	}
	p->last_errno = soerr;
	rb_evloop_del_fd(loop, fd);
	close(fd);
	p->fd = -1;
	try_next(p);
}

static void
on_deadline(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct rb_tcp_probe *p = payload;
	char dur[32];
	char *t = target_name(p);

	(void)loop;
	(void)id;
	p->deadline_timer = 0;
	rb_duration_format(dur, sizeof(dur), p->timeout_ms);
	rb_error_set(&p->res.err, RB_ETIMEOUT,
	    "connection to '%s' timed out after %s", t, dur);
	free(t);
	complete(p, RB_ETIMEOUT);
}

int
rb_tcp_split_target(char **out_host, char **out_port, const char *target)
{
	const char *colon, *host, *hend;
	size_t i;

	if (target == NULL)
		return RB_EINVAL;
	if (target[0] == '[') {
		host = target + 1;
		hend = strchr(host, ']');
		if (hend == NULL || hend[1] != ':')
			return RB_EINVAL;
		colon = hend + 1;
	} else {
		host = target;
		colon = strrchr(target, ':');
		if (colon == NULL)
			return RB_EINVAL;
		hend = colon;
		if (memchr(host, ':', (size_t)(hend - host)) != NULL ||
		    memchr(host, '[', (size_t)(hend - host)) != NULL ||
		    memchr(host, ']', (size_t)(hend - host)) != NULL)
			return RB_EINVAL; /* IPv6 needs brackets */
	}
	if (hend == host || colon[1] == '\0')
		return RB_EINVAL;
	for (i = 1; colon[i] != '\0'; i++)
		if (!((colon[i] >= '0' && colon[i] <= '9') ||
			(colon[i] >= 'a' && colon[i] <= 'z') ||
			colon[i] == '-'))
			return RB_EINVAL;
	*out_host = xstrndup(host, (size_t)(hend - host));
	*out_port = xstrdup(colon + 1);
	return 0;
}

int
rb_tcp_start(struct rb_tcp_probe **out, struct rb_evloop *loop,
    const struct rb_tcp_request *req, struct rb_error *err)
{
	struct rb_tcp_probe *p;
	struct addrinfo hints;
	int gai;

	if (req->host == NULL || *req->host == '\0' || req->port == NULL ||
	    *req->port == '\0' || req->on_done == NULL)
		return rb_error_set(err, RB_EINVAL,
		    "TCP probe without a host, a port or a callback");
	p = xcalloc(1, sizeof(*p));
	p->loop = loop;
	p->fd = -1;
	p->host = xstrdup(req->host);
	p->port = xstrdup(req->port);
	p->timeout_ms =
	    req->timeout_ms > 0 ? req->timeout_ms : RB_TCP_TIMEOUT_MS;
	p->on_done = req->on_done;
	p->payload = req->payload;
	p->res.start_ms = rb_now_ms();

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST;
	gai = getaddrinfo(p->host, p->port, &hints, &p->addrs);
	if (gai == EAI_NONAME) {
		/* A name: this lookup blocks (see probe.h). */
		hints.ai_flags = AI_ADDRCONFIG;
		gai = getaddrinfo(p->host, p->port, &hints, &p->addrs);
	}
	if (out != NULL)
		*out = p;
	if (gai != 0) {
		char *t = target_name(p);

		p->addrs = NULL;
		rb_error_set(&p->res.err, RB_ENOTFOUND,
		    "cannot resolve '%s': %s", t,
		    gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
		free(t);
		complete(p, RB_ENOTFOUND);
		return 0;
	}
	p->next = p->addrs;
	p->deadline_timer = rb_evloop_add_timer(
	    loop, p->res.start_ms + p->timeout_ms, on_deadline, p);
	try_next(p);
	return 0;
}

void
rb_tcp_cancel(struct rb_tcp_probe *p)
{
	probe_free(p);
}
