#!/usr/bin/env bash
# The whole test suite: unit tests and the integration tests that start real
# containers (as root) on a busybox rootfs, on this host; then the
# integration tests again inside the test VM (tests/vm: Debian's stock 6.1
# kernel, pure cgroup v2). Arguments go to the test binaries (a name filter,
# say). WARD_TEST_VM=0 skips the VM part.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test: run as root: the integration tests start real containers" >&2; exit 1; }
# busybox-static: the containers' rootfs; runc: to check that a bundle made
# by `runc spec` runs under ward; python3: bundle scripts; procps: `ward ps`
# runs ps(1); util-linux: unshare for pinned namespaces; criu: `criu check`
# in the test VM; libseccomp-dev: ward links libseccomp statically;
# uidmap: newuidmap for rootless maps; apparmor: apparmor_parser loads a
# test profile in the VM, whose kernel has AppArmor; gcc, libc6-dev: a static
# sd_notify sender for the NOTIFY_SOCKET tests; podman, containerd, docker.io,
# netavark, aardvark-dns, iptables, curl: tests/engines.rs runs ward under
# podman, ctr and dockerd (published ports through netavark and docker-proxy,
# fetched with curl); skopeo, umoci, docker-registry, apache2-utils, openssl:
# ward box's image tests (crates/ward-box/tests: images pushed with skopeo
# to a docker-registry on 127.0.0.1, with TLS from an openssl CA and an
# htpasswd file; unpacking compared with umoci's);
# containernetworking-plugins, crun, protobuf-compiler: crates/ward-cri-test
# runs pods through containerd's CRI plugin with CNI's bridge and portmap
# (crun is a handler there too), and builds its CRI bindings with protoc;
# golang-github-containernetworking-plugin-dnsname, dnsmasq-base, iperf3,
# passt, iproute2: ward box's network tests (crates/ward-box/tests/network.rs:
# names between boxes through CNI's dnsname, caps measured with iperf3,
# rootless boxes through pasta; CNI's bridge, portmap and firewall come
# with containernetworking-plugins).
scripts/deps.sh busybox-static runc python3 procps util-linux criu libseccomp-dev uidmap apparmor gcc libc6-dev \
  podman containerd docker.io netavark aardvark-dns iptables curl \
  skopeo umoci docker-registry apache2-utils openssl \
  containernetworking-plugins crun protobuf-compiler \
  golang-github-containernetworking-plugin-dnsname dnsmasq-base iperf3 passt iproute2
# sshd for crates/ward/tests/migrate.rs, never started as a service here.
scripts/deps.sh --no-start openssh-server
# The VM's packages and kernel (tests/vm.rs boots it from the host too).
tests/vm/run --setup
cargo test --workspace -- "$@"
# ward box's network tests again through the CNI plugins, which the
# default network's native fast path otherwise stands in for
# (docs/network.md): both ways must pass (about 15 s).
WARD_BOX_NET_CNI=1 cargo test -p ward-box --test network -- "$@"
if [ "${WARD_TEST_VM:-1}" != 0 ]; then
  scripts/vm-test.sh "$@"
fi
