//! The state store under --root: one directory per container holding
//! state.json (replaced atomically), the start socket while the container is
//! `created`, and an flock on the directory itself that serialises commands.
//!
//! A container directory appears under its ID only by an atomic rename, with
//! its creator already holding the lock, so two creates of one ID can't both
//! win and no command ever sees a half-made directory.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Errno, Error, Result};
use crate::id::validate_id;

pub const STATE_FILE: &str = "state.json";
pub const START_SOCKET: &str = "start.sock";

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
}

impl State {
    /// The state object of the runtime spec (what `state` prints, and hooks
    /// and seccomp agents read), with `status` as given.
    pub fn spec_json(&self, status: Status) -> Vec<u8> {
        spec_state_json(
            &self.oci_version,
            &self.id,
            status,
            self.pid,
            &self.bundle,
            &self.annotations,
        )
    }
}

/// The runtime spec's state object, before a [`State`] exists.
pub fn spec_state_json(
    version: &str,
    id: &str,
    status: Status,
    pid: i32,
    bundle: &Path,
    annotations: &HashMap<String, String>,
) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "ociVersion": version,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations,
    }))
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

    /// Makes the directory of a new container, locked, or fails with
    /// `Exists` if the ID is taken.
    pub fn create(&self, id: &str) -> Result<ContainerDir> {
        validate_id(id)?;
        self.ensure_root()?;
        let path = self.container_path(id);
        if path.exists() {
            return Err(Error::Exists(path));
        }
        let tmp = self
            .root
            .join(format!(".new-{}-{}", std::process::id(), id));
        std::fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(|e| Error::path("mkdir", &tmp, e))?;
        let lock = match open_locked(&tmp, libc::LOCK_EX) {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_dir(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = rename_noreplace(&tmp, &path) {
            let _ = std::fs::remove_dir(&tmp);
            return Err(if e.0 == libc::EEXIST || e.0 == libc::ENOTEMPTY {
                Error::Exists(path.clone())
            } else {
                Error::path("rename", &path, e)
            });
        }
        Ok(ContainerDir {
            id: id.to_string(),
            path,
            lock,
        })
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
        let lock = open_locked(&path, how).map_err(|e| match e {
            Error::Path {
                errno: Errno(libc::ENOENT),
                ..
            } => Error::NotExist(path.clone()),
            e => e,
        })?;
        // A directory removed while we waited for its lock is gone.
        if !path.exists() {
            return Err(Error::NotExist(path));
        }
        Ok(ContainerDir {
            id: id.to_string(),
            path,
            lock,
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
            .filter(|n| validate_id(n).is_ok() && !n.starts_with(".new-"))
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
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), how) } == 0 {
            return Ok(f);
        }
        let e = Errno::last();
        if e.0 != libc::EINTR {
            return Err(Error::path("lock", path, e));
        }
    }
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
        let data = serde_json::to_vec(state).map_err(|e| Error::Other(e.to_string()))?;
        write_atomic(&self.state_path(), &data, 0o600)
    }

    /// Removes the whole directory.
    pub fn remove(self) -> Result<()> {
        std::fs::remove_dir_all(&self.path).map_err(|e| Error::path("remove", &self.path, e))?;
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

/// The start time (clock ticks since boot) and state letter of a process,
/// or None if there is no such process.
pub fn proc_stat(pid: i32) -> Option<(u64, char)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // rest starts at field 3; start time is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((start, state))
}

/// Whether the container's init (pid and start time) is still alive.
pub fn init_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match proc_stat(pid) {
        Some((start, state)) => start == start_time && state != 'Z' && state != 'X',
        None => false,
    }
}

/// The status of a container as it is now, from its stored state and the
/// live system: the stored status is only a hint.
pub fn current_status(dir_path: &Path, state: &State) -> Status {
    if !init_alive(state.pid, state.init_start_time) {
        return Status::Stopped;
    }
    if state.cgroup.as_ref().is_some_and(|c| c.is_frozen()) {
        return Status::Paused;
    }
    if dir_path.join(START_SOCKET).exists() {
        Status::Created
    } else {
        Status::Running
    }
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
    // SAFETY: geteuid has no failure mode.
    let uid = unsafe { libc::geteuid() };
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
    fn proc_stat_of_self() {
        let (start, state) = proc_stat(std::process::id() as i32).unwrap();
        assert!(start > 0);
        assert!("RS".contains(state), "{state}");
        assert!(proc_stat(i32::MAX).is_none());
    }

    #[test]
    fn create_is_exclusive_and_list_sees_it() {
        let root = std::env::temp_dir().join(format!("ward-state-test-{}", std::process::id()));
        let store = Store::new(&root);
        let d = store.create("c1").unwrap();
        assert!(matches!(store.create("c1"), Err(Error::Exists(_))));
        assert_eq!(store.list().unwrap(), vec!["c1".to_string()]);
        assert!(d.load().unwrap().is_none());
        d.remove().unwrap();
        assert!(matches!(store.open("c1"), Err(Error::NotExist(_))));
        assert!(matches!(store.open(".."), Err(Error::InvalidId { .. })));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
