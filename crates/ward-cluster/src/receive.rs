//! The destination's half of `ward migrate` (`ward cluster __receive`,
//! started by sshd for the source): the preflight, the images written
//! under a work directory of its own, the restore, and the guard that
//! deletes what was restored if this process dies before the source has
//! let go. See migrate.rs for the conversation.

use crate::runtime::Runtime;
use crate::wire::{self, Frame, Msg};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const DEFAULT_WORK: &str = "/var/lib/ward/migrate-in";

struct Conn {
    frames: Receiver<std::io::Result<Frame>>,
    out: BufWriter<std::io::Stdout>,
}

impl Conn {
    fn send(&mut self, m: &Msg) {
        // The source may be gone; what it missed it learns from the
        // channel's end.
        let _ = wire::write_msg(&mut self.out, m);
    }
    fn next(&mut self, t: Duration) -> Result<Frame, String> {
        match self.frames.recv_timeout(t) {
            Ok(Ok(f)) => Ok(f),
            Ok(Err(e)) => Err(format!("the channel broke: {e}")),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(format!("nothing from the source for {} s", t.as_secs()))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(Frame::Eof),
        }
    }
}

/// A bundle the session copied in (--copy-rootfs), removed unless the
/// session succeeded.
struct MadeBundle(Option<PathBuf>);
impl Drop for MadeBundle {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            let _ = fs::remove_dir_all(b);
        }
    }
}

/// Where the entries the source sends go: the work directory (images:
/// plain files, CRIU's parent link only) or a bundle (--copy-rootfs:
/// modes, owners and symlinks as they were). No path may go through a
/// symlink this session made, so a symlink can't carry a later write out
/// of the tree.
struct Tree {
    base: PathBuf,
    bundle: bool,
    links: Vec<PathBuf>,
}

impl Tree {
    fn images(base: &Path) -> Tree {
        Tree {
            base: base.to_path_buf(),
            bundle: false,
            links: Vec::new(),
        }
    }
    fn bundle(base: &Path, links: Vec<PathBuf>) -> Tree {
        Tree {
            base: base.to_path_buf(),
            bundle: true,
            links,
        }
    }
    fn path(&self, rel: &str) -> Result<PathBuf, String> {
        let r = wire::safe_rel(rel)?;
        let p = self.base.join(r);
        if self.links.iter().any(|l| p.starts_with(l) && &p != l) {
            return Err(format!("the source sent {rel:?}, through a symlink"));
        }
        Ok(p)
    }
    /// In a bundle's second pass an entry may be there already: it goes.
    fn clear(&self, p: &Path, keep_dir: bool) -> Result<(), String> {
        if !self.bundle {
            return Ok(());
        }
        match fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() && keep_dir => Ok(()),
            Ok(m) if m.is_dir() => {
                fs::remove_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))
            }
            Ok(_) => fs::remove_file(p).map_err(|e| format!("{}: {e}", p.display())),
            Err(_) => Ok(()),
        }
    }
    fn own(&self, p: &Path, uid: u32, gid: u32) -> Result<(), String> {
        if self.bundle {
            std::os::unix::fs::lchown(p, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", p.display()))?;
        }
        Ok(())
    }
    fn dir(&mut self, rel: &str, mode: u32, uid: u32, gid: u32) -> Result<(), String> {
        let p = self.path(rel)?;
        self.clear(&p, true)?;
        if !p.is_dir() || !self.bundle {
            fs::create_dir(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        let mode = if self.bundle {
            mode & 0o7777
        } else {
            mode & 0o755
        };
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", p.display()))?;
        self.own(&p, uid, gid)
    }
    fn file(
        &mut self,
        rel: &str,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<(File, PathBuf), String> {
        let p = self.path(rel)?;
        self.clear(&p, false)?;
        let mode = if self.bundle {
            mode & 0o7777
        } else {
            mode & 0o644
        };
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o777)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p)
            .map_err(|e| format!("{}: {e}", p.display()))?;
        self.own(&p, uid, gid)?;
        // After the chown, which clears set-id bits.
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", p.display()))?;
        Ok((f, p))
    }
    fn symlink(&mut self, rel: &str, target: &str, uid: u32, gid: u32) -> Result<(), String> {
        if !self.bundle {
            // Only CRIU's parent link: ../<a sibling>.
            let ok = target
                .strip_prefix("../")
                .is_some_and(|t| wire::safe_rel(t).is_ok() && !t.contains('/'));
            if !ok {
                return Err(format!("the source sent a symlink to {target:?}"));
            }
        }
        let p = self.path(rel)?;
        self.clear(&p, false)?;
        std::os::unix::fs::symlink(target, &p).map_err(|e| format!("{}: {e}", p.display()))?;
        self.own(&p, uid, gid)?;
        self.links.push(p);
        Ok(())
    }
    fn remove(&mut self, rel: &str) -> Result<(), String> {
        if !self.bundle {
            return Err("the source removed an image".into());
        }
        let p = self.path(rel)?;
        self.clear(&p, false)
    }
}

/// The work directory, removed on every way out.
struct Work(PathBuf);
impl Drop for Work {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn die_here(fault: &Option<String>, at: &str) {
    if cfg!(debug_assertions) && fault.as_deref() == Some(at) {
        let _ = nix_kill_self();
    }
}

fn nix_kill_self() -> std::io::Result<()> {
    // SAFETY: kill(2) on our own pid with SIGKILL has no memory effects.
    let r = unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub fn receive(rt: &Runtime, work_base: &Path) -> i32 {
    let (tx, frames) = mpsc::sync_channel(64);
    std::thread::spawn(move || {
        let mut inp = std::io::stdin().lock();
        loop {
            let f = wire::read_frame(&mut inp);
            let end = !matches!(f, Ok(Frame::Msg(_)) | Ok(Frame::Data(_)));
            if tx.send(f).is_err() || end {
                break;
            }
        }
    });
    let mut c = Conn {
        frames,
        out: BufWriter::new(std::io::stdout()),
    };
    match session(rt, work_base, &mut c) {
        Ok(()) => 0,
        Err(why) => {
            c.send(&Msg::Failed { why: why.clone() });
            eprintln!("ward: migrate (receiving): {why}");
            1
        }
    }
}

struct Hello {
    copy_rootfs: bool,
    /// The source bundle's netns path (with copy_rootfs).
    src_netns: Option<String>,
    net: Option<crate::net::NetDesc>,
    /// The destination bundle's network namespace path (with `net`).
    netns: Option<PathBuf>,
    id: String,
    bundle: PathBuf,
    strategy: String,
    tcp: bool,
    fault: Option<String>,
    stdio: Vec<String>,
    pages: bool,
}

fn session(rt: &Runtime, work_base: &Path, c: &mut Conn) -> Result<(), String> {
    let h = match c.next(Duration::from_secs(60))? {
        Frame::Msg(Msg::Hello {
            version,
            id,
            bundle,
            strategy,
            tcp,
            copy_rootfs,
            fault,
            stdio,
            net,
            netns,
            pages,
        }) => {
            if version != crate::VERSION {
                return Err(format!(
                    "ward {version} on the source, ward {} here: both ends must be the same version",
                    crate::VERSION
                ));
            }
            Hello {
                copy_rootfs,
                src_netns: netns,
                net,
                netns: None,
                id,
                bundle: PathBuf::from(bundle),
                strategy,
                tcp,
                fault: fault.filter(|_| cfg!(debug_assertions)),
                stdio,
                pages,
            }
        }
        Frame::Eof => return Err("the source left before saying hello".into()),
        f => return Err(format!("expected hello, got {f:?}")),
    };
    let mut h = h;
    let (kernel, criu, criu_bin) = preflight(rt, &mut h)?;
    fs::create_dir_all(work_base).map_err(|e| format!("{}: {e}", work_base.display()))?;
    let dir = work_base.join(&h.id);
    if let Err(e) = fs::create_dir(&dir) {
        return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!(
                "{} exists: a migration of {} is already arriving here",
                dir.display(),
                h.id
            )
        } else {
            format!("{}: {e}", dir.display())
        });
    }
    let work = Work(dir);
    // The page socket, for the source's page-server dumps: only this
    // user (sshd connects to it as the ssh user, root) may connect.
    let pages = if h.pages {
        let p = work.0.join("pages.sock");
        let l = UnixListener::bind(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", p.display()))?;
        Some(Arc::new(l))
    } else {
        None
    };
    let mut serving: Option<(String, std::thread::JoinHandle<Result<(), String>>)> = None;
    let mut guard = start_guard(rt, &h.id, &work.0, &h.bundle)?;
    c.send(&Msg::Ready { kernel, criu });
    let _ = c.out.flush();
    die_here(&h.fault, "receiver@before-freeze");

    let mut file: Option<(File, u64, PathBuf)> = None;
    let mut tree = Tree::images(&work.0);
    let mut bundle_made = false;
    // A bundle this session made goes again if the session fails.
    let mut made_bundle = MadeBundle(None);
    let r = (|| -> Result<(), String> {
        loop {
            match c.next(Duration::from_secs(3600))? {
                Frame::Eof => {
                    release(&mut guard);
                    return Err("the source went away before the restore".into());
                }
                Frame::Data(d) => {
                    let Some((f, left, p)) = file.as_mut() else {
                        return Err("data out of turn".into());
                    };
                    if d.len() as u64 > *left {
                        return Err(format!("{}: more data than announced", p.display()));
                    }
                    f.write_all(&d)
                        .map_err(|e| format!("writing {}: {e}", p.display()))?;
                    *left -= d.len() as u64;
                    if *left == 0 {
                        let (f, _, p) = file.take().unwrap();
                        f.sync_data()
                            .map_err(|e| format!("writing {}: {e}", p.display()))?;
                    }
                }
                Frame::Msg(m) => {
                    if file.is_some() {
                        return Err("a file was cut short".into());
                    }
                    match m {
                        Msg::Base { what } => match what.as_str() {
                            "images" => tree = Tree::images(&work.0),
                            "bundle" if h.copy_rootfs => {
                                if !bundle_made {
                                    if let Some(parent) = h.bundle.parent() {
                                        fs::create_dir_all(parent)
                                            .map_err(|e| format!("{}: {e}", parent.display()))?;
                                    }
                                    fs::create_dir(&h.bundle)
                                        .map_err(|e| format!("{}: {e}", h.bundle.display()))?;
                                    bundle_made = true;
                                    made_bundle.0 = Some(h.bundle.clone());
                                    tell(&mut guard, b"b");
                                }
                                tree = Tree::bundle(&h.bundle, std::mem::take(&mut tree.links));
                            }
                            w => return Err(format!("the source sent base {w:?}")),
                        },
                        Msg::Dir {
                            path,
                            mode,
                            uid,
                            gid,
                        } => tree.dir(&path, mode, uid, gid)?,
                        Msg::File {
                            path,
                            size,
                            mode,
                            uid,
                            gid,
                        } => {
                            let (f, p) = tree.file(&path, mode, uid, gid)?;
                            if size > 0 {
                                file = Some((f, size, p));
                            }
                        }
                        Msg::Symlink {
                            path,
                            target,
                            uid,
                            gid,
                        } => tree.symlink(&path, &target, uid, gid)?,
                        Msg::Remove { path } => tree.remove(&path)?,
                        Msg::Pages { dir } => {
                            let Some(l) = pages.as_ref() else {
                                return Err(
                                    "pages announced, but no page socket was asked for".into()
                                );
                            };
                            if serving.is_some() {
                                return Err("pages announced twice".into());
                            }
                            let d = tree.path(&dir)?;
                            if dir.contains('/') || !d.is_dir() {
                                return Err(format!("pages announced for {dir:?}, which is no images directory here"));
                            }
                            let (l, bin, log) = (
                                l.clone(),
                                criu_bin.clone(),
                                work.0.join(format!("{dir}.pages.log")),
                            );
                            serving = Some((
                                dir,
                                std::thread::spawn(move || serve_pages(&l, &bin, &d, &log)),
                            ));
                        }
                        Msg::Sent { what } => {
                            if let Some((dir, _)) = &serving {
                                if *dir != what {
                                    return Err(format!(
                                        "{what} sent while the pages of {dir} were coming"
                                    ));
                                }
                                let (_, t) = serving.take().unwrap();
                                t.join().map_err(|_| {
                                    "the page server's thread panicked".to_string()
                                })??;
                                let bytes = pages_bytes(&work.0.join(&what));
                                c.send(&Msg::Got {
                                    what: what.clone(),
                                    bytes,
                                });
                                let _ = c.out.flush();
                            }
                            if what.starts_with("pre") {
                                die_here(&h.fault, "receiver@precopy");
                            } else {
                                die_here(&h.fault, "receiver@dumped");
                            }
                        }
                        Msg::Restore { page_server } => {
                            if let Some((dir, _)) = &serving {
                                return Err(format!(
                                    "restore asked while the pages of {dir} were coming"
                                ));
                            }
                            let r = restore(rt, &h, &work.0, work_base, c, &mut guard, page_server);
                            release(&mut guard);
                            return r;
                        }
                        m => return Err(format!("unexpected {m:?}")),
                    }
                }
            }
        }
    })();
    if r.is_ok() {
        made_bundle.0 = None;
    }
    r
}

/// One page-server connection: accepted (within 10 minutes) on the page
/// socket, and given to `criu page-server --ps-socket`, which writes the
/// pages under `dir` and ends when the dump closes its side.
fn serve_pages(l: &UnixListener, criu: &Path, dir: &Path, log: &Path) -> Result<(), String> {
    let sk = accept_within(l, Duration::from_secs(600))?;
    let fd = sk.as_raw_fd();
    let mut cmd = Command::new(criu);
    cmd.arg("page-server")
        .arg("--images-dir")
        .arg(dir)
        .args(["--ps-socket", "3", "-v2", "--log-file"])
        .arg(log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec only dup2(2), which is
    // async-signal-safe; it puts the accepted socket at fd 3 (dup2 clears
    // CLOEXEC on the copy).
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let st = cmd
        .status()
        .map_err(|e| format!("{}: {e}", criu.display()))?;
    drop(sk);
    if st.success() {
        return Ok(());
    }
    let text = fs::read_to_string(log).unwrap_or_default();
    let why = text
        .lines()
        .rev()
        .find(|l| l.contains("Error"))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| format!("exited with {st}"));
    Err(format!("the page server for {}: {why}", dir.display()))
}

fn accept_within(l: &UnixListener, t: Duration) -> Result<UnixStream, String> {
    l.set_nonblocking(true)
        .map_err(|e| format!("the page socket: {e}"))?;
    let end = Instant::now() + t;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)
                    .map_err(|e| format!("the page socket: {e}"))?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(format!(
                    "the source's page server connection did not come within {} s",
                    t.as_secs()
                ))
            }
            Err(e) => return Err(format!("the page socket: {e}")),
        }
    }
}

/// The memory an images directory holds (its pages-*.img files).
fn pages_bytes(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pages-"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn preflight(rt: &Runtime, h: &mut Hello) -> Result<(String, String, PathBuf), String> {
    ward_core::id::validate_id(&h.id).map_err(|e| e.to_string())?;
    let root = rt
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from("/run/ward"));
    fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let criu = ward_core::criu::Criu::probe(
        rt.criu.as_deref(),
        Some(&root.join(".criu-check.json")),
        &root,
    )
    .map_err(|e| e.to_string())?;
    criu.usable().map_err(|e| e.to_string())?;
    if h.strategy == "post-copy" {
        criu.needs(ward_core::criu::Need::LazyPages)
            .map_err(|e| e.to_string())?;
    }
    if h.strategy == "pre-copy" {
        criu.needs(ward_core::criu::Need::MemTrack("pre-copy"))
            .map_err(|e| e.to_string())?;
    }
    match rt.state(&h.id) {
        Ok(_) => return Err(format!("container {} exists here already", h.id)),
        Err(e) if e.contains("does not exist") => {}
        Err(e) => return Err(e),
    }
    if h.copy_rootfs {
        if fs::symlink_metadata(&h.bundle).is_ok() {
            return Err(format!(
                "{} exists here: --copy-rootfs brings the bundle and writes over nothing",
                h.bundle.display()
            ));
        }
    } else {
        let cfg = h.bundle.join("config.json");
        let data = fs::read(&cfg).map_err(|e| format!("bundle {}: {e}", cfg.display()))?;
        let v: serde_json::Value =
            serde_json::from_slice(&data).map_err(|e| format!("bundle {}: {e}", cfg.display()))?;
        let rootfs = v["root"]["path"].as_str().unwrap_or("rootfs");
        let rootfs = h.bundle.join(rootfs);
        if !rootfs.is_dir() {
            return Err(format!(
                "the bundle's rootfs {} is not here (copy it, or migrate with --copy-rootfs)",
                rootfs.display()
            ));
        }
    }
    if let (Some(n), true) = (&h.net, h.copy_rootfs) {
        let p = PathBuf::from(h.src_netns.clone().unwrap_or_default());
        if !p.is_absolute() {
            return Err("the source sent no network namespace path".into());
        }
        crate::net::check_dest(n, &p)?;
        h.netns = Some(p);
    } else if let Some(n) = &h.net {
        let p = crate::net::netns_path(&h.bundle)?.ok_or_else(|| {
            format!(
                "the container joins a network namespace by path on the source, but the bundle here ({}) gives it none",
                h.bundle.display()
            )
        })?;
        crate::net::check_dest(n, &p)?;
        h.netns = Some(p);
    }
    for s in &h.stdio {
        if !(s == "null" || s == "closed" || s == "inside" || s == "pipe" || s.starts_with("file:"))
        {
            return Err(format!("stdio {s:?} can't be re-made here"));
        }
    }
    Ok((
        ward_core::criu::kernel_release(),
        criu.info.version_text.clone(),
        criu.path.clone(),
    ))
}

/// The restored container's stdio: the null device, or a file of the
/// same mode under the work base (`<id>.fdN.log`, appended to). A pipe
/// whose other end stayed on the source: /dev/null for stdin, a new
/// `<id>.fdN.log` (0640) for stdout and stderr (CRIU reopens it through
/// /proc with the pipe's flags, without O_APPEND: so it starts empty).
fn stdio_for(work_base: &Path, id: &str, fd: usize, kind: &str) -> Result<File, String> {
    if kind == "pipe" && fd > 0 {
        let p = work_base.join(format!("{id}.fd{fd}.log"));
        return OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p)
            .map_err(|e| format!("{}: {e}", p.display()));
    }
    if let Some(mode) = kind.strip_prefix("file:") {
        let mode = u32::from_str_radix(mode, 8).map_err(|_| format!("bad mode {mode}"))? & 0o777;
        let p = work_base.join(format!("{id}.fd{fd}.log"));
        let f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p)
            .map_err(|e| format!("{}: {e}", p.display()))?;
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", p.display()))?;
        return Ok(f);
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("/dev/null: {e}"))
}

/// `ward cluster __guard --work DIR ID`, a process of its own (its own
/// process group, outside the ssh session): if the receiver dies, its
/// stdin ends without the byte `c`, and the guard removes the work
/// directory and, if it had been told `r` (a restore started), deletes
/// the container: a receiver SIGKILLed between the restore and the
/// source's commit leaves no second copy behind.
fn start_guard(rt: &Runtime, id: &str, work: &Path, bundle: &Path) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut c = Command::new(exe);
    c.args(["cluster", "__guard"]);
    c.arg("--ward").arg(&rt.bin);
    c.arg("--work").arg(work);
    c.arg("--bundle").arg(bundle);
    if let Some(r) = &rt.root {
        c.arg("--root").arg(r);
    }
    c.arg(id);
    c.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    c.spawn().map_err(|e| format!("starting the guard: {e}"))
}

fn tell(g: &mut Child, b: &[u8]) {
    if let Some(i) = g.stdin.as_mut() {
        let _ = i.write_all(b);
        let _ = i.flush();
    }
}

/// The receiver ends on its own terms: the guard goes without acting.
fn release(g: &mut Child) {
    tell(g, b"c");
    drop(g.stdin.take());
    let _ = g.wait();
}

pub fn guard(rt: &Runtime, id: &str, work: &Path, bundle: &Path) -> i32 {
    let mut restoring = false;
    let mut bundle_made = false;
    let mut b = [0u8; 1];
    loop {
        match std::io::Read::read(&mut std::io::stdin(), &mut b) {
            Ok(1) if b[0] == b'c' => return 0,
            Ok(1) if b[0] == b'r' => restoring = true,
            Ok(1) if b[0] == b'b' => bundle_made = true,
            Ok(1) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    if restoring {
        let _ = rt.run(&["delete", "--force", id], Duration::from_secs(120));
        if let Some((n, p)) = fs::read(work.join("net.json"))
            .ok()
            .and_then(|d| serde_json::from_slice::<(crate::net::NetDesc, PathBuf)>(&d).ok())
        {
            crate::net::undo(&n, &p);
        }
    }
    let _ = fs::remove_dir_all(work);
    if bundle_made {
        let _ = fs::remove_dir_all(bundle);
    }
    0
}

fn restore(
    rt: &Runtime,
    h: &Hello,
    work: &Path,
    work_base: &Path,
    c: &mut Conn,
    guard: &mut Child,
    page_server: Option<String>,
) -> Result<(), String> {
    tell(guard, b"r");
    let t = Instant::now();
    if let (Some(n), Some(p)) = (&h.net, &h.netns) {
        // For the guard, should this process die from here on.
        let _ = fs::write(
            work.join("net.json"),
            serde_json::to_vec(&(n, p)).unwrap_or_default(),
        );
        if let Err(e) = crate::net::recreate(n, p) {
            crate::net::undo(n, p);
            return Err(format!("re-making its network namespace: {e}"));
        }
    }
    let undo_net = || {
        if let (Some(n), Some(p)) = (&h.net, &h.netns) {
            crate::net::undo(n, p);
        }
    };
    let log = work.join("restore-ward.log");
    let fin = work.join("final");
    let mut args: Vec<String> = vec![
        "--log".into(),
        log.to_string_lossy().into_owned(),
        "restore".into(),
        "-d".into(),
        "--image-path".into(),
        fin.to_string_lossy().into_owned(),
        "--bundle".into(),
        h.bundle.to_string_lossy().into_owned(),
    ];
    if h.tcp {
        args.push("--tcp-established".into());
    }
    if let Some(ps) = &page_server {
        // Only what our own ssh forwards: a port on this loopback.
        let ok = ps
            .strip_prefix("127.0.0.1:")
            .is_some_and(|p| p.parse::<u16>().is_ok());
        if !ok {
            return Err(format!("the source named page server {ps:?}"));
        }
        args.extend(["--lazy-pages".into(), "--page-server".into(), ps.clone()]);
    }
    args.push(h.id.clone());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = rt.command(&a);
    let kinds: Vec<&str> = (0..3)
        .map(|i| h.stdio.get(i).map(String::as_str).unwrap_or("null"))
        .collect();
    cmd.stdin(stdio_for(work_base, &h.id, 0, kinds[0])?)
        .stdout(stdio_for(work_base, &h.id, 1, kinds[1])?)
        .stderr(stdio_for(work_base, &h.id, 2, kinds[2])?);
    if h.fault.as_deref() == Some("ward@restore") {
        cmd.env("WARD_FAULT", "restore:saved");
    }
    // SAFETY: prctl(PR_SET_PDEATHSIG) in the child between fork and exec
    // is async-signal-safe and touches no memory of ours: the restore
    // dies with this receiver, so that nothing restores behind its back.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", rt.bin.display()))?;
    let status = loop {
        if h.fault.as_deref() == Some("criu@restore") {
            kill_criu_below(child.id() as i32);
        }
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if t.elapsed() < Duration::from_secs(3600) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    if !status.is_some_and(|s| s.success()) {
        // Whatever half-made (a ward killed after saving its state).
        let _ = rt.run(&["delete", "--force", &h.id], Duration::from_secs(120));
        undo_net();
        for fd in 0..3 {
            let p = work_base.join(format!("{}.fd{fd}.log", h.id));
            if fs::metadata(&p).is_ok_and(|m| m.len() == 0) {
                let _ = fs::remove_file(p);
            }
        }
        let why = fs::read_to_string(&log)
            .ok()
            .and_then(|l| {
                l.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| match status {
                Some(s) => format!("ward restore exited with {s}"),
                None => "ward restore took more than an hour and was killed".into(),
            });
        return Err(format!("restore: {}", why.trim()));
    }
    let restore_ms = t.elapsed().as_millis() as u64;
    let pid = rt
        .state(&h.id)
        .ok()
        .and_then(|v| v["pid"].as_i64())
        .unwrap_or(0);
    die_here(&h.fault, "receiver@restore");
    c.send(&Msg::Running { pid, restore_ms });
    let _ = c.out.flush();
    match c.next(Duration::from_secs(60)) {
        Ok(Frame::Msg(Msg::Commit)) => {
            tell(guard, b"c");
            let warning = match (&h.net, &h.netns) {
                (Some(n), Some(p)) => crate::net::go_live(n, p)
                    .err()
                    .map(|e| format!("putting it on the link: {e}")),
                _ => None,
            };
            c.send(&Msg::Committed { warning });
            let _ = c.out.flush();
            // Post-copy: the images stay until the source says every page
            // has moved (or goes away); the others end here at once.
            let _ = c.next(Duration::from_secs(3600));
            Ok(())
        }
        other => {
            let _ = rt.run(&["delete", "--force", &h.id], Duration::from_secs(120));
            undo_net();
            Err(format!(
                "the source did not let go ({}): the restored copy was removed here",
                match other {
                    Ok(f) => format!("{f:?}"),
                    Err(e) => e,
                }
            ))
        }
    }
}

/// SIGKILLs a `criu` process below `pid`, if one exists (a test's fault, or
/// a lazy dump that must stop serving).
pub fn kill_criu_below(pid: i32) {
    let Ok(rd) = fs::read_dir("/proc") else {
        return;
    };
    for e in rd.flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let comm = fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        if comm.trim() != "criu" {
            continue;
        }
        // Walk up its parents to ours.
        let mut q = p;
        for _ in 0..16 {
            let stat = fs::read_to_string(format!("/proc/{q}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(1))
                .and_then(|s| s.parse::<i32>().ok())
                .unwrap_or(0);
            if ppid == pid {
                // SAFETY: kill(2) of a pid we just found below our child.
                unsafe { libc::kill(p, libc::SIGKILL) };
                return;
            }
            if ppid <= 1 {
                break;
            }
            q = ppid;
        }
    }
}
