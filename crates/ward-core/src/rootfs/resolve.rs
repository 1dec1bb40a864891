//! Paths inside the container's root, resolved by the kernel as if that root
//! were `/` (openat2 with RESOLVE_IN_ROOT): a symlink or `..` in an image can
//! never lead ward to a host path. Mounts then go onto the opened fd
//! (/proc/self/fd/N), never onto a path string the container could swap.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::Mode;

use crate::error::{Errno, Error, Result};
use crate::sys;

/// What to create at the end of a path that doesn't exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// The rootfs, opened once; every lookup below goes through it.
#[derive(Debug)]
pub struct Root {
    pub fd: OwnedFd,
    pub path: PathBuf,
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(format!("path {p:?}"), "contains a NUL byte"))
}

/// Relative form of a container path: "/a/b" -> "a/b", "/" -> ".".
fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// The magic link that names an open fd, for mount(2) targets and sources.
pub fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

impl Root {
    pub fn open(path: &Path) -> Result<Root> {
        let fd = nix::fcntl::open(
            path,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::path("open rootfs", path, e))?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The host path of a container path, for messages only.
    pub fn display(&self, path: &Path) -> PathBuf {
        self.path.join(relative(path))
    }

    /// Opens `path` inside the root with `flags` (O_PATH if 0).
    pub fn open_in(&self, path: &Path, flags: i32) -> std::result::Result<OwnedFd, Errno> {
        let flags = if flags == 0 { libc::O_PATH } else { flags };
        let c = cstr(&relative(path)).map_err(|_| Errno(libc::EINVAL))?;
        sys::openat2(
            self.fd.as_raw_fd(),
            &c,
            flags,
            0,
            sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_MAGICLINKS,
        )
        .map_err(Errno::from)
    }

    /// Like [`Root::ensure`] (a directory at the end), but no component of
    /// `path` may be a symlink: for the file systems whose place the
    /// kernel and ward's own later steps rely on (/proc, /sys, /dev, ...).
    /// An image whose `/proc` is a symlink would otherwise get procfs at
    /// the link's target and its own files at /proc, where ward later
    /// writes LSM labels and reads fds (the class of CVE-2019-16884 and
    /// CVE-2023-28642). runc refuses these too ("must be mounted on
    /// ordinary directory").
    pub fn ensure_plain_dir(&self, path: &Path) -> Result<OwnedFd> {
        let rel = relative(path);
        let mut parent = self
            .open_in(Path::new("/"), 0)
            .map_err(|e| Error::path("open", &self.path, e))?;
        let mut prefix = PathBuf::from("/");
        for comp in rel.components() {
            let name = comp.as_os_str();
            if comp == Component::ParentDir {
                return Err(Error::invalid(
                    path.display().to_string(),
                    "\"..\" in the path of a special mount",
                ));
            }
            prefix.push(name);
            let c = cstr(Path::new(name))?;
            // One component, beneath its parent, no symlink followed.
            let open = |parent: &OwnedFd| -> std::result::Result<OwnedFd, Errno> {
                sys::openat2(
                    parent.as_raw_fd(),
                    &c,
                    libc::O_PATH | libc::O_DIRECTORY,
                    0,
                    sys::RESOLVE_NO_SYMLINKS | sys::RESOLVE_NO_MAGICLINKS | sys::RESOLVE_BENEATH,
                )
                .map_err(Errno::from)
            };
            let next = match open(&parent) {
                Ok(fd) => fd,
                Err(Errno(libc::ENOENT)) => {
                    match make(&parent, name, Kind::Dir) {
                        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                        Err(e) => return Err(Error::path("create", self.display(&prefix), e)),
                    }
                    open(&parent).map_err(|e| self.not_plain(&parent, name, &prefix, e))?
                }
                Err(e) => return Err(self.not_plain(&parent, name, &prefix, e)),
            };
            parent = next;
        }
        Ok(parent)
    }

    /// The error for a component of a special mount's path that is not a
    /// directory: a symlink is named with its target.
    fn not_plain(&self, parent: &OwnedFd, name: &std::ffi::OsStr, at: &Path, e: Errno) -> Error {
        match nix::fcntl::readlinkat(parent.as_fd(), name) {
            Ok(target) => Error::invalid(
                format!("{} in the rootfs", at.display()),
                format!(
                    "a symlink to {}, not an ordinary directory",
                    Path::new(&target).display()
                ),
            ),
            Err(_) => Error::path("open", self.display(at), e),
        }
    }

    /// Makes sure `path` exists inside the root, creating missing directories
    /// (mode 0755) and, at the end, a directory or an empty file (0644), and
    /// returns an O_PATH fd on it.
    pub fn ensure(&self, path: &Path, kind: Kind) -> Result<OwnedFd> {
        self.ensure_depth(path, kind, 0)
    }

    fn ensure_depth(&self, path: &Path, kind: Kind, depth: u32) -> Result<OwnedFd> {
        if depth > 40 {
            return Err(Error::path(
                "resolve",
                self.display(path),
                Errno(libc::ELOOP),
            ));
        }
        match self.open_in(path, 0) {
            Ok(fd) => return Ok(fd),
            Err(Errno(libc::ENOENT)) => {}
            Err(e) => return Err(Error::path("open", self.display(path), e)),
        }
        let rel = relative(path);
        // Most often only the last component is missing (a mount target
        // such as /sys/fs/cgroup/cpu): its parent, opened in one step,
        // saves the walk. Anything else (a dangling symlink at the end, a
        // missing parent) takes the walk below.
        if let (Some(dir), Some(name)) = (rel.parent(), rel.file_name()) {
            if let Ok(parent) = self.open_in(dir, 0) {
                match make(&parent, name, kind) {
                    Ok(()) => {
                        return self
                            .open_in(path, 0)
                            .map_err(|e| Error::path("open", self.display(path), e))
                    }
                    Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => return Err(Error::path("create", self.display(path), e)),
                }
            }
        }
        let comps: Vec<_> = rel.components().collect();
        let mut parent = self
            .open_in(Path::new("/"), 0)
            .map_err(|e| Error::path("open", &self.path, e))?;
        let mut prefix = PathBuf::from("/");
        for (i, comp) in comps.iter().enumerate() {
            prefix.push(comp);
            let last = i + 1 == comps.len();
            match self.open_in(&prefix, 0) {
                Ok(fd) => {
                    parent = fd;
                    continue;
                }
                Err(Errno(libc::ENOENT)) => {}
                Err(e) => return Err(Error::path("open", self.display(&prefix), e)),
            }
            let name = comp.as_os_str();
            let res = make(&parent, name, if last { kind } else { Kind::Dir });
            match res {
                Ok(()) => {}
                Err(nix::errno::Errno::EEXIST) => {
                    // A dangling symlink: create what it points to, inside
                    // the root, and go on from there.
                    if let Ok(target) = nix::fcntl::readlinkat(parent.as_fd(), name) {
                        let base = prefix.parent().unwrap_or(Path::new("/"));
                        let mut next = base.join(PathBuf::from(target));
                        for rest in &comps[i + 1..] {
                            next.push(rest);
                        }
                        return self.ensure_depth(&next, kind, depth + 1);
                    }
                }
                Err(e) => return Err(Error::path("create", self.display(&prefix), e)),
            }
            parent = self
                .open_in(&prefix, 0)
                .map_err(|e| Error::path("open", self.display(&prefix), e))?;
        }
        Ok(parent)
    }
}

/// Creates `name` in `parent`: an empty file (0644) or a directory (0755);
/// EEXIST if something, a symlink too, is there.
fn make(parent: &OwnedFd, name: &std::ffi::OsStr, kind: Kind) -> nix::Result<()> {
    if kind == Kind::File {
        nix::fcntl::openat(
            parent.as_fd(),
            name,
            nix::fcntl::OFlag::O_CREAT
                | nix::fcntl::OFlag::O_EXCL
                | nix::fcntl::OFlag::O_WRONLY
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map(drop)
    } else {
        nix::sys::stat::mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(0o755))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ward-resolve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn real(fd: &OwnedFd) -> PathBuf {
        std::fs::read_link(fd_path(fd)).unwrap()
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let host = tmpdir("host");
        let root = tmpdir("root");
        symlink(&host, root.join("abs")).unwrap();
        symlink("../../../../..", root.join("up")).unwrap();
        let r = Root::open(&root).unwrap();
        // An absolute symlink to a host dir is followed inside the root: the
        // host dir's path gets created under the root instead.
        let fd = r.ensure(Path::new("/abs/x"), Kind::Dir).unwrap();
        assert!(real(&fd).starts_with(&root), "{:?}", real(&fd));
        assert!(!host.join("x").exists());
        let fd = r.ensure(Path::new("/up/etc/f"), Kind::File).unwrap();
        assert_eq!(real(&fd), root.join("etc/f"));
        let fd = r.ensure(Path::new("/../../a/./b/"), Kind::Dir).unwrap();
        assert_eq!(real(&fd), root.join("a/b"));
        std::fs::remove_dir_all(&host).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }
}
