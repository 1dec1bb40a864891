#!/usr/bin/env bash
# Prints the path of a binary cargo built: cargo-bin.sh PROFILE [NAME]
# (PROFILE debug or release, NAME ward by default). Builds name the host's
# target (.cargo/config.toml), so they land under target/<host triple>/.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
echo "${CARGO_TARGET_DIR:-$PWD/target}/$host/$1/${2:-ward}"
