//! Checks shared by the cargo-fuzz targets in `fuzz/` and by the stable
//! tests `tests/fuzz_corpus.rs` and `tests/fuzz_regressions.rs`.
//!
//! Both entry points take raw fuzzer bytes, decode them with
//! `arbitrary::Unstructured`, drive the channel, and panic on the first
//! observation that API.md does not allow:
//!
//! - [`check_ops`] runs a script on one thread and compares the channel with
//!   a sequential one-slot model after every step (and a `Publisher` with a
//!   model of its subscribers' slots);
//! - [`check_threads`] runs one consumer and one or two producers on real
//!   threads and checks, after joining them, only what linearizability
//!   (API.md rule 9) guarantees for every interleaving.
//!
//! Any input, however garbled, must pass: a panic is a crate bug (or a bug
//! here) and a fuzzer crash.

mod ledger;
mod ops;
mod publisher_ops;
mod threads;

pub(crate) use ops::check_ops;
pub(crate) use threads::check_threads;

use arbitrary::{Arbitrary, Unstructured};

/// Decodes elements until the data runs out (or `max` are decoded).
///
/// Unlike `Vec::arbitrary_take_rest`, which reads a "continue" flag before
/// each element, every byte goes into elements, so the script length
/// follows the input length: random bytes (as in `tests/fuzz_corpus.rs`)
/// then make long scripts too, not only the fuzzer's evolved inputs.
fn take_all<'a, T: Arbitrary<'a>>(u: &mut Unstructured<'a>, max: usize) -> Vec<T> {
    let mut items = Vec::new();
    while items.len() < max && !u.is_empty() {
        match T::arbitrary(u) {
            Ok(item) => items.push(item),
            Err(_) => break,
        }
    }
    items
}
