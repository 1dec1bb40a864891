//! cgroup v1: the files to write for an OCI `linux.resources`, in an order
//! the kernel accepts. Devices are not here (see `devices.rs`), nor is
//! `unified`, which needs cgroup v2 (see [`unified_supported`]).
//!
//! Each [`Write`]'s `controller` is the v1 hierarchy the file lives in:
//! memory, cpu, cpuset, pids, blkio, hugetlb, net_cls, net_prio, rdma.
//!
//! Two lists are offered:
//! - [`resource_writes`] for a cgroup just made (every file at its default);
//! - [`resource_writes_update`] for a cgroup that already has limits, where
//!   some pairs of files must be written in an order that depends on the
//!   old values (memory vs memory+swap, CFS period vs quota vs burst).
//!
//! A write whose file is missing may be skippable or have a replacement:
//! see [`super::convert::if_missing`].

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxRdma,
    LinuxResources, LinuxThrottleDevice,
};

use super::convert::{self, bad, nz};
use super::{CgroupError, Write};

/// Whether v1 can carry `linux.resources.unified`: it can't. A caller on a
/// v1-only host with `unified` set refuses it with
/// `CgroupError::invalid("linux.resources.unified", "needs cgroup v2")`.
pub fn unified_supported() -> bool {
    false
}

/// The writes for a freshly made cgroup, whose files all hold the kernel's
/// defaults (no memory or memory+swap limit, quota -1, burst 0, ...):
///
/// memory: limit_in_bytes, memsw.limit_in_bytes, soft_limit_in_bytes,
///   swappiness, oom_control, kmem.tcp.limit_in_bytes;
/// cpu: rt_period_us, rt_runtime_us, shares/idle, cfs_period_us,
///   cfs_quota_us, cfs_burst_us;
/// cpuset: cpus, mems; pids: max; blkio: weight, leaf_weight, weight_device,
///   leaf_weight_device, throttle.*; hugetlb: <size>.limit_in_bytes and
///   <size>.rsvd.limit_in_bytes; net_cls.classid; net_prio.ifpriomap; rdma.max.
///
/// Don't use it on a cgroup that has limits already: lowering or raising
/// memory next to memory+swap, or the CFS period next to the quota, can be
/// refused in this order. Use [`resource_writes_update`].
pub fn resource_writes(r: &LinuxResources) -> Result<Vec<Write>, CgroupError> {
    writes(r, Order::Fresh)
}

/// The writes for a cgroup that already has limits (`ward update`).
/// `old_limit` is the cgroup's memory.limit_in_bytes as read now (negative
/// or absurdly large = unlimited), or None when it is unknown.
///
/// It differs from [`resource_writes`] only in orderings that depend on
/// the cgroup's old values:
/// - memory and memory+swap (the kernel keeps memsw >= limit at every
///   step): with `old_limit`, memsw goes first when it is unlimited or
///   above the old limit, else the limit goes first (runc's rule). Without
///   it, memsw is opened to -1 first, then the limit, then memsw is set:
///   correct from any old state, at the price of an instant of unlimited
///   swap;
/// - CFS: when the quota is set with the period, the quota is opened to -1
///   first (so no intermediate quota/period ratio can overrun the parent's),
///   and when the burst is set with a quota, the burst is zeroed first (the
///   kernel refuses a quota below the current burst); then period, quota,
///   burst. A moment of unthrottled CPU is the price.
///
/// Real-time (rt_period_us, rt_runtime_us) is still written period first:
/// lowering the period below the old runtime is refused by the kernel,
/// and zeroing the runtime is refused while real-time tasks run. A caller
/// updating both that gets EINVAL on the period may write the runtime and
/// then the period again.
pub fn resource_writes_update(
    old_limit: Option<i64>,
    r: &LinuxResources,
) -> Result<Vec<Write>, CgroupError> {
    writes(r, Order::Update { old_limit })
}

#[derive(Debug, Clone, Copy)]
enum Order {
    Fresh,
    Update { old_limit: Option<i64> },
}

fn w(controller: &str, file: &str, value: impl Into<String>) -> Write {
    Write::new(controller, file, value)
}

fn writes(r: &LinuxResources, order: Order) -> Result<Vec<Write>, CgroupError> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        memory(m, order, &mut out)?;
    }
    if let Some(c) = r.cpu() {
        cpu(c, order, &mut out)?;
        cpuset(c, &mut out)?;
    }
    if let Some(p) = r.pids() {
        let v = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".to_string()
        };
        out.push(w("pids", "pids.max", v));
    }
    if let Some(b) = r.block_io() {
        blkio(b, &mut out)?;
    }
    if let Some(h) = r.hugepage_limits() {
        hugetlb(h, &mut out)?;
    }
    if let Some(n) = r.network() {
        network(n, &mut out)?;
    }
    if let Some(rdma) = r.rdma() {
        rdma_writes(rdma, &mut out)?;
    }
    Ok(out)
}

fn memory(m: &LinuxMemory, order: Order, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    let limit = nz(m.limit());
    let swap = nz(m.swap());
    convert::check_swap_v1(limit, swap)?;
    // An unlimited limit with swap unset takes memory+swap off too (runc).
    let swap = match (limit, swap) {
        (Some(l), None) if l < 0 => Some(-1),
        (_, s) => s,
    };
    let limit_w = limit.map(|l| w("memory", "memory.limit_in_bytes", convert::limit_v1(l)));
    let memsw = |v: i64| {
        w(
            "memory",
            "memory.memsw.limit_in_bytes",
            convert::limit_v1(v),
        )
    };
    match (limit_w, swap) {
        (Some(lw), Some(s)) => {
            let swap_first = match order {
                // Both files start unlimited: lower the limit, then memsw.
                Order::Fresh => s < 0,
                Order::Update {
                    old_limit: Some(old),
                } => s < 0 || (old >= 0 && old < s),
                Order::Update { old_limit: None } => s < 0,
            };
            if !swap_first && matches!(order, Order::Update { old_limit: None }) {
                // Unknown old limit: memsw unlimited fits any limit.
                out.push(memsw(-1));
            }
            if swap_first {
                out.extend([memsw(s), lw]);
            } else {
                out.extend([lw, memsw(s)]);
            }
        }
        (Some(lw), None) => out.push(lw),
        // Only an unlimited swap gets past check_swap without a limit.
        (None, Some(s)) => out.push(memsw(s)),
        (None, None) => {}
    }
    if let Some(r) = nz(m.reservation()) {
        out.push(w(
            "memory",
            "memory.soft_limit_in_bytes",
            convert::limit_v1(r),
        ));
    }
    // u64::MAX is how a -1 ("kernel default") arrives through an unsigned
    // field: leave the file alone, as runc does.
    if let Some(s) = m.swappiness().filter(|s| *s != u64::MAX) {
        if s > 100 {
            return Err(bad(
                "linux.resources.memory.swappiness",
                s,
                "must be between 0 and 100",
            ));
        }
        out.push(w("memory", "memory.swappiness", s.to_string()));
    }
    if let Some(d) = m.disable_oom_killer() {
        out.push(w("memory", "memory.oom_control", if d { "1" } else { "0" }));
    }
    if let Some(t) = nz(m.kernel_tcp()) {
        out.push(w(
            "memory",
            "memory.kmem.tcp.limit_in_bytes",
            convert::limit_v1(t),
        ));
    }
    // `kernel` (kmem.limit_in_bytes) is deprecated since Linux 5.4 and
    // refused by recent kernels: ignored, as runc does. `useHierarchy` is always on in
    // current kernels (writing 0 fails): ignored too.
    Ok(())
}

fn cpu(c: &LinuxCpu, order: Order, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    // Real-time first: a process already SCHED_RR can't join a cgroup
    // without real-time runtime. A new cgroup's runtime is 0, which fits
    // any period: period, then runtime.
    let rt_period = nz(c.realtime_period());
    let rt_runtime = nz(c.realtime_runtime());
    if let Some(rt) = rt_runtime {
        if rt < -1 {
            return Err(bad(
                "linux.resources.cpu.realtimeRuntime",
                rt,
                "must be -1 (no limit) or a number of microseconds",
            ));
        }
        if let Some(p) = rt_period.filter(|p| rt > 0 && rt as u64 > *p) {
            return Err(bad(
                "linux.resources.cpu.realtimeRuntime",
                rt,
                format!("must not exceed linux.resources.cpu.realtimePeriod {p}"),
            ));
        }
    }
    if let Some(p) = rt_period {
        out.push(w("cpu", "cpu.rt_period_us", p.to_string()));
    }
    if let Some(rt) = rt_runtime {
        out.push(w("cpu", "cpu.rt_runtime_us", rt.to_string()));
    }

    // The kernel refuses cpu.shares while cpu.idle is 1 (and restores the
    // shares when idle goes back to 0): set idle 0 before the shares, idle
    // 1 after.
    let shares = nz(c.shares());
    if let Some(s) = shares {
        convert::check_cpu_shares(s)?;
    }
    if let Some(i) = c.idle() {
        convert::check_cpu_idle(i)?;
    }
    if c.idle() == Some(0) {
        out.push(w("cpu", "cpu.idle", "0"));
    }
    if let Some(s) = shares {
        out.push(w("cpu", "cpu.shares", s.to_string()));
    }
    if c.idle() == Some(1) {
        out.push(w("cpu", "cpu.idle", "1"));
    }

    let period = nz(c.period());
    let quota = nz(c.quota());
    let burst = c.burst();
    if let Some(p) = period {
        convert::check_cfs_period("linux.resources.cpu.period", p)?;
    }
    if let Some(q) = quota {
        convert::check_cfs_quota("linux.resources.cpu.quota", q)?;
    }
    if let Some(b) = burst {
        convert::check_cfs_burst("linux.resources.cpu.burst", b, quota)?;
    }
    let period_w = period.map(|p| w("cpu", "cpu.cfs_period_us", p.to_string()));
    let quota_w = quota.map(|q| w("cpu", "cpu.cfs_quota_us", convert::limit_v1(q)));
    let burst_w = burst.map(|b| w("cpu", "cpu.cfs_burst_us", b.to_string()));
    // Update: zero the burst before a quota comes that could be below the
    // old burst, and open the quota before the period changes.
    let update = matches!(order, Order::Update { .. });
    let quota_opened = update && period.is_some() && quota.is_some();
    if update && burst.is_some() && quota.is_some_and(|q| q > 0) {
        out.push(w("cpu", "cpu.cfs_burst_us", "0"));
    }
    if quota_opened {
        out.push(w("cpu", "cpu.cfs_quota_us", "-1"));
    }
    // Fresh: quota is -1, so any period goes, then the quota is checked
    // against the new period, then the burst against the new quota.
    out.extend(period_w);
    if !(quota_opened && quota.is_some_and(|q| q < 0)) {
        out.extend(quota_w);
    }
    out.extend(burst_w);
    Ok(())
}

fn cpuset(c: &LinuxCpu, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    // Empty strings are unset (runc). A new v1 cpuset cgroup starts with
    // empty cpus and mems; the caller copies the parent's in first.
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        convert::check_cpu_list("linux.resources.cpu.cpus", cpus)?;
        out.push(w("cpuset", "cpuset.cpus", cpus.trim()));
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        convert::check_cpu_list("linux.resources.cpu.mems", mems)?;
        out.push(w("cpuset", "cpuset.mems", mems.trim()));
    }
    Ok(())
}

fn blkio(b: &LinuxBlockIo, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    if let Some(wt) = nz(b.weight()) {
        convert::check_blkio_weight("linux.resources.blockIO.weight", wt)?;
        out.push(w("blkio", "blkio.weight", wt.to_string()));
    }
    if let Some(lw) = nz(b.leaf_weight()) {
        convert::check_blkio_weight("linux.resources.blockIO.leafWeight", lw)?;
        out.push(w("blkio", "blkio.leaf_weight", lw.to_string()));
    }
    for d in b.weight_device().iter().flatten() {
        let field = "linux.resources.blockIO.weightDevice";
        let dev = convert::device_numbers(field, d.major(), d.minor())?;
        if let Some(wt) = nz(d.weight()) {
            convert::check_blkio_weight(&format!("{field}[{dev}].weight"), wt)?;
            out.push(w("blkio", "blkio.weight_device", format!("{dev} {wt}")));
        }
        if let Some(lw) = nz(d.leaf_weight()) {
            convert::check_blkio_weight(&format!("{field}[{dev}].leafWeight"), lw)?;
            out.push(w(
                "blkio",
                "blkio.leaf_weight_device",
                format!("{dev} {lw}"),
            ));
        }
    }
    let throttles: [(&str, &Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
        (
            "throttleReadBpsDevice",
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
        ),
        (
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
        ),
        (
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
        ),
        (
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
        ),
    ];
    for (name, list, file) in throttles {
        for t in list.iter().flatten() {
            let field = format!("linux.resources.blockIO.{name}");
            let dev = convert::device_numbers(&field, t.major(), t.minor())?;
            // A rate of 0 takes the device's limit away.
            out.push(w("blkio", file, format!("{dev} {}", t.rate())));
        }
    }
    Ok(())
}

fn hugetlb(limits: &[LinuxHugepageLimit], out: &mut Vec<Write>) -> Result<(), CgroupError> {
    for h in limits {
        let size = h.page_size();
        convert::hugepage_size("linux.resources.hugepageLimits.pageSize", size)?;
        let v = convert::limit_v1(h.limit());
        out.push(w(
            "hugetlb",
            &format!("hugetlb.{size}.limit_in_bytes"),
            v.clone(),
        ));
        // Reservations too (Linux 5.7+; skippable when missing).
        out.push(w(
            "hugetlb",
            &format!("hugetlb.{size}.rsvd.limit_in_bytes"),
            v,
        ));
    }
    Ok(())
}

/// Checks a name used inside a "NAME VALUE" line (interface, RDMA device).
pub(crate) fn check_line_name(field: &str, name: &str) -> Result<(), CgroupError> {
    if name.is_empty()
        || name
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b == 0 || b == b'/')
    {
        return Err(bad(
            field,
            format!("{name:?}"),
            "must be a non-empty name without spaces or '/'",
        ));
    }
    Ok(())
}

fn network(n: &LinuxNetwork, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    if let Some(id) = nz(n.class_id()) {
        out.push(w("net_cls", "net_cls.classid", id.to_string()));
    }
    for p in n.priorities().iter().flatten() {
        check_line_name("linux.resources.network.priorities.name", p.name())?;
        out.push(w(
            "net_prio",
            "net_prio.ifpriomap",
            format!("{} {}", p.name(), p.priority()),
        ));
    }
    Ok(())
}

/// `rdma.max` lines, one per device, in name order ("DEV hca_handle=N
/// hca_object=M", only the fields set). Same file in v1 and v2.
pub(crate) fn rdma_writes(
    rdma: &std::collections::HashMap<String, LinuxRdma>,
    out: &mut Vec<Write>,
) -> Result<(), CgroupError> {
    let mut devs: Vec<_> = rdma.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, l) in devs {
        check_line_name("linux.resources.rdma", dev)?;
        let mut line = dev.clone();
        if let Some(h) = l.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line.len() > dev.len() {
            out.push(w("rdma", "rdma.max", line));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cgroups::test_util::{files, res};

    fn fresh(json: &str) -> Vec<String> {
        files(&resource_writes(&res(json)).unwrap())
    }

    fn err(json: &str) -> String {
        resource_writes(&res(json)).unwrap_err().to_string()
    }

    #[test]
    fn empty_resources_write_nothing() {
        assert!(fresh("{}").is_empty());
        assert!(fresh(r#"{"memory":{},"cpu":{},"blockIO":{},"network":{}}"#).is_empty());
        assert!(!unified_supported());
        // Devices are devices.rs's business.
        assert!(fresh(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#).is_empty());
    }

    #[test]
    fn memory_fresh() {
        assert_eq!(
            fresh(
                r#"{"memory":{"limit":1073741824,"reservation":536870912,"swap":2147483648,
                "swappiness":10,"disableOOMKiller":true,"kernelTCP":1048576}}"#
            ),
            [
                "memory/memory.limit_in_bytes=1073741824",
                "memory/memory.memsw.limit_in_bytes=2147483648",
                "memory/memory.soft_limit_in_bytes=536870912",
                "memory/memory.swappiness=10",
                "memory/memory.oom_control=1",
                "memory/memory.kmem.tcp.limit_in_bytes=1048576",
            ]
        );
        assert_eq!(
            fresh(r#"{"memory":{"limit":-1}}"#),
            [
                "memory/memory.memsw.limit_in_bytes=-1",
                "memory/memory.limit_in_bytes=-1"
            ]
        );
        assert_eq!(
            fresh(r#"{"memory":{"limit":4096,"swap":-1}}"#),
            [
                "memory/memory.memsw.limit_in_bytes=-1",
                "memory/memory.limit_in_bytes=4096"
            ]
        );
        assert_eq!(
            fresh(r#"{"memory":{"limit":-5,"reservation":-1,"kernelTCP":-1}}"#),
            [
                "memory/memory.memsw.limit_in_bytes=-1",
                "memory/memory.limit_in_bytes=-1",
                "memory/memory.soft_limit_in_bytes=-1",
                "memory/memory.kmem.tcp.limit_in_bytes=-1",
            ]
        );
        assert_eq!(
            fresh(r#"{"memory":{"swap":-1}}"#),
            ["memory/memory.memsw.limit_in_bytes=-1"]
        );
        // 0 is unset; disableOOMKiller false is written (turns it back on).
        assert_eq!(
            fresh(r#"{"memory":{"limit":0,"swap":0,"reservation":0,"disableOOMKiller":false}}"#),
            ["memory/memory.oom_control=0"]
        );
        // The obsolete kernel limit and useHierarchy are ignored.
        assert!(fresh(r#"{"memory":{"kernel":1048576,"useHierarchy":true}}"#).is_empty());
        assert!(fresh(&format!(r#"{{"memory":{{"swappiness":{}}}}}"#, u64::MAX)).is_empty());
    }

    #[test]
    fn memory_errors() {
        assert_eq!(
            err(r#"{"memory":{"limit":2048,"swap":1024}}"#),
            "linux.resources.memory.swap 1024: is memory+swap: it must be >= \
             linux.resources.memory.limit 2048"
        );
        assert!(err(r#"{"memory":{"swap":1024}}"#).contains("needs linux.resources.memory.limit"));
        assert!(err(r#"{"memory":{"limit":-1,"swap":1024}}"#).contains("cgroup v1 can't"));
        assert_eq!(
            err(r#"{"memory":{"swappiness":101}}"#),
            "linux.resources.memory.swappiness 101: must be between 0 and 100"
        );
    }

    #[test]
    fn memory_update_orders() {
        let r = res(r#"{"memory":{"limit":2048,"swap":4096}}"#);
        let up = |old| files(&resource_writes_update(old, &r).unwrap());
        let (lim, sw) = (
            "memory/memory.limit_in_bytes=2048",
            "memory/memory.memsw.limit_in_bytes=4096",
        );
        // Raising (old limit below the new memsw): memsw first.
        assert_eq!(up(Some(1024)), [sw, lim]);
        assert_eq!(up(Some(3000)), [sw, lim]);
        // Lowering (old limit at or above the new memsw): limit first.
        assert_eq!(up(Some(4096)), [lim, sw]);
        assert_eq!(up(Some(1 << 40)), [lim, sw]);
        // Unlimited as read back from the kernel, or negative.
        assert_eq!(up(Some(9_223_372_036_854_771_712)), [lim, sw]);
        assert_eq!(up(Some(-1)), [lim, sw]);
        // Unknown: open memsw, set the limit, then memsw.
        assert_eq!(up(None), ["memory/memory.memsw.limit_in_bytes=-1", lim, sw]);
        // Unlimited swap goes first whatever the old limit.
        let r = res(r#"{"memory":{"limit":2048,"swap":-1}}"#);
        for old in [None, Some(1), Some(1 << 40)] {
            assert_eq!(
                files(&resource_writes_update(old, &r).unwrap()),
                [
                    "memory/memory.memsw.limit_in_bytes=-1",
                    "memory/memory.limit_in_bytes=2048"
                ]
            );
        }
        // Without swap, just the limit.
        let r = res(r#"{"memory":{"limit":2048}}"#);
        assert_eq!(
            files(&resource_writes_update(None, &r).unwrap()),
            ["memory/memory.limit_in_bytes=2048"]
        );
    }

    #[test]
    fn cpu_fresh() {
        assert_eq!(
            fresh(
                r#"{"cpu":{"shares":512,"quota":50000,"period":100000,"burst":10000,
                "realtimePeriod":1000000,"realtimeRuntime":950000,"idle":0}}"#
            ),
            [
                "cpu/cpu.rt_period_us=1000000",
                "cpu/cpu.rt_runtime_us=950000",
                "cpu/cpu.idle=0",
                "cpu/cpu.shares=512",
                "cpu/cpu.cfs_period_us=100000",
                "cpu/cpu.cfs_quota_us=50000",
                "cpu/cpu.cfs_burst_us=10000",
            ]
        );
        // idle 1 after the shares.
        assert_eq!(
            fresh(r#"{"cpu":{"shares":512,"idle":1}}"#),
            ["cpu/cpu.shares=512", "cpu/cpu.idle=1"]
        );
        assert_eq!(
            fresh(r#"{"cpu":{"quota":-1}}"#),
            ["cpu/cpu.cfs_quota_us=-1"]
        );
        assert_eq!(
            fresh(r#"{"cpu":{"period":50000}}"#),
            ["cpu/cpu.cfs_period_us=50000"]
        );
        assert_eq!(
            fresh(r#"{"cpu":{"realtimeRuntime":-1}}"#),
            ["cpu/cpu.rt_runtime_us=-1"]
        );
        // Zeros are unset; burst 0 is a value.
        assert_eq!(
            fresh(r#"{"cpu":{"shares":0,"quota":0,"period":0,"burst":0}}"#),
            ["cpu/cpu.cfs_burst_us=0"]
        );
    }

    #[test]
    fn cpu_update_orders() {
        let r = res(r#"{"cpu":{"quota":50000,"period":100000,"burst":10000}}"#);
        assert_eq!(
            files(&resource_writes_update(None, &r).unwrap()),
            [
                "cpu/cpu.cfs_burst_us=0",
                "cpu/cpu.cfs_quota_us=-1",
                "cpu/cpu.cfs_period_us=100000",
                "cpu/cpu.cfs_quota_us=50000",
                "cpu/cpu.cfs_burst_us=10000",
            ]
        );
        let r = res(r#"{"cpu":{"quota":-1,"period":100000}}"#);
        assert_eq!(
            files(&resource_writes_update(None, &r).unwrap()),
            ["cpu/cpu.cfs_quota_us=-1", "cpu/cpu.cfs_period_us=100000"]
        );
        let r = res(r#"{"cpu":{"quota":20000,"burst":5000}}"#);
        assert_eq!(
            files(&resource_writes_update(None, &r).unwrap()),
            [
                "cpu/cpu.cfs_burst_us=0",
                "cpu/cpu.cfs_quota_us=20000",
                "cpu/cpu.cfs_burst_us=5000",
            ]
        );
        let r = res(r#"{"cpu":{"period":20000}}"#);
        assert_eq!(
            files(&resource_writes_update(None, &r).unwrap()),
            ["cpu/cpu.cfs_period_us=20000"]
        );
    }

    #[test]
    fn cpu_errors() {
        assert_eq!(
            err(r#"{"cpu":{"shares":1}}"#),
            "linux.resources.cpu.shares 1: must be between 2 and 262144"
        );
        assert_eq!(
            err(r#"{"cpu":{"idle":3}}"#),
            "linux.resources.cpu.idle 3: must be 0 or 1"
        );
        assert!(err(r#"{"cpu":{"quota":10}}"#).starts_with("linux.resources.cpu.quota 10:"));
        assert!(err(r#"{"cpu":{"period":10}}"#).starts_with("linux.resources.cpu.period 10:"));
        assert!(err(r#"{"cpu":{"quota":10000,"burst":20000}}"#)
            .starts_with("linux.resources.cpu.burst 20000: must not exceed"));
        assert!(err(r#"{"cpu":{"realtimeRuntime":-2}}"#)
            .starts_with("linux.resources.cpu.realtimeRuntime -2:"));
        assert_eq!(
            err(r#"{"cpu":{"realtimeRuntime":2000,"realtimePeriod":1000}}"#),
            "linux.resources.cpu.realtimeRuntime 2000: must not exceed \
             linux.resources.cpu.realtimePeriod 1000"
        );
    }

    #[test]
    fn cpuset() {
        assert_eq!(
            fresh(r#"{"cpu":{"cpus":"0-3,6","mems":"0"}}"#),
            ["cpuset/cpuset.cpus=0-3,6", "cpuset/cpuset.mems=0"]
        );
        assert!(fresh(r#"{"cpu":{"cpus":"","mems":""}}"#).is_empty());
        assert_eq!(
            err(r#"{"cpu":{"cpus":"0-x"}}"#),
            "linux.resources.cpu.cpus \"0-x\": not a list of numbers and ranges like \"0-3,6\""
        );
        assert!(err(r#"{"cpu":{"mems":"1-0"}}"#).starts_with("linux.resources.cpu.mems \"1-0\":"));
    }

    #[test]
    fn pids() {
        assert_eq!(fresh(r#"{"pids":{"limit":100}}"#), ["pids/pids.max=100"]);
        assert_eq!(fresh(r#"{"pids":{"limit":0}}"#), ["pids/pids.max=max"]);
        assert_eq!(fresh(r#"{"pids":{"limit":-1}}"#), ["pids/pids.max=max"]);
    }

    #[test]
    fn blkio() {
        assert_eq!(
            fresh(
                r#"{"blockIO":{"weight":500,"leafWeight":300,
                "weightDevice":[{"major":8,"minor":0,"weight":600,"leafWeight":200},
                                {"major":8,"minor":16,"weight":0}],
                "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
                "throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":0}],
                "throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":100}],
                "throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":200}]}}"#
            ),
            [
                "blkio/blkio.weight=500",
                "blkio/blkio.leaf_weight=300",
                "blkio/blkio.weight_device=8:0 600",
                "blkio/blkio.leaf_weight_device=8:0 200",
                "blkio/blkio.throttle.read_bps_device=8:0 1048576",
                "blkio/blkio.throttle.write_bps_device=8:0 0",
                "blkio/blkio.throttle.read_iops_device=8:0 100",
                "blkio/blkio.throttle.write_iops_device=8:16 200",
            ]
        );
        assert_eq!(
            err(r#"{"blockIO":{"weight":5}}"#),
            "linux.resources.blockIO.weight 5: must be between 10 and 1000"
        );
        assert!(err(r#"{"blockIO":{"leafWeight":1001}}"#)
            .starts_with("linux.resources.blockIO.leafWeight 1001:"));
        assert!(
            err(r#"{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":2}]}}"#)
                .starts_with("linux.resources.blockIO.weightDevice[8:0].weight 2:")
        );
        assert!(
            err(r#"{"blockIO":{"throttleReadBpsDevice":[{"major":-8,"minor":0,"rate":1}]}}"#)
                .starts_with("linux.resources.blockIO.throttleReadBpsDevice -8:0:")
        );
    }

    #[test]
    fn hugetlb() {
        assert_eq!(
            fresh(
                r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304},{"pageSize":"1GB","limit":-1}]}"#
            ),
            [
                "hugetlb/hugetlb.2MB.limit_in_bytes=4194304",
                "hugetlb/hugetlb.2MB.rsvd.limit_in_bytes=4194304",
                "hugetlb/hugetlb.1GB.limit_in_bytes=-1",
                "hugetlb/hugetlb.1GB.rsvd.limit_in_bytes=-1",
            ]
        );
        assert_eq!(
            err(r#"{"hugepageLimits":[{"pageSize":"2M","limit":1}]}"#),
            "linux.resources.hugepageLimits.pageSize \"2M\": must be a number followed by \
             KB, MB or GB, like \"2MB\""
        );
        assert!(
            err(r#"{"hugepageLimits":[{"pageSize":"../2MB","limit":1}]}"#)
                .starts_with("linux.resources.hugepageLimits.pageSize \"../2MB\"")
        );
    }

    #[test]
    fn network_and_rdma() {
        assert_eq!(
            fresh(
                r#"{"network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5},
                {"name":"lo","priority":2}]}}"#
            ),
            [
                "net_cls/net_cls.classid=1048577",
                "net_prio/net_prio.ifpriomap=eth0 5",
                "net_prio/net_prio.ifpriomap=lo 2",
            ]
        );
        assert!(
            err(r#"{"network":{"priorities":[{"name":"eth 0","priority":5}]}}"#)
                .starts_with("linux.resources.network.priorities.name \"eth 0\":")
        );
        assert_eq!(
            fresh(
                r#"{"rdma":{"mlx5_1":{"hcaHandles":3},"mlx5_0":{"hcaHandles":2,"hcaObjects":2000},
                "mlx5_2":{}}}"#
            ),
            [
                "rdma/rdma.max=mlx5_0 hca_handle=2 hca_object=2000",
                "rdma/rdma.max=mlx5_1 hca_handle=3",
            ]
        );
        assert!(err(r#"{"rdma":{"":{"hcaHandles":3}}}"#).starts_with("linux.resources.rdma \"\""));
    }

    #[test]
    fn controller_order() {
        let all = resource_writes(&res(
            r#"{"network":{"classID":1},"hugepageLimits":[{"pageSize":"2MB","limit":0}],
            "blockIO":{"weight":100},"pids":{"limit":5},"cpu":{"shares":100,"cpus":"0"},
            "memory":{"limit":4096}}"#,
        ))
        .unwrap();
        let ctrls: Vec<&str> = all.iter().map(|w| w.controller.as_str()).collect();
        assert_eq!(
            ctrls,
            ["memory", "cpu", "cpuset", "pids", "blkio", "hugetlb", "hugetlb", "net_cls"]
        );
    }
}
