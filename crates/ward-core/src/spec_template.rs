//! The example `config.json` that `ward spec` generates (runc-equivalent
//! content), in a regular and a rootless flavour, and the code that writes
//! it into a bundle directory without ever clobbering an existing file.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};

/// Name of the runtime configuration file inside a bundle.
pub const CONFIG_FILE: &str = "config.json";

/// The `ociVersion` written into generated specs.
pub const SPEC_OCI_VERSION: &str = "1.3.0";

/// The hostname given to containers created from the default spec.
pub const DEFAULT_HOSTNAME: &str = "ward";

/// Capabilities granted by the default spec (bounding, effective, permitted).
const DEFAULT_CAPS: &[&str] = &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Errors from [`write_spec`].
#[derive(Debug, thiserror::Error)]
pub enum SpecWriteError {
    /// The bundle already holds a config file; it is never overwritten.
    #[error("File {CONFIG_FILE} exists. Remove it first")]
    Exists {
        /// Full path of the existing file.
        path: PathBuf,
    },
    /// Creating the file failed (missing bundle directory, permissions, ...).
    #[error("cannot create {}: {source}", path.display())]
    Create {
        /// Path that could not be created.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// Writing or flushing the file's contents failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// Path being written.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: io::Error,
    },
}

impl SpecWriteError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Exists { path } | Self::Create { path, .. } | Self::Write { path, .. } => path,
        }
    }
}

fn mount(destination: &str, kind: &str, source: &str, options: &[&str]) -> Value {
    let mut m = json!({
        "destination": destination,
        "type": kind,
        "source": source,
    });
    if !options.is_empty() {
        m["options"] = json!(options);
    }
    m
}

fn default_mounts(rootless: bool) -> Vec<Value> {
    let devpts_opts: &[&str] = if rootless {
        // No gid=5 inside a single-id user namespace: group 5 is unmapped.
        &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
        ]
    } else {
        &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]
    };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &[]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount("/dev/pts", "devpts", "devpts", devpts_opts),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
    ];
    if rootless {
        // A fresh sysfs cannot be mounted without owning the network
        // namespace, so bind the host's /sys read-only instead.
        mounts.push(mount(
            "/sys",
            "none",
            "/sys",
            &["rbind", "nosuid", "noexec", "nodev", "ro"],
        ));
    } else {
        mounts.push(mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ));
        mounts.push(mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ));
    }
    mounts
}

/// The default `config.json` written by `ward spec`.
///
/// With `rootless` set, the result is adjusted for an unprivileged caller the
/// way `runc spec --rootless` does: a user namespace mapping container root to
/// the caller's effective uid/gid, no network or cgroup namespace, a
/// read-only rbind of the host's `/sys`, no cgroup mount, no `gid=` option on
/// devpts and no `resources` section.
pub fn default_spec(rootless: bool) -> Value {
    let namespaces: &[&str] = if rootless {
        &["pid", "ipc", "uts", "mount", "user"]
    } else {
        &["pid", "network", "ipc", "uts", "mount", "cgroup"]
    };
    let namespaces: Vec<Value> = namespaces.iter().map(|t| json!({ "type": t })).collect();

    let mut linux = json!({
        "namespaces": namespaces,
        "maskedPaths": MASKED_PATHS,
        "readonlyPaths": READONLY_PATHS,
    });
    if rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        linux["uidMappings"] = json!([{ "containerID": 0, "hostID": uid, "size": 1 }]);
        linux["gidMappings"] = json!([{ "containerID": 0, "hostID": gid, "size": 1 }]);
    } else {
        linux["resources"] = json!({
            "devices": [{ "allow": false, "access": "rwm" }],
        });
    }

    json!({
        "ociVersion": SPEC_OCI_VERSION,
        "process": {
            "terminal": true,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS,
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true,
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": DEFAULT_HOSTNAME,
        "mounts": default_mounts(rootless),
        "linux": linux,
    })
}

/// Render a spec as tab-indented JSON followed by a newline.
fn render(spec: &Value) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    spec.serialize(&mut ser).map_err(io::Error::from)?;
    out.push(b'\n');
    Ok(out)
}

/// Write [`default_spec`]`(rootless)` to `bundle/config.json`.
///
/// The file is created exclusively (`O_CREAT|O_EXCL`), so an existing
/// `config.json` — or anything else at that path, including a dangling
/// symlink — is left untouched and reported as [`SpecWriteError::Exists`].
pub fn write_spec(bundle: &Path, rootless: bool) -> Result<(), SpecWriteError> {
    let path = bundle.join(CONFIG_FILE);
    let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(SpecWriteError::Exists { path });
        }
        Err(source) => return Err(SpecWriteError::Create { path, source }),
    };
    let write = |file: &mut std::fs::File| -> io::Result<()> {
        file.write_all(&render(&default_spec(rootless))?)?;
        file.sync_all()
    };
    write(&mut file).map_err(|source| SpecWriteError::Write { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Capability, LinuxNamespaceType, Spec};

    fn parse(rootless: bool) -> Spec {
        serde_json::from_value(default_spec(rootless)).expect("default spec must deserialize")
    }

    fn ns_types(spec: &Spec) -> Vec<LinuxNamespaceType> {
        spec.linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect()
    }

    fn mount_by_dest<'a>(spec: &'a Spec, dest: &str) -> Option<&'a oci_spec::runtime::Mount> {
        spec.mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new(dest))
    }

    fn opts(m: &oci_spec::runtime::Mount) -> Vec<&str> {
        m.options()
            .as_ref()
            .map(|o| o.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn both_variants_deserialize() {
        parse(false);
        parse(true);
    }

    #[test]
    fn process_and_root() {
        for rootless in [false, true] {
            let spec = parse(rootless);
            assert_eq!(spec.version(), SPEC_OCI_VERSION);
            assert_eq!(spec.hostname().as_deref(), Some(DEFAULT_HOSTNAME));

            let root = spec.root().as_ref().unwrap();
            assert_eq!(root.path(), Path::new("rootfs"));
            assert_eq!(root.readonly(), Some(true));

            let p = spec.process().as_ref().unwrap();
            assert_eq!(p.terminal(), Some(true));
            assert_eq!(p.user().uid(), 0);
            assert_eq!(p.user().gid(), 0);
            assert_eq!(p.args().as_ref().unwrap(), &["sh".to_string()]);
            assert_eq!(p.cwd(), Path::new("/"));
            assert_eq!(p.no_new_privileges(), Some(true));
            let env = p.env().as_ref().unwrap();
            assert_eq!(
                env,
                &[
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"
                ]
            );

            let caps = p.capabilities().as_ref().unwrap();
            let want: std::collections::HashSet<Capability> = [
                Capability::AuditWrite,
                Capability::Kill,
                Capability::NetBindService,
            ]
            .into_iter()
            .collect();
            assert_eq!(caps.bounding().as_ref(), Some(&want));
            assert_eq!(caps.effective().as_ref(), Some(&want));
            assert_eq!(caps.permitted().as_ref(), Some(&want));
            assert!(caps.inheritable().as_ref().is_none_or(|s| s.is_empty()));
            assert!(caps.ambient().as_ref().is_none_or(|s| s.is_empty()));

            let rl = p.rlimits().as_ref().unwrap();
            assert_eq!(rl.len(), 1);
            assert_eq!(
                rl[0].typ(),
                oci_spec::runtime::PosixRlimitType::RlimitNofile
            );
            assert_eq!(rl[0].hard(), 1024);
            assert_eq!(rl[0].soft(), 1024);
        }
    }

    #[test]
    fn regular_linux_section() {
        let spec = parse(false);
        use LinuxNamespaceType::*;
        assert_eq!(ns_types(&spec), vec![Pid, Network, Ipc, Uts, Mount, Cgroup]);

        let linux = spec.linux().as_ref().unwrap();
        assert!(linux.uid_mappings().is_none());
        assert!(linux.gid_mappings().is_none());
        let masked = linux.masked_paths().as_ref().unwrap();
        assert_eq!(masked.len(), MASKED_PATHS.len());
        assert!(masked.iter().any(|p| p == "/sys/devices/virtual/powercap"));
        assert!(masked.iter().any(|p| p == "/proc/kcore"));
        assert_eq!(linux.readonly_paths().as_ref().unwrap(), READONLY_PATHS);

        let devices = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .as_ref()
            .unwrap();
        assert_eq!(devices.len(), 1);
        assert!(!devices[0].allow());
        assert_eq!(devices[0].access().as_deref(), Some("rwm"));
    }

    #[test]
    fn regular_mounts() {
        let spec = parse(false);
        let dests: Vec<_> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/sys/fs/cgroup"
            ]
        );
        let proc_m = mount_by_dest(&spec, "/proc").unwrap();
        assert_eq!(proc_m.typ().as_deref(), Some("proc"));
        assert!(proc_m.options().is_none());

        let pts = mount_by_dest(&spec, "/dev/pts").unwrap();
        assert_eq!(
            opts(pts),
            [
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5"
            ]
        );
        let shm = mount_by_dest(&spec, "/dev/shm").unwrap();
        assert_eq!(shm.typ().as_deref(), Some("tmpfs"));
        assert_eq!(shm.source().as_deref(), Some(Path::new("shm")));
        assert_eq!(
            opts(shm),
            ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
        );
        let sys = mount_by_dest(&spec, "/sys").unwrap();
        assert_eq!(sys.typ().as_deref(), Some("sysfs"));
        assert_eq!(opts(sys), ["nosuid", "noexec", "nodev", "ro"]);
        let cg = mount_by_dest(&spec, "/sys/fs/cgroup").unwrap();
        assert_eq!(cg.typ().as_deref(), Some("cgroup"));
        assert_eq!(opts(cg), ["nosuid", "noexec", "nodev", "relatime", "ro"]);
    }

    #[test]
    fn rootless_adjustments() {
        let spec = parse(true);
        use LinuxNamespaceType::*;
        let ns = ns_types(&spec);
        assert!(ns.contains(&User));
        assert!(!ns.contains(&Network));
        assert!(!ns.contains(&Cgroup));
        assert_eq!(ns, vec![Pid, Ipc, Uts, Mount, User]);

        let linux = spec.linux().as_ref().unwrap();
        assert!(linux.resources().is_none());
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let um = linux.uid_mappings().as_ref().unwrap();
        let gm = linux.gid_mappings().as_ref().unwrap();
        assert_eq!(um.len(), 1);
        assert_eq!(gm.len(), 1);
        assert_eq!(
            (um[0].container_id(), um[0].host_id(), um[0].size()),
            (0, uid, 1)
        );
        assert_eq!(
            (gm[0].container_id(), gm[0].host_id(), gm[0].size()),
            (0, gid, 1)
        );

        let sys = mount_by_dest(&spec, "/sys").unwrap();
        assert_eq!(sys.typ().as_deref(), Some("none"));
        assert_eq!(sys.source().as_deref(), Some(Path::new("/sys")));
        assert_eq!(opts(sys), ["rbind", "nosuid", "noexec", "nodev", "ro"]);
        assert!(mount_by_dest(&spec, "/sys/fs/cgroup").is_none());

        let pts = mount_by_dest(&spec, "/dev/pts").unwrap();
        assert!(!opts(pts).iter().any(|o| o.starts_with("gid=")));
        assert!(opts(pts).contains(&"newinstance"));
        // Everything not related to users or /sys is unchanged.
        assert!(mount_by_dest(&spec, "/dev/mqueue").is_some());
        assert_eq!(
            linux.masked_paths().as_ref().unwrap().len(),
            MASKED_PATHS.len()
        );
    }

    #[test]
    fn raw_json_has_no_unexpected_fields() {
        let v = default_spec(false);
        assert!(v["process"]["capabilities"].get("inheritable").is_none());
        assert!(v["process"]["capabilities"].get("ambient").is_none());
        assert!(v["mounts"][0].get("options").is_none());
        let r = default_spec(true);
        assert!(r["linux"].get("resources").is_none());
    }

    fn scratch_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ward-spec-test-{}-{}", std::process::id(), tag));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn write_spec_creates_and_refuses_to_overwrite() {
        let dir = scratch_dir("write");
        write_spec(&dir, false).unwrap();
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(text.contains("\n\t\"ociVersion\""));
        let on_disk: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(on_disk, default_spec(false));
        serde_json::from_str::<Spec>(&text).unwrap();

        let err = write_spec(&dir, true).unwrap_err();
        assert!(matches!(err, SpecWriteError::Exists { .. }), "{err:?}");
        assert_eq!(err.to_string(), "File config.json exists. Remove it first");
        assert_eq!(err.path(), path);
        // The original content survives.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn write_spec_rootless_roundtrips() {
        let dir = scratch_dir("rootless");
        write_spec(&dir, true).unwrap();
        let text = std::fs::read_to_string(dir.join(CONFIG_FILE)).unwrap();
        let on_disk: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(on_disk, default_spec(true));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn write_spec_missing_bundle() {
        let dir = scratch_dir("missing").join("does-not-exist");
        let err = write_spec(&dir, false).unwrap_err();
        match &err {
            SpecWriteError::Create { path, source } => {
                assert_eq!(path, &dir.join(CONFIG_FILE));
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert!(err.to_string().contains("does-not-exist/config.json"));
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }
}
