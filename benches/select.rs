//! Criterion benchmark `select_round_trip` (issue #10): one thread waits on
//! k = 1, 2, 4, 8 receivers at once, a pinger sends to one of them (rotating
//! through them) and blocks until the selector replies on a reply channel;
//! time per round trip, threads floating or pinned apart (pinger on CPU 0,
//! selector on CPU 1, as `round_trip` in `channels.rs`).
//!
//! Implementations, all in one group and one process (see
//! `docs/select-bench.md` for results):
//! - `conflate_select`: `conflate::Select::ready` over k conflate channels,
//!   then `try_recv` on the index it returned; reply on a conflate channel.
//! - `conflate_recv` (k = 1 only): a plain blocking `recv`, the round trip
//!   `Select` at k = 1 is compared with.
//! - `crossbeam_select_ready`: crossbeam-channel's `Select::ready` over k
//!   `bounded(1)` channels, then `try_recv` (the same shape as conflate's
//!   loop; crossbeam's `ready` may return spuriously, so an `Empty` goes
//!   round again); reply on a crossbeam `bounded(1)`.
//! - `crossbeam_select`: crossbeam's `Select::select` + `oper.recv`, which
//!   completes the receive inside the select.
//! - `mutex_condvar_slots`: the floor a user could write by hand: one
//!   parking_lot `Mutex` over k `Option<u64>` slots and one `Condvar`; the
//!   selector waits until any slot is full. Reply through the same kind of
//!   block with one slot.
//!
//! Before each benchmark the run waits (within `common::QUIET_BUDGET`) for
//! the machine's quiet state, and records a cache line's round trip between
//! the CPUs before and after in `target/bench-results/select.json`.
//!
//! With `SELECT_PLACEMENTS=1` in the environment the binary instead runs a
//! placement study of the plain one-channel round trip (conflate `recv`
//! against crossbeam `bounded(1)` `recv` and a bare park/unpark floor):
//! both threads on one CPU, a busy third thread on one thread's CPU, and so
//! on, several interleaved repetitions each, with each thread's context
//! switches per round trip (see `placements`).

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use common::{STOP, spawn_on};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};

/// Watched receivers per benchmark.
const KS: [usize; 4] = [1, 2, 4, 8];

/// One implementation: `k` request channels and a reply channel.
trait SelectImpl: 'static {
    /// Benchmark id, the same at every k.
    const ID: &'static str;
    /// Pinger side: the k senders and the reply receiver.
    type Pinger: Send + 'static;
    /// Selector side: the k receivers and the reply sender.
    type Selector: Send + 'static;

    /// Fresh, empty channels.
    fn new(k: usize) -> (Self::Pinger, Self::Selector);
    /// Sends `v` on request channel `i` and waits for the reply.
    fn ping(p: &mut Self::Pinger, i: usize, v: u64) -> u64;
    /// Sends `STOP` on request channel 0 (no reply comes).
    fn stop(p: &mut Self::Pinger);
    /// The selector's loop: wait for any request, reply with its value,
    /// until `STOP`.
    fn serve(s: Self::Selector);
}

// ---------------------------------------------------------------------------
// conflate
// ---------------------------------------------------------------------------

struct ConflateSelect;

impl SelectImpl for ConflateSelect {
    const ID: &'static str = "conflate_select";
    type Pinger = (Vec<conflate::Sender<u64>>, conflate::Receiver<u64>);
    type Selector = (Vec<conflate::Receiver<u64>>, conflate::Sender<u64>);

    fn new(k: usize) -> (Self::Pinger, Self::Selector) {
        let (txs, rxs) = (0..k).map(|_| conflate::channel()).unzip();
        let (reply_tx, reply_rx) = conflate::channel();
        ((txs, reply_rx), (rxs, reply_tx))
    }
    #[inline]
    fn ping(p: &mut Self::Pinger, i: usize, v: u64) -> u64 {
        p.0[i].send(v).expect("selector gone");
        p.1.recv().expect("selector gone")
    }
    fn stop(p: &mut Self::Pinger) {
        p.0[0].send(STOP).expect("selector gone");
    }
    fn serve((rxs, reply): Self::Selector) {
        let mut sel = conflate::Select::new();
        for rx in &rxs {
            sel.recv(rx);
        }
        loop {
            let i = sel.ready();
            // Rule 10: never `Empty` right after `ready`.
            let v = rxs[i].try_recv().expect("ready, then try_recv failed");
            if v == STOP {
                return;
            }
            reply.send(black_box(v)).expect("pinger gone");
        }
    }
}

struct ConflateRecv;

impl SelectImpl for ConflateRecv {
    const ID: &'static str = "conflate_recv";
    type Pinger = (conflate::Sender<u64>, conflate::Receiver<u64>);
    type Selector = (conflate::Receiver<u64>, conflate::Sender<u64>);

    fn new(k: usize) -> (Self::Pinger, Self::Selector) {
        assert_eq!(k, 1, "conflate_recv watches one channel");
        let (tx, rx) = conflate::channel();
        let (reply_tx, reply_rx) = conflate::channel();
        ((tx, reply_rx), (rx, reply_tx))
    }
    #[inline]
    fn ping(p: &mut Self::Pinger, _i: usize, v: u64) -> u64 {
        p.0.send(v).expect("selector gone");
        p.1.recv().expect("selector gone")
    }
    fn stop(p: &mut Self::Pinger) {
        p.0.send(STOP).expect("selector gone");
    }
    fn serve((rx, reply): Self::Selector) {
        loop {
            let v = rx.recv().expect("pinger gone");
            if v == STOP {
                return;
            }
            reply.send(black_box(v)).expect("pinger gone");
        }
    }
}

// ---------------------------------------------------------------------------
// crossbeam-channel
// ---------------------------------------------------------------------------

/// crossbeam's `Select` over k `bounded(1)` channels. `OPER = false`:
/// `ready` + `try_recv` (the shape of conflate's loop); `true`: `select` +
/// `oper.recv`, which completes the receive inside the select.
struct CrossbeamSelect<const OPER: bool>;

impl<const OPER: bool> SelectImpl for CrossbeamSelect<OPER> {
    const ID: &'static str = if OPER {
        "crossbeam_select"
    } else {
        "crossbeam_select_ready"
    };
    type Pinger = (
        Vec<crossbeam_channel::Sender<u64>>,
        crossbeam_channel::Receiver<u64>,
    );
    type Selector = (
        Vec<crossbeam_channel::Receiver<u64>>,
        crossbeam_channel::Sender<u64>,
    );

    fn new(k: usize) -> (Self::Pinger, Self::Selector) {
        let (txs, rxs) = (0..k).map(|_| crossbeam_channel::bounded(1)).unzip();
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        ((txs, reply_rx), (rxs, reply_tx))
    }
    #[inline]
    fn ping(p: &mut Self::Pinger, i: usize, v: u64) -> u64 {
        // The channel is empty here (the selector took the last request
        // before replying), so this send never blocks.
        p.0[i].send(v).expect("selector gone");
        p.1.recv().expect("selector gone")
    }
    fn stop(p: &mut Self::Pinger) {
        p.0[0].send(STOP).expect("selector gone");
    }
    fn serve((rxs, reply): Self::Selector) {
        let mut sel = crossbeam_channel::Select::new();
        for rx in &rxs {
            sel.recv(rx);
        }
        loop {
            let v = if OPER {
                let oper = sel.select();
                let i = oper.index();
                oper.recv(&rxs[i]).expect("pinger gone")
            } else {
                let i = sel.ready();
                match rxs[i].try_recv() {
                    Ok(v) => v,
                    // crossbeam documents that `ready` may return spuriously.
                    Err(crossbeam_channel::TryRecvError::Empty) => continue,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => panic!("pinger gone"),
                }
            };
            if v == STOP {
                return;
            }
            reply.send(black_box(v)).expect("pinger gone");
        }
    }
}

// ---------------------------------------------------------------------------
// Mutex + Condvar over k slots
// ---------------------------------------------------------------------------

/// k slots under one lock, and the condition variable the waiter sleeps on.
struct Slots {
    state: parking_lot::Mutex<SlotState>,
    cv: parking_lot::Condvar,
}

struct SlotState {
    /// One slot per channel; allocated once, never resized.
    slots: Vec<Option<u64>>,
    /// Where the next scan starts (fair, like the `Select`s).
    next: usize,
}

impl Slots {
    fn new(k: usize) -> Arc<Self> {
        Arc::new(Slots {
            state: parking_lot::Mutex::new(SlotState {
                slots: vec![None; k],
                next: 0,
            }),
            cv: parking_lot::Condvar::new(),
        })
    }

    /// Fills slot `i` (overwriting) and wakes the waiter, after the unlock.
    #[inline]
    fn put(&self, i: usize, v: u64) {
        self.state.lock().slots[i] = Some(v);
        self.cv.notify_one();
    }

    /// Waits until any slot is full and empties it.
    #[inline]
    fn take_any(&self) -> u64 {
        let mut g = self.state.lock();
        loop {
            let n = g.slots.len();
            for off in 0..n {
                let i = (g.next + off) % n;
                if let Some(v) = g.slots[i].take() {
                    g.next = (i + 1) % n;
                    return v;
                }
            }
            self.cv.wait(&mut g);
        }
    }
}

struct MutexCondvarSlots;

impl SelectImpl for MutexCondvarSlots {
    const ID: &'static str = "mutex_condvar_slots";
    /// (requests, reply).
    type Pinger = (Arc<Slots>, Arc<Slots>);
    type Selector = (Arc<Slots>, Arc<Slots>);

    fn new(k: usize) -> (Self::Pinger, Self::Selector) {
        let (req, reply) = (Slots::new(k), Slots::new(1));
        ((req.clone(), reply.clone()), (req, reply))
    }
    #[inline]
    fn ping(p: &mut Self::Pinger, i: usize, v: u64) -> u64 {
        p.0.put(i, v);
        p.1.take_any()
    }
    fn stop(p: &mut Self::Pinger) {
        p.0.put(0, STOP);
    }
    fn serve((req, reply): Self::Selector) {
        loop {
            let v = req.take_any();
            if v == STOP {
                return;
            }
            reply.put(0, black_box(v));
        }
    }
}

// ---------------------------------------------------------------------------
// The measurement
// ---------------------------------------------------------------------------

/// One measured call: `iters` round trips, the pinger on CPU 0 and the
/// selector on CPU 1 when `pinned`. Threads are spawned and joined outside
/// the timed section; the selector returns on `STOP`, before any sender is
/// dropped.
fn round_trips<S: SelectImpl>(k: usize, iters: u64, pinned: bool) -> Duration {
    let (mut pinger, selector) = S::new(k);
    let start = Arc::new(Barrier::new(2));
    let sel = {
        let start = start.clone();
        spawn_on(pinned.then_some(1), move || {
            start.wait();
            S::serve(selector);
        })
    };
    let ping = spawn_on(pinned.then_some(0), move || {
        start.wait();
        let t0 = Instant::now();
        for seq in 1..=iters {
            let i = (seq % k as u64) as usize;
            let got = S::ping(&mut pinger, i, black_box(seq));
            assert_eq!(got, seq, "{}: wrong reply", S::ID);
        }
        let elapsed = t0.elapsed();
        S::stop(&mut pinger);
        // The senders live on until the selector has returned: dropped now,
        // they would make the other channels ready (disconnected) before it
        // sees `STOP`.
        (elapsed, pinger)
    });
    let (elapsed, pinger) = ping.join().expect("pinger panicked");
    sel.join().expect("selector panicked");
    drop(pinger);
    elapsed
}

/// A cache line's round trip between the CPUs before and after one
/// benchmark (`common::line_round_trip`).
struct StateEntry {
    id: String,
    param: String,
    before_ns: f64,
    after_ns: f64,
}

static STATES: Mutex<Vec<StateEntry>> = Mutex::new(Vec::new());
static QUIET: Mutex<common::QuietWait> = Mutex::new(common::QuietWait::new(common::QUIET_BUDGET));

fn bench_one<S: SelectImpl>(g: &mut BenchmarkGroup<'_, WallTime>, k: usize, pinned: bool) {
    let param = format!("k{k}_{}", if pinned { "pinned" } else { "floating" });
    // Wait for the quiet state outside criterion's timing (inside the first
    // call it would count as warm-up and spoil the iteration counts).
    let before_ns = QUIET.lock().unwrap().wait(common::PROBE_TRIPS);
    let ran = Cell::new(false);
    g.bench_function(BenchmarkId::new(S::ID, &param), |b| {
        b.iter_custom(|iters| {
            ran.set(true);
            round_trips::<S>(k, iters, pinned)
        });
    });
    if ran.get() {
        STATES.lock().unwrap().push(StateEntry {
            id: S::ID.to_owned(),
            param,
            before_ns,
            after_ns: common::line_round_trip(common::PROBE_TRIPS),
        });
    }
}

fn write_states(load_start: &str, line_start: f64) {
    let states = STATES.lock().unwrap();
    if states.is_empty() {
        return;
    }
    let rows: Vec<String> = states
        .iter()
        .map(|e| {
            format!(
                "    {{\"id\": {}, \"param\": {}, \"line_round_trip_ns\": [{}, {}]}}",
                common::json_str(&e.id),
                common::json_str(&e.param),
                common::json_f64(e.before_ns),
                common::json_f64(e.after_ns)
            )
        })
        .collect();
    let out = format!(
        "{{\n  \"cpus\": {},\n  \"loadavg_start\": {},\n  \"loadavg_end\": {},\n  \"line_round_trip_ns\": [{}, {}],\n  \"quiet_wait_s\": {:.1},\n  \"states\": [\n{}\n  ]\n}}\n",
        common::cpus(),
        load_start,
        common::loadavg_json(),
        common::json_f64(line_start),
        common::json_f64(common::line_round_trip(common::LINE_TRIPS)),
        QUIET.lock().unwrap().waited().as_secs_f64(),
        rows.join(",\n")
    );
    let path = common::results_dir().join("select.json");
    std::fs::write(&path, out).expect("write select.json");
    eprintln!("wrote {}", path.display());
}

fn main() {
    if std::env::var_os("SELECT_PLACEMENTS").is_some() {
        placements::run();
        return;
    }
    let mut c = Criterion::default()
        .sample_size(20)
        .nresamples(10_000)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
        .configure_from_args();
    if common::cpus() < 2 {
        eprintln!("warning: fewer than 2 CPUs; pinned threads share one CPU");
    }
    let load_start = common::loadavg_json();
    let line_start = common::line_round_trip(common::LINE_TRIPS);

    let mut g = c.benchmark_group("select_round_trip");
    for pinned in [false, true] {
        for k in KS {
            bench_one::<ConflateSelect>(&mut g, k, pinned);
            if k == 1 {
                bench_one::<ConflateRecv>(&mut g, k, pinned);
            }
            bench_one::<CrossbeamSelect<false>>(&mut g, k, pinned);
            bench_one::<CrossbeamSelect<true>>(&mut g, k, pinned);
            bench_one::<MutexCondvarSlots>(&mut g, k, pinned);
        }
    }
    g.finish();
    c.final_summary();
    write_states(&load_start, line_start);
}

// ---------------------------------------------------------------------------
// Placement study (SELECT_PLACEMENTS=1)
// ---------------------------------------------------------------------------

/// Where the one-channel round trip is slow: the pinger (A, timing) and the
/// echo thread (B) are placed on CPUs in several ways, with or without a
/// busy third thread spinning, and each implementation runs `REPS`
/// interleaved repetitions of `RUN` each. Prints ns per round trip (median,
/// min, max over repetitions) and, per round trip, each thread's voluntary
/// context switches (it slept: a park or a futex wait) and involuntary ones
/// (a `yield_now` that gave the CPU away, or preemption), read from
/// `/proc/thread-self/status`.
mod placements {
    use super::common::{self, Chan, STOP};
    use std::hint::black_box;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Barrier};
    use std::thread;
    use std::time::{Duration, Instant};

    /// Repetitions of each (placement, implementation).
    const REPS: usize = 7;
    /// Length of one repetition.
    const RUN: Duration = Duration::from_millis(300);

    /// CPU of A, of B, and of each busy thread (`None`: floating).
    struct Placement {
        name: &'static str,
        a: Option<usize>,
        b: Option<usize>,
        busy: &'static [Option<usize>],
    }

    const PLACEMENTS: &[Placement] = &[
        Placement {
            name: "floating",
            a: None,
            b: None,
            busy: &[],
        },
        Placement {
            name: "apart (A:0 B:1)",
            a: Some(0),
            b: Some(1),
            busy: &[],
        },
        Placement {
            name: "same CPU (A:0 B:0)",
            a: Some(0),
            b: Some(0),
            busy: &[],
        },
        Placement {
            name: "apart, busy on B's CPU",
            a: Some(0),
            b: Some(1),
            busy: &[Some(1)],
        },
        Placement {
            name: "apart, busy on A's CPU",
            a: Some(0),
            b: Some(1),
            busy: &[Some(0)],
        },
        Placement {
            name: "floating, 1 busy floating",
            a: None,
            b: None,
            busy: &[None],
        },
        Placement {
            name: "floating, 2 busy floating",
            a: None,
            b: None,
            busy: &[None, None],
        },
        Placement {
            name: "same CPU, busy on it",
            a: Some(0),
            b: Some(0),
            busy: &[Some(0)],
        },
    ];

    /// (voluntary, involuntary) context switches of the calling thread.
    fn ctxt_switches() -> (u64, u64) {
        let s = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
        let field = |name: &str| {
            s.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        (
            field("voluntary_ctxt_switches:"),
            field("nonvoluntary_ctxt_switches:"),
        )
    }

    /// One repetition's result.
    #[derive(Clone, Copy, Default)]
    struct Rep {
        ns: f64,
        /// Per round trip: A's (voluntary, involuntary), B's.
        a_cs: (f64, f64),
        b_cs: (f64, f64),
    }

    fn once<C: Chan<u64>>(p: &Placement) -> Rep {
        let (mut tx_ab, mut rx_ab) = C::new();
        let (mut tx_ba, mut rx_ba) = C::new();
        let stop = Arc::new(AtomicBool::new(false));
        let busy: Vec<_> = p
            .busy
            .iter()
            .map(|&cpu| {
                let stop = stop.clone();
                common::spawn_on(cpu, move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        let start = Arc::new(Barrier::new(2));
        let b = {
            let start = start.clone();
            common::spawn_on(p.b, move || {
                C::attach(&mut rx_ab);
                start.wait();
                let cs0 = ctxt_switches();
                loop {
                    let v = C::recv(&mut rx_ab);
                    if v == STOP {
                        break;
                    }
                    C::send(&mut tx_ba, v);
                }
                let cs1 = ctxt_switches();
                (cs1.0 - cs0.0, cs1.1 - cs0.1)
            })
        };
        let a = common::spawn_on(p.a, move || {
            C::attach(&mut rx_ba);
            start.wait();
            let cs0 = ctxt_switches();
            let t0 = Instant::now();
            let mut trips = 0u64;
            while t0.elapsed() < RUN {
                for _ in 0..64 {
                    trips += 1;
                    C::send(&mut tx_ab, black_box(trips));
                    let v = C::recv(&mut rx_ba);
                    assert_eq!(v, trips, "{}: wrong reply", C::ID);
                }
            }
            let elapsed = t0.elapsed();
            let cs1 = ctxt_switches();
            C::send(&mut tx_ab, STOP);
            (elapsed, trips, (cs1.0 - cs0.0, cs1.1 - cs0.1))
        });
        let (elapsed, trips, a_cs) = a.join().expect("A panicked");
        let b_cs = b.join().expect("B panicked");
        stop.store(true, Ordering::Relaxed);
        for h in busy {
            h.join().expect("busy thread panicked");
        }
        let per = |(v, i): (u64, u64)| (v as f64 / trips as f64, i as f64 / trips as f64);
        Rep {
            ns: elapsed.as_nanos() as f64 / trips as f64,
            a_cs: per(a_cs),
            b_cs: per(b_cs),
        }
    }

    fn summary(id: &str, reps: &[Rep]) -> String {
        let ns: Vec<f64> = reps.iter().map(|r| r.ns).collect();
        let med = |f: &dyn Fn(&Rep) -> f64| common::median(reps.iter().map(f).collect());
        let lo = ns.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ns.iter().copied().fold(0.0, f64::max);
        format!(
            "  {id:<26} {:>9.0} ns  [{lo:>7.0} .. {hi:>7.0}]  A vol {:.3} invol {:.3}  B vol {:.3} invol {:.3}  all: {}",
            common::median(ns.clone()),
            med(&|r| r.a_cs.0),
            med(&|r| r.a_cs.1),
            med(&|r| r.b_cs.0),
            med(&|r| r.b_cs.1),
            ns.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    }

    /// The time of one `spin_loop` hint on this CPU (the unit of the spin
    /// phase of conflate's and crossbeam's waits: 127 hints each), the
    /// fastest of five batches.
    fn spin_hint_ns() -> f64 {
        const HINTS: u32 = 1_000_000;
        (0..5)
            .map(|_| {
                let t0 = Instant::now();
                for _ in 0..HINTS {
                    std::hint::spin_loop();
                }
                t0.elapsed().as_nanos() as f64 / f64::from(HINTS)
            })
            .fold(f64::INFINITY, f64::min)
    }

    pub(super) fn run() {
        let only = std::env::var("SELECT_PLACEMENTS").unwrap_or_default();
        println!(
            "placement study: {REPS} reps x {RUN:?} per (placement, impl), interleaved; \
             ns per round trip, median [min .. max]; context switches per round trip (medians)"
        );
        println!(
            "load average at start: {}; cache-line round trip {:.1} ns; one spin-loop hint {:.1} ns",
            common::loadavg_json(),
            common::line_round_trip(common::LINE_TRIPS),
            spin_hint_ns()
        );
        for p in PLACEMENTS {
            if !only.is_empty() && only != "1" && !p.name.contains(only.as_str()) {
                continue;
            }
            let mut conflate = Vec::new();
            let mut crossbeam = Vec::new();
            let mut floor = Vec::new();
            for _ in 0..REPS {
                conflate.push(once::<common::Conflate>(p));
                crossbeam.push(once::<common::CrossbeamDrain>(p));
                floor.push(once::<common::ParkUnparkFloor>(p));
                thread::sleep(Duration::from_millis(20));
            }
            println!("{}:", p.name);
            println!("{}", summary("conflate", &conflate));
            println!("{}", summary("crossbeam_bounded1", &crossbeam));
            println!("{}", summary("park_unpark_floor", &floor));
        }
    }
}
