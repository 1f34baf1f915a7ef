//! Loom model of a displaced value whose `Drop` panics: the `send` that
//! displaced it has already taken effect when the panic unwinds out of it,
//! and the channel stays consistent for a racing receiver.
#![cfg(loom)]

mod helpers;

use std::panic::{AssertUnwindSafe, catch_unwind};

use helpers::DropLog;
use loom::thread;

/// A payload that panics when dropped while armed. It counts the drop in
/// its log before panicking, so a double drop still shows up.
#[derive(Debug)]
struct Bomb {
    val: helpers::Val,
    armed: bool,
}

impl Bomb {
    /// Disarms the bomb and returns its payload id.
    fn defuse(mut self) -> usize {
        self.armed = false;
        self.val.id
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.armed && !std::thread::panicking() {
            panic!("bomb {} dropped", self.val.id);
        }
    }
}

/// Keeps the expected bomb panics (one per explored interleaving) out of
/// the output; any other panic is reported as usual.
fn quiet_bomb_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.payload().downcast_ref::<String>();
        if !msg.is_some_and(|m| m.starts_with("bomb ")) {
            report(info);
        }
    }));
}

/// An armed value waits; `send` of a new value ∥ `try_recv`. If the send
/// displaces the bomb, its panic unwinds out of `send` with the new value
/// already in the slot and counted as one overwrite; if the receiver took
/// the bomb first, the send is quiet. Either way every value is dropped
/// exactly once and the receiver then gets the new value.
#[test]
fn panicking_displaced_drop_races_try_recv() {
    quiet_bomb_panics();
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx, rx) = conflate::channel();
        tx.send(Bomb {
            val: log.val(0),
            armed: true,
        })
        .unwrap();
        let new = Bomb {
            val: log.val(1),
            armed: false,
        };
        let t = thread::spawn(move || {
            let panicked = catch_unwind(AssertUnwindSafe(|| tx.send(new).unwrap())).is_err();
            (tx, panicked)
        });
        let first = rx.try_recv().ok().map(Bomb::defuse);
        let (tx, panicked) = t.join().unwrap();
        let second = rx.try_recv().ok().map(Bomb::defuse);
        match (first, second, panicked) {
            // The receiver took the bomb before the send: no panic.
            (Some(0), Some(1), false) => assert_eq!(rx.overwritten(), 0),
            // The send displaced the bomb and its drop panicked; the new
            // value was in place already (maybe received by the racing
            // try_recv) and the displacement was counted.
            (None, Some(1), true) | (Some(1), None, true) => {
                assert_eq!(rx.overwritten(), 1);
            }
            other => panic!("unexpected (first, second, panicked): {other:?}"),
        }
        assert!(rx.try_recv().unwrap_err().is_empty());
        assert_eq!(log.drops(0), 1, "the bomb was not dropped exactly once");
        drop((tx, rx));
        log.assert_each_dropped_once();
    });
}

/// An armed value waits; `send` ∥ receiver drop. Whichever of them drops the
/// bomb sees its panic (the send, displacing it; or the receiver's drop,
/// sweeping it); the other call is quiet. Every value is dropped once and
/// the channel is freed (loom's leak check) despite the unwinding.
#[test]
fn panicking_drop_races_receiver_drop() {
    quiet_bomb_panics();
    loom::model(|| {
        let log = DropLog::new(2);
        let (tx, rx) = conflate::channel();
        tx.send(Bomb {
            val: log.val(0),
            armed: true,
        })
        .unwrap();
        let new = Bomb {
            val: log.val(1),
            armed: false,
        };
        let t = thread::spawn(move || {
            let sent = catch_unwind(AssertUnwindSafe(|| tx.send(new).is_ok()));
            (tx, sent)
        });
        let rx_drop_panicked = catch_unwind(AssertUnwindSafe(|| drop(rx))).is_err();
        let (tx, sent) = t.join().unwrap();
        match sent {
            // The send displaced the bomb: it took effect before the drop.
            Err(_) => assert!(!rx_drop_panicked, "the bomb went off twice"),
            // The send was refused or swept: the receiver's drop met the
            // bomb in the slot.
            Ok(_) => assert!(rx_drop_panicked, "the bomb was never dropped"),
        }
        assert_eq!(log.drops(0), 1, "the bomb was not dropped exactly once");
        assert!(tx.is_disconnected());
        drop(tx);
        log.assert_each_dropped_once();
    });
}
