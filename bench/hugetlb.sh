# Sourced by the benchmarks that run crun (run.sh, versus.sh, box.sh,
# pods.sh). crun 1.8 refuses to start on a hybrid host whose hugetlb
# controller is on the v2 side; a v1 hugetlb hierarchy makes it happy, and
# every runtime then sees the same hierarchies, so the comparison stays
# fair. hugetlb_for_crun mounts one where it is missing; hugetlb_release
# (from the caller's cleanup) unmounts what it mounted.

mounted_hugetlb= made_hugetlb_dir=

hugetlb_for_crun() {
  if [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
    echo "bench: mounting a v1 hugetlb hierarchy at /sys/fs/cgroup/hugetlb for crun (unmounted at the end)" >&2
    [ -d /sys/fs/cgroup/hugetlb ] || { mkdir /sys/fs/cgroup/hugetlb; made_hugetlb_dir=1; }
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
    mounted_hugetlb=1
  fi
}

hugetlb_release() {
  [ -n "$mounted_hugetlb" ] || return 0
  # Unmounted with cgroups still in it (made by whatever else ran on the
  # machine meanwhile), a v1 hierarchy lives on, mounted nowhere, and
  # containerd then can't load any task's cgroups (no stats, no OOM events;
  # docs/engines.md). Then it stays mounted, and says so.
  if [ -n "$(find /sys/fs/cgroup/hugetlb -mindepth 1 -type d -print -quit)" ]; then
    echo "bench: left the hugetlb hierarchy mounted at /sys/fs/cgroup/hugetlb: other cgroups are in it now" >&2
  else
    umount /sys/fs/cgroup/hugetlb && echo "bench: unmounted the hugetlb hierarchy it mounted" >&2
    [ -z "$made_hugetlb_dir" ] || rmdir /sys/fs/cgroup/hugetlb 2>/dev/null || true
  fi
  mounted_hugetlb=
}
