#!/usr/bin/env bash
# Miri over the whole test suite: the crate's unit tests and doctests and
# every integration test in tests/ (loop counts are scaled down under
# cfg(miri) in the test files themselves, nothing is skipped).
#
# Seeds (Miri's scheduler and weak-memory choices depend on the seed). The
# budget is about 8 minutes on 2 cores; measured single-seed costs were
# ~9 s each for close/wakeup, ~3-5 s for the other files, so:
#   1. everything once, seed 0, with every feature (~160 s with doctests
#      before Select; select ~21 s, skipped ~8 s more);
#   2. the files built around wake-ups and closing races (close, wakeup,
#      receiver_drop, async_recv, select) with seeds 1..8 more (~200 s for
#      the first four, select ~21 s a seed);
#   3. the other multi-threaded files (exactly_once, stress, panic_safety,
#      counting, one_slot, skipped, stream, publisher) with seeds 1..4 more
#      (publisher ~30 s a seed; publisher_alloc, ~19 s, is one thread and
#      runs in step 1 only).
# The rest get one seed: assert_mem and alloc (one thread), api and timeouts
# (threads only in strict lock-step hand-offs), the doctests, and the files
# other engineers own (fuzz_corpus, leaked_future, ...).
# MIRI_SEEDS_RACY / MIRI_SEEDS_OTHER override the (exclusive) upper ends
# (8, 4); -Zmiri-many-seeds runs the seeds in parallel on the two cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

run() {
    echo "+ $*"
    "$@"
}

if ! cargo +nightly miri --version >/dev/null 2>&1; then
    run rustup component add --toolchain nightly miri rust-src
fi
run cargo +nightly miri --version
run cargo +nightly miri setup

base_flags="-Zmiri-strict-provenance"
racy_hi="${MIRI_SEEDS_RACY:-8}"
other_hi="${MIRI_SEEDS_OTHER:-4}"
racy=(--test close --test wakeup --test receiver_drop --test async_recv --test select)
other=(--test exactly_once --test stress --test panic_safety --test counting --test one_slot --test skipped --test stream --test publisher)

# Does this Miri know -Zmiri-many-seeds? Ask it about an empty program.
probe_dir="$(mktemp -d)"
trap 'rm -rf "$probe_dir"' EXIT
echo 'fn main() {}' >"$probe_dir/probe.rs"
sysroot="$(cargo +nightly miri setup --print-sysroot)"
if rustup run nightly miri --sysroot "$sysroot" "$probe_dir/probe.rs" \
    -Zmiri-many-seeds=0..1 >"$probe_dir/out" 2>&1; then
    many_seeds=1
else
    many_seeds=0
    echo "miri: -Zmiri-many-seeds not supported here, looping over -Zmiri-seed:"
    cat "$probe_dir/out"
fi

# Runs `cargo miri test ARGS...` for seeds FROM..TO (TO exclusive).
seeds() {
    local from="$1" to="$2"
    shift 2
    if [[ ${many_seeds} -eq 1 ]]; then
        MIRIFLAGS="${base_flags} -Zmiri-many-seeds=${from}..${to}" \
            run cargo +nightly miri test "$@"
    else
        local s
        for ((s = from; s < to; s++)); do
            MIRIFLAGS="${base_flags} -Zmiri-seed=${s}" run cargo +nightly miri test "$@"
        done
    fi
}

start=$(date +%s)
echo "== miri 1/3: every test target and doctest, seed 0"
# --all-features: the `stream` feature's impls, tests and doc examples too.
MIRIFLAGS="${base_flags}" run cargo +nightly miri test --all-features
t1=$(date +%s)
echo "== miri 2/3: wake-up and close races, seeds 1..${racy_hi}"
seeds 1 "${racy_hi}" "${racy[@]}"
t2=$(date +%s)
echo "== miri 3/3: other multi-threaded tests, seeds 1..${other_hi}"
seeds 1 "${other_hi}" "${other[@]}"
t3=$(date +%s)
echo "miri: passed; step times $((t1 - start)) s, $((t2 - t1)) s, $((t3 - t2)) s; total $((t3 - start)) s"
