//! Criterion benchmarks of `conflate::Publisher` (issue #11), all in one
//! process; results and ratios in `docs/publish-bench.md`.
//!
//! - `publish_idle_n{1,4,16}`: one send with n subscribers that nobody
//!   receives from, so every send displaces the value the last one left.
//!   Timed in the sending thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`,
//!   read once per criterion sample), not wall time: on a machine shared
//!   with other work, time the thread spent preempted does not count. On
//!   an idle machine the two agree; stderr gives the CPU share of each row.
//!   - `conflate_send` (n = 1 only): one plain `Sender::send`, the
//!     reference for the publisher's n = 1.
//!   - `conflate_publisher`: `Publisher::send`.
//!   - `conflate_by_hand`: n plain conflate channels, one `Sender::send`
//!     each, in a loop (what a user writes without a `Publisher`).
//!   - `tokio_watch`: `tokio::sync::watch::Sender::send` with n receivers;
//!     O(1) in n (receivers clone the value out under a read lock), shown
//!     for reference.
//!   - `mutex_slots_floor`: n `parking_lot::Mutex<Option<u64>>`, each on
//!     its own cache line (n separate locks, as n mutex-guarded channels
//!     fed by hand would be, not one lock over n slots), each locked,
//!     written and unlocked in a loop. No `Condvar` notify: a floor.
//! - `publish_wake_all_n{1,4,16}`: n observer threads block waiting for a
//!   value; the driver sends one and waits until all n have it (each
//!   observer increments a shared counter after its receive; the driver
//!   spins on the counter, yielding after a few spins so that 16 observers
//!   on 2 CPUs can run), then sends the next. Rounds follow each other at
//!   once, so an observer may still be in the busy phase of its next
//!   receive when the next value comes: what a steady stream of updates
//!   does.
//!   - `conflate_publisher`: `Publisher::send`, observers in `recv`.
//!   - `conflate_by_hand`: n plain conflate channels.
//!   - `tokio_watch`: observers wait in `changed()` on their own threads
//!     with the tiny park/unpark `block_on` below (no tokio runtime).
//!   - `pl_condvar_floor`, `std_condvar_floor`: one `Mutex<u64>` and one
//!     `Condvar`, `notify_all` after each store (parking_lot, then std);
//!     each observer waits until the number differs from the last it saw.
//! - `publish_wake_all_parked_n{1,4,16}`: the same rounds with a pause of
//!   `PARK_GAP` before each send (not timed), so every observer has
//!   finished its busy phase and is parked when the value comes, and the
//!   CPUs have gone idle (how a rare update such as a leadership change
//!   finds its observers). Criterion plans iteration counts from wall time,
//!   pauses included, so these take no longer than the others.
//!
//! No thread is pinned: with 2 CPUs, n = 4 and n = 16 observers share them
//! with the driver, and the wake-up time includes the scheduler running
//! them in turn. After each wake-up benchmark a line on stderr gives the
//! observers' voluntary context switches per observer per round
//! (`getrusage(RUSAGE_THREAD)`), which says how often an observer really
//! parked, and the cache-line round trip between the CPUs before and after
//! (`common::line_round_trip`; with `CONFLATE_BENCH_QUIET_WAIT=1` the bench
//! first waits for the machine's quiet state).
//!
//! Allocations per send with 4 subscribers are checked by a test, not here.

#[path = "common/mod.rs"]
mod common;

use std::future::Future;
use std::hint::{black_box, spin_loop};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use common::STOP;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use crossbeam_utils::CachePadded;

/// Subscriber counts.
const NS: [usize; 3] = [1, 4, 16];

/// The untimed pause before each send of `publish_wake_all_parked`: long
/// enough for 16 observers on 2 CPUs to finish spinning (127 spin hints and
/// 4 yields each, for conflate) and park.
const PARK_GAP: Duration = Duration::from_micros(200);

// ---------------------------------------------------------------------------
// The implementations
// ---------------------------------------------------------------------------

/// A way to send one value to n observers.
trait Fanout: 'static {
    /// Benchmark id, the same in every group.
    const ID: &'static str;
    /// The sending side.
    type Driver: Send + 'static;
    /// One observer's side.
    type Observer: Send + 'static;

    /// A fresh fan-out to `n` observers, nothing sent yet.
    fn new(n: usize) -> (Self::Driver, Vec<Self::Observer>);
    /// Sends `v` to every observer.
    fn send(d: &Self::Driver, v: u64);
}

/// A fan-out whose observers can block for the next value.
trait Observe: Fanout {
    /// Waits for a value newer than the last this observer received.
    fn recv(o: &mut Self::Observer) -> u64;
}

/// One plain conflate channel (n = 1 only): the reference send.
struct ConflateSend;

impl Fanout for ConflateSend {
    const ID: &'static str = "conflate_send";
    type Driver = conflate::Sender<u64>;
    type Observer = conflate::Receiver<u64>;

    fn new(n: usize) -> (Self::Driver, Vec<Self::Observer>) {
        assert_eq!(n, 1, "one plain channel");
        let (tx, rx) = conflate::channel();
        (tx, vec![rx])
    }
    #[inline]
    fn send(d: &Self::Driver, v: u64) {
        let _ = d.send(v);
    }
}

struct ConflatePublisher;

impl Fanout for ConflatePublisher {
    const ID: &'static str = "conflate_publisher";
    type Driver = conflate::Publisher<u64>;
    type Observer = conflate::Receiver<u64>;

    fn new(n: usize) -> (Self::Driver, Vec<Self::Observer>) {
        let p = conflate::Publisher::new();
        let subs = (0..n).map(|_| p.subscribe()).collect();
        (p, subs)
    }
    #[inline]
    fn send(d: &Self::Driver, v: u64) {
        black_box(d.send(v));
    }
}

impl Observe for ConflatePublisher {
    #[inline]
    fn recv(o: &mut Self::Observer) -> u64 {
        o.recv().expect("publisher dropped early")
    }
}

struct ConflateByHand;

impl Fanout for ConflateByHand {
    const ID: &'static str = "conflate_by_hand";
    type Driver = Vec<conflate::Sender<u64>>;
    type Observer = conflate::Receiver<u64>;

    fn new(n: usize) -> (Self::Driver, Vec<Self::Observer>) {
        (0..n).map(|_| conflate::channel()).unzip()
    }
    #[inline]
    fn send(d: &Self::Driver, v: u64) {
        for tx in d {
            let _ = tx.send(v);
        }
    }
}

impl Observe for ConflateByHand {
    #[inline]
    fn recv(o: &mut Self::Observer) -> u64 {
        o.recv().expect("sender dropped early")
    }
}

struct TokioWatch;

/// A tokio watch receiver and the waker of the thread that waits on it.
struct WatchObserver {
    rx: tokio::sync::watch::Receiver<u64>,
    waker: Option<Waker>,
}

/// Wakes a parked thread.
struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// The smallest executor: polls `fut`, parking the thread between polls.
/// `waker` must unpark the calling thread.
fn block_on<F: Future>(waker: &Waker, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(waker);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => thread::park(),
        }
    }
}

impl Fanout for TokioWatch {
    const ID: &'static str = "tokio_watch";
    type Driver = tokio::sync::watch::Sender<u64>;
    type Observer = WatchObserver;

    fn new(n: usize) -> (Self::Driver, Vec<Self::Observer>) {
        // The initial value counts as seen: the observers wait for the
        // first send.
        let (tx, rx) = tokio::sync::watch::channel(0);
        let observers = (0..n)
            .map(|_| WatchObserver {
                rx: rx.clone(),
                waker: None,
            })
            .collect();
        (tx, observers)
    }
    #[inline]
    fn send(d: &Self::Driver, v: u64) {
        d.send(v).expect("every watch receiver dropped early");
    }
}

impl Observe for TokioWatch {
    #[inline]
    fn recv(o: &mut Self::Observer) -> u64 {
        // Made on the observer's own thread, once.
        let waker = o
            .waker
            .get_or_insert_with(|| Waker::from(Arc::new(Unparker(thread::current()))));
        block_on(waker, o.rx.changed()).expect("watch sender dropped early");
        *o.rx.borrow_and_update()
    }
}

struct MutexSlotsFloor;

impl Fanout for MutexSlotsFloor {
    const ID: &'static str = "mutex_slots_floor";
    type Driver = Arc<[CachePadded<parking_lot::Mutex<Option<u64>>>]>;
    type Observer = Self::Driver;

    fn new(n: usize) -> (Self::Driver, Vec<Self::Observer>) {
        let slots: Self::Driver = (0..n)
            .map(|_| CachePadded::new(parking_lot::Mutex::new(None)))
            .collect();
        let observers = (0..n).map(|_| slots.clone()).collect();
        (slots, observers)
    }
    #[inline]
    fn send(d: &Self::Driver, v: u64) {
        for slot in d.iter() {
            *slot.lock() = Some(v);
        }
    }
}

/// The number last stored and the condition variable the observers wait on.
struct Board<M, C> {
    seq: M,
    changed: C,
}

/// An observer of a condvar floor: the board and the last number it saw.
struct BoardObserver<B> {
    board: Arc<B>,
    seen: u64,
}

impl<M, C> Board<M, C> {
    /// The board, shared with `n` observers that have seen nothing.
    fn share(self, n: usize) -> (Arc<Self>, Vec<BoardObserver<Self>>) {
        let board = Arc::new(self);
        let observers = (0..n)
            .map(|_| BoardObserver {
                board: board.clone(),
                seen: 0,
            })
            .collect();
        (board, observers)
    }
}

struct PlCondvarFloor;

type PlBoard = Board<parking_lot::Mutex<u64>, parking_lot::Condvar>;

impl Fanout for PlCondvarFloor {
    const ID: &'static str = "pl_condvar_floor";
    type Driver = Arc<PlBoard>;
    type Observer = BoardObserver<PlBoard>;

    fn new(n: usize) -> (Self::Driver, Vec<Self::Observer>) {
        Board {
            seq: parking_lot::Mutex::new(0),
            changed: parking_lot::Condvar::new(),
        }
        .share(n)
    }
    #[inline]
    fn send(d: &Self::Driver, v: u64) {
        *d.seq.lock() = v;
        d.changed.notify_all();
    }
}

impl Observe for PlCondvarFloor {
    #[inline]
    fn recv(o: &mut Self::Observer) -> u64 {
        let mut seq = o.board.seq.lock();
        while *seq == o.seen {
            o.board.changed.wait(&mut seq);
        }
        o.seen = *seq;
        o.seen
    }
}

struct StdCondvarFloor;

type StdBoard = Board<std::sync::Mutex<u64>, std::sync::Condvar>;

impl Fanout for StdCondvarFloor {
    const ID: &'static str = "std_condvar_floor";
    type Driver = Arc<StdBoard>;
    type Observer = BoardObserver<StdBoard>;

    fn new(n: usize) -> (Self::Driver, Vec<Self::Observer>) {
        Board {
            seq: std::sync::Mutex::new(0),
            changed: std::sync::Condvar::new(),
        }
        .share(n)
    }
    #[inline]
    fn send(d: &Self::Driver, v: u64) {
        *d.seq.lock().unwrap() = v;
        d.changed.notify_all();
    }
}

impl Observe for StdCondvarFloor {
    #[inline]
    fn recv(o: &mut Self::Observer) -> u64 {
        let guard = o.board.seq.lock().unwrap();
        let seen = o.seen;
        let seq = o.board.changed.wait_while(guard, |s| *s == seen).unwrap();
        o.seen = *seq;
        o.seen
    }
}

// ---------------------------------------------------------------------------
// publish_idle
// ---------------------------------------------------------------------------

/// CPU time the calling thread has used so far.
fn thread_cpu_time() -> Duration {
    // SAFETY: `timespec` is plain integers; all-zero is a valid value.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a valid, writable `timespec`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Times `F::send` with `n` idle observers in the thread's CPU time (see
/// the module docs), and prints the share of the wall time that was.
fn idle<F: Fanout>(g: &mut BenchmarkGroup<'_, WallTime>, n: usize) {
    let (driver, observers) = F::new(n);
    let mut seq = 0u64;
    let (mut cpu, mut wall) = (Duration::ZERO, Duration::ZERO);
    g.bench_function(F::ID, |b| {
        b.iter_custom(|iters| {
            let (w0, c0) = (Instant::now(), thread_cpu_time());
            for _ in 0..iters {
                seq += 1;
                F::send(&driver, black_box(seq));
            }
            let used = thread_cpu_time() - c0;
            wall += w0.elapsed();
            cpu += used;
            used
        });
    });
    // Nobody received: the observers are dropped only now.
    drop(observers);
    if !wall.is_zero() {
        eprintln!(
            "state: publish_idle_n{n}/{}: CPU time {:.1}% of wall time",
            F::ID,
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
        );
    }
}

// ---------------------------------------------------------------------------
// publish_wake_all
// ---------------------------------------------------------------------------

/// Voluntary context switches of the calling thread so far.
fn voluntary_switches() -> u64 {
    // SAFETY: `rusage` is plain integers; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`; RUSAGE_THREAD asks
    // for the calling thread only.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    if rc == 0 { usage.ru_nvcsw as u64 } else { 0 }
}

/// Waits until `count` reaches `target`: spins a little, then yields, so
/// that on 2 CPUs the driver leaves one to the observers.
#[inline]
fn wait_for(count: &AtomicU64, target: u64) {
    let mut spins = 0u32;
    // ORDERING: Acquire: pairs with the observers' Release increments (the
    // observers' receives are done when we see the count).
    while count.load(Ordering::Acquire) < target {
        if spins < 64 {
            spins += 1;
            spin_loop();
        } else {
            thread::yield_now();
        }
    }
}

/// One measured call: `iters` rounds to `n` observers, `gap` (untimed)
/// before each send. Returns the time from each send until every observer
/// had its value, summed, and the observers' voluntary context switches in
/// all. Threads are spawned and joined outside the timing.
fn wake_rounds<F: Observe>(n: usize, iters: u64, gap: Option<Duration>) -> (Duration, u64) {
    let (driver, observers) = F::new(n);
    let count = Arc::new(CachePadded::new(AtomicU64::new(0)));
    let start = Arc::new(Barrier::new(n + 1));
    let threads: Vec<_> = observers
        .into_iter()
        .map(|mut o| {
            let (count, start) = (count.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let switches = voluntary_switches();
                let mut expect = 1;
                loop {
                    let v = F::recv(&mut o);
                    if v == STOP {
                        return voluntary_switches() - switches;
                    }
                    assert_eq!(v, expect, "{}: an observer missed a round", F::ID);
                    expect += 1;
                    // ORDERING: Release: see `wait_for`.
                    count.fetch_add(1, Ordering::Release);
                }
            })
        })
        .collect();
    start.wait();
    let n64 = n as u64;
    let elapsed = match gap {
        None => {
            let t0 = Instant::now();
            for seq in 1..=iters {
                F::send(&driver, black_box(seq));
                wait_for(&count, seq * n64);
            }
            t0.elapsed()
        }
        Some(gap) => {
            let mut total = Duration::ZERO;
            for seq in 1..=iters {
                thread::sleep(gap);
                let t0 = Instant::now();
                F::send(&driver, black_box(seq));
                wait_for(&count, seq * n64);
                total += t0.elapsed();
            }
            total
        }
    };
    F::send(&driver, STOP);
    let switches = threads
        .into_iter()
        .map(|t| t.join().expect("observer panicked"))
        .sum();
    drop(driver);
    (elapsed, switches)
}

static QUIET: Mutex<common::QuietWait> = Mutex::new(common::QuietWait::new(common::QUIET_BUDGET));

fn wake_all<F: Observe>(g: &mut BenchmarkGroup<'_, WallTime>, n: usize, gap: Option<Duration>) {
    // Outside criterion's timing (inside it would count as warm-up).
    let before = QUIET.lock().unwrap().wait(common::PROBE_TRIPS);
    // Rounds and switches of the last call (criterion's last sample).
    let mut last = (0, 0);
    g.bench_function(F::ID, |b| {
        b.iter_custom(|iters| {
            let (elapsed, switches) = wake_rounds::<F>(n, iters, gap);
            last = (iters, switches);
            elapsed
        });
    });
    if last.0 > 0 {
        let after = common::line_round_trip(common::PROBE_TRIPS);
        eprintln!(
            "state: {}/{}: {:.3} voluntary switches per observer per round ({} rounds); \
             line round trip {before:.1} ns before, {after:.1} ns after",
            g_name(n, gap),
            F::ID,
            last.1 as f64 / (last.0 * n as u64) as f64,
            last.0,
        );
    }
}

fn g_name(n: usize, gap: Option<Duration>) -> String {
    match gap {
        None => format!("publish_wake_all_n{n}"),
        Some(_) => format!("publish_wake_all_parked_n{n}"),
    }
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
        .configure_from_args();
    eprintln!(
        "start: {} CPUs, load average {}, line round trip {:.1} ns",
        common::cpus(),
        common::loadavg_json(),
        common::line_round_trip(common::LINE_TRIPS)
    );

    for n in NS {
        let mut g = c.benchmark_group(format!("publish_idle_n{n}"));
        if n == 1 {
            idle::<ConflateSend>(&mut g, n);
        }
        idle::<ConflatePublisher>(&mut g, n);
        idle::<ConflateByHand>(&mut g, n);
        idle::<TokioWatch>(&mut g, n);
        idle::<MutexSlotsFloor>(&mut g, n);
        g.finish();
    }
    for gap in [None, Some(PARK_GAP)] {
        for n in NS {
            let mut g = c.benchmark_group(g_name(n, gap));
            wake_all::<ConflatePublisher>(&mut g, n, gap);
            wake_all::<ConflateByHand>(&mut g, n, gap);
            wake_all::<TokioWatch>(&mut g, n, gap);
            wake_all::<PlCondvarFloor>(&mut g, n, gap);
            wake_all::<StdCondvarFloor>(&mut g, n, gap);
            g.finish();
        }
    }
    c.final_summary();
    eprintln!(
        "end: load average {}, line round trip {:.1} ns, quiet wait {:.1} s",
        common::loadavg_json(),
        common::line_round_trip(common::LINE_TRIPS),
        QUIET.lock().unwrap().waited().as_secs_f64()
    );
}
