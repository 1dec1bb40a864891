//! The eight namespace kinds: which ones a container gets new, which ones it
//! joins by path (opened by the parent, so a bad path fails before any fork),
//! and the user namespace's id maps.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

/// A path given for a namespace that is no namespace.
fn not_a_namespace(path: &std::path::Path, kind: LinuxNamespaceType) -> Error {
    Error::invalid(
        "linux.namespaces",
        format!(
            "namespace path {} for {}: not a namespace",
            path.display(),
            proc_name(kind)
        ),
    )
}

/// The clone flag of a namespace kind.
pub fn clone_flag(t: LinuxNamespaceType) -> u64 {
    (match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }) as u64
}

/// The name of a kind under /proc/PID/ns.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// A namespace to join: its kind and an open fd on it.
#[derive(Debug)]
pub struct Join {
    pub kind: LinuxNamespaceType,
    pub path: PathBuf,
    pub fd: OwnedFd,
}

/// What the container's namespaces will be.
#[derive(Debug, Default)]
pub struct Plan {
    /// CLONE_NEW* flags of the namespaces to create.
    pub new_flags: u64,
    /// Namespaces to join, user namespace first (joining it first gives the
    /// rights to join the others and makes it the owner of the new ones).
    pub joins: Vec<Join>,
    pub uid_map: String,
    pub gid_map: String,
    /// /proc/self/timens_offsets content, when the time namespace has offsets.
    pub time_offsets: Option<String>,
}

impl Plan {
    pub fn from_spec(spec: &Spec) -> Result<Plan> {
        let mut plan = Plan::default();
        let Some(linux) = spec.linux() else {
            return Ok(plan);
        };
        for ns in linux.namespaces().iter().flatten() {
            match ns.path() {
                None => plan.new_flags |= clone_flag(ns.typ()),
                Some(path) => {
                    let fd = open_ns(path, ns.typ())?;
                    check_ns_kind(&fd, ns.typ(), path)?;
                    plan.joins.push(Join {
                        kind: ns.typ(),
                        path: path.clone(),
                        fd,
                    });
                }
            }
        }
        plan.joins
            .sort_by_key(|j| j.kind != LinuxNamespaceType::User);
        plan.uid_map = format_map(linux.uid_mappings().as_deref());
        plan.gid_map = format_map(linux.gid_mappings().as_deref());
        if let Some(offsets) = linux.time_offsets().as_ref().filter(|o| !o.is_empty()) {
            let mut s = String::new();
            for (clock, off) in offsets {
                s.push_str(&format!(
                    "{clock} {} {}\n",
                    off.secs().unwrap_or(0),
                    off.nanosecs().unwrap_or(0)
                ));
            }
            plan.time_offsets = Some(s);
        }
        Ok(plan)
    }

    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        self.new_flags & clone_flag(t) != 0
    }

    pub fn joins_kind(&self, t: LinuxNamespaceType) -> bool {
        self.joins.iter().any(|j| j.kind == t)
    }

    /// Whether init can be cloned straight into its namespaces in one step.
    /// Joining by path needs setns first, and time offsets must be written
    /// before any process enters the new time namespace: both need a short-lived
    /// intermediate process that forks init.
    pub fn single_step(&self) -> bool {
        self.joins.is_empty() && self.time_offsets.is_none()
    }
}

/// Opens a namespace file given by path. The path is first opened with
/// O_PATH, which opens nothing behind it, and only reopened for reading once
/// it is known to be on nsfs: a FIFO would block the open forever, a device's
/// open (or the NS_GET_NSTYPE ioctl, a number it may read as its own) can
/// have side effects.
fn open_ns(path: &std::path::Path, kind: LinuxNamespaceType) -> Result<OwnedFd> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    use std::os::fd::AsRawFd;
    let o_path = open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::path("open namespace", path, e))?;
    let fs =
        nix::sys::statfs::fstatfs(&o_path).map_err(|e| Error::path("statfs namespace", path, e))?;
    if fs.filesystem_type().0 as u64 != libc::NSFS_MAGIC as u64 {
        return Err(not_a_namespace(path, kind));
    }
    let again = format!("/proc/self/fd/{}", o_path.as_raw_fd());
    open(
        again.as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::path("open namespace", path, e))
}

/// Refuses a path that is a namespace of another kind (e.g. a net ns given
/// as the uts ns), which setns would otherwise reject only in the child.
fn check_ns_kind(fd: &OwnedFd, kind: LinuxNamespaceType, path: &std::path::Path) -> Result<()> {
    use std::os::fd::AsFd;
    let Ok(t) = crate::sys::ns_type(fd.as_fd()) else {
        return Err(not_a_namespace(path, kind));
    };
    if t != clone_flag(kind) {
        return Err(Error::invalid(
            "linux.namespaces",
            format!(
                "namespace path {} is not a {} namespace",
                path.display(),
                proc_name(kind)
            ),
        ));
    }
    Ok(())
}

fn format_map(maps: Option<&[LinuxIdMapping]>) -> String {
    let mut s = String::new();
    for m in maps.unwrap_or(&[]) {
        s.push_str(&format!(
            "{} {} {}\n",
            m.container_id(),
            m.host_id(),
            m.size()
        ));
    }
    s
}

/// Writes the id maps of the user namespace of process `pid` (run by the parent,
/// which has the rights in the outer namespace).
pub fn write_id_maps(pid: i32, uid_map: &str, gid_map: &str) -> Result<()> {
    for (kind, map) in [("uid", uid_map), ("gid", gid_map)] {
        if map.is_empty() {
            continue;
        }
        if crate::sys::is_root() {
            write_map(pid, kind, map)?;
        } else {
            write_map_rootless(pid, kind, map)?;
        }
    }
    Ok(())
}

fn write_map(pid: i32, kind: &str, map: &str) -> Result<()> {
    let path = format!("/proc/{pid}/{kind}_map");
    std::fs::write(&path, map).map_err(|e| Error::path("write", &path, e))
}

/// Without root, the kernel lets a user map only its own id, once (and a
/// gid only after setgroups is denied); any other map goes through the
/// set-uid helpers newuidmap/newgidmap (Debian's uidmap), which check the
/// ranges /etc/subuid and /etc/subgid give the user.
fn write_map_rootless(pid: i32, kind: &str, map: &str) -> Result<()> {
    let own = if kind == "uid" {
        nix::unistd::geteuid().as_raw()
    } else {
        nix::unistd::getegid().as_raw()
    };
    let lines: Vec<Vec<&str>> = map
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    if let [line] = lines.as_slice() {
        if line.len() == 3 && line[1] == own.to_string() && line[2] == "1" {
            if kind == "gid" {
                let path = format!("/proc/{pid}/setgroups");
                std::fs::write(&path, "deny").map_err(|e| Error::path("write", &path, e))?;
            }
            return write_map(pid, kind, map);
        }
    }
    let helper = format!("new{kind}map");
    let out = std::process::Command::new(&helper)
        .arg(pid.to_string())
        .args(lines.iter().flatten())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            Error::sys(
                format!("{helper} (a rootless {kind} map other than your own {kind} alone needs it: Debian's uidmap package)"),
                e,
            )
        })?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let how = match out.status.code() {
            Some(c) => format!("exit status {c}"),
            None => out.status.to_string(),
        };
        return Err(Error::Protocol(format!(
            "{helper} {pid} {}: {how}: {}",
            lines
                .iter()
                .flatten()
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
            why.trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_of_a_spec() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "user"}, {"type": "uts"}],
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
                "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]
            }
        }))
        .unwrap();
        let plan = Plan::from_spec(&spec).unwrap();
        assert_eq!(
            plan.new_flags,
            (libc::CLONE_NEWPID | libc::CLONE_NEWUSER | libc::CLONE_NEWUTS) as u64
        );
        assert!(plan.single_step());
        assert_eq!(plan.uid_map, "0 1000 10\n");
        assert_eq!(plan.gid_map, "0 1000 1\n");
    }

    #[test]
    fn joining_a_non_namespace_fails_without_opening_it() {
        // A FIFO with no writer: opening it for reading would block forever.
        let dir = std::env::temp_dir().join(format!("ward-ns-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let file = dir.join("file");
        std::fs::write(&file, "x").unwrap();
        for path in [
            fifo.as_path(),
            file.as_path(),
            std::path::Path::new("/dev/null"),
        ] {
            let spec: Spec = serde_json::from_value(serde_json::json!({
                "linux": {"namespaces": [{"type": "network", "path": path}]}
            }))
            .unwrap();
            let err = Plan::from_spec(&spec).unwrap_err().to_string();
            assert!(err.contains("not a namespace"), "{}: {err}", path.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn joining_checks_the_kind() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "linux": {"namespaces": [{"type": "uts", "path": "/proc/self/ns/net"}]}
        }))
        .unwrap();
        let err = Plan::from_spec(&spec).unwrap_err().to_string();
        assert!(err.contains("not a uts namespace"), "{err}");
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "linux": {"namespaces": [{"type": "uts", "path": "/proc/self/ns/uts"}, {"type": "pid"}]}
        }))
        .unwrap();
        let plan = Plan::from_spec(&spec).unwrap();
        assert!(!plan.single_step());
        assert!(plan.joins_kind(LinuxNamespaceType::Uts));
    }
}
