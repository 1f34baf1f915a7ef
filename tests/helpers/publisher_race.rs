//! A `Publisher` race shared by `tests/publisher.rs` (small) and
//! `tests/stress.rs` (long): sending threads publish numbered values while
//! observer threads subscribe, receive and drop subscribers at random; then
//! every handle to the publisher is dropped and each observer drains the
//! subscribers it still holds to `Disconnected`.
//!
//! Each value is a [`Cloned`] payload, so after the run every instance the
//! publisher made (by `clone`) must have been dropped exactly once. A value
//! is `sender << 32 | n` for the `n`-th value of sending thread `sender`.
//!
//! What is checked for every subscriber, whatever the interleaving (API.md
//! rule 12, and rules 1-11 on its own channel):
//!
//! - it never receives a value that has not been sent (`n` at most the
//!   sender's progress counter, read after the receive);
//! - per sending thread, values never go back, and no value comes twice,
//!   except its very first value: a send racing `subscribe` may both be the
//!   value the subscriber starts with and reach its channel itself;
//! - `subscribe` starts from the latest value: each sender stores, after
//!   each `send` returns, how many it has sent; with one sender, a
//!   subscriber whose `subscribe` began after `k` sends had returned
//!   already holds a value when `subscribe` returns, and it is at least
//!   `k - 1` (the latest sent before the call; a later one may have raced
//!   in);
//! - with one sender, `skipped()` is exact for every pair of values after
//!   the first (`v - u - 1`), and the pair after the first may count the
//!   first value's racing copy too (`v - u - 1` or `v - u`); `skipped()`
//!   sums to at most `overwritten()` (plus one: that may trail the send in
//!   progress, rule 7), and to exactly that once the subscriber is
//!   drained. With two senders `skipped()` is not checked: their puts
//!   overlap (see `tests/skipped.rs`); a new subscriber's
//!   `skipped()` is 0, and its `overwritten()` counts at most the sends
//!   from the one in progress when `subscribe` began to the one in progress
//!   when it returned (a racing send may displace the starting value in the
//!   new channel before `subscribe` returns);
//! - a `Select` over an observer's subscribers names one that a `try_recv`
//!   then finds non-empty (rule 10);
//! - `subscriber_count()` is at least the number of subscribers the asking
//!   observer holds;
//! - after the drain, the subscriber ends on the last value of one of the
//!   sending threads: with one sender, on its last value, `N - 1`; with two,
//!   on one of their two last values (racing sends reach subscribers in no
//!   agreed order, as the `Publisher` docs say). That is rule 12's "no
//!   subscriber ever ends on a value older than the publisher's latest".

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use conflate::{Publisher, Receiver, Select, TryRecvError};

use super::{CloneLog, Cloned, Rng, dawdle, within_limit};

/// The shape of one run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Race {
    /// Sending threads (1 or 2).
    pub(crate) senders: u64,
    /// Values each sender sends.
    pub(crate) values: u64,
    /// Observer threads.
    pub(crate) observers: u64,
    /// Random steps each observer takes at least (it goes on until every
    /// sender is done).
    pub(crate) steps: u64,
    /// Most subscribers an observer holds at once.
    pub(crate) max_held: usize,
    pub(crate) seed: u64,
}

/// What the run saw, for the caller to print or check further.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) subscribes: u64,
    pub(crate) received: u64,
    /// Subscribers still held at the end, each drained and checked.
    pub(crate) drained: u64,
    /// Subscribers whose first value came back a second time.
    pub(crate) repeated_first: u64,
}

/// One subscriber as an observer sees it.
struct Sub<'a> {
    rx: Receiver<Cloned<'a>>,
    /// Values received (value, skipped()).
    got: Vec<(u64, u64)>,
    /// Per sender, the last `n` received.
    last: [Option<u64>; 2],
    first_repeated: bool,
    skipped_sum: u64,
}

struct Shared<'a> {
    publisher: Publisher<Cloned<'a>>,
    /// Per sender, how many of its sends have returned.
    sent: [AtomicU64; 2],
    senders_done: AtomicBool,
}

impl Race {
    /// Runs the race and checks everything listed in the module docs.
    pub(crate) fn run(self) -> Totals {
        assert!((1..=2).contains(&self.senders));
        // The first instances one by one, the rest in the totals.
        let log = CloneLog::new((self.values as usize * 4).min(1 << 20));
        let totals = thread::scope(|s| {
            let shared = Arc::new(Shared {
                publisher: Publisher::new(),
                sent: [AtomicU64::new(0), AtomicU64::new(0)],
                senders_done: AtomicBool::new(false),
            });
            let log = &log;
            let senders: Vec<_> = (0..self.senders)
                .map(|who| {
                    let shared = Arc::clone(&shared);
                    within_limit(s, "publisher sender", move || {
                        let mut rng = Rng::new(self.seed ^ ((who + 1) * 0x51));
                        for n in 0..self.values {
                            shared.publisher.send(log.value(who << 32 | n));
                            shared.sent[who as usize].store(n + 1, Ordering::SeqCst);
                            dawdle(&mut rng);
                        }
                    })
                })
                .collect();
            let observers: Vec<_> = (0..self.observers)
                .map(|i| {
                    let shared = Arc::clone(&shared);
                    within_limit(s, "publisher observer", move || {
                        self.observe(shared, self.seed.wrapping_add(1000 + i))
                    })
                })
                .collect();
            for sender in senders {
                sender.join();
            }
            shared.senders_done.store(true, Ordering::SeqCst);
            // The observers hold the other handles; the last one to let go
            // drops the publisher, which closes every subscriber.
            drop(shared);
            let mut totals = Totals::default();
            for observer in observers {
                let t = observer.join();
                totals.subscribes += t.subscribes;
                totals.received += t.received;
                totals.drained += t.drained;
                totals.repeated_first += t.repeated_first;
            }
            totals
        });
        log.assert_all_dropped_once();
        totals
    }

    /// One observer: random steps, then the drain.
    fn observe<'a>(self, shared: Arc<Shared<'a>>, seed: u64) -> Totals {
        let mut rng = Rng::new(seed);
        let mut held: Vec<Sub<'a>> = Vec::new();
        let mut totals = Totals::default();
        let mut step = 0;
        while step < self.steps || !shared.senders_done.load(Ordering::SeqCst) {
            step += 1;
            match rng.below(16) {
                0..=2 if held.len() < self.max_held => {
                    held.push(self.subscribe(&shared, &mut rng));
                    totals.subscribes += 1;
                }
                3 if !held.is_empty() => {
                    let sub = held.swap_remove(rng.below(held.len() as u64) as usize);
                    self.retire(&mut totals, sub, false);
                }
                4 => {
                    let count = shared.publisher.subscriber_count();
                    assert!(
                        count >= held.len(),
                        "{count} subscribers, I hold {}",
                        held.len()
                    );
                }
                5 if !held.is_empty() => self.select(&shared, &mut held, &mut rng),
                _ if !held.is_empty() => {
                    let i = rng.below(held.len() as u64) as usize;
                    let got = if rng.one_in(4) && !cfg!(miri) {
                        held[i]
                            .rx
                            .recv_timeout(Duration::from_micros(rng.below(50)))
                            .map_err(|_| ())
                    } else {
                        held[i].rx.try_recv().map_err(|_| ())
                    };
                    if let Ok(v) = got {
                        self.record(&shared, &mut held[i], v);
                    }
                }
                _ => {}
            }
            dawdle(&mut rng);
        }
        drop(shared);
        for mut sub in held {
            // Every handle goes away, so each drain ends. Every send has
            // returned (the loop above ran until they had).
            while let Ok(v) = sub.rx.recv() {
                let skipped = sub.rx.skipped();
                Self::check_value(&mut sub, v.value(), skipped, self.values - 1);
                if self.senders == 1 {
                    Self::check_skipped(&sub);
                }
            }
            self.retire(&mut totals, sub, true);
        }
        totals
    }

    fn subscribe<'a>(self, shared: &Shared<'a>, rng: &mut Rng) -> Sub<'a> {
        let before = shared.sent[0].load(Ordering::SeqCst);
        let mut sub = Sub {
            rx: shared.publisher.subscribe(),
            got: Vec::new(),
            last: [None; 2],
            first_repeated: false,
            skipped_sum: 0,
        };
        // Its own counts: nothing received yet, so `skipped()` is 0. Sends
        // racing the call (and the ones since) may already have displaced
        // values in its channel (the starting value, then each other), but
        // only sends from the one in progress when the call began on.
        assert_eq!(sub.rx.skipped(), 0, "a new subscriber's own count");
        if self.senders == 1 {
            // In this order: sends after `after` cannot have counted yet.
            let overwritten = sub.rx.overwritten();
            let after = shared.sent[0].load(Ordering::SeqCst);
            assert!(
                overwritten <= after + 1 - before,
                "a new subscriber's channel saw {overwritten} displacements, \
                 but only sends {before}..={after} can have reached it"
            );
        }
        // With one sender, a value sent before the call is there at once.
        if self.senders == 1 && before > 0 {
            let v = sub.rx.try_recv().unwrap_or_else(|e| {
                panic!("subscribed after {before} sends, but the receiver holds nothing: {e:?}")
            });
            let n = v.value();
            assert!(
                n + 1 >= before,
                "subscribed after {before} sends (latest {}), started from {n}",
                before - 1
            );
            self.record(shared, &mut sub, v);
        } else if rng.one_in(2)
            && let Ok(v) = sub.rx.try_recv()
        {
            self.record(shared, &mut sub, v);
        }
        sub
    }

    /// A `Select` over every held subscriber: the one it names has a value.
    fn select<'a>(self, shared: &Shared<'a>, held: &mut [Sub<'a>], rng: &mut Rng) {
        let picked = {
            let mut sel = Select::new();
            for sub in held.iter() {
                sel.recv(&sub.rx);
            }
            if rng.one_in(2) || cfg!(miri) {
                sel.try_ready().ok()
            } else {
                sel.ready_timeout(Duration::from_micros(rng.below(50))).ok()
            }
        };
        if let Some(i) = picked {
            match held[i].rx.try_recv() {
                Ok(v) => self.record(shared, &mut held[i], v),
                // The publisher is alive (this observer holds a handle).
                Err(e) => panic!("Select named subscriber {i}, then try_recv: {e:?}"),
            }
        }
    }

    fn record(self, shared: &Shared<'_>, sub: &mut Sub<'_>, v: Cloned<'_>) {
        let skipped = sub.rx.skipped();
        let value = v.value();
        let who = (value >> 32) as usize;
        let sent = shared.sent[who].load(Ordering::SeqCst);
        Self::check_value(sub, value, skipped, sent);
        drop(v);
        if self.senders == 1 {
            Self::check_skipped(sub);
        }
    }

    /// The checks every received value gets, in the race or the drain.
    /// `sent`: how many sends of the value's sender had returned when it
    /// was received (the one in progress then sends number `sent`).
    fn check_value(sub: &mut Sub<'_>, value: u64, skipped: u64, sent: u64) {
        let (who, n) = ((value >> 32) as usize, value & 0xFFFF_FFFF);
        assert!(n <= sent, "received {n} of sender {who}, only {sent} sent");
        let first = sub.got.first().map(|&(v, _)| v);
        if let Some(last) = sub.last[who] {
            let repeat_of_first = n == last && first == Some(value) && !sub.first_repeated;
            assert!(
                n > last || repeat_of_first,
                "sender {who}: received {n} after {last} (values so far {:?})",
                sub.got
            );
            sub.first_repeated |= repeat_of_first;
        }
        sub.last[who] = Some(n);
        sub.got.push((value, skipped));
        sub.skipped_sum += skipped;
    }

    /// One sender: `skipped()` of the value just received.
    fn check_skipped(sub: &Sub<'_>) {
        // `overwritten()` may trail the displacing send still in progress
        // (rule 7), by one with one sender.
        let overwritten = sub.rx.overwritten();
        assert!(
            sub.skipped_sum <= overwritten + 1,
            "skipped() sums to {}, overwritten() is {overwritten}",
            sub.skipped_sum
        );
        let k = sub.got.len();
        if k < 2 {
            return;
        }
        let (first, _) = sub.got[0];
        let (u, _) = sub.got[k - 2];
        let (v, skipped) = sub.got[k - 1];
        assert!(
            u < v || (u == first && k == 2),
            "{v} after {u}: {:?}",
            sub.got
        );
        // After the first value, its racing copy may have been displaced
        // too (or be the value received now, with skipped 0).
        let most = if k == 2 { v - u } else { v - u - 1 };
        let want = most.saturating_sub(u64::from(k == 2));
        assert!(
            (want..=most).contains(&skipped),
            "received {v} right after {u} (value {k} of this subscriber): skipped() {skipped}, \
             want {want}..={most}"
        );
    }

    /// A subscriber let go of: dropped in the race, or drained at the end.
    fn retire(self, totals: &mut Totals, sub: Sub<'_>, drained: bool) {
        totals.received += sub.got.len() as u64;
        totals.repeated_first += u64::from(sub.first_repeated);
        if !drained {
            return;
        }
        totals.drained += 1;
        assert_eq!(sub.rx.try_recv(), Err(TryRecvError::Disconnected));
        if self.senders == 1 {
            assert_eq!(
                sub.skipped_sum,
                sub.rx.overwritten(),
                "drained: skipped() sums to overwritten() (rule 11)"
            );
        }
        let last = sub.got.last().map(|&(v, _)| v);
        let ends: Vec<u64> = (0..self.senders)
            .map(|who| who << 32 | (self.values - 1))
            .collect();
        assert!(
            last.is_some_and(|v| ends.contains(&v)),
            "a drained subscriber ended on {last:?}, not on a last value {ends:?} \
             (received {} values)",
            sub.got.len()
        );
    }
}
