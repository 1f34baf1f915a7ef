//! Values whose `Drop` panics. The crate's choice: when `send` displaces
//! such a value, the new value is already in the slot when the panic leaves
//! `send` (the send took effect and counts as one overwrite). Whatever
//! panics, the channel stays usable, nothing leaks (Miri checks leaks when it
//! runs this file) and nothing is dropped twice.

mod helpers;

use conflate::{TryRecvError, channel};
use helpers::{DropLog, expect_drop_panic};

#[test]
fn send_displacing_a_panicking_value() {
    let log = DropLog::new(4);
    let (tx, rx) = channel();
    tx.send(log.panicky(0)).unwrap();
    expect_drop_panic(|| tx.send(log.item(1)));
    log.assert_dropped_once(0);
    log.assert_alive(1);
    assert_eq!(rx.overwritten(), 1, "the send took effect");
    assert!(!rx.is_empty());
    assert_eq!(rx.try_recv().map(|v| v.id()), Ok(1));
    log.assert_dropped_once(1);

    // Later sends and receives work as usual.
    tx.send(log.item(2)).unwrap();
    tx.send(log.item(3)).unwrap();
    log.assert_dropped_once(2);
    assert_eq!(rx.recv().map(|v| v.id()), Ok(3));
    assert_eq!(rx.overwritten(), 2);
    drop(tx);
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Disconnected);
    log.assert_all_dropped_once(0..4);
}

#[test]
fn send_of_panicking_value_displaced_twice_in_a_row() {
    let log = DropLog::new(3);
    let (tx, rx) = channel();
    tx.send(log.panicky(0)).unwrap();
    expect_drop_panic(|| tx.send(log.panicky(1)));
    expect_drop_panic(|| tx.send(log.item(2)));
    log.assert_all_dropped_once(0..2);
    assert_eq!(rx.overwritten(), 2);
    assert_eq!(rx.try_recv().map(|v| v.id()), Ok(2));
    drop((tx, rx));
    log.assert_all_dropped_once(0..3);
}

#[test]
fn replace_hands_a_panicking_value_back() {
    let log = DropLog::new(3);
    let (tx, rx) = channel();
    tx.send(log.panicky(0)).unwrap();
    // `replace` does not drop the displaced value, so it does not panic.
    let old = tx.replace(log.item(1)).unwrap().unwrap();
    assert_eq!(old.id(), 0);
    log.assert_alive(0);
    assert_eq!(rx.overwritten(), 1);
    // The caller's drop panics; the channel is not involved any more.
    expect_drop_panic(|| drop(old));
    log.assert_dropped_once(0);
    tx.send(log.item(2)).unwrap();
    assert_eq!(rx.recv().map(|v| v.id()), Ok(2));
    log.assert_all_dropped_once(0..3);
}

#[test]
fn receiver_drop_with_a_panicking_value_in_the_slot() {
    let log = DropLog::new(3);
    let (tx, rx) = channel();
    let tx2 = tx.clone();
    tx.send(log.panicky(0)).unwrap();
    expect_drop_panic(|| drop(rx));
    log.assert_dropped_once(0);
    assert!(tx.is_disconnected());
    assert!(tx2.is_disconnected());
    let back = tx.send(log.item(1)).unwrap_err().into_inner();
    assert_eq!(back.id(), 1);
    let back2 = tx2.replace(log.item(2)).unwrap_err().into_inner();
    assert_eq!(back2.id(), 2);
    log.assert_alive(1);
    drop((back, back2));
    drop(tx);
    drop(tx2);
    log.assert_all_dropped_once(0..3);
}

#[test]
fn channel_freed_with_a_panicking_value_in_the_slot() {
    let log = DropLog::new(1);
    let (tx, rx) = channel();
    tx.send(log.panicky(0)).unwrap();
    drop(tx);
    assert!(rx.is_disconnected());
    log.assert_alive(0);
    expect_drop_panic(|| drop(rx));
    log.assert_dropped_once(0);
}

#[test]
fn received_panicking_value_is_the_callers_problem() {
    let log = DropLog::new(2);
    let (tx, rx) = channel();
    tx.send(log.panicky(0)).unwrap();
    let got = rx.recv().unwrap();
    expect_drop_panic(|| drop(got));
    tx.send(log.item(1)).unwrap();
    assert_eq!(rx.overwritten(), 0);
    assert_eq!(rx.recv().map(|v| v.id()), Ok(1));
    log.assert_all_dropped_once(0..2);
}

/// A panicking displacement while the receiver waits in another thread:
/// the panic stays in the sending thread and the receiver still wakes.
#[test]
fn panicking_displacement_does_not_lose_a_wake_up() {
    helpers::quiet_drop_panics();
    let rounds = helpers::scaled(200, 3);
    let log = DropLog::new(3 * rounds);
    for round in 0..rounds {
        let ids = 3 * round..3 * round + 3;
        let (tx, rx) = channel::<helpers::Tracked<'_>>();
        let log = &log;
        let start = ids.start;
        // `move`: if the main thread's part fails, unwinding drops `tx`, so
        // the receiver thread ends instead of blocking forever.
        std::thread::scope(move |s| {
            let waiter = helpers::within_limit(s, "receiver", move || {
                let mut last = None;
                while let Ok(v) = rx.recv() {
                    last = Some(v.defuse().id());
                }
                last
            });
            tx.send(log.panicky(start)).unwrap();
            // Whether this displaces (panics) depends on the receiver's pace.
            let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                tx.send(log.panicky(start + 1))
            }));
            if let Ok(res) = first {
                res.unwrap();
            }
            let second = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                tx.send(log.item(start + 2))
            }));
            if let Ok(res) = second {
                res.unwrap();
            }
            drop(tx);
            assert_eq!(waiter.join(), Some(start + 2), "the last value was lost");
        });
        log.assert_all_dropped_once(ids);
    }
}

/// Several producers send panicking values concurrently; the consumer takes
/// some. Every value is dropped exactly once, each panic is caught in the
/// thread whose send displaced the value, and displacements match
/// `overwritten()`.
#[test]
fn concurrent_panicking_displacements() {
    helpers::quiet_drop_panics();
    let per_producer = helpers::scaled(3_000, 40);
    let producers = 2;
    let total = producers * per_producer;
    let log = DropLog::new(total);
    let (tx, rx) = channel();
    let (panics, received) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..producers)
            .map(|p| {
                let tx = tx.clone();
                let log = &log;
                s.spawn(move || {
                    let mut panics = 0u64;
                    for i in 0..per_producer {
                        let item = log.panicky(p * per_producer + i);
                        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            tx.send(item)
                        })) {
                            Ok(res) => res.unwrap(),
                            Err(_) => panics += 1,
                        }
                    }
                    panics
                })
            })
            .collect();
        drop(tx);
        let mut received = 0u64;
        while let Ok(v) = rx.recv() {
            drop(v.defuse());
            received += 1;
        }
        (
            handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>(),
            received,
        )
    });
    assert_eq!(
        panics,
        rx.overwritten(),
        "each displacement dropped, and panicked, once"
    );
    assert_eq!(received + panics, total as u64);
    drop(rx);
    log.assert_all_dropped_once(0..total);
}
