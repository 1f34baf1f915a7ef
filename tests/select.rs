//! API.md rule 10: `Select` waits on several receivers and returns the index
//! of a ready one (a value waits, or it is disconnected with nothing left).
//! One test group per clause: the index returned, `try_recv` right after,
//! level-triggered disconnection, fairness, wake-ups while `ready` blocks,
//! nothing lost after `Timeout`, timeouts like std's, nothing watched,
//! `remove` and the indices, several `Select`s and plain receives on one
//! receiver, `Default`, mixed value types, a receiver added twice; then a
//! stress test of producers against a selecting consumer.
//!
//! Hand-offs are deterministic where they can be (the value is sent before
//! the call). Where a blocked call must be woken, a second thread acts after
//! a pause or on a signal, and every blocking call runs under a watchdog.
//!
//! The `#[ignore]`d `stress_*` tests are the long run: `cargo test --release
//! --test select -- --ignored --test-threads=1`.

mod helpers;

use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use conflate::{ReadyTimeoutError, Receiver, Select, Sender, TryReadyError, TryRecvError, channel};
use helpers::{Rng, Watchdog, block_on, channels, dawdle, scaled, within_limit};

/// Longer than any test runs: a wait this long that returns was woken.
const LONG: Duration = Duration::from_secs(3600);

/// How long a helper thread waits before it acts on a blocked selector, so
/// that the selector has most likely gone past spinning and parked.
const PAUSE: Duration = Duration::from_millis(20);

/// The ways to ask a `Select` for a ready index.
#[derive(Clone, Copy, Debug)]
enum How {
    Try,
    Ready,
    Timeout,
    TimeoutMax,
    Deadline,
}

const EVERY_HOW: [How; 5] = [
    How::Try,
    How::Ready,
    How::Timeout,
    How::TimeoutMax,
    How::Deadline,
];

/// The ways that block until something is ready.
const BLOCKING: [How; 4] = [How::Ready, How::Timeout, How::TimeoutMax, How::Deadline];

/// One call of kind `how` (the timed ones with a wait no test reaches);
/// `None` if it reported an error.
fn call(sel: &mut Select<'_>, how: How) -> Option<usize> {
    match how {
        How::Try => sel.try_ready().ok(),
        How::Ready => Some(sel.ready()),
        How::Timeout => sel.ready_timeout(LONG).ok(),
        How::TimeoutMax => sel.ready_timeout(Duration::MAX).ok(),
        How::Deadline => sel.ready_deadline(Instant::now() + LONG).ok(),
    }
}

/// A `Select` watching every receiver of `rxs`, in order (index `i` is
/// `rxs[i]`).
fn select_all<T>(rxs: &[Receiver<T>]) -> Select<'_> {
    let mut sel = Select::new();
    for (i, rx) in rxs.iter().enumerate() {
        assert_eq!(
            sel.recv(rx),
            i,
            "indices are 0, 1, 2, ... in the order added"
        );
    }
    sel
}

/// Sends `value` on `tx` from another thread after [`PAUSE`].
fn send_later<'scope, T: Send + 'scope>(
    s: &'scope thread::Scope<'scope, '_>,
    tx: &'scope Sender<T>,
    value: T,
) -> helpers::Watched<'scope, ()> {
    within_limit(s, "late sender", move || {
        thread::sleep(PAUSE);
        tx.send(value).unwrap();
    })
}

/// A helper thread that, for each `r` received on `go`, dawdles a random
/// little while and then sends `r` on `txs[r % txs.len()]`; it ends when
/// `go`'s sender is dropped. The caller sends the next `r` only after it
/// received the previous value, so `go` never conflates.
fn driven_sender<'scope>(
    s: &'scope thread::Scope<'scope, '_>,
    txs: Vec<Sender<usize>>,
    go: Receiver<usize>,
    seed: u64,
) -> helpers::Watched<'scope, ()> {
    within_limit(s, "driven sender", move || {
        let mut rng = Rng::new(seed);
        for r in go {
            for _ in 0..rng.below(4) {
                dawdle(&mut rng);
            }
            txs[r % txs.len()].send(r).unwrap();
        }
    })
}

// ---------------------------------------------------------------------------
// The index, and try_recv right after
// ---------------------------------------------------------------------------

/// Each kind of call returns the index of the one receiver that has a value,
/// and a `try_recv` on it right after gets that value (never `Empty`).
#[test]
fn every_kind_of_call_returns_the_ready_index() {
    let _watchdog = Watchdog::start("ready index");
    let (txs, rxs) = channels::<usize>(4);
    for how in EVERY_HOW {
        let mut sel = select_all(&rxs);
        for (i, tx) in txs.iter().enumerate() {
            tx.send(10 + i).unwrap();
            assert_eq!(call(&mut sel, how), Some(i), "{how:?}, value on {i}");
            assert_eq!(rxs[i].try_recv(), Ok(10 + i), "{how:?}");
            assert_eq!(sel.try_ready(), Err(TryReadyError), "{how:?}: taken");
        }
    }
}

/// A disconnected, empty receiver is ready (its `try_recv` says
/// `Disconnected`, not `Empty`) on every call, of every kind, until it is
/// removed. Its last value comes first.
#[test]
fn a_disconnected_receiver_stays_ready_until_removed() {
    let _watchdog = Watchdog::start("disconnected receiver");
    let (tx_a, a) = channel::<u8>();
    let (tx_b, b) = channel::<u8>(); // stays open and empty
    let mut sel = Select::new();
    let ia = sel.recv(&a);
    let ib = sel.recv(&b);
    tx_a.send(7).unwrap();
    drop(tx_a);
    assert_eq!(sel.try_ready(), Ok(ia));
    assert_eq!(a.try_recv(), Ok(7), "the last value before the close");
    for how in EVERY_HOW.into_iter().cycle().take(3 * EVERY_HOW.len()) {
        assert_eq!(call(&mut sel, how), Some(ia), "{how:?}");
        assert_eq!(a.try_recv(), Err(TryRecvError::Disconnected), "{how:?}");
    }
    sel.remove(ia);
    assert_eq!(sel.try_ready(), Err(TryReadyError));
    assert_eq!(
        sel.ready_timeout(Duration::from_millis(1)),
        Err(ReadyTimeoutError)
    );
    tx_b.send(1).unwrap();
    assert_eq!(sel.try_ready(), Ok(ib));
}

// ---------------------------------------------------------------------------
// Fairness
// ---------------------------------------------------------------------------

/// Panics unless every `live.len()` consecutive picks name each index of
/// `live` (so each once), and no pick is outside `live`.
#[track_caller]
fn assert_round_robin(picks: &[usize], live: &[usize], what: &str) {
    for (k, pick) in picks.iter().enumerate() {
        assert!(
            live.contains(pick),
            "{what}: call {k} picked {pick}, not in {live:?}"
        );
    }
    for (k, window) in picks.windows(live.len()).enumerate() {
        for index in live {
            assert!(
                window.contains(index),
                "{what}: index {index} not chosen in calls {k}..{} ({picks:?})",
                k + live.len()
            );
        }
    }
}

/// `n` receivers kept ready (half with a value nobody takes, half
/// disconnected), with the indices in `removed` taken out again: each
/// kind of call, and all kinds in turn, choose every live one within as
/// many calls as there are live ones.
fn fairness_among_always_ready(n: usize, removed: &[usize]) {
    let (txs, rxs) = channels::<usize>(n);
    let mut keep = Vec::new();
    for (i, tx) in txs.into_iter().enumerate() {
        if i % 2 == 0 {
            tx.send(i).unwrap();
            keep.push(tx);
        } // else dropped: disconnected, and ready for good
    }
    let live: Vec<usize> = (0..n).filter(|i| !removed.contains(i)).collect();
    // Each kind alone, then all in turn (`None`); under Miri, which is slow
    // and has no interleaving to explore in this one-thread test, only the
    // latter.
    let hows: Vec<Option<How>> = if cfg!(miri) {
        vec![None]
    } else {
        EVERY_HOW.map(Some).into_iter().chain([None]).collect()
    };
    for how in hows {
        let mut sel = select_all(&rxs);
        for &i in removed {
            sel.remove(i);
        }
        let picks: Vec<usize> = (0..3 * live.len())
            .map(|k| {
                let how = how.unwrap_or(EVERY_HOW[k % EVERY_HOW.len()]);
                call(&mut sel, how).expect("every live receiver is ready")
            })
            .collect();
        let what = format!("n = {n}, removed {removed:?}, {how:?}");
        assert_round_robin(&picks, &live, &what);
    }
}

#[test]
fn fair_among_receivers_that_stay_ready() {
    let _watchdog = Watchdog::start("fairness");
    for n in 1..=8 {
        fairness_among_always_ready(n, &[]);
    }
}

#[test]
fn fair_among_receivers_that_stay_ready_with_some_removed() {
    let _watchdog = Watchdog::start("fairness with removals");
    fairness_among_always_ready(8, &[1, 4, 6]);
    fairness_among_always_ready(8, &[0, 7]);
    fairness_among_always_ready(5, &[0, 1, 2, 3]);
    for n in 2..=8 {
        let every_third: Vec<usize> = (0..n).step_by(3).collect();
        fairness_among_always_ready(n, &every_third);
    }
}

/// One receiver stays ready while the others come and go at random (each
/// chosen one is drained, random ones get values): the steady one is chosen
/// within `n` calls every time.
#[test]
fn a_receiver_that_stays_ready_is_chosen_within_n_calls() {
    let _watchdog = Watchdog::start("fairness with others coming and going");
    let mut rng = Rng::new(10);
    for n in 1..=8 {
        for round in 0..scaled(4, 1) {
            let (txs, rxs) = channels::<u64>(n);
            let steady = rng.below(n as u64) as usize;
            txs[steady].send(0).unwrap(); // never taken
            let mut sel = select_all(&rxs);
            let mut calls_since = 0;
            for k in 0..scaled(20, 4) * n {
                for (i, tx) in txs.iter().enumerate() {
                    if i != steady && rng.one_in(2) {
                        tx.send(k as u64).unwrap();
                    }
                }
                let how = EVERY_HOW[k % EVERY_HOW.len()];
                let i = call(&mut sel, how).expect("the steady one is ready");
                if i == steady {
                    calls_since = 0;
                } else {
                    calls_since += 1;
                    assert!(rxs[i].try_recv().is_ok(), "index {i} was not ready");
                }
                assert!(
                    calls_since < n,
                    "n = {n}, round {round}: steady index {steady} not chosen in {calls_since} calls"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Wake-ups
// ---------------------------------------------------------------------------

/// What the helper thread does to the target receiver's channel.
#[derive(Clone, Copy, Debug)]
enum Event {
    Value,
    Close,
}

/// A selector blocked in each blocking kind of call over five receivers is
/// woken by `event` on the first, the middle and the last one.
fn blocked_selector_wakes_on(event: Event) {
    const N: usize = 5;
    let _watchdog = Watchdog::start("blocked selector");
    for target in [0, N / 2, N - 1] {
        for how in BLOCKING {
            // The other senders stay alive in `others`.
            let (mut others, rxs) = channels::<usize>(N);
            let tx = others.remove(target);
            let mut sel = select_all(&rxs);
            thread::scope(|s| {
                let helper = within_limit(s, "late event", move || {
                    thread::sleep(PAUSE);
                    match event {
                        Event::Value => {
                            tx.send(target).unwrap();
                            Some(tx) // kept open until the checks are done
                        }
                        Event::Close => None, // `tx` dropped: the close
                    }
                });
                let got = call(&mut sel, how);
                assert_eq!(got, Some(target), "{event:?} on {target}, {how:?}");
                let want = match event {
                    Event::Value => Ok(target),
                    Event::Close => Err(TryRecvError::Disconnected),
                };
                assert_eq!(rxs[target].try_recv(), want, "{event:?}, {how:?}");
                drop(helper.join());
            });
        }
    }
}

#[test]
fn a_value_arriving_while_ready_blocks_wakes_it() {
    blocked_selector_wakes_on(Event::Value);
}

#[test]
fn a_close_arriving_while_ready_blocks_wakes_it() {
    blocked_selector_wakes_on(Event::Close);
}

/// Ping-pong through a selector thread: each round sends one value on
/// receiver `r % 4` and waits for the selector's answer, so the selector is
/// blocked (spinning or parked) in every round when the value comes.
#[test]
fn blocked_ready_wakes_for_every_value_in_a_ping_pong() {
    const N: usize = 4;
    let _watchdog = Watchdog::start("select ping-pong");
    let rounds = scaled(2_000, 12);
    let (txs, rxs) = channels::<usize>(N);
    let (ack_tx, ack_rx) = channel::<usize>();
    // `move`: a failed assertion drops this thread's ends, so the other
    // thread ends instead of blocking forever.
    thread::scope(move |s| {
        let selector = within_limit(s, "selector", move || {
            let mut sel = select_all(&rxs);
            for r in 0..rounds {
                let how = BLOCKING[r % BLOCKING.len()];
                let i = call(&mut sel, how).expect("a blocking call");
                assert_eq!(i, r % N, "round {r}, {how:?}");
                ack_tx.send(rxs[i].try_recv().unwrap()).unwrap();
            }
        });
        for r in 0..rounds {
            txs[r % N].send(r).unwrap();
            assert_eq!(ack_rx.recv(), Ok(r));
        }
        selector.join();
    });
}

// ---------------------------------------------------------------------------
// After a timeout; receivers on their own
// ---------------------------------------------------------------------------

/// A timed-out `Select` takes nothing and leaves every receiver working on
/// its own: each kind of blocking receive still wakes for a later value.
#[test]
fn after_a_timeout_each_receiver_works_on_its_own() {
    let _watchdog = Watchdog::start("receivers after a select timeout");
    let (txs, mut rxs) = channels::<usize>(3);
    {
        let mut sel = select_all(&rxs);
        assert_eq!(
            sel.ready_timeout(Duration::from_millis(2)),
            Err(ReadyTimeoutError)
        );
        let deadline = Instant::now() + Duration::from_millis(2);
        assert_eq!(sel.ready_deadline(deadline), Err(ReadyTimeoutError));
    }
    // A value sent before is there at once.
    txs[1].send(1).unwrap();
    assert_eq!(rxs[1].try_recv(), Ok(1));
    thread::scope(|s| {
        let helper = within_limit(s, "late sends", || {
            for (i, tx) in txs.iter().enumerate() {
                thread::sleep(PAUSE);
                tx.send(100 + i).unwrap();
            }
        });
        assert_eq!(rxs[0].recv(), Ok(100));
        assert_eq!(rxs[1].recv_timeout(LONG), Ok(101));
        assert_eq!(block_on(rxs[2].recv_async()), Ok(102));
        helper.join();
    });
}

/// A short `ready_timeout` over two receivers races each send, so the
/// sender often claims a registration the selector is taking back (or has
/// given up). Whatever the call returned, the value is not lost, and a plain
/// `recv`, `recv_timeout` or `recv_async` on the target receiver wakes for
/// it.
#[test]
fn timeouts_racing_sends_lose_nothing_and_plain_receives_still_wake() {
    let _watchdog = Watchdog::start("select timeouts racing sends");
    let rounds = scaled(1_500, 12);
    let (txs, mut rxs) = channels::<usize>(2);
    let (go_tx, go_rx) = channel::<usize>();
    thread::scope(move |s| {
        let helper = driven_sender(s, txs, go_rx, 1);
        let mut rng = Rng::new(2);
        for r in 0..rounds {
            let target = r % 2;
            go_tx.send(r).unwrap();
            let timeout = Duration::from_micros(rng.below(40));
            let picked = select_all(&rxs).ready_timeout(timeout);
            if let Ok(i) = picked {
                assert_eq!(i, target, "round {r}: only the target gets a value");
            }
            let rx = &mut rxs[target];
            let got = match r % 3 {
                0 => rx.recv().ok(),
                1 => rx.recv_timeout(LONG).ok(),
                _ => block_on(rx.recv_async()).ok(),
            };
            assert_eq!(got, Some(r), "round {r} after {picked:?}");
        }
        drop(go_tx);
        helper.join();
    });
}

/// One `Select` kept across rounds, and plain receives on the same receiver
/// between its calls (some of which time out with the value on its way).
#[test]
fn a_receiver_is_used_on_its_own_between_select_calls() {
    let _watchdog = Watchdog::start("select and plain receives alternate");
    let rounds = scaled(1_000, 12);
    let (tx, rx) = channel::<usize>();
    let (go_tx, go_rx) = channel::<usize>();
    thread::scope(move |s| {
        let helper = driven_sender(s, vec![tx], go_rx, 3);
        let mut sel = Select::new();
        let i = sel.recv(&rx);
        let mut rng = Rng::new(4);
        for r in 0..rounds {
            go_tx.send(r).unwrap();
            let got = match r % 4 {
                0 => {
                    assert_eq!(sel.ready(), i);
                    rx.try_recv().ok()
                }
                1 => rx.recv().ok(),
                2 => {
                    let _ = sel.ready_timeout(Duration::from_micros(rng.below(40)));
                    rx.recv_timeout(LONG).ok()
                }
                _ => {
                    let _ = sel.try_ready();
                    rx.iter().next()
                }
            };
            assert_eq!(got, Some(r), "round {r}");
        }
        drop(go_tx);
        helper.join();
    });
}

/// Deterministic: values sent before each call, taken by whichever receive.
#[test]
fn plain_receives_between_select_calls_take_the_value() {
    let (tx, mut rx) = channel::<u32>();
    for round in 0..3 {
        let mut sel = Select::new();
        let i = sel.recv(&rx);
        tx.send(1).unwrap();
        assert_eq!(sel.try_ready(), Ok(i));
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(sel.try_ready(), Err(TryReadyError), "round {round}");
        tx.send(2).unwrap();
        assert_eq!(sel.ready(), i);
        assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(2));
        assert_eq!(sel.ready_timeout(Duration::ZERO), Err(ReadyTimeoutError));
        tx.send(3).unwrap();
        drop(sel);
        assert_eq!(block_on(rx.recv_async()), Ok(3));
    }
}

/// A pending `RecvFuture` leaked with `mem::forget` leaves its waker
/// registered; a `Select` over that receiver must still block and wake (and
/// a plain receive after it).
#[test]
fn a_select_works_after_a_leaked_pending_recv_future() {
    let _watchdog = Watchdog::start("select after a leaked future");
    let (tx, mut rx) = channel::<u32>();
    let mut fut = rx.recv_async();
    let waker = helpers::waker_of(&helpers::CountingWaker::new());
    assert!(helpers::poll_once(&mut fut, &waker).is_pending());
    std::mem::forget(fut);
    let mut sel = Select::new();
    let i = sel.recv(&rx);
    assert_eq!(
        sel.ready_timeout(Duration::from_millis(1)),
        Err(ReadyTimeoutError)
    );
    thread::scope(|s| {
        let helper = send_later(s, &tx, 1);
        assert_eq!(sel.ready(), i);
        helper.join();
    });
    assert_eq!(rx.try_recv(), Ok(1));
    thread::scope(|s| {
        let helper = send_later(s, &tx, 2);
        assert_eq!(rx.recv(), Ok(2));
        helper.join();
    });
}

// ---------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------

/// `Duration::MAX` and a far deadline wait (no overflow panic) until a late
/// value or close; with something ready they return at once.
#[test]
fn huge_timeouts_wait_without_panicking() {
    let _watchdog = Watchdog::start("huge timeouts");
    let (tx, rx) = channel::<u8>();
    let mut sel = Select::new();
    let i = sel.recv(&rx);
    thread::scope(|s| {
        let helper = send_later(s, &tx, 1);
        assert_eq!(sel.ready_timeout(Duration::MAX), Ok(i));
        helper.join();
    });
    assert_eq!(sel.ready_timeout(Duration::MAX), Ok(i), "still there");
    assert_eq!(rx.try_recv(), Ok(1));
    thread::scope(|s| {
        let helper = send_later(s, &tx, 2);
        let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
        assert_eq!(sel.ready_deadline(far), Ok(i));
        helper.join();
    });
    assert_eq!(rx.try_recv(), Ok(2));
    drop(tx);
    assert_eq!(sel.ready_timeout(Duration::MAX), Ok(i), "closed");
}

/// A zero timeout and a past deadline are a `try_ready`.
#[test]
fn zero_timeout_and_past_deadline_are_a_try() {
    let _watchdog = Watchdog::start("zero timeouts");
    let (tx, rx) = channel::<u8>();
    let (_other_tx, other) = channel::<u8>();
    let mut sel = Select::new();
    let _ = sel.recv(&other);
    let i = sel.recv(&rx);
    let past = |sel: &mut Select<'_>| {
        let now = Instant::now();
        let past = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        sel.ready_deadline(past)
    };
    assert_eq!(sel.ready_timeout(Duration::ZERO), Err(ReadyTimeoutError));
    assert_eq!(sel.ready_deadline(Instant::now()), Err(ReadyTimeoutError));
    assert_eq!(past(&mut sel), Err(ReadyTimeoutError));
    tx.send(1).unwrap();
    assert_eq!(sel.ready_timeout(Duration::ZERO), Ok(i));
    assert_eq!(sel.ready_deadline(Instant::now()), Ok(i));
    assert_eq!(past(&mut sel), Ok(i));
    assert_eq!(rx.try_recv(), Ok(1));
    drop(tx);
    assert_eq!(sel.ready_timeout(Duration::ZERO), Ok(i));
    assert_eq!(past(&mut sel), Ok(i));
}

/// A timed-out call waited at least as long as asked.
#[test]
fn a_timed_out_call_waited_its_time() {
    let (_tx, rx) = channel::<u8>();
    let mut sel = Select::new();
    sel.recv(&rx);
    for ms in [1, 5, 20] {
        let timeout = Duration::from_millis(ms);
        let start = Instant::now();
        assert_eq!(sel.ready_timeout(timeout), Err(ReadyTimeoutError));
        let waited = start.elapsed();
        assert!(waited >= timeout, "asked {timeout:?}, waited {waited:?}");
        let deadline = Instant::now() + timeout;
        assert_eq!(sel.ready_deadline(deadline), Err(ReadyTimeoutError));
        assert!(Instant::now() >= deadline, "returned before the deadline");
    }
}

// ---------------------------------------------------------------------------
// Nothing watched
// ---------------------------------------------------------------------------

/// With nothing watched (never, or no more), `try_ready` fails and the timed
/// calls fail at their deadline: not early, and not much later.
#[test]
fn with_nothing_watched_try_fails_and_timed_calls_wait_out_their_deadline() {
    let (tx, rx) = channel::<u8>();
    tx.send(1).unwrap(); // ready, but about to be removed
    let mut never = Select::new();
    let mut no_more = Select::new();
    let i = no_more.recv(&rx);
    no_more.remove(i);
    for sel in [&mut never, &mut no_more] {
        assert_eq!(sel.try_ready(), Err(TryReadyError));
        assert_eq!(sel.ready_timeout(Duration::ZERO), Err(ReadyTimeoutError));
        for ms in [1, 10, 30] {
            let timeout = Duration::from_millis(ms);
            let start = Instant::now();
            assert_eq!(sel.ready_timeout(timeout), Err(ReadyTimeoutError));
            let waited = start.elapsed();
            assert!(waited >= timeout, "asked {timeout:?}, waited {waited:?}");
            // Generous: the machine is shared; a wait that never ends would
            // not return at all.
            assert!(
                waited < timeout + Duration::from_secs(5),
                "waited {waited:?}"
            );
            let deadline = Instant::now() + timeout;
            assert_eq!(sel.ready_deadline(deadline), Err(ReadyTimeoutError));
            assert!(Instant::now() >= deadline, "returned before the deadline");
        }
    }
    assert_eq!(
        rx.try_recv(),
        Ok(1),
        "the removed receiver's value is still there"
    );
}

#[test]
#[should_panic]
fn ready_with_nothing_watched_panics() {
    Select::new().ready();
}

#[test]
#[should_panic]
fn ready_with_every_receiver_removed_panics() {
    let (_tx, rx) = channel::<u8>();
    let mut sel = Select::new();
    let i = sel.recv(&rx);
    sel.remove(i);
    sel.ready();
}

// ---------------------------------------------------------------------------
// remove and the indices
// ---------------------------------------------------------------------------

#[test]
#[should_panic]
fn remove_of_an_index_never_added_panics() {
    let (_tx, rx) = channel::<u8>();
    let mut sel = Select::new();
    sel.recv(&rx);
    sel.recv(&rx);
    sel.remove(2);
}

#[test]
#[should_panic]
fn remove_of_an_index_already_removed_panics() {
    let (_tx, rx) = channel::<u8>();
    let mut sel = Select::new();
    let i = sel.recv(&rx);
    sel.recv(&rx);
    sel.remove(i);
    sel.remove(i);
}

/// Every bad `remove` panics, and the `Select` is unchanged by it.
#[test]
fn a_bad_remove_panics_and_changes_nothing() {
    let (tx, rx) = channel::<u8>();
    let mut sel = Select::new();
    let remove_panics = |sel: &mut Select<'_>, index: usize| {
        panic::catch_unwind(AssertUnwindSafe(|| sel.remove(index))).is_err()
    };
    assert!(remove_panics(&mut sel, 0), "index 0 on an empty Select");
    let i = sel.recv(&rx);
    let j = sel.recv(&rx);
    sel.remove(j);
    for bad in [j, 2, 3, usize::MAX] {
        assert!(remove_panics(&mut sel, bad), "remove({bad})");
    }
    tx.send(1).unwrap();
    assert_eq!(sel.try_ready(), Ok(i), "i is still watched");
    assert_eq!(sel.recv(&rx), 2, "no index reused or skipped by the panics");
}

/// Indices count up in the order added, each names its own receiver, and a
/// removed index is never returned or reused (even when its receiver is
/// ready, or is added again).
#[test]
fn indices_are_in_order_added_and_not_reused() {
    let (txs, rxs) = channels::<usize>(5);
    let mut sel = Select::new();
    assert_eq!(sel.recv(&rxs[0]), 0);
    assert_eq!(sel.recv(&rxs[1]), 1);
    assert_eq!(sel.recv(&rxs[2]), 2);
    sel.remove(1);
    assert_eq!(sel.recv(&rxs[3]), 3);
    sel.remove(3);
    assert_eq!(sel.recv(&rxs[4]), 4);
    for (i, tx) in txs.iter().enumerate() {
        tx.send(i).unwrap();
    }
    // Only 0, 2 and 4 are watched, though all five are ready.
    let mut picked: Vec<usize> = (0..3).map(|_| sel.try_ready().unwrap()).collect();
    picked.sort_unstable();
    assert_eq!(picked, [0, 2, 4]);
    for i in [0, 2, 4] {
        assert_eq!(rxs[i].try_recv(), Ok(i), "index {i} is rxs[{i}]");
    }
    assert_eq!(sel.try_ready(), Err(TryReadyError), "1 and 3 are removed");
    assert_eq!(sel.recv(&rxs[1]), 5, "re-added: a new index");
    assert_eq!(sel.try_ready(), Ok(5));
    assert_eq!(rxs[1].try_recv(), Ok(1));
}

// ---------------------------------------------------------------------------
// Several Selects; Default; types; one receiver added twice
// ---------------------------------------------------------------------------

/// One receiver watched by two `Select`s (used in turn, on its thread):
/// both see its value, and each still blocks and wakes after the other
/// timed out or returned.
#[test]
fn a_receiver_watched_by_two_selects() {
    let _watchdog = Watchdog::start("two selects");
    let (txs, rxs) = channels::<u32>(3);
    let shared = &rxs[0];
    let mut one = Select::new();
    let one_shared = one.recv(shared);
    let one_own = one.recv(&rxs[1]);
    let mut two = Select::new();
    let two_own = two.recv(&rxs[2]);
    let two_shared = two.recv(shared);
    assert_eq!((one_shared, one_own, two_own, two_shared), (0, 1, 0, 1));
    txs[0].send(1).unwrap();
    assert_eq!(one.try_ready(), Ok(one_shared));
    assert_eq!(two.try_ready(), Ok(two_shared));
    assert_eq!(shared.try_recv(), Ok(1));
    assert_eq!(one.try_ready(), Err(TryReadyError));
    assert_eq!(two.try_ready(), Err(TryReadyError));
    for round in 0..scaled(6, 2) as u32 {
        let (first, second, first_i, second_i) = if round % 2 == 0 {
            (&mut one, &mut two, one_shared, two_shared)
        } else {
            (&mut two, &mut one, two_shared, one_shared)
        };
        assert_eq!(
            first.ready_timeout(Duration::from_millis(1)),
            Err(ReadyTimeoutError)
        );
        thread::scope(|s| {
            let helper = send_later(s, &txs[0], round);
            assert_eq!(second.ready(), second_i, "round {round}");
            helper.join();
        });
        assert_eq!(first.ready_timeout(LONG), Ok(first_i), "round {round}");
        assert_eq!(shared.try_recv(), Ok(round));
    }
    // The others are independent.
    txs[2].send(9).unwrap();
    assert_eq!(one.try_ready(), Err(TryReadyError));
    assert_eq!(two.try_ready(), Ok(two_own));
}

#[test]
fn default_is_an_empty_select() {
    let mut sel: Select<'_> = Select::default();
    assert_eq!(sel.try_ready(), Err(TryReadyError));
    let (tx, rx) = channel::<u8>();
    assert_eq!(sel.recv(&rx), 0, "the first index");
    assert_eq!(sel.try_ready(), Err(TryReadyError));
    tx.send(1).unwrap();
    assert_eq!(sel.try_ready(), Ok(0));
    assert!(format!("{sel:?}").starts_with("Select"));
}

/// Receivers of different value types (a zero-sized one, a heap-owning one,
/// and a non-`Send` one: a `Select` never leaves its thread) in one
/// `Select`.
#[test]
fn receivers_of_different_types() {
    let (tx_unit, unit) = channel::<()>();
    let (tx_text, text) = channel::<String>();
    let (tx_list, list) = channel::<Vec<u64>>();
    let (tx_rc, rc) = channel::<Rc<u8>>();
    let mut sel = Select::new();
    let indices = [
        sel.recv(&unit),
        sel.recv(&text),
        sel.recv(&list),
        sel.recv(&rc),
    ];
    assert_eq!(indices, [0, 1, 2, 3]);
    tx_list.send(vec![1, 2, 3]).unwrap();
    assert_eq!(sel.try_ready(), Ok(2));
    assert_eq!(list.try_recv(), Ok(vec![1, 2, 3]));
    tx_rc.send(Rc::new(4)).unwrap();
    assert_eq!(sel.try_ready(), Ok(3));
    assert_eq!(rc.try_recv().as_deref(), Ok(&4));
    tx_text.send("five".to_owned()).unwrap();
    assert_eq!(sel.try_ready(), Ok(1));
    assert_eq!(text.try_recv().as_deref(), Ok("five"));
    tx_unit.send(()).unwrap();
    assert_eq!(sel.try_ready(), Ok(0));
    assert_eq!(unit.try_recv(), Ok(()));
    assert_eq!(sel.try_ready(), Err(TryReadyError));
}

/// The same receiver added twice: both indices report it (fairly), a
/// blocked call over the pair wakes for every value, a timeout over it
/// leaves plain receives working, and after removing one the other works.
#[test]
fn the_same_receiver_added_twice() {
    let _watchdog = Watchdog::start("receiver added twice");
    let (tx, rx) = channel::<usize>();
    let (_other_tx, other) = channel::<usize>();
    let mut sel = Select::new();
    let first = sel.recv(&rx);
    let _ = sel.recv(&other);
    let second = sel.recv(&rx);
    tx.send(0).unwrap();
    let picks: Vec<usize> = (0..6).map(|_| sel.try_ready().unwrap()).collect();
    assert_round_robin(&picks, &[first, second], "added twice");
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(
        sel.ready_timeout(Duration::from_millis(1)),
        Err(ReadyTimeoutError)
    );

    let rounds = scaled(600, 9);
    let (go_tx, go_rx) = channel::<usize>();
    thread::scope(|s| {
        let helper = driven_sender(s, vec![tx.clone()], go_rx, 5);
        let mut rng = Rng::new(6);
        for r in 1..rounds {
            go_tx.send(r).unwrap();
            let got = match r % 3 {
                0 => {
                    let i = sel.ready();
                    assert!(i == first || i == second, "round {r}: index {i}");
                    rx.try_recv().ok()
                }
                1 => {
                    let i = sel.ready_timeout(LONG);
                    assert!(i == Ok(first) || i == Ok(second), "round {r}: {i:?}");
                    rx.try_recv().ok()
                }
                _ => {
                    // Often times out with the value on its way.
                    let _ = sel.ready_timeout(Duration::from_micros(rng.below(40)));
                    rx.recv().ok()
                }
            };
            assert_eq!(got, Some(r), "round {r}");
        }
        drop(go_tx);
        helper.join();
    });

    sel.remove(first);
    thread::scope(|s| {
        let helper = send_later(s, &tx, rounds);
        assert_eq!(sel.ready(), second);
        helper.join();
    });
    assert_eq!(rx.try_recv(), Ok(rounds));
}

// ---------------------------------------------------------------------------
// Stress
// ---------------------------------------------------------------------------

/// Bits of a value that hold the producer's sequence number; the producer's
/// index is above them.
const SEQ_BITS: u32 = 40;
/// The sequence number of a producer's final marker (above every other).
const FINAL: u64 = (1 << SEQ_BITS) - 1;

fn value(producer: usize, seq: u64) -> u64 {
    ((producer as u64) << SEQ_BITS) | seq
}

#[derive(Clone, Copy, Debug)]
struct StressConfig {
    producers: usize,
    receivers: usize,
    per_producer: usize,
    /// Every producer sends on every channel (else channel `c` belongs to
    /// producer `c % producers` alone).
    shared: bool,
    /// The selector mixes every kind of call, short timeouts included (else
    /// it only calls `ready`).
    mixed: bool,
    seed: u64,
}

impl StressConfig {
    /// The channels producer `p` sends on.
    fn channels_of(&self, p: usize) -> Vec<usize> {
        (0..self.receivers)
            .filter(|c| self.shared || c % self.producers == p)
            .collect()
    }
}

/// A producer: `per_producer` values on random channels of its own (sends,
/// and now and then a `replace`), then its final marker on each of them,
/// then it drops its senders. Returns how many values it put on each channel.
fn stress_producer(cfg: StressConfig, p: usize, txs: Vec<(usize, Sender<u64>)>) -> Vec<u64> {
    let mut rng = Rng::new(cfg.seed.wrapping_mul(31).wrapping_add(p as u64));
    let mut puts = vec![0u64; cfg.receivers];
    for seq in 0..cfg.per_producer as u64 {
        dawdle(&mut rng);
        let (c, tx) = &txs[rng.below(txs.len() as u64) as usize];
        if rng.one_in(8) {
            tx.replace(value(p, seq)).unwrap();
        } else {
            tx.send(value(p, seq)).unwrap();
        }
        puts[*c] += 1;
    }
    for (c, tx) in txs {
        tx.send(value(p, FINAL)).unwrap();
        puts[c] += 1;
    }
    puts
}

/// What the selector saw on one channel.
#[derive(Clone, Debug, Default)]
struct Seen {
    received: u64,
    last: Option<u64>,
    overwritten: u64,
}

/// The selector: loops on the `Select` and `try_recv`, removes each channel
/// at its disconnection, ends when every one is removed.
fn stress_selector(cfg: StressConfig, rxs: Vec<Receiver<u64>>) -> Vec<Seen> {
    let mut rng = Rng::new(cfg.seed ^ 0x5E1EC7);
    let mut seen = vec![Seen::default(); cfg.receivers];
    // Per channel and producer, the last sequence number received.
    let mut last_seq = vec![vec![None::<u64>; cfg.producers]; cfg.receivers];
    let mut sel = select_all(&rxs);
    let mut open = cfg.receivers;
    while open > 0 {
        let picked = if cfg.mixed {
            match rng.below(5) {
                0 => sel.try_ready().ok(),
                1 => sel.ready_timeout(Duration::from_micros(rng.below(50))).ok(),
                2 => {
                    let deadline = Instant::now() + Duration::from_micros(rng.below(50));
                    sel.ready_deadline(deadline).ok()
                }
                _ => Some(sel.ready()),
            }
        } else {
            Some(sel.ready())
        };
        let Some(c) = picked else {
            thread::yield_now();
            continue;
        };
        match rxs[c].try_recv() {
            Ok(v) => {
                let (p, seq) = ((v >> SEQ_BITS) as usize, v & FINAL);
                assert!(p < cfg.producers, "channel {c}: value {v:#x} from nowhere");
                let prev = &mut last_seq[c][p];
                assert!(
                    prev.is_none_or(|prev| prev < seq),
                    "channel {c}, producer {p}: {seq} after {prev:?}"
                );
                *prev = Some(seq);
                seen[c].received += 1;
                seen[c].last = Some(v);
            }
            Err(TryRecvError::Empty) => {
                panic!("channel {c}: ready index, but try_recv said Empty")
            }
            Err(TryRecvError::Disconnected) => {
                sel.remove(c);
                open -= 1;
                seen[c].overwritten = rxs[c].overwritten();
            }
        }
    }
    for (c, rx) in rxs.iter().enumerate() {
        assert_eq!(
            rx.try_recv(),
            Err(TryRecvError::Disconnected),
            "channel {c}"
        );
    }
    seen
}

fn stress(cfg: StressConfig) {
    let _watchdog = Watchdog::start("select stress");
    let started = Instant::now();
    let (txs, rxs) = channels::<u64>(cfg.receivers);
    let seen = thread::scope(|s| {
        let producers: Vec<_> = (0..cfg.producers)
            .map(|p| {
                let own: Vec<(usize, Sender<u64>)> = cfg
                    .channels_of(p)
                    .into_iter()
                    .map(|c| (c, txs[c].clone()))
                    .collect();
                s.spawn(move || stress_producer(cfg, p, own))
            })
            .collect();
        drop(txs);
        let selector = within_limit(s, "selector", move || stress_selector(cfg, rxs));
        let puts: Vec<Vec<u64>> = producers.into_iter().map(|h| h.join().unwrap()).collect();
        (selector.join(), puts)
    });
    let (seen, puts) = seen;
    for (c, seen) in seen.iter().enumerate() {
        let put: u64 = puts.iter().map(|per| per[c]).sum();
        // Drained to the close: every put was received or displaced.
        assert_eq!(
            seen.received + seen.overwritten,
            put,
            "channel {c}: {seen:?}"
        );
        // Rule 4: the last value put is received, and every producer's last
        // put on a channel is its marker.
        let last = seen.last.expect("every channel gets a marker");
        assert_eq!(last & FINAL, FINAL, "channel {c}: last value {last:#x}");
        if !cfg.shared {
            assert_eq!(last, value(c % cfg.producers, FINAL), "channel {c}");
        }
    }
    let received: u64 = seen.iter().map(|s| s.received).sum();
    let overwritten: u64 = seen.iter().map(|s| s.overwritten).sum();
    println!(
        "{cfg:?}: received {received}, overwritten {overwritten} in {:.2?}",
        started.elapsed()
    );
}

#[test]
fn stress_two_producers_two_shared_receivers() {
    stress(StressConfig {
        producers: 2,
        receivers: 2,
        per_producer: scaled(60_000, 30),
        shared: true,
        mixed: false,
        seed: 1,
    });
}

#[test]
fn stress_three_producers_eight_own_receivers_mixed_calls() {
    stress(StressConfig {
        producers: 3,
        receivers: 8,
        per_producer: scaled(30_000, 20),
        shared: false,
        mixed: true,
        seed: 2,
    });
}

#[test]
fn stress_four_producers_sixty_four_shared_receivers() {
    stress(StressConfig {
        producers: 4,
        receivers: 64,
        per_producer: scaled(15_000, 5),
        shared: true,
        mixed: false,
        seed: 3,
    });
}

#[test]
fn stress_two_producers_sixteen_own_receivers_mixed_calls() {
    stress(StressConfig {
        producers: 2,
        receivers: 16,
        per_producer: scaled(30_000, 20),
        shared: false,
        mixed: true,
        seed: 4,
    });
}

// The long run (release advised): `cargo test --release --test select --
// --ignored --test-threads=1`.

#[test]
#[ignore = "long; cargo test --release --test select -- --ignored"]
fn long_stress_four_producers_sixty_four_shared_receivers() {
    stress(StressConfig {
        producers: 4,
        receivers: 64,
        per_producer: 4_000_000,
        shared: true,
        mixed: true,
        seed: 11,
    });
}

#[test]
#[ignore = "long; cargo test --release --test select -- --ignored"]
fn long_stress_three_producers_five_own_receivers() {
    stress(StressConfig {
        producers: 3,
        receivers: 5,
        per_producer: 6_000_000,
        shared: false,
        mixed: false,
        seed: 12,
    });
}
