//! The child side: joins and makes namespaces, sets up the rootfs and the
//! process, reports Ready, waits for `start`, then execs the user's program.
//! Runs in the forked copy of ward, single-threaded; it never returns.

use std::convert::Infallible;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use oci_spec::runtime::LinuxNamespaceType;

use super::channel::{Channel, Msg};
use super::{setup, InitConfig, StartGate};
use crate::error::{Errno, Error, Result};
use crate::hooks::Kind;
use crate::namespaces::clone_flag;
use crate::{console, rootfs, sys};

/// Entry point of the cloned child.
pub(crate) fn child_main(cfg: &InitConfig, chan: Channel, single: bool) -> ! {
    // Into the v1 cgroups (and v2, where clone3 couldn't) before any setup,
    // so that init's own work is charged to the container.
    let joined = match cfg.cgroup {
        Some(_) if cfg.placed_after_clone() => Ok(()),
        Some(cg) => cg.join_self(cfg.cgroup_fd.is_none()).map_err(Error::from),
        None => Ok(()),
    };
    let mut keep = vec![chan.raw_fd(), cfg.start_gate.as_raw_fd()];
    keep.extend(cfg.console.as_ref().map(|c| c.as_raw_fd()));
    if !single {
        keep.extend(cfg.plan.joins.iter().map(|j| j.fd.as_raw_fd()));
    }
    sys::close_fds_except(3 + cfg.preserve_fds as i32, &keep);
    let res = joined
        .and_then(|()| {
            if cfg.needs_go() {
                chan.expect(Msg::Go)
            } else {
                Ok(())
            }
        })
        .and_then(|()| {
            if single {
                init_main(cfg, &chan, cfg.plan.creates(LinuxNamespaceType::User)).map(drop)
            } else {
                intermediate(cfg, &chan)
            }
        });
    if let Err(e) = res {
        let _ = chan.send(&error_msg(e));
    }
    // _exit: no atexit handlers or destructors, which belong to the parent.
    sys::_exit(1)
}

/// Joins the namespaces given by path, makes the new ones, and forks init
/// into them (CLONE_PARENT: init becomes ward's child, so `run` can wait for it).
fn intermediate(cfg: &InitConfig, chan: &Channel) -> Result<()> {
    let plan = cfg.plan;
    for j in &plan.joins {
        nix::sched::setns(
            j.fd.as_fd(),
            nix::sched::CloneFlags::from_bits_retain(clone_flag(j.kind) as i32),
        )
        .map_err(|e| Error::path("join namespace", &j.path, e))?;
    }
    let mut new = plan.new_flags;
    let user = clone_flag(LinuxNamespaceType::User);
    if new & user != 0 {
        unshare(user)?;
        chan.send(&Msg::NeedIdMaps)?;
        chan.expect(Msg::IdMapsDone)?;
        new &= !user;
    }
    if plan.creates(LinuxNamespaceType::User) || plan.joins_kind(LinuxNamespaceType::User) {
        become_ns_root()?;
    }
    unshare(new & !(libc::CLONE_NEWCGROUP as u64))?;
    if let Some(off) = &plan.time_offsets {
        std::fs::write("/proc/self/timens_offsets", off)
            .map_err(|e| Error::path("write", "/proc/self/timens_offsets", e))?;
    }
    // SAFETY: single-threaded, as in the parent. Returns in init only.
    unsafe { super::fork_reported(chan, "clone3 init") }?;
    let Err(e) = init_main(cfg, chan, false);
    let _ = chan.send(&error_msg(e));
    sys::_exit(1)
}

/// The message that carries `e` to the parent.
fn error_msg(e: Error) -> Msg {
    match e {
        Error::Hook(h) => Msg::HookFailed((&h).into()),
        e => Msg::Error(e.to_string()),
    }
}

fn unshare(flags: u64) -> Result<()> {
    if flags == 0 {
        return Ok(());
    }
    nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(flags as i32))
        .map_err(|e| Error::sys(format!("unshare namespaces {flags:#x}"), e))
}

/// In a user namespace, become its root (the maps are written by now).
fn become_ns_root() -> Result<()> {
    let root_g = nix::unistd::Gid::from_raw(0);
    let root_u = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresgid(root_g, root_g, root_g)
        .map_err(|e| Error::sys("setgid 0 in the user namespace", e))?;
    nix::unistd::setresuid(root_u, root_u, root_u)
        .map_err(|e| Error::sys("setuid 0 in the user namespace", e))
}

/// `in_new_userns`: init was cloned straight into a new user namespace, whose
/// maps are written by now (before `Go`): become its root.
fn init_main(cfg: &InitConfig, chan: &Channel, in_new_userns: bool) -> Result<Infallible> {
    // Die with ward while setup is under way: a half-made container must not
    // outlive a killed `create`.
    sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as u64, 0)
        .map_err(|e| Error::sys("set parent death signal", e))?;
    if in_new_userns {
        become_ns_root()?;
    }
    if cfg.plan.creates(LinuxNamespaceType::Cgroup) {
        unshare(libc::CLONE_NEWCGROUP as u64)?;
    }
    let spec = &cfg.bundle.spec;
    let process = spec.process().as_ref().expect("validated: process present");
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    if !cfg.no_new_keyring {
        join_session_keyring(cfg.id)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| Error::sys(format!("set oom_score_adj {adj}"), e))?;
    }
    let ctx = rootfs::Context {
        spec,
        rootfs: &cfg.bundle.rootfs,
        bundle: &cfg.bundle.dir,
        no_pivot: cfg.no_pivot,
        host_mntns: !cfg.plan.creates(LinuxNamespaceType::Mount)
            && !cfg.plan.joins_kind(LinuxNamespaceType::Mount),
        new_cgroupns: cfg.plan.creates(LinuxNamespaceType::Cgroup),
        hierarchies: cfg.hierarchies,
    };
    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(|e| Error::sys(format!("sethostname {h:?}"), e))?;
    }
    if let Some(d) = spec.domainname().as_ref().filter(|d| !d.is_empty()) {
        sys::setdomainname(d).map_err(|e| Error::sys(format!("setdomainname {d:?}"), e))?;
    }
    // The prestart and createRuntime hooks run in the parent, then the
    // createContainer ones here, in the container's namespaces with the
    // mounts made; the state they got is kept for startContainer.
    let hooks = spec.hooks().as_ref();
    let wants_hooks = hooks.is_some_and(|h| {
        [
            Kind::Prestart,
            Kind::CreateRuntime,
            Kind::CreateContainer,
            Kind::StartContainer,
        ]
        .iter()
        .any(|k| !k.list(h).is_empty())
    });
    let mut hook_state: Option<String> = None;
    let mut before_pivot = || -> Result<()> {
        let Some(h) = hooks.filter(|_| wants_hooks) else {
            return Ok(());
        };
        chan.send(&Msg::Hooks)?;
        let state = match chan.recv()? {
            Some(Msg::HooksDone(s)) => s,
            m => return Err(Error::Protocol(format!("unexpected {m:?} for the hooks"))),
        };
        crate::hooks::run(
            Kind::CreateContainer,
            Kind::CreateContainer.list(h),
            state.as_bytes(),
        )?;
        hook_state = Some(state);
        Ok(())
    };
    rootfs::prepare(&ctx, &mut before_pivot)?;
    console::setup_stdio(process, cfg.console.as_ref(), true)?;
    rootfs::finalize(spec)?;

    let mut send_listener =
        |fd: OwnedFd| -> Result<()> { chan.send_fd(&Msg::SeccompFd, fd.as_fd()) };
    if let Some(p) = crate::mempolicy::from_spec(spec)? {
        p.apply()?;
    }
    let prepared = setup::prepare(process, cfg.seccomp, &mut send_listener)?;
    sys::prctl(libc::PR_SET_PDEATHSIG, 0, 0)
        .map_err(|e| Error::sys("clear parent death signal", e))?;
    chan.send(&Msg::Ready)?;
    let start_hooks = hooks.map(|h| Kind::StartContainer.list(h)).unwrap_or(&[]);
    wait_and_exec(cfg, &prepared, start_hooks, hook_state.as_deref())
}

/// Blocks until `ward start` connects (or a foreground `run` says go), then
/// execs. An exec failure goes back over the connection, so `start`
/// reports it.
fn wait_and_exec(
    cfg: &InitConfig,
    prepared: &setup::Prepared,
    start_hooks: &[oci_spec::runtime::Hook],
    hook_state: Option<&str>,
) -> Result<Infallible> {
    let waited = match &cfg.start_gate {
        StartGate::Listener(l) => accept(l),
        StartGate::Pair(p) => go(p),
    };
    let mut f = match waited {
        Ok(conn) => std::fs::File::from(conn),
        Err(e) => {
            // Nobody can hear this but the container's stderr (and nobody
            // is left to start the container after an EOF).
            if e.0 != 0 {
                eprintln!("ward init: waiting for start: {e}");
            }
            sys::_exit(1)
        }
    };
    if let (false, Some(state)) = (start_hooks.is_empty(), hook_state) {
        // In the container, as the process's user, right before the exec;
        // the state says "created" until the program runs.
        if let Err(e) = crate::hooks::run(Kind::StartContainer, start_hooks, state.as_bytes()) {
            let _ = f.write_all(e.to_string().as_bytes());
            sys::_exit(1)
        }
    }
    sys::reset_signals();
    for fd in 3..3 + cfg.preserve_fds {
        let _ = sys::clear_cloexec(fd as i32);
    }
    let _ = sys::cloexec_from(3 + cfg.preserve_fds);
    let (e, code) = prepared.exec();
    let _ = f.write_all(e.to_string().as_bytes());
    sys::_exit(code)
}

/// The first connection to the start socket.
fn accept(listener: &OwnedFd) -> std::result::Result<OwnedFd, Errno> {
    use nix::sys::socket::{accept4, SockFlag};
    loop {
        match accept4(listener, SockFlag::SOCK_CLOEXEC) {
            Ok(fd) => return Ok(fd),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits for the go byte on our end of a foreground run's pair, which then
/// is the connection; Errno(0) for an EOF.
fn go(pair: &OwnedFd) -> std::result::Result<OwnedFd, Errno> {
    let mut b = [0u8; 1];
    loop {
        match nix::unistd::read(pair, &mut b) {
            Ok(0) => return Err(Errno(0)),
            Ok(_) => {
                return pair
                    .try_clone()
                    .map_err(|e| Errno(e.raw_os_error().unwrap_or(0)))
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// A fresh session keyring per container, so containers can't see each
/// other's keys (or the host's).
fn join_session_keyring(id: &str) -> Result<()> {
    let name = CString::new(format!("_ses.{id}")).expect("ids have no NUL");
    match sys::join_session_keyring(&name) {
        // Kernels without keys, or user namespaces where the quota is out.
        Ok(()) | Err(Errno(libc::ENOSYS | libc::EACCES | libc::EDQUOT | libc::EPERM)) => Ok(()),
        Err(e) => Err(Error::sys("join session keyring", e)),
    }
}
