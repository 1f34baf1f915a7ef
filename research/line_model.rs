//! `line_model`: how fast can a consumer polling `try_recv` take values on
//! this machine, and does the channel's layout change that? A custom harness
//! (`harness = false`) behind the analysis of `send_contended`'s share.
//!
//! Producer pinned to CPU 0, consumer to CPU 1, as in `send_contended`:
//!
//! - `round_trip`: one cache line bounced between the two CPUs (A stores an
//!   odd number, B waits for it and stores the next even one, A waits for
//!   that): the time of one round trip of a line.
//! - a pace sweep: the producer sends with 0, 2, 4, ... rounds of busy work
//!   after each send (`PACES`, until the consumer keeps up), so the interval
//!   between sends grows from the unpaced one of `send_contended` upwards,
//!   while the consumer spins on `try_recv`. For each design it reports time per send and the share of
//!   values the consumer got at each pace, and the shortest interval at
//!   which the consumer kept `KEEP_UP` of them: that is what its consumer
//!   can do, independent of how fast its producer happens to be.
//!
//! Designs: conflate and `triple_buffer` (`u64` and `64B`), the bare atomic
//! swap (`u64`), and four models of a conflating slot, each the flag-arena
//! protocol of `src/slot.rs` reduced to its cache traffic for 8-byte values
//! (claim a node flag, write the value, swap the node's index into the slot
//! word; the consumer swaps its last node back in, tagged spare, and the
//! producer that swaps the spare out frees it):
//! - `separate`: each node on its own 128-byte line, as conflate lays them
//!   out; `inline`: all six nodes in the slot word's own cache line (the
//!   "inline slot for small values" a design could use for 8-byte values);
//! - `load_swap`: the consumer reads the word and swaps only when it shows a
//!   value (what conflate's `try_recv` does); `swap_only`: it swaps on every
//!   poll (one coherence transaction instead of a read and an upgrade).
//!
//! Medians of `--reps` (default 3) repetitions of `--sends` (default
//! 300,000) sends per point. Each measurement waits for the machine's quiet
//! state first when `CONFLATE_BENCH_QUIET_WAIT=1` asks for that
//! (`common::QuietWait`, within `common::QUIET_BUDGET`) and, while that
//! budget lasts, is redone, up to `ATTEMPTS` times, when the state was slow
//! just before or after it (`common::is_slow`).
//! Results go to stdout and to `target/bench-results/line_model.json`.

// The benches' shared plumbing, from its place under benches/.
#[path = "../benches/common/mod.rs"]
mod common;

use std::cell::UnsafeCell;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use common::{Bytes64, Chan, Payload, json_str, spawn_on};

/// Nodes in the model's arena, as in the crate.
const NODES: usize = 6;
/// Tag of a word that carries the consumer's handed-back node.
const SPARE: u64 = 1 << 8;
/// The word of an empty slot; a node `i` is `i + 1` (plus `SPARE`).
const EMPTY: u64 = 0;

#[derive(Default)]
#[repr(align(128))]
struct Line<T>(T);

/// The slot word with the six nodes in its own cache line.
#[derive(Default)]
#[repr(C, align(128))]
struct InlineSlot {
    word: AtomicU64,
    nodes: [UnsafeCell<u64>; NODES],
}

/// The slot word and the nodes each on their own line.
#[derive(Default)]
struct SeparateSlot {
    word: Line<AtomicU64>,
    nodes: [Line<UnsafeCell<u64>>; NODES],
}

#[derive(Default)]
struct Model {
    held: Line<[AtomicBool; NODES]>,
    inline: InlineSlot,
    separate: SeparateSlot,
}

// SAFETY: a node's cell is written only by the producer that claimed its flag
// and read only by the consumer that swapped it out of the word; the flag's
// compare-exchange, the word's AcqRel swaps and the flag's Release store
// order every write before the read and every read before the next write,
// as in `src/slot.rs`.
unsafe impl Sync for Model {}

#[derive(Clone, Copy)]
enum Layout {
    Separate,
    Inline,
}

impl Model {
    fn word(&self, layout: Layout) -> &AtomicU64 {
        match layout {
            Layout::Separate => &self.separate.word.0,
            Layout::Inline => &self.inline.word,
        }
    }

    fn node(&self, layout: Layout, i: usize) -> *mut u64 {
        match layout {
            Layout::Separate => self.separate.nodes[i].0.get(),
            Layout::Inline => self.inline.nodes[i].get(),
        }
    }

    fn send(&self, layout: Layout, value: u64) {
        let mut claimed = None;
        for (i, flag) in self.held.0.iter().enumerate() {
            // ORDERING: as `claim` in src/slot.rs: a Relaxed look, then an
            // acquiring compare-exchange that orders the consumer's earlier
            // read of this node before our write.
            if !flag.load(Ordering::Relaxed)
                && flag
                    .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            {
                claimed = Some(i);
                break;
            }
        }
        // One producer holds at most one node and the consumer two (one in
        // the slot as spare, one in hand), so one of six is always free.
        let i = claimed.expect("the model's arena has a free node");
        // SAFETY: our flag claims node `i`; nobody reads it until the swap.
        unsafe { self.node(layout, i).write_volatile(value) };
        // ORDERING: AcqRel: Release publishes the value; Acquire takes the
        // displaced node with the consumer's read of it.
        let old = self.word(layout).swap(i as u64 + 1, Ordering::AcqRel);
        if old != EMPTY {
            // A displaced value or the consumer's spare: free its node.
            // ORDERING: Release: our part in that node is done.
            self.held.0[((old & !SPARE) - 1) as usize].store(false, Ordering::Release);
        }
    }
}

/// One of the four models as a benchmark [`Chan`] of `u64`.
struct SlotModel<const INLINE: bool, const SWAP_ONLY: bool>;

impl<const INLINE: bool, const SWAP_ONLY: bool> SlotModel<INLINE, SWAP_ONLY> {
    const LAYOUT: Layout = if INLINE {
        Layout::Inline
    } else {
        Layout::Separate
    };
}

impl<const INLINE: bool, const SWAP_ONLY: bool> Chan<u64> for SlotModel<INLINE, SWAP_ONLY> {
    const ID: &'static str = match (INLINE, SWAP_ONLY) {
        (false, false) => "model_separate_load_swap",
        (false, true) => "model_separate_swap_only",
        (true, false) => "model_inline_load_swap",
        (true, true) => "model_inline_swap_only",
    };
    const BLOCKING: bool = false;
    const MULTI_PRODUCER: bool = false;
    type Tx = Arc<Model>;
    /// The model and the consumer's spare word.
    type Rx = (Arc<Model>, u64);

    fn new() -> (Self::Tx, Self::Rx) {
        let model = Arc::new(Model::default());
        (model.clone(), (model, EMPTY))
    }
    fn clone_tx(_tx: &Self::Tx) -> Self::Tx {
        unreachable!("measured with one producer")
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: u64) {
        tx.send(Self::LAYOUT, value);
    }
    #[inline]
    fn try_recv((model, spare): &mut Self::Rx) -> Option<u64> {
        let word = model.word(Self::LAYOUT);
        if !SWAP_ONLY {
            // ORDERING: Relaxed: a look that spares the swap on an empty
            // slot; the swap below decides and acquires.
            let seen = word.load(Ordering::Relaxed);
            if seen == EMPTY || seen & SPARE != 0 {
                return None;
            }
        }
        // ORDERING: AcqRel: Acquire for the value; Release hands our spare's
        // earlier read to the producer that frees it.
        let old = word.swap(*spare, Ordering::AcqRel);
        if old == EMPTY || old & SPARE != 0 {
            // No value: we swapped out an empty slot or our own spare.
            *spare = old;
            return None;
        }
        let i = (old - 1) as usize;
        // SAFETY: the swap took node `i` out of the word, so it is ours
        // until we hand it back.
        let value = unsafe { model.node(Self::LAYOUT, i).read_volatile() };
        *spare = (i as u64 + 1) | SPARE;
        Some(value)
    }
    fn recv(rx: &mut Self::Rx) -> u64 {
        common::spin_recv::<u64, Self>(rx)
    }
}

/// One run: the producer sends `sends` values with `pace` rounds of busy
/// work after each while the consumer polls `try_recv`. Returns time per
/// send and the share of values received.
fn paced<T: Payload, C: Chan<T>>(pace: u32, sends: u64) -> (f64, f64) {
    let (mut tx, mut rx) = C::new();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(2));
    let taker = {
        let (stop, start) = (stop.clone(), start.clone());
        spawn_on(Some(1), move || {
            C::attach(&mut rx);
            start.wait();
            let mut got = 0u64;
            // ORDERING: Relaxed: a stop flag; the join below synchronizes.
            while !stop.load(Ordering::Relaxed) {
                if let Some(v) = C::try_recv(&mut rx) {
                    black_box(v);
                    got += 1;
                }
            }
            got
        })
    };
    let producer = spawn_on(Some(0), move || {
        start.wait();
        let t0 = Instant::now();
        for seq in 1..=sends {
            C::send(&mut tx, black_box(T::make(seq)));
            let mut work = 0u32;
            for _ in 0..pace {
                work = black_box(work + 1);
            }
        }
        (t0.elapsed(), tx)
    });
    let (elapsed, tx) = producer.join().expect("producer panicked");
    // ORDERING: Relaxed: see the consumer's loop.
    stop.store(true, Ordering::Relaxed);
    let got = taker.join().expect("consumer panicked");
    drop(tx);
    (
        elapsed.as_nanos() as f64 / sends as f64,
        got as f64 / sends as f64,
    )
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
        .unwrap_or(default)
}

/// Busy-work rounds between sends, from none (as in `send_contended`) up:
/// 0 to 10, then 15 % more each step up to about 1,000 (for the machine's
/// slow state, in which a cache line's round trip takes about five times
/// longer). A sweep stops at the first pace at which the consumer keeps up.
fn paces() -> impl Iterator<Item = u32> {
    (0..=10).chain(std::iter::successors(Some(12u32), |&p| {
        let next = (f64::from(p) * 1.15).round() as u32;
        (next <= 1_024).then_some(next)
    }))
}

/// The share a consumer should keep, the same as `triple_buffer`'s in
/// `send_contended` on this machine (97.5 % to 98.6 % in the runs so far).
const KEEP_UP: f64 = 0.975;

/// Results of one design over the pace sweep.
struct Sweep {
    id: &'static str,
    payload: &'static str,
    /// Per pace: (pace, median ns per send, median share) over the
    /// repetitions.
    points: Vec<(u32, f64, f64)>,
}

struct Sweeper {
    sends: u64,
    reps: u64,
    sweeps: Vec<Sweep>,
    /// Waits for the quiet state before each measurement.
    quiet: common::QuietWait,
    /// Measurements repeated because the machine turned slow during them.
    redone: u32,
    /// Measurements kept although the machine was slow (budget spent).
    slow_kept: u32,
}

/// Attempts per measurement when the machine turns slow during it.
const ATTEMPTS: u32 = 3;

impl Sweeper {
    /// One measurement in the quiet state: waits for it first, and redoes
    /// the measurement (up to `ATTEMPTS` times) if the state was slow just
    /// after it.
    fn measure<T: Payload, C: Chan<T>>(&mut self, pace: u32) -> (f64, f64) {
        let mut attempt = 1;
        loop {
            let before = self.quiet.wait(common::PROBE_TRIPS);
            let result = paced::<T, C>(pace, self.sends);
            let after = common::line_round_trip(common::PROBE_TRIPS);
            let slow = [before, after].iter().any(|&t| common::is_slow(t));
            if !slow {
                return result;
            }
            if attempt == ATTEMPTS || self.quiet.exhausted() {
                self.slow_kept += 1;
                return result;
            }
            attempt += 1;
            self.redone += 1;
        }
    }

    fn sweep<T: Payload, C: Chan<T>>(&mut self) {
        let mut points = Vec::new();
        for pace in paces() {
            let runs: Vec<(f64, f64)> =
                (0..self.reps).map(|_| self.measure::<T, C>(pace)).collect();
            let point = (
                pace,
                common::median(runs.iter().map(|r| r.0).collect()),
                common::median(runs.iter().map(|r| r.1).collect()),
            );
            points.push(point);
            if point.2 >= KEEP_UP {
                break;
            }
        }
        self.sweeps.push(Sweep {
            id: C::ID,
            payload: T::NAME,
            points,
        });
    }
}

fn main() {
    // `cargo bench` passes `--bench`; other arguments are ignored.
    let sends = arg("--sends", 300_000);
    let reps = arg("--reps", 3).max(1);
    if common::cpus() < 2 {
        eprintln!(
            "line_model: needs 2 CPUs, found {}; nothing measured",
            common::cpus()
        );
        return;
    }
    let load_start = common::loadavg_json();
    let mut quiet = common::QuietWait::new(common::QUIET_BUDGET);
    quiet.wait(common::PROBE_TRIPS);
    let trips: Vec<f64> = (0..reps).map(|_| common::line_round_trip(sends)).collect();
    let trip = common::median(trips.clone());
    println!("line_model: {sends} sends per point, {reps} repetitions, medians");
    println!("  cache-line round trip between CPU 0 and CPU 1: {trip:.1} ns");

    let mut sw = Sweeper {
        sends,
        reps,
        sweeps: Vec::new(),
        quiet,
        redone: 0,
        slow_kept: 0,
    };
    sw.sweep::<u64, common::Conflate>();
    sw.sweep::<Bytes64, common::Conflate>();
    sw.sweep::<u64, common::TripleBuffer>();
    sw.sweep::<Bytes64, common::TripleBuffer>();
    sw.sweep::<u64, common::AtomicSwapFloor>();
    sw.sweep::<u64, SlotModel<false, false>>();
    sw.sweep::<u64, SlotModel<false, true>>();
    sw.sweep::<u64, SlotModel<true, false>>();
    sw.sweep::<u64, SlotModel<true, true>>();

    let mut entries = Vec::new();
    for s in &sw.sweeps {
        let keeps_up = s
            .points
            .iter()
            .filter(|p| p.2 >= KEEP_UP)
            .map(|p| p.1)
            .min_by(f64::total_cmp);
        let (_, ns0, share0) = s.points[0];
        println!(
            "  {:<26} {:<4} unpaced {ns0:6.1} ns/send at {:5.1} %; share >= {:.1} % from {}",
            s.id,
            s.payload,
            100.0 * share0,
            100.0 * KEEP_UP,
            keeps_up.map_or("never in this sweep".to_owned(), |ns| format!(
                "{ns:.1} ns/send"
            ))
        );
        let points: Vec<String> = (s.points.iter())
            .map(|(pace, ns, share)| {
                format!("{{\"pace\": {pace}, \"ns_per_send\": {ns:.3}, \"share\": {share:.5}}}")
            })
            .collect();
        entries.push(format!(
            "    {{\"id\": {}, \"payload\": {}, \"keeps_up_from_ns\": {}, \"points\": [{}]}}",
            json_str(s.id),
            json_str(s.payload),
            keeps_up.map_or("null".to_owned(), |ns| format!("{ns:.3}")),
            points.join(", ")
        ));
    }
    let json = format!(
        "{{\n  \"sends\": {sends},\n  \"reps\": {reps},\n  \"keep_up\": {KEEP_UP},\n  \"loadavg_start\": {load_start},\n  \"loadavg_end\": {},\n  \"line_round_trip_ns\": {trip:.3},\n  \"line_round_trip_all_ns\": [{}],\n  {},\n  \"redone\": {},\n  \"slow_kept\": {},\n  \"sweeps\": [\n{}\n  ]\n}}\n",
        common::loadavg_json(),
        trips
            .iter()
            .map(|t| format!("{t:.3}"))
            .collect::<Vec<_>>()
            .join(", "),
        common::state_json(sw.quiet.waited()),
        sw.redone,
        sw.slow_kept,
        entries.join(",\n")
    );
    println!(
        "  waited {:.1} s for the quiet state; {} measurements redone after the machine turned slow, {} kept slow",
        sw.quiet.waited().as_secs_f64(),
        sw.redone,
        sw.slow_kept
    );
    let path = common::results_dir().join("line_model.json");
    std::fs::write(&path, json).expect("write line_model.json");
    println!("wrote {}", path.display());
}
