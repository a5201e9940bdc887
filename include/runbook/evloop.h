/*
 * evloop.h - the engine's single-threaded event loop: fd events, timers and
 * signals in one poll(2) loop, shaped like redis's ae.
 *
 * Everything the engine waits for is an event on one struct rb_evloop:
 * child pipes and pidfds (proc.h), libcurl sockets and timers (probe.h),
 * libssh2 sockets, step timeouts, retry delays, SIGINT/SIGTERM. The
 * scheduler turns the crank with rb_evloop_run_once(); nothing in the engine
 * blocks on I/O behind the loop's back.
 *
 * Rules for callbacks. They run on the loop's thread, one at a time, from
 * inside rb_evloop_run_once(). A callback may add, modify or remove any
 * event (its own included), start or kill processes, and call
 * rb_evloop_stop(); it must not call rb_evloop_free() on the loop that is
 * running it. An fd removed by an earlier callback in the same round is not
 * reported again, even if its number was reused in between.
 *
 * Times are milliseconds of CLOCK_MONOTONIC (rb_now_ms() in util.h), so a
 * wall-clock jump never fires or delays a timer.
 *
 * The loop never owns the fds registered with it: removing an fd does not
 * close it, and the owner must remove an fd before closing it.
 */
#ifndef RUNBOOK_EVLOOP_H
#define RUNBOOK_EVLOOP_H

#include "runbook/common.h"
#include "runbook/error.h"

struct rb_evloop;

/* What an fd event waits for, and what a callback is told happened. */
enum rb_evloop_mask {
	RB_EVLOOP_READ = (1 << 0),	/* readable, or EOF / hang-up */
	RB_EVLOOP_WRITE = (1 << 1),	/* writable */
	RB_EVLOOP_ERROR = (1 << 2)	/* reported only: POLLERR/HUP/NVAL */
};

/*
 * Called when fd is ready. mask is a subset of the registered mask, plus
 * RB_EVLOOP_ERROR on an error or hang-up (in which case the registered
 * READ/WRITE bits are set too, so a read() or write() reports the cause).
 * Registration is level-triggered: the callback is called again on the next
 * round while the condition holds.
 */
typedef void (*rb_evloop_fd_fn)(struct rb_evloop *loop, int fd, int mask,
    void *payload);
/* Called once when a timer's deadline has passed; id is no longer valid. */
typedef void (*rb_evloop_timer_fn)(struct rb_evloop *loop, uint64_t id,
    void *payload);
/* Called on the loop after signo was received (once for any number of
 * deliveries since the last call). */
typedef void (*rb_evloop_signal_fn)(struct rb_evloop *loop, int signo,
    void *payload);

/*
 * A new, empty loop. Makes no system call and opens no fd (the signal
 * self-pipe is created by rb_evloop_watch_signals()), so a throw-away loop
 * per synchronous call is cheap. Never NULL (dies on out-of-memory).
 */
struct rb_evloop *rb_evloop_new(void);

/*
 * Free the loop and every timer still pending (their callbacks are not
 * called); stop watching signals if this loop was. Registered fds are
 * forgotten, not closed. NULL-safe. Not from inside a callback of this loop.
 */
void rb_evloop_free(struct rb_evloop *loop);

/*
 * Watch fd for mask (RB_EVLOOP_READ and/or RB_EVLOOP_WRITE; not 0) and call
 * fn(loop, fd, mask, payload) when it is ready. Any number of fds; an fd may
 * be registered once. Returns 0, or RB_EINVAL (negative fd, empty mask, fd
 * already registered).
 */
int rb_evloop_add_fd(struct rb_evloop *loop, int fd, int mask,
    rb_evloop_fd_fn fn, void *payload);
/* Change what a registered fd waits for. RB_EINVAL if fd is not registered
 * or mask is empty. */
int rb_evloop_mod_fd(struct rb_evloop *loop, int fd, int mask);
/* Stop watching fd; a no-op if it is not registered. Does not close fd. */
void rb_evloop_del_fd(struct rb_evloop *loop, int fd);

/*
 * Call fn(loop, id, payload) once, on the first round at or after
 * deadline_ms (CLOCK_MONOTONIC ms; a deadline in the past fires on the next
 * round). Timers with equal deadlines fire in the order they were added.
 * Returns the timer's id, never 0.
 */
uint64_t rb_evloop_add_timer(struct rb_evloop *loop, int64_t deadline_ms,
    rb_evloop_timer_fn fn, void *payload);
/*
 * Cancel a pending timer. Returns true if it was pending (its callback will
 * not be called), false for 0, an id that already fired or was cancelled.
 */
bool rb_evloop_cancel_timer(struct rb_evloop *loop, uint64_t id);

/*
 * One round: wait until an fd is ready, the earliest timer is due, a
 * watched signal arrives, or max_wait_ms passes (-1: no limit; 0: do not
 * wait), then run the callbacks of the ready fds, then of the due timers.
 * The due timers are collected once per round, so a timer callback that
 * re-arms a zero-delay timer runs again only in the next round and cannot
 * starve fd events.
 * A watched signal that interrupts the wait is delivered in the same round.
 * Returns the number of callbacks run (0 on a plain timeout), or
 * RB_EIO if poll(2) failed (errno is kept).
 */
int rb_evloop_run_once(struct rb_evloop *loop, int64_t max_wait_ms);

/*
 * Run rounds until a callback calls rb_evloop_stop() or no fd and no timer
 * is left (the signal watch does not count). Returns 0, or RB_EIO as
 * rb_evloop_run_once().
 */
int rb_evloop_run(struct rb_evloop *loop);
/* Make the running rb_evloop_run() return after the current round (a stop
 * requested while rb_evloop_run() is not running is forgotten). */
void rb_evloop_stop(struct rb_evloop *loop);

/*
 * Deliver the nr signals in signals[] (e.g. SIGINT, SIGTERM, SIGCHLD) as
 * fn(loop, signo, payload) callbacks on this loop. The handlers installed
 * for them only set a volatile sig_atomic_t and write one byte to a
 * non-blocking close-on-exec self-pipe; all work happens in fn.
 * SIGCHLD is installed with SA_NOCLDSTOP. Replaces an earlier watch of this
 * loop. Only one loop per process can watch signals at a time.
 *
 * SIGPIPE: this call also sets SIGPIPE to SIG_IGN for the whole process and
 * leaves it ignored, so a write to a closed pipe or socket returns EPIPE
 * instead of killing runbook (main() ignores it too, before any command
 * runs). The engine (rb_run) and serve call rb_evloop_watch_signals() for
 * the length of a run or of the listener. Children never inherit this:
 * rb_proc resets every disposition (proc.h).
 *
 * Returns 0, or RB_EINVAL (a signal that cannot be caught, or another loop
 * is watching) / RB_EIO (no pipe), with the reason in err.
 */
int rb_evloop_watch_signals(struct rb_evloop *loop, const int *signals,
    size_t nr, rb_evloop_signal_fn fn, void *payload, struct rb_error *err);
/* Restore the dispositions saved by rb_evloop_watch_signals() (SIGPIPE stays
 * ignored) and close the self-pipe. A no-op if loop is not watching. */
void rb_evloop_unwatch_signals(struct rb_evloop *loop);

#endif
