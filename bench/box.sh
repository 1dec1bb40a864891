#!/usr/bin/env bash
# ward box against what a user would pick instead, side by side in hyperfine
# (see bench/README.md, "ward box"):
#   (a) start of a cached busybox image, --net none: ward box run --rm vs
#       podman run --rm --network none (same OCI image, overlay stores);
#   (b) the host view: ward box -- true vs bwrap --ro-bind / / ... true;
#   (c) pull and unpack of a 5-layer ~100 MB image from a docker-registry
#       on 127.0.0.1: ward image pull vs podman pull vs skopeo copy + umoci
#       unpack, each into an empty store every run;
#   (d) disk use of two images that share four of their five layers.
# usage (as root): bench/box.sh   (RUNS, ROUNDS, WARMUP, PULL_RUNS set the counts)
# Writes bench/results/box.md and box.json and prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
RUNS=${RUNS:-20} ROUNDS=${ROUNDS:-3} WARMUP=${WARMUP:-3} PULL_RUNS=${PULL_RUNS:-3}

scripts/deps.sh hyperfine podman crun bubblewrap skopeo umoci docker-registry python3 busybox-static libseccomp-dev
echo "bench: building ward and ward-box (release)" >&2
cargo build --release -q -p ward -p ward-box
ward=$(scripts/cargo-bin.sh release) wardbox=$(scripts/cargo-bin.sh release ward-box)
out=$PWD/bench/results
mkdir -p "$out"
work=$(mktemp -d /tmp/ward-box-bench.XXXXXX)
. bench/hugetlb.sh
reg_pid=
wb() { "$wardbox" --root "$work/wstore" --runroot "$work/wrun" "$@"; }
pm() { podman --root "$work/pstore" --runroot "$work/prun" --storage-driver overlay --cgroup-manager cgroupfs --events-backend file "$@"; }
cleanup() {
  for id in $(wb box ls -q 2>/dev/null); do wb box rm -f "$id" >/dev/null 2>&1 || true; done
  pm rm -af >/dev/null 2>&1 || true
  pm system reset -f >/dev/null 2>&1 || true
  [ -z "$reg_pid" ] || kill "$reg_pid" 2>/dev/null || true
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep "^$work" | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
  hugetlb_release
}
trap cleanup EXIT

hugetlb_for_crun

# As root, podman writes nofile=1048576 and nproc=4194304 into each
# config.json, which crun can't set without CAP_SYS_RESOURCE (this machine
# has none): give it the limits this shell has (nproc at most 32768:
# podman 4.3 lowers its own to that at start).
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]
EOF
export CONTAINERS_CONF=$work/containers.conf

# The images: busybox (one layer), and five layers of ~20 MB each (files of
# random bytes, so gzip can't shrink them), plus a sibling sharing four.
python3 - "$work" <<'PY'
import gzip, hashlib, io, json, os, random, subprocess, sys, tarfile
w = sys.argv[1]
def layout(d, layers, cmd):
    os.makedirs(f"{d}/blobs/sha256", exist_ok=True)
    def put(b):
        h = hashlib.sha256(b).hexdigest(); open(f"{d}/blobs/sha256/{h}", "wb").write(b); return "sha256:" + h
    descs, diffs = [], []
    for raw in layers:
        diffs.append("sha256:" + hashlib.sha256(raw).hexdigest())
        gz = gzip.compress(raw, 6)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(gz), "size": len(gz)})
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
                      "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
    cd = put(cfg)
    m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
                    "layers": descs}).encode()
    md = put(m)
    open(f"{d}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
    open(f"{d}/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(m),
        "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}))
def tar(files, dirs=(), links=()):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w") as t:
        for dname in dirs:
            ti = tarfile.TarInfo(dname); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti)
        for name, data, mode in files:
            ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = mode; t.addfile(ti, io.BytesIO(data))
        for name, target in links:
            ti = tarfile.TarInfo(name); ti.type = tarfile.SYMTYPE; ti.linkname = target; t.addfile(ti)
    return b.getvalue()
bb = open("/bin/busybox", "rb").read()
applets = [a for a in subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout.split() if a != "busybox"]
base = tar([("bin/busybox", bb, 0o755), ("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)],
           ["bin", "etc", "proc", "sys", "dev", "tmp", "root"], [(f"bin/{a}", "busybox") for a in applets])
layout(f"{w}/bb", [base], ["sh"])
rnd = random.Random(42)
big = [tar([(f"data{i}/f{j:03d}", rnd.randbytes(100_000), 0o644) for j in range(200)], [f"data{i}"]) for i in range(5)]
layout(f"{w}/big", big, ["sh"])
other = big[:4] + [tar([(f"data9/f{j:03d}", rnd.randbytes(100_000), 0o644) for j in range(200)], ["data9"])]
layout(f"{w}/big2", other, ["sh"])
PY

{
  echo "cores=$(nproc)"
  echo "kernel=$(uname -r)"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "versions=podman $(podman --version | cut -d' ' -f3) (crun $(crun --version | head -1 | cut -d' ' -f3)), bwrap $(bwrap --version | cut -d' ' -f2), skopeo $(skopeo --version | cut -d' ' -f3), umoci $(umoci --version | cut -d' ' -f3), ward $(git rev-parse --short HEAD)"
} >"$work/machine"

hf() { # SCENARIO WARMUP RUNS (NAME COMMAND)... ; rounds with the order rotated
  local name=$1 warmup=$2 runs=$3; shift 3
  local pairs=("$@") n=$(($# / 2)) r i j
  for r in $(seq 0 $((ROUNDS - 1))); do
    local args=()
    for i in $(seq 0 $((n - 1))); do
      j=$(( (i + r) % n ))
      args+=(-n "${pairs[$((2 * j))]}" "${pairs[$((2 * j + 1))]}")
    done
    echo "bench: $name, round $((r + 1))/$ROUNDS" >&2
    hyperfine -N --style basic --warmup "$warmup" --runs "$runs" "${args[@]}" --export-json "$work/hf-$name-$r.json" >&2
  done
}

# (a) a cached busybox image, started and removed, no network
wb image import -q "$work/bb" localhost/bb:bench >/dev/null
skopeo copy --quiet "oci:$work/bb:bench" "containers-storage:[overlay@$work/pstore+$work/prun]localhost/bb:bench"
wb box run --rm -q --net none localhost/bb:bench true
pm run --rm --network none localhost/bb:bench true
hf start "$WARMUP" "$RUNS" \
  podman "podman --root $work/pstore --runroot $work/prun --storage-driver overlay --cgroup-manager cgroupfs --events-backend file run --rm --network none localhost/bb:bench true" \
  ward "$wardbox --root $work/wstore --runroot $work/wrun box run --rm -q --net none localhost/bb:bench true"

# (b) the host view: ward's RUN (box records, the runtime's state) on the
# disk under /tmp as the other scenarios', and on a tmpfs, which is what
# /run (its default) is on a systemd host; the store is on disk in both.
mkdir -p "$work/runtmpfs"
mount -t tmpfs -o size=64m,mode=0700 tmpfs "$work/runtmpfs"
hf hostview "$WARMUP" "$RUNS" \
  bwrap "bwrap --ro-bind / / --dev /dev --proc /proc --unshare-all true" \
  ward "$wardbox --root $work/wstore --runroot $work/wrun box -- true" \
  "ward (RUN tmpfs)" "$wardbox --root $work/wstore --runroot $work/runtmpfs/wrun box -- true"

# (c) pull and unpack of 5 x 20 MB from a registry on 127.0.0.1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/registry"
cat >"$work/registry.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
EOF
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
reg_pid=$!
for i in $(seq 50); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
skopeo copy --quiet --dest-tls-verify=false "oci:$work/big:bench" "docker://127.0.0.1:$port/bench/big:1"
skopeo copy --quiet --dest-tls-verify=false "oci:$work/big2:bench" "docker://127.0.0.1:$port/bench/big2:1"
ref=127.0.0.1:$port/bench/big:1
cat >"$work/pull-ward.sh" <<EOF
#!/bin/sh
rm -rf $work/pw && exec $wardbox --root $work/pw/store --runroot $work/pw/run image pull -q $ref >/dev/null
EOF
cat >"$work/pull-podman.sh" <<EOF
#!/bin/sh
podman --root $work/pp/store --runroot $work/pp/run --storage-driver overlay --cgroup-manager cgroupfs --events-backend file system reset -f >/dev/null 2>&1
rm -rf $work/pp
exec podman --root $work/pp/store --runroot $work/pp/run --storage-driver overlay --cgroup-manager cgroupfs --events-backend file pull -q --tls-verify=false $ref >/dev/null
EOF
cat >"$work/pull-umoci.sh" <<EOF
#!/bin/sh
set -e
rm -rf $work/pu && mkdir -p $work/pu
skopeo copy --quiet --src-tls-verify=false docker://$ref oci:$work/pu/layout:1
exec umoci unpack --image $work/pu/layout:1 $work/pu/bundle >/dev/null
EOF
chmod +x "$work"/pull-*.sh
hf pull 1 "$PULL_RUNS" \
  podman "$work/pull-podman.sh" \
  "skopeo+umoci" "$work/pull-umoci.sh" \
  ward "$work/pull-ward.sh"

# (d) disk use: both images, sharing four layers
"$wardbox" --root "$work/du/w" --runroot "$work/du/wr" image pull -q "$ref" >/dev/null
one_w=$(du -sk "$work/du/w" | cut -f1)
"$wardbox" --root "$work/du/w" --runroot "$work/du/wr" image pull -q "127.0.0.1:$port/bench/big2:1" >/dev/null
two_w=$(du -sk "$work/du/w" | cut -f1)
pd() { podman --root "$work/du/p" --runroot "$work/du/pr" --storage-driver overlay --cgroup-manager cgroupfs --events-backend file "$@"; }
pd pull -q --tls-verify=false "$ref" >/dev/null
one_p=$(du -sk "$work/du/p" | cut -f1)
pd pull -q --tls-verify=false "127.0.0.1:$port/bench/big2:1" >/dev/null
two_p=$(du -sk "$work/du/p" | cut -f1)
pd system reset -f >/dev/null 2>&1 || true
echo "du ward $one_w $two_w" >"$work/du.txt"
echo "du podman $one_p $two_p" >>"$work/du.txt"
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$work/machine"

python3 - "$work" "$out" <<'PY'
import glob, json, statistics, sys
w, out = sys.argv[1], sys.argv[2]
machine = dict(l.strip().split("=", 1) for l in open(f"{w}/machine"))
scen = {"start": ("start of a cached busybox image, --net none", "podman"),
        "hostview": ("host view, /bin/true", "bwrap"),
        "pull": ("pull + unpack, 5 layers, 100 MB", "podman")}
rows, data = [], {}
for key, (title, base) in scen.items():
    times = {}
    for f in sorted(glob.glob(f"{w}/hf-{key}-*.json")):
        for r in json.load(open(f))["results"]:
            times.setdefault(r["command"], []).extend(r["times"])
    if not times:
        continue
    bmin, bmed = min(times[base]), statistics.median(times[base])
    for name, t in times.items():
        mn, md = min(t), statistics.median(t)
        rows.append(f"| {title} | {name} | {mn*1000:.1f} ms | {md*1000:.1f} ms | {md/bmed:.2f}x | {mn/bmin:.2f}x |")
        data.setdefault(key, {})[name] = {"min": mn, "median": md, "runs": len(t)}
du = {l.split()[1]: (int(l.split()[2]), int(l.split()[3])) for l in open(f"{w}/du.txt")}
text = [f"Machine: {machine['cores']} cores, kernel {machine['kernel']}; load average {machine['load_before']} before, {machine['load_after']} after. {machine['versions']}.", "",
        "| scenario | tool | min | median | median / base | min / base |", "| --- | --- | ---: | ---: | ---: | ---: |"] + rows + ["",
        "Disk use of the store (du -sk) after pulling the 5-layer image, then a second one sharing four of its layers:", "",
        "| store | one image | both images |", "| --- | ---: | ---: |"] + \
       [f"| {k} | {v[0]/1024:.1f} MiB | {v[1]/1024:.1f} MiB |" for k, v in du.items()]
open(f"{out}/box.md", "w").write("\n".join(text) + "\n")
json.dump({"machine": machine, "times": data, "du_kib": du}, open(f"{out}/box.json", "w"), indent=2)
print("\n".join(text))
PY
