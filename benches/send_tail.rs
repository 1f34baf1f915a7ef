//! `send_tail` and `alloc_per_op`: a custom harness (`harness = false`).
//!
//! `send_tail` times each of N (default 1,000,000) individual sends with the
//! CPU's time-stamp counter while a consumer receives in a loop (blocking
//! `recv` for the designs that can block, a spin on `try_recv` for the
//! others), and reports p50, p99, p99.9, max and the number of sends over
//! 10 µs, per implementation and payload, in three set-ups:
//! - `apart`: producer pinned to CPU 0, consumer pinned to CPU 1;
//! - `noisy_consumer_cpu`: the same plus a third thread spinning on CPU 1, so
//!   the consumer is preempted (also while it holds a lock, where it takes
//!   one);
//! - `noisy_producer_cpu`: the same plus a third thread spinning on CPU 0.
//!
//! A `timer_only` row times an empty section the same way: it is the cost of
//! the timer itself and the machine's own noise floor (interrupts, hypervisor
//! exits, preemption) in each set-up. Every configuration is repeated
//! (default 3 times, interleaved) and the median of each statistic is
//! reported, with the min and max of the over-10-µs counts.
//!
//! `alloc_per_op` counts heap allocations with a counting
//! `#[global_allocator]`: per send with nobody receiving, per send and per
//! `try_recv` when each send is received, and per blocking round trip across
//! two threads (everything both threads allocate, divided by round trips).
//!
//! Results go to stdout and to `target/bench-results/send_tail.json`.
//! Options (after `--`): `--sends N`, `--reps N`, `--quick` (100,000 sends,
//! one repetition), `--alloc-only`, `--only ID` (send_tail of that one
//! implementation, no allocation counts, no timer row), and `--profile-send ID` which only does
//! N idle sends of implementation ID (u64 payload) on one thread and exits:
//! run it under `valgrind --tool=callgrind` with two values of N and divide
//! the difference in instructions by the difference in N to get instructions
//! per send.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{Bytes64, Chan, Payload, STOP, Visit, for_each_impl, json_str, spawn_on};

// ---------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------

/// Counts allocations (alloc, alloc_zeroed, realloc) while `COUNTING` is set.
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

#[inline]
fn note_alloc() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the counting touches only
// two atomics and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: forwarded as is; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: forwarded as is; `ptr` came from this allocator, i.e. from
        // `System`, as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from `System` via this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Runs `f` with allocation counting on and returns what it counted.
fn count_allocs(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCS.load(Ordering::Relaxed) - before
}

// ---------------------------------------------------------------------------
// Timer
// ---------------------------------------------------------------------------

/// Reads the time-stamp counter; the fences keep the timed work inside the
/// two reads.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn ticks() -> u64 {
    use std::arch::x86_64::{_mm_lfence, _rdtsc};
    // SAFETY: SSE2 is part of the x86_64 baseline, so `lfence` exists.
    unsafe { _mm_lfence() };
    // SAFETY: `rdtsc` is available on every x86_64 CPU and has no memory
    // effects.
    let t = unsafe { _rdtsc() };
    // SAFETY: as above.
    unsafe { _mm_lfence() };
    t
}

/// Elsewhere: nanoseconds since a fixed `Instant`.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn ticks() -> u64 {
    use std::sync::OnceLock;
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Ticks per nanosecond, measured against `Instant` over 200 ms.
fn calibrate() -> f64 {
    let (t0, i0) = (ticks(), Instant::now());
    std::thread::sleep(Duration::from_millis(200));
    let (t1, i1) = (ticks(), Instant::now());
    (t1 - t0) as f64 / (i1 - i0).as_nanos() as f64
}

// ---------------------------------------------------------------------------
// send_tail
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Setup {
    Apart,
    NoisyConsumerCpu,
    NoisyProducerCpu,
}

const SETUPS: [Setup; 3] = [
    Setup::Apart,
    Setup::NoisyConsumerCpu,
    Setup::NoisyProducerCpu,
];

const PRODUCER_CPU: usize = 0;
const CONSUMER_CPU: usize = 1;

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::Apart => "apart",
            Setup::NoisyConsumerCpu => "noisy_consumer_cpu",
            Setup::NoisyProducerCpu => "noisy_producer_cpu",
        }
    }
    fn spinner_cpu(self) -> Option<usize> {
        match self {
            Setup::Apart => None,
            Setup::NoisyConsumerCpu => Some(CONSUMER_CPU),
            Setup::NoisyProducerCpu => Some(PRODUCER_CPU),
        }
    }
}

/// Statistics of one run, in nanoseconds.
#[derive(Clone, Copy, Debug)]
struct Stats {
    /// A cache line's round trip between the CPUs just before and just
    /// after the run (`common::line_round_trip`): the machine's state.
    line_ns: (f64, f64),
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    over_10us: u64,
    received: u64,
}

fn stats(samples: &mut [u64], ticks_per_ns: f64, received: u64, line_ns: (f64, f64)) -> Stats {
    samples.sort_unstable();
    let n = samples.len();
    let at = |q: f64| samples[((n as f64 * q) as usize).min(n - 1)] as f64 / ticks_per_ns;
    let limit = (10_000.0 * ticks_per_ns) as u64;
    Stats {
        line_ns,
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: samples[n - 1] as f64 / ticks_per_ns,
        over_10us: samples.len() as u64 - samples.partition_point(|&s| s <= limit) as u64,
        received,
    }
}

/// A thread spinning on `cpu` until dropped.
struct Spinner {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Spinner {
    fn start(cpu: Option<usize>) -> Option<Spinner> {
        let cpu = cpu?;
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = stop.clone();
            spawn_on(Some(cpu), move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        };
        Some(Spinner {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().expect("spinner panicked");
        }
    }
}

/// Times `buf.len()` sends of `C` in `setup`; returns the consumer's count.
fn tail_run<T: Payload, C: Chan<T>>(setup: Setup, buf: &mut Vec<u64>) -> u64 {
    let n = buf.len() as u64;
    let (tx, mut rx) = C::new();
    let _spinner = Spinner::start(setup.spinner_cpu());
    let start = Arc::new(Barrier::new(2));
    let consumer = {
        let start = start.clone();
        spawn_on(Some(CONSUMER_CPU), move || {
            C::attach(&mut rx);
            start.wait();
            let mut got = 0u64;
            loop {
                let v = C::recv(&mut rx);
                if v.seq() == STOP {
                    return got;
                }
                black_box(v);
                got += 1;
            }
        })
    };
    let mut samples = std::mem::take(buf);
    let producer = spawn_on(Some(PRODUCER_CPU), move || {
        let mut tx = tx;
        start.wait();
        for (i, slot) in (1..=n).zip(samples.iter_mut()) {
            let value = black_box(T::make(i));
            let t0 = ticks();
            C::send(&mut tx, value);
            let t1 = ticks();
            *slot = t1 - t0;
        }
        C::send(&mut tx, T::make(STOP));
        (samples, tx)
    });
    let (samples, tx) = producer.join().expect("producer panicked");
    let got = consumer.join().expect("consumer panicked");
    drop(tx);
    *buf = samples;
    got
}

/// The timer alone: an empty timed section, same pinning and spinner.
fn timer_run(setup: Setup, buf: &mut Vec<u64>) {
    let _spinner = Spinner::start(setup.spinner_cpu());
    let mut samples = std::mem::take(buf);
    let producer = spawn_on(Some(PRODUCER_CPU), move || {
        for slot in samples.iter_mut() {
            let t0 = ticks();
            black_box(());
            let t1 = ticks();
            *slot = t1 - t0;
        }
        samples
    });
    *buf = producer.join().expect("timer thread panicked");
}

/// Key of one result row.
#[derive(Clone, PartialEq, Eq)]
struct Key {
    setup: &'static str,
    id: &'static str,
    payload: &'static str,
}

struct TailVisit<'a> {
    /// Waits for the quiet state before each run, when the wait is on (one
    /// budget per process).
    quiet: &'a mut common::QuietWait,
    only: Option<&'a str>,
    setup: Setup,
    buf: &'a mut Vec<u64>,
    ticks_per_ns: f64,
    results: &'a mut Vec<(Key, Vec<Stats>)>,
}

fn push(results: &mut Vec<(Key, Vec<Stats>)>, key: Key, s: Stats) {
    match results.iter_mut().find(|(k, _)| *k == key) {
        Some((_, v)) => v.push(s),
        None => results.push((key, vec![s])),
    }
}

impl<T: Payload> Visit<T> for TailVisit<'_> {
    fn visit<C: Chan<T>>(&mut self) {
        if self.only.is_some_and(|id| id != C::ID) {
            return;
        }
        let before = self.quiet.wait(common::PROBE_TRIPS);
        let got = tail_run::<T, C>(self.setup, self.buf);
        let after = common::line_round_trip(common::PROBE_TRIPS);
        let s = stats(self.buf, self.ticks_per_ns, got, (before, after));
        let key = Key {
            setup: self.setup.name(),
            id: C::ID,
            payload: T::NAME,
        };
        eprintln!(
            "  {:<19} {:<26} {:<4} p50 {:>7.0} ns  p99.9 {:>9.0} ns  max {:>11.0} ns  >10us {:>6}",
            key.setup, key.id, key.payload, s.p50, s.p999, s.max, s.over_10us
        );
        push(self.results, key, s);
    }
}

// ---------------------------------------------------------------------------
// alloc_per_op
// ---------------------------------------------------------------------------

const ALLOC_OPS: u64 = 10_000;
const ALLOC_WARMUP: u64 = 100;

struct AllocRow {
    id: &'static str,
    payload: &'static str,
    send_idle: f64,
    send_received: f64,
    try_recv: f64,
    /// `None` for designs that cannot block.
    round_trip: Option<f64>,
}

struct AllocVisit<'a>(&'a mut Vec<AllocRow>);

fn alloc_round_trip<T: Payload, C: Chan<T>>() -> f64 {
    let (mut tx_ab, mut rx_ab) = C::new();
    let (mut tx_ba, mut rx_ba) = C::new();
    let start = Arc::new(Barrier::new(2));
    let b = {
        let start = start.clone();
        spawn_on(None, move || {
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
    let a = spawn_on(None, move || {
        C::attach(&mut rx_ba);
        start.wait();
        let mut trip = |i: u64| {
            C::send(&mut tx_ab, T::make(i));
            let v = C::recv(&mut rx_ba);
            assert_eq!(v.seq(), i);
        };
        for i in 1..=ALLOC_WARMUP {
            trip(i);
        }
        let n = count_allocs(|| {
            for i in ALLOC_WARMUP + 1..=ALLOC_WARMUP + ALLOC_OPS {
                trip(i);
            }
        });
        C::send(&mut tx_ab, T::make(STOP));
        n
    });
    let n = a.join().expect("thread A panicked");
    b.join().expect("thread B panicked");
    n as f64 / ALLOC_OPS as f64
}

impl<T: Payload> Visit<T> for AllocVisit<'_> {
    fn visit<C: Chan<T>>(&mut self) {
        // Single thread: nobody receives.
        let (mut tx, mut rx) = C::new();
        for i in 1..=ALLOC_WARMUP {
            C::send(&mut tx, T::make(i));
        }
        let idle = count_allocs(|| {
            for i in 1..=ALLOC_OPS {
                C::send(&mut tx, black_box(T::make(i)));
            }
        });
        // Single thread: each send is taken by `try_recv`; counted apart.
        let (mut sends, mut recvs) = (0, 0);
        for i in 1..=ALLOC_WARMUP + ALLOC_OPS {
            let counted = i > ALLOC_WARMUP;
            let s = count_allocs(|| C::send(&mut tx, black_box(T::make(i))));
            let mut got = None;
            let r = count_allocs(|| got = C::try_recv(&mut rx));
            assert_eq!(got.map(|v| v.seq()), Some(i), "{}: try_recv", C::ID);
            if counted {
                sends += s;
                recvs += r;
            }
        }
        drop((tx, rx));
        let round_trip = C::BLOCKING.then(alloc_round_trip::<T, C>);
        let ops = ALLOC_OPS as f64;
        let row = AllocRow {
            id: C::ID,
            payload: T::NAME,
            send_idle: idle as f64 / ops,
            send_received: sends as f64 / ops,
            try_recv: recvs as f64 / ops,
            round_trip,
        };
        eprintln!(
            "  {:<26} {:<4} send(idle) {:.3}  send {:.3}  try_recv {:.3}  round trip {}",
            row.id,
            row.payload,
            row.send_idle,
            row.send_received,
            row.try_recv,
            row.round_trip.map_or_else(
                || "skipped (cannot block)".to_owned(),
                |v| format!("{v:.3}")
            )
        );
        self.0.push(row);
    }
}

// ---------------------------------------------------------------------------

struct Options {
    sends: usize,
    reps: usize,
    alloc_only: bool,
    profile_send: Option<String>,
    only: Option<String>,
}

fn options() -> Options {
    let mut o = Options {
        sends: 1_000_000,
        reps: 3,
        alloc_only: false,
        profile_send: None,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--sends" => o.sends = args.next().and_then(|v| v.parse().ok()).expect("--sends N"),
            "--reps" => o.reps = args.next().and_then(|v| v.parse().ok()).expect("--reps N"),
            "--quick" => {
                o.sends = 100_000;
                o.reps = 1;
            }
            "--alloc-only" => o.alloc_only = true,
            "--only" => o.only = Some(args.next().expect("--only ID")),
            "--profile-send" => o.profile_send = Some(args.next().expect("--profile-send ID")),
            // `cargo bench` passes `--bench`; filters and criterion flags meant
            // for the other target are ignored.
            _ => {}
        }
    }
    assert!(
        o.sends > 0 && o.reps > 0,
        "--sends and --reps must be positive"
    );
    o
}

/// `--profile-send`: `sends` idle sends of one implementation, nothing else.
struct ProfileSend<'a> {
    id: &'a str,
    sends: u64,
    found: bool,
}

impl Visit<u64> for ProfileSend<'_> {
    fn visit<C: Chan<u64>>(&mut self) {
        if C::ID != self.id {
            return;
        }
        self.found = true;
        let (mut tx, rx) = C::new();
        for i in 1..=self.sends {
            C::send(&mut tx, black_box(i));
        }
        drop((tx, rx));
    }
}

fn main() {
    let opts = options();
    if let Some(id) = &opts.profile_send {
        let mut p = ProfileSend {
            id,
            sends: opts.sends as u64,
            found: false,
        };
        for_each_impl::<u64, _>(&mut p);
        assert!(p.found, "unknown implementation id {id:?}");
        return;
    }
    let load_start = common::loadavg_json();
    let line_start = common::line_round_trip(common::LINE_TRIPS);
    if common::cpus() < 2 {
        eprintln!("warning: fewer than 2 CPUs; the pinned set-ups share one CPU");
    }

    let mut allocs = Vec::new();
    if opts.only.is_none() {
        eprintln!("alloc_per_op ({ALLOC_OPS} operations after {ALLOC_WARMUP} warm-up):");
        for_each_impl::<u64, _>(&mut AllocVisit(&mut allocs));
        for_each_impl::<Bytes64, _>(&mut AllocVisit(&mut allocs));
    }

    let mut results: Vec<(Key, Vec<Stats>)> = Vec::new();
    let ticks_per_ns = calibrate();
    let mut quiet = common::QuietWait::new(common::QUIET_BUDGET);
    if !opts.alloc_only {
        eprintln!(
            "send_tail: {} sends x {} repetitions, timer {:.3} ticks/ns",
            opts.sends, opts.reps, ticks_per_ns
        );
        let mut buf = vec![0u64; opts.sends];
        for rep in 0..opts.reps {
            eprintln!("repetition {}/{}", rep + 1, opts.reps);
            for setup in SETUPS {
                let mut v = TailVisit {
                    quiet: &mut quiet,
                    only: opts.only.as_deref(),
                    setup,
                    buf: &mut buf,
                    ticks_per_ns,
                    results: &mut results,
                };
                for_each_impl::<u64, _>(&mut v);
                for_each_impl::<Bytes64, _>(&mut v);
                if opts.only.is_some() {
                    continue;
                }
                let before = quiet.wait(common::PROBE_TRIPS);
                timer_run(setup, &mut buf);
                let after = common::line_round_trip(common::PROBE_TRIPS);
                let s = stats(&mut buf, ticks_per_ns, 0, (before, after));
                push(
                    &mut results,
                    Key {
                        setup: setup.name(),
                        id: "timer_only",
                        payload: "-",
                    },
                    s,
                );
            }
        }
    }

    let load = (load_start, common::loadavg_json());
    let line = (line_start, common::line_round_trip(common::LINE_TRIPS));
    let json = to_json(
        &opts,
        ticks_per_ns,
        &load,
        (line, quiet.waited()),
        &results,
        &allocs,
    );
    let path = common::results_dir().join("send_tail.json");
    std::fs::write(&path, json).expect("write send_tail.json");
    print_tables(&results, &allocs);
    eprintln!("wrote {}", path.display());
}

fn print_tables(results: &[(Key, Vec<Stats>)], allocs: &[AllocRow]) {
    if !results.is_empty() {
        println!(
            "\nsend_tail (medians over repetitions; ns)\n{:<19} {:<26} {:<4} {:>8} {:>8} {:>9} {:>11} {:>13}",
            "setup", "impl", "T", "p50", "p99", "p99.9", "max", ">10us (min-max)"
        );
        for (k, runs) in results {
            let med = |f: fn(&Stats) -> f64| common::median(runs.iter().map(f).collect());
            let over: Vec<u64> = runs.iter().map(|s| s.over_10us).collect();
            println!(
                "{:<19} {:<26} {:<4} {:>8.0} {:>8.0} {:>9.0} {:>11.0} {:>7.0} ({}-{})",
                k.setup,
                k.id,
                k.payload,
                med(|s| s.p50),
                med(|s| s.p99),
                med(|s| s.p999),
                med(|s| s.max),
                med(|s| s.over_10us as f64),
                over.iter().min().unwrap(),
                over.iter().max().unwrap()
            );
        }
    }
    println!(
        "\nalloc_per_op (allocations per operation)\n{:<26} {:<4} {:>10} {:>10} {:>10} {:>11}",
        "impl", "T", "send idle", "send", "try_recv", "round trip"
    );
    for r in allocs {
        println!(
            "{:<26} {:<4} {:>10.3} {:>10.3} {:>10.3} {:>11}",
            r.id,
            r.payload,
            r.send_idle,
            r.send_received,
            r.try_recv,
            r.round_trip
                .map_or_else(|| "skipped".to_owned(), |v| format!("{v:.3}"))
        );
    }
}

fn to_json(
    opts: &Options,
    ticks_per_ns: f64,
    load: &(String, String),
    (line, waited): ((f64, f64), Duration),
    results: &[(Key, Vec<Stats>)],
    allocs: &[AllocRow],
) -> String {
    let mut out = format!(
        "{{\n  \"sends\": {},\n  \"reps\": {},\n  \"ticks_per_ns\": {:.6},\n  \"cpus\": {},\n  \"loadavg_start\": {},\n  \"loadavg_end\": {},\n  \"line_round_trip_ns\": [{}, {}],\n  {},\n  \"tail\": [\n",
        opts.sends,
        opts.reps,
        ticks_per_ns,
        common::cpus(),
        load.0,
        load.1,
        common::json_f64(line.0),
        common::json_f64(line.1),
        common::state_json(waited)
    );
    let rows: Vec<String> = results
        .iter()
        .map(|(k, runs)| {
            let list = |f: fn(&Stats) -> f64| {
                runs.iter()
                    .map(|s| format!("{:.1}", f(s)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "    {{\"setup\": {}, \"id\": {}, \"payload\": {}, \"p50\": [{}], \"p99\": [{}], \"p999\": [{}], \"max\": [{}], \"over_10us\": [{}], \"received\": [{}], \"line_round_trip_ns\": [{}]}}",
                json_str(k.setup),
                json_str(k.id),
                json_str(k.payload),
                list(|s| s.p50),
                list(|s| s.p99),
                list(|s| s.p999),
                list(|s| s.max),
                list(|s| s.over_10us as f64),
                list(|s| s.received as f64),
                runs.iter()
                    .map(|s| format!("[{}, {}]", common::json_f64(s.line_ns.0), common::json_f64(s.line_ns.1)))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })
        .collect();
    out += &rows.join(",\n");
    out += "\n  ],\n  \"alloc\": [\n";
    let rows: Vec<String> = allocs
        .iter()
        .map(|r| {
            format!(
                "    {{\"id\": {}, \"payload\": {}, \"send_idle\": {:.4}, \"send_received\": {:.4}, \"try_recv\": {:.4}, \"round_trip\": {}}}",
                json_str(r.id),
                json_str(r.payload),
                r.send_idle,
                r.send_received,
                r.try_recv,
                r.round_trip.map_or_else(|| "null".to_owned(), |v| format!("{v:.4}"))
            )
        })
        .collect();
    out += &rows.join(",\n");
    out += "\n  ]\n}\n";
    out
}
