//! API.md rule 5: dropping the `Receiver` drops the value in the slot during
//! that drop, and later sends hand the caller's value back.

mod helpers;

use conflate::{SendError, channel};
use helpers::DropLog;

#[test]
fn slot_value_is_dropped_during_receiver_drop() {
    let log = DropLog::new(1);
    let (tx, rx) = channel();
    tx.send(log.item(0)).unwrap();
    log.assert_alive(0);
    drop(rx);
    // The sender is still alive, so only the receiver's drop can have done it.
    log.assert_dropped_once(0);
    assert!(tx.is_disconnected());
    drop(tx);
    log.assert_dropped_once(0);
}

#[test]
fn later_sends_return_the_callers_value() {
    let log = DropLog::new(4);
    let (tx, rx) = channel();
    let tx2 = tx.clone();
    drop(rx);
    assert!(tx.is_disconnected());
    assert!(tx2.is_disconnected());

    let err = tx.send(log.item(0)).unwrap_err();
    assert_eq!(err.0.id(), 0);
    log.assert_alive(0);

    let err2 = tx2.replace(log.item(1)).unwrap_err();
    assert_eq!(err2.into_inner().id(), 1);
    log.assert_dropped_once(1);

    // Repeated calls keep failing the same way.
    for id in 2..4 {
        match tx.send(log.item(id)) {
            Err(SendError(v)) => assert_eq!(v.id(), id),
            Ok(()) => panic!("send succeeded after the receiver was dropped"),
        }
    }
    log.assert_alive(0);
    drop(err);
    drop((tx, tx2));
    log.assert_all_dropped_once(0..4);
    assert_eq!(log.total_drops(), 4);
}

#[test]
fn receiver_drop_on_empty_channel_drops_nothing() {
    let log = DropLog::new(2);
    let (tx, rx) = channel();
    tx.send(log.item(0)).unwrap();
    let got = rx.try_recv().unwrap();
    drop(rx);
    log.assert_alive(0);
    assert_eq!(tx.send(log.item(1)).unwrap_err().0.id(), 1);
    // That value was handed back and dropped here; the received one is alive.
    log.assert_dropped_once(1);
    log.assert_alive(0);
    drop(got);
    log.assert_all_dropped_once(0..2);
}

#[test]
fn receiver_dropped_after_disconnect_frees_the_last_value() {
    let log = DropLog::new(1);
    let (tx, rx) = channel();
    tx.send(log.item(0)).unwrap();
    drop(tx);
    assert!(rx.is_disconnected());
    log.assert_alive(0);
    drop(rx);
    log.assert_dropped_once(0);
}

#[test]
fn receiver_dropped_after_a_pending_future() {
    let log = DropLog::new(1);
    let (tx, mut rx) = channel();
    let counter = helpers::CountingWaker::new();
    let waker = helpers::waker_of(&counter);
    let mut fut = rx.recv_async();
    assert!(helpers::poll_once(&mut fut, &waker).is_pending());
    drop(fut);
    drop(rx);
    assert!(tx.is_disconnected());
    assert_eq!(tx.send(log.item(0)).unwrap_err().0.id(), 0);
    log.assert_dropped_once(0);
    assert_eq!(
        counter.count(),
        0,
        "a dropped future's waker must not be used"
    );
}

/// The receiver is dropped on another thread while producers keep sending.
/// Every send either succeeded (its value was later displaced, or taken, or
/// freed with the receiver) or handed its own value back; each value is
/// dropped exactly once; after the first failed send every later send fails.
#[test]
fn receiver_drop_races_with_senders() {
    let rounds = helpers::scaled(100, 3);
    let per_producer = helpers::scaled(500, 20);
    let producers = 2;
    for round in 0..rounds {
        let total = producers * per_producer;
        let log = DropLog::new(total);
        let (tx, rx) = channel();
        std::thread::scope(|s| {
            for p in 0..producers {
                let tx = tx.clone();
                let log = &log;
                s.spawn(move || {
                    let mut failed = false;
                    for i in 0..per_producer {
                        let id = p * per_producer + i;
                        let res = if i % 2 == 0 {
                            tx.send(log.item(id)).map(|()| None)
                        } else {
                            tx.replace(log.item(id))
                        };
                        match res {
                            Ok(old) => {
                                assert!(!failed, "a send succeeded after one had failed");
                                if let Some(old) = old {
                                    log.assert_alive(old.id());
                                }
                            }
                            Err(SendError(back)) => {
                                failed = true;
                                assert_eq!(
                                    back.id(),
                                    id,
                                    "SendError must carry the caller's value"
                                );
                                log.assert_alive(id);
                                assert!(tx.is_disconnected());
                            }
                        }
                    }
                });
            }
            drop(tx);
            let take = round % (per_producer / 2 + 1);
            s.spawn(move || {
                for _ in 0..take {
                    if rx.recv().is_err() {
                        break;
                    }
                }
                drop(rx);
            });
        });
        log.assert_all_dropped_once(0..total);
    }
}
