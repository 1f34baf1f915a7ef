//! Multi-threaded check: one consumer thread and one or two producer threads
//! run fuzzer-chosen scripts on real threads; after joining, the recorded
//! results are checked against what API.md guarantees for *every*
//! interleaving. The interleaving itself is up to the OS, so nothing here
//! assumes one.
//!
//! What is claimed, and why it holds under concurrency:
//!
//! - Exactly once (rule 2): every value made ends exactly once: received,
//!   returned by `replace`, handed back in `SendError`, or dropped once.
//! - Drops happen where the contract puts them: a producer's `send` drops
//!   at most the one value it displaced (never the value it was given and
//!   reported as accepted), its `replace` and a refused call drop nothing, and dropping a sender drops nothing; the consumer thread
//!   drops at most the one value in the slot when it drops the receiver
//!   (rule 5); the main thread, which only drains, drops nothing.
//! - Per producer, the consumer receives values in send order: a producer's
//!   later value can only be put after its earlier one, and the slot never
//!   brings an older value back.
//! - Once a producer sees the receiver gone (`SendError` or
//!   `is_disconnected`), it stays gone; with the receiver alive to the end
//!   there is no `SendError` at all.
//! - Only the consumer takes values out, so after `is_empty() == false` the
//!   consumer's next `try_recv` gets a value.
//! - Once the consumer sees every sender gone (`Disconnected` or
//!   `is_disconnected`), at most one more value comes (the last one, rule 4)
//!   and no receive reports `Empty`/`Timeout`; after a `Disconnected`, every
//!   receive reports `Disconnected`.
//! - Final drain (receiver kept, every producer joined): the receiver is
//!   disconnected; the first receive returns a value or `Disconnected`, and
//!   after it everything is `Disconnected`. A drained value is the last
//!   successful put of its producer (any earlier one was displaced by that
//!   producer's next put). If nothing is drained, the globally last put was
//!   taken by the consumer, so some producer's last put was received.
//! - Counting (rule 7): every displacement is a value that `replace` handed
//!   back or that a producer's `send` dropped. With the receiver kept to the
//!   end, `overwritten()` after joining equals that number exactly; every
//!   reading the consumer took is at most that number, never decreases, and
//!   is at least the displacements that producers had published (after
//!   their calls returned) before the reading started.
//!
//! - `Select` (rule 10): only the consumer takes values out, so after a
//!   `Select` over the receiver returned its index, the next `try_recv`
//!   never reports `Empty`; and a disconnected receiver is ready, so once
//!   the consumer saw every sender gone, no `Select` call fails.
//! - Skipped (rule 11), with one producer thread only: its sends never
//!   overlap, so each value's number follows its put order and `skipped()`
//!   is exact. After receiving `v` right after `u`, `skipped()` is the
//!   number of the producer's accepted puts between `u` and `v` (for the
//!   first value, before it): each of them was displaced, by the next put,
//!   between the two takes. With the receiver kept and drained to the end,
//!   no displacement follows the last take, so the `skipped()` of every
//!   received value (the drained one included) adds up to `overwritten()`.
//!
//! Not claimed: which producer's value the drain sees when two producers
//! raced, how many values the consumer got, or that a timed receive saw a
//! value sent "around" its deadline. Nor anything about `skipped()` with two
//! producer threads: each put numbers its value with a load and a store (no
//! read-modify-write, see `Receiver::skipped`), so two sends that overlap in
//! time can draw the same number or publish out of number order, and a
//! receive may then count one displacement too few or too many.

use std::hint;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use conflate::{Receiver, RecvTimeoutError, Select, Sender, TryRecvError, channel};

use super::ledger::{
    Ledger, Role, Tracked, block_on, drops_on_this_thread, last_dropped_on_this_thread, set_role,
};
use super::take_all;

/// Longest script per producer (also the id range of each producer).
const MAX_PRODUCER_OPS: usize = 48;
/// Longest consumer script.
const MAX_CONSUMER_OPS: usize = 48;
/// Total time the consumer's timed receives may wait, per input.
const WAIT_BUDGET: Duration = Duration::from_millis(2);
/// Most senders one producer holds at once.
const MAX_SENDERS: usize = 4;

/// Decoded input: one flag, then steps until the data runs out.
#[derive(Debug)]
struct Input {
    /// Run a second producer thread (else its steps go to the first).
    two_producers: bool,
    /// One list of steps, dealt out to the threads in order, so every
    /// thread gets a share of any input and mutations stay local.
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
enum Step {
    Consumer(ConsumerOp),
    First(ProducerOp),
    Second(ProducerOp),
}

#[derive(Arbitrary, Debug)]
enum ProducerOp {
    Send { sender: u8 },
    Replace { sender: u8 },
    Clone { sender: u8 },
    Drop { sender: u8 },
    IsDisconnected { sender: u8 },
    Yield,
    Spin { iterations: u8 },
}

#[derive(Arbitrary, Debug)]
enum ConsumerOp {
    TryRecv,
    /// `recv_timeout`, at most 1 ms (and within the input's wait budget).
    RecvTimeout {
        micros: u16,
    },
    /// `recv_deadline` at now + at most 1 ms (same budget).
    RecvDeadline {
        micros: u16,
    },
    /// Blocking receive: returns because every producer ends and drops its
    /// senders.
    Recv,
    RecvAsync,
    /// `iter()` to its end, i.e. until every sender is gone.
    IterToEnd,
    /// `Select::ready` over the receiver, then `try_recv`; returns like
    /// `Recv`.
    SelectReady,
    /// `Select::try_ready`, then `try_recv` if it found the receiver ready.
    SelectTryReady,
    /// `Select::ready_timeout` (same budget as `RecvTimeout`), then
    /// `try_recv` if ready.
    SelectTimeout {
        micros: u16,
    },
    IsEmptyThenTryRecv,
    IsDisconnected,
    Overwritten,
    Yield,
    DropReceiver,
}

/// What one producer put and what came back.
#[derive(Debug)]
enum Put {
    /// `send` or `replace` took the value; `replace` may have handed back
    /// the displaced one; `dropped` values were dropped during the call.
    Ok {
        id: usize,
        by_replace: bool,
        replaced: Option<usize>,
        dropped: u64,
        /// The call dropped the very value it was given.
        dropped_own: bool,
    },
    /// The value came back in `SendError`; `dropped` as above.
    Refused { id: usize, dropped: u64 },
    /// `Sender::is_disconnected` answered.
    SawDisconnected(bool),
    /// Dropping one of the producer's senders (mid-script or at its end)
    /// dropped this many values.
    SenderDropDropped(u64),
}

/// What the consumer saw, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// A value, with `skipped()` read right after the receive.
    Value {
        id: usize,
        skipped: u64,
    },
    /// `Empty` or `Timeout`, or a `Select` that found nothing ready.
    Nothing,
    Disconnected,
    IsDisconnected(bool),
    /// `is_empty()` said false and the following `try_recv` found nothing.
    NonEmptyButNothing,
    /// A `Select` returned the receiver's index and the following
    /// `try_recv` said `Empty`.
    ReadyButEmpty,
    /// `overwritten()` returned `n`; before the call, producers had
    /// published `floor` displacements made by calls that had returned.
    Overwritten {
        n: u64,
        floor: u64,
    },
    DroppedReceiver,
}

/// Displacements made by `send`/`replace` calls that have returned,
/// published by each producer right after the call (SeqCst, so a consumer
/// that reads it before `overwritten()` has every counted call returned
/// before its own call: rule 7's lower bound).
type Completed = AtomicU64;

fn producer(
    ledger: &Arc<Ledger>,
    completed: &Completed,
    index: usize,
    tx: Sender<Tracked>,
    script: &[ProducerOp],
) -> Vec<Put> {
    set_role(Role::Producer);
    let mut txs = vec![tx];
    let mut puts = Vec::new();
    for (seq, op) in script.iter().enumerate() {
        let id = index * MAX_PRODUCER_OPS + seq;
        let pick = |i: u8| (!txs.is_empty()).then(|| usize::from(i) % txs.len());
        match *op {
            ProducerOp::Send { sender } => {
                let Some(i) = pick(sender) else { continue };
                let before = drops_on_this_thread();
                let result = txs[i].send(ledger.value(id, false));
                let dropped = drops_on_this_thread() - before;
                let dropped_own = dropped > 0 && last_dropped_on_this_thread() == Some(id);
                completed.fetch_add(dropped, Ordering::SeqCst);
                let put = match result {
                    Ok(()) => Put::Ok {
                        id,
                        by_replace: false,
                        replaced: None,
                        dropped,
                        dropped_own,
                    },
                    Err(e) => {
                        assert_eq!(
                            e.into_inner().retire(),
                            id,
                            "send handed back another value"
                        );
                        Put::Refused { id, dropped }
                    }
                };
                puts.push(put);
            }
            ProducerOp::Replace { sender } => {
                let Some(i) = pick(sender) else { continue };
                let before = drops_on_this_thread();
                let result = txs[i].replace(ledger.value(id, false));
                let dropped = drops_on_this_thread() - before;
                let dropped_own = dropped > 0 && last_dropped_on_this_thread() == Some(id);
                let put = match result {
                    Ok(old) => {
                        let replaced = old.map(Tracked::retire);
                        completed.fetch_add(u64::from(replaced.is_some()), Ordering::SeqCst);
                        Put::Ok {
                            id,
                            by_replace: true,
                            replaced,
                            dropped,
                            dropped_own,
                        }
                    }
                    Err(e) => {
                        assert_eq!(e.0.retire(), id, "replace handed back another value");
                        Put::Refused { id, dropped }
                    }
                };
                puts.push(put);
            }
            ProducerOp::Clone { sender } => {
                if let Some(i) = pick(sender).filter(|_| txs.len() < MAX_SENDERS) {
                    let tx = txs[i].clone();
                    txs.push(tx);
                }
            }
            ProducerOp::Drop { sender } => {
                if let Some(i) = pick(sender) {
                    let before = drops_on_this_thread();
                    drop(txs.swap_remove(i));
                    puts.push(Put::SenderDropDropped(drops_on_this_thread() - before));
                }
            }
            ProducerOp::IsDisconnected { sender } => {
                if let Some(i) = pick(sender) {
                    puts.push(Put::SawDisconnected(txs[i].is_disconnected()));
                }
            }
            ProducerOp::Yield => thread::yield_now(),
            ProducerOp::Spin { iterations } => {
                for _ in 0..iterations {
                    hint::spin_loop();
                }
            }
        }
    }
    let before = drops_on_this_thread();
    drop(txs);
    puts.push(Put::SenderDropDropped(drops_on_this_thread() - before));
    puts
}

fn consumer(
    mut rx: Receiver<Tracked>,
    completed: &Completed,
    script: &[ConsumerOp],
) -> (Option<Receiver<Tracked>>, Vec<Seen>) {
    set_role(Role::Consumer);
    let mut seen = Vec::new();
    let mut budget = WAIT_BUDGET;
    let mut wait = |micros: u16| {
        let want = Duration::from_micros(u64::from(micros % 1001));
        let granted = want.min(budget);
        budget -= granted;
        granted
    };
    // `skipped()` is read right after the receive that returned `v`.
    let value = |v: Tracked, rx: &Receiver<Tracked>| Seen::Value {
        id: v.retire(),
        skipped: rx.skipped(),
    };
    let try_seen = |rx: &Receiver<Tracked>| match rx.try_recv() {
        Ok(v) => value(v, rx),
        Err(TryRecvError::Empty) => Seen::Nothing,
        Err(TryRecvError::Disconnected) => Seen::Disconnected,
    };
    let timeout_seen = |r: Result<Tracked, RecvTimeoutError>, rx: &Receiver<Tracked>| match r {
        Ok(v) => value(v, rx),
        Err(RecvTimeoutError::Timeout) => Seen::Nothing,
        Err(RecvTimeoutError::Disconnected) => Seen::Disconnected,
    };
    // A `Select` over the receiver, then `try_recv` if it was ready.
    let select_seen = |rx: &Receiver<Tracked>, ask: &dyn Fn(&mut Select<'_>) -> bool| {
        let mut sel = Select::new();
        sel.recv(rx);
        if !ask(&mut sel) {
            return Seen::Nothing;
        }
        match try_seen(rx) {
            Seen::Nothing => Seen::ReadyButEmpty,
            other => other,
        }
    };
    for op in script {
        match *op {
            ConsumerOp::TryRecv => seen.push(try_seen(&rx)),
            ConsumerOp::RecvTimeout { micros } => {
                seen.push(timeout_seen(rx.recv_timeout(wait(micros)), &rx))
            }
            ConsumerOp::RecvDeadline { micros } => {
                let deadline = Instant::now() + wait(micros);
                seen.push(timeout_seen(rx.recv_deadline(deadline), &rx));
            }
            ConsumerOp::Recv => seen.push(match rx.recv() {
                Ok(v) => value(v, &rx),
                Err(_) => Seen::Disconnected,
            }),
            ConsumerOp::RecvAsync => seen.push(match block_on(rx.recv_async()) {
                Ok(v) => value(v, &rx),
                Err(_) => Seen::Disconnected,
            }),
            ConsumerOp::IterToEnd => {
                for v in rx.iter() {
                    seen.push(value(v, &rx));
                }
                seen.push(Seen::Disconnected);
            }
            ConsumerOp::SelectReady => seen.push(select_seen(&rx, &|sel| {
                sel.ready();
                true
            })),
            ConsumerOp::SelectTryReady => {
                seen.push(select_seen(&rx, &|sel| sel.try_ready().is_ok()));
            }
            ConsumerOp::SelectTimeout { micros } => {
                let timeout = wait(micros);
                seen.push(select_seen(&rx, &|sel| sel.ready_timeout(timeout).is_ok()));
            }
            ConsumerOp::IsEmptyThenTryRecv => {
                if !rx.is_empty() {
                    match try_seen(&rx) {
                        v @ Seen::Value { .. } => seen.push(v),
                        _ => seen.push(Seen::NonEmptyButNothing),
                    }
                }
            }
            ConsumerOp::IsDisconnected => seen.push(Seen::IsDisconnected(rx.is_disconnected())),
            ConsumerOp::Overwritten => {
                let floor = completed.load(Ordering::SeqCst);
                seen.push(Seen::Overwritten {
                    n: rx.overwritten(),
                    floor,
                });
            }
            ConsumerOp::Yield => thread::yield_now(),
            ConsumerOp::DropReceiver => {
                drop(rx);
                seen.push(Seen::DroppedReceiver);
                return (None, seen);
            }
        }
    }
    (Some(rx), seen)
}

/// Decodes per-thread scripts from `data`, runs them on real threads, and
/// panics if the recorded results break a guarantee listed in the module
/// docs.
pub(crate) fn check_threads(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(two_producers) = bool::arbitrary(&mut u) else {
        return;
    };
    let input = Input {
        two_producers,
        steps: take_all(&mut u, MAX_CONSUMER_OPS + 2 * MAX_PRODUCER_OPS),
    };
    let mut consumer_script = Vec::new();
    let mut scripts: Vec<Vec<ProducerOp>> = (0..1 + usize::from(input.two_producers))
        .map(|_| Vec::new())
        .collect();
    for step in input.steps {
        let (script, op) = match step {
            Step::Consumer(op) => {
                if consumer_script.len() < MAX_CONSUMER_OPS {
                    consumer_script.push(op);
                }
                continue;
            }
            Step::First(op) => (&mut scripts[0], op),
            Step::Second(op) => (scripts.last_mut().expect("one producer at least"), op),
        };
        if script.len() < MAX_PRODUCER_OPS {
            script.push(op);
        }
    }
    let ledger = Ledger::new(scripts.len() * MAX_PRODUCER_OPS);

    let (tx, rx) = channel::<Tracked>();
    let senders: Vec<Sender<Tracked>> = scripts.iter().map(|_| tx.clone()).collect();
    drop(tx);
    let start = Barrier::new(scripts.len() + 1);
    let completed = Completed::new(0);
    let (rx, seen, puts) = thread::scope(|s| {
        let producers: Vec<_> = scripts
            .iter()
            .zip(senders)
            .enumerate()
            .map(|(index, (script, tx))| {
                let (ledger, completed, start) = (&ledger, &completed, &start);
                s.spawn(move || {
                    start.wait();
                    producer(ledger, completed, index, tx, script)
                })
            })
            .collect();
        let consumer_script = &consumer_script;
        let (completed, start) = (&completed, &start);
        let consumer = s.spawn(move || {
            start.wait();
            consumer(rx, completed, consumer_script)
        });
        let puts: Vec<Vec<Put>> = producers
            .into_iter()
            .map(|h| h.join().expect("producer panicked"))
            .collect();
        let (rx, seen) = consumer.join().expect("consumer panicked");
        (rx, seen, puts)
    });

    // The final drain, on the main thread with every producer joined.
    let mut drained = None;
    let final_overwritten = rx.as_ref().map(|rx| {
        assert!(
            rx.is_disconnected(),
            "every sender is dropped, yet the receiver is connected"
        );
        match rx.try_recv() {
            Ok(v) => drained = Some((v.retire(), rx.skipped())),
            Err(e) => assert_eq!(
                e,
                TryRecvError::Disconnected,
                "drain after every sender left"
            ),
        }
        assert_eq!(
            rx.try_recv().unwrap_err(),
            TryRecvError::Disconnected,
            "second drain"
        );
        assert_eq!(
            rx.recv_timeout(Duration::ZERO).unwrap_err(),
            RecvTimeoutError::Disconnected,
            "receive after the drain"
        );
        assert!(rx.recv().is_err(), "blocking receive after the drain");
        assert!(rx.is_empty());
        rx.overwritten()
    });
    let receiver_kept = rx.is_some();
    drop(rx);

    verify(
        &ledger,
        &puts,
        &seen,
        drained,
        final_overwritten,
        receiver_kept,
    );
    assert_eq!(
        Arc::strong_count(&ledger),
        1,
        "a value is still alive after every handle was dropped"
    );
}

fn verify(
    ledger: &Ledger,
    puts: &[Vec<Put>],
    seen: &[Seen],
    drained: Option<(usize, u64)>,
    final_overwritten: Option<u64>,
    receiver_kept: bool,
) {
    let producer_of = |id: usize| id / MAX_PRODUCER_OPS;

    // Exactly once, and drops where the contract puts them.
    let mut producer_drops = 0u64;
    let mut consumer_drops = 0u32;
    for id in 0..ledger.capacity() {
        if !ledger.was_created(id) {
            continue;
        }
        let fate = ledger.fate(id);
        assert_eq!(fate.ends(), 1, "value {id}: {fate:?}, want exactly one end");
        assert_eq!(
            fate.dropped[Role::Main as usize],
            0,
            "value {id} dropped on the main thread"
        );
        producer_drops += u64::from(fate.dropped[Role::Producer as usize]);
        consumer_drops += fate.dropped[Role::Consumer as usize];
    }
    assert!(
        consumer_drops <= 1,
        "receiver drop dropped {consumer_drops} values"
    );
    if receiver_kept {
        assert_eq!(
            consumer_drops, 0,
            "consumer dropped a value without dropping the receiver"
        );
    }

    // Producer side.
    let mut replaced = 0u64;
    let mut ok_ids = Vec::new();
    let mut last_ok = Vec::new();
    for (index, puts) in puts.iter().enumerate() {
        let mut gone = false;
        let mut last = None;
        for put in puts {
            match *put {
                Put::Ok {
                    id,
                    by_replace,
                    replaced: old,
                    dropped,
                    dropped_own,
                } => {
                    assert!(
                        !gone,
                        "producer {index}: value {id} accepted after the receiver was seen gone"
                    );
                    assert!(
                        !dropped_own,
                        "producer {index}: value {id} was accepted, yet the call that put it dropped it"
                    );
                    let most = u64::from(!by_replace);
                    assert!(
                        dropped <= most,
                        "producer {index}: putting value {id} dropped {dropped} values (replaced {old:?})"
                    );
                    ok_ids.push(id);
                    last = Some(id);
                    if let Some(old) = old {
                        assert!(
                            ledger.was_created(old),
                            "replace handed back unknown value {old}"
                        );
                        replaced += 1;
                    }
                }
                Put::Refused { id, dropped } => {
                    assert!(
                        !receiver_kept,
                        "producer {index}: value {id} refused with the receiver alive"
                    );
                    assert_eq!(
                        dropped, 0,
                        "producer {index}: refused value {id}, yet dropped values"
                    );
                    gone = true;
                }
                Put::SawDisconnected(disconnected) => {
                    assert!(
                        !gone || disconnected,
                        "producer {index}: receiver came back"
                    );
                    assert!(
                        !(receiver_kept && disconnected),
                        "producer {index}: disconnected with the receiver alive"
                    );
                    gone |= disconnected;
                }
                Put::SenderDropDropped(dropped) => {
                    assert_eq!(
                        dropped, 0,
                        "producer {index}: dropping a sender dropped values"
                    );
                }
            }
        }
        last_ok.push(last);
    }

    // Consumer side.
    let mut last_from = vec![None::<usize>; puts.len()];
    let mut received = Vec::new();
    let mut skips = Vec::new();
    let mut readings_max = 0u64;
    let mut disconnected_seen = false;
    let mut hung_up = false;
    let mut values_after_disconnected = 0;
    for (step, s) in seen
        .iter()
        .copied()
        .chain(drained.map(|(id, skipped)| Seen::Value { id, skipped }))
        .enumerate()
    {
        match s {
            Seen::Value { id, skipped } => {
                assert!(
                    !hung_up,
                    "consumer step {step}: value {id} after Disconnected"
                );
                assert!(
                    ok_ids.contains(&id),
                    "consumer step {step}: value {id} was never accepted"
                );
                let p = producer_of(id);
                assert!(
                    last_from[p].is_none_or(|prev| prev < id),
                    "consumer step {step}: value {id} after {:?} from the same producer",
                    last_from[p]
                );
                last_from[p] = Some(id);
                received.push(id);
                skips.push(skipped);
                if disconnected_seen {
                    values_after_disconnected += 1;
                    assert!(
                        values_after_disconnected <= 1,
                        "consumer step {step}: a second value after every sender left"
                    );
                }
            }
            Seen::Nothing => {
                assert!(
                    !disconnected_seen,
                    "consumer step {step}: Empty/Timeout after every sender left"
                );
            }
            Seen::Disconnected => {
                disconnected_seen = true;
                hung_up = true;
            }
            Seen::IsDisconnected(d) => {
                assert!(
                    !disconnected_seen || d,
                    "consumer step {step}: senders came back"
                );
                disconnected_seen |= d;
            }
            Seen::NonEmptyButNothing => {
                panic!("consumer step {step}: is_empty() was false, the next try_recv got nothing")
            }
            Seen::ReadyButEmpty => {
                panic!("consumer step {step}: Select said ready, the next try_recv said Empty")
            }
            Seen::Overwritten { n, floor } => {
                assert!(
                    n >= readings_max,
                    "consumer step {step}: overwritten went from {readings_max} to {n}"
                );
                assert!(
                    n >= floor,
                    "consumer step {step}: overwritten() = {n}, but calls that had returned displaced {floor}"
                );
                readings_max = n;
            }
            Seen::DroppedReceiver => {}
        }
    }

    // Counting.
    let displacements = replaced + producer_drops;
    assert!(
        readings_max <= displacements,
        "overwritten() read {readings_max}, only {displacements} displacements happened"
    );
    if let Some(n) = final_overwritten {
        assert_eq!(
            n, displacements,
            "overwritten() after the drain ({replaced} by replace, {producer_drops} by send)"
        );
    }

    // The last value.
    if receiver_kept {
        if let Some((id, _)) = drained {
            assert_eq!(
                Some(id),
                last_ok[producer_of(id)],
                "drained value {id} is not the last accepted value of its producer"
            );
        } else if last_ok.iter().any(Option::is_some) {
            assert!(
                last_ok.iter().flatten().any(|id| received.contains(id)),
                "nothing drained, yet no producer's last value {last_ok:?} was received"
            );
        }
    }

    // Skipped, with one producer thread only (see the module docs).
    if let [only] = puts {
        let order: Vec<usize> = only
            .iter()
            .filter_map(|put| match *put {
                Put::Ok { id, .. } => Some(id),
                _ => None,
            })
            .collect();
        let position = |id: usize| order.iter().position(|&x| x == id).expect("accepted");
        let mut previous: Option<usize> = None;
        for (&id, &skipped) in received.iter().zip(&skips) {
            let at = position(id);
            // Received values are in put order (checked above).
            let between = at - previous.map_or(0, |p| p + 1);
            assert_eq!(
                skipped, between as u64,
                "value {id} (put {at}) received after put {previous:?}: skipped"
            );
            previous = Some(at);
        }
        if let Some(n) = final_overwritten {
            let sum: u64 = skips.iter().sum();
            assert_eq!(
                sum, n,
                "skipped() over every received value {skips:?} against overwritten()"
            );
        }
    }
}
