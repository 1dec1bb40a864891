//! The state store under --root: one directory per container holding
//! state.json (replaced atomically), the start socket while the container is
//! `created`, and an flock on the directory itself that serialises commands.
//!
//! A container directory appears under its ID only by an atomic rename, with
//! its creator already holding the lock and its first state.json (status
//! `creating`, the cgroup it is about to make) already written, so two
//! creates of one ID can't both win and no command ever sees a directory
//! without a state. recovery.json repeats what `delete --force` needs to
//! find the container's processes and cgroups (its cgroup directories, the
//! init's pid and start time): it is written only while the container is
//! made, so a damaged state.json doesn't hide them. docs/reliability.md
//! has the whole story.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Errno, Error, Result};
use crate::id::validate_id;

pub const STATE_FILE: &str = "state.json";
pub const START_SOCKET: &str = "start.sock";
pub const RECOVERY_FILE: &str = "recovery.json";
/// The spec the container was made with, as validated and with ward's own
/// additions (the notify mount, LISTEN_FDS): exec, checkpoint and restore
/// read it instead of a bundle that may have changed or gone.
pub const SPEC_FILE: &str = "config.json";
/// The prefix of a container directory being made (`.new-<pid>-<id>`).
const TMP_PREFIX: &str = ".new-";

/// What `ward state` prints, plus what ward needs to find the container again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    #[serde(default)]
    pub rootfs: PathBuf,
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub owner: String,
    /// The init's start time in clock ticks since boot (field 22 of
    /// /proc/PID/stat): with the pid it names one process for ever.
    #[serde(default)]
    pub init_start_time: u64,
    /// The device and inode of ward's binary, which init runs until
    /// `start` has it exec the program: `created` is told from `running`
    /// by it, even if a killed `start` left start.sock behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_exe: Option<(u64, u64)>,
    /// The container's cgroup directories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<crate::cgroups::Cgroup>,
    /// The resources last applied (config.json's, then `update`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<oci_spec::runtime::LinuxResources>,
    /// config.json's hooks: poststart and poststop run from here, so that
    /// they don't depend on the bundle still being there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// The caller's NOTIFY_SOCKET at create, which `start` tells when the
    /// container is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_socket: Option<PathBuf>,
    /// Without a mount namespace of its own, the mounts the container made
    /// on the host under its rootfs: delete takes them away.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_mounts: Vec<crate::rootfs::host_mounts::HostMount>,
    /// linux.netDevices moved into the container, and where its network
    /// namespace is pinned until delete moves them back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_devices: Option<NetDevices>,
    /// linux.intelRdt's resctrl group(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intel_rdt: Option<crate::intel_rdt::Group>,
}

/// Devices in the container's network namespace, pinned at `pin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetDevices {
    pub pin: PathBuf,
    pub devices: Vec<crate::netdev::Moved>,
}

impl State {
    /// A state with nothing but the ID, status `creating`.
    pub fn creating(id: &str) -> State {
        State {
            oci_version: crate::OCI_VERSION_MAX.to_string(),
            id: id.to_string(),
            status: Status::Creating,
            pid: 0,
            bundle: PathBuf::new(),
            annotations: Default::default(),
            rootfs: PathBuf::new(),
            created: String::new(),
            owner: String::new(),
            init_start_time: 0,
            init_exe: None,
            cgroup: None,
            resources: None,
            hooks: None,
            notify_socket: None,
            host_mounts: Vec::new(),
            net_devices: None,
            intel_rdt: None,
        }
    }

    /// The state object of the runtime spec (what `state` prints, and hooks
    /// and seccomp agents read), with `status` as given.
    pub fn spec_json(&self, status: Status) -> Vec<u8> {
        serde_json::to_vec(&self.spec_state(status)).expect("a JSON object of strings serializes")
    }

    /// [`State::spec_json`] as a JSON value (for a seccomp agent).
    pub fn spec_state(&self, status: Status) -> serde_json::Value {
        spec_state(
            &self.oci_version,
            &self.id,
            status,
            self.pid,
            &self.bundle,
            &self.annotations,
        )
    }
}

/// What `delete --force` needs to remove a container whose state.json is
/// damaged: written before each side effect of `create` (the cgroup, the
/// clone), and never after.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recovery {
    #[serde(default)]
    pub cgroup: Option<crate::cgroups::Cgroup>,
    #[serde(default)]
    pub pid: i32,
    #[serde(default)]
    pub init_start_time: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_devices: Option<NetDevices>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intel_rdt: Option<crate::intel_rdt::Group>,
}

impl From<&State> for Recovery {
    fn from(st: &State) -> Self {
        Recovery {
            cgroup: st.cgroup.clone(),
            pid: st.pid,
            init_start_time: st.init_start_time,
            net_devices: st.net_devices.clone(),
            intel_rdt: st.intel_rdt.clone(),
        }
    }
}

/// The runtime spec's state object, before a [`State`] exists.
pub fn spec_state(
    version: &str,
    id: &str,
    status: Status,
    pid: i32,
    bundle: &Path,
    annotations: &HashMap<String, String>,
) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": version,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations,
    })
}

/// [`spec_state`] as the bytes a hook reads on its stdin.
pub fn spec_state_json(
    version: &str,
    id: &str,
    status: Status,
    pid: i32,
    bundle: &Path,
    annotations: &HashMap<String, String>,
) -> Vec<u8> {
    serde_json::to_vec(&spec_state(version, id, status, pid, bundle, annotations))
        .expect("a JSON object of strings serializes")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        };
        f.write_str(s)
    }
}

/// The directory given by --root.
#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

/// One container's directory, locked for as long as this value lives.
#[derive(Debug)]
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    /// The open directory; the flock lives on it.
    lock: File,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    fn ensure_root(&self) -> Result<()> {
        match std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
        {
            Ok(()) => Ok(()),
            Err(e) => Err(Error::path("mkdir", &self.root, e)),
        }
    }

    pub fn container_path(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Makes the directory of a new container, locked, with `initial` as
    /// its state, or fails with `Exists` if the ID is taken. On failure
    /// nothing is left (and nothing of another container is touched).
    pub fn create(&self, id: &str, initial: &State) -> Result<ContainerDir> {
        validate_id(id)?;
        self.ensure_root()?;
        let path = self.container_path(id);
        if path.exists() {
            return Err(Error::Exists(path));
        }
        self.sweep_tmp(id);
        let tmp = self
            .root
            .join(format!("{TMP_PREFIX}{}-{}", std::process::id(), id));
        std::fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(|e| Error::path("mkdir", &tmp, e))?;
        // Without fds to spare (EMFILE), remove_dir_all can't open the
        // directory: the names that can be in it are removed one by one.
        let fail = |e: Error| {
            for f in [STATE_FILE, RECOVERY_FILE] {
                let _ = std::fs::remove_file(tmp.join(f));
            }
            let _ = std::fs::remove_dir(&tmp);
            e
        };
        let lock = open_locked(&tmp, libc::LOCK_EX).map_err(fail)?;
        let dir = ContainerDir {
            id: id.to_string(),
            path: tmp.clone(),
            lock,
        };
        // Nobody sees the directory before its rename: its first files are
        // written in place, without a temp file and a rename each.
        let (state, recovery) = (tmp.join(STATE_FILE), tmp.join(RECOVERY_FILE));
        encode(initial, &state)
            .and_then(|d| write_new(&state, &d, 0o600))
            .and_then(|()| encode(&Recovery::from(initial), &recovery))
            .and_then(|d| write_new(&recovery, &d, 0o600))
            .map_err(fail)?;
        if let Err(e) = rename_noreplace(&tmp, &path) {
            return Err(fail(if e.0 == libc::EEXIST || e.0 == libc::ENOTEMPTY {
                Error::Exists(path.clone())
            } else {
                Error::path("rename", &path, e)
            }));
        }
        Ok(ContainerDir { path, ..dir })
    }

    /// Removes the temporary directories of creates of `id` that were killed
    /// before their rename: nobody holds their lock and their process is
    /// gone. Nothing had been made for them but the directory and its state.
    pub fn sweep_tmp(&self, id: &str) {
        let Ok(rd) = std::fs::read_dir(&self.root) else {
            return;
        };
        let suffix = format!("-{id}");
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(pid) = name
                .strip_prefix(TMP_PREFIX)
                .and_then(|r| r.strip_suffix(&suffix))
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            // The creator may be between its mkdir and its flock: a live
            // pid keeps the directory, a free lock alone doesn't remove it.
            if pid == std::process::id() as i32 || crate::procfs::stat(pid).is_some() {
                continue;
            }
            let p = e.path();
            if !locked_by_other(&p) {
                let _ = std::fs::remove_dir_all(&p);
            }
        }
    }

    /// Opens and locks an existing container's directory.
    pub fn open(&self, id: &str) -> Result<ContainerDir> {
        self.open_with(id, libc::LOCK_EX)
    }

    /// Opens an existing container's directory with a shared lock (readers).
    pub fn open_shared(&self, id: &str) -> Result<ContainerDir> {
        self.open_with(id, libc::LOCK_SH)
    }

    fn open_with(&self, id: &str, how: i32) -> Result<ContainerDir> {
        validate_id(id)?;
        let path = self.container_path(id);
        // The directory we locked may have been removed (and another of the
        // same ID made) while we waited for the lock: then our lock is on a
        // dead inode, and we try again on the one the name holds now.
        for _ in 0..100 {
            let lock = open_locked(&path, how).map_err(|e| match e {
                Error::Path {
                    errno: Errno(libc::ENOENT),
                    ..
                } => Error::NotExist(path.clone()),
                e => e,
            })?;
            let held = lock.metadata().map_err(|e| Error::path("stat", &path, e))?;
            match std::fs::metadata(&path) {
                Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                    return Ok(ContainerDir {
                        id: id.to_string(),
                        path,
                        lock,
                    })
                }
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::NotExist(path))
                }
                Err(e) => return Err(Error::path("stat", &path, e)),
            }
        }
        Err(Error::State {
            path: path.to_path_buf(),
            why: "replaced 100 times while waiting for its lock".into(),
        })
    }

    /// IDs of every container, in name order.
    pub fn list(&self) -> Result<Vec<String>> {
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(Error::path("read", &self.root, e)),
        };
        let mut ids: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| validate_id(n).is_ok() && !n.starts_with(TMP_PREFIX))
            .collect();
        ids.sort();
        Ok(ids)
    }
}

fn open_locked(path: &Path, how: i32) -> Result<File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::path("open", path, e))?;
    loop {
        match crate::sys::flock(f.as_fd(), how) {
            Ok(()) => return Ok(f),
            Err(Errno(libc::EINTR)) => {}
            Err(e) => return Err(Error::path("lock", path, e)),
        }
    }
}

/// Whether another process holds an exclusive lock on the directory (a
/// command at work on it: while the stored status is `creating`, its create).
pub fn locked_by_other(path: &Path) -> bool {
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
    else {
        return false;
    };
    // The lock, if we get it, goes with the file.
    crate::sys::flock(f.as_fd(), libc::LOCK_SH | libc::LOCK_NB) == Err(Errno(libc::EWOULDBLOCK))
}

fn rename_noreplace(from: &Path, to: &Path) -> std::result::Result<(), Errno> {
    nix::fcntl::renameat2(
        nix::fcntl::AT_FDCWD,
        from,
        nix::fcntl::AT_FDCWD,
        to,
        nix::fcntl::RenameFlags::RENAME_NOREPLACE,
    )
    .map_err(Errno::from)
}

impl ContainerDir {
    pub fn state_path(&self) -> PathBuf {
        self.path.join(STATE_FILE)
    }

    pub fn start_socket_path(&self) -> PathBuf {
        self.path.join(START_SOCKET)
    }

    /// The stored state, or None while the container is still being created.
    pub fn load(&self) -> Result<Option<State>> {
        read_state(&self.state_path())
    }

    /// Writes state.json atomically (temp file, fsync-free rename: the state
    /// lives on a tmpfs in practice, and a torn write is never visible).
    pub fn save(&self, state: &State) -> Result<()> {
        let path = self.state_path();
        write_atomic(&path, &encode(state, &path)?, 0o600)
    }

    /// Writes recovery.json atomically.
    pub fn save_recovery(&self, r: &Recovery) -> Result<()> {
        let path = self.path.join(RECOVERY_FILE);
        write_atomic(&path, &encode(r, &path)?, 0o600)
    }

    /// Keeps the container's spec in its directory ([`SPEC_FILE`]).
    pub fn save_spec(&self, spec: &oci_spec::runtime::Spec) -> Result<()> {
        let path = self.path.join(SPEC_FILE);
        write_atomic(&path, &encode(spec, &path)?, 0o600)
    }

    /// The kept spec, or None for a container made by a ward that kept none.
    pub fn load_spec(&self) -> Result<Option<oci_spec::runtime::Spec>> {
        let path = self.path.join(SPEC_FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::path("read", &path, e)),
        };
        crate::config::parse_spec(&data)
            .map(Some)
            .map_err(|e| Error::State {
                path,
                why: format!("damaged: {e}"),
            })
    }

    /// A path naming `name` in this directory through its open fd: short
    /// enough for a unix socket's 108-byte sun_path whatever --root is, and
    /// without changing the process's cwd.
    pub fn fd_path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}/{name}", self.lock.as_raw_fd()))
    }

    /// What recovery.json says, if it can be read.
    pub fn load_recovery(&self) -> Option<Recovery> {
        let data = std::fs::read(self.path.join(RECOVERY_FILE)).ok()?;
        serde_json::from_slice(&data).ok()
    }

    /// Removes the whole directory: the state files last, so that a delete
    /// killed half-way leaves a directory that still says what it was.
    pub fn remove(self) -> Result<()> {
        let err = |e| Error::path("remove", &self.path, e);
        let last = [RECOVERY_FILE, STATE_FILE];
        // Listing needs an fd: without one to spare (EMFILE), the names
        // ward puts there are tried, and rmdir says if something remains.
        let names: Vec<std::ffi::OsString> = match std::fs::read_dir(&self.path) {
            Ok(rd) => rd.flatten().map(|e| e.file_name()).collect(),
            Err(_) => vec![START_SOCKET.into(), SPEC_FILE.into()],
        };
        for name in names {
            if last.iter().any(|l| name == *l) {
                continue;
            }
            let p = self.path.join(&name);
            let r = if p.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            match r {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::path("remove", p, e))
                }
                _ => {}
            }
        }
        crate::fault::point("delete:files");
        for l in last {
            match std::fs::remove_file(self.path.join(l)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::path("remove", self.path.join(l), e))
                }
                _ => {}
            }
        }
        std::fs::remove_dir(&self.path).map_err(err)?;
        drop(self.lock);
        Ok(())
    }
}

/// Reads a state file, without any lock (it is only ever replaced by rename).
pub fn read_state(path: &Path) -> Result<Option<State>> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::path("read", path, e)),
    };
    serde_json::from_slice(&data)
        .map(Some)
        .map_err(|e| Error::State {
            path: path.to_path_buf(),
            why: format!("damaged: {e}"),
        })
}

/// `v` as JSON for the file `path` (a path that is not UTF-8, e.g. a
/// bundle's, can't be written in JSON).
fn encode(v: &impl Serialize, path: &Path) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::State {
        path: path.to_path_buf(),
        why: format!("encode: {e}"),
    })
}

/// Writes `data` to a new file `path` (which must not exist).
fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .and_then(|mut f| f.write_all(data))
        .map_err(|e| Error::path("write", path, e))
}

/// Writes `data` to `path` through a temp file and a rename.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(data)?;
        std::fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::path("write", path, e)
    })
}

/// Whether the container's init (pid and start time) is still alive.
pub fn init_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    crate::procfs::stat(pid).is_some_and(|s| s.start_time == start_time && !s.exited())
}

/// The status of a container as it is now, from its stored state and the
/// live system: the stored status is only a hint. `held`: the caller holds
/// the container's lock (so no create of it is under way).
pub fn current_status(dir_path: &Path, state: &State, held: bool) -> Status {
    if state.status == Status::Creating {
        // Still being made while its creator holds the lock; a create that
        // was killed left a container that is only fit to be deleted.
        return if !held && locked_by_other(dir_path) {
            Status::Creating
        } else {
            Status::Stopped
        };
    }
    if !init_alive(state.pid, state.init_start_time) {
        return Status::Stopped;
    }
    if state.cgroup.as_ref().is_some_and(|c| c.is_frozen()) {
        return Status::Paused;
    }
    if dir_path.join(START_SOCKET).exists() && !init_left_ward(state) {
        Status::Created
    } else {
        Status::Running
    }
}

/// Whether init has exec'd something else than ward's binary: `start` got
/// it going, even if it was killed before it could remove start.sock.
fn init_left_ward(state: &State) -> bool {
    let Some((dev, ino)) = state.init_exe else {
        return false;
    };
    std::fs::metadata(format!("/proc/{}/exe", state.pid))
        .is_ok_and(|m| (m.dev(), m.ino()) != (dev, ino))
}

/// The device and inode of the running binary (see [`State::init_exe`]).
pub fn own_exe() -> Option<(u64, u64)> {
    std::fs::metadata("/proc/self/exe")
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Now, as RFC 3339 in UTC with nanoseconds (what runc prints in `created`).
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), after H. Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// The name of the user running ward, for `list`'s OWNER column.
pub fn owner_name() -> String {
    let uid = nix::unistd::geteuid().as_raw();
    crate::security::passwd_field("/etc/passwd", uid, 0).unwrap_or_else(|| format!("#{uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_795_000_000, 0), "2026-11-18T11:06:40.000000000Z");
    }

    #[test]
    fn create_is_exclusive_and_list_sees_it() {
        let root = std::env::temp_dir().join(format!("ward-state-test-{}", std::process::id()));
        let store = Store::new(&root);
        let st = State::creating("c1");
        let d = store.create("c1", &st).unwrap();
        assert!(matches!(store.create("c1", &st), Err(Error::Exists(_))));
        assert_eq!(store.list().unwrap(), vec!["c1".to_string()]);
        assert_eq!(d.load().unwrap().unwrap().status, Status::Creating);
        // A create killed before its rename left its temporary directory.
        let stale = root.join(".new-999999999-c2");
        std::fs::create_dir(&stale).unwrap();
        store.sweep_tmp("c2");
        assert!(!stale.exists());
        d.remove().unwrap();
        assert!(matches!(store.open("c1"), Err(Error::NotExist(_))));
        assert!(matches!(store.open(".."), Err(Error::InvalidId { .. })));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
