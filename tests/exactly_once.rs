//! API.md rule 2: every value ends in exactly one place, and a value the
//! channel drops is dropped exactly once and at the right moment.

mod helpers;

use conflate::{SendError, TryRecvError, channel};
use helpers::DropLog;

#[test]
fn a_displaced_value_is_dropped_at_once() {
    let log = DropLog::new(3);
    let (tx, rx) = channel();
    tx.send(log.item(0)).unwrap();
    log.assert_alive(0);
    tx.send(log.item(1)).unwrap();
    log.assert_dropped_once(0);
    log.assert_alive(1);
    tx.send(log.item(2)).unwrap();
    log.assert_dropped_once(1);
    let got = rx.try_recv().unwrap();
    assert_eq!(got.id(), 2);
    log.assert_alive(2);
    drop(got);
    drop((tx, rx));
    log.assert_all_dropped_once(0..3);
}

#[test]
fn a_received_value_belongs_to_the_caller() {
    let log = DropLog::new(1);
    let (tx, rx) = channel();
    tx.send(log.item(0)).unwrap();
    let got = rx.recv().unwrap();
    drop((tx, rx));
    log.assert_alive(0);
    drop(got);
    log.assert_dropped_once(0);
}

#[test]
fn replace_hands_back_without_dropping() {
    let log = DropLog::new(2);
    let (tx, rx) = channel();
    assert!(tx.replace(log.item(0)).unwrap().is_none());
    let old = tx.replace(log.item(1)).unwrap().unwrap();
    assert_eq!(old.id(), 0);
    log.assert_alive(0);
    drop(old);
    log.assert_dropped_once(0);
    assert_eq!(rx.try_recv().unwrap().id(), 1);
    log.assert_all_dropped_once(0..2);
}

#[test]
fn send_error_hands_back_without_dropping() {
    let log = DropLog::new(2);
    let (tx, rx) = channel();
    drop(rx);
    let SendError(back) = tx.send(log.item(0)).unwrap_err();
    assert_eq!(back.id(), 0);
    log.assert_alive(0);
    let back2 = tx.replace(log.item(1)).unwrap_err().into_inner();
    assert_eq!(back2.id(), 1);
    log.assert_alive(1);
    drop((back, back2, tx));
    log.assert_all_dropped_once(0..2);
}

#[test]
fn value_left_in_slot_is_dropped_when_the_channel_is_freed() {
    // Senders go first: the value waits for the receiver, which frees it.
    let log = DropLog::new(2);
    let (tx, rx) = channel();
    tx.send(log.item(0)).unwrap();
    drop(tx);
    log.assert_alive(0);
    drop(rx);
    log.assert_dropped_once(0);

    // Receiver goes first: the value goes with it (rule 5), the senders'
    // later drop does not touch it again.
    let (tx, rx) = channel();
    let tx2 = tx.clone();
    tx.send(log.item(1)).unwrap();
    drop(rx);
    log.assert_dropped_once(1);
    drop(tx);
    drop(tx2);
    log.assert_all_dropped_once(0..2);
}

#[test]
fn received_after_disconnect_is_not_dropped_again() {
    let log = DropLog::new(1);
    let (tx, rx) = channel();
    tx.send(log.item(0)).unwrap();
    drop(tx);
    let got = rx.recv().unwrap();
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Disconnected);
    drop(rx);
    log.assert_alive(0);
    drop(got);
    log.assert_dropped_once(0);
}

/// Producers race with a consumer that uses every kind of receive. At the
/// end, each value was dropped exactly once, and the values the channel
/// dropped itself are exactly the ones `overwritten()` counted.
#[test]
fn concurrent_values_are_accounted_for() {
    let per_producer = helpers::scaled(20_000, 150);
    let producers = 3;
    let total = per_producer * producers;
    let log = DropLog::new(total);
    let (tx, rx) = channel();
    let (received, replaced) = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for p in 0..producers {
            let tx = tx.clone();
            let log = &log;
            handles.push(s.spawn(move || {
                let mut replaced = 0usize;
                for i in 0..per_producer {
                    let item = log.item(p * per_producer + i);
                    if i % 3 == 0 {
                        if let Some(old) = tx.replace(item).unwrap() {
                            // A value handed back must still be alive.
                            log.assert_alive(old.id());
                            replaced += 1;
                        }
                    } else {
                        tx.send(item).unwrap();
                    }
                }
                replaced
            }));
        }
        drop(tx);
        let mut received = 0usize;
        let mut rng = helpers::Rng::new(7);
        loop {
            let got = match rng.below(3) {
                0 => match rx.recv() {
                    Ok(item) => Some(item),
                    Err(_) => {
                        // Disconnected is final and only comes once the
                        // slot is empty.
                        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Disconnected);
                        break;
                    }
                },
                1 => rx.try_recv().ok(),
                _ => rx.recv_timeout(std::time::Duration::from_micros(50)).ok(),
            };
            if let Some(item) = got {
                log.assert_alive(item.id());
                received += 1;
            }
        }
        let replaced: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        (received, replaced)
    });
    // Everything was sent, received or handed back, and the receiver saw
    // Disconnected only after the last value.
    let overwritten = usize::try_from(rx.overwritten()).unwrap();
    assert_eq!(
        received + overwritten,
        total,
        "received {received}, overwritten {overwritten}"
    );
    // Values dropped by the channel: every displacement except those made by
    // `replace`, which handed the value back instead.
    assert_eq!(log.total_drops(), total);
    assert!(replaced <= overwritten);
    drop(rx);
    log.assert_all_dropped_once(0..total);
}
