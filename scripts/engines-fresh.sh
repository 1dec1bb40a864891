#!/usr/bin/env bash
# The engine tests (crates/ward/tests/engines.rs) as on a machine where no
# container engine has run yet: before each run, wipes the host-wide state
# podman, containerd and dockerd keep outside the tests' own directories,
# runs `cargo test -p ward --test engines`, then checks that the run left
# none of it behind.
#
#   scripts/engines-fresh.sh [--runs N] [-- TEST ARGS...]
#   scripts/engines-fresh.sh --wipe-only    wipe, run nothing
#
# What "never ran" means, per engine (wiped only while no process of that
# engine and no other run of the engine tests is running: wiping state under
# a live engine would break it; such an engine is named and its state kept):
#   podman      /dev/shm/libpod_lock (its shared lock segment), /run/libpod,
#               /run/containers (netavark's IPAM database; root podman's default
#               runroot, per-boot state as after a reboot), the
#               iptables chains NETAVARK* and the rules that jump to them,
#               the podman0 bridge
#   containerd  /run/containerd (shim sockets in /run/containerd/s),
#               /opt/containerd (the opt plugin's empty bin and lib)
#   dockerd     /run/docker, /etc/docker/key.json
# Exit status: 0 when every run passed and left nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "engines-fresh: run as root: it wipes engine state and the tests start daemons" >&2; exit 1; }
runs=1 wipe_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --wipe-only) wipe_only=1; shift ;;
    --runs) [[ "${2-}" =~ ^[1-9][0-9]*$ ]] || { echo "engines-fresh: --runs wants a count, not '${2-}'" >&2; exit 1; }
      runs=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "engines-fresh: unknown argument '$1' (see the head of $0)" >&2; exit 1 ;;
  esac
done

# Live processes (not zombies) whose command name is one of the words of
# $1 (a prefix when a word ends in *), as "pid name" words.
running() {
  ps -e -o pid=,stat=,comm= | awk -v names="$1" '
    BEGIN { n = split(names, want, " ") }
    $2 !~ /^Z/ {
      for (i = 1; i <= n; i++) {
        w = want[i]
        if (w ~ /\*$/ ? index($3, substr(w, 1, length(w) - 1)) == 1 : $3 == w) { print $1, $3; next }
      }
    }'
}

# iptables chains (filter and nat) whose names match $1, and the rules that
# jump to them.
drop_chains() {
  local pat=$1 table chain rule
  for table in filter nat; do
    while read -r rule; do
      # shellcheck disable=SC2086  # a rule is words, as iptables-save prints them
      eval "iptables -w -t $table ${rule/#-A /-D }"
    done < <(iptables-save -t "$table" | grep -E "^-A .* -j $pat( |\$)" | grep -vE "^-A $pat ")
    for chain in $(iptables-save -t "$table" | sed -nE "s/^:($pat) .*/\\1/p"); do
      iptables -w -t "$table" -F "$chain"
    done
    for chain in $(iptables-save -t "$table" | sed -nE "s/^:($pat) .*/\\1/p"); do
      iptables -w -t "$table" -X "$chain"
    done
  done
}

# What each engine left: printed, one per line; nothing when clean.
leftovers() {
  case "$1" in
    podman)
      ls -d /dev/shm/libpod_lock /run/libpod /run/containers 2>/dev/null || true
      iptables-save -t filter | sed -nE 's/^:(NETAVARK[^ ]*) .*/iptables filter chain \1/p'
      iptables-save -t nat | sed -nE 's/^:(NETAVARK[^ ]*) .*/iptables nat chain \1/p'
      [ ! -e /sys/class/net/podman0 ] || echo "link podman0" ;;
    containerd) ls -d /run/containerd /opt/containerd 2>/dev/null || true ;;
    docker) ls -d /run/docker /etc/docker/key.json 2>/dev/null || true ;;
  esac
}

wipe() {
  local busy others
  wiped=()
  # Another run of the engine tests (the binary is engines-<hash>) keeps
  # state between its engine commands: wiping then would break it.
  others="engines-*"
  busy=$(running "$others podman conmon netavark aardvark-dns")
  if [ -n "$busy" ]; then
    echo "engines-fresh: podman's state kept: podman is in use:" $busy >&2
  else
    rm -rf /dev/shm/libpod_lock /run/libpod /run/containers
    drop_chains 'NETAVARK[^ ]*'
    [ ! -e /sys/class/net/podman0 ] || ip link del podman0
    wiped+=(podman)
  fi
  busy=$(running "$others containerd containerd-shim*")
  if [ -n "$busy" ]; then
    echo "engines-fresh: containerd's state kept: containerd is in use:" $busy >&2
  else
    rm -rf /run/containerd
    # The opt plugin's directories, if that is all there is.
    [ ! -d /opt/containerd ] || find /opt/containerd -depth -type d -empty -delete
    wiped+=(containerd)
  fi
  busy=$(running "$others dockerd docker-proxy")
  if [ -n "$busy" ]; then
    echo "engines-fresh: dockerd's state kept: dockerd is in use:" $busy >&2
  else
    rm -rf /run/docker /etc/docker/key.json
    wiped+=(docker)
  fi
}

if [ "$wipe_only" = 1 ]; then
  wipe
  echo "engines-fresh: wiped: ${wiped[*]:-nothing}" >&2
  exit 0
fi
cargo test -p ward --test engines --no-run -q
failed=0
for i in $(seq "$runs"); do
  wipe
  echo "engines-fresh: run $i of $runs; fresh: ${wiped[*]:-nothing}" >&2
  start=$(date +%s)
  rc=0
  cargo test -q -p ward --test engines -- "$@" || rc=$?
  left=()
  for e in "${wiped[@]}"; do
    while read -r l; do left+=("$l"); done < <(leftovers "$e")
  done
  # (On a shared machine, another user of the engines may have made these.)
  echo "engines-fresh: run $i of $runs: exit $rc after $(($(date +%s) - start)) s; left behind: ${left[*]:-nothing}" >&2
  [ "$rc" = 0 ] && [ ${#left[@]} = 0 ] || failed=$((failed + 1))
done
echo "engines-fresh: $((runs - failed)) of $runs runs passed from a fresh state" >&2
[ "$failed" = 0 ]
