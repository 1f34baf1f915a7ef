//! Loom models of `replace` racing receives and sends: the displaced value
//! is returned exactly once and counted by `overwritten()`.
#![cfg(loom)]

mod helpers;

use helpers::{DropLog, Tally};
use loom::thread;

/// `replace` ∥ `try_recv` over a waiting value: the waiting value goes to
/// exactly one of them, and the new value is received afterwards.
#[test]
fn replace_races_try_recv_displaced_returned_once() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx, rx) = conflate::channel();
        tx.send(log.val(0)).unwrap();
        let v1 = log.val(1);
        let t = thread::spawn(move || {
            let mut tally = Tally::default();
            if let Some(old) = tx.replace(v1).expect("receiver alive") {
                assert_eq!(old.id, 0);
                tally.replaced(old);
            }
            (tx, tally)
        });
        let mut tally = Tally::default();
        if let Ok(v) = rx.try_recv() {
            tally.recv(v);
        }
        let (tx, theirs) = t.join().unwrap();
        tally.absorb(theirs);
        if let Ok(v) = rx.try_recv() {
            tally.recv(v);
        }
        assert!(tally.received.contains(&1), "the replacing value was lost");
        match tally.replaced.as_slice() {
            [] => assert_eq!(tally.received, [0, 1]),
            [0] => assert_eq!(tally.received, [1]),
            other => panic!("replace returned {other:?}"),
        }
        tally.assert_accounts_for(2, rx.overwritten());
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

/// `replace` ∥ blocking `recv` on an empty channel: `recv` wakes for the
/// replacing value and `replace` finds nothing to return.
#[test]
fn replace_wakes_blocking_recv() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            let old = tx.replace(v0).expect("receiver alive");
            assert!(old.is_none(), "replace returned {old:?} from an empty slot");
            tx
        });
        let mut tally = Tally::default();
        tally.recv(rx.recv().expect("sender alive"));
        let tx = t.join().unwrap();
        assert_eq!(tally.received, [0]);
        tally.assert_accounts_for(1, rx.overwritten());
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

/// `replace` ∥ `send` ∥ `try_recv`: a value displaced by `send` is dropped,
/// one displaced by `replace` is returned, and each counts as overwritten.
#[test]
fn replace_races_send_and_try_recv() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx_a, rx) = conflate::channel();
        let tx_b = tx_a.clone();
        let (v0, v1) = (log.val(0), log.val(1));
        let a = thread::spawn(move || {
            let mut tally = Tally::default();
            if let Some(old) = tx_a.replace(v0).expect("receiver alive") {
                assert_eq!(old.id, 1, "replace returned its own value");
                tally.replaced(old);
            }
            tally
        });
        let b = thread::spawn(move || tx_b.send(v1).expect("receiver alive"));
        let mut tally = Tally::default();
        if let Ok(v) = rx.try_recv() {
            tally.recv(v);
        }
        tally.absorb(a.join().unwrap());
        b.join().unwrap();
        if let Ok(v) = rx.try_recv() {
            tally.recv(v);
        }
        assert!(!tally.received.is_empty(), "the later value was lost");
        tally.assert_accounts_for(2, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// The last sender's `replace` then drop ∥ `recv` loop: the value is
/// delivered before `Disconnected`.
#[test]
fn replace_then_last_sender_drop_delivers_value_first() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            assert!(tx.replace(v0).expect("receiver alive").is_none());
        });
        let mut tally = Tally::default();
        while let Ok(v) = rx.recv() {
            tally.recv(v);
        }
        t.join().unwrap();
        assert_eq!(tally.received, [0]);
        assert!(rx.try_recv().unwrap_err().is_disconnected());
        tally.assert_accounts_for(1, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}
