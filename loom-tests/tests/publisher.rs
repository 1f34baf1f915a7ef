//! Loom models of `Publisher` (API.md rule 12): `subscribe` racing `send`
//! (the Dekker pair of the protocol essay in `src/publisher.rs`), dropped
//! subscribers racing sends (the epoch reclamation), the publisher's drop,
//! and sends from two threads.
//!
//! Payloads are `loom::sync::Arc<u32>`: cloning one is what `send` does for
//! each subscriber, and loom reports any clone that is never dropped (a
//! leak) when the model ends; the number inside says which send it was.
#![cfg(loom)]

use conflate::{Publisher, Receiver, TryRecvError};
use loom::sync::Arc;
use loom::thread;

type Val = Arc<u32>;

/// Drains a subscriber whose publisher is gone: every value, then the end.
fn drain(rx: &Receiver<Val>) -> Vec<u32> {
    let mut got = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(v) => got.push(*v),
            Err(TryRecvError::Disconnected) => return got,
            Err(TryRecvError::Empty) => panic!("the publisher is gone: no Empty"),
        }
    }
}

/// subscribe ∥ send: the subscriber starts from value 1 (sent before) or 2
/// (the racing send), never goes back, and ends on 2, the latest. The
/// racing value may arrive twice (as the starting value and from the send
/// itself), as the `Publisher` docs say; nothing else repeats.
#[test]
fn subscribe_races_send_ends_on_latest() {
    loom::model(|| {
        let publisher = Arc::new(Publisher::new());
        publisher.send(Arc::new(1));
        let p = publisher.clone();
        let t = thread::spawn(move || {
            p.send(Arc::new(2));
        });
        let rx = publisher.subscribe();
        let first = rx.try_recv().map(|v| *v);
        t.join().unwrap();
        drop(publisher); // the last handle: closes the subscriber
        let mut got: Vec<u32> = first.into_iter().collect();
        got.extend(drain(&rx));
        assert!(got.windows(2).all(|w| w[0] <= w[1]), "went back: {got:?}");
        assert!(
            got.iter().filter(|&&v| v == 1).count() <= 1,
            "1 twice: {got:?}"
        );
        assert_eq!(got.last(), Some(&2), "not on the latest: {got:?}");
    });
}

/// Two subscribes ∥ a send: both subscribers end on the latest value.
#[test]
fn two_subscribes_race_send() {
    loom::model(|| {
        let publisher = Arc::new(Publisher::new());
        publisher.send(Arc::new(1));
        let p = publisher.clone();
        let other = thread::spawn(move || p.subscribe());
        let p = publisher.clone();
        let sender = thread::spawn(move || {
            p.send(Arc::new(2));
        });
        let mine = publisher.subscribe();
        let theirs = other.join().unwrap();
        sender.join().unwrap();
        assert_eq!(publisher.subscriber_count(), 2);
        drop(publisher);
        let (a, b) = (drain(&mine), drain(&theirs));
        assert_eq!(
            a.last(),
            Some(&2),
            "mine not on the latest: {a:?} (theirs {b:?})"
        );
        assert_eq!(
            b.last(),
            Some(&2),
            "theirs not on the latest: {b:?} (mine {a:?})"
        );
    });
}

/// A subscriber's drop ∥ a send: the send reaches it or skips it, the
/// count settles at once, and a later `subscribe` frees its channel (no
/// use after free: the sending thread may still be reading that slot).
#[test]
fn subscriber_drop_races_send() {
    loom::model(|| {
        let publisher = Arc::new(Publisher::new());
        let gone = publisher.subscribe();
        let stays = publisher.subscribe();
        let p = publisher.clone();
        let sender = thread::spawn(move || p.send(Arc::new(1)));
        drop(gone);
        assert_eq!(
            publisher.subscriber_count(),
            1,
            "a dropped one is not counted"
        );
        // Frees `gone`'s channel now or at a later subscribe, never while
        // the racing send can still read it.
        let late = publisher.subscribe();
        let put = sender.join().unwrap();
        assert!((1..=2).contains(&put), "put to {put}");
        drop(publisher);
        assert_eq!(drain(&stays), [1]);
        assert_eq!(drain(&late), [1], "started from the latest");
    });
}

/// The publisher's drop ∥ a subscriber blocked in `recv`: it gets the last
/// value, then `Disconnected`.
#[test]
fn publisher_drop_wakes_blocked_subscriber() {
    loom::model(|| {
        let publisher = Publisher::new();
        let rx = publisher.subscribe();
        let t = thread::spawn(move || {
            publisher.send(Arc::new(7));
            drop(publisher);
        });
        assert_eq!(rx.recv().map(|v| *v), Ok(7));
        assert!(rx.recv().is_err(), "closed after the last value");
        t.join().unwrap();
    });
}

/// Two sends from two threads through `&Publisher` ∥ a subscriber's
/// receive: every value is one that was sent, none twice, the subscriber
/// ends on one of them, and every clone is dropped (loom's leak check).
#[test]
fn two_racing_sends_and_a_receive() {
    loom::model(|| {
        let publisher = Arc::new(Publisher::new());
        let rx = publisher.subscribe();
        let senders: Vec<_> = [1, 2]
            .into_iter()
            .map(|n| {
                let p = publisher.clone();
                thread::spawn(move || p.send(Arc::new(n)))
            })
            .collect();
        let mut got: Vec<u32> = rx.try_recv().map(|v| *v).into_iter().collect();
        for s in senders {
            assert_eq!(s.join().unwrap(), 1);
        }
        drop(publisher);
        got.extend(drain(&rx));
        assert!(!got.is_empty() && got.len() <= 2, "got {got:?}");
        assert!(got.iter().all(|v| [1, 2].contains(v)), "got {got:?}");
        if got.len() == 2 {
            assert_ne!(got[0], got[1], "a value twice: {got:?}");
        }
    });
}

/// A send ∥ two `subscribe`s that each unlink a dropped subscriber: the
/// send may have read the epoch before both advances, so it counts in the
/// parity that is current again after the second; the second set must not
/// be freed under it (the epoch does not advance while that parity still
/// has a send). A use after free shows as loom's causality violation.
#[test]
fn send_spans_two_reclamations() {
    loom::model(|| {
        let publisher = Arc::new(Publisher::new());
        let first = publisher.subscribe();
        let second = publisher.subscribe();
        let stays = publisher.subscribe();
        let p = publisher.clone();
        let sender = thread::spawn(move || p.send(Arc::new(1)));
        drop(first);
        let late_a = publisher.subscribe(); // unlinks `first`
        drop(second);
        let late_b = publisher.subscribe(); // unlinks `second`
        let put = sender.join().unwrap();
        assert!((1..=4).contains(&put), "put to {put}");
        drop(publisher);
        for rx in [&stays, &late_a, &late_b] {
            assert_eq!(drain(rx), [1], "every live subscriber ends on 1");
        }
    });
}
