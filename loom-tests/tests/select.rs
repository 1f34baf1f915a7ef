//! Loom models of `Select` (API.md rule 10) racing sends and closes.
//!
//! A `Select` registers its thread in the waiter cell of every watched
//! channel; the sender whose swap claims one registration unparks it, and
//! the selector takes back the others. The models check that a wake-up is
//! never lost, that the index returned is ready, and that no registration
//! or waiter is left behind (`Receiver::loom_waiter_left`, which exists
//! only under loom).
//!
//! Threads that may unpark the selector late (a sender that claimed a
//! registration after the selector had moved on) are joined through
//! `helpers::spawn_joinable`, see there.
#![cfg(loom)]

mod helpers;

use std::time::Duration;

use conflate::{Select, TryRecvError};
use helpers::{DropLog, Tally, spawn_joinable};
use loom::future::block_on;

/// Far enough that the crate's own clock checks never fire; under loom the
/// timed park is a yield that reports the deadline as passed, which is the
/// modelled timeout.
const WAIT: Duration = Duration::from_secs(60);

/// Model 1: select over two channels ∥ a send on either. `ready` returns
/// the channel that got the value, the value is there, and the other
/// registration is taken back (no waiter left in either channel).
#[test]
fn select_two_woken_by_send_on_either() {
    for target in 0..2 {
        loom::model(move || {
            let log = DropLog::new(1);
            let (tx_a, rx_a) = conflate::channel();
            let (tx_b, rx_b) = conflate::channel();
            let v0 = log.val(0);
            let t = spawn_joinable(move || {
                let tx = if target == 0 { &tx_a } else { &tx_b };
                tx.send(v0).unwrap();
                (tx_a, tx_b)
            });
            let mut sel = Select::new();
            let ia = sel.recv(&rx_a);
            let ib = sel.recv(&rx_b);
            let got = sel.ready();
            assert_eq!(got, [ia, ib][target], "the index of the channel sent to");
            let rx = if target == 0 { &rx_a } else { &rx_b };
            let mut tally = Tally::default();
            tally.recv(rx.try_recv().expect("a ready receiver is never empty"));
            t.wait_done();
            let senders = t.join();
            assert!(!rx_a.loom_waiter_left(), "registration left in a");
            assert!(!rx_b.loom_waiter_left(), "registration left in b");
            assert_eq!(tally.received, [0]);
            drop(sel);
            drop((senders, rx_a, rx_b));
            log.assert_each_dropped_once();
        });
    }
}

/// Model 2: select ∥ the last sender of one channel dropping: that index
/// comes back, `try_recv` says `Disconnected`, and it stays ready.
#[test]
fn select_woken_by_close() {
    loom::model(|| {
        let (tx_a, rx_a) = conflate::channel::<u8>();
        let (tx_b, rx_b) = conflate::channel::<u8>();
        let t = spawn_joinable(move || drop(tx_b));
        let mut sel = Select::new();
        let _ia = sel.recv(&rx_a);
        let ib = sel.recv(&rx_b);
        assert_eq!(sel.ready(), ib);
        assert_eq!(rx_b.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(sel.try_ready(), Ok(ib), "level-triggered");
        t.wait_done();
        t.join();
        assert!(!rx_a.loom_waiter_left() && !rx_b.loom_waiter_left());
        drop(tx_a);
    });
}

/// Model 3: `ready_timeout` (the modelled timeout) ∥ a send: either the
/// index comes back, or after `Timeout` the value is there for the next
/// `try_ready`; nothing is left registered.
#[test]
fn ready_timeout_races_send() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx_a, rx_a) = conflate::channel();
        let (tx_b, rx_b) = conflate::channel::<helpers::Val>();
        let v0 = log.val(0);
        let t = spawn_joinable(move || {
            tx_a.send(v0).unwrap();
            tx_a
        });
        let mut sel = Select::new();
        let ia = sel.recv(&rx_a);
        let _ib = sel.recv(&rx_b);
        let first = sel.ready_timeout(WAIT);
        t.wait_done();
        let tx_a = t.join();
        match first {
            Ok(i) => assert_eq!(i, ia),
            Err(_) => assert_eq!(sel.try_ready(), Ok(ia), "the value raced the timeout"),
        }
        let mut tally = Tally::default();
        tally.recv(rx_a.try_recv().expect("value must be there"));
        assert!(!rx_a.loom_waiter_left() && !rx_b.loom_waiter_left());
        tally.assert_accounts_for(1, rx_a.overwritten());
        drop(sel);
        drop((tx_a, tx_b, rx_a, rx_b));
        log.assert_each_dropped_once();
    });
}

/// Model 4a: select ∥ sends on both channels from two threads: one index
/// comes back with its value there; the other value is received after.
#[test]
fn select_races_sends_on_both() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx_a, rx_a) = conflate::channel();
        let (tx_b, rx_b) = conflate::channel();
        let (v0, v1) = (log.val(0), log.val(1));
        let ta = spawn_joinable(move || {
            tx_a.send(v0).unwrap();
            tx_a
        });
        let tb = spawn_joinable(move || {
            tx_b.send(v1).unwrap();
            tx_b
        });
        let mut sel = Select::new();
        let ia = sel.recv(&rx_a);
        let ib = sel.recv(&rx_b);
        let first = sel.ready();
        let mut tally = Tally::default();
        let (rx_first, rx_second) = if first == ia {
            (&rx_a, &rx_b)
        } else {
            assert_eq!(first, ib);
            (&rx_b, &rx_a)
        };
        tally.recv(rx_first.try_recv().expect("ready, so not empty"));
        // The other one: through the same Select, which must still wake.
        let second = sel.ready();
        assert_ne!(second, first, "the first was emptied and stays open");
        tally.recv(rx_second.try_recv().expect("ready, so not empty"));
        ta.wait_done();
        tb.wait_done();
        let (tx_a, tx_b) = (ta.join(), tb.join());
        assert!(!rx_a.loom_waiter_left() && !rx_b.loom_waiter_left());
        tally.received.sort_unstable();
        assert_eq!(tally.received, [0, 1]);
        drop(sel);
        drop((tx_a, tx_b, rx_a, rx_b));
        log.assert_each_dropped_once();
    });
}

/// Model 4b: select ∥ a send on one channel and the close of the other:
/// whichever is chosen first, both become visible, the close only as
/// `Disconnected` of its own channel.
#[test]
fn select_races_send_and_close() {
    loom::model(|| {
        let log = DropLog::new(1);
        let (tx_a, rx_a) = conflate::channel();
        let (tx_b, rx_b) = conflate::channel::<helpers::Val>();
        let v0 = log.val(0);
        let ta = spawn_joinable(move || {
            tx_a.send(v0).unwrap();
            tx_a
        });
        let tb = spawn_joinable(move || drop(tx_b));
        let mut sel = Select::new();
        let ia = sel.recv(&rx_a);
        let ib = sel.recv(&rx_b);
        let mut tally = Tally::default();
        let mut closed_seen = false;
        while tally.received.is_empty() || !closed_seen {
            let i = sel.ready();
            if i == ia {
                tally.recv(rx_a.try_recv().expect("ready, so not empty"));
            } else {
                assert_eq!(i, ib);
                assert_eq!(rx_b.try_recv().unwrap_err(), TryRecvError::Disconnected);
                closed_seen = true;
                sel.remove(ib);
            }
        }
        ta.wait_done();
        tb.wait_done();
        let tx_a = ta.join();
        tb.join();
        assert!(!rx_a.loom_waiter_left() && !rx_b.loom_waiter_left());
        assert_eq!(tally.received, [0]);
        drop(sel);
        drop((tx_a, rx_a, rx_b));
        log.assert_each_dropped_once();
    });
}

/// Which plain receive model 5 runs after the `Select`.
#[derive(Clone, Copy, Debug)]
enum Plain {
    Recv,
    RecvTimeout,
    RecvAsync,
}

/// Model 5: a registration left by a `Select` and claimed late by a sender
/// ∥ a later plain receive on that receiver: `recv`, `recv_timeout` and
/// `recv_async` still wake and get the value.
#[test]
fn late_claimed_registration_then_plain_receive() {
    for plain in [Plain::Recv, Plain::RecvTimeout, Plain::RecvAsync] {
        loom::model(move || {
            let log = DropLog::new(2);
            let (tx_a, rx_a) = conflate::channel();
            let (tx_b, mut rx_b) = conflate::channel();
            let (v0, v1) = (log.val(0), log.val(1));
            let ta = spawn_joinable(move || {
                tx_a.send(v0).unwrap();
                tx_a
            });
            // b's send races the Select: it may claim the Select's
            // registration in b after `ready` already chose a.
            let tb = spawn_joinable(move || {
                tx_b.send(v1).unwrap();
                tx_b
            });
            let mut tally = Tally::default();
            let mut rx_a = rx_a;
            let got_a = {
                let mut sel = Select::new();
                let ia = sel.recv(&rx_a);
                let _ib = sel.recv(&rx_b);
                let got_a = sel.ready() == ia;
                let rx = if got_a { &rx_a } else { &rx_b };
                tally.recv(rx.try_recv().expect("ready, so not empty"));
                got_a
            };
            // A plain receive on the other one, whose registration the
            // Select took back or whose sender claimed it late.
            let left = if got_a { &mut rx_b } else { &mut rx_a };
            tally.recv(plain_receive(plain, left));
            ta.wait_done();
            tb.wait_done();
            let senders = (ta.join(), tb.join());
            assert!(!rx_a.loom_waiter_left() && !rx_b.loom_waiter_left());
            tally.received.sort_unstable();
            assert_eq!(tally.received, [0, 1]);
            drop((senders, rx_a, rx_b));
            log.assert_each_dropped_once();
        });
    }
}

/// One blocking receive of the given kind, which must return a value.
fn plain_receive(plain: Plain, rx: &mut conflate::Receiver<helpers::Val>) -> helpers::Val {
    match plain {
        Plain::Recv => rx.recv().expect("sender alive"),
        Plain::RecvTimeout => loop {
            // A modelled timeout may come first; the value then stays.
            if let Ok(v) = rx.recv_timeout(WAIT) {
                break v;
            }
        },
        Plain::RecvAsync => block_on(rx.recv_async()).expect("sender alive"),
    }
}
