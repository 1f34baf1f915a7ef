#!/usr/bin/env bash
# Times every loom model on its own, one at a time, at the preemption bound
# given as $1 (default 2). Prints "seconds  file::model  result" per model.
# Usage: ./time-models.sh [BOUND] [FILTER]
set -euo pipefail

cd "$(dirname "$0")"
bound=${1:-2}
filter=${2:-}
export LOOM_MAX_PREEMPTIONS=$bound
export RUSTFLAGS="--cfg loom"

cargo build --release --tests --locked --quiet
for file in tests/*.rs; do
    name=$(basename "$file" .rs)
    tests=$(cargo test --release --locked --quiet --test "$name" -- --list 2>/dev/null |
        sed -n 's/: test$//p')
    for t in $tests; do
        [[ -n $filter && $t != *$filter* ]] && continue
        start=$(date +%s.%N)
        if cargo test --release --locked --quiet --test "$name" -- --exact "$t" >/dev/null 2>&1; then
            result=ok
        else
            result=FAILED
        fi
        end=$(date +%s.%N)
        printf '%8.2f  %s::%s  %s\n' "$(echo "$end - $start" | bc)" "$name" "$t" "$result"
    done
done
