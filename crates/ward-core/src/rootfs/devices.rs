//! /dev inside the container: the standard device nodes, the spec's
//! `linux.devices`, and the usual symlinks (/dev/fd, stdio, ptmx). Where mknod
//! is not allowed (a user namespace), the host's node is bind-mounted instead.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::resolve::{fd_path, Kind, Root};
use crate::error::{Error, Result};

/// (name, major, minor) of the devices every container gets, mode 0666.
pub const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

pub fn setup(root: &Root, extra: &[LinuxDevice], has_devpts: bool) -> Result<()> {
    let dev = root.ensure(Path::new("/dev"), Kind::Dir)?;
    for (name, major, minor) in DEFAULT_DEVICES {
        // A config may list a default device itself, with its own mode.
        if extra
            .iter()
            .any(|d| *d.path() == Path::new("/dev").join(name))
        {
            continue;
        }
        make_node(
            root,
            &dev,
            name,
            SFlag::S_IFCHR,
            0o666,
            *major,
            *minor,
            0,
            0,
        )
        .map_err(|e| e.context(format!("device /dev/{name}")))?;
    }
    for d in extra {
        let path = d.path();
        let parent_path = path.parent().unwrap_or(Path::new("/"));
        let parent = root.ensure(parent_path, Kind::Dir)?;
        let name = path.file_name().ok_or_else(|| {
            Error::invalid("linux.devices", format!("bad path {}", path.display()))
        })?;
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::invalid(
                    "linux.devices",
                    format!(
                        "{} has type 'a', which only device rules may use",
                        path.display()
                    ),
                ))
            }
        };
        let mode = d.file_mode().unwrap_or(0o666);
        make_node(
            root,
            &parent,
            &name.to_string_lossy(),
            kind,
            mode,
            d.major() as u64,
            d.minor() as u64,
            d.uid().unwrap_or(0),
            d.gid().unwrap_or(0),
        )
        .map_err(|e| e.context(format!("device {}", path.display())))?;
    }
    let mut links = vec![
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("core", "/proc/kcore"));
    }
    if has_devpts {
        links.push(("ptmx", "pts/ptmx"));
    }
    for (name, target) in links {
        match nix::unistd::symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => {
                return Err(Error::path(
                    "symlink",
                    root.display(&Path::new("/dev").join(name)),
                    e,
                ))
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn make_node(
    root: &Root,
    dir: &OwnedFd,
    name: &str,
    kind: SFlag,
    mode: u32,
    major: u64,
    minor: u64,
    uid: u32,
    gid: u32,
) -> Result<()> {
    let dev = libc::makedev(major as u32, minor as u32);
    let perm = Mode::from_bits_truncate(mode & 0o7777);
    match nix::sys::stat::mknodat(dir.as_fd(), name, kind, perm, dev) {
        Ok(()) => {}
        Err(nix::errno::Errno::EEXIST) => return Ok(()),
        // Not allowed to make device nodes (user namespace): bind the host's.
        Err(nix::errno::Errno::EPERM) if kind != SFlag::S_IFIFO => {
            let dest = Path::new("/dev").join(name);
            let host = format!("/dev/{name}");
            let target = root.ensure(&dest, Kind::File)?;
            mount(
                Some(host.as_str()),
                fd_path(&target).as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| Error::path("bind host device", &host, e))?;
            return Ok(());
        }
        Err(e) => return Err(Error::sys("mknod", e)),
    }
    nix::unistd::fchownat(
        dir.as_fd(),
        name,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| Error::sys("chown", e))
}
