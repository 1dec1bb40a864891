#!/usr/bin/env bash
# Live migration between two test guests (tests/vm/run --pair: two TCG
# guests, each its own kernel, on one qemu Ethernet link): the plain recipe
# a runc user would write (runc checkpoint, the images over ssh with tar,
# the netns re-made there, runc restore) against `ward migrate` with each
# strategy, for an idle container and one with 256 MiB of memory of which
# 16 MiB/s are re-dirtied in a 64 MiB hot set. Every container serves TCP
# echo on 10.77.0.10:5000 and a peer on guest A's bridge talks to it the
# whole time: downtime is the longest gap the peer saw between two echoes
# (or, when the connection died, the whole freeze); total is the wall time
# of the move. All figures come from one run; TCG makes them slow, so
# compare them as ratios.
#
# Beside the plain recipe, the hand-made runc recipes a user who knows
# CRIU would write (pre-dump plus copy; the final dump to CRIU's page
# server on the destination over plain TCP; lazy pages), and the ssh
# ciphers' throughput on the link (the images' path).
#
# usage (as root): bench/migrate.sh          writes bench/results/migrate.md
#   STRATEGIES="stop-and-copy pre-copy pre-copy/disk post-copy"  WORKLOADS="idle mem256"
#   RECIPES="plain-runc plain-ward predump-runc pageserver-runc lazy-runc"  narrow it.
#   (pre-copy/disk: --no-page-stream, the images through disk then the channel.)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
STRATEGIES=${STRATEGIES:-"stop-and-copy pre-copy pre-copy/disk post-copy"}
WORKLOADS=${WORKLOADS:-"idle mem256"}
RECIPES=${RECIPES:-"plain-runc plain-ward predump-runc pageserver-runc lazy-runc"}

if [ "${WARD_VM_ROLE:-}" != a ]; then
  scripts/deps.sh runc criu gcc libc6-dev busybox-static python3 iptables
  scripts/deps.sh --no-start openssh-server
  echo "bench: building ward and ward-cluster (release)" >&2
  cargo build --release -q -p ward -p ward-cluster
  tests/vm/run --setup
  d=$(mktemp -d /tmp/ward-migbench.XXXXXX)
  trap 'rm -rf "$d"' EXIT
  # Keys, ssh and sshd configs, the hosts file: made here, seen by both
  # guests at the same path.
  ssh-keygen -q -t ed25519 -N '' -f "$d/hostkey"
  ssh-keygen -q -t ed25519 -N '' -f "$d/userkey"
  cp "$d/userkey.pub" "$d/authorized_keys"
  printf '10.77.0.1 %s\n10.77.0.2 %s\n' "$(cat "$d/hostkey.pub")" "$(cat "$d/hostkey.pub")" >"$d/known_hosts"
  printf 'Host *\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n' \
    "$d/userkey" "$d/known_hosts" >"$d/ssh_config"
  for g in a:10.77.0.1 b:10.77.0.2; do
    printf 'Port 22\nListenAddress %s\nHostKey %s\nAuthorizedKeysFile %s\nStrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nLogLevel ERROR\nPidFile /run/sshd-ward.pid\n' \
      "${g#*:}" "$d/hostkey" "$d/authorized_keys" >"$d/sshd_config_${g%%:*}"
  done
  bin=$(dirname "$(scripts/cargo-bin.sh release)")
  printf 'b ssh://root@10.77.0.2 ward=%s/ward root=/run/ward-b\n' "$bin" >"$d/hosts"
  # The bundle: busybox, the memory program, the echo server in the
  # netns /run/netns/wmc.
  mkdir -p "$d/bundle/rootfs/bin"
  cp /bin/busybox "$d/bundle/rootfs/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$d/bundle/rootfs/bin/$a"; done
  mkdir -p "$d/bundle/rootfs"/{proc,sys,dev,tmp,root,etc}
  gcc -static -O2 -o "$d/bundle/rootfs/bin/dirty" bench/migrate-dirty.c
  cp bench/migrate-peer.py "$d/peer.py"
bundle() { # workload -> $d/bundle-<w>/config.json (the rootfs is shared)
  local w=$1 b=$d/bundle-$1 cmd
  mkdir -p "$b"
  case $w in
    idle) cmd='exec nc -l -p 5000 -e /bin/cat' ;;
    mem256) cmd='/bin/dirty 256 64 16 & exec nc -l -p 5000 -e /bin/cat' ;;
  esac
  "$bin/ward" spec --bundle "$b"
  python3 - "$b/config.json" "$d/bundle/rootfs" "$cmd" <<'PY'
import json, sys
p, rootfs, cmd = sys.argv[1:]
c = json.load(open(p))
c["root"] = {"path": rootfs, "readonly": False}
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", cmd]
ns = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
ns.append({"type": "network", "path": "/run/netns/wmc"})
c["linux"]["namespaces"] = ns
c["hostname"] = "migbench"
json.dump(c, open(p, "w"))
PY
}

  for w in $WORKLOADS; do bundle "$w"; done
  cat >"$d/b.sh" <<EOF
set -e
modprobe virtio_net
hostname ward-vm-b
for i in \$(seq 100); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done
ip link add brmig0 type bridge; ip link set eth0 master brmig0; ip link set eth0 up
ip addr add 10.77.0.2/24 dev brmig0; ip link set brmig0 up
mkdir -p /run/sshd; /usr/sbin/sshd -f $d/sshd_config_b
echo B-READY
exec sleep 100000
EOF
  log=$(mktemp /tmp/ward-migbench-log.XXXXXX)
  trap 'rm -rf "$d" "$log"' EXIT
  tests/vm/run --timeout 5400 --mem 1536 --pair "bash $d/b.sh" \
    --env WARD_BENCH_DIR="$d" --env WARD_BENCH_BIN="$bin" \
    --env STRATEGIES="$STRATEGIES" --env WORKLOADS="$WORKLOADS" --env RECIPES="$RECIPES" -- bench/migrate.sh | tee "$log"
  mkdir -p bench/results
  sed -n '/^=== results$/,$p' "$log" | tail -n +2 >bench/results/migrate.md
  [ -s bench/results/migrate.md ] || { echo "bench: no results came back" >&2; exit 1; }
  echo "bench: wrote bench/results/migrate.md" >&2
  exit 0
fi

# --- guest A ------------------------------------------------------------------
trap 'echo "bench: guest A: line $LINENO failed: $BASH_COMMAND" >&2' ERR
d=$WARD_BENCH_DIR bin=$WARD_BENCH_BIN
ward=$bin/ward
export WARD_HOSTS=$d/hosts WARD_SSH_CONFIG=$d/ssh_config
sshb() { ssh -F "$d/ssh_config" -o BatchMode=yes root@10.77.0.2 "$@"; }
modprobe virtio_net
for i in $(seq 100); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done
ip link add brmig0 type bridge; ip link set eth0 master brmig0; ip link set eth0 up
ip addr add 10.77.0.1/24 dev brmig0; ip link set brmig0 up
ip netns add wmpeer
ip -n wmpeer link add eth0 type veth peer name vpeer netns 1
ip link set vpeer master brmig0 up
ip -n wmpeer addr add 10.77.0.100/24 dev eth0; ip -n wmpeer link set eth0 up
for i in $(seq 240); do (exec 3<>/dev/tcp/10.77.0.2/22) 2>/dev/null && break; sleep 0.5; done
work=/tmp/migbench; mkdir -p "$work"

# The container's netns on the host named ($1: a or b), as an engine makes it.
netns_script='ip netns add wmc
ip -n wmc link add eth0 type veth peer name vctr0 netns 1
ip -n wmc link set eth0 address 02:77:00:00:00:10
ip -n wmc addr add 10.77.0.10/24 dev eth0; ip -n wmc link set eth0 up; ip -n wmc link set lo up'

listening() {
  for i in $(seq 600); do
    nsenter --net=/run/netns/wmc sh -c "cat /proc/net/tcp /proc/net/tcp6 | grep -qi ':1388 [0-9a-f]*:0000 0A'" && return 0
    sleep 0.2
  done
  echo "bench: the echo server never listened" >&2; return 1
}

# Guest B's sshd answers (it was seen not to, once, for 20 s after a move).
reach_b() {
  for i in $(seq 120); do (exec 3<>/dev/tcp/10.77.0.2/22) 2>/dev/null && return 0; sleep 0.5; done
  echo "bench: guest B's sshd does not answer" >&2
}

peer_start() {
  rm -f "$work/peer.json" "$work/peer.json.up" "$work/peer.stop"
  nsenter --net=/run/netns/wmpeer python3 "$d/peer.py" 10.77.0.10 5000 "$work/peer.stop" "$work/peer.json" &
  peer_pid=$!
  for i in $(seq 300); do [ -e "$work/peer.json.up" ] && break; sleep 0.1; done
  sleep 2
}

peer_stop() {
  sleep 3
  touch "$work/peer.stop"
  wait "$peer_pid" || true
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["max_gap_ms"], "ok" if not r["errors"] and r["got"]==r["sent"] else "broken:"+";".join(r["errors"]))' "$work/peer.json"
}

now() { date +%s.%N; }
results=()

# Waits until the container's memory is all touched (the memory program
# prints nothing: its RSS is the sign).
settle() {
  local w=$1
  [ "$w" = mem256 ] || { sleep 2; return; }
  for i in $(seq 600); do
    local rss
    rss=$(ps -o rss= -C dirty 2>/dev/null | head -n1 | tr -d ' ')
    [ -n "$rss" ] && [ "$rss" -gt 250000 ] && break
    sleep 0.5
  done
  sleep 3
}

# The plain recipe for workload $1 with runtime $2 (runc or ward): one row.
plain() {
  local w=$1 rt=$2 rtbin id img t0 t1 total gap state why
  rtbin=$(command -v runc); [ "$rt" = runc ] || rtbin=$ward
  sh -c "$netns_script"; ip link set vctr0 master brmig0 up
  id=plain-$rt-$w
  # stdio on /dev/null: runc can't dump a file outside the container's
  # mounts (CRIU: "Can't lookup mount").
  "$rtbin" --root /run/$rt-a run -d --bundle "$d/bundle-$w" "$id" </dev/null >/dev/null 2>&1 ||
    { echo "bench: $rt run -d $id failed" >&2; exit 1; }
  listening; settle "$w"; reach_b; peer_start
  img=/tmp/migbench/img-$id; rm -rf "$img"
  t0=$(now)
  if "$rtbin" --root /run/$rt-a checkpoint --tcp-established --image-path "$img" "$id" >"$work/rt.err" 2>&1; then
    ip link set vctr0 down
    sshb "mkdir -p $img" && tar -C "$img" -cf - . | sshb "tar -C $img -xf -"
    sshb "$netns_script; $rtbin --root /run/$rt-b restore -d --tcp-established --image-path $img --bundle $d/bundle-$w $id </dev/null >/dev/null 2>&1; ip link set vctr0 master brmig0 up"
    t1=$(now)
    peer_stop >"$work/peer.res"; read -r gap state <"$work/peer.res"
    total=$(python3 -c "print(round(($t1-$t0)*1000))")
    [ "$state" = ok ] || gap="$total (connection lost: $state)"
    results+=("| $w | plain recipe with $rt: checkpoint --tcp-established, tar over ssh, netns re-made, restore | $gap | $total | $(du -sb "$img" | cut -f1) |")
    sshb "$rtbin --root /run/$rt-b delete --force $id; ip netns del wmc; rm -rf $img" || true
  else
    why=$(grep -m1 'Error' "$img/dump.log" 2>/dev/null || grep -m1 -i 'error' "$work/rt.err" || echo '?')
    peer_stop >/dev/null || true
    results+=("| $w | plain recipe with $rt: checkpoint --tcp-established **failed**: ${why//|/ } | - | - | - |")
    echo "bench: $rt checkpoint failed: $(cat "$work/rt.err"); dump.log: $(grep Error "$img/dump.log" 2>/dev/null | head -3)" >&2
  fi
  "$rtbin" --root /run/$rt-a delete --force "$id" 2>/dev/null || true
  ip netns del wmc 2>/dev/null || true; ip link del vctr0 2>/dev/null || true
  rm -rf "$img"
}

# The hand-made runc recipes ($1: predump, pageserver or lazy) for
# workload $2: one row each.
hand() {
  local r=$1 w=$2 runc id img t0 t1 total gap state ok=1 how
  runc=$(command -v runc)
  sh -c "$netns_script"; ip link set vctr0 master brmig0 up
  id=hand-$r-$w
  "$runc" --root /run/runc-a run -d --bundle "$d/bundle-$w" "$id" </dev/null >/dev/null 2>&1 ||
    { echo "bench: runc run -d $id failed" >&2; exit 1; }
  listening; settle "$w"; reach_b; peer_start
  img=/tmp/migbench/img-$id; rm -rf "$img"; mkdir -p "$img"
  sshb "mkdir -p $img"
  case $r in
    predump)
      how="runc checkpoint --pre-dump, tar over ssh while it runs; final checkpoint --parent-path, tar, restore"
      t0=$(now)
      if "$runc" --root /run/runc-a checkpoint --pre-dump --image-path "$img/pre" "$id" >"$work/rt.err" 2>&1 &&
        tar -C "$img" -cf - pre | sshb "tar -C $img -xf -" &&
        "$runc" --root /run/runc-a checkpoint --tcp-established --parent-path ../pre --image-path "$img/final" "$id" >"$work/rt.err" 2>&1; then
        ip link set vctr0 down
        tar -C "$img" -cf - final | sshb "tar -C $img -xf -" &&
          sshb "$netns_script; $runc --root /run/runc-b restore -d --tcp-established --image-path $img/final --bundle $d/bundle-$w $id </dev/null >/dev/null 2>&1; ip link set vctr0 master brmig0 up" || ok=0
      else ok=0; fi
      t1=$(now) ;;
    pageserver)
      how="criu page-server on B (plain TCP on the link), runc checkpoint --page-server, the rest by tar over ssh, restore"
      sshb "setsid criu page-server --images-dir $img --address 10.77.0.2 --port 27010 </dev/null >/dev/null 2>&1 &"
      sleep 1
      t0=$(now)
      if "$runc" --root /run/runc-a checkpoint --tcp-established --page-server 10.77.0.2:27010 --image-path "$img" "$id" >"$work/rt.err" 2>&1; then
        ip link set vctr0 down
        tar -C "$img" -cf - . | sshb "tar -C $img -xf -" &&
          sshb "$netns_script; $runc --root /run/runc-b restore -d --tcp-established --image-path $img --bundle $d/bundle-$w $id </dev/null >/dev/null 2>&1; ip link set vctr0 master brmig0 up" || ok=0
      else ok=0; fi
      t1=$(now) ;;
    lazy)
      how="runc checkpoint --lazy-pages (page server on A), tar over ssh, criu lazy-pages on B, restore --lazy-pages; total: until every page moved"
      rm -f "$work/lazy.st"
      t0=$(now)
      "$runc" --root /run/runc-a checkpoint --tcp-established --lazy-pages --page-server 10.77.0.1:27011 --status-fd 3 \
        --image-path "$img" "$id" >"$work/rt.err" 2>&1 3>"$work/lazy.st" &
      local dump=$!
      for i in $(seq 6000); do [ -s "$work/lazy.st" ] && break; kill -0 "$dump" 2>/dev/null || break; sleep 0.05; done
      if [ -s "$work/lazy.st" ]; then
        ip link set vctr0 down
        tar -C "$img" -cf - . | sshb "tar -C $img -xf -" &&
          sshb "setsid criu lazy-pages --page-server --address 10.77.0.1 --port 27011 --images-dir $img </dev/null >/dev/null 2>&1 & sleep 0.5; $netns_script; $runc --root /run/runc-b restore -d --lazy-pages --tcp-established --image-path $img --bundle $d/bundle-$w $id </dev/null >/dev/null 2>&1; ip link set vctr0 master brmig0 up" || ok=0
        wait "$dump" || ok=0
      else wait "$dump" || true; ok=0; fi
      t1=$(now) ;;
  esac
  total=$(python3 -c "print(round(($t1-$t0)*1000))")
  if [ $ok = 1 ] && sshb "$runc --root /run/runc-b state $id" >/dev/null 2>&1; then
    peer_stop >"$work/peer.res"; read -r gap state <"$work/peer.res"
    [ "$state" = ok ] || gap="$total (connection lost: $state)"
    results+=("| $w | hand recipe with runc: $how | $gap | $total | $(du -sb "$img" | cut -f1) (A's images) |")
  else
    peer_stop >/dev/null || true
    why=$(grep -h -m1 'Error' "$img"/*.log "$img"/*/*.log 2>/dev/null | head -n1 || true)
    [ -n "$why" ] || why=$(grep -m1 -i 'error' "$work/rt.err" || echo '?')
    results+=("| $w | hand recipe with runc ($r) **failed**: ${why//|/ } | - | - | - |")
    echo "bench: hand recipe $r failed: $(cat "$work/rt.err")" >&2
    "$runc" --root /run/runc-a resume "$id" 2>/dev/null || true
  fi
  sshb "$runc --root /run/runc-b delete --force $id 2>/dev/null; ip netns del wmc 2>/dev/null; pkill -x criu 2>/dev/null; rm -rf $img" || true
  "$runc" --root /run/runc-a delete --force "$id" 2>/dev/null || true
  ip netns del wmc 2>/dev/null || true; ip link del vctr0 2>/dev/null || true
  rm -rf "$img"
}

# The ssh ciphers on the link (A to B, 32 MiB, interleaved, 3 runs each;
# ssh's time includes its handshake), and plain TCP for scale: the
# images' path.
cipher_rows=()
head -c $((32 << 20)) /dev/urandom >"$work/blob"
declare -A tput
for rep in 1 2 3; do
  for c in chacha20-poly1305@openssh.com aes128-gcm@openssh.com aes256-gcm@openssh.com tcp; do
    if [ $c = tcp ]; then
      sshb "timeout 120 python3 -c 'import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind((\"10.77.0.2\",27020));s.listen(1);c,_=s.accept()
while c.recv(1<<20): pass' </dev/null >/dev/null 2>&1 &"
      # From the connection made to the sink's close (the sink may take
      # a while to start under TCG).
      tput[$c]+="$(python3 -c '
import socket, sys, time
for i in range(300):
    try:
        c = socket.create_connection(("10.77.0.2", 27020)); break
    except OSError:
        time.sleep(0.1)
data = open(sys.argv[1], "rb").read()
t = time.monotonic(); c.sendall(data); c.shutdown(socket.SHUT_WR); c.recv(1)
print(round(32 / (time.monotonic() - t), 2))' "$work/blob" || echo 0) "
    else
      t0=$(now)
      ssh -F "$d/ssh_config" -o BatchMode=yes -o Compression=no -c "$c" root@10.77.0.2 'cat >/dev/null' <"$work/blob" || true
      t1=$(now)
      tput[$c]+="$(python3 -c "print(round(32/($t1-$t0),2))") "
    fi
  done
done
for c in chacha20-poly1305@openssh.com aes128-gcm@openssh.com aes256-gcm@openssh.com tcp; do
  cipher_rows+=("| ${c/tcp/plain TCP (no ssh)} | $(python3 -c 'import sys,statistics as s; v=[float(x) for x in sys.argv[1:]]; print(f"{s.median(v):.2f} | {min(v):.2f}-{max(v):.2f}")' ${tput[$c]}) |")
done

for w in $WORKLOADS; do
  # --- the plain recipe: checkpoint, tar over ssh, restore -------------------
  # As the issue's recipe has it: the netns by path, re-made there before
  # the restore, --tcp-established. With runc, and (the same recipe, by
  # hand) with ward's own runtime verbs.
  for r in $RECIPES; do
    case $r in
      plain-runc) plain "$w" runc ;;
      plain-ward) plain "$w" ward ;;
      predump-runc) hand predump "$w" ;;
      pageserver-runc) hand pageserver "$w" ;;
      lazy-runc) hand lazy "$w" ;;
    esac
  done

  # --- ward migrate ----------------------------------------------------------
  for sv in $STRATEGIES; do
    s=${sv%/disk} extra=()
    [ "$s" = "$sv" ] || extra=(--no-page-stream)
    sh -c "$netns_script"; ip link set vctr0 master brmig0 up
    id=ward-$w-${sv//\//-}
    "$ward" --root /run/ward-a run -d --bundle "$d/bundle-$w" "$id" </dev/null >/dev/null 2>&1 ||
      { echo "bench: ward run -d $id failed" >&2; exit 1; }
    listening; settle "$w"; reach_b; peer_start
    if ! rec=$("$ward" migrate --root /run/ward-a --strategy "$s" "${extra[@]}" --format json "$id" b 2>"$work/migrate.err"); then
      peer_stop >/dev/null || true
      results+=("| $w | ward migrate --strategy $s ${extra[*]} **failed**: $(grep '^ward: ' "$work/migrate.err" | tail -n1) | - | - | - |")
      "$ward" --root /run/ward-a delete --force "$id" 2>/dev/null || true
      ip netns del wmc 2>/dev/null || true; ip link del vctr0 2>/dev/null || true
      continue
    fi
    cat "$work/migrate.err" >&2
    peer_stop >"$work/peer.res"; read -r gap state <"$work/peer.res"
    total=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["total_ms"])' "$rec")
    down=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["downtime_ms"])' "$rec")
    sent=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["bytes_sent"], len(r["pre_copy_rounds"]))' "$rec")
    [ "$state" = ok ] || gap="$gap (connection broken: $state)"
    results+=("| $w | ward migrate --strategy $s ${extra[*]} (its own downtime: $down ms; rounds: ${sent#* }) | $gap | $total | ${sent% *} |")
    sshb "$ward --root /run/ward-b delete --force $id; ip netns del wmc" || true
  done
done

echo "=== results"
echo "Two TCG guests (2 vCPU, 1536 MiB each; Debian 6.1, criu $(criu --version | sed -n 's/^Version: //p'), runc $(runc --version | sed -n 's/^runc version //p')), one qemu link; $(date -u +%F)."
echo
echo "| workload | how | downtime: longest gap the TCP peer saw (ms) | total (ms) | bytes moved |"
echo "| --- | --- | --- | --- | --- |"
printf '%s\n' "${results[@]}"
echo
echo "ssh between the guests, 32 MiB A to B (\`ssh -c CIPHER B 'cat >/dev/null'\`), 3 runs each, interleaved; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg):"
echo
echo "| cipher | median MiB/s | min-max |"
echo "| --- | --- | --- |"
printf '%s\n' "${cipher_rows[@]}"
