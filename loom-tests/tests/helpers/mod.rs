//! Shared pieces of the loom models: a drop-counting payload, a counting
//! `Waker`, and the end-of-model bookkeeping checks.
//!
//! The counters use `std::sync` types on purpose. Loom runs every modelled
//! thread on one OS thread, and these counters are only read once the model's
//! threads have been joined, so loom does not need to see them; keeping them
//! out of loom's view adds no scheduling points to explore.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Wake, Waker};

/// Per-model record of how often each payload was dropped, indexed by id.
#[derive(Debug)]
pub struct DropLog {
    drops: Mutex<Vec<u32>>,
}

impl DropLog {
    /// A log for payloads `0..count`.
    pub fn new(count: usize) -> Arc<Self> {
        Arc::new(DropLog {
            drops: Mutex::new(vec![0; count]),
        })
    }

    /// Makes payload `id`, which records its drop here.
    pub fn val(self: &Arc<Self>, id: usize) -> Val {
        assert!(id < self.lock().len(), "payload id {id} out of range");
        Val {
            id,
            log: Arc::clone(self),
        }
    }

    /// How many times payload `id` has been dropped so far.
    pub fn drops(&self, id: usize) -> u32 {
        self.lock()[id]
    }

    /// Panics unless every payload was dropped exactly once: nothing leaked
    /// and nothing was dropped twice. Call it once every handle, payload and
    /// received value is gone.
    pub fn assert_each_dropped_once(&self) {
        let drops = self.lock();
        for (id, &n) in drops.iter().enumerate() {
            assert_eq!(n, 1, "payload {id} dropped {n} times (all: {drops:?})");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u32>> {
        // A failed assertion elsewhere may poison the lock; the counts stay
        // meaningful, so read them anyway rather than hide the first panic.
        self.drops.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A payload with an id that counts its own drop in a [`DropLog`].
#[derive(Debug)]
pub struct Val {
    /// Which payload this is (assigned by the model).
    pub id: usize,
    log: Arc<DropLog>,
}

impl Drop for Val {
    fn drop(&mut self) {
        self.log.lock()[self.id] += 1;
    }
}

/// Which payload ids a model saw come out of the channel, in order, and how
/// many came back to a sender (in `SendError` or from `replace`).
#[derive(Debug, Default)]
pub struct Tally {
    /// Ids returned by receives, in the order they were received.
    pub received: Vec<usize>,
    /// Ids returned by `replace` as the displaced value.
    pub replaced: Vec<usize>,
    /// Ids handed back inside `SendError`.
    pub refused: Vec<usize>,
}

impl Tally {
    /// Records a received payload and drops it.
    pub fn recv(&mut self, v: Val) {
        self.received.push(v.id);
    }

    /// Records a payload returned by `replace` and drops it.
    pub fn replaced(&mut self, v: Val) {
        self.replaced.push(v.id);
    }

    /// Records a payload handed back in `SendError` and drops it.
    pub fn refused(&mut self, v: Val) {
        self.refused.push(v.id);
    }

    /// Merges what another thread recorded.
    pub fn absorb(&mut self, other: Tally) {
        self.received.extend(other.received);
        self.replaced.extend(other.replaced);
        self.refused.extend(other.refused);
    }

    /// Checks the counting rule for a drained channel whose receiver is
    /// still alive: of `sent` values, each was received, refused, or
    /// displaced (by `send`, dropped; or by `replace`, returned), and
    /// `overwritten()` counts exactly the displaced ones. Also checks that
    /// no id came out twice.
    pub fn assert_accounts_for(&self, sent: usize, overwritten: u64) {
        let mut ids: Vec<usize> = self
            .received
            .iter()
            .chain(&self.refused)
            .chain(&self.replaced)
            .copied()
            .collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "an id came out twice: {self:?}");
        let kept = self.received.len() + self.refused.len();
        assert!(kept <= sent, "more values out than sent: {self:?}");
        assert_eq!(
            overwritten,
            (sent - kept) as u64,
            "overwritten() disagrees with {sent} sent and {self:?}"
        );
    }
}

/// A `Waker` that only counts its wakes.
#[derive(Debug, Default)]
pub struct CountWaker {
    wakes: AtomicUsize,
}

impl CountWaker {
    /// A fresh counter and a `Waker` that bumps it.
    pub fn new() -> (Arc<Self>, Waker) {
        let counter = Arc::new(CountWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }

    /// How many times the waker (or a clone) has been woken.
    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for CountWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// A spawned thread whose `join` first waits (yielding, not blocking) until
/// the thread's closure has returned.
///
/// Loom's `Thread::unpark` makes a thread runnable whatever it is blocked
/// on, including a `JoinHandle::join`, and loom then panics inside its own
/// `Notify::wait` ("assertion failed: state.notified"). A sender can
/// legitimately deliver a late `unpark` to the receiver's thread (it claimed
/// the receiver's registration, the receiver woke spuriously and moved on),
/// and std's `join` ignores such an unpark. Waiting here with `yield_now`
/// until the closure is done keeps that late unpark away from loom's join,
/// without changing what the model checks.
#[allow(dead_code)]
pub struct Joinable<T> {
    handle: loom::thread::JoinHandle<T>,
    done: loom::sync::Arc<loom::sync::atomic::AtomicBool>,
}

#[allow(dead_code)]
pub fn spawn_joinable<T: 'static>(f: impl FnOnce() -> T + 'static) -> Joinable<T> {
    let done = loom::sync::Arc::new(loom::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let handle = loom::thread::spawn(move || {
        let out = f();
        flag.store(true, Ordering::Release);
        out
    });
    Joinable { handle, done }
}

#[allow(dead_code)]
impl<T> Joinable<T> {
    /// Yields until the closure has returned. Call it on every thread that
    /// may still unpark this one before blocking in any `join`.
    pub fn wait_done(&self) {
        while !self.done.load(Ordering::Acquire) {
            loom::thread::yield_now();
        }
    }

    pub fn join(self) -> T {
        self.wait_done();
        self.handle.join().unwrap()
    }
}
