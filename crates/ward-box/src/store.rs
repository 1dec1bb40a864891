//! The content-addressed store: small blobs (manifests, configs) by digest,
//! unpacked layers by diff ID (each an overlayfs lower directory, shared by
//! every image that has it), and the image records that name them.
//!
//! ```text
//! STORE/blobs/sha256/<hex>   manifests and configs, verified before the rename
//! STORE/layers/<hex>/        one unpacked layer, named by its diff ID
//! STORE/locks/<hex>          flock while a layer is fetched and unpacked
//! STORE/tmp/                 layers being unpacked (never read from)
//! STORE/images.json          the images: names, manifest, config, layers
//! STORE/boxes/<id>/          each image box's upper, work and merged dirs
//! ```
//!
//! Guarantees: a layer directory appears only by `rename` from tmp/ once its
//! compressed digest, size and diff ID are verified, so the store never
//! holds a half-unpacked layer; a failed unpack (a lying layer, a full disk,
//! a kill) leaves at most a tmp/ entry, which the next prune removes, and
//! images.json changes only by rename under the store's lock. Two pulls of
//! one layer serialize on its lock file: the second finds it unpacked.

use crate::compress;
use crate::digest::{Digest, Hashing};
use crate::unpack::{self, remove_tree};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{self as rfs, FlockOperation, Mode, OFlags};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {err}")]
    Io {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error("layer {digest}: {why}")]
    Layer { digest: String, why: String },
    #[error("blob {digest}: {why}")]
    Blob { digest: Digest, why: String },
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    pub fn io(op: &'static str, path: &Path, err: io::Error) -> StoreError {
        StoreError::Io {
            op,
            path: path.to_path_buf(),
            err,
        }
    }
}

type Result<T> = std::result::Result<T, StoreError>;

/// One image in the store.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// The config's digest: the image's ID, as docker and podman name it.
    pub id: Digest,
    pub names: Vec<String>,
    pub manifest: Digest,
    /// Diff IDs, bottom layer first.
    pub layers: Vec<Digest>,
    /// Bytes of the compressed layers (what a pull fetches).
    pub size: u64,
    /// Seconds since the epoch when it entered the store.
    pub created: u64,
}

#[derive(Clone, Debug)]
pub struct Store {
    pub root: PathBuf,
    pub rootless: bool,
}

/// An exclusive flock, released on drop.
pub struct Lock(pub OwnedFd);

pub fn lock_file(path: &Path, wait: bool) -> io::Result<Option<Lock>> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    let fd = OwnedFd::from(f);
    let op = if wait {
        FlockOperation::LockExclusive
    } else {
        FlockOperation::NonBlockingLockExclusive
    };
    match rfs::flock(&fd, op) {
        Ok(()) => Ok(Some(Lock(fd))),
        Err(rustix::io::Errno::WOULDBLOCK) if !wait => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Where one layer comes from, and what it must turn out to be.
pub struct LayerSource<'a> {
    /// The diff ID the image config names (the uncompressed tar's digest).
    pub diff_id: &'a Digest,
    /// The compressed blob's digest and size, when the source gives them.
    pub blob: Option<(&'a Digest, u64)>,
    /// Opens the compressed stream (called only if the layer is missing).
    pub open: &'a (dyn Fn() -> std::result::Result<Box<dyn Read + Send>, String> + Sync),
    /// Called with the compressed bytes read so far.
    pub progress: &'a (dyn Fn(u64) + Sync),
}

/// What [`Store::add_layer`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// Already in the store: nothing was fetched.
    Present,
    /// Fetched and unpacked, with the unpacker's warning if any.
    Unpacked(Option<String>),
}

impl Store {
    pub fn open(root: &Path, rootless: bool) -> Result<Store> {
        for d in ["blobs/sha256", "layers", "locks", "tmp", "boxes"] {
            let p = root.join(d);
            // A stat first: mkdir of what exists costs a write lock on the
            // parent, on every command.
            if !p.is_dir() {
                fs::create_dir_all(&p).map_err(|e| StoreError::io("mkdir", &p, e))?;
            }
        }
        if !rootless {
            // Layers hold setuid files of every image: only root walks in.
            use std::os::unix::fs::PermissionsExt;
            if fs::metadata(root).is_ok_and(|m| m.permissions().mode() & 0o7777 != 0o700) {
                let _ = fs::set_permissions(root, fs::Permissions::from_mode(0o700));
            }
        }
        Ok(Store {
            root: root.to_path_buf(),
            rootless,
        })
    }

    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).is_dir()
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    /// The store's own lock (images.json, prune, a box's claim on layers).
    pub fn lock(&self) -> Result<Lock> {
        let p = self.root.join("lock");
        lock_file(&p, true)
            .map_err(|e| StoreError::io("lock", &p, e))
            .map(|l| l.expect("a waiting lock is always taken"))
    }

    /// Reads a stored blob, checking its digest (the store could have been
    /// changed behind ward's back, and a manifest read back must be the one
    /// verified at pull).
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        let data = fs::read(&p).map_err(|e| StoreError::io("read", &p, e))?;
        if Digest::of(&data) != *d {
            return Err(StoreError::Blob {
                digest: d.clone(),
                why: "the stored blob does not match its digest".into(),
            });
        }
        Ok(data)
    }

    /// Stores a small blob after checking it against `expected`.
    pub fn put_blob(&self, expected: &Digest, data: &[u8]) -> Result<()> {
        let got = Digest::of(data);
        if got != *expected {
            return Err(StoreError::Blob {
                digest: expected.clone(),
                why: format!("its content has digest {got}"),
            });
        }
        let dst = self.blob_path(expected);
        if dst.exists() {
            return Ok(());
        }
        write_atomic(&self.root.join("tmp"), &dst, data)
    }

    /// Makes sure the layer `src.diff_id` is unpacked in the store: fetched,
    /// verified and renamed into place once, however many pulls ask at once.
    pub fn add_layer(&self, src: &LayerSource<'_>) -> Result<Added> {
        let diff_id = src.diff_id;
        if self.has_layer(diff_id) {
            return Ok(Added::Present);
        }
        let lock_path = self.root.join("locks").join(diff_id.hex());
        let _lock =
            lock_file(&lock_path, true).map_err(|e| StoreError::io("lock", &lock_path, e))?;
        if self.has_layer(diff_id) {
            // Another pull unpacked it while this one waited.
            return Ok(Added::Present);
        }
        let tmp = self.root.join("tmp").join(format!(
            "{}.{}.{}",
            diff_id.hex(),
            std::process::id(),
            unique()
        ));
        fs::create_dir(&tmp).map_err(|e| StoreError::io("mkdir", &tmp, e))?;
        let res = self.unpack_into(&tmp, src);
        let res = res.and_then(|warning| {
            let dst = self.layer_dir(diff_id);
            rfs::renameat_with(rfs::CWD, &tmp, rfs::CWD, &dst, rfs::RenameFlags::NOREPLACE)
                .map_err(|e| StoreError::io("rename", &dst, e.into()))
                .map(|()| warning)
        });
        match res {
            Ok(w) => Ok(Added::Unpacked(w)),
            Err(e) => {
                remove_all(&tmp);
                Err(e)
            }
        }
    }

    fn unpack_into(&self, tmp: &Path, src: &LayerSource<'_>) -> Result<Option<String>> {
        let shown = match src.blob {
            Some((d, _)) => d.to_string(),
            None => src.diff_id.to_string(),
        };
        let lerr = |why: String| StoreError::Layer {
            digest: shown.clone(),
            why,
        };
        let dirfd = rfs::open(
            tmp,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| StoreError::io("open", tmp, e.into()))?;
        let raw = (src.open)().map_err(&lerr)?;
        let progress = Progress {
            inner: raw,
            seen: 0,
            report: src.progress,
        };
        let mut blob = Hashing::new(progress, src.blob.map(|(_, s)| s));
        let (report, diff) = {
            let stream = compress::decompress(BufReader::with_capacity(256 * 1024, &mut blob))
                .map_err(|e| lerr(format!("reading: {e}")))?;
            let mut tar = Hashing::new(stream, None);
            let report = unpack::unpack(
                &mut tar,
                dirfd.as_fd(),
                unpack::Options {
                    rootless: self.rootless,
                },
            )
            .map_err(|e| {
                if e.is_no_space() {
                    lerr(format!(
                        "{e} (the store's file system is full; the store is unchanged)"
                    ))
                } else {
                    lerr(e.to_string())
                }
            })?;
            // The tar's end-of-archive blocks may come before the stream's
            // end: the rest belongs to the diff ID too.
            let diff = tar
                .finish()
                .map_err(|e| lerr(format!("reading after the end of the tar: {e}")))?;
            (report, diff)
        };
        let (digest, size) = blob.finish().map_err(|e| lerr(format!("reading: {e}")))?;
        if let Some((want, want_size)) = src.blob {
            if size != want_size {
                return Err(lerr(format!(
                    "{size} bytes, but its descriptor says {want_size}"
                )));
            }
            if digest != *want {
                return Err(lerr(format!(
                    "its content has digest {digest}, not the one it claims"
                )));
            }
        }
        if diff.0 != *src.diff_id {
            return Err(lerr(format!(
                "its uncompressed content has digest {}, but the image config says {}",
                diff.0, src.diff_id
            )));
        }
        Ok(report.warning())
    }

    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let p = self.root.join("images.json");
        match fs::read(&p) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| {
                StoreError::io("parse", &p, io::Error::new(io::ErrorKind::InvalidData, e))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(StoreError::io("read", &p, e)),
        }
    }

    /// Writes the image list (call with the store's lock held).
    pub fn save_images(&self, images: &[ImageRecord]) -> Result<()> {
        let data = serde_json::to_vec_pretty(images).expect("image records serialize");
        write_atomic(
            &self.root.join("tmp"),
            &self.root.join("images.json"),
            &data,
        )
    }

    /// Adds `rec` (or merges its names into the record of the same ID),
    /// taking each name away from any other image, as a tag moves.
    pub fn add_image(&self, rec: ImageRecord) -> Result<ImageRecord> {
        let _l = self.lock()?;
        let mut all = self.images()?;
        for other in all.iter_mut() {
            other.names.retain(|n| !rec.names.contains(n));
        }
        let out = if let Some(i) = all
            .iter()
            .position(|r| r.id == rec.id && r.manifest == rec.manifest)
        {
            for n in &rec.names {
                if !all[i].names.contains(n) {
                    all[i].names.push(n.clone());
                }
            }
            all[i].clone()
        } else {
            all.push(rec.clone());
            rec
        };
        self.save_images(&all)?;
        Ok(out)
    }

    /// Finds an image by name (with or without the registry's and `:latest`
    /// defaults) or by ID or ID prefix (at least 4 hex digits).
    pub fn find_image(&self, what: &str) -> Result<Option<ImageRecord>> {
        let all = self.images()?;
        let wanted = crate::image::reference::candidates(what);
        for r in &all {
            if r.names.iter().any(|n| wanted.contains(n)) {
                return Ok(Some(r.clone()));
            }
        }
        let hex = what.strip_prefix("sha256:").unwrap_or(what);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let m: Vec<_> = all.iter().filter(|r| r.id.hex().starts_with(hex)).collect();
            if m.len() == 1 {
                return Ok(Some(m[0].clone()));
            }
        }
        Ok(None)
    }

    /// Removes layers and blobs no image and no box uses, and tmp/ entries
    /// no pull is working on. Returns what was removed (layers, bytes).
    pub fn gc(&self, in_use: &BTreeSet<Digest>) -> Result<(usize, u64)> {
        let _l = self.lock()?;
        let images = self.images()?;
        let mut live_layers: BTreeSet<Digest> = in_use.clone();
        let mut live_blobs: BTreeSet<Digest> = BTreeSet::new();
        for r in &images {
            live_layers.extend(r.layers.iter().cloned());
            live_blobs.insert(r.id.clone());
            live_blobs.insert(r.manifest.clone());
        }
        let mut removed = 0;
        let mut bytes = 0;
        let layers = self.root.join("layers");
        for e in read_dir(&layers)? {
            let name = e.file_name();
            let Some(d) = name.to_str().and_then(Digest::from_hex) else {
                continue;
            };
            if live_layers.contains(&d) {
                continue;
            }
            // A pull holding its lock may be about to use it.
            let lp = self.root.join("locks").join(d.hex());
            let Ok(Some(_g)) = lock_file(&lp, false) else {
                continue;
            };
            bytes += du(&e.path());
            remove_all(&e.path());
            let _ = fs::remove_file(&lp);
            removed += 1;
        }
        for e in read_dir(&self.root.join("blobs/sha256"))? {
            let name = e.file_name();
            let Some(d) = name.to_str().and_then(Digest::from_hex) else {
                continue;
            };
            if !live_blobs.contains(&d) {
                let _ = fs::remove_file(e.path());
            }
        }
        for e in read_dir(&self.root.join("tmp"))? {
            let name = e.file_name().to_string_lossy().into_owned();
            let hex = name.split('.').next().unwrap_or_default();
            let busy = Digest::from_hex(hex).is_some_and(|d| {
                matches!(
                    lock_file(&self.root.join("locks").join(d.hex()), false),
                    Ok(None)
                )
            });
            if !busy {
                bytes += du(&e.path());
                remove_all(&e.path());
            }
        }
        Ok((removed, bytes))
    }
}

/// Removes a file or a whole tree without following symlinks (ignoring
/// errors: used on cleanup paths).
pub fn remove_all(p: &Path) {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            if let (Some(parent), Some(name)) = (p.parent(), p.file_name()) {
                if let Ok(pf) = File::open(parent) {
                    let _ = remove_tree(&pf, name);
                    return;
                }
            }
            let _ = fs::remove_dir_all(p);
        }
        Ok(_) => {
            let _ = fs::remove_file(p);
        }
        Err(_) => {}
    }
}

fn read_dir(p: &Path) -> Result<Vec<fs::DirEntry>> {
    match fs::read_dir(p) {
        Ok(rd) => Ok(rd.flatten().collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(StoreError::io("read", p, e)),
    }
}

/// Disk use of a tree, in bytes of allocated blocks, counting each inode once.
pub fn du(p: &Path) -> u64 {
    fn walk(p: &Path, seen: &mut BTreeSet<(u64, u64)>) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let Ok(m) = fs::symlink_metadata(p) else {
            return 0;
        };
        if !seen.insert((m.dev(), m.ino())) {
            return 0;
        }
        let mut n = m.blocks() * 512;
        if m.is_dir() {
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    n += walk(&e.path(), seen);
                }
            }
        }
        n
    }
    walk(p, &mut BTreeSet::new())
}

/// Writes `data` to `dst` through a temp file in `tmpdir` and a rename: a
/// reader sees the old file or the new one, and a full disk leaves the old.
pub fn write_atomic(tmpdir: &Path, dst: &Path, data: &[u8]) -> Result<()> {
    write_file(tmpdir, dst, data, true)
}

/// As [`write_atomic`]; `durable` adds an fsync before the rename (the
/// store's own files; a box's record and exit code go without: 10-20 ms
/// each on this disk, and a box that a crash interrupts is gone anyway).
pub fn write_file(tmpdir: &Path, dst: &Path, data: &[u8], durable: bool) -> Result<()> {
    let tmp = tmpdir.join(format!(".w.{}.{}", std::process::id(), unique()));
    let res = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_data()?;
        }
        fs::rename(&tmp, dst)
    })();
    res.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        StoreError::io("write", dst, e)
    })
}

/// A number unique within this process, for temp names.
pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    (N.fetch_add(1, Ordering::Relaxed) << 32) ^ t
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

struct Progress<'a, R> {
    inner: R,
    seen: u64,
    report: &'a (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        (self.report)(self.seen);
        Ok(n)
    }
}
