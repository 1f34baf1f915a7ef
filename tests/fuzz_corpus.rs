//! Replays the committed fuzz seed corpus (`fuzz/seeds/{ops,threads}`) and
//! any saved crash inputs (`fuzz/regressions/{ops,threads}`) through the
//! same checks as the cargo-fuzz targets, plus a fixed batch of
//! pseudo-random inputs, so a plain `cargo test` on stable exercises them.
//!
//! Under Miri, where file access is isolated and every step is slow, the
//! seeds are compiled into the binary (saved regressions are skipped; they
//! run as tests in `tests/fuzz_regressions.rs`) and fewer inputs are
//! generated.

mod fuzz_check;

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// Runs `check` on `data`, naming the input if the check panics.
fn run_named(name: &str, data: &[u8], check: fn(&[u8])) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(data))) {
        eprintln!(
            "fuzz input {name} ({} bytes) failed: {data:02x?}",
            data.len()
        );
        resume_unwind(panic);
    }
}

/// Files in `dir` (relative to the crate root), sorted; none if `dir` is
/// missing.
#[cfg(not(miri))]
fn files_in(dir: &str) -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[cfg(not(miri))]
fn replay(target: &str, check: fn(&[u8])) {
    let seeds = files_in(&format!("fuzz/seeds/{target}"));
    assert!(
        seeds.len() >= 8,
        "fuzz/seeds/{target} holds only {} seeds",
        seeds.len()
    );
    let regressions = files_in(&format!("fuzz/regressions/{target}"));
    for path in seeds.iter().chain(&regressions) {
        let data = std::fs::read(path).expect("readable seed");
        run_named(&path.display().to_string(), &data, check);
    }
}

/// The committed seeds, compiled in for Miri (its isolation forbids
/// reading the directories): `seeds!("ops", ["01", "02"])`.
#[cfg(miri)]
macro_rules! seeds {
    ($target:literal, [$($n:literal),*]) => {
        &[$((
            concat!($target, "/seed-", $n),
            include_bytes!(concat!("../fuzz/seeds/", $target, "/seed-", $n)) as &[u8],
        )),*]
    };
}

#[cfg(miri)]
const MIRI_OPS_SEEDS: &[(&str, &[u8])] = seeds!(
    "ops",
    [
        "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"
    ]
);

#[cfg(miri)]
const MIRI_THREADS_SEEDS: &[(&str, &[u8])] = seeds!(
    "threads",
    [
        "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"
    ]
);

#[cfg(not(miri))]
#[test]
fn ops_seeds_and_regressions() {
    replay("ops", fuzz_check::check_ops);
}

#[cfg(not(miri))]
#[test]
fn threads_seeds_and_regressions() {
    replay("threads", fuzz_check::check_threads);
}

#[cfg(miri)]
#[test]
fn ops_seeds_under_miri() {
    for &(name, data) in MIRI_OPS_SEEDS {
        run_named(name, data, fuzz_check::check_ops);
    }
}

#[cfg(miri)]
#[test]
fn threads_seeds_under_miri() {
    for &(name, data) in MIRI_THREADS_SEEDS {
        run_named(name, data, fuzz_check::check_threads);
    }
}

/// Deterministic pseudo-random bytes (xorshift64), so the generated inputs
/// are the same on every run.
fn generated(seed: u64, count: usize, max_len: usize) -> impl Iterator<Item = Vec<u8>> {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count).map(move |_| {
        let len = 1 + (next() as usize) % max_len;
        (0..len).map(|_| (next() >> 32) as u8).collect()
    })
}

#[test]
fn ops_generated() {
    let count = if cfg!(miri) { 16 } else { 3000 };
    for (i, data) in generated(0x243f_6a88_85a3_08d3, count, 600).enumerate() {
        run_named(&format!("generated ops #{i}"), &data, fuzz_check::check_ops);
    }
}

#[test]
fn threads_generated() {
    let count = if cfg!(miri) { 8 } else { 300 };
    for (i, data) in generated(0x1319_8a2e_0370_7344, count, 300).enumerate() {
        run_named(
            &format!("generated threads #{i}"),
            &data,
            fuzz_check::check_threads,
        );
    }
}
