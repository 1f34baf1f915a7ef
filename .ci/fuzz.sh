#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time and fails on any
# crash, hang or leak.
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   targets to run (default: "ops threads")
#   FUZZ_CORPUS    directory for the growing corpus (default: a temporary
#                  directory, removed afterwards); the committed seeds in
#                  fuzz/seeds/TARGET are only read, never written.
#
# Needs the nightly toolchain (cargo-fuzz builds with sanitizers). A crash
# input is saved under fuzz/artifacts/TARGET/; turn it into a test in
# tests/fuzz_regressions.rs.
set -euo pipefail

cd "$(dirname "$0")/.."

secs="${FUZZ_SECONDS:-60}"
targets="${FUZZ_TARGETS:-ops threads}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
corpus_root="${FUZZ_CORPUS:-$scratch/corpus}"

status=0
for target in $targets; do
    corpus="$corpus_root/$target"
    mkdir -p "$corpus"
    log="$scratch/$target.log"
    echo "== fuzz $target for ${secs}s (corpus $corpus, seeds fuzz/seeds/$target)"
    # The first corpus directory receives new inputs; the seeds are read.
    # -timeout: one input runs in milliseconds, so 10 s means a hang.
    if cargo +nightly fuzz run "$target" "$corpus" "fuzz/seeds/$target" -- \
        -max_total_time="$secs" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        echo "   ok: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)"
        grep -E '^stat::number_of_executed_units' "$log" || true
    else
        status=1
        mkdir -p "fuzz/artifacts/$target"
        cp "$log" "fuzz/artifacts/$target/last-run.log"
        echo "   FAILED: $target (full log: fuzz/artifacts/$target/last-run.log)"
        grep -E -A3 "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$log" | head -n 20 || true
        grep -E "^(Test unit written to|artifact_prefix)|Base64:" "$log" || true
    fi
done
exit "$status"
