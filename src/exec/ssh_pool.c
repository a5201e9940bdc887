/*
 * ssh_pool.c - the SSH session pool: one libssh2 session per inventory
 * host, opened when its first command is queued and reused by all later
 * ones. Each host runs a small state machine on the pool's event loop:
 * resolve (getaddrinfo_a), non-blocking connect with TCP_NODELAY set
 * before the handshake, SSH handshake, host-key check
 * (ssh_known_hosts.c), public-key authentication (agent, then key files),
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

/*
 * libssh2 1.10 with OpenSSL 3 leaks the BIGNUMs of every ECDSA private key
 * file it reads (~112 bytes per login; fixed in libssh2 1.11). Under
 * LeakSanitizer that one call is excluded, so `make asan` stays clean
 * without suppressing anything of ours.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define RB_LSAN_EXCLUDE 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define RB_LSAN_EXCLUDE 1
#endif
#ifdef RB_LSAN_EXCLUDE
#include <sanitizer/lsan_interface.h>
#endif

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

/* Authentication steps, in order. */
enum {
	AUTH_LIST,	 /* which methods the server takes */
	AUTH_AGENT,	 /* connect to ssh-agent, list its keys */
	AUTH_AGENT_NEXT, /* pick the next agent key */
	AUTH_AGENT_TRY,	 /* offer it */
	AUTH_FILE,	 /* pick the next key file */
	AUTH_FILE_TRY	 /* offer it */
};

/* The longest we poll an unfinished lookup. */
#define RESOLVE_POLL_MAX_MS 50

static bool libssh2_initialised;

static void connect_failed(struct ssh_host *h, bool permanent);
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
static void
connect_failed(struct ssh_host *h, bool permanent)
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
	connect_failed(h, false);
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
		connect_failed(h, false);
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
		connect_failed(h, false);
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
		connect_failed(h, false);
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
			connect_failed(h, false);
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
		connect_failed(h, false);
		return;
	}
	if (ssh_hostkey_verify(h) != 0) {
		connect_failed(h, true); /* no channel, ever */
		return;
	}
	cancel_timer(h, &h->phase_timer);
	h->phase_timer = rb_evloop_add_timer(pool->loop,
	    rb_now_ms() + pool->opts.auth_timeout_ms, phase_timeout, h);
	h->auth_step = AUTH_LIST;
	h->state = HS_AUTH;
}

/* ------------------------------------------------------------- auth */

/* The key type named at the start of a public key blob. */
static void
blob_type(char *out, size_t outsz, const unsigned char *p, size_t len)
{
	uint32_t n;

	snprintf(out, outsz, "unknown");
	if (len < 4)
		return;
	n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
	    p[3];
	if (n > len - 4 || n >= outsz)
		return;
	memcpy(out, p + 4, n);
	out[n] = '\0';
}

/* The key type of an OpenSSH "openssh-key-v1" private key file body. */
static void
openssh_key_type(char *out, size_t outsz, const char *pem)
{
	static const char magic[] = "openssh-key-v1";
	const char *b = strstr(pem, "-----BEGIN OPENSSH PRIVATE KEY-----");
	const char *e = b != NULL ? strstr(b, "-----END") : NULL;
	struct rb_buf b64 = RB_BUF_INIT;
	unsigned char *raw = NULL;
	const unsigned char *p, *end;
	int n, i;

	if (b == NULL || e == NULL)
		return;
	for (b += 35; b < e; b++)
		if (*b != '\n' && *b != '\r' && *b != ' ' && *b != '\t')
			rb_buf_addch(&b64, *b);
	if (b64.len == 0 || b64.len % 4 != 0 || b64.len > 1 << 20)
		goto out;
	raw = xmalloc(b64.len / 4 * 3 + 1);
	if ((n = EVP_DecodeBlock(raw, (unsigned char *)b64.buf, (int)b64.len)) <
	    (int)sizeof(magic))
		goto out;
	if (memcmp(raw, magic, sizeof(magic)) != 0)
		goto out;
	p = raw + sizeof(magic);
	end = raw + n;
	/* cipher, kdf, kdf options: strings; then the key count. */
	for (i = 0; i < 3; i++) {
		uint32_t len;

		if (end - p < 4)
			goto out;
		len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
		if (len > (size_t)(end - p - 4))
			goto out;
		p += 4 + len;
	}
	if (end - p < 8)
		goto out;
	p += 8; /* key count, then the first public key's length */
	blob_type(out, outsz, p, (size_t)(end - p));
out:
	free(raw);
	rb_buf_release(&b64);
}

/* The type of the private key in path ("ssh-rsa", ...), or "unknown". */
static void
key_file_type(char *out, size_t outsz, const char *path)
{
	struct rb_buf b = RB_BUF_INIT;
	char *pub;

	snprintf(out, outsz, "unknown");
	if (rb_buf_read_file(&b, path, 1 << 20) == 0) {
		if (strstr(b.buf, "-----BEGIN RSA PRIVATE KEY-----") != NULL)
			snprintf(out, outsz, "ssh-rsa");
		else if (strstr(b.buf, "-----BEGIN EC PRIVATE KEY-----"))
			snprintf(out, outsz, "ecdsa");
		else
			openssh_key_type(out, outsz, b.buf);
		rb_buf_release_secret(&b);
	}
	if (strcmp(out, "unknown") != 0)
		return;
	pub = xstrfmt("%s.pub", path);
	if (rb_buf_read_file(&b, pub, 1 << 16) == 0) {
		size_t n = strcspn(b.buf, " \t\n");

		if (n > 0 && n < outsz) {
			memcpy(out, b.buf, n);
			out[n] = '\0';
		}
	}
	rb_buf_release(&b);
	free(pub);
}

/* Append one "what (why)" to the list of keys tried. */
static void
auth_note(struct ssh_host *h, const char *fmt, ...)
{
	va_list ap;

	if (h->auth_tried.len > 0)
		rb_buf_adds(&h->auth_tried, "; ");
	va_start(ap, fmt);
	rb_buf_vaddf(&h->auth_tried, fmt, ap);
	va_end(ap);
}

/* The session is authenticated. */
static void
auth_ok(struct ssh_host *h)
{
	struct rb_ssh_pool *pool = h->pool;

	cancel_timer(h, &h->phase_timer);
	if (h->agent != NULL) {
		(void)libssh2_agent_disconnect(h->agent);
		libssh2_agent_free(h->agent);
		h->agent = NULL;
		h->agent_id = NULL;
	}
	rb_strvec_release(&h->ident_files);
	rb_buf_reset(&h->auth_tried);
	h->max_channels = pool->opts.max_channels;
	h->state = HS_READY;
	pool->stats.connects++;
	if (pool->opts.keepalive_s > 0)
		h->keepalive_timer = rb_evloop_add_timer(pool->loop,
		    rb_now_ms() + pool->opts.keepalive_s * 1000LL,
		    keepalive_fire, h);
}

/* No key was accepted: say which were tried and what to do. */
static void
auth_failed(struct ssh_host *h)
{
	struct rb_error *e = &h->error;

	if (h->auth_rsa) {
		rb_error_set(e, RB_ERROR,
		    "cannot log in to '%s' (%s port %d) as '%s': the host "
		    "refused the RSA key, and Debian's libssh2 1.10 cannot "
		    "sign RSA keys with SHA-2 (rsa-sha2-256/512), which "
		    "OpenSSH 8.8 and later require (libssh2 issue 634); "
		    "tried: %s",
		    h->name, h->address, h->port, h->user, h->auth_tried.buf);
		rb_error_hint(e,
		    "use an ed25519 key: ssh-keygen -t ed25519, "
		    "add the .pub to ~%s/.ssh/authorized_keys on the host, "
		    "and set 'identity' in the inventory (or load it into "
		    "ssh-agent)",
		    h->user);
	} else if (h->auth_tried.len == 0) {
		rb_error_set(e, RB_ERROR,
		    "cannot log in to '%s' (%s port %d) as '%s': no key to "
		    "offer (no ssh-agent, no ~/.ssh/id_ed25519 or "
		    "~/.ssh/id_ecdsa)",
		    h->name, h->address, h->port, h->user);
		rb_error_hint(e,
		    "create a key with ssh-keygen -t ed25519 and "
		    "install its .pub on the host, or set 'identity' in the "
		    "inventory");
	} else {
		rb_error_set(e, RB_ERROR,
		    "cannot log in to '%s' (%s port %d) as '%s': no key was "
		    "accepted; tried: %s",
		    h->name, h->address, h->port, h->user, h->auth_tried.buf);
		rb_error_hint(e,
		    "add the public key to ~%s/.ssh/"
		    "authorized_keys on the host, or set 'identity' (or "
		    "'user') for the host in the inventory",
		    h->user);
	}
	connect_failed(h, true);
}

/* Connect to the agent and list its keys; false to skip it. */
static bool
agent_start(struct ssh_host *h)
{
	h->agent = libssh2_agent_init(h->session);
	if (h->agent == NULL) {
		auth_note(h, "ssh-agent (cannot use it)");
		return false;
	}
	libssh2_agent_set_identity_path(h->agent, h->pool->agent_socket);
	/* Both talk to the local agent socket, which is blocking. */
	if (libssh2_agent_connect(h->agent) != 0) {
		auth_note(h, "ssh-agent at '%s' (cannot connect)",
		    h->pool->agent_socket);
		goto fail;
	}
	if (libssh2_agent_list_identities(h->agent) != 0) {
		auth_note(h, "ssh-agent (cannot list keys)");
		goto fail;
	}
	h->agent_id = NULL;
	return true;
fail:
	libssh2_agent_free(h->agent);
	h->agent = NULL;
	return false;
}

/* Pick the next existing key file into ident_cur; false when none. */
static bool
next_key_file(struct ssh_host *h)
{
	if (h->ident_next == 0 && h->ident_files.nr == 0) {
		if (h->identity != NULL) {
			rb_strvec_push(&h->ident_files, h->identity);
		} else {
			rb_strvec_pushf(&h->ident_files, "%s/.ssh/id_ed25519",
			    h->pool->home);
			rb_strvec_pushf(
			    &h->ident_files, "%s/.ssh/id_ecdsa", h->pool->home);
		}
	}
	while (h->ident_next < h->ident_files.nr) {
		const char *f = h->ident_files.v[h->ident_next++];

		if (access(f, F_OK) == 0) {
			h->ident_cur = f;
			return true;
		}
		/* A default that does not exist is not worth a word. */
		if (h->identity != NULL)
			auth_note(h, "'%s' (%s)", f, strerror(errno));
	}
	return false;
}

static void
auth_step(struct ssh_host *h)
{
	LIBSSH2_SESSION *s = h->session;
	unsigned ulen = (unsigned)strlen(h->user);
	char type[64];
	char *list;
	int rc;

	for (;;) {
		switch (h->auth_step) {
		case AUTH_LIST:
			list = libssh2_userauth_list(s, h->user, ulen);
			if (list == NULL) {
				if (libssh2_userauth_authenticated(s)) {
					auth_ok(h); /* "none" was enough */
					return;
				}
				if (libssh2_session_last_errno(s) ==
				    LIBSSH2_ERROR_EAGAIN)
					return;
				rb_error_set(&h->error, RB_ERROR,
				    "cannot log in to '%s' (%s port %d): %s",
				    h->name, h->address, h->port,
				    ssh_last_error(s, NULL));
				connect_failed(h, false);
				return;
			}
			if (strstr(list, "publickey") == NULL) {
				rb_error_set(&h->error, RB_ERROR,
				    "cannot log in to '%s' (%s port %d) as "
				    "'%s': it does not accept public keys "
				    "(it offers: %s)",
				    h->name, h->address, h->port, h->user,
				    list);
				rb_error_hint(&h->error,
				    "enable "
				    "PubkeyAuthentication in the host's "
				    "sshd_config; runbook never sends "
				    "passwords");
				connect_failed(h, true);
				return;
			}
			h->auth_step = h->pool->agent_socket != NULL
			    ? AUTH_AGENT
			    : AUTH_FILE;
			break;

		case AUTH_AGENT:
			h->auth_step =
			    agent_start(h) ? AUTH_AGENT_NEXT : AUTH_FILE;
			break;

		case AUTH_AGENT_NEXT:
			rc = libssh2_agent_get_identity(
			    h->agent, &h->agent_id, h->agent_id);
			if (rc != 0) {
				(void)libssh2_agent_disconnect(h->agent);
				libssh2_agent_free(h->agent);
				h->agent = NULL;
				h->agent_id = NULL;
				h->auth_step = AUTH_FILE;
				break;
			}
			h->auth_step = AUTH_AGENT_TRY;
			break;

		case AUTH_AGENT_TRY:
			rc = libssh2_agent_userauth(
			    h->agent, h->user, h->agent_id);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return;
			if (rc == 0) {
				auth_ok(h);
				return;
			}
			if (ssh_error_is_fatal(rc) &&
			    rc != LIBSSH2_ERROR_AUTHENTICATION_FAILED &&
			    rc != LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED &&
			    rc != LIBSSH2_ERROR_AGENT_PROTOCOL &&
			    rc != LIBSSH2_ERROR_PUBLICKEY_PROTOCOL &&
			    rc != LIBSSH2_ERROR_ALLOC &&
			    rc != LIBSSH2_ERROR_METHOD_NONE) {
				rb_error_set(&h->error, RB_ERROR,
				    "cannot log in to '%s' (%s port %d): %s",
				    h->name, h->address, h->port,
				    ssh_last_error(s, NULL));
				connect_failed(h, false);
				return;
			}
			blob_type(type, sizeof(type), h->agent_id->blob,
			    h->agent_id->blob_len);
			if (strcmp(type, "ssh-rsa") == 0)
				h->auth_rsa = true;
			auth_note(h, "agent key %s '%s' (refused)", type,
			    h->agent_id->comment != NULL ? h->agent_id->comment
							 : "");
			h->auth_step = AUTH_AGENT_NEXT;
			break;

		case AUTH_FILE:
			if (!next_key_file(h)) {
				auth_failed(h);
				return;
			}
			h->auth_step = AUTH_FILE_TRY;
			break;

		case AUTH_FILE_TRY:
#ifdef RB_LSAN_EXCLUDE
			__lsan_disable();
#endif
			rc = libssh2_userauth_publickey_fromfile_ex(
			    s, h->user, ulen, NULL, h->ident_cur, NULL);
#ifdef RB_LSAN_EXCLUDE
			__lsan_enable();
#endif
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return;
			if (rc == 0) {
				auth_ok(h);
				return;
			}
			key_file_type(type, sizeof(type), h->ident_cur);
			if (rc == LIBSSH2_ERROR_FILE) {
				auth_note(h,
				    "'%s' (cannot use it: %s; keys "
				    "with a passphrase need ssh-agent)",
				    h->ident_cur, ssh_last_error(s, NULL));
			} else if (ssh_error_is_fatal(rc) &&
			    rc != LIBSSH2_ERROR_AUTHENTICATION_FAILED &&
			    rc != LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED &&
			    rc != LIBSSH2_ERROR_PUBLICKEY_PROTOCOL &&
			    rc != LIBSSH2_ERROR_METHOD_NONE) {
				rb_error_set(&h->error, RB_ERROR,
				    "cannot log in to '%s' (%s port %d): %s",
				    h->name, h->address, h->port,
				    ssh_last_error(s, NULL));
				connect_failed(h, false);
				return;
			} else {
				if (strcmp(type, "ssh-rsa") == 0)
					h->auth_rsa = true;
				auth_note(
				    h, "'%s' %s (refused)", h->ident_cur, type);
			}
			h->auth_step = AUTH_FILE;
			break;
		}
	}
}

/* ------------------------------------------------------------- ready */

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
			auth_step(h);
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
