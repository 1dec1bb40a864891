//! Rootless image boxes: overlayfs can be mounted without root only by the
//! owner of a user namespace, in a mount namespace that namespace owns. So
//! the runtime's create runs inside one made here: `ward-box __userns`
//! unshares a user namespace (the caller's own uid and gid mapped to
//! themselves, nothing more) and a mount namespace, mounts the box's
//! overlay there (`userxattr`: the store's opaque markers are
//! `user.overlay.opaque`), and execs the runtime, which, being an
//! unprivileged uid in it, runs rootless as usual and gives the box its own
//! user namespace inside this one. The overlay lives as long as the box's
//! mount namespace: nothing is mounted on the host, and nothing needs
//! unmounting when the box is gone.

use rustix::mount::{self as rmount, MountFlags, MountPropagationFlags};
use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::Path;

fn write(path: &str, data: &str) -> Result<(), String> {
    std::fs::write(path, data).map_err(|e| format!("write {path}: {e}"))
}

/// `ward-box __userns DATA MERGED -- PROGRAM ARGS...`: never returns on success.
pub fn main(data: &str, merged: &Path, argv: &[String]) -> Result<i32, String> {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    // SAFETY: this process is single-threaded (a fresh `ward-box __userns`
    // that execs right after), so no other thread shares the state that
    // unshare changes.
    unsafe {
        rustix::thread::unshare_unsafe(
            rustix::thread::UnshareFlags::NEWUSER | rustix::thread::UnshareFlags::NEWNS,
        )
    }
    .map_err(|e| format!("unshare a user and mount namespace: {e}"))?;
    write("/proc/self/setgroups", "deny")?;
    write("/proc/self/uid_map", &format!("{uid} {uid} 1\n"))?;
    write("/proc/self/gid_map", &format!("{gid} {gid} 1\n"))?;
    rmount::mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(|e| format!("make / private in the new mount namespace: {e}"))?;
    let cdata = CString::new(data).map_err(|_| "a NUL in the overlay options".to_string())?;
    rmount::mount("overlay", merged, "overlay", MountFlags::NODEV, Some(cdata.as_c_str())).map_err(|e| {
        format!(
            "mount the overlay on {} in a user namespace: {} (overlayfs in user namespaces needs Linux 5.11)",
            merged.display(),
            crate::unpack::errno_text(e)
        )
    })?;
    let (prog, args) = argv.split_first().ok_or("no program")?;
    let err = std::process::Command::new(prog).args(args).exec();
    Err(format!("exec {prog}: {err}"))
}
