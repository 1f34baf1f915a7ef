//! Loom models of `overwritten()` (API.md rule 7) under races: it never
//! decreases, never runs ahead of the displacements that happened, and
//! counts every displacement made by a call that has returned.
#![cfg(loom)]

mod helpers;

use helpers::{DropLog, Tally};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// A sender sends twice and publishes after each send how many of its sends
/// have returned; the receiver reads that, then `overwritten()`. With no
/// receive in between, two returned sends mean one displacement counted.
#[test]
fn overwritten_counts_displacements_of_returned_sends() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx, rx) = conflate::channel();
        let returned = Arc::new(AtomicUsize::new(0));
        let (v0, v1) = (log.val(0), log.val(1));
        let t = {
            let returned = Arc::clone(&returned);
            thread::spawn(move || {
                tx.send(v0).unwrap();
                returned.store(1, Ordering::Release);
                tx.send(v1).unwrap();
                returned.store(2, Ordering::Release);
                tx
            })
        };
        let seen = returned.load(Ordering::Acquire);
        let first = rx.overwritten();
        let second = rx.overwritten();
        assert!(first <= second, "overwritten went from {first} to {second}");
        assert!(second <= 1, "counted {second} displacements of two sends");
        if seen == 2 {
            assert_eq!(first, 1, "the second send returned but was not counted");
        }
        let tx = t.join().unwrap();
        assert_eq!(rx.overwritten(), 1);
        let mut tally = Tally::default();
        tally.recv(rx.try_recv().expect("sender alive"));
        assert_eq!(tally.received, [1]);
        tally.assert_accounts_for(2, rx.overwritten());
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

/// `overwritten()` ∥ send ∥ send ∥ `try_recv`: the count seen mid-race is
/// monotone and at most the final one, which matches what was received.
#[test]
fn overwritten_monotone_under_two_senders_and_try_recv() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx_a, rx) = conflate::channel();
        let tx_b = tx_a.clone();
        let (v0, v1) = (log.val(0), log.val(1));
        let a = thread::spawn(move || tx_a.send(v0).unwrap());
        let b = thread::spawn(move || tx_b.send(v1).unwrap());
        let mut tally = Tally::default();
        let before = rx.overwritten();
        if let Ok(v) = rx.try_recv() {
            tally.recv(v);
        }
        let after = rx.overwritten();
        assert!(before <= after, "overwritten went from {before} to {after}");
        a.join().unwrap();
        b.join().unwrap();
        let last = rx.overwritten();
        assert!(after <= last, "overwritten went from {after} to {last}");
        if let Ok(v) = rx.try_recv() {
            tally.recv(v);
        }
        tally.assert_accounts_for(2, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}
