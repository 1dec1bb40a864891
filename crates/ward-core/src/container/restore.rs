//! `restore`: a container brought back from CRIU images as a real ward
//! container (its state, its own cgroup, its hooks), with runc's flags.
//! The stages are create's (container/create.rs) with CRIU in place of the
//! clone: 1 validate everything, 2 make the state directory and the
//! cgroup, CRIU restores the processes into them, 4 record the init (and
//! keep the spec). A restore that fails leaves nothing: no state entry,
//! cgroup, process or mount.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::LinuxNamespaceType;

use super::checkpoint::{open_dir, require_root, usable_criu};
use super::create::{self, CreateOptions, Materialized, Validated};
use super::criu_desc::{self, Meta, Side};
use super::reap;
use super::start::poststart_failure_is_fatal;
use crate::cgroups::{Cgroup, Hierarchies};
use crate::config::Bundle;
use crate::console::{self, Proxy};
use crate::criu::rpc::{CgMode, CgroupRoot, ExtMountMap, InheritFd, JoinNamespace, ReqType};
use crate::criu::{self, Call, Need, Spawn, Started};
use crate::error::{Errno, Error, Result};
use crate::foreground::{self, Signals};
use crate::hooks::Kind;
use crate::process::Spawned;
use crate::state::{ContainerDir, State, Status, Store};
use crate::sys;

/// The options of `restore`, as runc names them.
#[derive(Debug, Default, Clone)]
pub struct RestoreOptions {
    /// --image-path (runc's default: ./checkpoint).
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub no_subreaper: bool,
    pub no_pivot: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub manage_cgroups_mode: Option<CgMode>,
    pub empty_ns: Vec<String>,
    pub auto_dedup: bool,
    pub lazy_pages: bool,
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
    /// With --lazy-pages: the dump serving the memory (ADDRESS:PORT); ward
    /// starts CRIU's lazy-pages daemon against it.
    pub page_server: Option<String>,
    /// The global --criu.
    pub criu: Option<PathBuf>,
    /// The global --systemd-cgroup: the restored container's cgroup is a
    /// transient systemd scope, as create makes it.
    pub systemd_cgroup: bool,
}

/// The init's pid and start time in recovery.json, as soon as CRIU names
/// it (before the final record): a restore killed after that leaves an init
/// that `delete --force` finds.
fn record_recovery(dir: &ContainerDir, st: &State, pid: i32) -> Result<()> {
    let mut now = st.clone();
    now.pid = pid;
    now.init_start_time = crate::procfs::stat(pid).map_or(0, |s| s.start_time);
    dir.save_recovery(&(&now).into())
}

/// The bytes of memory in the images (what the restore has to load).
fn pages_size(image: &Path) -> u64 {
    std::fs::read_dir(image)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("pages-"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The mount points of the spec's mounts made in the rootfs, as create
/// makes them: a rootfs that never ran (a checkpoint imported elsewhere)
/// lacks them, and CRIU mounts onto what it finds. Not below a tmpfs of the
/// spec, whose content CRIU restores itself. Resolved inside the rootfs,
/// never following a symlink out of it.
fn prepare_mountpoints(bundle: &Bundle) -> Result<()> {
    use crate::rootfs::options::MountOptions;
    use crate::rootfs::resolve::{Kind, Root};
    let mounts: Vec<_> = bundle.spec.mounts().iter().flatten().collect();
    let tmpfs: Vec<&Path> = mounts
        .iter()
        .filter(|m| m.typ().as_deref() == Some("tmpfs"))
        .map(|m| m.destination().as_path())
        .collect();
    let root = Root::open(&bundle.rootfs)?;
    for m in &mounts {
        let dest = m.destination();
        if tmpfs.iter().any(|t| dest != *t && dest.starts_with(t)) {
            continue;
        }
        let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
        let kind = if opts.bind || m.typ().as_deref() == Some("bind") {
            let src = m.source().as_ref().map(|s| {
                if s.is_absolute() {
                    s.clone()
                } else {
                    bundle.dir.join(s)
                }
            });
            match src.and_then(|s| std::fs::metadata(s).ok()) {
                Some(md) if !md.is_dir() => Kind::File,
                _ => Kind::Dir,
            }
        } else {
            Kind::Dir
        };
        root.ensure(dest, kind)?;
    }
    Ok(())
}

/// CRIU puts the restore's own stdio in place of an outside file only if
/// it is of the same type and mode, and, for a file that was open for plain
/// writing, of the same size (unchanged): said before anything starts,
/// with the way out.
fn check_stdio(meta: &Meta) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    const NAMES: [&str; 3] = ["stdin", "stdout", "stderr"];
    for s in &meta.stdio {
        let name = NAMES[s.fd as usize % 3];
        let now = std::fs::metadata(format!("/proc/self/fd/{}", s.fd)).ok();
        if let Some(mode) = s.mode {
            let have = now.as_ref().map(|m| m.mode());
            if have != Some(mode) {
                let have = have.map_or("closed".to_string(), |m| format!("mode {m:o}"));
                return Err(Error::Other(format!(
                    "{name}: the container's was {} (mode {mode:o}) at the checkpoint, and CRIU puts back only a file of the same type and mode in its place (restore's {name} is {have}): give restore such a file (e.g. >> a new file), or start containers with stdio to pipes",
                    s.link
                )));
            }
        }
        let Some(size) = s.size else { continue };
        if now
            .as_ref()
            .is_some_and(|m| m.is_file() && m.size() == size)
        {
            continue;
        }
        return Err(Error::Other(format!(
            "{name}: the container's was {}, {size} bytes and not opened for appending, at the checkpoint; CRIU restores such a file only unchanged, so give restore that same file (>> {}), or start containers with stdio to a pipe or to a file opened with >>",
            s.link, s.link
        )));
    }
    Ok(())
}

/// The container's cgroup as CRIU's cgroup roots: each hierarchy's
/// directory relative to its mount, so that the restored tasks land in
/// this container's cgroup and not in the checkpointed one's (which runc
/// gets wrong on cgroup v2).
fn cgroup_roots(cg: &Cgroup, hier: &Hierarchies) -> Vec<CgroupRoot> {
    let mut v = Vec::new();
    let rel = |dir: &Path, mount: &Path| {
        dir.strip_prefix(mount)
            .ok()
            .map(|r| format!("/{}", r.to_string_lossy()))
    };
    for (ctrl, mount) in &hier.v1 {
        if let Some(p) = cg.v1.get(ctrl).and_then(|d| rel(d, mount)) {
            v.push(CgroupRoot {
                ctrl: Some(ctrl.clone()),
                path: p,
            });
        }
    }
    if let (Some(d), Some(m)) = (&cg.v2, &hier.v2) {
        if let Some(p) = rel(d, m) {
            // No controller: the root for every controller not named above.
            v.push(CgroupRoot {
                ctrl: None,
                path: p,
            });
        }
    }
    v
}

/// The rootfs bound at `<state dir>/criu-root`, which CRIU needs as a mount
/// point whose parent isn't overmounted. The bind lives in a mount
/// namespace of ward's own, so a restore killed at any point leaks no
/// mount, and a later delete can never walk into the rootfs through it.
struct CriuRoot {
    path: PathBuf,
}

/// Moves ward into a mount namespace of its own (ward is single-threaded
/// here), before CRIU starts, so that CRIU, ward's child, is in it too
/// and sees the [`CriuRoot`] bind.
fn own_mount_namespace() -> Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| Error::sys("unshare a mount namespace for the restore", e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::sys("make / a slave in ward's mount namespace", e))
}

impl CriuRoot {
    /// In ward's own mount namespace ([`own_mount_namespace`]). With
    /// `readonly` (root.readonly) the bind is made read-only: CRIU makes
    /// the container's root mount of it as it is, and a root that create
    /// made read-only came back writable before.
    fn bind(dir: &Path, rootfs: &Path, readonly: bool) -> Result<CriuRoot> {
        let path = dir.join("criu-root");
        std::fs::create_dir(&path).map_err(|e| Error::path("mkdir", &path, e))?;
        let root = CriuRoot { path };
        mount(
            Some(rootfs),
            &root.path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| Error::path("bind the rootfs at", &root.path, Errno::from(e)))?;
        if readonly {
            mount(
                None::<&str>,
                &root.path,
                None::<&str>,
                MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(|e| {
                Error::path(
                    "make read-only the rootfs bound at",
                    &root.path,
                    Errno::from(e),
                )
            })?;
        }
        Ok(root)
    }
}

/// Fresh tmpfs mounts in place of the ones the dump found empty
/// ([`criu_desc::FreshTmpfs`]), made at `<state dir>/criu-tmpfs/N` in
/// ward's own mount namespace for CRIU to bind into the container. The
/// container's binds keep them; ward's are gone with its namespace.
struct FreshMounts {
    dir: PathBuf,
    made: usize,
}

impl FreshMounts {
    fn mount(
        state_dir: &Path,
        list: &[criu_desc::FreshTmpfs],
    ) -> Result<(FreshMounts, Vec<ExtMountMap>)> {
        let mut f = FreshMounts {
            dir: state_dir.join("criu-tmpfs"),
            made: 0,
        };
        let mut ext = Vec::new();
        for (i, t) in list.iter().enumerate() {
            if t.flags & !criu_desc::TMPFS_FLAGS != 0 {
                return Err(Error::Other(format!(
                    "{}: freshTmpfs {}: flags {:#x} are not a tmpfs mount's",
                    criu_desc::META_FILE,
                    t.destination,
                    t.flags
                )));
            }
            let at = f.dir.join(i.to_string());
            std::fs::create_dir_all(&at).map_err(|e| Error::path("mkdir", &at, e))?;
            mount(
                Some("tmpfs"),
                &at,
                Some("tmpfs"),
                MsFlags::from_bits_truncate(t.flags as libc::c_ulong),
                Some(t.data.as_str()).filter(|d| !d.is_empty()),
            )
            .map_err(|e| {
                Error::Other(format!(
                    "mount a tmpfs ({}) for {} at {}: {}",
                    t.data,
                    t.destination,
                    at.display(),
                    Errno::from(e)
                ))
            })?;
            f.made = i + 1;
            ext.push(criu_desc::ext(&t.destination, at.to_string_lossy()));
        }
        Ok((f, ext))
    }
}

impl Drop for FreshMounts {
    fn drop(&mut self) {
        for i in 0..self.made {
            let _ = umount2(&self.dir.join(i.to_string()), MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for CriuRoot {
    fn drop(&mut self) {
        let _ = umount2(&self.path, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// CRIU's lazy-pages daemon, started for a lazy restore: it serves the
/// restored process's page faults from the dump's page server (or from
/// the local images). It outlives ward's restore until every page has
/// moved; a failed restore kills it.
struct LazyDaemon {
    child: Option<std::process::Child>,
}

impl LazyDaemon {
    fn start(
        criu: &Path,
        image: &Path,
        work: &Path,
        ps: Option<&(String, i32)>,
    ) -> Result<LazyDaemon> {
        let sock = work.join("lazy-pages.socket");
        let _ = std::fs::remove_file(&sock);
        let mut cmd = std::process::Command::new(criu);
        cmd.arg("lazy-pages")
            .arg("--images-dir")
            .arg(image)
            .arg("--work-dir")
            .arg(work)
            .args(["-o", "lazy-pages.log", "-v4"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some((addr, port)) = ps {
            cmd.arg("--page-server")
                .arg("--address")
                .arg(addr)
                .arg("--port")
                .arg(port.to_string());
        }
        let child = cmd
            .spawn()
            .map_err(|e| Error::sys(format!("start {} lazy-pages", criu.display()), e))?;
        let mut d = LazyDaemon { child: Some(child) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !sock.exists() {
            let exited = d.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || std::time::Instant::now() >= deadline {
                let log = work.join("lazy-pages.log");
                let why = criu::first_error(&log).unwrap_or_else(|| "no socket after 30 s".into());
                return Err(Error::Other(format!(
                    "criu lazy-pages: {why} (criu's log: {})",
                    log.display()
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Ok(d)
    }

    /// The restore succeeded: the daemon goes on alone.
    fn release(mut self) {
        self.child = None;
    }
}

impl Drop for LazyDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn restore(store: &Store, id: &str, o: &RestoreOptions) -> Result<i32> {
    crate::id::validate_id(id)?;
    require_root("restore")?;
    // Everything is checked before anything is made.
    if store.container_path(id).exists() {
        return Err(Error::Exists(store.container_path(id)));
    }
    let image = std::path::absolute(&o.image_path).unwrap_or_else(|_| o.image_path.clone());
    if !image.is_dir() {
        return Err(Error::Other(format!(
            "--image-path {}: no such directory",
            image.display()
        )));
    }
    let meta = Meta::read(&image)?;
    if meta.kind != "dump" {
        return Err(Error::Other(format!(
            "{}: holds a {} (memory only); restore from the checkpoint made after it",
            image.display(),
            meta.kind
        )));
    }
    if !image.join("inventory.img").is_file() {
        return Err(Error::Other(format!(
            "{}: not a complete checkpoint (inventory.img is missing)",
            image.display()
        )));
    }
    check_stdio(&meta)?;
    // Stage 1, create's: the bundle and linux.resources checked, nothing
    // made. The console is restore's own (CRIU hands over the pty master).
    let mut v = create::validate_spec(
        id,
        &CreateOptions {
            bundle: o.bundle.clone(),
            systemd_cgroup: o.systemd_cgroup,
            ..Default::default()
        },
    )?;
    if !v.net_devices.is_empty() {
        // CRIU would restore the processes in a new namespace without the
        // devices (they went back to the host at the checkpoint's delete).
        return Err(Error::invalid(
            "linux.netDevices",
            "restore does not move devices into a restored container",
        ));
    }
    if v.intel_rdt.is_some() {
        // Placing the restored init alone would leave its children out.
        return Err(Error::invalid(
            "linux.intelRdt",
            "restore does not place a restored container in a resctrl group",
        ));
    }
    let spec = &v.bundle.spec;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal && o.detach && o.console_socket.is_none() {
        return Err(Error::Other(
            "process.terminal: cannot allocate tty if ward will detach without setting console socket"
                .into(),
        ));
    }
    if o.console_socket.is_some() && !terminal {
        return Err(Error::Other(
            "--console-socket: cannot use console socket if the process has no terminal".into(),
        ));
    }
    if !criu_desc::has_own_mntns(spec) {
        return Err(Error::Other(
            "a container without a mount namespace of its own can't be restored".into(),
        ));
    }
    let joined = criu_desc::joined_namespaces(spec)?;
    let mut empty_ns = criu_desc::empty_ns_mask(&o.empty_ns)?;
    // A namespace dumped empty comes back as a fresh one, `lo` brought up
    // in it when it was up (and --empty-ns network not asked for).
    let lo_up = meta.network.as_deref() == Some("fresh")
        && meta.lo_up
        && empty_ns & libc::CLONE_NEWNET as u32 == 0;
    if matches!(meta.network.as_deref(), Some("fresh" | "empty")) {
        empty_ns |= libc::CLONE_NEWNET as u32;
    }
    let ps = o
        .page_server
        .as_deref()
        .map(criu_desc::page_server)
        .transpose()?;
    if ps.is_some() && !o.lazy_pages {
        return Err(Error::Other(
            "--page-server: only with --lazy-pages (the dump that serves the memory)".into(),
        ));
    }
    let mut needs = Vec::new();
    if o.lazy_pages {
        needs.push(Need::LazyPages);
    }
    if o.lsm_profile.is_some() {
        needs.push(Need::Since("--lsm-profile", 31600));
    }
    if o.lsm_mount_context.is_some() {
        needs.push(Need::Since("--lsm-mount-context", 31600));
    }
    let c = usable_criu(store, o.criu.as_deref(), &needs)?;
    let console = o
        .console_socket
        .as_ref()
        .map(|p| UnixStream::connect(p).map_err(|e| Error::path("connect to console socket", p, e)))
        .transpose()?;
    // Namespaces joined by path are opened now: a missing one fails here.
    let mut ns_files = Vec::new();
    for (t, path) in &joined {
        let f = std::fs::File::open(path).map_err(|e| Error::path("open namespace", path, e))?;
        ns_files.push((*t, path.clone(), f));
    }
    let work = o
        .work_path
        .as_ref()
        .map(|w| std::path::absolute(w).unwrap_or_else(|_| w.clone()));
    let log = work.as_deref().unwrap_or(&image).join("restore.log");
    let signals = if o.detach {
        None
    } else {
        Some(Signals::block()?)
    };
    // CRIU starts now and starts up while ward makes the container's
    // state, cgroup and root (it does nothing until the request comes).
    own_mount_namespace()?;
    let (worker, handed) = start_criu(
        &c.path,
        &meta,
        ns_files,
        meta.no_new_privs && c.info.version < criu::NNP_VERSION,
    )?;

    // Stage 2: the state directory and the cgroup.
    let mut m = create::materialize(
        store,
        &mut v,
        &CreateOptions {
            bundle: o.bundle.clone(),
            systemd_cgroup: o.systemd_cgroup,
            ..Default::default()
        },
    )?;
    crate::fault::point("restore:dir");
    let mut master = None;
    let res = restore_in(
        &mut m,
        &v,
        o,
        &meta.fresh_tmpfs,
        &c.path,
        worker,
        handed,
        &image,
        work.as_deref(),
        &log,
        empty_ns,
        lo_up,
        ps.as_ref(),
        console.as_ref(),
        &mut master,
    );
    if let Err(e) = res {
        // What the state says was made is unmade: every process in the
        // new cgroup (CRIU ran there, so all it restored is there too),
        // the cgroup, the directory; poststop after a failed hook.
        m.unmake(&v, &e);
        reap_children();
        return Err(e);
    }
    let Materialized { state: st, dir } = m;
    drop(dir);
    let Some(signals) = signals else {
        return Ok(0);
    };
    // The foreground, as `run`: the restored init is ward's child (CRIU
    // restored it as a sibling of itself).
    let res = wait_foreground(&st, master, &signals);
    drop(signals);
    let code = res?;
    super::delete(store, id, true)?;
    Ok(code)
}

fn wait_foreground(st: &State, master: Option<OwnedFd>, signals: &Signals) -> Result<i32> {
    let pidfd =
        sys::pidfd_open(st.pid).map_err(|e| Error::sys(format!("pidfd_open {}", st.pid), e))?;
    let mut tty = master.map(Proxy::attach).transpose()?;
    foreground::wait(&pidfd, signals, tty.as_mut())?;
    drop(tty);
    reap(st.pid)
}

/// Reaps children CRIU left to ward (a restored init killed in the
/// cleanup is ward's child: CRIU restores it as its own sibling).
fn reap_children() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// What CRIU was handed at its start, as the request must name it.
struct Handed {
    inherit_fd: Vec<InheritFd>,
    join_ns: Vec<JoinNamespace>,
}

/// Starts CRIU for the restore with the fds it needs: the network and pid
/// namespaces joined by path, and the caller's stdio for the pipes and
/// outside files the container's stdio was (copies: CRIU's own stdio is
/// /dev/null by the time its fds are put in place), one per key. Other
/// namespaces joined by path are named by their paths.
fn start_criu(
    criu: &Path,
    meta: &Meta,
    ns_files: Vec<(LinuxNamespaceType, PathBuf, std::fs::File)>,
    no_new_privs: bool,
) -> Result<(Started, Handed)> {
    let mut stdio_fds: Vec<(String, OwnedFd)> = Vec::new();
    for s in &meta.stdio {
        let Some(key) = &s.key else { continue };
        let Some(fd) = crate::sys::stdio_fd(s.fd) else {
            continue;
        };
        if !crate::sys::fd_is_open(s.fd) || stdio_fds.iter().any(|(k, _)| k == key) {
            continue;
        }
        let fd = fd
            .try_clone_to_owned()
            .map_err(|e| Error::sys(format!("dup fd {}", s.fd), e))?;
        stdio_fds.push((key.clone(), fd));
    }
    let mut handed = Handed {
        inherit_fd: Vec::new(),
        join_ns: Vec::new(),
    };
    let mut fds: Vec<BorrowedFd<'_>> = Vec::new();
    for (t, path, f) in &ns_files {
        match t {
            LinuxNamespaceType::Network | LinuxNamespaceType::Pid => {
                handed.inherit_fd.push(InheritFd {
                    key: criu_desc::ns_key(*t).into(),
                    fd: criu::fd_number(fds.len()),
                });
                fds.push(f.as_fd());
            }
            _ => handed.join_ns.push(JoinNamespace {
                ns: crate::namespaces::proc_name(*t).into(),
                ns_file: path.to_string_lossy().into_owned(),
                extra_opt: None,
            }),
        }
    }
    for (key, fd) in &stdio_fds {
        handed.inherit_fd.push(InheritFd {
            key: key.clone(),
            fd: criu::fd_number(fds.len()),
        });
        fds.push(fd.as_fd());
    }
    let worker = criu::start(
        criu,
        Spawn {
            fds,
            op: "restore",
            no_new_privs,
        },
    )?;
    Ok((worker, handed))
}

#[allow(clippy::too_many_arguments)]
fn restore_in(
    m: &mut Materialized,
    v: &Validated,
    o: &RestoreOptions,
    fresh_tmpfs: &[criu_desc::FreshTmpfs],
    criu_path: &Path,
    worker: Started,
    handed: Handed,
    image: &Path,
    work_path: Option<&Path>,
    log: &Path,
    empty_ns: u32,
    lo_up: bool,
    ps: Option<&(String, i32)>,
    console: Option<&UnixStream>,
    master: &mut Option<OwnedFd>,
) -> Result<()> {
    let hier = &v.hierarchies;
    let bundle = &v.bundle;
    let cg = m.state.cgroup.clone();
    prepare_mountpoints(bundle)?;
    let readonly = bundle
        .spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    let root = CriuRoot::bind(&m.dir.path, &bundle.rootfs, readonly)?;
    let (fresh_mounts, fresh_ext) = FreshMounts::mount(&m.dir.path, fresh_tmpfs)?;
    // Opened in ward's new mount namespace: CRIU works in the directories
    // (a cgroup yard, the lazy-pages socket), and a mount on a path of
    // another namespace is refused.
    let image_dir = std::fs::File::open(image).map_err(|e| Error::path("open", image, e))?;
    let work_dir = work_path.map(|w| open_dir(w, "--work-path")).transpose()?;
    let work = work_path.unwrap_or(image);
    let lazy = if o.lazy_pages && !work.join("lazy-pages.socket").exists() {
        Some(LazyDaemon::start(criu_path, image, work, ps)?)
    } else {
        None
    };

    let mut opts = crate::criu::rpc::Opts::new();
    opts.images_dir_fd = image_dir.as_raw_fd();
    opts.work_dir_fd = work_dir.as_ref().map(|d| d.as_raw_fd());
    opts.log_file = Some("restore.log".into());
    opts.log_level = Some(4);
    opts.root = Some(root.path.to_string_lossy().into_owned());
    opts.rst_sibling = Some(true);
    opts.evasive_devices = Some(true);
    opts.notify_scripts = Some(true);
    opts.manage_cgroups = Some(true);
    opts.manage_cgroups_mode = o.manage_cgroups_mode.map(|m| m as i32);
    opts.shell_job = Some(o.shell_job);
    opts.ext_unix_sk = Some(o.ext_unix_sk);
    opts.tcp_established = Some(o.tcp_established);
    opts.file_locks = Some(o.file_locks);
    opts.auto_dedup = Some(o.auto_dedup);
    opts.lazy_pages = Some(o.lazy_pages);
    opts.orphan_pts_master = Some(true);
    opts.empty_ns = (empty_ns != 0).then_some(empty_ns);
    opts.lsm_profile = o.lsm_profile.clone();
    opts.lsm_mount_context = o.lsm_mount_context.clone();
    opts.ext_mnt = criu_desc::external_mounts(
        &bundle.spec,
        &bundle.dir,
        Side::Restore {
            cgroup: cg.as_ref(),
        },
        hier,
    );
    opts.ext_mnt.extend(fresh_ext);
    if let Some(cg) = &cg {
        opts.cg_root = cgroup_roots(cg, hier);
    }
    opts.inherit_fd = handed.inherit_fd;
    opts.join_ns = handed.join_ns;

    let mut timeout = criu::timeout_for(pages_size(image));
    if o.lazy_pages {
        timeout += std::time::Duration::from_secs(600);
    }
    let hooks = m.state.hooks.clone();
    let base = m.state.clone();
    let dir = &m.dir;
    let mut restored_pid = 0;
    let mut failed_record: Option<Error> = None;
    let call = worker.call(
        Call {
            reqs: vec![criu::request(ReqType::Restore, opts)],
            tolerate_failure: false,
            timeout,
            log: Some(log.to_path_buf()),
        },
        // CRIU works from the new cgroup: what it forks is born there.
        // With the systemd driver that cgroup is the scope systemd makes
        // now, with CRIU as its first process (runc's way too).
        |pid| match &cg {
            Some(cg) => {
                if cg.placed_after_clone() {
                    let r = bundle
                        .spec
                        .linux()
                        .as_ref()
                        .and_then(|l| l.resources().as_ref());
                    cg.place(hier, pid, r).map_err(|e| e.to_string())?;
                } else {
                    cg.add_process(pid).map_err(|e| e.to_string())?;
                }
                crate::fault::point("restore:criu");
                Ok(())
            }
            None => Ok(()),
        },
        |n, fd| {
            let pid = n.pid.unwrap_or(0);
            match n.script.as_deref() {
                Some("setup-namespaces") => {
                    if lo_up {
                        super::netns_probe::bring_lo_up(pid).map_err(|e| e.to_string())?;
                    }
                    // As runc: prestart and createRuntime hooks once the
                    // namespaces exist, with the restored init's pid.
                    if let Some(h) = &hooks {
                        let mut s = base.clone();
                        s.pid = pid;
                        let json = s.spec_json(Status::Created);
                        crate::hooks::run(Kind::Prestart, Kind::Prestart.list(h), &json)
                            .and_then(|()| {
                                crate::hooks::run(
                                    Kind::CreateRuntime,
                                    Kind::CreateRuntime.list(h),
                                    &json,
                                )
                            })
                            .map_err(|e| e.to_string())?;
                    }
                }
                Some("post-restore") => {
                    restored_pid = pid;
                    if let Err(e) = record_recovery(dir, &base, pid) {
                        let why = e.to_string();
                        failed_record = Some(e);
                        return Err(why);
                    }
                }
                Some("orphan-pts-master") => {
                    let m = fd.ok_or("no pty master came with the notification")?;
                    match console {
                        Some(sock) => console::send_fd(sock.as_raw_fd(), "console", m.as_raw_fd())
                            .map_err(|e| e.to_string())?,
                        None => *master = Some(m),
                    }
                }
                _ => {}
            }
            Ok(())
        },
    );
    drop(fresh_mounts);
    drop(root);
    let answer = match call {
        Ok(a) => a,
        Err(e) => {
            if restored_pid > 0 {
                m.state.pid = restored_pid;
                m.state.init_start_time =
                    crate::procfs::stat(restored_pid).map_or(0, |s| s.start_time);
            }
            return Err(failed_record.unwrap_or(e.into()));
        }
    };
    let pid = answer
        .last()
        .restore
        .as_ref()
        .map(|r| r.pid)
        .filter(|p| *p > 0)
        .unwrap_or(restored_pid);
    if pid <= 0 {
        return Err(Error::Other("criu restore: no pid in its answer".into()));
    }
    // Stage 4: the spec kept, the state with the restored init, the pid
    // file.
    let init = Spawned {
        pid,
        start_time: crate::procfs::stat(pid).map_or(0, |s| s.start_time),
    };
    create::record(v, m, init, Vec::new(), o.pid_file.as_deref())?;
    crate::fault::point("restore:saved");
    if let Some(d) = lazy {
        d.release();
    }
    // The process runs again: poststart, with start's rules.
    let st = &m.state;
    if let Some(h) = &st.hooks {
        let json = st.spec_json(Status::Running);
        if !poststart_failure_is_fatal(&st.oci_version) {
            for e in crate::hooks::run_all(Kind::Poststart, Kind::Poststart.list(h), &json) {
                crate::warn(&e.to_string());
            }
        } else {
            crate::hooks::run(Kind::Poststart, Kind::Poststart.list(h), &json)?;
        }
    }
    Ok(())
}
