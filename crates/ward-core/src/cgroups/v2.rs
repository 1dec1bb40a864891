//! cgroup v2: the files to write for an OCI `linux.resources`, and the
//! enabling of controllers down a path. Devices are not here (an eBPF
//! program, see `devices.rs`).
//!
//! Each [`Write`]'s `controller` is the controller that must be enabled in
//! the parent's `cgroup.subtree_control` for the file to exist: memory,
//! cpu, cpuset, pids, io, hugetlb, rdma; for `unified` keys the part before
//! the first '.', "cgroup" for the core `cgroup.*` files.
//!
//! What v2 can't do, and what happens:
//! - `memory.swappiness`: no per-cgroup knob; ignored (no write);
//! - `memory.disableOOMKiller`: no such knob; ignored (runc does too);
//! - `memory.kernel`, `memory.kernelTCP`: no separate kernel limits (kernel
//!   memory counts in memory.max); ignored;
//! - `cpu.realtimeRuntime`/`realtimePeriod`: no real-time group knobs;
//!   refused with an error when non-zero;
//! - `blockIO.leafWeight` and per-device leaf weights (CFQ only): ignored;
//! - `network` (net_cls/net_prio are v1 only; v2 filters by cgroup path
//!   with eBPF or nftables): a class ID or a priority is refused with an
//!   error (an empty `network` is nothing asked for).
//!
//! A write whose file is missing may be skippable or have a replacement:
//! see [`super::convert::if_missing`].

use std::io::ErrorKind;
use std::path::{Component, Path};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::convert::{self, bad, nz};
use super::{CgroupError, Write};
use crate::sys::Errno;

fn w(controller: &str, file: &str, value: impl Into<String>) -> Write {
    Write::new(controller, file, value)
}

/// The writes for `r`, for a new cgroup and for `update` alike (no v2 pair
/// of files depends on the other's old value, except the CFS burst, which
/// is zeroed before cpu.max when both are written):
///
/// memory: memory.swap.max, memory.max, memory.low;
/// cpu: cpu.idle/cpu.weight (idle 0 before the weight, idle 1 after),
///   cpu.max.burst=0, cpu.max, cpu.max.burst;
/// cpuset: cpuset.cpus, cpuset.mems; pids: pids.max;
/// io: io.bfq.weight (the blkio weight, default then per device "MAJ:MIN
///   W"; where BFQ is missing, `if_missing` gives io.weight with the
///   converted value), io.max lines "MAJ:MIN rbps=N" (wbps, riops, wiops;
///   rate 0 = "max");
/// hugetlb: hugetlb.<size>.max, hugetlb.<size>.rsvd.max; rdma: rdma.max;
/// and last the `unified` keys in name order, one write per line of the
/// value, so they override anything above.
pub fn resource_writes(r: &LinuxResources) -> Result<Vec<Write>, CgroupError> {
    let mut out = Vec::new();
    if let Some(n) = r.network() {
        // Said, not ignored: a class or a priority asked for and not given
        // would go unnoticed until the traffic misbehaves.
        let why =
            "net_cls and net_prio are cgroup v1 controllers, and this host has cgroup v2 only";
        if let Some(id) = nz(n.class_id()) {
            return Err(bad("linux.resources.network.classID", id, why));
        }
        if let Some(p) = n.priorities().iter().flatten().next() {
            return Err(bad(
                "linux.resources.network.priorities",
                format!("{}={}", p.name(), p.priority()),
                why,
            ));
        }
    }
    if let Some(m) = r.memory() {
        memory(m, &mut out)?;
    }
    if let Some(c) = r.cpu() {
        cpu(c, &mut out)?;
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            convert::check_cpu_list("linux.resources.cpu.cpus", cpus)?;
            out.push(w("cpuset", "cpuset.cpus", cpus.trim()));
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            convert::check_cpu_list("linux.resources.cpu.mems", mems)?;
            out.push(w("cpuset", "cpuset.mems", mems.trim()));
        }
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
        io(b, &mut out)?;
    }
    for h in r.hugepage_limits().iter().flatten() {
        let size = h.page_size();
        convert::hugepage_size("linux.resources.hugepageLimits.pageSize", size)?;
        let v = convert::limit_v2(h.limit());
        out.push(w("hugetlb", &format!("hugetlb.{size}.max"), v.clone()));
        out.push(w("hugetlb", &format!("hugetlb.{size}.rsvd.max"), v));
    }
    if let Some(rdma) = r.rdma() {
        super::v1::rdma_writes(rdma, &mut out)?;
    }
    if let Some(u) = r.unified() {
        let mut keys: Vec<_> = u.iter().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        for (key, value) in keys {
            let controller = unified_controller(key)?;
            if value.trim().is_empty() {
                return Err(CgroupError::invalid(
                    format!("linux.resources.unified {key:?}"),
                    "empty value",
                ));
            }
            for line in value.lines().filter(|l| !l.trim().is_empty()) {
                out.push(w(controller, key, line));
            }
        }
    }
    Ok(out)
}

/// The controller owning a `unified` key, after checking that the key is a
/// single file name of the form `<controller>.<file>`.
pub fn unified_controller(key: &str) -> Result<&str, CgroupError> {
    let fail = |why: &str| {
        CgroupError::invalid(format!("linux.resources.unified {key:?}"), why.to_string())
    };
    if key.is_empty() || key == "." || key == ".." || key.contains('/') {
        return Err(fail("must be a file name in the cgroup directory"));
    }
    if key
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(fail("must not contain spaces or control characters"));
    }
    let (controller, file) = key
        .split_once('.')
        .ok_or_else(|| fail("must be of the form <controller>.<file>, like \"memory.high\""))?;
    let ok = !controller.is_empty()
        && !file.is_empty()
        && controller
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(fail(
            "must be of the form <controller>.<file>, like \"memory.high\"",
        ));
    }
    Ok(controller)
}

fn memory(m: &LinuxMemory, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    // No file for it in v2, but a value v1 would refuse is bad input on
    // every host.
    if let Some(s) = m.swappiness().filter(|s| *s != u64::MAX && *s > 100) {
        return Err(CgroupError::invalid(
            format!("linux.resources.memory.swappiness {s}"),
            "must be between 0 and 100",
        ));
    }
    // The two limits are independent files in v2: any order works.
    if let Some(s) = convert::swap_v2(m.limit(), m.swap())? {
        out.push(w("memory", "memory.swap.max", s));
    }
    if let Some(l) = nz(m.limit()) {
        out.push(w("memory", "memory.max", convert::limit_v2(l)));
    }
    if let Some(r) = nz(m.reservation()) {
        out.push(w("memory", "memory.low", convert::limit_v2(r)));
    }
    Ok(())
}

fn cpu(c: &LinuxCpu, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    if let Some(rt) = nz(c.realtime_runtime()) {
        return Err(bad(
            "linux.resources.cpu.realtimeRuntime",
            rt,
            "cgroup v2 has no real-time group scheduling",
        ));
    }
    if let Some(rt) = nz(c.realtime_period()) {
        return Err(bad(
            "linux.resources.cpu.realtimePeriod",
            rt,
            "cgroup v2 has no real-time group scheduling",
        ));
    }
    let shares = nz(c.shares());
    if let Some(s) = shares {
        convert::check_cpu_shares(s)?;
    }
    if let Some(i) = c.idle() {
        convert::check_cpu_idle(i)?;
    }
    // The kernel refuses cpu.weight while cpu.idle is 1.
    if c.idle() == Some(0) {
        out.push(w("cpu", "cpu.idle", "0"));
    }
    if let Some(s) = shares {
        out.push(w(
            "cpu",
            "cpu.weight",
            convert::cpu_shares_to_weight(s).to_string(),
        ));
    }
    if c.idle() == Some(1) {
        out.push(w("cpu", "cpu.idle", "1"));
    }
    let max = convert::cpu_max(c.quota(), c.period())?;
    if let Some(b) = c.burst() {
        convert::check_cfs_burst("linux.resources.cpu.burst", b, c.quota())?;
        if max.is_some() && b > 0 {
            // A new quota below the old burst would be refused.
            out.push(w("cpu", "cpu.max.burst", "0"));
        }
    }
    if let Some(m) = max {
        out.push(w("cpu", "cpu.max", m));
    }
    if let Some(b) = c.burst() {
        out.push(w("cpu", "cpu.max.burst", b.to_string()));
    }
    Ok(())
}

fn io(b: &LinuxBlockIo, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    if let Some(wt) = nz(b.weight()) {
        convert::check_blkio_weight("linux.resources.blockIO.weight", wt)?;
        out.push(w("io", "io.bfq.weight", wt.to_string()));
    }
    for d in b.weight_device().iter().flatten() {
        let field = "linux.resources.blockIO.weightDevice";
        let dev = convert::device_numbers(field, d.major(), d.minor())?;
        if let Some(wt) = nz(d.weight()) {
            convert::check_blkio_weight(&format!("{field}[{dev}].weight"), wt)?;
            out.push(w("io", "io.bfq.weight", format!("{dev} {wt}")));
        }
    }
    let throttles = [
        (
            "throttleReadBpsDevice",
            b.throttle_read_bps_device(),
            "rbps",
        ),
        (
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            "wbps",
        ),
        (
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            "riops",
        ),
        (
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            "wiops",
        ),
    ];
    for (name, list, key) in throttles {
        for t in list.iter().flatten() {
            let field = format!("linux.resources.blockIO.{name}");
            let dev = convert::device_numbers(&field, t.major(), t.minor())?;
            // v1's "rate 0 = no limit"; io.max refuses 0 and says "max".
            let rate = match t.rate() {
                0 => "max".to_string(),
                r => r.to_string(),
            };
            out.push(w("io", "io.max", format!("{dev} {key}={rate}")));
        }
    }
    Ok(())
}

/// The controllers offered in `dir` (its cgroup.controllers).
pub fn available_controllers(dir: &Path) -> std::io::Result<Vec<String>> {
    let s = std::fs::read_to_string(dir.join("cgroup.controllers"))?;
    Ok(s.split_whitespace().map(String::from).collect())
}

/// Enables `wanted` controllers from `root` down to the parent of the leaf
/// `root/path_below_root`: writes "+c1 +c2 ..." to the cgroup.subtree_control
/// of `root` and of every directory between it and the leaf, top down,
/// making those directories when missing (not the leaf itself).
///
/// At each level only the controllers that level offers are asked for:
/// those in its cgroup.controllers (when it has none, as in a plain
/// directory standing in for cgroupfs, those the level above enabled).
/// Controllers nobody offers are left out silently: the caller checks its
/// writes' controllers against what it needs. When the combined write is
/// refused, each controller is tried alone; the first refusal is returned
/// after all were tried (a caller may treat it as non-fatal, as runc does).
pub fn enable_controllers(
    root: &Path,
    path_below_root: &Path,
    wanted: &[String],
) -> Result<(), CgroupError> {
    let mut parts = Vec::new();
    for c in path_below_root.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            _ => {
                return Err(CgroupError::invalid(
                    format!("cgroup path {:?}", path_below_root.display().to_string()),
                    "must be relative to the cgroup root, without \"..\"",
                ))
            }
        }
    }
    // The leaf is not ours to configure here; no leaf, nothing to do.
    if parts.pop().is_none() {
        return Ok(());
    }
    if !root.is_dir() {
        return Err(CgroupError::Io {
            op: "open",
            path: root.to_path_buf(),
            errno: Errno(libc::ENOENT),
        });
    }

    let mut offered: Vec<String> = wanted.to_vec();
    let mut dir = root.to_path_buf();
    let mut first_err = None;
    for level in 0..=parts.len() {
        if level > 0 {
            dir.push(parts[level - 1]);
            if let Err(e) = std::fs::create_dir(&dir) {
                if e.kind() != ErrorKind::AlreadyExists {
                    return Err(CgroupError::Io {
                        op: "mkdir",
                        path: dir.clone(),
                        errno: Errno::from(e),
                    });
                }
            }
        }
        match available_controllers(&dir) {
            Ok(avail) => offered.retain(|c| avail.contains(c)),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(CgroupError::Io {
                    op: "read",
                    path: dir.join("cgroup.controllers"),
                    errno: Errno::from(e),
                })
            }
        }
        if offered.is_empty() {
            break;
        }
        let all: Vec<String> = offered.iter().map(|c| format!("+{c}")).collect();
        if super::write_file(&dir, "cgroup.subtree_control", &all.join(" ")).is_err() {
            // One refused controller fails the whole write: go one by one,
            // and carry down only those that took.
            let mut enabled = Vec::new();
            for c in &offered {
                match super::write_file(&dir, "cgroup.subtree_control", &format!("+{c}")) {
                    Ok(()) => enabled.push(c.clone()),
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            offered = enabled;
        }
    }
    first_err.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use crate::cgroups::test_util::{files, res};

    fn writes(json: &str) -> Vec<String> {
        files(&resource_writes(&res(json)).unwrap())
    }

    fn err(json: &str) -> String {
        resource_writes(&res(json)).unwrap_err().to_string()
    }

    #[test]
    fn empty_resources_write_nothing() {
        assert!(writes("{}").is_empty());
        assert!(writes(r#"{"memory":{},"cpu":{},"blockIO":{},"unified":{}}"#).is_empty());
    }

    #[test]
    fn memory() {
        assert_eq!(
            writes(r#"{"memory":{"limit":1073741824,"swap":2147483648,"reservation":536870912}}"#),
            [
                "memory/memory.swap.max=1073741824",
                "memory/memory.max=1073741824",
                "memory/memory.low=536870912",
            ]
        );
        assert_eq!(
            writes(r#"{"memory":{"limit":4096,"swap":4096}}"#),
            ["memory/memory.swap.max=0", "memory/memory.max=4096"]
        );
        assert_eq!(
            writes(r#"{"memory":{"limit":-1}}"#),
            ["memory/memory.swap.max=max", "memory/memory.max=max"]
        );
        assert_eq!(
            writes(r#"{"memory":{"limit":4096,"swap":-1,"reservation":-1}}"#),
            [
                "memory/memory.swap.max=max",
                "memory/memory.max=4096",
                "memory/memory.low=max"
            ]
        );
        assert_eq!(
            writes(r#"{"memory":{"limit":-1,"swap":8192}}"#),
            ["memory/memory.swap.max=8192", "memory/memory.max=max"]
        );
        // Nothing to write on v2 for these.
        assert!(writes(
            r#"{"memory":{"swappiness":60,"disableOOMKiller":true,"kernelTCP":4096,
            "kernel":4096,"useHierarchy":true}}"#
        )
        .is_empty());
        assert_eq!(
            err(r#"{"memory":{"limit":8192,"swap":4096}}"#),
            "linux.resources.memory.swap 4096: is memory+swap: it must be >= \
             linux.resources.memory.limit 8192"
        );
        assert!(err(r#"{"memory":{"swap":4096}}"#).contains("needs linux.resources.memory.limit"));
    }

    #[test]
    fn cpu() {
        assert_eq!(
            writes(
                r#"{"cpu":{"shares":1024,"quota":50000,"period":100000,"burst":10000,"idle":0}}"#
            ),
            [
                "cpu/cpu.idle=0",
                "cpu/cpu.weight=100",
                "cpu/cpu.max.burst=0",
                "cpu/cpu.max=50000 100000",
                "cpu/cpu.max.burst=10000",
            ]
        );
        assert_eq!(
            writes(r#"{"cpu":{"shares":2,"idle":1}}"#),
            ["cpu/cpu.weight=1", "cpu/cpu.idle=1"]
        );
        assert_eq!(
            writes(r#"{"cpu":{"quota":20000}}"#),
            ["cpu/cpu.max=20000 100000"]
        );
        assert_eq!(
            writes(r#"{"cpu":{"period":50000}}"#),
            ["cpu/cpu.max=max 50000"]
        );
        assert_eq!(
            writes(r#"{"cpu":{"quota":-1}}"#),
            ["cpu/cpu.max=max 100000"]
        );
        assert_eq!(
            writes(r#"{"cpu":{"burst":5000}}"#),
            ["cpu/cpu.max.burst=5000"]
        );
        assert_eq!(
            writes(r#"{"cpu":{"quota":20000,"burst":0}}"#),
            ["cpu/cpu.max=20000 100000", "cpu/cpu.max.burst=0"]
        );
        // Zero realtime values are unset.
        assert!(writes(r#"{"cpu":{"realtimeRuntime":0,"realtimePeriod":0}}"#).is_empty());
    }

    #[test]
    fn cpu_errors() {
        assert_eq!(
            err(r#"{"cpu":{"realtimeRuntime":950000}}"#),
            "linux.resources.cpu.realtimeRuntime 950000: cgroup v2 has no real-time group \
             scheduling"
        );
        assert!(err(r#"{"cpu":{"realtimePeriod":1000000}}"#)
            .starts_with("linux.resources.cpu.realtimePeriod 1000000:"));
        assert!(err(r#"{"cpu":{"shares":300000}}"#).starts_with("linux.resources.cpu.shares"));
        assert!(err(r#"{"cpu":{"idle":-1}}"#).starts_with("linux.resources.cpu.idle -1"));
        assert!(err(r#"{"cpu":{"quota":100}}"#).starts_with("linux.resources.cpu.quota 100"));
        assert!(err(r#"{"cpu":{"quota":10000,"burst":10001}}"#)
            .starts_with("linux.resources.cpu.burst 10001"));
        assert_eq!(
            err(r#"{"cpu":{"cpus":"0-99,"}}"#),
            "linux.resources.cpu.cpus \"0-99,\": not a list of numbers and ranges like \"0-3,6\""
        );
    }

    #[test]
    fn cpuset_pids() {
        assert_eq!(
            writes(r#"{"cpu":{"cpus":"0-1","mems":"0"},"pids":{"limit":64}}"#),
            [
                "cpuset/cpuset.cpus=0-1",
                "cpuset/cpuset.mems=0",
                "pids/pids.max=64"
            ]
        );
        assert_eq!(writes(r#"{"pids":{"limit":-1}}"#), ["pids/pids.max=max"]);
        assert_eq!(writes(r#"{"pids":{"limit":0}}"#), ["pids/pids.max=max"]);
    }

    #[test]
    fn io() {
        assert_eq!(
            writes(
                r#"{"blockIO":{"weight":500,"leafWeight":300,
                "weightDevice":[{"major":8,"minor":0,"weight":100,"leafWeight":20}],
                "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
                "throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":0}],
                "throttleReadIOPSDevice":[{"major":8,"minor":16,"rate":100}],
                "throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":200}]}}"#
            ),
            [
                "io/io.bfq.weight=500",
                "io/io.bfq.weight=8:0 100",
                "io/io.max=8:0 rbps=1048576",
                "io/io.max=8:0 wbps=max",
                "io/io.max=8:16 riops=100",
                "io/io.max=8:16 wiops=200",
            ]
        );
        // Where BFQ is missing, the converted io.weight.
        let ws = resource_writes(&res(r#"{"blockIO":{"weight":1000}}"#)).unwrap();
        assert_eq!(
            convert::if_missing(&ws[0]),
            convert::IfMissing::Instead(Write::new("io", "io.weight", "10000"))
        );
        assert!(err(r#"{"blockIO":{"weight":1}}"#).starts_with("linux.resources.blockIO.weight 1:"));
        assert!(err(
            r#"{"blockIO":{"throttleWriteIOPSDevice":[{"major":1,"minor":-3,"rate":1}]}}"#
        )
        .starts_with("linux.resources.blockIO.throttleWriteIOPSDevice 1:-3:"));
    }

    #[test]
    fn hugetlb_rdma() {
        assert_eq!(
            writes(
                r#"{"hugepageLimits":[{"pageSize":"2MB","limit":2097152},{"pageSize":"1GB","limit":-1}],
                "rdma":{"mlx5_0":{"hcaObjects":10}}}"#
            ),
            [
                "hugetlb/hugetlb.2MB.max=2097152",
                "hugetlb/hugetlb.2MB.rsvd.max=2097152",
                "hugetlb/hugetlb.1GB.max=max",
                "hugetlb/hugetlb.1GB.rsvd.max=max",
                "rdma/rdma.max=mlx5_0 hca_object=10",
            ]
        );
        assert!(err(r#"{"hugepageLimits":[{"pageSize":"2mb","limit":1}]}"#)
            .starts_with("linux.resources.hugepageLimits.pageSize \"2mb\""));
    }

    #[test]
    fn ignored_on_v2() {
        assert!(
            err(r#"{"network":{"classID":5,"priorities":[{"name":"lo","priority":1}]}}"#)
                .starts_with(
                    "linux.resources.network.classID 5: net_cls and net_prio are cgroup v1"
                )
        );
        assert!(
            err(r#"{"network":{"priorities":[{"name":"lo","priority":1}]}}"#)
                .starts_with("linux.resources.network.priorities lo=1:")
        );
        assert!(writes(r#"{"network":{"classID":0,"priorities":[]}}"#).is_empty());
        assert!(writes(r#"{"devices":[{"allow":true,"access":"rwm"}]}"#).is_empty());
    }

    #[test]
    fn unified_last_sorted_and_split() {
        assert_eq!(
            writes(
                r#"{"memory":{"limit":4096},"unified":{"memory.max":"8192","cgroup.freeze":"0",
                "io.max":"8:0 rbps=1\n8:16 wbps=2\n","memory.high":"max"}}"#
            ),
            [
                "memory/memory.max=4096",
                "cgroup/cgroup.freeze=0",
                "io/io.max=8:0 rbps=1",
                "io/io.max=8:16 wbps=2",
                "memory/memory.high=max",
                "memory/memory.max=8192",
            ]
        );
    }

    #[test]
    fn unified_keys_checked() {
        assert_eq!(unified_controller("memory.high").unwrap(), "memory");
        assert_eq!(unified_controller("cgroup.max.depth").unwrap(), "cgroup");
        assert_eq!(unified_controller("hugetlb.2MB.max").unwrap(), "hugetlb");
        for bad in [
            "",
            ".",
            "..",
            "memory",
            "../memory.max",
            "a/memory.max",
            ".memory",
            "memory.",
            "Memory.max",
            "memory .max",
            "memory.max\n",
            "mem-ory.max",
        ] {
            assert!(unified_controller(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            err(r#"{"unified":{"../../x.y":"1"}}"#),
            "linux.resources.unified \"../../x.y\": must be a file name in the cgroup directory"
        );
        assert_eq!(
            err(r#"{"unified":{"memory":"1"}}"#),
            "linux.resources.unified \"memory\": must be of the form <controller>.<file>, \
             like \"memory.high\""
        );
        assert_eq!(
            err(r#"{"unified":{"memory.high":" "}}"#),
            "linux.resources.unified \"memory.high\": empty value"
        );
    }

    /// A temporary directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!(
                "ward-v2-test-{name}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn put(p: &Path, s: &str) {
        std::fs::write(p, s).unwrap();
    }

    fn get(p: &Path) -> Option<String> {
        std::fs::read_to_string(p).ok()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn available_controllers_reads_the_list() {
        let t = TempDir::new("avail");
        put(
            &t.0.join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids rdma misc\n",
        );
        assert_eq!(
            available_controllers(&t.0).unwrap(),
            strings(&["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"])
        );
        put(&t.0.join("cgroup.controllers"), "");
        assert!(available_controllers(&t.0).unwrap().is_empty());
        let missing = t.0.join("nope");
        assert_eq!(
            available_controllers(&missing).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn enable_controllers_walks_down_to_the_leafs_parent() {
        let t = TempDir::new("enable");
        let root = &t.0;
        put(
            &root.join("cgroup.controllers"),
            "cpu io memory pids hugetlb",
        );
        // "a" exists and offers less than the root; "a/b" will be made.
        // Files a real cgroupfs has in every directory (writes never create).
        put(&root.join("cgroup.subtree_control"), "");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        put(&root.join("a/cgroup.controllers"), "cpu memory pids");
        put(&root.join("a/cgroup.subtree_control"), "");
        put(&root.join("a/b/cgroup.subtree_control"), "");
        let wanted = strings(&["memory", "cpu", "pids", "rdma", "io"]);
        enable_controllers(root, Path::new("a/b/leaf"), &wanted).unwrap();
        // rdma isn't offered anywhere; io stops at the root.
        assert_eq!(
            get(&root.join("cgroup.subtree_control")).as_deref(),
            Some("+memory +cpu +pids +io")
        );
        assert_eq!(
            get(&root.join("a/cgroup.subtree_control")).as_deref(),
            Some("+memory +cpu +pids")
        );
        // "a/b" has no cgroup.controllers: it gets what "a" enabled.
        assert_eq!(
            get(&root.join("a/b/cgroup.subtree_control")).as_deref(),
            Some("+memory +cpu +pids")
        );
        // The leaf is neither made nor written.
        assert!(!root.join("a/b/leaf").exists());
    }

    #[test]
    fn enable_controllers_edge_cases() {
        let t = TempDir::new("edges");
        let root = &t.0;
        put(&root.join("cgroup.controllers"), "cpu memory");
        put(&root.join("cgroup.subtree_control"), "");
        // A leaf right below the root: only the root is written.
        enable_controllers(root, Path::new("leaf"), &strings(&["cpu"])).unwrap();
        assert_eq!(
            get(&root.join("cgroup.subtree_control")).as_deref(),
            Some("+cpu")
        );
        assert!(!root.join("leaf").exists());
        // Nothing wanted that is offered: nothing written.
        put(&root.join("cgroup.subtree_control"), "");
        enable_controllers(root, Path::new("x/leaf"), &strings(&["io"])).unwrap();
        assert_eq!(
            get(&root.join("cgroup.subtree_control")).as_deref(),
            Some("")
        );
        // The path may not climb out or be absolute.
        for bad in ["../x/leaf", "/abs/leaf", "a/../../leaf"] {
            let e = enable_controllers(root, Path::new(bad), &strings(&["cpu"]))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("must be relative to the cgroup root"),
                "{bad}: {e}"
            );
        }
        // An empty path (the root is the leaf) enables nothing.
        put(&root.join("cgroup.subtree_control"), "");
        enable_controllers(root, Path::new(""), &strings(&["cpu"])).unwrap();
        assert_eq!(
            get(&root.join("cgroup.subtree_control")).as_deref(),
            Some("")
        );
    }

    #[test]
    fn enable_controllers_reports_failures() {
        let t = TempDir::new("fail");
        let root = &t.0;
        put(&root.join("cgroup.controllers"), "cpu memory");
        // A directory where the subtree_control file should be: every write
        // fails, one by one too, and the error names the file.
        std::fs::create_dir(root.join("cgroup.subtree_control")).unwrap();
        let e = enable_controllers(root, Path::new("a/leaf"), &strings(&["cpu", "memory"]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("write "), "{e}");
        assert!(e.contains("cgroup.subtree_control = \"+cpu\""), "{e}");
        // Nothing was carried down to "a".
        assert!(get(&root.join("a/cgroup.subtree_control")).is_none());
        // A root that can't be read is an error naming the file.
        let nodir = root.join("missing-root");
        let e = enable_controllers(&nodir, Path::new("a/b"), &strings(&["cpu"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("open ") && e.ends_with("no such file or directory"),
            "{e}"
        );
    }
}
