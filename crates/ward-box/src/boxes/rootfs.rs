//! A box's root: the overlay of an image's layers with the box's own upper
//! dir, or the skeleton of the host view (symlinks as on the host, empty
//! mount points for the read-only binds the spec adds).

use crate::digest::Digest;
use rustix::mount::{self as rmount, MountFlags, UnmountFlags};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// Host directories the host view binds read-only (those present).
pub const HOST_RO: &[&str] = &[
    "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt",
];
/// Empty directories the host view gets (mount points and writable places
/// in the box's own root).
const HOST_EMPTY: &[&str] = &[
    "proc", "dev", "sys", "tmp", "run", "var", "var/tmp", "root", "home", "mnt",
];
/// The writable places of a shared (cached) skeleton, each a tmpfs of the
/// box's own: the skeleton itself is read-only and shared by every box.
pub const SHARED_TMPFS: &[&str] = &["/tmp", "/run", "/var", "/var/tmp", "/home", "/root"];

/// The overlay options for `layers` (bottom first) under the box's dir.
pub fn overlay_data(
    store_layers: &Path,
    layers: &[Digest],
    boxdir: &Path,
    rootless: bool,
) -> String {
    let lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|d| store_layers.join(d.hex()).to_string_lossy().into_owned())
        .collect();
    let mut data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        boxdir.join("upper").display(),
        boxdir.join("work").display()
    );
    if rootless {
        data.push_str(",userxattr");
    }
    data
}

/// Makes upper, work and merged, and mounts the overlay on merged.
pub fn mount_overlay(
    store_layers: &Path,
    layers: &[Digest],
    boxdir: &Path,
    rootless: bool,
) -> Result<PathBuf, String> {
    for d in ["upper", "work", "merged"] {
        let p = boxdir.join(d);
        match fs::create_dir(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("mkdir {}: {e}", p.display())),
        }
    }
    let merged = boxdir.join("merged");
    let mut data = overlay_data(store_layers, layers, boxdir, rootless);
    // The mount data is one page: deep images get their lower dirs through
    // a short /proc/self/fd path of the store's layers directory.
    let _keep;
    if data.len() > 3800 {
        let fd = rustix::fs::open(
            store_layers,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| format!("open {}: {e}", store_layers.display()))?;
        let short = PathBuf::from(format!(
            "/proc/self/fd/{}",
            rustix::fd::AsRawFd::as_raw_fd(&fd)
        ));
        _keep = fd;
        data = overlay_data(&short, layers, boxdir, rootless);
        if data.len() > 4000 {
            return Err(format!(
                "{} layers: more than one overlay mount can stack",
                layers.len()
            ));
        }
    }
    if layers.is_empty() {
        return Err("an image without layers".into());
    }
    let cdata =
        std::ffi::CString::new(data).map_err(|_| "a NUL in the overlay options".to_string())?;
    rmount::mount(
        "overlay",
        &merged,
        "overlay",
        MountFlags::NODEV,
        Some(cdata.as_c_str()),
    )
    .map_err(|e| {
        // overlayfs can't take its upper directory on overlayfs (a store
        // inside another container's root, say): EINVAL alone says nothing.
        let on_overlay = e == rustix::io::Errno::INVAL
            && rustix::fs::statfs(boxdir)
                .is_ok_and(|s| s.f_type as i64 == OVERLAYFS_SUPER_MAGIC);
        format!(
            "mount the overlay on {}: {}{}",
            merged.display(),
            crate::unpack::errno_text(e),
            if on_overlay {
                " (the store is itself on overlayfs, which can't hold an overlay's upper directory: give --root a directory on another file system)"
            } else {
                ""
            }
        )
    })?;
    Ok(merged)
}

/// statfs(2)'s f_type of overlayfs.
const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

/// Unmounts a box's overlay if it is mounted (detaching it if busy).
pub fn unmount(boxdir: &Path) {
    let merged = boxdir.join("merged");
    if merged.exists() {
        let _ = rmount::unmount(&merged, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW);
    }
}

/// For a box whose overlay isn't mounted here (rootless): a directory
/// holding the image's etc/passwd and etc/group, taken from the topmost
/// layer that has each (a whiteout ends the search), so that -u NAME can
/// be resolved before the box exists.
pub fn etc_view(store_layers: &Path, layers: &[Digest], boxdir: &Path) -> Result<PathBuf, String> {
    let view = boxdir.join("etc-view");
    fs::create_dir_all(view.join("etc")).map_err(|e| format!("mkdir {}: {e}", view.display()))?;
    for f in ["etc/passwd", "etc/group"] {
        for l in layers.iter().rev() {
            let p = store_layers.join(l.hex()).join(f);
            let Ok(m) = fs::symlink_metadata(&p) else {
                continue;
            };
            if m.is_file() {
                let _ = fs::copy(&p, view.join(f));
            }
            break;
        }
    }
    Ok(view)
}

/// Whether `p` is a mount point (mountinfo, so it works for overlays too).
pub fn is_mounted(p: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = p.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4) == Some(&want))
}

/// The host view's skeleton in `root`: the host's top-level symlinks
/// (merged /usr: bin → usr/bin), mount points for the read-only binds
/// (returned), and empty writable directories.
pub fn host_skeleton(root: &Path) -> Result<Vec<String>, String> {
    let mk = |p: &Path| fs::create_dir_all(p).map_err(|e| format!("mkdir {}: {e}", p.display()));
    mk(root)?;
    let mut binds = Vec::new();
    for name in HOST_RO {
        let host = Path::new("/").join(name);
        let Ok(meta) = fs::symlink_metadata(&host) else {
            continue;
        };
        let here = root.join(name);
        if meta.file_type().is_symlink() {
            let target =
                fs::read_link(&host).map_err(|e| format!("readlink {}: {e}", host.display()))?;
            symlink(&target, &here).map_err(|e| format!("symlink {}: {e}", here.display()))?;
        } else if meta.is_dir() {
            mk(&here)?;
            binds.push(format!("/{name}"));
        }
    }
    for name in HOST_EMPTY {
        mk(&root.join(name))?;
    }
    let _ = fs::set_permissions(
        root.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    );
    let _ = fs::set_permissions(
        root.join("var/tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    );
    Ok(binds)
}

/// The host's top-level layout as the host view copies it: each of
/// [`HOST_RO`] as a directory (`name/`), a symlink (`name -> target`) or
/// absent. It keys the cached skeleton, so a changed host gets a new one.
fn host_layout() -> Result<(String, Vec<String>), String> {
    let mut desc = String::new();
    let mut binds = Vec::new();
    for name in HOST_RO {
        let host = Path::new("/").join(name);
        let Ok(meta) = fs::symlink_metadata(&host) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            let target =
                fs::read_link(&host).map_err(|e| format!("readlink {}: {e}", host.display()))?;
            desc.push_str(&format!("{name} -> {}\n", target.display()));
        } else if meta.is_dir() {
            desc.push_str(&format!("{name}/\n"));
            binds.push(format!("/{name}"));
        }
    }
    Ok((desc, binds))
}

/// The top-level directory a mount destination needs in the root, when the
/// skeleton doesn't have it (`/work/src` → `work`); None when the
/// destination is the root itself or goes through a place the skeleton has.
pub fn extra_top(dst: &str) -> Option<String> {
    let first = dst.trim_start_matches('/').split('/').next()?;
    if first.is_empty() || first == "." || first == ".." {
        return None;
    }
    let known = HOST_RO.contains(&first)
        || HOST_EMPTY.contains(&first)
        || SHARED_TMPFS
            .iter()
            .any(|t| t.trim_start_matches('/') == first);
    (!known).then(|| first.to_string())
}

/// Whether the shared skeleton at `root` is there (None: it isn't) and
/// whole (Some(false): damaged, e.g. an entry removed by hand or by a
/// full disk: it is made again). Its entries are a few lstat calls,
/// against the host's layout that keyed it.
fn skeleton_whole(root: &Path, extra: &[String]) -> Option<bool> {
    if !fs::symlink_metadata(root).ok()?.is_dir() {
        return Some(false);
    }
    let is_dir = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    for name in HOST_RO {
        let host = Path::new("/").join(name);
        let here = root.join(name);
        let Ok(meta) = fs::symlink_metadata(&host) else {
            continue;
        };
        let ok = if meta.file_type().is_symlink() {
            fs::read_link(&here).ok() == fs::read_link(&host).ok()
        } else {
            !meta.is_dir() || is_dir(&here)
        };
        if !ok {
            return Some(false);
        }
    }
    let whole = HOST_EMPTY.iter().all(|n| is_dir(&root.join(n)))
        && extra.iter().all(|e| is_dir(&root.join(e)));
    Some(whole)
}

/// The host view's skeleton, shared: made once per host layout (and set of
/// extra top-level mount points, `extra`) under `STORE/hostroot/<key>`,
/// never written again, and used read-only by every one-off host-view box,
/// whose writable places are tmpfs mounts ([`SHARED_TMPFS`], and one on
/// each of `extra`). Made in `tmp` and renamed into place, so a box never
/// sees half of one. Returns the root and the read-only binds it needs.
pub fn shared_host_skeleton(
    store: &Path,
    extra: &[String],
) -> Result<(PathBuf, Vec<String>), String> {
    let (mut desc, binds) = host_layout()?;
    let mut extra = extra.to_vec();
    extra.sort();
    extra.dedup();
    for e in &extra {
        if e.contains('/') || e == "." || e == ".." || e.is_empty() {
            return Err(format!("{e:?}: not a top-level directory name"));
        }
        desc.push_str(&format!("+{e}\n"));
    }
    // Version 1 of the skeleton's shape.
    desc.insert_str(0, "ward hostroot 1\n");
    let key = crate::digest::Digest::of(desc.as_bytes());
    let root = store.join("hostroot").join(&key.hex()[..16]);
    let damaged = match skeleton_whole(&root, &extra) {
        Some(true) => return Ok((root, binds)),
        Some(false) => true,
        None => false,
    };
    let parent = store.join("hostroot");
    fs::create_dir_all(&parent).map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
    let tmp = store
        .join("tmp")
        .join(format!("hostroot.{}", crate::boxes::new_id()));
    let made = host_skeleton(&tmp).and_then(|_| {
        for e in &extra {
            let p = tmp.join(e);
            fs::create_dir(&p).map_err(|err| format!("mkdir {}: {err}", p.display()))?;
        }
        Ok(())
    });
    if let Err(e) = made {
        crate::store::remove_all(&tmp);
        return Err(e);
    }
    if damaged {
        // Out of the way first (boxes that use it keep their mounts of
        // it), then removed; a box racing us may have done it already.
        let old = store
            .join("tmp")
            .join(format!("hostroot-old.{}", crate::boxes::new_id()));
        if fs::rename(&root, &old).is_ok() {
            crate::store::remove_all(&old);
        }
    }
    if fs::rename(&tmp, &root).is_err() {
        // Another box made it first (or the rename failed): use theirs.
        crate::store::remove_all(&tmp);
        if !root.is_dir() {
            return Err(format!("make the host view's root {}", root.display()));
        }
    }
    Ok((root, binds))
}
