//! Fuzz target `ops`: a single-threaded script of channel calls, checked
//! step by step against a sequential one-slot model (see
//! `tests/fuzz_check/ops.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

// The checks are shared with the stable tests; this target uses only
// `check_ops`.
#[allow(dead_code, unused_imports)]
#[path = "../../tests/fuzz_check/mod.rs"]
mod fuzz_check;

fuzz_target!(|data: &[u8]| fuzz_check::check_ops(data));
