#!/usr/bin/env bash
# The raft_cluster example: a 3-node tikv raft-rs cluster on threads that
# publishes leadership through conflate, forces leader changes and checks its
# own invariants (it exits non-zero if one fails).
#
# It is its own package (examples/raft_cluster, empty [workspace], own
# target/ and Cargo.lock), so the root crate's `cargo test` never builds
# raft-rs. raft-proto's build script runs protoc: protobuf-build uses a
# system protoc >= 3.1 if there is one, else a protoc binary shipped inside
# the protobuf-build crate for x86_64, x86, aarch64 and ppc64le Linux. Only
# elsewhere does this script install Debian's protoc.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

case "$(uname -m)" in
x86_64 | i686 | aarch64 | ppc64le) ;;
*)
    if ! command -v protoc >/dev/null; then
        apt-get update
        apt-get install -y protobuf-compiler
    fi
    ;;
esac

cd examples/raft_cluster
start=$(date +%s)
# Build on its own first, so a hang in the run is told apart from a slow
# build; the run itself takes about half a second.
timeout 900 cargo build --release --locked
built=$(date +%s)
timeout 120 cargo run --release --locked
echo "raft_cluster: build $((built - start)) s, run $(($(date +%s) - built)) s"
