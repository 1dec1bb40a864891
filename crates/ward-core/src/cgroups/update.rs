//! `ward update`: runc's flags, or a `--resources` JSON file, laid over the
//! container's current `LinuxResources`. The merged result is what the
//! container's cgroup is to hold now; the caller turns it into writes
//! (`v1::resource_writes_update`, `v2::resource_writes`) and stores it, so
//! the next update starts from it.
//!
//! As in runc, only what is given changes; devices, network and rdma are
//! never changed by an update.

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxPids, LinuxResources,
    LinuxThrottleDevice, LinuxWeightDevice, LinuxWeightDeviceBuilder,
};

use super::convert::{self, bad};
use super::CgroupError;

/// runc update's resource flags, as given (None = flag absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateFlags {
    /// `--memory`: a size ("512m", "1g", bytes) or "-1".
    pub memory: Option<String>,
    /// `--memory-reservation`.
    pub memory_reservation: Option<String>,
    /// `--memory-swap`: memory+swap, or "-1" for unlimited swap.
    pub memory_swap: Option<String>,
    /// `--kernel-memory-tcp` (v1 only).
    pub kernel_memory_tcp: Option<String>,
    /// `--cpu-share`.
    pub cpu_shares: Option<u64>,
    /// `--cpu-period`.
    pub cpu_period: Option<u64>,
    /// `--cpu-quota`.
    pub cpu_quota: Option<i64>,
    /// `--cpu-burst`.
    pub cpu_burst: Option<u64>,
    /// `--cpu-rt-period` (v1 only).
    pub cpu_rt_period: Option<u64>,
    /// `--cpu-rt-runtime` (v1 only).
    pub cpu_rt_runtime: Option<i64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`.
    pub cpuset_mems: Option<String>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--blkio-weight` (0 = leave as is, as in runc).
    pub blkio_weight: Option<u16>,
    /// `--cpu-idle`.
    pub cpu_idle: Option<i64>,
}

/// A memory size as docker and runc take it: a number, optionally with a
/// fraction, optionally a space, then an optional binary unit k, m, g, t or
/// p (any case, optionally followed by "i"), then an optional "b":
/// "1024", "1024b", "512k", "512m", "1g", "1.5G", "2 GiB". "-1" is -1
/// (unlimited). Fractions of a byte are dropped.
pub fn parse_size(flag: &str, s: &str) -> Result<i64, CgroupError> {
    if s == "-1" {
        return Ok(-1);
    }
    let fail = || {
        bad(
            flag,
            format!("{s:?}"),
            "not a size like 512m, 1g, 1024k, a number of bytes, or -1",
        )
    };
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(end);
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if whole.is_empty() || (number.contains('.') && frac.is_empty()) || frac.contains('.') {
        return Err(fail());
    }
    let unit = match unit.strip_prefix(' ') {
        Some("") => return Err(fail()),
        Some(u) => u,
        None => unit,
    };
    let mut chars = unit.chars().peekable();
    let shift = match chars.peek().map(|c| c.to_ascii_lowercase()) {
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        _ => 0,
    };
    if shift > 0 {
        chars.next();
        if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'i')) {
            chars.next();
        }
    }
    if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'b')) {
        chars.next();
    }
    if chars.next().is_some() {
        return Err(fail());
    }
    let mult: u128 = 1 << shift;
    let whole: u128 = whole.parse().map_err(|_| fail())?;
    // Enough fraction digits for any multiplier; the rest can't matter.
    let frac = &frac[..frac.len().min(20)];
    let frac_part = if frac.is_empty() {
        0
    } else {
        let f: u128 = frac.parse().map_err(|_| fail())?;
        f * mult / 10u128.pow(frac.len() as u32)
    };
    whole
        .checked_mul(mult)
        .and_then(|b| b.checked_add(frac_part))
        .and_then(|b| i64::try_from(b).ok())
        .ok_or_else(fail)
}

/// Lays runc update's flags over `base`. Memory sizes are parsed here
/// (errors name the flag); the other values are checked when the result
/// is turned into writes. `--memory -1` without `--memory-swap` makes swap
/// unlimited too, as runc does.
pub fn apply_flags(base: LinuxResources, f: &UpdateFlags) -> Result<LinuxResources, CgroupError> {
    let size =
        |flag: &str, v: &Option<String>| v.as_deref().map(|s| parse_size(flag, s)).transpose();
    let mut memory = LinuxMemory::default();
    memory
        .set_limit(size("--memory", &f.memory)?)
        .set_reservation(size("--memory-reservation", &f.memory_reservation)?)
        .set_swap(size("--memory-swap", &f.memory_swap)?)
        .set_kernel_tcp(size("--kernel-memory-tcp", &f.kernel_memory_tcp)?);
    let mut cpu = LinuxCpu::default();
    cpu.set_shares(f.cpu_shares)
        .set_period(f.cpu_period)
        .set_quota(f.cpu_quota)
        .set_burst(f.cpu_burst)
        .set_realtime_period(f.cpu_rt_period)
        .set_realtime_runtime(f.cpu_rt_runtime)
        .set_cpus(f.cpuset_cpus.clone())
        .set_mems(f.cpuset_mems.clone())
        .set_idle(f.cpu_idle);
    let mut block_io = LinuxBlockIo::default();
    block_io.set_weight(f.blkio_weight);
    let mut patch = LinuxResources::default();
    patch
        .set_memory(Some(memory))
        .set_cpu(Some(cpu))
        .set_block_io(Some(block_io))
        .set_pids(f.pids_limit.map(|l| {
            let mut p = LinuxPids::default();
            p.set_limit(l);
            p
        }));
    merge_resources(base, &patch)
}

/// Reads `update --resources FILE|-`: a LinuxResources object in JSON (what
/// containerd and docker send). Lay it over the current resources with
/// [`merge_resources`].
pub fn parse_resources_json(data: &[u8]) -> Result<LinuxResources, CgroupError> {
    let fail = |why: String| {
        CgroupError::invalid(
            "update --resources",
            format!("not a linux.resources JSON object: {why}"),
        )
    };
    // serde would also take a JSON array for a struct.
    if data.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(fail("expected '{'".to_string()));
    }
    serde_json::from_slice(data).map_err(|e| fail(e.to_string()))
}

/// Lays `patch` over `base`, field by field: set fields of `patch` replace
/// those of `base`, unset ones (absent, and as in runc, a blkio weight of 0
/// and empty cpuset strings) leave them. Per-device blkio entries and
/// huge page limits are replaced by device or page size, others added;
/// `unified` keys likewise. Devices, network and rdma stay as in `base`.
/// A memory limit of -1 without a swap value makes swap unlimited too.
/// Fails when the resulting memory+swap is below the memory limit.
pub fn merge_resources(
    mut base: LinuxResources,
    patch: &LinuxResources,
) -> Result<LinuxResources, CgroupError> {
    if let Some(p) = patch.memory() {
        let mut m = base.memory().unwrap_or_default();
        if let Some(v) = p.limit() {
            m.set_limit(Some(v));
            if v < 0 && p.swap().is_none() {
                m.set_swap(Some(-1));
            }
        }
        if let Some(v) = p.reservation() {
            m.set_reservation(Some(v));
        }
        if let Some(v) = p.swap() {
            m.set_swap(Some(v));
        }
        if let Some(v) = p.kernel_tcp() {
            m.set_kernel_tcp(Some(v));
        }
        if let Some(v) = p.swappiness() {
            m.set_swappiness(Some(v));
        }
        if let Some(v) = p.disable_oom_killer() {
            m.set_disable_oom_killer(Some(v));
        }
        if let Some(v) = p.check_before_update() {
            m.set_check_before_update(Some(v));
        }
        if m != LinuxMemory::default() {
            convert::check_swap(m.limit(), m.swap()).map_err(|e| {
                CgroupError::invalid(
                    e.to_string(),
                    "update the memory+swap limit (--memory-swap) with the memory limit",
                )
            })?;
            base.set_memory(Some(m));
        }
    }
    if let Some(p) = patch.cpu() {
        let mut c = base.cpu().clone().unwrap_or_default();
        macro_rules! take {
            ($get:ident, $set:ident) => {
                if let Some(v) = p.$get() {
                    c.$set(Some(v));
                }
            };
        }
        take!(shares, set_shares);
        take!(quota, set_quota);
        take!(period, set_period);
        take!(burst, set_burst);
        take!(realtime_runtime, set_realtime_runtime);
        take!(realtime_period, set_realtime_period);
        take!(idle, set_idle);
        if let Some(s) = p.cpus().as_ref().filter(|s| !s.is_empty()) {
            c.set_cpus(Some(s.clone()));
        }
        if let Some(s) = p.mems().as_ref().filter(|s| !s.is_empty()) {
            c.set_mems(Some(s.clone()));
        }
        if c != LinuxCpu::default() {
            base.set_cpu(Some(c));
        }
    }
    if let Some(p) = patch.pids() {
        base.set_pids(Some(*p));
    }
    if let Some(p) = patch.block_io() {
        let mut b = base.block_io().clone().unwrap_or_default();
        if let Some(w) = p.weight().filter(|w| *w != 0) {
            b.set_weight(Some(w));
        }
        if let Some(w) = p.leaf_weight().filter(|w| *w != 0) {
            b.set_leaf_weight(Some(w));
        }
        if let Some(list) = p.weight_device() {
            let mut all = b.weight_device().clone().unwrap_or_default();
            for d in list {
                match all
                    .iter_mut()
                    .find(|o| (o.major(), o.minor()) == (d.major(), d.minor()))
                {
                    Some(old) => merge_weight_device(old, d),
                    None => all.push(*d),
                }
            }
            b.set_weight_device(Some(all));
        }
        b.set_throttle_read_bps_device(upsert_throttle(
            b.throttle_read_bps_device(),
            p.throttle_read_bps_device(),
        ));
        b.set_throttle_write_bps_device(upsert_throttle(
            b.throttle_write_bps_device(),
            p.throttle_write_bps_device(),
        ));
        b.set_throttle_read_iops_device(upsert_throttle(
            b.throttle_read_iops_device(),
            p.throttle_read_iops_device(),
        ));
        b.set_throttle_write_iops_device(upsert_throttle(
            b.throttle_write_iops_device(),
            p.throttle_write_iops_device(),
        ));
        if b != LinuxBlockIo::default() {
            base.set_block_io(Some(b));
        }
    }
    if let Some(list) = patch.hugepage_limits() {
        let mut all: Vec<LinuxHugepageLimit> = base.hugepage_limits().clone().unwrap_or_default();
        for h in list {
            match all.iter_mut().find(|o| o.page_size() == h.page_size()) {
                Some(old) => *old = h.clone(),
                None => all.push(h.clone()),
            }
        }
        base.set_hugepage_limits(Some(all));
    }
    if let Some(u) = patch.unified() {
        let mut all = base.unified().clone().unwrap_or_default();
        all.extend(u.iter().map(|(k, v)| (k.clone(), v.clone())));
        base.set_unified(Some(all));
    }
    Ok(base)
}

fn merge_weight_device(old: &mut LinuxWeightDevice, new: &LinuxWeightDevice) {
    // No setters on this type: rebuild it.
    let mut b = LinuxWeightDeviceBuilder::default()
        .major(old.major())
        .minor(old.minor());
    if let Some(w) = new.weight().or(old.weight()) {
        b = b.weight(w);
    }
    if let Some(w) = new.leaf_weight().or(old.leaf_weight()) {
        b = b.leaf_weight(w);
    }
    // Every field has a default: building can't fail.
    *old = b.build().unwrap_or(*new);
}

fn upsert_throttle(
    base: &Option<Vec<LinuxThrottleDevice>>,
    patch: &Option<Vec<LinuxThrottleDevice>>,
) -> Option<Vec<LinuxThrottleDevice>> {
    let Some(patch) = patch else {
        return base.clone();
    };
    let mut all = base.clone().unwrap_or_default();
    for t in patch {
        match all
            .iter_mut()
            .find(|o| (o.major(), o.minor()) == (t.major(), t.minor()))
        {
            Some(old) => *old = *t,
            None => all.push(*t),
        }
    }
    Some(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: i64 = 1024;
    const M: i64 = 1024 * K;
    const G: i64 = 1024 * M;

    use crate::cgroups::test_util::res;

    fn json(r: &LinuxResources) -> serde_json::Value {
        serde_json::to_value(r).unwrap()
    }

    #[test]
    fn sizes() {
        let p = |s| parse_size("--memory", s).unwrap();
        assert_eq!(p("0"), 0);
        assert_eq!(p("4096"), 4096);
        assert_eq!(p("4096b"), 4096);
        assert_eq!(p("4096B"), 4096);
        assert_eq!(p("1024k"), M);
        assert_eq!(p("1024K"), M);
        assert_eq!(p("1024kb"), M);
        assert_eq!(p("512m"), 512 * M);
        assert_eq!(p("512M"), 512 * M);
        assert_eq!(p("512MiB"), 512 * M);
        assert_eq!(p("512mib"), 512 * M);
        assert_eq!(p("1g"), G);
        assert_eq!(p("1 GB"), G);
        assert_eq!(p("2t"), 2 * 1024 * G);
        assert_eq!(p("1p"), 1024 * 1024 * G);
        assert_eq!(p("1.5g"), G + G / 2);
        assert_eq!(p("0.5k"), 512);
        assert_eq!(p("1.0001"), 1);
        assert_eq!(p("-1"), -1);
        assert_eq!(p("8191p"), 8191 * 1024 * 1024 * G);
    }

    #[test]
    fn size_errors() {
        for bad in [
            "",
            "m",
            "-2",
            "-1m",
            "1x",
            "1mm",
            "1ib",
            "1 ",
            " 1",
            "1  m",
            "1.",
            ".5",
            "1.2.3",
            "1gbb",
            "8192p",
            "99999999999999999999",
            "1,5g",
            "1e3",
        ] {
            assert!(parse_size("--memory", bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_size("--memory-swap", "12x").unwrap_err().to_string(),
            "--memory-swap \"12x\": not a size like 512m, 1g, 1024k, a number of bytes, or -1"
        );
    }

    #[test]
    fn flags_over_nothing() {
        let f = UpdateFlags {
            memory: Some("512m".into()),
            memory_reservation: Some("256m".into()),
            memory_swap: Some("1g".into()),
            kernel_memory_tcp: Some("1m".into()),
            cpu_shares: Some(512),
            cpu_period: Some(100_000),
            cpu_quota: Some(50_000),
            cpu_burst: Some(1000),
            cpu_rt_period: Some(1_000_000),
            cpu_rt_runtime: Some(5000),
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: Some("0".into()),
            pids_limit: Some(100),
            blkio_weight: Some(300),
            cpu_idle: Some(0),
        };
        let r = apply_flags(LinuxResources::default(), &f).unwrap();
        assert_eq!(
            json(&r),
            serde_json::json!({
                "memory": {"limit": 512 * M, "reservation": 256 * M, "swap": G,
                           "kernelTCP": M},
                "cpu": {"shares": 512, "quota": 50000, "idle": 0, "burst": 1000,
                        "period": 100000, "realtimeRuntime": 5000,
                        "realtimePeriod": 1000000, "cpus": "0-1", "mems": "0"},
                "pids": {"limit": 100},
                "blockIO": {"weight": 300}
            })
        );
    }

    #[test]
    fn flags_keep_what_is_not_given() {
        let base = res(
            r#"{"memory":{"limit":1073741824,"swap":2147483648,"swappiness":10},
            "cpu":{"shares":1024,"quota":20000,"period":100000,"cpus":"0-3"},
            "pids":{"limit":50},"blockIO":{"weight":500},
            "devices":[{"allow":false,"access":"rwm"}],"network":{"classID":7},
            "unified":{"memory.high":"max"}}"#,
        );
        // Only the quota changes: the period stays (runc's rule).
        let f = UpdateFlags {
            cpu_quota: Some(50_000),
            ..Default::default()
        };
        let r = apply_flags(base.clone(), &f).unwrap();
        let mut want = json(&base);
        want["cpu"]["quota"] = 50_000.into();
        assert_eq!(json(&r), want);
        // No flags: nothing changes; blkio weight 0 and empty cpuset too.
        let f = UpdateFlags {
            blkio_weight: Some(0),
            cpuset_cpus: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(json(&apply_flags(base.clone(), &f).unwrap()), json(&base));
        // The pids limit is replaced; memory within swap is fine.
        let f = UpdateFlags {
            pids_limit: Some(-1),
            memory: Some("2g".into()),
            ..Default::default()
        };
        let r = apply_flags(base, &f).unwrap();
        assert_eq!(r.pids().unwrap().limit(), -1);
        assert_eq!(r.memory().unwrap().limit(), Some(2 * G));
        assert_eq!(r.memory().unwrap().swap(), Some(2 * G));
    }

    #[test]
    fn memory_unlimited_takes_swap_along() {
        let base = res(r#"{"memory":{"limit":1073741824,"swap":2147483648}}"#);
        let f = UpdateFlags {
            memory: Some("-1".into()),
            ..Default::default()
        };
        let m = apply_flags(base.clone(), &f).unwrap().memory().unwrap();
        assert_eq!((m.limit(), m.swap()), (Some(-1), Some(-1)));
        // Unless swap is given.
        let f = UpdateFlags {
            memory: Some("-1".into()),
            memory_swap: Some("-1".into()),
            ..Default::default()
        };
        let m = apply_flags(base, &f).unwrap().memory().unwrap();
        assert_eq!((m.limit(), m.swap()), (Some(-1), Some(-1)));
    }

    #[test]
    fn flag_errors() {
        let base = res(r#"{"memory":{"limit":1073741824,"swap":2147483648}}"#);
        let f = UpdateFlags {
            memory: Some("3g".into()),
            ..Default::default()
        };
        assert_eq!(
            apply_flags(base.clone(), &f).unwrap_err().to_string(),
            "linux.resources.memory.swap 2147483648: is memory+swap: it must be >= \
             linux.resources.memory.limit 3221225472: update the memory+swap limit \
             (--memory-swap) with the memory limit"
        );
        let f = UpdateFlags {
            memory_reservation: Some("lots".into()),
            ..Default::default()
        };
        assert!(apply_flags(base.clone(), &f)
            .unwrap_err()
            .to_string()
            .starts_with("--memory-reservation \"lots\": not a size"));
        let f = UpdateFlags {
            kernel_memory_tcp: Some("1q".into()),
            ..Default::default()
        };
        assert!(apply_flags(base, &f)
            .unwrap_err()
            .to_string()
            .starts_with("--kernel-memory-tcp \"1q\""));
        // Swap without any memory limit.
        let f = UpdateFlags {
            memory_swap: Some("1g".into()),
            ..Default::default()
        };
        assert!(apply_flags(LinuxResources::default(), &f)
            .unwrap_err()
            .to_string()
            .contains("needs linux.resources.memory.limit"));
    }

    #[test]
    fn resources_json() {
        let r = parse_resources_json(
            br#"{"memory":{"limit":536870912,"checkBeforeUpdate":true},
                "cpu":{"shares":256,"cpus":"1"},"blockIO":{"weight":200},
                "pids":{"limit":20},"unified":{"memory.high":"400000000"}}"#,
        )
        .unwrap();
        assert_eq!(r.memory().unwrap().limit(), Some(512 * M));
        assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(256));
        assert_eq!(r.pids().unwrap().limit(), 20);
        for bad in [&b""[..], b"[]", b"{\"memory\":{\"limit\":\"1g\"}}", b"{} x"] {
            let e = parse_resources_json(bad).unwrap_err().to_string();
            assert!(
                e.starts_with("update --resources: not a linux.resources JSON object: "),
                "{e}"
            );
        }
    }

    #[test]
    fn merge_json_over_base() {
        let base = res(
            r#"{"memory":{"limit":1073741824,"reservation":1},"cpu":{"shares":1024,"mems":"0"},
            "blockIO":{"weight":500,
              "weightDevice":[{"major":8,"minor":0,"weight":100,"leafWeight":50}],
              "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":10}]},
            "hugepageLimits":[{"pageSize":"2MB","limit":0}],
            "unified":{"memory.high":"max","pids.max":"5"},
            "rdma":{"mlx5_0":{"hcaHandles":1}}}"#,
        );
        let patch = parse_resources_json(
            br#"{"memory":{"limit":2147483648},"cpu":{"mems":"","cpus":"0-1"},
            "blockIO":{"weight":0,
              "weightDevice":[{"major":8,"minor":0,"weight":200},{"major":8,"minor":16,"weight":300}],
              "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":20}],
              "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":30}]},
            "hugepageLimits":[{"pageSize":"2MB","limit":2097152},{"pageSize":"1GB","limit":0}],
            "unified":{"memory.high":"1000000"},
            "rdma":{"mlx5_0":{"hcaHandles":9}},"devices":[{"allow":true,"access":"rwm"}]}"#,
        )
        .unwrap();
        let r = merge_resources(base, &patch).unwrap();
        assert_eq!(
            json(&r),
            serde_json::json!({
                "memory": {"limit": 2 * G, "reservation": 1},
                "cpu": {"shares": 1024, "cpus": "0-1", "mems": "0"},
                "blockIO": {"weight": 500,
                    "weightDevice": [{"major": 8, "minor": 0, "weight": 200, "leafWeight": 50},
                                     {"major": 8, "minor": 16, "weight": 300}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 20}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 30}]},
                "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152},
                                   {"pageSize": "1GB", "limit": 0}],
                "unified": {"memory.high": "1000000", "pids.max": "5"},
                "rdma": {"mlx5_0": {"hcaHandles": 1}}
            })
        );
    }

    #[test]
    fn merge_of_nothing_is_identity() {
        let base = res(r#"{"memory":{"limit":4096},"pids":{"limit":3}}"#);
        let r = merge_resources(base.clone(), &LinuxResources::default()).unwrap();
        assert_eq!(json(&r), json(&base));
        // Empty sub-objects add nothing either.
        let r = merge_resources(
            LinuxResources::default(),
            &res(r#"{"memory":{},"cpu":{},"blockIO":{}}"#),
        )
        .unwrap();
        assert_eq!(json(&r), serde_json::json!({}));
    }
}
