//! API.md rule 7: `overwritten()` counts values displaced by `send` or
//! `replace` before the receiver took them.

mod helpers;

use std::sync::atomic::{AtomicU64, Ordering};

use conflate::channel;

#[test]
fn counts_displacements_only() {
    let (tx, rx) = channel::<u32>();
    assert_eq!(rx.overwritten(), 0);
    tx.send(1).unwrap();
    assert_eq!(
        rx.overwritten(),
        0,
        "filling an empty slot displaces nothing"
    );
    tx.send(2).unwrap();
    assert_eq!(rx.overwritten(), 1);
    tx.send(3).unwrap();
    assert_eq!(rx.overwritten(), 2);
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(rx.overwritten(), 2, "a receive is not a displacement");
    tx.send(4).unwrap();
    assert_eq!(rx.overwritten(), 2);
    assert_eq!(rx.recv(), Ok(4));
    assert_eq!(rx.try_recv().unwrap_err(), conflate::TryRecvError::Empty);
    assert_eq!(rx.overwritten(), 2);
}

#[test]
fn replace_displacements_count_too() {
    let (tx, rx) = channel::<u32>();
    assert_eq!(tx.replace(1), Ok(None));
    assert_eq!(rx.overwritten(), 0);
    assert_eq!(tx.replace(2), Ok(Some(1)));
    assert_eq!(rx.overwritten(), 1);
    tx.send(3).unwrap();
    assert_eq!(rx.overwritten(), 2);
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(tx.replace(4), Ok(None));
    assert_eq!(rx.overwritten(), 2);
}

#[test]
fn clones_and_disconnection() {
    let (tx, rx) = channel::<u32>();
    let tx2 = tx.clone();
    tx.send(1).unwrap();
    tx2.send(2).unwrap();
    drop(tx);
    tx2.send(3).unwrap();
    drop(tx2);
    assert_eq!(rx.overwritten(), 2);
    assert_eq!(rx.recv(), Ok(3));
    assert!(rx.recv().is_err());
    assert_eq!(rx.overwritten(), 2, "disconnection is not a displacement");
}

/// With producers racing a consumer: the count never goes down, never
/// exceeds what could have happened (sends started minus one), includes every
/// displacement by calls that have returned, and at the end equals the sends
/// that were not received.
#[test]
fn consistent_under_concurrency() {
    let per_producer = helpers::scaled(50_000, 200) as u64;
    let producers = 2u64;
    let started = AtomicU64::new(0);
    let (tx, rx) = channel::<u64>();
    let received = std::thread::scope(|s| {
        for _ in 0..producers {
            let tx = tx.clone();
            let started = &started;
            s.spawn(move || {
                for i in 0..per_producer {
                    started.fetch_add(1, Ordering::SeqCst);
                    tx.send(i).unwrap();
                }
            });
        }
        drop(tx);
        let mut received = 0u64;
        let mut last = 0u64;
        loop {
            let before = rx.overwritten();
            assert!(
                before >= last,
                "overwritten() went down: {last} -> {before}"
            );
            let now = rx.overwritten();
            // Read after `now`: every displacement counted in `now` was made
            // by a send that had begun (and bumped `started`) before, and the
            // first send of all cannot displace anything.
            let upper = started.load(Ordering::SeqCst);
            assert!(
                now <= upper.saturating_sub(1),
                "{now} displacements with {upper} sends begun"
            );
            assert!(now >= before);
            last = now;
            match rx.try_recv() {
                Ok(_) => received += 1,
                Err(e) if e.is_disconnected() => break,
                Err(_) => {}
            }
        }
        received
    });
    assert_eq!(received + rx.overwritten(), producers * per_producer);
}

/// Calls that returned are counted: after a send that displaced returns,
/// the consumer (told via a handshake) sees the count include it.
#[test]
fn returned_displacements_are_visible() {
    let _watchdog = helpers::Watchdog::start("displacement hand-off");
    let rounds = helpers::scaled(2_000, 10) as u64;
    let (tx, rx) = channel::<u64>();
    let (done_tx, done_rx) = channel::<u64>();
    let (ack_tx, ack_rx) = channel::<u64>();
    // `move`: a failed assertion drops `ack_tx`, which ends the producer.
    std::thread::scope(move |s| {
        s.spawn(move || {
            for i in 0..rounds {
                tx.send(2 * i).unwrap();
                tx.send(2 * i + 1).unwrap(); // displaces 2 * i
                done_tx.send(i).unwrap();
                assert_eq!(ack_rx.recv(), Ok(i));
            }
        });
        for i in 0..rounds {
            assert_eq!(done_rx.recv(), Ok(i));
            assert_eq!(rx.overwritten(), i + 1);
            assert_eq!(rx.try_recv(), Ok(2 * i + 1));
            ack_tx.send(i).unwrap();
        }
    });
}
