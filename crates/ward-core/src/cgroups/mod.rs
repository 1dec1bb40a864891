//! cgroups: one manager for v1, v2 and hybrid hosts. It finds the host's
//! hierarchies, makes the container's cgroup in each, writes its limits,
//! puts init in it, freezes, reads stats, and removes it.
//!
//! Who owns the cgroup is the [`Driver`], chosen at create and kept in the
//! container's state: ward itself through cgroupfs, or systemd (a
//! transient scope over D-Bus, `systemd/`). The steps where they differ
//! (making the cgroup, placing init in it with its limits, changing the
//! limits, removing it, placing a restored process) dispatch on it;
//! everything else (freezing, stats, signals, exec's placement) is the same
//! cgroupfs work for both.

pub mod convert;
pub mod devices;
pub mod stats;
pub mod update;
pub mod v1;
pub mod v2;

mod apply;
pub mod systemd;
mod systemd_path;
#[cfg(test)]
mod test_util;
pub use apply::merge_resources;

use std::path::PathBuf;

use crate::sys::Errno;

/// One write of one cgroup file: the controller that owns it (v1: the
/// hierarchy it lives in; v2: the controller that must be enabled for it),
/// the file's name and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: String,
    pub file: String,
    pub value: String,
}

impl Write {
    pub fn new(controller: &str, file: &str, value: impl Into<String>) -> Write {
        Write {
            controller: controller.to_string(),
            file: file.to_string(),
            value: value.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A value refused before anything was written.
    #[error("{what}: {why}")]
    Invalid { what: String, why: String },
    /// The kernel refused a write.
    #[error("write {path} = {value:?}: {errno}")]
    Write {
        path: PathBuf,
        value: String,
        errno: Errno,
    },
    #[error("cgroup controller {0}: not available on this host")]
    MissingController(String),
    #[error("{op} {path}: {errno}")]
    Io {
        op: &'static str,
        path: PathBuf,
        errno: Errno,
    },
}

impl CgroupError {
    /// The kernel said no for lack of permission (a cgroup tree the caller
    /// doesn't own).
    pub fn is_permission(&self) -> bool {
        let errno = match self {
            CgroupError::Write { errno, .. } | CgroupError::Io { errno, .. } => errno.0,
            _ => return false,
        };
        matches!(errno, libc::EACCES | libc::EPERM | libc::EROFS)
    }

    /// A directory vanished under us (ENOENT).
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            CgroupError::Write { errno, .. } | CgroupError::Io { errno, .. } if errno.0 == libc::ENOENT
        )
    }

    pub fn invalid(what: impl Into<String>, why: impl Into<String>) -> Self {
        CgroupError::Invalid {
            what: what.into(),
            why: why.into(),
        }
    }
}

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only v1 hierarchies.
    V1,
    /// Only the unified (v2) hierarchy.
    V2,
    /// v1 controllers plus a v2 hierarchy (usually at /sys/fs/cgroup/unified).
    Hybrid,
}

/// The cgroup hierarchies mounted on the host.
#[derive(Debug, Clone, Default)]
pub struct Hierarchies {
    /// v1: controller (or `name=X`) -> mountpoint. Co-mounted controllers
    /// (cpu,cpuacct) map to the same mountpoint.
    pub v1: BTreeMap<String, PathBuf>,
    /// The cgroup2 mountpoint.
    pub v2: Option<PathBuf>,
}

impl Hierarchies {
    /// Reads the layout from /proc/self/mountinfo (the first mount of each
    /// hierarchy wins).
    pub fn detect() -> Result<Hierarchies, CgroupError> {
        let mounts = crate::procfs::mountinfo().map_err(|e| CgroupError::Io {
            op: "read",
            path: "/proc/self/mountinfo".into(),
            errno: Errno::from(e),
        })?;
        Ok(Self::from_mounts(&mounts))
    }

    pub fn from_mounts(mounts: &[crate::procfs::MountInfo]) -> Hierarchies {
        let mut h = Hierarchies::default();
        for m in mounts {
            match m.fstype.as_str() {
                "cgroup2" if h.v2.is_none() => h.v2 = Some(m.mount_point.clone()),
                "cgroup" => {
                    for opt in m.super_options.split(',') {
                        let is_ctrl = !opt.contains('=')
                            && !matches!(
                                opt,
                                "rw" | "ro"
                                    | "xattr"
                                    | "noprefix"
                                    | "clone_children"
                                    | "cpuset_v2_mode"
                            );
                        if is_ctrl || opt.starts_with("name=") {
                            h.v1.entry(opt.to_string())
                                .or_insert_with(|| m.mount_point.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        h
    }

    pub fn mode(&self) -> Mode {
        match (self.v1.is_empty(), self.v2.is_some()) {
            (true, _) => Mode::V2,
            (false, true) => Mode::Hybrid,
            (false, false) => Mode::V1,
        }
    }

    /// The controllers the v2 hierarchy offers (its root's cgroup.controllers).
    pub fn v2_controllers(&self) -> Vec<String> {
        self.v2
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join("cgroup.controllers")).ok())
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default()
    }
}

/// Who makes, limits and removes a container's cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// ward writes cgroupfs itself (runc's fs and fs2 managers).
    #[default]
    Cgroupfs,
    /// systemd owns it: a transient scope in a slice (`--systemd-cgroup`
    /// with a `slice:prefix:name` cgroupsPath), asked for over D-Bus; see
    /// `systemd/mod.rs`.
    Systemd,
}

/// A container's cgroup: its directory in each hierarchy. Stored in the
/// container's state so every later command finds it again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    /// Who owns it (state files of earlier versions: cgroupfs).
    #[serde(default)]
    pub driver: Driver,
    /// v1 controller -> directory.
    #[serde(default)]
    pub v1: BTreeMap<String, PathBuf>,
    /// The directory in the v2 hierarchy.
    #[serde(default)]
    pub v2: Option<PathBuf>,
    /// Whether the v2 directory carries the container's limits (pure v2),
    /// or only the controllers v1 lacks (hybrid).
    #[serde(default)]
    pub v2_only: bool,
}

/// The cgroup path of a container: `linux.cgroupsPath`, or /ward-<id>.
/// The default is flat, with a prefix: no parent to make and remove with
/// every container (22 cgroup mkdir/rmdir per container on a v1 host, and
/// subtree_control writes on v2), and no ID can name a host cgroup such as
/// `/user.slice`, whose processes delete would kill.
/// A path may not climb out of the hierarchy with "..". systemd's
/// `slice:prefix:name` form becomes the path systemd would give that scope.
pub fn container_path(cgroups_path: Option<&Path>, id: &str) -> Result<PathBuf, CgroupError> {
    let p = match cgroups_path {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => return Ok(PathBuf::from(format!("/ward-{id}"))),
    };
    let s = p.to_string_lossy();
    if p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(CgroupError::invalid(
            format!("linux.cgroupsPath {s:?}"),
            "must not contain '..'",
        ));
    }
    if s.contains(':') {
        return systemd_path::systemd_path(&s);
    }
    Ok(p)
}

fn join_below(mount: &Path, own: Option<&PathBuf>, path: &Path) -> PathBuf {
    let rel = path.strip_prefix("/").unwrap_or(path);
    if path.is_absolute() {
        mount.join(rel)
    } else {
        let base = own
            .map(|o| o.strip_prefix("/").unwrap_or(o).to_path_buf())
            .unwrap_or_default();
        mount.join(base).join(rel)
    }
}

impl Cgroup {
    /// Where the container's cgroup is (or will be) in every hierarchy.
    pub fn locate(h: &Hierarchies, path: &Path, driver: Driver) -> Cgroup {
        // Relative cgroupsPath values are taken below our own, as runc does.
        let (own_v1, own_v2) = crate::procfs::own_cgroups();
        let v1 =
            h.v1.iter()
                .map(|(ctrl, mount)| (ctrl.clone(), join_below(mount, own_v1.get(ctrl), path)))
                .collect();
        let v2 = h.v2.as_ref().map(|m| join_below(m, own_v2.as_ref(), path));
        Cgroup {
            driver,
            v1,
            v2,
            v2_only: h.mode() == Mode::V2,
        }
    }

    /// Each distinct directory once (co-mounted v1 controllers share one).
    pub fn dirs(&self) -> Vec<&PathBuf> {
        let mut d: Vec<&PathBuf> = self.v1.values().collect();
        d.extend(self.v2.as_ref());
        d.sort();
        d.dedup();
        d
    }

    /// The directory whose cgroup.procs lists the container's processes.
    pub fn procs_dir(&self) -> Option<&PathBuf> {
        if self.v2_only {
            return self.v2.as_ref();
        }
        ["pids", "memory", "freezer", "cpu", "devices"]
            .iter()
            .find_map(|c| self.v1.get(*c))
            .or_else(|| self.v1.values().next())
            .or(self.v2.as_ref())
    }

    /// The pids of every process in the container's cgroup.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let Some(dir) = self.procs_dir() else {
            return Ok(vec![]);
        };
        let path = dir.join("cgroup.procs");
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect()),
            // ENODEV: the cgroup is being removed as we read it (systemd
            // removes an emptied scope's cgroup on its own): none left.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENODEV) =>
            {
                Ok(vec![])
            }
            Err(e) => Err(CgroupError::Io {
                op: "read",
                path,
                errno: Errno::from(e),
            }),
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CgroupError + 'a {
    move |e| CgroupError::Io {
        op,
        path: path.to_path_buf(),
        errno: Errno::from(e),
    }
}

/// Writes `value` to `dir/file`, with an error naming both.
pub fn write_file(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    // Never O_CREAT: a file the kernel doesn't have must say ENOENT.
    let res = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, value.as_bytes()));
    res.map_err(|e| CgroupError::Write {
        path,
        value: value.to_string(),
        errno: Errno::from(e),
    })
}

/// mkdir -p for a v1 cpuset directory, copying cpus and mems down from the
/// parent into every new level: a new cpuset cgroup starts empty, and a
/// process can't join an empty one.
fn mkdir_cpuset(dir: &Path) -> Result<(), CgroupError> {
    // Concurrent creates share parents (/ward) and a delete may remove an
    // empty one between our steps: a few tries settle it.
    let mut last = None;
    for _ in 0..5 {
        match mkdir_cpuset_once(dir) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("an error"))
}

fn cpuset_filled(dir: &Path) -> bool {
    ["cpuset.cpus", "cpuset.mems"]
        .iter()
        .all(|f| std::fs::read_to_string(dir.join(f)).is_ok_and(|v| !v.trim().is_empty()))
}

fn mkdir_cpuset_once(dir: &Path) -> Result<(), CgroupError> {
    // A directory that exists may still be empty: another create may have
    // made it an instant ago and not filled it yet. Fill it in any case.
    if cpuset_filled(dir) {
        return Ok(());
    }
    let parent = dir
        .parent()
        .ok_or_else(|| CgroupError::invalid("cpuset", "no parent"))?;
    mkdir_cpuset_once(parent)?;
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err("mkdir", dir)(e)),
    }
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let cur = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        if cur.trim().is_empty() {
            let v =
                std::fs::read_to_string(parent.join(f)).map_err(io_err("read", &parent.join(f)))?;
            write_file(dir, f, v.trim())?;
        }
    }
    Ok(())
}

impl Cgroup {
    /// Puts the calling process into every v1 hierarchy (and v2, when
    /// `v2_too`). Call it only from a single-threaded process (ward's
    /// forked children).
    ///
    /// v1 takes `0` (the caller) written to `tasks`: moving one thread the
    /// kernel needs no lock on the whole thread group, whereas a write to
    /// `cgroup.procs` write-locks `cgroup_threadgroup_rwsem`, which waits for
    /// an RCU grace period (measured here: 11-15 ms against 0.02 ms for
    /// `tasks`, on a loaded 2-core host). For a single-threaded process the
    /// two mean the same. v2 has no such file; clone3 places the child there.
    pub fn join_self(&self, v2_too: bool) -> Result<(), CgroupError> {
        let mut dirs: Vec<&PathBuf> = self.v1.values().collect();
        dirs.sort();
        dirs.dedup();
        for d in dirs {
            write_file(d, "tasks", "0")?;
        }
        if let Some(d) = self.v2.as_ref().filter(|_| v2_too) {
            write_file(d, "cgroup.procs", "0")?;
        }
        Ok(())
    }

    fn freezer(&self) -> Option<(PathBuf, bool)> {
        if let Some(d) = self.v1.get("freezer") {
            Some((d.clone(), true))
        } else {
            self.v2
                .as_ref()
                .filter(|d| d.join("cgroup.freeze").exists())
                .map(|d| (d.clone(), false))
        }
    }

    /// Whether the container is frozen (paused).
    pub fn is_frozen(&self) -> bool {
        match self.freezer() {
            Some((d, true)) => {
                std::fs::read_to_string(d.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
            }
            Some((d, false)) => {
                std::fs::read_to_string(d.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
            }
            None => false,
        }
    }

    /// Freezes or thaws every process, and waits until the kernel says done.
    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        let (dir, v1) = self
            .freezer()
            .ok_or_else(|| CgroupError::MissingController("freezer".into()))?;
        let (file, value, done_file, done) = if v1 {
            let v = if frozen { "FROZEN" } else { "THAWED" };
            ("freezer.state", v, "freezer.state", v.to_string())
        } else {
            let v = if frozen { "1" } else { "0" };
            ("cgroup.freeze", v, "cgroup.events", format!("frozen {v}"))
        };
        for _ in 0..1000 {
            // v1 may fall back to FREEZING under load: writing again retries.
            write_file(&dir, file, value)?;
            let now = std::fs::read_to_string(dir.join(done_file)).unwrap_or_default();
            if now.lines().any(|l| l.trim() == done) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Err(CgroupError::invalid(
            dir.join(file).display().to_string(),
            format!("did not reach {done}"),
        ))
    }

    /// Sends `sig` to every process in the cgroup.
    pub fn signal_all(&self, sig: i32) -> Result<(), CgroupError> {
        for pid in self.pids()? {
            // The pid was listed in the container's cgroup.procs just now
            // (the usual kill-by-pid window). Any signal, real-time ones too.
            let _ = crate::sys::kill(pid, sig);
        }
        if sig == libc::SIGKILL && self.is_frozen() {
            // Frozen tasks die only once thawed.
            let _ = self.freeze(false);
        }
        Ok(())
    }

    /// Kills every process left and waits (bounded) until the cgroup is empty.
    pub fn kill_all_and_wait(&self) -> Result<(), CgroupError> {
        for _ in 0..500 {
            let pids = self.pids()?;
            if pids.is_empty() {
                return Ok(());
            }
            self.signal_all(libc::SIGKILL)?;
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(CgroupError::invalid(
            "cgroup",
            "processes survived SIGKILL for 5 s",
        ))
    }

    /// Moves process `pid` (all its threads) into the cgroup, in every
    /// hierarchy: restore puts CRIU there, so that what it restores is
    /// born in the container's cgroup.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        match self.driver {
            Driver::Systemd => Err(CgroupError::invalid(
                "--systemd-cgroup",
                "the systemd driver does not place restored containers yet",
            )),
            Driver::Cgroupfs => {
                for d in self.dirs() {
                    write_file(d, "cgroup.procs", &pid.to_string())?;
                }
                Ok(())
            }
        }
    }

    /// Kills every process in the cgroup, waits for them, and removes it.
    pub fn remove(&self) -> Result<(), CgroupError> {
        self.kill_all_and_wait()?;
        match self.driver {
            Driver::Cgroupfs => self.destroy(),
            Driver::Systemd => {
                // systemd removes the scope's cgroups (v2, and the v1
                // hierarchies it manages); ward the v1 ones it made.
                systemd::stop(&self.systemd_unit()?.0)?;
                self.destroy()?;
                self.remove_unmanaged_slices();
                Ok(())
            }
        }
    }

    /// Removes the directories (the processes must be gone), and a `ward`
    /// parent when it is left empty: ward's earlier default was
    /// `/ward/<id>`, and containers made by it still have that path.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let mut first_err = None;
        for d in self.dirs() {
            if let Err(e) = rmdir_retry(d) {
                first_err.get_or_insert(e);
            }
            if let Some(parent) = d
                .parent()
                .filter(|p| p.file_name().is_some_and(|n| n == "ward"))
            {
                let _ = std::fs::remove_dir(parent);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

pub(super) fn mkdir_p(dir: &Path) -> Result<(), CgroupError> {
    // A concurrent delete may remove an empty shared parent between our
    // mkdirs: try again.
    let mut last = None;
    for _ in 0..5 {
        match std::fs::create_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(io_err("mkdir", dir)(last.expect("an error")))
}

/// rmdir of a cgroup can fail with EBUSY while its last task is still
/// exiting: retry for a short, bounded while.
fn rmdir_retry(dir: &Path) -> Result<(), CgroupError> {
    for _ in 0..200 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(e) => return Err(io_err("remove cgroup", dir)(e)),
        }
    }
    Err(CgroupError::Io {
        op: "remove cgroup",
        path: dir.to_path_buf(),
        errno: Errno(libc::EBUSY),
    })
}

#[cfg(test)]
mod tests {
    fn parse_hier(text: &str) -> Hierarchies {
        Hierarchies::from_mounts(&crate::procfs::parse_mountinfo(text))
    }

    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";

    #[test]
    fn detects_modes() {
        let h = parse_hier(HYBRID);
        assert_eq!(h.mode(), Mode::Hybrid);
        assert_eq!(h.v1["cpu"], PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(
            h.v1["name=systemd"],
            PathBuf::from("/sys/fs/cgroup/systemd")
        );
        assert!(!h.v1.contains_key("xattr"));
        assert_eq!(h.v2.as_deref(), Some(Path::new("/sys/fs/cgroup/unified")));
        let v2 = parse_hier("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate");
        assert_eq!(v2.mode(), Mode::V2);
        let v1 =
            parse_hier("32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct");
        assert_eq!(v1.mode(), Mode::V1);
        assert_eq!(
            v1.v1["cpuacct"],
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
    }

    #[test]
    fn paths() {
        assert_eq!(
            container_path(None, "c1").unwrap(),
            PathBuf::from("/ward-c1")
        );
        assert_eq!(
            container_path(Some(Path::new("/a/b")), "c1").unwrap(),
            PathBuf::from("/a/b")
        );
        assert_eq!(
            container_path(Some(Path::new("system.slice:ward:c1")), "c1").unwrap(),
            PathBuf::from("/system.slice/ward-c1.scope")
        );
        for bad in ["/../x", "a/../../b", "/a/..", "system.slice:ward"] {
            assert!(container_path(Some(Path::new(bad)), "c1").is_err(), "{bad}");
        }
        assert_eq!(
            join_below(
                Path::new("/sys/fs/cgroup/memory"),
                Some(&PathBuf::from("/user/me")),
                Path::new("rel/c")
            ),
            PathBuf::from("/sys/fs/cgroup/memory/user/me/rel/c")
        );
        assert_eq!(
            join_below(
                Path::new("/sys/fs/cgroup/memory"),
                Some(&PathBuf::from("/user/me")),
                Path::new("/abs/c")
            ),
            PathBuf::from("/sys/fs/cgroup/memory/abs/c")
        );
    }
}
