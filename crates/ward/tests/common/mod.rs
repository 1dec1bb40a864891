//! Shared helpers for ward's integration tests.
//!
//! Every test builds its own scratch directory (`$TMPDIR/ward-test-…`, /tmp by default) holding a
//! private `--root` state directory and one or more bundles with a busybox
//! rootfs. A [`Ctx`] guard force-deletes every container it handed out an ID
//! for, kills any process still tied to its directory, unmounts whatever is
//! left mounted below it and removes it, even when the test panics.
//!
//! Every spawned command is time bounded: [`Proc::wait`] kills the whole
//! process group and fails the test when the bound is exceeded. Bounds are
//! multiplied by WARD_TEST_TIME_SCALE ([`time_scale`]; the test VM sets it).
//!
//! The runtime under test is `ward` from this package, or whatever binary
//! `WARD_TEST_BIN` names (e.g. `/usr/sbin/runc`, to validate the tests).

#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Time bound for a plain runtime command (state, kill, delete, create…).
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);
/// Time bound for a foreground `run` of a short-lived container.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for a container to reach a state or print a marker.
/// Generous: in the test VM (qemu TCG, on a loaded 2-core host) a busybox
/// shell building a 24 MiB string took over 20 s; a wait that succeeds
/// returns as soon as it can.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The marker long-running test containers print once they are set up.
pub const READY: &str = "WARD-READY";

/// What every time bound is multiplied by: WARD_TEST_TIME_SCALE (a whole
/// number, default 1). scripts/vm-test.sh sets it in the test VM, where
/// everything runs under emulation and, on a busy machine, many times
/// slower; a bound that holds there as on a host is still a bound.
pub fn time_scale() -> u32 {
    static SCALE: OnceLock<u32> = OnceLock::new();
    *SCALE.get_or_init(|| {
        std::env::var("WARD_TEST_TIME_SCALE")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n >= 1)
            .unwrap_or(1)
    })
}

/// `d` times [`time_scale`].
pub fn scaled(d: Duration) -> Duration {
    d * time_scale()
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn next_seq() -> usize {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

// ---------------------------------------------------------------------------
// Which runtime is under test
// ---------------------------------------------------------------------------

/// Path of the runtime binary under test.
pub fn runtime_bin() -> PathBuf {
    match std::env::var_os("WARD_TEST_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_ward")),
    }
}

/// True when the binary under test is ward itself (WARD_TEST_BIN not set).
pub fn testing_ward() -> bool {
    std::env::var_os("WARD_TEST_BIN").is_none_or(|p| p.is_empty())
}

/// For tests of ward-only behaviour: prints a SKIP line and returns true when
/// another runtime is under test.
pub fn skip_unless_ward(what: &str) -> bool {
    if testing_ward() {
        false
    } else {
        eprintln!(
            "SKIP: {what}: ward-only behaviour, WARD_TEST_BIN={}",
            runtime_bin().display()
        );
        true
    }
}

/// Name the runtime prints its errors under (`ward: …`).
pub fn runtime_name() -> String {
    runtime_bin()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ward".to_string())
}

// ---------------------------------------------------------------------------
// Time-bounded processes
// ---------------------------------------------------------------------------

/// Result of a finished command.
#[derive(Debug, Clone)]
pub struct Out {
    pub cmd: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// File the command's stdout went to; a container started by this
    /// command may keep writing there after the command has exited.
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl Out {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn describe(&self) -> String {
        format!(
            "command: {}\nexit code: {:?}, signal: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
            self.cmd, self.code, self.signal, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.success(),
            "command was expected to succeed\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn assert_fail(&self) -> &Self {
        assert!(
            self.code.is_some() && !self.success(),
            "command was expected to exit with a non-zero code\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code (wanted {code})\n{}",
            self.describe()
        );
        self
    }

    /// Current content of the stdout file (it may have grown since exit).
    pub fn stdout_now(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    /// Asserts ward's error contract: exactly one line on stderr of the form
    /// `ward: <command> <id>: …`. Only meaningful when testing ward.
    #[track_caller]
    pub fn assert_error_line(&self, command: &str, id: &str) {
        let text = self.stderr.trim_end_matches('\n');
        assert!(
            !text.is_empty() && !text.contains('\n'),
            "expected exactly one line on stderr\n{}",
            self.describe()
        );
        let prefix = format!("{}: {command} {id}: ", runtime_name());
        assert!(
            text.starts_with(&prefix),
            "stderr line does not start with {prefix:?}\n{}",
            self.describe()
        );
        let rest = &text[prefix.len()..];
        assert!(
            rest.contains(": ") && !rest.trim().is_empty(),
            "stderr line lacks '<what failed>: <why>' after {prefix:?}\n{}",
            self.describe()
        );
    }

    /// Case-insensitive check that stderr contains one of `needles`.
    #[track_caller]
    pub fn assert_stderr_has_any(&self, needles: &[&str]) {
        let low = self.stderr.to_lowercase();
        assert!(
            needles.iter().any(|n| low.contains(&n.to_lowercase())),
            "stderr contains none of {needles:?}\n{}",
            self.describe()
        );
    }
}

/// A spawned, time-bounded command. Dropping it kills its process group.
pub struct Proc {
    child: Option<Child>,
    cmd: String,
    out: PathBuf,
    err: PathBuf,
    deadline: Instant,
}

impl Proc {
    /// Spawns `cmd` in its own process group with stdin from /dev/null and
    /// stdout/stderr going to files (never pipes: a container inheriting a
    /// pipe would keep it open and hang the reader).
    pub fn spawn(mut cmd: Command, logdir: &Path, timeout: Duration) -> Proc {
        let n = next_seq();
        let out = logdir.join(format!("cmd{n}.out"));
        let err = logdir.join(format!("cmd{n}.err"));
        let fo = fs::File::create(&out).expect("create stdout file");
        let fe = fs::File::create(&err).expect("create stderr file");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(fo))
            .stderr(Stdio::from(fe))
            .process_group(0);
        let desc = describe_command(&cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
        Proc {
            child: Some(child),
            cmd: desc,
            out,
            err,
            deadline: Instant::now() + scaled(timeout),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// What the process has written to stdout so far.
    pub fn stdout_now(&self) -> String {
        read_lossy(&self.out)
    }

    pub fn stdout_path(&self) -> &Path {
        &self.out
    }

    /// What the process has written to stderr so far.
    pub fn stderr_now(&self) -> String {
        read_lossy(&self.err)
    }

    /// True once the process has exited (then reaped; wait() still returns
    /// its status).
    pub fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Sends `sig` to the process (not its group).
    pub fn signal(&self, sig: i32) {
        let pid = self.pid();
        assert!(pid > 0);
        // SAFETY: kill(2) has no memory-safety preconditions; pid is our
        // still-unreaped child, so it cannot name an unrelated process.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// Waits for the process to exit; on timeout kills its process group and
    /// panics.
    #[track_caller]
    pub fn wait(mut self) -> Out {
        let mut child = self.child.take().expect("process already waited for");
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    return Out {
                        cmd: self.cmd.clone(),
                        code: status.code(),
                        signal: status.signal(),
                        stdout: read_lossy(&self.out),
                        stderr: read_lossy(&self.err),
                        stdout_path: self.out.clone(),
                        stderr_path: self.err.clone(),
                    };
                }
                Ok(None) => {}
                Err(e) => panic!("waiting for {}: {e}", self.cmd),
            }
            if Instant::now() >= self.deadline {
                kill_group(&mut child);
                panic!(
                    "TIMEOUT: command did not finish in time and was killed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.cmd,
                    read_lossy(&self.out),
                    read_lossy(&self.err)
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(None) = child.try_wait() {
                kill_group(&mut child);
            }
        }
    }
}

fn kill_group(child: &mut Child) {
    let pid = child.id() as i32;
    // SAFETY: killpg(2) has no memory-safety preconditions; the group id is
    // our own unreaped child's pid, which it leads (process_group(0)).
    unsafe {
        libc::killpg(pid, libc::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn describe_command(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(' ') {
            let _ = write!(s, " {a:?}");
        } else {
            let _ = write!(s, " {a}");
        }
    }
    s
}

/// Runs a non-runtime helper command (e.g. `unshare`) with a time bound.
#[track_caller]
pub fn run_host(logdir: &Path, program: &str, args: &[&str]) -> Out {
    let mut cmd = Command::new(program);
    cmd.args(args);
    Proc::spawn(cmd, logdir, CMD_TIMEOUT).wait()
}

// ---------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------

pub fn read_lossy(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Polls `cond` every 20ms until it holds or `timeout` (times
/// [`time_scale`]) passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + scaled(timeout);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `path` contains `marker`; panics with the content otherwise.
#[track_caller]
pub fn wait_for_marker(path: &Path, marker: &str) -> String {
    let mut last = String::new();
    let ok = wait_until(WAIT_TIMEOUT, || {
        last = read_lossy(path);
        last.contains(marker)
    });
    assert!(
        ok,
        "marker {marker:?} never appeared in {}; content so far:\n{last}",
        path.display()
    );
    last
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            // state is the field after the ")" that ends comm
            let state = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start())
                .unwrap_or("");
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Start time (field 22 of /proc/<pid>/stat), to tell a pid from a reused one.
pub fn pid_starttime(pid: i32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.rsplit_once(')')?.1;
    // rest starts at field 3 (state); starttime is field 22
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// True if `pid` still runs the very process that had `starttime`.
pub fn same_process_alive(pid: i32, starttime: Option<u64>) -> bool {
    pid_alive(pid) && pid_starttime(pid) == starttime
}

/// The NUL-separated argv of a process, split.
pub fn proc_cmdline(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until process `pid` has exec'd `argv` (read from the host).
#[track_caller]
pub fn wait_exec(pid: i32, argv: &[&str]) {
    let mut last = Vec::new();
    let ok = wait_until(WAIT_TIMEOUT, || {
        last = proc_cmdline(pid);
        last == argv
    });
    assert!(
        ok,
        "process {pid} never exec'd {argv:?}; its cmdline is {last:?}"
    );
}

/// A field of /proc/<pid>/status, e.g. `status_field(pid, "CapEff")`.
pub fn status_field(pid: i32, key: &str) -> Option<String> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    field_in(&s, key)
}

/// A `Key:\tvalue` field of a /proc status-style text.
pub fn field_in(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim().to_string())
    })
}

/// The namespace link of a process, e.g. `net:[4026531840]`.
pub fn ns_link(pid: &str, ns: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{ns}: {e}"))
        .to_string_lossy()
        .into_owned()
}

pub fn all_pids() -> Vec<i32> {
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse().ok()) {
                v.push(pid);
            }
        }
    }
    v
}

// ---------------------------------------------------------------------------
// mountinfo
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct MountEntry {
    /// major:minor of the mounted filesystem
    pub dev: String,
    pub root: String,
    pub mount_point: String,
    pub mount_opts: Vec<String>,
    pub fstype: String,
    pub source: String,
    pub super_opts: Vec<String>,
}

impl MountEntry {
    /// Whether `opt` is among the per-mount or the superblock options.
    pub fn has_opt(&self, opt: &str) -> bool {
        self.mount_opts.iter().any(|o| o == opt) || self.super_opts.iter().any(|o| o == opt)
    }
}

fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    let mut v = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 3 {
            continue;
        }
        v.push(MountEntry {
            dev: l[2].to_string(),
            root: unescape_mount(l[3]),
            mount_point: unescape_mount(l[4]),
            mount_opts: l[5].split(',').map(str::to_string).collect(),
            fstype: r[0].to_string(),
            source: unescape_mount(r[1]),
            super_opts: r[2].split(',').map(str::to_string).collect(),
        });
    }
    v
}

/// The mount table of process `pid` as seen from the host.
pub fn mounts_of(pid: i32) -> Vec<MountEntry> {
    let text = fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/mountinfo: {e}"));
    parse_mountinfo(&text)
}

/// The last (top-most) mount at `point` in a table.
pub fn mount_at<'a>(mounts: &'a [MountEntry], point: &str) -> Option<&'a MountEntry> {
    mounts.iter().rev().find(|m| m.mount_point == point)
}

// ---------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------

pub const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Bit mask of a list of capability names.
pub fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |m, n| {
        let bit = CAP_NAMES
            .iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("unknown capability {n}"));
        m | (1u64 << bit)
    })
}

/// Names of the bits set in a mask, for readable assertion messages.
pub fn cap_names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|b| mask & (1u64 << b) != 0)
        .map(|b| {
            CAP_NAMES
                .get(b)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("bit{b}"))
        })
        .collect()
}

pub fn parse_hex_mask(s: &str) -> u64 {
    u64::from_str_radix(s.trim(), 16).unwrap_or_else(|e| panic!("bad cap mask {s:?}: {e}"))
}

/// The capabilities the base config grants (none of them needs anything the
/// host lacks; CAP_SYS_RESOURCE is absent from this host's bounding set).
pub const BASE_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

// ---------------------------------------------------------------------------
// Rootfs and bundles
// ---------------------------------------------------------------------------

fn busybox_path() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!("busybox not found: install it with `apt-get install -y busybox-static`");
}

/// The applets of the host's busybox, listed once per test binary.
fn applets() -> &'static [String] {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let bb = busybox_path();
        let out = Command::new(&bb)
            .arg("--list")
            .output()
            .unwrap_or_else(|e| panic!("{} --list: {e}", bb.display()));
        assert!(out.status.success(), "busybox --list failed");
        let list: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
            .map(str::to_string)
            .collect();
        for needed in [
            "sh", "cat", "ls", "id", "sleep", "mount", "stat", "hostname",
        ] {
            assert!(
                list.iter().any(|a| a == needed),
                "busybox lacks the {needed} applet"
            );
        }
        list
    })
}

/// Builds a busybox rootfs at `dir`.
pub fn build_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).expect("mkdir rootfs/bin");
    fs::copy(busybox_path(), bin.join("busybox")).expect("copy busybox");
    fs::set_permissions(bin.join("busybox"), fs::Permissions::from_mode(0o755))
        .expect("chmod busybox");
    for a in applets() {
        symlink("busybox", bin.join(a)).expect("applet symlink");
    }
    for d in [
        "proc", "sys", "dev", "etc", "root", "mnt", "run", "var", "home", "data", "usr",
    ] {
        fs::create_dir_all(dir.join(d)).expect("mkdir in rootfs");
    }
    symlink("../bin", dir.join("usr/bin")).expect("usr/bin symlink");
    symlink("bin", dir.join("sbin")).expect("sbin symlink");
    fs::create_dir_all(dir.join("tmp")).expect("mkdir tmp");
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("write passwd");
    fs::write(
        dir.join("etc/group"),
        "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
    )
    .expect("write group");
    fs::write(dir.join("etc/marker"), "rootfs-etc-marker\n").expect("write marker");
}

/// The base config every test starts from: non-interactive, writable root,
/// the usual namespaces and mounts. `args` defaults to `true`.
pub fn base_config() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["true"],
            "env": ["PATH=/bin:/sbin:/usr/bin", "TERM=xterm", "HOME=/root"],
            "cwd": "/",
            "capabilities": {
                "bounding": BASE_CAPS,
                "effective": BASE_CAPS,
                "permitted": BASE_CAPS
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "ward-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"},
                {"type": "network"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// A bundle directory: `config` is written to config.json by [`Bundle::write`]
/// (the `Ctx` helpers that take a bundle write it first).
pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
}

impl Bundle {
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn path(&self) -> &str {
        self.dir.to_str().expect("utf-8 bundle path")
    }

    pub fn write(&self) {
        let text = serde_json::to_string_pretty(&self.config).expect("serialize config");
        fs::write(self.dir.join("config.json"), text).expect("write config.json");
    }

    pub fn process(&mut self) -> &mut Value {
        &mut self.config["process"]
    }

    /// Gives the process `cap` in its bounding, effective and permitted sets.
    pub fn add_cap(&mut self, cap: &str) {
        for set in ["bounding", "effective", "permitted"] {
            self.process()["capabilities"][set]
                .as_array_mut()
                .expect("the spec's capability sets")
                .push(json!(cap));
        }
    }

    pub fn linux(&mut self) -> &mut Value {
        &mut self.config["linux"]
    }

    pub fn set_args(&mut self, args: &[&str]) {
        self.config["process"]["args"] = json!(args);
    }

    /// args = ["sh", "-c", script]
    pub fn sh(&mut self, script: &str) {
        self.set_args(&["sh", "-c", script]);
    }

    /// A container that runs `setup`, prints [`READY`] and then idles as
    /// `sleep 1000` (same pid: the shell execs it).
    pub fn long_running(&mut self, setup: &str) {
        let script = if setup.is_empty() {
            format!("echo {READY}; exec sleep 1000")
        } else {
            format!("{setup}; echo {READY}; exec sleep 1000")
        };
        self.sh(&script);
    }

    pub fn add_mount(&mut self, m: Value) {
        self.config["mounts"]
            .as_array_mut()
            .expect("mounts array")
            .push(m);
    }

    pub fn add_namespace(&mut self, ns: Value) {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces array")
            .push(ns);
    }

    pub fn remove_namespace(&mut self, ty: &str) {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces array")
            .retain(|n| n["type"] != ty);
    }

    /// Replaces (or adds) the namespace entry of type `ty`.
    pub fn set_namespace(&mut self, ty: &str, ns: Value) {
        self.remove_namespace(ty);
        self.add_namespace(ns);
    }
}

// ---------------------------------------------------------------------------
// The per-test context / cleanup guard
// ---------------------------------------------------------------------------

/// A test's scratch area and cleanup guard.
pub struct Ctx {
    /// $TMPDIR (/tmp by default)/ward-test-<name>-<pid>-<n>
    pub dir: PathBuf,
    /// The runtime's `--root` (not created up front).
    pub root: PathBuf,
    logs: PathBuf,
    ids: Mutex<Vec<String>>,
    host_mounts: Mutex<Vec<PathBuf>>,
}

impl Ctx {
    pub fn new(name: &str) -> Ctx {
        let pid = std::process::id();
        let dir = loop {
            let d = std::env::temp_dir().join(format!("ward-test-{name}-{pid}-{}", next_seq()));
            match fs::create_dir(&d) {
                Ok(()) => break d,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("mkdir {}: {e}", d.display()),
            }
        };
        let logs = dir.join("logs");
        fs::create_dir(&logs).expect("mkdir logs");
        Ctx {
            root: dir.join("state"),
            dir,
            logs,
            ids: Mutex::new(Vec::new()),
            host_mounts: Mutex::new(Vec::new()),
        }
    }

    pub fn dir_str(&self) -> &str {
        self.dir.to_str().expect("utf-8 dir")
    }

    /// A fresh container ID, registered for `delete --force` on drop.
    pub fn id(&self, tag: &str) -> String {
        let id = format!("wt-{tag}-{}-{}", std::process::id(), next_seq());
        self.track(&id);
        id
    }

    /// Registers an ID for cleanup (e.g. one not made by [`Ctx::id`]).
    pub fn track(&self, id: &str) {
        self.ids.lock().unwrap().push(id.to_string());
    }

    /// Registers a host mount point the test made, to be unmounted on drop
    /// and ignored by [`Ctx::leftovers`].
    pub fn track_host_mount(&self, p: &Path) {
        self.host_mounts.lock().unwrap().push(p.to_path_buf());
    }

    /// A new bundle `<dir>/<name>` with a fresh busybox rootfs and the base
    /// config (not yet written).
    pub fn bundle(&self, name: &str) -> Bundle {
        let dir = self.dir.join(name);
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        build_rootfs(&dir.join("rootfs"));
        Bundle {
            dir,
            config: base_config(),
        }
    }

    /// A runtime command with `--root` set (plus `args`).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(runtime_bin());
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    pub fn spawn(&self, args: &[&str], timeout: Duration) -> Proc {
        Proc::spawn(self.command(args), &self.logs, timeout)
    }

    pub fn spawn_cmd(&self, cmd: Command, timeout: Duration) -> Proc {
        Proc::spawn(cmd, &self.logs, timeout)
    }

    /// Runs the runtime with `args` and [`CMD_TIMEOUT`].
    #[track_caller]
    pub fn rt(&self, args: &[&str]) -> Out {
        self.spawn(args, CMD_TIMEOUT).wait()
    }

    /// Runs a host helper program with a time bound.
    #[track_caller]
    pub fn host(&self, program: &str, args: &[&str]) -> Out {
        run_host(&self.logs, program, args)
    }

    /// `create --bundle B ID` (writes the config first). Not asserted.
    #[track_caller]
    pub fn create(&self, b: &Bundle, id: &str) -> Out {
        b.write();
        self.rt(&["create", "--bundle", b.path(), id])
    }

    /// `create` that must succeed; returns the container's init pid.
    #[track_caller]
    pub fn create_ok(&self, b: &Bundle, id: &str) -> (i32, Out) {
        let out = self.create(b, id);
        out.assert_ok();
        let pid = self.pid_of(id);
        (pid, out)
    }

    #[track_caller]
    pub fn start_ok(&self, id: &str) {
        self.rt(&["start", id]).assert_ok();
    }

    /// create + start a [`Bundle::long_running`] container and wait for its
    /// READY marker; returns (init pid, create output).
    #[track_caller]
    pub fn start_long(&self, b: &Bundle, id: &str) -> (i32, Out) {
        let (pid, out) = self.create_ok(b, id);
        self.start_ok(id);
        wait_for_marker(&out.stdout_path, READY);
        wait_exec(pid, &["sleep", "1000"]);
        (pid, out)
    }

    /// Foreground `run --bundle B ID` (writes the config first).
    #[track_caller]
    pub fn run(&self, b: &Bundle, id: &str) -> Out {
        b.write();
        self.spawn(&["run", "--bundle", b.path(), id], RUN_TIMEOUT)
            .wait()
    }

    /// Foreground run that must exit 0; returns its stdout.
    #[track_caller]
    pub fn run_ok(&self, b: &Bundle, id: &str) -> String {
        let out = self.run(b, id);
        out.assert_ok();
        out.stdout
    }

    /// `state ID` parsed; panics if the command fails.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.rt(&["state", id]);
        out.assert_ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON ({e})\n{}", out.describe()))
    }

    /// The status string, or None if `state` fails.
    pub fn status(&self, id: &str) -> Option<String> {
        let out = self.rt(&["state", id]);
        if !out.success() {
            return None;
        }
        let v: Value = serde_json::from_str(&out.stdout).ok()?;
        v["status"].as_str().map(str::to_string)
    }

    #[track_caller]
    pub fn pid_of(&self, id: &str) -> i32 {
        let st = self.state(id);
        let pid = st["pid"].as_i64().unwrap_or(0);
        assert!(pid > 0, "state of {id} has no pid > 0: {st}");
        pid as i32
    }

    /// Waits until `state ID` reports `status`.
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str) {
        let mut last = None;
        let ok = wait_until(WAIT_TIMEOUT, || {
            last = self.status(id);
            last.as_deref() == Some(status)
        });
        assert!(
            ok,
            "container {id} never reached status {status:?}; last: {last:?}"
        );
    }

    /// Everything tied to this test that a failed or finished command may
    /// have left behind: entries under --root, host mounts below the test
    /// directory, processes living in a rootfs of this test or started with
    /// its paths, and cgroups named after one of `ids`.
    pub fn leftovers(&self, ids: &[&str]) -> Vec<String> {
        let mut found = Vec::new();
        if let Ok(rd) = fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
                if is_dir || ids.iter().any(|id| !id.is_empty() && name.contains(id)) {
                    found.push(format!("entry under --root: {}", e.path().display()));
                }
            }
        }
        let own: Vec<PathBuf> = self.host_mounts.lock().unwrap().clone();
        if let Ok(text) = fs::read_to_string("/proc/self/mountinfo") {
            for m in parse_mountinfo(&text) {
                if Path::new(&m.mount_point).starts_with(&self.dir)
                    && !own.iter().any(|o| Path::new(&m.mount_point) == o)
                {
                    found.push(format!("host mount left: {} ({})", m.mount_point, m.fstype));
                }
            }
        }
        for pid in self.related_pids() {
            found.push(format!(
                "process left: pid {pid} cmdline {:?}",
                proc_cmdline(pid)
            ));
        }
        for id in ids
            .iter()
            .filter(|id| !id.is_empty() && !id.contains('/') && !id.starts_with('.'))
        {
            for cg in cgroups_named(id) {
                found.push(format!("cgroup left: {}", cg.display()));
            }
        }
        found
    }

    /// Asserts (waiting a little for exiting processes) that nothing is left.
    #[track_caller]
    pub fn assert_nothing_left(&self, ids: &[&str]) {
        let mut last = Vec::new();
        let clean = wait_until(Duration::from_secs(5), || {
            last = self.leftovers(ids);
            last.is_empty()
        });
        assert!(clean, "things left behind:\n  {}", last.join("\n  "));
    }

    /// Processes tied to this test: living in another mount namespace whose
    /// mount table mentions our directory (a container of ours), or whose
    /// cwd is below it, or whose command line mentions it (a runtime process
    /// started with our --root / --bundle).
    pub fn related_pids(&self) -> Vec<i32> {
        let me = std::process::id() as i32;
        // With a trailing slash, so /tmp/ward-test-x-1 never matches the
        // directory of another test named /tmp/ward-test-x-10.
        let dir = format!("{}/", self.dir_str());
        let base = format!(
            "/{}/",
            self.dir.file_name().unwrap_or_default().to_string_lossy()
        );
        let my_mnt = fs::read_link("/proc/self/ns/mnt").ok();
        let mut v = Vec::new();
        for pid in all_pids() {
            if pid == me || !pid_alive(pid) {
                continue;
            }
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd_hit = String::from_utf8_lossy(&cmd).contains(&dir);
            let cwd_hit = fs::read_link(format!("/proc/{pid}/cwd"))
                .map(|p| p.starts_with(&self.dir))
                .unwrap_or(false);
            // In another mount namespace: ours if its root mount is one of
            // our rootfs. (Any mention of our dir would also catch another
            // test's container in mid-setup, which still holds a copy of
            // the host's mount table.) The root field is relative to the
            // file system, so the dir's own name is matched.
            let mnt = fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
            let mnt_hit = mnt.is_some()
                && mnt != my_mnt
                && fs::read_to_string(format!("/proc/{pid}/mountinfo"))
                    .map(|t| {
                        parse_mountinfo(&t)
                            .iter()
                            .any(|m| m.mount_point == "/" && m.root.contains(&base))
                    })
                    .unwrap_or(false);
            if cmd_hit || cwd_hit || mnt_hit {
                v.push(pid);
            }
        }
        v
    }
}

/// cgroup directories named `id` or `ward-<id>` (ward's default), one or
/// two levels below each hierarchy.
pub fn cgroups_named(id: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let Ok(rd) = fs::read_dir("/sys/fs/cgroup") else {
        return v;
    };
    let mut hierarchies: Vec<PathBuf> = vec![PathBuf::from("/sys/fs/cgroup")];
    hierarchies.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    let names = [id.to_string(), format!("ward-{id}")];
    for h in hierarchies {
        for name in &names {
            let direct = h.join(name);
            if direct.is_dir() {
                v.push(direct);
            }
        }
        if let Ok(rd) = fs::read_dir(&h) {
            for e in rd.flatten() {
                for name in &names {
                    let p = e.path().join(name);
                    if e.path().is_dir() && p.is_dir() {
                        v.push(p);
                    }
                }
            }
        }
    }
    v.sort();
    v.dedup();
    v
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let ids: Vec<String> = self.ids.lock().map(|g| g.clone()).unwrap_or_default();
        for id in &ids {
            let p = self.spawn(&["delete", "--force", id], Duration::from_secs(15));
            // A hung delete must not abort the cleanup (and Proc's Drop
            // kills it); wait() would panic inside drop, so poll instead.
            let deadline = Instant::now() + scaled(Duration::from_secs(15));
            let mut p = p;
            while Instant::now() < deadline {
                if let Some(c) = p.child.as_mut() {
                    if let Ok(Some(_)) = c.try_wait() {
                        break;
                    }
                }
                thread::sleep(Duration::from_millis(10));
            }
            drop(p);
        }
        // Safety net: anything of ours still alive gets SIGKILL.
        for _ in 0..3 {
            let pids = self.related_pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                // SAFETY: kill(2) has no memory-safety preconditions; the pid
                // belongs to a process tied to this test's own directory.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            thread::sleep(Duration::from_millis(100));
        }
        // Unmount whatever is still mounted below our directory, deepest
        // first.
        let mut points: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
            .map(|t| parse_mountinfo(&t))
            .unwrap_or_default()
            .into_iter()
            .map(|m| m.mount_point)
            .filter(|p| Path::new(p).starts_with(&self.dir))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            if let Ok(c) = std::ffi::CString::new(p) {
                // SAFETY: c is a valid NUL-terminated path string.
                unsafe {
                    libc::umount2(c.as_ptr(), libc::MNT_DETACH);
                }
            }
        }
        for id in ids
            .iter()
            .filter(|id| !id.is_empty() && !id.contains('/') && !id.starts_with('.'))
        {
            for cg in cgroups_named(id) {
                let _ = fs::remove_dir(cg);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// Misc helpers used by several test files
// ---------------------------------------------------------------------------

/// Lines of `text` as a set of trimmed, non-empty strings.
pub fn line_set(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The value printed after `KEY=` on a line of the form `KEY=value`.
#[track_caller]
pub fn kv(text: &str, key: &str) -> String {
    let prefix = format!("{key}=");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no line {prefix}… in output:\n{text}"))
        .trim()
        .to_string()
}

// ---------------------------------------------------------------------------
// Unix sockets, passed fds and ptys (exec, seccomp notify, NOTIFY_SOCKET)
// ---------------------------------------------------------------------------

/// Accepts one connection on `listener` within `timeout`; the stream it
/// returns blocks, with a 10 s read timeout.
pub fn accept_within(
    listener: &std::os::unix::net::UnixListener,
    timeout: Duration,
) -> Option<std::os::unix::net::UnixStream> {
    listener
        .set_nonblocking(true)
        .expect("listener nonblocking");
    let deadline = Instant::now() + scaled(timeout);
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).expect("stream blocking");
                s.set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("read timeout");
                return Some(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return None;
                }
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Runs `run`, which has the runtime send a pty master to `listener` (a
/// --console-socket), and returns the one fd that came, checked to be a
/// pty master.
pub fn receive_console_master(
    listener: &std::os::unix::net::UnixListener,
    run: impl FnOnce(),
) -> std::os::fd::OwnedFd {
    use std::os::fd::{AsFd, AsRawFd};
    let master = thread::scope(|s| {
        let acceptor = s.spawn(|| {
            accept_within(listener, CMD_TIMEOUT + Duration::from_secs(5)).map(|c| {
                let (_, mut fds) = recv_with_fds(c.as_fd());
                assert_eq!(fds.len(), 1, "expected one fd on the console socket");
                fds.pop().unwrap()
            })
        });
        run();
        acceptor
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
            .expect("the runtime never connected to the console socket")
    });
    let link = fs::read_link(format!("/proc/self/fd/{}", master.as_raw_fd())).unwrap();
    assert!(
        link.to_string_lossy().contains("ptmx"),
        "received fd is not a pty master: {}",
        link.display()
    );
    master
}

/// Receives one message on a unix socket: its bytes and the fds that came
/// with it by SCM_RIGHTS (received CLOEXEC).
pub fn recv_with_fds(sock: std::os::fd::BorrowedFd<'_>) -> (Vec<u8>, Vec<std::os::fd::OwnedFd>) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let mut data = vec![0u8; 64 * 1024];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut control = [0u64; 64];
    // SAFETY: msghdr is a plain C struct for which all-zero bytes are valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at live buffers (iov/data, control) of the sizes
    // given, all of which outlive the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    data.truncate(n as usize);
    let mut fds = Vec::new();
    // SAFETY: msg was filled in by recvmsg and its control buffer is live.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg is non-null and points into the control buffer, as
        // returned by CMSG_FIRSTHDR/CMSG_NXTHDR.
        let hdr = unsafe { &*cmsg };
        if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == libc::SCM_RIGHTS {
            // SAFETY: CMSG_LEN is a pure size computation.
            let header = unsafe { libc::CMSG_LEN(0) } as usize;
            let count = (hdr.cmsg_len as usize - header) / std::mem::size_of::<i32>();
            // SAFETY: cmsg is a valid SCM_RIGHTS header inside the buffer.
            let p = unsafe { libc::CMSG_DATA(cmsg) } as *const i32;
            for i in 0..count {
                // SAFETY: the kernel wrote `count` ints after the header;
                // read_unaligned copes with the data's alignment.
                let fd = unsafe { p.add(i).read_unaligned() };
                // SAFETY: the kernel installed this fd for us; we own it now.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
        // SAFETY: msg and cmsg are valid as above.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    (data, fds)
}

/// Waits up to `timeout` for `fd` to become readable.
pub fn poll_readable(fd: std::os::fd::BorrowedFd<'_>, timeout: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + scaled(timeout);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is a valid pollfd array of length 1.
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32) };
        if r > 0 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

/// Reads from a pty master until `marker` shows up, the slave side closes
/// or `timeout` passes; returns what was read.
pub fn read_pty_until(master: &std::os::fd::OwnedFd, marker: &str, timeout: Duration) -> String {
    use std::io::Read;
    use std::os::fd::AsFd;
    let deadline = Instant::now() + scaled(timeout);
    let mut file = fs::File::from(master.try_clone().expect("dup pty master"));
    let mut got = Vec::new();
    while Instant::now() < deadline && !String::from_utf8_lossy(&got).contains(marker) {
        if !poll_readable(master.as_fd(), Duration::from_millis(200)) {
            continue;
        }
        let mut buf = [0u8; 4096];
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => break, // EIO: the slave side is closed
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Makes `cmd` start with `fds[i]` as its fd `3 + i` (the others stay as
/// std leaves them: CLOEXEC).
pub fn pass_fds(cmd: &mut Command, fds: &[std::os::fd::RawFd]) {
    let fds: Vec<i32> = fds.to_vec();
    // SAFETY: the closure only calls fcntl and dup2, which are
    // async-signal-safe, on fds the caller keeps open across the spawn; it
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // First move every source out of the target range, so that a
            // source that is itself one of the targets is not clobbered.
            let mut moved = [0i32; 16];
            assert!(fds.len() <= moved.len());
            for (i, fd) in fds.iter().enumerate() {
                let n = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 100);
                if n < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                moved[i] = n;
            }
            for (i, fd) in moved[..fds.len()].iter().enumerate() {
                // dup2 clears CLOEXEC on the new fd.
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Host pids of every process in the pid namespace of `init` (init too).
pub fn pids_in_pidns_of(init: i32) -> Vec<i32> {
    let Ok(ns) = fs::read_link(format!("/proc/{init}/ns/pid")) else {
        return Vec::new();
    };
    all_pids()
        .into_iter()
        .filter(|p| fs::read_link(format!("/proc/{p}/ns/pid")).ok().as_ref() == Some(&ns))
        .collect()
}

/// The children of `pid` listed by /proc/<pid>/task/*/children.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir(format!("/proc/{pid}/task")) {
        for t in rd.flatten() {
            let text = read_lossy(&t.path().join("children"));
            v.extend(
                text.split_whitespace()
                    .filter_map(|s| s.parse::<i32>().ok()),
            );
        }
    }
    v
}

/// The one-letter state of a process (R, S, Z, …), None if it is gone.
pub fn proc_state(pid: i32) -> Option<char> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Compiles the C program `source` statically into `out` (for a rootfs);
/// false, after a SKIP line naming `test`, when there is no C compiler or no
/// static libc (scripts/test.sh installs gcc and libc6-dev).
pub fn build_static_c(ctx: &Ctx, source: &str, out: &Path, test: &str) -> bool {
    let name = out.file_name().unwrap().to_string_lossy().into_owned();
    let src = ctx.dir.join(format!("{name}.c"));
    fs::write(&src, source).unwrap();
    let res = ctx.host(
        "sh",
        &[
            "-c",
            "command -v cc >/dev/null || exit 99; exec cc -static -O1 -o \"$1\" \"$2\"",
            "sh",
            out.to_str().unwrap(),
            src.to_str().unwrap(),
        ],
    );
    if res.code == Some(99) {
        eprintln!("SKIP: {test}: no C compiler (cc) to build {name}");
        return false;
    }
    if !res.success() {
        eprintln!(
            "SKIP: {test}: cannot build a static {name} (libc6-dev?)\n{}",
            res.describe()
        );
        return false;
    }
    true
}
