//! Loom models of `recv_async` racing sends and closes: driven by
//! `loom::future::block_on` (whose waker loom sees), or polled by hand with a
//! counting waker to check who gets woken.
#![cfg(loom)]

mod helpers;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use conflate::RecvError;
use helpers::{CountWaker, DropLog, Tally, Val};
use loom::future::block_on;
use loom::thread;

/// Polls `fut` once with `waker`.
fn poll_once<F: Future>(fut: Pin<&mut F>, waker: &std::task::Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// A pending `recv_async` is woken by a racing `send`.
#[test]
fn send_wakes_recv_async() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, mut rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            tx
        });
        let got = block_on(rx.recv_async()).expect("sender alive");
        let tx = t.join().unwrap();
        let mut tally = Tally::default();
        tally.recv(got);
        assert_eq!(tally.received, [0]);
        tally.assert_accounts_for(1, rx.overwritten());
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

/// A pending `recv_async` on an empty channel is woken by the last sender's
/// drop and reports `RecvError`.
#[test]
fn last_sender_drop_wakes_recv_async() {
    loom::model(|| {
        let (tx, mut rx) = conflate::channel::<Val>();
        let t = thread::spawn(move || drop(tx));
        assert_eq!(block_on(rx.recv_async()).unwrap_err(), RecvError);
        t.join().unwrap();
        assert_eq!(block_on(rx.recv_async()).unwrap_err(), RecvError);
        assert!(rx.is_disconnected());
    });
}

/// `recv_async` ∥ send then last sender drop: the value, then `RecvError`.
#[test]
fn recv_async_send_then_close_delivers_value_first() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, mut rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            drop(tx);
        });
        let mut tally = Tally::default();
        tally.recv(block_on(rx.recv_async()).expect("value before close"));
        assert_eq!(block_on(rx.recv_async()).unwrap_err(), RecvError);
        t.join().unwrap();
        assert_eq!(tally.received, [0]);
        tally.assert_accounts_for(1, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// A `RecvFuture` polled once and dropped while a send races: the value is
/// not lost, and a later blocking `recv` still wakes for it.
#[test]
fn dropped_recv_future_races_send_then_recv_wakes() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, mut rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            tx
        });
        let (_count, waker) = CountWaker::new();
        let mut tally = Tally::default();
        {
            let mut fut = Box::pin(rx.recv_async());
            if let Poll::Ready(got) = poll_once(fut.as_mut(), &waker) {
                tally.recv(got.expect("sender alive"));
            }
        }
        if tally.received.is_empty() {
            tally.recv(rx.recv().expect("sender alive"));
        }
        let tx = t.join().unwrap();
        assert_eq!(tally.received, [0]);
        tally.assert_accounts_for(1, rx.overwritten());
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

/// As above, but the receive after the dropped future is another
/// `recv_async`, and the sender closes after sending.
#[test]
fn dropped_recv_future_races_send_close_then_recv_async() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, mut rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            drop(tx);
        });
        let (_count, waker) = CountWaker::new();
        let mut tally = Tally::default();
        {
            let mut fut = Box::pin(rx.recv_async());
            if let Poll::Ready(got) = poll_once(fut.as_mut(), &waker) {
                tally.recv(got.expect("value before close"));
            }
        }
        if tally.received.is_empty() {
            tally.recv(block_on(rx.recv_async()).expect("value before close"));
        }
        assert_eq!(block_on(rx.recv_async()).unwrap_err(), RecvError);
        t.join().unwrap();
        assert_eq!(tally.received, [0]);
        tally.assert_accounts_for(1, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// Polling with a second waker replaces the first: if the second poll is
/// pending, the racing send must have woken the second waker by the time it
/// returns, and the next poll is ready with the value.
#[test]
fn repoll_with_new_waker_gets_the_wake() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, mut rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            tx
        });
        let (_first, waker1) = CountWaker::new();
        let (second, waker2) = CountWaker::new();
        let mut tally = Tally::default();
        let mut fut = Box::pin(rx.recv_async());
        let mut pending = true;
        for waker in [&waker1, &waker2] {
            if let Poll::Ready(got) = poll_once(fut.as_mut(), waker) {
                tally.recv(got.expect("sender alive"));
                pending = false;
                break;
            }
        }
        let tx = t.join().unwrap();
        if pending {
            assert!(
                second.wakes() >= 1,
                "pending with the second waker, but the send did not wake it"
            );
            match poll_once(fut.as_mut(), &waker2) {
                Poll::Ready(got) => tally.recv(got.expect("sender alive")),
                Poll::Pending => panic!("woken, but the value is not there"),
            }
        }
        drop(fut);
        assert_eq!(tally.received, [0]);
        tally.assert_accounts_for(1, rx.overwritten());
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

/// A `RecvFuture` polled again after `Ready` starts a fresh receive: it
/// waits for (and is woken by) the next send, not the value it returned.
#[test]
fn ready_future_polled_again_receives_next_send() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx, mut rx) = conflate::channel();
        tx.send(log.val(0)).unwrap();
        let v1 = log.val(1);
        let (count, waker) = CountWaker::new();
        let mut tally = Tally::default();
        let mut fut = Box::pin(rx.recv_async());
        match poll_once(fut.as_mut(), &waker) {
            Poll::Ready(got) => tally.recv(got.expect("sender alive")),
            Poll::Pending => panic!("a value was waiting"),
        }
        let t = thread::spawn(move || {
            tx.send(v1).unwrap();
            tx
        });
        let second = poll_once(fut.as_mut(), &waker);
        let tx = t.join().unwrap();
        match second {
            Poll::Ready(got) => tally.recv(got.expect("sender alive")),
            Poll::Pending => {
                assert!(
                    count.wakes() >= 1,
                    "the send did not wake the re-polled future"
                );
                match poll_once(fut.as_mut(), &waker) {
                    Poll::Ready(got) => tally.recv(got.expect("sender alive")),
                    Poll::Pending => panic!("woken, but the value is not there"),
                }
            }
        }
        drop(fut);
        assert_eq!(tally.received, [0, 1]);
        tally.assert_accounts_for(2, rx.overwritten());
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

/// A pending future is dropped while the last sender drops: the drop neither
/// leaks nor loses the wake of a later receive.
#[test]
fn dropped_recv_future_races_last_sender_drop() {
    loom::model(|| {
        let (tx, mut rx) = conflate::channel::<Val>();
        let t = thread::spawn(move || drop(tx));
        let (_count, waker) = CountWaker::new();
        let mut closed = false;
        {
            let mut fut = Box::pin(rx.recv_async());
            if let Poll::Ready(got) = poll_once(fut.as_mut(), &waker) {
                assert_eq!(got.unwrap_err(), RecvError);
                closed = true;
            }
        }
        if !closed {
            assert_eq!(rx.recv().unwrap_err(), RecvError);
        }
        t.join().unwrap();
        assert!(rx.is_disconnected());
    });
}

/// Two senders ∥ `recv_async`: the future wakes with one value, and the
/// later send's value is never lost.
#[test]
fn two_senders_wake_recv_async() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx_a, mut rx) = conflate::channel();
        let tx_b = tx_a.clone();
        let (v0, v1) = (log.val(0), log.val(1));
        let a = thread::spawn(move || tx_a.send(v0).unwrap());
        let b = thread::spawn(move || tx_b.send(v1).unwrap());
        let mut tally = Tally::default();
        tally.recv(block_on(rx.recv_async()).expect("a value comes before the close"));
        a.join().unwrap();
        b.join().unwrap();
        // Both senders are gone: a value still waiting comes out first.
        if let Ok(v) = block_on(rx.recv_async()) {
            tally.recv(v);
        }
        assert_eq!(block_on(rx.recv_async()).unwrap_err(), RecvError);
        tally.assert_accounts_for(2, rx.overwritten());
        drop(rx);
        log.assert_each_dropped_once();
    });
}

/// A `RecvFuture` left registered and leaked (`mem::forget`, so its drop
/// never withdraws the waker) while a send races: a later blocking `recv`
/// must take the registration back and still get the value.
#[test]
fn leaked_pending_future_then_recv_wakes() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, mut rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            tx
        });
        let (_count, waker) = CountWaker::new();
        let mut tally = Tally::default();
        {
            let mut fut = Box::pin(rx.recv_async());
            match poll_once(fut.as_mut(), &waker) {
                Poll::Ready(got) => tally.recv(got.expect("sender alive")),
                Poll::Pending => std::mem::forget(fut),
            }
        }
        if tally.received.is_empty() {
            tally.recv(rx.recv().expect("sender alive"));
        }
        let tx = t.join().unwrap();
        assert_eq!(tally.received, [0]);
        tally.assert_accounts_for(1, rx.overwritten());
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}
