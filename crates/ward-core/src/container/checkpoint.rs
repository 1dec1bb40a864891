//! `checkpoint`: a running container frozen to a directory of CRIU images,
//! with runc's flags and meaning. Everything that can be checked is
//! checked before CRIU starts (the container's status, criu, the kernel,
//! each flag); a checkpoint that fails leaves the container running, with
//! its state unchanged and nothing in the images directory but the logs.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::criu_desc::{self, Meta, Side};
use super::netns_probe::{self, Verdict};
use super::Container;
use crate::cgroups::{Cgroup, Hierarchies};
use crate::criu::rpc::{CgMode, ReqType};
use crate::criu::{self, Call, Criu, CriuError, Need, Spawn};
use crate::error::{Error, Result};
use crate::state::{Status, Store};

/// The options of `checkpoint`, as runc names them.
#[derive(Debug, Default, Clone)]
pub struct CheckpointOptions {
    /// --image-path (runc's default: ./checkpoint).
    pub image_path: PathBuf,
    /// --work-path: where CRIU's log goes (default: the image path).
    pub work_path: Option<PathBuf>,
    /// --parent-path: the previous (pre-)dump, relative to the image path.
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub lazy_pages: bool,
    /// --status-fd: gets a NUL byte once a lazy dump serves its pages.
    pub status_fd: Option<i32>,
    /// --page-server ADDRESS:PORT.
    pub page_server: Option<String>,
    pub file_locks: bool,
    pub pre_dump: bool,
    pub manage_cgroups_mode: Option<CgMode>,
    pub empty_ns: Vec<String>,
    pub auto_dedup: bool,
    /// The global --criu: the criu binary.
    pub criu: Option<PathBuf>,
}

/// runc's --manage-cgroups-mode values (and `ignore`).
pub fn cgroups_mode(v: &str) -> Result<CgMode> {
    Ok(match v {
        "soft" => CgMode::Soft,
        "full" => CgMode::Full,
        "strict" => CgMode::Strict,
        "ignore" => CgMode::Ignore,
        _ => {
            return Err(Error::Other(format!(
                "--manage-cgroups-mode {v:?}: not one of soft, full, strict, ignore"
            )))
        }
    })
}

/// criu runs as root only here: Debian's criu 3.17 has no unprivileged
/// mode (3.18 added one, with CAP_CHECKPOINT_RESTORE, which ward doesn't
/// drive yet).
pub(super) fn require_root(op: &str) -> Result<()> {
    if crate::sys::is_root() {
        return Ok(());
    }
    Err(Error::Other(format!(
        "{op} needs root: criu 3.17 has no unprivileged mode (criu 3.18's --unprivileged, with CAP_CHECKPOINT_RESTORE on the criu binary, is not driven by ward yet)"
    )))
}

/// Finds criu and checks that it works here, with what the request needs.
/// The probe's answers are cached in the store's root.
pub(super) fn usable_criu(store: &Store, explicit: Option<&Path>, needs: &[Need]) -> Result<Criu> {
    std::fs::create_dir_all(&store.root).map_err(|e| Error::path("mkdir", &store.root, e))?;
    let c = Criu::probe(
        explicit,
        Some(&store.root.join(".criu-check.json")),
        &store.root,
    )?;
    c.usable()?;
    for n in needs {
        c.needs(*n)?;
    }
    Ok(c)
}

/// Makes `dir` (and its parents) if needed, and opens it.
pub(super) fn open_dir(dir: &Path, what: &str) -> Result<std::fs::File> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .create(dir)
        .map_err(|e| {
            Error::Other(format!(
                "{what} {}: {}",
                dir.display(),
                crate::error::Errno::from(e)
            ))
        })?;
    std::fs::File::open(dir).map_err(|e| Error::path("open", dir, e))
}

/// `path` with `.` and `..` taken away without looking at the disk.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// What the container's cgroup uses of memory now (the dump's size).
fn memory_of(cg: Option<&Cgroup>) -> u64 {
    let Some(cg) = cg else { return 0 };
    let read = |p: Option<PathBuf>| {
        p.and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    read(
        cg.v2
            .as_ref()
            .filter(|_| cg.v2_only)
            .map(|d| d.join("memory.current")),
    )
    .or_else(|| read(cg.v1.get("memory").map(|d| d.join("memory.usage_in_bytes"))))
    .unwrap_or(0)
}

/// The directory CRIU's freezer acts on: the v1 freezer, or the v2 cgroup.
fn freezer_dir(cg: &Cgroup) -> Option<PathBuf> {
    cg.v1
        .get("freezer")
        .cloned()
        .or_else(|| cg.v2.clone().filter(|d| d.join("cgroup.freeze").exists()))
}

/// The names in `dir` now (to remove what a failed dump added).
fn listing(dir: &Path) -> Vec<std::ffi::OsString> {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default()
}

pub fn checkpoint(store: &Store, id: &str, o: &CheckpointOptions) -> Result<()> {
    crate::id::validate_id(id)?;
    require_root("checkpoint")?;
    let ctr = Container::open(store, id)?;
    let st = &ctr.state;
    // runc refuses created and stopped containers; a paused one is dumped
    // as it is (CRIU leaves the freezer as it found it).
    match st.status {
        Status::Running | Status::Paused => {}
        s => {
            return Err(Error::Status {
                op: "checkpoint",
                status: s.to_string(),
            })
        }
    }
    let image = std::path::absolute(&o.image_path).unwrap_or_else(|_| o.image_path.clone());
    if let Some(p) = &o.parent_path {
        if p.is_absolute() {
            return Err(Error::Other(format!(
                "--parent-path {}: must be relative to --image-path",
                p.display()
            )));
        }
        // Resolved as CRIU will, from the images directory; lexically when
        // that is still to be made.
        let real = if image.is_dir() {
            image.join(p)
        } else {
            lexical(&image.join(p))
        };
        if !real.is_dir() {
            return Err(Error::Other(format!(
                "--parent-path {}: {} is not a directory",
                p.display(),
                real.display()
            )));
        }
    }
    let ps = o
        .page_server
        .as_deref()
        .map(criu_desc::page_server)
        .transpose()?;
    let mut empty_ns = criu_desc::empty_ns_mask(&o.empty_ns)?;
    if let Some(fd) = o.status_fd {
        // As runc: a valid fd, open for writing.
        let flags =
            crate::sys::fd_flags(fd).map_err(|e| Error::sys(format!("--status-fd {fd}"), e))?;
        if flags & (libc::O_WRONLY | libc::O_RDWR) == 0 {
            return Err(Error::Other(format!(
                "--status-fd {fd}: not open for writing"
            )));
        }
    }
    let mut needs = Vec::new();
    if o.pre_dump {
        needs.push(Need::MemTrack("--pre-dump"));
    }
    if o.parent_path.is_some() {
        needs.push(Need::MemTrack("--parent-path"));
    }
    if o.lazy_pages {
        needs.push(Need::LazyPages);
    }
    let spec = ctr.spec()?;
    if !criu_desc::has_own_mntns(&spec) {
        return Err(Error::Other(
            "a container without a mount namespace of its own can't be checkpointed: CRIU needs one to find its root".into(),
        ));
    }
    let joined = criu_desc::joined_namespaces(&spec)?;
    let c = usable_criu(store, o.criu.as_deref(), &needs)?;

    // Nothing above touched the system. From here, a failure must leave
    // the container as it was. CRIU starts now and starts up while ward
    // gets its request ready (the freeze and the network probe below
    // included); it does nothing until the request comes.
    let op = if o.pre_dump { "pre-dump" } else { "dump" };
    let worker = criu::start(
        &c.path,
        Spawn {
            fds: Vec::new(),
            op,
            no_new_privs: false,
        },
    )?;
    crate::fault::point("checkpoint:criu");
    let image_dir = open_dir(&image, "--image-path")?;
    let work = o
        .work_path
        .as_ref()
        .map(|w| std::path::absolute(w).unwrap_or_else(|_| w.clone()));
    let work_dir = work
        .as_deref()
        .map(|w| open_dir(w, "--work-path"))
        .transpose()?;
    let log = work.as_deref().unwrap_or(&image).join("dump.log");
    let before = listing(&image);
    let was_paused = st.status == Status::Paused;
    let hier = Hierarchies::detect()?;

    let (stdio, external_files) = criu_desc::stdio_of(st.pid);
    let mut opts = crate::criu::rpc::Opts::new();
    opts.images_dir_fd = image_dir.as_raw_fd();
    opts.work_dir_fd = work_dir.as_ref().map(|d| d.as_raw_fd());
    opts.log_file = Some("dump.log".into());
    opts.log_level = Some(4);
    opts.root = Some(st.rootfs.to_string_lossy().into_owned());
    opts.pid = Some(st.pid);
    opts.notify_scripts = Some(true);
    opts.manage_cgroups = Some(true);
    opts.manage_cgroups_mode = o.manage_cgroups_mode.map(|m| m as i32);
    opts.leave_running = Some(o.leave_running);
    opts.tcp_established = Some(o.tcp_established);
    opts.ext_unix_sk = Some(o.ext_unix_sk);
    opts.shell_job = Some(o.shell_job);
    opts.file_locks = Some(o.file_locks);
    opts.auto_dedup = Some(o.auto_dedup);
    opts.lazy_pages = Some(o.lazy_pages);
    opts.orphan_pts_master = Some(true);
    opts.freeze_cgroup = st
        .cgroup
        .as_ref()
        .and_then(freezer_dir)
        .map(|d| d.to_string_lossy().into_owned());
    opts.ps = ps.map(|(address, port)| crate::criu::rpc::PageServerInfo {
        address: Some(address),
        port: Some(port),
        pid: None,
        fd: None,
    });
    if let Some(p) = &o.parent_path {
        opts.parent_img = Some(p.to_string_lossy().into_owned());
        opts.track_mem = Some(true);
    }
    if o.pre_dump {
        opts.track_mem = Some(true);
    }
    for (t, path) in &joined {
        use oci_spec::runtime::LinuxNamespaceType as T;
        if matches!(t, T::Network | T::Pid) {
            let ino = std::fs::metadata(path)
                .map_err(|e| Error::path("stat namespace", path, e))
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))?;
            opts.external.push(format!(
                "{}[{ino}]:{}",
                crate::namespaces::proc_name(*t),
                criu_desc::ns_key(*t)
            ));
        }
    }
    if !o.pre_dump {
        opts.ext_mnt =
            criu_desc::external_mounts(&spec, &st.bundle, Side::Dump { pid: st.pid }, &hier);
        opts.external.extend(external_files);
    }
    // What ward looks at in the container (the network namespace it made,
    // its empty tmpfs mounts) is looked at frozen, so that nothing changes
    // between the look and the dump; CRIU leaves a cgroup it found frozen
    // so, and ward thaws it after.
    let probe_net =
        !o.pre_dump && criu_desc::has_own_netns(&spec) && empty_ns & libc::CLONE_NEWNET as u32 == 0;
    let look_at_tmpfs = !o.pre_dump && !criu_desc::has_userns(&spec) && st.cgroup.is_some();
    let mut froze = false;
    let frozen = match &st.cgroup {
        Some(cg) if !was_paused && (probe_net || look_at_tmpfs) => match cg.freeze(true) {
            Ok(()) => {
                froze = true;
                Ok(())
            }
            Err(e) => Err(format!("the container could not be frozen to look: {e}")),
        },
        _ => Ok(()),
    };
    // Empty tmpfs mounts: external, made fresh at restore (no tar).
    let fresh_tmpfs = match (&st.cgroup, &frozen) {
        (Some(cg), Ok(())) if look_at_tmpfs => cg
            .pids()
            .map(|procs| criu_desc::fresh_tmpfs(st.pid, &procs))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    for t in &fresh_tmpfs {
        opts.ext_mnt
            .push(criu_desc::ext(&t.destination, &t.destination));
    }
    // The network namespace ward made: dumped empty when it holds nothing
    // a fresh one doesn't (CRIU then runs no ip/iptables-save under it),
    // whole otherwise. `_fresh`: the namespace the probe compared with,
    // torn down once this function is done.
    let (network, lo_up, whole_because, _fresh) = if o.pre_dump || !criu_desc::has_own_netns(&spec)
    {
        (None, false, None, None)
    } else if !probe_net {
        (Some("empty"), false, None, None)
    } else {
        match frozen.and_then(|()| netns_probe::probe(st.pid).map_err(|e| e.to_string())) {
            Ok((Verdict::Fresh { lo_up }, fresh)) => {
                empty_ns |= libc::CLONE_NEWNET as u32;
                (Some("fresh"), lo_up, None, Some(fresh))
            }
            Ok((Verdict::Whole(why), fresh)) => (Some("whole"), false, Some(why), Some(fresh)),
            Err(why) => (Some("whole"), false, Some(why), None),
        }
    };
    opts.empty_ns = (empty_ns != 0).then_some(empty_ns);
    let meta = Meta {
        made_by: concat!("ward ", env!("CARGO_PKG_VERSION")).into(),
        kind: if o.pre_dump { "pre-dump" } else { "dump" }.into(),
        id: id.to_string(),
        bundle: st.bundle.clone(),
        rootfs: st.rootfs.clone(),
        stdio,
        terminal: spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false),
        no_new_privs: std::fs::read_to_string(format!("/proc/{}/status", st.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("NoNewPrivs:"))
                    .map(|v| v.trim() == "1")
            })
            .unwrap_or(false),
        network: network.map(String::from),
        lo_up,
        network_whole_because: whole_because,
        fresh_tmpfs,
        created: crate::state::now_rfc3339(),
    };
    let mut timeout = criu::timeout_for(memory_of(st.cgroup.as_ref()));
    if o.lazy_pages {
        // A lazy dump serves its pages until the restore has them all.
        timeout += std::time::Duration::from_secs(600);
    }
    let status_fd = o.status_fd;
    let mut status_sent = false;
    let mut meta = meta;
    let pid = st.pid;
    let res = meta.write(&image).and_then(|()| {
        let req = criu::request(
            if o.pre_dump {
                ReqType::PreDump
            } else {
                ReqType::Dump
            },
            opts,
        );
        worker
            .call(
                Call {
                    reqs: vec![req],
                    tolerate_failure: false,
                    timeout,
                    log: Some(log.clone()),
                },
                |_| Ok(()),
                |n, _| {
                    if n.script.as_deref() == Some("post-dump") {
                        // Frozen and dumped: the outside files' sizes are what
                        // CRIU recorded and will check at restore.
                        criu_desc::refresh_sizes(&mut meta.stdio, pid);
                        meta.write(&image).map_err(|e| e.to_string())?;
                    }
                    if n.script.as_deref() == Some("status-ready") {
                        if let Some(fd) = status_fd.filter(|_| !status_sent) {
                            status_sent = true;
                            // One byte, then closed, as runc does.
                            crate::sys::write_and_close_handed_fd(fd, &[0]);
                        }
                    }
                    Ok(())
                },
            )
            .map_err(Error::from)
    });
    if let Err(e) = res {
        undo(st, &image, &before, was_paused, o.tcp_established, &e);
        return Err(e);
    }
    if o.leave_running || o.pre_dump {
        if froze {
            if let Some(cg) = &st.cgroup {
                cg.freeze(false).map_err(|e| {
                    Error::Other(format!("thawing the container after the dump: {e}"))
                })?;
            }
        }
        return Ok(());
    }
    // CRIU killed the container's processes once their images were
    // written: the container is gone, as after runc's checkpoint.
    drop(ctr);
    super::delete(store, id, true)
}

/// After a failed dump: the container gets back what CRIU may have left
/// (a frozen cgroup, a network lock from a CRIU that was killed), and the
/// images directory loses everything the dump added but the logs.
fn undo(
    st: &crate::state::State,
    image: &Path,
    before: &[std::ffi::OsString],
    was_paused: bool,
    tcp: bool,
    e: &Error,
) {
    if let Some(cg) = &st.cgroup {
        if !was_paused && cg.is_frozen() {
            if let Err(e) = cg.freeze(false) {
                crate::warn(&format!(
                    "thawing the container after a failed checkpoint: {e}"
                ));
            }
        }
    }
    let killed = matches!(
        e,
        Error::Criu(CriuError::Died { .. } | CriuError::Timeout { .. })
    );
    if tcp && killed {
        unlock_network(st.pid);
    }
    for entry in listing(image) {
        if before.contains(&entry) {
            continue;
        }
        let name = entry.to_string_lossy();
        if name.ends_with(".log") {
            continue;
        }
        let p = image.join(&entry);
        let _ = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
    }
}

/// Removes the network lock a killed CRIU left in the container's network
/// namespace (its `CRIU` iptables chain, which drops every packet), by
/// running iptables-restore in that namespace.
fn unlock_network(pid: i32) {
    let script = "*filter\n:CRIU - [0:0]\n-D INPUT -j CRIU\n-D OUTPUT -j CRIU\n-X CRIU\nCOMMIT\n";
    for tool in ["iptables-restore", "ip6tables-restore"] {
        let Ok(ns) = std::fs::File::open(format!("/proc/{pid}/ns/net")) else {
            return;
        };
        let mut cmd = std::process::Command::new(tool);
        cmd.args(["-w", "--noflush"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        crate::sys::join_netns_before_exec(&mut cmd, ns);
        if let Ok(mut child) = cmd.spawn() {
            use std::io::Write;
            if let Some(mut i) = child.stdin.take() {
                let _ = i.write_all(script.as_bytes());
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(10))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
    }
}
