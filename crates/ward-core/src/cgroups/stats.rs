//! Container statistics for `ward events`, in the JSON shape `runc events`
//! prints, read from cgroup v1, v2 and hybrid hierarchies.
//!
//! The shape follows runc's `types` package (the one its `events` command
//! encodes): key names, nesting and which zero values are left out. Where
//! runc marks a field "omitzero"/"omitempty" the field is skipped when it is
//! zero, and where it has neither the field is always written (`cpuset`,
//! `intel_rdt` as `{}` and `network_interfaces` as `null` included), so a
//! consumer that decodes runc's output decodes ours.
//!
//! Reading follows the kernel's files: a missing controller directory or a
//! missing file leaves its values at zero; a file that exists but cannot be
//! read, or whose text cannot be parsed, is an error naming its path.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CgroupError;
use crate::sys::Errno;

// ---------------------------------------------------------------------------
// The JSON types.
// ---------------------------------------------------------------------------

/// One line of `events` output: `{"type":"stats","id":"...","data":{...}}`
/// or `{"type":"oom","id":"..."}` (no `data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Stats>,
}

impl Event {
    pub fn stats(id: impl Into<String>, stats: Stats) -> Event {
        Event {
            kind: "stats".to_string(),
            id: id.into(),
            data: Some(stats),
        }
    }

    pub fn oom(id: impl Into<String>) -> Event {
        Event {
            kind: "oom".to_string(),
            id: id.into(),
            data: None,
        }
    }
}

/// The `data` of a stats event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub cpu: Cpu,
    /// Always written (runc: no omitempty); filled on v1 only, as runc.
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    /// Keyed by page size as the kernel names it in file names ("2MB",
    /// "1GB"). Always written, `{}` when there is none.
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Always written; `{}` unless Intel RDT is in use.
    pub intel_rdt: IntelRdt,
    /// Always written; runc prints `null` for a container whose network it
    /// did not set up itself (every OCI container).
    pub network_interfaces: Option<Vec<NetworkInterface>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cpu {
    #[serde(skip_serializing_if = "is_default")]
    pub usage: CpuUsage,
    #[serde(skip_serializing_if = "is_default")]
    pub throttling: Throttling,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

/// CPU time, all in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

/// CFS bandwidth throttling; `throttled_time` in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    #[serde(rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

/// One memory counter. `max` is the peak usage (not a limit).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    #[serde(skip_serializing_if = "is_default")]
    pub usage: MemoryEntry,
    /// v1: memory+swap (memsw); v2: memory.current + memory.swap.current,
    /// as runc computes it.
    #[serde(skip_serializing_if = "is_default")]
    pub swap: MemoryEntry,
    #[serde(skip_serializing_if = "is_default")]
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP", skip_serializing_if = "is_default")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat, key by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
    /// memory.use_hierarchy (always true on v2). Read, but not part of
    /// runc's events JSON, so never written.
    #[serde(skip)]
    pub use_hierarchy: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0 when unlimited ("max").
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Blkio {
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    /// runc's key is "ioQueueRecursive" (no "d").
    #[serde(rename = "ioQueueRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(
        rename = "ioServiceTimeRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioWaitTimeRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioMergedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioTimeRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(rename = "sectorsRecursive", skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

/// `max` is the peak usage (v1 only; runc leaves it 0 on v2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

/// Pressure stall information of one resource (v2 `*.pressure` files).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PsiStats {
    #[serde(skip_serializing_if = "is_default")]
    pub some: PsiData,
    #[serde(skip_serializing_if = "is_default")]
    pub full: PsiData,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PsiData {
    #[serde(serialize_with = "go_float")]
    pub avg10: f64,
    #[serde(serialize_with = "go_float")]
    pub avg60: f64,
    #[serde(serialize_with = "go_float")]
    pub avg300: f64,
    /// Microseconds of stall.
    pub total: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct L3CacheInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cbm_mask: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub min_cbm_bits: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub num_closids: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemBwInfo {
    #[serde(skip_serializing_if = "is_zero")]
    pub bandwidth_gran: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub delay_linear: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub min_bandwidth: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub num_closids: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MbmNumaNodeStats {
    pub mbm_total_bytes: u64,
    pub mbm_local_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CmtNumaNodeStats {
    pub llc_occupancy: u64,
}

/// Intel RDT (resctrl) figures; ward does not read resctrl, so this stays
/// empty and is written as `{}`, as runc does for a container without RDT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IntelRdt {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l3_cache_info: Option<L3CacheInfo>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub l3_cache_schema_root: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub l3_cache_schema: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_bw_info: Option<MemBwInfo>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mem_bw_schema_root: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mem_bw_schema: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schemata: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mbm_stats: Option<Vec<MbmNumaNodeStats>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmt_stats: Option<Vec<CmtNumaNodeStats>>,
}

/// runc's struct has no json tags, so its keys are the Go field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworkInterface {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Go writes a whole float64 without a fraction ("0", not "0.0").
fn go_float<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if v.fract() == 0.0 && v.abs() < EXACT {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

// ---------------------------------------------------------------------------
// File reading helpers.
// ---------------------------------------------------------------------------

/// The text of `dir/file`, or None when it does not exist.
fn read_opt(dir: &Path, file: &str) -> Result<Option<String>, CgroupError> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if is_absent(&e) => Ok(None),
        Err(e) => Err(read_error(path, &e)),
    }
}

/// Like `read_opt`, for files the kernel may refuse to read when a feature
/// is off (pressure files answer EOPNOTSUPP when PSI is disabled).
fn read_opt_supported(dir: &Path, file: &str) -> Result<Option<String>, CgroupError> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if is_absent(&e) || e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(None),
        Err(e) => Err(read_error(path, &e)),
    }
}

/// ENOENT, and ENOTDIR (a controller "directory" that is not one).
fn is_absent(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

fn read_error(path: PathBuf, e: &io::Error) -> CgroupError {
    CgroupError::Io {
        op: "read",
        path,
        errno: Errno::from(e),
    }
}

fn bad(dir: &Path, file: &str, why: impl Into<String>) -> CgroupError {
    CgroupError::invalid(dir.join(file).display().to_string(), why)
}

/// A counter the way runc parses one: "max" is u64::MAX, a negative number
/// is 0.
fn parse_u64(dir: &Path, file: &str, text: &str) -> Result<u64, CgroupError> {
    let text = text.trim();
    if text == "max" {
        return Ok(u64::MAX);
    }
    if let Ok(v) = text.parse::<u64>() {
        return Ok(v);
    }
    if let Some(digits) = text.strip_prefix('-') {
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(0);
        }
    }
    Err(bad(dir, file, format!("cannot parse {text:?} as a number")))
}

fn read_u64(dir: &Path, file: &str) -> Result<Option<u64>, CgroupError> {
    match read_opt(dir, file)? {
        Some(text) => parse_u64(dir, file, &text).map(Some),
        None => Ok(None),
    }
}

fn read_i64(dir: &Path, file: &str) -> Result<Option<i64>, CgroupError> {
    match read_opt(dir, file)? {
        Some(text) => {
            let t = text.trim();
            if t == "max" {
                return Ok(Some(i64::MAX));
            }
            t.parse::<i64>()
                .map(Some)
                .map_err(|_| bad(dir, file, format!("cannot parse {t:?} as a number")))
        }
        None => Ok(None),
    }
}

/// A flat-keyed file ("key value" lines), in file order.
fn parse_flat_keyed(dir: &Path, file: &str, text: &str) -> Result<Vec<(String, u64)>, CgroupError> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(key), Some(value), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad(
                dir,
                file,
                format!("line {line:?} is not \"key value\""),
            ));
        };
        out.push((key.to_string(), parse_u64(dir, file, value)?));
    }
    Ok(out)
}

fn read_flat_keyed(dir: &Path, file: &str) -> Result<Option<Vec<(String, u64)>>, CgroupError> {
    match read_opt(dir, file)? {
        Some(text) => parse_flat_keyed(dir, file, &text).map(Some),
        None => Ok(None),
    }
}

/// The value of `key` in a flat-keyed file; 0 when the file or key is absent.
fn read_key(dir: &Path, file: &str, key: &str) -> Result<u64, CgroupError> {
    Ok(read_flat_keyed(dir, file)?
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == key))
        .map_or(0, |(_, v)| v))
}

/// The names of the entries of `dir`; empty when it does not exist.
fn dir_names(dir: &Path) -> Result<Vec<String>, CgroupError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_absent(&e) => return Ok(Vec::new()),
        Err(e) => {
            return Err(CgroupError::Io {
                op: "read directory",
                path: dir.to_path_buf(),
                errno: Errno::from(&e),
            })
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CgroupError::Io {
            op: "read directory",
            path: dir.to_path_buf(),
            errno: Errno::from(&e),
        })?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Nanoseconds from a count of microseconds.
fn usec_to_ns(usec: u64) -> u64 {
    usec.saturating_mul(1000)
}

/// cpuacct.stat counts in USER_HZ ticks, which the kernel fixes at 100 a
/// second for user space on every architecture ward builds for (runc uses
/// the same constant).
const USER_HZ: u64 = 100;
const NS_PER_SEC: u64 = 1_000_000_000;

fn ticks_to_ns(ticks: u64) -> u64 {
    let ns = u128::from(ticks) * u128::from(NS_PER_SEC) / u128::from(USER_HZ);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// A pressure file: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" and
/// (except cpu.pressure on old kernels) a "full ..." line.
fn read_psi(dir: &Path, file: &str) -> Result<Option<PsiStats>, CgroupError> {
    let Some(text) = read_opt_supported(dir, file)? else {
        return Ok(None);
    };
    let mut psi = PsiStats::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let data = match fields.next() {
            Some("some") => &mut psi.some,
            Some("full") => &mut psi.full,
            _ => continue,
        };
        for field in fields {
            let Some((key, value)) = field.split_once('=') else {
                return Err(bad(dir, file, format!("bad field {field:?}")));
            };
            let float = || {
                value
                    .parse::<f64>()
                    .map_err(|_| bad(dir, file, format!("bad value {field:?}")))
            };
            match key {
                "avg10" => data.avg10 = float()?,
                "avg60" => data.avg60 = float()?,
                "avg300" => data.avg300 = float()?,
                "total" => {
                    data.total = value
                        .parse::<u64>()
                        .map_err(|_| bad(dir, file, format!("bad value {field:?}")))?
                }
                _ => {}
            }
        }
    }
    Ok(Some(psi))
}

/// A cpu list ("0-3,8,10-11") as cpuset.cpus/mems write it.
fn parse_list(dir: &Path, file: &str, text: &str) -> Result<Vec<u16>, CgroupError> {
    let mut out = Vec::new();
    let text = text.trim();
    if text.is_empty() {
        return Ok(out);
    }
    let num = |s: &str| {
        s.trim()
            .parse::<u16>()
            .map_err(|_| bad(dir, file, format!("bad list entry {s:?}")))
    };
    for part in text.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (num(from)?, num(to)?);
                if from > to {
                    return Err(bad(dir, file, format!("bad range {part:?}")));
                }
                out.extend(from..=to);
            }
            None => out.push(num(part)?),
        }
    }
    Ok(out)
}

/// The sizes of the hugetlb files in `dir`: for each "hugetlb.<size>.<file>"
/// (or "hugetlb.<size>.rsvd.<file>"), the size and whether a "rsvd" variant
/// exists.
fn hugetlb_sizes(dir: &Path, file: &str) -> Result<BTreeMap<String, bool>, CgroupError> {
    let mut sizes = BTreeMap::new();
    let suffix = format!(".{file}");
    for name in dir_names(dir)? {
        let Some(middle) = name
            .strip_prefix("hugetlb.")
            .and_then(|rest| rest.strip_suffix(&suffix))
        else {
            continue;
        };
        match middle.strip_suffix(".rsvd") {
            Some(size) if !size.contains('.') => {
                sizes.insert(size.to_string(), true);
            }
            None if !middle.contains('.') => {
                sizes.entry(middle.to_string()).or_insert(false);
            }
            _ => {}
        }
    }
    Ok(sizes)
}

// ---------------------------------------------------------------------------
// cgroup v1.
// ---------------------------------------------------------------------------

/// Reads a container's statistics from its cgroup v1 directories, keyed by
/// controller name ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio",
/// "hugetlb"; other keys are ignored).
pub fn read_v1(dirs: &BTreeMap<String, PathBuf>) -> Result<Stats, CgroupError> {
    let mut stats = Stats::default();
    if let Some(dir) = dirs.get("cpuacct") {
        v1_cpuacct(dir, &mut stats.cpu.usage)?;
    }
    if let Some(dir) = dirs.get("cpu") {
        v1_cpu(dir, &mut stats.cpu.throttling)?;
    }
    if let Some(dir) = dirs.get("cpuset") {
        v1_cpuset(dir, &mut stats.cpuset)?;
    }
    if let Some(dir) = dirs.get("memory") {
        v1_memory(dir, &mut stats.memory)?;
    }
    if let Some(dir) = dirs.get("pids") {
        stats.pids = read_pids(dir)?;
    }
    if let Some(dir) = dirs.get("blkio") {
        stats.blkio = v1_blkio(dir)?;
    }
    if let Some(dir) = dirs.get("hugetlb") {
        stats.hugetlb = v1_hugetlb(dir)?;
    }
    Ok(stats)
}

fn v1_cpuacct(dir: &Path, usage: &mut CpuUsage) -> Result<(), CgroupError> {
    const STAT: &str = "cpuacct.stat";
    if let Some(pairs) = read_flat_keyed(dir, STAT)? {
        for (key, ticks) in pairs {
            match key.as_str() {
                "user" => usage.user = ticks_to_ns(ticks),
                "system" => usage.kernel = ticks_to_ns(ticks),
                _ => {}
            }
        }
    }
    if let Some(total) = read_u64(dir, "cpuacct.usage")? {
        usage.total = total;
    }
    const PERCPU: &str = "cpuacct.usage_percpu";
    if let Some(text) = read_opt(dir, PERCPU)? {
        usage.percpu = text
            .split_whitespace()
            .map(|v| parse_u64(dir, PERCPU, v))
            .collect::<Result<_, _>>()?;
    }
    // "cpu user system" then one "N USER SYSTEM" row a cpu, in ns.
    const ALL: &str = "cpuacct.usage_all";
    if let Some(text) = read_opt(dir, ALL)? {
        let mut lines = text.lines();
        match lines.next() {
            Some(header) if header.starts_with("cpu user system") => {}
            other => {
                return Err(bad(dir, ALL, format!("unexpected header {other:?}")));
            }
        }
        for line in lines {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 3 {
                continue;
            }
            usage.percpu_user.push(parse_u64(dir, ALL, fields[1])?);
            usage.percpu_kernel.push(parse_u64(dir, ALL, fields[2])?);
        }
    }
    Ok(())
}

fn v1_cpu(dir: &Path, throttling: &mut Throttling) -> Result<(), CgroupError> {
    for (key, value) in read_flat_keyed(dir, "cpu.stat")?.unwrap_or_default() {
        match key.as_str() {
            "nr_periods" => throttling.periods = value,
            "nr_throttled" => throttling.throttled_periods = value,
            "throttled_time" => throttling.throttled_time = value,
            _ => {}
        }
    }
    Ok(())
}

fn v1_cpuset(dir: &Path, cpuset: &mut CpuSet) -> Result<(), CgroupError> {
    // A hierarchy mounted with "noprefix" drops the "cpuset." of names.
    let prefix = if dir.join("cpuset.cpus").exists() || !dir.join("cpus").exists() {
        "cpuset."
    } else {
        ""
    };
    let name = |n: &str| format!("{prefix}{n}");
    let list = |n: &str| -> Result<Vec<u16>, CgroupError> {
        let file = name(n);
        match read_opt(dir, &file)? {
            Some(text) => parse_list(dir, &file, &text),
            None => Ok(Vec::new()),
        }
    };
    let flag = |n: &str| -> Result<u64, CgroupError> { Ok(read_u64(dir, &name(n))?.unwrap_or(0)) };
    cpuset.cpus = list("cpus")?;
    cpuset.mems = list("mems")?;
    cpuset.cpu_exclusive = flag("cpu_exclusive")?;
    cpuset.mem_hardwall = flag("mem_hardwall")?;
    cpuset.mem_exclusive = flag("mem_exclusive")?;
    cpuset.memory_migrate = flag("memory_migrate")?;
    cpuset.memory_spread_page = flag("memory_spread_page")?;
    cpuset.memory_spread_slab = flag("memory_spread_slab")?;
    cpuset.memory_pressure = flag("memory_pressure")?;
    cpuset.sched_load_balance = flag("sched_load_balance")?;
    cpuset.sched_relax_domain_level =
        read_i64(dir, &name("sched_relax_domain_level"))?.unwrap_or(0);
    Ok(())
}

/// memory.<part>usage_in_bytes, max_usage_in_bytes, failcnt, limit_in_bytes.
fn v1_memory_entry(dir: &Path, part: &str) -> Result<MemoryEntry, CgroupError> {
    let file = |f: &str| format!("memory.{part}{f}");
    Ok(MemoryEntry {
        usage: read_u64(dir, &file("usage_in_bytes"))?.unwrap_or(0),
        max: read_u64(dir, &file("max_usage_in_bytes"))?.unwrap_or(0),
        failcnt: read_u64(dir, &file("failcnt"))?.unwrap_or(0),
        limit: read_u64(dir, &file("limit_in_bytes"))?.unwrap_or(0),
    })
}

fn v1_memory(dir: &Path, memory: &mut Memory) -> Result<(), CgroupError> {
    if let Some(pairs) = read_flat_keyed(dir, "memory.stat")? {
        memory.raw = pairs.into_iter().collect();
        memory.cache = memory.raw.get("cache").copied().unwrap_or(0);
    }
    memory.usage = v1_memory_entry(dir, "")?;
    memory.swap = v1_memory_entry(dir, "memsw.")?;
    memory.kernel = v1_memory_entry(dir, "kmem.")?;
    memory.kernel_tcp = v1_memory_entry(dir, "kmem.tcp.")?;
    memory.use_hierarchy = read_u64(dir, "memory.use_hierarchy")? == Some(1);
    Ok(())
}

/// pids.current and pids.max, the same files on v1 and v2; an unlimited
/// ("max") or absent limit is reported as 0, like runc.
fn read_pids(dir: &Path) -> Result<Pids, CgroupError> {
    let current = read_u64(dir, "pids.current")?.unwrap_or(0);
    let limit = match read_u64(dir, "pids.max")? {
        Some(u64::MAX) | None => 0,
        Some(v) => v,
    };
    Ok(Pids { current, limit })
}

/// A v1 blkio file: "MAJ:MIN Op VALUE" lines (or "MAJ:MIN VALUE"), and a
/// closing "Total N" line that is not an entry.
fn parse_blkio(dir: &Path, file: &str, text: &str) -> Result<Vec<BlkioEntry>, CgroupError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [] | ["Total", _] => continue,
            [dev, value] => out.push(blkio_entry(dir, file, dev, "", value)?),
            [dev, op, value] => out.push(blkio_entry(dir, file, dev, op, value)?),
            _ => return Err(bad(dir, file, format!("malformed line {line:?}"))),
        }
    }
    Ok(out)
}

fn blkio_entry(
    dir: &Path,
    file: &str,
    dev: &str,
    op: &str,
    value: &str,
) -> Result<BlkioEntry, CgroupError> {
    let Some((major, minor)) = dev.split_once(':') else {
        return Err(bad(dir, file, format!("bad device {dev:?}")));
    };
    let num = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| bad(dir, file, format!("bad number {s:?}")))
    };
    Ok(BlkioEntry {
        major: num(major)?,
        minor: num(minor)?,
        op: op.to_string(),
        value: num(value)?,
    })
}

fn v1_blkio(dir: &Path) -> Result<Blkio, CgroupError> {
    type Field = fn(&mut Blkio) -> &mut Vec<BlkioEntry>;
    let service_bytes: Field = |b| &mut b.io_service_bytes_recursive;
    let serviced: Field = |b| &mut b.io_serviced_recursive;
    let queued: Field = |b| &mut b.io_queued_recursive;
    let service_time: Field = |b| &mut b.io_service_time_recursive;
    let wait_time: Field = |b| &mut b.io_wait_time_recursive;
    let merged: Field = |b| &mut b.io_merged_recursive;
    let time: Field = |b| &mut b.io_time_recursive;
    let sectors: Field = |b| &mut b.sectors_recursive;
    // Sources in runc's order of preference: BFQ with debug statistics,
    // BFQ, CFQ, then the throttle layer (recursive, then this group only,
    // for kernels without the recursive files). The first set whose lead
    // file has entries is used.
    // The full sets (BFQ's debug statistics, CFQ) are told apart by their
    // sectors file.
    let full = |prefix: &str| -> Vec<(String, Field)> {
        vec![
            (format!("{prefix}sectors_recursive"), sectors),
            (format!("{prefix}io_service_bytes_recursive"), service_bytes),
            (format!("{prefix}io_serviced_recursive"), serviced),
            (format!("{prefix}io_queued_recursive"), queued),
            (format!("{prefix}io_service_time_recursive"), service_time),
            (format!("{prefix}io_wait_time_recursive"), wait_time),
            (format!("{prefix}io_merged_recursive"), merged),
            (format!("{prefix}time_recursive"), time),
        ]
    };
    let pair = |ios: &str, bytes: &str| -> Vec<(String, Field)> {
        vec![
            (ios.to_string(), serviced),
            (bytes.to_string(), service_bytes),
        ]
    };
    let sources: Vec<Vec<(String, Field)>> = vec![
        full("blkio.bfq."),
        pair(
            "blkio.bfq.io_serviced_recursive",
            "blkio.bfq.io_service_bytes_recursive",
        ),
        full("blkio."),
        pair(
            "blkio.throttle.io_serviced_recursive",
            "blkio.throttle.io_service_bytes_recursive",
        ),
        pair(
            "blkio.throttle.io_serviced",
            "blkio.throttle.io_service_bytes",
        ),
    ];
    for source in sources {
        let mut files = source.into_iter();
        let Some((lead_file, lead_field)) = files.next() else {
            continue;
        };
        let lead = match read_opt(dir, &lead_file)? {
            Some(text) => parse_blkio(dir, &lead_file, &text)?,
            None => continue,
        };
        if lead.is_empty() {
            continue;
        }
        let mut blkio = Blkio::default();
        *lead_field(&mut blkio) = lead;
        for (file, field) in files {
            if let Some(text) = read_opt(dir, &file)? {
                *field(&mut blkio) = parse_blkio(dir, &file, &text)?;
            }
        }
        return Ok(blkio);
    }
    Ok(Blkio::default())
}

fn v1_hugetlb(dir: &Path) -> Result<BTreeMap<String, Hugetlb>, CgroupError> {
    let mut out = BTreeMap::new();
    for (size, rsvd) in hugetlb_sizes(dir, "usage_in_bytes")? {
        // Like runc, prefer the reservation counters when the kernel has
        // them (5.7+): they are what a hugetlb limit is enforced against.
        let prefix = if rsvd {
            format!("hugetlb.{size}.rsvd.")
        } else {
            format!("hugetlb.{size}.")
        };
        let get = |f: &str| -> Result<u64, CgroupError> {
            Ok(read_u64(dir, &format!("{prefix}{f}"))?.unwrap_or(0))
        };
        out.insert(
            size,
            Hugetlb {
                usage: get("usage_in_bytes")?,
                max: get("max_usage_in_bytes")?,
                failcnt: get("failcnt")?,
            },
        );
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// cgroup v2.
// ---------------------------------------------------------------------------

/// Reads a container's statistics from its cgroup v2 directory.
pub fn read_v2(dir: &Path) -> Result<Stats, CgroupError> {
    let mut stats = Stats::default();
    v2_cpu(dir, &mut stats.cpu)?;
    v2_memory(dir, &mut stats.memory)?;
    stats.pids = v2_pids(dir)?;
    stats.blkio = v2_io(dir)?;
    stats.hugetlb = v2_hugetlb(dir)?;
    Ok(stats)
}

fn v2_cpu(dir: &Path, cpu: &mut Cpu) -> Result<(), CgroupError> {
    for (key, value) in read_flat_keyed(dir, "cpu.stat")?.unwrap_or_default() {
        match key.as_str() {
            "usage_usec" => cpu.usage.total = usec_to_ns(value),
            "user_usec" => cpu.usage.user = usec_to_ns(value),
            "system_usec" => cpu.usage.kernel = usec_to_ns(value),
            "nr_periods" => cpu.throttling.periods = value,
            "nr_throttled" => cpu.throttling.throttled_periods = value,
            "throttled_usec" => cpu.throttling.throttled_time = usec_to_ns(value),
            _ => {}
        }
    }
    cpu.psi = read_psi(dir, "cpu.pressure")?;
    Ok(())
}

/// memory.<part>current, .max and .peak (peak: 5.19+).
fn v2_memory_entry(dir: &Path, part: &str) -> Result<MemoryEntry, CgroupError> {
    let file = |f: &str| format!("memory.{part}{f}");
    Ok(MemoryEntry {
        usage: read_u64(dir, &file("current"))?.unwrap_or(0),
        limit: read_u64(dir, &file("max"))?.unwrap_or(0),
        max: read_u64(dir, &file("peak"))?.unwrap_or(0),
        failcnt: 0,
    })
}

fn v2_memory(dir: &Path, memory: &mut Memory) -> Result<(), CgroupError> {
    if let Some(pairs) = read_flat_keyed(dir, "memory.stat")? {
        memory.raw = pairs.into_iter().collect();
        // v2 has no "cache"; runc reports the page cache ("file").
        memory.cache = memory.raw.get("file").copied().unwrap_or(0);
    }
    memory.use_hierarchy = true;
    // runc leaves failcnt at 0 on v2 (memory.events' "max" is not copied).
    memory.usage = v2_memory_entry(dir, "")?;
    // runc's v2 "swap" is memory plus swap, like v1's memsw: usage is the
    // sum, the limit is the sum unless swap is unlimited, and no peak.
    let swap_only = v2_memory_entry(dir, "swap.")?;
    memory.swap = MemoryEntry {
        usage: swap_only.usage.saturating_add(memory.usage.usage),
        limit: if swap_only.limit == u64::MAX {
            u64::MAX
        } else {
            swap_only.limit.saturating_add(memory.usage.limit)
        },
        max: 0,
        failcnt: 0,
    };
    memory.psi = read_psi(dir, "memory.pressure")?;
    Ok(())
}

fn v2_pids(dir: &Path) -> Result<Pids, CgroupError> {
    if dir.join("pids.current").exists() {
        return read_pids(dir);
    }
    // Without the pids controller, count the processes (as runc does).
    let procs = match read_opt_supported(dir, "cgroup.procs")? {
        Some(text) => Some(text),
        None if dir.join("cgroup.procs").exists() => read_opt(dir, "cgroup.threads")?,
        None => None,
    };
    Ok(Pids {
        current: procs.map_or(0, |text| text.lines().count() as u64),
        limit: 0,
    })
}

/// io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N ...".
fn v2_io(dir: &Path) -> Result<Blkio, CgroupError> {
    const FILE: &str = "io.stat";
    let mut blkio = Blkio::default();
    if let Some(text) = read_opt(dir, FILE)? {
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let Some(dev) = fields.next() else {
                continue;
            };
            let Some((major, minor)) = dev.split_once(':') else {
                continue;
            };
            let num = |s: &str| {
                s.parse::<u64>()
                    .map_err(|_| bad(dir, FILE, format!("bad number {s:?} in {line:?}")))
            };
            let (major, minor) = (num(major)?, num(minor)?);
            for field in fields {
                let Some((key, value)) = field.split_once('=') else {
                    continue;
                };
                let (list, op) = match key {
                    "rbytes" => (&mut blkio.io_service_bytes_recursive, "Read"),
                    "wbytes" => (&mut blkio.io_service_bytes_recursive, "Write"),
                    "rios" => (&mut blkio.io_serviced_recursive, "Read"),
                    "wios" => (&mut blkio.io_serviced_recursive, "Write"),
                    _ => continue,
                };
                list.push(BlkioEntry {
                    major,
                    minor,
                    op: op.to_string(),
                    value: num(value)?,
                });
            }
        }
    }
    blkio.psi = read_psi(dir, "io.pressure")?;
    Ok(blkio)
}

fn v2_hugetlb(dir: &Path) -> Result<BTreeMap<String, Hugetlb>, CgroupError> {
    let mut out = BTreeMap::new();
    for (size, rsvd) in hugetlb_sizes(dir, "current")? {
        let current = if rsvd {
            format!("hugetlb.{size}.rsvd.current")
        } else {
            format!("hugetlb.{size}.current")
        };
        let events = format!("hugetlb.{size}.events");
        out.insert(
            size,
            Hugetlb {
                usage: read_u64(dir, &current)?.unwrap_or(0),
                // v2 keeps no peak; runc leaves it 0.
                max: 0,
                failcnt: read_key(dir, &events, "max")?,
            },
        );
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Hybrid hosts.
// ---------------------------------------------------------------------------

/// Reads statistics on a hybrid host: everything from the v1 hierarchies in
/// `v1`, and from the container's cgroup in the v2 hierarchy (`v2`) what v1
/// lacks: hugetlb always when v1 has no "hugetlb" hierarchy (its files are
/// only there when the controller is enabled), and cpu, memory, pids and io
/// when v1 has no such hierarchy and the v2 cgroup lists the controller in
/// its cgroup.controllers.
pub fn read_hybrid(
    v1: &BTreeMap<String, PathBuf>,
    v2: Option<&Path>,
) -> Result<Stats, CgroupError> {
    let mut stats = read_v1(v1)?;
    let Some(dir) = v2 else {
        return Ok(stats);
    };
    if !v1.contains_key("hugetlb") {
        stats.hugetlb = v2_hugetlb(dir)?;
    }
    let controllers: Vec<String> = read_opt(dir, "cgroup.controllers")?
        .map(|text| text.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let in_v2 = |name: &str| controllers.iter().any(|c| c == name);
    if !v1.contains_key("cpu") && !v1.contains_key("cpuacct") && in_v2("cpu") {
        v2_cpu(dir, &mut stats.cpu)?;
    }
    if !v1.contains_key("memory") && in_v2("memory") {
        v2_memory(dir, &mut stats.memory)?;
    }
    if !v1.contains_key("pids") && in_v2("pids") {
        stats.pids = read_pids(dir)?;
    }
    if !v1.contains_key("blkio") && in_v2("io") {
        stats.blkio = v2_io(dir)?;
    }
    Ok(stats)
}

// ---------------------------------------------------------------------------
// OOM kills.
// ---------------------------------------------------------------------------

/// How many processes of the container the kernel's OOM killer has killed:
/// "oom_kill N" of memory.oom_control in the v1 memory cgroup (kernel 4.13+)
/// plus "oom_kill N" of memory.events in the v2 cgroup. Whatever cannot be
/// read counts as 0 (the cgroup may be gone by the time this is polled).
pub fn oom_kill_count(v1_memory: Option<&Path>, v2: Option<&Path>) -> u64 {
    let count = |dir: Option<&Path>, file: &str| {
        dir.and_then(|dir| read_key(dir, file, "oom_kill").ok())
            .unwrap_or(0)
    };
    count(v1_memory, "memory.oom_control").saturating_add(count(v2, "memory.events"))
}

// ---------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A directory under the temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "ward-stats-{}-{}-{name}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        /// Makes `sub` and writes each (file, text) in it.
        fn dir(&self, sub: &str, files: &[(&str, &str)]) -> PathBuf {
            let dir = self.0.join(sub);
            fs::create_dir_all(&dir).unwrap();
            for (name, text) in files {
                fs::write(dir.join(name), text).unwrap();
            }
            dir
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const V1_MEMORY_STAT: &str = "cache 4096000\nrss 1327104\nrss_huge 0\nshmem 0\n\
        mapped_file 0\ndirty 0\nwriteback 0\npgpgin 1548\npgpgout 228\npgfault 1833\n\
        pgmajfault 0\ninactive_anon 0\nactive_anon 1327104\ninactive_file 4096000\n\
        active_file 0\nunevictable 0\nhierarchical_memory_limit 268435456\n\
        hierarchical_memsw_limit 9223372036854771712\ntotal_cache 4096000\n\
        total_rss 1327104\n";

    fn v1_tree(s: &Scratch) -> BTreeMap<String, PathBuf> {
        let cpu = s.dir(
            "cpu,cpuacct/ctr",
            &[
                ("cpuacct.usage", "40123456789\n"),
                ("cpuacct.usage_percpu", "30000000000 10123456789 \n"),
                ("cpuacct.stat", "user 2500\nsystem 1200\n"),
                (
                    "cpuacct.usage_all",
                    "cpu user system\n0 25000000000 5000000000\n1 3000000000 7123456789\n",
                ),
                (
                    "cpu.stat",
                    "nr_periods 120\nnr_throttled 7\nthrottled_time 35000000\n\
                     nr_bursts 0\nburst_time 0\n",
                ),
            ],
        );
        let cpuset = s.dir(
            "cpuset/ctr",
            &[
                ("cpuset.cpus", "0-2,5\n"),
                ("cpuset.mems", "0\n"),
                ("cpuset.cpu_exclusive", "0\n"),
                ("cpuset.mem_exclusive", "0\n"),
                ("cpuset.mem_hardwall", "0\n"),
                ("cpuset.memory_migrate", "0\n"),
                ("cpuset.memory_pressure", "0\n"),
                ("cpuset.memory_spread_page", "0\n"),
                ("cpuset.memory_spread_slab", "0\n"),
                ("cpuset.sched_load_balance", "1\n"),
                ("cpuset.sched_relax_domain_level", "-1\n"),
            ],
        );
        let memory = s.dir(
            "memory/ctr",
            &[
                ("memory.stat", V1_MEMORY_STAT),
                ("memory.usage_in_bytes", "5423104\n"),
                ("memory.max_usage_in_bytes", "8015872\n"),
                ("memory.limit_in_bytes", "268435456\n"),
                ("memory.failcnt", "3\n"),
                ("memory.memsw.usage_in_bytes", "5423104\n"),
                ("memory.memsw.max_usage_in_bytes", "8015872\n"),
                ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
                ("memory.memsw.failcnt", "0\n"),
                ("memory.kmem.usage_in_bytes", "421888\n"),
                ("memory.kmem.max_usage_in_bytes", "540672\n"),
                ("memory.kmem.limit_in_bytes", "9223372036854771712\n"),
                ("memory.kmem.failcnt", "0\n"),
                // No kmem.tcp files: an older or newer kernel.
                ("memory.use_hierarchy", "1\n"),
                (
                    "memory.oom_control",
                    "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
                ),
            ],
        );
        let pids = s.dir(
            "pids/ctr",
            &[("pids.current", "4\n"), ("pids.max", "max\n")],
        );
        let blkio = s.dir(
            "blkio/ctr",
            &[
                // Empty: no IO through CFQ; the throttle files count.
                ("blkio.sectors_recursive", ""),
                ("blkio.io_service_bytes_recursive", "Total 0\n"),
                (
                    "blkio.throttle.io_service_bytes_recursive",
                    "8:0 Read 1282048\n8:0 Write 2195456\n8:0 Sync 2195456\n\
                     8:0 Async 1282048\n8:0 Discard 0\n8:0 Total 3477504\nTotal 3477504\n",
                ),
                (
                    "blkio.throttle.io_serviced_recursive",
                    "8:0 Read 124\n8:0 Write 104\n8:0 Sync 104\n8:0 Async 124\n\
                     8:0 Discard 0\n8:0 Total 228\nTotal 228\n",
                ),
            ],
        );
        let hugetlb = s.dir(
            "hugetlb/ctr",
            &[
                ("hugetlb.2MB.usage_in_bytes", "4194304\n"),
                ("hugetlb.2MB.max_usage_in_bytes", "6291456\n"),
                ("hugetlb.2MB.limit_in_bytes", "9223372036854771712\n"),
                ("hugetlb.2MB.failcnt", "1\n"),
                ("hugetlb.1GB.usage_in_bytes", "0\n"),
                ("hugetlb.1GB.max_usage_in_bytes", "0\n"),
                ("hugetlb.1GB.limit_in_bytes", "9223372036854771712\n"),
                ("hugetlb.1GB.failcnt", "0\n"),
            ],
        );
        let mut dirs = BTreeMap::new();
        dirs.insert("cpu".to_string(), cpu.clone());
        dirs.insert("cpuacct".to_string(), cpu);
        dirs.insert("cpuset".to_string(), cpuset);
        dirs.insert("memory".to_string(), memory);
        dirs.insert("pids".to_string(), pids);
        dirs.insert("blkio".to_string(), blkio);
        dirs.insert("hugetlb".to_string(), hugetlb);
        // A controller without statistics, and one whose directory is gone.
        dirs.insert("devices".to_string(), s.0.join("devices/ctr"));
        dirs.insert("freezer".to_string(), s.0.join("freezer/gone"));
        dirs
    }

    #[test]
    fn v1_json_has_runc_shape() {
        let s = Scratch::new("v1");
        let dirs = v1_tree(&s);
        let stats = read_v1(&dirs).unwrap();
        assert!(stats.memory.use_hierarchy);
        let got = serde_json::to_value(Event::stats("ctr", stats)).unwrap();
        let want = json!({
            "type": "stats",
            "id": "ctr",
            "data": {
                "cpu": {
                    "usage": {
                        "total": 40123456789u64,
                        "percpu": [30000000000u64, 10123456789u64],
                        "percpu_kernel": [5000000000u64, 7123456789u64],
                        "percpu_user": [25000000000u64, 3000000000u64],
                        "kernel": 12000000000u64,
                        "user": 25000000000u64
                    },
                    "throttling": {
                        "periods": 120,
                        "throttledPeriods": 7,
                        "throttledTime": 35000000
                    }
                },
                "cpuset": {
                    "cpus": [0, 1, 2, 5],
                    "cpu_exclusive": 0,
                    "mems": [0],
                    "mem_hardwall": 0,
                    "mem_exclusive": 0,
                    "memory_migrate": 0,
                    "memory_spread_page": 0,
                    "memory_spread_slab": 0,
                    "memory_pressure": 0,
                    "sched_load_balance": 1,
                    "sched_relax_domain_level": -1
                },
                "memory": {
                    "cache": 4096000,
                    "usage": {"limit": 268435456, "usage": 5423104, "max": 8015872, "failcnt": 3},
                    "swap": {"limit": 9223372036854771712u64, "usage": 5423104, "max": 8015872, "failcnt": 0},
                    "kernel": {"limit": 9223372036854771712u64, "usage": 421888, "max": 540672, "failcnt": 0},
                    "raw": {
                        "active_anon": 1327104, "active_file": 0, "cache": 4096000,
                        "dirty": 0, "hierarchical_memory_limit": 268435456,
                        "hierarchical_memsw_limit": 9223372036854771712u64,
                        "inactive_anon": 0, "inactive_file": 4096000,
                        "mapped_file": 0, "pgfault": 1833, "pgmajfault": 0,
                        "pgpgin": 1548, "pgpgout": 228, "rss": 1327104,
                        "rss_huge": 0, "shmem": 0, "total_cache": 4096000,
                        "total_rss": 1327104, "unevictable": 0, "writeback": 0
                    }
                },
                "pids": {"current": 4},
                "blkio": {
                    "ioServiceBytesRecursive": [
                        {"major": 8, "op": "Read", "value": 1282048},
                        {"major": 8, "op": "Write", "value": 2195456},
                        {"major": 8, "op": "Sync", "value": 2195456},
                        {"major": 8, "op": "Async", "value": 1282048},
                        {"major": 8, "op": "Discard"},
                        {"major": 8, "op": "Total", "value": 3477504}
                    ],
                    "ioServicedRecursive": [
                        {"major": 8, "op": "Read", "value": 124},
                        {"major": 8, "op": "Write", "value": 104},
                        {"major": 8, "op": "Sync", "value": 104},
                        {"major": 8, "op": "Async", "value": 124},
                        {"major": 8, "op": "Discard"},
                        {"major": 8, "op": "Total", "value": 228}
                    ]
                },
                "hugetlb": {
                    "1GB": {"failcnt": 0},
                    "2MB": {"usage": 4194304, "max": 6291456, "failcnt": 1}
                },
                "intel_rdt": {},
                "network_interfaces": null
            }
        });
        assert_eq!(
            got,
            want,
            "got {}",
            serde_json::to_string_pretty(&got).unwrap()
        );
        // Key order of the top level, as runc's struct order.
        let keys: Vec<&String> = got["data"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "cpu",
                "cpuset",
                "memory",
                "pids",
                "blkio",
                "hugetlb",
                "intel_rdt",
                "network_interfaces"
            ]
        );
        assert_eq!(oom_kill_count(Some(&dirs["memory"]), None), 2);
    }

    #[test]
    fn v1_limits_and_rsvd_hugetlb() {
        let s = Scratch::new("v1-limits");
        let pids = s.dir("pids", &[("pids.current", "2\n"), ("pids.max", "100\n")]);
        let huge = s.dir(
            "hugetlb",
            &[
                ("hugetlb.2MB.usage_in_bytes", "1\n"),
                ("hugetlb.2MB.max_usage_in_bytes", "1\n"),
                ("hugetlb.2MB.failcnt", "1\n"),
                ("hugetlb.2MB.rsvd.usage_in_bytes", "2097152\n"),
                ("hugetlb.2MB.rsvd.max_usage_in_bytes", "4194304\n"),
                ("hugetlb.2MB.rsvd.failcnt", "0\n"),
            ],
        );
        let dirs = BTreeMap::from([("pids".to_string(), pids), ("hugetlb".to_string(), huge)]);
        let got = serde_json::to_value(read_v1(&dirs).unwrap()).unwrap();
        assert_eq!(got["pids"], json!({"current": 2, "limit": 100}));
        assert_eq!(
            got["hugetlb"],
            json!({"2MB": {"usage": 2097152, "max": 4194304, "failcnt": 0}})
        );
        // Nothing read: the always-written parts stay, the rest is omitted.
        assert_eq!(got["cpu"], json!({}));
        assert_eq!(got["memory"], json!({}));
        assert_eq!(got["blkio"], json!({}));
    }

    #[test]
    fn v1_empty_map_is_all_zero() {
        let stats = read_v1(&BTreeMap::new()).unwrap();
        assert_eq!(stats, Stats::default());
        let got = serde_json::to_string(&stats).unwrap();
        assert_eq!(
            got,
            "{\"cpu\":{},\"cpuset\":{\"cpu_exclusive\":0,\"mem_hardwall\":0,\
             \"mem_exclusive\":0,\"memory_migrate\":0,\"memory_spread_page\":0,\
             \"memory_spread_slab\":0,\"memory_pressure\":0,\"sched_load_balance\":0,\
             \"sched_relax_domain_level\":0},\"memory\":{},\"pids\":{},\"blkio\":{},\
             \"hugetlb\":{},\"intel_rdt\":{},\"network_interfaces\":null}"
        );
    }

    #[test]
    fn v1_bad_file_names_its_path() {
        let s = Scratch::new("v1-bad");
        let mem = s.dir("memory", &[("memory.usage_in_bytes", "lots\n")]);
        let dirs = BTreeMap::from([("memory".to_string(), mem.clone())]);
        let err = read_v1(&dirs).unwrap_err().to_string();
        assert!(
            err.contains(&mem.join("memory.usage_in_bytes").display().to_string()),
            "{err}"
        );
        // A directory where a file should be: present but unreadable.
        let pids = s.dir("pids", &[]);
        fs::create_dir(pids.join("pids.current")).unwrap();
        let dirs = BTreeMap::from([("pids".to_string(), pids.clone())]);
        match read_v1(&dirs).unwrap_err() {
            CgroupError::Io { op, path, errno } => {
                assert_eq!(op, "read");
                assert_eq!(path, pids.join("pids.current"));
                assert_eq!(errno, Errno(libc::EISDIR));
            }
            other => panic!("unexpected {other}"),
        }
    }

    const V2_MEMORY_STAT: &str = "anon 1327104\nfile 4096000\nkernel 606208\n\
        kernel_stack 32768\npagetables 90112\nsock 0\nshmem 0\nfile_mapped 0\n\
        file_dirty 0\nfile_writeback 0\nswapcached 0\ninactive_anon 1323008\n\
        active_anon 4096\ninactive_file 4096000\nactive_file 0\nunevictable 0\n\
        pgfault 1833\npgmajfault 0\n";

    fn v2_tree(s: &Scratch) -> PathBuf {
        s.dir(
            "unified/ctr",
            &[
                (
                    "cgroup.controllers",
                    "cpuset cpu io memory hugetlb pids rdma misc\n",
                ),
                ("cgroup.procs", "101\n102\n"),
                (
                    "cpu.stat",
                    "usage_usec 40123456\nuser_usec 25000000\nsystem_usec 15123456\n\
                     core_sched.force_idle_usec 0\nnr_periods 120\nnr_throttled 7\n\
                     throttled_usec 35000\nnr_bursts 0\nburst_usec 0\n",
                ),
                (
                    "cpu.pressure",
                    "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\n\
                     full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
                ),
                ("memory.stat", V2_MEMORY_STAT),
                ("memory.current", "5423104\n"),
                ("memory.max", "268435456\n"),
                ("memory.peak", "8015872\n"),
                ("memory.swap.current", "1048576\n"),
                ("memory.swap.max", "max\n"),
                (
                    "memory.events",
                    "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n",
                ),
                ("pids.current", "2\n"),
                ("pids.max", "max\n"),
                (
                    "io.stat",
                    "8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n\
                     253:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
                ),
                ("hugetlb.2MB.current", "2097152\n"),
                ("hugetlb.2MB.max", "max\n"),
                ("hugetlb.2MB.events", "max 3\n"),
                ("hugetlb.2MB.events.local", "max 3\n"),
                ("hugetlb.2MB.rsvd.current", "4194304\n"),
                ("hugetlb.2MB.rsvd.max", "max\n"),
                ("hugetlb.1GB.current", "0\n"),
                ("hugetlb.1GB.max", "max\n"),
                ("hugetlb.1GB.events", "max 0\n"),
                ("hugetlb.1GB.rsvd.current", "0\n"),
                ("hugetlb.1GB.rsvd.max", "max\n"),
            ],
        )
    }

    #[test]
    fn v2_json_has_runc_shape() {
        let s = Scratch::new("v2");
        let dir = v2_tree(&s);
        let stats = read_v2(&dir).unwrap();
        let got = serde_json::to_value(Event::stats("ctr", stats)).unwrap();
        let want = json!({
            "type": "stats",
            "id": "ctr",
            "data": {
                "cpu": {
                    "usage": {"total": 40123456000u64, "kernel": 15123456000u64, "user": 25000000000u64},
                    "throttling": {"periods": 120, "throttledPeriods": 7, "throttledTime": 35000000},
                    "psi": {
                        "some": {"avg10": 1.5, "avg60": 0.25, "avg300": 0, "total": 123456}
                    }
                },
                "cpuset": {
                    "cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0,
                    "memory_migrate": 0, "memory_spread_page": 0, "memory_spread_slab": 0,
                    "memory_pressure": 0, "sched_load_balance": 0, "sched_relax_domain_level": 0
                },
                "memory": {
                    "cache": 4096000,
                    "usage": {"limit": 268435456, "usage": 5423104, "max": 8015872, "failcnt": 0},
                    "swap": {"limit": u64::MAX, "usage": 6471680, "failcnt": 0},
                    "raw": {
                        "active_anon": 4096, "active_file": 0, "anon": 1327104,
                        "file": 4096000, "file_dirty": 0, "file_mapped": 0,
                        "file_writeback": 0, "inactive_anon": 1323008,
                        "inactive_file": 4096000, "kernel": 606208,
                        "kernel_stack": 32768, "pagetables": 90112, "pgfault": 1833,
                        "pgmajfault": 0, "shmem": 0, "sock": 0, "swapcached": 0,
                        "unevictable": 0
                    }
                },
                "pids": {"current": 2},
                "blkio": {
                    "ioServiceBytesRecursive": [
                        {"major": 8, "minor": 16, "op": "Read", "value": 1459200},
                        {"major": 8, "minor": 16, "op": "Write", "value": 314773504},
                        {"major": 253, "op": "Read", "value": 4096},
                        {"major": 253, "op": "Write"}
                    ],
                    "ioServicedRecursive": [
                        {"major": 8, "minor": 16, "op": "Read", "value": 192},
                        {"major": 8, "minor": 16, "op": "Write", "value": 353},
                        {"major": 253, "op": "Read", "value": 1},
                        {"major": 253, "op": "Write"}
                    ]
                },
                "hugetlb": {
                    "1GB": {"failcnt": 0},
                    "2MB": {"usage": 4194304, "failcnt": 3}
                },
                "intel_rdt": {},
                "network_interfaces": null
            }
        });
        assert_eq!(
            got,
            want,
            "got {}",
            serde_json::to_string_pretty(&got).unwrap()
        );
        // Go prints a whole float without a fraction.
        let text = serde_json::to_string(&got["data"]["cpu"]["psi"]).unwrap();
        assert!(text.contains("\"avg300\":0,"), "{text}");
        assert_eq!(oom_kill_count(None, Some(&dir)), 1);
    }

    #[test]
    fn v2_swap_limit_is_sum_and_pids_fallback() {
        let s = Scratch::new("v2-swap");
        let dir = s.dir(
            "ctr",
            &[
                ("cgroup.procs", "7\n8\n9\n"),
                ("memory.current", "100\n"),
                ("memory.max", "1000\n"),
                ("memory.swap.current", "10\n"),
                ("memory.swap.max", "500\n"),
                ("hugetlb.2MB.current", "0\n"),
                ("hugetlb.2MB.events", "max 0\n"),
            ],
        );
        let stats = read_v2(&dir).unwrap();
        assert_eq!(
            stats.memory.swap,
            MemoryEntry {
                limit: 1500,
                usage: 110,
                max: 0,
                failcnt: 0
            }
        );
        assert_eq!(
            stats.pids,
            Pids {
                current: 3,
                limit: 0
            }
        );
        // No rsvd files: the plain counter.
        assert_eq!(stats.hugetlb["2MB"], Hugetlb::default());
        assert!(stats.cpu.psi.is_none());
    }

    #[test]
    fn hybrid_takes_hugetlb_from_v2() {
        let s = Scratch::new("hybrid");
        let mut v1 = v1_tree(&s);
        v1.remove("hugetlb");
        let v2 = v2_tree(&s);
        let got = serde_json::to_value(read_hybrid(&v1, Some(&v2)).unwrap()).unwrap();
        assert_eq!(
            got["hugetlb"],
            json!({"1GB": {"failcnt": 0}, "2MB": {"usage": 4194304, "failcnt": 3}})
        );
        // Everything else still from v1: no PSI, cpuacct's percpu, memsw.
        assert_eq!(got["cpu"]["usage"]["total"], json!(40123456789u64));
        assert!(got["cpu"].get("psi").is_none());
        assert_eq!(got["memory"]["usage"]["failcnt"], json!(3));
        assert_eq!(got["pids"], json!({"current": 4}));

        // pids from v2 when v1 has none and v2 has the controller.
        v1.remove("pids");
        let got = read_hybrid(&v1, Some(&v2)).unwrap();
        assert_eq!(
            got.pids,
            Pids {
                current: 2,
                limit: 0
            }
        );

        // v1 hugetlb wins when v1 has it; no v2 at all is plain v1.
        let v1 = v1_tree(&s);
        let with = read_hybrid(&v1, Some(&v2)).unwrap();
        assert_eq!(with.hugetlb["2MB"].max, 6291456);
        assert_eq!(read_hybrid(&v1, None).unwrap(), read_v1(&v1).unwrap());
    }

    #[test]
    fn events_serialize_like_runc() {
        let oom = serde_json::to_string(&Event::oom("abc")).unwrap();
        assert_eq!(oom, r#"{"type":"oom","id":"abc"}"#);
        let back: Event = serde_json::from_str(&oom).unwrap();
        assert_eq!(back, Event::oom("abc"));

        let mut stats = Stats::default();
        stats.memory.usage.usage = 5;
        stats.network_interfaces = Some(vec![NetworkInterface {
            name: "eth0".to_string(),
            rx_bytes: 1,
            ..Default::default()
        }]);
        let v = serde_json::to_value(Event::stats("abc", stats.clone())).unwrap();
        assert_eq!(
            v["data"]["memory"],
            json!({"usage": {"limit": 0, "usage": 5, "failcnt": 0}})
        );
        assert_eq!(v["data"]["network_interfaces"][0]["Name"], json!("eth0"));
        assert_eq!(v["data"]["network_interfaces"][0]["RxBytes"], json!(1));
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back.data, Some(stats));
        assert_eq!(oom_kill_count(None, None), 0);
        assert_eq!(
            oom_kill_count(
                Some(Path::new("/nonexistent")),
                Some(Path::new("/nonexistent"))
            ),
            0
        );
    }

    /// The v1 directories of this process, from /proc/self/cgroup and the
    /// cgroup mounts of /proc/self/mountinfo.
    fn own_v1_dirs() -> BTreeMap<String, PathBuf> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        // (controllers of the mount, root of the mount, mount point)
        let mut mounts: Vec<(Vec<String>, String, PathBuf)> = Vec::new();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            if left.len() < 5 || right.len() < 3 || right[0] != "cgroup" {
                continue;
            }
            let controllers = right[2]
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains('='))
                .map(str::to_string)
                .collect();
            mounts.push((
                controllers,
                unescape(left[3]),
                PathBuf::from(unescape(left[4])),
            ));
        }
        let mut dirs = BTreeMap::new();
        let cgroup = fs::read_to_string("/proc/self/cgroup").unwrap();
        for line in cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(list), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if list.is_empty() {
                continue; // the v2 line
            }
            let wanted: Vec<&str> = list.split(',').filter(|c| !c.contains('=')).collect();
            if wanted.is_empty() {
                continue;
            }
            let Some((_, root, point)) = mounts
                .iter()
                .find(|(have, _, _)| wanted.iter().all(|w| have.iter().any(|h| h == w)))
            else {
                continue;
            };
            let rel = path
                .strip_prefix(root.as_str())
                .unwrap_or(path)
                .trim_start_matches('/');
            for c in wanted {
                dirs.insert(c.to_string(), point.join(rel));
            }
        }
        dirs
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    fn unescape(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let octal = b
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
            match octal {
                Some(d) if b[i] == b'\\' => {
                    let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                    out.push(u8::try_from(v).unwrap_or(b'?'));
                    i += 4;
                }
                _ => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn reads_this_hosts_own_v1_cgroup() {
        let dirs = own_v1_dirs();
        let Some(memory) = dirs.get("memory") else {
            eprintln!("no cgroup v1 memory hierarchy here; skipped");
            return;
        };
        let stats = read_v1(&dirs).unwrap();
        assert!(
            stats.memory.usage.usage > 0,
            "memory usage of {memory:?}: {stats:?}"
        );
        assert!(!stats.memory.raw.is_empty());
        let v: Value = serde_json::to_value(Event::stats("self", stats)).unwrap();
        assert!(v["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
        // Polling the OOM counter of a live cgroup works.
        let _ = oom_kill_count(Some(memory), None);

        // And the hybrid read, with this process's cgroup of the v2
        // hierarchy when there is one (its "0::" line).
        let unified = fs::read_to_string("/proc/self/cgroup")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("0::").map(str::to_string))
            .map(|p| Path::new("/sys/fs/cgroup/unified").join(p.trim_start_matches('/')))
            .filter(|d| d.join("cgroup.controllers").exists());
        let hybrid = read_hybrid(&dirs, unified.as_deref()).unwrap();
        assert!(hybrid.memory.usage.usage > 0);
    }
}
