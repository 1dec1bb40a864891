//! Shared helpers for ward-box's integration tests.
//!
//! Every test gets an [`Env`]: a scratch directory `/tmp/ward-box-test-…`
//! with its own store (`--root`) and runtime state (`--runroot`). Dropping
//! it removes every box (`ward box rm -f`, then the runtime's delete), kills
//! any process left that belongs to it, unmounts everything below it and
//! removes the cgroups of its boxes, even when the test panicked.
//!
//! Images are made here, from Debian's busybox-static: a small tar writer
//! (full control over names, so hostile layers can be written byte for
//! byte) and an OCI layout writer. Every command has a time bound.

#![allow(dead_code)]

pub mod net;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The bound on one command: 60 s, or 600 s in the test VM (TCG emulates
/// every instruction, and a layer's hashing and inflating is all CPU).
pub static TIMEOUT: std::sync::LazyLock<Duration> = std::sync::LazyLock::new(|| {
    let in_vm = fs::read_to_string("/proc/cmdline").is_ok_and(|c| c.contains("ward.run="));
    Duration::from_secs(if in_vm { 600 } else { 60 })
});

/// Whether the file system of `dir` takes user.* xattrs (tmpfs only since
/// Linux 6.6: the test VM's /tmp on Debian's 6.1 doesn't).
pub fn user_xattrs_work(dir: &Path) -> bool {
    let p = dir.join(".xattr-probe");
    let _ = fs::write(&p, b"");
    let c = std::ffi::CString::new(p.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: valid NUL-terminated strings and a 1-byte value.
    let r = unsafe {
        libc::setxattr(
            c.as_ptr(),
            c"user.probe".as_ptr(),
            b"y".as_ptr().cast(),
            1,
            0,
        )
    };
    let _ = fs::remove_file(&p);
    r == 0
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

pub fn ward_box_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ward-box"))
}

/// The runtime binary next to ward-box (where ward-box looks first); built
/// once if `cargo test -p ward-box` ran without it.
pub fn ward_bin() -> PathBuf {
    static W: OnceLock<PathBuf> = OnceLock::new();
    W.get_or_init(|| {
        let p = ward_box_bin().with_file_name("ward");
        if !p.is_file() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let st = Command::new(cargo)
                .args(["build", "-q", "-p", "ward"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo build -p ward");
            assert!(
                st.success() && p.is_file(),
                "ward runtime not built at {}",
                p.display()
            );
        }
        p
    })
    .clone()
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Prints SKIP and returns true when not root.
pub fn skip_unless_root(what: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("SKIP: {what}: needs root");
    true
}

/// A command's outcome.
#[derive(Debug, Clone)]
pub struct Out {
    pub cmd: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "expected success\n{}", self.describe());
        self
    }
    #[track_caller]
    pub fn assert_code(&self, c: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(c),
            "unexpected exit code\n{}",
            self.describe()
        );
        self
    }
    /// ward's error contract: non-zero, exactly one line on stderr,
    /// `ward: <prefix>...: <why>`, holding every needle (case-insensitive).
    #[track_caller]
    pub fn assert_one_line_error(&self, prefix: &str, needles: &[&str]) {
        assert!(
            self.code.is_some() && !self.ok(),
            "expected failure\n{}",
            self.describe()
        );
        let text = self.stderr.trim_end();
        assert!(
            !text.is_empty() && !text.contains('\n'),
            "expected exactly one line on stderr\n{}",
            self.describe()
        );
        assert!(
            text.starts_with(&format!("ward: {prefix}")),
            "stderr should start with ward: {prefix}\n{}",
            self.describe()
        );
        let low = text.to_lowercase();
        for n in needles {
            assert!(
                low.contains(&n.to_lowercase()),
                "stderr lacks {n:?}\n{}",
                self.describe()
            );
        }
    }
}

/// Runs `cmd` with a time bound (its process group is killed past it).
pub fn run_cmd(mut cmd: Command, timeout: Duration) -> Out {
    let shown = format!("{cmd:?}");
    let dir = std::env::temp_dir();
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let o = dir.join(format!("ward-box-out-{}-{n}", std::process::id()));
    let e = dir.join(format!("ward-box-err-{}-{n}", std::process::id()));
    cmd.stdout(fs::File::create(&o).unwrap())
        .stderr(fs::File::create(&e).unwrap());
    if cmd.get_program() != "__keep_stdin" {
        cmd.stdin(Stdio::null());
    }
    cmd.process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {shown}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            // SAFETY: kill(2) on the process group of our own child.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = Out {
        cmd: shown.clone(),
        code: status.and_then(|s| s.code()),
        stdout: fs::read_to_string(&o).unwrap_or_default(),
        stderr: fs::read_to_string(&e).unwrap_or_default(),
    };
    let _ = fs::remove_file(&o);
    let _ = fs::remove_file(&e);
    assert!(
        status.is_some(),
        "timed out after {timeout:?}\n{}",
        out.describe()
    );
    out
}

/// A test's store, runtime state and scratch space.
pub struct Env {
    pub dir: PathBuf,
    pub store: PathBuf,
    pub run: PathBuf,
    /// As root: a network namespace of the test's own, pinned at
    /// `<dir>.hostns`, that plays the host. Every `ward box` command runs
    /// in it (image boxes default to the bridge network: the bridge, NAT
    /// and port rules go there, never to the machine's namespace), with
    /// the networks' conflists in `<dir>/net.d`.
    pub hostns: Option<PathBuf>,
}

impl Env {
    /// An Env whose commands run in the machine's network namespace, for
    /// tests that talk to servers on its loopback (a registry, a token
    /// gate in the test process). Its boxes must use `--net none`.
    pub fn with_machine_net(name: &str) -> Env {
        Env::make(name, false)
    }

    pub fn new(name: &str) -> Env {
        Env::make(name, true)
    }

    fn make(name: &str, own_net: bool) -> Env {
        let dir = std::env::temp_dir().join(format!(
            "ward-box-test-{name}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let hostns = (own_net && is_root()).then(|| make_hostns(&dir));
        let env = Env {
            store: dir.join("store"),
            run: dir.join("run"),
            dir,
            hostns,
        };
        let _ = ward_bin();
        env
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = match &self.hostns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.display()))
                    .arg("--")
                    .arg(ward_box_bin())
                    .arg("--network-config-dir")
                    .arg(self.dir.join("net.d"));
                c
            }
            None => {
                let mut c = Command::new(ward_box_bin());
                c.arg("--network-config-dir").arg(self.dir.join("net.d"));
                c
            }
        };
        c.arg("--root")
            .arg(&self.store)
            .arg("--runroot")
            .arg(&self.run);
        c.args(args);
        c.env("WARD_BOX_RUNTIME", ward_bin());
        c
    }

    /// `ward-box ARGS` (ARGS start with `box` or `image`).
    pub fn wb(&self, args: &[&str]) -> Out {
        run_cmd(self.cmd(args), *TIMEOUT)
    }

    pub fn layers(&self) -> Vec<String> {
        list(&self.store.join("layers"))
    }

    pub fn tmp_entries(&self) -> Vec<String> {
        list(&self.store.join("tmp"))
    }

    /// Every box's ID: those in the store, and one-off host-view boxes
    /// under RUN.
    pub fn box_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = list(&self.store.join("boxes"))
            .into_iter()
            .chain(list(&self.run.join("boxes")))
            .filter(|n| n.len() == 64)
            .collect();
        v.sort();
        v
    }

    /// The runtime's containers (its --root).
    pub fn runtime_ids(&self) -> Vec<String> {
        list(&self.run.join("runtime"))
    }

    pub fn mounts_below(&self) -> Vec<String> {
        mounts_below(&self.dir)
    }

    /// The mounts of boxes: all below the test's directory but RUN/netns,
    /// a shared mount point of its own, made once and kept (as iproute2
    /// keeps /run/netns), that the pins of namespaces go below.
    pub fn box_mounts(&self) -> Vec<String> {
        let netns_dir = self.run.join("netns");
        self.mounts_below()
            .into_iter()
            .filter(|m| Path::new(m) != netns_dir)
            .collect()
    }

    /// Nothing of any box left: no box dir, runtime state, mount, cgroup.
    #[track_caller]
    pub fn assert_no_boxes_left(&self, ids: &[String]) {
        assert!(
            self.box_ids().is_empty(),
            "box dirs left: {:?}",
            self.box_ids()
        );
        assert!(
            self.runtime_ids().is_empty(),
            "runtime containers left: {:?}",
            self.runtime_ids()
        );
        let mounts = self.box_mounts();
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
        for names in [self.store.join("names"), self.run.join("names")] {
            assert!(list(&names).is_empty(), "names left: {:?}", list(&names));
        }
        for id in ids {
            assert!(
                cgroups_of(id).is_empty(),
                "cgroups left for {id}: {:?}",
                cgroups_of(id)
            );
        }
    }
}

pub fn list(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn mounts_below(dir: &Path) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| Path::new(m).starts_with(dir))
        .collect()
}

/// cgroup directories named after a box's runtime ID (ward's `ward-<id>`).
pub fn cgroups_of(id: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let name = format!("ward-{id}");
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        roots.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for r in roots {
        let p = r.join(&name);
        if p.is_dir() {
            v.push(p);
        }
    }
    v
}

/// Makes and pins the network namespace that plays the host for a test
/// (`<dir>.hostns`, beside the test's directory), with `lo` up.
fn make_hostns(dir: &Path) -> PathBuf {
    let pin = dir.with_extension("hostns");
    fs::write(&pin, b"").unwrap();
    let st = Command::new("unshare")
        .arg(format!("--net={}", pin.display()))
        .args(["ip", "link", "set", "lo", "up"])
        .status()
        .expect("unshare");
    assert!(st.success(), "unshare --net={} failed", pin.display());
    pin
}

impl Env {
    /// A command run in the test's host namespace (`ip`, `iptables-save`...).
    pub fn in_host(&self, program: &str, args: &[&str]) -> Out {
        let ns = self.hostns.as_ref().expect("a host namespace (root)");
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", ns.display()))
            .arg("--")
            .arg(program)
            .args(args);
        run_cmd(c, *TIMEOUT)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let ids = self.box_ids();
        for id in &ids {
            let mut c = self.cmd(&["box", "rm", "-f", id]);
            c.stdout(Stdio::null())
                .stderr(Stdio::null())
                .stdin(Stdio::null());
            if let Ok(mut ch) = c.spawn() {
                let deadline = Instant::now() + Duration::from_secs(20);
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = ch.try_wait() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                let _ = ch.kill();
                let _ = ch.wait();
            }
        }
        for id in self.runtime_ids() {
            let _ = Command::new(ward_bin())
                .arg("--root")
                .arg(self.run.join("runtime"))
                .args(["delete", "--force", &id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        // Processes still tied to our directory (supervisors, registries).
        for pid in pids_mentioning(&self.dir) {
            // SAFETY: kill(2) on a process whose command line names our dir.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let mut points = self.mounts_below();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            if let Ok(c) = std::ffi::CString::new(p) {
                // SAFETY: a valid NUL-terminated path.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        for id in &ids {
            for cg in cgroups_of(id) {
                let _ = fs::remove_dir(cg);
            }
        }
        if let Some(ns) = &self.hostns {
            // What still runs in the test's host namespace (a network's
            // dnsmasq), then the namespace: its bridges, veths and rules
            // go with it.
            if let Ok(m) = fs::metadata(ns) {
                use std::os::unix::fs::MetadataExt;
                let link = format!("net:[{}]", m.ino());
                for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                        continue;
                    };
                    if fs::read_link(format!("/proc/{pid}/ns/net"))
                        .is_ok_and(|l| l.to_string_lossy() == link)
                    {
                        // SAFETY: kill(2) on a process in the test's own
                        // network namespace.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
            if let Ok(c) = std::ffi::CString::new(ns.as_os_str().as_encoded_bytes()) {
                // SAFETY: a valid NUL-terminated path.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
            let _ = fs::remove_file(ns);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Pids whose command line mentions `dir`.
pub fn pids_mentioning(dir: &Path) -> Vec<i32> {
    let me = std::process::id() as i32;
    let needle = dir.to_string_lossy().into_owned();
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            v.push(pid);
        }
    }
    v
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let d = Instant::now() + timeout;
    while Instant::now() < d {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

// ---------------------------------------------------------------------------
// Tar and image building
// ---------------------------------------------------------------------------

/// One tar entry, written as given (no cleaning of names).
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: Vec<u8>,
    pub kind: u8,
    pub data: Vec<u8>,
    pub link: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u64,
    pub dev: (u32, u32),
    pub pax: Vec<(String, Vec<u8>)>,
}

impl Entry {
    fn new(name: &str, kind: u8, mode: u32) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            kind,
            data: vec![],
            link: vec![],
            mode,
            uid: 0,
            gid: 0,
            mtime: 1_700_000_000,
            dev: (0, 0),
            pax: vec![],
        }
    }
    pub fn file(name: &str, data: &[u8]) -> Entry {
        let mut e = Entry::new(name, b'0', 0o644);
        e.data = data.to_vec();
        e
    }
    pub fn dir(name: &str) -> Entry {
        Entry::new(name, b'5', 0o755)
    }
    pub fn symlink(name: &str, target: &str) -> Entry {
        let mut e = Entry::new(name, b'2', 0o777);
        e.link = target.as_bytes().to_vec();
        e
    }
    pub fn hardlink(name: &str, target: &str) -> Entry {
        let mut e = Entry::new(name, b'1', 0o644);
        e.link = target.as_bytes().to_vec();
        e
    }
    pub fn chardev(name: &str, major: u32, minor: u32) -> Entry {
        let mut e = Entry::new(name, b'3', 0o666);
        e.dev = (major, minor);
        e
    }
    pub fn fifo(name: &str) -> Entry {
        Entry::new(name, b'6', 0o644)
    }
    pub fn mode(mut self, m: u32) -> Entry {
        self.mode = m;
        self
    }
    pub fn owner(mut self, uid: u32, gid: u32) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }
    pub fn xattr(mut self, k: &str, v: &[u8]) -> Entry {
        self.pax.push((format!("SCHILY.xattr.{k}"), v.to_vec()));
        self
    }
}

fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0width$o}", v, width = field.len() - 1);
    field[..s.len()].copy_from_slice(s.as_bytes());
    field[field.len() - 1] = 0;
}

fn header(name: &[u8], kind: u8, size: u64, e: &Entry) -> [u8; 512] {
    let mut h = [0u8; 512];
    assert!(
        name.len() <= 100,
        "test tar names must fit ustar's 100 bytes"
    );
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], e.mode as u64);
    octal(&mut h[108..116], e.uid as u64);
    octal(&mut h[116..124], e.gid as u64);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], e.mtime);
    h[156] = kind;
    h[157..157 + e.link.len()].copy_from_slice(&e.link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], e.dev.0 as u64);
    octal(&mut h[337..345], e.dev.1 as u64);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(512) {
        out.push(0);
    }
}

/// A tar stream of `entries`, exactly as given.
pub fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        if !e.pax.is_empty() {
            let mut body = Vec::new();
            for (k, v) in &e.pax {
                let rest = [b" ", k.as_bytes(), b"=", v, b"\n"].concat();
                let mut len = rest.len() + 1;
                while format!("{len}").len() + rest.len() != len {
                    len += 1;
                }
                body.extend_from_slice(format!("{len}").as_bytes());
                body.extend_from_slice(&rest);
            }
            out.extend_from_slice(&header(b"PaxHeader", b'x', body.len() as u64, e));
            out.extend_from_slice(&body);
            pad(&mut out);
        }
        out.extend_from_slice(&header(&e.name, e.kind, e.data.len() as u64, e));
        out.extend_from_slice(&e.data);
        pad(&mut out);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

pub fn sha256_hex(b: &[u8]) -> String {
    let d = Sha256::digest(b);
    d.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn compress(data: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(data, 1).unwrap(),
    }
}

/// The busybox rootfs as tar entries: /bin/busybox, its applets as
/// symlinks, /etc/passwd and group, the usual empty directories.
pub fn busybox_entries() -> Vec<Entry> {
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .expect("busybox-static");
    let mut v = vec![
        Entry::dir("bin"),
        Entry::file("bin/busybox", &fs::read(bb).unwrap()).mode(0o755),
    ];
    let list = Command::new(bb).arg("--list").output().unwrap();
    for a in String::from_utf8_lossy(&list.stdout).lines() {
        let a = a.trim();
        if !a.is_empty() && a != "busybox" && !a.contains('/') {
            v.push(Entry::symlink(&format!("bin/{a}"), "busybox"));
        }
    }
    for d in [
        "etc", "proc", "sys", "dev", "root", "run", "var", "usr", "home",
    ] {
        v.push(Entry::dir(d));
    }
    v.push(Entry::dir("tmp").mode(0o1777));
    v.push(Entry::symlink("usr/bin", "../bin"));
    v.push(Entry::symlink("sbin", "bin"));
    v.push(Entry::file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1234:4321:app:/home:/bin/sh\n"));
    v.push(Entry::file(
        "etc/group",
        b"root:x:0:\nnogroup:x:65534:\napp:x:4321:\n",
    ));
    v
}

/// An OCI image description.
#[derive(Clone)]
pub struct Image {
    pub layers: Vec<Vec<u8>>,
    pub compression: Compression,
    pub config: Value,
}

impl Image {
    pub fn new(layers: Vec<Vec<u8>>) -> Image {
        Image {
            layers,
            compression: Compression::Gzip,
            config: json!({"Cmd": ["sh"], "Env": ["PATH=/bin"]}),
        }
    }

    pub fn busybox() -> Image {
        Image::new(vec![tar(&busybox_entries())])
    }

    /// Writes an OCI layout at `dir` tagged `tag`; returns the manifest
    /// digest. `lie` lets a test corrupt the descriptors after the fact.
    pub fn write_layout(&self, dir: &Path, tag: &str) -> String {
        self.write_layout_with(dir, tag, |_| {})
    }

    pub fn write_layout_with(
        &self,
        dir: &Path,
        tag: &str,
        edit_manifest: impl FnOnce(&mut Value),
    ) -> String {
        let blobs = dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).unwrap();
        let put = |data: &[u8]| -> String {
            let h = sha256_hex(data);
            fs::write(blobs.join(&h), data).unwrap();
            format!("sha256:{h}")
        };
        let mut layer_descs = vec![];
        let mut diff_ids = vec![];
        for l in &self.layers {
            diff_ids.push(format!("sha256:{}", sha256_hex(l)));
            let c = compress(l, self.compression);
            let mt = match self.compression {
                Compression::None => "application/vnd.oci.image.layer.v1.tar",
                Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
                Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            };
            layer_descs.push(json!({"mediaType": mt, "digest": put(&c), "size": c.len()}));
        }
        let config = json!({
            "architecture": "amd64", "os": "linux",
            "config": self.config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let cb = serde_json::to_vec(&config).unwrap();
        let cd = put(&cb);
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cb.len()},
            "layers": layer_descs,
        });
        edit_manifest(&mut manifest);
        let mb = serde_json::to_vec(&manifest).unwrap();
        let md = put(&mb);
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let index = json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mb.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
            "platform": {"architecture": "amd64", "os": "linux"}}]});
        fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        md
    }
}

/// A file tree summary for comparisons: path → (type, mode, uid, gid,
/// content hash or link target). Overlay whiteouts never appear in a
/// merged view, so the same walk serves a merged overlay and umoci's tree.
pub fn tree(root: &Path) -> std::collections::BTreeMap<String, String> {
    use std::os::unix::fs::MetadataExt;
    let mut m = std::collections::BTreeMap::new();
    fn walk(root: &Path, p: &Path, m: &mut std::collections::BTreeMap<String, String>) {
        for e in fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let md = fs::symlink_metadata(&path).unwrap();
            let ft = md.file_type();
            let what = if ft.is_symlink() {
                format!("link {}", fs::read_link(&path).unwrap().display())
            } else if ft.is_dir() {
                "dir".to_string()
            } else if ft.is_file() {
                format!("file {}", sha256_hex(&fs::read(&path).unwrap()))
            } else {
                format!("other {:o} {}", md.mode() & 0o170000, md.rdev())
            };
            let mode = if ft.is_symlink() {
                0
            } else {
                md.mode() & 0o7777
            };
            m.insert(
                rel,
                format!("{what} mode={mode:o} owner={}:{}", md.uid(), md.gid()),
            );
            if ft.is_dir() {
                walk(root, &path, m);
            }
        }
    }
    walk(root, root, &mut m);
    m
}
