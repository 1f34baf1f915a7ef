//! Several observers of one Raft node's leadership through a
//! `conflate::Publisher`, one of which subscribes late and starts from the
//! current state.
//!
//! Run it with
//!
//! ```text
//! cargo run --release --example observers
//! ```
//!
//! * The **Raft thread** runs `ELECTIONS` elections, one every `ELECTION`,
//!   and publishes each outcome `(term, is_leader)` with `Publisher::send`,
//!   which never waits for any observer. The node wins every third term.
//!   At the end it drops the publisher, which closes every subscriber after
//!   its last value, and then the shutdown sender.
//! * The **leader loop** waits with `conflate::Select` on its subscriber and
//!   on a shutdown `conflate::channel::<()>()` on which nothing is sent:
//!   dropping the sender makes it ready. Each time it becomes leader it does
//!   `LEADER_SETUP` of work, during which states pile up and conflate.
//! * The **metrics** observer counts every state it receives.
//! * The **health** observer subscribes late, once half the elections have
//!   been published, and starts from the state current at that moment.
//!
//! Every observer checks, with `skipped()`, that each value it receives is
//! the term it says (one sending thread: receiving term `v` right after `u`
//! gives `skipped() == v - u - 1`), and that it ends on the last state. The
//! health observer checks that its first value, ready at once, is the
//! state published before it subscribed or a later one (a send racing the
//! `subscribe` call may deliver that value once more, right after). A failed check
//! panics, so the process exits with a non-zero status.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use conflate::{Publisher, Receiver, Select, TryRecvError};

/// Elections the Raft thread runs.
const ELECTIONS: u64 = 600;
/// Time between two elections.
const ELECTION: Duration = Duration::from_micros(200);
/// The leader loop's work on becoming leader.
const LEADER_SETUP: Duration = Duration::from_millis(1);

/// Whether the node wins the election of `term`.
const fn leads(term: u64) -> bool {
    term.is_multiple_of(3)
}

/// The last state of the run.
const LAST: (u64, bool) = (ELECTIONS, leads(ELECTIONS));

/// What one observer has seen; `see` checks each value against `skipped()`.
#[derive(Default)]
struct Seen {
    last: Option<(u64, bool)>,
    received: u64,
    skipped: u64,
}

impl Seen {
    /// Records `state`, just received on `rx`. `exact` says whether
    /// `skipped()` must account for every term since the last one (not for
    /// a late subscriber's first value, put there by `subscribe`).
    fn see(&mut self, who: &str, rx: &Receiver<(u64, bool)>, state: (u64, bool), exact: bool) {
        let previous = self.last.map_or(0, |(term, _)| term);
        assert!(
            state.0 > previous,
            "{who}: term {} after {previous}",
            state.0
        );
        if exact {
            assert_eq!(
                state.0 - previous - 1,
                rx.skipped(),
                "{who}: skipped() must count the terms missed before {}",
                state.0
            );
        }
        assert_eq!(state.1, leads(state.0), "{who}: wrong leadership");
        self.last = Some(state);
        self.received += 1;
        self.skipped += rx.skipped();
    }
}

fn main() {
    let t0 = Instant::now();
    let publisher = Arc::new(Publisher::new());
    // The term of the last state published, for the health observer's check.
    let published = Arc::new(AtomicU64::new(0));
    let leadership = publisher.subscribe();
    let metrics_rx = publisher.subscribe();
    let (shutdown_tx, shutdown_rx) = conflate::channel::<()>();

    let raft = {
        let (publisher, published) = (publisher.clone(), published.clone());
        thread::spawn(move || {
            let mut reached = 0;
            for term in 1..=ELECTIONS {
                thread::sleep(ELECTION);
                reached = publisher.send((term, leads(term))); // never waits
                // ORDERING: Release: the health observer's Acquire load sees
                // a term only after its send.
                published.store(term, Ordering::Release);
            }
            drop(publisher); // the last `Arc`: closes every subscriber
            drop(shutdown_tx);
            reached
        })
    };

    let leader_loop = thread::spawn(move || {
        let mut seen = Seen::default();
        let mut terms_led = 0;
        let mut sel = Select::new();
        let lead = sel.recv(&leadership);
        let stop = sel.recv(&shutdown_rx);
        while sel.ready() != stop {
            match leadership.try_recv() {
                Ok(state) => {
                    seen.see("leader loop", &leadership, state, true);
                    if state.1 {
                        terms_led += 1;
                        thread::sleep(LEADER_SETUP); // establish leadership
                    }
                }
                // The publisher is gone; keep waiting for the shutdown.
                Err(TryRecvError::Disconnected) => sel.remove(lead),
                Err(TryRecvError::Empty) => unreachable!("Select said ready"),
            }
        }
        // The shutdown may have been chosen before the last state.
        if let Ok(state) = leadership.try_recv() {
            seen.see("leader loop", &leadership, state, true);
        }
        (seen, terms_led)
    });

    let metrics = thread::spawn(move || {
        let mut seen = Seen::default();
        for state in &metrics_rx {
            seen.see("metrics", &metrics_rx, state, true);
        }
        assert_eq!(
            seen.skipped,
            metrics_rx.overwritten(),
            "metrics: the skipped() counts add up to overwritten()"
        );
        assert_eq!(
            seen.received + metrics_rx.overwritten(),
            ELECTIONS,
            "metrics: every state received or overwritten, exactly once"
        );
        seen
    });

    let health = {
        let publisher = publisher.clone();
        thread::spawn(move || {
            // ORDERING: Acquire: see the Raft thread's store.
            while published.load(Ordering::Acquire) < ELECTIONS / 2 {
                thread::sleep(Duration::from_millis(1));
            }
            let before = published.load(Ordering::Acquire);
            let rx = publisher.subscribe();
            drop(publisher);
            let first = rx
                .try_recv()
                .expect("health: a late subscriber starts from the current state");
            assert!(
                first.0 >= before,
                "health: started from term {}, older than term {before}",
                first.0
            );
            let mut seen = Seen::default();
            seen.see("health", &rx, first, false);
            let mut repeated = false;
            for state in &rx {
                // A send racing `subscribe` may deliver the first value
                // again, right after it (and no other value twice).
                if state == first && seen.received == 1 && !repeated {
                    repeated = true;
                    continue;
                }
                seen.see("health", &rx, state, true);
            }
            (before, first, seen)
        })
    };
    drop(publisher); // the Raft thread's and the health observer's remain

    let reached = raft.join().expect("raft thread panicked");
    let (leader, terms_led) = leader_loop.join().expect("leader loop panicked");
    let metrics = metrics.join().expect("metrics panicked");
    let (before, first, health) = health.join().expect("health panicked");

    println!(
        "raft: {ELECTIONS} elections, last state {LAST:?}, last send reached {reached} subscribers"
    );
    println!(
        "leader loop: {} states received, {} skipped, led {terms_led} terms, ended on {:?}",
        leader.received, leader.skipped, leader.last
    );
    println!(
        "metrics: {} states received, {} skipped, ended on {:?}",
        metrics.received, metrics.skipped, metrics.last
    );
    println!(
        "health: subscribed late after term {before} was published; started from {first:?} \
         (the current state); {} states received, ended on {:?}",
        health.received, health.last
    );
    assert_eq!(reached, 3, "the last send reaches all three observers");
    for (who, seen) in [
        ("leader loop", &leader),
        ("metrics", &metrics),
        ("health", &health),
    ] {
        assert_eq!(seen.last, Some(LAST), "{who} must end on the last state");
    }
    println!("all checks passed in {:.2?}", t0.elapsed());
}
