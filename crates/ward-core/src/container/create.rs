//! `create`, in four stages that other verbs reuse (restore calls 1, 2 and
//! 4 around CRIU instead of 3):
//!
//! 1. [`validate`]: the whole input checked against this host, nothing
//!    made: config.json, the namespaces to join (opened), the console
//!    socket (connected), seccomp (compiled), and `linux.resources` run
//!    through the cgroup planners without a write.
//! 2. [`materialize`]: the state directory (status `creating`, under its
//!    lock) and the cgroup with its limits; ward's own additions to the
//!    spec (the notify mount, LISTEN_FDS).
//! 3. [`spawn`]: init cloned into its namespaces, set up, waiting for start.
//! 4. [`record`]: the spec kept, the state `created` with init's pid, the
//!    pid file.
//!
//! A failure in 2 to 4 unmakes what 2 made ([`Materialized::unmake`]); a
//! failure in 1 has nothing to unmake.

use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, LinuxResources, Spec};

use super::notify;
use crate::cgroups::{self, Cgroup, Driver, Hierarchies};
use crate::config::{self, Bundle, ConfigError, Invalid};
use crate::error::{Error, Result};
use crate::namespaces::Plan;
use crate::process::{self, InitConfig, Spawned, StartGate};
use crate::rootfs::host_mounts::{self, HostMount};
use crate::security::seccomp::Filter;
use crate::state::{self, ContainerDir, State, Status, Store};
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
    /// --systemd-cgroup: systemd owns the cgroup ([`Driver::Systemd`]).
    pub systemd_cgroup: bool,
    /// The caller's NOTIFY_SOCKET: the container's READY=1 goes there.
    pub notify_socket: Option<PathBuf>,
    /// Socket activation: how many fds from 3 systemd passed to ward
    /// (LISTEN_FDS, when LISTEN_PID is ward's pid); they go to the process.
    pub listen_fds: u32,
    /// No cgroup of the container's own: it stays in its creator's, as a
    /// bubblewrap sandbox does (a library caller's choice, e.g. a one-off
    /// `ward box`; the runtime binary has no flag for it). Refused with
    /// limits in linux.resources; its devices rules then go unenforced,
    /// so the caller sees that no device is reachable without them.
    pub no_cgroup: bool,
}

/// Stage 1's result: everything the later stages need, checked.
pub struct Validated {
    pub id: String,
    pub bundle: Bundle,
    pub plan: Plan,
    pub hierarchies: Hierarchies,
    /// Where the cgroup goes, and who owns it; the resources were checked
    /// against it.
    pub cgroup: Cgroup,
    pub seccomp: Option<Filter>,
    /// The connected --console-socket (or run's end of its pair).
    pub console: Option<OwnedFd>,
    /// Whether process.terminal is set.
    pub terminal: bool,
    /// A foreground `run` (ward stays; no start.sock).
    pub foreground: bool,
    /// How many socket-activation fds (from 3) go to the process: set by
    /// stage 2 with ward's other additions to the spec.
    pub listen_fds: u32,
    /// linux.netDevices, checked: moved in after stage 3.
    pub net_devices: Vec<crate::netdev::Moved>,
    /// linux.intelRdt, checked: made in stage 2, init placed after 3.
    pub intel_rdt: Option<crate::intel_rdt::Group>,
}

impl Validated {
    fn resources(&self) -> Option<&LinuxResources> {
        self.bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
    }

    /// Whether the container stays in ward's mount namespace.
    fn host_mntns(&self) -> bool {
        host_mntns(&self.plan)
    }
}

/// Stage 2's result: the container's directory, locked, and its state.
pub struct Materialized {
    pub dir: ContainerDir,
    pub state: State,
}

impl Materialized {
    /// Takes away what stage 2 made, after a failure in a later stage:
    /// the processes (found by pid and cgroup), the cgroup, the directory.
    /// After a failed hook, the poststop hooks run (the runtime spec).
    pub fn unmake(self, v: &Validated, why: &Error) {
        if let Err(e) = super::teardown(&self.state) {
            crate::warn(&format!("cleaning up after a failed create: {e}"));
        }
        let _ = self.dir.remove();
        if let (Error::Hook(_), Some(h)) = (why.root(), v.bundle.spec.hooks()) {
            let state = state::spec_state_json(
                &v.bundle.version(),
                &v.id,
                Status::Stopped,
                0,
                &v.bundle.dir,
                &v.bundle.spec.annotations().clone().unwrap_or_default(),
            );
            super::poststop(h, &state);
        }
    }
}

/// Stage 1. `handoff` is a foreground `run`'s end of a console socket
/// pair, which init gets in place of a --console-socket when
/// process.terminal is set.
pub fn validate(id: &str, opts: &CreateOptions, handoff: Option<OwnedFd>) -> Result<Validated> {
    let mut v = validate_spec(id, opts)?;
    // runc's rules and words: the terminal goes to --console-socket when
    // ward detaches (create, run -d), to ward itself otherwise.
    let foreground = handoff.is_some();
    if v.terminal && !foreground && opts.console_socket.is_none() {
        return Err(Error::invalid(
            "process.terminal",
            "cannot allocate tty if ward will detach without setting console socket",
        ));
    }
    if opts.console_socket.is_some() && (!v.terminal || foreground) {
        return Err(Error::invalid(
            "--console-socket",
            "cannot use console socket if ward will not detach or allocate tty",
        ));
    }
    v.console = match &opts.console_socket {
        Some(p) => Some(
            UnixStream::connect(p)
                .map_err(|e| Error::path("connect to console socket", p, e))?
                .into(),
        ),
        None if v.terminal => handoff,
        None => None,
    };
    v.foreground = foreground;
    Ok(v)
}

/// Stage 1 but the console, which restore gets from CRIU instead.
pub fn validate_spec(id: &str, opts: &CreateOptions) -> Result<Validated> {
    crate::id::validate_id(id)?;
    let bundle = config::load_bundle(&opts.bundle)?;
    let spec = &bundle.spec;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let invalid = |field: &str, why: String| -> Error {
        ConfigError::Invalid {
            path: bundle.dir.join("config.json"),
            invalid: Invalid::new(field, why),
        }
        .into()
    };
    let plan = Plan::from_spec(spec)?;
    refuse_host_uts(spec, &plan).map_err(|why| invalid("hostname", why))?;
    if host_mntns(&plan) {
        // The runtime spec: a namespace not listed is inherited, the mount
        // namespace too. Then the root is only chroot'ed into, and what
        // would change mounts that are the host's is refused.
        let own = "needs a mount namespace of the container's own".to_string();
        if spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false)
        {
            return Err(invalid("root.readonly", own));
        }
        if let Some(p) = spec
            .linux()
            .as_ref()
            .and_then(|l| l.rootfs_propagation().as_deref())
            .filter(|p| !p.is_empty())
        {
            return Err(invalid("linux.rootfsPropagation", format!("{p:?}: {own}")));
        }
    }
    let seccomp = super::compile_seccomp(spec)?;
    crate::mempolicy::from_spec(spec)?;
    let intel_rdt = crate::intel_rdt::plan(spec, id, crate::intel_rdt::resctrl_mount)?;
    let linux = spec.linux().as_ref();
    let hierarchies = Hierarchies::detect()?;
    let cgroups_path = linux.and_then(|l| l.cgroups_path().as_deref());
    let mut path = cgroups::container_path(cgroups_path, id)?;
    let driver = if opts.systemd_cgroup {
        // runc's rule: a systemd path needs systemd; a plain path with
        // --systemd-cgroup is refused too (runc: "expected cgroupsPath to
        // be of format slice:prefix:name").
        cgroups::systemd::check_running()?;
        match cgroups_path.filter(|p| !p.as_os_str().is_empty()) {
            // No path: runc's default scope, with ward's prefix.
            None => {
                path = cgroups::container_path(
                    Some(std::path::Path::new(&format!("system.slice:ward:{id}"))),
                    id,
                )?
            }
            Some(p) if !p.to_string_lossy().contains(':') => {
                return Err(invalid(
                    "linux.cgroupsPath",
                    format!(
                        "{:?}: --systemd-cgroup needs the slice:prefix:name form",
                        p.display().to_string()
                    ),
                ))
            }
            Some(_) => {}
        }
        // A user's own systemd instance keeps its units below its service.
        let prefix = cgroups::systemd::manager_prefix();
        if !prefix.as_os_str().is_empty() {
            path = std::path::Path::new("/")
                .join(prefix)
                .join(path.strip_prefix("/").unwrap_or(&path));
        }
        Driver::Systemd
    } else {
        Driver::Cgroupfs
    };
    let cgroup = Cgroup::locate(&hierarchies, &path, driver);
    if driver == Driver::Systemd {
        cgroup.systemd_unit()?;
    }
    if let Some(r) = linux.and_then(|l| l.resources().as_ref()) {
        if opts.no_cgroup && has_limits(Some(r)) {
            return Err(invalid(
                "linux.resources",
                "limits need a cgroup of the container's own".into(),
            ));
        }
        cgroup.check(&hierarchies, r)?;
    }
    let net_devices = match linux.and_then(|l| l.net_devices().as_ref()) {
        Some(d) if !d.is_empty() => crate::netdev::plan(
            d,
            plan.creates(LinuxNamespaceType::Network)
                || plan.joins_kind(LinuxNamespaceType::Network),
        )?,
        _ => Vec::new(),
    };
    Ok(Validated {
        id: id.to_string(),
        bundle,
        plan,
        hierarchies,
        cgroup,
        seccomp,
        console: None,
        terminal,
        foreground: false,
        listen_fds: 0,
        net_devices,
        intel_rdt,
    })
}

/// A hostname or domain name set in a uts namespace joined by path that is
/// ward's own would rename the host: refused.
fn refuse_host_uts(spec: &Spec, plan: &Plan) -> std::result::Result<(), String> {
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
        let same = nix::sys::stat::fstat(std::os::fd::AsFd::as_fd(&j.fd))
            .is_ok_and(|st| (st.st_dev, st.st_ino) == (ours.dev(), ours.ino()));
        if same {
            return Err(format!(
                "the uts namespace {} is the runtime's own: setting it would rename the host",
                j.path.display()
            ));
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
fn has_limits(r: Option<&LinuxResources>) -> bool {
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

/// Stage 2: the container's directory appears (atomically, with its
/// intent: status `creating` and the cgroup about to be made, so that a
/// create killed at any point leaves something `delete --force` removes
/// whole), ward's additions go into the spec, and the cgroup is made with
/// its limits. On failure nothing is left.
pub fn materialize(store: &Store, v: &mut Validated, opts: &CreateOptions) -> Result<Materialized> {
    let st = State {
        oci_version: v.bundle.version(),
        id: v.id.clone(),
        status: Status::Creating,
        pid: 0,
        bundle: v.bundle.dir.clone(),
        annotations: v.bundle.spec.annotations().clone().unwrap_or_default(),
        rootfs: v.bundle.rootfs.clone(),
        created: state::now_rfc3339(),
        owner: state::owner_name(),
        init_start_time: 0,
        init_exe: state::own_exe(),
        cgroup: (!opts.no_cgroup).then(|| v.cgroup.clone()),
        resources: v.resources().cloned(),
        hooks: v.bundle.spec.hooks().clone(),
        notify_socket: None,
        host_mounts: Vec::new(),
        net_devices: None,
        intel_rdt: None,
    };
    let dir = store.create(&v.id, &st)?;
    crate::fault::point("create:dir");
    let mut m = Materialized { dir, state: st };
    match m.fill(v, opts) {
        Ok(()) => Ok(m),
        Err(e) => {
            m.unmake(v, &e);
            Err(e)
        }
    }
}

impl Materialized {
    fn fill(&mut self, v: &mut Validated, opts: &CreateOptions) -> Result<()> {
        let pass = notify::setup_spec(&self.dir.path, &mut v.bundle.spec, opts)?;
        self.state.notify_socket = pass.notify;
        v.listen_fds = pass.listen_fds;
        if let Some(g) = &v.intel_rdt {
            // Recorded before it is made: a killed create leaves a group
            // that delete finds.
            self.state.intel_rdt = Some(g.clone());
            self.dir.save_recovery(&(&self.state).into())?;
            g.make()?;
        }
        let Some(planned) = self.state.cgroup.take() else {
            // opts.no_cgroup: the state written says so already.
            return Ok(());
        };
        let resources = self.state.resources.as_ref();
        self.state.cgroup = match planned.create(&v.hierarchies, resources) {
            Ok(()) => Some(planned),
            // Rootless: a user who may not make cgroups gets a container
            // without one, unless it asked for limits that need it.
            Err(e) if e.is_permission() && !sys::is_root() && !has_limits(resources) => {
                crate::note(&format!(
                    "cgroups: {e}; the container runs without a cgroup of its own (rootless, no limits asked for)"
                ));
                self.dir.save(&self.state)?;
                self.dir.save_recovery(&(&self.state).into())?;
                None
            }
            Err(e) => return Err(e.into()),
        };
        crate::fault::point("create:cgroup");
        Ok(())
    }
}

/// Stage 3: init, set up and waiting for `start`; for a foreground `run`,
/// also run's end of the start pair (no start.sock is bound then: see
/// process::StartGate). Returns what init mounted on the host when the
/// container has no mount namespace of its own.
pub fn spawn(
    v: &mut Validated,
    m: &Materialized,
    opts: &CreateOptions,
) -> Result<(Spawned, Vec<HostMount>, Option<UnixStream>)> {
    let (gate, start) = if v.foreground {
        let (ours, init) = UnixStream::pair().map_err(|e| Error::sys("socketpair", e))?;
        (StartGate::Pair(init.into()), Some(ours))
    } else {
        let path = m.dir.fd_path(state::START_SOCKET);
        let l = UnixListener::bind(&path)
            .map_err(|e| Error::path("socket", m.dir.path.join(state::START_SOCKET), e))?;
        (StartGate::Listener(l.into()), None)
    };
    // The init's pid is stored as soon as it is known, before its setup:
    // from then on a killed create leaves an init that delete can find
    // (and that dies with ward until it is ready anyway). recovery.json
    // alone holds it until the final state is written: delete reads it
    // for a state still `creating` (one file written instead of two).
    let record_init = |pid: i32| -> Result<()> {
        let mut now = m.state.clone();
        now.pid = pid;
        now.init_start_time = crate::procfs::stat(pid).map_or(0, |s| s.start_time);
        m.dir.save_recovery(&(&now).into())?;
        crate::fault::point("create:cloned");
        Ok(())
    };
    let mounts_before = v.host_mntns().then(|| host_mounts::under(&v.bundle.rootfs));
    let spawned = m
        .state
        .cgroup
        .as_ref()
        // A cgroup made only once init has a pid (systemd's scope) can't be
        // cloned into.
        .filter(|c| !c.placed_after_clone())
        .map_or(Ok(None), super::open_cgroup_dir)
        .and_then(|cgroup_fd| {
            process::spawn(&InitConfig {
                id: &v.id,
                bundle: &v.bundle,
                plan: &v.plan,
                no_pivot: opts.no_pivot,
                no_new_keyring: opts.no_new_keyring,
                console: v.console.take(),
                start_gate: gate,
                preserve_fds: opts.preserve_fds + v.listen_fds,
                cgroup: m.state.cgroup.as_ref(),
                cgroup_fd,
                hierarchies: &v.hierarchies,
                seccomp: v.seccomp.as_ref(),
                record_init: &record_init,
            })
        });
    let made_on_host = |before: &Option<Vec<HostMount>>| {
        before
            .as_ref()
            .map(|b| host_mounts::new_since(b, &v.bundle.rootfs))
            .unwrap_or_default()
    };
    match spawned {
        Ok(s) => {
            crate::fault::point("create:ready");
            Ok((s, made_on_host(&mounts_before), start))
        }
        Err(e) => {
            // What init mounted on the host (no mount namespace of its own)
            // goes with it; the rest is unmade from the state.
            host_mounts::unmount(&made_on_host(&mounts_before));
            Err(e)
        }
    }
}

/// After stage 3, before `start`: init in linux.intelRdt's group(s).
pub fn place_intel_rdt(m: &Materialized, pid: i32) -> Result<()> {
    m.state.intel_rdt.as_ref().map_or(Ok(()), |g| g.place(pid))
}

/// After stage 3: linux.netDevices moved into init's network namespace,
/// which is pinned in the state directory (recorded first, so that a
/// delete after a killed create moves them back).
pub fn move_devices(v: &Validated, m: &mut Materialized, pid: i32) -> Result<()> {
    if v.net_devices.is_empty() {
        return Ok(());
    }
    let nd = state::NetDevices {
        pin: m.dir.path.join("netns"),
        devices: v.net_devices.clone(),
    };
    m.state.net_devices = Some(nd.clone());
    let mut now = m.state.clone();
    now.pid = pid;
    now.init_start_time = crate::procfs::stat(pid).map_or(0, |s| s.start_time);
    m.dir.save_recovery(&(&now).into())?;
    crate::netdev::move_in(&nd.devices, pid, &nd.pin).inspect_err(|_| {
        m.state.net_devices = None;
    })
}

/// Stage 4: the spec kept in the container's directory, then the state
/// `created` with init's pid (the commit point: from here on the
/// container is whole), then the pid file.
pub fn record(
    v: &Validated,
    m: &mut Materialized,
    init: Spawned,
    host_mounts: Vec<HostMount>,
    pid_file: Option<&std::path::Path>,
) -> Result<()> {
    m.dir.save_spec(&v.bundle.spec)?;
    m.state.status = Status::Created;
    m.state.pid = init.pid;
    m.state.init_start_time = init.start_time;
    m.state.host_mounts = host_mounts;
    m.dir.save(&m.state)?;
    crate::fault::point("create:saved");
    if let Some(p) = pid_file {
        state::write_atomic(&super::absolute(p), init.pid.to_string().as_bytes(), 0o644)?;
    }
    Ok(())
}

/// The result of a whole create: the state, whether the process has a
/// terminal, and a foreground `run`'s end of the start pair.
pub(crate) struct Created {
    pub state: State,
    pub terminal: bool,
    pub start: Option<UnixStream>,
}

pub fn create(store: &Store, id: &str, opts: &CreateOptions) -> Result<State> {
    create_with(store, id, opts, None).map(|c| c.state)
}

/// The four stages. On failure nothing is left, and nothing that was there
/// before (another container of that ID) is touched.
pub(crate) fn create_with(
    store: &Store,
    id: &str,
    opts: &CreateOptions,
    handoff: Option<OwnedFd>,
) -> Result<Created> {
    super::single_threaded("create")?;
    let mut v = validate(id, opts, handoff)?;
    let mut m = materialize(store, &mut v, opts)?;
    let made = spawn(&mut v, &m, opts).and_then(|(init, host_mounts, start)| {
        place_intel_rdt(&m, init.pid)?;
        move_devices(&v, &mut m, init.pid)?;
        record(&v, &mut m, init, host_mounts, opts.pid_file.as_deref()).map(|()| start)
    });
    match made {
        Ok(start) => Ok(Created {
            state: m.state,
            terminal: v.terminal,
            start,
        }),
        Err(e) => {
            m.unmake(&v, &e);
            Err(e)
        }
    }
}
