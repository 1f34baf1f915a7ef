//! Loom models of the last `Sender` going away while the receiver works:
//! a waiting value is delivered before `Disconnected`, every blocked receive
//! wakes, and disconnection is never reported while a value waits.
#![cfg(loom)]

mod helpers;

use conflate::{RecvError, TryRecvError};
use helpers::{DropLog, Tally};
use loom::thread;

/// Receives with `recv` until it reports disconnection, recording each value.
fn recv_until_disconnected(rx: &conflate::Receiver<helpers::Val>, tally: &mut Tally) {
    while let Ok(v) = rx.recv() {
        tally.recv(v);
    }
}

/// Every receive after the first `Disconnected` reports it at once.
fn assert_stays_disconnected(rx: &conflate::Receiver<helpers::Val>) {
    assert!(rx.is_disconnected());
    assert!(rx.is_empty());
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Disconnected);
    assert_eq!(rx.recv().unwrap_err(), RecvError);
}

/// Dropping the only sender wakes a `recv` blocked on an empty channel.
#[test]
fn last_sender_drop_wakes_parked_recv() {
    loom::model(|| {
        let (tx, rx) = conflate::channel::<helpers::Val>();
        let t = thread::spawn(move || drop(tx));
        assert_eq!(rx.recv().unwrap_err(), RecvError);
        t.join().unwrap();
        assert_stays_disconnected(&rx);
        assert_eq!(rx.overwritten(), 0);
    });
}

/// Send, then drop the only sender, racing a `recv` loop: the value comes
/// out, then `Disconnected`.
#[test]
fn send_then_last_sender_drop_delivers_value_first() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            drop(tx);
        });
        let mut tally = Tally::default();
        recv_until_disconnected(&rx, &mut tally);
        t.join().unwrap();
        assert_eq!(tally.received, [0], "the value sent before close was lost");
        assert_stays_disconnected(&rx);
        tally.assert_accounts_for(1, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// Two senders each send, then drop, racing a `recv` loop: the value of the
/// send that took effect last is never lost, so every value is either
/// received or counted as overwritten.
#[test]
fn two_senders_send_then_drop_last_value_never_lost() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx_a, rx) = conflate::channel();
        let tx_b = tx_a.clone();
        let (v0, v1) = (log.val(0), log.val(1));
        let a = thread::spawn(move || {
            tx_a.send(v0).unwrap();
            drop(tx_a);
        });
        let b = thread::spawn(move || {
            tx_b.send(v1).unwrap();
            drop(tx_b);
        });
        let mut tally = Tally::default();
        recv_until_disconnected(&rx, &mut tally);
        a.join().unwrap();
        b.join().unwrap();
        assert!(!tally.received.is_empty(), "the last value was lost");
        assert_stays_disconnected(&rx);
        // A `Disconnected` reported while a value waited would leave that
        // value uncounted here: neither received nor overwritten.
        tally.assert_accounts_for(2, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// `recv` parked while one sender clone is dropped and the other sends and
/// then drops: the value is delivered, then `Disconnected`.
#[test]
fn clone_drop_races_send_then_last_drop() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx_a, rx) = conflate::channel();
        let tx_b = tx_a.clone();
        let v0 = log.val(0);
        let a = thread::spawn(move || drop(tx_a));
        let b = thread::spawn(move || {
            tx_b.send(v0).unwrap();
            drop(tx_b);
        });
        let mut tally = Tally::default();
        recv_until_disconnected(&rx, &mut tally);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(tally.received, [0]);
        assert_stays_disconnected(&rx);
        tally.assert_accounts_for(1, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// A clone is dropped while another sender sends and stays alive: a racing
/// `recv` must not report `Disconnected`, and gets the value.
#[test]
fn clone_drop_is_not_disconnection() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx_a, rx) = conflate::channel();
        let tx_b = tx_a.clone();
        let v0 = log.val(0);
        let a = thread::spawn(move || drop(tx_a));
        let b = thread::spawn(move || {
            tx_b.send(v0).unwrap();
            tx_b
        });
        let mut tally = Tally::default();
        tally.recv(rx.recv().expect("a sender is still alive"));
        a.join().unwrap();
        let tx_b = b.join().unwrap();
        assert!(!rx.is_disconnected());
        assert!(!tx_b.is_disconnected());
        assert!(rx.try_recv().unwrap_err().is_empty());
        assert_eq!(tally.received, [0]);
        tally.assert_accounts_for(1, rx.overwritten());
        drop(tx_b);
        assert_stays_disconnected(&rx);
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// `iter()` over a sender that sends twice and drops: it yields the latest
/// values in order and ends only after the last one.
#[test]
fn iter_ends_after_last_value() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx, rx) = conflate::channel();
        let (v0, v1) = (log.val(0), log.val(1));
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            tx.send(v1).unwrap();
        });
        let mut tally = Tally::default();
        for v in rx.iter() {
            tally.recv(v);
        }
        t.join().unwrap();
        assert!(
            tally.received == [0, 1] || tally.received == [1],
            "iter yielded {:?}",
            tally.received
        );
        assert_stays_disconnected(&rx);
        tally.assert_accounts_for(2, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// `is_disconnected` and `try_recv` agree: once the receiver sees the last
/// sender gone, the value sent before the drop is still there to take.
#[test]
fn is_disconnected_implies_value_still_there() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            drop(tx);
        });
        let disconnected = rx.is_disconnected();
        let empty = rx.is_empty();
        let first = rx.try_recv();
        if disconnected {
            assert!(!empty, "disconnected but the value sent first is missing");
            assert!(first.is_ok(), "disconnected, then {first:?}");
        }
        if !empty {
            assert!(first.is_ok(), "not empty, then {first:?}");
        }
        t.join().unwrap();
        let mut tally = Tally::default();
        match first {
            Ok(v) => tally.recv(v),
            Err(e) => {
                assert!(e.is_empty(), "{e:?} before the value was taken");
                tally.recv(rx.try_recv().expect("sent before the join"));
            }
        }
        assert_stays_disconnected(&rx);
        tally.assert_accounts_for(1, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// `into_iter()` ∥ two senders that each send and drop: it ends only after
/// the value of the send that took effect last.
#[test]
fn into_iter_ends_after_last_value_of_two_senders() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx_a, rx) = conflate::channel();
        let tx_b = tx_a.clone();
        let (v0, v1) = (log.val(0), log.val(1));
        let a = thread::spawn(move || tx_a.send(v0).unwrap());
        let b = thread::spawn(move || tx_b.send(v1).unwrap());
        let mut tally = Tally::default();
        let mut iter = rx.into_iter();
        for v in &mut iter {
            tally.recv(v);
        }
        a.join().unwrap();
        b.join().unwrap();
        assert!(iter.next().is_none(), "the iterator resumed after ending");
        assert!(!tally.received.is_empty(), "the last value was lost");
        let received = tally.received.len();
        // The receiver is inside the iterator, so overwritten() cannot be
        // read; each value is received or was displaced and dropped.
        drop(iter);
        assert!(received <= 2);
        log.assert_each_dropped_once();
    });
}

/// Three senders: two send then drop, one only drops, racing a `recv` loop.
/// Whichever drop is last closes the channel, after every send, so the
/// value of the send that took effect last is delivered before
/// `Disconnected`.
#[test]
fn three_senders_two_send_one_drops_recv_loop() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx_a, rx) = conflate::channel();
        let (tx_b, tx_c) = (tx_a.clone(), tx_a.clone());
        let (v0, v1) = (log.val(0), log.val(1));
        let a = thread::spawn(move || tx_a.send(v0).unwrap());
        let b = thread::spawn(move || tx_b.send(v1).unwrap());
        let c = thread::spawn(move || drop(tx_c));
        let mut tally = Tally::default();
        recv_until_disconnected(&rx, &mut tally);
        a.join().unwrap();
        b.join().unwrap();
        c.join().unwrap();
        assert!(!tally.received.is_empty(), "the last value was lost");
        assert_stays_disconnected(&rx);
        tally.assert_accounts_for(2, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}
