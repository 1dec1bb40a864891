//! Support for tests/engines.rs: the engines' packages, their daemons
//! (started here, with every state directory and socket below the test's
//! scratch directory, and stopped by pid on drop), a busybox image made
//! without a registry, and the host-wide things an engine touches (cgroup
//! parents, iptables, bridges, /run dirs) put back as they were.

#![allow(dead_code)]

pub mod checks;
pub mod ctr;
pub mod docker;
pub mod podman;

use crate::common::{self, Ctx, Out};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Debian packages the engine tests use; scripts/test.sh installs them too.
pub const PACKAGES: &[&str] = &[
    "podman",
    "containerd",
    "docker.io",
    "netavark",
    "aardvark-dns",
    "iptables",
    "curl",
];

/// Time bound for one engine command (a run, an exec, a stop…).
pub const ENGINE_TIMEOUT: Duration = Duration::from_secs(60);

/// The image every engine runs: the busybox rootfs of common::build_rootfs.
pub const IMAGE: &str = "localhost/wardbox:latest";

/// The docker-like command line that podman and docker share.
pub trait EngineCli {
    /// The client with its daemon's or storage's options, and `args`.
    fn command(&self, args: &[&str]) -> Command;

    #[track_caller]
    fn run(&self, ctx: &Ctx, args: &[&str]) -> Out {
        run(ctx, self.command(args), ENGINE_TIMEOUT)
    }

    #[track_caller]
    fn ok(&self, ctx: &Ctx, args: &[&str]) -> String {
        self.run(ctx, args).assert_ok().stdout.clone()
    }

    #[track_caller]
    fn inspect(&self, ctx: &Ctx, name: &str, format: &str) -> String {
        self.ok(ctx, &["inspect", "-f", format, name])
            .trim()
            .to_string()
    }
}

/// Root is needed (real containers, daemons); returns false after a SKIP
/// line when the tests can't run at all.
pub fn can_run(what: &str) -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: {what}: needs root (daemons and real containers)");
        return false;
    }
    if std::env::var("WARD_ENGINES").as_deref() == Ok("0") {
        eprintln!("SKIP: {what}: WARD_ENGINES=0");
        return false;
    }
    true
}

/// Makes sure the engines are installed: scripts/deps.sh (the same script
/// scripts/test.sh calls with these packages) when a binary is missing.
pub fn ensure_installed() {
    let missing = ["podman", "containerd", "ctr", "dockerd", "docker", "curl"]
        .iter()
        .any(|b| which(b).is_none())
        || !Path::new("/usr/lib/podman/netavark").exists();
    if !missing {
        return;
    }
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/deps.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script).args(PACKAGES);
    let dir = std::env::temp_dir();
    let out = common::Proc::spawn(cmd, &dir, Duration::from_secs(600)).wait();
    out.assert_ok();
}

pub fn which(name: &str) -> Option<PathBuf> {
    for dir in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

/// Runs `cmd` with a time bound (stdout/stderr to files of the test).
#[track_caller]
pub fn run(ctx: &Ctx, cmd: Command, timeout: Duration) -> Out {
    ctx.spawn_cmd(cmd, timeout).wait()
}

// ---------------------------------------------------------------------------
// Daemons
// ---------------------------------------------------------------------------

/// A daemon (containerd, dockerd) started by the test: SIGTERM on drop, and
/// SIGKILL to its process group if it is not gone in 20 s.
pub struct Daemon {
    pub name: &'static str,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    pub fn spawn(name: &'static str, mut cmd: Command, log: PathBuf) -> Daemon {
        let f = fs::File::create(&log).expect("daemon log");
        let f2 = f.try_clone().expect("dup log");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(f))
            .stderr(Stdio::from(f2))
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon {
            name,
            child: Some(child),
            log,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// Waits until `ready` holds; panics with the daemon's log when it
    /// exits or doesn't get ready in time.
    #[track_caller]
    pub fn wait_ready(&mut self, timeout: Duration, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if ready() {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() >= deadline {
                panic!(
                    "{} did not get ready (exit: {exited:?}); its log:\n{}",
                    self.name,
                    tail(&common::read_lossy(&self.log), 40)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_tail(&self) -> String {
        tail(&common::read_lossy(&self.log), 40)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id() as i32;
        // SAFETY: kill(2) has no memory-safety preconditions; pid is our own
        // unreaped child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} ignored SIGTERM for 20 s: SIGKILL", self.name);
        // SAFETY: as above; the group is led by our child (process_group(0)).
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ---------------------------------------------------------------------------
// Host-wide state an engine may touch, put back on drop
// ---------------------------------------------------------------------------

/// Restores what engines leave outside their own directories: cgroup
/// parents (removed, deepest first, in every hierarchy), the iptables rules
/// (netavark leaves its chains behind; restored to the snapshot taken
/// first), network links that did not exist, and runtime dirs under /run
/// that did not exist (containerd 1.6 puts shim sockets in /run/containerd/s
/// whatever its state dir is).
#[derive(Default)]
pub struct HostGuard {
    cgroup_parents: Vec<String>,
    iptables: Option<String>,
    links: Vec<String>,
    shared: Vec<(PathBuf, bool)>,
    files: Vec<PathBuf>,
}

impl HostGuard {
    pub fn new() -> HostGuard {
        HostGuard::default()
    }

    /// A cgroup parent (relative to each hierarchy's root) to remove.
    pub fn cgroup_parent(&mut self, name: &str) {
        assert!(!name.is_empty() && !name.contains("..") && !name.starts_with('/'));
        self.cgroup_parents.push(name.to_string());
    }

    pub fn snapshot_iptables(&mut self) {
        if let Some(s) = iptables_save() {
            self.iptables = Some(s);
        }
    }

    /// A link the test itself made, or one an engine makes that did not
    /// exist before.
    pub fn link_if_new(&mut self, name: &str) {
        if !Path::new("/sys/class/net").join(name).exists() {
            self.links.push(name.to_string());
        }
    }

    /// A directory an engine may create: removed (if empty, deepest first)
    /// when it did not exist before.
    /// A directory an engine may create (/run/containerd, /run/docker…):
    /// removed, empty dirs only, when it did not exist before. The engine
    /// tests run in parallel and share these: whether it existed is decided
    /// by the first guard to look, and only the last guard out removes it.
    pub fn dir_if_new(&mut self, p: &str) {
        self.shared.push((share(p), false));
    }

    /// Like dir_if_new, but with everything in it (netavark's
    /// /run/containers holds its IPAM database, which podman makes even for
    /// an import).
    pub fn tree_if_new(&mut self, p: &str) {
        self.shared.push((share(p), true));
    }

    /// A file an engine may create: removed when it did not exist before.
    pub fn file_if_new(&mut self, p: &str) {
        let p = PathBuf::from(p);
        if !p.exists() {
            self.files.push(p);
        }
    }
}

/// Paths the tests of this binary share: did it exist before the first
/// of them looked, and how many guards hold it now.
static SHARED: std::sync::Mutex<std::collections::BTreeMap<PathBuf, (bool, usize)>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn share(p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    let mut m = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    m.entry(p.clone()).or_insert_with(|| (p.exists(), 0)).1 += 1;
    p
}

/// Drops one hold on a shared path; the last one out removes what it may.
fn unshare(p: &Path, whole_tree: bool) {
    let mut m = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    let Some(entry) = m.get_mut(p) else { return };
    entry.1 -= 1;
    if entry.1 == 0 && !entry.0 {
        if whole_tree {
            let _ = fs::remove_dir_all(p);
        } else {
            remove_empty_tree(p);
        }
    }
}

fn iptables_save() -> Option<String> {
    let out = Command::new("iptables-save").output().ok()?;
    out.status.success().then(|| {
        // Without the comment lines (they carry timestamps).
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    })
}

/// Every cgroup hierarchy root: /sys/fs/cgroup itself when it is cgroup2,
/// else each directory below it. Not only the mounted ones: where a v1
/// hierarchy this process is in is mounted nowhere (see
/// unmounted_v1_hierarchy), podman's cgroupfs manager makes its parents as
/// plain directories on the tmpfs, at /sys/fs/cgroup/<controller>/…
fn hierarchies() -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        v.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    v
}

/// Removes a cgroup directory tree, deepest first (cgroup dirs are removed
/// with rmdir even though they hold files).
pub fn remove_cgroup_tree(p: &Path) {
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(p);
}

impl Drop for HostGuard {
    fn drop(&mut self) {
        for name in &self.cgroup_parents {
            for h in hierarchies() {
                let p = h.join(name);
                if p.is_dir() && !h.join("cgroup.procs").exists() {
                    // Plain directories podman made on the tmpfs.
                    let _ = fs::remove_dir_all(&p);
                } else if p.is_dir() {
                    // A container process may still be on its way out.
                    let _ = common::wait_until(Duration::from_secs(5), || {
                        remove_cgroup_tree(&p);
                        !p.exists()
                    });
                }
            }
        }
        if let Some(saved) = &self.iptables {
            if iptables_save().as_deref() != Some(saved.as_str()) {
                let mut c = Command::new("iptables-restore");
                c.stdin(Stdio::piped());
                if let Ok(mut child) = c.spawn() {
                    if let Some(mut stdin) = child.stdin.take() {
                        use std::io::Write;
                        let _ = stdin.write_all(saved.as_bytes());
                    }
                    let _ = child.wait();
                }
            }
        }
        for l in &self.links {
            if Path::new("/sys/class/net").join(l).exists() {
                let _ = Command::new("ip").args(["link", "del", l]).status();
            }
        }
        for f in &self.files {
            let _ = fs::remove_file(f);
        }
        for (p, whole_tree) in &self.shared {
            unshare(p, *whole_tree);
        }
    }
}

/// Removes `d` and its subdirectories, those that are empty (a shim that is
/// still exiting may hold a socket there).
fn remove_empty_tree(d: &Path) {
    if let Ok(rd) = fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(d);
}

// ---------------------------------------------------------------------------
// The image
// ---------------------------------------------------------------------------

/// A tar of the busybox rootfs at `<ctx>/rootfs.tar`.
pub fn rootfs_tar(ctx: &Ctx) -> PathBuf {
    let rootfs = ctx.dir.join("image-rootfs");
    common::build_rootfs(&rootfs);
    let tar = ctx.dir.join("rootfs.tar");
    let out = ctx.host(
        "tar",
        &[
            "-C",
            rootfs.to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ],
    );
    out.assert_ok();
    tar
}

/// A TCP port on 127.0.0.1 that is free right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// GET http://127.0.0.1:PORT/ with curl until it answers (the server in the
/// container may still be starting).
pub fn curl_until(ctx: &Ctx, port: u16, want: &str) -> String {
    let url = format!("http://127.0.0.1:{port}/");
    let mut last = String::new();
    let ok = common::wait_until(Duration::from_secs(15), || {
        let out = ctx.host("curl", &["-s", "-m", "3", &url]);
        last = format!("{}{}", out.stdout, out.stderr);
        out.success() && out.stdout.contains(want)
    });
    assert!(ok, "curl {url} never returned {want:?}; last: {last:?}");
    last
}

/// A host cgroup v1 (or v2) file for a cgroup path: the first hierarchy
/// where it exists.
pub fn cgroup_file(rel: &str, file: &str) -> Option<String> {
    let rel = rel.trim_start_matches('/');
    for h in hierarchies() {
        let p = h.join(rel).join(file);
        if let Ok(s) = fs::read_to_string(&p) {
            return Some(s.trim().to_string());
        }
    }
    None
}

/// Where the test runs: the runtime binary the engines are pointed at.
pub fn ward_bin() -> PathBuf {
    common::runtime_bin()
}

/// A cgroup v1 hierarchy this process belongs to that is mounted nowhere
/// (e.g. `hugetlb`, left behind by a test that mounted it, made cgroups in
/// it and unmounted it). containerd's cgroups library then fails to load
/// any container's cgroup ("cgroups: cannot find cgroup mount
/// destination"), with runc as with ward: the shim has no metrics and no
/// OOM events. None on a sane host.
pub fn unmounted_v1_hierarchy() -> Option<String> {
    let mine = fs::read_to_string("/proc/self/cgroup").ok()?;
    let mounts = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mounted: Vec<Vec<String>> = mounts
        .lines()
        .filter_map(|l| {
            let (_, post) = l.split_once(" - ")?;
            let mut f = post.split_whitespace();
            (f.next()? == "cgroup").then(|| {
                let opts = f.nth(1).unwrap_or("");
                opts.split(',').map(str::to_string).collect()
            })
        })
        .collect();
    for line in mine.lines() {
        let mut f = line.splitn(3, ':');
        let (id, ctrls) = (f.next()?, f.next()?);
        if id == "0" || ctrls.is_empty() {
            continue;
        }
        let want: Vec<&str> = ctrls.split(',').collect();
        if !mounted
            .iter()
            .any(|opts| want.iter().all(|c| opts.iter().any(|o| o == c)))
        {
            return Some(ctrls.to_string());
        }
    }
    None
}

/// Waits for a cleanup command without panicking (a panic inside drop
/// aborts); the Proc's own drop kills it at the bound.
pub fn wait_quietly(mut p: common::Proc, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if !common::pid_alive(p.pid()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = &mut p;
    false
}
