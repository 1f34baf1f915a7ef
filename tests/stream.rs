//! Rule 13: `Receiver::poll_recv`, and with the `stream` feature the
//! `futures_core::Stream` impl (run with `cargo test --all-features`).

mod helpers;

use std::future::poll_fn;
use std::task::{Context, Poll, Waker};
use std::thread;

use conflate::RecvError;
use helpers::{CountingWaker, Watchdog, block_on, scaled, waker_of};

#[test]
fn poll_recv_is_pending_then_ready() {
    let (tx, mut rx) = conflate::channel();
    let counter = CountingWaker::new();
    let waker = waker_of(&counter);
    let mut cx = Context::from_waker(&waker);
    assert!(rx.poll_recv(&mut cx).is_pending());
    assert_eq!(counter.count(), 0);
    tx.send(1).unwrap();
    assert_eq!(counter.count(), 1, "the send wakes the registered waker");
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Ok(1)));
    // A value already there: ready at once, nothing registered.
    tx.send(2).unwrap();
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Ok(2)));
    assert_eq!(counter.count(), 1);
}

#[test]
fn poll_recv_reports_disconnection_after_the_last_value() {
    let (tx, mut rx) = conflate::channel();
    let mut cx = Context::from_waker(Waker::noop());
    tx.send("last").unwrap();
    drop(tx);
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Ok("last")));
    for _ in 0..3 {
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Err(RecvError)));
    }
}

#[test]
fn poll_recv_close_wakes_a_pending_poll() {
    let (tx, mut rx) = conflate::channel::<u8>();
    let counter = CountingWaker::new();
    let waker = waker_of(&counter);
    let mut cx = Context::from_waker(&waker);
    assert!(rx.poll_recv(&mut cx).is_pending());
    drop(tx);
    assert_eq!(counter.count(), 1);
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Err(RecvError)));
}

#[test]
fn a_later_poll_with_another_waker_replaces_the_first() {
    let (tx, mut rx) = conflate::channel();
    let (first, second) = (CountingWaker::new(), CountingWaker::new());
    let (w1, w2) = (waker_of(&first), waker_of(&second));
    assert!(rx.poll_recv(&mut Context::from_waker(&w1)).is_pending());
    assert!(rx.poll_recv(&mut Context::from_waker(&w2)).is_pending());
    tx.send(5).unwrap();
    assert_eq!(first.count(), 0, "the replaced waker is not woken");
    assert_eq!(second.count(), 1, "the newest waker is");
    assert_eq!(
        rx.poll_recv(&mut Context::from_waker(&w2)),
        Poll::Ready(Ok(5))
    );
}

#[test]
fn a_registration_left_by_poll_recv_does_not_disturb_other_receives() {
    let _dog = Watchdog::start("receives after an abandoned poll_recv");
    let (tx, mut rx) = conflate::channel();
    let counter = CountingWaker::new();
    assert!(
        rx.poll_recv(&mut Context::from_waker(&waker_of(&counter)))
            .is_pending()
    );
    // Stop polling. A blocking receive that parks takes the registration
    // back (here one that times out, before anything is sent)...
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(1))
            .is_err()
    );
    // ...and receives of every kind still wake afterwards.
    let t = thread::spawn(move || {
        for v in 0..3 {
            thread::sleep(std::time::Duration::from_millis(5));
            tx.send(v).unwrap();
        }
    });
    assert_eq!(rx.recv(), Ok(0));
    assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(30)), Ok(1));
    assert_eq!(block_on(rx.recv_async()), Ok(2));
    t.join().unwrap();
    // A receive that parks takes the registration back; one that finds its
    // deadline passed first (Miri's clock) does not, and then the first send
    // claims it: a harmless spurious wake, once at most.
    assert!(
        counter.count() <= 1,
        "the abandoned waker was woken {} times",
        counter.count()
    );
}

#[test]
fn poll_recv_in_a_hand_written_future_gets_every_last_value() {
    let _dog = Watchdog::start("poll_fn over poll_recv");
    let n = scaled(20_000, 200);
    let (tx, mut rx) = conflate::channel();
    let t = thread::spawn(move || {
        for v in 0..n {
            tx.send(v).unwrap();
        }
    });
    let mut last = None;
    while let Ok(v) = block_on(poll_fn(|cx| rx.poll_recv(cx))) {
        assert!(last < Some(v), "values only increase");
        last = Some(v);
    }
    t.join().unwrap();
    assert_eq!(last, Some(n - 1), "the last value arrives before the end");
}

#[test]
fn receiver_is_unpin_and_one_pointer() {
    fn unpin<T: Unpin>() {}
    unpin::<conflate::Receiver<String>>();
    assert_eq!(
        size_of::<conflate::Receiver<String>>(),
        size_of::<usize>(),
        "poll_recv keeps no state in the handle"
    );
}

#[cfg(feature = "stream")]
mod with_stream_feature {
    use super::*;
    use futures_core::{FusedStream, Stream};
    use std::pin::Pin;

    /// Collects a stream on this thread (a tiny `StreamExt::collect`).
    fn collect<S: Stream + Unpin>(mut stream: S) -> Vec<S::Item> {
        let mut out = Vec::new();
        while let Some(item) = block_on(poll_fn(|cx| Pin::new(&mut stream).poll_next(cx))) {
            out.push(item);
        }
        out
    }

    #[test]
    fn stream_yields_values_then_ends() {
        let _dog = Watchdog::start("stream of a producer thread");
        let n = scaled(20_000, 200);
        let (tx, rx) = conflate::channel();
        let t = thread::spawn(move || {
            for v in 0..n {
                tx.send(v).unwrap();
            }
        });
        let got = collect(rx);
        t.join().unwrap();
        assert!(got.windows(2).all(|w| w[0] < w[1]), "values only increase");
        assert_eq!(
            got.last(),
            Some(&(n - 1)),
            "the last value comes before None"
        );
    }

    #[test]
    fn stream_is_fused_after_disconnection() {
        let (tx, mut rx) = conflate::channel();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(!rx.is_terminated());
        tx.send(1).unwrap();
        drop(tx);
        assert!(!rx.is_terminated(), "a last value is still to come");
        assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Ready(Some(1)));
        assert!(rx.is_terminated());
        for _ in 0..3 {
            assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Ready(None));
        }
    }

    #[test]
    fn stream_pending_is_woken_by_a_send() {
        let (tx, mut rx) = conflate::channel();
        let counter = CountingWaker::new();
        let waker = waker_of(&counter);
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut rx).poll_next(&mut cx).is_pending());
        tx.send('x').unwrap();
        assert_eq!(counter.count(), 1);
        assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Ready(Some('x')));
    }
}
