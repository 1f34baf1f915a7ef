//! Shared benchmark plumbing: one [`Chan`] trait implemented for conflate and
//! for every alternative a user might pick instead, the two payloads, CPU
//! pinning, and a timer. Included by `channels.rs` and `send_tail.rs` with
//! `mod common;`.

// Each bench binary uses a different subset of this module (for instance the
// cycle timer is only used by `send_tail`), so unused items are expected.
#![allow(dead_code)]

use std::fmt::Debug;
use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread, ThreadId};
use std::time::Instant;

/// Sequence number that tells a benchmark consumer to stop. Producers never
/// send it otherwise.
pub(crate) const STOP: u64 = u64::MAX - 1;

/// The "empty" marker of the bare atomic floors (never a real sequence).
const EMPTY: u64 = u64::MAX;

// ---------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------

/// A value sent through the channels under test.
pub(crate) trait Payload: Clone + Send + Sync + Debug + 'static {
    /// Criterion parameter string and table column ("u64" or "64B").
    const NAME: &'static str;
    /// Builds a value carrying sequence number `seq`.
    fn make(seq: u64) -> Self;
    /// The sequence number carried.
    fn seq(&self) -> u64;
}

impl Payload for u64 {
    const NAME: &'static str = "u64";
    #[inline]
    fn make(seq: u64) -> Self {
        seq
    }
    #[inline]
    fn seq(&self) -> u64 {
        *self
    }
}

/// A 64-byte payload: every word is written on `make`, so a send really moves
/// 64 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bytes64(pub(crate) [u64; 8]);

impl Payload for Bytes64 {
    const NAME: &'static str = "64B";
    #[inline]
    fn make(seq: u64) -> Self {
        Bytes64([seq; 8])
    }
    #[inline]
    fn seq(&self) -> u64 {
        self.0[0]
    }
}

/// The same 64 bytes as a bare `[u64; 8]`, `[seq; 8]`, built by broadcast:
/// `seq` copied into both halves of a vector register, which is stored four
/// times, 16 bytes at a time (`send_idle` only). That is how the compiler
/// builds `[seq; 8]` in most code (a function returning it, a loop filling
/// an array; with AVX, two 32-byte stores), but in the benchmark loop it
/// picks eight 8-byte stores, as for [`Bytes64`] (seen with `objdump`), so
/// the broadcast is spelled out here on x86_64. A copy that loads a value
/// in pieces of another size than the stores that built it can stall
/// (store-to-load forwarding); these rows show what each design's copy
/// costs for such a value.
impl Payload for [u64; 8] {
    const NAME: &'static str = "64B_splat";
    #[inline]
    fn make(seq: u64) -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{__m128i, _mm_set1_epi64x, _mm_storeu_si128};
            let mut out = std::mem::MaybeUninit::<[u64; 8]>::uninit();
            // SAFETY: SSE2 is part of every x86_64 target.
            let half = unsafe { _mm_set1_epi64x(seq as i64) };
            let p = out.as_mut_ptr().cast::<__m128i>();
            for i in 0..4 {
                // SAFETY: `p` points to 64 writable bytes, so 16-byte chunk
                // `i` (< 4) is in bounds and `add` stays inside them.
                let chunk = unsafe { p.add(i) };
                // SAFETY: `chunk` is 16 writable bytes; `storeu` needs no
                // alignment; SSE2 as above.
                unsafe { _mm_storeu_si128(chunk, half) };
            }
            // SAFETY: the four stores above wrote all 64 bytes.
            unsafe { out.assume_init() }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            [seq; 8]
        }
    }
    #[inline]
    fn seq(&self) -> u64 {
        self[0]
    }
}

// ---------------------------------------------------------------------------
// The trait
// ---------------------------------------------------------------------------

/// One implementation under test. Methods take the halves by `&mut` so that
/// single-producer designs (triple_buffer) fit; the others ignore the `mut`.
pub(crate) trait Chan<T: Payload>: 'static {
    /// Benchmark id, identical in every criterion group.
    const ID: &'static str;
    /// `recv` really blocks (parks) instead of spinning.
    const BLOCKING: bool;
    /// More than one producer may send at once (`clone_tx` works).
    const MULTI_PRODUCER: bool;
    /// Producer half.
    type Tx: Send + 'static;
    /// Consumer half.
    type Rx: Send + 'static;

    /// A fresh, empty channel.
    fn new() -> (Self::Tx, Self::Rx);
    /// A second producer handle. Only called when `MULTI_PRODUCER`.
    fn clone_tx(tx: &Self::Tx) -> Self::Tx;
    /// Called once on the thread that will receive, before any timed work.
    fn attach(_rx: &mut Self::Rx) {}
    /// Overwrite the slot with `value` (the displaced value, if any, is
    /// dropped).
    fn send(tx: &mut Self::Tx, value: T);
    /// Take the latest value if one is waiting.
    fn try_recv(rx: &mut Self::Rx) -> Option<T>;
    /// Wait for a value: parks when `BLOCKING`, spins on `try_recv` otherwise.
    fn recv(rx: &mut Self::Rx) -> T;
}

/// Spin-wait receive, used by the designs that cannot block.
#[inline]
pub(crate) fn spin_recv<T: Payload, C: Chan<T>>(rx: &mut C::Rx) -> T {
    loop {
        if let Some(v) = C::try_recv(rx) {
            return v;
        }
        spin_loop();
    }
}

/// A generic callback over every implementation (Rust has no generic
/// closures).
pub(crate) trait Visit<T: Payload> {
    fn visit<C: Chan<T>>(&mut self);
}

/// Calls `v.visit::<C>()` for conflate first, then every baseline, then the
/// floors. The order here is the order of every table.
pub(crate) fn for_each_impl<T: Payload, V: Visit<T>>(v: &mut V) {
    v.visit::<Conflate>();
    v.visit::<StdMutexCondvar>();
    v.visit::<ParkingLotMutexCondvar>();
    v.visit::<CrossbeamDrain>();
    v.visit::<StdSyncChannelDrain>();
    v.visit::<AsyncChannelForce>();
    v.visit::<TokioWatch>();
    v.visit::<TripleBuffer>();
    v.visit::<ArcSwap>();
    v.visit::<AtomicSwapFloor>();
    v.visit::<ParkUnparkFloor>();
}

// ---------------------------------------------------------------------------
// conflate (public API only)
// ---------------------------------------------------------------------------

pub(crate) struct Conflate;

impl<T: Payload> Chan<T> for Conflate {
    const ID: &'static str = "conflate";
    const BLOCKING: bool = true;
    const MULTI_PRODUCER: bool = true;
    type Tx = conflate::Sender<T>;
    type Rx = conflate::Receiver<T>;

    fn new() -> (Self::Tx, Self::Rx) {
        conflate::channel()
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T) {
        let _ = tx.send(value);
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.try_recv().ok()
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> T {
        rx.recv().expect("conflate: benchmark sender dropped early")
    }
}

// ---------------------------------------------------------------------------
// 1. std Mutex<Option<T>> + Condvar
// ---------------------------------------------------------------------------

pub(crate) struct StdMutexCondvar;

type StdShared<T> = Arc<(std::sync::Mutex<Option<T>>, std::sync::Condvar)>;

impl<T: Payload> Chan<T> for StdMutexCondvar {
    const ID: &'static str = "std_mutex_condvar";
    const BLOCKING: bool = true;
    const MULTI_PRODUCER: bool = true;
    type Tx = StdShared<T>;
    type Rx = StdShared<T>;

    fn new() -> (Self::Tx, Self::Rx) {
        let s = Arc::new((std::sync::Mutex::new(None), std::sync::Condvar::new()));
        (s.clone(), s)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T) {
        // The displaced value is dropped after the unlock and the notify, as a
        // careful user would write it.
        let old = tx.0.lock().unwrap().replace(value);
        tx.1.notify_one();
        drop(old);
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.0.lock().unwrap().take()
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> T {
        let mut slot = rx.0.lock().unwrap();
        loop {
            if let Some(v) = slot.take() {
                return v;
            }
            slot = rx.1.wait(slot).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------
// 2. parking_lot Mutex<Option<T>> + Condvar
// ---------------------------------------------------------------------------

pub(crate) struct ParkingLotMutexCondvar;

type PlShared<T> = Arc<(parking_lot::Mutex<Option<T>>, parking_lot::Condvar)>;

impl<T: Payload> Chan<T> for ParkingLotMutexCondvar {
    const ID: &'static str = "parking_lot_mutex_condvar";
    const BLOCKING: bool = true;
    const MULTI_PRODUCER: bool = true;
    type Tx = PlShared<T>;
    type Rx = PlShared<T>;

    fn new() -> (Self::Tx, Self::Rx) {
        let s = Arc::new((parking_lot::Mutex::new(None), parking_lot::Condvar::new()));
        (s.clone(), s)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T) {
        let old = tx.0.lock().replace(value);
        tx.1.notify_one();
        drop(old);
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.0.lock().take()
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> T {
        let mut slot = rx.0.lock();
        loop {
            if let Some(v) = slot.take() {
                return v;
            }
            rx.1.wait(&mut slot);
        }
    }
}

// ---------------------------------------------------------------------------
// 3. crossbeam_channel::bounded(1), overwrite by draining with a receiver clone
// ---------------------------------------------------------------------------

pub(crate) struct CrossbeamDrain;

impl<T: Payload> Chan<T> for CrossbeamDrain {
    const ID: &'static str = "crossbeam_bounded1_drain";
    const BLOCKING: bool = true;
    const MULTI_PRODUCER: bool = true;
    type Tx = (crossbeam_channel::Sender<T>, crossbeam_channel::Receiver<T>);
    type Rx = crossbeam_channel::Receiver<T>;

    fn new() -> (Self::Tx, Self::Rx) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        ((tx, rx.clone()), rx)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        (tx.0.clone(), tx.1.clone())
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T) {
        // Not wait-free: with several producers or a racing consumer this loop
        // can go round more than twice.
        let mut value = value;
        loop {
            match tx.0.try_send(value) {
                Ok(()) => return,
                Err(crossbeam_channel::TrySendError::Full(back)) => {
                    drop(tx.1.try_recv());
                    value = back;
                }
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => return,
            }
        }
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.try_recv().ok()
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> T {
        rx.recv()
            .expect("crossbeam: benchmark sender dropped early")
    }
}

// ---------------------------------------------------------------------------
// 4. std::sync::mpsc::sync_channel(1), same emulation
// ---------------------------------------------------------------------------
//
// std's `Receiver` is neither `Clone` nor `Sync`, so the producer cannot own a
// receiver clone to drain with. The closest honest emulation shares the one
// receiver in a `Mutex`: the producer first tries `try_send`; only when the
// slot is full does it `try_lock` the receiver, take the stale value and
// retry. The consumer locks the same mutex around its `try_recv`/`recv`. That
// lock is the cost of emulating overwrite on std mpsc, and it is included in
// every number. Like the crossbeam emulation this send is not wait-free: it
// retries while the consumer holds the receiver.

pub(crate) struct StdSyncChannelDrain;

type MpscRx<T> = Arc<std::sync::Mutex<std::sync::mpsc::Receiver<T>>>;

impl<T: Payload> Chan<T> for StdSyncChannelDrain {
    const ID: &'static str = "std_sync_channel1_drain";
    const BLOCKING: bool = true;
    const MULTI_PRODUCER: bool = true;
    type Tx = (std::sync::mpsc::SyncSender<T>, MpscRx<T>);
    type Rx = MpscRx<T>;

    fn new() -> (Self::Tx, Self::Rx) {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        ((tx, rx.clone()), rx)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        (tx.0.clone(), tx.1.clone())
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T) {
        let mut value = value;
        loop {
            match tx.0.try_send(value) {
                Ok(()) => return,
                Err(std::sync::mpsc::TrySendError::Full(back)) => {
                    // `try_lock`, not `lock`: the consumer may hold the mutex
                    // while blocked in `recv`, and a producer waiting for it
                    // would deadlock once the consumer has taken the value and
                    // blocked again. A failed `try_lock` means the consumer is
                    // receiving right now, so retrying the send makes progress.
                    match tx.1.try_lock() {
                        Ok(rx) => drop(rx.try_recv()),
                        Err(_) => spin_loop(),
                    }
                    value = back;
                }
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return,
            }
        }
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.lock().unwrap().try_recv().ok()
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> T {
        // Holds the mutex while blocked. A producer only needs it when the
        // slot is full, and then this `recv` is about to return.
        rx.lock()
            .unwrap()
            .recv()
            .expect("mpsc: benchmark sender dropped early")
    }
}

// ---------------------------------------------------------------------------
// 5. async_channel::bounded(1) with force_send
// ---------------------------------------------------------------------------

pub(crate) struct AsyncChannelForce;

impl<T: Payload> Chan<T> for AsyncChannelForce {
    const ID: &'static str = "async_channel_force_send";
    const BLOCKING: bool = true;
    const MULTI_PRODUCER: bool = true;
    type Tx = async_channel::Sender<T>;
    type Rx = async_channel::Receiver<T>;

    fn new() -> (Self::Tx, Self::Rx) {
        async_channel::bounded(1)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T) {
        drop(tx.force_send(value));
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.try_recv().ok()
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> T {
        rx.recv_blocking()
            .expect("async-channel: benchmark sender dropped early")
    }
}

// ---------------------------------------------------------------------------
// 6. tokio::sync::watch (feature "sync" only, no runtime)
// ---------------------------------------------------------------------------
//
// Send is `send_replace` (stores even with no receiver, like conflate).
// `try_recv` is `has_changed` + `borrow_and_update().clone()`. The blocking
// `recv` polls `changed()` with a minimal thread-parking executor whose
// `Waker` is built once per receiving thread and then reused, so the harness
// adds no allocation per receive.

pub(crate) struct TokioWatch;

/// Receiver half for tokio watch: the receiver plus a cached parking waker.
pub(crate) struct WatchRx<T> {
    rx: tokio::sync::watch::Receiver<T>,
    waker: Option<(ThreadId, Waker)>,
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl<T> WatchRx<T> {
    fn waker(&mut self) -> Waker {
        let me = thread::current();
        match &self.waker {
            Some((id, w)) if *id == me.id() => w.clone(),
            _ => {
                let w = Waker::from(Arc::new(ThreadWaker(me.clone())));
                self.waker = Some((me.id(), w.clone()));
                w
            }
        }
    }
}

impl<T: Payload> Chan<T> for TokioWatch {
    const ID: &'static str = "tokio_watch";
    const BLOCKING: bool = true;
    const MULTI_PRODUCER: bool = true;
    type Tx = tokio::sync::watch::Sender<T>;
    type Rx = WatchRx<T>;

    fn new() -> (Self::Tx, Self::Rx) {
        // The initial value is marked seen, so the channel starts "empty".
        let (tx, rx) = tokio::sync::watch::channel(T::make(0));
        (tx, WatchRx { rx, waker: None })
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    fn attach(rx: &mut Self::Rx) {
        let _ = rx.waker();
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T) {
        drop(tx.send_replace(value));
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        if rx.rx.has_changed().unwrap_or(false) {
            Some(rx.rx.borrow_and_update().clone())
        } else {
            None
        }
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> T {
        let waker = rx.waker();
        let mut cx = Context::from_waker(&waker);
        {
            let mut fut = std::pin::pin!(rx.rx.changed());
            loop {
                match fut.as_mut().poll(&mut cx) {
                    Poll::Ready(r) => {
                        r.expect("tokio watch: benchmark sender dropped early");
                        break;
                    }
                    Poll::Pending => thread::park(),
                }
            }
        }
        rx.rx.borrow_and_update().clone()
    }
}

// ---------------------------------------------------------------------------
// 7a. triple_buffer (wait-free, single producer, cannot block)
// ---------------------------------------------------------------------------

pub(crate) struct TripleBuffer;

impl<T: Payload> Chan<T> for TripleBuffer {
    const ID: &'static str = "triple_buffer";
    const BLOCKING: bool = false;
    const MULTI_PRODUCER: bool = false;
    type Tx = triple_buffer::Input<T>;
    type Rx = triple_buffer::Output<T>;

    fn new() -> (Self::Tx, Self::Rx) {
        triple_buffer::triple_buffer(&T::make(0))
    }
    fn clone_tx(_tx: &Self::Tx) -> Self::Tx {
        unreachable!("triple_buffer has a single producer; callers check MULTI_PRODUCER")
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T) {
        tx.write(value);
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        if rx.update() {
            Some(rx.output_buffer_mut().clone())
        } else {
            None
        }
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> T {
        spin_recv::<T, Self>(rx)
    }
}

// ---------------------------------------------------------------------------
// 7b. arc_swap::ArcSwapOption (lock-free, cannot block; one Arc per send)
// ---------------------------------------------------------------------------

pub(crate) struct ArcSwap;

impl<T: Payload> Chan<T> for ArcSwap {
    const ID: &'static str = "arc_swap";
    const BLOCKING: bool = false;
    const MULTI_PRODUCER: bool = true;
    type Tx = Arc<arc_swap::ArcSwapOption<T>>;
    type Rx = Arc<arc_swap::ArcSwapOption<T>>;

    fn new() -> (Self::Tx, Self::Rx) {
        let s = Arc::new(arc_swap::ArcSwapOption::empty());
        (s.clone(), s)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T) {
        tx.store(Some(Arc::new(value)));
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.swap(None)
            .map(|a| Arc::try_unwrap(a).unwrap_or_else(|a| (*a).clone()))
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> T {
        spin_recv::<T, Self>(rx)
    }
}

// ---------------------------------------------------------------------------
// Floor 1: a bare AtomicU64::swap
// ---------------------------------------------------------------------------
//
// Carries only the sequence number, for both payloads: it is the cost of the
// one RMW any conflating slot needs, not a channel. For `64B` the remaining
// words are rebuilt on receive (`Payload::make`).

pub(crate) struct AtomicSwapFloor;

impl<T: Payload> Chan<T> for AtomicSwapFloor {
    const ID: &'static str = "atomic_swap_floor";
    const BLOCKING: bool = false;
    const MULTI_PRODUCER: bool = true;
    type Tx = Arc<AtomicU64>;
    type Rx = Arc<AtomicU64>;

    fn new() -> (Self::Tx, Self::Rx) {
        let s = Arc::new(AtomicU64::new(EMPTY));
        (s.clone(), s)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T) {
        tx.swap(value.seq(), Ordering::AcqRel);
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        // A plain load first keeps the spinning consumer from stealing the
        // cache line in exclusive state on every poll.
        if rx.load(Ordering::Relaxed) == EMPTY {
            return None;
        }
        match rx.swap(EMPTY, Ordering::AcqRel) {
            EMPTY => None,
            seq => Some(T::make(seq)),
        }
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> T {
        spin_recv::<T, Self>(rx)
    }
}

// ---------------------------------------------------------------------------
// Floor 2: AtomicU64::swap + raw thread::park / unpark
// ---------------------------------------------------------------------------
//
// The least a blocking conflating slot can do: the producer swaps the value in
// and unparks the registered receiver thread; the receiver swaps the slot
// empty and parks when it found nothing. Correct by the park token: an unpark
// that lands before the park makes the park return at once. The receiver
// registers its thread in `attach`, which every harness calls before the
// timed work starts; with no receiver registered `send` skips the unpark.

pub(crate) struct ParkUnparkFloor;

/// Shared block of the park/unpark floor.
pub(crate) struct ParkShared {
    slot: AtomicU64,
    receiver: OnceLock<Thread>,
}

impl<T: Payload> Chan<T> for ParkUnparkFloor {
    const ID: &'static str = "park_unpark_floor";
    const BLOCKING: bool = true;
    const MULTI_PRODUCER: bool = true;
    type Tx = Arc<ParkShared>;
    type Rx = Arc<ParkShared>;

    fn new() -> (Self::Tx, Self::Rx) {
        let s = Arc::new(ParkShared {
            slot: AtomicU64::new(EMPTY),
            receiver: OnceLock::new(),
        });
        (s.clone(), s)
    }
    fn clone_tx(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    fn attach(rx: &mut Self::Rx) {
        let me = thread::current();
        let registered = rx.receiver.get_or_init(|| me.clone());
        assert_eq!(registered.id(), me.id(), "attach from one thread only");
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T) {
        tx.slot.swap(value.seq(), Ordering::AcqRel);
        if let Some(t) = tx.receiver.get() {
            t.unpark();
        }
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        if rx.slot.load(Ordering::Relaxed) == EMPTY {
            return None;
        }
        match rx.slot.swap(EMPTY, Ordering::AcqRel) {
            EMPTY => None,
            seq => Some(T::make(seq)),
        }
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> T {
        debug_assert!(rx.receiver.get().is_some(), "recv before attach");
        loop {
            if let Some(v) = <Self as Chan<T>>::try_recv(rx) {
                return v;
            }
            thread::park();
        }
    }
}

// ---------------------------------------------------------------------------
// Pinning and timing
// ---------------------------------------------------------------------------

/// Number of CPUs this process may run on.
pub(crate) fn cpus() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// Pins the calling thread to `cpu` (modulo the CPU count). Returns whether
/// the kernel accepted it; on one CPU or a non-Linux OS this is a no-op.
#[cfg(target_os = "linux")]
pub(crate) fn pin_to(cpu: usize) -> bool {
    let cpu = cpu % cpus();
    // SAFETY: `cpu_set_t` is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` < CPU count <= CPU_SETSIZE, so the bit index is in range.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a valid `cpu_set_t` of
    // the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    rc == 0
}

/// Pinning is Linux-only here.
#[cfg(not(target_os = "linux"))]
pub(crate) fn pin_to(_cpu: usize) -> bool {
    false
}

/// Spawns a thread, pinned to `cpu` when `Some`.
pub(crate) fn spawn_on<R: Send + 'static>(
    cpu: Option<usize>,
    f: impl FnOnce() -> R + Send + 'static,
) -> thread::JoinHandle<R> {
    thread::spawn(move || {
        if let Some(cpu) = cpu {
            pin_to(cpu);
        }
        f()
    })
}

/// Directory for the side results that criterion does not store
/// (`target/bench-results` of the workspace root, one directory above this
/// package), honouring `CARGO_TARGET_DIR`.
pub(crate) fn results_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("bench-results");
    std::fs::create_dir_all(&dir).expect("create target/bench-results");
    dir
}

/// Escapes nothing: ids and names here are plain ASCII identifiers. Kept as a
/// function so the JSON writers below read as one style.
pub(crate) fn json_str(s: &str) -> String {
    debug_assert!(s.chars().all(|c| c != '"' && c != '\\'));
    format!("\"{s}\"")
}

/// The median of `v` (the mean of the two middle values for an even
/// count; NaN for none).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A number for the JSON files: `null` when it is not finite (NaN is not
/// JSON).
pub(crate) fn json_f64(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "null".to_owned()
    }
}

/// The 1/5/15-minute load averages as a JSON array (`null` where
/// `/proc/loadavg` is missing): the benches record them at start and end so
/// the report can show how busy the machine was.
pub(crate) fn loadavg_json() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| {
            let f: Vec<&str> = s.split_whitespace().take(3).collect();
            format!("[{}]", f.join(", "))
        })
        .unwrap_or_else(|| "null".to_owned())
}

/// One cache line bounced between CPU 0 and CPU 1 `trips` times (A stores
/// an odd number, B waits for it and stores the next even one, A waits for
/// that): ns per round trip. Every bench records it at its start and end and
/// around each measurement that uses both CPUs, to say which state the
/// machine was in (see [`is_slow`]); each result also lowers the process's
/// [`best_round_trip`]. NaN on one CPU, where the two threads could only
/// take turns through the scheduler.
pub(crate) fn line_round_trip(trips: u64) -> f64 {
    if cpus() < 2 {
        return f64::NAN;
    }
    /// The bounced word on a line of its own.
    #[repr(align(128))]
    struct CachePadded(AtomicU64);

    let line = Arc::new(CachePadded(AtomicU64::new(0)));
    let start = Arc::new(Barrier::new(2));
    let b = {
        let (line, start) = (line.clone(), start.clone());
        spawn_on(Some(1), move || {
            start.wait();
            for k in 0..trips {
                // ORDERING: Acquire/Release: a plain hand-off of the turn.
                while line.0.load(Ordering::Acquire) != 2 * k + 1 {
                    std::hint::spin_loop();
                }
                line.0.store(2 * k + 2, Ordering::Release);
            }
        })
    };
    let a = spawn_on(Some(0), move || {
        start.wait();
        let t0 = Instant::now();
        for k in 0..trips {
            // ORDERING: as above.
            line.0.store(2 * k + 1, Ordering::Release);
            while line.0.load(Ordering::Acquire) != 2 * k + 2 {
                std::hint::spin_loop();
            }
        }
        t0.elapsed()
    });
    let elapsed = a.join().expect("thread A panicked");
    b.join().expect("thread B panicked");
    let trip = elapsed.as_nanos() as f64 / trips as f64;
    // ORDERING: Relaxed: a running minimum; no other data hangs on it.
    BEST_TRIP.fetch_min(trip.to_bits(), Ordering::Relaxed);
    trip
}

/// The lowest [`line_round_trip`] of this process so far, as `f64` bits:
/// for positive floats the bit patterns order as the values do, so
/// `fetch_min` on the bits keeps the minimum. Starts at +infinity.
static BEST_TRIP: AtomicU64 = AtomicU64::new(0x7ff0_0000_0000_0000);

/// The lowest cache-line round trip measured in this process so far, in ns
/// (+infinity before the first, or on one CPU).
pub(crate) fn best_round_trip() -> f64 {
    // ORDERING: Relaxed: see `BEST_TRIP`.
    f64::from_bits(BEST_TRIP.load(Ordering::Relaxed))
}

/// A round trip more than this many times the best one of the same process
/// means the machine was in a slow state: the figure is the machine's own,
/// so the judgement holds on any machine (a two-socket server or an ARM
/// board whose cross-CPU trip is far above a laptop's is not "slow" for
/// that). Why 2: on the 2-vCPU guest these benches were written on, the
/// quiet state's trips stayed within 1.2x of the best (65.9 to 76.7 ns in one
/// run), while its slow state took 310 to 370 ns, about 5x; other work on
/// the same CPUs preempting one of the two spinning threads shows up the
/// same way. A factor of 2 sits well clear of both. A process that runs in
/// a slow state from start to end cannot tell; the start and end trips in
/// each JSON file let runs be compared.
pub(crate) const SLOW_FACTOR: f64 = 2.0;

/// Whether a round trip of `trip` ns means the machine was in a slow state
/// ([`SLOW_FACTOR`] times the process's best so far). NaN (one CPU) is not
/// slow.
pub(crate) fn is_slow(trip: f64) -> bool {
    trip > SLOW_FACTOR * best_round_trip()
}

/// The JSON fields every bench file carries about the machine's state,
/// without braces: time waited for the quiet state, the process's best
/// round trip and the factor; `scripts/bench_report.py` marks a row slow
/// when a trip around it exceeds factor x best.
pub(crate) fn state_json(waited: std::time::Duration) -> String {
    format!(
        "\"quiet_wait_s\": {:.1}, \"line_round_trip_best_ns\": {}, \"slow_factor\": {SLOW_FACTOR:.1}",
        waited.as_secs_f64(),
        json_f64(best_round_trip())
    )
}

/// Round trips per check of the machine's state at the start and end of a
/// bench process.
pub(crate) const LINE_TRIPS: u64 = 100_000;

/// Round trips per check of the machine's state around one measurement
/// (about 1.3 ms when the machine is quiet).
pub(crate) const PROBE_TRIPS: u64 = 20_000;

/// Name of the environment variable that turns on the wait for the quiet
/// state: `CONFLATE_BENCH_QUIET_WAIT=1 cargo bench`. Without it the benches
/// never wait; they still measure the state around each cross-CPU
/// measurement, and the report marks the rows measured in a slow one.
pub(crate) const QUIET_WAIT_VAR: &str = "CONFLATE_BENCH_QUIET_WAIT";

/// Whether `QUIET_WAIT_VAR` is set to something other than empty or `0`.
pub(crate) fn quiet_wait_on() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os(QUIET_WAIT_VAR).is_some_and(|v| !v.is_empty() && v != "0"))
}

/// Time each bench process may spend waiting for the quiet state when the
/// wait is on: with the three bench processes of `cargo bench` that is at
/// most three minutes in all, so the run stays under ten minutes even on a
/// machine that stays slow.
pub(crate) const QUIET_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits for the machine's quiet state before a cross-CPU measurement, if
/// `QUIET_WAIT_VAR` asks for it, all waits of one process sharing one time
/// budget: a run on a machine that stays slow still finishes, and its rows
/// are then marked slow by the report.
pub(crate) struct QuietWait {
    budget: std::time::Duration,
    waited: std::time::Duration,
}

impl QuietWait {
    pub(crate) const fn new(budget: std::time::Duration) -> Self {
        QuietWait {
            budget,
            waited: std::time::Duration::ZERO,
        }
    }

    /// Measures the round trip with `trips` trips, and while it shows a
    /// slow state and the wait is on with budget left, sleeps a quarter
    /// second and measures again. Returns the last measurement (NaN on one
    /// CPU).
    pub(crate) fn wait(&mut self, trips: u64) -> f64 {
        loop {
            let t0 = Instant::now();
            let trip = line_round_trip(trips);
            if !is_slow(trip) || self.exhausted() {
                return trip;
            }
            thread::sleep(std::time::Duration::from_millis(250));
            self.waited += t0.elapsed();
        }
    }

    /// Whether no more waiting will happen: the wait is off or its budget
    /// is spent.
    pub(crate) fn exhausted(&self) -> bool {
        !quiet_wait_on() || self.waited >= self.budget
    }

    /// Total time spent waiting so far.
    pub(crate) fn waited(&self) -> std::time::Duration {
        self.waited
    }
}
