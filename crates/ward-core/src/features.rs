//! The runtime-spec "features" document printed by `ward features`: which
//! spec versions, hooks, mount options, namespaces, capabilities and optional
//! Linux subsystems this build of ward recognises.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// Oldest runtime-spec version accepted in `config.json`.
pub const OCI_VERSION_MIN: &str = "1.0.0";

pub use crate::OCI_VERSION_MAX;

/// Hook names recognised in `config.json`'s `hooks` object.
pub const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Generic mount option names understood by ward's mount code (flags and
/// propagation types). Filesystem-specific `key=value` data is passed through
/// to the kernel and is not listed here.
pub const MOUNT_OPTIONS: &[&str] = &[
    "ro",
    "rw",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "exec",
    "noexec",
    "sync",
    "async",
    "dirsync",
    "remount",
    "mand",
    "nomand",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "nosymfollow",
    "symfollow",
    "lazytime",
    "nolazytime",
    "bind",
    "rbind",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
];

/// Namespace types recognised in `linux.namespaces`.
pub const NAMESPACES: &[&str] = &[
    "cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time",
];

/// Annotation key carrying ward's version in the features document.
pub const VERSION_ANNOTATION: &str = "ward.version";

/// Number of the highest capability the running kernel knows.
pub fn last_cap() -> u8 {
    crate::procfs::cap_last_cap() as u8
}

/// Names (`CAP_*`) of capabilities numbered `0..=last`, in numeric order.
/// Capabilities newer than ward knows a name for are omitted.
fn capability_names_upto(last: u8) -> Vec<String> {
    let mut caps: Vec<caps::Capability> = caps::all()
        .into_iter()
        .filter(|c| c.index() <= last)
        .collect();
    caps.sort_by_key(|c| c.index());
    caps.iter().map(ToString::to_string).collect()
}

/// Names of every capability the running kernel supports (and ward can name),
/// from `CAP_CHOWN` upward, in numeric order.
pub fn capability_names() -> Vec<String> {
    capability_names_upto(last_cap())
}

/// The runtime-spec features document (see the runtime-spec's
/// `features.md` / `features-linux.md`).
pub fn features() -> Value {
    let sc = crate::security::seccomp::features();
    let annotations: BTreeMap<&str, &str> = BTreeMap::from([
        (VERSION_ANNOTATION, env!("CARGO_PKG_VERSION")),
        (
            crate::security::seccomp::LIBSECCOMP_VERSION_ANNOTATION,
            sc.libseccomp_version.as_str(),
        ),
    ]);
    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": HOOKS,
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": capability_names(),
            "cgroup": {
                "v1": true,
                "v2": true,
                // --systemd-cgroup: the system instance for root, the
                // user's own for rootless (cgroups/systemd).
                "systemd": true,
                "systemdUser": true,
            },
            "seccomp": sc.seccomp,
            // ward applies both labels (where the host has the LSM).
            "apparmor": { "enabled": true },
            "selinux": { "enabled": true },
            // Applied where resctrl is mounted (refused where it is not),
            // schemata and enableMonitoring included: runc too says so
            // whatever the hardware (intel_rdt.rs).
            "intelRdt": { "enabled": true, "schemata": true },
            "memoryPolicy": {
                "modes": crate::mempolicy::MODES,
                "flags": crate::mempolicy::FLAGS,
            },
            "mountExtensions": { "idmap": { "enabled": false } },
            // runtime-spec 1.3: moved in at create, back at delete.
            "netDevices": { "enabled": true },
        },
        "annotations": annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::FALLBACK_LAST_CAP;
    use oci_spec::runtime::{Features, LinuxNamespaceType};
    use std::collections::HashSet;

    #[test]
    fn deserializes_as_oci_features() {
        let f: Features = serde_json::from_value(features()).expect("valid features document");
        assert_eq!(f.oci_version_min(), OCI_VERSION_MIN);
        assert_eq!(f.oci_version_max(), OCI_VERSION_MAX);
        assert_eq!(f.hooks().as_ref().unwrap(), HOOKS);
        assert_eq!(f.mount_options().as_ref().unwrap(), MOUNT_OPTIONS);
        assert_eq!(
            f.annotations()
                .as_ref()
                .unwrap()
                .get(VERSION_ANNOTATION)
                .map(String::as_str),
            Some(env!("CARGO_PKG_VERSION"))
        );

        let linux = f.linux().as_ref().unwrap();
        let ns: HashSet<LinuxNamespaceType> = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .copied()
            .collect();
        use LinuxNamespaceType::*;
        let want: HashSet<_> = [Cgroup, Ipc, Mount, Network, Pid, User, Uts, Time]
            .into_iter()
            .collect();
        assert_eq!(ns, want);

        let cg = linux.cgroup().as_ref().unwrap();
        assert_eq!(cg.v1(), &Some(true));
        assert_eq!(cg.v2(), &Some(true));
        assert_eq!(cg.systemd(), &Some(true));
        assert_eq!(cg.systemd_user(), &Some(true));
        let sc = linux.seccomp().as_ref().unwrap();
        assert_eq!(sc.enabled(), &Some(true));
        assert!(sc
            .actions()
            .as_ref()
            .is_some_and(|a| a.iter().any(|x| x.to_string() == "SCMP_ACT_NOTIFY")));
        assert!(sc
            .archs()
            .as_ref()
            .is_some_and(|a| a.iter().any(|x| x.to_string() == "SCMP_ARCH_X86_64")));
        assert_eq!(linux.apparmor().as_ref().unwrap().enabled(), &Some(true));
        assert_eq!(linux.selinux().as_ref().unwrap().enabled(), &Some(true));
        assert_eq!(linux.intel_rdt().as_ref().unwrap().enabled(), &Some(true));
        let mp = linux.memory_policy().as_ref().unwrap();
        assert_eq!(mp.modes().as_ref().unwrap().len(), 7);
        assert_eq!(mp.flags().as_ref().unwrap().len(), 3);
        let idmap = linux
            .mount_extensions()
            .as_ref()
            .unwrap()
            .idmap()
            .as_ref()
            .unwrap();
        assert_eq!(idmap.enabled(), &Some(false));
    }

    #[test]
    fn raw_shape() {
        let v = features();
        let obj = v.as_object().unwrap();
        let keys: HashSet<&str> = obj.keys().map(String::as_str).collect();
        let want: HashSet<&str> = [
            "ociVersionMin",
            "ociVersionMax",
            "hooks",
            "mountOptions",
            "linux",
            "annotations",
        ]
        .into_iter()
        .collect();
        assert_eq!(keys, want);
        assert_eq!(
            v["linux"]["mountExtensions"]["idmap"]["enabled"],
            json!(false)
        );
        assert_eq!(v["linux"]["cgroup"]["systemdUser"], json!(true));
        assert_eq!(v["linux"]["netDevices"]["enabled"], json!(true));
        assert!(v["annotations"]
            .get("org.opencontainers.runc.checkpoint.enabled")
            .is_none());
    }

    #[test]
    fn mount_options_unique_and_complete() {
        let set: HashSet<&str> = MOUNT_OPTIONS.iter().copied().collect();
        assert_eq!(set.len(), MOUNT_OPTIONS.len(), "duplicate mount option");
        for opt in [
            "ro",
            "nosuid",
            "nodev",
            "noexec",
            "rbind",
            "rprivate",
            "strictatime",
        ] {
            assert!(set.contains(opt), "{opt} missing");
        }
        assert!(!set.contains("idmap"), "idmap is advertised as disabled");
    }

    #[test]
    fn capabilities_match_kernel() {
        let caps = capability_names();
        let last = last_cap();
        assert_eq!(caps.first().map(String::as_str), Some("CAP_CHOWN"));
        assert_eq!(caps.len(), usize::from(last.min(FALLBACK_LAST_CAP)) + 1);
        let set: HashSet<&String> = caps.iter().collect();
        assert_eq!(set.len(), caps.len());
        assert!(caps.iter().all(|c| c.starts_with("CAP_")));
        assert!(caps.iter().any(|c| c == "CAP_SYS_ADMIN"));
        // Must agree with the document.
        assert_eq!(features()["linux"]["capabilities"], json!(caps));
    }

    #[test]
    fn capability_ordering_and_limits() {
        let all = capability_names_upto(FALLBACK_LAST_CAP);
        assert_eq!(all.len(), 41);
        assert_eq!(all[0], "CAP_CHOWN");
        assert_eq!(all[5], "CAP_KILL");
        assert_eq!(all[21], "CAP_SYS_ADMIN");
        assert_eq!(all[40], "CAP_CHECKPOINT_RESTORE");
        // An old kernel (e.g. 5.4, cap_last_cap = 39) lacks CHECKPOINT_RESTORE.
        let old = capability_names_upto(37);
        assert_eq!(old.last().map(String::as_str), Some("CAP_AUDIT_READ"));
        // A newer kernel with caps ward cannot name: only the known ones.
        assert_eq!(capability_names_upto(63), all);
    }

    #[test]
    fn last_cap_is_the_kernels() {
        let file = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap();
        assert_eq!(last_cap(), file.trim().parse::<u8>().unwrap());
        assert!(last_cap() >= 37);
    }
}
