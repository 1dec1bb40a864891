#!/usr/bin/env bash
# ward box's networking against what a user would pick instead, in one run
# (docs/network.md, "Performance"):
#   (a) start of a cached busybox image on the default network:
#       ward box run --rm IMG true (CNI bridge) vs podman run --rm IMG true
#       (netavark), and both with --network none;
#       ward's bridge both ways: its native fast path (the default) and
#       the CNI plugins (WARD_BOX_NET_CNI=1);
#   (b) the network's setup + teardown: (a)'s bridge time minus none's;
#   (c) TCP throughput between two boxes over the bridge (iperf3, host-view
#       boxes running the host's iperf3) vs the same topology made by hand
#       (two namespaces, a veth each to a bridge).
# Everything runs inside a network namespace of the bench's own (the
# script re-executes itself under `unshare --net`): podman's and ward's
# bridges and rules never reach the machine's namespace.
# usage (as root): bench/box-net.sh   (RUNS, WARMUP, SECS set the counts)
# Writes bench/results/box-net.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
if [ -z "${WARD_BENCH_NETNS:-}" ]; then
  scripts/deps.sh hyperfine podman crun netavark iperf3 containernetworking-plugins skopeo python3 busybox-static
  echo "bench: building ward and ward-box (release)" >&2
  cargo build --release -q -p ward -p ward-box
  exec env WARD_BENCH_NETNS=1 unshare --net --mount --propagation slave "$0" "$@"
fi
ip link set lo up
RUNS=${RUNS:-15} WARMUP=${WARMUP:-3} SECS=${SECS:-5}
ward=$(scripts/cargo-bin.sh release) wardbox=$(scripts/cargo-bin.sh release ward-box)
out=$PWD/bench/results
mkdir -p "$out"
work=$(mktemp -d /tmp/ward-box-net-bench.XXXXXX)
mounted_hugetlb=
wb() { WARD_BOX_RUNTIME=$ward "$wardbox" --root "$work/wstore" --runroot "$work/wrun" --network-config-dir "$work/net.d" "$@"; }
pm() { podman --root "$work/pstore" --runroot "$work/prun" --storage-driver overlay --cgroup-manager cgroupfs --events-backend file "$@"; }
cleanup() {
  for id in $(wb box ls -q 2>/dev/null); do wb box rm -f "$id" >/dev/null 2>&1 || true; done
  pm rm -af >/dev/null 2>&1 || true
  pm system reset -f >/dev/null 2>&1 || true
  for p in "$work"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true; done
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep "^$work" | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
  if [ -n "$mounted_hugetlb" ]; then umount /sys/fs/cgroup/hugetlb 2>/dev/null || true; fi
}
trap cleanup EXIT

# crun (under podman) refuses a hybrid host whose hugetlb controller is on
# the v2 side; a v1 hugetlb hierarchy (in this bench's mount namespace)
# makes it happy, as in bench/box.sh.
if [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ] && ! mountpoint -q /sys/fs/cgroup/hugetlb && [ -d /sys/fs/cgroup/hugetlb ]; then
  mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb && mounted_hugetlb=1
fi
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]
EOF
export CONTAINERS_CONF=$work/containers.conf

# The busybox image, as an OCI layout, in both stores.
python3 - "$work/bb" <<'PY'
import hashlib, io, json, os, subprocess, sys, tarfile
d = sys.argv[1]
os.makedirs(f"{d}/blobs/sha256", exist_ok=True)
def put(b):
    h = hashlib.sha256(b).hexdigest(); open(f"{d}/blobs/sha256/{h}", "wb").write(b); return "sha256:" + h
b = io.BytesIO()
with tarfile.open(fileobj=b, mode="w") as t:
    for dn in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"]:
        ti = tarfile.TarInfo(dn); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti)
    data = open("/bin/busybox", "rb").read()
    ti = tarfile.TarInfo("bin/busybox"); ti.size = len(data); ti.mode = 0o755; t.addfile(ti, io.BytesIO(data))
    for a in subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout.split():
        if a != "busybox":
            ti = tarfile.TarInfo(f"bin/{a}"); ti.type = tarfile.SYMTYPE; ti.linkname = "busybox"; t.addfile(ti)
raw = b.getvalue()
layer = put(raw)
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
                  "rootfs": {"type": "layers", "diff_ids": [layer]}}).encode()
cd = put(cfg)
m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": len(raw)}]}).encode()
md = put(m)
open(f"{d}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
open(f"{d}/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": [{
    "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(m),
    "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}))
PY
wb image import -q "$work/bb" localhost/bb:bench >/dev/null
skopeo copy --quiet "oci:$work/bb:bench" "containers-storage:[overlay@$work/pstore+$work/prun]localhost/bb:bench"
wb box run --rm -q localhost/bb:bench true
pm run --rm localhost/bb:bench true

{
  echo "cores=$(nproc)"
  echo "kernel=$(uname -r)"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "versions=podman $(podman --version | cut -d' ' -f3) (netavark $(/usr/lib/podman/netavark --version | cut -d' ' -f2), crun $(crun --version | head -1 | cut -d' ' -f3)), iperf3 $(iperf3 --version | head -1 | cut -d' ' -f2), ward $(git rev-parse --short HEAD)"
} >"$work/machine"

# (a), (b): one hyperfine run, four commands.
P="podman --root $work/pstore --runroot $work/prun --storage-driver overlay --cgroup-manager cgroupfs --events-backend file"
W="env WARD_BOX_RUNTIME=$ward $wardbox --root $work/wstore --runroot $work/wrun --network-config-dir $work/net.d"
WC="env WARD_BOX_NET_CNI=1 WARD_BOX_RUNTIME=$ward $wardbox --root $work/wstore --runroot $work/wrun --network-config-dir $work/net.d"
echo "bench: start, bridge and none" >&2
hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/start.json" \
  -n "podman bridge" "$P run --rm localhost/bb:bench true" \
  -n "ward bridge" "$W box run --rm -q localhost/bb:bench true" \
  -n "ward bridge CNI" "$WC box run --rm -q localhost/bb:bench true" \
  -n "podman none" "$P run --rm --network none localhost/bb:bench true" \
  -n "ward none" "$W box run --rm -q --net none localhost/bb:bench true" >&2

# (c) throughput: two host-view boxes on the default network...
echo "bench: throughput over ward's bridge" >&2
wb box run -d -q --name srv --net bridge -- iperf3 -s >/dev/null
srv_ip=$(wb box inspect srv | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["network"]["addresses"][0].split("/")[0])')
for i in $(seq 50); do wb box exec srv true 2>/dev/null && (echo >/dev/tcp/"$srv_ip"/5201) 2>/dev/null && break; sleep 0.1; done
wb box run --rm -q --net bridge -- iperf3 -c "$srv_ip" -t "$SECS" -O 1 -J >"$work/ward-iperf.json"
wb box rm -f srv >/dev/null
# ... and by hand: a bridge, two namespaces, a veth each.
ip link add wbench0 type bridge && ip addr add 10.123.0.1/24 dev wbench0 && ip link set wbench0 up
for n in 1 2; do
  touch "$work/ns$n" && unshare --net="$work/ns$n" true
  ip link add "wbv$n" type veth peer name eth0 netns "$work/ns$n"
  ip link set "wbv$n" master wbench0 up
  nsenter --net="$work/ns$n" sh -c "ip link set lo up && ip addr add 10.123.0.1$n/24 dev eth0 && ip link set eth0 up"
done
nsenter --net="$work/ns1" iperf3 -s -D -I "$work/iperf-hand.pid"
for i in $(seq 50); do nsenter --net="$work/ns2" sh -c '(echo >/dev/tcp/10.123.0.11/5201)' 2>/dev/null && break; sleep 0.1; done
nsenter --net="$work/ns2" iperf3 -c 10.123.0.11 -t "$SECS" -O 1 -J >"$work/hand-iperf.json"
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$work/machine"

python3 - "$work" "$out" <<'PY'
import json, statistics, sys
w, out = sys.argv[1], sys.argv[2]
machine = dict(l.strip().split("=", 1) for l in open(f"{w}/machine"))
res = {r["command"]: r for r in json.load(open(f"{w}/start.json"))["results"]}
med = {k: statistics.median(v["times"]) * 1000 for k, v in res.items()}
mn = {k: min(v["times"]) * 1000 for k, v in res.items()}
bps = lambda f: json.load(open(f))["end"]["sum_received"]["bits_per_second"] / 1e9
ward_t, hand_t = bps(f"{w}/ward-iperf.json"), bps(f"{w}/hand-iperf.json")
lines = ["# ward box networking, one run", "",
         f"{machine['cores']} cores, kernel {machine['kernel']}, load {machine['load_before']} -> {machine['load_after']}; {machine['versions']}", "",
         "| start of a cached busybox image, `run --rm IMG true` | median ms | min ms |", "|---|---|---|"]
for k in ["ward bridge", "ward bridge CNI", "podman bridge", "ward none", "podman none"]:
    lines.append(f"| {k} | {med[k]:.1f} | {mn[k]:.1f} |")
lines += ["",
          f"- ward bridge / podman bridge (netavark): **{med['ward bridge'] / med['podman bridge']:.2f}x** (goal: at most 0.3x)",
          f"- ward bridge through the CNI plugins / podman: {med['ward bridge CNI'] / med['podman bridge']:.2f}x",
          f"- network setup + teardown (bridge minus none, medians): ward fast path {med['ward bridge'] - med['ward none']:.1f} ms, ward CNI {med['ward bridge CNI'] - med['ward none']:.1f} ms, podman (netavark) {med['podman bridge'] - med['podman none']:.1f} ms",
          f"- TCP throughput between two boxes over ward0: {ward_t:.2f} Gbit/s; the same topology made by hand: {hand_t:.2f} Gbit/s; **{ward_t / hand_t:.2f}x** (goal: at least 0.95x)", ""]
text = "\n".join(lines)
open(f"{out}/box-net.md", "w").write(text + "\n")
print(text)
PY
