#!/usr/bin/env bash
# ward's integration tests inside the test VM (tests/vm/run): Debian's stock
# 6.1 kernel with a pure cgroup v2 hierarchy. The test binaries are built on
# the host and run in the guest, which sees the host's file system at the
# same paths. Arguments go to every test binary (a name filter, say).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "vm-test: run as root: the guest starts real containers" >&2; exit 1; }
# criu and iptables: checkpoint.rs (criu locks the network with iptables
# for --tcp-established); runc: a checkpoint of another runtime; podman:
# podman's checkpoint and restore with ward as its runtime; skopeo, umoci,
# docker-registry, apache2-utils, openssl: ward-box's image tests;
# protobuf-compiler: the workspace's ward-cri-test builds its CRI bindings
# with protoc (its test binary is not run here); containernetworking-plugins,
# golang-github-containernetworking-plugin-dnsname, dnsmasq-base, iperf3,
# passt, iproute2: ward-box's network tests (network.rs, rate.rs).
scripts/deps.sh busybox-static runc python3 procps util-linux criu libseccomp-dev uidmap apparmor gcc libc6-dev \
  iptables podman skopeo umoci docker-registry apache2-utils openssl protobuf-compiler \
  containernetworking-plugins golang-github-containernetworking-plugin-dnsname dnsmasq-base iperf3 passt iproute2
# sshd for crates/ward/tests/migrate.rs (its tests start their own).
scripts/deps.sh --no-start openssh-server
tests/vm/run --setup

# Every integration test binary of the workspace but vm (which boots this
# very VM from the host), engines (podman, containerd and dockerd: run on
# the host only; under TCG with no network device their daemons alone would
# cost minutes) and cri (ward-cri-test: containerd's CRI plugin, CNI and
# pods, on the host only for the same reason; what it checks of ward's
# cgroup handling runs in the guest through the other binaries). Built
# first with cargo's own messages, so that a build error shows.
cargo test --workspace --tests --no-run
mapfile -t bins < <(cargo test --workspace --tests --no-run --message-format=json -q |
  python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    t = m.get("target", {})
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and t.get("kind") == ["test"] and t.get("name") not in ("vm", "systemd", "engines", "cri"):
        print(m["executable"])
')
[ ${#bins[@]} -gt 0 ] || { echo "vm-test: no test binary was built" >&2; exit 1; }

# In the guest: each binary in turn; every failure is reported at the end.
# The tests' scratch directories go to a tmpfs (TMPDIR): the guest's /tmp
# is the host's seen through the root's overlay, and overlayfs refuses what
# ward box does there (an overlay whose upper directory is on overlayfs,
# a whiteout made with mknod), which a host's /tmp never refuses. Its name is short: podman refuses a
# --runroot over 50 characters, and the podman tests' is under it.
# WARD_TEST_TIME_SCALE: every test's time bounds times that (common::
# time_scale): under emulation, on a machine shared with other work, a
# container that allocates 32 MiB or a cc run can take many times its
# host's time.
exec tests/vm/run --timeout "${WARD_VM_TEST_TIMEOUT:-1800}" --mem 2048 --env RUST_BACKTRACE=1 \
  --env WARD_TEST_TIME_SCALE="${WARD_TEST_TIME_SCALE:-2}" -- \
  bash -c '
n=$1; shift
args=("${@:1:n}"); shift "$n"
failed=()
mkdir -p -m 1777 /run/t && mount -t tmpfs -o mode=1777 tmpfs /run/t
export TMPDIR=/run/t
for bin in "$@"; do
  name=$(basename "$bin"); name=${name%-*}
  echo "=== $name (guest: $(uname -r), $(stat -fc %T /sys/fs/cgroup))"
  "$bin" "${args[@]}" || failed+=("$name")
done
if [ ${#failed[@]} -gt 0 ]; then echo "vm-test: failed in the guest: ${failed[*]}"; exit 1; fi
echo "vm-test: every integration test binary passed in the guest"
' vm-test "$#" "$@" "${bins[@]}"
