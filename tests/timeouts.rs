//! API.md rule 8, timeouts: they behave like std's. Huge timeouts and far
//! deadlines wait without panicking; a zero timeout or a past deadline is a
//! non-blocking try; a timed-out receive waited at least as long as asked.

mod helpers;

use std::time::{Duration, Instant};

use conflate::{RecvTimeoutError, channel};
use helpers::within_limit;

/// A deadline further away than any wait could last, still representable.
fn far_deadline() -> Instant {
    let now = Instant::now();
    // Try absurdly far first, then back off until `Instant` can hold it.
    [u64::MAX / 4, 1 << 40, 100 * 365 * 24 * 3600]
        .into_iter()
        .find_map(|secs| now.checked_add(Duration::from_secs(secs)))
        .expect("an Instant a century away")
}

#[test]
fn huge_timeouts_with_a_value_waiting() {
    let (tx, rx) = channel::<u32>();
    tx.send(1).unwrap();
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1));
    tx.send(2).unwrap();
    assert_eq!(rx.recv_deadline(far_deadline()), Ok(2));
    tx.send(3).unwrap();
    drop(tx);
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(3));
    assert_eq!(
        rx.recv_timeout(Duration::MAX),
        Err(RecvTimeoutError::Disconnected)
    );
    assert_eq!(
        rx.recv_deadline(far_deadline()),
        Err(RecvTimeoutError::Disconnected)
    );
}

/// A huge wait really waits, and ends when a value arrives or the last
/// sender goes.
#[test]
fn huge_timeouts_wait_for_a_value() {
    let rounds = helpers::scaled(20, 2);
    let _watchdog = helpers::Watchdog::start("huge-timeout hand-off");
    for round in 0..rounds {
        let (tx, rx) = channel::<usize>();
        let (ack_tx, ack_rx) = channel::<()>();
        std::thread::scope(|s| {
            let waiter = within_limit(s, "huge-timeout receiver", move || {
                let a = rx.recv_timeout(Duration::MAX);
                ack_tx.send(()).unwrap();
                let b = rx.recv_deadline(far_deadline());
                ack_tx.send(()).unwrap();
                let c = rx.recv_timeout(Duration::MAX);
                (a, b, c)
            });
            tx.send(round).unwrap();
            ack_rx.recv().unwrap();
            tx.send(round + 1).unwrap();
            ack_rx.recv().unwrap();
            drop(tx);
            let (a, b, c) = waiter.join();
            assert_eq!(a, Ok(round));
            assert_eq!(b, Ok(round + 1));
            assert_eq!(c, Err(RecvTimeoutError::Disconnected));
        });
    }
}

#[test]
fn zero_timeout_and_past_deadline_are_a_try() {
    let (tx, rx) = channel::<u32>();
    let past = Instant::now();
    assert_eq!(
        rx.recv_timeout(Duration::ZERO),
        Err(RecvTimeoutError::Timeout)
    );
    assert_eq!(rx.recv_deadline(past), Err(RecvTimeoutError::Timeout));
    // A deadline from an earlier point in time than `past`, if representable.
    if let Some(earlier) = past.checked_sub(Duration::from_secs(1)) {
        assert_eq!(rx.recv_deadline(earlier), Err(RecvTimeoutError::Timeout));
    }

    tx.send(1).unwrap();
    assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(1));
    tx.send(2).unwrap();
    assert_eq!(rx.recv_deadline(past), Ok(2));
    tx.send(3).unwrap();
    drop(tx);
    assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(3));
    assert_eq!(
        rx.recv_timeout(Duration::ZERO),
        Err(RecvTimeoutError::Disconnected)
    );
    assert_eq!(rx.recv_deadline(past), Err(RecvTimeoutError::Disconnected));
}

#[test]
fn timeout_waits_at_least_the_duration() {
    let (_tx, rx) = channel::<u32>();
    for ms in [1u64, 5, 20] {
        let timeout = Duration::from_millis(ms);
        let start = Instant::now();
        assert_eq!(rx.recv_timeout(timeout), Err(RecvTimeoutError::Timeout));
        let waited = start.elapsed();
        assert!(waited >= timeout, "asked {timeout:?}, waited {waited:?}");
    }
}

#[test]
fn deadline_is_reached_before_timeout_is_reported() {
    let (_tx, rx) = channel::<u32>();
    for ms in [1u64, 5, 20] {
        let deadline = Instant::now() + Duration::from_millis(ms);
        assert_eq!(rx.recv_deadline(deadline), Err(RecvTimeoutError::Timeout));
        assert!(Instant::now() >= deadline);
    }
}

/// A timed-out receive changes nothing: the channel still works.
#[test]
fn channel_works_after_timeouts() {
    let (tx, rx) = channel::<u32>();
    for i in 0..5 {
        assert_eq!(
            rx.recv_timeout(Duration::from_micros(100)),
            Err(RecvTimeoutError::Timeout)
        );
        tx.send(i).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_micros(100)), Ok(i));
    }
    assert_eq!(rx.overwritten(), 0);
}
