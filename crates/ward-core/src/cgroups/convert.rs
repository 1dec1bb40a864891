//! Pure conversions from OCI resource values (which speak cgroup v1) to the
//! values cgroup files take, and the checks that go with them. Nothing here
//! touches the system; `docs/cgroups.md` has the formulas with examples.
//!
//! A value of 0 in the OCI numbers below means "not set" (runc's reading):
//! memory limit/reservation/swap, cpu shares/quota/period, blkio weights.

use std::fmt::Display;

use super::{CgroupError, Write};

/// cgroup v1 `cpu.shares` range and default (kernel MIN_SHARES..MAX_SHARES).
pub const CPU_SHARES_MIN: u64 = 2;
pub const CPU_SHARES_MAX: u64 = 262_144;
pub const CPU_SHARES_DEFAULT: u64 = 1024;
/// cgroup v2 `cpu.weight` range and default.
pub const CPU_WEIGHT_MIN: u64 = 1;
pub const CPU_WEIGHT_MAX: u64 = 10_000;
pub const CPU_WEIGHT_DEFAULT: u64 = 100;
/// OCI `blockIO.weight` range (the v1 CFQ range; BFQ also takes 1..9).
pub const BLKIO_WEIGHT_MIN: u16 = 10;
pub const BLKIO_WEIGHT_MAX: u16 = 1000;
/// CFS bandwidth: the kernel's default period and the period/quota bounds
/// it accepts (1 ms .. 1 s; a quota of at least 1 ms), in microseconds.
pub const CFS_PERIOD_DEFAULT: u64 = 100_000;
pub const CFS_PERIOD_MIN: u64 = 1_000;
pub const CFS_PERIOD_MAX: u64 = 1_000_000;
pub const CFS_QUOTA_MIN: i64 = 1_000;

/// `field value: why` — the error for a value refused before any write.
pub(crate) fn bad(field: &str, value: impl Display, why: impl Into<String>) -> CgroupError {
    CgroupError::invalid(format!("{field} {value}"), why)
}

/// `Some(v)` unless unset: None or 0.
pub(crate) fn nz<T: Default + PartialEq>(v: Option<T>) -> Option<T> {
    v.filter(|x| *x != T::default())
}

/// OCI cpu shares (v1, 2..262144, default 1024) to v2 `cpu.weight`
/// (1..10000, default 100), with the formula runc (>= 1.3.2, through
/// opencontainers/cgroups) and crun (>= 1.23) use today:
///
/// `weight = ceil(10^((L² + 125·L) / 612 − 7/34))`, `L = log2(shares)`
///
/// a parabola in log space through (2, 1), (1024, 100) and (262144, 10000),
/// so that v1's default maps to v2's default. (The older linear formula,
/// `1 + (shares − 2)·9999 / 262142`, turned 1024 into 39.) 0 stays 0
/// ("unset"); values outside 2..262144 are clamped.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= CPU_SHARES_MIN {
        return CPU_WEIGHT_MIN;
    }
    if shares >= CPU_SHARES_MAX {
        return CPU_WEIGHT_MAX;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    (10f64.powf(exponent).ceil() as u64).clamp(CPU_WEIGHT_MIN, CPU_WEIGHT_MAX)
}

/// The reverse of [`cpu_shares_to_weight`], for display: the largest
/// shares value that maps to `weight` (so 100 gives 1024, 1 gives 2 and
/// 10000 gives 262144). Every weight in 1..10000 is reached by some shares
/// value, so `cpu_shares_to_weight(cpu_weight_to_shares(w)) == w`.
pub fn cpu_weight_to_shares(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    let weight = weight.min(CPU_WEIGHT_MAX);
    // The forward map is monotonic: binary-search the last shares value
    // whose weight is <= `weight`.
    let (mut lo, mut hi) = (CPU_SHARES_MIN, CPU_SHARES_MAX);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if cpu_shares_to_weight(mid) <= weight {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// OCI blkio weight (10..1000) to v2 `io.weight` (1..10000), linearly:
/// `1 + (weight − 10)·9999 / 990` (runc's rule). 0 stays 0 ("unset");
/// values outside 10..1000 are clamped. (`io.bfq.weight` takes the blkio
/// value as it is.)
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = u64::from(weight.clamp(BLKIO_WEIGHT_MIN, BLKIO_WEIGHT_MAX));
    1 + (w - u64::from(BLKIO_WEIGHT_MIN)) * 9999 / 990
}

/// A v1 limit: negative means unlimited, which v1 files spell "-1".
pub fn limit_v1(v: i64) -> String {
    if v < 0 {
        "-1".to_string()
    } else {
        v.to_string()
    }
}

/// A v2 limit: negative means unlimited, which v2 files spell "max".
pub fn limit_v2(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// Checks OCI `memory.swap` (memory+swap) against `memory.limit`, both
/// with 0 meaning unset, as every hierarchy needs it:
/// - swap without a memory limit can't be turned into a swap amount (v2)
///   and is below v1's default unlimited limit (which the kernel refuses);
/// - swap below the limit is refused (it includes the memory).
///
/// A negative swap (unlimited) goes with anything.
pub fn check_swap(limit: Option<i64>, swap: Option<i64>) -> Result<(), CgroupError> {
    let (limit, swap) = (nz(limit), nz(swap));
    let Some(swap) = swap.filter(|s| *s > 0) else {
        return Ok(());
    };
    match limit {
        None => Err(bad(
            "linux.resources.memory.swap",
            swap,
            "needs linux.resources.memory.limit (swap is memory+swap)",
        )),
        Some(l) if l > 0 && swap < l => Err(bad(
            "linux.resources.memory.swap",
            swap,
            format!("is memory+swap: it must be >= linux.resources.memory.limit {l}"),
        )),
        _ => Ok(()),
    }
}

/// v1 only: memory.memsw.limit_in_bytes must stay >= memory.limit_in_bytes,
/// so an unlimited memory limit can't go with a finite memory+swap.
pub fn check_swap_v1(limit: Option<i64>, swap: Option<i64>) -> Result<(), CgroupError> {
    check_swap(limit, swap)?;
    match (nz(limit), nz(swap)) {
        (Some(l), Some(s)) if l < 0 && s > 0 => Err(bad(
            "linux.resources.memory.swap",
            s,
            "cgroup v1 can't limit memory+swap while memory is unlimited (limit -1)",
        )),
        _ => Ok(()),
    }
}

/// The v2 `memory.swap.max` for OCI `limit` and `swap` (memory+swap), or
/// None when nothing is to be written:
/// - swap unset: nothing, except with an unlimited limit, which makes
///   swap unlimited too ("max"), as v1 does with memsw;
/// - swap negative: "max";
/// - limit unlimited: swap as it is (there is no memory part to take off);
/// - otherwise `swap − limit`; "0" when they are equal (no swap at all).
pub fn swap_v2(limit: Option<i64>, swap: Option<i64>) -> Result<Option<String>, CgroupError> {
    check_swap(limit, swap)?;
    let (limit, swap) = (nz(limit), nz(swap));
    Ok(match (limit, swap) {
        (Some(l), None) if l < 0 => Some("max".to_string()),
        (_, None) => None,
        (_, Some(s)) if s < 0 => Some("max".to_string()),
        (Some(l), Some(s)) if l < 0 => Some(s.to_string()),
        (Some(l), Some(s)) => Some((s - l).to_string()),
        // check_swap refused a positive swap without a limit.
        (None, Some(_)) => None,
    })
}

/// Checks a CFS period (v1 cpu.cfs_period_us, v2 cpu.max's second field).
pub fn check_cfs_period(field: &str, period: u64) -> Result<(), CgroupError> {
    if !(CFS_PERIOD_MIN..=CFS_PERIOD_MAX).contains(&period) {
        return Err(bad(
            field,
            period,
            format!("must be between {CFS_PERIOD_MIN} and {CFS_PERIOD_MAX} microseconds"),
        ));
    }
    Ok(())
}

/// Checks a CFS quota: negative (unlimited) or at least 1 ms.
pub fn check_cfs_quota(field: &str, quota: i64) -> Result<(), CgroupError> {
    if (0..CFS_QUOTA_MIN).contains(&quota) && quota != 0 {
        return Err(bad(
            field,
            quota,
            format!("must be at least {CFS_QUOTA_MIN} microseconds, or -1 for no limit"),
        ));
    }
    Ok(())
}

/// Checks a CFS burst against the quota it goes with (the kernel refuses a
/// burst above a finite quota).
pub fn check_cfs_burst(field: &str, burst: u64, quota: Option<i64>) -> Result<(), CgroupError> {
    if let Some(q) = nz(quota).filter(|q| *q > 0) {
        if burst > q as u64 {
            return Err(bad(
                field,
                burst,
                format!("must not exceed linux.resources.cpu.quota {q}"),
            ));
        }
    }
    Ok(())
}

/// v2 `cpu.max` ("QUOTA PERIOD") from OCI quota and period, or None when
/// both are unset (None or 0). A quota <= 0 or unset is "max"; an unset
/// period is the kernel's default, 100000.
pub fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Result<Option<String>, CgroupError> {
    let (quota, period) = (nz(quota), nz(period));
    if quota.is_none() && period.is_none() {
        return Ok(None);
    }
    if let Some(q) = quota {
        check_cfs_quota("linux.resources.cpu.quota", q)?;
    }
    if let Some(p) = period {
        check_cfs_period("linux.resources.cpu.period", p)?;
    }
    let period = period.unwrap_or(CFS_PERIOD_DEFAULT);
    Ok(Some(match quota {
        Some(q) if q > 0 => format!("{q} {period}"),
        _ => format!("max {period}"),
    }))
}

/// Checks OCI cpu shares: 0 (unset) or 2..262144. (The v1 kernel would
/// silently clamp, and runc then fails reading the value back.)
pub fn check_cpu_shares(shares: u64) -> Result<(), CgroupError> {
    if shares != 0 && !(CPU_SHARES_MIN..=CPU_SHARES_MAX).contains(&shares) {
        return Err(bad(
            "linux.resources.cpu.shares",
            shares,
            format!("must be between {CPU_SHARES_MIN} and {CPU_SHARES_MAX}"),
        ));
    }
    Ok(())
}

/// Checks OCI cpu idle: 0 (normal) or 1 (SCHED_IDLE), the only values the
/// kernel takes.
pub fn check_cpu_idle(idle: i64) -> Result<(), CgroupError> {
    if idle != 0 && idle != 1 {
        return Err(bad("linux.resources.cpu.idle", idle, "must be 0 or 1"));
    }
    Ok(())
}

/// Checks a blkio weight (whole-cgroup or per-device): 10..1000.
pub fn check_blkio_weight(field: &str, weight: u16) -> Result<(), CgroupError> {
    if !(BLKIO_WEIGHT_MIN..=BLKIO_WEIGHT_MAX).contains(&weight) {
        return Err(bad(
            field,
            weight,
            format!("must be between {BLKIO_WEIGHT_MIN} and {BLKIO_WEIGHT_MAX}"),
        ));
    }
    Ok(())
}

/// "MAJ:MIN" of a block device, refusing negative numbers.
pub fn device_numbers(field: &str, major: i64, minor: i64) -> Result<String, CgroupError> {
    if major < 0 || minor < 0 {
        return Err(bad(
            field,
            format!("{major}:{minor}"),
            "device numbers must not be negative",
        ));
    }
    Ok(format!("{major}:{minor}"))
}

/// Checks a CPU or memory-node list ("0-3,6", "0-7:2/4") as the kernel's
/// list parser reads it: comma-separated numbers or ascending ranges, a
/// range optionally with ":used/group". Empty means unset and never gets
/// here. Whether the CPUs exist is for the kernel to say.
pub fn check_cpu_list(field: &str, list: &str) -> Result<(), CgroupError> {
    let fail = |why: &str| bad(field, format!("{list:?}"), why.to_string());
    let num = |s: &str| -> Result<u64, CgroupError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail("not a list of numbers and ranges like \"0-3,6\""));
        }
        s.parse::<u64>().map_err(|_| fail("number too large"))
    };
    for item in list.trim().split(',') {
        let (range, group) = match item.split_once(':') {
            Some((r, g)) => (r, Some(g)),
            None => (item, None),
        };
        match range.split_once('-') {
            Some((a, b)) => {
                if num(a)? > num(b)? {
                    return Err(fail("a range must not run backwards"));
                }
            }
            None => {
                num(range)?;
                if group.is_some() {
                    return Err(fail("\":used/group\" needs a range"));
                }
            }
        }
        if let Some(g) = group {
            let (used, size) = g
                .split_once('/')
                .ok_or_else(|| fail("a range's group is \":used/size\""))?;
            let (used, size) = (num(used)?, num(size)?);
            if used == 0 || size == 0 || used > size {
                return Err(fail("a range's group needs 0 < used <= size"));
            }
        }
    }
    Ok(())
}

/// Checks a huge page size as OCI and the kernel's file names spell it:
/// `<n>KB`, `<n>MB` or `<n>GB`, a power of two, in the largest unit that
/// keeps it whole (the kernel names 2 MiB pages "2MB", never "2048KB").
/// Returns the size in bytes.
pub fn hugepage_size(field: &str, size: &str) -> Result<u64, CgroupError> {
    let fail = |why: &str| bad(field, format!("{size:?}"), why.to_string());
    let (digits, shift) = if let Some(d) = size.strip_suffix("KB") {
        (d, 10)
    } else if let Some(d) = size.strip_suffix("MB") {
        (d, 20)
    } else if let Some(d) = size.strip_suffix("GB") {
        (d, 30)
    } else {
        return Err(fail(
            "must be a number followed by KB, MB or GB, like \"2MB\"",
        ));
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return Err(fail(
            "must be a number followed by KB, MB or GB, like \"2MB\"",
        ));
    }
    let n: u64 = digits.parse().map_err(|_| fail("too large"))?;
    if !n.is_power_of_two() {
        return Err(fail("huge page sizes are powers of two"));
    }
    if shift < 30 && n >= 1024 {
        return Err(fail("the kernel names this size in a larger unit"));
    }
    n.checked_shl(shift)
        .filter(|b| b >> shift == n)
        .ok_or_else(|| fail("too large"))
}

/// What to do when a write's file does not exist (ENOENT): the files below
/// come and go with kernel versions, config options and the IO scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMissing {
    /// The setting can't be applied: report the error.
    Fail,
    /// Nothing is lost by not writing it: go on.
    Skip,
    /// Write this instead (and consult `if_missing` for it in turn).
    Instead(Write),
}

/// The rule for a write whose file is missing:
/// - `hugetlb.<size>.rsvd.*` (reservation limits, Linux 5.7+): skip;
/// - v1 `blkio.weight` / `blkio.weight_device` (CFQ, gone in Linux 5.0):
///   the same value to `blkio.bfq.weight` / `blkio.bfq.weight_device`;
/// - v2 `io.bfq.weight` (BFQ scheduler not loaded): the converted value
///   to `io.weight` (blk-iocost);
/// - "unlimited" or "zero" values of optional features: v1
///   `memory.memsw.limit_in_bytes` = -1 and v2 `memory.swap.max` = max/0
///   (no swap accounting), `memory.kmem.tcp.limit_in_bytes` = -1,
///   `cpu.cfs_burst_us` / `cpu.max.burst` = 0 (before Linux 5.14): skip;
/// - anything else: fail.
pub fn if_missing(w: &Write) -> IfMissing {
    let f = w.file.as_str();
    let v = w.value.as_str();
    if f.starts_with("hugetlb.") && f.contains(".rsvd.") {
        return IfMissing::Skip;
    }
    match (f, v) {
        ("blkio.weight", _) => IfMissing::Instead(Write::new("blkio", "blkio.bfq.weight", v)),
        ("blkio.weight_device", _) => {
            IfMissing::Instead(Write::new("blkio", "blkio.bfq.weight_device", v))
        }
        ("io.bfq.weight", _) => {
            // "N" or "MAJ:MIN N": convert the number, keep the device.
            let (dev, n) = match v.rsplit_once(' ') {
                Some((d, n)) => (Some(d), n),
                None => (None, v),
            };
            match n.trim().parse::<u16>() {
                Ok(n) => {
                    let n = blkio_weight_to_io_weight(n);
                    let value = match dev {
                        Some(d) => format!("{d} {n}"),
                        None => n.to_string(),
                    };
                    IfMissing::Instead(Write::new("io", "io.weight", value))
                }
                Err(_) => IfMissing::Fail,
            }
        }
        ("memory.memsw.limit_in_bytes", "-1")
        | ("memory.kmem.tcp.limit_in_bytes", "-1")
        | ("memory.swap.max", "max" | "0")
        | ("cpu.cfs_burst_us" | "cpu.max.burst", "0") => IfMissing::Skip,
        _ => IfMissing::Fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_fits_min_default_max() {
        // The points runc's and crun's tests pin.
        assert_eq!(cpu_shares_to_weight(0), 0);
        assert_eq!(cpu_shares_to_weight(1), 1);
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(3), 2);
        assert_eq!(cpu_shares_to_weight(1024), 100);
        assert_eq!(cpu_shares_to_weight(262_143), 10_000);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
        assert_eq!(cpu_shares_to_weight(262_145), 10_000);
        assert_eq!(cpu_shares_to_weight(u64::MAX), 10_000);
        // docs/cgroups.md's worked example.
        assert_eq!(cpu_shares_to_weight(512), 59);
        assert_eq!(cpu_shares_to_weight(2048), 174);
        assert_eq!(cpu_shares_to_weight(4096), 303);
    }

    #[test]
    fn shares_to_weight_is_monotonic_and_in_range() {
        let mut last = 0;
        for s in CPU_SHARES_MIN..=CPU_SHARES_MAX {
            let w = cpu_shares_to_weight(s);
            assert!((CPU_WEIGHT_MIN..=CPU_WEIGHT_MAX).contains(&w), "{s} -> {w}");
            assert!(w >= last, "{s} -> {w} < {last}");
            assert!(w - last <= 1, "{s} skips weights: {last} -> {w}");
            last = w;
        }
    }

    #[test]
    fn weight_to_shares_reverses() {
        assert_eq!(cpu_weight_to_shares(0), 0);
        assert_eq!(cpu_weight_to_shares(1), 2);
        assert_eq!(cpu_weight_to_shares(100), 1024);
        assert_eq!(cpu_weight_to_shares(59), 521);
        assert_eq!(cpu_weight_to_shares(10_000), 262_144);
        assert_eq!(cpu_weight_to_shares(20_000), 262_144);
        for w in CPU_WEIGHT_MIN..=CPU_WEIGHT_MAX {
            assert_eq!(cpu_shares_to_weight(cpu_weight_to_shares(w)), w, "{w}");
        }
        for s in [2, 3, 100, 1000, 1024, 5000, 100_000, 262_144] {
            assert!(cpu_weight_to_shares(cpu_shares_to_weight(s)) >= s, "{s}");
        }
    }

    #[test]
    fn blkio_to_io_weight() {
        assert_eq!(blkio_weight_to_io_weight(0), 0);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        // Clamped.
        assert_eq!(blkio_weight_to_io_weight(5), 1);
        assert_eq!(blkio_weight_to_io_weight(2000), 10_000);
    }

    #[test]
    fn limits() {
        assert_eq!(limit_v1(-1), "-1");
        assert_eq!(limit_v1(-7), "-1");
        assert_eq!(limit_v1(0), "0");
        assert_eq!(limit_v1(4096), "4096");
        assert_eq!(limit_v2(-1), "max");
        assert_eq!(limit_v2(i64::MIN), "max");
        assert_eq!(limit_v2(4096), "4096");
    }

    #[test]
    fn swap_to_v2() {
        let m = 1 << 30;
        let s = |l, sw| swap_v2(l, sw).unwrap();
        assert_eq!(s(None, None), None);
        assert_eq!(s(Some(m), None), None);
        assert_eq!(s(Some(m), Some(0)), None);
        assert_eq!(s(Some(-1), None), Some("max".into()));
        assert_eq!(s(Some(-1), Some(0)), Some("max".into()));
        assert_eq!(s(Some(m), Some(-1)), Some("max".into()));
        assert_eq!(s(None, Some(-1)), Some("max".into()));
        assert_eq!(s(Some(m), Some(m)), Some("0".into()));
        assert_eq!(s(Some(m), Some(3 * m)), Some((2 * m).to_string()));
        assert_eq!(s(Some(-1), Some(m)), Some(m.to_string()));
    }

    #[test]
    fn swap_errors_name_the_field() {
        let e = swap_v2(Some(2048), Some(1024)).unwrap_err().to_string();
        assert_eq!(
            e,
            "linux.resources.memory.swap 1024: is memory+swap: it must be >= \
             linux.resources.memory.limit 2048"
        );
        let e = swap_v2(None, Some(1024)).unwrap_err().to_string();
        assert!(
            e.starts_with("linux.resources.memory.swap 1024: needs"),
            "{e}"
        );
        let e = check_swap(Some(0), Some(1024)).unwrap_err().to_string();
        assert!(e.contains("needs linux.resources.memory.limit"), "{e}");
        // v1 can't have memsw finite above an unlimited limit.
        assert!(check_swap(Some(-1), Some(1024)).is_ok());
        let e = check_swap_v1(Some(-1), Some(1024)).unwrap_err().to_string();
        assert!(
            e.starts_with("linux.resources.memory.swap 1024: cgroup v1"),
            "{e}"
        );
        assert!(check_swap_v1(Some(1024), Some(-1)).is_ok());
        assert!(check_swap_v1(Some(1024), Some(1024)).is_ok());
    }

    #[test]
    fn cpu_max_values() {
        assert_eq!(cpu_max(None, None).unwrap(), None);
        assert_eq!(cpu_max(Some(0), Some(0)).unwrap(), None);
        assert_eq!(
            cpu_max(Some(50_000), None).unwrap(),
            Some("50000 100000".into())
        );
        assert_eq!(
            cpu_max(Some(50_000), Some(200_000)).unwrap(),
            Some("50000 200000".into())
        );
        assert_eq!(
            cpu_max(None, Some(250_000)).unwrap(),
            Some("max 250000".into())
        );
        assert_eq!(cpu_max(Some(-1), None).unwrap(), Some("max 100000".into()));
        assert_eq!(
            cpu_max(Some(-1), Some(50_000)).unwrap(),
            Some("max 50000".into())
        );
    }

    #[test]
    fn cpu_max_errors() {
        let e = cpu_max(Some(500), None).unwrap_err().to_string();
        assert!(
            e.starts_with("linux.resources.cpu.quota 500: must be at least 1000"),
            "{e}"
        );
        let e = cpu_max(Some(5000), Some(999)).unwrap_err().to_string();
        assert!(
            e.starts_with("linux.resources.cpu.period 999: must be between"),
            "{e}"
        );
        let e = cpu_max(None, Some(1_000_001)).unwrap_err().to_string();
        assert!(e.starts_with("linux.resources.cpu.period 1000001:"), "{e}");
    }

    #[test]
    fn cfs_checks() {
        assert!(check_cfs_quota("q", -1).is_ok());
        assert!(check_cfs_quota("q", -5).is_ok());
        assert!(check_cfs_quota("q", 0).is_ok());
        assert!(check_cfs_quota("q", 1000).is_ok());
        assert!(check_cfs_quota("q", 999).is_err());
        assert!(check_cfs_period("p", 1000).is_ok());
        assert!(check_cfs_period("p", 1_000_000).is_ok());
        assert!(check_cfs_period("p", 0).is_err());
        assert!(check_cfs_burst("b", 50_000, Some(50_000)).is_ok());
        assert!(check_cfs_burst("b", 50_000, Some(-1)).is_ok());
        assert!(check_cfs_burst("b", 50_000, None).is_ok());
        let e = check_cfs_burst("linux.resources.cpu.burst", 60_000, Some(50_000))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "linux.resources.cpu.burst 60000: must not exceed linux.resources.cpu.quota 50000"
        );
    }

    #[test]
    fn shares_idle_blkio_checks() {
        assert!(check_cpu_shares(0).is_ok());
        assert!(check_cpu_shares(2).is_ok());
        assert!(check_cpu_shares(262_144).is_ok());
        let e = check_cpu_shares(1).unwrap_err().to_string();
        assert_eq!(
            e,
            "linux.resources.cpu.shares 1: must be between 2 and 262144"
        );
        assert!(check_cpu_shares(262_145).is_err());
        assert!(check_cpu_idle(0).is_ok());
        assert!(check_cpu_idle(1).is_ok());
        let e = check_cpu_idle(2).unwrap_err().to_string();
        assert_eq!(e, "linux.resources.cpu.idle 2: must be 0 or 1");
        assert!(check_blkio_weight("w", 10).is_ok());
        assert!(check_blkio_weight("w", 1000).is_ok());
        let e = check_blkio_weight("linux.resources.blockIO.weight", 9)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "linux.resources.blockIO.weight 9: must be between 10 and 1000"
        );
        assert!(check_blkio_weight("w", 1001).is_err());
    }

    #[test]
    fn device_number_pairs() {
        assert_eq!(device_numbers("d", 8, 0).unwrap(), "8:0");
        let e = device_numbers("linux.resources.blockIO.weightDevice", -1, 0)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "linux.resources.blockIO.weightDevice -1:0: device numbers must not be negative"
        );
    }

    #[test]
    fn cpu_lists() {
        for ok in ["0", "0-3", "0-3,6", "1,3,5", "0-7:2/4", "0-0", " 0-1 "] {
            assert!(check_cpu_list("f", ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "3-1", "0-", "-1", "0,,1", "0 1", "0-7:2", "0-7:5/4", "1:1/2", "0;1",
        ] {
            assert!(check_cpu_list("f", bad).is_err(), "{bad:?}");
        }
        let e = check_cpu_list("linux.resources.cpu.cpus", "3-1")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "linux.resources.cpu.cpus \"3-1\": a range must not run backwards"
        );
    }

    #[test]
    fn hugepage_sizes() {
        assert_eq!(hugepage_size("f", "64KB").unwrap(), 64 << 10);
        assert_eq!(hugepage_size("f", "2MB").unwrap(), 2 << 20);
        assert_eq!(hugepage_size("f", "32MB").unwrap(), 32 << 20);
        assert_eq!(hugepage_size("f", "512MB").unwrap(), 512 << 20);
        assert_eq!(hugepage_size("f", "1GB").unwrap(), 1 << 30);
        assert_eq!(hugepage_size("f", "16GB").unwrap(), 16 << 30);
        for bad in [
            "",
            "2",
            "MB",
            "2M",
            "2mb",
            "2 MB",
            "02MB",
            "3MB",
            "2048KB",
            "1024MB",
            "-2MB",
            "2MiB",
            "99999999999999999999GB",
            "9007199254740992GB",
        ] {
            assert!(hugepage_size("f", bad).is_err(), "{bad:?}");
        }
        let e = hugepage_size("linux.resources.hugepageLimits.pageSize", "3MB")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "linux.resources.hugepageLimits.pageSize \"3MB\": huge page sizes are powers of two"
        );
    }

    #[test]
    fn missing_files() {
        let w = |c: &str, f: &str, v: &str| Write::new(c, f, v);
        assert_eq!(
            if_missing(&w("hugetlb", "hugetlb.2MB.rsvd.max", "5")),
            IfMissing::Skip
        );
        assert_eq!(
            if_missing(&w("hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes", "5")),
            IfMissing::Skip
        );
        assert_eq!(
            if_missing(&w("hugetlb", "hugetlb.2MB.max", "5")),
            IfMissing::Fail
        );
        assert_eq!(
            if_missing(&w("blkio", "blkio.weight", "300")),
            IfMissing::Instead(w("blkio", "blkio.bfq.weight", "300"))
        );
        assert_eq!(
            if_missing(&w("blkio", "blkio.weight_device", "8:0 300")),
            IfMissing::Instead(w("blkio", "blkio.bfq.weight_device", "8:0 300"))
        );
        assert_eq!(
            if_missing(&w("io", "io.bfq.weight", "500")),
            IfMissing::Instead(w("io", "io.weight", "4950"))
        );
        assert_eq!(
            if_missing(&w("io", "io.bfq.weight", "8:16 10")),
            IfMissing::Instead(w("io", "io.weight", "8:16 1"))
        );
        assert_eq!(if_missing(&w("io", "io.bfq.weight", "x")), IfMissing::Fail);
        assert_eq!(if_missing(&w("io", "io.weight", "100")), IfMissing::Fail);
        assert_eq!(
            if_missing(&w("memory", "memory.memsw.limit_in_bytes", "-1")),
            IfMissing::Skip
        );
        assert_eq!(
            if_missing(&w("memory", "memory.memsw.limit_in_bytes", "4096")),
            IfMissing::Fail
        );
        assert_eq!(
            if_missing(&w("memory", "memory.swap.max", "max")),
            IfMissing::Skip
        );
        assert_eq!(
            if_missing(&w("memory", "memory.swap.max", "0")),
            IfMissing::Skip
        );
        assert_eq!(
            if_missing(&w("memory", "memory.swap.max", "4096")),
            IfMissing::Fail
        );
        assert_eq!(
            if_missing(&w("memory", "memory.kmem.tcp.limit_in_bytes", "-1")),
            IfMissing::Skip
        );
        assert_eq!(
            if_missing(&w("cpu", "cpu.cfs_burst_us", "0")),
            IfMissing::Skip
        );
        assert_eq!(if_missing(&w("cpu", "cpu.max.burst", "0")), IfMissing::Skip);
        assert_eq!(
            if_missing(&w("cpu", "cpu.max.burst", "1000")),
            IfMissing::Fail
        );
        assert_eq!(
            if_missing(&w("memory", "memory.max", "max")),
            IfMissing::Fail
        );
    }
}
