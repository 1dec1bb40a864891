#!/usr/bin/env bash
# Installs the Debian packages that building, demoing and testing ward need
# (only those missing, so a prepared machine pays nothing).
#
#   scripts/deps.sh [--no-start] PKG...
#
# --no-start: the packages' services are not started at install (a
# policy-rc.d that forbids it, for the install only, unless one is there):
# openssh-server for migrate.rs, whose sshds the tests start themselves,
# on addresses of their own, never on this machine's network.
set -euo pipefail
no_start=0
if [ "${1-}" = --no-start ]; then no_start=1; shift; fi
need=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  made_policy=0
  if [ "$no_start" = 1 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# ward scripts/deps.sh --no-start: removed after the install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  rc=0
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null || rc=$?
  [ "$made_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
  exit "$rc"
fi
