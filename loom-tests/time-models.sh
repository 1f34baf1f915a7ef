#!/usr/bin/env bash
# Times every loom model on its own, one at a time, at the preemption bound
# given as $1 (default 2; "none" for no bound, an exhaustive search). Prints
# "seconds  file::model  result" per model; a model gets at most 10 minutes.
# Usage: ./time-models.sh [BOUND|none] [FILTER]
set -euo pipefail

cd "$(dirname "$0")"
bound=${1:-2}
filter=${2:-}
if [[ $bound == none ]]; then
    unset LOOM_MAX_PREEMPTIONS
else
    export LOOM_MAX_PREEMPTIONS=$bound
fi
export RUSTFLAGS="--cfg loom"

cargo build --release --tests --locked --quiet
for file in tests/*.rs; do
    name=$(basename "$file" .rs)
    tests=$(cargo test --release --locked --quiet --test "$name" -- --list 2>/dev/null |
        sed -n 's/: test$//p')
    for t in $tests; do
        [[ -n $filter && $t != *$filter* ]] && continue
        start=$(date +%s.%N)
        status=0
        timeout 600 cargo test --release --locked --quiet --test "$name" -- --exact "$t" \
            >/dev/null 2>&1 || status=$?
        case $status in
            0) result=ok ;;
            124) result=TIMEOUT ;;
            *) result=FAILED ;;
        esac
        end=$(date +%s.%N)
        printf '%8.2f  %s::%s  %s\n' "$(echo "$end - $start" | bc)" "$name" "$t" "$result"
    done
done
