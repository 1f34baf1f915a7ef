#!/usr/bin/env bash
# The long stress run: the #[ignore]d tests of tests/stress.rs (about ten
# million sends in total), in release, one test at a time (the machine has two
# cores and each test already runs a consumer plus 2-4 producers), bounded by
# `timeout` so a lost wake-up fails the step instead of hanging it.
#
# It runs twice: with the real arena size, and with `--cfg
# conflate_small_arena` (three arena nodes), where racing producers take the
# heap overflow path thousands of times (see `ARENA` in src/slot.rs).
#
# STRESS_TIMEOUT (seconds, default 300 per run) overrides the bound.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

limit="${STRESS_TIMEOUT:-300}"
cmd=(cargo test --release --test stress --test select -- --ignored --nocapture --test-threads=1)

run_stress() {
    local name="$1" status=0 start end
    echo "+ [${name}] RUSTFLAGS=\"${RUSTFLAGS:-}\" timeout ${limit} ${cmd[*]}"
    start=$(date +%s)
    timeout --signal=KILL "${limit}" "${cmd[@]}" || status=$?
    end=$(date +%s)
    echo "stress (${name}): exit status ${status} after $((end - start)) s (bound ${limit} s)"
    if [[ ${status} -eq 137 ]]; then
        echo "stress (${name}): FAILED, killed after ${limit} s (hang or far too slow)" >&2
    fi
    if [[ ${status} -ne 0 ]]; then
        exit "${status}"
    fi
}

run_stress arena
export RUSTFLAGS="--cfg conflate_small_arena"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_SMALL:-target/small-arena}"
run_stress small-arena
