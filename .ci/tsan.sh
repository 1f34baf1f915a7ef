#!/usr/bin/env bash
# ThreadSanitizer over the concurrent integration tests (the small stress
# variants and every test file that races threads). Needs nightly with
# rust-src: std is rebuilt with `-Zbuild-std` so that it is instrumented too.
# A separate target directory keeps these artifacts away from normal builds.
#
# It runs twice: with the real arena size, and with `--cfg
# conflate_small_arena` (three arena nodes), where a few racing threads already
# take the heap overflow path (see `ARENA` in src/slot.rs).
#
# Any ThreadSanitizer report fails the step: `halt_on_error=1` makes the test
# binary exit non-zero at the first report, and the log is grepped as well in
# case a report came from a process whose exit status was lost.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=x86_64-unknown-linux-gnu
if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
    echo "+ rustup component add --toolchain nightly rust-src"
    rustup component add --toolchain nightly rust-src
fi

export TSAN_OPTIONS="halt_on_error=1 abort_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"

# Test files with more than one thread at a time.
tests=(stress close wakeup receiver_drop exactly_once one_slot counting async_recv panic_safety api timeouts select skipped stream publisher)
args=()
for t in "${tests[@]}"; do
    args+=(--test "$t")
done

# Both runs share one target directory, so std and the dependencies are
# built (instrumented) once: the sanitizer flag is the same for every crate,
# and the small arena's `--cfg` reaches only conflate's own crates (the
# library and its test targets), through nightly's per-package profile
# rustflags (`-Zprofile-rustflags`) instead of RUSTFLAGS.
export RUSTFLAGS="-Zsanitizer=thread"
export RUSTDOCFLAGS="-Zsanitizer=thread"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_TSAN:-target/tsan}"

run_tsan() {
    local name="$1"
    shift
    local log status=0 start end
    log="$(mktemp -t conflate-tsan.XXXXXX)"
    # --all-features: tests/stream.rs has a part that needs `stream`.
    local cmd=(cargo +nightly test -Zbuild-std "$@" --target "$target" --all-features --locked "${args[@]}")
    echo "+ RUSTFLAGS=\"${RUSTFLAGS}\" CARGO_TARGET_DIR=${CARGO_TARGET_DIR} ${cmd[*]}"
    start=$(date +%s)
    "${cmd[@]}" 2>&1 | tee "$log" || status=$?
    end=$(date +%s)
    echo "tsan (${name}): exit status ${status} after $((end - start)) s"
    if grep -q "WARNING: ThreadSanitizer" "$log"; then
        echo "tsan (${name}): FAILED, ThreadSanitizer reported (see above; log kept at $log)" >&2
        exit 1
    fi
    if [[ ${status} -ne 0 ]]; then
        echo "tsan (${name}): FAILED with exit status ${status} (log kept at $log)" >&2
        exit "${status}"
    fi
    if ! grep -q "^test result: ok" "$log"; then
        echo "tsan (${name}): FAILED, no test ran (log kept at $log)" >&2
        exit 1
    fi
    rm -f "$log"
    echo "tsan (${name}): no data race reported"
}

run_tsan arena
run_tsan small-arena -Zprofile-rustflags \
    --config 'profile.dev.package.conflate.rustflags=["--cfg", "conflate_small_arena"]'
