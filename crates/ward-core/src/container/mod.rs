//! The verbs of the runtime, one file each: create (in stages), start,
//! state and list, kill, delete, run (all at once, in the foreground), exec,
//! pause and resume, update, ps, events. They work on a [`Container`]: the
//! container's directory under --root, locked, with its stored state and
//! its live status.
//!
//! create's stages, which restore reuses around CRIU instead of the clone
//! (docs/architecture.md, "Create, in stages"):
//! 1. [`create::validate`]: the whole input checked, nothing made;
//! 2. [`create::materialize`]: the state directory and the cgroup;
//! 3. [`create::spawn`]: init cloned into its namespaces and set up;
//! 4. [`create::record`]: the state `created`, the spec kept, the pid file.
//!
//! The verbs that fork (create, run, exec) refuse to run in a process with
//! more than one thread: see [`single_threaded`].

mod checkpoint;
pub mod create;
mod criu_desc;
mod delete;
mod events;
mod exec;
mod kill;
mod netns_probe;
mod notify;
mod pause;
mod ps;
mod restore;
mod run;
mod start;
mod state;
mod update;

pub use checkpoint::{cgroups_mode, checkpoint, CheckpointOptions};
pub use create::{create, CreateOptions};
pub use delete::delete;
pub use events::{events, stats, Event};
pub use exec::{exec, ExecOptions};
pub use kill::kill;
pub use notify::listen_fds_from_env;
pub use pause::{pause, resume};
pub use ps::{pids, ps};
pub use restore::{restore, RestoreOptions};
pub use run::run;
pub use start::start;
pub use state::{list, state};
pub use update::{update, UpdateRequest};

use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::cgroups::Cgroup;
use crate::error::{Error, Result};
use crate::hooks::Kind;
use crate::rootfs::host_mounts;
use crate::state::{current_status, init_alive, ContainerDir, State, Status, Store};
use crate::sys;

/// An existing container: its directory, locked for as long as this lives
/// (exclusively, or shared for readers), and its state with the live status.
pub struct Container {
    dir: ContainerDir,
    pub state: State,
}

impl Container {
    /// Opens and locks the container for a verb that changes it.
    pub fn open(store: &Store, id: &str) -> Result<Container> {
        Self::load(store.open(id)?)
    }

    /// Opens the container for a verb that only reads it (or signals it).
    pub fn open_shared(store: &Store, id: &str) -> Result<Container> {
        Self::load(store.open_shared(id)?)
    }

    fn load(dir: ContainerDir) -> Result<Container> {
        let mut state = dir.load()?.ok_or_else(|| Error::State {
            path: dir.state_path(),
            why: "missing: its delete was killed half-way (delete --force removes it)".into(),
        })?;
        state.status = current_status(&dir.path, &state, true);
        Ok(Container { dir, state })
    }

    /// The state, with the container's lock released.
    pub fn into_state(self) -> State {
        self.state
    }

    pub fn id(&self) -> &str {
        &self.dir.id
    }

    /// The container's directory under --root.
    pub fn dir(&self) -> &ContainerDir {
        &self.dir
    }

    /// Fails with "cannot `op` container: it is <status>" unless the
    /// container's status is one of `allowed`.
    pub fn require(&self, op: &'static str, allowed: &[Status]) -> Result<()> {
        if allowed.contains(&self.state.status) {
            Ok(())
        } else {
            Err(Error::Status {
                op,
                status: self.state.status.to_string(),
            })
        }
    }

    /// The container's cgroup, or an error naming `op` for a container
    /// that has none (rootless, without a cgroup it may make).
    pub fn cgroup(&self, op: &'static str) -> Result<&Cgroup> {
        self.state.cgroup.as_ref().ok_or(Error::NoCgroup { op })
    }

    /// The spec the container was made with: the one kept in its directory
    /// at create, or, for a container made by a ward that kept none, its
    /// bundle's config.json as it is now.
    pub fn spec(&self) -> Result<Spec> {
        match self.dir.load_spec()? {
            Some(spec) => Ok(spec),
            None => Ok(crate::config::load_bundle(&self.state.bundle)?.spec),
        }
    }

    /// A pidfd on the container's init, checked to still be that process.
    pub fn init_pidfd(&self) -> Result<Option<OwnedFd>> {
        init_pidfd(&self.state)
    }
}

/// Fails unless the calling process has exactly one thread. The verbs that
/// fork run arbitrary code in the child (allocation, formatting, file I/O),
/// which is sound only when no other thread can hold a lock the child
/// would need: a caller with threads (a front-end with an HTTP client, a
/// test harness) must fork a single-threaded helper, or drive the `ward`
/// binary. One read of /proc/self/stat.
pub fn single_threaded(op: &'static str) -> Result<()> {
    match crate::procfs::stat(std::process::id() as i32) {
        Some(s) if s.threads <= 1 => Ok(()),
        Some(s) => Err(Error::Threaded {
            op,
            threads: s.threads,
        }),
        None => Err(Error::sys(
            format!("{op}: read /proc/self/stat"),
            crate::sys::Errno(libc::ENOENT),
        )),
    }
}

/// A pidfd on the container's init, checked to still be that process.
pub(crate) fn init_pidfd(st: &State) -> Result<Option<OwnedFd>> {
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

/// SIGKILLs every process of the container, waits until they are gone and
/// removes its cgroup. Init goes first: with its own pid namespace, the
/// kernel then kills the rest.
pub(crate) fn teardown(st: &State) -> Result<()> {
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
    if let Some(g) = &st.intel_rdt {
        if let Err(e) = g.remove() {
            crate::warn(&e.to_string());
        }
    }
    if let Some(nd) = &st.net_devices {
        // The namespace is pinned: the devices outlived the processes.
        if let Err(e) = crate::netdev::move_back(&nd.devices, &nd.pin) {
            crate::warn(&e.to_string());
        }
        crate::netdev::unpin(&nd.pin);
    }
    Ok(())
}

/// Runs every poststop hook; a failure is a warning and the others still
/// run (the runtime spec).
pub(crate) fn poststop(hooks: &oci_spec::runtime::Hooks, state: &[u8]) {
    for e in crate::hooks::run_all(Kind::Poststop, Kind::Poststop.list(hooks), state) {
        crate::warn(&e.to_string());
    }
}

/// The container's cgroup2 directory, opened for clone3(CLONE_INTO_CGROUP).
pub(crate) fn open_cgroup_dir(cg: &Cgroup) -> Result<Option<OwnedFd>> {
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

/// linux.seccomp compiled to BPF, before anything is made: a bad profile
/// fails `create` (or `exec`) with nothing to clean up.
pub(crate) fn compile_seccomp(spec: &Spec) -> Result<Option<crate::security::seccomp::Filter>> {
    Ok(spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(crate::security::seccomp::compile)
        .transpose()?)
}

pub(crate) fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The exit code of our exited child `pid`: its own, or 128 + the signal.
/// (Not nix's waitpid: its Signal has no real-time signals, and a child
/// killed by one is reaped and then reported as EINVAL.)
pub(crate) fn reap(pid: i32) -> Result<i32> {
    loop {
        match sys::wait_status(pid, false) {
            Ok(Some(st)) if libc::WIFEXITED(st) => return Ok(libc::WEXITSTATUS(st)),
            Ok(Some(st)) if libc::WIFSIGNALED(st) => return Ok(128 + libc::WTERMSIG(st)),
            Ok(_) => {}
            Err(e) if e.0 == libc::EINTR => {}
            Err(e) => return Err(Error::sys("wait for container", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_can_match_on_what_went_wrong() {
        let root = std::env::temp_dir().join(format!("ward-match-{}", std::process::id()));
        let store = Store::new(&root);
        assert!(matches!(state(&store, "nosuch"), Err(Error::NotExist(_))));
        assert!(matches!(
            kill(&store, "nosuch", 0, false),
            Err(Error::NotExist(_))
        ));
        // A bundle whose config.json is invalid at a named field.
        let bundle = root.join("bundle");
        std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
        std::fs::write(
            bundle.join("config.json"),
            r#"{"ociVersion": "1.2.0", "root": {"path": "rootfs"},
                "process": {"args": [], "cwd": "/", "user": {"uid": 0, "gid": 0}}}"#,
        )
        .unwrap();
        match create::validate(
            "c1",
            &CreateOptions {
                bundle: bundle.clone(),
                ..Default::default()
            },
            None,
        ) {
            Err(Error::Config(e)) => assert_eq!(e.field(), Some("process.args"), "{e}"),
            Err(e) => panic!("not a config error: {e:?}"),
            Ok(_) => panic!("validated"),
        }
        // Context keeps the original underneath.
        let e = Error::NotExist(root.join("x")).context("while testing");
        assert!(matches!(e.root(), Error::NotExist(_)));
        assert!(e.to_string().starts_with("while testing: "), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn no_cgroup_is_refused_with_limits() {
        let root = std::env::temp_dir().join(format!("ward-nocg-{}", std::process::id()));
        let bundle = root.join("bundle");
        std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
        let config = |resources: &str| {
            format!(
                r#"{{"ociVersion": "1.2.0", "root": {{"path": "rootfs"}},
                    "process": {{"args": ["true"], "cwd": "/", "user": {{"uid": 0, "gid": 0}}}},
                    "linux": {{"namespaces": [{{"type": "mount"}}], "resources": {resources}}}}}"#
            )
        };
        let opts = CreateOptions {
            bundle: bundle.clone(),
            no_cgroup: true,
            ..Default::default()
        };
        std::fs::write(
            bundle.join("config.json"),
            config(r#"{"memory": {"limit": 67108864}}"#),
        )
        .unwrap();
        match create::validate_spec("c1", &opts) {
            Err(Error::Config(e)) => {
                assert_eq!(e.field(), Some("linux.resources"), "{e}");
                assert!(
                    e.to_string().contains("cgroup of the container's own"),
                    "{e}"
                );
            }
            Err(e) => panic!("not a config error: {e:?}"),
            Ok(_) => panic!("validated with a limit and no cgroup"),
        }
        // Device rules alone are no limit: validated, with no cgroup planned
        // for the state.
        std::fs::write(
            bundle.join("config.json"),
            config(r#"{"devices": [{"allow": false, "access": "rwm"}]}"#),
        )
        .unwrap();
        if let Err(e) = create::validate_spec("c1", &opts) {
            panic!("device rules alone refused: {e}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn forking_verbs_refuse_a_threaded_caller() {
        // The test harness itself runs tests on threads; make sure of one
        // more, alive while the verbs are called.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        let store =
            Store::new(std::env::temp_dir().join(format!("ward-threaded-{}", std::process::id())));
        let opts = CreateOptions {
            bundle: "/nonexistent".into(),
            ..Default::default()
        };
        for res in [
            create(&store, "t1", &opts).map(drop),
            run(&store, "t1", &opts, false, false).map(drop),
            exec(&store, "t1", &ExecOptions::default()).map(drop),
        ] {
            match res {
                Err(Error::Threaded { threads, .. }) => assert!(threads > 1),
                other => panic!("not refused for its threads: {other:?}"),
            }
        }
        assert!(!store.root.exists(), "something was made");
        tx.send(()).unwrap();
        t.join().unwrap().unwrap();
    }
}
