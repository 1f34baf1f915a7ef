//! Criterion benchmarks: conflate against every alternative a user might pick
//! instead, side by side in one process, one group per scenario and the same
//! benchmark id (the implementation) in every group; the criterion parameter
//! is the payload (`u64`, `64B`; in `send_idle` also `64B_splat`, the same
//! 64 bytes built by broadcast), plus `floating`/`pinned` for `round_trip`.
//!
//! Scenarios (see `docs/benchmarks.md` for results and method):
//! - `send_idle`: one thread overwrites repeatedly; the receiver is alive but
//!   never receives.
//! - `send_contended`: the producer pinned to CPU 0 sends while the consumer,
//!   pinned to CPU 1, spins on `try_recv`; time per send. The share of values
//!   the consumer got is written to `target/bench-results/channels.json`.
//! - `send_contended_2p`: two producers pinned to CPU 0 and CPU 1 send at once
//!   while a floating consumer polls `try_recv` (yielding when empty); time per
//!   send of each producer.
//! - `round_trip`: A sends, B blocked in `recv` wakes and sends back on a
//!   second channel of the same kind; time per round trip, threads floating or
//!   pinned apart.
//!
//! Designs that cannot block (triple_buffer, arc_swap, the bare atomic) are
//! skipped in `round_trip`, and triple_buffer (single producer) in
//! `send_contended_2p`; every skip is printed and recorded in the JSON file.

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{Bytes64, Chan, Payload, STOP, Visit, for_each_impl, json_str, spawn_on};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};

/// Calls with fewer sends than this are criterion's warm-up probes; their
/// delivery share is too coarse to record.
const MIN_ITERS_FOR_SHARE: u64 = 10_000;

/// Delivery counts of one benchmark: per measured call, (received, sent).
struct ShareEntry {
    group: String,
    id: String,
    payload: String,
    calls: Vec<(u64, u64)>,
}

/// The machine's state around one benchmark: a cache line's round trip
/// between the CPUs just before criterion starts it (after any wait for the
/// quiet state) and just after it ends (`common::line_round_trip`).
struct StateEntry {
    group: String,
    id: String,
    param: String,
    before_ns: f64,
    after_ns: f64,
}

/// Side results criterion cannot store: delivery shares, machine states and
/// skips.
#[derive(Default)]
struct Extras {
    shares: Vec<ShareEntry>,
    states: Vec<StateEntry>,
    /// (group, id, reason).
    skipped: Vec<(String, String, String)>,
}

static EXTRAS: Mutex<Option<Extras>> = Mutex::new(None);

/// Load averages when the run started.
static LOAD_START: Mutex<String> = Mutex::new(String::new());
/// A cache line's round trip between the CPUs at the start, in ns: which of
/// its states the machine was in (`common::line_round_trip`).
static LINE_START: Mutex<f64> = Mutex::new(f64::NAN);

/// Before each cross-CPU benchmark, wait for the quiet state when
/// `CONFLATE_BENCH_QUIET_WAIT=1` asks for it (within `common::QUIET_BUDGET`
/// in all).
static QUIET: Mutex<common::QuietWait> = Mutex::new(common::QuietWait::new(common::QUIET_BUDGET));

/// Checks the machine's state around one benchmark that involves both CPUs.
///
/// The wait for the quiet state happens when the probe is made, before
/// `bench_function`: inside criterion's first call it would count as
/// warm-up time and spoil criterion's choice of iteration counts. A
/// benchmark that criterion's filter leaves out never calls `ran`, and its
/// probe records nothing (it may still have waited, within the budget).
struct StateProbe {
    group: &'static str,
    id: &'static str,
    param: String,
    before_ns: f64,
    ran: Cell<bool>,
}

impl StateProbe {
    /// Waits for the quiet state (within the run's budget) and records it.
    fn new(group: &'static str, id: &'static str, param: &str) -> Self {
        StateProbe {
            group,
            id,
            param: param.to_owned(),
            before_ns: QUIET.lock().unwrap().wait(common::PROBE_TRIPS),
            ran: Cell::new(false),
        }
    }

    /// Called by every measured call: the benchmark did run.
    fn ran(&self) {
        self.ran.set(true);
    }

    /// Called once the benchmark is done: records both checks.
    fn finish(self) {
        if !self.ran.get() {
            return;
        }
        let before_ns = self.before_ns;
        let after_ns = common::line_round_trip(common::PROBE_TRIPS);
        let mut guard = EXTRAS.lock().unwrap();
        guard
            .get_or_insert_with(Extras::default)
            .states
            .push(StateEntry {
                group: self.group.to_owned(),
                id: self.id.to_owned(),
                param: self.param,
                before_ns,
                after_ns,
            });
    }
}

fn record_share(group: &str, id: &str, payload: &str, got: u64, sent: u64) {
    if sent < MIN_ITERS_FOR_SHARE {
        return;
    }
    let mut guard = EXTRAS.lock().unwrap();
    let extras = guard.get_or_insert_with(Extras::default);
    match extras
        .shares
        .iter_mut()
        .find(|e| e.group == group && e.id == id && e.payload == payload)
    {
        Some(entry) => entry.calls.push((got, sent)),
        None => extras.shares.push(ShareEntry {
            group: group.to_owned(),
            id: id.to_owned(),
            payload: payload.to_owned(),
            calls: vec![(got, sent)],
        }),
    }
}

fn record_skip(group: &str, id: &str, payload: &str, reason: &str) {
    eprintln!("{group}/{id}/{payload}: skipped ({reason})");
    let mut guard = EXTRAS.lock().unwrap();
    let extras = guard.get_or_insert_with(Extras::default);
    if !extras.skipped.iter().any(|(g, i, _)| g == group && i == id) {
        extras
            .skipped
            .push((group.to_owned(), id.to_owned(), reason.to_owned()));
    }
}

fn write_extras() {
    let guard = EXTRAS.lock().unwrap();
    let Some(extras) = guard.as_ref() else {
        return;
    };
    let mut out = format!(
        "{{\n  \"cpus\": {},\n  \"loadavg_start\": {},\n  \"loadavg_end\": {},\n  \"line_round_trip_ns\": [{}, {}],\n  {},\n  \"shares\": [\n",
        common::cpus(),
        LOAD_START.lock().unwrap(),
        common::loadavg_json(),
        common::json_f64(*LINE_START.lock().unwrap()),
        common::json_f64(common::line_round_trip(common::LINE_TRIPS)),
        common::state_json(QUIET.lock().unwrap().waited())
    );
    let rows: Vec<String> = extras
        .shares
        .iter()
        .map(|ShareEntry { group: g, id: i, payload: p, calls }| {
            let per_call = calls.iter().map(|&(got, sent)| got as f64 / sent as f64);
            let (got, sent) = calls
                .iter()
                .fold((0u64, 0u64), |(a, b), &(g, s)| (a + g, b + s));
            format!(
                "    {{\"group\": {}, \"id\": {}, \"payload\": {}, \"share_median\": {:.6}, \"share_total\": {:.6}, \"calls\": {}}}",
                json_str(g),
                json_str(i),
                json_str(p),
                common::median(per_call.collect()),
                got as f64 / sent as f64,
                calls.len()
            )
        })
        .collect();
    out += &rows.join(",\n");
    out += "\n  ],\n  \"states\": [\n";
    let rows: Vec<String> = extras
        .states
        .iter()
        .map(|e| {
            format!(
                "    {{\"group\": {}, \"id\": {}, \"param\": {}, \"line_round_trip_ns\": [{}, {}]}}",
                json_str(&e.group),
                json_str(&e.id),
                json_str(&e.param),
                common::json_f64(e.before_ns),
                common::json_f64(e.after_ns)
            )
        })
        .collect();
    out += &rows.join(",\n");
    out += "\n  ],\n  \"skipped\": [\n";
    let rows: Vec<String> = extras
        .skipped
        .iter()
        .map(|(g, i, r)| {
            format!(
                "    {{\"group\": {}, \"id\": {}, \"reason\": {}}}",
                json_str(g),
                json_str(i),
                json_str(r)
            )
        })
        .collect();
    out += &rows.join(",\n");
    out += "\n  ]\n}\n";
    let path = common::results_dir().join("channels.json");
    std::fs::write(&path, out).expect("write channels.json");
    eprintln!("wrote {}", path.display());
}

// ---------------------------------------------------------------------------
// send_idle
// ---------------------------------------------------------------------------

struct SendIdle<'a, 'c>(&'a mut BenchmarkGroup<'c, WallTime>);

impl<T: Payload> Visit<T> for SendIdle<'_, '_> {
    fn visit<C: Chan<T>>(&mut self) {
        let (mut tx, rx) = C::new();
        let mut seq = 0u64;
        self.0
            .bench_function(BenchmarkId::new(C::ID, T::NAME), |b| {
                b.iter(|| {
                    seq += 1;
                    C::send(&mut tx, black_box(T::make(seq)));
                });
            });
        // The receiver stays alive (and idle) for the whole measurement.
        drop(rx);
    }
}

// ---------------------------------------------------------------------------
// send_contended (one or two producers, consumer spinning on try_recv)
// ---------------------------------------------------------------------------

struct SendContended<'a, 'c> {
    group: &'a mut BenchmarkGroup<'c, WallTime>,
    name: &'static str,
    producers: usize,
}

/// One measured call: `producers` threads each send `iters` values while a
/// consumer polls. Returns the slowest producer's time and the consumer's
/// count of received values.
fn contended_once<T: Payload, C: Chan<T>>(iters: u64, producers: usize) -> (Duration, u64) {
    let (tx, mut rx) = C::new();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(producers + 1));
    // One producer: producer on CPU 0, consumer alone on CPU 1, spinning.
    // Two producers: they take CPU 0 and CPU 1; the consumer floats and yields
    // whenever it finds nothing (three busy threads on two CPUs otherwise
    // measure the scheduler's time slices, not the channel).
    let (consumer_cpu, polite) = if producers == 1 {
        (Some(1), false)
    } else {
        (None, true)
    };
    let consumer = {
        let stop = stop.clone();
        let start = start.clone();
        spawn_on(consumer_cpu, move || {
            start.wait();
            let mut got = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match C::try_recv(&mut rx) {
                    Some(v) => {
                        black_box(v);
                        got += 1;
                    }
                    None if polite => thread::yield_now(),
                    None => {}
                }
            }
            got
        })
    };
    // Producer p runs on CPU p; the original handle goes to the last one.
    let mut txs: Vec<C::Tx> = (1..producers).map(|_| C::clone_tx(&tx)).collect();
    txs.push(tx);
    let handles: Vec<_> = txs
        .into_iter()
        .enumerate()
        .map(|(p, mut tx)| {
            let start = start.clone();
            spawn_on(Some(p), move || {
                start.wait();
                let t0 = Instant::now();
                for i in 1..=iters {
                    C::send(&mut tx, black_box(T::make(i)));
                }
                let elapsed = t0.elapsed();
                // Keep `tx` alive until the consumer stops: a dropped sender
                // must not end the measurement early.
                (elapsed, tx)
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    let mut keep = Vec::new();
    for h in handles {
        let (elapsed, tx) = h.join().expect("producer panicked");
        slowest = slowest.max(elapsed);
        keep.push(tx);
    }
    stop.store(true, Ordering::Relaxed);
    let got = consumer.join().expect("consumer panicked");
    drop(keep);
    (slowest, got)
}

impl<T: Payload> Visit<T> for SendContended<'_, '_> {
    fn visit<C: Chan<T>>(&mut self) {
        if self.producers > 1 && !C::MULTI_PRODUCER {
            record_skip(self.name, C::ID, T::NAME, "single producer only");
            return;
        }
        let (name, producers) = (self.name, self.producers);
        let probe = StateProbe::new(name, C::ID, T::NAME);
        self.group
            .bench_function(BenchmarkId::new(C::ID, T::NAME), |b| {
                b.iter_custom(|iters| {
                    probe.ran();
                    let (elapsed, got) = contended_once::<T, C>(iters, producers);
                    record_share(name, C::ID, T::NAME, got, iters * producers as u64);
                    elapsed
                });
            });
        probe.finish();
    }
}

// ---------------------------------------------------------------------------
// round_trip
// ---------------------------------------------------------------------------

struct RoundTrip<'a, 'c> {
    group: &'a mut BenchmarkGroup<'c, WallTime>,
    pinned: bool,
}

fn round_trip_once<T: Payload, C: Chan<T>>(iters: u64, pinned: bool) -> Duration {
    let (mut tx_ab, mut rx_ab) = C::new();
    let (mut tx_ba, mut rx_ba) = C::new();
    let start = Arc::new(Barrier::new(2));
    let b = {
        let start = start.clone();
        spawn_on(pinned.then_some(1), move || {
            C::attach(&mut rx_ab);
            start.wait();
            loop {
                let v = C::recv(&mut rx_ab);
                if v.seq() == STOP {
                    break;
                }
                C::send(&mut tx_ba, v);
            }
        })
    };
    let a = spawn_on(pinned.then_some(0), move || {
        C::attach(&mut rx_ba);
        start.wait();
        let t0 = Instant::now();
        for i in 1..=iters {
            C::send(&mut tx_ab, black_box(T::make(i)));
            let v = C::recv(&mut rx_ba);
            assert_eq!(v.seq(), i, "{}: round trip returned a wrong value", C::ID);
            black_box(v);
        }
        let elapsed = t0.elapsed();
        C::send(&mut tx_ab, T::make(STOP));
        elapsed
    });
    let elapsed = a.join().expect("thread A panicked");
    b.join().expect("thread B panicked");
    elapsed
}

impl<T: Payload> Visit<T> for RoundTrip<'_, '_> {
    fn visit<C: Chan<T>>(&mut self) {
        let placement = if self.pinned { "pinned" } else { "floating" };
        let param = format!("{}_{placement}", T::NAME);
        if !C::BLOCKING {
            record_skip("round_trip", C::ID, &param, "cannot block in recv");
            return;
        }
        let pinned = self.pinned;
        let probe = StateProbe::new("round_trip", C::ID, &param);
        self.group
            .bench_function(BenchmarkId::new(C::ID, param), |b| {
                b.iter_custom(|iters| {
                    probe.ran();
                    round_trip_once::<T, C>(iters, pinned)
                });
            });
        probe.finish();
    }
}

// ---------------------------------------------------------------------------

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .nresamples(10_000)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
        .without_plots()
        .configure_from_args();

    if common::cpus() < 2 {
        eprintln!("warning: fewer than 2 CPUs; pinned scenarios share one CPU");
    }
    *LOAD_START.lock().unwrap() = common::loadavg_json();
    *LINE_START.lock().unwrap() = common::line_round_trip(common::LINE_TRIPS);

    {
        let mut g = c.benchmark_group("send_idle");
        for_each_impl::<u64, _>(&mut SendIdle(&mut g));
        for_each_impl::<Bytes64, _>(&mut SendIdle(&mut g));
        for_each_impl::<[u64; 8], _>(&mut SendIdle(&mut g));
        g.finish();
    }
    for (name, producers) in [("send_contended", 1), ("send_contended_2p", 2)] {
        let mut g = c.benchmark_group(name);
        for_each_impl::<u64, _>(&mut SendContended {
            group: &mut g,
            name,
            producers,
        });
        for_each_impl::<Bytes64, _>(&mut SendContended {
            group: &mut g,
            name,
            producers,
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("round_trip");
        for pinned in [false, true] {
            for_each_impl::<u64, _>(&mut RoundTrip {
                group: &mut g,
                pinned,
            });
            for_each_impl::<Bytes64, _>(&mut RoundTrip {
                group: &mut g,
                pinned,
            });
        }
        g.finish();
    }

    c.final_summary();
    write_extras();
}
