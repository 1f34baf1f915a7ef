#!/usr/bin/env bash
# Usage: research/ab_send/interleave.sh OLD_COMMIT [PAIRS_PER_CHUNK] [ROUNDS] > out.txt
# The in-process interleaved A/B (src/bin/interleave.rs) of every row, the
# rows taken in turn ROUNDS times (PAIRS_PER_CHUNK pairs each time), so that
# a slow spell of the machine falls on several rows, not on one. Summary:
# research/ab_send/interleave.py out.txt
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
old="$1"; pairs="${2:-250}"; rounds="${3:-4}"
if [ ! -d /tmp/ab-old ]; then
    git -C "$here/../.." worktree add -f /tmp/ab-old "$old"
    sed -i 's/^version = "0.1.0"/version = "0.0.1"/' /tmp/ab-old/Cargo.toml
fi
[ "$(git -C /tmp/ab-old rev-parse HEAD)" = "$(git -C "$here/../.." rev-parse "$old")" ] \
    || { echo "/tmp/ab-old is not at $old" >&2; exit 1; }
# AB_MODE picks the build (each in its own target directory):
# - plain: the release profile as is. In it the old tree's put is an
#   out-of-line call in these loops and the new tree's is inlined (4a0e824
#   made the put steps always inlined), which favours the new tree.
# - aligned: every function aligned to 64 bytes and every branch target
#   that is not a fall-through to 32, so that where a hot loop falls
#   relative to the fetch blocks is no accident of one tree's layout.
# - inlined (the default): aligned, and LLVM's inline threshold raised to
#   1000 so that both trees' puts are inlined (checked: no out-of-line
#   `Chan::put` is left in the binary). The fairest of the three for the
#   question "what do the numbering's load and store cost".
align="-C llvm-args=-align-all-functions=6 -C llvm-args=-align-all-nofallthru-blocks=5"
case "${AB_MODE:-inlined}" in
    plain) export RUSTFLAGS="" ;;
    aligned) export RUSTFLAGS="$align" ;;
    inlined) export RUSTFLAGS="$align -C llvm-args=-inline-threshold=1000" ;;
    *) echo "AB_MODE is plain, aligned or inlined" >&2; exit 1 ;;
esac
export CARGO_TARGET_DIR="$here/target-${AB_MODE:-inlined}"
cargo build --release --manifest-path "$here/Cargo.toml" >&2
bin="$CARGO_TARGET_DIR/release/interleave"
if [ "${AB_MODE:-inlined}" = inlined ] && nm -C "$bin" | grep -qE 'Chan<T>::put(_with)?$'; then
    echo "a put is still out of line in $bin" >&2; exit 1
fi
rows="idle_u64 idle_64B contended_u64 contended_64B rt_u64_floating rt_64B_floating rt_u64_pinned rt_64B_pinned"
for r in $(seq 1 "$rounds"); do
    for row in $rows; do
        "$bin" "$row" "$pairs" | sed "s/^\([^ ]*\) /\1 $r./"
    done
    echo "round $r done $(date +%T)" >&2
done
