//! A box's network namespace, made and pinned by ward box before the
//! runtime runs (as podman does): `RUN/netns/<id>` is a bind mount of the
//! namespace, so it outlives the box's processes until the network is
//! torn down. CNI's DEL then runs with the namespace still there (the
//! bridge plugin can only remove its NAT rules when it can read the
//! box's addresses in it), and a box whose supervisor was killed still
//! has its namespace for `rm` or `network prune` to tear down.
//!
//! `RUN/netns` is made a shared mount of its own, as iproute2 does with
//! /run/netns, so that unpinning reaches the copies of the pin that
//! mount namespaces made since (a box's, slave to the host's).

use rustix::mount::{self as rmount, MountFlags, MountPropagationFlags, UnmountFlags};
use std::fs;
use std::path::Path;

/// Makes `dir` a shared mount point of its own (once).
fn shared_dir(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    if crate::boxes::rootfs::is_mounted(dir) {
        return Ok(());
    }
    rmount::mount_bind(dir, dir).map_err(|e| format!("bind {}: {e}", dir.display()))?;
    rmount::mount_change(dir, MountPropagationFlags::SHARED)
        .map_err(|e| format!("make {} shared: {e}", dir.display()))
}

/// Brings `lo` up in the calling thread's network namespace.
fn loopback_up() -> Result<(), String> {
    // SAFETY: a plain socket(2); the fd is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: ifreq is plain data, zeroed; the name is NUL-terminated
    // within IFNAMSIZ; the ioctls read and write only that struct.
    let res = unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        let mut r = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
        if r == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            r = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if r == 0 {
            Ok(())
        } else {
            Err(err)
        }
    };
    res.map_err(|e| format!("bring lo up: {e}"))
}

/// Makes a new network namespace (with `lo` up) and pins it at `pin`.
/// On error nothing is left.
pub fn pin(pin: &Path) -> Result<(), String> {
    if let Some(dir) = pin.parent() {
        shared_dir(dir)?;
    }
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(pin)
        .map_err(|e| format!("create {}: {e}", pin.display()))?;
    let target = pin.to_path_buf();
    // A thread of its own: unshare(CLONE_NEWNET) moves only the calling
    // thread, which then ends; the process stays where it was.
    let res = std::thread::spawn(move || -> Result<(), String> {
        // SAFETY: NEWNET alone; no file descriptor table is unshared.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
            .map_err(|e| format!("unshare a network namespace: {e}"))?;
        loopback_up()?;
        rmount::mount(
            "/proc/thread-self/ns/net",
            &target,
            "",
            MountFlags::BIND,
            None,
        )
        .map_err(|e| format!("pin the network namespace at {}: {e}", target.display()))
    })
    .join()
    .unwrap_or_else(|_| Err("the namespace thread panicked".into()));
    if res.is_err() {
        let _ = fs::remove_file(pin);
    }
    res
}

/// Whether `pin` holds a network namespace.
pub fn is_pinned(pin: &Path) -> bool {
    crate::boxes::rootfs::is_mounted(pin)
}

/// Unpins (the namespace goes when its last user does) and removes the
/// file; nothing there is fine.
pub fn unpin(pin: &Path) {
    let _ = rmount::unmount(pin, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW);
    let _ = fs::remove_file(pin);
}
