//! The lifecycle verbs of the runtime spec: create, start, state, kill,
//! delete, and run (all of them at once, in the foreground).

mod cgroup_ops;
mod exec;
mod notify;
pub use cgroup_ops::{live_state, pause, pids, resume, update};
pub use exec::{exec, ExecOptions};

use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxNamespaceType;

use crate::cgroups::{self, Cgroup, Hierarchies};
use crate::config;
use crate::console::{self, Proxy};
use crate::error::{Errno, Error, Result};
use crate::foreground::{self, Signals};
use crate::hooks::Kind;
use crate::namespaces::Plan;
use crate::process::{self, InitConfig, StartGate};
use crate::rootfs::host_mounts;
use crate::security::seccomp::{self, Filter};
use crate::state::{self, current_status, init_alive, ContainerDir, State, Status, Store};
use crate::sys;

/// The options of `create` (and `run`).
#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

/// Runs `f` with the current directory set to `dir`, then goes back: binding
/// and connecting unix sockets by a short relative name avoids sun_path's
/// 108-byte limit for long --root paths. ward is single-threaded, so the
/// process-wide cwd change is not seen by anything else.
fn in_dir<T>(dir: &Path, name: &str, f: impl FnOnce(&str) -> std::io::Result<T>) -> Result<T> {
    let back = std::fs::File::open(".").map_err(|e| Error::path("open", ".", e))?;
    std::env::set_current_dir(dir).map_err(|e| Error::path("chdir", dir, e))?;
    let res = f(name);
    nix::unistd::fchdir(&back).map_err(|e| Error::sys("chdir back", e))?;
    res.map_err(|e| Error::path("socket", dir.join(name), e))
}

pub fn create(store: &Store, id: &str, opts: &CreateOptions) -> Result<State> {
    create_with(store, id, opts, None).map(|(st, _, _)| st)
}

/// `create`; `handoff` is given by a foreground `run`: its end of a console
/// socket pair, which init gets in place of a --console-socket when
/// process.terminal is set. Returns the state, whether the process has a
/// terminal, and for a foreground `run` its end of the start pair (no
/// start.sock is bound then: see process::StartGate). On failure nothing is
/// left, and nothing that was there before (another container of that ID)
/// is touched.
fn create_with(
    store: &Store,
    id: &str,
    opts: &CreateOptions,
    handoff: Option<OwnedFd>,
) -> Result<(State, bool, Option<UnixStream>)> {
    crate::id::validate_id(id)?;
    // Everything is checked before anything is made.
    let mut bundle = config::load_bundle(&opts.bundle)?;
    let spec = &bundle.spec;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    // runc's rules and words: the terminal goes to --console-socket when
    // ward detaches (create, run -d), to ward itself otherwise.
    let detached = handoff.is_none();
    let foreground = !detached;
    if terminal && detached && opts.console_socket.is_none() {
        return Err(Error::Other(
            "process.terminal: cannot allocate tty if ward will detach without setting console socket"
                .into(),
        ));
    }
    if opts.console_socket.is_some() && (!terminal || !detached) {
        return Err(Error::Other(
            "--console-socket: cannot use console socket if ward will not detach or allocate tty"
                .into(),
        ));
    }
    let plan = Plan::from_spec(spec)?;
    refuse_host_uts(spec, &plan)?;
    if host_mntns(&plan) {
        // The runtime spec: a namespace not listed is inherited, the mount
        // namespace too. Then the root is only chroot'ed into, and what
        // would change mounts that are the host's is refused.
        if spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false)
        {
            return Err(Error::Other(
                "root.readonly: needs a mount namespace of the container's own".into(),
            ));
        }
        if let Some(p) = spec
            .linux()
            .as_ref()
            .and_then(|l| l.rootfs_propagation().as_deref())
            .filter(|p| !p.is_empty())
        {
            return Err(Error::Other(format!(
                "linux.rootfsPropagation {p:?}: needs a mount namespace of the container's own"
            )));
        }
    }
    let seccomp = compile_seccomp(spec)?;
    let console: Option<OwnedFd> = match &opts.console_socket {
        Some(p) => Some(
            UnixStream::connect(p)
                .map_err(|e| Error::path("connect to console socket", p, e))?
                .into(),
        ),
        None if terminal => handoff,
        None => None,
    };
    let linux = bundle.spec.linux().as_ref();
    let hier = Hierarchies::detect()?;
    let cg_path = cgroups::container_path(linux.and_then(|l| l.cgroups_path().as_deref()), id)?;
    // The intent, written before anything is made: the cgroup it is about
    // to make, so that a create killed at any point leaves a container that
    // `delete --force` can find every part of.
    let mut st = State {
        oci_version: bundle.version(),
        id: id.to_string(),
        status: Status::Creating,
        pid: 0,
        bundle: bundle.dir.clone(),
        annotations: bundle.spec.annotations().clone().unwrap_or_default(),
        rootfs: bundle.rootfs.clone(),
        created: state::now_rfc3339(),
        owner: state::owner_name(),
        init_start_time: 0,
        init_exe: state::own_exe(),
        cgroup: Some(Cgroup::locate(&hier, &cg_path)),
        resources: linux.and_then(|l| l.resources().clone()),
        hooks: bundle.spec.hooks().clone(),
        notify_socket: None,
        host_mounts: Vec::new(),
    };
    let dir = store.create(id, &st)?;
    crate::fault::point("create:dir");
    let made = notify::setup_spec(&dir.path, &mut bundle.spec).and_then(|notify| {
        st.notify_socket = notify.notify.clone();
        create_in(
            &dir,
            &mut st,
            &bundle,
            &plan,
            &hier,
            console,
            seccomp.as_ref(),
            notify,
            opts,
            foreground,
        )
    });
    match made {
        Ok(start) => Ok((st, terminal, start)),
        Err(e) => {
            // What the state says was made is unmade: the processes (killed
            // and reaped by the spawn already, or found by pid and cgroup)
            // and the cgroup.
            if let Err(e) = teardown(&st) {
                crate::warn(&format!("cleaning up after a failed create: {e}"));
            }
            let _ = dir.remove();
            if let (Error::Hook(_), Some(h)) = (&e, bundle.spec.hooks()) {
                // The runtime spec: after a failed hook the container is
                // destroyed and the poststop hooks run.
                let state = state::spec_state_json(
                    &bundle.version(),
                    id,
                    Status::Stopped,
                    0,
                    &bundle.dir,
                    &bundle.spec.annotations().clone().unwrap_or_default(),
                );
                poststop(h, &state);
            }
            Err(e)
        }
    }
}

/// A hostname or domain name set in a uts namespace joined by path that is
/// ward's own would rename the host: refused.
fn refuse_host_uts(spec: &oci_spec::runtime::Spec, plan: &Plan) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let names = spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        || spec.domainname().as_ref().is_some_and(|d| !d.is_empty());
    if !names {
        return Ok(());
    }
    let Ok(ours) = std::fs::metadata("/proc/self/ns/uts") else {
        return Ok(());
    };
    for j in plan
        .joins
        .iter()
        .filter(|j| j.kind == LinuxNamespaceType::Uts)
    {
        let st = nix::sys::stat::fstat(std::os::fd::AsFd::as_fd(&j.fd))
            .map_err(|e| Error::path("stat", &j.path, e))?;
        if (st.st_dev, st.st_ino) == (ours.dev(), ours.ino()) {
            return Err(Error::Other(format!(
                "hostname: the uts namespace {} is the runtime's own: setting it would rename the host",
                j.path.display()
            )));
        }
    }
    Ok(())
}

/// Whether the container stays in ward's mount namespace.
fn host_mntns(plan: &Plan) -> bool {
    !plan.creates(LinuxNamespaceType::Mount) && !plan.joins_kind(LinuxNamespaceType::Mount)
}

/// Whether linux.resources asks for any limit (devices rules alone don't:
/// the runtime's default list is always there).
fn has_limits(r: Option<&oci_spec::runtime::LinuxResources>) -> bool {
    r.is_some_and(|r| {
        r.memory().is_some()
            || r.cpu().is_some()
            || r.pids().is_some()
            || r.block_io().is_some()
            || r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty())
            || r.network().is_some()
            || r.unified().as_ref().is_some_and(|u| !u.is_empty())
            || r.rdma().as_ref().is_some_and(|u| !u.is_empty())
    })
}

/// linux.seccomp compiled to BPF, before anything is made: a bad profile
/// fails `create` with nothing to clean up.
pub(crate) fn compile_seccomp(spec: &oci_spec::runtime::Spec) -> Result<Option<Filter>> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(seccomp::compile)
        .transpose()
        .map_err(|e| Error::Other(e.to_string()))
}

#[allow(clippy::too_many_arguments)]
fn create_in(
    dir: &ContainerDir,
    st: &mut State,
    bundle: &config::Bundle,
    plan: &Plan,
    hier: &Hierarchies,
    console: Option<OwnedFd>,
    seccomp: Option<&Filter>,
    systemd: notify::Passthrough,
    opts: &CreateOptions,
    foreground: bool,
) -> Result<Option<UnixStream>> {
    let (gate, start) = if foreground {
        let (ours, init) =
            UnixStream::pair().map_err(|e| Error::sys("socketpair", Errno::from(e)))?;
        (StartGate::Pair(init.into()), Some(ours))
    } else {
        let l = in_dir(&dir.path, state::START_SOCKET, |n| UnixListener::bind(n))?;
        (StartGate::Listener(l.into()), None)
    };
    let planned = st.cgroup.take().expect("create plans a cgroup");
    st.cgroup = match planned.create(hier, st.resources.as_ref()) {
        Ok(()) => Some(planned),
        // Rootless: a user who may not make cgroups gets a container
        // without one, unless it asked for limits that need it.
        Err(e) if e.is_permission() && !sys::is_root() && !has_limits(st.resources.as_ref()) => {
            crate::warn(&format!(
                "cgroups: {e}; the container runs without a cgroup of its own (rootless)"
            ));
            dir.save(st)?;
            dir.save_recovery(&(&*st).into())?;
            None
        }
        Err(e) => return Err(e.into()),
    };
    crate::fault::point("create:cgroup");
    // The init's pid is stored as soon as it is known, before its setup:
    // from then on a killed create leaves an init that delete can find
    // (and that dies with ward until it is ready anyway). recovery.json
    // alone holds it until the final state is written: delete reads it
    // for a state still `creating` (one file written instead of two).
    let base = st.clone();
    let record = |pid: i32| -> Result<()> {
        let mut now = base.clone();
        now.pid = pid;
        now.init_start_time = state::proc_stat(pid).map_or(0, |s| s.0);
        dir.save_recovery(&(&now).into())?;
        crate::fault::point("create:cloned");
        Ok(())
    };
    let mounts_before = host_mntns(plan).then(|| host_mounts::under(&bundle.rootfs));
    let spawned = st
        .cgroup
        .as_ref()
        .map_or(Ok(None), open_cgroup_dir)
        .and_then(|cgroup_fd| {
            process::spawn(&InitConfig {
                id: &dir.id,
                bundle,
                plan,
                no_pivot: opts.no_pivot,
                no_new_keyring: opts.no_new_keyring,
                console,
                start_gate: gate,
                preserve_fds: opts.preserve_fds + systemd.listen_fds,
                cgroup: st.cgroup.as_ref(),
                cgroup_fd,
                hierarchies: hier,
                seccomp,
                record_init: &record,
            })
        });
    let spawned = match spawned {
        Ok(s) => s,
        Err(e) => {
            // What init mounted on the host (no mount namespace of its own)
            // goes with it; the rest is cleaned up from the state.
            if let Some(before) = &mounts_before {
                host_mounts::unmount(&host_mounts::new_since(before, &bundle.rootfs));
            }
            return Err(e);
        }
    };
    crate::fault::point("create:ready");
    st.status = Status::Created;
    st.pid = spawned.pid;
    st.init_start_time = spawned.start_time;
    st.host_mounts = mounts_before
        .map(|before| host_mounts::new_since(&before, &bundle.rootfs))
        .unwrap_or_default();
    dir.save(st)?;
    crate::fault::point("create:saved");
    if let Some(p) = &opts.pid_file {
        state::write_atomic(&absolute(p), spawned.pid.to_string().as_bytes(), 0o644)?;
    }
    Ok(start)
}

/// The container's cgroup2 directory, opened for clone3(CLONE_INTO_CGROUP).
fn open_cgroup_dir(cg: &Cgroup) -> Result<Option<OwnedFd>> {
    let Some(dir) = &cg.v2 else {
        return Ok(None);
    };
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|e| Error::path("open cgroup", dir, e))?;
    Ok(Some(f.into()))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The stored state of a container with its live status.
fn load(dir: &ContainerDir) -> Result<State> {
    let mut st = dir.load()?.ok_or_else(|| {
        Error::Other("container has no state: its delete was killed half-way".into())
    })?;
    st.status = current_status(&dir.path, &st, true);
    Ok(st)
}

pub fn start(store: &Store, id: &str) -> Result<()> {
    let dir = store.open(id)?;
    let st = load(&dir)?;
    if st.status != Status::Created {
        return Err(Error::Status {
            op: "start",
            status: st.status.to_string(),
        });
    }
    let notify = bind_notify(&dir.path, &st)?;
    let conn = in_dir(&dir.path, state::START_SOCKET, |n| UnixStream::connect(n))?;
    // Killed from here on, the program runs without start.sock being
    // removed: the init's exe tells `state` it runs (State::init_exe).
    crate::fault::point("start:connected");
    let sock = dir.start_socket_path();
    std::fs::remove_file(&sock).map_err(|e| Error::path("remove", &sock, e))?;
    crate::fault::point("start:unlinked");
    // state.json is not rewritten: `running` is derived (no start.sock, or
    // an init that left ward's binary), never read from the file.
    drop(dir);
    released(&st, conn, notify)
}

/// The socket that gets the program's READY=1, bound before the program
/// runs so that no notification is lost.
fn bind_notify(dir: &Path, st: &State) -> Result<Option<(UnixDatagram, PathBuf)>> {
    match &st.notify_socket {
        Some(host) => Ok(Some((notify::bind(dir)?, host.clone()))),
        None => Ok(None),
    }
}

/// The rest of `start` once init has been told to go over `conn`: the exec's
/// outcome, the poststart hooks, READY=1 passed on.
fn released(
    st: &State,
    mut conn: UnixStream,
    notify: Option<(UnixDatagram, PathBuf)>,
) -> Result<()> {
    // init closes the connection by exec'ing (close-on-exec), or writes why
    // the exec failed.
    let mut msg = String::new();
    use std::io::Read;
    let _ = conn.read_to_string(&mut msg);
    if !msg.is_empty() {
        return Err(Error::Init(msg));
    }
    // runtime-spec 1.3 (and runc): a failing poststart hook fails start
    // and stops the container; its poststop hooks run at delete. Up to 1.2
    // the spec said to warn and go on with the other hooks and the
    // lifecycle: a bundle that declares such a version gets that.
    if let Some(h) = &st.hooks {
        let state = st.spec_json(Status::Running);
        if !poststart_failure_is_fatal(&st.oci_version) {
            for e in crate::hooks::run_all(Kind::Poststart, Kind::Poststart.list(h), &state) {
                crate::warn(&e.to_string());
            }
        } else if let Err(e) = crate::hooks::run(Kind::Poststart, Kind::Poststart.list(h), &state) {
            let _ = teardown(st);
            return Err(e.into());
        }
    }
    if let Some((sock, host)) = notify {
        if let Some(pidfd) = init_pidfd(st)? {
            notify::forward(&sock, &host, st.pid, &pidfd)?;
        }
    }
    Ok(())
}

/// Whether a failing poststart hook fails `start`: from runtime-spec 1.3.0
/// on. An ociVersion ward can't read is taken as the newest.
fn poststart_failure_is_fatal(oci_version: &str) -> bool {
    let mut parts = oci_version.split(['.', '-', '+']).map(|p| p.parse::<u64>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= (1, 3),
        _ => true,
    }
}

/// Runs every poststop hook; a failure is a warning and the others still
/// run (the runtime spec).
fn poststop(hooks: &oci_spec::runtime::Hooks, state: &[u8]) {
    for e in crate::hooks::run_all(Kind::Poststop, Kind::Poststop.list(hooks), state) {
        crate::warn(&e.to_string());
    }
}

/// The state of a container, as `ward state` prints it.
pub fn state(store: &Store, id: &str) -> Result<State> {
    crate::id::validate_id(id)?;
    let path = store.container_path(id);
    if !path.is_dir() {
        return Err(Error::NotExist(path));
    }
    match state::read_state(&path.join(state::STATE_FILE))? {
        Some(mut st) => {
            st.status = current_status(&path, &st, false);
            Ok(st)
        }
        // Only a delete killed half-way leaves a directory without a
        // state (create writes one before the directory appears).
        None => {
            let mut st = State::creating(id);
            if !state::locked_by_other(&path) {
                st.status = Status::Stopped;
            }
            Ok(st)
        }
    }
}

/// A pidfd on the container's init, checked to still be that process.
fn init_pidfd(st: &State) -> Result<Option<OwnedFd>> {
    if st.pid <= 0 {
        return Ok(None);
    }
    let fd = match sys::pidfd_open(st.pid) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
        Err(e) => return Err(Error::sys(format!("pidfd_open {}", st.pid), e)),
    };
    // The pid may have been reused between our read of the state and the
    // open: the start time tells.
    Ok(init_alive(st.pid, st.init_start_time).then_some(fd))
}

pub fn kill(store: &Store, id: &str, sig: i32, all: bool) -> Result<()> {
    let dir = store.open_shared(id)?;
    let st = load(&dir)?;
    // runc's words: containerd's shim takes "container not running" to
    // mean the process is already gone.
    let stopped = || Error::Other(format!("signal {sig}: container not running"));
    let pidfd = match st.status {
        Status::Stopped => None,
        _ => init_pidfd(&st)?,
    };
    let Some(pidfd) = pidfd else {
        // With --all, init's exit is no reason to spare the rest: without a
        // pid namespace of its own, its children live on in the cgroup
        // (runc signals them too).
        return match (all, &st.cgroup) {
            (true, Some(cg)) => Ok(cg.signal_all(sig)?),
            (true, None) => Ok(()),
            (false, _) => Err(stopped()),
        };
    };
    if all {
        // Every process of the container is in its cgroup, whatever pid
        // namespace it has.
        st.cgroup
            .as_ref()
            .ok_or_else(|| Error::Other("kill --all: container has no cgroup".into()))?
            .signal_all(sig)?;
    }
    match sys::pidfd_send_signal(&pidfd, sig) {
        // With --all, init was signalled through the cgroup already and may
        // be dead and reaped by now: that is success.
        Err(e) if all && e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        r => r.map_err(|e| Error::sys(format!("signal {sig} to {}", st.pid), e)),
    }
}

/// SIGKILLs every process of the container, waits until they are gone and
/// removes its cgroup. Init goes first: with its own pid namespace, the
/// kernel then kills the rest.
fn teardown(st: &State) -> Result<()> {
    let init = init_pidfd(st).ok().flatten();
    if let Some(fd) = &init {
        let _ = sys::pidfd_send_signal(fd, libc::SIGKILL);
    }
    crate::fault::point("delete:killed");
    match &st.cgroup {
        Some(cg) => cg.remove()?,
        None => {
            if let Some(fd) = &init {
                let _ = sys::pidfd_wait_exit(fd, 10_000);
            }
        }
    }
    host_mounts::unmount(&st.host_mounts);
    Ok(())
}

pub fn delete(store: &Store, id: &str, force: bool) -> Result<()> {
    let dir = match store.open(id) {
        Ok(d) => d,
        Err(Error::NotExist(_)) if force => {
            store.sweep_tmp(id);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let mut stopped = None;
    match dir.load() {
        Ok(Some(mut st)) => {
            if st.status == Status::Creating && st.pid == 0 {
                // A create killed during init's setup: its pid is only in
                // recovery.json.
                if let Some(r) = dir.load_recovery() {
                    st.pid = r.pid;
                    st.init_start_time = r.init_start_time;
                }
            }
            st.status = current_status(&dir.path, &st, true);
            // The runtime spec: deleting a container that is not stopped
            // MUST fail and have no effect. A created one is not stopped
            // (runc and crun delete it anyway; runtime-tools' delete checks
            // for the error), so it needs --force as well.
            if st.status != Status::Stopped && !force {
                return Err(Error::Other(format!(
                    "cannot delete container that is not stopped: {}",
                    st.status
                )));
            }
            // Even a stopped container may have left processes (no pid
            // namespace of its own, or a create killed after the clone):
            // teardown kills them too.
            teardown(&st)?;
            // A container whose create never finished ran no hooks.
            if st.pid > 0 && st.init_start_time > 0 {
                stopped = Some(st);
            }
        }
        // A delete killed after it removed the state file; what remains
        // to be found is where recovery.json (or the ID) says.
        Ok(None) => teardown_recovered(&dir)?,
        Err(e) if force => {
            crate::warn(&format!("{e}; removing the container anyway"));
            teardown_recovered(&dir)?;
        }
        Err(e) => {
            return Err(Error::Other(format!(
                "{e} (delete --force removes it anyway)"
            )))
        }
    }
    crate::fault::point("delete:cgroup");
    dir.remove()?;
    store.sweep_tmp(id);
    if let Some(st) = stopped {
        if let Some(h) = &st.hooks {
            poststop(h, &st.spec_json(Status::Stopped));
        }
    }
    Ok(())
}

/// Teardown without a readable state.json: the processes and cgroups that
/// recovery.json names, or, without it, those of the default cgroup path
/// `/ward-<id>`.
fn teardown_recovered(dir: &ContainerDir) -> Result<()> {
    let mut st = State::creating(&dir.id);
    match dir.load_recovery() {
        Some(r) => {
            st.cgroup = r.cgroup;
            st.pid = r.pid;
            st.init_start_time = r.init_start_time;
        }
        None => {
            let hier = Hierarchies::detect()?;
            let path = cgroups::container_path(None, &dir.id)?;
            let cg = Cgroup::locate(&hier, &path);
            st.cgroup = cg.dirs().iter().any(|d| d.is_dir()).then_some(cg);
        }
    }
    teardown(&st)
}

/// create + start; in the foreground, forwards signals, proxies the
/// terminal, waits, deletes (unless `keep`) and returns the exit code: the
/// process's own, or 128 + N when signal N killed it.
pub fn run(store: &Store, id: &str, opts: &CreateOptions, detach: bool, keep: bool) -> Result<i32> {
    if detach {
        create(store, id, opts)?;
        if let Err(e) = start(store, id) {
            let _ = delete(store, id, true);
            return Err(e);
        }
        return Ok(0);
    }
    // Blocked before the clone: see foreground::Signals.
    let signals = Signals::block()?;
    let res = run_foreground(store, id, opts, &signals);
    drop(signals);
    let code = res?;
    if !keep {
        delete(store, id, true)?;
    }
    Ok(code)
}

fn run_foreground(store: &Store, id: &str, opts: &CreateOptions, signals: &Signals) -> Result<i32> {
    let (ours, theirs) = console::handoff_pair()?;
    // A failed create has removed what it made; it must not be followed by
    // a delete, which could hit another container of the same ID.
    let (st, terminal, start) = create_with(store, id, opts, Some(theirs))?;
    let start = start.expect("a foreground create returns its start pair");
    let res = start_and_wait(store, id, &st, start, terminal.then_some(&ours), signals);
    if res.is_err() {
        let _ = delete(store, id, true);
    }
    res
}

/// Starts the created container and waits for its init in the foreground,
/// proxying its terminal when `handoff` is where init sent the master.
fn start_and_wait(
    store: &Store,
    id: &str,
    st: &State,
    mut start: UnixStream,
    handoff: Option<&OwnedFd>,
    signals: &Signals,
) -> Result<i32> {
    // init is our child and not reaped yet, so its pid is still its own; the
    // pidfd becomes readable when it exits, however early that is.
    let pidfd =
        sys::pidfd_open(st.pid).map_err(|e| Error::sys(format!("pidfd_open {}", st.pid), e))?;
    // Attached before start: the process starts with the caller's window
    // size, and what the user types goes to it from the first key.
    let mut tty = match handoff {
        Some(ours) => Some(Proxy::attach(console::receive_master(ours)?)?),
        None => None,
    };
    // `start`, with the pair in place of start.sock.
    let notify = bind_notify(&store.container_path(id), st)?;
    use std::io::Write;
    start
        .write_all(b"s")
        .map_err(|e| Error::sys("start: tell init to go", Errno::from(e)))?;
    released(st, start, notify)?;
    foreground::wait(&pidfd, signals, tty.as_mut())?;
    // The caller's terminal gets its mode back before anything else is
    // printed (on the error paths above, the drop does it).
    drop(tty);
    reap(st.pid)
}

/// The exit code of our exited child `pid`: its own, or 128 + the signal.
fn reap(pid: i32) -> Result<i32> {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::sys("wait for container", Errno::from(e))),
        }
    }
}

/// Every container with its state, for `list`. A container whose state
/// can't be read is listed with the error instead.
pub fn list(store: &Store) -> Result<Vec<std::result::Result<State, (String, Error)>>> {
    Ok(store
        .list()?
        .into_iter()
        .map(|id| state(store, &id).map_err(|e| (id, e)))
        .collect())
}

#[cfg(test)]
mod poststart_tests {
    use super::poststart_failure_is_fatal;

    #[test]
    fn poststart_failure_follows_the_bundles_spec_version() {
        assert!(!poststart_failure_is_fatal("1.0.2"));
        assert!(!poststart_failure_is_fatal("1.1.0"));
        assert!(!poststart_failure_is_fatal("1.2.1"));
        assert!(poststart_failure_is_fatal("1.3.0"));
        assert!(poststart_failure_is_fatal("1.3.0-rc.1"));
        assert!(poststart_failure_is_fatal("2.0.0"));
        assert!(poststart_failure_is_fatal("garbage"));
    }
}
