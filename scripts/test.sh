#!/usr/bin/env bash
# The whole test suite: unit tests and the integration tests that start real
# containers (as root) on a busybox rootfs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test: run as root: the integration tests start real containers" >&2; exit 1; }
# busybox-static: the containers' rootfs; runc: to check that a bundle made
# by `runc spec` runs under ward; python3: bundle scripts; procps: `ward ps`
# runs ps(1); util-linux: unshare for pinned namespaces.
scripts/deps.sh busybox-static runc python3 procps util-linux
exec cargo test --workspace -- "$@"
