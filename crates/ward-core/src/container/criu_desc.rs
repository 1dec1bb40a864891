//! How a container is described to CRIU, for checkpoint and restore alike:
//! which of its mounts come from outside (binds, the cgroup binds, masked
//! files, devices), which namespaces it joined by path, what its stdio is,
//! and the small record ward keeps beside the images
//! (`ward-checkpoint.json`), which restore reads back.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::{Deserialize, Serialize};

use crate::cgroups::{Cgroup, Hierarchies};
use crate::criu::rpc::ExtMountMap;
use crate::error::{Error, Result};
use crate::rootfs::options::MountOptions;

/// The file ward writes into the images directory.
pub(super) const META_FILE: &str = "ward-checkpoint.json";

/// One of init's stdio fds, as the checkpoint found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Stdio {
    pub fd: i32,
    /// What /proc/PID/fd/N says ("pipe:[123]", "/dev/null", ...).
    pub link: String,
    /// The key restore hands the caller's own fd to CRIU under
    /// (inherit_fd): a pipe's "pipe:[ino]", or a file outside the
    /// container's mounts, marked external at the dump ("file[mnt:ino]").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// For an outside regular file not opened for appending: its size at
    /// the dump. CRIU restores such a file only if it finds the same size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// For an outside file: its st_mode. CRIU reopens the restore's fd in
    /// its place only if that has the same type and permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// What ward knows of a checkpoint, beside CRIU's images.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Meta {
    /// "ward <version>".
    pub made_by: String,
    /// "dump" or "pre-dump".
    pub kind: String,
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub stdio: Vec<Stdio>,
    /// Whether process.terminal was set (the console comes back through
    /// CRIU's orphan-pts-master notification).
    #[serde(default)]
    pub terminal: bool,
    /// Whether init had no_new_privs (criu before 3.19 doesn't restore it:
    /// restore then starts CRIU with it, and the restored tasks inherit it).
    #[serde(default)]
    pub no_new_privs: bool,
    /// What the dump did with the network namespace ward made: "fresh"
    /// (it held nothing a fresh one doesn't: dumped empty, and restored
    /// as a fresh one with `lo` up if it was), "whole" (dumped and
    /// restored as it was) or "empty" (`--empty-ns network`). None for a
    /// container without a network namespace of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default)]
    pub lo_up: bool,
    /// Why the namespace was dumped whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_whole_because: Option<String>,
    /// The container's tmpfs mounts that were empty, named external at the
    /// dump; the restore mounts fresh ones in their place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fresh_tmpfs: Vec<FreshTmpfs>,
    pub created: String,
}

/// An empty tmpfs of the container's (a masked directory, /dev/shm, a
/// tmpfs mount of the spec's) that the dump names external instead of
/// having CRIU archive it: CRIU runs `tar` for every tmpfs, empty or
/// not, at the dump and again at the restore (about 70 ms each time in
/// the test VM, for each of the three a default container has). The
/// restore mounts a fresh one like it for CRIU to bind in its place: the
/// same empty file system, with the same options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FreshTmpfs {
    /// Where it is in the container.
    pub destination: String,
    /// The MS_* flags to mount it with.
    pub flags: u64,
    /// The file system's own options (size=, nr_inodes=, mode=...).
    pub data: String,
}

/// The tmpfs mounts of the container whose init is `pid` that hold
/// nothing now: no name in them, and no file of theirs open, mapped or
/// used as a directory by any of `procs` (a file unlinked but still open
/// lives on unseen). The container must be frozen, so that nothing
/// changes before CRIU dumps it. Not for a container with a user
/// namespace: a tmpfs that the restore mounts belongs to ward's.
pub(super) fn fresh_tmpfs(pid: i32, procs: &[i32]) -> Vec<FreshTmpfs> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")) else {
        return Vec::new();
    };
    let mounts = crate::procfs::parse_mountinfo(&text);
    let mut used = std::collections::BTreeSet::new();
    for p in procs {
        for l in ["cwd", "root"] {
            if let Ok(m) = std::fs::metadata(format!("/proc/{p}/{l}")) {
                used.insert(m.dev());
            }
        }
        if let Ok(rd) = std::fs::read_dir(format!("/proc/{p}/fd")) {
            for e in rd.flatten() {
                if let Ok(m) = std::fs::metadata(e.path()) {
                    used.insert(m.dev());
                }
            }
        }
        // "start-end perms offset major:minor inode path", in hex.
        for line in std::fs::read_to_string(format!("/proc/{p}/maps"))
            .unwrap_or_default()
            .lines()
        {
            let dev = line.split(' ').nth(3).and_then(|d| d.split_once(':'));
            if let Some((a, b)) = dev {
                if let (Ok(a), Ok(b)) = (u32::from_str_radix(a, 16), u32::from_str_radix(b, 16)) {
                    used.insert(libc::makedev(a, b));
                }
            }
        }
    }
    let mut out = Vec::new();
    for m in &mounts {
        if m.fstype != "tmpfs"
            || used.contains(&m.dev)
            || mounts
                .iter()
                .filter(|o| o.mount_point == m.mount_point || o.dev == m.dev)
                .count()
                != 1
        {
            continue;
        }
        let Some((flags, data)) = tmpfs_options(&m.mount_options, &m.super_options) else {
            continue;
        };
        let dir = Path::new(&format!("/proc/{pid}/root"))
            .join(m.mount_point.strip_prefix("/").unwrap_or(&m.mount_point));
        let on_it = std::fs::metadata(&dir).is_ok_and(|d| d.dev() == m.dev);
        let empty = std::fs::read_dir(&dir).is_ok_and(|mut rd| rd.next().is_none());
        if on_it && empty {
            out.push(FreshTmpfs {
                destination: m.mount_point.to_string_lossy().into_owned(),
                flags,
                data,
            });
        }
    }
    out
}

/// The MS_* flags a [`FreshTmpfs`] may carry (the record is read back
/// from the images directory: anything else, MS_BIND or MS_MOVE say, is
/// refused there).
pub(super) const TMPFS_FLAGS: u64 = (libc::MS_RDONLY
    | libc::MS_NOSUID
    | libc::MS_NODEV
    | libc::MS_NOEXEC
    | libc::MS_NOATIME
    | libc::MS_NODIRATIME
    | libc::MS_RELATIME
    | libc::MS_STRICTATIME
    | libc::MS_LAZYTIME
    | libc::MS_NOSYMFOLLOW
    | libc::MS_SYNCHRONOUS
    | libc::MS_DIRSYNC) as u64;

/// The flags and data to mount a tmpfs like one of mountinfo's, from its
/// mount's own options (field 6) and its super block's; None when the
/// mount's options hold something a mount(2) flag doesn't say.
fn tmpfs_options(mount: &str, sb: &str) -> Option<(u64, String)> {
    let m = MountOptions::parse(&mount.split(',').collect::<Vec<_>>());
    if !m.data.is_empty() || m.flags & !TMPFS_FLAGS != 0 {
        return None;
    }
    let sb = MountOptions::parse(
        &sb.split(',')
            .filter(|o| *o != "seclabel")
            .collect::<Vec<_>>(),
    );
    Some((m.flags | sb.flags, sb.data.join(",")))
}

impl Meta {
    pub fn write(&self, dir: &Path) -> Result<()> {
        let data = serde_json::to_vec_pretty(self).map_err(|e| Error::Other(e.to_string()))?;
        crate::state::write_atomic(&dir.join(META_FILE), &data, 0o600)
    }

    /// The record of a checkpoint ward made in `dir`, or why `dir` is not one.
    pub fn read(dir: &Path) -> Result<Meta> {
        let path = dir.join(META_FILE);
        match std::fs::read(&path) {
            Ok(d) => serde_json::from_slice(&d)
                .map_err(|e| Error::Other(format!("{}: damaged: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if dir.join("inventory.img").exists() {
                    Err(Error::Other(format!(
                        "{}: a checkpoint ward did not make ({META_FILE} is missing): restore it with the runtime that made it",
                        dir.display()
                    )))
                } else {
                    Err(Error::Other(format!(
                        "{}: no checkpoint there (no {META_FILE}, no inventory.img)",
                        dir.display()
                    )))
                }
            }
            Err(e) => Err(Error::path("read", path, e)),
        }
    }
}

/// The key CRIU's external namespace is known by (runc's names, so that
/// the images stay compatible in that respect).
pub(super) fn ns_key(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Network => "extRootNetNS",
        _ => "extRootPidNS",
    }
}

/// Namespaces joined by path, each with what CRIU does with it: network
/// and pid namespaces are external (left alone at the dump, the same path
/// given back at restore); the others are joined at restore.
pub(super) fn joined_namespaces(spec: &Spec) -> Result<Vec<(LinuxNamespaceType, PathBuf)>> {
    let mut v = Vec::new();
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(p) = ns.path() {
            if ns.typ() == LinuxNamespaceType::Cgroup {
                return Err(Error::Other(format!(
                    "linux.namespaces: a cgroup namespace joined by path ({}) can't be checkpointed: CRIU has no way to reconnect it",
                    p.display()
                )));
            }
            v.push((ns.typ(), p.clone()));
        }
    }
    Ok(v)
}

/// Whether the spec gives the container a network namespace of its own
/// (one ward makes, not one joined by path).
pub(super) fn has_own_netns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none())
        })
}

/// Whether the container has a user namespace (its own or joined).
pub(super) fn has_userns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|n| n.typ() == LinuxNamespaceType::User))
}

/// Whether the spec gives the container a mount namespace of its own.
pub(super) fn has_own_mntns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|n| n.typ() == LinuxNamespaceType::Mount))
}

fn creates_cgroupns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| {
            n.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Cgroup && n.path().is_none())
        })
}

pub(super) fn ext(key: impl Into<String>, val: impl Into<String>) -> ExtMountMap {
    ExtMountMap {
        key: key.into(),
        val: val.into(),
    }
}

/// Which end of the images a description is for.
#[derive(Clone, Copy)]
pub(super) enum Side<'a> {
    /// The dump of the container whose init is `pid`.
    Dump { pid: i32 },
    /// A restore into a container whose cgroup is `cgroup` (its cgroup
    /// binds point there, not at the checkpointed container's).
    Restore { cgroup: Option<&'a Cgroup> },
}

/// The mounts whose source is outside the container, as CRIU's external
/// mounts: at the dump each is named by its destination; at restore the
/// same name maps to a host path.
pub(super) fn external_mounts(
    spec: &Spec,
    bundle: &Path,
    side: Side<'_>,
    hier: &Hierarchies,
) -> Vec<ExtMountMap> {
    let (restoring, pid, restore_cgroup) = match side {
        Side::Dump { pid } => (false, Some(pid), None),
        Side::Restore { cgroup } => (true, None, cgroup),
    };
    let mut out = Vec::new();
    let cgroupns = creates_cgroupns(spec);
    for m in spec.mounts().iter().flatten() {
        let dest = m.destination().to_string_lossy().into_owned();
        let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
        let typ = m.typ().as_deref().unwrap_or("");
        if opts.bind || typ == "bind" {
            let val = if restoring {
                match m.source() {
                    Some(s) if s.is_absolute() => s.to_string_lossy().into_owned(),
                    Some(s) => bundle.join(s).to_string_lossy().into_owned(),
                    None => continue,
                }
            } else {
                dest.clone()
            };
            out.push(ext(&dest, val));
        } else if (typ == "cgroup" || typ == "cgroup2") && !cgroupns {
            // Without a cgroup namespace ward binds the container's own
            // cgroup directories (rootfs::cgroup_mount).
            for (sub, host) in cgroup_binds(Path::new(&dest), hier, restore_cgroup) {
                let val = if restoring {
                    match host {
                        Some(h) => h.to_string_lossy().into_owned(),
                        None => continue,
                    }
                } else {
                    sub.clone()
                };
                out.push(ext(sub, val));
            }
        }
    }
    // Masked files are binds of the null device.
    if let Some(masked) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.masked_paths().as_ref())
    {
        let mut any = false;
        for p in masked {
            let is_file = match pid {
                Some(pid) => {
                    std::fs::metadata(format!("/proc/{pid}/root{p}")).is_ok_and(|m| !m.is_dir())
                }
                None => true,
            };
            if is_file {
                any = true;
                if !restoring {
                    out.push(ext(p, "/dev/null"));
                }
            }
        }
        if restoring && any {
            out.push(ext("/dev/null", "/dev/null"));
        }
    }
    // Devices are made with mknod, or bound from the host's in a user
    // namespace; naming them all costs nothing when they are not mounts.
    for d in spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        let p = d.path().to_string_lossy().into_owned();
        out.push(ext(&p, &p));
    }
    // The default devices too: in a user namespace they are binds of the
    // host's (CRIU: "doesn't have a proper root mount" otherwise).
    for (name, _, _) in crate::rootfs::devices::DEFAULT_DEVICES {
        let p = format!("/dev/{name}");
        if !out.iter().any(|e| e.key == p) {
            out.push(ext(&p, &p));
        }
    }
    out
}

/// The binds a cgroup mount at `dest` is made of, each with the host
/// directory it shows in `cg` (the restored container's cgroup).
fn cgroup_binds(
    dest: &Path,
    hier: &Hierarchies,
    cg: Option<&Cgroup>,
) -> Vec<(String, Option<PathBuf>)> {
    let unified_only = hier.v1.is_empty()
        && hier
            .v2
            .as_deref()
            .is_some_and(|m| m == Path::new("/sys/fs/cgroup"));
    if unified_only {
        return vec![(
            dest.to_string_lossy().into_owned(),
            cg.and_then(|c| c.v2.clone()),
        )];
    }
    let mut by_mount: BTreeMap<PathBuf, Option<PathBuf>> = BTreeMap::new();
    for (ctrl, mount) in &hier.v1 {
        if mount.starts_with("/sys/fs/cgroup") {
            by_mount.insert(mount.clone(), cg.and_then(|c| c.v1.get(ctrl).cloned()));
        }
    }
    if let Some(m) = hier.v2.as_ref().filter(|m| m.starts_with("/sys/fs/cgroup")) {
        by_mount.insert(m.clone(), cg.and_then(|c| c.v2.clone()));
    }
    by_mount
        .into_iter()
        .map(|(mount, host)| {
            (
                dest.join(mount.file_name().unwrap_or_default())
                    .to_string_lossy()
                    .into_owned(),
                host,
            )
        })
        .collect()
}

/// init's stdio, and the files among it that live outside the container's
/// mounts (a caller's log file, the host's /dev/null): those are marked
/// external for the dump (`file[mnt:ino]`, in hex as CRIU writes them), so
/// that restore can hand its own stdio in their place, as it does for
/// pipes. Without that CRIU fails with "Can't lookup mount".
pub(super) fn stdio_of(pid: i32) -> (Vec<Stdio>, Vec<String>) {
    let mounts: Vec<u64> = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    let mut stdio = Vec::new();
    let mut external = Vec::new();
    for fd in 0..3 {
        let Ok(link) = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")) else {
            continue;
        };
        let link = link.to_string_lossy().into_owned();
        let mut key = None;
        let mut size = None;
        let mut mode = None;
        if link.starts_with("pipe:[") {
            key = Some(link.clone());
        } else if link.starts_with('/') {
            let info =
                std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
            let field = |name: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::trim)
            };
            let mnt_id = field("mnt_id:").and_then(|v| v.parse::<u64>().ok());
            let flags = field("flags:")
                .and_then(|v| i32::from_str_radix(v, 8).ok())
                .unwrap_or(0);
            let meta = std::fs::metadata(format!("/proc/{pid}/fd/{fd}")).ok();
            if let (Some(mnt), Some(m)) = (mnt_id, meta) {
                let ft = m.file_type();
                use std::os::unix::fs::FileTypeExt;
                let plain = ft.is_file() || ft.is_char_device();
                if plain && !mounts.contains(&mnt) {
                    let k = format!("file[{mnt:x}:{:x}]", m.ino());
                    if !external.contains(&k) {
                        external.push(k.clone());
                    }
                    key = Some(k);
                    mode = Some(std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
                    let appending =
                        flags & libc::O_ACCMODE == libc::O_WRONLY && flags & libc::O_APPEND != 0;
                    if ft.is_file() && !appending {
                        size = Some(m.len());
                    }
                }
            }
        }
        stdio.push(Stdio {
            fd,
            link,
            key,
            size,
            mode,
        });
    }
    (stdio, external)
}

/// The sizes the outside files among `stdio` have now (at CRIU's post-dump
/// step, with the container still frozen: what CRIU checks at restore).
pub(super) fn refresh_sizes(stdio: &mut [Stdio], pid: i32) {
    for s in stdio.iter_mut().filter(|s| s.size.is_some()) {
        if let Ok(m) = std::fs::metadata(format!("/proc/{pid}/fd/{}", s.fd)) {
            s.size = Some(m.len());
        }
    }
}

/// Parses runc's --page-server ADDRESS:PORT.
pub(super) fn page_server(v: &str) -> Result<(String, i32)> {
    let bad = || Error::Other(format!("--page-server {v:?}: use ADDRESS:PORT"));
    let (addr, port) = v.rsplit_once(':').ok_or_else(bad)?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if addr.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((addr.to_string(), port as i32))
}

/// runc's --empty-ns: only the network namespace may be asked for.
pub(super) fn empty_ns_mask(names: &[String]) -> Result<u32> {
    let mut mask = 0;
    for n in names {
        match n.as_str() {
            "network" => mask |= libc::CLONE_NEWNET as u32,
            other => {
                return Err(Error::Other(format!(
                    "--empty-ns {other:?}: namespace is not supported (only \"network\")"
                )))
            }
        }
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tmpfs_from_mountinfo_options_and_unknown_ones_none() {
        let ms = |f: libc::c_ulong| f as u64;
        assert_eq!(
            tmpfs_options(
                "ro,nosuid,nodev,noexec,relatime",
                "ro,size=0k,nr_inodes=1,inode64"
            ),
            Some((
                ms(libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV
                    | libc::MS_NOEXEC
                    | libc::MS_RELATIME),
                "size=0k,nr_inodes=1,inode64".into()
            ))
        );
        assert_eq!(
            tmpfs_options("rw", "rw,seclabel,size=65536k"),
            Some((0, "size=65536k".into()))
        );
        assert_eq!(tmpfs_options("rw,idmapped", "rw"), None);
        assert_eq!(
            tmpfs_options("rw,nosuid", "rw").map(|(f, _)| f & !TMPFS_FLAGS),
            Some(0)
        );
    }

    #[test]
    fn page_server_is_address_and_port() {
        assert_eq!(
            page_server("127.0.0.1:27").unwrap(),
            ("127.0.0.1".to_string(), 27)
        );
        assert_eq!(
            page_server("[::1]:1234").unwrap(),
            ("::1".to_string(), 1234)
        );
        for bad in ["127.0.0.1", ":27", "h:0", "h:x", "h:70000"] {
            let e = page_server(bad).unwrap_err().to_string();
            assert!(e.contains("use ADDRESS:PORT"), "{bad}: {e}");
        }
    }

    #[test]
    fn empty_ns_takes_network_only() {
        assert_eq!(empty_ns_mask(&[]).unwrap(), 0);
        assert_eq!(
            empty_ns_mask(&["network".into()]).unwrap(),
            libc::CLONE_NEWNET as u32
        );
        let e = empty_ns_mask(&["pid".into()]).unwrap_err().to_string();
        assert!(e.contains("\"pid\": namespace is not supported"), "{e}");
    }

    fn spec(json: serde_json::Value) -> Spec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn binds_are_external_by_destination_then_by_source() {
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": [
                {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind"]},
                {"destination": "/rel", "source": "sub", "options": ["bind", "ro"]},
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"}
            ],
            "linux": {"maskedPaths": ["/proc/kcore"], "devices": [
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}
            ]}
        }));
        let v2 = Hierarchies {
            v1: Default::default(),
            v2: Some("/sys/fs/cgroup".into()),
        };
        let dump = external_mounts(&s, Path::new("/b"), Side::Dump { pid: 0 }, &v2);
        let pairs: Vec<(&str, &str)> = dump.iter().map(|e| (&*e.key, &*e.val)).collect();
        assert!(pairs.contains(&("/data", "/data")), "{pairs:?}");
        assert!(pairs.contains(&("/rel", "/rel")), "{pairs:?}");
        assert!(
            pairs.contains(&("/sys/fs/cgroup", "/sys/fs/cgroup")),
            "{pairs:?}"
        );
        assert!(pairs.contains(&("/dev/fuse", "/dev/fuse")), "{pairs:?}");
        assert!(!pairs.iter().any(|p| p.0 == "/proc"), "{pairs:?}");
        let cg = Cgroup {
            driver: Default::default(),
            v1: Default::default(),
            v2: Some("/sys/fs/cgroup/ward-new".into()),
            v2_only: true,
        };
        let rst = external_mounts(
            &s,
            Path::new("/b"),
            Side::Restore { cgroup: Some(&cg) },
            &v2,
        );
        let pairs: Vec<(&str, &str)> = rst.iter().map(|e| (&*e.key, &*e.val)).collect();
        assert!(pairs.contains(&("/data", "/srv/data")), "{pairs:?}");
        assert!(pairs.contains(&("/rel", "/b/sub")), "{pairs:?}");
        assert!(
            pairs.contains(&("/sys/fs/cgroup", "/sys/fs/cgroup/ward-new")),
            "{pairs:?}"
        );
        assert!(pairs.contains(&("/dev/null", "/dev/null")), "{pairs:?}");
    }

    #[test]
    fn cgroup_binds_on_v1_follow_the_hierarchies() {
        let mut h = Hierarchies::default();
        h.v1.insert("memory".into(), "/sys/fs/cgroup/memory".into());
        h.v1.insert("cpu".into(), "/sys/fs/cgroup/cpu,cpuacct".into());
        h.v1.insert("cpuacct".into(), "/sys/fs/cgroup/cpu,cpuacct".into());
        h.v2 = Some("/sys/fs/cgroup/unified".into());
        let mut cg = Cgroup::default();
        cg.v1
            .insert("memory".into(), "/sys/fs/cgroup/memory/ward-n".into());
        cg.v1
            .insert("cpu".into(), "/sys/fs/cgroup/cpu,cpuacct/ward-n".into());
        cg.v1
            .insert("cpuacct".into(), "/sys/fs/cgroup/cpu,cpuacct/ward-n".into());
        cg.v2 = Some("/sys/fs/cgroup/unified/ward-n".into());
        let b = cgroup_binds(Path::new("/sys/fs/cgroup"), &h, Some(&cg));
        let names: Vec<&str> = b.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "/sys/fs/cgroup/cpu,cpuacct",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/unified"
            ]
        );
        assert!(b
            .iter()
            .all(|(_, h)| h.as_ref().is_some_and(|p| p.ends_with("ward-n"))));
    }
}
