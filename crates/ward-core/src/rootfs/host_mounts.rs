//! A container without a mount namespace of its own shares ward's: the
//! mounts init makes under its rootfs land on the host. ward notes which
//! ones appeared (by mount id and place) and takes exactly those away again
//! on delete, or when create fails, so that nothing of the container stays
//! mounted and no mount that was there before is touched.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One mount in /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMount {
    pub id: u64,
    pub path: PathBuf,
}

/// The mounts at or below `rootfs`, in mountinfo's order (parents first).
pub fn under(rootfs: &Path) -> Vec<HostMount> {
    current()
        .into_iter()
        .filter(|m| m.path.starts_with(rootfs))
        .collect()
}

/// Every mount of ward's mount namespace, as ids and places.
fn current() -> Vec<HostMount> {
    crate::procfs::mountinfo()
        .unwrap_or_default()
        .into_iter()
        .map(|m| HostMount {
            id: m.id,
            path: m.mount_point,
        })
        .collect()
}

/// The mounts at or below `rootfs` that are not in `before`.
pub fn new_since(before: &[HostMount], rootfs: &Path) -> Vec<HostMount> {
    under(rootfs)
        .into_iter()
        .filter(|m| !before.contains(m))
        .collect()
}

/// Detaches those of `mounts` that are still there (same id, same place),
/// children before parents. Best effort: what can't go is a warning.
pub fn unmount(mounts: &[HostMount]) {
    if mounts.is_empty() {
        return;
    }
    let now = current();
    for m in now.iter().rev().filter(|m| mounts.contains(m)) {
        if let Err(e) = nix::mount::umount2(&m.path, nix::mount::MntFlags::MNT_DETACH) {
            crate::warn(&format!("unmount {}: {e}", m.path.display()));
        }
    }
}

/// The mount point of the mount that holds `p` (the deepest mount point
/// `p` is at or below).
pub fn containing(p: &Path) -> Option<PathBuf> {
    current()
        .into_iter()
        .map(|m| m.path)
        .filter(|m| p.starts_with(m))
        .max_by_key(|m| m.components().count())
}
