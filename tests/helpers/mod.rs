//! Shared test support: a drop-recording payload, a counting `Waker`, a
//! minimal `block_on`, a watchdog for threads that might hang, and a tiny
//! deterministic random number generator.
//!
//! Each integration test is its own crate and uses only part of this module.
#![allow(dead_code)]

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Once, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

pub(crate) mod publisher_race;

/// Picks the normal count, or a much smaller one when running under Miri.
pub(crate) const fn scaled(normal: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { normal }
}

// ---------------------------------------------------------------------------
// Drop recording
// ---------------------------------------------------------------------------

/// Records how many times each payload id was dropped.
///
/// Ids are indexes into a table fixed at construction, so recording a drop is
/// one atomic increment and never allocates (the allocation test relies on
/// that). A second drop of the same id, or an id outside the table, is
/// remembered and reported by [`DropLog::assert_no_double_drop`] and by every
/// `assert_*` method, because panicking inside `Drop` would hide the bug.
pub(crate) struct DropLog {
    counts: Box<[AtomicU8]>,
    double_drops: AtomicUsize,
    first_double: AtomicUsize,
}

impl DropLog {
    /// A log for payload ids `0..capacity`.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            counts: (0..capacity).map(|_| AtomicU8::new(0)).collect(),
            double_drops: AtomicUsize::new(0),
            first_double: AtomicUsize::new(usize::MAX),
        }
    }

    /// A payload with this id, recorded here when dropped.
    pub(crate) fn item(&self, id: usize) -> Tracked<'_> {
        assert!(id < self.counts.len(), "payload id {id} outside the log");
        Tracked {
            id,
            log: self,
            panic_on_drop: false,
        }
    }

    /// A payload whose `Drop` records the drop and then panics.
    pub(crate) fn panicky(&self, id: usize) -> Tracked<'_> {
        let mut item = self.item(id);
        item.panic_on_drop = true;
        item
    }

    /// Number of times `id` has been dropped so far.
    pub(crate) fn drops(&self, id: usize) -> u8 {
        self.counts[id].load(Ordering::SeqCst)
    }

    /// Total number of drops recorded over all ids.
    pub(crate) fn total_drops(&self) -> usize {
        self.counts
            .iter()
            .map(|c| usize::from(c.load(Ordering::SeqCst)))
            .sum()
    }

    /// Panics if any id has been dropped more than once.
    #[track_caller]
    pub(crate) fn assert_no_double_drop(&self) {
        let n = self.double_drops.load(Ordering::SeqCst);
        assert_eq!(
            n,
            0,
            "{n} double drop(s); first affected id: {}",
            self.first_double.load(Ordering::SeqCst)
        );
    }

    /// Panics unless `id` has been dropped exactly once.
    #[track_caller]
    pub(crate) fn assert_dropped_once(&self, id: usize) {
        self.assert_no_double_drop();
        assert_eq!(
            self.drops(id),
            1,
            "payload {id} should have been dropped exactly once"
        );
    }

    /// Panics if `id` has been dropped.
    #[track_caller]
    pub(crate) fn assert_alive(&self, id: usize) {
        self.assert_no_double_drop();
        assert_eq!(
            self.drops(id),
            0,
            "payload {id} should not have been dropped yet"
        );
    }

    /// Panics unless every id in `ids` has been dropped exactly once.
    #[track_caller]
    pub(crate) fn assert_all_dropped_once(&self, ids: std::ops::Range<usize>) {
        self.assert_no_double_drop();
        for id in ids {
            assert_eq!(
                self.drops(id),
                1,
                "payload {id} should have been dropped exactly once"
            );
        }
    }
}

/// A payload that records its own drop in a [`DropLog`].
///
/// It is deliberately neither `Clone` nor `Copy`: every instance is one
/// value passed through the channel.
pub(crate) struct Tracked<'a> {
    id: usize,
    log: &'a DropLog,
    panic_on_drop: bool,
}

impl Tracked<'_> {
    pub(crate) fn id(&self) -> usize {
        self.id
    }

    /// Makes a panicking payload drop quietly (used to clean up after a test
    /// that got such a value back).
    pub(crate) fn defuse(mut self) -> Self {
        self.panic_on_drop = false;
        self
    }
}

impl std::fmt::Debug for Tracked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tracked({})", self.id)
    }
}

impl PartialEq for Tracked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// Message carried by the panic of a panicking payload.
pub(crate) const DROP_PANIC: &str = "test payload panicked in Drop on purpose";

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        let before = self.log.counts[self.id].fetch_add(1, Ordering::SeqCst);
        if before != 0 && self.log.double_drops.fetch_add(1, Ordering::SeqCst) == 0 {
            self.log.first_double.store(self.id, Ordering::SeqCst);
        }
        if self.panic_on_drop && !thread::panicking() {
            panic!("{DROP_PANIC}");
        }
    }
}

/// Silences the default panic message for the deliberate panics of
/// [`DropLog::panicky`] payloads, and only those.
pub(crate) fn quiet_drop_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let ours =
                info.payload().downcast_ref::<String>().map(String::as_str) == Some(DROP_PANIC);
            if !ours {
                default(info);
            }
        }));
    });
}

/// Runs `f`, expecting it to unwind with the panic of a panicking payload.
#[track_caller]
pub(crate) fn expect_drop_panic<R>(f: impl FnOnce() -> R) {
    quiet_drop_panics();
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected the payload's Drop to panic"),
        Err(payload) => {
            let msg = payload.downcast_ref::<String>().map(String::as_str);
            assert_eq!(msg, Some(DROP_PANIC), "unexpected panic");
        }
    }
}

// ---------------------------------------------------------------------------
// Wakers and block_on
// ---------------------------------------------------------------------------

/// A waker that only counts how often it was woken.
#[derive(Default)]
pub(crate) struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn count(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// Makes a `Waker` from a counting waker.
pub(crate) fn waker_of(counter: &Arc<CountingWaker>) -> Waker {
    Waker::from(Arc::clone(counter))
}

/// Polls `fut` once with the given waker.
pub(crate) fn poll_once<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    let mut cx = Context::from_waker(waker);
    std::pin::Pin::new(fut).poll(&mut cx)
}

struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Runs a future to completion on the current thread, parking between polls.
///
/// The current thread is parked until the waker is used, so a lost wake-up
/// shows up as a hang (caught by [`Watchdog`] where a test uses one).
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let tw = Arc::new(ThreadWaker {
        thread: thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(Arc::clone(&tw));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        // `park` may return spuriously; only a real wake ends the wait.
        while !tw.woken.swap(false, Ordering::SeqCst) {
            thread::park();
        }
    }
}

// ---------------------------------------------------------------------------
// Watchdog
// ---------------------------------------------------------------------------

/// How long a watched thread may take before the test declares it hung.
///
/// Generous: it only exists to turn a lost wake-up into a failure with a
/// message instead of a test run that never ends.
pub(crate) const HANG_LIMIT: Duration = Duration::from_secs(60);

/// Runs `f` on a new scoped thread and waits for it for at most
/// [`HANG_LIMIT`], panicking with `what` if it does not finish in time.
///
/// The returned value is `f`'s; a panic in `f` is propagated.
pub(crate) fn within_limit<'scope, 'env, T: Send + 'scope>(
    scope: &'scope thread::Scope<'scope, 'env>,
    what: &str,
    f: impl FnOnce() -> T + Send + 'scope,
) -> Watched<'scope, T> {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let handle = scope.spawn(move || {
        let out = f();
        let _ = done_tx.send(());
        out
    });
    Watched {
        handle,
        done_rx,
        what: what.to_owned(),
    }
}

/// A scoped thread started by [`within_limit`].
pub(crate) struct Watched<'scope, T> {
    handle: thread::ScopedJoinHandle<'scope, T>,
    done_rx: mpsc::Receiver<()>,
    what: String,
}

impl<T> Watched<'_, T> {
    /// Waits for the thread, failing the test if it runs past [`HANG_LIMIT`].
    #[track_caller]
    pub(crate) fn join(self) -> T {
        match self.done_rx.recv_timeout(HANG_LIMIT) {
            // Finished, or panicked (the sender was dropped while unwinding).
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // The thread is stuck; the scope would wait for it forever,
                // so abort the whole test binary with a clear message.
                hang(&self.what);
            }
        }
        match self.handle.join() {
            Ok(out) => out,
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

/// Reports a hang and aborts the whole test binary (a stuck thread cannot be
/// cancelled). Writes to the real stderr: libtest's output capture would
/// swallow an `eprintln!` that the abort then never flushes.
fn hang(what: &str) -> ! {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "HANG: {what} did not finish within {HANG_LIMIT:?}"
    );
    std::process::abort();
}

/// Aborts the test binary if it is still alive [`HANG_LIMIT`] after
/// `start`, unless dropped first. Unlike [`within_limit`], this also covers
/// a hang of the test's own thread (for example blocked on a hand-off with a
/// thread that lost its wake-up).
pub(crate) struct Watchdog {
    done: Option<mpsc::Sender<()>>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Watchdog {
    pub(crate) fn start(what: &str) -> Self {
        let (done, rx) = mpsc::channel::<()>();
        let what = what.to_owned();
        let handle = thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(HANG_LIMIT) {
                hang(&what);
            }
        });
        Self {
            done: Some(done),
            handle: Some(handle),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Dropping the sender wakes the watchdog thread with Disconnected.
        drop(self.done.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

// ---------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------

/// xorshift64*: a small, seedable generator so runs can be reproduced.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        // Mix the seed so that small seeds give unrelated streams; never 0.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough value in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `1 / n`.
    pub(crate) fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

// ---------------------------------------------------------------------------
// Several channels, pacing
// ---------------------------------------------------------------------------

/// `n` fresh channels: their senders and their receivers, by index.
pub(crate) fn channels<T>(n: usize) -> (Vec<conflate::Sender<T>>, Vec<conflate::Receiver<T>>) {
    (0..n).map(|_| conflate::channel()).unzip()
}

/// Now and then lets the other threads run (a yield, or a short spin
/// outside Miri), so that a producer neither always outruns the receiver
/// nor always trails it on a two-core machine.
pub(crate) fn dawdle(rng: &mut Rng) {
    let roll = rng.below(32);
    if roll == 0 {
        thread::yield_now();
    } else if roll < 8 && !cfg!(miri) {
        (0..rng.below(256)).for_each(|_| std::hint::spin_loop());
    }
}

// ---------------------------------------------------------------------------
// Clone recording
// ---------------------------------------------------------------------------

/// Message carried by the panic of a [`Cloned`] payload's `clone` when the
/// log says so ([`CloneLog::panic_on_clone`]).
pub(crate) const CLONE_PANIC: &str = "test payload panicked in Clone on purpose";

/// Records every instance of [`Cloned`] payloads, made by [`CloneLog::value`]
/// or by `clone`, and every drop.
///
/// Each instance gets a serial number. The first `capacity` instances are
/// tracked one by one (a second drop of one of them is remembered, as in
/// [`DropLog`]); later ones only in the totals, so that a long stress run
/// needs no table of its size. Recording never allocates.
pub(crate) struct CloneLog {
    drops: Box<[AtomicU8]>,
    made: AtomicUsize,
    clones: AtomicUsize,
    dropped: AtomicUsize,
    double_drops: AtomicUsize,
    /// Successful clones left before one panics; `usize::MAX`: none panics.
    clones_before_panic: AtomicUsize,
}

impl CloneLog {
    /// A log that tracks the first `capacity` instances one by one.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            drops: (0..capacity).map(|_| AtomicU8::new(0)).collect(),
            made: AtomicUsize::new(0),
            clones: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            double_drops: AtomicUsize::new(0),
            clones_before_panic: AtomicUsize::new(usize::MAX),
        }
    }

    fn serial(&self) -> usize {
        self.made.fetch_add(1, Ordering::SeqCst)
    }

    /// A new payload carrying `value`.
    pub(crate) fn value(&self, value: u64) -> Cloned<'_> {
        Cloned {
            value,
            serial: self.serial(),
            log: self,
        }
    }

    /// After `n` more successful clones, the next `clone` panics (once) with
    /// [`CLONE_PANIC`].
    pub(crate) fn panic_on_clone(&self, n: usize) {
        quiet_clone_panics();
        self.clones_before_panic.store(n, Ordering::SeqCst);
    }

    /// Instances made so far, by `value` or `clone`.
    pub(crate) fn made(&self) -> usize {
        self.made.load(Ordering::SeqCst)
    }

    /// Successful clones so far.
    pub(crate) fn clones(&self) -> usize {
        self.clones.load(Ordering::SeqCst)
    }

    /// Instances made and not dropped yet.
    pub(crate) fn live(&self) -> usize {
        self.made() - self.dropped.load(Ordering::SeqCst)
    }

    /// Panics if a tracked instance was dropped twice.
    #[track_caller]
    pub(crate) fn assert_no_double_drop(&self) {
        let n = self.double_drops.load(Ordering::SeqCst);
        assert_eq!(n, 0, "{n} double drop(s)");
    }

    /// Panics unless every instance made so far was dropped exactly once:
    /// no double drop, nothing alive (leaked or still held).
    #[track_caller]
    pub(crate) fn assert_all_dropped_once(&self) {
        self.assert_no_double_drop();
        let made = self.made();
        for (serial, drops) in self.drops.iter().enumerate().take(made) {
            let drops = drops.load(Ordering::SeqCst);
            assert_eq!(drops, 1, "instance {serial} dropped {drops} times");
        }
        assert_eq!(self.live(), 0, "{} instance(s) still alive", self.live());
    }
}

/// A `Clone` payload whose every instance is recorded in a [`CloneLog`].
pub(crate) struct Cloned<'a> {
    value: u64,
    serial: usize,
    log: &'a CloneLog,
}

impl Cloned<'_> {
    pub(crate) fn value(&self) -> u64 {
        self.value
    }
}

impl Clone for Cloned<'_> {
    fn clone(&self) -> Self {
        let left = self.log.clones_before_panic.load(Ordering::SeqCst);
        if left != usize::MAX {
            // Only one thread arms the panic at a time (the tests that use
            // it clone on one thread), so a load and a store suffice.
            let next = left.checked_sub(1).unwrap_or(usize::MAX);
            self.log.clones_before_panic.store(next, Ordering::SeqCst);
            if left == 0 {
                panic!("{CLONE_PANIC}");
            }
        }
        self.log.clones.fetch_add(1, Ordering::SeqCst);
        Cloned {
            value: self.value,
            serial: self.log.serial(),
            log: self.log,
        }
    }
}

impl Drop for Cloned<'_> {
    fn drop(&mut self) {
        self.log.dropped.fetch_add(1, Ordering::SeqCst);
        if let Some(drops) = self.log.drops.get(self.serial)
            && drops.fetch_add(1, Ordering::SeqCst) != 0
        {
            self.log.double_drops.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl std::fmt::Debug for Cloned<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cloned({})", self.value)
    }
}

impl PartialEq for Cloned<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

/// Silences the default panic message for the deliberate panics of
/// [`CloneLog::panic_on_clone`], and only those.
pub(crate) fn quiet_clone_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let ours =
                info.payload().downcast_ref::<String>().map(String::as_str) == Some(CLONE_PANIC);
            if !ours {
                default(info);
            }
        }));
    });
}

/// Runs `f`, expecting it to unwind with the panic of a [`Cloned`]
/// payload's `clone`.
#[track_caller]
pub(crate) fn expect_clone_panic<R>(f: impl FnOnce() -> R) {
    quiet_clone_panics();
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected the payload's Clone to panic"),
        Err(payload) => {
            let msg = payload.downcast_ref::<String>().map(String::as_str);
            assert_eq!(msg, Some(CLONE_PANIC), "unexpected panic");
        }
    }
}
