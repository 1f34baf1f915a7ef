//! Loom models of the `Receiver` being dropped while senders work: each
//! racing value comes back in `SendError` or is dropped exactly once, and
//! the shared block is freed exactly once (loom's leak check).
#![cfg(loom)]

mod helpers;

use conflate::SendError;
use helpers::{DropLog, Tally};
use loom::thread;

/// Receiver drop ∥ `send`: the send either hands its value back or the
/// value is dropped once (by the receiver's drop or the channel's free).
#[test]
fn receiver_drop_races_send() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx, rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            let mut tally = Tally::default();
            if let Err(SendError(v)) = tx.send(v0) {
                assert_eq!(v.id, 0, "SendError carries someone else's value");
                tally.refused(v);
            }
            tx
        });
        drop(rx);
        let tx = t.join().unwrap();
        // Refused, value 0 was dropped with the error; accepted, the send
        // came before the receiver's drop, which dropped it (rule 5). Either
        // way it is gone while a sender still holds the channel.
        assert_eq!(
            log.drops(0),
            1,
            "an accepted value outlived the receiver's drop"
        );
        // The receiver is gone: every later send refuses its value.
        assert!(tx.is_disconnected());
        match tx.send(log.val(1)) {
            Err(SendError(v)) => assert_eq!(v.id, 1),
            Ok(()) => panic!("send succeeded after the receiver was dropped"),
        }
        drop(tx);
        log.assert_each_dropped_once();
    });
}

/// Receiver drop ∥ `replace` over a waiting value: the displaced value is
/// either returned by `replace` or dropped by the receiver's drop, never
/// both; the new value is returned in `SendError` or dropped once.
#[test]
fn receiver_drop_races_replace() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx, rx) = conflate::channel();
        tx.send(log.val(0)).unwrap();
        let v1 = log.val(1);
        let t = thread::spawn(move || {
            let mut tally = Tally::default();
            match tx.replace(v1) {
                Ok(Some(old)) => {
                    assert_eq!(old.id, 0);
                    tally.replaced(old);
                }
                Ok(None) => panic!("replace found the slot empty; 0 was waiting"),
                Err(SendError(v)) => {
                    assert_eq!(v.id, 1);
                    tally.refused(v);
                }
            }
            (tx, tally)
        });
        drop(rx);
        let (tx, tally) = t.join().unwrap();
        // Dropping the receiver drops the waiting value right then: it can
        // no longer be handed back to `replace` afterwards.
        if !tally.refused.is_empty() {
            assert_eq!(log.drops(0), 1, "the waiting value outlived the receiver");
        }
        assert!(tx.is_disconnected());
        drop(tx);
        log.assert_each_dropped_once();
    });
}

/// Receiver drop ∥ send then last sender drop: whichever handle goes last
/// frees the channel, exactly once, with the value in it dropped once.
#[test]
fn receiver_drop_races_send_then_last_sender_drop() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            if let Err(SendError(v)) = tx.send(v0) {
                assert_eq!(v.id, 0);
            }
            drop(tx);
        });
        drop(rx);
        t.join().unwrap();
        log.assert_each_dropped_once();
    });
}

/// Receiver drop ∥ two senders: each value is refused or dropped once, and
/// an accepted one by the time both sends and the drop are done (by the
/// other send, which displaced it, or by the receiver's drop), while the
/// senders still hold the channel.
#[test]
fn receiver_drop_races_two_senders() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx_a, rx) = conflate::channel();
        let tx_b = tx_a.clone();
        let (v0, v1) = (log.val(0), log.val(1));
        let a = thread::spawn(move || {
            if let Err(SendError(v)) = tx_a.send(v0) {
                assert_eq!(v.id, 0);
            }
            tx_a
        });
        let b = thread::spawn(move || {
            if let Err(SendError(v)) = tx_b.send(v1) {
                assert_eq!(v.id, 1);
            }
            tx_b
        });
        drop(rx);
        let (tx_a, tx_b) = (a.join().unwrap(), b.join().unwrap());
        for id in 0..2 {
            assert_eq!(log.drops(id), 1, "value {id} outlived the receiver's drop");
        }
        drop((tx_a, tx_b));
        log.assert_each_dropped_once();
    });
}

/// A receiver parked in `recv` cannot be dropped, but one that just took a
/// value can: `try_recv` then drop ∥ send. The value is received, refused,
/// or dropped once.
#[test]
fn try_recv_then_receiver_drop_races_send() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || tx.send(v0).err().map(|SendError(v)| v.id));
        let mut tally = Tally::default();
        if let Ok(v) = rx.try_recv() {
            tally.recv(v);
        }
        drop(rx);
        let refused = t.join().unwrap();
        if let Some(id) = refused {
            assert_eq!(id, 0);
            assert!(tally.received.is_empty(), "value both received and refused");
        }
        log.assert_each_dropped_once();
    });
}

/// `Sender::is_disconnected` ∥ receiver drop: once a sender has seen the
/// receiver gone, its next send is refused with its own value.
#[test]
fn sender_sees_receiver_gone_then_send_refused() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, rx) = conflate::channel();
        let t = thread::spawn(move || drop(rx));
        let gone = tx.is_disconnected();
        let sent = tx.send(log.val(0));
        if gone {
            match sent {
                Err(SendError(ref v)) => assert_eq!(v.id, 0),
                Ok(()) => panic!("send accepted after is_disconnected() said true"),
            }
        }
        drop(sent);
        t.join().unwrap();
        assert!(tx.is_disconnected());
        drop(tx);
        log.assert_each_dropped_once();
    });
}

/// Receiver drop ∥ two `replace`s over a waiting value. Nothing receives,
/// so the slot is never empty before the drop: a `replace` that takes effect
/// before the drop returns the value it displaced (the waiting one or the
/// other replace's), one after it gets its own value back in `SendError`.
/// `Ok(None)` fits no order of the three calls.
#[test]
fn receiver_drop_races_two_replaces() {
    loom::model(|| {
        let log = DropLog::new(3);
        let (tx_a, rx) = conflate::channel();
        tx_a.send(log.val(0)).unwrap();
        let tx_b = tx_a.clone();
        let (v1, v2) = (log.val(1), log.val(2));
        let replace = |tx: conflate::Sender<helpers::Val>, v: helpers::Val| {
            let own = v.id;
            thread::spawn(move || match tx.replace(v) {
                Ok(Some(old)) => {
                    assert_ne!(old.id, own, "replace returned its own value");
                    Some(old.id)
                }
                Ok(None) => panic!("replace {own} found the slot empty; nothing received"),
                Err(SendError(v)) => {
                    assert_eq!(v.id, own, "SendError carries someone else's value");
                    assert!(
                        tx.is_disconnected(),
                        "a refused sender sees a live receiver"
                    );
                    None
                }
            })
        };
        let a = replace(tx_a, v1);
        let b = replace(tx_b, v2);
        drop(rx);
        let (got_a, got_b) = (a.join().unwrap(), b.join().unwrap());
        // A replace that displaced the other's value ran after it, so both
        // ran before the drop and the other one displaced the waiting 0.
        if got_a == Some(2) {
            assert_eq!(got_b, Some(0), "a displaced 2, so b must have displaced 0");
        }
        if got_b == Some(1) {
            assert_eq!(got_a, Some(0), "b displaced 1, so a must have displaced 0");
        }
        assert!(
            !(got_a == Some(0) && got_b == Some(0)),
            "0 was returned to both replaces"
        );
        log.assert_each_dropped_once();
    });
}

/// Receiver drop ∥ three senders over a waiting value. Under loom the arena
/// has two nodes, so with the waiting value in one, racing senders also take
/// the heap overflow path. Every `SendError` carries the caller's own value,
/// a refused sender sees the receiver gone, and every value is dropped
/// exactly once.
#[test]
fn receiver_drop_races_three_senders() {
    loom::model(|| {
        let log = DropLog::new(4);
        let (tx, rx) = conflate::channel();
        tx.send(log.val(0)).unwrap();
        let senders: Vec<_> = (1..4)
            .map(|id| {
                let (tx, v) = (tx.clone(), log.val(id));
                thread::spawn(move || {
                    if let Err(SendError(v)) = tx.send(v) {
                        assert_eq!(v.id, id, "SendError carries someone else's value");
                        assert!(
                            tx.is_disconnected(),
                            "a refused sender sees a live receiver"
                        );
                    }
                    tx
                })
            })
            .collect();
        drop(tx);
        drop(rx);
        let senders: Vec<_> = senders.into_iter().map(|s| s.join().unwrap()).collect();
        // With every send and the receiver's drop done, each value is gone
        // (refused, displaced, or dropped by the receiver's drop) while the
        // senders still hold the channel.
        for id in 0..4 {
            assert_eq!(log.drops(id), 1, "value {id} outlived the receiver's drop");
        }
        drop(senders);
        log.assert_each_dropped_once();
    });
}
