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
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    parse(&text)
        .into_iter()
        .filter(|m| m.path.starts_with(rootfs))
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
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let now = parse(&text);
    for m in now.iter().rev().filter(|m| mounts.contains(m)) {
        if let Err(e) = nix::mount::umount2(&m.path, nix::mount::MntFlags::MNT_DETACH) {
            crate::warn(&format!("unmount {}: {e}", m.path.display()));
        }
    }
}

/// The mount point of the mount that holds `p` (the deepest mount point
/// `p` is at or below).
pub fn containing(p: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    parse(&text)
        .into_iter()
        .map(|m| m.path)
        .filter(|m| p.starts_with(m))
        .max_by_key(|m| m.components().count())
}

fn parse(text: &str) -> Vec<HostMount> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let id = f.next()?.parse().ok()?;
            let path = unescape(f.nth(3)?);
            Some(HostMount { id, path })
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_and_escaped_paths() {
        let text = "60 27 254:0 /tmp/b /tmp/b rw - ext4 /dev/vda rw\n\
                    61 60 0:42 / /tmp/b/my\\040dir rw - proc proc rw\n";
        assert_eq!(
            parse(text),
            vec![
                HostMount {
                    id: 60,
                    path: "/tmp/b".into()
                },
                HostMount {
                    id: 61,
                    path: "/tmp/b/my dir".into()
                },
            ]
        );
    }
}
