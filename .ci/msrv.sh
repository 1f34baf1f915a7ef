#!/usr/bin/env bash
# The minimum supported Rust version: build and test the crate with the
# toolchain that Cargo.toml's `rust-version` names, so that the number is one
# CI has tested. rustup installs that toolchain (minimal profile) if it is
# missing; if it cannot, this step fails instead of being skipped.
#
# `cargo test --all-features` is the README's command plus every feature;
# the benchmarks are not built (`.ci/bench.sh` builds them with stable).
# Its own target directory, so the stable builds in target/ stay as they are.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
if [[ -z "${msrv}" ]]; then
    echo "msrv: no rust-version in Cargo.toml" >&2
    exit 1
fi
if ! rustup run "${msrv}" rustc --version >/dev/null 2>&1; then
    rustup toolchain install "${msrv}" --profile minimal
fi
echo "msrv: $(rustup run "${msrv}" rustc --version)"
CARGO_TARGET_DIR=target/msrv cargo "+${msrv}" test --locked --all-features
