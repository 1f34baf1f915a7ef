//! Loom models of `Receiver::skipped` (API.md rule 11).
//!
//! Each put numbers its value with a load and a store of a counter (see
//! `Chan::number_put`), so `skipped` is exact whenever puts do not overlap:
//! one producer thread, or producers that take turns. Those models run in
//! CI. The model of two *overlapping* puts is kept, ignored, as the record
//! of what this design does not give: it fails, as the crate docs say.
//!
//! The models in CI run twice: with `Val`, whose number travels in its node
//! next to it, and with `Big`, a value of more than 56 bytes, whose number
//! an arena put writes on the slot word's line instead
//! (`Chan::seq_on_slot_line`).
#![cfg(loom)]

mod helpers;

use conflate::TryRecvError;
use helpers::{DropLog, Tally, Val};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

/// What the models send.
trait Payload: Send + std::fmt::Debug + 'static {
    fn wrap(v: Val) -> Self;
    fn val(&self) -> &Val;
    fn into_val(self) -> Val;
}

impl Payload for Val {
    fn wrap(v: Val) -> Self {
        v
    }
    fn val(&self) -> &Val {
        self
    }
    fn into_val(self) -> Val {
        self
    }
}

/// A `Val` padded to more than 56 bytes.
#[derive(Debug)]
struct Big(Val, [u64; 8]);

const _: () = assert!(std::mem::size_of::<Big>() > 56);

impl Payload for Big {
    fn wrap(v: Val) -> Self {
        let id = v.id as u64;
        Big(v, [id; 8])
    }
    fn val(&self) -> &Val {
        assert_eq!(self.1, [self.0.id as u64; 8], "a torn or mixed value");
        &self.0
    }
    fn into_val(self) -> Val {
        self.val();
        self.0
    }
}

#[test]
fn one_producer_skipped_is_exact() {
    loom::model(one_producer::<Val>);
}

#[test]
fn one_producer_skipped_is_exact_large_value() {
    loom::model(one_producer::<Big>);
}

/// Model 7: one producer, three sends ∥ a receiver loop. For every value
/// `v` received right after `u`, `skipped() == v - u - 1` (and the first
/// value's `skipped()` counts every value before it); at the end the sum
/// of `skipped()` plus the displacements since the last receive equals
/// `overwritten()`.
fn one_producer<P: Payload>() {
    let log = DropLog::new(3);
    let (tx, rx) = conflate::channel::<P>();
    let vals: Vec<P> = (0..3).map(|id| P::wrap(log.val(id))).collect();
    let t = thread::spawn(move || {
        for v in vals {
            tx.send(v).unwrap();
        }
        tx
    });
    assert_eq!(rx.skipped(), 0, "0 before the first value");
    let mut seen: Vec<(usize, u64)> = Vec::new();
    let mut tally = Tally::default();
    // Receive until the last value (id 2) arrives; it always does.
    loop {
        let v = rx.recv().expect("the sender is alive until joined");
        let id = v.val().id;
        seen.push((id, rx.skipped()));
        tally.recv(v.into_val());
        if id == 2 {
            break;
        }
    }
    let tx = t.join().unwrap();
    let mut previous: Option<usize> = None;
    for &(id, skipped) in &seen {
        let expected = match previous {
            None => id as u64,
            Some(u) => (id - u - 1) as u64,
        };
        assert_eq!(skipped, expected, "received {seen:?}");
        previous = Some(id);
    }
    // Nothing was displaced after the last receive (id 2 was the last
    // put), so the sum equals `overwritten()`.
    let sum: u64 = seen.iter().map(|&(_, s)| s).sum();
    assert_eq!(sum, rx.overwritten(), "received {seen:?}");
    // An error leaves `skipped()` as it was.
    let before = rx.skipped();
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(rx.skipped(), before);
    tally.assert_accounts_for(3, rx.overwritten());
    drop((tx, rx));
    log.assert_each_dropped_once();
}

/// Two sends from two threads that take turns (the second starts after the
/// first returned) ∥ a receive: `skipped()` equals the displacements that
/// precede each take in that execution, as `replace` reports them.
#[test]
fn turn_taking_producers_skipped_is_exact() {
    loom::model(|| racing_replaces::<Val>(true));
}

#[test]
fn turn_taking_producers_skipped_is_exact_large_value() {
    loom::model(|| racing_replaces::<Big>(true));
}

/// Model 6 as issue #10 states it: two sends from two threads that may
/// overlap ∥ a receive. This design does not pass it: when both puts load
/// the counter before either stores, they share a number, and the take of
/// the second (which displaced the first) reports 0 instead of 1. Exactness
/// here would need a sender to wait for another, or a compare-exchange
/// publish retried until it wins (lock-free, not wait-free; see the crate
/// docs); kept as the record, run with `--ignored`.
#[test]
#[ignore = "fails by design: overlapping puts can share a sequence number (see the crate docs)"]
fn overlapping_producers_skipped_is_exact() {
    loom::model(|| racing_replaces::<Val>(false));
}

/// Two `replace`s from two threads (in turn if `turns`) ∥ one `try_recv`,
/// then a drain. For each value taken, the displacements since the previous
/// take are exactly those its own `replace` made: a value displaced by it
/// was put after the previous take (else that take would have taken it).
fn racing_replaces<P: Payload>(turns: bool) {
    let log = DropLog::new(2);
    let (tx, rx) = conflate::channel::<P>();
    let first_done = Arc::new(AtomicBool::new(false));
    let (v0, v1) = (P::wrap(log.val(0)), P::wrap(log.val(1)));
    let tx_a = tx.clone();
    let done = first_done.clone();
    let a = thread::spawn(move || {
        let displaced = tx_a.replace(v0).unwrap();
        // ORDERING: Release: the second producer's turn starts after this.
        done.store(true, Ordering::Release);
        displaced
    });
    let b = thread::spawn(move || {
        if turns {
            // ORDERING: Acquire: pairs with the first producer's store.
            while !first_done.load(Ordering::Acquire) {
                thread::yield_now();
            }
        }
        tx.replace(v1).unwrap()
    });
    let mut takes: Vec<(usize, u64)> = Vec::new();
    let mut tally = Tally::default();
    if let Ok(v) = rx.try_recv() {
        takes.push((v.val().id, rx.skipped()));
        tally.recv(v.into_val());
    }
    let displaced = [a.join().unwrap(), b.join().unwrap()];
    let made: [bool; 2] = [displaced[0].is_some(), displaced[1].is_some()];
    for v in displaced.into_iter().flatten() {
        tally.replaced(v.into_val());
    }
    while let Ok(v) = rx.try_recv() {
        takes.push((v.val().id, rx.skipped()));
        tally.recv(v.into_val());
    }
    for &(id, skipped) in &takes {
        assert_eq!(
            skipped,
            u64::from(made[id]),
            "takes {takes:?}, displacements made by puts 0 and 1: {made:?}"
        );
    }
    tally.assert_accounts_for(2, rx.overwritten());
    drop(rx);
    log.assert_each_dropped_once();
}
