#!/usr/bin/env bash
# ward's main job on a fresh machine: build it, make a busybox bundle, and
# run a container in it, then leave nothing behind. As root the container
# has its own pid, mount, uts, ipc, net and cgroup namespaces; as any other
# user it runs rootless (`ward spec --rootless`, as `runc spec --rootless`):
# a user namespace mapping container root to you, the host's network, and
# no cgroup of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
# busybox-static: the container's rootfs; python3: edits the bundle's
# config; libseccomp-dev: ward links libseccomp statically.
pkgs=(busybox-static python3 libseccomp-dev)
if [ "$(id -u)" = 0 ]; then
  scripts/deps.sh "${pkgs[@]}"
else
  missing=()
  for pkg in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "demo: Debian's ${missing[*]} must be installed first, by root: apt-get install ${missing[*]} (run as root, the demo installs them itself)" >&2
    exit 1
  fi
fi
command -v cargo >/dev/null || { echo "demo: cargo is not on PATH: install Rust (rustup.rs) first" >&2; exit 1; }
cargo build --release -q -p ward
ward=$(scripts/cargo-bin.sh release)
work=$(mktemp -d /tmp/ward-demo.XXXXXX)
trap '"$ward" --root "$work/state" delete --force demo >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
scripts/busybox-bundle.sh "$ward" "$work/bundle" sh /hello
cat >"$work/bundle/rootfs/hello" <<'EOF'
echo "hello from $(hostname): I am pid $$ as $(id -un)"
read -r _ host _ </proc/self/uid_map
echo "my uid 0 is uid $host on the host"
echo "processes I can see:"
ps
echo "network devices:"
ls /sys/class/net
EOF
if [ "$(id -u)" != 0 ]; then
  echo "demo: rootless, as $(id -un): container root is you; the host's network; no cgroup of its own" >&2
fi
"$ward" --root "$work/state" run --bundle "$work/bundle" demo
