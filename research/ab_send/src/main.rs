//! One side of the send-path A/B (`run.sh`): `ab_send old|new u64|64B`
//! makes a channel of that tree, sends 1M values, then times 5 runs of 4M
//! idle sends and prints the best and the median, in ns per send.

use std::hint::black_box;
use std::time::Instant;
#[derive(Clone, Copy)]
struct B64([u64; 8]);
macro_rules! run {
    ($krate:ident, $t:ty, $make:expr, $n:expr) => {{
        let (tx, rx) = $krate::channel::<$t>();
        let mut seq = 0u64;
        for _ in 0..1_000_000 {
            seq += 1;
            let _ = tx.send(black_box($make(seq)));
        }
        let mut best = f64::MAX;
        let mut all = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..$n {
                seq += 1;
                let _ = tx.send(black_box($make(seq)));
            }
            let ns = t.elapsed().as_nanos() as f64 / $n as f64;
            best = best.min(ns);
            all.push(ns);
        }
        drop(rx);
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (best, all[2])
    }};
}
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n = 4_000_000u64;
    let mk64 = |s: u64| B64([s, s + 1, s + 2, s + 3, s + 4, s + 5, s + 6, s + 7]);
    let (best, med) = match (a[1].as_str(), a[2].as_str()) {
        ("old", "u64") => run!(old, u64, |s| s, n),
        ("new", "u64") => run!(new, u64, |s| s, n),
        ("old", "64B") => run!(old, B64, mk64, n),
        _ => run!(new, B64, mk64, n),
    };
    println!("{} {} {best:.3} {med:.3}", a[1], a[2]);
}
