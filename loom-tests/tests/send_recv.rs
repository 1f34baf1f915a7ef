//! Loom models of `send` racing the receive calls while every handle stays
//! alive: no lost wake-up, the latest value wins, exactly-once drops.
#![cfg(loom)]

mod helpers;

use helpers::{DropLog, Tally};
use loom::thread;

/// A blocked `recv` must wake for a `send` that races its parking.
#[test]
fn send_wakes_blocking_recv() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || tx.send(v0).is_ok());
        let got = rx.recv().expect("the sender is alive until it has sent");
        assert_eq!(got.id, 0);
        assert!(t.join().unwrap(), "send failed with the receiver alive");
        assert_eq!(rx.overwritten(), 0);
        let mut tally = Tally::default();
        tally.recv(got);
        tally.assert_accounts_for(1, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// Two senders race a `try_recv`; after they are joined the slot holds the
/// value of the send that took effect last. Sender A sends 0 then 1, so 0 is
/// never the last value and is never received after 1.
#[test]
fn two_senders_try_recv_keeps_later_send() {
    loom::model(|| {
        let log = DropLog::new(3);
        let (tx_a, rx) = conflate::channel();
        let tx_b = tx_a.clone();
        let (v0, v1, v2) = (log.val(0), log.val(1), log.val(2));
        let a = thread::spawn(move || {
            tx_a.send(v0).unwrap();
            tx_a.send(v1).unwrap();
            tx_a
        });
        let b = thread::spawn(move || {
            tx_b.send(v2).unwrap();
            tx_b
        });

        let mut tally = Tally::default();
        if let Ok(v) = rx.try_recv() {
            tally.recv(v);
        }
        let tx_a = a.join().unwrap();
        let tx_b = b.join().unwrap();
        // Every send has returned: the slot holds the last one unless the
        // racing try_recv already took it.
        match rx.try_recv() {
            Ok(v) => tally.recv(v),
            Err(e) => assert!(e.is_empty(), "{e:?} with senders alive"),
        }
        assert!(rx.try_recv().unwrap_err().is_empty());

        let last = *tally.received.last().expect("nothing received");
        assert_ne!(last, 0, "0 was overwritten by 1 on its own thread");
        assert_ne!(tally.received, [1, 0], "0 received after 1");
        tally.assert_accounts_for(3, rx.overwritten());
        drop((tx_a, tx_b, rx));
        log.assert_each_dropped_once();
    });
}

/// Two senders race a blocking `recv`: it wakes with one of the values, and
/// after the joins whatever else is left is the later send's value.
#[test]
fn two_senders_blocking_recv() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx_a, rx) = conflate::channel();
        let tx_b = tx_a.clone();
        let (v0, v1) = (log.val(0), log.val(1));
        let a = thread::spawn(move || tx_a.send(v0).unwrap());
        let b = thread::spawn(move || tx_b.send(v1).unwrap());

        let mut tally = Tally::default();
        tally.recv(rx.recv().expect("senders alive"));
        a.join().unwrap();
        b.join().unwrap();
        if let Ok(v) = rx.try_recv() {
            tally.recv(v);
        }
        assert!(rx.is_empty());
        tally.assert_accounts_for(2, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// A value left in the slot when every handle is gone is dropped with the
/// channel, exactly once, whichever handle goes last.
#[test]
fn unreceived_value_dropped_with_channel() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx, rx) = conflate::channel();
        let (v0, v1) = (log.val(0), log.val(1));
        let t = thread::spawn(move || tx.send(v0).is_ok() && tx.send(v1).is_ok());
        let overwritten = rx.overwritten();
        assert!(overwritten <= 1);
        drop(rx);
        let _ = t.join().unwrap();
        log.assert_each_dropped_once();
    });
}

/// `is_empty` and `try_recv` agree: once `is_empty` says a value waits, the
/// next `try_recv` returns it (senders alive, one consumer).
#[test]
fn is_empty_then_try_recv_agree() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            tx
        });
        let empty = rx.is_empty();
        let first = rx.try_recv();
        if !empty {
            assert!(first.is_ok(), "is_empty was false, then {first:?}");
        }
        let tx = t.join().unwrap();
        let mut tally = Tally::default();
        match first {
            Ok(v) => tally.recv(v),
            Err(e) => {
                assert!(e.is_empty());
                tally.recv(rx.try_recv().expect("send returned before this"));
            }
        }
        assert!(rx.is_empty());
        assert!(!rx.is_disconnected());
        assert_eq!(tally.received, [0]);
        tally.assert_accounts_for(1, rx.overwritten());
        drop(tx);
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// `try_iter` ∥ a sender sending twice: it yields values in send order
/// without blocking, and what it leaves is the latest value.
#[test]
fn try_iter_races_two_sends() {
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
        for v in rx.try_iter() {
            tally.recv(v);
        }
        let tx = t.join().unwrap();
        for v in rx.try_iter() {
            tally.recv(v);
        }
        assert_eq!(tally.received.last(), Some(&1), "the latest value was lost");
        assert!(tally.received == [0, 1] || tally.received == [1]);
        tally.assert_accounts_for(2, rx.overwritten());
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

/// A `recv` loop following three sends: the receiver registers, is claimed
/// and registers again, so each wake must find the waiter cell free for the
/// next registration. It ends with the last value, in send order.
#[test]
fn recv_loop_follows_three_sends() {
    loom::model(|| {
        let log = DropLog::new(3);
        let (tx, rx) = conflate::channel();
        let vals = [log.val(0), log.val(1), log.val(2)];
        let t = thread::spawn(move || {
            for v in vals {
                tx.send(v).unwrap();
            }
            tx
        });
        let mut tally = Tally::default();
        while tally.received.last() != Some(&2) {
            tally.recv(rx.recv().expect("sender alive"));
        }
        let tx = t.join().unwrap();
        assert!(
            tally.received.is_sorted() && tally.received.len() <= 3,
            "out of order: {:?}",
            tally.received
        );
        tally.assert_accounts_for(3, rx.overwritten());
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

/// The receiver's used node comes back to the senders through the slot
/// (tagged as a spare) and is written again: the receiver's read of the old
/// value must happen before that write. With loom's two-node arena the
/// set-up below makes the third concurrent send write into the node whose
/// value the receiver's first concurrent `try_recv` read.
#[test]
fn handed_back_node_is_written_only_after_the_receivers_read() {
    loom::model(|| {
        let (tx, rx) = conflate::channel::<u64>();
        // Sequential set-up: the receiver holds node A, node B has value 1.
        tx.send(0).unwrap();
        assert_eq!(rx.try_recv(), Ok(0));
        tx.send(1).unwrap();
        let t = thread::spawn(move || {
            for v in 2..5 {
                tx.send(v).unwrap();
            }
        });
        let mut last = 0;
        for _ in 0..2 {
            if let Ok(v) = rx.try_recv() {
                assert!(v > last, "values arrive in order");
                last = v;
            }
        }
        t.join().unwrap();
        let rest = rx.try_recv().ok();
        assert!(last == 4 || rest == Some(4), "the last value is delivered");
    });
}
