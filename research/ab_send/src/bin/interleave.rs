//! The send-path A/B of issue #10, interleaved inside one process.
//!
//! `interleave ROW PAIRS` runs PAIRS pairs of blocks of the row, an old block
//! and a new block back to back (order alternating: ABBA), each block with a
//! fresh channel pair and fresh threads, and prints one line per block:
//! `ROW PAIR old|new NS_PER_OP`. Rows:
//!
//! - `idle_u64`, `idle_64B`: one thread, 2M sends, no receive (`send_idle`).
//! - `contended_u64`, `contended_64B`: the producer on CPU 0 times 300k
//!   sends while a consumer on CPU 1 spins on `try_recv` (`send_contended`).
//! - `rt_u64_floating`, `rt_64B_floating`, `rt_u64_pinned`, `rt_64B_pinned`:
//!   A sends to B, B receives and sends back, 40k round trips, A times them
//!   (`round_trip`; pinned: A on CPU 0, B on CPU 1).
//!
//! The per-process and per-minute states of a 2-vCPU guest (docs/select-bench.md
//! 2b: a fast and a slow state that come and go with no change of code) hit
//! both halves of a pair alike when the halves are 10-40 ms apart; between
//! processes seconds apart they do not. Analysis: `interleave.py`.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
struct B64([u64; 8]);

trait Val: Copy + Send + 'static {
    fn make(seq: u64) -> Self;
    fn seq(&self) -> u64;
}
impl Val for u64 {
    #[inline(always)]
    fn make(seq: u64) -> Self {
        seq
    }
    fn seq(&self) -> u64 {
        *self
    }
}
impl Val for B64 {
    #[inline(always)]
    fn make(s: u64) -> Self {
        // Built by 8-byte stores, as benches/'s 64B value is.
        B64([s, s + 1, s + 2, s + 3, s + 4, s + 5, s + 6, s + 7])
    }
    fn seq(&self) -> u64 {
        self.0[0]
    }
}

fn pin(cpu: Option<usize>) {
    if let Some(cpu) = cpu {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes
        // inside it; sched_setaffinity(0) applies to this thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            let rc = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            assert_eq!(rc, 0, "sched_setaffinity({cpu}) failed");
        }
    }
}

macro_rules! tree {
    ($m:ident, $krate:ident) => {
        mod $m {
            use super::*;

            pub fn idle<T: Val>(n: u64) -> Duration {
                let (tx, rx) = $krate::channel::<T>();
                for i in 0..10_000 {
                    let _ = tx.send(black_box(T::make(i)));
                }
                let t = Instant::now();
                for i in 0..n {
                    let _ = tx.send(black_box(T::make(i)));
                }
                let e = t.elapsed();
                drop(rx);
                e
            }

            pub fn contended<T: Val>(n: u64) -> Duration {
                let (tx, rx) = $krate::channel::<T>();
                let stop = Arc::new(AtomicBool::new(false));
                let running = Arc::new(AtomicBool::new(false));
                let start = Arc::new(Barrier::new(2));
                let c = {
                    let (stop, running, start) = (stop.clone(), running.clone(), start.clone());
                    thread::spawn(move || {
                        pin(Some(1));
                        start.wait();
                        running.store(true, Ordering::Relaxed);
                        let mut got = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            if let Ok(v) = rx.try_recv() {
                                black_box(v);
                                got += 1;
                            }
                        }
                        got
                    })
                };
                let p = thread::spawn(move || {
                    pin(Some(0));
                    start.wait();
                    // The clock starts once the consumer is polling.
                    while !running.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                    let t = Instant::now();
                    for i in 0..n {
                        let _ = tx.send(black_box(T::make(i)));
                    }
                    t.elapsed()
                });
                let e = p.join().unwrap();
                stop.store(true, Ordering::Relaxed);
                let got = c.join().unwrap();
                if got == 0 {
                    // The consumer's vCPU did not run during the block (the
                    // guest's host took it); said, and kept: such blocks
                    // fall on both trees alike.
                    eprintln!("a contended block in which the consumer received nothing");
                }
                e
            }

            pub fn round_trip<T: Val>(n: u64, pinned: bool) -> Duration {
                let (tx_ab, rx_ab) = $krate::channel::<T>();
                let (tx_ba, rx_ba) = $krate::channel::<T>();
                let start = Arc::new(Barrier::new(2));
                let b = {
                    let start = start.clone();
                    thread::spawn(move || {
                        pin(pinned.then_some(1));
                        start.wait();
                        while let Ok(v) = rx_ab.recv() {
                            if v.seq() == u64::MAX {
                                break;
                            }
                            let _ = tx_ba.send(v);
                        }
                    })
                };
                let a = thread::spawn(move || {
                    pin(pinned.then_some(0));
                    start.wait();
                    let t = Instant::now();
                    for i in 1..=n {
                        let _ = tx_ab.send(black_box(T::make(i)));
                        let v = rx_ba.recv().unwrap();
                        assert_eq!(v.seq(), i);
                    }
                    let e = t.elapsed();
                    let _ = tx_ab.send(T::make(u64::MAX));
                    e
                });
                let e = a.join().unwrap();
                b.join().unwrap();
                e
            }
        }
    };
}
tree!(o, old);
tree!(n, new);

fn block(row: &str, new: bool) -> f64 {
    let (n, d) = match (row, new) {
        ("idle_u64", false) => (2_000_000, o::idle::<u64>(2_000_000)),
        ("idle_u64", true) => (2_000_000, n::idle::<u64>(2_000_000)),
        ("idle_64B", false) => (2_000_000, o::idle::<B64>(2_000_000)),
        ("idle_64B", true) => (2_000_000, n::idle::<B64>(2_000_000)),
        ("contended_u64", false) => (300_000, o::contended::<u64>(300_000)),
        ("contended_u64", true) => (300_000, n::contended::<u64>(300_000)),
        ("contended_64B", false) => (300_000, o::contended::<B64>(300_000)),
        ("contended_64B", true) => (300_000, n::contended::<B64>(300_000)),
        ("rt_u64_floating", false) => (40_000, o::round_trip::<u64>(40_000, false)),
        ("rt_u64_floating", true) => (40_000, n::round_trip::<u64>(40_000, false)),
        ("rt_64B_floating", false) => (40_000, o::round_trip::<B64>(40_000, false)),
        ("rt_64B_floating", true) => (40_000, n::round_trip::<B64>(40_000, false)),
        ("rt_u64_pinned", false) => (40_000, o::round_trip::<u64>(40_000, true)),
        ("rt_u64_pinned", true) => (40_000, n::round_trip::<u64>(40_000, true)),
        ("rt_64B_pinned", false) => (40_000, o::round_trip::<B64>(40_000, true)),
        ("rt_64B_pinned", true) => (40_000, n::round_trip::<B64>(40_000, true)),
        _ => panic!("unknown row {row}"),
    };
    d.as_nanos() as f64 / n as f64
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let row = a.get(1).expect("usage: interleave ROW PAIRS");
    let pairs: usize = a.get(2).map_or(200, |s| s.parse().expect("PAIRS"));
    // Warm-up: one block of each, not printed.
    block(row, false);
    block(row, true);
    for p in 0..pairs {
        let order = if p % 2 == 0 { [false, true] } else { [true, false] };
        for new in order {
            let ns = block(row, new);
            println!("{row} {p} {} {ns:.3}", if new { "new" } else { "old" });
        }
    }
}
