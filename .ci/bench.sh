#!/usr/bin/env bash
# CI step for the benchmarks: build them (never run them) so they cannot rot.
# `--benches` is every bench a plain `cargo bench` runs; line_model, the
# research instrument under research/, is built by name. Running them takes
# minutes, best on an otherwise idle machine: see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --no-run --locked --benches --bench line_model
# `cargo clippy --all-targets` (in .ci/run) leaves out a bench with
# `bench = false`, so line_model gets its own lint here.
cargo clippy --locked --bench line_model -- -D warnings
# The report script must at least parse (standard library only, no output).
python3 -c "import ast, sys; ast.parse(open(sys.argv[1]).read())" scripts/bench_report.py
