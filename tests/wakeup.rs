//! API.md rule 6: no lost wake-up and no lost value. A blocked receive
//! returns when a value arrives; a `Timeout` leaves a racing value for the
//! next call; a dropped pending `RecvFuture` loses nothing.

mod helpers;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use conflate::{RecvTimeoutError, TryRecvError, channel};
use helpers::{CountingWaker, block_on, poll_once, waker_of, within_limit};

const LONG: Duration = Duration::from_secs(3600);

/// Ping-pong: each side blocks until the other sends, so every round has a
/// receiver that is (often) parked when the value arrives.
fn ping_pong(rounds: u32, how: fn(&mut conflate::Receiver<u32>) -> u32) {
    let _watchdog = helpers::Watchdog::start("ping-pong");
    let (ping_tx, mut ping_rx) = channel::<u32>();
    let (pong_tx, pong_rx) = channel::<u32>();
    // `move`: if an assertion fails here, unwinding drops this thread's
    // channel ends, so the other thread ends instead of blocking forever.
    std::thread::scope(move |s| {
        let echo = within_limit(s, "echo thread", move || {
            for _ in 0..rounds {
                let v = how(&mut ping_rx);
                pong_tx.send(v + 1).unwrap();
            }
        });
        for i in 0..rounds {
            ping_tx.send(2 * i).unwrap();
            assert_eq!(pong_rx.recv(), Ok(2 * i + 1));
        }
        echo.join();
    });
}

fn rounds() -> u32 {
    u32::try_from(helpers::scaled(2_000, 10)).unwrap()
}

#[test]
fn blocked_recv_returns_when_a_value_arrives() {
    ping_pong(rounds(), |rx| rx.recv().unwrap());
}

#[test]
fn blocked_recv_timeout_returns_when_a_value_arrives() {
    ping_pong(rounds(), |rx| rx.recv_timeout(LONG).unwrap());
}

#[test]
fn blocked_recv_deadline_returns_when_a_value_arrives() {
    ping_pong(rounds(), |rx| {
        rx.recv_deadline(Instant::now() + LONG).unwrap()
    });
}

#[test]
fn blocked_recv_async_returns_when_a_value_arrives() {
    ping_pong(rounds(), |rx| block_on(rx.recv_async()).unwrap());
}

#[test]
fn blocked_iter_returns_when_a_value_arrives() {
    ping_pong(rounds(), |rx| rx.iter().next().unwrap());
}

/// A short-timeout receive races each send. If the send finished before the
/// receive started, the receive must return the value; a `Timeout` must
/// never swallow it: the producer only moves on once the value was taken.
fn timeout_races_send(take: fn(&conflate::Receiver<usize>) -> Option<usize>) {
    let _watchdog = helpers::Watchdog::start("timeout race hand-off");
    let rounds = helpers::scaled(2_000, 10);
    let sent = AtomicUsize::new(0);
    let (tx, rx) = channel::<usize>();
    let (ack_tx, ack_rx) = channel::<usize>();
    std::thread::scope(|s| {
        let sent = &sent;
        s.spawn(move || {
            for i in 1..=rounds {
                tx.send(i).unwrap();
                sent.store(i, Ordering::SeqCst);
                assert_eq!(ack_rx.recv(), Ok(i));
            }
        });
        let consumer = within_limit(s, "consumer", move || {
            let mut timeouts = 0usize;
            for i in 1..=rounds {
                loop {
                    let already_sent = sent.load(Ordering::SeqCst) >= i;
                    match take(&rx) {
                        Some(v) => {
                            assert_eq!(v, i);
                            break;
                        }
                        None => {
                            assert!(!already_sent, "value {i} was sent before the receive began");
                            timeouts += 1;
                        }
                    }
                }
                ack_tx.send(i).unwrap();
            }
            timeouts
        });
        let timeouts = consumer.join();
        println!("{rounds} rounds, {timeouts} receives timed out first");
    });
}

#[test]
fn recv_timeout_never_loses_a_racing_value() {
    timeout_races_send(|rx| match rx.recv_timeout(Duration::from_micros(20)) {
        Ok(v) => Some(v),
        Err(RecvTimeoutError::Timeout) => None,
        Err(RecvTimeoutError::Disconnected) => panic!("disconnected early"),
    });
}

#[test]
fn recv_deadline_never_loses_a_racing_value() {
    timeout_races_send(
        |rx| match rx.recv_deadline(Instant::now() + Duration::from_micros(20)) {
            Ok(v) => Some(v),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("disconnected early"),
        },
    );
}

#[test]
fn zero_timeout_never_loses_a_racing_value() {
    timeout_races_send(|rx| match rx.recv_timeout(Duration::ZERO) {
        Ok(v) => Some(v),
        Err(RecvTimeoutError::Timeout) => None,
        Err(RecvTimeoutError::Disconnected) => panic!("disconnected early"),
    });
}

#[test]
fn try_recv_never_loses_a_racing_value() {
    timeout_races_send(|rx| match rx.try_recv() {
        Ok(v) => Some(v),
        Err(TryRecvError::Empty) => None,
        Err(TryRecvError::Disconnected) => panic!("disconnected early"),
    });
}

/// A value sent while a `recv_timeout` waits is returned by that call, or,
/// if the call timed out, by the next `try_recv`.
#[test]
fn timed_out_receive_leaves_the_value_in_the_slot() {
    let rounds = helpers::scaled(500, 5);
    let mut timeouts = 0;
    for i in 0..rounds {
        let (tx, rx) = channel::<usize>();
        std::thread::scope(|s| {
            s.spawn(move || tx.send(i).unwrap());
            match rx.recv_timeout(Duration::from_micros(10)) {
                Ok(v) => assert_eq!(v, i),
                Err(RecvTimeoutError::Timeout) => {
                    timeouts += 1;
                    // The send is still on its way or already done.
                    assert_eq!(rx.recv(), Ok(i), "the racing value was lost");
                }
                Err(RecvTimeoutError::Disconnected) => panic!("the value was lost"),
            }
        });
    }
    println!("{rounds} rounds, {timeouts} timed out first");
}

#[test]
fn dropped_pending_future_loses_no_value() {
    let (tx, mut rx) = channel::<u32>();
    let counter = CountingWaker::new();
    let waker = waker_of(&counter);

    let mut fut = rx.recv_async();
    assert!(poll_once(&mut fut, &waker).is_pending());
    drop(fut);
    tx.send(1).unwrap();
    assert_eq!(
        counter.count(),
        0,
        "the dropped future's waker was still registered"
    );
    assert_eq!(rx.try_recv(), Ok(1));

    // A future dropped without ever being polled takes nothing either.
    tx.send(2).unwrap();
    drop(rx.recv_async());
    assert_eq!(rx.recv(), Ok(2));
}

/// After a pending future is dropped, every kind of later receive still
/// wakes for a value sent from another thread.
#[test]
fn later_receives_wake_after_a_dropped_future() {
    type Take = fn(&mut conflate::Receiver<u32>) -> u32;
    let takes: [(&str, Take); 5] = [
        ("recv", |rx| rx.recv().unwrap()),
        ("recv_timeout", |rx| rx.recv_timeout(LONG).unwrap()),
        ("recv_deadline", |rx| {
            rx.recv_deadline(Instant::now() + LONG).unwrap()
        }),
        ("recv_async", |rx| block_on(rx.recv_async()).unwrap()),
        ("iter", |rx| rx.iter().next().unwrap()),
    ];
    let rounds = helpers::scaled(50, 2);
    for (name, take) in takes {
        for round in 0..rounds {
            let value = u32::try_from(round).unwrap();
            let (tx, mut rx) = channel::<u32>();
            let (ready_tx, ready_rx) = channel::<()>();
            std::thread::scope(|s| {
                let waiter = within_limit(s, name, move || {
                    let counter = CountingWaker::new();
                    let mut fut = rx.recv_async();
                    assert!(poll_once(&mut fut, &waker_of(&counter)).is_pending());
                    drop(fut);
                    ready_tx.send(()).unwrap();
                    take(&mut rx)
                });
                ready_rx.recv().unwrap();
                tx.send(value).unwrap();
                assert_eq!(waiter.join(), value, "{name}");
            });
        }
    }
}

/// A pending future is dropped while another thread sends: the value is
/// always found afterwards.
#[test]
fn future_drop_races_with_send() {
    let rounds = helpers::scaled(1_000, 5);
    for i in 0..rounds {
        let (tx, mut rx) = channel::<usize>();
        let counter = CountingWaker::new();
        let waker = waker_of(&counter);
        let mut fut = rx.recv_async();
        assert!(poll_once(&mut fut, &waker).is_pending());
        std::thread::scope(|s| {
            s.spawn(move || tx.send(i).unwrap());
            drop(fut);
        });
        assert_eq!(rx.try_recv(), Ok(i));
        assert!(counter.count() <= 1);
    }
}
