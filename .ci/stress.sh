#!/usr/bin/env bash
# The long stress run: the #[ignore]d tests of tests/stress.rs (about ten
# million sends in total), in release, one test at a time (the machine has two
# cores and each test already runs a consumer plus 2-4 producers), bounded by
# `timeout` so a lost wake-up fails the step instead of hanging it.
#
# STRESS_TIMEOUT (seconds, default 300) overrides the bound.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

limit="${STRESS_TIMEOUT:-300}"
cmd=(cargo test --release --test stress -- --ignored --nocapture --test-threads=1)
echo "+ timeout ${limit} ${cmd[*]}"
start=$(date +%s)
status=0
timeout --signal=KILL "${limit}" "${cmd[@]}" || status=$?
end=$(date +%s)
echo "stress: exit status ${status} after $((end - start)) s (bound ${limit} s)"
if [[ ${status} -eq 137 ]]; then
    echo "stress: FAILED, killed after ${limit} s (hang or far too slow)" >&2
fi
exit "${status}"
