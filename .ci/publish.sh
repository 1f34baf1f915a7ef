#!/usr/bin/env bash
# Ready to publish: print the files `cargo package` puts in the .crate (so a
# stray file shows in the log), then `cargo publish --dry-run`, which packs
# the crate, builds it from the packed files alone against crates.io, and
# stops before the upload. Both use the committed Cargo.lock (--locked); the
# dry run builds with every feature, as docs.rs does.
#
# The package is the include list of Cargo.toml: cargo warns once for each
# test and bench target it leaves out ("ignoring test ..."); that is
# expected, those stay in the repository.
#
# CI runs this in a clean clone. In a working tree with uncommitted changes
# both commands refuse to run; set CONFLATE_PUBLISH_ALLOW_DIRTY=1 to check
# such a tree anyway (adds --allow-dirty).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

trap 'echo "publish: FAILED: ${BASH_COMMAND}" >&2' ERR

dirty=()
if [[ "${CONFLATE_PUBLISH_ALLOW_DIRTY:-}" == 1 ]]; then
    dirty=(--allow-dirty)
fi

echo "publish: files in the package (cargo package --list)"
files=$(cargo package -p conflate --list --locked "${dirty[@]}")
echo "${files}"
echo "publish: $(wc -l <<<"${files}") files"

cargo publish -p conflate --dry-run --locked --all-features "${dirty[@]}"
echo "publish: dry run passed"
