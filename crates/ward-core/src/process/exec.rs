//! `exec`: one more process in a running container. It must end up exactly
//! where the container's own processes are: in its cgroup (clone3 with
//! CLONE_INTO_CGROUP on v2, a cgroup.procs write on v1) and in every one of
//! its namespaces, joined at once through a pidfd of the container's init.
//!
//! ```text
//!  ward exec (parent)                          the process (child)
//!  ──────────────────                          ───────────────────
//!  pidfd_open(init); setns(pidfd, PID|TIME)    (they apply to children only)
//!  clone3(CLONE_INTO_CGROUP) ────────────────▶ close inherited fds, join v1
//!                                              cgroups, setns(pidfd, the rest)
//!                                              terminal, user, caps, seccomp
//!            ◀──────────────────── Ready ───── (or Error "what: why")
//!            ◀── EOF (close-on-exec) ───────── execve
//!                   or Error, if execve failed
//! ```
//!
//! Namespaces the container shares with ward are left alone: setns into
//! one's own user namespace is refused by the kernel, and into the others
//! is a no-op.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process};

use super::channel::{Channel, Msg};
use super::setup;
use crate::cgroups::Cgroup;
use crate::error::{Error, Result};
use crate::namespaces::{clone_flag, proc_name};
use crate::security::seccomp::Filter;
use crate::{console, sys};

pub struct ExecConfig<'a> {
    /// The container's init, and a pidfd on it (checked to be that process).
    pub init_pid: i32,
    pub init_pidfd: &'a OwnedFd,
    pub process: &'a Process,
    pub cgroup: Option<&'a Cgroup>,
    /// The container's cgroup2 directory, for CLONE_INTO_CGROUP.
    pub cgroup_fd: Option<OwnedFd>,
    pub seccomp: Option<&'a Filter>,
    /// linux.memoryPolicy of the container, set before the program runs.
    pub mempolicy: Option<crate::mempolicy::MemPolicy>,
    /// Where the pty master goes (process.terminal), connected.
    pub console: Option<OwnedFd>,
    /// How many fds after stdio the process keeps (--preserve-fds).
    pub preserve_fds: u32,
    /// linux.intelRdt's group, which the process joins first.
    pub intel_rdt: Option<&'a crate::intel_rdt::Group>,
    /// Called with the seccomp listener fd, in the parent.
    pub on_listener: &'a dyn Fn(i32, OwnedFd) -> Result<()>,
}

/// The namespace kinds ward can join, in no particular order (setns with a
/// pidfd orders them itself, user namespace first).
const KINDS: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Cgroup,
];

/// The clone flags of the namespaces in which `pid` differs from us.
fn foreign_namespaces(pid: i32) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut flags = 0;
    for kind in KINDS {
        // The container's pid and time namespaces are those its init is in
        // (its *_for_children may differ); ours are what our children get.
        let name = proc_name(kind);
        let ours = match kind {
            LinuxNamespaceType::Pid | LinuxNamespaceType::Time => {
                format!("/proc/self/ns/{name}_for_children")
            }
            _ => format!("/proc/self/ns/{name}"),
        };
        let theirs = format!("/proc/{pid}/ns/{name}");
        let (Ok(a), Ok(b)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else {
            // A kernel without this namespace kind.
            continue;
        };
        if (a.dev(), a.ino()) != (b.dev(), b.ino()) {
            flags |= clone_flag(kind);
        }
    }
    Ok(flags)
}

fn setns(pidfd: &OwnedFd, flags: u64) -> Result<()> {
    if flags == 0 {
        return Ok(());
    }
    nix::sched::setns(
        pidfd.as_fd(),
        nix::sched::CloneFlags::from_bits_retain(flags as i32),
    )
    .map_err(|e| Error::sys(format!("join the container's namespaces {flags:#x}"), e))
}

/// Starts the process; returns its pid once it has exec'd.
pub fn spawn(cfg: &ExecConfig) -> Result<i32> {
    let all = foreign_namespaces(cfg.init_pid)?;
    // The pid and time namespaces of a process are fixed at its birth: join
    // them here so that the clone below is born inside.
    let for_children = all & (libc::CLONE_NEWPID | libc::CLONE_NEWTIME) as u64;
    // Joining a pid namespace takes CAP_SYS_ADMIN where we are too: without
    // root (rootless), the child joins everything, user namespace first,
    // and forks the process into them.
    let two_step = for_children != 0 && !sys::is_root();
    if !two_step {
        setns(cfg.init_pidfd, for_children)?;
    }
    let child_flags = if two_step { all } else { all & !for_children };
    let (parent, child) = Channel::pair()?;
    let cg = cfg.cgroup_fd.as_ref().map(|f| f.as_raw_fd());
    // Before the clone: the child is in the container's pid namespace from
    // birth, and must never be an open /proc/PID/exe there.
    sys::protect_from_container().map_err(|e| Error::sys("make ward non-dumpable", e))?;
    setup::guard::remember_runtime_binary();
    // SAFETY: ward never starts a thread, so the child may run any code.
    let pid = unsafe { sys::clone3_fork(0, cg) }.map_err(|e| Error::fork("clone3", e))?;
    if pid == 0 {
        drop(parent);
        let res = child_main(cfg, &child, child_flags, two_step);
        let e = match res {
            Ok((e, code)) => {
                let _ = child.send(&Msg::Error(e.to_string()));
                code
            }
            Err(e) => {
                let _ = child.send(&Msg::Error(e.to_string()));
                1
            }
        };
        // _exit: no atexit handlers or destructors, which belong to the
        // parent.
        sys::_exit(e)
    }
    drop(child);
    let mut kids = vec![pid];
    match wait_exec(cfg, &parent, &mut kids, two_step) {
        Ok(()) => Ok(*kids.last().expect("the process")),
        Err(e) => {
            for p in &kids {
                // p is our own unreaped child (the grandchild too, by
                // CLONE_PARENT), so its pid can't have been reused.
                let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
            }
            for p in kids {
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(p), None);
            }
            Err(e)
        }
    }
}

/// `kids`: the first child, then (two steps) the process it forked, which
/// replaces it once the first is reaped.
///
/// In two steps, the process's pid (InitPid) always comes before its own
/// messages (fork_reported): a listener never gets the first child's pid.
fn wait_exec(cfg: &ExecConfig, chan: &Channel, kids: &mut Vec<i32>, two_step: bool) -> Result<()> {
    let mut ready = false;
    let mut known = !two_step;
    loop {
        let pid = *kids.last().expect("a child");
        let msg = chan.recv_fd()?;
        if let Some((m @ (Msg::SeccompFd | Msg::Ready), _)) = &msg {
            if !known {
                return Err(Error::Protocol(format!(
                    "the exec'd process sent {m:?} before its pid was known"
                )));
            }
        }
        match msg {
            Some((Msg::InitPid(p), _)) => {
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                *kids = vec![p];
                known = true;
            }
            Some((Msg::SeccompFd, Some(fd))) => (cfg.on_listener)(pid, fd)?,
            Some((Msg::Ready, _)) => ready = true,
            Some((Msg::Error(e), _)) => return Err(Error::Init(e)),
            Some((m, _)) => {
                return Err(Error::Protocol(format!(
                    "unexpected message from the exec'd process: {m:?}"
                )))
            }
            // The channel is close-on-exec: EOF after Ready is the execve.
            None if ready => return Ok(()),
            None => {
                return Err(Error::Protocol(
                    "the process died before it could exec".into(),
                ))
            }
        }
    }
}

/// chroot into the root directory of `pid` (through /proc, in the mount
/// namespace we share with it).
fn enter_root(pid: i32) -> Result<()> {
    let path = format!("/proc/{pid}/root");
    let dir = std::fs::File::open(&path).map_err(|e| Error::path("open", &path, e))?;
    nix::unistd::fchdir(dir.as_fd()).map_err(|e| Error::path("chdir", &path, e))?;
    nix::unistd::chroot(".").map_err(|e| Error::path("chroot", &path, e))?;
    nix::unistd::chdir("/").map_err(|e| Error::path("chdir", "/", e))
}

/// Runs in the child; returns only on failure (the error and exit code).
fn child_main(
    cfg: &ExecConfig,
    chan: &Channel,
    flags: u64,
    two_step: bool,
) -> Result<(Error, i32)> {
    let mut keep = vec![chan.raw_fd(), cfg.init_pidfd.as_raw_fd()];
    keep.extend(cfg.console.as_ref().map(|c| c.as_raw_fd()));
    sys::close_fds_except(3 + cfg.preserve_fds as i32, &keep);
    // Die with ward until the exec: a half-made process must not linger.
    sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as u64, 0)
        .map_err(|e| Error::sys("set parent death signal", e))?;
    if let Some(cg) = cfg.cgroup {
        // v1 hierarchies (and v2, when clone3 couldn't place us), by our
        // own hand, while we still see the host's /sys/fs/cgroup.
        cg.join_self(cfg.cgroup_fd.is_none())?;
    }
    if let Some(g) = cfg.intel_rdt {
        // Also while the host's resctrl is in view; its own pid, as
        // resctrl reads it (in the pid namespace it is in now).
        g.join_self()?;
    }
    setns(cfg.init_pidfd, flags)?;
    if flags & libc::CLONE_NEWNS as u64 == 0 {
        // The container shares our mount namespace (it has none of its
        // own): its root is only a chroot, which setns doesn't give.
        enter_root(cfg.init_pid)?;
    }
    if two_step {
        // SAFETY: single-threaded, as in the parent. Returns in the new
        // process only, once ward has its pid.
        unsafe { super::fork_reported(chan, "clone3 into the pid namespace") }?;
        sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as u64, 0)
            .map_err(|e| Error::sys("set parent death signal", e))?;
    }
    let process = cfg.process;
    console::setup_stdio(process, cfg.console.as_ref(), false)?;
    let mut send_listener =
        |fd: OwnedFd| -> Result<()> { chan.send_fd(&Msg::SeccompFd, fd.as_fd()) };
    if let Some(p) = &cfg.mempolicy {
        p.apply()?;
    }
    let prepared = setup::prepare(process, cfg.seccomp, &mut send_listener)?;
    sys::prctl(libc::PR_SET_PDEATHSIG, 0, 0)
        .map_err(|e| Error::sys("clear parent death signal", e))?;
    sys::reset_signals();
    for fd in 3..3 + cfg.preserve_fds {
        let _ = sys::clear_cloexec(fd as i32);
    }
    chan.send(&Msg::Ready)?;
    Ok(prepared.exec())
}
