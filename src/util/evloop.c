/*
 * evloop.c - one poll(2) loop of fd events, timers and signals (redis ae).
 *
 * fd events live in a table indexed by fd plus a dense pollfd array that is
 * handed to poll(2) as is; timers live in a slab with a binary min-heap on
 * (deadline, insertion order). Signals are turned into fd events by a
 * self-pipe whose handler does nothing else.
 *
 * Re-entrancy is the main invariant: callbacks may change any registration.
 * Ready fds are therefore copied out of the pollfd array before any callback
 * runs, each tagged with the generation of its registration, and a copy
 * whose registration was removed (or removed and re-added) meanwhile is
 * dropped. Due timers are likewise moved out of the heap before the first
 * of them runs, and a cancelled one is skipped by its slot's state.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runbook/evloop.h"
#include "runbook/util.h"
#include "runbook/banned.h"

#define EV_RW (RB_EVLOOP_READ | RB_EVLOOP_WRITE)

struct fd_event {
	int mask;      /* registered READ/WRITE bits; 0 = free */
	unsigned gen;  /* bumped on every add: stale poll results */
	size_t slot;   /* index in loop->pfds */
	bool internal; /* the signal pipe: not counted by run() */
	rb_evloop_fd_fn fn;
	void *payload;
};

/* A ready fd copied out of the pollfd array for dispatch. */
struct fired {
	int fd;
	unsigned gen;
	short revents;
};

enum timer_state { TIMER_FREE, TIMER_ARMED, TIMER_DUE };

struct timer {
	int64_t deadline;
	uint64_t seq; /* insertion order: ties fire first-in first */
	uint32_t gen; /* bumped on every allocation of the slot */
	enum timer_state state;
	size_t heap;	    /* index in loop->heap while ARMED */
	uint32_t next_free; /* free list link (slot + 1, 0 = end) */
	rb_evloop_timer_fn fn;
	void *payload;
};

struct rb_evloop {
	struct fd_event *fds; /* indexed by fd */
	size_t fds_alloc;
	struct pollfd *pfds; /* dense, what poll(2) sees */
	size_t npfds, pfds_alloc;
	size_t user_fds; /* registered fds that are not internal */
	struct fired *fired;
	size_t fired_alloc;

	struct timer *timers; /* slab; ids are (gen << 32) | (slot + 1) */
	size_t ntimers, timers_alloc;
	uint32_t free_head; /* first free slot + 1, 0 = none */
	uint32_t *heap;	    /* slots of ARMED timers, min-heap */
	size_t heap_nr, heap_alloc;
	uint64_t *due; /* ids collected for the current round */
	size_t due_alloc;
	uint64_t seq;

	bool stop;

	/* signals: see the section below */
	bool watching;
	int sigs[16];
	size_t nsigs;
	rb_evloop_signal_fn sig_fn;
	void *sig_payload;
};

struct rb_evloop *
rb_evloop_new(void)
{
	return xcalloc(1, sizeof(struct rb_evloop));
}

void
rb_evloop_free(struct rb_evloop *loop)
{
	if (loop == NULL)
		return;
	rb_evloop_unwatch_signals(loop);
	free(loop->fds);
	free(loop->pfds);
	free(loop->fired);
	free(loop->timers);
	free(loop->heap);
	free(loop->due);
	free(loop);
}

/* ---------------------------------------------------------------- fds */

/* poll(2) events for a READ/WRITE mask. */
static short
poll_events(int mask)
{
	short ev = 0;

	if (mask & RB_EVLOOP_READ)
		ev |= POLLIN;
	if (mask & RB_EVLOOP_WRITE)
		ev |= POLLOUT;
	return ev;
}

/* Register fd; internal fds do not keep rb_evloop_run() going. */
static int
add_fd(struct rb_evloop *loop, int fd, int mask, rb_evloop_fd_fn fn,
    void *payload, bool internal)
{
	struct fd_event *fe;
	size_t old = loop->fds_alloc;

	if (fd < 0 || (mask & EV_RW) == 0 || (mask & ~EV_RW) != 0 || fn == NULL)
		return RB_EINVAL;
	if ((size_t)fd < loop->fds_alloc && loop->fds[fd].mask != 0)
		return RB_EINVAL;
	if ((size_t)fd >= loop->fds_alloc) {
		RB_ALLOC_GROW(loop->fds, (size_t)fd + 1, loop->fds_alloc);
		memset(loop->fds + old, 0,
		    (loop->fds_alloc - old) * sizeof(*loop->fds));
	}
	RB_ALLOC_GROW(loop->pfds, loop->npfds + 1, loop->pfds_alloc);
	fe = &loop->fds[fd];
	fe->mask = mask;
	fe->gen++;
	fe->slot = loop->npfds;
	fe->internal = internal;
	fe->fn = fn;
	fe->payload = payload;
	loop->pfds[loop->npfds].fd = fd;
	loop->pfds[loop->npfds].events = poll_events(mask);
	loop->pfds[loop->npfds].revents = 0;
	loop->npfds++;
	if (!internal)
		loop->user_fds++;
	return 0;
}

int
rb_evloop_add_fd(
    struct rb_evloop *loop, int fd, int mask, rb_evloop_fd_fn fn, void *payload)
{
	return add_fd(loop, fd, mask, fn, payload, false);
}

int
rb_evloop_mod_fd(struct rb_evloop *loop, int fd, int mask)
{
	struct fd_event *fe;

	if (fd < 0 || (size_t)fd >= loop->fds_alloc ||
	    loop->fds[fd].mask == 0 || (mask & EV_RW) == 0 ||
	    (mask & ~EV_RW) != 0)
		return RB_EINVAL;
	fe = &loop->fds[fd];
	fe->mask = mask;
	loop->pfds[fe->slot].events = poll_events(mask);
	return 0;
}

void
rb_evloop_del_fd(struct rb_evloop *loop, int fd)
{
	struct fd_event *fe;
	size_t last;

	if (fd < 0 || (size_t)fd >= loop->fds_alloc || loop->fds[fd].mask == 0)
		return;
	fe = &loop->fds[fd];
	/* Move the last pollfd into the hole. */
	last = loop->npfds - 1;
	if (fe->slot != last) {
		loop->pfds[fe->slot] = loop->pfds[last];
		loop->fds[loop->pfds[fe->slot].fd].slot = fe->slot;
	}
	loop->npfds--;
	if (!fe->internal)
		loop->user_fds--;
	fe->mask = 0;
	fe->fn = NULL;
	fe->payload = NULL;
}

/* Translate revents for a registration with mask into callback bits. */
static int
fired_mask(short revents, int mask)
{
	int m = 0;

	if (revents & (POLLIN | POLLPRI))
		m |= RB_EVLOOP_READ;
	if (revents & POLLOUT)
		m |= RB_EVLOOP_WRITE;
	if (revents & (POLLERR | POLLHUP | POLLNVAL))
		m |= RB_EVLOOP_ERROR | mask;
	return m & (mask | RB_EVLOOP_ERROR);
}

/* Run the callbacks of the fds poll(2) reported; returns how many ran. */
static int
dispatch_fds(struct rb_evloop *loop)
{
	size_t i, n = 0;
	int ran = 0;

	RB_ALLOC_GROW(loop->fired, loop->npfds, loop->fired_alloc);
	for (i = 0; i < loop->npfds; i++) {
		const struct pollfd *p = &loop->pfds[i];

		if (p->revents == 0)
			continue;
		loop->fired[n].fd = p->fd;
		loop->fired[n].gen = loop->fds[p->fd].gen;
		loop->fired[n].revents = p->revents;
		n++;
	}
	for (i = 0; i < n; i++) {
		const struct fired *f = &loop->fired[i];
		struct fd_event *fe = &loop->fds[f->fd];
		int m;

		if (fe->mask == 0 || fe->gen != f->gen)
			continue; /* removed (or replaced) meanwhile */
		m = fired_mask(f->revents, fe->mask);
		if (m == 0)
			continue; /* the mask changed meanwhile */
		fe->fn(loop, f->fd, m, fe->payload);
		ran++;
	}
	return ran;
}

/* ---------------------------------------------------------------- timers */

static bool
timer_before(const struct rb_evloop *loop, uint32_t a, uint32_t b)
{
	const struct timer *ta = &loop->timers[a], *tb = &loop->timers[b];

	if (ta->deadline != tb->deadline)
		return ta->deadline < tb->deadline;
	return ta->seq < tb->seq;
}

static void
heap_set(struct rb_evloop *loop, size_t i, uint32_t slot)
{
	loop->heap[i] = slot;
	loop->timers[slot].heap = i;
}

static void
heap_up(struct rb_evloop *loop, size_t i)
{
	uint32_t slot = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(loop, slot, loop->heap[parent]))
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, slot);
}

static void
heap_down(struct rb_evloop *loop, size_t i)
{
	uint32_t slot = loop->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= loop->heap_nr)
			break;
		if (c + 1 < loop->heap_nr &&
		    timer_before(loop, loop->heap[c + 1], loop->heap[c]))
			c++;
		if (!timer_before(loop, loop->heap[c], slot))
			break;
		heap_set(loop, i, loop->heap[c]);
		i = c;
	}
	heap_set(loop, i, slot);
}

/* Take the timer at heap index i out of the heap. */
static void
heap_remove(struct rb_evloop *loop, size_t i)
{
	size_t last = --loop->heap_nr;

	if (i == last)
		return;
	heap_set(loop, i, loop->heap[last]);
	if (i > 0 && timer_before(loop, loop->heap[i], loop->heap[(i - 1) / 2]))
		heap_up(loop, i);
	else
		heap_down(loop, i);
}

static void
timer_release(struct rb_evloop *loop, uint32_t slot)
{
	struct timer *t = &loop->timers[slot];

	t->state = TIMER_FREE;
	t->fn = NULL;
	t->payload = NULL;
	t->next_free = loop->free_head;
	loop->free_head = slot + 1;
}

/* The slot of a live timer id in the given state, or -1. */
static long
timer_lookup(const struct rb_evloop *loop, uint64_t id)
{
	uint32_t slot = (uint32_t)(id & 0xffffffffu);
	uint32_t gen = (uint32_t)(id >> 32);

	if (slot == 0 || slot > loop->ntimers)
		return -1;
	slot--;
	if (loop->timers[slot].gen != gen ||
	    loop->timers[slot].state == TIMER_FREE)
		return -1;
	return (long)slot;
}

uint64_t
rb_evloop_add_timer(struct rb_evloop *loop, int64_t deadline_ms,
    rb_evloop_timer_fn fn, void *payload)
{
	struct timer *t;
	uint32_t slot;

	if (fn == NULL)
		RB_BUG("timer without a callback");
	if (loop->free_head != 0) {
		slot = loop->free_head - 1;
		loop->free_head = loop->timers[slot].next_free;
	} else {
		if (loop->ntimers >= UINT32_MAX - 1)
			RB_BUG("too many timers");
		RB_ALLOC_GROW(
		    loop->timers, loop->ntimers + 1, loop->timers_alloc);
		slot = (uint32_t)loop->ntimers++;
		loop->timers[slot].gen = 0;
	}
	t = &loop->timers[slot];
	if (++t->gen == 0)
		t->gen = 1;
	t->deadline = deadline_ms;
	t->seq = loop->seq++;
	t->state = TIMER_ARMED;
	t->next_free = 0;
	t->fn = fn;
	t->payload = payload;
	RB_ALLOC_GROW(loop->heap, loop->heap_nr + 1, loop->heap_alloc);
	loop->heap_nr++;
	heap_set(loop, loop->heap_nr - 1, slot);
	heap_up(loop, loop->heap_nr - 1);
	return ((uint64_t)t->gen << 32) | (uint64_t)(slot + 1);
}

bool
rb_evloop_cancel_timer(struct rb_evloop *loop, uint64_t id)
{
	long slot = timer_lookup(loop, id);

	if (slot < 0)
		return false;
	if (loop->timers[slot].state == TIMER_ARMED)
		heap_remove(loop, loop->timers[slot].heap);
	timer_release(loop, (uint32_t)slot);
	return true;
}

/* Run every timer due at now; returns how many ran. */
static int
dispatch_timers(struct rb_evloop *loop, int64_t now)
{
	size_t i, n = 0;
	int ran = 0;

	/* Collect first: timers added by the callbacks wait for next round. */
	while (
	    loop->heap_nr > 0 && loop->timers[loop->heap[0]].deadline <= now) {
		uint32_t slot = loop->heap[0];
		struct timer *t = &loop->timers[slot];

		heap_remove(loop, 0);
		t->state = TIMER_DUE;
		RB_ALLOC_GROW(loop->due, n + 1, loop->due_alloc);
		loop->due[n++] = ((uint64_t)t->gen << 32) | (slot + 1);
	}
	for (i = 0; i < n; i++) {
		uint64_t id = loop->due[i];
		long slot = timer_lookup(loop, id);
		rb_evloop_timer_fn fn;
		void *payload;

		if (slot < 0 || loop->timers[slot].state != TIMER_DUE)
			continue; /* cancelled by an earlier callback */
		fn = loop->timers[slot].fn;
		payload = loop->timers[slot].payload;
		timer_release(loop, (uint32_t)slot);
		fn(loop, id, payload);
		ran++;
	}
	return ran;
}

/* ---------------------------------------------------------------- loop */

int
rb_evloop_run_once(struct rb_evloop *loop, int64_t max_wait_ms)
{
	int64_t wait = max_wait_ms < 0 ? -1 : max_wait_ms;
	int n, ran;

	if (loop->heap_nr > 0) {
		int64_t d = loop->timers[loop->heap[0]].deadline - rb_now_ms();

		if (d < 0)
			d = 0;
		if (wait < 0 || d < wait)
			wait = d;
	}
	if (wait > INT_MAX)
		wait = INT_MAX;
	n = poll(loop->pfds, (nfds_t)loop->npfds, (int)wait);
	if (n < 0 && errno == EINTR) {
		/* A signal: its self-pipe byte is there now, take it along. */
		n = poll(loop->pfds, (nfds_t)loop->npfds, 0);
	}
	if (n < 0) {
		if (errno != EINTR)
			return RB_EIO;
		n = 0;
	}
	ran = n > 0 ? dispatch_fds(loop) : 0;
	if (loop->heap_nr > 0)
		ran += dispatch_timers(loop, rb_now_ms());
	return ran;
}

int
rb_evloop_run(struct rb_evloop *loop)
{
	int r = 0;

	loop->stop = false;
	while (!loop->stop && (loop->user_fds > 0 || loop->heap_nr > 0)) {
		if ((r = rb_evloop_run_once(loop, -1)) < 0)
			break;
		r = 0;
	}
	loop->stop = false;
	return r;
}

void
rb_evloop_stop(struct rb_evloop *loop)
{
	loop->stop = true;
}

/* ---------------------------------------------------------------- signals */

/*
 * Process-wide state shared with the handler. The handler reads only
 * sig_wfd and writes only sig_pending[], both declared for that purpose.
 */
static volatile sig_atomic_t sig_pending[NSIG];
static volatile sig_atomic_t sig_wfd = -1;
static int sig_rfd = -1;
static struct rb_evloop *sig_owner;
static struct sigaction sig_saved[NSIG];

/* Async-signal-safe: record the signal and wake the loop. */
static void
sig_handler(int signo)
{
	int saved_errno = errno;
	int fd = sig_wfd;

	if (signo > 0 && signo < NSIG)
		sig_pending[signo] = 1;
	if (fd >= 0)
		(void)!write(fd, "", 1); /* full pipe: already awake */
	errno = saved_errno;
}

/* The self-pipe is readable: drain it and deliver what is pending. */
static void
sig_readable(struct rb_evloop *loop, int fd, int mask, void *payload)
{
	char drain[64];
	size_t i;

	(void)mask;
	(void)payload;
	while (read(fd, drain, sizeof(drain)) > 0)
		;
	for (i = 0; i < loop->nsigs && loop->watching; i++) {
		int signo = loop->sigs[i];

		if (!sig_pending[signo])
			continue;
		sig_pending[signo] = 0;
		loop->sig_fn(loop, signo, loop->sig_payload);
	}
}

int
rb_evloop_watch_signals(struct rb_evloop *loop, const int *signals, size_t nr,
    rb_evloop_signal_fn fn, void *payload, struct rb_error *err)
{
	struct sigaction sa;
	int p[2] = { -1, -1 };
	size_t i;
	int r = RB_ERROR;

	if (sig_owner != NULL && sig_owner != loop)
		return rb_error_set(err, RB_EINVAL,
		    "signals are already watched by another event loop");
	if (fn == NULL || nr == 0 || nr > RB_ARRAY_SIZE(loop->sigs))
		return rb_error_set(
		    err, RB_EINVAL, "cannot watch %zu signals", nr);
	for (i = 0; i < nr; i++) {
		int s = signals[i];
		size_t j;

		for (j = 0; j < i; j++)
			if (signals[j] == s)
				s = 0; /* twice: its saved action would be ours
					*/
		if (s <= 0 || s >= NSIG || s == SIGKILL || s == SIGSTOP ||
		    s == SIGPIPE)
			return rb_error_set(err, RB_EINVAL,
			    "cannot watch signal %d", signals[i]);
	}
	rb_evloop_unwatch_signals(loop);

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
		r = rb_error_set(err, RB_EIO, "cannot create signal pipe: %s",
		    strerror(errno));
		goto out;
	}
	if ((r = add_fd(
		 loop, p[0], RB_EVLOOP_READ, sig_readable, NULL, true)) != 0)
		goto out;
	sig_rfd = p[0];
	sig_wfd = p[1];
	p[0] = p[1] = -1;
	sig_owner = loop;
	loop->watching = true;
	loop->sig_fn = fn;
	loop->sig_payload = payload;
	loop->nsigs = nr;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_handler;
	sigfillset(&sa.sa_mask);
	for (i = 0; i < nr; i++) {
		int s = signals[i];

		loop->sigs[i] = s;
		sig_pending[s] = 0;
		sa.sa_flags = SA_RESTART | (s == SIGCHLD ? SA_NOCLDSTOP : 0);
		if (sigaction(s, &sa, &sig_saved[s]) != 0) {
			r = rb_error_set(err, RB_EIO,
			    "cannot install handler for signal %d: %s", s,
			    strerror(errno));
			loop->nsigs = i;
			rb_evloop_unwatch_signals(loop);
			goto out;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGPIPE, &sa, NULL);
	r = 0;
out:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	return r;
}

void
rb_evloop_unwatch_signals(struct rb_evloop *loop)
{
	size_t i;
	int fd;

	if (loop == NULL || !loop->watching)
		return;
	/* Handlers first, so none runs against a closed pipe. */
	for (i = 0; i < loop->nsigs; i++) {
		(void)sigaction(loop->sigs[i], &sig_saved[loop->sigs[i]], NULL);
		sig_pending[loop->sigs[i]] = 0;
	}
	fd = sig_wfd;
	sig_wfd = -1;
	close(fd);
	rb_evloop_del_fd(loop, sig_rfd);
	close(sig_rfd);
	sig_rfd = -1;
	sig_owner = NULL;
	loop->watching = false;
	loop->nsigs = 0;
	loop->sig_fn = NULL;
	loop->sig_payload = NULL;
}
