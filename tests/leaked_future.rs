//! A `RecvFuture` leaked while pending (`mem::forget`, safe code) leaves its
//! waker registered. The receiver must stay fully usable afterwards: later
//! receives take the stale registration back instead of waiting for it, and
//! dropping the receiver frees the leaked waker.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::Duration;

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn leak_pending_future(rx: &mut conflate::Receiver<u32>, waker: &Waker) {
    let mut cx = Context::from_waker(waker);
    let mut fut = rx.recv_async();
    assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
    std::mem::forget(fut);
}

#[test]
fn blocking_recv_after_leaked_future_still_wakes() {
    let (tx, mut rx) = conflate::channel();
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    leak_pending_future(&mut rx, &waker);

    // This wait either registers, which first takes the stale registration
    // back (before the fix it spun forever on the leaked one), or runs out of
    // time in its busy phase before registering (as under Miri's slow
    // clock), which leaves the stale one in place. Both are correct.
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(5)),
        Err(conflate::RecvTimeoutError::Timeout)
    );
    let t = thread::spawn(move || tx.send(7).unwrap());
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(7));
    t.join().unwrap();
    // The leaked waker is woken at most once (if it was still registered).
    assert!(counter.0.load(Ordering::SeqCst) <= 1);
    assert_eq!(rx.recv(), Err(conflate::RecvError));
}

#[test]
fn new_registration_replaces_a_leaked_one() {
    let (tx, mut rx) = conflate::channel();
    let old = Arc::new(CountingWaker(AtomicUsize::new(0)));
    leak_pending_future(&mut rx, &Waker::from(old.clone()));

    let new = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let new_waker = Waker::from(new.clone());
    let mut cx = Context::from_waker(&new_waker);
    let mut fut = rx.recv_async();
    assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
    tx.send(1).unwrap();
    assert_eq!(new.0.load(Ordering::SeqCst), 1, "the live future was woken");
    assert_eq!(
        old.0.load(Ordering::SeqCst),
        0,
        "the leaked waker was withdrawn"
    );
    assert_eq!(
        Pin::new(&mut fut).poll(&mut cx),
        std::task::Poll::Ready(Ok(1))
    );
}

#[test]
fn leaked_future_is_woken_if_a_value_comes_first_and_nothing_is_lost() {
    let (tx, mut rx) = conflate::channel();
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    leak_pending_future(&mut rx, &waker);
    tx.send(1).unwrap();
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    assert_eq!(rx.try_recv(), Ok(1));
    leak_pending_future(&mut rx, &waker);
    assert_eq!(rx.try_recv(), Err(conflate::TryRecvError::Empty));
    tx.send(2).unwrap();
    assert_eq!(rx.recv(), Ok(2));
}

#[test]
fn dropping_receiver_with_leaked_future_frees_the_waker() {
    let (tx, mut rx) = conflate::channel();
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    leak_pending_future(&mut rx, &waker);
    drop(waker);
    assert_eq!(
        Arc::strong_count(&counter),
        2,
        "the registered waker holds one count"
    );
    drop(rx);
    assert_eq!(tx.send(3), Err(conflate::SendError(3)));
    drop(tx);
    assert_eq!(
        Arc::strong_count(&counter),
        1,
        "the leaked waker was freed with the channel"
    );
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
}
