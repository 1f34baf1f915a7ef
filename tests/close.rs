//! API.md rule 4: when the last `Sender` goes, a waiting value is delivered
//! first, then every receive reports `Disconnected` at once, and a receiver
//! blocked in any kind of receive wakes up.

mod helpers;

use std::task::Poll;
use std::time::{Duration, Instant};

use conflate::{RecvError, RecvTimeoutError, TryRecvError, channel};
use helpers::{CountingWaker, block_on, poll_once, waker_of, within_limit};

const LONG: Duration = Duration::from_secs(3600);

/// Every receive method must report disconnection without waiting.
fn assert_all_disconnected(rx: &mut conflate::Receiver<u32>) {
    let start = Instant::now();
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(rx.recv_timeout(LONG), Err(RecvTimeoutError::Disconnected));
    assert_eq!(
        rx.recv_timeout(Duration::MAX),
        Err(RecvTimeoutError::Disconnected)
    );
    assert_eq!(
        rx.recv_deadline(Instant::now() + LONG),
        Err(RecvTimeoutError::Disconnected)
    );
    assert_eq!(block_on(rx.recv_async()), Err(RecvError));
    assert_eq!(rx.iter().next(), None);
    assert_eq!(rx.try_iter().next(), None);
    assert!(rx.is_disconnected());
    assert!(rx.is_empty());
    // None of the above waited for its timeout.
    assert!(start.elapsed() < LONG);
}

#[test]
fn disconnected_without_a_value() {
    let (tx, mut rx) = channel::<u32>();
    drop(tx);
    assert_all_disconnected(&mut rx);
    assert_all_disconnected(&mut rx);
}

/// The last value is delivered first, by whichever receive comes next.
#[test]
fn last_value_first_for_every_receive_kind() {
    type Take = fn(&mut conflate::Receiver<u32>) -> Option<u32>;
    let takes: [(&str, Take); 7] = [
        ("recv", |rx| rx.recv().ok()),
        ("try_recv", |rx| rx.try_recv().ok()),
        ("recv_timeout", |rx| rx.recv_timeout(LONG).ok()),
        ("recv_deadline", |rx| {
            rx.recv_deadline(Instant::now() + LONG).ok()
        }),
        ("recv_async", |rx| block_on(rx.recv_async()).ok()),
        ("iter", |rx| rx.iter().next()),
        ("try_iter", |rx| rx.try_iter().next()),
    ];
    for (name, take) in takes {
        let (tx, mut rx) = channel::<u32>();
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        tx2.send(2).unwrap();
        drop(tx);
        assert!(!rx.is_disconnected(), "{name}: one sender is still alive");
        drop(tx2);
        assert!(rx.is_disconnected(), "{name}");
        assert!(!rx.is_empty(), "{name}: the last value must still wait");
        assert_eq!(take(&mut rx), Some(2), "{name}");
        assert_all_disconnected(&mut rx);
    }
}

#[test]
fn into_iter_yields_the_last_value_then_ends() {
    let (tx, rx) = channel::<u32>();
    tx.send(9).unwrap();
    drop(tx);
    assert_eq!(rx.into_iter().collect::<Vec<_>>(), [9]);
}

#[test]
fn dropping_one_clone_does_not_close() {
    let (tx, rx) = channel::<u32>();
    let clones: Vec<_> = (0..4).map(|_| tx.clone()).collect();
    drop(tx);
    for (i, c) in clones.into_iter().enumerate() {
        assert!(!rx.is_disconnected(), "clone {i} is still alive");
        c.send(u32::try_from(i).unwrap()).unwrap();
    }
    assert!(rx.is_disconnected());
    assert_eq!(rx.recv(), Ok(3));
    assert_eq!(rx.recv(), Err(RecvError));
}

/// How a thread waits in the tests below.
#[derive(Clone, Copy, Debug)]
enum Wait {
    Recv,
    RecvTimeout,
    RecvTimeoutMax,
    RecvDeadline,
    RecvAsync,
    Iter,
}

const WAITS: [Wait; 6] = [
    Wait::Recv,
    Wait::RecvTimeout,
    Wait::RecvTimeoutMax,
    Wait::RecvDeadline,
    Wait::RecvAsync,
    Wait::Iter,
];

/// Blocks in the given way until a value or disconnection; returns the value.
fn wait_in(rx: &mut conflate::Receiver<u32>, how: Wait) -> Option<u32> {
    match how {
        Wait::Recv => rx.recv().ok(),
        Wait::RecvTimeout => match rx.recv_timeout(LONG) {
            Ok(v) => Some(v),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("an hour passed"),
        },
        Wait::RecvTimeoutMax => match rx.recv_timeout(Duration::MAX) {
            Ok(v) => Some(v),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("Duration::MAX passed"),
        },
        Wait::RecvDeadline => match rx.recv_deadline(Instant::now() + LONG) {
            Ok(v) => Some(v),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("an hour passed"),
        },
        Wait::RecvAsync => block_on(rx.recv_async()).ok(),
        Wait::Iter => rx.iter().next(),
    }
}

/// A receiver blocked (or about to block: the race is left to the
/// scheduler) in each kind of receive wakes when the last sender drops, and
/// reports disconnection.
#[test]
fn blocked_receiver_wakes_on_last_sender_drop() {
    let rounds = helpers::scaled(100, 2);
    for how in WAITS {
        for _ in 0..rounds {
            let (tx, mut rx) = channel::<u32>();
            let tx2 = tx.clone();
            std::thread::scope(|s| {
                let waiter = within_limit(s, "blocked receiver", move || {
                    let got = wait_in(&mut rx, how);
                    (got, rx)
                });
                drop(tx);
                drop(tx2);
                let (got, mut rx) = waiter.join();
                assert_eq!(got, None, "{how:?}");
                assert_all_disconnected(&mut rx);
            });
        }
    }
}

/// The same, but the last sender sends a value just before it goes: the
/// blocked receiver gets that value, and the next receive reports
/// disconnection.
#[test]
fn blocked_receiver_gets_the_last_value_then_disconnected() {
    let rounds = helpers::scaled(100, 2);
    for how in WAITS {
        for round in 0..rounds {
            let (tx, mut rx) = channel::<u32>();
            let value = u32::try_from(round).unwrap();
            std::thread::scope(|s| {
                let waiter = within_limit(s, "blocked receiver", move || {
                    let got = wait_in(&mut rx, how);
                    let next = wait_in(&mut rx, how);
                    (got, next, rx)
                });
                tx.send(value).unwrap();
                drop(tx);
                let (got, next, mut rx) = waiter.join();
                assert_eq!(got, Some(value), "{how:?}");
                assert_eq!(next, None, "{how:?}");
                assert_all_disconnected(&mut rx);
            });
        }
    }
}

/// Deterministic version for the async path: the future is known to be
/// registered (it returned `Pending`) before the last sender drops.
#[test]
fn pending_future_is_woken_by_last_sender_drop() {
    let (tx, mut rx) = channel::<u32>();
    let counter = CountingWaker::new();
    let waker = waker_of(&counter);
    let mut fut = rx.recv_async();
    assert!(poll_once(&mut fut, &waker).is_pending());
    assert_eq!(counter.count(), 0);
    drop(tx);
    assert!(counter.count() >= 1, "the future was not woken");
    assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Err(RecvError)));
}

#[test]
fn pending_future_is_woken_by_last_value_then_disconnects() {
    let (tx, mut rx) = channel::<u32>();
    let counter = CountingWaker::new();
    let waker = waker_of(&counter);
    let mut fut = rx.recv_async();
    assert!(poll_once(&mut fut, &waker).is_pending());
    tx.send(5).unwrap();
    drop(tx);
    assert!(counter.count() >= 1, "the future was not woken");
    assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Ok(5)));
    drop(fut);
    assert_eq!(block_on(rx.recv_async()), Err(RecvError));
}

/// Senders on several threads each send and drop; however they interleave,
/// one of their last values is delivered before `Disconnected`, and
/// `Disconnected` is never reported while a value waits.
#[test]
fn racing_last_senders() {
    let rounds = helpers::scaled(300, 4);
    for round in 0..rounds {
        let (tx, rx) = channel::<u32>();
        std::thread::scope(|s| {
            for p in 0..3u32 {
                let tx = tx.clone();
                s.spawn(move || {
                    tx.send(p * 2).unwrap();
                    tx.send(p * 2 + 1).unwrap();
                });
            }
            drop(tx);
            let receiver = within_limit(s, "receiver", move || {
                let mut got = Vec::new();
                while let Some(v) = if round % 2 == 0 {
                    rx.recv().ok()
                } else {
                    rx.iter().next()
                } {
                    got.push(v);
                }
                (got, rx)
            });
            let (got, rx) = receiver.join();
            // The last received value is some producer's final value.
            let last = *got.last().expect("the last value was lost");
            assert_eq!(last % 2, 1, "{got:?}");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
            assert_eq!(got.len() as u64 + rx.overwritten(), 6);
        });
    }
}
