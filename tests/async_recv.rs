//! `recv_async`: works with any executor through `std::task::Waker` (API.md
//! rule 8), driven here by hand with a counting waker and by a minimal
//! `block_on`.

mod helpers;

use std::task::Poll;

use conflate::{RecvError, RecvFuture, channel};
use helpers::{CountingWaker, block_on, poll_once, waker_of, within_limit};

fn assert_send<T: Send>(_: &T) {}

#[test]
fn ready_at_once_when_a_value_waits() {
    let (tx, mut rx) = channel::<u32>();
    tx.send(1).unwrap();
    let counter = CountingWaker::new();
    let mut fut = rx.recv_async();
    assert_eq!(poll_once(&mut fut, &waker_of(&counter)), Poll::Ready(Ok(1)));
    assert_eq!(counter.count(), 0);
}

#[test]
fn pending_then_woken_by_send() {
    let (tx, mut rx) = channel::<u32>();
    let counter = CountingWaker::new();
    let waker = waker_of(&counter);
    let mut fut = rx.recv_async();
    assert!(poll_once(&mut fut, &waker).is_pending());
    // Polling again with nothing sent stays pending and does not wake.
    assert!(poll_once(&mut fut, &waker).is_pending());
    assert_eq!(counter.count(), 0);
    tx.send(7).unwrap();
    assert!(counter.count() >= 1, "send did not wake the pending future");
    assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Ok(7)));
}

#[test]
fn one_send_wakes_a_pending_future_once() {
    let (tx, mut rx) = channel::<u32>();
    let counter = CountingWaker::new();
    let waker = waker_of(&counter);
    let mut fut = rx.recv_async();
    assert!(poll_once(&mut fut, &waker).is_pending());
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    // The registered waker is consumed by the first send; the second finds
    // none (the value is overwritten, and one wake is enough to see it).
    assert_eq!(counter.count(), 1);
    assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Ok(2)));
}

#[test]
fn disconnect_wakes_and_ends_the_future() {
    let (tx, mut rx) = channel::<u32>();
    let counter = CountingWaker::new();
    let waker = waker_of(&counter);
    let mut fut = rx.recv_async();
    assert!(poll_once(&mut fut, &waker).is_pending());
    let tx2 = tx.clone();
    drop(tx);
    assert_eq!(counter.count(), 0, "a sender is still alive");
    assert!(poll_once(&mut fut, &waker).is_pending());
    drop(tx2);
    assert!(counter.count() >= 1);
    assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Err(RecvError)));
}

/// A future polled again after `Ready` starts a fresh receive.
#[test]
fn polled_after_completion_starts_again() {
    let (tx, mut rx) = channel::<u32>();
    let counter = CountingWaker::new();
    let waker = waker_of(&counter);
    let mut fut = rx.recv_async();
    tx.send(1).unwrap();
    assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Ok(1)));
    assert!(
        poll_once(&mut fut, &waker).is_pending(),
        "nothing new was sent"
    );
    tx.send(2).unwrap();
    assert!(counter.count() >= 1);
    assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Ok(2)));
    tx.send(3).unwrap();
    assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Ok(3)));
    drop(tx);
    assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Err(RecvError)));
    assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Err(RecvError)));
}

/// The last waker passed to `poll` is the one woken.
#[test]
fn last_waker_wins() {
    let (tx, mut rx) = channel::<u32>();
    let first = CountingWaker::new();
    let second = CountingWaker::new();
    let mut fut = rx.recv_async();
    assert!(poll_once(&mut fut, &waker_of(&first)).is_pending());
    assert!(poll_once(&mut fut, &waker_of(&second)).is_pending());
    tx.send(1).unwrap();
    assert_eq!(first.count(), 0, "the replaced waker was woken");
    assert_eq!(second.count(), 1);
    assert_eq!(poll_once(&mut fut, &waker_of(&second)), Poll::Ready(Ok(1)));

    // And back again, on the same future after completion.
    assert!(poll_once(&mut fut, &waker_of(&second)).is_pending());
    assert!(poll_once(&mut fut, &waker_of(&first)).is_pending());
    drop(tx);
    assert_eq!(first.count(), 1);
    assert_eq!(second.count(), 1);
    assert_eq!(
        poll_once(&mut fut, &waker_of(&first)),
        Poll::Ready(Err(RecvError))
    );
}

#[test]
fn dropping_a_pending_future_unregisters_its_waker() {
    let (tx, mut rx) = channel::<u32>();
    let counter = CountingWaker::new();
    let mut fut = rx.recv_async();
    assert!(poll_once(&mut fut, &waker_of(&counter)).is_pending());
    drop(fut);
    tx.send(1).unwrap();
    drop(tx);
    assert_eq!(counter.count(), 0);
    assert_eq!(rx.try_recv(), Ok(1));
}

#[test]
fn future_is_send_and_runs_on_another_thread() {
    let (tx, mut rx) = channel::<String>();
    let fut: RecvFuture<'_, String> = rx.recv_async();
    assert_send(&fut);
    drop(fut);
    let _watchdog = helpers::Watchdog::start("async hand-off");
    let rounds = helpers::scaled(1_000, 10);
    let (ack_tx, ack_rx) = channel::<usize>();
    // `move`: a failed assertion drops `tx`, which ends the consumer.
    std::thread::scope(move |s| {
        let consumer = within_limit(s, "async consumer", move || {
            let mut n = 0;
            while let Ok(v) = block_on(rx.recv_async()) {
                assert_eq!(v, n.to_string());
                ack_tx.send(n).unwrap();
                n += 1;
            }
            n
        });
        for i in 0..rounds {
            tx.send(i.to_string()).unwrap();
            assert_eq!(ack_rx.recv(), Ok(i));
        }
        drop(tx);
        assert_eq!(consumer.join(), rounds);
    });
}

/// The future is moved to another thread after being registered there from
/// this one; the send happens on a third thread.
#[test]
fn future_moves_between_threads_while_pending() {
    let rounds = helpers::scaled(200, 3);
    for i in 0..rounds {
        let (tx, mut rx) = channel::<usize>();
        let counter = CountingWaker::new();
        let mut fut = rx.recv_async();
        assert!(poll_once(&mut fut, &waker_of(&counter)).is_pending());
        std::thread::scope(|s| {
            let sender = s.spawn(move || tx.send(i).unwrap());
            let poller = within_limit(s, "poller", move || block_on(fut));
            sender.join().unwrap();
            assert_eq!(poller.join(), Ok(i));
        });
        // The first waker might have been the one woken, or the poller's.
        assert!(counter.count() <= 1);
    }
}

/// Producers race a task that keeps receiving with `block_on`: no wake-up is
/// lost, and the final value is received before `RecvError`.
#[test]
fn racing_producers_and_async_consumer() {
    let per_producer = helpers::scaled(10_000, 100);
    let (tx, mut rx) = channel::<(usize, usize)>();
    std::thread::scope(|s| {
        for p in 0..2 {
            let tx = tx.clone();
            s.spawn(move || {
                for i in 0..per_producer {
                    tx.send((p, i)).unwrap();
                }
            });
        }
        drop(tx);
        let consumer = within_limit(s, "async consumer", move || {
            let mut last = [None::<usize>; 2];
            let mut got = 0u64;
            while let Ok((p, i)) = block_on(rx.recv_async()) {
                assert!(last[p].is_none_or(|prev| prev < i));
                last[p] = Some(i);
                got += 1;
            }
            (last, got, rx.overwritten())
        });
        let (last, got, overwritten) = consumer.join();
        assert!(last.contains(&Some(per_producer - 1)), "{last:?}");
        assert_eq!(got + overwritten, 2 * per_producer as u64);
    });
}
