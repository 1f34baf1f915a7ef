//! API.md rule 3: in steady state `send` and `replace` allocate nothing, and
//! neither do the receives paired with them, including a blocking
//! send/recv ping-pong between two threads.
//!
//! A counting global allocator sees every allocation of the process. It only
//! counts on threads that opted in (the test's own threads), so the test
//! harness's bookkeeping is not blamed on the channel; and this file has
//! exactly one test function, so no other test runs on an opted-in thread.
//! Each pattern gets its own warm-up before counting, so that nothing done
//! once per pattern is blamed on the steady state (the channel's own nodes
//! are allocated by `channel()`, before any counting).

mod helpers;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use conflate::channel;

struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether allocations made by this thread are counted.
    static COUNTED_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Opts the calling thread in to allocation counting.
fn count_this_thread() {
    COUNTED_THREAD.with(|c| c.set(true));
}

fn note_allocation() {
    // `try_with`: a const-initialized thread local without a destructor
    // never goes away, but the allocator must not panic regardless.
    let counted = COUNTED_THREAD.try_with(Cell::get).unwrap_or(false);
    if counted && COUNTING.load(Ordering::SeqCst) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are ours; counting touches only atomics
// and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, and
        // `ptr` came from `System` through this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract, and
        // `ptr` came from `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Counts the allocations made (by any thread) while `f` runs.
fn allocations_during(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCATIONS.load(Ordering::SeqCst)
}

/// A reusable waker for driving futures by hand without allocating per poll.
struct Unparker(Thread, AtomicBool);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.1.store(true, Ordering::SeqCst);
        self.0.unpark();
    }
}

thread_local! {
    /// Each thread's waker, made once (during warm-up) and reused.
    static THREAD_WAKER: (Arc<Unparker>, Waker) = {
        let flag = Arc::new(Unparker(thread::current(), AtomicBool::new(false)));
        let waker = Waker::from(Arc::clone(&flag));
        (flag, waker)
    };
}

/// Like `helpers::block_on`, but with a waker made once by the caller.
fn block_on_with<F: std::future::Future>(fut: F, waker: &Waker, flag: &Unparker) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        while !flag.1.swap(false, Ordering::SeqCst) {
            thread::park();
        }
    }
}

/// Two threads bounce a value through two channels, each blocking in a
/// receive made by `recv`; `main_rounds` of them are counted.
fn ping_pong_allocations(
    warm_up: u64,
    counted: u64,
    recv: fn(&mut conflate::Receiver<u64>) -> u64,
) -> u64 {
    let _watchdog = helpers::Watchdog::start("allocation ping-pong");
    let (ping_tx, mut ping_rx) = channel::<u64>();
    let (pong_tx, mut pong_rx) = channel::<u64>();
    // One extra round after counting, so the echo thread is never exiting
    // while allocations are counted.
    let total = warm_up + counted + 1;
    // `move`: a failed assertion drops `ping_tx`, which ends the echo thread.
    thread::scope(move |s| {
        s.spawn(move || {
            count_this_thread();
            for _ in 0..total {
                let v = recv(&mut ping_rx);
                pong_tx.send(v + 1).unwrap();
            }
        });
        let mut round = |i: u64| {
            ping_tx.send(2 * i).unwrap();
            assert_eq!(recv(&mut pong_rx), 2 * i + 1);
        };
        for i in 0..warm_up {
            round(i);
        }
        let n = allocations_during(|| {
            for i in warm_up..warm_up + counted {
                round(i);
            }
        });
        round(total - 1);
        n
    })
}

#[test]
fn steady_state_allocates_nothing() {
    let n = helpers::scaled(200_000, 200) as u64;
    let pp = helpers::scaled(20_000, 20) as u64;
    let warm = helpers::scaled(1_000, 5) as u64;

    count_this_thread();

    let (tx, rx) = channel::<u64>();
    let pairs = |range: std::ops::Range<u64>| {
        for i in range {
            tx.send(i).unwrap();
            assert_eq!(rx.try_recv(), Ok(i));
        }
    };
    pairs(0..warm);
    let send_try_recv = allocations_during(|| pairs(0..n));

    let (tx, rx) = channel::<u64>();
    let overwrites = |range: std::ops::Range<u64>| {
        for i in range {
            tx.send(i).unwrap();
        }
    };
    overwrites(0..warm);
    let overwriting_sends = allocations_during(|| overwrites(warm..warm + n));
    assert_eq!(rx.try_recv(), Ok(warm + n - 1));
    assert_eq!(rx.overwritten(), warm + n - 1);

    let (tx, rx) = channel::<u64>();
    assert_eq!(tx.replace(0), Ok(None));
    let replaces = |range: std::ops::Range<u64>| {
        for i in range {
            assert_eq!(tx.replace(i), Ok(Some(i - 1)));
        }
    };
    replaces(1..warm);
    let overwriting_replaces = allocations_during(|| replaces(warm..warm + n));
    assert_eq!(rx.try_recv(), Ok(warm + n - 1));
    assert_eq!(rx.overwritten(), warm + n - 1);

    let blocking_recv = ping_pong_allocations(warm, pp, |rx| rx.recv().unwrap());
    let blocking_recv_timeout = ping_pong_allocations(warm, pp, |rx| {
        rx.recv_timeout(Duration::from_secs(3600)).unwrap()
    });
    let blocking_recv_async = ping_pong_allocations(warm, pp, |rx| {
        THREAD_WAKER.with(|(flag, waker)| block_on_with(rx.recv_async(), waker, flag).unwrap())
    });

    println!("allocations: {n} send+try_recv pairs: {send_try_recv}");
    println!("allocations: {n} overwriting sends: {overwriting_sends}");
    println!("allocations: {n} overwriting replaces: {overwriting_replaces}");
    println!("allocations: {pp} blocking send/recv round trips: {blocking_recv}");
    println!("allocations: {pp} blocking send/recv_timeout round trips: {blocking_recv_timeout}");
    println!("allocations: {pp} send/recv_async round trips: {blocking_recv_async}");
    assert_eq!(send_try_recv, 0);
    assert_eq!(overwriting_sends, 0);
    assert_eq!(overwriting_replaces, 0);
    assert_eq!(blocking_recv, 0);
    assert_eq!(blocking_recv_timeout, 0);
    assert_eq!(blocking_recv_async, 0);
}
