//! Two producers overwrite one channel at once, pinned to different CPUs,
//! with nobody receiving: the cost of a `send` when every one of them
//! fights the other producer for the slot and the arena's cache lines.
//!
//! ```sh
//! cargo run --release --example two_producers
//! ```
//!
//! Prints the time per send of each producer for five rounds of 5,000,000
//! sends each. `research/bench-notes.md` quotes it when comparing arena
//! layouts. On a machine with one CPU the two producers share it, and the
//! numbers measure the scheduler instead.

use std::sync::{Arc, Barrier};
use std::time::Instant;

const SENDS: u64 = 5_000_000;
const ROUNDS: usize = 5;

/// Pins the calling thread to `cpu`; `false` if that is not possible here.
#[cfg(target_os = "linux")]
fn pin_to(cpu: usize) -> bool {
    // SAFETY: `cpu_set_t` is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the two CPUs used here are far below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a valid `cpu_set_t` of
    // the size passed.
    unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn pin_to(_cpu: usize) -> bool {
    false
}

fn main() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!("only {cpus} CPU: the producers will share it");
    }
    for round in 1..=ROUNDS {
        let (tx, rx) = conflate::channel::<u64>();
        let start = Arc::new(Barrier::new(2));
        let producers: Vec<_> = (0..2)
            .map(|cpu| {
                let (tx, start) = (tx.clone(), start.clone());
                std::thread::spawn(move || {
                    let pinned = pin_to(cpu % cpus);
                    start.wait();
                    let began = Instant::now();
                    for i in 0..SENDS {
                        tx.send(i).expect("the receiver is alive");
                    }
                    (began.elapsed().as_nanos() as f64 / SENDS as f64, pinned)
                })
            })
            .collect();
        let times: Vec<(f64, bool)> = producers
            .into_iter()
            .map(|p| p.join().expect("a producer panicked"))
            .collect();
        // Every send but the last displaced a value nobody received.
        assert_eq!(rx.overwritten(), 2 * SENDS - 1);
        let pinned = if times.iter().all(|&(_, p)| p) {
            "pinned"
        } else {
            "not pinned"
        };
        println!(
            "round {round}: {:.1} and {:.1} ns per send ({pinned})",
            times[0].0, times[1].0
        );
    }
}
