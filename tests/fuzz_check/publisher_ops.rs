//! The `Publisher` part of the single-threaded check (API.md rule 12): a
//! publisher of its own, driven by the script's publisher operations and
//! compared after every step with a sequential model that keeps the latest
//! value and, per subscriber, its slot, `overwritten()`, `skipped()` and
//! whether the publisher is gone.
//!
//! The payload is `Copies`: a clonable value that counts its live
//! instances per value id, so after every step each value must be alive
//! exactly as often as the model holds it (once per subscriber slot, once
//! as the publisher's latest value): a leak, a double drop, or a displaced
//! value not dropped at its displacement all show at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use arbitrary::Arbitrary;
use conflate::{Publisher, Receiver, TryRecvError};

/// Most subscribers alive at once: enough to span three of the publisher's
/// slot segments (4, 8, 16 slots).
const MAX_SUBSCRIBERS: usize = 20;

#[derive(Arbitrary, Debug)]
pub(super) enum PubOp {
    Subscribe,
    DropSubscriber { sub: u8 },
    Send,
    TryRecv { sub: u8 },
    SubscriberCount,
    DropPublisher,
}

/// Live instances per value id.
pub(super) struct CopyLedger {
    live: Vec<AtomicI64>,
    clones: AtomicU64,
}

impl CopyLedger {
    pub(super) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(CopyLedger {
            live: (0..capacity).map(|_| AtomicI64::new(0)).collect(),
            clones: AtomicU64::new(0),
        })
    }

    fn live(&self, id: usize) -> i64 {
        self.live[id].load(Ordering::Relaxed)
    }
}

/// A value sent through the publisher; every instance counts itself.
pub(super) struct Copies {
    id: usize,
    ledger: Arc<CopyLedger>,
}

impl Copies {
    fn new(id: usize, ledger: &Arc<CopyLedger>) -> Self {
        ledger.live[id].fetch_add(1, Ordering::Relaxed);
        Copies {
            id,
            ledger: Arc::clone(ledger),
        }
    }
}

impl Clone for Copies {
    fn clone(&self) -> Self {
        self.ledger.clones.fetch_add(1, Ordering::Relaxed);
        Copies::new(self.id, &self.ledger)
    }
}

impl Drop for Copies {
    fn drop(&mut self) {
        self.ledger.live[self.id].fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Copies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Copies({})", self.id)
    }
}

/// One subscriber and its model.
struct Sub {
    rx: Receiver<Copies>,
    slot: Option<usize>,
    overwritten: u64,
    displaced_since_take: u64,
    skipped: u64,
}

/// The publisher under test and its model.
pub(super) struct PubHarness {
    ledger: Arc<CopyLedger>,
    publisher: Option<Publisher<Copies>>,
    /// The model's latest value (while the publisher lives).
    latest: Option<usize>,
    subs: Vec<Sub>,
    next_id: usize,
}

impl PubHarness {
    /// `capacity`: how many values the script can send.
    pub(super) fn new(capacity: usize) -> Self {
        PubHarness {
            ledger: CopyLedger::new(capacity),
            publisher: Some(Publisher::new()),
            latest: None,
            subs: Vec::new(),
            next_id: 0,
        }
    }

    pub(super) fn run(&mut self, op: PubOp, step: usize) {
        match op {
            PubOp::Subscribe => {
                let Some(p) = &self.publisher else { return };
                if self.subs.len() >= MAX_SUBSCRIBERS {
                    return;
                }
                let rx = p.subscribe();
                self.subs.push(Sub {
                    rx,
                    slot: self.latest,
                    overwritten: 0,
                    displaced_since_take: 0,
                    skipped: 0,
                });
            }
            PubOp::DropSubscriber { sub } => {
                if !self.subs.is_empty() {
                    let i = usize::from(sub) % self.subs.len();
                    drop(self.subs.remove(i));
                }
            }
            PubOp::Send => {
                let Some(p) = &self.publisher else { return };
                let id = self.next_id;
                self.next_id += 1;
                let clones = self.ledger.clones.load(Ordering::Relaxed);
                let put = p.send(Copies::new(id, &self.ledger));
                assert_eq!(put, self.subs.len(), "step {step}: send's count");
                let made = self.ledger.clones.load(Ordering::Relaxed) - clones;
                assert!(
                    made <= put as u64 + 1,
                    "step {step}: {made} clones for {put} subscribers"
                );
                for sub in &mut self.subs {
                    if sub.slot.replace(id).is_some() {
                        sub.overwritten += 1;
                        sub.displaced_since_take += 1;
                    }
                }
                self.latest = Some(id);
            }
            PubOp::TryRecv { sub } => {
                if self.subs.is_empty() {
                    return;
                }
                let i = usize::from(sub) % self.subs.len();
                let closed = self.publisher.is_none();
                let sub = &mut self.subs[i];
                let got = sub.rx.try_recv();
                match (got, sub.slot.take()) {
                    (Ok(value), Some(id)) => {
                        assert_eq!(value.id, id, "step {step}: subscriber {i} received");
                        sub.skipped = sub.displaced_since_take;
                        sub.displaced_since_take = 0;
                    }
                    (Err(TryRecvError::Empty), None) if !closed => {}
                    (Err(TryRecvError::Disconnected), None) if closed => {}
                    (got, want) => panic!(
                        "step {step}: subscriber {i} try_recv gave {got:?}, model has {want:?} \
                         (publisher dropped: {closed})"
                    ),
                }
            }
            PubOp::SubscriberCount => {
                if let Some(p) = &self.publisher {
                    assert_eq!(
                        p.subscriber_count(),
                        self.subs.len(),
                        "step {step}: subscriber_count"
                    );
                }
            }
            PubOp::DropPublisher => {
                if self.publisher.take().is_some() {
                    self.latest = None;
                }
            }
        }
        self.check(step);
    }

    /// Every subscriber's observable state, and every value's copies.
    fn check(&self, step: usize) {
        let closed = self.publisher.is_none();
        for (i, sub) in self.subs.iter().enumerate() {
            assert_eq!(
                sub.rx.is_empty(),
                sub.slot.is_none(),
                "step {step}: {i} is_empty"
            );
            assert_eq!(
                sub.rx.is_disconnected(),
                closed,
                "step {step}: {i} is_disconnected"
            );
            assert_eq!(
                sub.rx.overwritten(),
                sub.overwritten,
                "step {step}: {i} overwritten"
            );
            assert_eq!(sub.rx.skipped(), sub.skipped, "step {step}: {i} skipped");
        }
        for id in 0..self.next_id {
            let held = self.subs.iter().filter(|s| s.slot == Some(id)).count();
            let kept = usize::from(self.latest == Some(id));
            assert_eq!(
                self.ledger.live(id),
                (held + kept) as i64,
                "step {step}: live copies of value {id} ({held} in subscribers' slots, \
                 {kept} as the latest)"
            );
        }
    }

    /// Drops everything (publisher first or last) and checks that no copy
    /// of any value is left.
    pub(super) fn finish(mut self, publisher_first: bool, step: usize) {
        if publisher_first {
            self.run(PubOp::DropPublisher, step);
            // Each subscriber still gets its pending value, then the end.
            for i in 0..self.subs.len() {
                let sub = u8::try_from(i).expect("few subscribers");
                self.run(PubOp::TryRecv { sub }, step);
                self.run(PubOp::TryRecv { sub }, step);
            }
        }
        self.subs.clear();
        self.publisher = None;
        self.latest = None;
        for id in 0..self.next_id {
            assert_eq!(
                self.ledger.live(id),
                0,
                "value {id}: copies left after everything was dropped"
            );
        }
    }
}
