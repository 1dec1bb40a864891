//! podman with everything of its own under the test directory.

use crate::common::Ctx;
use crate::engine_support::{
    self as es, wait_quietly, EngineCli, HostGuard, ENGINE_TIMEOUT, IMAGE,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// podman with its storage, run and tmp dirs, network configs and cgroup
/// parent under the test's directory, and `runtime` as its OCI runtime.
pub struct Podman {
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub runtime: PathBuf,
    pub cgroup_parent: String,
}

impl Podman {
    pub fn new(ctx: &Ctx, host: &mut HostGuard, tag: &str) -> Podman {
        let dir = ctx.dir.join("podman");
        fs::create_dir_all(dir.join("networks")).unwrap();
        // As root, podman puts nofile=1048576 and nproc=4194304 into every
        // config.json unless containers.conf says otherwise, and no runtime
        // can raise a hard limit above its own without CAP_SYS_RESOURCE,
        // which this sandbox lacks (crun and runc fail the same way). podman
        // 4.3 also lowers its own RLIMIT_NPROC to 32768 at start, so nproc
        // may be at most that. So: the limits we have, capped.
        let (nofile, nproc) = (
            hard_limit(libc::RLIMIT_NOFILE),
            hard_limit(libc::RLIMIT_NPROC),
        );
        let nproc = nproc.min(32768);
        // lock_type "file": each podman's container locks are files in its
        // own --tmpdir. With the default "shm", every podman on the host
        // shares /dev/shm/libpod_lock, and on a machine where podman never
        // ran, two tests starting podman at once both try to create it; the
        // loser fails with "failed to create 2048 locks in /libpod_lock:
        // file exists" (podman 4.3 doesn't retry). Nothing of the tests is
        // left in /dev/shm either.
        // CONTAINERS_CONF rather than CONTAINERS_CONF_OVERRIDE: podman 4.3
        // (Debian 12) predates the latter.
        let conf = dir.join("containers.conf");
        fs::write(
            &conf,
            format!(
                "[containers]\n\
                 default_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n\
                 [engine]\n\
                 lock_type = \"file\"\n\
                 cgroup_manager = \"cgroupfs\"\n\
                 events_logger = \"file\"\n\
                 [network]\n\
                 network_backend = \"netavark\"\n"
            ),
        )
        .unwrap();
        let cgroup_parent = format!("ward-engines-podman-{tag}-{}", std::process::id());
        host.cgroup_parent(&cgroup_parent);
        // netavark keeps its IPAM database there, whatever the --runroot.
        host.tree_if_new("/run/containers");
        Podman {
            dir,
            conf,
            runtime: es::ward_bin(),
            cgroup_parent,
        }
    }

    pub fn with_runtime(&self, runtime: PathBuf) -> Podman {
        Podman {
            dir: self.dir.clone(),
            conf: self.conf.clone(),
            runtime,
            cgroup_parent: self.cgroup_parent.clone(),
        }
    }
}

impl EngineCli for Podman {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf)
            .arg("--root")
            .arg(self.dir.join("storage"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .arg("--network-config-dir")
            .arg(self.dir.join("networks"))
            .arg("--runtime")
            .arg(&self.runtime);
        // Every container goes below our own cgroup parent.
        if matches!(args.first(), Some(&"run") | Some(&"create")) {
            c.arg(args[0])
                .arg(format!("--cgroup-parent=/{}", self.cgroup_parent))
                .args(&args[1..]);
        } else {
            c.args(args);
        }
        c
    }
}

pub fn hard_limit(res: libc::__rlimit_resource_t) -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a valid, writable rlimit.
    let rc = unsafe { libc::getrlimit(res, &mut r) };
    assert_eq!(rc, 0, "getrlimit");
    r.rlim_max
}

/// Removes every container of a podman on drop.
pub struct PodmanCleanup<'a> {
    pub ctx: &'a Ctx,
    pub podman: &'a Podman,
}

impl Drop for PodmanCleanup<'_> {
    fn drop(&mut self) {
        let p = self.ctx.spawn_cmd(
            self.podman.command(&["rm", "-af", "-t", "0"]),
            ENGINE_TIMEOUT,
        );
        let _ = wait_quietly(p, ENGINE_TIMEOUT);
    }
}

/// Makes the image in podman's storage (and, with `save`, an archive).
pub fn podman_image(ctx: &Ctx, podman: &Podman, save: Option<&Path>) {
    let tar = es::rootfs_tar(ctx);
    podman.ok(ctx, &["import", "-q", tar.to_str().unwrap(), IMAGE]);
    if let Some(out) = save {
        podman.ok(ctx, &["save", "-q", "-o", out.to_str().unwrap(), IMAGE]);
    }
}
