#!/usr/bin/env bash
# ward's main job on a fresh machine: build it, make a busybox bundle, and
# run a container in it (its own pid, mount, uts, ipc, net and cgroup
# namespaces), then leave nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (containers need it until rootless mode lands)" >&2; exit 1; }
scripts/deps.sh busybox-static python3 libseccomp-dev
cargo build --release -q -p ward
ward=$(scripts/cargo-bin.sh release)
work=$(mktemp -d /tmp/ward-demo.XXXXXX)
trap '"$ward" --root "$work/state" delete --force demo >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
scripts/busybox-bundle.sh "$ward" "$work/bundle" sh -c \
  'echo "hello from $(hostname): I am pid $$ as $(id -un)"; echo "processes I can see:"; ps; echo "network devices:"; ls /sys/class/net'
"$ward" --root "$work/state" run --bundle "$work/bundle" demo
