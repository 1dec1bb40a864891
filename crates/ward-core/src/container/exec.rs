//! `exec`: the process to run (a process.json, or config.json's process with
//! runc's flag overrides), the container's state checks, and the wait for
//! it in the foreground.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use std::str::FromStr;

use oci_spec::runtime::{Capability, LinuxCapabilities, Process};

use super::{compile_seccomp, open_cgroup_dir, reap, Container};
use crate::config;
use crate::console::{self, Proxy};
use crate::error::{Error, Result};
use crate::foreground::{self, Signals};
use crate::process::exec::{self, ExecConfig};
use crate::state::{self, Status, Store};
use crate::sys;

/// The options of `exec`, as runc names them.
#[derive(Debug, Default, Clone)]
pub struct ExecOptions {
    /// --process: a process.json replacing config.json's process whole.
    pub process: Option<PathBuf>,
    pub args: Vec<String>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub cwd: Option<String>,
    pub env: Vec<String>,
    /// --user uid[:gid]
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
}

/// Runs the process; returns its exit code in the foreground (128 + N when
/// signal N killed it), 0 once it runs when detached.
pub fn exec(store: &Store, id: &str, opts: &ExecOptions) -> Result<i32> {
    super::single_threaded("exec")?;
    let c = Container::open_shared(store, id)?;
    if c.state.status == Status::Paused && !opts.ignore_paused {
        return Err(Error::invalid(
            "exec",
            "cannot exec container: it is paused (use --ignore-paused to override)",
        ));
    }
    c.require("exec", &[Status::Created, Status::Running, Status::Paused])?;
    // The spec it was made with (not the bundle's config.json, which may
    // have changed or gone since).
    let spec = c.spec()?;
    let pidfd = c.init_pidfd()?;
    // The lock is only for reading the state: held during the spawn, a
    // process born into a frozen cgroup (--ignore-paused) would keep
    // `resume` from ever getting it.
    let st = c.into_state();
    let process = build_process(spec.process().as_ref(), opts)?;
    config::validate_process(&process)
        .map_err(|e| Error::invalid("exec: process", e.to_string()))?;
    // runc's rules and words: a detached terminal needs a console socket;
    // a socket needs a detached terminal (in the foreground ward is it).
    let terminal = process.terminal().unwrap_or(false);
    if terminal && opts.detach && opts.console_socket.is_none() {
        return Err(Error::invalid(
            "process.terminal",
            "cannot allocate tty if ward will detach without setting console socket",
        ));
    }
    if opts.console_socket.is_some() && !(terminal && opts.detach) {
        return Err(Error::invalid(
            "--console-socket",
            "cannot use console socket if ward will not detach or allocate tty",
        ));
    }
    let seccomp = compile_seccomp(&spec)?;
    let mempolicy = crate::mempolicy::from_spec(&spec)?;
    // A foreground terminal: ward takes the pty master itself.
    let (handoff, theirs) = match (terminal, &opts.console_socket) {
        (true, None) => {
            let (ours, theirs) = console::handoff_pair()?;
            (Some(ours), Some(theirs))
        }
        _ => (None, None),
    };
    let console: Option<OwnedFd> = match &opts.console_socket {
        Some(p) => Some(
            UnixStream::connect(p)
                .map_err(|e| Error::path("connect to console socket", p, e))?
                .into(),
        ),
        None => theirs,
    };
    let Some(pidfd) = pidfd else {
        return Err(Error::Status {
            op: "exec",
            status: Status::Stopped.to_string(),
        });
    };
    let cgroup_fd = match &st.cgroup {
        Some(cg) => open_cgroup_dir(cg)?,
        None => None,
    };
    let on_listener = |pid: i32, fd: OwnedFd| -> Result<()> {
        use std::os::fd::AsFd;
        let Some(f) = seccomp.as_ref() else {
            return Ok(());
        };
        let Some(path) = f.listener_path() else {
            return Ok(());
        };
        let metadata = spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .and_then(|s| s.listener_metadata().clone())
            .unwrap_or_default();
        let state = st.spec_state(st.status);
        Ok(crate::security::seccomp::send_listener_fd(
            path,
            &metadata,
            pid,
            &state,
            fd.as_fd(),
        )?)
    };
    // Blocked before the clone: a signal meant for the process is pending,
    // not lost, and doesn't kill ward in between.
    let signals = if opts.detach {
        None
    } else {
        Some(Signals::block()?)
    };
    exec::spawn(&ExecConfig {
        init_pid: st.pid,
        init_pidfd: &pidfd,
        process: &process,
        cgroup: st.cgroup.as_ref(),
        cgroup_fd,
        intel_rdt: st.intel_rdt.as_ref(),
        seccomp: seccomp.as_ref(),
        mempolicy,
        console,
        preserve_fds: opts.preserve_fds,
        on_listener: &on_listener,
    })
    .and_then(|pid| {
        if let Some(p) = &opts.pid_file {
            state::write_atomic(&super::absolute(p), pid.to_string().as_bytes(), 0o644)?;
        }
        match &signals {
            None => Ok(0),
            Some(s) => wait_foreground(pid, s, handoff.as_ref()),
        }
    })
}

/// Forwards signals (and with a terminal, the caller's stdio) to the
/// process until it exits; returns its exit code.
fn wait_foreground(pid: i32, signals: &Signals, handoff: Option<&OwnedFd>) -> Result<i32> {
    // Our unreaped child: the pid is still its own.
    let pidfd = sys::pidfd_open(pid).map_err(|e| Error::sys(format!("pidfd_open {pid}"), e))?;
    let mut tty = match handoff {
        Some(ours) => Some(Proxy::attach(console::receive_master(ours)?)?),
        None => None,
    };
    foreground::wait(&pidfd, signals, tty.as_mut())?;
    drop(tty);
    reap(pid)
}

/// The process to run: --process whole, or config.json's process with the
/// flags laid over it as runc lays them.
fn build_process(base: Option<&Process>, o: &ExecOptions) -> Result<Process> {
    if let Some(path) = &o.process {
        let data = std::fs::read(path).map_err(|e| Error::path("read process", path, e))?;
        return config::parse_process(&data).map_err(|invalid| {
            crate::config::ConfigError::Parse {
                path: path.clone(),
                invalid,
            }
            .into()
        });
    }
    if o.args.is_empty() {
        return Err(Error::invalid(
            "exec",
            "no command given (args, or --process)",
        ));
    }
    let mut p = base.cloned().unwrap_or_default();
    p.set_args(Some(o.args.clone()));
    p.set_terminal(Some(o.tty));
    if let Some(cwd) = &o.cwd {
        p.set_cwd(PathBuf::from(cwd));
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(o.env.iter().cloned());
    p.set_env(Some(env));
    if let Some(u) = &o.user {
        let mut user = p.user().clone();
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let num = |s: &str| {
            s.parse::<u32>().map_err(|_| {
                Error::invalid(format!("exec --user {u:?}"), "want uid[:gid], as numbers")
            })
        };
        user.set_uid(num(uid)?);
        if let Some(g) = gid {
            user.set_gid(num(g)?);
        }
        p.set_user(user);
    }
    if !o.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(o.additional_gids.clone()));
        p.set_user(user);
    }
    if !o.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &o.caps {
            let upper = name.to_uppercase();
            let cap = Capability::from_str(upper.trim_start_matches("CAP_")).map_err(|_| {
                Error::invalid(format!("exec --cap {name:?}"), "unknown capability")
            })?;
            add_cap(&mut caps, cap);
        }
        p.set_capabilities(Some(caps));
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(a) = &o.apparmor {
        p.set_apparmor_profile(Some(a.clone()));
    }
    if let Some(l) = &o.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(p)
}

/// --cap adds to the bounding, effective and permitted sets, and to the
/// ambient one only where the spec has inheritable ones (ambient needs
/// inheritable), as runc does.
fn add_cap(c: &mut LinuxCapabilities, cap: Capability) {
    let add = |set: Option<oci_spec::runtime::Capabilities>| {
        let mut s = set.unwrap_or_default();
        s.insert(cap);
        Some(s)
    };
    c.set_bounding(add(c.bounding().clone()));
    c.set_effective(add(c.effective().clone()));
    c.set_permitted(add(c.permitted().clone()));
    if c.inheritable().as_ref().is_some_and(|s| !s.is_empty()) {
        c.set_ambient(add(c.ambient().clone()));
    }
}
