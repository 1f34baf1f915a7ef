//! API.md rule 11: after a receive that returns a value, `skipped()` is the
//! number of values displaced since the value received before it. Clause by
//! clause: 0 before the first value; errors leave it unchanged; exact on
//! sequential scripts (`replace` displacements included); exact with one
//! producer thread racing the receiver, through every kind of receive and
//! through `Select` (`v - u - 1` for every pair, and the run's sum plus the
//! displacements since the last receive is `overwritten()`); the same for
//! producers that take turns; and flap detection.
//!
//! Not tested as exact: producers whose sends overlap in time. Each put
//! numbers its value with a load and a store, not a read-modify-write (see
//! `Receiver::skipped`), so two overlapping sends may draw one number and a
//! receive may then count one too few or too many. For those, only what
//! holds anyway is checked: exactly once, send order per producer, no
//! absurd count, and an exact `overwritten()`.

mod helpers;

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use conflate::{Receiver, RecvTimeoutError, Select, TryRecvError, channel};
use helpers::{DropLog, Rng, Watchdog, block_on, channels, dawdle, scaled, within_limit};

/// Longer than any test runs.
const LONG: Duration = Duration::from_secs(3600);

/// The ways to receive, for the loops below.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Recv,
    TryRecv,
    RecvTimeout,
    RecvDeadline,
    RecvAsync,
    Iter,
    TryIter,
    /// `Select::ready`, then `try_recv`.
    Select,
    /// `Select::ready_timeout` with a short timeout, then `try_recv`.
    SelectTimeout,
}

const KINDS: [Kind; 9] = [
    Kind::Recv,
    Kind::TryRecv,
    Kind::RecvTimeout,
    Kind::RecvDeadline,
    Kind::RecvAsync,
    Kind::Iter,
    Kind::TryIter,
    Kind::Select,
    Kind::SelectTimeout,
];

/// What one receive got.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Value(u64),
    /// `Empty` or `Timeout`.
    Nothing,
    Disconnected,
}

/// A value that carries a number: `u64` itself, or `Bytes` (below).
trait Numbered: Send + 'static {
    fn numbered(v: u64) -> Self;
    fn number(&self) -> u64;
}

impl Numbered for u64 {
    fn numbered(v: u64) -> Self {
        v
    }
    fn number(&self) -> u64 {
        *self
    }
}

/// One receive of kind `kind`; the timed ones wait up to `wait`. A value
/// received is reported by its number.
fn receive<T: Numbered>(rx: &mut Receiver<T>, kind: Kind, wait: Duration) -> Got {
    let from_try = |r: Result<T, TryRecvError>| match r {
        Ok(v) => Got::Value(v.number()),
        Err(TryRecvError::Empty) => Got::Nothing,
        Err(TryRecvError::Disconnected) => Got::Disconnected,
    };
    let from_timeout = |r: Result<T, RecvTimeoutError>| match r {
        Ok(v) => Got::Value(v.number()),
        Err(RecvTimeoutError::Timeout) => Got::Nothing,
        Err(RecvTimeoutError::Disconnected) => Got::Disconnected,
    };
    let or_disconnected = |v: Option<T>| v.map_or(Got::Disconnected, |v| Got::Value(v.number()));
    match kind {
        Kind::Recv => or_disconnected(rx.recv().ok()),
        Kind::TryRecv => from_try(rx.try_recv()),
        Kind::RecvTimeout => from_timeout(rx.recv_timeout(wait)),
        Kind::RecvDeadline => from_timeout(rx.recv_deadline(Instant::now() + wait)),
        Kind::RecvAsync => or_disconnected(block_on(rx.recv_async()).ok()),
        Kind::Iter => or_disconnected(rx.iter().next()),
        Kind::TryIter => match rx.try_iter().next() {
            Some(v) => Got::Value(v.number()),
            None if rx.is_disconnected() && rx.is_empty() => from_try(rx.try_recv()),
            None => Got::Nothing,
        },
        Kind::Select | Kind::SelectTimeout => {
            let mut sel = Select::new();
            sel.recv(&*rx);
            let ready = match kind {
                Kind::Select => Ok(sel.ready()),
                _ => sel.ready_timeout(wait),
            };
            drop(sel);
            match ready {
                Ok(_) => {
                    let got = from_try(rx.try_recv());
                    assert_ne!(got, Got::Nothing, "ready, then Empty");
                    got
                }
                Err(_) => Got::Nothing,
            }
        }
    }
}

/// Polls a `recv_async` once with no value waiting, then drops it.
fn pending_recv_async(rx: &mut Receiver<u64>) {
    let mut fut = rx.recv_async();
    let polled = Pin::new(&mut fut).poll(&mut Context::from_waker(Waker::noop()));
    assert_eq!(polled, Poll::Pending);
}

// ---------------------------------------------------------------------------
// Sequential
// ---------------------------------------------------------------------------

#[test]
fn zero_before_the_first_value() {
    let (tx, mut rx) = channel::<u64>();
    assert_eq!(rx.skipped(), 0);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(1)),
        Err(RecvTimeoutError::Timeout)
    );
    pending_recv_async(&mut rx);
    assert_eq!(rx.skipped(), 0);
    // Displacements before the first receive do not show until it.
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(rx.overwritten(), 1);
    assert_eq!(rx.skipped(), 0, "no value received yet");
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(rx.skipped(), 1, "1 was displaced before the first value");

    // Closed without a value ever sent.
    let (tx, rx) = channel::<u64>();
    drop(tx);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(rx.skipped(), 0);
}

/// Every kind of failed receive leaves `skipped()` as the last value left
/// it, and so do sends that have not been received yet.
#[test]
fn receives_that_fail_leave_it_unchanged() {
    let (tx, mut rx) = channel::<u64>();
    for v in 0..5 {
        tx.send(v).unwrap();
    }
    assert_eq!(rx.recv(), Ok(4));
    assert_eq!(rx.skipped(), 4);
    for kind in KINDS
        .into_iter()
        .filter(|k| !matches!(k, Kind::Recv | Kind::RecvAsync | Kind::Iter | Kind::Select))
    {
        assert_eq!(
            receive(&mut rx, kind, Duration::from_micros(100)),
            Got::Nothing,
            "{kind:?}"
        );
        assert_eq!(rx.skipped(), 4, "after an empty {kind:?}");
    }
    let past = Instant::now().checked_sub(Duration::from_secs(1));
    if let Some(past) = past {
        assert_eq!(rx.recv_deadline(past), Err(RecvTimeoutError::Timeout));
    }
    pending_recv_async(&mut rx);
    assert_eq!(rx.skipped(), 4, "after a dropped pending recv_async");
    tx.send(5).unwrap();
    tx.send(6).unwrap();
    assert_eq!(rx.skipped(), 4, "sends not yet received");
    drop(tx);
    assert_eq!(rx.recv(), Ok(6));
    assert_eq!(rx.skipped(), 1);
    for kind in KINDS {
        assert_eq!(receive(&mut rx, kind, LONG), Got::Disconnected, "{kind:?}");
        assert_eq!(rx.skipped(), 1, "after a disconnected {kind:?}");
    }
    assert_eq!(rx.overwritten(), 5);
}

/// `k` values sent, then one receive of any kind: `skipped() == k - 1`, and
/// the sum over the run is `overwritten()`.
#[test]
fn k_values_then_a_receive_skip_k_minus_one() {
    let (tx, mut rx) = channel::<u64>();
    let mut next = 0;
    let mut sum = 0;
    for kind in KINDS {
        for k in 1..=6 {
            for _ in 0..k {
                tx.send(next).unwrap();
                next += 1;
            }
            assert_eq!(
                receive(&mut rx, kind, LONG),
                Got::Value(next - 1),
                "{kind:?}"
            );
            assert_eq!(rx.skipped(), k - 1, "{kind:?}, {k} values");
            sum += rx.skipped();
            assert_eq!(rx.overwritten(), sum);
        }
    }
}

/// A value displaced by `replace` counts like one displaced by `send`.
#[test]
fn replace_displacements_count() {
    let (tx, rx) = channel::<u64>();
    assert_eq!(tx.replace(1), Ok(None));
    assert_eq!(tx.replace(2), Ok(Some(1)));
    tx.send(3).unwrap();
    assert_eq!(tx.replace(4), Ok(Some(3)));
    assert_eq!(rx.recv(), Ok(4));
    assert_eq!(rx.skipped(), 3, "1 and 3 handed back, 2 dropped");
    assert_eq!(tx.replace(5), Ok(None));
    assert_eq!(rx.recv(), Ok(5));
    assert_eq!(rx.skipped(), 0);
    assert_eq!(tx.replace(6), Ok(None));
    assert_eq!(tx.replace(7), Ok(Some(6)));
    drop(tx);
    assert_eq!(rx.recv(), Ok(7), "the last value before the close");
    assert_eq!(rx.skipped(), 1);
    assert_eq!(rx.overwritten(), 4);
}

/// The flap-detection example of rule 11.
#[test]
fn flap_detection() {
    let (tx, rx) = channel::<bool>();
    tx.send(true).unwrap();
    assert_eq!(rx.recv(), Ok(true));
    assert_eq!(rx.skipped(), 0);
    tx.send(false).unwrap(); // leadership lost...
    tx.send(true).unwrap(); // ...and regained before the listener looked
    assert_eq!(rx.recv(), Ok(true));
    assert!(rx.skipped() > 0, "true again after a flap");
    tx.send(true).unwrap(); // a repeat, no flap
    assert_eq!(rx.recv(), Ok(true));
    assert_eq!(rx.skipped(), 0, "true again without a flap");
}

// ---------------------------------------------------------------------------
// One producer racing the receiver
// ---------------------------------------------------------------------------

/// Checks `skipped()` after each value of a producer that sends
/// `0, 1, 2, ...` with sends that do not overlap: `v - u - 1` after `u`, `v`
/// for the first. Keeps the run's sum.
#[derive(Debug, Default)]
struct Exact {
    last: Option<u64>,
    sum: u64,
    values: u64,
}

impl Exact {
    #[track_caller]
    fn took(&mut self, v: u64, skipped: u64, what: &str) {
        let want = match self.last {
            None => v,
            Some(u) => {
                assert!(u < v, "{what}: {v} after {u}");
                v - u - 1
            }
        };
        assert_eq!(skipped, want, "{what}: received {v} after {:?}", self.last);
        self.last = Some(v);
        self.sum += skipped;
        self.values += 1;
    }
}

/// A producer thread sends values numbered `0..n` (pacing itself at
/// random) while the receiver loops over `kinds`; every receive is checked,
/// and at the end, with the last value received, the sum of `skipped()` is
/// `overwritten()`.
fn one_producer_racing<T: Numbered>(kinds: &[Kind], n: u64, seed: u64) {
    let _watchdog = Watchdog::start("one producer racing the receiver");
    let (tx, mut rx) = channel::<T>();
    let what = std::any::type_name::<T>();
    let mut exact = Exact::default();
    thread::scope(|s| {
        let producer = within_limit(s, "producer", move || {
            let mut rng = Rng::new(seed);
            for v in 0..n {
                dawdle(&mut rng);
                tx.send(T::numbered(v)).unwrap();
            }
        });
        let mut rng = Rng::new(seed ^ 0xFACE);
        loop {
            let kind = kinds[rng.below(kinds.len() as u64) as usize];
            let wait = Duration::from_micros(rng.below(50));
            match receive(&mut rx, kind, wait) {
                Got::Value(v) => exact.took(v, rx.skipped(), &format!("{what}, {kind:?}")),
                // Let the producer run: on a busy two-core machine a
                // spinning receiver can starve it.
                Got::Nothing => thread::yield_now(),
                Got::Disconnected => break,
            }
        }
        producer.join();
    });
    assert_eq!(exact.last, Some(n - 1), "the last value is received");
    assert_eq!(exact.sum, rx.overwritten(), "{exact:?}");
    println!("{what}, {kinds:?}: {} of {n} values received", exact.values);
}

/// Values per racing run; the run that mixes every kind of receive sends
/// 100 000.
fn racing_count() -> u64 {
    scaled(25_000, 60) as u64
}

#[test]
fn one_producer_racing_recv() {
    one_producer_racing::<u64>(&[Kind::Recv], racing_count(), 1);
}

#[test]
fn one_producer_racing_try_recv() {
    one_producer_racing::<u64>(&[Kind::TryRecv], racing_count(), 2);
}

#[test]
fn one_producer_racing_recv_timeout() {
    one_producer_racing::<u64>(&[Kind::RecvTimeout, Kind::RecvDeadline], racing_count(), 3);
}

#[test]
fn one_producer_racing_recv_async() {
    one_producer_racing::<u64>(&[Kind::RecvAsync], racing_count(), 4);
}

#[test]
fn one_producer_racing_select() {
    one_producer_racing::<u64>(&[Kind::Select, Kind::SelectTimeout], racing_count(), 5);
}

#[test]
fn one_producer_racing_every_kind_of_receive() {
    one_producer_racing::<u64>(&KINDS, scaled(100_000, 60) as u64, 6);
}

/// The receiver stops halfway: `overwritten()` is the sum so far plus the
/// displacements since the last receive (every value after it but the one
/// left in the slot), and the next receive's `skipped()` is that number.
#[test]
fn displacements_since_the_last_receive_complete_the_sum() {
    let _watchdog = Watchdog::start("receiver stops halfway");
    let n = racing_count();
    for round in 0..scaled(4, 2) as u64 {
        let (tx, rx) = channel::<u64>();
        let mut exact = Exact::default();
        thread::scope(|s| {
            let producer = within_limit(s, "producer", move || {
                let mut rng = Rng::new(round);
                for v in 0..n {
                    dawdle(&mut rng);
                    tx.send(v).unwrap();
                }
            });
            while exact.last.is_none_or(|v| v < n / 2) {
                match rx.try_recv() {
                    Ok(v) => exact.took(v, rx.skipped(), "try_recv"),
                    Err(_) => thread::yield_now(),
                }
            }
            producer.join();
        });
        let last = exact.last.unwrap();
        let since = (n - 1 - last).saturating_sub(1);
        assert_eq!(
            rx.overwritten(),
            exact.sum + since,
            "round {round}: {exact:?}"
        );
        if last < n - 1 {
            assert_eq!(rx.recv(), Ok(n - 1));
            assert_eq!(rx.skipped(), since);
        }
        assert!(rx.recv().is_err());
    }
}

/// Two channels, each with its own producer thread, watched by one
/// `Select`: sends on different channels may overlap freely, and each
/// channel's `skipped()` is exact.
#[test]
fn a_producer_per_channel_through_one_select() {
    let _watchdog = Watchdog::start("two channels, two producers, one select");
    let n = racing_count() / 2;
    let (txs, rxs) = channels::<u64>(2);
    let mut exact = [Exact::default(), Exact::default()];
    thread::scope(|s| {
        let producers: Vec<_> = txs
            .into_iter()
            .enumerate()
            .map(|(c, tx)| {
                within_limit(s, "producer", move || {
                    let mut rng = Rng::new(c as u64 + 20);
                    for v in 0..n {
                        dawdle(&mut rng);
                        tx.send(v).unwrap();
                    }
                })
            })
            .collect();
        let mut sel = Select::new();
        sel.recv(&rxs[0]);
        sel.recv(&rxs[1]);
        let mut open = 2;
        while open > 0 {
            let c = sel.ready();
            match rxs[c].try_recv() {
                Ok(v) => exact[c].took(v, rxs[c].skipped(), &format!("channel {c}")),
                Err(TryRecvError::Disconnected) => {
                    sel.remove(c);
                    open -= 1;
                }
                Err(TryRecvError::Empty) => panic!("ready, then Empty"),
            }
        }
        for p in producers {
            p.join();
        }
    });
    for (c, exact) in exact.iter().enumerate() {
        assert_eq!(exact.last, Some(n - 1), "channel {c}");
        assert_eq!(exact.sum, rxs[c].overwritten(), "channel {c}: {exact:?}");
    }
}

/// A raft thread flaps leadership (`true`, `false`, `true`, ...) while the
/// listener receives: the same value twice in a row always comes with an
/// odd `skipped()` (at least one flap in between), a changed value with an
/// even one.
#[test]
fn flaps_are_told_from_repeats_while_racing() {
    let _watchdog = Watchdog::start("flapping leadership");
    let n = racing_count();
    let (tx, rx) = channel::<bool>();
    let (mut flaps, mut values) = (0u64, 0u64);
    thread::scope(|s| {
        let raft = within_limit(s, "raft", move || {
            let mut rng = Rng::new(30);
            for term in 0..n {
                dawdle(&mut rng);
                tx.send(term % 2 == 0).unwrap();
            }
        });
        let mut last = None;
        for leader in &rx {
            let skipped = rx.skipped();
            let changed = last.is_none_or(|l| l != leader);
            if last.is_some() {
                assert_eq!(
                    skipped % 2 == 0,
                    changed,
                    "{last:?} -> {leader}, skipped {skipped}"
                );
            }
            flaps += u64::from(last.is_some() && !changed);
            values += 1;
            last = Some(leader);
        }
        raft.join();
    });
    println!("{values} values received, {flaps} flaps detected");
}

// ---------------------------------------------------------------------------
// Producers that take turns
// ---------------------------------------------------------------------------

/// The receiver's side of the turn-taking tests: try_recv and recv in turn
/// until disconnected, each value checked; returns the checker.
fn receive_all(rx: &Receiver<u64>) -> Exact {
    let mut exact = Exact::default();
    let mut k = 0u64;
    loop {
        k += 1;
        let got = if k.is_multiple_of(2) {
            rx.recv().map_err(|_| TryRecvError::Disconnected)
        } else {
            rx.try_recv()
        };
        match got {
            Ok(v) => exact.took(v, rx.skipped(), "turn-taking producers"),
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => return exact,
        }
    }
}

/// Producer threads that take turns.
const TAKING_TURNS: usize = 3;

/// Runs `producer(p, tx)` on [`TAKING_TURNS`] threads, which between them
/// send `0..n` in turns, while this thread receives; then checks the run:
/// the last value arrived and the sum of `skipped()` is `overwritten()`.
fn taking_turns(n: u64, producer: impl Fn(usize, conflate::Sender<u64>) + Sync) {
    let (tx, rx) = channel::<u64>();
    let exact = thread::scope(|s| {
        for p in 0..TAKING_TURNS {
            let (tx, producer) = (tx.clone(), &producer);
            s.spawn(move || producer(p, tx));
        }
        drop(tx);
        // On this thread, under the caller's watchdog.
        receive_all(&rx)
    });
    assert_eq!(exact.last, Some(n - 1));
    assert_eq!(exact.sum, rx.overwritten(), "{exact:?}");
}

/// Each send is made while holding a lock, so no two sends overlap (the
/// lock orders them).
#[test]
fn producers_taking_turns_under_a_lock() {
    let _watchdog = Watchdog::start("producers under a lock");
    let n = racing_count() / 2;
    let next = Mutex::new(0u64);
    taking_turns(n, |p, tx| {
        let mut rng = Rng::new(40 + p as u64);
        loop {
            {
                let mut next = next.lock().unwrap();
                if *next == n {
                    return;
                }
                tx.send(*next).unwrap();
                *next += 1;
            }
            dawdle(&mut rng);
        }
    });
}

/// The producers pass a token round: the holder sends a burst of values,
/// then hands the token on (a Release store the next holder Acquires), so
/// every send happens before the next.
#[test]
fn producers_passing_a_token() {
    const DONE: usize = usize::MAX;
    let _watchdog = Watchdog::start("producers passing a token");
    let n = racing_count() / 2;
    let holder = AtomicUsize::new(0);
    // Only the token's holder touches it; Relaxed, ordered by the token.
    let next = AtomicU64::new(0);
    taking_turns(n, |p, tx| {
        let mut rng = Rng::new(50 + p as u64);
        loop {
            match holder.load(Ordering::Acquire) {
                DONE => return,
                h if h == p => {}
                _ => {
                    thread::yield_now();
                    continue;
                }
            }
            let from = next.load(Ordering::Relaxed);
            let to = (from + 1 + rng.below(16)).min(n);
            for v in from..to {
                tx.send(v).unwrap();
            }
            next.store(to, Ordering::Relaxed);
            let pass = if to == n {
                DONE
            } else {
                (p + 1) % TAKING_TURNS
            };
            holder.store(pass, Ordering::Release);
        }
    });
}

// ---------------------------------------------------------------------------
// Overlapping sends: only what is guaranteed
// ---------------------------------------------------------------------------

/// Three producers send at once (their sends overlap, so `skipped()` may be
/// off by one here and there; not checked). Checked: every value ends once,
/// send order per producer, `skipped()` never absurd (no wrap-around: below
/// the number of values made), and `overwritten()` exact.
#[test]
fn overlapping_producers_keep_what_is_guaranteed() {
    const PRODUCERS: usize = 3;
    let _watchdog = Watchdog::start("overlapping producers");
    let per = racing_count() as usize / 4;
    let total = PRODUCERS * per;
    let log = DropLog::new(total);
    let (tx, rx) = channel();
    let received = thread::scope(|s| {
        for p in 0..PRODUCERS {
            let (tx, log) = (tx.clone(), &log);
            s.spawn(move || {
                let mut rng = Rng::new(60 + p as u64);
                for id in p * per..(p + 1) * per {
                    dawdle(&mut rng);
                    if rng.one_in(4) {
                        drop(tx.replace(log.item(id)).unwrap());
                    } else {
                        tx.send(log.item(id)).unwrap();
                    }
                }
            });
        }
        drop(tx);
        // On this thread, under the watchdog.
        {
            let mut last = [None::<usize>; PRODUCERS];
            let mut received = 0u64;
            for item in &rx {
                let id = item.id();
                log.assert_alive(id);
                let p = id / per;
                assert!(
                    last[p].is_none_or(|prev| prev < id),
                    "{id} after {:?}",
                    last[p]
                );
                last[p] = Some(id);
                assert!((rx.skipped() as usize) < total, "skipped {}", rx.skipped());
                received += 1;
            }
            assert!(last.iter().any(|l| l.is_some_and(|id| id % per == per - 1)));
            received
        }
    });
    log.assert_all_dropped_once(0..total);
    assert_eq!(received + rx.overwritten(), total as u64);
}

/// A value of `N` bytes carrying a number, its bytes all derived from it
/// so that a torn or mixed value shows. Up to 56 bytes a value's number
/// travels in its node next to it; above that an arena put writes it on the
/// slot word's cache line (`Chan::seq_on_slot_line`): both sides of that
/// line are run here, sequentially and racing, overflow nodes included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bytes<const N: usize>([u8; N]);

impl<const N: usize> Numbered for Bytes<N> {
    fn numbered(v: u64) -> Self {
        let mut bytes = [0u8; N];
        bytes[..8].copy_from_slice(&v.to_le_bytes());
        for (i, b) in bytes.iter_mut().enumerate().skip(8) {
            *b = (v as u8).wrapping_mul(31).wrapping_add(i as u8);
        }
        Bytes(bytes)
    }

    fn number(&self) -> u64 {
        let v = u64::from_le_bytes(self.0[..8].try_into().unwrap());
        assert_eq!(*self, Self::numbered(v), "a torn or mixed value");
        v
    }
}

fn values_of_size<const N: usize>(seed: u64) {
    // Sequential: `k` sends, then a receive, with a value held back by the
    // receiver's side (`replace`) so that overflow nodes take part too.
    let (tx, rx) = channel::<Bytes<N>>();
    let mut next = 0;
    let mut sum = 0;
    let mut held = Vec::new();
    for k in 1..=8u64 {
        for _ in 0..k {
            if let Some(old) = tx.replace(Bytes::numbered(next)).unwrap() {
                held.push(old);
            }
            next += 1;
        }
        let v = rx.recv().unwrap();
        assert_eq!(v.number(), next - 1);
        assert_eq!(rx.skipped(), k - 1, "{N} bytes, {k} values");
        sum += rx.skipped();
        assert_eq!(rx.overwritten(), sum);
    }
    assert_eq!(held.len() as u64, sum);
    // Racing: one producer, every kind of receive, `v - u - 1` each time.
    one_producer_racing::<Bytes<N>>(&KINDS, scaled(20_000, 40) as u64, seed);
}

#[test]
fn values_up_to_56_bytes_carry_their_number_in_the_node() {
    values_of_size::<8>(11);
    values_of_size::<56>(12);
}

#[test]
fn larger_values_carry_their_number_on_the_slot_line() {
    values_of_size::<57>(13);
    values_of_size::<64>(14);
    values_of_size::<200>(15);
}
