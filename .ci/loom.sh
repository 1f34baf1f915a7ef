#!/usr/bin/env bash
# Loom model checks of conflate (style guide §6), at a fixed preemption bound.
# Builds loom-tests/ in its own target dir with `--cfg loom`, release mode.
set -euo pipefail

cd "$(dirname "$0")/../loom-tests"
export LOOM_MAX_PREEMPTIONS=2
export RUSTFLAGS="--cfg loom"

start=$(date +%s)
cargo build --release --tests --locked
built=$(date +%s)
# --no-fail-fast: a failing model file does not hide the results of the rest.
status=0
cargo test --release --locked --no-fail-fast || status=$?
done_at=$(date +%s)
echo "loom (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS): build $((built - start)) s, models $((done_at - built)) s"
exit "$status"
