//! Time-bounded commands and small process helpers.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Time bound for a helper command (ctr, ip, tar, gcc, a runtime's delete).
pub const CMD_TIMEOUT: Duration = Duration::from_secs(60);

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A finished (or killed) command.
#[derive(Debug, Clone)]
pub struct Out {
    pub cmd: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn describe(&self) -> String {
        format!(
            "command: {}\nexit code: {:?}, signal: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.code, self.signal, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.success(), "command failed\n{}", self.describe());
        self
    }
}

/// Runs `cmd` in its own process group, stdin from /dev/null, stdout and
/// stderr to files under `logdir` (never pipes: a daemon or container that
/// inherits one would keep it open). After `timeout` the group is killed
/// and the Out says so (code None, "TIMEOUT" in stderr).
pub fn run(mut cmd: Command, logdir: &Path, timeout: Duration) -> Out {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let (o, e) = (
        logdir.join(format!("cmd{n}.out")),
        logdir.join(format!("cmd{n}.err")),
    );
    let desc = describe(&cmd);
    let spawned = fs::File::create(&o).and_then(|fo| {
        let fe = fs::File::create(&e)?;
        cmd.stdin(Stdio::null())
            .stdout(fo)
            .stderr(fe)
            .process_group(0)
            .spawn()
    });
    let mut child = match spawned {
        Ok(c) => c,
        Err(err) => {
            return Out {
                cmd: desc,
                code: Some(-1),
                signal: None,
                stdout: String::new(),
                stderr: format!("cannot spawn: {err}"),
            }
        }
    };
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if Instant::now() >= deadline {
            kill_group(child.id() as i32);
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let mut out = Out {
        cmd: desc,
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        stdout: read_lossy(&o),
        stderr: read_lossy(&e),
    };
    if status.is_none() {
        let _ = write!(out.stderr, "\nTIMEOUT after {timeout:?}: killed");
    }
    out
}

/// `program args…` with [`CMD_TIMEOUT`].
pub fn host(logdir: &Path, program: &str, args: &[&str]) -> Out {
    let mut c = Command::new(program);
    c.args(args);
    run(c, logdir, CMD_TIMEOUT)
}

pub fn describe(cmd: &Command) -> String {
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

pub fn read_lossy(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
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

pub fn kill_group(pgid: i32) {
    if pgid > 1 {
        // SAFETY: killpg(2) has no memory-safety preconditions; the group is
        // one this test started (process_group(0) makes the child its leader).
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

pub fn kill(pid: i32, sig: i32) {
    if pid > 1 {
        // SAFETY: kill(2) has no memory-safety preconditions; callers pass
        // pids of processes this test started or that run in its cgroups.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Whether `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start())
                .unwrap_or("");
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// The NUL-separated argv of a process.
pub fn cmdline(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The first of the usual system directories that holds `name`.
pub fn which(name: &str) -> Option<PathBuf> {
    [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]
    .iter()
    .map(|d| Path::new(d).join(name))
    .find(|p| p.is_file())
}

/// Mount points (unescaped of \040 and friends) of this process's table.
pub fn mount_points() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(unescape))
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Detaches every mount at or below `dir`, deepest first.
pub fn unmount_below(dir: &Path) {
    for _ in 0..3 {
        let mut points: Vec<String> = mount_points()
            .into_iter()
            .filter(|p| Path::new(p).starts_with(dir))
            .collect();
        if points.is_empty() {
            return;
        }
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            if let Ok(c) = std::ffi::CString::new(p) {
                // SAFETY: c is a valid NUL-terminated path string.
                unsafe {
                    libc::umount2(c.as_ptr(), libc::MNT_DETACH);
                }
            }
        }
    }
}
