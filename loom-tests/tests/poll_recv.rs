//! Loom models of `Receiver::poll_recv` (API.md rule 13): a poll with a
//! new waker replaces the registration of the poll before, so a racing
//! send wakes the newest waker, never a stale one.
#![cfg(loom)]

mod helpers;

use std::task::{Context, Poll};

use helpers::{CountWaker, DropLog, Tally};
use loom::thread;

/// Two polls with two wakers ∥ a send. If the second poll is `Pending`,
/// the send wakes the second waker (once) and not the first; if a poll is
/// `Ready`, it has the value. Either way the value is taken exactly once.
#[test]
fn poll_recv_with_changing_waker_wakes_newest() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx, mut rx) = conflate::channel();
        let v0 = log.val(0);
        let t = thread::spawn(move || {
            tx.send(v0).unwrap();
            tx
        });
        let (first_wakes, first) = CountWaker::new();
        let (second_wakes, second) = CountWaker::new();
        let mut tally = Tally::default();
        let mut pending_second = false;
        match rx.poll_recv(&mut Context::from_waker(&first)) {
            Poll::Ready(v) => tally.recv(v.expect("sender alive")),
            Poll::Pending => match rx.poll_recv(&mut Context::from_waker(&second)) {
                Poll::Ready(v) => tally.recv(v.expect("sender alive")),
                Poll::Pending => pending_second = true,
            },
        }
        let tx = t.join().unwrap();
        if pending_second {
            assert_eq!(second_wakes.wakes(), 1, "the newest waker is woken");
            assert_eq!(first_wakes.wakes(), 0, "a replaced waker is not");
            let Poll::Ready(v) = rx.poll_recv(&mut Context::from_waker(&second)) else {
                panic!("woken, so the value is there");
            };
            tally.recv(v.expect("sender alive"));
        } else {
            assert_eq!(second_wakes.wakes(), 0, "never registered, never woken");
        }
        assert_eq!(tally.received, [0]);
        tally.assert_accounts_for(1, rx.overwritten());
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

/// `poll_recv` ∥ the last sender's drop: `Pending` is followed by a wake,
/// then `Ready(Err)` on every later poll.
#[test]
fn poll_recv_woken_by_close() {
    loom::model(|| {
        let (tx, mut rx) = conflate::channel::<helpers::Val>();
        let t = thread::spawn(move || drop(tx));
        let (wakes, waker) = CountWaker::new();
        let mut cx = Context::from_waker(&waker);
        let first = rx.poll_recv(&mut cx);
        t.join().unwrap();
        if first.is_pending() {
            assert_eq!(wakes.wakes(), 1, "the close wakes the pending poll");
        }
        assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(Err(_))));
        assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(Err(_))));
    });
}
