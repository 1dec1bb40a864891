//! Spawning a container's init: one clone3 straight into the new namespaces
//! (or, when namespaces are joined by path, a short-lived intermediate that
//! joins them and forks init with CLONE_PARENT), then the handshake below.
//!
//! ```text
//!  ward (parent)                               init (child)
//!  ─────────────                               ────────────
//!  socketpair(SEQPACKET), bind start.sock
//!  clone3(CLONE_NEW*) ───────────────────────▶ [new namespaces]
//!                                              join v1 cgroups ("0" > tasks)
//!  [user ns] write uid_map/gid_map
//!  [systemd driver] StartTransientUnit(scope, PIDs=[child]),
//!            wait for its JobRemoved, write the limits' files
//!            ── Go ──────────────────────────▶ setresuid(0) (user ns)
//!                                              mounts, /dev, pivot_root,
//!                                              console, sysctl, masks,
//!                                              rlimits, user, capabilities
//!            ◀──────────────────── Ready ───── (or Error "what: why")
//!  write state.json, exit                      accept(start.sock) ... blocks
//!
//!  ward start: connect(start.sock) ──────────▶ execve(process.args)
//!              read until EOF ◀── close-on-exec closes the connection,
//!                                 or "exec: ...: why" if execve failed
//!
//!  A foreground `ward run` binds no start.sock: init gets one end of a
//!  stream pair instead (StartGate::Pair), and run writes one byte on the
//!  other end in place of the connect.
//!
//!  With joined namespaces, the intermediate sends NeedIdMaps (when it made
//!  the user ns) and InitPid(pid) of the init it forked, then exits. init
//!  says nothing before that: it waits on a pipe that the intermediate
//!  writes only once InitPid is sent (fork_reported), so the parent
//!  always knows init's pid before init's first message.
//! ```

pub mod channel;
pub mod exec;
pub mod init;
pub(crate) mod setup;

use std::os::fd::{AsRawFd, OwnedFd};

use crate::cgroups::Cgroup;

use crate::config::Bundle;
use crate::error::{Error, Result};
use crate::hooks::Kind;
use crate::namespaces::{write_id_maps, Plan};
use crate::sys;
use channel::{Channel, Msg};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;

/// What init needs; built by the parent before the clone, read by the child
/// from its copy of the parent's memory (nothing is re-parsed in the child).
pub struct InitConfig<'a> {
    pub id: &'a str,
    pub bundle: &'a Bundle,
    pub plan: &'a Plan,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// The connected --console-socket, when process.terminal is set.
    pub console: Option<OwnedFd>,
    /// What init waits on before it execs the program.
    pub start_gate: StartGate,
    /// How many fds after stdio the process keeps (--preserve-fds).
    pub preserve_fds: u32,
    /// The container's cgroup, made and limited already.
    pub cgroup: Option<&'a Cgroup>,
    /// Its cgroup2 directory, opened, for clone3(CLONE_INTO_CGROUP).
    pub cgroup_fd: Option<OwnedFd>,
    /// The host's cgroup layout (read once, by the parent).
    pub hierarchies: &'a crate::cgroups::Hierarchies,
    /// linux.seccomp, compiled by the parent; init only loads it.
    pub seccomp: Option<&'a crate::security::seccomp::Filter>,
    /// Called by the parent with the init's pid as soon as it is known,
    /// before init's setup: create stores it, so that a killed create
    /// leaves an init that delete can find. An error fails the spawn.
    pub record_init: &'a dyn Fn(i32) -> Result<()>,
}

/// What init waits on, once ready, before it execs the program; an exec
/// failure goes back over the connection either way.
pub enum StartGate {
    /// The listening start.sock: a `ward start` connects.
    Listener(OwnedFd),
    /// One end of a stream pair whose other end a foreground `run` holds:
    /// one byte starts the program, EOF (ward died first) ends init.
    Pair(OwnedFd),
}

impl StartGate {
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            StartGate::Listener(fd) | StartGate::Pair(fd) => fd.as_raw_fd(),
        }
    }
}

impl InitConfig<'_> {
    /// Whether the first child must wait for `Go`: the parent still has to
    /// write the id maps of the user namespace it was cloned into, or (the
    /// systemd driver) start the scope with the child's pid. (With cgroupfs
    /// the child puts itself into its v1 cgroups: no round trip for that.)
    pub(crate) fn needs_go(&self) -> bool {
        (self.plan.single_step() && self.plan.creates(LinuxNamespaceType::User))
            || self.placed_after_clone()
    }

    /// Whether the parent puts the first child into the container's cgroup
    /// before `Go` (the systemd driver's scope, which can't exist before
    /// it has a pid): the child then doesn't join any cgroup itself.
    pub(crate) fn placed_after_clone(&self) -> bool {
        self.cgroup.is_some_and(|c| c.placed_after_clone())
    }
}

/// Forks a child with CLONE_PARENT (ward's child, not the caller's) and
/// reports its pid to ward with `InitPid` before the child may run on: the
/// child blocks on a pipe that is written only after the report is sent.
/// Otherwise the child's first message (Ready, Hooks, SeccompFd) could
/// reach ward before its pid, which ward must have by then: it records it,
/// gives it to hooks and to the seccomp agent, and waits for it.
///
/// Returns in the child only; the caller (the intermediate) exits here,
/// with 0 once the pid is reported. If the report fails, the child reads
/// EOF and exits too, so nothing runs that ward doesn't know of.
///
/// # Safety
/// The process must be single-threaded (the child runs arbitrary code).
pub(crate) unsafe fn fork_reported(chan: &Channel, what: &str) -> Result<()> {
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe", e))?;
    // SAFETY: single-threaded, per this function's contract.
    let pid = unsafe { sys::clone3_fork(libc::CLONE_PARENT as u64, None) }
        .map_err(|e| Error::fork(what, e))?;
    if pid == 0 {
        drop(wr);
        let mut b = [0u8; 1];
        let go = loop {
            match nix::unistd::read(&rd, &mut b) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => break r == Ok(1),
            }
        };
        if !go {
            // _exit: no atexit handlers or destructors, which belong to the
            // parent.
            sys::_exit(1)
        }
        return Ok(());
    }
    drop(rd);
    crate::fault::delay("spawn:init-pid");
    let code = match chan.send(&Msg::InitPid(pid)) {
        Ok(()) => match nix::unistd::write(&wr, &[1]) {
            Ok(1) => 0,
            _ => 1,
        },
        Err(_) => 1,
    };
    // Exiting closes the pipe, releasing the child with EOF if the byte
    // wasn't written.
    sys::_exit(code)
}

/// A set-up init, waiting for `start`.
#[derive(Debug, Clone, Copy)]
pub struct Spawned {
    pub pid: i32,
    pub start_time: u64,
}

pub fn spawn(cfg: &InitConfig) -> Result<Spawned> {
    let (parent, child) = Channel::pair()?;
    let single = cfg.plan.single_step();
    // The cgroup namespace is made by init itself once it is in its cgroups,
    // so that the namespace's root is the container's cgroup.
    let flags = if single {
        cfg.plan.new_flags & !(libc::CLONE_NEWCGROUP as u64)
    } else {
        0
    };
    let cg = cfg.cgroup_fd.as_ref().map(|f| f.as_raw_fd());
    sys::protect_from_container().map_err(|e| Error::sys("make ward non-dumpable", e))?;
    setup::guard::remember_runtime_binary();
    // SAFETY: ward never starts a thread, so the child may run any code.
    let pid = unsafe { sys::clone3_fork(flags, cg) }.map_err(|e| Error::fork("clone3", e))?;
    if pid == 0 {
        drop(parent);
        init::child_main(cfg, child, single);
    }
    drop(child);
    let mut kids = Kids {
        first: Some(pid),
        init: None,
    };
    match handshake(cfg, &parent, single, &mut kids) {
        Ok(()) => {
            // handshake returns Ok only once init's pid is known.
            let p = if single {
                pid
            } else {
                kids.init.unwrap_or(pid)
            };
            let start_time = crate::procfs::stat(p)
                .map(|s| s.start_time)
                .ok_or_else(|| Error::Protocol(format!("init {p} vanished after setup")))?;
            Ok(Spawned { pid: p, start_time })
        }
        Err(e) => {
            let left: Vec<i32> = [kids.init, kids.first].into_iter().flatten().collect();
            for p in &left {
                // p is our own child (CLONE_PARENT makes init one too), not
                // yet reaped, so its pid can't have been reused.
                let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
            }
            for p in left {
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(p), None);
            }
            Err(e)
        }
    }
}

/// The children of a spawn that are not reaped yet: the first clone (init
/// itself, or the intermediate) and, in two steps, init.
struct Kids {
    first: Option<i32>,
    init: Option<i32>,
}

impl Kids {
    fn reap(slot: &mut Option<i32>) -> String {
        let Some(p) = slot.take() else {
            return "unknown status".into();
        };
        match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(p), None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => format!("exit status {c}"),
            Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => format!("signal {s}"),
            _ => "unknown status".into(),
        }
    }
}

/// A send that fails because init is gone says how it went (its exit status
/// or signal), not only "broken pipe".
fn send(chan: &Channel, msg: &Msg, kids: &mut Kids) -> Result<()> {
    chan.send(msg).map_err(|e| {
        let how = if kids.init.is_some() {
            Kids::reap(&mut kids.init)
        } else {
            Kids::reap(&mut kids.first)
        };
        Error::Protocol(format!("{e} (container init died during setup: {how})"))
    })
}

fn handshake(cfg: &InitConfig, chan: &Channel, single: bool, kids: &mut Kids) -> Result<()> {
    let first = kids.first.expect("first child");
    if single {
        (cfg.record_init)(first)?;
    }
    // init's pid, which every message of init's needs: fork_reported makes
    // InitPid come first; anything else is a broken protocol, not a panic.
    let init_pid = |kids: &Kids, what: &Msg| {
        let known = if single { Some(first) } else { kids.init };
        known.ok_or_else(|| {
            Error::Protocol(format!(
                "container init sent {what:?} before its pid was known"
            ))
        })
    };
    if single && cfg.plan.creates(LinuxNamespaceType::User) {
        write_id_maps(first, &cfg.plan.uid_map, &cfg.plan.gid_map)?;
    }
    if cfg.needs_go() {
        if let Some(cg) = cfg.cgroup.filter(|_| cfg.placed_after_clone()) {
            let resources = cfg
                .bundle
                .spec
                .linux()
                .as_ref()
                .and_then(|l| l.resources().as_ref());
            cg.place(cfg.hierarchies, first, resources)?;
        }
        send(chan, &Msg::Go, kids)?;
    }
    loop {
        let (msg, fd) = match chan.recv_fd()? {
            Some((m, fd)) => (Some(m), fd),
            None => (None, None),
        };
        match msg {
            Some(m @ Msg::SeccompFd) => {
                let pid = init_pid(kids, &m)?;
                let fd = fd.ok_or_else(|| Error::Protocol("seccomp listener fd missing".into()))?;
                forward_listener(cfg, pid, fd)?;
            }
            Some(m @ Msg::Hooks) => {
                let state = hook_state(cfg, init_pid(kids, &m)?);
                if let Some(h) = cfg.bundle.spec.hooks() {
                    for kind in [Kind::Prestart, Kind::CreateRuntime] {
                        crate::hooks::run(kind, kind.list(h), &state)?;
                    }
                }
                let state = String::from_utf8(state).expect("serde_json writes UTF-8");
                send(chan, &Msg::HooksDone(state), kids)?;
            }
            Some(Msg::NeedIdMaps) => {
                write_id_maps(first, &cfg.plan.uid_map, &cfg.plan.gid_map)?;
                send(chan, &Msg::IdMapsDone, kids)?;
            }
            Some(Msg::InitPid(p)) => {
                kids.init = Some(p);
                (cfg.record_init)(p)?;
                Kids::reap(&mut kids.first);
            }
            Some(m @ Msg::Ready) => return init_pid(kids, &m).map(drop),
            Some(Msg::Error(e)) => return Err(Error::Init(e)),
            Some(Msg::HookFailed(r)) => return Err(Error::Hook(r.into())),
            Some(m) => {
                return Err(Error::Protocol(format!(
                    "unexpected message from init: {m:?}"
                )))
            }
            None => {
                let how = if kids.init.is_some() {
                    Kids::reap(&mut kids.init)
                } else {
                    Kids::reap(&mut kids.first)
                };
                // A memory limit too small for setup: the OOM killer's
                // SIGKILL alone says nothing about why.
                if let Some(n) = cfg.cgroup.map(|c| c.oom_kills()).filter(|n| *n > 0) {
                    let limit = cfg
                        .bundle
                        .spec
                        .linux()
                        .as_ref()
                        .and_then(|l| l.resources().as_ref())
                        .and_then(|r| r.memory().as_ref())
                        .and_then(|m| m.limit());
                    let limit = limit.map_or(String::new(), |l| format!(" of {l} bytes"));
                    return Err(Error::Protocol(format!(
                        "container init died during setup ({how}): out of memory ({n} OOM kills in its cgroup): the memory limit{limit} is too small"
                    )));
                }
                return Err(Error::Protocol(format!(
                    "container init died during setup ({how})"
                )));
            }
        }
    }
}

/// Hands init's seccomp notify fd to the agent at linux.seccomp.listenerPath,
/// with the container's state as it is now (creating).
fn forward_listener(cfg: &InitConfig, pid: i32, fd: OwnedFd) -> Result<()> {
    use std::os::fd::AsFd;
    let Some(filter) = cfg.seccomp else {
        return Err(Error::Protocol(
            "seccomp listener fd without a filter".into(),
        ));
    };
    let Some(path) = filter.listener_path() else {
        return Err(Error::Protocol(
            "seccomp listener fd without listenerPath".into(),
        ));
    };
    let spec = &cfg.bundle.spec;
    let metadata = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .and_then(|s| s.listener_metadata().clone())
        .unwrap_or_default();
    let state = state_json(cfg, pid, crate::state::Status::Creating);
    crate::security::seccomp::send_listener_fd(path, &metadata, pid, &state, fd.as_fd())
        .map_err(Error::from)
}

/// The state the prestart, createRuntime and createContainer hooks get:
/// they are steps 3 to 5 of the spec's lifecycle, after the environment of
/// step 2 is made, and "created" is the status "after step 2" (crun agrees;
/// runc says "creating"; runtime-tools' hooks_stdin checks for "created").
fn hook_state(cfg: &InitConfig, pid: i32) -> Vec<u8> {
    serde_json::to_vec(&state_json(cfg, pid, crate::state::Status::Created))
        .expect("a JSON object of strings serializes")
}

/// The spec's state object of the container being made.
fn state_json(cfg: &InitConfig, pid: i32, status: crate::state::Status) -> serde_json::Value {
    let spec = &cfg.bundle.spec;
    crate::state::spec_state(
        &cfg.bundle.version(),
        cfg.id,
        status,
        pid,
        &cfg.bundle.dir,
        &spec.annotations().clone().unwrap_or_default(),
    )
}
