//! API.md rule 12's costs, measured with a counting global allocator: in
//! steady state `Publisher::send` allocates nothing (T = u64, 4
//! subscribers); and subscribing and dropping many receivers keeps memory
//! bounded, with or without sends in between: live bytes after 100,000
//! subscribe + drop cycles stay under 64 KiB above where they started, and
//! so do they at every point of a million cycles.
//!
//! The allocator counts per thread (thread-local counters, opted in by the
//! test's thread): every test here does all its work on one thread, so what
//! it measures is its own, also while the harness runs the other tests.

mod helpers;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use conflate::{Publisher, Receiver, TryRecvError};
use helpers::scaled;

struct CountingAlloc;

thread_local! {
    /// Whether this thread counts.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
    /// Allocations (alloc, alloc_zeroed, realloc) made by this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Bytes allocated minus bytes freed by this thread.
    static LIVE: Cell<i64> = const { Cell::new(0) };
    /// The highest `LIVE` since the last `reset_peak`.
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn note(allocated: usize, freed: usize, counts_as_allocation: bool) {
    // `try_with`: const-initialized thread locals without destructors never
    // go away, but the allocator must not panic regardless.
    let _ = COUNTED.try_with(|counted| {
        if !counted.get() {
            return;
        }
        if counts_as_allocation {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        LIVE.with(|live| {
            let now = live.get() + allocated as i64 - freed as i64;
            live.set(now);
            PEAK.with(|peak| peak.set(peak.get().max(now)));
        });
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are ours; counting touches only
// const-initialized thread locals and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size(), 0, true);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size(), 0, true);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, and
        // `ptr` came from `System` through this allocator.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size, layout.size(), true);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract, and
        // `ptr` came from `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) };
        note(0, layout.size(), false);
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn count_this_thread() {
    COUNTED.with(|c| c.set(true));
}

/// Allocations this thread makes while `f` runs.
fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn live_bytes() -> i64 {
    LIVE.with(Cell::get)
}

/// Resets the high-water mark to the current live bytes.
fn reset_peak() {
    PEAK.with(|peak| peak.set(live_bytes()));
}

fn peak_bytes() -> i64 {
    PEAK.with(Cell::get)
}

/// The bound of API.md rule 12 (and issue 11) for 100,000 cycles.
const BOUND: i64 = 64 * 1024;

const SUBSCRIBERS: usize = 4;

/// `send` with 4 subscribers, T = u64: no allocation after a warm-up
/// send, whether the subscribers receive every value, some, or none (each
/// pattern warmed up first; a subscriber's channel allocates its nodes in
/// `subscribe`).
#[test]
fn steady_state_send_allocates_nothing() {
    count_this_thread();
    let n = scaled(100_000, 60) as u64;
    let p = Publisher::<u64>::new();
    let subs: Vec<Receiver<u64>> = (0..SUBSCRIBERS).map(|_| p.subscribe()).collect();

    // Every subscriber takes every value.
    let send_and_take = |range: std::ops::Range<u64>| {
        for v in range {
            assert_eq!(p.send(v), SUBSCRIBERS);
            for rx in &subs {
                assert_eq!(rx.try_recv(), Ok(v));
            }
        }
    };
    send_and_take(0..2);
    let taken = allocations_during(|| send_and_take(2..2 + n));

    // Nobody receives: every send displaces in every channel.
    let overwrite = |range: std::ops::Range<u64>| {
        for v in range {
            assert_eq!(p.send(v), SUBSCRIBERS);
        }
    };
    overwrite(0..2);
    let overwriting = allocations_during(|| overwrite(2..2 + n));
    for rx in &subs {
        assert_eq!(rx.try_recv(), Ok(n + 1));
    }

    // Mixed: subscriber i takes every (i + 1)-th value.
    let mixed = |range: std::ops::Range<u64>| {
        for v in range {
            p.send(v);
            for (i, rx) in subs.iter().enumerate() {
                if v % (i as u64 + 1) == 0 {
                    assert_eq!(rx.try_recv(), Ok(v));
                }
            }
        }
    };
    mixed(0..12);
    let mixed_count = allocations_during(|| mixed(12..12 + n));

    // subscriber_count is as cheap.
    let counts = allocations_during(|| {
        for _ in 0..scaled(10_000, 20) {
            assert_eq!(p.subscriber_count(), SUBSCRIBERS);
        }
    });

    println!("allocations: {n} sends to {SUBSCRIBERS} subscribers taking each: {taken}");
    println!("allocations: {n} overwriting sends to {SUBSCRIBERS} subscribers: {overwriting}");
    println!("allocations: {n} sends, subscribers taking some: {mixed_count}");
    println!("allocations: subscriber_count calls: {counts}");
    assert_eq!(taken, 0);
    assert_eq!(overwriting, 0);
    assert_eq!(mixed_count, 0);
    assert_eq!(counts, 0);
}

/// Sending to dropped subscribers allocates nothing either, before and
/// after a `subscribe` has freed their channels.
#[test]
fn send_past_dropped_subscribers_allocates_nothing() {
    count_this_thread();
    let n = scaled(10_000, 30) as u64;
    let p = Publisher::<u64>::new();
    let mut subs: Vec<Receiver<u64>> = (0..2 * SUBSCRIBERS).map(|_| p.subscribe()).collect();
    p.send(0);
    subs.truncate(SUBSCRIBERS); // half of them gone, not yet freed
    p.send(1);
    let past_dropped = allocations_during(|| {
        for v in 0..n {
            assert_eq!(p.send(v), SUBSCRIBERS);
        }
    });
    drop(p.subscribe()); // frees them (and is gone itself)
    p.send(0);
    let after_free = allocations_during(|| {
        for v in 0..n {
            assert_eq!(p.send(v), SUBSCRIBERS);
        }
    });
    println!(
        "allocations: {n} sends past dropped subscribers: {past_dropped}, after the free: {after_free}"
    );
    assert_eq!(past_dropped, 0);
    assert_eq!(after_free, 0);
    for rx in &subs {
        assert_eq!(rx.try_recv(), Ok(n - 1));
    }
}

/// Runs `cycles` subscribe + drop cycles (cycle `i` with one send first if
/// `send(i)`), next to `SUBSCRIBERS` long-lived subscribers; returns the
/// live bytes at the end and at the highest point, above where they were
/// after a warm-up of the same cycles.
fn churn(cycles: usize, send: impl Fn(usize) -> bool) -> (i64, i64) {
    count_this_thread();
    let p = Publisher::<u64>::new();
    let keep: Vec<Receiver<u64>> = (0..SUBSCRIBERS).map(|_| p.subscribe()).collect();
    let mut latest = None;
    let mut cycle = |i: usize| {
        if send(i) {
            assert_eq!(p.send(i as u64), SUBSCRIBERS);
            latest = Some(i as u64);
        }
        let rx = p.subscribe();
        match latest {
            Some(v) => assert_eq!(rx.try_recv(), Ok(v), "starts from the latest"),
            None => assert_eq!(rx.try_recv(), Err(TryRecvError::Empty)),
        }
        drop(rx);
    };
    // Warm-up: the first cycles may grow what the publisher keeps for good
    // (its slot segments, the vectors of senders waiting to be freed).
    for i in 0..scaled(64, 8) {
        cycle(i);
    }
    let base = live_bytes();
    reset_peak();
    for i in 0..cycles {
        cycle(i);
    }
    let end = live_bytes() - base;
    let peak = peak_bytes() - base;
    assert_eq!(p.subscriber_count(), SUBSCRIBERS);
    for rx in &keep {
        assert_eq!(rx.try_recv().ok(), latest);
    }
    (end, peak)
}

/// `churn`, checked against the bound at the end and at the peak.
fn assert_bounded(cycles: usize, send: impl Fn(usize) -> bool, what: &str) {
    let (end, peak) = churn(cycles, send);
    println!("live bytes after {cycles} subscribe + drop cycles, {what}: {end} (peak {peak})");
    assert!(
        end < BOUND,
        "{what}: {end} bytes more after {cycles} cycles"
    );
    assert!(peak < BOUND, "{what}: {peak} bytes more at the peak");
}

#[test]
fn subscribe_drop_cycles_without_sends_keep_memory_bounded() {
    assert_bounded(scaled(100_000, 60), |_| false, "no sends");
}

#[test]
fn subscribe_drop_cycles_with_sends_keep_memory_bounded() {
    assert_bounded(scaled(100_000, 60), |_| true, "a send in each");
}

/// A million subscribers subscribed and dropped, the first half with no
/// send in between, the second half with one send per cycle: memory stays
/// bounded at every point (the peak), not only at the end.
#[test]
fn a_million_subscribers_keep_memory_bounded() {
    let cycles = scaled(1_000_000, 100);
    assert_bounded(cycles, |i| i >= cycles / 2, "sends in the second half");
}

/// Many subscribers dropped at once, then one `subscribe`: their channels
/// are freed (eventually: by the next subscribes), not kept.
#[test]
fn dropped_subscribers_channels_are_freed() {
    count_this_thread();
    let n = scaled(1_000, 20);
    let p = Publisher::<u64>::new();
    // Warm-up: the slot segments for n subscribers.
    let subs: Vec<Receiver<u64>> = (0..n).map(|_| p.subscribe()).collect();
    drop(subs);
    drop(p.subscribe());
    drop(p.subscribe());
    let base = live_bytes();
    let subs: Vec<Receiver<u64>> = (0..n).map(|_| p.subscribe()).collect();
    p.send(1);
    let held = live_bytes() - base;
    drop(subs);
    // Two subscribes: the first unlinks them, the next frees them at the
    // latest (no send runs, so the first already can).
    drop(p.subscribe());
    drop(p.subscribe());
    let after = live_bytes() - base;
    println!("{n} subscribers hold {held} bytes; after their drop and two subscribes: {after}");
    assert!(held > 0);
    assert!(
        after < held / 10,
        "{after} bytes still held of the {held} that {n} subscribers took"
    );
}
