//! API.md rule 12: `Publisher`, clause by clause. `send` returns how many
//! live subscribers it put to; a new subscriber starts from the latest value
//! with counts of its own at zero and then gets every later send, in order,
//! conflated (rules 1-11 on its own channel); `subscriber_count` and `send`
//! stop counting a dropped subscriber at once; dropping the publisher closes
//! every subscriber after its pending value and wakes one blocked in any
//! receive or in a `Select`; the trait surface (`Default`, `Debug`, `Send`,
//! `Sync`, not `Clone`); every clone is dropped exactly once; a panicking
//! `T::clone` leaves the publisher working. Then races: one or two sending
//! threads against threads that subscribe, receive and drop at random
//! (`helpers::publisher_race` lists what those check).
//!
//! The allocation and memory bounds are in `tests/publisher_alloc.rs`.

mod helpers;

use std::cell::Cell;
use std::fmt::Debug;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use conflate::{
    Publisher, Receiver, RecvError, RecvTimeoutError, Select, TryReadyError, TryRecvError, channel,
};
use helpers::publisher_race::Race;
use helpers::{
    CloneLog, CountingWaker, block_on, expect_clone_panic, poll_once, scaled, waker_of,
    within_limit,
};

const LONG: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------
// The trait surface
// ---------------------------------------------------------------------------

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}
fn assert_debug<T: Debug>() {}

/// Compiles only if `T` is not `Clone` (a `Clone` type would make the
/// `_` below ambiguous between the two impls).
fn assert_not_clone<T>() {
    trait AmbiguousIfClone<A> {
        fn check() {}
    }
    impl<T: ?Sized> AmbiguousIfClone<()> for T {}
    impl<T: Clone> AmbiguousIfClone<u8> for T {}
    <T as AmbiguousIfClone<_>>::check();
}

/// Compiles only if `T` is not `Send` (same trick).
fn assert_not_send<T>() {
    trait AmbiguousIfSend<A> {
        fn check() {}
    }
    impl<T: ?Sized> AmbiguousIfSend<()> for T {}
    impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}
    <T as AmbiguousIfSend<_>>::check();
}

#[test]
fn auto_traits() {
    // API.md: Send + Sync when T: Send + Sync.
    assert_send::<Publisher<String>>();
    assert_sync::<Publisher<String>>();
    // The docs promise more: T: Send is enough (no `&T` is ever shared).
    assert_send::<Publisher<Cell<u32>>>();
    assert_sync::<Publisher<Cell<u32>>>();
    assert_not_send::<Publisher<Rc<u32>>>();
    assert_not_clone::<Publisher<u32>>();
    assert_debug::<Publisher<u32>>();
    // Without `T: Debug` too.
    struct Opaque;
    assert_debug::<Publisher<Opaque>>();
}

#[test]
fn default_is_new() {
    let p = Publisher::<u32>::default();
    assert_eq!(p.subscriber_count(), 0);
    let rx = p.subscribe();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(p.send(5), 1);
    assert_eq!(rx.try_recv(), Ok(5));
    assert_eq!(p.subscribe().try_recv(), Ok(5));
}

#[test]
fn debug_names_the_type() {
    let p = Publisher::<u32>::new();
    let text = format!("{p:?}");
    assert!(text.contains("Publisher"), "{text}");
    let _rx = p.subscribe();
    p.send(1);
    assert!(format!("{p:?}").contains("Publisher"));
    assert!(!format!("{:?}", p.subscribe()).is_empty());
}

// ---------------------------------------------------------------------------
// send, subscribe, subscriber_count on one thread
// ---------------------------------------------------------------------------

#[test]
fn send_returns_the_number_of_live_subscribers() {
    let p = Publisher::new();
    assert_eq!(p.send(0), 0, "no subscriber yet");
    let mut subs: Vec<Receiver<u32>> = Vec::new();
    // Across several of the publisher's slot segments.
    // Under Miri 14: still three segments (4, 8, 16 slots).
    for k in 1..=scaled(40, 14) as u32 {
        subs.push(p.subscribe());
        assert_eq!(p.send(k), k as usize);
    }
    // Drop every third one: each stops counting for the next send at once.
    let mut live = subs.len();
    for i in (0..subs.len()).rev().step_by(3) {
        drop(subs.remove(i));
        live -= 1;
        assert_eq!(p.send(100 + live as u32), live);
    }
    for rx in &subs {
        assert_eq!(rx.try_recv(), Ok(100 + live as u32), "the latest send");
    }
    subs.clear();
    assert_eq!(p.send(7), 0);
}

#[test]
fn fresh_publisher_subscriber_holds_nothing() {
    let p = Publisher::<u32>::new();
    let rx = p.subscribe();
    assert!(rx.is_empty());
    assert!(!rx.is_disconnected());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        rx.recv_timeout(Duration::ZERO),
        Err(RecvTimeoutError::Timeout)
    );
    assert_eq!(rx.overwritten(), 0);
    assert_eq!(rx.skipped(), 0);
    // And it gets the first send.
    assert_eq!(p.send(1), 1);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.skipped(), 0);
}

#[test]
fn late_subscriber_starts_from_the_latest_value() {
    let p = Publisher::new();
    let early = p.subscribe();
    for v in 1..=3u32 {
        p.send(v);
    }
    let late = p.subscribe();
    // Its own counts start at zero: the displacements of 1 and 2 happened
    // in the other subscribers' channels (and the publisher's), not in its.
    assert_eq!(late.overwritten(), 0);
    assert_eq!(late.skipped(), 0);
    assert!(!late.is_empty(), "holds the latest value at once");
    assert_eq!(late.try_recv(), Ok(3));
    assert_eq!(late.skipped(), 0, "its first receive skipped nothing");
    assert_eq!(late.try_recv(), Err(TryRecvError::Empty), "3 only once");
    assert_eq!(early.try_recv(), Ok(3));
    assert_eq!(early.skipped(), 2);
    assert_eq!(early.overwritten(), 2);

    // Then later sends, conflated, with its own counts.
    p.send(4);
    p.send(5);
    assert_eq!(late.try_recv(), Ok(5));
    assert_eq!(late.skipped(), 1);
    assert_eq!(late.overwritten(), 1);
    p.send(6);
    assert_eq!(late.try_recv(), Ok(6));
    assert_eq!(late.skipped(), 0);

    // Subscribing does not consume the latest value: the next one starts
    // from it as well, and so does one after a receive on the others.
    let later = p.subscribe();
    assert_eq!(later.try_recv(), Ok(6));
    assert_eq!(p.subscribe().try_recv(), Ok(6));
}

/// Rules 1-11 on each subscriber's own channel, with subscribers receiving
/// at different rates: each sees the values in send order, the latest one
/// after a burst, and `skipped()` exact (`v - u - 1`), summing with the
/// displacements since to its own `overwritten()`.
#[test]
fn each_subscriber_is_its_own_conflating_channel() {
    let p = Publisher::new();
    let subs: Vec<Receiver<u64>> = (0..5).map(|_| p.subscribe()).collect();
    let mut last: Vec<Option<u64>> = vec![None; subs.len()];
    let mut skipped_sum = vec![0u64; subs.len()];
    let mut pending = vec![false; subs.len()];
    let mut displaced = vec![0u64; subs.len()];
    let sends = scaled(200, 40) as u64;
    for v in 0..sends {
        assert_eq!(p.send(v), subs.len());
        for (i, rx) in subs.iter().enumerate() {
            if pending[i] {
                displaced[i] += 1;
            }
            pending[i] = true;
            // Subscriber i receives after every (i + 1)-th send.
            if (v + 1) % (i as u64 + 1) == 0 {
                assert_eq!(rx.try_recv(), Ok(v), "subscriber {i}");
                let want = last[i].map_or(v, |u| v - u - 1);
                assert_eq!(
                    rx.skipped(),
                    want,
                    "subscriber {i}: {v} after {:?}",
                    last[i]
                );
                skipped_sum[i] += want;
                last[i] = Some(v);
                pending[i] = false;
                assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
                assert_eq!(rx.skipped(), want, "a failed receive leaves it");
            }
            assert_eq!(rx.overwritten(), displaced[i], "subscriber {i}");
        }
    }
    for (i, rx) in subs.iter().enumerate() {
        let pending_displacements = if pending[i] {
            // Values received since the last take, minus the one waiting.
            sends - 1 - last[i].unwrap() - 1
        } else {
            0
        };
        assert_eq!(
            skipped_sum[i] + pending_displacements,
            rx.overwritten(),
            "subscriber {i}: rule 11's sum"
        );
    }
}

#[test]
fn subscriber_count_counts_live_subscribers_at_once() {
    let p = Publisher::<u8>::new();
    assert_eq!(p.subscriber_count(), 0);
    let n = scaled(20, 6);
    let mut subs: Vec<_> = (0..n).map(|_| p.subscribe()).collect();
    assert_eq!(p.subscriber_count(), n);
    // No send, no subscribe in between: the drop alone is enough.
    while let Some(rx) = subs.pop() {
        drop(rx);
        assert_eq!(p.subscriber_count(), subs.len());
    }
    // Slots freed by dropped subscribers are used again, and counted right.
    for round in 0..scaled(50, 8) as u8 {
        let a = p.subscribe();
        let b = p.subscribe();
        assert_eq!(p.subscriber_count(), 2, "round {round}");
        drop(a);
        assert_eq!(p.subscriber_count(), 1, "round {round}");
        assert_eq!(p.send(round), 1);
        assert_eq!(b.try_recv(), Ok(round));
    }
    assert_eq!(p.subscriber_count(), 0);
}

/// A dropped subscriber is skipped: later sends do not count it and still
/// reach every other subscriber, before and after a `subscribe` frees its
/// channel; its pending value was dropped with it (rule 5).
#[test]
fn dropped_subscriber_is_skipped() {
    let log = CloneLog::new(256);
    let p = Publisher::new();
    let a = p.subscribe();
    let b = p.subscribe();
    let c = p.subscribe();
    assert_eq!(p.send(log.value(1)), 3);
    drop(b); // holds value 1
    // Three instances alive: a's, c's and the publisher's latest copy.
    assert!(log.live() <= 3, "b's pending value went with it");
    assert_eq!(p.send(log.value(2)), 2);
    assert_eq!(a.try_recv().map(|v| v.value()), Ok(2));
    assert_eq!(c.try_recv().map(|v| v.value()), Ok(2));
    let d = p.subscribe(); // may free b's channel now
    assert_eq!(d.try_recv().map(|v| v.value()), Ok(2));
    assert_eq!(p.send(log.value(3)), 3);
    for rx in [&a, &c, &d] {
        assert_eq!(rx.try_recv().map(|v| v.value()), Ok(3));
    }
    drop((a, c, d, p));
    log.assert_all_dropped_once();
}

// ---------------------------------------------------------------------------
// Values: cloned, each instance dropped once, nothing leaked
// ---------------------------------------------------------------------------

#[test]
fn values_are_cloned_and_every_instance_dropped_once() {
    let log = CloneLog::new(4096);
    let p = Publisher::new();
    let mut subs: Vec<Receiver<_>> = Vec::new();
    for round in 0..30u64 {
        if round % 3 == 0 {
            subs.push(p.subscribe());
        }
        if round % 7 == 6 {
            drop(subs.remove(0));
        }
        let clones = log.clones();
        let n = p.send(log.value(round));
        assert_eq!(n, subs.len());
        // A clone per subscriber (the last may take the value itself) and
        // one kept as the latest: never more.
        let made = log.clones() - clones;
        assert!(made <= n + 1, "{made} clones for {n} subscribers");
        // Alive now: one value per subscriber's slot (displaced ones were
        // dropped), the publisher's latest, nothing else.
        assert!(
            (n..=n + 1).contains(&log.live()),
            "round {round}: {} alive for {n} subscribers",
            log.live()
        );
        for (i, rx) in subs.iter().enumerate() {
            if (round + i as u64).is_multiple_of(2) {
                assert_eq!(rx.try_recv().map(|v| v.value()), Ok(round));
            }
        }
        log.assert_no_double_drop();
    }
    drop(p);
    // The subscribers' pending values are still theirs.
    for rx in &subs {
        while rx.try_recv().is_ok() {}
    }
    drop(subs);
    log.assert_all_dropped_once();
}

#[test]
fn publisher_drop_drops_the_latest_value() {
    let log = CloneLog::new(16);
    let p = Publisher::new();
    p.send(log.value(1));
    p.send(log.value(2));
    assert_eq!(log.live(), 1, "only the latest is kept");
    drop(p);
    log.assert_all_dropped_once();
}

// ---------------------------------------------------------------------------
// Panicking clones
// ---------------------------------------------------------------------------

/// A `T::clone` that panics inside `send`, at each point it can (the
/// first clone, or one for a later subscriber), leaves the publisher
/// working: later sends reach every subscriber, `subscribe` starts from
/// the latest value, and nothing leaks or is dropped twice.
#[test]
fn panicking_clone_in_send_leaves_the_publisher_working() {
    // Three subscribers: a send makes three clones (the latest's, then one
    // for each subscriber but the last).
    for nth in 0..3 {
        let log = CloneLog::new(256);
        let p = Publisher::new();
        let subs: Vec<_> = (0..3).map(|_| p.subscribe()).collect();
        p.send(log.value(1));
        log.panic_on_clone(nth);
        expect_clone_panic(|| p.send(log.value(2)));
        log.assert_no_double_drop();
        assert_eq!(p.subscriber_count(), 3, "clone {nth}");
        // Whatever the panicking send reached, the next one reaches all.
        assert_eq!(p.send(log.value(3)), 3, "clone {nth}");
        for rx in &subs {
            assert_eq!(rx.try_recv().map(|v| v.value()), Ok(3), "clone {nth}");
        }
        assert_eq!(p.subscribe().try_recv().map(|v| v.value()), Ok(3));
        drop((subs, p));
        log.assert_all_dropped_once();
    }
}

/// `subscribe` clones the latest value too. If that clone panics, the
/// failed `subscribe` adds no subscriber and loses nothing (no double drop,
/// no leak): the next one still starts from the latest value (rule 12),
/// and sends reach every subscriber as before.
#[test]
fn panicking_clone_in_subscribe_keeps_the_latest_value() {
    let log = CloneLog::new(64);
    let p = Publisher::new();
    let a = p.subscribe();
    p.send(log.value(1));
    log.panic_on_clone(0);
    expect_clone_panic(|| p.subscribe());
    log.assert_no_double_drop();
    assert_eq!(p.subscriber_count(), 1);
    let b = p.subscribe();
    assert_eq!(
        b.try_recv().map(|v| v.value()),
        Ok(1),
        "subscribe after a panicked one starts from the latest value"
    );
    assert_eq!(a.try_recv().map(|v| v.value()), Ok(1));
    assert_eq!(p.send(log.value(2)), 2);
    assert_eq!(a.try_recv().map(|v| v.value()), Ok(2));
    assert_eq!(b.try_recv().map(|v| v.value()), Ok(2));
    assert_eq!(p.subscribe().try_recv().map(|v| v.value()), Ok(2));
    assert_eq!(p.subscriber_count(), 2);
    drop((a, b, p));
    log.assert_all_dropped_once();
}

// ---------------------------------------------------------------------------
// Dropping the publisher
// ---------------------------------------------------------------------------

/// Every receive kind reports disconnection without waiting.
fn assert_closed(rx: &mut Receiver<u32>) {
    let start = Instant::now();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(rx.recv_timeout(LONG), Err(RecvTimeoutError::Disconnected));
    assert_eq!(block_on(rx.recv_async()), Err(RecvError));
    assert_eq!(rx.iter().next(), None);
    assert!(rx.is_disconnected());
    assert!(start.elapsed() < LONG);
}

#[test]
fn publisher_drop_closes_every_subscriber_after_its_pending_value() {
    let p = Publisher::new();
    let mut took = p.subscribe();
    let mut pending = p.subscribe();
    let mut late = p.subscribe();
    let mut never = Publisher::<u32>::new().subscribe(); // its publisher is gone
    p.send(1);
    assert_eq!(took.try_recv(), Ok(1));
    p.send(2);
    let mut fresh = p.subscribe(); // starts with 2
    assert_eq!(late.try_recv(), Ok(2));
    assert_eq!(took.try_recv(), Ok(2));
    drop(p);
    for rx in [&took, &pending, &late, &fresh] {
        assert!(rx.is_disconnected());
    }
    assert_eq!(pending.recv(), Ok(2), "the pending value first");
    assert_eq!(fresh.try_recv(), Ok(2));
    assert_eq!(pending.skipped(), 1, "1 was displaced");
    for rx in [&mut took, &mut pending, &mut late, &mut fresh, &mut never] {
        assert_closed(rx);
        assert_closed(rx);
    }
    // The other receive kinds deliver the pending value too.
    type Take = fn(&mut Receiver<u32>) -> Option<u32>;
    let takes: [(&str, Take); 5] = [
        ("recv_timeout", |rx| rx.recv_timeout(LONG).ok()),
        ("recv_deadline", |rx| {
            rx.recv_deadline(Instant::now() + LONG).ok()
        }),
        ("recv_async", |rx| block_on(rx.recv_async()).ok()),
        ("iter", |rx| rx.iter().next()),
        ("try_iter", |rx| rx.try_iter().next()),
    ];
    for (name, take) in takes {
        let p = Publisher::new();
        let mut rx = p.subscribe();
        p.send(9);
        drop(p);
        assert_eq!(take(&mut rx), Some(9), "{name}");
        assert_closed(&mut rx);
    }
    let p = Publisher::new();
    let rx = p.subscribe();
    p.send(3);
    drop(p);
    assert_eq!(rx.into_iter().collect::<Vec<_>>(), [3]);
}

/// How a subscriber waits below.
#[derive(Clone, Copy, Debug)]
enum Wait {
    Recv,
    RecvTimeout,
    RecvDeadline,
    RecvAsync,
    Iter,
    /// `Select::ready` over this subscriber and one of another publisher
    /// that stays alive, then `try_recv`.
    Select,
}

const WAITS: [Wait; 6] = [
    Wait::Recv,
    Wait::RecvTimeout,
    Wait::RecvDeadline,
    Wait::RecvAsync,
    Wait::Iter,
    Wait::Select,
];

/// Blocks in the given way until a value or disconnection.
fn wait_in(rx: &mut Receiver<u32>, how: Wait) -> Option<u32> {
    match how {
        Wait::Recv => rx.recv().ok(),
        Wait::RecvTimeout => match rx.recv_timeout(LONG) {
            Ok(v) => Some(v),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("an hour passed"),
        },
        Wait::RecvDeadline => match rx.recv_deadline(Instant::now() + LONG) {
            Ok(v) => Some(v),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("an hour passed"),
        },
        Wait::RecvAsync => block_on(rx.recv_async()).ok(),
        Wait::Iter => rx.iter().next(),
        Wait::Select => {
            let quiet = Publisher::<u32>::new();
            let other = quiet.subscribe();
            let mut sel = Select::new();
            assert_eq!(sel.recv(&other), 0);
            assert_eq!(sel.recv(rx), 1);
            assert_eq!(sel.ready(), 1, "only this one can be ready");
            match rx.try_recv() {
                Ok(v) => Some(v),
                Err(TryRecvError::Disconnected) => None,
                Err(TryRecvError::Empty) => panic!("Select said ready, try_recv found Empty"),
            }
        }
    }
}

/// A subscriber blocked (or about to block: the race is left to the
/// scheduler) in each kind of wait wakes when the publisher is dropped on
/// another thread, with or without a last value sent just before.
#[test]
fn publisher_drop_wakes_a_blocked_subscriber() {
    let rounds = scaled(50, 2);
    for how in WAITS {
        for round in 0..rounds {
            let with_value = round % 2 == 1;
            let p = Publisher::new();
            let mut rx = p.subscribe();
            thread::scope(|s| {
                let waiter = within_limit(s, "blocked subscriber", || {
                    let got = wait_in(&mut rx, how);
                    let next = if got.is_some() {
                        wait_in(&mut rx, how)
                    } else {
                        None
                    };
                    (got, next)
                });
                if round % 4 < 2 {
                    // Give the waiter time to block (not needed for the
                    // test to be right, only to make the block likely).
                    thread::sleep(Duration::from_millis(if cfg!(miri) { 0 } else { 2 }));
                }
                if with_value {
                    assert_eq!(p.send(7), 1);
                }
                drop(p);
                let (got, next) = waiter.join();
                assert_eq!(got, with_value.then_some(7), "{how:?}");
                assert_eq!(next, None, "{how:?}");
            });
            assert_closed(&mut rx);
        }
    }
}

/// Deterministic for the async path: the future is known to be registered
/// (it returned `Pending`) before the publisher drops; the drop wakes it.
#[test]
fn pending_recv_async_is_woken_by_the_publisher_drop() {
    let counter = CountingWaker::new();
    let waker = waker_of(&counter);
    for with_value in [false, true] {
        let p = Publisher::new();
        let mut rx = p.subscribe();
        if with_value {
            let before = counter.count();
            let mut fut = rx.recv_async();
            assert_eq!(poll_once(&mut fut, &waker), Poll::Pending);
            assert_eq!(p.send(4), 1);
            assert!(counter.count() > before, "the send woke it");
            assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Ok(4)));
        }
        let before = counter.count();
        let mut fut = rx.recv_async();
        assert_eq!(poll_once(&mut fut, &waker), Poll::Pending);
        drop(p);
        assert!(counter.count() > before, "the drop woke it");
        assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Err(RecvError)));
    }
}

// ---------------------------------------------------------------------------
// Subscribers with Select and recv_async
// ---------------------------------------------------------------------------

#[test]
fn subscribers_work_with_select() {
    let leader = Publisher::new();
    let config = Publisher::new();
    let (tx, plain) = channel::<u32>();
    let l = leader.subscribe();
    let c = config.subscribe();
    let c2 = config.subscribe();
    let mut sel = Select::new();
    assert_eq!(sel.recv(&l), 0);
    assert_eq!(sel.recv(&plain), 1);
    assert_eq!(sel.recv(&c), 2);
    assert_eq!(sel.recv(&c2), 3);
    assert_eq!(sel.try_ready(), Err(TryReadyError));
    leader.send(1);
    assert_eq!(sel.try_ready(), Ok(0));
    assert_eq!(l.try_recv(), Ok(1));
    config.send(2);
    let i = sel.ready_timeout(LONG).unwrap();
    assert!(i == 2 || i == 3, "{i}");
    let rx = if i == 2 { &c } else { &c2 };
    assert_eq!(rx.try_recv(), Ok(2));
    let j = sel.ready();
    assert_eq!(j, 5 - i, "the other config subscriber");
    tx.send(3).unwrap();
    sel.remove(2);
    sel.remove(3);
    assert_eq!(sel.ready(), 1);
    assert_eq!(plain.try_recv(), Ok(3));
    // A publisher's drop makes its subscriber ready (level-triggered).
    drop(leader);
    assert_eq!(sel.ready(), 0);
    assert_eq!(l.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(sel.ready(), 0, "stays ready");
    drop(sel);

    // A Select blocked on another thread wakes on a send.
    let late = config.subscribe();
    assert_eq!(late.try_recv(), Ok(2));
    thread::scope(|s| {
        let waiter = within_limit(s, "Select on a subscriber", move || {
            let mut sel = Select::new();
            sel.recv(&late);
            assert_eq!(sel.ready(), 0);
            drop(sel);
            late.try_recv()
        });
        config.send(10);
        assert_eq!(waiter.join(), Ok(10));
    });
}

#[test]
fn subscribers_work_with_recv_async() {
    let p = Publisher::new();
    let mut rx = p.subscribe();
    p.send(1);
    assert_eq!(block_on(rx.recv_async()), Ok(1));
    let rounds = scaled(100, 3) as u32;
    thread::scope(|s| {
        let waiter = within_limit(s, "recv_async on a subscriber", move || {
            let mut got = Vec::new();
            while let Ok(v) = block_on(rx.recv_async()) {
                got.push(v);
            }
            got
        });
        for v in 2..2 + rounds {
            p.send(v);
            if v % 8 == 0 {
                thread::yield_now();
            }
        }
        drop(p);
        let got = waiter.join();
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
        assert_eq!(got.last(), Some(&(1 + rounds)));
    });
}

// ---------------------------------------------------------------------------
// Races
// ---------------------------------------------------------------------------

/// Runs `race` once per seed in `seeds`, under the watchdog.
fn run_races(name: &str, race: Race, seeds: std::ops::Range<u64>) {
    let _watchdog = helpers::Watchdog::start(name);
    for seed in seeds {
        let totals = Race { seed, ..race }.run();
        println!("{name}, seed {seed}: {totals:?}");
        assert!(totals.subscribes > 0 && totals.drained > 0, "{totals:?}");
    }
}

/// One sending thread against three observers that subscribe, receive and
/// drop at random: every subscriber starts from the latest value, never
/// goes back, counts exactly, and ends on the last value.
#[test]
fn one_sender_racing_subscribers() {
    let race = Race {
        senders: 1,
        values: scaled(20_000, 60) as u64,
        observers: 3,
        steps: scaled(4_000, 60) as u64,
        max_held: 4,
        seed: 0,
    };
    run_races(
        "one_sender_racing_subscribers",
        race,
        0..scaled(4, 1) as u64,
    );
}

/// Two sending threads through `&Publisher`: nothing lost or dropped twice,
/// per-sender order, and each subscriber ends on one of the two last values.
#[test]
fn two_senders_racing_subscribers() {
    let race = Race {
        senders: 2,
        values: scaled(10_000, 40) as u64,
        observers: 2,
        steps: scaled(4_000, 60) as u64,
        max_held: 4,
        seed: 0,
    };
    run_races(
        "two_senders_racing_subscribers",
        race,
        100..100 + scaled(3, 1) as u64,
    );
}

/// subscribe ∥ send, many times over, on fresh publishers: the new
/// subscriber starts from the value sent before (or the racing one) and
/// ends on the racing one, the latest.
#[test]
fn subscribe_racing_send_ends_on_the_latest() {
    let rounds = scaled(2_000, 20);
    for round in 0..rounds {
        let p = Publisher::new();
        p.send(0u32);
        let go = AtomicBool::new(false);
        let rx = thread::scope(|s| {
            s.spawn(|| {
                while !go.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
                p.send(1);
            });
            go.store(true, Ordering::Relaxed);
            p.subscribe()
        });
        let first = rx.try_recv().expect("0 was sent before the call");
        drop(p);
        let rest: Vec<u32> = rx.iter().collect();
        let all: Vec<u32> = std::iter::once(first).chain(rest).collect();
        assert!(
            all.windows(2).all(|w| w[0] <= w[1]),
            "round {round}: {all:?}"
        );
        assert_eq!(all.last(), Some(&1), "round {round}: {all:?}");
        assert!(all.len() <= 2 && all.iter().filter(|&&v| v == 0).count() <= 1);
    }
}

/// Rule 11 on subscribers made while one thread sends: the sender pauses
/// between sends now and then, and while it does (every call finished), a
/// subscriber made while it was sending takes the latest value once:
/// `skipped()` must equal its own `overwritten()`, since every displacement
/// in its channel came before that one take.
#[test]
fn skipped_is_exact_for_subscribers_made_during_sends() {
    let _watchdog = helpers::Watchdog::start("skipped_is_exact_for_subscribers_made_during_sends");
    let rounds = scaled(5_000, 30);
    let p = Publisher::new();
    let sent = AtomicU64::new(0);
    let pause = AtomicBool::new(false);
    let paused = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let wrong = thread::scope(|s| {
        s.spawn(|| {
            let mut v = 0;
            while !stop.load(Ordering::SeqCst) {
                if pause.load(Ordering::SeqCst) {
                    paused.store(true, Ordering::SeqCst);
                    while pause.load(Ordering::SeqCst) {
                        std::hint::spin_loop();
                    }
                    paused.store(false, Ordering::SeqCst);
                }
                p.send(v);
                v += 1;
                sent.store(v, Ordering::SeqCst);
            }
        });
        let mut wrong = Vec::new();
        for round in 0..rounds {
            let before = sent.load(Ordering::SeqCst);
            let rx = p.subscribe();
            while sent.load(Ordering::SeqCst) < before + 3 {
                std::hint::spin_loop();
            }
            pause.store(true, Ordering::SeqCst);
            while !paused.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            let last = sent.load(Ordering::SeqCst) - 1;
            assert_eq!(rx.try_recv(), Ok(last), "round {round}: the latest");
            if rx.skipped() != rx.overwritten() {
                wrong.push((round, rx.skipped(), rx.overwritten()));
            }
            pause.store(false, Ordering::SeqCst);
            while paused.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
        }
        stop.store(true, Ordering::SeqCst);
        wrong
    });
    assert!(
        wrong.is_empty(),
        "{} of {rounds} subscribers: (round, skipped, overwritten) {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(8)]
    );
}
