//! The systemd cgroup driver: with `--systemd-cgroup` and a
//! `slice:prefix:name` cgroupsPath, the container's cgroup is a transient
//! scope `prefix-name.scope` in the slice, which systemd makes, knows and
//! keeps (`systemctl status` shows it), asked for over D-Bus
//! (StartTransientUnit) with `Delegate=yes`, the container's first process
//! as its PID and the resources as unit properties where systemd has them
//! ([`properties`]; docs/cgroups.md has the table). ward then writes every
//! limit to the cgroup files itself too, as runc does: the exact values
//! (systemd rounds some, such as the CPU quota to 10 ms per second) and
//! what systemd has no property for.
//!
//! systemd makes the scope's cgroup only when it gets a pid, so init can't
//! be cloned into it: with this driver init is cloned outside, waits for
//! `Go` before its setup, and the parent starts the scope with its pid
//! ([`Cgroup::place`]) in between. A slice that doesn't exist is made by
//! systemd on the way (slices need no unit file).
//!
//! Hosts without systemd: `--systemd-cgroup` fails create with one line, as
//! runc 1.1.5 does ("systemd not running on this host").

pub mod dbus;

use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::LinuxResources;

use super::{convert, devices, Cgroup, CgroupError, Hierarchies};
use dbus::{Arg, Conn, DbusError, Value};

/// How long ward waits for systemd (per read or write, and for a job).
const TIMEOUT: Duration = Duration::from_secs(30);

/// systemd's "infinity" for a u64 property.
const INFINITY: u64 = u64::MAX;

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The manager's private socket: the system instance's for root, the
/// user's own instance's otherwise (rootless).
pub fn socket_path() -> PathBuf {
    match euid() {
        0 => PathBuf::from("/run/systemd/private"),
        uid => PathBuf::from(format!("/run/user/{uid}/systemd/private")),
    }
}

/// Whether systemd runs this host (sd_booted: /run/systemd/system is
/// there), and, for a rootless caller, whether its user instance runs.
// Out of line and cold, here and below: the systemd driver's code must not
// grow (and spread over more pages) the functions of the cgroupfs path it
// is called from.
#[cold]
#[inline(never)]
pub fn check_running() -> Result<(), CgroupError> {
    if !Path::new("/run/systemd/system").is_dir() {
        return Err(CgroupError::invalid(
            "--systemd-cgroup",
            "systemd is not running on this host (no /run/systemd/system): the systemd cgroup driver needs it",
        ));
    }
    let sock = socket_path();
    if euid() != 0 && !sock.exists() {
        return Err(CgroupError::invalid(
            "--systemd-cgroup",
            format!(
                "the user's systemd instance is not running (no {}): rootless containers under systemd need it",
                sock.display()
            ),
        ));
    }
    Ok(())
}

/// Whether a systemd manager to talk to is here. A container that an
/// earlier ward made with `--systemd-cgroup` on a host without systemd
/// (it wrote cgroupfs at systemd's path then) has no unit: its update and
/// delete work on the files alone.
fn manager_here() -> bool {
    Path::new("/run/systemd/system").is_dir() && socket_path().exists()
}

/// Where the calling user's systemd instance keeps its units, below the
/// root (systemd's fixed layout): "" for root's system instance.
pub fn manager_prefix() -> PathBuf {
    match euid() {
        0 => PathBuf::new(),
        uid => PathBuf::from(format!("user.slice/user-{uid}.slice/user@{uid}.service")),
    }
}

/// The unit and the slice it is in, from the cgroup path systemd_path()
/// made (`/a.slice/a-b.slice/p-n.scope` → ("p-n.scope", "a-b.slice")).
///
/// The unit is a scope, or, when the name part of `slice:prefix:name` is
/// itself a slice, that slice (as in runc: kubelet names pod cgroups so).
/// systemd places a slice by its name (`a-b-c.slice` in `a-b.slice`), so
/// such a name must belong where the path puts it: `machine.slice:p:
/// machine-pod1.slice` is right, `machine.slice:p:pod1.slice` is refused
/// (systemd would make `/pod1.slice`; runc then used a directory systemd
/// doesn't know).
pub fn unit_of(path: &Path) -> Result<(String, String), CgroupError> {
    let bad = |why: &str| CgroupError::invalid(format!("systemd cgroup {}", path.display()), why);
    let unit = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| bad("no unit name"))?;
    let slice = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .filter(|n| n.ends_with(".slice"))
        .unwrap_or("-.slice");
    if let Some(base) = unit.strip_suffix(".slice") {
        let parent = match base.rsplit_once('-') {
            Some((p, _)) => format!("{p}.slice"),
            None => "-.slice".to_string(),
        };
        if base.is_empty() || base == "-" || parent != slice {
            return Err(bad(&format!(
                "systemd puts the slice {unit} in {parent}, not in {slice}: name it {}-NAME.slice",
                slice.trim_end_matches(".slice")
            )));
        }
    } else if !unit.ends_with(".scope") {
        return Err(bad("the unit must be a .scope or a .slice"));
    }
    Ok((unit.to_string(), slice.to_string()))
}

fn sd_err(op: &str, unit: &str, e: DbusError) -> CgroupError {
    CgroupError::invalid(format!("systemd {op} {unit}"), e.to_string())
}

/// A CPU or node list ("0-3,6") as systemd's bit mask bytes; None for
/// the kernel's `:used/group` strides, which only the files get.
fn mask_bytes(list: &str) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    for item in list.trim().split(',') {
        if item.contains(':') {
            return None;
        }
        let (a, b) = match item.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<usize>().ok()?,
                b.trim().parse::<usize>().ok()?,
            ),
            None => {
                let n = item.trim().parse::<usize>().ok()?;
                (n, n)
            }
        };
        if a > b || b >= 1 << 16 {
            return None;
        }
        for n in a..=b {
            if out.len() <= n / 8 {
                out.resize(n / 8 + 1, 0);
            }
            out[n / 8] |= 1 << (n % 8);
        }
    }
    Some(out)
}

/// The unit properties for `r`: systemd's names for what it has. `v2`:
/// the unified hierarchy's names (MemoryMax, CPUWeight, IOWeight, ...);
/// otherwise the legacy ones (MemoryLimit, CPUShares, BlockIOWeight).
/// Device rules are not among them ([`device_properties`]: set once, at
/// the start).
pub fn properties(r: &LinuxResources, v2: bool) -> Result<Vec<(&'static str, Value)>, CgroupError> {
    let mut p: Vec<(&'static str, Value)> = Vec::new();
    let limit = |v: i64| if v < 0 { INFINITY } else { v as u64 };
    if let Some(m) = r.memory() {
        let lim = convert::nz(m.limit());
        if let Some(l) = lim {
            p.push((
                if v2 { "MemoryMax" } else { "MemoryLimit" },
                Value::U64(limit(l)),
            ));
        }
        if v2 {
            if let Some(res) = convert::nz(m.reservation()).filter(|v| *v > 0) {
                p.push(("MemoryLow", Value::U64(res as u64)));
            }
            if let Some(s) = convert::swap_v2(lim, convert::nz(m.swap()))? {
                let v = if s == "max" {
                    INFINITY
                } else {
                    s.parse().unwrap_or(INFINITY)
                };
                p.push(("MemorySwapMax", Value::U64(v)));
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = convert::nz(c.shares()) {
            convert::check_cpu_shares(s)?;
            if v2 {
                p.push(("CPUWeight", Value::U64(convert::cpu_shares_to_weight(s))));
            } else {
                p.push(("CPUShares", Value::U64(s)));
            }
        }
        let period = convert::nz(c.period());
        if let Some(q) = convert::nz(c.quota()) {
            let per_sec = if q < 0 {
                INFINITY
            } else {
                // µs per second of CPU time, rounded up to systemd's 10 ms
                // steps (runc's rule); the cgroup file gets the exact value.
                let us = (q as u64).saturating_mul(1_000_000) / period.unwrap_or(100_000);
                us.div_ceil(10_000) * 10_000
            };
            p.push(("CPUQuotaPerSecUSec", Value::U64(per_sec)));
        }
        if let Some(per) = period {
            p.push(("CPUQuotaPeriodUSec", Value::U64(per)));
        }
        if v2 {
            if let Some(m) = c
                .cpus()
                .as_deref()
                .filter(|s| !s.is_empty())
                .and_then(mask_bytes)
            {
                p.push(("AllowedCPUs", Value::Bytes(m)));
            }
            if let Some(m) = c
                .mems()
                .as_deref()
                .filter(|s| !s.is_empty())
                .and_then(mask_bytes)
            {
                p.push(("AllowedMemoryNodes", Value::Bytes(m)));
            }
        }
    }
    if let Some(pids) = r.pids() {
        let l = pids.limit();
        p.push((
            "TasksMax",
            Value::U64(if l <= 0 { INFINITY } else { l as u64 }),
        ));
    }
    if let Some(b) = r.block_io() {
        if let Some(w) = convert::nz(b.weight()) {
            convert::check_blkio_weight("linux.resources.blockIO.weight", w)?;
            if v2 {
                p.push((
                    "IOWeight",
                    Value::U64(convert::blkio_weight_to_io_weight(w)),
                ));
            } else {
                p.push(("BlockIOWeight", Value::U64(w as u64)));
            }
        }
        if v2 {
            let lists = [
                ("IOReadBandwidthMax", b.throttle_read_bps_device()),
                ("IOWriteBandwidthMax", b.throttle_write_bps_device()),
                ("IOReadIOPSMax", b.throttle_read_iops_device()),
                ("IOWriteIOPSMax", b.throttle_write_iops_device()),
            ];
            for (name, list) in lists {
                let l: Vec<(String, u64)> = list
                    .iter()
                    .flatten()
                    .map(|d| (format!("/dev/block/{}:{}", d.major(), d.minor()), d.rate()))
                    .collect();
                if !l.is_empty() {
                    p.push((name, Value::StrU64s(l)));
                }
            }
        }
    }
    if v2 {
        if let Some(u) = r.unified() {
            for (key, name) in [("memory.high", "MemoryHigh"), ("memory.min", "MemoryMin")] {
                if let Some(v) = u.get(key) {
                    let v = v.trim();
                    let n = if v == "max" {
                        INFINITY
                    } else {
                        v.parse().map_err(|_| {
                            CgroupError::invalid(
                                format!("linux.resources.unified {key:?}"),
                                format!("{v:?} is not a number of bytes or \"max\""),
                            )
                        })?
                    };
                    p.push((name, Value::U64(n)));
                }
            }
        }
    }
    Ok(p)
}

/// DevicePolicy and DeviceAllow for the device rules of `r`
/// ([`devices::systemd_devices`]: on v2 what systemd can't say exactly is
/// widened, ward's own program next to systemd's keeping the rules; on v1
/// narrowed). None for a container without device rules, and rootless
/// (a user's systemd instance can't attach device programs; ward's rules
/// are then what they are with cgroupfs). Only at the start: `update`
/// never changes device rules, and DeviceAllow given again would add to
/// the unit's list.
pub fn device_properties(
    r: &LinuxResources,
    v2: bool,
) -> Result<Vec<(&'static str, Value)>, CgroupError> {
    let rules = devices::effective_rules(r.devices().as_deref().unwrap_or(&[]))?;
    let Some(sd) = devices::systemd_devices(&rules, v2).filter(|_| euid() == 0) else {
        return Ok(Vec::new());
    };
    Ok(vec![
        ("DevicePolicy", Value::Str(sd.policy.to_string())),
        ("DeviceAllow", Value::StrPairs(sd.allow)),
    ])
}

/// Starts `unit` in `slice` with `pid` in it (a scope; a slice gets no
/// PIDs, systemd has no such property for slices: the caller moves the
/// pid in); waits for the job.
fn start_unit(
    conn: &mut Conn,
    unit: &str,
    slice: &str,
    pid: i32,
    v2: bool,
    resources: Option<&LinuxResources>,
) -> Result<(), CgroupError> {
    let mut props: Vec<(&str, Value)> =
        vec![("Description", Value::Str(format!("ward container {unit}")))];
    if !unit.ends_with(".slice") {
        props.extend([
            ("Slice", Value::Str(slice.to_string())),
            ("PIDs", Value::U32s(vec![pid as u32])),
            ("Delegate", Value::Bool(true)),
        ]);
    }
    props.extend([
        // A scope's default dependencies would order it against shutdown
        // targets of the slice; runc turns them off too.
        ("DefaultDependencies", Value::Bool(false)),
        ("MemoryAccounting", Value::Bool(true)),
        ("CPUAccounting", Value::Bool(true)),
        ("TasksAccounting", Value::Bool(true)),
        (
            if v2 {
                "IOAccounting"
            } else {
                "BlockIOAccounting"
            },
            Value::Bool(true),
        ),
    ]);
    if let Some(r) = resources {
        props.extend(properties(r, v2)?);
        props.extend(device_properties(r, v2)?);
    }
    let body = conn
        .call(
            "StartTransientUnit",
            &[
                Arg::Str(unit),
                Arg::Str("fail"),
                Arg::Props(&props),
                Arg::NoAux,
            ],
        )
        .map_err(|e| sd_err("start", unit, e))?;
    let job = dbus::Reader::new(&body)
        .str()
        .map_err(|e| sd_err("start", unit, e))?;
    match conn
        .wait_job(&job)
        .map_err(|e| sd_err("start", unit, e))?
        .as_str()
    {
        "done" => Ok(()),
        other => Err(CgroupError::invalid(
            format!("systemd start {unit}"),
            format!("the job ended {other:?}"),
        )),
    }
}

/// Stops `unit` and clears a failed state; a unit that is gone already is
/// fine (systemd stops an emptied scope by itself).
#[cold]
#[inline(never)]
pub fn stop(unit: &str) -> Result<(), CgroupError> {
    if !manager_here() {
        return Ok(());
    }
    let mut conn = Conn::connect(&socket_path(), TIMEOUT).map_err(|e| sd_err("stop", unit, e))?;
    match conn.call("StopUnit", &[Arg::Str(unit), Arg::Str("replace")]) {
        Ok(body) => {
            let job = dbus::Reader::new(&body)
                .str()
                .map_err(|e| sd_err("stop", unit, e))?;
            conn.wait_job(&job).map_err(|e| sd_err("stop", unit, e))?;
        }
        Err(e) if e.name() == Some("org.freedesktop.systemd1.NoSuchUnit") => return Ok(()),
        Err(e) => return Err(sd_err("stop", unit, e)),
    }
    // A scope whose processes were killed can be left "failed"; reset, so
    // that it goes (an error here means it is gone already).
    let _ = conn.call("ResetFailedUnit", &[Arg::Str(unit)]);
    Ok(())
}

impl Cgroup {
    /// The scope's unit name and slice.
    #[cold]
    #[inline(never)]
    pub fn systemd_unit(&self) -> Result<(String, String), CgroupError> {
        let dir = self
            .v2
            .as_ref()
            .filter(|_| self.v2_only)
            .or_else(|| self.v1.values().next())
            .or(self.v2.as_ref())
            .ok_or_else(|| CgroupError::MissingController("cgroup".into()))?;
        unit_of(dir)
    }

    /// systemd driver: starts the scope with `pid` (the container's first
    /// process, waiting for `Go`) in it and the resources as properties,
    /// then does what systemd leaves: v1 hierarchies systemd doesn't
    /// manage (cpuset, freezer, ...), and every limit written to the files.
    #[cold]
    #[inline(never)]
    pub(super) fn place_systemd(
        &self,
        h: &Hierarchies,
        pid: i32,
        resources: Option<&LinuxResources>,
    ) -> Result<(), CgroupError> {
        let (unit, slice) = self.systemd_unit()?;
        let mut conn =
            Conn::connect(&socket_path(), TIMEOUT).map_err(|e| sd_err("start", &unit, e))?;
        start_unit(&mut conn, &unit, &slice, pid, self.v2_only, resources)?;
        crate::fault::point("systemd:started");
        let placed = (|| {
            if let (true, Some(v2)) = (unit.ends_with(".slice") && self.v2_only, &self.v2) {
                // A slice unit: its cgroup exists once it is active; the
                // pid goes in by ward's hand (runc's way too).
                super::mkdir_p(v2)?;
                super::write_file(v2, "cgroup.procs", &pid.to_string())?;
            }
            if !self.v2_only {
                self.make_dirs(h)?;
                for d in self.dirs() {
                    super::write_file(d, "cgroup.procs", &pid.to_string())?;
                }
            }
            if let Some(r) = resources {
                self.apply(h, r, false)?;
            }
            self.check_placed(pid)
        })();
        if placed.is_err() {
            let _ = stop(&unit);
        }
        placed
    }

    /// v1 hierarchies systemd doesn't manage (cpuset, freezer, net_cls, ...)
    /// got the scope's slices from ward's mkdir: they go again once empty,
    /// up to the first that isn't (another container's) or isn't a slice.
    pub(super) fn remove_unmanaged_slices(&self) {
        const MANAGED: [&str; 7] = [
            "cpu",
            "cpuacct",
            "blkio",
            "memory",
            "devices",
            "pids",
            "name=systemd",
        ];
        for (ctrl, dir) in &self.v1 {
            if ctrl.split(',').any(|c| MANAGED.contains(&c)) {
                continue;
            }
            for p in dir.ancestors().skip(1) {
                let slice = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".slice") && n != "-.slice");
                if !slice || std::fs::remove_dir(p).is_err() {
                    break;
                }
            }
        }
    }

    /// systemd put `pid` where ward expects the container's cgroup.
    fn check_placed(&self, pid: i32) -> Result<(), CgroupError> {
        let Some(v2) = self.v2.as_ref().filter(|_| self.v2_only) else {
            return Ok(());
        };
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let Some(path) = text.lines().find_map(|l| l.strip_prefix("0::")) else {
            return Ok(());
        };
        if v2.ends_with(path.trim_start_matches('/')) {
            Ok(())
        } else {
            Err(CgroupError::invalid(
                "systemd scope",
                format!(
                    "systemd placed the container in {path}, not in {}",
                    v2.display()
                ),
            ))
        }
    }

    /// systemd driver: the new limits as unit properties (kept over
    /// daemon-reload: SetUnitProperties with runtime=true), then the files.
    #[cold]
    #[inline(never)]
    pub(super) fn update_systemd(
        &self,
        h: &Hierarchies,
        r: &LinuxResources,
    ) -> Result<(), CgroupError> {
        let (unit, _) = self.systemd_unit()?;
        let props = properties(r, self.v2_only)?;
        if !props.is_empty() && manager_here() {
            let mut conn =
                Conn::connect(&socket_path(), TIMEOUT).map_err(|e| sd_err("update", &unit, e))?;
            conn.call(
                "SetUnitProperties",
                &[Arg::Str(&unit), Arg::Bool(true), Arg::Props(&props)],
            )
            .map_err(|e| sd_err("update", &unit, e))?;
        }
        self.apply(h, r, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unit_and_slice_from_the_path() {
        let u = |p: &str| unit_of(Path::new(p));
        assert_eq!(
            u("/sys/fs/cgroup/a.slice/a-b.slice/p-n.scope").unwrap(),
            ("p-n.scope".into(), "a-b.slice".into())
        );
        assert_eq!(
            u("/sys/fs/cgroup/p-n.scope").unwrap(),
            ("p-n.scope".into(), "-.slice".into())
        );
        // A slice as the unit: where systemd puts it by its name.
        assert_eq!(
            u("/sys/fs/cgroup/machine.slice/machine-pod1.slice").unwrap(),
            ("machine-pod1.slice".into(), "machine.slice".into())
        );
        assert_eq!(
            u("/sys/fs/cgroup/pod1.slice").unwrap(),
            ("pod1.slice".into(), "-.slice".into())
        );
        let e = u("/sys/fs/cgroup/machine.slice/x.slice").unwrap_err();
        assert!(
            e.to_string()
                .contains("systemd puts the slice x.slice in -.slice, not in machine.slice"),
            "{e}"
        );
        assert!(u("/sys/fs/cgroup/a.slice/a-b.slice/c.slice").is_err());
        assert!(u("/sys/fs/cgroup/a.slice/x.service").is_err());
    }

    #[test]
    fn masks() {
        assert_eq!(mask_bytes("0-3,9"), Some(vec![0x0f, 0x02]));
        assert_eq!(mask_bytes("1"), Some(vec![0x02]));
        assert_eq!(mask_bytes("0-7:2/4"), None);
    }

    #[test]
    fn properties_v2_and_v1() {
        let r: LinuxResources = serde_json::from_value(json!({
            "memory": {"limit": 104857600, "swap": 209715200, "reservation": 52428800},
            "cpu": {"shares": 512, "quota": 25000, "period": 100000, "cpus": "0-1", "mems": "0"},
            "pids": {"limit": 64},
            "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
            "unified": {"memory.high": "94371840"}
        }))
        .unwrap();
        let p = properties(&r, true).unwrap();
        let get = |n: &str| p.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        assert_eq!(get("MemoryMax"), Some(Value::U64(104857600)));
        assert_eq!(get("MemorySwapMax"), Some(Value::U64(104857600)));
        assert_eq!(get("MemoryLow"), Some(Value::U64(52428800)));
        assert_eq!(get("MemoryHigh"), Some(Value::U64(94371840)));
        assert_eq!(get("CPUWeight"), Some(Value::U64(59)));
        assert_eq!(get("CPUQuotaPerSecUSec"), Some(Value::U64(250000)));
        assert_eq!(get("CPUQuotaPeriodUSec"), Some(Value::U64(100000)));
        assert_eq!(get("AllowedCPUs"), Some(Value::Bytes(vec![3])));
        assert_eq!(get("AllowedMemoryNodes"), Some(Value::Bytes(vec![1])));
        assert_eq!(get("TasksMax"), Some(Value::U64(64)));
        assert_eq!(get("IOWeight"), Some(Value::U64(4950)));
        assert_eq!(
            get("IOReadBandwidthMax"),
            Some(Value::StrU64s(vec![("/dev/block/8:0".into(), 1048576)]))
        );
        let p = properties(&r, false).unwrap();
        let names: Vec<&str> = p.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "MemoryLimit",
                "CPUShares",
                "CPUQuotaPerSecUSec",
                "CPUQuotaPeriodUSec",
                "TasksMax",
                "BlockIOWeight"
            ]
        );
        // Rounding up to 10 ms per second; unlimited.
        let r: LinuxResources =
            serde_json::from_value(json!({"cpu": {"quota": 12345}, "pids": {"limit": -1}}))
                .unwrap();
        let p = properties(&r, true).unwrap();
        assert_eq!(p[0], ("CPUQuotaPerSecUSec", Value::U64(130000)));
        assert_eq!(p[1], ("TasksMax", Value::U64(INFINITY)));
    }
}
