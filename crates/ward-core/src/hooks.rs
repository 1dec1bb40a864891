//! OCI hooks (config.md, "POSIX-platform Hooks"): running one list of hooks,
//! in order, with the container's state on stdin. Where and when each list
//! runs (runtime or container namespace, which lifecycle step) is the
//! caller's business; this module only runs programs and judges them.
//!
//! The runner must work in two places: in ward itself, and in the
//! container's init just before it execs the user's program. Both are
//! single-threaded after a fork, so it starts no thread: a plain
//! fork+execve, then one poll(2) loop over the hook's stdout, stderr and a
//! pidfd until the hook exits or its timeout passes. std's `Command` would
//! do the fork, but it sorts and dedups the environment and cannot pass an
//! entry without `=`; the spec wants `env` passed as `environ`, exactly.

use std::ffi::{CString, OsStr};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::errno::Errno as NixErrno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::{Hook, Hooks};

use crate::sys;
use crate::sys::Errno;

/// How much of a hook's stdout and stderr is kept for the error message.
const CAPTURE_LIMIT: usize = 16 * 1024;
/// How much of that output goes into the one-line error.
const SUMMARY_LIMIT: usize = 512;

/// Which hook list; its name as in config.json, for messages ("createRuntime").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    /// The name of the list in config.json.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// This kind's list in a config's `hooks` (empty when absent).
    pub fn list(self, hooks: &Hooks) -> &[Hook] {
        #[allow(deprecated)] // prestart is deprecated, and still supported
        let list = match self {
            Kind::Prestart => hooks.prestart(),
            Kind::CreateRuntime => hooks.create_runtime(),
            Kind::CreateContainer => hooks.create_container(),
            Kind::StartContainer => hooks.start_container(),
            Kind::Poststart => hooks.poststart(),
            Kind::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or(&[])
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A hook that failed: which one, and why. One line:
/// `createRuntime hook #1 /usr/bin/x: exit status 3: <its stderr>`.
#[derive(Debug, thiserror::Error)]
#[error("{kind} hook #{index} {}: {reason}", path.display())]
pub struct HookError {
    pub kind: Kind,
    /// Position of the hook in its list, from 0.
    pub index: usize,
    pub path: PathBuf,
    pub reason: Reason,
}

/// Why a hook failed.
#[derive(Debug, thiserror::Error)]
pub enum Reason {
    #[error("path is not absolute")]
    RelativePath,
    #[error("invalid timeout {0}: must be greater than zero")]
    BadTimeout(i64),
    #[error("{0} contains a NUL byte")]
    Nul(&'static str),
    /// Setting up the hook's process failed in ward (pipe, memfd, fork...).
    #[error("{op}: {errno}")]
    Setup { op: &'static str, errno: Errno },
    /// execve failed: "no such file or directory", "permission denied"...
    #[error("{0}")]
    Exec(Errno),
    /// The hook ran and did not exit 0; `output` is the start of its
    /// stderr (or stdout when stderr was empty), on one line.
    #[error("{status}{}", if output.is_empty() { String::new() } else { format!(": {output}") })]
    Failed { status: ExitStatus, output: String },
    #[error("timed out after {0}s")]
    TimedOut(u64),
    /// A failure the container's init reported (its createContainer and
    /// startContainer hooks run there): only the text crosses.
    #[error("{0}")]
    Reported(String),
}

impl Kind {
    /// The kind named `name` in config.json.
    pub fn from_name(name: &str) -> Option<Kind> {
        [
            Kind::Prestart,
            Kind::CreateRuntime,
            Kind::CreateContainer,
            Kind::StartContainer,
            Kind::Poststart,
            Kind::Poststop,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// A [`HookError`] as it crosses from init to ward.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HookReport {
    pub kind: String,
    pub index: usize,
    pub path: PathBuf,
    pub reason: String,
}

impl From<&HookError> for HookReport {
    fn from(e: &HookError) -> Self {
        HookReport {
            kind: e.kind.name().to_string(),
            index: e.index,
            path: e.path.clone(),
            reason: e.reason.to_string(),
        }
    }
}

impl From<HookReport> for HookError {
    fn from(r: HookReport) -> Self {
        HookError {
            kind: Kind::from_name(&r.kind).unwrap_or(Kind::CreateContainer),
            index: r.index,
            path: r.path,
            reason: Reason::Reported(r.reason),
        }
    }
}

/// How a hook process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit status {c}"),
            ExitStatus::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// Runs each hook of the list in order: fork+exec `path` with `args`
/// (`args[0]` is argv[0]; without args, argv[0] is the path) and exactly
/// `env` (empty when absent), the state JSON on stdin, stdout and stderr
/// captured. A hook past its `timeout` is killed with its process group and
/// reaped. The first hook that fails stops the list.
pub fn run(kind: Kind, hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    for (index, hook) in hooks.iter().enumerate() {
        run_one(hook, state_json).map_err(|reason| HookError {
            kind,
            index,
            path: hook.path().clone(),
            reason,
        })?;
    }
    Ok(())
}

/// Runs every hook of the list in order, going on past failures, and
/// returns the failures: for poststop hooks, whose failure the spec makes a
/// warning after which "the remaining hooks ... continue".
pub fn run_all(kind: Kind, hooks: &[Hook], state_json: &[u8]) -> Vec<HookError> {
    hooks
        .iter()
        .enumerate()
        .filter_map(|(index, hook)| {
            run_one(hook, state_json).err().map(|reason| HookError {
                kind,
                index,
                path: hook.path().clone(),
                reason,
            })
        })
        .collect()
}

fn setup(op: &'static str) -> impl FnOnce(io::Error) -> Reason {
    move |e| Reason::Setup {
        op,
        errno: Errno::from(&e),
    }
}

/// Everything execve needs, built before the fork: the child may not
/// allocate (another thread of the parent may hold the allocator's lock).
struct ExecArgs {
    path: CString,
    argv: sys::CStrArray,
    envp: sys::CStrArray,
}

impl ExecArgs {
    fn new(hook: &Hook) -> Result<ExecArgs, Reason> {
        let cstr = |s: &OsStr, what| CString::new(s.as_bytes()).map_err(|_| Reason::Nul(what));
        let path = cstr(hook.path().as_os_str(), "path")?;
        let args: Vec<CString> = match hook.args() {
            Some(args) => args
                .iter()
                .map(|a| cstr(OsStr::new(a), "args"))
                .collect::<Result<_, _>>()?,
            None => vec![path.clone()],
        };
        let env: Vec<CString> = hook
            .env()
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|e| cstr(OsStr::new(e), "env"))
            .collect::<Result<_, _>>()?;
        Ok(ExecArgs {
            path,
            argv: sys::CStrArray::new(args),
            envp: sys::CStrArray::new(env),
        })
    }
}

/// Moves `fd` to a number above stdio (close-on-exec), so that dup2 onto
/// 0, 1, 2 in the child can't clobber another of the child's fds (when ward
/// runs with stdio closed, a new pipe may well be fd 0).
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    Ok(sys::dup_at_least(fd.as_fd(), 3)?)
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    Ok((above_stdio(r)?, above_stdio(w)?))
}

/// The state on the hook's stdin: a memfd holding it, at offset 0. A file
/// rather than a pipe: ward never blocks on a hook that doesn't read its
/// stdin, nor takes a SIGPIPE from one that exits early.
fn state_fd(state: &[u8]) -> io::Result<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let fd = memfd_create(c"ward-hook-state", MFdFlags::MFD_CLOEXEC)?;
    let mut file = std::fs::File::from(fd);
    io::Write::write_all(&mut file, state)?;
    io::Seek::seek(&mut file, io::SeekFrom::Start(0))?;
    above_stdio(OwnedFd::from(file))
}

/// The child's side, between fork and execve: only async-signal-safe calls,
/// no allocation. Never returns.
fn child(
    exec: &ExecArgs,
    stdin: BorrowedFd<'_>,
    stdout: BorrowedFd<'_>,
    stderr: BorrowedFd<'_>,
    report: BorrowedFd<'_>,
) -> ! {
    use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout};
    if let Err(e) = dup2_stdin(stdin)
        .and_then(|()| dup2_stdout(stdout))
        .and_then(|()| dup2_stderr(stderr))
    {
        report_errno(report, e as i32);
    }
    // Its own process group, so that a timeout kills whatever it started.
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    // Defensive: ward's fds are close-on-exec already; make sure of it for
    // everything past stdio (the report pipe is close-on-exec too).
    if sys::cloexec_from(3).is_err() {
        sys::cloexec_range(3, 1024);
    }
    // ward ignores SIGPIPE and `run` blocks signals; the hook gets defaults.
    sys::reset_signals();
    let e = sys::execve(&exec.path, &exec.argv, &exec.envp);
    report_errno(report, e.0)
}

/// Writes `errno` to the report pipe and exits 127 (child side).
fn report_errno(report: BorrowedFd<'_>, errno: i32) -> ! {
    let _ = nix::unistd::write(report, &errno.to_ne_bytes());
    sys::_exit(127)
}

/// waitpid for our own child; None while it still runs (with WNOHANG).
fn wait_child(pid: sys::pid_t, block: bool) -> Result<Option<ExitStatus>, Reason> {
    loop {
        let status = match sys::wait_status(pid, !block) {
            Ok(Some(status)) => status,
            Ok(None) => return Ok(None),
            Err(Errno(libc::EINTR)) => continue,
            Err(e) => {
                return Err(Reason::Setup {
                    op: "wait",
                    errno: e,
                })
            }
        };
        return Ok(Some(if libc::WIFSIGNALED(status) {
            ExitStatus::Signal(libc::WTERMSIG(status))
        } else {
            ExitStatus::Code(libc::WEXITSTATUS(status))
        }));
    }
}

/// A hook's stdout or stderr, read without blocking as it comes.
struct Capture {
    fd: Option<OwnedFd>,
    data: Vec<u8>,
}

impl Capture {
    fn new(fd: OwnedFd) -> io::Result<Capture> {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let flags = fcntl(&fd, FcntlArg::F_GETFL)?;
        fcntl(
            &fd,
            FcntlArg::F_SETFL(OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK),
        )?;
        Ok(Capture {
            fd: Some(fd),
            data: Vec::new(),
        })
    }

    /// Reads what is there now; closes the fd at EOF or on an error.
    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        while let Some(fd) = &self.fd {
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) => {}
                Ok(n) => {
                    let room = CAPTURE_LIMIT.saturating_sub(self.data.len());
                    self.data.extend_from_slice(&buf[..n.min(room)]);
                    continue;
                }
                Err(NixErrno::EINTR) => continue,
                Err(NixErrno::EAGAIN) => return,
                Err(_) => {}
            }
            self.fd = None;
        }
    }
}

/// The first lines of a hook's output, on one line.
fn summary(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let mut s = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if s.len() > SUMMARY_LIMIT {
        let mut cut = SUMMARY_LIMIT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

fn run_one(hook: &Hook, state: &[u8]) -> Result<(), Reason> {
    let timeout = match hook.timeout() {
        None => None,
        Some(t) if t > 0 => Some(t as u64),
        Some(t) => return Err(Reason::BadTimeout(t)),
    };
    if !hook.path().is_absolute() {
        return Err(Reason::RelativePath);
    }
    let exec = ExecArgs::new(hook)?;
    let stdin = state_fd(state).map_err(setup("memfd_create"))?;
    let (out_r, out_w) = pipe().map_err(setup("pipe"))?;
    let (err_r, err_w) = pipe().map_err(setup("pipe"))?;
    let (report_r, report_w) = pipe().map_err(setup("pipe"))?;

    // SAFETY: the child only runs `child`, which makes async-signal-safe
    // calls on data prepared before the fork, and never returns.
    let pid = match unsafe { nix::unistd::fork() }.map_err(|e| setup("fork")(e.into()))? {
        nix::unistd::ForkResult::Child => child(
            &exec,
            stdin.as_fd(),
            out_w.as_fd(),
            err_w.as_fd(),
            report_w.as_fd(),
        ),
        nix::unistd::ForkResult::Parent { child } => child,
    };
    // Also from this side, so that the group exists before any timeout kill
    // (fails harmlessly once the child has exec'd).
    let _ = nix::unistd::setpgid(pid, pid);
    let pid = pid.as_raw();
    drop((stdin, out_w, err_w, report_w));

    // The report pipe closes on a successful exec, or carries execve's errno.
    let mut buf = [0u8; 4];
    let n = loop {
        match nix::unistd::read(&report_r, &mut buf) {
            Err(NixErrno::EINTR) => continue,
            r => break r.unwrap_or(0),
        }
    };
    drop(report_r);
    if n == 4 {
        let _ = wait_child(pid, true);
        return Err(Reason::Exec(Errno(i32::from_ne_bytes(buf))));
    }

    let mut out = Capture::new(out_r).map_err(setup("fcntl"))?;
    let mut err = Capture::new(err_r).map_err(setup("fcntl"))?;
    // Wakes the poll when the hook exits; without it (no pidfd_open), poll
    // in short steps.
    let pidfd = sys::pidfd_open(pid).ok();
    let deadline = timeout.map(|t| Instant::now() + Duration::from_secs(t));
    let status = loop {
        if let Some(status) = wait_child(pid, false)? {
            break status;
        }
        let mut wait_ms: i32 = if pidfd.is_some() { -1 } else { 50 };
        if let (Some(deadline), Some(secs)) = (deadline, timeout) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                kill_and_reap(pid, pidfd.as_ref());
                return Err(Reason::TimedOut(secs));
            }
            let left_ms = left.as_millis().min(i32::MAX as u128) as i32 + 1;
            wait_ms = if wait_ms < 0 {
                left_ms
            } else {
                wait_ms.min(left_ms)
            };
        }
        let mut fds: Vec<PollFd> = [out.fd.as_ref(), err.fd.as_ref(), pidfd.as_ref()]
            .into_iter()
            .flatten()
            .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
            .collect();
        let wait = PollTimeout::try_from(wait_ms).unwrap_or(PollTimeout::NONE);
        match poll(&mut fds, wait) {
            Ok(_) | Err(NixErrno::EINTR) => {}
            Err(e) => {
                kill_and_reap(pid, pidfd.as_ref());
                return Err(setup("poll")(e.into()));
            }
        }
        out.drain();
        err.drain();
    };
    // What it wrote before exiting; not waiting for EOF, which a child it
    // left behind could hold off forever.
    out.drain();
    err.drain();
    match status {
        ExitStatus::Code(0) => Ok(()),
        status => Err(Reason::Failed {
            status,
            output: if err.data.iter().any(|b| !b.is_ascii_whitespace()) {
                summary(&err.data)
            } else {
                summary(&out.data)
            },
        }),
    }
}

/// SIGKILL for the hook and its process group, then reap it.
fn kill_and_reap(pid: sys::pid_t, pidfd: Option<&OwnedFd>) {
    // pid is our unreaped child, so neither it nor the group it leads can
    // be a recycled id of an unrelated process.
    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    match pidfd {
        Some(fd) => {
            let _ = sys::pidfd_send_signal(fd, libc::SIGKILL);
        }
        None => {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    let _ = wait_child(pid, true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;
    use std::fs;
    use std::path::Path;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ward-hooks-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn sh(script: &str) -> Hook {
        HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".to_string(), "-c".to_string(), script.to_string()])
            .build()
            .unwrap()
    }

    fn alive(pid: i32) -> bool {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                let st = s
                    .rsplit_once(')')
                    .map(|(_, r)| r.trim_start())
                    .unwrap_or("");
                !st.starts_with('Z') && !st.starts_with('X')
            })
            .unwrap_or(false)
    }

    fn read_pid(p: &Path) -> i32 {
        fs::read_to_string(p).unwrap().trim().parse().unwrap()
    }

    #[test]
    fn kind_names_are_the_config_keys() {
        assert_eq!(Kind::CreateRuntime.to_string(), "createRuntime");
        assert_eq!(Kind::Poststop.name(), "poststop");
        let hooks: Hooks = serde_json::from_str(r#"{"startContainer":[{"path":"/x"}]}"#).unwrap();
        assert_eq!(Kind::StartContainer.list(&hooks).len(), 1);
        assert!(Kind::Prestart.list(&hooks).is_empty());
    }

    #[test]
    fn success_runs_every_hook_in_order() {
        let d = scratch("ok");
        let log = d.join("log");
        let hooks = vec![
            sh(&format!("echo one >> {}", log.display())),
            sh(&format!(
                "echo two >> {}; echo noise; echo noise >&2",
                log.display()
            )),
        ];
        run(Kind::Poststart, &hooks, b"{}").unwrap();
        assert_eq!(fs::read_to_string(&log).unwrap(), "one\ntwo\n");
        run(Kind::Poststart, &[], b"{}").unwrap();
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn env_and_args_exactly_as_given() {
        let d = scratch("argv");
        let out = d.join("out");
        let script = format!(
            "cat /proc/$$/cmdline > {0}.argv; cat /proc/$$/environ > {0}.env",
            out.display()
        );
        let hook = HookBuilder::default()
            .path("/bin/sh")
            .args(vec![
                "my-argv0".to_string(),
                "-c".to_string(),
                script.clone(),
                "x".to_string(),
                "a b".to_string(),
                String::new(),
            ])
            .env(vec![
                "Z=last".to_string(),
                "A=b=c".to_string(),
                "EMPTY=".to_string(),
                "Z=again".to_string(),
            ])
            .build()
            .unwrap();
        run(Kind::CreateRuntime, &[hook], b"{}").unwrap();
        let argv = fs::read(d.join("out.argv")).unwrap();
        let want_argv = format!("my-argv0\0-c\0{script}\0x\0a b\0\0");
        assert_eq!(String::from_utf8_lossy(&argv), want_argv);
        let env = fs::read(d.join("out.env")).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&env),
            "Z=last\0A=b=c\0EMPTY=\0Z=again\0"
        );

        // No args: argv is [path]; no env: an empty environment. /bin/sh
        // without arguments reads its script from stdin, the "state".
        let hook = HookBuilder::default().path("/bin/sh").build().unwrap();
        let script = format!(
            "/bin/cat /proc/$$/cmdline > {0}.argv0; /bin/cat /proc/$$/environ > {0}.env0",
            out.display()
        );
        run(Kind::CreateRuntime, &[hook], script.as_bytes()).unwrap();
        assert_eq!(fs::read(d.join("out.argv0")).unwrap(), b"/bin/sh\0");
        assert_eq!(fs::read(d.join("out.env0")).unwrap(), b"");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn stdin_is_the_state_and_fds_are_not_inherited() {
        let d = scratch("stdin");
        let out = d.join("state");
        let fds = d.join("fds");
        let state =
            br#"{"ociVersion":"1.0.2","id":"c1","status":"creating","pid":42,"bundle":"/b"}"#;
        // An fd of ours that is not close-on-exec must not reach the hook.
        let leak = fs::File::open("/dev/null").unwrap();
        sys::clear_cloexec(leak.as_raw_fd()).unwrap();
        let hook = sh(&format!(
            "cat > {}; ls /proc/$$/fd > {}",
            out.display(),
            fds.display()
        ));
        run(Kind::CreateRuntime, &[hook], state).unwrap();
        assert_eq!(fs::read(&out).unwrap(), state);
        let listed: Vec<String> = fs::read_to_string(&fds)
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        // 0, 1, 2 and the fd `ls` opens to list the directory.
        assert!(
            !listed.contains(&leak.as_raw_fd().to_string()) && listed.len() <= 4,
            "fds of the hook: {listed:?}"
        );
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn failing_hook_stops_the_list_and_names_itself() {
        let d = scratch("fail");
        let log = d.join("log");
        let hooks = vec![
            sh("true"),
            sh("echo out; echo 'it broke' >&2; echo second >&2; exit 3"),
            sh(&format!("echo ran >> {}", log.display())),
        ];
        let e = run(Kind::CreateRuntime, &hooks, b"{}").unwrap_err();
        assert_eq!(e.index, 1);
        assert!(matches!(
            e.reason,
            Reason::Failed {
                status: ExitStatus::Code(3),
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "createRuntime hook #1 /bin/sh: exit status 3: it broke; second"
        );
        assert!(!log.exists(), "the hook after the failing one ran");

        // With nothing on stderr, stdout says what happened.
        let e = run(Kind::Poststop, &[sh("echo only-out; exit 1")], b"{}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "poststop hook #0 /bin/sh: exit status 1: only-out"
        );
        let e = run(Kind::Poststop, &[sh("kill -9 $$")], b"{}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "poststop hook #0 /bin/sh: killed by signal 9"
        );

        // run_all goes on past a failure and reports each.
        let errs = run_all(Kind::Poststop, &hooks, b"{}");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].index, 1);
        assert_eq!(fs::read_to_string(&log).unwrap(), "ran\n");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn timeout_kills_the_hook_and_what_it_started() {
        let d = scratch("timeout");
        let pids = d.join("pids");
        // The background sleep holds the hook's stdout open: the runner must
        // neither wait for it nor leave it running.
        let mut hook = sh(&format!(
            "sleep 100 & echo $! > {0}.child; echo $$ > {0}; exec sleep 100",
            pids.display()
        ));
        hook.set_timeout(Some(1));
        let t0 = Instant::now();
        let e = run(Kind::StartContainer, &[hook], b"{}").unwrap_err();
        let took = t0.elapsed();
        assert!(matches!(e.reason, Reason::TimedOut(1)), "{e}");
        assert_eq!(
            e.to_string(),
            "startContainer hook #0 /bin/sh: timed out after 1s"
        );
        assert!(took < Duration::from_secs(5), "took {took:?}");
        let hook_pid = read_pid(&pids);
        assert!(!alive(hook_pid), "the hook {hook_pid} still runs");
        let child = read_pid(&d.join("pids.child"));
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            !alive(child)
        });
        assert!(gone, "the hook's child {child} still runs");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn missing_binary_and_bad_input() {
        let hook = HookBuilder::default()
            .path("/nonexistent/ward-hook")
            .build()
            .unwrap();
        let e = run(Kind::Prestart, &[hook], b"{}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "prestart hook #0 /nonexistent/ward-hook: no such file or directory"
        );
        let hook = HookBuilder::default().path("bin/true").build().unwrap();
        let e = run(Kind::Prestart, &[hook], b"{}").unwrap_err();
        assert!(matches!(e.reason, Reason::RelativePath), "{e}");
        let mut hook = sh("true");
        hook.set_timeout(Some(0));
        let e = run(Kind::Prestart, &[hook], b"{}").unwrap_err();
        assert!(matches!(e.reason, Reason::BadTimeout(0)), "{e}");
    }
}
