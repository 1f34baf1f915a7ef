#!/usr/bin/env bash
# CI step for the benchmarks: build them (never run them) so they cannot rot.
# Running them takes minutes and needs a quiet machine: see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --no-run --locked --bench channels --bench send_tail --bench line_model
# The report script must at least parse (standard library only, no output).
python3 -c "import ast, sys; ast.parse(open(sys.argv[1]).read())" scripts/bench_report.py
