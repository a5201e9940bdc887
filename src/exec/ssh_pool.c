/*
 * ssh_pool.c - the SSH session pool: one libssh2 session per inventory
 * host, opened when its first command is queued and reused by all later
 * ones. Each host runs a small state machine on the pool's event loop:
 * resolve (getaddrinfo_a), non-blocking connect with TCP_NODELAY set
 * before the handshake, SSH handshake, host-key check
 * (ssh_known_hosts.c), public-key authentication (ssh_auth.c),
 * then channels for its commands (ssh_exec.c), plus keepalives.
 *
 * host_pump() is the single place that moves a host forward. It runs when
 * the socket is ready (registered for what libssh2 says it is blocked on),
 * from a zero-delay "kick" timer when something changed (a new or stopped
 * command), and from the phase timers. It is not re-entrant; callbacks
 * never run inside it except rb_ssh_cmd.on_line.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec/ssh_int.h"
#include "runbook/evloop.h"
#include "runbook/model.h"
#include "runbook/util.h"
#include "runbook/banned.h"

/* An asynchronous lookup: glibc writes into cb from its own thread. */
struct resolve {
	struct gaicb cb;
	struct addrinfo hints;
	char *node;
	char service[8];
};

/* The longest we poll an unfinished lookup. */
#define RESOLVE_POLL_MAX_MS 50

static bool libssh2_initialised;

static void close_session(struct ssh_host *h, bool graceful);
static void resolve_poll(struct rb_evloop *loop, uint64_t id, void *payload);
static void keepalive_fire(struct rb_evloop *loop, uint64_t id, void *payload);

/* ------------------------------------------------------------- errors */

bool
ssh_error_is_fatal(int rc)
{
	switch (rc) {
	case 0:
	case LIBSSH2_ERROR_EAGAIN:
	case LIBSSH2_ERROR_CHANNEL_FAILURE:
	case LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED:
	case LIBSSH2_ERROR_CHANNEL_UNKNOWN:
	case LIBSSH2_ERROR_CHANNEL_CLOSED:
	case LIBSSH2_ERROR_CHANNEL_EOF_SENT:
	case LIBSSH2_ERROR_CHANNEL_WINDOW_EXCEEDED:
	case LIBSSH2_ERROR_CHANNEL_PACKET_EXCEEDED:
	case LIBSSH2_ERROR_CHANNEL_OUTOFORDER:
	case LIBSSH2_ERROR_REQUEST_DENIED:
	case LIBSSH2_ERROR_INVAL:
		return false;
	default:
		return true;
	}
}

const char *
ssh_last_error(LIBSSH2_SESSION *s, int *code)
{
	char *msg = NULL;
	int len = 0, rc;

	if (s == NULL)
		return "no session";
	rc = libssh2_session_last_error(s, &msg, &len, 0);
	if (code != NULL)
		*code = rc;
	return msg != NULL && *msg != '\0' ? msg : "unknown libssh2 error";
}

/* ------------------------------------------------------------- pool */

int
rb_ssh_pool_new(struct rb_ssh_pool **out, struct rb_evloop *loop,
    const struct rb_ssh_opts *opts, struct rb_error *err)
{
	static const struct rb_ssh_opts defaults = RB_SSH_OPTS_INIT;
	struct rb_ssh_pool *pool;
	const char *home, *agent;
	struct passwd *pw;

	if (loop == NULL)
		return rb_error_set(err, RB_EINVAL, "no event loop");
	if (!libssh2_initialised) {
		if (libssh2_init(0) != 0)
			return rb_error_set(
			    err, RB_ERROR, "cannot initialise libssh2");
		libssh2_initialised = true;
	}
	pool = xcalloc(1, sizeof(*pool));
	pool->loop = loop;
	pool->opts = opts != NULL ? *opts : defaults;
	if (pool->opts.connect_timeout_ms <= 0)
		pool->opts.connect_timeout_ms = RB_SSH_CONNECT_TIMEOUT_MS;
	if (pool->opts.auth_timeout_ms <= 0)
		pool->opts.auth_timeout_ms = RB_SSH_AUTH_TIMEOUT_MS;
	if (pool->opts.kill_grace_ms <= 0)
		pool->opts.kill_grace_ms = RB_SSH_KILL_GRACE_MS;
	if (pool->opts.keepalive_s < 0)
		pool->opts.keepalive_s = 0;
	if (pool->opts.max_channels == 0)
		pool->opts.max_channels = RB_SSH_MAX_CHANNELS;

	home = pool->opts.home;
	if (home == NULL || *home == '\0')
		home = getenv("HOME");
	if ((home == NULL || *home == '\0') &&
	    (pw = getpwuid(geteuid())) != NULL)
		home = pw->pw_dir;
	pool->home = xstrdup(home != NULL && *home != '\0' ? home : "/");
	agent = pool->opts.agent_socket;
	if (agent == NULL)
		agent = getenv("SSH_AUTH_SOCK");
	pool->agent_socket =
	    agent != NULL && *agent != '\0' ? xstrdup(agent) : NULL;
	pool->opts.home = pool->home;
	pool->opts.agent_socket = pool->agent_socket;

	pool->kh_session = libssh2_session_init();
	if (pool->kh_session == NULL) {
		free(pool->home);
		free(pool->agent_socket);
		free(pool);
		return rb_error_set(err, RB_ERROR,
		    "cannot create an SSH session: out of memory");
	}
	*out = pool;
	return 0;
}

/* Free h's session and everything it owns; its commands are gone. */
static void
host_free(struct ssh_host *h)
{
	struct rb_evloop *loop = h->pool->loop;
	struct rb_ssh_exec *x;

	while ((x = h->queue.head) != NULL)
		exec_free(x);
	while ((x = h->active.head) != NULL) {
		x->ch = NULL; /* libssh2_session_free() frees channels */
		exec_free(x);
	}
	close_session(h, true);
	if (h->kick_timer != 0)
		rb_evloop_cancel_timer(loop, h->kick_timer);
	free(h->name);
	free(h->address);
	free(h->user);
	free(h->identity);
	free(h->known_hosts);
	free(h->hostport);
	rb_strvec_release(&h->ident_files);
	rb_buf_release(&h->auth_tried);
	free(h);
}

void
rb_ssh_pool_free(struct rb_ssh_pool *pool)
{
	struct rb_ssh_exec *x;
	size_t i;

	if (pool == NULL)
		return;
	if (pool->done_timer != 0)
		rb_evloop_cancel_timer(pool->loop, pool->done_timer);
	while ((x = pool->done.head) != NULL)
		exec_free(x);
	for (i = 0; i < pool->nhosts; i++)
		host_free(pool->hosts[i]);
	free(pool->hosts);
	ssh_kh_free_all(pool);
	libssh2_session_free(pool->kh_session);
	free(pool->home);
	free(pool->agent_socket);
	free(pool);
}

size_t
rb_ssh_pool_pending(const struct rb_ssh_pool *pool)
{
	return pool != NULL ? pool->pending : 0;
}

void
rb_ssh_pool_stats(struct rb_ssh_stats *out, const struct rb_ssh_pool *pool)
{
	*out = pool->stats;
}

/* ------------------------------------------------------------- hosts */

/* path with a leading "~/" (or "~") replaced by the pool's home. */
static char *
expand_home(const struct rb_ssh_pool *pool, const char *path)
{
	if (path[0] == '~' && (path[1] == '/' || path[1] == '\0'))
		return xstrfmt("%s%s", pool->home, path + 1);
	return xstrdup(path);
}

/* Whether s can be written into a known_hosts line and an error message. */
static bool
valid_address(const char *s)
{
	const char *p;

	if (*s == '\0' || strlen(s) > 253)
		return false;
	for (p = s; *p != '\0'; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '.' || c == '-' ||
			c == '_' || c == ':' || c == '%'))
			return false;
	}
	return true;
}

/* Whether s is a plausible user name (no blanks or control bytes). */
static bool
valid_user(const char *s)
{
	const unsigned char *p;

	if (*s == '\0' || strlen(s) > 256)
		return false;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

struct ssh_host *
ssh_host_get(
    struct rb_ssh_pool *pool, const struct rb_host *host, struct rb_error *err)
{
	const char *address, *user;
	struct ssh_host *h;
	struct passwd *pw;
	size_t i;

	for (i = 0; i < pool->nhosts; i++)
		if (strcmp(pool->hosts[i]->name, host->name) == 0)
			return pool->hosts[i];
	address = host->address != NULL && *host->address != '\0'
	    ? host->address
	    : host->name;
	if (!valid_address(address)) {
		rb_error_set(err, RB_EINVAL,
		    "invalid address '%.64s' for host '%.64s'", address,
		    host->name);
		return NULL;
	}
	user = host->user;
	if (user == NULL || *user == '\0')
		user = getenv("USER");
	if ((user == NULL || *user == '\0') &&
	    (pw = getpwuid(geteuid())) != NULL)
		user = pw->pw_name;
	if (user == NULL || !valid_user(user)) {
		rb_error_set(err, RB_EINVAL, "no valid user for host '%.64s'",
		    host->name);
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->pool = pool;
	h->name = xstrdup(host->name);
	h->address = xstrdup(address);
	h->user = xstrdup(user);
	h->port = host->port > 0 ? host->port : 22;
	h->identity = host->identity != NULL && *host->identity != '\0'
	    ? expand_home(pool, host->identity)
	    : NULL;
	h->known_hosts = expand_home(pool,
	    host->known_hosts != NULL && *host->known_hosts != '\0'
		? host->known_hosts
		: "~/.ssh/known_hosts");
	h->hostport = h->port == 22 ? xstrdup(address)
				    : xstrfmt("[%s]:%d", address, h->port);
	h->fd = -1;
	h->max_channels = pool->opts.max_channels;
	h->state = HS_IDLE;
	rb_strvec_init(&h->ident_files);
	rb_buf_init(&h->auth_tried, 0);
	RB_ALLOC_GROW(pool->hosts, pool->nhosts + 1, pool->hosts_alloc);
	pool->hosts[pool->nhosts++] = h;
	return h;
}

/* ------------------------------------------------------------- plumbing */

static void
kick_fire(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct ssh_host *h = payload;

	(void)loop;
	(void)id;
	h->kick_timer = 0;
	host_pump(h);
}

void
host_kick(struct ssh_host *h)
{
	if (h->kick_timer == 0)
		h->kick_timer =
		    rb_evloop_add_timer(h->pool->loop, 0, kick_fire, h);
}

static void
host_io(struct rb_evloop *loop, int fd, int mask, void *payload)
{
	(void)loop;
	(void)fd;
	(void)mask;
	host_pump(payload);
}

/* What libssh2 is blocked on, as loop events (dflt when nothing). */
static int
blocked_mask(struct ssh_host *h, int dflt)
{
	int dirs = libssh2_session_block_directions(h->session), m = 0;

	if (dirs & LIBSSH2_SESSION_BLOCK_INBOUND)
		m |= RB_EVLOOP_READ;
	if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		m |= RB_EVLOOP_WRITE;
	return m != 0 ? m : dflt;
}

/* Register h's socket for what its state waits for. */
static void
update_fd(struct ssh_host *h)
{
	struct rb_evloop *loop = h->pool->loop;
	int want = 0;

	if (h->fd >= 0) {
		switch (h->state) {
		case HS_CONNECT:
			want = RB_EVLOOP_WRITE;
			break;
		case HS_HANDSHAKE:
		case HS_AUTH:
			want = blocked_mask(h, RB_EVLOOP_READ);
			break;
		case HS_READY:
			/*
			 * Channels read whatever arrives. While a packet is
			 * half sent only its owner may run, and it needs
			 * the socket writable: waiting for READ then would
			 * spin on data nobody may read yet.
			 */
			if (h->out_owner != NULL)
				want = RB_EVLOOP_WRITE;
			else if (h->active.nr > 0)
				want = RB_EVLOOP_READ;
			break;
		default:
			break;
		}
	}
	if (want == h->fd_mask)
		return;
	if (want == 0)
		rb_evloop_del_fd(loop, h->fd);
	else if (h->fd_mask == 0)
		(void)rb_evloop_add_fd(loop, h->fd, want, host_io, h);
	else
		(void)rb_evloop_mod_fd(loop, h->fd, want);
	h->fd_mask = want;
}

static void
cancel_timer(struct ssh_host *h, uint64_t *id)
{
	if (*id != 0)
		rb_evloop_cancel_timer(h->pool->loop, *id);
	*id = 0;
}

/* Forget an unfinished lookup; glibc keeps one it cannot cancel. */
static void
resolve_abandon(struct ssh_host *h)
{
	struct resolve *rs = h->rs;

	if (rs == NULL)
		return;
	h->rs = NULL;
	cancel_timer(h, &h->resolve_timer);
	if (gai_cancel(&rs->cb) == EAI_NOTCANCELED &&
	    gai_error(&rs->cb) == EAI_INPROGRESS)
		return; /* still glibc's: left to it (a few bytes) */
	if (rs->cb.ar_result != NULL)
		freeaddrinfo(rs->cb.ar_result);
	free(rs->node);
	free(rs);
}

/* Close h's connection and reset its per-connection state. */
static void
close_session(struct ssh_host *h, bool graceful)
{
	int i;

	cancel_timer(h, &h->phase_timer);
	cancel_timer(h, &h->keepalive_timer);
	if (h->agent != NULL) {
		(void)libssh2_agent_disconnect(h->agent);
		libssh2_agent_free(h->agent);
		h->agent = NULL;
		h->agent_id = NULL;
	}
	if (h->fd_mask != 0) {
		rb_evloop_del_fd(h->pool->loop, h->fd);
		h->fd_mask = 0;
	}
	if (h->session != NULL) {
		if (graceful && h->state == HS_READY)
			(void)libssh2_session_disconnect(
			    h->session, "runbook: done");
		/* Sends fail now instead of blocking: no EAGAIN below. */
		if (h->fd >= 0)
			(void)shutdown(h->fd, SHUT_RDWR);
		for (i = 0; i < 3; i++)
			if (libssh2_session_free(h->session) !=
			    LIBSSH2_ERROR_EAGAIN)
				break;
		h->session = NULL;
	}
	if (h->fd >= 0) {
		close(h->fd);
		h->fd = -1;
	}
	resolve_abandon(h);
	if (h->ai != NULL) {
		freeaddrinfo(h->ai);
		h->ai = NULL;
	}
	h->ai_cur = NULL;
	rb_strvec_release(&h->ident_files);
	rb_buf_reset(&h->auth_tried);
	h->ident_next = 0;
	h->ident_cur = NULL;
	h->auth_rsa = false;
	h->opening = NULL;
	h->out_owner = NULL;
}

/* End every queued command with h->error. */
static void
fail_queue(struct ssh_host *h)
{
	struct rb_ssh_exec *x;

	while ((x = h->queue.head) != NULL)
		exec_fail_host(x, &h->error, false);
}

/* The attempt to get h ready failed (message in h->error). */
void
ssh_connect_failed(struct ssh_host *h, bool permanent)
{
	close_session(h, false);
	h->state = permanent ? HS_FAILED : HS_IDLE;
	h->pool->stats.connect_failures++;
	fail_queue(h);
}

/*
 * The session of a ready host broke (message in h->error). Commands that
 * had not sent a byte of their script are queued again (once) for a new
 * connection; the others end with a host error.
 */
static void
host_lost(struct ssh_host *h)
{
	struct exec_list retry = { NULL, NULL, 0 };
	struct rb_ssh_exec *x, *next;
	struct rb_error lost = h->error;

	rb_error_hint(&lost,
	    "the command may have run in part; check "
	    "'%s' before running it again",
	    h->name);
	for (x = h->active.head; x != NULL; x = next) {
		bool unsent = x->state == XS_OPEN || x->state == XS_EXEC ||
		    (x->state == XS_WRITE && x->script_off == 0 &&
			x->script.len > 0);

		next = x->next;
		x->ch = NULL; /* freed with the session */
		if (unsent && !x->requeued && x->stop == STOP_NONE) {
			exec_list_remove(x);
			x->requeued = true;
			x->state = XS_QUEUED;
			x->result.started = false;
			x->result.exec_ms = 0;
			x->blocked_op = 0;
			exec_list_push(&retry, x);
		} else {
			exec_fail_host(x, x->result.started ? &lost : &h->error,
			    x->result.started);
		}
	}
	while ((x = retry.tail) != NULL) {
		exec_list_remove(x);
		exec_list_push_front(&h->queue, x);
	}
	close_session(h, false);
	h->state = HS_IDLE;
}

/* ------------------------------------------------------------- connect */

static void
phase_timeout(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct ssh_host *h = payload;
	const char *what;
	char d[32];
	int64_t ms;

	(void)loop;
	(void)id;
	h->phase_timer = 0;
	switch (h->state) {
	case HS_RESOLVE:
		what = "resolving the address of";
		break;
	case HS_CONNECT:
		what = "connecting to";
		break;
	case HS_HANDSHAKE:
		what = "in the SSH handshake with";
		break;
	default:
		what = "authenticating to";
		break;
	}
	ms = h->state == HS_AUTH ? h->pool->opts.auth_timeout_ms
				 : h->pool->opts.connect_timeout_ms;
	rb_duration_format(d, sizeof(d), ms);
	rb_error_set(&h->error, RB_ETIMEOUT,
	    "timed out after %s %s '%s' (%s port %d)", d, what, h->name,
	    h->address, h->port);
	rb_error_hint(&h->error,
	    "check that the host is up, that port %d "
	    "is reachable from here and that sshd answers on it",
	    h->port);
	ssh_connect_failed(h, false);
}

/* TCP_NODELAY before the handshake (40 ms per round trip otherwise, see
 * baselines.md), and keepalives so a dead peer is noticed. */
static void
set_sockopts(int fd)
{
	int one = 1, idle = 60, intvl = 15, cnt = 4;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* Start connecting h: numeric addresses at once, names via glibc. */
static void
connect_start(struct ssh_host *h)
{
	struct rb_ssh_pool *pool = h->pool;
	struct addrinfo hints, *res = NULL;
	struct gaicb *list[1];
	struct resolve *rs;
	char service[8];
	int rc;

	rb_error_clear(&h->error);
	h->connect_errno = ECONNREFUSED;
	h->phase_timer = rb_evloop_add_timer(pool->loop,
	    rb_now_ms() + pool->opts.connect_timeout_ms, phase_timeout, h);
	snprintf(service, sizeof(service), "%d", h->port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(h->address, service, &hints, &res);
	if (rc == 0) {
		h->ai = h->ai_cur = res;
		h->state = HS_CONNECT;
		return;
	}
	rs = xcalloc(1, sizeof(*rs));
	rs->node = xstrdup(h->address);
	memcpy(rs->service, service, sizeof(service));
	rs->hints.ai_socktype = SOCK_STREAM;
	rs->hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
	rs->cb.ar_name = rs->node;
	rs->cb.ar_service = rs->service;
	rs->cb.ar_request = &rs->hints;
	list[0] = &rs->cb;
	if ((rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL)) != 0) {
		rb_error_set(&h->error, RB_ERROR,
		    "cannot resolve '%s' (host '%s'): %s", h->address, h->name,
		    gai_strerror(rc));
		free(rs->node);
		free(rs);
		ssh_connect_failed(h, false);
		return;
	}
	h->rs = rs;
	h->state = HS_RESOLVE;
	h->resolve_wait = 1;
	h->resolve_timer =
	    rb_evloop_add_timer(pool->loop, rb_now_ms() + 1, resolve_poll, h);
}

/* Poll the lookup; glibc gives no fd to wait on without a thread of ours. */
static void
resolve_poll(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct ssh_host *h = payload;
	struct resolve *rs = h->rs;
	int rc;

	(void)id;
	h->resolve_timer = 0;
	rc = gai_error(&rs->cb);
	if (rc == EAI_INPROGRESS) {
		h->resolve_wait *= 2;
		if (h->resolve_wait > RESOLVE_POLL_MAX_MS)
			h->resolve_wait = RESOLVE_POLL_MAX_MS;
		h->resolve_timer = rb_evloop_add_timer(
		    loop, rb_now_ms() + h->resolve_wait, resolve_poll, h);
		return;
	}
	h->rs = NULL;
	if (rc != 0) {
		rb_error_set(&h->error, RB_ERROR,
		    "cannot resolve '%s' (host '%s'): %s", h->address, h->name,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		rb_error_hint(&h->error,
		    "check the host's address in the "
		    "inventory and the DNS");
		if (rs->cb.ar_result != NULL)
			freeaddrinfo(rs->cb.ar_result);
		free(rs->node);
		free(rs);
		ssh_connect_failed(h, false);
		return;
	}
	h->ai = h->ai_cur = rs->cb.ar_result;
	free(rs->node);
	free(rs);
	h->state = HS_CONNECT;
	host_pump(h);
}

/*
 * libssh2's recv, counting what arrives: any call may read packets for
 * every channel of the session into libssh2's queue, so the pump must go
 * round again until a round reads nothing new (see channels_pump()).
 */
static ssize_t
counting_recv(
    libssh2_socket_t fd, void *buf, size_t len, int flags, void **abstract)
{
	struct ssh_host *h = *abstract;
	ssize_t n;

	do
		n = recv(fd, buf, len, flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	h->received += (uint64_t)n;
	return n;
}

/* Create the libssh2 session on the connected socket. */
static void
session_start(struct ssh_host *h)
{
	char *prefs;

	h->session = libssh2_session_init_ex(NULL, NULL, NULL, h);
	if (h->session == NULL) {
		rb_error_set(&h->error, RB_ERROR,
		    "cannot create an SSH session for '%s': out of memory",
		    h->name);
		ssh_connect_failed(h, false);
		return;
	}
	libssh2_session_set_blocking(h->session, 0);
	(void)libssh2_session_callback_set(
	    h->session, LIBSSH2_CALLBACK_RECV, (void *)counting_recv);
	if (h->pool->opts.keepalive_s > 0)
		libssh2_keepalive_config(
		    h->session, 0, (unsigned)h->pool->opts.keepalive_s);
	prefs = ssh_hostkey_prefs(h);
	(void)libssh2_session_method_pref(
	    h->session, LIBSSH2_METHOD_HOSTKEY, prefs);
	free(prefs);
	h->state = HS_HANDSHAKE;
}

/* Drive the non-blocking connect() through h's addresses. */
static void
connect_step(struct ssh_host *h)
{
	for (;;) {
		const struct addrinfo *ai;
		int fd;

		if (h->fd >= 0) {
			struct pollfd p = { h->fd, POLLOUT, 0 };
			socklen_t len = sizeof(int);
			int soerr = 0;

			if (poll(&p, 1, 0) == 0)
				return; /* still in progress */
			if (getsockopt(
				h->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
				soerr = errno;
			if (soerr == 0) {
				session_start(h);
				return;
			}
			h->connect_errno = soerr;
			if (h->fd_mask != 0)
				rb_evloop_del_fd(h->pool->loop, h->fd);
			h->fd_mask = 0;
			close(h->fd);
			h->fd = -1;
			h->ai_cur = h->ai_cur->ai_next;
		}
		if ((ai = h->ai_cur) == NULL) {
			rb_error_set(&h->error, RB_ERROR,
			    "cannot connect to '%s' (%s port %d): %s", h->name,
			    h->address, h->port, strerror(h->connect_errno));
			rb_error_hint(&h->error,
			    "check that the host is up, "
			    "that sshd listens on port %d and that no "
			    "firewall blocks it",
			    h->port);
			ssh_connect_failed(h, false);
			return;
		}
		fd = socket(ai->ai_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0) {
			h->connect_errno = errno;
			h->ai_cur = ai->ai_next;
			continue;
		}
		set_sockopts(fd);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno == EINPROGRESS) {
			h->fd = fd;
			continue; /* the poll above tells */
		}
		h->connect_errno = errno;
		close(fd);
		h->ai_cur = ai->ai_next;
	}
}

static void
handshake_step(struct ssh_host *h)
{
	struct rb_ssh_pool *pool = h->pool;
	int rc = libssh2_session_handshake(h->session, h->fd);

	if (rc == LIBSSH2_ERROR_EAGAIN)
		return;
	if (rc != 0) {
		rb_error_set(&h->error, RB_ERROR,
		    "SSH handshake with '%s' (%s port %d) failed: %s", h->name,
		    h->address, h->port, ssh_last_error(h->session, NULL));
		rb_error_hint(&h->error,
		    "check that port %d is an SSH server "
		    "with an ed25519 or ECDSA host key (libssh2 1.10 cannot "
		    "verify RSA host keys against OpenSSH 8.8 and later)",
		    h->port);
		ssh_connect_failed(h, false);
		return;
	}
	if (ssh_hostkey_verify(h) != 0) {
		ssh_connect_failed(h, true); /* no channel, ever */
		return;
	}
	cancel_timer(h, &h->phase_timer);
	h->phase_timer = rb_evloop_add_timer(pool->loop,
	    rb_now_ms() + pool->opts.auth_timeout_ms, phase_timeout, h);
	ssh_auth_start(h);
	h->state = HS_AUTH;
}

/* ------------------------------------------------------------- ready */

void
ssh_host_ready(struct ssh_host *h)
{
	struct rb_ssh_pool *pool = h->pool;

	cancel_timer(h, &h->phase_timer);
	h->max_channels = pool->opts.max_channels;
	h->state = HS_READY;
	pool->stats.connects++;
	if (pool->opts.keepalive_s > 0)
		h->keepalive_timer = rb_evloop_add_timer(pool->loop,
		    rb_now_ms() + pool->opts.keepalive_s * 1000LL,
		    keepalive_fire, h);
}

/* Send a keepalive when the session is quiet (libssh2 decides). */
static void
keepalive_fire(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct ssh_host *h = payload;
	struct rb_ssh_exec *x;
	bool quiet = h->out_owner == NULL;
	int next = h->pool->opts.keepalive_s, rc;

	(void)id;
	h->keepalive_timer = 0;
	if (h->state != HS_READY)
		return;
	/* libssh2 drops a keepalive that would block, which would leave a
	 * half-sent packet nobody can finish: only send when no command is
	 * sending. */
	for (x = h->active.head; x != NULL && quiet; x = x->next)
		if (x->state != XS_RUN && x->state != XS_CLOSE)
			quiet = false;
	if (quiet) {
		rc = libssh2_keepalive_send(h->session, &next);
		if (rc != 0 && rc != LIBSSH2_ERROR_EAGAIN) {
			rb_error_set(&h->error, RB_ERROR,
			    "connection to '%s' (%s port %d) failed: %s",
			    h->name, h->address, h->port,
			    ssh_last_error(h->session, NULL));
			host_lost(h);
			host_kick(h);
			return;
		}
	}
	if (next < 1)
		next = 1;
	h->keepalive_timer = rb_evloop_add_timer(
	    loop, rb_now_ms() + next * 1000LL, keepalive_fire, h);
}

/* Open channels for queued commands and move every command along. */
static void
channels_pump(struct ssh_host *h)
{
	enum step_result sr;
	int pass;

	for (pass = 0; pass < 16; pass++) {
		struct rb_ssh_exec *x, *next;
		uint64_t received = h->received;
		bool progress = false;

		if (h->out_owner != NULL) {
			/* Only the owner of the half-sent packet may go. */
			if (exec_step(h->out_owner) == STEP_FATAL) {
				host_lost(h);
				return;
			}
			if (h->out_owner != NULL)
				return;
			continue;
		}
		for (x = h->active.head; x != NULL && h->out_owner == NULL;
		    x = next) {
			next = x->next;
			sr = exec_step(x);
			if (sr == STEP_FATAL) {
				host_lost(h);
				return;
			}
			if (sr != STEP_WAIT)
				progress = true;
		}
		while (h->out_owner == NULL && h->opening == NULL &&
		    h->queue.head != NULL && h->active.nr < h->max_channels) {
			x = h->queue.head;
			if (x->stop != STOP_NONE) {
				exec_finish(x);
				continue;
			}
			exec_list_remove(x);
			exec_list_push(&h->active, x);
			x->state = XS_OPEN;
			h->opening = x;
			if (exec_step(x) == STEP_FATAL) {
				host_lost(h);
				return;
			}
			progress = true;
		}
		/* Packets read during this round may be queued for commands
		 * that were asked before they arrived: ask everyone again. */
		if (!progress && h->received == received)
			return;
	}
	host_kick(h); /* still busy: let the others have a turn */
}

/* ------------------------------------------------------------- pump */

void
host_pump(struct ssh_host *h)
{
	enum host_state before;

	if (h->pumping)
		return;
	h->pumping = true;
	do {
		before = h->state;
		switch (h->state) {
		case HS_IDLE:
			if (h->queue.head != NULL)
				connect_start(h);
			break;
		case HS_RESOLVE:
			break;
		case HS_CONNECT:
			connect_step(h);
			break;
		case HS_HANDSHAKE:
			handshake_step(h);
			break;
		case HS_AUTH:
			ssh_auth_step(h);
			break;
		case HS_READY:
			channels_pump(h);
			break;
		case HS_FAILED:
			fail_queue(h);
			break;
		}
	} while (h->state != before);
	update_fd(h);
	h->pumping = false;
}
