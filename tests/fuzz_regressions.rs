//! Inputs that made the fuzz checks fail, kept as tests with their bytes
//! inline (decoded by the same checks as `fuzz/`, see `tests/fuzz_check/`).
//!
//! A `threads` input depends on the interleaving, so its test replays it
//! many times; under Miri, whose scheduler preempts at random, far fewer
//! rounds reach the race.

// Only `threads` inputs have failed so far, so `check_ops` is unused here.
#[allow(dead_code, unused_imports)]
mod fuzz_check;

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// Replays a `threads` input `rounds` times; on a failure, names the input
/// and the round before passing the panic on.
fn replay_threads(name: &str, data: &[u8], rounds: usize) {
    for round in 0..rounds {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| fuzz_check::check_threads(data))) {
            eprintln!("{name}: failed in round {round} of {rounds}");
            resume_unwind(panic);
        }
    }
}

/// `threads`, found by a 300 s run of `.ci/fuzz.sh` (crash artifact as
/// written by libFuzzer). Decoded: one producer runs `replace`, `send`,
/// drops its sender; the consumer drops the receiver first thing.
///
/// Failure seen (first under the fuzzer): `producer 0: putting value 0
/// dropped 1 values (replaced None)`; with the later own-value check it
/// reads `producer 0: value 0 was accepted, yet the call that put it
/// dropped it`. `replace` returned `Ok(None)`, yet the value it was given
/// was dropped on the producer's thread during that call, after the
/// receiver's drop had swept the slot. API.md rule 5 allows only two
/// outcomes for a put racing the receiver's drop: taken before the drop
/// (then the receiver's drop drops it) or refused (`Err(SendError(value))`).
const REPLACE_RACES_RECEIVER_DROP_FOUND: &[u8] = &[
    0x02, 0xfe, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x2f, 0x15, 0x10, 0x00, 0x85, 0x85, 0x85, 0x2f,
    0x15, 0x10, 0x00, 0x85, 0x85, 0x85, 0xfd, 0x85, 0x00, 0x41, 0x8a, 0x00, 0xd7, 0x43, 0x85, 0x1e,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0xff, 0x2f, 0x15, 0x10, 0x00,
    0x85, 0x85, 0x85, 0xaa, 0x85, 0xfd, 0x07, 0x00, 0x00, 0x97, 0x97, 0x97, 0x97, 0xe4, 0xe4, 0xe4,
    0xe4, 0xe4, 0xe4, 0xe4, 0xe4, 0xe4, 0xe4, 0xe4, 0xe4, 0xe4, 0xff, 0xff, 0xff, 0x00, 0x97, 0x97,
    0x6f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x05, 0x05, 0x00, 0x00, 0x00, 0x00,
    0xf7, 0xf7, 0x2a, 0xf7, 0xc7, 0x3b, 0xb3, 0x9d, 0xd1, 0x3b, 0xc7, 0xff, 0xbb, 0xc7, 0xc7,
];

/// The same race, minimized by hand: one producer's `replace` against the
/// consumer's receiver drop, nothing else. Decodes to `two_producers:
/// false, steps: [First(Replace { sender: 0 }), Consumer(DropReceiver)]`.
const REPLACE_RACES_RECEIVER_DROP: &[u8] = &[
    0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xff,
];

/// The `send` flavour of the same race (same bytes but `Send` for
/// `Replace`): `send` returned `Ok(())` and dropped the value it was given.
/// Decodes to `two_producers: false, steps: [First(Send { sender: 0 }),
/// Consumer(DropReceiver)]`.
const SEND_RACES_RECEIVER_DROP: &[u8] = &[
    0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xff,
];

#[test]
fn send_races_receiver_drop() {
    let rounds = if cfg!(miri) { 25 } else { 5000 };
    replay_threads("send", SEND_RACES_RECEIVER_DROP, rounds);
}

#[test]
fn replace_races_receiver_drop() {
    let rounds = if cfg!(miri) { 25 } else { 5000 };
    replay_threads("minimized", REPLACE_RACES_RECEIVER_DROP, rounds);
    replay_threads("as found", REPLACE_RACES_RECEIVER_DROP_FOUND, rounds);
}

/// Two producers' `replace`s against the receiver's drop. Not from a fuzz
/// run: written after reading the fix for the inputs above (commit
/// 68c4ca7), which still lets a racer that comes out of the reclaim with
/// another racer's node drop that value and report success. Decodes to
/// `two_producers: true, steps: [First(Replace { sender: 0 }),
/// Second(Replace { sender: 0 }), Consumer(DropReceiver)]`.
///
/// Failure seen (Miri, seeds 0, 1, 2: rounds 6, 69, 77): `producer 1:
/// putting value 48 dropped 1 values (replaced None)`: a `replace` returned
/// `Ok(None)` and dropped a value (the other racer's, which had been
/// reported as sent), after the receiver's drop had returned.
const TWO_REPLACES_RACE_RECEIVER_DROP: &[u8] = &[
    0x01, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x00, 0x00,
    0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
];

#[test]
fn two_replaces_race_receiver_drop() {
    let rounds = if cfg!(miri) { 100 } else { 5000 };
    replay_threads("two replaces", TWO_REPLACES_RACE_RECEIVER_DROP, rounds);
}
