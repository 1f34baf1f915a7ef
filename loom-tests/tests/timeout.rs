//! Loom models of `recv_timeout`/`recv_deadline` racing sends and closes.
//!
//! Under loom a timed park is a yield, so the timeout is a wake that may
//! come at any point: `Timeout` is always a possible answer, and the models
//! check that a value racing it is then still in the slot.
#![cfg(loom)]

mod helpers;

use std::time::{Duration, Instant};

use conflate::RecvTimeoutError;
use helpers::{DropLog, Tally};
use loom::thread;

/// The timeout of the blocking models. Under loom the crate's timed park
/// is a yield that reports the deadline as passed, so this value never makes
/// a model wait; it only has to be far enough away that the crate's own
/// clock checks (`Instant::now() >= deadline`) never fire during a run,
/// which keeps every explored path deterministic. `Duration::ZERO` (the
/// non-blocking try) has its own model.
const WAIT: Duration = Duration::from_secs(60);

/// `recv_timeout` ∥ `send`: the value is returned, or it is still there for
/// the next `try_recv`.
#[test]
fn recv_timeout_races_send_value_not_lost() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            tx
        });
        let first = rx.recv_timeout(WAIT);
        let tx = t.join().unwrap();
        let mut tally = Tally::default();
        match first {
            Ok(v) => tally.recv(v),
            Err(e) => {
                assert_eq!(e, RecvTimeoutError::Timeout);
                tally.recv(rx.try_recv().expect("timed-out value must stay"));
            }
        }
        assert_eq!(tally.received, [0]);
        tally.assert_accounts_for(1, rx.overwritten());
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

/// `recv_deadline` ∥ `send` then last sender drop: `Disconnected` is never
/// reported before the value, and a `Timeout` leaves the value waiting.
#[test]
fn recv_deadline_races_send_then_close() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            drop(tx);
        });
        let first = rx.recv_deadline(Instant::now() + WAIT);
        t.join().unwrap();
        let mut tally = Tally::default();
        match first {
            Ok(v) => tally.recv(v),
            Err(e) => {
                assert_eq!(e, RecvTimeoutError::Timeout, "closed before the value");
                tally.recv(rx.try_recv().expect("timed-out value must stay"));
            }
        }
        assert_eq!(
            rx.recv_timeout(WAIT).unwrap_err(),
            RecvTimeoutError::Disconnected
        );
        assert_eq!(tally.received, [0]);
        tally.assert_accounts_for(1, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// A zero timeout is a non-blocking try: it never parks, so it needs no wake
/// and can never deadlock, and a miss leaves the racing value in the slot.
#[test]
fn zero_timeout_races_send() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            tx
        });
        let first = rx.recv_timeout(Duration::ZERO);
        let tx = t.join().unwrap();
        let mut tally = Tally::default();
        match first {
            Ok(v) => tally.recv(v),
            Err(e) => {
                assert_eq!(e, RecvTimeoutError::Timeout);
                tally.recv(rx.try_recv().expect("missed value must stay"));
            }
        }
        tally.assert_accounts_for(1, rx.overwritten());
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

/// `recv_timeout` ∥ last sender drop (no value): `Disconnected` or
/// `Timeout`, and after the join it is `Disconnected` at once.
#[test]
fn recv_timeout_races_last_sender_drop() {
    loom::model(|| {
        let (tx, rx) = conflate::channel::<helpers::Val>();
        let t = thread::spawn(move || drop(tx));
        match rx.recv_timeout(WAIT) {
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            Ok(v) => panic!("received {v:?} that nobody sent"),
        }
        t.join().unwrap();
        assert_eq!(
            rx.recv_timeout(WAIT).unwrap_err(),
            RecvTimeoutError::Disconnected
        );
    });
}

/// send ∥ send ∥ `recv_timeout`: whatever the timeout returns, the later
/// send's value is there afterwards unless it was the one returned.
#[test]
fn two_senders_race_recv_timeout() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx_a, rx) = conflate::channel();
        let tx_b = tx_a.clone();
        let (v0, v1) = (log.val(0), log.val(1));
        // Joined through `spawn_joinable`: a sender may unpark this thread
        // late (see the helper), which loom's own join cannot take.
        let a = helpers::spawn_joinable(move || tx_a.send(v0).unwrap());
        let b = helpers::spawn_joinable(move || tx_b.send(v1).unwrap());
        let mut tally = Tally::default();
        match rx.recv_timeout(WAIT) {
            Ok(v) => tally.recv(v),
            Err(e) => assert_eq!(e, RecvTimeoutError::Timeout),
        }
        // Either sender may still unpark us: wait for both before joining.
        a.wait_done();
        b.wait_done();
        a.join();
        b.join();
        // Both senders are gone now: the value of the later send, if not
        // received above, comes out before `Disconnected`.
        match rx.recv_timeout(WAIT) {
            Ok(v) => tally.recv(v),
            Err(e) => assert_eq!(e, RecvTimeoutError::Disconnected),
        }
        assert_eq!(
            rx.recv_timeout(WAIT).unwrap_err(),
            RecvTimeoutError::Disconnected
        );
        assert!(
            !tally.received.is_empty(),
            "the later send's value was lost"
        );
        tally.assert_accounts_for(2, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// `recv_timeout` gives up (withdrawing its registration) while a sender
/// claims it, then a blocking `recv` registers again: it must still be woken,
/// and a second send must reach it.
#[test]
fn timeout_withdraw_races_claim_then_recv_wakes() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx, rx) = conflate::channel();
        let (v0, v1) = (log.val(0), log.val(1));
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            tx.send(v1).unwrap();
            tx
        });
        let mut tally = Tally::default();
        match rx.recv_timeout(WAIT) {
            Ok(v) => tally.recv(v),
            Err(e) => assert_eq!(e, RecvTimeoutError::Timeout),
        }
        while tally.received.last() != Some(&1) {
            tally.recv(rx.recv().expect("sender alive"));
        }
        let tx = t.join().unwrap();
        assert!(tally.received == [0, 1] || tally.received == [1]);
        tally.assert_accounts_for(2, rx.overwritten());
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}
