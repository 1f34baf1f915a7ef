#!/usr/bin/env bash
# Miri over the whole test suite: the crate's unit tests and doctests and
# every integration test in tests/ (loop counts are scaled down under
# cfg(miri) in the test files themselves, nothing is skipped), all with
# every feature (the `stream` impls and tests too).
#
# Seeds (Miri's scheduler and weak-memory choices depend on the seed):
#   - the files built around wake-ups and closing races (RACY below):
#     seeds 0..8;
#   - the other multi-threaded files (OTHER): seeds 0..4;
#   - the rest, seed 0: the unit tests, the doctests, and every other file
#     in tests/ (one thread, or threads only in strict lock-step hand-offs,
#     or files other engineers own; a new file lands here by itself).
# MIRI_SEEDS_RACY / MIRI_SEEDS_OTHER override the (exclusive) upper ends.
#
# Scheduling. Miri interprets on one core, and one `cargo miri test` runs
# its test binaries one after another, so a plain run leaves the second
# core idle. Instead every (test target, seed) pair is one job, and two
# jobs run at a time, longest first (measured single-seed wall times on
# the 2-core AMD guest: fuzz_regressions 188 s, doctests 119 s, publisher
# 97 s, select 85 s, publisher_alloc 55 s, fuzz_corpus 44 s, skipped 29 s,
# every other target 4-18 s). Each job's output goes to its own log, which
# is printed if the job fails. After one build, the jobs' cargo calls only
# check it: cargo holds its build lock while building, not while the tests
# run, so the two lanes do not wait for each other.
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

export MIRI_BASE_FLAGS="-Zmiri-strict-provenance"
racy_hi="${MIRI_SEEDS_RACY:-8}"
other_hi="${MIRI_SEEDS_OTHER:-4}"
racy=(close wakeup receiver_drop async_recv select)
other=(exactly_once stress panic_safety counting one_slot skipped stream publisher)
# Longest first, for the two lanes (see above); targets not named here
# follow in file-name order.
longest=(fuzz_regressions doc publisher select publisher_alloc fuzz_corpus skipped)

all=()
for file in tests/*.rs; do
    all+=("$(basename "${file}" .rs)")
done
for name in "${racy[@]}" "${other[@]}"; do
    if [[ ! -f "tests/${name}.rs" ]]; then
        echo "miri: tests/${name}.rs is named in .ci/miri.sh but does not exist" >&2
        exit 1
    fi
done

# Seeds per target: the lists above, else one.
declare -A seeds
for name in "${racy[@]}"; do seeds[${name}]=${racy_hi}; done
for name in "${other[@]}"; do seeds[${name}]=${other_hi}; done

# One line per job, "TARGET SEED", longest targets first and, within a
# target, seed after seed.
jobs_file="$(mktemp -t conflate-miri-jobs.XXXXXX)"
logs="$(mktemp -d -t conflate-miri-logs.XXXXXX)"
trap 'rm -f "${jobs_file}"' EXIT
{
    ordered=("${longest[@]}" lib)
    for name in "${all[@]}"; do
        case " ${longest[*]} lib " in
        *" ${name} "*) ;;
        *) ordered+=("${name}") ;;
        esac
    done
    for name in "${ordered[@]}"; do
        for ((s = 0; s < ${seeds[${name}]:-1}; s++)); do
            echo "${name} ${s}"
        done
    done
} >"${jobs_file}"
echo "miri: $(wc -l <"${jobs_file}") jobs (racy seeds 0..${racy_hi}, other seeds 0..${other_hi}, the rest seed 0), two at a time; logs in ${logs}"

start=$(date +%s)
run cargo +nightly miri test --all-features --locked --no-run
built=$(date +%s)

# One job: `cargo miri test` of one target with one seed. Prints a line with
# its wall time; on failure also its log, and exits non-zero.
job() {
    local name="$1" seed="$2" sel log t0 status=0
    case "${name}" in
    lib) sel=(--lib) ;;
    doc) sel=(--doc) ;;
    *) sel=(--test "${name}") ;;
    esac
    log="${MIRI_LOGS}/${name}-${seed}.log"
    t0=$(date +%s)
    MIRIFLAGS="${MIRI_BASE_FLAGS} -Zmiri-seed=${seed}" \
        cargo +nightly miri test --all-features --locked "${sel[@]}" >"${log}" 2>&1 || status=$?
    if [[ ${status} -ne 0 ]]; then
        echo "miri: FAILED: ${name} seed ${seed} (exit ${status}) after $(($(date +%s) - t0)) s; log ${log}:"
        cat "${log}"
        return 1
    fi
    if ! grep -q '^test result: ok' "${log}"; then
        echo "miri: FAILED: ${name} seed ${seed} ran no test; log ${log}:"
        cat "${log}"
        return 1
    fi
    echo "miri: ok ${name} seed ${seed} in $(($(date +%s) - t0)) s"
}
export -f job
export MIRI_LOGS="${logs}"

status=0
xargs -P 2 -L 1 bash -c 'job "$0" "$1"' <"${jobs_file}" || status=$?
end=$(date +%s)
if [[ ${status} -ne 0 ]]; then
    echo "miri: FAILED (see the failed jobs above); build $((built - start)) s, jobs $((end - built)) s" >&2
    exit 1
fi
rm -rf "${logs}"
echo "miri: passed; build $((built - start)) s, jobs $((end - built)) s; total $((end - start)) s"
