//! Fuzz target `threads`: per-thread scripts for one consumer and one or two
//! producers on real threads, checked after joining against what the
//! contract guarantees for every interleaving (see
//! `tests/fuzz_check/threads.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

// The checks are shared with the stable tests; this target uses only
// `check_threads`.
#[allow(dead_code, unused_imports)]
#[path = "../../tests/fuzz_check/mod.rs"]
mod fuzz_check;

fuzz_target!(|data: &[u8]| fuzz_check::check_threads(data));
