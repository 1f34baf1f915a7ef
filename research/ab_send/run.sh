#!/usr/bin/env bash
# Usage: research/ab_send/run.sh OLD_COMMIT [PAIRS]
# Alternates old and new processes (4M idle sends x 5 repetitions each,
# after 1M warm-up), for u64 and 64-byte values, and prints each process's
# best and median of its 5 repetitions, in ns per send.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
old="$1"; pairs="${2:-60}"
if [ ! -d /tmp/ab-old ]; then
    git -C "$here/../.." worktree add -f /tmp/ab-old "$old"
    sed -i 's/^version = "0.1.0"/version = "0.0.1"/' /tmp/ab-old/Cargo.toml
fi
cargo build --release --manifest-path "$here/Cargo.toml"
bin="$here/target/release/ab_send"
for i in $(seq 1 "$pairs"); do for t in u64 64B; do
    if [ $((i % 2)) = 0 ]; then order="old new"; else order="new old"; fi
    for v in $order; do "$bin" "$v" "$t"; done
done; done
