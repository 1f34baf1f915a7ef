//! The receiver's waiter (a parked thread or a task's `Waker`) and the wait
//! loops: spin briefly, then park with or without a deadline, or register a
//! waker for `recv_async`.
//!
//! The waiter lives in one cell of the shared block and is claimed by the
//! single read-modify-write that publishes a value (see `slot.rs`). Nothing
//! here assumes the waiter belongs to this channel alone: a future select
//! could register one thread's handle in several channels' cells.

use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::error::{RecvError, RecvTimeoutError};
use crate::slot::{Chan, Take};
use crate::sync::{self, Thread};

/// Whoever waits for the next value.
pub(crate) enum Waiter {
    /// A thread blocked in `recv`, `recv_timeout`, `recv_deadline` or a
    /// blocking iterator.
    Thread(Thread),
    /// A task awaiting a `RecvFuture`.
    Task(Waker),
}

impl Waiter {
    /// Wakes the waiter, consuming it.
    pub(crate) fn wake(self) {
        match self {
            Waiter::Thread(thread) => thread.unpark(),
            Waiter::Task(waker) => waker.wake(),
        }
    }
}

/// Spin-loop hints before a blocking receive yields: 127, 3.1 µs on the AMD
/// EPYC guest of docs/benchmarks.md (24.6 ns per hint, measured; the time
/// of one hint varies by CPU, from a few ns on older cores to over 40 ns on
/// Intel cores since Skylake). Long enough to catch a reply that is already
/// on its way between two running threads, short enough not to starve a
/// two-core machine.
///
/// The slot word is read after every hint, not after doubling batches of
/// them: the read hits this core's copy of the cache line until a sender's
/// write invalidates it, so frequent looks cost no traffic, and a value is
/// seen within one hint of its arrival. (With batches of 1, 2, 4, ... hints
/// a value could wait up to 64 hints, 1.6 µs here, before being seen; the
/// pinned 64-byte round trip went from 320–336 ns to 276–290 ns.)
const SPIN_HINTS: u32 = 127;

/// `yield_now` calls after spinning and before parking: on a busy machine
/// they let the sender's thread run on our core; each costs a system call.
const YIELD_ROUNDS: u32 = 4;

/// Loom explores no busy phase: it would only multiply interleavings
/// without reaching a state the park path cannot reach.
const BUSY_PHASE: bool = !cfg!(loom);

/// Blocking receive with an optional deadline (`None` waits forever).
pub(crate) fn recv_blocking<T>(
    chan: &Chan<T>,
    deadline: Option<Instant>,
) -> Result<T, RecvTimeoutError> {
    if let Some(result) = finished(chan.try_take()) {
        return result;
    }
    if deadline.is_some_and(|d| Instant::now() >= d) {
        // A zero timeout or a past deadline is a non-blocking try.
        return Err(RecvTimeoutError::Timeout);
    }
    if BUSY_PHASE && let Some(result) = spin_then_yield(chan, deadline) {
        return result;
    }
    park_loop(chan, deadline)
}

/// Maps a `Take` to a finished receive, or `None` for "keep waiting".
#[inline]
fn finished<T>(take: Take<T>) -> Option<Result<T, RecvTimeoutError>> {
    match take {
        Take::Value(value) => Some(Ok(value)),
        Take::Closed => Some(Err(RecvTimeoutError::Disconnected)),
        Take::Empty => None,
    }
}

/// The brief busy phase of a blocking receive.
fn spin_then_yield<T>(
    chan: &Chan<T>,
    deadline: Option<Instant>,
) -> Option<Result<T, RecvTimeoutError>> {
    for _ in 0..SPIN_HINTS {
        sync::spin_loop();
        let word = chan.peek();
        if word.value().is_some() || word.is_closed() {
            return finished(chan.try_take());
        }
    }
    for _ in 0..YIELD_ROUNDS {
        sync::yield_now();
        if let Some(result) = finished(chan.try_take()) {
            return Some(result);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(Err(RecvTimeoutError::Timeout));
        }
    }
    None
}

/// Registers the current thread and parks until a value, the close, or the
/// deadline.
#[cold]
fn park_loop<T>(chan: &Chan<T>, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
    let me = sync::current();
    loop {
        if chan.register(Waiter::Thread(me.clone())).is_ok() {
            // Parked until a sender claims our registration. Every wake-up
            // may be spurious: re-read the word each time.
            loop {
                let timed_out = match deadline {
                    None => {
                        sync::park();
                        false
                    }
                    Some(deadline) => sync::park_until(deadline),
                };
                if !chan.peek().is_waiting() {
                    // Claimed: a value or the close is in the word.
                    break;
                }
                if timed_out {
                    if chan.unregister() {
                        return Err(RecvTimeoutError::Timeout);
                    }
                    // A sender claimed us in the meantime: its value is
                    // there, so return it rather than lose the race.
                    break;
                }
            }
        }
        // Either registering failed because a value or the close arrived,
        // or a claim woke us: both leave something to take.
        if let Some(result) = finished(chan.try_take()) {
            return result;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(RecvTimeoutError::Timeout);
        }
    }
}

/// One poll of a `RecvFuture`. `registered` is the future's record of
/// whether its waker is in the channel's waiter cell.
pub(crate) fn poll_recv<T>(
    chan: &Chan<T>,
    registered: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Result<T, RecvError>> {
    if *registered {
        // Still registered and unclaimed: take the registration back so the
        // (possibly new) waker of this poll replaces it. If a sender claimed
        // it, a value or the close is waiting below.
        chan.unregister();
        *registered = false;
    }
    match chan.try_take() {
        Take::Value(value) => return Poll::Ready(Ok(value)),
        Take::Closed => return Poll::Ready(Err(RecvError)),
        Take::Empty => {}
    }
    if chan.register(Waiter::Task(cx.waker().clone())).is_ok() {
        *registered = true;
        return Poll::Pending;
    }
    // A value or the close arrived while we registered.
    match chan.try_take() {
        Take::Value(value) => Poll::Ready(Ok(value)),
        Take::Closed => Poll::Ready(Err(RecvError)),
        Take::Empty => unreachable!("registration failed on an empty, open slot"),
    }
}

/// Drop of a pending `RecvFuture`: withdraw its waker. If a sender claimed
/// it already, the value stays in the slot for the next receive.
pub(crate) fn cancel<T>(chan: &Chan<T>, registered: bool) {
    if registered {
        chan.unregister();
    }
}
