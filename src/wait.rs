//! The wait loops: one spin-then-park core that both a blocking receive
//! and `Select` run, and the poll of `recv_async`.
//!
//! The core waits on a [`WaitSet`]: one channel for `recv`, `recv_timeout`,
//! `recv_deadline` and the blocking iterators, or every channel a `Select`
//! watches. It spins briefly, yields a few times, then registers the
//! thread in every channel of the set and parks until a claim wakes it.
//! The waiter and its cell are in `waiter.rs`, the registration on the slot
//! word in `slot.rs`; nothing here touches either directly.

use std::task::{Context, Poll};
use std::time::Instant;

use crate::error::{RecvError, RecvTimeoutError};
use crate::slot::{Chan, Take};
use crate::sync::{self, Thread};
use crate::waiter::Waiter;

/// Spin-loop hints before a blocking wait yields: 127, 3.1 µs on the AMD
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

/// What the wait core waits on. Written once for one channel (a receive)
/// and once for several (a `Select`); the loops below are generic over it,
/// so a receive runs the same code as before, monomorphized, with no
/// dynamic calls.
pub(crate) trait WaitSet {
    /// What a finished wait returns (a value or the close, or an index).
    type Output;

    /// Finishes without waiting if it can: something is ready now.
    fn attempt(&mut self) -> Option<Self::Output>;

    /// A cheap look for the spin phase: may `attempt` succeed now?
    fn looks_ready(&self) -> bool;

    /// Registers `me` in every channel of the set. Returns `false` if a
    /// value or a close got in first somewhere; then every registration it
    /// made is taken back again (or was claimed, which costs at most a
    /// spurious unpark later).
    fn register(&mut self, me: &Thread) -> bool;

    /// Whether a sender (or a closing drop) claimed one of the
    /// registrations, which means something arrived.
    fn any_claimed(&self) -> bool;

    /// Takes back every registration still in place. Returns `true` if none
    /// had been claimed.
    fn unregister_all(&mut self) -> bool;
}

/// A wait that reached its deadline.
#[derive(Debug)]
pub(crate) struct TimedOut;

/// Waits until `set` is ready or `deadline` passes (`None` waits forever).
/// A deadline already past makes it a non-blocking try.
pub(crate) fn wait<S: WaitSet>(
    set: &mut S,
    deadline: Option<Instant>,
) -> Result<S::Output, TimedOut> {
    if let Some(out) = set.attempt() {
        return Ok(out);
    }
    if deadline.is_some_and(|d| Instant::now() >= d) {
        // A zero timeout or a past deadline is a non-blocking try.
        return Err(TimedOut);
    }
    if BUSY_PHASE && let Some(result) = spin_then_yield(set, deadline) {
        return result;
    }
    park_loop(set, deadline)
}

/// The brief busy phase of a wait.
fn spin_then_yield<S: WaitSet>(
    set: &mut S,
    deadline: Option<Instant>,
) -> Option<Result<S::Output, TimedOut>> {
    for _ in 0..SPIN_HINTS {
        sync::spin_loop();
        if set.looks_ready()
            && let Some(out) = set.attempt()
        {
            return Some(Ok(out));
        }
    }
    for _ in 0..YIELD_ROUNDS {
        sync::yield_now();
        if let Some(out) = set.attempt() {
            return Some(Ok(out));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(Err(TimedOut));
        }
    }
    None
}

/// Registers the current thread in every channel of the set and parks
/// until a claim, the deadline, or (spuriously) anything else wakes it.
#[cold]
fn park_loop<S: WaitSet>(set: &mut S, deadline: Option<Instant>) -> Result<S::Output, TimedOut> {
    let me = sync::current();
    loop {
        if set.register(&me) {
            // Parked until a sender claims a registration. Every wake-up
            // may be spurious (an unpark left over from a registration that
            // was claimed after we moved on, or the platform's own): look
            // at the words again each time.
            loop {
                let timed_out = match deadline {
                    None => {
                        sync::park();
                        false
                    }
                    Some(deadline) => sync::park_until(deadline),
                };
                if set.any_claimed() {
                    break;
                }
                if timed_out {
                    if set.unregister_all() {
                        return Err(TimedOut);
                    }
                    // A sender claimed one in the meantime: its value is
                    // there, so return it rather than lose the race.
                    break;
                }
            }
            // Take back the registrations nobody claimed (a `Select`'s
            // other channels); for one channel there is none left.
            set.unregister_all();
        }
        // Either registering failed because a value or the close arrived,
        // or a claim woke us: both leave something to take.
        if let Some(out) = set.attempt() {
            return Ok(out);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(TimedOut);
        }
    }
}

/// One channel, for a blocking receive.
struct One<'a, T>(&'a Chan<T>);

/// A receive that found the channel closed and empty.
struct Closed;

impl<T> WaitSet for One<'_, T> {
    type Output = Result<T, Closed>;

    #[inline]
    fn attempt(&mut self) -> Option<Result<T, Closed>> {
        match self.0.try_take() {
            Take::Value(value) => Some(Ok(value)),
            Take::Closed => Some(Err(Closed)),
            Take::Empty => None,
        }
    }

    #[inline]
    fn looks_ready(&self) -> bool {
        let word = self.0.peek();
        word.value().is_some() || word.is_closed()
    }

    fn register(&mut self, me: &Thread) -> bool {
        self.0.register(Waiter::Thread(me.clone())).is_ok()
    }

    fn any_claimed(&self) -> bool {
        !self.0.peek().is_waiting()
    }

    fn unregister_all(&mut self) -> bool {
        self.0.unregister()
    }
}

/// Blocking receive with an optional deadline (`None` waits forever).
pub(crate) fn recv_blocking<T>(
    chan: &Chan<T>,
    deadline: Option<Instant>,
) -> Result<T, RecvTimeoutError> {
    match wait(&mut One(chan), deadline) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(Closed)) => Err(RecvTimeoutError::Disconnected),
        Err(TimedOut) => Err(RecvTimeoutError::Timeout),
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
