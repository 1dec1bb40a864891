//! The layer unpacker: one tar stream (already decompressed) into one empty
//! directory, in overlayfs's format, treating every entry as hostile.
//!
//! Each layer gets a directory of its own in the store and the layers are
//! stacked by overlayfs, so OCI whiteouts become overlay whiteouts (a 0:0
//! character device) and opaque markers become the `overlay.opaque` xattr;
//! nothing of one layer is ever written into another. Within a layer every
//! path is resolved beneath the layer's directory without following a
//! symlink (`openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`), and every
//! file is created relative to its parent's fd, so no entry can write
//! outside the directory, whatever order or names the tar has.

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{
    self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags,
};
use rustix::io::Errno;
use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;

/// How the unpacker runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Without root: no chown (every file belongs to the caller), no device
    /// nodes (skipped and counted), `user.overlay.*` xattrs (overlayfs's
    /// `userxattr` mode), and directories kept writable by their owner so
    /// that the store can remove them again.
    pub rootless: bool,
}

/// What an unpack skipped or neutralized, for the one line the caller prints.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub entries: u64,
    /// Device nodes skipped without root, and the first one's path.
    pub skipped_devices: u64,
    pub first_device: Option<String>,
    /// xattrs not applied (`trusted.*`, which would speak to overlayfs, and
    /// anything but `user.*`/`security.capability`), and the first name.
    pub skipped_xattrs: u64,
    pub first_xattr: Option<String>,
    /// Leading `/` stripped from entry names (as tar, umoci and docker do).
    pub absolute_names: u64,
    /// xattrs the store's file system doesn't support.
    pub unsupported_xattrs: u64,
}

impl Report {
    /// One line on what was neutralized, or None when nothing was.
    pub fn warning(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(p) = &self.first_device {
            parts.push(format!(
                "skipped {} device node(s) without root (first: {p})",
                self.skipped_devices
            ));
        }
        if let Some(x) = &self.first_xattr {
            parts.push(format!(
                "ignored {} xattr(s) a layer may not set (first: {x})",
                self.skipped_xattrs
            ));
        }
        if self.unsupported_xattrs > 0 {
            parts.push(format!(
                "{} xattr(s) not kept: the store's file system doesn't support them",
                self.unsupported_xattrs
            ));
        }
        if self.absolute_names > 0 {
            parts.push(format!(
                "made {} absolute name(s) relative",
                self.absolute_names
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Why a layer was refused. Each names the entry and what is wrong with it.
#[derive(Debug)]
pub enum Error {
    /// The tar stream itself (truncated, corrupt, a decompressor's error).
    Stream(io::Error),
    /// An entry the unpacker refuses.
    Entry { path: String, why: String },
    /// A system call failed while writing an entry.
    Write {
        path: String,
        op: &'static str,
        errno: Errno,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Stream(e) => write!(f, "reading the tar stream: {e}"),
            Error::Entry { path, why } => write!(f, "entry {path:?}: {why}"),
            Error::Write { path, op, errno } => {
                write!(f, "entry {path:?}: {op}: {}", errno_text(*errno))
            }
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The disk (or the store's quota) is full.
    pub fn is_no_space(&self) -> bool {
        match self {
            Error::Write { errno, .. } => *errno == Errno::NOSPC || *errno == Errno::DQUOT,
            Error::Stream(e) => e.raw_os_error() == Some(libc::ENOSPC),
            Error::Entry { .. } => false,
        }
    }
}

pub fn errno_text(e: Errno) -> String {
    io::Error::from_raw_os_error(e.raw_os_error())
        .to_string()
        .split(" (os error")
        .next()
        .unwrap_or_default()
        .to_lowercase()
}

fn refuse<T>(path: &str, why: impl Into<String>) -> Result<T, Error> {
    Err(Error::Entry {
        path: path.to_string(),
        why: why.into(),
    })
}

const OPAQUE: &[u8] = b".wh..wh..opq";
const WHITEOUT: &[u8] = b".wh.";

/// Unpacks the tar stream `tar` into the directory `dir` (which should be
/// empty and which nothing else writes to meanwhile).
pub fn unpack<R: Read>(tar: R, dir: BorrowedFd<'_>, opts: Options) -> Result<Report, Error> {
    let mut u = Unpacker {
        root: dir,
        opts,
        report: Report::default(),
        dir_times: Vec::new(),
        cache: None,
    };
    let mut archive = tar::Archive::new(tar);
    let entries = archive.entries().map_err(Error::Stream)?;
    for entry in entries {
        let mut entry = entry.map_err(Error::Stream)?;
        u.report.entries += 1;
        u.entry(&mut entry)?;
    }
    u.cache = None;
    // Directory times last: writing their children changed them.
    let times = std::mem::take(&mut u.dir_times);
    for (path, t) in times.iter().rev() {
        if let Ok(fd) = u.open_beneath(path, OFlags::RDONLY | OFlags::DIRECTORY) {
            let _ = rfs::futimens(&fd, t);
        }
    }
    Ok(u.report)
}

struct Unpacker<'a> {
    root: BorrowedFd<'a>,
    opts: Options,
    report: Report,
    dir_times: Vec<(Vec<u8>, Timestamps)>,
    /// The last parent directory opened, by its cleaned path: tar streams
    /// list a directory's entries together.
    cache: Option<(Vec<u8>, OwnedFd)>,
}

/// What one entry's header says, with PAX overrides applied.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl Unpacker<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), Error> {
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName
        ) {
            return Ok(());
        }
        let (path, absolute) = clean(&raw).or_else(|why| refuse(&shown, why))?;
        if absolute {
            self.report.absolute_names += 1;
        }
        let Some(split) = path.iter().rposition(|&b| b == b'/') else {
            return self.entry_in(entry, &shown, &[], &path, kind);
        };
        let (parent, name) = (path[..split].to_vec(), path[split + 1..].to_vec());
        self.entry_in(entry, &shown, &parent, &name, kind)
    }

    fn entry_in<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        shown: &str,
        parent: &[u8],
        name: &[u8],
        kind: tar::EntryType,
    ) -> Result<(), Error> {
        if name.is_empty() {
            // The layer's root itself ("./"): overlayfs takes the root's
            // attributes from the upper layer; nothing to write.
            return Ok(());
        }
        if name == OPAQUE {
            let dir = self.parent_dir(parent, shown)?;
            let key = self.overlay_xattr("opaque");
            return rfs::fsetxattr(&dir, key, b"y", XattrFlags::empty()).map_err(|e| {
                Error::Write {
                    path: shown.to_string(),
                    op: "mark the directory opaque",
                    errno: e,
                }
            });
        }
        if let Some(target) = name.strip_prefix(WHITEOUT) {
            if target.is_empty() || target == b"." || target == b".." {
                return refuse(
                    shown,
                    "a whiteout of . or .. (it would hide the directory itself or its parent)",
                );
            }
            let dir = self.parent_dir(parent, shown)?;
            if rfs::statat(&dir, OsStr::from_bytes(target), AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                // The same layer adds the name back: what it adds wins over
                // lower layers anyway.
                return Ok(());
            }
            return self.mknod(&dir, target, shown, FileType::CharacterDevice, 0, 0, 0);
        }
        let meta = self.meta(entry, shown)?;
        let dir = self.parent_dir(parent, shown)?;
        let n = OsStr::from_bytes(name);
        let is_dir = kind == tar::EntryType::Directory;
        let replaces_whiteout = is_dir && is_whiteout(&dir, n);
        self.make_room(&dir, name, shown, is_dir)?;
        if replaces_whiteout {
            // `.wh.d` then `d/` in one layer: a new, empty d over the old.
            self.make_opaque_dir(&dir, n, shown, 0o700)?;
        }
        let w = |op: &'static str| {
            let path = shown.to_string();
            move |errno| Error::Write { path, op, errno }
        };
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let fd = rfs::openat(
                    &dir,
                    n,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(w("create"))?;
                let mut file = std::fs::File::from(fd);
                io::copy(entry, &mut file).map_err(|e| match e.raw_os_error() {
                    Some(n) if e.kind() != io::ErrorKind::UnexpectedEof => Error::Write {
                        path: shown.to_string(),
                        op: "write",
                        errno: Errno::from_raw_os_error(n),
                    },
                    _ => Error::Stream(e),
                })?;
                let fd = OwnedFd::from(file);
                self.finish(&fd, shown, &meta, true)?;
            }
            tar::EntryType::Directory => {
                match rfs::mkdirat(&dir, n, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(w("mkdir")(e)),
                }
                let fd = rfs::openat(
                    &dir,
                    n,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(w("open the directory"))?;
                let mut meta = meta;
                if self.opts.rootless {
                    meta.mode |= 0o700;
                }
                self.finish(&fd, shown, &meta, false)?;
                let mut full = parent.to_vec();
                if !full.is_empty() {
                    full.push(b'/');
                }
                full.extend_from_slice(name);
                self.dir_times.push((full, times(meta.mtime)));
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| Error::Entry {
                        path: shown.to_string(),
                        why: "a symlink without a target".into(),
                    })?
                    .into_owned();
                if target.is_empty() || target.contains(&0) {
                    return refuse(shown, "a symlink with an empty or NUL-holding target");
                }
                rfs::symlinkat(OsStr::from_bytes(&target), &dir, n).map_err(w("symlink"))?;
                if !self.opts.rootless {
                    rfs::chownat(
                        &dir,
                        n,
                        Some(rfs::Uid::from_raw(meta.uid)),
                        Some(rfs::Gid::from_raw(meta.gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .map_err(w("chown"))?;
                }
                let _ = rfs::utimensat(&dir, n, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW);
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| Error::Entry {
                        path: shown.to_string(),
                        why: "a hardlink without a target".into(),
                    })?
                    .into_owned();
                let (tpath, _) = clean(&target).or_else(|why| {
                    refuse(
                        shown,
                        format!("hardlink target {:?}: {why}", lossy(&target)),
                    )
                })?;
                let mut me = parent.to_vec();
                if !me.is_empty() {
                    me.push(b'/');
                }
                me.extend_from_slice(name);
                if tpath == me || tpath.is_empty() {
                    return refuse(shown, "a hardlink to itself");
                }
                let (tdir, tname) = match tpath.iter().rposition(|&b| b == b'/') {
                    Some(i) => (&tpath[..i], &tpath[i + 1..]),
                    None => (&b""[..], &tpath[..]),
                };
                let tfd = self
                    .open_beneath(tdir, OFlags::PATH | OFlags::DIRECTORY)
                    .map_err(|e| Error::Entry {
                        path: shown.to_string(),
                        why: format!(
                            "hardlink target {:?} is not in this layer ({})",
                            lossy(&target),
                            errno_text(e)
                        ),
                    })?;
                match rfs::statat(&tfd, OsStr::from_bytes(tname), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                        return refuse(
                            shown,
                            format!("hardlink to the directory {:?}", lossy(&target)),
                        );
                    }
                    Ok(_) => {}
                    Err(e) => {
                        return refuse(
                            shown,
                            format!(
                                "hardlink target {:?} is not in this layer ({})",
                                lossy(&target),
                                errno_text(e)
                            ),
                        )
                    }
                }
                rfs::linkat(&tfd, OsStr::from_bytes(tname), &dir, n, AtFlags::empty())
                    .map_err(w("link"))?;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                let ft = if kind == tar::EntryType::Char {
                    FileType::CharacterDevice
                } else {
                    FileType::BlockDevice
                };
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                if self.opts.rootless {
                    self.report.skipped_devices += 1;
                    if self.report.first_device.is_none() {
                        self.report.first_device = Some(shown.to_string());
                    }
                    return Ok(());
                }
                self.mknod(&dir, name, shown, ft, meta.mode, major, minor)?;
                self.finish_at(&dir, name, shown, &meta)?;
            }
            tar::EntryType::Fifo => {
                self.mknod(&dir, name, shown, FileType::Fifo, meta.mode, 0, 0)?;
                self.finish_at(&dir, name, shown, &meta)?;
            }
            other => {
                return refuse(shown, format!("unsupported tar entry type {other:?}"));
            }
        }
        Ok(())
    }

    fn make_opaque_dir(
        &self,
        dir: &OwnedFd,
        n: &OsStr,
        shown: &str,
        mode: u32,
    ) -> Result<(), Error> {
        let w = |op: &'static str| {
            let path = shown.to_string();
            move |errno| Error::Write { path, op, errno }
        };
        rfs::mkdirat(dir, n, Mode::from_raw_mode(mode)).map_err(w("mkdir"))?;
        let fd = rfs::openat(
            dir,
            n,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(w("open the directory"))?;
        rfs::fsetxattr(
            &fd,
            self.overlay_xattr("opaque").as_str(),
            b"y",
            XattrFlags::empty(),
        )
        .map_err(w("mark the directory opaque"))
    }

    fn overlay_xattr(&self, what: &str) -> String {
        if self.opts.rootless {
            format!("user.overlay.{what}")
        } else {
            format!("trusted.overlay.{what}")
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn mknod(
        &self,
        dir: &OwnedFd,
        name: &[u8],
        shown: &str,
        ft: FileType,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), Error> {
        rfs::mknodat(
            dir,
            OsStr::from_bytes(name),
            ft,
            Mode::from_raw_mode(mode & 0o777),
            rfs::makedev(major, minor),
        )
        .map_err(|errno| Error::Write {
            path: shown.to_string(),
            op: "mknod",
            errno,
        })
    }

    fn meta<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, shown: &str) -> Result<Meta, Error> {
        let h = entry.header();
        let bad = |what: &str| Error::Entry {
            path: shown.to_string(),
            why: format!("unreadable {what} in the header"),
        };
        let mut m = Meta {
            mode: h.mode().map_err(|_| bad("mode"))? & 0o7777,
            uid: u32::try_from(h.uid().map_err(|_| bad("uid"))?).map_err(|_| bad("uid"))?,
            gid: u32::try_from(h.gid().map_err(|_| bad("gid"))?).map_err(|_| bad("gid"))?,
            mtime: i64::try_from(h.mtime().unwrap_or(0)).unwrap_or(0),
            xattrs: Vec::new(),
        };
        if let Ok(Some(pax)) = entry.pax_extensions() {
            for ext in pax.flatten() {
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                let num = || {
                    std::str::from_utf8(value)
                        .ok()?
                        .split('.')
                        .next()?
                        .parse::<i64>()
                        .ok()
                };
                match key {
                    "uid" => {
                        m.uid = num()
                            .and_then(|v| u32::try_from(v).ok())
                            .ok_or_else(|| bad("PAX uid"))?
                    }
                    "gid" => {
                        m.gid = num()
                            .and_then(|v| u32::try_from(v).ok())
                            .ok_or_else(|| bad("PAX gid"))?
                    }
                    "mtime" => m.mtime = num().unwrap_or(m.mtime),
                    _ => {
                        if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                            m.xattrs.push((x.to_string(), value.to_vec()));
                        }
                    }
                }
            }
        }
        Ok(m)
    }

    /// Ownership, xattrs, mode (after chown, which clears set-id bits) and
    /// times of a file or directory just made, through its fd.
    fn finish(
        &mut self,
        fd: &OwnedFd,
        shown: &str,
        m: &Meta,
        times_now: bool,
    ) -> Result<(), Error> {
        let w = |op: &'static str| {
            let path = shown.to_string();
            move |errno| Error::Write { path, op, errno }
        };
        if !self.opts.rootless {
            rfs::fchown(
                fd,
                Some(rfs::Uid::from_raw(m.uid)),
                Some(rfs::Gid::from_raw(m.gid)),
            )
            .map_err(w("chown"))?;
        }
        for (k, v) in &m.xattrs {
            let allowed =
                k.starts_with("user.") || (k == "security.capability" && !self.opts.rootless);
            if !allowed || k.starts_with("user.overlay.") {
                self.report.skipped_xattrs += 1;
                if self.report.first_xattr.is_none() {
                    self.report.first_xattr = Some(format!("{k} on {shown}"));
                }
                continue;
            }
            match rfs::fsetxattr(fd, k.as_str(), v, XattrFlags::empty()) {
                Ok(()) => {}
                // The store's file system has no such xattrs (user.* on a
                // tmpfs before Linux 6.6): skipped and counted, as tar does.
                Err(Errno::NOTSUP) => {
                    self.report.unsupported_xattrs += 1;
                }
                Err(e) => return Err(w("set an xattr")(e)),
            }
        }
        rfs::fchmod(fd, Mode::from_raw_mode(m.mode)).map_err(w("chmod"))?;
        if times_now {
            rfs::futimens(fd, &times(m.mtime)).map_err(w("set times"))?;
        }
        Ok(())
    }

    /// The same for a device node or FIFO, which can't be opened safely.
    fn finish_at(
        &mut self,
        dir: &OwnedFd,
        name: &[u8],
        shown: &str,
        m: &Meta,
    ) -> Result<(), Error> {
        let n = OsStr::from_bytes(name);
        let w = |op: &'static str| {
            let path = shown.to_string();
            move |errno| Error::Write { path, op, errno }
        };
        if !self.opts.rootless {
            rfs::chownat(
                dir,
                n,
                Some(rfs::Uid::from_raw(m.uid)),
                Some(rfs::Gid::from_raw(m.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(w("chown"))?;
        }
        rfs::chmodat(dir, n, Mode::from_raw_mode(m.mode), AtFlags::empty()).map_err(w("chmod"))?;
        let _ = rfs::utimensat(dir, n, &times(m.mtime), AtFlags::SYMLINK_NOFOLLOW);
        Ok(())
    }

    /// Removes what is at `name` before a new entry takes its place (a later
    /// entry of a tar wins), unless both are directories, which merge.
    fn make_room(
        &mut self,
        dir: &OwnedFd,
        name: &[u8],
        shown: &str,
        new_is_dir: bool,
    ) -> Result<(), Error> {
        let n = OsStr::from_bytes(name);
        let st = match rfs::statat(dir, n, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(errno) => {
                return Err(Error::Write {
                    path: shown.to_string(),
                    op: "stat",
                    errno,
                })
            }
        };
        let old_is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        if old_is_dir && new_is_dir {
            return Ok(());
        }
        // The parent cache may hold this very directory or one below it.
        self.cache = None;
        let res = if old_is_dir {
            remove_tree(dir, n)
        } else {
            rfs::unlinkat(dir, n, AtFlags::empty())
        };
        res.map_err(|errno| Error::Write {
            path: shown.to_string(),
            op: "replace",
            errno,
        })
    }

    /// The entry's parent directory, opened beneath the layer's root without
    /// following a symlink; missing directories are made (0755, as tar does).
    fn parent_dir(&mut self, parent: &[u8], shown: &str) -> Result<OwnedFd, Error> {
        if let Some((p, fd)) = &self.cache {
            if p == parent {
                return fd.try_clone().map_err(|e| Error::Write {
                    path: shown.to_string(),
                    op: "dup",
                    errno: Errno::from_io_error(&e).unwrap_or(Errno::IO),
                });
            }
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY;
        let fd = match self.open_beneath(parent, flags) {
            Ok(fd) => fd,
            // Missing parents are made; a whiteout of this layer on the way
            // (`.wh.d` then `d/f`) becomes an opaque directory.
            Err(Errno::NOENT | Errno::NOTDIR) => self.make_parents(parent, shown)?,
            Err(e) => return Err(self.parent_error(parent, shown, e)),
        };
        let dup = fd.try_clone().ok();
        if let Some(d) = dup {
            self.cache = Some((parent.to_vec(), d));
        }
        Ok(fd)
    }

    fn parent_error(&self, parent: &[u8], shown: &str, e: Errno) -> Error {
        let why = match e {
            Errno::LOOP => format!(
                "its directory {:?} is, or goes through, a symlink in this layer: refused (no write through a symlink)",
                lossy(parent)
            ),
            Errno::NOTDIR => format!("its directory {:?} is not a directory in this layer", lossy(parent)),
            Errno::XDEV => format!("its directory {:?} leaves the layer", lossy(parent)),
            e => format!("opening its directory {:?}: {}", lossy(parent), errno_text(e)),
        };
        Error::Entry {
            path: shown.to_string(),
            why,
        }
    }

    fn make_parents(&mut self, parent: &[u8], shown: &str) -> Result<OwnedFd, Error> {
        let mut cur: OwnedFd = rfs::openat(
            self.root,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|errno| Error::Write {
            path: shown.to_string(),
            op: "open the layer",
            errno,
        })?;
        for comp in parent.split(|&b| b == b'/') {
            let c = OsStr::from_bytes(comp);
            if is_whiteout(&cur, c) {
                self.cache = None;
                rfs::unlinkat(&cur, c, AtFlags::empty()).map_err(|errno| Error::Write {
                    path: shown.to_string(),
                    op: "replace a whiteout",
                    errno,
                })?;
                self.make_opaque_dir(&cur, c, shown, 0o755)?;
                cur = rfs::openat(
                    &cur,
                    c,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.parent_error(parent, shown, e))?;
                continue;
            }
            match rfs::mkdirat(&cur, c, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(errno) => {
                    return Err(Error::Write {
                        path: shown.to_string(),
                        op: "mkdir a parent",
                        errno,
                    })
                }
            }
            cur = rfs::openat(
                &cur,
                c,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| self.parent_error(parent, shown, e))?;
        }
        Ok(cur)
    }

    fn open_beneath(&self, path: &[u8], flags: OFlags) -> Result<OwnedFd, Errno> {
        let p = if path.is_empty() {
            OsStr::new(".")
        } else {
            OsStr::from_bytes(path)
        };
        rfs::openat2(
            self.root,
            p,
            flags | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            ResolveFlags::BENEATH
                | ResolveFlags::NO_SYMLINKS
                | ResolveFlags::NO_MAGICLINKS
                | ResolveFlags::NO_XDEV,
        )
    }
}

/// An overlay whiteout (a 0:0 character device) at `n` in `dir`.
fn is_whiteout(dir: &impl AsFd, n: &OsStr) -> bool {
    rfs::statat(dir, n, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| {
        FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
    })
}

fn times(mtime: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An entry's name made relative and checked: `/` and `./` prefixes and
/// empty or `.` components dropped; `..` anywhere is refused (runc's and
/// docker's unpackers refuse it too; a name that climbs has no honest
/// reading). Returns the cleaned path and whether it was absolute.
pub fn clean(raw: &[u8]) -> Result<(Vec<u8>, bool), String> {
    if raw.contains(&0) {
        return Err("a NUL byte in the name".into());
    }
    let absolute = raw.first() == Some(&b'/');
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => continue,
            b".." => return Err("a name with .. (it would climb out of the layer)".into()),
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    Ok((out, absolute))
}

/// Removes the directory `name` under `dir` and everything in it, never
/// following a symlink.
pub fn remove_tree(dir: &impl AsFd, name: &OsStr) -> Result<(), Errno> {
    let fd = rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for e in rfs::Dir::read_from(&fd)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        names.push((n.to_vec(), e.file_type() == FileType::Directory));
    }
    for (n, is_dir) in names {
        let n = OsStr::from_bytes(&n);
        if is_dir {
            remove_tree(&fd, n)?;
        } else {
            match rfs::unlinkat(&fd, n, AtFlags::empty()) {
                Err(Errno::ISDIR) => remove_tree(&fd, n)?,
                r => r?,
            }
        }
    }
    rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_strips_slashes_and_dots_and_refuses_dotdot() {
        assert_eq!(clean(b"./a/b").unwrap(), (b"a/b".to_vec(), false));
        assert_eq!(
            clean(b"/etc/passwd").unwrap(),
            (b"etc/passwd".to_vec(), true)
        );
        assert_eq!(clean(b"a//./b/").unwrap(), (b"a/b".to_vec(), false));
        assert_eq!(clean(b"./").unwrap(), (b"".to_vec(), false));
        assert!(clean(b"a/../../etc").is_err());
        assert!(clean(b"..").is_err());
        assert!(clean(b"a/\0b").is_err());
        // A name that merely starts with dots is a name.
        assert_eq!(clean(b"..a/...").unwrap(), (b"..a/...".to_vec(), false));
    }
}
